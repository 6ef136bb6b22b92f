//! Every function the host registers, called from a script against the recording fake.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use babel_api::engine::{HttpResponse, JrpcRequest, LogLevel, RestRequest, ShResponse};
use babel_api::job::{Compression, JobConfig, JobStatus, JobType, RestartConfig, RestartPolicy};
use babel_plugin::{Plugin, PluginError, PluginLimits};
use common::{Call, FakeEngine};

fn plugin(src: &str, fake: &Arc<FakeEngine>) -> Plugin {
    Plugin::from_source(src, fake.clone(), PluginLimits::default()).unwrap()
}

/// Calls custom method `f` (no param) of a one-function script and returns its result.
fn run(body: &str, fake: &Arc<FakeEngine>) -> Result<String, PluginError> {
    let mut p = plugin(&format!("fn f() {{\n{body}\n}}"), fake);
    p.call_method("f", "")
}

#[test]
fn jobs_create_start_stop_info() {
    let fake = FakeEngine::new();
    fake.set_job("a", JobStatus::finished(Some(1), "boom"));
    fake.set_job("b", JobStatus::Running);
    let out = run(
        r#"
        create_job(" a ", #{job_type: #{run_sh: "echo a"}, restart: "never"});
        start_job("a");
        start_job("b", #{
            job_type: #{download: #{max_connections: 3}},
            restart: #{on_failure: #{backoff_timeout_ms: 1000, backoff_base_ms: 10, max_retries: 3}},
            needs: ["a"], shutdown_timeout_secs: 5, unknown_key: 1,
        });
        stop_job("b");
        let i = job_info("a");
        let s = job_status("b");
        let all = get_jobs();
        `${i.status.finished.exit_code}|${i.status.finished.message}|${i.timestamp.secs_since_epoch}|${i.restart_count}|${i.logs[0]}|${i.upgrade_blocking}|${i.progress}|${s.status}|${all.keys().len()}`
        "#,
        &fake,
    )
    .unwrap();
    assert_eq!(out, "1|boom|7|2|newest|true||running|2");
    let mut b = JobConfig::new(
        JobType::Download {
            max_connections: Some(3),
            max_runners: None,
        },
        RestartPolicy::OnFailure(RestartConfig {
            backoff_timeout_ms: 1000,
            backoff_base_ms: 10,
            max_retries: Some(3),
        }),
    );
    b.needs = Some(vec!["a".into()]);
    b.shutdown_timeout_secs = Some(5);
    assert_eq!(
        fake.calls(),
        vec![
            Call::CreateJob(
                "a".into(),
                JobConfig::new(JobType::RunSh("echo a".into()), RestartPolicy::Never)
            ),
            Call::StartJob("a".into()),
            Call::CreateJob("b".into(), b),
            Call::StartJob("b".into()),
            Call::StopJob("b".into()),
            Call::JobInfo("a".into()),
            Call::JobInfo("b".into()),
            Call::GetJobs,
        ]
    );
}

