//! The integer instruction classes: each fills in a [`Gen`] with one
//! instruction (or a short chain) and masks what the SDM leaves undefined.

use super::gen::{ClassFn, Gen, Loc};
use super::TRACKED_FLAGS;
use emu_core::cpu::flags::{AF, ARITH, CF, DF, OF, PF, SF, ZF};

// Why flags are masked: the SDM vol. 2 entries, "Flags Affected".
const WHY_LOGIC: &str = "SDM vol.2 AND/OR/XOR/TEST: AF undefined";
const WHY_MUL: &str = "SDM vol.2 MUL/IMUL: SF, ZF, AF, PF undefined";
const WHY_DIV: &str = "SDM vol.2 DIV/IDIV: CF, OF, SF, ZF, AF, PF undefined";
const WHY_SHIFT: &str = "SDM vol.2 SAL/SAR/SHL/SHR: AF undefined for a non-zero count, OF undefined unless the count is 1, CF undefined for SHL/SHR when the count >= the operand size";
const WHY_ROT: &str = "SDM vol.2 RCL/RCR/ROL/ROR: OF undefined when the masked count is not 1";
const WHY_SHXD: &str = "SDM vol.2 SHLD/SHRD: AF undefined if a shift occurs, OF undefined for counts > 1; result and all flags undefined for counts > the operand size";
const WHY_BT: &str = "SDM vol.2 BT/BTS/BTR/BTC: OF, SF, AF, PF undefined";
const WHY_BSF: &str = "SDM vol.2 BSF/BSR: CF, OF, SF, AF, PF undefined";

const fn mask(w: u32) -> u32 {
    u32::MAX >> (32 - w)
}

/// The integer classes with their weights.
pub(super) const CLASSES: &[(&str, u32, ClassFn)] = &[
    ("alu", 20, alu),
    ("test", 3, test),
    ("incdec", 4, incdec),
    ("negnot", 3, negnot),
    ("mul", 4, mul),
    ("imul", 4, imul),
    ("div", 5, div),
    ("shift", 14, shift),
    ("shld-shrd", 5, shxd),
    ("bt", 6, bt),
    ("bsf-bsr", 3, bsf),
    ("bswap", 1, bswap),
    ("cmpxchg", 3, cmpxchg),
    ("xadd", 2, xadd),
    ("cmpxchg8b", 1, cmpxchg8b),
    ("setcc", 3, setcc),
    ("cmovcc", 3, cmovcc),
    ("movzx-movsx", 3, movx),
    ("mov", 4, mov),
    ("xchg", 2, xchg),
    ("lea", 5, lea),
    ("string", 6, string),
    ("xlat", 1, xlat),
    ("flags-misc", 2, misc),
    ("flag-chains", 12, pair),
    ("branch", 4, branch),
];

/// ADD OR ADC SBB AND SUB XOR CMP in all their forms.
fn alu(g: &mut Gen) -> bool {
    let op = g.below(8) as u8;
    let w = g.width();
    let wbit = (w != 8) as u8;
    g.opsize(w);
    let logic = matches!(op, 1 | 4 | 6);
    match g.below(4) {
        0 | 1 => {
            let dir = g.below(2) as u8; // 0: r/m, reg; 1: reg, r/m
            g.op(&[op * 8 + dir * 2 + wbit]);
            let reg = g.any_reg();
            let lockable = dir == 0 && op != 7;
            let lock = lockable && g.chance(6);
            let rm = g.modrm(reg, w / 8, None, lock, 0);
            if lock && matches!(rm, Loc::Mem(_)) {
                g.prefix(0xF0);
            } else if matches!(rm, Loc::Mem(_)) {
                g.maybe_segment();
            }
            g.spice(rm, w);
            g.spice(Loc::Reg(reg), w);
        }
        2 => {
            g.op(&[op * 8 + 4 + wbit]);
            let iw = w.min(32);
            let v = g.val(iw);
            g.imm(iw, v);
            g.spice(Loc::Reg(0), w);
        }
        _ => {
            let form = if w == 8 {
                0x80
            } else if g.chance(2) {
                0x81
            } else {
                0x83
            };
            g.op(&[form]);
            let lock = op != 7 && g.chance(6);
            let rm = g.modrm(op, w / 8, None, lock, 0);
            if lock && matches!(rm, Loc::Mem(_)) {
                g.prefix(0xF0);
            }
            let iw = if form == 0x81 { w } else { 8 };
            let v = g.val(iw);
            g.imm(iw, v);
            g.spice(rm, w);
        }
    }
    if logic {
        g.undefined(AF, WHY_LOGIC);
    }
    true
}

