//! `exceptions`: real-mode exceptions through the IVT.
//!
//! * #DE (0): DIV by zero, DIV/IDIV quotient overflow, AAM 0 — a fault: the
//!   pushed IP is the DIV itself and the registers are unchanged.
//! * #UD (6): UD2, LEA with a register operand, MOV CS, LOCK on a register
//!   destination — faults at the instruction.
//! * #BR (5): BOUND (16- and 32-bit, signed bounds, inclusive) — a fault.
//! * #BP (3): INT3 and INT 3 — traps: the pushed IP follows the instruction.
//! * #OF (4): INTO with OF set (trap) and clear (nothing).
//! * #DB (1): single-step with TF: a handler logs the pushed IPs; each is
//!   the instruction after the one that just ran; the handler stops the
//!   stepping by clearing TF in the pushed FLAGS.
//! * #GP (13): a word read/write at DS:FFFF, a dword at FFFE, ES:FFFF and a
//!   32-bit offset of 0x10000 exceed the 64 KiB real-mode limit; a byte at
//!   FFFF does not. Real mode pushes no error code.
//!
//! Handlers come from [`crate::faults`]; see there for the recording.

use crate::builder::*;
use crate::faults::{self, expect, expect_none, Kind};
use iced_x86::code_asm::*;

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("exceptions", body)
}

/// Single-step log: number of bytes logged, then the logged IPs.
const STEPS: u32 = 0x5C0;
const STEP_LOG: u32 = 0x5C2;
const STEP_HFLAGS: u32 = 0x5D0;

fn body(a: &mut Asm) -> R {
    faults::install(a, &[0, 3, 4, 5, 6, 13])?;
    a.post(0x20)?;
    divide_errors(a)?;
    a.post(0x21)?;
    invalid_opcodes(a)?;
    a.post(0x22)?;
    bound(a)?;
    a.post(0x23)?;
    breakpoints_and_overflow(a)?;
    a.post(0x24)?;
    single_step(a)?;
    a.post(0x25)?;
    general_protection(a)?;
    Ok(())
}

fn divide_errors(a: &mut Asm) -> R {
    // 16-bit DIV by zero.
    a.mov(ax, 0x1234u32)?;
    a.mov(dx, 0x5678u32)?;
    a.xor(bx, bx)?;
    expect(a, "#DE div bx=0", 0, Kind::Fault, |a| a.div(bx))?;
    a.check16(ax, 0x1234, "#DE div bx=0: AX unchanged")?;
    a.check16(dx, 0x5678, "#DE div bx=0: DX unchanged")?;
    // 8-bit quotient overflow: 1000 / 10 = 100 does not fit in AL.
    a.mov(ax, 0x1000u32)?;
    a.mov(bl, 0x10u32)?;
    expect(a, "#DE div8 1000/10 overflow", 0, Kind::Fault, |a| {
        a.div(bl)
    })?;
    a.check16(ax, 0x1000, "#DE div8 overflow: AX unchanged")?;
    // 32-bit IDIV overflow: -2^31 / -1 = +2^31 does not fit.
    a.mov(edx, 0xFFFF_FFFFu32)?;
    a.mov(eax, 0x8000_0000u32)?;
    a.mov(ecx, 0xFFFF_FFFFu32)?;
    expect(a, "#DE idiv32 -2^31/-1 overflow", 0, Kind::Fault, |a| {
        a.idiv(ecx)
    })?;
    a.check32(eax, 0x8000_0000, "#DE idiv32 overflow: EAX unchanged")?;
    a.check32(edx, 0xFFFF_FFFF, "#DE idiv32 overflow: EDX unchanged")?;
    // 8-bit IDIV overflow in the positive direction: 128 / 1.
    a.mov(ax, 0x0080u32)?;
    a.mov(bl, 1u32)?;
    expect(a, "#DE idiv8 128/1 overflow", 0, Kind::Fault, |a| {
        a.idiv(bl)
    })?;
    // DIV by a zero byte in memory.
    a.mov(byte_ptr(0x610u32), 0u32)?;
    a.mov(ax, 0x00FFu32)?;
    expect(a, "#DE div byte [mem]=0", 0, Kind::Fault, |a| {
        a.div(byte_ptr(0x610u32))
    })?;
    a.check16(ax, 0x00FF, "#DE div byte [mem]: AX unchanged")?;
    // AAM with a zero base.
    a.mov(ax, 0x0055u32)?;
    expect(a, "#DE aam 0", 0, Kind::Fault, |a| a.aam(0u32))?;
    a.check16(ax, 0x0055, "#DE aam 0: AX unchanged")?;
    // A division that works, after all those faults: 7/2 = 3 r 1.
    a.mov(ax, 7u32)?;
    a.mov(bl, 2u32)?;
    expect_none(a, "div8 7/2", |a| a.div(bl))?;
    a.check16(ax, 0x0103, "div8 7/2 result")
}

