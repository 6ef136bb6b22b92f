//! The plugin linter: dry-run failures and static findings with file:line:column.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use babel_api::node_env::NodeEnv;
use babel_plugin::{LintReport, Severity, lint};

fn env() -> NodeEnv {
    NodeEnv {
        dev_mode: true,
        data_mount_point: "/blockjoy".into(),
        protocol_data_path: "/blockjoy/protocol_data".into(),
        ..NodeEnv::default()
    }
}

fn props(keys: &[&str]) -> BTreeMap<String, String> {
    keys.iter()
        .map(|k| (k.to_string(), "v".to_string()))
        .collect()
}

fn lint_files(files: &[(&str, &str)], keys: &[&str]) -> LintReport {
    let dir = tempfile::tempdir().unwrap();
    for (name, src) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, src).unwrap();
    }
    lint(dir.path(), env(), props(keys))
}

fn lines(report: &LintReport) -> Vec<String> {
    report.findings.iter().map(ToString::to_string).collect()
}

const CONFIG: &str = "fn plugin_config() {#{ services: [] }}\n";

#[test]
fn clean_plugin_passes() {
    let report = lint_files(
        &[(
            "main.rhai",
            r#"const NET = node_params().network;
fn plugin_config() {#{
    services: [#{name: "node", run_sh: `node --net ${global::NET}`}],
    scheduled: [#{name: "t", schedule: "0 * * * * *", function: "tick"}],
}}
fn tick() { info("tick") }
fn protocol_status() {#{state: "ok", health: "healthy"}}
"#,
        )],
        &["network"],
    );
    assert!(report.is_ok(), "{report}");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in ["init_minimal", "chain_functions", "custom_download_upload"] {
        let report = lint(&examples.join(name), env(), props(&[]));
        assert!(report.is_ok(), "{name}: {report}");
    }
    // The jobs example deliberately manages jobs without plugin_config.
    let report = lint(&examples.join("jobs"), env(), props(&[]));
    assert_eq!(
        lines(&report),
        vec!["main.rhai:0:0: warning: Deprecated API used: missing plugin_config function"]
    );
    let report = lint(&examples.join("plugin_config"), env(), props(&["network"]));
    assert!(report.is_ok(), "plugin_config: {report}");
}

#[test]
fn undeclared_properties_direct_and_indirect() {
    let report = lint_files(
        &[
            (
                "main.rhai",
                "fn plugin_config() {#{ services: [] }}\nfn a() { node_params()[\"declared\"] + node_params().missing_a }\nfn b() {\n  let p = node_params();\n  p[\"missing_b\"] + p.declared\n}\n",
            ),
            (
                "lib/extra.rhai",
                "fn c() { node_params()[\"missing_c\"] }\n",
            ),
        ],
        &["declared"],
    );
    assert_eq!(
        lines(&report),
        vec![
            "lib/extra.rhai:1:24: warning: 'missing_c' not defined in babel.yaml",
            "main.rhai:2:52: warning: 'missing_a' not defined in babel.yaml",
            "main.rhai:5:5: warning: 'missing_b' not defined in babel.yaml",
        ]
    );
    assert!(!report.is_ok());
    assert_eq!(report.warnings().count(), 3);
}

#[test]
fn missing_plugin_config_is_deprecated() {
    let report = lint_files(&[("main.rhai", "fn init() { }\n")], &[]);
    assert_eq!(
        lines(&report),
        vec!["main.rhai:0:0: warning: Deprecated API used: missing plugin_config function"]
    );
}

#[test]
fn undefined_globals_arity_and_old_signatures() {
    let report = lint_files(
        &[
            (
                "main.rhai",
                &format!(
                    "{CONFIG}import \"base\" as base;\nconst A = 1;\nfn f(x) {{ global::A + global::B }}\nfn g() {{ f(1, 2) }}\nfn h() {{ run_jrpc(\"http://h\", \"m\") }}\nfn i() {{ run_sh() }}\nfn j() {{ base::k(1) + base::nope() }}\n"
                ),
            ),
            ("base.rhai", "fn k() { 1 }\n"),
        ],
        &[],
    );
    let found = lines(&report);
    let expected = [
        "main.rhai:4:31: error: global::B is not a top-level constant of main.rhai",
        "main.rhai:5:10: error: function 'f' called with 2 argument(s), but it takes 1",
        "main.rhai:6:10: error: run_jrpc(host, method) is the old signature",
        "main.rhai:7:10: error: function 'run_sh' called with 0 argument(s), but it takes 1 or 2",
        "main.rhai:8:16: error: function 'base::k' called with 1 argument(s), but it takes 0",
        "main.rhai:8:29: error: function 'base::nope' is not defined in base.rhai",
    ];
    for e in expected {
        assert!(
            found.iter().any(|f| f.starts_with(e)),
            "missing {e} in\n{report}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{report}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity == Severity::Error)
    );
}

#[test]
fn scheduled_tasks_need_valid_cron_and_existing_functions() {
    let report = lint_files(
        &[(
            "main.rhai",
            r#"fn plugin_config() {#{
    services: [],
    scheduled: [
        #{name: "bad_cron", schedule: "*/5 * * * *", function: "tick"},
        #{name: "missing_fn", schedule: "0 * * * * *", function: "nope"},
        #{name: "needs_param", schedule: "0 * * * * *", function: "tick", param: "x"},
    ],
}}
fn tick() { }
fn custom() { add_task("t", "0 0 25 * * *", "gone") }
"#,
        )],
        &[],
    );
    let found = lines(&report);
    let expected = [
        "main.rhai:4:39: error: task 'bad_cron': invalid cron schedule '*/5 * * * *'",
        "main.rhai:5:66: error: task 'missing_fn': scheduled function 'nope' is not defined",
        "main.rhai:4:64: error: task 'needs_param': scheduled function 'tick' is not defined",
        "main.rhai:10:29: error: invalid cron schedule '0 0 25 * * *'",
        "main.rhai:10:45: error: scheduled function 'gone' is not defined",
    ];
    for e in expected {
        assert!(
            found.iter().any(|f| f.starts_with(e)),
            "missing {e} in\n{report}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{report}");
}

#[test]
fn dry_run_failures_are_errors_with_position() {
    // The stub answers HTTP status 0, so expect(200) in init fails.
    let report = lint_files(
        &[(
            "main.rhai",
            "fn plugin_config() {#{ services: [] }}\nfn init() {\n  run_rest(#{url: \"http://x\"}).expect(200);\n}\n",
        )],
        &[],
    );
    let found = lines(&report);
    assert_eq!(found.len(), 1, "{report}");
    assert!(found[0].starts_with("main.rhai:3:"), "{report}");
    assert!(found[0].contains("unexpected status_code: 0"), "{report}");
    // Unknown plugin_config keys are warnings at the key, with a suggestion.
    let report = lint_files(
        &[(
            "main.rhai",
            "fn plugin_config() {#{\n  services: [#{name: \"a\", run_sh: \"x\",\n    restart: 1}],\n  alternative_download: #{run_sh: \"y\", restart: \"never\"},\n}}\n",
        )],
        &[],
    );
    assert_eq!(
        lines(&report),
        vec![
            "main.rhai:3:5: warning: plugin_config.services[0].restart: unknown key ignored (did you mean `restart_config`?)",
            "main.rhai:4:40: warning: plugin_config.alternative_download.restart: unknown key ignored (did you mean `restart_config`?)",
        ],
        "{report}"
    );
    assert_eq!(report.errors().count(), 0);
    // Syntax errors point at the file and position, in any file.
    let report = lint_files(&[("main.rhai", CONFIG), ("other.rhai", "fn x( {\n")], &[]);
    assert!(lines(&report)[0].starts_with("other.rhai:1:"), "{report}");
    // An endless init does not hang the linter.
    let report = lint_files(
        &[(
            "main.rhai",
            "fn plugin_config() {#{ services: [] }}\nfn init() { loop {} }\n",
        )],
        &[],
    );
    assert!(lines(&report)[0].contains("timed out"), "{report}");
    // No main.rhai at all.
    let report = lint_files(&[("base.rhai", "fn a() {}\n")], &[]);
    assert_eq!(
        lines(&report),
        vec!["main.rhai:0:0: error: missing main.rhai"]
    );
}

#[test]
fn undefined_functions_anywhere_are_errors_with_a_suggestion() {
    let main = r#"import "helpers" as h;
fn plugin_config() {#{ services: [] }}
fn protocol_status() {
    let out = run_shell("true");
    #{state: "ok", health: "healthy"}
}
fn peers() { peer_count() + h::twice(2) }
fn peer_total() { 1 }
fn callbacks(f) { let g = |x| x + 1; f(1) + g(2) + [1, 2].map(|x| x * 2).len() }
fn method() { let r = run_sh("x"); r.expect(0) + "x".to_uper() }
"#;
    let helpers = "fn twice(x) { parse_jsn(x) }\n";
    let report = lint_files(&[("main.rhai", main), ("helpers.rhai", helpers)], &[]);
    assert_eq!(
        lines(&report),
        vec![
            "helpers.rhai:1:15: error: function 'parse_jsn' is not defined (did you mean `parse_json`?)",
            "main.rhai:4:15: error: function 'run_shell' is not defined (did you mean `run_sh`?)",
            "main.rhai:7:14: error: function 'peer_count' is not defined (did you mean `peer_total`?)",
            "main.rhai:10:54: error: method 'to_uper' is not defined (did you mean `to_upper`?)",
        ],
        "{report}"
    );
}

#[test]
fn unit_tests_next_to_the_plugin_are_not_linted_as_plugin_files() {
    let test = "fn test_x() { mock_sh(\"a\", \"b\"); assert_eq(height(), 1); }\n";
    let report = lint_files(
        &[
            ("main.rhai", CONFIG),
            ("tests/main_test.rhai", test),
            ("lib/tests/helper.rhai", "fn helper() { undefined_fn() }\n"),
        ],
        &[],
    );
    let text = lines(&report).join("\n");
    assert!(!text.contains("main_test.rhai"), "{text}");
    // only the top-level tests/ directory is skipped
    assert!(text.contains("helper.rhai"), "{text}");
}
