//! A tiny ROM builder on top of iced-x86's `code_asm`.
//!
//! A ROM is written as a Rust closure that emits real-mode code into an
//! [`Asm`] (which derefs to iced's [`CodeAssembler`], so every instruction
//! method is available: `a.mov(ax, 0x1234)?`, `a.jne(fail)?`, ...).
//!
//! The closure is run several times (passes). Each pass, label addresses
//! found by the previous pass are available through [`Asm::addr`], which is
//! what makes labels usable where `code_asm` cannot take them: as immediates,
//! memory displacements (`word_ptr(a.addr(&table))`), far-jump targets
//! ([`Asm::jmp_far_to`]), IVT entries ([`Asm::set_vector`]) and so on. Passes
//! repeat until no label moves any more, so the closure must be
//! deterministic (it is called with the same inputs each time).
//!
//! # Layout of a 64 KiB ROM (mapped at F000:0000 = linear 0xF0000 and at
//! 0xFFFF0000)
//!
//! | ROM offset     | contents                                                   |
//! |----------------|------------------------------------------------------------|
//! | 0x0000         | prologue (`entry`): CLI, CLD, segments = 0, SS:SP = 0:8000, default IVT |
//! | ...            | the ROM's body, then `PASS <name>` and exit 0              |
//! | ...            | runtime routines (print, hex, fail), 256 interrupt stubs, string pool |
//! | ...            | 0xFF filler                                                |
//! | 0xFFF0         | `jmp far F000:entry` (reset vector, `EA 00 00 00 F0`)      |
//! | 0xFFF5..0xFFFC | BIOS date string `01/01/25`                                |
//! | 0xFFFE         | model byte 0xFC (AT)                                       |
//! | 0xFFFF         | checksum byte: the 8-bit sum of all 65536 bytes is 0       |
//!
//! All code is assembled for CS = 0xF000 with IP = ROM offset, so a label's
//! [`Asm::addr`] is its offset in segment F000 (and its linear address is
//! `0xF0000 + addr`).
//!
//! # Runtime conventions
//!
//! * The prologue leaves DS = ES = FS = GS = SS = 0, ESP = 0x8000, CLD, IF = 0,
//!   and points all 256 IVT vectors at stubs that report
//!   `FAIL <name>: unexpected interrupt VV at CCCC:IIII` and exit with 1.
//! * Every helper that prints or checks preserves all registers and flags
//!   when it does not fail, and reaches the runtime through far calls/jumps,
//!   so it also works from code copied to RAM and running with another CS.
//! * RAM: 0x0000-0x03FF is the IVT, the stack grows down from 0:8000 (the
//!   failure path moves SS:SP to 0:7000); the ROMs use 0x0500-0x0FFF for
//!   records and tables, 0x1000-0x6FFF and 0x10000 up as scratch.
//!
//! # Example
//!
//! ```
//! use iced_x86::code_asm::*;
//! use test_roms::builder::*;
//!
//! let rom = build_rom("demo", |a| {
//!     let mut msg = a.create_label();
//!     a.mov(ax, 2u32)?;
//!     a.add(ax, 3u32)?;
//!     a.check16(ax, 5, "2+3")?; // FAIL demo: 2+3 expected 0005 got ....
//!     // A label as a data address (second pass fills it in).
//!     let m = a.addr(&msg);
//!     a.mov(al, byte_ptr(m as u32).cs())?;
//!     a.check8(al, b'h', "first byte of msg")?;
//!     a.print("hello\n")?; // to port 0xE9
//!     let mut over = a.create_label();
//!     a.jmp(over)?;
//!     a.set_label(&mut msg)?;
//!     a.db(b"hi")?;
//!     a.set_label(&mut over)?;
//!     Ok(()) // then the builder prints "PASS demo" and exits with 0
//! });
//! assert_eq!(rom.bytes.len(), 0x10000);
//! ```

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Code, Instruction};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut, Range};

/// Result type of everything that emits code.
pub type R = Result<(), IcedError>;

