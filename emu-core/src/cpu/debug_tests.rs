//! Debug registers: instruction and data breakpoints, RF, general detect,
//! and their DR6 bits (Intel SDM vol. 3, chapter 17). Real-mode programs at
//! 0100:0000 whose #DB vector points at a HLT at 0100:0800.

use super::{dr6, dr7};
use crate::bus::NullBus;
use crate::cpu::flags::{RF, TF};
use crate::cpu::{Cpu, RunExit, SegReg};

const HANDLER_IP: u32 = 0x800;

fn setup(code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem.write_bytes(0x1000, code);
    cpu.mem.write_bytes(4, &[0x00, 0x08, 0x00, 0x01]); // IVT[1] = 0100:0800
    cpu.mem.write_u8(0x1000 + HANDLER_IP, 0xF4);
    cpu.load_seg_real(SegReg::CS, 0x100);
    cpu.load_seg_real(SegReg::SS, 0x2000);
    cpu.load_seg_real(SegReg::DS, 0x3000);
    cpu.load_seg_real(SegReg::ES, 0x3000);
    cpu.regs[4] = 0x100;
    cpu.eip = 0;
    cpu
}

fn run(cpu: &mut Cpu) {
    assert_eq!(cpu.run(&mut NullBus, 1000), RunExit::Halted);
}

/// Halted in the #DB handler, with the IP that the exception pushed.
fn debug_exception_ip(cpu: &mut Cpu) -> Option<u16> {
    if cpu.eip != HANDLER_IP + 1 {
        return None;
    }
    Some(u16::from_le_bytes([
        cpu.mem.read_u8(0x200FA),
        cpu.mem.read_u8(0x200FB),
    ]))
}

/// DR7 enabling breakpoint `n` (local enable) with R/W `rw` and LEN `len`.
fn enable(n: u32, rw: u32, len: u32) -> u32 {
    1 << (2 * n) | rw << (16 + 4 * n) | len << (18 + 4 * n)
}

/// SDM 17.3.1.1: an instruction breakpoint is a fault, taken before the
/// instruction executes, with B0–B3 in DR6 naming it. A block that contains
/// the address further on stops before it.
#[test]
fn instruction_breakpoint_faults_before_the_instruction() {
    // inc ax ; inc bx ; hlt
    let mut cpu = setup(&[0x40, 0x43, 0xF4]);
    cpu.dr[2] = 0x1001;
    cpu.write_dr(7, enable(2, 0, 0));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(1));
    assert_eq!(cpu.regs[0] & 0xFFFF, 1, "inc ax ran");
    assert_eq!(cpu.regs[3] & 0xFFFF, 0, "inc bx did not");
    assert_eq!(cpu.dr[6] & dr6::B, 1 << 2);
    assert_eq!(cpu.dr[6] & dr6::BS, 0);
    // Disabled in DR7, the same address does nothing.
    let mut cpu = setup(&[0x40, 0x43, 0xF4]);
    cpu.dr[2] = 0x1001;
    run(&mut cpu);
    assert_eq!(cpu.regs[3] & 0xFFFF, 1);
}

/// SDM 17.3.1.1: RF = 1 suppresses instruction breakpoints for one
/// instruction, after which the processor clears RF; the next visit faults.
#[test]
fn rf_suppresses_an_instruction_breakpoint_once() {
    // 0: inc ax ; 1: cmp ax, 2 ; 4: jne 0 ; 6: hlt
    let mut cpu = setup(&[0x40, 0x3D, 0x02, 0x00, 0x75, 0xFA, 0xF4]);
    cpu.dr[0] = 0x1000;
    cpu.write_dr(7, enable(0, 0, 0));
    cpu.set_eflags(cpu.eflags() | RF);
    assert_eq!(cpu.run(&mut NullBus, 1), RunExit::InstructionLimit);
    assert_eq!(cpu.regs[0] & 0xFFFF, 1);
    assert_eq!(cpu.eflags() & RF, 0, "RF cleared after the instruction");
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(0));
    assert_eq!(cpu.regs[0] & 0xFFFF, 1, "the second visit faulted");
    assert_eq!(cpu.dr[6] & dr6::B, 1);
}

