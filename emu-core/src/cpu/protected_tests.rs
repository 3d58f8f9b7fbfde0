//! Unit tests of segment loads, far transfers, IDT delivery and IRET.

use super::harness::*;
use crate::cpu::flags::{IF, TF};
use crate::cpu::segment::sys;
use crate::cpu::{reg, SegReg};
use iced_x86::code_asm::*;

fn gp_handler(m: &mut Machine, vector: u8, at: u32) {
    m.error_handler(vector, at);
}

/// SDM vol. 3, 5.8.5 and vol. 2 CALL MORE-PRIVILEGE / RET
/// RETURN-TO-OUTER-PRIVILEGE-LEVEL: a ring-3 caller pushes two
/// parameters and calls a ring-0 procedure through a 32-bit call gate
/// with parameter count 2; the procedure sees SS:ESP from the TSS with
/// old SS, ESP, the copied parameters, CS and EIP; RETF 8 returns to ring 3
/// with SS:ESP restored and a DS the outer ring may not use nulled.
#[test]
fn call_gate_to_ring0_copies_parameters_and_returns() {
    let mut m = Machine::new();
    const GATE: u16 = FREE;
    m.set_gdt(GATE, gate(sys::CALL_GATE32, CODE0, 0x5000, 3, 2));
    // Ring-3 code at 0x4000: push 2 params, call the gate, then trap back
    // to ring 0 through INT 0x80 to halt.
    let mut user = asm32(0x4000, |a| {
        a.push(0x1111_1111).unwrap();
        a.push(0x2222_2222).unwrap();
    });
    user.extend(call_far(GATE | 3, 0xDEAD));
    user.extend(asm32(0x4000 + user.len() as u32, |a| {
        a.mov(esi, esp).unwrap();
        a.mov(edi, ds).unwrap();
        // Keep the call's ring-0 frame: the INT below gets another stack.
        a.mov(eax, DATA3 as u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.mov(dword_ptr(TSS + 4), 0x8800).unwrap();
        a.int(0x80).unwrap();
    }));
    m.code_at(0x4000, &user);
    // Ring-0 procedure: record ESP, load a ring-0 DS, return popping 8.
    let proc0 = asm32(0x5000, |a| {
        a.mov(ebp, esp).unwrap();
        a.mov(eax, DATA0 as u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.retf_1(8).unwrap();
    });
    m.code_at(0x5000, &proc0);
    m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6000, 3, 0));
    m.code_at(0x6000, &[0xF4]);
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    // The ring-0 frame, at 0x9000 - 24: EIP, CS, p2, p1, ESP, SS.
    assert_eq!(m.cpu.regs[reg::EBP], 0x9000 - 24);
    let frame: Vec<u32> = (0..6).map(|n| m.read32(0x9000 - 24 + 4 * n)).collect();
    assert_eq!(frame[0], 0x4000 + 10 + 7, "return EIP after the call");
    assert_eq!(frame[1], CODE3 as u32);
    assert_eq!(frame[2], 0x2222_2222);
    assert_eq!(frame[3], 0x1111_1111);
    assert_eq!(frame[4], 0x7000 - 8);
    assert_eq!(frame[5], DATA3 as u32);
    // Back at ring 3 with the caller's stack minus the released params.
    assert_eq!(m.cpu.regs[reg::ESI], 0x7000);
    assert_eq!(m.cpu.regs[reg::EDI] & 0xFFFF, 0, "DS (DPL 0) nulled");
    // Accessed bit written back into the call-gate target's descriptor.
    assert!(m.gdt(CODE0).hi & (1 << 8) != 0);
}

/// SDM vol. 3, 6.12.1 (figure 6-4) and vol. 2 IRET
/// RETURN-OUTER-PRIVILEGE-LEVEL: INT 0x30 from ring 3 through a DPL-3
/// interrupt gate switches to the TSS's ring-0 stack, pushes SS, ESP,
/// EFLAGS, CS, EIP, clears IF and TF; IRET returns to ring 3.
#[test]
fn interrupt_from_ring3_switches_stacks_and_iret_returns() {
    let mut m = Machine::new();
    m.set_idt(0x30, gate(sys::INT_GATE32, CODE0, 0x5000, 3, 0));
    m.set_idt(0x31, gate(sys::INT_GATE32, CODE0, 0x6000, 3, 0));
    m.code_at(
        0x5000,
        &asm32(0x5000, |a| {
            a.mov(ebp, esp).unwrap();
            a.pushfd().unwrap();
            a.pop(edx).unwrap();
            a.iretd().unwrap();
        }),
    );
    m.code_at(0x6000, &[0xF4]);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.int(0x30).unwrap();
            a.mov(esi, esp).unwrap();
            a.pushfd().unwrap();
            a.pop(edi).unwrap();
            a.mov(dword_ptr(TSS + 4), 0x8800).unwrap();
            a.int(0x31).unwrap();
        }),
    );
    m.enter(CODE3, DATA3, 0x7000);
    m.cpu.set_flag(IF, true);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBP], 0x9000 - 20);
    let frame: Vec<u32> = (0..5).map(|n| m.read32(0x9000 - 20 + 4 * n)).collect();
    assert_eq!(frame[0], 0x4002);
    assert_eq!(frame[1], CODE3 as u32);
    assert!(frame[2] & IF != 0);
    assert_eq!(frame[3], 0x7000);
    assert_eq!(frame[4], DATA3 as u32);
    assert_eq!(
        m.cpu.regs[reg::EDX] & (IF | TF),
        0,
        "handler runs with IF clear"
    );
    assert_eq!(m.cpu.regs[reg::ESI], 0x7000, "ring-3 stack restored");
    assert!(m.cpu.regs[reg::EDI] & IF != 0, "IF restored by IRET");
    assert_eq!(m.cpu.cpl, 0);
}

