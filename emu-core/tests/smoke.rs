//! Runs tiny real-mode programs from RAM through the whole pipeline.

use emu_core::{Cpu, NullBus, RunExit, SegReg};

fn run(code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem.write_bytes(0x1000, code);
    cpu.load_seg_real(SegReg::CS, 0x100);
    cpu.eip = 0;
    cpu.load_seg_real(SegReg::SS, 0x2000);
    cpu.regs[4] = 0x100;
    let exit = cpu.run(&mut NullBus, 1000);
    assert_eq!(exit, RunExit::Halted);
    cpu
}

#[test]
fn arithmetic_and_jumps() {
    // mov ax,1234h; add ax,1; mov cx,3; l: inc bx; loop l; push ax; pop dx; hlt
    let cpu = run(&[
        0xB8, 0x34, 0x12, 0x05, 0x01, 0x00, 0xB9, 0x03, 0x00, 0x43, 0xE2, 0xFD, 0x50, 0x5A, 0xF4,
    ]);
    assert_eq!(cpu.regs[0] & 0xFFFF, 0x1235);
    assert_eq!(cpu.regs[3] & 0xFFFF, 3);
    assert_eq!(cpu.regs[2] & 0xFFFF, 0x1235);
    assert_eq!(cpu.icount, 3 + 2 * 3 + 3);
}

#[test]
fn store_into_the_running_block_is_seen() {
    // mov byte [cs:7], 0x42 ; (patches the imm8 of the next instruction) ; mov al, 0x00 ; hlt
    // offsets: 0: 2E C6 06 08 00 42 (6 bytes) ; 6: B0 00 ; 8: F4
    let cpu = run(&[0x2E, 0xC6, 0x06, 0x07, 0x00, 0x42, 0xB0, 0x00, 0xF4]);
    assert_eq!(cpu.regs[0] & 0xFF, 0x42);
}

#[test]
fn divide_error_goes_through_the_ivt() {
    // IVT entry 0 -> 0100:0020 where a HLT waits. div bl with bl=0.
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem.write_bytes(0, &[0x20, 0x00, 0x00, 0x01]);
    cpu.mem.write_bytes(0x1000, &[0xF6, 0xF3, 0xF4]);
    cpu.mem.write_u8(0x1020, 0xF4);
    cpu.load_seg_real(SegReg::CS, 0x100);
    cpu.load_seg_real(SegReg::SS, 0x2000);
    cpu.regs[4] = 0x100;
    cpu.eip = 0;
    assert_eq!(cpu.run(&mut NullBus, 100), RunExit::Halted);
    assert_eq!(cpu.eip, 0x21, "halted in the #DE handler");
    // The pushed IP is the faulting DIV's.
    assert_eq!(cpu.mem.read_u8(0x20000 + 0xFA), 0x00);
}

#[test]
fn a_fault_loop_still_ends_the_run() {
    // #UD's vector points at an invalid opcode (0F 0B, UD2): every delivery
    // faults again at once. The run must still return at its budget.
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem.write_bytes(6 * 4, &[0x00, 0x00, 0x00, 0x01]);
    cpu.mem.write_bytes(0x1000, &[0x0F, 0x0B]);
    cpu.load_seg_real(SegReg::CS, 0x100);
    cpu.eip = 0;
    assert_eq!(cpu.run(&mut NullBus, 10_000), RunExit::InstructionLimit);
}

#[test]
fn tzcnt_encoding_runs_as_bsf_on_a_p6() {
    // mov ax, 0x0100 ; rep bsf cx, ax (F3 0F BC C8 = TZCNT on BMI1 CPUs) ; hlt
    let cpu = run(&[0xB8, 0x00, 0x01, 0xF3, 0x0F, 0xBC, 0xC8, 0xF4]);
    assert_eq!(cpu.regs[1] & 0xFFFF, 8);
}

#[test]
fn rdpmc_reads_zero_counters_at_cpl0() {
    // mov ecx,1 ; rdpmc ; hlt — real mode is CPL 0: allowed, reads 0.
    let cpu = run(&[0x66, 0xB9, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x33, 0xF4]);
    assert_eq!((cpu.regs[0], cpu.regs[2]), (0, 0));
}
