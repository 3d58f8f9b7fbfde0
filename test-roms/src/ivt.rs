//! `ivt`: software interrupts and control transfer.
//!
//! * INT n / IRET through the IVT: the pushed FLAGS, CS and IP, IF and TF
//!   cleared in the handler (other flags kept), registers changed by the
//!   handler survive, IRET restores FLAGS (including IF and DF), a handler
//!   that edits the pushed FLAGS changes the caller's flags.
//! * INT3 (CC) and INT 3 (CD 03), INTO with OF clear and set, an INT from
//!   inside a handler (nested frames).
//! * PUSHF/POPF and PUSHFD/POPFD: reserved bits, ID and AC writable;
//!   CLI/STI (with the PIC masked first).
//! * LOOP/LOOPE/LOOPNE (16-bit CX, CX=0 meaning 65536, 32-bit ECX with the 67
//!   prefix), JCXZ/JECXZ, and that LOOP leaves the flags alone.
//! * CALL/RET near (direct, register, memory) and far (direct, through a CS
//!   alias, through memory), RET imm16 and RETF imm16, far JMP through memory.
//! * ENTER/LEAVE with nesting levels 0, 1 and 3; PUSHA/POPA and
//!   PUSHAD/POPAD (stack image, SP slot ignored by POPA).

use crate::builder::flags::*;
use crate::builder::*;
use iced_x86::code_asm::*;
use iced_x86::Code;

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("ivt", body)
}

// RAM records (SS = DS = 0).
const R_IP: u32 = 0x500;
const R_CS: u32 = 0x502;
const R_FLAGS: u32 = 0x504;
const R_HFLAGS: u32 = 0x506;
const R_SP: u32 = 0x508;
const R_INT3_IP: u32 = 0x510;
const R_INT3_N: u32 = 0x512;
const R_INTO_N: u32 = 0x514;
const R_INTO_IP: u32 = 0x516;
const R_NEST_SP: u32 = 0x518;
const R_RET: u32 = 0x520;
const R_PTR: u32 = 0x522;
const R_FIP: u32 = 0x524;
const R_FCS: u32 = 0x526;
const R_FOWN_CS: u32 = 0x528;
const R_FARPTR: u32 = 0x52C;

struct Handlers {
    h60: CodeLabel,
    h61: CodeLabel,
    h62: CodeLabel,
    h63: CodeLabel,
    h3: CodeLabel,
    h4: CodeLabel,
    sub1: CodeLabel,
    sub2: CodeLabel,
    fsub: CodeLabel,
    fsub2: CodeLabel,
}

fn body(a: &mut Asm) -> R {
    // Mask every IRQ at both PICs so that STI cannot let a timer interrupt in.
    a.mov(al, 0xFFu32)?;
    a.out(0x21u32, al)?;
    a.out(0xA1u32, al)?;
    let h = handlers(a)?;
    a.set_vector(0x60, &h.h60)?;
    a.set_vector(0x61, &h.h61)?;
    a.set_vector(0x62, &h.h62)?;
    a.set_vector(0x63, &h.h63)?;
    a.set_vector(0x03, &h.h3)?;
    a.set_vector(0x04, &h.h4)?;
    a.post(0x40)?;
    interrupts(a)?;
    a.post(0x41)?;
    flags_tests(a)?;
    a.post(0x42)?;
    loops(a)?;
    a.post(0x43)?;
    calls(a, &h)?;
    a.post(0x44)?;
    enter_leave(a)?;
    a.post(0x45)?;
    pusha(a)?;
    Ok(())
}

fn ssw(addr: u32) -> AsmMemoryOperand {
    word_ptr(addr).ss()
}

