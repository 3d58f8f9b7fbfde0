//! ferrite's firmware. The built-in BIOS (ROM stubs whose interrupt vectors
//! enter Rust service routines) lives here; until it lands, machines boot
//! the ROM image given with `--bios`.
