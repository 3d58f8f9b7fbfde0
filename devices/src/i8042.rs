//! The Intel 8042 keyboard controller of the AT and PS/2, with the keyboard
//! and the mouse (the "auxiliary device") on its two serial ports.
//!
//! The guest sees two registers:
//!
//! | offset | port | read | write |
//! |--------|------|------|-------|
//! | [`DATA`] = 0 | 60h | output buffer | input buffer: data for the keyboard or a command's argument |
//! | [`STATUS_COMMAND`] = 4 | 64h | status register | input buffer: a controller command |
//!
//! The output buffer holds one byte at a time, from the keyboard, from the
//! mouse or from the controller itself. While it holds a keyboard byte
//! (or a controller answer) the controller raises IRQ 1, while it holds a mouse
//! byte IRQ 12, each if the command byte enables it. A device sends its next
//! byte only after the guest has read the previous one, and the byte takes
//! [`BYTE_TIME`] to arrive, so each byte comes with its own interrupt edge.
//!
//! The controller executes commands at once: the input buffer is never full
//! (IBF stays clear). The links never fail: the timeout and parity error
//! status bits stay clear.
//!
//! With translation on (command byte bit 6), keyboard bytes pass through the
//! 8042's table from scan code set 2 to set 1, and the set-2 break prefix
//! `F0` becomes bit 7 of the code that follows it.

use serde::{Deserialize, Serialize};

use crate::ps2::{KeyCode, MouseButtons, Ps2Keyboard, Ps2Mouse};

/// Offset of the data port (60h).
pub const DATA: u16 = 0;
/// Offset of the status register (read) and command register (write) (64h).
pub const STATUS_COMMAND: u16 = 4;

/// Time a byte takes on a PS/2 link: 11 bits at 12.5 kHz.
pub const BYTE_TIME: u64 = 880_000;

// Status register.
/// Output buffer full.
const STATUS_OBF: u8 = 1 << 0;
/// System flag: set by a successful self test or through the command byte.
const STATUS_SYS: u8 = 1 << 2;
/// The last write was to the command register (A2 high), not the data port.
const STATUS_A2: u8 = 1 << 3;
/// Keyboard not inhibited by the keylock switch.
const STATUS_UNLOCKED: u8 = 1 << 4;
/// The output buffer holds a byte from the mouse.
const STATUS_AUX_OBF: u8 = 1 << 5;

// Command byte (internal RAM byte 0).
/// Raise IRQ 1 when the output buffer holds a keyboard byte.
const CMD_IRQ1: u8 = 1 << 0;
/// Raise IRQ 12 when the output buffer holds a mouse byte.
const CMD_IRQ12: u8 = 1 << 1;
/// Copied to the status register's system flag.
const CMD_SYS: u8 = 1 << 2;
/// Keyboard clock held low: the keyboard cannot send.
const CMD_DISABLE_KEYBOARD: u8 = 1 << 4;
/// Mouse clock held low: the mouse cannot send.
const CMD_DISABLE_AUX: u8 = 1 << 5;
/// Translate keyboard bytes from scan code set 2 to set 1.
const CMD_XLAT: u8 = 1 << 6;
/// Power-on command byte: interrupts and translation enabled, both devices
/// enabled, system flag clear (a cold boot).
const POWER_ON_COMMAND_BYTE: u8 = CMD_XLAT | CMD_IRQ12 | CMD_IRQ1;

// Output port.
/// System reset, active low: writing 0 pulses the CPU's RESET line.
const OUT_RESET: u8 = 1 << 0;
/// Gate A20.
const OUT_A20: u8 = 1 << 1;
/// The IRQ 1 line.
const OUT_IRQ1: u8 = 1 << 4;
/// The IRQ 12 line.
const OUT_IRQ12: u8 = 1 << 5;
/// Power-on output port: not in reset, A20 enabled, idle clock and data lines.
const POWER_ON_OUTPUT_PORT: u8 = 0xCF;