fn handlers(a: &mut Asm) -> Result<Handlers, IcedError> {
    let mut over = a.create_label();
    a.jmp(over)?;

    // INT 60: record the frame, AX += 1111, BX = BEEF.
    let h60 = a.here()?;
    a.mov(bp, sp)?;
    a.push(ax)?;
    a.mov(ax, word_ptr(bp))?;
    a.mov(ssw(R_IP), ax)?;
    a.mov(ax, word_ptr(bp + 2))?;
    a.mov(ssw(R_CS), ax)?;
    a.mov(ax, word_ptr(bp + 4))?;
    a.mov(ssw(R_FLAGS), ax)?;
    a.pushf()?;
    a.pop(ax)?;
    a.mov(ssw(R_HFLAGS), ax)?;
    a.mov(ssw(R_SP), bp)?;
    a.pop(ax)?;
    a.add(ax, 0x1111u32)?; // changes the flags: IRET must restore them
    a.mov(bx, 0xBEEFu32)?;
    a.iret()?;

    // INT 61: set CF and clear ZF in the pushed FLAGS.
    let h61 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.or(word_ptr(bp + 6), CF as u32)?;
    a.and(word_ptr(bp + 6), !ZF as u32 & 0xFFFF)?;
    a.pop(bp)?;
    a.iret()?;

    // INT 62: DX = 6262, INT 63 (CX = 6363), DX += CX.
    let h62 = a.here()?;
    a.mov(dx, 0x6262u32)?;
    a.int(0x63u32)?;
    a.add(dx, cx)?;
    a.iret()?;
    let h63 = a.here()?;
    a.mov(cx, 0x6363u32)?;
    a.mov(ssw(R_NEST_SP), sp)?;
    a.iret()?;

    // INT 3: record IP, count.
    let h3 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.push(ax)?;
    a.mov(ax, word_ptr(bp + 2))?;
    a.mov(ssw(R_INT3_IP), ax)?;
    a.inc(ssw(R_INT3_N))?;
    a.pop(ax)?;
    a.pop(bp)?;
    a.iret()?;

    // INTO: record IP, count.
    let h4 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.push(ax)?;
    a.mov(ax, word_ptr(bp + 2))?;
    a.mov(ssw(R_INTO_IP), ax)?;
    a.inc(ssw(R_INTO_N))?;
    a.pop(ax)?;
    a.pop(bp)?;
    a.iret()?;

    // Near subroutine: record the return address, CX = 1234.
    let sub1 = a.here()?;
    a.mov(bp, sp)?;
    a.mov(ax, word_ptr(bp))?;
    a.mov(ssw(R_RET), ax)?;
    a.mov(cx, 0x1234u32)?;
    a.ret()?;

    // Near subroutine with two word arguments: AX = arg1 + arg2; RET 4.
    let sub2 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.mov(ax, word_ptr(bp + 4))?;
    a.add(ax, word_ptr(bp + 6))?;
    a.pop(bp)?;
    a.ret_1(4u32)?;

    // Far subroutine: record return IP and CS, and its own CS.
    let fsub = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.mov(ax, word_ptr(bp + 2))?;
    a.mov(ssw(R_FIP), ax)?;
    a.mov(ax, word_ptr(bp + 4))?;
    a.mov(ssw(R_FCS), ax)?;
    a.push(cs)?;
    a.pop(ax)?;
    a.mov(ssw(R_FOWN_CS), ax)?;
    a.pop(bp)?;
    a.retf()?;

    // Far subroutine with one word argument: AX = arg; RETF 2.
    let fsub2 = a.here()?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.mov(ax, word_ptr(bp + 6))?;
    a.pop(bp)?;
    a.retf_1(2u32)?;

    a.set_label(&mut over)?;
    Ok(Handlers {
        h60,
        h61,
        h62,
        h63,
        h3,
        h4,
        sub1,
        sub2,
        fsub,
        fsub2,
    })
}

