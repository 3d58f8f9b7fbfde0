//! Command-line syntax: `ferrite run ...`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Exit status for bad input (unreadable or malformed files, bad flags).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status when `--max-instructions` ran out.
pub const EXIT_INSTRUCTION_LIMIT: u8 = 124;
/// Exit status when the guest reset the machine under `--no-reboot`.
pub const EXIT_RESET: u8 = 126;

#[derive(Parser)]
#[command(name = "ferrite", version, about = "A pure-software x86 PC emulator")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Boot a machine and run it.
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// Firmware ROM image (a multiple of 64 KiB, at most 1 MiB), mapped to
    /// end at 0xFFFFF and 0xFFFFFFFF; the CPU starts at F000:FFF0. Optional
    /// with --kernel (then it is only mapped, and the CPU starts in the kernel).
    #[arg(long, value_name = "ROM", required_unless_present = "kernel")]
    pub bios: Option<PathBuf>,

    /// Boot this kernel directly, as a boot loader would: a Linux bzImage
    /// (x86 boot protocol 2.04 or later, entered at its 32-bit entry) or a
    /// Multiboot v1 kernel (ELF32 or a.out kludge).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,

    /// Linux: the initrd (several files separated by commas are
    /// concatenated). Multiboot: the modules, separated by commas, each a
    /// file name optionally followed by a space and arguments (the whole
    /// item is the module's string).
    #[arg(long, value_name = "FILE[,FILE...]", requires = "kernel")]
    pub initrd: Option<String>,

    /// The kernel command line.
    #[arg(long, value_name = "CMDLINE", requires = "kernel")]
    pub append: Option<String>,

    /// Guest RAM: a size with a K, M or G suffix (binary units); a plain
    /// number is MiB, as in QEMU.
    #[arg(long, short = 'm', value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub memory: u64,

    /// Where bytes written to the debug console (port 0xE9) go: `stdout`,
    /// `none`, or a file path.
    #[arg(long, value_name = "stdout|none|PATH", default_value = "stdout")]
    pub debugcon: String,

    /// Record POST codes (port 0x80) as hex lines in this file.
    #[arg(long, value_name = "PATH")]
    pub post_log: Option<PathBuf>,

    /// COM1's back-end: `stdio`, `file:PATH`, or `none`. Repeat for COM2,
    /// COM3 and COM4, in order, as with QEMU's `-serial`; ports without a
    /// back-end are not fitted. With `stdio` on a terminal, the terminal is
    /// raw and Ctrl-A x quits.
    #[arg(long, value_name = "stdio|file:PATH|none", default_value = "stdio")]
    pub serial: Vec<String>,

    /// Keep virtual time from running ahead of the wall clock (for
    /// interactive use). It decides only when the machine runs, never what
    /// it does.
    #[arg(long)]
    pub realtime: bool,

    /// Stop after this many instructions (exit status 124).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub max_instructions: Option<u64>,

    /// End the run on a reset request or triple fault instead of rebooting
    /// (exit status 126).
    #[arg(long)]
    pub no_reboot: bool,
}

/// Parses a memory size: `16M`, `512K`, `1G`, or a plain number of MiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'M'),
    };
    let shift = match unit {
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => {
            return Err(format!(
                "unknown size unit '{unit}' in '{s}' (use K, M or G)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (examples: 16M, 512K, 1G)"))?;
    let bytes = n
        .checked_shl(shift)
        .filter(|&b| b >> shift == n)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    const MIN: u64 = 1 << 20;
    const MAX: u64 = 3 << 30;
    if !(MIN..=MAX).contains(&bytes) {
        return Err(format!("memory size {s} is out of range (1M to 3G)"));
    }
    Ok(bytes)
}

/// Parses an instruction count, allowing `_` separators and k/M/G suffixes.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t: String = s.trim().chars().filter(|&c| c != '_').collect();
    let (digits, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('M') => (&t[..t.len() - 1], 1_000_000),
        Some('G') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (&t[..], 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("'{s}' is not an instruction count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("128"), Ok(128 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1024K"), Ok(1 << 20));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("abc").is_err());
        assert!(parse_size("512K").is_err(), "below the minimum");
        assert!(parse_size("99999999999999G").is_err());
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        let cli = Cli::try_parse_from(["ferrite", "run"].iter().chain(args))?;
        match cli.command {
            Command::Run(a) => Ok(a),
        }
    }

    #[test]
    fn bios_or_kernel_is_needed() {
        assert!(parse(&[]).is_err());
        let a = parse(&["--bios", "b.rom"]).unwrap();
        assert_eq!(a.bios.as_deref(), Some("b.rom".as_ref()));
        assert!(a.kernel.is_none());
        let a = parse(&[
            "--kernel",
            "vmlinuz",
            "--initrd",
            "a.img,b.img",
            "--append",
            "console=ttyS0 quiet",
        ])
        .unwrap();
        assert!(a.bios.is_none());
        assert_eq!(a.kernel.as_deref(), Some("vmlinuz".as_ref()));
        assert_eq!(a.initrd.as_deref(), Some("a.img,b.img"));
        assert_eq!(a.append.as_deref(), Some("console=ttyS0 quiet"));
        assert!(parse(&["--bios", "b.rom", "--kernel", "k"]).is_ok());
    }

    #[test]
    fn initrd_and_append_need_a_kernel() {
        let e = parse(&["--bios", "b.rom", "--initrd", "x"]).err().unwrap();
        assert_eq!(e.exit_code(), EXIT_BAD_INPUT as i32);
        assert!(parse(&["--bios", "b.rom", "--append", "x"]).is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1_000"), Ok(1000));
        assert_eq!(parse_count("5M"), Ok(5_000_000));
        assert!(parse_count("-1").is_err());
        assert!(parse_count("").is_err());
    }
}
