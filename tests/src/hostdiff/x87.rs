//! x87 cases: random FPU state in, one instruction, the FPU state out.
//!
//! Both worlds move the FPU state through memory: FRSTOR before the
//! instruction and FNSAVE after it (natively inside the stub, in ferrite as
//! two extra instructions around it), so the comparison needs nothing from
//! ferrite's internal FPU representation. The image is the 108-byte 32-bit
//! protected-mode format (SDM vol. 1, figure 8-9): control word, status word,
//! the full tag word (which FNSAVE recomputes from the register contents:
//! valid, zero, special or empty), the instruction and operand pointers, and
//! ST(0)..ST(7) as 80-bit values.
//!
//! Compared: the control word, the status word (less the condition codes the
//! instruction leaves undefined), the tag word, and every non-empty register;
//! plus, as for every case, the general registers, EFLAGS (FCOMI, FCMOVcc)
//! and memory (stores). Not compared: the pointers and the opcode (bytes
//! 12–27), which hold host addresses natively and which current processors
//! no longer maintain exactly (SDM vol. 1, 8.1.8 and 8.1.9: FCS/FDS
//! deprecation, the FOP compatibility mode); and the contents of empty
//! registers, which the architecture does not define.
//!
//! Documented difference between the host and the SDM's text, on which the
//! host is taken as the truth: FCOMI, FCOMIP, FUCOMI and FUCOMIP leave C1 as
//! it was on the host, where SDM vol. 2 says "C1 set to 0"; FCMOVcc leaves C1
//! as it was (the SDM only says it is cleared on a stack underflow) and, on a
//! stack underflow, writes the indefinite to ST(0) whether or not the
//! condition holds.
//!
//! F2XM1 and FYL2XP1 get ST(0) inside their domains (|x| <= 1 and
//! |x| < 1 - sqrt(2)/2): outside, the SDM leaves the result undefined.
//!
//! Transcendentals (FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1) are
//! only specified to within one unit in the last place (SDM vol. 1, 8.3.10
//! "Transcendental Instruction Accuracy"): their results may differ from the
//! host by 1 ulp, and then C1 (the rounding direction) is not compared.

use super::gen::{Gen, Loc};
use super::{FPU_IMAGE, SCRATCH_LEN};
use std::fmt::Write as _;

const C0: u16 = 1 << 8;
const C1: u16 = 1 << 9;
const C2: u16 = 1 << 10;
const UE: u16 = 1 << 4;
const C3: u16 = 1 << 14;

const WHY_CC: &str =
    "SDM vol.2 x87 entries, FPU Flags Affected: the condition codes marked undefined";
const WHY_TRANS: &str = "SDM vol.1 8.3.10: transcendentals are accurate to 1 ulp, so results may differ by 1 ulp (and with them the tag, and UE near zero) and C1 (rounded up) is compared only when nothing was rounded; SDM vol.2: C0/C3 (FSIN FCOS FSINCOS FPTAN) or C0/C2/C3 undefined";

/// What to compare in the FPU image.
#[derive(Clone, Debug)]
pub struct Check {
    /// Status-word bits compared.
    pub fsw: u16,
    /// Tolerance in ulps for ST(0) and ST(1) (transcendentals).
    pub ulps: u64,
    /// FSIN FCOS FSINCOS FPTAN: C2 set on the way out means the operand was
    /// out of range and nothing was computed.
    pub trig: bool,
}

fn u16_at(img: &[u8; FPU_IMAGE], at: usize) -> u16 {
    u16::from_le_bytes([img[at], img[at + 1]])
}

fn reg_at(img: &[u8; FPU_IMAGE], i: usize) -> (u16, u64) {
    let at = 28 + 10 * i;
    let mant = u64::from_le_bytes(img[at..at + 8].try_into().unwrap());
    let se = u16::from_le_bytes([img[at + 8], img[at + 9]]);
    (se, mant)
}

