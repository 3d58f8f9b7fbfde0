//! Shifts and rotates: ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR (Intel SDM vol. 2,
//! "RCL/RCR/ROL/ROR—Rotate" and "SAL/SAR/SHL/SHR—Shift"), and the double
//! shifts SHLD and SHRD ("SHLD—Double Precision Shift Left", "SHRD—Double
//! Precision Shift Right").
//!
//! The count is masked to 5 bits on every form (286 and later). A masked count
//! of zero changes neither the operand nor any flag; the memory operand is
//! still read (with the write-permission check of a read-modify-write).
//!
//! Flags the SDM leaves undefined are set as a P6-family Intel CPU does where
//! that is known, else deterministically:
//!
//! * OF for counts other than 1: the count-1 formula applied to the final
//!   values, as reported for modern Intel parts (SHL/SAL: MSB(result) XOR CF;
//!   SHR: MSB of the original operand; SAR: 0; ROL/RCL: MSB(result) XOR CF;
//!   ROR/RCR: XOR of the two most significant bits of the result). Not
//!   verified on a P6 here. Bochs and QEMU give 0 for SHR with counts >= 2
//!   instead; the 286 reference data masks OF for every multi-bit count.
//! * AF after a shift with a nonzero count: 0 (what Bochs and QEMU produce;
//!   not verified on hardware).
//! * CF for SHL/SHR with a count >= the operand width: the last bit shifted out
//!   when the shift is carried out one bit at a time as the SDM's pseudo-code
//!   does (so 0 once the count exceeds the width; SAR keeps shifting out the
//!   sign).
//! * SHLD/SHRD on 16-bit operands with a count > 16 (result undefined): Intel
//!   P6 and later shift the 48-bit concatenation dest:src:dest, so bits of the
//!   destination re-enter after the source; CF is the last bit shifted out of
//!   that concatenation. This matches Bochs' "P6 and later" model.

use super::alu::{read_modify, write_back};
use super::{is_mem, mask, sext, sign, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::flags::{CF, OF};
use crate::cpu::{reg, Cpu};
use iced_x86::{Instruction, Mnemonic, OpKind};

const ROL: u8 = 0;
const ROR: u8 = 1;
const RCL: u8 = 2;
const RCR: u8 = 3;
const SHL: u8 = 4;
const SHR: u8 = 5;
const SAR: u8 = 7;

/// Where the shift count comes from.
const CNT_ONE: u8 = 0;
const CNT_IMM: u8 = 1;
const CNT_CL: u8 = 2;

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    let w = width(i, 0);
    let mem = is_mem(i, 0);
    match i.mnemonic() {
        Mnemonic::Rol => shift_count::<ROL>(i, w, mem),
        Mnemonic::Ror => shift_count::<ROR>(i, w, mem),
        Mnemonic::Rcl => shift_count::<RCL>(i, w, mem),
        Mnemonic::Rcr => shift_count::<RCR>(i, w, mem),
        Mnemonic::Shl | Mnemonic::Sal => shift_count::<SHL>(i, w, mem),
        Mnemonic::Shr => shift_count::<SHR>(i, w, mem),
        Mnemonic::Sar => shift_count::<SAR>(i, w, mem),
        Mnemonic::Shld => double_count::<true>(i, w, mem),
        Mnemonic::Shrd => double_count::<false>(i, w, mem),
        _ => None,
    }
}

fn shift_count<const OP: u8>(i: &Instruction, w: u32, mem: bool) -> Option<Handler> {
    match i.op_kind(1) {
        OpKind::Register => pick!(w, mem, shift, OP, CNT_CL),
        _ if i.immediate(1) == 1 => pick!(w, mem, shift, OP, CNT_ONE),
        _ => pick!(w, mem, shift, OP, CNT_IMM),
    }
}

fn double_count<const LEFT: bool>(i: &Instruction, w: u32, mem: bool) -> Option<Handler> {
    if w == 8 {
        return None;
    }
    match i.op_kind(2) {
        OpKind::Register => pick!(w, mem, double, LEFT, CNT_CL),
        _ => pick!(w, mem, double, LEFT, CNT_IMM),
    }
}

/// The 5-bit masked count of a shift.
#[inline(always)]
fn count<const CNT: u8>(cpu: &Cpu, op: &Op) -> u32 {
    match CNT {
        CNT_ONE => 1,
        CNT_IMM => op.imm & 0x1F,
        _ => cpu.regs[reg::ECX] & 0x1F,
    }
}

