//! The x86 CPU: architectural state and the run loop.
//!
//! Execution is by basic blocks: [`block`] decodes straight-line code once with
//! iced-x86 and lowers each instruction ([`decode`]) to an [`Op`]: a handler
//! function plus pre-resolved operands. The run loop looks up the block for the
//! current physical EIP, runs its ops one after another, and checks for
//! interrupts and device events only between blocks. See
//! `emu-core/ARCHITECTURE.md` for the whole picture.

mod block;
mod debug;
mod decode;
pub mod exception;
pub mod flags;
mod mmu;
mod ops;
mod paging;
mod protected;
mod segment;
mod task;
#[cfg(test)]
mod testing;
mod transfer;
pub mod x87;

pub use block::BlockCache;
pub use decode::Op;
pub use exception::{Exception, Result};
pub use segment::{DescriptorTable, Segment};

use crate::bus::Bus;
use crate::memory::Memory;
use flags::LazyFlags;
use serde::{Deserialize, Serialize};

/// The segment registers, numbered as in the instruction encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum SegReg {
    ES = 0,
    CS = 1,
    SS = 2,
    DS = 3,
    FS = 4,
    GS = 5,
}

impl SegReg {
    /// All six, in encoding order.
    pub const ALL: [SegReg; 6] = [
        SegReg::ES,
        SegReg::CS,
        SegReg::SS,
        SegReg::DS,
        SegReg::FS,
        SegReg::GS,
    ];

    /// The register with encoding `n` (0..=5).
    pub fn from_index(n: u8) -> Option<SegReg> {
        SegReg::ALL.get(n as usize).copied()
    }
}

/// General-register indices in encoding order.
pub mod reg {
    pub const EAX: usize = 0;
    pub const ECX: usize = 1;
    pub const EDX: usize = 2;
    pub const EBX: usize = 3;
    pub const ESP: usize = 4;
    pub const EBP: usize = 5;
    pub const ESI: usize = 6;
    pub const EDI: usize = 7;
}

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget is spent.
    InstructionLimit,
    /// HLT with nothing to wake the CPU before the budget ran out; the board
    /// decides whether an event will come.
    Halted,
    /// The bus asked to stop (a device needs the board's attention now).
    BusRequest,
    /// A triple fault: the CPU has shut down and the board must reset it.
    Shutdown,
}

/// The model-specific registers a P6 guest uses (SDM vol. 4).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Msrs {
    pub apic_base: u64,
    pub sysenter_cs: u32,
    pub sysenter_esp: u32,
    pub sysenter_eip: u32,
    pub misc_enable: u64,
}

/// Control register 0 bits.
pub mod cr0 {
    pub const PE: u32 = 1 << 0;
    pub const MP: u32 = 1 << 1;
    pub const EM: u32 = 1 << 2;
    pub const TS: u32 = 1 << 3;
    pub const ET: u32 = 1 << 4;
    pub const NE: u32 = 1 << 5;
    pub const WP: u32 = 1 << 16;
    pub const AM: u32 = 1 << 18;
    pub const NW: u32 = 1 << 29;
    pub const CD: u32 = 1 << 30;
    pub const PG: u32 = 1 << 31;
}

