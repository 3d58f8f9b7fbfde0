//! Runs the hardware-captured 80286 real-mode single-instruction suite
//! (`shared/singlestep-80286`) and fails if fewer tests pass than the number
//! in `tests/singlestep_80286.threshold`. Raise that number as things get
//! fixed; never lower it.
//!
//! * `FERRITE_SINGLESTEP_DIR`: data folder (default
//!   `<ferrite-tests>/../../shared/singlestep-80286`). Absent: the test is skipped.
//! * `FERRITE_SINGLESTEP_FILTER`: run only some files or tests and print each
//!   failure in full, e.g. `F6.7`, `F6.7:12`, `00,01`, or a test hash. The
//!   threshold is not checked then.
//! * `FERRITE_SINGLESTEP_THREADS`: worker threads.
//!
//! `cargo test -p ferrite-tests --release --test singlestep_80286 -- --nocapture`

use ferrite_tests::moo;
use ferrite_tests::singlestep::{self, Options};
use std::path::Path;

fn data_present(opts: &Options) -> bool {
    if opts.dir.join("v1_real_mode").is_dir() {
        return true;
    }
    println!(
        "skipping: 80286 single-step data not found at {} (set {})",
        opts.dir.display(),
        singlestep::ENV_DIR
    );
    false
}

fn threshold() -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("singlestep_80286.threshold");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn singlestep_80286() {
    let opts = Options::from_env();
    if !data_present(&opts) {
        return;
    }
    let start = std::time::Instant::now();
    let summary = singlestep::run_suite(&opts).unwrap_or_else(|e| panic!("{e}"));
    if opts.verbose {
        print!("{}", summary.render_details());
    }
    print!("{}", summary.render());
    println!(
        "({:.1} s, {} threads)",
        start.elapsed().as_secs_f64(),
        opts.threads
    );
    let errors: Vec<_> = summary.errors().map(|f| f.file.clone()).collect();
    assert!(errors.is_empty(), "files with errors: {errors:?}");
    if opts.filter.is_some() {
        println!("filter set: threshold not checked");
        return;
    }
    let passed = summary.passed();
    let min = threshold();
    assert!(
        passed >= min,
        "{passed} tests passed, fewer than the threshold {min} (tests/singlestep_80286.threshold)"
    );
    if passed > min {
        println!(
            "{passed} passed > threshold {min}: raise tests/singlestep_80286.threshold to {passed}"
        );
    }
}

/// The reader loads every file and finds the counts the README states.
#[test]
fn moo_files_parse() {
    let opts = Options::from_env();
    if !data_present(&opts) {
        return;
    }
    let files = singlestep::list_files(&opts.dir).unwrap();
    let (mut tests, mut exceptions) = (0usize, 0usize);
    for (stem, path) in &files {
        let f = moo::read_file(path).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(f.tests.len(), f.test_count as usize, "{stem}");
        assert_eq!(&f.cpu_id, b"C286", "{stem}");
        for t in &f.tests {
            assert_eq!(t.init.regs.mask, 0x3FFF, "{stem}:{}", t.index);
            assert_eq!(t.bytes.last(), Some(&0xF4), "{stem}:{}", t.index);
        }
        tests += f.tests.len();
        exceptions += f.tests.iter().filter(|t| t.exception.is_some()).count();
    }
    assert_eq!(files.len(), 325);
    assert_eq!(tests, 195_788);
    assert_eq!(exceptions, 5_886);
}
