//! The emulated side: one [`Cpu`] in flat 32-bit protected mode, reused for
//! every case of a seed.
//!
//! Memory map (linear = physical, no paging): GDT at 0x1000, IDT at 0x2000
//! with every vector pointing at its own HLT at 0x3000 + 4·vector (so an
//! exception is identified by where the CPU halted), the FRSTOR/FNSAVE images
//! at 0x5000/0x5100, the code at 0x8000 — or, for a quarter of the cases,
//! placed to straddle the page boundary at 0x9000, so that fetching across
//! pages is exercised too — and the scratch area where the seed puts it (the
//! same linear address as on the host).

use super::{Case, Outcome, FPU_IMAGE, SCRATCH_LEN, TRACKED_FLAGS};
use emu_core::cpu::{cr0, Segment};
use emu_core::{Cpu, NullBus, RunExit};

const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const HANDLERS: u32 = 0x3000;
const FPU_IN: u32 = 0x5000;
const FPU_OUT: u32 = 0x5100;
const CODE: u32 = 0x8000;
/// A page boundary for code to straddle.
const CODE_PAGE_END: u32 = 0x9000;
const CODE_SEL: u16 = 0x08;
const DATA_SEL: u16 = 0x10;

// Segment attribute bits (descriptor bytes 5 and 6, as emu-core keeps them).
const ACCESSED: u16 = 1 << 0;
const RW: u16 = 1 << 1;
const CODE_SEG: u16 = 1 << 3;
const S: u16 = 1 << 4;
const P: u16 = 1 << 7;
const DB: u16 = 1 << 14;
const G: u16 = 1 << 15;

/// The emulated machine for one seed.
pub struct Ferrite {
    cpu: Cpu,
    scratch: u32,
    /// The tables may have been overwritten (an exception pushed a frame
    /// somewhere): rebuild them before the next case.
    dirty: bool,
}

impl Ferrite {
    pub fn new(scratch: u32) -> Ferrite {
        let ram = (scratch as usize + SCRATCH_LEN + 0x1000).next_multiple_of(1 << 20);
        let mut f = Ferrite {
            cpu: Cpu::new(ram),
            scratch,
            dirty: true,
        };
        f.setup();
        f
    }

    /// Flat protected mode at CPL 0, with the GDT and IDT in memory.
    fn setup(&mut self) {
        let cpu = &mut self.cpu;
        cpu.reset();
        let mut gdt = [0u8; 24];
        gdt[8..16].copy_from_slice(&0x00CF_9B00_0000_FFFFu64.to_le_bytes());
        gdt[16..24].copy_from_slice(&0x00CF_9300_0000_FFFFu64.to_le_bytes());
        cpu.mem.write_bytes(GDT, &gdt);
        cpu.gdtr.base = GDT;
        cpu.gdtr.limit = gdt.len() as u32 - 1;
        let mut idt = Vec::with_capacity(256 * 8);
        for v in 0..256u32 {
            let handler = HANDLERS + 4 * v;
            let lo = (handler & 0xFFFF) | ((CODE_SEL as u32) << 16);
            let hi = (handler & 0xFFFF_0000) | 0x8E00; // present 32-bit interrupt gate, DPL 0
            idt.extend_from_slice(&lo.to_le_bytes());
            idt.extend_from_slice(&hi.to_le_bytes());
        }
        cpu.mem.write_bytes(IDT, &idt);
        cpu.idtr.base = IDT;
        cpu.idtr.limit = idt.len() as u32 - 1;
        cpu.mem.write_bytes(HANDLERS, &[0xF4; 256 * 4]);
        cpu.cr0 |= cr0::PE | cr0::NE | cr0::ET;
        cpu.cr0 &= !(cr0::EM | cr0::TS | cr0::MP);
        cpu.cpl = 0;
        self.dirty = false;
    }

    fn load_segments(&mut self) {
        for (i, s) in self.cpu.segs.iter_mut().enumerate() {
            *s = if i == 1 {
                Segment {
                    selector: CODE_SEL,
                    base: 0,
                    limit: 0xFFFF_FFFF,
                    attr: P | S | CODE_SEG | RW | ACCESSED | DB | G,
                }
            } else {
                Segment {
                    selector: DATA_SEL,
                    base: 0,
                    limit: 0xFFFF_FFFF,
                    attr: P | S | RW | ACCESSED | DB | G,
                }
            };
        }
    }

