//! `protected`: protected mode with paging, privilege levels, V86 mode and
//! tasks, the way a small operating system uses them.
//!
//! The ROM copies a 32-bit section (a GDT followed by code, built with
//! [`crate::code32`]) to RAM at `CODE` (20000h), enters protected mode
//! there and sets up a flat ring-0/ring-3 GDT, a 32-bit TSS (`TSS0`, whose
//! ESP0 is `ESP0`), an IDT whose every gate reports an unexpected exception
//! unless a check installs a handler, and page tables identity-mapping the
//! first 4 MiB as user, writable pages; 4–8 MiB (`DEMAND`) start out
//! unmapped (the page-directory entry is not present). Then, in order
//! (section numbers are those of the SDM vol. 3, 2016–2022 editions):
//!
//! 1. **A ring-3 process** (4.7 "Page-Fault Exceptions", 6.12.1
//!    "Exception- or Interrupt-Handler Procedures"). IRET to ring 3, where
//!    FS, left holding a DPL-0 data selector, must read 0 (IRET to an outer
//!    level nulls such data segment registers). Ring 3 stores to `DEMAND`:
//!    #PF with CR2 = `DEMAND`, error code 6 (user, write, not present),
//!    pushed CS:EIP = the store and SS:ESP = ring 3's, on the stack given by
//!    TSS.SS0:ESP0 (the handler's ESP is ESP0 − 24). The handler maps the
//!    page table and the page without INVLPG (a not-present entry is never
//!    cached, 4.10.4.3 "Optional Invalidation") and returns; the store is
//!    re-executed, ring 3 reads the value back and leaves through `INT 80h`
//!    (a DPL-3 interrupt gate), whose frame at ESP0 − 20 must hold EIP after
//!    the INT and ring 3's CS, EFLAGS, ESP and SS. The value is in the page
//!    frame the handler chose; the PDE is accessed, the PTE accessed and
//!    dirty.
//! 2. **More page faults.** A ring-0 read of a not-present page: error
//!    code 0, CR2, no stack switch. A ring-3 write to a present read-only
//!    page just read (which may leave the read-only translation in the
//!    TLB): error code 7; the handler makes the page writable and flushes
//!    it with INVLPG, and the write then succeeds.
//! 3. **Accessed and dirty bits** (4.8 "Accessed and Dirty Flags"). A read
//!    of a fresh page sets only A in its PTE; a later write through the
//!    translation cached by that read sets D; a first write to another
//!    fresh page sets both.
//! 4. **Call gate** (5.8.5 "Stack Switching", 5.8.6 "Returning from a
//!    Called Procedure"). Ring 3 pushes a parameter and calls a DPL-3 call
//!    gate with a parameter count of 1 to ring-0 code: the ring-0 stack
//!    (from ESP0) holds EIP, CS, the copied parameter, and ring 3's ESP
//!    (pointing at the parameter) and SS; `RETF 4` returns to ring 3 with
//!    the parameter released from its stack.
//! 5. **V86 round trip** (20.3.1.1 "Handling an Interrupt or Exception
//!    Through a Protected-Mode Trap or Interrupt Gate"). IRET with VM = 1
//!    and IOPL = 0 runs real-mode code in the ROM (writes through DS, ES
//!    and SS at segment × 16 + offset, and a real-mode FS load); its CLI
//!    raises #GP(0), whose frame at ESP0 − 40 holds error code 0, EIP (the
//!    CLI), CS, EFLAGS (VM set), ESP, SS, ES, DS, FS and GS of V86 mode, DS
//!    being null in the handler. The monitor goes back to the ring-0 flow.
//! 6. **Task switches** (7.3 "Task Switching", 7.4 "Task Linking", table
//!    7-2). `CALL` to a TSS descriptor: the new task gets its registers from
//!    its TSS, TR = its selector, NT set and the previous-task link; its
//!    `IRET` returns through NT to the caller, whose registers come back
//!    and whose TSS holds the return address as EIP; the callee's TSS is
//!    not busy any more, the caller's still is, and CR0.TS is set. Then
//!    `JMP` to the same task resumes it after its IRET, with NT clear and
//!    the caller's TSS no longer busy, and it `JMP`s back.
//! 7. **Exception classes** (6.15 "Interrupt 8—Double Fault Exception",
//!    tables 6-4 and 6-5). A #UD (benign) whose gate leads to a not-present
//!    code segment is a plain #NP with error code = the selector with EXT
//!    set, pushed with the EIP of the UD2; a #DE (contributory) through such
//!    a gate is a double fault, with error code 0.
//!
//! Then paging and protected mode are turned off again (through a 16-bit
//! code segment) and the ROM passes in real mode. A failed check in 32-bit
//! code is reported like any other (`FAIL protected: ...`, exit 1); an
//! unexpected exception as `FAIL protected: unexpected exception ...` with
//! the top of the handler's stack (see [`crate::code32`]). POST codes
//! 70h–7Fh mark the progress.
//!
//! Under QEMU (TCG) everything passes but the #NP error code of check 7:
//! QEMU leaves EXT clear for an exception raised while delivering another
//! one, where the SDM (6.13 "Error Code") sets it.

use crate::builder::*;
use crate::code32::{assemble32, Asm32};
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction};

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("protected", body)
}

// ----------------------------------------------------------------------
// Memory map (physical = linear below 4 MiB)
// ----------------------------------------------------------------------

