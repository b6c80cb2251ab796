//! The service dependency graph: who waits for whom, and under which condition.
//!
//! The engine walks [`Graph::start_levels`] to bring a project up (each level in parallel) and
//! [`Graph::stop_levels`] to take it down. Edges point from a service to what it depends on.

use std::collections::{BTreeSet, HashMap};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// What a dependent waits for before it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// `service_started`: the dependency's container is running.
    Started,
    /// `service_healthy`: the dependency's health check passes.
    Healthy,
    /// `service_completed_successfully`: the dependency exited with code 0.
    CompletedSuccessfully,
}

impl Condition {
    /// Parses the Compose spelling.
    pub fn parse(s: &str) -> Option<Condition> {
        match s {
            "service_started" => Some(Condition::Started),
            "service_healthy" => Some(Condition::Healthy),
            "service_completed_successfully" => Some(Condition::CompletedSuccessfully),
            _ => None,
        }
    }

    /// The Compose spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry, as an edge of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub condition: Condition,
    /// `required: false` lets the dependent start when the dependency is missing or failed.
    pub required: bool,
    /// `restart: true`: restart the dependent when compose restarts the dependency.
    pub restart: bool,
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency {
            condition: Condition::Started,
            required: true,
            restart: false,
        }
    }
}

/// A dependency cycle, listed in order, its first service repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle detected: {}", .0.join(" -> "))]
pub struct Cycle(pub Vec<String>);

