//! Arithmetic instructions: FADD, FSUB, FSUBR, FMUL, FDIV, FDIVR (memory,
//! integer, register and popping forms), FSQRT, FABS, FCHS, FRNDINT,
//! FSCALE, FXTRACT, FPREM, FPREM1.

use super::float::{self, Env, F80};
use super::{convert, fmt, has_mem, mem_format, state, sti, x87_enter, PushCheck};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic};

/// Operations, numbered as the ModR/M reg field of D8 encodes them.
pub const ADD: u8 = 0;
pub const MUL: u8 = 1;
pub const SUB: u8 = 4;
pub const SUBR: u8 = 5;
pub const DIV: u8 = 6;
pub const DIVR: u8 = 7;

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let (code, pop) = match i.mnemonic() {
        Fadd | Fiadd => (ADD, false),
        Faddp => (ADD, true),
        Fmul | Fimul => (MUL, false),
        Fmulp => (MUL, true),
        Fsub | Fisub => (SUB, false),
        Fsubp => (SUB, true),
        Fsubr | Fisubr => (SUBR, false),
        Fsubrp => (SUBR, true),
        Fdiv | Fidiv => (DIV, false),
        Fdivp => (DIV, true),
        Fdivr | Fidivr => (DIVR, false),
        Fdivrp => (DIVR, true),
        Fsqrt => return Some(fsqrt),
        Fabs => return Some(fsign::<0>),
        Fchs => return Some(fsign::<1>),
        Frndint => return Some(frndint),
        Fscale => return Some(fscale),
        Fxtract => return Some(fxtract),
        Fprem => return Some(fprem::<false>),
        Fprem1 => return Some(fprem::<true>),
        _ => return None,
    };
    macro_rules! by_op {
        ($f:ident $(, $c:expr)*) => {
            match code {
                ADD => $f::<ADD $(, $c)*> as Handler,
                MUL => $f::<MUL $(, $c)*>,
                SUB => $f::<SUB $(, $c)*>,
                SUBR => $f::<SUBR $(, $c)*>,
                DIV => $f::<DIV $(, $c)*>,
                _ => $f::<DIVR $(, $c)*>,
            }
        };
    }
    if has_mem(i) {
        Some(match mem_format(i)? {
            fmt::M32 => by_op!(arith_mem, { fmt::M32 }),
            fmt::M64 => by_op!(arith_mem, { fmt::M64 }),
            fmt::I16 => by_op!(arith_mem, { fmt::I16 }),
            fmt::I32 => by_op!(arith_mem, { fmt::I32 }),
            _ => return None,
        })
    } else if pop {
        Some(by_op!(arith_reg, true))
    } else {
        Some(by_op!(arith_reg, false))
    }
}

/// `a OP b` for one of the six operations.
pub fn compute(code: u8, env: &mut Env, a: F80, b: F80) -> F80 {
    match code {
        ADD => float::add(env, a, b, false),
        SUB => float::add(env, a, b, true),
        SUBR => float::add(env, b, a, true),
        MUL => float::mul(env, a, b),
        DIV => float::div(env, a, b),
        _ => float::div(env, b, a),
    }
}

/// Reads a memory operand of format `FMT` as an arithmetic operand.
pub(crate) fn mem_operand<const FMT: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    env: &mut Env,
) -> Result<F80> {
    Ok(match FMT {
        fmt::M32 => convert::operand_f32(env, cpu.fpu_read32(bus, op)?),
        fmt::M64 => convert::operand_f64(env, cpu.fpu_read64(bus, op)?),
        fmt::I16 => float::int_to_f80(cpu.fpu_read16(bus, op)? as i16 as i64),
        _ => float::int_to_f80(cpu.fpu_read32(bus, op)? as i32 as i64),
    })
}

/// Writes an operation's result to ST(dst) unless an unmasked invalid,
/// denormal or zero-divide exception stops it, and merges the flags.
/// Returns whether the result was written.
pub(crate) fn finish(cpu: &mut Cpu, env: &Env, dst: u8, r: F80) -> bool {
    cpu.fpu_flags(env);
    if env.faulted() {
        return false;
    }
    cpu.fpu.set_st(dst, r);
    true
}