    /// Runs `code` (followed by HLT) from CODE with the given state; returns
    /// `None` if it ran to the HLT, or what went wrong.
    fn execute(&mut self, code: &[u8], regs: [u32; 8], eflags: u32) -> Option<String> {
        if self.dirty {
            self.setup();
        }
        self.load_segments();
        // FNV-1a of the code decides, deterministically, whether it straddles
        // a page boundary and where.
        let hash = code.iter().fold(0x811C_9DC5u32, |h, &b| {
            (h ^ b as u32).wrapping_mul(0x0100_0193)
        });
        let start = if hash % 4 == 0 {
            CODE_PAGE_END - 1 - (hash >> 8) % code.len() as u32
        } else {
            CODE
        };
        let cpu = &mut self.cpu;
        cpu.mem.write_bytes(start, code);
        cpu.mem.write_bytes(start + code.len() as u32, &[0xF4]);
        cpu.regs = regs;
        cpu.eip = start;
        cpu.set_eflags(eflags & TRACKED_FLAGS);
        cpu.halted = false;
        cpu.shutdown = false;
        let end = start + code.len() as u32 + 1;
        let exit = cpu.run(&mut NullBus, 100_000);
        let fault = match exit {
            RunExit::Halted if cpu.eip == end => None,
            RunExit::Halted
                if cpu.eip > HANDLERS
                    && cpu.eip <= HANDLERS + 256 * 4
                    && (cpu.eip - HANDLERS - 1).is_multiple_of(4) =>
            {
                let v = (cpu.eip - HANDLERS - 1) / 4;
                Some(format!("exception {} (vector {v})", vector_name(v)))
            }
            RunExit::Halted => Some(format!("halted at an unexpected EIP {:08x}", cpu.eip)),
            RunExit::Shutdown => Some(
                "exception, then shutdown (no protected-mode delivery: the instruction faulted)"
                    .into(),
            ),
            RunExit::InstructionLimit => {
                Some(format!("did not reach the HLT (EIP {:08x})", cpu.eip))
            }
            RunExit::BusRequest => Some("stopped on a bus request".into()),
        };
        if fault.is_some() {
            self.dirty = true;
        }
        fault
    }

    /// Checks that ferrite can run the x87 harness: FNINIT, FRSTOR and FNSAVE.
    pub fn probe_fpu(&mut self) -> Result<(), String> {
        let mut img = [0u8; FPU_IMAGE];
        img[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        img[8..10].copy_from_slice(&0xFFFFu16.to_le_bytes());
        self.cpu.mem.write_bytes(FPU_IN, &img);
        if let Some(f) = self.execute(&[0xDB, 0xE3], [0; 8], 0) {
            return Err(format!("FNINIT: {f}"));
        }
        let code = x87_wrap(&[0xD9, 0xE8]); // FLD1 between FRSTOR and FNSAVE
        if let Some(f) = self.execute(&code, [0; 8], 0) {
            return Err(format!("FRSTOR; FLD1; FNSAVE: {f}"));
        }
        Ok(())
    }

    /// Runs `case` on ferrite.
    pub fn run(&mut self, case: &Case) -> Outcome {
        let code;
        let bytes = if case.fpu.is_some() {
            code = x87_wrap(&case.bytes);
            &code[..]
        } else {
            &case.bytes[..]
        };
        if let Some(img) = &case.fpu {
            self.cpu.mem.write_bytes(FPU_IN, img);
            self.cpu.mem.write_bytes(FPU_OUT, &[0; FPU_IMAGE]);
        }
        self.cpu.mem.write_bytes(self.scratch, &case.mem);
        let fault = self.execute(bytes, case.regs, case.eflags);
        let cpu = &mut self.cpu;
        let mut mem = [0u8; SCRATCH_LEN];
        cpu.mem.read_bytes(self.scratch, &mut mem);
        let fpu = case.fpu.map(|_| {
            let mut img = [0u8; FPU_IMAGE];
            cpu.mem.read_bytes(FPU_OUT, &mut img);
            img
        });
        Outcome {
            regs: cpu.regs,
            eflags: cpu.eflags() & TRACKED_FLAGS,
            mem,
            fpu,
            fault,
        }
    }
}

/// FRSTOR [FPU_IN]; the instruction; FNSAVE [FPU_OUT].
fn x87_wrap(insn: &[u8]) -> Vec<u8> {
    let mut code = vec![0xDD, 0x25];
    code.extend_from_slice(&FPU_IN.to_le_bytes());
    code.extend_from_slice(insn);
    code.extend_from_slice(&[0xDD, 0x35]);
    code.extend_from_slice(&FPU_OUT.to_le_bytes());
    code
}

fn vector_name(v: u32) -> &'static str {
    const NAMES: [&str; 20] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS",
        "#GP", "#PF", "?", "#MF", "#AC", "#MC", "#XM",
    ];
    NAMES.get(v as usize).copied().unwrap_or("?")
}