/// TEST r/m,r; TEST acc,imm; TEST r/m,imm (F6/F7 /0).
fn test(g: &mut Gen) -> bool {
    let w = g.width();
    let wbit = (w != 8) as u8;
    g.opsize(w);
    match g.below(3) {
        0 => {
            g.op(&[0x84 + wbit]);
            let reg = g.any_reg();
            let rm = g.modrm(reg, w / 8, None, false, 0);
            g.spice(rm, w);
            g.spice(Loc::Reg(reg), w);
        }
        1 => {
            g.op(&[0xA8 + wbit]);
            let v = g.val(w);
            g.imm(w, v);
        }
        _ => {
            g.op(&[0xF6 + wbit]);
            let rm = g.modrm(0, w / 8, None, false, 0);
            let v = g.val(w);
            g.imm(w, v);
            g.spice(rm, w);
        }
    }
    g.undefined(AF, WHY_LOGIC);
    true
}

/// INC/DEC r/m (FE/FF /0 /1): the 40h–4Fh forms are REX prefixes on the host.
fn incdec(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[if w == 8 { 0xFE } else { 0xFF }]);
    let lock = g.chance(4);
    let r = g.below(2) as u8;
    let rm = g.modrm(r, w / 8, None, lock, 0);
    if lock && matches!(rm, Loc::Mem(_)) {
        g.prefix(0xF0);
    }
    g.spice(rm, w);
    true
}

/// NEG and NOT (F6/F7 /3 /2).
fn negnot(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[if w == 8 { 0xF6 } else { 0xF7 }]);
    let lock = g.chance(4);
    let r = 2 + g.below(2) as u8;
    let rm = g.modrm(r, w / 8, None, lock, 0);
    if lock && matches!(rm, Loc::Mem(_)) {
        g.prefix(0xF0);
    }
    g.spice(rm, w);
    true
}

/// MUL and one-operand IMUL (F6/F7 /4 /5).
fn mul(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[if w == 8 { 0xF6 } else { 0xF7 }]);
    let r = 4 + g.below(2) as u8;
    let rm = g.modrm(r, w / 8, None, false, 0);
    g.maybe_segment();
    g.spice(rm, w);
    g.spice(Loc::Reg(0), w);
    g.undefined(SF | ZF | AF | PF, WHY_MUL);
    true
}

/// Two- and three-operand IMUL (0F AF, 69, 6B).
fn imul(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    let reg = g.any_reg();
    match g.below(3) {
        0 => {
            g.op(&[0x0F, 0xAF]);
            let rm = g.modrm(reg, w / 8, None, false, 0);
            g.spice(rm, w);
            g.spice(Loc::Reg(reg), w);
        }
        1 => {
            g.op(&[0x69]);
            let rm = g.modrm(reg, w / 8, None, false, 0);
            let v = g.val(w);
            g.imm(w, v);
            g.spice(rm, w);
        }
        _ => {
            g.op(&[0x6B]);
            let rm = g.modrm(reg, w / 8, None, false, 0);
            let v = g.val(8);
            g.imm(8, v);
            g.spice(rm, w);
        }
    }
    g.undefined(SF | ZF | AF | PF, WHY_MUL);
    true
}

