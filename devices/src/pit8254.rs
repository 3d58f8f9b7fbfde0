//! The Intel 8254 Programmable Interval Timer, with the timer bits of the
//! AT's system control port B (61h).
//!
//! Three 16-bit down counters share one input clock, 1.193182 MHz (the PC's
//! 14.31818 MHz crystal divided by 12). Counter 0's OUT is IRQ 0, counter 1
//! paces DRAM refresh, counter 2's OUT drives the speaker. Each counter has a
//! count register (CR) the guest writes, a counting element (CE) that counts
//! the clock, and an output latch (OL) that freezes the count for reading.
//!
//! | offset | port | read | write |
//! |--------|------|------|-------|
//! | [`COUNTER0`]–[`COUNTER2`] = 0–2 | 40h–42h | count or status | count |
//! | [`CONTROL`] = 3 | 43h | nothing (the bus floats) | control word |
//!
//! Time is the virtual clock in nanoseconds. The chip counts whole clock
//! pulses: pulse `n` happens at the first nanosecond `t` at which
//! `t * 1193182 / 10^9` (integer division) reaches `n`, so the counters
//! never drift, however the accesses fall. Every access first catches the
//! counters up to `now`, in time proportional to the number of OUT changes
//! that matter, not to the pulses elapsed.
//!
//! The board learns of IRQ 0 through [`Pit8254::irq0_edges`], the count of
//! rising edges of OUT0 since it last asked, and schedules its next call with
//! [`Pit8254::next_event`].

use serde::{Deserialize, Serialize};

/// Offset of counter 0 (40h).
pub const COUNTER0: u16 = 0;
/// Offset of counter 1 (41h).
pub const COUNTER1: u16 = 1;
/// Offset of counter 2 (42h).
pub const COUNTER2: u16 = 2;
/// Offset of the control word register (43h).
pub const CONTROL: u16 = 3;

/// The counters' input clock, in Hz.
pub const CLOCK_HZ: u64 = 1_193_182;

/// Clock pulses per toggle of the refresh bit of port 61h: the BIOS programs
/// counter 1 for a refresh request every 15.085 µs, 18 pulses.
const REFRESH_CLOCKS: u64 = 18;

// Port 61h.
/// GATE2: counter 2 counts.
const PORT61_GATE2: u8 = 1 << 0;
/// The bits the guest writes and reads back: GATE2, speaker data enable, and
/// the parity and channel check enables.
const PORT61_WRITABLE: u8 = 0x0F;
/// Toggles with each refresh request.
const PORT61_REFRESH: u8 = 1 << 4;
/// Counter 2's OUT.
const PORT61_OUT2: u8 = 1 << 5;

// Control word.
/// SC1–SC0 = 11: the read-back command.
const READ_BACK: u8 = 0b11;
/// Read-back D5, active low: latch the counts.
const READ_BACK_COUNT: u8 = 1 << 5;
/// Read-back D4, active low: latch the statuses.
const READ_BACK_STATUS: u8 = 1 << 4;

const NS_PER_SECOND: u128 = 1_000_000_000;

/// Whole cycles of a `hz` clock from virtual time 0 to `now` (ns).
pub(crate) fn cycles_at(now: u64, hz: u64) -> u64 {
    (u128::from(now) * u128::from(hz) / NS_PER_SECOND) as u64
}

/// The virtual time (ns) of cycle `cycle` of a `hz` clock: the first instant
/// at which [`cycles_at`] counts it.
pub(crate) fn time_of_cycle(cycle: u64, hz: u64) -> u64 {
    let time = (u128::from(cycle) * NS_PER_SECOND).div_ceil(u128::from(hz));
    u64::try_from(time).unwrap_or(u64::MAX)
}

/// The six counter modes (M2–M1–M0; 6 and 7 are 2 and 3 again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Mode 0: OUT goes high when the count reaches zero, and stays high.
    InterruptOnTerminalCount,
    /// Mode 1: a GATE trigger sends OUT low for the count.
    HardwareOneShot,
    /// Mode 2: OUT goes low for one clock every count clocks.
    RateGenerator,
    /// Mode 3: OUT is high for half the count (rounded up), low for the rest.
    SquareWave,
    /// Mode 4: OUT goes low for one clock when the written count expires.
    SoftwareStrobe,
    /// Mode 5: OUT goes low for one clock when the count expires after a GATE trigger.
    HardwareStrobe,
}

impl Mode {
    /// A low GATE stops the count (modes 0, 2, 3, 4); in modes 1 and 5 the
    /// GATE only triggers.
    fn gated(self) -> bool {
        !matches!(self, Mode::HardwareOneShot | Mode::HardwareStrobe)
    }
}

/// The RW1–RW0 field: how the count is read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    LsbOnly,
    MsbOnly,
    /// Least significant byte first, then most significant byte.
    LsbThenMsb,
}

/// "Never": nothing happens until the guest or the GATE steps in.
const FOREVER: u64 = u64::MAX;

