//! Control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPE/LOOPNE, JCXZ/JECXZ,
//! INT n, INT3, INTO, INT1, IRET, BOUND, HLT.

use super::{cc_of, is_mem, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{self, Exception, Result, Source};
use crate::cpu::{reg, Cpu, SegReg};
use iced_x86::{Code, Instruction, Mnemonic, OpKind};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    // Operand size of a near transfer: what EIP is truncated to.
    let near16 = matches!(i.op_kind(0), OpKind::NearBranch16)
        || (is_mem(i, 0) || i.op_kind(0) == OpKind::Register) && width(i, 0) == 16;
    let w = if near16 { 16 } else { 32 };
    match i.mnemonic() {
        Jmp => match i.op_kind(0) {
            OpKind::NearBranch16 | OpKind::NearBranch32 => pick_w(w, jmp_rel::<16>, jmp_rel::<32>),
            OpKind::FarBranch16 => Some(jmp_far_ptr::<16>),
            OpKind::FarBranch32 => Some(jmp_far_ptr::<32>),
            OpKind::Register => pick_w(w, jmp_near_rm::<16, false>, jmp_near_rm::<32, false>),
            _ if is_far_mem(i) => pick_w(far_width(i), jmp_far_mem::<16>, jmp_far_mem::<32>),
            _ => pick_w(w, jmp_near_rm::<16, true>, jmp_near_rm::<32, true>),
        },
        Call => match i.op_kind(0) {
            OpKind::NearBranch16 | OpKind::NearBranch32 => {
                pick_w(w, call_rel::<16>, call_rel::<32>)
            }
            OpKind::FarBranch16 => Some(call_far_ptr::<16>),
            OpKind::FarBranch32 => Some(call_far_ptr::<32>),
            OpKind::Register => pick_w(w, call_near_rm::<16, false>, call_near_rm::<32, false>),
            _ if is_far_mem(i) => pick_w(far_width(i), call_far_mem::<16>, call_far_mem::<32>),
            _ => pick_w(w, call_near_rm::<16, true>, call_near_rm::<32, true>),
        },
        Ret => pick_w(ret_width(i), ret_near::<16>, ret_near::<32>),
        Retf => pick_w(ret_width(i), ret_far::<16>, ret_far::<32>),
        Loop | Loope | Loopne | Jcxz | Jecxz => lower_loop(i, w),
        Int => Some(int_n),
        Int3 => Some(int3),
        Into => Some(into),
        Int1 => Some(int1),
        Iret => Some(iret::<16>),
        Iretd => Some(iret::<32>),
        Bound => pick_w(width(i, 0), bound::<16>, bound::<32>),
        Hlt => Some(hlt),
        _ if i.is_jcc_short_or_near() => {
            let cc = cc_of(i);
            match w {
                16 => pick_cc!(16, false, jcc, cc),
                _ => pick_cc!(32, false, jcc, cc),
            }
        }
        _ => None,
    }
}

fn pick_w(w: u32, h16: Handler, h32: Handler) -> Option<Handler> {
    Some(if w == 16 { h16 } else { h32 })
}

fn is_far_mem(i: &Instruction) -> bool {
    matches!(
        i.code(),
        Code::Jmp_m1616 | Code::Jmp_m1632 | Code::Call_m1616 | Code::Call_m1632
    )
}

fn far_width(i: &Instruction) -> u32 {
    if matches!(i.code(), Code::Jmp_m1616 | Code::Call_m1616) {
        16
    } else {
        32
    }
}

fn ret_width(i: &Instruction) -> u32 {
    use Code::*;
    match i.code() {
        Retnw | Retnw_imm16 | Retfw | Retfw_imm16 => 16,
        _ => 32,
    }
}

/// LOOPcc/JCXZ: the counter is CX or ECX by the *address* size.
fn lower_loop(i: &Instruction, w: u32) -> Option<Handler> {
    use Code::*;
    let ecx = matches!(
        i.code(),
        Loopne_rel8_16_ECX
            | Loopne_rel8_32_ECX
            | Loope_rel8_16_ECX
            | Loope_rel8_32_ECX
            | Loop_rel8_16_ECX
            | Loop_rel8_32_ECX
            | Jecxz_rel8_16
            | Jecxz_rel8_32
    );
    let kind = match i.mnemonic() {
        Mnemonic::Loop => LOOP,
        Mnemonic::Loope => LOOPE,
        Mnemonic::Loopne => LOOPNE,
        _ => JCXZ,
    };
    macro_rules! k {
        ($kind:expr) => {
            match (w, ecx) {
                (16, false) => Some(loop_op::<16, false, $kind> as Handler),
                (16, true) => Some(loop_op::<16, true, $kind>),
                (_, false) => Some(loop_op::<32, false, $kind>),
                (_, true) => Some(loop_op::<32, true, $kind>),
            }
        };
    }
    match kind {
        LOOP => k!(LOOP),
        LOOPE => k!(LOOPE),
        LOOPNE => k!(LOOPNE),
        _ => k!(JCXZ),
    }
}

const LOOP: u8 = 0;
const LOOPE: u8 = 1;
const LOOPNE: u8 = 2;
const JCXZ: u8 = 3;

