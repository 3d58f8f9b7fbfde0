//! Bit test and scan: BT, BTS, BTR, BTC, BSF, BSR (Intel SDM vol. 2).
//!
//! Undefined flags: BTx define only CF; OF, SF, AF and PF are undefined and
//! are left unchanged (ZF is defined as unchanged). BSF/BSR define only ZF;
//! the other five are undefined and are left unchanged. With a zero source
//! BSF/BSR leave the destination unchanged, as Intel P6 and later do (the SDM
//! calls it undefined).

use super::{is_mem, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::flags::{CF, ZF};
use crate::cpu::Cpu;
use iced_x86::{Instruction, Mnemonic, OpKind};

const BT: u8 = 0;
const BTS: u8 = 1;
const BTR: u8 = 2;
const BTC: u8 = 3;

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    let w = width(i, 0);
    if w == 8 {
        return None;
    }
    match i.mnemonic() {
        Mnemonic::Bt => bit_test::<BT>(i, w),
        Mnemonic::Bts => bit_test::<BTS>(i, w),
        Mnemonic::Btr => bit_test::<BTR>(i, w),
        Mnemonic::Btc => bit_test::<BTC>(i, w),
        // F3 0F BC/BD are TZCNT/LZCNT only on CPUs with BMI1/ABM; on a P6
        // the REP prefix is ignored and they execute as BSF/BSR (SDM vol. 2,
        // TZCNT: "on processors that do not support TZCNT, the instruction
        // byte encoding is executed as BSF").
        Mnemonic::Bsf | Mnemonic::Tzcnt => pick!(w, is_mem(i, 1), scan, false),
        Mnemonic::Bsr | Mnemonic::Lzcnt => pick!(w, is_mem(i, 1), scan, true),
        _ => None,
    }
}

fn bit_test<const OP: u8>(i: &Instruction, w: u32) -> Option<Handler> {
    if i.op_kind(1) == OpKind::Register {
        pick!(w, is_mem(i, 0), bt, OP, true)
    } else {
        pick!(w, is_mem(i, 0), bt, OP, false)
    }
}

#[inline(always)]
fn modify<const OP: u8>(v: u32, m: u32) -> u32 {
    match OP {
        BTS => v | m,
        BTR => v & !m,
        BTC => v ^ m,
        _ => v,
    }
}

/// BT/BTS/BTR/BTC r/m, reg or imm8. CF = the selected bit, which is then set,
/// cleared or complemented.
///
/// SDM "BT—Bit Test": an imm8 offset is taken modulo the operand width. A
/// register offset on a register operand is too; on a memory operand it is a
/// signed bit index into a bit string starting at the effective address, and
/// the word or dword accessed is at `EA + 2 * (offset SAR 4)` (16-bit) or
/// `EA + 4 * (offset SAR 5)` (32-bit), wrapping within the address size.
fn bt<const W: u32, const MEM: bool, const OP: u8, const REG: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let offset = if REG { cpu.reg::<W>(op.src) } else { op.imm };
    let m = 1u32 << (offset & (W - 1));
    let old = if MEM {
        let mut ea = cpu.ea(op);
        if REG {
            let words = if W == 16 {
                (offset as u16 as i16 >> 4) as i32
            } else {
                offset as i32 >> 5
            };
            ea = ea.wrapping_add((words as u32).wrapping_mul(W / 8));
            if !op.addr32 {
                ea &= 0xFFFF;
            }
        }
        if OP == BT {
            cpu.read::<W>(bus, op.seg, ea)?
        } else {
            let lin = cpu.seg_check(op.seg, ea, W / 8, true)?;
            let v = cpu.read_lin::<W>(bus, lin)?;
            cpu.write_lin::<W>(bus, lin, modify::<OP>(v, m))?;
            v
        }
    } else {
        let v = cpu.reg::<W>(op.dst);
        if OP != BT {
            cpu.set_reg::<W>(op.dst, modify::<OP>(v, m));
        }
        v
    };
    cpu.set_flag(CF, old & m != 0);
    Ok(())
}

