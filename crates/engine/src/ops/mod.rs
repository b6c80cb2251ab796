//! The verbs on a project, one file each.

pub mod down;
pub mod dry_run;
pub mod exec;
pub mod kill;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod ps;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod top;
pub mod up;
pub mod wait;

use std::collections::BTreeSet;

use compose::graph::Graph;

use crate::engine::Project;
use crate::error::{Error, Errors, Result};
use crate::store::ContainerRow;

/// Runs `f` for each item on its own thread and waits for all; every error is kept.
pub(crate) fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    if items.len() == 1 {
        return f(&items[0]);
    }
    let mut errors = Errors::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|i| s.spawn(|| f(i))).collect();
        for h in handles {
            match h.join() {
                Ok(r) => {
                    errors.note(r);
                }
                Err(_) => errors
                    .0
                    .push(Error::Other("a worker thread panicked".into())),
            }
        }
    });
    errors.into_result()
}

/// The project's dependency graph.
pub(crate) fn graph(p: &Project<'_>) -> Result<Graph> {
    Graph::from_project(p.model).map_err(|c| Error::Other(c.to_string()))
}

/// Checks that every name is a service of the project.
pub(crate) fn check_services(p: &Project<'_>, services: &[String]) -> Result<()> {
    for s in services {
        if !p.model.services.contains_key(s) {
            return Err(Error::NoSuchService(s.clone()));
        }
    }
    Ok(())
}

/// Containers grouped by the stop levels of the graph (dependents first); containers of
/// services the project does not know come first (`orphans`), or are dropped.
pub(crate) fn stop_order(
    p: &Project<'_>,
    rows: &[ContainerRow],
    services: &[String],
    orphans: bool,
) -> Result<Vec<Vec<ContainerRow>>> {
    let g = graph(p)?;
    let wanted: BTreeSet<&str> = services.iter().map(String::as_str).collect();
    let pick = |s: &str| wanted.is_empty() || wanted.contains(s);
    let mut out = Vec::new();
    if orphans {
        let o: Vec<ContainerRow> = rows
            .iter()
            .filter(|r| !p.model.services.contains_key(&r.service))
            .cloned()
            .collect();
        if !o.is_empty() {
            out.push(o);
        }
    }
    for level in g.stop_levels() {
        let batch: Vec<ContainerRow> = rows
            .iter()
            .filter(|r| level.contains(&r.service.as_str()) && pick(&r.service))
            .cloned()
            .collect();
        if !batch.is_empty() {
            out.push(batch);
        }
    }
    Ok(out)
}

/// The same, dependencies first.
pub(crate) fn start_order(
    p: &Project<'_>,
    rows: &[ContainerRow],
    services: &[String],
) -> Result<Vec<Vec<ContainerRow>>> {
    let mut levels = stop_order(p, rows, services, false)?;
    levels.reverse();
    Ok(levels)
}
