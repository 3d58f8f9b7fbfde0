//! Data transfer: FLD, FST, FSTP (m32/m64/m80/ST(i)), FILD, FIST, FISTP,
//! FBLD, FBSTP, the constants (FLD1, FLDZ, FLDPI, FLDL2E, FLDL2T, FLDLG2,
//! FLDLN2), FXCH, FFREE, FFREEP, FINCSTP, FDECSTP, FNOP.

use super::big::Big;
use super::float::{self, Env, F80};
use super::{convert, fmt, has_mem, is_287_nop, mem_format, state, sti, x87_enter, PushCheck};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let m = i.mnemonic();
    if has_mem(i) {
        let f = mem_format(i)?;
        return match m {
            Fld | Fild | Fbld => Some(match f {
                fmt::M32 => fld_mem::<{ fmt::M32 }>,
                fmt::M64 => fld_mem::<{ fmt::M64 }>,
                fmt::M80 => fld_mem::<{ fmt::M80 }>,
                fmt::I16 => fld_mem::<{ fmt::I16 }>,
                fmt::I32 => fld_mem::<{ fmt::I32 }>,
                fmt::I64 => fld_mem::<{ fmt::I64 }>,
                _ => fld_mem::<{ fmt::BCD }>,
            }),
            Fst | Fist => Some(match f {
                fmt::M32 => fst_mem::<{ fmt::M32 }, false>,
                fmt::M64 => fst_mem::<{ fmt::M64 }, false>,
                fmt::I16 => fst_mem::<{ fmt::I16 }, false>,
                fmt::I32 => fst_mem::<{ fmt::I32 }, false>,
                _ => return None,
            }),
            Fstp | Fistp | Fbstp => Some(match f {
                fmt::M32 => fst_mem::<{ fmt::M32 }, true>,
                fmt::M64 => fst_mem::<{ fmt::M64 }, true>,
                fmt::M80 => fst_mem::<{ fmt::M80 }, true>,
                fmt::I16 => fst_mem::<{ fmt::I16 }, true>,
                fmt::I32 => fst_mem::<{ fmt::I32 }, true>,
                fmt::I64 => fst_mem::<{ fmt::I64 }, true>,
                _ => fst_mem::<{ fmt::BCD }, true>,
            }),
            _ => None,
        };
    }
    match m {
        Fld => Some(fld_reg),
        Fst => Some(fst_reg::<false>),
        Fstp | Fstpnce => Some(fst_reg::<true>),
        Fld1 => Some(fld_const::<{ K_ONE }>),
        Fldz => Some(fld_const::<{ K_ZERO }>),
        Fldpi => Some(fld_const::<{ K_PI }>),
        Fldl2e => Some(fld_const::<{ K_L2E }>),
        Fldl2t => Some(fld_const::<{ K_L2T }>),
        Fldlg2 => Some(fld_const::<{ K_LG2 }>),
        Fldln2 => Some(fld_const::<{ K_LN2 }>),
        Fxch => Some(fxch),
        Ffree => Some(ffree::<false>),
        Ffreep => Some(ffree::<true>),
        Fincstp => Some(fstep::<1>),
        Fdecstp => Some(fstep::<7>),
        Fnop => Some(fnop),
        _ if is_287_nop(i.code()) => Some(fnop_nowait),
        _ => None,
    }
}

/// Pushes `v` after the stack-overflow check. Returns false if an unmasked
/// stack fault stopped the push.
pub(crate) fn push_checked(cpu: &mut Cpu, v: F80) -> bool {
    match cpu.fpu_check_push() {
        PushCheck::Ok => {
            cpu.fpu.push(v);
            cpu.fpu.set_cc(state::C1, 0);
            true
        }
        PushCheck::Indefinite => {
            cpu.fpu.push(F80::INDEFINITE);
            true
        }
        PushCheck::Fault => false,
    }
}

/// FLD m32fp/m64fp/m80fp, FILD m16/m32/m64int, FBLD m80bcd.
fn fld_mem<const FMT: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, true);
    let mut env = cpu.fpu_env();
    let v = match FMT {
        fmt::M32 => convert::from_f32(&mut env, cpu.fpu_read32(bus, op)?),
        fmt::M64 => convert::from_f64(&mut env, cpu.fpu_read64(bus, op)?),
        fmt::M80 => F80::from_bytes(cpu.fpu_read80(bus, op)?),
        fmt::I16 => float::int_to_f80(cpu.fpu_read16(bus, op)? as i16 as i64),
        fmt::I32 => float::int_to_f80(cpu.fpu_read32(bus, op)? as i32 as i64),
        fmt::I64 => float::int_to_f80(cpu.fpu_read64(bus, op)? as i64),
        _ => convert::from_bcd(cpu.fpu_read80(bus, op)?),
    };
    if !cpu.fpu.is_empty(7) {
        push_checked(cpu, v);
        return Ok(());
    }
    cpu.fpu.raise(env.flags);
    // An unmasked SNaN stops the load; an unmasked denormal does not.
    if env.unmasked(float::IE) {
        return Ok(());
    }
    push_checked(cpu, v);
    Ok(())
}

