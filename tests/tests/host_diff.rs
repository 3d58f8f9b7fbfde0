//! The host CPU as a second hardware oracle: single instructions with random
//! operands run natively and on ferrite, and must agree (see
//! `ferrite_tests::hostdiff`). Skips, with the reason printed, on hosts that
//! are not x86-64.
//!
//! Environment:
//! - `FERRITE_HOSTDIFF_CASES`: total cases (default 2 097 152), spread over
//!   the fixed seeds 0..8;
//! - `FERRITE_HOSTDIFF_SEED`: run this one seed instead (all the cases);
//! - `FERRITE_HOSTDIFF_CASE`: run only this case index (of each seed) and
//!   print its full state — what a failure's reproducer asks for;
//! - `FERRITE_HOSTDIFF_THREADS`: worker threads (default: the CPUs);
//! - `FERRITE_HOSTDIFF_REPORTS`: failures printed in full (default 50).

use ferrite_tests::hostdiff::{self, Config};
use std::io::Write as _;

const DEFAULT_CASES: u64 = 1 << 21;
const FIXED_SEEDS: u64 = 8;

/// Prints straight to stdout, past the test harness's capture, so that the
/// notes, skip reasons and the final count show in the log of a passing run.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
    )
}

#[test]
fn host_cpu_and_ferrite_agree() {
    if let Err(why) = hostdiff::host_supported() {
        say(&format!("hostdiff: skipped: {why}"));
        return;
    }
    let total = env_u64("FERRITE_HOSTDIFF_CASES").unwrap_or(DEFAULT_CASES);
    let seeds: Vec<u64> = match env_u64("FERRITE_HOSTDIFF_SEED") {
        Some(s) => vec![s],
        None => (0..FIXED_SEEDS).collect(),
    };
    let threads = env_u64("FERRITE_HOSTDIFF_THREADS")
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = Config {
        cases_per_seed: total.div_ceil(seeds.len() as u64),
        seeds,
        only_case: env_u64("FERRITE_HOSTDIFF_CASE"),
        max_reports: env_u64("FERRITE_HOSTDIFF_REPORTS").map_or(50, |n| n as usize),
        threads,
    };
    let start = std::time::Instant::now();
    let summary = match hostdiff::run(&config) {
        Ok(s) => s,
        Err(why) => panic!("hostdiff: cannot run: {why}"),
    };
    for n in &summary.notes {
        say(&format!("hostdiff: {n}"));
    }
    for d in &summary.dumps {
        println!("{d}");
    }
    println!("hostdiff: {:<20} {:>10} {:>8}", "class", "passed", "failed");
    for (class, (p, f)) in &summary.classes {
        println!("hostdiff: {class:<20} {p:>10} {f:>8}");
    }
    if !summary.undefined.is_empty() {
        println!("hostdiff: undefined (masked) flags on which ferrite's choice differs from the host's (informational):");
        for ((class, flag), n) in &summary.undefined {
            println!("hostdiff:   {class:<20} {flag} {n:>8}");
        }
    }
    for r in &summary.reports {
        println!("{r}");
    }
    if summary.failed > summary.reports.len() as u64 {
        println!(
            "hostdiff: ({} more failures not shown)",
            summary.failed - summary.reports.len() as u64
        );
    }
    say(&format!(
        "hostdiff: seeds {:?}, {} cases per seed, {:.1}s",
        config.seeds,
        config.cases_per_seed,
        start.elapsed().as_secs_f64()
    ));
    say(&format!(
        "{} passed, {} failed",
        summary.passed, summary.failed
    ));
    assert_eq!(summary.failed, 0, "the host CPU and ferrite disagree");
}

/// The comparison must see a difference when there is one: hand-made cases
/// whose host encoding deliberately differs from ferrite's.
#[test]
fn the_harness_notices_differences() {
    use ferrite_tests::hostdiff::{compare, Case, Check, SCRATCH_LEN, SELF_TEST_SCRATCH};
    if hostdiff::host_supported().is_err() {
        println!("hostdiff: skipped: not an x86-64 host");
        return;
    }
    let scratch = SELF_TEST_SCRATCH;
    let case = |bytes: &[u8], native: &[u8], check: Check| Case {
        class: "self-test",
        bytes: bytes.to_vec(),
        native: native.to_vec(),
        regs: [
            0x1234_5678,
            0x0000_0101,
            3,
            scratch + 64,
            0x0100_0000,
            5,
            6,
            7,
        ],
        eflags: 0,
        mem: [0x5A; SCRATCH_LEN],
        fpu: None,
        focus: Some(64),
        check,
    };
    let run = |c: &Case| {
        let (h, e) = hostdiff::run_pair(scratch, c).expect("host runs");
        compare(c, &h, &e)
    };
    // Identical instructions agree.
    let same = case(&[0x01, 0xC8], &[0x67, 0x01, 0xC8], Check::default());
    assert!(run(&same).is_empty(), "{:?}", run(&same));
    // ADD vs SUB: EAX (and flags) differ.
    let d = run(&case(&[0x01, 0xC8], &[0x67, 0x29, 0xC8], Check::default()));
    assert!(d.iter().any(|s| s.starts_with("EAX")), "{d:?}");
    // STC vs CLC: CF differs ...
    let d = run(&case(&[0xF9], &[0x67, 0xF8], Check::default()));
    assert!(d.iter().any(|s| s.contains("CF")), "{d:?}");
    // ... unless CF is masked as undefined.
    let masked = Check {
        flags: hostdiff::TRACKED_FLAGS & !1,
        ..Check::default()
    };
    assert!(run(&case(&[0xF9], &[0x67, 0xF8], masked)).is_empty());
    // ADD [EBX], ECX vs SUB: the scratch differs.
    let d = run(&case(&[0x01, 0x0B], &[0x67, 0x29, 0x0B], Check::default()));
    assert!(d.iter().any(|s| s.starts_with("mem+0x40")), "{d:?}");
    // ESP is live natively: XCHG EAX, ESP round-trips through the stub.
    let swap = case(&[0x94], &[0x67, 0x94], Check::default());
    let (h, e) = hostdiff::run_pair(scratch, &swap).unwrap();
    assert_eq!((h.regs[0], h.regs[4]), (0x0100_0000, 0x1234_5678));
    assert!(compare(&swap, &h, &e).is_empty());
}

/// The x87 half of the harness works natively whether or not ferrite has an
/// FPU yet: every generated x87 case runs on the host (no crash, no stray
/// exception) and agrees with itself.
#[test]
fn x87_cases_run_on_the_host() {
    match hostdiff::x87_self_check(11, 20_000) {
        Err(why) => println!("hostdiff: skipped: {why}"),
        Ok(bad) => assert_eq!(bad, 0, "x87 cases that disagree with themselves"),
    }
}