/// Flag bits of (E)FLAGS.
pub mod flags {
    pub const CF: u16 = 0x0001;
    pub const PF: u16 = 0x0004;
    pub const AF: u16 = 0x0010;
    pub const ZF: u16 = 0x0040;
    pub const SF: u16 = 0x0080;
    pub const TF: u16 = 0x0100;
    pub const IF: u16 = 0x0200;
    pub const DF: u16 = 0x0400;
    pub const OF: u16 = 0x0800;
    /// The six arithmetic status flags.
    pub const ARITH: u16 = CF | PF | AF | ZF | SF | OF;
}

/// Segment the ROM code runs in.
pub const ROM_SEG: u16 = 0xF000;
/// Size of the generated ROM image.
pub const ROM_SIZE: usize = 0x10000;
/// Offset of the reset vector in the ROM image.
pub const RESET_OFFSET: usize = 0xFFF0;
/// Offset of the checksum byte in the ROM image (the last byte).
pub const CHECKSUM_OFFSET: usize = 0xFFFF;
/// Initial stack pointer (SS = 0).
pub const STACK_TOP: u32 = 0x8000;
/// What [`Asm::addr`] returns for a label whose address is not known yet.
pub const PLACEHOLDER: u16 = 0x8000;
/// Stack pointer used by the failure path.
const FAIL_STACK: u16 = 0x7000;

/// Debug console port.
pub const PORT_DEBUG: u8 = 0xE9;
/// POST code port.
pub const PORT_POST: u8 = 0x80;
/// isa-debug-exit port.
pub const PORT_EXIT: u8 = 0xF4;

/// An assembled ROM and what the builder knows about it.
#[derive(Clone, Debug)]
pub struct RomImage {
    /// The image, [`ROM_SIZE`] bytes.
    pub bytes: Vec<u8>,
    /// ROM offsets holding instructions (everything the ROM assembled that
    /// is not data emitted with `db`/`dw`/`dd`/`dq`), as maximal ranges.
    pub code: Vec<Range<usize>>,
    /// Offset of the entry point (target of the reset-vector jump).
    pub entry: u16,
}

/// Labels of the runtime routines every ROM carries.
#[derive(Clone, Copy)]
struct Runtime {
    puts: CodeLabel,
    hex: CodeLabel,
    fail_value: CodeLabel,
    fail_msg: CodeLabel,
    pass: CodeLabel,
    unexpected: CodeLabel,
    stubs: CodeLabel,
}

/// The assembler handed to a ROM body. Derefs to [`CodeAssembler`].
pub struct Asm {
    ca: CodeAssembler,
    name: &'static str,
    /// Label addresses found by the previous pass.
    prev: HashMap<CodeLabel, u64>,
    /// Labels set in this pass (with their instruction index).
    set: Vec<CodeLabel>,
    /// A label address was asked for that the previous pass did not know.
    missing: bool,
    strings: Vec<(CodeLabel, Vec<u8>)>,
    string_ids: HashMap<Vec<u8>, CodeLabel>,
    rt: Runtime,
}

impl Deref for Asm {
    type Target = CodeAssembler;
    fn deref(&self) -> &CodeAssembler {
        &self.ca
    }
}

impl DerefMut for Asm {
    fn deref_mut(&mut self) -> &mut CodeAssembler {
        &mut self.ca
    }
}

