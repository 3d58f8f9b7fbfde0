//! EFLAGS, with the six arithmetic flags evaluated lazily.
//!
//! An arithmetic instruction does not compute OF, SF, ZF, AF, PF and CF.
//! It records its operands, result, width and kind in [`LazyFlags`]; a flag is
//! computed only when something reads it (a Jcc, PUSHF, an ADC, ...). Most
//! results are overwritten before they are ever read, so this saves the work of
//! flag computation on almost every ALU instruction.

use super::Cpu;
use serde::{Deserialize, Serialize};

/// Carry flag.
pub const CF: u32 = 1 << 0;
/// Parity flag: the low byte of the result has an even number of set bits.
pub const PF: u32 = 1 << 2;
/// Auxiliary carry: carry out of bit 3, for BCD arithmetic.
pub const AF: u32 = 1 << 4;
/// Zero flag.
pub const ZF: u32 = 1 << 6;
/// Sign flag.
pub const SF: u32 = 1 << 7;
/// Trap flag: single-step.
pub const TF: u32 = 1 << 8;
/// Interrupt-enable flag.
pub const IF: u32 = 1 << 9;
/// Direction flag: string instructions step downwards.
pub const DF: u32 = 1 << 10;
/// Overflow flag.
pub const OF: u32 = 1 << 11;
/// I/O privilege level (two bits).
pub const IOPL: u32 = 3 << 12;
/// Nested task.
pub const NT: u32 = 1 << 14;
/// Resume flag: suppresses instruction breakpoints for one instruction.
pub const RF: u32 = 1 << 16;
/// Virtual-8086 mode.
pub const VM: u32 = 1 << 17;
/// Alignment check.
pub const AC: u32 = 1 << 18;
/// Virtual interrupt flag.
pub const VIF: u32 = 1 << 19;
/// Virtual interrupt pending.
pub const VIP: u32 = 1 << 20;
/// CPUID is available (the bit can be toggled).
pub const ID: u32 = 1 << 21;
/// The six arithmetic status flags.
pub const ARITH: u32 = OF | SF | ZF | AF | PF | CF;
/// EFLAGS bit 1 always reads as one.
pub const FIXED_ONE: u32 = 1 << 1;
/// The bits a P6 lets software change in EFLAGS.
pub const WRITABLE: u32 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

/// The kind of the last flag-setting operation, which says how to derive
/// CF, OF and AF from its operands (SF, ZF and PF always come from the result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FlagOp {
    /// Nothing is lazy: EFLAGS holds every flag.
    #[default]
    None,
    /// `res = a + b (+ carry)`: ADD, ADC, XADD.
    Add,
    /// `res = a - b (- borrow)`: SUB, SBB, CMP, NEG (a = 0), CMPXCHG, SCAS, CMPS.
    Sub,
    /// Like `Add` with b = 1, but CF is kept in `aux`.
    Inc,
    /// Like `Sub` with b = 1, but CF is kept in `aux`.
    Dec,
    /// SF, ZF and PF from the result; CF, OF and AF given in `aux`
    /// (logic ops with aux = 0, shifts, and anything computed eagerly).
    Result,
}

/// The operands of the last flag-setting operation.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct LazyFlags {
    pub op: FlagOp,
    /// Operand width in bits: 8, 16 or 32.
    pub bits: u32,
    pub a: u32,
    pub b: u32,
    pub res: u32,
    /// CF/OF/AF bits, for the kinds that carry them explicitly.
    pub aux: u32,
}

#[inline(always)]
fn msb(bits: u32) -> u32 {
    1 << (bits - 1)
}

#[inline(always)]
fn mask(bits: u32) -> u32 {
    u32::MAX >> (32 - bits)
}

impl LazyFlags {
    #[inline(always)]
    fn cf(&self) -> bool {
        let (a, b, r, m) = (self.a, self.b, self.res, msb(self.bits));
        match self.op {
            // Carry out of the top bit, from the top bits of the operands and
            // the result; exact for ADD and ADC alike.
            FlagOp::Add => ((a & b) | ((a | b) & !r)) & m != 0,
            FlagOp::Sub => ((!a & b) | ((!a | b) & r)) & m != 0,
            FlagOp::Inc | FlagOp::Dec | FlagOp::Result => self.aux & CF != 0,
            FlagOp::None => unreachable_none(),
        }
    }

