//! `strings`: MOVS/STOS/LODS/CMPS/SCAS.
//!
//! Byte, word and dword forms with REP/REPE/REPNE, DF=0 and DF=1, segment
//! overrides on the source (FS, GS, CS), 32-bit address size (67 prefix:
//! ESI/EDI/ECX, including a 64 KiB `a32 rep stosb` that only works if ECX is
//! the count), 16-bit address size leaving the upper halves of
//! ESI/EDI/ECX alone, a count of 0 (nothing happens, flags unchanged) and
//! REPE/REPNE stopping at the first (mis)match with SI/DI/CX and flags as
//! a real CPU leaves them.
//!
//! RAM layout (DS = ES = 0): 0x2000..0x20FF holds bytes 00..FF (the
//! source), 0x3000..0x3FFF is cleared and used as destinations.

use crate::builder::flags::*;
use crate::builder::*;
use iced_x86::code_asm::*;
use iced_x86::{Instruction, Register, RepPrefixKind};

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("strings", body)
}

const SRC: u32 = 0x2000;

#[derive(Clone, Copy)]
enum Op {
    Movs,
    Stos,
    Lods,
    Cmps,
    Scas,
}

const NOREP: RepPrefixKind = RepPrefixKind::None;
const REP: RepPrefixKind = RepPrefixKind::Repe;
const REPE: RepPrefixKind = RepPrefixKind::Repe;
const REPNE: RepPrefixKind = RepPrefixKind::Repne;

/// Emits a string instruction: element `size` (1, 2, 4), address size
/// `asz` (16, 32), source segment override `seg` (Register::None for DS),
/// repeat prefix `rep`.
fn sop(a: &mut Asm, op: Op, size: u32, asz: u32, seg: Register, rep: RepPrefixKind) -> R {
    let ins = match (op, size) {
        (Op::Movs, 1) => Instruction::with_movsb(asz, seg, rep)?,
        (Op::Movs, 2) => Instruction::with_movsw(asz, seg, rep)?,
        (Op::Movs, 4) => Instruction::with_movsd(asz, seg, rep)?,
        (Op::Stos, 1) => Instruction::with_stosb(asz, rep)?,
        (Op::Stos, 2) => Instruction::with_stosw(asz, rep)?,
        (Op::Stos, 4) => Instruction::with_stosd(asz, rep)?,
        (Op::Lods, 1) => Instruction::with_lodsb(asz, seg, rep)?,
        (Op::Lods, 2) => Instruction::with_lodsw(asz, seg, rep)?,
        (Op::Lods, 4) => Instruction::with_lodsd(asz, seg, rep)?,
        (Op::Cmps, 1) => Instruction::with_cmpsb(asz, seg, rep)?,
        (Op::Cmps, 2) => Instruction::with_cmpsw(asz, seg, rep)?,
        (Op::Cmps, 4) => Instruction::with_cmpsd(asz, seg, rep)?,
        (Op::Scas, 1) => Instruction::with_scasb(asz, rep)?,
        (Op::Scas, 2) => Instruction::with_scasw(asz, rep)?,
        (Op::Scas, 4) => Instruction::with_scasd(asz, rep)?,
        _ => unreachable!(),
    };
    a.add_instruction(ins)
}

/// SI, DI, CX.
fn regs(a: &mut Asm, s: u16, d: u16, c: u16) -> R {
    a.mov(si, s as u32)?;
    a.mov(di, d as u32)?;
    a.mov(cx, c as u32)
}

/// Checks SI, DI, CX.
fn check_regs(a: &mut Asm, what: &str, s: u16, d: u16, c: u16) -> R {
    a.check16(si, s, &format!("{what}: SI"))?;
    a.check16(di, d, &format!("{what}: DI"))?;
    a.check16(cx, c, &format!("{what}: CX"))
}

