//! Multiplication, division and the decimal adjusts: MUL, IMUL (one, two and
//! three operands), DIV, IDIV, DAA, DAS, AAA, AAS, AAM, AAD (Intel SDM vol. 2).
//!
//! Undefined flags, as a P6-family CPU leaves them where that is known, else
//! deterministically. The choices agree with Bochs, whose BCD notes say they
//! were checked against Pentium/P6 hardware:
//!
//! * MUL/IMUL: CF = OF as the SDM defines them; SF, ZF and PF follow the low
//!   half of the result (AL, AX, EAX or the truncated destination) and AF = 0.
//! * DIV/IDIV: all six arithmetic flags are left unchanged.
//! * DAA/DAS: OF = 0. AAA/AAS: OF = 0, SF/ZF/PF from AL after the final
//!   `AND 0FH` (so SF = 0). AAM/AAD: OF = AF = CF = 0.

use super::{is_mem, mask, sext, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{AF, CF, OF};
use crate::cpu::{reg, Cpu};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    match i.mnemonic() {
        Mnemonic::Mul => pick!(width(i, 0), is_mem(i, 0), mul, false),
        Mnemonic::Imul => match i.op_count() {
            1 => pick!(width(i, 0), is_mem(i, 0), mul, true),
            2 => wide_only(width(i, 0), pick!(width(i, 0), is_mem(i, 1), imul2)),
            _ => wide_only(width(i, 0), pick!(width(i, 0), is_mem(i, 1), imul3)),
        },
        Mnemonic::Div => pick!(width(i, 0), is_mem(i, 0), div, false),
        Mnemonic::Idiv => pick!(width(i, 0), is_mem(i, 0), div, true),
        Mnemonic::Daa => Some(daa),
        Mnemonic::Das => Some(das),
        Mnemonic::Aaa => Some(aaa),
        Mnemonic::Aas => Some(aas),
        Mnemonic::Aam if i.op_kind(0) == OpKind::Immediate8 => Some(aam),
        Mnemonic::Aad if i.op_kind(0) == OpKind::Immediate8 => Some(aad),
        _ => None,
    }
}

/// Two- and three-operand IMUL exist only at 16 and 32 bits.
fn wide_only(w: u32, h: Option<Handler>) -> Option<Handler> {
    if w == 8 {
        None
    } else {
        h
    }
}

/// The CF/OF bits of a multiplication: set when the high half is significant.
#[inline(always)]
fn overflow_bits(significant: bool) -> u32 {
    if significant {
        CF | OF
    } else {
        0
    }
}

/// MUL / IMUL r/m (one operand): AX = AL * r/m8, DX:AX = AX * r/m16,
/// EDX:EAX = EAX * r/m32. CF = OF = 1 when the upper half is significant:
/// nonzero for MUL, not the sign extension of the lower half for IMUL.
fn mul<const W: u32, const MEM: bool, const SIGNED: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let b = cpu.read_rm::<W, MEM>(bus, op)?;
    let a = cpu.reg::<W>(reg::EAX as u8);
    let product = if SIGNED {
        (sext::<W>(a) as i32 as i64).wrapping_mul(sext::<W>(b) as i32 as i64) as u64
    } else {
        a as u64 * b as u64
    };
    let lo = product as u32 & mask::<W>();
    let hi = (product >> W) as u32 & mask::<W>();
    let significant = if SIGNED {
        sext::<W>(lo) as i32 as i64 as u64 != product
    } else {
        hi != 0
    };
    match W {
        8 => cpu.set_reg16(reg::EAX as u8, product as u16),
        _ => {
            cpu.set_reg::<W>(reg::EAX as u8, lo);
            cpu.set_reg::<W>(reg::EDX as u8, hi);
        }
    }
    cpu.flags_result(W, lo, overflow_bits(significant));
    Ok(())
}

/// Signed product of two `W`-bit values truncated to `W` bits, and whether
/// the truncation lost information (CF = OF for IMUL r, r/m[, imm]).
#[inline(always)]
fn imul_trunc<const W: u32>(a: u32, b: u32) -> (u32, bool) {
    let p = (sext::<W>(a) as i32 as i64) * (sext::<W>(b) as i32 as i64);
    let lo = p as u32 & mask::<W>();
    (lo, sext::<W>(lo) as i32 as i64 != p)
}

