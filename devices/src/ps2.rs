//! The PS/2 keyboard and mouse: the two devices at the far end of the 8042's
//! serial links.
//!
//! Each device is a byte pipe. The controller hands it the bytes the host
//! writes ([`Ps2Keyboard::receive`]) and collects what it sends back
//! ([`Ps2Keyboard::transmit`]). Every command is answered with ACK (`FA`), or
//! with RESEND (`FE`) when the device does not understand it. Answers always go
//! out ahead of spontaneous data (keystrokes, movement packets), which waits in
//! a 16-byte buffer; spontaneous data is only ever buffered whole, never a
//! partial sequence.
//!
//! References: IBM PS/2 Technical Reference, *Keyboards (101- and 102-Key)*;
//! Microsoft, *Keyboard Scan Code Specification* rev. 1.3a; Adam Chapweske,
//! *The PS/2 Mouse Interface*; Microsoft, *IntelliMouse* extensions.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Acknowledge: the device accepted a command or an argument.
pub const ACK: u8 = 0xFA;
/// Resend: the device rejects the byte it was sent.
pub const RESEND: u8 = 0xFE;
/// Sent after the basic assurance test (BAT) that follows a reset.
pub const BAT_OK: u8 = 0xAA;

/// A device's buffer for spontaneous data.
const BUFFER_SIZE: usize = 16;

/// The bytes a device has to send to the host.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Transmitter {
    /// Answers to commands; they take priority over `buffer`.
    answers: VecDeque<u8>,
    /// Keystrokes or movement packets.
    buffer: VecDeque<u8>,
    /// The last byte sent, repeated on request (command `FE`).
    last_sent: u8,
}

impl Transmitter {
    fn answer(&mut self, bytes: &[u8]) {
        if self.answers.len() + bytes.len() > BUFFER_SIZE {
            log::debug!("ps2: host sends commands without reading the answers; answer dropped");
            return;
        }
        self.answers.extend(bytes);
    }

    /// Buffers a whole sequence, or nothing if it does not fit.
    fn enqueue(&mut self, bytes: &[u8]) -> bool {
        let fits = self.buffer.len() + bytes.len() <= BUFFER_SIZE;
        if fits {
            self.buffer.extend(bytes);
        }
        fits
    }

    fn pop(&mut self) -> Option<u8> {
        let byte = self
            .answers
            .pop_front()
            .or_else(|| self.buffer.pop_front())?;
        self.last_sent = byte;
        Some(byte)
    }

    fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.buffer.is_empty()
    }

    fn resend(&mut self) {
        self.answer(&[self.last_sent]);
    }
}

// ---------------------------------------------------------------------------
// Keyboard
// ---------------------------------------------------------------------------

/// A key of the 104-key PC keyboard (plus the 105th key of ISO layouts), named
/// after its position on a US keyboard as in the USB HID usage tables and the
/// W3C `KeyboardEvent.code` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyCode {
    Escape,
    F1,
    F2,
    F3,
    F4,
    F5,
    F6,
    F7,
    F8,
    F9,
    F10,
    F11,
    F12,
    PrintScreen,
    ScrollLock,
    Pause,
    Backquote,
    Digit1,
    Digit2,
    Digit3,
    Digit4,
    Digit5,
    Digit6,
    Digit7,
    Digit8,
    Digit9,
    Digit0,
    Minus,
    Equal,
    Backspace,
    Tab,
    KeyQ,
    KeyW,
    KeyE,
    KeyR,
    KeyT,
    KeyY,
    KeyU,
    KeyI,
    KeyO,
    KeyP,
    BracketLeft,
    BracketRight,
    Backslash,
    CapsLock,
    KeyA,
    KeyS,
    KeyD,
    KeyF,
    KeyG,
    KeyH,
    KeyJ,
    KeyK,
    KeyL,
    Semicolon,
    Quote,
    Enter,
    ShiftLeft,
    /// The extra key right of Left Shift on ISO (102/105-key) keyboards.
    IntlBackslash,
    KeyZ,
    KeyX,
    KeyC,
    KeyV,
    KeyB,
    KeyN,
    KeyM,
    Comma,
    Period,
    Slash,
    ShiftRight,
    ControlLeft,
    MetaLeft,
    AltLeft,
    Space,
    AltRight,
    MetaRight,
    ContextMenu,
    ControlRight,
    Insert,
    Home,
    PageUp,
    Delete,
    End,
    PageDown,
    ArrowUp,
    ArrowLeft,
    ArrowDown,
    ArrowRight,
    NumLock,
    NumpadDivide,
    NumpadMultiply,
    NumpadSubtract,
    Numpad7,
    Numpad8,
    Numpad9,
    NumpadAdd,
    Numpad4,
    Numpad5,
    Numpad6,
    Numpad1,
    Numpad2,
    Numpad3,
    NumpadEnter,
    Numpad0,
    NumpadDecimal,
}

/// How a key is reported in scan code set 2, the keyboard's native set.
enum Set2 {
    /// A one-byte code.
    Plain(u8),
    /// A code behind the `E0` prefix (keys added by the 101-key keyboard).
    Extended(u8),
    PrintScreen,
    Pause,
}

/// Prefix of the keys added by the 101-key keyboard.
const EXTENDED: u8 = 0xE0;
/// Prefix of a break (key release) code in set 2.
const BREAK: u8 = 0xF0;
/// Sent in place of a keystroke that no longer fits in the buffer (sets 2 and 3).
const OVERRUN: u8 = 0x00;

