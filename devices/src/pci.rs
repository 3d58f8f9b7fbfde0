//! PCI configuration mechanism #1 (ports CF8h/CFCh–CFFh) and the two
//! functions every i440FX/PIIX3 PC has: the **82441FX host bridge** (00:00.0,
//! 8086:1237) and the **82371SB PIIX3 PCI-to-ISA bridge** (00:01.0,
//! 8086:7000) with its PIRQ routing registers.
//!
//! Configuration address register (PCI Local Bus spec 2.1, 3.7.4.1):
//! bit 31 enable, bits 23–16 bus, 15–11 device, 10–8 function, 7–2 register.
//! Devices are added to the bus as [`PciFunction`]s: a 256-byte
//! configuration space with a mask of the bits software may write.

use serde::{Deserialize, Serialize};

/// Configuration-space header offsets (PCI spec 2.1, 6.1).
pub mod reg {
    pub const VENDOR_ID: usize = 0x00;
    pub const DEVICE_ID: usize = 0x02;
    pub const COMMAND: usize = 0x04;
    pub const STATUS: usize = 0x06;
    pub const REVISION: usize = 0x08;
    pub const CLASS_PROG: usize = 0x09;
    pub const HEADER_TYPE: usize = 0x0E;
}

/// One PCI function's configuration space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PciFunction {
    /// Bus 0 device number and function number.
    pub device: u8,
    pub function: u8,
    config: Vec<u8>,
    /// Per byte: which bits a configuration write may change.
    writable: Vec<u8>,
}

impl PciFunction {
    /// A function with the given IDs, class code (class, subclass, prog-if)
    /// and header type; everything else reads as zero and is read-only until
    /// [`set_writable`](Self::set_writable) opens it.
    pub fn new(
        device: u8,
        function: u8,
        vendor: u16,
        id: u16,
        class: [u8; 3],
        header_type: u8,
    ) -> PciFunction {
        let mut f = PciFunction {
            device,
            function,
            config: vec![0; 256],
            writable: vec![0; 256],
        };
        f.set16(reg::VENDOR_ID, vendor);
        f.set16(reg::DEVICE_ID, id);
        f.config[reg::CLASS_PROG] = class[2];
        f.config[reg::CLASS_PROG + 1] = class[1];
        f.config[reg::CLASS_PROG + 2] = class[0];
        f.config[reg::HEADER_TYPE] = header_type;
        f
    }

    /// Sets a 16-bit register's value (as the hardware's reset value).
    pub fn set16(&mut self, offset: usize, value: u16) {
        self.config[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }

    /// Sets a byte's reset value.
    pub fn set8(&mut self, offset: usize, value: u8) {
        self.config[offset] = value;
    }

    /// Lets software change `mask` bits of each byte in `range`.
    pub fn set_writable(&mut self, range: std::ops::Range<usize>, mask: u8) {
        for b in &mut self.writable[range] {
            *b = mask;
        }
    }

    /// A configuration byte.
    pub fn read8(&self, offset: usize) -> u8 {
        self.config[offset & 0xFF]
    }

    /// A configuration write of one byte, through the writable mask.
    pub fn write8(&mut self, offset: usize, value: u8) {
        let offset = offset & 0xFF;
        let m = self.writable[offset];
        self.config[offset] = (self.config[offset] & !m) | (value & m);
    }
}

/// Bus 0 with configuration mechanism #1.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PciBus {
    /// The configuration address register (CF8h).
    address: u32,
    functions: Vec<PciFunction>,
}

/// The PIIX3's PIRQ route control registers (PIRQA–D at 60h–63h): bit 7
/// set disables routing; bits 3–0 give the ISA IRQ.
pub const PIIX3_PIRQ_ROUTE: usize = 0x60;

impl PciBus {
    /// The i440FX host bridge at 00:00.0 and the PIIX3 ISA bridge at 00:01.0.
    pub fn i440fx() -> PciBus {
        let mut host = PciFunction::new(0, 0, 0x8086, 0x1237, [0x06, 0x00, 0x00], 0x00);
        host.set16(reg::COMMAND, 0x0006);
        host.set16(reg::STATUS, 0x0280);
        host.set8(reg::REVISION, 0x02);
        host.set_writable(reg::COMMAND..reg::COMMAND + 1, 0x40);
        // PAM0–PAM6 (59h–5Fh, BIOS shadowing) and SMRAM (72h) are read/write.
        host.set_writable(0x59..0x60, 0x33);
        host.set_writable(0x72..0x73, 0x78);
        let mut isa = PciFunction::new(1, 0, 0x8086, 0x7000, [0x06, 0x01, 0x00], 0x80);
        isa.set16(reg::COMMAND, 0x0007);
        isa.set16(reg::STATUS, 0x0200);
        for n in 0..4 {
            isa.set8(PIIX3_PIRQ_ROUTE + n, 0x80);
        }
        isa.set_writable(PIIX3_PIRQ_ROUTE..PIIX3_PIRQ_ROUTE + 4, 0x8F);
        PciBus {
            address: 0,
            functions: vec![host, isa],
        }
    }

