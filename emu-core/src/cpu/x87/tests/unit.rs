//! FPU behaviour through instructions run on a CPU: device-not-available,
//! #MF and FERR#, the stack faults, the tag word, the environment layouts,
//! FSAVE/FXSAVE round trips, and MMX.

use crate::bus::NullBus;
use crate::cpu::exception::MF;
use crate::cpu::x87::float::{Env, F80};
use crate::cpu::x87::state::{C1, C2};
use crate::cpu::{cr0, Cpu, RunExit, SegReg};
use iced_x86::code_asm::*;

const CODE: u32 = 0x500;
const DATA: u64 = 0x2000;
/// Each interrupt vector n points at 0x0F00 + n: a HLT there tells which
/// vector was taken.
const STUBS: u32 = 0x0F00;

/// A real-mode CPU with `prog` at 0:0100, DS = SS = 0, stubs for every vector.
fn cpu_with(bits: u32, prog: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    let mut a = CodeAssembler::new(bits).expect("assembler");
    prog(&mut a).expect("program");
    a.hlt().expect("hlt");
    let code = a.assemble(CODE as u64).expect("assemble");
    let mut cpu = Cpu::new(0x10000);
    cpu.mem.write_bytes(CODE, &code);
    for v in 0..256u32 {
        cpu.mem
            .write_bytes(v * 4, &[(STUBS + v) as u8, ((STUBS + v) >> 8) as u8, 0, 0]);
        cpu.mem.write_u8(STUBS + v, 0xF4);
    }
    for s in [SegReg::CS, SegReg::DS, SegReg::SS, SegReg::ES] {
        cpu.load_seg_real(s, 0);
    }
    cpu.regs[4] = 0x8000;
    cpu.eip = CODE;
    cpu
}

fn run(cpu: &mut Cpu) -> RunExit {
    cpu.halted = false;
    cpu.run(&mut NullBus, 1000)
}

/// The vector whose stub the CPU halted in, if any.
fn vector_taken(cpu: &Cpu) -> Option<u32> {
    let ip = cpu.eip.wrapping_sub(1);
    (STUBS..STUBS + 256).contains(&ip).then(|| ip - STUBS)
}

fn read80(cpu: &mut Cpu, at: u64) -> F80 {
    let mut b = [0; 10];
    cpu.mem.read_bytes(at as u32, &mut b);
    F80::from_bytes(b)
}

#[test]
fn em_and_ts_raise_nm() {
    let mut cpu = cpu_with(16, |a| a.fld1());
    cpu.cr0 |= cr0::EM;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(7));

    let mut cpu = cpu_with(16, |a| a.fld1());
    cpu.cr0 |= cr0::TS;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(7));

    // WAIT: #NM only with MP and TS both set.
    let mut cpu = cpu_with(16, |a| a.wait());
    cpu.cr0 |= cr0::TS;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), None);
    let mut cpu = cpu_with(16, |a| a.wait());
    cpu.cr0 |= cr0::TS | cr0::MP;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(7));

    // MMX: EM is #UD, TS is #NM.
    let mut cpu = cpu_with(16, |a| a.emms());
    cpu.cr0 |= cr0::EM;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(6));
}

/// FLDZ; FLD1; FDIV ST, ST(1) with ZE unmasked, then `after`.
fn divide_by_zero_then(after: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    cpu_with(16, |a| {
        a.fninit()?;
        a.fldcw(word_ptr(DATA))?;
        a.fldz()?;
        a.fld1()?;
        a.fdiv_2(st0, st1)?;
        after(a)
    })
}

#[test]
fn pending_exception_raises_mf_with_ne() {
    let mut cpu = divide_by_zero_then(|a| a.fld1());
    cpu.mem.write_bytes(DATA as u32, &0x037Bu16.to_le_bytes());
    cpu.cr0 |= cr0::NE;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(MF as u32));
    assert!(cpu.fpu.status_word() & 0x84 == 0x84, "ZE and ES set");
    // The faulting FDIV is the last instruction recorded.
    assert_eq!(cpu.fpu.fop, 0x0F1 /* D8 F1 */);
}

