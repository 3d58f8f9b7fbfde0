//! ferrite's firmware. The built-in BIOS (ROM stubs whose interrupt vectors
//! enter Rust service routines) lives here; until it lands, machines boot
//! the ROM image given with `--bios`.
//!
//! Direct kernel boot is here too: [`load_kernel`] does what a boot loader
//! would for a Linux bzImage ([`linux`], the x86 boot protocol's 32-bit
//! entry) or a Multiboot v1 kernel ([`multiboot`]) — puts the kernel, its
//! initrd or modules and its command line in RAM, writes the boot
//! information the protocol defines (with the [`e820_map`] memory map), and
//! leaves the CPU in flat 32-bit protected mode at the kernel's entry point.
//! No firmware code runs on that path.

pub mod acpi;
pub mod linux;
pub mod multiboot;
pub mod smbios;

use emu_core::cpu::{cr0, DescriptorTable, Segment};
use emu_core::{Cpu, SegReg};
use std::fmt;

/// The byte that makes `bytes` sum to zero: the checksum of ACPI tables
/// and SMBIOS entry points.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)))
}

/// Where conventional RAM ends and the extended BIOS data area begins
/// (639 KiB), as the E820 map and the BIOS data area report it.
pub const EBDA_START: u64 = 0x9_FC00;
/// The start of extended memory (1 MiB).
pub const HIGH_MEMORY: u64 = 0x10_0000;

/// The type of an E820 range (ACPI's address range types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Kind {
    /// Usable RAM.
    Ram = 1,
    /// Reserved: not to be used by the OS.
    Reserved = 2,
}

/// One range of the physical memory map, as INT 15h AX=E820h returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub base: u64,
    pub len: u64,
    pub kind: E820Kind,
}

impl E820Entry {
    /// The 20-byte form (base, length, type) of the BIOS call and the zero page.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b
    }
}

/// The board's physical memory map for `ram_bytes` of RAM: conventional
/// memory up to the EBDA, the EBDA, VGA window and BIOS area reserved up to
/// 1 MiB, then RAM from 1 MiB to its top. The built-in BIOS's E820 service
/// and the direct-boot loaders all report this one map.
pub fn e820_map(ram_bytes: u64) -> Vec<E820Entry> {
    let mut map = vec![
        E820Entry {
            base: 0,
            len: ram_bytes.min(EBDA_START),
            kind: E820Kind::Ram,
        },
        E820Entry {
            base: EBDA_START,
            len: HIGH_MEMORY - EBDA_START,
            kind: E820Kind::Reserved,
        },
    ];
    if ram_bytes > HIGH_MEMORY {
        map.push(E820Entry {
            base: HIGH_MEMORY,
            len: ram_bytes - HIGH_MEMORY,
            kind: E820Kind::Ram,
        });
    }
    map
}

/// Why a kernel could not be loaded. Each displays as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Neither a Linux bzImage (no `HdrS` at 0x202) nor a Multiboot kernel
    /// (no valid header in the first 8 KiB).
    UnknownFormat,
    /// A Linux kernel whose boot protocol is older than 2.04.
    ProtocolTooOld { version: u16 },
    /// A Linux zImage (loaded below 1 MiB): only bzImages are supported.
    NotBzImage,
    /// The file ends before what its headers describe.
    Truncated {
        what: &'static str,
        needed: u64,
        len: u64,
    },
    /// The kernel (with the room it needs to decompress) does not fit in RAM.
    KernelTooBig { needed: u64, ram: u64 },
    /// The initrd or the Multiboot modules do not fit in the RAM left.
    InitrdTooBig { size: u64, room: u64 },
    /// The command line is longer than the kernel accepts.
    CmdlineTooLong { len: usize, max: usize },
    /// A Multiboot header that asks for something this loader cannot give.
    Unsupported(String),
    /// A malformed header or executable.
    BadImage(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::UnknownFormat => write!(
                f,
                "not a Linux bzImage (no HdrS magic at 0x202) nor a Multiboot kernel \
                 (no Multiboot header in the first 8 KiB)"
            ),
            LoadError::ProtocolTooOld { version } => write!(
                f,
                "Linux boot protocol {}.{:02} is too old (2.04 or later is needed)",
                version >> 8,
                version & 0xFF
            ),
            LoadError::NotBzImage => write!(
                f,
                "a zImage (loaded below 1 MiB); only bzImages are supported"
            ),
            LoadError::Truncated { what, needed, len } => write!(
                f,
                "truncated: the {what} needs {needed} bytes but the file has {len}"
            ),
            LoadError::KernelTooBig { needed, ram } => write!(
                f,
                "the kernel needs RAM up to {needed:#x} ({} MiB) but the machine has {} MiB \
                 (raise --memory)",
                needed.div_ceil(1 << 20),
                ram >> 20
            ),
            LoadError::InitrdTooBig { size, room } => write!(
                f,
                "the initrd/modules ({size} bytes) do not fit in the {room} bytes of RAM \
                 left above the kernel (raise --memory)"
            ),
            LoadError::CmdlineTooLong { len, max } => write!(
                f,
                "the command line is {len} bytes; this kernel takes at most {max}"
            ),
            LoadError::Unsupported(what) => write!(f, "unsupported Multiboot request: {what}"),
            LoadError::BadImage(what) => write!(f, "malformed kernel image: {what}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A file handed to the kernel with it: a Linux initrd piece or a Multiboot
/// module.
#[derive(Clone, Copy, Debug)]
pub struct Module<'a> {
    pub data: &'a [u8],
    /// The Multiboot module string (by convention its file name and
    /// arguments); unused for Linux.
    pub string: &'a str,
}

/// What to boot directly.
#[derive(Clone, Copy, Debug)]
pub struct BootFiles<'a> {
    pub kernel: &'a [u8],
    /// The kernel's file name: Multiboot command lines start with it.
    pub kernel_name: &'a str,
    pub cmdline: &'a str,
    /// Linux: the initrd, in pieces concatenated in this order.
    /// Multiboot: the modules.
    pub modules: &'a [Module<'a>],
}

