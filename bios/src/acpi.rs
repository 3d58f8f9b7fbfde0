//! The ACPI tables firmware hands to an OS, for the board's PIIX4
//! power-management function and HPET: RSDP → RSDT → FADT (→ FACS, DSDT)
//! and the HPET table.
//!
//! ACPI 1.0b is enough for a uniprocessor PIC board and is what every OS of
//! the P6 era understands: the FADT (revision 1) names the PM1 event and
//! control blocks and the PM timer, the SCI's ISA IRQ, and no SMI command
//! port (the board starts in ACPI mode). The DSDT defines `\_S5` (the
//! PIIX4's soft-off sleep type, for power-off) and the PCI root bridge
//! `\_SB.PCI0`, so the OS enumerates PCI through ACPI.
//!
//! The tables sit in the extended BIOS data area, with the RSDP at its
//! start, where an OS looks first (ACPI 1.0b, 5.2.4.1: "the first 1 KB of
//! the Extended BIOS Data Area"); the BDA word at 40Eh points there.

use crate::checksum;
use crate::EBDA_START;
use emu_core::Cpu;

/// The board resources the FADT describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiBoard {
    /// The PIIX4 power-management I/O base (PM1a_EVT_BLK; PM1a_CNT_BLK at
    /// +4, PM_TMR_BLK at +8).
    pub pm_base: u16,
    /// The ISA IRQ of the system control interrupt.
    pub sci_irq: u8,
    /// Where the PCI memory window starts: the top of RAM below 4 GiB.
    pub pci_hole_start: u32,
    /// The HPET's register block address and its event timer block ID (the
    /// low half of its capabilities register).
    pub hpet_base: u32,
    pub hpet_block_id: u32,
}

/// Where the RSDP goes: the start of the EBDA.
pub const RSDP_ADDR: u32 = EBDA_START as u32;
/// The BDA word holding the EBDA's segment.
const BDA_EBDA_SEGMENT: u32 = 0x40E;

const OEM_ID: &[u8; 6] = b"FERRIT";
const OEM_TABLE_ID: &[u8; 8] = b"FERRITE ";
const CREATOR_ID: &[u8; 4] = b"FRRT";

/// Offsets of each table in the blob (the FACS must be 64-byte aligned).
const FACS_OFFSET: usize = 64;
const RSDT_OFFSET: usize = 128;
const RSDT_LEN: usize = HEADER_LEN + 4 * 2;
const FADT_OFFSET: usize = RSDT_OFFSET + RSDT_LEN;
const FADT_LEN: usize = 116;
const HPET_OFFSET: usize = FADT_OFFSET + FADT_LEN;
const HPET_LEN: usize = 56;
const DSDT_OFFSET: usize = HPET_OFFSET + HPET_LEN;
const HEADER_LEN: usize = 36;

/// Writes the tables at [`RSDP_ADDR`] and points the BDA's EBDA word there.
pub fn install(cpu: &mut Cpu, board: &AcpiBoard) {
    let tables = tables(RSDP_ADDR, board);
    cpu.mem.write_bytes(RSDP_ADDR, &tables);
    let segment = (RSDP_ADDR >> 4) as u16;
    cpu.mem
        .write_bytes(BDA_EBDA_SEGMENT, &segment.to_le_bytes());
}

/// The RSDP followed by the tables, as they are to sit at physical `base`.
pub fn tables(base: u32, board: &AcpiBoard) -> Vec<u8> {
    let at = |offset: usize| base + offset as u32;
    let mut blob = vec![0u8; DSDT_OFFSET];

    // RSDP (5.2.4.3): signature, checksum over 20 bytes, OEM, revision 0
    // (ACPI 1.0), the RSDT address.
    let rsdp = &mut blob[..20];
    rsdp[..8].copy_from_slice(b"RSD PTR ");
    rsdp[9..15].copy_from_slice(OEM_ID);
    rsdp[16..20].copy_from_slice(&at(RSDT_OFFSET).to_le_bytes());
    rsdp[8] = checksum(rsdp);

    // FACS (5.2.6): no checksum; the waking vector and global lock unused.
    let facs = &mut blob[FACS_OFFSET..FACS_OFFSET + 64];
    facs[..4].copy_from_slice(b"FACS");
    facs[4..8].copy_from_slice(&64u32.to_le_bytes());

    // RSDT (5.2.7): the FADT and the HPET table.
    let mut rsdt = header(b"RSDT", RSDT_LEN);
    rsdt.extend_from_slice(&at(FADT_OFFSET).to_le_bytes());
    rsdt.extend_from_slice(&at(HPET_OFFSET).to_le_bytes());
    finish(&mut rsdt);
    blob[RSDT_OFFSET..RSDT_OFFSET + rsdt.len()].copy_from_slice(&rsdt);

    let fadt = fadt(board, at(FACS_OFFSET), at(DSDT_OFFSET));
    blob[FADT_OFFSET..FADT_OFFSET + FADT_LEN].copy_from_slice(&fadt);
    blob[HPET_OFFSET..HPET_OFFSET + HPET_LEN].copy_from_slice(&hpet(board));

    blob.extend_from_slice(&dsdt(board));
    blob
}

