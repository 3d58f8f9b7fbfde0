//! The **High Precision Event Timer** (IA-PC HPET specification 1.0a), as
//! QEMU's `pc` machine has it at FED00000h: a 64-bit main counter at
//! 100 MHz and three comparators, with the legacy replacement route that
//! takes over IRQ 0 from the PIT and IRQ 8 from the RTC.
//!
//! Operating systems use it as a clocksource that keeps counting whatever
//! the CPU does with its interrupt flag (Linux's `hpet`, the TSC's watchdog
//! from early boot), and as the tick's clock event device.
//!
//! Register map (spec 2.3.1), in 64-bit registers the CPU reaches with
//! 32-bit (or narrower) accesses:
//!
//! | offset        | register                                          |
//! |---------------|---------------------------------------------------|
//! | 000h          | General Capabilities and ID (read-only)           |
//! | 010h          | General Configuration: ENABLE_CNF, LEG_RT_CNF     |
//! | 020h          | General Interrupt Status (level mode; write 1 to clear) |
//! | 0F0h          | Main Counter Value                                |
//! | 100h + 20h·N  | Timer N Configuration and Capabilities            |
//! | 108h + 20h·N  | Timer N Comparator Value                          |

use emu_core::clock::Nanos;
use serde::{Deserialize, Serialize};

/// Where the board maps the register block.
pub const BASE: u32 = 0xFED0_0000;
/// The size of the register block.
pub const SIZE: u32 = 0x400;
/// The main counter's period in femtoseconds (10 ns: 100 MHz).
pub const PERIOD_FS: u64 = 10_000_000;
const NS_PER_TICK: u64 = PERIOD_FS / 1_000_000;
/// How far ahead `next_event` looks: 2^32 ticks (about 43 s).
const HORIZON_TICKS: u64 = 1 << 32;
/// Number of comparators.
pub const TIMERS: usize = 3;

const CAPABILITIES: u64 = 0x000;
const CONFIGURATION: u64 = 0x010;
const INTERRUPT_STATUS: u64 = 0x020;
const MAIN_COUNTER: u64 = 0x0F0;
const TIMER_BLOCK: u64 = 0x100;
const TIMER_STRIDE: u64 = 0x20;

/// General Configuration bits.
const ENABLE_CNF: u64 = 1 << 0;
const LEG_RT_CNF: u64 = 1 << 1;

/// Timer N Configuration and Capabilities bits (spec 2.3.8).
pub mod tn {
    pub const INT_TYPE_LEVEL: u64 = 1 << 1;
    pub const INT_ENB: u64 = 1 << 2;
    pub const PERIODIC: u64 = 1 << 3;
    pub const PER_INT_CAP: u64 = 1 << 4;
    pub const SIZE_CAP_64: u64 = 1 << 5;
    pub const VAL_SET: u64 = 1 << 6;
    pub const MODE_32: u64 = 1 << 8;
    pub const INT_ROUTE_SHIFT: u32 = 9;
    pub const INT_ROUTE: u64 = 0x1F << INT_ROUTE_SHIFT;
    /// What software may write.
    pub const WRITABLE: u64 = INT_TYPE_LEVEL | INT_ENB | PERIODIC | VAL_SET | MODE_32 | INT_ROUTE;
}

/// The low `size` bytes (an access of 1, 2 or 4; wider ones are split by
/// the bus) of a 64-bit register.
fn size_mask(size: u8) -> u64 {
    (1u64 << (8 * size.clamp(1, 4) as u64)) - 1
}

/// One comparator.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Timer {
    config: u64,
    comparator: u64,
    /// The period a periodic timer adds to its comparator at each match.
    period: u64,
    /// Interrupt edges not yet collected by the board (edge mode).
    edges: u64,
}

impl Timer {
    fn mode_32(&self) -> bool {
        self.config & tn::MODE_32 != 0
    }

    fn width_mask(&self) -> u64 {
        if self.mode_32() {
            0xFFFF_FFFF
        } else {
            u64::MAX
        }
    }

