//! Descriptor-table instructions: LLDT, LTR, SLDT, STR, LAR, LSL, VERR,
//! VERW, ARPL, and SYSENTER/SYSEXIT (Intel SDM vol. 2).
//!
//! LAR, LSL, VERR and VERW report through ZF and do not fault for a selector
//! they cannot use; only the memory operand itself can fault.

use super::is_mem;
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{IF, RF, VM, ZF};
use crate::cpu::protected::sel_err;
use crate::cpu::segment::{attr, sys, Descriptor, Segment};
use crate::cpu::{reg, Cpu, SegReg};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let mem0 = is_mem(i, 0);
    let mem1 = i.op_count() > 1 && is_mem(i, 1);
    let w32 = i.op_kind(0) == OpKind::Register && i.op0_register().is_gpr32();
    macro_rules! by_mem {
        ($f:ident, $mem:expr) => {
            Some(if $mem {
                $f::<true> as Handler
            } else {
                $f::<false>
            })
        };
    }
    macro_rules! by_w_mem {
        ($f:ident, $mem:expr) => {
            Some(match (w32, $mem) {
                (false, false) => $f::<16, false> as Handler,
                (false, true) => $f::<16, true>,
                (true, false) => $f::<32, false>,
                (true, true) => $f::<32, true>,
            })
        };
    }
    match i.mnemonic() {
        Lldt => by_mem!(lldt, mem0),
        Ltr => by_mem!(ltr, mem0),
        Sldt => by_w_mem!(sldt, mem0),
        Str => by_w_mem!(str_tr, mem0),
        Lar => by_w_mem!(lar, mem1),
        Lsl => by_w_mem!(lsl, mem1),
        Verr => Some(if mem0 {
            verify::<true, false> as Handler
        } else {
            verify::<false, false>
        }),
        Verw => Some(if mem0 {
            verify::<true, true> as Handler
        } else {
            verify::<false, true>
        }),
        Arpl => by_mem!(arpl, mem0),
        Sysenter => Some(sysenter),
        Sysexit if i.code() == iced_x86::Code::Sysexitd => Some(sysexit),
        _ => None,
    }
}

/// These instructions are not recognised in real-address or V86 mode.
fn require_protected(cpu: &Cpu) -> Result<()> {
    if !cpu.protected_mode() || cpu.v86_mode() {
        return Err(Exception::ud());
    }
    Ok(())
}

/// The 16-bit selector operand: operand 0 (`SRC1` false) or 1, register or memory.
fn selector_operand<const MEM: bool, const SRC1: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<u16> {
    if MEM {
        let ea = cpu.ea(op);
        Ok(cpu.read::<16>(bus, op.seg, ea)? as u16)
    } else {
        let r = if SRC1 { op.src } else { op.dst };
        Ok(cpu.reg::<16>(r) as u16)
    }
}

/// Stores a selector for SLDT/STR/SMSW-like forms: 16 bits to memory,
/// zero-extended into a 32-bit register (P6 and later), the low half of a
/// 16-bit register.
fn store_selector<const W: u32, const MEM: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    v: u16,
) -> Result<()> {
    if MEM {
        cpu.write_rm::<16, true>(bus, op, v as u32)
    } else {
        cpu.set_reg::<W>(op.dst, v as u32);
        Ok(())
    }
}

/// LLDT r/m16 (SDM vol. 2, LLDT): a null selector leaves LDTR unusable.
fn lldt<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    if cpu.cpl != 0 {
        return Err(Exception::gp(0));
    }
    let sel = selector_operand::<MEM, false>(cpu, bus, op)?;
    let err = sel_err(sel);
    if err == 0 {
        cpu.ldtr = Segment::null(sel);
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(Exception::gp(err));
    }
    let d = cpu.fetch_descriptor(bus, sel)?.ok_or(Exception::gp(err))?;
    if !d.is_system(sys::LDT) {
        return Err(Exception::gp(err));
    }
    if !d.present() {
        return Err(Exception::np(err));
    }
    cpu.ldtr = d.segment(sel);
    Ok(())
}

