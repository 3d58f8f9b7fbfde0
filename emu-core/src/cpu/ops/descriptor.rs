//! Descriptor-table instructions: LLDT, LTR, SLDT, STR, LAR, LSL, VERR,
//! VERW, ARPL, and SYSENTER/SYSEXIT. (Being written.)

use crate::cpu::decode::{Handler, Op};
use iced_x86::Instruction;

pub fn lower(_i: &Instruction, _op: &Op) -> Option<Handler> {
    None
}