/// DIV and IDIV (F6/F7 /6 /7), without the divide-error cases (the
/// exception tests cover those; natively they would kill the process).
fn div(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[if w == 8 { 0xF6 } else { 0xF7 }]);
    let signed = g.chance(2);
    let rm = g.modrm(6 + signed as u8, w / 8, None, false, 0);
    g.maybe_segment();
    g.spice(rm, w);
    // Usually make the high half of the dividend small or a sign extension,
    // so that most draws do not overflow.
    let (lo_loc, hi_loc) = if w == 8 {
        (Loc::Reg(0), Loc::Reg(4))
    } else {
        (Loc::Reg(0), Loc::Reg(2))
    };
    if g.chance(2) {
        let v = g.val(w);
        g.set(lo_loc, w, v);
    }
    match g.below(4) {
        0 => {
            let lo = g.get(lo_loc, w);
            let ext = if signed && lo & (1 << (w - 1)) != 0 {
                mask(w)
            } else {
                0
            };
            g.set(hi_loc, w, ext);
        }
        1 => {
            let d = g.get(rm, w);
            let v = g.rng.next_u32() % d.max(1);
            g.set(hi_loc, w, v);
        }
        _ => {}
    }
    let d = g.get(rm, w) as u64;
    let lo = g.get(lo_loc, w) as u64;
    let hi = g.get(hi_loc, w) as u64;
    if d == 0 {
        return false;
    }
    let dividend = (hi << w) | lo;
    if signed {
        let sx = |v: u64, bits: u32| ((v << (64 - bits)) as i64 >> (64 - bits)) as i128;
        let n = sx(dividend, 2 * w);
        let dv = sx(d, w);
        let q = n / dv;
        let lim = 1i128 << (w - 1);
        if q >= lim || q < -lim {
            return false;
        }
    } else if dividend / d > mask(w) as u64 {
        return false;
    }
    g.undefined(ARITH, WHY_DIV);
    true
}

/// A shift or rotate count: 0..width+2 often, else any 5-bit or 8-bit value.
fn count(g: &mut Gen, w: u32) -> u32 {
    match g.below(3) {
        0 => g.below(w + 3),
        1 => g.below(32),
        _ => g.rng.next_u32() & 0xFF,
    }
}

/// ROL ROR RCL RCR SHL SHR SAL(/6) SAR by 1, CL and imm8.
fn shift(g: &mut Gen) -> bool {
    let w = g.width();
    let wbit = (w != 8) as u8;
    g.opsize(w);
    let kind = g.below(3);
    let op = g.below(8) as u8;
    g.op(&[[0xD0, 0xD2, 0xC0][kind as usize] + wbit]);
    let rm = g.modrm(op, w / 8, None, false, 0);
    g.spice(rm, w);
    let n = match kind {
        0 => 1,
        1 => {
            let c = count(g, w);
            g.set(Loc::Reg(1), 8, c);
            g.get(Loc::Reg(1), 8)
        }
        _ => {
            let c = count(g, w);
            g.imm(8, c);
            c
        }
    };
    let c = n & 31;
    if c != 0 {
        if op < 4 {
            if c != 1 {
                g.undefined(OF, WHY_ROT);
            }
        } else {
            let mut u = AF;
            if c != 1 {
                u |= OF;
            }
            if op != 7 && c >= w {
                u |= CF;
            }
            g.undefined(u, WHY_SHIFT);
        }
    }
    true
}

/// SHLD and SHRD by imm8 and CL.
fn shxd(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    let right = g.chance(2);
    let by_cl = g.chance(2);
    g.op(&[0x0F, if right { 0xAC } else { 0xA4 } + by_cl as u8]);
    let reg = g.any_reg();
    let rm = g.modrm(reg, w / 8, None, false, 0);
    g.spice(rm, w);
    g.spice(Loc::Reg(reg), w);
    let n = if by_cl {
        let c = count(g, w);
        g.set(Loc::Reg(1), 8, c);
        g.get(Loc::Reg(1), 8)
    } else {
        let c = count(g, w);
        g.imm(8, c);
        c
    };
    let c = n & 31;
    if c > w {
        g.undefined(ARITH, WHY_SHXD);
        match rm {
            Loc::Reg(r) => g.check.regs[r as usize] &= !0xFFFF,
            Loc::Mem(off) => g.check.mem_skip = Some((off, 2)),
        }
    } else if c > 1 {
        g.undefined(AF | OF, WHY_SHXD);
    } else if c == 1 {
        g.undefined(AF, WHY_SHXD);
    }
    true
}

