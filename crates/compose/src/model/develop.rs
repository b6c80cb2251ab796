//! `develop:` (watch rules) and lifecycle hooks (`post_start`, `pre_stop`, watch `exec`).

use serde::{Deserialize, Serialize};

use super::common::{
    MappingWithEquals, ShellCommand, de_mapping_with_equals, de_shell_command, de_string_or_list,
    is_false,
};

/// A service's `develop:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Develop {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchRule>,
}

/// What a watch rule does when files change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum WatchAction {
    #[serde(rename = "sync")]
    Sync,
    #[serde(rename = "rebuild")]
    Rebuild,
    #[serde(rename = "restart")]
    Restart,
    #[serde(rename = "sync+restart")]
    SyncRestart,
    #[serde(rename = "sync+exec")]
    SyncExec,
}

impl<'de> Deserialize<'de> for WatchAction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let super::common::Text(s) = super::common::Text::deserialize(d)?;
        Ok(match s.as_str() {
            "sync" => WatchAction::Sync,
            "rebuild" => WatchAction::Rebuild,
            "restart" => WatchAction::Restart,
            "sync+restart" => WatchAction::SyncRestart,
            "sync+exec" => WatchAction::SyncExec,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "invalid watch action {s:?}: must be one of sync, rebuild, restart, sync+restart, sync+exec"
                )));
            }
        })
    }
}

/// One `develop.watch` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRule {
    /// The watched host path (absolute after normalization).
    pub path: String,
    pub action: WatchAction,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Printed always (`{"command": null}` when unset), like Docker Compose.
    #[serde(default)]
    pub exec: ServiceHook,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub include: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_list"
    )]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial_sync: bool,
}

/// A command run in a service's container (`post_start`, `pre_stop`, watch `exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceHook {
    #[serde(deserialize_with = "de_shell_command")]
    pub command: ShellCommand,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(
        skip_serializing_if = "MappingWithEquals::is_empty",
        deserialize_with = "de_mapping_with_equals"
    )]
    pub environment: MappingWithEquals,
    /// `pre_start` only: run once per replica.
    #[serde(skip_serializing_if = "is_false")]
    pub per_replica: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watch_rules() {
        let d: Develop = serde_yaml_ng::from_str(
            "watch: [{path: ./src, action: sync, target: /src, ignore: node_modules}, {path: p, action: rebuild}, {path: c, action: sync+exec, target: /c, exec: {command: kill 1}, initial_sync: true, include: ['*.js']}]",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(d).unwrap(),
            json!({"watch":[
                {"path":"./src","action":"sync","target":"/src","exec":{"command":null},"ignore":["node_modules"]},
                {"path":"p","action":"rebuild","exec":{"command":null}},
                {"path":"c","action":"sync+exec","target":"/c","exec":{"command":["kill","1"]},"include":["*.js"],"initial_sync":true}
            ]})
        );
        assert!(serde_yaml_ng::from_str::<Develop>("watch: [{path: x, action: bogus}]").is_err());
    }

    #[test]
    fn hooks() {
        let h: ServiceHook =
            serde_yaml_ng::from_str("{command: [echo, bye], user: root, environment: [A=1]}")
                .unwrap();
        assert_eq!(
            serde_json::to_value(h).unwrap(),
            json!({"command":["echo","bye"],"user":"root","environment":{"A":"1"}})
        );
    }
}
