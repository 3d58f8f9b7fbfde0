//! Protected-mode forms of segment loads, far transfers, interrupt delivery
//! and IRET (Intel SDM vol. 3, chapters 3, 5 and 6; vol. 2, the pseudo-code
//! of MOV, JMP, CALL, RET, INT n and IRET).
//!
//! Every transfer here follows one discipline: all checks and all memory
//! writes happen first, against values computed on the side (the new stack
//! frame is staged in a [`Frame`] and written at computed addresses), and the
//! registers — SS:ESP, CS:EIP, EFLAGS, CPL — are committed only at the end.
//! A fault therefore leaves the architectural state as it was at the start
//! of the instruction, as the run loop's restart of the instruction requires.
//!
//! Task switches are in `task`, the virtual-8086 instructions in `transfer`.

use super::exception::{Exception, Result, Source, GP, NP, SS, TS};
use super::flags::{self, AC, ID, IF, IOPL, NT, RF, TF, VIF, VIP, VM};
use super::segment::{attr, sys, Descriptor, Segment};
use super::task::TaskSwitch;
use super::{reg, Cpu, SegReg};
use crate::bus::Bus;

/// The error code that names a selector: index and TI, RPL dropped (SDM
/// vol. 3, 6.13).
#[inline]
pub(crate) fn sel_err(selector: u16) -> u16 {
    selector & 0xFFFC
}

/// Sets the EXT bit (bit 0) of a selector error code when the fault arose
/// while delivering an event external to the program (SDM vol. 3, 6.13).
/// Page faults and vectors without a selector error code are left alone.
pub(crate) fn with_ext(mut e: Exception, ext: u16) -> Exception {
    if e.has_error && matches!(e.vector, TS | NP | SS | GP) {
        e.error |= ext & 1;
    }
    e
}

/// Which exception a failed descriptor check raises: #GP for instructions,
/// #TS for the segment loads of a task switch (SDM vol. 3, table 7-1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Check {
    Gp,
    Ts,
}

impl Check {
    fn fault(self, error: u16) -> Exception {
        match self {
            Check::Gp => Exception::gp(error),
            Check::Ts => Exception::ts(error),
        }
    }
}

/// The hidden cache of a code segment entered at privilege `cpl`: the
/// selector's RPL becomes the CPL, and the accessed bit is set.
fn code_cache(d: Descriptor, selector: u16, cpl: u8) -> Segment {
    Segment {
        attr: d.attr() | attr::ACCESSED,
        ..d.segment(sel_err(selector) | cpl as u16)
    }
}

/// Most pushes one transfer makes: a 32-bit call gate's SS, ESP, 31
/// parameters, CS and EIP.
const MAX_SLOTS: usize = 36;

/// A stack frame staged for pushing: each push's offset is computed and
/// limit-checked as it is added, and nothing is written until [`Frame::write`],
/// so a transfer can check everything before changing anything.
pub(crate) struct Frame {
    ss: Segment,
    /// The stack pointer after the pushes so far.
    pub sp: u32,
    mask: u32,
    fits: bool,
    slots: [(u32, u32, u32); MAX_SLOTS],
    n: usize,
}

impl Frame {
    /// A frame to be pushed on stack segment `ss` starting at `sp` (masked
    /// to 16 bits for a 16-bit stack).
    pub(crate) fn new(ss: Segment, sp: u32) -> Frame {
        let mask = if ss.big() { u32::MAX } else { 0xFFFF };
        Frame {
            ss,
            sp: sp & mask,
            mask,
            fits: true,
            slots: [(0, 0, 0); MAX_SLOTS],
            n: 0,
        }
    }

    /// Stages a push of `bytes` (2 or 4) bytes.
    pub(crate) fn push(&mut self, bytes: u32, value: u32) {
        self.sp = self.sp.wrapping_sub(bytes) & self.mask;
        if !self.ss.in_limit(self.sp, bytes) || self.n == MAX_SLOTS {
            self.fits = false;
            return;
        }
        self.slots[self.n] = (self.sp, bytes, value);
        self.n += 1;
    }

    /// `fault` unless every push lies within the stack segment's limit.
    pub(crate) fn check(&self, fault: Exception) -> Result<()> {
        if self.fits {
            Ok(())
        } else {
            Err(fault)
        }
    }

