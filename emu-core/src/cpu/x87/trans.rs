//! Transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1,
//! FYL2X, FYL2XP1.
//!
//! Each is computed in [`Big`] arithmetic (about 120 good bits) and rounded
//! once, so results are within an ulp of a real x87 (usually identical).
//! Like the hardware, the trigonometric functions reduce their argument
//! exactly modulo the x87's 66-bit approximation of π/2 (SDM vol. 1,
//! 8.3.10), which is what makes FSIN of a large argument differ from the
//! true sine; arguments of 2^63 and more are out of range (C2 = 1).

use super::big::Big;
use super::float::{self, check1, check2, denormal, nan2, Class, Env, BIAS, F80, PE, ZE};
use super::{state, x87_enter, PushCheck};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic};
use std::ops::{Add, Div, Mul, Neg, Sub};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    Some(match i.mnemonic() {
        Fsin => ftrig::<{ SIN }>,
        Fcos => ftrig::<{ COS }>,
        Fsincos => ftrig::<{ SINCOS }>,
        Fptan => ftrig::<{ TAN }>,
        Fpatan => fbinary::<{ ATAN }>,
        Fyl2x => fbinary::<{ YL2X }>,
        Fyl2xp1 => fbinary::<{ YL2XP1 }>,
        F2xm1 => f2xm1,
        _ => return None,
    })
}

const SIN: u8 = 0;
const COS: u8 = 1;
const SINCOS: u8 = 2;
const TAN: u8 = 3;
const ATAN: u8 = 0;
const YL2X: u8 = 1;
const YL2XP1: u8 = 2;

/// Bits below the leading term at which a series stops.
const STOP: i32 = 132;

/// π/2 as the x87 holds it for argument reduction: 66 bits, value
/// `PI66_HALF · 2^-65`.
const PI66_HALF: u128 = 0x000C_90FD_AA22_168C_234C >> 2;

/// Reduces a finite non-zero x with |x| < 2^63: x = k·(π66/2) + r with
/// |r| ≤ π66/4. Returns (k mod 4, r) exactly.
pub fn reduce(x: F80) -> (u32, Big) {
    let (s, e, m) = x.unpack();
    if e - BIAS < -1 {
        return (0, Big::from_f80(x));
    }
    // x = m · 2^(e − BIAS − 63); in units of 2^-65 that is m << (e − BIAS + 2).
    let n = (m as u128) << (e - BIAS + 2);
    let (mut k, mut rem) = (n / PI66_HALF, n % PI66_HALF);
    let mut neg = false;
    if 2 * rem > PI66_HALF || (2 * rem == PI66_HALF && k & 1 != 0) {
        k += 1;
        rem = PI66_HALF - rem;
        neg = true;
    }
    let r = Big::new(neg != s, 127 - 65, rem);
    let k = (k & 3) as u32;
    (if s { (4 - k) & 3 } else { k }, r)
}

/// sin r and cos r for |r| ≤ π/4 (Taylor series).
pub fn sin_cos(r: Big) -> (Big, Big) {
    let r2 = r.mul(r);
    let sin = super::big::series(r, STOP, |t, k| {
        t.mul(r2).div_small((2 * k) * (2 * k + 1)).neg()
    });
    let cos = super::big::series(Big::ONE, STOP, |t, k| {
        t.mul(r2).div_small((2 * k - 1) * (2 * k)).neg()
    });
    (sin, cos)
}

/// atan z for 0 ≤ z ≤ 1.
fn atan_unit(z: Big) -> Big {
    // tan(π/8) = √2 − 1 ≈ 0.4142: above it use atan z = π/4 + atan((z−1)/(z+1)).
    const TAN_PI_8: Big = Big {
        neg: false,
        exp: -2,
        mant: 0xD413_CCCF_E779_9211_65F6_26CD_D52A_FA7C,
    };
    let (base, w) = if (z.exp, z.mant) > (TAN_PI_8.exp, TAN_PI_8.mant) {
        (Big::PI.ldexp(-2), z.sub(Big::ONE).div(z.add(Big::ONE)))
    } else {
        (Big::ZERO, z)
    };
    let w2 = w.mul(w);
    let mut sum = w;
    let mut pow = w;
    for k in 1..200u64 {
        pow = pow.mul(w2).neg();
        let term = pow.div_small(2 * k + 1);
        if term.is_zero() || term.exp < w.exp - STOP {
            break;
        }
        sum = sum.add(term);
    }
    base.add(sum)
}

