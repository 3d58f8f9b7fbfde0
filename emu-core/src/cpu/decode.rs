//! Lowering: turning an iced-x86 `Instruction` into an [`Op`] once, when its
//! block is decoded, so that executing it later needs no decoding at all.
//!
//! An `Op` is a handler function plus its operands already resolved to
//! register numbers, immediates and an effective-address recipe. Each family
//! of instructions (in `ops/`) has a `lower` function that picks the handler;
//! the generic operand fields are filled here.

use super::exception::Result;
use super::ops;
use super::Cpu;
use crate::bus::Bus;
use iced_x86::{Instruction, OpKind, Register};

/// The function that executes one lowered instruction.
pub type Handler = fn(&mut Cpu, &mut dyn Bus, &Op) -> Result<()>;

/// "No register" in an effective-address recipe.
pub const NO_REG: u8 = 0xFF;

/// One pre-decoded instruction.
#[derive(Clone, Copy)]
pub struct Op {
    pub handler: Handler,
    /// Offset of this instruction from the start of its block.
    pub start: u16,
    /// Offset of the next instruction from the start of its block.
    pub next: u16,
    /// Position of the op in its block: with the block's starting count it
    /// gives the exact retired-instruction count, i.e. the time, of an I/O access.
    pub pos: u8,
    /// Operand 0 as a register number (encoding order), if it is a register.
    pub dst: u8,
    /// Operand 1 as a register number, if it is a register.
    pub src: u8,
    /// Segment register of the memory operand (after any override).
    pub seg: u8,
    /// Effective address: base register or [`NO_REG`].
    pub base: u8,
    /// Effective address: index register or [`NO_REG`].
    pub index: u8,
    /// Effective address: log2 of the index scale.
    pub scale: u8,
    /// 32-bit address size (else 16-bit: the sum wraps at 64 KiB).
    pub addr32: bool,
    /// REP/REPE (1) or REPNE (2) prefix on a string instruction.
    pub rep: u8,
    /// Effective address: displacement.
    pub disp: u32,
    /// The first immediate, sign-extended as the instruction defines; for
    /// relative branches the displacement from the next instruction.
    pub imm: u32,
    /// The second immediate (ENTER's nesting level, a far pointer's selector).
    pub imm2: u32,
}

/// The index of a general or segment register in encoding order.
pub fn reg_number(r: Register) -> u8 {
    let n = r as u32;
    let from = |first: Register| n.wrapping_sub(first as u32) as u8;
    if r.is_gpr8() {
        from(Register::AL)
    } else if r.is_gpr16() {
        from(Register::AX)
    } else if r.is_gpr32() {
        from(Register::EAX)
    } else if r.is_segment_register() {
        from(Register::ES)
    } else if r.is_cr() {
        from(Register::CR0)
    } else if r.is_dr() {
        from(Register::DR0)
    } else if r.is_st() {
        from(Register::ST0)
    } else if r.is_mm() {
        from(Register::MM0)
    } else {
        NO_REG
    }
}

impl Op {
    /// An op that raises `handler`'s fault; used for undecodable bytes.
    pub fn fault(handler: Handler, start: u16, next: u16) -> Op {
        Op {
            handler,
            start,
            next,
            pos: 0,
            dst: NO_REG,
            src: NO_REG,
            seg: 3,
            base: NO_REG,
            index: NO_REG,
            scale: 0,
            addr32: false,
            rep: 0,
            disp: 0,
            imm: 0,
            imm2: 0,
        }
    }

    /// Lowers `i`, which starts `start` bytes into its block. Instructions no
    /// family implements become #UD.
    pub fn lower(i: &Instruction, start: u16) -> Op {
        let next = start + i.len() as u16;
        let mut op = Op::fault(ops::raise_ud, start, next);
        let mut imms = 0;
        for n in 0..i.op_count() {
            match i.op_kind(n) {
                OpKind::Register => {
                    let r = reg_number(i.op_register(n));
                    match n {
                        0 => op.dst = r,
                        1 => op.src = r,
                        _ => {}
                    }
                }
                OpKind::Memory => {
                    op.seg = reg_number(i.memory_segment());
                    op.base = reg_number(i.memory_base());
                    op.index = reg_number(i.memory_index());
                    op.scale = i.memory_index_scale().trailing_zeros() as u8;
                    op.disp = i.memory_displacement32();
                    op.addr32 = match (i.memory_base(), i.memory_index()) {
                        (Register::None, Register::None) => i.memory_displ_size() != 2,
                        (Register::None, x) | (x, _) => x.is_gpr32(),
                    };
                }
                OpKind::NearBranch16 | OpKind::NearBranch32 => {
                    op.imm = (i.near_branch_target() as u32).wrapping_sub(i.next_ip() as u32);
                }
                OpKind::FarBranch16 | OpKind::FarBranch32 => {
                    op.imm = if i.op_kind(n) == OpKind::FarBranch16 {
                        i.far_branch16() as u32
                    } else {
                        i.far_branch32()
                    };
                    op.imm2 = i.far_branch_selector() as u32;
                }
                OpKind::Immediate8_2nd => op.imm2 = i.immediate8_2nd() as u32,
                OpKind::MemorySegSI
                | OpKind::MemorySegESI
                | OpKind::MemorySegDI
                | OpKind::MemorySegEDI
                | OpKind::MemoryESDI
                | OpKind::MemoryESEDI => {
                    op.seg = reg_number(i.memory_segment());
                    op.addr32 = matches!(
                        i.op_kind(n),
                        OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
                    );
                }
                k if is_immediate(k) => {
                    if imms == 0 {
                        op.imm = i.immediate(n) as u32;
                    } else {
                        op.imm2 = i.immediate(n) as u32;
                    }
                    imms += 1;
                }
                _ => {}
            }
        }
        if op.seg == NO_REG {
            op.seg = 3;
        }
        op.rep = if i.has_repne_prefix() {
            2
        } else if i.has_rep_prefix() || i.has_repe_prefix() {
            1
        } else {
            0
        };
        if let Some(fop) = super::x87::fop(i) {
            // x87 instructions have no immediate: the field carries the FPU
            // opcode that FSTENV/FSAVE report.
            op.imm = fop as u32;
        }
        match ops::lower(i, &op) {
            Some(h) => op.handler = h,
            None => log::debug!("not implemented, raising #UD: {i} ({:?})", i.code()),
        }
        op
    }
}

fn is_immediate(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate32to64
            | OpKind::Immediate8to64
            | OpKind::Immediate64
    )
}

/// Whether a block must end after `i`: it transfers control, or changes
/// state that decoding or the interrupt check depends on (mode, paging,
/// IF, the MOV SS interrupt shadow).
pub fn ends_block(i: &Instruction) -> bool {
    use iced_x86::{FlowControl, Mnemonic::*};
    if i.flow_control() != FlowControl::Next {
        return true;
    }
    let writes_special = |r: Register| r.is_segment_register() || r.is_cr() || r.is_dr();
    match i.mnemonic() {
        Hlt | Cli | Sti | Popf | Lmsw | Clts | Lgdt | Lidt | Lldt | Ltr | Invlpg | Wrmsr | Lss
        | Wbinvd | Invd => true,
        Mov | Pop => i.op_kind(0) == OpKind::Register && writes_special(i.op0_register()),
        _ => false,
    }
}
