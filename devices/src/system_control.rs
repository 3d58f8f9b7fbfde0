//! System Control Port A (port 0x92), as on PS/2 and every later PC chipset:
//! bit 1 gates address line 20 ("fast A20"), and writing bit 0 as 1 resets
//! the CPU (a "fast reset").

use serde::{Deserialize, Serialize};

/// Port 0x92.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SystemControlA {
    value: u8,
    reset_requested: bool,
}

impl SystemControlA {
    /// Bit 1: A20 enabled.
    pub const A20: u8 = 1 << 1;
    /// Bit 0: fast reset (write 1).
    pub const RESET: u8 = 1 << 0;

    /// A port with A20 in the state given (chipsets reset with it off, but
    /// firmware usually turns it on; the board decides).
    pub fn new(a20: bool) -> SystemControlA {
        SystemControlA {
            value: if a20 { Self::A20 } else { 0 },
            reset_requested: false,
        }
    }

    pub fn read(&self) -> u8 {
        self.value
    }

    /// A guest write: a 0→1 transition of bit 0 asks for a reset.
    pub fn write(&mut self, value: u8) {
        if value & Self::RESET != 0 && self.value & Self::RESET == 0 {
            self.reset_requested = true;
        }
        self.value = value & (Self::A20 | Self::RESET);
    }

    /// The A20 gate as this port drives it.
    pub fn a20(&self) -> bool {
        self.value & Self::A20 != 0
    }

    /// True once after the guest asked for a fast reset.
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a20_and_fast_reset() {
        let mut p = SystemControlA::new(false);
        assert!(!p.a20());
        p.write(SystemControlA::A20);
        assert!(p.a20() && !p.take_reset_request());
        p.write(SystemControlA::A20 | SystemControlA::RESET);
        assert!(p.take_reset_request());
        assert!(!p.take_reset_request(), "the request is taken once");
    }
}
