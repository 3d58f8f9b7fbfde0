//! The debug registers (Intel SDM vol. 3, chapter 17): DR0–DR3 breakpoint
//! addresses, DR6 status, DR7 control.
//!
//! - Instruction breakpoints (R/W = 00) are faults (17.3.1.1): checked at
//!   block entry against CS:EIP, and a block that contains a breakpoint
//!   address further on is cut short before it, so that the instruction
//!   starts a block of its own. EFLAGS.RF suppresses them for one
//!   instruction and is then cleared (17.3.1.1).
//! - Data breakpoints (R/W = 01 write, 11 read or write) are traps after the
//!   accessing instruction (17.3.1.2). The TLB never holds a page that an
//!   enabled data breakpoint watches (`mmu.rs`), so such accesses take the
//!   slow path, which matches them; with no breakpoint enabled nothing extra
//!   happens on the fast path. A hit ends the block after the instruction,
//!   and the run loop raises #DB with the B0–B3 bits of the hits.
//! - I/O breakpoints (R/W = 10, only while CR4.DE is set; undefined
//!   otherwise, and then ignored here) are traps after the IN, OUT, INS or
//!   OUTS that touched a watched port (17.2.4, 17.2.5).
//! - General detect (DR7.GD): MOV to or from a debug register is a #DB fault
//!   with DR6.BD set, and GD is cleared for the handler (17.2.4).
//! - Single step (EFLAGS.TF, DR6.BS) is the run loop's; it shares the #DB
//!   delivery here when a data breakpoint hits on the same instruction.
//!
//! Not modelled: breakpoint hits made while delivering an interrupt or
//! exception are not reported.

use super::exception::{Exception, Result, DB};
use super::flags::RF;
use super::paging::cr4;
use super::BlockCache;
use super::{Cpu, SegReg};
use crate::bus::Bus;
use crate::memory::PAGE_SHIFT;

/// DR6 bits.
pub mod dr6 {
    /// B0–B3: breakpoint n's condition was met.
    pub const B: u32 = 0xF;
    /// BD: a debug-register access while DR7.GD was set.
    pub const BD: u32 = 1 << 13;
    /// BS: single step.
    pub const BS: u32 = 1 << 14;
    /// BT: task switch to a TSS with the T flag.
    pub const BT: u32 = 1 << 15;
    /// Bits that read as one.
    pub const FIXED_ONE: u32 = 0xFFFF_0FF0;
}

/// DR7 bits.
pub mod dr7 {
    /// L0–L3 and G0–G3.
    pub const ENABLES: u32 = 0xFF;
    /// General detect.
    pub const GD: u32 = 1 << 13;
    /// Bits that read as one.
    pub const FIXED_ONE: u32 = 1 << 10;
}

/// What breakpoint `n` of `dr7` watches: its R/W field (0 execute, 1 write,
/// 2 I/O, 3 read/write) and its length in bytes, or None if disabled.
#[inline]
fn breakpoint(dr7: u32, n: usize) -> Option<(u32, u32)> {
    if (dr7 >> (2 * n)) & 3 == 0 {
        return None;
    }
    let rw = (dr7 >> (16 + 4 * n)) & 3;
    // LEN: 00 one byte, 01 two, 11 four; 10 is eight bytes on later
    // processors (undefined on the P6) (SDM vol. 3, 17.2.5).
    let len = match (dr7 >> (18 + 4 * n)) & 3 {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    };
    Some((rw, len))
}

/// Whether breakpoint kind `rw` matches a data access (`write` or a read).
#[inline]
fn data_kind(rw: u32, write: bool) -> bool {
    rw == 3 || (rw == 1 && write)
}

/// R/W = 10: an I/O breakpoint when CR4.DE is set.
const IO_KIND: u32 = 2;

impl Cpu {
    /// An enabled data breakpoint watches the linear page of `lin` for this
    /// kind of access (`write`: writes; else reads), so the TLB must not
    /// cache it. Slow path only (TLB fills).
    pub(crate) fn breakpoint_on_page(&self, lin: u32, write: bool) -> bool {
        let dr7 = self.dr[7];
        (0..4).any(|n| {
            matches!(breakpoint(dr7, n), Some((rw, len))
                if data_kind(rw, write)
                    && (self.dr[n] & !(len - 1)) >> PAGE_SHIFT == lin >> PAGE_SHIFT)
        })
    }

    /// Matches a completed data access of `size` bytes at `lin` against the
    /// enabled data breakpoints (SDM vol. 3, 17.2.5: a breakpoint hits if
    /// any accessed byte lies in its aligned range). Hits are reported as a
    /// #DB trap once the instruction completes.
    #[cold]
    pub(crate) fn data_breakpoints(&mut self, lin: u32, size: u32, write: bool) {
        let dr7 = self.dr[7];
        let (lo, hi) = (lin as u64, lin as u64 + size as u64);
        for n in 0..4 {
            if let Some((rw, len)) = breakpoint(dr7, n) {
                let at = (self.dr[n] & !(len - 1)) as u64;
                if data_kind(rw, write) && lo < at + len as u64 && at < hi {
                    self.dbg_hits |= 1 << n;
                    self.exit_block = true;
                }
            }
        }
    }

