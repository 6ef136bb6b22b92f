//! The functions and types plugins see (spec §1.3, §1.4), registered once per process into
//! a shared Rhai module. Each function finds its node's [`Host`] through the engine tag.

mod node;
mod types;
mod util;

use std::sync::{Arc, OnceLock};

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Module, NativeCallContext, Position};

use super::host::{Host, HostHandle};
use babel_api::engine::EngineError;

pub use types::{DressedHttpResponse, DressedShResponse};

pub(crate) type FnResult<T> = Result<T, Box<EvalAltResult>>;

/// The shared module with every babel function and helper type.
pub(crate) fn babel_module() -> rhai::Shared<Module> {
    static MODULE: OnceLock<rhai::Shared<Module>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let mut module = Module::new();
            module.set_id("babel");
            types::register(&mut module);
            util::register(&mut module);
            node::register(&mut module);
            module.build_index();
            module.into()
        })
        .clone()
}

/// The Rhai standard library, built once per process.
pub(crate) fn standard_package() -> rhai::Shared<Module> {
    use rhai::packages::Package;
    static STD: OnceLock<rhai::Shared<Module>> = OnceLock::new();
    STD.get_or_init(|| rhai::packages::StandardPackage::new().as_shared_module())
        .clone()
}

/// A registration with parameter names and docs for the generated definitions.
pub(crate) fn reg(name: &str, params: &[&str], doc: &str) -> FuncRegistration {
    let registration = FuncRegistration::new(name);
    #[cfg(feature = "definitions")]
    let registration = registration.with_params_info(params).with_comments([doc
        .lines()
        .map(|l| format!("/// {l}"))
        .collect::<Vec<_>>()
        .join("\n")]);
    #[cfg(not(feature = "definitions"))]
    let _ = (params, doc);
    registration
}

/// The host of the plugin that runs this call.
pub(crate) fn host(ctx: &NativeCallContext) -> FnResult<Arc<Host>> {
    ctx.engine()
        .default_tag()
        .read_lock::<HostHandle>()
        .map(|h| h.0.clone())
        .ok_or_else(|| runtime("babel functions are not available in this engine"))
}

/// A Rhai runtime error carrying `message` as a string (what `catch (e)` sees).
pub(crate) fn runtime(message: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.to_string().into(), Position::NONE).into()
}

pub(crate) fn engine_err(err: EngineError) -> Box<EvalAltResult> {
    runtime(err)
}

pub(crate) fn to_dynamic<T: serde::Serialize>(value: &T) -> FnResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}
