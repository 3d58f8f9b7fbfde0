//! The Motorola MC146818A real-time clock and its CMOS RAM, as in the AT.
//!
//! The chip has 64 bytes of registers and RAM; the AT's successors extend the
//! RAM to 128 bytes, all reached through an index register:
//!
//! | offset | port | read | write |
//! |--------|------|------|-------|
//! | [`INDEX`] = 0 | 70h | nothing (the bus floats) | bits 6–0 the register index, bit 7 masks NMI |
//! | [`DATA`] = 1 | 71h | the indexed register | the indexed register |
//!
//! | register | contents |
//! |----------|----------|
//! | 00h–09h | seconds, alarm seconds, minutes, alarm minutes, hours, alarm hours, day of week (1 = Sunday), date, month, year (00–99) |
//! | 0Ah | A: UIP, DV2–DV0 (divider), RS3–RS0 (periodic rate) |
//! | 0Bh | B: SET, PIE, AIE, UIE, SQWE, DM (binary), 24/12, DSE |
//! | 0Ch | C: IRQF, PF, AF, UF; reading clears it |
//! | 0Dh | D: VRT, the battery is good |
//! | 0Eh–7Fh | CMOS RAM, the BIOS's |
//!
//! A 32.768 kHz crystal drives a divider chain that wraps once a second; each
//! wrap is an update cycle, which advances the time by a second. The time
//! registers read in BCD or binary (B's DM bit) and in 24- or 12-hour form
//! (B's 24/12 bit), converted when read: changing the format shows the same
//! time in the new one. Daylight saving (DSE) is not modelled.
//!
//! The update cycle is taken to be instantaneous at the wrap: UIP reads 1 for
//! the 244 µs before it, during which the registers still show the old time.
//!
//! The IRQ output (IRQ 8 on the AT) is high while C's IRQF is: while a flag
//! is set whose interrupt B enables. The board reads it with
//! [`Rtc::irq_level`] after each access and at the times [`Rtc::next_event`]
//! names.

use serde::{Deserialize, Serialize};

use crate::pit8254::{cycles_at, time_of_cycle};

/// Offset of the index register (70h).
pub const INDEX: u16 = 0;
/// Offset of the data register (71h).
pub const DATA: u16 = 1;

/// 2000-01-01 00:00:00 UTC in Unix seconds: a start time for deterministic runs.
pub const DEFAULT_START_TIME: u64 = 946_684_800;

/// The AT's CMOS checksum covers bytes 10h–2Dh ...
pub const CHECKSUM_FIRST: u8 = 0x10;
/// ... up to this one ...
pub const CHECKSUM_LAST: u8 = 0x2D;
/// ... and is stored here, high byte first (2Eh, 2Fh).
pub const CHECKSUM: u8 = 0x2E;

/// The time-base crystal, in Hz.
const CRYSTAL_HZ: u64 = 32_768;
/// The divider chain wraps once a second: the update cycle.
const TICKS_PER_SECOND: u32 = 32_768;
/// UIP rises 244 µs (8 crystal periods) before the update cycle.
const UIP_TICKS: u32 = 8;
/// Leaving divider reset, the first update cycle comes half a second later.
const HALF_SECOND: u32 = 16_384;
const SECONDS_PER_DAY: u64 = 86_400;
/// Registers 00h–7Fh.
const REGISTER_COUNT: usize = 128;

// Register indices.
const SECONDS: u8 = 0x00;
const SECONDS_ALARM: u8 = 0x01;
const MINUTES: u8 = 0x02;
const MINUTES_ALARM: u8 = 0x03;
const HOURS: u8 = 0x04;
const HOURS_ALARM: u8 = 0x05;
const DAY_OF_WEEK: u8 = 0x06;
const DATE: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const REGISTER_A: u8 = 0x0A;
const REGISTER_B: u8 = 0x0B;
const REGISTER_C: u8 = 0x0C;
const REGISTER_D: u8 = 0x0D;
/// The first byte of CMOS RAM.
const RAM: u8 = 0x0E;

// Register A.
/// Update in progress.
const UIP: u8 = 1 << 7;
/// DV2–DV0: the divider chain's setting.
const DV: u8 = 0x70;
/// DV = 010: a 32.768 kHz time base, divider running. Every other setting
/// stops the PC's clock (11x holds the divider in reset).
const DV_32768_HZ: u8 = 0x20;
/// RS3–RS0: periodic interrupt rate.
const RS: u8 = 0x0F;
/// A at power-on as the BIOS leaves it: divider running, 1024 Hz periodic rate.
const POWER_ON_A: u8 = DV_32768_HZ | 0x06;

