//! MMX (Intel SDM vol. 1, chapter 9): the eight 64-bit MMn registers are
//! the significands of the x87 physical registers. Every MMX instruction
//! but EMMS sets TOP to 0 and tags all registers valid; writes set the
//! exponent and sign bits to ones. CR0.EM gives #UD, CR0.TS #NM, and a
//! pending unmasked x87 exception is reported as for x87 instructions.

use super::pending;
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result, NM};
use crate::cpu::{cr0, Cpu};
use iced_x86::{Code, Instruction};

// Operations (the const parameter of `binary`).
pub(crate) const PADDB: u8 = 0;
pub(crate) const PADDW: u8 = 1;
pub(crate) const PADDD: u8 = 2;
pub(crate) const PADDSB: u8 = 3;
pub(crate) const PADDSW: u8 = 4;
pub(crate) const PADDUSB: u8 = 5;
pub(crate) const PADDUSW: u8 = 6;
pub(crate) const PSUBB: u8 = 7;
pub(crate) const PSUBW: u8 = 8;
pub(crate) const PSUBD: u8 = 9;
pub(crate) const PSUBSB: u8 = 10;
pub(crate) const PSUBSW: u8 = 11;
pub(crate) const PSUBUSB: u8 = 12;
pub(crate) const PSUBUSW: u8 = 13;
pub(crate) const PMULLW: u8 = 14;
pub(crate) const PMULHW: u8 = 15;
pub(crate) const PMADDWD: u8 = 16;
pub(crate) const PCMPEQB: u8 = 17;
pub(crate) const PCMPEQW: u8 = 18;
pub(crate) const PCMPEQD: u8 = 19;
pub(crate) const PCMPGTB: u8 = 20;
pub(crate) const PCMPGTW: u8 = 21;
pub(crate) const PCMPGTD: u8 = 22;
pub(crate) const PACKSSWB: u8 = 23;
pub(crate) const PACKSSDW: u8 = 24;
pub(crate) const PACKUSWB: u8 = 25;
pub(crate) const PUNPCKHBW: u8 = 26;
pub(crate) const PUNPCKHWD: u8 = 27;
pub(crate) const PUNPCKHDQ: u8 = 28;
pub(crate) const PUNPCKLBW: u8 = 29;
pub(crate) const PUNPCKLWD: u8 = 30;
pub(crate) const PUNPCKLDQ: u8 = 31;
pub(crate) const PAND: u8 = 32;
pub(crate) const PANDN: u8 = 33;
pub(crate) const POR: u8 = 34;
pub(crate) const PXOR: u8 = 35;
pub(crate) const PSLLW: u8 = 36;
pub(crate) const PSLLD: u8 = 37;
pub(crate) const PSLLQ: u8 = 38;
pub(crate) const PSRLW: u8 = 39;
pub(crate) const PSRLD: u8 = 40;
pub(crate) const PSRLQ: u8 = 41;
pub(crate) const PSRAW: u8 = 42;
pub(crate) const PSRAD: u8 = 43;
pub(crate) const MOVQ: u8 = 44;

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Code::*;
    let mem = super::has_mem(i);
    let k = match i.code() {
        Emms => return Some(emms),
        Movd_mm_rm32 => {
            return Some(if mem {
                movd_to::<true>
            } else {
                movd_to::<false>
            })
        }
        Movd_rm32_mm => {
            return Some(if mem {
                movd_from::<true>
            } else {
                movd_from::<false>
            })
        }
        Movq_mmm64_mm => {
            return Some(if mem {
                movq_store
            } else {
                binary::<MOVQ, false>
            })
        }
        Movq_mm_mmm64 => MOVQ,
        Paddb_mm_mmm64 => PADDB,
        Paddw_mm_mmm64 => PADDW,
        Paddd_mm_mmm64 => PADDD,
        Paddsb_mm_mmm64 => PADDSB,
        Paddsw_mm_mmm64 => PADDSW,
        Paddusb_mm_mmm64 => PADDUSB,
        Paddusw_mm_mmm64 => PADDUSW,
        Psubb_mm_mmm64 => PSUBB,
        Psubw_mm_mmm64 => PSUBW,
        Psubd_mm_mmm64 => PSUBD,
        Psubsb_mm_mmm64 => PSUBSB,
        Psubsw_mm_mmm64 => PSUBSW,
        Psubusb_mm_mmm64 => PSUBUSB,
        Psubusw_mm_mmm64 => PSUBUSW,
        Pmullw_mm_mmm64 => PMULLW,
        Pmulhw_mm_mmm64 => PMULHW,
        Pmaddwd_mm_mmm64 => PMADDWD,
        Pcmpeqb_mm_mmm64 => PCMPEQB,
        Pcmpeqw_mm_mmm64 => PCMPEQW,
        Pcmpeqd_mm_mmm64 => PCMPEQD,
        Pcmpgtb_mm_mmm64 => PCMPGTB,
        Pcmpgtw_mm_mmm64 => PCMPGTW,
        Pcmpgtd_mm_mmm64 => PCMPGTD,
        Packsswb_mm_mmm64 => PACKSSWB,
        Packssdw_mm_mmm64 => PACKSSDW,
        Packuswb_mm_mmm64 => PACKUSWB,
        Punpckhbw_mm_mmm64 => PUNPCKHBW,
        Punpckhwd_mm_mmm64 => PUNPCKHWD,
        Punpckhdq_mm_mmm64 => PUNPCKHDQ,
        Punpcklbw_mm_mmm32 => PUNPCKLBW,
        Punpcklwd_mm_mmm32 => PUNPCKLWD,
        Punpckldq_mm_mmm32 => PUNPCKLDQ,
        Pand_mm_mmm64 => PAND,
        Pandn_mm_mmm64 => PANDN,
        Por_mm_mmm64 => POR,
        Pxor_mm_mmm64 => PXOR,
        Psllw_mm_mmm64 => PSLLW,
        Pslld_mm_mmm64 => PSLLD,
        Psllq_mm_mmm64 => PSLLQ,
        Psrlw_mm_mmm64 => PSRLW,
        Psrld_mm_mmm64 => PSRLD,
        Psrlq_mm_mmm64 => PSRLQ,
        Psraw_mm_mmm64 => PSRAW,
        Psrad_mm_mmm64 => PSRAD,
        Psllw_mm_imm8 => return Some(shift_imm::<PSLLW>),
        Pslld_mm_imm8 => return Some(shift_imm::<PSLLD>),
        Psllq_mm_imm8 => return Some(shift_imm::<PSLLQ>),
        Psrlw_mm_imm8 => return Some(shift_imm::<PSRLW>),
        Psrld_mm_imm8 => return Some(shift_imm::<PSRLD>),
        Psrlq_mm_imm8 => return Some(shift_imm::<PSRLQ>),
        Psraw_mm_imm8 => return Some(shift_imm::<PSRAW>),
        Psrad_mm_imm8 => return Some(shift_imm::<PSRAD>),
        _ => return None,
    };
    macro_rules! pick_k {
        ($($name:ident)*) => {
            match k {
                $($name => if mem { binary::<$name, true> as Handler } else { binary::<$name, false> },)*
                _ => return None,
            }
        };
    }
    Some(pick_k!(
        PADDB PADDW PADDD PADDSB PADDSW PADDUSB PADDUSW PSUBB PSUBW PSUBD PSUBSB PSUBSW
        PSUBUSB PSUBUSW PMULLW PMULHW PMADDWD PCMPEQB PCMPEQW PCMPEQD PCMPGTB PCMPGTW
        PCMPGTD PACKSSWB PACKSSDW PACKUSWB PUNPCKHBW PUNPCKHWD PUNPCKHDQ PUNPCKLBW
        PUNPCKLWD PUNPCKLDQ PAND PANDN POR PXOR PSLLW PSLLD PSLLQ PSRLW PSRLD PSRLQ
        PSRAW PSRAD MOVQ
    ))
}