/// IMUL r, r/m (0F AF).
fn imul2<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let b = cpu.read_src_rm::<W, MEM>(bus, op)?;
    let a = cpu.reg::<W>(op.dst);
    let (r, of) = imul_trunc::<W>(a, b);
    cpu.set_reg::<W>(op.dst, r);
    cpu.flags_result(W, r, overflow_bits(of));
    Ok(())
}

/// IMUL r, r/m, imm (69, 6B); the immediate is already sign-extended.
fn imul3<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let a = cpu.read_src_rm::<W, MEM>(bus, op)?;
    let (r, of) = imul_trunc::<W>(a, op.imm & mask::<W>());
    cpu.set_reg::<W>(op.dst, r);
    cpu.flags_result(W, r, overflow_bits(of));
    Ok(())
}

/// DIV / IDIV r/m: AX / r/m8 -> AL rem AH, DX:AX / r/m16 -> AX rem DX,
/// EDX:EAX / r/m32 -> EAX rem EDX. #DE on a zero divisor or a quotient that
/// does not fit (SDM "IDIV": the signed range includes -80H/-8000H/
/// -80000000H exactly). Nothing changes on a fault. The flags are undefined
/// and are left as they were.
fn div<const W: u32, const MEM: bool, const SIGNED: bool>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let d = cpu.read_rm::<W, MEM>(bus, op)?;
    if d == 0 {
        return Err(Exception::de());
    }
    let dividend: u64 = match W {
        8 => cpu.regs[reg::EAX] as u64 & 0xFFFF,
        16 => ((cpu.regs[reg::EDX] as u64 & 0xFFFF) << 16) | (cpu.regs[reg::EAX] as u64 & 0xFFFF),
        _ => ((cpu.regs[reg::EDX] as u64) << 32) | cpu.regs[reg::EAX] as u64,
    };
    let (q, r) = if SIGNED {
        // Sign-extend the 2W-bit dividend to 64 bits.
        let n = (dividend << (64 - 2 * W)) as i64 >> (64 - 2 * W);
        let d = sext::<W>(d) as i32 as i64;
        let (q, r) = (n.wrapping_div(d), n.wrapping_rem(d));
        let lim = 1i64 << (W - 1);
        if q < -lim || q >= lim {
            return Err(Exception::de());
        }
        (q as u32, r as u32)
    } else {
        let q = dividend / d as u64;
        if q > mask::<W>() as u64 {
            return Err(Exception::de());
        }
        (q as u32, (dividend % d as u64) as u32)
    };
    match W {
        8 => cpu.set_reg16(reg::EAX as u8, ((r as u16 & 0xFF) << 8) | (q as u16 & 0xFF)),
        _ => {
            cpu.set_reg::<W>(reg::EAX as u8, q);
            cpu.set_reg::<W>(reg::EDX as u8, r);
        }
    }
    Ok(())
}

#[inline(always)]
fn al(cpu: &Cpu) -> u8 {
    cpu.regs[reg::EAX] as u8
}

#[inline(always)]
fn set_al(cpu: &mut Cpu, v: u8) {
    cpu.set_reg8(0, v);
}

/// Records SF/ZF/PF from AL and the given CF/AF bits; OF = 0.
#[inline(always)]
fn bcd_flags(cpu: &mut Cpu, cf: bool, af: bool) {
    let v = al(cpu) as u32;
    cpu.flags_result(8, v, (cf as u32 * CF) | (af as u32 * AF));
}

/// DAA, following the SDM pseudo-code. OF (undefined) = 0.
///
/// The pseudo-code's first CF update (`old_CF or carry from AL + 6`) is
/// always overwritten by the second step: a carry out of AL + 6 needs
/// AL > F9H, which also takes the `old_AL > 99H` branch.
fn daa(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let old_al = al(cpu);
    let old_cf = cpu.cf();
    let af = (old_al & 0x0F) > 9 || cpu.af();
    let cf = old_al > 0x99 || old_cf;
    let mut a = old_al;
    if af {
        a = a.wrapping_add(6);
    }
    if cf {
        a = a.wrapping_add(0x60);
    }
    set_al(cpu, a);
    bcd_flags(cpu, cf, af);
    Ok(())
}

/// DAS, following the SDM pseudo-code. OF (undefined) = 0.
fn das(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let old_al = al(cpu);
    let old_cf = cpu.cf();
    let mut a = old_al;
    let mut cf = false;
    let af = (a & 0x0F) > 9 || cpu.af();
    if af {
        let (v, borrow) = a.overflowing_sub(6);
        a = v;
        cf = old_cf || borrow;
    }
    if old_al > 0x99 || old_cf {
        a = a.wrapping_sub(0x60);
        cf = true;
    }
    set_al(cpu, a);
    bcd_flags(cpu, cf, af);
    Ok(())
}