/// One counter.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Counter {
    /// D5–D0 of the last control word: RW1 RW0 M2 M1 M0 BCD, as the
    /// read-back status shows them.
    control: u8,
    /// The count register CR as written (four BCD digits when counting in BCD).
    count_register: u16,
    /// The counting element CE, as a number (not BCD digits): 1 up to the
    /// modulus once loaded (the modulus standing for a written 0), wrapping
    /// to below once past zero.
    count: u32,
    /// The count loaded from CR that the counter is working through.
    initial: u32,
    out: bool,
    gate: bool,
    /// CE is loaded from CR on the next clock pulse: after a new count, or a
    /// GATE trigger.
    load: bool,
    /// CE holds a count loaded from CR.
    counting: bool,
    /// A count was written since the control word: a trigger has something to start.
    count_written: bool,
    /// Modes 0, 1, 4 and 5: the loaded count has not yet reached zero, so
    /// reaching it acts on OUT. Later wraps through zero do not.
    armed: bool,
    /// A count written to CR has not been loaded into CE yet.
    null_count: bool,
    /// The LSB of a two-byte count, waiting for its MSB (CR changes only
    /// once the count is complete).
    count_lsb: Option<u8>,
    /// The next byte read is the MSB of a two-byte count.
    read_msb: bool,
    /// The output latch OL, holding a count latched for reading.
    latched_count: Option<u16>,
    /// A status byte latched by read-back.
    latched_status: Option<u8>,
}

impl Counter {
    /// A counter at power-on: mode 0, two-byte binary count, nothing loaded.
    fn new(gate: bool) -> Self {
        Counter {
            control: 0x30,
            count_register: 0,
            count: 0,
            initial: 0,
            out: false,
            gate,
            load: false,
            counting: false,
            count_written: false,
            armed: false,
            null_count: true,
            count_lsb: None,
            read_msb: false,
            latched_count: None,
            latched_status: None,
        }
    }

    fn mode(&self) -> Mode {
        match (self.control >> 1) & 7 {
            0 => Mode::InterruptOnTerminalCount,
            1 => Mode::HardwareOneShot,
            2 | 6 => Mode::RateGenerator,
            3 | 7 => Mode::SquareWave,
            4 => Mode::SoftwareStrobe,
            _ => Mode::HardwareStrobe,
        }
    }

    fn access(&self) -> Access {
        match (self.control >> 4) & 3 {
            1 => Access::LsbOnly,
            2 => Access::MsbOnly,
            _ => Access::LsbThenMsb,
        }
    }

    fn bcd(&self) -> bool {
        self.control & 1 != 0
    }

    /// The counter's range: 10^4 in BCD, 2^16 in binary.
    fn modulus(&self) -> u32 {
        if self.bcd() {
            10_000
        } else {
            0x1_0000
        }
    }

    /// A control word for this counter (RW not 00). 8254 datasheet: all
    /// control logic is reset and OUT goes to its initial state, low in
    /// mode 0 and high in the others.
    fn program(&mut self, control: u8) {
        self.control = control & 0x3F;
        self.out = self.mode() != Mode::InterruptOnTerminalCount;
        self.load = false;
        self.counting = false;
        self.count_written = false;
        self.armed = false;
        self.null_count = true;
        self.count_lsb = None;
        self.read_msb = false;
        self.latched_count = None;
        self.latched_status = None;
    }

    fn write(&mut self, value: u8) {
        match (self.access(), self.count_lsb.take()) {
            (Access::LsbOnly, _) => self.new_count(u16::from(value)),
            (Access::MsbOnly, _) => self.new_count(u16::from(value) << 8),
            (Access::LsbThenMsb, Some(lsb)) => self.new_count(u16::from_le_bytes([lsb, value])),
            (Access::LsbThenMsb, None) => {
                self.count_lsb = Some(value);
                if self.mode() == Mode::InterruptOnTerminalCount {
                    // Mode 0: writing the first byte stops the count and
                    // sends OUT low at once.
                    self.out = false;
                    self.counting = false;
                    self.load = false;
                }
            }
        }
    }

    /// A complete count has been written to CR.
    fn new_count(&mut self, count: u16) {
        self.count_register = count;
        self.null_count = true;
        self.count_written = true;
        match self.mode() {
            Mode::InterruptOnTerminalCount => {
                self.out = false;
                self.load = true;
            }
            Mode::SoftwareStrobe => self.load = true,
            // A new count waits for the end of the period (or a trigger).
            Mode::RateGenerator | Mode::SquareWave => self.load |= !self.counting,
            // Waits for a trigger.
            Mode::HardwareOneShot | Mode::HardwareStrobe => {}
        }
    }

    fn read(&mut self) -> u8 {
        if let Some(status) = self.latched_status.take() {
            return status;
        }
        let [lsb, msb] = self
            .latched_count
            .unwrap_or_else(|| self.count_value())
            .to_le_bytes();
        let (byte, done) = match self.access() {
            Access::LsbOnly => (lsb, true),
            Access::MsbOnly => (msb, true),
            Access::LsbThenMsb => {
                self.read_msb = !self.read_msb;
                if self.read_msb {
                    (lsb, false)
                } else {
                    (msb, true)
                }
            }
        };
        if done {
            self.latched_count = None;
        }
        byte
    }

