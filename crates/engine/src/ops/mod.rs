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
use std::sync::atomic::{AtomicUsize, Ordering};

use compose::graph::Graph;

use crate::engine::Project;
use crate::error::{Error, Errors, Result};
use crate::store::ContainerRow;

/// How many items [`parallel`] works on at once; 0: no bound (`--parallel -1`, the default).
static PARALLEL_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Bounds the work done at once on independent items (containers to create, start, stop...):
/// `--parallel N` / `COMPOSE_PARALLEL_LIMIT`; `None` or 0 lifts the bound.
pub fn set_parallel_limit(limit: Option<usize>) {
    PARALLEL_LIMIT.store(limit.unwrap_or(0), Ordering::Relaxed);
}

/// Runs `f` for each item, on as many threads as the parallel limit allows (one per item
/// when unbounded), and waits for all; every error is kept.
pub(crate) fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    bounded(items, PARALLEL_LIMIT.load(Ordering::Relaxed), f)
}

/// [`parallel`] with at most `limit` (0: any number of) threads.
fn bounded<T: Sync>(items: &[T], limit: usize, f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    if items.len() == 1 {
        return f(&items[0]);
    }
    let workers = match limit {
        0 => items.len(),
        n => n.min(items.len()),
    };
    let next = AtomicUsize::new(0);
    let mut errors = Errors::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut results = Vec::new();
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        results.push(f(item));
                    }
                    results
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(results) => {
                    for r in results {
                        errors.note(r);
                    }
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

#[cfg(test)]
mod parallel_tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::bounded;
    use crate::error::Error;

    #[test]
    fn unbounded_runs_every_item_at_once_and_a_limit_caps_it() {
        let items: Vec<usize> = (0..8).collect();
        // Unbounded: all eight meet at the barrier, so all ran at the same time.
        let all = Barrier::new(8);
        bounded(&items, 0, |_| {
            all.wait();
            Ok(())
        })
        .unwrap();
        // A limit of 2: never more than two at once, and every item still runs.
        let (now, most, done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        bounded(&items, 2, |_| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            now.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(done.load(Ordering::SeqCst), 8);
    }

    #[test]
    fn every_error_is_kept() {
        let items: Vec<usize> = (0..5).collect();
        let r = bounded(&items, 2, |i| match i % 2 {
            0 => Err(Error::Other(format!("item {i}"))),
            _ => Ok(()),
        });
        let text = r.unwrap_err().to_string();
        for i in [0, 2, 4] {
            assert!(text.contains(&format!("item {i}")), "{text}");
        }
    }
}