#[test]
fn no_wait_instructions_do_not_fault() {
    let mut cpu = divide_by_zero_then(|a| {
        a.fnstsw(ax)?;
        a.fnclex()?;
        a.fld1()
    });
    cpu.mem.write_bytes(DATA as u32, &0x037Bu16.to_le_bytes());
    cpu.cr0 |= cr0::NE;
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), None);
    assert_eq!(cpu.regs[0] & 0x84, 0x84);
    assert_eq!(cpu.fpu.status_word() & 0x80, 0);
}

#[test]
fn ferr_freezes_until_ignne_or_fnclex() {
    let mut cpu = divide_by_zero_then(|a| a.fld1());
    cpu.mem.write_bytes(DATA as u32, &0x037Bu16.to_le_bytes());
    let exit = run(&mut cpu);
    assert_eq!(exit, RunExit::Halted);
    assert!(cpu.fpu.ferr(), "FERR# asserted");
    let frozen_at = cpu.eip;
    assert_eq!(vector_taken(&cpu), None);
    // Still frozen: running again stops at the same instruction.
    run(&mut cpu);
    assert_eq!(cpu.eip, frozen_at);
    // The IRQ 13 handler's OUT F0h asserts IGNNE#: the FLD1 goes ahead.
    cpu.fpu.set_ignne(true);
    run(&mut cpu);
    assert_ne!(cpu.eip, frozen_at);
    assert_eq!(cpu.fpu.st(0), F80::ONE);
    // FNCLEX drops FERR# and IGNNE#.
    cpu.fpu.clear_exceptions();
    assert!(!cpu.fpu.ferr() && !cpu.fpu.ignne());
}

#[test]
fn stack_overflow_and_underflow() {
    // Nine pushes: the ninth overflows (masked: indefinite, C1 = 1).
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        for _ in 0..9 {
            a.fld1()?;
        }
        Ok(())
    });
    run(&mut cpu);
    let sw = cpu.fpu.status_word();
    assert_eq!(sw & 0x41, 0x41, "IE and SF");
    assert_eq!(sw & C1, C1, "C1 = 1: overflow");
    assert_eq!(cpu.fpu.st(0), F80::INDEFINITE);
    // An add with an empty operand underflows (C1 = 0).
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fadd_2(st0, st1)
    });
    run(&mut cpu);
    let sw = cpu.fpu.status_word();
    assert_eq!(sw & 0x41, 0x41);
    assert_eq!(sw & C1, 0);
    assert_eq!(cpu.fpu.st(0), F80::INDEFINITE);
}

#[test]
fn tag_word_reflects_contents() {
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        a.fld1()?; // valid
        a.fldz()?; // zero
        a.fld(tword_ptr(DATA)) // infinity: special
    });
    cpu.mem.write_bytes(DATA as u32, &F80::INFINITY.to_bytes());
    run(&mut cpu);
    // TOP = 5: R5 special, R6 zero, R7 valid, the rest empty.
    assert_eq!(cpu.fpu.tag_word(), 0b00_01_10_11_11_11_11_11);
    assert_eq!(cpu.fpu.abridged_tag(), 0b1110_0000);
}

#[test]
fn fnstenv_real_mode_layouts() {
    for bits32 in [false, true] {
        let mut cpu = cpu_with(16, |a| {
            a.fninit()?;
            a.fld(qword_ptr(DATA + 0x100))?;
            if bits32 {
                a.db(&[0x66])?;
            }
            a.fnstenv(ptr(DATA))
        });
        cpu.mem
            .write_bytes(DATA as u32 + 0x100, &1.5f64.to_bits().to_le_bytes());
        run(&mut cpu);
        let mut b = [0u8; 28];
        cpu.mem.read_bytes(DATA as u32, &mut b);
        let w = |n: usize| u16::from_le_bytes([b[n], b[n + 1]]);
        let fld_ip = CODE + 2; // after FNINIT (DB E3)
        if bits32 {
            assert_eq!(w(0), 0x037F);
            assert_eq!(w(2), 0xFFFF);
            assert_eq!(w(12), fld_ip as u16);
            // FOP of FLD m64 with a disp16 operand: DD /0, ModR/M 06.
            assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 0x506);
            assert_eq!(w(20), DATA as u16 + 0x100);
        } else {
            assert_eq!(w(0), 0x037F);
            assert_eq!(w(4) & 0x3, 0x3, "R0 empty");
            assert_eq!(w(6), fld_ip as u16);
            assert_eq!(w(8), 0x506);
            assert_eq!(w(10), DATA as u16 + 0x100);
        }
        // FNSTENV masks every exception afterwards.
        assert_eq!(cpu.fpu.control_word() & 0x3F, 0x3F);
    }
}

