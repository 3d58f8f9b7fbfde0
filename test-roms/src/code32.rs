//! 32-bit code sections for ROMs that enter protected mode.
//!
//! The ROM body itself is 16-bit code (see [`crate::builder`]); a ROM that
//! runs 32-bit code assembles it separately with [`assemble32`] for a fixed
//! load address, embeds the bytes in the ROM with `db` and copies them to
//! RAM before jumping there with a flat 32-bit code segment.
//!
//! [`Asm32`] mirrors [`crate::builder::Asm`]: it derefs to a 32-bit
//! [`CodeAssembler`], the body closure is run until label addresses
//! converge (so [`Asm32::addr`] gives a label's linear address, usable as
//! an immediate), and it carries its own small runtime, appended after the
//! body, that reports through the same ports and in the same format as the
//! 16-bit one:
//!
//! * [`Asm32::print`] prints to port 0xE9;
//! * [`Asm32::fail`] and the `check*` helpers print
//!   `FAIL <name>: <what> [expected X got Y]` and write 1 to the exit port.
//!   They must run at CPL 0 (they use `OUT` and `CLI`), with SS a flat
//!   writable segment; strings are read through CS, which must be flat.
//! * [`Asm32::stub`] is the address of a handler for vector `n` that prints
//!   `FAIL <name>: unexpected exception 000000VV, stack: A B C D` (the four
//!   dwords on top of the handler's stack: error code, EIP, CS, EFLAGS for
//!   the exceptions that push an error code, else EIP, CS, EFLAGS and what
//!   lies above) and exits with 1. It is meant for every IDT gate the ROM
//!   does not handle.
//!
//! The body must not fall off its end (a failure is reported if it does).

use crate::builder::{PORT_DEBUG, PORT_EXIT, R};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

/// Size of each exception stub (a `call` padded with NOPs).
const STUB_SIZE: u32 = 8;

/// Labels of the 32-bit runtime routines.
#[derive(Clone, Copy)]
struct Runtime32 {
    puts: CodeLabel,
    hex: CodeLabel,
    fail_value: CodeLabel,
    fail_msg: CodeLabel,
    stubs: CodeLabel,
}

/// The assembler handed to a 32-bit section. Derefs to [`CodeAssembler`].
pub struct Asm32 {
    ca: CodeAssembler,
    name: &'static str,
    prev: HashMap<CodeLabel, u64>,
    set: Vec<CodeLabel>,
    missing: bool,
    strings: Vec<(CodeLabel, Vec<u8>)>,
    string_ids: HashMap<Vec<u8>, CodeLabel>,
    rt: Runtime32,
}

impl Deref for Asm32 {
    type Target = CodeAssembler;
    fn deref(&self) -> &CodeAssembler {
        &self.ca
    }
}

impl DerefMut for Asm32 {
    fn deref_mut(&mut self) -> &mut CodeAssembler {
        &mut self.ca
    }
}

