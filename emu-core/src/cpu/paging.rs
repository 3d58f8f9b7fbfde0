//! Paging: linear → physical translation through the page tables (Intel SDM
//! vol. 3, chapter 4), and the control-register loads that change it.
//!
//! Two formats, as a P6 has them:
//! - 32-bit paging (SDM 4.3): CR3 → page directory → page table, 4-byte
//!   entries, 4 KiB pages, and 4 MiB pages under CR4.PSE (no PSE-36: bits
//!   21:13 of a 4 MiB PDE are reserved);
//! - PAE paging (SDM 4.4): four PDPTE registers loaded from the table at CR3
//!   (4.4.1), then page directory → page table with 8-byte entries, 4 KiB and
//!   2 MiB pages, a 36-bit physical address (MAXPHYADDR = 36) and no
//!   execute-disable bit (bit 63 is reserved).
//!
//! The walk checks presence and reserved bits at each level (4.7), combines
//! U/S and R/W across levels (4.6), and only when the access is allowed sets
//! the accessed flag of every entry it used and, for a write, the dirty flag
//! of the entry that maps the page (4.8). The platform's physical memory is
//! 32 bits: a PAE page above 4 GiB reads as all ones and ignores writes (see
//! `mmu.rs`).

use super::exception::{Exception, Result, PF};
use super::mmu::Access;
use super::{cr0, Cpu};
use crate::bus::Bus;

/// Control register 4 bits (SDM vol. 3, 2.5).
pub mod cr4 {
    pub const VME: u32 = 1 << 0;
    pub const PVI: u32 = 1 << 1;
    pub const TSD: u32 = 1 << 2;
    pub const DE: u32 = 1 << 3;
    pub const PSE: u32 = 1 << 4;
    pub const PAE: u32 = 1 << 5;
    pub const MCE: u32 = 1 << 6;
    pub const PGE: u32 = 1 << 7;
    pub const PCE: u32 = 1 << 8;
    pub const OSFXSR: u32 = 1 << 9;
    pub const OSXMMEXCPT: u32 = 1 << 10;
    /// Every bit a P6-class CPU lets software set; others are #GP(0).
    pub const KNOWN: u32 = VME | PVI | TSD | DE | PSE | PAE | MCE | PGE | PCE | OSFXSR | OSXMMEXCPT;
}

/// Paging-structure entry bits (SDM vol. 3, tables 4-4 to 4-6, 4-8 to 4-11).
pub mod pte {
    pub const P: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const A: u64 = 1 << 5;
    pub const D: u64 = 1 << 6;
    pub const PS: u64 = 1 << 7;
    pub const G: u64 = 1 << 8;
}

/// Page-fault error code bits (SDM vol. 3, 4.7, figure 4-12).
pub mod pf {
    /// The fault was a protection violation (or a reserved bit), not a
    /// not-present page.
    pub const P: u16 = 1 << 0;
    /// The access was a write.
    pub const W: u16 = 1 << 1;
    /// The access was a user-mode access.
    pub const U: u16 = 1 << 2;
    /// A reserved bit was set in some paging-structure entry.
    pub const RSVD: u16 = 1 << 3;
}

/// Reserved bits of a present PDPTE (SDM vol. 3, table 4-8): 63:36 (with
/// MAXPHYADDR 36), 8:5 and 2:1.
const PDPTE_RSVD: u64 = 0xFFFF_FFF0_0000_0000 | 0x1E0 | 0x6;
/// Reserved bits of a present PAE PDE/PTE: 62:36 and bit 63 (XD without
/// IA32_EFER.NXE, which a P6 lacks) (SDM vol. 3, tables 4-9 to 4-11).
const PAE_RSVD: u64 = 0xFFFF_FFF0_0000_0000;
/// Extra reserved bits of a PAE PDE that maps a 2 MiB page: 20:13.
const PAE_LARGE_RSVD: u64 = 0x001F_E000;
/// Reserved bits of a 32-bit PDE that maps a 4 MiB page without PSE-36:
/// 21:13 (SDM vol. 3, table 4-4, and 4.3 on processors without PSE-36).
const PSE_LARGE_RSVD: u64 = 0x003F_E000;
/// Physical-address bits of a PAE entry (35:12).
const PAE_ADDR: u64 = 0x0000_000F_FFFF_F000;

/// The result of a successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Translation {
    /// The physical address (up to 36 bits with PAE).
    pub phys: u64,
    /// R/W was set in every entry that controls the page (SDM 4.6).
    pub writable: bool,
    /// The dirty flag of the entry that maps the page is set.
    pub dirty: bool,
    /// A global translation (G set in that entry, CR4.PGE on).
    pub global: bool,
    /// A 4 MiB or 2 MiB page.
    pub large: bool,
}