fn interrupts(a: &mut Asm) -> R {
    // INT 60 with OF DF IF SF ZF AF PF CF set (0ED7).
    a.mov(ax, 0x1000u32)?;
    a.xor(bx, bx)?;
    a.mov(ssw(0x50A), sp)?;
    a.push(0x0ED7u32)?;
    a.popf()?;
    a.int(0x60u32)?;
    let after = a.here()?;
    // FLAGS restored by IRET, exactly.
    a.check_flags(0xFFFF, 0x0ED7, "int 60: FLAGS after IRET")?;
    a.cli()?;
    a.cld()?;
    a.check16(ax, 0x2111, "int 60: AX changed by the handler")?;
    a.check16(bx, 0xBEEF, "int 60: BX changed by the handler")?;
    let after = a.addr(&after);
    a.check_mem16(ssw(R_IP), after, "int 60: pushed IP (after the INT)")?;
    a.check_mem16(ssw(R_CS), ROM_SEG, "int 60: pushed CS")?;
    a.check_mem16(ssw(R_FLAGS), 0x0ED7, "int 60: pushed FLAGS")?;
    a.check_mem16(
        ssw(R_HFLAGS),
        0x0CD7,
        "int 60: FLAGS in the handler (IF, TF clear)",
    )?;
    a.mov(ax, ssw(0x50A))?;
    a.sub(ax, 6u32)?;
    a.cmp(ax, ssw(R_SP))?;
    let mut ok = a.create_label();
    a.je(ok)?;
    a.movzx(eax, ssw(R_SP))?;
    a.fail_value("int 60: SP in the handler (3 words pushed)", 0x8000 - 6, 4)?;
    a.set_label(&mut ok)?;
    a.check16(sp, 0x8000, "int 60: SP after IRET")?;

    // INT 61 edits the pushed FLAGS: CF set, ZF cleared for the caller.
    a.push((ZF | 2) as u32)?;
    a.popf()?;
    a.int(0x61u32)?;
    a.check_flags(ARITH, CF, "int 61: flags edited by the handler")?;

    // INT3 (CC) and INT 3 (CD 03) go through vector 3 with IP after them.
    a.mov(ssw(R_INT3_N), 0u32)?;
    a.int3()?;
    a.int(3u32)?;
    let l2 = a.here()?;
    a.check_mem16(ssw(R_INT3_N), 2, "int3: number of calls")?;
    let l2 = a.addr(&l2);
    a.check_mem16(ssw(R_INT3_IP), l2, "int 3 (CD 03): pushed IP")?;
    a.mov(ssw(R_INT3_N), 0u32)?;
    a.int3()?;
    let l3 = a.here()?;
    let l3 = a.addr(&l3);
    a.check_mem16(ssw(R_INT3_IP), l3, "int3 (CC): pushed IP")?;

    // INTO: nothing with OF=0, vector 4 with OF=1.
    a.mov(ssw(R_INTO_N), 0u32)?;
    a.push(0x00D7u32)?;
    a.popf()?;
    CodeAssembler::into(a)?;
    a.check_mem16(ssw(R_INTO_N), 0, "into with OF=0: no interrupt")?;
    a.push(0x0802u32)?;
    a.popf()?;
    CodeAssembler::into(a)?;
    let l4 = a.here()?;
    a.check_mem16(ssw(R_INTO_N), 1, "into with OF=1: one interrupt")?;
    let l4 = a.addr(&l4);
    a.check_mem16(ssw(R_INTO_IP), l4, "into: pushed IP")?;

    // Nested: INT 62 calls INT 63.
    a.xor(cx, cx)?;
    a.xor(dx, dx)?;
    a.int(0x62u32)?;
    a.check16(cx, 0x6363, "nested int 63: CX")?;
    a.check16(dx, 0xC5C5, "nested int 62+63: DX")?;
    a.check_mem16(
        ssw(R_NEST_SP),
        0x8000 - 12,
        "nested int: SP in the inner handler (2 frames)",
    )?;
    a.check16(sp, 0x8000, "nested int: SP after")
}

fn flags_tests(a: &mut Asm) -> R {
    // POPF 0000 -> PUSHF 0002: bit 1 always reads 1.
    a.push(0u32)?;
    a.popf()?;
    a.pushf()?;
    a.pop(ax)?;
    a.check16(ax, 0x0002, "popf 0000 / pushf")?;
    // Bits 15, 5 and 3 read as 0 (on 286+).
    a.push(0x8028u32)?;
    a.popf()?;
    a.pushf()?;
    a.pop(ax)?;
    a.check16(ax, 0x0002, "popf 8028 / pushf (reserved bits)")?;
    // All status and control flags but TF and IF round-trip.
    a.push(0x0CD7u32)?;
    a.popf()?;
    a.pushf()?;
    a.pop(ax)?;
    a.check16(ax, 0x0CD7, "popf 0CD7 / pushf")?;
    // PUSHFD/POPFD: the ID (bit 21) and AC (bit 18) flags can be toggled.
    a.pushd(0x0024_0002)?;
    a.popfd()?;
    a.pushfd()?;
    a.pop(eax)?;
    a.and(eax, 0x0024_0000u32)?;
    a.check32(eax, 0x0024_0000, "popfd/pushfd: ID and AC set")?;
    a.pushd(0)?;
    a.popfd()?;
    a.pushfd()?;
    a.pop(eax)?;
    a.check32(eax, 0x0000_0002, "popfd 0 / pushfd")?;
    a.pushd(0x0000_0002)?;
    a.popfd()?;
    // STI/CLI.
    a.sti()?;
    a.pushf()?;
    a.pop(ax)?;
    a.cli()?;
    a.and(ax, IF as u32)?;
    a.check16(ax, IF, "sti sets IF")?;
    a.pushf()?;
    a.pop(ax)?;
    a.and(ax, IF as u32)?;
    a.check16(ax, 0, "cli clears IF")?;
    // STC/CLC/CMC/STD/CLD.
    a.clc()?;
    a.cmc()?;
    a.check_flags(CF, CF, "clc; cmc")?;
    a.cmc()?;
    a.check_flags(CF, 0, "cmc")?;
    a.std()?;
    a.check_flags(DF, DF, "std")?;
    a.cld()?;
    a.check_flags(DF, 0, "cld")
}

