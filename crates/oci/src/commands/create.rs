//! `create`: the container set up from its bundle, its init waiting for `start`.

use anyhow::Context;
use compose_runtime::{Container, Runtime};

use crate::bundle::Bundle;
use crate::cli::CreateArgs;
use crate::meta::Meta;

pub fn create(rt: &Runtime, a: &CreateArgs) -> anyhow::Result<Container> {
    let (c, meta) = create_unrecorded(rt, a, false)?;
    record(c, &meta, a)
}

/// The container made, its meta not yet saved: `run` saves it after `start`, while the
/// process runs, rather than in the init's way between its setup and its exec. With
/// `at_once` (`run`), the process starts as soon as the container is set up: no exec fifo
/// to make, open and remove ([`compose_runtime::CreateOptions::start_at_once`]).
pub fn create_unrecorded(
    rt: &Runtime,
    a: &CreateArgs,
    at_once: bool,
) -> anyhow::Result<(Container, Meta)> {
    let bundle = Bundle::load(&a.bundle)?;
    // As runc: a terminal needs a console socket to hand its master to, and a console
    // socket is for a terminal.
    match (bundle.terminal, &a.console_socket) {
        (true, None) => anyhow::bail!(
            "{}: process.terminal is true: give --console-socket, where the terminal's \
             master is sent",
            a.bundle.join("config.json").display()
        ),
        (false, Some(_)) => anyhow::bail!(
            "--console-socket is for a process with a terminal (process.terminal is false)"
        ),
        _ => {}
    }
    let opts = compose_runtime::CreateOptions {
        start_at_once: at_once,
        console_socket: a.console_socket.clone(),
        ..bundle.opts.clone()
    };
    let c = rt
        .create(&a.id, &bundle.spec, &bundle.runtime_rootfs(), &opts)
        .with_context(|| format!("create {}", a.id))?;
    let meta = Meta {
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::rfc3339_now(),
        annotations: bundle
            .spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    Ok((c, meta))
}

/// Saves the container's meta and pid file; on failure it is deleted.
pub fn record(c: Container, meta: &Meta, a: &CreateArgs) -> anyhow::Result<Container> {
    let saved = meta.save(c.dir()).and_then(|()| write_pid_file(a, c.pid()));
    if let Err(e) = saved {
        // Not half-made: the container goes if we cannot say where it is.
        let _ = c.delete(true);
        return Err(e);
    }
    Ok(c)
}

fn write_pid_file(a: &CreateArgs, pid: i32) -> anyhow::Result<()> {
    let Some(path) = &a.pid_file else {
        return Ok(());
    };
    // Written whole then renamed: a reader never sees a partial pid.
    let tmp = path.with_extension("tmp-compose-oci");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("pid file {}", path.display()))
}
