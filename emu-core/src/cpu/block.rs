//! The decoded-block cache.
//!
//! A block is a run of straight-line instructions, decoded once and lowered to
//! [`Op`]s. Blocks are keyed by the physical address of their first byte plus
//! the mode bits that change how bytes decode (CS.D, PE, VM), so the same code
//! reached through different linear addresses shares one block, and a write
//! to the physical page — through any alias — finds it. Lookup is a
//! direct-mapped table in front of a hash map; a per-page list of blocks makes
//! invalidation on self-modifying code cheap.
//!
//! In front of both, each block remembers the blocks that ran after it
//! ([`Link`]s, keyed by linear address, mode, CPL and the TLB's flush
//! epoch), so the usual next block is found without translating EIP or
//! hashing: QEMU's block chaining, checked instead of patched.

use super::decode::{ends_block, Op};
use super::exception::{Exception, Result};
use super::{ops, Cpu, SegReg};
use crate::bus::Bus;
use crate::memory::{PAGE_SHIFT, PAGE_SIZE};
use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};
use std::collections::HashMap;

/// Most instructions in one block.
const MAX_OPS: usize = 64;
/// Longest legal instruction (SDM vol. 2, 2.3.11).
const MAX_INSN_LEN: usize = 15;
const FAST_BITS: u32 = 14;

/// A decoded run of instructions.
pub struct Block {
    pub ops: Box<[Op]>,
    /// 0xFFFF for 16-bit code (IP wraps), else all ones.
    pub ip_mask: u32,
    key: u64,
    /// Bytes the block covers, from its first byte.
    len: u32,
    /// Physical page of the last byte when the block's one instruction
    /// crosses into another page (else the first page).
    last_page: u32,
}

/// "After this block, linear `lin` in context `ctx` was block `id`, whose
/// key was `key`": valid while the TLB epoch is `epoch` (no translation
/// changed) and block `id` still has that key (not invalidated).
#[derive(Clone, Copy)]
struct Link {
    lin: u32,
    ctx: u32,
    epoch: u64,
    id: u32,
    key: u64,
}

const NO_LINK: Link = Link {
    lin: 0,
    ctx: u32::MAX,
    epoch: 0,
    id: 0,
    key: u64::MAX,
};

/// Successors remembered per block: a branch's two ways.
const LINKS: usize = 2;

/// Cached blocks, and the indexes to find and invalidate them.
#[derive(Default)]
pub struct BlockCache {
    blocks: Vec<Option<Block>>,
    free: Vec<u32>,
    map: HashMap<u64, u32>,
    /// Direct-mapped front of `map`: (key, block index).
    fast: Vec<(u64, u32)>,
    /// Physical page number → blocks with bytes in it.
    by_page: HashMap<u32, Vec<u32>>,
    /// Per block: the blocks that followed it.
    links: Vec<[Link; LINKS]>,
    /// The block returned last, whose links the next lookup tries.
    last: Option<u32>,
}

impl Clone for BlockCache {
    /// A clone starts empty: decoded code is derived state.
    fn clone(&self) -> BlockCache {
        BlockCache::default()
    }
}

fn fast_index(key: u64) -> usize {
    ((key ^ (key >> 14) ^ (key >> 32)) as usize) & ((1 << FAST_BITS) - 1)
}

impl BlockCache {
    /// The block at CS:EIP, decoding it if needed. Fails with the fault an
    /// instruction fetch there raises (#GP past the CS limit, #PF).
    pub(crate) fn lookup(&mut self, cpu: &mut Cpu, bus: &mut dyn Bus) -> Result<&Block> {
        let cs = cpu.segs[SegReg::CS as usize];
        if cpu.eip > cs.limit {
            return Err(Exception::gp(0));
        }
        let lin = cs.base.wrapping_add(cpu.eip);
        let mode =
            cs.big() as u64 | (cpu.protected_mode() as u64) << 1 | (cpu.v86_mode() as u64) << 2;
        let ctx = mode as u32 | (cpu.cpl as u32) << 3;
        let epoch = cpu.tlb_epoch();
        let prev = self.last.take();
        if let Some(id) = prev.and_then(|p| self.linked(p, lin, ctx, epoch, cpu.eip, cs.limit)) {
            self.last = Some(id);
            return Ok(self.blocks[id as usize]
                .as_ref()
                .expect("linked blocks exist"));
        }
        let phys = cpu.translate_fetch(bus, lin)? & cpu.mem.a20_mask();
        let key = phys as u64 | mode << 32;
        if self.fast.is_empty() {
            self.fast = vec![(u64::MAX, 0); 1 << FAST_BITS];
        }
        let slot = fast_index(key);
        let found = match self.fast[slot] {
            (k, id) if k == key => Some(id),
            _ => self.map.get(&key).copied(),
        };
        let id = match found {
            Some(id) if self.still_valid(id, cpu, bus, lin) => id,
            _ => {
                if let Some(id) = found {
                    self.remove(id);
                }
                let block = decode(cpu, bus, lin, phys, key)?;
                self.insert(cpu, block)
            }
        };
        self.fast[slot] = (key, id);
        if let Some(p) = prev {
            self.link(
                p,
                Link {
                    lin,
                    ctx,
                    epoch,
                    id,
                    key,
                },
            );
        }
        self.last = Some(id);
        Ok(self.blocks[id as usize]
            .as_ref()
            .expect("indexed blocks exist"))
    }

