//! Runs the `fn test_*()` functions of `tests/*.rhai` against the plugin next to babel.yaml,
//! each on a fresh [`MockEngine`], and reports like `cargo test`.
//!
//! Functions a test can call, besides the Rhai standard library:
//! * set up: `mock_sh(pattern, stdout | #{exit_code, stdout, stderr})`,
//!   `mock_jrpc(method, body)`, `mock_jrpc(method, status_code, body)`, `mock_rest(url, body)`,
//!   `mock_rest(url, status_code, body)`, `mock_file(path, text)`, `mock_secret(name, text)`,
//!   `mock_job(name, "running" | "stopped" | "pending" | exit_code)`, `set_params(#{...})`,
//!   `set_env(#{...})`, `set_archive(bool)`. A call no mock matches fails the test; the
//!   newest matching mock wins (`pattern` is a substring of the command, method or URL).
//! * the plugin: `protocol_status()`, `height()`, `init()`, `plugin_config()` (the parsed
//!   config as the node gets it), `call_method(name)`, `call_method(name, param)` (any method, as text).
//! * what it did: `jobs()`, `started_jobs()`, `files()`, `secrets()`, `calls()`, `logs()`,
//!   `tasks()`.
//! * assertions: `assert(cond)`, `assert(cond, message)`, `assert_eq(actual, expected)`,
//!   `assert_eq(actual, expected, message)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use babel_api::engine::{HttpResponse, ShResponse};
use babel_api::job::JobStatus;
use babel_api::node_env::NodeEnv;
use babel_plugin::{Plugin, PluginLimits};
use rhai::{Dynamic, EvalAltResult, Map, Scope};

use super::mock_engine::{Canned, MockEngine, MockState};

type FnResult<T> = Result<T, Box<EvalAltResult>>;

