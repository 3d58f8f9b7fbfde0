//! The Intel 8259A Programmable Interrupt Controller, and the PC's cascaded
//! pair of them.
//!
//! One 8259A collects eight interrupt request lines, IR0–IR7. A request is
//! latched in the Interrupt Request Register (IRR); the priority resolver
//! picks the highest-priority request that is neither masked by the Interrupt
//! Mask Register (IMR) nor outranked by a level already in service, and raises
//! INT. The CPU answers with an interrupt-acknowledge (INTA) cycle: the chip
//! moves the request from IRR to the In-Service Register (ISR) and puts its
//! vector on the bus. The level stays in service, blocking itself and every
//! lower priority, until the guest ends it with an End Of Interrupt (EOI).
//!
//! The guest programs the chip through two ports (address line A0):
//!
//! | offset | port (master, slave) | read | write |
//! |--------|----------------------|------|-------|
//! | [`COMMAND`] = 0 | 20h, A0h | IRR or ISR (OCW3), or the poll word | ICW1, OCW2, OCW3 |
//! | [`DATA`] = 1 | 21h, A1h | IMR | ICW2–ICW4 during initialisation, then OCW1 (IMR) |
//!
//! [`DualPic8259`] is the AT's pair: the slave's INT drives the master's IR2,
//! and the chipset adds the Edge/Level Control Registers (ELCR) at 4D0h/4D1h.
//!
//! Edge-triggered requests are latched by the edge and stay in IRR after the
//! line falls again, until acknowledged, so a short pulse (the 8254's mode 2
//! output is low for a single clock) is not lost. A level-triggered request is
//! the line itself: when the line falls before the acknowledge, the chip finds
//! nothing to serve and answers with IR7, a spurious interrupt.

use serde::{Deserialize, Serialize};

/// Offset of the command port (A0 = 0): ICW1, OCW2, OCW3; IRR, ISR, poll word.
pub const COMMAND: u16 = 0;
/// Offset of the data port (A0 = 1): ICW2–ICW4, OCW1 (the IMR).
pub const DATA: u16 = 1;

// ICW1 (command port, D4 = 1).
/// D4 set on the command port: the write is ICW1 and starts initialisation.
const ICW1: u8 = 1 << 4;
/// LTIM: level-triggered inputs.
const ICW1_LTIM: u8 = 1 << 3;
/// SNGL: a single 8259A, no ICW3.
const ICW1_SNGL: u8 = 1 << 1;
/// IC4: ICW4 follows.
const ICW1_IC4: u8 = 1 << 0;

// ICW4.
/// SFNM: special fully nested mode.
const ICW4_SFNM: u8 = 1 << 4;
/// AEOI: automatic end of interrupt on the second INTA pulse.
const ICW4_AEOI: u8 = 1 << 1;
/// µPM: 8086/8088 mode (clear: MCS-80/85 mode).
const ICW4_UPM: u8 = 1 << 0;

// OCW3 (command port, D4 = 0, D3 = 1).
/// D3 set on the command port (with D4 clear): the write is OCW3, else OCW2.
const OCW3: u8 = 1 << 3;
/// ESMM: the SMM bit is valid.
const OCW3_ESMM: u8 = 1 << 6;
/// SMM: special mask mode.
const OCW3_SMM: u8 = 1 << 5;
/// P: poll command.
const OCW3_P: u8 = 1 << 2;
/// RR: the RIS bit is valid.
const OCW3_RR: u8 = 1 << 1;
/// RIS: read the ISR (clear: read the IRR).
const OCW3_RIS: u8 = 1 << 0;

/// The poll word's I bit: an interrupt was pending.
const POLL_INTERRUPT: u8 = 1 << 7;

/// The level answered when an INTA finds no request: IR7.
const SPURIOUS_LEVEL: u8 = 7;

/// Where the chip is in its initialisation sequence: which ICW the next
/// write to the data port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Expect {
    Icw2,
    Icw3,
    Icw4,
    /// Initialised: the data port holds the IMR (OCW1).
    Ocw1,
}

