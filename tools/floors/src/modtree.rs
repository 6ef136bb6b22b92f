//! The module tree of one crate target, read from its sources: which file holds each module,
//! the names each module defines and imports, and every path that may point at another module.
//!
//! Test-only code (`#[cfg(test)]` modules and items) is left out: tests may reach anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

use crate::error::FloorsError;

/// One module: inline modules share their file with their parent.
#[derive(Debug, Default)]
pub struct Module {
    pub parent: Option<usize>,
    pub file: usize,
    pub children: HashMap<String, usize>,
    /// Names of items defined in this module (types, functions, constants, macros, ...).
    pub items: Vec<String>,
    /// `use` aliases: the name it brings in scope and the path as written.
    pub imports: HashMap<String, Vec<String>>,
    /// `use path::*` sources, as written.
    pub globs: Vec<Vec<String>>,
}

/// A path written in a module that may name something of the same crate.
#[derive(Debug)]
pub struct Reference {
    pub module: usize,
    pub segments: Vec<String>,
    /// A `pub use`: it forwards a name and is resolved through, not counted as an import.
    pub reexport: bool,
}

/// The parsed tree of one crate target (a library or one binary).
#[derive(Debug, Default)]
pub struct Tree {
    pub files: Vec<PathBuf>,
    pub modules: Vec<Module>,
    pub references: Vec<Reference>,
}

impl Tree {
    /// Reads the crate whose root file is `root` (`lib.rs`, `main.rs` or a `bin/*.rs`).
    pub fn load(root: &Path) -> Result<Tree, FloorsError> {
        let mut tree = Tree::default();
        let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
        tree.load_file(root, dir, None)?;
        Ok(tree)
    }

    fn load_file(
        &mut self,
        path: &Path,
        child_dir: PathBuf,
        parent: Option<usize>,
    ) -> Result<usize, FloorsError> {
        let text = std::fs::read_to_string(path).map_err(|source| FloorsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = syn::parse_file(&text).map_err(|e| FloorsError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        self.files.push(path.to_path_buf());
        let file_idx = self.files.len() - 1;
        let module = self.new_module(parent, file_idx);
        self.load_items(module, &file.items, &child_dir)?;
        Ok(module)
    }

    fn new_module(&mut self, parent: Option<usize>, file: usize) -> usize {
        self.modules.push(Module {
            parent,
            file,
            ..Module::default()
        });
        self.modules.len() - 1
    }

    fn load_items(
        &mut self,
        module: usize,
        items: &[syn::Item],
        child_dir: &Path,
    ) -> Result<(), FloorsError> {
        for item in items {
            if is_test_only(item_attrs(item)) {
                continue;
            }
            match item {
                syn::Item::Mod(m) => self.load_mod(module, m, child_dir)?,
                syn::Item::Use(u) => {
                    let reexport = !matches!(u.vis, syn::Visibility::Inherited);
                    let mut leaves = Vec::new();
                    flatten_use(&u.tree, &mut Vec::new(), &mut leaves);
                    for leaf in leaves {
                        match leaf.alias {
                            Some(alias) => {
                                self.modules[module]
                                    .imports
                                    .insert(alias, leaf.path.clone());
                            }
                            None => self.modules[module].globs.push(leaf.path.clone()),
                        }
                        self.references.push(Reference {
                            module,
                            segments: leaf.path,
                            reexport,
                        });
                    }
                }
                other => {
                    if let Some(name) = item_name(other) {
                        self.modules[module].items.push(name);
                    }
                    let mut collector = PathCollector { paths: Vec::new() };
                    collector.visit_item(other);
                    for segments in collector.paths {
                        self.references.push(Reference {
                            module,
                            segments,
                            reexport: false,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn load_mod(
        &mut self,
        module: usize,
        m: &syn::ItemMod,
        child_dir: &Path,
    ) -> Result<(), FloorsError> {
        let name = m.ident.to_string();
        let child = if let Some((_, items)) = &m.content {
            let child = self.new_module(Some(module), self.modules[module].file);
            self.load_items(child, items, &child_dir.join(&name))?;
            child
        } else {
            let (path, grandchild_dir) = match path_attr(&m.attrs) {
                Some(p) => {
                    let path = child_dir.join(p);
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    (path, dir)
                }
                None => {
                    let flat = child_dir.join(format!("{name}.rs"));
                    if flat.exists() {
                        (flat, child_dir.join(&name))
                    } else {
                        (child_dir.join(&name).join("mod.rs"), child_dir.join(&name))
                    }
                }
            };
            self.load_file(&path, grandchild_dir, Some(module))?
        };
        self.modules[module].children.insert(name, child);
        Ok(())
    }
}

struct UseLeaf {
    path: Vec<String>,
    /// The name brought in scope; `None` for a glob.
    alias: Option<String>,
}

fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.push(UseLeaf {
                        path: prefix.clone(),
                        alias: Some(last.clone()),
                    });
                }
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push(UseLeaf {
                    path,
                    alias: Some(name),
                });
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push(UseLeaf {
                path,
                alias: Some(r.rename.to_string()),
            });
        }
        syn::UseTree::Glob(_) => out.push(UseLeaf {
            path: prefix.clone(),
            alias: None,
        }),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix, out);
            }
        }
    }
}

/// Collects the multi-segment paths of an item, including `crate::`/`super::` paths written
/// inside macro invocations, and the imports of `use` declarations inside function bodies.
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            self.paths
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut leaves = Vec::new();
        flatten_use(&u.tree, &mut Vec::new(), &mut leaves);
        self.paths.extend(leaves.into_iter().map(|l| l.path));
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        macro_paths(mac.tokens.clone(), &mut self.paths);
        syn::visit::visit_macro(self, mac);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
}

/// Finds `crate::a::b` and `super::a` sequences in a macro's tokens.
fn macro_paths(tokens: TokenStream, out: &mut Vec<Vec<String>>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Group(g) => macro_paths(g.stream(), out),
            TokenTree::Ident(id) if id == "crate" || id == "super" => {
                let mut path = vec![id.to_string()];
                let mut j = i + 1;
                loop {
                    match (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2)) {
                        (
                            Some(TokenTree::Punct(a)),
                            Some(TokenTree::Punct(b)),
                            Some(TokenTree::Ident(next)),
                        ) if a.as_char() == ':' && b.as_char() == ':' => {
                            path.push(next.to_string());
                            j += 3;
                        }
                        _ => break,
                    }
                }
                if path.len() >= 2 {
                    out.push(path);
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::TraitAlias(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// `#[cfg(test)]`, `#[cfg(all(test, ...))]`: compiled for tests only.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg") && {
            let tokens = match &a.meta {
                syn::Meta::List(l) => l.tokens.to_string(),
                _ => String::new(),
            };
            let words: Vec<&str> = tokens
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .collect();
            words.contains(&"test") && !words.contains(&"not") && !words.contains(&"any")
        }
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}