/// The FPU state in one line: control, status, tags and the stack.
pub fn describe_image(img: &[u8; FPU_IMAGE]) -> String {
    let fsw = u16_at(img, 4);
    let ftw = u16_at(img, 8);
    let top = (fsw >> 11) & 7;
    let mut s = format!("fcw={:04x} fsw={:04x} ftw={:04x}", u16_at(img, 0), fsw, ftw);
    for i in 0..8 {
        let phys = (top as usize + i) & 7;
        let tag = (ftw >> (2 * phys)) & 3;
        let (se, m) = reg_at(img, i);
        if tag == 3 {
            let _ = write!(s, " st{i}=empty");
        } else {
            let _ = write!(s, " st{i}={se:04x}:{m:016x}");
        }
    }
    s
}

/// Distance in ulps between two finite extended values of the same sign
/// (u64::MAX if not comparable that way).
fn ulp_distance(a: (u16, u64), b: (u16, u64)) -> u64 {
    if a.0 & 0x8000 != b.0 & 0x8000 || a.0 & 0x7FFF == 0x7FFF || b.0 & 0x7FFF == 0x7FFF {
        return u64::MAX;
    }
    let key = |(se, m): (u16, u64)| ((se & 0x7FFF) as i128) << 63 | (m & !(1 << 63)) as i128;
    (key(a) - key(b)).unsigned_abs().min(u64::MAX as u128) as u64
}

/// Compares two FNSAVE images under `c`, appending differences to `diffs`.
pub fn compare(c: &Check, h: &[u8; FPU_IMAGE], e: &[u8; FPU_IMAGE], diffs: &mut Vec<String>) {
    let (hcw, ecw) = (u16_at(h, 0), u16_at(e, 0));
    if hcw != ecw {
        diffs.push(format!("FCW host={hcw:04x} ferrite={ecw:04x}"));
    }
    let htw = u16_at(h, 8);
    let etw = u16_at(e, 8);
    let top = ((u16_at(h, 4) >> 11) & 7) as usize;
    let mut fsw_mask = c.fsw;
    let hsw = u16_at(h, 4);
    // A transcendental's C1 is the rounding direction of a result that is
    // only specified to within an ulp: compared only when nothing was
    // rounded (a stack fault, or an operand out of the trigonometric range).
    if c.ulps > 0 && hsw & 0x40 == 0 && !(c.trig && hsw & C2 != 0) {
        fsw_mask &= !C1;
    }
    // Tag bits that follow from a result allowed to differ by an ulp.
    let mut tw_mask = 0xFFFFu16;
    for i in 0..8 {
        let phys = (top + i) & 7;
        if (htw >> (2 * phys)) & 3 == 3 {
            continue;
        }
        let (hr, er) = (reg_at(h, i), reg_at(e, i));
        if hr == er {
            continue;
        }
        if i < 2 && c.ulps > 0 && ulp_distance(hr, er) <= c.ulps {
            // Within an ulp of a tiny value, one CPU's result may be a
            // denormal (tag "special") where another's is zero, and whether
            // it underflowed follows (AMD and Intel differ here on FSIN of
            // denormals under directed rounding).
            if (etw >> (2 * phys)) & 3 != 3 {
                tw_mask &= !(3 << (2 * phys));
            }
            if hr.0 & 0x7FFF == 0 || er.0 & 0x7FFF == 0 {
                fsw_mask &= !UE;
            }
            continue;
        }
        diffs.push(format!(
            "ST{i} host={:04x}:{:016x} ferrite={:04x}:{:016x}",
            hr.0, hr.1, er.0, er.1
        ));
    }
    if (htw ^ etw) & tw_mask != 0 {
        diffs.push(format!("FTW host={htw:04x} ferrite={etw:04x}"));
    }
    let esw = u16_at(e, 4);
    if (hsw ^ esw) & fsw_mask != 0 {
        diffs.push(format!(
            "FSW host={hsw:04x} ferrite={esw:04x} (compared bits {fsw_mask:04x})"
        ));
    }
}