/// AAA: SDM (386 and later) `AX <- AX + 106H` when adjusting, so an AL above
/// F9H also carries into AH; then `AL <- AL AND 0FH`.
fn aaa(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let adjust = (al(cpu) & 0x0F) > 9 || cpu.af();
    let mut ax = cpu.regs[reg::EAX] as u16;
    if adjust {
        ax = ax.wrapping_add(0x106);
    }
    cpu.set_reg16(reg::EAX as u8, ax & 0xFF0F);
    bcd_flags(cpu, adjust, adjust);
    Ok(())
}

/// AAS: SDM `AX <- AX - 6; AH <- AH - 1` when adjusting (a borrow out of AL
/// also decrements AH); then `AL <- AL AND 0FH`.
fn aas(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let adjust = (al(cpu) & 0x0F) > 9 || cpu.af();
    let mut ax = cpu.regs[reg::EAX] as u16;
    if adjust {
        ax = ax.wrapping_sub(6).wrapping_sub(0x100);
    }
    cpu.set_reg16(reg::EAX as u8, ax & 0xFF0F);
    bcd_flags(cpu, adjust, adjust);
    Ok(())
}

/// AAM imm8: AH = AL / imm8, AL = AL MOD imm8; #DE when imm8 = 0, raised
/// before anything changes. (A real 80286 updates SF/ZF/PF before taking
/// that #DE, so 5 AAM 0 tests in the 286 reference data differ in the pushed
/// FLAGS; a 386+ faults with the state unchanged.)
fn aam(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let base = op.imm as u8;
    if base == 0 {
        return Err(Exception::de());
    }
    let a = al(cpu);
    cpu.set_reg16(
        reg::EAX as u8,
        (((a / base) as u16) << 8) | (a % base) as u16,
    );
    bcd_flags(cpu, false, false);
    Ok(())
}