/// BT BTS BTR BTC with a register or imm8 bit offset; memory bit strings
/// with register offsets reach outside the addressed word.
fn bt(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    let which = g.below(4) as u8; // BT, BTS, BTR, BTC
    let lock = which != 0 && g.chance(4);
    if g.chance(2) {
        g.op(&[0x0F, 0xA3 + which * 8]);
        let reg = g.any_reg();
        let rm = g.modrm(reg, w / 8, None, lock, 1 << reg);
        g.spice(rm, w);
        if lock && matches!(rm, Loc::Mem(_)) {
            g.prefix(0xF0);
        }
        if matches!(rm, Loc::Mem(_)) {
            // A signed bit offset within ±192 bits: ±24 bytes around the operand.
            let off = (g.below(384) as i32 - 192) as u32;
            let hi = g.rng.next_u32() & !mask(w);
            let v = if w == 16 { (off & 0xFFFF) | hi } else { off };
            g.set(Loc::Reg(reg), 32, v);
        } else {
            g.spice(Loc::Reg(reg), w);
        }
    } else {
        g.op(&[0x0F, 0xBA]);
        let rm = g.modrm(4 + which, w / 8, None, lock, 0);
        if lock && matches!(rm, Loc::Mem(_)) {
            g.prefix(0xF0);
        }
        let v = g.rng.next_u32() & 0xFF;
        g.imm(8, v);
        g.spice(rm, w);
    }
    g.undefined(OF | SF | AF | PF, WHY_BT);
    true
}

/// BSF and BSR, a zero source one time in four.
fn bsf(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    let op = if g.chance(2) { 0xBC } else { 0xBD };
    g.op(&[0x0F, op]);
    let reg = g.any_reg();
    let rm = g.modrm(reg, w / 8, None, false, 0);
    if g.chance(4) {
        g.set(rm, w, 0);
    } else {
        g.spice(rm, w);
    }
    g.undefined(CF | OF | SF | AF | PF, WHY_BSF);
    true
}

/// BSWAP r32 (the 16-bit form's result is undefined, SDM vol.2 BSWAP).
fn bswap(g: &mut Gen) -> bool {
    let r = g.any_reg();
    g.op(&[0x0F, 0xC8 + r]);
    true
}

/// CMPXCHG, the accumulator equal to the destination half the time.
fn cmpxchg(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[0x0F, 0xB0 + (w != 8) as u8]);
    let reg = g.any_reg();
    let lock = g.chance(4);
    let rm = g.modrm(reg, w / 8, None, lock, 0);
    if lock && matches!(rm, Loc::Mem(_)) {
        g.prefix(0xF0);
    }
    g.spice(rm, w);
    g.spice(Loc::Reg(reg), w);
    if g.chance(2) {
        let d = g.get(rm, w);
        if !g.set(Loc::Reg(0), w, d) {
            let a = g.get(Loc::Reg(0), w);
            g.set(rm, w, a);
        }
    }
    true
}

/// XADD.
fn xadd(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    g.op(&[0x0F, 0xC0 + (w != 8) as u8]);
    let reg = g.any_reg();
    let lock = g.chance(4);
    let rm = g.modrm(reg, w / 8, None, lock, 0);
    if lock && matches!(rm, Loc::Mem(_)) {
        g.prefix(0xF0);
    }
    g.spice(rm, w);
    g.spice(Loc::Reg(reg), w);
    true
}

/// CMPXCHG8B m64, EDX:EAX equal to the operand half the time.
fn cmpxchg8b(g: &mut Gen) -> bool {
    g.op(&[0x0F, 0xC7]);
    let lock = g.chance(4);
    let rm = g.modrm(1, 8, Some(true), lock, 0);
    if lock {
        g.prefix(0xF0);
    }
    let Loc::Mem(off) = rm else { unreachable!() };
    if g.chance(2) {
        let lo = g.get(Loc::Mem(off), 32);
        let hi = g.get(Loc::Mem(off + 4), 32);
        let ok_lo = g.set(Loc::Reg(0), 32, lo);
        let ok_hi = g.set(Loc::Reg(2), 32, hi);
        if !ok_lo || !ok_hi {
            let (a, d) = (g.regs[0], g.regs[2]);
            g.set(Loc::Mem(off), 32, a);
            g.set(Loc::Mem(off + 4), 32, d);
        }
    } else if g.chance(2) {
        // Equal in one half only.
        let lo = g.get(Loc::Mem(off), 32);
        g.set(Loc::Reg(0), 32, lo);
    }
    true
}