// ---------------------------------------------------------------------------
// Values.

/// An extended-precision value as (sign|exponent, significand).
type Ext = (u16, u64);

const INT_BIT: u64 = 1 << 63;

fn ext_from_f64(v: f64) -> Ext {
    let b = v.to_bits();
    let sign = ((b >> 63) as u16) << 15;
    let exp = ((b >> 52) & 0x7FF) as u16;
    let frac = b & ((1 << 52) - 1);
    match exp {
        0 if frac == 0 => (sign, 0),
        0 => {
            // Double denormal: normalise (it is a normal extended value).
            let shift = frac.leading_zeros() - 11;
            let m = frac << (11 + shift);
            (sign | (0x3FFF - 1022 - shift as u16), m)
        }
        0x7FF => (sign | 0x7FFF, INT_BIT | (frac << 11)),
        _ => (sign | (exp - 1023 + 0x3FFF), INT_BIT | (frac << 11)),
    }
}

fn random_ext(g: &mut Gen) -> Ext {
    let sign = if g.chance(2) { 0x8000 } else { 0 };
    let r = g.rng.next_u64();
    match g.below(24) {
        0 => (sign, 0),
        1 => (sign, r >> 1 >> g.below(63)), // denormal
        2 => (sign | 0x7FFF, INT_BIT),      // infinity
        3 => (sign | 0x7FFF, INT_BIT | (1 << 62) | (r >> 2 >> g.below(8))), // QNaN
        4 => (sign | 0x7FFF, INT_BIT | (r >> 2).max(1)), // SNaN
        5 => (0xFFFF, 0xC000_0000_0000_0000), // the indefinite
        6 => {
            // Unsupported encodings (unnormals, pseudo-denormals, pseudo-NaN
            // and pseudo-infinity), rarely.
            if g.chance(4) {
                match g.below(3) {
                    0 => (sign | (1 + g.below(0x7FFE)) as u16, r >> 1),
                    1 => (sign, INT_BIT | r),
                    _ => (sign | 0x7FFF, r >> 1),
                }
            } else {
                (sign | 0x3FFF, INT_BIT | r)
            }
        }
        7 | 8 => {
            let n = g.below(1000) as f64;
            let e = ext_from_f64(n);
            (e.0 | sign, e.1)
        }
        9 => {
            // Exactly a double (or a float).
            let f = f64::from_bits(g.rng.next_u64());
            let f = if g.chance(2) { (f as f32) as f64 } else { f };
            let e = ext_from_f64(f);
            if e.0 & 0x7FFF == 0x7FFF {
                (sign | 0x3FFF, INT_BIT)
            } else {
                e
            }
        }
        10 => (sign | (0x3FFF + 50 + g.below(20)) as u16, INT_BIT | r), // near 2^63
        11 => (sign | (1 + g.below(70)) as u16, INT_BIT | r),           // tiny
        12 => (sign | (0x7FFE - g.below(70)) as u16, INT_BIT | r),      // huge
        13 => {
            // A rounding tie or near-tie at 24, 53 or 64 bits.
            let keep = [24u32, 53][g.below(2) as usize];
            let low = 64 - keep;
            let m = (r | INT_BIT) & !((1u64 << low) - 1) | (1u64 << (low - 1));
            let m = m.wrapping_add(g.below(3) as u64).wrapping_sub(1) | INT_BIT;
            (sign | (0x3FFF + g.below(16) as u16 - 8), m)
        }
        14 => {
            // Sparse significand.
            let m = INT_BIT | (r & g.rng.next_u64() & g.rng.next_u64());
            (sign | (0x3FFF + g.below(128) as u16 - 64), m)
        }
        15 => {
            // Multiples of pi/4 and friends, for the trigonometric range work.
            let k = g.below(64) as f64;
            let e = ext_from_f64(k * std::f64::consts::FRAC_PI_4);
            (
                e.0 | sign,
                e.1.wrapping_add(g.below(5) as u64).wrapping_sub(2) | INT_BIT,
            )
        }
        _ => (sign | (0x3FFF + g.below(80) as u16 - 40), INT_BIT | r), // ordinary
    }
}

