//! Page walks, protection, accessed/dirty bits, page faults, the TLB's
//! flushing rules, PAE, and self-modifying code through an alias mapping
//! (Intel SDM vol. 3, chapter 4).

use super::{cr4, pf, pte};
use crate::bus::NullBus;
use crate::cpu::exception::{Exception, PF, UD};
use crate::cpu::mmu::Access;
use crate::cpu::segment::attr;
use crate::cpu::{cr0, Cpu, RunExit, SegReg, Segment};

/// The page directory (32-bit paging).
const PD: u32 = 0x10000;
/// PAE: the PDPT, and one page directory per PDPTE.
const PDPT: u32 = 0x20000;
const PAE_PD: u32 = 0x21000;

const P: u32 = pte::P as u32;
const RW: u32 = pte::RW as u32;
const US: u32 = pte::US as u32;
const A: u32 = pte::A as u32;
const D: u32 = pte::D as u32;
const PS: u32 = pte::PS as u32;
const G: u32 = pte::G as u32;

/// The page table that [`map`] uses for page-directory entry `i`.
fn pt_for(i: u32) -> u32 {
    0x0010_0000 + 0x1000 * i
}

fn rd32(cpu: &mut Cpu, a: u32) -> u32 {
    let mut b = [0; 4];
    cpu.mem.read_bytes(a, &mut b);
    u32::from_le_bytes(b)
}

fn wr32(cpu: &mut Cpu, a: u32, v: u32) {
    cpu.mem.write_bytes(a, &v.to_le_bytes());
}

fn wr64(cpu: &mut Cpu, a: u32, v: u64) {
    cpu.mem.write_bytes(a, &v.to_le_bytes());
}

fn pf_err(code: u16) -> Exception {
    Exception::with_error(PF, code)
}

/// A CPU in protected mode with 32-bit paging on, CR3 = [`PD`] (empty).
fn paging32() -> Cpu {
    let mut cpu = Cpu::new(16 << 20);
    cpu.cr3 = PD;
    cpu.cr0 = cr0::PE | cr0::PG | cr0::ET;
    cpu.flush_tlb();
    cpu
}

/// Maps the 4 KiB page at `lin` to `phys` with PTE flags `flags`; the PDE
/// allows everything (P, R/W, U/S).
fn map(cpu: &mut Cpu, lin: u32, phys: u32, flags: u32) {
    let i = lin >> 22;
    wr32(cpu, PD + 4 * i, pt_for(i) | P | RW | US);
    wr32(cpu, pt_for(i) + ((lin >> 12) & 0x3FF) * 4, phys | flags);
}

fn pte_addr(lin: u32) -> u32 {
    pt_for(lin >> 22) + ((lin >> 12) & 0x3FF) * 4
}

fn read(cpu: &mut Cpu, lin: u32) -> Result<u32, Exception> {
    cpu.read_lin::<32>(&mut NullBus, lin)
}

fn write(cpu: &mut Cpu, lin: u32, v: u32) -> Result<(), Exception> {
    cpu.write_lin::<32>(&mut NullBus, lin, v)
}

/// SDM 4.3, figure 4-2: CR3 → PDE → PTE → 4 KiB page.
#[test]
fn walk_32bit_4k_page() {
    let mut cpu = paging32();
    map(&mut cpu, 0x0040_1000, 0x0020_3000, P | RW);
    wr32(&mut cpu, 0x0020_3ABC, 0xCAFE_F00D);
    assert_eq!(read(&mut cpu, 0x0040_1ABC), Ok(0xCAFE_F00D));
    write(&mut cpu, 0x0040_1AC0, 0x1234_5678).unwrap();
    assert_eq!(rd32(&mut cpu, 0x0020_3AC0), 0x1234_5678);
    assert_eq!(
        cpu.translate(&mut NullBus, 0x0040_1FFF, Access::Read),
        Ok(0x0020_3FFF)
    );
    // A dword that crosses into an unmapped page faults on the second page
    // before any byte is written.
    assert_eq!(
        write(&mut cpu, 0x0040_1FFE, 0xAAAA_AAAA),
        Err(pf_err(pf::W))
    );
    assert_eq!(cpu.cr2, 0x0040_2000, "the first byte in the faulting page");
    assert_eq!(rd32(&mut cpu, 0x0020_3FFC), 0);
}

