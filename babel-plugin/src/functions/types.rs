//! `DressedHttpResponse` and `DressedShResponse` as scripts see them.

use rhai::{Dynamic, FnPtr, FuncRegistration, Module, NativeCallContext};

use super::native::{FnResult, reg, runtime};
use super::util::parse_json;
use babel_api::engine::{HttpResponse, ShResponse};

/// Result of `run_jrpc` / `run_rest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DressedHttpResponse {
    pub status_code: i64,
    pub body: String,
}

impl From<HttpResponse> for DressedHttpResponse {
    fn from(r: HttpResponse) -> Self {
        Self {
            status_code: i64::from(r.status_code),
            body: r.body,
        }
    }
}

/// Result of `run_sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DressedShResponse {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl From<ShResponse> for DressedShResponse {
    fn from(r: ShResponse) -> Self {
        Self {
            exit_code: i64::from(r.exit_code),
            stdout: r.stdout,
            stderr: r.stderr,
        }
    }
}

/// A property getter with its receiver and result types for the generated definitions.
fn getter(name: &str, receiver: &str, ret: &str, doc: &str) -> FuncRegistration {
    let registration = FuncRegistration::new_getter(name);
    #[cfg(feature = "definitions")]
    let registration = registration
        .with_params_info([format!("response: &mut {receiver}"), ret.to_string()])
        .with_comments([format!("/// {doc}")]);
    #[cfg(not(feature = "definitions"))]
    let _ = (receiver, ret, doc);
    registration
}

fn unexpected_status(code: i64) -> Box<rhai::EvalAltResult> {
    runtime(format!("unexpected status_code: {code}"))
}

pub(super) fn register(module: &mut Module) {
    module.set_custom_type::<DressedHttpResponse>("DressedHttpResponse");
    module.set_custom_type::<DressedShResponse>("DressedShResponse");

    getter(
        "status_code",
        "DressedHttpResponse",
        "i64",
        "HTTP status code of the response.",
    )
    .set_into_module(module, |r: &mut DressedHttpResponse| r.status_code);
    getter(
        "body",
        "DressedHttpResponse",
        "String",
        "Body of the response as text.",
    )
    .set_into_module(module, |r: &mut DressedHttpResponse| r.body.clone());
    reg(
        "expect",
        &["response: &mut DressedHttpResponse", "status_code: i64", "Map"],
        "The body parsed as a JSON object if the status code equals `status_code`,\nelse throws `unexpected status_code: <code>`.",
    )
    .set_into_module(
        module,
        |r: &mut DressedHttpResponse, code: i64| -> FnResult<Dynamic> {
            if r.status_code == code {
                parse_json(&r.body)
            } else {
                Err(unexpected_status(r.status_code))
            }
        },
    );
    reg(
        "expect",
        &["response: &mut DressedHttpResponse", "check: FnPtr", "Map"],
        "The body parsed as a JSON object if `check(status_code)` is true,\nelse throws `unexpected status_code: <code>`.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext,
         r: &mut DressedHttpResponse,
         check: FnPtr|
         -> FnResult<Dynamic> {
            let ok: Dynamic = check.call_within_context(&ctx, (r.status_code,))?;
            if ok.as_bool().unwrap_or(false) {
                parse_json(&r.body)
            } else {
                Err(unexpected_status(r.status_code))
            }
        },
    );

    getter(
        "exit_code",
        "DressedShResponse",
        "i64",
        "Exit code of the shell command.",
    )
    .set_into_module(module, |r: &mut DressedShResponse| r.exit_code);
    getter(
        "stdout",
        "DressedShResponse",
        "String",
        "Standard output of the shell command.",
    )
    .set_into_module(module, |r: &mut DressedShResponse| r.stdout.clone());
    getter(
        "stderr",
        "DressedShResponse",
        "String",
        "Standard error of the shell command.",
    )
    .set_into_module(module, |r: &mut DressedShResponse| r.stderr.clone());
    reg(
        "unwrap",
        &["response: &mut DressedShResponse", "String"],
        "stdout if the exit code is 0, else throws `unexpected exit_code: <n>`.",
    )
    .set_into_module(module, |r: &mut DressedShResponse| -> FnResult<String> {
        if r.exit_code == 0 {
            Ok(r.stdout.clone())
        } else {
            Err(runtime(format!("unexpected exit_code: {}", r.exit_code)))
        }
    });
}