/// Bit `n` of `v` as a bool.
#[inline(always)]
fn bit(v: u32, n: u32) -> bool {
    (v >> n) & 1 != 0
}

/// ROL/ROR/RCL/RCR/SHL/SHR/SAR r/m by 1, CL or imm8.
fn shift<const W: u32, const MEM: bool, const OP: u8, const CNT: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let c = count::<CNT>(cpu, op);
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    if c == 0 {
        // SDM: "If the masked count is 0, the flags are not affected."
        return Ok(());
    }
    let msb = W - 1;
    match OP {
        ROL | ROR => {
            let r = c % W;
            let res = if r == 0 {
                a
            } else if OP == ROL {
                ((a << r) | (a >> (W - r))) & mask::<W>()
            } else {
                ((a >> r) | (a << (W - r))) & mask::<W>()
            };
            // SDM: CF is set whenever the masked count is nonzero, even when
            // the rotation is a multiple of the width (CF = LSB / MSB of DEST).
            let (cf, of) = if OP == ROL {
                (bit(res, 0), bit(res, msb) ^ bit(res, 0))
            } else {
                (bit(res, msb), bit(res, msb) ^ bit(res, msb - 1))
            };
            write_back::<W, MEM>(cpu, bus, op, lin, res)?;
            cpu.set_flag(CF, cf);
            cpu.set_flag(OF, of);
        }
        RCL | RCR => {
            // Rotate the (W+1)-bit value CF:DEST. SDM: tempCOUNT = (COUNT AND
            // 1FH) MOD 9 / MOD 17 for 8/16 bits; a rotation of 0 then changes
            // nothing (OF is undefined, and is left alone, as Bochs does).
            let r = c % (W + 1);
            if r == 0 {
                return Ok(());
            }
            let n = W + 1;
            let m = (1u64 << n) - 1;
            let v = ((cpu.cf() as u64) << W) | a as u64;
            let v = if OP == RCL {
                ((v << r) | (v >> (n - r))) & m
            } else {
                ((v >> r) | (v << (n - r))) & m
            };
            let res = v as u32 & mask::<W>();
            let cf = (v >> W) & 1 != 0;
            // RCL: OF = MSB(DEST) XOR CF after the rotation (SDM, count 1).
            // RCR: the SDM computes OF = MSB(DEST) XOR CF before rotating; for
            // a count of 1 that equals the XOR of the two top result bits,
            // which is used for every count (Bochs' model of P6 and later).
            let of = if OP == RCL {
                bit(res, msb) ^ cf
            } else {
                bit(res, msb) ^ bit(res, msb - 1)
            };
            write_back::<W, MEM>(cpu, bus, op, lin, res)?;
            cpu.set_flag(CF, cf);
            cpu.set_flag(OF, of);
        }
        _ => {
            let (res, cf, of) = match OP {
                SHL => {
                    // c <= 31 and a < 2^W, so the bit shifted out last is
                    // bit W of the 64-bit product (0 once c > W).
                    let wide = (a as u64) << c;
                    let res = wide as u32 & mask::<W>();
                    let cf = (wide >> W) & 1 != 0;
                    (res, cf, bit(res, msb) ^ cf)
                }
                SHR => {
                    // a < 2^W: shifting past the top yields 0 for res and CF.
                    let res = a >> c;
                    (res, bit(a, c - 1), bit(a, msb))
                }
                _ => {
                    // SAR: the sign fills in; CF is the sign once c >= W.
                    let s = sext::<W>(a) as i32;
                    let res = (s >> c) as u32 & mask::<W>();
                    (res, (s >> (c - 1)) & 1 != 0, false)
                }
            };
            write_back::<W, MEM>(cpu, bus, op, lin, res)?;
            cpu.flags_result(W, res, (cf as u32 * CF) | (of as u32 * OF));
        }
    }
    Ok(())
}

