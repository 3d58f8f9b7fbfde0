//! `strings` ROM.

use crate::builder::*;
use iced_x86::code_asm::*;

/// Builds the ROM image.
pub fn build() -> Vec<u8> {
    image().bytes
}

/// Builds the ROM with layout information.
pub fn image() -> RomImage {
    build_rom("strings", body)
}

fn body(a: &mut Asm) -> R {
    a.mov(eax, 0x12345678u32)?;
    a.check32(eax, 0x12345679, "sanity")?;
    Ok(())
}
