//! Flag instructions, I/O, CPUID, RDTSC, MSRs, and the system instructions
//! that read or write control state (descriptor-table registers, control
//! and debug registers).

use super::{is_mem, width};
use crate::bus::Bus;
use crate::cpu::decode::{Handler, Op};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{CF, DF, IF};
use crate::cpu::paging::cr4;
use crate::cpu::{cr0, reg, Cpu, DescriptorTable};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// The processor signature in EDX after reset and CPUID.1:EAX: family 6,
/// model 5, stepping 2 — a Pentium II (Deschutes), the first P6 with
/// FXSAVE/FXRSTOR, which is the model we claim.
pub const CPU_SIGNATURE: u32 = 0x0652;

/// CPUID.1:EDX feature bits, claiming exactly what is implemented:
/// FPU (0), VME (1), DE (2), PSE (3), TSC (4), MSR (5), PAE (6), CX8 (8),
/// SEP (11), PGE (13), CMOV (15), MMX (23), FXSR (24).
const FEATURES_EDX: u32 = 1 << 0
    | 1 << 1
    | 1 << 2
    | 1 << 3
    | 1 << 4
    | 1 << 5
    | 1 << 6
    | 1 << 8
    | 1 << 11
    | 1 << 13
    | 1 << 15
    | 1 << 23
    | 1 << 24;

/// CPUID.2: the Pentium II (Deschutes) cache and TLB descriptors (SDM
/// vol. 2, CPUID, "Encoding of CPUID Leaf 2 Descriptors"): one iteration
/// (AL = 1); 01h/02h instruction TLBs, 03h/04h data TLBs, 08h and 0Ch the
/// 16 KiB L1 caches, 43h a 512 KiB L2. Operating systems size caches from
/// these, and Linux names a model-5 P6 with no L2 "Celeron (Covington)"
/// over its brand string.
const CACHE_DESCRIPTORS: [u32; 4] = [0x0302_0101, 0, 0, 0x0C04_0843];

/// CPU cycles an I/O port access takes: 1 µs at the default 100 MHz, the
/// length of an ISA bus cycle.
const IO_BUS_CYCLES: u64 = 100;

/// The brand string of CPUID 8000_0002h–8000_0004h (48 bytes, NUL-padded).
const BRAND: &[u8; 48] = b"ferrite P6-class virtual CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

pub fn lower(i: &Instruction, _op: &Op) -> Option<Handler> {
    use Mnemonic::*;
    let w = width(i, 0);
    match i.mnemonic() {
        Clc => Some(flag_op::<{ CF }, 0>),
        Stc => Some(flag_op::<{ CF }, 1>),
        Cmc => Some(flag_op::<{ CF }, 2>),
        Cld => Some(flag_op::<{ DF }, 0>),
        Std => Some(flag_op::<{ DF }, 1>),
        Cli => Some(cli),
        Sti => Some(sti),
        Nop | Pause => Some(nop),
        Cpuid => Some(cpuid),
        Rdtsc => Some(rdtsc),
        Rdpmc => Some(rdpmc),
        In => Some(match (width(i, 0), i.op_kind(1) == OpKind::Register) {
            (8, false) => io_in::<8, false>,
            (8, true) => io_in::<8, true>,
            (16, false) => io_in::<16, false>,
            (16, true) => io_in::<16, true>,
            (_, false) => io_in::<32, false>,
            (_, true) => io_in::<32, true>,
        }),
        Out => Some(match (width(i, 1), i.op_kind(0) == OpKind::Register) {
            (8, false) => io_out::<8, false>,
            (8, true) => io_out::<8, true>,
            (16, false) => io_out::<16, false>,
            (16, true) => io_out::<16, true>,
            (_, false) => io_out::<32, false>,
            (_, true) => io_out::<32, true>,
        }),
        Lgdt => Some(if i.code() == iced_x86::Code::Lgdt_m1632_16 {
            load_dtr::<false, 16>
        } else {
            load_dtr::<false, 32>
        }),
        Lidt => Some(if i.code() == iced_x86::Code::Lidt_m1632_16 {
            load_dtr::<true, 16>
        } else {
            load_dtr::<true, 32>
        }),
        Sgdt => Some(store_dtr::<false>),
        Sidt => Some(store_dtr::<true>),
        Mov if i.op_register(0).is_cr() => Some(mov_to_cr),
        Mov if i.op_register(1).is_cr() => Some(mov_from_cr),
        Mov if i.op_register(0).is_dr() => Some(mov_to_dr),
        Mov if i.op_register(1).is_dr() => Some(mov_from_dr),
        Lmsw => Some(if is_mem(i, 0) {
            lmsw::<true>
        } else {
            lmsw::<false>
        }),
        Smsw => Some(match (w, is_mem(i, 0)) {
            (_, true) => smsw::<16, true>,
            (16, false) => smsw::<16, false>,
            _ => smsw::<32, false>,
        }),
        Clts => Some(clts),
        Invd | Wbinvd => Some(privileged_nop),
        Invlpg => Some(invlpg),
        Rdmsr => Some(rdmsr),
        Wrmsr => Some(wrmsr),
        _ => None,
    }
}

