//! The National Semiconductor PC16550D UART, the PC's serial port.
//!
//! | offset | read | write | with DLAB (LCR bit 7) set |
//! |--------|------|-------|---------------------------|
//! | 0 | RBR receiver buffer | THR transmitter holding | DLL divisor latch, low byte |
//! | 1 | IER interrupt enable | IER | DLM divisor latch, high byte |
//! | 2 | IIR interrupt identification | FCR FIFO control | |
//! | 3 | LCR line control | LCR | |
//! | 4 | MCR modem control | MCR | |
//! | 5 | LSR line status | (read-only) | |
//! | 6 | MSR modem status | (read-only) | |
//! | 7 | SCR scratch | SCR | |
//!
//! The baud rate is 115200 / divisor (the PC's 1.8432 MHz crystal divided by
//! 16); a divisor of 0 counts as 65536. A character takes a start bit, the
//! data bits, the parity bit and the stop bits on the line: the transmitter
//! takes a byte from the THR (or transmit FIFO) one bit time after it was
//! written to an idle transmitter, and back-to-back thereafter; the byte
//! reaches the far end ([`Uart16550::take_tx`]) when its last stop bit has
//! been sent.
//!
//! The far end's bytes arrive whole through [`Uart16550::receive`]; the board
//! paces them with [`Uart16550::rx_space`]. The virtual line has no noise: the
//! parity and framing error bits (LSR bits 2 and 3) are never set, but the far
//! end can send a break.
//!
//! On a PC the interrupt output reaches the PIC only while MCR bit 3 (OUT2)
//! drives the board's gate, so [`Uart16550::irq_level`] is low unless OUT2 is
//! set, and in loopback mode, which forces the modem control outputs inactive.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The baud rate for a divisor of 1: 1.8432 MHz / 16.
const BAUD_BASE: u64 = 115_200;
const NS_PER_SECOND: u64 = 1_000_000_000;
/// Bytes in each FIFO.
const FIFO_SIZE: usize = 16;
/// Divisor latch value at power-on (9600 baud); the datasheet leaves it undefined.
const POWER_ON_DIVISOR: u16 = 12;

// Interrupt enable register.
/// Enable received data available (and character time-out) interrupt.
const IER_ERBFI: u8 = 1 << 0;
/// Enable transmitter holding register empty interrupt.
const IER_ETBEI: u8 = 1 << 1;
/// Enable receiver line status interrupt.
const IER_ELSI: u8 = 1 << 2;
/// Enable modem status interrupt.
const IER_EDSSI: u8 = 1 << 3;

// Interrupt identification register: bits 0-3 name the highest-priority
// pending interrupt, bits 6-7 are set while the FIFOs are enabled.
const IIR_NO_INTERRUPT: u8 = 0x01;
const IIR_RECEIVER_LINE_STATUS: u8 = 0x06;
const IIR_RECEIVED_DATA: u8 = 0x04;
const IIR_CHARACTER_TIMEOUT: u8 = 0x0C;
const IIR_THR_EMPTY: u8 = 0x02;
const IIR_MODEM_STATUS: u8 = 0x00;
const IIR_FIFOS_ENABLED: u8 = 0xC0;

// FIFO control register.
const FCR_ENABLE: u8 = 1 << 0;
const FCR_RX_RESET: u8 = 1 << 1;
const FCR_TX_RESET: u8 = 1 << 2;

// Line control register.
/// Word length select: 5 + bits 0-1 data bits.
const LCR_WLS: u8 = 0x03;
/// Stop bits: 1, or 2 (1.5 with 5-bit words).
const LCR_STB: u8 = 1 << 2;
const LCR_PARITY_ENABLE: u8 = 1 << 3;
/// Divisor latch access bit.
const LCR_DLAB: u8 = 1 << 7;

// Modem control register.
const MCR_DTR: u8 = 1 << 0;
const MCR_RTS: u8 = 1 << 1;
const MCR_OUT1: u8 = 1 << 2;
const MCR_OUT2: u8 = 1 << 3;
const MCR_LOOP: u8 = 1 << 4;
const MCR_WRITABLE: u8 = 0x1F;