/// atan2(y, x) for finite non-zero y and x.
pub fn atan2(y: Big, x: Big) -> Big {
    let (ay, ax) = (y.abs(), x.abs());
    let a = if (ay.exp, ay.mant) <= (ax.exp, ax.mant) {
        atan_unit(ay.div(ax))
    } else {
        Big::PI.ldexp(-1).sub(atan_unit(ax.div(ay)))
    };
    let a = if x.neg { Big::PI.sub(a) } else { a };
    Big { neg: y.neg, ..a }
}

/// 2·atanh z = ln((1+z)/(1−z)) for |z| ≤ 0.18.
fn atanh2(z: Big) -> Big {
    let z2 = z.mul(z);
    let mut sum = z;
    let mut pow = z;
    for k in 1..200u64 {
        pow = pow.mul(z2);
        let term = pow.div_small(2 * k + 1);
        if term.is_zero() || term.exp < z.exp - STOP {
            break;
        }
        sum = sum.add(term);
    }
    sum.ldexp(1)
}

/// log2 x for finite x > 0.
pub fn log2(x: F80) -> Big {
    log2_big(Big::from_f80(x))
}

/// log2 of a positive wide value: n + ln(f)/ln 2 with f in [√½, √2).
fn log2_big(x: Big) -> Big {
    // √2 · 2^127, the threshold for the significand.
    const SQRT2: u128 = 0xB504_F333_F9DE_6484_597D_89B3_754A_BE9F;
    let mut n = x.exp;
    let mut f = Big { exp: 0, ..x };
    if f.mant > SQRT2 {
        f.exp = -1;
        n += 1;
    }
    let z = f.sub(Big::ONE).div(f.add(Big::ONE));
    let ln = atanh2(z);
    let nb = Big::new(n < 0, 127, n.unsigned_abs() as u128);
    nb.add(ln.mul(Big::LOG2_E))
}

/// log2(1 + x) for finite x > −1.
pub fn log2_1p(x: F80) -> Big {
    let xb = Big::from_f80(x);
    // ln(1+x) = 2·atanh(x / (2 + x)), accurate for small x; further out
    // 1 + x is formed exactly in the wide format.
    let z = xb.div(Big::ONE.ldexp(1).add(xb));
    if z.exp <= -3 {
        atanh2(z).mul(Big::LOG2_E)
    } else {
        log2_big(Big::ONE.add(xb))
    }
}

/// expm1(t) for |t| ≤ 0.75 (Taylor series).
fn expm1(t: Big) -> Big {
    super::big::series(t, STOP, |term, k| term.mul(t).div_small(k + 1))
}

/// 2^x − 1.
pub fn exp2m1(x: F80) -> Big {
    let xb = Big::from_f80(x);
    if xb.exp < 0 {
        return expm1(xb.mul(Big::LN_2));
    }
    // |x| ≥ 1 (outside F2XM1's range): 2^n · 2^f − 1 with |f| ≤ 1/2.
    let env = Env::new(0x37F);
    let (q, _, _) = float::to_integer(&env, x);
    let n = (q.min(1 << 20)) as i32;
    let n = if x.sign() { -n } else { n };
    let nb = Big::new(n < 0, 127, n.unsigned_abs() as u128);
    let f = xb.sub(nb);
    let p = Big::ONE.add(expm1(f.mul(Big::LN_2))).ldexp(n);
    p.sub(Big::ONE)
}

