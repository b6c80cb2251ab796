//! `compose-oci`: an OCI runtime command line (create, start, state, kill, delete, run,
//! list) on compose's runtime, so that tools made for runc and crun can drive it.

mod bundle;
mod cli;
mod commands;
mod log;
mod meta;
mod time;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::parse_from(std::env::args_os().skip(1)) {
        Ok(cli::Parsed::Run(cli)) => cli,
        Ok(cli::Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(cli::UsageError(msg)) => {
            eprintln!("compose-oci: {msg}");
            return ExitCode::from(2);
        }
    };
    let logger = log::Logger::new(cli.log.clone(), cli.log_format);
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            logger.error(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}