/// The Fixed ACPI Description Table, revision 1 (ACPI 1.0b, 5.2.5).
fn fadt(board: &AcpiBoard, facs: u32, dsdt: u32) -> Vec<u8> {
    let mut t = header(b"FACP", FADT_LEN);
    t.resize(FADT_LEN, 0);
    let pm = board.pm_base as u32;
    let mut put32 = |offset: usize, v: u32| t[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    put32(36, facs); // FIRMWARE_CTRL
    put32(40, dsdt); // DSDT
    put32(48, 0); // SMI_CMD: none; the board is always in ACPI mode
    put32(56, pm); // PM1a_EVT_BLK: PM1_STS, PM1_EN
    put32(64, pm + 4); // PM1a_CNT_BLK
    put32(76, pm + 8); // PM_TMR_BLK
                       // FLAGS: WBINVD works (bit 0), C1 (HLT) on all processors (bit 2), the
                       // sleep button is not a fixed feature (bit 5), the RTC alarm cannot
                       // wake from S4 (bit 7 clear); the PM timer is 24 bits (bit 8 clear).
    put32(112, 1 << 0 | 1 << 2 | 1 << 5);
    t[44] = 0; // INT_MODEL: dual PIC
    t[46..48].copy_from_slice(&(board.sci_irq as u16).to_le_bytes());
    t[88] = 4; // PM1_EVT_LEN
    t[89] = 2; // PM1_CNT_LEN
    t[91] = 4; // PM_TM_LEN
               // C2 and C3 are not supported: latencies above 100 and 1000 us.
    t[96..98].copy_from_slice(&0x0FFFu16.to_le_bytes());
    t[98..100].copy_from_slice(&0x0FFFFu16.to_le_bytes());
    t[108] = 0x32; // CENTURY: the CMOS century byte
    finish(&mut t);
    t
}

/// The HPET description table (IA-PC HPET specification 1.0a, 3.2.4).
fn hpet(board: &AcpiBoard) -> Vec<u8> {
    let mut t = header(b"HPET", HPET_LEN);
    t.extend_from_slice(&board.hpet_block_id.to_le_bytes());
    // Base address: a Generic Address Structure in system memory.
    t.extend_from_slice(&[0, 64, 0, 0]);
    t.extend_from_slice(&(board.hpet_base as u64).to_le_bytes());
    t.push(0); // HPET number
    t.extend_from_slice(&0x80u16.to_le_bytes()); // minimum clock tick in periodic mode
    t.push(0); // no page protection
    finish(&mut t);
    t
}

/// The Differentiated System Description Table: `\_S5`, the PCI root
/// bridge with the windows it decodes, and the ISA devices every PC has (so
/// the OS binds its drivers to them through ACPI, as on QEMU).
fn dsdt(board: &AcpiBoard) -> Vec<u8> {
    use aml::res;
    // Name (\_S5, Package () { 0, 0, 0, 0 }): SLP_TYPa/b for soft-off.
    let s5 = aml::name(b"\\_S5_", &aml::package(&[0, 0, 0, 0]));
    let pci_crs = [
        res::word_bus_numbers(0, 0xFF),
        res::io(0xCF8, 8),
        res::word_io_window(0x0000, 0x0CF7),
        res::word_io_window(0x0D00, 0xFFFF),
        // The VGA window and the PCI hole between RAM and the BIOS/APIC area.
        res::dword_memory_window(0x000A_0000, 0x000B_FFFF),
        res::dword_memory_window(board.pci_hole_start, 0xFEBF_FFFF),
    ]
    .concat();
    let isa_device = |name: &[u8; 4], hid: [u8; 7], crs: Vec<u8>| {
        aml::device(
            name,
            &[
                aml::name(b"_HID", &aml::eisa_id(hid)),
                aml::name(b"_CRS", &res::template(&crs)),
            ]
            .concat(),
        )
    };
    let isa = [
        isa_device(
            b"RTC_",
            *b"PNP0B00",
            [res::io(0x70, 2), res::irq(8)].concat(),
        ),
        isa_device(
            b"KBD_",
            *b"PNP0303",
            [res::io(0x60, 1), res::io(0x64, 1), res::irq(1)].concat(),
        ),
        isa_device(b"MOU_", *b"PNP0F13", res::irq(12)),
    ]
    .concat();
    let pci0 = aml::device(
        b"PCI0",
        &[
            aml::name(b"_HID", &aml::eisa_id(*b"PNP0A03")),
            aml::name(b"_ADR", &aml::integer(0)),
            aml::name(b"_UID", &aml::integer(0)),
            aml::name(b"_CRS", &res::template(&pci_crs)),
            aml::device(
                b"ISA_",
                &[aml::name(b"_ADR", &aml::integer(0x0001_0000)), isa].concat(),
            ),
        ]
        .concat(),
    );
    let sb = aml::scope(b"\\_SB_", &pci0);
    let mut t = header(b"DSDT", 0);
    t.extend_from_slice(&s5);
    t.extend_from_slice(&sb);
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    finish(&mut t);
    t
}

/// A system description table header (5.2.5) with `len` and revision 1;
/// the checksum is filled in by [`finish`].
fn header(signature: &[u8; 4], len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(len.max(HEADER_LEN));
    h.extend_from_slice(signature);
    h.extend_from_slice(&(len as u32).to_le_bytes());
    h.push(1); // revision
    h.push(0); // checksum
    h.extend_from_slice(OEM_ID);
    h.extend_from_slice(OEM_TABLE_ID);
    h.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    h.extend_from_slice(CREATOR_ID);
    h.extend_from_slice(&1u32.to_le_bytes()); // creator revision
    h
}

/// Sets the header checksum so the whole table sums to zero.
fn finish(table: &mut [u8]) {
    table[9] = 0;
    table[9] = checksum(table);
}

/// The few ACPI Machine Language encodings the DSDT needs (ACPI 1.0b,
/// chapter 16).
mod aml {
    const ZERO_OP: u8 = 0x00;
    const ONE_OP: u8 = 0x01;
    const NAME_OP: u8 = 0x08;
    const BYTE_PREFIX: u8 = 0x0A;
    const WORD_PREFIX: u8 = 0x0B;
    const DWORD_PREFIX: u8 = 0x0C;
    const SCOPE_OP: u8 = 0x10;
    const BUFFER_OP: u8 = 0x11;
    const PACKAGE_OP: u8 = 0x12;
    const EXT_OP_PREFIX: u8 = 0x5B;
    const DEVICE_OP: u8 = 0x82;

    /// PkgLength (16.2.4): the length of what follows, itself included,
    /// in one to four bytes.
    fn pkg_length(body: usize) -> Vec<u8> {
        for extra in 0..4usize {
            let total = body + 1 + extra;
            let fits = match extra {
                0 => total < 0x40,
                n => total < 1 << (4 + 8 * n),
            };
            if fits {
                let mut out = vec![(extra as u8) << 6 | (total & 0x0F) as u8];
                if extra == 0 {
                    out[0] = total as u8;
                }
                out.extend((0..extra).map(|i| (total >> (4 + 8 * i)) as u8));
                return out;
            }
        }
        unreachable!("AML object of {body} bytes is beyond PkgLength's 28 bits")
    }

    fn with_pkg_length(op: &[u8], body: &[u8]) -> Vec<u8> {
        [op, &pkg_length(body.len()), body].concat()
    }

    /// An integer constant in its shortest form.
    pub fn integer(v: u32) -> Vec<u8> {
        match v {
            0 => vec![ZERO_OP],
            1 => vec![ONE_OP],
            2..=0xFF => vec![BYTE_PREFIX, v as u8],
            0x100..=0xFFFF => [&[WORD_PREFIX][..], &(v as u16).to_le_bytes()].concat(),
            _ => [&[DWORD_PREFIX][..], &v.to_le_bytes()].concat(),
        }
    }

    /// A compressed EISA ID such as `PNP0A03` (the ASL `EisaId` macro):
    /// three letters in 5 bits each, then four hex digits, big-endian.
    pub fn eisa_id(id: [u8; 7]) -> Vec<u8> {
        let letter = |c: u8| (c - b'@') as u32 & 0x1F;
        let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0);
        let mut v = letter(id[0]) << 26 | letter(id[1]) << 21 | letter(id[2]) << 16;
        for (i, &c) in id[3..].iter().enumerate() {
            v |= hex(c) << (12 - 4 * i);
        }
        [&[DWORD_PREFIX][..], &v.to_be_bytes()].concat()
    }

    /// Name (NameString, DataObject).
    pub fn name(name: &[u8], value: &[u8]) -> Vec<u8> {
        [&[NAME_OP], name, value].concat()
    }

    /// Package () { small integers }.
    pub fn package(elements: &[u32]) -> Vec<u8> {
        let mut body = vec![elements.len() as u8];
        for &e in elements {
            body.extend(integer(e));
        }
        with_pkg_length(&[PACKAGE_OP], &body)
    }

    /// Buffer () { bytes }.
    pub fn buffer(bytes: &[u8]) -> Vec<u8> {
        let body = [integer(bytes.len() as u32), bytes.to_vec()].concat();
        with_pkg_length(&[BUFFER_OP], &body)
    }

    /// Resource descriptors (ACPI 1.0b, 6.4), for `_CRS` buffers.
    pub mod res {
        /// Address-space descriptor flags: a producer (a bridge's window)
        /// with fixed minimum and maximum.
        const WINDOW_FLAGS: u8 = 0x0C;
        const MEMORY: u8 = 0;
        const IO: u8 = 1;
        const BUS_NUMBERS: u8 = 2;

        /// ResourceTemplate () { descriptors }: the buffer with its end tag
        /// (checksum 0: "treat as correct").
        pub fn template(descriptors: &[u8]) -> Vec<u8> {
            super::buffer(&[descriptors, &[0x79, 0x00]].concat())
        }

        /// IO (Decode16, base, base, 1, len): a fixed I/O range.
        pub fn io(base: u16, len: u8) -> Vec<u8> {
            let [lo, hi] = base.to_le_bytes();
            vec![0x47, 0x01, lo, hi, lo, hi, 0x01, len]
        }

        /// IRQNoFlags () { irq }: an edge-triggered, active-high ISA IRQ.
        pub fn irq(irq: u8) -> Vec<u8> {
            let [lo, hi] = (1u16 << irq).to_le_bytes();
            vec![0x22, lo, hi]
        }

        /// A Word Address Space Descriptor (6.4.3.5.2) for `min..=max`.
        fn word_window(kind: u8, type_flags: u8, min: u16, max: u16) -> Vec<u8> {
            let mut d = vec![0x88, 0x0D, 0x00, kind, WINDOW_FLAGS, type_flags];
            for v in [0, min, max, 0, max - min + 1] {
                d.extend_from_slice(&v.to_le_bytes());
            }
            d
        }

        /// WordBusNumber: the bus numbers behind a bridge.
        pub fn word_bus_numbers(min: u16, max: u16) -> Vec<u8> {
            word_window(BUS_NUMBERS, 0, min, max)
        }

        /// WordIO (..., EntireRange): an I/O window.
        pub fn word_io_window(min: u16, max: u16) -> Vec<u8> {
            word_window(IO, 0x03, min, max)
        }

        /// DWordMemory (..., Cacheable, ReadWrite): a memory window
        /// (6.4.3.5.1).
        pub fn dword_memory_window(min: u32, max: u32) -> Vec<u8> {
            let mut d = vec![0x87, 0x17, 0x00, MEMORY, WINDOW_FLAGS, 0x03];
            for v in [0, min, max, 0, max - min + 1] {
                d.extend_from_slice(&v.to_le_bytes());
            }
            d
        }
    }

    /// Scope (NameString) { terms }.
    pub fn scope(name: &[u8], terms: &[u8]) -> Vec<u8> {
        with_pkg_length(&[SCOPE_OP], &[name, terms].concat())
    }

    /// Device (NameSeg) { terms }.
    pub fn device(name: &[u8; 4], terms: &[u8]) -> Vec<u8> {
        with_pkg_length(&[EXT_OP_PREFIX, DEVICE_OP], &[&name[..], terms].concat())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn pkg_length_encodings() {
            // 16.2.4: one byte up to 63; then bits 7-6 count the extra
            // bytes, bits 3-0 are the low nibble.
            assert_eq!(pkg_length(5), [6]);
            assert_eq!(pkg_length(62), [63]);
            assert_eq!(pkg_length(63), [0x41, 0x04]); // 65 = 0x41
            assert_eq!(pkg_length(0x1000), [0x83, 0x00, 0x01]); // 0x1003
        }

        #[test]
        fn eisa_id_of_the_pci_root_bridge() {
            // ASL EisaId ("PNP0A03") compiles to DWordConst 0x030AD041.
            assert_eq!(eisa_id(*b"PNP0A03"), [0x0C, 0x41, 0xD0, 0x0A, 0x03]);
        }

        #[test]
        fn s5_package() {
            assert_eq!(
                name(b"\\_S5_", &package(&[0, 0, 0, 0])),
                [0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0, 0, 0, 0]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: AcpiBoard = AcpiBoard {
        pm_base: 0x600,
        sci_irq: 9,
        pci_hole_start: 0x0800_0000,
        hpet_base: 0xFED0_0000,
        hpet_block_id: 0x8086_A201,
    };

    fn u32_at(b: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(b[offset..offset + 4].try_into().unwrap())
    }

    fn sums_to_zero(b: &[u8]) -> bool {
        b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
    }

    #[test]
    fn tables_chain_from_the_rsdp_with_valid_checksums() {
        let base = 0x9FC00;
        let blob = tables(base, &BOARD);
        assert!(blob.len() <= 1024, "fits in the EBDA's first KiB");
        assert_eq!(&blob[..8], b"RSD PTR ");
        assert!(sums_to_zero(&blob[..20]), "RSDP checksum (5.2.4.3)");
        let table = |addr: u32| {
            let off = (addr - base) as usize;
            let len = u32_at(&blob, off + 4) as usize;
            &blob[off..off + len]
        };
        let rsdt = table(u32_at(&blob, 16));
        assert_eq!(&rsdt[..4], b"RSDT");
        assert!(sums_to_zero(rsdt));
        let fadt = table(u32_at(rsdt, 36));
        assert_eq!(&fadt[..4], b"FACP");
        assert_eq!(fadt.len(), 116, "ACPI 1.0 FADT");
        assert!(sums_to_zero(fadt));
        assert_eq!(u32_at(fadt, 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(fadt, 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(fadt, 76), 0x608, "PM_TMR_BLK");
        assert_eq!(fadt[46], 9, "SCI_INT");
        let hpet = table(u32_at(rsdt, 40));
        assert_eq!(&hpet[..4], b"HPET");
        assert!(sums_to_zero(hpet));
        assert_eq!(u32_at(hpet, 36), 0x8086_A201, "event timer block ID");
        assert_eq!(u32_at(hpet, 44), 0xFED0_0000, "base address");
        let facs_addr = u32_at(fadt, 36);
        assert_eq!(facs_addr % 64, 0, "FACS 64-byte aligned (5.2.6)");
        assert_eq!(&table(facs_addr)[..4], b"FACS");
        let dsdt = table(u32_at(fadt, 40));
        assert_eq!(&dsdt[..4], b"DSDT");
        assert!(sums_to_zero(dsdt));
        let aml = &dsdt[HEADER_LEN..];
        assert!(aml.windows(4).any(|w| w == b"_S5_"));
        assert!(aml.windows(4).any(|w| w == b"PCI0"));
    }

    #[test]
    fn install_points_the_bda_at_the_rsdp() {
        let mut cpu = Cpu::new(1 << 20);
        install(&mut cpu, &BOARD);
        let mut seg = [0u8; 2];
        cpu.mem.read_bytes(BDA_EBDA_SEGMENT, &mut seg);
        assert_eq!((u16::from_le_bytes(seg) as u32) << 4, RSDP_ADDR);
        let mut sig = [0u8; 8];
        cpu.mem.read_bytes(RSDP_ADDR, &mut sig);
        assert_eq!(&sig, b"RSD PTR ");
    }
}
