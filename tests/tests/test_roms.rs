//! Every test ROM, run headless through `ferrite run` exactly as a user
//! would, must print `PASS <name>` and exit through the exit port with 0
//! (process status 1).

use std::path::PathBuf;

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrite-test-roms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

#[test]
fn every_test_rom_passes_headless() {
    let dir = scratch_dir();
    let mut failures = Vec::new();
    for (name, build) in test_roms::all() {
        let rom = dir.join(format!("{name}.rom"));
        let out = dir.join(format!("{name}.out"));
        std::fs::write(&rom, build()).expect("write the ROM");
        let status = frontend::main_with([
            "ferrite".as_ref(),
            "run".as_ref(),
            "--bios".as_ref(),
            rom.as_os_str(),
            "--debugcon".as_ref(),
            out.as_os_str(),
            "--serial".as_ref(),
            "none".as_ref(),
            "--max-instructions".as_ref(),
            "200M".as_ref(),
        ]);
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        println!("{name}: status {status}: {}", text.trim());
        if status != 1 || !text.contains(&format!("PASS {name}")) {
            failures.push(format!("{name}: status {status}, output {:?}", text.trim()));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "test ROMs failed:\n{}",
        failures.join("\n")
    );
}