impl KeyCode {
    fn set2(self) -> Set2 {
        use KeyCode::*;
        use Set2::{Extended as E, Plain as P};
        match self {
            Escape => P(0x76),
            F1 => P(0x05),
            F2 => P(0x06),
            F3 => P(0x04),
            F4 => P(0x0C),
            F5 => P(0x03),
            F6 => P(0x0B),
            F7 => P(0x83),
            F8 => P(0x0A),
            F9 => P(0x01),
            F10 => P(0x09),
            F11 => P(0x78),
            F12 => P(0x07),
            PrintScreen => Set2::PrintScreen,
            ScrollLock => P(0x7E),
            Pause => Set2::Pause,
            Backquote => P(0x0E),
            Digit1 => P(0x16),
            Digit2 => P(0x1E),
            Digit3 => P(0x26),
            Digit4 => P(0x25),
            Digit5 => P(0x2E),
            Digit6 => P(0x36),
            Digit7 => P(0x3D),
            Digit8 => P(0x3E),
            Digit9 => P(0x46),
            Digit0 => P(0x45),
            Minus => P(0x4E),
            Equal => P(0x55),
            Backspace => P(0x66),
            Tab => P(0x0D),
            KeyQ => P(0x15),
            KeyW => P(0x1D),
            KeyE => P(0x24),
            KeyR => P(0x2D),
            KeyT => P(0x2C),
            KeyY => P(0x35),
            KeyU => P(0x3C),
            KeyI => P(0x43),
            KeyO => P(0x44),
            KeyP => P(0x4D),
            BracketLeft => P(0x54),
            BracketRight => P(0x5B),
            Backslash => P(0x5D),
            CapsLock => P(0x58),
            KeyA => P(0x1C),
            KeyS => P(0x1B),
            KeyD => P(0x23),
            KeyF => P(0x2B),
            KeyG => P(0x34),
            KeyH => P(0x33),
            KeyJ => P(0x3B),
            KeyK => P(0x42),
            KeyL => P(0x4B),
            Semicolon => P(0x4C),
            Quote => P(0x52),
            Enter => P(0x5A),
            ShiftLeft => P(0x12),
            IntlBackslash => P(0x61),
            KeyZ => P(0x1A),
            KeyX => P(0x22),
            KeyC => P(0x21),
            KeyV => P(0x2A),
            KeyB => P(0x32),
            KeyN => P(0x31),
            KeyM => P(0x3A),
            Comma => P(0x41),
            Period => P(0x49),
            Slash => P(0x4A),
            ShiftRight => P(0x59),
            ControlLeft => P(0x14),
            MetaLeft => E(0x1F),
            AltLeft => P(0x11),
            Space => P(0x29),
            AltRight => E(0x11),
            MetaRight => E(0x27),
            ContextMenu => E(0x2F),
            ControlRight => E(0x14),
            Insert => E(0x70),
            Home => E(0x6C),
            PageUp => E(0x7D),
            Delete => E(0x71),
            End => E(0x69),
            PageDown => E(0x7A),
            ArrowUp => E(0x75),
            ArrowLeft => E(0x6B),
            ArrowDown => E(0x72),
            ArrowRight => E(0x74),
            NumLock => P(0x77),
            NumpadDivide => E(0x4A),
            NumpadMultiply => P(0x7C),
            NumpadSubtract => P(0x7B),
            Numpad7 => P(0x6C),
            Numpad8 => P(0x75),
            Numpad9 => P(0x7D),
            NumpadAdd => P(0x79),
            Numpad4 => P(0x6B),
            Numpad5 => P(0x73),
            Numpad6 => P(0x74),
            Numpad1 => P(0x69),
            Numpad2 => P(0x72),
            Numpad3 => P(0x7A),
            NumpadEnter => E(0x5A),
            Numpad0 => P(0x70),
            NumpadDecimal => P(0x71),
        }
    }
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stroke {
    Make,
    Typematic,
    Break,
}

/// The set-2 bytes the keyboard sends for a stroke of `key`.
///
/// Print Screen is sent wrapped in a fake Left Shift and repeats without it;
/// Pause sends its whole make-and-break sequence when pressed and nothing
/// else, because it has no break code and does not repeat. The navigation
/// keys come without the fake shifts a real keyboard wraps around them while
/// Num Lock or Shift is on; drivers discard those anyway.
fn scan_codes(key: KeyCode, stroke: Stroke) -> Vec<u8> {
    match (key.set2(), stroke) {
        (Set2::Plain(code), Stroke::Make | Stroke::Typematic) => vec![code],
        (Set2::Plain(code), Stroke::Break) => vec![BREAK, code],
        (Set2::Extended(code), Stroke::Make | Stroke::Typematic) => vec![EXTENDED, code],
        (Set2::Extended(code), Stroke::Break) => vec![EXTENDED, BREAK, code],
        (Set2::PrintScreen, Stroke::Make) => vec![0xE0, 0x12, 0xE0, 0x7C],
        (Set2::PrintScreen, Stroke::Typematic) => vec![0xE0, 0x7C],
        (Set2::PrintScreen, Stroke::Break) => vec![0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12],
        (Set2::Pause, Stroke::Make) => vec![0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77],
        (Set2::Pause, Stroke::Typematic | Stroke::Break) => vec![],
    }
}

/// The keyboard's three mode indicators (command `ED`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyboardLeds {
    pub scroll_lock: bool,
    pub num_lock: bool,
    pub caps_lock: bool,
}

impl KeyboardLeds {
    fn from_bits(bits: u8) -> Self {
        KeyboardLeds {
            scroll_lock: bits & 1 != 0,
            num_lock: bits & 2 != 0,
            caps_lock: bits & 4 != 0,
        }
    }
}

