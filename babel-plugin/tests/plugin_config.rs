//! plugin_config: strict parsing with key paths, every default, validation, persistence,
//! special protocol states, capabilities and dispatch.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use babel_api::job::{self, JobStatus, JobType, RestartPolicy};
use babel_plugin::config::{self, Compression, PluginConfig};
use babel_plugin::{Health, Plugin, PluginError, PluginLimits, ProtocolStatus};
use common::{Call, FakeEngine};
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<PluginConfig, String> {
    config::parse_plugin_config(value)
        .map(|parsed| parsed.config)
        .map_err(|err| err.to_string())
}

fn unknown(value: serde_json::Value) -> Vec<String> {
    config::parse_plugin_config(value)
        .unwrap()
        .unknown_keys
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn plugin(src: &str, fake: &Arc<FakeEngine>) -> Plugin {
    Plugin::from_source(src, fake.clone(), PluginLimits::default()).unwrap()
}

#[test]
fn unknown_keys_are_ignored_and_reported_with_path_and_suggestion() {
    let value = json!({
        "services": [{"name": "a", "run_sh": "x", "restart_confg": {}}],
        "servics": [],
        "alternative_download": {"run_sh": "y", "restart": "never"},
        "download": {"restart_config": {"backoff_timeout_ms": 1, "backoff_base_ms": 1, "max_retry": 1}},
        "config_files": [{"template": "t", "destination": "d", "params": {"anything": 1}}],
    });
    assert_eq!(
        unknown(value.clone()),
        vec![
            "plugin_config.alternative_download.restart: unknown key ignored (did you mean `restart_config`?)",
            "plugin_config.download.restart_config.max_retry: unknown key ignored (did you mean `max_retries`?)",
            "plugin_config.services[0].restart_confg: unknown key ignored (did you mean `restart_config`?)",
            "plugin_config.servics: unknown key ignored (did you mean `services`?)",
        ]
    );
    let config = parse(value).unwrap();
    assert_eq!(config.services[0].name, "a");
    assert_eq!(config.alternative_download.unwrap().run_sh, "y");
    assert!(
        unknown(json!({"services": [{"name": "a", "run_sh": "x", "zzzzzz": 1}]}))[0]
            .ends_with("zzzzzz: unknown key ignored")
    );
}

#[test]
fn service_needs_are_parsed_and_added_to_the_stage_needs() {
    let config = parse(json!({"services": [
        {"name": "a", "run_sh": "x", "needs": ["init_job"]},
        {"name": "b", "run_sh": "x", "needs": ["init_job"], "use_protocol_data": false},
        {"name": "c", "run_sh": "x", "use_protocol_data": false},
    ]}))
    .unwrap();
    let stage = ["download".to_string()];
    let a = config::service_config(&config.services[0], &stage, &[]);
    assert_eq!(a.needs, Some(vec!["download".into(), "init_job".into()]));
    let b = config::service_config(&config.services[1], &stage, &[]);
    assert_eq!(b.needs, Some(vec!["init_job".into()]));
    let c = config::service_config(&config.services[2], &stage, &[]);
    assert_eq!(c.needs, None);
}

#[test]
fn bad_types_and_missing_keys_name_the_key_path() {
    let cases = [
        (json!({}), "plugin_config: missing field `services`"),
        (
            json!({"services": [], "init": {"commands": []}}),
            "plugin_config.init: missing field `jobs`",
        ),
        (
            json!({"services": [{"name": "a", "run_sh": "x", "shutdown_timeout_secs": -1}]}),
            "plugin_config.services[0].shutdown_timeout_secs: invalid value",
        ),
        (
            json!({"services": [{"name": "a", "run_sh": "x", "shutdown_signal": "SIGFOO"}]}),
            "plugin_config.services[0].shutdown_signal: unknown signal `SIGFOO`",
        ),
        (
            json!({"services": [], "init": {"commands": [], "jobs": [{"name": "j", "run_sh": "x", "restart": "always"}]}}),
            "plugin_config.init.jobs[0].restart: unknown variant `always`",
        ),
        (
            json!({"services": [], "upload": {"compression": {"GZIP": 1}}}),
            "plugin_config.upload.compression: unknown variant `GZIP`",
        ),
        (
            json!({"services": [], "scheduled": [{"name": "t", "schedule": "x"}]}),
            "plugin_config.scheduled[0]: missing field `function`",
        ),
    ];
    for (value, expected) in cases {
        let err = parse(value.clone()).unwrap_err();
        assert!(err.starts_with(expected), "{value}: {err}");
    }
}

#[test]
fn validation_reports_the_category_of_the_duplicate() {
    let job = |n: &str| json!({"name": n, "run_sh": "x"});
    let cases = [
        (
            json!({"services": [], "scheduled": [
            {"name": "t", "schedule": "s", "function": "f"},
            {"name": "t", "schedule": "s", "function": "g"}]}),
            "Scheduled tasks names are not unique",
        ),
        (
            json!({"services": [], "aux_services": [job("download")]}),
            "Auxiliary services names are not unique",
        ),
        (
            json!({"services": [], "init": {"commands": [], "jobs": [job("a"), job("a")]}}),
            "Init jobs names are not unique",
        ),
        (
            json!({"services": [], "init": {"commands": [], "jobs": [job("a")]}, "post_download": [job("a")]}),
            "Post-download jobs names are not unique",
        ),
        (
            json!({"services": [job("upload")]}),
            "Services names are not unique",
        ),
        (
            json!({"services": [job("a")], "pre_upload": {"commands": [], "jobs": [job("a")]}}),
            "Pre-upload jobs names are not unique",
        ),
        (
            json!({"services": [], "post_upload": [job("upload")]}),
            "Post-upload jobs names are not unique",
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(parse(value.clone()).unwrap_err(), expected, "{value}");
    }
}

#[test]
fn defaults_of_every_conversion() {
    let cfg = parse(json!({
        "services": [{"name": "s", "run_sh": "run"}],
        "aux_services": [{"name": "a", "run_sh": "aux"}],
        "init": {"commands": [], "jobs": [{"name": "j", "run_sh": "job"}]},
        "alternative_download": {"run_sh": "alt"},
        "cold_init": {"run_sh": "cold", "one_time": true},
    }))
    .unwrap();
    let service = &cfg.services[0];
    assert!(service.use_protocol_data);
    let s = config::service_config(service, &["n".into()], &[]);
    assert_eq!(
        s.restart,
        RestartPolicy::Always(config::DEFAULT_SERVICE_RESTART)
    );
    assert_eq!(config::DEFAULT_SERVICE_RESTART.backoff_timeout_ms, 60_000);
    assert_eq!(config::DEFAULT_SERVICE_RESTART.backoff_base_ms, 1_000);
    assert_eq!(config::DEFAULT_SERVICE_RESTART.max_retries, None);
    assert_eq!(s.needs, Some(vec!["n".to_string()]));
    assert_eq!(s.wait_for, Some(vec![]));
    assert_eq!(s.use_protocol_data, Some(true));
    assert_eq!(s.one_time, None);

    let a = config::aux_service_config(&cfg.aux_services.as_ref().unwrap()[0]);
    assert_eq!(
        a.restart,
        RestartPolicy::Always(config::DEFAULT_SERVICE_RESTART)
    );
    assert_eq!(
        (a.needs, a.wait_for, a.use_protocol_data),
        (None, None, Some(false))
    );

    let j = config::job_config(&cfg.init.as_ref().unwrap().jobs[0], &["x".into()]);
    assert_eq!(j.restart, RestartPolicy::Never);
    assert_eq!(j.needs, Some(vec!["x".to_string()]));
    assert_eq!(
        (j.use_protocol_data, j.one_time, j.wait_for),
        (Some(false), Some(false), None)
    );

    let d = config::download_config(None, &[]);
    assert_eq!(
        d.restart,
        RestartPolicy::OnFailure(job::RestartConfig {
            backoff_timeout_ms: 600_000,
            backoff_base_ms: 500,
            max_retries: Some(10)
        })
    );
    assert_eq!(
        d.job_type,
        JobType::Download {
            max_connections: None,
            max_runners: None
        }
    );
    let u = config::upload_config(None, &["p".into()]);
    assert_eq!(
        u.restart,
        RestartPolicy::OnFailure(config::DEFAULT_ARCHIVE_RESTART)
    );
    assert!(matches!(
        u.job_type,
        JobType::Upload {
            compression: Some(job::Compression::Zstd(3)),
            exclude: None,
            ..
        }
    ));
    let none = parse(json!({"services": [], "upload": {"compression": "NONE"}})).unwrap();
    assert_eq!(
        none.upload.as_ref().unwrap().compression,
        Some(Compression::None)
    );
    let u = config::upload_config(none.upload.as_ref(), &[]);
    assert!(matches!(
        u.job_type,
        JobType::Upload {
            compression: None,
            ..
        }
    ));

    let alt = config::alternative_download_config(cfg.alternative_download.as_ref().unwrap(), &[]);
    assert_eq!(alt.restart, RestartPolicy::Never);
    assert_eq!((alt.shutdown_timeout_secs, alt.one_time), (None, None));
    let cold = config::cold_init_config(cfg.cold_init.as_ref().unwrap(), &["i".into()]);
    assert_eq!(cold.restart, RestartPolicy::Never);
    assert_eq!(cold.one_time, Some(true));
    assert_eq!(cold.needs, Some(vec!["i".to_string()]));
}

#[test]
fn cold_init_when_no_archive_and_no_alternative() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        r#"fn plugin_config() {#{
            init: #{commands: ["echo 1"], jobs: []},
            cold_init: #{run_sh: "cold", restart_config: #{backoff_timeout_ms: 5, backoff_base_ms: 6}},
            post_download: [#{name: "never_runs", run_sh: "x"}],
            services: [#{name: "s", run_sh: "run"}],
        }}"#,
        &fake,
    );
    p.init().unwrap();
    let calls = fake.calls();
    let cold = calls.iter().find_map(|c| match c {
        Call::CreateJob(n, c) if n == "download" => Some(c.clone()),
        _ => None,
    });
    let cold = cold.unwrap();
    assert_eq!(cold.job_type, JobType::RunSh("cold".into()));
    assert!(matches!(cold.restart, RestartPolicy::OnFailure(c) if c.max_retries.is_none()));
    assert_eq!(cold.needs, Some(vec![]));
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::CreateJob(n, _) if n == "never_runs"))
    );
    let service = calls.iter().find_map(|c| match c {
        Call::CreateJob(n, c) if n == "s" => Some(c.clone()),
        _ => None,
    });
    assert_eq!(service.unwrap().needs, Some(vec!["download".to_string()]));
}

