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
