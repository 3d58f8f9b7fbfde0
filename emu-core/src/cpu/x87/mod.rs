//! The x87 FPU and MMX (Intel SDM vol. 1, chapters 8 and 9; vol. 2).
//!
//! * [`float`]: exact 80-bit arithmetic (rounding, precision control, flags);
//!   [`convert`]: the memory formats (single, double, integers, BCD);
//!   [`big`]: the wider arithmetic the transcendentals are computed in.
//! * [`state`]: registers, stack, control/status/tag words, FERR#/IGNNE#.
//! * Handlers by family: [`arith`], [`load_store`], [`compare`], [`trans`],
//!   [`env`] (control and state save/restore), [`mmx`].
//!
//! Every x87 handler starts with [`enter`]: CR0.EM or CR0.TS raise #NM, and a
//! waiting instruction that finds an unmasked exception pending raises #MF
//! (CR0.NE set) or asserts FERR# and freezes until an interrupt (CR0.NE
//! clear; the board routes FERR# to IRQ 13 and IGNNE# lets it go on).

pub mod arith;
pub mod big;
pub mod compare;
pub mod convert;
pub mod env;
pub mod float;
pub mod load_store;
pub mod mmx;
pub mod state;
#[cfg(test)]
mod tests;
pub mod trans;

pub use float::F80;
pub use state::Fpu;

use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op, NO_REG};
use crate::cpu::exception::{Exception, Result, MF, NM};
use crate::cpu::{cr0, Cpu, SegReg};
use float::Env;
use iced_x86::{Code, Instruction, Mnemonic, Register};

/// Picks the handler for an x87, MMX or WAIT instruction.
pub fn lower(i: &Instruction, op: &Op) -> Option<Handler> {
    if i.mnemonic() == Mnemonic::Wait {
        return Some(env::fwait);
    }
    arith::lower(i, op)
        .or_else(|| load_store::lower(i, op))
        .or_else(|| compare::lower(i, op))
        .or_else(|| trans::lower(i, op))
        .or_else(|| env::lower(i, op))
        .or_else(|| mmx::lower(i, op))
}

/// The FPU opcode (FOP) of an x87 instruction as FSTENV stores it: the low
/// three bits of the ESC byte and the ModR/M byte; `None` for others.
pub fn fop(i: &Instruction) -> Option<u16> {
    let info = i.op_code();
    let opc = info.op_code();
    let two = info.op_code_len() == 2;
    let esc = if two { opc >> 8 } else { opc };
    if !(0xD8..=0xDF).contains(&esc) {
        return None;
    }
    let modrm = if two {
        // Register forms: D8 C0+i and the like.
        let st = (0..i.op_count())
            .filter(|&n| i.op_kind(n) == iced_x86::OpKind::Register)
            .map(|n| i.op_register(n))
            .filter(|r| r.is_st())
            .map(|r| r as u32 - Register::ST0 as u32)
            .max()
            .unwrap_or(0);
        (opc & 0xFF) + st
    } else {
        memory_modrm(i) | (info.group_index().max(0) as u32) << 3
    };
    Some(((esc & 7) << 8 | (modrm & 0xFF)) as u16)
}

/// Rebuilds the mod and r/m fields of a memory operand's ModR/M byte.
fn memory_modrm(i: &Instruction) -> u32 {
    let (base, index) = (i.memory_base(), i.memory_index());
    let disp = i.memory_displ_size();
    let md = |size| match size {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    if i.memory_displ_size() == 2
        || base.is_gpr16()
        || index.is_gpr16()
        || (base == Register::None && index == Register::None && disp == 2)
    {
        use Register::*;
        let rm = match (base, index) {
            (BX, SI) => 0,
            (BX, DI) => 1,
            (BP, SI) => 2,
            (BP, DI) => 3,
            (SI, None) => 4,
            (DI, None) => 5,
            (None, None) => return 6,
            (BP, None) => 6,
            _ => 7,
        };
        return md(disp) << 6 | rm;
    }
    if base == Register::None {
        return if index == Register::None { 5 } else { 4 };
    }
    let rm = if index != Register::None || base == Register::ESP {
        4
    } else {
        base as u32 - Register::EAX as u32
    };
    md(disp) << 6 | rm
}

/// The offset of the current instruction (handlers run with EIP past it).
pub(crate) fn insn_start(cpu: &Cpu, op: &Op) -> u32 {
    let start = cpu.eip.wrapping_sub((op.next - op.start) as u32);
    if cpu.code32() {
        start
    } else {
        start & 0xFFFF
    }
}

/// The entry checks of an x87 instruction: #NM for CR0.EM or CR0.TS, then
/// for a waiting instruction the pending-exception check. `Ok(false)`: the
/// CPU froze before the instruction (FERR# asserted, IGNNE# not), so the
/// handler must do nothing.
#[inline]
pub(crate) fn enter(cpu: &mut Cpu, op: &Op, wait: bool) -> Result<bool> {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Exception::new(NM));
    }
    if wait && cpu.fpu.error_pending() {
        return pending(cpu, op);
    }
    Ok(true)
}

