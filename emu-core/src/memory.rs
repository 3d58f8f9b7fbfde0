//! Guest physical memory: RAM as one allocation, ROM images, MMIO holes, and
//! the A20 gate.
//!
//! Every access to physical memory — by the CPU's slow path, by DMA-capable
//! devices, by the loaders — goes through [`Memory`]. The CPU's fast path
//! reaches RAM through host pointers that the software TLB caches; those are
//! handed out by [`Memory::host_page`] and are only given for pages that need
//! no special handling on the access kind asked for.

use crate::bus::Bus;
use serde::{Deserialize, Serialize};

/// Bytes in a page, the granularity of the TLB, code tracking and MMIO.
pub const PAGE_SIZE: u32 = 4096;
/// Bits of an address below the page number.
pub const PAGE_SHIFT: u32 = 12;

/// A read-only image mapped at a fixed physical range.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RomRegion {
    base: u32,
    data: Vec<u8>,
}

/// A physical range whose accesses go to the platform's bus.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct MmioRange {
    base: u32,
    /// Last byte of the range (inclusive), so a range may end at 4 GiB.
    last: u32,
}

/// The BIOS area whose 16 KiB segments the chipset can shadow: C0000h–FFFFFh.
pub const SHADOW_BASE: u32 = 0xC_0000;
/// The granularity of shadowing (the i440FX PAM registers' segments).
pub const SHADOW_SEGMENT: u32 = 0x4000;
const SHADOW_SEGMENTS: usize = ((0x10_0000 - SHADOW_BASE) / SHADOW_SEGMENT) as usize;

/// Shadow-RAM modes of a segment of the BIOS area: where its reads and
/// writes go while a ROM is mapped there (i440FX PAM: RE and WE bits).
pub mod shadow {
    /// Reads come from the RAM underneath instead of the ROM.
    pub const READ_RAM: u8 = 1;
    /// Writes go to the RAM underneath instead of being dropped.
    pub const WRITE_RAM: u8 = 2;
}

/// What a physical address refers to.
enum Target {
    Ram(usize),
    Rom(usize, usize),
    Mmio,
    Unmapped,
}

/// The guest's physical address space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Memory {
    ram: Vec<u8>,
    roms: Vec<RomRegion>,
    mmio: Vec<MmioRange>,
    /// `!0` with the A20 gate open, `!(1 << 20)` with it closed.
    a20_mask: u32,
    /// One flag per RAM page: the page holds code the CPU has decoded and cached.
    code_pages: Vec<bool>,
    /// Code pages written since the CPU last looked (drained by the block cache).
    written_code_pages: Vec<u32>,
    /// Bumped whenever a mapping changes so the CPU can drop cached host pointers.
    generation: u64,
    /// Per 16 KiB segment of C0000h–FFFFFh: [`shadow`] bits.
    shadow: [u8; SHADOW_SEGMENTS],
}

impl Memory {
    /// RAM of `ram_bytes` (rounded up to a whole page) at physical 0, A20 open.
    pub fn new(ram_bytes: usize) -> Memory {
        let ram_bytes = ram_bytes.div_ceil(PAGE_SIZE as usize) * PAGE_SIZE as usize;
        Memory {
            ram: vec![0; ram_bytes],
            roms: Vec::new(),
            mmio: Vec::new(),
            a20_mask: !0,
            code_pages: vec![false; ram_bytes / PAGE_SIZE as usize],
            written_code_pages: Vec::new(),
            generation: 0,
            shadow: [0; SHADOW_SEGMENTS],
        }
    }

    /// Size of RAM in bytes.
    pub fn ram_size(&self) -> usize {
        self.ram.len()
    }

    /// The RAM contents, for loaders and snapshots.
    pub fn ram(&self) -> &[u8] {
        &self.ram
    }