/// The entry checks of an MMX instruction.
#[inline]
fn enter_mmx(cpu: &mut Cpu, op: &Op) -> Result<bool> {
    if cpu.cr0 & cr0::EM != 0 {
        return Err(Exception::ud());
    }
    if cpu.cr0 & cr0::TS != 0 {
        return Err(Exception::new(NM));
    }
    if cpu.fpu.error_pending() && !pending(cpu, op)? {
        return Ok(false);
    }
    Ok(true)
}

macro_rules! mmx_enter {
    ($cpu:expr, $op:expr) => {
        if !enter_mmx($cpu, $op)? {
            return Ok(());
        }
    };
}

fn emms(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    cpu.fpu.set_all_empty();
    Ok(())
}

/// MOVD mm, r/m32: zero-extended.
fn movd_to<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    let v = if MEM {
        cpu.fpu_read32(bus, op)?
    } else {
        cpu.regs[op.src as usize & 7]
    };
    cpu.fpu.enter_mmx();
    cpu.fpu.set_mm(op.dst, v as u64);
    Ok(())
}

/// MOVD r/m32, mm: the low doubleword.
fn movd_from<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    let v = cpu.fpu.mm(op.src) as u32;
    if MEM {
        cpu.fpu_write(bus, op, 0, &v.to_le_bytes())?;
    } else {
        cpu.regs[op.dst as usize & 7] = v;
    }
    cpu.fpu.enter_mmx();
    Ok(())
}

