//! blockvisord end to end with real runc and dockerd: a node from an image built here
//! (FROM scratch + busybox + plugin), plugin init and jobs, plugin methods, daemon restart
//! with the node still running, upgrade and rollback, delete leaving nothing behind.

mod bv_support;

use std::time::Duration;

use bv_support::{Daemon, OutputExt, build_image, mounts_under, remove_image, unique, wait_for};

const PLUGIN_V1: &str = r#"
fn plugin_config() {
    #{
        init: #{ commands: [`echo init-v1 >> /blockjoy/init.log`], jobs: [] },
        services: [
            #{ name: "ticker", run_sh: `while true; do date +%s > /blockjoy/tick; echo tick; sleep 1; done` },
        ],
        scheduled: [
            #{ name: "stamp", schedule: "* * * * * * *", function: "stamp", param: "s" },
        ],
    }
}
fn stamp(param) { run_sh(`echo ${param} >> /blockjoy/stamp.txt`).unwrap(); "" }
fn greet(param) { `hello ${param} from v1` }
fn write_data(param) { run_sh(`echo ${param} > /blockjoy/data.txt`).unwrap(); "written" }
fn read_data() { let s = run_sh(`cat /blockjoy/data.txt`).unwrap(); s.trim(); s }
fn height() { 42 }
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

fn plugin_v2() -> String {
    PLUGIN_V1
        .replace("from v1", "from v2")
        .replace("init-v1", "init-v2")
}

const PLUGIN_BROKEN: &str = "fn plugin_config() { this is not rhai ";

/// Loads and lints (the linter's engine runs nothing), but its init fails on the node.
fn plugin_unstartable() -> String {
    plugin_v2().replace("echo init-v2 >> /blockjoy/init.log", "exit 7")
}

struct Images(Vec<String>);
impl Drop for Images {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| remove_image(t));
    }
}