/// Power-on typematic setting: 10.9 characters per second after 500 ms.
const DEFAULT_TYPEMATIC: u8 = 0x2B;

/// Nanoseconds before a held key starts repeating: 250 ms times one plus
/// bits 5-6 of the typematic byte.
fn typematic_delay(typematic: u8) -> u64 {
    (u64::from((typematic >> 5) & 3) + 1) * 250_000_000
}

/// Nanoseconds between repeats: (8 + A) * 2^B / 240 s, where A is bits 0-2
/// and B bits 3-4 of the typematic byte (30 down to 2 characters per second).
fn typematic_period(typematic: u8) -> u64 {
    let a = u64::from(typematic & 7);
    let b = (typematic >> 3) & 3;
    ((8 + a) << b) * 1_000_000_000 / 240
}

/// The key being repeated.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Typematic {
    key: KeyCode,
    /// Virtual time of the next repeat.
    next: u64,
}

/// A PS/2 (MF2) keyboard. It speaks scan code set 2.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ps2Keyboard {
    transmitter: Transmitter,
    /// The command (`ED`, `F0`, `F3`, `FB`-`FD`) whose argument comes next.
    awaiting: Option<u8>,
    /// Whether keystrokes are reported (commands `F4`/`F5`).
    scanning: bool,
    leds: KeyboardLeds,
    /// The set last selected with `F0`. Sets 1 and 3 are acknowledged and
    /// reported back, but the keyboard always sends set 2.
    scan_code_set: u8,
    /// The typematic rate/delay byte (command `F3`).
    typematic: u8,
    /// Only the most recently pressed key repeats.
    repeating: Option<Typematic>,
}

impl Default for Ps2Keyboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Ps2Keyboard {
    /// A keyboard that has passed its power-on self test (`AA` is waiting).
    pub fn new() -> Self {
        let mut keyboard = Ps2Keyboard {
            transmitter: Transmitter::default(),
            awaiting: None,
            scanning: true,
            leds: KeyboardLeds::default(),
            scan_code_set: 2,
            typematic: DEFAULT_TYPEMATIC,
            repeating: None,
        };
        keyboard.transmitter.answer(&[BAT_OK]);
        keyboard
    }

    /// The next byte the keyboard sends to the host, if any.
    pub fn transmit(&mut self) -> Option<u8> {
        self.transmitter.pop()
    }

    /// Whether the keyboard has a byte to send.
    pub fn has_output(&self) -> bool {
        !self.transmitter.is_empty()
    }

    pub fn leds(&self) -> KeyboardLeds {
        self.leds
    }

    /// A byte from the host: a command, or the argument of the previous one.
    /// A byte with bit 7 set is never an argument: it abandons the pending
    /// command and is executed as a new one.
    pub fn receive(&mut self, byte: u8) {
        match self.awaiting {
            Some(command) if byte < 0x80 => self.argument(command, byte),
            _ => {
                self.awaiting = None;
                self.command(byte);
            }
        }
    }

    fn command(&mut self, command: u8) {
        match command {
            // Set/reset mode indicators, set typematic rate/delay, select
            // scan code set: an argument follows.
            0xED | 0xF0 | 0xF3 => {
                self.awaiting = Some(command);
                self.transmitter.answer(&[ACK]);
            }
            0xEE => self.transmitter.answer(&[0xEE]),
            // Read ID: an MF2 keyboard.
            0xF2 => self.transmitter.answer(&[ACK, 0xAB, 0x83]),
            0xF4 => {
                self.transmitter.buffer.clear();
                self.scanning = true;
                self.transmitter.answer(&[ACK]);
            }
            0xF5 => {
                self.set_defaults();
                self.scanning = false;
                self.repeating = None;
                self.transmitter.answer(&[ACK]);
            }
            0xF6 => {
                self.set_defaults();
                self.transmitter.answer(&[ACK]);
            }
            // Set all keys typematic/make-break/make/typematic-make-break:
            // key types only matter in set 3, which is never sent.
            0xF7..=0xFA => self.transmitter.answer(&[ACK]),
            // Set key type for a list of keys: the list follows.
            0xFB..=0xFD => {
                self.awaiting = Some(command);
                self.transmitter.answer(&[ACK]);
            }
            0xFE => self.transmitter.resend(),
            0xFF => {
                self.transmitter = Transmitter::default();
                self.set_defaults();
                self.leds = KeyboardLeds::default();
                self.scanning = true;
                self.repeating = None;
                self.transmitter.answer(&[ACK, BAT_OK]);
            }
            _ => {
                log::debug!("ps2 keyboard: unknown command {command:#04x}");
                self.transmitter.answer(&[RESEND]);
            }
        }
    }

    fn argument(&mut self, command: u8, value: u8) {
        self.awaiting = None;
        match command {
            0xED => {
                self.leds = KeyboardLeds::from_bits(value);
                self.transmitter.answer(&[ACK]);
            }
            0xF0 => match value {
                0 => self.transmitter.answer(&[ACK, self.scan_code_set]),
                1..=3 => {
                    self.scan_code_set = value;
                    self.transmitter.answer(&[ACK]);
                }
                _ => {
                    log::debug!("ps2 keyboard: no scan code set {value}");
                    self.transmitter.answer(&[RESEND]);
                }
            },
            0xF3 => {
                self.typematic = value;
                self.transmitter.answer(&[ACK]);
            }
            // A key of a set-3 key type list; the list goes on.
            _ => {
                self.awaiting = Some(command);
                self.transmitter.answer(&[ACK]);
            }
        }
    }

