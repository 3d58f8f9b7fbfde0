//! Segment registers with their hidden descriptor caches, and descriptor
//! tables (GDTR, IDTR).
//!
//! Every segment register holds, besides the visible selector, a copy of the
//! base, limit and attributes loaded from its descriptor (Intel SDM vol. 3,
//! 3.4.3). Address translation uses only the hidden part, which is why a
//! segment loaded in protected mode keeps its 4 GiB limit after a return to
//! real mode ("unreal mode").

use serde::{Deserialize, Serialize};

/// Attribute bits as they sit in descriptor bytes 5 and 6 (access byte in
/// bits 0–7, the flags nibble of byte 6 in bits 12–15).
pub mod attr {
    /// Accessed (data/code) or busy (TSS) bit.
    pub const ACCESSED: u16 = 1 << 0;
    /// Data: writable. Code: readable.
    pub const RW: u16 = 1 << 1;
    /// Data: expand-down. Code: conforming.
    pub const DC: u16 = 1 << 2;
    /// Code (rather than data).
    pub const CODE: u16 = 1 << 3;
    /// Code or data (rather than system).
    pub const S: u16 = 1 << 4;
    /// Present.
    pub const P: u16 = 1 << 7;
    /// Default operation size (code: 32-bit; stack: ESP; expand-down: 4 GiB top).
    pub const DB: u16 = 1 << 14;
    /// Granularity: the limit counts 4 KiB units.
    pub const G: u16 = 1 << 15;
    /// A present, writable, accessed data segment: what real mode and reset give.
    pub const DATA_REAL: u16 = P | S | RW | ACCESSED;
    /// A present, readable, accessed code segment: CS after reset.
    pub const CODE_REAL: u16 = P | S | CODE | RW | ACCESSED;

    /// The DPL field.
    pub const fn dpl(level: u8) -> u16 {
        ((level & 3) as u16) << 5
    }
}

/// A segment register: the selector and the hidden descriptor cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub selector: u16,
    pub base: u32,
    /// The byte-granular limit (already scaled by G).
    pub limit: u32,
    /// Descriptor attributes, see [`attr`]. Zero means unusable (a null selector
    /// loaded in protected mode).
    pub attr: u16,
}

impl Segment {
    /// A segment as real mode sets it up: base = selector × 16, 64 KiB limit.
    pub const fn real_mode(selector: u16) -> Segment {
        Segment {
            selector,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
            attr: attr::DATA_REAL,
        }
    }

    /// What a null selector loads in protected mode: an unusable segment
    /// that faults on use (SDM vol. 3, 3.4.2).
    pub const fn null(selector: u16) -> Segment {
        Segment {
            selector,
            base: 0,
            limit: 0,
            attr: 0,
        }
    }

    /// A segment as virtual-8086 mode loads it: base = selector × 16, limit
    /// FFFF, present, DPL 3, read/write data (execute/read for CS) (SDM vol.
    /// 3, 20.2).
    pub const fn v86(selector: u16, code: bool) -> Segment {
        Segment {
            selector,
            base: (selector as u32) << 4,
            limit: 0xFFFF,
            attr: if code {
                attr::CODE_REAL | attr::dpl(3)
            } else {
                attr::DATA_REAL | attr::dpl(3)
            },
        }
    }

    /// The D/B bit: 32-bit code segment, or 32-bit stack pointer.
    #[inline(always)]
    pub fn big(&self) -> bool {
        self.attr & attr::DB != 0
    }

    /// An expand-down data segment (valid offsets are *above* the limit).
    #[inline(always)]
    pub fn expand_down(&self) -> bool {
        self.attr & (attr::CODE | attr::DC) == attr::DC
    }

    /// The descriptor privilege level.
    #[inline(always)]
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }

    /// Loaded with something usable (a null selector in protected mode is not).
    #[inline(always)]
    pub fn usable(&self) -> bool {
        self.attr & attr::P != 0
    }

    /// Data may be read through it (a data segment, or a readable code segment).
    #[inline(always)]
    pub fn readable(&self) -> bool {
        self.usable() && (self.attr & attr::CODE == 0 || self.attr & attr::RW != 0)
    }

    /// Data may be written through it (a writable data segment).
    #[inline(always)]
    pub fn writable(&self) -> bool {
        self.usable() && self.attr & (attr::CODE | attr::RW) == attr::RW
    }

    /// A writable data segment type, whether or not present.
    #[inline(always)]
    pub fn writable_type(&self) -> bool {
        self.attr & (attr::S | attr::CODE | attr::RW) == attr::S | attr::RW
    }

    /// Whether `size` bytes at `offset` lie within the limit (SDM vol. 3,
    /// 5.3: for expand-down segments the valid range is limit+1 to FFFF or
    /// FFFFFFFF depending on B).
    #[inline(always)]
    pub fn in_limit(&self, offset: u32, size: u32) -> bool {
        let last = offset.wrapping_add(size - 1);
        if self.expand_down() {
            let top = if self.big() { u32::MAX } else { 0xFFFF };
            offset > self.limit && last <= top && last >= offset
        } else {
            last <= self.limit && last >= offset
        }
    }
}

