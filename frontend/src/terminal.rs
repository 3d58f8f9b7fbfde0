//! The `stdio` serial back-end's input side: what is typed on the terminal
//! goes to a COM port. On an interactive Unix terminal it is put in raw mode
//! (keys reach the guest as typed, Ctrl-C included) and, as in QEMU, Ctrl-A
//! is an escape: Ctrl-A x quits, Ctrl-A Ctrl-A sends a Ctrl-A, Ctrl-A h
//! lists the keys. The terminal's settings come back when the run ends.

use devices::pc::HostEvent;
use std::io::{self, Read, Write};
use std::sync::mpsc::{self, Receiver, Sender};

/// The escape key, Ctrl-A.
const ESCAPE: u8 = 0x01;

const HELP: &str =
    "\r\nC-a x    quit ferrite\r\nC-a C-a  send C-a to the guest\r\nC-a h    this help\r\n";

/// Reads the terminal on a thread and sends what is typed to COM port
/// `port` (0 = COM1). The returned guard keeps the terminal raw while the
/// machine runs; dropping it restores the terminal.
pub fn stdin_to_com(port: usize) -> (Receiver<HostEvent>, RawMode) {
    let raw = RawMode::enable();
    let escapes = raw.is_active();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || forward(port, escapes, &tx));
    (rx, raw)
}

/// Forwards stdin until it closes (or the user quits).
fn forward(port: usize, escapes: bool, tx: &Sender<HostEvent>) {
    let mut keys = EscapeDecoder::default();
    let mut buf = [0u8; 256];
    let mut stdin = io::stdin().lock();
    while let Ok(n @ 1..) = stdin.read(&mut buf) {
        let (bytes, command) = if escapes {
            keys.decode(&buf[..n])
        } else {
            (buf[..n].to_vec(), None)
        };
        if !bytes.is_empty() && tx.send(HostEvent::Serial(port, bytes)).is_err() {
            return;
        }
        match command {
            Some(Command::Quit) => {
                let _ = tx.send(HostEvent::Quit);
                return;
            }
            Some(Command::Help) => {
                let _ = io::stderr().write_all(HELP.as_bytes());
            }
            None => {}
        }
    }
}

/// What an escape sequence asks the host to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Quit,
    Help,
}

/// Splits typed bytes into those for the guest and an escape command.
#[derive(Default)]
struct EscapeDecoder {
    /// The last byte was the escape key.
    escaped: bool,
}

impl EscapeDecoder {
    /// The bytes for the guest, and the last command typed (quitting ends
    /// the decoding: what follows is never sent).
    fn decode(&mut self, input: &[u8]) -> (Vec<u8>, Option<Command>) {
        let mut out = Vec::with_capacity(input.len());
        let mut command = None;
        for &b in input {
            if !std::mem::take(&mut self.escaped) {
                if b == ESCAPE {
                    self.escaped = true;
                } else {
                    out.push(b);
                }
                continue;
            }
            match b {
                b'x' | b'X' => return (out, Some(Command::Quit)),
                b'h' | b'H' | b'?' => command = Some(Command::Help),
                // Ctrl-A twice is a Ctrl-A; anything else is dropped, as QEMU does.
                ESCAPE => out.push(ESCAPE),
                _ => {}
            }
        }
        (out, command)
    }
}

/// The terminal in raw mode for as long as this lives (Unix, when stdin is a
/// terminal; elsewhere the terminal keeps its line mode).
pub struct RawMode {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

#[cfg(unix)]
impl RawMode {
    fn enable() -> RawMode {
        // SAFETY: isatty/tcgetattr/tcsetattr on fd 0 with a properly sized,
        // initialised termios; failures leave the terminal as it was.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return RawMode { saved: None };
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return RawMode { saved: None };
            }
            let mut raw = saved;
            // Keys as typed: no line editing, echo, signals or CR→NL; output
            // processing stays on so the guest's newlines look right.
            raw.c_iflag &= !(libc::ICRNL | libc::IXON | libc::BRKINT | libc::ISTRIP);
            raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return RawMode { saved: None };
            }
            RawMode { saved: Some(saved) }
        }
    }

    fn is_active(&self) -> bool {
        self.saved.is_some()
    }
}

#[cfg(unix)]
impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            // SAFETY: restores the settings read by tcgetattr above.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved);
            }
        }
    }
}

#[cfg(not(unix))]
impl RawMode {
    fn enable() -> RawMode {
        RawMode {}
    }

    fn is_active(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_a_x_quits_after_the_bytes_before_it() {
        let mut d = EscapeDecoder::default();
        assert_eq!(
            d.decode(b"ls\x01x rest"),
            (b"ls".to_vec(), Some(Command::Quit))
        );
    }

    #[test]
    fn ctrl_a_twice_sends_one_and_the_escape_spans_reads() {
        let mut d = EscapeDecoder::default();
        assert_eq!(d.decode(b"a\x01"), (b"a".to_vec(), None));
        assert_eq!(d.decode(b"\x01b"), (b"\x01b".to_vec(), None));
        assert_eq!(
            d.decode(b"\x01z!"),
            (b"!".to_vec(), None),
            "unknown: dropped"
        );
        assert_eq!(d.decode(b"\x01h"), (Vec::new(), Some(Command::Help)));
        assert_eq!(
            d.decode(b"\x01hls"),
            (b"ls".to_vec(), Some(Command::Help)),
            "bytes after a help request are kept"
        );
    }
}
