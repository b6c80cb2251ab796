//! RUN steps in our runtime: the step's process in a container whose root is the stage's
//! merged overlay (mounted in the calling thread's private mount namespace, which the shim
//! and the container inherit), under the runtime's default hardening, with no network
//! unless the build asks for the host's. Its output comes back from the container's log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use compose_runtime::{CreateOptions, Rootfs, Runtime, ShimOptions};
use oci_spec::runtime::{LinuxNamespaceType, Mount, MountBuilder, UserBuilder};

use crate::build::{RunOutcome, RunRequest, RunStep};
use crate::run_mount::StepMount;

/// Runs RUN steps as containers of `runtime`.
pub struct RuntimeRunner {
    pub runtime: Runtime,
    /// The program re-executed as the shim (the `compose` binary).
    pub shim_exe: PathBuf,
    /// Where step logs are written (removed after each step).
    pub log_dir: PathBuf,
}

/// A build's steps are done: the cgroup parent they ran under goes when no other build's
/// step is under it.
impl Drop for RuntimeRunner {
    fn drop(&mut self) {
        self.runtime.remove_idle_cgroup_parent();
    }
}

static STEP: AtomicU64 = AtomicU64::new(0);

impl RunStep for RuntimeRunner {
    fn run(&self, req: &RunRequest<'_>) -> Result<RunOutcome, String> {
        let id = format!(
            "build-{}-{}",
            std::process::id(),
            STEP.fetch_add(1, Ordering::Relaxed)
        );
        let spec = self.spec(req)?;
        std::fs::create_dir_all(&self.log_dir)
            .map_err(|e| format!("{}: {e}", self.log_dir.display()))?;
        let log = self.log_dir.join(format!("{id}.log"));
        let opts = CreateOptions {
            shim: Some(ShimOptions {
                exe: self.shim_exe.clone(),
                log: log.clone(),
                log_max_size: None,
                log_max_files: 1,
                terminal: false,
                stdin: false,
            }),
            ..CreateOptions::default()
        };
        let rootfs = Rootfs::Dir(req.rootfs.to_path_buf());
        let mut c = self
            .runtime
            .create(&id, &spec, &rootfs, &opts)
            .map_err(|e| format!("creating the step's container: {e}"))?;
        let done = AtomicBool::new(false);
        let (result, sent) = std::thread::scope(|scope| {
            let tail = scope.spawn(|| follow(&log, &done, req.on_output));
            let result = c
                .start()
                .and_then(|()| c.wait())
                .map_err(|e| format!("running the step: {e}"));
            done.store(true, Ordering::Relaxed);
            (result, tail.join().unwrap_or(0))
        });
        let lines = compose_runtime::logs::read_all(&log).unwrap_or_default();
        if let Some(on_output) = req.on_output
            && lines.len() > sent
        {
            on_output(&text_of(&lines[sent..]));
        }
        let output = text_of(&lines).into_bytes();
        let _ = c.delete(true);
        let _ = std::fs::remove_file(&log);
        let status = result?;
        Ok(RunOutcome {
            exit_code: status.code,
            output,
            streamed: req.on_output.is_some(),
        })
    }
}

impl RuntimeRunner {
    fn spec(&self, req: &RunRequest<'_>) -> Result<oci_spec::runtime::Spec, String> {
        let args: Vec<&str> = req.args.iter().map(String::as_str).collect();
        let mut spec = compose_runtime::spec::docker_default(&args).map_err(|e| e.to_string())?;
        let (uid, gid) = match req.user {
            Some(u) if !u.is_empty() => crate::user::resolve_owner(req.rootfs, u)
                .map_err(|e| e.replace("--chown", "USER"))?,
            _ => (0, 0),
        };
        let mut process = spec.process().clone().unwrap_or_default();
        let mut env = req.env.to_vec();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            );
        }
        process.set_env(Some(env));
        process.set_cwd(PathBuf::from(req.cwd));
        process.set_user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .build()
                .map_err(|e| e.to_string())?,
        );
        spec.set_process(Some(process));
        if !req.mounts.is_empty() {
            let mut mounts = spec.mounts().clone().unwrap_or_default();
            for m in req.mounts {
                mounts.push(step_mount(m)?);
            }
            spec.set_mounts(Some(mounts));
        }
        if req.network == Some("host") {
            if let Some(linux) = spec.linux_mut() {
                let ns = linux.namespaces().clone().unwrap_or_default();
                linux.set_namespaces(Some(
                    ns.into_iter()
                        .filter(|n| n.typ() != LinuxNamespaceType::Network)
                        .collect(),
                ));
            }
        } else if let Some(other) = req.network.filter(|n| *n != "none" && *n != "default") {
            return Err(format!(
                "RUN --network={other}: only none, default (no network) and host are supported"
            ));
        }
        Ok(spec)
    }
}

/// A `RUN --mount` as an OCI mount.
fn step_mount(m: &StepMount) -> Result<Mount, String> {
    let mut b = MountBuilder::default();
    b = match m {
        StepMount::Bind {
            source,
            target,
            readonly,
        } => b
            .typ("bind")
            .source(source.clone())
            .destination(target)
            .options(vec![
                "rbind".to_string(),
                if *readonly { "ro" } else { "rw" }.to_string(),
            ]),
        StepMount::Tmpfs { target, size } => {
            let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
            options.extend(size.map(|s| format!("size={s}")));
            b.typ("tmpfs")
                .source("tmpfs")
                .destination(target)
                .options(options)
        }
    };
    b.build().map_err(|e| format!("--mount: {e}"))
}

/// Hands the step's output lines to `on_output` as the shim logs them, until `done`;
/// returns how many lines it handed over. Only lines whose newline is in the file are
/// taken while the step runs: the last one may still be being written.
fn follow(log: &Path, done: &AtomicBool, on_output: Option<&(dyn Fn(&str) + Sync)>) -> usize {
    let Some(on_output) = on_output else {
        return 0;
    };
    let mut sent = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        // Complete lines first; the log read after it holds at least those.
        let complete = std::fs::read(log).map_or(0, |d| d.iter().filter(|&&b| b == b'\n').count());
        let Ok(lines) = compose_runtime::logs::read_all(log) else {
            continue;
        };
        let ready = lines.len().min(complete);
        if ready > sent {
            on_output(&text_of(&lines[sent..ready]));
            sent = ready;
        }
    }
    sent
}

/// stdout and stderr lines in the order the shim read them.
fn text_of(lines: &[compose_runtime::logs::LogLine]) -> String {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l.bytes);
        if !l.partial {
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