/// Builds a 64 KiB ROM named `name` whose body is `body` (see the module
/// docs for what surrounds it). Panics if the code cannot be assembled.
pub fn build_rom<F>(name: &'static str, body: F) -> RomImage
where
    F: Fn(&mut Asm) -> R,
{
    let mut prev: HashMap<CodeLabel, u64> = HashMap::new();
    for _pass in 0..16 {
        let (asm, result, data) = match run_pass(name, &prev, &body) {
            Ok(v) => v,
            Err(e) => panic!("ROM {name}: assembly failed: {e}"),
        };
        let mut addrs = HashMap::new();
        for l in &asm.set {
            let ip = result
                .label_ip(l)
                .unwrap_or_else(|e| panic!("ROM {name}: label: {e}"));
            addrs.insert(*l, ip);
        }
        if addrs == prev && !asm.missing {
            return finish(name, result.inner.code_buffer, data);
        }
        prev = addrs;
    }
    panic!("ROM {name}: label addresses did not converge (or a label is used but never set)");
}

type PassResult = (Asm, CodeAssemblerResult, Vec<Range<usize>>);

fn run_pass<F>(
    name: &'static str,
    prev: &HashMap<CodeLabel, u64>,
    body: &F,
) -> Result<PassResult, IcedError>
where
    F: Fn(&mut Asm) -> R,
{
    let mut ca = CodeAssembler::new(16)?;
    let rt = Runtime {
        puts: ca.create_label(),
        hex: ca.create_label(),
        fail_value: ca.create_label(),
        fail_msg: ca.create_label(),
        pass: ca.create_label(),
        unexpected: ca.create_label(),
        stubs: ca.create_label(),
    };
    let mut a = Asm {
        ca,
        name,
        prev: prev.clone(),
        set: Vec::new(),
        missing: false,
        strings: Vec::new(),
        string_ids: HashMap::new(),
        rt,
    };
    a.prologue()?;
    body(&mut a)?;
    // Body done: report success.
    let pass = a.rt.pass;
    a.jmp(pass)?;
    a.runtime()?;
    // String pool.
    let strings = std::mem::take(&mut a.strings);
    for (mut l, s) in strings {
        a.set_label(&mut l)?;
        a.db(&s)?;
    }
    let result =
        a.ca.assemble_options(0, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    // Data ranges (db/dw/dd/dq), to tell code from data.
    let mut data = Vec::new();
    for (i, ins) in a.ca.instructions().iter().enumerate() {
        let elem = match ins.code() {
            Code::DeclareByte => 1,
            Code::DeclareWord => 2,
            Code::DeclareDword => 4,
            Code::DeclareQword => 8,
            _ => continue,
        };
        let off = result.inner.new_instruction_offsets[i] as usize;
        data.push(off..off + elem * ins.declare_data_len());
    }
    Ok((a, result, data))
}

fn finish(name: &str, code: Vec<u8>, data: Vec<Range<usize>>) -> RomImage {
    assert!(
        code.len() <= RESET_OFFSET,
        "ROM {name}: code is {:#x} bytes, more than fits below the reset vector",
        code.len()
    );
    let mut bytes = vec![0xFFu8; ROM_SIZE];
    bytes[..code.len()].copy_from_slice(&code);
    let entry: u16 = 0;
    // Reset vector: jmp far F000:entry.
    bytes[RESET_OFFSET] = 0xEA;
    bytes[RESET_OFFSET + 1..RESET_OFFSET + 3].copy_from_slice(&entry.to_le_bytes());
    bytes[RESET_OFFSET + 3..RESET_OFFSET + 5].copy_from_slice(&ROM_SEG.to_le_bytes());
    // BIOS date and model byte, as in a PC/AT BIOS.
    bytes[0xFFF5..0xFFFD].copy_from_slice(b"01/01/25");
    bytes[0xFFFD] = 0x00;
    bytes[0xFFFE] = 0xFC;
    bytes[CHECKSUM_OFFSET] = 0;
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    bytes[CHECKSUM_OFFSET] = sum.wrapping_neg();

    // Code ranges: [0, code.len()) minus data, merged.
    let mut ranges = Vec::new();
    let mut pos = 0;
    let mut data = data;
    data.sort_by_key(|r| r.start);
    for d in data {
        if d.start > pos {
            ranges.push(pos..d.start);
        }
        pos = pos.max(d.end);
    }
    if pos < code.len() {
        ranges.push(pos..code.len());
    }
    ranges.push(RESET_OFFSET..RESET_OFFSET + 5);
    RomImage {
        bytes,
        code: ranges,
        entry,
    }
}

impl Asm {
    /// Name of the ROM being built.
    pub fn name(&self) -> &'static str {
        self.name
    }

    // ----------------------------------------------------------------
    // Labels
    // ----------------------------------------------------------------

    /// Creates a label (same as [`CodeAssembler::create_label`]).
    #[must_use]
    pub fn create_label(&mut self) -> CodeLabel {
        self.ca.create_label()
    }

    /// Binds `label` to the current position. Any number of labels may be
    /// bound to the same position, and they may be followed by data.
    pub fn set_label(&mut self, label: &mut CodeLabel) -> R {
        self.ca.set_label(label)?;
        self.ca.zero_bytes()?;
        self.set.push(*label);
        Ok(())
    }

    /// Creates a label bound to the current position.
    pub fn here(&mut self) -> Result<CodeLabel, IcedError> {
        let mut l = self.create_label();
        self.set_label(&mut l)?;
        Ok(l)
    }

    /// Offset of `label` in the ROM segment (F000), as found by the
    /// previous pass. Before a label's address is known (first pass) this
    /// is a placeholder, [`PLACEHOLDER`], chosen so that small offsets added
    /// or subtracted in either direction do not overflow.
    pub fn addr(&mut self, label: &CodeLabel) -> u16 {
        match self.prev.get(label) {
            Some(ip) => *ip as u16,
            None => {
                self.missing = true;
                PLACEHOLDER
            }
        }
    }

    /// Linear address of `label` (0xF0000 + offset).
    pub fn linear(&mut self, label: &CodeLabel) -> u32 {
        ((ROM_SEG as u32) << 4) + self.addr(label) as u32
    }

    /// Emits a branch instruction with an explicit [`Code`] (e.g.
    /// `Code::Loop_rel8_16_ECX`, `Code::Jecxz_rel8_16`) to `label`.
    pub fn branch(&mut self, code: Code, label: &CodeLabel) -> R {
        let target = self.addr(label) as u64;
        self.ca
            .add_instruction(Instruction::with_branch(code, target)?)
    }

    /// `jmp far seg:label`.
    pub fn jmp_far_to(&mut self, seg: u16, label: &CodeLabel) -> R {
        let off = self.addr(label) as u32;
        self.ca.jmp_far(seg, off)
    }

    /// `call far seg:label`.
    pub fn call_far_to(&mut self, seg: u16, label: &CodeLabel) -> R {
        let off = self.addr(label) as u32;
        self.ca.call_far(seg, off)
    }

    /// `push dword imm32` (66 68 id): code_asm only pushes 16-bit
    /// immediates in 16-bit code.
    pub fn pushd(&mut self, imm: u32) -> R {
        self.ca
            .add_instruction(Instruction::with1(Code::Pushd_imm32, imm as i32)?)
    }

    /// Pads with NOPs so that the next instruction is at a multiple of
    /// `align` (a power of two).
    pub fn align(&mut self, align: u16) -> R {
        let l = self.here()?;
        let at = self.addr(&l);
        let pad = at.wrapping_neg() & (align - 1);
        for _ in 0..pad {
            self.ca.nop()?;
        }
        Ok(())
    }

    /// A label on a zero-terminated copy of `s` in the ROM's string pool.
    pub fn string(&mut self, s: &str) -> CodeLabel {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        if let Some(l) = self.string_ids.get(&bytes) {
            return *l;
        }
        let l = self.ca.create_label();
        self.string_ids.insert(bytes.clone(), l);
        self.strings.push((l, bytes));
        l
    }

    /// Emits `db` data bound to a new label and returns the label. Use it
    /// for tables inside the code stream; jump over it if needed.
    pub fn data(&mut self, bytes: &[u8]) -> Result<CodeLabel, IcedError> {
        let l = self.here()?;
        self.ca.db(bytes)?;
        Ok(l)
    }

    // ----------------------------------------------------------------
    // Reporting helpers (all preserve registers and flags)
    // ----------------------------------------------------------------

    /// Prints `s` to the debug console (port 0xE9).
    pub fn print(&mut self, s: &str) -> R {
        let l = self.string(s);
        let lo = self.addr(&l);
        let puts = self.rt.puts;
        self.pushf()?;
        self.push(si)?;
        self.mov(si, lo as u32)?;
        self.call_far_to(ROM_SEG, &puts)?;
        self.pop(si)?;
        self.popf()
    }

    /// Prints EAX's low `digits` (2, 4 or 8) hex digits.
    pub fn print_hex_eax(&mut self, digits: u16) -> R {
        let hex = self.rt.hex;
        self.pushf()?;
        self.push(cx)?;
        self.mov(cx, digits as u32)?;
        self.call_far_to(ROM_SEG, &hex)?;
        self.pop(cx)?;
        self.popf()
    }

    /// Writes a POST code to port 0x80.
    pub fn post(&mut self, code: u8) -> R {
        self.push(ax)?;
        self.mov(al, code as u32)?;
        self.out(PORT_POST as u32, al)?;
        self.pop(ax)
    }

    /// Unconditional failure: prints `FAIL <name>: <what>` and exits with 1.
    pub fn fail(&mut self, what: &str) -> R {
        let l = self.string(what);
        let lo = self.addr(&l);
        let f = self.rt.fail_msg;
        self.mov(si, lo as u32)?;
        self.jmp_far_to(ROM_SEG, &f)
    }

    /// Failure with values: EAX must hold the actual value. Prints
    /// `FAIL <name>: <what> expected <expected> got <EAX>` (`digits` hex
    /// digits each) and exits with 1.
    pub fn fail_value(&mut self, what: &str, expected: u32, digits: u16) -> R {
        self.mov(edx, expected)?;
        self.fail_eax_edx(what, digits)
    }

    /// Failure with values computed at run time: EAX = actual, EDX =
    /// expected. Prints like [`Asm::fail_value`].
    pub fn fail_eax_edx(&mut self, what: &str, digits: u16) -> R {
        let l = self.string(what);
        let lo = self.addr(&l);
        let f = self.rt.fail_value;
        self.mov(cx, digits as u32)?;
        self.mov(si, lo as u32)?;
        self.jmp_far_to(ROM_SEG, &f)
    }

    /// Checks that the 32-bit register `r` equals `expected` (ESP included).
    pub fn check32(&mut self, r: AsmRegister32, expected: u32, what: &str) -> R {
        let mut ok = self.create_label();
        // PUSHF below moves ESP by 2: compare with that in mind.
        let adj = if r == esp { 2 } else { 0 };
        self.pushf()?;
        self.cmp(r, expected.wrapping_sub(adj))?;
        self.je(ok)?;
        if r != eax {
            self.mov(eax, r)?;
        }
        if adj != 0 {
            self.add(eax, adj)?;
        }
        self.fail_value(what, expected, 8)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that the 16-bit register `r` equals `expected` (SP included).
    pub fn check16(&mut self, r: AsmRegister16, expected: u16, what: &str) -> R {
        let mut ok = self.create_label();
        // PUSHF below moves SP by 2: compare with that in mind.
        let adj = if r == sp { 2u16 } else { 0 };
        self.pushf()?;
        self.cmp(r, expected.wrapping_sub(adj) as u32)?;
        self.je(ok)?;
        self.movzx(eax, r)?;
        if adj != 0 {
            self.add(eax, adj as u32)?;
        }
        self.fail_value(what, expected as u32, 4)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that the 8-bit register `r` equals `expected`.
    pub fn check8(&mut self, r: AsmRegister8, expected: u8, what: &str) -> R {
        let mut ok = self.create_label();
        self.pushf()?;
        self.cmp(r, expected as u32)?;
        self.je(ok)?;
        self.movzx(eax, r)?;
        self.fail_value(what, expected as u32, 2)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that the dword at `m` equals `expected`.
    pub fn check_mem32(&mut self, m: AsmMemoryOperand, expected: u32, what: &str) -> R {
        let mut ok = self.create_label();
        self.pushf()?;
        self.cmp(dword_ptr(m), expected)?;
        self.je(ok)?;
        self.mov(eax, dword_ptr(m))?;
        self.fail_value(what, expected, 8)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that the word at `m` equals `expected`.
    pub fn check_mem16(&mut self, m: AsmMemoryOperand, expected: u16, what: &str) -> R {
        let mut ok = self.create_label();
        self.pushf()?;
        self.cmp(word_ptr(m), expected as u32)?;
        self.je(ok)?;
        self.movzx(eax, word_ptr(m))?;
        self.fail_value(what, expected as u32, 4)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that the byte at `m` equals `expected`.
    pub fn check_mem8(&mut self, m: AsmMemoryOperand, expected: u8, what: &str) -> R {
        let mut ok = self.create_label();
        self.pushf()?;
        self.cmp(byte_ptr(m), expected as u32)?;
        self.je(ok)?;
        self.movzx(eax, byte_ptr(m))?;
        self.fail_value(what, expected as u32, 2)?;
        self.set_label(&mut ok)?;
        self.popf()
    }

    /// Checks that `FLAGS & mask == expected` (see [`flags`]).
    pub fn check_flags(&mut self, mask: u16, expected: u16, what: &str) -> R {
        assert_eq!(
            expected & !mask,
            0,
            "check_flags({what}): expected outside mask"
        );
        let mut ok = self.create_label();
        self.pushf()?;
        self.push(bp)?;
        self.mov(bp, sp)?;
        self.push(ax)?;
        self.mov(ax, word_ptr(bp + 2))?;
        self.and(ax, mask as u32)?;
        self.cmp(ax, expected as u32)?;
        self.je(ok)?;
        self.movzx(eax, ax)?;
        self.fail_value(what, expected as u32, 4)?;
        self.set_label(&mut ok)?;
        self.pop(ax)?;
        self.pop(bp)?;
        self.popf()
    }

    /// Checks the six arithmetic flags (CF PF AF ZF SF OF) exactly.
    pub fn check_arith_flags(&mut self, expected: u16, what: &str) -> R {
        self.check_flags(flags::ARITH, expected, what)
    }

    /// Points interrupt vector `n` at `F000:handler` (writes the IVT at
    /// 0:4n). Preserves registers and flags.
    pub fn set_vector(&mut self, n: u8, handler: &CodeLabel) -> R {
        let off = self.addr(handler);
        self.set_vector_far(n, ROM_SEG, off)
    }

    /// Points interrupt vector `n` at `seg:off`.
    pub fn set_vector_far(&mut self, n: u8, seg: u16, off: u16) -> R {
        let slot = n as u32 * 4;
        self.push(ds)?;
        self.push(0)?;
        self.pop(ds)?;
        self.mov(word_ptr(slot), off as u32)?;
        self.mov(word_ptr(slot + 2), seg as u32)?;
        self.pop(ds)
    }

    /// Restores interrupt vector `n` to its default "unexpected
    /// interrupt" stub.
    pub fn reset_vector(&mut self, n: u8) -> R {
        let stubs = self.rt.stubs;
        let off = self.addr(&stubs).wrapping_add(4 * n as u16);
        self.set_vector_far(n, ROM_SEG, off)
    }

    // ----------------------------------------------------------------
    // Prologue and runtime
    // ----------------------------------------------------------------

    fn prologue(&mut self) -> R {
        self.cli()?;
        self.cld()?;
        self.mov(al, 0x01u32)?;
        self.out(PORT_POST as u32, al)?;
        self.xor(ax, ax)?;
        self.mov(ss, ax)?;
        self.mov(esp, STACK_TOP)?;
        self.mov(ds, ax)?;
        self.mov(es, ax)?;
        self.mov(fs, ax)?;
        self.mov(gs, ax)?;
        // Default IVT: vector n -> F000:stubs+4n.
        let stubs = self.rt.stubs;
        let s = self.addr(&stubs);
        self.xor(bx, bx)?;
        self.mov(ax, s as u32)?;
        let l = self.here()?;
        self.mov(word_ptr(bx), ax)?;
        self.mov(word_ptr(bx + 2), ROM_SEG as u32)?;
        self.add(ax, 4u32)?;
        self.add(bx, 4u32)?;
        self.cmp(bx, 0x400u32)?;
        self.jne(l)?;
        self.xor(eax, eax)?;
        self.xor(ebx, ebx)?;
        self.xor(ecx, ecx)?;
        self.xor(edx, edx)?;
        self.xor(esi, esi)?;
        self.xor(edi, edi)?;
        self.xor(ebp, ebp)?;
        self.mov(al, 0x02u32)?;
        self.out(PORT_POST as u32, al)?;
        self.xor(al, al)?;
        Ok(())
    }

    fn runtime(&mut self) -> R {
        let rt = self.rt;
        let name = self.name;

        // rt.puts: print the zero-terminated string at CS:SI. Far.
        let mut puts = rt.puts;
        self.set_label(&mut puts)?;
        self.pushf()?;
        self.push(ax)?;
        self.push(si)?;
        let lp = self.here()?;
        let mut done = self.create_label();
        self.mov(al, byte_ptr(si).cs())?;
        self.inc(si)?;
        self.test(al, al)?;
        self.jz(done)?;
        self.out(PORT_DEBUG as u32, al)?;
        self.jmp(lp)?;
        self.set_label(&mut done)?;
        self.pop(si)?;
        self.pop(ax)?;
        self.popf()?;
        self.retf()?;

        // rt.hex: print the low CX hex digits of EAX. Far.
        let mut hex = rt.hex;
        self.set_label(&mut hex)?;
        self.pushf()?;
        self.pushad()?;
        // Rotate the wanted digits to the top: eax <<<= (8 - cx) * 4.
        self.mov(bx, 8u32)?;
        self.sub(bx, cx)?;
        self.shl(bx, 2u32)?;
        self.xchg(cx, bx)?;
        self.rol(eax, cl)?;
        self.mov(cx, bx)?;
        let lp = self.here()?;
        let mut digit = self.create_label();
        self.rol(eax, 4u32)?;
        self.mov(dl, al)?;
        self.and(dl, 0x0Fu32)?;
        self.add(dl, b'0' as u32)?;
        self.cmp(dl, b'9' as u32)?;
        self.jbe(digit)?;
        self.add(dl, 7u32)?;
        self.set_label(&mut digit)?;
        self.push(ax)?;
        self.mov(al, dl)?;
        self.out(PORT_DEBUG as u32, al)?;
        self.pop(ax)?;
        self.dec(cx)?;
        self.jnz(lp)?;
        self.popad()?;
        self.popf()?;
        self.retf()?;

        // rt.fail_value: SI = message, EDX = expected, EAX = actual,
        // CX = digits. Jumped to (far).
        let mut fv = rt.fail_value;
        self.set_label(&mut fv)?;
        self.cli()?;
        self.mov(bx, 0u32)?;
        self.mov(ss, bx)?;
        self.mov(esp, FAIL_STACK as u32)?;
        self.print(&format!("FAIL {name}: "))?;
        self.call_far_to(ROM_SEG, &puts)?;
        self.print(" expected ")?;
        self.xchg(eax, edx)?;
        self.call_far_to(ROM_SEG, &hex)?;
        self.print(" got ")?;
        self.xchg(eax, edx)?;
        self.call_far_to(ROM_SEG, &hex)?;
        self.print("\n")?;
        self.exit(1)?;

        // rt.fail_msg: SI = message. Jumped to (far).
        let mut fm = rt.fail_msg;
        self.set_label(&mut fm)?;
        self.cli()?;
        self.mov(bx, 0u32)?;
        self.mov(ss, bx)?;
        self.mov(esp, FAIL_STACK as u32)?;
        self.print(&format!("FAIL {name}: "))?;
        self.call_far_to(ROM_SEG, &puts)?;
        self.print("\n")?;
        self.exit(1)?;

        // rt.pass.
        let mut pass = rt.pass;
        self.set_label(&mut pass)?;
        self.cli()?;
        self.mov(bx, 0u32)?;
        self.mov(ss, bx)?;
        self.mov(esp, FAIL_STACK as u32)?;
        self.print(&format!("PASS {name}\n"))?;
        self.exit(0)?;

        // rt.unexpected: reached by `call` from stub n (4 bytes each) with
        // the interrupt frame (IP, CS, FLAGS) above the return address.
        let mut un = rt.unexpected;
        self.set_label(&mut un)?;
        let stubs = rt.stubs;
        let s = self.addr(&stubs);
        self.pop(ax)?; // return address = stubs + 4n + 3
        self.sub(ax, (s as u32) + 3)?;
        self.shr(ax, 2u32)?;
        self.pop(bx)?; // IP
        self.pop(dx)?; // CS
        self.mov(cx, 0u32)?;
        self.mov(ss, cx)?;
        self.mov(esp, FAIL_STACK as u32)?;
        self.print(&format!("FAIL {name}: unexpected interrupt "))?;
        self.movzx(eax, ax)?;
        self.print_hex_eax(2)?;
        self.print(" at ")?;
        self.movzx(eax, dx)?;
        self.print_hex_eax(4)?;
        self.print(":")?;
        self.movzx(eax, bx)?;
        self.print_hex_eax(4)?;
        self.print("\n")?;
        self.exit(1)?;

        // 256 stubs of 4 bytes: call rt.unexpected ; nop.
        let mut st = rt.stubs;
        self.set_label(&mut st)?;
        for _ in 0..256 {
            self.call(un)?;
            self.nop()?;
        }
        Ok(())
    }

    /// Writes `code` to the exit port and halts forever.
    pub fn exit(&mut self, code: u8) -> R {
        self.mov(al, code as u32)?;
        self.out(PORT_EXIT as u32, al)?;
        self.cli()?;
        let l = self.here()?;
        self.hlt()?;
        self.jmp(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_rom_layout() {
        let img = build_rom("empty", |_a| Ok(()));
        assert_eq!(img.bytes.len(), ROM_SIZE);
        assert_eq!(
            &img.bytes[RESET_OFFSET..RESET_OFFSET + 5],
            &[0xEA, 0, 0, 0x00, 0xF0]
        );
        let sum = img.bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        assert_eq!(sum, 0);
    }

    #[test]
    fn labels_as_data_addresses() {
        use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};
        let img = build_rom("lbl", |a| {
            let mut table = a.create_label();
            let t = a.addr(&table);
            a.mov(di, t as u32)?;
            let mut over = a.create_label();
            a.jmp(over)?;
            a.set_label(&mut table)?;
            a.db(b"\x12\x34")?;
            a.set_label(&mut over)?;
            a.jmp_far_to(ROM_SEG, &table)
        });
        // The only `mov di, imm16` and the only far jump below the reset
        // vector both point at the table.
        let mut seen = 0;
        for r in &img.code {
            let mut d = Decoder::with_ip(
                16,
                &img.bytes[r.clone()],
                r.start as u64,
                DecoderOptions::NONE,
            );
            for ins in &mut d {
                let target = if ins.mnemonic() == Mnemonic::Mov
                    && ins.op0_register() == iced_x86::Register::DI
                    && ins.op1_kind() == OpKind::Immediate16
                {
                    ins.immediate16()
                } else if ins.mnemonic() == Mnemonic::Jmp
                    && ins.op0_kind() == OpKind::FarBranch16
                    && ins.ip() < RESET_OFFSET as u64
                {
                    assert_eq!(ins.far_branch_selector(), ROM_SEG);
                    ins.far_branch16()
                } else {
                    continue;
                };
                let t = target as usize;
                assert_eq!(&img.bytes[t..t + 2], &[0x12, 0x34]);
                seen += 1;
            }
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn placeholder_arithmetic_converges() {
        // Addresses used in arithmetic and in a NOP-padded alignment.
        let img = build_rom("align", |a| {
            a.nop()?;
            a.align(16)?;
            let l = a.here()?;
            let at = a.addr(&l);
            a.mov(ax, at.wrapping_sub(1) as u32)?;
            a.nop()
        });
        assert_eq!(img.bytes.len(), ROM_SIZE);
    }
}