/// What FSIN/FCOS/FSINCOS/FPTAN give for x: `None` when x is out of range.
fn trig(env: &mut Env, f: u8, x: F80) -> Option<(F80, F80)> {
    if let Some(r) = check1(env, x) {
        return Some((r, r));
    }
    match x.class() {
        Class::Infinity => {
            let r = env.invalid();
            return Some((r, r));
        }
        Class::Zero => {
            return Some(match f {
                COS => (F80::ONE, F80::ONE),
                _ => (x, F80::ONE),
            });
        }
        _ => {}
    }
    if x.exp() as i32 - BIAS >= 63 {
        return None;
    }
    let (k, r) = reduce(x);
    let (s, c) = sin_cos(r);
    let (sin, cos) = match k {
        0 => (s, c),
        1 => (c, s.neg()),
        2 => (s.neg(), c.neg()),
        _ => (c.neg(), s),
    };
    Some(match f {
        SIN => (sin.round(env), F80::ZERO),
        COS => (cos.round(env), F80::ZERO),
        SINCOS => {
            let s = sin.round(env);
            let up = env.up;
            let c = cos.round(env);
            env.up = up || env.up;
            (s, c)
        }
        _ => (sin.div(cos).round(env), F80::ONE),
    })
}

/// FSIN, FCOS (ST(0) replaced), FSINCOS (ST(0) = sin, then push cos) and
/// FPTAN (ST(0) = tan, then push 1).
fn ftrig<const F: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    let pushes = F == SINCOS || F == TAN;
    cpu.fpu.set_cc(state::C2, 0);
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
            if pushes {
                cpu.fpu.push(F80::INDEFINITE);
            }
        }
        return Ok(());
    }
    if pushes {
        match cpu.fpu_check_push() {
            PushCheck::Ok => {}
            PushCheck::Indefinite => {
                cpu.fpu.set_st(0, F80::INDEFINITE);
                cpu.fpu.push(F80::INDEFINITE);
                return Ok(());
            }
            PushCheck::Fault => return Ok(()),
        }
    }
    let mut env = cpu.fpu_env().full();
    let Some((a, b)) = trig(&mut env, F, cpu.fpu.st(0)) else {
        // Out of range: ST(0) unchanged, C2 = 1.
        cpu.fpu.set_cc(state::C1 | state::C2, state::C2);
        return Ok(());
    };
    cpu.fpu_flags(&env);
    if env.faulted() {
        return Ok(());
    }
    cpu.fpu.set_st(0, a);
    if pushes {
        cpu.fpu.push(b);
    }
    Ok(())
}

/// FPATAN, FYL2X, FYL2XP1: ST(1) = f(ST(1), ST(0)), then pop.
fn fbinary<const F: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(1) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(1, F80::INDEFINITE);
            cpu.fpu.pop();
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env().full();
    let (x, y) = (cpu.fpu.st(0), cpu.fpu.st(1));
    let r = match F {
        ATAN => patan(&mut env, y, x),
        YL2X => yl2x(&mut env, y, x, false),
        _ => yl2x(&mut env, y, x, true),
    };
    cpu.fpu_flags(&env);
    if env.faulted() {
        return Ok(());
    }
    cpu.fpu.set_st(1, r);
    cpu.fpu.pop();
    Ok(())
}

/// Rounds a multiple of π/4 (`eighths`: 1 = π/4, 2 = π/2, 3 = 3π/4, 4 = π).
fn pi_multiple(env: &mut Env, quarters: u64, neg: bool) -> F80 {
    let v = match quarters {
        1 => Big::PI.ldexp(-2),
        2 => Big::PI.ldexp(-1),
        3 => Big::PI.ldexp(-2).mul(Big::new(false, 127, 3)),
        _ => Big::PI,
    };
    Big { neg, ..v }.round(env)
}

/// FPATAN: atan2(y, x) with the IEEE special cases (SDM vol. 2, FPATAN).
pub fn patan(env: &mut Env, y: F80, x: F80) -> F80 {
    if let Some(r) = check2(env, y, x) {
        return r;
    }
    let (yc, xc) = (y.class(), x.class());
    let ys = y.sign();
    match (yc, xc) {
        (Class::Zero, _) => {
            if x.sign() {
                pi_multiple(env, 4, ys)
            } else {
                F80::new(ys, 0, 0)
            }
        }
        (Class::Infinity, Class::Infinity) => pi_multiple(env, if x.sign() { 3 } else { 1 }, ys),
        (Class::Infinity, _) | (_, Class::Zero) => pi_multiple(env, 2, ys),
        (_, Class::Infinity) => {
            if x.sign() {
                pi_multiple(env, 4, ys)
            } else {
                F80::new(ys, 0, 0)
            }
        }
        _ => atan2(Big::from_f80(y), Big::from_f80(x)).round(env),
    }
}

