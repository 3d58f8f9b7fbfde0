//! Direct Linux boot by the x86 boot protocol (the kernel's
//! `Documentation/arch/x86/boot.rst`), entering through its 32-bit entry
//! point so that no real-mode setup code runs.
//!
//! Memory layout:
//!
//! | address | what |
//! |---|---|
//! | 0x500 | the GDT (`__BOOT_CS` = 0x10, `__BOOT_DS` = 0x18) |
//! | 0x7000 | `boot_params`, the zero page (ESI points here) |
//! | 0x20000 | the command line |
//! | 0x100000 | the protected-mode kernel (`code32_start`) |
//! | top of RAM (below `initrd_addr_max`) | the initrd, page-aligned |
//!
//! The zero page holds the kernel's setup header (copied from the image at
//! 0x1F1) with the loader's fields filled in, the E820 map of
//! [`e820_map`](crate::e820_map), an 80x25 colour text `screen_info`, and
//! the memory sizes.

use crate::{
    align_up, e820_map, enter_flat_protected_mode, le16, le32, write_bda_memory, KernelFormat,
    LoadError, Loaded, HIGH_MEMORY,
};
use emu_core::Cpu;

/// Where the zero page (`struct boot_params`) goes.
pub const ZERO_PAGE: u32 = 0x7000;
/// Where the command line goes.
pub const CMDLINE_ADDR: u32 = 0x2_0000;
/// Where the protected-mode kernel goes (and where it is entered).
pub const KERNEL_ADDR: u32 = HIGH_MEMORY as u32;
/// The oldest boot protocol this loader speaks (2.04: 32-bit `syssize`,
/// and the kernels since have a 32-bit entry point worth the name).
pub const MIN_VERSION: u16 = 0x0204;

/// `HdrS`, the setup header's magic at 0x202.
const HDRS: u32 = 0x5372_6448;

/// Byte offsets in `struct boot_params` (arch/x86/include/uapi/asm/bootparam.h);
/// the setup header's fields sit at the same offsets in the kernel image.
pub mod bp {
    // struct screen_info, at 0.
    pub const ORIG_X: usize = 0x00;
    pub const ORIG_Y: usize = 0x01;
    pub const EXT_MEM_K: usize = 0x02;
    pub const ORIG_VIDEO_PAGE: usize = 0x04;
    pub const ORIG_VIDEO_MODE: usize = 0x06;
    pub const ORIG_VIDEO_COLS: usize = 0x07;
    pub const ORIG_VIDEO_EGA_BX: usize = 0x0A;
    pub const ORIG_VIDEO_LINES: usize = 0x0E;
    pub const ORIG_VIDEO_IS_VGA: usize = 0x0F;
    pub const ORIG_VIDEO_POINTS: usize = 0x10;
    pub const SCREEN_INFO_SIZE: usize = 0x40;

    pub const EXT_RAMDISK_IMAGE: usize = 0x0C0;
    pub const EXT_RAMDISK_SIZE: usize = 0x0C4;
    pub const EXT_CMD_LINE_PTR: usize = 0x0C8;
    pub const ALT_MEM_K: usize = 0x1E0;
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const SENTINEL: usize = 0x1EF;

    // struct setup_header, at 0x1F1.
    pub const SETUP_HEADER: usize = 0x1F1;
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const SYSSIZE: usize = 0x1F4;
    pub const VID_MODE: usize = 0x1FA;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE_KERNEL: usize = 0x234;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const HARDWARE_SUBARCH: usize = 0x23C;
    pub const PREF_ADDRESS: usize = 0x258;
    pub const INIT_SIZE: usize = 0x260;
    /// Where the setup header area of `boot_params` ends (`edd_mbr_sig_buffer`).
    pub const SETUP_HEADER_LIMIT: usize = 0x290;

    pub const E820_TABLE: usize = 0x2D0;
    /// Entries `e820_table` has room for.
    pub const E820_MAX: usize = 128;
    pub const SIZE: usize = 0x1000;
}

/// `loadflags` bits.
pub mod loadflags {
    /// The protected-mode code is loaded at 0x100000 (a bzImage).
    pub const LOADED_HIGH: u8 = 1 << 0;
    /// `heap_end_ptr` is valid.
    pub const CAN_USE_HEAP: u8 = 1 << 7;
}

