//! The `platform` ROM on the board (PIC, PIT, RTC/CMOS, COM1, A20), its
//! determinism, and the board's reset line (triple fault, 8042 reset).

use devices::pc::{Pc, PcConfig, Stop};
use std::io::Write;
use std::sync::{Arc, Mutex};
use test_roms::builder::{build_rom, Asm, R};
use test_roms::platform::{ECHO_PREFIX, GREETING, INPUT, RAM_BYTES};

/// The run's bound: instructions retired, or the virtual time that many
/// take (idle time counts). The ROM needs about 1.2 s of virtual time (it
/// waits for an RTC update) and well under a million instructions.
const LIMIT: u64 = 1_000_000_000;
/// How far each look at COM1 goes while waiting for the greeting: 100 ms of
/// virtual time, long enough not to hide slices the board makes too long.
const STEP: u64 = 10_000_000;

/// A host-side sink whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    fn sink(&self) -> Box<dyn Write + Send> {
        Box::new(self.clone())
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one run of a ROM left behind.
struct Run {
    stop: Stop,
    debug: String,
    serial: Vec<u8>,
    icount: u64,
    /// Virtual time at the end, in nanoseconds.
    now: u64,
}

fn board(bios: Vec<u8>, no_reboot: bool, debug: &Capture, serial: &Capture) -> Pc {
    Pc::new(PcConfig {
        ram_bytes: RAM_BYTES,
        bios,
        debugcon: Some(debug.sink()),
        serial: [Some(serial.sink()), None, None, None],
        no_reboot,
        ..PcConfig::default()
    })
}

/// Boots the platform ROM, types [`INPUT`] on COM1 once the greeting has
/// come out (as a host answering a prompt would), and runs it to the end.
/// Typed at power-on, the first byte would reach the UART before the ROM
/// turns its FIFOs on, which empties them: lost, as on real hardware.
fn run_platform() -> Run {
    let (debug, serial) = (Capture::default(), Capture::default());
    let mut pc = board(test_roms::platform::build(), false, &debug, &serial);
    let mut until = 0;
    while !serial.text().contains(GREETING) {
        until += STEP;
        assert!(
            until < LIMIT,
            "no greeting on COM1; debug console: {}",
            debug.text()
        );
        let stop = pc.run(Some(until));
        assert_eq!(
            stop,
            Stop::InstructionLimit,
            "the ROM stopped before its greeting; debug console: {}",
            debug.text()
        );
    }
    pc.serial_input(0, INPUT.as_bytes());
    let stop = pc.run(Some(LIMIT));
    Run {
        stop,
        debug: debug.text(),
        serial: serial.bytes(),
        icount: pc.cpu.icount,
        now: pc.now(),
    }
}

#[test]
fn platform_rom_passes() {
    let run = run_platform();
    println!("debug console: {}", run.debug.trim());
    println!("COM1: {:?}", String::from_utf8_lossy(&run.serial));
    assert!(
        run.debug.contains("PASS platform"),
        "debug console: {}",
        run.debug
    );
    assert_eq!(run.stop, Stop::ExitPort(1), "debug console: {}", run.debug);
    // The ROM idles (HLT) through most of its run, over a second of
    // virtual time (it waits for an RTC update): that time must have been
    // skipped, not spent executing instructions (at the default 100 MIPS a
    // second is 100 M of them; the ROM's busy phases take about 5 M).
    println!("{} instructions, {} ns", run.icount, run.now);
    assert!(run.now > 1_000_000_000, "virtual time {} ns", run.now);
    assert!(
        run.icount < 10_000_000,
        "{} instructions for {} ns: idle time executed, not skipped",
        run.icount,
        run.now
    );
    let echo = format!("{ECHO_PREFIX}{}\r\n", INPUT.trim_end_matches('\n'));
    assert_eq!(
        String::from_utf8_lossy(&run.serial),
        format!("{GREETING}{echo}")
    );
}

#[test]
fn platform_rom_is_deterministic() {
    let first = run_platform();
    let second = run_platform();
    assert_eq!(
        first.stop,
        Stop::ExitPort(1),
        "debug console: {}",
        first.debug
    );
    assert_eq!(first.serial, second.serial, "COM1 output differs");
    assert_eq!(first.debug, second.debug, "debug console output differs");
    assert_eq!(first.icount, second.icount, "instruction counts differ");
    assert_eq!(first.stop, second.stop);
}

/// How the reset ROM resets the machine on its first boot.
#[derive(Clone, Copy)]
enum ResetBy {
    /// A real-mode IDT limit of 0: INT 3 cannot be delivered, nor the #GP
    /// nor the #DF that follow: the CPU shuts down.
    TripleFault,
    /// 8042 command FEh pulses the reset line.
    Kbc,
}

/// CMOS byte the reset ROM counts its boots in (not covered by the checksum).
const BOOT_COUNT: u32 = 0x40;

/// A ROM that prints `BOOT` at every boot, counts its boots in CMOS, resets
/// the machine on the first one and exits with 0 on the second.
fn reset_rom(by: ResetBy) -> Vec<u8> {
    build_rom("reset", move |a: &mut Asm| -> R {
        use iced_x86::code_asm::*;
        a.print("BOOT\n")?;
        a.mov(al, BOOT_COUNT)?;
        a.out(0x70u32, al)?;
        a.in_(al, 0x71u32)?;
        a.inc(al)?;
        a.out(0x71u32, al)?;
        let mut second = a.create_label();
        a.cmp(al, 1u32)?;
        a.jne(second)?;
        match by {
            ResetBy::TripleFault => {
                // A 6-byte pseudo-descriptor at 0:0500 with limit 0.
                a.mov(word_ptr(0x500u32), 0u32)?;
                a.mov(dword_ptr(0x502u32), 0u32)?;
                a.lidt(word_ptr(0x500u32))?;
                a.int3()?;
            }
            ResetBy::Kbc => {
                a.mov(al, 0xFEu32)?;
                a.out(0x64u32, al)?;
            }
        }
        // The reset must have happened before this point.
        a.fail("still running after the reset")?;
        a.set_label(&mut second)?;
        a.check8(al, 2, "boot count")
    })
    .bytes
}

fn run_reset_rom(by: ResetBy, no_reboot: bool) -> Run {
    let (debug, serial) = (Capture::default(), Capture::default());
    let mut pc = board(reset_rom(by), no_reboot, &debug, &serial);
    let stop = pc.run(Some(1_000_000));
    Run {
        stop,
        debug: debug.text(),
        serial: serial.bytes(),
        icount: pc.cpu.icount,
        now: pc.now(),
    }
}

#[test]
fn triple_fault_resets_the_machine() {
    let run = run_reset_rom(ResetBy::TripleFault, false);
    assert_eq!(run.debug, "BOOT\nBOOT\nPASS reset\n");
    assert_eq!(run.stop, Stop::ExitPort(1));
}

#[test]
fn kbc_reset_command_resets_the_machine() {
    let run = run_reset_rom(ResetBy::Kbc, false);
    assert_eq!(run.debug, "BOOT\nBOOT\nPASS reset\n");
    assert_eq!(run.stop, Stop::ExitPort(1));
}

#[test]
fn no_reboot_ends_the_run_at_the_reset() {
    for by in [ResetBy::TripleFault, ResetBy::Kbc] {
        let run = run_reset_rom(by, true);
        assert_eq!(run.debug, "BOOT\n");
        assert_eq!(run.stop, Stop::Reset);
        assert!(run.serial.is_empty() && run.icount > 0);
    }
}
