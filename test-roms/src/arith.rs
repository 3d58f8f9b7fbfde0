//! `arith`: integer arithmetic and flags.
//!
//! ADD/ADC/SUB/SBB/CMP/INC/DEC/NEG at 8/16/32 bits with all six status
//! flags, MUL/IMUL (1-, 2- and 3-operand forms), DIV/IDIV, the BCD adjusts,
//! shifts and rotates (count masking, RCL/RCR through carry), SHLD/SHRD,
//! BT/BTS/BTR/BTC (register and bit-string memory forms), BSF/BSR, SETcc,
//! CMOVcc, BSWAP, XADD, CMPXCHG, CMPXCHG8B, MOVZX/MOVSX, CBW/CWDE/CWD/CDQ,
//! LAHF/SAHF and XLAT.
//!
//! Every expected value below is worked out by hand in a comment. Flags
//! that the SDM calls undefined for an instruction are never checked: the
//! `mask` argument of each case lists the flags that are.
//!
//! Flag bits: CF=0001 PF=0004 AF=0010 ZF=0040 SF=0080 OF=0800.
//! PF is set when the low byte of the result has an even number of 1 bits.

use crate::builder::flags::*;
use crate::builder::*;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction, MemoryOperand, Register};

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("arith", body)
}

/// A SETcc case: name, the instruction, the expected byte.
type SetCase = (&'static str, fn(&mut Asm) -> R, u8);

/// RAM scratch area used by the memory-operand tests (DS = 0).
const SCRATCH: u32 = 0x1000;

/// Initial flags that differ from `fout` in every flag of `mask`, so that
/// an instruction that forgets to write a flag is caught.
fn inv(fout: u16, mask: u16) -> u16 {
    !fout & mask
}

/// Sets the arithmetic flags to `fin` (IF, TF and DF clear).
fn set_flags(a: &mut Asm, fin: u16) -> R {
    a.push((fin & ARITH) as u32 | 2)?;
    a.popf()
}

/// AL = x, BL = y, FLAGS = fin; `op`; then AL must be `res`, BL must still
/// be `y` and `FLAGS & mask` must be `fout`.
#[allow(clippy::too_many_arguments)]
fn alu8(
    a: &mut Asm,
    what: &str,
    op: impl Fn(&mut Asm) -> R,
    x: u8,
    y: u8,
    fin: u16,
    res: u8,
    fout: u16,
    mask: u16,
) -> R {
    a.mov(al, x as u32)?;
    a.mov(bl, y as u32)?;
    set_flags(a, fin)?;
    op(a)?;
    a.check8(al, res, &format!("{what} result"))?;
    a.check_flags(mask, fout, &format!("{what} flags"))?;
    a.check8(bl, y, &format!("{what} source operand"))
}

/// 16-bit version of [`alu8`] on AX/BX.
#[allow(clippy::too_many_arguments)]
fn alu16(
    a: &mut Asm,
    what: &str,
    op: impl Fn(&mut Asm) -> R,
    x: u16,
    y: u16,
    fin: u16,
    res: u16,
    fout: u16,
    mask: u16,
) -> R {
    a.mov(ax, x as u32)?;
    a.mov(bx, y as u32)?;
    set_flags(a, fin)?;
    op(a)?;
    a.check16(ax, res, &format!("{what} result"))?;
    a.check_flags(mask, fout, &format!("{what} flags"))?;
    a.check16(bx, y, &format!("{what} source operand"))
}

/// 32-bit version of [`alu8`] on EAX/EBX.
#[allow(clippy::too_many_arguments)]
fn alu32(
    a: &mut Asm,
    what: &str,
    op: impl Fn(&mut Asm) -> R,
    x: u32,
    y: u32,
    fin: u16,
    res: u32,
    fout: u16,
    mask: u16,
) -> R {
    a.mov(eax, x)?;
    a.mov(ebx, y)?;
    set_flags(a, fin)?;
    op(a)?;
    a.check32(eax, res, &format!("{what} result"))?;
    a.check_flags(mask, fout, &format!("{what} flags"))?;
    a.check32(ebx, y, &format!("{what} source operand"))
}

fn body(a: &mut Asm) -> R {
    a.post(0x10)?;
    add_sub(a)?;
    a.post(0x11)?;
    inc_dec_neg(a)?;
    a.post(0x12)?;
    mul_div(a)?;
    a.post(0x13)?;
    bcd(a)?;
    a.post(0x14)?;
    shifts(a)?;
    a.post(0x15)?;
    rotates(a)?;
    a.post(0x16)?;
    double_shifts(a)?;
    a.post(0x17)?;
    bits(a)?;
    a.post(0x18)?;
    conditionals(a)?;
    a.post(0x19)?;
    exchange(a)?;
    a.post(0x1A)?;
    conversions(a)?;
    Ok(())
}

#[rustfmt::skip]
fn add_sub(a: &mut Asm) -> R {
    const M: u16 = ARITH;
    // ---- ADD ----
    // 7F+01 = 80: positive+positive gave negative (OF), SF, F+1 carries out
    // of bit 3 (AF), 80 has one bit set (PF=0), no carry out (CF=0).
    alu8(a, "add8 7F+01", |a| a.add(al, bl), 0x7F, 0x01, inv(OF | SF | AF, M), 0x80, OF | SF | AF, M)?;
    // FF+01 = 100: CF, result 00 (ZF, PF), F+1 (AF); -1+1 no overflow.
    alu8(a, "add8 FF+01", |a| a.add(al, bl), 0xFF, 0x01, inv(CF | ZF | AF | PF, M), 0x00, CF | ZF | AF | PF, M)?;
    // 80+80 = 100: CF, negative+negative gave 0 (OF), ZF, PF, 0+0 (no AF).
    alu8(a, "add8 80+80", |a| a.add(al, bl), 0x80, 0x80, inv(CF | OF | ZF | PF, M), 0x00, CF | OF | ZF | PF, M)?;
    // 12+34 = 46 = 0100_0110 (3 bits, PF=0), no carries: all clear.
    alu8(a, "add8 12+34", |a| a.add(al, bl), 0x12, 0x34, inv(0, M), 0x46, 0, M)?;
    // 7FFF+1 = 8000: OF, SF, AF (F+1), low byte 00 has even parity (PF).
    alu16(a, "add16 7FFF+1", |a| a.add(ax, bx), 0x7FFF, 1, inv(OF | SF | AF | PF, M), 0x8000, OF | SF | AF | PF, M)?;
    // FFFF+1 = 10000: CF ZF AF PF.
    alu16(a, "add16 FFFF+1", |a| a.add(ax, bx), 0xFFFF, 1, inv(CF | ZF | AF | PF, M), 0, CF | ZF | AF | PF, M)?;
    // 1234+4321 = 5555: no carries; 55 = 0101_0101 (4 bits, PF).
    alu16(a, "add16 1234+4321", |a| a.add(ax, bx), 0x1234, 0x4321, inv(PF, M), 0x5555, PF, M)?;
    // 8000+8000 = 10000: CF OF ZF PF.
    alu16(a, "add16 8000+8000", |a| a.add(ax, bx), 0x8000, 0x8000, inv(CF | OF | ZF | PF, M), 0, CF | OF | ZF | PF, M)?;
    // 7FFFFFFF+1 = 80000000: OF SF AF PF.
    alu32(a, "add32 7FFFFFFF+1", |a| a.add(eax, ebx), 0x7FFF_FFFF, 1, inv(OF | SF | AF | PF, M), 0x8000_0000, OF | SF | AF | PF, M)?;
    // FFFFFFFF+1 = 0 with carry: CF ZF AF PF.
    alu32(a, "add32 FFFFFFFF+1", |a| a.add(eax, ebx), 0xFFFF_FFFF, 1, inv(CF | ZF | AF | PF, M), 0, CF | ZF | AF | PF, M)?;
    // 12345678+87654321 = 99999999: every digit pair sums to 9, no carries;
    // positive+negative never overflows; SF; 99 = 1001_1001 (PF).
    alu32(a, "add32 12345678+87654321", |a| a.add(eax, ebx), 0x1234_5678, 0x8765_4321, inv(SF | PF, M), 0x9999_9999, SF | PF, M)?;
    // 80000000+FFFFFFFF = 1_7FFFFFFF: CF, negative+negative gave positive
    // (OF), 0+F no AF, FF has 8 bits (PF).
    alu32(a, "add32 80000000+FFFFFFFF", |a| a.add(eax, ebx), 0x8000_0000, 0xFFFF_FFFF, inv(CF | OF | PF, M), 0x7FFF_FFFF, CF | OF | PF, M)?;
    // Memory destination, 16-bit: [SCRATCH] = 0xFFFE; add [SCRATCH], 3 = 1 with CF.
    a.mov(word_ptr(SCRATCH), 0xFFFEu32)?;
    set_flags(a, 0)?;
    a.add(word_ptr(SCRATCH), 3u32)?;
    // FFFE+3 = 1_0001: CF, E+3 = 11 (AF), 01 has one bit (PF=0).
    a.check_flags(M, CF | AF, "add16 mem FFFE+3 flags")?;
    a.check_mem16(word_ptr(SCRATCH), 0x0001, "add16 mem FFFE+3 result")?;

    // ---- ADC ----
    // FF+00+CF = 100: CF ZF AF PF.
    alu8(a, "adc8 FF+00+1", |a| a.adc(al, bl), 0xFF, 0x00, CF, 0x00, CF | ZF | AF | PF, M)?;
    // 7F+00+CF = 80: OF SF AF.
    alu8(a, "adc8 7F+00+1", |a| a.adc(al, bl), 0x7F, 0x00, CF, 0x80, OF | SF | AF, M)?;
    // 10+20+0 = 30 = 0011_0000 (PF). Initial flags all set but CF.
    alu8(a, "adc8 10+20+0", |a| a.adc(al, bl), 0x10, 0x20, M & !CF, 0x30, PF, M)?;
    // FFFF+FFFF+1 = 1_FFFF: CF, SF, F+F+1 = 1F (AF), FF (PF); -1+-1+1 = -1
    // no overflow.
    alu16(a, "adc16 FFFF+FFFF+1", |a| a.adc(ax, bx), 0xFFFF, 0xFFFF, CF, 0xFFFF, CF | SF | AF | PF, M)?;
    // 7FFFFFFF+0+1 = 80000000: OF SF AF PF.
    alu32(a, "adc32 7FFFFFFF+0+1", |a| a.adc(eax, ebx), 0x7FFF_FFFF, 0, CF, 0x8000_0000, OF | SF | AF | PF, M)?;
    // FFFFFFFE+1+0 = FFFFFFFF: SF PF (E+1 = F, no AF).
    alu32(a, "adc32 FFFFFFFE+1+0", |a| a.adc(eax, ebx), 0xFFFF_FFFE, 1, M & !CF, 0xFFFF_FFFF, SF | PF, M)?;

    // ---- SUB ---- (CF = borrow, AF = borrow out of bit 3)
    // 00-01 = FF: CF, SF, AF (0<1), PF; 0-1 = -1 no overflow.
    alu8(a, "sub8 00-01", |a| a.sub(al, bl), 0x00, 0x01, inv(CF | SF | AF | PF, M), 0xFF, CF | SF | AF | PF, M)?;
    // 80-01 = 7F: -128-1 overflows (OF), AF (0<1), 7F has 7 bits (PF=0).
    alu8(a, "sub8 80-01", |a| a.sub(al, bl), 0x80, 0x01, inv(OF | AF, M), 0x7F, OF | AF, M)?;
    // 55-55 = 0: ZF PF.
    alu8(a, "sub8 55-55", |a| a.sub(al, bl), 0x55, 0x55, inv(ZF | PF, M), 0x00, ZF | PF, M)?;
    // 7F-FF = 80: 127-(-1) = 128 overflows (OF), 7F<FF (CF), SF, F-F no AF,
    // 80 one bit (PF=0).
    alu8(a, "sub8 7F-FF", |a| a.sub(al, bl), 0x7F, 0xFF, inv(OF | CF | SF, M), 0x80, OF | CF | SF, M)?;
    // 0000-0001 = FFFF: CF SF AF PF.
    alu16(a, "sub16 0-1", |a| a.sub(ax, bx), 0, 1, inv(CF | SF | AF | PF, M), 0xFFFF, CF | SF | AF | PF, M)?;
    // 8000-0001 = 7FFF: OF AF, low byte FF (PF).
    alu16(a, "sub16 8000-1", |a| a.sub(ax, bx), 0x8000, 1, inv(OF | AF | PF, M), 0x7FFF, OF | AF | PF, M)?;
    // 1234-1234 = 0: ZF PF.
    alu16(a, "sub16 1234-1234", |a| a.sub(ax, bx), 0x1234, 0x1234, inv(ZF | PF, M), 0, ZF | PF, M)?;
    // 0-1 = FFFFFFFF: CF SF AF PF.
    alu32(a, "sub32 0-1", |a| a.sub(eax, ebx), 0, 1, inv(CF | SF | AF | PF, M), 0xFFFF_FFFF, CF | SF | AF | PF, M)?;
    // 80000000-1 = 7FFFFFFF: OF AF PF.
    alu32(a, "sub32 80000000-1", |a| a.sub(eax, ebx), 0x8000_0000, 1, inv(OF | AF | PF, M), 0x7FFF_FFFF, OF | AF | PF, M)?;
    // 12345678-12345679 = FFFFFFFF: CF SF AF (8<9) PF.
    alu32(a, "sub32 12345678-12345679", |a| a.sub(eax, ebx), 0x1234_5678, 0x1234_5679, inv(CF | SF | AF | PF, M), 0xFFFF_FFFF, CF | SF | AF | PF, M)?;
    // 10-1 = F: AF (0<1), 0F has 4 bits (PF).
    alu32(a, "sub32 10-1", |a| a.sub(eax, ebx), 0x10, 1, inv(AF | PF, M), 0x0F, AF | PF, M)?;

    // ---- SBB ----
    // 00-00-1 = FF: CF SF AF PF.
    alu8(a, "sbb8 00-00-1", |a| a.sbb(al, bl), 0x00, 0x00, CF, 0xFF, CF | SF | AF | PF, M)?;
    // 80-00-1 = 7F: OF AF.
    alu8(a, "sbb8 80-00-1", |a| a.sbb(al, bl), 0x80, 0x00, CF, 0x7F, OF | AF, M)?;
    // 05-03-0 = 02: one bit (PF=0), nothing else.
    alu8(a, "sbb8 05-03-0", |a| a.sbb(al, bl), 0x05, 0x03, M & !CF, 0x02, 0, M)?;
    // 0001-0000-1 = 0: ZF PF (1-0-1 no borrow anywhere).
    alu16(a, "sbb16 1-0-1", |a| a.sbb(ax, bx), 1, 0, CF, 0, ZF | PF, M)?;
    // FFFFFFFF-FFFFFFFF-1 = FFFFFFFF: CF SF AF PF; -1-(-1)-1 = -1 no OF.
    alu32(a, "sbb32 FFFFFFFF-FFFFFFFF-1", |a| a.sbb(eax, ebx), 0xFFFF_FFFF, 0xFFFF_FFFF, CF, 0xFFFF_FFFF, CF | SF | AF | PF, M)?;

    // ---- CMP ---- (flags as SUB, destination unchanged)
    // 05-07 = FE: CF SF AF (5<7), FE has 7 bits (PF=0).
    alu8(a, "cmp8 05,07", |a| a.cmp(al, bl), 0x05, 0x07, inv(CF | SF | AF, M), 0x05, CF | SF | AF, M)?;
    // 8000-0001: OF AF PF.
    alu16(a, "cmp16 8000,1", |a| a.cmp(ax, bx), 0x8000, 1, inv(OF | AF | PF, M), 0x8000, OF | AF | PF, M)?;
    // 7FFFFFFF-80000000 = FFFFFFFF: CF, positive-negative gave negative (OF),
    // SF, F-0 no AF, PF.
    alu32(a, "cmp32 7FFFFFFF,80000000", |a| a.cmp(eax, ebx), 0x7FFF_FFFF, 0x8000_0000, inv(CF | OF | SF | PF, M), 0x7FFF_FFFF, CF | OF | SF | PF, M)?;
    // CMP with an immediate: 0x10 vs 0x10 -> ZF PF.
    alu8(a, "cmp8 imm 10,10", |a| a.cmp(al, 0x10u32), 0x10, 0, inv(ZF | PF, M), 0x10, ZF | PF, M)?;
    Ok(())
}

#[rustfmt::skip]
fn inc_dec_neg(a: &mut Asm) -> R {
    const M: u16 = ARITH;
    // INC/DEC leave CF alone: every case runs once with CF set on input and
    // checks it is still set, or clear and still clear.
    // 7F+1 = 80: OF SF AF, CF kept (1).
    alu8(a, "inc8 7F", |a| a.inc(al), 0x7F, 0, CF, 0x80, OF | SF | AF | CF, M)?;
    // FF+1 = 00: ZF AF PF, CF kept (0) - INC does not set CF.
    alu8(a, "inc8 FF", |a| a.inc(al), 0xFF, 0, M & !(ZF | AF | PF | CF), 0x00, ZF | AF | PF, M)?;
    // FFFF+1 = 0: ZF AF PF, CF kept (1).
    alu16(a, "inc16 FFFF", |a| a.inc(ax), 0xFFFF, 0, CF, 0, ZF | AF | PF | CF, M)?;
    // 7FFFFFFF+1: OF SF AF PF, CF kept (0).
    alu32(a, "inc32 7FFFFFFF", |a| a.inc(eax), 0x7FFF_FFFF, 0, ZF, 0x8000_0000, OF | SF | AF | PF, M)?;
    // 80-1 = 7F: OF AF, CF kept (1).
    alu8(a, "dec8 80", |a| a.dec(al), 0x80, 0, CF, 0x7F, OF | AF | CF, M)?;
    // 01-1 = 0: ZF PF, CF kept (0).
    alu8(a, "dec8 01", |a| a.dec(al), 0x01, 0, inv(ZF | PF, M) & !CF, 0x00, ZF | PF, M)?;
    // 0000-1 = FFFF: SF AF PF, CF kept (1) although there is a borrow.
    alu16(a, "dec16 0", |a| a.dec(ax), 0, 0, CF, 0xFFFF, SF | AF | PF | CF, M)?;
    // 80000000-1 = 7FFFFFFF: OF AF PF, CF kept (0).
    alu32(a, "dec32 80000000", |a| a.dec(eax), 0x8000_0000, 0, 0, 0x7FFF_FFFF, OF | AF | PF, M)?;
    // INC on memory.
    a.mov(dword_ptr(SCRATCH), 0x0000_FFFFu32)?;
    set_flags(a, CF)?;
    a.inc(dword_ptr(SCRATCH))?;
    // FFFF+1 = 10000: AF, low byte 00 (PF), CF kept.
    a.check_flags(M, AF | PF | CF, "inc32 mem FFFF flags")?;
    a.check_mem32(dword_ptr(SCRATCH), 0x0001_0000, "inc32 mem FFFF result")?;

    // NEG: CF = (operand != 0); flags as 0 - operand.
    // -01 = FF: CF SF AF PF.
    alu8(a, "neg8 01", |a| a.neg(al), 0x01, 0, inv(CF | SF | AF | PF, M), 0xFF, CF | SF | AF | PF, M)?;
    // -80 = 80: OF CF SF (0-0 in the low nibble: no AF; 80 odd parity).
    alu8(a, "neg8 80", |a| a.neg(al), 0x80, 0, inv(OF | CF | SF, M), 0x80, OF | CF | SF, M)?;
    // -0 = 0: ZF PF, CF clear.
    alu8(a, "neg8 00", |a| a.neg(al), 0x00, 0, inv(ZF | PF, M), 0x00, ZF | PF, M)?;
    // -0001 = FFFF: CF SF AF PF.
    alu16(a, "neg16 1", |a| a.neg(ax), 1, 0, inv(CF | SF | AF | PF, M), 0xFFFF, CF | SF | AF | PF, M)?;
    // -80000000 = 80000000: OF CF SF PF (low byte 00).
    alu32(a, "neg32 80000000", |a| a.neg(eax), 0x8000_0000, 0, inv(OF | CF | SF | PF, M), 0x8000_0000, OF | CF | SF | PF, M)?;
    // -10 = FFFFFFF0: CF SF; F0 has 4 bits (PF); 0-0 low nibble (no AF).
    alu32(a, "neg32 10", |a| a.neg(eax), 0x10, 0, inv(CF | SF | PF, M), 0xFFFF_FFF0, CF | SF | PF, M)?;
    Ok(())
}

#[rustfmt::skip]
fn mul_div(a: &mut Asm) -> R {
    const M: u16 = CF | OF; // MUL/IMUL define only CF and OF
                            // ---- MUL ---- CF = OF = (upper half != 0)
                            // 80*02 = 0100 -> AX = 0100, CF OF.
    alu8(a, "mul8 80*02", |a| a.mul(bl), 0x80, 0x02, 0, 0x00, CF | OF, M)?;
    a.check16(ax, 0x0100, "mul8 80*02 AX")?;
    // 0F*0F = 00E1 -> CF OF clear.
    alu8(a, "mul8 0F*0F", |a| a.mul(bl), 0x0F, 0x0F, CF | OF, 0xE1, 0, M)?;
    a.check16(ax, 0x00E1, "mul8 0F*0F AX")?;
    // 1234*0100 = 0012_3400 -> DX = 0012, AX = 3400.
    a.mov(dx, 0xFFFFu32)?;
    alu16(a, "mul16 1234*100", |a| a.mul(bx), 0x1234, 0x0100, 0, 0x3400, CF | OF, M)?;
    a.check16(dx, 0x0012, "mul16 1234*100 DX")?;
    // 00FF*00FF = FE01 -> DX = 0 (cleared), CF OF clear.
    a.mov(dx, 0xFFFFu32)?;
    alu16(a, "mul16 FF*FF", |a| a.mul(bx), 0x00FF, 0x00FF, CF | OF, 0xFE01, 0, M)?;
    a.check16(dx, 0x0000, "mul16 FF*FF DX")?;
    // FFFFFFFF*FFFFFFFF = FFFFFFFE_00000001.
    alu32(a, "mul32 FFFFFFFF^2", |a| a.mul(ebx), 0xFFFF_FFFF, 0xFFFF_FFFF, 0, 1, CF | OF, M)?;
    a.check32(edx, 0xFFFF_FFFE, "mul32 FFFFFFFF^2 EDX")?;
    // 10000*10000 = 1_00000000.
    alu32(a, "mul32 10000*10000", |a| a.mul(ebx), 0x1_0000, 0x1_0000, 0, 0, CF | OF, M)?;
    a.check32(edx, 1, "mul32 10000*10000 EDX")?;
    // MUL with a memory operand: 0x200 * [SCRATCH]=0x300 = 0x60000.
    a.mov(word_ptr(SCRATCH), 0x300u32)?;
    a.mov(ax, 0x200u32)?;
    a.mul(word_ptr(SCRATCH))?;
    a.check16(ax, 0x0000, "mul16 mem AX")?;
    a.check16(dx, 0x0006, "mul16 mem DX")?;

    // ---- IMUL, one operand ---- CF = OF = (result != sign-extended low half)
    // -1*2 = -2 = FFFE: fits in 8 bits -> CF OF clear.
    alu8(a, "imul8 -1*2", |a| a.imul(bl), 0xFF, 0x02, CF | OF, 0xFE, 0, M)?;
    a.check16(ax, 0xFFFE, "imul8 -1*2 AX")?;
    // 40*2 = 128 = 0080: does not fit in a signed byte -> CF OF.
    alu8(a, "imul8 40*2", |a| a.imul(bl), 0x40, 0x02, 0, 0x80, CF | OF, M)?;
    a.check16(ax, 0x0080, "imul8 40*2 AX")?;
    // -32768 * -1 = 32768 = 0000_8000 -> CF OF.
    alu16(a, "imul16 8000*FFFF", |a| a.imul(bx), 0x8000, 0xFFFF, 0, 0x8000, CF | OF, M)?;
    a.check16(dx, 0x0000, "imul16 8000*FFFF DX")?;
    // -2 * 3 = -6 = FFFFFFFF_FFFFFFFA -> CF OF clear.
    alu32(a, "imul32 -2*3", |a| a.imul(ebx), 0xFFFF_FFFE, 3, CF | OF, 0xFFFF_FFFA, 0, M)?;
    a.check32(edx, 0xFFFF_FFFF, "imul32 -2*3 EDX")?;

    // ---- IMUL, two operands ----
    // 0100*0100 = 10000 truncated to 0000 -> CF OF.
    a.mov(cx, 0x0100u32)?;
    a.mov(bx, 0x0100u32)?;
    set_flags(a, 0)?;
    a.imul_2(cx, bx)?;
    a.check_flags(M, CF | OF, "imul16 2-op 100*100 flags")?;
    a.check16(cx, 0x0000, "imul16 2-op 100*100 result")?;
    // -3 * 7 = -21 = FFFFFFEB -> fits, CF OF clear.
    a.mov(ecx, 0xFFFF_FFFDu32)?;
    a.mov(ebx, 7u32)?;
    set_flags(a, CF | OF)?;
    a.imul_2(ecx, ebx)?;
    a.check_flags(M, 0, "imul32 2-op -3*7 flags")?;
    a.check32(ecx, 0xFFFF_FFEB, "imul32 2-op -3*7 result")?;
    // imul ax, [mem]: 0x0003 * [SCRATCH]=0xFFFF(-1) = -3 = FFFD.
    a.mov(word_ptr(SCRATCH), 0xFFFFu32)?;
    a.mov(ax, 3u32)?;
    set_flags(a, CF | OF)?;
    a.imul_2(ax, word_ptr(SCRATCH))?;
    a.check_flags(M, 0, "imul16 2-op mem flags")?;
    a.check16(ax, 0xFFFD, "imul16 2-op mem result")?;

    // ---- IMUL, three operands ----
    // 0102 * 7F = 258*127 = 32766 = 7FFE: fits -> CF OF clear.
    a.mov(bx, 0x0102u32)?;
    a.mov(dx, 0u32)?;
    set_flags(a, CF | OF)?;
    a.imul_3(dx, bx, 0x7Fu32)?;
    a.check_flags(M, 0, "imul16 3-op 102*7F flags")?;
    a.check16(dx, 0x7FFE, "imul16 3-op 102*7F result")?;
    a.check16(bx, 0x0102, "imul16 3-op source")?;
    // 40000000 * -2 = -80000000: exactly representable -> CF OF clear.
    a.mov(ebx, 0x4000_0000u32)?;
    set_flags(a, CF | OF)?;
    a.imul_3(edx, ebx, -2i32)?;
    a.check_flags(M, 0, "imul32 3-op 40000000*-2 flags")?;
    a.check32(edx, 0x8000_0000, "imul32 3-op 40000000*-2 result")?;
    // [SCRATCH]=00012345 * 10000 = 1_23450000 -> EDX = 23450000, CF OF.
    a.mov(dword_ptr(SCRATCH), 0x0001_2345u32)?;
    set_flags(a, 0)?;
    a.imul_3(edx, dword_ptr(SCRATCH), 0x1_0000u32)?;
    a.check_flags(M, CF | OF, "imul32 3-op mem flags")?;
    a.check32(edx, 0x2345_0000, "imul32 3-op mem result")?;

    // ---- DIV ---- (flags undefined)
    // 0107 / 10: 263 = 16*16 + 7 -> AL = 10, AH = 07.
    a.mov(ax, 0x0107u32)?;
    a.mov(bl, 0x10u32)?;
    a.div(bl)?;
    a.check16(ax, 0x0710, "div8 107/10")?;
    // 0001_0000 / 3 = 21845 r 1 -> AX = 5555, DX = 0001.
    a.mov(dx, 1u32)?;
    a.mov(ax, 0u32)?;
    a.mov(bx, 3u32)?;
    a.div(bx)?;
    a.check16(ax, 0x5555, "div16 10000/3 quotient")?;
    a.check16(dx, 0x0001, "div16 10000/3 remainder")?;
    // 1_00000000 / 10 = 10000000 r 0.
    a.mov(edx, 1u32)?;
    a.mov(eax, 0u32)?;
    a.mov(ecx, 0x10u32)?;
    a.div(ecx)?;
    a.check32(eax, 0x1000_0000, "div32 100000000/10 quotient")?;
    a.check32(edx, 0, "div32 100000000/10 remainder")?;
    // FFFFFFFF / 10 = 0FFFFFFF r F.
    a.xor(edx, edx)?;
    a.mov(eax, 0xFFFF_FFFFu32)?;
    a.div(ecx)?;
    a.check32(eax, 0x0FFF_FFFF, "div32 FFFFFFFF/10 quotient")?;
    a.check32(edx, 0xF, "div32 FFFFFFFF/10 remainder")?;

    // ---- IDIV ---- (truncates toward zero, remainder has the dividend's sign)
    // -7 / 2 = -3 r -1 -> AL = FD, AH = FF.
    a.mov(ax, 0xFFF9u32)?;
    a.mov(bl, 2u32)?;
    a.idiv(bl)?;
    a.check16(ax, 0xFFFD, "idiv8 -7/2")?;
    // -100 / 7 = -14 r -2 -> AX = FFF2, DX = FFFE.
    a.mov(dx, 0xFFFFu32)?;
    a.mov(ax, 0xFF9Cu32)?;
    a.mov(bx, 7u32)?;
    a.idiv(bx)?;
    a.check16(ax, 0xFFF2, "idiv16 -100/7 quotient")?;
    a.check16(dx, 0xFFFE, "idiv16 -100/7 remainder")?;
    // 100 / -7 = -14 r 2.
    a.xor(edx, edx)?;
    a.mov(eax, 100u32)?;
    a.mov(ecx, 0xFFFF_FFF9u32)?;
    a.idiv(ecx)?;
    a.check32(eax, 0xFFFF_FFF2, "idiv32 100/-7 quotient")?;
    a.check32(edx, 2, "idiv32 100/-7 remainder")?;
    // -128 / 1 = -128: the most negative quotient is allowed (no #DE).
    a.mov(ax, 0xFF80u32)?;
    a.mov(bl, 1u32)?;
    a.idiv(bl)?;
    a.check16(ax, 0x0080, "idiv8 -128/1")?;
    Ok(())
}

#[rustfmt::skip]
fn bcd(a: &mut Asm) -> R {
    // DAA/DAS define CF AF SF ZF PF; OF is undefined.
    const M: u16 = CF | AF | SF | ZF | PF;
    // DAA: AL=7D (38+45), AF=0 CF=0. Low nibble D>9 -> +6 = 83, AF=1;
    // 7D <= 99 and CF=0 -> no +60, CF=0. 83 = 1000_0011 (PF=0), SF.
    alu8(a, "daa 7D", |a| a.daa(), 0x7D, 0, 0, 0x83, SF | AF, M)?;
    // DAA: AL=9A (99+01), AF=0: +6 = A0, AF=1; 9A > 99 -> +60 = 00, CF=1.
    alu8(a, "daa 9A", |a| a.daa(), 0x9A, 0, 0, 0x00, CF | AF | ZF | PF, M)?;
    // DAA: AL=12 (09+09), AF=1: +6 = 18, AF=1; CF=0. 18 = 0001_1000 (PF).
    alu8(a, "daa 12 AF", |a| a.daa(), 0x12, 0, AF, 0x18, AF | PF, M)?;
    // DAA: AL=00, CF=1: low nibble fine (AF=0); CF -> +60 = 60, CF=1.
    // 60 = 0110_0000 (PF).
    alu8(a, "daa 00 CF", |a| a.daa(), 0x00, 0, CF, 0x60, CF | PF, M)?;
    // DAS: AL=2E (35-07), AF=1: -6 = 28, AF=1, no borrow; 2E <= 99, CF=0
    // -> CF=0. 28 = 0010_1000 (PF).
    alu8(a, "das 2E AF", |a| a.das(), 0x2E, 0, AF, 0x28, AF | PF, M)?;
    // DAS: AL=FF (00-01), AF=1 CF=1: -6 = F9, AF=1; FF > 99 -> -60 = 99, CF=1.
    alu8(a, "das FF AF CF", |a| a.das(), 0xFF, 0, AF | CF, 0x99, CF | AF | SF | PF, M)?;
    // DAS: AL=00, no adjust: ZF PF.
    alu8(a, "das 00", |a| a.das(), 0x00, 0, 0, 0x00, ZF | PF, M)?;

    // AAA/AAS define only AF and CF.
    const MA: u16 = AF | CF;
    // AAA: AX=000B: low nibble B>9 -> AX += 106 = 0111, AF=CF=1, AL &= 0F -> 0101.
    alu16(a, "aaa 000B", |a| a.aaa(), 0x000B, 0, 0, 0x0101, AF | CF, MA)?;
    // AAA: AX=0205, AF=0 (CF=1 on input is ignored): no adjust, AF=CF=0.
    alu16(a, "aaa 0205", |a| a.aaa(), 0x0205, 0, CF, 0x0205, 0, MA)?;
    // AAA: AX=0012 with AF=1 (09+09): +106 = 0118, AL &= 0F -> 0108.
    alu16(a, "aaa 0012 AF", |a| a.aaa(), 0x0012, 0, AF, 0x0108, AF | CF, MA)?;
    // AAS: AX=020F: F>9 -> AL -= 6 = 09, AH -= 1 = 01, AL &= 0F -> 0109.
    alu16(a, "aas 020F", |a| a.aas(), 0x020F, 0, 0, 0x0109, AF | CF, MA)?;
    // AAS: AX=0305, AF=0 (CF=1 on input is ignored): no adjust, AF=CF=0.
    alu16(a, "aas 0305", |a| a.aas(), 0x0305, 0, CF, 0x0305, 0, MA)?;
    // AAS: AX=0208 with AF=1: AL = 02, AH = 01 -> 0102.
    alu16(a, "aas 0208 AF", |a| a.aas(), 0x0208, 0, AF, 0x0102, AF | CF, MA)?;

    // AAM/AAD define SF ZF PF (from AL).
    const MM: u16 = SF | ZF | PF;
    // AAM 10: AL=3F=63 -> AH=6, AL=3. 03 has 2 bits (PF).
    alu16(a, "aam 3F", |a| a.aam(10u32), 0x003F, 0, inv(PF, MM), 0x0603, PF, MM)?;
    // AAM 16: AL=40 -> AH=4, AL=0: ZF PF.
    alu16(a, "aam16 40", |a| a.aam(16u32), 0x0040, 0, inv(ZF | PF, MM), 0x0400, ZF | PF, MM)?;
    // AAD 10: AX=0705 -> AL = 7*10+5 = 75 = 4B, AH=0. 4B = 0100_1011 (PF).
    alu16(a, "aad 0705", |a| a.aad(10u32), 0x0705, 0, inv(PF, MM), 0x004B, PF, MM)?;
    // AAD 16: AX=0F0F -> AL = F*16+F = FF: SF PF.
    alu16(a, "aad16 0F0F", |a| a.aad(16u32), 0x0F0F, 0, inv(SF | PF, MM), 0x00FF, SF | PF, MM)?;
    // AAD 10: AX=1A05 -> 26*10+5 = 265 = 0109, AL keeps 09, AH=0. 09 (PF).
    alu16(a, "aad 1A05", |a| a.aad(10u32), 0x1A05, 0, inv(PF, MM), 0x0009, PF, MM)?;
    Ok(())
}

#[rustfmt::skip]
fn shifts(a: &mut Asm) -> R {
    // For a non-zero count, shifts define CF SF ZF PF; OF only for count 1;
    // AF is undefined.
    const M1: u16 = CF | OF | SF | ZF | PF;
    const MN: u16 = CF | SF | ZF | PF;
    // SHL C1,1 = 82, CF=1 (old bit 7), OF = MSB(82) xor CF = 0, SF,
    // 82 has 2 bits (PF).
    alu8(a, "shl8 C1,1", |a| a.shl(al, 1u32), 0xC1, 0, inv(CF | SF | PF, M1), 0x82, CF | SF | PF, M1)?;
    // SHL 40,1 = 80: CF=0, OF = 1 xor 0 = 1, SF, PF=0.
    alu8(a, "shl8 40,1", |a| a.shl(al, 1u32), 0x40, 0, inv(OF | SF, M1), 0x80, OF | SF, M1)?;
    // SHR 81,1 = 40: CF=1, OF = old MSB = 1, 40 one bit (PF=0).
    alu8(a, "shr8 81,1", |a| a.shr(al, 1u32), 0x81, 0, inv(OF | CF, M1), 0x40, OF | CF, M1)?;
    // SAR 81,1 = C0: CF=1, OF=0, SF, C0 two bits (PF).
    alu8(a, "sar8 81,1", |a| a.sar(al, 1u32), 0x81, 0, inv(CF | SF | PF, M1), 0xC0, CF | SF | PF, M1)?;
    // SHL 1234,CL=4 = 2340: CF = old bit 12 = 1; 40 one bit (PF=0).
    a.mov(cl, 4u32)?;
    alu16(a, "shl16 1234,4", |a| a.shl(ax, cl), 0x1234, 0, inv(CF, MN), 0x2340, CF, MN)?;
    // SHR 12345680,CL=8 = 00123456: CF = old bit 7 = 1; 56 = 0101_0110 (PF).
    a.mov(cl, 8u32)?;
    alu32(a, "shr32 12345680,8", |a| a.shr(eax, cl), 0x1234_5680, 0, inv(CF | PF, MN), 0x0012_3456, CF | PF, MN)?;
    // SAR 80000000,CL=31 = FFFFFFFF: CF = old bit 30 = 0, SF, PF.
    a.mov(cl, 31u32)?;
    alu32(a, "sar32 80000000,31", |a| a.sar(eax, cl), 0x8000_0000, 0, inv(SF | PF, MN), 0xFFFF_FFFF, SF | PF, MN)?;
    // Count masking: CL=33 -> 33 & 31 = 1: SHL 1 = 2, CF=0, PF=0 (OF not
    // checked: only defined when the raw count is 1).
    a.mov(cl, 33u32)?;
    alu32(a, "shl32 1,33 (masked to 1)", |a| a.shl(eax, cl), 1, 0, inv(0, MN), 2, 0, MN)?;
    // CL=32 -> masked count 0: the operand and ALL flags are unchanged.
    a.mov(cl, 32u32)?;
    alu16(a, "shl16 1234,32 (masked to 0)", |a| a.shl(ax, cl), 0x1234, 0, CF | ZF | OF, 0x1234, CF | ZF | OF, ARITH)?;
    a.mov(cl, 0u32)?;
    alu32(a, "shr32 by 0", |a| a.shr(eax, cl), 0x8765_4321, 0, SF | AF | PF, 0x8765_4321, SF | AF | PF, ARITH)?;
    // 8-bit shifts by 9 (allowed: the count is only masked to 5 bits):
    // everything shifted out.
    a.mov(cl, 9u32)?;
    alu8(a, "shr8 FF,9", |a| a.shr(al, cl), 0xFF, 0, 0, 0x00, 0, 0)?;
    alu8(a, "sar8 80,9", |a| a.sar(al, cl), 0x80, 0, 0, 0xFF, 0, 0)?;
    // 16-bit SHL by 17 -> 0.
    a.mov(cl, 17u32)?;
    alu16(a, "shl16 FFFF,17", |a| a.shl(ax, cl), 0xFFFF, 0, 0, 0x0000, 0, 0)?;
    // Shift of a memory operand: SAR word [SCRATCH]=8001 by 1 = C000, CF=1.
    a.mov(word_ptr(SCRATCH), 0x8001u32)?;
    set_flags(a, 0)?;
    a.sar(word_ptr(SCRATCH), 1u32)?;
    // C000: SF, low byte 00 (PF), CF=1, OF=0.
    a.check_flags(M1, CF | SF | PF, "sar16 mem 8001,1 flags")?;
    a.check_mem16(word_ptr(SCRATCH), 0xC000, "sar16 mem 8001,1 result")?;
    // SAL is SHL: SHL AL,3 with AL=0x21 -> 08, CF = old bit 5 = 1.
    alu8(a, "shl8 21,3", |a| a.shl(al, 3u32), 0x21, 0, inv(CF, MN), 0x08, CF, MN)?;
    Ok(())
}

#[rustfmt::skip]
fn rotates(a: &mut Asm) -> R {
    // Rotates write CF (and OF for count 1) and leave SF ZF AF PF alone.
    const MR: u16 = CF | SF | ZF | AF | PF;
    const MR1: u16 = MR | OF;
    // ROL 81,1 = 03: CF = new LSB = 1, OF = MSB(03) xor CF = 1; SF ZF AF PF
    // were set and must stay set.
    alu8(a, "rol8 81,1", |a| a.rol(al, 1u32), 0x81, 0, SF | ZF | AF | PF, 0x03, CF | OF | SF | ZF | AF | PF, MR1)?;
    // ROR 01,1 = 80: CF = new MSB = 1, OF = bit7 xor bit6 of result = 1;
    // SF/ZF stay clear although the result is negative.
    alu8(a, "ror8 01,1", |a| a.ror(al, 1u32), 0x01, 0, 0, 0x80, CF | OF, MR1)?;
    // ROL 1234,CL=4 = 2341: CF = LSB = 1; ZF stays set.
    a.mov(cl, 4u32)?;
    alu16(a, "rol16 1234,4", |a| a.rol(ax, cl), 0x1234, 0, ZF, 0x2341, ZF | CF, MR)?;
    // ROR 12345678,CL=8 = 78123456: CF = MSB = 0 (was 1); SF stays set.
    a.mov(cl, 8u32)?;
    alu32(a, "ror32 12345678,8", |a| a.ror(eax, cl), 0x1234_5678, 0, CF | SF, 0x7812_3456, SF, MR)?;
    // ROL 80000000,CL=33 -> masked to 1: 00000001, CF=1.
    a.mov(cl, 33u32)?;
    alu32(a, "rol32 80000000,33", |a| a.rol(eax, cl), 0x8000_0000, 0, 0, 0x0000_0001, CF, MR)?;
    // ROL AL by 8: masked count 8 (non-zero), rotation by 8 mod 8 leaves 81,
    // and CF = LSB(result) = 1.
    a.mov(cl, 8u32)?;
    alu8(a, "rol8 81,8", |a| a.rol(al, cl), 0x81, 0, 0, 0x81, CF, MR)?;
    // ROR by 0 (CL=32 masked): nothing changes, flags included.
    a.mov(cl, 32u32)?;
    alu8(a, "ror8 by 32", |a| a.ror(al, cl), 0x5A, 0, CF | OF | ZF, 0x5A, CF | OF | ZF, ARITH)?;

    // RCL/RCR rotate through CF: 9 bits for bytes, 17 for words, 33 for
    // dwords; the count is (CL & 31) mod 9 / mod 17 for bytes / words.
    // RCL 80,1 with CF=1 = 01, CF = old MSB = 1, OF = MSB(01) xor CF = 1.
    alu8(a, "rcl8 80,1 CF=1", |a| a.rcl(al, 1u32), 0x80, 0, CF, 0x01, CF | OF, MR1)?;
    // RCR 01,1 with CF=0 = 00, CF=1, OF = MSB(01) xor CF(0) = 0. The result is
    // zero but ZF is not touched (stays clear).
    alu8(a, "rcr8 01,1 CF=0", |a| a.rcr(al, 1u32), 0x01, 0, 0, 0x00, CF, MR1)?;
    // RCL AL by 9: 9 mod 9 = 0, nothing changes (CF stays 1).
    a.mov(cl, 9u32)?;
    alu8(a, "rcl8 5A,9", |a| a.rcl(al, cl), 0x5A, 0, CF, 0x5A, CF, MR)?;
    // RCL AL by 10: 10 mod 9 = 1: 80 with CF=0 -> 00, CF=1.
    a.mov(cl, 10u32)?;
    alu8(a, "rcl8 80,10", |a| a.rcl(al, cl), 0x80, 0, 0, 0x00, CF, CF)?;
    // RCR AX by 17: 17 mod 17 = 0, nothing changes.
    a.mov(cl, 17u32)?;
    alu16(a, "rcr16 1234,17", |a| a.rcr(ax, cl), 0x1234, 0, CF, 0x1234, CF, MR)?;
    // RCR AX by 4 with CF=1: 17-bit value 1_1234 rotated right 4 = 0_9123
    // (the low nibble 0100 moves to bits 16..13), CF = 0.
    a.mov(cl, 4u32)?;
    alu16(a, "rcr16 1234,4 CF=1", |a| a.rcr(ax, cl), 0x1234, 0, CF, 0x9123, 0, MR)?;
    // RCL 80000001,1 with CF=0 = 00000002, CF=1, OF = 0 xor 1 = 1.
    alu32(a, "rcl32 80000001,1", |a| a.rcl(eax, 1u32), 0x8000_0001, 0, 0, 0x0000_0002, CF | OF, MR1)?;
    // RCL 40000000,CL=33 (masked to 1) with CF=1 = 80000001, CF=0.
    a.mov(cl, 33u32)?;
    alu32(a, "rcl32 40000000,33 CF=1", |a| a.rcl(eax, cl), 0x4000_0000, 0, CF, 0x8000_0001, 0, MR)?;
    // RCR 32-bit by 31 with CF=0: the 33-bit value 0_00000001 rotated right
    // by 31 is rotated left by 2: bit 0 -> bit 2 -> 00000004, CF = 0.
    a.mov(cl, 31u32)?;
    alu32(a, "rcr32 1,31", |a| a.rcr(eax, cl), 1, 0, 0, 0x0000_0004, 0, CF)?;
    Ok(())
}

#[rustfmt::skip]
fn double_shifts(a: &mut Asm) -> R {
    const MN: u16 = CF | SF | ZF | PF;
    // SHLD AX,BX,4: AX=1234, BX=ABCD -> 2340 | (ABCD >> 12) = 234A, CF = old
    // bit 12 of AX = 1; 4A = 0100_1010 (3 bits, PF=0).
    alu16(a, "shld16 1234,ABCD,4", |a| a.shld(ax, bx, 4u32), 0x1234, 0xABCD, inv(CF, MN), 0x234A, CF, MN)?;
    // SHRD EAX,EBX,CL=8: 12345678 >> 8 | DD << 24 = DD123456; CF = old bit 7
    // = 0 (78 = 0111_1000); SF; 56 (PF).
    a.mov(cl, 8u32)?;
    alu32(a, "shrd32 12345678,AABBCCDD,8", |a| a.shrd(eax, ebx, cl), 0x1234_5678, 0xAABB_CCDD, inv(SF | PF, MN), 0xDD12_3456, SF | PF, MN)?;
    // SHRD EAX,EBX,1: 1 >> 1 | 1 << 31 = 80000000, CF=1, sign changed (OF),
    // SF, low byte 00 (PF).
    alu32(a, "shrd32 1,1,1", |a| a.shrd(eax, ebx, 1u32), 1, 1, inv(CF | OF | SF | PF, MN | OF), 0x8000_0000, CF | OF | SF | PF, MN | OF)?;
    // SHLD EAX,EBX,CL=32: masked to 0 -> no change, flags unchanged.
    a.mov(cl, 32u32)?;
    alu32(a, "shld32 by 32", |a| a.shld(eax, ebx, cl), 0x1234_5678, 0xFFFF_FFFF, CF | PF, 0x1234_5678, CF | PF, ARITH)?;
    // SHLD EAX,EBX,CL=36 -> 4: 12345678 << 4 | F0000000 >> 28 = 2345678F,
    // CF = old bit 28 = 1.
    a.mov(cl, 36u32)?;
    alu32(a, "shld32 12345678,F0000000,36", |a| a.shld(eax, ebx, cl), 0x1234_5678, 0xF000_0000, 0, 0x2345_678F, CF, CF)?;
    // SHRD to memory: [SCRATCH]=0x00FF, BX=0x0001, 8 -> 0100, CF = old bit 7 = 1.
    a.mov(word_ptr(SCRATCH), 0x00FFu32)?;
    a.mov(bx, 1u32)?;
    set_flags(a, 0)?;
    a.shrd(word_ptr(SCRATCH), bx, 8u32)?;
    a.check_flags(CF, CF, "shrd16 mem CF")?;
    a.check_mem16(word_ptr(SCRATCH), 0x0100, "shrd16 mem result")?;
    Ok(())
}

#[rustfmt::skip]
fn bits(a: &mut Asm) -> R {
    // ---- BT/BTS/BTR/BTC on registers (bit offset taken modulo the size) ----
    alu16(a, "bt16 0008,3", |a| a.bt(ax, 3u32), 0x0008, 0, 0, 0x0008, CF, CF)?;
    alu16(a, "bt16 0008,2", |a| a.bt(ax, 2u32), 0x0008, 0, CF, 0x0008, 0, CF)?;
    a.mov(cl, 35u32)?; // 35 mod 32 = 3
    alu32(a, "bt32 reg 8,35", |a| a.bt(eax, ecx), 0x0000_0008, 0, 0, 0x0000_0008, CF, CF)?;
    // BTS AX,BX with BX=15: 0001 -> 8001, CF=0 (old bit 15).
    alu16(a, "bts16 1,15", |a| a.bts(ax, bx), 0x0001, 15, CF, 0x8001, 0, CF)?;
    // BTS with offset 31 (mod 16 = 15) on 16-bit register: same bit.
    alu16(a, "bts16 1,31", |a| a.bts(ax, bx), 0x0001, 31, CF, 0x8001, 0, CF)?;
    alu32(a, "btr32 80000001,31", |a| a.btr(eax, 31u32), 0x8000_0001, 0, 0, 0x0000_0001, CF, CF)?;
    alu16(a, "btc16 1,0", |a| a.btc(ax, 0u32), 0x0001, 0, 0, 0x0000, CF, CF)?;
    alu16(a, "btc16 0,0", |a| a.btc(ax, 0u32), 0x0000, 0, CF, 0x0001, 0, CF)?;

    // ---- bit strings in memory: a register offset is signed and can
    // address outside the operand ----
    // Layout (DS = 0): dword [S-4] = 0, dword [S] = 00080000, dword [S+4] = 00000100.
    const S: u32 = SCRATCH + 0x10;
    a.mov(dword_ptr(S - 4), 0u32)?;
    a.mov(dword_ptr(S), 0x0008_0000u32)?;
    a.mov(dword_ptr(S + 4), 0x0000_0100u32)?;
    // BT word [S], AX=19: word at S + 2*(19>>4) = S+2 (= 0008), bit 3 -> CF=1.
    a.mov(ax, 19u32)?;
    set_flags(a, 0)?;
    a.bt(word_ptr(S), ax)?;
    a.check_flags(CF, CF, "bt16 mem bit 19")?;
    // Bit 18 is clear.
    a.mov(ax, 18u32)?;
    set_flags(a, CF)?;
    a.bt(word_ptr(S), ax)?;
    a.check_flags(CF, 0, "bt16 mem bit 18")?;
    // BTS word [S], BX=-1: word at S-2, bit 15 -> word [S-2] = 8000, CF=0.
    a.mov(bx, 0xFFFFu32)?;
    set_flags(a, CF)?;
    a.bts(word_ptr(S), bx)?;
    a.check_flags(CF, 0, "bts16 mem bit -1 CF")?;
    a.check_mem16(
        word_ptr(S - 2),
        0x8000,
        "bts16 mem bit -1 sets bit 15 of the previous word",
    )?;
    a.check_mem32(
        dword_ptr(S),
        0x0008_0000,
        "bts16 mem bit -1 must not touch the operand",
    )?;
    // BTR dword [S], EAX=40: dword at S + 4*(40>>5) = S+4, bit 8 -> 0, CF=1.
    a.mov(eax, 40u32)?;
    set_flags(a, 0)?;
    a.btr(dword_ptr(S), eax)?;
    a.check_flags(CF, CF, "btr32 mem bit 40 CF")?;
    a.check_mem32(dword_ptr(S + 4), 0, "btr32 mem bit 40 result")?;
    // BTC dword [S], ECX=-1: dword at S-4 (= 80000000 after the BTS above),
    // bit 31 -> 00000000, CF=1.
    a.mov(ecx, 0xFFFF_FFFFu32)?;
    set_flags(a, 0)?;
    a.btc(dword_ptr(S), ecx)?;
    a.check_flags(CF, CF, "btc32 mem bit -1 CF")?;
    a.check_mem32(dword_ptr(S - 4), 0, "btc32 mem bit -1 result")?;
    // An immediate offset is taken modulo the operand size: BTS word [S], 17
    // sets bit 1 of word [S] (not bit 1 of word [S+2]).
    set_flags(a, CF)?;
    a.bts(word_ptr(S), 17u32)?;
    a.check_flags(CF, 0, "bts16 mem imm 17 CF")?;
    a.check_mem32(dword_ptr(S), 0x0008_0002, "bts16 mem imm 17 result")?;

    // ---- BSF/BSR ---- (ZF=1 and the destination undefined for a zero source)
    a.mov(bx, 0x0100u32)?;
    set_flags(a, ZF)?;
    a.bsf(ax, bx)?;
    a.check_flags(ZF, 0, "bsf16 0100 ZF")?;
    a.check16(ax, 8, "bsf16 0100")?;
    a.mov(ebx, 0x0001_0001u32)?;
    a.bsr(eax, ebx)?;
    a.check32(eax, 16, "bsr32 00010001")?;
    a.mov(ebx, 0x8000_0000u32)?;
    a.bsf(ecx, ebx)?;
    a.check32(ecx, 31, "bsf32 80000000")?;
    a.mov(ebx, 1u32)?;
    a.bsr(ecx, ebx)?;
    a.check32(ecx, 0, "bsr32 1")?;
    a.mov(word_ptr(SCRATCH), 0x6000u32)?;
    a.bsr(dx, word_ptr(SCRATCH))?;
    a.check16(dx, 14, "bsr16 mem 6000")?;
    a.xor(bx, bx)?;
    set_flags(a, 0)?;
    a.bsf(ax, bx)?;
    a.check_flags(ZF, ZF, "bsf16 0 sets ZF")?;
    a.xor(ebx, ebx)?;
    set_flags(a, 0)?;
    a.bsr(eax, ebx)?;
    a.check_flags(ZF, ZF, "bsr32 0 sets ZF")?;

    // ---- BSWAP ----
    a.mov(eax, 0x1234_5678u32)?;
    a.bswap(eax)?;
    a.check32(eax, 0x7856_3412, "bswap eax")?;
    a.mov(esi, 0x8001_02FFu32)?;
    a.bswap(esi)?;
    a.check32(esi, 0xFF02_0180, "bswap esi")?;
    Ok(())
}

fn conditionals(a: &mut Asm) -> R {
    // CMP 1,2: 1-2 = FF -> CF=1 SF=1 ZF=0 OF=0 PF=1.
    a.mov(al, 1u32)?;
    a.mov(bl, 2u32)?;
    a.cmp(al, bl)?;
    let cases1: [SetCase; 16] = [
        ("setb after cmp 1,2", |a| a.setb(dl), 1),
        ("setae after cmp 1,2", |a| a.setae(dl), 0),
        ("sete after cmp 1,2", |a| a.sete(dl), 0),
        ("setne after cmp 1,2", |a| a.setne(dl), 1),
        ("setbe after cmp 1,2", |a| a.setbe(dl), 1),
        ("seta after cmp 1,2", |a| a.seta(dl), 0),
        ("sets after cmp 1,2", |a| a.sets(dl), 1),
        ("setns after cmp 1,2", |a| a.setns(dl), 0),
        ("seto after cmp 1,2", |a| a.seto(dl), 0),
        ("setno after cmp 1,2", |a| a.setno(dl), 1),
        ("setp after cmp 1,2", |a| a.setp(dl), 1),
        ("setnp after cmp 1,2", |a| a.setnp(dl), 0),
        ("setl after cmp 1,2", |a| a.setl(dl), 1),
        ("setge after cmp 1,2", |a| a.setge(dl), 0),
        ("setle after cmp 1,2", |a| a.setle(dl), 1),
        ("setg after cmp 1,2", |a| a.setg(dl), 0),
    ];
    for (what, op, v) in cases1 {
        a.mov(dl, 0x55u32)?;
        op(a)?;
        a.check8(dl, v, what)?;
    }
    // CMP 80,01: 80-01 = 7F -> OF=1 SF=0 CF=0 ZF=0 PF=0: signed less
    // (-128 < 1) but unsigned above.
    a.mov(al, 0x80u32)?;
    a.mov(bl, 0x01u32)?;
    a.cmp(al, bl)?;
    let cases2: [SetCase; 8] = [
        ("setl after cmp 80,1", |a| a.setl(dh), 1),
        ("setge after cmp 80,1", |a| a.setge(dh), 0),
        ("setg after cmp 80,1", |a| a.setg(dh), 0),
        ("setle after cmp 80,1", |a| a.setle(dh), 1),
        ("seta after cmp 80,1", |a| a.seta(dh), 1),
        ("setb after cmp 80,1", |a| a.setb(dh), 0),
        ("seto after cmp 80,1", |a| a.seto(dh), 1),
        ("setp after cmp 80,1", |a| a.setp(dh), 0),
    ];
    for (what, op, v) in cases2 {
        a.mov(dh, 0x55u32)?;
        op(a)?;
        a.check8(dh, v, what)?;
    }
    // SETcc to memory, after CMP 5,5 (ZF=1).
    a.mov(byte_ptr(SCRATCH), 0x55u32)?;
    a.mov(al, 5u32)?;
    a.cmp(al, 5u32)?;
    a.sete(byte_ptr(SCRATCH))?;
    a.check_mem8(byte_ptr(SCRATCH), 1, "sete mem")?;
    a.setg(byte_ptr(SCRATCH + 1))?;
    a.check_mem8(byte_ptr(SCRATCH + 1), 0, "setg mem")?;

    // ---- CMOVcc ---- after CMP AX=1, BX=2 (below, less).
    a.mov(ax, 1u32)?;
    a.mov(bx, 2u32)?;
    a.mov(cx, 0x5555u32)?;
    a.mov(dx, 0x6666u32)?;
    a.cmp(ax, bx)?;
    a.cmovb(cx, bx)?; // taken
    a.cmova(dx, bx)?; // not taken
    a.check16(cx, 2, "cmovb taken")?;
    a.check16(dx, 0x6666, "cmova not taken")?;
    a.mov(dword_ptr(SCRATCH), 0xCAFE_F00Du32)?;
    a.mov(ecx, 0x1111_1111u32)?;
    a.mov(edx, 0x2222_2222u32)?;
    a.mov(eax, 0xFFFF_FFFFu32)?; // -1
    a.cmp(eax, 1u32)?; // -1 < 1 signed: SF != OF
    a.cmovl(ecx, dword_ptr(SCRATCH))?; // taken
    a.cmovge(edx, dword_ptr(SCRATCH))?; // not taken
    a.check32(ecx, 0xCAFE_F00D, "cmovl mem taken")?;
    a.check32(edx, 0x2222_2222, "cmovge mem not taken")?;
    a.cmovae(ecx, eax)?; // unsigned FFFFFFFF >= 1: taken
    a.check32(ecx, 0xFFFF_FFFF, "cmovae taken")?;
    Ok(())
}

fn exchange(a: &mut Asm) -> R {
    const M: u16 = ARITH;
    // ---- XADD ---- (dest = dest + src, src = old dest; flags as ADD)
    // AL=10, BL=20 -> AL=30, BL=10; 30 = 0011_0000 (PF).
    a.mov(al, 0x10u32)?;
    a.mov(bl, 0x20u32)?;
    set_flags(a, inv(PF, M))?;
    a.xadd(al, bl)?;
    a.check_flags(M, PF, "xadd8 flags")?;
    a.check8(al, 0x30, "xadd8 destination")?;
    a.check8(bl, 0x10, "xadd8 source")?;
    // [SCRATCH]=FFFFFFFF, ECX=1 -> [SCRATCH]=0, ECX=FFFFFFFF; CF ZF AF PF.
    a.mov(dword_ptr(SCRATCH), 0xFFFF_FFFFu32)?;
    a.mov(ecx, 1u32)?;
    set_flags(a, inv(CF | ZF | AF | PF, M))?;
    a.xadd(dword_ptr(SCRATCH), ecx)?;
    a.check_flags(M, CF | ZF | AF | PF, "xadd32 mem flags")?;
    a.check_mem32(dword_ptr(SCRATCH), 0, "xadd32 mem destination")?;
    a.check32(ecx, 0xFFFF_FFFF, "xadd32 mem source")?;
    // Same register twice: XADD AX,AX -> AX = 2*AX (old value lost).
    a.mov(ax, 0x1234u32)?;
    a.xadd(ax, ax)?;
    a.check16(ax, 0x2468, "xadd16 ax,ax")?;

    // ---- CMPXCHG ---- compare accumulator with dest; equal: ZF=1, dest =
    // src; not equal: ZF=0, accumulator = dest. Flags as CMP acc,dest.
    a.mov(al, 0x10u32)?;
    a.mov(bl, 0x10u32)?;
    a.mov(cl, 0x99u32)?;
    set_flags(a, 0)?;
    a.cmpxchg(bl, cl)?;
    a.check_flags(M, ZF | PF, "cmpxchg8 equal flags")?;
    a.check8(bl, 0x99, "cmpxchg8 equal: destination")?;
    a.check8(al, 0x10, "cmpxchg8 equal: accumulator")?;
    a.mov(al, 0x11u32)?;
    a.mov(bl, 0x10u32)?;
    set_flags(a, ZF)?;
    a.cmpxchg(bl, cl)?;
    // 11-10 = 01: no flags (01 has odd parity).
    a.check_flags(M, 0, "cmpxchg8 not equal flags")?;
    a.check8(al, 0x10, "cmpxchg8 not equal: accumulator")?;
    a.check8(bl, 0x10, "cmpxchg8 not equal: destination")?;
    // 16-bit memory, not equal: AX=0001, [mem]=0002 -> 1-2 = FFFF: CF SF AF PF.
    a.mov(word_ptr(SCRATCH), 2u32)?;
    a.mov(ax, 1u32)?;
    a.mov(dx, 0x7777u32)?;
    set_flags(a, ZF)?;
    a.cmpxchg(word_ptr(SCRATCH), dx)?;
    a.check_flags(M, CF | SF | AF | PF, "cmpxchg16 mem not equal flags")?;
    a.check16(ax, 2, "cmpxchg16 mem not equal: accumulator")?;
    a.check_mem16(word_ptr(SCRATCH), 2, "cmpxchg16 mem not equal: destination")?;
    // 32-bit memory, equal.
    a.mov(dword_ptr(SCRATCH), 0xDEAD_BEEFu32)?;
    a.mov(eax, 0xDEAD_BEEFu32)?;
    a.mov(edx, 0x0BAD_F00Du32)?;
    a.cmpxchg(dword_ptr(SCRATCH), edx)?;
    a.check_flags(ZF, ZF, "cmpxchg32 mem equal ZF")?;
    a.check_mem32(
        dword_ptr(SCRATCH),
        0x0BAD_F00D,
        "cmpxchg32 mem equal: destination",
    )?;

    // ---- CMPXCHG8B ----
    a.mov(dword_ptr(SCRATCH), 0x2222_2222u32)?;
    a.mov(dword_ptr(SCRATCH + 4), 0x1111_1111u32)?;
    a.mov(edx, 0x1111_1111u32)?;
    a.mov(eax, 0x2222_2222u32)?;
    a.mov(ecx, 0x3333_3333u32)?;
    a.mov(ebx, 0x4444_4444u32)?;
    set_flags(a, 0)?;
    a.cmpxchg8b(qword_ptr(SCRATCH))?;
    a.check_flags(ZF, ZF, "cmpxchg8b equal ZF")?;
    a.check_mem32(
        dword_ptr(SCRATCH),
        0x4444_4444,
        "cmpxchg8b equal: low dword",
    )?;
    a.check_mem32(
        dword_ptr(SCRATCH + 4),
        0x3333_3333,
        "cmpxchg8b equal: high dword",
    )?;
    // Again with the old value in EDX:EAX: not equal, EDX:EAX = memory.
    a.cmpxchg8b(qword_ptr(SCRATCH))?;
    a.check_flags(ZF, 0, "cmpxchg8b not equal ZF")?;
    a.check32(eax, 0x4444_4444, "cmpxchg8b not equal: EAX")?;
    a.check32(edx, 0x3333_3333, "cmpxchg8b not equal: EDX")?;
    a.check_mem32(
        dword_ptr(SCRATCH),
        0x4444_4444,
        "cmpxchg8b not equal: memory",
    )?;

    // ---- XCHG ----
    a.mov(eax, 0x1111_2222u32)?;
    a.mov(word_ptr(SCRATCH), 0x3333u32)?;
    a.xchg(word_ptr(SCRATCH), ax)?;
    a.check32(eax, 0x1111_3333, "xchg16 mem: register")?;
    a.check_mem16(word_ptr(SCRATCH), 0x2222, "xchg16 mem: memory")?;
    Ok(())
}

fn conversions(a: &mut Asm) -> R {
    // ---- MOVZX/MOVSX ----
    a.mov(ebx, 0xFFFF_8080u32)?; // BX=8080, BL=80
    a.mov(eax, 0xFFFF_FFFFu32)?;
    a.movzx(ax, bl)?;
    a.check32(eax, 0xFFFF_0080, "movzx ax,bl (upper EAX kept)")?;
    a.movsx(ax, bl)?;
    a.check32(eax, 0xFFFF_FF80, "movsx ax,bl")?;
    a.movzx(eax, bx)?;
    a.check32(eax, 0x0000_8080, "movzx eax,bx")?;
    a.movsx(eax, bx)?;
    a.check32(eax, 0xFFFF_8080, "movsx eax,bx")?;
    a.mov(bl, 0x7Fu32)?;
    a.movsx(ecx, bl)?;
    a.check32(ecx, 0x0000_007F, "movsx ecx,bl positive")?;
    a.mov(byte_ptr(SCRATCH), 0xFEu32)?;
    a.movsx(edx, byte_ptr(SCRATCH))?;
    a.check32(edx, 0xFFFF_FFFE, "movsx edx,byte mem")?;
    a.movzx(edx, byte_ptr(SCRATCH))?;
    a.check32(edx, 0x0000_00FE, "movzx edx,byte mem")?;

    // ---- CBW/CWDE/CWD/CDQ ----
    a.mov(eax, 0x1234_5680u32)?;
    a.cbw()?; // AL=80 -> AX=FF80, upper EAX untouched
    a.check32(eax, 0x1234_FF80, "cbw")?;
    a.mov(eax, 0x0000_007Fu32)?;
    a.cbw()?;
    a.check32(eax, 0x0000_007F, "cbw positive")?;
    a.mov(eax, 0x1234_8000u32)?;
    a.cwde()?;
    a.check32(eax, 0xFFFF_8000, "cwde")?;
    a.mov(ax, 0x7FFFu32)?;
    a.mov(dx, 0x5555u32)?;
    a.cwd()?;
    a.check16(dx, 0x0000, "cwd positive")?;
    a.mov(ax, 0x8000u32)?;
    a.cwd()?;
    a.check16(dx, 0xFFFF, "cwd negative")?;
    a.mov(eax, 0x8000_0000u32)?;
    a.cdq()?;
    a.check32(edx, 0xFFFF_FFFF, "cdq negative")?;
    a.mov(eax, 0x1234_5678u32)?;
    a.cdq()?;
    a.check32(edx, 0, "cdq positive")?;

    // ---- LAHF/SAHF ----  AH = SF:ZF:0:AF:0:PF:1:CF
    set_flags(a, SF | ZF | AF | PF | CF)?;
    a.mov(ah, 0u32)?;
    a.lahf()?;
    a.check8(ah, 0xD7, "lahf all set")?;
    set_flags(a, 0)?;
    a.mov(ah, 0xFFu32)?;
    a.lahf()?;
    a.check8(ah, 0x02, "lahf all clear")?;
    // SAHF loads SF ZF AF PF CF from AH and leaves OF alone.
    set_flags(a, OF | SF | ZF | AF | PF | CF)?;
    a.mov(ah, 0x41u32)?; // ZF | CF
    a.sahf()?;
    a.check_flags(ARITH, OF | ZF | CF, "sahf 41")?;
    set_flags(a, 0)?;
    a.mov(ah, 0xD5u32)?;
    a.sahf()?;
    a.check_flags(ARITH, SF | ZF | AF | PF | CF, "sahf D5")?;

    // ---- XLAT ---- table in the ROM: table[i] = 3*i + 7.
    let mut over = a.create_label();
    a.jmp(over)?;
    let table: Vec<u8> = (0..32u8).map(|i| 3 * i + 7).collect();
    let t = a.data(&table)?;
    a.set_label(&mut over)?;
    let toff = a.addr(&t);
    a.push(ds)?;
    a.push(ROM_SEG as u32)?;
    a.pop(ds)?;
    a.mov(bx, toff as u32)?;
    a.mov(eax, 0xAABB_CC05u32)?;
    a.xlatb()?;
    a.pop(ds)?;
    // table[5] = 22 = 0x16; only AL changes.
    a.check32(eax, 0xAABB_CC16, "xlat table[5]")?;
    // XLAT with a segment override: the table copied to RAM at 0x2000 and
    // reached through ES (DS stays 0).
    for (i, v) in table.iter().enumerate() {
        if i % 4 == 0 {
            let d = u32::from_le_bytes([table[i], table[i + 1], table[i + 2], table[i + 3]]);
            a.mov(dword_ptr(0x2000 + i as u32), d)?;
        }
        let _ = v;
    }
    a.push(es)?;
    a.push(0x0200u32)?;
    a.pop(es)?;
    a.xor(bx, bx)?;
    a.mov(al, 31u32)?;
    let mem = MemoryOperand {
        segment_prefix: Register::ES,
        ..MemoryOperand::with_base_index(Register::BX, Register::AL)
    };
    a.add_instruction(Instruction::with1(Code::Xlat_m8, mem)?)?;
    a.pop(es)?;
    // table[31] = 100 = 0x64.
    a.check8(al, 100, "xlat es: table[31]")?;
    Ok(())
}