    /// Counter ticks from `counter` to this timer's next match, within the
    /// comparator's width (a match exactly at `counter` has already fired).
    fn ticks_to_match(&self, counter: u64) -> u64 {
        let mask = self.width_mask();
        match self.comparator.wrapping_sub(counter) & mask {
            0 if self.mode_32() => 1 << 32,
            0 => u64::MAX,
            d => d,
        }
    }
}

/// The HPET's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hpet {
    config: u64,
    /// Level-mode interrupt status, one bit per timer.
    status: u64,
    /// The main counter at `synced_at`.
    counter: u64,
    synced_at: Nanos,
    timers: [Timer; TIMERS],
}

impl Default for Hpet {
    fn default() -> Self {
        Self::new()
    }
}

impl Hpet {
    /// At reset: counter halted at zero, timers disabled, 64-bit capable,
    /// timer 0 periodic-capable (the spec requires it; all three are here).
    pub fn new() -> Self {
        let mut timers: [Timer; TIMERS] = Default::default();
        for t in &mut timers {
            t.config = tn::PER_INT_CAP | tn::SIZE_CAP_64;
            t.comparator = u64::MAX;
        }
        Hpet {
            config: 0,
            status: 0,
            counter: 0,
            synced_at: 0,
            timers,
        }
    }

    /// The low half of the capabilities register, which the ACPI HPET table
    /// repeats as the event timer block ID.
    pub fn event_timer_block_id() -> u32 {
        Self::capabilities() as u32
    }

    /// General Capabilities and ID: revision 1, three timers, a 64-bit
    /// counter, legacy replacement capable, vendor 8086h, the period.
    fn capabilities() -> u64 {
        PERIOD_FS << 32 | 0x8086 << 16 | 1 << 15 | 1 << 13 | ((TIMERS as u64 - 1) << 8) | 0x01
    }

    fn enabled(&self) -> bool {
        self.config & ENABLE_CNF != 0
    }

    /// Legacy replacement: timer 0 drives IRQ 0 and timer 1 IRQ 8, in place
    /// of the PIT and the RTC (spec 2.3.9).
    pub fn legacy_replacement(&self) -> bool {
        self.config & LEG_RT_CNF != 0
    }

    /// Runs the counter up to `now`, firing the comparators it passes.
    pub fn advance(&mut self, now: Nanos) {
        let elapsed = now.saturating_sub(self.synced_at);
        if !self.enabled() || elapsed < NS_PER_TICK {
            if !self.enabled() {
                self.synced_at = now;
            }
            return;
        }
        let ticks = elapsed / NS_PER_TICK;
        self.synced_at += ticks * NS_PER_TICK;
        let old = self.counter;
        self.counter = old.wrapping_add(ticks);
        for (n, t) in self.timers.iter_mut().enumerate() {
            let d = t.ticks_to_match(old);
            if d > ticks {
                continue;
            }
            if t.config & tn::PERIODIC != 0 && t.period != 0 {
                // Matches passed together make one interrupt; the comparator
                // moves on past `new` by whole periods.
                let periods = (ticks - d) / t.period + 1;
                t.comparator =
                    t.comparator.wrapping_add(periods.wrapping_mul(t.period)) & t.width_mask();
            }
            // A level-mode timer latches its status bit whether or not its
            // interrupt is enabled ("the timer will still operate and
            // generate appropriate status bits, but will not cause an
            // interrupt", spec 2.3.8, Tn_INT_ENB_CNF).
            if t.config & tn::INT_TYPE_LEVEL != 0 {
                self.status |= 1 << n;
            } else if t.config & tn::INT_ENB != 0 {
                t.edges += 1;
            }
        }
    }

