//! Address translation: segmentation (offset → linear), paging (linear →
//! physical, in [`super::paging`]), and the software TLB that maps linear
//! pages straight to host memory for the fast path.
//!
//! Every data access goes `seg:offset` → [`Cpu::seg_check`] (limit and access
//! rights) → linear → TLB hit (one load through a host pointer) or the slow
//! path: page walk, MMIO, page-crossing accesses, writes to pages that hold
//! cached code, pages watched by a data breakpoint.
//!
//! # The TLB
//!
//! Two direct-mapped tables, one for reads (and instruction fetch) and one
//! for writes, each in four sets, one per privilege level: an access at CPL
//! n fills and uses set n (the implicit supervisor accesses of
//! [`Cpu::read_sys`] use set 0). Indexing by the CPL itself keeps the fast
//! path to one shift and add; only sets 0 and 3 see much use. An entry exists
//! only after an access of that kind and privilege passed the page-level
//! checks (user-mode rights at CPL 3, supervisor-mode rights otherwise: SDM
//! vol. 3, 4.6), so a CPL-0 fill of a supervisor-only page can never satisfy
//! a CPL-3 access.
//! A write entry exists only when the page is writable for that privilege
//! *and* its dirty bit is already set (SDM vol. 3, 4.8: the first write
//! through a clean entry must reach the slow path to set D), when the
//! physical page is plain RAM holding no cached code, and when no enabled
//! data breakpoint watches the linear page. Each entry also keeps its
//! physical page, so an instruction-fetch hit gives the physical address that
//! keys the block cache without a walk ([`Cpu::translate_fetch`]).
//!
//! Entries are dropped on CR3 loads (all, or the non-global ones under
//! CR4.PGE: SDM vol. 3, 4.10.4.1), INVLPG (that page, and every entry of a
//! large page containing it), CR0.PG/WP/PE and CR4.PSE/PAE/PGE changes, debug
//! register writes, and memory-map changes (`Memory::generation`).

use super::exception::{Exception, Result};
use super::paging::{cr4, Translation};
use super::{cr0, Cpu, SegReg};
use crate::bus::Bus;
use crate::memory::{Memory, PAGE_SHIFT, PAGE_SIZE};

const TLB_BITS: u32 = 8;
const TLB_SIZE: usize = 1 << TLB_BITS;

/// Bits kept in the low 12 bits of [`Entry::phys`].
const GLOBAL: u32 = 1 << 0;
/// The entry belongs to a 4 MiB / 2 MiB page (INVLPG of any of its 4 KiB
/// pieces must drop them all).
const LARGE: u32 = 1 << 1;

/// One TLB entry: linear page number → host address of that page.
#[derive(Clone, Copy)]
struct Entry {
    /// Linear page number, or `u32::MAX` for an empty entry.
    tag: u32,
    /// Physical address of the page (A20 applied) in bits 31:12, and the
    /// [`GLOBAL`] and [`LARGE`] flags in the low bits.
    phys: u32,
    /// Host address of the first byte of the page.
    host: usize,
}

const EMPTY: Entry = Entry {
    tag: u32::MAX,
    phys: 0,
    host: 0,
};

/// Privilege levels, each with its own set of entries.
const SETS: usize = 4;

/// Direct-mapped TLBs for reads (and instruction fetch) and for writes, each
/// with one set per privilege level (set n at entries n × 256 ..).
#[derive(Clone)]
pub(crate) struct Tlb {
    read: Box<[Entry; SETS * TLB_SIZE]>,
    write: Box<[Entry; SETS * TLB_SIZE]>,
    /// Bit n: set n may hold entries (so flushes skip the sets never used).
    used: u8,
    /// Some entry has [`LARGE`] set (INVLPG must look for them).
    large: bool,
    /// The memory map generation the entries were filled under.
    generation: u64,
    /// Counts flushes: a linear-to-physical association remembered under
    /// one epoch (the block cache's links) holds while it lasts.
    epoch: u64,
}

impl Default for Tlb {
    fn default() -> Tlb {
        Tlb {
            read: Box::new([EMPTY; SETS * TLB_SIZE]),
            write: Box::new([EMPTY; SETS * TLB_SIZE]),
            used: 0,
            large: false,
            generation: 0,
            epoch: 0,
        }
    }
}

impl Tlb {
    /// The entries of the sets in use, read and write.
    fn used_entries(&mut self) -> impl Iterator<Item = &mut Entry> {
        let used = self.used;
        self.read
            .chunks_mut(TLB_SIZE)
            .chain(self.write.chunks_mut(TLB_SIZE))
            .enumerate()
            .filter(move |(n, _)| used & 1 << (n % SETS) != 0)
            .flat_map(|(_, c)| c.iter_mut())
    }

