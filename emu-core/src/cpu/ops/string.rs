//! (being written)

use crate::cpu::decode::{Handler, Op};
use iced_x86::Instruction;

pub fn lower(_i: &Instruction, _op: &Op) -> Option<Handler> {
    None
}