/// LTR r/m16 (SDM vol. 2, LTR): an available TSS in the GDT, marked busy.
fn ltr<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    if cpu.cpl != 0 {
        return Err(Exception::gp(0));
    }
    let sel = selector_operand::<MEM, false>(cpu, bus, op)?;
    let err = sel_err(sel);
    if err == 0 {
        return Err(Exception::gp(0));
    }
    if sel & 4 != 0 {
        return Err(Exception::gp(err));
    }
    let d = cpu.fetch_descriptor(bus, sel)?.ok_or(Exception::gp(err))?;
    if !d.is_system(sys::TSS16_AVAILABLE) && !d.is_system(sys::TSS32_AVAILABLE) {
        return Err(Exception::gp(err));
    }
    if !d.present() {
        return Err(Exception::np(err));
    }
    let busy = Descriptor {
        lo: d.lo,
        hi: d.hi | (sys::BUSY as u32) << 8,
    };
    cpu.write_descriptor_hi(bus, sel, busy.hi)?;
    cpu.tr = busy.segment(sel);
    Ok(())
}

/// SLDT r/m16 / r32.
fn sldt<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    let v = cpu.ldtr.selector;
    store_selector::<W, MEM>(cpu, bus, op, v)
}

/// STR r/m16 / r32.
fn str_tr<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    let v = cpu.tr.selector;
    store_selector::<W, MEM>(cpu, bus, op, v)
}

/// The descriptor `sel` names if the current privilege may see it: not
/// null, within its table, and (except for conforming code) DPL >= CPL and
/// DPL >= RPL. The check LAR, LSL, VERR and VERW share.
fn visible_descriptor(cpu: &mut Cpu, bus: &mut dyn Bus, sel: u16) -> Result<Option<Descriptor>> {
    if sel_err(sel) == 0 {
        return Ok(None);
    }
    let Some(d) = cpu.fetch_descriptor(bus, sel)? else {
        return Ok(None);
    };
    let rpl = (sel & 3) as u8;
    if !d.conforming() && (cpu.cpl > d.dpl() || rpl > d.dpl()) {
        return Ok(None);
    }
    Ok(Some(d))
}

/// LAR r, r/m16 (SDM vol. 2, LAR): the access-rights bytes of any code or
/// data segment, or of a TSS, LDT, call gate or task gate.
fn lar<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    let sel = selector_operand::<MEM, true>(cpu, bus, op)?;
    let d = visible_descriptor(cpu, bus, sel)?.filter(|d| {
        d.is_segment()
            || matches!(
                d.kind(),
                sys::TSS16_AVAILABLE
                    | sys::LDT
                    | sys::TSS16_BUSY
                    | sys::CALL_GATE16
                    | sys::TASK_GATE
                    | sys::TSS32_AVAILABLE
                    | sys::TSS32_BUSY
                    | sys::CALL_GATE32
            )
    });
    cpu.set_flag(ZF, d.is_some());
    if let Some(d) = d {
        cpu.set_reg::<W>(op.dst, d.hi & 0x00FF_FF00);
    }
    Ok(())
}

/// LSL r, r/m16 (SDM vol. 2, LSL): the byte-granular limit of any code or
/// data segment, or of a TSS or LDT.
fn lsl<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    let sel = selector_operand::<MEM, true>(cpu, bus, op)?;
    let d = visible_descriptor(cpu, bus, sel)?.filter(|d| {
        d.is_segment()
            || matches!(
                d.kind(),
                sys::TSS16_AVAILABLE
                    | sys::LDT
                    | sys::TSS16_BUSY
                    | sys::TSS32_AVAILABLE
                    | sys::TSS32_BUSY
            )
    });
    cpu.set_flag(ZF, d.is_some());
    if let Some(d) = d {
        cpu.set_reg::<W>(op.dst, d.limit());
    }
    Ok(())
}

/// VERR (`WRITE` false) / VERW r/m16: ZF = the segment is readable, or is a
/// writable data segment, at the current privilege (SDM vol. 2, VERR/VERW).
fn verify<const MEM: bool, const WRITE: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    require_protected(cpu)?;
    let sel = selector_operand::<MEM, false>(cpu, bus, op)?;
    let usable = |d: &Descriptor| {
        if WRITE {
            d.writable_data()
        } else {
            d.readable()
        }
    };
    let ok = visible_descriptor(cpu, bus, sel)?.is_some_and(|d| usable(&d));
    cpu.set_flag(ZF, ok);
    Ok(())
}

/// ARPL r/m16, r16: raise the destination selector's RPL to the source's;
/// ZF tells whether it changed (SDM vol. 2, ARPL).
fn arpl<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_protected(cpu)?;
    let src = cpu.reg::<16>(op.src) & 3;
    let (lin, dst) = if MEM {
        let lin = cpu.seg_check(op.seg, cpu.ea(op), 2, true)?;
        (lin, cpu.read_lin::<16>(bus, lin)?)
    } else {
        (0, cpu.reg::<16>(op.dst))
    };
    if dst & 3 < src {
        let v = (dst & !3) | src;
        if MEM {
            cpu.write_lin::<16>(bus, lin, v)?;
        } else {
            cpu.set_reg::<16>(op.dst, v);
        }
        cpu.set_flag(ZF, true);
    } else {
        cpu.set_flag(ZF, false);
    }
    Ok(())
}