/// Pseudo-descriptor for LGDT, built in real mode.
const GDTR: u32 = 0x500;
/// Pseudo-descriptor of the real-mode IVT, for the way back.
const REAL_IDTR: u32 = 0x508;
/// IDT, 256 gates.
const IDT: u32 = 0x10000;
/// The main task's TSS.
const TSS0: u32 = 0x10800;
/// The second task's TSS.
const TSS_B: u32 = 0x10900;
/// Page directory.
const PD: u32 = 0x11000;
/// Page table for 0–4 MiB (identity).
const PT0: u32 = 0x12000;
/// Page table for 4–8 MiB (filled in by the checks and the #PF handler).
const PT1: u32 = 0x13000;
/// Records written by handlers, ring 3 and the second task.
const REC: u32 = 0x14000;
/// End of the area cleared at start-up.
const CLEAR_END: u32 = 0x15000;
/// Ring-0 stack of the main flow.
const STACK0: u32 = 0x16000;
/// TSS.ESP0: the ring-0 stack for interrupts and calls from ring 3 and V86.
const ESP0: u32 = 0x17000;
/// Ring-3 stack.
const STACK3: u32 = 0x18000;
/// The second task's stack.
const STACK_B: u32 = 0x19000;
/// The 32-bit section: the GDT, then code.
const CODE: u32 = 0x20000;
/// Page frames handed out by the #PF handler: page i of [`DEMAND`] maps to
/// `FRAMES + i * 4096`.
const FRAMES: u32 = 0x30000;
/// Linear address of the demand-mapped region (PDE 1).
const DEMAND: u32 = 0x40_0000;

// V86 mode: segments and where its writes land.
const V86_SS: u16 = 0x1A00;
const V86_SP: u16 = 0x1000;
const V86_DS: u16 = 0x0100;
const V86_ES: u16 = 0x0200;
const V86_FS: u16 = 0x3000;

// ----------------------------------------------------------------------
// Selectors and descriptors
// ----------------------------------------------------------------------

const CODE0: u16 = 0x08;
const DATA0: u16 = 0x10;
const CODE3: u16 = 0x18 | 3;
const DATA3: u16 = 0x20 | 3;
const TSS0_SEL: u16 = 0x28;
const CODE16: u16 = 0x30;
const DATA16: u16 = 0x38;
const CALL_GATE: u16 = 0x40 | 3;
const TSS_B_SEL: u16 = 0x48;
/// A 32-bit code segment descriptor with P = 0.
const NP_CODE: u16 = 0x50;
const GDT_ENTRIES: u32 = 11;
/// Where the 32-bit code starts, right after the GDT.
const ENTRY: u32 = CODE + 8 * GDT_ENTRIES;

/// A code/data/system segment descriptor (`flags` = G, D/B, L, AVL).
fn segment(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit & 0xFFFF) as u64
        | ((base & 0xFF_FFFF) as u64) << 16
        | (access as u64) << 40
        | (((limit >> 16) & 0xF) as u64) << 48
        | ((flags & 0xF) as u64) << 52
        | ((base >> 24) as u64) << 56
}

/// A gate descriptor (`access` = P, DPL, type).
fn gate(selector: u16, offset: u32, access: u8, params: u8) -> u64 {
    (offset & 0xFFFF) as u64
        | (selector as u64) << 16
        | (params as u64) << 32
        | (access as u64) << 40
        | ((offset >> 16) as u64) << 48
}

/// Access byte of a present 32-bit interrupt gate with privilege `dpl`.
fn int_gate(dpl: u8) -> u8 {
    0x8E | dpl << 5
}

// ----------------------------------------------------------------------
// Records
// ----------------------------------------------------------------------

/// A handler's record block: the dwords it found on its stack, then
/// what it saw itself.
#[derive(Clone, Copy)]
struct Block(u32);

impl Block {
    /// Dword `i` of the frame, from the top of the stack.
    fn frame(self, i: u32) -> u32 {
        self.0 + 4 * i
    }
    /// ESP at handler entry.
    fn esp(self) -> u32 {
        self.0 + 0x28
    }
    /// DS in the handler.
    fn ds(self) -> u32 {
        self.0 + 0x2C
    }
    /// CS in the handler.
    fn cs(self) -> u32 {
        self.0 + 0x30
    }
    /// Number of entries.
    fn count(self) -> u32 {
        self.0 + 0x34
    }
    /// CR2 in the handler.
    fn cr2(self) -> u32 {
        self.0 + 0x38
    }
}

const PF_REC: Block = Block(REC);
const INT80_REC: Block = Block(REC + 0x40);
const GATE_REC: Block = Block(REC + 0x80);
const GP_REC: Block = Block(REC + 0xC0);
const NP_REC: Block = Block(REC + 0x100);
const DF_REC: Block = Block(REC + 0x140);
/// Frame dwords a record block holds at most.
const FRAME_MAX: u32 = 10;

// Written by ring 3.
const U_READ: u32 = REC + 0x200;
const U_FS: u32 = REC + 0x204;
const U_ESP: u32 = REC + 0x208;

// Written by the second task.
const B_EAX: u32 = REC + 0x280;
const B_TR: u32 = REC + 0x284;
const B_EFLAGS: u32 = REC + 0x288;
const B_EFLAGS2: u32 = REC + 0x28C;
const B_MAIN_DESC2: u32 = REC + 0x290;

/// Where [`leave`] resumes the main flow.
const SAVED_ESP: u32 = REC + 0x300;
const SAVED_EIP: u32 = REC + 0x304;

// TSS fields.
const TSS_LINK: u32 = 0x00;
const TSS_ESP0: u32 = 0x04;
const TSS_SS0: u32 = 0x08;
const TSS_CR3: u32 = 0x1C;
const TSS_EIP: u32 = 0x20;
const TSS_EFLAGS: u32 = 0x24;
const TSS_EAX: u32 = 0x28;
const TSS_ESP: u32 = 0x38;
const TSS_ES: u32 = 0x48;
const TSS_CS: u32 = 0x4C;
const TSS_SS: u32 = 0x50;
const TSS_DS: u32 = 0x54;
const TSS_FS: u32 = 0x58;
const TSS_GS: u32 = 0x5C;
const TSS_IOMAP: u32 = 0x66;
const TSS_LIMIT: u32 = 0x67;

