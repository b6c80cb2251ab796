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

/// The filter table's rules as `iptables -S` prints them (every chain at once: one run of
/// the tool, not one per chain), or `None` when the host has no `iptables`.
fn filter_rules() -> Result<Option<String>, FirewallError> {
    match Command::new("iptables").args(["-w", "-S"]).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FirewallError::Spawn {
            tool: "iptables",
            source,
        }),
        Ok(out) if !out.status.success() => Err(FirewallError::Failed {
            tool: "iptables",
            what: "list the filter table".to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
    }
}

/// The chain to add our accepts to, or `None` when forwarding is not blocked: Docker's
/// `DOCKER-USER` when it exists, else `FORWARD` when its policy drops.
fn target_chain(rules: &str) -> Option<&'static str> {
    let lines = || rules.lines().map(str::trim);
    if lines().any(|l| l == "-N DOCKER-USER") {
        return Some("DOCKER-USER");
    }
    lines().any(|l| l == "-P FORWARD DROP").then_some("FORWARD")
}

fn tag(project: &str) -> String {
    format!("compose:{project}")
}

/// Makes sure the iptables FORWARD chain lets our bridges' traffic through. Idempotent:
/// earlier rules of the project are replaced.
pub fn forward_allow(project: &str, bridges: &[String]) -> Result<(), FirewallError> {
    let Some(rules) = filter_rules()? else {
        return Ok(());
    };
    let Some(chain) = target_chain(&rules) else {
        return Ok(());
    };
    revoke_in(&rules, project).map_err(|mut errs| errs.remove(0))?;
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
    match filter_rules() {
        Ok(Some(rules)) => revoke_in(&rules, project),
        Ok(None) => Ok(()),
        // A tool that cannot list cannot have added anything for us to take back.
        Err(_) => Ok(()),
    }
}

/// Deletes the project's rules among `rules` (a listing of the filter table).
fn revoke_in(rules: &str, project: &str) -> Result<(), Vec<FirewallError>> {
    let tag = tag(project);
    let mut errors = Vec::new();
    for rule in rules.lines() {
        // `-S` prints `-A CHAIN ... --comment "compose:p" ...`; our tags hold no space.
        let words: Vec<&str> = rule
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .collect();
        let ours = words.windows(2).any(|w| w[0] == "--comment" && w[1] == tag);
        let chain_ok = matches!(words.get(1), Some(&"DOCKER-USER") | Some(&"FORWARD"));
        if !ours || words.first() != Some(&"-A") || !chain_ok {
            continue;
        }
        let mut args = vec!["-w", "-D"];
        args.extend(&words[1..]);
        if let Err(e) = iptables(&args, &format!("delete rule '{rule}'")) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_HOST: &str = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n\
-N DOCKER-USER\n-A FORWARD -j DOCKER-USER\n\
-A DOCKER-USER -i cbr-1 -m comment --comment compose:p -j ACCEPT\n\
-A DOCKER-USER -i cbr-2 -m comment --comment compose:q -j ACCEPT\n-A DOCKER-USER -j RETURN\n";

    #[test]
    fn the_chain_is_docker_user_when_it_exists_else_forward_when_it_drops() {
        assert_eq!(target_chain(DOCKER_HOST), Some("DOCKER-USER"));
        assert_eq!(
            target_chain("-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n"),
            Some("FORWARD")
        );
        assert_eq!(
            target_chain("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"),
            None
        );
    }
}
