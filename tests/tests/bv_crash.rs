//! Crash safety end to end, with real runc and dockerd: kill -9 of blockvisord at racing
//! moments of `bv node create` and `bv node delete`, a corrupt `state.json`, an init that
//! must run again after a crash, and a second daemon on the same root.

mod bv_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use bv_support::{
    Daemon, OutputExt, bin, build_image, mounts_under, remove_image, unique, wait_for,
};

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

/// A daemon with one node, `name`, started from an image of `plugin`; the node's listing.
fn daemon_with_running_node(prefix: &str, plugin: &str, name: &str) -> (Image, Daemon, Value) {
    let tag = format!("{}:1", unique(prefix));
    let image = Image(tag.clone());
    build_image(&tag, plugin);
    let d = Daemon::start();
    let uri = format!("docker-daemon://{tag}");
    d.ok(&["node", "create", "--image", &uri, "--name", name]);
    d.ok(&["node", "start", name]);
    let node = d.node(name);
    (image, d, node)
}

/// The node state in `state_file`, as if the daemon had died before it saved that init
/// finished.
fn before_init_finished(state_file: &Path) -> String {
    let state = std::fs::read_to_string(state_file).expect("state.json");
    assert!(state.contains("\"initialized\": true"), "{state}");
    state.replace("\"initialized\": true", "\"initialized\": false")
}

fn ids_of(d: &Daemon) -> Vec<String> {
    d.json(&["node", "list"])
        .as_array()
        .expect("node list is an array")
        .iter()
        .filter_map(|n| n["id"].as_str().map(String::from))
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
    let journal = dir_names(&d.root.join("journal"));
    assert!(
        journal.is_empty(),
        "{when}: journal not empty: {journal:?}\n{}",
        log()
    );
    assert!(
        dir_names(&d.root.join("images/tmp")).is_empty(),
        "{when}: image temp left"
    );
}

/// Starts `bv args`, kills the daemon with kill -9 `extra` ms after the operation recorded
/// its intent (or when the command ends first), restarts it. `true` when the kill came while
/// the operation was in flight.
/// Returns whether the operation was in flight when the kill came, and how many journal
/// entries (half-done operations) the killed daemon left for the restart to finish.
fn race(d: &mut Daemon, args: &[&str], extra: u64) -> (bool, usize) {
    let journal = d.root.join("journal");
    let mut cmd = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn bv");
    let started = std::time::Instant::now();
    let mut in_flight = false;
    while started.elapsed() < Duration::from_secs(60) {
        if !dir_names(&journal).is_empty() {
            in_flight = true;
            break;
        }
        if cmd.try_wait().expect("bv status").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_millis(extra));
    d.kill9();
    let _ = cmd.wait();
    // Entries only: a temp file of a write the kill cut short is swept as a leftover.
    let journaled = dir_names(&journal)
        .iter()
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .count();
    d.spawn();
    (in_flight, journaled)
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
    let delays = [0u64, 1, 3, 10, 30, 100];

    // Each create either happened or left no trace.
    let (mut kills, mut interrupted) = (0, 0);
    for (i, extra) in delays.into_iter().enumerate() {
        let name = format!("c{i}");
        let (in_flight, journaled) = race(
            &mut d,
            &["node", "create", "--image", &uri, "--name", &name],
            extra,
        );
        kills += usize::from(in_flight);
        interrupted += journaled;
        assert_clean(&d, &format!("create killed {extra} ms in"));
        let keep = d.node("keep");
        assert_eq!(keep["status"], "Running", "{keep}\n{}", d.log());
        let info = d.json(&["host", "info"]);
        let sweep = &info["last_sweep"];
        assert!(sweep["at"].is_string(), "{info}");
        let recovered = sweep["operations"].as_array().map_or(0, |a| a.len());
        assert_eq!(recovered, journaled, "create killed {extra} ms in: {info}");
        // The name is either taken by a complete node or free again.
        if d.node(&name).is_null() {
            d.ok(&["node", "create", "--image", &uri, "--name", &name]);
        }
    }
    // Each delete either did not start or is complete, whatever it had done.
    for (i, extra) in delays.into_iter().enumerate() {
        let name = format!("c{i}");
        d.ok(&["node", "start", &name]);
        let (in_flight, journaled) = race(&mut d, &["node", "delete", &name, "--yes"], extra);
        kills += usize::from(in_flight);
        interrupted += journaled;
        assert_clean(&d, &format!("delete killed {extra} ms in"));
        let info = d.json(&["host", "info"]);
        let recovered = info["last_sweep"]["operations"]
            .as_array()
            .map_or(0, |a| a.len());
        assert_eq!(recovered, journaled, "delete killed {extra} ms in: {info}");
        let left = d.node(&name);
        assert!(left.is_null() || left["status"] == "Running", "{left}");
    }
    assert_eq!(
        kills, 12,
        "every kill came while an operation was in flight"
    );
    // Every operation the kill left half-done was finished or rolled back (checked per kill
    // above); how many were half-done depends on timing, but the kills that come at once
    // (0 ms, for a create and for a delete) always find one.
    assert!(
        interrupted >= 2,
        "only {interrupted} kills interrupted a journaled operation"
    );
    assert_eq!(d.node("keep")["status"], "Running");
}