// Register B.
/// SET: updates stop so the guest can set the time.
const SET: u8 = 1 << 7;
/// Periodic interrupt enable.
const PIE: u8 = 1 << 6;
/// Alarm interrupt enable.
const AIE: u8 = 1 << 5;
/// Update-ended interrupt enable.
const UIE: u8 = 1 << 4;
/// DM: time registers in binary, not BCD.
const DM: u8 = 1 << 2;
/// 24/12: 24-hour mode.
const HOUR_24: u8 = 1 << 1;
/// DSE: daylight saving enable.
const DSE: u8 = 1 << 0;
/// B at power-on as the BIOS leaves it: BCD, 24-hour.
const POWER_ON_B: u8 = HOUR_24;

// Register C.
const IRQF: u8 = 1 << 7;
/// Periodic flag.
const PF: u8 = 1 << 6;
/// Alarm flag.
const AF: u8 = 1 << 5;
/// Update-ended flag.
const UF: u8 = 1 << 4;
/// The flags, at the same bits as their enables in B.
const FLAGS: u8 = PF | AF | UF;

/// Register D: valid RAM and time, always.
const VRT: u8 = 1 << 7;

/// In 12-hour mode, bit 7 of the hours marks PM.
const PM: u8 = 1 << 7;
/// An alarm byte of C0h–FFh matches every value.
const DONT_CARE: u8 = 0xC0;

/// Calendar time, kept in binary and 24-hour form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Time {
    year: i64,
    month: u8,
    day: u8,
    /// 1 = Sunday … 7 = Saturday; the chip counts it on its own.
    weekday: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Time {
    fn from_unix(seconds: u64) -> Self {
        let days = seconds / SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days as i64);
        let mut time = Time {
            year,
            month,
            day,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4) % 7 + 1) as u8,
            hour: 0,
            minute: 0,
            second: 0,
        };
        time.set_second_of_day(seconds % SECONDS_PER_DAY);
        time
    }

    /// Seconds since midnight (beyond a day if the guest wrote nonsense).
    fn second_of_day(&self) -> u64 {
        u64::from(self.hour) * 3600 + u64::from(self.minute) * 60 + u64::from(self.second)
    }

    fn set_second_of_day(&mut self, second: u64) {
        self.hour = (second / 3600) as u8;
        self.minute = (second / 60 % 60) as u8;
        self.second = (second % 60) as u8;
    }

    /// The time `seconds` later, across days, months and years.
    fn advance(&mut self, seconds: u64) {
        let total = self.second_of_day() + seconds;
        self.set_second_of_day(total % SECONDS_PER_DAY);
        let days = total / SECONDS_PER_DAY;
        if days > 0 {
            self.weekday = ((u64::from(self.weekday) + 6 + days) % 7 + 1) as u8;
            let today = days_from_civil(self.year, self.month, self.day);
            (self.year, self.month, self.day) = civil_from_days(today + days as i64);
        }
    }
}

/// Days from 1970-01-01 to a date of the Gregorian calendar (H. Hinnant's
/// `days_from_civil`: years start in March, so the leap day comes last).
/// Days past the month's end run into the next months.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    if !(1..=12).contains(&month) {
        log::debug!("RTC: invalid month {month}");
    }
    let month = i64::from(month.clamp(1, 12));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The Gregorian date `days` days after 1970-01-01 (H. Hinnant's
/// `civil_from_days`): year, month (1–12), day of the month (1–31).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

fn to_bcd(value: u8) -> u8 {
    ((value / 10 % 10) << 4) | (value % 10)
}

fn from_bcd(value: u8) -> u8 {
    (value >> 4) * 10 + (value & 0xF)
}

/// The MC146818A with 128 bytes of registers and CMOS RAM.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rtc {
    /// The time registers' contents.
    time: Time,
    /// Registers 00h–7Fh, apart from the time (kept in `time`) and D (constant).
    registers: Vec<u8>,
    /// The register port 71h reaches.
    index: u8,
    /// Port 70h bit 7: NMI masked.
    nmi_masked: bool,
    /// Crystal periods up to the last catch-up.
    ticks: u64,
    /// The divider chain, in crystal periods since the last update cycle.
    divider: u32,
}