/// An unmasked exception is pending at a waiting instruction.
pub(crate) fn pending(cpu: &mut Cpu, op: &Op) -> Result<bool> {
    if cpu.cr0 & cr0::NE != 0 {
        return Err(Exception::new(MF));
    }
    // MS-DOS compatible error reporting (SDM vol. 1, D.2.1): FERR# goes out;
    // unless IGNNE# is asserted the processor stops before this instruction
    // until an interrupt (IRQ 13) comes, and runs it again after.
    if cpu.fpu.assert_ferr() {
        return Ok(true);
    }
    cpu.eip = insn_start(cpu, op);
    cpu.halted = true;
    cpu.exit_block = true;
    Ok(false)
}

/// [`enter`] for a waiting, non-control instruction, which also records
/// the instruction pointer, opcode and (`MEM`) data pointer.
#[inline]
pub(crate) fn enter_op<const MEM: bool>(cpu: &mut Cpu, op: &Op) -> Result<bool> {
    if !enter(cpu, op, true)? {
        return Ok(false);
    }
    cpu.fpu.fip = insn_start(cpu, op);
    cpu.fpu.fcs = cpu.segs[SegReg::CS as usize].selector;
    cpu.fpu.fop = op.imm as u16 & 0x7FF;
    if MEM {
        cpu.fpu.fdp = cpu.ea(op);
        cpu.fpu.fds = cpu.segs[op.seg as usize % 6].selector;
    }
    Ok(true)
}

/// Enters a handler: `x87_enter!(cpu, op, MEM)` returns early when frozen.
macro_rules! x87_enter {
    ($cpu:expr, $op:expr, $mem:expr) => {
        if !$crate::cpu::x87::enter_op::<{ $mem }>($cpu, $op)? {
            return Ok(());
        }
    };
}
pub(crate) use x87_enter;

impl Cpu {
    /// The rounding environment of the control word.
    pub(crate) fn fpu_env(&self) -> Env {
        Env::new(self.fpu.control_word())
    }

    /// Merges an operation's flags into the status word: the exception
    /// flags, and C1 = rounded up when the result was inexact (else 0).
    pub(crate) fn fpu_flags(&mut self, env: &Env) {
        self.fpu.raise(env.flags);
        let up = env.flags & float::PE != 0 && env.up;
        self.fpu.set_cc(state::C1, if up { state::C1 } else { 0 });
    }

    /// Stack underflow: IE and SF with C1 = 0. Returns whether the masked
    /// response (go on with the default NaN) applies.
    pub(crate) fn fpu_underflow(&mut self) -> bool {
        self.fpu.raise(float::IE | float::SF);
        self.fpu.set_cc(state::C1, 0);
        self.fpu.control_word() & float::IE != 0
    }

    /// Stack overflow on a push: IE and SF with C1 = 1. Masked, the default
    /// NaN is pushed; unmasked, nothing changes. Returns whether to push.
    pub(crate) fn fpu_check_push(&mut self) -> PushCheck {
        if self.fpu.is_empty(7) {
            return PushCheck::Ok;
        }
        self.fpu.raise(float::IE | float::SF);
        self.fpu.set_cc(state::C1, state::C1);
        if self.fpu.control_word() & float::IE != 0 {
            PushCheck::Indefinite
        } else {
            PushCheck::Fault
        }
    }

