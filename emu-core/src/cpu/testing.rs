//! Helpers for unit tests of instruction handlers: assemble a little
//! real-mode program, run it to its HLT, look at the CPU.

use crate::{Cpu, NullBus, RunExit, SegReg};
use iced_x86::code_asm::{CodeAssembler, IcedError};

/// Assembles 16-bit code followed by a HLT, loads it at 0100:0000 with
/// SS:SP = 2000:0100 and DS = 3000, applies `setup`, runs it until it halts
/// (at most 100 steps), and returns the CPU.
pub fn run_real(
    setup: impl FnOnce(&mut Cpu),
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Cpu {
    let mut a = CodeAssembler::new(16).expect("16-bit assembler");
    build(&mut a).expect("test program assembles");
    a.hlt().expect("hlt");
    let code = a.assemble(0).expect("test program assembles");
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem.write_bytes(0x1000, &code);
    cpu.load_seg_real(SegReg::CS, 0x100);
    cpu.load_seg_real(SegReg::SS, 0x2000);
    cpu.load_seg_real(SegReg::DS, 0x3000);
    cpu.regs[4] = 0x100;
    cpu.eip = 0;
    setup(&mut cpu);
    assert_eq!(cpu.run(&mut NullBus, 100), RunExit::Halted);
    cpu
}