    /// Writes the staged pushes: as supervisor accesses when `sys` (a stack
    /// of an inner ring, reached before CPL changes), else at the current CPL.
    pub(crate) fn write(&self, cpu: &mut Cpu, bus: &mut dyn Bus, sys: bool) -> Result<()> {
        for &(off, bytes, v) in &self.slots[..self.n] {
            let lin = self.ss.base.wrapping_add(off);
            match (bytes, sys) {
                (2, true) => cpu.write_sys::<16>(bus, lin, v)?,
                (2, false) => cpu.write_lin::<16>(bus, lin, v)?,
                (_, true) => cpu.write_sys::<32>(bus, lin, v)?,
                (_, false) => cpu.write_lin::<32>(bus, lin, v)?,
            }
        }
        Ok(())
    }
}

impl Cpu {
    /// Changes the current privilege level. Every CPL change goes through
    /// here (CS loads, V86 entry and exit, SYSENTER/SYSEXIT, task switches).
    #[inline]
    pub(crate) fn set_cpl(&mut self, cpl: u8) {
        self.cpl = cpl & 3;
    }

    /// Loads CS with a checked code-segment cache and sets the CPL to its RPL.
    pub(crate) fn commit_cs(&mut self, cs: Segment, eip: u32) {
        self.set_cpl((cs.selector & 3) as u8);
        self.segs[SegReg::CS as usize] = cs;
        self.eip = eip;
    }

    /// The linear address of the descriptor `selector` names, or `None` if
    /// it lies beyond the GDT's or LDT's limit (or the LDT is unusable).
    pub(crate) fn descriptor_addr(&self, selector: u16) -> Option<u32> {
        let index = (selector & !7) as u32;
        let (base, limit) = if selector & 4 != 0 {
            if !self.ldtr.usable() {
                return None;
            }
            (self.ldtr.base, self.ldtr.limit)
        } else {
            (self.gdtr.base, self.gdtr.limit)
        };
        (index + 7 <= limit).then(|| base.wrapping_add(index))
    }

    /// Reads the descriptor `selector` names; `None` if it is beyond the
    /// table limit. Only page faults are errors.
    pub(crate) fn fetch_descriptor(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
    ) -> Result<Option<Descriptor>> {
        let Some(at) = self.descriptor_addr(selector) else {
            return Ok(None);
        };
        let lo = self.read_sys::<32>(bus, at)?;
        let hi = self.read_sys::<32>(bus, at.wrapping_add(4))?;
        Ok(Some(Descriptor { lo, hi }))
    }

    /// Reads the descriptor `selector` names; beyond the table limit it is
    /// `check`'s fault with the selector as error code.
    pub(crate) fn read_descriptor(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        check: Check,
    ) -> Result<Descriptor> {
        self.fetch_descriptor(bus, selector)?
            .ok_or(check.fault(sel_err(selector)))
    }

    /// Rewrites the high dword of the descriptor `selector` names (accessed
    /// and busy bits).
    pub(crate) fn write_descriptor_hi(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        hi: u32,
    ) -> Result<()> {
        if let Some(at) = self.descriptor_addr(selector) {
            self.write_sys::<32>(bus, at.wrapping_add(4), hi)?;
        }
        Ok(())
    }

    /// Sets the accessed bit of a code/data descriptor in memory, as the
    /// processor does on every segment load (SDM vol. 3, 3.4.5.1).
    pub(crate) fn mark_accessed(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        d: Descriptor,
    ) -> Result<()> {
        if d.hi & (1 << 8) == 0 {
            self.write_descriptor_hi(bus, selector, d.hi | (1 << 8))?;
        }
        Ok(())
    }