/// The kind of kernel image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// A Linux bzImage with this boot protocol version.
    Linux { version: u16 },
    /// A Multiboot v1 kernel whose header is at this file offset.
    Multiboot { header_offset: usize },
}

/// Tells a Linux bzImage from a Multiboot kernel.
pub fn detect(kernel: &[u8]) -> Result<KernelFormat, LoadError> {
    if let Some(version) = linux::protocol_version(kernel) {
        return Ok(KernelFormat::Linux { version });
    }
    if let Some(h) = multiboot::find_header(kernel) {
        return Ok(KernelFormat::Multiboot {
            header_offset: h.offset,
        });
    }
    Err(LoadError::UnknownFormat)
}

/// What [`load_kernel`] put where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub format: KernelFormat,
    /// The entry point (EIP, flat).
    pub entry: u32,
    /// Named physical ranges `[start, end)` written, for logs.
    pub regions: Vec<(&'static str, u32, u32)>,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            KernelFormat::Linux { version } => write!(
                f,
                "Linux bzImage, boot protocol {}.{:02}",
                version >> 8,
                version & 0xFF
            )?,
            KernelFormat::Multiboot { .. } => write!(f, "Multiboot kernel")?,
        }
        write!(f, ", entry {:#x}", self.entry)?;
        for (name, start, end) in &self.regions {
            write!(f, "; {name} {start:#x}-{end:#x}")?;
        }
        Ok(())
    }
}

/// Loads a Linux bzImage or a Multiboot kernel into `cpu`'s RAM (already
/// sized) and sets the CPU up to enter it. The CPU should be fresh from
/// reset: this replaces its mode, segments, GDTR and registers.
pub fn load_kernel(cpu: &mut Cpu, files: &BootFiles) -> Result<Loaded, LoadError> {
    match detect(files.kernel)? {
        KernelFormat::Linux { .. } => {
            let initrd: Vec<&[u8]> = files.modules.iter().map(|m| m.data).collect();
            linux::load(cpu, files.kernel, &initrd, files.cmdline)
        }
        KernelFormat::Multiboot { .. } => multiboot::load(cpu, files),
    }
}

/// Where the loaders put their GDT.
pub const GDT_ADDR: u32 = 0x500;
/// The flat 4 GiB code segment selector (Linux's `__BOOT_CS`).
pub const BOOT_CS: u16 = 0x10;
/// The flat 4 GiB data segment selector (Linux's `__BOOT_DS`).
pub const BOOT_DS: u16 = 0x18;

/// A descriptor's access byte and flags nibble, as [`Segment::attr`] holds
/// them: present, DPL 0, code execute/read (or data read/write), accessed,
/// 32-bit, 4 KiB granularity.
const FLAT_CODE_ATTR: u16 = 0xC09B;
const FLAT_DATA_ATTR: u16 = 0xC093;

/// The GDT: two null entries, then flat code at 0x10 and flat data at 0x18.
fn gdt_bytes() -> [u8; 32] {
    let mut gdt = [0u8; 32];
    for (sel, attr) in [(BOOT_CS, FLAT_CODE_ATTR), (BOOT_DS, FLAT_DATA_ATTR)] {
        let lo: u32 = 0x0000_FFFF; // base 0, limit 0xFFFFF (x 4 KiB)
        let hi: u32 = ((attr as u32 & 0xF0FF) << 8) | 0x000F_0000;
        let i = sel as usize;
        gdt[i..i + 4].copy_from_slice(&lo.to_le_bytes());
        gdt[i + 4..i + 8].copy_from_slice(&hi.to_le_bytes());
    }
    gdt
}