fn body(a: &mut Asm) -> R {
    // Source bytes 00..FF at 0x2000, without string instructions.
    a.xor(bx, bx)?;
    let l = a.here()?;
    a.mov(byte_ptr(bx + SRC), bl)?;
    a.inc(bx)?;
    a.cmp(bx, 0x100u32)?;
    a.jne(l)?;
    // Clear 0x3000..0x3FFF.
    a.mov(bx, 0x3000u32)?;
    let l = a.here()?;
    a.mov(dword_ptr(bx), 0u32)?;
    a.add(bx, 4u32)?;
    a.cmp(bx, 0x4000u32)?;
    a.jne(l)?;

    a.post(0x30)?;
    movs(a)?;
    a.post(0x31)?;
    overrides_and_a32(a)?;
    a.post(0x32)?;
    stos_lods(a)?;
    a.post(0x33)?;
    cmps(a)?;
    a.post(0x34)?;
    scas(a)?;
    Ok(())
}

fn movs(a: &mut Asm) -> R {
    let n = Register::None;
    // REP MOVSB, DF=0, 16-bit addressing with junk in the upper halves of
    // ESI/EDI/ECX: only SI/DI/CX are used and updated.
    a.mov(esi, 0xABCD_2000u32)?;
    a.mov(edi, 0x1234_3000u32)?;
    a.mov(ecx, 0x5555_0010u32)?;
    sop(a, Op::Movs, 1, 16, n, REP)?;
    a.check32(esi, 0xABCD_2010, "rep movsb a16: ESI (upper half kept)")?;
    a.check32(edi, 0x1234_3010, "rep movsb a16: EDI (upper half kept)")?;
    a.check32(ecx, 0x5555_0000, "rep movsb a16: ECX (upper half kept)")?;
    a.check_mem32(dword_ptr(0x3000u32), 0x0302_0100, "rep movsb: dest[0..3]")?;
    a.check_mem32(dword_ptr(0x300Cu32), 0x0F0E_0D0C, "rep movsb: dest[12..15]")?;
    a.check_mem8(byte_ptr(0x3010u32), 0, "rep movsb: dest[16] untouched")?;
    // REP MOVSW, DF=0: 4 words.
    regs(a, 0x2000, 0x3100, 4)?;
    sop(a, Op::Movs, 2, 16, n, REP)?;
    check_regs(a, "rep movsw", 0x2008, 0x3108, 0)?;
    a.check_mem32(dword_ptr(0x3104u32), 0x0706_0504, "rep movsw: dest[4..7]")?;
    a.check_mem16(word_ptr(0x3108u32), 0, "rep movsw: dest[8..9] untouched")?;
    // REP MOVSD, DF=0: 2 dwords.
    regs(a, 0x2010, 0x3120, 2)?;
    sop(a, Op::Movs, 4, 16, n, REP)?;
    check_regs(a, "rep movsd", 0x2018, 0x3128, 0)?;
    a.check_mem32(dword_ptr(0x3124u32), 0x1716_1514, "rep movsd: dest[4..7]")?;
    a.check_mem32(dword_ptr(0x3128u32), 0, "rep movsd: dest[8..11] untouched")?;
    // Single MOVSB (no REP) moves one byte and ignores CX.
    regs(a, 0x2042, 0x3140, 7)?;
    sop(a, Op::Movs, 1, 16, n, NOREP)?;
    check_regs(a, "movsb", 0x2043, 0x3141, 7)?;
    a.check_mem16(word_ptr(0x3140u32), 0x0042, "movsb: one byte")?;

    // DF=1: backwards, from the last element.
    a.std()?;
    regs(a, 0x200F, 0x320F, 16)?;
    sop(a, Op::Movs, 1, 16, n, REP)?;
    check_regs(a, "std rep movsb", 0x1FFF, 0x31FF, 0)?;
    a.check_mem32(
        dword_ptr(0x3200u32),
        0x0302_0100,
        "std rep movsb: dest[0..3]",
    )?;
    a.check_mem32(
        dword_ptr(0x320Cu32),
        0x0F0E_0D0C,
        "std rep movsb: dest[12..15]",
    )?;
    a.check_mem8(byte_ptr(0x31FFu32), 0, "std rep movsb: dest[-1] untouched")?;
    // Words 201E, 201C, ..., 2010 -> 330E, ..., 3300.
    regs(a, 0x201E, 0x330E, 8)?;
    sop(a, Op::Movs, 2, 16, n, REP)?;
    check_regs(a, "std rep movsw", 0x200E, 0x32FE, 0)?;
    a.check_mem32(
        dword_ptr(0x3300u32),
        0x1312_1110,
        "std rep movsw: dest[0..3]",
    )?;
    a.check_mem32(
        dword_ptr(0x330Cu32),
        0x1F1E_1D1C,
        "std rep movsw: dest[12..15]",
    )?;
    a.check_mem16(word_ptr(0x32FEu32), 0, "std rep movsw: dest[-2] untouched")?;
    // Dwords 202C, ..., 2020 -> 340C, ..., 3400.
    regs(a, 0x202C, 0x340C, 4)?;
    sop(a, Op::Movs, 4, 16, n, REP)?;
    check_regs(a, "std rep movsd", 0x201C, 0x33FC, 0)?;
    a.check_mem32(
        dword_ptr(0x3400u32),
        0x2322_2120,
        "std rep movsd: dest[0..3]",
    )?;
    a.check_mem32(
        dword_ptr(0x340Cu32),
        0x2F2E_2D2C,
        "std rep movsd: dest[12..15]",
    )?;
    a.cld()?;

    // Count of 0: nothing moves, registers unchanged.
    regs(a, 0x2000, 0x3500, 0)?;
    sop(a, Op::Movs, 1, 16, n, REP)?;
    check_regs(a, "rep movsb cx=0", 0x2000, 0x3500, 0)?;
    a.check_mem8(byte_ptr(0x3500u32), 0, "rep movsb cx=0: no store")?;
    regs(a, 0x2000, 0x3500, 0)?;
    a.mov(eax, 0xFFFF_FFFFu32)?;
    sop(a, Op::Stos, 4, 16, n, REP)?;
    check_regs(a, "rep stosd cx=0", 0x2000, 0x3500, 0)?;
    a.check_mem32(dword_ptr(0x3500u32), 0, "rep stosd cx=0: no store")
}

