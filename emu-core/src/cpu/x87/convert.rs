//! Conversions between the extended format and the memory formats: single
//! and double precision, 16/32/64-bit integers, and 18-digit packed BCD.
//! Loads are exact; stores round by the rounding control (never by the
//! precision control) and raise the flags a real x87 raises.

use super::float::{round, to_integer, Class, Env, Format, BIAS, DE, F80, IE, PE};

/// An IEEE binary format as stored in memory.
#[derive(Clone, Copy)]
struct Ieee {
    /// Fraction bits (without the hidden bit).
    frac: u32,
    /// Exponent bits.
    exp: u32,
}

const SINGLE: Ieee = Ieee { frac: 23, exp: 8 };
const DOUBLE: Ieee = Ieee { frac: 52, exp: 11 };

impl Ieee {
    fn bias(self) -> i32 {
        (1 << (self.exp - 1)) - 1
    }
    fn emax(self) -> i32 {
        (1 << self.exp) - 2
    }
}

/// Widens a single or double to extended (exact). A denormal raises DE.
/// With `quiet` an SNaN raises IE and is made quiet (FLD); otherwise it
/// stays signalling for the arithmetic that takes it as an operand.
fn widen(env: &mut Env, bits: u64, f: Ieee, quiet: bool) -> F80 {
    let sign = bits >> (f.frac + f.exp) & 1 != 0;
    let e = (bits >> f.frac) as i32 & ((1 << f.exp) - 1);
    let frac = bits & ((1u64 << f.frac) - 1);
    let top = 63 - f.frac; // where the fraction goes in the 64-bit significand
    if e == (1 << f.exp) - 1 {
        let sig = 1 << 63 | frac << top;
        let v = F80::new(sign, 0x7FFF, sig);
        if quiet && frac != 0 && sig & (1 << 62) == 0 {
            env.flags |= IE;
            return v.quiet();
        }
        return v;
    }
    if e == 0 {
        if frac == 0 {
            return F80::new(sign, 0, 0);
        }
        if quiet {
            env.flags |= DE;
        } else {
            env.denormal = true;
        }
        let lz = frac.leading_zeros() as i32;
        // value = frac · 2^(1 − bias − frac_bits)
        let exp = 1 - f.bias() - f.frac as i32 + BIAS + 63 - lz;
        return F80::new(sign, exp as u16, frac << lz);
    }
    F80::new(sign, (e - f.bias() + BIAS) as u16, 1 << 63 | frac << top)
}

/// A single loaded by FLD (SNaN made quiet, with IE).
pub fn from_f32(env: &mut Env, bits: u32) -> F80 {
    widen(env, bits as u64, SINGLE, true)
}

/// A double loaded by FLD.
pub fn from_f64(env: &mut Env, bits: u64) -> F80 {
    widen(env, bits, DOUBLE, true)
}

/// A single as an arithmetic operand (an SNaN stays signalling).
pub fn operand_f32(env: &mut Env, bits: u32) -> F80 {
    widen(env, bits as u64, SINGLE, false)
}

/// A double as an arithmetic operand.
pub fn operand_f64(env: &mut Env, bits: u64) -> F80 {
    widen(env, bits, DOUBLE, false)
}