/// Emits `setup`, then `branch(taken)`, and checks whether it was taken.
fn branch_test(
    a: &mut Asm,
    what: &str,
    taken: bool,
    branch: impl FnOnce(&mut Asm, CodeLabel) -> R,
) -> R {
    let mut t = a.create_label();
    let mut done = a.create_label();
    a.mov(dx, 0u32)?;
    branch(a, t)?;
    a.mov(dx, 1u32)?;
    a.jmp(done)?;
    a.set_label(&mut t)?;
    a.mov(dx, 2u32)?;
    a.set_label(&mut done)?;
    a.check16(dx, if taken { 2 } else { 1 }, what)
}

fn loops(a: &mut Asm) -> R {
    // LOOP: 5 iterations.
    a.mov(cx, 5u32)?;
    a.xor(bx, bx)?;
    let l = a.here()?;
    a.inc(bx)?;
    a.loop_(l)?;
    a.check16(bx, 5, "loop cx=5: iterations")?;
    a.check16(cx, 0, "loop cx=5: CX")?;
    // LOOP with CX=0 runs 65536 times.
    a.xor(cx, cx)?;
    a.xor(ebx, ebx)?;
    let l = a.here()?;
    a.inc(ebx)?;
    a.loop_(l)?;
    a.check32(ebx, 0x1_0000, "loop cx=0: 65536 iterations")?;
    // 16-bit LOOP leaves the upper half of ECX alone.
    a.mov(ecx, 0xFFFF_0003u32)?;
    let l = a.here()?;
    a.loop_(l)?;
    a.check32(ecx, 0xFFFF_0000, "loop a16: ECX upper half kept")?;
    // LOOP does not touch the flags.
    a.mov(cx, 3u32)?;
    a.push((ZF | CF | 2) as u32)?;
    a.popf()?;
    let l = a.here()?;
    a.loop_(l)?;
    a.check_flags(ARITH, ZF | CF, "loop: flags unchanged")?;
    // 32-bit LOOP (67 E2): ECX = 10002.
    a.mov(ecx, 0x1_0002u32)?;
    a.xor(ebx, ebx)?;
    let l = a.here()?;
    a.inc(ebx)?;
    a.branch(Code::Loop_rel8_16_ECX, &l)?;
    a.check32(ebx, 0x1_0002, "loop a32 (ECX): iterations")?;
    a.check32(ecx, 0, "loop a32: ECX")?;
    // LOOPNE: until BX == 4.
    a.mov(cx, 10u32)?;
    a.xor(bx, bx)?;
    let l = a.here()?;
    a.inc(bx)?;
    a.cmp(bx, 4u32)?;
    a.loopne(l)?;
    a.check16(bx, 4, "loopne: iterations")?;
    a.check16(cx, 6, "loopne: CX")?;
    // LOOPE: while bit 2 of BX is clear (stops at BX = 4).
    a.mov(cx, 10u32)?;
    a.xor(bx, bx)?;
    let l = a.here()?;
    a.inc(bx)?;
    a.test(bl, 4u32)?;
    a.loope(l)?;
    a.check16(bx, 4, "loope: iterations")?;
    a.check16(cx, 6, "loope: CX")?;
    // LOOPE running out of CX while ZF=1.
    a.mov(cx, 2u32)?;
    a.xor(bx, bx)?;
    let l = a.here()?;
    a.inc(bx)?;
    a.test(bl, 4u32)?;
    a.loope(l)?;
    a.check16(bx, 2, "loope cx=2: iterations")?;
    a.check16(cx, 0, "loope cx=2: CX")?;

    // JCXZ / JECXZ.
    a.xor(cx, cx)?;
    branch_test(a, "jcxz cx=0: taken", true, |a, t| a.jcxz(t))?;
    a.mov(cx, 1u32)?;
    branch_test(a, "jcxz cx=1: not taken", false, |a, t| a.jcxz(t))?;
    a.mov(ecx, 0x1_0000u32)?;
    branch_test(a, "jcxz ecx=10000: taken (CX=0)", true, |a, t| a.jcxz(t))?;
    branch_test(a, "jecxz ecx=10000: not taken", false, |a, t| {
        a.branch(Code::Jecxz_rel8_16, &t)
    })?;
    a.xor(ecx, ecx)?;
    branch_test(a, "jecxz ecx=0: taken", true, |a, t| {
        a.branch(Code::Jecxz_rel8_16, &t)
    })
}

