//! Crash safety end to end, with real runc and dockerd: kill -9 of blockvisord at racing
//! moments of `bv node create` and `bv node delete`, a corrupt `state.json`, and a second
//! daemon on the same root.

mod bv_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bv_support::{Daemon, OutputExt, bin, build_image, mounts_under, remove_image, unique};

const PLUGIN: &str = r#"
fn plugin_config() {
    #{
        services: [ #{ name: "idle", run_sh: `while true; do sleep 1; done` } ],
    }
}
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

fn ids_of(d: &Daemon) -> Vec<String> {
    d.json(&["node", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing under the root belongs to no listed node, and no operation is pending.
fn assert_clean(d: &Daemon, when: &str) {
    let ids = ids_of(d);
    let log = || d.log();
    for dir in dir_names(&d.root.join("nodes")) {
        assert!(ids.contains(&dir), "{when}: node dir {dir} left\n{}", log());
    }
    for m in mounts_under(&d.root.join("nodes")) {
        assert!(
            ids.iter().any(|id| m.contains(id.as_str())),
            "{when}: mount {m} left\n{}",
            log()
        );
    }
    for c in d.runc_list().lines().filter(|l| !l.is_empty()) {
        assert!(ids.iter().any(|id| id == c), "{when}: container {c} left");
    }
    assert!(
        dir_names(&d.root.join("journal")).is_empty(),
        "{when}: journal not empty"
    );
    assert!(
        dir_names(&d.root.join("images/tmp")).is_empty(),
        "{when}: image temp left"
    );
}

#[test]
fn kill_9_during_create_and_delete_loses_and_leaks_nothing() {
    let tag = format!("{}:1", unique("bv-crash-"));
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    let uri = format!("docker-daemon://{tag}");
    let mut d = Daemon::start();
    d.ok(&["node", "create", "--image", &uri, "--name", "keep"]);
    d.ok(&["node", "start", "keep"]);

    // Racing kill -9 at growing delays: each create either happened or left no trace.
    let mut kills = 0;
    for (i, delay) in [0u64, 20, 60, 120, 250, 500].into_iter().enumerate() {
        let name = format!("c{i}");
        let mut create = Command::new(bin("bv"))
            .arg("--socket")
            .arg(&d.socket)
            .args(["node", "create", "--image", &uri, "--name", &name])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        d.kill9();
        kills += 1;
        let _ = create.wait();
        d.spawn();
        assert_clean(&d, &format!("create killed after {delay} ms"));
        let keep = d.node("keep");
        assert_eq!(keep["status"], "Running", "{keep}\n{}", d.log());
        let sweep = d.json(&["host", "info"]);
        assert!(sweep["last_sweep"]["at"].is_string(), "{sweep}");
    }
    // And each delete either did not start or is complete.
    let created: Vec<String> = d
        .json(&["node", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .filter(|n| n != "keep")
        .collect();
    for (name, delay) in created.iter().zip([0u64, 30, 100, 300, 600, 900]) {
        d.ok(&["node", "start", name]);
        let mut delete = Command::new(bin("bv"))
            .arg("--socket")
            .arg(&d.socket)
            .args(["node", "delete", name, "--yes"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        d.kill9();
        kills += 1;
        let _ = delete.wait();
        d.spawn();
        assert_clean(&d, &format!("delete killed after {delay} ms"));
    }
    assert!(kills >= 6, "{kills}");
    assert_eq!(d.node("keep")["status"], "Running");
}

#[test]
fn corrupt_state_falls_back_or_is_broken_and_deletable() {
    let tag = format!("{}:1", unique("bv-corrupt-"));
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    let uri = format!("docker-daemon://{tag}");
    let mut d = Daemon::start();
    d.ok(&["node", "create", "--image", &uri, "--name", "victim"]);
    d.ok(&["node", "start", "victim"]);
    let node = d.node("victim");
    let dir = std::path::PathBuf::from(node["node_dir"].as_str().unwrap());
    let containers = d.runc_list();
    let truncate = |file: &str| {
        let path = dir.join(file);
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 3]).unwrap();
    };

    // A torn state.json: the previous copy is used, the node runs on.
    d.kill9();
    truncate("state.json");
    d.spawn();
    let node = d.node("victim");
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert!(d.log().contains("using the previous copy"));

    // Both copies unusable: Broken with the parse error; name, IP and container kept.
    d.ok(&["node", "stop", "victim"]);
    d.ok(&["node", "start", "victim"]);
    let containers_now = d.runc_list();
    d.kill9();
    truncate("state.json");
    truncate("state.json.prev");
    d.spawn();
    let node = d.node("victim");
    assert_eq!(node["status"], "Broken", "{node}\n{}", d.log());
    assert!(
        node["status_reason"].as_str().unwrap().contains("state.json"),
        "{node}"
    );
    assert_eq!(d.runc_list(), containers_now, "container must keep running");
    assert!(!containers.trim().is_empty());
    let again = d.bv(&["node", "create", "--image", &uri, "--name", "victim"]);
    assert!(!again.status.success(), "{}", again.stdout_str());
    d.ok(&["node", "delete", "victim", "--yes"]);
    assert!(d.runc_list().trim().is_empty());
    assert!(!dir.exists());
    assert_clean(&d, "after deleting the Broken node");
}

#[test]
fn one_daemon_per_root_and_bv_stop_waits_for_exit() {
    let mut d = Daemon::start();
    let pid = d.pid().unwrap();
    let second = Command::new(bin("blockvisord"))
        .arg("--root")
        .arg(&d.root)
        .arg("--socket")
        .arg(d.dir.path().join("other.sock"))
        .arg("--config")
        .arg(&d.config)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&format!("pid {pid}")), "{err}");

    d.ok(&["stop"]);
    // bv stop returned: the process is gone (or a zombie its parent, this test, reaps).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3));
    assert!(stat.is_empty() || state == Some("Z"), "{stat}");
    d.kill9();
    d.spawn();
    assert!(d.ok(&["status"]).starts_with("Service running"));
}