/// SDM vol. 3, 6.13: a #GP for a selector carries index | TI, and EXT
/// for faults while delivering an external event; an IDT entry has the
/// IDT bit (vector * 8 + 2); INT n to a gate with DPL < CPL is
/// #GP(vector * 8 + 2) (6.12.1.1).
#[test]
fn general_protection_error_codes() {
    // MOV DS with a selector beyond the GDT limit: #GP(sel & FFFC).
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(eax, 0x0FFF_u32).unwrap();
            a.mov(ds, ax).unwrap();
        }),
    );
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 0x0FFC);
    assert_eq!(m.cpu.eip, 0x6002);
    assert_eq!(m.stack(0), 0x4005, "faulting instruction");

    // An LDT selector (TI set) with no usable LDT: #GP(index | TI).
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.cpu.ldtr = crate::cpu::Segment::null(0);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(eax, 0x0C_u32 | 3).unwrap();
            a.mov(es, ax).unwrap();
        }),
    );
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 0x0C);

    // INT 0x40 from ring 3 through a DPL-0 gate: #GP(0x40 * 8 + 2).
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_idt(0x40, gate(sys::INT_GATE32, CODE0, 0x6100, 0, 0));
    m.code_at(0x4000, &asm32(0x4000, |a| a.int(0x40).unwrap()));
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 0x40 * 8 + 2);

    // An exception (#UD, benign, so no double fault) whose IDT entry is
    // not a gate: #GP(vector * 8 + 2 + EXT).
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_idt(6, seg(0, 0xFFFF, 0x2, 0, false, false));
    m.code_at(0x4000, &asm32(0x4000, |a| a.ud2().unwrap()));
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 6 * 8 + 2 + 1);

    // An exception whose gate names a data segment: #GP(sel | EXT).
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_idt(6, gate(sys::INT_GATE32, DATA0, 0x6100, 0, 0));
    m.code_at(0x4000, &asm32(0x4000, |a| a.ud2().unwrap()));
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], DATA0 as u32 | 1);

    // The same from INT n: no EXT bit.
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_idt(0x41, gate(sys::INT_GATE32, DATA0, 0x6100, 0, 0));
    m.code_at(0x4000, &asm32(0x4000, |a| a.int(0x41).unwrap()));
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], DATA0 as u32);

    // A contributory fault while delivering one (#GP while delivering
    // #DE) is a double fault, #DF(0) (SDM vol. 3, table 6-5).
    let mut m = Machine::new();
    gp_handler(&mut m, 8, 0x6000);
    m.set_idt(0, gate(sys::INT_GATE32, DATA0, 0x6100, 0, 0));
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.xor(ecx, ecx).unwrap();
            a.div(ecx).unwrap();
        }),
    );
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.eip, 0x6002);
    assert_eq!(m.cpu.regs[reg::EBX], 0);
    assert_eq!(m.stack(0), 0x4002, "#DF points at the faulting DIV");
}

/// SDM vol. 2 MOV: a not-present data segment is #NP(selector); a
/// not-present stack segment is #SS(selector); the registers stay as
/// they were.
#[test]
fn not_present_segments() {
    let mut m = Machine::new();
    gp_handler(&mut m, 11, 0x6000);
    gp_handler(&mut m, 12, 0x6100);
    let mut d = data(0);
    d.hi &= !(1 << 15);
    m.set_gdt(FREE, d);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(eax, FREE as u32).unwrap();
            a.mov(ds, ax).unwrap();
        }),
    );
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], FREE as u32);
    assert_eq!(m.cpu.segs[SegReg::DS as usize].selector, DATA0);
    assert_eq!(m.cpu.eip, 0x6002);

    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(eax, FREE as u32).unwrap();
            a.mov(ss, ax).unwrap();
        }),
    );
    m.cpu.regs[reg::ESP] = 0x8000;
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], FREE as u32);
    assert_eq!(m.cpu.eip, 0x6102);
}

