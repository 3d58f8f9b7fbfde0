//! Boots real firmware: Debian's SeaBIOS image for QEMU's i440FX machine
//! (fetched by `scripts/fetch-guests.sh`), headless, from the reset vector.
//! With no disks it must get through its whole POST — shadowing itself into
//! RAM through the PAM registers, PCI enumeration (the PIIX4 PM function's
//! timer), the PS/2 keyboard — to its boot attempts and "No bootable
//! device", which it reports on its debug console (port 402h).
//!
//! Skips, saying why, when the image is absent (`FERRITE_GUESTS_DIR`
//! overrides `.cache/guests/`).

use ferrite_tests::guests_dir;

#[test]
fn seabios_posts_and_finds_no_boot_device() {
    let bios = guests_dir().join("seabios.bin");
    if !bios.is_file() {
        println!(
            "SKIP firmware_boot: {} missing; run scripts/fetch-guests.sh",
            bios.display()
        );
        return;
    }
    let log = std::env::temp_dir().join(format!("ferrite-seabios-{}.txt", std::process::id()));
    let status = frontend::main_with([
        "ferrite".into(),
        "run".into(),
        "--bios".into(),
        bios.into_os_string(),
        "--memory".into(),
        "64M".into(),
        "--serial".into(),
        "none".into(),
        "--debugcon".into(),
        log.clone().into_os_string(),
        // SeaBIOS waits for the boot menu key and retries the boot after
        // 60 s: the idle time counts, so this is about 20 virtual seconds.
        "--max-instructions".into(),
        "2G".into(),
    ]);
    let out = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&log);
    println!(
        "ferrite exited with status {status}; {} bytes of SeaBIOS log",
        out.len()
    );
    for expected in [
        "SeaBIOS (version",
        "RamSize: 0x04000000",
        "Relocating init",
        "PCI: init bdf=00:01.3 id=8086:7113",
        "Using pmtimer",
        "PS2 keyboard initialized",
        "Booting from Hard Disk...",
        "No bootable device.",
    ] {
        assert!(
            out.contains(expected),
            "SeaBIOS did not print {expected:?}; its log ends:\n{}",
            out.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        );
    }
    assert_eq!(status, 124, "still waiting to retry the boot at the limit");
}
