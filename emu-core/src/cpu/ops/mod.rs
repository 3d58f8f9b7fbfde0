//! Instruction handlers, one file per family, and the operand helpers they
//! share. Each family's `lower` picks a handler for the instructions it
//! implements; [`lower`] asks each in turn.
//!
//! Handlers are monomorphised over the operand width `W` (8, 16 or 32 bits)
//! and over whether the r/m operand is in memory, so the per-instruction work
//! is straight-line code with no decoding left in it.

// Handler pickers, defined before the family modules so they can use them.
/// Picks the monomorphised handler for a width of 8, 16 or 32 bits and a
/// register or memory form: `pick!(w, mem, func, extra const args...)`.
macro_rules! pick {
    ($w:expr, $mem:expr, $f:ident $(, $c:expr)*) => {
        match ($w, $mem) {
            (8, false) => Some($f::<8, false $(, $c)*> as $crate::cpu::decode::Handler),
            (8, true) => Some($f::<8, true $(, $c)*>),
            (16, false) => Some($f::<16, false $(, $c)*>),
            (16, true) => Some($f::<16, true $(, $c)*>),
            (32, false) => Some($f::<32, false $(, $c)*>),
            (32, true) => Some($f::<32, true $(, $c)*>),
            _ => None,
        }
    };
}

/// The const-generic condition code must be a literal: dispatch over all 16.
macro_rules! pick_cc {
    ($w:expr, $mem:expr, $f:ident, $cc:expr) => {
        match $cc {
            0 => pick!($w, $mem, $f, 0),
            1 => pick!($w, $mem, $f, 1),
            2 => pick!($w, $mem, $f, 2),
            3 => pick!($w, $mem, $f, 3),
            4 => pick!($w, $mem, $f, 4),
            5 => pick!($w, $mem, $f, 5),
            6 => pick!($w, $mem, $f, 6),
            7 => pick!($w, $mem, $f, 7),
            8 => pick!($w, $mem, $f, 8),
            9 => pick!($w, $mem, $f, 9),
            10 => pick!($w, $mem, $f, 10),
            11 => pick!($w, $mem, $f, 11),
            12 => pick!($w, $mem, $f, 12),
            13 => pick!($w, $mem, $f, 13),
            14 => pick!($w, $mem, $f, 14),
            _ => pick!($w, $mem, $f, 15),
        }
    };
}

pub mod alu;
pub mod bits;
pub mod control;
pub mod descriptor;
pub mod mov;
pub mod muldiv;
pub mod shift;
pub mod stack;
pub mod string;
pub mod system;

use super::decode::{Handler, Op, NO_REG};
use super::exception::{Exception, Result};
use super::Cpu;
use crate::bus::Bus;
use iced_x86::{Instruction, OpKind};

/// Finds the handler for `i`, or `None` if nothing implements it (#UD).
pub fn lower(i: &Instruction, op: &Op) -> Option<Handler> {
    alu::lower(i, op)
        .or_else(|| mov::lower(i, op))
        .or_else(|| stack::lower(i, op))
        .or_else(|| control::lower(i, op))
        .or_else(|| shift::lower(i, op))
        .or_else(|| muldiv::lower(i, op))
        .or_else(|| bits::lower(i, op))
        .or_else(|| string::lower(i, op))
        .or_else(|| system::lower(i, op))
        .or_else(|| descriptor::lower(i, op))
        .or_else(|| super::x87::lower(i, op))
}

/// Raises #UD: invalid or unimplemented opcodes.
pub fn raise_ud(_: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    Err(Exception::ud())
}

/// Raises #GP(0): an instruction that runs past the CS limit.
pub fn raise_gp0(_: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    Err(Exception::gp(0))
}

/// The operand width in bits of operand `n` of `i` (register or memory).
pub fn width(i: &Instruction, n: u32) -> u32 {
    match i.op_kind(n) {
        OpKind::Register => i.op_register(n).size() as u32 * 8,
        _ => i.memory_size().size() as u32 * 8,
    }
}

/// Whether operand `n` of `i` is a memory operand.
pub fn is_mem(i: &Instruction, n: u32) -> bool {
    i.op_kind(n) == OpKind::Memory
}

/// Mask of the low `W` bits.
#[inline(always)]
pub const fn mask<const W: u32>() -> u32 {
    u32::MAX >> (32 - W)
}

/// The sign bit of a `W`-bit value.
#[inline(always)]
pub const fn sign<const W: u32>() -> u32 {
    1 << (W - 1)
}

/// Sign-extends the low `W` bits of `v`.
#[inline(always)]
pub const fn sext<const W: u32>(v: u32) -> u32 {
    (((v << (32 - W)) as i32) >> (32 - W)) as u32
}

impl Cpu {
    /// The effective address (offset) of the memory operand.
    #[inline(always)]
    pub(crate) fn ea(&self, op: &Op) -> u32 {
        let mut a = op.disp;
        if op.base != NO_REG {
            a = a.wrapping_add(self.regs[op.base as usize & 7]);
        }
        if op.index != NO_REG {
            a = a.wrapping_add(self.regs[op.index as usize & 7] << op.scale);
        }
        if op.addr32 {
            a
        } else {
            a & 0xFFFF
        }
    }

    /// Reads operand 0 (r/m) of width `W`: the register `op.dst`, or memory.
    #[inline(always)]
    pub(crate) fn read_rm<const W: u32, const MEM: bool>(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
    ) -> Result<u32> {
        if MEM {
            let ea = self.ea(op);
            self.read::<W>(bus, op.seg, ea)
        } else {
            Ok(self.reg::<W>(op.dst))
        }
    }

    /// Writes operand 0 (r/m) of width `W`.
    #[inline(always)]
    pub(crate) fn write_rm<const W: u32, const MEM: bool>(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        v: u32,
    ) -> Result<()> {
        if MEM {
            let ea = self.ea(op);
            self.write::<W>(bus, op.seg, ea, v)
        } else {
            self.set_reg::<W>(op.dst, v);
            Ok(())
        }
    }

    /// Reads operand 1 as r/m of width `W` (for `reg, r/m` forms): the
    /// register `op.src`, or memory.
    #[inline(always)]
    pub(crate) fn read_src_rm<const W: u32, const MEM: bool>(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
    ) -> Result<u32> {
        if MEM {
            let ea = self.ea(op);
            self.read::<W>(bus, op.seg, ea)
        } else {
            Ok(self.reg::<W>(op.src))
        }
    }

    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc).
    #[inline(always)]
    pub(crate) fn condition(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}

/// The condition-code nibble of a Jcc/SETcc/CMOVcc as encoded (0 = O ... F = G).
pub fn cc_of(i: &Instruction) -> u8 {
    use iced_x86::ConditionCode::*;
    match i.condition_code() {
        o => 0,
        no => 1,
        b => 2,
        ae => 3,
        e => 4,
        ne => 5,
        be => 6,
        a => 7,
        s => 8,
        ns => 9,
        p => 10,
        np => 11,
        l => 12,
        ge => 13,
        le => 14,
        g => 15,
        None => 0,
    }
}