/// SDM vol. 3, 5.5 and 3.4.5.1: expand-down limits and the accessed bit.
/// The program runs at ring 3 so that its #SS is handled on the ring-0
/// stack (on its own broken stack it would become a double fault).
#[test]
fn expand_down_stack_and_accessed_bit() {
    let mut m = Machine::new();
    gp_handler(&mut m, 12, 0x6000);
    // Expand-down 32-bit data, limit 0x7FFF: valid offsets 0x8000..=FFFFFFFF.
    m.set_gdt(FREE, seg(0, 0x7FFF, 0x6, 3, true, false));
    let code = asm32(0x4000, |a| {
        a.mov(eax, FREE as u32 | 3).unwrap();
        a.mov(ss, ax).unwrap();
        a.mov(esp, 0x8004_u32).unwrap();
        a.push(eax).unwrap(); // to 0x8000: fine
        a.push(eax).unwrap(); // to 0x7FFC: below the limit -> #SS(0)
    });
    m.code_at(0x4000, &code);
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    assert!(m.gdt(FREE).hi & (1 << 8) != 0, "accessed bit set");
    assert_eq!(m.cpu.regs[reg::EBX], 0);
    assert_eq!(
        m.stack(0),
        0x4000 + code.len() as u32 - 1,
        "the second push faulted"
    );
    assert_eq!(m.stack(3), 0x8000, "with ESP as before it");
}

/// SDM vol. 2 JMP: a far JMP to a non-conforming code segment of another
/// ring is #GP(selector); through a call gate it may not change ring.
#[test]
fn jmp_cannot_change_privilege() {
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6000, 3, 0));
    m.code_at(0x4000, &jmp_far(CODE0, 0x5000));
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], CODE0 as u32);

    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    m.set_gdt(FREE, gate(sys::CALL_GATE32, CODE0, 0x5000, 3, 0));
    m.code_at(0x4000, &jmp_far(FREE | 3, 0));
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], CODE0 as u32);
}

/// SDM vol. 3, 6.12.1: a trap gate leaves IF set; a 16-bit interrupt gate
/// pushes 16-bit FLAGS, CS, IP and the error code.
#[test]
fn trap_gates_and_16bit_gates() {
    let mut m = Machine::new();
    m.set_idt(0x30, gate(sys::TRAP_GATE32, CODE0, 0x5000, 0, 0));
    m.code_at(
        0x5000,
        &asm32(0x5000, |a| {
            a.pushfd().unwrap();
            a.pop(edx).unwrap();
            a.hlt().unwrap();
        }),
    );
    m.code_at(0x4000, &asm32(0x4000, |a| a.int(0x30).unwrap()));
    m.cpu.set_flag(IF, true);
    m.start(0x4000);
    m.run();
    assert!(m.cpu.regs[reg::EDX] & IF != 0);

    // #GP through a 16-bit interrupt gate: IP, CS, FLAGS, error as words.
    let mut m = Machine::new();
    m.set_idt(13, gate(sys::INT_GATE16, CODE0, 0x5000, 0, 0));
    m.code_at(0x5000, &[0xF4]);
    m.code_at(
        0x4000,
        &asm32(0x4000, |a| {
            a.mov(eax, 0x0FFF_u32).unwrap();
            a.mov(fs, ax).unwrap();
        }),
    );
    m.start(0x4000);
    m.run();
    let top = m.cpu.regs[reg::ESP];
    assert_eq!(top, 0x8000 - 8);
    let w = |m: &mut Machine, n: u32| m.read32(top + 2 * n) & 0xFFFF;
    assert_eq!(w(&mut m, 0), 0x0FFC);
    assert_eq!(w(&mut m, 1), 0x4005);
    assert_eq!(w(&mut m, 2), CODE0 as u32);
}