/// The processor: registers, system state, memory, and the decoded-code cache.
#[derive(Clone, Serialize, Deserialize)]
pub struct Cpu {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    /// The instruction pointer (an offset into CS).
    pub eip: u32,
    /// EFLAGS except the arithmetic flags that `lazy` currently defines.
    eflags_raw: u32,
    lazy: LazyFlags,
    /// ES, CS, SS, DS, FS, GS with their hidden descriptor caches.
    pub segs: [Segment; 6],
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    /// DR0–DR7 (DR4/DR5 alias DR6/DR7).
    pub dr: [u32; 8],
    pub gdtr: DescriptorTable,
    pub idtr: DescriptorTable,
    pub ldtr: Segment,
    pub tr: Segment,
    /// Current privilege level.
    pub cpl: u8,
    /// Model-specific registers.
    pub msr: Msrs,
    /// Cycles that passed without retiring instructions: time skipped while
    /// halted, and I/O bus cycles. With `icount` they make [`Cpu::cycles`].
    pub stall_cycles: u64,
    /// Added to retired instructions plus idle cycles to give the TSC.
    pub tsc_offset: u64,
    /// The x87 FPU and MMX state.
    pub fpu: x87::Fpu,
    /// Physical memory.
    pub mem: Memory,
    /// Retired instructions since reset.
    pub icount: u64,
    /// Executing HLT: waiting for an interrupt.
    pub halted: bool,
    /// A triple fault shut the processor down.
    pub shutdown: bool,
    /// Interrupts are held off until after the next instruction (STI, MOV SS).
    irq_shadow: bool,
    /// Set by a handler that changed something the current block depends on
    /// (code written, mode changed, HLT, ...): the block stops after this op.
    #[serde(skip)]
    exit_block: bool,
    /// The bus asked to stop the run after an I/O access.
    #[serde(skip)]
    bus_request: bool,
    #[serde(skip)]
    tlb: mmu::Tlb,
    /// The PAE PDPTE registers, loaded from the table at CR3 (SDM vol. 3, 4.4.1).
    pub pdpte: [u64; 4],
    /// Data-breakpoint hits (B0–B3) of the current instruction, for the #DB trap.
    #[serde(skip)]
    dbg_hits: u32,
    #[serde(skip)]
    cache: BlockCache,
}

