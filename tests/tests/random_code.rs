//! Garbage in, exceptions out: random bytes executed as code with random
//! register state must only ever produce architectural behaviour (faults,
//! interrupts, halts, shutdowns) — never a host panic or hang.

use emu_core::{Bus, Cpu, RunExit, SegReg};
use ferrite_tests::rng::Rng;

/// A bus whose reads return random data and which raises random interrupts.
struct NoisyBus(Rng);

impl Bus for NoisyBus {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        self.0.next_u32()
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn interrupt_pending(&mut self) -> bool {
        self.0.below(64) == 0
    }
    fn interrupt_ack(&mut self) -> u8 {
        self.0.next_u32() as u8
    }
}

const INSTRUCTIONS_PER_SEED: u64 = 1_000_000;
const SEEDS: u64 = 12;

fn scramble(cpu: &mut Cpu, rng: &mut Rng) {
    for r in cpu.regs.iter_mut() {
        *r = rng.next_u32();
    }
    for s in [
        SegReg::ES,
        SegReg::SS,
        SegReg::DS,
        SegReg::FS,
        SegReg::GS,
        SegReg::CS,
    ] {
        cpu.load_seg_real(s, rng.next_u32() as u16);
    }
    cpu.eip = rng.next_u32() & 0xFFFF;
    cpu.set_eflags(rng.next_u32() & !(1 << 17));
    cpu.halted = false;
}

#[test]
fn random_bytes_never_panic_the_host() {
    for seed in 0..SEEDS {
        println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let mut cpu = Cpu::new(2 << 20);
        let mut ram = vec![0u8; 2 << 20];
        rng.fill(&mut ram);
        cpu.mem.write_bytes(0, &ram);
        let mut rom = vec![0u8; 64 << 10];
        rng.fill(&mut rom);
        cpu.mem.map_rom(0xF0000, rom.clone());
        cpu.mem.map_rom(0xFFFF_0000, rom);
        cpu.mem.set_a20(seed % 2 == 0);
        scramble(&mut cpu, &mut rng);
        let mut bus = NoisyBus(Rng::new(seed ^ 0xABCD));
        let end = cpu.icount + INSTRUCTIONS_PER_SEED;
        let mut stops = 0u64;
        while cpu.icount < end {
            let before = cpu.icount;
            match cpu.run(&mut bus, end - cpu.icount) {
                RunExit::InstructionLimit => {}
                RunExit::Halted | RunExit::BusRequest => scramble(&mut cpu, &mut rng),
                RunExit::Shutdown => {
                    cpu.reset();
                    scramble(&mut cpu, &mut rng);
                }
            }
            stops += 1;
            // Every stop must have made progress or changed state; guard
            // against a livelock in the harness itself.
            assert!(
                stops < 10 * INSTRUCTIONS_PER_SEED,
                "seed {seed}: no progress at {before}"
            );
        }
    }
}
