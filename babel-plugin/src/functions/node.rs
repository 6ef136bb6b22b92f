//! Functions with node-side effects, forwarded to the plugin's [`babel_api::engine::Engine`].

use std::path::Path;
use std::time::Duration;

use rhai::{Array, Blob, Dynamic, Map, Module, NativeCallContext};

use super::native::{FnResult, engine_err, host, reg, runtime, to_dynamic};
use super::types::{DressedHttpResponse, DressedShResponse};
use crate::{defaults, pure};
use babel_api::engine::{JrpcRequest, LogLevel, RestRequest};
use babel_api::job::JobConfig;

fn job_name(name: &str) -> FnResult<&str> {
    let name = name.trim();
    if name.is_empty() {
        Err(runtime("empty job name is not allowed"))
    } else {
        Ok(name)
    }
}

fn job_config(config: Map) -> FnResult<JobConfig> {
    rhai::serde::from_dynamic(&config.into())
        .map_err(|err| runtime(format!("invalid job config: {err}")))
}

fn timeout(secs: i64) -> FnResult<Duration> {
    u64::try_from(secs)
        .map(Duration::from_secs)
        .map_err(|_| runtime(format!("timeout must not be negative: {secs}")))
}

fn string_field(req: &Map, key: &str) -> FnResult<String> {
    match req.get(key) {
        Some(v) if v.is_string() => Ok(v.to_string()),
        Some(v) => Err(runtime(format!(
            "'{key}' must be a string, got {}",
            v.type_name()
        ))),
        None => Err(runtime(format!("missing '{key}' in request"))),
    }
}

/// `headers` as an array of `[name, value]` pairs or a map.
fn headers(req: &Map) -> FnResult<Option<Vec<(String, String)>>> {
    let unsupported = || runtime("unsupported jrpc headers type");
    match req.get("headers") {
        None => Ok(None),
        Some(h) if h.is_unit() => Ok(None),
        Some(h) if h.is_map() => {
            let map = h.read_lock::<Map>().ok_or_else(unsupported)?;
            Ok(Some(
                map.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
        }
        Some(h) if h.is_array() => {
            let list = h.read_lock::<Array>().ok_or_else(unsupported)?;
            list.iter()
                .map(|pair| {
                    let pair = pair.read_lock::<Array>().ok_or_else(unsupported)?;
                    match pair.as_slice() {
                        [k, v] => Ok((k.to_string(), v.to_string())),
                        _ => Err(unsupported()),
                    }
                })
                .collect::<FnResult<Vec<_>>>()
                .map(Some)
        }
        Some(_) => Err(unsupported()),
    }
}

fn jrpc_request(req: &Map) -> FnResult<JrpcRequest> {
    let params = match req.get("params") {
        None => None,
        Some(p) if p.is_unit() => None,
        Some(p) if p.is_map() || p.is_array() => Some(serde_json::to_string(p).map_err(runtime)?),
        Some(_) => return Err(runtime("unsupported jrpc params type")),
    };
    Ok(JrpcRequest {
        host: string_field(req, "host")?,
        method: string_field(req, "method")?,
        params,
        headers: headers(req)?,
    })
}

fn rest_request(req: &Map) -> FnResult<RestRequest> {
    Ok(RestRequest {
        url: string_field(req, "url")?,
        headers: headers(req)?,
    })
}

fn run_jrpc(
    ctx: &NativeCallContext,
    req: &Map,
    t: Option<Duration>,
) -> FnResult<DressedHttpResponse> {
    let req = jrpc_request(req)?;
    let host = host(ctx)?;
    let _paused = host.deadline.pause();
    host.engine
        .run_jrpc(req, t)
        .map(Into::into)
        .map_err(engine_err)
}

fn run_rest(
    ctx: &NativeCallContext,
    req: &Map,
    t: Option<Duration>,
) -> FnResult<DressedHttpResponse> {
    let req = rest_request(req)?;
    let host = host(ctx)?;
    let _paused = host.deadline.pause();
    host.engine
        .run_rest(req, t)
        .map(Into::into)
        .map_err(engine_err)
}

/// Time blocked in the request itself is bounded by its own timeout, not by the script's
/// budget: the budget pauses while the engine works.
fn run_sh(ctx: &NativeCallContext, body: &str, t: Option<Duration>) -> FnResult<DressedShResponse> {
    let host = host(ctx)?;
    let _paused = host.deadline.pause();
    host.engine
        .run_sh(body, t)
        .map(Into::into)
        .map_err(engine_err)
}

fn log(ctx: &NativeCallContext, level: LogLevel, msg: &Dynamic) -> FnResult<()> {
    host(ctx)?.engine.log(level, &msg.to_string());
    Ok(())
}

fn add_task(
    ctx: &NativeCallContext,
    name: &str,
    schedule: &str,
    function: &str,
    param: &str,
) -> FnResult<()> {
    pure::validate_schedule(schedule).map_err(runtime)?;
    host(ctx)?
        .engine
        .add_task(name, schedule, function, param)
        .map_err(engine_err)
}

fn register_jobs(module: &mut Module) {
    reg(
        "create_job",
        &["name: &str", "config: Map", "()"],
        "Creates a job (stopped) from a JobConfig map.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str, config: Map| -> FnResult<()> {
            let config = job_config(config)?;
            host(&ctx)?
                .engine
                .create_job(job_name(name)?, config)
                .map_err(engine_err)
        },
    );
    reg(
        "start_job",
        &["name: &str", "()"],
        "Starts an existing job.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str| -> FnResult<()> {
            host(&ctx)?
                .engine
                .start_job(job_name(name)?)
                .map_err(engine_err)
        },
    );
    reg(
        "start_job",
        &["name: &str", "config: Map", "()"],
        "Creates a job from a JobConfig map and starts it.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str, config: Map| -> FnResult<()> {
            let config = job_config(config)?;
            let name = job_name(name)?;
            let host = host(&ctx)?;
            host.engine.create_job(name, config).map_err(engine_err)?;
            host.engine.start_job(name).map_err(engine_err)
        },
    );
    reg(
        "stop_job",
        &["name: &str", "()"],
        "Stops a job (graceful, within its shutdown timeout).",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str| -> FnResult<()> {
            host(&ctx)?
                .engine
                .stop_job(job_name(name)?)
                .map_err(engine_err)
        },
    );
    for name in ["job_info", "job_status"] {
        reg(
            name,
            &["name: &str", "Map"],
            "Status, timestamp, progress, restart_count, logs and upgrade_blocking of a job.",
        )
        .set_into_module(
            module,
            |ctx: NativeCallContext, name: &str| -> FnResult<Dynamic> {
                let info = host(&ctx)?
                    .engine
                    .job_info(job_name(name)?)
                    .map_err(engine_err)?;
                to_dynamic(&info)
            },
        );
    }
    reg(
        "get_jobs",
        &["Map"],
        "Every job of the node by name (values as from job_info).",
    )
    .set_into_module(module, |ctx: NativeCallContext| -> FnResult<Dynamic> {
        let jobs = host(&ctx)?.engine.get_jobs().map_err(engine_err)?;
        to_dynamic(&jobs)
    });
}