/// ST(0) = ST(0) OP m32fp/m64fp/m16int/m32int.
fn arith_mem<const OP: u8, const FMT: u8>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, true);
    let mut env = cpu.fpu_env();
    let b = mem_operand::<FMT>(cpu, bus, op, &mut env)?;
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let r = compute(OP, &mut env, cpu.fpu.st(0), b);
    finish(cpu, &env, 0, r);
    Ok(())
}

/// ST(dst) = ST(dst) OP ST(src), popping after for the P forms.
fn arith_reg<const OP: u8, const POP: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let (d, s) = (sti(op.dst), sti(op.src));
    if cpu.fpu.is_empty(d) || cpu.fpu.is_empty(s) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(d, F80::INDEFINITE);
            if POP {
                cpu.fpu.pop();
            }
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env();
    let r = compute(OP, &mut env, cpu.fpu.st(d), cpu.fpu.st(s));
    if finish(cpu, &env, d, r) && POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// Runs a one-operand operation on ST(0): `f` gives the result.
fn unary(cpu: &mut Cpu, op: &Op, f: impl FnOnce(&mut Env, F80) -> F80, full: bool) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env();
    if full {
        env = env.full();
    }
    let r = f(&mut env, cpu.fpu.st(0));
    finish(cpu, &env, 0, r);
    Ok(())
}

fn fsqrt(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, float::sqrt, false)
}

fn frndint(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    unary(cpu, op, float::round_to_int, true)
}

/// FABS (`NEG` = 0) and FCHS (1): sign only, no exceptions but the stack's.
fn fsign<const NEG: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let a = cpu.fpu.st(0);
    cpu.fpu
        .set_st(0, if NEG == 1 { a.negated() } else { a.abs() });
    cpu.fpu.set_cc(state::C1, 0);
    Ok(())
}

/// FSCALE: ST(0) = ST(0) · 2^trunc(ST(1)).
fn fscale(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(1) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env().full();
    let r = float::scale(&mut env, cpu.fpu.st(0), cpu.fpu.st(1));
    finish(cpu, &env, 0, r);
    Ok(())
}

/// FXTRACT: ST(0) = exponent, then push the significand.
fn fxtract(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
            cpu.fpu.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    match cpu.fpu_check_push() {
        PushCheck::Ok => {}
        PushCheck::Indefinite => {
            cpu.fpu.set_st(0, F80::INDEFINITE);
            cpu.fpu.push(F80::INDEFINITE);
            return Ok(());
        }
        PushCheck::Fault => return Ok(()),
    }
    let mut env = cpu.fpu_env().full();
    let (e, s) = float::xtract(&mut env, cpu.fpu.st(0));
    if finish(cpu, &env, 0, e) {
        cpu.fpu.push(s);
    }
    Ok(())
}

/// FPREM and FPREM1: ST(0) = partial remainder of ST(0) / ST(1); C0, C3,
/// C1 = quotient bits 2, 1, 0; C2 = reduction incomplete.
fn fprem<const IEEE: bool>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(1) {
        cpu.fpu.set_cc(state::C2, 0);
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env().full();
    let r = float::rem(&mut env, cpu.fpu.st(0), cpu.fpu.st(1), IEEE);
    cpu.fpu.raise(env.flags);
    if env.faulted() {
        return Ok(());
    }
    cpu.fpu.set_st(0, r.value);
    match r.q {
        // A NaN or invalid result: C1 = C2 = 0, C0 and C3 unchanged.
        None => cpu.fpu.set_cc(state::C1 | state::C2, 0),
        Some(_) if r.partial => cpu
            .fpu
            .set_cc(state::C0 | state::C1 | state::C2 | state::C3, state::C2),
        Some(q) => {
            let q = q as u16;
            let cc =
                ((q >> 2 & 1) * state::C0) | ((q >> 1 & 1) * state::C3) | ((q & 1) * state::C1);
            cpu.fpu
                .set_cc(state::C0 | state::C1 | state::C2 | state::C3, cc);
        }
    }
    Ok(())
}