/// SHLD (`LEFT`) / SHRD r/m, reg, imm8/CL at 16 or 32 bits.
fn double<const W: u32, const MEM: bool, const LEFT: bool, const CNT: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let c = count::<CNT>(cpu, op);
    let (lin, a) = read_modify::<W, MEM>(cpu, bus, op)?;
    if c == 0 {
        // SDM: "If the count operand is 0, the flags are not affected."
        return Ok(());
    }
    let b = cpu.reg::<W>(op.src);
    let (a64, b64) = (a as u64, b as u64);
    let (res, cf) = if LEFT {
        // The bits shifted in come from the top of the source. For 16-bit
        // operands the source is followed by the destination again (what
        // P6+ does for counts > 16; see the module notes).
        let x = if W == 16 {
            (a64 << 32) | (b64 << 16) | a64
        } else {
            (a64 << 32) | b64
        };
        let top = if W == 16 { 48 } else { 64 };
        let res = ((x << c) >> (top - W)) as u32 & mask::<W>();
        (res, (x >> (top - c)) & 1 != 0)
    } else {
        let x = if W == 16 {
            (a64 << 32) | (b64 << 16) | a64
        } else {
            (b64 << 32) | a64
        };
        ((x >> c) as u32 & mask::<W>(), (x >> (c - 1)) & 1 != 0)
    };
    // OF: "set if a sign change occurred" for a 1-bit shift. For SHLD the old
    // sign is the bit shifted out (CF); for SHRD it now sits at bit W-2. P6
    // and later apply the same formulas for every count.
    let of = if LEFT {
        (res & sign::<W>() != 0) ^ cf
    } else {
        bit(res, W - 1) ^ bit(res, W - 2)
    };
    write_back::<W, MEM>(cpu, bus, op, lin, res)?;
    cpu.flags_result(W, res, (cf as u32 * CF) | (of as u32 * OF));
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
    use crate::Cpu;
    use iced_x86::code_asm::*;

    /// Assembles 16-bit code (plus a HLT), runs it at 0100:0000 after
    /// `setup`, and returns the CPU when it halts.
    fn run(
        setup: impl FnOnce(&mut Cpu),
        build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    ) -> Cpu {
        crate::cpu::testing::run_real(setup, build)
    }

    fn flags(cpu: &Cpu, which: u32) -> u32 {
        cpu.eflags() & which
    }

    #[test]
    fn shl_and_shr_by_one() {
        let c = run(|c| c.regs[0] = 0x81, |a| a.shl(al, 1));
        assert_eq!(c.regs[0] & 0xFF, 0x02);
        // CF = old bit 7; OF = MSB(result) ^ CF = 1; AF = 0.
        assert_eq!(flags(&c, CF | OF | ZF | SF | AF), CF | OF);
        let c = run(|c| c.regs[0] = 0x81, |a| a.shr(al, 1));
        assert_eq!(c.regs[0] & 0xFF, 0x40);
        // OF = MSB of the original operand.
        assert_eq!(flags(&c, CF | OF | ZF | SF), CF | OF);
    }

    #[test]
    fn count_is_masked_to_five_bits() {
        // CL = 0x21 -> count 1.
        let c = run(
            |c| {
                c.regs[0] = 0x4000;
                c.regs[1] = 0x21;
            },
            |a| a.shl(ax, cl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x8000);
        assert_eq!(flags(&c, CF | OF | SF), OF | SF);
        // CL = 0x20 -> count 0: no change, flags untouched.
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.regs[1] = 0x20;
                c.set_eflags(CF | ZF | OF);
            },
            |a| a.rol(ax, cl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x1234);
        assert_eq!(flags(&c, CF | ZF | OF | SF | PF), CF | ZF | OF);
    }

    #[test]
    fn shifts_past_the_width() {
        // SHL AL by 8: CF = old bit 0, result 0; by 9: CF = 0.
        let c = run(|c| c.regs[0] = 0x01, |a| a.shl(al, 8));
        assert_eq!(c.regs[0] & 0xFF, 0);
        assert_eq!(flags(&c, CF | ZF | PF), CF | ZF | PF);
        let c = run(|c| c.regs[0] = 0xFF, |a| a.shl(al, 9));
        assert_eq!(flags(&c, CF | ZF), ZF);
        // SAR of a negative word by 31 leaves all ones and CF = sign.
        let c = run(|c| c.regs[0] = 0x8000, |a| a.sar(ax, 31));
        assert_eq!(c.regs[0] & 0xFFFF, 0xFFFF);
        assert_eq!(flags(&c, CF | SF | OF), CF | SF);
        // SHR EAX by 31.
        let c = run(|c| c.regs[0] = 0x8000_0000, |a| a.shr(eax, 31));
        assert_eq!(c.regs[0], 1);
    }

    #[test]
    fn rotates_change_only_cf_and_of() {
        // ROL AL,1 from 0x80: 0x01, CF = 1, OF = MSB(result) ^ CF = 1.
        let c = run(
            |c| {
                c.regs[0] = 0x80;
                c.set_eflags(ZF | SF);
            },
            |a| a.rol(al, 1),
        );
        assert_eq!(c.regs[0] & 0xFF, 0x01);
        assert_eq!(flags(&c, CF | OF | ZF | SF), CF | OF | ZF | SF);
        // ROR AX,4.
        let c = run(|c| c.regs[0] = 0x1234, |a| a.ror(ax, 4));
        assert_eq!(c.regs[0] & 0xFFFF, 0x4123);
        assert_eq!(flags(&c, CF), 0);
        // ROL AL by 8: value unchanged but CF = LSB.
        let c = run(|c| c.regs[0] = 0x81, |a| a.rol(al, 8));
        assert_eq!(c.regs[0] & 0xFF, 0x81);
        assert_eq!(flags(&c, CF | OF), CF);
    }

    #[test]
    fn rcl_rcr_go_through_carry() {
        // RCL AL,1 with CF=1: 0x80 -> 0x01, CF=1.
        let c = run(
            |c| {
                c.regs[0] = 0x80;
                c.set_eflags(CF);
            },
            |a| a.rcl(al, 1),
        );
        assert_eq!(c.regs[0] & 0xFF, 0x01);
        assert_eq!(flags(&c, CF | OF), CF | OF);
        // 8-bit count 9 is a full turn of CF:AL: nothing changes.
        let c = run(
            |c| {
                c.regs[0] = 0x5A;
                c.regs[1] = 9;
                c.set_eflags(CF);
            },
            |a| a.rcl(al, cl),
        );
        assert_eq!(c.regs[0] & 0xFF, 0x5A);
        assert!(c.cf());
        // Count 10 is the same as 1.
        let c = run(
            |c| {
                c.regs[0] = 0x01;
                c.regs[1] = 10;
            },
            |a| a.rcr(al, cl),
        );
        assert_eq!(c.regs[0] & 0xFF, 0x00);
        assert!(c.cf());
        // RCR AX by 17 with CF set: a full turn of 17 bits.
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.set_eflags(CF);
            },
            |a| a.rcr(ax, 17),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x1234);
        assert!(c.cf());
        // RCR EAX,1 with CF=1 puts CF into bit 31.
        let c = run(
            |c| {
                c.regs[0] = 2;
                c.set_eflags(CF);
            },
            |a| a.rcr(eax, 1),
        );
        assert_eq!(c.regs[0], 0x8000_0001);
        assert_eq!(flags(&c, CF | OF), OF);
    }

    #[test]
    fn memory_operand_shift() {
        let mut c = run(
            |c| c.mem.write_bytes(0x30010, &[0x01, 0x80]),
            |a| a.shl(word_ptr(0x10), 1),
        );
        assert_eq!(c.mem.read_u8(0x30010), 0x02);
        assert_eq!(c.mem.read_u8(0x30011), 0x00);
        assert!(c.cf() && c.of());
    }

    #[test]
    fn shld_shrd() {
        let c = run(
            |c| {
                c.regs[0] = 0x1234_5678;
                c.regs[3] = 0x9ABC_DEF0;
            },
            |a| a.shld(eax, ebx, 8),
        );
        assert_eq!(c.regs[0], 0x3456_789A);
        assert_eq!(flags(&c, CF), 0);
        let c = run(
            |c| {
                c.regs[0] = 0x1234_5678;
                c.regs[3] = 0x9ABC_DEF0;
                c.regs[1] = 4;
            },
            |a| a.shrd(eax, ebx, cl),
        );
        assert_eq!(c.regs[0], 0x0123_4567);
        assert!(c.cf()); // bit 3 of 0x...78
                         // 16-bit, count 1: OF on sign change.
        let c = run(
            |c| {
                c.regs[0] = 0x4000;
                c.regs[3] = 0x8000;
            },
            |a| a.shld(ax, bx, 1),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x8001);
        assert_eq!(flags(&c, CF | OF | SF), OF | SF);
        // 16-bit, count 20 > 16: dest:src:dest shifted left by 20.
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.regs[3] = 0xABCD;
            },
            |a| a.shld(ax, bx, 20),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0xBCD1);
        // CF = last bit out = bit 12 of BX (the 28th bit shifted out).
        assert_eq!(c.cf(), (0xABCDu32 >> 12) & 1 != 0);
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.regs[3] = 0xABCD;
            },
            |a| a.shrd(ax, bx, 20),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x4ABC);
        assert_eq!(c.cf(), (0xABCDu32 >> 3) & 1 != 0);
        // Count 0 leaves everything alone.
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.set_eflags(ZF);
            },
            |a| a.shrd(ax, bx, 0),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x1234);
        assert_eq!(flags(&c, ZF | CF), ZF);
    }
}

