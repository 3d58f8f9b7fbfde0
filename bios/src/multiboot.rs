//! Multiboot (version 1) kernels: the header search, ELF32 and a.out-kludge
//! loading, modules, and the Multiboot information structure, laid out as
//! QEMU's `-kernel` does it:
//!
//! | address | what |
//! |---|---|
//! | 0x500 | the GDT (flat code 0x10, flat data 0x18) |
//! | 0x9000 | the memory map (`mmap_addr`), E820-style entries |
//! | 0x9500 | the information structure (EBX points here) |
//! | after the kernel, page-aligned | module list, command lines, loader name |
//! | then | the modules, each page-aligned |
//!
//! The kernel is entered in flat 32-bit protected mode, paging and
//! interrupts off, with EAX = 0x2BADB002 and EBX = the information structure.

use crate::{
    align_up, e820_map, enter_flat_protected_mode, le16, le32, write_bda_memory, BootFiles,
    KernelFormat, LoadError, Loaded, EBDA_START, HIGH_MEMORY,
};
use emu_core::Cpu;

/// The header's magic.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// What EAX holds at entry.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie wholly within this many bytes of the file.
pub const SEARCH_LIMIT: usize = 8192;
/// Where the memory map goes.
pub const MMAP_ADDR: u32 = 0x9000;
/// Where the information structure goes.
pub const INFO_ADDR: u32 = 0x9500;
/// The information structure's size up to and including the VBE fields.
pub const INFO_SIZE: u32 = 88;
/// The boot loader name given to the kernel.
pub const LOADER_NAME: &str = "ferrite";

/// Header `flags` bits.
pub mod header_flags {
    /// Modules must be page-aligned.
    pub const PAGE_ALIGN: u32 = 1 << 0;
    /// `mem_*` (and the memory map) must be given.
    pub const MEMORY_INFO: u32 = 1 << 1;
    /// Video mode information is wanted.
    pub const VIDEO_MODE: u32 = 1 << 2;
    /// The address fields are valid: load by them (the "a.out kludge").
    pub const AOUT_KLUDGE: u32 = 1 << 16;
    /// The required bits (0–15) this loader honours.
    pub const SUPPORTED_REQUIRED: u32 = PAGE_ALIGN | MEMORY_INFO | VIDEO_MODE;
}

/// Information structure `flags` bits.
pub mod info_flags {
    pub const MEMORY: u32 = 1 << 0;
    pub const BOOT_DEVICE: u32 = 1 << 1;
    pub const CMDLINE: u32 = 1 << 2;
    pub const MODS: u32 = 1 << 3;
    pub const MMAP: u32 = 1 << 6;
    pub const LOADER_NAME: u32 = 1 << 9;
}

/// Byte offsets in the information structure.
pub mod info {
    pub const FLAGS: usize = 0;
    pub const MEM_LOWER: usize = 4;
    pub const MEM_UPPER: usize = 8;
    pub const BOOT_DEVICE: usize = 12;
    pub const CMDLINE: usize = 16;
    pub const MODS_COUNT: usize = 20;
    pub const MODS_ADDR: usize = 24;
    pub const MMAP_LENGTH: usize = 44;
    pub const MMAP_ADDR: usize = 48;
    pub const BOOT_LOADER_NAME: usize = 64;
}

/// Bytes of one module list entry (start, end, string, reserved).
const MODULE_ENTRY: u32 = 16;
/// Bytes of one memory map entry (size, base, length, type).
const MMAP_ENTRY: u32 = 24;

/// A Multiboot header found in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Its file offset.
    pub offset: usize,
    pub flags: u32,
    /// The a.out-kludge address fields, when flag 16 is set and they fit.
    pub addresses: Option<Addresses>,
}

/// The header's address fields (valid with [`header_flags::AOUT_KLUDGE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

