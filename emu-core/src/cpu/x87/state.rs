//! The FPU's architectural state: the eight physical registers, the
//! register stack (TOP), the control, status and tag words, the last
//! instruction and data pointers, and the FERR#/IGNNE# pins (Intel SDM
//! vol. 1, 8.1).

use super::float::{Class, F80, SF};
use serde::{Deserialize, Serialize};

/// Status-word condition codes.
pub const C0: u16 = 1 << 8;
pub const C1: u16 = 1 << 9;
pub const C2: u16 = 1 << 10;
pub const C3: u16 = 1 << 14;
/// Error summary and busy: derived from the flags and masks.
pub const ES: u16 = 1 << 7;
pub const BUSY: u16 = 1 << 15;
/// The status-word bits held as such (everything but TOP, ES and B).
const SW_STORED: u16 = 0x3F | SF | C0 | C1 | C2 | C3;
/// The control-word bits that exist (bit 6 reads as one on a 387 and later).
const CW_BITS: u16 = 0x1F3F;

/// Tag values of the full tag word.
pub const TAG_VALID: u16 = 0;
pub const TAG_ZERO: u16 = 1;
pub const TAG_SPECIAL: u16 = 2;
pub const TAG_EMPTY: u16 = 3;

/// The x87 FPU and MMX state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fpu {
    /// The physical registers R0–R7 (MM0–MM7 are their significands).
    pub regs: [F80; 8],
    /// The control word.
    cw: u16,
    /// The status word without TOP, ES and B.
    sw: u16,
    /// The register that is ST(0).
    top: u8,
    /// Bit n set: physical register n is empty (tag 11).
    empty: u8,
    /// The last non-control instruction: CS selector and offset.
    pub fcs: u16,
    pub fip: u32,
    /// Its memory operand: selector and offset.
    pub fds: u16,
    pub fdp: u32,
    /// Its opcode: the low 3 bits of the ESC byte and the ModR/M byte.
    pub fop: u16,
    /// FERR# has been asserted by a waiting instruction that found an
    /// unmasked exception pending with CR0.NE clear.
    ferr: bool,
    /// IGNNE#, asserted by the board (an OUT to port F0h on a PC).
    ignne: bool,
}

impl Default for Fpu {
    /// The state FNINIT leaves.
    fn default() -> Fpu {
        Fpu {
            regs: [F80::ZERO; 8],
            cw: 0x037F,
            sw: 0,
            top: 0,
            empty: 0xFF,
            fcs: 0,
            fip: 0,
            fds: 0,
            fdp: 0,
            fop: 0,
            ferr: false,
            ignne: false,
        }
    }
}

impl Fpu {
    /// The power-on/RESET state of a P6 (SDM vol. 3, table 9-1): control
    /// word 0040h (every exception unmasked), tag word 5555h (all eight
    /// registers hold +0), everything else zero.
    pub fn reset(&mut self) {
        *self = Fpu {
            cw: 0x0040,
            empty: 0,
            ..Fpu::default()
        };
    }

    /// FNINIT: control word 037Fh, status 0, all registers empty, pointers
    /// cleared. The register contents stay.
    pub fn init(&mut self) {
        let regs = self.regs;
        *self = Fpu {
            regs,
            ignne: self.ignne,
            ..Fpu::default()
        };
        self.update_pins();
    }

    /// The FERR# output: an unmasked exception is pending and a waiting
    /// instruction found it while CR0.NE was clear. On a PC the board routes
    /// it to IRQ 13 (through the latch that an OUT to port F0h clears).
    pub fn ferr(&self) -> bool {
        self.ferr
    }

    /// Drives IGNNE#. A PC chipset asserts it on an OUT to port F0h and keeps
    /// it while FERR# stays asserted; the FPU drops it by itself when FERR#
    /// deasserts (FNCLEX, FNINIT, ...). While it is asserted, waiting
    /// instructions ignore the pending exception instead of freezing.
    pub fn set_ignne(&mut self, on: bool) {
        self.ignne = on && self.ferr;
    }

    /// The IGNNE# input as the board last drove it.
    pub fn ignne(&self) -> bool {
        self.ignne
    }

    /// Latches FERR# (a waiting instruction met a pending exception with
    /// CR0.NE clear). Returns whether IGNNE# lets the instruction go on.
    pub(crate) fn assert_ferr(&mut self) -> bool {
        if !self.ferr {
            self.ignne = false;
        }
        self.ferr = true;
        self.ignne
    }

