//! Protected-mode forms of segment loads, far transfers, interrupt delivery
//! and IRET, and the V86-mode monitor traps (Intel SDM vol. 3, chapters 3,
//! 5, 6 and 20).

use super::exception::{Exception, Result, Source};
use super::segment::{attr, Segment};
use super::{Cpu, SegReg};
use crate::bus::Bus;

/// Splits a descriptor's two dwords into a segment cache (SDM vol. 3, 3.4.5).
pub(crate) fn segment_from_descriptor(selector: u16, lo: u32, hi: u32) -> Segment {
    let base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000);
    let raw_limit = (lo & 0xFFFF) | (hi & 0x000F_0000);
    let attr = ((hi >> 8) & 0xF0FF) as u16;
    let limit = if attr & attr::G != 0 {
        (raw_limit << 12) | 0xFFF
    } else {
        raw_limit
    };
    Segment {
        selector,
        base,
        limit,
        attr,
    }
}

impl Cpu {
    /// Reads the descriptor a selector names from the GDT or LDT. A selector
    /// beyond the table's limit raises #GP(selector).
    pub(crate) fn read_descriptor(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
    ) -> Result<(u32, u32)> {
        let (base, limit) = if selector & 4 != 0 {
            (self.ldtr.base, self.ldtr.limit)
        } else {
            (self.gdtr.base, self.gdtr.limit)
        };
        let index = (selector & !7) as u32;
        if index + 7 > limit {
            return Err(Exception::gp(selector & !3));
        }
        let lo = self.read_lin::<32>(bus, base.wrapping_add(index))?;
        let hi = self.read_lin::<32>(bus, base.wrapping_add(index + 4))?;
        Ok((lo, hi))
    }

    /// Sets the accessed bit of a code/data descriptor in memory, as the
    /// processor does on a segment load.
    fn mark_accessed(&mut self, bus: &mut dyn Bus, selector: u16, hi: u32) -> Result<()> {
        if hi & (1 << 8) == 0 {
            let table = if selector & 4 != 0 {
                self.ldtr.base
            } else {
                self.gdtr.base
            };
            let at = table.wrapping_add((selector & !7) as u32 + 4);
            self.write_lin::<32>(bus, at, hi | (1 << 8))?;
        }
        Ok(())
    }

    /// Loads SS, DS, ES, FS or GS in protected mode with the checks of
    /// SDM vol. 2, MOV ("IF SS is loaded ... ELSE IF DS, ES, FS, or GS").
    pub(crate) fn load_segment_protected(
        &mut self,
        bus: &mut dyn Bus,
        seg: SegReg,
        selector: u16,
    ) -> Result<()> {
        let rpl = (selector & 3) as u8;
        let err = selector & !3;
        if selector & !3 == 0 {
            if seg == SegReg::SS {
                return Err(Exception::gp(0));
            }
            // A null selector loads an unusable segment; using it faults later.
            self.segs[seg as usize] = Segment {
                selector,
                base: 0,
                limit: 0,
                attr: 0,
            };
            return Ok(());
        }
        let (lo, hi) = self.read_descriptor(bus, selector)?;
        let s = segment_from_descriptor(selector, lo, hi);
        let is_code = s.attr & attr::CODE != 0;
        if s.attr & attr::S == 0 {
            return Err(Exception::gp(err));
        }
        if seg == SegReg::SS {
            if rpl != self.cpl || s.dpl() != self.cpl || !s.writable_type() {
                return Err(Exception::gp(err));
            }
            if s.attr & attr::P == 0 {
                return Err(Exception::ss(err));
            }
        } else {
            if is_code && s.attr & attr::RW == 0 {
                return Err(Exception::gp(err));
            }
            let conforming = is_code && s.attr & attr::DC != 0;
            if !conforming && (rpl > s.dpl() || self.cpl > s.dpl()) {
                return Err(Exception::gp(err));
            }
            if s.attr & attr::P == 0 {
                return Err(Exception::np(err));
            }
        }
        self.mark_accessed(bus, selector, hi)?;
        self.segs[seg as usize] = Segment {
            attr: s.attr | attr::ACCESSED,
            ..s
        };
        Ok(())
    }

    // TODO(issue 3): gates, privilege changes and task switches. Until then
    // the transfers below handle the same-privilege case only and raise
    // #GP(selector) for anything else, as a CPU does for a selector it
    // cannot use, so guests fail cleanly rather than run wrongly.