// Line status register.
/// Data ready.
const LSR_DR: u8 = 1 << 0;
/// Overrun error.
const LSR_OE: u8 = 1 << 1;
/// Break interrupt.
const LSR_BI: u8 = 1 << 4;
/// Transmitter holding register (or FIFO) empty.
const LSR_THRE: u8 = 1 << 5;
/// Transmitter empty: THR and shift register both.
const LSR_TEMT: u8 = 1 << 6;
/// A character with an error is in the receive FIFO.
const LSR_RX_FIFO_ERROR: u8 = 1 << 7;

// Modem status register: bits 4-7 are the lines, bits 0-3 note changes.
const MSR_CTS: u8 = 1 << 4;
const MSR_DSR: u8 = 1 << 5;
const MSR_RI: u8 = 1 << 6;
const MSR_DCD: u8 = 1 << 7;
const MSR_LINES: u8 = 0xF0;
const MSR_DELTAS: u8 = 0x0F;

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

/// The modem control inputs driven by the far end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemInputs {
    /// Clear to send.
    pub cts: bool,
    /// Data set ready.
    pub dsr: bool,
    /// Ring indicator.
    pub ri: bool,
    /// Data carrier detect.
    pub dcd: bool,
}

impl Default for ModemInputs {
    /// A connected terminal that is ready: CTS, DSR and DCD asserted.
    fn default() -> Self {
        ModemInputs {
            cts: true,
            dsr: true,
            ri: false,
            dcd: true,
        }
    }
}

/// A character in the receiver.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct RxChar {
    byte: u8,
    /// Received as a break: the line held spacing for a whole character.
    is_break: bool,
}

/// The character in the transmitter shift register.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Shifting {
    byte: u8,
    /// Virtual time at which its last stop bit has been sent.
    done_at: u64,
}

/// A 16550A UART.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Uart16550 {
    divisor: u16,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    fifo_enabled: bool,
    /// Receive FIFO trigger level, in characters (FCR bits 6-7).
    rx_trigger: usize,
    /// The receive FIFO, or with FIFOs off the receiver buffer register.
    rx: VecDeque<RxChar>,
    /// The character last read, which reads again from an empty receiver.
    rbr: u8,
    /// Overrun and break bits, latched until the LSR is read.
    line_errors: u8,
    /// Virtual time a character last went into or out of the receive FIFO.
    rx_activity_at: u64,
    /// The character time-out indication.
    char_timeout: bool,
    /// The transmit FIFO, or with FIFOs off the transmitter holding register.
    tx: VecDeque<u8>,
    /// When the idle transmitter takes the next byte from `tx`.
    tx_start_at: u64,
    tsr: Option<Shifting>,
    /// The THR empty interrupt, until the IIR reports it or the THR is written.
    thre_interrupt: bool,
    /// Modem lines (bits 4-7) and their latched changes (bits 0-3).
    msr: u8,
    inputs: ModemInputs,
    /// Bytes that have reached the far end.
    transmitted: Vec<u8>,
}

impl Default for Uart16550 {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart16550 {
    /// The UART after a master reset.
    pub fn new() -> Self {
        let mut uart = Uart16550 {
            divisor: POWER_ON_DIVISOR,
            ier: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            fifo_enabled: false,
            rx_trigger: 1,
            rx: VecDeque::new(),
            rbr: 0,
            line_errors: 0,
            rx_activity_at: 0,
            char_timeout: false,
            tx: VecDeque::new(),
            tx_start_at: 0,
            tsr: None,
            thre_interrupt: false,
            msr: 0,
            inputs: ModemInputs::default(),
            transmitted: Vec::new(),
        };
        uart.msr = uart.modem_lines();
        uart
    }

