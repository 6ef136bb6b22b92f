//! The compiled script and its runtime: one Rhai engine per plugin, the AST compiled once and
//! its top level evaluated once into a module (so `global::X` constants and `import`ed modules
//! stay reachable), then host calls that run only the called function.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::module_resolvers::FileModuleResolver;
use rhai::{AST, Dynamic, EvalAltResult, FnAccess, Module, Scope};

use super::cancel::{CANCEL_TOKEN, CancelState};
use super::error::{PluginError, TimeoutReason};
use super::functions::{babel_module, standard_package};
use super::host::{Host, HostHandle};
use super::limits::{DEADLINE_TOKEN, Deadline, PluginLimits};
use super::script_cache::{self, Compiled};
use babel_api::engine::LogLevel;

/// Name under which the evaluated script is registered in its engine.
const PLUGIN_NAMESPACE: &str = "babel_plugin";
/// Name of the parameter variable in the call stubs.
const PARAM: &str = "param";
/// File name reported for scripts loaded from a string.
pub(crate) const INLINE_SOURCE: &str = "main.rhai";

/// A compiled plugin script.
pub(crate) struct Script {
    pub ast: AST,
    /// Directory `import` resolves from (the plugin directory).
    pub dir: Option<PathBuf>,
    /// Public functions of the main script: name and number of parameters.
    pub functions: Vec<(String, usize)>,
    /// The compilation shared with other plugins of the same source: holding it keeps the
    /// cache entry alive for the next node of the same image.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only held, to keep the cache entry alive")
    )]
    pub shared: Arc<Compiled>,
}

impl Script {
    pub fn compile(
        source: &str,
        file: &str,
        dir: Option<&Path>,
        limits: &PluginLimits,
    ) -> Result<Self, PluginError> {
        let compiled = script_cache::compiled(source, limits, || {
            let engine = base_engine(limits, dir);
            let ast = engine.compile(source).map_err(|err| PluginError::Syntax {
                file: file.to_string(),
                line: err.1.line().unwrap_or(0),
                column: err.1.position().unwrap_or(0),
                message: err.0.to_string(),
            })?;
            let functions = ast
                .iter_functions()
                .filter(|f| f.access != FnAccess::Private)
                .map(|f| (f.name.to_string(), f.params.len()))
                .collect();
            Ok(Compiled { ast, functions })
        })?;
        Ok(Self {
            ast: script_cache::instance(&compiled, file),
            dir: dir.map(Path::to_path_buf),
            functions: compiled.functions.clone(),
            shared: compiled,
        })
    }

    pub fn has_fn(&self, name: &str, params: usize) -> bool {
        self.functions
            .iter()
            .any(|(n, p)| n == name && *p == params)
    }

    pub fn has_fn_named(&self, name: &str) -> bool {
        self.functions.iter().any(|(n, _)| n == name)
    }
}

/// An engine with the standard library, the babel functions and the limits, but no host.
pub(crate) fn base_engine(limits: &PluginLimits, dir: Option<&Path>) -> rhai::Engine {
    let mut engine = rhai::Engine::new_raw();
    engine.register_global_module(standard_package());
    engine.register_global_module(babel_module());
    engine.set_max_strings_interned(0);
    limits.apply(&mut engine);
    match dir {
        Some(dir) => engine.set_module_resolver(FileModuleResolver::new_with_path(dir)),
        None => engine.set_module_resolver(FileModuleResolver::new()),
    };
    engine
}

/// A script evaluated against a host: ready for calls.
pub(crate) struct Runtime {
    engine: rhai::Engine,
    deadline: Arc<Deadline>,
    cancel: Arc<CancelState>,
    limits: PluginLimits,
    /// Compiled call stubs (`babel_plugin::name(param)`) by name and arity.
    stubs: Mutex<HashMap<(String, usize), AST>>,
}