/// MOVQ m64, mm.
fn movq_store(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    let v = cpu.fpu.mm(op.src);
    cpu.fpu_write(bus, op, 0, &v.to_le_bytes())?;
    cpu.fpu.enter_mmx();
    Ok(())
}

/// `mm = mm OP mm/m64` (PUNPCKL* read only 32 bits of memory).
fn binary<const K: u8, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    let b = if MEM {
        if matches!(K, PUNPCKLBW | PUNPCKLWD | PUNPCKLDQ) {
            cpu.fpu_read32(bus, op)? as u64
        } else {
            cpu.fpu_read64(bus, op)?
        }
    } else {
        cpu.fpu.mm(op.src)
    };
    let a = cpu.fpu.mm(op.dst);
    cpu.fpu.enter_mmx();
    cpu.fpu.set_mm(op.dst, compute(K, a, b));
    Ok(())
}

/// Shifts by an immediate count.
fn shift_imm<const K: u8>(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    mmx_enter!(cpu, op);
    let a = cpu.fpu.mm(op.dst);
    cpu.fpu.enter_mmx();
    cpu.fpu
        .set_mm(op.dst, compute(K, a, (op.imm & 0xFF) as u64));
    Ok(())
}

/// Applies `f` lane by lane to `W`-bit lanes of a and b.
#[inline]
fn lanes<const W: u32>(a: u64, b: u64, f: impl Fn(u64, u64) -> u64) -> u64 {
    let mask = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
    (0..64 / W).fold(0, |r, n| {
        let s = n * W;
        r | (f((a >> s) & mask, (b >> s) & mask) & mask) << s
    })
}

/// Sign-extends a `W`-bit lane.
#[inline]
fn sx<const W: u32>(v: u64) -> i64 {
    ((v << (64 - W)) as i64) >> (64 - W)
}