fn write_ext(img: &mut [u8], at: usize, v: Ext) {
    img[at..at + 8].copy_from_slice(&v.1.to_le_bytes());
    img[at + 8..at + 10].copy_from_slice(&v.0.to_le_bytes());
}

fn random_f32(g: &mut Gen) -> u32 {
    let sign = (g.below(2)) << 31;
    match g.below(10) {
        0 => sign,
        1 => sign | (g.rng.next_u32() & 0x7F_FFFF), // denormal
        2 => sign | 0x7F80_0000,
        3 => sign | 0x7FC0_0000 | (g.rng.next_u32() & 0x3F_FFFF),
        4 => sign | 0x7F80_0000 | (g.rng.next_u32() & 0x3F_FFFF).max(1),
        5 => (g.below(1000) as f32).to_bits() | sign,
        _ => sign | ((0x7F + g.below(60) - 30) << 23) | (g.rng.next_u32() & 0x7F_FFFF),
    }
}

fn random_f64(g: &mut Gen) -> u64 {
    let sign = (g.below(2) as u64) << 63;
    let r = g.rng.next_u64();
    match g.below(10) {
        0 => sign,
        1 => sign | (r & ((1 << 52) - 1)),
        2 => sign | 0x7FF0_0000_0000_0000,
        3 => sign | 0x7FF8_0000_0000_0000 | (r & ((1 << 51) - 1)),
        4 => sign | 0x7FF0_0000_0000_0000 | (r & ((1 << 51) - 1)).max(1),
        5 => (g.below(1000) as f64).to_bits() | sign,
        6 => sign | ((1 + g.below(2046) as u64) << 52) | (r & ((1 << 52) - 1)),
        _ => sign | ((0x3FF + g.below(120) as u64 - 60) << 52) | (r & ((1 << 52) - 1)),
    }
}

