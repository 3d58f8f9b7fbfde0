//! Bit-for-bit comparison with the host's x87.
//!
//! Each case is one instruction placed in the same little program on both
//! sides: FNINIT; FLDCW cw; FLD b; FLD a; <instruction>; FNSTSW; FNCLEX;
//! FLDCW 037Fh; FSTP r0; FSTP r1; FNINIT. The host runs it as inline
//! assembly, the emulator as 16-bit code assembled by iced. Exceptions may
//! be unmasked: nothing waits between the instruction and FNCLEX, so the
//! host never traps. Inputs come from a deterministic generator biased
//! towards the interesting corners (denormals, NaNs, unsupported formats,
//! overflow and underflow, ties, cancellation).

use crate::bus::NullBus;
use crate::cpu::x87::float::F80;
use crate::cpu::{Cpu, RunExit, SegReg};
use iced_x86::code_asm::*;
use std::arch::asm;

/// What the program reads and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Io {
    cw: u16,
    a: [u8; 10],
    b: [u8; 10],
    m: [u8; 16],
    r0: [u8; 10],
    r1: [u8; 10],
    sw: u16,
}

// Emulator-side addresses of the Io fields.
const A: u64 = 0x1000;
const B: u64 = 0x1010;
const R0: u64 = 0x1020;
const R1: u64 = 0x1030;
const M: u64 = 0x1040;
const SW: u64 = 0x1060;
const CW: u64 = 0x1062;
const CWM: u64 = 0x1064;

/// Which inputs a case wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gen {
    /// Two arbitrary extended values.
    Any,
    /// Memory operand formats.
    F32,
    F64,
    I16,
    I32,
    I64,
    Bcd,
    /// Trigonometric arguments (up to beyond 2^63).
    Trig,
    /// |a| ≤ 1 (F2XM1).
    Unit,
    /// |a| < 1 − √2/2 (FYL2XP1).
    SmallLog,
    /// a > 0 of any size (FYL2X).
    Positive,
}

/// How results are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tol {
    Exact,
    /// Within one unit in the last place (transcendentals).
    Ulp1,
}

struct Case {
    name: &'static str,
    host: unsafe fn(&mut Io),
    emu: fn(&mut CodeAssembler) -> Result<(), IcedError>,
    gen: Gen,
    /// Status-word bits compared (the condition codes an instruction leaves
    /// undefined are left out).
    sw_mask: u16,
    tol: Tol,
}

/// Flags, ES, SF, TOP, B, and C1.
const SW_ARITH: u16 = 0xBAFF;
/// Also C0, C2, C3.
const SW_ALL: u16 = 0xFFFF;