    /// Maps a read-only image at `base`. Later mappings win over earlier ones
    /// and over RAM (as the chipset's shadowing of the BIOS area does).
    pub fn map_rom(&mut self, base: u32, data: Vec<u8>) {
        self.roms.push(RomRegion { base, data });
        self.generation += 1;
    }

    /// Claims `[base, base + len)` for memory-mapped I/O through the bus.
    pub fn map_mmio(&mut self, base: u32, len: u32) {
        if len == 0 {
            return;
        }
        self.mmio.push(MmioRange {
            base,
            last: base.wrapping_add(len - 1),
        });
        self.generation += 1;
    }

    /// Whether `addr` is in a memory-mapped I/O range.
    pub fn is_mmio(&self, addr: u32) -> bool {
        matches!(self.target(addr, false), Target::Mmio)
    }

    /// Sets the shadow mode ([`shadow`] bits) of the BIOS-area segments
    /// overlapping `[base, base + len)`, as the chipset's PAM registers do.
    /// Code cached from a segment whose reads change source is dropped.
    pub fn set_shadow(&mut self, base: u32, len: u32, mode: u8) {
        for seg in 0..SHADOW_SEGMENTS {
            let start = SHADOW_BASE + seg as u32 * SHADOW_SEGMENT;
            if start + SHADOW_SEGMENT <= base || start >= base.saturating_add(len) {
                continue;
            }
            let old = std::mem::replace(&mut self.shadow[seg], mode);
            if old == mode {
                continue;
            }
            self.generation += 1;
            if (old ^ mode) & shadow::READ_RAM != 0 {
                let first = (start >> PAGE_SHIFT) as usize;
                for page in first..first + (SHADOW_SEGMENT >> PAGE_SHIFT) as usize {
                    if let Some(m) = self.code_pages.get_mut(page).filter(|m| **m) {
                        *m = false;
                        self.written_code_pages.push(page as u32);
                    }
                }
            }
        }
    }

    /// Whether an access of this kind (`write` or a read) at `addr` goes to
    /// the RAM under a shadowed ROM.
    fn shadowed(&self, addr: u32, write: bool) -> bool {
        let Some(seg) = addr
            .checked_sub(SHADOW_BASE)
            .map(|o| (o / SHADOW_SEGMENT) as usize)
        else {
            return false;
        };
        let bit = if write {
            shadow::WRITE_RAM
        } else {
            shadow::READ_RAM
        };
        self.shadow.get(seg).is_some_and(|m| m & bit != 0)
    }

    /// Opens (`true`) or closes the A20 gate. With it closed, address line 20
    /// is forced low, so 0x100000..0x10FFEF wraps to 0 as on the 8086.
    pub fn set_a20(&mut self, enabled: bool) {
        let mask = if enabled { !0 } else { !(1 << 20) };
        if mask != self.a20_mask {
            self.a20_mask = mask;
            self.generation += 1;
        }
    }

    /// Whether the A20 gate is open.
    pub fn a20(&self) -> bool {
        self.a20_mask == !0
    }

    /// Changes whenever the address map changes (ROM, MMIO, A20), so that
    /// cached translations to host pointers can be dropped.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Where an access (`write` or a read) at `addr` goes.
    fn target(&self, addr: u32, write: bool) -> Target {
        let addr = addr & self.a20_mask;
        if !self.shadowed(addr, write) {
            for (i, r) in self.roms.iter().enumerate().rev() {
                let off = addr.wrapping_sub(r.base) as usize;
                if off < r.data.len() {
                    return Target::Rom(i, off);
                }
            }
        }
        if self.mmio.iter().any(|m| addr >= m.base && addr <= m.last) {
            return Target::Mmio;
        }
        if (addr as usize) < self.ram.len() {
            Target::Ram(addr as usize)
        } else {
            Target::Unmapped
        }
    }