fn overrides_and_a32(a: &mut Asm) -> R {
    let n = Register::None;
    // FS = 0x0200 (base 0x2000): FS:0030 is byte 0x30 of the source, while
    // DS:0030 would be inside the IVT.
    a.mov(ax, 0x0200u32)?;
    a.mov(fs, ax)?;
    regs(a, 0x0030, 0x3600, 4)?;
    sop(a, Op::Movs, 1, 16, Register::FS, REP)?;
    check_regs(a, "rep movsb fs:", 0x0034, 0x3604, 0)?;
    a.check_mem32(
        dword_ptr(0x3600u32),
        0x3332_3130,
        "rep movsb fs: source segment",
    )?;
    // GS-relative LODSW.
    a.mov(ax, 0x0201u32)?; // base 0x2010
    a.mov(gs, ax)?;
    a.mov(si, 0x0002u32)?; // GS:0002 = 0x2012
    sop(a, Op::Lods, 2, 16, Register::GS, NOREP)?;
    a.check16(ax, 0x1312, "lodsw gs:")?;
    a.check16(si, 0x0004, "lodsw gs: SI")?;
    // CS-relative LODSD from a table in the ROM.
    let mut over = a.create_label();
    a.jmp(over)?;
    let t = a.data(&[0xEF, 0xBE, 0xAD, 0xDE])?;
    a.set_label(&mut over)?;
    let toff = a.addr(&t);
    a.mov(si, toff as u32)?;
    sop(a, Op::Lods, 4, 16, Register::CS, NOREP)?;
    a.check32(eax, 0xDEAD_BEEF, "lodsd cs:")?;

    // 32-bit address size: ESI/EDI/ECX.
    a.mov(esi, 0x0000_2040u32)?;
    a.mov(edi, 0x0000_3700u32)?;
    a.mov(ecx, 5u32)?;
    sop(a, Op::Movs, 1, 32, n, REP)?;
    a.check32(esi, 0x2045, "a32 rep movsb: ESI")?;
    a.check32(edi, 0x3705, "a32 rep movsb: EDI")?;
    a.check32(ecx, 0, "a32 rep movsb: ECX")?;
    a.check_mem32(
        dword_ptr(0x3700u32),
        0x4342_4140,
        "a32 rep movsb: dest[0..3]",
    )?;
    a.check_mem16(word_ptr(0x3704u32), 0x0044, "a32 rep movsb: dest[4..5]")?;
    // ECX = 0x10000 (CX = 0): a32 REP STOSB fills all 64 KiB of ES=1000.
    // With a 16-bit count it would store nothing.
    a.push(es)?;
    a.mov(ax, 0x1000u32)?;
    a.mov(es, ax)?;
    a.xor(edi, edi)?;
    a.mov(ecx, 0x1_0000u32)?;
    a.mov(al, 0xA5u32)?;
    sop(a, Op::Stos, 1, 32, n, REP)?;
    a.check32(edi, 0x1_0000, "a32 rep stosb 64K: EDI")?;
    a.check32(ecx, 0, "a32 rep stosb 64K: ECX")?;
    a.check_mem8(byte_ptr(0u32).es(), 0xA5, "a32 rep stosb 64K: first byte")?;
    a.check_mem8(
        byte_ptr(0x8000u32).es(),
        0xA5,
        "a32 rep stosb 64K: middle byte",
    )?;
    a.check_mem8(
        byte_ptr(0xFFFFu32).es(),
        0xA5,
        "a32 rep stosb 64K: last byte",
    )?;
    a.pop(es)?;
    // a32 LODSD.
    a.mov(esi, 0x2000u32)?;
    sop(a, Op::Lods, 4, 32, n, NOREP)?;
    a.check32(eax, 0x0302_0100, "a32 lodsd")?;
    a.check32(esi, 0x2004, "a32 lodsd: ESI")?;
    // a32 REPNE SCASB: find 42 in 2000..20FF.
    a.mov(edi, 0x2000u32)?;
    a.mov(ecx, 0x100u32)?;
    a.mov(al, 0x42u32)?;
    sop(a, Op::Scas, 1, 32, n, REPNE)?;
    a.check_flags(ZF, ZF, "a32 repne scasb: ZF (found)")?;
    a.check32(edi, 0x2043, "a32 repne scasb: EDI")?;
    // 0x43 bytes compared: 0x100 - 0x43 = 0xBD.
    a.check32(ecx, 0xBD, "a32 repne scasb: ECX")
}

