//! Catching exceptions in a ROM: handlers that record the interrupt frame
//! and resume at an address chosen by the test.
//!
//! [`install`] emits one small entry per vector (`push ax; mov al, n; jmp
//! common`) and a common part that stores, at fixed RAM addresses (always
//! through SS, which the ROMs keep at 0):
//!
//! | address  | contents                                         |
//! |----------|--------------------------------------------------|
//! | [`IP`]     | IP pushed by the CPU                           |
//! | [`CS`]     | CS pushed by the CPU                           |
//! | [`FLAGS`]  | FLAGS pushed by the CPU                        |
//! | [`COUNT`]  | number of exceptions taken (incremented)       |
//! | [`VECTOR`] | vector of the last exception (byte)            |
//! | [`HFLAGS`] | FLAGS seen inside the handler                  |
//!
//! and then replaces the pushed IP with the word at [`RESUME`] before
//! `IRET`, so execution continues where the test wants whether the
//! exception is a fault (IP at the instruction) or a trap (IP after it).
//! AX and all other registers are preserved.

use crate::builder::*;
use iced_x86::code_asm::*;

/// Recorded IP.
pub const IP: u32 = 0x5E0;
/// Recorded CS.
pub const CS: u32 = 0x5E2;
/// Recorded FLAGS image.
pub const FLAGS: u32 = 0x5E4;
/// Number of exceptions taken.
pub const COUNT: u32 = 0x5E6;
/// Vector of the last exception (byte).
pub const VECTOR: u32 = 0x5E8;
/// FLAGS inside the handler.
pub const HFLAGS: u32 = 0x5EA;
/// Where the handler resumes.
pub const RESUME: u32 = 0x5F0;

fn ssw(addr: u32) -> AsmMemoryOperand {
    word_ptr(addr).ss()
}

/// Emits the catching handlers (jumping over them) and points the given
/// vectors at them.
pub fn install(a: &mut Asm, vectors: &[u8]) -> R {
    let mut over = a.create_label();
    a.jmp(over)?;
    let mut common = a.create_label();
    let mut entries = Vec::new();
    for &v in vectors {
        let l = a.here()?;
        a.push(ax)?;
        a.mov(al, v as u32)?;
        a.jmp(common)?;
        entries.push((v, l));
    }
    a.set_label(&mut common)?;
    // Stack: [sp] = AX, [sp+2] = IP, [sp+4] = CS, [sp+6] = FLAGS.
    a.mov(byte_ptr(VECTOR).ss(), al)?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    // [bp] = BP, [bp+2] = AX, [bp+4] = IP, [bp+6] = CS, [bp+8] = FLAGS.
    a.mov(ax, word_ptr(bp + 4))?;
    a.mov(ssw(IP), ax)?;
    a.mov(ax, word_ptr(bp + 6))?;
    a.mov(ssw(CS), ax)?;
    a.mov(ax, word_ptr(bp + 8))?;
    a.mov(ssw(FLAGS), ax)?;
    a.pushf()?;
    a.pop(ax)?;
    a.mov(ssw(HFLAGS), ax)?;
    a.inc(ssw(COUNT))?;
    a.mov(ax, ssw(RESUME))?;
    a.mov(word_ptr(bp + 4), ax)?;
    a.pop(bp)?;
    a.pop(ax)?;
    a.iret()?;
    a.set_label(&mut over)?;
    for (v, l) in entries {
        a.set_vector(v, &l)?;
    }
    Ok(())
}

/// Whether the exception is a fault (pushed IP = the instruction) or a trap
/// (pushed IP = the next instruction).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Fault,
    Trap,
}

/// Runs `insn` (which must emit exactly the one instruction expected to
/// raise the exception) and checks that exactly one exception `vector` was
/// taken, with the right pushed CS:IP, and that IF and TF were clear in the
/// handler. Execution continues after the instruction.
pub fn expect(
    a: &mut Asm,
    what: &str,
    vector: u8,
    kind: Kind,
    insn: impl FnOnce(&mut Asm) -> R,
) -> R {
    let mut at = a.create_label();
    let mut resume = a.create_label();
    let r = a.addr(&resume);
    a.mov(ssw(COUNT), 0u32)?;
    a.mov(byte_ptr(VECTOR).ss(), 0xFFu32)?;
    a.mov(ssw(RESUME), r as u32)?;
    a.set_label(&mut at)?;
    insn(a)?;
    a.set_label(&mut resume)?;
    a.check_mem16(ssw(COUNT), 1, &format!("{what}: number of exceptions"))?;
    a.check_mem8(byte_ptr(VECTOR).ss(), vector, &format!("{what}: vector"))?;
    let ip = match kind {
        Kind::Fault => a.addr(&at),
        Kind::Trap => a.addr(&resume),
    };
    let which = match kind {
        Kind::Fault => "pushed IP (must be the faulting instruction)",
        Kind::Trap => "pushed IP (must be the next instruction)",
    };
    a.check_mem16(ssw(IP), ip, &format!("{what}: {which}"))?;
    a.check_mem16(ssw(CS), ROM_SEG, &format!("{what}: pushed CS"))?;
    a.push(ax)?;
    a.mov(ax, ssw(HFLAGS))?;
    a.and(ax, 0x0300u32)?;
    a.check16(ax, 0, &format!("{what}: IF/TF inside the handler"))?;
    a.pop(ax)
}

/// Runs `insn` and checks that it raised no exception.
pub fn expect_none(a: &mut Asm, what: &str, insn: impl FnOnce(&mut Asm) -> R) -> R {
    let mut resume = a.create_label();
    let r = a.addr(&resume);
    a.mov(ssw(COUNT), 0u32)?;
    a.mov(ssw(RESUME), r as u32)?;
    insn(a)?;
    a.set_label(&mut resume)?;
    a.check_mem16(
        ssw(COUNT),
        0,
        &format!("{what}: must not raise an exception"),
    )
}