/// SETcc (the reg field is ignored, SDM vol.2 SETcc).
fn setcc(g: &mut Gen) -> bool {
    let cc = g.below(16) as u8;
    g.op(&[0x0F, 0x90 + cc]);
    let reg = if g.chance(2) { 0 } else { g.any_reg() };
    g.modrm(reg, 1, None, false, 0);
    true
}

/// CMOVcc.
fn cmovcc(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    let cc = g.below(16) as u8;
    g.op(&[0x0F, 0x40 + cc]);
    let reg = g.any_reg();
    g.modrm(reg, w / 8, None, false, 0);
    true
}

/// MOVZX and MOVSX from 8 and 16 bits.
fn movx(g: &mut Gen) -> bool {
    let sign = g.chance(2);
    let from16 = g.chance(2);
    let w = if from16 {
        if g.chance(4) {
            16
        } else {
            32
        }
    } else {
        g.width_wd()
    };
    g.opsize(w);
    g.op(&[0x0F, if sign { 0xBE } else { 0xB6 } + from16 as u8]);
    let reg = g.any_reg();
    let src_w = if from16 { 16 } else { 8 };
    let rm = g.modrm(reg, src_w / 8, None, false, 0);
    g.maybe_segment();
    g.spice(rm, src_w);
    true
}

/// MOV in its register, memory, immediate and moffs forms.
fn mov(g: &mut Gen) -> bool {
    let w = g.width();
    let wbit = (w != 8) as u8;
    g.opsize(w);
    match g.below(4) {
        0 => {
            let d = g.below(2) as u8;
            g.op(&[0x88 + 2 * d + wbit]);
            let reg = g.any_reg();
            let rm = g.modrm(reg, w / 8, None, false, 0);
            if matches!(rm, Loc::Mem(_)) {
                g.maybe_segment();
            }
        }
        1 => {
            g.op(&[0xC6 + wbit]);
            g.modrm(0, w / 8, None, false, 0);
            let v = g.val(w);
            g.imm(w, v);
        }
        2 => {
            let r = g.any_reg();
            g.op(&[if w == 8 { 0xB0 } else { 0xB8 } + r]);
            let v = g.val(w);
            g.imm(w, v);
        }
        _ => {
            // A0..A3: the accumulator and a 32-bit absolute offset (67h on the
            // host makes its moffs 32 bits too).
            let d = g.below(2) as u8;
            g.op(&[0xA0 + 2 * d + wbit]);
            let off = g.mem_offset(w / 8, false);
            let a = g.scratch.wrapping_add(off as u32);
            g.imm(32, a);
            g.maybe_segment();
        }
    }
    true
}

/// XCHG r/m, r (implicitly locked with memory) and XCHG eAX, r.
fn xchg(g: &mut Gen) -> bool {
    let w = g.width();
    g.opsize(w);
    if w != 8 && g.chance(3) {
        let r = 1 + g.below(7) as u8;
        g.op(&[0x90 + r]);
    } else {
        g.op(&[0x86 + (w != 8) as u8]);
        let reg = g.any_reg();
        g.modrm(reg, w / 8, None, true, 0);
    }
    true
}

/// LEA with every 32-bit addressing form, 16- and 32-bit destinations;
/// registers and displacements stay random (nothing is accessed).
fn lea(g: &mut Gen) -> bool {
    let w = g.width_wd();
    g.opsize(w);
    g.op(&[0x8D]);
    let reg = g.any_reg();
    g.address(reg, 0, 0, true);
    true
}