fn invalid_opcodes(a: &mut Asm) -> R {
    a.mov(ax, 0xA55Au32)?;
    expect(a, "#UD ud2", 6, Kind::Fault, |a| a.ud2())?;
    // 8D C0 = LEA AX, AX: LEA needs a memory operand.
    expect(a, "#UD lea ax,ax (8D C0)", 6, Kind::Fault, |a| {
        a.db(&[0x8D, 0xC0])
    })?;
    // 8E C8 = MOV CS, AX: CS cannot be loaded with MOV.
    expect(a, "#UD mov cs,ax (8E C8)", 6, Kind::Fault, |a| {
        a.db(&[0x8E, 0xC8])
    })?;
    // F0 01 C0 = LOCK ADD AX, AX: LOCK needs a memory destination.
    expect(a, "#UD lock add ax,ax (F0 01 C0)", 6, Kind::Fault, |a| {
        a.db(&[0xF0, 0x01, 0xC0])
    })?;
    a.check16(ax, 0xA55A, "#UD: AX unchanged")
}

fn bound(a: &mut Asm) -> R {
    // Bounds (signed, inclusive): word [600] = 10, word [602] = 20;
    // dword [604] = -256, dword [608] = 256.
    a.mov(word_ptr(0x600u32), 10u32)?;
    a.mov(word_ptr(0x602u32), 20u32)?;
    a.mov(dword_ptr(0x604u32), 0xFFFF_FF00u32)?;
    a.mov(dword_ptr(0x608u32), 0x100u32)?;
    a.mov(ax, 25u32)?;
    expect(a, "#BR bound 25 in [10,20]", 5, Kind::Fault, |a| {
        a.bound(ax, dword_ptr(0x600u32))
    })?;
    a.mov(ax, 20u32)?;
    expect_none(a, "bound 20 in [10,20]", |a| {
        a.bound(ax, dword_ptr(0x600u32))
    })?;
    a.mov(ax, 10u32)?;
    expect_none(a, "bound 10 in [10,20]", |a| {
        a.bound(ax, dword_ptr(0x600u32))
    })?;
    a.mov(ax, 9u32)?;
    expect(a, "#BR bound 9 in [10,20]", 5, Kind::Fault, |a| {
        a.bound(ax, dword_ptr(0x600u32))
    })?;
    // -1 is below 10 when compared signed (FFFF would be above unsigned).
    a.mov(ax, 0xFFFFu32)?;
    expect(a, "#BR bound -1 in [10,20] (signed)", 5, Kind::Fault, |a| {
        a.bound(ax, dword_ptr(0x600u32))
    })?;
    a.mov(eax, 0xFFFF_FFFFu32)?;
    expect_none(a, "bound32 -1 in [-256,256]", |a| {
        a.bound(eax, qword_ptr(0x604u32))
    })?;
    a.mov(eax, 0x101u32)?;
    expect(a, "#BR bound32 257 in [-256,256]", 5, Kind::Fault, |a| {
        a.bound(eax, qword_ptr(0x604u32))
    })?;
    a.check32(eax, 0x101, "#BR: EAX unchanged")
}

fn breakpoints_and_overflow(a: &mut Asm) -> R {
    expect(a, "#BP int3 (CC)", 3, Kind::Trap, |a| a.int3())?;
    expect(a, "#BP int 3 (CD 03)", 3, Kind::Trap, |a| a.int(3u32))?;
    // INTO with OF=1: trap to vector 4 after the INTO.
    a.push(0x0802u32)?; // OF
    a.popf()?;
    expect(a, "#OF into with OF=1", 4, Kind::Trap, |a| {
        CodeAssembler::into(a)
    })?;
    // The FLAGS image pushed by INTO has OF set (and IF clear).
    a.check_mem16(
        word_ptr(faults::FLAGS).ss(),
        0x0802,
        "#OF into: pushed FLAGS",
    )?;
    a.push(0x08D7u32 & !0x0800)?; // every status flag but OF
    a.popf()?;
    expect_none(a, "into with OF=0", |a| CodeAssembler::into(a))
}

