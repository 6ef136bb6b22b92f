//! Runs the example plugins in `babel-plugin/examples/*/` against the recording fake engine.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use babel_api::engine::{HttpResponse, JrpcRequest, ShResponse};
use babel_api::job::{Compression, JobConfig, JobStatus, JobType, RestartConfig, RestartPolicy};
use babel_plugin::{Health, Plugin, PluginLimits, ProtocolStatus};
use common::{Call, FakeEngine};

fn example_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn load(name: &str, fake: &Arc<FakeEngine>) -> Plugin {
    Plugin::load(&example_dir(name), fake.clone(), PluginLimits::default()).unwrap()
}

fn restart(timeout: u64, base: u64, retries: Option<u32>) -> RestartConfig {
    RestartConfig {
        backoff_timeout_ms: timeout,
        backoff_base_ms: base,
        max_retries: retries,
    }
}

fn names(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

fn run_sh(body: &str) -> JobType {
    JobType::RunSh(body.into())
}

#[test]
fn every_example_compiles_and_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir(example_dir("")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("main.rhai").exists() {
            let fake = FakeEngine::with(|s| {
                s.params.insert("network".into(), "testnet".into());
            });
            Plugin::load(&dir, fake, PluginLimits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            count += 1;
        }
    }
    assert!(count >= 5, "found only {count} example plugins");
}

fn init_job(stage: &[&str]) -> [Call; 4] {
    let mut init = JobConfig::new(run_sh("echo init"), RestartPolicy::Never);
    init.needs = names(&["other_init_job_name"]);
    init.one_time = Some(true);
    init.use_protocol_data = Some(true);
    let mut other = JobConfig::new(
        run_sh("echo other"),
        RestartPolicy::OnFailure(restart(1000, 100, Some(2))),
    );
    other.needs = names(stage);
    other.run_as = Some("node".into());
    other.log_buffer_capacity_mb = Some(16);
    other.log_timestamp = Some(true);
    other.shutdown_timeout_secs = Some(3);
    other.shutdown_signal = Some("SIGTERM".into());
    other.use_protocol_data = Some(false);
    other.one_time = Some(false);
    [
        Call::CreateJob("init_job".into(), init),
        Call::StartJob("init_job".into()),
        Call::CreateJob("other_init_job_name".into(), other),
        Call::StartJob("other_init_job_name".into()),
    ]
}

fn services(
    needs: Option<Vec<String>>,
    wait_for: Option<Vec<String>>,
    with_proxy: bool,
) -> Vec<Call> {
    let mut node = JobConfig::new(
        run_sh("/usr/bin/node --data /blockjoy/protocol_data --network mainnet"),
        RestartPolicy::Always(restart(60000, 1000, Some(3))),
    );
    node.needs = needs.clone();
    node.wait_for = wait_for.clone();
    node.shutdown_timeout_secs = Some(30);
    node.shutdown_signal = Some("SIGINT".into());
    node.log_buffer_capacity_mb = Some(32);
    node.log_timestamp = Some(false);
    node.use_protocol_data = Some(true);
    let mut sidecar = JobConfig::new(
        run_sh("/usr/bin/sidecar"),
        RestartPolicy::Always(restart(60000, 1000, None)),
    );
    sidecar.needs = needs;
    sidecar.wait_for = wait_for;
    sidecar.run_as = Some("sidecar".into());
    sidecar.use_protocol_data = Some(true);
    let mut proxy = JobConfig::new(
        run_sh("/usr/bin/proxy"),
        RestartPolicy::Always(restart(60000, 1000, None)),
    );
    proxy.use_protocol_data = Some(false);
    let mut calls = vec![
        Call::CreateJob("node".into(), node),
        Call::StartJob("node".into()),
        Call::CreateJob("sidecar".into(), sidecar),
        Call::StartJob("sidecar".into()),
    ];
    if with_proxy {
        calls.push(Call::CreateJob("proxy".into(), proxy));
        calls.push(Call::StartJob("proxy".into()));
    }
    calls
}

fn init_prefix() -> Vec<Call> {
    let mut aux = JobConfig::new(
        run_sh("/usr/bin/exporter --listen :9100"),
        RestartPolicy::Always(restart(60000, 1000, Some(13))),
    );
    aux.shutdown_timeout_secs = Some(120);
    aux.shutdown_signal = Some("SIGINT".into());
    aux.use_protocol_data = Some(false);
    let mut calls = vec![
        Call::StopAllJobs,
        Call::RenderTemplate(
            "/var/lib/babel/templates/config.template".into(),
            "/etc/node/config.toml".into(),
            r#"{"node_name":"node name"}"#.into(),
        ),
        Call::CreateJob("metrics_exporter".into(), aux),
        Call::StartJob("metrics_exporter".into()),
        Call::RunSh("mkdir -p /blockjoy/protocol_data".into(), None),
    ];
    calls.extend(init_job(&[]));
    calls
}

fn post_download() -> [Call; 2] {
    let mut post = JobConfig::new(run_sh("echo post download"), RestartPolicy::Never);
    post.needs = names(&["download"]);
    post.use_protocol_data = Some(false);
    post.one_time = Some(false);
    [
        Call::CreateJob("post_download_job".into(), post),
        Call::StartJob("post_download_job".into()),
    ]
}

fn task() -> Call {
    Call::AddTask(
        "refresh".into(),
        "0 */10 * * * *".into(),
        "refresh_peers".into(),
        "all".into(),
    )
}

fn without_saves(calls: Vec<Call>) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| !matches!(c, Call::SaveConfig(_)))
        .collect()
}

