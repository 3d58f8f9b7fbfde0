//! 80-bit extended-precision arithmetic, exact to the bit as an x87 computes
//! it: add, subtract, multiply, divide, square root, round to integer,
//! partial remainder, scale and extract, with the six exception flags, the
//! "rounded up" bit (C1), all four rounding modes and the three precision
//! controls (Intel SDM vol. 1, chapters 4 and 8).
//!
//! Everything here is pure integer arithmetic on `u64`/`u128`; the CPU's
//! state enters only as an [`Env`] (rounding control, precision, masks) and
//! leaves as flags in it. The results were checked against a real x87 (see
//! `tests/host.rs`).

use serde::{Deserialize, Serialize};

/// Invalid operation.
pub const IE: u16 = 0x01;
/// Denormal operand.
pub const DE: u16 = 0x02;
/// Zero divide.
pub const ZE: u16 = 0x04;
/// Overflow.
pub const OE: u16 = 0x08;
/// Underflow.
pub const UE: u16 = 0x10;
/// Precision (inexact result).
pub const PE: u16 = 0x20;
/// Stack fault (with IE).
pub const SF: u16 = 0x40;

/// Rounding control: to nearest (even).
pub const RC_NEAREST: u8 = 0;
/// Rounding control: down, toward −∞.
pub const RC_DOWN: u8 = 1;
/// Rounding control: up, toward +∞.
pub const RC_UP: u8 = 2;
/// Rounding control: toward zero (chop).
pub const RC_CHOP: u8 = 3;

/// The exponent bias of the extended format.
pub const BIAS: i32 = 16383;
/// The largest finite biased exponent of the extended format.
const EMAX: i32 = 0x7FFE;
/// What an unmasked overflow or underflow takes off or adds to the exponent
/// of a result that goes to a register (SDM vol. 1, 8.5.4 and 8.5.5).
const WRAP: i32 = 0x6000;

/// An 80-bit register or memory value: sign and 15-bit exponent, and the
/// 64-bit significand with its explicit integer bit (bit 63).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct F80 {
    pub sig: u64,
    pub se: u16,
}

/// What kind of number an [`F80`] holds (FXAM's classes, plus SNaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    /// A denormal or pseudo-denormal (exponent 0, significand non-zero).
    Denormal,
    Normal,
    Infinity,
    QNaN,
    SNaN,
    /// Unnormals, pseudo-NaNs and pseudo-infinities: invalid operands on a
    /// 387 and later.
    Unsupported,
}

impl F80 {
    pub const ZERO: F80 = F80 { sig: 0, se: 0 };
    pub const ONE: F80 = F80 {
        sig: 1 << 63,
        se: 0x3FFF,
    };
    pub const INFINITY: F80 = F80 {
        sig: 1 << 63,
        se: 0x7FFF,
    };
    /// The default QNaN ("real indefinite") of masked invalid operations.
    pub const INDEFINITE: F80 = F80 {
        sig: 0xC000_0000_0000_0000,
        se: 0xFFFF,
    };

    pub const fn new(sign: bool, exp: u16, sig: u64) -> F80 {
        F80 {
            sig,
            se: (sign as u16) << 15 | (exp & 0x7FFF),
        }
    }

    pub fn from_bytes(b: [u8; 10]) -> F80 {
        F80 {
            sig: u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0; 10];
        b[..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    #[inline]
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    #[inline]
    pub fn exp(self) -> u16 {
        self.se & 0x7FFF
    }

    pub fn negated(self) -> F80 {
        F80 {
            sig: self.sig,
            se: self.se ^ 0x8000,
        }
    }

    pub fn abs(self) -> F80 {
        F80 {
            sig: self.sig,
            se: self.se & 0x7FFF,
        }
    }

    pub fn with_sign(self, sign: bool) -> F80 {
        F80::new(sign, self.exp(), self.sig)
    }

    pub fn class(self) -> Class {
        let j = self.sig >> 63 != 0;
        match self.exp() {
            0 if self.sig == 0 => Class::Zero,
            0 => Class::Denormal,
            0x7FFF if !j => Class::Unsupported,
            0x7FFF if self.sig << 1 == 0 => Class::Infinity,
            0x7FFF if self.sig & (1 << 62) != 0 => Class::QNaN,
            0x7FFF => Class::SNaN,
            _ if !j => Class::Unsupported,
            _ => Class::Normal,
        }
    }

    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN)
    }