    /// Adds a function on bus 0.
    pub fn add(&mut self, f: PciFunction) {
        self.functions.push(f);
    }

    /// The function at bus 0 `device`.`function`, if present.
    pub fn function(&self, device: u8, function: u8) -> Option<&PciFunction> {
        self.functions
            .iter()
            .find(|f| f.device == device && f.function == function)
    }

    /// The function at bus 0 `device`.`function`, for the board to program
    /// as firmware would.
    pub fn function_mut(&mut self, device: u8, function: u8) -> Option<&mut PciFunction> {
        self.functions
            .iter_mut()
            .find(|f| f.device == device && f.function == function)
    }

    /// The ISA IRQ that PIRQ `n` (0 = A) is routed to, if routing is enabled.
    pub fn pirq_route(&self, n: usize) -> Option<u8> {
        let r = self.function(1, 0)?.read8(PIIX3_PIRQ_ROUTE + n);
        (r & 0x80 == 0).then_some(r & 0x0F)
    }

    /// The function the address register selects, with the register offset.
    fn selected(&mut self, port: u16) -> Option<(&mut PciFunction, usize)> {
        let a = self.address;
        let (bus, dev, func) = (
            (a >> 16) & 0xFF,
            ((a >> 11) & 0x1F) as u8,
            ((a >> 8) & 7) as u8,
        );
        if a & 0x8000_0000 == 0 || bus != 0 {
            return None;
        }
        let offset = (a & 0xFC) as usize + (port - 0xCFC) as usize;
        self.functions
            .iter_mut()
            .find(|f| f.device == dev && f.function == func)
            .map(|f| (f, offset))
    }

    /// A byte read from CF8h–CFBh or CFCh–CFFh.
    pub fn read8(&mut self, port: u16) -> u8 {
        match port {
            0xCF8..=0xCFB => (self.address >> (8 * (port - 0xCF8))) as u8,
            // An absent function reads all ones (a master abort).
            _ => self.selected(port).map_or(0xFF, |(f, off)| f.read8(off)),
        }
    }

    /// A byte write. The address register takes only whole-dword writes
    /// (the board passes those as [`write_address`](Self::write_address)).
    pub fn write8(&mut self, port: u16, value: u8) {
        if let Some((f, off)) = self.selected(port) {
            f.write8(off, value);
        }
    }

    /// Whether a data-port access at `port` reaches the host bridge's PAM
    /// registers (59h–5Fh).
    pub fn selects_pam(&self, port: u16) -> bool {
        let a = self.address;
        let offset = (a & 0xFC) + (port as u32 & 3);
        a & 0x80FF_FF00 == 0x8000_0000 && (0x59..0x60).contains(&offset)
    }

    /// A 32-bit write to CF8h: bits 1–0 are reserved and read back as zero.
    pub fn write_address(&mut self, value: u32) {
        self.address = value & 0x80FF_FFFC;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read32(bus: &mut PciBus, dev: u32, reg: u32) -> u32 {
        bus.write_address(0x8000_0000 | dev << 11 | reg);
        (0..4).fold(0, |v, i| v | (bus.read8(0xCFC + i) as u32) << (8 * i))
    }

    #[test]
    fn enumerates_the_i440fx_and_piix3() {
        let mut bus = PciBus::i440fx();
        assert_eq!(read32(&mut bus, 0, 0), 0x1237_8086);
        assert_eq!(read32(&mut bus, 1, 0), 0x7000_8086);
        assert_eq!(read32(&mut bus, 1, 8) >> 8, 0x06_01_00, "ISA bridge class");
        assert_eq!(
            read32(&mut bus, 2, 0),
            0xFFFF_FFFF,
            "empty slot: master abort"
        );
    }

    #[test]
    fn pirq_routing_registers_are_writable() {
        let mut bus = PciBus::i440fx();
        assert_eq!(
            bus.pirq_route(0),
            None,
            "disabled at reset (82371SB datasheet, PIRQRC)"
        );
        bus.write_address(0x8000_0000 | 1 << 11 | 0x60);
        bus.write8(0xCFC, 0x0B);
        bus.write8(0xCFD, 0x8A);
        assert_eq!(bus.pirq_route(0), Some(11));
        assert_eq!(bus.pirq_route(1), None);
    }

    #[test]
    fn read_only_ids_ignore_writes() {
        let mut bus = PciBus::i440fx();
        bus.write_address(0x8000_0000);
        bus.write8(0xCFC, 0x00);
        assert_eq!(read32(&mut bus, 0, 0), 0x1237_8086);
    }
}