/// SDM 4.3, figure 4-3 and table 4-4: with CR4.PSE, a PDE with PS = 1 maps
/// a 4 MiB page; without PSE the PS bit is ignored.
#[test]
fn walk_32bit_4m_page() {
    let mut cpu = paging32();
    wr32(&mut cpu, PD + 4 * 2, 0x00C0_0000 | P | RW | PS);
    wr32(&mut cpu, 0x00C1_2344, 0x5555_AAAA);
    cpu.load_cr4(&mut NullBus, cr4::PSE).unwrap();
    assert_eq!(read(&mut cpu, 0x0081_2344), Ok(0x5555_AAAA));
    assert_eq!(
        cpu.translate(&mut NullBus, 0x00BF_FFFF, Access::Read),
        Ok(0x00FF_FFFF)
    );
    // PSE off: the same PDE points at a page table at 0x00C00000.
    cpu.load_cr4(&mut NullBus, 0).unwrap();
    wr32(&mut cpu, 0x00C0_0000 + 0x12 * 4, 0x0030_0000 | P);
    wr32(&mut cpu, 0x0030_0344, 0x7777_7777);
    assert_eq!(read(&mut cpu, 0x0081_2344), Ok(0x7777_7777));
}

/// SDM 4.7 and table 4-4: without PSE-36, bits 21:13 of a 4 MiB PDE are
/// reserved; one set gives #PF with P and RSVD, and CR2 the address.
#[test]
fn reserved_bit_in_4m_pde_faults() {
    let mut cpu = paging32();
    cpu.load_cr4(&mut NullBus, cr4::PSE).unwrap();
    wr32(&mut cpu, PD + 4, 0x0040_0000 | P | RW | PS | 1 << 13);
    assert_eq!(read(&mut cpu, 0x0040_0010), Err(pf_err(pf::P | pf::RSVD)));
    assert_eq!(cpu.cr2, 0x0040_0010);
    // No accessed bit on a faulting walk.
    assert_eq!(rd32(&mut cpu, PD + 4) & A, 0);
}

/// SDM 4.7: the error code's P, W/R and U/S bits, and CR2.
#[test]
fn page_fault_error_codes_and_cr2() {
    let mut cpu = paging32();
    // A supervisor page, and a user read-only page.
    map(&mut cpu, 0x1000, 0x5000, P | RW);
    map(&mut cpu, 0x2000, 0x6000, P | US);
    // Not present: P = 0.
    assert_eq!(read(&mut cpu, 0x0080_0000), Err(pf_err(0)));
    assert_eq!(cpu.cr2, 0x0080_0000);
    assert_eq!(write(&mut cpu, 0x3004, 1), Err(pf_err(pf::W)));
    assert_eq!(cpu.cr2, 0x3004);
    cpu.cpl = 3;
    assert_eq!(write(&mut cpu, 0x3008, 1), Err(pf_err(pf::W | pf::U)));
    // Protection: P = 1.
    assert_eq!(read(&mut cpu, 0x1010), Err(pf_err(pf::P | pf::U)));
    assert_eq!(cpu.cr2, 0x1010);
    assert_eq!(
        write(&mut cpu, 0x2020, 1),
        Err(pf_err(pf::P | pf::W | pf::U))
    );
    assert_eq!(cpu.cr2, 0x2020);
    // An instruction fetch is a read (no I/D bit without NX).
    assert_eq!(
        cpu.translate_fetch(&mut NullBus, 0x1000),
        Err(pf_err(pf::P | pf::U))
    );
    assert_eq!(read(&mut cpu, 0x2020), Ok(0));
}