    /// Checks `selector` for loading into `seg` (SS, DS, ES, FS or GS) at
    /// privilege `cpl` and returns the hidden cache to load, setting the
    /// descriptor's accessed bit (SDM vol. 2, MOV: "IF SS is loaded ... ELSE
    /// IF DS, ES, FS, or GS is loaded"; vol. 3, 5.7). With `Check::Ts` the
    /// rules are those of a task switch's segment loads (vol. 3, table 7-1):
    /// #TS instead of #GP, #NP/#SS for not-present segments as before.
    pub(crate) fn check_data_segment(
        &mut self,
        bus: &mut dyn Bus,
        seg: SegReg,
        selector: u16,
        cpl: u8,
        check: Check,
    ) -> Result<Segment> {
        let err = sel_err(selector);
        if err == 0 {
            if seg == SegReg::SS {
                return Err(check.fault(0));
            }
            // A null selector loads an unusable segment; using it faults later.
            return Ok(Segment::null(selector));
        }
        let d = self.read_descriptor(bus, selector, check)?;
        let rpl = (selector & 3) as u8;
        if seg == SegReg::SS {
            if rpl != cpl || !d.writable_data() || d.dpl() != cpl {
                return Err(check.fault(err));
            }
            if !d.present() {
                return Err(Exception::ss(err));
            }
        } else {
            if !d.readable() || (!d.conforming() && (rpl > d.dpl() || cpl > d.dpl())) {
                return Err(check.fault(err));
            }
            if !d.present() {
                return Err(Exception::np(err));
            }
        }
        self.mark_accessed(bus, selector, d)?;
        Ok(Segment {
            attr: d.attr() | attr::ACCESSED,
            ..d.segment(selector)
        })
    }

    /// Loads SS, DS, ES, FS or GS in protected mode (MOV, POP, LDS, ...).
    pub(crate) fn load_segment_protected(
        &mut self,
        bus: &mut dyn Bus,
        seg: SegReg,
        selector: u16,
    ) -> Result<()> {
        let s = self.check_data_segment(bus, seg, selector, self.cpl, Check::Gp)?;
        self.segs[seg as usize] = s;
        Ok(())
    }

    /// After a return to an outer ring: DS, ES, FS and GS that the new CPL
    /// may not use (data or non-conforming code with DPL < CPL) are loaded
    /// with the null selector (SDM vol. 2, RET and IRET: "FOR each of segment
    /// register (ES, FS, GS, and DS)").
    fn null_inaccessible_segments(&mut self) {
        for s in [SegReg::ES, SegReg::DS, SegReg::FS, SegReg::GS] {
            let seg = &mut self.segs[s as usize];
            let conforming_code =
                seg.attr & (attr::CODE | attr::DC) == attr::CODE | attr::DC && seg.usable();
            if seg.dpl() < self.cpl && !conforming_code {
                *seg = Segment::null(0);
            }
        }
    }