    /// Matches a completed port access of `size` bytes at `port` against the
    /// enabled I/O breakpoints (CR4.DE set): a hit is a #DB trap once the
    /// instruction completes (SDM vol. 3, 17.2.4).
    #[cold]
    pub(crate) fn io_breakpoints(&mut self, port: u16, size: u32) {
        if self.cr4 & cr4::DE == 0 {
            return;
        }
        let dr7 = self.dr[7];
        let (lo, hi) = (port as u32, port as u32 + size);
        for n in 0..4 {
            if let Some((IO_KIND, len)) = breakpoint(dr7, n) {
                let at = self.dr[n] & 0xFFFF & !(len - 1);
                if lo < at + len && at < hi {
                    self.dbg_hits |= 1 << n;
                    self.exit_block = true;
                }
            }
        }
    }

    /// The instruction breakpoints that `lin` hits, as B0–B3 bits.
    fn code_hits(&self, lin: u32) -> u32 {
        let dr7 = self.dr[7];
        (0..4)
            .filter(|&n| matches!(breakpoint(dr7, n), Some((0, _))) && self.dr[n] == lin)
            .fold(0, |b, n| b | 1 << n)
    }

    /// At block entry, when DR7 enables a breakpoint or RF is set (SDM vol.
    /// 3, 17.3.1.1): an instruction breakpoint on CS:EIP is a #DB fault,
    /// unless RF suppresses it, and RF is cleared for the instruction after.
    /// Otherwise returns how many instructions of the block at CS:EIP may run
    /// before one that a breakpoint watches, which must start a block of its
    /// own. Stale data-breakpoint hits (made by an event delivery) are
    /// dropped. Off the fast path: only called while debugging.
    #[cold]
    #[inline(never)]
    pub(crate) fn code_breakpoints(
        &mut self,
        cache: &mut BlockCache,
        bus: &mut dyn Bus,
    ) -> Result<u64> {
        self.dbg_hits = 0;
        let cs_base = self.segs[SegReg::CS as usize].base;
        if self.eflags_raw & RF != 0 {
            self.eflags_raw &= !RF;
        } else {
            let hits = self.code_hits(cs_base.wrapping_add(self.eip));
            if hits != 0 {
                self.dr[6] = (self.dr[6] & !dr6::B) | hits;
                return Err(Exception::new(DB));
            }
        }
        if self.dr[7] & dr7::ENABLES == 0 {
            return Ok(u64::MAX);
        }
        // A failing lookup faults again, and is delivered, in the run loop.
        let Ok(block) = cache.lookup(self, bus) else {
            return Ok(u64::MAX);
        };
        let (eip, mask) = (self.eip, block.ip_mask);
        let first_hit = block.ops.iter().skip(1).position(|op| {
            let lin = cs_base.wrapping_add(eip.wrapping_add(op.start as u32) & mask);
            self.code_hits(lin) != 0
        });
        Ok(first_hit.map_or(u64::MAX, |i| i as u64 + 1))
    }

    /// After a block: raises the #DB trap for data-breakpoint hits and for a
    /// single step (`single_step`: TF was set when the instruction began),
    /// in one exception with all their DR6 bits. A faulting instruction
    /// reports neither.
    pub(crate) fn debug_trap(&mut self, bus: &mut dyn Bus, single_step: bool, faulted: bool) {
        let hits = std::mem::take(&mut self.dbg_hits);
        if faulted {
            return;
        }
        if hits != 0 {
            self.dr[6] = (self.dr[6] & !dr6::B) | hits;
        }
        if single_step {
            // SDM vol. 3, 17.3.1.4.
            self.dr[6] |= dr6::BS;
        }
        self.raise(bus, Exception::new(DB));
    }

    /// The general-detect check of MOV to/from DRn: with DR7.GD set it is a
    /// #DB fault with DR6.BD, and GD is cleared so the handler can use the
    /// registers (SDM vol. 3, 17.2.4).
    pub(crate) fn general_detect(&mut self) -> Result<()> {
        if self.dr[7] & dr7::GD != 0 {
            self.dr[6] = (self.dr[6] & !dr6::B) | dr6::BD;
            self.dr[7] &= !dr7::GD;
            return Err(Exception::new(DB));
        }
        Ok(())
    }

    /// MOV DRn, r32 after the checks (`n` is 0–3, 6 or 7). Breakpoint
    /// changes drop the TLB (so watched pages leave the fast path) and end
    /// the block (so instruction breakpoints apply from the next one).
    pub(crate) fn write_dr(&mut self, n: usize, v: u32) {
        self.dr[n] = match n {
            6 => (v & (dr6::B | dr6::BD | dr6::BS | dr6::BT)) | dr6::FIXED_ONE,
            7 => (v & 0xFFFF_2BFF) | dr7::FIXED_ONE,
            _ => v,
        };
        if n != 6 {
            self.flush_tlb();
            self.exit_block = true;
        }
    }
}

#[cfg(test)]
#[path = "debug_tests.rs"]
mod tests;
