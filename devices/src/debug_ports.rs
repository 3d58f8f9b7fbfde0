//! The emulator's debugging ports, as Bochs and QEMU provide them:
//!
//! - **0xE9 / 0x402 debug console**: every byte written goes to the host
//!   (Bochs' "port E9 hack", QEMU's `-debugcon`); reading returns 0xE9 so
//!   software can detect it.
//! - **0x80 POST code**: the diagnostic port BIOSes write progress codes to.
//! - **0xF4 exit port** (QEMU's `isa-debug-exit`): a write of *v* ends the
//!   run with host exit status `(v << 1) | 1`.

use std::io::Write;

/// Where debug-console bytes and POST codes go.
pub type Sink = Box<dyn Write + Send>;

/// The debug console: bytes written to its port go to a host sink.
pub struct DebugCon {
    sink: Option<Sink>,
}

impl DebugCon {
    /// The value a read of the port returns: lets guests detect the console.
    pub const READBACK: u8 = 0xE9;

    /// A console writing to `sink`, or discarding bytes if `None`.
    pub fn new(sink: Option<Sink>) -> DebugCon {
        DebugCon { sink }
    }

    /// A guest write of one byte.
    pub fn write(&mut self, byte: u8) {
        if let Some(s) = self.sink.as_mut() {
            // The host side failing (a closed pipe) must not stop the guest.
            if s.write_all(&[byte]).is_err() || (byte == b'\n' && s.flush().is_err()) {
                log::debug!("debug console sink failed; further output dropped");
                self.sink = None;
            }
        }
    }

    /// Flushes what the guest wrote so far.
    pub fn flush(&mut self) {
        if let Some(s) = self.sink.as_mut() {
            let _ = s.flush();
        }
    }
}

/// The POST diagnostic port: remembers the last code and logs every code as
/// a hex line.
pub struct PostPort {
    last: u8,
    log: Option<Sink>,
}

impl PostPort {
    /// A port logging codes to `log` (one `xx` line per write), if any.
    pub fn new(log: Option<Sink>) -> PostPort {
        PostPort { last: 0, log }
    }

    /// A guest write of a POST code.
    pub fn write(&mut self, code: u8) {
        self.last = code;
        if let Some(l) = self.log.as_mut() {
            if writeln!(l, "{code:02x}").and_then(|_| l.flush()).is_err() {
                self.log = None;
            }
        }
    }

    /// The last code written (reads of port 0x80 return it, as on many boards).
    pub fn last(&self) -> u8 {
        self.last
    }
}

/// QEMU's isa-debug-exit: a write asks the host to exit.
#[derive(Default)]
pub struct ExitPort {
    requested: Option<u32>,
}

impl ExitPort {
    /// A guest write of `value`.
    pub fn write(&mut self, value: u32) {
        self.requested = Some((value << 1) | 1);
    }

    /// The host exit status the guest asked for, if it did.
    pub fn status(&self) -> Option<u32> {
        self.requested
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn post_codes_are_logged_as_hex_lines() {
        let out = Shared::default();
        let mut p = PostPort::new(Some(Box::new(out.clone())));
        p.write(0x0A);
        p.write(0xFF);
        assert_eq!(&*out.0.lock().unwrap(), b"0a\nff\n");
        assert_eq!(p.last(), 0xFF);
    }

    #[test]
    fn exit_status_is_qemu_isa_debug_exit() {
        let mut e = ExitPort::default();
        e.write(0);
        assert_eq!(e.status(), Some(1));
        e.write(0x10);
        assert_eq!(e.status(), Some(0x21));
    }
}