/// SDM 4.6: U/S and R/W combine across levels (a user access needs U/S in
/// both, a write R/W in both), and CR0.WP decides whether supervisor writes
/// honour R/W.
#[test]
fn protection_combines_levels_and_wp() {
    for pde_bits in [0, RW, US, RW | US] {
        for pte_bits in [0, RW, US, RW | US] {
            for wp in [false, true] {
                for cpl in [0u8, 3] {
                    for is_write in [false, true] {
                        let mut cpu = paging32();
                        wr32(&mut cpu, PD, pt_for(0) | P | pde_bits);
                        wr32(&mut cpu, pt_for(0) + 4 * 7, 0x9000 | P | pte_bits);
                        if wp {
                            cpu.cr0 |= cr0::WP;
                        }
                        cpu.cpl = cpl;
                        let rights = pde_bits & pte_bits;
                        let user = cpl == 3;
                        let allowed = (!user || rights & US != 0)
                            && (!is_write || rights & RW != 0 || (!user && !wp));
                        let r = if is_write {
                            write(&mut cpu, 0x7000, 1).map(|_| 0)
                        } else {
                            read(&mut cpu, 0x7000)
                        };
                        let code =
                            pf::P | if is_write { pf::W } else { 0 } | if user { pf::U } else { 0 };
                        let what = format!(
                            "pde {pde_bits:#x} pte {pte_bits:#x} wp {wp} cpl {cpl} write {is_write}"
                        );
                        if allowed {
                            assert!(r.is_ok(), "{what}: {r:?}");
                        } else {
                            assert_eq!(r, Err(pf_err(code)), "{what}");
                        }
                    }
                }
            }
        }
    }
}

/// SDM 4.8: a successful walk sets A in every entry it used; a write also
/// sets D in the entry that maps the page (never in the PDE of a 4 KiB
/// page); a faulting walk changes nothing. The first write after reads
/// still sets D (the TLB holds no write entry for a clean page).
#[test]
fn accessed_and_dirty_bits() {
    let mut cpu = paging32();
    map(&mut cpu, 0x5000, 0x8000, P | RW | US);
    map(&mut cpu, 0x6000, 0x9000, P | US);
    let pde = rd32(&mut cpu, PD);
    assert_eq!(pde & (A | D), 0);
    read(&mut cpu, 0x5000).unwrap();
    assert_eq!(rd32(&mut cpu, PD) & (A | D), A);
    assert_eq!(rd32(&mut cpu, pte_addr(0x5000)) & (A | D), A);
    read(&mut cpu, 0x5004).unwrap();
    write(&mut cpu, 0x5008, 7).unwrap();
    assert_eq!(rd32(&mut cpu, pte_addr(0x5000)) & (A | D), A | D);
    assert_eq!(rd32(&mut cpu, PD) & D, 0, "D is only set in the last level");
    // A user write to the read-only page faults and sets neither bit.
    cpu.cpl = 3;
    assert_eq!(
        write(&mut cpu, 0x6000, 1),
        Err(pf_err(pf::P | pf::W | pf::U))
    );
    assert_eq!(rd32(&mut cpu, pte_addr(0x6000)) & (A | D), 0);
    // A 4 MiB page: A and D in the PDE.
    let mut cpu = paging32();
    cpu.load_cr4(&mut NullBus, cr4::PSE).unwrap();
    wr32(&mut cpu, PD + 4, 0x0040_0000 | P | RW | PS);
    read(&mut cpu, 0x0040_0000).unwrap();
    assert_eq!(rd32(&mut cpu, PD + 4) & (A | D), A);
    write(&mut cpu, 0x0040_0000, 1).unwrap();
    assert_eq!(rd32(&mut cpu, PD + 4) & (A | D), A | D);
}

/// A page whose D bit is already set gets a write entry on a read walk; a
/// guest that clears D must INVLPG for the next write to set it again
/// (SDM 4.8, 4.10.2.3).
#[test]
fn dirty_bit_cleared_by_guest_needs_invlpg() {
    let mut cpu = paging32();
    map(&mut cpu, 0x5000, 0x8000, P | RW | D);
    read(&mut cpu, 0x5000).unwrap();
    write(&mut cpu, 0x5000, 1).unwrap();
    let e = pte_addr(0x5000);
    wr32(&mut cpu, e, 0x8000 | P | RW | A);
    cpu.flush_tlb_page(0x5000);
    write(&mut cpu, 0x5000, 2).unwrap();
    assert_eq!(rd32(&mut cpu, e) & D, D);
}

