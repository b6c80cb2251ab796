//! `healthcheck:` — the test as a string (run by a shell) or a list (`CMD`, `CMD-SHELL`,
//! `NONE`), and its timings.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::common::{Text, is_false};
use super::units::Duration;

/// A service's health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    /// `["CMD", args...]`, `["CMD-SHELL", line]` or `["NONE"]`; a string becomes
    /// `["CMD-SHELL", string]`.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "de_test")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

impl Healthcheck {
    /// True when the check is switched off (`disable: true` or `test: [NONE]`).
    pub fn is_disabled(&self) -> bool {
        self.disable
            || self
                .test
                .as_ref()
                .and_then(|t| t.first())
                .is_some_and(|t| t == "NONE")
    }
}

fn de_test<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a command string or a list like [CMD, ...]")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec!["CMD-SHELL".into(), v.into()]))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Text(s)) = seq.next_element()? {
                out.push(s);
            }
            if out
                .first()
                .is_some_and(|first| !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE"))
            {
                return Err(de::Error::custom(
                    "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                ));
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(y: &str) -> serde_json::Value {
        let h: Healthcheck = serde_yaml_ng::from_str(y).unwrap();
        serde_json::to_value(h).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(
            hc("{test: curl -f x, interval: 1m, timeout: 1m30s, start_period: 500ms, retries: 3}"),
            json!({"test":["CMD-SHELL","curl -f x"],"timeout":"1m30s","interval":"1m0s","retries":3,"start_period":"500ms"})
        );
        assert_eq!(
            hc("{test: [CMD, curl, x], start_interval: 1s}"),
            json!({"test":["CMD","curl","x"],"start_interval":"1s"})
        );
        assert_eq!(hc("{test: [NONE]}"), json!({"test":["NONE"]}));
        assert_eq!(hc("{disable: true}"), json!({"disable":true}));
        assert_eq!(hc("{disable: false}"), json!({}));
        let h: Healthcheck = serde_yaml_ng::from_str("{test: [NONE]}").unwrap();
        assert!(h.is_disabled());
        assert!(serde_yaml_ng::from_str::<Healthcheck>("{test: [curl]}").is_err());
        assert!(serde_yaml_ng::from_str::<Healthcheck>("{interval: 10}").is_err());
    }
}
