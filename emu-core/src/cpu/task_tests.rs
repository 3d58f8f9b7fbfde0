//! Unit tests of task switches (SDM vol. 3, 7.3 and 7.4).

use super::super::protected::harness::*;
use crate::cpu::flags::NT;
use crate::cpu::segment::sys;
use crate::cpu::{cr0, reg, SegReg};
use iced_x86::code_asm::*;

const TSS_B: u32 = 0x20000;
const SEL_B: u16 = FREE;

/// A machine whose current task is TSS_SEL (at TSS), with a second 32-bit
/// task B (TSS at 0x20000, GDT slot FREE, available) that starts at ring 0
/// at `eip` with ESP = 0xA000.
fn two_tasks(eip: u32) -> Machine {
    let mut m = Machine::new();
    m.set_gdt(SEL_B, system(TSS_B, 0x67, sys::TSS32_AVAILABLE, 0));
    m.tss32(TSS_B, CODE0, eip, DATA0, 0xA000, 0x2);
    m
}

/// SDM vol. 3, 7.3 (steps 6–10) and 7.4: JMP to a TSS clears the old
/// task's busy bit and sets the new one's, with no link and NT unchanged;
/// CALL to a TSS nests (NT set, link written, both busy); IRET with NT
/// returns through the link, clearing the returning task's busy bit. Each
/// task's registers live in its TSS; CR0.TS is set.
#[test]
fn jmp_call_iret_between_tasks() {
    let mut m = two_tasks(0x5000);
    let mut a = asm32(0x4000, |a| a.mov(eax, 0x1111_u32).unwrap());
    a.extend(jmp_far(SEL_B, 0));
    let resume_a = 0x4000 + a.len() as u32;
    a.extend(asm32(resume_a, |a| {
        a.pushfd().unwrap();
        a.pop(esi).unwrap();
        a.mov(edi, dword_ptr(TSS)).unwrap(); // the link field
        a.str(cx).unwrap();
        a.iretd().unwrap();
    }));
    m.code_at(0x4000, &a);
    let mut b = asm32(0x5000, |a| {
        a.mov(ebx, 0x2222_u32).unwrap();
        a.str(dx).unwrap();
    });
    b.extend(call_far(TSS_SEL, 0));
    b.extend([0xF4]);
    m.code_at(0x5000, &b);
    m.start(0x4000);
    m.run();

    // Back in task B after A's IRET.
    assert_eq!(m.cpu.tr.selector, SEL_B);
    assert_eq!(m.cpu.regs[reg::EBX], 0x2222);
    assert_eq!(m.cpu.regs[reg::EDX] & 0xFFFF, SEL_B as u32);
    assert_eq!(m.cpu.regs[reg::EAX], 0, "B's own EAX");
    assert_eq!(m.cpu.eip, 0x5000 + b.len() as u32);
    assert_eq!(m.cpu.eflags() & NT, 0, "B was entered by JMP: not nested");
    assert!(m.cpu.cr0 & cr0::TS != 0);
    // A ran nested in B: NT set, link = B, TR = A.
    let a_tss = |m: &mut Machine, off: u32| m.read32(TSS + off);
    assert_eq!(a_tss(&mut m, 0x28), 0x1111, "A's EAX saved");
    assert!(
        a_tss(&mut m, 0x28 + 6 * 4) & NT != 0,
        "A's ESI = EFLAGS with NT"
    );
    assert_eq!(a_tss(&mut m, 0x28 + 7 * 4), SEL_B as u32, "A's link = B");
    assert_eq!(a_tss(&mut m, 0x28 + 4) & 0xFFFF, TSS_SEL as u32, "STR in A");
    assert_eq!(a_tss(&mut m, 0x24) & NT, 0, "IRET saves A with NT clear");
    // Busy bits: IRET freed A, B stays busy.
    assert_eq!(m.gdt(TSS_SEL).kind(), sys::TSS32_AVAILABLE);
    assert_eq!(m.gdt(SEL_B).kind(), sys::TSS32_BUSY);
    // B's TSS holds the EIP after its CALL (saved when it called A).
    assert_eq!(m.read32(TSS_B + 0x20), 0x5000 + b.len() as u32 - 1);
    assert_eq!(m.cpu.segs[SegReg::SS as usize].selector, DATA0);
    assert_eq!(m.cpu.regs[reg::ESP], 0xA000);
}

/// SDM vol. 2, JMP TASK-STATE-SEGMENT: a busy TSS is #GP(selector); and
/// vol. 3, 6.12.2: an exception through a task gate switches to the handler
/// task with NT set and the link to the interrupted task, pushing the error
/// code on the new task's stack; the old task's saved EIP is the faulting
/// instruction.
#[test]
fn exception_through_task_gate() {
    let mut m = two_tasks(0x5000);
    m.set_idt(13, gate(sys::TASK_GATE, SEL_B, 0, 0, 0));
    m.code_at(
        0x5000,
        &asm32(0x5000, |a| {
            a.pop(ebx).unwrap();
            a.hlt().unwrap();
        }),
    );
    // JMP to the current, busy task: #GP(TSS_SEL).
    m.code_at(0x4000, &jmp_far(TSS_SEL, 0));
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.tr.selector, SEL_B);
    assert_eq!(m.cpu.regs[reg::EBX], TSS_SEL as u32);
    assert_eq!(m.cpu.regs[reg::ESP], 0xA000);
    assert!(m.cpu.eflags() & NT != 0);
    assert_eq!(m.read32(TSS_B) & 0xFFFF, TSS_SEL as u32, "link");
    assert_eq!(m.read32(TSS + 0x20), 0x4000, "faulting EIP saved");
    assert_eq!(m.gdt(TSS_SEL).kind(), sys::TSS32_BUSY, "nested: still busy");
}

