//! Hardware task switching through TSS descriptors and task gates (Intel SDM
//! vol. 3, 7.2 "Task Management Data Structures" and 7.3 "Task Switching";
//! vol. 2, the TASK-GATE and TASK-STATE-SEGMENT paths of JMP, CALL, INT n
//! and IRET's TASK-RETURN).
//!
//! A switch has a commit point. Before it — checking the new TSS, reading
//! it, saving the old task's state, flipping busy bits — a fault is reported
//! in the old task's context like any instruction fault. After it, the new
//! task's registers are loaded and its segment descriptors are checked; a
//! fault there is delivered at once in the *new* task's context (table 7-1),
//! so [`Cpu::task_switch`] raises it itself and reports success to its caller.

use super::exception::{Exception, Result, DB};
use super::flags::{NT, VM};
use super::protected::{sel_err, with_ext, Check, Frame};
use super::segment::{sys, Descriptor, Segment};
use super::{cr0, Cpu, SegReg};
use crate::bus::Bus;

/// What started a task switch: it decides the busy bits, NT and the link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TaskSwitch {
    /// JMP to a TSS or task gate: old task not busy, no link.
    Jump,
    /// CALL to a TSS or task gate: old stays busy, NT set, link written.
    Call,
    /// INT n, an exception or an external interrupt through a task gate.
    Interrupt,
    /// IRET with NT set: back to the task in the link field.
    Iret,
}

/// The busy bit of a TSS descriptor's high dword.
const BUSY_BIT: u32 = (sys::BUSY as u32) << 8;

/// The segment registers in TSS order (ES, CS, SS, DS, FS, GS).
const TSS_SEGS: [SegReg; 6] = [
    SegReg::ES,
    SegReg::CS,
    SegReg::SS,
    SegReg::DS,
    SegReg::FS,
    SegReg::GS,
];

/// The state a TSS holds for a task (SDM vol. 3, 7.2.1 figure 7-2 for the
/// 32-bit layout, 7.6 figure 7-11 for the 16-bit one).
struct TaskState {
    cr3: u32,
    eip: u32,
    eflags: u32,
    regs: [u32; 8],
    /// In TSS order: ES, CS, SS, DS, FS, GS.
    segs: [u16; 6],
    ldt: u16,
    /// The T (debug trap) flag of a 32-bit TSS.
    trap: bool,
}