    /// A code-segment descriptor for a same-privilege far transfer.
    fn code_segment(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<Segment> {
        let err = selector & !3;
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let (lo, hi) = self.read_descriptor(bus, selector)?;
        let s = segment_from_descriptor(selector, lo, hi);
        let conforming = s.attr & attr::DC != 0;
        let code = s.attr & (attr::S | attr::CODE) == attr::S | attr::CODE;
        let rpl = (selector & 3) as u8;
        if !code
            || (conforming && s.dpl() > self.cpl)
            || (!conforming && (s.dpl() != self.cpl || rpl > self.cpl))
        {
            return Err(Exception::gp(err));
        }
        if s.attr & attr::P == 0 {
            return Err(Exception::np(err));
        }
        self.mark_accessed(bus, selector, hi)?;
        Ok(Segment {
            selector: (selector & !3) | self.cpl as u16,
            attr: s.attr | attr::ACCESSED,
            ..s
        })
    }

    fn enter_code(&mut self, cs: Segment, offset: u32) -> Result<()> {
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        self.segs[SegReg::CS as usize] = cs;
        self.eip = offset;
        Ok(())
    }

    pub(crate) fn far_jump_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        let cs = self.code_segment(bus, selector)?;
        let offset = if W == 16 { offset & 0xFFFF } else { offset };
        self.enter_code(cs, offset)
    }

    pub(crate) fn far_call_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        let cs = self.code_segment(bus, selector)?;
        let offset = if W == 16 { offset & 0xFFFF } else { offset };
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        let saved = self.regs[super::reg::ESP];
        let old_cs = self.segs[SegReg::CS as usize].selector as u32;
        let ret = self.eip;
        if let Err(e) = self
            .push::<W>(bus, old_cs)
            .and_then(|_| self.push::<W>(bus, ret))
        {
            self.regs[super::reg::ESP] = saved;
            return Err(e);
        }
        self.enter_code(cs, offset)
    }

    pub(crate) fn far_return_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        release: u32,
    ) -> Result<()> {
        let ip = self.stack_peek::<W>(bus, 0)?;
        let sel = self.stack_peek::<W>(bus, W / 8)? as u16;
        if (sel & 3) as u8 != self.cpl {
            return Err(Exception::gp(sel & !3));
        }
        let cs = self.code_segment(bus, sel)?;
        let ip = if W == 16 { ip & 0xFFFF } else { ip };
        self.enter_code(cs, ip)?;
        self.set_sp(self.sp().wrapping_add(2 * (W / 8)).wrapping_add(release));
        Ok(())
    }

    pub(crate) fn interrupt_return_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
    ) -> Result<()> {
        let ip = self.stack_peek::<W>(bus, 0)?;
        let sel = self.stack_peek::<W>(bus, W / 8)? as u16;
        let fl = self.stack_peek::<W>(bus, 2 * (W / 8))?;
        if (sel & 3) as u8 != self.cpl || self.v86_mode() {
            return Err(Exception::gp(sel & !3));
        }
        let cs = self.code_segment(bus, sel)?;
        let ip = if W == 16 { ip & 0xFFFF } else { ip };
        self.enter_code(cs, ip)?;
        self.set_sp(self.sp().wrapping_add(3 * (W / 8)));
        self.write_flags_from_guest(fl, W);
        Ok(())
    }

    pub(crate) fn deliver_protected(
        &mut self,
        _bus: &mut dyn Bus,
        vector: u8,
        _error: Option<u16>,
        _source: Source,
    ) -> Result<()> {
        log::debug!("protected-mode delivery of vector {vector}: not implemented");
        Err(Exception::gp(vector as u16 * 8 + 2))
    }

    pub(crate) fn v86_software_interrupt(&mut self, _bus: &mut dyn Bus, _vector: u8) -> Result<()> {
        Err(Exception::gp(0))
    }

    pub(crate) fn v86_pushf<const W: u32>(&mut self, _bus: &mut dyn Bus) -> Result<()> {
        Err(Exception::gp(0))
    }

    pub(crate) fn v86_popf<const W: u32>(&mut self, _bus: &mut dyn Bus) -> Result<()> {
        Err(Exception::gp(0))
    }
}