/// Finds the first valid header: the magic at a 4-byte-aligned offset with
/// the whole 12-byte header in the first 8 KiB, and a checksum that makes
/// magic + flags + checksum zero.
pub fn find_header(image: &[u8]) -> Option<Header> {
    let end = image.len().min(SEARCH_LIMIT);
    (0..end.saturating_sub(11)).step_by(4).find_map(|off| {
        if le32(image, off) != HEADER_MAGIC {
            return None;
        }
        let flags = le32(image, off + 4);
        let checksum = le32(image, off + 8);
        if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) != 0 {
            return None;
        }
        let addresses =
            (flags & header_flags::AOUT_KLUDGE != 0 && off + 32 <= image.len()).then(|| {
                Addresses {
                    header_addr: le32(image, off + 12),
                    load_addr: le32(image, off + 16),
                    load_end_addr: le32(image, off + 20),
                    bss_end_addr: le32(image, off + 24),
                    entry_addr: le32(image, off + 28),
                }
            });
        Some(Header {
            offset: off,
            flags,
            addresses,
        })
    })
}

/// A range of physical memory to fill from the file: `file_len` bytes from
/// `file_offset`, then zeros up to `mem_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub addr: u32,
    pub file_offset: usize,
    pub file_len: usize,
    pub mem_len: u32,
}

impl Segment {
    fn end(&self) -> u64 {
        self.addr as u64 + self.mem_len as u64
    }
}

/// How the kernel image maps into memory, and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImage {
    pub segments: Vec<Segment>,
    pub entry: u32,
}

fn bad(what: impl Into<String>) -> LoadError {
    LoadError::BadImage(what.into())
}

/// The a.out kludge: the header's address fields say what to load where.
fn aout_segments(image: &[u8], h: &Header) -> Result<KernelImage, LoadError> {
    let a = h.addresses.ok_or(LoadError::Truncated {
        what: "Multiboot header's address fields",
        needed: h.offset as u64 + 32,
        len: image.len() as u64,
    })?;
    if a.header_addr < a.load_addr {
        return Err(bad(format!(
            "Multiboot header_addr {:#x} is below load_addr {:#x}",
            a.header_addr, a.load_addr
        )));
    }
    let before_header = (a.header_addr - a.load_addr) as usize;
    let file_offset = h.offset.checked_sub(before_header).ok_or_else(|| {
        bad(format!(
            "Multiboot load_addr {:#x} is before the start of the file",
            a.load_addr
        ))
    })?;
    let file_len = if a.load_end_addr != 0 {
        if a.load_end_addr < a.load_addr {
            return Err(bad(format!(
                "Multiboot load_end_addr {:#x} is below load_addr {:#x}",
                a.load_end_addr, a.load_addr
            )));
        }
        (a.load_end_addr - a.load_addr) as usize
    } else {
        image.len() - file_offset
    };
    if file_offset + file_len > image.len() {
        return Err(LoadError::Truncated {
            what: "Multiboot kernel (load_end_addr)",
            needed: (file_offset + file_len) as u64,
            len: image.len() as u64,
        });
    }
    let load_end = a.load_addr as u64 + file_len as u64;
    let mem_end = if a.bss_end_addr != 0 {
        if (a.bss_end_addr as u64) < load_end {
            return Err(bad(format!(
                "Multiboot bss_end_addr {:#x} is below the end of the loaded image {load_end:#x}",
                a.bss_end_addr
            )));
        }
        a.bss_end_addr as u64
    } else {
        load_end
    };
    Ok(KernelImage {
        segments: vec![Segment {
            addr: a.load_addr,
            file_offset,
            file_len,
            mem_len: (mem_end - a.load_addr as u64) as u32,
        }],
        entry: a.entry_addr,
    })
}

const PT_LOAD: u32 = 1;
const EM_386: u16 = 3;

