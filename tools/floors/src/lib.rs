//! Keeps the workspace layered.
//!
//! * Every member declares its floor in its manifest (`[package.metadata.floor] level = N`)
//!   and may depend (normal and build dependencies) only on members of lower floors.
//! * Inside each crate target, the files import each other without a cycle: imports are
//!   `use` declarations and paths through `crate::`, `super::`, `self::`, child modules and
//!   imported names, resolved through re-exports to the file that defines the item. A
//!   `pub use` only forwards a name and is not itself an import. Test-only code is left out.

pub mod error;
pub mod graph;
pub mod manifest;
pub mod modtree;
pub mod resolve;

use std::fmt;
use std::path::{Path, PathBuf};

pub use error::FloorsError;
use graph::Graph;
use modtree::Tree;

/// A cycle between files of one crate target, with the imports that close it.
#[derive(Debug)]
pub struct Cycle {
    pub files: Vec<PathBuf>,
    pub edges: Vec<(PathBuf, PathBuf, String)>,
}

/// The files of one crate target by floor.
#[derive(Debug)]
pub struct Floors {
    pub root: PathBuf,
    pub files: Vec<(usize, PathBuf)>,
}

/// Everything found in one workspace.
#[derive(Debug, Default)]
pub struct Report {
    /// A member without a floor, or depending on a member of its own or a higher floor.
    pub crate_violations: Vec<String>,
    pub cycles: Vec<Cycle>,
    pub floors: Vec<Floors>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.crate_violations.is_empty() && self.cycles.is_empty()
    }
}

/// Checks the workspace whose manifest is in `root`; paths in the report are relative to it.
pub fn check(root: &Path) -> Result<Report, FloorsError> {
    let members = manifest::members(root)?;
    let mut report = Report::default();
    for m in &members {
        let Some(floor) = m.floor else {
            report.crate_violations.push(format!(
                "{}: no [package.metadata.floor] level in its Cargo.toml",
                m.name
            ));
            continue;
        };
        for dep in &m.dependencies {
            if let Some(d) = members.iter().find(|o| &o.name == dep)
                && d.floor.is_some_and(|f| f >= floor)
            {
                report.crate_violations.push(format!(
                    "{} (floor {floor}) depends on {} (floor {}): a crate may only depend on lower floors",
                    m.name,
                    d.name,
                    d.floor.unwrap_or_default()
                ));
            }
        }
    }
    for m in &members {
        for crate_root in &m.roots {
            let tree = Tree::load(crate_root)?;
            let graph = Graph::build(&tree);
            let rel = |f: usize| {
                tree.files[f]
                    .strip_prefix(root)
                    .unwrap_or(&tree.files[f])
                    .to_path_buf()
            };
            let cycles = graph.cycles();
            for cycle in &cycles {
                let edges = graph
                    .edges
                    .iter()
                    .filter(|((a, b), _)| cycle.contains(a) && cycle.contains(b))
                    .map(|((a, b), path)| (rel(*a), rel(*b), path.clone()))
                    .collect();
                report.cycles.push(Cycle {
                    files: cycle.iter().map(|&f| rel(f)).collect(),
                    edges,
                });
            }
            if cycles.is_empty() {
                let mut files: Vec<(usize, PathBuf)> = graph
                    .floors()
                    .into_iter()
                    .enumerate()
                    .map(|(f, floor)| (floor, rel(f)))
                    .collect();
                files.sort();
                report.floors.push(Floors {
                    root: rel_path(root, crate_root),
                    files,
                });
            }
        }
    }
    Ok(report)
}

fn rel_path(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root).unwrap_or(p).to_path_buf()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.crate_violations {
            writeln!(f, "crate floors: {v}")?;
        }
        for c in &self.cycles {
            writeln!(f, "import cycle between {} files:", c.files.len())?;
            for file in &c.files {
                writeln!(f, "  {}", file.display())?;
            }
            writeln!(f, "  imports inside the cycle:")?;
            for (a, b, path) in &c.edges {
                writeln!(f, "    {} -> {}  ({path})", a.display(), b.display())?;
            }
        }
        Ok(())
    }
}