fn general_protection(a: &mut Asm) -> R {
    // DS = ES = 0 with the 64 KiB limit of real mode.
    a.mov(ax, 0x5A5Au32)?;
    expect(a, "#GP word read at DS:FFFF", 13, Kind::Fault, |a| {
        a.mov(ax, word_ptr(0xFFFFu32))
    })?;
    a.check16(ax, 0x5A5A, "#GP word read: AX unchanged")?;
    a.mov(byte_ptr(0xFFFFu32), 0x77u32)?;
    expect(a, "#GP word write at DS:FFFF", 13, Kind::Fault, |a| {
        a.mov(word_ptr(0xFFFFu32), ax)
    })?;
    a.check_mem8(
        byte_ptr(0xFFFFu32),
        0x77,
        "#GP word write: memory unchanged",
    )?;
    expect_none(a, "byte read at DS:FFFF", |a| {
        a.mov(al, byte_ptr(0xFFFFu32))
    })?;
    a.check8(al, 0x77, "byte read at DS:FFFF")?;
    expect(a, "#GP dword read at DS:FFFE", 13, Kind::Fault, |a| {
        a.mov(eax, dword_ptr(0xFFFEu32))
    })?;
    expect(a, "#GP word read at ES:FFFF", 13, Kind::Fault, |a| {
        a.mov(ax, word_ptr(0xFFFFu32).es())
    })?;
    a.mov(ebx, 0x1_0000u32)?;
    expect(
        a,
        "#GP byte read at DS:00010000 (32-bit offset)",
        13,
        Kind::Fault,
        |a| a.mov(al, byte_ptr(ebx)),
    )?;
    // A word at FFFE is fine.
    expect_none(a, "word read at DS:FFFE", |a| {
        a.mov(ax, word_ptr(0xFFFEu32))
    })
}

fn single_step(a: &mut Asm) -> R {
    // #DB handler: log the pushed IP; after three steps clear TF in the
    // pushed FLAGS so that stepping stops.
    let mut over = a.create_label();
    a.jmp(over)?;
    let h1 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.push(ax)?;
    a.push(bx)?;
    // [bp+2] = IP, [bp+4] = CS, [bp+6] = FLAGS.
    a.mov(bx, word_ptr(STEPS).ss())?;
    a.mov(ax, word_ptr(bp + 2))?;
    a.mov(word_ptr(bx + STEP_LOG).ss(), ax)?;
    a.add(bx, 2u32)?;
    a.mov(word_ptr(STEPS).ss(), bx)?;
    a.pushf()?;
    a.pop(ax)?;
    a.mov(word_ptr(STEP_HFLAGS).ss(), ax)?;
    let mut more = a.create_label();
    a.cmp(bx, 6u32)?;
    a.jb(more)?;
    a.and(word_ptr(bp + 6), 0xFEFFu32)?;
    a.set_label(&mut more)?;
    a.pop(bx)?;
    a.pop(ax)?;
    a.pop(bp)?;
    a.iret()?;
    a.set_label(&mut over)?;
    a.set_vector(1, &h1)?;

    a.mov(word_ptr(STEPS).ss(), 0u32)?;
    a.mov(word_ptr(STEP_HFLAGS).ss(), 0xFFFFu32)?;
    a.xor(bx, bx)?;
    a.pushf()?;
    a.pop(ax)?;
    a.or(ax, 0x0100u32)?;
    a.push(ax)?;
    // TF becomes 1 here; POPF itself is not trapped (TF was 0 when it
    // started), the instruction after it is.
    a.popf()?;
    a.inc(bx)?; // i1: trap, IP = i2
    let i2 = a.here()?;
    a.inc(bx)?; // i2: trap, IP = i3
    let i3 = a.here()?;
    a.inc(bx)?; // i3: trap, IP = i4; the handler clears TF
    let i4 = a.here()?;
    a.nop()?; // i4: no trap
    a.nop()?;
    a.check_mem16(
        word_ptr(STEPS).ss(),
        6,
        "#DB single-step: 2 x number of traps",
    )?;
    let (i2, i3, i4) = (a.addr(&i2), a.addr(&i3), a.addr(&i4));
    a.check_mem16(
        word_ptr(STEP_LOG).ss(),
        i2,
        "#DB single-step: 1st trap IP (after the 1st instruction after POPF)",
    )?;
    a.check_mem16(
        word_ptr(STEP_LOG + 2).ss(),
        i3,
        "#DB single-step: 2nd trap IP",
    )?;
    a.check_mem16(
        word_ptr(STEP_LOG + 4).ss(),
        i4,
        "#DB single-step: 3rd trap IP",
    )?;
    a.check16(bx, 3, "#DB single-step: instructions executed")?;
    a.mov(ax, word_ptr(STEP_HFLAGS).ss())?;
    a.and(ax, 0x0300u32)?;
    a.check16(ax, 0, "#DB single-step: IF/TF inside the handler")?;
    a.pushf()?;
    a.pop(ax)?;
    a.and(ax, 0x0100u32)?;
    a.check16(ax, 0, "#DB single-step: TF after the handler cleared it")
}
