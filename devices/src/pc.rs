//! The PC board: the CPU, RAM, firmware ROM and the chipset devices, wired
//! the way an AT-compatible (i440FX/PIIX3-class) machine wires them, and the
//! run loop that interleaves CPU slices with device events on the one
//! virtual clock.
//!
//! Port map (this file is the only place that knows it):
//!
//! | ports | device |
//! |---|---|
//! | 20h–21h, A0h–A1h, 4D0h–4D1h | [`DualPic8259`] (+ ELCR) |
//! | 40h–43h, 61h | [`Pit8254`] and port 61h |
//! | 60h, 64h | [`I8042`] keyboard controller |
//! | 70h–71h | [`Rtc`] (MC146818 CMOS) |
//! | 80h | POST code ([`PostPort`]) |
//! | 92h | [`SystemControlA`] (fast A20, reset) |
//! | E9h, 402h | [`DebugCon`] |
//! | F0h | coprocessor error latch: clears IRQ 13 and asserts IGNNE# |
//! | F4h | [`ExitPort`] |
//! | 3F8h, 2F8h, 3E8h, 2E8h | COM1–COM4 ([`Uart16550`], IRQ 4, 3, 4, 3) |
//! | CF8h–CFFh | [`PciBus`] configuration mechanism #1 (i440FX, PIIX3, PIIX4 PM) |
//! | CF9h | reset control (bit 2: reset) |
//! | PMBA (600h after [`Pc::post_for_direct_boot`]) | [`Piix4Pm`] ACPI registers, SCI on IRQ 9 |
//!
//! Memory map: RAM from 0; the firmware ROM ending at 1 MiB and at 4 GiB,
//! with C0000h–FFFFFh shadowed into RAM segment by segment as the i440FX's
//! PAM registers say (`apply_pam`); the [`Hpet`] at FED00000h (its timers 0
//! and 1 take IRQ 0 and 8 in legacy replacement mode).

use crate::debug_ports::{DebugCon, ExitPort, PostPort, Sink};
use crate::hpet::{self, Hpet};
use crate::i8042::I8042;
use crate::pci::PciBus;
use crate::pic8259::DualPic8259;
use crate::piix4_pm::{self, Piix4Pm};
use crate::pit8254::Pit8254;
use crate::rtc::Rtc;
use crate::system_control::SystemControlA;
use crate::uart16550::Uart16550;
use emu_core::clock::{Clock, Nanos};
use emu_core::{Bus, Cpu, RunExit};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, TryRecvError};

/// COM1–COM4 base ports and their ISA IRQ lines.
const COM_PORTS: [(u16, u8); 4] = [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)];

/// Instructions per virtual second: the nominal speed of the virtual CPU.
pub const DEFAULT_IPS: u64 = 100_000_000;

/// The longest CPU slice between looks at the devices and the host, in
/// instructions, when no device event comes sooner.
const MAX_SLICE: u64 = 1 << 20;

/// How the board is built.
pub struct PcConfig {
    /// RAM in bytes.
    pub ram_bytes: usize,
    /// The firmware image, mapped so it ends at 1 MiB and at 4 GiB.
    pub bios: Vec<u8>,
    /// Where debug-console (port E9h) bytes go.
    pub debugcon: Option<Sink>,
    /// Where POST codes (port 80h) are logged.
    pub post_log: Option<Sink>,
    /// Where each COM port's transmitted bytes go.
    pub serial: [Option<Sink>; 4],
    /// What the host's user does (bytes typed for a COM port, a request to
    /// quit), picked up between CPU slices. Interactive input arrives when
    /// the host sends it, so a run that uses it is not deterministic; tests
    /// feed input with [`Pc::serial_input`] instead.
    pub host_input: Option<Receiver<HostEvent>>,
    /// A triple fault or reset request ends the run instead of resetting.
    pub no_reboot: bool,
    /// Instructions per virtual second.
    pub ips: u64,
    /// The RTC's time at power-on, Unix seconds (fixed for determinism).
    pub rtc_start: u64,
}

impl Default for PcConfig {
    fn default() -> PcConfig {
        PcConfig {
            ram_bytes: 16 << 20,
            bios: Vec::new(),
            debugcon: None,
            post_log: None,
            serial: [None, None, None, None],
            host_input: None,
            no_reboot: false,
            ips: DEFAULT_IPS,
            // 2000-01-01 00:00:00 UTC.
            rtc_start: 946_684_800,
        }
    }
}

/// Where the firmware puts the power-management I/O block (as SeaBIOS does
/// on QEMU).
pub const PM_BASE: u16 = 0x600;

/// Something the host's user did, for the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// Bytes typed for COM port `n` (0 = COM1).
    Serial(usize, Vec<u8>),
    /// The user asked to quit (QEMU's Ctrl-A x).
    Quit,
}

/// Why [`Pc::run`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The guest wrote to the exit port; the host should exit with this status.
    ExitPort(u32),
    /// The instruction limit was reached.
    InstructionLimit,
    /// The CPU halted with interrupts disabled (or nothing left that could
    /// wake it): the guest is done.
    Halted,
    /// The guest asked for a reset (triple fault, 8042, port 92h or CF9h)
    /// and the board was built with `no_reboot`.
    Reset,
    /// The guest turned the machine off (ACPI soft-off, S5).
    PowerOff,
    /// The host's user quit.
    Quit,
}