impl Rtc {
    /// The clock showing `start` (Unix seconds, UTC) at virtual time 0, the
    /// registers as the BIOS leaves them (BCD, 24-hour, divider running), the
    /// CMOS RAM zero.
    pub fn new(start: u64) -> Self {
        let mut registers = vec![0; REGISTER_COUNT];
        registers[usize::from(REGISTER_A)] = POWER_ON_A;
        registers[usize::from(REGISTER_B)] = POWER_ON_B;
        Rtc {
            time: Time::from_unix(start),
            registers,
            index: 0,
            nmi_masked: false,
            ticks: 0,
            divider: 0,
        }
    }

    pub fn read(&mut self, now: u64, offset: u16) -> u8 {
        self.catch_up(now);
        match offset {
            DATA => self.read_register(self.index),
            _ => {
                log::debug!("RTC: read from offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, now: u64, offset: u16, value: u8) {
        self.catch_up(now);
        match offset {
            INDEX => {
                self.index = value & 0x7F;
                self.nmi_masked = value & 0x80 != 0;
            }
            DATA => self.write_register(self.index, value),
            _ => log::debug!("RTC: write {value:#04x} to offset {offset}"),
        }
    }

    /// The IRQ output at `now` (IRQF).
    pub fn irq_level(&mut self, now: u64) -> bool {
        self.catch_up(now);
        self.irq()
    }

    /// When the IRQ output next rises by itself after `now`: the next periodic
    /// interrupt or update cycle whose interrupt is enabled. `None` if it is
    /// already high (only reading C lowers it) or nothing is enabled.
    pub fn next_event(&self, now: u64) -> Option<u64> {
        let mut rtc = self.clone();
        rtc.catch_up(now);
        if rtc.irq() || !rtc.divider_running() {
            return None;
        }
        let b = rtc.register(REGISTER_B);
        let divider = u64::from(rtc.divider);
        let periodic = rtc
            .periodic_period()
            .filter(|_| b & PIE != 0)
            .map(|period| period - divider % period);
        let update =
            (b & (AIE | UIE) != 0 && b & SET == 0).then(|| u64::from(TICKS_PER_SECOND) - divider);
        let ticks = periodic.into_iter().chain(update).min()?;
        Some(time_of_cycle(rtc.ticks + ticks, CRYSTAL_HZ))
    }

    /// Port 70h bit 7, which the board applies to the NMI line.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// Sets a byte of CMOS RAM (0Eh–7Fh), as the BIOS would have.
    pub fn set_nvram(&mut self, index: u8, value: u8) {
        if (RAM..=0x7F).contains(&index) {
            self.set_register(index, value);
        } else {
            log::debug!("RTC: {index:#04x} is not CMOS RAM");
        }
    }

    /// Recomputes the AT's CMOS checksum: the sum of bytes 10h–2Dh, stored
    /// at 2Eh (high byte) and 2Fh (low byte).
    pub fn update_checksum(&mut self) {
        let sum: u16 = (CHECKSUM_FIRST..=CHECKSUM_LAST)
            .map(|index| u16::from(self.register(index)))
            .sum();
        let [high, low] = sum.to_be_bytes();
        self.set_register(CHECKSUM, high);
        self.set_register(CHECKSUM + 1, low);
    }

    fn read_register(&mut self, index: u8) -> u8 {
        match index {
            SECONDS => self.encode(self.time.second),
            MINUTES => self.encode(self.time.minute),
            HOURS => self.encode_hour(self.time.hour),
            DAY_OF_WEEK => self.encode(self.time.weekday),
            DATE => self.encode(self.time.day),
            MONTH => self.encode(self.time.month),
            YEAR => self.encode(self.time.year.rem_euclid(100) as u8),
            REGISTER_A if self.update_in_progress() => self.register(REGISTER_A) | UIP,
            REGISTER_C => {
                // Reading C clears the flags, and with them the IRQ.
                let irqf = if self.irq() { IRQF } else { 0 };
                let flags = self.register(REGISTER_C);
                self.set_register(REGISTER_C, 0);
                irqf | flags
            }
            REGISTER_D => VRT,
            _ => self.register(index),
        }
    }

    fn write_register(&mut self, index: u8, value: u8) {
        match index {
            SECONDS => self.time.second = self.decode(value),
            MINUTES => self.time.minute = self.decode(value),
            HOURS => self.time.hour = self.decode_hour(value),
            DAY_OF_WEEK => self.time.weekday = self.decode(value),
            DATE => self.time.day = self.decode(value),
            MONTH => self.time.month = self.decode(value),
            YEAR => {
                let century = self.time.year - self.time.year.rem_euclid(100);
                self.time.year = century + i64::from(self.decode(value));
            }
            REGISTER_A => self.write_a(value),
            REGISTER_B => self.write_b(value),
            REGISTER_C | REGISTER_D => {
                log::debug!("RTC: write {value:#04x} to read-only register {index:#04x}");
            }
            _ => self.set_register(index, value),
        }
    }

    fn write_a(&mut self, value: u8) {
        let was_running = self.divider_running();
        self.set_register(REGISTER_A, value & !UIP);
        if value & DV != DV_32768_HZ {
            log::debug!("RTC: divider setting {value:#04x} stops the clock");
        } else if !was_running {
            self.divider = TICKS_PER_SECOND - HALF_SECOND;
        }
    }

    fn write_b(&mut self, value: u8) {
        // MC146818A: setting SET also clears UIE.
        let value = if value & SET != 0 {
            value & !UIE
        } else {
            value
        };
        if value & DSE != 0 {
            log::debug!("RTC: daylight saving not modelled");
        }
        self.set_register(REGISTER_B, value);
    }

    fn register(&self, index: u8) -> u8 {
        self.registers
            .get(usize::from(index))
            .copied()
            .unwrap_or(0xFF)
    }

    fn set_register(&mut self, index: u8, value: u8) {
        if let Some(register) = self.registers.get_mut(usize::from(index)) {
            *register = value;
        }
    }

    /// IRQF: a flag is set whose interrupt is enabled.
    fn irq(&self) -> bool {
        self.register(REGISTER_C) & self.register(REGISTER_B) & FLAGS != 0
    }

    fn divider_running(&self) -> bool {
        self.register(REGISTER_A) & DV == DV_32768_HZ
    }

    fn updates_enabled(&self) -> bool {
        self.divider_running() && self.register(REGISTER_B) & SET == 0
    }

    fn update_in_progress(&self) -> bool {
        self.updates_enabled() && self.divider >= TICKS_PER_SECOND - UIP_TICKS
    }

    /// Crystal periods between periodic interrupts, from A's RS3–RS0: rate
    /// `n` taps the divider at 2^(n-1) periods. With a 32.768 kHz time base,
    /// rates 1 and 2 repeat rates 8 and 9 (256 Hz and 128 Hz).
    fn periodic_period(&self) -> Option<u64> {
        match self.register(REGISTER_A) & RS {
            0 => None,
            rate @ 1..=2 => Some(1 << (rate + 6)),
            rate => Some(1 << (rate - 1)),
        }
    }

    fn binary(&self) -> bool {
        self.register(REGISTER_B) & DM != 0
    }

    fn hour_24(&self) -> bool {
        self.register(REGISTER_B) & HOUR_24 != 0
    }

    /// A time field as the registers show it, BCD or binary.
    fn encode(&self, value: u8) -> u8 {
        if self.binary() {
            value
        } else {
            to_bcd(value)
        }
    }

    fn decode(&self, value: u8) -> u8 {
        if self.binary() {
            value
        } else {
            from_bcd(value)
        }
    }

    /// The hours register: 0–23, or 1–12 with the PM bit.
    fn encode_hour(&self, hour: u8) -> u8 {
        if self.hour_24() {
            return self.encode(hour);
        }
        let pm = if hour >= 12 { PM } else { 0 };
        match hour % 12 {
            0 => self.encode(12) | pm,
            hour => self.encode(hour) | pm,
        }
    }

    fn decode_hour(&self, value: u8) -> u8 {
        if self.hour_24() {
            return self.decode(value);
        }
        let hour = self.decode(value & !PM) % 12;
        if value & PM != 0 {
            hour + 12
        } else {
            hour
        }
    }

    /// The alarm registers match a time of day (C0h–FFh matching anything).
    fn alarm_matches(&self, second_of_day: u64) -> bool {
        let mut time = self.time;
        time.set_second_of_day(second_of_day);
        [
            (SECONDS_ALARM, self.encode(time.second)),
            (MINUTES_ALARM, self.encode(time.minute)),
            (HOURS_ALARM, self.encode_hour(time.hour)),
        ]
        .into_iter()
        .all(|(alarm, value)| {
            let alarm = self.register(alarm);
            alarm & DONT_CARE == DONT_CARE || alarm == value
        })
    }

    /// Runs the divider chain up to `now`: periodic flags and update cycles.
    fn catch_up(&mut self, now: u64) {
        let elapsed = cycles_at(now, CRYSTAL_HZ).saturating_sub(self.ticks);
        self.ticks += elapsed;
        if elapsed == 0 || !self.divider_running() {
            return;
        }
        let before = u64::from(self.divider);
        let after = before + elapsed;
        if let Some(period) = self.periodic_period() {
            if after / period > before / period {
                self.raise(PF);
            }
        }
        let updates = after / u64::from(TICKS_PER_SECOND);
        self.divider = (after % u64::from(TICKS_PER_SECOND)) as u32;
        if updates > 0 && self.updates_enabled() {
            self.update(updates);
        }
    }

    /// `seconds` update cycles: the time advances, UF is set, and AF if a
    /// new time matched the alarm.
    fn update(&mut self, seconds: u64) {
        if self.register(REGISTER_C) & AF == 0 {
            // Only the time of day matters: a day of updates meets them all.
            let start = self.time.second_of_day();
            let first = seconds - seconds.min(SECONDS_PER_DAY) + 1;
            if (first..=seconds).any(|s| self.alarm_matches((start + s) % SECONDS_PER_DAY)) {
                self.raise(AF);
            }
        }
        self.time.advance(seconds);
        self.raise(UF);
    }

    fn raise(&mut self, flag: u8) {
        let flags = self.register(REGISTER_C) | flag;
        self.set_register(REGISTER_C, flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;
    /// 2021-03-14 15:09:26 UTC, a Sunday.
    const PI_DAY: u64 = 1_615_734_566;

    fn get(rtc: &mut Rtc, now: u64, index: u8) -> u8 {
        rtc.write(now, INDEX, index);
        rtc.read(now, DATA)
    }

    fn set(rtc: &mut Rtc, now: u64, index: u8, value: u8) {
        rtc.write(now, INDEX, index);
        rtc.write(now, DATA, value);
    }

    /// Registers 0, 2, 4, 6, 7, 8, 9: seconds, minutes, hours, day of week,
    /// date, month, year.
    fn clock(rtc: &mut Rtc, now: u64) -> [u8; 7] {
        [SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DATE, MONTH, YEAR].map(|i| get(rtc, now, i))
    }

    #[test]
    fn time_reads_in_bcd_or_binary() {
        // MC146818A datasheet, register B DM: 0 BCD, 1 binary.
        let mut rtc = Rtc::new(PI_DAY);
        assert_eq!(
            clock(&mut rtc, 0),
            [0x26, 0x09, 0x15, 0x01, 0x14, 0x03, 0x21]
        );
        set(&mut rtc, 0, REGISTER_B, DM | HOUR_24);
        assert_eq!(clock(&mut rtc, 0), [26, 9, 15, 1, 14, 3, 21]);
        set(&mut rtc, 0, MINUTES, 59);
        set(&mut rtc, 0, REGISTER_B, HOUR_24);
        assert_eq!(get(&mut rtc, 0, MINUTES), 0x59);
    }

    #[test]
    fn twelve_hour_mode_marks_pm_in_bit_7() {
        // MC146818A datasheet: 12-hour hours are 1–12, bit 7 set for PM.
        let mut rtc = Rtc::new(PI_DAY);
        set(&mut rtc, 0, REGISTER_B, 0);
        assert_eq!(get(&mut rtc, 0, HOURS), 0x83);
        set(&mut rtc, 0, HOURS, 0x12);
        set(&mut rtc, 0, REGISTER_B, HOUR_24);
        assert_eq!(get(&mut rtc, 0, HOURS), 0x00, "12 AM is midnight");
        set(&mut rtc, 0, REGISTER_B, 0);
        set(&mut rtc, 0, HOURS, 0x92);
        set(&mut rtc, 0, REGISTER_B, HOUR_24);
        assert_eq!(get(&mut rtc, 0, HOURS), 0x12, "12 PM is noon");
        set(&mut rtc, 0, HOURS, 0x23);
        set(&mut rtc, 0, REGISTER_B, DM);
        assert_eq!(get(&mut rtc, 0, HOURS), 0x8B, "binary 11 PM");
    }

    #[test]
    fn uip_is_set_for_the_244_us_before_the_update() {
        // MC146818A datasheet, register A UIP: an update occurs within 244 µs.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        let uip_from = time_of_cycle(32_760, CRYSTAL_HZ);
        assert_eq!(uip_from, 999_755_860);
        assert_eq!(get(&mut rtc, uip_from - 1, REGISTER_A), 0x26);
        assert_eq!(get(&mut rtc, uip_from, REGISTER_A), 0xA6);
        assert_eq!(get(&mut rtc, SECOND - 1, REGISTER_A), 0xA6);
        assert_eq!(
            get(&mut rtc, SECOND - 1, SECONDS),
            0x00,
            "the old time until the update"
        );
        assert_eq!(get(&mut rtc, SECOND, REGISTER_A), 0x26);
        assert_eq!(get(&mut rtc, SECOND, SECONDS), 0x01);
        set(&mut rtc, SECOND, REGISTER_B, SET | HOUR_24);
        assert_eq!(
            get(&mut rtc, 2 * SECOND - 1, REGISTER_A),
            0x26,
            "no UIP while SET"
        );
    }

    #[test]
    fn update_cycle_carries_into_the_next_year() {
        let mut rtc = Rtc::new(946_684_799); // 1999-12-31 23:59:59, a Friday
        assert_eq!(
            clock(&mut rtc, 0),
            [0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99]
        );
        assert_eq!(
            clock(&mut rtc, SECOND),
            [0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00]
        );
        assert_eq!(get(&mut rtc, 2 * SECOND, SECONDS), 0x01);
    }

    #[test]
    fn leap_years_follow_the_gregorian_calendar() {
        for (start, date, month) in [
            (951_782_399, 0x29, 0x02),   // 2000-02-28 23:59:59: 2000 is leap
            (4_107_542_399, 0x01, 0x03), // 2100-02-28 23:59:59: 2100 is not
            (1_709_251_199, 0x01, 0x03), // 2024-02-29 23:59:59
            (1_682_899_199, 0x01, 0x05), // 2023-04-30 23:59:59
        ] {
            let mut rtc = Rtc::new(start);
            assert_eq!(get(&mut rtc, SECOND, DATE), date, "{start}");
            assert_eq!(get(&mut rtc, SECOND, MONTH), month, "{start}");
        }
    }

    #[test]
    fn a_late_catch_up_counts_every_second() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME); // a Saturday
        let now = (366 * 86_400 + 3661) * SECOND;
        // 2000 was a leap year: 2001-01-01 01:01:01, a Monday.
        assert_eq!(
            clock(&mut rtc, now),
            [0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01]
        );
    }

    #[test]
    fn periodic_interrupt_rate_follows_rs() {
        // MC146818A datasheet, periodic interrupt rate table (32.768 kHz time base).
        for (rs, hz) in [(6, 1024), (3, 8192), (15, 2), (1, 256), (2, 128)] {
            let mut rtc = Rtc::new(DEFAULT_START_TIME);
            set(&mut rtc, 0, REGISTER_A, DV_32768_HZ | rs);
            set(&mut rtc, 0, REGISTER_B, PIE | HOUR_24);
            let period = time_of_cycle(32_768 / hz, CRYSTAL_HZ);
            assert_eq!(rtc.next_event(0), Some(period), "RS {rs}");
            let mut now = 0;
            let mut interrupts = 0;
            while let Some(next) = rtc.next_event(now).filter(|&t| t <= SECOND) {
                now = next;
                assert!(rtc.irq_level(now));
                assert_eq!(get(&mut rtc, now, REGISTER_C) & (IRQF | PF), IRQF | PF);
                assert!(!rtc.irq_level(now));
                interrupts += 1;
            }
            assert_eq!(interrupts, hz, "RS {rs}");
        }
    }

    #[test]
    fn flags_are_set_without_their_interrupts() {
        // MC146818A datasheet, register C: PF, AF and UF are set whatever B
        // enables; IRQF only for enabled ones.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        assert_eq!(rtc.next_event(0), None);
        assert!(!rtc.irq_level(SECOND));
        assert_eq!(get(&mut rtc, SECOND, REGISTER_C), PF | UF);
        set(&mut rtc, SECOND, REGISTER_A, DV_32768_HZ);
        assert!(!rtc.irq_level(3 * SECOND));
        assert_eq!(
            get(&mut rtc, 3 * SECOND, REGISTER_C),
            UF,
            "RS = 0: no periodic flag"
        );
    }

    #[test]
    fn alarm_fires_at_the_alarm_time() {
        // MC146818A datasheet: AF is set when the time matches the three
        // alarm bytes.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, SECONDS_ALARM, 0x05);
        set(&mut rtc, 0, REGISTER_B, AIE | HOUR_24);
        assert_eq!(get(&mut rtc, 0, REGISTER_C), 0);
        assert_eq!(rtc.next_event(0), Some(SECOND));
        assert!(!rtc.irq_level(5 * SECOND - 1));
        assert!(rtc.irq_level(5 * SECOND));
        assert_eq!(get(&mut rtc, 5 * SECOND, REGISTER_C), IRQF | PF | AF | UF);
        assert!(!rtc.irq_level(60 * SECOND));
        assert_eq!(get(&mut rtc, 60 * SECOND, REGISTER_C), PF | UF);
    }

    #[test]
    fn alarm_bytes_c0_to_ff_match_anything() {
        // MC146818A datasheet: a "don't care" code (11xxxxxx) in an alarm
        // byte matches every value.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, SECONDS_ALARM, 0x30);
        set(&mut rtc, 0, MINUTES_ALARM, 0xC0);
        set(&mut rtc, 0, HOURS_ALARM, 0xFF);
        set(&mut rtc, 0, REGISTER_B, AIE | HOUR_24);
        assert!(rtc.irq_level(30 * SECOND));
        get(&mut rtc, 30 * SECOND, REGISTER_C);
        assert!(!rtc.irq_level(90 * SECOND - 1));
        assert!(rtc.irq_level(90 * SECOND), "every minute at :30");
        get(&mut rtc, 90 * SECOND, REGISTER_C);
        set(&mut rtc, 90 * SECOND, SECONDS_ALARM, 0xC0);
        assert!(rtc.irq_level(91 * SECOND), "every second");
    }

    #[test]
    fn alarm_is_found_in_a_late_catch_up() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, HOURS_ALARM, 0x12);
        set(&mut rtc, 0, REGISTER_B, AIE | HOUR_24);
        assert!(!rtc.irq_level(12 * 3600 * SECOND - 1));
        assert!(rtc.irq_level(13 * 3600 * SECOND));
        get(&mut rtc, 13 * 3600 * SECOND, REGISTER_C);
        set(&mut rtc, 13 * 3600 * SECOND, HOURS_ALARM, 0x25);
        assert!(
            !rtc.irq_level(5 * 86_400 * SECOND),
            "an hour that never comes"
        );
    }

    #[test]
    fn update_ended_interrupt_and_reading_c() {
        // MC146818A datasheet, register C: reading clears all flags and IRQF,
        // releasing the IRQ line.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, REGISTER_B, UIE | HOUR_24);
        assert_eq!(rtc.next_event(0), Some(SECOND));
        assert!(rtc.irq_level(SECOND));
        assert_eq!(rtc.next_event(SECOND), None, "high until C is read");
        assert_eq!(get(&mut rtc, SECOND, REGISTER_C), IRQF | PF | UF);
        assert_eq!(get(&mut rtc, SECOND, REGISTER_C), 0);
        assert!(!rtc.irq_level(SECOND));
        assert_eq!(rtc.next_event(SECOND), Some(2 * SECOND));
    }

    #[test]
    fn enabling_an_interrupt_with_its_flag_set_raises_irq() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        assert!(!rtc.irq_level(SECOND));
        set(&mut rtc, SECOND, REGISTER_B, UIE | HOUR_24);
        assert!(rtc.irq_level(SECOND));
        set(&mut rtc, SECOND, REGISTER_B, HOUR_24);
        assert!(!rtc.irq_level(SECOND));
    }