/// `type_of_loader` for a loader with no assigned ID.
pub const LOADER_UNDEFINED: u8 = 0xFF;

/// The end of the real-mode heap the setup code may use (offset from its
/// start), as boot.rst's example loader sets it; `heap_end_ptr` is this
/// minus 0x200.
const HEAP_END: u16 = 0xE000;

/// The setup header fields the loader needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    pub version: u16,
    /// Sectors of real-mode setup code after the boot sector (0 means 4).
    pub setup_sects: u8,
    pub loadflags: u8,
    /// The protected-mode code's size, in bytes (from `syssize`).
    pub syssize: u64,
    pub initrd_addr_max: u32,
    pub kernel_alignment: u32,
    pub relocatable: bool,
    /// Longest command line, without the NUL.
    pub cmdline_size: u32,
    /// Where a relocatable kernel prefers to run (the decompression target).
    pub pref_address: u64,
    /// Bytes of memory the kernel needs from where it decompresses itself.
    pub init_size: u32,
    /// Where the header ends in the image (0x202 + the jump's offset byte).
    pub header_end: usize,
}

impl SetupHeader {
    /// Where the protected-mode code starts in the file.
    pub fn kernel_offset(&self) -> usize {
        let sects = if self.setup_sects == 0 {
            4
        } else {
            self.setup_sects as usize
        };
        (sects + 1) * 512
    }
}

/// The boot protocol version of a Linux image (one with `HdrS` at 0x202).
pub fn protocol_version(image: &[u8]) -> Option<u16> {
    if image.len() < bp::VERSION + 2 || le32(image, bp::HEADER) != HDRS {
        return None;
    }
    Some(le16(image, bp::VERSION))
}

/// Reads and checks the setup header of a bzImage.
pub fn parse_header(image: &[u8]) -> Result<SetupHeader, LoadError> {
    let version = protocol_version(image).ok_or(LoadError::UnknownFormat)?;
    if version < MIN_VERSION {
        return Err(LoadError::ProtocolTooOld { version });
    }
    let header_end = (bp::JUMP + 2 + image[bp::JUMP + 1] as usize).min(bp::SETUP_HEADER_LIMIT);
    let field32 = |off: usize, default: u32| {
        if off + 4 <= header_end {
            le32(image, off)
        } else {
            default
        }
    };
    if image.len() < header_end {
        return Err(LoadError::Truncated {
            what: "setup header",
            needed: header_end as u64,
            len: image.len() as u64,
        });
    }
    let loadflags = image[bp::LOADFLAGS];
    if loadflags & loadflags::LOADED_HIGH == 0 {
        return Err(LoadError::NotBzImage);
    }
    let at_least = |v: u16| version >= v;
    let pref_address = if at_least(0x020A) && bp::PREF_ADDRESS + 8 <= header_end {
        u64::from_le_bytes(
            image[bp::PREF_ADDRESS..bp::PREF_ADDRESS + 8]
                .try_into()
                .unwrap(),
        )
    } else {
        HIGH_MEMORY
    };
    Ok(SetupHeader {
        version,
        setup_sects: image[bp::SETUP_SECTS],
        loadflags,
        syssize: field32(bp::SYSSIZE, 0) as u64 * 16,
        initrd_addr_max: field32(bp::INITRD_ADDR_MAX, 0x37FF_FFFF),
        kernel_alignment: if at_least(0x0205) {
            field32(bp::KERNEL_ALIGNMENT, 0)
        } else {
            0
        },
        relocatable: at_least(0x0205) && image[bp::RELOCATABLE_KERNEL] != 0,
        cmdline_size: if at_least(0x0206) {
            field32(bp::CMDLINE_SIZE, 255)
        } else {
            255
        },
        pref_address,
        init_size: if at_least(0x020A) {
            field32(bp::INIT_SIZE, 0)
        } else {
            0
        },
        header_end,
    })
}

/// What [`load`] placed where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinuxLayout {
    pub header: SetupHeader,
    /// The protected-mode kernel: `[KERNEL_ADDR, kernel_end)`.
    pub kernel_end: u32,
    /// Where the kernel will decompress itself: `[start, end)`.
    pub decompress: (u64, u64),
    /// The initrd `(address, size)`, if any.
    pub initrd: Option<(u32, u32)>,
}

