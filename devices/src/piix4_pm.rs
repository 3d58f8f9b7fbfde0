//! The **82371AB PIIX4 power-management function** (PCI 00:01.3,
//! 8086:7113): the ACPI fixed hardware of a P6-era PC — the PM1 event and
//! control registers, the 24-bit power-management timer, and the system
//! control interrupt (SCI, ISA IRQ 9). QEMU's `pc` machine puts the same
//! function beside its PIIX3, and so does this board: it gives guests the
//! free-running ACPI PM timer (Linux's `acpi_pm` clocksource, a watchdog that
//! does not miss ticks the way the jiffies-driven PIT clocksource does) and
//! soft power-off through `SLP_TYP`/`SLP_EN`.
//!
//! Register block (82371AB datasheet, 7.2 "Power Management I/O Space";
//! ACPI 1.0b, 4.7.3): at the 64-byte I/O base in PMBA (config 40h), decoded
//! while PMREGMISC (config 80h) bit 0 is set.
//!
//! | offset | register  | notes                                            |
//! |--------|-----------|--------------------------------------------------|
//! | 00h    | PM1_STS   | write 1 to clear: TMR, BM, GBL, PWRBTN, RTC, WAK |
//! | 02h    | PM1_EN    | TMR_EN, GBL_EN, PWRBTN_EN, RTC_EN                |
//! | 04h    | PM1_CNT   | SCI_EN, BM_RLD, GBL_RLS, SLP_TYP, SLP_EN (w/o)   |
//! | 08h    | PM_TMR    | 24-bit count at 3.579545 MHz, read-only          |

use crate::pci::{reg, PciFunction};
use emu_core::clock::Nanos;
use serde::{Deserialize, Serialize};

/// The PCI device number the PIIX4 functions share with the PIIX3 ISA bridge.
pub const PCI_DEVICE: u8 = 1;
/// The power-management function number.
pub const PCI_FUNCTION: u8 = 3;
/// PMBA: the power-management I/O base address (bits 15–6; bit 0 reads 1).
pub const PMBA: usize = 0x40;
/// DEVACTB: device activity B (SMI and wake enables).
pub const DEVACTB: usize = 0x58;
/// PMREGMISC: bit 0 enables the power-management I/O block.
pub const PMREGMISC: usize = 0x80;
/// The size of the power-management I/O block.
pub const IO_SIZE: u16 = 0x40;
/// The ISA IRQ the SCI is wired to on PIIX4 boards.
pub const SCI_IRQ: u8 = 9;

/// The PM timer's input: the 14.31818 MHz system oscillator divided by 4.
pub const TIMER_HZ: u64 = 3_579_545;
/// The timer counts in 24 bits (FADT flag TMR_VAL_EXT clear).
const TIMER_MASK: u32 = 0x00FF_FFFF;
/// TMR_STS is set whenever bit 23 of the count changes.
const TIMER_STATUS_BIT: u32 = 23;

/// PM1_STS / PM1_EN bits (ACPI 1.0b, 4.7.3.1).
pub mod pm1 {
    pub const TMR: u16 = 1 << 0;
    pub const BM: u16 = 1 << 4;
    pub const GBL: u16 = 1 << 5;
    pub const PWRBTN: u16 = 1 << 8;
    pub const RTC: u16 = 1 << 10;
    pub const WAK: u16 = 1 << 15;
    /// The status bits that can raise the SCI through their enable bits.
    pub const EVENTS: u16 = TMR | GBL | PWRBTN | RTC;
}

/// PM1_CNT bits (ACPI 1.0b, 4.7.3.2.1).
pub mod cnt {
    pub const SCI_EN: u16 = 1 << 0;
    pub const SLP_TYP_SHIFT: u16 = 10;
    pub const SLP_TYP: u16 = 7 << SLP_TYP_SHIFT;
    pub const SLP_EN: u16 = 1 << 13;
    /// What software can write and read back (SLP_EN always reads 0).
    pub const WRITABLE: u16 = SCI_EN | (1 << 1) | (1 << 2) | SLP_TYP;
}

/// The SLP_TYP value of the PIIX4's soft-off state (S5; the `\_S5` package
/// of the board's DSDT holds it).
pub const SLP_TYP_SOFT_OFF: u8 = 0;

const PM1_STS: u16 = 0x00;
const PM1_EN: u16 = 0x02;
const PM1_CNT: u16 = 0x04;
const PM_TMR: u16 = 0x08;

/// The ACPI registers of the PIIX4 power-management function.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Piix4Pm {
    status: u16,
    enable: u16,
    control: u16,
    /// Bit 23 of the timer when TMR_STS was last brought up to date.
    timer_phase: u32,
    /// A sleep state entered through SLP_EN, for the board to act on.
    sleep_request: Option<u8>,
}

