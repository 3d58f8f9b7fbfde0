//! Workloads for the benchmarks: small guest programs whose speed stands for
//! the emulator's hot loop.

use iced_x86::code_asm::*;

/// A CPU-bound real-mode loop (ALU ops, loads and stores through DS, a
/// conditional branch per 9 instructions) that never ends. Load it at
/// physical 0x10000 and start at 1000:0000.
pub fn real_mode_loop() -> Vec<u8> {
    let build = || -> Result<Vec<u8>, IcedError> {
        let mut a = CodeAssembler::new(16)?;
        let mut top = a.create_label();
        let mut inner = a.create_label();
        a.mov(ax, 0x2000)?;
        a.mov(ds, ax)?;
        a.xor(si, si)?;
        a.set_label(&mut top)?;
        a.mov(cx, 1000)?;
        a.set_label(&mut inner)?;
        a.mov(bx, cx)?;
        a.and(bx, 0x3FE)?;
        a.add(ax, word_ptr(bx))?;
        a.adc(dx, ax)?;
        a.mov(word_ptr(bx + 0x400), dx)?;
        a.xor(ax, cx)?;
        a.shl(dx, 1)?;
        a.dec(cx)?;
        a.jnz(inner)?;
        a.inc(si)?;
        a.jmp(top)?;
        a.assemble(0)
    };
    build().expect("the benchmark program assembles")
}