#[test]
fn failing_init_command_stops_init() {
    let fake = FakeEngine::with(|s| {
        s.sh.insert(
            "false".into(),
            babel_api::engine::ShResponse {
                exit_code: 1,
                stdout: String::new(),
                stderr: "no".into(),
            },
        );
    });
    let mut p = plugin(
        r#"fn plugin_config() {#{ init: #{commands: ["false", "echo never"], jobs: []}, services: [] }}"#,
        &fake,
    );
    let err = p.init().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("init command 'false' failed with exit_code: ShResponse"),
        "{err}"
    );
    assert!(
        !fake
            .calls()
            .contains(&Call::RunSh("echo never".into(), None))
    );
}

#[test]
fn config_is_saved_loaded_and_drives_capabilities() {
    let fake = FakeEngine::new();
    let src = r#"fn plugin_config() {#{ services: [#{name: "s", run_sh: "x"}] }}
                 fn protocol_status() {#{state: "ok", health: "healthy"}}"#;
    let mut p = plugin(src, &fake);
    assert!(p.plugin_config().is_none());
    p.reload_plugin_config().unwrap();
    assert_eq!(p.plugin_config().unwrap().services[0].name, "s");
    let saved = fake.state().config.clone().unwrap();
    assert!(saved.contains(r#""name":"s""#), "{saved}");
    // A new plugin (daemon restart) starts with the saved config.
    let p2 = plugin(src, &fake);
    assert_eq!(p2.plugin_config().unwrap().services[0].run_sh, "x");
    assert!(p2.has_capability("init") && p2.has_capability("upload"));
    // A save failure fails the reload.
    fake.state().fail.push("save_config");
    let err = p.reload_plugin_config().unwrap_err();
    assert!(matches!(err, PluginError::Engine(_)), "{err}");
    // An invalid config fails with the key path.
    let bad = FakeEngine::new();
    let mut p = plugin(r#"fn plugin_config() {#{ services: [#{name: 1}] }}"#, &bad);
    let err = p.init().unwrap_err();
    assert!(
        matches!(&err, PluginError::Config(m) if m.to_string().starts_with("plugin_config.services[0].name: invalid type")),
        "{err}"
    );
    // Unknown keys do not: the plugin initialises and keeps them as warnings.
    let odd = FakeEngine::new();
    let mut p = plugin(
        r#"fn plugin_config() {#{ services: [#{name: "s", run_sh: "x", needs: ["i"]}], extra: 1 }}
        fn height() { 7 }"#,
        &odd,
    );
    p.init().unwrap();
    assert_eq!(p.height().unwrap(), 7);
    let warnings: Vec<String> = p
        .config_warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings, vec!["plugin_config.extra: unknown key ignored"]);
    // A restarted host (new plugin on the saved config) still reports them.
    let again =
        Plugin::from_source("fn height() { 7 }", odd.clone(), PluginLimits::default()).unwrap();
    assert_eq!(again.config_warnings(), p.config_warnings());
    let service = odd.calls().into_iter().find_map(|c| match c {
        Call::CreateJob(name, cfg) if name == "s" => Some(cfg),
        _ => None,
    });
    assert_eq!(service.unwrap().needs, Some(vec!["i".to_string()]));
    assert!(
        odd.logs()
            .iter()
            .any(|(_, m)| m == "plugin_config.extra: unknown key ignored"),
        "{:?}",
        odd.logs()
    );
}

#[test]
fn without_config_defaults_are_missing() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        "fn protocol_status() {#{state: \"x\", health: \"neutral\"}}",
        &fake,
    );
    assert!(matches!(p.init().unwrap_err(), PluginError::MissingConfig));
    assert!(matches!(
        p.upload().unwrap_err(),
        PluginError::MissingConfig
    ));
    assert_eq!(p.capabilities(), vec!["protocol_status".to_string()]);
    assert!(matches!(
        p.call_method("init", "").unwrap_err(),
        PluginError::MethodNotFound(_)
    ));
    // Script-callable default_init without config fails clearly too.
    let mut p = plugin("fn init() { default_init() }", &fake);
    let err = p.init().unwrap_err();
    assert!(
        err.to_string().contains("Missing plugin_config function"),
        "{err}"
    );
}

#[test]
fn script_default_init_sees_the_freshly_reloaded_config() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        r#"fn plugin_config() {#{ services: [#{name: node_params().svc, run_sh: "x"}] }}
           fn init() { info("before"); default_init(); info("after"); }"#,
        &fake,
    );
    fake.state().params.insert("svc".into(), "first".into());
    p.init().unwrap();
    fake.state().params.insert("svc".into(), "second".into());
    fake.take_calls();
    p.init().unwrap();
    assert!(fake.calls().contains(&Call::StartJob("second".into())));
    assert!(!fake.calls().contains(&Call::StartJob("first".into())));
}

