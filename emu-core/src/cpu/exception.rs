//! Exceptions as values, and their delivery.
//!
//! An instruction handler that faults returns `Err(Exception)`; nothing is
//! unwound by panics. The run loop puts EIP back at the faulting instruction
//! and delivers the exception through the IVT (real mode) or IDT, escalating
//! to #DF and to a triple fault by the rules of Intel SDM vol. 3, 6.15
//! ("Interrupt 8—Double Fault Exception", table 6-5).

use super::{Cpu, SegReg};
use crate::bus::Bus;
use crate::cpu::flags::{AC, IF, RF, TF};

/// A CPU exception: its vector and, for those that push one, an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    pub has_error: bool,
    pub error: u16,
}

/// Divide error.
pub const DE: u8 = 0;
/// Debug.
pub const DB: u8 = 1;
/// Non-maskable interrupt.
pub const NMI: u8 = 2;
/// Breakpoint (INT3).
pub const BP: u8 = 3;
/// Overflow (INTO).
pub const OF: u8 = 4;
/// BOUND range exceeded.
pub const BR: u8 = 5;
/// Invalid opcode.
pub const UD: u8 = 6;
/// Device not available.
pub const NM: u8 = 7;
/// Double fault.
pub const DF: u8 = 8;
/// Invalid TSS.
pub const TS: u8 = 10;
/// Segment not present.
pub const NP: u8 = 11;
/// Stack-segment fault.
pub const SS: u8 = 12;
/// General protection.
pub const GP: u8 = 13;
/// Page fault.
pub const PF: u8 = 14;
/// x87 floating-point error.
pub const MF: u8 = 16;
/// Alignment check.
pub const AC_VEC: u8 = 17;

impl Exception {
    /// An exception without an error code.
    pub const fn new(vector: u8) -> Exception {
        Exception {
            vector,
            has_error: false,
            error: 0,
        }
    }

    /// An exception that pushes `error`.
    pub const fn with_error(vector: u8, error: u16) -> Exception {
        Exception {
            vector,
            has_error: true,
            error,
        }
    }

    pub const fn de() -> Exception {
        Exception::new(DE)
    }
    pub const fn ud() -> Exception {
        Exception::new(UD)
    }
    pub const fn gp(error: u16) -> Exception {
        Exception::with_error(GP, error)
    }
    pub const fn ss(error: u16) -> Exception {
        Exception::with_error(SS, error)
    }
    pub const fn np(error: u16) -> Exception {
        Exception::with_error(NP, error)
    }
    pub const fn ts(error: u16) -> Exception {
        Exception::with_error(TS, error)
    }

    /// A fault-class exception (SDM vol. 3, table 6-1; #AC is not raised yet): reported with EIP at
    /// the faulting instruction, to restart it. #DB is left out: its
    /// instruction-breakpoint form is a fault but pushes RF as it was, and
    /// its other forms are traps.
    fn is_fault(self) -> bool {
        matches!(
            self.vector,
            DE | BR | UD | NM | TS | NP | SS | GP | PF | MF | AC_VEC
        )
    }

    /// The class of the exception for the double-fault rules (SDM vol. 3 table 6-4).
    fn class(self) -> Class {
        match self.vector {
            DE | TS | NP | SS | GP => Class::Contributory,
            PF => Class::PageFault,
            DF => Class::DoubleFault,
            _ => Class::Benign,
        }
    }
}

#[derive(PartialEq, Eq)]
enum Class {
    Benign,
    Contributory,
    PageFault,
    DoubleFault,
}

/// Shorthand for the result of anything that can fault.
pub type Result<T> = core::result::Result<T, Exception>;

/// Why an interrupt is being delivered: software INT n behaves differently
/// from exceptions and external interrupts in protected and V86 mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An external interrupt (INTR or NMI).
    External,
    /// A CPU exception.
    Exception,
    /// INT n, INT3 or INTO.
    Software,
}

impl Cpu {
    /// Delivers `first` (EIP already at the faulting instruction, or past a
    /// trap), escalating to #DF or a triple fault if delivery itself faults.
    ///
    /// Each delivery counts as one step of `icount`, so that a handler that
    /// faults at once (a loop of exceptions that retires nothing) still uses
    /// up the run's budget and virtual time moves on.
    pub(crate) fn raise(&mut self, bus: &mut dyn Bus, first: Exception) {
        self.icount += 1;
        if first.is_fault() {
            // "For any fault-class exception except a debug exception
            // generated in response to an instruction breakpoint, the value
            // pushed for RF is 1" (SDM vol. 3, 17.3.1.1), so that restarting
            // the instruction skips its instruction breakpoint. Delivery
            // clears RF again for the handler.
            self.eflags_raw |= RF;
        }
        let Err(second) = self.deliver(
            bus,
            first.vector,
            first.has_error.then_some(first.error),
            Source::Exception,
        ) else {
            return;
        };
        let (a, b) = (first.class(), second.class());
        let double = a == Class::DoubleFault
            || (a == Class::Contributory && b == Class::Contributory)
            || (a == Class::PageFault && b != Class::Benign);
        if a == Class::DoubleFault {
            self.triple_fault();
            return;
        }
        let next = if double {
            Exception::with_error(DF, 0)
        } else {
            second
        };
        self.raise(bus, next);
    }

    /// Delivers an interrupt or exception through the IVT or IDT.
    pub(crate) fn deliver(
        &mut self,
        bus: &mut dyn Bus,
        vector: u8,
        error: Option<u16>,
        source: Source,
    ) -> Result<()> {
        if self.protected_mode() {
            return self.deliver_protected(bus, vector, error, source);
        }
        // Real mode: the IVT at IDTR.base holds 4-byte CS:IP vectors.
        let entry = vector as u32 * 4;
        if entry + 3 > self.idtr.limit {
            return Err(Exception::gp(0));
        }
        let ip = self.read_lin16(bus, self.idtr.base.wrapping_add(entry))?;
        let cs = self.read_lin16(bus, self.idtr.base.wrapping_add(entry + 2))?;
        let flags = self.eflags() as u16;
        let old_cs = self.segs[SegReg::CS as usize].selector;
        let old_ip = self.eip as u16;
        self.push_all16(bus, &[flags, old_cs, old_ip])?;
        self.set_flag(IF | TF | AC | RF, false);
        self.set_real_segment(SegReg::CS, cs);
        self.eip = ip as u32;
        Ok(())
    }

    /// A fault while delivering a double fault: the processor shuts down, and
    /// the board resets the machine (or ends the run).
    pub(crate) fn triple_fault(&mut self) {
        log::debug!(
            "triple fault at {:04x}:{:08x}",
            self.segs[SegReg::CS as usize].selector,
            self.eip
        );
        self.shutdown = true;
        self.exit_block = true;
    }
}