impl Translation {
    /// Paging off: the linear address is the physical one, everything allowed.
    pub fn identity(lin: u32) -> Translation {
        Translation {
            phys: lin as u64,
            writable: true,
            dirty: true,
            global: false,
            large: false,
        }
    }
}

/// The entries a walk used, for the accessed/dirty updates once it succeeds.
struct Walk {
    /// (physical address, value) of each entry in memory, the one that maps
    /// the page last.
    entries: [(u64, u64); 2],
    used: usize,
    /// The bits of every level ANDed: R/W and U/S of the walk.
    rights: u64,
    phys: u64,
    large: bool,
}

impl Cpu {
    /// PAE paging is in use (CR0.PG and CR4.PAE).
    pub(crate) fn pae_paging(&self) -> bool {
        self.cr0 & cr0::PG != 0 && self.cr4 & cr4::PAE != 0
    }

    /// Reads a paging-structure entry of 4 or 8 bytes. Above 4 GiB there is
    /// no memory: all ones, which has reserved bits set.
    fn read_entry(&mut self, bus: &mut dyn Bus, addr: u64, wide: bool) -> u64 {
        if addr >= 1 << 32 {
            return u64::MAX;
        }
        let lo = self.mem.read_sized(addr as u32, 4, bus) as u64;
        if !wide {
            return lo;
        }
        let hi = self.mem.read_sized((addr as u32).wrapping_add(4), 4, bus) as u64;
        lo | hi << 32
    }

    /// Walks the page tables for `lin`. `user` is a user-mode access (CPL 3,
    /// not an implicit supervisor access). Faults set CR2 and give #PF with
    /// the error code of SDM vol. 3, 4.7; nothing in memory changes then.
    pub(crate) fn page_walk(
        &mut self,
        bus: &mut dyn Bus,
        lin: u32,
        access: Access,
        user: bool,
    ) -> Result<Translation> {
        let write = access == Access::Write;
        let walk = if self.cr4 & cr4::PAE != 0 {
            self.walk_pae(bus, lin)
        } else {
            self.walk_32(bus, lin)
        };
        let fault = |cpu: &mut Cpu, bits: u16| {
            cpu.cr2 = lin;
            let code = bits | if write { pf::W } else { 0 } | if user { pf::U } else { 0 };
            Err(Exception::with_error(PF, code))
        };
        let w = match walk {
            Ok(w) => w,
            Err(bits) => return fault(self, bits),
        };
        // SDM 4.6: a user-mode access needs U/S = 1 at every level; a write
        // needs R/W = 1 at every level, for supervisor-mode accesses only when
        // CR0.WP = 1.
        let writable = w.rights & pte::RW != 0;
        if (user && w.rights & pte::US == 0)
            || (write && !writable && (user || self.cr0 & cr0::WP != 0))
        {
            return fault(self, pf::P);
        }
        // SDM 4.8: set A in each entry used, D in the one mapping the page.
        let last = w.used - 1;
        for (n, &(addr, value)) in w.entries[..w.used].iter().enumerate() {
            let set = pte::A | if n == last && write { pte::D } else { 0 };
            if value & set != set {
                self.mem
                    .write_sized(addr as u32, 4, (value | set) as u32, bus);
            }
        }
        let (_, leaf) = w.entries[last];
        Ok(Translation {
            phys: w.phys,
            writable,
            dirty: leaf & pte::D != 0 || write,
            global: leaf & pte::G != 0 && self.cr4 & cr4::PGE != 0,
            large: w.large,
        })
    }

    /// 32-bit paging (SDM vol. 3, 4.3). Errors are the P/RSVD error-code bits.
    fn walk_32(&mut self, bus: &mut dyn Bus, lin: u32) -> core::result::Result<Walk, u16> {
        let pde_addr = ((self.cr3 & 0xFFFF_F000) | ((lin >> 22) << 2)) as u64;
        let pde = self.read_entry(bus, pde_addr, false);
        if pde & pte::P == 0 {
            return Err(0);
        }
        if pde & pte::PS != 0 && self.cr4 & cr4::PSE != 0 {
            if pde & PSE_LARGE_RSVD != 0 {
                return Err(pf::P | pf::RSVD);
            }
            return Ok(Walk {
                entries: [(pde_addr, pde), (0, 0)],
                used: 1,
                rights: pde,
                phys: (pde & 0xFFC0_0000) | (lin & 0x003F_FFFF) as u64,
                large: true,
            });
        }
        let pte_addr = (pde & 0xFFFF_F000) | (((lin >> 12) & 0x3FF) as u64 * 4);
        let pte = self.read_entry(bus, pte_addr, false);
        if pte & pte::P == 0 {
            return Err(0);
        }
        Ok(Walk {
            entries: [(pde_addr, pde), (pte_addr, pte)],
            used: 2,
            rights: pde & pte,
            phys: (pte & 0xFFFF_F000) | (lin & 0xFFF) as u64,
            large: false,
        })
    }