    pub fn read(&mut self, now: u64, offset: u16) -> u8 {
        self.advance(now);
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor.to_le_bytes()[0],
            0 => self.read_rbr(now),
            1 if dlab => self.divisor.to_le_bytes()[1],
            1 => self.ier,
            2 => self.read_iir(),
            3 => self.lcr,
            4 => self.mcr,
            5 => self.read_lsr(),
            6 => self.read_msr(),
            7 => self.scr,
            _ => {
                log::debug!("uart16550: read of unmapped offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, now: u64, offset: u16, value: u8) {
        self.advance(now);
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.divisor = self.divisor & 0xFF00 | u16::from(value),
            0 => self.write_thr(now, value),
            1 if dlab => self.divisor = self.divisor & 0x00FF | u16::from(value) << 8,
            1 => self.write_ier(value),
            2 => self.write_fcr(value),
            3 => self.lcr = value,
            4 => {
                self.mcr = value & MCR_WRITABLE;
                self.update_modem_status();
            }
            7 => self.scr = value,
            _ => log::debug!("uart16550: write {value:#04x} to read-only offset {offset}"),
        }
    }

    /// The interrupt line as the PIC sees it.
    pub fn irq_level(&self) -> bool {
        self.mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2 && self.pending_interrupt().is_some()
    }

    /// A byte from the far end, complete at virtual time `now`. The
    /// receiver is disconnected from the line in loopback mode.
    pub fn receive(&mut self, now: u64, byte: u8) {
        self.receive_from_line(
            now,
            RxChar {
                byte: byte & self.word_mask(),
                is_break: false,
            },
        );
    }

    /// The far end held the line spacing for a character time: a break,
    /// received as a 00 character with the break interrupt bit.
    pub fn receive_break(&mut self, now: u64) {
        self.receive_from_line(
            now,
            RxChar {
                byte: 0,
                is_break: true,
            },
        );
    }

    /// How many characters the receiver can take without overrun (none in
    /// loopback mode, where it listens to the transmitter).
    pub fn rx_space(&self) -> usize {
        if self.mcr & MCR_LOOP != 0 {
            0
        } else {
            self.fifo_size().saturating_sub(self.rx.len())
        }
    }

    /// The modem control inputs changed.
    pub fn set_modem_inputs(&mut self, inputs: ModemInputs) {
        self.inputs = inputs;
        self.update_modem_status();
    }

    /// Takes the bytes that have reached the far end so far.
    pub fn take_tx(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmitted)
    }

    /// Virtual time of the next character boundary or character time-out.
    pub fn next_event(&self) -> Option<u64> {
        let transmitter = match self.tsr {
            Some(shifting) => Some(shifting.done_at),
            None => (!self.tx.is_empty()).then_some(self.tx_start_at),
        };
        let timeout = (self.fifo_enabled && !self.rx.is_empty() && !self.char_timeout)
            .then(|| self.rx_activity_at + 4 * self.char_time());
        transmitter.into_iter().chain(timeout).min()
    }

    /// Runs the transmitter and the time-out counter up to virtual time `now`.
    pub fn advance(&mut self, now: u64) {
        loop {
            match self.tsr {
                Some(Shifting { byte, done_at }) if done_at <= now => {
                    self.tsr = None;
                    self.tx_start_at = done_at;
                    if self.mcr & MCR_LOOP != 0 {
                        self.receive_char(
                            done_at,
                            RxChar {
                                byte,
                                is_break: false,
                            },
                        );
                    } else {
                        self.transmitted.push(byte);
                    }
                }
                None if !self.tx.is_empty() && self.tx_start_at <= now => {
                    if let Some(byte) = self.tx.pop_front() {
                        let done_at = self.tx_start_at + self.char_time();
                        self.tsr = Some(Shifting { byte, done_at });
                    }
                    if self.tx.is_empty() {
                        self.thre_interrupt = true;
                    }
                }
                _ => break,
            }
        }
        if self.fifo_enabled
            && !self.rx.is_empty()
            && now >= self.rx_activity_at + 4 * self.char_time()
        {
            self.char_timeout = true;
        }
    }

