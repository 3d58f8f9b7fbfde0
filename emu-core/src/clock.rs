//! The virtual clock: the one source of time in the machine.
//!
//! Time is derived from retired instructions at a fixed nominal rate and
//! advanced past idle periods (HLT) to the next scheduled event. Nothing in
//! the emulation reads the host clock, so a run is a pure function of its
//! inputs. Real-time pacing, where wanted, is the frontend's business: it
//! only decides *when* to run the next slice, never what it computes.

use serde::{Deserialize, Serialize};

/// Nanoseconds of virtual time.
pub type Nanos = u64;

/// Converts between CPU cycles and virtual nanoseconds.
///
/// A *cycle* is one tick of the nominal CPU clock: each retired instruction
/// takes one, an I/O bus access a fixed number, and halted time is counted in
/// cycles too (see `Cpu::cycles`), so time is a pure function of the
/// machine's own progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Clock {
    /// Cycles per virtual second (the nominal CPU speed).
    ips: u64,
}

impl Clock {
    /// A clock running `ips` cycles per virtual second.
    pub fn new(ips: u64) -> Clock {
        Clock { ips: ips.max(1) }
    }

    /// Cycles per virtual second.
    pub fn ips(&self) -> u64 {
        self.ips
    }

    /// The virtual time after `cycles` cycles.
    pub fn now(&self, cycles: u64) -> Nanos {
        let ns = cycles as u128 * 1_000_000_000 / self.ips as u128;
        // Beyond 2^64 ns (585 years) time stands still rather than wrapping.
        Nanos::try_from(ns).unwrap_or(Nanos::MAX)
    }

    /// How many cycles run from `cycles` until virtual time `t` (at least
    /// one, so the machine always makes progress).
    pub fn cycles_until(&self, cycles: u64, t: Nanos) -> u64 {
        let target = (t as u128 * self.ips as u128).div_ceil(1_000_000_000) as u64;
        target.saturating_sub(cycles).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_follows_cycles() {
        let c = Clock::new(100_000_000); // 10 ns per cycle
        assert_eq!(c.now(0), 0);
        assert_eq!(c.now(1000), 10_000);
        assert_eq!(
            c.cycles_until(1000, 10_055),
            6,
            "the first cycle at or after t"
        );
        assert_eq!(c.cycles_until(1000, 5), 1, "always at least one");
    }

    #[test]
    fn time_saturates_instead_of_wrapping() {
        let c = Clock::new(1_000_000); // 1 us per cycle
        assert_eq!(c.now(u64::MAX), Nanos::MAX);
        let far = c.cycles_until(0, Nanos::MAX);
        assert!(c.now(far) >= c.now(far / 2), "monotonic near the end");
    }
}