/// An ELF32 executable: its PT_LOAD segments at their physical addresses.
/// The entry point, if it falls in a segment linked at a different virtual
/// address, is translated to the physical one (as GRUB does).
fn elf_segments(image: &[u8]) -> Result<KernelImage, LoadError> {
    if image.len() < 52 || &image[0..4] != b"\x7FELF" {
        return Err(bad(
            "a Multiboot header without the address flag (16), but not an ELF file",
        ));
    }
    if image[4] != 1 || image[5] != 1 || le16(image, 18) != EM_386 {
        return Err(bad(
            "not a 32-bit little-endian i386 ELF file (a 64-bit kernel needs Multiboot2)",
        ));
    }
    let entry = le32(image, 24);
    let phoff = le32(image, 28) as usize;
    let phentsize = le16(image, 42) as usize;
    let phnum = le16(image, 44) as usize;
    if phnum > 0 && phentsize < 32 {
        return Err(bad(format!(
            "ELF program header size {phentsize} is below 32"
        )));
    }
    let ph_end = phoff + phnum * phentsize;
    if ph_end > image.len() {
        return Err(LoadError::Truncated {
            what: "ELF program headers",
            needed: ph_end as u64,
            len: image.len() as u64,
        });
    }
    let mut segments = Vec::new();
    let mut phys_entry = entry;
    for i in 0..phnum {
        let ph = &image[phoff + i * phentsize..];
        if le32(ph, 0) != PT_LOAD || le32(ph, 20) == 0 {
            continue;
        }
        let (offset, vaddr, paddr) = (le32(ph, 4) as usize, le32(ph, 8), le32(ph, 12));
        let (filesz, memsz) = (le32(ph, 16) as usize, le32(ph, 20));
        if filesz as u64 > memsz as u64 {
            return Err(bad(format!(
                "ELF segment {i} has a file size {filesz:#x} over its memory size {memsz:#x}"
            )));
        }
        if offset + filesz > image.len() {
            return Err(LoadError::Truncated {
                what: "ELF segment",
                needed: (offset + filesz) as u64,
                len: image.len() as u64,
            });
        }
        if entry.wrapping_sub(vaddr) < memsz {
            phys_entry = entry.wrapping_sub(vaddr).wrapping_add(paddr);
        }
        segments.push(Segment {
            addr: paddr,
            file_offset: offset,
            file_len: filesz,
            mem_len: memsz,
        });
    }
    if segments.is_empty() {
        return Err(bad("the ELF file has no loadable segment"));
    }
    Ok(KernelImage {
        segments,
        entry: phys_entry,
    })
}

/// Works out where the kernel goes, by the header's addresses or its ELF
/// program headers.
pub fn kernel_image(image: &[u8]) -> Result<(Header, KernelImage), LoadError> {
    let h = find_header(image).ok_or(LoadError::UnknownFormat)?;
    let unknown = h.flags & 0xFFFF & !header_flags::SUPPORTED_REQUIRED;
    if unknown != 0 {
        return Err(LoadError::Unsupported(format!(
            "header flags {:#x} (required bits {unknown:#x} are unknown to this loader)",
            h.flags
        )));
    }
    if h.flags & header_flags::VIDEO_MODE != 0 {
        log::warn!("the Multiboot kernel asks for a video mode; it gets 80x25 text");
    }
    let k = if h.flags & header_flags::AOUT_KLUDGE != 0 {
        aout_segments(image, &h)?
    } else {
        elf_segments(image)?
    };
    Ok((h, k))
}