/// SDM vol. 3, table 7-1: a bad data segment selector in the new task is
/// #TS(selector) raised after the commit point, in the new task's context
/// (TR, EIP and stack are the new task's).
#[test]
fn invalid_segment_in_new_task_faults_there() {
    let mut m = two_tasks(0x5000);
    m.write32(TSS_B + 0x54, 0x0FF8); // DS beyond the GDT limit
    m.error_handler(10, 0x6000);
    m.code_at(0x4000, &jmp_far(SEL_B, 0));
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.tr.selector, SEL_B);
    assert_eq!(m.cpu.regs[reg::EBX], 0x0FF8);
    assert_eq!(m.cpu.regs[reg::ESP], 0xA000 - 12);
    assert_eq!(m.stack(0), 0x5000, "the new task's first instruction");
    assert_eq!(m.cpu.segs[SegReg::DS as usize].selector, 0x0FF8);
    assert!(!m.cpu.segs[SegReg::DS as usize].usable());
}

/// SDM vol. 3, 7.6: a 16-bit TSS holds 16-bit registers; the upper halves
/// are left alone and FS/GS load null. CALL to it and IRET back.
#[test]
fn sixteen_bit_task() {
    let mut m = two_tasks(0x5000);
    const TSS16: u32 = 0x21000;
    m.set_gdt(FREE + 8, system(TSS16, 0x2B, sys::TSS16_AVAILABLE, 0));
    m.set_gdt(FREE + 16, seg(0, 0xFFFF, 0xA, 0, false, false)); // 16-bit code
    let w16 =
        |m: &mut Machine, off: u32, v: u16| m.cpu.mem.write_bytes(TSS16 + off, &v.to_le_bytes());
    m.cpu.mem.write_bytes(TSS16, &[0; 0x2C]);
    w16(&mut m, 0x0E, 0x7000); // IP
    w16(&mut m, 0x10, 0x0002); // FLAGS
    w16(&mut m, 0x12, 0x1234); // AX
    w16(&mut m, 0x1A, 0x9800); // SP
    w16(&mut m, 0x22, DATA0); // ES
    w16(&mut m, 0x24, FREE + 16); // CS
    w16(&mut m, 0x26, DATA0); // SS
    w16(&mut m, 0x28, DATA0); // DS
    m.code_at(
        0x7000,
        &asm16(0x7000, |a| {
            a.mov(bx, ax).unwrap();
            a.iret().unwrap();
        }),
    );
    let mut a = asm32(0x4000, |a| {
        a.mov(eax, 0xAAAA_0000_u32).unwrap();
        a.mov(ebx, 0xBBBB_0000_u32).unwrap();
    });
    a.extend(call_far(FREE + 8, 0));
    a.push(0xF4);
    m.code_at(0x4000, &a);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.tr.selector, TSS_SEL);
    // The 16-bit task saw AX = 1234 with EAX's upper half kept, and saved
    // BX = 1234 in its TSS.
    assert_eq!(m.cpu.mem.read_u8(TSS16 + 0x18), 0x34);
    assert_eq!(m.cpu.mem.read_u8(TSS16 + 0x19), 0x12);
    assert_eq!(m.cpu.regs[reg::EAX], 0xAAAA_0000, "A's registers restored");
    assert_eq!(m.gdt(FREE + 8).kind(), sys::TSS16_AVAILABLE);
}

/// SDM vol. 3, 7.2.1 and 7.3 step 12: with paging on, a switch to a 32-bit
/// TSS loads CR3 from it (the old CR3 is not saved).
#[test]
fn task_switch_loads_cr3_with_paging() {
    let mut m = two_tasks(0x5000);
    // Two page directories sharing one identity-mapping page table.
    for n in 0..1024u32 {
        m.write32(0x10_1000 + 4 * n, (n << 12) | 7);
    }
    m.write32(0x10_0000, 0x10_1000 | 7);
    m.write32(0x10_2000, 0x10_1000 | 7);
    m.cpu.cr3 = 0x10_0000;
    m.cpu.cr0 |= cr0::PG;
    m.write32(TSS_B + 0x1C, 0x10_2000);
    m.write32(TSS + 0x1C, 0x1234_5000);
    m.code_at(0x4000, &jmp_far(SEL_B, 0));
    m.code_at(0x5000, &[0xF4]);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.cr3, 0x10_2000);
    assert_eq!(m.read32(TSS + 0x1C), 0x1234_5000, "CR3 not saved");
    assert_eq!(m.cpu.eip, 0x5001);
}