/// MOVS CMPS STOS LODS SCAS, with REP/REPE/REPNE and a small count.
fn string(g: &mut Gen) -> bool {
    let w = g.width();
    let wbit = (w != 8) as u8;
    g.opsize(w);
    let kind = g.below(5) as u8; // MOVS CMPS STOS LODS SCAS
    g.op(&[[0xA4, 0xA6, 0xAA, 0xAC, 0xAE][kind as usize] + wbit]);
    let compares = kind == 1 || kind == 4;
    let rep = match g.below(3) {
        0 => None,
        1 => Some(0xF3),
        _ if compares => Some(0xF2),
        _ => Some(0xF3),
    };
    if let Some(p) = rep {
        g.prefix(p);
        let n = g.below(9);
        g.regs[1] = n;
    }
    let uses_si = kind <= 1 || kind == 3;
    if uses_si && g.chance(6) {
        let p = [0x26, 0x36, 0x3E][g.below(3) as usize];
        g.prefix(p);
    }
    let si = 64 + g.below(128);
    let di = 64 + g.below(128);
    g.regs[6] = g.scratch.wrapping_add(si);
    g.regs[7] = g.scratch.wrapping_add(di);
    g.focus = Some(di as usize);
    let bytes = (w / 8) as usize;
    let step = |i: usize, base: u32, down: bool| -> usize {
        if down {
            (base as usize).wrapping_sub(i * bytes)
        } else {
            base as usize + i * bytes
        }
    };
    let down = g.eflags & DF != 0;
    if kind == 1 && g.chance(2) {
        // CMPS: make the destination mostly a copy of the source.
        for i in 0..8 {
            let (s, d) = (step(i, si, down), step(i, di, down));
            if !g.chance(4) {
                for k in 0..bytes {
                    g.mem[d + k] = g.mem[s + k];
                }
            }
        }
    }
    if kind == 4 && g.chance(2) {
        // SCAS: plant the accumulator here and there.
        let a = g.get(Loc::Reg(0), w);
        for i in 0..8 {
            if g.chance(2) {
                let d = step(i, di, down);
                g.set(Loc::Mem(d), w, a);
            }
        }
    }
    true
}

/// XLAT: AL = [EBX + AL].
fn xlat(g: &mut Gen) -> bool {
    g.op(&[0xD7]);
    g.maybe_segment();
    let al = g.regs[0] & 0xFF;
    let off = 64 + g.below(128);
    g.regs[3] = g.scratch.wrapping_add(off).wrapping_sub(al);
    g.focus = Some(off as usize);
    true
}

/// CBW/CWDE, CWD/CDQ, CMC, CLC, STC, CLD, STD, SAHF, LAHF, NOP and the
/// multi-byte NOP (0F 1F /0, whose memory operand is not accessed).
fn misc(g: &mut Gen) -> bool {
    match g.below(11) {
        0 => {
            let w = g.width_wd();
            g.opsize(w);
            g.op(&[0x98]);
        }
        1 => {
            let w = g.width_wd();
            g.opsize(w);
            g.op(&[0x99]);
        }
        2 => g.op(&[0xF5]),
        3 => g.op(&[0xF8]),
        4 => g.op(&[0xF9]),
        5 => g.op(&[0xFC]),
        6 => g.op(&[0xFD]),
        7 => g.op(&[0x9E]),
        8 => g.op(&[0x9F]),
        9 => g.op(&[0x90]),
        _ => {
            let w = g.width_wd();
            g.opsize(w);
            g.op(&[0x0F, 0x1F]);
            g.modrm(0, w / 8, None, false, 0);
        }
    }
    true
}

/// The flags condition code `cc` reads.
fn cc_flags(cc: u8) -> u32 {
    [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF][(cc >> 1) as usize]
}