/// SDM 17.3.1.2: a data write breakpoint is a trap after the writing
/// instruction; DR0–DR3 and DR7 loaded by MOV DRn take the watched page out
/// of the TLB, so a page written before still hits.
#[test]
fn data_write_breakpoint_traps_after_the_instruction() {
    let mut code = vec![
        0xC7, 0x06, 0x20, 0x00, 0x00, 0x00, // mov word [0x20], 0 (fills the TLB)
        0x66, 0xB8, 0x11, 0x00, 0x03, 0x00, // mov eax, 0x30011
        0x0F, 0x23, 0xC8, // mov dr1, eax
        0x66, 0xB8, // mov eax, dr7 value
    ];
    code.extend_from_slice(&enable(1, 1, 0).to_le_bytes());
    code.extend_from_slice(&[0x0F, 0x23, 0xF8]); // mov dr7, eax
    let store = code.len() as u16;
    code.extend_from_slice(&[0xC7, 0x06, 0x10, 0x00, 0x34, 0x12]); // mov word [0x10], 0x1234
    code.extend_from_slice(&[0x41, 0xF4]); // inc cx ; hlt
    let mut cpu = setup(&code);
    run(&mut cpu);
    assert_eq!(
        debug_exception_ip(&mut cpu),
        Some(store + 6),
        "after the store"
    );
    assert_eq!(cpu.mem.read_u8(0x30010), 0x34, "the store happened");
    assert_eq!(cpu.mem.read_u8(0x30011), 0x12);
    assert_eq!(cpu.regs[1] & 0xFFFF, 0, "inc cx did not run");
    assert_eq!(cpu.dr[6] & dr6::B, 1 << 1);
}

/// SDM 17.2.4–17.2.5: R/W = 11 watches reads and writes, R/W = 01 writes
/// only; a breakpoint covers its aligned LEN-byte range.
#[test]
fn read_write_breakpoints_and_lengths() {
    // mov ax, [0x12] ; inc cx ; hlt
    let code = [0xA1, 0x12, 0x00, 0x41, 0xF4];
    let mut cpu = setup(&code);
    cpu.dr[3] = 0x30011; // 4-byte range 0x30010..0x30013, aligned down
    cpu.write_dr(7, enable(3, 3, 3));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(3));
    assert_eq!(cpu.dr[6] & dr6::B, 1 << 3);
    // A write-only breakpoint ignores the read.
    let mut cpu = setup(&code);
    cpu.dr[3] = 0x30012;
    cpu.write_dr(7, enable(3, 1, 0));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), None);
    assert_eq!(cpu.regs[1] & 0xFFFF, 1);
    // A one-byte breakpoint next to the word read does not hit.
    let mut cpu = setup(&code);
    cpu.dr[3] = 0x30014;
    cpu.write_dr(7, enable(3, 3, 0));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), None);
}

/// SDM 17.3.1.4 with 17.3.1.2: a single step and a data breakpoint on the
/// same instruction give one #DB with both BS and Bn.
#[test]
fn single_step_and_data_breakpoint_share_one_exception() {
    // mov word [0x10], 1 ; hlt
    let mut cpu = setup(&[0xC7, 0x06, 0x10, 0x00, 0x01, 0x00, 0xF4]);
    cpu.dr[0] = 0x30010;
    cpu.write_dr(7, enable(0, 1, 1));
    cpu.set_eflags(cpu.eflags() | TF);
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(6));
    assert_eq!(cpu.dr[6] & (dr6::B | dr6::BS), 1 | dr6::BS);
}