fn calls(a: &mut Asm, h: &Handlers) -> R {
    // Direct near call.
    a.xor(cx, cx)?;
    a.call(h.sub1)?;
    let r = a.here()?;
    a.check16(cx, 0x1234, "call near: subroutine ran")?;
    let r = a.addr(&r);
    a.check_mem16(ssw(R_RET), r, "call near: return address")?;
    a.check16(sp, 0x8000, "call near/ret: SP")?;
    // Through a register.
    let s1 = a.addr(&h.sub1);
    a.mov(bx, s1 as u32)?;
    a.call(bx)?;
    let r = a.here()?;
    let r = a.addr(&r);
    a.check_mem16(ssw(R_RET), r, "call bx: return address")?;
    // Through memory.
    a.mov(word_ptr(R_PTR), s1 as u32)?;
    a.call(word_ptr(R_PTR))?;
    let r = a.here()?;
    let r = a.addr(&r);
    a.check_mem16(ssw(R_RET), r, "call [mem]: return address")?;
    // RET 4 pops the two arguments.
    a.push(0x1000u32)?;
    a.push(0x0234u32)?;
    a.call(h.sub2)?;
    a.check16(ax, 0x1234, "ret 4: result")?;
    a.check16(sp, 0x8000, "ret 4: SP")?;

    // Direct far call.
    a.call_far_to(ROM_SEG, &h.fsub)?;
    let r = a.here()?;
    let r = a.addr(&r);
    a.check_mem16(ssw(R_FIP), r, "call far: pushed IP")?;
    a.check_mem16(ssw(R_FCS), ROM_SEG, "call far: pushed CS")?;
    a.check_mem16(ssw(R_FOWN_CS), ROM_SEG, "call far: CS in the subroutine")?;
    a.check16(sp, 0x8000, "call far/retf: SP")?;
    // Far call through an alias: EF00:(fsub+1000) is the same byte.
    let f = a.addr(&h.fsub);
    a.call_far(0xEF00, f as u32 + 0x1000)?;
    a.check_mem16(
        ssw(R_FOWN_CS),
        0xEF00,
        "call far EF00: CS in the subroutine",
    )?;
    a.check_mem16(ssw(R_FCS), ROM_SEG, "call far EF00: pushed CS")?;
    // Far call through memory (m16:16).
    a.mov(word_ptr(R_FARPTR), f as u32)?;
    a.mov(word_ptr(R_FARPTR + 2), ROM_SEG as u32)?;
    a.call(dword_ptr(R_FARPTR))?;
    let r = a.here()?;
    let r = a.addr(&r);
    a.check_mem16(ssw(R_FIP), r, "call far [mem]: pushed IP")?;
    a.check_mem16(
        ssw(R_FOWN_CS),
        ROM_SEG,
        "call far [mem]: CS in the subroutine",
    )?;
    // RETF 2.
    a.push(0xAAAAu32)?;
    a.call_far_to(ROM_SEG, &h.fsub2)?;
    a.check16(ax, 0xAAAA, "retf 2: argument")?;
    a.check16(sp, 0x8000, "retf 2: SP")?;
    // Far JMP through memory, and a direct far JMP back.
    let mut target = a.create_label();
    let mut back = a.create_label();
    let t = a.addr(&target);
    a.mov(word_ptr(R_FARPTR), t as u32 + 0x100)?;
    a.mov(word_ptr(R_FARPTR + 2), (ROM_SEG - 0x10) as u32)?; // EFF0:t+100
    a.xor(dx, dx)?;
    a.jmp(dword_ptr(R_FARPTR))?;
    a.fail("jmp far [mem] fell through")?;
    a.set_label(&mut target)?;
    a.push(cs)?;
    a.pop(dx)?;
    a.jmp_far_to(ROM_SEG, &back)?;
    a.fail("jmp far fell through")?;
    a.set_label(&mut back)?;
    a.check16(dx, ROM_SEG - 0x10, "jmp far [mem]: CS at the target")?;
    a.push(cs)?;
    a.pop(dx)?;
    a.check16(dx, ROM_SEG, "jmp far: CS back")
}