fn stos_lods(a: &mut Asm) -> R {
    let n = Register::None;
    a.mov(ax, 0xBEEFu32)?;
    regs(a, 0, 0x3800, 3)?;
    sop(a, Op::Stos, 2, 16, n, REP)?;
    a.check16(di, 0x3806, "rep stosw: DI")?;
    a.check16(cx, 0, "rep stosw: CX")?;
    a.check_mem16(word_ptr(0x3804u32), 0xBEEF, "rep stosw: 3rd word")?;
    a.check_mem16(word_ptr(0x3806u32), 0, "rep stosw: 4th word untouched")?;
    // DF=1 REP STOSD: 3908 then 3904.
    a.std()?;
    a.mov(eax, 0x1122_3344u32)?;
    regs(a, 0, 0x3908, 2)?;
    sop(a, Op::Stos, 4, 16, n, REP)?;
    a.cld()?;
    a.check16(di, 0x3900, "std rep stosd: DI")?;
    a.check_mem32(dword_ptr(0x3900u32), 0, "std rep stosd: [3900] untouched")?;
    a.check_mem32(dword_ptr(0x3904u32), 0x1122_3344, "std rep stosd: [3904]")?;
    a.check_mem32(dword_ptr(0x3908u32), 0x1122_3344, "std rep stosd: [3908]")?;
    a.check_mem32(dword_ptr(0x390Cu32), 0, "std rep stosd: [390C] untouched")?;
    // Single STOSB.
    a.mov(al, 0x5Au32)?;
    a.mov(di, 0x3910u32)?;
    sop(a, Op::Stos, 1, 16, n, NOREP)?;
    a.check16(di, 0x3911, "stosb: DI")?;
    a.check_mem16(word_ptr(0x3910u32), 0x005A, "stosb: one byte")?;

    // LODS.
    a.mov(eax, 0xFFFF_FFFFu32)?;
    a.mov(si, 0x2010u32)?;
    sop(a, Op::Lods, 1, 16, n, NOREP)?;
    a.check32(eax, 0xFFFF_FF10, "lodsb (only AL)")?;
    a.check16(si, 0x2011, "lodsb: SI")?;
    sop(a, Op::Lods, 2, 16, n, NOREP)?;
    a.check32(eax, 0xFFFF_1211, "lodsw (only AX)")?;
    a.check16(si, 0x2013, "lodsw: SI")?;
    sop(a, Op::Lods, 4, 16, n, NOREP)?;
    a.check32(eax, 0x1615_1413, "lodsd")?;
    a.check16(si, 0x2017, "lodsd: SI")?;
    a.std()?;
    a.mov(si, 0x2020u32)?;
    sop(a, Op::Lods, 2, 16, n, NOREP)?;
    a.cld()?;
    a.check16(ax, 0x2120, "std lodsw")?;
    a.check16(si, 0x201E, "std lodsw: SI")?;
    // REP LODSB: AL ends with the last byte.
    regs(a, 0x2050, 0, 3)?;
    sop(a, Op::Lods, 1, 16, n, REP)?;
    a.check8(al, 0x52, "rep lodsb: AL")?;
    a.check16(si, 0x2053, "rep lodsb: SI")?;
    a.check16(cx, 0, "rep lodsb: CX")
}

