//! `exec`: a new process in a running container, as runc takes it: the process from
//! `--process FILE` (an OCI `process` object) or from the arguments with `--env`, `--cwd`
//! and `--user`; waited for (its exit status is ours) unless `--detach`.

use anyhow::{Context, bail};
use compose_runtime::{ExecStdio, Runtime};
use oci_spec::runtime::{Process, ProcessBuilder, UserBuilder};

use crate::cli::ExecArgs;

pub fn exec(rt: &Runtime, a: &ExecArgs) -> anyhow::Result<u8> {
    if a.tty && a.console_socket.is_none() {
        bail!(
            "exec {}: a terminal (--tty) needs --console-socket, where its master is sent",
            a.id
        );
    }
    let c = rt.load(&a.id)?;
    let process = match &a.process {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<Process>(&text)
                .with_context(|| format!("{}: not an OCI process", path.display()))?
        }
        None => from_args(a)?,
    };
    // As runc: a terminal (--tty, or the process's `terminal`) is made in the container
    // and its master sent to --console-socket, which is for a terminal only.
    let terminal = a.tty || process.terminal().unwrap_or(false);
    let console = match (terminal, &a.console_socket) {
        (true, Some(path)) => Some(
            std::os::unix::net::UnixStream::connect(path)
                .with_context(|| format!("console socket {}", path.display()))?,
        ),
        (true, None) => bail!(
            "exec {}: a terminal needs --console-socket, where its master is sent",
            a.id
        ),
        (false, Some(_)) => bail!(
            "exec {}: --console-socket is for a process with a terminal (--tty)",
            a.id
        ),
        (false, None) => None,
    };
    let stdio = ExecStdio {
        console: console.as_ref().map(std::os::fd::AsFd::as_fd),
        ..ExecStdio::default()
    };
    let running = c.spawn_exec(&process, stdio)?;
    if let Some(f) = &a.pid_file {
        std::fs::write(f, running.pid().to_string())
            .with_context(|| format!("writing {}", f.display()))?;
    }
    if a.detach {
        return Ok(0);
    }
    let status = running.wait()?;
    Ok(u8::try_from(status.code).unwrap_or(255))
}

fn from_args(a: &ExecArgs) -> anyhow::Result<Process> {
    if a.args.is_empty() {
        bail!("exec {}: no command given", a.id);
    }
    let (uid, gid): (u32, u32) = match &a.user {
        Some(u) => {
            let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
            (
                uid.parse()
                    .with_context(|| format!("--user {u}: uid[:gid] numbers"))?,
                gid.parse()
                    .with_context(|| format!("--user {u}: uid[:gid] numbers"))?,
            )
        }
        None => (0, 0),
    };
    let mut env = a.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    Ok(ProcessBuilder::default()
        .args(a.args.clone())
        .env(env)
        .cwd(a.cwd.clone().unwrap_or_else(|| "/".into()))
        .user(UserBuilder::default().uid(uid).gid(gid).build()?)
        .build()?)
}
