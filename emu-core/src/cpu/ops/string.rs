//! String instructions: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS, with the
//! REP/REPE/REPNE prefixes (Intel SDM vol. 2, and vol. 1, 7.3.9).
//!
//! The source is `seg:SI` (DS unless overridden), the destination always
//! `ES:DI`. The address size picks SI/DI/CX (16-bit: only the low halves
//! change, wrapping at 64 KiB) or ESI/EDI/ECX. DF picks the direction.
//!
//! A repeated instruction runs at most [`CHUNK`] iterations per handler call
//! (one with TF set, so single-step traps after each iteration as on
//! hardware). If the count is not exhausted it sets EIP back to itself and
//! ends the block, so the run loop's budget holds and interrupts get in; the
//! instruction then resumes where it stopped. SI, DI and the count advance
//! only after an iteration's accesses succeed, so a fault leaves them
//! describing exactly the completed iterations, with EIP at the instruction.
//!
//! Self-modifying code: a store into cached code sets `exit_block` (in the
//! write path), so the instruction after the string instruction is fetched
//! afresh. The string instruction itself is already decoded and carries on
//! to the end of its chunk, as an in-flight instruction does on a P6.
//! (Stopping at the first such store would instead re-decode the block
//! once per element when a copy runs through the instruction's own page:
//! the re-decode marks the page as code again.)
//!
//! INS checks that the destination is writable (segment and page) before it
//! reads the port, so a faulting INS that is restarted loses no data.

use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::Result;
use crate::cpu::flags::TF;
use crate::cpu::mmu::Access;
use crate::cpu::{reg, Cpu, SegReg};
use iced_x86::{Code, Instruction, OpKind};

/// Most iterations of a repeated string instruction per handler call.
pub(crate) const CHUNK: u32 = 4096;

const MOVS: u8 = 0;
const CMPS: u8 = 1;
const STOS: u8 = 2;
const LODS: u8 = 3;
const SCAS: u8 = 4;
const INS: u8 = 5;
const OUTS: u8 = 6;

/// Repeat conditions: none, REP/REPE (while ZF = 1 for CMPS/SCAS), REPNE.
const ONCE: u8 = 0;
const REPE: u8 = 1;
const REPNE: u8 = 2;

const ES: u8 = SegReg::ES as u8;

pub fn lower(i: &Instruction, op: &Op) -> Option<Handler> {
    use Code::*;
    let (kind, w) = match i.code() {
        Movsb_m8_m8 => (MOVS, 8),
        Movsw_m16_m16 => (MOVS, 16),
        Movsd_m32_m32 => (MOVS, 32),
        Cmpsb_m8_m8 => (CMPS, 8),
        Cmpsw_m16_m16 => (CMPS, 16),
        Cmpsd_m32_m32 => (CMPS, 32),
        Stosb_m8_AL => (STOS, 8),
        Stosw_m16_AX => (STOS, 16),
        Stosd_m32_EAX => (STOS, 32),
        Lodsb_AL_m8 => (LODS, 8),
        Lodsw_AX_m16 => (LODS, 16),
        Lodsd_EAX_m32 => (LODS, 32),
        Scasb_AL_m8 => (SCAS, 8),
        Scasw_AX_m16 => (SCAS, 16),
        Scasd_EAX_m32 => (SCAS, 32),
        Insb_m8_DX => (INS, 8),
        Insw_m16_DX => (INS, 16),
        Insd_m32_DX => (INS, 32),
        Outsb_DX_m8 => (OUTS, 8),
        Outsw_DX_m16 => (OUTS, 16),
        Outsd_DX_m32 => (OUTS, 32),
        _ => return None,
    };
    let a32 = (0..i.op_count()).any(|n| {
        matches!(
            i.op_kind(n),
            OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
        )
    });
    // F2 and F3 both mean plain REP for the instructions that do not compare.
    let rep = match op.rep {
        0 => ONCE,
        r if kind == CMPS || kind == SCAS => r,
        _ => REPE,
    };
    match kind {
        MOVS => pick::<MOVS>(w, a32, rep),
        CMPS => pick::<CMPS>(w, a32, rep),
        STOS => pick::<STOS>(w, a32, rep),
        LODS => pick::<LODS>(w, a32, rep),
        SCAS => pick::<SCAS>(w, a32, rep),
        INS => pick::<INS>(w, a32, rep),
        _ => pick::<OUTS>(w, a32, rep),
    }
}