/// A TLB entry filled by a CPL-0 access to a supervisor page must not serve
/// a CPL-3 access (SDM 4.6: user-mode accesses need U/S = 1); implicit
/// supervisor accesses at CPL 3 still use the supervisor rights, and their
/// faults have U/S = 0 in the error code (SDM 4.6, 4.7).
#[test]
fn supervisor_fill_does_not_serve_user_access() {
    let mut cpu = paging32();
    map(&mut cpu, 0x7000, 0xA000, P | RW | D | A);
    read(&mut cpu, 0x7000).unwrap();
    write(&mut cpu, 0x7004, 5).unwrap();
    cpu.cpl = 3;
    assert_eq!(read(&mut cpu, 0x7000), Err(pf_err(pf::P | pf::U)));
    assert_eq!(
        write(&mut cpu, 0x7004, 6),
        Err(pf_err(pf::P | pf::W | pf::U))
    );
    assert_eq!(
        cpu.translate_fetch(&mut NullBus, 0x7000),
        Err(pf_err(pf::P | pf::U))
    );
    assert_eq!(cpu.read_sys::<32>(&mut NullBus, 0x7004), Ok(5));
    cpu.write_sys::<32>(&mut NullBus, 0x7008, 9).unwrap();
    assert_eq!(rd32(&mut cpu, 0xA008), 9);
    assert_eq!(
        cpu.read_sys::<32>(&mut NullBus, 0x0080_0000),
        Err(pf_err(0))
    );
    assert_eq!(rd32(&mut cpu, 0xA004), 5);
}

/// A user fill of a read-only page must not let a supervisor write through
/// with CR0.WP = 1, nor a user write through a supervisor fill with WP = 0.
#[test]
fn write_entries_respect_privilege_and_wp() {
    let mut cpu = paging32();
    map(&mut cpu, 0x7000, 0xA000, P | US | A | D);
    cpu.cr0 |= cr0::WP;
    cpu.cpl = 3;
    read(&mut cpu, 0x7000).unwrap();
    cpu.cpl = 0;
    assert_eq!(write(&mut cpu, 0x7000, 1), Err(pf_err(pf::P | pf::W)));
    // WP = 0: supervisor writes to the read-only page are allowed ...
    cpu.write_cr0(cr0::PE | cr0::PG).unwrap();
    write(&mut cpu, 0x7000, 2).unwrap();
    assert_eq!(rd32(&mut cpu, 0xA000), 2);
    // ... but that must not open it to user writes.
    cpu.cpl = 3;
    assert_eq!(
        write(&mut cpu, 0x7000, 3),
        Err(pf_err(pf::P | pf::W | pf::U))
    );
    assert_eq!(rd32(&mut cpu, 0xA000), 2);
}

/// SDM 4.10.4.1: a CR3 load drops non-global translations only when
/// CR4.PGE = 1; INVLPG drops a global one; toggling CR4.PGE drops all.
#[test]
fn global_pages_survive_cr3_load_but_not_invlpg() {
    let mut cpu = paging32();
    cpu.load_cr4(&mut NullBus, cr4::PGE).unwrap();
    map(&mut cpu, 0x1000, 0x8000, P | RW | G);
    map(&mut cpu, 0x2000, 0x9000, P | RW);
    wr32(&mut cpu, 0x8000, 0x11);
    wr32(&mut cpu, 0x9000, 0x22);
    wr32(&mut cpu, 0xA000, 0x33);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x11));
    assert_eq!(read(&mut cpu, 0x2000), Ok(0x22));
    // Point both at 0xA000 without telling the TLB, then reload CR3.
    map(&mut cpu, 0x1000, 0xA000, P | RW | G);
    map(&mut cpu, 0x2000, 0xA000, P | RW);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x11), "still cached");
    cpu.load_cr3(&mut NullBus, PD).unwrap();
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x11), "global survives CR3");
    assert_eq!(read(&mut cpu, 0x2000), Ok(0x33), "non-global does not");
    cpu.flush_tlb_page(0x1FFC);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x33), "INVLPG drops it");
    // Toggling CR4.PGE drops global translations too.
    map(&mut cpu, 0x1000, 0x8000, P | RW | G);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x33), "cached");
    cpu.load_cr4(&mut NullBus, 0).unwrap();
    assert_eq!(
        read(&mut cpu, 0x1000),
        Ok(0x11),
        "PGE toggle flushes globals"
    );
    // Without PGE, G means nothing: a CR3 load drops the page.
    map(&mut cpu, 0x1000, 0xA000, P | RW | G);
    cpu.load_cr3(&mut NullBus, PD).unwrap();
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x33));
}