fn random_int(g: &mut Gen, bits: u32) -> u64 {
    let v = match g.below(6) {
        0 => g.below(100) as u64,
        1 => (g.below(100) as u64).wrapping_neg(),
        2 => 1u64 << (bits - 1), // the most negative
        _ => g.rng.next_u64() >> g.below(64),
    };
    if bits == 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// A packed BCD value with valid digits (invalid digits give undefined results).
fn random_bcd(g: &mut Gen) -> [u8; 10] {
    let mut b = [0u8; 10];
    let digits = 1 + g.below(18) as usize;
    for i in 0..digits {
        let d = g.below(10) as u8;
        b[i / 2] |= d << (4 * (i % 2));
    }
    if g.chance(2) {
        b[9] = 0x80;
    }
    b
}

// ---------------------------------------------------------------------------
// Cases.

/// What an instruction does to the stack, for choosing which registers to
/// fill: it reads ST(0..reads) and pushes (needs ST(7) empty) or not.
struct Shape {
    reads: usize,
    pushes: bool,
}

/// Builds the starting FPU image.
fn state(g: &mut Gen, shape: &Shape) -> [u8; FPU_IMAGE] {
    let mut img = [0u8; FPU_IMAGE];
    let rc = g.below(4) as u16;
    let pc = [0u16, 2, 3, 3][g.below(4) as usize];
    let fcw = 0x0040 | 0x3F | (pc << 8) | (rc << 10);
    let top = g.below(8) as u16;
    let cc = (g.rng.next_u32() as u16) & (C0 | C1 | C2 | C3);
    // Sticky exception flags, but never SF: SF set on the way out then says
    // that this instruction had a stack fault.
    let sticky = if g.chance(4) {
        g.rng.next_u32() as u16 & 0x3F
    } else {
        0
    };
    let fsw = (top << 11) | cc | sticky;
    let mut ftw = 0u16;
    for i in 0..8 {
        let filled = if i < shape.reads {
            !g.chance(16)
        } else if i == 7 && shape.pushes {
            g.chance(8)
        } else {
            g.chance(2)
        };
        let phys = (top as usize + i) & 7;
        if filled {
            let v = random_ext(g);
            write_ext(&mut img, 28 + 10 * i, v);
        } else {
            ftw |= 3 << (2 * phys);
            // Leave something in the register anyway: it must not matter.
            let v = random_ext(g);
            write_ext(&mut img, 28 + 10 * i, v);
        }
    }
    img[0..2].copy_from_slice(&fcw.to_le_bytes());
    img[4..6].copy_from_slice(&fsw.to_le_bytes());
    img[8..10].copy_from_slice(&ftw.to_le_bytes());
    img
}

/// A memory operand of `size` bytes for ModRM digit `digit`, holding `value`.
fn mem_operand(g: &mut Gen, digit: u8, value: &[u8]) -> usize {
    let Loc::Mem(off) = g.modrm(digit, value.len() as u32, Some(true), false, 0) else {
        unreachable!()
    };
    assert!(off + value.len() <= SCRATCH_LEN);
    let end = off + value.len();
    g.mem[off..end].copy_from_slice(value);
    g.maybe_segment();
    off
}

fn ext_bytes(v: Ext) -> [u8; 10] {
    let mut b = [0u8; 10];
    write_ext(&mut b, 0, v);
    b
}

/// Fills in an x87 case; returns its class name.
pub fn generate(g: &mut Gen) -> &'static str {
    let (class, shape, fsw, ulps) = match g.below(7) {
        0 => load(g),
        1 => store(g),
        2 | 3 => arith(g),
        4 => compare_ops(g),
        5 => misc(g),
        _ => transcendental(g),
    };
    let mut img = state(g, &shape);
    let op = g.last_opcode();
    // F2XM1 is defined for -1 <= x <= 1 and FYL2XP1 for
    // |x| < 1 - sqrt(2)/2 (SDM vol.2): outside, the result is undefined, so
    // ST(0) gets a value inside (or a zero, a denormal or a NaN).
    if let [0xD9, 0xF0] | [0xD9, 0xF9] = op[..] {
        let top_exp = if op[1] == 0xF0 { 0x3FFF } else { 0x3FFD };
        let v = random_ext(g);
        let exp = v.0 & 0x7FFF;
        let v = if exp == 0x7FFF
            || exp < top_exp
            || (op[1] == 0xF0 && v == (v.0 & 0x8000 | 0x3FFF, INT_BIT))
        {
            v
        } else {
            (
                v.0 & 0x8000 | (top_exp - 1 - g.below(40) as u16),
                v.1 | INT_BIT,
            )
        };
        write_ext(&mut img, 28, v);
        let ftw = u16::from_le_bytes([img[8], img[9]]);
        let top = (u16::from_le_bytes([img[4], img[5]]) >> 11) & 7;
        let ftw = ftw & !(3 << (2 * top));
        img[8..10].copy_from_slice(&ftw.to_le_bytes());
    }
    g.set_fpu(img);
    let trig = matches!(
        op[..],
        [0xD9, 0xFE] | [0xD9, 0xFF] | [0xD9, 0xFB] | [0xD9, 0xF2]
    );
    g.check.x87 = Some(Check { fsw, ulps, trig });
    if fsw != 0xFFFF {
        g.check.why = if ulps > 0 { WHY_TRANS } else { WHY_CC };
    }
    class
}