    /// Reads `buf.len()` bytes of the memory operand (at `ea` + `offset`).
    pub(crate) fn fpu_read(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<()> {
        let ea = self.ea(op).wrapping_add(offset) & addr_mask(op);
        let lin = self.seg_check(op.seg, ea, buf.len() as u32, false)?;
        let mut k = 0;
        while k < buf.len() {
            let a = lin.wrapping_add(k as u32);
            if buf.len() - k >= 4 {
                let v = self.read_lin::<32>(bus, a)?;
                buf[k..k + 4].copy_from_slice(&v.to_le_bytes());
                k += 4;
            } else {
                buf[k] = self.read_lin::<8>(bus, a)? as u8;
                k += 1;
            }
        }
        Ok(())
    }

    /// Writes bytes to the memory operand (at `ea` + `offset`). The whole
    /// range is checked against the segment first, and the pieces are
    /// written last to first, so that a page fault leaves the instruction
    /// restartable.
    pub(crate) fn fpu_write(
        &mut self,
        bus: &mut dyn Bus,
        op: &Op,
        offset: u32,
        buf: &[u8],
    ) -> Result<()> {
        let ea = self.ea(op).wrapping_add(offset) & addr_mask(op);
        let lin = self.seg_check(op.seg, ea, buf.len() as u32, true)?;
        let mut k = buf.len();
        while k > 0 {
            let n = if k.is_multiple_of(4) { 4 } else { k % 4 };
            let at = k - n;
            let a = lin.wrapping_add(at as u32);
            match n {
                4 => {
                    let v = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap_or([0; 4]));
                    self.write_lin::<32>(bus, a, v)?;
                }
                _ => {
                    for j in (0..n).rev() {
                        self.write_lin::<8>(bus, a.wrapping_add(j as u32), buf[at + j] as u32)?;
                    }
                }
            }
            k = at;
        }
        Ok(())
    }

    pub(crate) fn fpu_read16(&mut self, bus: &mut dyn Bus, op: &Op) -> Result<u16> {
        let mut b = [0; 2];
        self.fpu_read(bus, op, 0, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub(crate) fn fpu_read32(&mut self, bus: &mut dyn Bus, op: &Op) -> Result<u32> {
        let mut b = [0; 4];
        self.fpu_read(bus, op, 0, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn fpu_read64(&mut self, bus: &mut dyn Bus, op: &Op) -> Result<u64> {
        let mut b = [0; 8];
        self.fpu_read(bus, op, 0, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn fpu_read80(&mut self, bus: &mut dyn Bus, op: &Op) -> Result<[u8; 10]> {
        let mut b = [0; 10];
        self.fpu_read(bus, op, 0, &mut b)?;
        Ok(b)
    }
}

/// What a push may do (see [`Cpu::fpu_check_push`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushCheck {
    Ok,
    Indefinite,
    Fault,
}

/// The offset mask of the operand's address size.
fn addr_mask(op: &Op) -> u32 {
    if op.addr32 {
        u32::MAX
    } else {
        0xFFFF
    }
}

/// The ST(i) number of a register operand (after `reg_number`).
#[inline]
pub(crate) fn sti(n: u8) -> u8 {
    if n == NO_REG {
        0
    } else {
        n & 7
    }
}

/// Memory operand formats of x87 instructions.
pub mod fmt {
    pub const M32: u8 = 0;
    pub const M64: u8 = 1;
    pub const M80: u8 = 2;
    pub const I16: u8 = 3;
    pub const I32: u8 = 4;
    pub const I64: u8 = 5;
    pub const BCD: u8 = 6;
}

/// The memory format of an x87 instruction's memory operand.
pub(crate) fn mem_format(i: &Instruction) -> Option<u8> {
    use iced_x86::MemorySize::*;
    Some(match i.memory_size() {
        Float32 => fmt::M32,
        Float64 => fmt::M64,
        Float80 => fmt::M80,
        Int16 => fmt::I16,
        Int32 => fmt::I32,
        Int64 => fmt::I64,
        Bcd => fmt::BCD,
        _ => return None,
    })
}

/// Whether the instruction is an x87 one with a memory operand.
pub(crate) fn has_mem(i: &Instruction) -> bool {
    (0..i.op_count()).any(|n| i.op_kind(n) == iced_x86::OpKind::Memory)
}

/// Codes that are recognised but do nothing on a 387 and later.
pub(crate) fn is_287_nop(c: Code) -> bool {
    matches!(
        c,
        Code::Fneni | Code::Feni | Code::Fndisi | Code::Fdisi | Code::Fnsetpm | Code::Fsetpm
    )
}