/// A fault while delivering an interrupt leaves the interrupted state
/// alone: with no usable ring-0 stack (SS in the TSS is null), INT from
/// ring 3 faults #TS(EXT=0) and the registers still hold ring-3 values
/// when the #TS goes through a task-free path (here: a ring-3 handler).
#[test]
fn bad_tss_stack_is_invalid_tss() {
    let mut m = Machine::new();
    m.write32(TSS + 8, 0); // SS0 = null
    m.set_idt(0x30, gate(sys::INT_GATE32, CODE0, 0x5000, 3, 0));
    // #TS handler: a conforming ring-0 code segment runs at ring 3 on
    // the current stack.
    m.set_gdt(FREE, seg(0, 0xFFFFF, 0xE, 0, true, true));
    m.set_idt(10, gate(sys::INT_GATE32, FREE, 0x6000, 0, 0));
    m.set_idt(0x31, gate(sys::INT_GATE32, CODE0, 0x6100, 3, 0));
    m.write32(TSS + 8, 0);
    m.code_at(
        0x6000,
        &asm32(0x6000, |a| {
            a.pop(ebx).unwrap();
            a.mov(esi, esp).unwrap();
            a.mov(edi, cs).unwrap();
            // Restore SS0 so that the final INT 0x31 can halt at ring 0.
            a.mov(dword_ptr(TSS + 8), DATA0 as u32).unwrap();
            a.int(0x31).unwrap();
        }),
    );
    m.code_at(0x6100, &[0xF4]);
    m.code_at(0x4000, &asm32(0x4000, |a| a.int(0x30).unwrap()));
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.cpu.regs[reg::EBX], 0, "#TS(0) for a null SS0");
    assert_eq!(
        m.cpu.regs[reg::ESI],
        0x7000 - 12,
        "pushed on the ring-3 stack"
    );
    assert_eq!(m.cpu.regs[reg::EDI] & 3, 3, "conforming: still CPL 3");
}

/// SDM vol. 3, 5.8.5 (a 16-bit call gate copies words and pushes a 16-bit
/// frame) and vol. 2 RET (a 16-bit RETF imm16 to the outer ring): a ring-3
/// caller pushes one word and calls a 16-bit ring-0 procedure.
#[test]
fn sixteen_bit_call_gate() {
    let mut m = Machine::new();
    let code16 = FREE + 8;
    m.set_gdt(code16, seg(0, 0xFFFF, 0xA, 0, false, false));
    m.set_gdt(FREE, gate(sys::CALL_GATE16, code16, 0x5000, 3, 1));
    let mut user = asm32(0x4000, |a| a.push(word_ptr(0x300)).unwrap());
    user.extend(call_far(FREE | 3, 0));
    let after = 0x4000 + user.len() as u32;
    user.extend(asm32(after, |a| {
        a.mov(esi, esp).unwrap();
        a.mov(dword_ptr(TSS + 4), 0x8800).unwrap();
        a.int(0x80).unwrap();
    }));
    m.code_at(0x4000, &user);
    m.cpu.mem.write_bytes(0x300, &0xBEEFu16.to_le_bytes());
    m.code_at(
        0x5000,
        &asm16(0x5000, |a| {
            a.mov(bp, sp).unwrap();
            a.retf_1(2).unwrap();
        }),
    );
    m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6000, 3, 0));
    m.code_at(0x6000, &[0xF4]);
    m.enter(CODE3, DATA3, 0x7000);
    m.start(0x4000);
    m.run();
    let w = |m: &mut Machine, at: u32| m.read32(at) & 0xFFFF;
    // IP, CS, the copied word, SP, SS at 0x9000 - 10.
    assert_eq!(w(&mut m, 0x9000 - 10), after);
    assert_eq!(w(&mut m, 0x9000 - 8), CODE3 as u32);
    assert_eq!(w(&mut m, 0x9000 - 6), 0xBEEF);
    assert_eq!(w(&mut m, 0x9000 - 4), 0x7000 - 2);
    assert_eq!(w(&mut m, 0x9000 - 2), DATA3 as u32);
    assert_eq!(m.cpu.regs[reg::ESI], 0x7000, "the word was released");
}

/// SDM vol. 3, 17.3.1.1: a fault-class exception pushes RF = 1 (so that the
/// restarted instruction skips its instruction breakpoint), and the handler
/// runs with RF clear; a software interrupt pushes RF as it was (0).
#[test]
fn faults_push_rf_set_and_software_interrupts_do_not() {
    use crate::cpu::flags::RF;
    let mut m = Machine::new();
    gp_handler(&mut m, 13, 0x6000);
    let code = asm32(0x4000, |a| {
        a.mov(eax, 0xFFF8u32).unwrap(); // beyond the GDT limit
        a.mov(ds, ax).unwrap();
    });
    m.code_at(0x4000, &code);
    m.enter(CODE0, DATA0, 0x8000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.stack(0), 0x4000 + 5, "the fault's EIP: the MOV");
    assert_ne!(m.stack(2) & RF, 0, "RF set in the pushed EFLAGS");
    assert_eq!(m.cpu.eflags() & RF, 0, "clear in the handler");

    let mut m = Machine::new();
    m.set_idt(0x80, gate(sys::INT_GATE32, CODE0, 0x6000, 0, 0));
    m.code_at(0x6000, &[0xF4]);
    m.code_at(0x4000, &asm32(0x4000, |a| a.int(0x80).unwrap()));
    m.enter(CODE0, DATA0, 0x8000);
    m.start(0x4000);
    m.run();
    assert_eq!(m.stack(2) & RF, 0, "INT n pushes RF as it was");
}