type Drawn = (&'static str, Shape, u16, u64);

const NOT_023: u16 = !(C0 | C2 | C3);

fn load(g: &mut Gen) -> Drawn {
    let push = Shape {
        reads: 0,
        pushes: true,
    };
    match g.below(9) {
        0 => {
            let v = random_f32(g);
            g.op(&[0xD9]);
            mem_operand(g, 0, &v.to_le_bytes());
        }
        1 => {
            let v = random_f64(g);
            g.op(&[0xDD]);
            mem_operand(g, 0, &v.to_le_bytes());
        }
        2 => {
            let v = random_ext(g);
            g.op(&[0xDB]);
            mem_operand(g, 5, &ext_bytes(v));
        }
        3 => {
            let i = g.below(8) as u8;
            g.op(&[0xD9, 0xC0 + i]);
            return (
                "x87-load",
                Shape {
                    reads: i as usize + 1,
                    pushes: true,
                },
                NOT_023,
                0,
            );
        }
        4 => {
            // FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ.
            let k = g.below(7) as u8;
            g.op(&[0xD9, 0xE8 + k]);
        }
        5 => {
            let v = random_int(g, 16) as u16;
            g.op(&[0xDF]);
            mem_operand(g, 0, &v.to_le_bytes());
        }
        6 => {
            let v = random_int(g, 32) as u32;
            g.op(&[0xDB]);
            mem_operand(g, 0, &v.to_le_bytes());
        }
        7 => {
            let v = random_int(g, 64);
            g.op(&[0xDF]);
            mem_operand(g, 5, &v.to_le_bytes());
        }
        _ => {
            let v = random_bcd(g);
            g.op(&[0xDF]);
            mem_operand(g, 4, &v);
        }
    }
    ("x87-load", push, NOT_023, 0)
}

fn store(g: &mut Gen) -> Drawn {
    let one = Shape {
        reads: 1,
        pushes: false,
    };
    let junk = |g: &mut Gen, n: usize| -> Vec<u8> {
        let mut v = vec![0u8; n];
        g.rng.fill(&mut v);
        v
    };
    let (op, digit, size): (u8, u8, usize) = match g.below(12) {
        0 => (0xD9, 2, 4),   // FST m32
        1 => (0xDD, 2, 8),   // FST m64
        2 => (0xD9, 3, 4),   // FSTP m32
        3 => (0xDD, 3, 8),   // FSTP m64
        4 => (0xDB, 7, 10),  // FSTP m80
        5 => (0xDF, 2, 2),   // FIST m16
        6 => (0xDB, 2, 4),   // FIST m32
        7 => (0xDF, 3, 2),   // FISTP m16
        8 => (0xDB, 3, 4),   // FISTP m32
        9 => (0xDF, 7, 8),   // FISTP m64
        10 => (0xDF, 6, 10), // FBSTP
        _ => {
            // FST / FSTP ST(i).
            let i = g.below(8) as u8;
            let pop = g.below(2) as u8;
            g.op(&[0xDD, 0xD0 + pop * 8 + i]);
            return ("x87-store", one, NOT_023, 0);
        }
    };
    g.op(&[op]);
    let j = junk(g, size);
    mem_operand(g, digit, &j);
    ("x87-store", one, NOT_023, 0)
}

fn arith(g: &mut Gen) -> Drawn {
    let r = g.below(8) as u8; // FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR
    let r = if r == 2 || r == 3 { r + 2 } else { r };
    match g.below(6) {
        0 => {
            let v = random_f32(g);
            g.op(&[0xD8]);
            mem_operand(g, r, &v.to_le_bytes());
            (
                "x87-arith",
                Shape {
                    reads: 1,
                    pushes: false,
                },
                NOT_023,
                0,
            )
        }
        1 => {
            let v = random_f64(g);
            g.op(&[0xDC]);
            mem_operand(g, r, &v.to_le_bytes());
            (
                "x87-arith",
                Shape {
                    reads: 1,
                    pushes: false,
                },
                NOT_023,
                0,
            )
        }
        2 => {
            let v = random_int(g, 32) as u32;
            g.op(&[0xDA]);
            mem_operand(g, r, &v.to_le_bytes());
            (
                "x87-arith",
                Shape {
                    reads: 1,
                    pushes: false,
                },
                NOT_023,
                0,
            )
        }
        3 => {
            let v = random_int(g, 16) as u16;
            g.op(&[0xDE]);
            mem_operand(g, r, &v.to_le_bytes());
            (
                "x87-arith",
                Shape {
                    reads: 1,
                    pushes: false,
                },
                NOT_023,
                0,
            )
        }
        _ => {
            // D8: ST(0) op= ST(i); DC: ST(i) op= ST(0); DE: ... and pop.
            let i = g.below(8) as u8;
            let esc = [0xD8, 0xDC, 0xDE][g.below(3) as usize];
            g.op(&[esc, 0xC0 + r * 8 + i]);
            (
                "x87-arith",
                Shape {
                    reads: i as usize + 1,
                    pushes: false,
                },
                NOT_023,
                0,
            )
        }
    }
}

fn compare_ops(g: &mut Gen) -> Drawn {
    let all = 0xFFFF;
    let i = g.below(8) as u8;
    let two = Shape {
        reads: (i as usize + 1).max(2),
        pushes: false,
    };
    match g.below(12) {
        0 => {
            let v = random_f32(g);
            g.op(&[0xD8]);
            let d = 2 + g.below(2) as u8;
            mem_operand(g, d, &v.to_le_bytes());
        }
        1 => {
            let v = random_f64(g);
            g.op(&[0xDC]);
            let d = 2 + g.below(2) as u8;
            mem_operand(g, d, &v.to_le_bytes());
        }
        2 => {
            let v = random_int(g, 16) as u16;
            g.op(&[0xDE]);
            let d = 2 + g.below(2) as u8;
            mem_operand(g, d, &v.to_le_bytes());
        }
        3 => {
            let v = random_int(g, 32) as u32;
            g.op(&[0xDA]);
            let d = 2 + g.below(2) as u8;
            mem_operand(g, d, &v.to_le_bytes());
        }
        4 => {
            let p = g.below(2) as u8;
            g.op(&[0xD8, 0xD0 + 8 * p + i]) // FCOM/FCOMP ST(i)
        }
        5 => g.op(&[0xDE, 0xD9]), // FCOMPP
        6 => {
            let p = g.below(2) as u8;
            g.op(&[0xDD, 0xE0 + 8 * p + i]) // FUCOM/FUCOMP ST(i)
        }
        7 => g.op(&[0xDA, 0xE9]), // FUCOMPP
        8 => {
            // FCOMI FUCOMI FCOMIP FUCOMIP.
            let esc = if g.chance(2) { 0xDB } else { 0xDF };
            let u = if g.chance(2) { 0xE8 } else { 0xF0 };
            g.op(&[esc, u + i]);
        }
        9 => g.op(&[0xD9, 0xE4]), // FTST
        _ => g.op(&[0xD9, 0xE5]), // FXAM
    }
    ("x87-compare", two, all, 0)
}

fn misc(g: &mut Gen) -> Drawn {
    let i = g.below(8) as u8;
    let one = Shape {
        reads: 1,
        pushes: false,
    };
    let two = Shape {
        reads: (i as usize + 1).max(2),
        pushes: false,
    };
    let all = 0xFFFF;
    let none = !(C0 | C1 | C2 | C3);
    match g.below(18) {
        0 => g.op(&[0xD9, 0xE0]), // FCHS
        1 => g.op(&[0xD9, 0xE1]), // FABS
        2 => {
            g.op(&[0xD9, 0xC8 + i]); // FXCH
            return ("x87-misc", two, NOT_023, 0);
        }
        3 => g.op(&[0xD9, 0xFA]), // FSQRT
        4 => g.op(&[0xD9, 0xFC]), // FRNDINT
        5 => {
            g.op(&[0xD9, 0xFD]); // FSCALE
            return (
                "x87-misc",
                Shape {
                    reads: 2,
                    pushes: false,
                },
                NOT_023,
                0,
            );
        }
        6 => {
            g.op(&[0xD9, 0xF4]); // FXTRACT
            return (
                "x87-misc",
                Shape {
                    reads: 1,
                    pushes: true,
                },
                NOT_023,
                0,
            );
        }
        7 => {
            let o = if g.chance(2) { 0xF8 } else { 0xF5 };
            g.op(&[0xD9, o]); // FPREM FPREM1
            return (
                "x87-misc",
                Shape {
                    reads: 2,
                    pushes: false,
                },
                all,
                0,
            );
        }
        8 => {
            let o = if g.chance(2) { 0xF7 } else { 0xF6 };
            g.op(&[0xD9, o]) // FINCSTP FDECSTP
        }
        9 => {
            g.op(&[0xDD, 0xC0 + i]); // FFREE
            return ("x87-misc", two, none, 0);
        }
        10 => {
            // FCMOVB/E/BE/U and FCMOVNB/NE/NBE/NU.
            let esc = if g.chance(2) { 0xDA } else { 0xDB };
            let c = g.below(4) as u8;
            g.op(&[esc, 0xC0 + 8 * c + i]);
            return ("x87-misc", two, NOT_023, 0);
        }
        11 => {
            g.op(&[0xDF, 0xE0]); // FNSTSW AX
            return ("x87-misc", one, none, 0);
        }
        12 => {
            let j = {
                let mut v = vec![0u8; 2];
                g.rng.fill(&mut v);
                v
            };
            g.op(&[0xDD]);
            mem_operand(g, 7, &j); // FNSTSW m16
            return ("x87-misc", one, none, 0);
        }
        13 => {
            let j = {
                let mut v = vec![0u8; 2];
                g.rng.fill(&mut v);
                v
            };
            g.op(&[0xD9]);
            mem_operand(g, 7, &j); // FNSTCW m16
            return ("x87-misc", one, none, 0);
        }
        14 => {
            // FLDCW: any rounding and precision, exceptions masked or not
            // (an unmasked one stays pending: FNSAVE does not wait).
            let cw = 0x0040 | (g.rng.next_u32() as u16 & 0x0F3F);
            let cw = if cw & 0x0300 == 0x0100 {
                cw | 0x0200
            } else {
                cw
            };
            g.op(&[0xD9]);
            mem_operand(g, 5, &cw.to_le_bytes());
            return ("x87-misc", one, none, 0);
        }
        15 => {
            g.op(&[0xDB, 0xE2]); // FNCLEX
            return ("x87-misc", one, none, 0);
        }
        16 => {
            g.op(&[0xD9, 0xD0]); // FNOP
            return ("x87-misc", one, none, 0);
        }
        _ => {
            g.op(&[0xDB, 0xE3]); // FNINIT
            return ("x87-misc", one, all, 0);
        }
    }
    ("x87-misc", one, NOT_023, 0)
}

fn transcendental(g: &mut Gen) -> Drawn {
    let (op, reads, pushes, fsw) = match g.below(8) {
        0 => (0xFE, 1, false, !(C0 | C3)), // FSIN
        1 => (0xFF, 1, false, !(C0 | C3)), // FCOS
        2 => (0xFB, 1, true, !(C0 | C3)),  // FSINCOS
        3 => (0xF2, 1, true, !(C0 | C3)),  // FPTAN
        4 => (0xF3, 2, false, NOT_023),    // FPATAN
        5 => (0xF0, 1, false, NOT_023),    // F2XM1
        6 => (0xF1, 2, false, NOT_023),    // FYL2X
        _ => (0xF9, 2, false, NOT_023),    // FYL2XP1
    };
    g.op(&[0xD9, op]);
    ("x87-transcendental", Shape { reads, pushes }, fsw, 1)
}
