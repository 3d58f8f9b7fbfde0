//! Data movement: MOV (general and segment registers), MOVZX/MOVSX, XCHG,
//! LEA, CBW/CWDE/CWD/CDQ, LAHF/SAHF, XLAT, CMOVcc, SETcc, BSWAP, LDS/LES/LFS/
//! LGS/LSS, XADD, CMPXCHG, CMPXCHG8B, SALC.

use super::alu::{read_modify, write_back};
use super::{cc_of, is_mem, mask, sext, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{AF, CF, PF, SF, ZF};
use crate::cpu::{reg, Cpu, SegReg};
use iced_x86::{Code, Instruction, Mnemonic, OpKind};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    let w = width(i, 0);
    let mem0 = is_mem(i, 0);
    let mem1 = i.op_count() > 1 && is_mem(i, 1);
    match i.mnemonic() {
        Mnemonic::Mov => {
            let (r0, r1) = (
                i.op_register(0),
                if i.op_count() > 1 {
                    i.op_register(1)
                } else {
                    iced_x86::Register::None
                },
            );
            if r0.is_segment_register() {
                return if mem1 {
                    Some(mov_sreg::<true>)
                } else {
                    Some(mov_sreg::<false>)
                };
            }
            if r1.is_segment_register() {
                return pick!(w, mem0, mov_from_sreg);
            }
            if r0.is_cr() || r0.is_dr() || r1.is_cr() || r1.is_dr() {
                return None; // system instructions
            }
            match i.op_kind(1) {
                OpKind::Register => pick!(w, mem0, mov_rm_reg),
                OpKind::Memory => pick!(w, true, mov_reg_rm),
                _ => pick!(w, mem0, mov_rm_imm),
            }
        }
        Mnemonic::Movzx => extend(w, width(i, 1), mem1, false),
        Mnemonic::Movsx => extend(w, width(i, 1), mem1, true),
        Mnemonic::Xchg => pick!(w, mem0, xchg),
        Mnemonic::Lea => match w {
            16 => Some(lea::<16>),
            _ => Some(lea::<32>),
        },
        Mnemonic::Cbw => Some(cbw::<16>),
        Mnemonic::Cwde => Some(cbw::<32>),
        Mnemonic::Cwd => Some(cwd::<16>),
        Mnemonic::Cdq => Some(cwd::<32>),
        Mnemonic::Lahf => Some(lahf),
        Mnemonic::Sahf => Some(sahf),
        Mnemonic::Xlatb => Some(xlat),
        Mnemonic::Salc => Some(salc),
        Mnemonic::Bswap => Some(bswap),
        m if is_setcc(m) => pick_cc!(8, mem0, setcc, cc_of(i)),
        m if is_cmovcc(m) => pick_cc!(w, mem1, cmovcc, cc_of(i)),
        Mnemonic::Lds => far_load(w, SegReg::DS),
        Mnemonic::Les => far_load(w, SegReg::ES),
        Mnemonic::Lfs => far_load(w, SegReg::FS),
        Mnemonic::Lgs => far_load(w, SegReg::GS),
        Mnemonic::Lss => far_load(w, SegReg::SS),
        Mnemonic::Xadd => pick!(w, mem0, xadd),
        Mnemonic::Cmpxchg => pick!(w, mem0, cmpxchg),
        Mnemonic::Cmpxchg8b if i.code() == Code::Cmpxchg8b_m64 => Some(cmpxchg8b),
        _ => None,
    }
}

fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Seto | Setno
            | Setb
            | Setae
            | Sete
            | Setne
            | Setbe
            | Seta
            | Sets
            | Setns
            | Setp
            | Setnp
            | Setl
            | Setge
            | Setle
            | Setg
    )
}

fn is_cmovcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Cmovo
            | Cmovno
            | Cmovb
            | Cmovae
            | Cmove
            | Cmovne
            | Cmovbe
            | Cmova
            | Cmovs
            | Cmovns
            | Cmovp
            | Cmovnp
            | Cmovl
            | Cmovge
            | Cmovle
            | Cmovg
    )
}

fn mov_rm_reg<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.reg::<W>(op.src);
    cpu.write_rm::<W, MEM>(bus, op, v)
}

fn mov_reg_rm<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.read_src_rm::<W, MEM>(bus, op)?;
    cpu.set_reg::<W>(op.dst, v);
    Ok(())
}

fn mov_rm_imm<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    cpu.write_rm::<W, MEM>(bus, op, op.imm)
}

