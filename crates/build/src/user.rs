//! `--chown=user:group` of COPY/ADD: numbers, or names looked up in the stage's
//! `/etc/passwd` and `/etc/group` (read inside the rootfs, never the host's).

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

/// The uid and gid `spec` names in the rootfs at `root`. A user alone takes its primary
/// group from passwd (or the same number when numeric).
pub fn resolve_owner(root: &Path, spec: &str) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => {
            let passwd = read_in_root(root, "etc/passwd")
                .map_err(|e| format!("--chown={spec}: /etc/passwd of the image: {e}"))?;
            lookup(&passwd, user, 2, 3).ok_or_else(|| {
                format!("--chown={spec}: no user {user:?} in the image's /etc/passwd")
            })?
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read_in_root(root, "etc/group")
                    .map_err(|e| format!("--chown={spec}: /etc/group of the image: {e}"))?;
                lookup(&groups, g, 2, 2)
                    .map(|(gid, _)| gid)
                    .ok_or_else(|| {
                        format!("--chown={spec}: no group {g:?} in the image's /etc/group")
                    })?
            }
        },
    };
    Ok((uid, gid))
}

/// The numeric fields `id_field` and `second` of the line whose first field is `name`.
fn lookup(text: &str, name: &str, id_field: usize, second: usize) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() != Some(&name) {
            return None;
        }
        Some((f.get(id_field)?.parse().ok()?, f.get(second)?.parse().ok()?))
    })
}

fn read_in_root(root: &Path, rel: &str) -> std::io::Result<String> {
    let rootfd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
    let fd = openat2(
        &rootfd,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(1 << 20)
        .read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let r = |s: &str| resolve_owner(dir.path(), s);
        assert_eq!(r("12"), Ok((12, 12)));
        assert_eq!(r("12:34"), Ok((12, 34)));
        assert_eq!(r("app"), Ok((1000, 1001)));
        assert_eq!(r("app:staff"), Ok((1000, 50)));
        assert!(r("nobody").unwrap_err().contains("no user"));
        assert!(r("app:nogroup").unwrap_err().contains("no group"));
    }
}
