//! The Grafana dashboards and Prometheus rules in `dashboards/`: promtool accepts the rules
//! and the example configuration, every alert kind the daemon raises has a rule, and every
//! metric a dashboard or rule queries is in the real output of a daemon's metrics endpoint
//! with a running node.

mod bv_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bv_support::{Daemon, build_image, remove_image, unique, wait_for};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rules_file() -> PathBuf {
    repo().join("dashboards/prometheus/blockvisor-alerts.yml")
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian package prometheus; run scripts/setup)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_and_config() {
    let rules = rules_file();
    promtool(&["check", "rules", rules.to_str().expect("utf-8 path")]);
    let config = repo().join("dashboards/prometheus/prometheus.yml");
    promtool(&["check", "config", config.to_str().expect("utf-8 path")]);
}

/// Every `expr` of the rules file, with the rule's labels.
fn rule_exprs() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(rules_file()).expect("rules file");
    let doc: Value = serde_yaml::from_str(&text).expect("rules YAML");
    let mut out = vec![];
    for g in doc["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            out.push((
                r["expr"].as_str().expect("expr").to_string(),
                r["labels"].clone(),
            ));
        }
    }
    out
}

/// The alert kinds blockvisord raises, read from its source (`alert("kind", …)` and
/// `kind: "kind".into()`).
fn daemon_alert_kinds() -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for file in ["alerts.rs", "mod.rs"] {
        let path = repo().join("blockvisord/src/metrics").join(file);
        let text = std::fs::read_to_string(&path).expect("daemon source");
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for marker in ["alert(", "kind: "] {
            for piece in text.split(marker).skip(1) {
                let Some(quoted) = piece.trim_start().strip_prefix('"') else {
                    continue;
                };
                let kind = quoted.split('"').next().unwrap_or_default();
                if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    kinds.insert(kind.to_string());
                }
            }
        }
    }
    kinds
}

#[test]
fn every_daemon_alert_has_a_rule() {
    let kinds = daemon_alert_kinds();
    for expected in ["failed", "unhealthy", "job_failed", "upgrade_rolled_back"] {
        assert!(kinds.contains(expected), "{kinds:?}");
    }
    let covered: BTreeSet<String> = rule_exprs()
        .iter()
        .filter_map(|(_, labels)| labels["bv_alert"].as_str().map(String::from))
        .collect();
    let missing: Vec<_> = kinds.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "alert kinds without a rule: {missing:?}"
    );
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];
/// Aggregation operators may take their `by`/`without` clause before the parenthesis.
const AGGREGATORS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Metric names a PromQL expression selects: identifiers outside label matchers, strings,
/// ranges and grouping lists that are neither functions, keywords, numbers nor `$variables`.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        let mut j = from + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' || chars[j] == '\'' {
                let q = chars[j];
                j += 1;
                while j < chars.len() && chars[j] != q {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c == '"' || c == '\'' || c == '`' {
            i = skip_to(i, c);
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let call = chars.get(j) == Some(&'(');
            if GROUPING.contains(&word.as_str()) && call {
                i = skip_to(j, ')');
            } else if !call
                && !AGGREGATORS.contains(&word.as_str())
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn promql_names_are_found() {
    assert_eq!(
        metric_names(
            "sum by (status) (bv_node_status{instance=~\"$instance\", a=\"}\"} == 1) and on (node_id) rate(bv_x_total[$__rate_interval]) * 60 or vector(0)"
        ),
        ["bv_node_status", "bv_x_total"]
    );
    assert_eq!(
        metric_names("bv_a / bv_b > 0.9 and bv_c > 1e3"),
        ["bv_a", "bv_b", "bv_c"]
    );
}

/// (where, expression) of every query in the dashboards: panel targets and the metric of
/// each `label_values(metric…, label)` variable.
fn dashboard_queries() -> Vec<(String, String)> {
    let dir = repo().join("dashboards/grafana");
    let mut out = vec![];
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards/grafana")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for names in ["host.json", "nodes.json", "jobs.json", "archives.json"] {
        assert!(files.iter().any(|f| f.ends_with(names)), "{names} missing");
    }
    for path in files {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(d["uid"].is_string() && d["title"].is_string(), "{name}");
        let panels = d["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{name} has no panels");
        for p in panels {
            for t in p["targets"].as_array().expect("targets") {
                let expr = t["expr"].as_str().expect("expr");
                out.push((format!("{name}: {}", p["title"]), expr.to_string()));
            }
        }
        for v in d["templating"]["list"].as_array().expect("templating") {
            if let Some(q) = v["query"]["query"].as_str()
                && let Some(inner) = q.strip_prefix("label_values(")
            {
                let metric = inner.rsplit_once(',').map(|(m, _)| m).unwrap_or(inner);
                out.push((
                    format!("{name}: variable {}", v["name"]),
                    metric.to_string(),
                ));
            }
        }
    }
    out
}

/// Metric names in an OpenMetrics exposition: every sample, and every declared family
/// (with `_total` for counters), so families without a sample right now count too.
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                names.insert(name.to_string());
                if kind == "counter" {
                    names.insert(format!("{name}_total"));
                }
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

const PLUGIN: &str = r#"
fn plugin_config() {
    #{ services: [ #{ name: "chain", run_sh: `while true; do sleep 1; done` } ] }
}
fn height() { 7 }
fn block_age() { 2 }
fn consensus() { true }
fn protocol_status() { #{state: "stalled", health: "unhealthy"} }
"#;

#[test]
fn queried_metrics_exist_in_the_exporter() {
    let tag = format!("{}:1", unique("bv-e2e-dash-"));
    struct Image(String);
    impl Drop for Image {
        fn drop(&mut self) {
            remove_image(&self.0);
        }
    }
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    let d = Daemon::start_with_config("[metrics]\nlisten = \"127.0.0.1:0\"\ninterval_secs = 1", "");
    let name = unique("dash-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{tag}"),
        "--image-version",
        "1.0.0",
        "--protocol-key",
        "dashproto",
        "--variant-key",
        "dashvar",
        "--name",
        &name,
    ]);
    d.ok(&["node", "start", &name]);
    let addr = d.json(&["status"])["metrics_addr"]
        .as_str()
        .expect("metrics_addr")
        .to_string();
    let scrape = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("connect metrics");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bv\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        out
    };
    let mut text = String::new();
    wait_for(Duration::from_secs(60), "node figures in metrics", || {
        text = scrape();
        [
            "bv_node_height{",
            "bv_node_consensus{",
            "bv_node_job_status{",
        ]
        .iter()
        .all(|s| text.contains(s))
    });
    let exported = exported_names(&text);
    assert!(exported.contains("bv_host_memory_total_bytes"), "{text}");

    let mut queries = dashboard_queries();
    queries.extend(
        rule_exprs()
            .into_iter()
            .map(|(e, _)| ("blockvisor-alerts.yml".to_string(), e)),
    );
    let mut checked = 0;
    let mut missing = vec![];
    for (place, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{place}: no metric in `{expr}`");
        for n in names {
            checked += 1;
            if !exported.contains(&n) {
                missing.push(format!("{place}: `{n}` in `{expr}`"));
            }
        }
    }
    assert!(checked > 40, "only {checked} metric references found");
    assert!(
        missing.is_empty(),
        "metrics not in the exporter's output:\n{}\n--- exporter ---\n{text}",
        missing.join("\n")
    );
}