const EFLAGS_NT: u32 = 0x4000;
const EFLAGS_VM: u32 = 0x2_0000;
const EFLAGS_RF: u32 = 0x1_0000;

fn d(addr: u32) -> AsmMemoryOperand {
    dword_ptr(addr)
}

// ----------------------------------------------------------------------
// The 16-bit part
// ----------------------------------------------------------------------

fn body(a: &mut Asm) -> R {
    let mut start = a.create_label();
    let mut blob = a.create_label();
    let mut v86_code = a.create_label();
    let mut v86_cli = a.create_label();
    let mut back16 = a.create_label();
    let mut real16 = a.create_label();

    let v86 = V86Labels {
        ip: a.addr(&v86_code),
        cli: a.addr(&v86_cli),
    };
    let back = a.addr(&back16);
    let code = assemble32(a.name(), CODE, |c| code32(c, v86, back))?;
    assert!(code.len() < 0x10000, "the 32-bit section is too large");

    a.jmp(start)?;
    a.set_label(&mut blob)?;
    a.db(&code)?;

    // V86 mode: real-mode addressing, then CLI, which faults with IOPL 0.
    a.set_label(&mut v86_code)?;
    a.mov(ax, ds)?;
    a.mov(word_ptr(0x0234u32), ax)?; // DS:0234 = linear 1234
    a.mov(word_ptr(0x0010u32).es(), 0xBEEFu32)?; // ES:0010 = linear 2010
    a.push(ax)?; // SS:0FFE = linear 1AFFE
    a.mov(bx, V86_FS as u32)?;
    a.mov(fs, bx)?;
    a.set_label(&mut v86_cli)?;
    a.cli()?;
    a.fail("V86: CLI with IOPL 0 did not fault")?;

    a.set_label(&mut start)?;
    a.post(0x70)?;
    // Copy the 32-bit section to CODE.
    let b = a.addr(&blob);
    a.push(ds)?;
    a.mov(ax, ROM_SEG as u32)?;
    a.mov(ds, ax)?;
    a.mov(si, b as u32)?;
    a.mov(ax, CODE >> 4)?;
    a.mov(es, ax)?;
    a.xor(di, di)?;
    a.mov(cx, code.len() as u32)?;
    a.rep().movsb()?;
    a.pop(ds)?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    a.mov(word_ptr(GDTR), 8 * GDT_ENTRIES - 1)?;
    a.mov(dword_ptr(GDTR + 2), CODE)?;
    a.mov(word_ptr(REAL_IDTR), 0x3FFu32)?;
    a.mov(dword_ptr(REAL_IDTR + 2), 0u32)?;
    a.lgdt(ptr(GDTR))?;
    a.mov(eax, cr0)?;
    a.or(al, 1u32)?;
    a.mov(cr0, eax)?;
    a.add_instruction(Instruction::with_far_branch(
        Code::Jmp_ptr1632,
        CODE0,
        ENTRY,
    )?)?;

    // Back from the 32-bit code, paging off, in a 16-bit code segment
    // based at F0000: real-mode limits in every segment register, then PE
    // off.
    a.set_label(&mut back16)?;
    a.mov(ax, DATA16 as u32)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(ss, ax)?;
    a.mov(eax, cr0)?;
    a.and(eax, 0x7FFF_FFFEu32)?;
    a.mov(cr0, eax)?;
    a.jmp_far_to(ROM_SEG, &real16)?;
    a.set_label(&mut real16)?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(ss, ax)?;
    a.mov(esp, STACK_TOP)?;
    a.lidt(ptr(REAL_IDTR))?;
    a.mov(eax, cr0)?;
    a.and(eax, 0x8000_0001u32)?;
    a.check32(eax, 0, "back in real mode: CR0.PG and CR0.PE clear")?;
    a.post(0x7F)
}

/// Where the V86 code is (offsets in segment F000).
#[derive(Clone, Copy)]
struct V86Labels {
    ip: u16,
    cli: u16,
}

// ----------------------------------------------------------------------
// The 32-bit part
// ----------------------------------------------------------------------

/// Labels of the handlers and ring-3 programs, shared by the checks.
struct Labels {
    leave: CodeLabel,
    pf: CodeLabel,
    int80: CodeLabel,
    call_gate: CodeLabel,
    gp: CodeLabel,
    np: CodeLabel,
    df: CodeLabel,
}

fn code32(c: &mut Asm32, v86: V86Labels, back16: u16) -> R {
    let mut l = Labels {
        leave: c.create_label(),
        pf: c.create_label(),
        int80: c.create_label(),
        call_gate: c.create_label(),
        gp: c.create_label(),
        np: c.create_label(),
        df: c.create_label(),
    };
    // The GDT, at CODE (so the code starts at ENTRY).
    let call_gate = c.addr(&l.call_gate);
    let gdt: [u64; GDT_ENTRIES as usize] = [
        0,
        segment(0, 0xF_FFFF, 0x9A, 0xC),    // 08 ring-0 code
        segment(0, 0xF_FFFF, 0x92, 0xC),    // 10 ring-0 data
        segment(0, 0xF_FFFF, 0xFA, 0xC),    // 18 ring-3 code
        segment(0, 0xF_FFFF, 0xF2, 0xC),    // 20 ring-3 data
        segment(TSS0, TSS_LIMIT, 0x89, 0),  // 28 main TSS
        segment(0xF_0000, 0xFFFF, 0x9A, 0), // 30 16-bit code (ROM)
        segment(0, 0xFFFF, 0x92, 0),        // 38 16-bit data
        gate(CODE0, call_gate, 0xEC, 1),    // 40 call gate, DPL 3, 1 parameter
        segment(TSS_B, TSS_LIMIT, 0x89, 0), // 48 second TSS
        segment(0, 0xF_FFFF, 0x1A, 0xC),    // 50 code, not present
    ];
    c.dq(&gdt)?;

    setup(c)?;
    process(c, &l)?;
    more_page_faults(c)?;
    accessed_dirty(c)?;
    call_gate_check(c)?;
    v86_check(c, &l, v86)?;
    task_switch(c)?;
    exception_classes(c, &l)?;

    // Paging off (this code is identity-mapped), then to 16-bit code.
    post(c, 0x7E)?;
    c.mov(eax, cr0)?;
    c.and(eax, 0x7FFF_FFFFu32)?;
    c.mov(cr0, eax)?;
    c.jmp_far(CODE16, back16 as u32)?;

    handlers(c, &mut l)
}