    /// When the next enabled comparator matches, if any.
    pub fn next_event(&self, now: Nanos) -> Option<Nanos> {
        if !self.enabled() {
            return None;
        }
        // Ticks already counted since the last sync.
        let elapsed = now.saturating_sub(self.synced_at) / NS_PER_TICK;
        let counter = self.counter.wrapping_add(elapsed);
        self.timers
            .iter()
            .filter(|t| t.config & tn::INT_ENB != 0)
            .map(|t| {
                // A match further away than the horizon (a 64-bit
                // comparator can be 2^64 ticks out) is looked at again then.
                let ticks = elapsed + t.ticks_to_match(counter).min(HORIZON_TICKS);
                self.synced_at + ticks * NS_PER_TICK
            })
            .min()
    }

    /// Interrupt edges of timer `n` since the last call (edge mode).
    pub fn take_edges(&mut self, n: usize) -> u64 {
        std::mem::take(&mut self.timers[n].edges)
    }

    /// Whether timer `n` holds its interrupt line asserted (level mode,
    /// status latched and the interrupt enabled).
    pub fn level(&self, n: usize) -> bool {
        let config = self.timers[n].config;
        self.status & (1 << n) != 0 && config & tn::INT_TYPE_LEVEL != 0 && config & tn::INT_ENB != 0
    }

    /// The ISA IRQ timer `n` drives: the legacy route for timers 0 and 1,
    /// else none (no I/O APIC on this board; Tn_INT_ROUTE_CAP is zero).
    pub fn irq_of(&self, n: usize) -> Option<u8> {
        match (self.legacy_replacement(), n) {
            (true, 0) => Some(0),
            (true, 1) => Some(8),
            _ => None,
        }
    }

    /// A 64-bit register's value.
    fn register(&self, offset: u64) -> u64 {
        match offset {
            CAPABILITIES => Self::capabilities(),
            CONFIGURATION => self.config,
            INTERRUPT_STATUS => self.status,
            MAIN_COUNTER => self.counter,
            _ => match Self::timer_register(offset) {
                Some((n, 0)) => self.timers[n].config,
                Some((n, 8)) => self.timers[n].comparator,
                _ => 0,
            },
        }
    }

    /// The timer and the register within its block, for `offset`.
    fn timer_register(offset: u64) -> Option<(usize, u64)> {
        let rel = offset.checked_sub(TIMER_BLOCK)?;
        let n = (rel / TIMER_STRIDE) as usize;
        (n < TIMERS).then_some((n, rel % TIMER_STRIDE))
    }

    /// A read of `size` bytes (1, 2 or 4) at `offset` in the block.
    pub fn read(&mut self, now: Nanos, offset: u32, size: u8) -> u32 {
        self.advance(now);
        let offset = offset as u64;
        let shift = 8 * (offset & 7);
        let value = self.register(offset & !7) >> shift;
        (value & size_mask(size)) as u32
    }

    /// A write of `size` bytes at `offset`: merged into the 64-bit register,
    /// then applied with what that register's bits do.
    pub fn write(&mut self, now: Nanos, offset: u32, size: u8, value: u32) {
        self.advance(now);
        let offset = offset as u64;
        let (reg, shift) = (offset & !7, 8 * (offset & 7));
        let mask = size_mask(size) << shift;
        let bits = (value as u64) << shift & mask;
        let merge = |old: u64| (old & !mask) | bits;
        match reg {
            CONFIGURATION => {
                let was = self.enabled();
                self.config = merge(self.config) & (ENABLE_CNF | LEG_RT_CNF);
                if !was && self.enabled() {
                    self.synced_at = now;
                }
            }
            INTERRUPT_STATUS => self.status &= !bits,
            MAIN_COUNTER => {
                if self.enabled() {
                    log::debug!("HPET: main counter written while running");
                }
                self.counter = merge(self.counter);
            }
            _ => match Self::timer_register(reg) {
                Some((n, 0)) => {
                    let t = &mut self.timers[n];
                    let caps = t.config & !tn::WRITABLE;
                    t.config = caps | (merge(t.config) & tn::WRITABLE);
                    if t.mode_32() {
                        t.comparator &= 0xFFFF_FFFF;
                        t.period &= 0xFFFF_FFFF;
                    }
                }
                Some((n, 8)) => self.write_comparator(n, mask, bits),
                _ => log::debug!("HPET: write {value:#x} at {offset:#x} ignored"),
            },
        }
    }