/// A flat 4 GiB segment as SYSENTER/SYSEXIT load it: `typ` 0xB (code,
/// execute/read, accessed) or 0x3 (data, read/write, accessed).
fn flat(selector: u16, typ: u16, dpl: u8) -> Segment {
    Segment {
        selector,
        base: 0,
        limit: u32::MAX,
        attr: typ | attr::S | attr::P | attr::dpl(dpl) | attr::DB | attr::G,
    }
}

/// SYSENTER (SDM vol. 2, SYSENTER): to CPL 0 at SYSENTER_CS:SYSENTER_EIP
/// with SS = SYSENTER_CS + 8 and ESP = SYSENTER_ESP, flat segments from
/// fixed values rather than the GDT; clears VM, IF and RF.
fn sysenter(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let cs = cpu.msr.sysenter_cs as u16;
    if !cpu.protected_mode() || cs & 0xFFFC == 0 {
        return Err(Exception::gp(0));
    }
    cpu.set_flag(VM | IF | RF, false);
    let cs = cs & 0xFFFC;
    cpu.segs[SegReg::CS as usize] = flat(cs, 0xB, 0);
    cpu.segs[SegReg::SS as usize] = flat(cs.wrapping_add(8), 0x3, 0);
    cpu.set_cpl(0);
    cpu.regs[reg::ESP] = cpu.msr.sysenter_esp;
    cpu.eip = cpu.msr.sysenter_eip;
    cpu.exit_block = true;
    Ok(())
}