/// The handler for one kind, width, address size and repeat condition.
fn pick<const KIND: u8>(w: u32, a32: bool, rep: u8) -> Option<Handler> {
    macro_rules! by_rep {
        ($w:literal, $a:literal) => {
            match rep {
                ONCE => string::<$w, $a, KIND, ONCE> as Handler,
                REPE => string::<$w, $a, KIND, REPE>,
                _ => string::<$w, $a, KIND, REPNE>,
            }
        };
    }
    Some(match (w, a32) {
        (8, false) => by_rep!(8, false),
        (16, false) => by_rep!(16, false),
        (32, false) => by_rep!(32, false),
        (8, true) => by_rep!(8, true),
        (16, true) => by_rep!(16, true),
        (32, true) => by_rep!(32, true),
        _ => return None,
    })
}

/// The bits of SI/DI/CX that the address size uses.
#[inline(always)]
const fn amask<const A32: bool>() -> u32 {
    if A32 {
        u32::MAX
    } else {
        0xFFFF
    }
}

/// Whether the instruction reads through SI.
const fn uses_si(kind: u8) -> bool {
    matches!(kind, MOVS | CMPS | LODS | OUTS)
}

/// Whether the instruction reads or writes through DI.
const fn uses_di(kind: u8) -> bool {
    matches!(kind, MOVS | CMPS | STOS | SCAS | INS)
}

/// Replaces the bits of general register `r` that the address size uses.
#[inline(always)]
fn set_index<const A32: bool>(cpu: &mut Cpu, r: usize, v: u32) {
    let m = amask::<A32>();
    cpu.regs[r] = (cpu.regs[r] & !m) | (v & m);
}

/// One iteration's accesses at source offset `si` and destination `di`.
/// Changes neither SI, DI nor the count.
#[inline(always)]
fn step<const W: u32, const KIND: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
    si: u32,
    di: u32,
) -> Result<()> {
    match KIND {
        MOVS => {
            let v = cpu.read::<W>(bus, op.seg, si)?;
            cpu.write::<W>(bus, ES, di, v)?;
        }
        CMPS => {
            let a = cpu.read::<W>(bus, op.seg, si)?;
            let b = cpu.read::<W>(bus, ES, di)?;
            cpu.flags_sub(W, a, b, a.wrapping_sub(b));
        }
        STOS => {
            let v = cpu.reg::<W>(0);
            cpu.write::<W>(bus, ES, di, v)?;
        }
        LODS => {
            let v = cpu.read::<W>(bus, op.seg, si)?;
            cpu.set_reg::<W>(0, v);
        }
        SCAS => {
            let a = cpu.reg::<W>(0);
            let b = cpu.read::<W>(bus, ES, di)?;
            cpu.flags_sub(W, a, b, a.wrapping_sub(b));
        }
        INS => {
            // Raise any segment or page fault on the destination before the
            // port is read, so that a restarted INS loses no data.
            let lin = cpu.seg_check(ES, di, W / 8, true)?;
            cpu.translate(bus, lin, Access::Write)?;
            let last = lin.wrapping_add(W / 8 - 1);
            if (last ^ lin) >> 12 != 0 {
                cpu.translate(bus, last, Access::Write)?;
            }
            let v = cpu.port_read(bus, cpu.regs[reg::EDX] as u16, W / 8, op.pos);
            cpu.write_lin::<W>(bus, lin, v)?;
        }
        _ => {
            let v = cpu.read::<W>(bus, op.seg, si)?;
            cpu.port_write(bus, cpu.regs[reg::EDX] as u16, W / 8, v, op.pos);
        }
    }
    Ok(())
}