/// Loads a Multiboot kernel with its modules, writes the information
/// structure, and points the CPU at the entry.
pub fn load(cpu: &mut Cpu, files: &BootFiles) -> Result<Loaded, LoadError> {
    let ram = cpu.mem.ram_size() as u64;
    let (h, k) = kernel_image(files.kernel)?;

    // The kernel must fit in RAM and stay clear of the low boot data.
    let info_area = (MMAP_ADDR as u64, (INFO_ADDR + INFO_SIZE) as u64);
    let mut kernel_start = u64::MAX;
    let mut kernel_end = 0u64;
    for s in &k.segments {
        if s.end() > ram {
            return Err(LoadError::KernelTooBig {
                needed: s.end(),
                ram,
            });
        }
        if (s.addr as u64) < info_area.1 && s.end() > info_area.0 {
            return Err(bad(format!(
                "the kernel loads at {:#x}-{:#x}, over the boot information at {:#x}",
                s.addr,
                s.end(),
                MMAP_ADDR
            )));
        }
        kernel_start = kernel_start.min(s.addr as u64);
        kernel_end = kernel_end.max(s.end());
    }

    // After the kernel: the module list, then the strings, then the modules.
    let mods = files.modules;
    let list_addr = align_up(kernel_end, 4096);
    let mut strings = Vec::new();
    let mut strings_at = list_addr + MODULE_ENTRY as u64 * mods.len() as u64;
    let mut add_string = |s: &str| {
        let at = strings_at + strings.len() as u64;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        at as u32
    };
    let mod_strings: Vec<u32> = mods.iter().map(|m| add_string(m.string)).collect();
    let cmdline = if files.cmdline.is_empty() {
        files.kernel_name.to_string()
    } else {
        format!("{} {}", files.kernel_name, files.cmdline)
    };
    let cmdline_addr = add_string(&cmdline);
    let name_addr = add_string(LOADER_NAME);
    strings_at += strings.len() as u64;
    let mut at = align_up(strings_at, 4096);
    let modules_start = at;
    let mut placed = Vec::new();
    for m in mods {
        placed.push((at, at + m.data.len() as u64));
        at = align_up(at + m.data.len() as u64, 4096);
    }
    let modules_end = placed.last().map_or(strings_at, |p| p.1);
    if modules_end > ram {
        let size: u64 = mods.iter().map(|m| m.data.len() as u64).sum();
        return Err(if strings_at > ram {
            LoadError::KernelTooBig {
                needed: strings_at,
                ram,
            }
        } else {
            LoadError::InitrdTooBig {
                size,
                room: ram.saturating_sub(modules_start),
            }
        });
    }

    // Everything fits: write it.
    for s in &k.segments {
        let data = &files.kernel[s.file_offset..s.file_offset + s.file_len];
        cpu.mem.write_bytes(s.addr, data);
        let zeros = vec![0u8; s.mem_len as usize - s.file_len];
        cpu.mem.write_bytes(s.addr + s.file_len as u32, &zeros);
    }
    let mut list = Vec::with_capacity(MODULE_ENTRY as usize * mods.len());
    for ((m, &(start, end)), &string) in mods.iter().zip(&placed).zip(&mod_strings) {
        cpu.mem.write_bytes(start as u32, m.data);
        for v in [start as u32, end as u32, string, 0] {
            list.extend_from_slice(&v.to_le_bytes());
        }
    }
    cpu.mem.write_bytes(list_addr as u32, &list);
    cpu.mem
        .write_bytes((list_addr + list.len() as u64) as u32, &strings);

    let map = e820_map(ram);
    let mut mmap = Vec::with_capacity(MMAP_ENTRY as usize * map.len());
    for e in &map {
        mmap.extend_from_slice(&(MMAP_ENTRY - 4).to_le_bytes());
        mmap.extend_from_slice(&e.to_bytes());
    }
    cpu.mem.write_bytes(MMAP_ADDR, &mmap);

    let mut mbi = [0u8; INFO_SIZE as usize];
    let mut put = |off: usize, v: u32| mbi[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(
        info::FLAGS,
        info_flags::MEMORY
            | info_flags::CMDLINE
            | info_flags::MODS
            | info_flags::MMAP
            | info_flags::LOADER_NAME,
    );
    put(info::MEM_LOWER, (EBDA_START >> 10) as u32);
    put(
        info::MEM_UPPER,
        (ram.saturating_sub(HIGH_MEMORY) >> 10) as u32,
    );
    put(info::BOOT_DEVICE, 0);
    put(info::CMDLINE, cmdline_addr);
    put(info::MODS_COUNT, mods.len() as u32);
    put(info::MODS_ADDR, list_addr as u32);
    put(info::MMAP_LENGTH, mmap.len() as u32);
    put(info::MMAP_ADDR, MMAP_ADDR);
    put(info::BOOT_LOADER_NAME, name_addr);
    cpu.mem.write_bytes(INFO_ADDR, &mbi);
    write_bda_memory(cpu);

    let mut regs = [0u32; 8];
    regs[emu_core::cpu::reg::EAX] = BOOTLOADER_MAGIC;
    regs[emu_core::cpu::reg::EBX] = INFO_ADDR;
    regs[emu_core::cpu::reg::ESP] = 0x7000; // undefined by the spec; somewhere harmless
    enter_flat_protected_mode(cpu, k.entry, regs);

    let mut regions = vec![
        ("mmap", MMAP_ADDR, MMAP_ADDR + mmap.len() as u32),
        ("info", INFO_ADDR, INFO_ADDR + INFO_SIZE),
        ("kernel", kernel_start as u32, kernel_end as u32),
        ("module list+strings", list_addr as u32, strings_at as u32),
    ];
    for &(start, end) in &placed {
        regions.push(("module", start as u32, end as u32));
    }
    Ok(Loaded {
        format: KernelFormat::Multiboot {
            header_offset: h.offset,
        },
        entry: k.entry,
        regions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_kernel, Module};
    use emu_core::cpu::{cr0, reg};
    use emu_core::SegReg;

    fn header(flags: u32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [
            HEADER_MAGIC,
            flags,
            0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(flags)),
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    fn put(buf: &mut [u8], off: usize, v: u32) {
        buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// An ELF32 kernel linked at 0xC0100000 and loaded at 0x100000 (as GNU
    /// Mach is), with a text segment holding the Multiboot header and a
    /// data segment with .bss.
    fn elf_kernel() -> Vec<u8> {
        let mut img = vec![0u8; 0x3000];
        img[0..4].copy_from_slice(b"\x7FELF");
        img[4] = 1; // 32-bit
        img[5] = 1; // little-endian
        img[6] = 1;
        img[16] = 2; // ET_EXEC
        img[18] = EM_386 as u8;
        put(&mut img, 24, 0xC010_0010); // entry, virtual
        put(&mut img, 28, 52); // phoff
        img[42] = 32; // phentsize
        img[44] = 3; // phnum
        let ph = |img: &mut Vec<u8>, i: usize, f: [u32; 8]| {
            for (j, v) in f.iter().enumerate() {
                put(img, 52 + 32 * i + 4 * j, *v);
            }
        };
        // type, offset, vaddr, paddr, filesz, memsz, flags, align
        ph(
            &mut img,
            0,
            [
                PT_LOAD,
                0x1000,
                0xC010_0000,
                0x10_0000,
                0x1000,
                0x1000,
                5,
                0x1000,
            ],
        );
        ph(
            &mut img,
            1,
            [
                PT_LOAD,
                0x2000,
                0xC010_1000,
                0x10_1000,
                0x800,
                0x3000,
                6,
                0x1000,
            ],
        );
        ph(&mut img, 2, [6 /* PT_PHDR */, 52, 0, 0, 96, 96, 4, 4]);
        img[0x1000..0x100C].copy_from_slice(&header(
            header_flags::PAGE_ALIGN | header_flags::MEMORY_INFO,
        ));
        img[0x1010] = 0xF4; // hlt at the entry
        for b in &mut img[0x2000..0x2800] {
            *b = 0xDD;
        }
        img
    }

    fn rd32(cpu: &mut Cpu, addr: u32) -> u32 {
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(addr, &mut b);
        u32::from_le_bytes(b)
    }

    fn cstr(cpu: &mut Cpu, addr: u32) -> String {
        let mut s = Vec::new();
        let mut a = addr;
        loop {
            let b = cpu.mem.read_u8(a);
            if b == 0 {
                break;
            }
            s.push(b);
            a += 1;
        }
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn header_search_needs_alignment_and_checksum() {
        let mut img = vec![0u8; 100];
        img[8..20].copy_from_slice(&header(3));
        assert_eq!(find_header(&img).map(|h| (h.offset, h.flags)), Some((8, 3)));
        let mut unaligned = vec![0u8; 100];
        unaligned[10..22].copy_from_slice(&header(3));
        assert_eq!(find_header(&unaligned), None);
        let mut bad_sum = img.clone();
        bad_sum[16] ^= 1;
        assert_eq!(find_header(&bad_sum), None);
        let mut late = vec![0u8; 9000];
        late[8184..8196].copy_from_slice(&header(0));
        assert_eq!(find_header(&late), None, "must end within 8 KiB");
        late[8180..8192].copy_from_slice(&header(0));
        assert_eq!(find_header(&late).map(|h| h.offset), Some(8180));
    }

    #[test]
    fn elf_kernel_with_modules_and_info_structure() {
        const RAM: u64 = 32 << 20;
        let img = elf_kernel();
        let m1 = vec![0xA1u8; 5000];
        let m2 = vec![0xB2u8; 10];
        let modules = [
            Module {
                data: &m1,
                string: "/boot/m1 arg=1",
            },
            Module {
                data: &m2,
                string: "m2",
            },
        ];
        let files = BootFiles {
            kernel: &img,
            kernel_name: "gnumach",
            cmdline: "root=device:hd0",
            modules: &modules,
        };
        let mut cpu = Cpu::new(RAM as usize);
        let loaded = load_kernel(&mut cpu, &files).unwrap();
        assert_eq!(
            loaded.format,
            KernelFormat::Multiboot {
                header_offset: 0x1000
            }
        );
        assert_eq!(loaded.entry, 0x10_0010, "virtual entry translated");

        // Segments at their physical addresses, .bss zeroed.
        assert_eq!(cpu.mem.read_u8(0x10_0010), 0xF4);
        assert_eq!(rd32(&mut cpu, 0x10_0000), HEADER_MAGIC);
        assert_eq!(cpu.mem.read_u8(0x10_1000), 0xDD);
        assert_eq!(cpu.mem.read_u8(0x10_17FF), 0xDD);
        assert_eq!(cpu.mem.read_u8(0x10_1800), 0);

        // The CPU.
        assert_eq!(cpu.regs[reg::EAX], BOOTLOADER_MAGIC);
        assert_eq!(cpu.regs[reg::EBX], INFO_ADDR);
        assert_eq!(cpu.eip, 0x10_0010);
        assert_eq!(cpu.cr0 & (cr0::PE | cr0::PG), cr0::PE);
        assert!(!cpu.if_flag());
        assert!(cpu.code32());
        assert_eq!(cpu.segs[SegReg::DS as usize].limit, 0xFFFF_FFFF);

        // The information structure.
        let mbi = INFO_ADDR;
        let flags = rd32(&mut cpu, mbi);
        assert_eq!(
            flags,
            info_flags::MEMORY
                | info_flags::CMDLINE
                | info_flags::MODS
                | info_flags::MMAP
                | info_flags::LOADER_NAME
        );
        assert_eq!(rd32(&mut cpu, mbi + 4), 639);
        assert_eq!(rd32(&mut cpu, mbi + 8), (RAM as u32 >> 10) - 1024);
        let cmdline = rd32(&mut cpu, mbi + info::CMDLINE as u32);
        assert_eq!(cstr(&mut cpu, cmdline), "gnumach root=device:hd0");
        let name = rd32(&mut cpu, mbi + info::BOOT_LOADER_NAME as u32);
        assert_eq!(cstr(&mut cpu, name), "ferrite");

        // The memory map: size-prefixed E820 entries.
        assert_eq!(rd32(&mut cpu, mbi + info::MMAP_ADDR as u32), MMAP_ADDR);
        assert_eq!(rd32(&mut cpu, mbi + info::MMAP_LENGTH as u32), 3 * 24);
        let entry = |cpu: &mut Cpu, i: u32| {
            let a = MMAP_ADDR + 24 * i;
            (
                rd32(cpu, a),
                rd32(cpu, a + 4),
                rd32(cpu, a + 12),
                rd32(cpu, a + 20),
            )
        };
        assert_eq!(entry(&mut cpu, 0), (20, 0, 0x9FC00, 1));
        assert_eq!(entry(&mut cpu, 1), (20, 0x9FC00, 0x60400, 2));
        assert_eq!(entry(&mut cpu, 2), (20, 0x100000, RAM as u32 - 0x100000, 1));

        // Modules: page-aligned after the kernel, with their strings.
        assert_eq!(rd32(&mut cpu, mbi + info::MODS_COUNT as u32), 2);
        let list = rd32(&mut cpu, mbi + info::MODS_ADDR as u32);
        assert_eq!(list, 0x10_4000, "the page after .bss");
        let (s1, e1, str1) = (
            rd32(&mut cpu, list),
            rd32(&mut cpu, list + 4),
            rd32(&mut cpu, list + 8),
        );
        let (s2, e2, str2) = (
            rd32(&mut cpu, list + 16),
            rd32(&mut cpu, list + 20),
            rd32(&mut cpu, list + 24),
        );
        assert_eq!(s1 % 4096, 0);
        assert_eq!(e1 - s1, 5000);
        assert_eq!(s2, (e1 + 4095) & !4095);
        assert_eq!(e2 - s2, 10);
        assert_eq!(cpu.mem.read_u8(s1), 0xA1);
        assert_eq!(cpu.mem.read_u8(e1 - 1), 0xA1);
        assert_eq!(cpu.mem.read_u8(s2 + 9), 0xB2);
        assert_eq!(cstr(&mut cpu, str1), "/boot/m1 arg=1");
        assert_eq!(cstr(&mut cpu, str2), "m2");
        assert!(s1 > cmdline && s1 > name);
    }

    /// A flat binary with the a.out kludge: header at file offset 0x40,
    /// loaded at 0x200000, 0x100 bytes of image, .bss to 0x201000.
    fn aout_kernel() -> Vec<u8> {
        let mut img = vec![0x90u8; 0x100];
        let flags = header_flags::AOUT_KLUDGE | header_flags::MEMORY_INFO;
        img[0x40..0x4C].copy_from_slice(&header(flags));
        put(&mut img, 0x4C, 0x20_0040); // header_addr
        put(&mut img, 0x50, 0x20_0000); // load_addr
        put(&mut img, 0x54, 0x20_0100); // load_end_addr
        put(&mut img, 0x58, 0x20_1000); // bss_end_addr
        put(&mut img, 0x5C, 0x20_0080); // entry_addr
        img[0x80] = 0xF4;
        img
    }

    #[test]
    fn aout_kludge_kernel() {
        let img = aout_kernel();
        let mut cpu = Cpu::new(8 << 20);
        cpu.mem.write_bytes(0x20_0100, &[0xEE; 0x100]); // must be cleared as .bss
        let files = BootFiles {
            kernel: &img,
            kernel_name: "kludge",
            cmdline: "",
            modules: &[],
        };
        let loaded = load_kernel(&mut cpu, &files).unwrap();
        assert_eq!(loaded.entry, 0x20_0080);
        assert_eq!(cpu.eip, 0x20_0080);
        assert_eq!(cpu.mem.read_u8(0x20_0080), 0xF4);
        assert_eq!(rd32(&mut cpu, 0x20_0040), HEADER_MAGIC);
        assert_eq!(cpu.mem.read_u8(0x20_00FF), 0x90);
        assert_eq!(cpu.mem.read_u8(0x20_0100), 0);
        assert_eq!(cpu.mem.read_u8(0x20_0FFF), 0);
        assert_eq!(rd32(&mut cpu, INFO_ADDR + info::MODS_COUNT as u32), 0);
        let cmdline = rd32(&mut cpu, INFO_ADDR + info::CMDLINE as u32);
        assert_eq!(cstr(&mut cpu, cmdline), "kludge");
        assert_eq!(
            rd32(&mut cpu, INFO_ADDR + info::MODS_ADDR as u32),
            0x20_1000
        );
    }

    #[test]
    fn aout_load_end_zero_means_the_rest_of_the_file() {
        let mut img = aout_kernel();
        put(&mut img, 0x54, 0);
        put(&mut img, 0x58, 0);
        let (_, k) = kernel_image(&img).unwrap();
        assert_eq!(
            k.segments,
            vec![Segment {
                addr: 0x20_0000,
                file_offset: 0,
                file_len: 0x100,
                mem_len: 0x100
            }]
        );
    }

    #[test]
    fn errors() {
        // Unknown required flag.
        let mut img = aout_kernel();
        img[0x40..0x4C].copy_from_slice(&header(header_flags::AOUT_KLUDGE | 1 << 5));
        assert!(matches!(kernel_image(&img), Err(LoadError::Unsupported(_))));
        // Bad a.out addresses.
        let mut img = aout_kernel();
        put(&mut img, 0x4C, 0x1F_0000);
        assert!(matches!(kernel_image(&img), Err(LoadError::BadImage(_))));
        let mut img = aout_kernel();
        put(&mut img, 0x54, 0x20_0200); // past the end of the file
        assert!(matches!(
            kernel_image(&img),
            Err(LoadError::Truncated { .. })
        ));
        let mut img = aout_kernel();
        put(&mut img, 0x58, 0x20_0010);
        assert!(matches!(kernel_image(&img), Err(LoadError::BadImage(_))));
        // No address flag and not ELF.
        let mut img = vec![0u8; 64];
        img[0..12].copy_from_slice(&header(0));
        let e = kernel_image(&img).unwrap_err();
        assert!(e.to_string().contains("not an ELF"), "{e}");
        // A 64-bit ELF.
        let mut img = elf_kernel();
        img[4] = 2;
        let e = kernel_image(&img).unwrap_err();
        assert!(e.to_string().contains("64-bit"), "{e}");
        // A kernel beyond RAM.
        let mut cpu = Cpu::new(1 << 20);
        let img = elf_kernel();
        let files = BootFiles {
            kernel: &img,
            kernel_name: "k",
            cmdline: "",
            modules: &[],
        };
        assert!(matches!(
            load(&mut cpu, &files),
            Err(LoadError::KernelTooBig { .. })
        ));
        // Modules beyond RAM.
        let mut cpu = Cpu::new(2 << 20);
        let big = vec![0u8; 1 << 20];
        let modules = [Module {
            data: &big,
            string: "big",
        }];
        let files = BootFiles {
            kernel: &img,
            kernel_name: "k",
            cmdline: "",
            modules: &modules,
        };
        assert!(matches!(
            load(&mut cpu, &files),
            Err(LoadError::InitrdTooBig { .. })
        ));
        // A kernel over the boot information.
        let mut img = aout_kernel();
        put(&mut img, 0x4C, 0x9040);
        put(&mut img, 0x50, 0x9000);
        put(&mut img, 0x54, 0x9100);
        put(&mut img, 0x58, 0);
        put(&mut img, 0x5C, 0x9080);
        let mut cpu = Cpu::new(2 << 20);
        let files = BootFiles {
            kernel: &img,
            kernel_name: "k",
            cmdline: "",
            modules: &[],
        };
        let e = load(&mut cpu, &files).unwrap_err();
        assert!(e.to_string().contains("boot information"), "{e}");
    }
}