/// MOV Sreg, r/m16. MOV CS is #UD; MOV SS holds off interrupts for one
/// instruction (SDM vol. 2, MOV: "loading the SS register with a MOV
/// instruction suppresses or inhibits some debug exceptions and interrupts").
fn mov_sreg<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let seg = SegReg::from_index(op.dst)
        .filter(|&s| s != SegReg::CS)
        .ok_or(Exception::ud())?;
    let sel = cpu.read_src_rm::<16, MEM>(bus, op)? as u16;
    cpu.load_segment(bus, seg, sel)?;
    if seg == SegReg::SS {
        cpu.irq_shadow = true;
    }
    Ok(())
}

/// MOV r/m, Sreg: a 32-bit register destination gets the selector
/// zero-extended (P6 and later); a memory destination is always 16 bits.
fn mov_from_sreg<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let seg = SegReg::from_index(op.src).ok_or(Exception::ud())?;
    let sel = cpu.seg_selector(seg) as u32;
    if MEM {
        cpu.write_rm::<16, true>(bus, op, sel)
    } else {
        cpu.set_reg::<W>(op.dst, sel);
        Ok(())
    }
}

fn extend(w: u32, from: u32, mem: bool, signed: bool) -> Option<Handler> {
    match (w, from, mem, signed) {
        (16, 8, false, false) => Some(movx::<16, 8, false, false>),
        (16, 8, true, false) => Some(movx::<16, 8, true, false>),
        (32, 8, false, false) => Some(movx::<32, 8, false, false>),
        (32, 8, true, false) => Some(movx::<32, 8, true, false>),
        (32, 16, false, false) => Some(movx::<32, 16, false, false>),
        (32, 16, true, false) => Some(movx::<32, 16, true, false>),
        (16, 16, false, false) => Some(movx::<16, 16, false, false>),
        (16, 16, true, false) => Some(movx::<16, 16, true, false>),
        (16, 8, false, true) => Some(movx::<16, 8, false, true>),
        (16, 8, true, true) => Some(movx::<16, 8, true, true>),
        (32, 8, false, true) => Some(movx::<32, 8, false, true>),
        (32, 8, true, true) => Some(movx::<32, 8, true, true>),
        (32, 16, false, true) => Some(movx::<32, 16, false, true>),
        (32, 16, true, true) => Some(movx::<32, 16, true, true>),
        (16, 16, false, true) => Some(movx::<16, 16, false, true>),
        (16, 16, true, true) => Some(movx::<16, 16, true, true>),
        _ => None,
    }
}

/// MOVZX / MOVSX: widen a `F`-bit source into a `W`-bit register.
fn movx<const W: u32, const F: u32, const MEM: bool, const SIGNED: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.read_src_rm::<F, MEM>(bus, op)?;
    let v = if SIGNED { sext::<F>(v) } else { v };
    cpu.set_reg::<W>(op.dst, v);
    Ok(())
}

fn xchg<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    let b = cpu.reg::<W>(op.src);
    write_back::<W, MEM>(cpu, bus, op, lin, b)?;
    cpu.set_reg::<W>(op.src, a);
    Ok(())
}

/// LEA: the offset, truncated or zero-extended to the operand size.
fn lea<const W: u32>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let ea = cpu.ea(op);
    cpu.set_reg::<W>(op.dst, ea);
    Ok(())
}

/// CBW / CWDE: sign-extend the low half of the accumulator.
fn cbw<const W: u32>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let v = sext::<8>(cpu.regs[reg::EAX]);
    if W == 16 {
        cpu.set_reg::<16>(0, v);
    } else {
        cpu.regs[reg::EAX] = sext::<16>(cpu.regs[reg::EAX]);
    }
    Ok(())
}

/// CWD / CDQ: fill DX/EDX with the sign of AX/EAX.
fn cwd<const W: u32>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let neg = cpu.reg::<W>(reg::EAX as u8) & (1 << (W - 1)) != 0;
    cpu.set_reg::<W>(reg::EDX as u8, if neg { u32::MAX } else { 0 });
    Ok(())
}

/// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
fn lahf(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let f = cpu.eflags() as u8;
    cpu.set_reg8(4, f);
    Ok(())
}

/// SAHF: SF, ZF, AF, PF, CF from AH.
fn sahf(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let ah = cpu.reg8(4) as u32;
    let bits = SF | ZF | AF | PF | CF;
    cpu.commit_flags();
    let f = (cpu.eflags() & !bits) | (ah & bits);
    cpu.set_eflags(f);
    Ok(())
}

/// XLAT: AL = [seg:(E)BX + AL].
fn xlat(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let off = cpu.regs[reg::EBX].wrapping_add(cpu.reg8(0) as u32);
    let off = if op.addr32 { off } else { off & 0xFFFF };
    let v = cpu.read::<8>(bus, op.seg, off)?;
    cpu.set_reg8(0, v as u8);
    Ok(())
}

/// SALC (undocumented D6): AL = CF ? FF : 00.
fn salc(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let v = if cpu.cf() { 0xFF } else { 0 };
    cpu.set_reg8(0, v);
    Ok(())
}