    fn fifo_size(&self) -> usize {
        if self.fifo_enabled {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn data_bits(&self) -> u8 {
        5 + (self.lcr & LCR_WLS)
    }

    /// Bits of a byte that fit in a character of the programmed word length.
    fn word_mask(&self) -> u8 {
        0xFF >> (8 - self.data_bits())
    }

    /// Nanoseconds per bit at the programmed baud rate.
    fn bit_time(&self) -> u64 {
        self.effective_divisor() * NS_PER_SECOND / BAUD_BASE
    }

    /// Nanoseconds per character: start bit, data bits, parity bit, stop bits.
    fn char_time(&self) -> u64 {
        let parity = u64::from(self.lcr & LCR_PARITY_ENABLE != 0);
        let stop_half_bits = match (self.lcr & LCR_STB != 0, self.data_bits()) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + u64::from(self.data_bits()) + parity) + stop_half_bits;
        half_bits * self.effective_divisor() * NS_PER_SECOND / (2 * BAUD_BASE)
    }

    fn effective_divisor(&self) -> u64 {
        match self.divisor {
            0 => 0x1_0000,
            divisor => u64::from(divisor),
        }
    }

    fn read_rbr(&mut self, now: u64) -> u8 {
        if let Some(RxChar { byte, .. }) = self.rx.pop_front() {
            self.rbr = byte;
            self.rx_activity_at = now;
            self.char_timeout = false;
            // The error of the character now at the top shows in the LSR.
            if self.rx.front().is_some_and(|c| c.is_break) {
                self.line_errors |= LSR_BI;
            }
        }
        self.rbr
    }

    fn read_iir(&mut self) -> u8 {
        let id = self.pending_interrupt().unwrap_or(IIR_NO_INTERRUPT);
        if id == IIR_THR_EMPTY {
            self.thre_interrupt = false;
        }
        id | flag(self.fifo_enabled, IIR_FIFOS_ENABLED)
    }

    fn read_lsr(&mut self) -> u8 {
        let thr_empty = self.tx.is_empty();
        let lsr = self.line_errors
            | flag(!self.rx.is_empty(), LSR_DR)
            | flag(thr_empty, LSR_THRE)
            | flag(thr_empty && self.tsr.is_none(), LSR_TEMT)
            | flag(
                self.fifo_enabled && self.rx.iter().any(|c| c.is_break),
                LSR_RX_FIFO_ERROR,
            );
        self.line_errors = 0;
        lsr
    }

    /// Reads the MSR, clearing its change bits.
    fn read_msr(&mut self) -> u8 {
        let msr = self.msr;
        self.msr &= MSR_LINES;
        msr
    }

    /// The highest-priority pending interrupt's IIR code: receiver line
    /// status, then received data available or character time-out, then THR
    /// empty, then modem status.
    fn pending_interrupt(&self) -> Option<u8> {
        let enabled = |bit| self.ier & bit != 0;
        let trigger_level = if self.fifo_enabled {
            self.rx_trigger
        } else {
            1
        };
        [
            (
                enabled(IER_ELSI) && self.line_errors != 0,
                IIR_RECEIVER_LINE_STATUS,
            ),
            (
                enabled(IER_ERBFI) && self.rx.len() >= trigger_level,
                IIR_RECEIVED_DATA,
            ),
            (
                enabled(IER_ERBFI) && self.char_timeout,
                IIR_CHARACTER_TIMEOUT,
            ),
            (enabled(IER_ETBEI) && self.thre_interrupt, IIR_THR_EMPTY),
            (
                enabled(IER_EDSSI) && self.msr & MSR_DELTAS != 0,
                IIR_MODEM_STATUS,
            ),
        ]
        .into_iter()
        .find_map(|(pending, id)| pending.then_some(id))
    }

    fn write_thr(&mut self, now: u64, value: u8) {
        self.thre_interrupt = false;
        if self.tx.len() >= self.fifo_size() {
            log::debug!("uart16550: THR written while full, a byte is lost");
            if self.fifo_enabled {
                return;
            }
            // The holding register is simply overwritten.
            self.tx.clear();
        }
        if self.tx.is_empty() && self.tsr.is_none() {
            self.tx_start_at = now + self.bit_time();
        }
        self.tx.push_back(value & self.word_mask());
    }

    /// Writes the IER. Enabling the THR empty interrupt while the THR is
    /// empty raises it at once.
    fn write_ier(&mut self, value: u8) {
        let enabling_thre = value & IER_ETBEI != 0 && self.ier & IER_ETBEI == 0;
        self.ier = value & 0x0F;
        if enabling_thre && self.tx.is_empty() {
            self.thre_interrupt = true;
        }
    }

    /// Writes the FCR. Changing bit 0 (FIFO enable) empties both FIFOs; the
    /// other bits are only written while bit 0 is set.
    fn write_fcr(&mut self, value: u8) {
        let enable = value & FCR_ENABLE != 0;
        if enable != self.fifo_enabled {
            self.reset_rx();
            self.reset_tx();
            self.fifo_enabled = enable;
        }
        if !enable {
            return;
        }
        if value & FCR_RX_RESET != 0 {
            self.reset_rx();
        }
        if value & FCR_TX_RESET != 0 {
            self.reset_tx();
        }
        self.rx_trigger = match value >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        };
    }