/// INVLPG of any 4 KiB piece of a large page drops the translation of all
/// of it (SDM 4.10.4.1, 4.10.2.3).
#[test]
fn invlpg_drops_a_whole_large_page() {
    let mut cpu = paging32();
    cpu.load_cr4(&mut NullBus, cr4::PSE).unwrap();
    wr32(&mut cpu, PD + 4, 0x0040_0000 | P | RW | PS);
    assert_eq!(read(&mut cpu, 0x0043_0000), Ok(0));
    wr32(&mut cpu, PD + 4, 0x0080_0000 | P | RW | PS);
    wr32(&mut cpu, 0x0083_0000, 0x99);
    assert_eq!(read(&mut cpu, 0x0043_0000), Ok(0), "cached");
    cpu.flush_tlb_page(0x0040_0000);
    assert_eq!(read(&mut cpu, 0x0043_0000), Ok(0x99));
}

/// Sets up PAE paging: CR3 = [`PDPT`], PDPTE 0..3 → page directories at
/// [`PAE_PD`] + n × 4 KiB, then CR4.PAE and CR0.PG (which loads the PDPTEs).
fn paging_pae() -> Cpu {
    let mut cpu = Cpu::new(16 << 20);
    for n in 0..4 {
        wr64(
            &mut cpu,
            PDPT + 8 * n,
            (PAE_PD + 0x1000 * n) as u64 | pte::P,
        );
    }
    cpu.load_cr3(&mut NullBus, PDPT).unwrap();
    cpu.load_cr4(&mut NullBus, cr4::PAE).unwrap();
    cpu.load_cr0(&mut NullBus, cr0::PE | cr0::PG).unwrap();
    cpu
}

/// Maps a 4 KiB page under PAE; the page table of PDE (n, i) is at
/// 0x200000 + (n × 512 + i) × 4 KiB.
fn map_pae(cpu: &mut Cpu, lin: u32, phys: u64, flags: u64) -> u32 {
    let (n, i) = (lin >> 30, (lin >> 21) & 0x1FF);
    let pt = 0x0020_0000 + (n * 512 + i) * 0x1000;
    wr64(
        cpu,
        PAE_PD + 0x1000 * n + 8 * i,
        pt as u64 | pte::P | pte::RW | pte::US,
    );
    let at = pt + ((lin >> 12) & 0x1FF) * 8;
    wr64(cpu, at, phys | flags);
    at
}

/// SDM 4.4.2, figure 4-8: PDPTE → PDE → PTE → 4 KiB page, 8-byte entries.
#[test]
fn walk_pae_4k_page() {
    let mut cpu = paging_pae();
    let lin = 0x4000_0000 + (3 << 21) + (5 << 12);
    let e = map_pae(&mut cpu, lin, 0x0030_0000, pte::P | pte::RW);
    wr32(&mut cpu, 0x0030_0123, 0xDEAD_BEEF);
    assert_eq!(read(&mut cpu, lin + 0x123), Ok(0xDEAD_BEEF));
    write(&mut cpu, lin + 0x200, 0x600D).unwrap();
    assert_eq!(rd32(&mut cpu, 0x0030_0200), 0x600D);
    assert_eq!(rd32(&mut cpu, e) & (A | D), A | D);
    let pde = PAE_PD + 0x1000 + 8 * 3;
    assert_eq!(rd32(&mut cpu, pde) & (A | D), A);
    // The PDPTE (a register in PAE mode) gets no accessed bit.
    assert_eq!(rd32(&mut cpu, PDPT + 8) & A, 0);
}

