//! Unit tests of virtual-8086 mode: entry by IRET, the monitor trap for
//! IOPL-sensitive instructions, the VME and PVI virtual interrupt flag.

use super::super::protected::harness::*;
use super::{CR4_PVI, CR4_VME};
use crate::cpu::flags::{IF, IOPL, VIF, VIP, VM};
use crate::cpu::segment::sys;
use crate::cpu::{reg, SegReg};
use iced_x86::code_asm::*;

/// V86 code lives at 2000:0000 (linear 0x20000), its stack at 3000:1000.
const V86_CS: u32 = 0x2000;
const V86_CODE: u32 = 0x20000;

/// A machine that enters V86 mode at 2000:0000 by an IRETD at ring 0 with
/// EFLAGS = `eflags` | VM and data segments ES/DS/FS/GS = 4100/4000/4200/4300.
fn enter_v86(code: &[u8], eflags: u32) -> Machine {
    let mut m = Machine::new();
    m.code_at(V86_CODE, code);
    let frame = [
        0,
        V86_CS,
        eflags | VM | 2,
        0x1000,
        0x3000,
        0x4100,
        0x4000,
        0x4200,
        0x4300,
    ];
    for (n, v) in frame.iter().enumerate() {
        m.write32(0x8000 - 36 + 4 * n as u32, *v);
    }
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(esp, 0x8000 - 36_u32).unwrap();
            a.iretd().unwrap();
        }),
    );
    m.start(0x4000);
    m
}

/// SDM vol. 2 IRET RETURN-TO-VIRTUAL-8086-MODE, vol. 3 20.2.7 (CLI is
/// IOPL-sensitive) and 20.3.1.1 / 6.12.1 (figure 20-4: the ring-0 frame from
/// V86 mode holds GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP and the error
/// code, and the data segment registers are nulled): CLI with IOPL 0 traps
/// to the #GP handler, which skips it and IRETs back to V86 mode.
#[test]
fn v86_round_trip_through_the_gp_monitor() {
    let v86 = asm16(0, |a| {
        a.cli().unwrap();
        a.mov(bx, 0x66).unwrap();
        a.mov(dx, ds).unwrap();
        a.hlt().unwrap();
    });
    let hlt_at = v86.len() as u32 - 1;
    let mut m = enter_v86(&v86, 0);
    // The monitor: note the first frame and the handler's ES, skip the CLI,
    // return; on the second trap (HLT) stop.
    let monitor = asm32(0x6000, |a| {
        let mut done = a.create_label();
        a.mov(eax, es).unwrap();
        a.mov(ecx, DATA0 as u32).unwrap();
        a.mov(ds, cx).unwrap();
        a.mov(es, cx).unwrap();
        a.mov(dword_ptr(0x140), eax).unwrap();
        a.inc(dword_ptr(0x104)).unwrap();
        a.cmp(dword_ptr(0x104), 2).unwrap();
        a.je(done).unwrap();
        a.mov(esi, esp).unwrap();
        a.mov(edi, 0x110_u32).unwrap();
        a.mov(ecx, 10_u32).unwrap();
        a.cld().unwrap();
        a.rep().movsd().unwrap();
        a.add(esp, 4).unwrap(); // drop the error code
        a.inc(dword_ptr(esp)).unwrap(); // past the CLI
        a.iretd().unwrap();
        a.set_label(&mut done).unwrap();
        a.hlt().unwrap();
    });
    m.code_at(0x6000, &monitor);
    m.set_idt(13, gate(sys::INT_GATE32, CODE0, 0x6000, 0, 0));
    m.run();
    let frame: Vec<u32> = (0..10).map(|n| m.read32(0x110 + 4 * n)).collect();
    assert_eq!(
        frame,
        [0, 0, V86_CS, frame[3], 0x1000, 0x3000, 0x4100, 0x4000, 0x4200, 0x4300]
    );
    assert!(frame[3] & VM != 0 && frame[3] & IOPL == 0);
    assert_eq!(m.read32(0x140), 0, "ES nulled for the handler");
    assert_eq!(m.cpu.regs[reg::EBX] & 0xFFFF, 0x66);
    assert_eq!(m.cpu.regs[reg::EDX] & 0xFFFF, 0x4000, "DS restored by IRET");
    assert_eq!(m.stack(1), hlt_at, "second trap: the HLT");
    assert_eq!(m.stack(2), V86_CS);
    assert_eq!(m.cpu.regs[reg::ESP], 0x9000 - 40);
    assert_eq!(m.cpu.cpl, 0);
}

