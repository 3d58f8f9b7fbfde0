//! The headless runner: builds a machine from the command line, runs it
//! without a display, and turns the way it stopped into an exit status.

use crate::cli::{RunArgs, EXIT_INSTRUCTION_LIMIT, EXIT_RESET};
use crate::terminal;
use bios::acpi::AcpiBoard;
use bios::{BootFiles, KernelFormat, Module};
use devices::debug_ports::Sink;
use devices::hpet::{self, Hpet};
use devices::pc::{Pc, PcConfig, Stop};
use devices::piix4_pm;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest firmware image: the whole first megabyte.
const MAX_BIOS: usize = 1 << 20;
const BIOS_UNIT: usize = 64 << 10;

/// Runs the machine; returns the process exit status, or a one-line error.
pub fn run(args: &RunArgs) -> Result<u8, String> {
    let bios = match &args.bios {
        Some(path) => read_bios(path)?,
        None => Vec::new(),
    };
    let kernel = match &args.kernel {
        Some(path) => Some(KernelFiles::read(path, args)?),
        None => None,
    };
    // With no firmware there is nothing to reboot into (a reset would start
    // the CPU at F000:FFF0 in empty memory): a reset ends the run.
    let firmware = !bios.is_empty();
    let config = PcConfig {
        ram_bytes: args.memory as usize,
        bios,
        debugcon: output(&args.debugcon, "stdout", "--debugcon")?,
        post_log: match &args.post_log {
            Some(p) => Some(create(p)?),
            None => None,
        },
        serial: serial_outputs(&args.serial)?,
        no_reboot: args.no_reboot || !firmware,
        ..PcConfig::default()
    };
    // The terminal stays raw (when stdio is a COM port) until the run ends.
    let stdio_port = args.serial.iter().position(|s| s == "stdio");
    let (host_input, _raw_terminal) = stdio_port.map(terminal::stdin_to_com).unzip();
    let mut pc = Pc::new(PcConfig {
        host_input,
        ..config
    });
    if let Some(k) = &kernel {
        k.load(&mut pc)?;
    }
    if args.realtime {
        let start = Instant::now();
        pc.set_pacer(move |virtual_ns| {
            let due = Duration::from_nanos(virtual_ns);
            if let Some(ahead) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(ahead);
            }
        });
    }
    let stop = pc.run(args.max_instructions);
    let icount = pc.cpu.icount;
    Ok(match stop {
        Stop::ExitPort(status) => status.min(255) as u8,
        Stop::Halted => {
            eprintln!(
                "ferrite: the CPU halted with interrupts disabled after {icount} instructions"
            );
            0
        }
        Stop::InstructionLimit => {
            eprintln!("ferrite: instruction limit reached after {icount} instructions");
            EXIT_INSTRUCTION_LIMIT
        }
        Stop::Quit => {
            eprintln!("ferrite: quit after {icount} instructions");
            0
        }
        Stop::PowerOff => {
            eprintln!("ferrite: the guest powered the machine off after {icount} instructions");
            0
        }
        Stop::Reset => {
            let why = if firmware {
                "--no-reboot"
            } else {
                "no firmware to reboot into"
            };
            eprintln!("ferrite: the guest reset the machine ({why}) after {icount} instructions");
            EXIT_RESET
        }
    })
}

/// A kernel for direct boot, with its initrd or modules, read from disk.
struct KernelFiles {
    path: PathBuf,
    kernel: Vec<u8>,
    /// Each module's contents and its string (Multiboot).
    modules: Vec<(Vec<u8>, String)>,
    cmdline: String,
}

impl KernelFiles {
    /// Reads `--kernel` and `--initrd`. For a Multiboot kernel each
    /// comma-separated `--initrd` item is `FILE[ ARGS]` and the whole item is
    /// the module's string; for Linux each item is a file name.
    fn read(path: &Path, args: &RunArgs) -> Result<KernelFiles, String> {
        let kernel = std::fs::read(path)
            .map_err(|e| format!("cannot read kernel '{}': {e}", path.display()))?;
        let format =
            bios::detect(&kernel).map_err(|e| format!("kernel '{}': {e}", path.display()))?;
        let mut modules = Vec::new();
        let items = args.initrd.as_deref().unwrap_or("").split(',');
        for item in items.map(str::trim).filter(|i| !i.is_empty()) {
            let file = match format {
                KernelFormat::Multiboot { .. } => item.split(' ').next().unwrap_or(item),
                KernelFormat::Linux { .. } => item,
            };
            let data =
                std::fs::read(file).map_err(|e| format!("cannot read initrd '{file}': {e}"))?;
            modules.push((data, item.to_string()));
        }
        Ok(KernelFiles {
            path: path.to_path_buf(),
            kernel,
            modules,
            cmdline: args.append.clone().unwrap_or_default(),
        })
    }

