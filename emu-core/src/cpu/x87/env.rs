//! Control instructions and state save/restore: FINIT/FNINIT, FCLEX/FNCLEX,
//! FSTSW/FNSTSW, FSTCW/FNSTCW, FLDCW, FSTENV/FNSTENV, FLDENV, FSAVE/FNSAVE,
//! FRSTOR (each in the four layouts: 16/32-bit operand size × real/protected
//! mode, SDM vol. 1, 8.1.10), FXSAVE/FXRSTOR, and WAIT/FWAIT.
//!
//! None of these updates the last-instruction pointers; the FN forms do
//! not check for pending exceptions.

use super::float::F80;
use super::{enter, pending};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result, NM};
use crate::cpu::{cr0, reg, Cpu};
use iced_x86::{Instruction, MemorySize, Mnemonic};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let w32 = matches!(
        i.memory_size(),
        MemorySize::FpuEnv28 | MemorySize::FpuState108
    );
    let mem = super::has_mem(i);
    Some(match i.mnemonic() {
        Finit => finit::<true>,
        Fninit => finit::<false>,
        Fclex => fclex::<true>,
        Fnclex => fclex::<false>,
        Fstsw if mem => fstsw::<true, true>,
        Fstsw => fstsw::<true, false>,
        Fnstsw if mem => fstsw::<false, true>,
        Fnstsw => fstsw::<false, false>,
        Fstcw => fstcw::<true>,
        Fnstcw => fstcw::<false>,
        Fldcw => fldcw,
        Fstenv if w32 => fstenv::<true, true, false>,
        Fstenv => fstenv::<true, false, false>,
        Fnstenv if w32 => fstenv::<false, true, false>,
        Fnstenv => fstenv::<false, false, false>,
        Fsave if w32 => fstenv::<true, true, true>,
        Fsave => fstenv::<true, false, true>,
        Fnsave if w32 => fstenv::<false, true, true>,
        Fnsave => fstenv::<false, false, true>,
        Fldenv if w32 => fldenv::<true, false>,
        Fldenv => fldenv::<false, false>,
        Frstor if w32 => fldenv::<true, true>,
        Frstor => fldenv::<false, true>,
        Fxsave => fxsave,
        Fxrstor => fxrstor,
        _ => return None,
    })
}

/// Enters a control instruction: #NM, and for the waiting forms the pending
/// exception check. Returns early from the handler when frozen.
macro_rules! control_enter {
    ($cpu:expr, $op:expr, $wait:expr) => {
        if !enter($cpu, $op, $wait)? {
            return Ok(());
        }
    };
}

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set; then any pending
/// unmasked exception is reported (#MF, or FERR#).
pub fn fwait(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    if cpu.cr0 & (cr0::MP | cr0::TS) == cr0::MP | cr0::TS {
        return Err(Exception::new(NM));
    }
    if cpu.fpu.error_pending() {
        pending(cpu, op)?;
    }
    Ok(())
}

fn finit<const WAIT: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    control_enter!(cpu, op, WAIT);
    cpu.fpu.init();
    Ok(())
}

fn fclex<const WAIT: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    control_enter!(cpu, op, WAIT);
    cpu.fpu.clear_exceptions();
    Ok(())
}

/// FSTSW m16 (`MEM`) or AX.
fn fstsw<const WAIT: bool, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    control_enter!(cpu, op, WAIT);
    let sw = cpu.fpu.status_word();
    if MEM {
        cpu.fpu_write(bus, op, 0, &sw.to_le_bytes())
    } else {
        cpu.set_reg16(reg::EAX as u8, sw);
        Ok(())
    }
}

fn fstcw<const WAIT: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_enter!(cpu, op, WAIT);
    let cw = cpu.fpu.control_word();
    cpu.fpu_write(bus, op, 0, &cw.to_le_bytes())
}

