//! Writes every test ROM to `<dir>/<name>.rom`.
//!
//! Usage: `cargo run -p test-roms --bin build-roms -- out/`

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: build-roms <output-directory>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("build-roms: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, build) in test_roms::all() {
        let path = dir.join(format!("{name}.rom"));
        let bytes = build();
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("build-roms: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    ExitCode::SUCCESS
}