/// Checks the handlers against the SDM's one-bit-at-a-time pseudo-code.
#[cfg(test)]
mod pseudo_code_tests {
    use super::*;
    use crate::cpu::decode::Op;
    use crate::NullBus;

    /// The SDM's one-bit-at-a-time pseudo-code: (result, CF) after
    /// `OP` by masked count `c` (nonzero) on a `w`-bit `a` with carry `cf`.
    fn model(op: u8, w: u32, a: u32, c: u32, mut cf: bool) -> (u32, bool) {
        let m = u32::MAX >> (32 - w);
        let top = 1 << (w - 1);
        let mut d = a;
        let steps = match op {
            RCL | RCR if w < 32 => c % (w + 1),
            ROL | ROR => c % w,
            _ => c,
        };
        for _ in 0..steps {
            match op {
                ROL => d = ((d << 1) | (d >> (w - 1))) & m,
                ROR => d = (d >> 1) | ((d & 1) << (w - 1)),
                RCL => {
                    let out = d & top != 0;
                    d = ((d << 1) | cf as u32) & m;
                    cf = out;
                }
                RCR => {
                    let out = d & 1 != 0;
                    d = (d >> 1) | ((cf as u32) << (w - 1));
                    cf = out;
                }
                SHL => {
                    cf = d & top != 0;
                    d = (d << 1) & m;
                }
                SHR => {
                    cf = d & 1 != 0;
                    d >>= 1;
                }
                _ => {
                    cf = d & 1 != 0;
                    d = (d >> 1) | (d & top);
                }
            }
        }
        match op {
            ROL => cf = d & 1 != 0,
            ROR => cf = d & top != 0,
            _ => {}
        }
        (d, cf)
    }

