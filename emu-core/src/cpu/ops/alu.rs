//! Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST,
//! INC, DEC, NEG, NOT (Intel SDM vol. 2). Flags are recorded lazily.

use super::{is_mem, mask, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic, OpKind};

const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;
const CMP: u8 = 7;
const TEST: u8 = 8;

/// Where the second operand comes from.
const SRC_REG: u8 = 0;
const SRC_MEM: u8 = 1;
const SRC_IMM: u8 = 2;

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    let w = width(i, 0);
    let mem = is_mem(i, 0);
    match i.mnemonic() {
        Mnemonic::Add => binary::<ADD>(i, w, mem),
        Mnemonic::Or => binary::<OR>(i, w, mem),
        Mnemonic::Adc => binary::<ADC>(i, w, mem),
        Mnemonic::Sbb => binary::<SBB>(i, w, mem),
        Mnemonic::And => binary::<AND>(i, w, mem),
        Mnemonic::Sub => binary::<SUB>(i, w, mem),
        Mnemonic::Xor => binary::<XOR>(i, w, mem),
        Mnemonic::Cmp => binary::<CMP>(i, w, mem),
        Mnemonic::Test => binary::<TEST>(i, w, mem),
        Mnemonic::Inc => pick!(w, mem, incdec, false),
        Mnemonic::Dec => pick!(w, mem, incdec, true),
        Mnemonic::Neg => pick!(w, mem, neg),
        Mnemonic::Not => pick!(w, mem, not),
        _ => None,
    }
}

fn binary<const OP: u8>(i: &Instruction, w: u32, mem: bool) -> Option<Handler> {
    match i.op_kind(1) {
        OpKind::Register => pick!(w, mem, alu, OP, SRC_REG),
        OpKind::Memory => pick!(w, false, alu, OP, SRC_MEM),
        _ => pick!(w, mem, alu, OP, SRC_IMM),
    }
}

/// `dst = dst OP src` for the eight classic ALU operations and TEST.
fn alu<const W: u32, const MEM: bool, const OP: u8, const SRC: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let b = match SRC {
        SRC_REG => cpu.reg::<W>(op.src),
        SRC_MEM => cpu.read_src_rm::<W, true>(bus, op)?,
        _ => op.imm & mask::<W>(),
    };
    let writes = OP != CMP && OP != TEST;
    if MEM {
        let ea = cpu.ea(op);
        let lin = cpu.seg_check(op.seg, ea, W / 8, writes)?;
        let a = cpu.read_lin::<W>(bus, lin)?;
        let r = compute::<W, OP>(cpu, a, b);
        if writes {
            cpu.write_lin::<W>(bus, lin, r)?;
        }
        set_flags::<W, OP>(cpu, a, b, r);
    } else {
        let a = cpu.reg::<W>(op.dst);
        let r = compute::<W, OP>(cpu, a, b);
        if writes {
            cpu.set_reg::<W>(op.dst, r);
        }
        set_flags::<W, OP>(cpu, a, b, r);
    }
    Ok(())
}

#[inline(always)]
fn compute<const W: u32, const OP: u8>(cpu: &Cpu, a: u32, b: u32) -> u32 {
    match OP {
        ADD => a.wrapping_add(b),
        ADC => a.wrapping_add(b).wrapping_add(cpu.cf() as u32),
        SUB | CMP => a.wrapping_sub(b),
        SBB => a.wrapping_sub(b).wrapping_sub(cpu.cf() as u32),
        OR => a | b,
        AND | TEST => a & b,
        _ => a ^ b,
    }
}

#[inline(always)]
fn set_flags<const W: u32, const OP: u8>(cpu: &mut Cpu, a: u32, b: u32, r: u32) {
    match OP {
        ADD | ADC => cpu.flags_add(W, a, b, r),
        SUB | SBB | CMP => cpu.flags_sub(W, a, b, r),
        _ => cpu.flags_logic(W, r),
    }
}

/// INC and DEC: add or subtract one, leaving CF alone.
fn incdec<const W: u32, const MEM: bool, const DEC: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let step = |a: u32| {
        if DEC {
            a.wrapping_sub(1)
        } else {
            a.wrapping_add(1)
        }
    };
    if MEM {
        let lin = cpu.seg_check(op.seg, cpu.ea(op), W / 8, true)?;
        let a = cpu.read_lin::<W>(bus, lin)?;
        cpu.write_lin::<W>(bus, lin, step(a))?;
        cpu.flags_incdec(W, a, step(a), DEC);
    } else {
        let a = cpu.reg::<W>(op.dst);
        cpu.set_reg::<W>(op.dst, step(a));
        cpu.flags_incdec(W, a, step(a), DEC);
    }
    Ok(())
}

/// NEG: two's complement; CF is set unless the operand was zero.
fn neg<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    let r = 0u32.wrapping_sub(a);
    write_back::<W, MEM>(cpu, bus, op, lin, r)?;
    cpu.flags_sub(W, 0, a, r);
    Ok(())
}

/// NOT: one's complement; no flags change.
fn not<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    write_back::<W, MEM>(cpu, bus, op, lin, !a)
}

/// Reads the r/m operand of a read-modify-write instruction, checking up
/// front that it may be written. Returns its linear address (memory form).
#[inline(always)]
pub(crate) fn read_modify<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<(u32, u32)> {
    if MEM {
        let lin = cpu.seg_check(op.seg, cpu.ea(op), W / 8, true)?;
        Ok((lin, cpu.read_lin::<W>(bus, lin)?))
    } else {
        Ok((0, cpu.reg::<W>(op.dst)))
    }
}

/// Writes back the result of a read-modify-write instruction.
#[inline(always)]
pub(crate) fn write_back<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    lin: u32,
    v: u32,
) -> Result<()> {
    if MEM {
        cpu.write_lin::<W>(bus, lin, v)
    } else {
        cpu.set_reg::<W>(op.dst, v);
        Ok(())
    }
}
