//! A broken new version, end to end against a real blockvisord with runc: it starts, runs
//! its service and writes data, but never reports a healthy protocol status. `bv node
//! upgrade --health-timeout` rolls it back to the previous image and plugin in time, the
//! data it wrote stays, the `upgrade_rolled_back` alert says why (`bv node status`, the
//! metrics), and automatic upgrades then hold that version for the host.

mod bv_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bv_support::{Catalog, Daemon, build_image, remove_image, unique, wait_for};

const GOOD: &str = r#"
fn plugin_config() {
    #{ services: [ #{ name: "chain", run_sh: `while true; do echo v1 > /blockjoy/running; sleep 1; done` } ] }
}
fn greet() { "v1" }
fn protocol_status() {
    let r = run_sh(`cat /blockjoy/running 2>/dev/null`).unwrap();
    r.trim();
    if r == "v1" { #{state: "broadcasting", health: "healthy"} } else { #{state: "starting", health: "neutral"} }
}
"#;

/// Runs and writes data, but its protocol never gets healthy.
const BROKEN: &str = r#"
fn plugin_config() {
    #{ services: [ #{ name: "chain", run_sh: `echo v2 > /blockjoy/written-by-v2; while true; do sleep 1; done` } ] }
}
fn greet() { "v2" }
fn protocol_status() { #{state: "delinquent", health: "unhealthy"} }
"#;

struct Images(Vec<String>);
impl Drop for Images {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| remove_image(t));
    }
}

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bv\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

#[test]
fn broken_new_version_rolls_back_with_its_alert_and_is_held() {
    let repo = unique("bv-e2e-rollback-");
    let (v1, v2) = (format!("{repo}:1"), format!("{repo}:2"));
    let _images = Images(vec![v1.clone(), v2.clone()]);
    build_image(&v1, GOOD);
    build_image(&v2, BROKEN);

    let catalog = Catalog::new();
    let d = Daemon::start_with_config(
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\ninterval_secs = 1\n{}",
            catalog.config()
        ),
        "",
    );
    let name = unique("rb-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{v1}"),
        "--image-version",
        "1.0.0",
        "--protocol-key",
        "rbproto",
        "--variant-key",
        "rbvar",
        "--name",
        &name,
    ]);
    d.ok(&["node", "start", &name]);
    let node = d.node(&name);
    let data_dir = std::path::PathBuf::from(node["data_dir"].as_str().expect("data_dir"));
    wait_for(Duration::from_secs(30), "v1 healthy", || {
        d.ok(&["node", "status", &name]).trim() == "Running" && data_dir.join("running").exists()
    });

    let timeout_secs = 8;
    let started = Instant::now();
    let out = d.bv(&[
        "node",
        "upgrade",
        &name,
        "--image",
        &format!("docker-daemon://{v2}"),
        "--image-version",
        "2.0.0",
        "--health-timeout",
        &format!("{timeout_secs}s"),
    ]);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        err.contains("2.0.0 did not report a healthy protocol status within 8 s"),
        "{err}"
    );
    assert!(err.contains("delinquent"), "{err}");
    // Within the timeout, plus the stop/start of both versions.
    assert!(
        took >= Duration::from_secs(timeout_secs) && took < Duration::from_secs(90),
        "{took:?}"
    );

    // Back on the previous image and plugin, running; the data v2 wrote is still there.
    let node = d.node(&name);
    assert_eq!(node["image"]["version"], "1.0.0", "{node}\n{}", d.log());
    assert_eq!(node["status"], "Running", "{node}");
    assert_eq!(d.ok(&["node", "run", "greet", &name]).trim(), "v1");
    assert_eq!(
        std::fs::read_to_string(data_dir.join("written-by-v2"))
            .expect("v2's data kept")
            .trim(),
        "v2"
    );

    // The alert says why: in `bv node status` at once, and in the metrics.
    let status = d.ok(&["node", "status", &name]);
    assert!(
        status.contains("upgrade to 2.0.0 rolled back to 1.0.0")
            && status.contains("did not report a healthy protocol status"),
        "{status}"
    );
    let addr = d.json(&["status"])["metrics_addr"]
        .as_str()
        .expect("metrics_addr")
        .to_string();
    wait_for(Duration::from_secs(30), "rollback alert in metrics", || {
        scrape(&addr).lines().any(|l| {
            l.starts_with("bv_node_alert{")
                && l.contains(&name)
                && l.contains("kind=\"upgrade_rolled_back\"")
        })
    });

    // Automatic upgrades hold 2.0.0 for the host, not only for this node.
    catalog.offer("rbproto", "rbvar", "2.0.0", &v2);
    d.ok(&[
        "node",
        "update",
        &name,
        "--upgrade-policy",
        "auto",
        "--upgrade-delay",
        "0",
    ]);
    wait_for(Duration::from_secs(30), "2.0.0 held", || {
        d.node(&name)["auto_upgrade"]["state"]
            .as_str()
            .is_some_and(|s| s.contains("2.0.0 is held on this host"))
    });
    let holds = std::fs::read_to_string(d.root.join("auto_upgrade_holds.json")).expect("holds");
    assert!(
        holds.contains("\"rbproto\"") && holds.contains("\"2.0.0\""),
        "{holds}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.node(&name)["image"]["version"], "1.0.0");

    // `bv host holds` shows the hold and releases it; the release sticks (the node's rollback
    // note does not bring it back), and releasing what is not held is an error.
    d.ok(&["node", "update", &name, "--upgrade-policy", "manual"]);
    let listed = d.json(&["host", "holds"]);
    assert_eq!(listed[0]["protocol"], "rbproto", "{listed}");
    assert_eq!(listed[0]["version"], "2.0.0", "{listed}");
    assert!(
        listed[0]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{listed}"
    );
    let text = d.ok(&["host", "holds"]);
    assert!(text.contains("rbproto/rbvar 2.0.0"), "{text}");
    let out = d.ok(&["host", "holds", "release", "rbproto", "rbvar", "2.0.0"]);
    assert!(out.contains("Released rbproto/rbvar 2.0.0"), "{out}");
    assert_eq!(d.json(&["host", "holds"]), serde_json::json!([]));
    let again = d.bv(&["host", "holds", "release", "rbproto", "rbvar", "2.0.0"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not held"), "{err}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.json(&["host", "holds"]), serde_json::json!([]));
    let _ = d.bv(&["node", "delete", &name, "--yes"]);
}