/// The dependency graph of a project's services.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    graph: DiGraph<String, Dependency>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    /// Builds the graph from service names and `(service, dependency, how)` edges. Edges to
    /// services not in `services` are dropped (validation reports those, with positions).
    pub fn new<S, E>(services: S, edges: E) -> Result<Graph, Cycle>
    where
        S: IntoIterator<Item = String>,
        E: IntoIterator<Item = (String, String, Dependency)>,
    {
        let mut g = Graph::default();
        let mut names: Vec<String> = services.into_iter().collect();
        names.sort();
        for name in names {
            if !g.index.contains_key(&name) {
                let ix = g.graph.add_node(name.clone());
                g.index.insert(name, ix);
            }
        }
        for (from, to, dep) in edges {
            if let (Some(&a), Some(&b)) = (g.index.get(&from), g.index.get(&to)) {
                g.graph.update_edge(a, b, dep);
            }
        }
        g.check_acyclic()?;
        Ok(g)
    }

    /// The graph of a loaded project's `depends_on` (explicit and implied ones, after
    /// normalization).
    pub fn from_project(project: &crate::model::Project) -> Result<Graph, Cycle> {
        let edges = project.services.iter().flat_map(|(name, svc)| {
            svc.depends_on.iter().map(move |(dep, d)| {
                let how = Dependency {
                    condition: Condition::parse(&d.condition).unwrap_or(Condition::Started),
                    required: d.required,
                    restart: d.restart,
                };
                (name.clone(), dep.clone(), how)
            })
        });
        Graph::new(project.services.keys().cloned(), edges)
    }

    fn check_acyclic(&self) -> Result<(), Cycle> {
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                return Err(Cycle(self.cycle_within(&scc)));
            }
        }
        Ok(())
    }

    /// A concrete cycle inside one strongly connected component, starting at its smallest name.
    fn cycle_within(&self, scc: &[NodeIndex]) -> Vec<String> {
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        let start = scc
            .iter()
            .copied()
            .min_by(|a, b| self.graph[*a].cmp(&self.graph[*b]))
            .unwrap_or(scc[0]);
        // Walk to the smallest-named successor inside the component until a node repeats.
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut at = start;
        loop {
            let next = self
                .graph
                .neighbors_directed(at, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .min_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            let Some(next) = next else { break };
            if !seen.insert(next) {
                let from = path.iter().position(|n| *n == next).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..]
                    .iter()
                    .map(|n| self.graph[*n].clone())
                    .collect();
                cycle.push(self.graph[next].clone());
                return cycle;
            }
            path.push(next);
            at = next;
        }
        path.iter().map(|n| self.graph[*n].clone()).collect()
    }

    /// All service names, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.graph.node_weights().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// What `service` depends on, with how.
    pub fn dependencies(&self, service: &str) -> Vec<(&str, Dependency)> {
        self.edges(service, Direction::Outgoing)
    }

    /// The services that depend on `service`, with how.
    pub fn dependents(&self, service: &str) -> Vec<(&str, Dependency)> {
        self.edges(service, Direction::Incoming)
    }

    fn edges(&self, service: &str, dir: Direction) -> Vec<(&str, Dependency)> {
        let Some(&ix) = self.index.get(service) else {
            return Vec::new();
        };
        let mut v: Vec<(&str, Dependency)> = self
            .graph
            .edges_directed(ix, dir)
            .map(|e| {
                let other = if dir == Direction::Outgoing {
                    e.target()
                } else {
                    e.source()
                };
                (self.graph[other].as_str(), *e.weight())
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Start order as levels: every service of a level depends only on earlier levels, so a
    /// level's services can start in parallel. Names within a level are sorted.
    pub fn start_levels(&self) -> Vec<Vec<&str>> {
        let mut remaining: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| (n, self.graph.edges_directed(n, Direction::Outgoing).count()))
            .collect();
        let mut levels = Vec::new();
        while !remaining.is_empty() {
            let mut level: Vec<NodeIndex> = remaining
                .iter()
                .filter(|(_, deps)| **deps == 0)
                .map(|(n, _)| *n)
                .collect();
            if level.is_empty() {
                break; // unreachable: the graph was checked acyclic
            }
            level.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            for n in &level {
                remaining.remove(n);
                for dependent in self.graph.neighbors_directed(*n, Direction::Incoming) {
                    if let Some(c) = remaining.get_mut(&dependent) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
            levels.push(level.iter().map(|n| self.graph[*n].as_str()).collect());
        }
        levels
    }

    /// Stop order: the start levels reversed (dependents stop before their dependencies).
    pub fn stop_levels(&self) -> Vec<Vec<&str>> {
        let mut levels = self.start_levels();
        levels.reverse();
        levels
    }

    /// All services, each after everything it depends on: a depth-first walk over the sorted
    /// names, dependencies first (the order `docker compose config --services` prints).
    pub fn dependency_order(&self) -> Vec<&str> {
        let mut nodes: Vec<NodeIndex> = self.graph.node_indices().collect();
        nodes.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        let mut done = BTreeSet::new();
        let mut out = Vec::new();
        for n in nodes {
            self.visit(n, &mut done, &mut out);
        }
        out
    }

    fn visit<'a>(&'a self, n: NodeIndex, done: &mut BTreeSet<NodeIndex>, out: &mut Vec<&'a str>) {
        if !done.insert(n) {
            return;
        }
        let mut deps: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(n, Direction::Outgoing)
            .collect();
        deps.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        for d in deps {
            self.visit(d, done, out);
        }
        out.push(self.graph[n].as_str());
    }

    /// `selected` plus everything they depend on, transitively (what `up web` starts).
    pub fn with_dependencies<'a>(&'a self, selected: &[&str]) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = selected
            .iter()
            .filter_map(|s| self.index.get(*s).copied())
            .collect();
        while let Some(n) = stack.pop() {
            if out.insert(self.graph[n].as_str()) {
                stack.extend(self.graph.neighbors_directed(n, Direction::Outgoing));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(services: &[&str], edges: &[(&str, &str)]) -> Result<Graph, Cycle> {
        Graph::new(
            services.iter().map(|s| s.to_string()),
            edges
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string(), Dependency::default())),
        )
    }

    #[test]
    fn levels_follow_dependencies() {
        let g = g(
            &["web", "db", "cache", "proxy", "lone"],
            &[("web", "db"), ("web", "cache"), ("proxy", "web")],
        )
        .unwrap();
        assert_eq!(
            g.start_levels(),
            vec![vec!["cache", "db", "lone"], vec!["web"], vec!["proxy"]]
        );
        assert_eq!(
            g.stop_levels(),
            vec![vec!["proxy"], vec!["web"], vec!["cache", "db", "lone"]]
        );
    }

    #[test]
    fn cycles_are_reported_in_order() {
        let e = g(&["a", "b", "c"], &[("a", "b"), ("b", "c"), ("c", "a")]).unwrap_err();
        assert_eq!(e.0, vec!["a", "b", "c", "a"]);
        assert_eq!(e.to_string(), "dependency cycle detected: a -> b -> c -> a");
        let e = g(&["a"], &[("a", "a")]).unwrap_err();
        assert_eq!(e.0, vec!["a", "a"]);
    }

    #[test]
    fn dependencies_and_dependents_keep_the_edge() {
        let g = Graph::new(
            ["web".to_string(), "db".to_string()],
            [(
                "web".to_string(),
                "db".to_string(),
                Dependency {
                    condition: Condition::Healthy,
                    required: false,
                    restart: true,
                },
            )],
        )
        .unwrap();
        let deps = g.dependencies("web");
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].0, "db");
        assert_eq!(deps[0].1.condition, Condition::Healthy);
        assert!(!deps[0].1.required && deps[0].1.restart);
        assert_eq!(g.dependents("db")[0].0, "web");
        assert!(g.dependencies("db").is_empty());
    }

    #[test]
    fn dependency_order_puts_dependencies_first() {
        let g = g(&["a", "b", "c"], &[("a", "b")]).unwrap();
        assert_eq!(g.dependency_order(), vec!["b", "a", "c"]);
    }

    #[test]
    fn from_project_reads_conditions() {
        let mut project: crate::model::Project = serde_yaml_ng::from_str(
            "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n  db:\n    image: y\n",
        )
        .unwrap();
        project.name = "p".into();
        let g = Graph::from_project(&project).unwrap();
        assert_eq!(g.start_levels(), vec![vec!["db"], vec!["web"]]);
        let (dep, how) = g.dependencies("web")[0];
        assert_eq!(dep, "db");
        assert_eq!(how.condition, Condition::Healthy);
        assert!(how.restart && how.required);
    }

    #[test]
    fn with_dependencies_is_transitive() {
        let g = g(&["a", "b", "c", "d"], &[("a", "b"), ("b", "c")]).unwrap();
        let s: Vec<&str> = g.with_dependencies(&["a"]).into_iter().collect();
        assert_eq!(s, vec!["a", "b", "c"]);
    }

    #[test]
    fn edges_to_unknown_services_are_ignored() {
        let g = g(&["a"], &[("a", "zzz")]).unwrap();
        assert_eq!(g.start_levels(), vec![vec!["a"]]);
    }
}