macro_rules! host_fn {
    ($insn:literal) => {{
        unsafe fn h(io: &mut Io) {
            let cwm: u16 = 0x037F;
            // SAFETY: every pointer is to a field of `io` or a local large
            // enough for the access the instruction makes; the x87 stack is
            // left empty and the control word at its ABI default (FNINIT).
            unsafe {
                asm!(
                    "mov {scratch}, {m}",
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    $insn,
                    "fnstsw word ptr [{sw}]",
                    "fnclex",
                    "fldcw word ptr [{cwm}]",
                    "fstp tbyte ptr [{r0}]",
                    "fstp tbyte ptr [{r1}]",
                    "fninit",
                    scratch = out(reg) _,
                    m = in(reg) io.m.as_mut_ptr(),
                    cw = in(reg) &io.cw,
                    a = in(reg) io.a.as_ptr(),
                    b = in(reg) io.b.as_ptr(),
                    sw = in(reg) &mut io.sw,
                    cwm = in(reg) &cwm,
                    r0 = in(reg) io.r0.as_mut_ptr(),
                    r1 = in(reg) io.r1.as_mut_ptr(),
                    out("ax") _,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
        }
        h
    }};
}

macro_rules! case {
    ($name:literal, $insn:literal, $emu:expr, $gen:ident, $mask:expr, $tol:ident) => {
        Case {
            name: $name,
            host: host_fn!($insn),
            emu: $emu,
            gen: Gen::$gen,
            sw_mask: $mask,
            tol: Tol::$tol,
        }
    };
}

fn arith_cases() -> Vec<Case> {
    vec![
        case!(
            "fadd",
            "fadd st(0), st(1)",
            |a| a.fadd_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fsub",
            "fsub st(0), st(1)",
            |a| a.fsub_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fsubr",
            "fsubr st(0), st(1)",
            |a| a.fsubr_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fmul",
            "fmul st(0), st(1)",
            |a| a.fmul_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fdiv",
            "fdiv st(0), st(1)",
            |a| a.fdiv_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fdivr",
            "fdivr st(0), st(1)",
            |a| a.fdivr_2(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "faddp",
            "faddp st(1), st(0)",
            |a| a.faddp(st1, st0),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fdivrp",
            "fdivrp st(1), st(0)",
            |a| a.fdivrp(st1, st0),
            Any,
            SW_ARITH,
            Exact
        ),
        case!("fsqrt", "fsqrt", |a| a.fsqrt(), Any, SW_ARITH, Exact),
        case!(
            "fadd m32",
            "fadd dword ptr [{m}]",
            |a| a.fadd(dword_ptr(M)),
            F32,
            SW_ARITH,
            Exact
        ),
        case!(
            "fmul m64",
            "fmul qword ptr [{m}]",
            |a| a.fmul(qword_ptr(M)),
            F64,
            SW_ARITH,
            Exact
        ),
        case!(
            "fdivr m32",
            "fdivr dword ptr [{m}]",
            |a| a.fdivr(dword_ptr(M)),
            F32,
            SW_ARITH,
            Exact
        ),
        case!(
            "fiadd m16",
            "fiadd word ptr [{m}]",
            |a| a.fiadd(word_ptr(M)),
            I16,
            SW_ARITH,
            Exact
        ),
        case!(
            "fisub m32",
            "fisub dword ptr [{m}]",
            |a| a.fisub(dword_ptr(M)),
            I32,
            SW_ARITH,
            Exact
        ),
        case!(
            "fidiv m32",
            "fidiv dword ptr [{m}]",
            |a| a.fidiv(dword_ptr(M)),
            I32,
            SW_ARITH,
            Exact
        ),
    ]
}

fn misc_cases() -> Vec<Case> {
    vec![
        case!("frndint", "frndint", |a| a.frndint(), Any, SW_ARITH, Exact),
        case!("fscale", "fscale", |a| a.fscale(), Any, SW_ARITH, Exact),
        case!("fxtract", "fxtract", |a| a.fxtract(), Any, SW_ARITH, Exact),
        case!("fprem", "fprem", |a| a.fprem(), Any, SW_ALL, Exact),
        case!("fprem1", "fprem1", |a| a.fprem1(), Any, SW_ALL, Exact),
        case!("fabs", "fabs", |a| a.fabs(), Any, SW_ARITH, Exact),
        case!("fchs", "fchs", |a| a.fchs(), Any, SW_ARITH, Exact),
        case!(
            "fxch",
            "fxch st(1)",
            |a| a.fxch(st0, st1),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fcom",
            "fcom st(1)",
            |a| a.fcom_2(st0, st1),
            Any,
            SW_ALL,
            Exact
        ),
        case!(
            "fucomp",
            "fucomp st(1)",
            |a| a.fucomp(st0, st1),
            Any,
            SW_ALL,
            Exact
        ),
        case!("fcompp", "fcompp", |a| a.fcompp(), Any, SW_ALL, Exact),
        case!(
            "fcom m32",
            "fcom dword ptr [{m}]",
            |a| a.fcom(dword_ptr(M)),
            F32,
            SW_ALL,
            Exact
        ),
        case!(
            "ficomp m16",
            "ficomp word ptr [{m}]",
            |a| a.ficomp(word_ptr(M)),
            I16,
            SW_ALL,
            Exact
        ),
        case!("ftst", "ftst", |a| a.ftst(), Any, SW_ALL, Exact),
        case!("fxam", "fxam", |a| a.fxam(), Any, SW_ALL, Exact),
        case!(
            "fcomi",
            "fcomi st, st(1)\nlahf\nmov byte ptr [{m}], ah",
            |a| {
                a.fcomi(st0, st1)?;
                a.lahf()?;
                a.mov(byte_ptr(M), ah)
            },
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fucomip",
            "fucomip st, st(1)\nlahf\nmov byte ptr [{m}], ah",
            |a| {
                a.fucomip(st0, st1)?;
                a.lahf()?;
                a.mov(byte_ptr(M), ah)
            },
            Any,
            SW_ARITH,
            Exact
        ),
    ]
}

fn convert_cases() -> Vec<Case> {
    vec![
        case!(
            "fld m32",
            "fld dword ptr [{m}]",
            |a| a.fld(dword_ptr(M)),
            F32,
            SW_ARITH,
            Exact
        ),
        case!(
            "fld m64",
            "fld qword ptr [{m}]",
            |a| a.fld(qword_ptr(M)),
            F64,
            SW_ARITH,
            Exact
        ),
        case!(
            "fild m16",
            "fild word ptr [{m}]",
            |a| a.fild(word_ptr(M)),
            I16,
            SW_ARITH,
            Exact
        ),
        case!(
            "fild m64",
            "fild qword ptr [{m}]",
            |a| a.fild(qword_ptr(M)),
            I64,
            SW_ARITH,
            Exact
        ),
        case!(
            "fbld",
            "fbld tbyte ptr [{m}]",
            |a| a.fbld(tword_ptr(M)),
            Bcd,
            SW_ARITH,
            Exact
        ),
        case!(
            "fst m32",
            "fst dword ptr [{m}]",
            |a| a.fst(dword_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fstp m64",
            "fstp qword ptr [{m}]",
            |a| a.fstp(qword_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fist m16",
            "fist word ptr [{m}]",
            |a| a.fist(word_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fistp m32",
            "fistp dword ptr [{m}]",
            |a| a.fistp(dword_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fistp m64",
            "fistp qword ptr [{m}]",
            |a| a.fistp(qword_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!(
            "fbstp",
            "fbstp tbyte ptr [{m}]",
            |a| a.fbstp(tword_ptr(M)),
            Any,
            SW_ARITH,
            Exact
        ),
        case!("fldpi", "fldpi", |a| a.fldpi(), Any, SW_ARITH, Exact),
        case!("fldl2e", "fldl2e", |a| a.fldl2e(), Any, SW_ARITH, Exact),
        case!("fldl2t", "fldl2t", |a| a.fldl2t(), Any, SW_ARITH, Exact),
        case!("fldlg2", "fldlg2", |a| a.fldlg2(), Any, SW_ARITH, Exact),
        case!("fldln2", "fldln2", |a| a.fldln2(), Any, SW_ARITH, Exact),
    ]
}

fn trans_cases() -> Vec<Case> {
    vec![
        case!("fsin", "fsin", |a| a.fsin(), Trig, SW_ALL, Ulp1),
        case!("fcos", "fcos", |a| a.fcos(), Trig, SW_ALL, Ulp1),
        case!("fsincos", "fsincos", |a| a.fsincos(), Trig, SW_ALL, Ulp1),
        case!("fptan", "fptan", |a| a.fptan(), Trig, SW_ALL, Ulp1),
        case!("fpatan", "fpatan", |a| a.fpatan(), Any, SW_ARITH, Ulp1),
        case!("f2xm1", "f2xm1", |a| a.f2xm1(), Unit, SW_ARITH, Ulp1),
        case!("fyl2x", "fyl2x", |a| a.fyl2x(), Positive, SW_ARITH, Ulp1),
        case!(
            "fyl2xp1",
            "fyl2xp1",
            |a| a.fyl2xp1(),
            SmallLog,
            SW_ARITH,
            Ulp1
        ),
    ]
}

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A significand with its integer bit set and an interesting shape.
    fn sig(&mut self) -> u64 {
        let r = self.next();
        let s = match self.below(8) {
            0 => u64::MAX << self.below(64),                 // ones then zeros
            1 => r & (u64::MAX << self.below(64)),           // trailing zeros: exact results, ties
            2 => (1 << 63) | (1 << self.below(63)),          // two bits
            3 => u64::MAX >> self.below(8),                  // near all ones
            4 => r | 0xFFFF_FF00_0000_0000 >> self.below(3), // near rounding boundaries
            _ => r,
        };
        s | 1 << 63
    }
    /// An arbitrary extended value; `near` biases the exponent.
    fn f80(&mut self, near: Option<u16>) -> F80 {
        let sign = self.below(2) == 1;
        let kind = self.below(24);
        let v = match kind {
            0 => F80::ZERO,
            1 => F80::INFINITY,
            2 => F80::new(false, 0x7FFF, 0xC000_0000_0000_0000 | self.next() >> 2), // QNaN
            3 => F80::new(
                false,
                0x7FFF,
                0x8000_0000_0000_0000 | (self.next() >> 2 | 1),
            ), // SNaN
            4 => F80::new(false, 0, self.next() >> self.below(64) >> 1),            // denormal
            5 => F80::new(false, 0, 1 << 63 | self.next() >> 1), // pseudo-denormal
            6 => F80::new(false, 1 + self.below(0x7FFD) as u16, self.next() >> 1), // unnormal
            7 => F80::new(false, 0x7FFF, self.next() >> 1),      // pseudo-NaN/infinity
            8 => F80::new(false, 1 + self.below(80) as u16, self.sig()), // tiny normals
            9 => F80::new(false, 0x7FFE - self.below(80) as u16, self.sig()), // huge
            10 => F80::ONE,
            _ => {
                let e = match near {
                    Some(e) if self.below(2) == 0 => {
                        (e as i32 + self.below(140) as i32 - 70).clamp(1, 0x7FFE) as u16
                    }
                    _ => (0x3FFF + self.below(200) as i32 - 100) as u16,
                };
                F80::new(false, e, self.sig())
            }
        };
        v.with_sign(sign ^ v.sign())
    }
}

/// Fills the inputs of one test.
fn inputs(rng: &mut Rng, gen: Gen, io: &mut Io) {
    let masks = [
        0x3F, 0x00, 0x3E, 0x20, 0x1F, 0x2F, 0x37, 0x3B, 0x3D, 0x3F, 0x3F, 0x3F,
    ];
    let m = masks[rng.below(masks.len() as u64) as usize];
    let pc = [0u16, 2, 3, 3][rng.below(4) as usize];
    io.cw = m | 0x40 | pc << 8 | (rng.below(4) as u16) << 10;
    let a = rng.f80(None);
    let b = rng.f80(Some(a.exp()));
    let a = match gen {
        Gen::Trig => {
            if rng.below(8) == 0 {
                a
            } else {
                let e = 0x3FFF - 70 + rng.below(140) as u16;
                F80::new(rng.below(2) == 1, e, rng.sig())
            }
        }
        Gen::Unit => {
            if rng.below(16) == 0 {
                a
            } else {
                let e = 0x3FFF - rng.below(80) as u16;
                F80::new(rng.below(2) == 1, e, rng.sig())
            }
        }
        Gen::SmallLog => {
            if rng.below(16) == 0 {
                a
            } else {
                let e = 0x3FFD - rng.below(80) as u16;
                F80::new(rng.below(2) == 1, e, rng.sig())
            }
        }
        Gen::Positive => {
            if rng.below(16) == 0 {
                a
            } else {
                a.abs()
            }
        }
        _ => a,
    };
    io.a = a.to_bytes();
    io.b = b.to_bytes();
    let r = rng.next();
    let x = rng.f80(Some(a.exp()));
    io.m = [0xA5; 16];
    match gen {
        Gen::F32 => {
            let bits = match rng.below(4) {
                0 => r as u32,
                1 => (r as u32) & 0x807F_FFFF, // denormal or zero
                2 => (r as u32) | 0x7F80_0000, // NaN or infinity
                _ => {
                    // An extended value near a, rounded to single by truncation.
                    let e = (x.exp() as i32 - 16383 + 127).clamp(1, 254) as u32;
                    (x.sign() as u32) << 31 | e << 23 | ((x.sig >> 40) as u32 & 0x7F_FFFF)
                }
            };
            io.m[..4].copy_from_slice(&bits.to_le_bytes());
        }
        Gen::F64 => {
            let bits = match rng.below(4) {
                0 => r,
                1 => r & 0x800F_FFFF_FFFF_FFFF,
                2 => r | 0x7FF0_0000_0000_0000,
                _ => {
                    let e = (x.exp() as i64 - 16383 + 1023).clamp(1, 2046) as u64;
                    (x.sign() as u64) << 63 | e << 52 | (x.sig >> 11) & 0xF_FFFF_FFFF_FFFF
                }
            };
            io.m[..8].copy_from_slice(&bits.to_le_bytes());
        }
        Gen::I16 => io.m[..2].copy_from_slice(&((r as i16) >> rng.below(16)).to_le_bytes()),
        Gen::I32 => io.m[..4].copy_from_slice(&((r as i32) >> rng.below(32)).to_le_bytes()),
        Gen::I64 => io.m[..8].copy_from_slice(&((r as i64) >> rng.below(64)).to_le_bytes()),
        Gen::Bcd => {
            for k in 0..9 {
                let v = rng.next();
                io.m[k] = if rng.below(20) == 0 {
                    v as u8
                } else {
                    ((v % 10) as u8) << 4 | ((v >> 8) % 10) as u8
                };
            }
            io.m[9] = if rng.below(2) == 0 { 0x80 } else { 0 };
        }
        _ => {}
    }
}

/// The emulator side of a case: a CPU with the program loaded at 0:0100.
struct Emu {
    cpu: Cpu,
}

impl Emu {
    fn new(case: &Case) -> Emu {
        let mut a = CodeAssembler::new(16).expect("assembler");
        let mut prog = || -> Result<(), IcedError> {
            a.fninit()?;
            a.fldcw(word_ptr(CW))?;
            a.fld(tword_ptr(B))?;
            a.fld(tword_ptr(A))?;
            (case.emu)(&mut a)?;
            a.fnstsw(word_ptr(SW))?;
            a.fnclex()?;
            a.fldcw(word_ptr(CWM))?;
            a.fstp(tword_ptr(R0))?;
            a.fstp(tword_ptr(R1))?;
            a.fninit()?;
            a.hlt()
        };
        prog().expect("program");
        let code = a.assemble(0x100).expect("assemble");
        let mut cpu = Cpu::new(0x10000);
        cpu.mem.write_bytes(0x100, &code);
        Emu { cpu }
    }

    fn run(&mut self, io: &mut Io) {
        let c = &mut self.cpu;
        c.mem.write_bytes(A as u32, &io.a);
        c.mem.write_bytes(B as u32, &io.b);
        c.mem.write_bytes(M as u32, &io.m);
        c.mem.write_bytes(R0 as u32, &[0; 10]);
        c.mem.write_bytes(R1 as u32, &[0; 10]);
        c.mem.write_bytes(SW as u32, &[0; 2]);
        c.mem.write_bytes(CW as u32, &io.cw.to_le_bytes());
        c.mem.write_bytes(CWM as u32, &0x037Fu16.to_le_bytes());
        for s in [SegReg::CS, SegReg::DS, SegReg::SS, SegReg::ES] {
            c.load_seg_real(s, 0);
        }
        c.eip = 0x100;
        c.halted = false;
        let exit = c.run(&mut NullBus, 100);
        assert_eq!(exit, RunExit::Halted, "the test program did not finish");
        c.mem.read_bytes(R0 as u32, &mut io.r0);
        c.mem.read_bytes(R1 as u32, &mut io.r1);
        c.mem.read_bytes(M as u32, &mut io.m);
        let mut sw = [0; 2];
        c.mem.read_bytes(SW as u32, &mut sw);
        io.sw = u16::from_le_bytes(sw);
    }
}

/// Distance in ulps between two extended values of the same sign (None if
/// not comparable: NaNs, different signs).
fn ulps(a: F80, b: F80) -> Option<u128> {
    if a == b {
        return Some(0);
    }
    if a.sign() != b.sign() || a.exp() == 0x7FFF || b.exp() == 0x7FFF {
        return None;
    }
    let key = |x: F80| -> i128 {
        if x.exp() == 0 {
            x.sig as i128
        } else {
            (x.exp() as i128 - 1) * (1i128 << 63) + x.sig as i128
        }
    };
    Some((key(a) - key(b)).unsigned_abs())
}

/// Runs `n` random inputs through every case; returns (tests, mismatches).
fn compare(cases: &[Case], n: usize, seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed);
    let (mut total, mut bad, mut inexact) = (0, 0, 0);
    for case in cases {
        let mut emu = Emu::new(case);
        let mut shown = 0;
        for _ in 0..n {
            let mut host = Io::default();
            inputs(&mut rng, case.gen, &mut host);
            let mut ours = host;
            // SAFETY: see `host_fn!`.
            unsafe { (case.host)(&mut host) };
            emu.run(&mut ours);
            total += 1;
            let mut mask = case.sw_mask;
            let same_values = match case.tol {
                Tol::Exact => host.r0 == ours.r0 && host.r1 == ours.r1,
                Tol::Ulp1 => {
                    let d0 = ulps(F80::from_bytes(host.r0), F80::from_bytes(ours.r0));
                    let d1 = ulps(F80::from_bytes(host.r1), F80::from_bytes(ours.r1));
                    let close = matches!(d0, Some(0..=1)) && matches!(d1, Some(0..=1));
                    if close && (d0 != Some(0) || d1 != Some(0)) {
                        inexact += 1;
                    }
                    // C1 says which way the host rounded its own
                    // approximation: not comparable.
                    mask &= !0x0200;
                    close
                }
            };
            let ok = same_values && host.m == ours.m && host.sw & mask == ours.sw & mask;
            if !ok {
                bad += 1;
                if shown < 8 {
                    shown += 1;
                    eprintln!(
                        "{}: cw {:04x} a {:?} b {:?} m {:02x?}\n  host: r0 {:?} r1 {:?} sw {:04x} m {:02x?}\n  ours: r0 {:?} r1 {:?} sw {:04x} m {:02x?}",
                        case.name,
                        host.cw,
                        show(host.a),
                        show(host.b),
                        &host.m[..10],
                        show(host.r0),
                        show(host.r1),
                        host.sw,
                        &host.m[..10],
                        show(ours.r0),
                        show(ours.r1),
                        ours.sw,
                        &ours.m[..10],
                    );
                }
            }
        }
    }
    if inexact > 0 {
        println!("  ({inexact} results one ulp away from the host's, the rest identical)");
    }
    (total, bad)
}

fn show(b: [u8; 10]) -> String {
    let f = F80::from_bytes(b);
    format!("{:04x}:{:016x}", f.se, f.sig)
}

/// The expected values are an Intel x87's: other vendors' transcendentals
/// and out-of-range behaviour differ, so elsewhere the comparison is skipped.
fn host_is_intel() -> bool {
    // SAFETY: CPUID is available on every x86-64 processor. (`__cpuid` is
    // a safe function in newer Rust, unsafe in 1.85.)
    #[allow(unused_unsafe)]
    let r = unsafe { std::arch::x86_64::__cpuid(0) };
    [r.ebx, r.edx, r.ecx]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .eq(*b"GenuineIntel")
}

fn check(name: &str, cases: Vec<Case>, n: usize, seed: u64) {
    if !host_is_intel() {
        println!("{name}: skipped, the host's x87 is not Intel's");
        return;
    }
    let (total, bad) = compare(&cases, n, seed);
    println!("{name}: {total} comparisons with the host x87, {bad} mismatches");
    assert_eq!(
        bad, 0,
        "{name}: {bad} of {total} results differ from the host x87"
    );
}

#[test]
fn arithmetic_matches_host() {
    check("arithmetic", arith_cases(), 40_000, 1);
}

#[test]
fn misc_matches_host() {
    check("misc", misc_cases(), 15_000, 2);
}

#[test]
fn conversions_match_host() {
    check("conversions", convert_cases(), 15_000, 3);
}

#[test]
fn transcendentals_within_one_ulp_of_host() {
    check("transcendentals", trans_cases(), 10_000, 4);
}

macro_rules! mmx_host {
    ($insn:literal) => {{
        unsafe fn h(a: u64, b: u64) -> u64 {
            let mut r = 0u64;
            // SAFETY: reads a and b, writes r; EMMS leaves the x87 state empty.
            unsafe {
                asm!(
                    "movq mm0, [{a}]",
                    "movq mm1, [{b}]",
                    $insn,
                    "movq [{r}], mm0",
                    "emms",
                    a = in(reg) &a,
                    b = in(reg) &b,
                    r = in(reg) &mut r,
                    out("mm0") _, out("mm1") _,
                    out("st(0)") _, out("st(1)") _,
                    options(nostack),
                );
            }
            r
        }
        h
    }};
}

#[test]
fn mmx_matches_host() {
    use crate::cpu::x87::mmx::{self, *};
    type HostFn = unsafe fn(u64, u64) -> u64;
    let cases: Vec<(&str, HostFn, u8, Option<u64>)> = vec![
        ("paddb", mmx_host!("paddb mm0, mm1"), PADDB, None),
        ("paddw", mmx_host!("paddw mm0, mm1"), PADDW, None),
        ("paddd", mmx_host!("paddd mm0, mm1"), PADDD, None),
        ("paddsb", mmx_host!("paddsb mm0, mm1"), PADDSB, None),
        ("paddsw", mmx_host!("paddsw mm0, mm1"), PADDSW, None),
        ("paddusb", mmx_host!("paddusb mm0, mm1"), PADDUSB, None),
        ("paddusw", mmx_host!("paddusw mm0, mm1"), PADDUSW, None),
        ("psubb", mmx_host!("psubb mm0, mm1"), PSUBB, None),
        ("psubw", mmx_host!("psubw mm0, mm1"), PSUBW, None),
        ("psubd", mmx_host!("psubd mm0, mm1"), PSUBD, None),
        ("psubsb", mmx_host!("psubsb mm0, mm1"), PSUBSB, None),
        ("psubsw", mmx_host!("psubsw mm0, mm1"), PSUBSW, None),
        ("psubusb", mmx_host!("psubusb mm0, mm1"), PSUBUSB, None),
        ("psubusw", mmx_host!("psubusw mm0, mm1"), PSUBUSW, None),
        ("pmullw", mmx_host!("pmullw mm0, mm1"), PMULLW, None),
        ("pmulhw", mmx_host!("pmulhw mm0, mm1"), PMULHW, None),
        ("pmaddwd", mmx_host!("pmaddwd mm0, mm1"), PMADDWD, None),
        ("pcmpeqb", mmx_host!("pcmpeqb mm0, mm1"), PCMPEQB, None),
        ("pcmpeqw", mmx_host!("pcmpeqw mm0, mm1"), PCMPEQW, None),
        ("pcmpeqd", mmx_host!("pcmpeqd mm0, mm1"), PCMPEQD, None),
        ("pcmpgtb", mmx_host!("pcmpgtb mm0, mm1"), PCMPGTB, None),
        ("pcmpgtw", mmx_host!("pcmpgtw mm0, mm1"), PCMPGTW, None),
        ("pcmpgtd", mmx_host!("pcmpgtd mm0, mm1"), PCMPGTD, None),
        ("packsswb", mmx_host!("packsswb mm0, mm1"), PACKSSWB, None),
        ("packssdw", mmx_host!("packssdw mm0, mm1"), PACKSSDW, None),
        ("packuswb", mmx_host!("packuswb mm0, mm1"), PACKUSWB, None),
        (
            "punpckhbw",
            mmx_host!("punpckhbw mm0, mm1"),
            PUNPCKHBW,
            None,
        ),
        (
            "punpckhwd",
            mmx_host!("punpckhwd mm0, mm1"),
            PUNPCKHWD,
            None,
        ),
        (
            "punpckhdq",
            mmx_host!("punpckhdq mm0, mm1"),
            PUNPCKHDQ,
            None,
        ),
        (
            "punpcklbw",
            mmx_host!("punpcklbw mm0, mm1"),
            PUNPCKLBW,
            None,
        ),
        (
            "punpcklwd",
            mmx_host!("punpcklwd mm0, mm1"),
            PUNPCKLWD,
            None,
        ),
        (
            "punpckldq",
            mmx_host!("punpckldq mm0, mm1"),
            PUNPCKLDQ,
            None,
        ),
        ("pand", mmx_host!("pand mm0, mm1"), PAND, None),
        ("pandn", mmx_host!("pandn mm0, mm1"), PANDN, None),
        ("por", mmx_host!("por mm0, mm1"), POR, None),
        ("pxor", mmx_host!("pxor mm0, mm1"), PXOR, None),
        ("psllw", mmx_host!("psllw mm0, mm1"), PSLLW, None),
        ("pslld", mmx_host!("pslld mm0, mm1"), PSLLD, None),
        ("psllq", mmx_host!("psllq mm0, mm1"), PSLLQ, None),
        ("psrlw", mmx_host!("psrlw mm0, mm1"), PSRLW, None),
        ("psrld", mmx_host!("psrld mm0, mm1"), PSRLD, None),
        ("psrlq", mmx_host!("psrlq mm0, mm1"), PSRLQ, None),
        ("psraw", mmx_host!("psraw mm0, mm1"), PSRAW, None),
        ("psrad", mmx_host!("psrad mm0, mm1"), PSRAD, None),
        ("psraw imm", mmx_host!("psraw mm0, 9"), PSRAW, Some(9)),
        ("psrlq imm", mmx_host!("psrlq mm0, 33"), PSRLQ, Some(33)),
        ("pslld imm", mmx_host!("pslld mm0, 40"), PSLLD, Some(40)),
    ];
    let mut rng = Rng(5);
    let (mut total, mut bad) = (0, 0);
    for (name, host, k, imm) in cases {
        for _ in 0..2000 {
            let a = rng.next();
            let b = match rng.below(3) {
                0 => rng.below(80),
                1 => a ^ (rng.next() & rng.next()),
                _ => rng.next(),
            };
            // SAFETY: see `mmx_host!`.
            let want = unsafe { host(a, b) };
            let got = mmx::compute(k, a, imm.unwrap_or(b));
            total += 1;
            if want != got {
                bad += 1;
                if bad < 10 {
                    eprintln!("{name}: {a:016x} {b:016x}: host {want:016x} ours {got:016x}");
                }
            }
        }
    }
    println!("mmx: {total} comparisons with the host, {bad} mismatches");
    assert_eq!(bad, 0);
}