fn nop(_: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    Ok(())
}

/// CLC/STC/CMC/CLD/STD: `HOW` is 0 clear, 1 set, 2 complement.
fn flag_op<const BIT: u32, const HOW: u8>(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let on = match HOW {
        0 => false,
        1 => true,
        _ => !cpu.cf(),
    };
    cpu.set_flag(BIT, on);
    Ok(())
}

/// Whether the current privilege may touch IF and do I/O without checks:
/// real mode, or CPL <= IOPL outside V86 mode.
fn io_privileged(cpu: &Cpu) -> bool {
    !cpu.protected_mode() || (!cpu.v86_mode() && cpu.cpl <= cpu.iopl())
}

/// Whether CLI/STI may change IF: as for I/O, or in V86 mode with IOPL 3.
fn may_change_if(cpu: &Cpu) -> bool {
    io_privileged(cpu) || (cpu.v86_mode() && cpu.iopl() == 3)
}

/// CLI: IOPL-sensitive (SDM vol. 2, CLI); under CR4.VME (V86) or CR4.PVI
/// (CPL 3) it clears VIF instead of faulting.
fn cli(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if !may_change_if(cpu) {
        if cpu.uses_virtual_if() {
            cpu.set_flag(crate::cpu::flags::VIF, false);
            return Ok(());
        }
        return Err(Exception::gp(0));
    }
    cpu.set_flag(IF, false);
    Ok(())
}

/// STI: interrupts stay held off until after the next instruction. Under
/// CR4.VME/PVI it sets VIF instead, or faults if an interrupt is pending (VIP).
fn sti(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    if !may_change_if(cpu) {
        use crate::cpu::flags::{VIF, VIP};
        if cpu.uses_virtual_if() && !cpu.flag(VIP) {
            cpu.set_flag(VIF, true);
            return Ok(());
        }
        return Err(Exception::gp(0));
    }
    if !cpu.if_flag() {
        cpu.irq_shadow = true;
    }
    cpu.set_flag(IF, true);
    Ok(())
}

/// Privileged instructions need CPL 0 (#GP(0) otherwise, and in V86 mode).
fn require_cpl0(cpu: &Cpu) -> Result<()> {
    if cpu.protected_mode() && (cpu.cpl != 0 || cpu.v86_mode()) {
        Err(Exception::gp(0))
    } else {
        Ok(())
    }
}

fn privileged_nop(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    require_cpl0(cpu)
}