/// One Intel 8259A.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pic8259 {
    /// Edge-triggered requests latched by a rising edge (the IRR bits of
    /// level-triggered lines come from [`Self::lines`] directly).
    irr_edges: u8,
    /// In-Service Register.
    isr: u8,
    /// Interrupt Mask Register (OCW1).
    imr: u8,
    /// The present levels of IR0–IR7.
    lines: u8,
    /// ICW1 LTIM: every input level-triggered.
    level_triggered: bool,
    /// Inputs the chipset's ELCR makes level-triggered (none on a bare 8259A).
    elcr: u8,
    /// ICW2 T7–T3: the vector of IR0; IRn's vector is `vector_base | n`.
    vector_base: u8,
    /// ICW1 SNGL: no slaves, so no ICW3.
    single: bool,
    /// ICW1 IC4: ICW4 follows.
    icw4_needed: bool,
    /// ICW4 AEOI: the second INTA pulse ends the interrupt itself.
    auto_eoi: bool,
    /// OCW2 rotate-in-auto-EOI: each auto-EOI makes its level the lowest priority.
    rotate_on_auto_eoi: bool,
    /// The level with the lowest priority; the one after it has the highest.
    lowest_priority: u8,
    /// OCW3 RIS: the command port reads the ISR instead of the IRR.
    read_isr: bool,
    /// OCW3 P: the next read is the poll word.
    poll: bool,
    /// OCW3 SMM: levels in service no longer block lower priorities, unless masked.
    special_mask: bool,
    expect: Expect,
}

impl Default for Pic8259 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic8259 {
    /// A chip at power-on: nothing requested, in service or masked, IR0 the
    /// highest priority. The BIOS initialises it before use.
    pub fn new() -> Self {
        Pic8259 {
            irr_edges: 0,
            isr: 0,
            imr: 0,
            lines: 0,
            level_triggered: false,
            elcr: 0,
            vector_base: 0,
            single: false,
            icw4_needed: false,
            auto_eoi: false,
            rotate_on_auto_eoi: false,
            lowest_priority: 7,
            read_isr: false,
            poll: false,
            special_mask: false,
            expect: Expect::Ocw1,
        }
    }

    /// Drives input line IR`line` (0–7) to `level`.
    pub fn set_irq(&mut self, line: u8, level: bool) {
        let Some(mask) = line_mask(line) else {
            log::debug!("8259: no input IR{line}");
            return;
        };
        let rising = level && self.lines & mask == 0;
        if rising && self.level_mask() & mask == 0 {
            self.irr_edges |= mask;
        }
        if level {
            self.lines |= mask;
        } else {
            self.lines &= !mask;
        }
    }

    /// The INT output: a request awaits an acknowledge.
    pub fn interrupt_pending(&self) -> bool {
        self.pending().is_some()
    }

    /// The INTA cycle: puts the highest-priority request in service (unless
    /// in auto-EOI mode) and returns its vector. With no request left, the
    /// answer is IR7's vector and nothing goes in service.
    pub fn acknowledge(&mut self) -> u8 {
        self.vector_base | self.acknowledge_level()
    }