/// AAD imm8: AL = (AL + AH * imm8) AND FFH, AH = 0.
fn aad(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    let base = op.imm as u8;
    let ax = cpu.regs[reg::EAX] as u16;
    let a = (ax as u8).wrapping_add(((ax >> 8) as u8).wrapping_mul(base));
    cpu.set_reg16(reg::EAX as u8, a as u16);
    bcd_flags(cpu, false, false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cpu::flags::{AF, CF, OF, PF, SF, ZF};
    use crate::{Cpu, SegReg};
    use iced_x86::code_asm::*;

    /// Where the #DE handler (a HLT) sits: 0000:0500.
    const DE_HANDLER: u32 = 0x500;

    /// Assembles 16-bit code (plus a HLT), runs it at 0100:0000 after
    /// `setup`, and returns the CPU when it halts. IVT entry 0 points at a
    /// HLT at 0000:0500.
    fn run(
        setup: impl FnOnce(&mut Cpu),
        build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    ) -> Cpu {
        let setup = |cpu: &mut Cpu| {
            cpu.mem.write_bytes(0, &[0x00, 0x05, 0x00, 0x00]);
            cpu.mem.write_u8(DE_HANDLER, 0xF4);
            setup(cpu)
        };
        crate::cpu::testing::run_real(setup, build)
    }

    fn in_de_handler(c: &Cpu) -> bool {
        c.seg_selector(SegReg::CS) == 0 && c.eip == DE_HANDLER + 1
    }

    fn flags(cpu: &Cpu, which: u32) -> u32 {
        cpu.eflags() & which
    }

    #[test]
    fn mul_one_operand() {
        let c = run(
            |c| {
                c.regs[0] = 0x80;
                c.regs[3] = 0x02;
            },
            |a| a.mul(bl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0100);
        assert_eq!(flags(&c, CF | OF | ZF | AF), CF | OF | ZF);
        let c = run(
            |c| {
                c.regs[0] = 0xFFFF_FFFF;
                c.regs[3] = 0xFFFF_FFFF;
            },
            |a| a.mul(ebx),
        );
        assert_eq!((c.regs[2], c.regs[0]), (0xFFFF_FFFE, 1));
        assert!(c.cf() && c.of());
        let c = run(
            |c| {
                c.regs[0] = 0x1234;
                c.regs[3] = 0x2;
                c.regs[2] = 0xDEAD_BEEF;
            },
            |a| a.mul(bx),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x2468);
        assert_eq!(c.regs[2], 0xDEAD_0000);
        assert_eq!(flags(&c, CF | OF), 0);
    }

    #[test]
    fn imul_overflow_flags() {
        // -1 * -128 = 128 does not fit AL: CF = OF = 1.
        let c = run(
            |c| {
                c.regs[0] = 0xFF;
                c.regs[3] = 0x80;
            },
            |a| a.imul(bl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0080);
        assert!(c.cf() && c.of());
        // -2 * 64 = -128 fits: CF = OF = 0, AH = FF.
        let c = run(
            |c| {
                c.regs[0] = 0xFE;
                c.regs[3] = 0x40;
            },
            |a| a.imul(bl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0xFF80);
        assert_eq!(flags(&c, CF | OF | SF), SF);
        // Two-operand: 0x4000 * 2 overflows 16 bits signed.
        let c = run(
            |c| {
                c.regs[0] = 0x4000;
                c.regs[3] = 2;
            },
            |a| a.imul_2(ax, bx),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x8000);
        assert!(c.cf() && c.of());
        // Three-operand with a sign-extended imm8: 100 * -3 = -300.
        let c = run(|c| c.regs[3] = 100, |a| a.imul_3(eax, ebx, -3));
        assert_eq!(c.regs[0], (-300i32) as u32);
        assert_eq!(flags(&c, CF | OF | SF), SF);
        // Three-operand imm16 from memory.
        let c = run(
            |c| c.mem.write_bytes(0x30010, &[0x00, 0x01]),
            |a| a.imul_3(cx, word_ptr(0x10), 0x100),
        );
        assert_eq!(c.regs[1] & 0xFFFF, 0);
        assert!(c.cf() && c.of());
    }

    #[test]
    fn div_and_idiv() {
        let c = run(
            |c| {
                c.regs[0] = 0x0107;
                c.regs[3] = 0x10;
            },
            |a| a.div(bl),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0710);
        let c = run(
            |c| {
                c.regs[2] = 1;
                c.regs[0] = 5;
                c.regs[1] = 0x10;
            },
            |a| a.div(ecx),
        );
        assert_eq!((c.regs[0], c.regs[2]), (0x1000_0000, 5));
        // -7 / 2 = -3 rem -1.
        let c = run(
            |c| {
                c.regs[0] = 0xFFF9;
                c.regs[2] = 0xFFFF;
                c.regs[1] = 2;
            },
            |a| a.idiv(cx),
        );
        assert_eq!((c.regs[0] & 0xFFFF, c.regs[2] & 0xFFFF), (0xFFFD, 0xFFFF));
        // -128 exactly fits an 8-bit quotient on the 386 and later.
        let c = run(
            |c| {
                c.regs[0] = 0xFF00; // -256
                c.regs[3] = 2;
            },
            |a| a.idiv(bl),
        );
        assert!(!in_de_handler(&c));
        assert_eq!(c.regs[0] & 0xFFFF, 0x0080);
    }

    #[test]
    fn div_faults_leave_state_unchanged() {
        // IDIV overflow: AX = 8000h (-32768) / -1 = +32768 does not fit AL.
        let mut c = run(
            |c| {
                c.regs[0] = 0x8000;
                c.regs[3] = 0xFF;
                c.set_eflags(ZF | CF);
            },
            |a| a.idiv(bl),
        );
        assert!(in_de_handler(&c));
        assert_eq!(c.regs[0], 0x8000);
        // The frame at SS:00FA holds IP = 0 (the faulting IDIV), CS = 0100
        // and the FLAGS as they were before the instruction.
        let mut frame = [0u8; 6];
        c.mem.read_bytes(0x200FA, &mut frame);
        assert_eq!(&frame[..4], &[0x00, 0x00, 0x00, 0x01]);
        let pushed = u16::from_le_bytes([frame[4], frame[5]]) as u32;
        assert_eq!(pushed & (CF | PF | AF | ZF | SF | OF), ZF | CF);
        // 32-bit: EDX:EAX = 0x80000000_00000000 / -1.
        let c = run(
            |c| {
                c.regs[2] = 0x8000_0000;
                c.regs[0] = 0;
                c.regs[1] = 0xFFFF_FFFF;
            },
            |a| a.idiv(ecx),
        );
        assert!(in_de_handler(&c));
        assert_eq!((c.regs[2], c.regs[0]), (0x8000_0000, 0));
        // DIV quotient overflow and divide by zero.
        let c = run(
            |c| {
                c.regs[2] = 2;
                c.regs[0] = 0;
                c.regs[1] = 2;
            },
            |a| a.div(cx),
        );
        assert!(in_de_handler(&c));
        let c = run(|c| c.regs[0] = 0x1234, |a| a.div(word_ptr(0x10)));
        assert!(in_de_handler(&c));
        assert_eq!(c.regs[0], 0x1234);
    }

    #[test]
    fn daa_das_sdm_examples() {
        // SDM DAA example: ADD AL,BL with AL=79h, BL=35h gives AEh; DAA -> 14h, CF=1, AF=1.
        let c = run(
            |c| {
                c.regs[0] = 0x79;
                c.regs[3] = 0x35;
            },
            |a| {
                a.add(al, bl)?;
                a.daa()
            },
        );
        assert_eq!(c.regs[0] & 0xFF, 0x14);
        assert_eq!(flags(&c, CF | AF | OF), CF | AF);
        // SDM DAS example: SUB AL,BL with AL=35h, BL=47h gives EEh; DAS -> 88h, CF=1, AF=1.
        let c = run(
            |c| {
                c.regs[0] = 0x35;
                c.regs[3] = 0x47;
            },
            |a| {
                a.sub(al, bl)?;
                a.das()
            },
        );
        assert_eq!(c.regs[0] & 0xFF, 0x88);
        assert_eq!(flags(&c, CF | AF | SF | PF), CF | AF | SF | PF);
        // 99h + 01h = 9Ah -> DAA -> 00h with CF, ZF.
        let c = run(
            |c| c.regs[0] = 0x99,
            |a| {
                a.add(al, 1)?;
                a.daa()
            },
        );
        assert_eq!(c.regs[0] & 0xFF, 0x00);
        assert_eq!(flags(&c, CF | ZF | AF), CF | ZF | AF);
    }

    #[test]
    fn aaa_aas() {
        // 9 + 8 = 11h with AF: AAA -> AX = 0107h, CF = AF = 1.
        let c = run(
            |c| c.regs[0] = 0x0009,
            |a| {
                a.add(al, 8)?;
                a.aaa()
            },
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0107);
        assert_eq!(flags(&c, CF | AF), CF | AF);
        // AL = FAh carries into AH on the 386+: AX = 00FAh -> 0200h.
        let c = run(|c| c.regs[0] = 0x00FA, |a| a.aaa());
        assert_eq!(c.regs[0] & 0xFFFF, 0x0200);
        assert_eq!(flags(&c, ZF | SF), ZF);
        // No adjust: just masks AL, clears CF/AF.
        let c = run(
            |c| {
                c.regs[0] = 0x0535;
                c.set_eflags(CF);
            },
            |a| a.aaa(),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0505);
        assert_eq!(flags(&c, CF | AF), 0);
        // 02h - 05h = FDh with AF: AAS -> AH - 1, AL = 7.
        let c = run(
            |c| c.regs[0] = 0x0302,
            |a| {
                a.sub(al, 5)?;
                a.aas()
            },
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x0207);
        assert_eq!(flags(&c, CF | AF), CF | AF);
        // AL < 6 with AF set: the borrow out of AL also decrements AH.
        let c = run(
            |c| {
                c.regs[0] = 0x0302;
                c.set_eflags(AF);
            },
            |a| a.aas(),
        );
        assert_eq!(c.regs[0] & 0xFFFF, 0x010C);
    }

    #[test]
    fn aam_aad() {
        let c = run(|c| c.regs[0] = 0x0041, |a| a.aam(10));
        assert_eq!(c.regs[0] & 0xFFFF, 0x0605);
        assert_eq!(flags(&c, CF | OF | AF | ZF), 0);
        let c = run(|c| c.regs[0] = 0x0605, |a| a.aad(10));
        assert_eq!(c.regs[0] & 0xFFFF, 0x0041);
        // AAD with another base: AH * 16 + AL.
        let c = run(|c| c.regs[0] = 0x0F0F, |a| a.aad(16));
        assert_eq!(c.regs[0] & 0xFFFF, 0x00FF);
        assert_eq!(flags(&c, SF | PF), SF | PF);
        // AAM 0 raises #DE with AX unchanged.
        let c = run(|c| c.regs[0] = 0x1234, |a| a.aam(0));
        assert!(in_de_handler(&c));
        assert_eq!(c.regs[0], 0x1234);
    }
}
