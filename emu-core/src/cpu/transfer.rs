//! Far control transfers, software interrupts, IRET, segment-register loads
//! and guest writes to EFLAGS: the instructions whose behaviour depends on
//! the operating mode (real, protected, virtual-8086).
//!
//! Real-mode and V86 forms are here, with the virtual-8086 mode extensions
//! (CR4.VME: VIF/VIP and the interrupt redirection bitmap) and protected-mode
//! virtual interrupts (CR4.PVI); the protected-mode forms (descriptor checks,
//! gates, privilege changes) live in `protected`, task switches in `task`.

use super::exception::{Exception, Result, Source};
use super::flags::{self, IF, IOPL, NT, RF, TF, VIF, VIP};
use super::{Cpu, SegReg};
use crate::bus::Bus;

/// CR4.VME: virtual-8086 mode extensions (SDM vol. 3, 20.3.2 and 20.3.3).
const CR4_VME: u32 = super::paging::cr4::VME;
/// CR4.PVI: protected-mode virtual interrupts (SDM vol. 3, 20.4).
const CR4_PVI: u32 = super::paging::cr4::PVI;

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
    /// and with CR4.VME the redirection bitmap may send it to the 8086
    /// program's own handler (SDM vol. 3, 20.3.3).
    pub(crate) fn software_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<()> {
        if self.v86_mode() && (self.iopl() < 3 || self.cr4 & CR4_VME != 0) {
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

/// Virtual-8086 mode: the IOPL-sensitive instructions and the virtual-mode
/// extensions (SDM vol. 3, 20.2.7 "Sensitive Instructions", 20.3 and 20.4).
impl Cpu {
    /// Whether CLI/STI act on VIF where IOPL forbids them to touch IF: in
    /// V86 mode with CR4.VME, or at CPL 3 in protected mode with CR4.PVI
    /// (SDM vol. 2, CLI and STI).
    /// VIF and VIP both set at the start of an instruction in V86 mode with
    /// VME (IOPL < 3): a #GP, so the monitor delivers the pending interrupt.
    /// Only a POPF, an IRET or a task switch can leave them so (SDM vol. 3,
    /// 20.3.2).
    pub(crate) fn virtual_interrupt_due(&self) -> bool {
        self.v86_mode()
            && self.uses_virtual_if()
            && self.eflags_raw & IOPL != IOPL
            && self.eflags_raw & (VIF | VIP) == VIF | VIP
    }

    pub(crate) fn uses_virtual_if(&self) -> bool {
        if self.v86_mode() {
            self.cr4 & CR4_VME != 0
        } else {
            self.protected_mode() && self.cpl == 3 && self.cr4 & CR4_PVI != 0
        }
    }

    /// INT n in V86 mode with IOPL < 3 or CR4.VME set: the six methods of
    /// SDM vol. 3, table 20-2. Without VME: #GP(0) to the monitor (method 2).
    /// With VME, a clear bit in the TSS's interrupt redirection bitmap sends
    /// the interrupt through the 8086 program's IVT (methods 5 and 6); a set
    /// bit sends it to the protected-mode handler at IOPL 3 (method 4) or
    /// faults at IOPL < 3 (method 3).
    pub(crate) fn v86_software_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<()> {
        if self.cr4 & CR4_VME == 0 {
            return Err(Exception::gp(0));
        }
        if self.interrupt_redirected(bus, vector)? {
            return self.v86_redirect_interrupt(bus, vector);
        }
        if self.iopl() < 3 {
            return Err(Exception::gp(0));
        }
        self.deliver(bus, vector, None, Source::Software)
    }

    /// The bit for `vector` in the interrupt redirection bitmap, the 32
    /// bytes just below the I/O map base of a 32-bit TSS (SDM vol. 3, 20.3.3
    /// and figure 20-5): clear means redirect. A TSS too short for it is #GP(0).
    fn interrupt_redirected(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<bool> {
        let tr = self.tr;
        if tr.attr & 8 == 0 || tr.limit < 0x67 {
            return Err(Exception::gp(0));
        }
        let map = self.read_sys::<16>(bus, tr.base.wrapping_add(0x66))?;
        let at = map.wrapping_sub(32).wrapping_add(vector as u32 / 8);
        if at > tr.limit {
            return Err(Exception::gp(0));
        }
        let bits = self.read_sys::<8>(bus, tr.base.wrapping_add(at))?;
        Ok(bits & (1 << (vector & 7)) == 0)
    }

    /// Delivers INT n through the V86 task's interrupt vector table at
    /// linear 0, as an 8086 would, but with VIF standing in for IF when
    /// IOPL < 3: the pushed FLAGS have IOPL = 3 and IF = VIF, and VIF rather
    /// than IF is cleared (SDM vol. 3, table 20-2 methods 5 and 6).
    fn v86_redirect_interrupt(&mut self, bus: &mut dyn Bus, vector: u8) -> Result<()> {
        let entry = vector as u32 * 4;
        let ip = self.read_sys::<16>(bus, entry)?;
        let cs = self.read_sys::<16>(bus, entry + 2)?;
        let iopl3 = self.iopl() == 3;
        let mut fl = self.eflags() & 0xFFFF;
        if !iopl3 {
            fl |= IOPL;
            fl = (fl & !IF) | if self.flag(VIF) { IF } else { 0 };
        }
        let old_cs = self.segs[SegReg::CS as usize].selector;
        let old_ip = self.eip as u16;
        self.push_all16(bus, &[fl as u16, old_cs, old_ip])?;
        self.set_real_segment(SegReg::CS, cs as u16);
        self.eip = ip;
        self.set_flag(TF | RF | if iopl3 { IF } else { VIF }, false);
        Ok(())
    }

    /// PUSHF in V86 mode with IOPL < 3: with CR4.VME a 16-bit PUSHF pushes
    /// FLAGS with IF = VIF and IOPL = 3; otherwise #GP(0) (SDM vol. 3, 20.3.2).
    pub(crate) fn v86_pushf<const W: u32>(&mut self, bus: &mut dyn Bus) -> Result<()> {
        if W != 16 || self.cr4 & CR4_VME == 0 {
            return Err(Exception::gp(0));
        }
        let mut fl = (self.eflags() & 0xFFFF & !IF) | IOPL;
        if self.flag(VIF) {
            fl |= IF;
        }
        self.push::<16>(bus, fl)
    }

    /// POPF in V86 mode with IOPL < 3: with CR4.VME a 16-bit POPF loads IF
    /// into VIF and leaves IF and IOPL alone; it faults (#GP(0)) if that
    /// would set TF, or set VIF with an interrupt pending (VIP). Otherwise
    /// #GP(0) (SDM vol. 3, 20.3.2).
    pub(crate) fn v86_popf<const W: u32>(&mut self, bus: &mut dyn Bus) -> Result<()> {
        if W != 16 || self.cr4 & CR4_VME == 0 {
            return Err(Exception::gp(0));
        }
        let v = self.stack_peek::<16>(bus, 0)?;
        self.load_virtual_flags(v)?;
        self.set_sp(self.sp().wrapping_add(2));
        Ok(())
    }

    /// FLAGS from a VME-mode POPF or IRET: IF goes to VIF, IF and IOPL stay.
    fn load_virtual_flags(&mut self, v: u32) -> Result<()> {
        if v & TF != 0 || (v & IF != 0 && self.flag(VIP)) {
            return Err(Exception::gp(0));
        }
        let changeable = 0xFFFF & !(IF | IOPL);
        let mut new = (self.eflags() & !changeable & !VIF) | (v & changeable);
        if v & IF != 0 {
            new |= VIF;
        }
        self.set_eflags(new & !RF);
        Ok(())
    }

    /// IRET in V86 mode (SDM vol. 2, IRET RETURN-FROM-VIRTUAL-8086-MODE): at
    /// IOPL 3 an 8086-style return that leaves VM, IOPL, VIF and VIP alone;
    /// at IOPL < 3 with CR4.VME a 16-bit IRET loads IF into VIF (faulting
    /// like POPF); otherwise #GP(0) to the monitor.
    pub(crate) fn v86_interrupt_return<const W: u32>(&mut self, bus: &mut dyn Bus) -> Result<()> {
        let vme16 = W == 16 && self.cr4 & CR4_VME != 0;
        if self.iopl() < 3 && !vme16 {
            return Err(Exception::gp(0));
        }
        let ip = self.stack_peek::<W>(bus, 0)?;
        let cs = self.stack_peek::<W>(bus, W / 8)? as u16;
        let fl = self.stack_peek::<W>(bus, 2 * (W / 8))?;
        if ip > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        if self.iopl() < 3 {
            self.load_virtual_flags(fl)?;
        } else {
            self.write_flags_from_guest(fl, W);
        }
        self.set_real_segment(SegReg::CS, cs);
        self.eip = ip;
        self.set_sp(self.sp().wrapping_add(3 * (W / 8)));
        Ok(())
    }
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