/// The PM timer's count (all 32 bits of it; the register shows 24) at `now`.
fn timer_ticks(now: Nanos) -> u64 {
    (now as u128 * TIMER_HZ as u128 / 1_000_000_000) as u64
}

/// When the count first reaches `ticks`.
fn time_of_tick(ticks: u64) -> Nanos {
    (ticks as u128 * 1_000_000_000).div_ceil(TIMER_HZ as u128) as Nanos
}

impl Piix4Pm {
    pub fn new() -> Self {
        Self::default()
    }

    /// The function's configuration space as the chip resets it: PMBA reads
    /// 0001h (an I/O BAR at 0), the I/O block disabled.
    pub fn pci_function() -> PciFunction {
        let mut f = PciFunction::new(
            PCI_DEVICE,
            PCI_FUNCTION,
            0x8086,
            0x7113,
            [0x06, 0x80, 0x00],
            0x00,
        );
        f.set16(reg::STATUS, 0x0280);
        // Revision 3 (PIIX4E): earlier steppings have a PM timer that Linux
        // reads three times over (its "PIIX4 errata" workaround).
        f.set8(reg::REVISION, 0x03);
        f.set8(PMBA, 0x01);
        // DEVACTB bit 25, APMC_EN: this board has no SMM, so, as QEMU does
        // when SMM is off, the function resets with SMI-on-APMC "already set
        // up", which firmware (SeaBIOS) takes as its cue to skip SMM setup
        // instead of waiting forever for an SMI handler.
        f.set8(DEVACTB + 3, 0x02);
        f.set_writable(PMBA..PMBA + 1, 0xC0);
        f.set_writable(PMBA + 1..PMBA + 2, 0xFF);
        f.set_writable(PMREGMISC..PMREGMISC + 1, 0x01);
        f
    }

    /// The I/O base the configuration space decodes, if enabled.
    pub fn io_base(f: &PciFunction) -> Option<u16> {
        let base = u16::from_le_bytes([f.read8(PMBA), f.read8(PMBA + 1)]) & !(IO_SIZE - 1);
        (f.read8(PMREGMISC) & 1 != 0 && base != 0).then_some(base)
    }

    /// Turns ACPI mode on (SCI_EN) as firmware does before handing over to
    /// an ACPI OS (which finds SMI_CMD zero in the FADT, so does not ask).
    pub fn enable_acpi_mode(&mut self) {
        self.control |= cnt::SCI_EN;
    }

    /// Clears every status bit (a reset, after the timer has been brought
    /// up to date: the count runs on from power-on).
    pub fn clear_status(&mut self) {
        self.status = 0;
    }

    /// Latches TMR_STS if bit 23 of the count changed since last time.
    pub fn advance(&mut self, now: Nanos) {
        let phase = (timer_ticks(now) >> TIMER_STATUS_BIT) as u32;
        if phase != self.timer_phase {
            self.timer_phase = phase;
            self.status |= pm1::TMR;
        }
    }

    /// The SCI line (level-triggered, active while an enabled event is
    /// latched and ACPI mode is on).
    pub fn sci_level(&self) -> bool {
        self.control & cnt::SCI_EN != 0 && self.status & self.enable & pm1::EVENTS != 0
    }

    /// When the SCI next needs looking at: the next change of timer bit 23
    /// if that would raise it.
    pub fn next_event(&self, now: Nanos) -> Option<Nanos> {
        if self.enable & pm1::TMR == 0 || self.status & pm1::TMR != 0 {
            return None;
        }
        let period = 1u64 << TIMER_STATUS_BIT;
        let next = (timer_ticks(now) / period + 1) * period;
        Some(time_of_tick(next))
    }

    /// The power button was pressed: PWRBTN_STS, an SCI if enabled.
    pub fn press_power_button(&mut self) {
        self.status |= pm1::PWRBTN;
    }

    /// The sleep state software entered through SLP_EN, if any.
    pub fn take_sleep_request(&mut self) -> Option<u8> {
        self.sleep_request.take()
    }

    /// A byte read at `offset` in the I/O block.
    pub fn read(&mut self, now: Nanos, offset: u16) -> u8 {
        self.advance(now);
        let (word, shift) = (offset & !1, 8 * (offset & 1));
        let value: u32 = match word {
            PM1_STS => self.status as u32,
            PM1_EN => self.enable as u32,
            PM1_CNT => self.control as u32,
            PM_TMR | 0x0A => {
                let count = timer_ticks(now) as u32 & TIMER_MASK;
                return (count >> (8 * (offset - PM_TMR))) as u8;
            }
            _ => {
                log::debug!("PIIX4 PM: read at offset {offset:#04x}");
                0
            }
        };
        (value >> shift) as u8
    }