    /// Reads one byte of physical memory. MMIO goes to `bus`; unmapped
    /// addresses read as all ones (an open bus).
    pub fn read_u8_bus(&mut self, addr: u32, bus: &mut dyn Bus) -> u8 {
        match self.target(addr, false) {
            Target::Ram(i) => self.ram[i],
            Target::Rom(r, off) => self.roms[r].data[off],
            Target::Mmio => bus.mmio_read(addr & self.a20_mask, 1) as u8,
            Target::Unmapped => 0xFF,
        }
    }

    /// Writes one byte of physical memory. ROM and unmapped writes are
    /// dropped; writes to pages holding cached code are recorded.
    pub fn write_u8_bus(&mut self, addr: u32, value: u8, bus: &mut dyn Bus) {
        match self.target(addr, true) {
            Target::Ram(i) => self.write_ram(i, value),
            Target::Mmio => bus.mmio_write(addr & self.a20_mask, 1, value as u32),
            Target::Rom(..) | Target::Unmapped => {
                log::debug!("write {value:#04x} to read-only/unmapped {addr:#010x} dropped")
            }
        }
    }

    /// Reads `size` bytes (1, 2 or 4, little-endian) of physical memory. An
    /// access that lies wholly in an MMIO range is one bus cycle of that size.
    pub fn read_sized(&mut self, addr: u32, size: u8, bus: &mut dyn Bus) -> u32 {
        if size > 1 && matches!(self.target(addr, false), Target::Mmio) {
            return bus.mmio_read(addr & self.a20_mask, size);
        }
        (0..size as u32).fold(0, |v, i| {
            v | (self.read_u8_bus(addr.wrapping_add(i), bus) as u32) << (8 * i)
        })
    }

    /// Writes `size` bytes (1, 2 or 4, little-endian) of physical memory.
    pub fn write_sized(&mut self, addr: u32, size: u8, value: u32, bus: &mut dyn Bus) {
        if size > 1 && matches!(self.target(addr, true), Target::Mmio) {
            return bus.mmio_write(addr & self.a20_mask, size, value);
        }
        for i in 0..size as u32 {
            self.write_u8_bus(addr.wrapping_add(i), (value >> (8 * i)) as u8, bus);
        }
    }

    /// Reads a byte with no bus attached (MMIO reads as open bus). For
    /// loaders, tests and debuggers.
    pub fn read_u8(&mut self, addr: u32) -> u8 {
        self.read_u8_bus(addr, &mut crate::bus::NullBus)
    }

    /// Writes a byte with no bus attached. For loaders, tests and DMA into RAM.
    pub fn write_u8(&mut self, addr: u32, value: u8) {
        self.write_u8_bus(addr, value, &mut crate::bus::NullBus)
    }

