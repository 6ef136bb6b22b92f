//! Resolves paths to the file that defines what they name, following `use` aliases and
//! re-exports, so that an import through a facade module counts as an import of the file
//! that holds the item.

use crate::modtree::Tree;

/// What a path names, as far as this crate is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A module (its file), when the path stops at one or names something not found in it.
    Module(usize),
    /// An item defined in this file.
    Item(usize),
    /// Another crate, or a local name of the referring module.
    Outside,
}

impl Target {
    pub fn file(self, tree: &Tree) -> Option<usize> {
        match self {
            Target::Module(m) => Some(tree.modules[m].file),
            Target::Item(f) => Some(f),
            Target::Outside => None,
        }
    }
}

const MAX_DEPTH: usize = 24;

/// Resolves `segments` as written in module `from`.
pub fn resolve(tree: &Tree, from: usize, segments: &[String]) -> Target {
    resolve_at(tree, from, segments, 0)
}

fn resolve_at(tree: &Tree, from: usize, segments: &[String], depth: usize) -> Target {
    if depth > MAX_DEPTH || segments.is_empty() {
        return Target::Outside;
    }
    let mut module = from;
    let mut rest = segments;
    match rest[0].as_str() {
        "crate" => {
            module = 0;
            rest = &rest[1..];
        }
        "self" | "super" => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => {}
                    "super" => match tree.modules[module].parent {
                        Some(p) => module = p,
                        None => return Target::Outside,
                    },
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => {
            // A relative path only concerns this crate when its first name is a child module
            // or an import of the module it is written in.
            let m = &tree.modules[from];
            if !m.children.contains_key(&rest[0]) && !m.imports.contains_key(&rest[0]) {
                return Target::Outside;
            }
        }
    }
    walk(tree, module, rest, depth)
}

/// Looks `rest` up starting inside `module`.
fn walk(tree: &Tree, mut module: usize, mut rest: &[String], depth: usize) -> Target {
    while let Some(name) = rest.first() {
        match lookup(tree, module, name, depth) {
            Some(Target::Module(child)) => {
                module = child;
                rest = &rest[1..];
            }
            Some(found) => return found,
            None => return Target::Module(module),
        }
    }
    Target::Module(module)
}

/// One name in one module: a child module, an item, an import or a glob import.
fn lookup(tree: &Tree, module: usize, name: &str, depth: usize) -> Option<Target> {
    let m = &tree.modules[module];
    if let Some(&child) = m.children.get(name) {
        return Some(Target::Module(child));
    }
    if m.items.iter().any(|i| i == name) {
        return Some(Target::Item(m.file));
    }
    if let Some(path) = m.imports.get(name) {
        return match resolve_at(tree, module, path, depth + 1) {
            Target::Outside => Some(Target::Outside),
            found => Some(found),
        };
    }
    for glob in &m.globs {
        if let Target::Module(source) = resolve_at(tree, module, glob, depth + 1)
            && source != module
            && let Some(found) = lookup(tree, source, name, depth + 1)
        {
            return Some(found);
        }
    }
    None
}