fn cpuid(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let leaf = cpu.regs[reg::EAX];
    let brand = |n: u32| -> [u32; 4] {
        let at = (n as usize) * 16;
        std::array::from_fn(|k| {
            u32::from_le_bytes(
                BRAND[at + 4 * k..at + 4 * k + 4]
                    .try_into()
                    .unwrap_or([0; 4]),
            )
        })
    };
    let [a, b, c, d] = match leaf {
        0 => [
            2,
            u32::from_le_bytes(*b"Genu"),
            u32::from_le_bytes(*b"ntel"),
            u32::from_le_bytes(*b"ineI"),
        ],
        1 => [CPU_SIGNATURE, 0, 0, FEATURES_EDX],
        2 => CACHE_DESCRIPTORS,
        0x8000_0000 => [0x8000_0004, 0, 0, 0],
        0x8000_0002..=0x8000_0004 => brand(leaf - 0x8000_0002),
        // Leaves past the maximum return the highest basic leaf's data (SDM vol. 2, CPUID).
        0x8000_0001..=0x8FFF_FFFF => [0; 4],
        _ => CACHE_DESCRIPTORS,
    };
    // CPUID's register order is EAX, EBX, ECX, EDX.
    cpu.regs[reg::EAX] = a;
    cpu.regs[reg::EBX] = b;
    cpu.regs[reg::ECX] = c;
    cpu.regs[reg::EDX] = d;
    Ok(())
}

/// RDTSC: the time-stamp counter counts retired instructions (one cycle
/// each), so it is deterministic. CR4.TSD makes it privileged.
fn rdtsc(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    if cpu.cr4 & cr4::TSD != 0 && cpu.protected_mode() && cpu.cpl != 0 {
        return Err(Exception::gp(0));
    }
    // The count is exact inside a block too: the instructions before this
    // one in the block have retired (the same time base as port I/O).
    let tsc = cpu.tsc().wrapping_add(op.pos as u64);
    cpu.regs[reg::EAX] = tsc as u32;
    cpu.regs[reg::EDX] = (tsc >> 32) as u32;
    Ok(())
}

/// RDPMC: the P6 has two performance counters (ECX 0 and 1); none counts
/// here, so they read 0. #GP(0) unless CPL 0 or CR4.PCE, or for another ECX
/// (SDM vol. 2, RDPMC).
fn rdpmc(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    let allowed =
        !cpu.protected_mode() || (cpu.cpl == 0 && !cpu.v86_mode()) || cpu.cr4 & cr4::PCE != 0;
    if !allowed || cpu.regs[reg::ECX] > 1 {
        return Err(Exception::gp(0));
    }
    cpu.regs[reg::EAX] = 0;
    cpu.regs[reg::EDX] = 0;
    Ok(())
}

/// IN: from an immediate port or DX (`DX` = true).
fn io_in<const W: u32, const DX: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let port = if DX {
        cpu.regs[reg::EDX] as u16
    } else {
        op.imm as u16
    };
    cpu.check_io(bus, port, W / 8)?;
    let v = cpu.port_read(bus, port, W / 8, op.pos);
    cpu.set_reg::<W>(0, v);
    Ok(())
}

/// OUT: to an immediate port or DX.
fn io_out<const W: u32, const DX: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let port = if DX {
        cpu.regs[reg::EDX] as u16
    } else {
        op.imm as u16
    };
    cpu.check_io(bus, port, W / 8)?;
    let v = cpu.reg::<W>(0);
    cpu.port_write(bus, port, W / 8, v, op.pos);
    Ok(())
}

impl Cpu {
    /// The I/O permission check for IN/OUT/INS/OUTS (SDM vol. 1, 19.5):
    /// allowed when CPL <= IOPL outside V86 mode, else by the TSS I/O bitmap.
    pub(crate) fn check_io(&mut self, bus: &mut dyn Bus, port: u16, size: u32) -> Result<()> {
        if io_privileged(self) {
            return Ok(());
        }
        self.io_bitmap_allows(bus, port, size)
    }

