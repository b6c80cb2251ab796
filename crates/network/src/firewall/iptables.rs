//! The one thing our own table cannot do: overrule another table's `drop`. A host that runs
//! Docker sets the iptables `FORWARD` policy to DROP; there we add accept rules for our
//! bridges with the `iptables` tool (to `DOCKER-USER`, the chain Docker keeps for users,
//! when it exists), each tagged `compose:<project>` so that teardown finds them. On a host
//! whose FORWARD chain accepts, nothing is added.

use std::process::Command;

use super::FirewallError;

fn iptables(args: &[&str], what: &str) -> Result<String, FirewallError> {
    let out = Command::new("iptables")
        .args(args)
        .output()
        .map_err(|source| FirewallError::Spawn {
            tool: "iptables",
            source,
        })?;
    if !out.status.success() {
        return Err(FirewallError::Failed {
            tool: "iptables",
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have_iptables() -> bool {
    Command::new("iptables")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The chain to add our accepts to, or `None` when forwarding is not blocked.
fn target_chain() -> Result<Option<&'static str>, FirewallError> {
    if !have_iptables() {
        return Ok(None);
    }
    if iptables(&["-w", "-S", "DOCKER-USER"], "list DOCKER-USER").is_ok() {
        return Ok(Some("DOCKER-USER"));
    }
    let rules = iptables(&["-w", "-S", "FORWARD"], "list FORWARD")?;
    Ok(rules
        .lines()
        .any(|l| l.trim() == "-P FORWARD DROP")
        .then_some("FORWARD"))
}

fn tag(project: &str) -> String {
    format!("compose:{project}")
}

/// Makes sure the iptables FORWARD chain lets our bridges' traffic through. Idempotent:
/// earlier rules of the project are replaced.
pub fn forward_allow(project: &str, bridges: &[String]) -> Result<(), FirewallError> {
    let Some(chain) = target_chain()? else {
        return Ok(());
    };
    forward_revoke(project).map_err(|mut errs| errs.remove(0))?;
    let tag = tag(project);
    for bridge in bridges {
        for dir in ["-i", "-o"] {
            let args = [
                "-w",
                "-I",
                chain,
                dir,
                bridge,
                "-m",
                "comment",
                "--comment",
                &tag,
                "-j",
                "ACCEPT",
            ];
            iptables(&args, &format!("allow {bridge} in {chain}"))?;
        }
    }
    Ok(())
}

/// Removes every rule [`forward_allow`] added for the project; keeps going on errors.
pub fn forward_revoke(project: &str) -> Result<(), Vec<FirewallError>> {
    if !have_iptables() {
        return Ok(());
    }
    let tag = tag(project);
    let mut errors = Vec::new();
    for chain in ["DOCKER-USER", "FORWARD"] {
        let Ok(rules) = iptables(&["-w", "-S", chain], "list") else {
            continue;
        };
        for rule in rules.lines() {
            // `-S` prints `-A CHAIN ... --comment "compose:p" ...`; our tags hold no space.
            let words: Vec<&str> = rule
                .split_whitespace()
                .map(|w| w.trim_matches('"'))
                .collect();
            let ours = words.windows(2).any(|w| w[0] == "--comment" && w[1] == tag);
            if !ours || words.first() != Some(&"-A") {
                continue;
            }
            let mut args = vec!["-w", "-D"];
            args.extend(&words[1..]);
            if let Err(e) = iptables(&args, &format!("delete rule '{rule}'")) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
