//! Compiled plugin scripts shared between plugins loaded from the same source text: the
//! nodes of one image load the same `main.rhai`, so they share one compiled copy (function
//! bodies included) instead of parsing and holding it once per node. An entry lives as long
//! as a plugin uses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rhai::AST;

use super::error::PluginError;
use super::limits::PluginLimits;

/// One compiled source: its AST (no source name) and its public functions.
pub(crate) struct Compiled {
    pub ast: AST,
    pub functions: Vec<(String, usize)>,
}

/// Compilation depends on the source text and the parse limits only (imports are resolved
/// when the top level is evaluated, per plugin).
#[derive(PartialEq, Eq, Hash)]
struct Key {
    source: String,
    max_expr_depth: usize,
    max_function_expr_depth: usize,
}

type Cache = Mutex<HashMap<Key, Weak<Compiled>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The compiled `source`, from the cache or from `compile` (failures are not cached).
pub(crate) fn compiled(
    source: &str,
    limits: &PluginLimits,
    compile: impl FnOnce() -> Result<Compiled, PluginError>,
) -> Result<Arc<Compiled>, PluginError> {
    let key = Key {
        source: source.to_string(),
        max_expr_depth: limits.max_expr_depth,
        max_function_expr_depth: limits.max_function_expr_depth,
    };
    if let Some(hit) = lock().get(&key).and_then(Weak::upgrade) {
        return Ok(hit);
    }
    // Compiled outside the lock: another thread may compile the same source meanwhile,
    // and the last one stored wins (both copies are correct).
    let fresh = Arc::new(compile()?);
    let mut map = lock();
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(key, Arc::downgrade(&fresh));
    Ok(fresh)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Key, Weak<Compiled>>> {
    cache().lock().unwrap_or_else(|p| p.into_inner())
}

/// A plugin's own AST over the shared compiled one: its statements and function table are
/// copied with `file` as the source name (so errors name this plugin's file), the function
/// bodies stay shared.
pub(crate) fn instance(compiled: &Compiled, file: &str) -> AST {
    let mut lib = compiled.ast.shared_lib().as_ref().clone();
    lib.set_id(file);
    AST::new_with_source(compiled.ast.statements().iter().cloned(), lib, file)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::limits::PluginLimits;
    use crate::script::Script;

    const SOURCE: &str = "fn height() { 7 }\nfn name(p) { `n-${p}` }\nlet x = 1;\n";

    #[test]
    fn same_source_compiles_once_and_keeps_its_own_source_name() {
        let limits = PluginLimits::default();
        let a = Script::compile(SOURCE, "/nodes/a/main.rhai", None, &limits).unwrap();
        let b = Script::compile(SOURCE, "/nodes/b/main.rhai", None, &limits).unwrap();
        assert!(
            Arc::ptr_eq(&a.shared, &b.shared),
            "second load compiled again"
        );
        assert_eq!(a.ast.source(), Some("/nodes/a/main.rhai"));
        assert_eq!(b.ast.source(), Some("/nodes/b/main.rhai"));
        assert_eq!(b.ast.shared_lib().id(), Some("/nodes/b/main.rhai"));
        assert_eq!(b.functions, a.functions);
        assert!(b.has_fn("name", 1) && b.has_fn("height", 0));

        let other = Script::compile(
            &format!("{SOURCE}fn extra() {{ 1 }}\n"),
            "/nodes/c/main.rhai",
            None,
            &limits,
        )
        .unwrap();
        assert!(!Arc::ptr_eq(&a.shared, &other.shared));
        assert!(other.has_fn("extra", 0));

        let tighter = PluginLimits {
            max_expr_depth: 8,
            ..PluginLimits::default()
        };
        let d = Script::compile(SOURCE, "/nodes/d/main.rhai", None, &tighter).unwrap();
        assert!(
            !Arc::ptr_eq(&a.shared, &d.shared),
            "parse limits are part of the key"
        );
    }

    #[test]
    fn entry_goes_when_no_plugin_uses_it() {
        let limits = PluginLimits::default();
        let source = "fn only_here() { 1 }\n";
        let first = Script::compile(source, "a.rhai", None, &limits).unwrap();
        let weak = Arc::downgrade(&first.shared);
        drop(first);
        assert!(
            weak.upgrade().is_none(),
            "the cache must not keep a script alive"
        );
        let again = Script::compile(source, "a.rhai", None, &limits).unwrap();
        assert!(again.has_fn("only_here", 0));
    }

    #[test]
    fn syntax_errors_are_not_cached_and_name_each_file() {
        let limits = PluginLimits::default();
        let bad = "fn broken( {";
        let e1 = Script::compile(bad, "x.rhai", None, &limits).err().unwrap();
        let e2 = Script::compile(bad, "y.rhai", None, &limits).err().unwrap();
        assert!(e1.to_string().contains("x.rhai"), "{e1}");
        assert!(e2.to_string().contains("y.rhai"), "{e2}");
    }
}
