//! The x87 FPU and MMX. (Being written.)

use crate::cpu::decode::{Handler, Op};
use iced_x86::Instruction;
use serde::{Deserialize, Serialize};

/// The FPU's architectural state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Fpu {}

pub fn lower(_i: &Instruction, _op: &Op) -> Option<Handler> {
    None
}