fn cmps(a: &mut Asm) -> R {
    let n = Register::None;
    // 3A00..3A0F = copy of 00..0F with [3A05] = FF.
    regs(a, 0x2000, 0x3A00, 16)?;
    sop(a, Op::Movs, 1, 16, n, REP)?;
    a.mov(byte_ptr(0x3A05u32), 0xFFu32)?;
    // REPE CMPSB stops after the mismatch at index 5: 6 compared.
    regs(a, 0x2000, 0x3A00, 16)?;
    a.push(0x0002u32 | ZF as u32)?;
    a.popf()?;
    sop(a, Op::Cmps, 1, 16, n, REPE)?;
    // Flags of 05 - FF = 06 with borrow: CF, AF (5 < F), PF (06 has 2 bits).
    a.check_flags(ARITH, CF | AF | PF, "repe cmpsb mismatch: flags")?;
    check_regs(a, "repe cmpsb mismatch", 0x2006, 0x3A06, 10)?;
    // All equal: runs out with ZF=1.
    regs(a, 0x2000, 0x3A00, 5)?;
    sop(a, Op::Cmps, 1, 16, n, REPE)?;
    a.check_flags(ZF, ZF, "repe cmpsb equal: ZF")?;
    check_regs(a, "repe cmpsb equal", 0x2005, 0x3A05, 0)?;
    // Count 0: nothing compared, flags unchanged.
    regs(a, 0x2000, 0x3A00, 0)?;
    a.push(0x0002u32 | (CF | OF) as u32)?;
    a.popf()?;
    sop(a, Op::Cmps, 1, 16, n, REPE)?;
    a.check_flags(ARITH, CF | OF, "repe cmpsb cx=0: flags unchanged")?;
    check_regs(a, "repe cmpsb cx=0", 0x2000, 0x3A00, 0)?;
    // REPNE CMPSB: 3B00..3B07 = 03; stops at the first equal pair (index 3).
    a.mov(al, 3u32)?;
    regs(a, 0, 0x3B00, 8)?;
    sop(a, Op::Stos, 1, 16, n, REP)?;
    regs(a, 0x2000, 0x3B00, 8)?;
    sop(a, Op::Cmps, 1, 16, n, REPNE)?;
    a.check_flags(ZF, ZF, "repne cmpsb: ZF")?;
    check_regs(a, "repne cmpsb", 0x2004, 0x3B04, 4)?;
    // DF=1 REPE CMPSW from the top: words at 0E, 0C, 0A, 08, 06 match, the
    // word at 04 is 0504 vs FF04: 6 compared. 0504 - FF04 = 0600 with
    // borrow: CF, PF (low byte 00), no AF (4-4), no OF (1284 + 252 fits).
    a.std()?;
    regs(a, 0x200E, 0x3A0E, 8)?;
    sop(a, Op::Cmps, 2, 16, n, REPE)?;
    a.cld()?;
    a.check_flags(ARITH, CF | PF, "std repe cmpsw: flags")?;
    check_regs(a, "std repe cmpsw", 0x2002, 0x3A02, 2)?;
    // CMPSD with FS on the source: FS:0000 = 0x2000 vs ES:3A00: equal.
    a.mov(ax, 0x0200u32)?;
    a.mov(fs, ax)?;
    regs(a, 0, 0x3A00, 0)?;
    sop(a, Op::Cmps, 4, 16, Register::FS, NOREP)?;
    a.check_flags(ZF, ZF, "cmpsd fs: ZF")?;
    check_regs(a, "cmpsd fs:", 4, 0x3A04, 0)?;
    // a32 REPE CMPSD.
    a.mov(esi, 0x2000u32)?;
    a.mov(edi, 0x3A00u32)?;
    a.mov(ecx, 4u32)?;
    sop(a, Op::Cmps, 4, 32, n, REPE)?;
    // dword 1 (04 05 06 07 vs 04 FF 06 07) differs: 2 compared.
    a.check_flags(ZF, 0, "a32 repe cmpsd: ZF")?;
    a.check32(esi, 0x2008, "a32 repe cmpsd: ESI")?;
    a.check32(edi, 0x3A08, "a32 repe cmpsd: EDI")?;
    a.check32(ecx, 2, "a32 repe cmpsd: ECX")
}

