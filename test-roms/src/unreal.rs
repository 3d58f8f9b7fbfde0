//! `unreal`: unreal mode (4 GiB data segments in real mode) and the A20
//! gate.
//!
//! 1. In plain real mode a 32-bit offset above 64 KiB (DS:00200000) raises
//!    #GP (vector 13): the limit is 64 KiB.
//! 2. The 8042's A20 output is turned off (command D1, output port DD) so
//!    that port 0x92 alone gates A20 (a PC ORs the two), then A20 is
//!    enabled through port 0x92 (bit 1; bit 0, fast reset, is never set),
//!    and the bit reads back.
//! 3. A GDT is built in RAM at 0x800 with a flat 4 GiB data descriptor
//!    (selector 08: base 0, limit FFFFF pages, access 93); the ROM loads it
//!    with LGDT, sets CR0.PE, loads DS/ES/FS/GS with selector 08, clears
//!    CR0.PE again (CS is never reloaded: the classic "unreal" sequence) and
//!    reloads the segment registers with real-mode values.
//! 4. Unreal mode: 32-bit offsets above 64 KiB work through DS, ES, FS and
//!    GS (2 MiB, 3 MiB, scaled index, `a32 rep movsd`), DS:00010000 is seen
//!    through the real-mode alias 1000:0000, DS:FFFFFFF0 reads the ROM's
//!    reset vector at the top of the 4 GiB space, and after real-mode
//!    segment loads (`mov ds, ax` with 0 and with 2000) the limit is still
//!    4 GiB while the base follows the new value; 16-bit addressing still
//!    wraps at 64 KiB ([bx+si] with BX=FFFF, SI=2 is offset 0001).
//! 5. A20: with port 0x92 bit 1 clear, FFFF:0010 reads the same as 0:0000
//!    (the IVT), a write to FFFF:0510 lands at 0:0500, and linear
//!    0x300000 reads physical 0x200000 (bit 20 is masked for every access,
//!    unreal ones included); with it set again the memory above 1 MiB is
//!    separate again and still holds what was written there.

use crate::builder::*;
use crate::faults::{self, expect, expect_none, Kind};
use iced_x86::code_asm::*;
use iced_x86::{Instruction, Register, RepPrefixKind};

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("unreal", body)
}

const GDT: u32 = 0x800;
const GDTR: u32 = 0x820;
const FLAT_SEL: u32 = 0x08;

/// Sets (on) or clears (off) the A20 bit of port 0x92, never touching bit 0
/// (fast reset). Clobbers AL.
fn a20(a: &mut Asm, on: bool) -> R {
    a.in_(al, 0x92)?;
    if on {
        a.or(al, 0x02u32)?;
    } else {
        a.and(al, 0xFDu32)?;
    }
    a.and(al, 0xFEu32)?;
    a.out(0x92u32, al)?;
    // Read back.
    a.in_(al, 0x92)?;
    a.and(al, 0x02u32)?;
    a.check8(
        al,
        if on { 2 } else { 0 },
        if on {
            "port 92 bit 1 reads back 1"
        } else {
            "port 92 bit 1 reads back 0"
        },
    )
}

/// Waits until the 8042's input buffer is empty (port 64 bit 1 clear), at
/// most 65536 polls. Clobbers AL and CX.
fn kbc_wait(a: &mut Asm) -> R {
    let mut done = a.create_label();
    a.xor(cx, cx)?;
    let lp = a.here()?;
    a.in_(al, 0x64)?;
    a.test(al, 0x02u32)?;
    a.jz(done)?;
    a.loop_(lp)?;
    a.fail("8042 input buffer (port 64 bit 1) never empties")?;
    a.set_label(&mut done)
}

/// Sets the 8042's A20 output (output port bit 1) through command D1:
/// DF = A20 on, DD = A20 off (bit 0 = 1: no reset). Clobbers AL and CX.
fn kbc_a20(a: &mut Asm, on: bool) -> R {
    kbc_wait(a)?;
    a.mov(al, 0xD1u32)?;
    a.out(0x64u32, al)?;
    kbc_wait(a)?;
    a.mov(al, if on { 0xDFu32 } else { 0xDDu32 })?;
    a.out(0x60u32, al)?;
    kbc_wait(a)
}

