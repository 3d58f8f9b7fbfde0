//! `ferrite`: the command-line front end of the emulator.

mod cli;
mod headless;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => match headless::run(&args) {
            Ok(status) => ExitCode::from(status),
            Err(e) => {
                eprintln!("ferrite: {e}");
                ExitCode::from(cli::EXIT_BAD_INPUT)
            }
        },
    }
}
