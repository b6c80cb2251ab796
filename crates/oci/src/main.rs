//! `compose-oci`: an OCI runtime command line (create, start, state, kill, delete, run,
//! list) on compose's runtime, so that tools made for runc and crun can drive it.
//!
//! No Rust `main`: the C `main` below is the entry point, so std's start-up (a stack guard
//! found by reading `/proc/self/maps`, an alternate signal stack and its SIGSEGV/SIGBUS
//! handlers, SIGPIPE ignored) is skipped, as crun and runc have none of it. Arguments still
//! come from `std::env` (std records them before `main` on glibc). SIGPIPE keeps its
//! default action, as in those runtimes; stdout is flushed before returning.

#![cfg_attr(not(test), no_main)]

mod bundle;
mod cli;
mod commands;
mod log;
mod meta;
mod time;

/// The C entry point (see the module's doc); unit tests keep the test harness's own.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let code = run();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    libc::c_int::from(code)
}

#[cfg_attr(test, allow(dead_code))]
fn run() -> u8 {
    let cli = match cli::Cli::parse_from(std::env::args_os().skip(1)) {
        Ok(cli::Parsed::Run(cli)) => cli,
        Ok(cli::Parsed::Print(text)) => {
            print!("{text}");
            return 0;
        }
        Err(cli::UsageError(msg)) => {
            eprintln!("compose-oci: {msg}");
            return 2;
        }
    };
    let logger = log::Logger::new(cli.log.clone(), cli.log_format);
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            logger.error(&format!("{err:#}"));
            1
        }
    }
}