fn enter_leave(a: &mut Asm) -> R {
    // Level 0: ENTER 8,0 with BP=1234, SP=7800:
    // push BP -> [77FE]=1234, BP=77FE, SP = 77FE-8 = 77F6.
    a.mov(sp, 0x7800u32)?;
    a.mov(bp, 0x1234u32)?;
    a.enter(8u32, 0u32)?;
    a.check16(bp, 0x77FE, "enter 8,0: BP")?;
    a.check16(sp, 0x77F6, "enter 8,0: SP")?;
    a.check_mem16(ssw(0x77FE), 0x1234, "enter 8,0: saved BP")?;
    a.leave()?;
    a.check16(bp, 0x1234, "leave (level 0): BP")?;
    a.check16(sp, 0x7800, "leave (level 0): SP")?;
    // Level 1: ENTER 4,1 with BP=1111: push BP -> [77FE]=1111; frame = 77FE;
    // push frame -> [77FC]=77FE; BP=77FE; SP = 77FC-4 = 77F8.
    a.mov(bp, 0x1111u32)?;
    a.enter(4u32, 1u32)?;
    a.check16(bp, 0x77FE, "enter 4,1: BP")?;
    a.check16(sp, 0x77F8, "enter 4,1: SP")?;
    a.check_mem16(ssw(0x77FE), 0x1111, "enter 4,1: saved BP")?;
    a.check_mem16(ssw(0x77FC), 0x77FE, "enter 4,1: frame pointer")?;
    a.leave()?;
    a.check16(bp, 0x1111, "leave (level 1): BP")?;
    a.check16(sp, 0x7800, "leave (level 1): SP")?;
    // Level 3: ENTER 6,3 with BP=7900 and the outer display [78FE]=AAAA,
    // [78FC]=BBBB: push BP -> [77FE]=7900; frame = 77FE; copy [BP-2] ->
    // [77FC]=AAAA, [BP-4] -> [77FA]=BBBB; push frame -> [77F8]=77FE;
    // BP=77FE; SP = 77F8-6 = 77F2.
    a.mov(word_ptr(0x78FEu32), 0xAAAAu32)?;
    a.mov(word_ptr(0x78FCu32), 0xBBBBu32)?;
    a.mov(bp, 0x7900u32)?;
    a.enter(6u32, 3u32)?;
    a.check16(bp, 0x77FE, "enter 6,3: BP")?;
    a.check16(sp, 0x77F2, "enter 6,3: SP")?;
    a.check_mem16(ssw(0x77FE), 0x7900, "enter 6,3: saved BP")?;
    a.check_mem16(ssw(0x77FC), 0xAAAA, "enter 6,3: display[1]")?;
    a.check_mem16(ssw(0x77FA), 0xBBBB, "enter 6,3: display[2]")?;
    a.check_mem16(ssw(0x77F8), 0x77FE, "enter 6,3: frame pointer")?;
    a.leave()?;
    a.check16(bp, 0x7900, "leave (level 3): BP")?;
    a.check16(sp, 0x7800, "leave (level 3): SP")?;
    a.mov(esp, STACK_TOP)
}

