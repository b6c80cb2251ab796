//! The planner: what the project wants (services, replicas, config hashes) against what
//! exists (recorded containers and their live status) gives, per service, the actions that
//! converge them, as Docker Compose does: keep what runs unchanged, start what is stopped,
//! recreate what changed or is broken, create what is missing, remove what is scaled away.

use std::collections::{BTreeMap, BTreeSet};

/// A service as the project wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub service: String,
    pub replicas: u32,
    pub config_hash: String,
    /// Selected only because a named service depends on it (`--always-recreate-deps`
    /// recreates these).
    pub dependency: bool,
}

/// What a recorded container is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Created or exited: it can be started again.
    Stopped,
    /// Recorded, but the runtime has no such container, or its create never finished.
    Broken,
}

/// A recorded container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Have {
    pub id: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    pub status: Status,
}

/// One step for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        number: u32,
    },
    Recreate {
        id: String,
        number: u32,
    },
    Start {
        id: String,
    },
    Keep {
        id: String,
    },
    /// Stop and start again: a dependency with `depends_on: {restart: true}` was recreated
    /// or restarted.
    Restart {
        id: String,
    },
    Remove {
        id: String,
    },
}

/// How `up` treats existing containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// `--always-recreate-deps`: dependencies of the named services are recreated.
    pub always_recreate_deps: bool,
}

/// The actions per service, and the containers of services the project no longer has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub services: BTreeMap<String, Vec<Action>>,
    pub orphans: Vec<Have>,
}

/// Plans `want` against `have`.
pub fn plan(want: &[Want], have: &[Have], opts: Options) -> Plan {
    let mut out = Plan::default();
    let wanted: BTreeSet<&str> = want.iter().map(|w| w.service.as_str()).collect();
    out.orphans = have
        .iter()
        .filter(|h| !wanted.contains(h.service.as_str()))
        .cloned()
        .collect();
    for w in want {
        let mut mine: Vec<&Have> = have.iter().filter(|h| h.service == w.service).collect();
        mine.sort_by_key(|h| h.number);
        out.services
            .insert(w.service.clone(), service(w, &mine, opts));
    }
    out
}

fn service(w: &Want, mine: &[&Have], opts: Options) -> Vec<Action> {
    let keep = mine.len().min(w.replicas as usize);
    let mut actions: Vec<Action> = mine[..keep].iter().map(|h| existing(w, h, opts)).collect();
    // Scale down from the highest numbers, as Docker Compose does.
    actions.extend(
        mine[keep..]
            .iter()
            .map(|h| Action::Remove { id: h.id.clone() }),
    );
    let used: BTreeSet<u32> = mine[..keep].iter().map(|h| h.number).collect();
    let mut next = (1..).filter(|n| !used.contains(n));
    for _ in keep..w.replicas as usize {
        if let Some(number) = next.next() {
            actions.push(Action::Create { number });
        }
    }
    actions
}

fn existing(w: &Want, h: &Have, opts: Options) -> Action {
    let changed = h.config_hash != w.config_hash;
    let forced = opts.force_recreate || (opts.always_recreate_deps && w.dependency);
    let recreate = h.status == Status::Broken || forced || (changed && !opts.no_recreate);
    if recreate {
        Action::Recreate {
            id: h.id.clone(),
            number: h.number,
        }
    } else if h.status == Status::Running {
        Action::Keep { id: h.id.clone() }
    } else {
        Action::Start { id: h.id.clone() }
    }
}

/// `depends_on: {x: {restart: true}}`: when `up` recreates or restarts `x`, the running
/// containers of such dependents are restarted too (transitively), as Docker Compose does.
/// `dependents(s)` names the services that depend on `s` with `restart: true`.
pub fn restart_dependents<'a>(plan: &mut Plan, dependents: impl Fn(&str) -> Vec<&'a str>) {
    let mut queue: Vec<String> = plan
        .services
        .iter()
        .filter(|(_, actions)| actions.iter().any(disturbs))
        .map(|(s, _)| s.clone())
        .collect();
    while let Some(s) = queue.pop() {
        for d in dependents(&s) {
            let Some(actions) = plan.services.get_mut(d) else {
                continue;
            };
            let mut changed = false;
            for a in actions.iter_mut() {
                if let Action::Keep { id } = a {
                    *a = Action::Restart { id: id.clone() };
                    changed = true;
                }
            }
            if changed {
                queue.push(d.to_string());
            }
        }
    }
}