impl Runtime {
    /// Builds the engine for `host` and evaluates the script's top level once.
    pub fn new(
        script: &Script,
        host: &Arc<Host>,
        limits: &PluginLimits,
    ) -> Result<Self, PluginError> {
        let mut engine = base_engine(limits, script.dir.as_deref());
        let deadline = host.deadline.clone();
        deadline.install(&host.cancel, &mut engine);
        let log_host = host.clone();
        engine.on_print(move |text| log_host.engine.log(LogLevel::Info, text));
        let log_host = host.clone();
        engine.on_debug(move |text, _, _| log_host.engine.log(LogLevel::Debug, text));
        engine.set_default_tag(Dynamic::from(HostHandle(host.clone())));

        let module = {
            let _armed = deadline.arm(limits.call_timeout);
            Module::eval_ast_as_new(Scope::new(), &script.ast, &engine)
                .map_err(|err| map_error("<top level>", *err, limits))?
        };
        engine.register_static_module(PLUGIN_NAMESPACE, module.into());
        Ok(Self {
            engine,
            deadline,
            cancel: host.cancel.clone(),
            limits: limits.clone(),
            stubs: Mutex::new(HashMap::new()),
        })
    }

    /// Calls script function `name` with zero or one argument.
    pub fn call(&self, name: &str, param: Option<Dynamic>) -> Result<Dynamic, PluginError> {
        if self.cancel.should_stop() {
            return Err(PluginError::Cancelled {
                function: name.to_string(),
            });
        }
        let arity = usize::from(param.is_some());
        let stub = self.stub(name, arity)?;
        let mut scope = Scope::new();
        if let Some(param) = param {
            scope.push(PARAM, param);
        }
        let _armed = self.deadline.arm(self.limits.call_timeout);
        self.engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &stub)
            .map_err(|err| map_error(name, *err, &self.limits))
    }

    fn stub(&self, name: &str, arity: usize) -> Result<AST, PluginError> {
        let key = (name.to_string(), arity);
        let mut stubs = match self.stubs.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(ast) = stubs.get(&key) {
            return Ok(ast.clone());
        }
        if !rhai::is_valid_function_name(name) {
            return Err(PluginError::MethodNotFound(name.to_string()));
        }
        let args = if arity == 1 { PARAM } else { "" };
        let ast = self
            .engine
            .compile(format!("{PLUGIN_NAMESPACE}::{name}({args})"))
            .map_err(|_| PluginError::MethodNotFound(name.to_string()))?;
        stubs.insert(key, ast.clone());
        Ok(ast)
    }
}

/// The innermost error of a chain of function-call / module wrappers.
fn root_cause(err: &EvalAltResult) -> &EvalAltResult {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => root_cause(inner),
        other => other,
    }
}

/// The innermost known position of a chain (the failing statement).
fn innermost_position(err: &EvalAltResult) -> Option<(usize, usize)> {
    let inner = match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => innermost_position(inner),
        _ => None,
    };
    inner.or_else(|| {
        let pos = err.position();
        pos.line().map(|l| (l, pos.position().unwrap_or(0)))
    })
}

pub(crate) fn map_error(function: &str, err: EvalAltResult, limits: &PluginLimits) -> PluginError {
    match root_cause(&err) {
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(CANCEL_TOKEN) =>
        {
            return PluginError::Cancelled {
                function: function.to_string(),
            };
        }
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(DEADLINE_TOKEN) =>
        {
            return PluginError::Timeout {
                function: function.to_string(),
                reason: TimeoutReason::WallClock(limits.call_timeout),
            };
        }
        EvalAltResult::ErrorTooManyOperations(_) => {
            return PluginError::Timeout {
                function: function.to_string(),
                reason: TimeoutReason::Operations(limits.max_operations),
            };
        }
        _ => {}
    }
    // The outermost wrapper is the host's own call of `function`: drop it.
    let err = match err {
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _)
            if name == function || name.ends_with(&format!("::{function}")) =>
        {
            *inner
        }
        other => other,
    };
    PluginError::Script {
        function: function.to_string(),
        position: innermost_position(&err),
        message: err.to_string(),
    }
}