impl Cpu {
    /// A near transfer to `target` with operand size `W`: truncated to 16
    /// bits for W = 16, and #GP(0) past the CS limit.
    #[inline(always)]
    pub(crate) fn jump_near<const W: u32>(&mut self, target: u32) -> Result<()> {
        let target = if W == 16 { target & 0xFFFF } else { target };
        if target > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        self.eip = target;
        Ok(())
    }
}

fn jmp_rel<const W: u32>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.jump_near::<W>(cpu.eip.wrapping_add(op.imm))
}

fn jcc<const W: u32, const MEM: bool, const CC: u8>(
    cpu: &mut Cpu,
    _: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    if cpu.condition(CC) {
        cpu.jump_near::<W>(cpu.eip.wrapping_add(op.imm))
    } else {
        Ok(())
    }
}

fn jmp_near_rm<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let t = cpu.read_rm::<W, MEM>(bus, op)?;
    cpu.jump_near::<W>(t)
}

fn call_rel<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ret = cpu.eip;
    let target = ret.wrapping_add(op.imm);
    call_near::<W>(cpu, bus, ret, target)
}

fn call_near_rm<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let target = cpu.read_rm::<W, MEM>(bus, op)?;
    call_near::<W>(cpu, bus, cpu.eip, target)
}

/// Pushes the return address and jumps; nothing changes if either faults.
fn call_near<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, ret: u32, target: u32) -> Result<()> {
    let t = if W == 16 { target & 0xFFFF } else { target };
    if t > cpu.segs[SegReg::CS as usize].limit {
        return Err(Exception::gp(0));
    }
    cpu.push::<W>(bus, ret)?;
    cpu.eip = t;
    Ok(())
}

fn ret_near<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = cpu.stack_peek::<W>(bus, 0)?;
    cpu.jump_near::<W>(t)?;
    let sp = cpu.sp().wrapping_add(W / 8).wrapping_add(op.imm & 0xFFFF);
    cpu.set_sp(sp);
    Ok(())
}

fn jmp_far_ptr<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.far_jump::<W>(bus, op.imm2 as u16, op.imm)
}

fn call_far_ptr<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.far_call::<W>(bus, op.imm2 as u16, op.imm)
}

/// Reads an m16:16 or m16:32 far pointer.
fn far_pointer<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<(u16, u32)> {
    let ea = cpu.ea(op);
    let off = cpu.read::<W>(bus, op.seg, ea)?;
    let sel_at = ea.wrapping_add(W / 8) & if op.addr32 { u32::MAX } else { 0xFFFF };
    let sel = cpu.read::<16>(bus, op.seg, sel_at)?;
    Ok((sel as u16, off))
}

fn jmp_far_mem<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (sel, off) = far_pointer::<W>(cpu, bus, op)?;
    cpu.far_jump::<W>(bus, sel, off)
}

fn call_far_mem<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let (sel, off) = far_pointer::<W>(cpu, bus, op)?;
    cpu.far_call::<W>(bus, sel, off)
}

fn ret_far<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.far_return::<W>(bus, op.imm & 0xFFFF)
}

fn loop_op<const W: u32, const ECX: bool, const KIND: u8>(
    cpu: &mut Cpu,
    _: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let count_mask = if ECX { u32::MAX } else { 0xFFFF };
    let mut count = cpu.regs[reg::ECX] & count_mask;
    if KIND != JCXZ {
        count = count.wrapping_sub(1) & count_mask;
    }
    let taken = match KIND {
        LOOP => count != 0,
        LOOPE => count != 0 && cpu.zf(),
        LOOPNE => count != 0 && !cpu.zf(),
        _ => count == 0,
    };
    if taken {
        cpu.jump_near::<W>(cpu.eip.wrapping_add(op.imm))?;
    }
    if KIND != JCXZ {
        cpu.regs[reg::ECX] = (cpu.regs[reg::ECX] & !count_mask) | count;
    }
    Ok(())
}

fn int_n(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.software_interrupt(bus, op.imm as u8)
}

fn int3(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.deliver(bus, exception::BP, None, Source::Software)
}

fn into(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.of() {
        cpu.deliver(bus, exception::OF, None, Source::Software)
    } else {
        Ok(())
    }
}

/// INT1 (ICEBP, F1): a #DB trap delivered like an exception, not INT n.
fn int1(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.deliver(bus, exception::DB, None, Source::Exception)
}

fn iret<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    cpu.interrupt_return::<W>(bus)
}

/// BOUND r, m: #BR unless lower <= r <= upper (signed).
fn bound<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ea = cpu.ea(op);
    let lower = cpu.read::<W>(bus, op.seg, ea)?;
    let hi_at = ea.wrapping_add(W / 8) & if op.addr32 { u32::MAX } else { 0xFFFF };
    let upper = cpu.read::<W>(bus, op.seg, hi_at)?;
    let sx = |v: u32| super::sext::<W>(v) as i32;
    let idx = sx(cpu.reg::<W>(op.dst));
    if idx < sx(lower) || idx > sx(upper) {
        return Err(Exception::new(exception::BR));
    }
    Ok(())
}

/// HLT: privileged (#GP(0) above CPL 0); waits for an interrupt.
fn hlt(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.protected_mode() && cpu.cpl != 0 {
        return Err(Exception::gp(0));
    }
    cpu.halted = true;
    cpu.exit_block = true;
    Ok(())
}