    /// Restores the default typematic setting and scan code set and empties
    /// the keystroke buffer (commands `F5`, `F6`, `FF`).
    fn set_defaults(&mut self) {
        self.transmitter.buffer.clear();
        self.typematic = DEFAULT_TYPEMATIC;
        self.scan_code_set = 2;
    }

    /// A key went down or up at virtual time `now`. Ignored while scanning
    /// is disabled.
    pub fn key_event(&mut self, now: u64, key: KeyCode, pressed: bool) {
        if !self.scanning {
            return;
        }
        if pressed {
            self.send_keystroke(key, Stroke::Make);
            self.repeating = (!scan_codes(key, Stroke::Typematic).is_empty()).then(|| Typematic {
                key,
                next: now + typematic_delay(self.typematic),
            });
        } else {
            self.send_keystroke(key, Stroke::Break);
            if self.repeating.as_ref().is_some_and(|r| r.key == key) {
                self.repeating = None;
            }
        }
    }

    /// Buffers a keystroke, or the overrun code if the buffer is full.
    fn send_keystroke(&mut self, key: KeyCode, stroke: Stroke) {
        if !self.transmitter.enqueue(&scan_codes(key, stroke))
            && self.transmitter.buffer.back() != Some(&OVERRUN)
        {
            // The overrun code takes a 17th position reserved for it.
            self.transmitter.buffer.push_back(OVERRUN);
        }
    }

    /// Virtual time at which the held key next repeats.
    pub fn next_event(&self) -> Option<u64> {
        self.repeating.as_ref().map(|r| r.next)
    }

    /// Sends the repeats due by virtual time `now`.
    pub fn advance(&mut self, now: u64) {
        let Some(Typematic { key, next }) = self.repeating else {
            return;
        };
        if next > now {
            return;
        }
        let period = typematic_period(self.typematic);
        let due = (now - next) / period + 1;
        // Repeats beyond a buffer's worth could only overrun it.
        for _ in 0..due.min(BUFFER_SIZE as u64 + 1) {
            self.send_keystroke(key, Stroke::Typematic);
        }
        self.repeating = Some(Typematic {
            key,
            next: next + due * period,
        });
    }
}

// ---------------------------------------------------------------------------
// Mouse
// ---------------------------------------------------------------------------

/// The mouse buttons that are held down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MouseButtons {
    pub left: bool,
    pub right: bool,
    pub middle: bool,
}

/// Power-on sample rate, in reports per second.
const DEFAULT_SAMPLE_RATE: u8 = 100;
/// Power-on resolution code: 4 counts per millimetre.
const DEFAULT_RESOLUTION: u8 = 2;
/// The sample rates a mouse accepts (command `F3`).
const SAMPLE_RATES: [u8; 7] = [10, 20, 40, 60, 80, 100, 200];
/// Setting these sample rates in a row turns a mouse into an IntelliMouse.
const INTELLIMOUSE_KNOCK: [u8; 3] = [200, 100, 80];
/// Device ID of a standard PS/2 mouse.
const ID_STANDARD: u8 = 0x00;
/// Device ID of an IntelliMouse (wheel mouse, 4-byte packets).
const ID_INTELLIMOUSE: u8 = 0x03;

/// A PS/2 mouse with three buttons, which becomes an IntelliMouse (with a
/// wheel) when the host knocks with sample rates 200, 100, 80.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ps2Mouse {
    transmitter: Transmitter,
    /// The command (`E8` or `F3`) whose argument comes next.
    awaiting: Option<u8>,
    /// Data reporting in stream mode (commands `F4`/`F5`).
    reporting: bool,
    /// Remote mode: movement is only sent on request (command `EB`).
    remote: bool,
    /// Wrap (echo) mode, entered with `EE` and left with `EC` or `FF`.
    wrap: bool,
    /// 2:1 scaling (commands `E6`/`E7`), applied to stream mode reports.
    scaling_2_to_1: bool,
    resolution: u8,
    sample_rate: u8,
    /// The last three sample rates set, oldest first.
    recent_rates: [u8; 3],
    device_id: u8,
    buttons: MouseButtons,
    /// Movement counters: motion since the last report.
    dx: i32,
    dy: i32,
    dz: i32,
}

impl Default for Ps2Mouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Ps2Mouse {
    /// A mouse that has passed its power-on self test (`AA 00` is waiting).
    pub fn new() -> Self {
        let mut mouse = Ps2Mouse {
            transmitter: Transmitter::default(),
            awaiting: None,
            reporting: false,
            remote: false,
            wrap: false,
            scaling_2_to_1: false,
            resolution: DEFAULT_RESOLUTION,
            sample_rate: DEFAULT_SAMPLE_RATE,
            recent_rates: [0; 3],
            device_id: ID_STANDARD,
            buttons: MouseButtons::default(),
            dx: 0,
            dy: 0,
            dz: 0,
        };
        mouse.transmitter.answer(&[BAT_OK, ID_STANDARD]);
        mouse
    }

    /// The next byte the mouse sends to the host, if any.
    pub fn transmit(&mut self) -> Option<u8> {
        self.transmitter.pop()
    }

    /// Whether the mouse has a byte to send.
    pub fn has_output(&self) -> bool {
        !self.transmitter.is_empty()
    }

    /// A byte from the host: a command, or the argument of the previous one.
    pub fn receive(&mut self, byte: u8) {
        if let Some(command) = self.awaiting.take() {
            self.argument(command, byte);
        } else if self.wrap && byte != 0xEC && byte != 0xFF {
            self.transmitter.answer(&[byte]);
        } else {
            self.command(byte);
        }
    }

