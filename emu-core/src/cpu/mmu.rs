//! Address translation: segmentation (offset → linear), paging (linear →
//! physical), and the software TLB that maps linear pages straight to host
//! memory for the fast path.
//!
//! Every data access goes `seg:offset` → [`Cpu::seg_check`] (limit and access
//! rights) → linear → TLB hit (one load through a host pointer) or the slow
//! path: page walk, MMIO, page-crossing accesses, writes to pages that hold
//! cached code.

use super::exception::{Exception, Result, PF};
use super::{cr0, Cpu, SegReg};
use crate::bus::Bus;
use crate::memory::{Memory, PAGE_SHIFT, PAGE_SIZE};

const TLB_BITS: u32 = 8;
const TLB_SIZE: usize = 1 << TLB_BITS;

/// One TLB entry: linear page number → host address of that page.
#[derive(Clone, Copy)]
struct Entry {
    /// Linear page number, or `u32::MAX` for an empty entry.
    tag: u32,
    /// Host address of the first byte of the page.
    host: usize,
}

const EMPTY: Entry = Entry {
    tag: u32::MAX,
    host: 0,
};

/// Direct-mapped TLBs for reads (and instruction fetch) and for writes.
#[derive(Clone)]
pub(crate) struct Tlb {
    read: Box<[Entry; TLB_SIZE]>,
    write: Box<[Entry; TLB_SIZE]>,
    /// The memory map generation the entries were filled under.
    generation: u64,
}

impl Default for Tlb {
    fn default() -> Tlb {
        Tlb {
            read: Box::new([EMPTY; TLB_SIZE]),
            write: Box::new([EMPTY; TLB_SIZE]),
            generation: 0,
        }
    }
}

impl Tlb {
    /// Drops every translation (CR3 load, paging mode change, A20, ...).
    pub(crate) fn flush(&mut self) {
        self.read.fill(EMPTY);
        self.write.fill(EMPTY);
    }

    /// Drops write translations only (a page just started holding code).
    pub(crate) fn flush_writes(&mut self) {
        self.write.fill(EMPTY);
    }

    /// Drops the translations of one linear page (INVLPG).
    pub(crate) fn flush_page(&mut self, lin: u32) {
        let i = (lin >> PAGE_SHIFT) as usize & (TLB_SIZE - 1);
        self.read[i] = EMPTY;
        self.write[i] = EMPTY;
    }

    /// Flushes if the physical memory map changed since the last fill.
    pub(crate) fn check_generation(&mut self, mem: &Memory) {
        if mem.generation() != self.generation {
            self.flush();
            self.generation = mem.generation();
        }
    }
}

/// What an access does, for page-level protection and fault error codes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    Execute,
}

#[inline(always)]
fn index(lin: u32) -> usize {
    (lin >> PAGE_SHIFT) as usize & (TLB_SIZE - 1)
}

/// Reads `bits` wide little-endian from a host pointer.
///
/// # Safety
/// `p` must point at `bits / 8` readable bytes.
#[inline(always)]
unsafe fn load<const W: u32>(p: *const u8) -> u32 {
    match W {
        8 => *p as u32,
        16 => u16::from_le((p as *const u16).read_unaligned()) as u32,
        _ => u32::from_le((p as *const u32).read_unaligned()),
    }
}

/// Writes `bits` wide little-endian through a host pointer.
///
/// # Safety
/// `p` must point at `bits / 8` writable bytes.
#[inline(always)]
unsafe fn store<const W: u32>(p: *mut u8, v: u32) {
    match W {
        8 => *p = v as u8,
        16 => (p as *mut u16).write_unaligned((v as u16).to_le()),
        _ => (p as *mut u32).write_unaligned(v.to_le()),
    }
}

impl Cpu {
    /// Checks a `size`-byte access at `seg:offset` against the segment's
    /// limit and rights, and returns the linear address. Faults are #SS(0)
    /// for SS and #GP(0) otherwise (SDM vol. 3, 5.3 and 5.4).
    #[inline(always)]
    pub(crate) fn seg_check(&self, seg: u8, offset: u32, size: u32, write: bool) -> Result<u32> {
        let s = &self.segs[seg as usize];
        let rights = !self.protected_mode()
            || self.v86_mode()
            || if write { s.writable() } else { s.readable() };
        if rights && s.in_limit(offset, size) {
            Ok(s.base.wrapping_add(offset))
        } else if seg == SegReg::SS as u8 {
            Err(Exception::ss(0))
        } else {
            Err(Exception::gp(0))
        }
    }