/// A flag producer, then one to three steps that pass flags along or consume
/// them: SETcc, CMOVcc, ADC/SBB, INC/DEC (which keep CF), RCL/RCR, LAHF,
/// CMC, and flag-neutral NOT/MOV/BSWAP. One-instruction cases start from
/// flags set outright; these make ferrite derive each flag from an earlier
/// instruction's recorded operation (lazy flags), including CF carried
/// through INC/DEC. Whatever a step computes from an undefined flag, or from
/// a register holding such a result, is itself undefined.
fn pair(g: &mut Gen) -> bool {
    const PRODUCERS: [ClassFn; 13] = [
        alu, alu, alu, test, incdec, negnot, mul, imul, shift, shift, shxd, bt, bsf,
    ];
    let p = PRODUCERS[g.below(PRODUCERS.len() as u32) as usize];
    if !p(g) || g.check.mem_skip.is_some() || g.check.regs.iter().any(|&m| m != !0) {
        return false;
    }
    g.end_insn();
    let why = g.check.why;
    let mut undef = TRACKED_FLAGS & !g.check.flags;
    let steps = 1 + g.below(3);
    for _ in 0..steps {
        undef = chain_step(g, undef);
        g.end_insn();
    }
    g.check.flags = TRACKED_FLAGS & !undef;
    g.check.why = why;
    true
}

/// The bits of register operand `r` of width `w` within its 32-bit register.
fn reg_bits(r: u8, w: u32) -> (usize, u32) {
    match w {
        8 if r < 4 => (r as usize, 0xFF),
        8 => ((r & 3) as usize, 0xFF00),
        16 => (r as usize, 0xFFFF),
        _ => (r as usize, !0),
    }
}

/// One step of a flag chain, on registers only (earlier instructions may
/// have changed any register an address would be built from). Returns the
/// flags undefined after it.
fn chain_step(g: &mut Gen, undef: u32) -> u32 {
    // (flags read, flags written, destination, registers read)
    let mut dest: Option<(u8, u32)> = None;
    let mut srcs: Vec<(u8, u32)> = Vec::new();
    let (reads, writes) = match g.below(11) {
        0 | 1 => {
            let cc = g.below(16) as u8;
            g.op(&[0x0F, 0x90 + cc]);
            let reg = g.any_reg();
            let Loc::Reg(r) = g.modrm(reg, 1, Some(false), false, 0) else {
                unreachable!()
            };
            dest = Some((r, 8));
            (cc_flags(cc), 0)
        }
        2 => {
            let w = g.width_wd();
            g.opsize(w);
            let cc = g.below(16) as u8;
            g.op(&[0x0F, 0x40 + cc]);
            let reg = g.any_reg();
            let Loc::Reg(r) = g.modrm(reg, w / 8, Some(false), false, 0) else {
                unreachable!()
            };
            dest = Some((reg, w));
            srcs = vec![(reg, w), (r, w)];
            (cc_flags(cc), 0)
        }
        3 => {
            let w = g.width();
            g.opsize(w);
            let sbb = g.below(2) as u8;
            g.op(&[0x12 + sbb * 8 + (w != 8) as u8]);
            let reg = g.any_reg();
            let Loc::Reg(r) = g.modrm(reg, w / 8, Some(false), false, 0) else {
                unreachable!()
            };
            dest = Some((reg, w));
            srcs = vec![(reg, w), (r, w)];
            (CF, ARITH)
        }
        4 | 5 => {
            let w = g.width();
            g.opsize(w);
            g.op(&[if w == 8 { 0xFE } else { 0xFF }]);
            let d = g.below(2) as u8;
            let Loc::Reg(r) = g.modrm(d, w / 8, Some(false), false, 0) else {
                unreachable!()
            };
            dest = Some((r, w));
            srcs = vec![(r, w)];
            (0, ARITH & !CF)
        }
        6 => {
            let w = g.width();
            g.opsize(w);
            g.op(&[0xD0 + (w != 8) as u8]);
            let d = 2 + g.below(2) as u8;
            let Loc::Reg(r) = g.modrm(d, w / 8, Some(false), false, 0) else {
                unreachable!()
            };
            dest = Some((r, w));
            srcs = vec![(r, w)];
            (CF, CF | OF)
        }
        7 => {
            // LAHF: AH = SF ZF 0 AF 0 PF 1 CF, bit by bit.
            g.op(&[0x9F]);
            let mut m = 0u32;
            for (f, bit) in [(SF, 7), (ZF, 6), (AF, 4), (PF, 2), (CF, 0)] {
                if undef & f != 0 {
                    m |= 1 << (8 + bit);
                }
            }
            g.check.regs[0] = (g.check.regs[0] | 0xFF00) & !m;
            return undef;
        }
        8 => {
            g.op(&[0xF5]); // CMC
            (CF, CF)
        }
        _ => {
            // Flag-neutral: NOT, MOV, BSWAP.
            let w = g.width_wd();
            match g.below(3) {
                0 => {
                    g.opsize(w);
                    g.op(&[0xF7]);
                    let Loc::Reg(r) = g.modrm(2, w / 8, Some(false), false, 0) else {
                        unreachable!()
                    };
                    dest = Some((r, w));
                    srcs = vec![(r, w)];
                }
                1 => {
                    g.opsize(w);
                    g.op(&[0x8B]);
                    let reg = g.any_reg();
                    let Loc::Reg(r) = g.modrm(reg, w / 8, Some(false), false, 0) else {
                        unreachable!()
                    };
                    dest = Some((reg, w));
                    srcs = vec![(r, w)];
                }
                _ => {
                    let r = g.any_reg();
                    g.op(&[0x0F, 0xC8 + r]);
                    dest = Some((r, 32));
                    srcs = vec![(r, 32)];
                }
            }
            (0, 0)
        }
    };
    let reads_bad_reg = srcs.iter().any(|&(r, w)| {
        let (i, bits) = reg_bits(r, w);
        g.check.regs[i] & bits != bits
    });
    let tainted = reads & undef != 0 || reads_bad_reg;
    let mut after = undef & !writes;
    if let Some((r, w)) = dest {
        let (i, bits) = reg_bits(r, w);
        if tainted {
            g.check.regs[i] &= !bits;
        } else {
            // The bits written are defined again; the others stay as they were.
            g.check.regs[i] |= bits;
        }
    }
    if tainted {
        after |= writes;
    }
    after
}

