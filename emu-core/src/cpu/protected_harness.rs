//! Test builders: descriptors, tables and a small protected-mode machine.

use crate::cpu::segment::sys;
use crate::cpu::segment::Descriptor;
use crate::cpu::{cr0, reg, Cpu, DescriptorTable, SegReg};
use iced_x86::code_asm::{ebx, CodeAssembler};

pub const GDT: u32 = 0x1000;
pub const IDT: u32 = 0x2000;
pub const TSS: u32 = 0x3000;

/// GDT slots of [`Machine::new`].
pub const CODE0: u16 = 0x08;
pub const DATA0: u16 = 0x10;
pub const CODE3: u16 = 0x18 | 3;
pub const DATA3: u16 = 0x20 | 3;
pub const TSS_SEL: u16 = 0x28;
/// Free GDT slots for a test's own descriptors.
pub const FREE: u16 = 0x30;

/// A code/data descriptor: `typ` is the 4-bit type, `big` the D/B bit;
/// the limit is in 4 KiB pages when `pages`.
pub fn seg(base: u32, limit: u32, typ: u8, dpl: u8, big: bool, pages: bool) -> Descriptor {
    let lo = (limit & 0xFFFF) | (base << 16);
    let hi = ((base >> 16) & 0xFF)
        | (base & 0xFF00_0000)
        | (limit & 0xF_0000)
        | (typ as u32) << 8
        | 1 << 12
        | (dpl as u32) << 13
        | 1 << 15
        | (big as u32) << 22
        | (pages as u32) << 23;
    Descriptor { lo, hi }
}

/// A flat 4 GiB 32-bit code segment (execute/read) at `dpl`.
pub fn code(dpl: u8) -> Descriptor {
    seg(0, 0xFFFFF, 0xA, dpl, true, true)
}

/// A flat 4 GiB 32-bit data segment (read/write) at `dpl`.
pub fn data(dpl: u8) -> Descriptor {
    seg(0, 0xFFFFF, 0x2, dpl, true, true)
}

/// A system descriptor (TSS, LDT) of type `typ`.
pub fn system(base: u32, limit: u32, typ: u8, dpl: u8) -> Descriptor {
    let mut d = seg(base, limit, typ, dpl, false, false);
    d.hi &= !(1 << 12);
    d
}

/// A gate: call gate (params used), interrupt/trap gate or task gate.
pub fn gate(typ: u8, selector: u16, offset: u32, dpl: u8, params: u8) -> Descriptor {
    Descriptor {
        lo: (offset & 0xFFFF) | (selector as u32) << 16,
        hi: (offset & 0xFFFF_0000)
            | (params as u32 & 0x1F)
            | (typ as u32) << 8
            | (dpl as u32) << 13
            | 1 << 15,
    }
}

/// Assembles 32-bit code for address `at`.
pub fn asm32(at: u32, f: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).expect("bitness");
    f(&mut a);
    a.assemble(at as u64).expect("assembles")
}

/// Assembles 16-bit code for offset `at`.
pub fn asm16(at: u32, f: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(16).expect("bitness");
    f(&mut a);
    a.assemble(at as u64).expect("assembles")
}

/// `jmp far sel:off` (32-bit operand size).
pub fn jmp_far(sel: u16, off: u32) -> Vec<u8> {
    let mut v = vec![0xEA];
    v.extend_from_slice(&off.to_le_bytes());
    v.extend_from_slice(&sel.to_le_bytes());
    v
}

/// `call far sel:off` (32-bit operand size).
pub fn call_far(sel: u16, off: u32) -> Vec<u8> {
    let mut v = vec![0x9A];
    v.extend_from_slice(&off.to_le_bytes());
    v.extend_from_slice(&sel.to_le_bytes());
    v
}

/// A CPU in protected mode at CPL 0 with a flat GDT (ring-0 and ring-3
/// code and data), an empty IDT with room for 256 gates, and a 32-bit
/// TSS loaded in TR whose ring-0 stack is DATA0:`0x9000`.
pub struct Machine {
    pub cpu: Cpu,
}

impl Machine {
    pub fn new() -> Machine {
        let mut m = Machine {
            cpu: Cpu::new(4 << 20),
        };
        m.cpu.gdtr = DescriptorTable {
            base: GDT,
            limit: 0x100 * 8 - 1,
        };
        m.cpu.idtr = DescriptorTable {
            base: IDT,
            limit: 256 * 8 - 1,
        };
        m.cpu.cr0 |= cr0::PE;
        m.set_gdt(CODE0, code(0));
        m.set_gdt(DATA0, data(0));
        m.set_gdt(CODE3, code(3));
        m.set_gdt(DATA3, data(3));
        m.set_gdt(TSS_SEL, system(TSS, 0x67 + 0x2000 / 8 + 32 + 1, 0xB, 0));
        // Ring-0 stack in the TSS; I/O map base past the interrupt
        // redirection bitmap (32 bytes at 0x68).
        m.cpu.mem.write_bytes(TSS + 4, &0x9000u32.to_le_bytes());
        m.cpu
            .mem
            .write_bytes(TSS + 8, &(DATA0 as u32).to_le_bytes());
        m.cpu.mem.write_bytes(TSS + 0x66, &0x88u16.to_le_bytes());
        m.cpu.tr = system(TSS, 0x67 + 0x2000 / 8 + 32 + 1, 0xB, 0).segment(TSS_SEL);
        m.enter(CODE0, DATA0, 0x8000);
        m
    }