    /// Drops every translation (paging mode change, A20, ...).
    pub(crate) fn flush(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        for e in self.used_entries() {
            *e = EMPTY;
        }
        self.used = 0;
        self.large = false;
    }

    /// Drops the translations not marked global (a CR3 load with CR4.PGE).
    pub(crate) fn flush_non_global(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        for e in self.used_entries() {
            if e.phys & GLOBAL == 0 {
                *e = EMPTY;
            }
        }
    }

    /// Drops write translations to one physical page (it just started
    /// holding code), through whichever linear pages map it.
    pub(crate) fn flush_writes_to(&mut self, phys_page: u32) {
        for e in self.write.iter_mut() {
            if e.phys >> PAGE_SHIFT == phys_page && e.tag != u32::MAX {
                *e = EMPTY;
            }
        }
    }

    /// Drops the translations of one linear page (INVLPG), and, if large
    /// pages are cached, every entry of a large page of `large_shift` bits
    /// (22 or 21) that contains it.
    pub(crate) fn flush_page(&mut self, lin: u32, large_shift: u32) {
        self.epoch = self.epoch.wrapping_add(1);
        for pl in 0..SETS as u8 {
            let i = index(lin, pl);
            self.read[i] = EMPTY;
            self.write[i] = EMPTY;
        }
        if self.large {
            let region = lin >> large_shift;
            let shift = large_shift - PAGE_SHIFT;
            for e in self.used_entries() {
                if e.phys & LARGE != 0 && e.tag >> shift == region {
                    *e = EMPTY;
                }
            }
        }
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
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Access {
    Read,
    Write,
    Execute,
}

/// The TLB slot of a linear address in the set of privilege level `pl`.
#[inline(always)]
fn index(lin: u32, pl: u8) -> usize {
    ((lin >> PAGE_SHIFT) as usize & (TLB_SIZE - 1)) | ((pl & 3) as usize) << TLB_BITS
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

/// Physical addresses from 4 GiB up (reachable with PAE) have no memory
/// behind them on this 32-bit platform.
const PHYS_LIMIT: u64 = 1 << 32;

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

    /// Reads `W` bits at a linear address with the current privilege.
    #[inline(always)]
    pub(crate) fn read_lin<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.read_lin_as::<W>(bus, lin, self.cpl)
    }

    /// Writes `W` bits at a linear address with the current privilege.
    #[inline(always)]
    pub(crate) fn write_lin<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        v: u32,
    ) -> Result<()> {
        self.write_lin_as::<W>(bus, lin, v, self.cpl)
    }

