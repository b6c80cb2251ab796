//! What a container takes from its image's config (`config` of the OCI / Docker image
//! configuration JSON): the parts [`crate::spec`] merges with the service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The image config fields a container uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    pub stop_signal: String,
    /// `80/tcp`, sorted.
    pub exposed_ports: Vec<String>,
    /// Paths declared `VOLUME`, sorted.
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// The image's healthcheck as written (`Test`, `Interval`...), for the supervisor.
    pub healthcheck: Option<Value>,
}

/// Why an image config cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("image config is not valid JSON: {0}")]
pub struct ConfigError(#[from] serde_json::Error);

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    let arr = v?.as_array()?;
    Some(
        arr.iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
    )
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

fn keys(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = v
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    out.sort();
    out
}

impl ImageConfig {
    /// Reads the `config` section of an image configuration blob.
    pub fn from_json(bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        let doc: Value = serde_json::from_slice(bytes)?;
        let c = doc.get("config").or_else(|| doc.get("Config"));
        let Some(c) = c.filter(|c| c.is_object()) else {
            return Ok(ImageConfig::default());
        };
        let labels = c
            .get("Labels")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImageConfig {
            env: strings(c.get("Env")).unwrap_or_default(),
            cmd: strings(c.get("Cmd")),
            entrypoint: strings(c.get("Entrypoint")),
            working_dir: text(c.get("WorkingDir")),
            user: text(c.get("User")),
            stop_signal: text(c.get("StopSignal")),
            exposed_ports: keys(c.get("ExposedPorts")),
            volumes: keys(c.get("Volumes")),
            labels,
            healthcheck: c.get("Healthcheck").filter(|h| !h.is_null()).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_fields() -> Result<(), ConfigError> {
        let raw = br#"{"architecture":"amd64","config":{
            "Env":["PATH=/bin","A=1"],"Cmd":["sh"],"Entrypoint":null,"WorkingDir":"/srv",
            "User":"1000:1000","StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{},"53/udp":{}},
            "Volumes":{"/data":{}},"Labels":{"a":"b"},"Healthcheck":{"Test":["CMD","true"]}}}"#;
        let c = ImageConfig::from_json(raw)?;
        assert_eq!(c.env, ["PATH=/bin", "A=1"]);
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.stop_signal, "SIGQUIT");
        assert_eq!(c.exposed_ports, ["53/udp", "80/tcp"]);
        assert_eq!(c.volumes, ["/data"]);
        assert_eq!(c.labels.get("a").map(String::as_str), Some("b"));
        assert!(c.healthcheck.is_some());
        Ok(())
    }

    #[test]
    fn a_config_without_config_is_empty_and_garbage_is_an_error() {
        assert_eq!(
            ImageConfig::from_json(br#"{"os":"linux"}"#).ok(),
            Some(ImageConfig::default())
        );
        assert!(ImageConfig::from_json(b"{nope").is_err());
    }
}
