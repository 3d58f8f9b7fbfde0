//! `ferrite`: the command-line front end of the emulator.

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    ExitCode::from(frontend::main_with(std::env::args_os()))
}