fn fail(message: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.to_string().into(), rhai::Position::NONE).into()
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestResult {
    /// `<file stem>::<function>`.
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The plugin under test and its mock, shared by the functions a test calls.
struct Ctx {
    plugin_dir: PathBuf,
    env: NodeEnv,
    params: BTreeMap<String, String>,
    engine: MockEngine,
    plugin: Option<Plugin>,
}

impl Ctx {
    fn reset(&mut self) {
        self.engine = MockEngine::default();
        *self.engine.lock() = MockState {
            env: self.env.clone(),
            params: self.params.clone(),
            has_archive: true,
            ..Default::default()
        };
        self.plugin = None;
    }

    fn plugin(&mut self) -> FnResult<&mut Plugin> {
        if self.plugin.is_none() {
            let plugin = Plugin::load(
                &self.plugin_dir,
                Arc::new(self.engine.clone()),
                PluginLimits::default(),
            )
            .map_err(fail)?;
            self.plugin = Some(plugin);
        }
        self.plugin
            .as_mut()
            .ok_or_else(|| fail("plugin not loaded"))
    }
}

type Shared = Arc<Mutex<Ctx>>;

fn lock(ctx: &Shared) -> MutexGuard<'_, Ctx> {
    match ctx.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn to_dynamic<T: serde::Serialize>(value: &T) -> FnResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

fn to_json(value: &Dynamic) -> FnResult<serde_json::Value> {
    serde_json::to_value(value).map_err(fail)
}

/// A canned HTTP body: text as is, anything else as JSON.
fn body(value: &Dynamic) -> FnResult<String> {
    if value.is_string() {
        return Ok(value.clone().into_string().unwrap_or_default());
    }
    Ok(to_json(value)?.to_string())
}

fn text_map(map: &BTreeMap<String, Vec<u8>>) -> Map {
    map.iter()
        .map(|(k, v)| (k.into(), String::from_utf8_lossy(v).into_owned().into()))
        .collect()
}

fn merge_json<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: &T,
    overrides: &Map,
) -> FnResult<T> {
    let mut value = serde_json::to_value(base).map_err(fail)?;
    let over = to_json(&Dynamic::from_map(overrides.clone()))?;
    if let (Some(obj), Some(over)) = (value.as_object_mut(), over.as_object()) {
        for (k, v) in over {
            obj.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).map_err(fail)
}

fn register(engine: &mut rhai::Engine, ctx: &Shared) {
    // --- set up ---
    let c = ctx.clone();
    engine.register_fn("mock_sh", move |pattern: &str, stdout: &str| {
        let response = ShResponse {
            exit_code: 0,
            stdout: stdout.to_string(),
            stderr: String::new(),
        };
        lock(&c).engine.lock().sh.push(Canned {
            pattern: pattern.to_string(),
            response,
        });
    });
    let c = ctx.clone();
    engine.register_fn("mock_sh", move |pattern: &str, r: Map| -> FnResult<()> {
        let get = |k: &str| r.get(k).cloned().unwrap_or_else(|| "".into());
        let response = ShResponse {
            exit_code: r
                .get("exit_code")
                .and_then(|v| v.as_int().ok())
                .unwrap_or(0)
                .try_into()
                .map_err(fail)?,
            stdout: get("stdout").to_string(),
            stderr: get("stderr").to_string(),
        };
        lock(&c).engine.lock().sh.push(Canned {
            pattern: pattern.to_string(),
            response,
        });
        Ok(())
    });
    for kind in ["jrpc", "rest"] {
        let push =
            move |ctx: &Shared, pattern: &str, status: i64, value: &Dynamic| -> FnResult<()> {
                let response = HttpResponse {
                    status_code: u16::try_from(status).map_err(fail)?,
                    body: body(value)?,
                };
                let c = lock(ctx);
                let mut s = c.engine.lock();
                let list = if kind == "jrpc" {
                    &mut s.jrpc
                } else {
                    &mut s.rest
                };
                list.push(Canned {
                    pattern: pattern.to_string(),
                    response,
                });
                Ok(())
            };
        let c = ctx.clone();
        engine.register_fn(format!("mock_{kind}"), move |p: &str, v: Dynamic| {
            push(&c, p, 200, &v)
        });
        let c = ctx.clone();
        engine.register_fn(
            format!("mock_{kind}"),
            move |p: &str, status: i64, v: Dynamic| push(&c, p, status, &v),
        );
    }
    let c = ctx.clone();
    engine.register_fn("mock_file", move |path: &str, text: &str| {
        lock(&c)
            .engine
            .lock()
            .files
            .insert(path.to_string(), text.as_bytes().to_vec());
    });
    let c = ctx.clone();
    engine.register_fn("mock_secret", move |name: &str, text: &str| {
        lock(&c)
            .engine
            .lock()
            .secrets
            .insert(name.to_string(), text.as_bytes().to_vec());
    });
    let c = ctx.clone();
    engine.register_fn("mock_job", move |name: &str, status: Dynamic| -> FnResult<()> {
        let status = if let Ok(code) = status.as_int() {
            JobStatus::Finished {
                exit_code: Some(i32::try_from(code).map_err(fail)?),
                message: String::new(),
            }
        } else {
            match status.to_string().as_str() {
                "running" => JobStatus::Running,
                "stopped" => JobStatus::Stopped,
                "pending" => JobStatus::Pending {
                    waiting_for: vec![],
                },
                other => {
                    return Err(fail(format!(
                        "mock_job: unknown status '{other}' (running, stopped, pending or an exit code)"
                    )));
                }
            }
        };
        lock(&c)
            .engine
            .lock()
            .job_status
            .insert(name.to_string(), status);
        Ok(())
    });
    let c = ctx.clone();
    engine.register_fn("set_params", move |params: Map| {
        let mut ctx = lock(&c);
        let mut s = ctx.engine.lock();
        for (k, v) in params {
            s.params.insert(k.to_string(), v.to_string());
        }
        drop(s);
        ctx.plugin = None;
    });
    let c = ctx.clone();
    engine.register_fn("set_env", move |overrides: Map| -> FnResult<()> {
        let mut ctx = lock(&c);
        let env = merge_json(&ctx.engine.lock().env, &overrides)?;
        ctx.engine.lock().env = env;
        ctx.plugin = None;
        Ok(())
    });
    let c = ctx.clone();
    engine.register_fn("set_archive", move |has: bool| {
        lock(&c).engine.lock().has_archive = has;
    });

    // --- the plugin ---
    let c = ctx.clone();
    engine.register_fn("protocol_status", move || -> FnResult<Dynamic> {
        let mut ctx = lock(&c);
        let status = ctx.plugin()?.protocol_status().map_err(fail)?;
        to_dynamic(&status)
    });
    let c = ctx.clone();
    engine.register_fn("height", move || -> FnResult<i64> {
        let mut ctx = lock(&c);
        let h = ctx.plugin()?.height().map_err(fail)?;
        i64::try_from(h).map_err(fail)
    });
    let c = ctx.clone();
    engine.register_fn("init", move || -> FnResult<()> {
        lock(&c).plugin()?.init().map_err(fail)
    });
    let c = ctx.clone();
    engine.register_fn("plugin_config", move || -> FnResult<Dynamic> {
        let mut ctx = lock(&c);
        let plugin = ctx.plugin()?;
        plugin.reload_plugin_config().map_err(fail)?;
        let config = plugin
            .plugin_config()
            .ok_or_else(|| fail("the plugin has no plugin_config()"))?;
        to_dynamic(config)
    });
    let c = ctx.clone();
    engine.register_fn("call_method", move |name: &str| -> FnResult<String> {
        lock(&c).plugin()?.call_method(name, "").map_err(fail)
    });
    let c = ctx.clone();
    engine.register_fn(
        "call_method",
        move |name: &str, param: &str| -> FnResult<String> {
            lock(&c).plugin()?.call_method(name, param).map_err(fail)
        },
    );

    // --- what it did ---
    let c = ctx.clone();
    engine.register_fn("jobs", move || -> FnResult<Dynamic> {
        to_dynamic(&lock(&c).engine.lock().jobs)
    });
    let c = ctx.clone();
    engine.register_fn("started_jobs", move || -> FnResult<Dynamic> {
        to_dynamic(&lock(&c).engine.lock().started)
    });
    let c = ctx.clone();
    engine.register_fn("files", move || text_map(&lock(&c).engine.lock().files));
    let c = ctx.clone();
    engine.register_fn("secrets", move || text_map(&lock(&c).engine.lock().secrets));
    let c = ctx.clone();
    engine.register_fn("calls", move || -> FnResult<Dynamic> {
        to_dynamic(&lock(&c).engine.lock().calls)
    });
    let c = ctx.clone();
    engine.register_fn("logs", move || -> FnResult<Dynamic> {
        to_dynamic(&lock(&c).engine.lock().logs)
    });
    let c = ctx.clone();
    engine.register_fn("tasks", move || -> FnResult<Dynamic> {
        to_dynamic(&lock(&c).engine.lock().tasks)
    });

    // --- assertions ---
    engine.register_fn("assert", |cond: bool| -> FnResult<()> {
        if cond {
            Ok(())
        } else {
            Err(fail("assertion failed"))
        }
    });
    engine.register_fn("assert", |cond: bool, message: &str| -> FnResult<()> {
        if cond {
            Ok(())
        } else {
            Err(fail(format!("assertion failed: {message}")))
        }
    });
    let eq = |a: Dynamic, b: Dynamic, message: &str| -> FnResult<()> {
        let (ja, jb) = (to_json(&a)?, to_json(&b)?);
        if ja == jb {
            return Ok(());
        }
        let sep = if message.is_empty() { "" } else { ": " };
        Err(fail(format!(
            "assertion `actual == expected` failed{sep}{message}\n  actual: {ja}\nexpected: {jb}"
        )))
    };
    engine.register_fn("assert_eq", move |a: Dynamic, b: Dynamic| eq(a, b, ""));
    engine.register_fn("assert_eq", move |a: Dynamic, b: Dynamic, m: &str| {
        eq(a, b, m)
    });
}

/// The test files of an image directory: `tests/*.rhai`, sorted.
pub fn test_files(image_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(image_dir.join("tests"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    files
}

/// Run every `test*` function of `file` whose name contains `filter`.
pub fn run_file(
    file: &Path,
    plugin_dir: &Path,
    env: &NodeEnv,
    params: &BTreeMap<String, String>,
    filter: Option<&str>,
    mut report: impl FnMut(&TestResult),
) -> Result<Vec<TestResult>, String> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ctx: Shared = Arc::new(Mutex::new(Ctx {
        plugin_dir: plugin_dir.to_path_buf(),
        env: env.clone(),
        params: params.clone(),
        engine: MockEngine::default(),
        plugin: None,
    }));
    let mut engine = rhai::Engine::new();
    engine.set_max_expr_depths(0, 0);
    register(&mut engine, &ctx);
    let source = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let ast = engine
        .compile(&source)
        .map_err(|e| format!("{}:{}: {}", file.display(), e.1.line().unwrap_or(0), e.0))?;
    let mut names: Vec<String> = ast
        .iter_functions()
        .filter(|f| f.name.starts_with("test") && f.params.is_empty())
        .map(|f| f.name.to_string())
        .filter(|n| filter.is_none_or(|f| format!("{stem}::{n}").contains(f)))
        .collect();
    names.sort();
    let mut results = Vec::new();
    for name in names {
        lock(&ctx).reset();
        let outcome = engine.call_fn::<Dynamic>(&mut Scope::new(), &ast, &name, ());
        let result = TestResult {
            name: format!("{stem}::{name}"),
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| describe(&e)),
        };
        report(&result);
        results.push(result);
    }
    Ok(results)
}

/// A failure as the engineer needs it: the message, then where.
fn describe(err: &EvalAltResult) -> String {
    let mut inner = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, e, _) = inner {
        inner = e;
    }
    let message = match inner {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        other => other.to_string(),
    };
    match err.position().line() {
        Some(line) => format!("{message} (test line {line})"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUGIN: &str = r#"
const RPC = "http://127.0.0.1:8545";
fn plugin_config() {
    #{ services: [ #{ name: "client", run_sh: `client --mode ${node_params()["mode"]}` } ] }
}
fn protocol_status() {
    let r = run_jrpc(#{ host: global::RPC, method: "eth_syncing" }).expect(200);
    if r.result { #{ state: "syncing", health: "neutral" } } else { #{ state: "broadcasting", health: "healthy" } }
}
fn height() { parse_hex(run_jrpc(#{ host: global::RPC, method: "eth_blockNumber" }).expect(200).result) }
fn rotate() { put_secret("key", "s3cret".to_blob()); file_write("/etc/key", "k"); "done" }
"#;

    const TESTS: &str = r#"
fn test_syncing() {
    mock_jrpc("eth_syncing", #{ result: true });
    assert_eq(protocol_status(), #{ state: "syncing", health: "neutral" });
}
fn test_height() {
    mock_jrpc("eth_blockNumber", #{ result: "0x10" });
    assert_eq(height(), 16);
    assert_eq(calls(), ["jrpc http://127.0.0.1:8545 eth_blockNumber"]);
}
fn test_params_reach_the_config() {
    set_params(#{ mode: "archive" });
    assert_eq(plugin_config().services[0].run_sh, "client --mode archive");
}
fn test_records_secrets_and_files() {
    assert_eq(call_method("rotate"), "done");
    assert_eq(secrets(), #{ key: "s3cret" });
    assert_eq(files()["/etc/key"], "k");
}
fn test_fails_on_a_wrong_value() {
    mock_jrpc("eth_blockNumber", #{ result: "0x10" });
    assert_eq(height(), 17);
}
fn test_fails_on_an_unmocked_call() { height() }
fn test_fails_on_a_plugin_error() {
    mock_jrpc("eth_syncing", 500, "down");
    protocol_status()
}
fn helper_is_not_a_test() { throw "not run" }
"#;

    fn run(filter: Option<&str>) -> Vec<TestResult> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.rhai"), PLUGIN).unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        let file = dir.path().join("tests/unit.rhai");
        std::fs::write(&file, TESTS).unwrap();
        assert_eq!(test_files(dir.path()), std::slice::from_ref(&file));
        let params = [("mode".to_string(), "full".to_string())].into();
        let mut seen = 0;
        let results = run_file(
            &file,
            dir.path(),
            &NodeEnv::default(),
            &params,
            filter,
            |_| seen += 1,
        )
        .unwrap();
        assert_eq!(seen, results.len());
        results
    }

    #[test]
    fn passing_and_failing_tests_are_told_apart() {
        let results = run(None);
        let verdicts: Vec<(&str, bool)> = results.iter().map(|r| (r.name.as_str(), r.ok)).collect();
        assert_eq!(
            verdicts,
            [
                ("unit::test_fails_on_a_plugin_error", false),
                ("unit::test_fails_on_a_wrong_value", false),
                ("unit::test_fails_on_an_unmocked_call", false),
                ("unit::test_height", true),
                ("unit::test_params_reach_the_config", true),
                ("unit::test_records_secrets_and_files", true),
                ("unit::test_syncing", true),
            ],
            "{results:#?}"
        );
        let err = |name: &str| {
            results
                .iter()
                .find(|r| r.name.ends_with(name))
                .and_then(|r| r.error.clone())
                .unwrap()
        };
        assert!(
            err("wrong_value").contains("actual: 16\nexpected: 17"),
            "{}",
            err("wrong_value")
        );
        assert!(
            err("unmocked_call").contains("no mock matches"),
            "{}",
            err("unmocked_call")
        );
        assert!(
            err("plugin_error").contains("unexpected status_code: 500"),
            "{}",
            err("plugin_error")
        );
    }

    #[test]
    fn a_filter_selects_tests_and_each_test_starts_fresh() {
        let results = run(Some("height"));
        assert_eq!(results.len(), 1);
        // test_height asserts the exact call list: no call of another test leaked in
        assert!(results[0].ok, "{results:?}");
    }
}