    /// PAE paging (SDM vol. 3, 4.4): the PDPTE registers, then 8-byte PDEs
    /// and PTEs. PDPTEs carry no R/W, U/S or accessed flag.
    fn walk_pae(&mut self, bus: &mut dyn Bus, lin: u32) -> core::result::Result<Walk, u16> {
        let pdpte = self.pdpte[(lin >> 30) as usize];
        if pdpte & pte::P == 0 {
            return Err(0);
        }
        let pde_addr = (pdpte & PAE_ADDR) | (((lin >> 21) & 0x1FF) as u64 * 8);
        let pde = self.read_entry(bus, pde_addr, true);
        if pde & pte::P == 0 {
            return Err(0);
        }
        if pde & PAE_RSVD != 0 {
            return Err(pf::P | pf::RSVD);
        }
        if pde & pte::PS != 0 {
            if pde & PAE_LARGE_RSVD != 0 {
                return Err(pf::P | pf::RSVD);
            }
            return Ok(Walk {
                entries: [(pde_addr, pde), (0, 0)],
                used: 1,
                rights: pde,
                phys: (pde & PAE_ADDR & !0x1F_FFFF) | (lin & 0x1F_FFFF) as u64,
                large: true,
            });
        }
        let pte_addr = (pde & PAE_ADDR) | (((lin >> 12) & 0x1FF) as u64 * 8);
        let pte = self.read_entry(bus, pte_addr, true);
        if pte & pte::P == 0 {
            return Err(0);
        }
        if pte & PAE_RSVD != 0 {
            return Err(pf::P | pf::RSVD);
        }
        Ok(Walk {
            entries: [(pde_addr, pde), (pte_addr, pte)],
            used: 2,
            rights: pde & pte,
            phys: (pte & PAE_ADDR) | (lin & 0xFFF) as u64,
            large: false,
        })
    }

    /// Reads the four PDPTEs of the table at `cr3` (SDM vol. 3, 4.4.1): a
    /// present one with a reserved bit set makes the loading instruction
    /// #GP(0), with nothing changed.
    fn read_pdptes(&mut self, bus: &mut dyn Bus, cr3: u32) -> Result<[u64; 4]> {
        let base = (cr3 & 0xFFFF_FFE0) as u64;
        let mut pdptes = [0; 4];
        for (i, e) in pdptes.iter_mut().enumerate() {
            *e = self.read_entry(bus, base + 8 * i as u64, true);
            if *e & pte::P != 0 && *e & PDPTE_RSVD != 0 {
                return Err(Exception::gp(0));
            }
        }
        Ok(pdptes)
    }

    /// MOV CR3 (and a task switch's CR3 load): with PAE paging in use the
    /// PDPTEs load first (#GP(0) on a reserved bit, CR3 unchanged); then the
    /// non-global translations go (SDM vol. 3, 4.4.1 and 4.10.4.1).
    pub(crate) fn load_cr3(&mut self, bus: &mut dyn Bus, v: u32) -> Result<()> {
        if self.pae_paging() {
            self.pdpte = self.read_pdptes(bus, v)?;
        }
        self.cr3 = v;
        self.flush_tlb_cr3();
        Ok(())
    }

    /// MOV CR4: unknown bits are #GP(0). Changing PSE, PAE or PGE flushes
    /// the whole TLB, global entries included; with paging on and PAE set
    /// afterwards it also reloads the PDPTEs (SDM vol. 3, 4.4.1, 4.10.4.1).
    pub(crate) fn load_cr4(&mut self, bus: &mut dyn Bus, v: u32) -> Result<()> {
        if v & !cr4::KNOWN != 0 {
            return Err(Exception::gp(0));
        }
        const PAGING: u32 = cr4::PSE | cr4::PAE | cr4::PGE;
        let changed = v ^ self.cr4;
        if changed & PAGING != 0 && self.cr0 & cr0::PG != 0 && v & cr4::PAE != 0 {
            self.pdpte = self.read_pdptes(bus, self.cr3)?;
        }
        self.cr4 = v;
        if changed & PAGING != 0 {
            self.flush_tlb();
        }
        Ok(())
    }

    /// MOV CR0: as [`Cpu::write_cr0`], and if PAE paging is in use afterwards
    /// and PG, CD or NW changed, the PDPTEs load first (SDM vol. 3, 4.4.1).
    pub(crate) fn load_cr0(&mut self, bus: &mut dyn Bus, v: u32) -> Result<()> {
        const RELOAD: u32 = cr0::PG | cr0::CD | cr0::NW;
        let pdptes = if v & cr0::PG != 0 && self.cr4 & cr4::PAE != 0 && (v ^ self.cr0) & RELOAD != 0
        {
            Some(self.read_pdptes(bus, self.cr3)?)
        } else {
            None
        };
        self.write_cr0(v)?;
        if let Some(p) = pdptes {
            self.pdpte = p;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "paging_tests.rs"]
mod tests;