    /// FERR# and IGNNE# fall when no unmasked exception is pending any more.
    fn update_pins(&mut self) {
        if !self.error_pending() {
            self.ferr = false;
            self.ignne = false;
        }
    }

    pub fn control_word(&self) -> u16 {
        self.cw | 0x0040
    }

    pub fn set_control_word(&mut self, cw: u16) {
        self.cw = cw & CW_BITS;
        self.update_pins();
    }

    /// An unmasked exception flag is set (ES): the next waiting instruction
    /// raises #MF or asserts FERR#.
    pub fn error_pending(&self) -> bool {
        self.sw & !self.cw & 0x3F != 0
    }

    pub fn status_word(&self) -> u16 {
        let es = if self.error_pending() { ES | BUSY } else { 0 };
        self.sw | es | (self.top as u16) << 11
    }

    pub fn set_status_word(&mut self, sw: u16) {
        self.sw = sw & SW_STORED;
        self.top = ((sw >> 11) & 7) as u8;
        self.update_pins();
    }

    /// Clears the exception flags, SF, ES and B (FNCLEX).
    pub fn clear_exceptions(&mut self) {
        self.sw &= !(0x3F | SF);
        self.update_pins();
    }

    /// ORs exception flags (and SF) into the status word.
    pub fn raise(&mut self, flags: u16) {
        self.sw |= flags & (0x3F | SF);
    }

    /// Sets the condition-code bits in `mask` to those in `value`.
    pub fn set_cc(&mut self, mask: u16, value: u16) {
        self.sw = (self.sw & !mask) | (value & mask);
    }

    pub fn top(&self) -> u8 {
        self.top
    }

    pub fn set_top(&mut self, top: u8) {
        self.top = top & 7;
    }

    /// The physical register number of ST(i).
    #[inline]
    pub fn phys(&self, i: u8) -> usize {
        ((self.top + i) & 7) as usize
    }

    #[inline]
    pub fn is_empty(&self, i: u8) -> bool {
        self.empty & (1 << self.phys(i)) != 0
    }

    #[inline]
    pub fn st(&self, i: u8) -> F80 {
        self.regs[self.phys(i)]
    }

    /// Writes ST(i) and tags it non-empty.
    #[inline]
    pub fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.empty &= !(1 << p);
    }

    /// Tags ST(i) empty (FFREE).
    pub fn free(&mut self, i: u8) {
        self.empty |= 1 << self.phys(i);
    }

    /// Decrements TOP and writes the new ST(0).
    pub fn push(&mut self, v: F80) {
        self.top = self.top.wrapping_sub(1) & 7;
        self.set_st(0, v);
    }

    /// Tags ST(0) empty and increments TOP.
    pub fn pop(&mut self) {
        self.free(0);
        self.top = (self.top + 1) & 7;
    }

    /// The full tag word (two bits per physical register), derived from the
    /// register contents as FSTENV and FSAVE store it.
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0, |t, p| {
            let tag = if self.empty & (1 << p) != 0 {
                TAG_EMPTY
            } else {
                match self.regs[p].class() {
                    Class::Zero => TAG_ZERO,
                    Class::Normal => TAG_VALID,
                    _ => TAG_SPECIAL,
                }
            };
            t | tag << (2 * p)
        })
    }

    /// Loads a full tag word: only "empty" or not matters (FLDENV, FRSTOR).
    pub fn set_tag_word(&mut self, tw: u16) {
        self.empty = (0..8).fold(0, |e, p| {
            e | (((tw >> (2 * p)) & 3 == TAG_EMPTY) as u8) << p
        });
    }

    /// The abridged tag byte of FXSAVE: bit n set when R(n) is non-empty.
    pub fn abridged_tag(&self) -> u8 {
        !self.empty
    }

    pub fn set_abridged_tag(&mut self, t: u8) {
        self.empty = !t;
    }

    /// Tags every register empty (EMMS).
    pub fn set_all_empty(&mut self) {
        self.empty = 0xFF;
    }

    /// What an MMX instruction does to the x87 state: TOP = 0 and every
    /// register valid.
    pub fn enter_mmx(&mut self) {
        self.top = 0;
        self.empty = 0;
    }

    /// MMn: the significand of physical register n.
    #[inline]
    pub fn mm(&self, n: u8) -> u64 {
        self.regs[n as usize & 7].sig
    }

    /// Writes MMn: the exponent and sign become all ones.
    #[inline]
    pub fn set_mm(&mut self, n: u8, v: u64) {
        self.regs[n as usize & 7] = F80 { sig: v, se: 0xFFFF };
    }
}