#[test]
fn special_protocol_states_take_precedence() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        r#"fn plugin_config() {#{ services: [#{name: "node", run_sh: "x"}] }}
           fn protocol_status() {#{state: "broadcasting", health: "healthy"}}"#,
        &fake,
    );
    p.reload_plugin_config().unwrap();
    let neutral = |s: &str| ProtocolStatus {
        state: s.into(),
        health: Health::Neutral,
    };
    fake.set_job("download", JobStatus::Running);
    fake.set_job(
        "node",
        JobStatus::Pending {
            waiting_for: vec![],
        },
    );
    assert_eq!(p.protocol_status().unwrap(), neutral("downloading"));
    fake.set_job("upload", JobStatus::Running);
    assert_eq!(p.protocol_status().unwrap(), neutral("uploading"));
    fake.state().jobs.clear();
    fake.set_job(
        "node",
        JobStatus::Pending {
            waiting_for: vec![],
        },
    );
    assert_eq!(p.protocol_status().unwrap(), neutral("starting"));
    assert!(p.protocol_status().unwrap().is_special());
    fake.set_job("node", JobStatus::Running);
    fake.set_job("download", JobStatus::finished(Some(0), ""));
    assert_eq!(p.protocol_status().unwrap().state, "broadcasting");
    // Without a config, a pending job named like a service does not mean starting.
    let fake = FakeEngine::new();
    let p = plugin(
        r#"fn protocol_status() {#{state: "x", health: "unhealthy"}}"#,
        &fake,
    );
    fake.set_job(
        "node",
        JobStatus::Pending {
            waiting_for: vec![],
        },
    );
    assert_eq!(p.protocol_status().unwrap().health, Health::Unhealthy);
    fake.set_job("download", JobStatus::Running);
    assert_eq!(p.protocol_status().unwrap(), neutral("downloading"));
    // A malformed script result is a clear error.
    let p = plugin(
        r#"fn protocol_status() {#{state: "x", health: "great"}}"#,
        &FakeEngine::new(),
    );
    assert!(p.protocol_status().is_err());
}

