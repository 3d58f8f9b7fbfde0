//! emu-core: ferrite's x86 CPU interpreter, physical memory, and the virtual
//! clock, with the bus traits through which a platform attaches devices.

pub mod bus;
pub mod clock;
pub mod cpu;
pub mod memory;

pub use bus::{Bus, NullBus};
pub use cpu::{Cpu, RunExit, SegReg};
pub use memory::Memory;