#[test]
fn plugin_config_default_init_with_archive_then_without_then_with_data() {
    let fake = FakeEngine::with(|s| {
        s.params.insert("network".into(), "mainnet".into());
        s.archive = true;
    });
    let mut p = load("plugin_config", &fake);
    fake.take_calls();
    p.init().unwrap();

    let mut download = JobConfig::new(
        JobType::Download {
            max_connections: Some(5),
            max_runners: Some(8),
        },
        RestartPolicy::OnFailure(restart(60000, 1000, Some(5))),
    );
    download.needs = names(&["init_job", "other_init_job_name"]);
    let mut expected = init_prefix();
    expected.extend([
        Call::DataStamp,
        Call::HasArchive,
        Call::CreateJob("download".into(), download),
        Call::StartJob("download".into()),
    ]);
    expected.extend(post_download());
    expected.extend(services(names(&["post_download_job"]), names(&[]), true));
    expected.push(task());
    assert_eq!(without_saves(fake.take_calls()), expected);

    // No archive: the alternative download runs instead.
    fake.state().archive = false;
    p.init().unwrap();
    let mut alt = JobConfig::new(
        run_sh("/usr/bin/fetch-snapshot mainnet"),
        RestartPolicy::OnFailure(restart(60000, 10000, Some(3))),
    );
    alt.needs = names(&["init_job", "other_init_job_name"]);
    alt.run_as = Some("node".into());
    alt.log_buffer_capacity_mb = Some(64);
    alt.log_timestamp = Some(true);
    let mut expected = init_prefix();
    expected.extend([
        Call::DataStamp,
        Call::HasArchive,
        Call::CreateJob("download".into(), alt),
        Call::StartJob("download".into()),
    ]);
    expected.extend(post_download());
    expected.extend(services(names(&["post_download_job"]), names(&[]), true));
    expected.push(task());
    assert_eq!(without_saves(fake.take_calls()), expected);

    // Data already there: no download stage; services need the init jobs.
    fake.state().stamp = Some(SystemTime::UNIX_EPOCH);
    p.init().unwrap();
    let mut expected = init_prefix();
    expected.push(Call::DataStamp);
    expected.extend(services(
        names(&["init_job", "other_init_job_name"]),
        names(&[]),
        true,
    ));
    expected.push(task());
    assert_eq!(without_saves(fake.take_calls()), expected);
}