fn body(a: &mut Asm) -> R {
    faults::install(a, &[13])?;

    a.post(0x60)?;
    // 1. The real-mode limit: DS:00200000 faults.
    a.mov(ebx, 0x0020_0000u32)?;
    expect(
        a,
        "#GP before unreal mode: dword at DS:00200000",
        13,
        Kind::Fault,
        |a| a.mov(eax, dword_ptr(ebx)),
    )?;

    // 2. A20 on. On a PC the A20 gate is the OR of the 8042's output and
    // port 92 bit 1, so the 8042's is turned off first (it powers up on):
    // from then on port 92 alone decides.
    kbc_a20(a, false)?;
    a20(a, true)?;

    a.post(0x61)?;
    // 3. GDT: null descriptor, then the flat data descriptor 00CF9300_0000FFFF.
    a.mov(dword_ptr(GDT), 0u32)?;
    a.mov(dword_ptr(GDT + 4), 0u32)?;
    a.mov(dword_ptr(GDT + 8), 0x0000_FFFFu32)?;
    a.mov(dword_ptr(GDT + 12), 0x00CF_9300u32)?;
    // GDTR: limit 000F, base 00000800.
    a.mov(word_ptr(GDTR), 0x000Fu32)?;
    a.mov(dword_ptr(GDTR + 2), GDT)?;
    a.lgdt(ptr(GDTR))?;
    a.cli()?;
    a.mov(eax, cr0)?;
    a.or(al, 1u32)?;
    a.mov(cr0, eax)?;
    let mut pm = a.create_label();
    a.jmp(pm)?;
    a.set_label(&mut pm)?;
    a.mov(bx, FLAT_SEL)?;
    a.mov(ds, bx)?;
    a.mov(es, bx)?;
    a.mov(fs, bx)?;
    a.mov(gs, bx)?;
    a.and(al, 0xFEu32)?;
    a.mov(cr0, eax)?;
    let mut rm = a.create_label();
    a.jmp(rm)?;
    a.set_label(&mut rm)?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(eax, cr0)?;
    a.and(eax, 1u32)?;
    a.check32(eax, 0, "CR0.PE clear again")?;

    a.post(0x62)?;
    // 4. Unreal mode.
    a.mov(ebx, 0x0020_0000u32)?;
    expect_none(a, "unreal: dword write at DS:00200000", |a| {
        a.mov(dword_ptr(ebx), 0xCAFE_BABEu32)
    })?;
    a.check_mem32(dword_ptr(ebx), 0xCAFE_BABE, "unreal: dword at DS:00200000")?;
    // 3 MiB through GS, read back through FS and through DS with a scaled
    // index: ESI = 00200000 + 4 * 00040000.
    a.mov(edi, 0x0030_0000u32)?;
    a.mov(dword_ptr(edi).gs(), 0x0BAD_F00Du32)?;
    a.check_mem32(
        dword_ptr(edi).fs(),
        0x0BAD_F00D,
        "unreal: GS write / FS read at 00300000",
    )?;
    a.mov(esi, 0x0020_0000u32)?;
    a.mov(ecx, 0x0004_0000u32)?;
    a.mov(eax, dword_ptr(esi + ecx * 4))?;
    a.check32(eax, 0x0BAD_F00D, "unreal: [esi+ecx*4] = 00300000")?;
    // A dword across the 4 MiB line, with a 32-bit displacement.
    a.mov(ebx, 0x003F_0000u32)?;
    a.mov(dword_ptr(ebx + 0xFFFE), 0x1357_9BDFu32)?; // 003FFFFE
    a.mov(ebx, 0x0040_0000u32)?;
    a.check_mem16(
        word_ptr(ebx),
        0x1357,
        "unreal: upper half of the dword at 003FFFFE",
    )?;
    // DS:00010000 is 1000:0000 in real-mode terms.
    a.mov(ebx, 0x0001_0000u32)?;
    a.mov(dword_ptr(ebx), 0x1234_5678u32)?;
    a.push(es)?;
    a.mov(ax, 0x1000u32)?;
    a.mov(es, ax)?;
    a.check_mem32(
        dword_ptr(0u32).es(),
        0x1234_5678,
        "unreal: DS:00010000 seen at 1000:0000",
    )?;
    a.mov(dword_ptr(4u32).es(), 0x8765_4321u32)?;
    a.pop(es)?;
    a.check_mem32(
        dword_ptr(ebx + 4),
        0x8765_4321,
        "unreal: 1000:0004 seen at DS:00010004",
    )?;
    // A32 REP MOVSD: 4 dwords from DS:00200000 to ES:00300100.
    a.mov(esi, 0x0020_0000u32)?;
    a.mov(edi, 0x0030_0100u32)?;
    a.mov(ecx, 4u32)?;
    a.add_instruction(Instruction::with_movsd(
        32,
        Register::None,
        RepPrefixKind::Repe,
    )?)?; // a32 rep movsd
    a.check32(esi, 0x0020_0010, "unreal: a32 rep movsd ESI")?;
    a.check32(edi, 0x0030_0110, "unreal: a32 rep movsd EDI")?;
    a.mov(ebx, 0x0030_0100u32)?;
    a.check_mem32(
        dword_ptr(ebx),
        0xCAFE_BABE,
        "unreal: a32 rep movsd copied dword 0",
    )?;
    // The ROM at the top of the 4 GiB space: DS:FFFFFFF0 is the reset
    // vector (EA 00 00 00 F0), the same bytes as F000:FFF0.
    a.mov(esi, 0xFFFF_FFF0u32)?;
    a.mov(eax, dword_ptr(esi))?;
    a.check32(
        eax,
        0x0000_00EA,
        "unreal: DS:FFFFFFF0 (ROM reset vector, jmp far F000:0000)",
    )?;
    a.mov(eax, dword_ptr(0xFFF0u32).cs())?;
    a.check32(eax, 0x0000_00EA, "F000:FFF0 (ROM reset vector)")?;

    // A real-mode segment load changes the base and keeps the 4 GiB limit.
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(ebx, 0x0020_0000u32)?;
    expect_none(a, "real-mode mov ds,0 keeps the 4 GiB limit", |a| {
        a.mov(eax, dword_ptr(ebx))
    })?;
    a.check32(eax, 0xCAFE_BABE, "after mov ds,0: DS:00200000")?;
    a.mov(ax, 0x2000u32)?;
    a.mov(ds, ax)?;
    a.mov(ebx, 0x001E_0000u32)?; // 0x20000 + 0x1E0000 = 0x200000
    expect_none(a, "real-mode mov ds,2000 keeps the 4 GiB limit", |a| {
        a.mov(eax, dword_ptr(ebx))
    })?;
    a.check32(
        eax,
        0xCAFE_BABE,
        "after mov ds,2000: DS:001E0000 (base 20000)",
    )?;
    // 16-bit addressing still wraps: with DS = 2000, [bx+si] with BX=FFFF,
    // SI=2 is DS:0001 = linear 20001, not DS:00010001 = linear 30001.
    a.mov(ebx, 0x0000_0001u32)?;
    a.mov(byte_ptr(ebx), 0x11u32)?; // 2000:0001 = 20001
    a.mov(ebx, 0x0001_0001u32)?;
    a.mov(byte_ptr(ebx), 0x22u32)?; // 2000:00010001 = 30001
    a.mov(ebx, 0xFFFF_FFFFu32)?; // BX = FFFF (upper half must not matter)
    a.mov(esi, 0x0000_0002u32)?;
    a.mov(al, byte_ptr(bx + si))?;
    a.check8(al, 0x11, "unreal: 16-bit [bx+si] wraps at 64 KiB")?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;

    a.post(0x63)?;
    // 5. A20. EDX = dword at 0:0000 (IVT vector 0) as the reference.
    a.mov(edx, dword_ptr(0u32))?;
    a.mov(ax, 0xFFFFu32)?;
    a.mov(es, ax)?;
    // A20 on: FFFF:0010 is linear 100000, separate from 0:0000.
    a.mov(dword_ptr(0x10u32).es(), 0x1122_3344u32)?;
    a.check_mem32(
        dword_ptr(0x10u32).es(),
        0x1122_3344,
        "A20 on: FFFF:0010 holds what was written",
    )?;
    a.cmp(dword_ptr(0u32), edx)?;
    let mut ok = a.create_label();
    a.je(ok)?;
    a.mov(eax, dword_ptr(0u32))?;
    a.fail_eax_edx("A20 on: writing FFFF:0010 changed 0:0000", 8)?;
    a.set_label(&mut ok)?;
    a.mov(byte_ptr(0x500u32), 0x55u32)?;

    // A20 off.
    a20(a, false)?;
    a.mov(eax, dword_ptr(0x10u32).es())?;
    a.cmp(eax, edx)?;
    let mut ok = a.create_label();
    a.je(ok)?;
    a.fail_eax_edx("A20 off: FFFF:0010 must read the same as 0:0000", 8)?;
    a.set_label(&mut ok)?;
    a.mov(byte_ptr(0x510u32).es(), 0xAAu32)?;
    a.check_mem8(
        byte_ptr(0x500u32),
        0xAA,
        "A20 off: a write to FFFF:0510 lands at 0:0500",
    )?;
    a.mov(ebx, 0x0030_0000u32)?;
    a.check_mem32(
        dword_ptr(ebx),
        0xCAFE_BABE,
        "A20 off: linear 00300000 reads physical 00200000",
    )?;
    a.mov(ebx, 0x0010_0000u32)?;
    a.mov(eax, dword_ptr(ebx))?;
    a.cmp(eax, edx)?;
    let mut ok = a.create_label();
    a.je(ok)?;
    a.fail_eax_edx("A20 off: linear 00100000 must read the same as 0:0000", 8)?;
    a.set_label(&mut ok)?;

    // A20 on again.
    a20(a, true)?;
    a.check_mem32(
        dword_ptr(0x10u32).es(),
        0x1122_3344,
        "A20 on again: FFFF:0010 kept its value",
    )?;
    a.mov(byte_ptr(0x510u32).es(), 0xBBu32)?;
    a.check_mem8(byte_ptr(0x510u32).es(), 0xBB, "A20 on again: FFFF:0510")?;
    a.check_mem8(
        byte_ptr(0x500u32),
        0xAA,
        "A20 on again: 0:0500 not changed by FFFF:0510",
    )?;
    a.mov(ebx, 0x0030_0000u32)?;
    a.check_mem32(
        dword_ptr(ebx),
        0x0BAD_F00D,
        "A20 on again: 00300000 is separate from 00200000",
    )?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    // Leave the 8042's A20 output on again, as it was at power-on.
    kbc_a20(a, true)
}