    pub fn is_zero(self) -> bool {
        self.class() == Class::Zero
    }

    /// A pseudo-denormal re-encoded with exponent 1 (the same value); any
    /// other value as it is.
    pub fn canonical(self) -> F80 {
        if self.exp() == 0 && self.sig >> 63 != 0 {
            F80 {
                sig: self.sig,
                se: self.se | 1,
            }
        } else {
            self
        }
    }

    /// A NaN made quiet.
    pub fn quiet(self) -> F80 {
        F80 {
            sig: self.sig | 1 << 62,
            se: self.se,
        }
    }

    /// Splits a finite non-zero value into sign, exponent and a normalised
    /// significand (bit 63 set): value = sig · 2^(exp − BIAS − 63).
    /// Denormals get an exponent below 1 (their exponent field counts as 1).
    pub fn unpack(self) -> (bool, i32, u64) {
        let e = self.exp() as i32;
        if e == 0 {
            let lz = self.sig.leading_zeros() as i32;
            (self.sign(), 1 - lz, self.sig << lz)
        } else {
            (self.sign(), e, self.sig)
        }
    }
}

/// The rounding environment of one operation and the flags it raises.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    /// Rounding control (`RC_*`).
    pub rc: u8,
    /// Significand bits of results (precision control): 24, 53 or 64.
    pub prec: u32,
    /// The exception masks of the control word (bits 0–5).
    pub masks: u16,
    /// Exception flags raised so far.
    pub flags: u16,
    /// The last inexact result was rounded up in magnitude (C1).
    pub up: bool,
    /// A memory operand was a denormal (single or double): DE is raised
    /// when the operation gets as far as looking at denormals.
    pub denormal: bool,
}

impl Env {
    /// A 64-bit-precision environment from a control word.
    pub fn new(cw: u16) -> Env {
        Env {
            rc: ((cw >> 10) & 3) as u8,
            prec: match (cw >> 8) & 3 {
                0 => 24,
                2 => 53,
                _ => 64,
            },
            masks: cw & 0x3F,
            flags: 0,
            up: false,
            denormal: false,
        }
    }

    /// The same environment with 64-bit precision (operations that precision
    /// control does not affect).
    pub fn full(mut self) -> Env {
        self.prec = 64;
        self
    }

    /// Raised exceptions that are unmasked among `bits`.
    #[inline]
    pub fn unmasked(&self, bits: u16) -> bool {
        self.flags & bits & !self.masks != 0
    }

    /// An unmasked invalid-operation, denormal or zero-divide exception:
    /// the destination must not be written.
    #[inline]
    pub fn faulted(&self) -> bool {
        self.unmasked(IE | DE | ZE)
    }

    /// Raises IE and returns the default NaN.
    pub fn invalid(&mut self) -> F80 {
        self.flags |= IE;
        F80::INDEFINITE
    }
}

/// A rounded finite result: target-format exponent field and the `prec`-bit
/// significand with its integer bit at `prec − 1` (clear for a denormal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
}

/// A destination format for rounding.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    /// Significand bits.
    pub prec: u32,
    /// Largest finite biased exponent (the infinity exponent is one more).
    pub emax: i32,
    /// The result goes to a register: unmasked overflow and underflow wrap
    /// the exponent instead of leaving the destination unchanged.
    pub register: bool,
}

impl Format {
    pub const fn extended(prec: u32) -> Format {
        Format {
            prec,
            emax: EMAX,
            register: true,
        }
    }
}

/// Right shift that ORs the bits shifted out into bit 0 ("jamming").
#[inline]
pub fn shr_jam(v: u128, n: u32) -> u128 {
    if n == 0 {
        v
    } else if n >= 128 {
        (v != 0) as u128
    } else {
        v >> n | ((v << (128 - n)) != 0) as u128
    }
}

/// Keeps the top `p` bits of `m` rounded by `rc`: returns the kept bits
/// (which may have carried to 2^p), whether anything was lost, and whether
/// the magnitude went up.
#[inline]
fn round_bits(rc: u8, sign: bool, m: u128, p: u32) -> (u128, bool, bool) {
    let shift = 128 - p;
    let q = m >> shift;
    let rest = m & ((1u128 << shift) - 1);
    if rest == 0 {
        return (q, false, false);
    }
    let half = 1u128 << (shift - 1);
    let inc = match rc {
        RC_NEAREST => rest > half || (rest == half && q & 1 != 0),
        RC_DOWN => sign,
        RC_UP => !sign,
        _ => false,
    };
    (q + inc as u128, true, inc)
}