    /// Counter latch command: OL holds the count until it is read. Further
    /// latches are ignored until then.
    fn latch_count(&mut self) {
        if self.latched_count.is_none() {
            self.latched_count = Some(self.count_value());
        }
    }

    /// Read-back status latch: OUT, null count, and the control word's bits.
    fn latch_status(&mut self) {
        if self.latched_status.is_none() {
            let status =
                (u8::from(self.out) << 7) | (u8::from(self.null_count) << 6) | self.control;
            self.latched_status = Some(status);
        }
    }

    /// CE as the guest reads it.
    fn count_value(&self) -> u16 {
        let count = (self.count % self.modulus()) as u16;
        if self.bcd() {
            to_bcd(count)
        } else {
            count
        }
    }

    /// CR as a number of clocks; a written 0 is the full range.
    fn initial_count(&self) -> u32 {
        let count = if self.bcd() {
            from_bcd(self.count_register) % self.modulus()
        } else {
            u32::from(self.count_register)
        };
        if count == 0 {
            self.modulus()
        } else {
            count
        }
    }

    fn set_gate(&mut self, level: bool) {
        let rising = level && !self.gate;
        self.gate = level;
        match self.mode() {
            // A rising edge triggers: CE reloads on the next clock.
            Mode::HardwareOneShot
            | Mode::HardwareStrobe
            | Mode::RateGenerator
            | Mode::SquareWave
                if rising && self.count_written =>
            {
                self.load = true;
            }
            // Modes 2 and 3: a low GATE sets OUT high at once.
            Mode::RateGenerator | Mode::SquareWave if !level => self.out = true,
            _ => {}
        }
    }

    /// Loads CE from CR (on a clock pulse).
    fn load_count(&mut self) {
        self.initial = self.initial_count();
        // Mode 3 counts by twos from the even part of the count.
        self.count = if self.mode() == Mode::SquareWave {
            self.initial & !1
        } else {
            self.initial
        };
        self.load = false;
        self.null_count = false;
        self.counting = true;
        self.armed = true;
    }

    /// One pulse of the input clock.
    fn clock(&mut self) {
        let mode = self.mode();
        match mode {
            Mode::InterruptOnTerminalCount
            | Mode::SoftwareStrobe
            | Mode::HardwareOneShot
            | Mode::HardwareStrobe => {
                if matches!(mode, Mode::SoftwareStrobe | Mode::HardwareStrobe) {
                    // A strobe lasts one clock.
                    self.out = true;
                }
                if self.load {
                    self.load_count();
                    if mode == Mode::HardwareOneShot {
                        self.out = false;
                    }
                } else if self.counting && (self.gate || !mode.gated()) {
                    self.count_down(1);
                    if self.count == 0 && self.armed {
                        // Terminal count: modes 0 and 1 end with OUT high,
                        // the strobes pulse it low.
                        self.armed = false;
                        self.out =
                            matches!(mode, Mode::InterruptOnTerminalCount | Mode::HardwareOneShot);
                    }
                }
            }
            Mode::RateGenerator if self.gate => {
                // CE reloads instead of reaching zero, ending OUT's low pulse.
                if self.load || (self.counting && self.count == 1) {
                    self.load_count();
                    self.out = true;
                } else if self.counting {
                    self.count_down(1);
                    self.out = self.count != 1;
                }
            }
            Mode::SquareWave if self.gate => {
                if self.load {
                    self.load_count();
                    self.out = true;
                } else if self.counting {
                    // With an odd count OUT stays high one extra clock after
                    // CE reaches zero: high (N + 1) / 2, low (N - 1) / 2.
                    let half_cycle_over = if self.count == 0 {
                        true
                    } else {
                        self.count_down(1);
                        self.count == 0 && (!self.out || self.initial & 1 == 0)
                    };
                    if half_cycle_over {
                        self.out = !self.out;
                        self.load_count();
                    }
                }
            }
            Mode::RateGenerator | Mode::SquareWave => {}
        }
    }

    /// CE after `clocks` plain clock pulses: down by one per pulse (two in
    /// mode 3), wrapping from zero to the top of the range.
    fn count_down(&mut self, clocks: u64) {
        let modulus = u64::from(self.modulus());
        let step = if self.mode() == Mode::SquareWave {
            2
        } else {
            1
        };
        let decrement = clocks % modulus * step % modulus;
        if decrement != 0 {
            self.count = ((u64::from(self.count) + modulus - decrement) % modulus) as u32;
        }
    }