fn register_requests(module: &mut Module) {
    reg(
        "run_jrpc",
        &["request: Map", "DressedHttpResponse"],
        "JSON-RPC call in the node: #{host, method, params?, headers?}; 15 s timeout.",
    )
    .set_into_module(module, |ctx: NativeCallContext, req: Map| {
        run_jrpc(&ctx, &req, None)
    });
    reg(
        "run_jrpc",
        &["request: Map", "timeout_secs: i64", "DressedHttpResponse"],
        "JSON-RPC call in the node with a timeout in seconds.",
    )
    .set_into_module(module, |ctx: NativeCallContext, req: Map, secs: i64| {
        run_jrpc(&ctx, &req, Some(timeout(secs)?))
    });
    reg(
        "run_rest",
        &["request: Map", "DressedHttpResponse"],
        "HTTP GET in the node: #{url, headers?}; 15 s timeout.",
    )
    .set_into_module(module, |ctx: NativeCallContext, req: Map| {
        run_rest(&ctx, &req, None)
    });
    reg(
        "run_rest",
        &["request: Map", "timeout_secs: i64", "DressedHttpResponse"],
        "HTTP GET in the node with a timeout in seconds.",
    )
    .set_into_module(module, |ctx: NativeCallContext, req: Map, secs: i64| {
        run_rest(&ctx, &req, Some(timeout(secs)?))
    });
    reg(
        "run_sh",
        &["body: &str", "DressedShResponse"],
        "Runs `sh -c body` in the node; 15 s timeout. A non-zero exit is not an error.",
    )
    .set_into_module(module, |ctx: NativeCallContext, body: &str| {
        run_sh(&ctx, body, None)
    });
    reg(
        "run_sh",
        &["body: &str", "timeout_secs: i64", "DressedShResponse"],
        "Runs `sh -c body` in the node with a timeout in seconds.",
    )
    .set_into_module(module, |ctx: NativeCallContext, body: &str, secs: i64| {
        run_sh(&ctx, body, Some(timeout(secs)?))
    });
}