#[test]
fn node_lifecycle_with_runc() {
    let repo = unique("bv-e2e-");
    let (v1, v2, broken, unstartable) = (
        format!("{repo}:1"),
        format!("{repo}:2"),
        format!("{repo}:broken"),
        format!("{repo}:unstartable"),
    );
    let _images = Images(vec![
        v1.clone(),
        v2.clone(),
        broken.clone(),
        unstartable.clone(),
    ]);
    build_image(&v1, PLUGIN_V1);
    build_image(&v2, &plugin_v2());
    build_image(&broken, PLUGIN_BROKEN);
    build_image(&unstartable, &plugin_unstartable());

    let mut d = Daemon::start();
    let name = unique("n-");
    let uri1 = format!("docker-daemon://{v1}");
    d.ok(&[
        "node",
        "create",
        "--image",
        &uri1,
        "--name",
        &name,
        "--image-version",
        "1.0.0",
        "--ramdisk",
        "/mnt/ram:16",
        "--memory-mb",
        "256",
    ]);
    assert_eq!(d.node(&name)["status"], "Stopped");

    // Start: container up, babel answering, plugin init ran, service job running.
    d.ok(&["node", "start", &name]);
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}");
    let data_dir = std::path::PathBuf::from(node["data_dir"].as_str().unwrap());
    let node_dir = std::path::PathBuf::from(node["node_dir"].as_str().unwrap());
    assert!(node_dir.join("run/babel.socket").exists());
    assert!(node_dir.join("run/engine.socket").exists());
    assert_eq!(
        std::fs::read_to_string(data_dir.join("init.log")).unwrap(),
        "init-v1\n"
    );
    wait_for(Duration::from_secs(20), "ticker job runs", || {
        d.ok(&["node", "job", &name, "list"]).contains("Running")
    });
    wait_for(
        Duration::from_secs(20),
        "ticker writes to /blockjoy",
        || data_dir.join("tick").exists(),
    );
    let stamps = || {
        std::fs::read_to_string(data_dir.join("stamp.txt"))
            .map(|s| s.len())
            .unwrap_or(0)
    };
    wait_for(Duration::from_secs(20), "scheduled task runs", || {
        stamps() > 0
    });

    // Plugin methods, capabilities, metrics, RAM disk as tmpfs.
    assert_eq!(
        d.ok(&["node", "run", "greet", &name, "--param", "bob"])
            .trim(),
        "hello bob from v1"
    );
    let caps = d.ok(&["node", "capabilities", &name]);
    assert!(caps.contains("greet") && caps.contains("init"), "{caps}");
    let missing = d.bv(&["node", "run", "nope", &name]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("Method not found") && stderr.contains("greet"),
        "{stderr}"
    );
    // A missing node is reported as such, with no method list.
    let no_node = d.bv(&["node", "run", "no-such-node", "greet"]);
    assert!(!no_node.status.success());
    let stderr = String::from_utf8_lossy(&no_node.stderr);
    assert!(
        stderr.contains("node `no-such-node` not found") && !stderr.contains("Method not found"),
        "{stderr}"
    );
    let info = d.json(&["node", "info", &name]);
    assert_eq!(info["metrics"]["height"], 42, "{info}");
    assert_eq!(info["metrics"]["protocol_status"]["state"], "broadcasting");
    let df = d.ok(&["node", "shell", &name, "--", "df", "/mnt/ram"]);
    assert!(df.contains("tmpfs") || df.contains("/mnt/ram"), "{df}");
    d.ok(&["node", "run", "write_data", &name, "--param", "keep-me"]);

    // Daemon restart: the container keeps running and the node is re-attached.
    let container = d.runc_list();
    d.stop();
    assert_eq!(
        d.runc_list(),
        container,
        "container must survive the daemon"
    );
    d.spawn();
    assert_eq!(d.node(&name)["status"], "Running", "{}", d.log());
    assert_eq!(d.ok(&["node", "run", "read_data", &name]).trim(), "keep-me");
    let before = stamps();
    wait_for(Duration::from_secs(20), "scheduled task restored", || {
        stamps() > before
    });

    // Upgrade: new image, data kept, init ran again.
    let uri2 = format!("docker-daemon://{v2}");
    d.ok(&[
        "node",
        "upgrade",
        &name,
        "--image",
        &uri2,
        "--image-version",
        "2.0.0",
    ]);
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["image"]["version"], "2.0.0");
    assert_eq!(
        d.ok(&["node", "run", "greet", &name, "--param", "x"])
            .trim(),
        "hello x from v2"
    );
    assert_eq!(d.ok(&["node", "run", "read_data", &name]).trim(), "keep-me");
    assert_eq!(
        std::fs::read_to_string(data_dir.join("init.log")).unwrap(),
        "init-v1\ninit-v2\n"
    );

    // A plugin that does not load is found while preparing: the node is not even stopped.
    let started_at = d.node(&name)["started_at"].clone();
    let uri3 = format!("docker-daemon://{broken}");
    let out = d.bv(&[
        "node",
        "upgrade",
        &name,
        "--image",
        &uri3,
        "--image-version",
        "3.0.0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not prepared"), "{err}");
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["image"]["version"], "2.0.0");
    assert_eq!(node["started_at"], started_at, "the node was restarted");

    // An image that fails to start: rolled back to v2, still running.
    let uri3 = format!("docker-daemon://{unstartable}");
    let out = d.bv(&[
        "node",
        "upgrade",
        &name,
        "--image",
        &uri3,
        "--image-version",
        "3.0.0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled back"), "{err}");
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["image"]["version"], "2.0.0");
    assert_eq!(
        d.ok(&["node", "run", "greet", &name, "--param", "y"])
            .trim(),
        "hello y from v2"
    );

    // Stop is graceful, then delete leaves nothing behind.
    d.ok(&["node", "stop", &name]);
    assert_eq!(d.node(&name)["status"], "Stopped");
    assert!(d.runc_list().trim().is_empty());
    d.ok(&["node", "delete", &name, "--yes"]);
    assert!(d.json(&["node", "list"]).as_array().unwrap().is_empty());
    let nodes_dir = d.root.join("nodes");
    assert_eq!(std::fs::read_dir(&nodes_dir).unwrap().count(), 0);
    assert!(mounts_under(&d.root.join("nodes")).is_empty());
    assert!(d.runc_list().trim().is_empty());
    let _ = d.bv(&["stop"]).stdout_str();
}

fn init_pid(d: &Daemon, id: &str) -> Option<u64> {
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(d.root.join("runc"))
        .args(["state", id])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    (v["status"] == "running")
        .then(|| v["pid"].as_u64())
        .flatten()
}

#[test]
fn recovery_restarts_a_crashed_node() {
    let tag = format!("{}:1", unique("bv-e2e-rec-"));
    let _images = Images(vec![tag.clone()]);
    build_image(&tag, PLUGIN_V1);
    let d = Daemon::start();
    let name = unique("r-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{tag}"),
        "--name",
        &name,
    ]);
    d.ok(&["node", "start", &name]);
    let id = d.node(&name)["id"].as_str().unwrap().to_string();
    let first = init_pid(&d, &id).expect("container running");
    // Kill the container behind the daemon's back.
    let status = std::process::Command::new("runc")
        .arg("--root")
        .arg(d.root.join("runc"))
        .args(["kill", &id, "KILL"])
        .status()
        .unwrap();
    assert!(status.success());
    let start = std::time::Instant::now();
    loop {
        let pid = init_pid(&d, &id);
        if pid.is_some() && pid != Some(first) && d.node(&name)["status"] == "Running" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node not recovered: {}\n{}",
            d.node(&name),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
