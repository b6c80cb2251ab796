//! `compose port`: the public address of a container's published port.

use std::process::ExitCode;

use super::up::Session;
use crate::Global;

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(value_name = "PRIVATE_PORT")]
    pub private_port: u16,
    /// tcp or udp.
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp"])]
    pub protocol: String,
    /// Index of the container if service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
}

pub fn run(global: &Global, args: &PortArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(global, std::slice::from_ref(&args.service))?;
    let project = session.project()?;
    project.service(&args.service)?;
    match session.engine.published_port(
        project.name,
        &args.service,
        args.index,
        args.private_port,
        &args.protocol,
    )? {
        Some(addr) => {
            println!("{addr}");
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!(
            "no port {}/{} published for service \"{}\"",
            args.private_port,
            args.protocol,
            args.service
        ),
    }
}
