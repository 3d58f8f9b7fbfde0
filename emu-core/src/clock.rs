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

/// Converts between retired instructions and virtual nanoseconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Clock {
    /// Instructions per virtual second (the nominal CPU speed).
    ips: u64,
    /// Virtual time at the instruction count `base_icount`.
    base_ns: Nanos,
    base_icount: u64,
}

impl Clock {
    /// A clock at time zero, running `ips` instructions per virtual second.
    pub fn new(ips: u64) -> Clock {
        Clock {
            ips: ips.max(1),
            base_ns: 0,
            base_icount: 0,
        }
    }

    /// Instructions per virtual second.
    pub fn ips(&self) -> u64 {
        self.ips
    }

    /// The virtual time after `icount` retired instructions.
    pub fn now(&self, icount: u64) -> Nanos {
        let delta = icount.saturating_sub(self.base_icount) as u128;
        self.base_ns + (delta * 1_000_000_000 / self.ips as u128) as Nanos
    }

    /// How many instructions run from `icount` until virtual time `t`
    /// (at least one, so the machine always makes progress).
    pub fn instructions_until(&self, icount: u64, t: Nanos) -> u64 {
        let now = self.now(icount);
        if t <= now {
            return 1;
        }
        let target = t - self.base_ns;
        // The first instruction count whose time is >= t.
        let n =
            (target as u128 * self.ips as u128).div_ceil(1_000_000_000) as u64 + self.base_icount;
        n.saturating_sub(icount).max(1)
    }

    /// Skips idle time: the CPU is halted at `icount` and the next event is
    /// at `t`, so time jumps there without instructions retiring. Returns
    /// the nominal cycles (instruction times) skipped, which the time-stamp
    /// counter must count too.
    pub fn skip_to(&mut self, icount: u64, t: Nanos) -> u64 {
        let now = self.now(icount);
        if t <= now {
            return 0;
        }
        self.base_ns = t;
        self.base_icount = icount;
        ((t - now) as u128 * self.ips as u128 / 1_000_000_000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_follows_instructions_and_skips() {
        let mut c = Clock::new(100_000_000); // 10 ns per instruction
        assert_eq!(c.now(0), 0);
        assert_eq!(c.now(1000), 10_000);
        assert_eq!(c.instructions_until(1000, 10_055), 6);
        assert_eq!(c.skip_to(1000, 1_000_000), 99_000, "990 us at 10 ns each");
        assert_eq!(c.now(1000), 1_000_000);
        assert_eq!(c.now(1001), 1_000_010);
        assert_eq!(c.skip_to(1001, 5), 0, "never backwards");
        assert_eq!(c.now(1001), 1_000_010);
    }
}