/// System-descriptor types (S = 0), the low nibble of the access byte
/// (SDM vol. 3, 3.5, table 3-2).
pub mod sys {
    pub const TSS16_AVAILABLE: u8 = 0x1;
    pub const LDT: u8 = 0x2;
    pub const TSS16_BUSY: u8 = 0x3;
    pub const CALL_GATE16: u8 = 0x4;
    pub const TASK_GATE: u8 = 0x5;
    pub const INT_GATE16: u8 = 0x6;
    pub const TRAP_GATE16: u8 = 0x7;
    pub const TSS32_AVAILABLE: u8 = 0x9;
    pub const TSS32_BUSY: u8 = 0xB;
    pub const CALL_GATE32: u8 = 0xC;
    pub const INT_GATE32: u8 = 0xE;
    pub const TRAP_GATE32: u8 = 0xF;
    /// The busy bit of a TSS type.
    pub const BUSY: u8 = 0x2;
}

/// A raw 8-byte descriptor from the GDT, LDT or IDT (SDM vol. 3, 3.4.5 for
/// segments, 5.8.3 for call gates, 6.11 for IDT gates), with the field
/// accessors the protection checks need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub lo: u32,
    pub hi: u32,
}

impl Descriptor {
    /// The attribute bits in [`attr`] layout (access byte and flags nibble).
    #[inline]
    pub fn attr(self) -> u16 {
        ((self.hi >> 8) & 0xF0FF) as u16
    }

    /// The 4-bit type field.
    #[inline]
    pub fn kind(self) -> u8 {
        ((self.hi >> 8) & 0xF) as u8
    }

    /// A code or data segment (S = 1) rather than a system descriptor.
    #[inline]
    pub fn is_segment(self) -> bool {
        self.hi & (1 << 12) != 0
    }

    /// A system descriptor of type `t`.
    #[inline]
    pub fn is_system(self, t: u8) -> bool {
        !self.is_segment() && self.kind() == t
    }

    #[inline]
    pub fn present(self) -> bool {
        self.hi & (1 << 15) != 0
    }

    #[inline]
    pub fn dpl(self) -> u8 {
        ((self.hi >> 13) & 3) as u8
    }

    /// A code segment.
    #[inline]
    pub fn is_code(self) -> bool {
        self.is_segment() && self.kind() & 8 != 0
    }

    /// A data segment.
    #[inline]
    pub fn is_data(self) -> bool {
        self.is_segment() && self.kind() & 8 == 0
    }

    /// A conforming code segment.
    #[inline]
    pub fn conforming(self) -> bool {
        self.is_code() && self.kind() & 4 != 0
    }

    /// A readable code segment or any data segment.
    #[inline]
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.kind() & 2 != 0)
    }

    /// A writable data segment.
    #[inline]
    pub fn writable_data(self) -> bool {
        self.is_data() && self.kind() & 2 != 0
    }

    /// A TSS (16- or 32-bit, available or busy).
    #[inline]
    pub fn is_tss(self) -> bool {
        !self.is_segment() && matches!(self.kind(), 1 | 3 | 9 | 11)
    }

    /// The base address of a segment or TSS/LDT descriptor.
    #[inline]
    pub fn base(self) -> u32 {
        (self.lo >> 16) | ((self.hi & 0xFF) << 16) | (self.hi & 0xFF00_0000)
    }

    /// The byte-granular limit (scaled by G).
    #[inline]
    pub fn limit(self) -> u32 {
        let raw = (self.lo & 0xFFFF) | (self.hi & 0x000F_0000);
        if self.hi & (1 << 23) != 0 {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }

    /// The hidden-cache form of this descriptor under `selector`.
    #[inline]
    pub fn segment(self, selector: u16) -> Segment {
        Segment {
            selector,
            base: self.base(),
            limit: self.limit(),
            attr: self.attr(),
        }
    }

    /// A gate's target selector (call, interrupt, trap gate) or TSS
    /// selector (task gate).
    #[inline]
    pub fn gate_selector(self) -> u16 {
        (self.lo >> 16) as u16
    }

    /// A gate's target offset; 16-bit gates use the low half only.
    #[inline]
    pub fn gate_offset(self) -> u32 {
        let off = (self.lo & 0xFFFF) | (self.hi & 0xFFFF_0000);
        if self.kind() & 8 == 0 {
            off & 0xFFFF
        } else {
            off
        }
    }

    /// A call gate's parameter count (5 bits).
    #[inline]
    pub fn gate_params(self) -> u32 {
        self.hi & 0x1F
    }

    /// A 32-bit gate or TSS (type bit 3 of a system descriptor).
    #[inline]
    pub fn is_32bit_system(self) -> bool {
        self.kind() & 8 != 0
    }
}

/// GDTR or IDTR: the base and limit of a descriptor table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorTable {
    pub base: u32,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_checks_follow_sdm_5_3() {
        let s = Segment::real_mode(0);
        assert!(s.in_limit(0xFFFE, 2));
        assert!(!s.in_limit(0xFFFF, 2), "a word at FFFF runs past the limit");
        assert!(s.in_limit(0xFFFF, 1));
        let mut down = s;
        down.attr |= attr::DC;
        down.limit = 0x0FFF;
        assert!(
            !down.in_limit(0x0FFF, 1),
            "expand-down: the limit itself is outside"
        );
        assert!(down.in_limit(0x1000, 4));
        assert!(!down.in_limit(0xFFFE, 4), "past FFFF with B=0");
    }
}
