//! The `user:` of a container: `uid`, `uid:gid`, `name` or `name:group`. Names are resolved
//! later against the image's `/etc/passwd` and `/etc/group`.

/// A user or group: a number, or a name to look up in the container's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Id {
    Num(u32),
    Name(String),
}

/// A parsed `user:` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub user: Id,
    pub group: Option<Id>,
}

/// Why a `user:` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user {0:?}: expected uid, uid:gid, name or name:group")]
pub struct UserError(pub String);

fn id(s: &str) -> Option<Id> {
    if s.is_empty() || s.contains(':') {
        return None;
    }
    Some(match s.parse::<u32>() {
        Ok(n) => Id::Num(n),
        Err(_) => Id::Name(s.to_string()),
    })
}

impl UserSpec {
    /// Parses `uid[:gid]` or names.
    pub fn parse(s: &str) -> Result<UserSpec, UserError> {
        let bad = || UserError(s.to_string());
        let (u, g) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        Ok(UserSpec {
            user: id(u).ok_or_else(bad)?,
            group: match g {
                Some(g) => Some(id(g).ok_or_else(bad)?),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            UserSpec::parse("1000:100").unwrap(),
            UserSpec {
                user: Id::Num(1000),
                group: Some(Id::Num(100))
            }
        );
        assert_eq!(
            UserSpec::parse("www-data").unwrap(),
            UserSpec {
                user: Id::Name("www-data".into()),
                group: None
            }
        );
        assert_eq!(
            UserSpec::parse("app:staff").unwrap().group,
            Some(Id::Name("staff".into()))
        );
        for bad in ["", ":", "1:", ":1", "1:2:3"] {
            assert!(UserSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
