//! The `ferrite` command as a library, so that tests run exactly what the
//! binary runs, in-process.

pub mod cli;
pub mod headless;
pub mod terminal;

use clap::Parser;
use std::ffi::OsString;

/// Runs `ferrite` with the given command line (program name first) and
/// returns the process exit status. Usage errors print clap's message.
pub fn main_with<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                cli::EXIT_BAD_INPUT
            } else {
                0
            };
        }
    };
    match cli.command {
        cli::Command::Run(args) => match headless::run(&args) {
            Ok(status) => status,
            Err(e) => {
                eprintln!("ferrite: {e}");
                cli::EXIT_BAD_INPUT
            }
        },
    }
}
