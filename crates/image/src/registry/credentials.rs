//! Credentials: given by the caller, or found through `~/.docker/config.json` (the
//! directory moves with `$DOCKER_CONFIG`): a credential helper named for the registry in
//! `credHelpers`, else the `credsStore` helper, else `auths` (whose `auth` is base64 of
//! `user:password`).
//!
//! A helper is the program `docker-credential-<name>` on `PATH`, run as `<program> get` with
//! the server URL on stdin; it prints `{"ServerURL", "Username", "Secret"}`, or fails with
//! "credentials not found" when it has none. A helper that does not answer within the
//! timeout ([`helper::DEFAULT_TIMEOUT`], or `$COMPOSE_CREDENTIAL_HELPER_TIMEOUT` seconds) is
//! killed and named in the error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::{RegistryError, Result};
use super::helper;

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The `Authorization: Basic` value.
    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(raw))
    }
}

#[derive(serde::Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

/// What a credential helper prints for `get`.
#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials a docker config file gives for `registry` (`host[:port]`), through its
/// helpers or its `auths`; none when the file is absent or has nothing for it.
pub fn from_docker_config(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let search: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    from_docker_config_in(path, registry, &search)
}

/// [`from_docker_config`], looking for helper programs in `search` (the `PATH` dirs).
pub fn from_docker_config_in(
    path: &Path,
    registry: &str,
    search: &[PathBuf],
) -> Result<Option<Credentials>> {
    lookup(path, registry, search, helper::timeout_from_env())
}