    /// The block that followed `prev` at `lin` in this context, if that is
    /// still certain: same TLB epoch, the block still there, within the CS
    /// limit, and on one page (a block crossing pages re-checks its second
    /// page's translation in `still_valid`).
    #[inline]
    fn linked(
        &self,
        prev: u32,
        lin: u32,
        ctx: u32,
        epoch: u64,
        eip: u32,
        limit: u32,
    ) -> Option<u32> {
        let l = self
            .links
            .get(prev as usize)?
            .iter()
            .find(|l| l.lin == lin && l.ctx == ctx && l.epoch == epoch)?;
        let b = self.blocks.get(l.id as usize)?.as_ref()?;
        let one_page = b.last_page == (b.key as u32) >> PAGE_SHIFT;
        (b.key == l.key && one_page && eip.checked_add(b.len.saturating_sub(1))? <= limit)
            .then_some(l.id)
    }

    /// Remembers that `link` followed block `prev`, replacing the older of
    /// its links (or a stale one for the same address).
    fn link(&mut self, prev: u32, link: Link) {
        let Some(slots) = self.links.get_mut(prev as usize) else {
            return;
        };
        let i = slots
            .iter()
            .position(|l| l.lin == link.lin && l.ctx == link.ctx);
        match i {
            Some(i) => slots[i] = link,
            None => {
                slots.rotate_right(1);
                slots[0] = link;
            }
        }
    }

    /// A cached block still fits this CS limit and, if it crosses a page,
    /// its second page still maps to the same physical page.
    fn still_valid(&self, id: u32, cpu: &mut Cpu, bus: &mut dyn Bus, lin: u32) -> bool {
        let Some(b) = self.blocks[id as usize].as_ref() else {
            return false;
        };
        let cs = cpu.segs[SegReg::CS as usize];
        if cpu.eip.wrapping_add(b.len.saturating_sub(1)) > cs.limit {
            return false;
        }
        let first_page = (b.key as u32) >> PAGE_SHIFT;
        if b.last_page == first_page {
            return true;
        }
        let last = lin.wrapping_add(b.len.saturating_sub(1));
        matches!(cpu.translate_fetch(bus, last), Ok(p) if (p & cpu.mem.a20_mask()) >> PAGE_SHIFT == b.last_page)
    }

    fn insert(&mut self, cpu: &mut Cpu, block: Block) -> u32 {
        if self.map.len() >= 1 << 16 {
            self.clear();
        }
        let pages = [(block.key as u32) >> PAGE_SHIFT, block.last_page];
        let key = block.key;
        let id = match self.free.pop() {
            Some(id) => {
                self.blocks[id as usize] = Some(block);
                id
            }
            None => {
                self.blocks.push(Some(block));
                self.links.push([NO_LINK; LINKS]);
                self.blocks.len() as u32 - 1
            }
        };
        self.map.insert(key, id);
        for (n, &page) in pages.iter().enumerate() {
            if n == 1 && page == pages[0] {
                break;
            }
            self.by_page.entry(page).or_default().push(id);
            if cpu.mem.mark_code_page(page << PAGE_SHIFT) {
                cpu.flush_tlb_writes_to(page);
            }
        }
        id
    }

    fn remove(&mut self, id: u32) {
        if let Some(b) = self.blocks[id as usize].take() {
            self.links[id as usize] = [NO_LINK; LINKS];
            self.map.remove(&b.key);
            let slot = fast_index(b.key);
            if self.fast[slot].0 == b.key {
                self.fast[slot] = (u64::MAX, 0);
            }
            self.free.push(id);
        }
    }

