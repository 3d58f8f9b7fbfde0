//! Far control transfers, software interrupts, IRET, segment-register loads
//! and guest writes to EFLAGS: the instructions whose behaviour depends on
//! the operating mode (real, protected, virtual-8086).
//!
//! Real-mode and V86 forms are here; the protected-mode forms (descriptor
//! checks, gates, privilege changes, task switches) live in `protected`.

use super::exception::{Exception, Result, Source};
use super::flags::{self, IF, IOPL, NT, RF};
use super::{Cpu, SegReg};
use crate::bus::Bus;

impl Cpu {
    /// The I/O privilege level from EFLAGS.
    #[inline(always)]
    pub fn iopl(&self) -> u8 {
        ((self.eflags_raw & IOPL) >> 12) as u8
    }

    /// Loads a data or stack segment register (MOV, POP, LDS, ...).
    pub(crate) fn load_segment(
        &mut self,
        bus: &mut dyn Bus,
        seg: SegReg,
        selector: u16,
    ) -> Result<()> {
        if !self.protected_mode() || self.v86_mode() {
            self.set_real_segment(seg, selector);
            return Ok(());
        }
        self.load_segment_protected(bus, seg, selector)
    }

    /// JMP ptr16:16/32 or m16:16/32.
    pub(crate) fn far_jump<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        if self.protected_mode() && !self.v86_mode() {
            return self.far_jump_protected::<W>(bus, selector, offset);
        }
        let offset = if W == 16 { offset & 0xFFFF } else { offset };
        if offset > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        self.set_real_segment(SegReg::CS, selector);
        self.eip = offset;
        Ok(())
    }

    /// CALL ptr16:16/32 or m16:16/32.
    pub(crate) fn far_call<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        if self.protected_mode() && !self.v86_mode() {
            return self.far_call_protected::<W>(bus, selector, offset);
        }
        let offset = if W == 16 { offset & 0xFFFF } else { offset };
        if offset > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        let saved = self.regs[super::reg::ESP];
        let cs = self.segs[SegReg::CS as usize].selector as u32;
        let ret = self.eip;
        if let Err(e) = self
            .push::<W>(bus, cs)
            .and_then(|_| self.push::<W>(bus, ret))
        {
            self.regs[super::reg::ESP] = saved;
            return Err(e);
        }
        self.set_real_segment(SegReg::CS, selector);
        self.eip = offset;
        Ok(())
    }

    /// RETF [imm16].
    pub(crate) fn far_return<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        release: u32,
    ) -> Result<()> {
        if self.protected_mode() && !self.v86_mode() {
            return self.far_return_protected::<W>(bus, release);
        }
        let ip = self.stack_peek::<W>(bus, 0)?;
        let cs = self.stack_peek::<W>(bus, W / 8)? as u16;
        let ip = if W == 16 { ip & 0xFFFF } else { ip };
        if ip > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        self.set_real_segment(SegReg::CS, cs);
        self.eip = ip;
        self.set_sp(self.sp().wrapping_add(2 * (W / 8)).wrapping_add(release));
        Ok(())
    }

    /// INT n. In V86 mode with IOPL < 3 it faults to the monitor (#GP(0)),
    /// unless CR4.VME redirects it (SDM vol. 3, 20.3).
    pub(crate) fn software_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<()> {
        if self.v86_mode() && self.iopl() < 3 {
            return self.v86_software_interrupt(bus, vector);
        }
        self.deliver(bus, vector, None, Source::Software)
    }

    /// IRET/IRETD.
    pub(crate) fn interrupt_return<const W: u32>(&mut self, bus: &mut dyn Bus) -> Result<()> {
        if self.protected_mode() {
            return self.interrupt_return_protected::<W>(bus);
        }
        let ip = self.stack_peek::<W>(bus, 0)?;
        let cs = self.stack_peek::<W>(bus, W / 8)? as u16;
        let fl = self.stack_peek::<W>(bus, 2 * (W / 8))?;
        let ip = if W == 16 { ip & 0xFFFF } else { ip };
        if ip > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        self.set_real_segment(SegReg::CS, cs);
        self.eip = ip;
        self.set_sp(self.sp().wrapping_add(3 * (W / 8)));
        self.write_flags_from_guest(fl, W);
        Ok(())
    }

    /// EFLAGS as loaded by POPF or IRET of width `w` (16 or 32): which bits
    /// may change depends on mode, CPL and IOPL (SDM vol. 2, POPF). VM, VIF
    /// and VIP never change this way; RF is cleared.
    pub(crate) fn write_flags_from_guest(&mut self, value: u32, w: u32) {
        let mut changeable =
            flags::ARITH | flags::TF | flags::DF | NT | flags::AC | flags::ID | IF | IOPL;
        if self.protected_mode() {
            if self.v86_mode() || self.cpl > 0 {
                changeable &= !IOPL;
            }
            if !self.v86_mode() && self.cpl > self.iopl() {
                changeable &= !IF;
            }
        }
        if w == 16 {
            changeable &= 0xFFFF;
        }
        let old = self.eflags();
        let new = (old & !changeable) | (value & changeable);
        self.set_eflags(new & !RF);
    }
}