    pub fn read(&mut self, offset: u16) -> u8 {
        if self.poll {
            // OCW3 poll command: this read is the acknowledge.
            self.poll = false;
            return match self.pending() {
                Some(_) => POLL_INTERRUPT | self.acknowledge_level(),
                None => 0,
            };
        }
        match offset {
            COMMAND if self.read_isr => self.isr,
            COMMAND => self.irr(),
            DATA => self.imr,
            _ => {
                log::debug!("8259: read from offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, offset: u16, value: u8) {
        match offset {
            COMMAND if value & ICW1 != 0 => self.write_icw1(value),
            COMMAND if value & OCW3 != 0 => self.write_ocw3(value),
            COMMAND => self.write_ocw2(value),
            DATA => match self.expect {
                Expect::Icw2 => {
                    self.vector_base = value & 0xF8;
                    self.expect = match (self.single, self.icw4_needed) {
                        (false, _) => Expect::Icw3,
                        (true, true) => Expect::Icw4,
                        (true, false) => Expect::Ocw1,
                    };
                }
                Expect::Icw3 => {
                    // The slave wiring is the board's (IR2 on the PC); the
                    // cascade address needs no keeping.
                    self.expect = if self.icw4_needed {
                        Expect::Icw4
                    } else {
                        Expect::Ocw1
                    };
                }
                Expect::Icw4 => self.write_icw4(value),
                Expect::Ocw1 => self.imr = value,
            },
            _ => log::debug!("8259: write {value:#04x} to offset {offset}"),
        }
    }

    /// ICW1 restarts initialisation. 8259A datasheet: the edge sense circuit
    /// is reset (a request needs a fresh low-to-high transition), the IMR is
    /// cleared, IR7 gets the lowest priority, special mask mode is cleared and
    /// status read is set to the IRR; without IC4, ICW4's functions are zero.
    fn write_icw1(&mut self, value: u8) {
        self.level_triggered = value & ICW1_LTIM != 0;
        self.single = value & ICW1_SNGL != 0;
        self.icw4_needed = value & ICW1_IC4 != 0;
        self.irr_edges = 0;
        self.isr = 0;
        self.imr = 0;
        self.auto_eoi = false;
        self.rotate_on_auto_eoi = false;
        self.lowest_priority = 7;
        self.read_isr = false;
        self.poll = false;
        self.special_mask = false;
        self.expect = Expect::Icw2;
    }

    fn write_icw4(&mut self, value: u8) {
        if value & ICW4_UPM == 0 {
            log::debug!("8259: MCS-80/85 mode requested; answering with 8086 vectors");
        }
        if value & ICW4_SFNM != 0 {
            log::debug!("8259: special fully nested mode not modelled");
        }
        self.auto_eoi = value & ICW4_AEOI != 0;
        self.expect = Expect::Ocw1;
    }

    /// OCW2: R, SL and EOI (bits 7–5) select the command, L2–L0 the level.
    fn write_ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            // Non-specific EOI: ends the highest-priority level in service.
            0b001 => {
                self.end_highest_in_service();
            }
            // Specific EOI.
            0b011 => self.isr &= !(1 << level),
            // Rotate on non-specific EOI: the ended level becomes the lowest.
            0b101 => {
                if let Some(ended) = self.end_highest_in_service() {
                    self.lowest_priority = ended;
                }
            }
            0b100 => self.rotate_on_auto_eoi = true,
            0b000 => self.rotate_on_auto_eoi = false,
            // Rotate on specific EOI.
            0b111 => {
                self.isr &= !(1 << level);
                self.lowest_priority = level;
            }
            // Set priority: `level` becomes the lowest.
            0b110 => self.lowest_priority = level,
            // 0b010: no operation.
            _ => {}
        }
    }

    fn write_ocw3(&mut self, value: u8) {
        if value & OCW3_ESMM != 0 {
            self.special_mask = value & OCW3_SMM != 0;
        }
        if value & OCW3_P != 0 {
            self.poll = true;
        }
        if value & OCW3_RR != 0 {
            self.read_isr = value & OCW3_RIS != 0;
        }
    }

    /// Clears the highest-priority ISR bit, returning its level.
    fn end_highest_in_service(&mut self) -> Option<u8> {
        let level = self.highest_priority(self.isr)?;
        self.isr &= !(1 << level);
        Some(level)
    }

    /// The first INTA pulse (or a poll): resolves priority and returns the
    /// level served; IR7 if no request is left.
    fn acknowledge_level(&mut self) -> u8 {
        let Some(level) = self.pending() else {
            log::debug!("8259: spurious interrupt, answering IR7");
            return SPURIOUS_LEVEL;
        };
        let mask = 1 << level;
        // The edge latch is spent; a level request stays while its line is high.
        self.irr_edges &= !mask;
        if !self.auto_eoi {
            self.isr |= mask;
        } else if self.rotate_on_auto_eoi {
            self.lowest_priority = level;
        }
        level
    }

    /// Inputs that are level-triggered.
    fn level_mask(&self) -> u8 {
        if self.level_triggered {
            0xFF
        } else {
            self.elcr
        }
    }

    /// The Interrupt Request Register.
    fn irr(&self) -> u8 {
        let level = self.level_mask();
        (self.irr_edges & !level) | (self.lines & level)
    }

    /// The level the priority resolver would signal on INT, if any: the
    /// highest-priority unmasked request that outranks every level in service
    /// (in special mask mode, every unmasked level in service).
    fn pending(&self) -> Option<u8> {
        let request = self.highest_priority(self.irr() & !self.imr)?;
        let blocking = if self.special_mask {
            self.isr & !self.imr
        } else {
            self.isr
        };
        match self.highest_priority(blocking) {
            Some(in_service) if self.rank(in_service) <= self.rank(request) => None,
            _ => Some(request),
        }
    }

    /// The highest-priority level among the bits of `levels`.
    fn highest_priority(&self, levels: u8) -> Option<u8> {
        (1..=8)
            .map(|i| (self.lowest_priority + i) & 7)
            .find(|level| levels & (1 << level) != 0)
    }

    /// A level's place in the priority order, 0 being the highest.
    fn rank(&self, level: u8) -> u8 {
        level.wrapping_sub(self.lowest_priority + 1) & 7
    }
}

/// The bit of input line `line`, if the chip has it.
fn line_mask(line: u8) -> Option<u8> {
    (line < 8).then(|| 1 << line)
}

/// Offset of the master's command port (20h).
pub const MASTER_COMMAND: u16 = 0;
/// Offset of the master's data port (21h).
pub const MASTER_DATA: u16 = 1;
/// Offset of the slave's command port (A0h).
pub const SLAVE_COMMAND: u16 = 2;
/// Offset of the slave's data port (A1h).
pub const SLAVE_DATA: u16 = 3;
/// Offset of ELCR1 (4D0h): the master's edge/level bits, IRQ 0–7.
pub const ELCR_MASTER: u16 = 4;
/// Offset of ELCR2 (4D1h): the slave's edge/level bits, IRQ 8–15.
pub const ELCR_SLAVE: u16 = 5;

/// The master input the slave's INT drives.
const CASCADE_LINE: u8 = 2;
/// ELCR bits that can be set: IRQ 0, 1 and 2 are edge-triggered for good.
const ELCR_MASTER_WRITABLE: u8 = 0xF8;
/// ELCR bits that can be set: IRQ 8 and 13 are edge-triggered for good.
const ELCR_SLAVE_WRITABLE: u8 = 0xDE;

/// The AT's two 8259As: IRQ 0–7 on the master, IRQ 8–15 on the slave, whose
/// INT output is the master's IR2.
///
/// All six registers go through [`Self::read`] and [`Self::write`]:
///
/// | offset | port |
/// |--------|------|
/// | [`MASTER_COMMAND`] = 0, [`MASTER_DATA`] = 1 | 20h, 21h |
/// | [`SLAVE_COMMAND`] = 2, [`SLAVE_DATA`] = 3 | A0h, A1h |
/// | [`ELCR_MASTER`] = 4, [`ELCR_SLAVE`] = 5 | 4D0h, 4D1h |
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DualPic8259 {
    master: Pic8259,
    slave: Pic8259,
    /// The master's INT output, brought up to date by every method that
    /// changes the pair (the CPU samples it between every two blocks).
    int: bool,
}

impl DualPic8259 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drives IRQ `irq` (0–15) to `level`. IRQ 2 is the cascade, not a
    /// board line.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        match irq {
            CASCADE_LINE => log::debug!("8259: IRQ 2 is the cascade input"),
            0..=7 => self.master.set_irq(irq, level),
            8..=15 => {
                self.slave.set_irq(irq - 8, level);
                self.update_cascade();
            }
            _ => log::debug!("8259: no IRQ {irq}"),
        }
        self.update_int();
    }

    /// The master's INT output, the CPU's INTR line.
    pub fn interrupt_pending(&self) -> bool {
        self.int
    }

    /// The INTA cycle: the master resolves priority; if it chose the cascade
    /// input, the slave supplies the vector (IRQ 15's vector, and nothing in
    /// the slave's ISR, if the slave's request has gone).
    pub fn acknowledge(&mut self) -> u8 {
        let mut vector = self.master.acknowledge();
        if vector & 7 == CASCADE_LINE {
            vector = self.slave.acknowledge();
            self.update_cascade();
        }
        self.update_int();
        vector
    }

    pub fn read(&mut self, offset: u16) -> u8 {
        // A poll-mode read acknowledges, so the INT output may change.
        let value = self.read_register(offset);
        self.update_int();
        value
    }

    fn read_register(&mut self, offset: u16) -> u8 {
        match offset {
            MASTER_COMMAND | MASTER_DATA => self.master.read(offset),
            SLAVE_COMMAND | SLAVE_DATA => {
                let value = self.slave.read(offset - SLAVE_COMMAND);
                self.update_cascade();
                value
            }
            ELCR_MASTER => self.master.elcr,
            ELCR_SLAVE => self.slave.elcr,
            _ => {
                log::debug!("8259: read from offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, offset: u16, value: u8) {
        match offset {
            MASTER_COMMAND | MASTER_DATA => self.master.write(offset, value),
            SLAVE_COMMAND | SLAVE_DATA => self.slave.write(offset - SLAVE_COMMAND, value),
            ELCR_MASTER => self.master.elcr = value & ELCR_MASTER_WRITABLE,
            ELCR_SLAVE => self.slave.elcr = value & ELCR_SLAVE_WRITABLE,
            _ => log::debug!("8259: write {value:#04x} to offset {offset}"),
        }
        self.update_cascade();
        self.update_int();
    }

    fn update_int(&mut self) {
        self.int = self.master.interrupt_pending();
    }

    /// Carries the slave's INT output to the master's IR2.
    fn update_cascade(&mut self) {
        let int = self.slave.interrupt_pending();
        self.master.set_irq(CASCADE_LINE, int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PC BIOS's initialisation of the master: edge-triggered, cascaded,
    /// ICW4 needed; vectors 08h–0Fh; a slave on IR2; 8086 mode.
    fn initialised(icw1: u8, icw4: u8) -> Pic8259 {
        let mut pic = Pic8259::new();
        pic.write(COMMAND, icw1);
        pic.write(DATA, 0x08);
        pic.write(DATA, 0x04);
        pic.write(DATA, icw4);
        pic
    }

    fn pc_master() -> Pic8259 {
        initialised(0x11, 0x01)
    }

    /// Both chips initialised as by the PC BIOS: vectors 08h and 70h.
    fn pc_pair() -> DualPic8259 {
        let mut pics = DualPic8259::new();
        for (offset, value) in [
            (MASTER_COMMAND, 0x11),
            (MASTER_DATA, 0x08),
            (MASTER_DATA, 0x04),
            (MASTER_DATA, 0x01),
            (SLAVE_COMMAND, 0x11),
            (SLAVE_DATA, 0x70),
            (SLAVE_DATA, 0x02),
            (SLAVE_DATA, 0x01),
        ] {
            pics.write(offset, value);
        }
        pics
    }

    fn pulse(pic: &mut Pic8259, line: u8) {
        pic.set_irq(line, true);
        pic.set_irq(line, false);
    }

    fn read_isr(pic: &mut Pic8259) -> u8 {
        pic.write(COMMAND, 0x0B);
        pic.read(COMMAND)
    }

    fn read_irr(pic: &mut Pic8259) -> u8 {
        pic.write(COMMAND, 0x0A);
        pic.read(COMMAND)
    }

    const NON_SPECIFIC_EOI: u8 = 0x20;

    #[test]
    fn initialisation_sets_the_vector_base_and_clears_the_mask() {
        // 8259A datasheet, ICW1: the IMR is cleared; ICW2: T7–T3 are the
        // vector's upper bits, the level fills the low three.
        let mut pic = Pic8259::new();
        pic.write(DATA, 0xFF);
        pic.write(COMMAND, 0x11);
        pic.write(DATA, 0x0F);
        pic.write(DATA, 0x04);
        pic.write(DATA, 0x01);
        assert_eq!(pic.read(DATA), 0x00);
        pic.set_irq(3, true);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x0B);
        // Initialisation is over: the data port is OCW1.
        pic.write(DATA, 0xA5);
        assert_eq!(pic.read(DATA), 0xA5);
    }

    #[test]
    fn single_mode_without_icw4_takes_only_icw2() {
        // 8259A datasheet, ICW1: SNGL = 1 means no ICW3, IC4 = 0 no ICW4.
        let mut pic = Pic8259::new();
        pic.write(COMMAND, 0x12);
        pic.write(DATA, 0x20);
        pic.write(DATA, 0xF0);
        assert_eq!(pic.read(DATA), 0xF0);
        pic.set_irq(1, true);
        assert_eq!(pic.acknowledge(), 0x21);
    }

    #[test]
    fn icw1_resets_requests_service_and_priority() {
        let mut pic = pc_master();
        pic.set_irq(4, true);
        pic.acknowledge();
        pic.write(COMMAND, 0xC2); // set priority: IR2 lowest
        pic.set_irq(6, true);
        let mut pic2 = pic.clone();
        pic2.write(COMMAND, 0x11);
        pic2.write(DATA, 0x08);
        pic2.write(DATA, 0x04);
        pic2.write(DATA, 0x01);
        assert_eq!(read_isr(&mut pic2), 0);
        assert_eq!(
            read_irr(&mut pic2),
            0,
            "edge sense reset: IR6 needs a new edge"
        );
        pic2.set_irq(6, false);
        pic2.set_irq(6, true);
        pic2.set_irq(0, true);
        assert_eq!(
            pic2.acknowledge(),
            0x08,
            "IR0 is the highest priority again"
        );
    }

    #[test]
    fn lower_level_number_has_higher_priority() {
        // 8259A datasheet, fully nested mode: IR0 highest, IR7 lowest.
        let mut pic = pc_master();
        for line in [5, 3, 6] {
            pic.set_irq(line, true);
        }
        assert_eq!(pic.acknowledge(), 0x0B);
        assert!(
            !pic.interrupt_pending(),
            "IR3 in service blocks IR5 and IR6"
        );
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pic.acknowledge(), 0x0D);
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pic.acknowledge(), 0x0E);
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        assert!(!pic.interrupt_pending());
    }

    #[test]
    fn higher_priority_nests_inside_a_level_in_service() {
        let mut pic = pc_master();
        pic.set_irq(4, true);
        assert_eq!(pic.acknowledge(), 0x0C);
        pic.set_irq(6, true);
        assert!(!pic.interrupt_pending());
        pic.set_irq(1, true);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x09);
        assert_eq!(read_isr(&mut pic), 0x12);
    }

    #[test]
    fn non_specific_eoi_ends_the_highest_level_in_service() {
        // 8259A datasheet, OCW2 001: the highest-priority ISR bit is reset.
        let mut pic = pc_master();
        pic.set_irq(4, true);
        pic.acknowledge();
        pic.set_irq(1, true);
        pic.acknowledge();
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(read_isr(&mut pic), 0x10);
    }

    #[test]
    fn specific_eoi_ends_the_named_level() {
        // 8259A datasheet, OCW2 011: L2–L0 name the ISR bit to reset.
        let mut pic = pc_master();
        pic.set_irq(4, true);
        pic.acknowledge();
        pic.set_irq(1, true);
        pic.acknowledge();
        pic.write(COMMAND, 0x64);
        assert_eq!(read_isr(&mut pic), 0x02);
    }

    #[test]
    fn masked_request_waits_in_irr() {
        // 8259A datasheet, OCW1: a set mask bit inhibits the level; the
        // request stays in the IRR.
        let mut pic = pc_master();
        pic.write(DATA, 0x08);
        pic.set_irq(3, true);
        assert!(!pic.interrupt_pending());
        assert_eq!(read_irr(&mut pic), 0x08);
        pic.write(DATA, 0x00);
        assert_eq!(pic.acknowledge(), 0x0B);
    }

    #[test]
    fn status_read_selects_irr_or_isr() {
        // 8259A datasheet, OCW3 RR/RIS: 0Ah selects the IRR, 0Bh the ISR;
        // the choice sticks for later reads.
        let mut pic = pc_master();
        pic.set_irq(2, true);
        pic.set_irq(5, true);
        pic.acknowledge();
        pic.write(COMMAND, 0x0A);
        assert_eq!(pic.read(COMMAND), 0x20);
        pic.write(COMMAND, 0x0B);
        assert_eq!(pic.read(COMMAND), 0x04);
        assert_eq!(pic.read(COMMAND), 0x04);
    }

    #[test]
    fn edge_triggered_line_must_fall_before_another_edge_counts() {
        let mut pic = pc_master();
        pic.set_irq(3, true);
        pic.acknowledge();
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        pic.set_irq(3, true);
        assert!(!pic.interrupt_pending(), "a line held high is one request");
        pic.set_irq(3, false);
        pic.set_irq(3, true);
        assert_eq!(pic.acknowledge(), 0x0B);
    }

    #[test]
    fn edge_is_latched_after_the_line_falls() {
        let mut pic = pc_master();
        pulse(&mut pic, 0);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x08);
        assert_eq!(read_irr(&mut pic), 0);
    }

    #[test]
    fn ltim_makes_every_input_level_triggered() {
        // 8259A datasheet, ICW1 LTIM: the request is the level; a level held
        // high requests again after the EOI, and falling withdraws it.
        let mut pic = initialised(0x19, 0x01);
        pic.set_irq(5, true);
        assert_eq!(pic.acknowledge(), 0x0D);
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pic.acknowledge(), 0x0D);
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        pic.set_irq(5, false);
        assert_eq!(read_irr(&mut pic), 0);
        assert!(!pic.interrupt_pending());
    }

    #[test]
    fn poll_command_reads_the_level_and_acknowledges() {
        // 8259A datasheet, OCW3 poll: the next read returns I (bit 7) and
        // W2–W0, the highest-priority level, and sets its ISR bit.
        let mut pic = pc_master();
        pic.write(DATA, 0xFF);
        pic.write(COMMAND, 0x0C);
        assert_eq!(pic.read(COMMAND), 0x00, "nothing requested");
        pic.write(DATA, 0x00);
        pic.set_irq(6, true);
        pic.set_irq(3, true);
        pic.write(COMMAND, 0x0C);
        assert_eq!(pic.read(DATA), 0x83);
        assert_eq!(read_isr(&mut pic), 0x08);
        assert_eq!(
            pic.read(DATA),
            0x00,
            "one read per poll command: the IMR again"
        );
    }

    #[test]
    fn special_mask_mode_lets_lower_levels_through() {
        // 8259A datasheet, OCW3 SMM: a mask bit inhibits its level and
        // enables all other unmasked levels, lower as well as higher.
        let mut pic = pc_master();
        pic.set_irq(3, true);
        pic.acknowledge();
        pic.set_irq(5, true);
        assert!(!pic.interrupt_pending());
        pic.write(DATA, 0x08);
        pic.write(COMMAND, 0x68);
        assert_eq!(pic.acknowledge(), 0x0D);
        assert_eq!(read_isr(&mut pic), 0x28);
        pic.write(COMMAND, 0x65); // specific EOI for IR5
        pic.write(COMMAND, 0x48); // reset special mask
        pic.set_irq(6, false);
        pic.set_irq(6, true);
        assert!(!pic.interrupt_pending(), "IR3 in service blocks again");
    }

    #[test]
    fn rotate_on_non_specific_eoi_makes_the_ended_level_lowest() {
        // 8259A datasheet, OCW2 101: automatic rotation for equal-priority devices.
        let mut pic = pc_master();
        pic.set_irq(0, true);
        pic.acknowledge();
        pic.write(COMMAND, 0xA0);
        assert_eq!(read_isr(&mut pic), 0);
        pic.set_irq(0, false);
        pic.set_irq(0, true);
        pic.set_irq(7, true);
        assert_eq!(pic.acknowledge(), 0x0F, "IR7 now outranks IR0");
    }

    #[test]
    fn rotate_on_specific_eoi_and_set_priority() {
        // 8259A datasheet, OCW2 111 and 110: L2–L0 become the lowest priority.
        let mut pic = pc_master();
        pic.set_irq(2, true);
        pic.acknowledge();
        pic.write(COMMAND, 0xE2);
        assert_eq!(read_isr(&mut pic), 0);
        pic.set_irq(1, true);
        pic.set_irq(3, true);
        assert_eq!(pic.acknowledge(), 0x0B, "order is 3, 4, … 1, 2");
        pic.write(COMMAND, NON_SPECIFIC_EOI);
        pic.write(COMMAND, 0xC4);
        pic.set_irq(6, true);
        assert_eq!(pic.acknowledge(), 0x0E, "order is 5, 6, … 4");
    }

    #[test]
    fn auto_eoi_leaves_nothing_in_service() {
        // 8259A datasheet, ICW4 AEOI: the ISR bit is reset at the end of the
        // second INTA pulse.
        let mut pic = initialised(0x11, 0x03);
        pic.set_irq(2, true);
        assert_eq!(pic.acknowledge(), 0x0A);
        assert_eq!(read_isr(&mut pic), 0);
        pic.set_irq(5, true);
        assert_eq!(pic.acknowledge(), 0x0D, "no level in service blocks IR5");
    }

    #[test]
    fn rotate_in_auto_eoi_mode() {
        // 8259A datasheet, OCW2 100 sets and 000 clears rotation in AEOI mode.
        let mut pic = initialised(0x11, 0x03);
        pic.write(COMMAND, 0x80);
        pic.set_irq(2, true);
        pic.acknowledge();
        pic.set_irq(2, false);
        pic.set_irq(2, true);
        pic.set_irq(5, true);
        assert_eq!(pic.acknowledge(), 0x0D, "IR2 rotated to lowest");
        pic.write(COMMAND, 0x00);
        pic.set_irq(4, true);
        assert_eq!(
            pic.acknowledge(),
            0x0A,
            "IR5 was made lowest: IR2 comes before IR4"
        );
    }

    #[test]
    fn spurious_ir7_when_the_request_goes_before_inta() {
        // 8259A datasheet: if the IR input goes low before the acknowledge,
        // a default IR7 occurs, with no ISR bit set.
        let mut pic = initialised(0x19, 0x01);
        pic.set_irq(4, true);
        assert!(pic.interrupt_pending());
        pic.set_irq(4, false);
        assert_eq!(pic.acknowledge(), 0x0F);
        assert_eq!(read_isr(&mut pic), 0);
    }

    #[test]
    fn cascade_delivers_the_slave_vector() {
        // 8259A datasheet, cascade mode: the master's IR2 selects the slave,
        // which puts its vector on the bus; both levels go in service.
        let mut pics = pc_pair();
        pics.set_irq(12, true);
        assert!(pics.interrupt_pending());
        assert_eq!(pics.acknowledge(), 0x74);
        pics.write(MASTER_COMMAND, 0x0B);
        pics.write(SLAVE_COMMAND, 0x0B);
        assert_eq!(pics.read(MASTER_COMMAND), 0x04);
        assert_eq!(pics.read(SLAVE_COMMAND), 0x10);
        assert!(!pics.interrupt_pending());
        pics.write(SLAVE_COMMAND, NON_SPECIFIC_EOI);
        pics.write(MASTER_COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pics.read(MASTER_COMMAND), 0);
        assert_eq!(pics.read(SLAVE_COMMAND), 0);
    }

    #[test]
    fn slave_requests_rank_at_master_ir2() {
        let mut pics = pc_pair();
        pics.set_irq(3, true);
        pics.set_irq(9, true);
        pics.set_irq(1, true);
        assert_eq!(pics.acknowledge(), 0x09);
        pics.write(MASTER_COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pics.acknowledge(), 0x71, "IRQ 9 before IRQ 3");
        pics.write(SLAVE_COMMAND, NON_SPECIFIC_EOI);
        pics.write(MASTER_COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(pics.acknowledge(), 0x0B);
    }

    #[test]
    fn slave_mask_holds_back_its_lines() {
        let mut pics = pc_pair();
        pics.write(SLAVE_DATA, 0x01);
        pics.set_irq(8, true);
        assert!(!pics.interrupt_pending());
        pics.write(SLAVE_DATA, 0x00);
        assert_eq!(pics.acknowledge(), 0x70);
    }

    #[test]
    fn spurious_irq15_puts_only_the_cascade_in_service() {
        // The master latched the slave's INT edge on IR2; the slave's level
        // request went away, so the slave answers IR7 (IRQ 15).
        let mut pics = pc_pair();
        pics.write(ELCR_SLAVE, 0x04);
        pics.set_irq(10, true);
        assert!(pics.interrupt_pending());
        pics.set_irq(10, false);
        assert_eq!(pics.acknowledge(), 0x77);
        pics.write(MASTER_COMMAND, 0x0B);
        pics.write(SLAVE_COMMAND, 0x0B);
        assert_eq!(pics.read(MASTER_COMMAND), 0x04);
        assert_eq!(pics.read(SLAVE_COMMAND), 0x00);
    }

    #[test]
    fn spurious_irq7_on_the_master() {
        let mut pics = pc_pair();
        pics.write(ELCR_MASTER, 0x20);
        pics.set_irq(5, true);
        pics.set_irq(5, false);
        assert_eq!(pics.acknowledge(), 0x0F);
        pics.write(MASTER_COMMAND, 0x0B);
        assert_eq!(pics.read(MASTER_COMMAND), 0x00);
    }

    #[test]
    fn elcr_level_lines_and_forced_edge_bits() {
        // PIIX ELCR: IRQ 0, 1, 2, 8 and 13 are always edge-triggered.
        let mut pics = pc_pair();
        pics.write(ELCR_MASTER, 0xFF);
        pics.write(ELCR_SLAVE, 0xFF);
        assert_eq!(pics.read(ELCR_MASTER), 0xF8);
        assert_eq!(pics.read(ELCR_SLAVE), 0xDE);
        pics.set_irq(11, true);
        assert_eq!(pics.acknowledge(), 0x73);
        pics.write(SLAVE_COMMAND, NON_SPECIFIC_EOI);
        pics.write(MASTER_COMMAND, NON_SPECIFIC_EOI);
        assert_eq!(
            pics.acknowledge(),
            0x73,
            "level still high: requested again"
        );
        // The handler quiets the device before its EOIs.
        pics.set_irq(11, false);
        pics.write(SLAVE_COMMAND, NON_SPECIFIC_EOI);
        pics.write(MASTER_COMMAND, NON_SPECIFIC_EOI);
        assert!(!pics.interrupt_pending());
    }

    #[test]
    fn poll_on_the_pair_walks_the_cascade() {
        let mut pics = pc_pair();
        pics.set_irq(14, true);
        pics.write(MASTER_COMMAND, 0x0C);
        assert_eq!(pics.read(MASTER_COMMAND), 0x82);
        pics.write(SLAVE_COMMAND, 0x0C);
        assert_eq!(pics.read(SLAVE_COMMAND), 0x86);
        assert!(!pics.interrupt_pending());
    }

    #[test]
    fn guest_nonsense_does_not_panic() {
        let mut pics = pc_pair();
        pics.set_irq(2, true);
        pics.set_irq(16, true);
        pics.set_irq(255, false);
        pics.write(9, 0xFF);
        assert_eq!(pics.read(9), 0xFF);
        let mut pic = pc_master();
        pic.set_irq(8, true);
        for value in 0..=255 {
            pic.write(COMMAND, value & !ICW1);
            pic.write(DATA, value);
            pic.read(COMMAND);
            pic.acknowledge();
        }
    }
}
