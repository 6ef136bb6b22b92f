//! Before an upgrade stops a node, end to end with real runc and dockerd: a running
//! upgrade-blocking job (an init job, like a download) refuses `bv node upgrade`, delays
//! `--wait` (visible in `bv node status`) until it finishes, and is named and killed by
//! `--force`; the plugin's `upgrade_window()` delays an upgrade up to `--max-wait`.

mod bv_support;

use std::process::Command;
use std::time::{Duration, Instant};

use bv_support::{Catalog, Daemon, bin, build_image, remove_image, unique, wait_for};

/// An init job that runs for a while (like a download): `restart: never` makes it
/// upgrade-blocking.
const PLUGIN: &str = r#"
fn plugin_config() {
    #{
        init: #{ commands: [], jobs: [ #{ name: "fetch", run_sh: `sleep JOB_SECS` } ] },
        services: [ #{ name: "ticker", run_sh: `while true; do sleep 1; done` } ],
    }
}
fn greet(param) { `hello from VERSION` }
"#;

fn plugin(version: &str, job_secs: u64) -> String {
    PLUGIN
        .replace("VERSION", version)
        .replace("JOB_SECS", &job_secs.to_string())
}

struct Images(Vec<String>);
impl Drop for Images {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| remove_image(t));
    }
}

fn upgrade_args<'a>(name: &'a str, uri: &'a str, version: &'a str) -> Vec<&'a str> {
    vec![
        "node",
        "upgrade",
        name,
        "--image",
        uri,
        "--image-version",
        version,
    ]
}

fn fetch_runs(d: &Daemon, name: &str) -> bool {
    let jobs = d.ok(&["node", "job", name, "list"]);
    jobs.lines()
        .any(|l| l.contains("fetch") && l.contains("Running"))
}

#[test]
fn upgrades_wait_for_blocking_jobs_and_the_upgrade_window() {
    let repo = unique("bv-gate-");
    let tags: Vec<String> = ["1", "2", "3", "4", "5"]
        .iter()
        .map(|v| format!("{repo}:{v}"))
        .collect();
    let _images = Images(tags.clone());
    build_image(&tags[0], &plugin("v1", 20));
    build_image(&tags[1], &plugin("v2", 600));
    build_image(&tags[2], &plugin("v3", 600));
    // No blocking job, but never a safe moment to restart.
    build_image(
        &tags[3],
        &(plugin("v4", 0).replace(
            "jobs: [ #{ name: \"fetch\", run_sh: `sleep 0` } ]",
            "jobs: []",
        ) + "fn upgrade_window() { 3600 }\n"),
    );
    build_image(&tags[4], &plugin("v5", 0));
    let uris: Vec<String> = tags
        .iter()
        .map(|t| format!("docker-daemon://{t}"))
        .collect();

    let d = Daemon::start();
    let name = unique("g-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &uris[0],
        "--name",
        &name,
        "--image-version",
        "1.0.0",
    ]);
    d.ok(&["node", "start", &name]);
    wait_for(Duration::from_secs(20), "fetch job runs", || {
        fetch_runs(&d, &name)
    });
    let started_at = d.node(&name)["started_at"].clone();

    // Refused by default, naming the job; the node keeps running untouched.
    let out = d.bv(&upgrade_args(&name, &uris[1], "2.0.0"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upgrade-blocking") && err.contains("fetch") && err.contains("--force"),
        "{err}"
    );
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}");
    assert_eq!(node["image"]["version"], "1.0.0");
    assert_eq!(node["started_at"], started_at);
    assert!(fetch_runs(&d, &name));

    // --wait: the upgrade waits, visibly, and goes ahead once the job has finished.
    let mut args = upgrade_args(&name, &uris[1], "2.0.0");
    args.push("--wait");
    let mut waiting = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&d.socket)
        .args(&args)
        .spawn()
        .expect("bv node upgrade --wait");
    wait_for(
        Duration::from_secs(15),
        "the wait shows in bv node status",
        || {
            let status = d.ok(&["node", "status", &name]);
            status.contains("waiting") && status.contains("fetch")
        },
    );
    let json = d.json(&["node", "status", &name]);
    let wait = &json[0]["upgrade_wait"];
    assert_eq!(wait["to_version"], "2.0.0", "{json}");
    assert!(wait["reason"].as_str().unwrap().contains("fetch"), "{json}");
    let info = d.ok(&["node", "info", &name]);
    assert!(
        info.contains("Upgrade:") && info.contains("fetch"),
        "{info}"
    );
    assert!(waiting.wait().expect("bv exits").success(), "{}", d.log());
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["image"]["version"], "2.0.0");
    assert!(node["upgrade_wait"].is_null(), "{node}");

    // --force names what it kills, and kills it.
    wait_for(Duration::from_secs(20), "v2's fetch job runs", || {
        fetch_runs(&d, &name)
    });
    let mut args = upgrade_args(&name, &uris[2], "3.0.0");
    args.push("--force");
    let out = d.bv(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{}", d.log());
    assert!(err.contains("kills") && err.contains("fetch"), "{err}");
    assert_eq!(d.node(&name)["image"]["version"], "3.0.0");

    // upgrade_window(): the upgrade waits for it, at most --max-wait.
    let mut args = upgrade_args(&name, &uris[3], "4.0.0");
    args.push("--force");
    d.ok(&args);
    assert_eq!(d.node(&name)["image"]["version"], "4.0.0");
    let mut args = upgrade_args(&name, &uris[4], "5.0.0");
    args.extend(["--max-wait", "5"]);
    let started = Instant::now();
    let mut delayed = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&d.socket)
        .args(&args)
        .spawn()
        .expect("bv node upgrade");
    wait_for(Duration::from_secs(10), "the window wait shows", || {
        d.ok(&["node", "status", &name]).contains("upgrade_window")
    });
    assert!(delayed.wait().expect("bv exits").success(), "{}", d.log());
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}");
    assert_eq!(node["image"]["version"], "5.0.0");
}

