//! `smc`: self-modifying code.
//!
//! Routines are assembled in the ROM, copied to RAM at 1000:xxxx (linear
//! 0x10000 + the same offset, so their labels stay valid with CS = 1000) and
//! called there with far calls. Each routine is run at least once before it
//! is modified, so an emulator that caches decoded or translated code must
//! notice the writes:
//!
//! * r1: patch an immediate from outside, run again, see the new value.
//! * r2: the routine itself stores to instructions a few bytes ahead in
//!   the same straight-line block (an immediate, an opcode, and the very
//!   next instruction); as on a P6 the new bytes are executed.
//! * r3: patch through other segment:offset aliases of the same bytes
//!   (0FFF:x+10, 0F00:x+1000) and run through an alias CS.
//! * r4: REP STOSB/STOSD over a routine that has already run.
//! * r5: REP STOSB that overwrites the instructions right after itself.
//! * r6: a loop that increments the immediate of its own first
//!   instruction on each iteration.
//! * r7: a routine that rewrites the displacement of the jump it is about
//!   to execute.

use crate::builder::*;
use iced_x86::code_asm::*;

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("smc", body)
}

/// Segment the routines run in (base 0x10000).
const RAM_SEG: u16 = 0x1000;

struct Routines {
    start: CodeLabel,
    end: CodeLabel,
    r1: CodeLabel,
    r1_imm_end: CodeLabel,
    r2: CodeLabel,
    r2_patches: [CodeLabel; 3],
    r3: CodeLabel,
    r3_imm_end: CodeLabel,
    r4: CodeLabel,
    r5: CodeLabel,
    r5_body: CodeLabel,
    r6: CodeLabel,
    r6_imm_end: CodeLabel,
    r7: CodeLabel,
}

/// Emits the routines (to be copied to RAM) in the ROM.
fn routines(a: &mut Asm) -> Result<Routines, IcedError> {
    a.align(16)?;
    let start = a.here()?;

    // r1: AX = 1111 (the immediate is patched from outside).
    let r1 = a.here()?;
    a.mov(ax, 0x1111u32)?;
    let r1_imm_end = a.here()?;
    a.retf()?;

    // r2: stores into its own upcoming instructions.
    //   mov byte cs:[i1-1], 42   ; immediate of "mov al, 11" below
    //   mov byte cs:[op], 4B     ; "inc bx" (43) -> "dec bx" (4B)
    //   nop
    //   mov al, 11               ; executes as mov al, 42
    //   op: inc bx               ; executes as dec bx
    //   mov byte cs:[i2-1], 99   ; immediate of the very next instruction
    //   mov cl, 00               ; executes as mov cl, 99
    //   retf
    let r2 = a.here()?;
    let mut i1 = a.create_label();
    let mut op = a.create_label();
    let mut i2 = a.create_label();
    let i1a = a.addr(&i1).wrapping_sub(1);
    let opa = a.addr(&op);
    let i2a = a.addr(&i2).wrapping_sub(1);
    a.mov(byte_ptr(i1a as u32).cs(), 0x42u32)?;
    a.mov(byte_ptr(opa as u32).cs(), 0x4Bu32)?;
    a.nop()?;
    a.mov(al, 0x11u32)?;
    a.set_label(&mut i1)?;
    a.set_label(&mut op)?;
    a.inc(bx)?;
    a.mov(byte_ptr(i2a as u32).cs(), 0x99u32)?;
    a.mov(cl, 0u32)?;
    a.set_label(&mut i2)?;
    a.retf()?;
    let r2_patches = [i1, op, i2];

    // r3: AX = 3333 (patched through aliases).
    let r3 = a.here()?;
    a.mov(ax, 0x3333u32)?;
    let r3_imm_end = a.here()?;
    a.retf()?;

    // r4: 16 bytes: mov ax, 1234; retf; 12 x nop (overwritten by REP STOS).
    a.align(16)?;
    let r4 = a.here()?;
    a.mov(ax, 0x1234u32)?;
    a.retf()?;
    for _ in 0..12 {
        a.nop()?;
    }

    // r5: the caller sets ES = CS, DI = r5_body, CX = 8, AL = 40 (inc ax).
    //   rep stosb          ; overwrites the 8 NOPs below with INC AX
    //   r5_body: 8 x nop
    //   retf
    let r5 = a.here()?;
    a.rep().stosb()?;
    let r5_body = a.here()?;
    for _ in 0..8 {
        a.nop()?;
    }
    a.retf()?;

    // r6: for CX = 5 down to 1: mov ax, imm; inc word cs:[imm].
    let r6 = a.here()?;
    let mut r6_imm_end = a.create_label();
    let imm = a.addr(&r6_imm_end).wrapping_sub(2);
    a.mov(cx, 5u32)?;
    let lp = a.here()?;
    a.mov(ax, 0u32)?;
    a.set_label(&mut r6_imm_end)?;
    a.inc(word_ptr(imm as u32).cs())?;
    a.loop_(lp)?;
    a.retf()?;

    // r7: rewrite the displacement of the jump ahead from "to A" to "to B".
    let r7 = a.here()?;
    let mut jmp_at = a.create_label();
    let mut path_a = a.create_label();
    let mut path_b = a.create_label();
    let disp_at = a.addr(&jmp_at).wrapping_add(1);
    let disp_b = a.addr(&path_b).wrapping_sub(a.addr(&path_a));
    a.mov(byte_ptr(disp_at as u32).cs(), (disp_b & 0xFF) as u32)?;
    a.set_label(&mut jmp_at)?;
    // A 2-byte short jump to the next instruction (EB 00).
    a.db(&[0xEB, 0x00])?;
    a.set_label(&mut path_a)?;
    a.mov(ax, 0xAAAAu32)?;
    a.retf()?;
    a.set_label(&mut path_b)?;
    a.mov(ax, 0xBBBBu32)?;
    a.retf()?;

    let end = a.here()?;
    Ok(Routines {
        start,
        end,
        r1,
        r1_imm_end,
        r2,
        r2_patches,
        r3,
        r3_imm_end,
        r4,
        r5,
        r5_body,
        r6,
        r6_imm_end,
        r7,
    })
}