    fn reset_rx(&mut self) {
        self.rx.clear();
        self.char_timeout = false;
    }

    /// Empties the transmit FIFO (the shift register finishes its character).
    fn reset_tx(&mut self) {
        if !self.tx.is_empty() {
            self.tx.clear();
            self.thre_interrupt = true;
        }
    }

    fn receive_from_line(&mut self, now: u64, c: RxChar) {
        self.advance(now);
        if self.mcr & MCR_LOOP != 0 {
            log::debug!("uart16550: character from the line lost in loopback mode");
            return;
        }
        self.receive_char(now, c);
    }

    /// A character has been assembled in the receiver shift register.
    fn receive_char(&mut self, at: u64, c: RxChar) {
        if self.rx.len() >= self.fifo_size() {
            self.line_errors |= LSR_OE;
            // A full FIFO keeps its characters and the new one is lost;
            // without FIFOs the new one overwrites the unread one.
            if self.fifo_enabled {
                return;
            }
            self.rx.clear();
        }
        self.rx.push_back(c);
        if self.rx.len() == 1 && c.is_break {
            self.line_errors |= LSR_BI;
        }
        self.rx_activity_at = at;
        self.char_timeout = false;
    }

    /// The modem lines as the MSR shows them: the far end's, or in loopback
    /// mode the MCR's outputs (RTS to CTS, DTR to DSR, OUT1 to RI, OUT2 to DCD).
    fn modem_lines(&self) -> u8 {
        if self.mcr & MCR_LOOP != 0 {
            let out = |bit| self.mcr & bit != 0;
            flag(out(MCR_RTS), MSR_CTS)
                | flag(out(MCR_DTR), MSR_DSR)
                | flag(out(MCR_OUT1), MSR_RI)
                | flag(out(MCR_OUT2), MSR_DCD)
        } else {
            flag(self.inputs.cts, MSR_CTS)
                | flag(self.inputs.dsr, MSR_DSR)
                | flag(self.inputs.ri, MSR_RI)
                | flag(self.inputs.dcd, MSR_DCD)
        }
    }

