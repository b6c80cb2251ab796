//! A bundle: `config.json` and the rootfs it names (`root.path`, relative to the bundle).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use compose_runtime::{CreateOptions, Rootfs};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
    pub opts: CreateOptions,
    /// `process.terminal`: the process wants a terminal (made with `--console-socket`).
    pub terminal: bool,
}

impl Bundle {
    pub fn load(dir: &Path) -> anyhow::Result<Bundle> {
        let dir =
            std::fs::canonicalize(dir).with_context(|| format!("bundle {}", dir.display()))?;
        let config = dir.join("config.json");
        let mut spec = Spec::load(&config).with_context(|| format!("{}", config.display()))?;
        ambient_as_the_kernel_allows(&mut spec);
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .with_context(|| format!("{}: no root.path", config.display()))?;
        let rootfs = dir.join(root);
        if !rootfs.is_dir() {
            bail!(
                "{}: root.path {} is not a directory",
                config.display(),
                rootfs.display()
            );
        }
        refuse_unsupported(&spec, &config)?;
        default_home(&mut spec, &rootfs);
        let opts = CreateOptions {
            netns: network_path(&spec),
            ..CreateOptions::default()
        };
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        Ok(Bundle {
            dir,
            spec,
            rootfs,
            opts,
            terminal,
        })
    }

    pub fn runtime_rootfs(&self) -> Rootfs {
        Rootfs::Dir(self.rootfs.clone())
    }
}

/// What this runtime can't do yet, said up front rather than half-done.
fn refuse_unsupported(spec: &Spec, config: &Path) -> anyhow::Result<()> {
    if let Some(h) = spec.hooks() {
        let any = [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
            h.poststart(),
            h.poststop(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
        if any {
            bail!("{}: hooks are not supported yet", config.display());
        }
    }
    Ok(())
}

/// The kernel raises an ambient cap only if it is permitted and inheritable; `runc spec`
/// asks for ambient caps without inheritable ones and runc drops those silently. So do we,
/// so that the same bundles run.
fn ambient_as_the_kernel_allows(spec: &mut Spec) {
    let Some(p) = spec.process_mut().as_mut() else {
        return;
    };
    let Some(mut c) = p.capabilities().clone() else {
        return;
    };
    let Some(ambient) = c.ambient().clone() else {
        return;
    };
    let inh = c.inheritable().clone().unwrap_or_default();
    let prm = c.permitted().clone().unwrap_or_default();
    let kept = ambient
        .into_iter()
        .filter(|a| inh.contains(a) && prm.contains(a))
        .collect();
    c.set_ambient(Some(kept));
    p.set_capabilities(Some(c));
}

/// As runc: without HOME in the environment, the user's home from the rootfs's
/// `/etc/passwd`, else `/`.
fn default_home(spec: &mut Spec, rootfs: &Path) {
    let Some(p) = spec.process_mut().as_mut() else {
        return;
    };
    let mut env = p.env().clone().unwrap_or_default();
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return;
    }
    let uid = p.user().uid();
    let home = std::fs::read_to_string(rootfs.join("etc/passwd"))
        .ok()
        .and_then(|t| home_of(&t, uid))
        .unwrap_or_else(|| "/".to_string());
    env.push(format!("HOME={home}"));
    p.set_env(Some(env));
}

/// The home dir of `uid` in a passwd file's text.
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// A network namespace given by path is joined; the runtime makes the others.
fn network_path(spec: &Spec) -> Option<PathBuf> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)?
        .path()
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n";
        assert_eq!(home_of(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(passwd, 33).as_deref(), Some("/var/www"));
        assert_eq!(home_of(passwd, 7), None);
    }
}
