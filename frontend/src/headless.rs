//! The headless runner: builds a machine from the command line, runs it
//! without a display, and turns the way it stopped into an exit status.

use crate::cli::{RunArgs, EXIT_INSTRUCTION_LIMIT, EXIT_RESET};
use devices::debug_ports::Sink;
use devices::pc::{Pc, PcConfig, Stop};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Largest firmware image: the whole first megabyte.
const MAX_BIOS: usize = 1 << 20;
const BIOS_UNIT: usize = 64 << 10;

/// Runs the machine; returns the process exit status, or a one-line error.
pub fn run(args: &RunArgs) -> Result<u8, String> {
    let bios = read_bios(&args.bios)?;
    let config = PcConfig {
        ram_bytes: args.memory as usize,
        bios,
        debugcon: output(&args.debugcon, "stdout", "--debugcon")?,
        post_log: match &args.post_log {
            Some(p) => Some(create(p)?),
            None => None,
        },
        serial: [serial_output(&args.serial)?, None, None, None],
        no_reboot: args.no_reboot,
        ..PcConfig::default()
    };
    let mut pc = Pc::new(config);
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
        Stop::Reset => {
            eprintln!(
                "ferrite: the guest reset the machine (--no-reboot) after {icount} instructions"
            );
            EXIT_RESET
        }
    })
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