    /// The TSS I/O permission bitmap: every bit for the accessed ports must
    /// be clear; a bitmap past the TSS limit denies.
    fn io_bitmap_allows(&mut self, bus: &mut dyn Bus, port: u16, size: u32) -> Result<()> {
        let tr = self.tr;
        // A 32-bit TSS (type 9 or 11) is needed for a bitmap.
        if tr.attr & 0x7 != 0x1 && tr.attr & 0xF != 0x9 && tr.attr & 0xF != 0xB || tr.limit < 0x67 {
            return Err(Exception::gp(0));
        }
        let map_base = self.read_lin::<16>(bus, tr.base.wrapping_add(0x66))?;
        let at = map_base + port as u32 / 8;
        if at + 1 > tr.limit {
            return Err(Exception::gp(0));
        }
        let bits = self.read_lin::<16>(bus, tr.base.wrapping_add(at))?;
        let mask = ((1u32 << size) - 1) << (port % 8);
        if bits & mask != 0 {
            return Err(Exception::gp(0));
        }
        Ok(())
    }

    /// Writes a port and, if the device asks for the board's attention, ends
    /// the block and the run so the board can act before the next instruction.
    pub(crate) fn port_write(&mut self, bus: &mut dyn Bus, port: u16, size: u32, v: u32, pos: u8) {
        self.bus_cycle(bus, pos);
        bus.io_write(port, size as u8, v);
        self.check_bus_request(bus);
        if self.dr[7] & 0xFF != 0 {
            self.io_breakpoints(port, size);
        }
    }

    /// Reads a port, as [`port_write`](Self::port_write) writes one.
    pub(crate) fn port_read(&mut self, bus: &mut dyn Bus, port: u16, size: u32, pos: u8) -> u32 {
        self.bus_cycle(bus, pos);
        let v = bus.io_read(port, size as u8);
        self.check_bus_request(bus);
        if self.dr[7] & 0xFF != 0 {
            self.io_breakpoints(port, size);
        }
        v
    }

    /// An I/O access takes an ISA bus cycle, about a microsecond, during
    /// which the CPU waits; software relies on that (Linux reads the PIT
    /// "to delay for a microsecond"). The devices are then brought up to
    /// the exact time of the access: `pos` is the op's place in its block.
    fn bus_cycle(&mut self, bus: &mut dyn Bus, pos: u8) {
        self.stall_cycles += IO_BUS_CYCLES;
        bus.sync(self.cycles().wrapping_add(pos as u64));
    }

    pub(crate) fn check_bus_request(&mut self, bus: &mut dyn Bus) {
        if bus.stop_requested() {
            self.bus_request = true;
            self.exit_block = true;
        }
    }

    /// The time-stamp counter: one count per cycle of virtual time
    /// (retired instructions, I/O bus cycles, and cycles halted).
    pub fn tsc(&self) -> u64 {
        self.cycles().wrapping_add(self.tsc_offset)
    }
}

/// LGDT/LIDT m16&32: with a 16-bit operand size only 24 bits of base load.
fn load_dtr<const IDT: bool, const W: u32>(
    cpu: &mut Cpu,
    bus: &mut dyn Bus,
    op: &Op,
) -> Result<()> {
    require_cpl0(cpu)?;
    let ea = cpu.ea(op);
    let limit = cpu.read::<16>(bus, op.seg, ea)?;
    let base = cpu.read::<32>(
        bus,
        op.seg,
        ea.wrapping_add(2) & if op.addr32 { u32::MAX } else { 0xFFFF },
    )?;
    let base = if W == 16 { base & 0x00FF_FFFF } else { base };
    let table = DescriptorTable { base, limit };
    if IDT {
        cpu.idtr = table;
    } else {
        cpu.gdtr = table;
    }
    Ok(())
}

/// SGDT/SIDT: the 16-bit limit, then the full 32-bit base.
fn store_dtr<const IDT: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let t = if IDT { cpu.idtr } else { cpu.gdtr };
    let ea = cpu.ea(op);
    cpu.seg_check(op.seg, ea, 6, true)?;
    cpu.write::<16>(bus, op.seg, ea, t.limit)?;
    cpu.write::<32>(
        bus,
        op.seg,
        ea.wrapping_add(2) & if op.addr32 { u32::MAX } else { 0xFFFF },
        t.base,
    )
}