impl Cpu {
    /// The TSS a task gate names, checked (SDM vol. 2, JMP/CALL/INT n
    /// TASK-GATE): it must be an available TSS in the GDT, present.
    pub(crate) fn task_gate_tss(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<Descriptor> {
        let err = sel_err(selector);
        if selector & 4 != 0 {
            return Err(Exception::gp(err));
        }
        let d = self
            .fetch_descriptor(bus, selector)?
            .ok_or(Exception::gp(err))?;
        if !d.is_tss() || d.kind() & sys::BUSY != 0 {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        Ok(d)
    }

    /// IRET with NT set: return to the task whose TSS selector is in the
    /// current TSS's link field (SDM vol. 2, IRET TASK-RETURN; vol. 3, 7.4).
    pub(crate) fn task_return(&mut self, bus: &mut dyn Bus) -> Result<()> {
        let link = self.read_sys::<16>(bus, self.tr.base)? as u16;
        let err = sel_err(link);
        if link & 4 != 0 {
            return Err(Exception::ts(err));
        }
        let d = self
            .fetch_descriptor(bus, link)?
            .ok_or(Exception::ts(err))?;
        if !d.is_tss() || d.kind() & sys::BUSY == 0 {
            return Err(Exception::ts(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        self.task_switch(bus, link, d, TaskSwitch::Iret, None, 0)
    }

    /// Switches to the task of TSS `selector` (descriptor `d`, already
    /// checked by the caller for type, privilege and presence), following
    /// SDM vol. 3, 7.3 steps 3–14. For an interrupt, `error` is pushed on
    /// the new task's stack; `ext` is the EXT bit for faults in the new task.
    pub(crate) fn task_switch(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        d: Descriptor,
        kind: TaskSwitch,
        error: Option<u16>,
        ext: u16,
    ) -> Result<()> {
        let is32 = d.is_32bit_system();
        // The new TSS must hold a whole TSS (#TS(new TSS)).
        if d.limit() < if is32 { 0x67 } else { 0x2B } {
            return Err(Exception::ts(sel_err(selector)));
        }
        let base = d.base();
        let new = self.read_tss(bus, base, is32)?;
        // Save the old task's state (NT cleared in the image for IRET); JMP
        // and IRET leave the old task not busy.
        let mut old_flags = self.eflags();
        if kind == TaskSwitch::Iret {
            old_flags &= !NT;
        }
        self.save_tss(bus, old_flags)?;
        let old_tr = self.tr.selector;
        if matches!(kind, TaskSwitch::Jump | TaskSwitch::Iret) {
            if let Some(od) = self.fetch_descriptor(bus, old_tr & !4)? {
                self.write_descriptor_hi(bus, old_tr & !4, od.hi & !BUSY_BIT)?;
            }
        }
        // The new task is busy (for IRET it already is).
        let new_hi = if kind == TaskSwitch::Iret {
            self.fetch_descriptor(bus, selector)?.map_or(d.hi, |n| n.hi)
        } else {
            self.write_descriptor_hi(bus, selector, d.hi | BUSY_BIT)?;
            d.hi | BUSY_BIT
        };
        // CALL and interrupts nest: the new TSS links back to the old one.
        let nest = matches!(kind, TaskSwitch::Call | TaskSwitch::Interrupt);
        if nest {
            self.write_sys::<16>(bus, base, old_tr as u32)?;
        }

        // Commit: from here on the new task's context is current.
        self.tr = Descriptor {
            lo: d.lo,
            hi: new_hi,
        }
        .segment(selector);
        let mut eflags = if is32 {
            new.eflags
        } else {
            (self.eflags() & 0xFFFF_0000 & !VM) | (new.eflags & 0xFFFF)
        };
        if nest {
            eflags |= NT;
        }
        self.set_eflags(eflags);
        for (r, &v) in self.regs.iter_mut().zip(new.regs.iter()) {
            *r = if is32 {
                v
            } else {
                (*r & 0xFFFF_0000) | (v & 0xFFFF)
            };
        }
        self.eip = new.eip;
        self.cr0 |= cr0::TS;
        // The local breakpoint enables are per task (SDM vol. 3, 17.2.4).
        self.dr[7] &= !0x155;
        self.exit_block = true;
        let v86 = eflags & VM != 0;
        for (n, &s) in TSS_SEGS.iter().enumerate() {
            self.segs[s as usize] = if v86 {
                Segment::v86(new.segs[n], s == SegReg::CS)
            } else {
                // Selectors load now; each cache becomes usable once checked.
                Segment::null(new.segs[n])
            };
        }
        self.set_cpl(if v86 { 3 } else { (new.segs[1] & 3) as u8 });
        self.ldtr = Segment::null(new.ldt);
        match self.load_task_segments(bus, &new, v86, is32, error) {
            Err(e) => self.raise(bus, with_ext(e, ext)),
            Ok(()) if new.trap => {
                // The T flag: a debug trap before the new task's first
                // instruction (SDM vol. 3, 17.3.1.5).
                self.dr[6] |= 1 << 15;
                self.raise(bus, Exception::new(DB));
            }
            Ok(()) => {}
        }
        Ok(())
    }

    /// Reads the task state from the TSS at `base`.
    fn read_tss(&mut self, bus: &mut dyn Bus, base: u32, is32: bool) -> Result<TaskState> {
        let mut r32 = |cpu: &mut Cpu, off: u32| cpu.read_sys::<32>(bus, base.wrapping_add(off));
        let mut t = TaskState {
            cr3: 0,
            eip: 0,
            eflags: 0,
            regs: [0; 8],
            segs: [0; 6],
            ldt: 0,
            trap: false,
        };
        if is32 {
            t.cr3 = r32(self, 0x1C)?;
            t.eip = r32(self, 0x20)?;
            t.eflags = r32(self, 0x24)?;
            for n in 0..8 {
                t.regs[n] = r32(self, 0x28 + 4 * n as u32)?;
            }
            for n in 0..6 {
                t.segs[n] = r32(self, 0x48 + 4 * n as u32)? as u16;
            }
            let ldt = r32(self, 0x60)?;
            t.ldt = ldt as u16;
            t.trap = r32(self, 0x64)? & 1 != 0;
        } else {
            let mut r16 = |cpu: &mut Cpu, off: u32| {
                cpu.read_sys::<16>(bus, base.wrapping_add(off))
                    .map(|v| v as u16)
            };
            t.eip = r16(self, 0x0E)? as u32;
            t.eflags = r16(self, 0x10)? as u32;
            for n in 0..8 {
                t.regs[n] = r16(self, 0x12 + 2 * n as u32)? as u32;
            }
            // ES, CS, SS, DS; a 16-bit TSS has no FS or GS (they load null).
            for n in 0..4 {
                t.segs[n] = r16(self, 0x22 + 2 * n as u32)?;
            }
            t.ldt = r16(self, 0x2A)?;
        }
        Ok(t)
    }

    /// Saves the dynamic state of the current task in its TSS (SDM vol. 3,
    /// 7.3 step 8; the 16-bit layout has no FS, GS or upper halves).
    fn save_tss(&mut self, bus: &mut dyn Bus, eflags: u32) -> Result<()> {
        let b = self.tr.base;
        let sels: [u16; 6] = std::array::from_fn(|n| self.segs[TSS_SEGS[n] as usize].selector);
        if self.tr.attr & 8 != 0 {
            self.write_sys::<32>(bus, b.wrapping_add(0x20), self.eip)?;
            self.write_sys::<32>(bus, b.wrapping_add(0x24), eflags)?;
            for n in 0..8 {
                let v = self.regs[n];
                self.write_sys::<32>(bus, b.wrapping_add(0x28 + 4 * n as u32), v)?;
            }
            for (n, &s) in sels.iter().enumerate() {
                self.write_sys::<16>(bus, b.wrapping_add(0x48 + 4 * n as u32), s as u32)?;
            }
        } else {
            self.write_sys::<16>(bus, b.wrapping_add(0x0E), self.eip)?;
            self.write_sys::<16>(bus, b.wrapping_add(0x10), eflags)?;
            for n in 0..8 {
                let v = self.regs[n];
                self.write_sys::<16>(bus, b.wrapping_add(0x12 + 2 * n as u32), v)?;
            }
            for (n, &s) in sels.iter().take(4).enumerate() {
                self.write_sys::<16>(bus, b.wrapping_add(0x22 + 2 * n as u32), s as u32)?;
            }
        }
        Ok(())
    }

    /// The checks of SDM vol. 3, table 7-1 from the LDT on, in the new task:
    /// CR3, LDTR, then CS, SS, ES, DS, FS, GS (none but the LDT for a V86 task);
    /// then the error code push of an interrupt through a task gate and the
    /// EIP limit check (vol. 2, INT n TASK-GATE).
    fn load_task_segments(
        &mut self,
        bus: &mut dyn Bus,
        new: &TaskState,
        v86: bool,
        is32: bool,
        error: Option<u16>,
    ) -> Result<()> {
        // CR3 first: the descriptor tables may be mapped differently in the
        // new address space. A 16-bit TSS has no CR3, and without paging the
        // field is not used (as Bochs and QEMU do).
        if is32 && self.cr0 & cr0::PG != 0 {
            self.load_cr3(bus, new.cr3)?;
        }
        let ldt = new.ldt;
        if sel_err(ldt) != 0 {
            let err = sel_err(ldt);
            if ldt & 4 != 0 {
                return Err(Exception::ts(err));
            }
            let d = self.fetch_descriptor(bus, ldt)?.ok_or(Exception::ts(err))?;
            if !d.is_system(sys::LDT) || !d.present() {
                return Err(Exception::ts(err));
            }
            self.ldtr = d.segment(ldt);
        }
        if !v86 {
            let cs = new.segs[1];
            let err = sel_err(cs);
            if err == 0 {
                return Err(Exception::ts(0));
            }
            let d = self.read_descriptor(bus, cs, Check::Ts)?;
            let rpl = (cs & 3) as u8;
            if !d.is_code()
                || (d.conforming() && d.dpl() > rpl)
                || (!d.conforming() && d.dpl() != rpl)
            {
                return Err(Exception::ts(err));
            }
            if !d.present() {
                return Err(Exception::np(err));
            }
            self.mark_accessed(bus, cs, d)?;
            self.segs[SegReg::CS as usize] = Segment {
                attr: d.attr() | super::segment::attr::ACCESSED,
                ..d.segment(cs)
            };
            for (n, &s) in TSS_SEGS.iter().enumerate() {
                if s != SegReg::CS {
                    let seg = self.check_data_segment(bus, s, new.segs[n], rpl, Check::Ts)?;
                    self.segs[s as usize] = seg;
                }
            }
        }
        if let Some(e) = error {
            let mut f = Frame::new(self.segs[SegReg::SS as usize], self.sp());
            f.push(if is32 { 4 } else { 2 }, e as u32);
            f.check(Exception::ss(0))?;
            f.write(self, bus, false)?;
            self.set_sp(f.sp);
        }
        if self.eip > self.segs[SegReg::CS as usize].limit {
            return Err(Exception::gp(0));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
