//! The hot loop: fetch a cached block, run its pre-decoded ops, check for
//! events. Reports instructions per second (criterion's elem/s is
//! instructions/s, so Melem/s reads as MIPS).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use emu_core::{Cpu, NullBus, RunExit, SegReg};

const SLICE: u64 = 1_000_000;

fn real_mode(c: &mut Criterion) {
    let mut cpu = Cpu::new(1 << 20);
    cpu.mem
        .write_bytes(0x10000, &ferrite_benches::real_mode_loop());
    cpu.load_seg_real(SegReg::CS, 0x1000);
    cpu.eip = 0;
    let mut group = c.benchmark_group("hot_loop");
    group.throughput(Throughput::Elements(SLICE));
    group.bench_function("real_mode_alu_mem_branch", |b| {
        b.iter(|| assert_eq!(cpu.run(&mut NullBus, SLICE), RunExit::InstructionLimit))
    });
    group.finish();
}

criterion_group!(benches, real_mode);
criterion_main!(benches);