    /// How many coming clock pulses would do nothing but count CE down.
    fn quiet_clocks(&self) -> u64 {
        let mode = self.mode();
        if !self.out && matches!(mode, Mode::SoftwareStrobe | Mode::HardwareStrobe) {
            return 0;
        }
        if !self.gate && matches!(mode, Mode::RateGenerator | Mode::SquareWave) {
            return FOREVER;
        }
        if self.load {
            return 0;
        }
        if !self.counting || (!self.gate && mode.gated()) {
            return FOREVER;
        }
        let count = u64::from(self.count);
        match mode {
            Mode::RateGenerator => count.saturating_sub(2),
            Mode::SquareWave => (count / 2).saturating_sub(1),
            _ if self.armed => count.saturating_sub(1),
            _ => FOREVER,
        }
    }

    /// Runs `clocks` quiet clock pulses (see [`Self::quiet_clocks`]).
    fn coast(&mut self, clocks: u64) {
        if clocks > 0 && self.counting && (self.gate || !self.mode().gated()) {
            self.count_down(clocks);
        }
    }

    /// Modes 2 and 3 repeat themselves once a count is loaded and no new one
    /// waits. At the start of a period: its length in clocks and the rising
    /// edges of OUT in it.
    fn period(&self) -> Option<(u64, u64)> {
        if !self.counting || !self.gate || self.load || self.null_count || !self.out {
            return None;
        }
        let initial = u64::from(self.initial);
        match self.mode() {
            Mode::RateGenerator if self.count == self.initial => {
                Some((initial, u64::from(initial > 1)))
            }
            Mode::SquareWave if self.count == self.initial & !1 => Some((initial.max(2), 1)),
            _ => None,
        }
    }

    /// Runs `clocks` clock pulses, returning the rising edges of OUT among them.
    fn advance(&mut self, mut clocks: u64) -> u64 {
        let mut rising_edges = 0;
        while clocks > 0 {
            if let Some((length, rises)) = self.period() {
                let periods = clocks / length;
                rising_edges += periods * rises;
                clocks -= periods * length;
            }
            let quiet = self.quiet_clocks().min(clocks);
            self.coast(quiet);
            clocks -= quiet;
            if clocks > 0 {
                let was_high = self.out;
                self.clock();
                clocks -= 1;
                rising_edges += u64::from(!was_high && self.out);
            }
        }
        rising_edges
    }

    /// Clock pulses until OUT next changes, unless it is settled until the
    /// guest or the GATE steps in.
    fn clocks_until_out_changes(&self) -> Option<u64> {
        let mut counter = self.clone();
        let mut clocks = 0;
        loop {
            if let Some((_, 0)) = counter.period() {
                return None;
            }
            let quiet = counter.quiet_clocks();
            if quiet == FOREVER {
                return None;
            }
            counter.coast(quiet);
            let was = counter.out;
            counter.clock();
            clocks += quiet + 1;
            if counter.out != was {
                return Some(clocks);
            }
        }
    }
}

/// Four BCD digits as a number.
fn from_bcd(digits: u16) -> u32 {
    if (0..4).any(|i| (digits >> (4 * i)) & 0xF > 9) {
        log::debug!("8254: invalid BCD count {digits:#06x}");
    }
    (0..4).rev().fold(0, |value, i| {
        value * 10 + u32::from((digits >> (4 * i)) & 0xF)
    })
}

/// A number below 10000 as four BCD digits.
fn to_bcd(value: u16) -> u16 {
    (0..4)
        .rev()
        .fold(0, |digits, i| (digits << 4) | (value / 10u16.pow(i) % 10))
}

/// The 8254 and port 61h's timer bits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pit8254 {
    counters: [Counter; 3],
    /// Clock pulses the counters have run: all of them up to the last access.
    clocks: u64,
    /// Rising edges of OUT0 the board has not collected yet.
    out0_rising_edges: u64,
    /// Port 61h bits 0–3 as written.
    port61: u8,
}

impl Default for Pit8254 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit8254 {
    /// The chip at power-on, unprogrammed. GATE0 and GATE1 are tied high;
    /// GATE2 is port 61h bit 0, clear.
    pub fn new() -> Self {
        Pit8254 {
            counters: [Counter::new(true), Counter::new(true), Counter::new(false)],
            clocks: 0,
            out0_rising_edges: 0,
            port61: 0,
        }
    }