    /// The checks of a direct far JMP/CALL to a code segment (SDM vol. 2,
    /// JMP/CALL: CONFORMING-CODE-SEGMENT, NONCONFORMING-CODE-SEGMENT).
    fn check_direct_code(&self, selector: u16, d: Descriptor) -> Result<()> {
        let err = sel_err(selector);
        let rpl = (selector & 3) as u8;
        let ok = if d.conforming() {
            d.dpl() <= self.cpl
        } else {
            rpl <= self.cpl && d.dpl() == self.cpl
        };
        if !ok {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        Ok(())
    }

    /// A call or task gate named by a far JMP/CALL: its DPL must admit both
    /// CPL and the selector's RPL (#GP), and it must be present (#NP).
    fn check_gate_access(&self, gate_sel: u16, gate: Descriptor) -> Result<()> {
        let rpl = (gate_sel & 3) as u8;
        if gate.dpl() < self.cpl || gate.dpl() < rpl {
            return Err(Exception::gp(sel_err(gate_sel)));
        }
        if !gate.present() {
            return Err(Exception::np(sel_err(gate_sel)));
        }
        Ok(())
    }

    /// The code segment a call gate names, checked (SDM vol. 2, CALL and JMP,
    /// CALL-GATE). `jump`: a JMP may not change privilege.
    fn call_gate_target(
        &mut self,
        bus: &mut dyn Bus,
        gate_sel: u16,
        gate: Descriptor,
        jump: bool,
    ) -> Result<(u16, Descriptor)> {
        self.check_gate_access(gate_sel, gate)?;
        let target = gate.gate_selector();
        let err = sel_err(target);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let cd = self.read_descriptor(bus, target, Check::Gp)?;
        let bad = if jump {
            !cd.is_code()
                || (cd.conforming() && cd.dpl() > self.cpl)
                || (!cd.conforming() && cd.dpl() != self.cpl)
        } else {
            !cd.is_code() || cd.dpl() > self.cpl
        };
        if bad {
            return Err(Exception::gp(err));
        }
        if !cd.present() {
            return Err(Exception::np(err));
        }
        Ok((target, cd))
    }

    /// The checks of a far JMP/CALL straight to a TSS descriptor (SDM vol. 2,
    /// JMP/CALL: TASK-STATE-SEGMENT; vol. 3, 7.2.2: TSS descriptors live in
    /// the GDT only).
    fn check_tss_target(&self, selector: u16, d: Descriptor) -> Result<()> {
        let err = sel_err(selector);
        let rpl = (selector & 3) as u8;
        if selector & 4 != 0 || d.dpl() < self.cpl || d.dpl() < rpl {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        Ok(())
    }

    /// The checks of a far JMP/CALL through a task gate; returns the TSS
    /// selector and descriptor (SDM vol. 2, JMP/CALL: TASK-GATE).
    fn task_gate_via_jump(
        &mut self,
        bus: &mut dyn Bus,
        gate_sel: u16,
        gate: Descriptor,
    ) -> Result<(u16, Descriptor)> {
        self.check_gate_access(gate_sel, gate)?;
        let tss = gate.gate_selector();
        let d = self.task_gate_tss(bus, tss)?;
        Ok((tss, d))
    }

    /// SS:ESP for privilege `dpl` from the current TSS (SDM vol. 3, 7.2.1 and
    /// 6.12.1; vol. 2, CALL and INT pseudo-code). Outside the TSS limit it is
    /// #TS(TR selector).
    pub(crate) fn tss_stack(&mut self, bus: &mut dyn Bus, dpl: u8) -> Result<(u16, u32)> {
        let tr = self.tr;
        let fault = Exception::ts(sel_err(tr.selector));
        if tr.attr & 8 != 0 {
            let at = dpl as u32 * 8 + 4;
            if at + 5 > tr.limit {
                return Err(fault);
            }
            let esp = self.read_sys::<32>(bus, tr.base.wrapping_add(at))?;
            let ss = self.read_sys::<16>(bus, tr.base.wrapping_add(at + 4))?;
            Ok((ss as u16, esp))
        } else {
            let at = dpl as u32 * 4 + 2;
            if at + 3 > tr.limit {
                return Err(fault);
            }
            let sp = self.read_sys::<16>(bus, tr.base.wrapping_add(at))?;
            let ss = self.read_sys::<16>(bus, tr.base.wrapping_add(at + 2))?;
            Ok((ss as u16, sp))
        }
    }

    /// Checks the stack segment read from the TSS for an inner-ring transfer
    /// to privilege `cpl` (SDM vol. 2, CALL MORE-PRIVILEGE and INT
    /// INTER-PRIVILEGE-LEVEL-INTERRUPT): #TS(SS) for a bad selector or
    /// descriptor, #SS(SS) if not present.
    fn check_inner_stack(&mut self, bus: &mut dyn Bus, selector: u16, cpl: u8) -> Result<Segment> {
        let err = sel_err(selector);
        if err == 0 {
            return Err(Exception::ts(0));
        }
        let d = self.read_descriptor(bus, selector, Check::Ts)?;
        if (selector & 3) as u8 != cpl || d.dpl() != cpl || !d.writable_data() {
            return Err(Exception::ts(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        self.mark_accessed(bus, selector, d)?;
        Ok(Segment {
            attr: d.attr() | attr::ACCESSED,
            ..d.segment(selector)
        })
    }

    /// The stack segment popped by a far RET or IRET to an outer ring with
    /// RPL `rpl` (SDM vol. 2, RET: RETURN-TO-OUTER-PRIVILEGE-LEVEL).
    fn check_outer_stack(&mut self, bus: &mut dyn Bus, selector: u16, rpl: u8) -> Result<Segment> {
        let err = sel_err(selector);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let d = self.read_descriptor(bus, selector, Check::Gp)?;
        if (selector & 3) as u8 != rpl || !d.writable_data() || d.dpl() != rpl {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        self.mark_accessed(bus, selector, d)?;
        Ok(Segment {
            attr: d.attr() | attr::ACCESSED,
            ..d.segment(selector)
        })
    }

    /// The return code segment of a far RET or IRET (SDM vol. 2, RET and
    /// IRET PROTECTED-MODE-RETURN).
    fn check_return_code(&mut self, bus: &mut dyn Bus, selector: u16) -> Result<Descriptor> {
        let err = sel_err(selector);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let d = self.read_descriptor(bus, selector, Check::Gp)?;
        let rpl = (selector & 3) as u8;
        if !d.is_code()
            || rpl < self.cpl
            || (d.conforming() && d.dpl() > rpl)
            || (!d.conforming() && d.dpl() != rpl)
        {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        Ok(d)
    }

    /// Reads `bytes` (2 or 4) at SS:(SP + offset) without popping.
    fn peek(&mut self, bus: &mut dyn Bus, offset: u32, bytes: u32) -> Result<u32> {
        if bytes == 2 {
            self.stack_peek::<16>(bus, offset)
        } else {
            self.stack_peek::<32>(bus, offset)
        }
    }

    /// The end of a far JMP to a checked code segment at the current
    /// privilege: the offset must lie within its limit (#GP(0)).
    fn jump_to_code(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        d: Descriptor,
        offset: u32,
    ) -> Result<()> {
        let cs = code_cache(d, selector, self.cpl);
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        self.mark_accessed(bus, selector, d)?;
        self.commit_cs(cs, offset);
        Ok(())
    }

    /// JMP ptr16:16/32 or m16:16/32 in protected mode (SDM vol. 2, JMP).
    pub(crate) fn far_jump_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        let err = sel_err(selector);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let d = self.read_descriptor(bus, selector, Check::Gp)?;
        if d.is_code() {
            self.check_direct_code(selector, d)?;
            let offset = if W == 16 { offset & 0xFFFF } else { offset };
            return self.jump_to_code(bus, selector, d, offset);
        }
        if d.is_segment() {
            return Err(Exception::gp(err));
        }
        match d.kind() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                let (target, cd) = self.call_gate_target(bus, selector, d, true)?;
                self.jump_to_code(bus, target, cd, d.gate_offset())
            }
            sys::TASK_GATE => {
                let (tss, td) = self.task_gate_via_jump(bus, selector, d)?;
                self.task_switch(bus, tss, td, TaskSwitch::Jump, None, 0)
            }
            sys::TSS16_AVAILABLE | sys::TSS32_AVAILABLE => {
                self.check_tss_target(selector, d)?;
                self.task_switch(bus, selector, d, TaskSwitch::Jump, None, 0)
            }
            _ => Err(Exception::gp(err)),
        }
    }

    /// CALL ptr16:16/32 or m16:16/32 in protected mode (SDM vol. 2, CALL;
    /// vol. 3, 5.8.5 and 5.8.6 for call gates and the stack switch).
    pub(crate) fn far_call_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        selector: u16,
        offset: u32,
    ) -> Result<()> {
        let err = sel_err(selector);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let d = self.read_descriptor(bus, selector, Check::Gp)?;
        if d.is_code() {
            self.check_direct_code(selector, d)?;
            let offset = if W == 16 { offset & 0xFFFF } else { offset };
            return self.call_same_privilege(bus, selector, d, offset, W / 8);
        }
        if d.is_segment() {
            return Err(Exception::gp(err));
        }
        match d.kind() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                let (target, cd) = self.call_gate_target(bus, selector, d, false)?;
                let size = if d.kind() == sys::CALL_GATE32 { 4 } else { 2 };
                if !cd.conforming() && cd.dpl() < self.cpl {
                    self.call_gate_inner(bus, target, cd, d, size)
                } else {
                    self.call_same_privilege(bus, target, cd, d.gate_offset(), size)
                }
            }
            sys::TASK_GATE => {
                let (tss, td) = self.task_gate_via_jump(bus, selector, d)?;
                self.task_switch(bus, tss, td, TaskSwitch::Call, None, 0)
            }
            sys::TSS16_AVAILABLE | sys::TSS32_AVAILABLE => {
                self.check_tss_target(selector, d)?;
                self.task_switch(bus, selector, d, TaskSwitch::Call, None, 0)
            }
            _ => Err(Exception::gp(err)),
        }
    }

    /// A far call that stays at the current privilege level: pushes CS and
    /// EIP (`size` bytes each) on the current stack.
    fn call_same_privilege(
        &mut self,
        bus: &mut dyn Bus,
        target: u16,
        cd: Descriptor,
        offset: u32,
        size: u32,
    ) -> Result<()> {
        let mut f = Frame::new(self.segs[SegReg::SS as usize], self.sp());
        f.push(size, self.segs[SegReg::CS as usize].selector as u32);
        f.push(size, self.eip);
        f.check(Exception::ss(0))?;
        let cs = code_cache(cd, target, self.cpl);
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        f.write(self, bus, false)?;
        self.mark_accessed(bus, target, cd)?;
        self.commit_cs(cs, offset);
        self.set_sp(f.sp);
        Ok(())
    }

    /// A call through a call gate to a more privileged non-conforming code
    /// segment: switch to the stack the TSS gives for the new ring, push the
    /// old SS:ESP, copy the gate's parameter count of `size`-byte parameters
    /// from the old stack, push the old CS:EIP (SDM vol. 3, 5.8.5, figure 5-13;
    /// vol. 2, CALL MORE-PRIVILEGE).
    fn call_gate_inner(
        &mut self,
        bus: &mut dyn Bus,
        target: u16,
        cd: Descriptor,
        gate: Descriptor,
        size: u32,
    ) -> Result<()> {
        let new_cpl = cd.dpl();
        let (ss_sel, esp) = self.tss_stack(bus, new_cpl)?;
        let ss = self.check_inner_stack(bus, ss_sel, new_cpl)?;
        let old_sp = self.sp();
        let old_mask = self.sp_mask();
        let mut f = Frame::new(ss, esp);
        f.push(size, self.segs[SegReg::SS as usize].selector as u32);
        f.push(size, old_sp);
        for i in (0..gate.gate_params()).rev() {
            let at = old_sp.wrapping_add(i * size) & old_mask;
            let v = if size == 2 {
                self.read::<16>(bus, SegReg::SS as u8, at)?
            } else {
                self.read::<32>(bus, SegReg::SS as u8, at)?
            };
            f.push(size, v);
        }
        f.push(size, self.segs[SegReg::CS as usize].selector as u32);
        f.push(size, self.eip);
        f.check(Exception::ss(sel_err(ss_sel)))?;
        let cs = code_cache(cd, target, new_cpl);
        let offset = gate.gate_offset();
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        f.write(self, bus, true)?;
        self.mark_accessed(bus, target, cd)?;
        self.segs[SegReg::SS as usize] = ss;
        self.set_sp(f.sp);
        self.commit_cs(cs, offset);
        Ok(())
    }

    /// RETF [imm16] in protected mode (SDM vol. 2, RET): to the same ring, or
    /// to an outer ring popping SS:ESP and releasing `release` bytes of
    /// parameters on both stacks.
    pub(crate) fn far_return_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
        release: u32,
    ) -> Result<()> {
        let size = W / 8;
        let ip = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size, size)? as u16;
        let d = self.check_return_code(bus, sel)?;
        let rpl = (sel & 3) as u8;
        if rpl == self.cpl {
            let cs = code_cache(d, sel, self.cpl);
            if ip > cs.limit {
                return Err(Exception::gp(0));
            }
            self.mark_accessed(bus, sel, d)?;
            self.commit_cs(cs, ip);
            self.set_sp(self.sp().wrapping_add(2 * size).wrapping_add(release));
            return Ok(());
        }
        let at = 2 * size + release;
        let new_sp = self.peek(bus, at, size)?;
        let ss_sel = self.peek(bus, at + size, size)? as u16;
        let ss = self.check_outer_stack(bus, ss_sel, rpl)?;
        let cs = code_cache(d, sel, rpl);
        if ip > cs.limit {
            return Err(Exception::gp(0));
        }
        self.mark_accessed(bus, sel, d)?;
        self.commit_cs(cs, ip);
        self.segs[SegReg::SS as usize] = ss;
        self.set_sp(new_sp.wrapping_add(release));
        self.null_inaccessible_segments();
        Ok(())
    }

    /// EFLAGS as IRET loads them outside V86 mode (SDM vol. 2, IRET
    /// RETURN-TO-SAME-PRIVILEGE-LEVEL): IF only when CPL <= IOPL, IOPL (and
    /// VIF, VIP) only at CPL 0, RF/AC/ID only with a 32-bit operand; all
    /// judged by the CPL before the return. RF comes from the image, so a
    /// handler can return to a faulting instruction past its breakpoint.
    fn iret_flags(&mut self, value: u32, w: u32) {
        let mut changeable = flags::ARITH | TF | flags::DF | NT;
        if w == 32 {
            changeable |= RF | AC | ID;
        }
        if self.cpl <= self.iopl() {
            changeable |= IF;
        }
        if self.cpl == 0 {
            changeable |= IOPL;
            if w == 32 {
                changeable |= VIF | VIP;
            }
        }
        let new = (self.eflags() & !changeable) | (value & changeable);
        self.set_eflags(new);
    }

    /// IRET/IRETD with CR0.PE set (SDM vol. 2, IRET): from V86 mode, a
    /// nested-task return (NT), a return to V86 mode, or a protected-mode
    /// return to the same or an outer ring.
    pub(crate) fn interrupt_return_protected<const W: u32>(
        &mut self,
        bus: &mut dyn Bus,
    ) -> Result<()> {
        if self.v86_mode() {
            return self.v86_interrupt_return::<W>(bus);
        }
        if self.flag(NT) {
            return self.task_return(bus);
        }
        let size = W / 8;
        let ip = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size, size)? as u16;
        let fl = self.peek(bus, 2 * size, size)?;
        if W == 32 && fl & VM != 0 && self.cpl == 0 {
            return self.iret_to_v86(bus, ip, sel, fl);
        }
        let d = self.check_return_code(bus, sel)?;
        let rpl = (sel & 3) as u8;
        if rpl == self.cpl {
            let cs = code_cache(d, sel, self.cpl);
            if ip > cs.limit {
                return Err(Exception::gp(0));
            }
            self.mark_accessed(bus, sel, d)?;
            self.commit_cs(cs, ip);
            self.set_sp(self.sp().wrapping_add(3 * size));
            self.iret_flags(fl, W);
            return Ok(());
        }
        let new_sp = self.peek(bus, 3 * size, size)?;
        let ss_sel = self.peek(bus, 4 * size, size)? as u16;
        let ss = self.check_outer_stack(bus, ss_sel, rpl)?;
        let cs = code_cache(d, sel, rpl);
        if ip > cs.limit {
            return Err(Exception::gp(0));
        }
        self.mark_accessed(bus, sel, d)?;
        self.iret_flags(fl, W);
        self.commit_cs(cs, ip);
        self.segs[SegReg::SS as usize] = ss;
        self.set_sp(new_sp);
        self.null_inaccessible_segments();
        Ok(())
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS: enter virtual-8086
    /// mode, popping ESP, SS, ES, DS, FS and GS too (SDM vol. 2, IRET
    /// RETURN-TO-VIRTUAL-8086-MODE; vol. 3, 20.2.5).
    fn iret_to_v86(&mut self, bus: &mut dyn Bus, ip: u32, cs: u16, fl: u32) -> Result<()> {
        let mut popped = [0u16; 5];
        let esp = self.stack_peek::<32>(bus, 12)?;
        for (n, v) in popped.iter_mut().enumerate() {
            *v = self.stack_peek::<32>(bus, 16 + 4 * n as u32)? as u16;
        }
        if ip > 0xFFFF {
            return Err(Exception::gp(0));
        }
        let [ss, es, ds, fs, gs] = popped;
        self.set_eflags(fl);
        self.segs[SegReg::CS as usize] = Segment::v86(cs, true);
        for (s, sel) in [
            (SegReg::SS, ss),
            (SegReg::ES, es),
            (SegReg::DS, ds),
            (SegReg::FS, fs),
            (SegReg::GS, gs),
        ] {
            self.segs[s as usize] = Segment::v86(sel, false);
        }
        self.regs[reg::ESP] = esp;
        self.eip = ip;
        self.set_cpl(3);
        Ok(())
    }

    /// Interrupt and exception delivery in protected and V86 mode through
    /// the IDT (SDM vol. 3, 6.10–6.12, 6.13 for error codes; vol. 2, INT n
    /// pseudo-code from PROTECTED-MODE on). Faults here carry the EXT bit
    /// unless the event is a software interrupt.
    pub(crate) fn deliver_protected(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        error: Option<u16>,
        source: Source,
    ) -> Result<()> {
        let ext = (source != Source::Software) as u16;
        self.deliver_through_idt(bus, vector, error, source, ext)
            .map_err(|e| with_ext(e, ext))
    }

    fn deliver_through_idt(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        error: Option<u16>,
        source: Source,
        ext: u16,
    ) -> Result<()> {
        let at = vector as u32 * 8;
        // An IDT error code has the IDT bit (1) set and the vector as index.
        let idt_err = (at + 2) as u16;
        if at + 7 > self.idtr.limit {
            return Err(Exception::gp(idt_err));
        }
        let lo = self.read_sys::<32>(bus, self.idtr.base.wrapping_add(at))?;
        let hi = self.read_sys::<32>(bus, self.idtr.base.wrapping_add(at + 4))?;
        let gate = Descriptor { lo, hi };
        let kind = gate.kind();
        let valid = !gate.is_segment()
            && matches!(
                kind,
                sys::TASK_GATE
                    | sys::INT_GATE16
                    | sys::TRAP_GATE16
                    | sys::INT_GATE32
                    | sys::TRAP_GATE32
            );
        if !valid {
            return Err(Exception::gp(idt_err));
        }
        // INT n, INT3 and INTO check the gate's DPL; exceptions and external
        // interrupts (and INT1) do not (SDM vol. 3, 6.12.1.1).
        if source == Source::Software && gate.dpl() < self.cpl {
            return Err(Exception::gp(idt_err));
        }
        if !gate.present() {
            return Err(Exception::np(idt_err));
        }
        if kind == sys::TASK_GATE {
            let tss = gate.gate_selector();
            let d = self.task_gate_tss(bus, tss)?;
            return self.task_switch(bus, tss, d, TaskSwitch::Interrupt, error, ext);
        }
        let target = gate.gate_selector();
        let err = sel_err(target);
        if err == 0 {
            return Err(Exception::gp(0));
        }
        let cd = self.read_descriptor(bus, target, Check::Gp)?;
        if !cd.is_code() || cd.dpl() > self.cpl {
            return Err(Exception::gp(err));
        }
        if !cd.present() {
            return Err(Exception::np(err));
        }
        let size = if gate.is_32bit_system() { 4 } else { 2 };
        let offset = gate.gate_offset();
        let v86 = self.v86_mode();
        let old_flags = self.eflags();
        let old_cs = self.segs[SegReg::CS as usize].selector as u32;
        let inner = !cd.conforming() && cd.dpl() < self.cpl;
        let new_cpl = if inner { cd.dpl() } else { self.cpl };
        let (ss, frame) = if inner {
            // From V86 mode the handler must be at ring 0 (SDM vol. 3, 20.3.1.1).
            if v86 && new_cpl != 0 {
                return Err(Exception::gp(err));
            }
            let (ss_sel, esp) = self.tss_stack(bus, new_cpl)?;
            let ss = self.check_inner_stack(bus, ss_sel, new_cpl)?;
            let mut f = Frame::new(ss, esp);
            if v86 {
                for s in [SegReg::GS, SegReg::FS, SegReg::DS, SegReg::ES] {
                    f.push(size, self.segs[s as usize].selector as u32);
                }
            }
            f.push(size, self.segs[SegReg::SS as usize].selector as u32);
            f.push(size, self.regs[reg::ESP]);
            f.push(size, old_flags);
            f.push(size, old_cs);
            f.push(size, self.eip);
            if let Some(e) = error {
                f.push(size, e as u32);
            }
            f.check(Exception::ss(sel_err(ss_sel)))?;
            (ss, f)
        } else {
            // A handler at the current privilege (conforming, or DPL = CPL);
            // never from V86 mode, where CPL is 3 and handlers run at 0.
            if v86 {
                return Err(Exception::gp(err));
            }
            let ss = self.segs[SegReg::SS as usize];
            let mut f = Frame::new(ss, self.sp());
            f.push(size, old_flags);
            f.push(size, old_cs);
            f.push(size, self.eip);
            if let Some(e) = error {
                f.push(size, e as u32);
            }
            f.check(Exception::ss(0))?;
            (ss, f)
        };
        let cs = code_cache(cd, target, new_cpl);
        if offset > cs.limit {
            return Err(Exception::gp(0));
        }
        frame.write(self, bus, inner)?;
        self.mark_accessed(bus, target, cd)?;
        // Commit.
        if v86 {
            for s in [SegReg::ES, SegReg::DS, SegReg::FS, SegReg::GS] {
                self.segs[s as usize] = Segment::null(0);
            }
        }
        let mut clear = TF | NT | RF | VM;
        if kind & 1 == 0 {
            clear |= IF; // an interrupt gate, not a trap gate
        }
        self.set_flag(clear, false);
        self.segs[SegReg::SS as usize] = ss;
        self.set_sp(frame.sp);
        self.commit_cs(cs, offset);
        Ok(())
    }
}

/// Builders for descriptor tables and small protected-mode machines, shared
/// by the unit tests of the protection, task and V86 code.
#[cfg(test)]
#[path = "protected_harness.rs"]
pub(crate) mod harness;

#[cfg(test)]
#[path = "protected_tests.rs"]
mod tests;