/// A COM port with its host side.
struct SerialPort {
    /// Fitted to the board: only ports with a host back-end are, as on QEMU,
    /// so that guests do not probe (with interrupts off) ports nobody uses.
    present: bool,
    uart: Uart16550,
    sink: Option<Sink>,
    /// Host bytes waiting for room in the receive FIFO.
    input: VecDeque<u8>,
}

/// Everything on the board but the CPU: the CPU's [`Bus`].
pub struct Devices {
    pub pic: DualPic8259,
    pub pit: Pit8254,
    pub rtc: Rtc,
    pub hpet: Hpet,
    pub kbc: I8042,
    pub port92: SystemControlA,
    pub pci: PciBus,
    /// The PIIX4 power-management function's ACPI registers.
    pub pm: Piix4Pm,
    /// Where its I/O block is decoded (PMBA, while PMREGMISC enables it).
    pm_base: Option<u16>,
    serial: Vec<SerialPort>,
    debugcon: DebugCon,
    post: PostPort,
    exit: ExitPort,
    /// Reset control register CF9h.
    reset_control: u8,
    /// The FPU error latch (FERR# → IRQ 13) was cleared by a write to port
    /// F0h; it stays clear until FERR# drops and rises again.
    fpu_error_cleared: bool,
    /// A write to port F0h waits for the board to assert IGNNE#.
    ignne_request: bool,
    /// A reset was requested through CF9h.
    reset_requested: bool,
    /// The host bridge's PAM registers were written: shadowing must be
    /// applied to memory.
    pam_changed: bool,
    /// Something needs the board's attention before the next instruction.
    attention: bool,
    clock: Clock,
    /// The current virtual time, as of the last `sync`.
    now: Nanos,
    /// When the current CPU slice is due to end: an access that brings a
    /// device's next event before it asks for the board's attention, so
    /// that the slice ends in time (see [`Devices::reschedule`]).
    slice_end: Nanos,
}

/// The whole machine.
pub struct Pc {
    pub cpu: Cpu,
    pub devices: Devices,
    host_input: Option<Receiver<HostEvent>>,
    /// The host's user asked to quit.
    quit: bool,
    /// Called with the virtual time before each slice (see [`Pc::set_pacer`]).
    pacer: Option<Box<dyn FnMut(Nanos)>>,
    no_reboot: bool,
    bios: Vec<u8>,
}

impl Pc {
    /// Builds the board and resets it. The BIOS image must be a non-empty
    /// multiple of 64 KiB, at most 1 MiB (the caller validates user input).
    pub fn new(config: PcConfig) -> Pc {
        let mut cpu = Cpu::new(config.ram_bytes);
        map_bios(&mut cpu, &config.bios);
        cpu.mem.map_mmio(hpet::BASE, hpet::SIZE);
        let serial = config
            .serial
            .into_iter()
            .map(|sink| SerialPort {
                present: sink.is_some(),
                uart: Uart16550::new(),
                sink,
                input: VecDeque::new(),
            })
            .collect();
        let mut devices = Devices {
            pic: DualPic8259::new(),
            pit: Pit8254::new(),
            rtc: Rtc::new(config.rtc_start),
            hpet: Hpet::new(),
            kbc: I8042::new(),
            port92: SystemControlA::new(true),
            pci: board_pci(),
            pm: Piix4Pm::new(),
            pm_base: None,
            serial,
            debugcon: DebugCon::new(config.debugcon),
            post: PostPort::new(config.post_log),
            exit: ExitPort::default(),
            reset_control: 0,
            fpu_error_cleared: false,
            ignne_request: false,
            reset_requested: false,
            pam_changed: false,
            attention: false,
            clock: Clock::new(config.ips),
            now: 0,
            slice_end: 0,
        };
        devices.init_cmos(config.ram_bytes);
        Pc {
            cpu,
            devices,
            host_input: config.host_input,
            quit: false,
            pacer: None,
            no_reboot: config.no_reboot,
            bios: config.bios,
        }
    }

    /// What a BIOS's POST leaves for an OS started without firmware code
    /// running (direct kernel boot): the PIIX4 power-management I/O block
    /// decoded at [`PM_BASE`] and ACPI mode on, matching the FADT that
    /// `bios::acpi` writes. Returns the I/O base.
    pub fn post_for_direct_boot(&mut self) -> u16 {
        let d = &mut self.devices;
        if let Some(f) = d
            .pci
            .function_mut(piix4_pm::PCI_DEVICE, piix4_pm::PCI_FUNCTION)
        {
            f.write8(piix4_pm::PMBA, PM_BASE as u8);
            f.write8(piix4_pm::PMBA + 1, (PM_BASE >> 8) as u8);
            f.write8(piix4_pm::PMREGMISC, 1);
            d.pm_base = Piix4Pm::io_base(f);
        }
        d.pm.enable_acpi_mode();
        PM_BASE
    }