/// FYL2X: y · log2 x; FYL2XP1 (`p1`): y · log2(x + 1).
pub fn yl2x(env: &mut Env, y: F80, x: F80, p1: bool) -> F80 {
    if let Some(r) = nan2(env, y, x) {
        return r;
    }
    let (yc, xc) = (y.class(), x.class());
    let out_of_range = p1 && xc != Class::Infinity && x.sign() && x.exp() >= 0x3FFF;
    if out_of_range && matches!(yc, Class::Zero | Class::Infinity) {
        // FYL2XP1 with x ≤ −1: y = ±0 or ±∞ scale a "negative logarithm".
        if denormal(env, &[x]) {
            return F80::INDEFINITE;
        }
        return if yc == Class::Zero {
            F80::new(!y.sign(), 0, 0)
        } else {
            F80::INFINITY.with_sign(!y.sign())
        };
    }
    if out_of_range {
        // FYL2XP1 with x ≤ −1 (out of range): a real x87 returns x.
        if denormal(env, &[y]) {
            return F80::INDEFINITE;
        }
        env.flags |= PE;
        env.up = false;
        return x;
    }
    if p1 && xc == Class::Infinity && x.sign() {
        return env.invalid();
    }
    // log x (log(1 + x)) is −∞ at x = 0 (FYL2X), negative for x < 0.
    if !p1 && x.sign() && xc != Class::Zero {
        return env.invalid();
    }
    if !p1 && xc == Class::Zero {
        return match yc {
            Class::Zero => env.invalid(),
            Class::Infinity => F80::INFINITY.with_sign(!y.sign()),
            _ => {
                env.flags |= ZE;
                F80::INFINITY.with_sign(!y.sign())
            }
        };
    }
    if xc == Class::Infinity {
        return match yc {
            Class::Zero => env.invalid(),
            _ => {
                if denormal(env, &[y]) {
                    return F80::INDEFINITE;
                }
                F80::INFINITY.with_sign(y.sign())
            }
        };
    }
    // The logarithm is finite; exactly zero at x = 1 (x = 0 for FYL2XP1).
    let log_zero = if p1 { xc == Class::Zero } else { x == F80::ONE };
    let log_neg = if p1 { x.sign() } else { x.exp() < 0x3FFF };
    if log_zero && yc == Class::Infinity {
        return env.invalid();
    }
    if denormal(env, &[x, y]) {
        return F80::INDEFINITE;
    }
    if log_zero {
        return F80::new(y.sign() != (p1 && x.sign()), 0, 0);
    }
    match yc {
        Class::Infinity => return F80::INFINITY.with_sign(y.sign() != log_neg),
        Class::Zero => return F80::new(y.sign() != log_neg, 0, 0),
        _ => {}
    }
    let l = if p1 { log2_1p(x) } else { log2(x) };
    Big::from_f80(y).mul(l).round(env)
}

/// F2XM1: ST(0) = 2^ST(0) − 1.
fn f2xm1(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    x87_enter!(cpu, op, false);
    if cpu.fpu.is_empty(0) {
        if cpu.fpu_underflow() {
            cpu.fpu.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut env = cpu.fpu_env().full();
    let r = exp2m1_f80(&mut env, cpu.fpu.st(0));
    cpu.fpu_flags(&env);
    if !env.faulted() {
        cpu.fpu.set_st(0, r);
    }
    Ok(())
}

/// 2^x − 1 with the special cases.
pub fn exp2m1_f80(env: &mut Env, x: F80) -> F80 {
    if let Some(r) = check1(env, x) {
        return r;
    }
    match x.class() {
        Class::Zero => x,
        Class::Infinity => {
            if x.sign() {
                F80::ONE.negated()
            } else {
                x
            }
        }
        // Out of range (|x| > 1): a real x87 returns x.
        _ if x.exp() > 0x3FFF || (x.exp() == 0x3FFF && x.sig != 1 << 63) => {
            env.flags |= PE;
            env.up = false;
            x
        }
        _ => exp2m1(x).round(env),
    }
}