    /// Reads `W` bits at a linear address as an access at privilege level
    /// `pl` (the CPL, or 0 for an implicit supervisor access).
    #[inline(always)]
    fn read_lin_as<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32, pl: u8) -> Result<u32> {
        let e = self.tlb.read[index(lin, pl)];
        let off = lin & (PAGE_SIZE - 1);
        if e.tag == lin >> PAGE_SHIFT && off <= PAGE_SIZE - W / 8 {
            // SAFETY: a TLB entry points at a whole page of guest memory that
            // lives as long as the memory map generation it was filled under.
            return Ok(unsafe { load::<W>((e.host + off as usize) as *const u8) });
        }
        self.read_lin_slow(bus, lin, W / 8, pl)
    }

    #[inline(always)]
    fn write_lin_as<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        v: u32,
        pl: u8,
    ) -> Result<()> {
        let e = self.tlb.write[index(lin, pl)];
        let off = lin & (PAGE_SIZE - 1);
        if e.tag == lin >> PAGE_SHIFT && off <= PAGE_SIZE - W / 8 {
            // SAFETY: as in `read_lin_as`; write entries exist only for RAM
            // pages that hold no cached code.
            unsafe { store::<W>((e.host + off as usize) as *mut u8, v) };
            return Ok(());
        }
        self.write_lin_slow(bus, lin, W / 8, v, pl)
    }

    /// Reads `W` bits at a linear address as an implicit supervisor access
    /// (descriptor tables, the IDT, the TSS): page protection treats it as
    /// CPL 0 whatever the current privilege (SDM vol. 3, 4.6).
    pub(crate) fn read_sys<const W: u32>(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        self.read_lin_as::<W>(bus, lin, 0)
    }

    /// Writes `W` bits at a linear address as an implicit supervisor access.
    pub(crate) fn write_sys<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        v: u32,
    ) -> Result<()> {
        self.write_lin_as::<W>(bus, lin, v, 0)
    }

    /// Reads a 16-bit word at a linear address (descriptor tables, the IVT).
    pub(crate) fn read_lin16(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u16> {
        self.read_lin::<16>(bus, lin).map(|v| v as u16)
    }

    /// Translates both pages of an access that crosses a page boundary:
    /// its first byte and the first byte of the next page (which is what
    /// CR2 reports if that page faults), both before any byte moves, so that
    /// a fault on the second page leaves memory untouched.
    fn translate_pair(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        access: Access,
        pl: u8,
    ) -> Result<(u64, u64)> {
        let first = self.translate_as(bus, lin, access, pl)?;
        let next = (lin | (PAGE_SIZE - 1)).wrapping_add(1);
        let second = self.translate_as(bus, next, access, pl)?;
        Ok((first, second))
    }

    /// The physical address of byte `i` of a page-crossing access that
    /// starts at `lin`, given the translations of its two pages.
    fn byte_addr(lin: u32, span: (u64, u64), i: u32) -> u64 {
        let a = lin.wrapping_add(i);
        if (a ^ lin) >> PAGE_SHIFT == 0 {
            span.0 + i as u64
        } else {
            span.1 + (a & (PAGE_SIZE - 1)) as u64
        }
    }

    fn phys_read_u8(&mut self, bus: &mut dyn Bus, addr: u64) -> u8 {
        if addr >= PHYS_LIMIT {
            return 0xFF;
        }
        self.mem.read_u8_bus(addr as u32, bus)
    }

    fn phys_write_u8(&mut self, bus: &mut dyn Bus, addr: u64, v: u8) {
        if addr < PHYS_LIMIT {
            self.mem.write_u8_bus(addr as u32, v, bus);
        }
    }

    #[cold]
    fn read_lin_slow(&mut self, bus: &mut dyn Bus, lin: u32, size: u32, pl: u8) -> Result<u32> {
        let v = if (lin.wrapping_add(size - 1) ^ lin) >> PAGE_SHIFT == 0 {
            let phys = self.translate_as(bus, lin, Access::Read, pl)?;
            if phys < PHYS_LIMIT {
                if self.mem.is_mmio(phys as u32) {
                    // Device registers (a timer's counter) read as of now.
                    bus.sync(self.cycles());
                }
                self.mem.read_sized(phys as u32, size as u8, bus)
            } else {
                crate::bus::ones(size as u8)
            }
        } else {
            let span = self.translate_pair(bus, lin, Access::Read, pl)?;
            (0..size).fold(0, |v, i| {
                let a = Self::byte_addr(lin, span, i);
                v | (self.phys_read_u8(bus, a) as u32) << (8 * i)
            })
        };
        if self.dr[7] & 0xFF != 0 {
            self.data_breakpoints(lin, size, false);
        }
        Ok(v)
    }

    #[cold]
    fn write_lin_slow(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        size: u32,
        v: u32,
        pl: u8,
    ) -> Result<()> {
        if (lin.wrapping_add(size - 1) ^ lin) >> PAGE_SHIFT == 0 {
            let phys = self.translate_as(bus, lin, Access::Write, pl)?;
            if phys < PHYS_LIMIT && self.mem.is_mmio(phys as u32) {
                // As for port writes: the device sees the time of the
                // access, and may need the slice to end (a timer armed).
                bus.sync(self.cycles());
                self.mem.write_sized(phys as u32, size as u8, v, bus);
                self.check_bus_request(bus);
            } else if phys < PHYS_LIMIT {
                self.mem.write_sized(phys as u32, size as u8, v, bus);
            }
        } else {
            let span = self.translate_pair(bus, lin, Access::Write, pl)?;
            for i in 0..size {
                let a = Self::byte_addr(lin, span, i);
                self.phys_write_u8(bus, a, (v >> (8 * i)) as u8);
            }
        }
        if self.mem.code_written() {
            // The store hit cached code, maybe the running block: stop after
            // this instruction so the next fetch sees the new bytes.
            self.exit_block = true;
        }
        if self.dr[7] & 0xFF != 0 {
            self.data_breakpoints(lin, size, true);
        }
        Ok(())
    }

    /// Linear → physical for an access of kind `access` with the current
    /// privilege, raising #PF as the access would, and filling the TLB. The
    /// result may lie above 4 GiB (PAE), where there is no memory. For
    /// probes (INS checks its destination before reading the port).
    pub(crate) fn translate(&mut self, bus: &mut dyn Bus, lin: u32, access: Access) -> Result<u64> {
        self.translate_as(bus, lin, access, self.cpl)
    }

    /// The physical address of an instruction fetch at `lin`, for the block
    /// cache's lookup. With paging off it is `lin`; else a read-TLB hit gives
    /// it without a walk. A page above 4 GiB reads as all ones, whose first
    /// instruction (FF FF: FF /7) is invalid, so fetching there is #UD.
    #[inline(always)]
    pub(crate) fn translate_fetch(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        if self.cr0 & cr0::PG == 0 {
            return Ok(lin);
        }
        let e = &self.tlb.read[index(lin, self.cpl)];
        if e.tag == lin >> PAGE_SHIFT {
            return Ok((e.phys & !(PAGE_SIZE - 1)) | (lin & (PAGE_SIZE - 1)));
        }
        self.translate_fetch_slow(bus, lin)
    }

    #[cold]
    fn translate_fetch_slow(&mut self, bus: &mut dyn Bus, lin: u32) -> Result<u32> {
        let phys = self.translate_as(bus, lin, Access::Execute, self.cpl)?;
        if phys >= PHYS_LIMIT {
            return Err(Exception::ud());
        }
        Ok(phys as u32)
    }

    /// Translates as an access at privilege level `pl` and fills that
    /// level's TLB sets. Level 3 is a user-mode access, levels 0–2 are
    /// supervisor-mode ones (SDM vol. 3, 4.6).
    fn translate_as(&mut self, bus: &mut dyn Bus, lin: u32, access: Access, pl: u8) -> Result<u64> {
        let t = if self.cr0 & cr0::PG == 0 {
            Translation::identity(lin)
        } else {
            self.page_walk(bus, lin, access, pl == 3)?
        };
        self.tlb_fill(lin, &t, access, pl);
        Ok(t.phys)
    }

    /// Caches a translation that an access of kind `access` just used.
    fn tlb_fill(&mut self, lin: u32, t: &Translation, access: Access, pl: u8) {
        if t.phys >= PHYS_LIMIT {
            return;
        }
        let phys = t.phys as u32 & self.mem.a20_mask() & !(PAGE_SIZE - 1);
        let flags = if t.global { GLOBAL } else { 0 } | if t.large { LARGE } else { 0 };
        let watched = self.dr[7] & 0xFF != 0;
        let i = index(lin, pl);
        let tag = lin >> PAGE_SHIFT;
        self.tlb.used |= 1 << (pl & 3);
        if !(watched && self.breakpoint_on_page(lin, false)) {
            if let Some(host) = self.mem.host_page(phys, false) {
                self.tlb.read[i] = Entry {
                    tag,
                    phys: phys | flags,
                    host: host as usize,
                };
                self.tlb.large |= t.large;
            }
        }
        // A write entry needs the page writable for this privilege and its
        // dirty bit set, by this write's walk or an earlier one (SDM vol. 3,
        // 4.8), so that the first write to a clean page takes the slow path.
        let writable = t.writable || (pl != 3 && self.cr0 & cr0::WP == 0);
        if writable
            && (t.dirty || access == Access::Write)
            && !(watched && self.breakpoint_on_page(lin, true))
        {
            if let Some(host) = self.mem.host_page(phys, true) {
                self.tlb.write[i] = Entry {
                    tag,
                    phys: phys | flags,
                    host: host as usize,
                };
                self.tlb.large |= t.large;
            }
        }
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

    /// Drops all cached translations, global ones included (CR0.PG/WP/PE,
    /// CR4.PSE/PAE/PGE changes, debug-register writes).
    pub(crate) fn flush_tlb(&mut self) {
        self.tlb.flush();
    }

    /// The TLB's flush count (see `Tlb::epoch`).
    pub(crate) fn tlb_epoch(&self) -> u64 {
        self.tlb.epoch
    }

    /// Drops the translations a CR3 load invalidates: all of them, or with
    /// CR4.PGE only those not marked global (SDM vol. 3, 4.10.4.1).
    pub(crate) fn flush_tlb_cr3(&mut self) {
        if self.cr4 & cr4::PGE != 0 {
            self.tlb.flush_non_global();
        } else {
            self.tlb.flush();
        }
    }

    /// Drops one page's translations, global or not (INVLPG; SDM vol. 3,
    /// 4.10.4.1). For a large page, all of it goes.
    pub(crate) fn flush_tlb_page(&mut self, lin: u32) {
        let large_shift = if self.cr4 & cr4::PAE != 0 { 21 } else { 22 };
        self.tlb.flush_page(lin, large_shift);
    }

    /// The physical page `phys_page` (a page number, A20 applied) just
    /// started holding cached code: drop the write entries that reach it
    /// through any linear alias.
    pub(crate) fn flush_tlb_writes_to(&mut self, phys_page: u32) {
        self.tlb.flush_writes_to(phys_page);
    }
}