#[test]
fn job_errors() {
    let fake = FakeEngine::new();
    let err = run(
        r#"create_job("  ", #{job_type: #{run_sh: "x"}, restart: "never"})"#,
        &fake,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("empty job name is not allowed"),
        "{err}"
    );
    let err = run(r#"create_job("a", #{restart: "never"})"#, &fake).unwrap_err();
    assert!(err.to_string().contains("invalid job config"), "{err}");
    let err = run(r#"job_info("missing")"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("not found: job 'missing'"),
        "{err}"
    );
    let up = run(
        r#"create_job("u", #{job_type: #{upload: #{exclude: ["*.tmp"], compression: #{ZSTD: 5}, number_of_chunks: 2}}, restart: #{always: #{backoff_timeout_ms: 1, backoff_base_ms: 2}}}); "ok""#,
        &fake,
    );
    assert_eq!(up.unwrap(), "ok");
    let created = fake.calls().into_iter().find_map(|c| match c {
        Call::CreateJob(name, cfg) if name == "u" => Some(cfg),
        _ => None,
    });
    let created = created.unwrap();
    assert!(matches!(
        created.job_type,
        JobType::Upload {
            compression: Some(Compression::Zstd(5)),
            number_of_chunks: Some(2),
            ..
        }
    ));
    assert!(matches!(created.restart, RestartPolicy::Always(_)));
}

#[test]
fn run_jrpc_rest_and_sh_with_and_without_timeout() {
    let fake = FakeEngine::with(|s| {
        s.http = HttpResponse {
            status_code: 200,
            body: r#"{"result": {"height": "0xa1"}}"#.into(),
        };
        s.sh.insert(
            "false".into(),
            ShResponse {
                exit_code: 1,
                stdout: "out".into(),
                stderr: "err".into(),
            },
        );
    });
    let out = run(
        r#"
        let a = run_jrpc(#{host: "http://localhost:8545", method: "eth_blockNumber", params: [1, "x"],
                           headers: [["content-type", "application/json"]]});
        let b = run_jrpc(#{host: "h", method: "m", params: #{k: true}, headers: #{"x-a": "1"}}, 3);
        let c = run_rest(#{url: "http://localhost/status"});
        let d = run_rest(#{url: "http://localhost/s", headers: [["a", "b"]]}, 4);
        let e = run_sh("false");
        let f = run_sh("echo hi", 5);
        `${a.status_code}|${parse_hex(a.expect(200).result.height)}|${b.body.len() > 0}|${c.expect(|c| c < 300).result.height}|${e.exit_code}|${e.stdout}|${e.stderr}|${f.unwrap()}`
        "#,
        &fake,
    )
    .unwrap();
    assert_eq!(out, "200|161|true|0xa1|1|out|err|ok");
    let calls = fake.calls();
    assert_eq!(
        calls[0],
        Call::RunJrpc(
            JrpcRequest {
                host: "http://localhost:8545".into(),
                method: "eth_blockNumber".into(),
                params: Some(r#"[1,"x"]"#.into()),
                headers: Some(vec![("content-type".into(), "application/json".into())]),
            },
            None
        )
    );
    assert_eq!(
        calls[1],
        Call::RunJrpc(
            JrpcRequest {
                host: "h".into(),
                method: "m".into(),
                params: Some(r#"{"k":true}"#.into()),
                headers: Some(vec![("x-a".into(), "1".into())]),
            },
            Some(Duration::from_secs(3))
        )
    );
    assert_eq!(
        calls[2],
        Call::RunRest(
            RestRequest {
                url: "http://localhost/status".into(),
                headers: None
            },
            None
        )
    );
    assert_eq!(
        calls[3],
        Call::RunRest(
            RestRequest {
                url: "http://localhost/s".into(),
                headers: Some(vec![("a".into(), "b".into())])
            },
            Some(Duration::from_secs(4))
        )
    );
    assert_eq!(calls[4], Call::RunSh("false".into(), None));
    assert_eq!(
        calls[5],
        Call::RunSh("echo hi".into(), Some(Duration::from_secs(5)))
    );
}

#[test]
fn response_helpers_fail_clearly() {
    let fake = FakeEngine::with(|s| {
        s.http = HttpResponse {
            status_code: 500,
            body: "{}".into(),
        };
        s.sh.insert(
            "exit 3".into(),
            ShResponse {
                exit_code: 3,
                stdout: String::new(),
                stderr: String::new(),
            },
        );
    });
    let err = run(r#"run_rest(#{url: "u"}).expect(200)"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("unexpected status_code: 500"),
        "{err}"
    );
    let err = run(r#"run_rest(#{url: "u"}).expect(|c| c == 200)"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("unexpected status_code: 500"),
        "{err}"
    );
    let err = run(r#"run_sh("exit 3").unwrap()"#, &fake).unwrap_err();
    assert!(err.to_string().contains("unexpected exit_code: 3"), "{err}");
    let err = run(r#"run_jrpc(#{host: "h", method: "m", params: 5})"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("unsupported jrpc params type"),
        "{err}"
    );
    let err = run(r#"run_jrpc(#{host: "h", method: "m", headers: 5})"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("unsupported jrpc headers type"),
        "{err}"
    );
    let err = run(r#"run_rest(#{url: "u", headers: "x"})"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("unsupported jrpc headers type"),
        "{err}"
    );
    let err = run(r#"run_sh("x", -1)"#, &fake).unwrap_err();
    assert!(
        err.to_string().contains("timeout must not be negative"),
        "{err}"
    );
    // The old two-string signature does not exist.
    let err = run(r#"run_jrpc("http://h", "m")"#, &fake).unwrap_err();
    assert!(err.to_string().contains("Function not found"), "{err}");
    // Engine failures reach the script as catchable strings.
    fake.state().fail.push("run_sh");
    let out = run(
        r#"let r = "no"; try { run_sh("x"); } catch (e) { r = e; } r"#,
        &fake,
    )
    .unwrap();
    assert_eq!(out, "run_sh failed");
}

#[test]
fn json_hex_time_and_sanitize() {
    let fake = FakeEngine::new();
    let out = run(
        r#"
        let m = parse_json("{\"a\": [1, 2], \"b\": {\"c\": null}}");
        let n = parse_json("null");
        let j = to_json(#{x: 1});
        let k = to_json([1, "a"]);
        let now = system_time();
        `${m.a[1]}|${type_of(n)}|${j}|${k}|${now > 1600000000}|${parse_hex("0xff")}|${parse_hex("-10")}|${parse_rfc3339("1970-01-01T00:01:00+00:00")}|${parse_rfc2822("Thu, 01 Jan 1970 00:00:10 +0000")}|${parse_time("1970-01-01 00:00:05 +0000", "%Y-%m-%d %H:%M:%S %z")}|${sanitize_sh_param("a b/c")}`
        "#,
        &fake,
    )
    .unwrap();
    assert_eq!(out, r#"2|()|{"x":1}|[1,"a"]|true|255|-16|60|10|5|"a b/c""#);
    for (body, text) in [
        (r#"parse_json("[1]")"#, "top level must be an object"),
        (r#"parse_json("{")"#, "invalid JSON"),
        (r#"parse_hex("0xzz")"#, "invalid hex number"),
        (r#"parse_rfc3339("now")"#, "invalid RFC 3339"),
        (
            r#"sanitize_sh_param("a=b")"#,
            "Shell unsafe character detected: =",
        ),
        (
            r#"sanitize_sh_param("it's")"#,
            "Very unsafe subsitution >:( '",
        ),
    ] {
        let err = run(body, &fake).unwrap_err();
        assert!(err.to_string().contains(text), "{body}: {err}");
    }
}

#[test]
fn node_params_env_data_secrets_files_templates() {
    let fake = FakeEngine::with(|s| {
        s.params.insert("network".into(), "mainnet".into());
        s.secrets.insert("key".into(), vec![1, 2, 3]);
        s.files.insert(PathBuf::from("/etc/x"), b"file".to_vec());
    });
    let out = run(
        r#"
        let e = node_env();
        let keys = ["node_id", "node_name", "node_org_id", "node_version", "node_protocol",
                    "node_variant", "node_ip", "node_gateway", "dev_mode", "bv_host_id",
                    "bv_host_name", "bv_api_url", "data_mount_point", "protocol_data_path"];
        for k in keys { if !(k in e) { throw "missing " + k; } }
        save_data("state-1");
        put_secret("new", blob(2, 7));
        let missing = "";
        try { get_secret("nope"); missing = "found"; } catch (err) { missing = err; }
        file_write("/tmp/out", "text");
        file_write("/tmp/bin", blob(1, 0));
        render_template("/var/lib/babel/templates/cfg.tera", "/etc/cfg.toml", #{name: e.node_name, port: 80, list: ["a"]});
        `${node_params().network}|${e.node_org_id}|${e.dev_mode}|${e.data_mount_point}|${load_data()}|${get_secret("key")}|${missing}|${file_read("/etc/x").as_string()}`
        "#,
        &fake,
    )
    .unwrap();
    assert_eq!(
        out,
        "mainnet|org-1|false|/blockjoy|state-1|[010203]|not_found|file"
    );
    let calls = fake.calls();
    assert!(calls.contains(&Call::SaveData("state-1".into())));
    assert!(calls.contains(&Call::PutSecret("new".into(), vec![7, 7])));
    assert!(calls.contains(&Call::FileWrite("/tmp/out".into(), b"text".to_vec())));
    assert!(calls.contains(&Call::FileWrite("/tmp/bin".into(), vec![0])));
    assert!(calls.contains(&Call::RenderTemplate(
        "/var/lib/babel/templates/cfg.tera".into(),
        "/etc/cfg.toml".into(),
        r#"{"list":["a"],"name":"node name","port":80}"#.into()
    )));
    // Errors other than "not found" propagate from get_secret.
    fake.state().fail.push("get_secret");
    let err = run(r#"get_secret("key")"#, &fake).unwrap_err();
    assert!(err.to_string().contains("get_secret failed"), "{err}");
    // load_data before any save fails.
    let fresh = FakeEngine::new();
    assert!(run("load_data()", &fresh).is_err());
}

#[test]
fn tasks_and_logging() {
    let fake = FakeEngine::new();
    run(
        r#"
        add_task("t1", "0 */5 * * * *", "f");
        add_task("t2", "0 0 1 * * * 2030", "g", "param");
        delete_task("t1");
        debug("dbg");
        info("i");
        warn("w");
        error("e");
        print("p");
        ""
        "#,
        &fake,
    )
    .unwrap();
    assert_eq!(
        fake.calls(),
        vec![
            Call::AddTask(
                "t1".into(),
                "0 */5 * * * *".into(),
                "f".into(),
                String::new()
            ),
            Call::AddTask(
                "t2".into(),
                "0 0 1 * * * 2030".into(),
                "g".into(),
                "param".into()
            ),
            Call::DeleteTask("t1".into()),
        ]
    );
    assert_eq!(
        fake.logs(),
        vec![
            (LogLevel::Debug, "\"dbg\"".into()),
            (LogLevel::Info, "i".into()),
            (LogLevel::Warn, "w".into()),
            (LogLevel::Error, "e".into()),
            (LogLevel::Info, "p".into()),
        ]
    );
    let err = run(r#"add_task("t", "* * * * *", "f")"#, &fake).unwrap_err();
    assert!(err.to_string().contains("invalid cron schedule"), "{err}");
}

#[test]
fn script_errors_carry_function_and_position() {
    let fake = FakeEngine::new();
    let mut p = plugin("fn f() {\n  let x = 1;\n  throw \"boom\";\n}\n", &fake);
    let err = p.call_method("f", "").unwrap_err();
    assert_eq!(err.position(), Some((3, 3)));
    assert!(
        err.to_string()
            .starts_with("Rhai function 'f' returned error: Runtime error: boom"),
        "{err}"
    );
    fake.state().fail.push("stop_job");
    let mut p = plugin("fn g() { stop_job(\"x\"); \"\" }", &fake);
    let err = p.call_method("g", "").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Rhai function 'g' returned error: Runtime error: stop_job failed"),
        "{err}"
    );
    let _ = SystemTime::now();
}
