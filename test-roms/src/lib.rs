//! Small guest programs, built from source here, that each check one area of
//! the emulator and report through the debug ports.
//!
//! Every ROM is a 64 KiB BIOS-style image (see [`builder`] for the layout)
//! that starts at the reset vector, prints `PASS <name>` to port 0xE9 and
//! writes 0 to port 0xF4 when all its checks pass, or prints
//! `FAIL <name>: <what> ...` and writes 1 to port 0xF4 on the first failed
//! check.

pub mod builder;
pub mod faults;

pub mod arith;
pub mod exceptions;
pub mod ivt;
pub mod smc;
pub mod strings;
pub mod unreal;

pub use builder::RomImage;

/// Every ROM, by name.
pub fn all() -> Vec<(&'static str, fn() -> Vec<u8>)> {
    vec![
        ("arith", arith::build),
        ("strings", strings::build),
        ("ivt", ivt::build),
        ("exceptions", exceptions::build),
        ("smc", smc::build),
        ("unreal", unreal::build),
    ]
}

/// Every ROM with the builder's knowledge of it (code ranges, entry).
pub fn all_images() -> Vec<(&'static str, fn() -> RomImage)> {
    vec![
        ("arith", arith::image),
        ("strings", strings::image),
        ("ivt", ivt::image),
        ("exceptions", exceptions::image),
        ("smc", smc::image),
        ("unreal", unreal::image),
    ]
}