/// The input port (command `C0`): keyboard not inhibited (bit 7), colour
/// display (bit 6 clear), no manufacturing jumper (bit 5), 512 KB on the
/// system board (bit 4).
const INPUT_PORT: u8 = 0xB0;

/// The 8042's translation table from set-2 codes 00-7F to set-1 codes.
#[rustfmt::skip]
const SET2_TO_SET1: [u8; 128] = [
    0xFF, 0x43, 0x41, 0x3F, 0x3D, 0x3B, 0x3C, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3E, 0x0F, 0x29, 0x59,
    0x65, 0x38, 0x2A, 0x70, 0x1D, 0x10, 0x02, 0x5A, 0x66, 0x71, 0x2C, 0x1F, 0x1E, 0x11, 0x03, 0x5B,
    0x67, 0x2E, 0x2D, 0x20, 0x12, 0x05, 0x04, 0x5C, 0x68, 0x39, 0x2F, 0x21, 0x14, 0x13, 0x06, 0x5D,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5E, 0x6A, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5F,
    0x6B, 0x33, 0x25, 0x17, 0x18, 0x0B, 0x0A, 0x60, 0x6C, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0C, 0x61,
    0x6D, 0x73, 0x28, 0x74, 0x1A, 0x0D, 0x62, 0x6E, 0x3A, 0x36, 0x1C, 0x1B, 0x75, 0x2B, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7A, 0x0E, 0x7B, 0x7C, 0x4F, 0x7D, 0x4B, 0x47, 0x7E, 0x7F, 0x6F,
    0x52, 0x53, 0x50, 0x4C, 0x4D, 0x48, 0x01, 0x45, 0x57, 0x4E, 0x51, 0x4A, 0x37, 0x49, 0x46, 0x54,
];

/// The set-1 code for a set-2 byte. Above 7F only F7 (83) and Alt+Print
/// Screen (84) are codes; the rest (prefixes, answers) pass unchanged.
fn set2_to_set1(code: u8) -> u8 {
    match code {
        0x00..=0x7F => SET2_TO_SET1[usize::from(code)],
        0x83 => 0x41,
        0x84 => 0x54,
        _ => code,
    }
}

/// Where the byte in the output buffer came from, which decides its IRQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Source {
    /// The keyboard, or the controller answering a command.
    Keyboard,
    Aux,
}

/// What the next byte written to the data port is for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum DataFor {
    /// Internal RAM byte (commands 60-7F; byte 0 is the command byte).
    Ram(u8),
    /// Command D1.
    OutputPort,
    /// Command D2: placed in the output buffer as if from the keyboard.
    KeyboardOutputBuffer,
    /// Command D3: placed in the output buffer as if from the mouse.
    AuxOutputBuffer,
    /// Command D4: sent to the mouse.
    Aux,
}

