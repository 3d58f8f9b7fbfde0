//! Comparisons and classification: FCOM, FCOMP, FCOMPP, FUCOM, FUCOMP,
//! FUCOMPP, FICOM, FICOMP, FCOMI, FCOMIP, FUCOMI, FUCOMIP, FTST, FXAM,
//! and the conditional moves FCMOVcc.

use super::arith::mem_operand;
use super::float::{Class, Env, DE, F80, IE};
use super::{fmt, has_mem, mem_format, state, sti, x87_enter};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic};

/// Comparison outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Greater,
    Less,
    Equal,
    Unordered,
}

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let m = i.mnemonic();
    if has_mem(i) {
        let f = mem_format(i)?;
        let pop = matches!(m, Fcomp | Ficomp);
        if !matches!(m, Fcom | Fcomp | Ficom | Ficomp) {
            return None;
        }
        macro_rules! by_fmt {
            ($p:expr) => {
                match f {
                    fmt::M32 => fcom_mem::<{ fmt::M32 }, $p> as Handler,
                    fmt::M64 => fcom_mem::<{ fmt::M64 }, $p>,
                    fmt::I16 => fcom_mem::<{ fmt::I16 }, $p>,
                    _ => fcom_mem::<{ fmt::I32 }, $p>,
                }
            };
        }
        return Some(if pop { by_fmt!(true) } else { by_fmt!(false) });
    }
    Some(match m {
        Fcom => fcom_reg::<0, false>,
        Fcomp => fcom_reg::<1, false>,
        Fcompp => fcom_reg::<2, false>,
        Fucom => fcom_reg::<0, true>,
        Fucomp => fcom_reg::<1, true>,
        Fucompp => fcom_reg::<2, true>,
        Fcomi => fcomi::<false, false>,
        Fcomip => fcomi::<true, false>,
        Fucomi => fcomi::<false, true>,
        Fucomip => fcomi::<true, true>,
        Ftst => ftst,
        Fxam => fxam,
        Fcmovb => fcmov::<2>,
        Fcmove => fcmov::<4>,
        Fcmovbe => fcmov::<6>,
        Fcmovu => fcmov::<10>,
        Fcmovnb => fcmov::<3>,
        Fcmovne => fcmov::<5>,
        Fcmovnbe => fcmov::<7>,
        Fcmovnu => fcmov::<11>,
        _ => return None,
    })
}

/// Compares a with b. `quiet` (FUCOM): only SNaNs are invalid; otherwise
/// any NaN is. Unsupported formats are always invalid.
pub fn compare(env: &mut Env, a: F80, b: F80, quiet: bool) -> Order {
    let (ac, bc) = (a.class(), b.class());
    if ac == Class::Unsupported || bc == Class::Unsupported {
        env.flags |= IE;
        return Order::Unordered;
    }
    let nan = |c| matches!(c, Class::QNaN | Class::SNaN);
    if nan(ac) || nan(bc) {
        if !quiet || ac == Class::SNaN || bc == Class::SNaN {
            env.flags |= IE;
        }
        return Order::Unordered;
    }
    if env.denormal || ac == Class::Denormal || bc == Class::Denormal {
        env.flags |= DE;
    }
    let key = |x: F80| -> (bool, i128) {
        match x.class() {
            Class::Zero => (false, 0),
            Class::Infinity => (x.sign(), i128::MAX),
            _ => {
                let (s, e, m) = x.unpack();
                (s, ((e as i128 + 100) << 64) | m as i128)
            }
        }
    };
    let (sa, ka) = key(a);
    let (sb, kb) = key(b);
    let va = if sa { -ka } else { ka };
    let vb = if sb { -kb } else { kb };
    match va.cmp(&vb) {
        std::cmp::Ordering::Greater => Order::Greater,
        std::cmp::Ordering::Less => Order::Less,
        std::cmp::Ordering::Equal => Order::Equal,
    }
}

/// Sets C3, C2, C0 (and clears C1) for an outcome.
fn set_cc(cpu: &mut Cpu, o: Order) {
    let cc = match o {
        Order::Greater => 0,
        Order::Less => state::C0,
        Order::Equal => state::C3,
        Order::Unordered => state::C3 | state::C2 | state::C0,
    };
    cpu.fpu
        .set_cc(state::C0 | state::C1 | state::C2 | state::C3, cc);
}