    /// Queues bytes from the host for COM port `n` (0 = COM1); they enter the
    /// receive FIFO as it has room, in virtual time.
    pub fn serial_input(&mut self, n: usize, bytes: &[u8]) {
        if let Some(p) = self.devices.serial.get_mut(n) {
            p.input.extend(bytes);
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Nanos {
        self.devices.clock.now(self.cpu.cycles())
    }

    /// Runs until the guest stops (see [`Stop`]) or `max_instructions` have
    /// retired in total.
    pub fn run(&mut self, max_instructions: Option<u64>) -> Stop {
        loop {
            self.take_host_input(false);
            if self.quit {
                self.devices.flush();
                return Stop::Quit;
            }
            if let Some(pace) = self.pacer.as_mut() {
                pace(self.devices.clock.now(self.cpu.cycles()));
            }
            let icount = self.cpu.icount;
            let cycles = self.cpu.cycles();
            self.devices.sync_to(cycles);
            self.devices.update_lines();
            self.drive_fpu_error();
            let now = self.devices.now;
            let next = self.devices.next_event(now);
            let mut budget = next
                .map_or(MAX_SLICE, |t| self.devices.clock.cycles_until(cycles, t))
                .min(MAX_SLICE);
            if let Some(max) = max_instructions {
                if icount >= max {
                    self.devices.flush();
                    return Stop::InstructionLimit;
                }
                budget = budget.min(max - icount);
            }
            self.devices.slice_end = next
                .unwrap_or(Nanos::MAX)
                .min(self.devices.clock.now(cycles + budget));
            match self.cpu.run(&mut self.devices, budget) {
                RunExit::InstructionLimit => {}
                RunExit::BusRequest => {
                    if let Some(stop) = self.attend() {
                        self.devices.flush();
                        return stop;
                    }
                }
                RunExit::Halted => {
                    // The slice may have moved the next event (a timer
                    // programmed just before HLT): look again as of now.
                    self.devices.sync_to(self.cpu.cycles());
                    let next = self.devices.next_event(self.devices.now);
                    // Only an interrupt can wake a halted CPU; with IF clear
                    // (and no NMI source on this board) none will come.
                    let wake = next.filter(|_| self.cpu.if_flag());
                    match wake {
                        // Idle time counts against the instruction limit as
                        // the time that many instructions take, so a guest
                        // that idles forever still stops.
                        Some(t)
                            if max_instructions.is_some_and(|max| {
                                t > Clock::new(self.devices.clock.ips()).now(max)
                            }) =>
                        {
                            self.devices.flush();
                            return Stop::InstructionLimit;
                        }
                        Some(t) => {
                            let idle = self.devices.clock.cycles_until(self.cpu.cycles(), t);
                            self.cpu.stall_cycles = self.cpu.stall_cycles.saturating_add(idle);
                        }
                        // Idle with interrupts on and nothing scheduled: only
                        // the host can wake the guest now (a key typed).
                        None if self.cpu.if_flag() && self.take_host_input(true) => {}
                        None => {
                            self.devices.flush();
                            return Stop::Halted;
                        }
                    }
                }
                RunExit::Shutdown => {
                    if let Some(stop) = self.reset_or_stop() {
                        self.devices.flush();
                        return stop;
                    }
                }
            }
        }
    }

    /// Moves host input into the COM ports. With `wait`, blocks until some
    /// arrives; returns false once the host side has closed (then nothing
    /// more can come).
    fn take_host_input(&mut self, wait: bool) -> bool {
        let Some(rx) = self.host_input.as_ref() else {
            return false;
        };
        let first = if wait {
            rx.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            rx.try_recv()
        };
        let mut pending = Vec::new();
        let mut next = first;
        loop {
            match next {
                Ok(item) => pending.push(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.host_input = None;
                    break;
                }
            }
            next = rx.try_recv();
        }
        let got = !pending.is_empty();
        for event in pending {
            match event {
                HostEvent::Serial(n, bytes) => self.serial_input(n, &bytes),
                HostEvent::Quit => self.quit = true,
            }
        }
        got || self.host_input.is_some()
    }

    /// Lets the host decide *when* the machine runs, never what it does:
    /// `pace` is called with the virtual time before every slice and may
    /// sleep (to keep virtual time from running ahead of the wall clock for
    /// interactive use).
    pub fn set_pacer(&mut self, pace: impl FnMut(Nanos) + 'static) {
        self.pacer = Some(Box::new(pace));
    }

    /// FERR# from the FPU drives IRQ 13 through the PC's coprocessor error
    /// latch (the AT's way of reporting x87 errors when CR0.NE is clear).
    fn drive_fpu_error(&mut self) {
        let ferr = self.cpu.fpu.ferr();
        if !ferr {
            self.devices.fpu_error_cleared = false;
        }
        self.devices
            .pic
            .set_irq(13, ferr && !self.devices.fpu_error_cleared);
    }

    /// Acts on what a device asked for in the middle of a slice.
    fn attend(&mut self) -> Option<Stop> {
        self.devices.attention = false;
        if let Some(status) = self.devices.exit.status() {
            return Some(Stop::ExitPort(status));
        }
        if std::mem::take(&mut self.devices.ignne_request) {
            self.cpu.fpu.set_ignne(true);
        }
        self.drive_fpu_error();
        let a20 = self.devices.port92.a20() || self.devices.kbc.a20_enabled();
        self.cpu.mem.set_a20(a20);
        if std::mem::take(&mut self.devices.pam_changed) {
            apply_pam(&self.devices.pci, &mut self.cpu.mem);
        }
        let reset = self.devices.port92.take_reset_request()
            | self.devices.kbc.take_reset_request()
            | std::mem::take(&mut self.devices.reset_requested);
        if reset {
            return self.reset_or_stop();
        }
        match self.devices.pm.take_sleep_request() {
            Some(piix4_pm::SLP_TYP_SOFT_OFF) => return Some(Stop::PowerOff),
            // Sleeping states that keep RAM (S1, S3) wake at once: nothing
            // on this board would stay powered to wake them later.
            Some(typ) => log::debug!("sleep type {typ} requested: resuming at once"),
            None => {}
        }
        None
    }

    /// The reset line: resets the CPU and chipset, or ends the run.
    fn reset_or_stop(&mut self) -> Option<Stop> {
        if self.no_reboot {
            return Some(Stop::Reset);
        }
        log::debug!("system reset");
        self.cpu.reset();
        map_bios(&mut self.cpu, &self.bios);
        self.devices.pic = DualPic8259::new();
        self.devices.pit = Pit8254::new();
        self.devices.hpet = Hpet::new();
        self.devices.port92 = SystemControlA::new(true);
        self.devices.pci = board_pci();
        apply_pam(&self.devices.pci, &mut self.cpu.mem);
        self.devices.pm = Piix4Pm::new();
        self.devices.pm.advance(self.devices.now);
        self.devices.pm.clear_status();
        self.devices.pm_base = None;
        self.cpu.mem.set_a20(true);
        None
    }
}

/// The PCI functions on the board: the i440FX host bridge, the PIIX3 ISA
/// bridge, and beside it the PIIX4 power-management function (as on QEMU's
/// `pc` machine).
fn board_pci() -> PciBus {
    let mut pci = PciBus::i440fx();
    pci.add(Piix4Pm::pci_function());
    pci
}

/// The i440FX's PAM registers (59h–5Fh) route each segment of C0000h–FFFFFh
/// to the ROM or to the RAM under it, for reads (RE, bit 0 of a field) and
/// writes (WE, bit 1): PAM0 bits 5–4 cover F0000h–FFFFFh, PAMn (n = 1–6)
/// bits 1–0 and 5–4 the two 16 KiB halves of C0000h + (n − 1) × 8000h
/// (82441FX datasheet, 3.2.13).
fn apply_pam(pci: &PciBus, mem: &mut emu_core::memory::Memory) {
    let Some(host) = pci.function(0, 0) else {
        return;
    };
    let field = |reg: usize, shift: u32| (host.read8(reg) >> shift) & 3;
    mem.set_shadow(0xF_0000, 0x1_0000, field(PAM0, 4));
    for n in 1..=6 {
        let base = 0xC_0000 + (n as u32 - 1) * 0x8000;
        mem.set_shadow(base, 0x4000, field(PAM0 + n, 0));
        mem.set_shadow(base + 0x4000, 0x4000, field(PAM0 + n, 4));
    }
}

/// The first PAM register in the host bridge's configuration space.
const PAM0: usize = 0x59;

/// Drives an interrupt line from a device output that pulses (`edge`: a
/// rising edge since the last look) or holds a level.
fn drive(pic: &mut DualPic8259, irq: u8, edge: bool, level: bool) {
    if edge {
        pic.set_irq(irq, false);
        pic.set_irq(irq, true);
    } else {
        pic.set_irq(irq, level);
    }
}

/// Maps the firmware so that it ends at 0xFFFFF and at 0xFFFFFFFF.
fn map_bios(cpu: &mut Cpu, bios: &[u8]) {
    if bios.is_empty() {
        return;
    }
    let len = bios.len() as u32;
    cpu.mem.map_rom(0x10_0000 - len, bios.to_vec());
    cpu.mem.map_rom(0u32.wrapping_sub(len), bios.to_vec());
}

impl Devices {
    /// Writes the CMOS bytes a BIOS would leave: memory sizes, equipment, century.
    fn init_cmos(&mut self, ram_bytes: usize) {
        let kib = (ram_bytes / 1024) as u64;
        let ext_kib = kib.saturating_sub(1024).min(0xFFFF) as u16;
        let base_kib: u16 = 640;
        let above_16m = ((ram_bytes as u64).saturating_sub(16 << 20) >> 16).min(0xFFFF) as u16;
        for (index, value) in [
            (0x15, base_kib as u8),
            (0x16, (base_kib >> 8) as u8),
            (0x17, ext_kib as u8),
            (0x18, (ext_kib >> 8) as u8),
            (0x30, ext_kib as u8),
            (0x31, (ext_kib >> 8) as u8),
            (0x34, above_16m as u8),
            (0x35, (above_16m >> 8) as u8),
            // Equipment: math coprocessor absent (bit 1), VGA (bits 4-5 = 00).
            (0x14, 0x04),
            (0x32, 0x20),
        ] {
            self.rtc.set_nvram(index, value);
        }
        self.rtc.update_checksum();
    }

    /// Brings every device up to the time of `icount`.
    fn sync_to(&mut self, cycles: u64) {
        // Never backwards: an MMIO access syncs to its block's start, a port
        // access to its own instruction.
        self.now = self.now.max(self.clock.now(cycles));
    }

    /// Moves host serial input into the UARTs, collects their output, and
    /// drives the interrupt lines from the device outputs.
    fn update_lines(&mut self) {
        let now = self.now;
        // IRQ 0 and 8: the PIT and the RTC, or the HPET's timers 0 and 1
        // when its legacy replacement route takes them over.
        let pit_edges = self.pit.irq0_edges(now);
        let rtc = self.rtc.irq_level(now);
        self.hpet.advance(now);
        let hpet_edges: [u64; hpet::TIMERS] = std::array::from_fn(|n| self.hpet.take_edges(n));
        if self.hpet.legacy_replacement() {
            drive(&mut self.pic, 0, hpet_edges[0] > 0, self.hpet.level(0));
            drive(&mut self.pic, 8, hpet_edges[1] > 0, self.hpet.level(1));
        } else {
            drive(&mut self.pic, 0, pit_edges > 0, false);
            self.pic.set_irq(8, rtc);
        }
        self.kbc.advance(now);
        self.pic.set_irq(1, self.kbc.irq1());
        self.pic.set_irq(12, self.kbc.irq12());
        self.pm.advance(now);
        self.pic.set_irq(piix4_pm::SCI_IRQ, self.pm.sci_level());
        // IRQ 3 and 4 before and after host input enters the FIFOs: a fall
        // the guest caused (draining a FIFO) must reach the PIC before the
        // rise that new bytes cause, or the edge is lost.
        let mut com_irq = [[false; 2]; 2];
        for (n, p) in self.serial.iter_mut().enumerate() {
            let line = (COM_PORTS[n].1 - 3) as usize;
            p.uart.advance(now);
            com_irq[0][line] |= p.uart.irq_level();
            while p.uart.rx_space() > 0 {
                let Some(b) = p.input.pop_front() else { break };
                p.uart.receive(now, b);
            }
            let out = p.uart.take_tx();
            if let (Some(sink), false) = (p.sink.as_mut(), out.is_empty()) {
                if sink.write_all(&out).and_then(|_| sink.flush()).is_err() {
                    p.sink = None;
                }
            }
            com_irq[1][line] |= p.uart.irq_level();
        }
        for [irq3, irq4] in com_irq {
            self.pic.set_irq(3, irq3);
            self.pic.set_irq(4, irq4);
        }
    }

    /// The earliest time any device needs attention.
    fn next_event(&self, now: Nanos) -> Option<Nanos> {
        let serial = self.serial.iter().filter_map(|p| {
            // Pending host input is delivered as soon as there is room.
            let input = (!p.input.is_empty()).then_some(now + 1_000);
            [p.uart.next_event(), input].into_iter().flatten().min()
        });
        [
            self.pit.next_event(now),
            self.rtc.next_event(now),
            self.kbc.next_event(),
            self.pm.next_event(now),
            self.hpet.next_event(now),
        ]
        .into_iter()
        .flatten()
        .chain(serial)
        .map(|t| t.max(now))
        .min()
    }

    /// Flushes host-side output.
    fn flush(&mut self) {
        self.debugcon.flush();
        for p in &mut self.serial {
            if let Some(s) = p.sink.as_mut() {
                let _ = s.flush();
            }
        }
    }

    /// After an access to a device with a schedule: if its next event (a
    /// timer just programmed, a byte to transmit, a time-out restarted) now
    /// comes before the end of the CPU's slice, the slice must end then, or
    /// the event would be seen late (and timer edges merged). The CPU acts
    /// on the request at its next port write; a halt looks afresh anyway.
    fn reschedule(&mut self, next: Option<Nanos>) {
        if next.is_some_and(|t| t < self.slice_end) {
            self.attention = true;
        }
    }

    /// The offset of `port` in the power-management I/O block, if it is there.
    fn pm_offset(&self, port: u16) -> Option<u16> {
        // PMBA may put the block at the very top of the I/O space.
        let offset = port.checked_sub(self.pm_base?)?;
        (offset < piix4_pm::IO_SIZE).then_some(offset)
    }

    fn com(&mut self, port: u16) -> Option<(&mut SerialPort, u16)> {
        let n = COM_PORTS
            .iter()
            .position(|&(base, _)| (base..base + 8).contains(&port))?;
        let p = &mut self.serial[n];
        p.present.then_some((p, port - COM_PORTS[n].0))
    }

    fn read8(&mut self, port: u16) -> u8 {
        let now = self.now;
        match port {
            0x20 | 0x21 => self.pic.read(port - 0x20),
            0xA0 | 0xA1 => self.pic.read(port - 0xA0 + 2),
            0x4D0 | 0x4D1 => self.pic.read(port - 0x4D0 + 4),
            0x40..=0x43 => self.pit.read(now, port - 0x40),
            0x61 => self.pit.read_port61(now),
            0x60 | 0x64 => {
                // Reading the output buffer lets the next byte come.
                let value = self.kbc.read(now, port - 0x60);
                self.reschedule(self.kbc.next_event());
                value
            }
            0x70 | 0x71 => {
                // Reading C lowers the IRQ, which lets the next one be due.
                let value = self.rtc.read(now, port - 0x70);
                self.reschedule(self.rtc.next_event(now));
                value
            }
            0x80 => self.post.last(),
            0x92 => self.port92.read(),
            0xE9 | 0x402 => DebugCon::READBACK,
            0xCF9 => self.reset_control,
            0xCF8..=0xCFF => self.pci.read8(port),
            _ => self.read8_movable(port),
        }
    }

    /// Reads a port whose decoding is not fixed: the power-management block
    /// (wherever PMBA puts it) and the COM ports (when fitted).
    fn read8_movable(&mut self, port: u16) -> u8 {
        let now = self.now;
        if let Some(offset) = self.pm_offset(port) {
            return self.pm.read(now, offset);
        }
        match self.com(port) {
            Some((p, off)) => {
                let value = p.uart.read(now, off);
                let next = p.uart.next_event();
                self.reschedule(next);
                value
            }
            None => {
                log::debug!("read from unclaimed port {port:#06x}");
                0xFF
            }
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let now = self.now;
        match port {
            0x20 | 0x21 => self.pic.write(port - 0x20, value),
            0xA0 | 0xA1 => self.pic.write(port - 0xA0 + 2, value),
            0x4D0 | 0x4D1 => self.pic.write(port - 0x4D0 + 4, value),
            0x40..=0x43 => {
                self.pit.write(now, port - 0x40, value);
                self.reschedule(self.pit.next_event(now));
            }
            0x61 => self.pit.write_port61(now, value),
            0x60 | 0x64 => {
                self.kbc.write(now, port - 0x60, value);
                self.attention = true; // A20 or reset through the output port
            }
            0x70 | 0x71 => {
                self.rtc.write(now, port - 0x70, value);
                self.reschedule(self.rtc.next_event(now));
            }
            0x80 => self.post.write(value),
            0x92 => {
                self.port92.write(value);
                self.attention = true;
            }
            0xE9 | 0x402 => self.debugcon.write(value),
            0xF0 => {
                self.fpu_error_cleared = true;
                self.ignne_request = true;
                self.attention = true;
            }
            0xF4 => {
                self.exit.write(value as u32);
                self.attention = true;
            }
            0xCF8 | 0xCFA | 0xCFB => {
                log::debug!("byte write {value:#04x} to PCI address port {port:#x} ignored")
            }
            0xCFC..=0xCFF => {
                self.pci.write8(port, value);
                if self.pci.selects_pam(port) {
                    self.pam_changed = true;
                    self.attention = true;
                }
                self.pm_base = self
                    .pci
                    .function(piix4_pm::PCI_DEVICE, piix4_pm::PCI_FUNCTION)
                    .and_then(Piix4Pm::io_base);
            }
            0xCF9 => {
                // Bit 2 going high performs the reset selected by bits 1 and 3.
                if value & 4 != 0 && self.reset_control & 4 == 0 {
                    self.reset_requested = true;
                    self.attention = true;
                }
                self.reset_control = value & 0x0A;
            }
            _ => self.write8_movable(port, value),
        }
    }

    /// Writes a port whose decoding is not fixed (see `read8_movable`).
    fn write8_movable(&mut self, port: u16, value: u8) {
        let now = self.now;
        if let Some(offset) = self.pm_offset(port) {
            self.pm.write(now, offset, value);
            // SLP_EN, or an SCI enabled.
            self.attention = true;
            return;
        }
        match self.com(port) {
            Some((p, off)) => {
                p.uart.write(now, off, value);
                let next = p.uart.next_event();
                self.reschedule(next);
            }
            None => log::debug!("write {value:#04x} to unclaimed port {port:#06x}"),
        }
    }
}

impl Bus for Devices {
    fn sync(&mut self, cycles: u64) {
        self.sync_to(cycles);
        // I/O bus cycles make time run ahead of the instruction budget: a
        // slice that reaches its end time must stop so no event is missed.
        if self.now >= self.slice_end {
            self.attention = true;
        }
    }

    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        if port == 0xCF8 && size == 4 {
            // Only a dword access reaches the PCI address register; CF9h
            // alone is the reset control register.
            return (0..4).fold(0, |v, i| v | (self.pci.read8(0xCF8 + i) as u32) << (8 * i));
        }
        // Wider accesses are split into byte accesses at consecutive ports,
        // as the ISA bus does.
        (0..size as u16).fold(0, |v, i| {
            v | (self.read8(port.wrapping_add(i)) as u32) << (8 * i)
        })
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if port == 0xCF8 && size == 4 {
            self.pci.write_address(value);
            return;
        }
        if port == 0xF4 {
            // isa-debug-exit takes the whole value of any width.
            self.exit.write(value);
            self.attention = true;
            return;
        }
        for i in 0..size as u16 {
            self.write8(port.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }

    fn stop_requested(&mut self) -> bool {
        // Interrupt lines may have changed too (EOI, IMR writes, device
        // acknowledgements): re-evaluate them after every write.
        self.update_lines();
        self.attention
    }

    fn mmio_read(&mut self, addr: u32, size: u8) -> u32 {
        match addr.checked_sub(hpet::BASE).filter(|&o| o < hpet::SIZE) {
            Some(offset) => self.hpet.read(self.now, offset, size),
            None => {
                log::debug!("MMIO read at {addr:#010x} unclaimed");
                emu_core::bus::ones(size)
            }
        }
    }

    fn mmio_write(&mut self, addr: u32, size: u8, value: u32) {
        match addr.checked_sub(hpet::BASE).filter(|&o| o < hpet::SIZE) {
            Some(offset) => {
                self.hpet.write(self.now, offset, size, value);
                self.reschedule(self.hpet.next_event(self.now));
            }
            None => log::debug!("MMIO write {value:#x} at {addr:#010x} unclaimed"),
        }
    }

    fn interrupt_pending(&mut self) -> bool {
        self.pic.interrupt_pending()
    }

    fn interrupt_ack(&mut self) -> u8 {
        self.pic.acknowledge()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-mode code at F000:0000: masks every IRQ but 0 (the keyboard's
    /// power-on byte is waiting on IRQ 1), points vector 0 (IRQ 0 on the
    /// power-on PIC) at F000:0100, which exits through port F4h, and
    /// programs PIT counter 0 for 1 kHz (mode 2, divisor 1193). `tail`
    /// follows.
    fn timer_bios(tail: &[u8]) -> Vec<u8> {
        let mut code = vec![
            0xB0, 0xFE, 0xE6, 0x21, // mov al, FEh; out 21h, al
            0xC7, 0x06, 0x00, 0x00, 0x00, 0x01, // mov word [0], 0100h
            0xC7, 0x06, 0x02, 0x00, 0x00, 0xF0, // mov word [2], F000h
            0xB0, 0x34, 0xE6, 0x43, // mov al, 34h; out 43h, al
            0xB0, 0xA9, 0xE6, 0x40, // mov al, A9h; out 40h, al
            0xB0, 0x04, 0xE6, 0x40, // mov al, 04h; out 40h, al
        ];
        code.extend_from_slice(tail);
        let mut rom = vec![0xF4; 0x1_0000];
        rom[..code.len()].copy_from_slice(&code);
        // F000:0100: mov al, 0; out F4h, al; jmp $.
        rom[0x100..0x106].copy_from_slice(&[0xB0, 0x00, 0xE6, 0xF4, 0xEB, 0xFE]);
        // Reset vector: jmp far F000:0000.
        rom[0xFFF0..0xFFF5].copy_from_slice(&[0xEA, 0x00, 0x00, 0x00, 0xF0]);
        rom
    }

    fn run_timer_bios(tail: &[u8]) -> (Stop, Nanos) {
        let mut pc = Pc::new(PcConfig {
            bios: timer_bios(tail),
            ..PcConfig::default()
        });
        let stop = pc.run(Some(100_000_000));
        (stop, pc.now())
    }

    /// COM1 at 115200 8N1, FIFOs on with an 8-byte trigger, the received
    /// data interrupt enabled and OUT2 set; the master PIC initialised with
    /// only IRQ 4 unmasked.
    fn com1_receiving() -> Pc {
        let mut pc = Pc::new(PcConfig {
            serial: [Some(Box::new(std::io::sink())), None, None, None],
            ..PcConfig::default()
        });
        let d = &mut pc.devices;
        for (port, value) in [
            (0x20, 0x11),
            (0x21, 0x08),
            (0x21, 0x04),
            (0x21, 0x01),
            (0x21, 0xEF),
            (0x3FB, 0x80),
            (0x3F8, 0x01),
            (0x3F9, 0x00),
            (0x3FB, 0x03),
            (0x3FA, 0x87),
            (0x3FC, 0x0B),
            (0x3F9, 0x01),
        ] {
            d.write8(port, value);
        }
        pc
    }

    /// Host input arrives through the channel; once the host side closes,
    /// the board knows nothing more can come.
    #[test]
    fn host_input_reaches_com1_until_the_host_closes() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pc = Pc::new(PcConfig {
            serial: [Some(Box::new(std::io::sink())), None, None, None],
            host_input: Some(rx),
            ..PcConfig::default()
        });
        tx.send(HostEvent::Serial(0, b"ls\n".to_vec())).unwrap();
        assert!(pc.take_host_input(false));
        assert_eq!(pc.devices.serial[0].input, b"ls\n");
        drop(tx);
        assert!(!pc.take_host_input(true), "closed: no wait, nothing more");
    }

    /// Quitting from the host ends the run at the next slice.
    #[test]
    fn host_quit_stops_the_run() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pc = Pc::new(PcConfig {
            host_input: Some(rx),
            ..PcConfig::default()
        });
        tx.send(HostEvent::Quit).unwrap();
        assert_eq!(pc.run(Some(1_000_000)), Stop::Quit);
    }

    /// A halt whose only wake-up is an HPET comparator 2^64 ticks away: the
    /// idle time counts against the instruction limit, so the run ends.
    #[test]
    fn halt_with_a_far_hpet_comparator_reaches_the_limit() {
        let mut pc = Pc::new(PcConfig {
            bios: timer_bios(&[0xFB, 0xF4]), // sti; hlt
            ..PcConfig::default()
        });
        // Timer 0 enabled at its reset comparator (all ones); legacy
        // replacement mutes the PIT's IRQ 0.
        pc.devices.mmio_write(hpet::BASE + 0x100, 4, 1 << 2);
        pc.devices.mmio_write(hpet::BASE + 0x10, 4, 0b11);
        assert_eq!(pc.run(Some(10_000_000)), Stop::InstructionLimit);
        assert!(pc
            .devices
            .hpet
            .next_event(pc.now())
            .is_some_and(|t| t < Nanos::MAX / 2));
    }

    /// The host bridge's PAM registers move the BIOS area between ROM and
    /// RAM when the CPU next stops for the board (SeaBIOS shadows itself
    /// this way).
    #[test]
    fn pam_registers_shadow_the_bios_area() {
        let mut pc = Pc::new(PcConfig {
            bios: timer_bios(&[]),
            ..PcConfig::default()
        });
        let rom_byte = pc.cpu.mem.read_u8(0xF_0000);
        // PAM0 = 30h: F0000h-FFFFFh read and write DRAM.
        pc.devices.io_write(0xCF8, 4, 0x8000_0058);
        pc.devices.io_write(0xCFD, 1, 0x30);
        assert!(pc.devices.stop_requested(), "the board must act");
        assert_eq!(pc.attend(), None);
        pc.cpu.mem.write_u8(0xF_0000, !rom_byte);
        assert_eq!(pc.cpu.mem.read_u8(0xF_0000), !rom_byte, "RAM now");
        // Back to the ROM.
        pc.devices.io_write(0xCFD, 1, 0x00);
        pc.attend();
        assert_eq!(pc.cpu.mem.read_u8(0xF_0000), rom_byte);
    }

    /// PMBA at the top of the I/O space: the block's end is past FFFFh.
    #[test]
    fn pm_block_at_the_top_of_io_space() {
        let mut pc = com1_receiving();
        let d = &mut pc.devices;
        let pm = 0x8000_0000 | (piix4_pm::PCI_DEVICE as u32) << 11 | 3 << 8;
        d.io_write(0xCF8, 4, pm | piix4_pm::PMBA as u32);
        d.io_write(0xCFC, 4, 0xFFC1);
        d.io_write(0xCF8, 4, pm | piix4_pm::PMREGMISC as u32);
        d.io_write(0xCFC, 1, 1);
        assert_eq!(d.io_read(0xFFC8, 1), 0, "PM timer low byte at time 0");
        assert_eq!(d.io_read(0xFFBF, 1), 0xFF, "below the block: unclaimed");
    }

    /// The pacer sees virtual time before each slice and cannot change the run.
    #[test]
    fn pacer_sees_virtual_time_advance() {
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        // STI; HLT: idle until the first 1 kHz tick, which exits.
        let mut pc = Pc::new(PcConfig {
            bios: timer_bios(&[0xFB, 0xF4]),
            ..PcConfig::default()
        });
        let log = seen.clone();
        pc.set_pacer(move |t| log.borrow_mut().push(t));
        assert_eq!(pc.run(Some(100_000_000)), Stop::ExitPort(1));
        let seen = seen.borrow();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "never backwards");
        assert_eq!(seen.first(), Some(&0));
        assert!(
            seen.last().is_some_and(|&t| t >= 800_000),
            "the idle time up to the tick was paced: {seen:?}"
        );
    }

    /// COM ports without a host back-end are not fitted: they float (FFh),
    /// as on QEMU, so guests do not probe them.
    #[test]
    fn com_ports_without_a_back_end_are_absent() {
        let mut pc = com1_receiving();
        let d = &mut pc.devices;
        d.write8(0x2FF, 0x5A);
        assert_eq!(d.read8(0x2FF), 0xFF, "COM2 is absent");
        d.write8(0x3FF, 0x5A);
        assert_eq!(d.read8(0x3FF), 0x5A, "COM1 is fitted");
    }

    /// The guest drains the receive FIFO (the line falls) and, by the time
    /// the board looks at the lines again, host bytes waiting for room have
    /// refilled it past the trigger level (the line rises). The fall must
    /// reach the PIC before the rise, or the edge-triggered IRQ 4 is lost
    /// and the port never interrupts again.
    #[test]
    fn uart_refilled_after_a_drain_interrupts_again() {
        let mut pc = com1_receiving();
        pc.serial_input(0, &[b'x'; 24]);
        let d = &mut pc.devices;
        d.sync(1_000);
        d.update_lines();
        assert!(d.interrupt_pending(), "16 bytes past the trigger level");
        assert_eq!(d.interrupt_ack(), 0x0C);
        // The handler: IIR, then all 16 bytes, then IIR says nothing more.
        assert_eq!(d.read8(0x3FA) & 0x0F, 0x04);
        for _ in 0..16 {
            assert_eq!(d.read8(0x3F8), b'x');
        }
        assert_eq!(d.read8(0x3FA) & 0x0F, 0x01);
        // EOI; the CPU asks after every port write.
        d.write8(0x20, 0x20);
        d.stop_requested();
        assert!(
            d.interrupt_pending(),
            "the 8 bytes that came in after the drain must interrupt"
        );
    }

    /// A timer programmed in the middle of a slice, just before HLT, wakes
    /// the CPU at its first edge. (Judged by the events known when the slice
    /// began, none, the halt used to end the run with `Stop::Halted`.)
    #[test]
    fn timer_programmed_before_hlt_wakes_the_cpu() {
        // sti; hlt; jmp hlt
        let (stop, now) = run_timer_bios(&[0xFB, 0xF4, 0xEB, 0xFD]);
        assert_eq!(stop, Stop::ExitPort(1));
        assert!(
            now < 1_100_000,
            "first tick at {now} ns, expected about 1 ms"
        );
    }

    /// A timer programmed in the middle of a long slice interrupts a busy
    /// loop at its first edge, not when the slice would have ended.
    #[test]
    fn timer_programmed_mid_slice_interrupts_on_time() {
        // sti; jmp $
        let (stop, now) = run_timer_bios(&[0xFB, 0xEB, 0xFE]);
        assert_eq!(stop, Stop::ExitPort(1));
        assert!(
            now < 1_100_000,
            "first tick at {now} ns, expected about 1 ms"
        );
    }
}
