//! `network_mode:` as the engine must act on it.

/// How a service's container gets its network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own namespace on the service's `networks:` (the default).
    Bridge,
    /// The host's namespace: nothing to set up, nothing to tear down.
    Host,
    /// Its own namespace with only `lo` ([`crate::endpoint::loopback_up`]).
    None,
    /// Shares the namespace of a service's container.
    Service(String),
    /// Shares the namespace of a named container.
    Container(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported network_mode '{0}' (expected bridge, host, none, service:NAME or container:NAME)"
)]
pub struct ModeError(pub String);

impl NetworkMode {
    /// Reads `network_mode`; empty means the default.
    pub fn parse(text: &str) -> Result<Self, ModeError> {
        let named = |kind: &str| {
            text.strip_prefix(kind)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
        };
        Ok(match text {
            "" | "bridge" | "default" => NetworkMode::Bridge,
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            _ => match (named("service:"), named("container:")) {
                (Some(s), _) => NetworkMode::Service(s),
                (_, Some(c)) => NetworkMode::Container(c),
                _ => return Err(ModeError(text.to_string())),
            },
        })
    }

    /// True when the container has endpoints of its own to attach.
    pub fn has_endpoints(&self) -> bool {
        matches!(self, NetworkMode::Bridge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mode() {
        assert_eq!(NetworkMode::parse("").unwrap(), NetworkMode::Bridge);
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(
            NetworkMode::parse("service:db").unwrap(),
            NetworkMode::Service("db".into())
        );
        assert_eq!(
            NetworkMode::parse("container:x1").unwrap(),
            NetworkMode::Container("x1".into())
        );
        assert!(NetworkMode::parse("service:").is_err());
        assert!(NetworkMode::parse("macvlan").is_err());
        assert!(NetworkMode::Bridge.has_endpoints() && !NetworkMode::Host.has_endpoints());
    }
}