    /// Latches the changes of the modem lines: DCTS, DDSR and DDCD on any
    /// change, TERI when the ring indicator goes off.
    fn update_modem_status(&mut self) {
        let old = self.msr & MSR_LINES;
        let new = self.modem_lines();
        let changes = ((old ^ new) & (MSR_CTS | MSR_DSR | MSR_DCD)) | (old & !new & MSR_RI);
        self.msr = (self.msr & MSR_DELTAS) | (changes >> 4) | new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RBR: u16 = 0;
    const THR: u16 = 0;
    const DLL: u16 = 0;
    const IER: u16 = 1;
    const DLM: u16 = 1;
    const IIR: u16 = 2;
    const FCR: u16 = 2;
    const LCR: u16 = 3;
    const MCR: u16 = 4;
    const LSR: u16 = 5;
    const MSR: u16 = 6;

    /// 8 data bits, no parity, 1 stop bit.
    const LCR_8N1: u8 = 0x03;
    /// Character time of 8N1 at 115200 baud: 10 bits of 8680.5 ns.
    const CHAR_8N1: u64 = 86_805;
    /// Bit time at 115200 baud.
    const BIT: u64 = 8_680;

    /// A UART at 115200 baud, 8N1, with OUT2 set so interrupts reach the PIC.
    fn uart() -> Uart16550 {
        let mut uart = Uart16550::new();
        uart.write(0, LCR, LCR_DLAB);
        uart.write(0, DLL, 1);
        uart.write(0, DLM, 0);
        uart.write(0, LCR, LCR_8N1);
        uart.write(0, MCR, MCR_OUT2 | MCR_DTR | MCR_RTS);
        uart
    }

    /// DLAB selects the divisor latch at offsets 0 and 1 in place of
    /// RBR/THR and IER; the latch sets the baud rate.
    #[test]
    fn divisor_latch() {
        let mut uart = Uart16550::new();
        uart.write(0, LCR, LCR_DLAB | LCR_8N1);
        uart.write(0, DLL, 0x80);
        uart.write(0, DLM, 0x01);
        assert_eq!(uart.read(0, DLL), 0x80);
        assert_eq!(uart.read(0, DLM), 0x01);
        assert_eq!(uart.divisor, 0x180);
        uart.write(0, LCR, LCR_8N1);
        uart.write(0, IER, 0x05);
        assert_eq!(uart.read(0, IER), 0x05);
        assert_eq!(uart.divisor, 0x180, "IER writes leave the latch alone");
        // 115200 / 384 = 300 baud: 10 bits take 33.3 ms.
        assert_eq!(uart.char_time(), 33_333_333);
    }

    /// A divisor of 0 does not stop the clock: it counts as 65536.
    #[test]
    fn zero_divisor() {
        let mut uart = uart();
        uart.write(0, LCR, LCR_DLAB);
        uart.write(0, DLL, 0);
        uart.write(0, LCR, LCR_8N1);
        uart.write(0, THR, b'x');
        let next = uart.next_event().unwrap();
        assert_eq!(next, 65_536 * NS_PER_SECOND / BAUD_BASE);
        uart.advance(next + 65_536 * 10 * NS_PER_SECOND / BAUD_BASE);
        assert_eq!(uart.take_tx(), b"x");
    }

    /// The character time counts start, data, parity and stop bits: 5 data
    /// bits with "2" stop bits send 1.5 of them; word length masks the data.
    #[test]
    fn character_format() {
        let mut uart = uart();
        // 7 data bits, even parity, 2 stop bits: 11 bits.
        uart.write(0, LCR, 0x1E);
        assert_eq!(uart.char_time(), 11 * NS_PER_SECOND / BAUD_BASE);
        // 5 data bits, 1.5 stop bits: 7.5 bits.
        uart.write(0, LCR, 0x04);
        assert_eq!(uart.char_time(), 15 * NS_PER_SECOND / (2 * BAUD_BASE));
        uart.write(0, THR, 0xFF);
        uart.advance(1_000_000);
        assert_eq!(uart.take_tx(), [0x1F]);
    }

    /// Transmission at the baud rate: the transmitter takes the first byte a
    /// bit time after it is written, then sends one character per character
    /// time; THRE sets when the FIFO empties, TEMT when the last stop bit is out.
    #[test]
    fn transmit_timing() {
        let mut uart = uart();
        uart.write(0, FCR, FCR_ENABLE);
        for &byte in b"abc" {
            uart.write(0, THR, byte);
        }
        assert_eq!(uart.read(0, LSR) & (LSR_THRE | LSR_TEMT), 0);
        assert_eq!(uart.next_event(), Some(BIT));
        uart.advance(BIT + CHAR_8N1 - 1);
        assert!(uart.take_tx().is_empty());
        uart.advance(BIT + CHAR_8N1);
        assert_eq!(uart.take_tx(), b"a");
        // "c" moves into the shift register as "b" finishes.
        uart.advance(BIT + 2 * CHAR_8N1);
        assert_eq!(uart.take_tx(), b"b");
        assert_eq!(
            uart.read(BIT + 2 * CHAR_8N1, LSR) & (LSR_THRE | LSR_TEMT),
            LSR_THRE
        );
        assert_eq!(uart.next_event(), Some(BIT + 3 * CHAR_8N1));
        assert_eq!(
            uart.read(BIT + 3 * CHAR_8N1, LSR) & (LSR_THRE | LSR_TEMT),
            LSR_THRE | LSR_TEMT
        );
        assert_eq!(uart.take_tx(), b"c");
        assert_eq!(uart.next_event(), None);
    }

    /// Without FIFOs the holding register takes one byte; the transmitter
    /// frees it a bit time after the write, raising the THR empty interrupt.
    #[test]
    fn thre_interrupt_after_transmit() {
        let mut uart = uart();
        uart.write(0, IER, IER_ETBEI);
        assert_eq!(uart.read(0, IIR), IIR_THR_EMPTY);
        uart.write(0, THR, b'a');
        uart.write(0, THR, b'b');
        assert_eq!(uart.read(0, IIR), IIR_NO_INTERRUPT);
        assert!(!uart.irq_level());
        uart.advance(BIT);
        assert!(uart.irq_level());
        assert_eq!(uart.read(BIT, IIR), IIR_THR_EMPTY);
        uart.advance(BIT + CHAR_8N1);
        assert_eq!(uart.take_tx(), b"b", "a second write overwrote the THR");
    }

    /// Datasheet: setting ETBEI while the THR is empty raises the THR empty
    /// interrupt; reading the IIR while it is the one reported clears it.
    #[test]
    fn thre_interrupt_on_ier_write() {
        let mut uart = uart();
        assert_eq!(uart.read(0, IIR), IIR_NO_INTERRUPT);
        uart.write(0, IER, IER_ETBEI);
        assert!(uart.irq_level());
        assert_eq!(uart.read(0, IIR), IIR_THR_EMPTY);
        assert_eq!(uart.read(0, IIR), IIR_NO_INTERRUPT);
        assert!(!uart.irq_level());
        uart.write(0, IER, 0);
        uart.write(0, IER, IER_ETBEI);
        assert_eq!(uart.read(0, IIR), IIR_THR_EMPTY);
    }

    /// The interrupt output reaches the PIC only through OUT2.
    #[test]
    fn out2_gates_the_interrupt() {
        let mut uart = uart();
        uart.write(0, MCR, 0);
        uart.write(0, IER, IER_ETBEI);
        assert!(!uart.irq_level());
        uart.write(0, MCR, MCR_OUT2);
        assert!(uart.irq_level());
    }

    /// Datasheet IIR priorities: receiver line status, received data, THR
    /// empty, modem status; each cleared by its own action.
    #[test]
    fn interrupt_priority() {
        let mut uart = uart();
        uart.receive(0, b'1');
        uart.receive(0, b'2'); // overrun
        uart.set_modem_inputs(ModemInputs {
            cts: false,
            ..ModemInputs::default()
        });
        uart.write(0, IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);
        assert_eq!(uart.read(0, IIR), IIR_RECEIVER_LINE_STATUS);
        assert_eq!(uart.read(0, LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        assert_eq!(uart.read(0, IIR), IIR_RECEIVED_DATA);
        assert_eq!(uart.read(0, RBR), b'2', "overwrote the unread character");
        assert_eq!(uart.read(0, IIR), IIR_THR_EMPTY);
        assert_eq!(uart.read(0, IIR), IIR_MODEM_STATUS);
        assert_eq!(uart.read(0, MSR), 0x01 | MSR_DSR | MSR_DCD);
        assert_eq!(uart.read(0, IIR), IIR_NO_INTERRUPT);
        assert_eq!(uart.read(0, MSR), MSR_DSR | MSR_DCD);
    }

    /// FCR bits 6-7 set the receive trigger level (1, 4, 8, 14); the
    /// received data interrupt holds while the FIFO is at or above it.
    /// The FCR is write-only: offset 2 reads the IIR, bits 6-7 set.
    #[test]
    fn fifo_trigger_levels() {
        for (fcr, level) in [(0x01, 1), (0x41, 4), (0x81, 8), (0xC1, 14)] {
            let mut uart = uart();
            uart.write(0, FCR, fcr);
            uart.write(0, IER, IER_ERBFI);
            for i in 1..level {
                uart.receive(0, i as u8);
            }
            assert_eq!(uart.read(0, IIR), IIR_FIFOS_ENABLED | IIR_NO_INTERRUPT);
            uart.receive(0, 0);
            assert_eq!(uart.read(0, IIR), IIR_FIFOS_ENABLED | IIR_RECEIVED_DATA);
            uart.read(0, RBR);
            assert_eq!(uart.read(0, IIR), IIR_FIFOS_ENABLED | IIR_NO_INTERRUPT);
        }
    }

    /// Character time-out: data below the trigger level, with nothing in or
    /// out of the FIFO for 4 character times, interrupts; reading RBR clears it.
    #[test]
    fn character_timeout() {
        let mut uart = uart();
        uart.write(0, FCR, 0xC1);
        uart.write(0, IER, IER_ERBFI);
        uart.receive(1000, b'a');
        uart.receive(1000, b'b');
        assert_eq!(uart.next_event(), Some(1000 + 4 * CHAR_8N1));
        assert_eq!(uart.read(1000 + 4 * CHAR_8N1 - 1, IIR), 0xC1);
        assert_eq!(
            uart.read(1000 + 4 * CHAR_8N1, IIR),
            0xC0 | IIR_CHARACTER_TIMEOUT
        );
        let now = 1000 + 4 * CHAR_8N1;
        assert_eq!(uart.read(now, RBR), b'a');
        assert_eq!(uart.read(now, IIR), 0xC1);
        assert_eq!(uart.next_event(), Some(now + 4 * CHAR_8N1));
    }

    /// FIFO overrun: with 16 characters waiting, the next one is lost and OE
    /// sets until the LSR is read; FIFO reset empties the receiver.
    #[test]
    fn fifo_overrun() {
        let mut uart = uart();
        uart.write(0, FCR, FCR_ENABLE);
        for i in 0..16 {
            uart.receive(0, i);
        }
        assert_eq!(uart.rx_space(), 0);
        uart.receive(0, 16);
        assert_eq!(uart.read(0, LSR) & LSR_OE, LSR_OE);
        assert_eq!(uart.read(0, LSR) & LSR_OE, 0);
        let received: Vec<u8> = (0..16).map(|_| uart.read(0, RBR)).collect();
        assert_eq!(received, (0..16).collect::<Vec<u8>>());
        uart.receive(0, 1);
        uart.write(0, FCR, FCR_ENABLE | FCR_RX_RESET);
        assert_eq!(uart.read(0, LSR) & LSR_DR, 0);
    }

    /// A break arrives as a 00 character with BI, which raises the receiver
    /// line status interrupt; LSR bit 7 flags it while it is in the FIFO.
    #[test]
    fn break_received() {
        let mut uart = uart();
        uart.write(0, FCR, FCR_ENABLE);
        uart.write(0, IER, IER_ELSI);
        uart.receive(0, b'a');
        uart.receive_break(0);
        assert_eq!(
            uart.read(0, LSR) & (LSR_BI | LSR_RX_FIFO_ERROR),
            LSR_RX_FIFO_ERROR
        );
        assert_eq!(uart.read(0, RBR), b'a');
        assert_eq!(uart.read(0, IIR), 0xC0 | IIR_RECEIVER_LINE_STATUS);
        assert_eq!(
            uart.read(0, LSR) & (LSR_BI | LSR_RX_FIFO_ERROR),
            LSR_BI | LSR_RX_FIFO_ERROR
        );
        assert_eq!(uart.read(0, RBR), 0);
        assert_eq!(uart.read(0, LSR) & (LSR_BI | LSR_RX_FIFO_ERROR), 0);
    }

    /// Loopback: the transmitter's characters come back to the receiver,
    /// not the line; the line's characters are lost; the MSR shows RTS, DTR,
    /// OUT1 and OUT2 as CTS, DSR, RI and DCD; the interrupt output is off.
    #[test]
    fn loopback() {
        let mut uart = uart();
        uart.read(0, MSR);
        uart.write(0, MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
        assert_eq!(uart.read(0, MSR), MSR_CTS | MSR_DCD | 0x02);
        uart.write(0, IER, IER_ERBFI);
        uart.write(0, THR, b'L');
        uart.receive(0, b'x');
        uart.advance(BIT + CHAR_8N1);
        assert!(uart.take_tx().is_empty());
        assert_eq!(uart.read(BIT + CHAR_8N1, IIR), IIR_RECEIVED_DATA);
        assert!(!uart.irq_level(), "OUT2 is forced inactive in loopback");
        assert_eq!(uart.read(BIT + CHAR_8N1, RBR), b'L');
        // Turning OUT1 on then off rings: TERI on the trailing edge.
        uart.write(0, MCR, MCR_LOOP | MCR_OUT1);
        uart.read(0, MSR);
        uart.write(0, MCR, MCR_LOOP);
        assert_eq!(uart.read(0, MSR), 0x04);
    }
}
