//! The whole board under garbage: whatever a guest writes to the chipset's
//! ports and MMIO, in whatever order and width, the devices must behave as
//! chips do (ignore it, log it) — never panic the host or stop time.

use devices::hpet;
use devices::pc::{Pc, PcConfig, Stop};
use emu_core::Bus;
use ferrite_tests::rng::Rng;

/// Every port range the board decodes, weighted equally, plus strays.
const PORTS: &[(u16, u16)] = &[
    (0x20, 2),
    (0xA0, 2),
    (0x4D0, 2),
    (0x40, 4),
    (0x60, 2),
    (0x64, 1),
    (0x70, 2),
    (0x80, 1),
    (0x92, 1),
    (0xE9, 1),
    (0x402, 1),
    (0xF0, 1),
    (0x3F8, 8),
    (0x2F8, 8),
    (0x3E8, 8),
    (0x2E8, 8),
    (0xCF8, 8),
    (devices::pc::PM_BASE, 0x40),
];

fn board(bios: Vec<u8>) -> Pc {
    let sink = || -> Option<devices::debug_ports::Sink> { Some(Box::new(std::io::sink())) };
    Pc::new(PcConfig {
        bios,
        debugcon: sink(),
        serial: [sink(), sink(), sink(), sink()],
        ..PcConfig::default()
    })
}

fn port(rng: &mut Rng) -> u16 {
    if rng.below(8) == 0 {
        return rng.next_u32() as u16;
    }
    let (base, len) = PORTS[rng.below(PORTS.len() as u32) as usize];
    base + rng.below(len as u32) as u16
}

fn size(rng: &mut Rng) -> u8 {
    [1, 2, 4][rng.below(3) as usize]
}

/// Random port and MMIO reads and writes of every width, with time moving
/// on and interrupts acknowledged as a CPU would.
#[test]
fn random_port_and_mmio_traffic_never_panics() {
    for seed in 0..8 {
        let mut rng = Rng::new(seed ^ 0xDE71CE);
        let mut pc = board(Vec::new());
        pc.post_for_direct_boot();
        let d = &mut pc.devices;
        let mut cycles = 0u64;
        for _ in 0..200_000 {
            match rng.below(9) {
                0..=2 => {
                    let (p, n) = (port(&mut rng), size(&mut rng));
                    d.io_write(p, n, rng.next_u32());
                }
                3..=4 => {
                    let (p, n) = (port(&mut rng), size(&mut rng));
                    d.io_read(p, n);
                }
                5 => {
                    let (at, n) = (hpet::BASE + rng.below(hpet::SIZE), size(&mut rng));
                    d.mmio_write(at, n, rng.next_u32());
                }
                6 => {
                    let (at, n) = (hpet::BASE + rng.below(hpet::SIZE), size(&mut rng));
                    d.mmio_read(at, n);
                }
                7 => {
                    // Move the PIIX4 PM block anywhere, the top of the I/O
                    // space included.
                    let pm = 0x8000_0B00;
                    d.io_write(0xCF8, 4, pm | 0x40);
                    d.io_write(0xCFC, 2, rng.next_u32());
                    d.io_write(0xCF8, 4, pm | 0x80);
                    d.io_write(0xCFC, 1, rng.next_u32());
                }
                _ => {
                    let scale = rng.below(24);
                    cycles += rng.below(1 << scale) as u64;
                    d.sync(cycles);
                    d.stop_requested();
                    if d.interrupt_pending() {
                        d.interrupt_ack();
                    }
                }
            }
        }
    }
}

/// Random bytes as the firmware: the CPU executes garbage that reaches the
/// real devices through IN/OUT (and resets the board by triple faults).
#[test]
fn random_firmware_on_the_whole_board_never_panics() {
    for seed in 0..6 {
        let mut rng = Rng::new(seed ^ 0xB0A4D);
        let mut bios = vec![0u8; 64 << 10];
        rng.fill(&mut bios);
        let mut pc = board(bios);
        let stop = pc.run(Some(2_000_000));
        assert!(
            matches!(
                stop,
                Stop::InstructionLimit | Stop::ExitPort(_) | Stop::Halted | Stop::PowerOff
            ),
            "seed {seed}: {stop:?}"
        );
    }
}