/// SDM vol. 3, 20.3.2 and 20.3.3 (table 20-2, methods 3 and 6) with
/// CR4.VME and IOPL 0: CLI/STI change VIF, not IF; PUSHF shows VIF as IF
/// and IOPL as 3; INT n with a clear redirection bit goes through the V86
/// IVT (pushing IF = VIF, clearing VIF) and IRET restores VIF from the
/// image; a set bit traps to the monitor.
#[test]
fn vme_virtual_interrupt_flag_and_redirection() {
    let v86 = asm16(0, |a| {
        a.cli().unwrap();
        a.pushf().unwrap();
        a.pop(ax).unwrap();
        a.sti().unwrap();
        a.pushf().unwrap();
        a.pop(dx).unwrap();
        a.int(0x21).unwrap();
        a.pushf().unwrap();
        a.pop(si).unwrap();
        a.int(0x22).unwrap();
    });
    let int22_at = v86.len() as u32 - 2;
    let mut m = enter_v86(&v86, IF);
    m.cpu.cr4 |= CR4_VME;
    // V86 IVT entry 0x21 -> 2100:0000: pushf ; pop cx ; iret.
    m.write32(0x21 * 4, 0x2100 << 16);
    m.code_at(
        0x21000,
        &asm16(0, |a| {
            a.pushf().unwrap();
            a.pop(cx).unwrap();
            a.iret().unwrap();
        }),
    );
    // Redirection bitmap at TSS + 0x68 (I/O map base 0x88): vector 0x22 set.
    m.cpu.mem.write_u8(TSS + 0x68 + 0x22 / 8, 1 << (0x22 % 8));
    m.error_handler(13, 0x6000);
    m.run();
    let r = |n: usize| m.cpu.regs[n] & 0xFFFF;
    assert_eq!(
        r(reg::EAX) & (IF | IOPL),
        IOPL,
        "after CLI: IF image 0, IOPL 3"
    );
    assert_eq!(r(reg::EDX) & IF, IF, "after STI");
    assert_eq!(r(reg::ECX) & IF, 0, "redirected INT cleared VIF");
    assert_eq!(r(reg::ESI) & IF, IF, "IRET restored VIF");
    assert_eq!(m.cpu.regs[reg::EBX], 0, "#GP(0)");
    assert_eq!(m.stack(0), int22_at);
    let fl = m.stack(2);
    assert!(fl & IF != 0 && fl & VIF != 0 && fl & VM != 0, "{fl:x}");
}

/// SDM vol. 3, 20.3.2: with VIP set, STI in V86 mode (VME, IOPL < 3) faults
/// so the monitor can deliver the pending interrupt.
#[test]
fn vme_sti_with_pending_interrupt_faults() {
    let v86 = asm16(0, |a| a.sti().unwrap());
    let mut m = enter_v86(&v86, VIP);
    m.cpu.cr4 |= CR4_VME;
    m.error_handler(13, 0x6000);
    m.run();
    assert_eq!(m.stack(0), 0);
    assert_eq!(m.stack(2) & VIF, 0);
}

/// SDM vol. 3, 20.3.2: "If the processor finds that both the VIF and VIP
/// flags are set at the beginning of an instruction, it generates a
/// general-protection exception": here after the monitor's IRET into V86
/// mode, before the first V86 instruction runs.
#[test]
fn vme_vif_and_vip_both_set_fault_before_the_next_instruction() {
    let v86 = asm16(0, |a| {
        a.inc(ax).unwrap();
        a.hlt().unwrap();
    });
    let mut m = enter_v86(&v86, VIF | VIP);
    m.cpu.cr4 |= CR4_VME;
    m.error_handler(13, 0x6000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 0, "#GP(0)");
    assert_eq!(m.stack(0), 0, "EIP of the instruction not run");
    assert_eq!(m.cpu.regs[reg::EAX] & 0xFFFF, 0);
    // Without VIP the V86 code runs, and faults only on HLT (CPL 3).
    let mut m = enter_v86(&v86, VIF);
    m.cpu.cr4 |= CR4_VME;
    m.error_handler(13, 0x6000);
    m.run();
    assert_eq!(m.stack(0), 1, "the HLT");
    assert_eq!(m.cpu.regs[reg::EAX] & 0xFFFF, 1);
}

/// SDM vol. 3, 20.4: with CR4.PVI, CLI and STI at CPL 3 (IOPL 0) change VIF
/// and leave IF alone; without it they fault.
#[test]
fn pvi_at_cpl3() {
    let mut m = Machine::new();
    m.cpu.cr4 |= CR4_PVI;
    m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6100, 3, 0));
    m.code_at(0x6100, &[0xF4]);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.cli().unwrap();
            a.pushfd().unwrap();
            a.pop(esi).unwrap();
            a.sti().unwrap();
            a.pushfd().unwrap();
            a.pop(edi).unwrap();
            a.int(0x80).unwrap();
        }),
    );
    m.enter(CODE3, DATA3, 0x7000);
    m.cpu.set_flag(IF | VIF, true);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::ESI] & (IF | VIF), IF);
    assert_eq!(m.cpu.regs[reg::EDI] & (IF | VIF), IF | VIF);
    assert_eq!(m.cpu.segs[SegReg::CS as usize].selector, CODE0);
}
