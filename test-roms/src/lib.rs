//! Small guest programs, built from source here, that each check one area of
//! the emulator and report through the debug ports.
//!
//! Every ROM is a 64 KiB BIOS-style image (see [`builder`] for the layout)
//! that starts at the reset vector, prints `PASS <name>` to port 0xE9 and
//! writes 0 to port 0xF4 when all its checks pass, or prints
//! `FAIL <name>: <what> ...` and writes 1 to port 0xF4 on the first failed
//! check. Any interrupt or exception a ROM did not ask for is reported as
//! `FAIL <name>: unexpected interrupt VV at CCCC:IIII` (in protected mode,
//! see [`code32`]). ROMs also write progress codes to port 0x80.
//!
//! * `cargo run -p test-roms --bin build-roms -- out/` writes `out/<name>.rom`.
//! * `test-roms/run-qemu.sh` and `test-roms/run-bochs.sh` run the ROMs under
//!   QEMU or Bochs, if installed, as a cross-check of the ROMs themselves
//!   (QEMU does not enforce real-mode segment limits, so the `exceptions`
//!   and `unreal` ROMs fail there at their first limit check; Bochs passes
//!   them all).

pub mod builder;
pub mod code32;
pub mod faults;

pub mod arith;
pub mod exceptions;
pub mod ivt;
pub mod platform;
pub mod protected;
pub mod smc;
pub mod strings;
pub mod unreal;

pub use builder::RomImage;

/// Builds one ROM image.
pub type BuildFn = fn() -> Vec<u8>;
/// Builds one ROM with layout information.
pub type ImageFn = fn() -> RomImage;

/// Every ROM, by name.
pub fn all() -> Vec<(&'static str, BuildFn)> {
    vec![
        ("arith", arith::build),
        ("strings", strings::build),
        ("ivt", ivt::build),
        ("exceptions", exceptions::build),
        ("smc", smc::build),
        ("unreal", unreal::build),
        ("protected", protected::build),
    ]
}

/// Every ROM with the builder's knowledge of it (code ranges, entry).
pub fn all_images() -> Vec<(&'static str, ImageFn)> {
    vec![
        ("arith", arith::image),
        ("strings", strings::image),
        ("ivt", ivt::image),
        ("exceptions", exceptions::image),
        ("smc", smc::image),
        ("unreal", unreal::image),
        ("protected", protected::image),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{RESET_OFFSET, ROM_SEG, ROM_SIZE};
    use iced_x86::{Code, Decoder, DecoderOptions};

    #[test]
    fn registries_agree() {
        let a: Vec<_> = all().into_iter().map(|(n, _)| n).collect();
        let b: Vec<_> = all_images().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            a, b,
            "all() and all_images() must list the same ROMs in the same order"
        );
        for name in [
            "arith",
            "strings",
            "ivt",
            "exceptions",
            "smc",
            "unreal",
            "protected",
        ] {
            assert!(a.contains(&name), "{name} is not registered");
        }
    }

    #[test]
    fn every_rom_is_well_formed() {
        let builds = all();
        for (name, image) in all_images() {
            let img = image();
            let bytes = &img.bytes;
            if let Some((_, build)) = builds.iter().find(|(n, _)| *n == name) {
                assert_eq!(&build(), bytes, "{name}: build() and image() differ");
            }
            assert_eq!(bytes.len(), ROM_SIZE, "{name}: size");
            assert_eq!(
                bytes.len() % 0x10000,
                0,
                "{name}: size is not a multiple of 64 KiB"
            );
            let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
            assert_eq!(sum, 0, "{name}: checksum");
            // Reset vector: jmp far F000:entry.
            let rv = &bytes[RESET_OFFSET..RESET_OFFSET + 5];
            assert_eq!(rv[0], 0xEA, "{name}: no far jump at the reset vector");
            assert_eq!(
                u16::from_le_bytes([rv[1], rv[2]]),
                img.entry,
                "{name}: reset vector offset"
            );
            assert_eq!(
                u16::from_le_bytes([rv[3], rv[4]]),
                ROM_SEG,
                "{name}: reset vector segment"
            );
            let entry = img.entry as usize;
            assert!(
                img.code.iter().any(|r| r.contains(&entry)),
                "{name}: the reset vector does not jump into code"
            );
            // The report strings are in the image.
            let pass = format!("PASS {name}\n");
            assert!(
                bytes.windows(pass.len()).any(|w| w == pass.as_bytes()),
                "{name}: no PASS string"
            );
            let fail = format!("FAIL {name}: ");
            assert!(
                bytes.windows(fail.len()).any(|w| w == fail.as_bytes()),
                "{name}: no FAIL string"
            );
        }
    }

    #[test]
    fn code_decodes_without_invalid_instructions() {
        for (name, image) in all_images() {
            let img = image();
            let mut count = 0usize;
            for r in &img.code {
                assert!(
                    r.start < r.end && r.end <= img.bytes.len(),
                    "{name}: bad range {r:?}"
                );
                let mut d = Decoder::with_ip(
                    16,
                    &img.bytes[r.clone()],
                    r.start as u64,
                    DecoderOptions::NONE,
                );
                let mut end = r.start as u64;
                for ins in &mut d {
                    assert_ne!(
                        ins.code(),
                        Code::INVALID,
                        "{name}: invalid instruction at {:#06x}: {:02x?}",
                        ins.ip(),
                        &img.bytes[ins.ip() as usize..(ins.ip() as usize + 4).min(img.bytes.len())]
                    );
                    end = ins.next_ip();
                    count += 1;
                }
                assert_eq!(
                    end, r.end as u64,
                    "{name}: code range {r:?} does not end on an instruction boundary"
                );
            }
            assert!(count > 500, "{name}: only {count} instructions");
        }
    }
}