    /// Reads `W` bits at `seg:offset`.
    #[inline(always)]
    pub(crate) fn read<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        seg: u8,
        offset: u32,
    ) -> Result<u32> {
        let lin = self.seg_check(seg, offset, W / 8, false)?;
        self.read_lin::<W>(bus, lin)
    }

    /// Writes `W` bits at `seg:offset`.
    #[inline(always)]
    pub(crate) fn write<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        seg: u8,
        offset: u32,
        v: u32,
    ) -> Result<()> {
        let lin = self.seg_check(seg, offset, W / 8, true)?;
        self.write_lin::<W>(bus, lin, v)
    }

    /// Reads `W` bits at a linear address.
    #[inline(always)]
    pub(crate) fn read_lin<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        let e = self.tlb.read[index(lin)];
        let off = lin & (PAGE_SIZE - 1);
        if e.tag == lin >> PAGE_SHIFT && off <= PAGE_SIZE - W / 8 {
            // SAFETY: a TLB entry points at a whole page of guest memory that
            // lives as long as the memory map generation it was filled under.
            return Ok(unsafe { load::<W>((e.host + off as usize) as *const u8) });
        }
        self.read_lin_slow(bus, lin, W / 8, Access::Read)
    }

    /// Writes `W` bits at a linear address.
    #[inline(always)]
    pub(crate) fn write_lin<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        v: u32,
    ) -> Result<()> {
        let e = self.tlb.write[index(lin)];
        let off = lin & (PAGE_SIZE - 1);
        if e.tag == lin >> PAGE_SHIFT && off <= PAGE_SIZE - W / 8 {
            // SAFETY: as in `read_lin`; write entries exist only for RAM
            // pages that hold no cached code.
            unsafe { store::<W>((e.host + off as usize) as *mut u8, v) };
            return Ok(());
        }
        self.write_lin_slow(bus, lin, W / 8, v)
    }

    /// Reads `W` bits at a linear address as an implicit supervisor access
    /// (descriptor tables, the IDT, the TSS): page protection treats it as
    /// CPL 0 whatever the current privilege (SDM vol. 3, 4.6).
    pub(crate) fn read_sys<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.read_lin::<W>(bus, lin)
    }

    /// Writes `W` bits at a linear address as an implicit supervisor access.
    pub(crate) fn write_sys<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32, v: u32) -> Result<()> {
        self.write_lin::<W>(bus, lin, v)
    }

    /// Reads a 16-bit word at a linear address (descriptor tables, the IVT).
    pub(crate) fn read_lin16(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u16> {
        self.read_lin::<16>(bus, lin).map(|v| v as u16)
    }

    /// Translates both ends of an access; returns the physical address of
    /// each byte's page start for page-crossing accesses.
    fn translate_span(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        access: Access,
    ) -> Result<(u32, u32)> {
        let first = self.translate(bus, lin, access)?;
        let last = lin.wrapping_add(size - 1);
        let second = if (last ^ lin) >> PAGE_SHIFT != 0 {
            self.translate(bus, last, access)?
        } else {
            first.wrapping_add(size - 1)
        };
        Ok((first, second))
    }

    /// The physical address of byte `i` of an access that starts at `lin`,
    /// given the translations of its first and last bytes.
    fn byte_addr(lin: u32, size: u32, span: (u32, u32), i: u32) -> u32 {
        let a = lin.wrapping_add(i);
        if (a ^ lin) >> PAGE_SHIFT == 0 {
            span.0.wrapping_add(i)
        } else {
            span.1.wrapping_sub(size - 1 - i)
        }
    }

    pub(crate) fn read_lin_slow(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        access: Access,
    ) -> Result<u32> {
        let span = self.translate_span(bus, lin, size, access)?;
        if (lin.wrapping_add(size - 1) ^ lin) >> PAGE_SHIFT == 0 {
            let v = self.mem.read_sized(span.0, size as u8, bus);
            if let Some(host) = self.mem.host_page(span.0, false) {
                self.tlb.read[index(lin)] = Entry {
                    tag: lin >> PAGE_SHIFT,
                    host: host as usize,
                };
            }
            return Ok(v);
        }
        Ok((0..size).fold(0, |v, i| {
            v | (self
                .mem
                .read_u8_bus(Self::byte_addr(lin, size, span, i), bus) as u32)
                << (8 * i)
        }))
    }

    fn write_lin_slow(&mut self, bus: &mut dyn Bus, lin: u32, size: u32, v: u32) -> Result<()> {
        let span = self.translate_span(bus, lin, size, Access::Write)?;
        if (lin.wrapping_add(size - 1) ^ lin) >> PAGE_SHIFT == 0 {
            self.mem.write_sized(span.0, size as u8, v, bus);
            if let Some(host) = self.mem.host_page(span.0, true) {
                self.tlb.write[index(lin)] = Entry {
                    tag: lin >> PAGE_SHIFT,
                    host: host as usize,
                };
            }
        } else {
            for i in 0..size {
                self.mem.write_u8_bus(
                    Self::byte_addr(lin, size, span, i),
                    (v >> (8 * i)) as u8,
                    bus,
                );
            }
        }
        if self.mem.code_written() {
            // The store hit cached code, maybe the running block: stop after
            // this instruction so the next fetch sees the new bytes.
            self.exit_block = true;
        }
        Ok(())
    }

    /// Linear → physical. With paging off the two are the same.
    #[inline]
    pub(crate) fn translate(&mut self, bus: &mut dyn Bus, lin: u32, access: Access) -> Result<u32> {
        if self.cr0 & cr0::PG == 0 {
            return Ok(lin);
        }
        self.page_walk(bus, lin, access)
    }

    /// The two-level 32-bit page walk (SDM vol. 3, 4.3), with 4 MiB pages
    /// under CR4.PSE. Sets accessed and dirty bits as the hardware does.
    fn page_walk(&mut self, bus: &mut dyn Bus, lin: u32, access: Access) -> Result<u32> {
        const P: u32 = 1;
        const RW: u32 = 2;
        const US: u32 = 4;
        const A: u32 = 0x20;
        const D: u32 = 0x40;
        const PS: u32 = 0x80;
        let write = access == Access::Write;
        let user = self.cpl == 3;
        let fault = |cpu: &mut Cpu, present: bool| {
            cpu.cr2 = lin;
            let code = present as u16 | (write as u16) << 1 | (user as u16) << 2;
            Err(Exception::with_error(PF, code))
        };
        let pde_addr = (self.cr3 & 0xFFFF_F000) | ((lin >> 22) << 2);
        let pde = self.mem.read_sized(pde_addr, 4, bus);
        if pde & P == 0 {
            return fault(self, false);
        }
        let large = pde & PS != 0 && self.cr4 & (1 << 4) != 0;
        let (entry_addr, entry, rights) = if large {
            (pde_addr, pde, pde)
        } else {
            let pte_addr = (pde & 0xFFFF_F000) | (((lin >> 12) & 0x3FF) << 2);
            let pte = self.mem.read_sized(pte_addr, 4, bus);
            if pte & P == 0 {
                return fault(self, false);
            }
            (pte_addr, pte, pde & pte)
        };
        // SDM vol. 3, 4.6: user accesses need U/S in both levels; writes need
        // R/W in both, for supervisor accesses only when CR0.WP is set.
        if (user && rights & US == 0)
            || (write && rights & RW == 0 && (user || self.cr0 & cr0::WP != 0))
        {
            return fault(self, true);
        }
        if !large && pde & A == 0 {
            self.mem.write_sized(pde_addr, 4, pde | A, bus);
        }
        let new = entry | A | if write { D } else { 0 };
        if new != entry {
            self.mem.write_sized(entry_addr, 4, new, bus);
        }
        Ok(if large {
            (entry & 0xFFC0_0000) | (lin & 0x003F_FFFF)
        } else {
            (entry & 0xFFFF_F000) | (lin & 0xFFF)
        })
    }

    /// Pushes a value of `W` bits on the stack (SS:SP or SS:ESP by SS.B).
    #[inline]
    pub(crate) fn push<const W: u32>(&mut self, bus: &mut dyn Bus, v: u32) -> Result<()> {
        let sp = self.stack_sub(W / 8);
        self.write::<W>(bus, SegReg::SS as u8, sp, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Pops a value of `W` bits from the stack.
    #[inline]
    pub(crate) fn pop<const W: u32>(&mut self, bus: &mut dyn Bus) -> Result<u32> {
        let sp = self.sp();
        let v = self.read::<W>(bus, SegReg::SS as u8, sp)?;
        self.set_sp(sp.wrapping_add(W / 8));
        Ok(v)
    }

    /// Reads `W` bits at `SP + offset` without popping.
    pub(crate) fn stack_peek<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        offset: u32,
    ) -> Result<u32> {
        let sp = self.sp().wrapping_add(offset) & self.sp_mask();
        self.read::<W>(bus, SegReg::SS as u8, sp)
    }

    /// Pushes 16-bit words in order, committing SP only if all succeed.
    pub(crate) fn push_all16(&mut self, bus: &mut dyn Bus, words: &[u16]) -> Result<()> {
        let saved = self.regs[super::reg::ESP];
        for &w in words {
            if let Err(e) = self.push::<16>(bus, w as u32) {
                self.regs[super::reg::ESP] = saved;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The stack pointer: ESP for a 32-bit stack segment, else SP.
    #[inline(always)]
    pub(crate) fn sp(&self) -> u32 {
        self.regs[super::reg::ESP] & self.sp_mask()
    }

    #[inline(always)]
    pub(crate) fn sp_mask(&self) -> u32 {
        if self.stack32() {
            u32::MAX
        } else {
            0xFFFF
        }
    }

    /// The stack pointer after taking `n` bytes, wrapped to the stack width.
    #[inline(always)]
    pub(crate) fn stack_sub(&self, n: u32) -> u32 {
        self.sp().wrapping_sub(n) & self.sp_mask()
    }

    /// Sets SP or ESP (by SS.B), leaving the upper half alone for a 16-bit stack.
    #[inline(always)]
    pub(crate) fn set_sp(&mut self, v: u32) {
        let m = self.sp_mask();
        let esp = &mut self.regs[super::reg::ESP];
        *esp = (*esp & !m) | (v & m);
    }

    /// Drops all cached translations (CR0/CR3/CR4 writes).
    pub(crate) fn flush_tlb(&mut self) {
        self.tlb.flush();
    }

    /// Drops one page's translations (INVLPG).
    pub(crate) fn flush_tlb_page(&mut self, lin: u32) {
        self.tlb.flush_page(lin);
    }

    /// A page just started holding cached code: drop writable host pointers.
    pub(crate) fn flush_tlb_writes(&mut self) {
        self.tlb.flush_writes();
    }
}