/// The 8042 keyboard controller with its keyboard and mouse.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct I8042 {
    keyboard: Ps2Keyboard,
    mouse: Ps2Mouse,
    output_buffer: u8,
    /// The source of the byte in the output buffer; `None` once it has been
    /// read (OBF clear). The byte itself stays and reads again.
    output_source: Option<Source>,
    /// A byte of the controller's own, waiting for the output buffer.
    pending_output: Option<(u8, Source)>,
    /// Internal RAM; byte 0 is the command byte.
    ram: [u8; 32],
    system_flag: bool,
    last_write_was_command: bool,
    data_for: Option<DataFor>,
    output_port: u8,
    reset_requested: bool,
    /// Translation has swallowed an `F0` break prefix.
    translating_break: bool,
    /// Virtual time from which a device's next byte can be in the output buffer.
    link_free_at: u64,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// The controller at power-on, with a freshly powered keyboard and mouse.
    pub fn new() -> Self {
        let mut ram = [0; 32];
        ram[0] = POWER_ON_COMMAND_BYTE;
        let mut controller = I8042 {
            keyboard: Ps2Keyboard::new(),
            mouse: Ps2Mouse::new(),
            output_buffer: 0,
            output_source: None,
            pending_output: None,
            ram,
            system_flag: false,
            last_write_was_command: false,
            data_for: None,
            output_port: POWER_ON_OUTPUT_PORT,
            reset_requested: false,
            translating_break: false,
            link_free_at: 0,
        };
        controller.fill_output_buffer(0);
        controller
    }

    /// The keyboard, e.g. to show its LEDs.
    pub fn keyboard(&self) -> &Ps2Keyboard {
        &self.keyboard
    }

    pub fn read(&mut self, now: u64, offset: u16) -> u8 {
        self.advance(now);
        match offset {
            DATA => {
                let byte = self.output_buffer;
                if self.output_source.take().is_some() {
                    self.link_free_at = now + BYTE_TIME;
                    self.fill_output_buffer(now);
                }
                byte
            }
            STATUS_COMMAND => self.status(),
            _ => {
                log::debug!("i8042: read of unmapped offset {offset}");
                0xFF
            }
        }
    }

    pub fn write(&mut self, now: u64, offset: u16, value: u8) {
        self.advance(now);
        match offset {
            DATA => {
                self.last_write_was_command = false;
                self.write_data(value);
            }
            STATUS_COMMAND => {
                self.last_write_was_command = true;
                self.command(value);
            }
            _ => log::debug!("i8042: write {value:#04x} to unmapped offset {offset}"),
        }
        self.fill_output_buffer(now);
    }

    /// The IRQ 1 line: a keyboard byte is waiting and the command byte
    /// enables its interrupt.
    pub fn irq1(&self) -> bool {
        self.output_source == Some(Source::Keyboard) && self.ram[0] & CMD_IRQ1 != 0
    }

    /// The IRQ 12 line: a mouse byte is waiting and the command byte enables
    /// its interrupt.
    pub fn irq12(&self) -> bool {
        self.output_source == Some(Source::Aux) && self.ram[0] & CMD_IRQ12 != 0
    }

    /// The gate A20 output.
    pub fn a20_enabled(&self) -> bool {
        self.output_port & OUT_A20 != 0
    }

    /// Whether the guest pulsed the CPU's reset line since the last call.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    /// A key went down or up.
    pub fn key_event(&mut self, now: u64, key: KeyCode, pressed: bool) {
        self.keyboard.advance(now);
        self.keyboard.key_event(now, key, pressed);
        self.fill_output_buffer(now);
    }

    /// The mouse moved (`dy` positive = up) or its buttons changed.
    pub fn mouse_motion(&mut self, now: u64, dx: i32, dy: i32, buttons: MouseButtons) {
        self.mouse.motion(dx, dy, buttons);
        self.fill_output_buffer(now);
    }

    /// The mouse wheel turned (`dz` positive = scroll down).
    pub fn mouse_wheel(&mut self, now: u64, dz: i32) {
        self.mouse.wheel(dz);
        self.fill_output_buffer(now);
    }

    /// Virtual time at which the controller next needs [`advance`](Self::advance):
    /// a device byte crossing the link, or a typematic repeat.
    pub fn next_event(&self) -> Option<u64> {
        let waiting = self.output_source.is_none()
            && (self.keyboard_can_send() && self.keyboard.has_output()
                || self.aux_can_send() && self.mouse.has_output());
        let byte_arrives = waiting.then_some(self.link_free_at);
        byte_arrives
            .into_iter()
            .chain(self.keyboard.next_event())
            .min()
    }

    /// Catches up to virtual time `now`.
    pub fn advance(&mut self, now: u64) {
        self.keyboard.advance(now);
        self.fill_output_buffer(now);
    }

    fn status(&self) -> u8 {
        let mut status = STATUS_UNLOCKED;
        if self.output_source.is_some() {
            status |= STATUS_OBF;
        }
        if self.output_source == Some(Source::Aux) {
            status |= STATUS_AUX_OBF;
        }
        if self.system_flag {
            status |= STATUS_SYS;
        }
        if self.last_write_was_command {
            status |= STATUS_A2;
        }
        status
    }

    fn keyboard_can_send(&self) -> bool {
        self.ram[0] & CMD_DISABLE_KEYBOARD == 0
    }

    fn aux_can_send(&self) -> bool {
        self.ram[0] & CMD_DISABLE_AUX == 0
    }

    fn write_data(&mut self, value: u8) {
        match self.data_for.take() {
            // Sending to a device releases its clock line.
            None => {
                self.ram[0] &= !CMD_DISABLE_KEYBOARD;
                self.keyboard.receive(value);
            }
            Some(DataFor::Aux) => {
                self.ram[0] &= !CMD_DISABLE_AUX;
                self.mouse.receive(value);
            }
            Some(DataFor::Ram(index)) => {
                self.ram[usize::from(index)] = value;
                if index == 0 {
                    self.system_flag = value & CMD_SYS != 0;
                }
            }
            Some(DataFor::OutputPort) => self.write_output_port(value),
            Some(DataFor::KeyboardOutputBuffer) => self.output(value, Source::Keyboard),
            Some(DataFor::AuxOutputBuffer) => self.output(value, Source::Aux),
        }
    }

    fn command(&mut self, command: u8) {
        self.data_for = None;
        match command {
            0x20..=0x3F => {
                let byte = self.ram[usize::from(command & 0x1F)];
                self.output(byte, Source::Keyboard);
            }
            0x60..=0x7F => self.data_for = Some(DataFor::Ram(command & 0x1F)),
            0xA7 => self.ram[0] |= CMD_DISABLE_AUX,
            0xA8 => self.ram[0] &= !CMD_DISABLE_AUX,
            // Mouse and keyboard interface tests: no error.
            0xA9 | 0xAB => self.output(0x00, Source::Keyboard),
            // Self test: passed.
            0xAA => {
                self.system_flag = true;
                self.output(0x55, Source::Keyboard);
            }
            0xAD => self.ram[0] |= CMD_DISABLE_KEYBOARD,
            0xAE => self.ram[0] &= !CMD_DISABLE_KEYBOARD,
            0xC0 => self.output(INPUT_PORT, Source::Keyboard),
            0xD0 => self.output(self.read_output_port(), Source::Keyboard),
            0xD1 => self.data_for = Some(DataFor::OutputPort),
            0xD2 => self.data_for = Some(DataFor::KeyboardOutputBuffer),
            0xD3 => self.data_for = Some(DataFor::AuxOutputBuffer),
            0xD4 => self.data_for = Some(DataFor::Aux),
            0xDD => self.output_port &= !OUT_A20,
            0xDF => self.output_port |= OUT_A20,
            // Pulse output port bits 0-3 low where the command's bits are 0;
            // only the reset line (bit 0) has an effect.
            0xF0..=0xFF => {
                if command & OUT_RESET == 0 {
                    self.reset_requested = true;
                }
            }
            _ => log::debug!("i8042: unknown command {command:#04x}"),
        }
    }

    /// The output port, with the interrupt lines as they are now.
    fn read_output_port(&self) -> u8 {
        let mut port = self.output_port & !(OUT_IRQ1 | OUT_IRQ12);
        if self.irq1() {
            port |= OUT_IRQ1;
        }
        if self.irq12() {
            port |= OUT_IRQ12;
        }
        port
    }

    /// Writes the output port. Reset is a pulse: a 0 in bit 0 resets the CPU
    /// and the line goes high again.
    fn write_output_port(&mut self, value: u8) {
        if value & OUT_RESET == 0 {
            self.reset_requested = true;
        }
        self.output_port = value | OUT_RESET;
    }

    /// Places a byte of the controller's own in the output buffer, or holds
    /// it until the guest has read the byte there.
    fn output(&mut self, byte: u8, source: Source) {
        if self.output_source.is_none() {
            self.load(byte, source);
        } else {
            self.pending_output = Some((byte, source));
        }
    }

    fn load(&mut self, byte: u8, source: Source) {
        self.output_buffer = byte;
        self.output_source = Some(source);
    }

    /// Fills an empty output buffer: first with the controller's own byte,
    /// then, once the link is free, from the keyboard and then the mouse.
    fn fill_output_buffer(&mut self, now: u64) {
        if self.output_source.is_some() {
            return;
        }
        if let Some((byte, source)) = self.pending_output.take() {
            self.load(byte, source);
            return;
        }
        if now < self.link_free_at {
            return;
        }
        if self.keyboard_can_send() {
            while let Some(code) = self.keyboard.transmit() {
                if let Some(byte) = self.translate(code) {
                    self.load(byte, Source::Keyboard);
                    return;
                }
            }
        }
        if self.aux_can_send() {
            if let Some(byte) = self.mouse.transmit() {
                self.load(byte, Source::Aux);
            }
        }
    }

    /// Passes a keyboard byte through the set 2 to set 1 translation when
    /// it is on. A break prefix yields nothing: it sets bit 7 of the next code.
    fn translate(&mut self, code: u8) -> Option<u8> {
        if self.ram[0] & CMD_XLAT == 0 {
            return Some(code);
        }
        if code == 0xF0 {
            self.translating_break = true;
            return None;
        }
        let released = std::mem::take(&mut self.translating_break);
        Some(set2_to_set1(code) | u8::from(released) << 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ps2::{ACK, BAT_OK};

    /// A controller and the guest's clock.
    struct Bench {
        i8042: I8042,
        now: u64,
    }

    impl Bench {
        /// A controller whose power-on bytes the guest has read.
        fn new() -> Self {
            let mut bench = Bench {
                i8042: I8042::new(),
                now: 0,
            };
            bench.drain();
            bench
        }

        fn status(&mut self) -> u8 {
            self.i8042.read(self.now, STATUS_COMMAND)
        }

        fn read_data(&mut self) -> u8 {
            self.i8042.read(self.now, DATA)
        }

        fn write_data(&mut self, value: u8) {
            self.i8042.write(self.now, DATA, value);
        }

        fn command(&mut self, command: u8) {
            self.i8042.write(self.now, STATUS_COMMAND, command);
        }

        fn command_with_data(&mut self, command: u8, value: u8) {
            self.command(command);
            self.write_data(value);
        }

        fn key(&mut self, key: KeyCode, pressed: bool) {
            self.i8042.key_event(self.now, key, pressed);
        }

        /// Reads bytes as they arrive, one link byte time apart, until the
        /// output buffer stays empty.
        fn drain(&mut self) -> Vec<u8> {
            let mut bytes = Vec::new();
            while self.status() & STATUS_OBF != 0 {
                bytes.push(self.read_data());
                self.now += BYTE_TIME;
            }
            bytes
        }
    }

    /// At power-on the keyboard sends AA and the mouse AA 00 (BAT passed).
    #[test]
    fn power_on_bytes() {
        let mut bench = Bench {
            i8042: I8042::new(),
            now: 0,
        };
        assert_eq!(bench.drain(), [BAT_OK, BAT_OK, 0x00]);
    }

    /// Self test (AA) answers 55 and sets the system flag; A2 (bit 3) tells
    /// whether the last write went to the command or the data port.
    /// Interface tests (AB, A9) answer 00; C0 reads the input port.
    #[test]
    fn self_test_and_status() {
        let mut bench = Bench::new();
        assert_eq!(bench.status(), STATUS_UNLOCKED);
        bench.command(0xAA);
        assert_eq!(
            bench.status(),
            STATUS_UNLOCKED | STATUS_A2 | STATUS_SYS | STATUS_OBF
        );
        assert_eq!(bench.read_data(), 0x55);
        bench.command(0xAB);
        assert_eq!(bench.read_data(), 0x00);
        bench.command(0xA9);
        assert_eq!(bench.read_data(), 0x00);
        bench.command(0xC0);
        assert_eq!(bench.read_data(), INPUT_PORT);
        bench.command_with_data(0xD2, 0x00);
        assert_eq!(bench.status() & STATUS_A2, 0);
    }

    /// Commands 20-3F read and 60-7F write the internal RAM; byte 0 is the
    /// command byte, whose bit 2 is the system flag.
    #[test]
    fn command_byte_and_ram() {
        let mut bench = Bench::new();
        bench.command(0x20);
        assert_eq!(bench.read_data(), POWER_ON_COMMAND_BYTE);
        bench.command_with_data(0x60, 0x07);
        assert_ne!(bench.status() & STATUS_SYS, 0);
        bench.command_with_data(0x7F, 0x5A);
        bench.command(0x3F);
        assert_eq!(bench.read_data(), 0x5A);
        bench.command(0x20);
        assert_eq!(bench.read_data(), 0x07);
    }

    /// With translation, set-2 codes reach the guest in set 1 and the F0
    /// break prefix folds into bit 7: A is 1E/9E, Up is E0 48/E0 C8.
    #[test]
    fn translation_to_set_1() {
        let mut bench = Bench::new();
        bench.key(KeyCode::KeyA, true);
        bench.key(KeyCode::KeyA, false);
        bench.key(KeyCode::ArrowUp, true);
        bench.key(KeyCode::ArrowUp, false);
        assert_eq!(bench.drain(), [0x1E, 0x9E, 0xE0, 0x48, 0xE0, 0xC8]);
        // The keyboard's ID translates too: AB 83 becomes AB 41.
        bench.write_data(0xF2);
        assert_eq!(bench.drain(), [ACK, 0xAB, 0x41]);
    }

    /// Without translation the guest sees the keyboard's set 2.
    #[test]
    fn no_translation() {
        let mut bench = Bench::new();
        bench.command_with_data(0x60, CMD_IRQ1);
        bench.key(KeyCode::KeyA, false);
        assert_eq!(bench.drain(), [0xF0, 0x1C]);
    }

    /// IRQ 1 follows a keyboard byte in the output buffer, if enabled; after
    /// the guest reads it the line drops, and the next byte arrives a link
    /// byte time later.
    #[test]
    fn keyboard_interrupt_per_byte() {
        let mut bench = Bench::new();
        let start = bench.now;
        bench.key(KeyCode::ArrowLeft, true);
        assert!(bench.i8042.irq1() && !bench.i8042.irq12());
        assert_eq!(bench.read_data(), 0xE0);
        assert!(!bench.i8042.irq1());
        assert_eq!(bench.i8042.next_event(), Some(start + BYTE_TIME));
        bench.i8042.advance(start + BYTE_TIME - 1);
        assert!(!bench.i8042.irq1());
        bench.i8042.advance(start + BYTE_TIME);
        assert!(bench.i8042.irq1());
        bench.now = start + BYTE_TIME;
        assert_eq!(bench.read_data(), 0x4B);

        bench.command_with_data(0x60, CMD_XLAT);
        bench.command(0xAA);
        assert_ne!(bench.status() & STATUS_OBF, 0);
        assert!(!bench.i8042.irq1(), "IRQ 1 disabled in the command byte");
    }

    /// D4 sends a byte to the mouse; its answers come with AUX OBF (status
    /// bit 5) and IRQ 12.
    #[test]
    fn mouse_through_d4() {
        let mut bench = Bench::new();
        bench.command_with_data(0xD4, 0xF4);
        assert!(bench.i8042.irq12() && !bench.i8042.irq1());
        assert_eq!(
            bench.status() & (STATUS_OBF | STATUS_AUX_OBF),
            STATUS_OBF | STATUS_AUX_OBF
        );
        assert_eq!(bench.drain(), [ACK]);
        let left = MouseButtons {
            left: true,
            ..MouseButtons::default()
        };
        bench.i8042.mouse_motion(bench.now, 1, -1, left);
        assert_eq!(bench.drain(), [0x29, 0x01, 0xFF]);
    }

    /// D2 and D3 place a byte in the output buffer as if it came from the
    /// keyboard or the mouse.
    #[test]
    fn write_output_buffers() {
        let mut bench = Bench::new();
        bench.command_with_data(0xD2, 0x12);
        assert!(bench.i8042.irq1());
        assert_eq!(bench.read_data(), 0x12);
        bench.command_with_data(0xD3, 0x34);
        assert!(bench.i8042.irq12());
        assert_eq!(bench.read_data(), 0x34);
    }

    /// AD holds the keyboard's clock low: its bytes wait in the keyboard
    /// until AE (or a byte sent to the keyboard) releases it. A7/A8 do the
    /// same for the mouse.
    #[test]
    fn disable_and_enable_interfaces() {
        let mut bench = Bench::new();
        bench.command(0xAD);
        bench.key(KeyCode::KeyA, true);
        assert_eq!(bench.status() & STATUS_OBF, 0);
        bench.command(0xAE);
        assert_eq!(bench.drain(), [0x1E]);

        bench.command(0xAD);
        bench.write_data(0xEE);
        assert_eq!(bench.drain(), [0xEE]);

        bench.command(0xA7);
        bench
            .i8042
            .mouse_motion(bench.now, 0, 0, MouseButtons::default());
        bench.command_with_data(0xD4, 0xF2);
        assert_eq!(bench.drain(), [ACK, 0x00]);
        bench.command(0xA7);
        bench.command(0x20);
        assert_ne!(bench.read_data() & CMD_DISABLE_AUX, 0);
        bench.command(0xA8);
        bench.command(0x20);
        assert_eq!(bench.read_data() & CMD_DISABLE_AUX, 0);
    }

    /// An answer to a controller command waits behind a byte already in the
    /// output buffer.
    #[test]
    fn controller_answer_waits_for_output_buffer() {
        let mut bench = Bench::new();
        bench.key(KeyCode::KeyA, true);
        bench.command(0xAA);
        assert_eq!(bench.read_data(), 0x1E);
        assert_eq!(bench.read_data(), 0x55);
    }

    /// Output port (D0/D1): bit 1 gates A20, bit 0 low resets the CPU; bits
    /// 4 and 5 read the IRQ 1 and IRQ 12 lines. DD/DF switch A20.
    #[test]
    fn output_port_a20_and_reset() {
        let mut bench = Bench::new();
        assert!(bench.i8042.a20_enabled());
        bench.command_with_data(0xD1, 0xCD);
        assert!(!bench.i8042.a20_enabled());
        assert!(!bench.i8042.take_reset_request());
        bench.command(0xD0);
        assert_eq!(bench.read_data(), 0xCD);
        bench.now += BYTE_TIME;
        bench.key(KeyCode::KeyA, true);
        bench.command(0xD0);
        assert_eq!(bench.read_data(), 0x1E);
        assert_eq!(bench.read_data(), 0xDD, "IRQ 1 was high");
        bench.command(0xDF);
        assert!(bench.i8042.a20_enabled());
        bench.command(0xDD);
        assert!(!bench.i8042.a20_enabled());
        bench.command_with_data(0xD1, 0xCE);
        assert!(bench.i8042.take_reset_request());
        assert!(!bench.i8042.take_reset_request(), "reported once");
    }

    /// F0-FF pulse the output port bits that are 0 in the command: FE resets
    /// the CPU, FF pulses nothing.
    #[test]
    fn pulse_reset() {
        let mut bench = Bench::new();
        bench.command(0xFF);
        assert!(!bench.i8042.take_reset_request());
        bench.command(0xFE);
        assert!(bench.i8042.take_reset_request());
    }

    /// Typematic repeats of a held key reach the guest through the
    /// controller's `next_event`/`advance`.
    #[test]
    fn typematic_through_controller() {
        let mut bench = Bench::new();
        bench.key(KeyCode::KeyA, true);
        assert_eq!(bench.read_data(), 0x1E);
        let repeat = bench.now + 500_000_000;
        assert_eq!(bench.i8042.next_event(), Some(repeat));
        bench.i8042.advance(repeat);
        assert!(bench.i8042.irq1());
        bench.now = repeat;
        assert_eq!(bench.read_data(), 0x1E);
    }
}