    pub fn read(&mut self, now: u64, offset: u16) -> u8 {
        self.catch_up(now);
        match self.counter_mut(offset) {
            Some(counter) => counter.read(),
            None => {
                log::debug!("8254: read from offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, now: u64, offset: u16, value: u8) {
        self.catch_up(now);
        if offset == CONTROL {
            self.write_control(value);
        } else if let Some(counter) = self.counter_mut(offset) {
            counter.write(value);
        } else {
            log::debug!("8254: write {value:#04x} to offset {offset}");
        }
    }

    /// Counter `channel`'s OUT at `now`.
    pub fn out(&self, now: u64, channel: usize) -> bool {
        let Some(counter) = self.counters.get(channel) else {
            log::debug!("8254: no counter {channel}");
            return false;
        };
        let mut counter = counter.clone();
        counter.advance(self.clocks_until(now));
        counter.out
    }

    /// The rising edges of OUT0 (IRQ 0) up to `now` that the board has not
    /// collected yet. Each edge is reported exactly once, however late the
    /// board asks.
    pub fn irq0_edges(&mut self, now: u64) -> u64 {
        self.catch_up(now);
        std::mem::take(&mut self.out0_rising_edges)
    }

    /// When the board next needs to look at OUT0: the time of its next
    /// change after `now`, or `now` itself while edges wait to be collected.
    /// `None` while OUT0 is settled (until the guest reprograms counter 0).
    pub fn next_event(&self, now: u64) -> Option<u64> {
        if self.out0_rising_edges > 0 {
            return Some(now);
        }
        let elapsed = self.clocks_until(now);
        let mut counter = self.counters[0].clone();
        counter.advance(elapsed);
        let clocks = counter.clocks_until_out_changes()?;
        Some(time_of_cycle(self.clocks + elapsed + clocks, CLOCK_HZ))
    }

    /// Port 61h: bits 0–3 as written, bit 4 the refresh toggle, bit 5 OUT2.
    pub fn read_port61(&self, now: u64) -> u8 {
        let refresh = (self.clocks + self.clocks_until(now)) / REFRESH_CLOCKS % 2 == 1;
        let mut value = self.port61;
        if refresh {
            value |= PORT61_REFRESH;
        }
        if self.out(now, 2) {
            value |= PORT61_OUT2;
        }
        value
    }

    /// Port 61h: bit 0 is GATE2, bit 1 the speaker data enable; bits 2 and 3
    /// (parity and channel check enables) are kept for reading back.
    pub fn write_port61(&mut self, now: u64, value: u8) {
        self.catch_up(now);
        self.port61 = value & PORT61_WRITABLE;
        self.counters[2].set_gate(value & PORT61_GATE2 != 0);
    }

    fn counter_mut(&mut self, offset: u16) -> Option<&mut Counter> {
        self.counters.get_mut(usize::from(offset))
    }

    /// SC1–SC0 select the counter (or read-back); RW1–RW0 = 00 is the
    /// counter latch command.
    fn write_control(&mut self, value: u8) {
        match value >> 6 {
            READ_BACK => self.read_back(value),
            select => {
                let counter = &mut self.counters[usize::from(select)];
                if value & 0x30 == 0 {
                    counter.latch_count();
                } else {
                    counter.program(value);
                }
            }
        }
    }

    /// The read-back command: D3–D1 select counters 2–0; D5 clear latches
    /// their counts, D4 clear their statuses.
    fn read_back(&mut self, value: u8) {
        for (i, counter) in self.counters.iter_mut().enumerate() {
            if value & (2 << i) == 0 {
                continue;
            }
            if value & READ_BACK_COUNT == 0 {
                counter.latch_count();
            }
            if value & READ_BACK_STATUS == 0 {
                counter.latch_status();
            }
        }
    }

    /// Clock pulses between the last catch-up and `now`.
    fn clocks_until(&self, now: u64) -> u64 {
        cycles_at(now, CLOCK_HZ).saturating_sub(self.clocks)
    }

    /// Runs the counters up to `now`.
    fn catch_up(&mut self, now: u64) {
        let elapsed = self.clocks_until(now);
        if elapsed == 0 {
            return;
        }
        self.clocks += elapsed;
        self.out0_rising_edges += self.counters[0].advance(elapsed);
        for counter in &mut self.counters[1..] {
            counter.advance(elapsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The virtual time of clock pulse `n`. An access at `at(n)` comes just
    /// after pulse `n`, so what it starts happens on pulse `n + 1`.
    fn at(n: u64) -> u64 {
        time_of_cycle(n, CLOCK_HZ)
    }

    /// Control word for `counter` in `mode`, LSB then MSB, binary; then the count.
    fn program(pit: &mut Pit8254, now: u64, counter: u16, mode: u8, count: u16) {
        pit.write(now, CONTROL, (counter as u8) << 6 | 0x30 | mode << 1);
        pit.write(now, counter, count as u8);
        pit.write(now, counter, (count >> 8) as u8);
    }

    fn read_count(pit: &mut Pit8254, now: u64, counter: u16) -> u16 {
        let lsb = pit.read(now, counter);
        let msb = pit.read(now, counter);
        u16::from_le_bytes([lsb, msb])
    }

    /// OUT of `channel` after each pulse of `pulses`, as 1s and 0s.
    fn trace(pit: &Pit8254, channel: usize, pulses: std::ops::RangeInclusive<u64>) -> String {
        pulses
            .map(|n| if pit.out(at(n), channel) { '1' } else { '0' })
            .collect()
    }

    #[test]
    fn the_clock_is_exact() {
        assert_eq!(cycles_at(1_000_000_000, CLOCK_HZ), 1_193_182);
        assert_eq!(cycles_at(3_600_000_000_000, CLOCK_HZ), 4_295_455_200);
        for n in [1, 2, 17, 1_193_181, 1_193_182, 1 << 40] {
            assert_eq!(cycles_at(at(n), CLOCK_HZ), n);
            assert_eq!(cycles_at(at(n) - 1, CLOCK_HZ), n - 1);
        }
    }

    #[test]
    fn mode0_out_rises_n_plus_one_clocks_after_the_count() {
        // 8254 datasheet, mode 0: OUT is low after the control word; the
        // count loads on the next pulse and OUT goes high when it reaches
        // zero, N + 1 pulses after the write. Counting goes on, wrapping.
        let mut pit = Pit8254::new();
        program(&mut pit, at(10), 0, 0, 5);
        assert_eq!(trace(&pit, 0, 10..=17), "00000011");
        assert_eq!(read_count(&mut pit, at(11), 0), 5);
        assert_eq!(read_count(&mut pit, at(12), 0), 4);
        assert_eq!(read_count(&mut pit, at(16), 0), 0);
        assert_eq!(read_count(&mut pit, at(17), 0), 0xFFFF);
        assert!(pit.out(at(70_000), 0), "OUT stays high through the wrap");
        assert_eq!(pit.irq0_edges(at(70_000)), 1);
    }

    #[test]
    fn mode0_first_byte_stops_the_count() {
        // 8254 datasheet, mode 0: writing the first byte disables counting
        // and sets OUT low at once; the second byte loads on the next pulse.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 0, 10);
        assert!(pit.out(at(50), 0));
        pit.write(at(50), COUNTER0, 5);
        assert!(!pit.out(at(50), 0));
        let stopped = 10u16.wrapping_sub(49);
        assert_eq!(read_count(&mut pit, at(60), 0), stopped);
        pit.write(at(60), COUNTER0, 0);
        assert_eq!(trace(&pit, 0, 60..=66), "0000001");
    }

    #[test]
    fn mode0_low_gate_holds_the_loaded_count() {
        // 8254 datasheet, mode 0: a count written while GATE is low loads on
        // the next pulse; OUT goes high N pulses after GATE goes high.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 2, 0, 3);
        assert_eq!(read_count(&mut pit, at(20), 2), 3);
        pit.write_port61(at(20), 0x01);
        assert_eq!(trace(&pit, 2, 20..=23), "0001");
    }

    #[test]
    fn mode2_rate_generator_pulses_low_once_per_period() {
        // 8254 datasheet, mode 2: OUT goes low for one pulse when the count
        // reaches 1, then the count reloads: a period of N pulses.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 4);
        assert_eq!(trace(&pit, 0, 0..=13), "11110111011101");
        assert_eq!(pit.irq0_edges(at(13)), 3);
        assert_eq!(pit.irq0_edges(at(13)), 0, "each edge once");
    }

    #[test]
    fn mode2_new_count_waits_for_the_period_end() {
        // 8254 datasheet, mode 2: a new count does not affect the current period.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 4);
        program_count_only(&mut pit, at(2), 0, 6);
        assert_eq!(trace(&pit, 0, 2..=11), "1101111101");
    }

    fn program_count_only(pit: &mut Pit8254, now: u64, counter: u16, count: u16) {
        pit.write(now, counter, count as u8);
        pit.write(now, counter, (count >> 8) as u8);
    }

    #[test]
    fn mode2_gate_low_forces_out_high_and_rising_gate_reloads() {
        // 8254 datasheet, mode 2: GATE low sets OUT high at once and stops
        // the count; a rising GATE reloads on the next pulse.
        let mut pit = Pit8254::new();
        pit.write_port61(at(0), 0x01);
        program(&mut pit, at(0), 2, 2, 4);
        assert!(!pit.out(at(4), 2));
        pit.write_port61(at(4), 0x00);
        assert!(pit.out(at(4), 2));
        pit.write_port61(at(10), 0x01);
        assert_eq!(trace(&pit, 2, 10..=15), "111101");
    }

    #[test]
    fn mode3_even_count_is_a_symmetric_square_wave() {
        // 8254 datasheet, mode 3: even N, OUT high N/2 pulses, low N/2;
        // the count goes down by two.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 3, 6);
        assert_eq!(trace(&pit, 0, 0..=13), "11110001110001");
        let counts: Vec<u16> = (1..=4).map(|n| read_count(&mut pit, at(n), 0)).collect();
        assert_eq!(counts, [6, 4, 2, 6]);
    }

    #[test]
    fn mode3_odd_count_is_high_one_pulse_longer() {
        // 8254 datasheet, mode 3: odd N, OUT high (N + 1) / 2, low (N - 1) / 2.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 3, 5);
        assert_eq!(trace(&pit, 0, 1..=16), "1110011100111001");
    }

    #[test]
    fn modes_6_and_7_are_modes_2_and_3() {
        let mut pit = Pit8254::new();
        pit.write(at(0), CONTROL, 0x3E);
        program_count_only(&mut pit, at(0), 0, 6);
        assert_eq!(trace(&pit, 0, 0..=13), "11110001110001");
        pit.write(at(20), CONTROL, 0xE2);
        assert_eq!(
            pit.read(at(20), COUNTER0) & 0x3F,
            0x3E,
            "status shows M2–M0 as written"
        );
    }

    #[test]
    fn mode1_one_shot_starts_on_a_gate_trigger() {
        // 8254 datasheet, mode 1: OUT goes low on the pulse after a trigger
        // and high when the count reaches zero, N pulses later; a retrigger
        // restarts the count.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 2, 1, 3);
        assert_eq!(
            trace(&pit, 2, 0..=9),
            "1111111111",
            "the count alone starts nothing"
        );
        pit.write_port61(at(10), 0x01);
        assert_eq!(trace(&pit, 2, 10..=15), "100011");
        pit.write_port61(at(12), 0x00);
        pit.write_port61(at(13), 0x01);
        assert_eq!(trace(&pit, 2, 13..=18), "000011");
    }

    #[test]
    fn mode5_strobe_follows_a_gate_trigger() {
        // 8254 datasheet, mode 5: OUT goes low for one pulse N + 1 pulses
        // after the trigger.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 2, 5, 3);
        pit.write_port61(at(10), 0x01);
        assert_eq!(trace(&pit, 2, 10..=16), "1111011");
        pit.write_port61(at(20), 0x00);
        pit.write_port61(at(21), 0x01);
        assert_eq!(trace(&pit, 2, 21..=26), "111101", "retriggered");
    }

    #[test]
    fn mode4_strobe_comes_once_after_the_count() {
        // 8254 datasheet, mode 4: OUT goes low for one pulse N + 1 pulses
        // after the count is written; the wrap-around does not strobe again.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 4, 3);
        assert_eq!(trace(&pit, 0, 0..=6), "1111011");
        assert_eq!(pit.next_event(at(5)), None);
        assert_eq!(pit.irq0_edges(at(300_000)), 1);
    }

    #[test]
    fn latch_freezes_the_count_while_counting_goes_on() {
        // 8254 datasheet, counter latch command: the count is held until
        // read; a second latch before the read is ignored.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 1000);
        pit.write(at(100), CONTROL, 0x00);
        pit.write(at(200), CONTROL, 0x00);
        assert_eq!(read_count(&mut pit, at(500), 0), 901);
        assert_eq!(read_count(&mut pit, at(500), 0), 501, "latch released");
    }

    #[test]
    fn read_back_latches_status_then_count() {
        // 8254 datasheet, read-back: status is OUT, null count, RW, mode,
        // BCD; with both latched, the status reads first.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 1000);
        pit.write(at(0), CONTROL, 0xE2);
        assert_eq!(pit.read(at(0), COUNTER0), 0xF4, "null count until loaded");
        pit.write(at(100), CONTROL, 0xC2);
        assert_eq!(pit.read(at(150), COUNTER0), 0xB4);
        assert_eq!(read_count(&mut pit, at(150), 0), 901);
        program(&mut pit, at(150), 2, 0, 7);
        pit.write(at(150), CONTROL, 0xE8);
        assert_eq!(
            pit.read(at(150), COUNTER2),
            0x70,
            "counter 2: OUT low, null count, mode 0"
        );
        assert_eq!(
            read_count(&mut pit, at(150), 0),
            851,
            "counter 0 not latched"
        );
    }

    #[test]
    fn bcd_counts_in_decimal_digits() {
        // 8254 datasheet, BCD: four decades; a count of 0 is 10000.
        let mut pit = Pit8254::new();
        pit.write(at(0), CONTROL, 0x31);
        program_count_only(&mut pit, at(0), 0, 0x0100);
        assert_eq!(read_count(&mut pit, at(1), 0), 0x0100);
        assert_eq!(read_count(&mut pit, at(2), 0), 0x0099);
        program_count_only(&mut pit, at(10), 0, 0);
        assert_eq!(read_count(&mut pit, at(11), 0), 0x0000);
        assert_eq!(read_count(&mut pit, at(12), 0), 0x9999);
        assert!(!pit.out(at(10_010), 0));
        assert!(pit.out(at(10_011), 0));
    }

    #[test]
    fn lsb_only_and_msb_only_access() {
        // 8254 datasheet, RW = 01 and 10: one byte, the other byte zero.
        let mut pit = Pit8254::new();
        pit.write(at(0), CONTROL, 0x10);
        pit.write(at(0), COUNTER0, 0x34);
        assert_eq!(pit.read(at(1), COUNTER0), 0x34);
        assert_eq!(pit.read(at(2), COUNTER0), 0x33);
        pit.write(at(2), CONTROL, 0x20);
        pit.write(at(2), COUNTER0, 0x12);
        assert_eq!(pit.read(at(3), COUNTER0), 0x12);
        assert_eq!(pit.read(at(4), COUNTER0), 0x11);
    }

    #[test]
    fn two_byte_reads_and_writes_alternate_independently() {
        // 8254 datasheet: reads and writes of a two-byte count may interleave.
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 0, 0x1234);
        pit.write(at(1), CONTROL, 0x00);
        assert_eq!(pit.read(at(1), COUNTER0), 0x34);
        pit.write(at(1), COUNTER0, 0x78);
        assert_eq!(pit.read(at(1), COUNTER0), 0x12);
        pit.write(at(1), COUNTER0, 0x56);
        assert_eq!(read_count(&mut pit, at(2), 0), 0x5678);
    }

    #[test]
    fn count_of_zero_is_65536_the_bios_18_2_hz_tick() {
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 0);
        assert_eq!(pit.irq0_edges(1_000_000_000), 18);
        assert_eq!(
            pit.next_event(1_000_000_000),
            Some(at(19 * 65_536)),
            "OUT0 falls"
        );
        assert_eq!(pit.irq0_edges(3_600_000_000_000), 65_543 - 18);
    }

    #[test]
    fn next_event_names_each_change_of_out0() {
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 10);
        assert_eq!(pit.next_event(0), Some(at(10)));
        assert!(pit.out(at(10) - 1, 0));
        assert!(!pit.out(at(10), 0));
        assert_eq!(pit.next_event(at(10)), Some(at(11)));
        assert_eq!(pit.next_event(at(11)), Some(at(20)));
        let mut now = 0;
        let mut edges = 0;
        for _ in 0..1000 {
            now = pit.next_event(now).unwrap();
            edges += pit.irq0_edges(now);
        }
        assert_eq!(edges, 500);
        assert_eq!(now, at(10 * 500 + 1));
    }

    #[test]
    fn edges_wait_for_the_board() {
        let mut pit = Pit8254::new();
        program(&mut pit, at(0), 0, 2, 10);
        // A guest read catches the counters up past an edge.
        pit.read(at(15), COUNTER0);
        assert_eq!(pit.next_event(at(15)), Some(at(15)));
        assert_eq!(pit.irq0_edges(at(15)), 1);
        assert_eq!(pit.next_event(at(15)), Some(at(20)));
    }

    #[test]
    fn late_and_irregular_board_counts_every_edge_once() {
        for (mode, count, expected) in [(2, 100, 11_931), (3, 101, 11_813)] {
            let mut pit = Pit8254::new();
            program(&mut pit, 0, 0, mode, count);
            let mut now = 0;
            let mut edges = 0;
            let mut step = 1;
            while now < 1_000_000_000 {
                now = (now + step).min(1_000_000_000);
                step = step * 7 % 9_999_991;
                edges += pit.irq0_edges(now);
            }
            assert_eq!(edges, expected, "mode {mode}");
        }
    }

    #[test]
    fn port61_shows_out2_and_the_refresh_toggle() {
        let mut pit = Pit8254::new();
        pit.write_port61(at(0), 0x03);
        program(&mut pit, at(0), 2, 3, 4);
        assert_eq!(pit.read_port61(at(1)) & 0x23, 0x23);
        assert_eq!(pit.read_port61(at(3)) & 0x23, 0x03);
        assert_eq!(pit.read_port61(at(17)) & 0x10, 0x00);
        assert_eq!(pit.read_port61(at(18)) & 0x10, 0x10);
        assert_eq!(pit.read_port61(at(36)) & 0x10, 0x00);
        pit.write_port61(at(40), 0xFC);
        assert_eq!(pit.read_port61(at(40)) & 0x0F, 0x0C);
    }

    #[test]
    fn the_control_register_does_not_read() {
        let mut pit = Pit8254::new();
        assert_eq!(pit.read(0, CONTROL), 0xFF);
        assert_eq!(pit.read(0, 7), 0xFF);
        assert!(!pit.out(0, 3));
    }

    /// Runs pulses one by one, returning the rising edges of OUT.
    fn clock_by_clock(counter: &mut Counter, clocks: u64) -> u64 {
        (0..clocks)
            .map(|_| {
                let was_high = counter.out;
                counter.clock();
                u64::from(!was_high && counter.out)
            })
            .sum()
    }

    #[test]
    fn advance_is_the_same_as_pulse_by_pulse() {
        for control in [0x30, 0x32, 0x34, 0x36, 0x38, 0x3A, 0x31, 0x35, 0x37] {
            for count in [1, 2, 3, 4, 5, 7, 100, 0x0101, 0] {
                let mut fast = Counter::new(true);
                fast.program(control);
                fast.write(count as u8);
                fast.write((count >> 8) as u8);
                fast.set_gate(false);
                fast.set_gate(true);
                let mut slow = fast.clone();
                let chunks = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 1000, 70_000, 12_345];
                for (i, chunk) in chunks.into_iter().enumerate() {
                    assert_eq!(
                        fast.advance(chunk),
                        clock_by_clock(&mut slow, chunk),
                        "control {control:#x} count {count} chunk {i}"
                    );
                    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                    match i {
                        4 => [&mut fast, &mut slow].map(|c| c.set_gate(false)),
                        6 => [&mut fast, &mut slow].map(|c| c.set_gate(true)),
                        9 => [&mut fast, &mut slow].map(|c| c.write(3)),
                        10 => [&mut fast, &mut slow].map(|c| c.write(0)),
                        _ => [(); 2],
                    };
                }
            }
        }
    }
}