/// SDM 4.4.2, figure 4-7: a PDE with PS = 1 maps a 2 MiB page (no CR4.PSE
/// needed).
#[test]
fn walk_pae_2m_page() {
    let mut cpu = paging_pae();
    let pde = PAE_PD + 0x2000 + 8 * 7;
    wr64(&mut cpu, pde, 0x00A0_0000 | pte::P | pte::RW | pte::PS);
    wr32(&mut cpu, 0x00A1_2340, 0x2222_0000);
    let lin = 0x8000_0000 + (7 << 21) + 0x1_2340;
    assert_eq!(read(&mut cpu, lin), Ok(0x2222_0000));
    write(&mut cpu, lin, 1).unwrap();
    assert_eq!(rd32(&mut cpu, pde) & (A | D), A | D);
    assert_eq!(
        cpu.translate(&mut NullBus, lin | 0x1F_FFFF, Access::Read),
        Ok(0x00BF_FFFF)
    );
}

/// SDM 4.7 and tables 4-9 to 4-11: reserved bits in a present PAE PDE or
/// PTE (above MAXPHYADDR 36, bit 63 without NX, 20:13 of a 2 MiB PDE) give
/// #PF with RSVD and P set, whatever the access, and no A/D update.
#[test]
fn pae_reserved_bits_fault_with_rsvd() {
    for bad in [1u64 << 36, 1 << 40, 1 << 62, 1 << 63] {
        let mut cpu = paging_pae();
        let e = map_pae(&mut cpu, 0x1000, 0x5000 | bad, pte::P | pte::RW | pte::US);
        assert_eq!(
            read(&mut cpu, 0x1000),
            Err(pf_err(pf::P | pf::RSVD)),
            "{bad:#x}"
        );
        cpu.cpl = 3;
        assert_eq!(
            write(&mut cpu, 0x1004, 0),
            Err(pf_err(pf::P | pf::RSVD | pf::W | pf::U))
        );
        assert_eq!(cpu.cr2, 0x1004);
        assert_eq!(rd32(&mut cpu, e) & A, 0);
        assert_eq!(rd32(&mut cpu, PAE_PD) & A, 0);
    }
    let mut cpu = paging_pae();
    wr64(
        &mut cpu,
        PAE_PD + 8,
        0x0040_0000 | pte::P | pte::PS | 1 << 13,
    );
    assert_eq!(read(&mut cpu, 0x0020_0000), Err(pf_err(pf::P | pf::RSVD)));
    // A reserved bit in a not-present entry does not matter: P = 0 wins.
    let mut cpu = paging_pae();
    map_pae(&mut cpu, 0x1000, 1 << 40, 0);
    assert_eq!(read(&mut cpu, 0x1000), Err(pf_err(0)));
}