impl Cpu {
    /// A CPU in its reset state with `ram_bytes` of RAM.
    pub fn new(ram_bytes: usize) -> Cpu {
        let mut cpu = Cpu {
            regs: [0; 8],
            eip: 0,
            eflags_raw: flags::FIXED_ONE,
            lazy: LazyFlags::default(),
            segs: [Segment::default(); 6],
            cr0: 0,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0; 8],
            gdtr: DescriptorTable::default(),
            idtr: DescriptorTable::default(),
            ldtr: Segment::default(),
            tr: Segment::default(),
            cpl: 0,
            msr: Msrs::default(),
            stall_cycles: 0,
            tsc_offset: 0,
            fpu: x87::Fpu::default(),
            mem: Memory::new(ram_bytes),
            icount: 0,
            halted: false,
            shutdown: false,
            irq_shadow: false,
            exit_block: false,
            bus_request: false,
            tlb: mmu::Tlb::default(),
            pdpte: [0; 4],
            dbg_hits: 0,
            cache: BlockCache::default(),
        };
        cpu.reset();
        cpu
    }

    /// The power-on/RESET state (Intel SDM vol. 3, 9.1.1, table 9-1): real
    /// mode, CS = F000 with base FFFF0000 so that the first fetch is at
    /// FFFFFFF0, EDX = the processor signature. Memory is kept.
    pub fn reset(&mut self) {
        self.regs = [0; 8];
        self.regs[reg::EDX] = ops::system::CPU_SIGNATURE;
        self.eip = 0xFFF0;
        self.set_eflags(0);
        for s in SegReg::ALL {
            self.load_seg_real(s, 0);
        }
        self.segs[SegReg::CS as usize] = Segment::real_mode(0xF000);
        self.segs[SegReg::CS as usize].base = 0xFFFF_0000;
        self.cr0 = cr0::ET | cr0::NW | cr0::CD;
        self.cr2 = 0;
        self.cr3 = 0;
        self.cr4 = 0;
        self.dr = [0, 0, 0, 0, 0xFFFF0FF0, 0x400, 0xFFFF0FF0, 0x400];
        self.gdtr = DescriptorTable {
            base: 0,
            limit: 0xFFFF,
        };
        self.idtr = DescriptorTable {
            base: 0,
            limit: 0xFFFF,
        };
        self.ldtr = Segment::real_mode(0);
        self.tr = Segment::real_mode(0);
        self.cpl = 0;
        self.msr = Msrs {
            apic_base: 0xFEE0_0900,
            ..Msrs::default()
        };
        self.tsc_offset = 0u64.wrapping_sub(self.cycles());
        self.fpu.reset();
        self.halted = false;
        self.shutdown = false;
        self.irq_shadow = false;
        self.tlb.flush();
    }

    /// Loads a segment register the real-mode way *and* resets its hidden
    /// part to a plain 64 KiB data segment (limit FFFF), as after reset. For
    /// loaders and test harnesses that set up real-mode state directly.
    pub fn load_seg_real(&mut self, seg: SegReg, selector: u16) {
        self.segs[seg as usize] = Segment::real_mode(selector);
        if seg == SegReg::CS {
            self.segs[seg as usize].attr = segment::attr::CODE_REAL;
        }
    }

    /// A real-mode (or V86) load of a segment register by an instruction:
    /// on a 386 and later only the selector and base change; the hidden limit
    /// and attributes stay as they were ("unreal mode", SDM vol. 3, 21.1.1)
    /// in real mode, and are fixed to 64 KiB writable data in V86 mode.
    pub fn set_real_segment(&mut self, seg: SegReg, selector: u16) {
        if self.v86_mode() {
            self.load_seg_real(seg, selector);
            self.segs[seg as usize].attr |= segment::attr::dpl(3);
        } else {
            let s = &mut self.segs[seg as usize];
            s.selector = selector;
            s.base = (selector as u32) << 4;
        }
    }

    /// Virtual time in CPU cycles: retired instructions plus stall cycles.
    #[inline]
    pub fn cycles(&self) -> u64 {
        self.icount.wrapping_add(self.stall_cycles)
    }

    /// The selector in a segment register.
    pub fn seg_selector(&self, seg: SegReg) -> u16 {
        self.segs[seg as usize].selector
    }

    /// CR0.PE is set (protected or virtual-8086 mode).
    #[inline(always)]
    pub fn protected_mode(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    /// EFLAGS.VM is set (virtual-8086 mode).
    #[inline(always)]
    pub fn v86_mode(&self) -> bool {
        self.eflags_raw & flags::VM != 0
    }

    /// CS is a 32-bit code segment (CS.D).
    #[inline(always)]
    pub fn code32(&self) -> bool {
        self.segs[SegReg::CS as usize].big()
    }

    /// SS is a 32-bit stack segment (SS.B): ESP rather than SP is the pointer.
    #[inline(always)]
    pub fn stack32(&self) -> bool {
        self.segs[SegReg::SS as usize].big()
    }

    /// Reads a byte register by its encoding (AL, CL, DL, BL, AH, CH, DH, BH).
    #[inline(always)]
    pub fn reg8(&self, r: u8) -> u8 {
        let r = r as usize & 7;
        if r < 4 {
            self.regs[r] as u8
        } else {
            (self.regs[r - 4] >> 8) as u8
        }
    }

    /// Writes a byte register by its encoding.
    #[inline(always)]
    pub fn set_reg8(&mut self, r: u8, v: u8) {
        let r = r as usize & 7;
        if r < 4 {
            self.regs[r] = (self.regs[r] & !0xFF) | v as u32;
        } else {
            self.regs[r - 4] = (self.regs[r - 4] & !0xFF00) | ((v as u32) << 8);
        }
    }

    /// Writes the low 16 bits of a general register.
    #[inline(always)]
    pub fn set_reg16(&mut self, r: u8, v: u16) {
        let r = r as usize & 7;
        self.regs[r] = (self.regs[r] & !0xFFFF) | v as u32;
    }

    /// Reads a register of width `W` bits (8, 16 or 32) by its encoding.
    #[inline(always)]
    pub fn reg<const W: u32>(&self, r: u8) -> u32 {
        match W {
            8 => self.reg8(r) as u32,
            16 => self.regs[r as usize & 7] & 0xFFFF,
            _ => self.regs[r as usize & 7],
        }
    }

    /// Writes a register of width `W` bits by its encoding.
    #[inline(always)]
    pub fn set_reg<const W: u32>(&mut self, r: u8, v: u32) {
        match W {
            8 => self.set_reg8(r, v as u8),
            16 => self.set_reg16(r, v as u16),
            _ => self.regs[r as usize & 7] = v,
        }
    }

    /// Runs until `budget` instructions have retired or something stops the
    /// CPU (see [`RunExit`]). Interrupts from `bus` are taken between blocks.
    pub fn run(&mut self, bus: &mut dyn Bus, budget: u64) -> RunExit {
        let mut cache = std::mem::take(&mut self.cache);
        let exit = self.run_blocks(&mut cache, bus, budget);
        self.cache = cache;
        exit
    }

    fn run_blocks(&mut self, cache: &mut BlockCache, bus: &mut dyn Bus, budget: u64) -> RunExit {
        let end = self.icount.saturating_add(budget);
        self.tlb.check_generation(&self.mem);
        loop {
            if self.shutdown {
                return RunExit::Shutdown;
            }
            if self.bus_request {
                self.bus_request = false;
                return RunExit::BusRequest;
            }
            if self.icount >= end {
                return RunExit::InstructionLimit;
            }
            if self.mem.code_written() {
                cache.invalidate_pages(&self.mem.take_written_code_pages());
            }
            if !self.irq_shadow && self.if_flag() && bus.interrupt_pending() {
                self.halted = false;
                let vector = bus.interrupt_ack();
                self.external_interrupt(bus, vector);
                continue;
            }
            if self.halted {
                return RunExit::Halted;
            }
            if self.eflags_raw & flags::VIP != 0 && self.virtual_interrupt_due() {
                self.raise(bus, Exception::gp(0));
                continue;
            }
            let single = self.irq_shadow || self.flag(flags::TF);
            self.irq_shadow = false;
            let trap = self.flag(flags::TF);
            let mut limit = if single { 1 } else { end - self.icount };
            if (self.dr[7] & 0xFF) | (self.eflags_raw & flags::RF) != 0 {
                // Instruction breakpoints and RF (debug.rs).
                match self.code_breakpoints(cache, bus) {
                    Ok(n) => limit = limit.min(n),
                    Err(e) => {
                        self.raise(bus, e);
                        continue;
                    }
                }
            }
            let faulted = self.run_block(cache, bus, limit);
            if (trap || self.dbg_hits != 0) && !self.shutdown {
                self.debug_trap(bus, trap, faulted);
            }
        }
    }

    /// Executes up to `limit` ops of the block at the current EIP. Returns
    /// true if an exception was raised.
    fn run_block(&mut self, cache: &mut BlockCache, bus: &mut dyn Bus, limit: u64) -> bool {
        let block = match cache.lookup(self, bus) {
            Ok(b) => b,
            Err(e) => {
                self.raise(bus, e);
                return true;
            }
        };
        let base = self.eip;
        let ip_mask = block.ip_mask;
        let ops = &block.ops[..block.ops.len().min(limit as usize)];
        self.exit_block = false;
        for (n, op) in ops.iter().enumerate() {
            self.eip = base.wrapping_add(op.next as u32) & ip_mask;
            if let Err(e) = (op.handler)(self, bus, op) {
                self.eip = base.wrapping_add(op.start as u32) & ip_mask;
                self.icount += n as u64;
                self.raise(bus, e);
                return true;
            }
            if self.exit_block {
                self.icount += n as u64 + 1;
                return false;
            }
        }
        self.icount += ops.len() as u64;
        false
    }

    /// Takes a maskable interrupt with vector `vector`.
    fn external_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) {
        if let Err(e) = self.deliver(bus, vector, None, exception::Source::External) {
            self.raise(bus, e);
        }
    }
}
