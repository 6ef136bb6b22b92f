//! Workspace members, their declared floor (`[package.metadata.floor] level = N`), their
//! dependencies on each other and their crate roots.

use std::path::{Path, PathBuf};

use crate::error::FloorsError;

/// One workspace member as its manifest describes it.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub dir: PathBuf,
    pub floor: Option<i64>,
    /// Names of every normal and build dependency (workspace members among them).
    pub dependencies: Vec<String>,
    /// Root files of the library and of each binary.
    pub roots: Vec<PathBuf>,
}

/// Reads the members listed in the workspace manifest under `root`.
pub fn members(root: &Path) -> Result<Vec<Member>, FloorsError> {
    let workspace = read_toml(&root.join("Cargo.toml"))?;
    let dirs = workspace
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .ok_or_else(|| FloorsError::Manifest {
            path: root.join("Cargo.toml"),
            message: "no [workspace] members".into(),
        })?;
    dirs.iter()
        .filter_map(toml::Value::as_str)
        .map(|d| member(&root.join(d)))
        .collect()
}

fn member(dir: &Path) -> Result<Member, FloorsError> {
    let path = dir.join("Cargo.toml");
    let manifest = read_toml(&path)?;
    let package = manifest.get("package");
    let name = package
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| FloorsError::Manifest {
            path: path.clone(),
            message: "no package.name".into(),
        })?
        .to_string();
    let floor = package
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("floor"))
        .and_then(|f| f.get("level"))
        .and_then(toml::Value::as_integer);
    let mut dependencies = Vec::new();
    for table in ["dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(table).and_then(toml::Value::as_table) {
            for (key, spec) in deps {
                let real = spec
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key);
                dependencies.push(real.to_string());
            }
        }
    }
    Ok(Member {
        roots: roots(dir, &manifest),
        name,
        dir: dir.to_path_buf(),
        floor,
        dependencies,
    })
}

fn roots(dir: &Path, manifest: &toml::Value) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let lib = manifest
        .get("lib")
        .and_then(|l| l.get("path"))
        .and_then(toml::Value::as_str)
        .map(|p| dir.join(p))
        .unwrap_or_else(|| dir.join("src/lib.rs"));
    if lib.exists() {
        roots.push(lib);
    }
    let declared: Vec<PathBuf> = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("path").and_then(toml::Value::as_str))
        .map(|p| dir.join(p))
        .collect();
    roots.extend(declared.iter().cloned());
    let main = dir.join("src/main.rs");
    if main.exists() && !roots.contains(&main) {
        roots.push(main);
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("src/bin")) {
        let mut bins: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs") && !roots.contains(p))
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    roots
}

fn read_toml(path: &Path) -> Result<toml::Value, FloorsError> {
    let text = std::fs::read_to_string(path).map_err(|source| FloorsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| FloorsError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