/// Assembles the 32-bit section `body` of ROM `name` to run at linear
/// address `base` (with a flat CS). Returns the bytes: the body, then the
/// runtime and string pool.
pub fn assemble32<F>(name: &'static str, base: u32, body: F) -> Result<Vec<u8>, IcedError>
where
    F: Fn(&mut Asm32) -> R,
{
    let mut prev = HashMap::new();
    for _pass in 0..16 {
        let mut ca = CodeAssembler::new(32)?;
        let rt = Runtime32 {
            puts: ca.create_label(),
            hex: ca.create_label(),
            fail_value: ca.create_label(),
            fail_msg: ca.create_label(),
            stubs: ca.create_label(),
        };
        let mut a = Asm32 {
            ca,
            name,
            prev,
            set: Vec::new(),
            missing: false,
            strings: Vec::new(),
            string_ids: HashMap::new(),
            rt,
        };
        body(&mut a)?;
        a.fail("fell off the end of the 32-bit code")?;
        a.runtime()?;
        for (mut l, s) in std::mem::take(&mut a.strings) {
            a.set_label(&mut l)?;
            a.db(&s)?;
        }
        let result = a.ca.assemble_options(
            base as u64,
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )?;
        let mut addrs = HashMap::new();
        for l in &a.set {
            addrs.insert(*l, result.label_ip(l)?);
        }
        if addrs == a.prev && !a.missing {
            return Ok(result.inner.code_buffer);
        }
        prev = addrs;
    }
    panic!("ROM {name}: 32-bit label addresses did not converge (or a label is never set)");
}

impl Asm32 {
    /// Creates a label.
    #[must_use]
    pub fn create_label(&mut self) -> CodeLabel {
        self.ca.create_label()
    }

    /// Binds `label` to the current position (several labels may share a
    /// position, and data may follow).
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

    /// Linear address of `label` as found by the previous pass (a
    /// placeholder, 0x8000_0000, before it is known).
    pub fn addr(&mut self, label: &CodeLabel) -> u32 {
        match self.prev.get(label) {
            Some(ip) => *ip as u32,
            None => {
                self.missing = true;
                0x8000_0000
            }
        }
    }

    /// Linear address of the "unexpected exception" handler for `vector`.
    pub fn stub(&mut self, vector: u8) -> u32 {
        let stubs = self.rt.stubs;
        self.addr(&stubs) + STUB_SIZE * vector as u32
    }

    fn string(&mut self, s: &str) -> CodeLabel {
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

    /// Prints `s` to the debug console. Preserves registers and flags.
    pub fn print(&mut self, s: &str) -> R {
        let l = self.string(s);
        let at = self.addr(&l);
        let puts = self.rt.puts;
        self.push(esi)?;
        self.mov(esi, at)?;
        self.call(puts)?;
        self.pop(esi)
    }

    /// Unconditional failure: prints `FAIL <name>: <what>` and exits with 1.
    pub fn fail(&mut self, what: &str) -> R {
        let l = self.string(what);
        let at = self.addr(&l);
        let f = self.rt.fail_msg;
        self.mov(esi, at)?;
        self.jmp(f)
    }

    /// Failure with values: EAX = actual, EDX = expected.
    fn fail_eax_edx(&mut self, what: &str) -> R {
        let l = self.string(what);
        let at = self.addr(&l);
        let f = self.rt.fail_value;
        self.mov(esi, at)?;
        self.jmp(f)
    }

    /// Checks that the 32-bit register `r` (not ESP) equals `expected`.
    /// Preserves registers and flags when it passes.
    pub fn check32(&mut self, r: AsmRegister32, expected: u32, what: &str) -> R {
        assert_ne!(r, esp, "check32({what}): ESP moves under PUSHFD");
        let mut ok = self.create_label();
        self.pushfd()?;
        self.cmp(r, expected)?;
        self.je(ok)?;
        self.mov(eax, r)?;
        self.mov(edx, expected)?;
        self.fail_eax_edx(what)?;
        self.set_label(&mut ok)?;
        self.popfd()
    }

    /// Checks that the dword at `m` equals `expected`. Preserves registers
    /// and flags when it passes.
    pub fn check_mem32(&mut self, m: AsmMemoryOperand, expected: u32, what: &str) -> R {
        let mut ok = self.create_label();
        self.pushfd()?;
        self.cmp(dword_ptr(m), expected)?;
        self.je(ok)?;
        self.mov(eax, dword_ptr(m))?;
        self.mov(edx, expected)?;
        self.fail_eax_edx(what)?;
        self.set_label(&mut ok)?;
        self.popfd()
    }

    /// Writes `code` to the exit port and halts forever.
    fn exit(&mut self, code: u8) -> R {
        self.mov(al, code as u32)?;
        self.out(PORT_EXIT as u32, al)?;
        self.cli()?;
        let l = self.here()?;
        self.hlt()?;
        self.jmp(l)
    }

    fn runtime(&mut self) -> R {
        let rt = self.rt;
        let name = self.name;

        // rt.puts: print the zero-terminated string at CS:ESI. Near.
        let mut puts = rt.puts;
        self.set_label(&mut puts)?;
        self.pushfd()?;
        self.push(eax)?;
        self.push(esi)?;
        let lp = self.here()?;
        let mut done = self.create_label();
        self.mov(al, byte_ptr(esi).cs())?;
        self.inc(esi)?;
        self.test(al, al)?;
        self.jz(done)?;
        self.out(PORT_DEBUG as u32, al)?;
        self.jmp(lp)?;
        self.set_label(&mut done)?;
        self.pop(esi)?;
        self.pop(eax)?;
        self.popfd()?;
        self.ret()?;

        // rt.hex: print EAX as 8 hex digits. Near; preserves everything.
        let mut hex = rt.hex;
        self.set_label(&mut hex)?;
        self.pushfd()?;
        self.pushad()?;
        self.mov(ecx, 8u32)?;
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
        self.xchg(al, dl)?;
        self.out(PORT_DEBUG as u32, al)?;
        self.xchg(al, dl)?;
        self.dec(ecx)?;
        self.jnz(lp)?;
        self.popad()?;
        self.popfd()?;
        self.ret()?;

        // rt.fail_value: ESI = message, EDX = expected, EAX = actual.
        let mut fv = rt.fail_value;
        self.set_label(&mut fv)?;
        self.cli()?;
        self.print(&format!("FAIL {name}: "))?;
        self.call(puts)?;
        self.print(" expected ")?;
        self.xchg(eax, edx)?;
        self.call(hex)?;
        self.print(" got ")?;
        self.xchg(eax, edx)?;
        self.call(hex)?;
        self.print("\n")?;
        self.exit(1)?;

        // rt.fail_msg: ESI = message.
        let mut fm = rt.fail_msg;
        self.set_label(&mut fm)?;
        self.cli()?;
        self.print(&format!("FAIL {name}: "))?;
        self.call(puts)?;
        self.print("\n")?;
        self.exit(1)?;

        // Unexpected exceptions: reached by `call` from stub n, with the
        // exception frame above the return address.
        let mut unexpected = self.create_label();
        self.set_label(&mut unexpected)?;
        let stubs_at = self.addr(&rt.stubs);
        self.pop(eax)?; // stubs + STUB_SIZE * n + 5
        self.sub(eax, stubs_at + 5)?;
        self.shr(eax, STUB_SIZE.trailing_zeros())?;
        self.print(&format!("FAIL {name}: unexpected exception "))?;
        self.call(hex)?;
        self.print(", stack:")?;
        for i in 0..4 {
            self.print(" ")?;
            self.mov(eax, dword_ptr(esp + 4 * i))?;
            self.call(hex)?;
        }
        self.print("\n")?;
        self.exit(1)?;

        let mut st = rt.stubs;
        self.set_label(&mut st)?;
        for _ in 0..256 {
            self.call(unexpected)?;
            for _ in 5..STUB_SIZE {
                self.nop()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    use std::cell::Cell;

    #[test]
    fn labels_and_stubs_resolve() {
        let base = 0x2_0000;
        let stub = Cell::new(0);
        let code = assemble32("t", base, |c| {
            // A forward label as an immediate.
            let mut data = c.create_label();
            let at = c.addr(&data);
            c.mov(esi, at)?;
            c.set_label(&mut data)?;
            c.db(b"\x5A\xA5")?;
            stub.set(c.stub(0x0D));
            Ok(())
        })
        .unwrap();
        let decode = |at: u32| {
            let off = (at - base) as usize;
            Decoder::with_ip(32, &code[off..], at as u64, DecoderOptions::NONE).decode()
        };
        let mov = decode(base);
        assert_eq!(mov.mnemonic(), Mnemonic::Mov);
        let target = mov.immediate32();
        assert_eq!(target, base + mov.len() as u32);
        let off = (target - base) as usize;
        assert_eq!(&code[off..off + 2], b"\x5A\xA5");
        // Stub 0Dh is a call into the common "unexpected" code.
        assert_eq!(decode(stub.get()).mnemonic(), Mnemonic::Call);
        assert_eq!(
            decode(stub.get() + STUB_SIZE).mnemonic(),
            Mnemonic::Call,
            "stubs are STUB_SIZE bytes apart"
        );
    }
}