/// Narrows to single or double. `None`: nothing is stored (an unmasked
/// invalid, overflow or underflow exception).
fn narrow(env: &mut Env, a: F80, f: Ieee) -> Option<u64> {
    let sign_bit = (a.sign() as u64) << (f.frac + f.exp);
    let inf_exp = ((1u64 << f.exp) - 1) << f.frac;
    let indefinite = 1 << (f.frac + f.exp) | inf_exp | 1 << (f.frac - 1);
    let invalid = |env: &mut Env| {
        env.flags |= IE;
        (env.masks & IE != 0).then_some(indefinite)
    };
    match a.class() {
        Class::Unsupported => invalid(env),
        Class::SNaN | Class::QNaN => {
            if a.class() == Class::SNaN {
                env.flags |= IE;
                if env.masks & IE == 0 {
                    return None;
                }
            }
            let frac = (a.sig << 1) >> (64 - f.frac);
            Some(sign_bit | inf_exp | frac | 1 << (f.frac - 1))
        }
        Class::Infinity => Some(sign_bit | inf_exp),
        Class::Zero => Some(sign_bit),
        Class::Denormal | Class::Normal => {
            // No DE here: a denormal register value is simply tiny.
            let (sign, e, m) = a.unpack();
            let fmt = Format {
                prec: f.frac + 1,
                emax: f.emax(),
                register: false,
            };
            let r = round(env, sign, e - BIAS + f.bias(), (m as u128) << 64, fmt)?;
            Some(sign_bit | (r.exp as u64) << f.frac | (r.sig & ((1 << f.frac) - 1)))
        }
    }
}

pub fn to_f32(env: &mut Env, a: F80) -> Option<u32> {
    narrow(env, a, SINGLE).map(|v| v as u32)
}

pub fn to_f64(env: &mut Env, a: F80) -> Option<u64> {
    narrow(env, a, DOUBLE)
}

/// Rounds to a `bits`-bit signed integer by the rounding control. Out of
/// range, NaN or infinity: IE, and the integer indefinite (the most negative
/// value) when masked. `None`: nothing is stored.
pub fn to_int(env: &mut Env, a: F80, bits: u32) -> Option<i64> {
    let indefinite = i64::MIN >> (64 - bits);
    let invalid = |env: &mut Env| {
        env.flags |= IE;
        (env.masks & IE != 0).then_some(indefinite)
    };
    match a.class() {
        Class::Zero => return Some(0),
        Class::Normal | Class::Denormal => {}
        _ => return invalid(env),
    }
    let (q, inexact, up) = to_integer(env, a);
    let limit = 1u128 << (bits - 1);
    if q > limit || (q == limit && !a.sign()) {
        return invalid(env);
    }
    if inexact {
        env.flags |= PE;
        env.up = up;
    }
    let v = q as i64;
    Some(if a.sign() { v.wrapping_neg() } else { v })
}

/// Packed BCD: 18 digits in bytes 0–8 (two per byte, low digit first),
/// sign in bit 7 of byte 9. Digits above 9 are taken at face value.
pub fn from_bcd(b: [u8; 10]) -> F80 {
    let mut v: u64 = 0;
    for k in (0..9).rev() {
        v = v * 100 + (b[k] >> 4) as u64 * 10 + (b[k] & 15) as u64;
    }
    let sign = b[9] & 0x80 != 0;
    let f = super::float::int_to_f80(v as i64);
    f.with_sign(sign)
}

/// The BCD indefinite that a masked invalid FBSTP stores.
pub const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];

/// Rounds to an integer and packs it as BCD. `None`: nothing is stored.
pub fn to_bcd(env: &mut Env, a: F80) -> Option<[u8; 10]> {
    let invalid = |env: &mut Env| {
        env.flags |= IE;
        (env.masks & IE != 0).then_some(BCD_INDEFINITE)
    };
    let (q, inexact, up) = match a.class() {
        Class::Zero => (0, false, false),
        Class::Normal | Class::Denormal => to_integer(env, a),
        _ => return invalid(env),
    };
    if q > 999_999_999_999_999_999 {
        return invalid(env);
    }
    if inexact {
        env.flags |= PE;
        env.up = up;
    }
    let mut b = [0u8; 10];
    let mut v = q as u64;
    for byte in b.iter_mut().take(9) {
        let lo = (v % 10) as u8;
        v /= 10;
        let hi = (v % 10) as u8;
        v /= 10;
        *byte = hi << 4 | lo;
    }
    b[9] = if a.sign() { 0x80 } else { 0 };
    Some(b)
}