#[test]
fn env_images_round_trip_in_every_format() {
    for protected in [false, true] {
        for w32 in [false, true] {
            let mut cpu = Cpu::new(0x1000);
            if protected {
                cpu.cr0 |= cr0::PE;
            }
            cpu.fpu.set_control_word(0x0A7F);
            cpu.fpu.push(F80::ONE);
            cpu.fpu.raise(0x21);
            cpu.fpu.fip = if protected { 0x1234_5678 } else { 0x0001_2345 };
            cpu.fpu.fcs = 0;
            cpu.fpu.fdp = if protected { 0x8765_4321 } else { 0x000F_FFF0 };
            cpu.fpu.fds = 0;
            cpu.fpu.fop = if w32 || !protected { 0x5EF } else { 0 };
            if protected {
                cpu.fpu.fcs = 0x1B;
                cpu.fpu.fds = 0x23;
            }
            if !w32 && protected {
                cpu.fpu.fip &= 0xFFFF;
                cpu.fpu.fdp &= 0xFFFF;
            }
            let before = cpu.fpu.clone();
            let image = super::super::env::env_image(&cpu, w32);
            assert_eq!(image.len(), if w32 { 28 } else { 14 });
            let regs = cpu.fpu.regs;
            cpu.fpu = Default::default();
            cpu.fpu.regs = regs;
            super::super::env::load_env(&mut cpu, &image, w32);
            assert_eq!(cpu.fpu.control_word(), before.control_word());
            assert_eq!(cpu.fpu.status_word(), before.status_word());
            assert_eq!(cpu.fpu.tag_word(), before.tag_word());
            assert_eq!(cpu.fpu.fip, before.fip, "protected {protected} w32 {w32}");
            assert_eq!(cpu.fpu.fdp, before.fdp, "protected {protected} w32 {w32}");
            assert_eq!(cpu.fpu.fop, before.fop, "protected {protected} w32 {w32}");
            assert_eq!((cpu.fpu.fcs, cpu.fpu.fds), (before.fcs, before.fds));
        }
    }
}

#[test]
fn fsave_frstor_and_fxsave_fxrstor_round_trip() {
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        a.fldpi()?;
        a.fld1()?;
        a.fldz()?;
        a.fnsave(ptr(DATA))?;
        a.frstor(ptr(DATA))?;
        a.fxsave(ptr(DATA + 0x200))?;
        a.fninit()?;
        a.fxrstor(ptr(DATA + 0x200))
    });
    run(&mut cpu);
    assert_eq!(cpu.fpu.top(), 5);
    assert_eq!(cpu.fpu.st(0), F80::ZERO);
    assert_eq!(cpu.fpu.st(1), F80::ONE);
    assert_eq!(cpu.fpu.st(2).exp(), 0x4000);
    assert!(cpu.fpu.is_empty(3));
    // The FSAVE image: ST(0) at byte 14 of the 16-bit layout.
    assert_eq!(read80(&mut cpu, DATA + 14), F80::ZERO);
    assert_eq!(read80(&mut cpu, DATA + 24), F80::ONE);
    // FXSAVE: abridged tag and ST(1) at 32 + 16.
    let mut tag = [0u8; 1];
    cpu.mem.read_bytes(DATA as u32 + 0x204, &mut tag);
    assert_eq!(tag[0], 0b1110_0000);
    assert_eq!(read80(&mut cpu, DATA + 0x200 + 48), F80::ONE);

    // A misaligned FXSAVE is #GP(0).
    let mut cpu = cpu_with(16, |a| a.fxsave(ptr(DATA + 8)));
    run(&mut cpu);
    assert_eq!(vector_taken(&cpu), Some(13));
}

