//! The SMBIOS tables firmware leaves for an OS (DMTF DSP0134, version 2.8):
//! who made the machine and its firmware — what Linux prints as its `DMI:`
//! line and `dmidecode` shows.
//!
//! A 2.1-style (32-bit) entry point at F0000h, where an OS scans for the
//! `_SM_` anchor on 16-byte boundaries (7.1.1), followed by the structure
//! table: BIOS Information (type 0), System Information (type 1) and the
//! End-of-Table marker (type 127).

use crate::checksum;
use emu_core::Cpu;

/// Where the entry point goes: the start of the F-segment.
pub const ENTRY_ADDR: u32 = 0xF_0000;
/// The structure table follows the entry point.
const TABLE_ADDR: u32 = ENTRY_ADDR + 0x20;
const ENTRY_LEN: usize = 0x1F;

const VENDOR: &str = "ferrite";
const PRODUCT: &str = "ferrite PC (i440FX + PIIX)";
/// A fixed date keeps runs byte-for-byte reproducible.
const RELEASE_DATE: &str = "12/04/2026";

/// Writes the entry point and the table at [`ENTRY_ADDR`] (which must be
/// RAM: direct boot, with no firmware mapped there).
pub fn install(cpu: &mut Cpu) {
    cpu.mem.write_bytes(ENTRY_ADDR, &tables(ENTRY_ADDR));
}

/// The entry point followed by the structure table, as they are to sit at
/// physical `base`.
pub fn tables(base: u32) -> Vec<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let structures = [
        // Type 0, BIOS Information (7.1): vendor, version, start segment
        // E800h, release date, ROM size 64 KiB, "characteristics not
        // supported" (bit 3), BIOS release 0.1, no embedded controller.
        structure(
            0,
            0,
            &[
                &[1, 2][..],
                &0xE800u16.to_le_bytes(),
                &[3, 0],
                &(1u64 << 3).to_le_bytes(),
                &[0, 0, 0, 1, 0xFF, 0xFF],
            ]
            .concat(),
            &[VENDOR, version, RELEASE_DATE],
        ),
        // Type 1, System Information (7.2): manufacturer, product, version,
        // no serial number, a null UUID, woken by the power switch (6).
        structure(
            1,
            1,
            &[&[1, 2, 3, 0][..], &[0; 16], &[6, 0, 0]].concat(),
            &[VENDOR, PRODUCT, version],
        ),
        structure(127, 2, &[], &[]),
    ];
    let table: Vec<u8> = structures.concat();
    let max = structures.iter().map(Vec::len).max().unwrap_or(0) as u16;

    let mut entry = vec![0u8; ENTRY_LEN];
    entry[0..4].copy_from_slice(b"_SM_");
    entry[5] = ENTRY_LEN as u8;
    entry[6] = 2; // SMBIOS 2.8
    entry[7] = 8;
    entry[8..10].copy_from_slice(&max.to_le_bytes());
    entry[16..21].copy_from_slice(b"_DMI_");
    entry[22..24].copy_from_slice(&(table.len() as u16).to_le_bytes());
    let table_addr = base + (TABLE_ADDR - ENTRY_ADDR);
    entry[24..28].copy_from_slice(&table_addr.to_le_bytes());
    entry[28..30].copy_from_slice(&(structures.len() as u16).to_le_bytes());
    entry[30] = 0x28; // BCD revision
                      // The intermediate checksum covers the "_DMI_" part, the entry point
                      // checksum all of it (7.1.1).
    entry[21] = checksum(&entry[16..]);
    entry[4] = checksum(&entry);

    let mut blob = entry;
    blob.resize((TABLE_ADDR - ENTRY_ADDR) as usize, 0);
    blob.extend_from_slice(&table);
    blob
}

/// One structure: header (type, formatted length, handle), the formatted
/// fields, then its strings, each NUL-terminated, and a final NUL (two NULs
/// when there are none) (6.1.2, 6.1.3).
fn structure(kind: u8, handle: u16, fields: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut s = vec![kind, (4 + fields.len()) as u8];
    s.extend_from_slice(&handle.to_le_bytes());
    s.extend_from_slice(fields);
    for text in strings {
        s.extend_from_slice(text.as_bytes());
        s.push(0);
    }
    if strings.is_empty() {
        s.push(0);
    }
    s.push(0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_zero(b: &[u8]) -> bool {
        b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) == 0
    }

    #[test]
    fn entry_point_checksums_and_table_walk() {
        let blob = tables(ENTRY_ADDR);
        assert_eq!(&blob[..4], b"_SM_");
        assert!(sums_to_zero(&blob[..ENTRY_LEN]), "entry point checksum");
        assert!(sums_to_zero(&blob[16..ENTRY_LEN]), "intermediate checksum");
        let addr = u32::from_le_bytes(blob[24..28].try_into().unwrap());
        let len = u16::from_le_bytes(blob[22..24].try_into().unwrap()) as usize;
        let count = u16::from_le_bytes(blob[28..30].try_into().unwrap());
        let table = &blob[(addr - ENTRY_ADDR) as usize..][..len];
        // Walk the structures as an OS does: formatted part, then strings
        // up to a double NUL.
        let (mut at, mut kinds, mut strings) = (0, Vec::new(), Vec::new());
        while at < table.len() {
            kinds.push(table[at]);
            let mut p = at + table[at + 1] as usize;
            if table[p] == 0 {
                p += 2; // no strings: two NULs
            } else {
                loop {
                    let end = p + table[p..].iter().position(|&b| b == 0).unwrap();
                    strings.push(String::from_utf8_lossy(&table[p..end]).into_owned());
                    p = end + 1;
                    if table[p] == 0 {
                        p += 1;
                        break;
                    }
                }
            }
            at = p;
        }
        assert_eq!(kinds, [0, 1, 127]);
        assert_eq!(kinds.len(), count as usize);
        assert!(strings.contains(&PRODUCT.to_string()));
        assert_eq!(at, table.len(), "the table length covers every structure");
    }
}
