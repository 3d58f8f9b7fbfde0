//! The stack: PUSH, POP (registers, memory, immediates, segment registers),
//! PUSHA/POPA, PUSHF/POPF, ENTER, LEAVE.

use super::{is_mem, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::{flags, reg, Cpu, SegReg};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    // The stack-pointer change gives the operand size of every form.
    let w = i.stack_pointer_increment().unsigned_abs() * 8;
    let w16 = w == 16;
    match i.mnemonic() {
        Mnemonic::Push => match i.op_kind(0) {
            OpKind::Register if i.op0_register().is_segment_register() => Some(if w16 {
                push_sreg::<16>
            } else {
                push_sreg::<32>
            }),
            OpKind::Register => Some(if w16 { push_reg::<16> } else { push_reg::<32> }),
            OpKind::Memory => Some(if w16 { push_mem::<16> } else { push_mem::<32> }),
            _ => Some(if w16 { push_imm::<16> } else { push_imm::<32> }),
        },
        Mnemonic::Pop => match i.op_kind(0) {
            OpKind::Register if i.op0_register().is_segment_register() => {
                Some(if w16 { pop_sreg::<16> } else { pop_sreg::<32> })
            }
            OpKind::Register => Some(if w16 { pop_reg::<16> } else { pop_reg::<32> }),
            _ if is_mem(i, 0) && width(i, 0) == w => {
                Some(if w16 { pop_mem::<16> } else { pop_mem::<32> })
            }
            _ => None,
        },
        Mnemonic::Pusha => Some(pusha::<16>),
        Mnemonic::Pushad => Some(pusha::<32>),
        Mnemonic::Popa => Some(popa::<16>),
        Mnemonic::Popad => Some(popa::<32>),
        Mnemonic::Pushf => Some(pushf::<16>),
        Mnemonic::Pushfd => Some(pushf::<32>),
        Mnemonic::Popf => Some(popf::<16>),
        Mnemonic::Popfd => Some(popf::<32>),
        Mnemonic::Enter => Some(if width_of_frame(i) == 16 {
            enter::<16>
        } else {
            enter::<32>
        }),
        Mnemonic::Leave => Some(if width_of_frame(i) == 16 {
            leave::<16>
        } else {
            leave::<32>
        }),
        _ => None,
    }
}

/// ENTER/LEAVE operand size: from the iced code name's suffix via the
/// memory size of their implicit stack accesses.
fn width_of_frame(i: &Instruction) -> u32 {
    use iced_x86::Code::*;
    match i.code() {
        Enterw_imm16_imm8 | Leavew => 16,
        _ => 32,
    }
}

fn push_reg<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    // PUSH (E)SP pushes the value from before the push (286 and later).
    let v = cpu.reg::<W>(op.dst);
    cpu.push::<W>(bus, v)
}

fn push_imm<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    cpu.push::<W>(bus, op.imm)
}

fn push_mem<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let ea = cpu.ea(op);
    let v = cpu.read::<W>(bus, op.seg, ea)?;
    cpu.push::<W>(bus, v)
}

/// PUSH Sreg: with a 32-bit operand size the stack pointer moves by 4 but
/// only the low 16 bits are written, as P6 and later processors do.
fn push_sreg<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let sel = cpu.segs[op.dst as usize % 6].selector as u32;
    let sp = cpu.stack_sub(W / 8);
    cpu.write::<16>(bus, SegReg::SS as u8, sp, sel)?;
    if W == 32 {
        // The whole slot must be writable even though only 16 bits change.
        cpu.seg_check(SegReg::SS as u8, sp, 4, true)?;
    }
    cpu.set_sp(sp);
    Ok(())
}

fn pop_reg<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = cpu.pop::<W>(bus)?;
    cpu.set_reg::<W>(op.dst, v);
    Ok(())
}

/// POP r/m: an ESP-based address is computed after ESP has been incremented
/// (SDM vol. 2, POP).
fn pop_mem<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let old = cpu.regs[reg::ESP];
    let v = cpu.pop::<W>(bus)?;
    let ea = cpu.ea(op);
    if let Err(e) = cpu.write::<W>(bus, op.seg, ea, v) {
        cpu.regs[reg::ESP] = old;
        return Err(e);
    }
    Ok(())
}