/// FLD ST(i).
fn fld_reg(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = sti(op.dst);
    if cpu.fpu.is_empty(i) {
        // Underflow (masked): the default NaN is pushed, whatever ST(7) holds.
        if cpu.fpu_underflow() {
            cpu.fpu.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    let v = cpu.fpu.st(i);
    push_checked(cpu, v);
    Ok(())
}

/// FST/FSTP m32fp/m64fp/m80fp, FIST/FISTP m16/m32/m64int, FBSTP m80bcd.
fn fst_mem<const FMT: u8, const POP: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    x87_enter!(cpu, op, true);
    let mut env = cpu.fpu_env();
    let empty = cpu.fpu.is_empty(0);
    let a = if empty {
        if !cpu.fpu_underflow() {
            return Ok(());
        }
        F80::INDEFINITE
    } else {
        cpu.fpu.st(0)
    };
    let bytes: Option<Vec<u8>> = match FMT {
        fmt::M32 => convert::to_f32(&mut env, a).map(|v| v.to_le_bytes().to_vec()),
        fmt::M64 => convert::to_f64(&mut env, a).map(|v| v.to_le_bytes().to_vec()),
        fmt::M80 => Some(a.to_bytes().to_vec()),
        fmt::I16 => convert::to_int(&mut env, a, 16).map(|v| (v as i16).to_le_bytes().to_vec()),
        fmt::I32 => convert::to_int(&mut env, a, 32).map(|v| (v as i32).to_le_bytes().to_vec()),
        fmt::I64 => convert::to_int(&mut env, a, 64).map(|v| v.to_le_bytes().to_vec()),
        _ => convert::to_bcd(&mut env, a).map(|v| v.to_vec()),
    };
    let Some(bytes) = bytes else {
        cpu.fpu_flags(&env);
        return Ok(());
    };
    cpu.fpu_write(bus, op, 0, &bytes)?;
    if !empty {
        cpu.fpu_flags(&env);
    }
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// FST/FSTP ST(i).
fn fst_reg<const POP: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = sti(op.dst);
    let v = if cpu.fpu.is_empty(0) {
        if !cpu.fpu_underflow() {
            return Ok(());
        }
        F80::INDEFINITE
    } else {
        cpu.fpu.set_cc(state::C1, 0);
        cpu.fpu.st(0)
    };
    cpu.fpu.set_st(i, v);
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

const K_ONE: u8 = 0;
const K_ZERO: u8 = 1;
const K_PI: u8 = 2;
const K_L2E: u8 = 3;
const K_L2T: u8 = 4;
const K_LG2: u8 = 5;
const K_LN2: u8 = 6;

/// The value of a constant rounded by the rounding control, as the x87
/// rounds its internal, wider constants.
pub fn constant(k: u8, env: &mut Env) -> F80 {
    let b = match k {
        K_ONE => return F80::ONE,
        K_ZERO => return F80::ZERO,
        K_PI => Big::PI,
        K_L2E => Big::LOG2_E,
        K_L2T => Big::LOG2_10,
        K_LG2 => Big::LOG10_2,
        _ => Big::LN_2,
    };
    b.round_exact(env)
}

fn fld_const<const K: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let mut env = cpu.fpu_env().full();
    let v = constant(K, &mut env);
    push_checked(cpu, v);
    Ok(())
}

/// FXCH ST(i).
fn fxch(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = sti(op.src.max(op.dst));
    let i = if op.src == crate::cpu::decode::NO_REG && op.dst == crate::cpu::decode::NO_REG {
        1
    } else {
        i
    };
    let (mut a, mut b) = (cpu.fpu.st(0), cpu.fpu.st(i));
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(i) {
        if !cpu.fpu_underflow() {
            return Ok(());
        }
        if cpu.fpu.is_empty(0) {
            a = F80::INDEFINITE;
        }
        if cpu.fpu.is_empty(i) {
            b = F80::INDEFINITE;
        }
    } else {
        cpu.fpu.set_cc(state::C1, 0);
    }
    cpu.fpu.set_st(0, b);
    cpu.fpu.set_st(i, a);
    Ok(())
}

/// FFREE ST(i), and FFREEP (frees, then pops).
fn ffree<const POP: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    cpu.fpu.free(sti(op.dst));
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// FINCSTP (`D` = 1) and FDECSTP (7): TOP += D, C1 = 0; tags unchanged.
fn fstep<const D: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let t = cpu.fpu.top();
    cpu.fpu.set_top(t.wrapping_add(D));
    cpu.fpu.set_cc(state::C1, 0);
    Ok(())
}

fn fnop(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    Ok(())
}

/// FNENI, FNDISI, FNSETPM: 8087/287 controls that a 387 and later ignore.
fn fnop_nowait(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    super::enter(cpu, op, false)?;
    Ok(())
}