/// Saturates to a signed `W`-bit lane.
#[inline]
fn sat_s<const W: u32>(v: i64) -> u64 {
    let max = (1i64 << (W - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}

/// Saturates to an unsigned `W`-bit lane.
#[inline]
fn sat_u<const W: u32>(v: i64) -> u64 {
    v.clamp(0, (1i64 << W) - 1) as u64
}

/// Interleaves the lanes of the low (`high` false) or high halves.
fn unpack<const W: u32>(a: u64, b: u64, high: bool) -> u64 {
    let mask = (1u64 << W) - 1;
    let base = if high { 32 } else { 0 };
    (0..32 / W).fold(0, |r, n| {
        let s = base + n * W;
        let (x, y) = ((a >> s) & mask, (b >> s) & mask);
        r | x << (2 * n * W) | y << ((2 * n + 1) * W)
    })
}

/// Packs the `W`-bit lanes of a then b into half-width lanes.
fn pack<const W: u32>(a: u64, b: u64, sat: impl Fn(i64) -> u64) -> u64 {
    let half = W / 2;
    let n = 64 / W;
    let mask = (1u64 << half) - 1;
    (0..2 * n).fold(0, |r, k| {
        let src = if k < n { a } else { b };
        let lane = sx_dyn(src >> ((k % n) * W), W);
        r | (sat(lane) & mask) << (k * half)
    })
}

/// Sign-extends the low `w` bits (run-time width).
fn sx_dyn(v: u64, w: u32) -> i64 {
    ((v << (64 - w)) as i64) >> (64 - w)
}

/// Logical or arithmetic shifts of `W`-bit lanes by a 64-bit count.
fn shift<const W: u32>(a: u64, count: u64, left: bool, arith: bool) -> u64 {
    if count >= W as u64 {
        if arith {
            return lanes::<W>(a, 0, |x, _| if sx_dyn(x, W) < 0 { u64::MAX } else { 0 });
        }
        return 0;
    }
    let c = count as u32;
    lanes::<W>(a, 0, |x, _| {
        if left {
            x << c
        } else if arith {
            (sx_dyn(x, W) >> c) as u64
        } else {
            x >> c
        }
    })
}

/// One MMX operation on 64-bit operands.
pub fn compute(k: u8, a: u64, b: u64) -> u64 {
    match k {
        PADDB => lanes::<8>(a, b, |x, y| x.wrapping_add(y)),
        PADDW => lanes::<16>(a, b, |x, y| x.wrapping_add(y)),
        PADDD => lanes::<32>(a, b, |x, y| x.wrapping_add(y)),
        PADDSB => lanes::<8>(a, b, |x, y| sat_s::<8>(sx::<8>(x) + sx::<8>(y))),
        PADDSW => lanes::<16>(a, b, |x, y| sat_s::<16>(sx::<16>(x) + sx::<16>(y))),
        PADDUSB => lanes::<8>(a, b, |x, y| sat_u::<8>((x + y) as i64)),
        PADDUSW => lanes::<16>(a, b, |x, y| sat_u::<16>((x + y) as i64)),
        PSUBB => lanes::<8>(a, b, |x, y| x.wrapping_sub(y)),
        PSUBW => lanes::<16>(a, b, |x, y| x.wrapping_sub(y)),
        PSUBD => lanes::<32>(a, b, |x, y| x.wrapping_sub(y)),
        PSUBSB => lanes::<8>(a, b, |x, y| sat_s::<8>(sx::<8>(x) - sx::<8>(y))),
        PSUBSW => lanes::<16>(a, b, |x, y| sat_s::<16>(sx::<16>(x) - sx::<16>(y))),
        PSUBUSB => lanes::<8>(a, b, |x, y| sat_u::<8>(x as i64 - y as i64)),
        PSUBUSW => lanes::<16>(a, b, |x, y| sat_u::<16>(x as i64 - y as i64)),
        PMULLW => lanes::<16>(a, b, |x, y| (sx::<16>(x) * sx::<16>(y)) as u64),
        PMULHW => lanes::<16>(a, b, |x, y| ((sx::<16>(x) * sx::<16>(y)) >> 16) as u64),
        PMADDWD => lanes::<32>(a, b, |x, y| {
            let p = |s: u32| sx::<16>(x >> s) * sx::<16>(y >> s);
            (p(0) + p(16)) as u64
        }),
        PCMPEQB => lanes::<8>(a, b, |x, y| if x == y { u64::MAX } else { 0 }),
        PCMPEQW => lanes::<16>(a, b, |x, y| if x == y { u64::MAX } else { 0 }),
        PCMPEQD => lanes::<32>(a, b, |x, y| if x == y { u64::MAX } else { 0 }),
        PCMPGTB => lanes::<8>(
            a,
            b,
            |x, y| if sx::<8>(x) > sx::<8>(y) { u64::MAX } else { 0 },
        ),
        PCMPGTW => lanes::<16>(a, b, |x, y| {
            if sx::<16>(x) > sx::<16>(y) {
                u64::MAX
            } else {
                0
            }
        }),
        PCMPGTD => lanes::<32>(a, b, |x, y| {
            if sx::<32>(x) > sx::<32>(y) {
                u64::MAX
            } else {
                0
            }
        }),
        PACKSSWB => pack::<16>(a, b, sat_s::<8>),
        PACKSSDW => pack::<32>(a, b, sat_s::<16>),
        PACKUSWB => pack::<16>(a, b, sat_u::<8>),
        PUNPCKHBW => unpack::<8>(a, b, true),
        PUNPCKHWD => unpack::<16>(a, b, true),
        PUNPCKHDQ => unpack::<32>(a, b, true),
        PUNPCKLBW => unpack::<8>(a, b, false),
        PUNPCKLWD => unpack::<16>(a, b, false),
        PUNPCKLDQ => unpack::<32>(a, b, false),
        PAND => a & b,
        PANDN => !a & b,
        POR => a | b,
        PXOR => a ^ b,
        PSLLW => shift::<16>(a, b, true, false),
        PSLLD => shift::<32>(a, b, true, false),
        PSLLQ => shift::<64>(a, b, true, false),
        PSRLW => shift::<16>(a, b, false, false),
        PSRLD => shift::<32>(a, b, false, false),
        PSRLQ => shift::<64>(a, b, false, false),
        PSRAW => shift::<16>(a, b, false, true),
        PSRAD => shift::<32>(a, b, false, true),
        _ => b, // MOVQ
    }
}