/// FLDCW: a newly unmasked exception whose flag is set becomes pending.
fn fldcw(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    control_enter!(cpu, op, true);
    let cw = cpu.fpu_read16(bus, op)?;
    cpu.fpu.set_control_word(cw);
    Ok(())
}

/// The real-mode layouts hold 20-bit (16-bit form) or 32-bit linear
/// instruction and data addresses.
fn real_format(cpu: &Cpu) -> bool {
    !cpu.protected_mode() || cpu.v86_mode()
}

/// The environment image (14 or 28 bytes) in the current mode's layout.
pub(crate) fn env_image(cpu: &Cpu, w32: bool) -> Vec<u8> {
    let f = &cpu.fpu;
    let (cw, sw, tw) = (f.control_word(), f.status_word(), f.tag_word());
    let fop = f.fop as u32 & 0x7FF;
    let mut out = Vec::with_capacity(28);
    let real = real_format(cpu);
    if w32 {
        let hi = 0xFFFF_0000u32;
        let words: [u32; 7] = if real {
            let ip = ((f.fcs as u32) << 4).wrapping_add(f.fip);
            let dp = ((f.fds as u32) << 4).wrapping_add(f.fdp);
            [
                hi | cw as u32,
                hi | sw as u32,
                hi | tw as u32,
                hi | (ip & 0xFFFF),
                (ip >> 16) << 12 | fop,
                hi | (dp & 0xFFFF),
                (dp >> 16) << 12,
            ]
        } else {
            [
                hi | cw as u32,
                hi | sw as u32,
                hi | tw as u32,
                f.fip,
                f.fcs as u32 | fop << 16,
                f.fdp,
                hi | f.fds as u32,
            ]
        };
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    } else {
        let words: [u16; 7] = if real {
            let ip = ((f.fcs as u32) << 4).wrapping_add(f.fip);
            let dp = ((f.fds as u32) << 4).wrapping_add(f.fdp);
            [
                cw,
                sw,
                tw,
                ip as u16,
                ((ip >> 16) as u16 & 0xF) << 12 | fop as u16,
                dp as u16,
                ((dp >> 16) as u16 & 0xF) << 12,
            ]
        } else {
            [cw, sw, tw, f.fip as u16, f.fcs, f.fdp as u16, f.fds]
        };
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

/// Loads an environment image.
pub(crate) fn load_env(cpu: &mut Cpu, b: &[u8], w32: bool) {
    let real = real_format(cpu);
    let word = |n: usize| -> u32 {
        if w32 {
            u32::from_le_bytes(b[4 * n..4 * n + 4].try_into().unwrap_or([0; 4]))
        } else {
            u16::from_le_bytes([b[2 * n], b[2 * n + 1]]) as u32
        }
    };
    let f = &mut cpu.fpu;
    f.set_control_word(word(0) as u16);
    f.set_status_word(word(1) as u16);
    f.set_tag_word(word(2) as u16);
    if real {
        let (ip_lo, ip_hi, dp_lo, dp_hi) = (word(3), word(4), word(5), word(6));
        let (ip, dp) = if w32 {
            (
                (ip_lo & 0xFFFF) | (ip_hi >> 12 & 0xFFFF) << 16,
                (dp_lo & 0xFFFF) | (dp_hi >> 12 & 0xFFFF) << 16,
            )
        } else {
            (ip_lo | (ip_hi >> 12) << 16, dp_lo | (dp_hi >> 12) << 16)
        };
        f.fip = ip;
        f.fcs = 0;
        f.fdp = dp;
        f.fds = 0;
        f.fop = (ip_hi & 0x7FF) as u16;
    } else if w32 {
        f.fip = word(3);
        f.fcs = word(4) as u16;
        f.fop = (word(4) >> 16) as u16 & 0x7FF;
        f.fdp = word(5);
        f.fds = word(6) as u16;
    } else {
        f.fip = word(3);
        f.fcs = word(4) as u16;
        f.fdp = word(5);
        f.fds = word(6) as u16;
    }
}

/// FSTENV/FNSTENV (then all exceptions are masked) and, with `SAVE`,
/// FSAVE/FNSAVE (the environment and ST(0)–ST(7), then FNINIT).
fn fstenv<const WAIT: bool, const W32: bool, const SAVE: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    control_enter!(cpu, op, WAIT);
    let mut image = env_image(cpu, W32);
    if SAVE {
        for i in 0..8 {
            image.extend_from_slice(&cpu.fpu.st(i).to_bytes());
        }
    }
    cpu.fpu_write(bus, op, 0, &image)?;
    if SAVE {
        cpu.fpu.init();
    } else {
        let cw = cpu.fpu.control_word();
        cpu.fpu.set_control_word(cw | 0x3F);
    }
    Ok(())
}

/// FLDENV and, with `RSTOR`, FRSTOR.
fn fldenv<const W32: bool, const RSTOR: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    control_enter!(cpu, op, true);
    let len = if W32 { 28 } else { 14 };
    let mut image = vec![0u8; len + if RSTOR { 80 } else { 0 }];
    cpu.fpu_read(bus, op, 0, &mut image)?;
    load_env(cpu, &image, W32);
    if RSTOR {
        for i in 0..8u8 {
            let at = len + 10 * i as usize;
            let v = F80::from_bytes(image[at..at + 10].try_into().unwrap_or([0; 10]));
            let p = cpu.fpu.phys(i);
            cpu.fpu.regs[p] = v;
        }
    }
    Ok(())
}