/// Sets the condition codes of a comparison, then pops `pops` times. The
/// codes are set even when an unmasked invalid or denormal exception
/// stops the pops (as a real x87 does).
fn finish_compare(cpu: &mut Cpu, env: &Env, o: Order, pops: u8) {
    cpu.fpu.raise(env.flags);
    set_cc(cpu, o);
    if env.faulted() {
        return;
    }
    for _ in 0..pops {
        cpu.fpu.pop();
    }
}

/// Stack underflow in a comparison: masked, "unordered" and the pops.
fn compare_underflow(cpu: &mut Cpu, pops: u8) {
    if cpu.fpu_underflow() {
        set_cc(cpu, Order::Unordered);
        for _ in 0..pops {
            cpu.fpu.pop();
        }
    }
}

/// FCOM/FCOMP m32fp/m64fp, FICOM/FICOMP m16int/m32int.
fn fcom_mem<const FMT: u8, const POP: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    x87_enter!(cpu, op, true);
    let mut env = cpu.fpu_env();
    let b = mem_operand::<FMT>(cpu, bus, op, &mut env)?;
    if cpu.fpu.is_empty(0) {
        compare_underflow(cpu, POP as u8);
        return Ok(());
    }
    let o = compare(&mut env, cpu.fpu.st(0), b, false);
    finish_compare(cpu, &env, o, POP as u8);
    Ok(())
}

/// FCOM/FCOMP/FCOMPP and the FUCOM forms with a register.
fn fcom_reg<const POPS: u8, const QUIET: bool>(
    cpu: &mut Cpu,
    _: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = if POPS == 2 { 1 } else { sti(op.src) };
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(i) {
        compare_underflow(cpu, POPS);
        return Ok(());
    }
    let mut env = cpu.fpu_env();
    let o = compare(&mut env, cpu.fpu.st(0), cpu.fpu.st(i), QUIET);
    finish_compare(cpu, &env, o, POPS);
    Ok(())
}

/// Sets ZF, PF, CF for an outcome (OF, SF, AF cleared).
fn set_eflags(cpu: &mut Cpu, o: Order) {
    let bits = match o {
        Order::Greater => 0,
        Order::Less => CF,
        Order::Equal => ZF,
        Order::Unordered => ZF | PF | CF,
    };
    cpu.set_flag(ZF | PF | CF | OF | SF | AF, false);
    cpu.set_flag(bits, true);
}

/// FCOMI/FCOMIP/FUCOMI/FUCOMIP ST(0), ST(i): the result in EFLAGS.
fn fcomi<const POP: bool, const QUIET: bool>(
    cpu: &mut Cpu,
    _: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = sti(op.src);
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(i) {
        if cpu.fpu_underflow() {
            set_eflags(cpu, Order::Unordered);
            if POP {
                cpu.fpu.pop();
            }
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env();
    let o = compare(&mut env, cpu.fpu.st(0), cpu.fpu.st(i), QUIET);
    cpu.fpu.raise(env.flags);
    set_eflags(cpu, o);
    if env.faulted() {
        return Ok(());
    }
    if POP {
        cpu.fpu.pop();
    }
    Ok(())
}

/// FTST: compares ST(0) with +0.0.
fn ftst(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) {
        compare_underflow(cpu, 0);
        return Ok(());
    }
    let mut env = cpu.fpu_env();
    let o = compare(&mut env, cpu.fpu.st(0), F80::ZERO, false);
    finish_compare(cpu, &env, o, 0);
    Ok(())
}

/// FXAM: classifies ST(0) into C3, C2, C0, with its sign in C1.
fn fxam(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let a = cpu.fpu.st(0);
    let (c3, c2, c0) = if cpu.fpu.is_empty(0) {
        (1, 0, 1)
    } else {
        match a.class() {
            Class::Unsupported => (0, 0, 0),
            Class::QNaN | Class::SNaN => (0, 0, 1),
            Class::Normal => (0, 1, 0),
            Class::Infinity => (0, 1, 1),
            Class::Zero => (1, 0, 0),
            Class::Denormal => (1, 1, 0),
        }
    };
    let cc = (c3 * state::C3) | (c2 * state::C2) | (c0 * state::C0) | (a.sign() as u16 * state::C1);
    cpu.fpu
        .set_cc(state::C0 | state::C1 | state::C2 | state::C3, cc);
    Ok(())
}

/// FCMOVcc ST(0), ST(i): `CC` is the condition nibble (B, E, BE, U and
/// their negations).
fn fcmov<const CC: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let i = sti(op.src);
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(i) {
        // Masked, ST(0) gets the default NaN whatever the condition.
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    if cpu.condition(CC) {
        let v = cpu.fpu.st(i);
        cpu.fpu.set_st(0, v);
    }
    Ok(())
}