    /// Drops every block with bytes in one of `pages` (physical page numbers).
    pub(crate) fn invalidate_pages(&mut self, pages: &[u32]) {
        for page in pages {
            for id in self.by_page.remove(page).unwrap_or_default() {
                self.remove(id);
            }
        }
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.links.clear();
        self.last = None;
        self.free.clear();
        self.map.clear();
        self.fast.fill((u64::MAX, 0));
        self.by_page.clear();
    }
}

/// Decodes the block starting at linear `lin` / physical `phys`.
fn decode(cpu: &mut Cpu, bus: &mut dyn Bus, lin: u32, phys: u32, key: u64) -> Result<Block> {
    let cs = cpu.segs[SegReg::CS as usize];
    let bitness = if cs.big() { 32 } else { 16 };
    let ip_mask = if cs.big() { u32::MAX } else { 0xFFFF };
    // The bytes to the end of this page, plus room for one instruction that
    // crosses into the next page (fetched only if the first one needs it).
    let in_page = (PAGE_SIZE - (phys & (PAGE_SIZE - 1))) as usize;
    let mut bytes = Vec::with_capacity(in_page + MAX_INSN_LEN);
    match cpu.mem.host_page(phys, false) {
        Some(page) => {
            // SAFETY: `host_page` points at a whole page of plain memory.
            let page = unsafe { std::slice::from_raw_parts(page, PAGE_SIZE as usize) };
            bytes.extend_from_slice(&page[(phys & (PAGE_SIZE - 1)) as usize..]);
        }
        None => bytes.extend((0..in_page as u32).map(|n| cpu.mem.read_u8_bus(phys + n, bus))),
    }
    let mut last_page = phys >> PAGE_SHIFT;
    let mut ops = Vec::with_capacity(16);
    let mut decoder = Decoder::with_ip(bitness, &bytes, cpu.eip as u64, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    let mut crossing: Option<Vec<u8>> = None;
    while decoder.can_decode() && ops.len() < MAX_OPS {
        let start = decoder.position();
        decoder.decode_out(&mut insn);
        if decoder.last_error() == DecoderError::NoMoreBytes {
            if start != 0 {
                break; // let the page-crossing instruction start a block of its own
            }
            let next_lin = (lin | (PAGE_SIZE - 1)).wrapping_add(1);
            let next_phys = cpu.translate_fetch(bus, next_lin)? & cpu.mem.a20_mask();
            last_page = next_phys >> PAGE_SHIFT;
            let mut b = bytes.clone();
            for n in 0..MAX_INSN_LEN as u32 {
                b.push(cpu.mem.read_u8_bus(next_phys + n, bus));
            }
            crossing = Some(b);
            break;
        }
        if !push_op(cpu, &insn, start, &mut ops) {
            break;
        }
    }
    if let Some(b) = crossing {
        let mut d = Decoder::with_ip(bitness, &b, cpu.eip as u64, DecoderOptions::NONE);
        d.decode_out(&mut insn);
        push_op(cpu, &insn, 0, &mut ops);
    }
    let len = ops.last().map_or(1, |o: &Op| o.next as u32);
    Ok(Block {
        ops: ops.into_boxed_slice(),
        ip_mask,
        key,
        len,
        last_page,
    })
}

/// Lowers one decoded instruction into `ops`; false if the block ends here.
fn push_op(cpu: &Cpu, insn: &Instruction, start: usize, ops: &mut Vec<Op>) -> bool {
    let start = start as u16;
    let cs = cpu.segs[SegReg::CS as usize];
    let pos = ops.len() as u8;
    if insn.is_invalid() {
        ops.push(Op {
            pos,
            ..Op::fault(ops::raise_ud, start, start + insn.len().max(1) as u16)
        });
        return false;
    }
    // An instruction whose last byte lies past the CS limit faults (#GP(0)).
    let last = cpu.eip.wrapping_add(start as u32 + insn.len() as u32 - 1);
    if last > cs.limit || last < cpu.eip {
        ops.push(Op {
            pos,
            ..Op::fault(ops::raise_gp0, start, start)
        });
        return false;
    }
    ops.push(Op {
        pos,
        ..Op::lower(insn, start)
    });
    !ends_block(insn)
}