/// Whether an action stops a running container of the service (or makes a new one).
fn disturbs(a: &Action) -> bool {
    matches!(a, Action::Recreate { .. } | Action::Restart { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(s: &str, n: u32, hash: &str) -> Want {
        Want {
            service: s.into(),
            replicas: n,
            config_hash: hash.into(),
            dependency: false,
        }
    }

    fn have(id: &str, s: &str, n: u32, hash: &str, status: Status) -> Have {
        Have {
            id: id.into(),
            service: s.into(),
            number: n,
            config_hash: hash.into(),
            status,
        }
    }

    fn actions(p: &Plan, s: &str) -> Vec<Action> {
        p.services.get(s).cloned().unwrap_or_default()
    }

    #[test]
    fn fresh_project_creates_every_replica() {
        let p = plan(
            &[want("web", 3, "h"), want("db", 1, "d")],
            &[],
            Options::default(),
        );
        assert_eq!(
            actions(&p, "web"),
            [1, 2, 3].map(|number| Action::Create { number })
        );
        assert_eq!(actions(&p, "db"), [Action::Create { number: 1 }]);
        assert!(p.orphans.is_empty());
    }

    #[test]
    fn unchanged_running_is_kept_stopped_is_started() {
        let h = [
            have("a", "web", 1, "h", Status::Running),
            have("b", "web", 2, "h", Status::Stopped),
        ];
        let p = plan(&[want("web", 2, "h")], &h, Options::default());
        assert_eq!(
            actions(&p, "web"),
            [
                Action::Keep { id: "a".into() },
                Action::Start { id: "b".into() }
            ]
        );
    }

    #[test]
    fn changed_hash_or_broken_recreates() {
        let h = [
            have("a", "web", 1, "old", Status::Running),
            have("b", "db", 1, "d", Status::Broken),
        ];
        let p = plan(
            &[want("web", 1, "new"), want("db", 1, "d")],
            &h,
            Options::default(),
        );
        let re = |id: &str| Action::Recreate {
            id: id.into(),
            number: 1,
        };
        assert_eq!(actions(&p, "web"), [re("a")]);
        assert_eq!(actions(&p, "db"), [re("b")]);
        let no = Options {
            no_recreate: true,
            ..Options::default()
        };
        let p = plan(&[want("web", 1, "new"), want("db", 1, "d")], &h, no);
        assert_eq!(actions(&p, "web"), [Action::Keep { id: "a".into() }]);
        assert_eq!(
            actions(&p, "db"),
            [re("b")],
            "a broken one is recreated anyway"
        );
        let force = Options {
            force_recreate: true,
            ..Options::default()
        };
        let same = [have("a", "web", 1, "h", Status::Running)];
        assert_eq!(
            actions(&plan(&[want("web", 1, "h")], &same, force), "web"),
            [re("a")]
        );
    }

    #[test]
    fn scale_down_removes_highest_and_up_fills_gaps() {
        let h = [
            have("c", "web", 3, "h", Status::Running),
            have("a", "web", 1, "h", Status::Running),
            have("b", "web", 2, "h", Status::Running),
        ];
        let p = plan(&[want("web", 1, "h")], &h, Options::default());
        assert_eq!(
            actions(&p, "web"),
            [
                Action::Keep { id: "a".into() },
                Action::Remove { id: "b".into() },
                Action::Remove { id: "c".into() }
            ]
        );
        let gap = [have("b", "web", 2, "h", Status::Running)];
        let p = plan(&[want("web", 3, "h")], &gap, Options::default());
        assert_eq!(
            actions(&p, "web"),
            [
                Action::Keep { id: "b".into() },
                Action::Create { number: 1 },
                Action::Create { number: 3 }
            ]
        );
        let p = plan(&[want("web", 0, "h")], &gap, Options::default());
        assert_eq!(actions(&p, "web"), [Action::Remove { id: "b".into() }]);
    }

    #[test]
    fn containers_of_dropped_services_are_orphans() {
        let h = [
            have("a", "web", 1, "h", Status::Running),
            have("o", "old", 1, "h", Status::Stopped),
        ];
        let p = plan(&[want("web", 1, "h")], &h, Options::default());
        assert_eq!(p.orphans, [h[1].clone()]);
        assert!(!p.services.contains_key("old"));
    }

    #[test]
    fn always_recreate_deps_recreates_only_dependencies() {
        let h = [
            have("a", "web", 1, "h", Status::Running),
            have("b", "db", 1, "d", Status::Running),
        ];
        let mut db = want("db", 1, "d");
        db.dependency = true;
        let w = [want("web", 1, "h"), db];
        let opts = Options {
            always_recreate_deps: true,
            ..Options::default()
        };
        let p = plan(&w, &h, opts);
        assert_eq!(actions(&p, "web"), [Action::Keep { id: "a".into() }]);
        assert_eq!(
            actions(&p, "db"),
            [Action::Recreate {
                id: "b".into(),
                number: 1
            }]
        );
        let p = plan(&w, &h, Options::default());
        assert_eq!(actions(&p, "db"), [Action::Keep { id: "b".into() }]);
    }

    #[test]
    fn dependents_with_restart_true_are_restarted_transitively() {
        let h = [
            have("d", "db", 1, "old", Status::Running),
            have("a", "api", 1, "h", Status::Running),
            have("w", "web", 1, "h", Status::Running),
            have("o", "other", 1, "h", Status::Running),
        ];
        let w = [
            want("db", 1, "new"),
            want("api", 1, "h"),
            want("web", 1, "h"),
            want("other", 1, "h"),
        ];
        let mut p = plan(&w, &h, Options::default());
        // api restarts with db, web with api; other depends on db without restart.
        restart_dependents(&mut p, |s| match s {
            "db" => vec!["api"],
            "api" => vec!["web"],
            _ => vec![],
        });
        assert_eq!(actions(&p, "api"), [Action::Restart { id: "a".into() }]);
        assert_eq!(actions(&p, "web"), [Action::Restart { id: "w".into() }]);
        assert_eq!(actions(&p, "other"), [Action::Keep { id: "o".into() }]);
        let mut same = plan(
            &[want("db", 1, "old"), want("api", 1, "h")],
            &h,
            Options::default(),
        );
        restart_dependents(&mut same, |_| vec!["api"]);
        assert_eq!(actions(&same, "api"), [Action::Keep { id: "a".into() }]);
    }
}
