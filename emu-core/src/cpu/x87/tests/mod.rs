//! Tests of the FPU: behaviour through instructions run on a CPU, and
//! (on x86-64 hosts) bit-for-bit comparisons with the host's own x87.

#[cfg(target_arch = "x86_64")]
mod host;
mod unit;