#[test]
fn constants_follow_the_rounding_control() {
    let mut env = Env::new(0x037F);
    let near = super::super::load_store::constant(2, &mut env);
    let mut env = Env::new(0x037F | 0x0400);
    let down = super::super::load_store::constant(2, &mut env);
    assert_eq!(near.sig, 0xC90F_DAA2_2168_C235);
    assert_eq!(down.sig, 0xC90F_DAA2_2168_C234);
}

#[test]
fn trig_out_of_range_sets_c2() {
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        a.fld(tword_ptr(DATA))?;
        a.fsin()
    });
    cpu.mem.write_bytes(
        DATA as u32,
        &F80::new(false, 0x3FFF + 63, 1 << 63).to_bytes(),
    );
    run(&mut cpu);
    assert_eq!(cpu.fpu.status_word() & C2, C2);
    assert_eq!(cpu.fpu.st(0).exp(), 0x3FFF + 63);
}

#[test]
fn mmx_uses_the_x87_registers() {
    let mut cpu = cpu_with(16, |a| {
        a.fninit()?;
        a.fld1()?;
        a.movq(mm1, qword_ptr(DATA))?;
        a.movq(mm2, qword_ptr(DATA + 8))?;
        a.paddusb(mm1, mm2)?;
        a.psllw(mm2, 4)?;
        a.movd(eax, mm1)?;
        a.movq(qword_ptr(DATA + 16), mm2)
    });
    cpu.mem
        .write_bytes(DATA as u32, &0x00FF_8001_7F80_00FFu64.to_le_bytes());
    cpu.mem
        .write_bytes(DATA as u32 + 8, &0x0102_8001_0180_0101u64.to_le_bytes());
    run(&mut cpu);
    assert_eq!(cpu.fpu.top(), 0);
    assert_eq!(cpu.fpu.abridged_tag(), 0xFF, "all registers valid");
    assert_eq!(cpu.fpu.mm(1), 0x01FF_FF02_80FF_01FF);
    assert_eq!(cpu.fpu.regs[1].se, 0xFFFF);
    assert_eq!(cpu.regs[0], 0x80FF_01FF);
    let mut b = [0u8; 8];
    cpu.mem.read_bytes(DATA as u32 + 16, &mut b);
    assert_eq!(u64::from_le_bytes(b), 0x1020_0010_1800_1010);
    // EMMS empties every register.
    let mut cpu = cpu_with(16, |a| {
        a.movq(mm0, mm1)?;
        a.emms()
    });
    run(&mut cpu);
    assert_eq!(cpu.fpu.tag_word(), 0xFFFF);
}

#[test]
fn fop_rebuilds_the_opcode() {
    let cases: [(u32, &[u8], u16); 9] = [
        (16, &[0xDC, 0x40, 0x04], 0x440),             // fadd qword [bx+si+4]
        (16, &[0xD9, 0xE8], 0x1E8),                   // fld1
        (16, &[0xDE, 0xC1], 0x6C1),                   // faddp st(1), st
        (16, &[0xDD, 0x46, 0x00], 0x546),             // fld qword [bp+0]
        (32, &[0xDD, 0x1C, 0x24], 0x51C),             // fstp qword [esp]
        (32, &[0xD8, 0x84, 0x88, 0, 1, 0, 0], 0x084), // fadd dword [eax+ecx*4+100h]
        (32, &[0xD8, 0x05, 0, 0x10, 0, 0], 0x005),    // fadd dword [1000h]
        (32, &[0xDB, 0x68, 0x10], 0x368),             // fld tbyte [eax+10h]
        (32, &[0xD9, 0xC9], 0x1C9),                   // fxch st(1)
    ];
    for (bits, bytes, want) in cases {
        let i = iced_x86::Decoder::new(bits, bytes, 0).decode();
        assert_eq!(super::super::fop(&i), Some(want), "{i}");
    }
    let i = iced_x86::Decoder::new(32, &[0x01, 0xC8], 0).decode();
    assert_eq!(super::super::fop(&i), None);
}