/// [`from_docker_config_in`] with the helpers' timeout given.
fn lookup(
    path: &Path,
    registry: &str,
    search: &[PathBuf],
    timeout: Duration,
) -> Result<Option<Credentials>> {
    let bad = |reason: String| RegistryError::DockerConfig {
        path: path.to_owned(),
        reason,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    let cfg: DockerConfig =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let want = auth_key(registry);
    let helper = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| auth_key(k) == want)
        .map(|(_, h)| ("credHelpers", h))
        .or(cfg.creds_store.as_ref().map(|h| ("credsStore", h)))
        .filter(|(_, h)| !h.is_empty());
    if let Some((field, name)) = helper
        && let Some(c) = run_helper(name, registry, search, timeout)
            .map_err(|reason| bad(format!("{field} helper docker-credential-{name}: {reason}")))?
    {
        return Ok(Some(c));
    }
    let Some((key, entry)) = cfg.auths.iter().find(|(k, _)| auth_key(k) == want) else {
        return Ok(None);
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|e| bad(format!("auths.{key:?}.auth is not base64: {e}")))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| bad(format!("auths.{key:?}.auth is not UTF-8")))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("auths.{key:?}.auth is not user:password")))?;
        return Ok(Some(Credentials {
            username: user.to_owned(),
            password: pass.to_owned(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// Asks helper `name` for `registry`'s credentials; `None` when it has none.
fn run_helper(
    name: &str,
    registry: &str,
    search: &[PathBuf],
    timeout: Duration,
) -> std::result::Result<Option<Credentials>, String> {
    if name.contains('/') {
        return Err("a helper name cannot hold a '/'".into());
    }
    let program = format!("docker-credential-{name}");
    let exe = search
        .iter()
        .map(|d| d.join(&program))
        .find(|p| p.is_file())
        .ok_or_else(|| "not found on PATH".to_string())?;
    // Docker Hub's credentials are stored under its historical URL.
    let server = if auth_key(registry) == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let out = helper::run(&exe, server.as_bytes(), timeout)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        if said.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("failed ({}): {}", out.status, said.trim()));
    }
    let answer: HelperAnswer = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("printed something that is not its JSON answer: {e}"))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

/// The host part of an `auths` key: `https://index.docker.io/v1/` and `docker.io` are one.
fn auth_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3:cret");
        std::fs::write(
            &p,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "localhost:5000":{{"username":"bob","password":"pw"}}}}}}"#
            ),
        )
        .unwrap();
        let c = from_docker_config(&p, "docker.io").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3:cret")
        );
        let c = from_docker_config(&p, "localhost:5000").unwrap().unwrap();
        assert_eq!(c.username, "bob");
        assert!(from_docker_config(&p, "other:1").unwrap().is_none());
        assert!(
            from_docker_config(&dir.path().join("none.json"), "x")
                .unwrap()
                .is_none()
        );
        std::fs::write(&p, r#"{"auths":{"x:1":{"auth":"!!"}}}"#).unwrap();
        let e = from_docker_config(&p, "x:1").unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
        assert!(!format!("{c:?}").contains("pw"));
    }

    fn helper(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn helpers_answer_before_auths() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // The per-registry helper echoes back the server URL it was asked about.
        helper(
            &bin,
            "per",
            r#"[ "$1" = get ] || exit 3; read -r url; printf '{"ServerURL":"%s","Username":"u-%s","Secret":"s"}' "$url" "$url""#,
        );
        helper(
            &bin,
            "store",
            r#"read -r url; case "$url" in known:1) echo '{"Username":"st","Secret":"x"}';; *) echo 'credentials not found in native keychain'; exit 1;; esac"#,
        );
        helper(&bin, "broken", "echo boom >&2; exit 2");
        let p = dir.path().join("config.json");
        let auth = STANDARD.encode("file:pw");
        std::fs::write(
            &p,
            format!(
                r#"{{"credsStore":"store","credHelpers":{{"index.docker.io":"per","r:5000":"per","bad:1":"broken","gone:1":"missing"}},
                "auths":{{"other:1":{{"auth":"{auth}"}}}}}}"#
            ),
        )
        .unwrap();
        let search = [dir.path().join("nothing-here"), bin.clone()];
        let get = |r: &str| from_docker_config_in(&p, r, &search);
        let c = get("r:5000").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("u-r:5000", "s")
        );
        let c = get("docker.io").unwrap().unwrap();
        assert_eq!(c.username, "u-https://index.docker.io/v1/");
        assert_eq!(get("known:1").unwrap().unwrap().username, "st");
        // The store has nothing for it: the file's auths answer.
        assert_eq!(get("other:1").unwrap().unwrap().username, "file");
        assert!(get("nobody:1").unwrap().is_none());
        let e = get("bad:1").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-broken") && e.contains("boom"),
            "{e}"
        );
        let e = get("gone:1").unwrap_err().to_string();
        assert!(
            e.contains("credHelpers") && e.contains("not found on PATH"),
            "{e}"
        );
    }

    #[test]
    fn a_hanging_helper_is_killed_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let pidfile = dir.path().join("sleeper.pid");
        // The helper becomes the sleep (no child of its own left behind by the kill).
        helper(
            &bin,
            "hang",
            &format!("echo $$ > {}; exec sleep 600", pidfile.display()),
        );
        let p = dir.path().join("config.json");
        std::fs::write(&p, r#"{"credHelpers":{"slow:1":"hang"}}"#).unwrap();
        let e = lookup(&p, "slow:1", &[bin], Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("docker-credential-hang") && e.contains("no answer within 300ms"),
            "{e}"
        );
        assert!(e.contains(helper::TIMEOUT_ENV), "{e}");
        // The helper was killed and reaped: no such process any more. (On a loaded machine
        // it may be killed before its shell wrote the pid: nothing to check then.)
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let pid = pid.trim();
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "the helper {pid} is still there"
            );
        }
    }

    /// A helper that leaves a child holding its stdout does not hold the caller past the
    /// timeout either (the pipe readers are not waited for after a kill).
    #[test]
    fn a_helper_whose_child_holds_its_pipes_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let pidfile = dir.path().join("child.pid");
        helper(
            &bin,
            "forks",
            &format!("sleep 600 & echo $! > {}; wait", pidfile.display()),
        );
        let p = dir.path().join("config.json");
        std::fs::write(&p, r#"{"credsStore":"forks"}"#).unwrap();
        let e = lookup(&p, "any:1", &[bin], Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credsStore helper docker-credential-forks") && e.contains("no answer"),
            "{e}"
        );
        // Leave nothing behind: the test kills the orphaned sleep itself (absent when the
        // helper was killed before it started one).
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid.trim()])
                .status();
        }
    }

    #[test]
    fn a_helper_within_its_time_answers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        helper(
            &bin,
            "ok",
            r#"sleep 0.1; echo '{"Username":"late","Secret":"s"}'"#,
        );
        helper(&bin, "fails", "echo 'keychain locked' >&2; exit 7");
        let p = dir.path().join("config.json");
        std::fs::write(&p, r#"{"credHelpers":{"a:1":"ok","b:1":"fails"}}"#).unwrap();
        let c = lookup(
            &p,
            "a:1",
            std::slice::from_ref(&bin),
            Duration::from_secs(20),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.username, "late");
        let e = lookup(&p, "b:1", &[bin], Duration::from_secs(20))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credHelpers helper docker-credential-fails")
                && e.contains("exit status: 7")
                && e.contains("keychain locked"),
            "{e}"
        );
    }
}