/// SYSEXIT (SDM vol. 2, SYSEXIT): from CPL 0 to CPL 3 at
/// (SYSENTER_CS + 16 | 3):EDX with SS = SYSENTER_CS + 24 | 3, ESP = ECX.
fn sysexit(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let base = cpu.msr.sysenter_cs as u16;
    if !cpu.protected_mode() || cpu.v86_mode() || base & 0xFFFC == 0 || cpu.cpl != 0 {
        return Err(Exception::gp(0));
    }
    cpu.segs[SegReg::CS as usize] = flat(base.wrapping_add(16) | 3, 0xB, 3);
    cpu.segs[SegReg::SS as usize] = flat(base.wrapping_add(24) | 3, 0x3, 3);
    cpu.set_cpl(3);
    cpu.regs[reg::ESP] = cpu.regs[reg::ECX];
    cpu.eip = cpu.regs[reg::EDX];
    cpu.exit_block = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cpu::flags::ZF;
    use crate::cpu::protected::harness::*;
    use crate::cpu::segment::sys;
    use crate::cpu::{reg, Cpu, SegReg};
    use iced_x86::code_asm::*;

    fn zf(cpu: &Cpu) -> bool {
        cpu.eflags() & ZF != 0
    }

    /// SDM vol. 2, LAR/LSL/VERR/VERW: results by type and privilege; no
    /// fault for unusable selectors.
    #[test]
    fn lar_lsl_verr_verw() {
        let mut m = Machine::new();
        // A byte-granular ring-3 read-only data segment, limit 0x1234.
        m.set_gdt(FREE, seg(0x10_0000, 0x1234, 0x0, 3, false, false));
        // An execute-only ring-0 code segment.
        m.set_gdt(FREE + 8, seg(0, 0xFFFF, 0x8, 0, false, false));
        // An interrupt gate (not valid for LAR).
        m.set_gdt(FREE + 16, gate(sys::INT_GATE32, CODE0, 0, 0, 0));
        let code = asm32(0x4000, |a| {
            a.mov(ecx, (FREE | 3) as u32).unwrap();
            a.mov(eax, 0xFFFF_FFFF_u32).unwrap();
            a.lar(eax, ecx).unwrap(); // EAX = access rights, ZF = 1
            a.lsl(ebx, ecx).unwrap(); // EBX = 0x1234
            a.verr(cx).unwrap();
            a.setz(dl).unwrap(); // readable: 1
            a.verw(cx).unwrap();
            a.setz(dh).unwrap(); // not writable: 0
            a.mov(ecx, (FREE + 8) as u32).unwrap();
            a.verr(cx).unwrap();
            a.setz(byte_ptr(0x100)).unwrap(); // execute-only: 0
            a.mov(ecx, (FREE + 16) as u32).unwrap();
            a.mov(esi, 0x5555_u32).unwrap();
            a.lar(esi, ecx).unwrap(); // ZF = 0, ESI unchanged
            a.setz(byte_ptr(0x101)).unwrap();
            a.mov(ecx, 0xFFF8_u32).unwrap(); // beyond the GDT limit
            a.lsl(edi, ecx).unwrap();
            a.setz(byte_ptr(0x102)).unwrap();
            a.mov(ecx, TSS_SEL as u32).unwrap();
            a.lsl(edi, ecx).unwrap();
            a.hlt().unwrap();
        });
        m.code_at(0x4000, &code);
        m.start(0x4000);
        m.run();
        let r = m.cpu.regs;
        assert_eq!(r[reg::EAX], 0x0000_F000, "P=1 DPL=3 S=1 type 0");
        assert_eq!(r[reg::EBX], 0x1234);
        assert_eq!(r[reg::EDX] & 0xFFFF, 0x0001);
        assert_eq!(m.cpu.mem.read_u8(0x100), 0);
        assert_eq!(m.cpu.mem.read_u8(0x101), 0);
        assert_eq!(r[reg::ESI], 0x5555);
        assert_eq!(m.cpu.mem.read_u8(0x102), 0);
        assert_eq!(r[reg::EDI], m.gdt(TSS_SEL).limit(), "LSL of a TSS");
        assert!(zf(&m.cpu));
    }

    /// SDM vol. 2, LAR: from ring 3, a DPL-0 data segment is invisible.
    #[test]
    fn lar_checks_privilege() {
        let mut m = Machine::new();
        m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6000, 3, 0));
        m.code_at(0x6000, &[0xF4]);
        let code = asm32(0x4000, |a| {
            a.mov(ecx, DATA0 as u32).unwrap();
            a.lar(eax, ecx).unwrap();
            a.setz(bl).unwrap();
            a.mov(ecx, DATA3 as u32).unwrap();
            a.lar(eax, ecx).unwrap();
            a.setz(bh).unwrap();
            a.int(0x80).unwrap();
        });
        m.code_at(0x4000, &code);
        m.enter(CODE3, DATA3, 0x7000);
        m.start(0x4000);
        m.run();
        assert_eq!(m.cpu.regs[reg::EBX] & 0xFFFF, 0x0100);
    }

    /// SDM vol. 2, LLDT/LTR/SLDT/STR: LTR marks the TSS busy; SLDT into a
    /// 32-bit register zero-extends; a busy TSS cannot be loaded again.
    #[test]
    fn lldt_ltr_sldt_str() {
        let mut m = Machine::new();
        m.set_gdt(FREE, system(0x20000, 0x67, sys::TSS32_AVAILABLE, 0));
        m.set_gdt(FREE + 8, system(0x21000, 0xF, sys::LDT, 0));
        // An LDT with one data descriptor at index 1.
        let d = data(0);
        m.write32(0x21008, d.lo);
        m.write32(0x2100C, d.hi);
        m.set_idt(13, gate(sys::INT_GATE32, CODE0, 0x6000, 0, 0));
        m.code_at(
            0x6000,
            &asm32(0x6000, |a| {
                a.pop(edx).unwrap();
                a.hlt().unwrap();
            }),
        );
        let code = asm32(0x4000, |a| {
            a.mov(eax, FREE as u32).unwrap();
            a.ltr(ax).unwrap();
            a.mov(eax, (FREE + 8) as u32).unwrap();
            a.lldt(ax).unwrap();
            a.mov(eax, 0x0C_u32).unwrap(); // LDT index 1
            a.mov(es, ax).unwrap();
            a.mov(ebx, 0xFFFF_FFFF_u32).unwrap();
            a.sldt(ebx).unwrap();
            a.mov(esi, 0xFFFF_FFFF_u32).unwrap();
            a.str(si).unwrap();
            a.mov(eax, FREE as u32).unwrap();
            a.ltr(ax).unwrap(); // busy now: #GP(FREE)
        });
        m.code_at(0x4000, &code);
        m.start(0x4000);
        m.run();
        assert_eq!(m.cpu.tr.selector, FREE);
        assert_eq!(m.gdt(FREE).kind(), sys::TSS32_BUSY);
        assert_eq!(m.cpu.ldtr.base, 0x21000);
        assert_eq!(m.cpu.segs[SegReg::ES as usize].selector, 0x0C);
        assert_eq!(m.cpu.regs[reg::EBX], (FREE + 8) as u32);
        assert_eq!(m.cpu.regs[reg::ESI], 0xFFFF_0000 | FREE as u32);
        assert_eq!(m.cpu.regs[reg::EDX], FREE as u32);
    }

    /// SDM vol. 2, ARPL (#UD in real mode) and the ZF result.
    #[test]
    fn arpl_adjusts_rpl() {
        let mut m = Machine::new();
        let code = asm32(0x4000, |a| {
            a.mov(eax, 0x0010_u32).unwrap();
            a.mov(ecx, 0x0003_u32).unwrap();
            a.arpl(ax, cx).unwrap();
            a.setz(bl).unwrap();
            a.arpl(ax, cx).unwrap();
            a.setz(bh).unwrap();
            a.hlt().unwrap();
        });
        m.code_at(0x4000, &code);
        m.start(0x4000);
        m.run();
        assert_eq!(m.cpu.regs[reg::EAX], 0x13);
        assert_eq!(m.cpu.regs[reg::EBX] & 0xFFFF, 0x0001);

        // Real mode: #UD through the IVT.
        let mut cpu = Cpu::new(1 << 20);
        cpu.mem.write_bytes(0x18, &[0x00, 0x05, 0x00, 0x00]); // vector 6 -> 0000:0500
        cpu.mem.write_bytes(0x500, &[0xF4]);
        cpu.mem.write_bytes(0x1000, &[0x63, 0xC8]); // arpl ax, cx
        cpu.load_seg_real(SegReg::CS, 0x100);
        cpu.load_seg_real(SegReg::SS, 0);
        cpu.regs[reg::ESP] = 0x800;
        cpu.eip = 0;
        cpu.run(&mut crate::NullBus, 100);
        assert_eq!(cpu.eip, 0x501);
    }

    /// SDM vol. 2, SYSENTER/SYSEXIT: flat segments from SYSENTER_CS, CPL 0
    /// and back to CPL 3 at EDX with ESP = ECX; #GP(0) when SYSENTER_CS is 0.
    #[test]
    fn sysenter_sysexit_round_trip() {
        let mut m = Machine::new();
        m.cpu.msr.sysenter_cs = CODE0 as u32; // CS 08, SS 10, user CS 1B, SS 23
        m.cpu.msr.sysenter_esp = 0x9000;
        m.cpu.msr.sysenter_eip = 0x5000;
        let kernel = asm32(0x5000, |a| {
            a.mov(ebx, esp).unwrap();
            a.mov(esi, cs).unwrap();
            a.mov(edi, ss).unwrap();
            a.mov(edx, 0x4100_u32).unwrap();
            a.mov(ecx, 0x7100_u32).unwrap();
            a.sysexit().unwrap();
        });
        m.code_at(0x5000, &kernel);
        m.code_at(0x4000, &asm32(0x4000, |a| a.sysenter().unwrap()));
        let user = asm32(0x4100, |a| {
            a.mov(eax, cs).unwrap();
            a.mov(ebp, esp).unwrap();
            a.mov(ecx, 0).unwrap();
            a.sysenter().unwrap(); // SYSENTER_CS cleared below -> #GP(0)
        });
        m.code_at(0x4100, &user);
        m.set_idt(13, gate(sys::INT_GATE32, CODE0, 0x6000, 0, 0));
        m.code_at(
            0x6000,
            &asm32(0x6000, |a| {
                a.pop(edx).unwrap();
                a.hlt().unwrap();
            }),
        );
        m.enter(CODE3, DATA3, 0x7000);
        m.start(0x4000);
        // Run to the SYSEXIT, clear SYSENTER_CS, then let the #GP happen.
        m.cpu.run(&mut crate::NullBus, 7);
        assert_eq!(m.cpu.cpl, 3);
        assert_eq!(m.cpu.regs[reg::EBX], 0x9000);
        assert_eq!(m.cpu.regs[reg::ESI], CODE0 as u32);
        assert_eq!(m.cpu.regs[reg::EDI], DATA0 as u32);
        m.cpu.msr.sysenter_cs = 0;
        m.run();
        assert_eq!(m.cpu.regs[reg::EAX], CODE3 as u32);
        assert_eq!(m.cpu.regs[reg::EBP], 0x7100);
        assert_eq!(m.cpu.regs[reg::EDX], 0, "#GP(0)");
    }
}