/// Rounds `m · 2^(exp − bias − 127)` (with `m` normalised: bit 127 set, `exp`
/// biased for the target format) to `fmt`, raising OE, UE and PE as an x87
/// does. `None`: an unmasked overflow or underflow into memory, which
/// stores nothing.
pub fn round(env: &mut Env, sign: bool, mut exp: i32, m: u128, fmt: Format) -> Option<Rounded> {
    debug_assert!(m >> 127 == 1);
    let p = fmt.prec;
    if exp >= 1 {
        let (mut q, inexact, up) = round_bits(env.rc, sign, m, p);
        if q >> p != 0 {
            q >>= 1;
            exp += 1;
        }
        if exp > fmt.emax {
            env.flags |= OE;
            if env.masks & OE == 0 && exp - WRAP > fmt.emax && fmt.register {
                // Too large even to wrap (only FSCALE gets here): infinity.
                env.flags |= PE;
                env.up = true;
                return Some(Rounded {
                    sign,
                    exp: fmt.emax + 1,
                    sig: 1 << (p - 1),
                });
            }
            if env.masks & OE == 0 {
                if !fmt.register {
                    return None;
                }
                if inexact {
                    env.flags |= PE;
                }
                env.up = up;
                return Some(Rounded {
                    sign,
                    exp: exp - WRAP,
                    sig: q as u64,
                });
            }
            env.flags |= PE;
            let to_inf = match env.rc {
                RC_NEAREST => true,
                RC_DOWN => sign,
                RC_UP => !sign,
                _ => false,
            };
            env.up = to_inf;
            return Some(if to_inf {
                Rounded {
                    sign,
                    exp: fmt.emax + 1,
                    sig: 1 << (p - 1),
                }
            } else {
                Rounded {
                    sign,
                    exp: fmt.emax,
                    sig: (1u64 << (p - 1) << 1).wrapping_sub(1),
                }
            });
        }
        if inexact {
            env.flags |= PE;
        }
        env.up = up;
        return Some(Rounded {
            sign,
            exp,
            sig: q as u64,
        });
    }
    // Tiny before rounding. The x87 detects tininess after rounding: the
    // result is tiny if rounding it with an unbounded exponent stays below
    // the smallest normal.
    let (q, inexact_wide, up_wide) = round_bits(env.rc, sign, m, p);
    let tiny = if q >> p != 0 { exp + 1 < 1 } else { exp < 1 };
    if env.masks & UE == 0 && tiny && exp + WRAP < 1 && fmt.register {
        // Too small even to wrap (only FSCALE gets here): zero.
        env.flags |= UE | PE;
        env.up = false;
        return Some(Rounded {
            sign,
            exp: 0,
            sig: 0,
        });
    }
    if env.masks & UE == 0 && tiny {
        // Unmasked underflow: the exact exponent wrapped into range.
        env.flags |= UE;
        if !fmt.register {
            return None;
        }
        let (mut q, mut exp) = (q, exp);
        if q >> p != 0 {
            q >>= 1;
            exp += 1;
        }
        if inexact_wide {
            env.flags |= PE;
        }
        env.up = up_wide;
        return Some(Rounded {
            sign,
            exp: exp + WRAP,
            sig: q as u64,
        });
    }
    let d = shr_jam(m, (1 - exp) as u32);
    let (q, inexact, up) = round_bits(env.rc, sign, d, p);
    if inexact {
        env.flags |= PE;
        if tiny {
            env.flags |= UE;
        }
    }
    env.up = up;
    Some(Rounded {
        sign,
        exp: (q >> (p - 1) != 0) as i32,
        sig: q as u64,
    })
}

/// Rounds to the extended format at precision `env.prec`.
pub fn round_ext(env: &mut Env, sign: bool, exp: i32, m: u128) -> F80 {
    let fmt = Format::extended(env.prec);
    match round(env, sign, exp, m, fmt) {
        Some(r) => F80::new(r.sign, r.exp as u16, r.sig << (64 - fmt.prec)),
        None => F80::INDEFINITE,
    }
}