/// BSF (`REV` false) / BSR r, r/m: the index of the lowest / highest set
/// bit, ZF = 0; with a zero source ZF = 1 and the destination is unchanged.
fn scan<const W: u32, const MEM: bool, const REV: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let v = cpu.read_src_rm::<W, MEM>(bus, op)?;
    if v == 0 {
        cpu.set_flag(ZF, true);
        return Ok(());
    }
    let index = if REV {
        31 - v.leading_zeros()
    } else {
        v.trailing_zeros()
    };
    cpu.set_reg::<W>(op.dst, index);
    cpu.set_flag(ZF, false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cpu::flags::{CF, OF, SF, ZF};
    use crate::Cpu;
    use iced_x86::code_asm::*;

    /// Assembles 16-bit code (plus a HLT), runs it at 0100:0000 with DS =
    /// 3000 after `setup`, and returns the CPU when it halts.
    fn run(
        setup: impl FnOnce(&mut Cpu),
        build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    ) -> Cpu {
        crate::cpu::testing::run_real(setup, build)
    }

    #[test]
    fn bt_register_forms() {
        let c = run(
            |c| {
                c.regs[0] = 0x8001;
                c.regs[1] = 0x1F; // bit 15 (31 mod 16)
                c.set_eflags(ZF | SF | OF);
            },
            |a| a.bt(ax, cx),
        );
        assert!(c.cf());
        // Other flags unchanged.
        assert_eq!(c.eflags() & (ZF | SF | OF), ZF | SF | OF);
        let c = run(|c| c.regs[0] = 0x8001, |a| a.bts(eax, 33)); // imm mod 32 = 1
        assert_eq!(c.regs[0], 0x8003);
        assert!(!c.cf());
        let c = run(|c| c.regs[0] = 0x8001, |a| a.btr(ax, 0));
        assert_eq!(c.regs[0], 0x8000);
        assert!(c.cf());
        let c = run(|c| c.regs[3] = 0xFFFF_FFFF, |a| a.btc(ebx, 31));
        assert_eq!(c.regs[3], 0x7FFF_FFFF);
        assert!(c.cf());
    }

    #[test]
    fn bt_memory_with_register_offsets() {
        // Bit -1 relative to DS:0020 is bit 15 of the word at DS:001E.
        let mut c = run(
            |c| {
                c.mem.write_bytes(0x3001E, &[0x00, 0x80]);
                c.regs[1] = 0xFFFF; // -1
            },
            |a| a.btr(word_ptr(0x20), cx),
        );
        assert!(c.cf());
        assert_eq!(c.mem.read_u8(0x3001F), 0x00);
        // 32-bit: offset -33 -> dword at EA - 8, bit 31.
        let mut c = run(
            |c| {
                c.regs[1] = (-33i32) as u32;
                c.regs[3] = 0x20;
            },
            |a| a.bts(dword_ptr(bx), ecx),
        );
        assert!(!c.cf());
        assert_eq!(c.mem.read_u8(0x3001B), 0x80);
        // A large positive offset: bit 100 of the string at DS:0000 = byte 12, bit 4.
        let c = run(
            |c| {
                c.mem.write_u8(0x3000C, 0x10);
                c.regs[1] = 100;
            },
            |a| a.bt(word_ptr(0), cx),
        );
        assert!(c.cf());
        // An imm8 offset stays within the addressed word.
        let mut c = run(
            |c| c.mem.write_bytes(0x30000, &[0, 0]),
            |a| a.btc(word_ptr(0), 17),
        );
        assert!(!c.cf());
        assert_eq!(c.mem.read_u8(0x30000), 0x02);
    }

    #[test]
    fn bsf_bsr() {
        let c = run(
            |c| {
                c.regs[3] = 0x0001_0100;
                c.regs[0] = 0xFFFF_FFFF;
            },
            |a| {
                a.bsf(eax, ebx)?;
                a.bsr(cx, bx)
            },
        );
        assert_eq!(c.regs[0], 8);
        assert_eq!(c.regs[1] & 0xFFFF, 8);
        assert!(!c.zf());
        let c = run(
            |c| {
                c.regs[3] = 0x8000_0000;
            },
            |a| a.bsr(eax, ebx),
        );
        assert_eq!(c.regs[0], 31);
        // Zero source: ZF = 1, destination unchanged, CF unchanged.
        let c = run(
            |c| {
                c.regs[0] = 0x1234_5678;
                c.set_eflags(CF);
            },
            |a| a.bsf(ax, word_ptr(0x40)),
        );
        assert_eq!(c.regs[0], 0x1234_5678);
        assert!(c.zf() && c.cf());
    }
}