    /// A byte write at `offset` in the I/O block.
    pub fn write(&mut self, now: Nanos, offset: u16, value: u8) {
        self.advance(now);
        let (word, shift) = (offset & !1, 8 * (offset & 1));
        let bits = (value as u16) << shift;
        let lane = 0xFFu16 << shift;
        match word {
            // Status bits are cleared by writing ones.
            PM1_STS => self.status &= !bits,
            PM1_EN => {
                self.enable = (self.enable & !lane) | (bits & pm1::EVENTS);
            }
            PM1_CNT => {
                let keep = self.control & !(lane & cnt::WRITABLE);
                self.control = keep | (bits & cnt::WRITABLE);
                if bits & cnt::SLP_EN != 0 {
                    let typ = (self.control & cnt::SLP_TYP) >> cnt::SLP_TYP_SHIFT;
                    log::debug!("PIIX4 PM: sleep, SLP_TYP {typ}");
                    self.sleep_request = Some(typ as u8);
                    self.status |= pm1::WAK;
                }
            }
            _ => log::debug!("PIIX4 PM: write {value:#04x} at offset {offset:#04x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_timer(pm: &mut Piix4Pm, now: Nanos) -> u32 {
        (0..4).fold(0, |v, i| v | (pm.read(now, PM_TMR + i) as u32) << (8 * i))
    }

    #[test]
    fn timer_counts_at_3_579545_mhz_in_24_bits() {
        let mut pm = Piix4Pm::new();
        assert_eq!(read_timer(&mut pm, 0), 0);
        // One second is 3 579 545 counts (ACPI 1.0b, 4.7.2.1).
        assert_eq!(read_timer(&mut pm, 1_000_000_000), 3_579_545);
        // 2^24 counts (4.687 s) wrap the 24-bit register to zero.
        let wrap = time_of_tick(1 << 24);
        assert_eq!(read_timer(&mut pm, wrap), 0);
        assert_eq!(read_timer(&mut pm, wrap - 1), TIMER_MASK);
    }

    #[test]
    fn timer_status_latches_when_bit_23_changes_and_clears_by_writing_one() {
        let mut pm = Piix4Pm::new();
        let half = time_of_tick(1 << 23);
        assert_eq!(pm.read(half - 1, PM1_STS) & 1, 0);
        assert_eq!(pm.read(half, PM1_STS) & 1, 1, "TMR_STS");
        pm.write(half, PM1_STS, 0x01);
        assert_eq!(pm.read(half, PM1_STS) & 1, 0, "write-one-to-clear");
        assert_eq!(pm.read(half + 1000, PM1_STS) & 1, 0);
    }

    #[test]
    fn sci_needs_the_enable_bit_and_acpi_mode() {
        let mut pm = Piix4Pm::new();
        pm.press_power_button();
        assert!(!pm.sci_level(), "PWRBTN_EN clear");
        pm.write(0, PM1_EN + 1, 0x01); // PWRBTN_EN
        assert!(!pm.sci_level(), "SCI_EN clear: legacy mode routes to SMI");
        pm.enable_acpi_mode();
        assert!(pm.sci_level());
        pm.write(0, PM1_STS + 1, 0x01);
        assert!(!pm.sci_level(), "cleared by writing PWRBTN_STS");
    }

    #[test]
    fn timer_enable_schedules_the_sci_at_the_next_bit_23_change() {
        let mut pm = Piix4Pm::new();
        pm.enable_acpi_mode();
        assert_eq!(pm.next_event(0), None, "TMR_EN clear");
        pm.write(0, PM1_EN, 0x01);
        let t = pm.next_event(0).expect("scheduled");
        assert_eq!(t, time_of_tick(1 << 23));
        pm.advance(t);
        assert!(pm.sci_level());
        assert_eq!(pm.next_event(t), None, "already raised");
    }

    #[test]
    fn slp_en_requests_the_sleep_state_and_reads_back_zero() {
        let mut pm = Piix4Pm::new();
        pm.enable_acpi_mode();
        // SLP_TYP = 0 (soft off) with SLP_EN: the high byte of PM1_CNT.
        pm.write(0, PM1_CNT + 1, 0x20);
        assert_eq!(pm.take_sleep_request(), Some(SLP_TYP_SOFT_OFF));
        assert_eq!(pm.take_sleep_request(), None);
        assert_eq!(pm.read(0, PM1_CNT + 1) & 0x20, 0, "SLP_EN is write-only");
        assert_eq!(pm.read(0, PM1_CNT) & 1, 1, "SCI_EN kept");
    }

    #[test]
    fn io_block_decodes_only_when_enabled() {
        let mut f = Piix4Pm::pci_function();
        assert_eq!(f.read8(PMBA), 0x01, "I/O space indicator");
        f.write8(PMBA, 0x00);
        f.write8(PMBA + 1, 0x06);
        assert_eq!(Piix4Pm::io_base(&f), None, "PMIOSE clear");
        f.write8(PMREGMISC, 0x01);
        assert_eq!(Piix4Pm::io_base(&f), Some(0x600));
        assert_eq!(f.read8(PMBA), 0x01, "bit 0 stays set");
    }
}