fn flat_segment(selector: u16, attr: u16) -> Segment {
    Segment {
        selector,
        base: 0,
        limit: 0xFFFF_FFFF,
        attr,
    }
}

/// Puts the CPU in flat 32-bit protected mode at `entry`, as both boot
/// protocols want it: paging off, interrupts off, a GDT at [`GDT_ADDR`]
/// with CS = [`BOOT_CS`] and DS = ES = SS = FS = GS = [`BOOT_DS`] (4 GiB
/// flat), the A20 gate open, and the general registers set to `regs`
/// (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI).
pub fn enter_flat_protected_mode(cpu: &mut Cpu, entry: u32, regs: [u32; 8]) {
    cpu.mem.set_a20(true);
    cpu.mem.write_bytes(GDT_ADDR, &gdt_bytes());
    cpu.gdtr = DescriptorTable {
        base: GDT_ADDR,
        limit: 32 - 1,
    };
    // No IDT: an exception before the kernel sets up its own shuts the
    // machine down rather than vectoring through garbage.
    cpu.idtr = DescriptorTable { base: 0, limit: 0 };
    cpu.ldtr = Segment::default();
    cpu.cr0 = cr0::PE | cr0::ET;
    cpu.cr2 = 0;
    cpu.cr3 = 0;
    cpu.cr4 = 0;
    for s in SegReg::ALL {
        cpu.segs[s as usize] = if s == SegReg::CS {
            flat_segment(BOOT_CS, FLAT_CODE_ATTR)
        } else {
            flat_segment(BOOT_DS, FLAT_DATA_ATTR)
        };
    }
    cpu.cpl = 0;
    cpu.set_eflags(0);
    cpu.regs = regs;
    cpu.eip = entry;
    cpu.halted = false;
}

/// Writes the BIOS data area's memory words a kernel may read when no BIOS
/// ran: the EBDA segment (40:0E) and the base memory size in KiB (40:13).
fn write_bda_memory(cpu: &mut Cpu) {
    cpu.mem
        .write_bytes(0x40E, &((EBDA_START >> 4) as u16).to_le_bytes());
    cpu.mem
        .write_bytes(0x413, &((EBDA_START >> 10) as u16).to_le_bytes());
}

/// Rounds `v` up to a multiple of `align` (a power of two).
fn align_up(v: u64, align: u64) -> u64 {
    (v + align - 1) & !(align - 1)
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e820_map_covers_low_memory_hole_and_high_ram() {
        let map = e820_map(128 << 20);
        assert_eq!(
            map,
            vec![
                E820Entry {
                    base: 0,
                    len: 0x9FC00,
                    kind: E820Kind::Ram
                },
                E820Entry {
                    base: 0x9FC00,
                    len: 0x60400,
                    kind: E820Kind::Reserved
                },
                E820Entry {
                    base: 0x100000,
                    len: (128 << 20) - 0x100000,
                    kind: E820Kind::Ram
                },
            ]
        );
        assert_eq!(e820_map(1 << 20).len(), 2, "no RAM above 1 MiB");
        let b = map[1].to_bytes();
        assert_eq!(le32(&b, 0), 0x9FC00);
        assert_eq!(le32(&b, 8), 0x60400);
        assert_eq!(le32(&b, 16), 2);
    }

    #[test]
    fn gdt_descriptors_are_flat() {
        let gdt = gdt_bytes();
        assert_eq!(&gdt[0..16], &[0; 16]);
        assert_eq!(le32(&gdt, 0x10), 0x0000_FFFF);
        assert_eq!(le32(&gdt, 0x14), 0x00CF_9B00);
        assert_eq!(le32(&gdt, 0x18), 0x0000_FFFF);
        assert_eq!(le32(&gdt, 0x1C), 0x00CF_9300);
    }

    #[test]
    fn unknown_format() {
        assert_eq!(detect(&[0u8; 10000]), Err(LoadError::UnknownFormat));
        assert_eq!(detect(&[]), Err(LoadError::UnknownFormat));
        let mut cpu = Cpu::new(16 << 20);
        let files = BootFiles {
            kernel: &[0x90; 300],
            kernel_name: "k",
            cmdline: "",
            modules: &[],
        };
        let e = load_kernel(&mut cpu, &files).unwrap_err();
        assert!(e.to_string().contains("HdrS"), "{e}");
    }
}