fn register_node(module: &mut Module) {
    reg(
        "render_template",
        &["template: &str", "destination: &str", "params: Map", "()"],
        "Renders a Tera template in the node with `params` as context.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, t: &str, d: &str, params: Map| -> FnResult<()> {
            let params = serde_json::to_string(&Dynamic::from_map(params)).map_err(runtime)?;
            host(&ctx)?
                .engine
                .render_template(Path::new(t), Path::new(d), &params)
                .map_err(engine_err)
        },
    );
    reg(
        "node_params",
        &["Map"],
        "Node properties (user-supplied key/value strings).",
    )
    .set_into_module(module, |ctx: NativeCallContext| -> FnResult<Map> {
        Ok(host(&ctx)?
            .engine
            .node_params()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    });
    reg("node_env", &["Map"], "What the node knows about itself (node_id, node_name, ..., data_mount_point, protocol_data_path).")
        .set_into_module(module, |ctx: NativeCallContext| -> FnResult<Dynamic> {
            to_dynamic(&host(&ctx)?.engine.node_env())
        });
    reg(
        "save_data",
        &["value: &str", "()"],
        "Saves a string for this node on the host (overwrites).",
    )
    .set_into_module(module, |ctx: NativeCallContext, v: &str| -> FnResult<()> {
        host(&ctx)?.engine.save_data(v).map_err(engine_err)
    });
    reg(
        "load_data",
        &["String"],
        "The string last saved with save_data.",
    )
    .set_into_module(module, |ctx: NativeCallContext| -> FnResult<String> {
        host(&ctx)?.engine.load_data().map_err(engine_err)
    });
    reg(
        "put_secret",
        &["name: &str", "value: Blob", "()"],
        "Stores a secret for this node.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str, value: Blob| -> FnResult<()> {
            host(&ctx)?
                .engine
                .put_secret(name, value)
                .map_err(engine_err)
        },
    );
    reg(
        "get_secret",
        &["name: &str", "Blob"],
        "A secret of this node; throws \"not_found\" when it does not exist.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str| -> FnResult<Blob> {
            match host(&ctx)?.engine.get_secret(name).map_err(engine_err)? {
                Some(value) => Ok(value),
                None => Err(runtime("not_found")),
            }
        },
    );
    reg(
        "file_write",
        &["path: &str", "content: Blob", "()"],
        "Writes a file in the node (replaces it).",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, path: &str, content: Blob| -> FnResult<()> {
            host(&ctx)?
                .engine
                .file_write(Path::new(path), content)
                .map_err(engine_err)
        },
    );
    reg(
        "file_write",
        &["path: &str", "content: &str", "()"],
        "Writes a text file in the node (replaces it).",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, path: &str, content: &str| -> FnResult<()> {
            host(&ctx)?
                .engine
                .file_write(Path::new(path), content.as_bytes().to_vec())
                .map_err(engine_err)
        },
    );
    reg(
        "file_read",
        &["path: &str", "Blob"],
        "Reads a file in the node.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, path: &str| -> FnResult<Blob> {
            host(&ctx)?
                .engine
                .file_read(Path::new(path))
                .map_err(engine_err)
        },
    );
    reg(
        "add_task",
        &["name: &str", "schedule: &str", "function: &str", "()"],
        "Schedules `function()` by a cron expression (seconds first, 6 or 7 fields).",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, n: &str, s: &str, f: &str| add_task(&ctx, n, s, f, ""),
    );
    reg(
        "add_task",
        &[
            "name: &str",
            "schedule: &str",
            "function: &str",
            "param: &str",
            "()",
        ],
        "Schedules `function(param)` by a cron expression (seconds first, 6 or 7 fields).",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, n: &str, s: &str, f: &str, p: &str| add_task(&ctx, n, s, f, p),
    );
    reg(
        "delete_task",
        &["name: &str", "()"],
        "Removes a scheduled task.",
    )
    .set_into_module(
        module,
        |ctx: NativeCallContext, name: &str| -> FnResult<()> {
            host(&ctx)?.engine.delete_task(name).map_err(engine_err)
        },
    );
    for (name, level) in [
        ("info", LogLevel::Info),
        ("warn", LogLevel::Warn),
        ("error", LogLevel::Error),
    ] {
        reg(
            name,
            &["message: Dynamic", "()"],
            "Logs on the host with this node's id.",
        )
        .set_into_module(module, move |ctx: NativeCallContext, msg: Dynamic| {
            log(&ctx, level, &msg)
        });
    }
    reg(
        "default_init",
        &["()"],
        "The built-in init driven by plugin_config.",
    )
    .set_into_module(module, |ctx: NativeCallContext| -> FnResult<()> {
        let host = host(&ctx)?;
        let config = host
            .config()
            .ok_or_else(|| runtime("Missing plugin_config function"))?;
        defaults::default_init(host.engine.as_ref(), &config).map_err(runtime)
    });
    reg(
        "default_upload",
        &["()"],
        "The built-in upload driven by plugin_config.",
    )
    .set_into_module(module, |ctx: NativeCallContext| -> FnResult<()> {
        let host = host(&ctx)?;
        let config = host
            .config()
            .ok_or_else(|| runtime("Missing plugin_config function"))?;
        defaults::default_upload(host.engine.as_ref(), &config).map_err(runtime)
    });
}

pub(super) fn register(module: &mut Module) {
    register_jobs(module);
    register_requests(module);
    register_node(module);
}