    /// Copies `data` into physical memory at `addr`.
    pub fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.write_u8(addr.wrapping_add(i as u32), b);
        }
    }

    /// Copies physical memory at `addr` into `buf`.
    pub fn read_bytes(&mut self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.read_u8(addr.wrapping_add(i as u32));
        }
    }

    fn write_ram(&mut self, i: usize, value: u8) {
        let page = i >> PAGE_SHIFT;
        if self.code_pages[page] {
            self.code_pages[page] = false;
            self.written_code_pages.push(page as u32);
        }
        self.ram[i] = value;
    }

    /// A host pointer to the start of the physical page holding `addr` (after
    /// the A20 mask), if the whole page is plain memory: RAM, or ROM when
    /// `write` is false. Pages holding cached code are not writable this way,
    /// so that stores to them take the slow path and invalidate the code.
    pub fn host_page(&mut self, addr: u32, write: bool) -> Option<*mut u8> {
        let page_base = addr & self.a20_mask & !(PAGE_SIZE - 1);
        let page_last = page_base + (PAGE_SIZE - 1);
        // Shadowing works in 16 KiB segments, so a page is shadowed whole.
        let roms = if self.shadowed(page_base, write) {
            &mut self.roms[..0]
        } else {
            &mut self.roms[..]
        };
        for r in roms.iter_mut().rev() {
            let end = r.base as u64 + r.data.len() as u64;
            if (page_base as u64) < end && page_last >= r.base {
                if write || page_base < r.base || page_last as u64 >= end {
                    return None;
                }
                let off = (page_base - r.base) as usize;
                return Some(r.data[off..].as_mut_ptr());
            }
        }
        if self
            .mmio
            .iter()
            .any(|m| page_base <= m.last && page_last >= m.base)
        {
            return None;
        }
        let i = page_base as usize;
        if i + PAGE_SIZE as usize > self.ram.len() {
            return None;
        }
        if write && self.code_pages[i >> PAGE_SHIFT] {
            return None;
        }
        Some(self.ram[i..].as_mut_ptr())
    }

    /// Marks the RAM page holding physical `addr` as holding cached code.
    /// Returns true if the mark is new (so writable host pointers to the page
    /// must be dropped).
    pub fn mark_code_page(&mut self, addr: u32) -> bool {
        let page = ((addr & self.a20_mask) >> PAGE_SHIFT) as usize;
        match self.code_pages.get_mut(page) {
            Some(m) if !*m => {
                *m = true;
                true
            }
            _ => false,
        }
    }

    /// Takes the list of code pages written since the last call.
    pub fn take_written_code_pages(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.written_code_pages)
    }

    /// Whether any code page has been written since the last
    /// [`take_written_code_pages`](Self::take_written_code_pages).
    pub fn code_written(&self) -> bool {
        !self.written_code_pages.is_empty()
    }

    /// Applies the A20 mask to a physical address.
    pub fn a20_mask(&self) -> u32 {
        self.a20_mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BIOS area as the i440FX shadows it (82441FX datasheet, PAM):
    /// reads from the ROM or the RAM under it, writes dropped or to RAM,
    /// per 16 KiB segment and per direction.
    #[test]
    fn shadow_ram_routes_reads_and_writes_per_segment() {
        let mut m = Memory::new(1 << 21);
        m.map_rom(0xF_0000, vec![0xAA; 0x1_0000]);
        m.write_u8(0xF_0000, 0x11);
        assert_eq!(m.read_u8(0xF_0000), 0xAA, "ROM: write dropped");
        m.set_shadow(0xF_0000, 0x1_0000, shadow::WRITE_RAM);
        m.write_u8(0xF_0000, 0x11);
        assert_eq!(m.read_u8(0xF_0000), 0xAA, "reads still from the ROM");
        m.set_shadow(0xF_0000, 0x1_0000, shadow::READ_RAM | shadow::WRITE_RAM);
        assert_eq!(m.read_u8(0xF_0000), 0x11, "the copy in RAM");
        m.set_shadow(0xF_0000, 0x4000, 0);
        assert_eq!(m.read_u8(0xF_0000), 0xAA, "segment F0000h back on the ROM");
        m.write_u8(0xF_4000, 0x22);
        assert_eq!(m.read_u8(0xF_4000), 0x22, "segment F4000h still RAM");
    }

    /// Host pointers follow the shadowing, and changing where reads come
    /// from drops code cached from those pages.
    #[test]
    fn shadow_changes_invalidate_pointers_and_code() {
        let mut m = Memory::new(1 << 21);
        m.map_rom(0xF_0000, vec![0xAA; 0x1_0000]);
        assert!(
            m.host_page(0xF_0000, true).is_none(),
            "ROM: no write pointer"
        );
        m.mark_code_page(0xF_0000);
        let generation = m.generation();
        m.set_shadow(0xF_0000, 0x1_0000, shadow::READ_RAM | shadow::WRITE_RAM);
        assert_ne!(m.generation(), generation);
        assert_eq!(m.take_written_code_pages(), vec![0xF0]);
        let p = m.host_page(0xF_0000, true).expect("RAM now");
        // SAFETY: the pointer is to the start of a RAM page of this memory.
        unsafe { *p = 0x33 };
        assert_eq!(m.read_u8(0xF_0000), 0x33);
    }
}