/// SDM 17.3.1.2: in a repeated string instruction the trap comes after the
/// iteration that hit, with the registers showing the iterations done.
#[test]
fn repeated_string_breakpoint_after_the_iteration() {
    // rep stosb ; hlt
    let mut cpu = setup(&[0xF3, 0xAA, 0xF4]);
    cpu.regs[1] = 16;
    cpu.regs[0] = 0xAA;
    cpu.dr[1] = 0x30005;
    cpu.write_dr(7, enable(1, 1, 0));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(0), "resumes the REP");
    assert_eq!(cpu.regs[1] & 0xFFFF, 10, "six iterations done");
    assert_eq!(cpu.regs[7] & 0xFFFF, 6);
    assert_eq!(cpu.mem.read_u8(0x30005), 0xAA);
    assert_eq!(cpu.mem.read_u8(0x30006), 0);
}

/// SDM 17.2.4: with DR7.GD set, MOV to or from a debug register is a #DB
/// fault with DR6.BD, and GD is cleared for the handler.
#[test]
fn general_detect_faults_on_debug_register_access() {
    // mov eax, dr0 ; hlt
    let mut cpu = setup(&[0x0F, 0x21, 0xC0, 0xF4]);
    cpu.dr[0] = 0x1234;
    cpu.write_dr(7, dr7::GD);
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(0));
    assert_eq!(cpu.regs[0], 0, "the MOV did not happen");
    assert_ne!(cpu.dr[6] & dr6::BD, 0);
    assert_eq!(cpu.dr[7] & dr7::GD, 0);
    // Without GD the same MOV works.
    let mut cpu = setup(&[0x0F, 0x21, 0xC0, 0xF4]);
    cpu.dr[0] = 0x1234;
    run(&mut cpu);
    assert_eq!(cpu.regs[0], 0x1234);
}

/// DR6 and DR7 keep their fixed bits (SDM 17.2.3, 17.2.4).
#[test]
fn dr6_dr7_fixed_bits() {
    let mut cpu = Cpu::new(1 << 20);
    cpu.write_dr(6, 0);
    assert_eq!(cpu.dr[6], dr6::FIXED_ONE);
    cpu.write_dr(7, 0);
    assert_eq!(cpu.dr[7], dr7::FIXED_ONE);
}

/// SDM 17.2.4-17.2.5: with CR4.DE set, R/W = 10 makes a breakpoint watch
/// I/O ports: the IN or OUT that touches one traps after it completes.
/// Without DE the encoding is undefined and nothing happens.
#[test]
fn io_breakpoint_traps_after_the_port_access_with_cr4_de() {
    use crate::cpu::paging::cr4;
    // mov dx, 81h ; in ax, dx (ports 81h-82h) ; inc bx ; hlt
    let code = [0xBA, 0x81, 0x00, 0xED, 0x43, 0xF4];
    let mut cpu = setup(&code);
    cpu.cr4 |= cr4::DE;
    cpu.dr[1] = 0x82;
    cpu.write_dr(7, enable(1, 2, 0));
    run(&mut cpu);
    assert_eq!(debug_exception_ip(&mut cpu), Some(4), "after the IN");
    assert_eq!(cpu.dr[6] & dr6::B, 1 << 1);
    assert_eq!(cpu.regs[3] & 0xFFFF, 0, "inc bx did not run");
    // Another port: no hit.
    let mut cpu = setup(&code);
    cpu.cr4 |= cr4::DE;
    cpu.dr[1] = 0x80;
    cpu.write_dr(7, enable(1, 2, 0));
    run(&mut cpu);
    assert_eq!(cpu.regs[3] & 0xFFFF, 1);
    // CR4.DE clear: R/W = 10 is undefined and ignored.
    let mut cpu = setup(&code);
    cpu.dr[1] = 0x82;
    cpu.write_dr(7, enable(1, 2, 0));
    run(&mut cpu);
    assert_eq!(cpu.regs[3] & 0xFFFF, 1);
}