/// MOV CRn, r32 (SDM vol. 3, 2.5). Invalid combinations raise #GP(0).
fn mov_to_cr(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let v = cpu.regs[op.src as usize & 7];
    // CR0/CR3/CR4 loads and their TLB flushes and PDPTE loads: paging.rs.
    match op.dst {
        0 => cpu.load_cr0(bus, v)?,
        2 => cpu.cr2 = v,
        3 => cpu.load_cr3(bus, v)?,
        4 => cpu.load_cr4(bus, v)?,
        _ => return Err(Exception::ud()),
    }
    cpu.exit_block = true;
    Ok(())
}

fn mov_from_cr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let v = match op.src {
        0 => cpu.cr0,
        2 => cpu.cr2,
        3 => cpu.cr3,
        4 => cpu.cr4,
        _ => return Err(Exception::ud()),
    };
    cpu.regs[op.dst as usize & 7] = v;
    Ok(())
}

impl Cpu {
    /// Writes CR0: PG without PE, or NW without CD, is #GP(0). ET stays set
    /// (a P6 hardwires it). Paging or protection changes flush the TLB.
    pub(crate) fn write_cr0(&mut self, v: u32) -> Result<()> {
        if (v & cr0::PG != 0 && v & cr0::PE == 0) || (v & cr0::NW != 0 && v & cr0::CD == 0) {
            return Err(Exception::gp(0));
        }
        const KNOWN: u32 = cr0::PE
            | cr0::MP
            | cr0::EM
            | cr0::TS
            | cr0::NE
            | cr0::WP
            | cr0::AM
            | cr0::NW
            | cr0::CD
            | cr0::PG;
        let old = self.cr0;
        self.cr0 = (v & KNOWN) | cr0::ET;
        if (old ^ self.cr0) & (cr0::PG | cr0::WP | cr0::PE) != 0 {
            self.flush_tlb();
        }
        if self.cr0 & cr0::PE == 0 {
            self.cpl = 0;
        }
        self.exit_block = true;
        Ok(())
    }
}

/// MOV DRn, r32. DR4/DR5 alias DR6/DR7 (CR4.DE clear). DR7.GD: debug.rs.
fn mov_to_dr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let n = dr_index(cpu, op.dst)?;
    cpu.general_detect()?;
    let v = cpu.regs[op.src as usize & 7];
    cpu.write_dr(n, v);
    Ok(())
}

fn mov_from_dr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let n = dr_index(cpu, op.src)?;
    cpu.general_detect()?;
    cpu.regs[op.dst as usize & 7] = cpu.dr[n];
    Ok(())
}

fn dr_index(cpu: &Cpu, n: u8) -> Result<usize> {
    match n {
        4 | 5 if cpu.cr4 & cr4::DE != 0 => Err(Exception::ud()),
        4 | 5 => Ok(n as usize + 2),
        0..=7 => Ok(n as usize),
        _ => Err(Exception::ud()),
    }
}

/// LMSW: loads PE, MP, EM and TS; cannot clear PE.
fn lmsw<const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let v = cpu.read_rm::<16, MEM>(bus, op)?;
    let new = (cpu.cr0 & !0xE) | (v & 0xF) | (cpu.cr0 & cr0::PE);
    cpu.write_cr0(new)
}

/// SMSW: the low 16 bits of CR0 (all of CR0 into a 32-bit register).
fn smsw<const W: u32, const MEM: bool>(cpu: &mut Cpu, bus: &mut dyn Bus, op: &Op) -> Result<()> {
    let v = cpu.cr0;
    cpu.write_rm::<W, MEM>(bus, op, v)
}

fn clts(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    cpu.cr0 &= !cr0::TS;
    Ok(())
}

fn invlpg(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let lin = cpu.segs[op.seg as usize % 6].base.wrapping_add(cpu.ea(op));
    cpu.flush_tlb_page(lin);
    Ok(())
}