/// Packs a finite, non-zero exact value `m · 2^(exp − BIAS − 127)` with
/// `m` not necessarily normalised.
pub fn normalize_round(env: &mut Env, sign: bool, exp: i32, m: u128) -> F80 {
    if m == 0 {
        return F80::new(sign, 0, 0);
    }
    let lz = m.leading_zeros() as i32;
    round_ext(env, sign, exp - lz, m << lz)
}

/// A zero result's sign for an exact x − x: + except when rounding down.
fn exact_zero(env: &Env) -> F80 {
    F80::new(env.rc == RC_DOWN, 0, 0)
}

/// NaN propagation for two operands (SDM vol. 1, table 4-7, x87 column):
/// SNaNs raise IE; a QNaN wins over an SNaN; of two NaNs of the same kind
/// the one with the larger significand wins.
pub fn propagate(env: &mut Env, a: F80, b: F80) -> F80 {
    let (ac, bc) = (a.class(), b.class());
    if ac == Class::SNaN || bc == Class::SNaN {
        env.flags |= IE;
    }
    let an = matches!(ac, Class::QNaN | Class::SNaN);
    let bn = matches!(bc, Class::QNaN | Class::SNaN);
    let pick = match (an, bn) {
        (true, true) if ac != bc => {
            if ac == Class::QNaN {
                a
            } else {
                b
            }
        }
        (true, true) => {
            let (sa, sb) = (a.sig | 1 << 62, b.sig | 1 << 62);
            if sa > sb || (sa == sb && !a.sign()) {
                a
            } else {
                b
            }
        }
        (true, false) => a,
        _ => b,
    };
    pick.quiet()
}

/// The first checks of a two-operand operation: unsupported formats and
/// NaNs (IE, NaN propagation). `Some` is the final result.
pub fn nan2(env: &mut Env, a: F80, b: F80) -> Option<F80> {
    let (ac, bc) = (a.class(), b.class());
    if ac == Class::Unsupported || bc == Class::Unsupported {
        return Some(env.invalid());
    }
    if matches!(ac, Class::QNaN | Class::SNaN) || matches!(bc, Class::QNaN | Class::SNaN) {
        return Some(propagate(env, a, b));
    }
    None
}

/// The one-operand form of [`nan2`].
pub fn nan1(env: &mut Env, a: F80) -> Option<F80> {
    match a.class() {
        Class::Unsupported => Some(env.invalid()),
        Class::SNaN => {
            env.flags |= IE;
            Some(a.quiet())
        }
        Class::QNaN => Some(a),
        _ => None,
    }
}

/// Raises DE for denormal operands (checked after the invalid cases).
/// True: DE is unmasked and the operation stops.
pub fn denormal(env: &mut Env, ops: &[F80]) -> bool {
    if env.denormal || ops.iter().any(|x| x.class() == Class::Denormal) {
        env.flags |= DE;
        return env.unmasked(DE);
    }
    false
}

/// [`nan2`] then [`denormal`], for operations with no invalid cases of
/// their own before the denormal check.
pub fn check2(env: &mut Env, a: F80, b: F80) -> Option<F80> {
    if let Some(r) = nan2(env, a, b) {
        return Some(r);
    }
    denormal(env, &[a, b]).then_some(F80::INDEFINITE)
}

/// The one-operand form of [`check2`].
pub fn check1(env: &mut Env, a: F80) -> Option<F80> {
    if let Some(r) = nan1(env, a) {
        return Some(r);
    }
    denormal(env, &[a]).then_some(F80::INDEFINITE)
}

