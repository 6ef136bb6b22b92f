//! Pure helper functions for scripts: JSON, hex, time, shell quoting.

use rhai::{Dynamic, Module};

use super::native::{FnResult, reg, runtime};
use crate::pure;

/// JSON text to a Rhai value; the top level must be an object (`null` gives `()`).
pub(crate) fn parse_json(text: &str) -> FnResult<Dynamic> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| runtime(format!("invalid JSON: {err}")))?;
    match value {
        serde_json::Value::Null => Ok(Dynamic::UNIT),
        value @ serde_json::Value::Object(_) => rhai::serde::to_dynamic(value),
        _ => Err(runtime("invalid JSON: the top level must be an object")),
    }
}

pub(super) fn register(module: &mut Module) {
    reg(
        "parse_json",
        &["json: &str", "Map"],
        "Parses JSON text whose top level is an object (`null` gives `()`).",
    )
    .set_into_module(module, |s: &str| parse_json(s));
    reg(
        "to_json",
        &["value: Dynamic", "String"],
        "Serializes any value as JSON text.",
    )
    .set_into_module(module, |v: Dynamic| -> FnResult<String> {
        serde_json::to_string(&v).map_err(runtime)
    });
    reg(
        "parse_hex",
        &["hex: &str", "i64"],
        "Parses a hexadecimal integer; a leading `0x` is stripped.",
    )
    .set_into_module(module, |s: &str| pure::parse_hex(s).map_err(runtime));
    reg("system_time", &["i64"], "Current UTC time in Unix seconds.")
        .with_volatility(true)
        .set_into_module(module, pure::system_time);
    reg(
        "parse_rfc3339",
        &["time: &str", "i64"],
        "RFC 3339 timestamp to Unix seconds.",
    )
    .set_into_module(module, |s: &str| pure::parse_rfc3339(s).map_err(runtime));
    reg(
        "parse_rfc2822",
        &["time: &str", "i64"],
        "RFC 2822 timestamp to Unix seconds.",
    )
    .set_into_module(module, |s: &str| pure::parse_rfc2822(s).map_err(runtime));
    reg(
        "parse_time",
        &["time: &str", "format: &str", "i64"],
        "Timestamp in a chrono format that includes a UTC offset, to Unix seconds.",
    )
    .set_into_module(module, |s: &str, f: &str| {
        pure::parse_time(s, f).map_err(runtime)
    });
    reg(
        "sanitize_sh_param",
        &["param: &str", "String"],
        "Quotes a value for use in a shell command; refuses shell-unsafe characters.",
    )
    .set_into_module(module, |s: &str| {
        pure::sanitize_sh_param(s).map_err(runtime)
    });
}