fn body(a: &mut Asm) -> R {
    let mut main = a.create_label();
    a.jmp(main)?;
    let r = routines(a)?;
    a.set_label(&mut main)?;

    // Copy the routines to 1000:start..end with plain moves.
    let (s, e) = (a.addr(&r.start), a.addr(&r.end));
    a.push(ds)?;
    a.mov(ax, ROM_SEG as u32)?;
    a.mov(ds, ax)?;
    a.mov(ax, RAM_SEG as u32)?;
    a.mov(es, ax)?;
    a.mov(si, s as u32)?;
    let l = a.here()?;
    a.mov(al, byte_ptr(si))?;
    a.mov(byte_ptr(si).es(), al)?;
    a.inc(si)?;
    a.cmp(si, e as u32)?;
    a.jb(l)?;
    a.pop(ds)?;
    // ES = 1000 from here on.

    a.post(0x50)?;
    // ---- r1: patch an immediate from outside ----
    let r1 = a.addr(&r.r1);
    let r1_imm = a.addr(&r.r1_imm_end).wrapping_sub(2);
    a.call_far(RAM_SEG, r1 as u32)?;
    a.check16(ax, 0x1111, "r1 first run")?;
    a.mov(word_ptr(r1_imm as u32).es(), 0x2222u32)?;
    a.call_far(RAM_SEG, r1 as u32)?;
    a.check16(ax, 0x2222, "r1 after patching its immediate")?;
    a.mov(byte_ptr(r1_imm as u32 + 1).es(), 0x77u32)?;
    a.call_far(RAM_SEG, r1 as u32)?;
    a.check16(ax, 0x7722, "r1 after patching one byte of its immediate")?;

    a.post(0x51)?;
    // ---- r2: stores to the instructions ahead ----
    let r2 = a.addr(&r.r2);
    a.mov(bx, 5u32)?;
    a.xor(ax, ax)?;
    a.mov(cl, 0x55u32)?;
    a.call_far(RAM_SEG, r2 as u32)?;
    a.check8(al, 0x42, "r2: immediate patched a few bytes ahead")?;
    a.check16(bx, 4, "r2: opcode patched ahead (inc bx -> dec bx)")?;
    a.check8(cl, 0x99, "r2: immediate of the next instruction patched")?;
    // Put the original bytes back (from outside) and run again: the routine
    // has run (and may be cached) with the patched bytes.
    let [i1, op, i2] = r.r2_patches;
    let (i1, op, i2) = (a.addr(&i1), a.addr(&op), a.addr(&i2));
    a.mov(byte_ptr(i1 as u32 - 1).es(), 0x11u32)?;
    a.mov(byte_ptr(op as u32).es(), 0x43u32)?;
    a.mov(byte_ptr(i2 as u32 - 1).es(), 0x00u32)?;
    a.mov(bx, 5u32)?;
    a.xor(ax, ax)?;
    a.mov(cl, 0x55u32)?;
    a.call_far(RAM_SEG, r2 as u32)?;
    a.check8(al, 0x42, "r2 second run: immediate")?;
    a.check16(bx, 4, "r2 second run: opcode")?;
    a.check8(cl, 0x99, "r2 second run: next instruction")?;

    a.post(0x52)?;
    // ---- r3: aliases ----
    let r3 = a.addr(&r.r3);
    let r3_imm = a.addr(&r.r3_imm_end).wrapping_sub(2);
    a.call_far(RAM_SEG, r3 as u32)?;
    a.check16(ax, 0x3333, "r3 first run")?;
    // Patch through 0FFF:(x+10).
    a.push(es)?;
    a.mov(ax, 0x0FFFu32)?;
    a.mov(es, ax)?;
    a.mov(word_ptr(r3_imm as u32 + 0x10).es(), 0x4444u32)?;
    a.pop(es)?;
    a.call_far(RAM_SEG, r3 as u32)?;
    a.check16(ax, 0x4444, "r3 patched through 0FFF:x+10, run at 1000:x")?;
    // Run through the alias CS 0FFF.
    a.call_far(0x0FFF, r3 as u32 + 0x10)?;
    a.check16(ax, 0x4444, "r3 run at 0FFF:x+10")?;
    // Patch through the original segment, run through the alias.
    a.mov(word_ptr(r3_imm as u32).es(), 0x5555u32)?;
    a.call_far(0x0FFF, r3 as u32 + 0x10)?;
    a.check16(ax, 0x5555, "r3 patched at 1000:x, run at 0FFF:x+10")?;
    // Patch through DS = 0F00 (x+1000), run at 1000:x.
    a.push(ds)?;
    a.mov(ax, 0x0F00u32)?;
    a.mov(ds, ax)?;
    a.mov(word_ptr(r3_imm as u32 + 0x1000), 0x6666u32)?;
    a.pop(ds)?;
    a.call_far(RAM_SEG, r3 as u32)?;
    a.check16(ax, 0x6666, "r3 patched through 0F00:x+1000, run at 1000:x")?;
    a.call_far(0x0FFF, r3 as u32 + 0x10)?;
    a.check16(
        ax,
        0x6666,
        "r3 patched through 0F00:x+1000, run at 0FFF:x+10",
    )?;

    a.post(0x53)?;
    // ---- r4: REP STOS over code that has run ----
    let r4 = a.addr(&r.r4);
    a.call_far(RAM_SEG, r4 as u32)?;
    a.check16(ax, 0x1234, "r4 first run")?;
    // 15 x INC AX (40) then RETF (CB).
    a.mov(di, r4 as u32)?;
    a.mov(cx, 15u32)?;
    a.mov(al, 0x40u32)?;
    a.rep().stosb()?;
    a.mov(byte_ptr(r4 as u32 + 15).es(), 0xCBu32)?;
    a.xor(ax, ax)?;
    a.call_far(RAM_SEG, r4 as u32)?;
    a.check16(ax, 15, "r4 after rep stosb: 15 x inc ax")?;
    // 12 x DEC AX (48) with REP STOSD, then 3 x NOP and RETF.
    a.mov(di, r4 as u32)?;
    a.mov(cx, 3u32)?;
    a.mov(eax, 0x4848_4848u32)?;
    a.rep().stosd()?;
    a.mov(dword_ptr(r4 as u32 + 12).es(), 0xCB90_9090u32)?;
    a.mov(ax, 100u32)?;
    a.call_far(RAM_SEG, r4 as u32)?;
    a.check16(ax, 88, "r4 after rep stosd: 12 x dec ax")?;

    a.post(0x54)?;
    // ---- r5: REP STOSB over the instructions that follow it ----
    let (r5, r5_body) = (a.addr(&r.r5), a.addr(&r.r5_body));
    a.mov(di, r5_body as u32)?;
    a.mov(cx, 8u32)?;
    a.mov(ax, 0x0040u32)?;
    a.call_far(RAM_SEG, r5 as u32)?;
    a.check16(
        ax,
        0x0048,
        "r5: rep stosb over the following code (8 x inc ax)",
    )?;
    a.check16(cx, 0, "r5: CX")?;
    // Run again over the already-patched code with DEC AX (48).
    a.mov(di, r5_body as u32)?;
    a.mov(cx, 8u32)?;
    a.mov(ax, 0x0048u32)?;
    a.call_far(RAM_SEG, r5 as u32)?;
    a.check16(ax, 0x0040, "r5 second run: 8 x dec ax")?;

    a.post(0x55)?;
    // ---- r6: a loop incrementing its own immediate ----
    let r6 = a.addr(&r.r6);
    let r6_imm = a.addr(&r.r6_imm_end).wrapping_sub(2);
    a.call_far(RAM_SEG, r6 as u32)?;
    // Iterations see 0, 1, 2, 3, 4.
    a.check16(ax, 4, "r6: last value loaded by the self-incrementing loop")?;
    a.check_mem16(
        word_ptr(r6_imm as u32).es(),
        5,
        "r6: immediate after the loop",
    )?;
    a.call_far(RAM_SEG, r6 as u32)?;
    a.check16(ax, 9, "r6 second run: last value")?;

    a.post(0x56)?;
    // ---- r7: rewrite the jump ahead ----
    let r7 = a.addr(&r.r7);
    a.call_far(RAM_SEG, r7 as u32)?;
    a.check16(ax, 0xBBBB, "r7: jump displacement patched ahead")?;
    Ok(())
}