/// a + b (b negated first when `sub`).
pub fn add(env: &mut Env, a: F80, b: F80, sub: bool) -> F80 {
    if let Some(r) = nan2(env, a, b) {
        return r;
    }
    let b = if sub { b.negated() } else { b };
    let (ac, bc) = (a.class(), b.class());
    if ac == Class::Infinity && bc == Class::Infinity && a.sign() != b.sign() {
        return env.invalid();
    }
    if denormal(env, &[a, b]) {
        return F80::INDEFINITE;
    }
    match (ac, bc) {
        (Class::Infinity, Class::Infinity) => {
            return if a.sign() == b.sign() {
                a
            } else {
                env.invalid()
            };
        }
        (Class::Infinity, _) => return a,
        (_, Class::Infinity) => return b,
        (Class::Zero, Class::Zero) => {
            return if a.sign() == b.sign() {
                a
            } else {
                exact_zero(env)
            };
        }
        _ => {}
    }
    if ac == Class::Zero {
        let (s, e, m) = b.unpack();
        return round_ext(env, s, e, (m as u128) << 64);
    }
    if bc == Class::Zero {
        let (s, e, m) = a.unpack();
        return round_ext(env, s, e, (m as u128) << 64);
    }
    let (sa, ea, ma) = a.unpack();
    let (sb, eb, mb) = b.unpack();
    // Significands at bits 126..63, leaving a bit of headroom for a carry.
    let (mut ma, mut mb) = ((ma as u128) << 63, (mb as u128) << 63);
    let (big_sign, exp) = if ea > eb || (ea == eb && ma >= mb) {
        mb = shr_jam(mb, (ea - eb) as u32);
        (sa, ea)
    } else {
        ma = shr_jam(ma, (eb - ea) as u32);
        std::mem::swap(&mut ma, &mut mb);
        (sb, eb)
    };
    // Now ma is the larger magnitude.
    let m = if sa == sb { ma + mb } else { ma - mb };
    if m == 0 {
        return exact_zero(env);
    }
    normalize_round(env, big_sign, exp + 1, m)
}

/// a × b.
pub fn mul(env: &mut Env, a: F80, b: F80) -> F80 {
    if let Some(r) = nan2(env, a, b) {
        return r;
    }
    let sign = a.sign() != b.sign();
    match (a.class(), b.class()) {
        (Class::Infinity, Class::Zero) | (Class::Zero, Class::Infinity) => return env.invalid(),
        _ => {}
    }
    if denormal(env, &[a, b]) {
        return F80::INDEFINITE;
    }
    match (a.class(), b.class()) {
        (Class::Infinity, _) | (_, Class::Infinity) => F80::INFINITY.with_sign(sign),
        (Class::Zero, _) | (_, Class::Zero) => F80::new(sign, 0, 0),
        _ => {
            let (_, ea, ma) = a.unpack();
            let (_, eb, mb) = b.unpack();
            let m = ma as u128 * mb as u128;
            normalize_round(env, sign, ea + eb - BIAS + 1, m)
        }
    }
}

/// a ÷ b.
pub fn div(env: &mut Env, a: F80, b: F80) -> F80 {
    if let Some(r) = nan2(env, a, b) {
        return r;
    }
    let sign = a.sign() != b.sign();
    match (a.class(), b.class()) {
        (Class::Infinity, Class::Infinity) | (Class::Zero, Class::Zero) => return env.invalid(),
        (Class::Normal | Class::Denormal, Class::Zero) => {
            env.flags |= ZE;
            return F80::INFINITY.with_sign(sign);
        }
        _ => {}
    }
    if denormal(env, &[a, b]) {
        return F80::INDEFINITE;
    }
    match (a.class(), b.class()) {
        (Class::Infinity, _) => F80::INFINITY.with_sign(sign),
        (_, Class::Infinity) | (Class::Zero, _) => F80::new(sign, 0, 0),
        (_, Class::Zero) => {
            env.flags |= ZE;
            F80::INFINITY.with_sign(sign)
        }
        _ => {
            let (_, ea, ma) = a.unpack();
            let (_, eb, mb) = b.unpack();
            let (n, exp) = if ma >= mb {
                ((ma as u128) << 63, ea - eb + BIAS)
            } else {
                ((ma as u128) << 64, ea - eb + BIAS - 1)
            };
            let d = mb as u128;
            let (q1, r1) = (n / d, n % d);
            let n2 = r1 << 64;
            let (q2, r2) = (n2 / d, n2 % d);
            let m = (q1 << 64 | q2) | (r2 != 0) as u128;
            round_ext(env, sign, exp, m)
        }
    }
}