    fn command(&mut self, command: u8) {
        match command {
            // Set scaling 1:1 / 2:1.
            0xE6 | 0xE7 => {
                self.scaling_2_to_1 = command == 0xE7;
                self.transmitter.answer(&[ACK]);
            }
            // Set resolution, set sample rate: an argument follows.
            0xE8 | 0xF3 => {
                self.awaiting = Some(command);
                self.transmitter.answer(&[ACK]);
            }
            0xE9 => {
                let status = u8::from(self.remote) << 6
                    | u8::from(self.reporting) << 5
                    | u8::from(self.scaling_2_to_1) << 4
                    | u8::from(self.buttons.left) << 2
                    | u8::from(self.buttons.middle) << 1
                    | u8::from(self.buttons.right);
                self.transmitter
                    .answer(&[ACK, status, self.resolution, self.sample_rate]);
            }
            // Set stream mode / set remote mode.
            0xEA | 0xF0 => {
                self.remote = command == 0xF0;
                self.clear_counters();
                self.transmitter.answer(&[ACK]);
            }
            // Read data: a movement packet, whatever the mode.
            0xEB => {
                self.transmitter.answer(&[ACK]);
                let packet = self.packet(self.dx, self.dy, self.dz);
                self.transmitter.answer(&packet);
                self.clear_counters();
            }
            // Reset wrap mode / set wrap mode.
            0xEC | 0xEE => {
                self.wrap = command == 0xEE;
                self.clear_counters();
                self.transmitter.answer(&[ACK]);
            }
            0xF2 => self.transmitter.answer(&[ACK, self.device_id]),
            // Enable / disable data reporting.
            0xF4 | 0xF5 => {
                self.reporting = command == 0xF4;
                self.clear_counters();
                self.transmitter.answer(&[ACK]);
            }
            0xF6 => {
                self.set_defaults();
                self.transmitter.answer(&[ACK]);
            }
            0xFE => self.transmitter.resend(),
            0xFF => {
                self.transmitter = Transmitter::default();
                self.set_defaults();
                self.wrap = false;
                self.device_id = ID_STANDARD;
                self.transmitter.answer(&[ACK, BAT_OK, ID_STANDARD]);
            }
            _ => {
                log::debug!("ps2 mouse: unknown command {command:#04x}");
                self.transmitter.answer(&[RESEND]);
            }
        }
    }

    fn argument(&mut self, command: u8, value: u8) {
        let valid = match command {
            0xE8 => value <= 3,
            _ => SAMPLE_RATES.contains(&value),
        };
        if !valid {
            log::debug!("ps2 mouse: bad argument {value:#04x} to command {command:#04x}");
            self.transmitter.answer(&[RESEND]);
            return;
        }
        if command == 0xE8 {
            self.resolution = value;
        } else {
            self.sample_rate = value;
            self.recent_rates = [self.recent_rates[1], self.recent_rates[2], value];
            if self.recent_rates == INTELLIMOUSE_KNOCK {
                self.device_id = ID_INTELLIMOUSE;
            }
        }
        self.transmitter.answer(&[ACK]);
    }

    /// Stream mode, reporting disabled, 100 samples/s, 4 counts/mm, 1:1
    /// scaling (commands `F6`, `FF`).
    fn set_defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2_to_1 = false;
        self.resolution = DEFAULT_RESOLUTION;
        self.sample_rate = DEFAULT_SAMPLE_RATE;
        self.clear_counters();
    }

    fn clear_counters(&mut self) {
        self.dx = 0;
        self.dy = 0;
        self.dz = 0;
    }

    /// The mouse moved by (`dx`, `dy`) counts (`dy` positive = away from the
    /// user, i.e. up) and its buttons are now `buttons`. In stream mode with
    /// reporting enabled this sends a movement packet.
    pub fn motion(&mut self, dx: i32, dy: i32, buttons: MouseButtons) {
        self.movement(dx, dy, 0, buttons);
    }

    /// The wheel turned by `dz` detents (positive = towards the user, i.e.
    /// scrolling down, as the IntelliMouse counts). Only an IntelliMouse
    /// reports it.
    pub fn wheel(&mut self, dz: i32) {
        if self.device_id == ID_INTELLIMOUSE {
            self.movement(0, 0, dz, self.buttons);
        }
    }

    fn movement(&mut self, dx: i32, dy: i32, dz: i32, buttons: MouseButtons) {
        let changed = dx != 0 || dy != 0 || dz != 0 || buttons != self.buttons;
        self.dx = self.dx.saturating_add(dx);
        self.dy = self.dy.saturating_add(dy);
        self.dz = self.dz.saturating_add(dz);
        self.buttons = buttons;
        if !changed || self.remote || !self.reporting || self.wrap {
            return;
        }
        let (dx, dy) = if self.scaling_2_to_1 {
            (scale_2_to_1(self.dx), scale_2_to_1(self.dy))
        } else {
            (self.dx, self.dy)
        };
        // A packet that does not fit waits in the counters for the next one.
        let packet = self.packet(dx, dy, self.dz);
        if self.transmitter.enqueue(&packet) {
            self.clear_counters();
        }
    }

    /// A movement packet:
    ///
    /// | byte | contents |
    /// |------|----------|
    /// | 0 | Y overflow, X overflow, Y sign, X sign, 1, middle, right, left |
    /// | 1 | X movement (low 8 bits of a 9-bit two's complement value) |
    /// | 2 | Y movement |
    /// | 3 | Z (wheel) movement, -8..=7, IntelliMouse only |
    fn packet(&self, dx: i32, dy: i32, dz: i32) -> Vec<u8> {
        let (x, x_overflow) = counter(dx);
        let (y, y_overflow) = counter(dy);
        let flags = u8::from(y_overflow) << 7
            | u8::from(x_overflow) << 6
            | u8::from(y < 0) << 5
            | u8::from(x < 0) << 4
            | 1 << 3
            | u8::from(self.buttons.middle) << 2
            | u8::from(self.buttons.right) << 1
            | u8::from(self.buttons.left);
        let mut packet = vec![flags, x as u8, y as u8];
        if self.device_id == ID_INTELLIMOUSE {
            packet.push(dz.clamp(-8, 7) as u8);
        }
        packet
    }
}