/// A set roll never kills a member's blocking job: the member's upgrade waits for it.
#[test]
fn set_upgrade_waits_for_a_members_blocking_job() {
    let repo = unique("bv-gate-set-");
    let (v1, v2) = (format!("{repo}:1"), format!("{repo}:2"));
    let _images = Images(vec![v1.clone(), v2.clone()]);
    let healthy = "fn protocol_status() { #{state: \"broadcasting\", health: \"healthy\"} }\n";
    build_image(&v1, &(plugin("v1", 12) + healthy));
    build_image(&v2, &(plugin("v2", 0) + healthy));
    let d = Daemon::start();
    let set = unique("s");
    d.ok(&[
        "set",
        "create",
        &set,
        "--count",
        "1",
        "--image",
        &format!("docker-daemon://{v1}"),
        "--image-version",
        "1.0.0",
    ]);
    let member = d.json(&["node", "list"])[0]["name"]
        .as_str()
        .expect("member name")
        .to_string();
    wait_for(
        Duration::from_secs(20),
        "the member's fetch job runs",
        || fetch_runs(&d, &member),
    );
    let started = Instant::now();
    let mut roll = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&d.socket)
        .args([
            "set",
            "upgrade",
            &set,
            "--image",
            &format!("docker-daemon://{v2}"),
            "--image-version",
            "2.0.0",
        ])
        .spawn()
        .expect("bv set upgrade");
    wait_for(
        Duration::from_secs(10),
        "the member's upgrade waits",
        || d.ok(&["node", "status", &member]).contains("fetch"),
    );
    assert_eq!(d.node(&member)["image"]["version"], "1.0.0");
    assert!(roll.wait().expect("bv exits").success(), "{}", d.log());
    // Not before the 12 s job had finished.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let node = d.node(&member);
    assert_eq!(node["status"], "Running", "{node}");
    assert_eq!(node["image"]["version"], "2.0.0");
}

/// An automatic upgrade is put off while a blocking job runs, says so, and happens after.
#[test]
fn automatic_upgrade_waits_for_a_blocking_job() {
    let repo = unique("bv-gate-auto-");
    let (v1, v2) = (format!("{repo}:1"), format!("{repo}:2"));
    let _images = Images(vec![v1.clone(), v2.clone()]);
    let healthy = "fn protocol_status() { #{state: \"broadcasting\", health: \"healthy\"} }\n";
    build_image(&v1, &(plugin("v1", 12) + healthy));
    build_image(&v2, &(plugin("v2", 0) + healthy));
    let catalog = Catalog::new();
    let d = Daemon::start_with_config(&catalog.config(), "");
    let name = unique("a-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{v1}"),
        "--image-version",
        "1.0.0",
        "--protocol-key",
        "gateproto",
        "--variant-key",
        "gatevar",
        "--name",
        &name,
    ]);
    d.ok(&["node", "start", &name]);
    wait_for(Duration::from_secs(20), "fetch job runs", || {
        fetch_runs(&d, &name)
    });
    catalog.offer("gateproto", "gatevar", "1.1.0", &v2);
    d.ok(&[
        "node",
        "update",
        &name,
        "--upgrade-policy",
        "auto",
        "--upgrade-delay",
        "0",
        "--health-deadline",
        "30s",
    ]);
    wait_for(Duration::from_secs(10), "the upgrade is put off", || {
        let state = d.node(&name)["auto_upgrade"]["state"].to_string();
        state.contains("waiting") && state.contains("fetch")
    });
    assert_eq!(d.node(&name)["image"]["version"], "1.0.0");
    wait_for(
        Duration::from_secs(60),
        "upgraded once the job is done",
        || d.node(&name)["image"]["version"] == "1.1.0",
    );
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    let state = node["auto_upgrade"]["state"].to_string();
    assert!(!state.contains("upgrade-blocking"), "{node}");
}