    #[inline(always)]
    fn of(&self) -> bool {
        let (a, b, r, m) = (self.a, self.b, self.res, msb(self.bits));
        match self.op {
            FlagOp::Add | FlagOp::Inc => (a ^ r) & (b ^ r) & m != 0,
            FlagOp::Sub | FlagOp::Dec => (a ^ b) & (a ^ r) & m != 0,
            FlagOp::Result => self.aux & OF != 0,
            FlagOp::None => unreachable_none(),
        }
    }

    #[inline(always)]
    fn af(&self) -> bool {
        match self.op {
            FlagOp::Result => self.aux & AF != 0,
            _ => (self.a ^ self.b ^ self.res) & 0x10 != 0,
        }
    }

    #[inline(always)]
    fn zf(&self) -> bool {
        self.res & mask(self.bits) == 0
    }

    #[inline(always)]
    fn sf(&self) -> bool {
        self.res & msb(self.bits) != 0
    }

    #[inline(always)]
    fn pf(&self) -> bool {
        (self.res as u8).count_ones().is_multiple_of(2)
    }

    /// All six arithmetic flags as EFLAGS bits.
    fn materialise(&self) -> u32 {
        (self.cf() as u32 * CF)
            | (self.pf() as u32 * PF)
            | (self.af() as u32 * AF)
            | (self.zf() as u32 * ZF)
            | (self.sf() as u32 * SF)
            | (self.of() as u32 * OF)
    }
}

/// Reached only if a caller forgot to check `FlagOp::None` first; answer
/// something harmless rather than panic inside the guest's run.
#[inline(always)]
fn unreachable_none() -> bool {
    false
}

macro_rules! flag_getter {
    ($name:ident, $bit:expr) => {
        #[doc = concat!("The current value of ", stringify!($bit), ".")]
        #[inline(always)]
        pub fn $name(&self) -> bool {
            if self.lazy.op == FlagOp::None {
                self.eflags_raw & $bit != 0
            } else {
                self.lazy.$name()
            }
        }
    };
}

impl Cpu {
    flag_getter!(cf, CF);
    flag_getter!(of, OF);
    flag_getter!(af, AF);
    flag_getter!(zf, ZF);
    flag_getter!(sf, SF);
    flag_getter!(pf, PF);

    /// The direction flag.
    #[inline(always)]
    pub fn df(&self) -> bool {
        self.eflags_raw & DF != 0
    }

    /// The interrupt-enable flag.
    #[inline(always)]
    pub fn if_flag(&self) -> bool {
        self.eflags_raw & IF != 0
    }

    /// Tests a non-arithmetic EFLAGS bit (IF, TF, DF, IOPL, NT, VM, ...).
    #[inline(always)]
    pub fn flag(&self, bit: u32) -> bool {
        debug_assert!(bit & ARITH == 0);
        self.eflags_raw & bit != 0
    }

    /// The complete EFLAGS value.
    pub fn eflags(&self) -> u32 {
        let arith = if self.lazy.op == FlagOp::None {
            self.eflags_raw & ARITH
        } else {
            self.lazy.materialise()
        };
        (self.eflags_raw & !ARITH) | arith | FIXED_ONE
    }

    /// Sets EFLAGS outright (reserved bits are forced to their fixed values).
    /// Mode-dependent rules (IOPL, VM) are the caller's business.
    pub fn set_eflags(&mut self, value: u32) {
        self.eflags_raw = (value & WRITABLE) | FIXED_ONE;
        self.lazy.op = FlagOp::None;
    }

    /// Folds the lazy flags into EFLAGS so single bits can be changed.
    #[inline]
    pub fn commit_flags(&mut self) {
        if self.lazy.op != FlagOp::None {
            self.eflags_raw = (self.eflags_raw & !ARITH) | self.lazy.materialise();
            self.lazy.op = FlagOp::None;
        }
    }

    /// Sets or clears the EFLAGS bits in `bits` (arithmetic ones included).
    #[inline]
    pub fn set_flag(&mut self, bits: u32, on: bool) {
        if bits & ARITH != 0 {
            self.commit_flags();
        }
        if on {
            self.eflags_raw |= bits;
        } else {
            self.eflags_raw &= !bits;
        }
    }

