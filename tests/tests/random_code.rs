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

/// Descriptor bytes for a flat 4 GiB segment: `access` is the access byte
/// (type, S, DPL, P), with G and D/B set.
fn flat_descriptor(access: u8) -> [u8; 8] {
    [0xFF, 0xFF, 0, 0, 0, access, 0xCF, 0]
}

/// A small protected-mode world in the random RAM: a GDT with ring-0 and
/// ring-3 flat segments and a TSS, an IDT whose 256 gates point at random
/// offsets (DPL 3, so INT n works from ring 3), and one 4 MiB identity page
/// (CR4.PSE) with paging on. Random code is free to trample all of it.
fn protected_world(cpu: &mut Cpu, rng: &mut Rng, ring: u8) {
    use emu_core::cpu::{DescriptorTable, Segment};
    let mut gdt = vec![0u8; 8];
    for access in [0x9B, 0x93, 0xFB, 0xF3] {
        gdt.extend_from_slice(&flat_descriptor(access));
    }
    // 0x28: a 32-bit available TSS at 0x3000, limit 0x67.
    gdt.extend_from_slice(&[0x67, 0, 0x00, 0x30, 0, 0x89, 0, 0]);
    cpu.mem.write_bytes(0x1000, &gdt);
    for v in 0..256u32 {
        let off = rng.below(4 << 20);
        let kind = if rng.below(2) == 0 { 0xEE } else { 0xEF };
        let gate = [
            off as u8,
            (off >> 8) as u8,
            0x08,
            0,
            0,
            kind,
            (off >> 16) as u8,
            (off >> 24) as u8,
        ];
        cpu.mem.write_bytes(0x2000 + v * 8, &gate);
    }
    // TSS: SS0:ESP0 = 10:003F0000.
    cpu.mem
        .write_bytes(0x3000 + 4, &0x003F_0000u32.to_le_bytes());
    cpu.mem.write_bytes(0x3000 + 8, &0x10u32.to_le_bytes());
    cpu.mem.write_bytes(0x3000 + 0x66, &0x68u16.to_le_bytes());
    // Page directory at 0x4000: PDE 0 maps 0–4 MiB (P, R/W, U/S, PS).
    cpu.mem.write_bytes(0x4000, &[0x87, 0, 0, 0]);
    for i in 1..1024u32 {
        cpu.mem
            .write_bytes(0x4000 + i * 4, &(rng.next_u32() & !1).to_le_bytes());
    }
    cpu.gdtr = DescriptorTable {
        base: 0x1000,
        limit: gdt.len() as u32 - 1,
    };
    cpu.idtr = DescriptorTable {
        base: 0x2000,
        limit: 0x7FF,
    };
    cpu.tr = Segment {
        selector: 0x28,
        base: 0x3000,
        limit: 0x67,
        attr: 0x8B,
    };
    let (code, data) = if ring == 3 {
        (0x1B, 0x23)
    } else {
        (0x08, 0x10)
    };
    let attr = |access: u16| access | 0xC000;
    for s in SegReg::ALL {
        let (sel, access) = if s == SegReg::CS {
            (code, if ring == 3 { 0xFB } else { 0x9B })
        } else {
            (data, if ring == 3 { 0xF3 } else { 0x93 })
        };
        cpu.segs[s as usize] = Segment {
            selector: sel,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr: attr(access),
        };
    }
    cpu.cpl = ring;
    cpu.cr4 = 1 << 4;
    cpu.cr3 = 0x4000;
    cpu.cr0 = 0x8000_0011;
    for r in cpu.regs.iter_mut() {
        *r = rng.below(4 << 20);
    }
    cpu.eip = rng.below(4 << 20);
    cpu.set_eflags((rng.next_u32() & 0x0CD5) | 0x0200);
    cpu.halted = false;
}

#[test]
fn random_bytes_in_protected_mode_with_paging_never_panic_the_host() {
    const PM_SEEDS: u64 = 10;
    for seed in 0..PM_SEEDS {
        let ring = if seed % 2 == 0 { 0 } else { 3 };
        println!("protected-mode seed {seed}, ring {ring}");
        let mut rng = Rng::new(seed ^ 0x5EED_0000);
        let mut cpu = Cpu::new(4 << 20);
        let mut ram = vec![0u8; 4 << 20];
        rng.fill(&mut ram);
        cpu.mem.write_bytes(0, &ram);
        protected_world(&mut cpu, &mut rng, ring);
        let mut bus = NoisyBus(Rng::new(seed ^ 0x1234));
        let end = cpu.icount + INSTRUCTIONS_PER_SEED;
        let (mut stops, mut shutdowns) = (0u64, 0u64);
        while cpu.icount < end {
            match cpu.run(&mut bus, end - cpu.icount) {
                RunExit::InstructionLimit => {}
                RunExit::Halted | RunExit::BusRequest => protected_world(&mut cpu, &mut rng, ring),
                RunExit::Shutdown => {
                    shutdowns += 1;
                    cpu.reset();
                    protected_world(&mut cpu, &mut rng, ring);
                }
            }
            stops += 1;
            assert!(
                stops < 10 * INSTRUCTIONS_PER_SEED,
                "seed {seed}: no progress"
            );
        }
        println!("  {stops} restarts, {shutdowns} of them triple faults");
    }
}
