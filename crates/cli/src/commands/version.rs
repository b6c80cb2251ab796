//! `compose version`.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    Pretty,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Shows only the version number.
    #[arg(long)]
    pub short: bool,
    /// Format the output.
    #[arg(short, long, value_enum, default_value_t = VersionFormat::Pretty)]
    pub format: VersionFormat,
}

pub fn run(args: &VersionArgs) -> anyhow::Result<ExitCode> {
    let v = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{v}");
    } else if args.format == VersionFormat::Json {
        println!("{}", serde_json::json!({ "version": format!("v{v}") }));
    } else {
        println!("compose version v{v}");
    }
    Ok(ExitCode::SUCCESS)
}