    #[test]
    fn set_freezes_the_clock_until_cleared() {
        // MC146818A datasheet, register B SET: updates stop so the time can
        // be written; clearing SET lets them resume from the written time.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, SECOND / 2, REGISTER_B, SET | UIE | HOUR_24);
        assert_eq!(
            get(&mut rtc, SECOND / 2, REGISTER_B),
            SET | HOUR_24,
            "SET clears UIE"
        );
        assert_eq!(get(&mut rtc, 3 * SECOND + SECOND / 5, SECONDS), 0x00);
        let now = 3 * SECOND + SECOND / 5;
        for (index, value) in [
            (SECONDS, 0x58),
            (MINUTES, 0x59),
            (HOURS, 0x23),
            (DAY_OF_WEEK, 0x03),
            (DATE, 0x28),
            (MONTH, 0x02),
            (YEAR, 0x24),
        ] {
            set(&mut rtc, now, index, value);
        }
        assert_eq!(get(&mut rtc, 3 * SECOND + SECOND / 2, SECONDS), 0x58);
        set(&mut rtc, 3 * SECOND + SECOND / 2, REGISTER_B, HOUR_24);
        assert_eq!(get(&mut rtc, 4 * SECOND - 1, SECONDS), 0x58);
        assert_eq!(
            clock(&mut rtc, 4 * SECOND),
            [0x59, 0x59, 0x23, 0x03, 0x28, 0x02, 0x24]
        );
        assert_eq!(
            clock(&mut rtc, 5 * SECOND),
            [0x00, 0x00, 0x00, 0x04, 0x29, 0x02, 0x24]
        );
    }

