//! A wide binary floating point (128-bit significand, 32-bit exponent) for
//! computing transcendental functions well past the 64 bits of the
//! extended format, so that the final rounding is (nearly always) the
//! correctly rounded result. Operations truncate; a chain of a few dozen
//! of them stays accurate to about 2^-120.

use super::float::{round_ext, Env, BIAS, F80};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// `mant · 2^(exp − 127)`, with `mant` normalised (bit 127 set) or zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Big {
    pub neg: bool,
    pub exp: i32,
    pub mant: u128,
}

impl Big {
    pub const ZERO: Big = Big {
        neg: false,
        exp: 0,
        mant: 0,
    };
    pub const ONE: Big = Big {
        neg: false,
        exp: 0,
        mant: 1 << 127,
    };
    pub const PI: Big = Big {
        neg: false,
        exp: 1,
        mant: 0xC90F_DAA2_2168_C234_C4C6_628B_80DC_1CD1,
    };
    pub const LN_2: Big = Big {
        neg: false,
        exp: -1,
        mant: 0xB172_17F7_D1CF_79AB_C9E3_B398_03F2_F6AF,
    };
    pub const LOG2_E: Big = Big {
        neg: false,
        exp: 0,
        mant: 0xB8AA_3B29_5C17_F0BB_BE87_FED0_691D_3E88,
    };
    pub const LOG2_10: Big = Big {
        neg: false,
        exp: 1,
        mant: 0xD49A_784B_CD1B_8AFE_492B_F6FF_4DAF_DB4C,
    };
    pub const LOG10_2: Big = Big {
        neg: false,
        exp: -2,
        mant: 0x9A20_9A84_FBCF_F798_8F89_59AC_0B7C_9178,
    };

    /// `m · 2^(exp − 127)` normalised.
    pub fn new(neg: bool, exp: i32, m: u128) -> Big {
        if m == 0 {
            return Big::ZERO;
        }
        let lz = m.leading_zeros() as i32;
        Big {
            neg,
            exp: exp - lz,
            mant: m << lz,
        }
    }

    /// A finite extended value, exactly.
    pub fn from_f80(a: F80) -> Big {
        if a.is_zero() {
            return Big {
                neg: a.sign(),
                ..Big::ZERO
            };
        }
        let (s, e, m) = a.unpack();
        Big {
            neg: s,
            exp: e - BIAS,
            mant: (m as u128) << 64,
        }
    }

    pub fn is_zero(self) -> bool {
        self.mant == 0
    }

    pub fn abs(self) -> Big {
        Big { neg: false, ..self }
    }

    /// × 2^k.
    pub fn ldexp(self, k: i32) -> Big {
        if self.is_zero() {
            self
        } else {
            Big {
                exp: self.exp + k,
                ..self
            }
        }
    }

    /// ÷ a small integer.
    pub fn div_small(self, n: u64) -> Big {
        if self.is_zero() {
            return self;
        }
        let n = n as u128;
        let (hi, r) = (self.mant / n, self.mant % n);
        let lo = (r << 64) / n;
        let lz = hi.leading_zeros();
        let mant = if lz == 0 {
            hi
        } else {
            hi << lz | lo >> (64 - lz)
        };
        Big {
            neg: self.neg,
            exp: self.exp - lz as i32,
            mant,
        }
    }

    /// Rounds to the extended format (64 bits) as an inexact value: the
    /// precision flag is raised even if the low bits happen to be zero.
    pub fn round(self, env: &mut Env) -> F80 {
        if self.is_zero() {
            return F80::new(self.neg, 0, 0);
        }
        round_ext(env, self.neg, self.exp + BIAS, self.mant | 1)
    }

    /// Rounds to the extended format at `env`'s precision, exactly as the
    /// bits say (for the constants).
    pub fn round_exact(self, env: &mut Env) -> F80 {
        if self.is_zero() {
            return F80::new(self.neg, 0, 0);
        }
        round_ext(env, self.neg, self.exp + BIAS, self.mant)
    }
}

impl Neg for Big {
    type Output = Big;

    fn neg(self) -> Big {
        Big {
            neg: !self.neg,
            ..self
        }
    }
}

impl Add for Big {
    type Output = Big;

    fn add(self, o: Big) -> Big {
        if o.is_zero() {
            return self;
        }
        if self.is_zero() {
            return o;
        }
        let (x, y) = if (self.exp, self.mant) >= (o.exp, o.mant) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (x.exp - y.exp) as u32;
        let ym = if d >= 128 { 0 } else { y.mant >> d };
        if x.neg == y.neg {
            let (s, carry) = x.mant.overflowing_add(ym);
            if carry {
                Big {
                    neg: x.neg,
                    exp: x.exp + 1,
                    mant: s >> 1 | 1 << 127,
                }
            } else {
                Big { mant: s, ..x }
            }
        } else {
            Big::new(x.neg, x.exp, x.mant - ym)
        }
    }
}

impl Sub for Big {
    type Output = Big;

    fn sub(self, o: Big) -> Big {
        self.add(o.neg())
    }
}

impl Mul for Big {
    type Output = Big;

    fn mul(self, o: Big) -> Big {
        if self.is_zero() || o.is_zero() {
            return Big {
                neg: self.neg != o.neg,
                ..Big::ZERO
            };
        }
        const M: u128 = u64::MAX as u128;
        let (a1, a0) = (self.mant >> 64, self.mant & M);
        let (b1, b0) = (o.mant >> 64, o.mant & M);
        let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
        let mid = (p00 >> 64) + (p01 & M) + (p10 & M);
        let lo = (p00 & M) | mid << 64;
        let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        let neg = self.neg != o.neg;
        let exp = self.exp + o.exp;
        if hi >> 127 != 0 {
            Big {
                neg,
                exp: exp + 1,
                mant: hi,
            }
        } else {
            Big {
                neg,
                exp,
                mant: hi << 1 | lo >> 127,
            }
        }
    }
}

impl Div for Big {
    type Output = Big;

    fn div(self, o: Big) -> Big {
        if self.is_zero() || o.is_zero() {
            return Big {
                neg: self.neg != o.neg,
                ..Big::ZERO
            };
        }
        let (mut r, mut carry, mut q) = (self.mant, false, 0u128);
        for _ in 0..128 {
            q <<= 1;
            if carry || r >= o.mant {
                r = r.wrapping_sub(o.mant);
                q |= 1;
            }
            carry = r >> 127 != 0;
            r <<= 1;
        }
        Big::new(self.neg != o.neg, self.exp - o.exp, q)
    }
}

/// Sums a power series `Σ term_k` where `next(term, k)` gives the next term
/// from the previous one, until the terms no longer matter at `stop` bits
/// below the first.
pub fn series(first: Big, stop: i32, mut next: impl FnMut(Big, u64) -> Big) -> Big {
    let mut sum = first;
    let mut term = first;
    let limit = first.exp - stop;
    for k in 1..200u64 {
        term = next(term, k);
        if term.is_zero() || term.exp < limit {
            break;
        }
        sum = sum.add(term);
    }
    sum
}