/// SDM 4.4.1: the PDPTEs load on MOV CR3 (and MOV CR0/CR4 that enable PAE
/// paging); a present PDPTE with a reserved bit set is #GP(0) and the
/// register keeps its old value. Later changes to the table in memory are
/// not seen until the next load.
#[test]
fn pdptes_load_with_cr3_and_check_reserved_bits() {
    let mut cpu = paging_pae();
    map_pae(&mut cpu, 0x1000, 0x5000, pte::P | pte::RW);
    wr32(&mut cpu, 0x5000, 0x1111);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x1111));
    // A second PDPT whose entry 0 has a reserved bit (bit 1, R/W).
    let other = 0x0003_0000;
    wr64(&mut cpu, other, PAE_PD as u64 | pte::P | pte::RW);
    assert_eq!(cpu.load_cr3(&mut NullBus, other), Err(Exception::gp(0)));
    assert_eq!(cpu.cr3, PDPT);
    // Each reserved bit of a present PDPTE, and none of a not-present one.
    for bad in [1u64 << 1, 1 << 2, 1 << 5, 1 << 8, 1 << 36, 1 << 63] {
        wr64(&mut cpu, other, PAE_PD as u64 | pte::P | bad);
        assert_eq!(cpu.load_cr3(&mut NullBus, other), Err(Exception::gp(0)));
    }
    wr64(&mut cpu, other, 0xFFFF_FFFF_FFFF_FFFE);
    assert_eq!(cpu.load_cr3(&mut NullBus, other), Ok(()));
    assert_eq!(
        read(&mut cpu, 0x1000),
        Err(pf_err(0)),
        "PDPTE 0 not present"
    );
    cpu.load_cr3(&mut NullBus, PDPT).unwrap();
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x1111));
    // Clearing PDPTE 0 in memory changes nothing until CR3 is reloaded.
    wr64(&mut cpu, PDPT, 0);
    cpu.flush_tlb();
    assert_eq!(read(&mut cpu, 0x1000), Ok(0x1111));
    cpu.load_cr3(&mut NullBus, PDPT).unwrap();
    assert_eq!(read(&mut cpu, 0x1000), Err(pf_err(0)));
    // Enabling paging with a bad PDPT is #GP(0) and leaves paging off.
    let mut cpu = Cpu::new(1 << 20);
    wr64(&mut cpu, PDPT, pte::P | 1 << 7);
    cpu.load_cr3(&mut NullBus, PDPT).unwrap();
    cpu.load_cr4(&mut NullBus, cr4::PAE).unwrap();
    assert_eq!(
        cpu.load_cr0(&mut NullBus, cr0::PE | cr0::PG),
        Err(Exception::gp(0))
    );
    assert_eq!(cpu.cr0 & cr0::PG, 0);
}

/// The platform has 32 bits of physical memory: a PAE page above 4 GiB
/// reads as all ones, drops writes, and executes as invalid opcodes.
#[test]
fn pae_pages_above_4g_are_unmapped() {
    let mut cpu = paging_pae();
    map_pae(&mut cpu, 0x1000, 0x1_0000_0000, pte::P | pte::RW);
    map_pae(&mut cpu, 0x2000, 0x1_0000_0000, pte::P | pte::RW);
    assert_eq!(read(&mut cpu, 0x1000), Ok(0xFFFF_FFFF));
    write(&mut cpu, 0x1000, 0).unwrap();
    assert_eq!(read(&mut cpu, 0x1000), Ok(0xFFFF_FFFF));
    assert_eq!(rd32(&mut cpu, 0), 0, "no wrap to physical 0");
    assert_eq!(
        cpu.translate_fetch(&mut NullBus, 0x1000),
        Err(Exception::ud())
    );
    assert_eq!(Exception::ud().vector, UD);
    // An access that crosses from RAM into the page above 4 GiB.
    map_pae(&mut cpu, 0x0000, 0x5000, pte::P | pte::RW);
    wr32(&mut cpu, 0x5FFC, 0x4433_2211);
    assert_eq!(read(&mut cpu, 0x0FFE), Ok(0xFFFF_4433));
    // A page table above 4 GiB reads as all ones: reserved bits set.
    wr64(
        &mut cpu,
        PAE_PD + 0x1000 * 3,
        0x1_0000_0000 | pte::P | pte::RW,
    );
    assert_eq!(read(&mut cpu, 0xC000_0000), Err(pf_err(pf::P | pf::RSVD)));
}

/// A flat 32-bit ring-0 code segment and data segments, protected mode
/// with paging on.
fn flat32(cpu: &mut Cpu) {
    let code = Segment {
        selector: 8,
        base: 0,
        limit: u32::MAX,
        attr: attr::CODE_REAL | attr::DB | attr::G,
    };
    let data = Segment {
        selector: 16,
        base: 0,
        limit: u32::MAX,
        attr: attr::DATA_REAL | attr::DB | attr::G,
    };
    for s in SegReg::ALL {
        cpu.segs[s as usize] = data;
    }
    cpu.segs[SegReg::CS as usize] = code;
}

fn run_at(cpu: &mut Cpu, eip: u32) {
    cpu.eip = eip;
    cpu.halted = false;
    assert_eq!(cpu.run(&mut NullBus, 1000), RunExit::Halted);
}