    #[test]
    fn leaving_divider_reset_the_first_update_comes_half_a_second_later() {
        // MC146818A datasheet, register A DV: from reset, the first update
        // cycle begins one-half second after DV is set to 010.
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, SECOND / 3, REGISTER_A, 0x70);
        assert_eq!(get(&mut rtc, 5 * SECOND, SECONDS), 0x00);
        set(&mut rtc, 5 * SECOND, REGISTER_A, 0x26);
        assert_eq!(get(&mut rtc, 5 * SECOND + SECOND / 2 - 1, SECONDS), 0x00);
        assert_eq!(get(&mut rtc, 5 * SECOND + SECOND / 2, SECONDS), 0x01);
    }

    #[test]
    fn year_register_keeps_the_century() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, REGISTER_B, SET | HOUR_24);
        for (index, value) in [(YEAR, 0x99), (MONTH, 0x12), (DATE, 0x31)] {
            set(&mut rtc, 0, index, value);
        }
        set(&mut rtc, 0, HOURS, 0x23);
        set(&mut rtc, 0, MINUTES, 0x59);
        set(&mut rtc, 0, SECONDS, 0x59);
        set(&mut rtc, 0, REGISTER_B, HOUR_24);
        assert_eq!(clock(&mut rtc, SECOND)[4..], [0x01, 0x01, 0x00]);
        // 2100 is no leap year.
        let now = SECOND + 59 * 86_400 * SECOND;
        assert_eq!(clock(&mut rtc, now)[4..], [0x01, 0x03, 0x00]);
    }

    #[test]
    fn registers_c_and_d_are_read_only() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, REGISTER_D, 0x00);
        assert_eq!(get(&mut rtc, 0, REGISTER_D), VRT);
        set(&mut rtc, 0, REGISTER_C, 0xF0);
        assert_eq!(get(&mut rtc, 0, REGISTER_C), 0x00);
    }

    #[test]
    fn port_70_bit_7_masks_nmi() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        rtc.write(0, INDEX, 0x8F);
        assert!(rtc.nmi_masked());
        rtc.write(0, DATA, 0x5A);
        rtc.write(0, INDEX, 0x0F);
        assert!(!rtc.nmi_masked());
        assert_eq!(rtc.read(0, DATA), 0x5A, "index 0Fh either way");
        assert_eq!(rtc.read(0, INDEX), 0xFF);
    }

    #[test]
    fn checksum_covers_bytes_10h_to_2dh() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        rtc.set_nvram(0x10, 0x40);
        rtc.set_nvram(0x14, 0x0D);
        rtc.set_nvram(0x2D, 0xFF);
        rtc.set_nvram(0x30, 0xAA); // outside the sum
        rtc.set_nvram(REGISTER_B, 0xFF); // not CMOS RAM: ignored
        rtc.update_checksum();
        assert_eq!(get(&mut rtc, 0, CHECKSUM), 0x01);
        assert_eq!(get(&mut rtc, 0, CHECKSUM + 1), 0x4C);
        assert_eq!(get(&mut rtc, 0, REGISTER_B), HOUR_24);
    }

    #[test]
    fn calendar_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        );
    }

    #[test]
    fn guest_nonsense_does_not_panic() {
        let mut rtc = Rtc::new(DEFAULT_START_TIME);
        set(&mut rtc, 0, REGISTER_B, SET);
        for index in 0..10 {
            set(&mut rtc, 0, index, 0xFF);
        }
        set(&mut rtc, 0, REGISTER_B, 0x7F);
        rtc.irq_level(100 * 86_400 * SECOND);
        for index in 0..=0x7F {
            get(&mut rtc, 100 * 86_400 * SECOND, index);
        }
        rtc.next_event(u64::MAX);
        rtc.irq_level(u64::MAX);
    }
}
