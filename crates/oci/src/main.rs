//! `compose-oci`: an OCI runtime command line (create, start, state, kill, delete, run,
//! list) on compose's runtime, so that tools made for runc and crun can drive it.

mod bundle;
mod cli;
mod commands;
mod log;
mod meta;
mod time;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = cli::Cli::parse();
    let logger = log::Logger::new(cli.log.clone(), cli.log_format);
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            logger.error(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}

/// `create` makes the cgroups on a second thread; its first allocation would map a new
/// 128 MB malloc arena (and trim it at exit), which costs more than the few allocations it
/// makes would ever contend for the main one.
fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