/// A string instruction of width `W`, address size `A32`, with repeat
/// condition `REP` ([`ONCE`], [`REPE`] or [`REPNE`]).
fn string<const W: u32, const A32: bool, const KIND: u8, const REP: u8>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    let m = amask::<A32>();
    let mut count = cpu.regs[reg::ECX] & m;
    if REP != ONCE && count == 0 {
        return Ok(());
    }
    if KIND == INS || KIND == OUTS {
        cpu.check_io(bus, cpu.regs[reg::EDX] as u16, W / 8)?;
    }
    let delta = if cpu.df() {
        (W / 8).wrapping_neg()
    } else {
        W / 8
    };
    let mut si = cpu.regs[reg::ESI] & m;
    let mut di = cpu.regs[reg::EDI] & m;
    // One iteration without REP, else up to a chunk (one under TF, so the
    // single-step trap comes after each iteration).
    let chunk = if REP == ONCE || cpu.flag(TF) {
        1
    } else {
        CHUNK
    };
    // SI, DI and the count live in locals in the loop and are written back
    // once, also when an iteration faults (they then count the completed
    // iterations only).
    let mut result = Ok(());
    let mut finished = REP == ONCE;
    for _ in 0..chunk {
        if let Err(e) = step::<W, KIND>(cpu, bus, op, si, di) {
            result = Err(e);
            finished = true;
            break;
        }
        si = si.wrapping_add(delta) & m;
        di = di.wrapping_add(delta) & m;
        if REP == ONCE {
            break;
        }
        count -= 1;
        if count == 0 {
            finished = true;
            break;
        }
        if KIND == CMPS || KIND == SCAS {
            let zf = cpu.zf();
            if (REP == REPE && !zf) || (REP == REPNE && zf) {
                finished = true;
                break;
            }
        }
        if KIND == OUTS && cpu.bus_request {
            // A port write needs the board's attention before going on.
            break;
        }
        if cpu.dbg_hits != 0 {
            // A data breakpoint hit: its #DB trap comes after this
            // iteration (SDM vol. 3, 17.3.1.2).
            break;
        }
    }
    if uses_si(KIND) {
        set_index::<A32>(cpu, reg::ESI, si);
    }
    if uses_di(KIND) {
        set_index::<A32>(cpu, reg::EDI, di);
    }
    if REP != ONCE {
        set_index::<A32>(cpu, reg::ECX, count);
    }
    if !finished {
        // Not done: run this instruction again as the next one.
        let len = (op.next - op.start) as u32;
        let ip_mask = if cpu.code32() { u32::MAX } else { 0xFFFF };
        cpu.eip = cpu.eip.wrapping_sub(len) & ip_mask;
        cpu.exit_block = true;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::CHUNK;
    use crate::bus::{Bus, NullBus};
    use crate::cpu::flags::{IF, ZF};
    use crate::cpu::{reg, Cpu, RunExit, SegReg};

    const CODE: u32 = 0x1000;

    /// A real-mode CPU with `code` at 0100:0000, DS = 0x2000, ES = 0x3000,
    /// SS = 0x4000, SP = 0x100.
    fn setup(code: &[u8]) -> Cpu {
        let mut cpu = Cpu::new(1 << 20);
        cpu.mem.write_bytes(CODE, code);
        cpu.load_seg_real(SegReg::CS, 0x100);
        cpu.load_seg_real(SegReg::DS, 0x2000);
        cpu.load_seg_real(SegReg::ES, 0x3000);
        cpu.load_seg_real(SegReg::SS, 0x4000);
        cpu.regs[reg::ESP] = 0x100;
        cpu.eip = 0;
        cpu
    }

    fn run_on(cpu: &mut Cpu, bus: &mut dyn Bus) {
        assert_eq!(cpu.run(bus, 100_000), RunExit::Halted);
    }

    fn run(cpu: &mut Cpu) {
        run_on(cpu, &mut NullBus);
    }

    fn bytes(cpu: &mut Cpu, at: u32, n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| cpu.mem.read_u8(at + i)).collect()
    }

    #[test]
    fn rep_movsb_forward() {
        // rep movsb ; hlt
        let mut cpu = setup(&[0xF3, 0xA4, 0xF4]);
        cpu.mem.write_bytes(0x20010, b"hello, world");
        cpu.regs[reg::ESI] = 0xABCD_0010;
        cpu.regs[reg::EDI] = 0x0020;
        cpu.regs[reg::ECX] = 0x5555_000C;
        run(&mut cpu);
        assert_eq!(bytes(&mut cpu, 0x30020, 12), b"hello, world");
        // 16-bit address size: only the low halves change.
        assert_eq!(cpu.regs[reg::ESI], 0xABCD_001C);
        assert_eq!(cpu.regs[reg::EDI], 0x002C);
        assert_eq!(cpu.regs[reg::ECX], 0x5555_0000);
        assert_eq!(cpu.eip, 3);
    }

    #[test]
    fn rep_movsb_backward() {
        // std ; rep movsb ; hlt
        let mut cpu = setup(&[0xFD, 0xF3, 0xA4, 0xF4]);
        cpu.mem.write_bytes(0x20010, b"abcdef");
        cpu.regs[reg::ESI] = 0x15;
        cpu.regs[reg::EDI] = 0x25;
        cpu.regs[reg::ECX] = 6;
        run(&mut cpu);
        assert_eq!(bytes(&mut cpu, 0x30020, 6), b"abcdef");
        assert_eq!(cpu.regs[reg::ESI], 0x0F);
        assert_eq!(cpu.regs[reg::EDI], 0x1F);
        assert_eq!(cpu.regs[reg::ECX], 0);
        assert!(cpu.df());
    }

    #[test]
    fn movsw_wraps_si_at_64k() {
        // std ; movsw ; movsw ; hlt, with SI = 0: the second word comes from DS:FFFE.
        let mut cpu = setup(&[0xFD, 0xA5, 0xA5, 0xF4]);
        cpu.mem.write_bytes(0x20000, &[0x11, 0x22]);
        cpu.mem.write_bytes(0x2FFFE, &[0x33, 0x44]);
        cpu.regs[reg::ESI] = 0x1234_0000;
        cpu.regs[reg::EDI] = 0x10;
        run(&mut cpu);
        assert_eq!(bytes(&mut cpu, 0x3000E, 4), [0x33, 0x44, 0x11, 0x22]);
        assert_eq!(cpu.regs[reg::ESI], 0x1234_FFFC);
        assert_eq!(cpu.regs[reg::EDI], 0x0C);
    }

    #[test]
    fn repe_cmpsb_stops_at_first_difference() {
        // repe cmpsb ; hlt
        let mut cpu = setup(&[0xF3, 0xA6, 0xF4]);
        cpu.mem.write_bytes(0x20000, b"abcXef");
        cpu.mem.write_bytes(0x30000, b"abcdef");
        cpu.regs[reg::ECX] = 6;
        run(&mut cpu);
        // Stopped after comparing the 4th byte: 'X' (58h) - 'd' (64h) borrows.
        assert_eq!(cpu.regs[reg::ESI], 4);
        assert_eq!(cpu.regs[reg::EDI], 4);
        assert_eq!(cpu.regs[reg::ECX], 2);
        assert!(!cpu.zf());
        assert!(cpu.cf());
        assert!(cpu.sf());

        // Equal strings run the count out with ZF = 1.
        let mut cpu = setup(&[0xF3, 0xA6, 0xF4]);
        cpu.mem.write_bytes(0x20000, b"abcdef");
        cpu.mem.write_bytes(0x30000, b"abcdef");
        cpu.regs[reg::ECX] = 6;
        run(&mut cpu);
        assert_eq!(
            (cpu.regs[reg::ESI], cpu.regs[reg::EDI], cpu.regs[reg::ECX]),
            (6, 6, 0)
        );
        assert!(cpu.zf() && !cpu.cf());
    }

    #[test]
    fn cmpsw_compares_source_minus_destination() {
        // cmpsw ; hlt: [DS:SI] = 1, [ES:DI] = 2 -> 1 - 2 borrows.
        let mut cpu = setup(&[0xA7, 0xF4]);
        cpu.mem.write_bytes(0x20000, &[1, 0]);
        cpu.mem.write_bytes(0x30000, &[2, 0]);
        run(&mut cpu);
        assert!(cpu.cf() && cpu.sf() && !cpu.zf() && !cpu.of());
        assert_eq!((cpu.regs[reg::ESI], cpu.regs[reg::EDI]), (2, 2));
    }

    #[test]
    fn repne_scasb_finds_a_byte() {
        // repne scasb ; hlt: look for 0 in ES:DI.
        let mut cpu = setup(&[0xF2, 0xAE, 0xF4]);
        cpu.mem.write_bytes(0x30100, b"string\0tail");
        cpu.regs[reg::EDI] = 0x100;
        cpu.regs[reg::ECX] = 0xFFFF;
        cpu.regs[reg::EAX] = 0x1200;
        run(&mut cpu);
        assert_eq!(cpu.regs[reg::EDI], 0x107);
        assert_eq!(cpu.regs[reg::ECX], 0xFFFF - 7);
        assert!(cpu.zf());

        // Not found: the count runs out with ZF = 0.
        let mut cpu = setup(&[0xF2, 0xAE, 0xF4]);
        cpu.mem.write_bytes(0x30100, b"abc");
        cpu.regs[reg::EDI] = 0x100;
        cpu.regs[reg::ECX] = 3;
        cpu.regs[reg::EAX] = b'z' as u32;
        run(&mut cpu);
        assert_eq!((cpu.regs[reg::EDI], cpu.regs[reg::ECX]), (0x103, 0));
        assert!(!cpu.zf());
    }

    #[test]
    fn address_size_prefix_uses_esi_edi_ecx() {
        // a32 rep movsb ; hlt, copying across a 64 KiB boundary of the offset.
        let mut cpu = setup(&[0x67, 0xF3, 0xA4, 0xF4]);
        cpu.load_seg_real(SegReg::DS, 0);
        cpu.load_seg_real(SegReg::ES, 0);
        // Unreal-style 4 GiB limits so 32-bit offsets are legal.
        cpu.segs[SegReg::DS as usize].limit = u32::MAX;
        cpu.segs[SegReg::ES as usize].limit = u32::MAX;
        cpu.mem.write_bytes(0x5FFFE, b"wxyz");
        cpu.regs[reg::ESI] = 0x5FFFE;
        cpu.regs[reg::EDI] = 0x7FFFE;
        cpu.regs[reg::ECX] = 4;
        run(&mut cpu);
        assert_eq!(bytes(&mut cpu, 0x7FFFE, 4), b"wxyz");
        assert_eq!(cpu.regs[reg::ESI], 0x60002);
        assert_eq!(cpu.regs[reg::EDI], 0x80002);
        assert_eq!(cpu.regs[reg::ECX], 0);
    }

    #[test]
    fn segment_override_applies_to_the_source_only() {
        // cs: movsb copies CS:SI -> ES:DI; then ss: lodsb reads SS:SI; hlt.
        let mut cpu = setup(&[0x2E, 0xA4, 0x36, 0xAC, 0xF4]);
        cpu.regs[reg::ESI] = 0x0003; // CS:0003 is the AC byte
        cpu.regs[reg::EDI] = 0x0000;
        cpu.mem.write_u8(0x40004, 0x77);
        run(&mut cpu);
        assert_eq!(cpu.mem.read_u8(0x30000), 0xAC);
        assert_eq!(cpu.regs[reg::EAX] & 0xFF, 0x77);

        // An override on a destination-only instruction changes nothing:
        // fs: stosb still writes ES:DI.
        let mut cpu = setup(&[0x64, 0xAA, 0xF4]);
        cpu.load_seg_real(SegReg::FS, 0x5000);
        cpu.regs[reg::EAX] = 0x5A;
        cpu.regs[reg::EDI] = 0x10;
        run(&mut cpu);
        assert_eq!(cpu.mem.read_u8(0x30010), 0x5A);
        assert_eq!(cpu.mem.read_u8(0x50010), 0);
    }

    #[test]
    fn count_zero_does_nothing() {
        // rep movsb ; repe cmpsb ; rep stosb ; hlt with CX = 0 (ECX high half set).
        let mut cpu = setup(&[0xF3, 0xA4, 0xF3, 0xA6, 0xF3, 0xAA, 0xF4]);
        cpu.mem.write_bytes(0x20000, &[1]);
        cpu.regs[reg::ECX] = 0x0001_0000;
        cpu.regs[reg::EAX] = 0xEE;
        cpu.flags_sub(8, 1, 1, 0);
        run(&mut cpu);
        assert_eq!(cpu.mem.read_u8(0x30000), 0);
        assert_eq!(
            (cpu.regs[reg::ESI], cpu.regs[reg::EDI], cpu.regs[reg::ECX]),
            (0, 0, 0x0001_0000)
        );
        assert!(cpu.zf(), "flags untouched");
        assert_eq!(cpu.eip, 7);
    }

    #[test]
    fn lods_loads_the_accumulator() {
        // lodsb ; lodsw ; o32 lodsd ; hlt
        let mut cpu = setup(&[0xAC, 0xAD, 0x66, 0xAD, 0xF4]);
        cpu.mem
            .write_bytes(0x20000, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
        cpu.regs[reg::EAX] = 0xFFFF_FFFF;
        cpu.regs[reg::EBX] = 0;
        run(&mut cpu);
        assert_eq!(cpu.regs[reg::EAX], 0x7766_5544);
        assert_eq!(cpu.regs[reg::ESI], 7);

        // rep lodsb leaves the last byte; backwards with DF = 1.
        let mut cpu = setup(&[0xFD, 0xF3, 0xAC, 0xF4]);
        cpu.mem.write_bytes(0x20000, &[0x11, 0x22, 0x33]);
        cpu.regs[reg::ESI] = 2;
        cpu.regs[reg::ECX] = 3;
        cpu.regs[reg::EAX] = 0xAABB_CCDD;
        run(&mut cpu);
        assert_eq!(cpu.regs[reg::EAX], 0xAABB_CC11);
        assert_eq!(cpu.regs[reg::ESI], 0xFFFF);
    }

    #[test]
    fn rep_stosd_fills_dwords() {
        // o32 rep stosd ; hlt
        let mut cpu = setup(&[0x66, 0xF3, 0xAB, 0xF4]);
        cpu.regs[reg::EAX] = 0xDEAD_BEEF;
        cpu.regs[reg::EDI] = 0x40;
        cpu.regs[reg::ECX] = 3;
        run(&mut cpu);
        assert_eq!(
            bytes(&mut cpu, 0x30040, 13),
            [0xEF, 0xBE, 0xAD, 0xDE, 0xEF, 0xBE, 0xAD, 0xDE, 0xEF, 0xBE, 0xAD, 0xDE, 0]
        );
        assert_eq!(cpu.regs[reg::EDI], 0x4C);
        assert_eq!(cpu.regs[reg::ECX], 0);
    }

    #[test]
    fn long_rep_runs_in_chunks() {
        // rep stosb ; hlt with a count several chunks long.
        let n = 3 * CHUNK + 5;
        let mut cpu = setup(&[0xF3, 0xAA, 0xF4]);
        cpu.regs[reg::EAX] = 0x42;
        cpu.regs[reg::ECX] = n;
        run(&mut cpu);
        assert!(bytes(&mut cpu, 0x30000, n as usize)
            .iter()
            .all(|&b| b == 0x42));
        assert_eq!(cpu.mem.read_u8(0x30000 + n), 0);
        assert_eq!(cpu.regs[reg::EDI], n);
        assert_eq!(cpu.regs[reg::ECX], 0);
        // Four calls of the string handler, then HLT.
        assert_eq!(cpu.icount, 5);
        assert_eq!(cpu.eip, 3);
    }

    /// A bus that raises IRQ vector 8 at its `at`-th poll.
    struct IrqAt {
        polls: u32,
        at: u32,
    }

    impl Bus for IrqAt {
        fn io_read(&mut self, _: u16, _: u8) -> u32 {
            0
        }
        fn io_write(&mut self, _: u16, _: u8, _: u32) {}
        fn interrupt_pending(&mut self) -> bool {
            self.polls += 1;
            self.polls == self.at
        }
        fn interrupt_ack(&mut self) -> u8 {
            8
        }
    }

    #[test]
    fn interrupt_lands_between_chunks_and_returns_to_the_instruction() {
        // nop ; rep movsw ; hlt ; the IRQ handler at 0100:0010 is a HLT.
        let mut cpu = setup(&[0x90, 0xF3, 0xA5, 0xF4]);
        cpu.mem.write_bytes(8 * 4, &[0x10, 0x00, 0x00, 0x01]);
        cpu.mem.write_u8(CODE + 0x10, 0xF4);
        cpu.set_flag(IF, true);
        cpu.regs[reg::ECX] = CHUNK + 10;
        // Polls: before the first block, after its first chunk.
        run_on(&mut cpu, &mut IrqAt { polls: 0, at: 2 });
        assert_eq!(cpu.eip, 0x11, "in the handler");
        assert_eq!(cpu.regs[reg::ECX], 10);
        assert_eq!(cpu.regs[reg::ESI], 2 * CHUNK);
        assert_eq!(cpu.regs[reg::EDI], 2 * CHUNK);
        // The return address is the REP MOVSW itself.
        assert_eq!(cpu.mem.read_u8(0x40000 + 0xFA), 0x01);
        assert_eq!(cpu.mem.read_u8(0x40000 + 0xFB), 0x00);
        // Resume as IRET would: back at the instruction.
        cpu.halted = false;
        cpu.eip = 1;
        run(&mut cpu);
        assert_eq!(cpu.regs[reg::ECX], 0);
        assert_eq!(cpu.regs[reg::EDI], 2 * CHUNK + 20);
        assert_eq!(cpu.eip, 4);
    }

    #[test]
    fn fault_mid_rep_keeps_progress_and_points_at_the_instruction() {
        // nop ; rep movsw ; hlt with SI reaching FFFF: the word at DS:FFFF
        // crosses the 64 KiB limit and raises #GP (vector 13) after 3 words.
        let mut cpu = setup(&[0x90, 0xF3, 0xA5, 0xF4]);
        cpu.mem.write_bytes(13 * 4, &[0x20, 0x00, 0x00, 0x01]);
        cpu.mem.write_u8(CODE + 0x20, 0xF4);
        cpu.regs[reg::ESI] = 0xFFF9;
        cpu.regs[reg::ECX] = 10;
        run(&mut cpu);
        assert_eq!(cpu.eip, 0x21, "in the #GP handler");
        assert_eq!(cpu.regs[reg::ESI], 0xFFFF);
        assert_eq!(cpu.regs[reg::EDI], 6);
        assert_eq!(cpu.regs[reg::ECX], 7);
        // Pushed CS:IP = 0100:0001, the REP MOVSW.
        assert_eq!(bytes(&mut cpu, 0x40000 + 0xFA, 4), [0x01, 0x00, 0x00, 0x01]);
    }

    #[test]
    fn rep_stosb_over_the_following_code_is_executed() {
        // push cs ; pop es ; mov di, 9 ; mov al, 40h ; rep stosb (cx = 3) ;
        // then 3 HLTs that become INC AX, then a HLT.
        // 0: 0E  1: 07  2: BF 0B 00  5: B0 40  7: B9 03 00  A: F3 AA? (len) ...
        let code = [
            0x0E, // 0: push cs
            0x07, // 1: pop es
            0xBF, 0x0E, 0x00, // 2: mov di, 0Eh
            0xB0, 0x40, // 5: mov al, 40h (inc ax)
            0xB9, 0x03, 0x00, // 7: mov cx, 3
            0x31, 0xDB, // A: xor bx, bx (padding)
            0xF3, 0xAA, // C: rep stosb
            0xF4, 0xF4, 0xF4, // E: overwritten with inc ax x3
            0xF4, // 11: hlt
        ];
        let mut cpu = setup(&code);
        run(&mut cpu);
        assert_eq!(cpu.eip, 0x12);
        assert_eq!(cpu.regs[reg::EAX] & 0xFFFF, 0x43);
    }

    #[test]
    fn rep_movsb_over_the_following_code_in_chunks_is_executed() {
        // A copy long enough to take several chunks, whose last bytes patch
        // the code right after the instruction: mov ax, 1234h.
        let n = CHUNK + 100;
        let code = [
            0xF3, 0xA4, // 0: rep movsb (DS:SI -> ES:DI)
            0xF4, 0xF4, 0xF4, // 2: becomes mov ax, 1234h
            0xF4, // 5: hlt
        ];
        let mut cpu = setup(&code);
        // ES = CS; DI starts n - 5 bytes below the wrap so that the copy
        // wraps at 64 KiB and its last 5 bytes land on CS:0000..0004.
        cpu.load_seg_real(SegReg::ES, 0x100);
        cpu.regs[reg::EDI] = 5u32.wrapping_sub(n) & 0xFFFF;
        cpu.regs[reg::ESI] = 0;
        cpu.regs[reg::ECX] = n;
        let mut src = vec![0x99; n as usize];
        let tail = [0xF3, 0xA4, 0xB8, 0x34, 0x12];
        src[n as usize - 5..].copy_from_slice(&tail);
        cpu.mem.write_bytes(0x20000, &src);
        run(&mut cpu);
        assert_eq!(cpu.regs[reg::EAX] & 0xFFFF, 0x1234);
        assert_eq!(cpu.eip, 6);
        assert_eq!(cpu.regs[reg::ECX], 0);
        assert_eq!(cpu.regs[reg::EDI], 5);
    }

    /// Records port traffic; port 0x60 reads count up from 1.
    #[derive(Default)]
    struct Ports {
        written: Vec<(u16, u8, u32)>,
        next: u32,
    }

    impl Bus for Ports {
        fn io_read(&mut self, _: u16, _: u8) -> u32 {
            self.next += 1;
            self.next * 0x0101
        }
        fn io_write(&mut self, port: u16, size: u8, value: u32) {
            self.written.push((port, size, value));
        }
    }

    #[test]
    fn rep_insw_and_outsb() {
        // rep insw ; rep outsb ; hlt: the OUTSB finds CX = 0 and does nothing.
        let mut cpu = setup(&[0xF3, 0x6D, 0xF3, 0x6E, 0xF4]);
        cpu.regs[reg::EDX] = 0x1F0;
        cpu.regs[reg::ECX] = 3;
        cpu.regs[reg::EDI] = 0x10;
        let mut bus = Ports::default();
        run_on(&mut cpu, &mut bus);
        assert_eq!(bytes(&mut cpu, 0x30010, 7), [1, 1, 2, 2, 3, 3, 0]);
        assert_eq!(cpu.regs[reg::EDI], 0x16);
        assert_eq!(cpu.regs[reg::ECX], 0);
        assert!(bus.written.is_empty());

        let mut cpu = setup(&[0xF3, 0x6E, 0xF4]);
        cpu.mem.write_bytes(0x20000, b"hi!");
        cpu.regs[reg::EDX] = 0x3F8;
        cpu.regs[reg::ECX] = 3;
        let mut bus = Ports::default();
        run_on(&mut cpu, &mut bus);
        assert_eq!(
            bus.written,
            [
                (0x3F8, 1, b'h' as u32),
                (0x3F8, 1, b'i' as u32),
                (0x3F8, 1, b'!' as u32)
            ]
        );
        assert_eq!(cpu.regs[reg::ESI], 3);
    }

    #[test]
    fn rep_prefixes_on_non_comparing_instructions_just_repeat() {
        // repne movsb (F2 acts as REP) ; hlt, with ZF set beforehand.
        let mut cpu = setup(&[0xF2, 0xA4, 0xF4]);
        cpu.mem.write_bytes(0x20000, b"xyz");
        cpu.regs[reg::ECX] = 3;
        cpu.set_flag(ZF, true);
        run(&mut cpu);
        assert_eq!(bytes(&mut cpu, 0x30000, 3), b"xyz");
        assert_eq!(cpu.regs[reg::ECX], 0);
    }

    /// Asks the board to stop after the `at`-th port write.
    struct StopAfter {
        writes: u32,
        at: u32,
    }

    impl Bus for StopAfter {
        fn io_read(&mut self, _: u16, _: u8) -> u32 {
            0
        }
        fn io_write(&mut self, _: u16, _: u8, _: u32) {
            self.writes += 1;
        }
        fn stop_requested(&mut self) -> bool {
            self.writes == self.at
        }
    }

    #[test]
    fn rep_outs_stops_when_the_bus_asks() {
        // rep outsb ; hlt
        let mut cpu = setup(&[0xF3, 0x6E, 0xF4]);
        cpu.regs[reg::ECX] = 5;
        let mut bus = StopAfter { writes: 0, at: 2 };
        assert_eq!(cpu.run(&mut bus, 1000), RunExit::BusRequest);
        assert_eq!((cpu.regs[reg::ECX], cpu.regs[reg::ESI], cpu.eip), (3, 2, 0));
        run_on(&mut cpu, &mut bus);
        assert_eq!(
            (cpu.regs[reg::ECX], cpu.regs[reg::ESI], bus.writes),
            (0, 5, 5)
        );
    }

    #[test]
    fn ins_faulting_on_the_destination_does_not_read_the_port() {
        // insw at ES:FFFF crosses the limit: #GP (vector 13), port untouched.
        let mut cpu = setup(&[0x6D, 0xF4]);
        cpu.mem.write_bytes(13 * 4, &[0x20, 0x00, 0x00, 0x01]);
        cpu.mem.write_u8(CODE + 0x20, 0xF4);
        cpu.regs[reg::EDI] = 0xFFFF;
        let mut bus = Ports::default();
        run_on(&mut cpu, &mut bus);
        assert_eq!(cpu.eip, 0x21, "in the #GP handler");
        assert_eq!(bus.next, 0, "no port read");
        assert_eq!(cpu.regs[reg::EDI], 0xFFFF);
    }

    #[test]
    fn single_step_traps_after_each_iteration() {
        // rep stosb with TF: #DB (vector 1) after the first byte, at the
        // instruction, with CX counting the one iteration done.
        let mut cpu = setup(&[0xF3, 0xAA, 0xF4]);
        cpu.mem.write_bytes(4, &[0x20, 0x00, 0x00, 0x01]);
        cpu.mem.write_u8(CODE + 0x20, 0xF4);
        cpu.set_flag(crate::cpu::flags::TF, true);
        cpu.regs[reg::ECX] = 3;
        cpu.regs[reg::EAX] = 0x11;
        run(&mut cpu);
        assert_eq!(cpu.eip, 0x21, "in the #DB handler");
        assert_eq!((cpu.regs[reg::ECX], cpu.regs[reg::EDI]), (2, 1));
        assert_eq!(bytes(&mut cpu, 0x30000, 2), [0x11, 0]);
        // Pushed IP = 0, the REP STOSB.
        assert_eq!(bytes(&mut cpu, 0x40000 + 0xFA, 4), [0x00, 0x00, 0x00, 0x01]);
    }
}