fn bswap(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let r = op.dst as usize & 7;
    cpu.regs[r] = cpu.regs[r].swap_bytes();
    Ok(())
}

fn setcc<const W: u32, const MEM: bool, const CC: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.condition(CC) as u32;
    cpu.write_rm::<8, MEM>(bus, op, v)
}

/// CMOVcc: the source is read (and may fault) even when the condition is false.
fn cmovcc<const W: u32, const MEM: bool, const CC: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.read_src_rm::<W, MEM>(bus, op)?;
    if cpu.condition(CC) {
        cpu.set_reg::<W>(op.dst, v);
    } else if W == 32 {
        // A 32-bit destination is written (upper half unchanged here anyway).
        cpu.set_reg::<W>(op.dst, cpu.reg::<W>(op.dst));
    }
    Ok(())
}

fn far_load(w: u32, seg: SegReg) -> Option<Handler> {
    match (w, seg) {
        (16, SegReg::DS) => Some(lxs::<16, 3>),
        (16, SegReg::ES) => Some(lxs::<16, 0>),
        (16, SegReg::FS) => Some(lxs::<16, 4>),
        (16, SegReg::GS) => Some(lxs::<16, 5>),
        (16, SegReg::SS) => Some(lxs::<16, 2>),
        (32, SegReg::DS) => Some(lxs::<32, 3>),
        (32, SegReg::ES) => Some(lxs::<32, 0>),
        (32, SegReg::FS) => Some(lxs::<32, 4>),
        (32, SegReg::GS) => Some(lxs::<32, 5>),
        (32, SegReg::SS) => Some(lxs::<32, 2>),
        _ => None,
    }
}

/// LDS/LES/LFS/LGS/LSS: load a far pointer (offset, then selector).
fn lxs<const W: u32, const SEG: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ea = cpu.ea(op);
    let off = cpu.read::<W>(bus, op.seg, ea)?;
    let sel = cpu.read::<16>(
        bus,
        op.seg,
        ea.wrapping_add(W / 8) & if op.addr32 { u32::MAX } else { 0xFFFF },
    )?;
    let seg = SegReg::from_index(SEG).ok_or(Exception::ud())?;
    cpu.load_segment(bus, seg, sel as u16)?;
    cpu.set_reg::<W>(op.dst, off);
    if seg == SegReg::SS {
        cpu.irq_shadow = true;
    }
    Ok(())
}

/// XADD: exchange, then add; flags as for ADD.
fn xadd<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    let b = cpu.reg::<W>(op.src);
    let r = a.wrapping_add(b);
    write_back::<W, MEM>(cpu, bus, op, lin, r)?;
    cpu.set_reg::<W>(op.src, a);
    if !MEM && op.src == op.dst {
        cpu.set_reg::<W>(op.dst, r);
    }
    cpu.flags_add(W, a, b, r);
    Ok(())
}

/// CMPXCHG: compare the accumulator with r/m; if equal store the source,
/// else load r/m into the accumulator. The destination is always written
/// (with its old value on failure), as the locked bus cycle does.
fn cmpxchg<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (lin, d) = read_modify::<W, MEM>(cpu, bus, op)?;
    let acc = cpu.reg::<W>(0);
    let r = acc.wrapping_sub(d);
    if acc & mask::<W>() == d {
        let s = cpu.reg::<W>(op.src);
        write_back::<W, MEM>(cpu, bus, op, lin, s)?;
    } else {
        write_back::<W, MEM>(cpu, bus, op, lin, d)?;
        cpu.set_reg::<W>(0, d);
    }
    cpu.flags_sub(W, acc, d, r);
    Ok(())
}

/// CMPXCHG8B m64: compare EDX:EAX with the quadword; if equal store ECX:EBX
/// and set ZF, else load it into EDX:EAX and clear ZF.
fn cmpxchg8b(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ea = cpu.ea(op);
    let lo_lin = cpu.seg_check(op.seg, ea, 8, true)?;
    let lo = cpu.read_lin::<32>(bus, lo_lin)?;
    let hi = cpu.read_lin::<32>(bus, lo_lin.wrapping_add(4))?;
    let equal = lo == cpu.regs[reg::EAX] && hi == cpu.regs[reg::EDX];
    let (new_lo, new_hi) = if equal {
        (cpu.regs[reg::EBX], cpu.regs[reg::ECX])
    } else {
        (lo, hi)
    };
    cpu.write_lin::<32>(bus, lo_lin, new_lo)?;
    cpu.write_lin::<32>(bus, lo_lin.wrapping_add(4), new_hi)?;
    if !equal {
        cpu.regs[reg::EAX] = lo;
        cpu.regs[reg::EDX] = hi;
    }
    cpu.set_flag(ZF, equal);
    Ok(())
}