    /// Writes descriptor `sel` of the GDT.
    pub fn set_gdt(&mut self, sel: u16, d: Descriptor) {
        let at = GDT + (sel & !7) as u32;
        self.cpu.mem.write_bytes(at, &d.lo.to_le_bytes());
        self.cpu.mem.write_bytes(at + 4, &d.hi.to_le_bytes());
    }

    /// Reads descriptor `sel` of the GDT.
    pub fn gdt(&mut self, sel: u16) -> Descriptor {
        let at = GDT + (sel & !7) as u32;
        Descriptor {
            lo: self.read32(at),
            hi: self.read32(at + 4),
        }
    }

    /// Writes IDT gate `vector`.
    pub fn set_idt(&mut self, vector: u8, d: Descriptor) {
        let at = IDT + vector as u32 * 8;
        self.cpu.mem.write_bytes(at, &d.lo.to_le_bytes());
        self.cpu.mem.write_bytes(at + 4, &d.hi.to_le_bytes());
    }

    pub fn read32(&mut self, at: u32) -> u32 {
        let mut b = [0; 4];
        self.cpu.mem.read_bytes(at, &mut b);
        u32::from_le_bytes(b)
    }

    pub fn write32(&mut self, at: u32, v: u32) {
        self.cpu.mem.write_bytes(at, &v.to_le_bytes());
    }

    /// Loads CS, and SS/DS/ES/FS/GS with `data`, straight from the GDT
    /// (as if by far jumps), with ESP = `esp`.
    pub fn enter(&mut self, cs: u16, data: u16, esp: u32) {
        let c = self.gdt(cs).segment(cs);
        self.cpu.segs[SegReg::CS as usize] = c;
        self.cpu.cpl = (cs & 3) as u8;
        let d = self.gdt(data).segment(data);
        for s in [SegReg::SS, SegReg::DS, SegReg::ES, SegReg::FS, SegReg::GS] {
            self.cpu.segs[s as usize] = d;
        }
        self.cpu.regs[reg::ESP] = esp;
    }

    /// Places code at `at` and starts there.
    pub fn code_at(&mut self, at: u32, bytes: &[u8]) {
        self.cpu.mem.write_bytes(at, bytes);
    }

    pub fn start(&mut self, eip: u32) {
        self.cpu.eip = eip;
        self.cpu.halted = false;
    }

    /// Runs until HLT (which must come, at CPL 0).
    pub fn run(&mut self) {
        let exit = self.cpu.run(&mut crate::NullBus, 10_000);
        assert_eq!(
            exit,
            crate::cpu::RunExit::Halted,
            "stopped at {:04x}:{:08x}",
            self.cpu.segs[SegReg::CS as usize].selector,
            self.cpu.eip
        );
    }

    /// The dword at SS:ESP + `n` * 4.
    pub fn stack(&mut self, n: u32) -> u32 {
        let at = self.cpu.segs[SegReg::SS as usize].base + self.cpu.regs[reg::ESP] + 4 * n;
        self.read32(at)
    }

    /// Points IDT `vector` at a ring-0 interrupt gate to code at `at` that
    /// pops the error code into EBX and halts.
    pub fn error_handler(&mut self, vector: u8, at: u32) {
        let code = asm32(at, |a| {
            a.pop(ebx).unwrap();
            a.hlt().unwrap();
        });
        self.code_at(at, &code);
        self.set_idt(vector, gate(sys::INT_GATE32, CODE0, at, 0, 0));
    }

    /// Fills a 32-bit TSS at `base` for a task starting at `cs:eip` with
    /// SS = DS = ES = FS = GS = `data`, ESP = `esp` and EFLAGS = `eflags`.
    pub fn tss32(&mut self, base: u32, cs: u16, eip: u32, data: u16, esp: u32, eflags: u32) {
        self.cpu.mem.write_bytes(base, &[0; 0x68]);
        self.write32(base + 0x20, eip);
        self.write32(base + 0x24, eflags);
        self.write32(base + 0x38, esp);
        for n in 0..6 {
            let sel = if n == 1 { cs } else { data };
            self.write32(base + 0x48 + 4 * n, sel as u32);
        }
        self.write32(base + 0x66, 0x68 << 16);
    }
}