fn scas(a: &mut Asm) -> R {
    let n = Register::None;
    // REPNE SCASB finds 07 at 2007.
    a.mov(al, 7u32)?;
    regs(a, 0, 0x2000, 0x20)?;
    sop(a, Op::Scas, 1, 16, n, REPNE)?;
    a.check_flags(ZF, ZF, "repne scasb found: ZF")?;
    a.check16(di, 0x2008, "repne scasb found: DI")?;
    a.check16(cx, 0x18, "repne scasb found: CX")?;
    // Not found: runs out, ZF=0.
    a.mov(al, 0xEEu32)?;
    regs(a, 0, 0x2000, 0x10)?;
    sop(a, Op::Scas, 1, 16, n, REPNE)?;
    a.check_flags(ZF, 0, "repne scasb not found: ZF")?;
    a.check16(di, 0x2010, "repne scasb not found: DI")?;
    a.check16(cx, 0, "repne scasb not found: CX")?;
    // REPE SCASW over zeros with [3C06] = 1234: stops after the 4th word.
    a.mov(word_ptr(0x3C06u32), 0x1234u32)?;
    a.xor(ax, ax)?;
    regs(a, 0, 0x3C00, 10)?;
    sop(a, Op::Scas, 2, 16, n, REPE)?;
    // 0000 - 1234: borrow (CF), not zero.
    a.check_flags(ZF | CF, CF, "repe scasw: ZF/CF")?;
    a.check16(di, 0x3C08, "repe scasw: DI")?;
    a.check16(cx, 6, "repe scasw: CX")?;
    // DF=1 REPNE SCASD for 0B0A0908: dwords at 2010, 200C, 2008 (found).
    a.std()?;
    a.mov(eax, 0x0B0A_0908u32)?;
    regs(a, 0, 0x2010, 5)?;
    sop(a, Op::Scas, 4, 16, n, REPNE)?;
    a.cld()?;
    a.check_flags(ZF, ZF, "std repne scasd: ZF")?;
    a.check16(di, 0x2004, "std repne scasd: DI")?;
    a.check16(cx, 2, "std repne scasd: CX")
}