    /// Tn_COMPARATOR: a one-shot timer (or a periodic one with VAL_SET)
    /// takes the value; a periodic timer also takes it as its period, so
    /// that software writes the first match and then the period (spec
    /// 2.3.9.2.2).
    fn write_comparator(&mut self, n: usize, mask: u64, bits: u64) {
        let t = &mut self.timers[n];
        let (mask, bits) = if t.mode_32() {
            (mask & 0xFFFF_FFFF, bits & 0xFFFF_FFFF)
        } else {
            (mask, bits)
        };
        let periodic = t.config & tn::PERIODIC != 0;
        if !periodic || t.config & tn::VAL_SET != 0 {
            t.comparator = (t.comparator & !mask) | bits;
        }
        if periodic {
            t.period = (t.period & !mask) | bits;
        }
        // VAL_SET covers the whole comparator: it clears once the write has
        // reached the high dword (or the only dword, in 32-bit mode), so a
        // 64-bit value written as two dwords lands whole.
        if t.mode_32() || mask >> 32 != 0 {
            t.config &= !tn::VAL_SET;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    fn read64(h: &mut Hpet, now: Nanos, offset: u32) -> u64 {
        h.read(now, offset, 4) as u64 | (h.read(now, offset + 4, 4) as u64) << 32
    }

    fn timer0_cfg(h: &mut Hpet, now: Nanos, cfg: u64) {
        h.write(now, 0x100, 4, cfg as u32);
    }

    #[test]
    fn capabilities_report_period_timers_and_legacy_route() {
        let mut h = Hpet::new();
        let caps = read64(&mut h, 0, 0);
        assert_eq!(caps >> 32, 10_000_000, "10 ns in femtoseconds");
        assert_eq!((caps >> 8) & 0x1F, 2, "NUM_TIM_CAP: three timers");
        assert_ne!(caps & 1 << 15, 0, "LEG_RT_CAP");
        assert_ne!(caps & 1 << 13, 0, "COUNT_SIZE_CAP: 64-bit");
        assert_eq!(caps & 0xFF, 1, "REV_ID");
    }

    #[test]
    fn main_counter_runs_only_while_enabled() {
        let mut h = Hpet::new();
        assert_eq!(read64(&mut h, 5 * MS, 0xF0), 0, "halted at reset");
        h.write(5 * MS, 0x10, 4, 1);
        assert_eq!(read64(&mut h, 6 * MS, 0xF0), 100_000, "100 MHz");
        h.write(6 * MS, 0x10, 4, 0);
        assert_eq!(read64(&mut h, 9 * MS, 0xF0), 100_000, "held when halted");
        h.write(9 * MS, 0xF0, 4, 7);
        assert_eq!(read64(&mut h, 9 * MS, 0xF0), 7, "writable when halted");
    }

    #[test]
    fn periodic_timer_takes_first_match_then_period() {
        // Linux's periodic set-up: ENABLE|PERIODIC|SETVAL|32BIT, the
        // comparator (now + delta), then the period (delta).
        let mut h = Hpet::new();
        h.write(0, 0x10, 4, 0b11); // enabled, legacy route
        timer0_cfg(
            &mut h,
            0,
            tn::INT_ENB | tn::PERIODIC | tn::VAL_SET | tn::MODE_32,
        );
        h.write(0, 0x108, 4, 400_000); // first match at 4 ms
        h.write(0, 0x108, 4, 400_000); // then every 4 ms
        assert_eq!(h.irq_of(0), Some(0));
        assert_eq!(h.next_event(0), Some(4 * MS));
        h.advance(4 * MS - 1);
        assert_eq!(h.take_edges(0), 0);
        h.advance(4 * MS);
        assert_eq!(h.take_edges(0), 1);
        assert_eq!(h.next_event(4 * MS), Some(8 * MS));
        h.advance(20 * MS);
        assert_eq!(h.take_edges(0), 1, "matches passed together: one edge");
        assert_eq!(
            read64(&mut h, 20 * MS, 0x108),
            2_400_000,
            "next match at 24 ms"
        );
    }

    #[test]
    fn one_shot_32_bit_timer_fires_once_per_wrap() {
        let mut h = Hpet::new();
        h.write(0, 0x10, 4, 1);
        timer0_cfg(&mut h, 0, tn::INT_ENB | tn::MODE_32);
        h.write(0, 0x108, 4, 1000); // 10 us
        h.advance(MS);
        assert_eq!(h.take_edges(0), 1);
        h.advance(2 * MS);
        assert_eq!(h.take_edges(0), 0, "no second match before the wrap");
        let wrap = (1u64 << 32) * 10;
        assert_eq!(h.next_event(2 * MS), Some(wrap + 10_000));
    }

    #[test]
    fn level_mode_sets_status_until_written_one() {
        let mut h = Hpet::new();
        h.write(0, 0x10, 4, 0b11);
        timer0_cfg(&mut h, 0, tn::INT_ENB | tn::INT_TYPE_LEVEL);
        h.write(0, 0x108, 4, 100);
        h.write(0, 0x10C, 4, 0);
        h.advance(MS);
        assert!(h.level(0));
        assert_eq!(h.read(MS, 0x20, 4), 1, "Tn_INT_STS");
        h.write(MS, 0x20, 4, 1);
        assert!(!h.level(0));
    }

    #[test]
    fn level_status_latches_even_with_the_interrupt_disabled() {
        let mut h = Hpet::new();
        h.write(0, 0x10, 4, 0b11);
        timer0_cfg(&mut h, 0, tn::INT_TYPE_LEVEL);
        h.write(0, 0x108, 4, 100);
        h.write(0, 0x10C, 4, 0);
        h.advance(MS);
        assert_eq!(h.read(MS, 0x20, 4), 1, "Tn_INT_STS without INT_ENB");
        assert!(!h.level(0), "but no interrupt");
        timer0_cfg(&mut h, MS, tn::INT_TYPE_LEVEL | tn::INT_ENB);
        assert!(h.level(0));
    }

    #[test]
    fn val_set_covers_both_dwords_of_a_64_bit_comparator() {
        let mut h = Hpet::new();
        timer0_cfg(&mut h, 0, tn::INT_ENB | tn::PERIODIC | tn::VAL_SET);
        h.write(0, 0x108, 4, 1000);
        h.write(0, 0x10C, 4, 0);
        assert_eq!(read64(&mut h, 0, 0x108), 1000, "comparator set whole");
        assert_eq!(read64(&mut h, 0, 0x100) & tn::VAL_SET, 0, "VAL_SET spent");
    }

    #[test]
    fn a_far_comparator_is_looked_at_again_within_the_horizon() {
        let mut h = Hpet::new();
        h.write(0, 0x10, 4, 1);
        timer0_cfg(&mut h, 0, tn::INT_ENB);
        // The reset comparator (all ones) is 2^64 ticks away.
        let t = h.next_event(0).expect("scheduled");
        assert_eq!(t, HORIZON_TICKS * NS_PER_TICK);
        h.advance(t);
        assert_eq!(h.take_edges(0), 0, "no match yet");
    }

    #[test]
    fn odd_access_sizes_do_not_panic() {
        let mut h = Hpet::new();
        assert_eq!(h.read(0, 0x3FF, 8), 0);
        h.write(0, 0x10, 0, 1);
        h.write(0, 0x3FC, 8, u32::MAX);
    }

    #[test]
    fn capability_bits_are_read_only() {
        let mut h = Hpet::new();
        timer0_cfg(&mut h, 0, 0);
        let cfg = read64(&mut h, 0, 0x100);
        assert_eq!(
            cfg & (tn::PER_INT_CAP | tn::SIZE_CAP_64),
            tn::PER_INT_CAP | tn::SIZE_CAP_64
        );
        assert_eq!(h.irq_of(0), None, "no route without legacy replacement");
    }
}