/// √a.
pub fn sqrt(env: &mut Env, a: F80) -> F80 {
    if let Some(r) = nan1(env, a) {
        return r;
    }
    if a.sign() && !a.is_zero() {
        return env.invalid();
    }
    if denormal(env, &[a]) {
        return F80::INDEFINITE;
    }
    match a.class() {
        Class::Zero => a,
        Class::Infinity if !a.sign() => a,
        _ if a.sign() => env.invalid(),
        _ => {
            let (_, e, m) = a.unpack();
            // value = m · 2^u; make the power even: value = n · 2^(u − odd).
            let u = e - BIAS - 63;
            let odd = u & 1;
            let n = (m as u128) << odd;
            // root = ⌊√(n · 2^70)⌋, 67 or 68 bits, by the digit-by-digit
            // method; the remainder says whether it is exact.
            let (mut root, mut rest) = (0u128, 0u128);
            for i in (0..68).rev() {
                let pos = 2 * i - 70;
                let pair = if pos >= 0 { (n >> pos) & 3 } else { 0 };
                rest = rest << 2 | pair;
                let trial = root << 2 | 1;
                if rest >= trial {
                    rest -= trial;
                    root = root << 1 | 1;
                } else {
                    root <<= 1;
                }
            }
            let lz = root.leading_zeros() as i32;
            let m = root << lz | (rest != 0) as u128;
            // √value = root · 2^((u − odd)/2 − 35)
            let exp = (u - odd) / 2 - 35 - lz + 127 + BIAS;
            round_ext(env, false, exp, m)
        }
    }
}

/// Rounds `env` to 64-bit precision for this one result (operations that
/// precision control does not affect).
pub fn round_full(env: &mut Env, sign: bool, exp: i32, m: u128) -> F80 {
    let prec = env.prec;
    env.prec = 64;
    let r = round_ext(env, sign, exp, m);
    env.prec = prec;
    r
}

/// Rounds a finite value to an integer by `env.rc`: the integer's magnitude
/// (saturated beyond 2^127), whether anything was lost, and whether the
/// magnitude went up. Raises nothing.
pub fn to_integer(env: &Env, a: F80) -> (u128, bool, bool) {
    if a.is_zero() {
        return (0, false, false);
    }
    let (sign, e, m) = a.unpack();
    let shift = BIAS + 63 - e; // |value| = m / 2^shift
    if shift <= 0 {
        return if -shift >= 64 {
            (u128::MAX, false, false)
        } else {
            ((m as u128) << -shift, false, false)
        };
    }
    let (q, frac) = if shift <= 64 {
        ((m as u128) >> shift, (m as u128) << (128 - shift as u32))
    } else {
        (0, shr_jam((m as u128) << 64, (shift - 64) as u32))
    };
    if frac == 0 {
        return (q, false, false);
    }
    let half = 1u128 << 127;
    let up = match env.rc {
        RC_NEAREST => frac > half || (frac == half && q & 1 != 0),
        RC_DOWN => sign,
        RC_UP => !sign,
        _ => false,
    };
    (q + up as u128, true, up)
}

/// FRNDINT: rounds to an integral value by the rounding control.
pub fn round_to_int(env: &mut Env, a: F80) -> F80 {
    if let Some(r) = check1(env, a) {
        return r;
    }
    match a.class() {
        Class::Zero | Class::Infinity => return a,
        _ => {}
    }
    if a.exp() as i32 >= BIAS + 63 {
        return a;
    }
    let (q, inexact, up) = to_integer(env, a);
    if inexact {
        env.flags |= PE;
        env.up = up;
    }
    if q == 0 {
        return F80::new(a.sign(), 0, 0);
    }
    let lz = q.leading_zeros() as i32;
    F80::new(a.sign(), (BIAS + 127 - lz) as u16, (q << lz >> 64) as u64)
}

/// FSCALE: a · 2^trunc(b).
pub fn scale(env: &mut Env, a: F80, b: F80) -> F80 {
    if let Some(r) = check2(env, a, b) {
        return r;
    }
    match (a.class(), b.class()) {
        (Class::Zero, Class::Infinity) if !b.sign() => env.invalid(),
        (Class::Infinity, Class::Infinity) if b.sign() => env.invalid(),
        (Class::Zero | Class::Infinity, _) => a,
        (_, Class::Infinity) => {
            if b.sign() {
                F80::new(a.sign(), 0, 0)
            } else {
                F80::INFINITY.with_sign(a.sign())
            }
        }
        _ if b.is_zero() => a.canonical(),
        _ => {
            let n: i64 = {
                let (bs, be, bm) = b.unpack();
                let sh = BIAS + 63 - be;
                let mag = if sh >= 64 {
                    0
                } else if sh <= 44 {
                    1 << 20
                } else {
                    (bm >> sh) as i64
                };
                if bs {
                    -mag
                } else {
                    mag
                }
            };
            let (s, e, m) = a.unpack();
            let e = (e as i64 + n).clamp(-(1 << 20), 1 << 20) as i32;
            round_full(env, s, e, (m as u128) << 64)
        }
    }
}