fn pusha(a: &mut Asm) -> R {
    a.mov(esp, 0x7800u32)?;
    a.mov(eax, 0xA1A1_0A0Au32)?;
    a.mov(ecx, 0xC1C1_0C0Cu32)?;
    a.mov(edx, 0xD1D1_0D0Du32)?;
    a.mov(ebx, 0xB1B1_0B0Bu32)?;
    a.mov(ebp, 0xB2B2_0B0Bu32)?;
    a.mov(esi, 0x5151_0505u32)?;
    a.mov(edi, 0xD2D2_0D0Du32)?;
    // PUSHA: AX CX DX BX SP(original) BP SI DI, from 77FE down to 77F0.
    a.pusha()?;
    a.check16(sp, 0x77F0, "pusha: SP")?;
    let image: [(u32, u16, &str); 8] = [
        (0x77FE, 0x0A0A, "pusha: AX slot"),
        (0x77FC, 0x0C0C, "pusha: CX slot"),
        (0x77FA, 0x0D0D, "pusha: DX slot"),
        (0x77F8, 0x0B0B, "pusha: BX slot"),
        (0x77F6, 0x7800, "pusha: SP slot (SP before PUSHA)"),
        (0x77F4, 0x0B0B, "pusha: BP slot"),
        (0x77F2, 0x0505, "pusha: SI slot"),
        (0x77F0, 0x0D0D, "pusha: DI slot"),
    ];
    for (addr, v, what) in image {
        a.check_mem16(ssw(addr), v, what)?;
    }
    // POPA ignores the SP slot.
    a.mov(ssw(0x77F6), 0x1234u32)?;
    for r in [ax, cx, dx, bx, bp, si, di] {
        a.xor(r, r)?;
    }
    a.popa()?;
    a.check32(esp, 0x7800, "popa: ESP")?;
    a.check32(eax, 0xA1A1_0A0A, "popa: EAX (upper half kept)")?;
    a.check32(ecx, 0xC1C1_0C0C, "popa: ECX")?;
    a.check32(edx, 0xD1D1_0D0D, "popa: EDX")?;
    a.check32(ebx, 0xB1B1_0B0B, "popa: EBX")?;
    a.check32(ebp, 0xB2B2_0B0B, "popa: EBP")?;
    a.check32(esi, 0x5151_0505, "popa: ESI")?;
    a.check32(edi, 0xD2D2_0D0D, "popa: EDI")?;
    // PUSHAD: 8 dwords from 77FC down to 77E0.
    a.pushad()?;
    a.check16(sp, 0x77E0, "pushad: SP")?;
    let image: [(u32, u32, &str); 8] = [
        (0x77FC, 0xA1A1_0A0A, "pushad: EAX slot"),
        (0x77F8, 0xC1C1_0C0C, "pushad: ECX slot"),
        (0x77F4, 0xD1D1_0D0D, "pushad: EDX slot"),
        (0x77F0, 0xB1B1_0B0B, "pushad: EBX slot"),
        (0x77EC, 0x0000_7800, "pushad: ESP slot"),
        (0x77E8, 0xB2B2_0B0B, "pushad: EBP slot"),
        (0x77E4, 0x5151_0505, "pushad: ESI slot"),
        (0x77E0, 0xD2D2_0D0D, "pushad: EDI slot"),
    ];
    for (addr, v, what) in image {
        a.check_mem32(dword_ptr(addr).ss(), v, what)?;
    }
    a.mov(dword_ptr(0x77ECu32).ss(), 0x1234_5678u32)?;
    for r in [eax, ecx, edx, ebx, ebp, esi, edi] {
        a.xor(r, r)?;
    }
    a.popad()?;
    a.check32(esp, 0x7800, "popad: ESP")?;
    a.check32(eax, 0xA1A1_0A0A, "popad: EAX")?;
    a.check32(ecx, 0xC1C1_0C0C, "popad: ECX")?;
    a.check32(edx, 0xD1D1_0D0D, "popad: EDX")?;
    a.check32(ebx, 0xB1B1_0B0B, "popad: EBX")?;
    a.check32(ebp, 0xB2B2_0B0B, "popad: EBP")?;
    a.check32(esi, 0x5151_0505, "popad: ESI")?;
    a.check32(edi, 0xD2D2_0D0D, "popad: EDI")?;
    a.mov(esp, STACK_TOP)
}