#[test]
fn dispatch_and_custom_methods() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        r#"
        fn height() { 7 }
        fn block_age() { -1 }
        fn name() { "n" }
        fn address() { 5 }
        fn consensus() { true }
        fn one(x) { x + "!" }
        fn both() { "zero" }
        fn both(x) { "one:" + x }
        fn zero() { "z" }
        fn not_string() { 1 }
        private fn hidden() { "h" }
        "#,
        &fake,
    );
    assert_eq!(p.call_method("height", "").unwrap(), "7");
    assert!(p.call_method("block_age", "").is_err());
    assert_eq!(p.call_method("name", "").unwrap(), "n");
    assert!(p.call_method("address", "").is_err());
    assert_eq!(p.call_method("consensus", "").unwrap(), "true");
    assert_eq!(p.call_method("one", "a").unwrap(), "a!");
    assert_eq!(p.call_method("both", "").unwrap(), "one:");
    assert_eq!(p.call_method("both", "p").unwrap(), "one:p");
    assert_eq!(p.call_method("zero", "").unwrap(), "z");
    let err = p.call_method("zero", "p").unwrap_err();
    assert_eq!(err.to_string(), "no matching method 'zero' found");
    assert!(matches!(
        p.call_method("no_method", "").unwrap_err(),
        PluginError::MethodNotFound(_)
    ));
    assert!(matches!(
        p.call_method("hidden", "").unwrap_err(),
        PluginError::MethodNotFound(_)
    ));
    let err = p.call_method("not_string", "").unwrap_err();
    assert!(err.to_string().contains("expecting string"), "{err}");
    let mut caps = p.capabilities();
    caps.sort();
    assert_eq!(
        caps,
        [
            "address",
            "block_age",
            "both",
            "both",
            "consensus",
            "height",
            "name",
            "not_string",
            "one",
            "zero"
        ]
    );
    assert!(matches!(
        p.protocol_status().unwrap_err(),
        PluginError::MethodNotFound(_)
    ));
}