/// Model-specific registers we implement (SDM vol. 4).
mod msr {
    pub const TSC: u32 = 0x10;
    pub const APIC_BASE: u32 = 0x1B;
    pub const MTRRCAP: u32 = 0xFE;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const MISC_ENABLE: u32 = 0x1A0;
    /// IA32_PLATFORM_ID: the processor's platform (reads as 0).
    pub const PLATFORM_ID: u32 = 0x17;
    /// IA32_BIOS_SIGN_ID: the loaded microcode revision in EDX (none: 0);
    /// writes (the "trigger" of a CPUID to latch it) are accepted.
    pub const BIOS_SIGN_ID: u32 = 0x8B;
}

/// RDMSR: #GP(0) for MSRs that do not exist on the modelled CPU.
fn rdmsr(cpu: &mut Cpu, _: &mut dyn Bus, op: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let v: u64 = match cpu.regs[reg::ECX] {
        msr::TSC => cpu.tsc().wrapping_add(op.pos as u64),
        msr::APIC_BASE => cpu.msr.apic_base,
        msr::MTRRCAP => 0,
        msr::SYSENTER_CS => cpu.msr.sysenter_cs as u64,
        msr::SYSENTER_ESP => cpu.msr.sysenter_esp as u64,
        msr::SYSENTER_EIP => cpu.msr.sysenter_eip as u64,
        msr::MISC_ENABLE => cpu.msr.misc_enable,
        msr::PLATFORM_ID | msr::BIOS_SIGN_ID => 0,
        _ => return Err(Exception::gp(0)),
    };
    cpu.regs[reg::EAX] = v as u32;
    cpu.regs[reg::EDX] = (v >> 32) as u32;
    Ok(())
}

fn wrmsr(cpu: &mut Cpu, _: &mut dyn Bus, _: &Op) -> Result<()> {
    require_cpl0(cpu)?;
    let v = (cpu.regs[reg::EDX] as u64) << 32 | cpu.regs[reg::EAX] as u64;
    match cpu.regs[reg::ECX] {
        msr::TSC => cpu.tsc_offset = v.wrapping_sub(cpu.cycles()),
        msr::APIC_BASE => cpu.msr.apic_base = v,
        msr::SYSENTER_CS => cpu.msr.sysenter_cs = v as u32,
        msr::SYSENTER_ESP => cpu.msr.sysenter_esp = v as u32,
        msr::SYSENTER_EIP => cpu.msr.sysenter_eip = v as u32,
        msr::MISC_ENABLE => cpu.msr.misc_enable = v,
        msr::BIOS_SIGN_ID => {}
        _ => return Err(Exception::gp(0)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CACHE_DESCRIPTORS, CPU_SIGNATURE};
    use crate::cpu::reg;
    use crate::cpu::testing::run_real;

    fn cpuid(leaf: u32) -> [u32; 4] {
        let cpu = run_real(|c| c.regs[reg::EAX] = leaf, |a| a.cpuid());
        [reg::EAX, reg::EBX, reg::ECX, reg::EDX].map(|r| cpu.regs[r])
    }

    #[test]
    fn cpuid_identifies_a_pentium_ii_with_its_caches() {
        let [max, b, c, d] = cpuid(0);
        assert_eq!(max, 2, "leaves 0-2");
        let vendor: Vec<u8> = [b, d, c].iter().flat_map(|r| r.to_le_bytes()).collect();
        assert_eq!(vendor, b"GenuineIntel");
        assert_eq!(cpuid(1)[0], CPU_SIGNATURE);
        let descriptors = cpuid(2);
        assert_eq!(descriptors[0] & 0xFF, 1, "one CPUID.2 iteration");
        let bytes: Vec<u8> = descriptors.iter().flat_map(|r| r.to_le_bytes()).collect();
        assert!(bytes.contains(&0x43), "a 512 KiB L2 (descriptor 43h)");
        // SDM vol. 2: leaves above the maximum answer as the highest one.
        assert_eq!(cpuid(7), CACHE_DESCRIPTORS);
    }
}