#[test]
fn plugin_config_default_upload_and_status() {
    let fake = FakeEngine::with(|s| {
        s.params.insert("network".into(), "mainnet".into());
        s.http = HttpResponse {
            status_code: 200,
            body: r#"{"result": false}"#.into(),
        };
    });
    let mut p = load("plugin_config", &fake);
    p.reload_plugin_config().unwrap();
    fake.take_calls();
    p.upload().unwrap();

    let mut pre = JobConfig::new(run_sh("echo pre upload job"), RestartPolicy::Never);
    pre.needs = names(&[]);
    pre.use_protocol_data = Some(false);
    pre.one_time = Some(false);
    let mut upload = JobConfig::new(
        JobType::Upload {
            exclude: names(&["**/*.tmp", "logs/**"]),
            compression: Some(Compression::Zstd(5)),
            max_connections: Some(4),
            max_runners: Some(12),
            number_of_chunks: Some(700),
            url_expires_secs: Some(240000),
            data_version: Some(3),
        },
        RestartPolicy::OnFailure(restart(60000, 1000, Some(7))),
    );
    upload.needs = names(&["pre_upload_job"]);
    let mut post = JobConfig::new(run_sh("echo post upload"), RestartPolicy::Never);
    post.needs = names(&["upload"]);
    post.use_protocol_data = Some(false);
    post.one_time = Some(false);
    let mut expected = vec![
        Call::StopJob("node".into()),
        Call::StopJob("sidecar".into()),
        Call::RunSh("echo pre-upload".into(), None),
        Call::CreateJob("pre_upload_job".into(), pre),
        Call::StartJob("pre_upload_job".into()),
        Call::CreateJob("upload".into(), upload),
        Call::StartJob("upload".into()),
        Call::CreateJob("post_upload_job".into(), post),
        Call::StartJob("post_upload_job".into()),
    ];
    expected.extend(services(names(&[]), names(&["post_upload_job"]), false));
    assert_eq!(fake.take_calls(), expected);

    assert_eq!(
        p.protocol_status().unwrap(),
        ProtocolStatus {
            state: "broadcasting".into(),
            health: Health::Healthy
        }
    );
    assert_eq!(
        fake.take_calls(),
        vec![
            Call::GetJobs,
            Call::RunJrpc(
                JrpcRequest {
                    host: "http://127.0.0.1:8545".into(),
                    method: "eth_syncing".into(),
                    params: None,
                    headers: Some(vec![("content-type".into(), "application/json".into())]),
                },
                None
            )
        ]
    );
    // The scheduled function is callable as a custom method.
    assert_eq!(p.call_method("refresh_peers", "all").unwrap(), "ok");
    assert_eq!(
        fake.take_calls(),
        vec![Call::RunSh("/usr/bin/refresh-peers \"all\"".into(), None)]
    );
    // protocol_status through call_method is JSON.
    assert_eq!(
        p.call_method("protocol_status", "").unwrap(),
        r#"{"state":"broadcasting","health":"healthy"}"#
    );
}

#[test]
fn init_minimal_starts_its_service() {
    let fake = FakeEngine::new();
    let mut p = load("init_minimal", &fake);
    assert_eq!(p.call_method("init", "").unwrap(), "");
    let mut node = JobConfig::new(
        run_sh("/usr/bin/node"),
        RestartPolicy::Always(restart(60000, 1000, None)),
    );
    node.needs = names(&[]);
    node.wait_for = names(&[]);
    node.use_protocol_data = Some(true);
    let calls = without_saves(fake.calls());
    assert_eq!(
        calls,
        vec![
            Call::StopAllJobs,
            Call::DataStamp,
            Call::HasArchive,
            Call::CreateJob("node".into(), node),
            Call::StartJob("node".into()),
        ]
    );
    let mut caps = p.capabilities();
    caps.sort();
    assert_eq!(caps, ["init", "plugin_config", "protocol_status", "upload"]);
}

#[test]
fn jobs_example_deserializes_every_job_shape() {
    let fake = FakeEngine::new();
    let mut p = load("jobs", &fake);
    p.init().unwrap();
    let created: Vec<(String, JobConfig)> = fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::CreateJob(n, c) => Some((n, c)),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 3);
    assert_eq!(
        created[0].1.job_type,
        JobType::Download {
            max_connections: Some(4),
            max_runners: Some(2)
        }
    );
    assert_eq!(
        created[1].1.restart,
        RestartPolicy::Always(restart(60000, 1000, None))
    );
    assert_eq!(created[1].1.use_protocol_data, Some(true));
    assert_eq!(created[2].1.restart, RestartPolicy::Never);
    assert_eq!(created[2].1.wait_for, names(&["node"]));
    assert_eq!(created[2].1.one_time, Some(true));
    // No plugin_config: no default upload capability is added, but the script has one.
    assert!(p.plugin_config().is_none());
    p.upload().unwrap();
    assert!(fake.calls().iter().any(|c| matches!(c, Call::CreateJob(n, c)
        if n == "upload" && matches!(c.job_type, JobType::Upload { number_of_chunks: Some(10), .. }))));
    fake.set_job("node", JobStatus::Running);
    assert_eq!(p.protocol_status().unwrap().state, "broadcasting");
}