/// Jcc (rel8 and rel32), LOOP, LOOPE, LOOPNE and JECXZ, jumping forward over
/// a filler (MOV AH, 5Ah) that runs only when the branch is not taken;
/// half the time after a flag producer, so that the condition is read from
/// lazy flags. On the host, 67h makes LOOPcc and JECXZ use ECX (in 64-bit
/// mode they would use RCX); Jcc gets no prefix at all.
fn branch(g: &mut Gen) -> bool {
    // The count for LOOPcc first: a producer may still take CL as its count.
    if g.chance(2) {
        g.regs[1] = g.below(3);
    }
    let mut undef = 0;
    if g.chance(2) {
        const PRODUCERS: [ClassFn; 6] = [alu, alu, incdec, shift, bt, test];
        let p = PRODUCERS[g.below(PRODUCERS.len() as u32) as usize];
        if !p(g) || g.check.regs.iter().any(|&m| m != !0) {
            return false;
        }
        g.end_insn();
        undef = TRACKED_FLAGS & !g.check.flags;
    }
    let filler = [0xB4, 0x5A];
    let reads = match g.below(4) {
        0 => {
            let cc = g.below(16) as u8;
            let b = [0x70 + cc, filler.len() as u8];
            g.raw(&b, &b);
            cc_flags(cc)
        }
        1 => {
            let cc = g.below(16) as u8;
            let mut b = vec![0x0F, 0x80 + cc];
            b.extend_from_slice(&(filler.len() as u32).to_le_bytes());
            g.raw(&b, &b);
            cc_flags(cc)
        }
        _ => {
            // LOOPNE LOOPE LOOP JECXZ (ECX is often 0, 1 or 2, see above).
            let k = g.below(4) as u8;
            let b = [0xE0 + k, filler.len() as u8];
            g.raw(&b, &[0x67, 0xE0 + k, filler.len() as u8]);
            if k < 2 {
                ZF
            } else {
                0
            }
        }
    };
    g.raw(&filler, &filler);
    if reads & undef != 0 {
        g.check.regs[0] &= !0xFF00;
    }
    true
}