/// Self-modifying code through an alias: two linear pages map one physical
/// page. A write entry for the first exists before the page holds code; the
/// code then runs through the second, and a store through the first must
/// still reach the slow path and invalidate the cached block (the block cache
/// and code-page marks are physical; SDM vol. 3, 11.6 on self-modifying code).
#[test]
fn self_modifying_code_through_an_alias() {
    let mut cpu = paging32();
    flat32(&mut cpu);
    let (a, b, c) = (0x0040_0000, 0x0080_0000, 0x00C0_0000);
    map(&mut cpu, a, 0x5000, P | RW | D | A);
    map(&mut cpu, b, 0x5000, P | RW);
    map(&mut cpu, c, 0x6000, P | RW);
    // At B: mov al, 1 ; hlt
    cpu.mem.write_bytes(0x5000, &[0xB0, 0x01, 0xF4]);
    // At C: mov byte [A+1], 0x42 ; mov eax, B ; jmp eax
    let mut code = vec![0xC6, 0x05];
    code.extend_from_slice(&(a + 1).to_le_bytes());
    code.push(0x42);
    code.push(0xB8);
    code.extend_from_slice(&b.to_le_bytes());
    code.extend_from_slice(&[0xFF, 0xE0]);
    cpu.mem.write_bytes(0x6000, &code);
    // A write entry for A while the page is still plain data.
    cpu.write_lin::<8>(&mut NullBus, a + 0x800, 0).unwrap();
    run_at(&mut cpu, b);
    assert_eq!(cpu.regs[0] & 0xFF, 1);
    run_at(&mut cpu, c);
    assert_eq!(
        cpu.regs[0] & 0xFF,
        0x42,
        "the patched byte is seen through B"
    );
}

/// Instruction fetch goes through the TLB: after a remap, the old physical
/// page runs until INVLPG (SDM 4.10.4.1), then the new one.
#[test]
fn instruction_fetch_follows_the_page_tables() {
    let mut cpu = paging32();
    flat32(&mut cpu);
    let lin = 0x0040_0000;
    cpu.mem.write_bytes(0x5000, &[0xB0, 0x01, 0xF4]); // mov al,1 ; hlt
    cpu.mem.write_bytes(0x6000, &[0xB0, 0x02, 0xF4]); // mov al,2 ; hlt
    map(&mut cpu, lin, 0x5000, P | RW);
    run_at(&mut cpu, lin);
    assert_eq!(cpu.regs[0] & 0xFF, 1);
    map(&mut cpu, lin, 0x6000, P | RW);
    run_at(&mut cpu, lin);
    assert_eq!(cpu.regs[0] & 0xFF, 1, "stale TLB entry still used");
    cpu.flush_tlb_page(lin);
    run_at(&mut cpu, lin);
    assert_eq!(cpu.regs[0] & 0xFF, 2);
    // MOV CR3 (0F 22 D8 with EBX = PD) flushes it too.
    map(&mut cpu, lin, 0x5000, P | RW);
    cpu.mem.write_bytes(0x7000, &[0x0F, 0x22, 0xDB, 0xB8]);
    cpu.mem.write_bytes(0x7004, &lin.to_le_bytes());
    cpu.mem.write_bytes(0x7008, &[0xFF, 0xE0]); // mov cr3,ebx ; mov eax,lin ; jmp eax
    map(&mut cpu, 0x0080_0000, 0x7000, P | RW);
    cpu.regs[3] = PD;
    run_at(&mut cpu, 0x0080_0000);
    assert_eq!(cpu.regs[0] & 0xFF, 1);
}

/// Paging off: linear = physical, and the TLB is symmetric for both
/// privilege sets.
#[test]
fn paging_off_is_identity() {
    let mut cpu = Cpu::new(1 << 20);
    wr32(&mut cpu, 0x1234, 77);
    assert_eq!(read(&mut cpu, 0x1234), Ok(77));
    assert_eq!(cpu.translate_fetch(&mut NullBus, 0x1234), Ok(0x1234));
    cpu.cpl = 3;
    write(&mut cpu, 0x1238, 78).unwrap();
    assert_eq!(rd32(&mut cpu, 0x1238), 78);
}
