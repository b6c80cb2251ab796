//! Loading and removing the project's table with the `nft` tool.

use std::io::Write;
use std::process::{Command, Stdio};

use super::FirewallError;
use super::render::{FirewallSpec, render, table_name};

/// Runs `nft` with `args`, feeding `input` on stdin; returns stdout.
pub(crate) fn nft(args: &[&str], input: Option<&str>, what: &str) -> Result<String, FirewallError> {
    let spawn = |source| FirewallError::Spawn {
        tool: "nft",
        source,
    };
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if !out.status.success() {
        return Err(FirewallError::Failed {
            tool: "nft",
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Loads (or replaces) the project's table in one transaction, then makes sure an
/// iptables FORWARD policy of DROP lets the project's bridges through
/// ([`super::forward_allow`]).
pub fn apply(spec: &FirewallSpec) -> Result<(), FirewallError> {
    let what = format!("load table {}", table_name(&spec.project));
    nft(&["-f", "-"], Some(&render(spec)), &what)?;
    let bridges: Vec<String> = spec.networks.iter().map(|n| n.bridge.clone()).collect();
    super::forward_allow(&spec.project, &bridges)
}

/// Deletes the project's table; a missing table is fine. Over netlink (see
/// [`super::nfnl`]); should that fail, with the `nft` tool, whose transaction creates the
/// table first so that a missing one is no error.
pub fn remove(project: &str) -> Result<(), FirewallError> {
    let t = table_name(project);
    if super::nfnl::delete_table(super::nfnl::FAMILY_INET, &t).is_ok() {
        return Ok(());
    }
    let text = format!("table inet {t}\ndelete table inet {t}\n");
    nft(&["-f", "-"], Some(&text), &format!("delete table {t}")).map(drop)
}

/// True when the project's table is loaded.
pub fn table_exists(project: &str) -> Result<bool, FirewallError> {
    let out = nft(&["list", "tables", "inet"], None, "list tables")?;
    let want = format!("table inet {}", table_name(project));
    Ok(out.lines().any(|l| l.trim() == want))
}