fn post(c: &mut Asm32, code: u8) -> R {
    c.mov(al, code as u32)?;
    c.out(PORT_POST as u32, al)
}

/// Points IDT gate `vector` at `offset` in the ring-0 code segment.
fn set_gate(c: &mut Asm32, vector: u8, selector: u16, offset: u32, dpl: u8) -> R {
    let g = gate(selector, offset, int_gate(dpl), 0);
    let at = IDT + 8 * vector as u32;
    c.mov(d(at), g as u32)?;
    c.mov(d(at + 4), (g >> 32) as u32)
}

/// Points IDT gate `vector` at the handler `label`.
fn set_handler(c: &mut Asm32, vector: u8, label: &CodeLabel, dpl: u8) -> R {
    let off = c.addr(label);
    set_gate(c, vector, CODE0, off, dpl)
}

/// Points IDT gate `vector` back at its "unexpected exception" stub.
fn reset_gate(c: &mut Asm32, vector: u8) -> R {
    let off = c.stub(vector);
    set_gate(c, vector, CODE0, off, 0)
}

/// Checks `(dword at addr) & mask == expected`. Clobbers EAX.
fn check_masked(c: &mut Asm32, addr: u32, mask: u32, expected: u32, what: &str) -> R {
    if mask == !0 {
        return c.check_mem32(d(addr), expected, what);
    }
    c.mov(eax, d(addr))?;
    c.and(eax, mask)?;
    c.check32(eax, expected, what)
}

/// Checks the type field of the GDT descriptor `sel` (9 = available
/// 32-bit TSS, B = busy). Clobbers EAX.
fn check_tss_type(c: &mut Asm32, sel: u16, busy: bool, what: &str) -> R {
    let expected = if busy { 0xB00 } else { 0x900 };
    check_masked(c, CODE + sel as u32 + 4, 0xF00, expected, what)
}