    /// Puts the kernel in the machine's RAM and the CPU at its entry.
    fn load(&self, pc: &mut Pc) -> Result<(), String> {
        let modules: Vec<Module> = self
            .modules
            .iter()
            .map(|(data, string)| Module { data, string })
            .collect();
        let name = self.path.to_string_lossy();
        let files = BootFiles {
            kernel: &self.kernel,
            kernel_name: &name,
            cmdline: &self.cmdline,
            modules: &modules,
        };
        let loaded = bios::load_kernel(&mut pc.cpu, &files)
            .map_err(|e| format!("kernel '{}': {e}", self.path.display()))?;
        // No firmware runs: leave the chipset and the ACPI and SMBIOS
        // tables as a BIOS's POST would.
        let pm_base = pc.post_for_direct_boot();
        let board = AcpiBoard {
            pm_base,
            sci_irq: piix4_pm::SCI_IRQ,
            pci_hole_start: pc.cpu.mem.ram_size() as u32,
            hpet_base: hpet::BASE,
            hpet_block_id: Hpet::event_timer_block_id(),
        };
        bios::acpi::install(&mut pc.cpu, &board);
        bios::smbios::install(&mut pc.cpu);
        log::info!("{}: {loaded}", self.path.display());
        Ok(())
    }
}

/// Reads and validates a firmware image.
fn read_bios(path: &Path) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("cannot read BIOS image '{}': {e}", path.display()))?;
    if data.is_empty() || data.len() % BIOS_UNIT != 0 || data.len() > MAX_BIOS {
        return Err(format!(
            "BIOS image '{}' is {} bytes; it must be a non-zero multiple of 64 KiB, at most 1 MiB",
            path.display(),
            data.len()
        ));
    }
    Ok(data)
}

