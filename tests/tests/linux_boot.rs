//! Boots a real Linux — Debian bookworm's 6.1 `-686` kernel with a busybox
//! initramfs, both made by `scripts/fetch-guests.sh` — headless through
//! `ferrite run --kernel ... --initrd ...` exactly as a user would, and
//! checks what the guest printed on COM1: the kernel banner, the init
//! script's marker, an md5 the guest computed (equal to the host's), the
//! CPU model from /proc/cpuinfo, no kernel warnings, and a clean end (the
//! init script powers the machine off through ACPI: `poweroff -f`).
//!
//! Skips, saying why, when the images are absent (`FERRITE_GUESTS_DIR`
//! overrides `.cache/guests/`). `FERRITE_LINUX_MAX_INSTRUCTIONS` overrides
//! the instruction budget.

use ferrite_tests::guests_dir;
use std::path::PathBuf;
use std::time::Instant;

/// Enough for the decompressor (about 2.4G instructions), the kernel's init
/// and the script, with room to spare; a boot that gets stuck ends here
/// (exit status 124).
const MAX_INSTRUCTIONS: &str = "20G";
/// `earlyprintk` shows the kernel's messages from its first line (the
/// serial console proper only starts late in the boot, replacing it without
/// repeating them); `panic=-1` turns a panic into a reset, which ends the run
/// at once (there is no firmware to reboot into).
const CMDLINE: &str = "console=ttyS0 earlyprintk=ttyS0 panic=-1";

/// Lines that must not appear anywhere in the guest's output.
const FORBIDDEN: &[&str] = &["WARNING:", "BUG:", "Oops", "Call Trace", "Kernel panic"];

fn scratch_dir(guest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrite-{guest}-boot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// The last `n` lines of `text`, for failure messages.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn linux_boots_to_busybox_and_powers_off() {
    let dir = guests_dir();
    let kernel = dir.join("vmlinuz");
    let initrd = dir.join("initrd.img");
    let md5_file = dir.join("expected-md5");
    let missing: Vec<_> = [&kernel, &initrd, &md5_file]
        .into_iter()
        .filter(|p| !p.is_file())
        .collect();
    if !missing.is_empty() {
        println!(
            "SKIP linux_boot: {} missing; run scripts/fetch-guests.sh to fetch the guests",
            missing[0].display()
        );
        return;
    }
    let expected_md5 = std::fs::read_to_string(&md5_file).expect("read expected-md5");
    let expected_md5 = expected_md5.trim();
    let limit =
        std::env::var("FERRITE_LINUX_MAX_INSTRUCTIONS").unwrap_or(MAX_INSTRUCTIONS.to_string());

    let scratch = scratch_dir("linux");
    let serial = scratch.join("ttyS0.txt");
    let start = Instant::now();
    let status = frontend::main_with([
        "ferrite".into(),
        "run".into(),
        "--kernel".into(),
        kernel.into_os_string(),
        "--initrd".into(),
        initrd.into_os_string(),
        "--append".into(),
        CMDLINE.into(),
        "--memory".into(),
        "128M".into(),
        "--serial".into(),
        format!("file:{}", serial.display()).into(),
        "--debugcon".into(),
        "none".into(),
        "--max-instructions".into(),
        limit.into(),
    ]);
    let elapsed = start.elapsed();
    let bytes = std::fs::read(&serial).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    let out = String::from_utf8_lossy(&bytes).replace('\r', "");
    println!(
        "ferrite exited with status {status} after {:.1} s; {} bytes on ttyS0",
        elapsed.as_secs_f64(),
        out.len()
    );

    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        out.contains("Linux version 6.1"),
        "no kernel banner ('Linux version 6.1')".into(),
    );
    check(
        out.contains("FERRITE-MARKER: init started"),
        "/init did not start (no 'FERRITE-MARKER: init started')".into(),
    );
    let md5 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("FERRITE-MD5: "))
        .and_then(|rest| rest.split_whitespace().next());
    check(
        md5 == Some(expected_md5),
        format!("the guest's md5 is {md5:?}, the host's {expected_md5}"),
    );
    let models: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("model name"))
        .collect();
    check(
        !models.is_empty() && models.iter().all(|l| l.contains("ferrite")),
        format!("/proc/cpuinfo model name lines {models:?} do not name ferrite"),
    );
    for bad in FORBIDDEN {
        let hit = out.lines().find(|l| l.contains(bad));
        check(hit.is_none(), format!("the guest printed {hit:?}"));
    }
    let unstable = out
        .lines()
        .find(|l| l.contains("clocksource") && l.contains("unstable"));
    check(
        unstable.is_none(),
        format!("a clocksource was marked unstable: {unstable:?}"),
    );
    check(
        out.contains("DMI: ferrite ferrite PC"),
        "the kernel did not find the SMBIOS tables ('DMI: ferrite ferrite PC')".into(),
    );
    check(
        out.contains("reboot: Power down"),
        "the kernel did not power down through ACPI ('reboot: Power down')".into(),
    );
    check(
        status == 0,
        format!(
            "ferrite's exit status is {status}, not 0 (the guest powered off or halted \
             for good); 124 = instruction limit, 126 = the guest reset the machine"
        ),
    );
    assert!(
        failures.is_empty(),
        "Linux boot failed:\n  {}\nlast lines on ttyS0:\n{}",
        failures.join("\n  "),
        tail(&out, 40)
    );
}

/// GNU Mach, a Multiboot ELF kernel, through `ferrite run --kernel`: it must
/// print its banner and the memory map it was given (by about 0.75G
/// instructions). With no bootstrap modules it then panics ("No bootstrap
/// code loaded"), so how the run ends is not checked.
#[test]
fn gnumach_starts_by_multiboot() {
    let kernel = guests_dir().join("gnumach");
    if !kernel.is_file() {
        println!(
            "SKIP gnumach: {} missing; run scripts/fetch-guests.sh to fetch the guests",
            kernel.display()
        );
        return;
    }
    let scratch = scratch_dir("gnumach");
    let serial = scratch.join("com0.txt");
    let status = frontend::main_with([
        "ferrite".into(),
        "run".into(),
        "--kernel".into(),
        kernel.into_os_string(),
        "--append".into(),
        "console=com0".into(),
        "--memory".into(),
        "64M".into(),
        "--serial".into(),
        format!("file:{}", serial.display()).into(),
        "--debugcon".into(),
        "none".into(),
        "--max-instructions".into(),
        std::ffi::OsString::from("1G"),
    ]);
    let bytes = std::fs::read(&serial).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    let out = String::from_utf8_lossy(&bytes).replace('\r', "");
    println!(
        "ferrite exited with status {status}; {} bytes on COM1",
        out.len()
    );
    assert!(
        out.contains("GNU Mach 1.8") && out.contains("biosmem: physical memory map"),
        "GNU Mach did not print its banner and memory map; COM1 ends with:\n{}",
        tail(&out, 40)
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("biosmem: 000000000000100000:") && l.ends_with("available")),
        "the memory map lacks the RAM above 1 MiB:\n{}",
        tail(&out, 40)
    );
}