    /// Records an ADD-like result (`res = a + b [+ cf]`) of `bits` width.
    #[inline(always)]
    pub fn flags_add(&mut self, bits: u32, a: u32, b: u32, res: u32) {
        self.lazy = LazyFlags {
            op: FlagOp::Add,
            bits,
            a,
            b,
            res,
            aux: 0,
        };
    }

    /// Records a SUB-like result (`res = a - b [- cf]`) of `bits` width.
    #[inline(always)]
    pub fn flags_sub(&mut self, bits: u32, a: u32, b: u32, res: u32) {
        self.lazy = LazyFlags {
            op: FlagOp::Sub,
            bits,
            a,
            b,
            res,
            aux: 0,
        };
    }

    /// Records INC (`dec == false`) or DEC: like ADD/SUB of 1 but CF unchanged.
    #[inline(always)]
    pub fn flags_incdec(&mut self, bits: u32, a: u32, res: u32, dec: bool) {
        let aux = self.cf() as u32 * CF;
        let op = if dec { FlagOp::Dec } else { FlagOp::Inc };
        self.lazy = LazyFlags {
            op,
            bits,
            a,
            b: 1,
            res,
            aux,
        };
    }

    /// Records a logic result: CF = OF = 0, AF = 0 (undefined; P6 clears it).
    #[inline(always)]
    pub fn flags_logic(&mut self, bits: u32, res: u32) {
        self.lazy = LazyFlags {
            op: FlagOp::Result,
            bits,
            a: 0,
            b: 0,
            res,
            aux: 0,
        };
    }

    /// Records SF/ZF/PF from `res` and CF/OF/AF given explicitly in `aux`.
    #[inline(always)]
    pub fn flags_result(&mut self, bits: u32, res: u32, aux: u32) {
        self.lazy = LazyFlags {
            op: FlagOp::Result,
            bits,
            a: 0,
            b: 0,
            res,
            aux: aux & (CF | OF | AF),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu() -> Cpu {
        Cpu::new(4096)
    }

    #[test]
    fn add_flags_match_the_sdm_definitions() {
        let mut c = cpu();
        // 0x7F + 1 = 0x80: signed overflow, AF from bit 3, no carry.
        c.flags_add(8, 0x7F, 1, 0x80);
        assert_eq!(c.eflags() & ARITH, OF | SF | AF);
        // 0xFF + 1 = 0x00 with carry out.
        c.flags_add(8, 0xFF, 1, 0x100);
        assert_eq!(c.eflags() & ARITH, CF | ZF | AF | PF);
        // ADC 0xFFFF + 0xFFFF + 1 = 0x1FFFF: carry, result 0xFFFF.
        c.flags_add(16, 0xFFFF, 0xFFFF, 0x1FFFF);
        assert!(c.cf() && c.sf() && !c.zf() && !c.of());
    }

    #[test]
    fn sub_flags_borrow_and_overflow() {
        let mut c = cpu();
        // 0 - 1 = 0xFFFFFFFF: borrow, sign, no overflow.
        c.flags_sub(32, 0, 1, 0u32.wrapping_sub(1));
        assert!(c.cf() && c.sf() && !c.of() && !c.zf());
        // 0x80 - 1 = 0x7F: overflow (negative minus positive gives positive).
        c.flags_sub(8, 0x80, 1, 0x7F);
        assert!(c.of() && !c.cf() && c.af());
    }

    #[test]
    fn inc_keeps_carry() {
        let mut c = cpu();
        c.set_flag(CF, true);
        c.flags_incdec(16, 0xFFFF, 0x10000, false);
        assert!(c.cf() && c.zf());
        c.set_flag(CF, false);
        c.flags_incdec(16, 0, 0xFFFF, true);
        assert!(!c.cf() && c.sf());
    }

    #[test]
    fn set_flag_commits_lazy_state() {
        let mut c = cpu();
        c.flags_sub(8, 1, 1, 0);
        c.set_flag(CF, true);
        assert!(c.cf() && c.zf());
        assert_eq!(c.eflags() & (CF | ZF), CF | ZF);
    }
}