#[test]
fn custom_download_upload_falls_back_and_reuses_default_upload() {
    let fake = FakeEngine::with(|s| s.fail.push("create_job"));
    let mut p = load("custom_download_upload", &fake);
    // Every create fails: the fallback is attempted, then init fails on the node job.
    assert!(p.init().is_err());
    let creates: Vec<JobType> = fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::CreateJob(_, c) => Some(c.job_type),
            _ => None,
        })
        .collect();
    assert!(matches!(creates[0], JobType::Download { .. }));
    assert!(matches!(&creates[1], JobType::RunSh(s) if s.starts_with("curl")));

    let fake = FakeEngine::new();
    let mut p = load("custom_download_upload", &fake);
    p.init().unwrap();
    fake.take_calls();
    // Custom upload calls default_upload(), which sees the config loaded by init.
    p.call_method("upload", "").unwrap();
    let upload = fake.calls().into_iter().find_map(|c| match c {
        Call::CreateJob(n, c) if n == "upload" => Some(c),
        _ => None,
    });
    assert!(matches!(
        upload.unwrap().job_type,
        JobType::Upload {
            compression: None,
            ..
        }
    ));
}

#[test]
fn chain_functions_metrics_and_custom_methods() {
    let fake = FakeEngine::with(|s| {
        s.http = HttpResponse {
            status_code: 200,
            body: format!(
                r#"{{"result": {{"timestamp": "0x{:x}"}}}}"#,
                babel_plugin::parse_hex("0").unwrap() + 10
            ),
        };
        s.sh.insert(
            "cat /blockjoy/address".into(),
            ShResponse {
                exit_code: 0,
                stdout: " 0xabc\n".into(),
                stderr: String::new(),
            },
        );
        s.sh.insert(
            "/usr/bin/peers --limit \"2\"".into(),
            ShResponse {
                exit_code: 0,
                stdout: "a,b".into(),
                stderr: String::new(),
            },
        );
    });
    let mut p = load("chain_functions", &fake);
    assert_eq!(p.address().unwrap(), "0xabc");
    assert_eq!(p.name().unwrap(), "node name");
    assert!(!p.consensus().unwrap());
    assert_eq!(p.call_method("consensus", "").unwrap(), "false");
    assert!(p.block_age().unwrap() > 1_000_000);
    assert_eq!(
        p.call_method("peers", r#"{"limit": 2}"#).unwrap(),
        r#"{"limit":2,"peers":["a","b"]}"#
    );
    assert_eq!(p.call_method("version", "").unwrap(), "ok");
    assert_eq!(p.call_method("remember", "v1").unwrap(), "v1");
    fake.state().http = HttpResponse {
        status_code: 200,
        body: r#"{"result": "0xa1"}"#.into(),
    };
    assert_eq!(p.height().unwrap(), 161);
    assert_eq!(p.call_method("height", "").unwrap(), "161");
    fake.state().http.status_code = 503;
    assert_eq!(p.protocol_status().unwrap().health, Health::Unhealthy);
    assert!(
        fake.calls()
            .iter()
            .any(|c| matches!(c, Call::RunJrpc(r, Some(t))
        if r.method == "eth_syncing" && r.params.as_deref() == Some("[]") && t.as_secs() == 5))
    );
}

/// The example node images list their interface as capabilities, not their helpers.
#[test]
fn image_plugins_offer_no_helpers() {
    let images = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../images");
    for (image, helpers) in [
        (
            "litecoin-regtest",
            &["peer_list", "litecoind_command", "rpc"][..],
        ),
        (
            "monero-regtest",
            &[
                "param_or",
                "peer_list",
                "monerod_command",
                "rpc",
                "get_info",
            ][..],
        ),
    ] {
        let fake = FakeEngine::new();
        let p = Plugin::load(&images.join(image), fake, PluginLimits::default())
            .unwrap_or_else(|e| panic!("{image}: {e}"));
        let caps = p.capabilities();
        assert!(caps.iter().any(|c| c == "mine"), "{image}: {caps:?}");
        for h in helpers {
            assert!(!caps.iter().any(|c| c == h), "{image} offers {h}: {caps:?}");
        }
    }
}