fn create(path: &Path) -> Result<Sink, String> {
    let f = File::create(path).map_err(|e| format!("cannot create '{}': {e}", path.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// `stdout` (or the given alias), `none`, or a file path.
fn output(spec: &str, stdout_name: &str, flag: &str) -> Result<Option<Sink>, String> {
    match spec {
        "" => Err(format!("{flag} needs a value")),
        "none" => Ok(None),
        s if s == stdout_name => Ok(Some(Box::new(io::stdout()))),
        path => create(Path::new(path)).map(Some),
    }
}

/// The back-ends of COM1–COM4 from `--serial`, given once per port.
fn serial_outputs(specs: &[String]) -> Result<[Option<Sink>; 4], String> {
    if specs.len() > 4 {
        return Err(format!(
            "--serial given {} times; the PC has four COM ports",
            specs.len()
        ));
    }
    if specs.iter().filter(|s| *s == "stdio").count() > 1 {
        return Err("--serial stdio can back only one COM port".into());
    }
    let mut ports: [Option<Sink>; 4] = Default::default();
    for (port, spec) in ports.iter_mut().zip(specs) {
        *port = serial_output(spec)?;
    }
    Ok(ports)
}

/// `--serial stdio|file:PATH|none`.
fn serial_output(spec: &str) -> Result<Option<Sink>, String> {
    match spec {
        "stdio" => Ok(Some(Box::new(io::stdout()))),
        "none" => Ok(None),
        s => match s.strip_prefix("file:") {
            Some(path) if !path.is_empty() => create(Path::new(path)).map(Some),
            _ => Err(format!(
                "--serial: '{s}' is not one of stdio, file:PATH, none"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn run_with(args: &[&str]) -> Result<u8, String> {
        let cli = Cli::try_parse_from(["ferrite", "run"].iter().chain(args)).unwrap();
        let Command::Run(a) = cli.command;
        run(&a)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferrite-headless-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// A Multiboot kernel (a.out kludge, loaded at 1 MiB) running `code`.
    fn multiboot(code: &[u8]) -> Vec<u8> {
        let mut k = Vec::new();
        let flags: u32 = 1 << 16;
        for v in [
            0x1BAD_B002u32,
            flags,
            0u32.wrapping_sub(0x1BAD_B002 + flags),
            0x10_0000, // header_addr
            0x10_0000, // load_addr
            0,         // load_end_addr: the whole file
            0,         // bss_end_addr
            0x10_0020, // entry_addr
        ] {
            k.extend_from_slice(&v.to_le_bytes());
        }
        k.extend_from_slice(code);
        k
    }

    /// Exits through port F4h with 10h if EAX holds the boot loader magic
    /// and the information structure lists one module, else with 20h.
    fn multiboot_kernel() -> Vec<u8> {
        multiboot(&[
            0x3D, 0x02, 0xB0, 0xAD, 0x2B, // cmp eax, 2BADB002h
            0x75, 0x0A, // jne bad
            0x83, 0x7B, 0x14, 0x01, // cmp dword [ebx+20], 1 (mods_count)
            0x75, 0x04, // jne bad
            0xB0, 0x10, // mov al, 10h
            0xE6, 0xF4, // out F4h, al
            0xB0, 0x20, // bad: mov al, 20h
            0xE6, 0xF4, // out F4h, al
            0xF4, // hlt
        ])
    }

    /// Each --serial backs the next COM port: the second one is COM2.
    #[test]
    fn second_serial_flag_backs_com2() {
        let kernel = scratch("com2.bin");
        let out = scratch("com2.txt");
        std::fs::write(
            &kernel,
            multiboot(&[
                0x66, 0xBA, 0xFB, 0x02, // mov dx, 2FBh (LCR)
                0xB0, 0x03, 0xEE, // mov al, 3 (8N1); out dx, al
                0x66, 0xBA, 0xF8, 0x02, // mov dx, 2F8h
                0xB0, b'B', // mov al, 'B'
                0xEE, // out dx, al
                0x66, 0xBA, 0xFD, 0x02, // mov dx, 2FDh (LSR)
                0xEC, // wait: in al, dx
                0xA8, 0x40, // test al, 40h (TEMT: sent)
                0x74, 0xFB, // jz wait
                0xB0, 0x10, 0xE6, 0xF4, // mov al, 10h; out F4h, al
            ]),
        )
        .unwrap();
        let com2 = format!("file:{}", out.display());
        let status = run_with(&[
            "--kernel",
            kernel.to_str().unwrap(),
            "--serial",
            "none",
            "--serial",
            &com2,
            "--max-instructions",
            "10M",
        ]);
        let sent = std::fs::read(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&kernel);
        let _ = std::fs::remove_file(&out);
        assert_eq!(status, Ok(0x10 << 1 | 1));
        assert_eq!(sent, b"B");
    }

    #[test]
    fn serial_flags_beyond_four_ports_or_two_stdios_are_bad_input() {
        let kernel = scratch("none.bin");
        std::fs::write(&kernel, multiboot(&[0xF4])).unwrap();
        let k = ["--kernel", kernel.to_str().unwrap()];
        let five = [&k[..], &["--serial", "none"].repeat(5)].concat();
        let e = run_with(&five).unwrap_err();
        assert!(e.contains("four COM ports"), "{e}");
        let two = [&k[..], &["--serial", "stdio", "--serial", "stdio"]].concat();
        let e = run_with(&two).unwrap_err();
        let _ = std::fs::remove_file(&kernel);
        assert!(e.contains("only one"), "{e}");
    }

    #[test]
    fn boots_a_multiboot_kernel_with_a_module() {
        let kernel = scratch("mb.bin");
        let module = scratch("module.bin");
        std::fs::write(&kernel, multiboot_kernel()).unwrap();
        std::fs::write(&module, b"module data").unwrap();
        let initrd = format!("{} some args", module.display());
        let status = run_with(&[
            "--kernel",
            kernel.to_str().unwrap(),
            "--initrd",
            &initrd,
            "--append",
            "x=1",
            "--serial",
            "none",
            "--max-instructions",
            "1M",
        ]);
        let _ = std::fs::remove_file(&kernel);
        let _ = std::fs::remove_file(&module);
        assert_eq!(status, Ok(0x10 << 1 | 1));
    }

    #[test]
    fn kernel_errors_are_one_line() {
        let not_kernel = scratch("not-a-kernel");
        std::fs::write(&not_kernel, [0u8; 1000]).unwrap();
        let e = run_with(&["--kernel", not_kernel.to_str().unwrap()]).unwrap_err();
        assert!(e.contains("not-a-kernel") && e.contains("HdrS"), "{e}");
        assert!(!e.contains('\n'));
        let e = run_with(&["--kernel", "/nonexistent/vmlinuz"]).unwrap_err();
        assert!(
            e.starts_with("cannot read kernel '/nonexistent/vmlinuz'"),
            "{e}"
        );
        let kernel = scratch("mb2.bin");
        std::fs::write(&kernel, multiboot_kernel()).unwrap();
        let e = run_with(&[
            "--kernel",
            kernel.to_str().unwrap(),
            "--initrd",
            "/nonexistent/module args",
        ])
        .unwrap_err();
        assert!(
            e.contains("cannot read initrd '/nonexistent/module'"),
            "{e}"
        );
        let _ = std::fs::remove_file(&not_kernel);
        let _ = std::fs::remove_file(&kernel);
    }
}
