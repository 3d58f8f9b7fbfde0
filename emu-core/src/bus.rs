//! The traits through which the CPU reaches the platform: port I/O, MMIO and
//! the interrupt lines. The CPU never names a device; the board implements
//! [`Bus`] and dispatches to the device that claims a port or range.

/// The outside world as the CPU sees it.
pub trait Bus {
    /// Called before each port access with the exact virtual time in CPU
    /// cycles (`Cpu::cycles`), so that devices can catch up to that moment.
    fn sync(&mut self, _cycles: u64) {}
    /// `IN` of `size` bytes (1, 2 or 4) from `port`.
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    /// `OUT` of `size` bytes (1, 2 or 4) to `port`.
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// A read of `size` bytes from a physical range the platform claimed as MMIO.
    fn mmio_read(&mut self, _addr: u32, size: u8) -> u32 {
        ones(size)
    }
    /// A write to a physical range the platform claimed as MMIO.
    fn mmio_write(&mut self, _addr: u32, _size: u8, _value: u32) {}
    /// Asked by the CPU after each port or MMIO write: true if a device needs
    /// the board's attention before another instruction runs (reset, A20,
    /// the exit port). The CPU then ends its run with `RunExit::BusRequest`.
    fn stop_requested(&mut self) -> bool {
        false
    }
    /// The INTR line: a maskable interrupt is waiting (sampled when IF=1).
    fn interrupt_pending(&mut self) -> bool {
        false
    }
    /// The interrupt-acknowledge cycle: returns the vector of the interrupt
    /// that `interrupt_pending` announced.
    fn interrupt_ack(&mut self) -> u8 {
        0
    }
}

/// All-ones of `size` bytes: what an undriven (open) bus reads as.
pub fn ones(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

/// A bus with nothing on it: reads float high, writes vanish, no interrupts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullBus;

impl Bus for NullBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        ones(size)
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
}