#[test]
fn corrupt_state_falls_back_or_is_broken_and_deletable() {
    let (image, mut d, node) = daemon_with_running_node("bv-corrupt-", PLUGIN, "victim");
    let uri = format!("docker-daemon://{}", image.0);
    let dir = std::path::PathBuf::from(node["node_dir"].as_str().unwrap());
    let containers = d.runc_list();
    let truncate = |file: &str| {
        let path = dir.join(file);
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 3]).unwrap();
    };

    // A torn state.json: the previous copy is used, the node runs on. The previous copy
    // may predate the end of init (it does when the daemon died right after starting the
    // node): init runs again on re-attach, and the node is Running without a recovery pass.
    d.kill9();
    let before_init = before_init_finished(&dir.join("state.json"));
    std::fs::write(dir.join("state.json.prev"), before_init).unwrap();
    truncate("state.json");
    let logged = d.log().len();
    d.spawn();
    wait_for(Duration::from_secs(20), "victim Running again", || {
        d.node("victim")["status"] == "Running"
    });
    let node = d.node("victim");
    let log = d.log().split_off(logged);
    assert_eq!(node["initialized"], true, "{node}");
    assert!(log.contains("using the previous copy"), "{log}");
    assert!(log.contains("init is not recorded as done"), "{log}");
    assert_eq!(log.matches("plugin init done").count(), 1, "{log}");
    assert!(!log.contains("recovery: starting"), "{log}");

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
        node["status_reason"]
            .as_str()
            .unwrap()
            .contains("state.json"),
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

/// `init` hangs while `/blockjoy/hang-init` exists: the data dir is shared with the host, so
/// the test decides when.
const HANG_ON_FLAG: &str = r#"
fn init() {
    if run_sh(`test -e /blockjoy/hang-init`).exit_code == 0 { loop { } }
}
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

#[test]
fn init_run_again_after_a_crash_does_not_hold_up_the_daemon() {
    let (_image, mut d, node) = daemon_with_running_node("bv-reinit-", HANG_ON_FLAG, "slow");
    let state_file = Path::new(node["node_dir"].as_str().unwrap()).join("state.json");
    let hang_flag = Path::new(node["data_dir"].as_str().unwrap()).join("hang-init");

    // The daemon dies between init and saving that init finished; the init it runs again
    // hangs.
    d.kill9();
    std::fs::write(&state_file, before_init_finished(&state_file)).unwrap();
    std::fs::write(&hang_flag, "").unwrap();
    let logged = d.log().len();
    d.spawn();
    d.wait_for(
        Duration::from_secs(20),
        "init running again",
        "slow",
        || d.log()[logged..].contains("init is not recorded as done"),
    );
    // The daemon served before it ran init again, and answers while init hangs.
    let log = d.log().split_off(logged);
    let listening = log.find("blockvisord listening").expect("listening");
    let reinit = log
        .find("init is not recorded as done")
        .expect("init again");
    assert!(listening < reinit, "{log}");
    let node = d.node("slow");
    assert_ne!(node["status"], "Running", "{node}");

    // Stop cancels the hung init; with the flag gone, a start runs init and the node runs.
    d.ok(&["node", "stop", "slow"]);
    assert_eq!(d.node("slow")["status"], "Stopped");
    std::fs::remove_file(&hang_flag).unwrap();
    d.ok(&["node", "start", "slow"]);
    let node = d.node("slow");
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["initialized"], true, "{node}");
    d.ok(&["node", "delete", "slow", "--yes"]);
    assert_clean(&d, "after deleting the re-initialized node");
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