/// POP Sreg: POP SS holds off interrupts for one instruction.
fn pop_sreg<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let seg = SegReg::from_index(op.dst)
        .filter(|&s| s != SegReg::CS)
        .ok_or(Exception::ud())?;
    let sel = cpu.stack_peek::<16>(bus, 0)?;
    cpu.seg_check(SegReg::SS as u8, cpu.sp(), W / 8, false)?;
    cpu.load_segment(bus, seg, sel as u16)?;
    cpu.set_sp(cpu.sp().wrapping_add(W / 8));
    if seg == SegReg::SS {
        cpu.irq_shadow = true;
    }
    Ok(())
}

/// PUSHA/PUSHAD: AX, CX, DX, BX, the original SP, BP, SI, DI.
fn pusha<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let saved = cpu.regs[reg::ESP];
    let values: [u32; 8] = std::array::from_fn(|r| cpu.reg::<W>(r as u8));
    for v in values {
        if let Err(e) = cpu.push::<W>(bus, v) {
            cpu.regs[reg::ESP] = saved;
            return Err(e);
        }
    }
    Ok(())
}

/// POPA/POPAD: DI, SI, BP, (SP skipped), BX, DX, CX, AX.
fn popa<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let mut values = [0u32; 8];
    for (n, v) in values.iter_mut().enumerate() {
        *v = cpu.stack_peek::<W>(bus, (7 - n as u32) * (W / 8))?;
    }
    for (r, &v) in values.iter().enumerate() {
        if r != reg::ESP {
            cpu.set_reg::<W>(r as u8, v);
        }
    }
    cpu.set_sp(cpu.sp().wrapping_add(W));
    Ok(())
}

/// PUSHF/PUSHFD: the pushed image has VM and RF clear (SDM vol. 2, PUSHF).
/// In V86 mode with IOPL < 3 it faults (#GP(0)) unless CR4.VME applies.
fn pushf<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.v86_mode() && cpu.iopl() < 3 {
        return cpu.v86_pushf::<W>(bus);
    }
    let f = cpu.eflags() & !(flags::VM | flags::RF);
    cpu.push::<W>(bus, f)
}

/// POPF/POPFD: which bits change depends on the mode, CPL and IOPL
/// (SDM vol. 2, POPF, table "Effects of POPF").
fn popf<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    if cpu.v86_mode() && cpu.iopl() < 3 {
        return cpu.v86_popf::<W>(bus);
    }
    let v = cpu.stack_peek::<W>(bus, 0)?;
    cpu.write_flags_from_guest(v, W);
    cpu.set_sp(cpu.sp().wrapping_add(W / 8));
    Ok(())
}

/// ENTER size, level: make a stack frame, copying `level - 1` outer frame
/// pointers (SDM vol. 2, ENTER, nesting levels 0–31).
fn enter<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let size = op.imm & 0xFFFF;
    let level = op.imm2 & 31;
    let saved_esp = cpu.regs[reg::ESP];
    let result = (|| {
        let bp = cpu.reg::<W>(reg::EBP as u8);
        cpu.push::<W>(bus, bp)?;
        let frame = cpu.sp();
        if level > 0 {
            let bp_mask = cpu.sp_mask();
            let mut p = cpu.regs[reg::EBP] & bp_mask;
            for _ in 1..level {
                p = p.wrapping_sub(W / 8) & bp_mask;
                let v = cpu.read::<W>(bus, SegReg::SS as u8, p)?;
                cpu.push::<W>(bus, v)?;
            }
            cpu.push::<W>(bus, frame)?;
        }
        let new_sp = cpu.sp().wrapping_sub(size) & cpu.sp_mask();
        // The whole new frame must be addressable (the last byte is checked).
        if size > 0 {
            cpu.seg_check(SegReg::SS as u8, new_sp, 1, true)?;
        }
        Ok((frame, new_sp))
    })();
    match result {
        Ok((frame, new_sp)) => {
            cpu.set_reg::<W>(reg::EBP as u8, frame);
            cpu.set_sp(new_sp);
            Ok(())
        }
        Err(e) => {
            cpu.regs[reg::ESP] = saved_esp;
            Err(e)
        }
    }
}

/// LEAVE: SP = BP, then pop BP.
fn leave<const W: u32>(cpu: &mut Cpu, bus: &mut dyn Bus, _: &Op) -> Result<()> {
    let sp = cpu.regs[reg::EBP] & cpu.sp_mask();
    let v = cpu.read::<W>(bus, SegReg::SS as u8, sp)?;
    cpu.set_sp(sp.wrapping_add(W / 8));
    cpu.set_reg::<W>(reg::EBP as u8, v);
    Ok(())
}
