//! `RUN --mount=...` (BuildKit's syntax): what a step mounts for itself while it runs and
//! leaves out of its layer. `type=bind` (read-only by default; from the context, a stage,
//! an image or a named context; with `rw` writes go to a scratch layer that is thrown
//! away), `type=cache` (a directory kept per `id` under the build state dir, across steps
//! and builds) and `type=tmpfs`. `secret` and `ssh` need a secret store this builder has
//! not: they are refused with the line.

use std::path::PathBuf;

use crate::config::join_workdir;

/// One `--mount` as written, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Absolute, inside the container.
    pub target: String,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind {
        /// A stage, image or named context (none: the build context).
        from: Option<String>,
        /// Path inside `from` (default its root).
        source: String,
        rw: bool,
    },
    Cache {
        id: String,
        rw: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        /// Bytes, when limited.
        size: Option<u64>,
    },
}

/// A mount handed to the runner, resolved to host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMount {
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
}

/// Parses the value of one `--mount` flag; `workdir` places a relative target.
pub fn parse(value: &str, workdir: Option<&str>) -> Result<MountSpec, String> {
    let mut typ = "bind".to_string();
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (part.to_ascii_lowercase(), None),
        };
        if k == "type" {
            typ = v.ok_or("--mount: type needs a value")?;
        } else {
            fields.push((k, v));
        }
    }
    if typ == "secret" || typ == "ssh" {
        return Err(format!(
            "--mount=type={typ} is not supported by this builder (no secret store)"
        ));
    }
    let mut target = None;
    let mut source = None;
    let mut from = None;
    let mut id = None;
    let mut rw = None;
    let mut mode = 0o755;
    let mut uid = 0;
    let mut gid = 0;
    let mut size = None;
    for (k, v) in fields {
        let val = || v.clone().ok_or(format!("--mount: {k} needs a value"));
        match k.as_str() {
            "target" | "dst" | "destination" => target = Some(val()?),
            "source" | "src" => source = Some(val()?),
            "from" => from = Some(val()?),
            "id" => id = Some(val()?),
            "readonly" | "ro" => rw = Some(!boolean(&k, v.as_deref())?),
            "rw" | "readwrite" => rw = Some(boolean(&k, v.as_deref())?),
            "sharing" => match val()?.as_str() {
                // One builder at a time holds the store lock, so every sharing mode
                // behaves as `shared` does.
                "shared" | "private" | "locked" => {}
                other => {
                    return Err(format!(
                        "--mount: sharing={other}: not shared, private or locked"
                    ));
                }
            },
            "mode" => {
                mode = u32::from_str_radix(&val()?, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or(format!("--mount: mode={}: not an octal mode", val()?))?
            }
            "uid" => uid = number(&k, &val()?)?,
            "gid" => gid = number(&k, &val()?)?,
            "size" => size = Some(bytes(&val()?)?),
            other => return Err(format!("--mount: unknown option {other:?}")),
        }
    }
    let target = target.ok_or("--mount: target is required")?;
    let target = join_workdir(workdir, &target);
    let kind = match typ.as_str() {
        "bind" => MountKind::Bind {
            from,
            source: source.unwrap_or_else(|| ".".into()),
            rw: rw.unwrap_or(false),
        },
        "cache" => {
            if from.is_some() || source.is_some() {
                return Err("--mount=type=cache: from and source are not supported here".into());
            }
            MountKind::Cache {
                id: id.unwrap_or_else(|| target.clone()),
                rw: rw.unwrap_or(true),
                mode,
                uid,
                gid,
            }
        }
        "tmpfs" => MountKind::Tmpfs { size },
        other => return Err(format!("--mount: unknown type {other:?}")),
    };
    Ok(MountSpec { target, kind })
}

fn boolean(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("--mount: {key}={other}: not true or false")),
    }
}

fn number(key: &str, v: &str) -> Result<u32, String> {
    v.parse()
        .map_err(|_| format!("--mount: {key}={v}: not a number"))
}

/// `size=` of a tmpfs: bytes, or with a k/m/g suffix.
fn bytes(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (num, mul) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or(format!("--mount: size={v}: not a size"))
}

/// The directory kept for cache id `id` under `root`: named by a digest, so that any id
/// (slashes, dots) stays one directory below `root`.
pub fn cache_dir(root: &std::path::Path, id: &str) -> PathBuf {
    use sha2::Digest;
    root.join(hex::encode(sha2::Sha256::digest(id.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_defaults_and_errors() {
        let m = parse("type=cache,target=/root/.cache", None).unwrap();
        assert_eq!(
            m.kind,
            MountKind::Cache {
                id: "/root/.cache".into(),
                rw: true,
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        );
        let m = parse("target=src,source=app,from=build", Some("/w")).unwrap();
        assert_eq!(m.target, "/w/src");
        assert_eq!(
            m.kind,
            MountKind::Bind {
                from: Some("build".into()),
                source: "app".into(),
                rw: false
            }
        );
        let m = parse("type=bind,dst=/x,rw", None).unwrap();
        assert!(matches!(m.kind, MountKind::Bind { rw: true, .. }));
        let m = parse("type=tmpfs,target=/t,size=2m", None).unwrap();
        assert_eq!(
            m.kind,
            MountKind::Tmpfs {
                size: Some(2 << 20)
            }
        );
        let m = parse("type=cache,id=x,target=/c,mode=0700,uid=5,ro", None).unwrap();
        assert_eq!(
            m.kind,
            MountKind::Cache {
                id: "x".into(),
                rw: false,
                mode: 0o700,
                uid: 5,
                gid: 0
            }
        );
        assert!(
            parse("type=secret,id=a,target=/s", None)
                .unwrap_err()
                .contains("secret")
        );
        assert!(parse("type=ssh", None).unwrap_err().contains("ssh"));
        assert!(parse("type=cache", None).unwrap_err().contains("target"));
        assert!(
            parse("type=nfs,target=/x", None)
                .unwrap_err()
                .contains("nfs")
        );
        assert!(
            parse("target=/x,bogus=1", None)
                .unwrap_err()
                .contains("bogus")
        );
        assert!(
            parse("type=cache,target=/x,mode=9", None)
                .unwrap_err()
                .contains("mode")
        );
    }

    #[test]
    fn cache_dirs_stay_below_the_root() {
        let root = std::path::Path::new("/r");
        let d = cache_dir(root, "../../etc");
        assert_eq!(d.parent(), Some(root));
        assert_ne!(cache_dir(root, "a"), cache_dir(root, "b"));
    }
}
