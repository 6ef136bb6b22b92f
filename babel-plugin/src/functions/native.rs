//! What every native babel function uses: its result type, its registration, the host of the
//! calling plugin, and the conversion of failures into Rhai runtime errors.

use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, FuncRegistration, NativeCallContext, Position};

use crate::host::{Host, HostHandle};
use babel_api::engine::EngineError;

pub(crate) type FnResult<T> = Result<T, Box<EvalAltResult>>;

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