/// A movement counter as the 9-bit value a packet carries, and whether it
/// overflowed.
fn counter(value: i32) -> (i16, bool) {
    let clamped = value.clamp(-256, 255);
    (clamped as i16, clamped != value)
}

/// 2:1 scaling: small movements (the range -5..=5) are mapped through
/// 0, 1, 1, 3, 6, 9; larger ones are doubled.
fn scale_2_to_1(value: i32) -> i32 {
    const TABLE: [i32; 6] = [0, 1, 1, 3, 6, 9];
    let magnitude = value.unsigned_abs();
    let scaled = match TABLE.get(magnitude as usize) {
        Some(&small) => small,
        None => value.saturating_abs().saturating_mul(2),
    };
    scaled * value.signum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_keyboard(keyboard: &mut Ps2Keyboard) -> Vec<u8> {
        std::iter::from_fn(|| keyboard.transmit()).collect()
    }

    fn drain_mouse(mouse: &mut Ps2Mouse) -> Vec<u8> {
        std::iter::from_fn(|| mouse.transmit()).collect()
    }

    fn keyboard() -> Ps2Keyboard {
        let mut keyboard = Ps2Keyboard::new();
        drain_keyboard(&mut keyboard);
        keyboard
    }

    fn mouse() -> Ps2Mouse {
        let mut mouse = Ps2Mouse::new();
        drain_mouse(&mut mouse);
        mouse
    }

    fn send_keyboard(keyboard: &mut Ps2Keyboard, bytes: &[u8]) -> Vec<u8> {
        bytes.iter().for_each(|&b| keyboard.receive(b));
        drain_keyboard(keyboard)
    }

    fn send_mouse(mouse: &mut Ps2Mouse, bytes: &[u8]) -> Vec<u8> {
        bytes.iter().for_each(|&b| mouse.receive(b));
        drain_mouse(mouse)
    }

    const LEFT: MouseButtons = MouseButtons {
        left: true,
        right: false,
        middle: false,
    };
    const NONE: MouseButtons = MouseButtons {
        left: false,
        right: false,
        middle: false,
    };

    /// IBM keyboard reference: after power-on the keyboard sends the BAT
    /// completion code AA; Reset (FF) answers FA and repeats the BAT.
    #[test]
    fn keyboard_power_on_and_reset() {
        let mut keyboard = Ps2Keyboard::new();
        assert_eq!(drain_keyboard(&mut keyboard), [BAT_OK]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xFF]), [ACK, BAT_OK]);
    }

    /// Read ID (F2) answers FA AB 83; Echo (EE) answers EE without ACK;
    /// an unknown command answers Resend.
    #[test]
    fn keyboard_identify_echo_and_unknown() {
        let mut keyboard = keyboard();
        assert_eq!(send_keyboard(&mut keyboard, &[0xF2]), [ACK, 0xAB, 0x83]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xEE]), [0xEE]);
        assert_eq!(send_keyboard(&mut keyboard, &[0x42]), [RESEND]);
    }

    /// Set/Reset Mode Indicators (ED): ACK, option byte, ACK; bit 0 Scroll
    /// Lock, bit 1 Num Lock, bit 2 Caps Lock.
    #[test]
    fn keyboard_leds() {
        let mut keyboard = keyboard();
        assert_eq!(send_keyboard(&mut keyboard, &[0xED, 0x06]), [ACK, ACK]);
        let leds = keyboard.leds();
        assert!(!leds.scroll_lock && leds.num_lock && leds.caps_lock);
    }

    /// A command received in place of an option byte ends the pending
    /// command and is executed.
    #[test]
    fn keyboard_command_instead_of_argument() {
        let mut keyboard = keyboard();
        assert_eq!(
            send_keyboard(&mut keyboard, &[0xED, 0xF2]),
            [ACK, ACK, 0xAB, 0x83]
        );
        assert_eq!(keyboard.leds(), KeyboardLeds::default());
    }

    /// Select Alternate Scan Codes (F0): option 0 reports the current set,
    /// 1-3 select one; anything else is rejected.
    #[test]
    fn keyboard_scan_code_set() {
        let mut keyboard = keyboard();
        assert_eq!(send_keyboard(&mut keyboard, &[0xF0, 0x00]), [ACK, ACK, 2]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xF0, 0x03]), [ACK, ACK]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xF0, 0x00]), [ACK, ACK, 3]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xF0, 0x04]), [ACK, RESEND]);
    }

    /// Resend (FE) repeats the last byte the keyboard sent.
    #[test]
    fn keyboard_resend() {
        let mut keyboard = keyboard();
        send_keyboard(&mut keyboard, &[0xF2]);
        assert_eq!(send_keyboard(&mut keyboard, &[0xFE]), [0x83]);
    }

    /// Set-2 make and break codes: one byte, F0-prefixed break; E0 prefix for
    /// the keys added by the 101-key keyboard.
    #[test]
    fn keyboard_make_and_break_codes() {
        let mut keyboard = keyboard();
        keyboard.key_event(0, KeyCode::KeyA, true);
        keyboard.key_event(0, KeyCode::KeyA, false);
        keyboard.key_event(0, KeyCode::ControlRight, true);
        keyboard.key_event(0, KeyCode::ControlRight, false);
        assert_eq!(
            drain_keyboard(&mut keyboard),
            [0x1C, 0xF0, 0x1C, 0xE0, 0x14, 0xE0, 0xF0, 0x14]
        );
    }

    /// Scan code specification: Print Screen is E0 12 E0 7C / E0 F0 7C E0 F0
    /// 12; Pause is E1 14 77 E1 F0 14 F0 77 on make and nothing on break.
    #[test]
    fn keyboard_print_screen_and_pause() {
        let mut keyboard = keyboard();
        keyboard.key_event(0, KeyCode::PrintScreen, true);
        keyboard.key_event(0, KeyCode::PrintScreen, false);
        assert_eq!(
            drain_keyboard(&mut keyboard),
            [0xE0, 0x12, 0xE0, 0x7C, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12]
        );
        keyboard.key_event(0, KeyCode::Pause, true);
        keyboard.key_event(0, KeyCode::Pause, false);
        assert_eq!(
            drain_keyboard(&mut keyboard),
            [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77]
        );
        assert_eq!(keyboard.next_event(), None, "Pause does not repeat");
    }

    /// Typematic: the default is 10.9 cps after 500 ms; only the last key
    /// pressed repeats, and its release stops it.
    #[test]
    fn keyboard_typematic_default() {
        let mut keyboard = keyboard();
        keyboard.key_event(0, KeyCode::KeyA, true);
        keyboard.key_event(0, KeyCode::KeyB, true);
        drain_keyboard(&mut keyboard);
        assert_eq!(keyboard.next_event(), Some(500_000_000));
        keyboard.advance(499_999_999);
        assert!(!keyboard.has_output());
        // 500 ms, then 91.67 ms per repeat: three repeats by 700 ms.
        keyboard.advance(700_000_000);
        assert_eq!(drain_keyboard(&mut keyboard), [0x32, 0x32, 0x32]);
        keyboard.key_event(700_000_000, KeyCode::KeyA, false);
        assert!(
            keyboard.next_event().is_some(),
            "releasing A leaves B repeating"
        );
        keyboard.key_event(700_000_000, KeyCode::KeyB, false);
        assert_eq!(keyboard.next_event(), None);
    }

    /// Set Typematic Rate/Delay (F3): 0x00 is 30 cps after 250 ms.
    #[test]
    fn keyboard_typematic_programmed() {
        let mut keyboard = keyboard();
        assert_eq!(send_keyboard(&mut keyboard, &[0xF3, 0x00]), [ACK, ACK]);
        keyboard.key_event(0, KeyCode::Space, true);
        drain_keyboard(&mut keyboard);
        assert_eq!(keyboard.next_event(), Some(250_000_000));
        keyboard.advance(250_000_000 + 33_333_333);
        assert_eq!(drain_keyboard(&mut keyboard), [0x29, 0x29]);
        assert_eq!(keyboard.next_event(), Some(250_000_000 + 2 * 33_333_333));
    }

    /// Default Disable (F5) stops scanning; Enable (F4) resumes it.
    #[test]
    fn keyboard_disable_and_enable() {
        let mut keyboard = keyboard();
        assert_eq!(send_keyboard(&mut keyboard, &[0xF5]), [ACK]);
        keyboard.key_event(0, KeyCode::KeyA, true);
        assert!(!keyboard.has_output());
        assert_eq!(send_keyboard(&mut keyboard, &[0xF4]), [ACK]);
        keyboard.key_event(0, KeyCode::KeyA, true);
        assert_eq!(drain_keyboard(&mut keyboard), [0x1C]);
    }

    /// The keyboard buffers 16 bytes and signals overrun with 00 in a 17th
    /// position; a keystroke that does not fit whole is discarded.
    #[test]
    fn keyboard_buffer_overrun() {
        let mut keyboard = keyboard();
        for _ in 0..5 {
            keyboard.key_event(0, KeyCode::ArrowUp, false); // 3 bytes each
        }
        keyboard.key_event(0, KeyCode::KeyA, true); // the 16th byte
        keyboard.key_event(0, KeyCode::KeyB, true);
        keyboard.key_event(0, KeyCode::KeyC, true);
        let sent = drain_keyboard(&mut keyboard);
        assert_eq!(sent.len(), 17);
        assert_eq!(sent[15..], [0x1C, OVERRUN]);
    }

    /// Command answers go out before buffered keystrokes.
    #[test]
    fn keyboard_answers_first() {
        let mut keyboard = keyboard();
        keyboard.key_event(0, KeyCode::KeyA, true);
        keyboard.receive(0xEE);
        assert_eq!(drain_keyboard(&mut keyboard), [0xEE, 0x1C]);
    }

    /// Mouse Reset (FF) answers FA AA 00; Get Device ID (F2) answers FA 00.
    #[test]
    fn mouse_reset_and_id() {
        let mut mouse = Ps2Mouse::new();
        assert_eq!(drain_mouse(&mut mouse), [BAT_OK, 0x00]);
        assert_eq!(send_mouse(&mut mouse, &[0xFF]), [ACK, BAT_OK, 0x00]);
        assert_eq!(send_mouse(&mut mouse, &[0xF2]), [ACK, 0x00]);
        assert_eq!(send_mouse(&mut mouse, &[0x42]), [RESEND]);
    }

    /// Movement is only reported in stream mode once data reporting is
    /// enabled (F4).
    #[test]
    fn mouse_reports_only_when_enabled() {
        let mut mouse = mouse();
        mouse.motion(1, 1, NONE);
        assert!(!mouse.has_output());
        assert_eq!(send_mouse(&mut mouse, &[0xF4]), [ACK]);
        mouse.motion(5, 3, LEFT);
        assert_eq!(drain_mouse(&mut mouse), [0x09, 5, 3]);
    }

    /// Packet byte 0 carries the sign bits (X bit 4, Y bit 5) and the
    /// overflow bits (X bit 6, Y bit 7); Y is positive upwards.
    #[test]
    fn mouse_packet_signs_and_overflow() {
        let mut mouse = mouse();
        send_mouse(&mut mouse, &[0xF4]);
        mouse.motion(-2, -3, NONE);
        assert_eq!(drain_mouse(&mut mouse), [0x38, 0xFE, 0xFD]);
        mouse.motion(300, -300, NONE);
        assert_eq!(drain_mouse(&mut mouse), [0xE8, 0xFF, 0x00]);
    }

    /// Status Request (E9): FA, then mode/enable/scaling/buttons, resolution,
    /// sample rate; E8, E7 and F3 change what it reports.
    #[test]
    fn mouse_status_request() {
        let mut mouse = mouse();
        assert_eq!(send_mouse(&mut mouse, &[0xE9]), [ACK, 0x00, 2, 100]);
        assert_eq!(
            send_mouse(&mut mouse, &[0xE8, 3, 0xE7, 0xF3, 40, 0xF4]),
            [ACK, ACK, ACK, ACK, ACK, ACK]
        );
        mouse.motion(0, 0, LEFT);
        drain_mouse(&mut mouse);
        assert_eq!(send_mouse(&mut mouse, &[0xE9]), [ACK, 0x34, 3, 40]);
        assert_eq!(send_mouse(&mut mouse, &[0xF3, 33]), [ACK, RESEND]);
        assert_eq!(send_mouse(&mut mouse, &[0xE8, 4]), [ACK, RESEND]);
    }

    /// Set Defaults (F6): 100 samples/s, 4 counts/mm, 1:1, stream mode,
    /// reporting disabled.
    #[test]
    fn mouse_set_defaults() {
        let mut mouse = mouse();
        send_mouse(&mut mouse, &[0xE8, 0, 0xE7, 0xF0, 0xF4]);
        assert_eq!(
            send_mouse(&mut mouse, &[0xF6, 0xE9]),
            [ACK, ACK, 0x00, 2, 100]
        );
    }

    /// Remote mode (F0): no packets are sent by themselves; Read Data (EB)
    /// sends the movement since the last read and clears the counters.
    #[test]
    fn mouse_remote_mode() {
        let mut mouse = mouse();
        assert_eq!(send_mouse(&mut mouse, &[0xF0]), [ACK]);
        mouse.motion(3, 4, NONE);
        mouse.motion(1, 0, NONE);
        assert!(!mouse.has_output());
        assert_eq!(send_mouse(&mut mouse, &[0xEB]), [ACK, 0x08, 4, 4]);
        assert_eq!(send_mouse(&mut mouse, &[0xEB]), [ACK, 0x08, 0, 0]);
    }

    /// 2:1 scaling maps counts 1..5 to 1, 1, 3, 6, 9 and doubles larger ones.
    #[test]
    fn mouse_scaling_2_to_1() {
        let mut mouse = mouse();
        send_mouse(&mut mouse, &[0xE7, 0xF4]);
        mouse.motion(4, -3, NONE);
        assert_eq!(drain_mouse(&mut mouse), [0x28, 6, 0xFD]);
        mouse.motion(10, 0, NONE);
        assert_eq!(drain_mouse(&mut mouse), [0x08, 20, 0]);
    }

    /// Wrap mode (EE) echoes every byte except Reset Wrap Mode (EC) and
    /// Reset (FF).
    #[test]
    fn mouse_wrap_mode() {
        let mut mouse = mouse();
        assert_eq!(
            send_mouse(&mut mouse, &[0xEE, 0x12, 0xF4]),
            [ACK, 0x12, 0xF4]
        );
        assert_eq!(send_mouse(&mut mouse, &[0xEC, 0xF2]), [ACK, ACK, 0x00]);
    }

    /// IntelliMouse: sample rates 200, 100, 80 in a row change the ID to 3
    /// and the packets to 4 bytes, the last one the wheel movement.
    #[test]
    fn mouse_intellimouse() {
        let mut mouse = mouse();
        mouse.wheel(1);
        send_mouse(&mut mouse, &[0xF3, 200, 0xF3, 100, 0xF3, 80]);
        assert_eq!(send_mouse(&mut mouse, &[0xF2]), [ACK, ID_INTELLIMOUSE]);
        send_mouse(&mut mouse, &[0xF4]);
        mouse.wheel(-1);
        mouse.motion(1, 0, NONE);
        assert_eq!(drain_mouse(&mut mouse), [0x08, 0, 0, 0xFF, 0x08, 1, 0, 0]);
        assert_eq!(
            send_mouse(&mut mouse, &[0xFF, 0xF2]),
            [ACK, BAT_OK, 0, ACK, 0]
        );
    }
}
