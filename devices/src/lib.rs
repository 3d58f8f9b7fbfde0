//! The PC's devices, one chip per file, each a plain state machine that the
//! board (`pc`) wires to the CPU's port and interrupt buses.

pub mod debug_ports;
pub mod hpet;
pub mod i8042;
pub mod pc;
pub mod pci;
pub mod pic8259;
pub mod piix4_pm;
pub mod pit8254;
pub mod ps2;
pub mod rtc;
pub mod system_control;
pub mod uart16550;
