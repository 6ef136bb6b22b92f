//! `bv` as an operator with Docker and kubectl habits uses it, against a real daemon with
//! runc and dockerd: progress on a terminal (under tmux) and as plain lines on a pipe,
//! `start --wait`, verbs that never default to every node, a closed stdout, node-first
//! `run`, results as returned, names on multi-node output, ids with `-q`, JSON errors,
//! `logs --since/--timestamps`, job names on interleaved job logs, capabilities without
//! helpers, `host info`, completions, and a daemon log without escape codes.

mod bv_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bv_support::{Daemon, OutputExt, bin, build_image, remove_image, unique, wait_for};

const PLUGIN: &str = r#"
fn plugin_config() {
    #{
        services: [
            #{ name: "ticker", run_sh: `while true; do echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) tick"; sleep 1; done` },
            #{ name: "tocker", run_sh: `while true; do echo tock; sleep 1; done` },
        ],
    }
}
private fn helper() { "help" }
fn pair(a, b) { a + b }
fn mined() { helper(); "{\"mined\":1}" }
fn height() { 7 }
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

struct Images(Vec<String>);
impl Drop for Images {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| remove_image(t));
    }
}

struct Tmux(String);
impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn stderr_str(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `bv …` under a tmux pane (a real terminal); returns the pane once the command ended.
fn in_terminal(d: &Daemon, args: &[&str]) -> String {
    let session = unique("bvtty");
    let _guard = Tmux(session.clone());
    let mut cmd = format!("{} --socket {}", bin("bv").display(), d.socket.display());
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let script = format!("{cmd}; echo EXIT=$?; sleep 120");
    let started = Command::new("tmux")
        .args(["new-session", "-d", "-x", "160", "-y", "40", "-s", &session])
        .arg(&script)
        .env_remove("NO_COLOR")
        .status()
        .expect("tmux (scripts/setup installs it)");
    assert!(started.success(), "tmux new-session failed");
    let pane = || {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .expect("tmux capture-pane");
        out.stdout_str()
    };
    wait_for(Duration::from_secs(120), "command in tmux ends", || {
        pane().contains("EXIT=")
    });
    pane()
}

/// `2026-01-02T03:04:05.678Z …`: the line starts with an RFC 3339 UTC time.
fn is_rfc3339_prefixed(line: &str) -> bool {
    let Some(word) = line.split_whitespace().next() else {
        return false;
    };
    let b = word.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        r.into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    word.ends_with('Z')
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && digits(17..19)
}

#[test]
fn operator_habits() {
    let repo = unique("bv-cli-");
    let (tag_a, tag_b) = (format!("{repo}:a"), format!("{repo}:b"));
    let _images = Images(vec![tag_a.clone(), tag_b.clone()]);
    build_image(&tag_a, PLUGIN);
    build_image(
        &tag_b,
        &PLUGIN.replace("fn height() { 7 }", "fn height() { 8 }"),
    );
    let (uri_a, uri_b) = (
        format!("docker-daemon://{tag_a}"),
        format!("docker-daemon://{tag_b}"),
    );
    let d = Daemon::start();

    // Progress of an uncached image as plain lines on a pipe, without escape codes.
    let n1 = unique("a-");
    let out = d.bv(&["node", "create", "--image", &uri_a, "--name", &n1]);
    let err = stderr_str(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("pull: started") && err.contains("pull: done"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "escape codes on a pipe: {err:?}");

    // ... and as a bar on a terminal.
    let n3 = unique("t-");
    let pane = in_terminal(&d, &["node", "create", "--image", &uri_b, "--name", &n3]);
    assert!(pane.contains("EXIT=0"), "{pane}");
    assert!(
        pane.lines()
            .any(|l| l.trim_start().starts_with("pull [") && l.contains('=')),
        "no progress bar on the terminal:\n{pane}"
    );
    assert!(!pane.contains("pull: started"), "{pane}");

    // `start --wait` returns once the plugin answers: the next call needs no retry.
    let started = d.ok(&["node", "start", &n1, "--wait"]);
    assert!(started.contains("answers its protocol status"), "{started}");
    assert_eq!(d.ok(&["node", "run", &n1, "height"]).trim(), "7");

    // Verbs over many nodes never default to all of them.
    for verb in ["stop", "restart", "start"] {
        let out = d.bv(&["node", verb]);
        assert!(!out.status.success(), "`bv node {verb}` with no names ran");
    }
    let out = d.bv(&["node", "delete", "--yes"]);
    assert!(!out.status.success());
    assert_eq!(d.node(&n1)["status"], "Running");

    // Node first, the older order still works; results as the plugin returned them.
    assert_eq!(
        d.json(&["node", "run", &n1, "mined"])["result"],
        serde_json::json!({"mined": 1})
    );
    assert_eq!(
        d.ok(&["node", "run", "mined", &n1]).trim(),
        r#"{"mined":1}"#
    );
    let caps = d.ok(&["node", "capabilities", &n1]);
    assert!(caps.contains("mined") && caps.contains("height"), "{caps}");
    assert!(!caps.contains("helper") && !caps.contains("pair"), "{caps}");
    assert!(
        d.ok(&["node", "inspect", &n1]).contains(&n1),
        "inspect is info"
    );

    // Multi-node output names its nodes; `-q` prints ids only.
    let status = d.ok(&["node", "status", &n1, &n3]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 2, "{status}");
    assert!(
        lines[0].starts_with(&n1) && lines[0].ends_with("Running"),
        "{status}"
    );
    assert!(
        lines[1].starts_with(&n3) && lines[1].ends_with("Stopped"),
        "{status}"
    );
    assert_eq!(d.ok(&["node", "status", &n1]).trim(), "Running");
    let ids = d.ok(&["node", "list", "-q"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    for id in &ids {
        assert!(uuid_like(id), "{id}");
    }

    // JSON errors on stderr, exit code 1.
    let out = d.bv(&["--format", "json", "node", "info", "no-such-node"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_str(stderr_str(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", stderr_str(&out)));
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-node")),
        "{err}"
    );

    // A closed stdout: quiet exit 141, no panic.
    for args in [
        vec!["completions", "bash"],
        vec!["node", "info", n1.as_str()],
    ] {
        let mut child = Command::new(bin("bv"))
            .arg("--socket")
            .arg(&d.socket)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bv");
        let mut first = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("first line");
        // The reader goes away after one line, like `head -1`.
        let out = child.wait_with_output().expect("wait");
        let err = stderr_str(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            matches!(out.status.code(), Some(0) | Some(141)),
            "{args:?}: {:?} {err}",
            out.status
        );
        assert!(!first.is_empty());
    }
    let mut child = Command::new(bin("bv"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("bv");
    drop(child.stdout.take());
    assert_eq!(child.wait().expect("wait").code(), Some(141));

    // Job logs of every job carry the job name; node logs with times and --since.
    wait_for(Duration::from_secs(30), "both jobs logged", || {
        let logs = d.ok(&["node", "job", &n1, "logs", "-n", "20"]);
        logs.contains("[ticker] ") && logs.contains("[tocker] tock")
    });
    let one = d.ok(&["node", "job", &n1, "logs", "tocker", "-n", "3"]);
    assert!(one.lines().all(|l| l == "tock"), "{one}");
    let logs = d.ok(&["node", "logs", &n1, "--since", "1h", "--timestamps"]);
    assert!(!logs.trim().is_empty(), "no console lines in the last hour");
    assert!(logs.lines().all(is_rfc3339_prefixed), "{logs}");
    let future = d.ok(&["node", "logs", &n1, "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(future, "");

    // The host at a glance.
    let host = d.ok(&["host", "info"]);
    assert!(
        host.contains("Nodes:          2 (1 Running, 1 Stopped)"),
        "{host}"
    );
    assert!(host.contains("Agent:          babel "), "{host}");
    assert!(host.contains("API:            not registered"), "{host}");
    let host = d.json(&["host", "info"]);
    assert_eq!(host["nodes"]["total"], 2, "{host}");
    assert!(
        host["memory"]["total_bytes"].as_u64().unwrap_or(0) > 0,
        "{host}"
    );

    // Completions from the binary, and a daemon log (a file) without escape codes.
    for shell in ["bash", "zsh", "fish"] {
        assert!(d.ok(&["completions", shell]).contains("inspect"), "{shell}");
    }
    assert!(
        !d.log().contains('\u{1b}'),
        "escape codes in the daemon log"
    );

    d.ok(&["node", "stop", "--all"]);
    assert_eq!(d.node(&n1)["status"], "Stopped");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