/// The 16-byte alignment FXSAVE and FXRSTOR require (#GP(0) otherwise).
fn fx_check(cpu: &mut Cpu, op: &Op) -> Result<()> {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Exception::new(NM));
    }
    let lin = cpu.segs[op.seg as usize % 6].base.wrapping_add(cpu.ea(op));
    if lin & 15 != 0 {
        return Err(Exception::gp(0));
    }
    Ok(())
}

/// FXSAVE m512: the x87/MMX part of the image (bytes 0–159); this CPU has
/// no SSE state, so MXCSR reads as zero and the XMM area is left alone.
fn fxsave(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    fx_check(cpu, op)?;
    let f = &cpu.fpu;
    let mut b = vec![0u8; 160];
    b[0..2].copy_from_slice(&f.control_word().to_le_bytes());
    b[2..4].copy_from_slice(&f.status_word().to_le_bytes());
    b[4] = f.abridged_tag();
    b[6..8].copy_from_slice(&(f.fop & 0x7FF).to_le_bytes());
    b[8..12].copy_from_slice(&f.fip.to_le_bytes());
    b[12..14].copy_from_slice(&f.fcs.to_le_bytes());
    b[16..20].copy_from_slice(&f.fdp.to_le_bytes());
    b[20..22].copy_from_slice(&f.fds.to_le_bytes());
    for i in 0..8u8 {
        let at = 32 + 16 * i as usize;
        b[at..at + 10].copy_from_slice(&f.st(i).to_bytes());
    }
    cpu.fpu_write(bus, op, 0, &b)
}

/// FXRSTOR m512.
fn fxrstor(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    fx_check(cpu, op)?;
    let mut b = vec![0u8; 160];
    cpu.fpu_read(bus, op, 0, &mut b)?;
    let w16 = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let w32 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
    let f = &mut cpu.fpu;
    f.set_control_word(w16(0));
    f.set_status_word(w16(2));
    f.set_abridged_tag(b[4]);
    f.fop = w16(6) & 0x7FF;
    f.fip = w32(8);
    f.fcs = w16(12);
    f.fdp = w32(16);
    f.fds = w16(20);
    for i in 0..8u8 {
        let at = 32 + 16 * i as usize;
        let v = F80::from_bytes(b[at..at + 10].try_into().unwrap_or([0; 10]));
        let p = f.phys(i);
        f.regs[p] = v;
    }
    Ok(())
}