#[test]
fn syntax_errors_name_file_and_position() {
    let err =
        Plugin::from_source("fn f( {", FakeEngine::new(), PluginLimits::default()).unwrap_err();
    assert!(matches!(err, PluginError::Syntax { line: 1, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("Rhai syntax error in main.rhai:1:"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = Plugin::load(dir.path(), FakeEngine::new(), PluginLimits::default()).unwrap_err();
    assert!(matches!(err, PluginError::Io { .. }), "{err}");
    // A failing top level fails the load.
    let err = Plugin::from_source("throw \"top\";", FakeEngine::new(), PluginLimits::default())
        .unwrap_err();
    assert!(err.to_string().contains("top"), "{err}");
}

#[test]
fn capabilities_are_the_interface_not_the_helpers() {
    let fake = FakeEngine::new();
    let mut p = plugin(
        r#"
        private fn peer_list() { "a,b" }
        fn rpc(method, params) { method + params }
        fn mine(param) { rpc("mine", param) }
        fn mine() { mine("1") }
        fn height() { 7 }
        fn peers() { peer_list() }
        "#,
        &fake,
    );
    let mut caps = p.capabilities();
    caps.sort();
    assert_eq!(caps, ["height", "mine", "mine", "peers"]);
    assert_eq!(p.call_method("peers", "").unwrap(), "a,b");
    assert_eq!(p.call_method("mine", "2").unwrap(), "mine2");
    for helper in ["peer_list", "rpc"] {
        assert!(matches!(
            p.call_method(helper, "").unwrap_err(),
            PluginError::MethodNotFound(_)
        ));
    }
}

#[test]
fn upgrade_declaration_is_a_known_key() {
    let parsed = babel_plugin::config::parse_plugin_config(serde_json::json!({
        "services": [],
        "upgrade": { "health_timeout_secs": 90, "data_incompatible_with_previous": true }
    }))
    .unwrap();
    assert!(parsed.unknown_keys.is_empty(), "{:?}", parsed.unknown_keys);
    let upgrade = parsed.config.upgrade.unwrap();
    assert_eq!(upgrade.health_timeout_secs, Some(90));
    assert_eq!(upgrade.data_incompatible_with_previous, Some(true));
}