/// FXTRACT: (exponent, significand) of `a`; the significand has a's sign
/// and exponent 0. Zero gives ZE, exponent −∞ and the zero.
pub fn xtract(env: &mut Env, a: F80) -> (F80, F80) {
    if let Some(r) = check1(env, a) {
        return (r, r);
    }
    match a.class() {
        Class::Zero => {
            env.flags |= ZE;
            (F80::INFINITY.negated(), a)
        }
        Class::Infinity => (F80::INFINITY, a),
        _ => {
            let (s, e, m) = a.unpack();
            let x = F80::new(s, BIAS as u16, m);
            (int_to_f80((e - BIAS) as i64), x)
        }
    }
}

/// An exact conversion of a 64-bit integer.
pub fn int_to_f80(v: i64) -> F80 {
    if v == 0 {
        return F80::ZERO;
    }
    let mag = v.unsigned_abs();
    let lz = mag.leading_zeros();
    F80::new(v < 0, (BIAS + 63 - lz as i32) as u16, mag << lz)
}

/// The outcome of FPREM/FPREM1.
#[derive(Clone, Copy, Debug)]
pub struct Remainder {
    pub value: F80,
    /// The low three quotient bits (C0 = q2, C3 = q1, C1 = q0); `None`
    /// for a NaN or invalid result, which leaves C0 and C3 alone.
    pub q: Option<u8>,
    /// The reduction is incomplete (C2).
    pub partial: bool,
}

/// FPREM (`ieee` false: the quotient is truncated) and FPREM1 (`ieee`:
/// rounded to nearest even), with the partial-remainder rule for exponent
/// differences of 64 and more.
pub fn rem(env: &mut Env, a: F80, b: F80, ieee: bool) -> Remainder {
    let done = |v| Remainder {
        value: v,
        q: Some(0),
        partial: false,
    };
    let special = |v| Remainder {
        value: v,
        q: None,
        partial: false,
    };
    if let Some(r) = nan2(env, a, b) {
        return special(r);
    }
    if matches!(a.class(), Class::Infinity) || b.is_zero() {
        return special(env.invalid());
    }
    if denormal(env, &[a, b]) {
        return special(F80::INDEFINITE);
    }
    match (a.class(), b.class()) {
        (Class::Zero, _) => return done(a),
        (_, Class::Infinity) => return done(a.canonical()),
        _ => {}
    }
    let (sa, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let d = ea - eb;
    if d < -1 || (d == -1 && !ieee) {
        return done(round_full(env, sa, ea, (ma as u128) << 64));
    }
    let (n, partial, unit_exp) = if d >= 64 {
        // Partial reduction: reduce by 2^(d − N) · b with N = 32..63 so that
        // the quotient keeps N bits (SDM vol. 2, FPREM).
        let big_n = 32 + (d - 32) % 32;
        ((ma as u128) << big_n, true, ea - big_n)
    } else if d >= 0 {
        ((ma as u128) << d, false, eb)
    } else {
        (ma as u128, false, ea)
    };
    // n is a in units of 2^(unit_exp − BIAS − 63); b likewise when d ≥ 0.
    let (mut q, mut r, mut sign) = if d >= 0 {
        (n / mb as u128, n % mb as u128, sa)
    } else {
        (0, n, sa)
    };
    // For d = −1 (FPREM1): a vs b/2 compares as n vs mb in units of a.
    let bm = if d >= 0 {
        mb as u128
    } else {
        (mb as u128) << 1
    };
    if ieee && !partial && (2 * r > bm || (2 * r == bm && q & 1 != 0)) {
        r = bm - r;
        q += 1;
        sign = !sign;
    }
    let value = if r == 0 {
        F80::new(sa, 0, 0)
    } else {
        let lz = r.leading_zeros() as i32;
        round_full(env, sign, unit_exp + 64 - lz, r << lz)
    };
    Remainder {
        value,
        q: Some((q & 7) as u8),
        partial,
    }
}