    /// Calls the handler directly for every op, width, count and a spread of
    /// values, and checks result and CF against [`model`] (and OF for
    /// count 1, where the SDM defines it).
    #[test]
    fn matches_the_sdm_pseudo_code() {
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed
        };
        let handlers: [(u8, u32, crate::cpu::decode::Handler); 21] = [
            (ROL, 8, shift::<8, false, ROL, CNT_CL>),
            (ROR, 8, shift::<8, false, ROR, CNT_CL>),
            (RCL, 8, shift::<8, false, RCL, CNT_CL>),
            (RCR, 8, shift::<8, false, RCR, CNT_CL>),
            (SHL, 8, shift::<8, false, SHL, CNT_CL>),
            (SHR, 8, shift::<8, false, SHR, CNT_CL>),
            (SAR, 8, shift::<8, false, SAR, CNT_CL>),
            (ROL, 16, shift::<16, false, ROL, CNT_CL>),
            (ROR, 16, shift::<16, false, ROR, CNT_CL>),
            (RCL, 16, shift::<16, false, RCL, CNT_CL>),
            (RCR, 16, shift::<16, false, RCR, CNT_CL>),
            (SHL, 16, shift::<16, false, SHL, CNT_CL>),
            (SHR, 16, shift::<16, false, SHR, CNT_CL>),
            (SAR, 16, shift::<16, false, SAR, CNT_CL>),
            (ROL, 32, shift::<32, false, ROL, CNT_CL>),
            (ROR, 32, shift::<32, false, ROR, CNT_CL>),
            (RCL, 32, shift::<32, false, RCL, CNT_CL>),
            (RCR, 32, shift::<32, false, RCR, CNT_CL>),
            (SHL, 32, shift::<32, false, SHL, CNT_CL>),
            (SHR, 32, shift::<32, false, SHR, CNT_CL>),
            (SAR, 32, shift::<32, false, SAR, CNT_CL>),
        ];
        let mut cpu = Cpu::new(4096);
        for (opn, w, h) in handlers {
            let m = u32::MAX >> (32 - w);
            let mut op = Op::fault(h, 0, 0);
            op.dst = 3; // BL / BX / EBX
            for _ in 0..64 {
                let a = next() & m;
                let cf_in = next() & 1 != 0;
                for cl in 0..64u32 {
                    cpu.regs[3] = a;
                    cpu.regs[1] = cl;
                    cpu.set_eflags(if cf_in { CF } else { 0 });
                    h(&mut cpu, &mut NullBus, &op).unwrap();
                    let c = cl & 0x1F;
                    let got = cpu.regs[3] & m;
                    if c == 0 {
                        assert_eq!((got, cpu.cf()), (a, cf_in));
                        continue;
                    }
                    let (want, want_cf) = model(opn, w, a, c, cf_in);
                    let ctx = format!("op {opn} w {w} a {a:#x} cl {cl} cf {cf_in}");
                    assert_eq!(got, want, "{ctx}");
                    // RCL/RCR by a multiple of 9/17 leave CF alone.
                    assert_eq!(cpu.cf(), want_cf, "{ctx}");
                    if c == 1 {
                        let msb = |v: u32| v >> (w - 1) & 1 != 0;
                        let want_of = match opn {
                            ROL | RCL | SHL => msb(want) ^ want_cf,
                            ROR => msb(want) ^ msb(want << 1),
                            RCR => msb(a) ^ cf_in,
                            SHR => msb(a),
                            _ => false,
                        };
                        assert_eq!(cpu.of(), want_of, "OF: {ctx}");
                    }
                }
            }
        }
    }

    /// SHLD/SHRD against the SDM's bit loop (counts up to the width), and
    /// 16-bit counts above 16 against the dest:src:dest concatenation.
    #[test]
    fn double_shifts_match_the_sdm() {
        let mut seed = 0x9E37_79B9u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed
        };
        let handlers: [(bool, u32, crate::cpu::decode::Handler); 4] = [
            (true, 16, double::<16, false, true, CNT_CL>),
            (false, 16, double::<16, false, false, CNT_CL>),
            (true, 32, double::<32, false, true, CNT_CL>),
            (false, 32, double::<32, false, false, CNT_CL>),
        ];
        let mut cpu = Cpu::new(4096);
        for (left, w, h) in handlers {
            let m = u32::MAX >> (32 - w);
            let mut op = Op::fault(h, 0, 0);
            op.dst = 3; // BX / EBX
            op.src = 6; // SI / ESI
            for _ in 0..64 {
                let (a, b) = (next() & m, next() & m);
                for c in 1..32u32 {
                    cpu.regs[3] = a;
                    cpu.regs[6] = b;
                    cpu.regs[1] = c;
                    cpu.set_eflags(0);
                    h(&mut cpu, &mut NullBus, &op).unwrap();
                    let got = (cpu.regs[3] & m, cpu.cf());
                    let want = if c <= w {
                        // SDM: CF = BIT[DEST, SIZE - COUNT] (SHLD) or
                        // BIT[DEST, COUNT - 1] (SHRD); bits move in from SRC.
                        let mut d = a;
                        let mut cf = false;
                        for i in 0..c {
                            if left {
                                cf = d >> (w - 1) & 1 != 0;
                                d = ((d << 1) | (b >> (w - 1 - i) & 1)) & m;
                            } else {
                                cf = d & 1 != 0;
                                d = (d >> 1) | ((b >> i & 1) << (w - 1));
                            }
                        }
                        (d, cf)
                    } else {
                        // 16 bits, count > 16: dest:src:dest as a 48-bit value.
                        let x = ((a as u64) << 32) | ((b as u64) << 16) | a as u64;
                        if left {
                            (((x << c) >> 32) as u32 & m, x >> (48 - c) & 1 != 0)
                        } else {
                            ((x >> c) as u32 & m, x >> (c - 1) & 1 != 0)
                        }
                    };
                    assert_eq!(got, want, "left {left} w {w} a {a:#x} b {b:#x} c {c}");
                }
            }
        }
    }
}