/// One dword of a recorded frame: its name, the bits compared, and their
/// expected value.
#[derive(Clone, Copy)]
struct Field(&'static str, u32, u32);

/// A frame dword compared whole.
fn eq(name: &'static str, value: u32) -> Field {
    Field(name, !0, value)
}

/// A pushed EFLAGS image, compared but for RF: a fault may push it set
/// (SDM 17.3.1.1 "Instruction-Breakpoint Exception Condition"), and the
/// IRET back then sets it until an instruction completes, which QEMU does
/// not model (it is still set in the INT 80h frame there).
fn eflags(value: u32) -> Field {
    Field("EFLAGS (RF ignored)", !EFLAGS_RF, value)
}

/// A frame pushed by an interrupt or exception from ring 3 to ring 0:
/// `head` (error code, EIP), then ring 3's CS, EFLAGS, ESP and SS
/// (SDM vol. 3, 6.12.1, figure 6-4).
fn from_ring3(head: &[Field]) -> Vec<Field> {
    let mut frame = head.to_vec();
    frame.extend([
        eq("CS", CODE3 as u32),
        eflags(0x2),
        eq("ESP", STACK3),
        eq("SS", DATA3 as u32),
    ]);
    frame
}

/// Checks a handler's record: it ran once, in the ring-0 code segment, at
/// ESP = `handler_esp`, with `frame` on top of its stack. Clobbers EAX.
fn check_record(c: &mut Asm32, rec: Block, what: &str, handler_esp: u32, frame: &[Field]) -> R {
    c.check_mem32(d(rec.count()), 1, &format!("{what}: number of entries"))?;
    c.check_mem32(d(rec.esp()), handler_esp, &format!("{what}: handler's ESP"))?;
    c.check_mem32(d(rec.cs()), CODE0 as u32, &format!("{what}: handler's CS"))?;
    for (i, Field(name, mask, value)) in frame.iter().enumerate() {
        let at = rec.frame(i as u32);
        check_masked(c, at, *mask, *value, &format!("{what}: pushed {name}"))?;
    }
    Ok(())
}

fn setup(c: &mut Asm32) -> R {
    c.mov(ax, DATA0 as u32)?;
    c.mov(ds, ax)?;
    c.mov(es, ax)?;
    c.mov(fs, ax)?;
    c.mov(gs, ax)?;
    c.mov(ss, ax)?;
    c.mov(esp, STACK0)?;
    post(c, 0x71)?;
    c.mov(edi, IDT)?;
    c.mov(ecx, (CLEAR_END - IDT) / 4)?;
    c.xor(eax, eax)?;
    c.rep().stosd()?;

    // IDT: gate n -> stub n (stubs are 8 bytes apart).
    let stub0 = c.stub(0);
    c.mov(edi, IDT)?;
    c.mov(eax, stub0)?;
    c.mov(ecx, 256u32)?;
    let lp = c.here()?;
    c.mov(edx, eax)?;
    c.and(edx, 0xFFFFu32)?;
    c.or(edx, (CODE0 as u32) << 16)?;
    c.mov(dword_ptr(edi), edx)?;
    c.mov(edx, eax)?;
    c.and(edx, 0xFFFF_0000u32)?;
    c.or(edx, (int_gate(0) as u32) << 8)?;
    c.mov(dword_ptr(edi + 4), edx)?;
    c.add(eax, 8u32)?;
    c.add(edi, 8u32)?;
    c.dec(ecx)?;
    c.jnz(lp)?;
    c.push(IDT)?;
    c.push(0x7FFu32 << 16)?;
    c.lidt(ptr(esp + 2))?;
    c.add(esp, 8u32)?;

    // The main TSS: the ring-0 stack for ring 3 and V86, no I/O bitmap,
    // and CR3 for when a task switch comes back to it (CR3 is not saved in
    // the outgoing task's TSS, SDM 7.2.1).
    c.mov(d(TSS0 + TSS_ESP0), ESP0)?;
    c.mov(d(TSS0 + TSS_CR3), PD)?;
    c.mov(d(TSS0 + TSS_SS0), DATA0 as u32)?;
    c.mov(word_ptr(TSS0 + TSS_IOMAP), TSS_LIMIT + 1)?;
    c.mov(ax, TSS0_SEL as u32)?;
    c.ltr(ax)?;
    check_tss_type(c, TSS0_SEL, true, "LTR marks the TSS descriptor busy")?;

    // Paging: 0-4 MiB identity-mapped, user, writable; PDE 1 not present.
    post(c, 0x72)?;
    c.mov(edi, PT0)?;
    c.mov(eax, 7u32)?;
    c.mov(ecx, 1024u32)?;
    let lp = c.here()?;
    c.stosd()?;
    c.add(eax, 0x1000u32)?;
    c.dec(ecx)?;
    c.jnz(lp)?;
    c.mov(d(PD), PT0 | 7)?;
    c.mov(eax, PD)?;
    c.mov(cr3, eax)?;
    c.mov(eax, cr0)?;
    c.or(eax, 0x8000_0000u32)?;
    c.mov(cr0, eax)?;
    c.mov(eax, cr3)?;
    c.check32(eax, PD, "CR3 reads back")
}

/// Runs code at another privilege level or in V86 mode: IRETs with the
/// frame `frame` (dwords in push order) and resumes after it when a
/// handler jumps to `leave`.
fn enter(c: &mut Asm32, frame: &[u32]) -> R {
    until_leave(c, |c| {
        for v in frame {
            c.push(*v)?;
        }
        c.iretd()
    })?;
    Ok(())
}

/// Runs the ring-3 code at `entry` with the ring-3 stack, DS = ES = the
/// ring-3 data segment and FS = GS = the ring-0 one (which the IRET must
/// null), until it leaves through `INT 80h`.
fn run_user(c: &mut Asm32, entry: &CodeLabel) -> R {
    let e = c.addr(entry);
    c.mov(ax, DATA3 as u32)?;
    c.mov(ds, ax)?;
    c.mov(es, ax)?;
    c.mov(ax, DATA0 as u32)?;
    c.mov(fs, ax)?;
    c.mov(gs, ax)?;
    enter(c, &[DATA3 as u32, STACK3, 0x2, CODE3 as u32, e])
}

/// Emits a ring-3 program (after a jump over it) and returns its label.
fn user_program(c: &mut Asm32, f: impl FnOnce(&mut Asm32) -> R) -> Result<CodeLabel, IcedError> {
    let mut over = c.create_label();
    c.jmp(over)?;
    let entry = c.here()?;
    f(c)?;
    c.set_label(&mut over)?;
    Ok(entry)
}

fn process(c: &mut Asm32, l: &Labels) -> R {
    post(c, 0x73)?;
    set_handler(c, 14, &l.pf, 0)?;
    set_handler(c, 0x80, &l.int80, 3)?;
    let mut store = c.create_label();
    let mut after_int = c.create_label();
    let program = user_program(c, |c| {
        c.set_label(&mut store)?;
        c.mov(d(DEMAND), 0x600D_F00Du32)?;
        c.mov(eax, d(DEMAND))?;
        c.mov(d(U_READ), eax)?;
        c.mov(ax, fs)?;
        c.movzx(eax, ax)?;
        c.mov(d(U_FS), eax)?;
        c.int(0x80)?;
        c.set_label(&mut after_int)
    })?;
    run_user(c, &program)?;

    let what = "ring-3 #PF on a not-present page";
    let store_at = c.addr(&store);
    check_record(
        c,
        PF_REC,
        what,
        ESP0 - 24,
        &from_ring3(&[
            eq("error code (user, write, not present)", 6),
            eq("EIP (the store)", store_at),
        ]),
    )?;
    c.check_mem32(d(PF_REC.cr2()), DEMAND, &format!("{what}: CR2"))?;

    let what = "INT 80h from ring 3";
    let after = c.addr(&after_int);
    check_record(
        c,
        INT80_REC,
        what,
        ESP0 - 20,
        &from_ring3(&[eq("EIP (after the INT)", after)]),
    )?;
    c.check_mem32(
        d(U_READ),
        0x600D_F00D,
        "ring 3 reads back its store after the #PF",
    )?;
    c.check_mem32(
        d(FRAMES),
        0x600D_F00D,
        "the store landed in the frame the handler mapped",
    )?;
    c.check_mem32(d(U_FS), 0, "FS (DPL-0 data) after IRET to ring 3")?;
    c.check_mem32(
        d(PD + 4),
        PT1 | 0x27,
        "PDE 1: present, user, writable, accessed",
    )?;
    c.check_mem32(
        d(PT1),
        FRAMES | 0x67,
        "PTE of the stored page: accessed and dirty",
    )
}

fn more_page_faults(c: &mut Asm32) -> R {
    post(c, 0x74)?;
    // A ring-0 read of a not-present page: no stack switch (the main flow
    // runs at ESP = STACK0).
    c.mov(d(FRAMES + 0x1000), 0x5EC0_0DE5u32)?;
    c.mov(d(PF_REC.count()), 0u32)?;
    let read = c.here()?;
    c.mov(eax, d(DEMAND + 0x1000))?;
    c.check32(
        eax,
        0x5EC0_0DE5,
        "ring-0 read after the #PF mapped the page",
    )?;
    let what = "ring-0 #PF on a read";
    let read_at = c.addr(&read);
    check_record(
        c,
        PF_REC,
        what,
        STACK0 - 16,
        &[
            eq("error code (supervisor, read, not present)", 0),
            eq("EIP (the read)", read_at),
            eq("CS", CODE0 as u32),
        ],
    )?;
    c.check_mem32(d(PF_REC.cr2()), DEMAND + 0x1000, &format!("{what}: CR2"))?;

    // A ring-3 write to a read-only page it has just read.
    c.mov(d(PT1 + 8), (FRAMES + 0x2000) | 5)?;
    c.mov(d(FRAMES + 0x2000), 0x1234_5678u32)?;
    c.mov(d(PF_REC.count()), 0u32)?;
    c.mov(d(INT80_REC.count()), 0u32)?;
    let mut store = c.create_label();
    let program = user_program(c, |c| {
        c.mov(eax, d(DEMAND + 0x2000))?;
        c.mov(d(U_READ), eax)?;
        c.set_label(&mut store)?;
        c.mov(d(DEMAND + 0x2000), 0x0D0D_0D0Du32)?;
        c.int(0x80)
    })?;
    run_user(c, &program)?;
    let what = "ring-3 #PF on a write to a read-only page";
    let store_at = c.addr(&store);
    check_record(
        c,
        PF_REC,
        what,
        ESP0 - 24,
        &from_ring3(&[
            eq("error code (user, write, protection)", 7),
            eq("EIP (the store)", store_at),
        ]),
    )?;
    c.check_mem32(d(PF_REC.cr2()), DEMAND + 0x2000, &format!("{what}: CR2"))?;
    c.check_mem32(
        d(INT80_REC.count()),
        1,
        "ring 3 finished after the protection #PF",
    )?;
    c.check_mem32(d(U_READ), 0x1234_5678, "ring-3 read of the read-only page")?;
    c.check_mem32(
        d(FRAMES + 0x2000),
        0x0D0D_0D0D,
        "the store retried once writable",
    )
}

fn accessed_dirty(c: &mut Asm32) -> R {
    post(c, 0x75)?;
    // Two fresh pages (never used, so not in the TLB), A = D = 0.
    c.mov(d(PT1 + 12), (FRAMES + 0x3000) | 7)?;
    c.mov(d(PT1 + 16), (FRAMES + 0x4000) | 7)?;
    c.mov(eax, d(DEMAND + 0x3000))?;
    c.check_mem32(
        d(PT1 + 12),
        (FRAMES + 0x3000) | 0x27,
        "PTE after a read: A set, D clear",
    )?;
    c.mov(d(DEMAND + 0x3000), eax)?;
    c.check_mem32(
        d(PT1 + 12),
        (FRAMES + 0x3000) | 0x67,
        "PTE after a write through a translation cached by a read: D set",
    )?;
    c.mov(d(DEMAND + 0x4000), eax)?;
    c.check_mem32(
        d(PT1 + 16),
        (FRAMES + 0x4000) | 0x67,
        "PTE after a first write: A and D set",
    )
}

fn call_gate_check(c: &mut Asm32) -> R {
    post(c, 0x76)?;
    let mut ret = c.create_label();
    let program = user_program(c, |c| {
        c.mov(eax, 0x00C0_FFEEu32)?;
        c.push(eax)?;
        c.call_far(CALL_GATE, 0)?;
        c.set_label(&mut ret)?;
        c.mov(d(U_ESP), esp)?;
        c.int(0x80)
    })?;
    run_user(c, &program)?;
    let what = "call gate from ring 3";
    let ret_at = c.addr(&ret);
    check_record(
        c,
        GATE_REC,
        what,
        ESP0 - 20,
        &[
            eq("EIP (the return address)", ret_at),
            eq("CS", CODE3 as u32),
            eq("parameter (copied from ring 3's stack)", 0x00C0_FFEE),
            eq("ESP (pointing at the parameter)", STACK3 - 4),
            eq("SS", DATA3 as u32),
        ],
    )?;
    c.check_mem32(
        d(U_ESP),
        STACK3,
        "ring 3's ESP after RETF 4 (parameter released)",
    )
}

fn v86_check(c: &mut Asm32, l: &Labels, v86: V86Labels) -> R {
    post(c, 0x77)?;
    set_handler(c, 13, &l.gp, 0)?;
    enter(
        c,
        &[
            0,
            0,
            V86_DS as u32,
            V86_ES as u32,
            V86_SS as u32,
            V86_SP as u32,
            EFLAGS_VM | 0x2,
            ROM_SEG as u32,
            v86.ip as u32,
        ],
    )?;
    reset_gate(c, 13)?;
    let what = "#GP from CLI in V86 mode with IOPL 0";
    check_record(
        c,
        GP_REC,
        what,
        ESP0 - 40,
        &[
            eq("error code", 0),
            eq("EIP (the CLI)", v86.cli as u32),
            eq("CS", ROM_SEG as u32),
            eflags(EFLAGS_VM | 0x2),
            eq("ESP", V86_SP as u32 - 2),
            eq("SS", V86_SS as u32),
            eq("ES", V86_ES as u32),
            eq("DS", V86_DS as u32),
            eq("FS (loaded in V86 mode)", V86_FS as u32),
            eq("GS", 0),
        ],
    )?;
    c.check_mem32(
        d(GP_REC.ds()),
        0,
        &format!("{what}: DS in the handler (nulled)"),
    )?;
    // What V86 mode wrote, at real-mode addresses.
    let v86_writes = [
        (((V86_DS as u32) << 4) + 0x234, V86_DS as u32, "DS:0234"),
        (((V86_ES as u32) << 4) + 0x10, 0xBEEF, "ES:0010"),
        (
            ((V86_SS as u32) << 4) + V86_SP as u32 - 2,
            V86_DS as u32,
            "SS:SP after PUSH",
        ),
    ];
    for (at, value, name) in v86_writes {
        c.movzx(eax, word_ptr(at))?;
        c.check32(eax, value, &format!("V86 mode: the word written at {name}"))?;
    }
    Ok(())
}

fn task_switch(c: &mut Asm32) -> R {
    post(c, 0x78)?;
    let mut task_b = c.create_label();
    let mut b_resumed = c.create_label();
    let mut over = c.create_label();
    c.jmp(over)?;
    // The second task: records what it sees, IRETs back to its caller,
    // and when entered again (by JMP) JMPs back.
    c.set_label(&mut task_b)?;
    c.mov(d(B_EAX), eax)?;
    c.str(ax)?;
    c.movzx(eax, ax)?;
    c.mov(d(B_TR), eax)?;
    c.pushfd()?;
    c.pop(d(B_EFLAGS))?;
    c.mov(ebx, 0xDEAD_DEADu32)?;
    c.mov(ebp, 0xDEAD_DEADu32)?;
    c.iretd()?;
    c.set_label(&mut b_resumed)?;
    c.pushfd()?;
    c.pop(d(B_EFLAGS2))?;
    c.mov(eax, d(CODE + TSS0_SEL as u32 + 4))?;
    c.mov(d(B_MAIN_DESC2), eax)?;
    c.jmp_far(TSS0_SEL, 0)?;
    c.set_label(&mut over)?;

    // Its TSS.
    let entry = c.addr(&task_b);
    let fields = [
        (TSS_CR3, PD),
        (TSS_EIP, entry),
        (TSS_EFLAGS, 0x2),
        (TSS_EAX, 0xB0B0_B0B0),
        (TSS_ESP, STACK_B),
        (TSS_CS, CODE0 as u32),
        (TSS_SS, DATA0 as u32),
        (TSS_DS, DATA0 as u32),
        (TSS_ES, DATA0 as u32),
        (TSS_FS, DATA0 as u32),
        (TSS_GS, DATA0 as u32),
    ];
    for (off, value) in fields {
        c.mov(d(TSS_B + off), value)?;
    }
    c.mov(word_ptr(TSS_B + TSS_IOMAP), TSS_LIMIT + 1)?;

    // CALL: nested task, back by IRET.
    c.mov(ebx, 0x1111_1111u32)?;
    c.mov(ebp, 0x2222_2222u32)?;
    c.call_far(TSS_B_SEL, 0)?;
    let after_call = c.here()?;
    c.check32(ebx, 0x1111_1111, "EBX restored by the task switch back")?;
    c.check32(ebp, 0x2222_2222, "EBP restored by the task switch back")?;
    c.check_mem32(
        d(B_EAX),
        0xB0B0_B0B0,
        "CALL to a TSS: EAX loaded from the new TSS",
    )?;
    c.check_mem32(
        d(B_TR),
        TSS_B_SEL as u32,
        "CALL to a TSS: TR in the new task",
    )?;
    check_masked(
        c,
        B_EFLAGS,
        EFLAGS_NT,
        EFLAGS_NT,
        "CALL to a TSS: NT set in the new task",
    )?;
    c.check_mem32(
        d(TSS_B + TSS_LINK),
        TSS0_SEL as u32,
        "CALL to a TSS: previous-task link",
    )?;
    let after_call_at = c.addr(&after_call);
    c.check_mem32(
        d(TSS0 + TSS_EIP),
        after_call_at,
        "CALL to a TSS: the caller's EIP saved in its TSS",
    )?;
    let resumed_at = c.addr(&b_resumed);
    c.check_mem32(
        d(TSS_B + TSS_EIP),
        resumed_at,
        "IRET to the caller: the callee's EIP saved in its TSS",
    )?;
    c.str(ax)?;
    c.movzx(eax, ax)?;
    c.check32(eax, TSS0_SEL as u32, "TR after IRET to the caller")?;
    c.pushfd()?;
    c.pop(eax)?;
    c.and(eax, EFLAGS_NT)?;
    c.check32(eax, 0, "NT in the caller after IRET")?;
    check_tss_type(
        c,
        TSS_B_SEL,
        false,
        "IRET to the caller: the callee's TSS is not busy",
    )?;
    check_tss_type(
        c,
        TSS0_SEL,
        true,
        "IRET to the caller: the caller's TSS is busy",
    )?;
    c.mov(eax, cr0)?;
    c.and(eax, 8u32)?;
    c.check32(eax, 8, "CR0.TS set by the task switch")?;
    c.clts()?;

    // JMP: not nested; the task resumes after its IRET and jumps back.
    c.jmp_far(TSS_B_SEL, 0)?;
    check_masked(
        c,
        B_EFLAGS2,
        EFLAGS_NT,
        0,
        "JMP to a TSS: NT clear in the new task",
    )?;
    check_masked(
        c,
        B_MAIN_DESC2,
        0xF00,
        0x900,
        "JMP to a TSS: the old task's TSS is not busy",
    )?;
    c.str(ax)?;
    c.movzx(eax, ax)?;
    c.check32(eax, TSS0_SEL as u32, "TR after the JMP back")?;
    check_tss_type(c, TSS_B_SEL, false, "JMP back: the second TSS is not busy")?;
    c.clts()
}

fn exception_classes(c: &mut Asm32, l: &Labels) -> R {
    post(c, 0x79)?;
    set_handler(c, 11, &l.np, 0)?;
    set_handler(c, 8, &l.df, 0)?;

    // #UD through a gate to a not-present code segment: #NP(selector|EXT),
    // pushed with the EIP of the instruction that raised the #UD.
    set_gate(c, 6, NP_CODE, 0, 0)?;
    let ud = until_leave(c, |c| c.ud2())?;
    let what = "#UD through a gate to a not-present segment";
    check_record(
        c,
        NP_REC,
        what,
        STACK0 - 16,
        &[
            eq("#NP error code (selector, EXT)", NP_CODE as u32 | 1),
            eq("EIP (the UD2)", ud),
            eq("CS", CODE0 as u32),
        ],
    )?;
    c.check_mem32(
        d(DF_REC.count()),
        0,
        &format!("{what}: no #DF (#UD is benign)"),
    )?;

    // #DE through the same kind of gate: a double fault.
    set_gate(c, 0, NP_CODE, 0, 0)?;
    c.xor(edx, edx)?;
    c.xor(ecx, ecx)?;
    until_leave(c, |c| c.div(ecx))?;
    let what = "#DE through a gate to a not-present segment";
    c.check_mem32(d(NP_REC.count()), 1, &format!("{what}: no #NP delivered"))?;
    check_record(c, DF_REC, what, STACK0 - 16, &[eq("#DF error code", 0)])?;
    for v in [0, 6, 8, 11] {
        reset_gate(c, v)?;
    }
    Ok(())
}

/// Emits `insn`, which must end up in a handler that jumps to `leave`, and
/// resumes after it with ESP as it was before `insn`. Returns the address
/// of `insn`.
fn until_leave(c: &mut Asm32, insn: impl FnOnce(&mut Asm32) -> R) -> Result<u32, IcedError> {
    let mut at = c.create_label();
    let mut resume = c.create_label();
    let r = c.addr(&resume);
    c.mov(d(SAVED_EIP), r)?;
    c.mov(d(SAVED_ESP), esp)?;
    c.set_label(&mut at)?;
    insn(c)?;
    c.set_label(&mut resume)?;
    Ok(c.addr(&at))
}

/// Copies the top `n` dwords of the stack and what the handler sees into
/// `rec`. Runs first thing in a handler; preserves registers and flags.
/// Every access goes through SS (the handler's SS is the flat ring-0 one,
/// while DS may be anything, null included).
fn record(c: &mut Asm32, rec: Block, n: u32) -> R {
    assert!(n <= FRAME_MAX);
    c.mov(dword_ptr(rec.esp()).ss(), esp)?;
    c.push(eax)?;
    for i in 0..n {
        c.mov(eax, dword_ptr(esp + (4 + 4 * i) as i32))?;
        c.mov(dword_ptr(rec.frame(i)).ss(), eax)?;
    }
    c.mov(ax, ds)?;
    c.movzx(eax, ax)?;
    c.mov(dword_ptr(rec.ds()).ss(), eax)?;
    c.mov(ax, cs)?;
    c.movzx(eax, ax)?;
    c.mov(dword_ptr(rec.cs()).ss(), eax)?;
    c.mov(eax, cr2)?;
    c.mov(dword_ptr(rec.cr2()).ss(), eax)?;
    c.inc(dword_ptr(rec.count()).ss())?;
    c.pop(eax)
}

fn handlers(c: &mut Asm32, l: &mut Labels) -> R {
    // leave: back to the main flow, where `enter` left it.
    c.set_label(&mut l.leave)?;
    c.mov(ax, DATA0 as u32)?;
    c.mov(ds, ax)?;
    c.mov(es, ax)?;
    c.mov(fs, ax)?;
    c.mov(gs, ax)?;
    c.mov(ss, ax)?;
    c.mov(esp, d(SAVED_ESP))?;
    c.jmp(d(SAVED_EIP))?;

    // #PF: maps the faulting page of DEMAND's 4 MiB (a not-present fault)
    // or makes it writable (a protection fault).
    c.set_label(&mut l.pf)?;
    record(c, PF_REC, 6)?;
    c.push(eax)?;
    c.push(edx)?;
    c.mov(eax, cr2)?;
    c.shr(eax, 12u32)?;
    c.and(eax, 0x3FFu32)?;
    let mut protection = c.create_label();
    let mut done = c.create_label();
    c.test(byte_ptr(esp + 8), 1u32)?;
    c.jnz(protection)?;
    c.mov(dword_ptr(PD + 4).ss(), PT1 | 7)?;
    c.mov(edx, eax)?;
    c.shl(edx, 12u32)?;
    c.add(edx, FRAMES | 7)?;
    c.mov(dword_ptr(eax * 4 + PT1).ss(), edx)?;
    c.jmp(done)?;
    c.set_label(&mut protection)?;
    c.or(dword_ptr(eax * 4 + PT1).ss(), 2u32)?;
    c.mov(eax, cr2)?;
    c.invlpg(ptr(eax))?;
    c.set_label(&mut done)?;
    c.pop(edx)?;
    c.pop(eax)?;
    c.add(esp, 4u32)?;
    c.iretd()?;

    // INT 80h: ring 3 is done.
    c.set_label(&mut l.int80)?;
    record(c, INT80_REC, 5)?;
    let leave = l.leave;
    c.jmp(leave)?;

    // The call gate's ring-0 procedure: returns, releasing one parameter.
    c.set_label(&mut l.call_gate)?;
    record(c, GATE_REC, 5)?;
    c.retf_1(4u32)?;

    // #GP from V86 mode: the monitor leaves V86 mode.
    c.set_label(&mut l.gp)?;
    record(c, GP_REC, FRAME_MAX)?;
    c.jmp(leave)?;

    // #NP and #DF: recorded, then back to the main flow.
    c.set_label(&mut l.np)?;
    record(c, NP_REC, 4)?;
    c.jmp(leave)?;
    c.set_label(&mut l.df)?;
    record(c, DF_REC, 4)?;
    c.jmp(leave)
}