/// Where the kernel decompresses itself and how far that reaches: a
/// relocatable kernel runs at its load address rounded up to
/// `kernel_alignment`, but never below `pref_address` (LOAD_PHYSICAL_ADDR);
/// either way it needs `init_size` bytes from there.
fn decompress_range(h: &SetupHeader) -> (u64, u64) {
    let load = KERNEL_ADDR as u64;
    let start = if h.relocatable {
        let align = h.kernel_alignment as u64;
        let aligned = if align.is_power_of_two() {
            align_up(load, align)
        } else {
            load
        };
        aligned.max(h.pref_address)
    } else {
        h.pref_address.max(load)
    };
    (start, start + h.init_size as u64)
}

/// Loads a bzImage with its initrd (the pieces concatenated, each starting
/// 4-byte aligned, as cpio archives may be) and command line, and points the
/// CPU at its 32-bit entry: ESI = the zero page, EBX = EBP = EDI = 0.
pub fn load(
    cpu: &mut Cpu,
    image: &[u8],
    initrd: &[&[u8]],
    cmdline: &str,
) -> Result<Loaded, LoadError> {
    let layout = plan(cpu.mem.ram_size() as u64, image, initrd, cmdline)?;
    let h = layout.header;
    let ram = cpu.mem.ram_size() as u64;

    // The kernel, the command line and the initrd.
    cpu.mem
        .write_bytes(KERNEL_ADDR, &image[h.kernel_offset()..]);
    let mut line = cmdline.as_bytes().to_vec();
    line.push(0);
    cpu.mem.write_bytes(CMDLINE_ADDR, &line);
    if let Some((addr, _)) = layout.initrd {
        let mut at = addr;
        for piece in initrd {
            at = align_up(at as u64, 4) as u32;
            cpu.mem.write_bytes(at, piece);
            at += piece.len() as u32;
        }
    }

    // The zero page: zeroed, the setup header copied in, then our fields.
    let mut zp = vec![0u8; bp::SIZE];
    zp[bp::SETUP_HEADER..h.header_end].copy_from_slice(&image[bp::SETUP_HEADER..h.header_end]);
    zp[bp::SENTINEL] = 0;
    let put16 =
        |zp: &mut [u8], off: usize, v: u16| zp[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |zp: &mut [u8], off: usize, v: u32| zp[off..off + 4].copy_from_slice(&v.to_le_bytes());
    zp[bp::TYPE_OF_LOADER] = LOADER_UNDEFINED;
    zp[bp::LOADFLAGS] = h.loadflags | loadflags::CAN_USE_HEAP;
    put16(&mut zp, bp::HEAP_END_PTR, HEAP_END - 0x200);
    put16(&mut zp, bp::VID_MODE, 0xFFFF); // "normal": the mode we leave
    put32(&mut zp, bp::CODE32_START, KERNEL_ADDR);
    put32(&mut zp, bp::CMD_LINE_PTR, CMDLINE_ADDR);
    let (rd_addr, rd_size) = layout.initrd.unwrap_or((0, 0));
    put32(&mut zp, bp::RAMDISK_IMAGE, rd_addr);
    put32(&mut zp, bp::RAMDISK_SIZE, rd_size);
    put32(&mut zp, bp::EXT_RAMDISK_IMAGE, 0);
    put32(&mut zp, bp::EXT_RAMDISK_SIZE, 0);
    put32(&mut zp, bp::EXT_CMD_LINE_PTR, 0);
    if h.version >= 0x0207 {
        put32(&mut zp, bp::HARDWARE_SUBARCH, 0); // a PC
    }

    // Memory sizes: INT 15h AH=88h (capped) and E801 style, in KiB above 1 MiB.
    let ext_k = ram.saturating_sub(HIGH_MEMORY) >> 10;
    put16(&mut zp, bp::EXT_MEM_K, ext_k.min(0xFFFF) as u16);
    put32(&mut zp, bp::ALT_MEM_K, ext_k.min(u32::MAX as u64) as u32);
    let map = e820_map(ram);
    zp[bp::E820_ENTRIES] = map.len().min(bp::E820_MAX) as u8;
    for (i, e) in map.iter().take(bp::E820_MAX).enumerate() {
        let off = bp::E820_TABLE + 20 * i;
        zp[off..off + 20].copy_from_slice(&e.to_bytes());
    }

    // screen_info: 80x25 colour text (mode 3) on VGA, cursor at the top left.
    zp[bp::ORIG_X] = 0;
    zp[bp::ORIG_Y] = 0;
    put16(&mut zp, bp::ORIG_VIDEO_PAGE, 0);
    zp[bp::ORIG_VIDEO_MODE] = 3;
    zp[bp::ORIG_VIDEO_COLS] = 80;
    put16(&mut zp, bp::ORIG_VIDEO_EGA_BX, 0x0003); // colour, 256 KiB (INT 10h AH=12h BL=10h)
    zp[bp::ORIG_VIDEO_LINES] = 25;
    zp[bp::ORIG_VIDEO_IS_VGA] = 1;
    put16(&mut zp, bp::ORIG_VIDEO_POINTS, 16);

    cpu.mem.write_bytes(ZERO_PAGE, &zp);
    write_bda_memory(cpu);

    let mut regs = [0u32; 8];
    regs[emu_core::cpu::reg::ESI] = ZERO_PAGE;
    regs[emu_core::cpu::reg::ESP] = ZERO_PAGE; // the kernel sets its own stack
    enter_flat_protected_mode(cpu, KERNEL_ADDR, regs);

    let mut regions = vec![
        ("zero page", ZERO_PAGE, ZERO_PAGE + bp::SIZE as u32),
        ("cmdline", CMDLINE_ADDR, CMDLINE_ADDR + line.len() as u32),
        ("kernel", KERNEL_ADDR, layout.kernel_end),
    ];
    if let Some((a, s)) = layout.initrd {
        regions.push(("initrd", a, a + s));
    }
    Ok(Loaded {
        format: KernelFormat::Linux { version: h.version },
        entry: KERNEL_ADDR,
        regions,
    })
}

/// Checks that everything fits and decides where it goes, touching nothing.
pub fn plan(
    ram: u64,
    image: &[u8],
    initrd: &[&[u8]],
    cmdline: &str,
) -> Result<LinuxLayout, LoadError> {
    let h = parse_header(image)?;
    let offset = h.kernel_offset();
    let file_len = image.len() as u64;
    let needed = offset as u64 + h.syssize;
    if file_len < needed || file_len <= offset as u64 {
        return Err(LoadError::Truncated {
            what: "protected-mode kernel",
            needed: needed.max(offset as u64 + 1),
            len: file_len,
        });
    }
    let kernel_end = KERNEL_ADDR as u64 + (file_len - offset as u64);
    if kernel_end > ram {
        return Err(LoadError::KernelTooBig {
            needed: kernel_end,
            ram,
        });
    }
    let decompress = decompress_range(&h);
    if h.init_size != 0 && decompress.1 > ram {
        return Err(LoadError::KernelTooBig {
            needed: decompress.1,
            ram,
        });
    }

    let max_line =
        (h.cmdline_size as usize).min((crate::EBDA_START - CMDLINE_ADDR as u64 - 1) as usize);
    if cmdline.len() > max_line {
        return Err(LoadError::CmdlineTooLong {
            len: cmdline.len(),
            max: max_line,
        });
    }

    // The initrd: as high as allowed, page-aligned, clear of the kernel
    // and of where it decompresses.
    let size = initrd
        .iter()
        .fold(0u64, |at, piece| align_up(at, 4) + piece.len() as u64);
    let initrd = if size == 0 {
        None
    } else {
        let top = ram.min(h.initrd_addr_max as u64 + 1);
        let floor = align_up(kernel_end.max(decompress.1), 4096);
        let room = top.saturating_sub(floor);
        if size > room {
            return Err(LoadError::InitrdTooBig { size, room });
        }
        let addr = (top - size) & !0xFFF;
        Some((addr as u32, size as u32))
    };
    Ok(LinuxLayout {
        header: h,
        kernel_end: kernel_end as u32,
        decompress,
        initrd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BootFiles, E820Kind, Module, GDT_ADDR};
    use emu_core::cpu::cr0;
    use emu_core::SegReg;

    const SETUP_SECTS: u8 = 3;
    const PAYLOAD: usize = 5000;

    /// A bzImage header as a 6.1 kernel has it (protocol 2.15, relocatable,
    /// 16 MiB alignment and preferred address), then a recognisable
    /// protected-mode payload.
    fn bzimage(version: u16, init_size: u32) -> Vec<u8> {
        let mut img = vec![0u8; (SETUP_SECTS as usize + 1) * 512 + PAYLOAD];
        img[bp::SETUP_SECTS] = SETUP_SECTS;
        img[bp::SYSSIZE..bp::SYSSIZE + 4].copy_from_slice(&(PAYLOAD as u32 / 16).to_le_bytes());
        img[bp::BOOT_FLAG..bp::BOOT_FLAG + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
        img[bp::JUMP] = 0xEB;
        img[bp::JUMP + 1] = 0x6A; // header ends at 0x26C
        img[bp::HEADER..bp::HEADER + 4].copy_from_slice(b"HdrS");
        img[bp::VERSION..bp::VERSION + 2].copy_from_slice(&version.to_le_bytes());
        img[bp::LOADFLAGS] = loadflags::LOADED_HIGH;
        img[bp::CODE32_START..bp::CODE32_START + 4].copy_from_slice(&0x100000u32.to_le_bytes());
        img[bp::INITRD_ADDR_MAX..bp::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        img[bp::KERNEL_ALIGNMENT..bp::KERNEL_ALIGNMENT + 4]
            .copy_from_slice(&0x100_0000u32.to_le_bytes());
        img[bp::RELOCATABLE_KERNEL] = 1;
        img[bp::CMDLINE_SIZE..bp::CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        img[bp::PREF_ADDRESS..bp::PREF_ADDRESS + 8].copy_from_slice(&0x100_0000u64.to_le_bytes());
        img[bp::INIT_SIZE..bp::INIT_SIZE + 4].copy_from_slice(&init_size.to_le_bytes());
        let pm = (SETUP_SECTS as usize + 1) * 512;
        for (i, b) in img[pm..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        img
    }

    fn rd32(cpu: &mut Cpu, addr: u32) -> u32 {
        let mut b = [0u8; 4];
        cpu.mem.read_bytes(addr, &mut b);
        u32::from_le_bytes(b)
    }

    fn rd16(cpu: &mut Cpu, addr: u32) -> u16 {
        let mut b = [0u8; 2];
        cpu.mem.read_bytes(addr, &mut b);
        u16::from_le_bytes(b)
    }

    fn rd64(cpu: &mut Cpu, addr: u32) -> u64 {
        let mut b = [0u8; 8];
        cpu.mem.read_bytes(addr, &mut b);
        u64::from_le_bytes(b)
    }

    fn zp(off: usize) -> u32 {
        ZERO_PAGE + off as u32
    }

    #[test]
    fn zero_page_command_line_initrd_and_cpu_state() {
        const RAM: u32 = 64 << 20;
        let img = bzimage(0x020F, 0x0200_0000);
        let initrd = vec![0x5Au8; 10_000];
        let mut cpu = Cpu::new(RAM as usize);
        let loaded = load(&mut cpu, &img, &[&initrd], "console=ttyS0 quiet").unwrap();
        assert_eq!(loaded.entry, 0x100000);
        assert_eq!(loaded.format, KernelFormat::Linux { version: 0x020F });

        // The setup header is copied, then the loader's fields.
        assert_eq!(rd32(&mut cpu, zp(bp::HEADER)), HDRS);
        assert_eq!(rd16(&mut cpu, zp(bp::VERSION)), 0x020F);
        assert_eq!(rd32(&mut cpu, zp(bp::KERNEL_ALIGNMENT)), 0x100_0000);
        assert_eq!(cpu.mem.read_u8(zp(bp::SETUP_SECTS)), SETUP_SECTS);
        assert_eq!(cpu.mem.read_u8(zp(bp::TYPE_OF_LOADER)), 0xFF);
        assert_eq!(
            cpu.mem.read_u8(zp(bp::LOADFLAGS)),
            loadflags::LOADED_HIGH | loadflags::CAN_USE_HEAP
        );
        assert_eq!(rd16(&mut cpu, zp(bp::HEAP_END_PTR)), 0xDE00);
        assert_eq!(rd32(&mut cpu, zp(bp::CODE32_START)), 0x100000);
        assert_eq!(cpu.mem.read_u8(zp(bp::SENTINEL)), 0);

        // The command line, NUL-terminated.
        assert_eq!(rd32(&mut cpu, zp(bp::CMD_LINE_PTR)), CMDLINE_ADDR);
        let mut line = [0u8; 20];
        cpu.mem.read_bytes(CMDLINE_ADDR, &mut line);
        assert_eq!(&line, b"console=ttyS0 quiet\0");

        // The initrd: page-aligned at the top of RAM.
        let rd_addr = rd32(&mut cpu, zp(bp::RAMDISK_IMAGE));
        assert_eq!(rd32(&mut cpu, zp(bp::RAMDISK_SIZE)), 10_000);
        assert_eq!(rd_addr, (RAM - 10_000) & !0xFFF);
        assert_eq!(cpu.mem.read_u8(rd_addr), 0x5A);
        assert_eq!(cpu.mem.read_u8(rd_addr + 9_999), 0x5A);

        // The protected-mode kernel at 1 MiB.
        assert_eq!(cpu.mem.read_u8(0x100000), 3);
        assert_eq!(cpu.mem.read_u8(0x100001), 10);
        assert_eq!(
            cpu.mem.read_u8(0x100000 + PAYLOAD as u32 - 1),
            ((PAYLOAD - 1) * 7 + 3) as u8
        );

        // E820: low RAM, the reserved hole, high RAM.
        assert_eq!(cpu.mem.read_u8(zp(bp::E820_ENTRIES)), 3);
        let e = |cpu: &mut Cpu, i: u32| {
            let a = zp(bp::E820_TABLE) + 20 * i;
            (rd64(cpu, a), rd64(cpu, a + 8), rd32(cpu, a + 16))
        };
        assert_eq!(e(&mut cpu, 0), (0, 0x9FC00, E820Kind::Ram as u32));
        assert_eq!(
            e(&mut cpu, 1),
            (0x9FC00, 0x60400, E820Kind::Reserved as u32)
        );
        assert_eq!(
            e(&mut cpu, 2),
            (0x100000, RAM as u64 - 0x100000, E820Kind::Ram as u32)
        );

        // Memory sizes and the text console.
        assert_eq!(rd16(&mut cpu, zp(bp::EXT_MEM_K)), 63 * 1024);
        assert_eq!(rd32(&mut cpu, zp(bp::ALT_MEM_K)), 63 * 1024);
        assert_eq!(cpu.mem.read_u8(zp(bp::ORIG_VIDEO_MODE)), 3);
        assert_eq!(cpu.mem.read_u8(zp(bp::ORIG_VIDEO_COLS)), 80);
        assert_eq!(cpu.mem.read_u8(zp(bp::ORIG_VIDEO_LINES)), 25);
        assert_eq!(cpu.mem.read_u8(zp(bp::ORIG_VIDEO_IS_VGA)), 1);
        assert_eq!(rd16(&mut cpu, zp(bp::ORIG_VIDEO_POINTS)), 16);
        assert_eq!(rd16(&mut cpu, 0x413), 639);

        // The CPU: flat 32-bit protected mode at code32_start.
        assert_eq!(cpu.cr0 & (cr0::PE | cr0::PG), cr0::PE);
        assert_eq!(cpu.eip, 0x100000);
        assert!(!cpu.if_flag());
        assert_eq!(cpu.regs[emu_core::cpu::reg::ESI], ZERO_PAGE);
        for r in [
            emu_core::cpu::reg::EBX,
            emu_core::cpu::reg::EBP,
            emu_core::cpu::reg::EDI,
        ] {
            assert_eq!(cpu.regs[r], 0);
        }
        assert_eq!(cpu.seg_selector(SegReg::CS), 0x10);
        assert!(cpu.code32());
        for s in [SegReg::DS, SegReg::ES, SegReg::SS] {
            assert_eq!(cpu.seg_selector(s), 0x18);
            assert_eq!(cpu.segs[s as usize].base, 0);
            assert_eq!(cpu.segs[s as usize].limit, 0xFFFF_FFFF);
        }
        assert_eq!(cpu.gdtr.base, GDT_ADDR);
        assert_eq!(rd32(&mut cpu, GDT_ADDR + 0x14), 0x00CF_9B00);
    }

    #[test]
    fn initrd_pieces_are_concatenated_aligned_and_below_initrd_addr_max() {
        let mut img = bzimage(0x020F, 0x0100_0000);
        img[bp::INITRD_ADDR_MAX..bp::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
        let a = vec![1u8; 4097];
        let b = vec![2u8; 3];
        let ram = 1u64 << 30; // above initrd_addr_max
        let layout = plan(ram, &img, &[&a, &b], "").unwrap();
        let (addr, size) = layout.initrd.unwrap();
        assert_eq!(size, 4100 + 3, "the second piece starts 4-byte aligned");
        assert_eq!(addr as u64, (0x3800_0000 - 4103) & !0xFFF);
        let mut cpu = Cpu::new(ram as usize);
        load(&mut cpu, &img, &[&a, &b], "").unwrap();
        assert_eq!(cpu.mem.read_u8(addr + 4096), 1);
        assert_eq!(cpu.mem.read_u8(addr + 4097), 0, "padding");
        assert_eq!(cpu.mem.read_u8(addr + 4100), 2);
        assert_eq!(
            layout.decompress,
            (0x100_0000, 0x200_0000),
            "aligned up to kernel_alignment, not below pref_address"
        );
    }

    #[test]
    fn no_initrd() {
        let img = bzimage(0x020F, 0);
        let mut cpu = Cpu::new(32 << 20);
        load(&mut cpu, &img, &[], "").unwrap();
        assert_eq!(rd32(&mut cpu, zp(bp::RAMDISK_IMAGE)), 0);
        assert_eq!(rd32(&mut cpu, zp(bp::RAMDISK_SIZE)), 0);
        assert_eq!(cpu.mem.read_u8(CMDLINE_ADDR), 0);
    }

    #[test]
    fn errors() {
        let ok = bzimage(0x020F, 0x0200_0000);
        // No HdrS.
        let mut bad = ok.clone();
        bad[bp::HEADER] = b'X';
        assert_eq!(plan(64 << 20, &bad, &[], ""), Err(LoadError::UnknownFormat));
        // Protocol too old.
        let old = bzimage(0x0203, 0);
        assert_eq!(
            plan(64 << 20, &old, &[], ""),
            Err(LoadError::ProtocolTooOld { version: 0x0203 })
        );
        assert!(LoadError::ProtocolTooOld { version: 0x0203 }
            .to_string()
            .contains("2.03"));
        // zImage.
        let mut low = ok.clone();
        low[bp::LOADFLAGS] = 0;
        assert_eq!(plan(64 << 20, &low, &[], ""), Err(LoadError::NotBzImage));
        // Truncated protected-mode part.
        let short = &ok[..ok.len() - 100];
        assert!(matches!(
            plan(64 << 20, short, &[], ""),
            Err(LoadError::Truncated { .. })
        ));
        // Not enough RAM to decompress: 16 MiB + init_size (32 MiB).
        assert_eq!(
            plan(32 << 20, &ok, &[], ""),
            Err(LoadError::KernelTooBig {
                needed: 0x300_0000,
                ram: 32 << 20
            })
        );
        // The kernel file itself does not fit.
        let tiny = bzimage(0x0204, 0);
        assert!(matches!(
            plan(0x100000 + 100, &tiny, &[], ""),
            Err(LoadError::KernelTooBig { .. })
        ));
        // An initrd that would land on the decompressed kernel.
        let big = vec![0u8; 20 << 20];
        assert!(matches!(
            plan(64 << 20, &ok, &[&big], ""),
            Err(LoadError::InitrdTooBig { .. })
        ));
        assert!(plan(80 << 20, &ok, &[&big], "").is_ok());
        // A command line over cmdline_size.
        let line = "x".repeat(2048);
        assert_eq!(
            plan(64 << 20, &ok, &[], &line),
            Err(LoadError::CmdlineTooLong {
                len: 2048,
                max: 2047
            })
        );
        // The top-level entry point reports the same errors.
        let mut cpu = Cpu::new(32 << 20);
        let files = BootFiles {
            kernel: &ok,
            kernel_name: "vmlinuz",
            cmdline: "",
            modules: &[Module {
                data: &[1, 2, 3],
                string: "initrd",
            }],
        };
        let e = crate::load_kernel(&mut cpu, &files).unwrap_err();
        assert!(e.to_string().contains("raise --memory"), "{e}");
    }
}
