//! Node lifecycle against fakes: runtime, agent, rootfs.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::agent::fake::FakeConnector;
use super::state::{NodeImage, NodeState, Status, UpgradeState, sample};
use super::upgrade::UpgradeTarget;
use super::upgrade_health;
use super::{Node, NodeError, Services};
use crate::nodes::Registry;
use bv_host::config::Config;
use bv_host::container::ContainerRuntime;
use bv_host::container::fake::FakeRuntime;
use bv_host::rootfs::fake::FakeRootfs;

struct Fixture {
    _dir: tempfile::TempDir,
    svc: Arc<Services>,
    runtime: Arc<FakeRuntime>,
    agents: Arc<FakeConnector>,
}

fn fixture() -> Fixture {
    fixture_with_plugin("fn height() { 7 }\n")
}

fn fixture_with_plugin(plugin: &str) -> Fixture {
    fixture_with_plugins(plugin, &[])
}

/// `plugin` in every image, but `plugins` in the images they name.
fn fixture_with_plugins(plugin: &str, plugins: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        root: dir.path().join("root"),
        recovery_backoff_ms: 0,
        recovery_max_tries: 2,
        ..Default::default()
    };
    std::fs::create_dir_all(config.nodes_dir()).unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let agents = Arc::new(FakeConnector::default());
    let (scheduler, _rx) = bv_host::scheduler::Scheduler::new();
    let svc = Arc::new(Services {
        config,
        runtime: runtime.clone(),
        rootfs: Arc::new(FakeRootfs {
            plugin: plugin.into(),
            plugins: plugins
                .iter()
                .map(|(uri, src)| (uri.to_string(), src.to_string()))
                .collect(),
            ..Default::default()
        }),
        agents: agents.clone(),
        network: Arc::new(bv_host::net::HostOnly),
        babel_dir: dir.path().join("babel"),
        init_binary: dir.path().join("bv-init"),
        scheduler: Arc::new(scheduler),
        cloud: Default::default(),
    });
    Fixture {
        _dir: dir,
        svc,
        runtime,
        agents,
    }
}

fn state(uri: &str) -> NodeState {
    let mut s = sample(Uuid::new_v4(), "node-a");
    s.image.uri = uri.into();
    s
}

#[tokio::test]
async fn create_start_stop_delete() {
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    let id = node.container_id();
    assert!(node.paths.data().is_dir());
    assert_eq!(node.status().await, Status::Stopped);

    node.start().await.unwrap();
    assert_eq!(node.status().await, Status::Running);
    assert!(node.state.initialized && node.state.started_at.is_some());
    assert!(f.runtime.calls().contains(&format!("run {id}")));
    assert_eq!(f.agents.agent.calls.lock().unwrap()[0], "setup node-a");
    let saved = NodeState::load(&node.paths.dir).unwrap();
    assert_eq!(saved.expected_status, Status::Running);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.paths.dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["process"]["args"][0], "/usr/sbin/bv-init");
    assert_eq!(node.run_method("height", "").await.unwrap(), "7");
    assert!(matches!(
        node.run_method("nope", "").await,
        Err(NodeError::MethodNotFound(_))
    ));

    node.stop(false).await.unwrap();
    assert_eq!(node.status().await, Status::Stopped);
    assert!(
        f.agents
            .agent
            .calls
            .lock()
            .unwrap()
            .contains(&"shutdown false".to_string())
    );
    let calls = f.runtime.calls();
    assert!(calls.contains(&format!("kill {id} 15")));
    assert_eq!(calls.last().unwrap(), &format!("delete {id}"));

    node.start().await.unwrap();
    node.delete().await.unwrap();
    assert!(!node.paths.dir.exists());
    assert_eq!(
        f.runtime.state(&id).await.unwrap(),
        bv_host::container::ContainerState::Absent
    );
}

#[tokio::test]
async fn crashed_node_is_failed_then_recovered() {
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.start().await.unwrap();
    f.runtime.crash(&node.container_id());
    assert_eq!(node.status().await, Status::Failed);
    node.recover().await;
    assert_eq!(node.status().await, Status::Running);
}

#[tokio::test]
async fn recovery_waits_out_short_holds_and_skips_long_ones() {
    let f = fixture();
    let reg = Registry::load(f.svc.clone()).unwrap();
    let entry = reg.create(state("img:1")).await.unwrap();
    let id = {
        let mut node = entry.lock().await;
        node.start().await.unwrap();
        node.container_id()
    };
    f.runtime.crash(&id);

    // Held for longer than the pass waits: skipped, the node stays Failed.
    let held = entry.lock().await;
    reg.recover_all(Duration::from_millis(20)).await;
    drop(held);
    assert_eq!(entry.lock().await.status().await, Status::Failed);

    // Held again and again, briefly, with no gap a `try_lock` could find (this runtime
    // has one thread and the holder takes the lock again before it yields): the pass
    // queues for the lock and recovers the node.
    let busy = {
        let entry = entry.clone();
        tokio::spawn(async move {
            loop {
                let node = entry.lock().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(node);
            }
        })
    };
    tokio::task::yield_now().await;
    reg.recover_all(Duration::from_secs(5)).await;
    busy.abort();
    assert_eq!(entry.lock().await.status().await, Status::Running);
}

#[tokio::test]
async fn recovery_gives_up_after_max_tries() {
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    *f.runtime.fail_run.lock().unwrap() = Some("boom".into());
    assert!(node.start().await.is_err());
    // A failed start keeps the intent, so recovery retries.
    assert_eq!(node.state.expected_status, Status::Running);
    for _ in 0..2 {
        node.recover().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(node.state.expected_status, Status::Failed);
    assert_eq!(
        NodeState::load(&node.paths.dir).unwrap().expected_status,
        Status::Failed
    );
    // The reason names the error, also for the node as a restarted daemon loads it.
    let reason = node.failure_reason().await;
    assert!(reason.starts_with("recovery gave up: "), "{reason}");
    assert!(reason.contains("boom"), "{reason}");
    let reloaded = Node::new(f.svc.clone(), NodeState::load(&node.paths.dir).unwrap());
    assert_eq!(reloaded.failure_reason().await, reason);
}

#[tokio::test]
async fn node_dir_and_data_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    assert_eq!(mode(&node.paths.dir), 0o700);
    assert_eq!(mode(&node.paths.data()), 0o700);
    // A node dir left wider by an older version is tightened at start.
    std::fs::set_permissions(node.paths.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
    node.start().await.unwrap();
    assert_eq!(mode(&node.paths.data()), 0o700);
}

#[tokio::test]
async fn failed_init_is_the_reason_of_the_failed_node() {
    let f = fixture_with_plugin("fn init() { throw \"genesis file missing\" }\n");
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    assert!(node.start().await.is_err());
    assert_eq!(node.status().await, Status::Failed);
    let reason = node.failure_reason().await;
    assert!(
        reason.starts_with("plugin init has not completed: "),
        "{reason}"
    );
    assert!(reason.contains("genesis file missing"), "{reason}");
    assert!(!reason.contains("daemon log"), "{reason}");
}

#[tokio::test]
async fn failed_create_leaves_nothing() {
    let f = fixture();
    let err = Node::create(f.svc.clone(), state("img:missing"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eq!(
        std::fs::read_dir(f.svc.config.nodes_dir()).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn upgrade_applies_or_rolls_back() {
    // Its plugin loads and lints (the stub engine answers), but its `init` fails on the
    // node: the image is prepared fine and fails only after the switch.
    let unstartable = "fn init() { run_sh(\"exit 1\"); }\n";
    let f = fixture_with_plugins("fn height() { 7 }\n", &[("img:unstartable", unstartable)]);
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.start().await.unwrap();
    let (key, vm) = (node.state.image_key.clone(), node.state.vm_config.clone());
    let target = |uri: &str, version: &str| UpgradeTarget {
        image: NodeImage {
            uri: uri.into(),
            version: version.into(),
            ..Default::default()
        },
        image_key: key.clone(),
        vm_config: vm.clone(),
        health_timeout: None,
    };
    let good = target("img:2", "2.0.0");
    node.upgrade(good).await.unwrap();
    assert_eq!(node.state.image.version, "2.0.0");
    assert!(node.state.upgrade.is_none());
    assert_eq!(node.status().await, Status::Running);

    let bad = target("img:unstartable", "3.0.0");
    let err = node.upgrade(bad).await.unwrap_err();
    assert!(matches!(err, NodeError::UpgradeRolledBack(_)), "{err}");
    assert_eq!(node.state.image.version, "2.0.0");
    assert_eq!(node.status().await, Status::Running);
    assert!(NodeState::load(&node.paths.dir).unwrap().upgrade.is_none());
}

/// No `protocol_status`: nothing to judge, an upgrade to it passes its check at once. (The
/// fakes run no babel, so a `protocol_status` here never answers: the real answers are
/// covered end to end in `tests/tests/bv_upgrade_rollback.rs`.)
const NO_STATUS: &str = "fn height() { 7 }\n";
const NEVER_HEALTHY: &str =
    "fn protocol_status() { #{state: \"delinquent\", health: \"unhealthy\"} }\n";
fn upgrade_target(node: &Node, uri: &str, version: &str, timeout: Option<u64>) -> UpgradeTarget {
    UpgradeTarget {
        image: NodeImage {
            uri: uri.into(),
            version: version.into(),
            ..Default::default()
        },
        image_key: node.state.image_key.clone(),
        vm_config: node.state.vm_config.clone(),
        health_timeout: timeout.map(Duration::from_secs),
    }
}

#[tokio::test]
async fn unhealthy_new_version_rolls_back_keeping_its_data_with_a_note() {
    let f = fixture_with_plugins(NO_STATUS, &[("img:broken", NEVER_HEALTHY)]);
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.state.image.version = "1.0.0".into();
    node.start().await.unwrap();
    // A healthy new version passes its check and clears nothing it should not.
    node.upgrade(upgrade_target(&node, "img:2", "2.0.0", Some(5)))
        .await
        .unwrap();
    assert_eq!(node.state.image.version, "2.0.0");
    assert!(upgrade_health::rollback_note(&node.paths.dir).is_none());

    std::fs::write(node.paths.data().join("written-by-3"), b"x").unwrap();
    let started = std::time::Instant::now();
    let err = node
        .upgrade(upgrade_target(&node, "img:broken", "3.0.0", Some(1)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30));
    let NodeError::UpgradeRolledBackUnhealthy {
        version,
        timeout_secs,
        reason: why,
    } = &err
    else {
        panic!("expected a health rollback, got {err}");
    };
    assert_eq!((version.as_str(), *timeout_secs), ("3.0.0", 1));
    assert!(why.contains("3.0.0") && why.contains("within 1 s"), "{why}");
    assert_eq!(node.state.image.version, "2.0.0");
    assert_eq!(node.status().await, Status::Running);
    let mounted = std::fs::read_to_string(node.paths.rootfs().join("image")).unwrap();
    assert_eq!(mounted, "img:2");
    assert!(node.paths.data().join("written-by-3").exists());
    let note = upgrade_health::rollback_note(&node.paths.dir).unwrap();
    assert_eq!(
        (note.from_version.as_str(), note.to_version.as_str()),
        ("3.0.0", "2.0.0")
    );
    assert!(!note.data_discarded);
    let alert = upgrade_health::rollback_alert(&node.paths.dir).unwrap();
    assert!(
        alert
            .message
            .contains("did not report a healthy protocol status"),
        "{}",
        alert.message
    );

    // The next good upgrade clears the alert.
    node.upgrade(upgrade_target(&node, "img:4", "4.0.0", Some(5)))
        .await
        .unwrap();
    assert!(upgrade_health::rollback_alert(&node.paths.dir).is_none());
}

#[tokio::test]
async fn declared_incompatible_data_is_discarded_on_rollback() {
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.start().await.unwrap();
    let before = node.state.image.clone();
    std::fs::create_dir_all(node.paths.data().join("db")).unwrap();
    std::fs::write(node.paths.data().join("db/blocks"), b"x").unwrap();
    // Where an upgrade to a one-way-migrating version stands when its health check fails
    // (or a crash cut it): the flag was recorded from the new plugin's declaration.
    node.state.upgrade = Some(UpgradeState {
        previous_image: before.clone(),
        previous_image_key: node.state.image_key.clone(),
        previous_vm_config: node.state.vm_config.clone(),
        previous_initialized: true,
        was_running: true,
        discard_data_on_rollback: true,
    });
    node.state.image.uri = "img:oneway".into();
    node.save().unwrap();
    node.rollback().await.unwrap();
    assert_eq!(std::fs::read_dir(node.paths.data()).unwrap().count(), 0);
    assert_eq!(node.state.image, before);
    assert_eq!(node.status().await, Status::Running);
    assert!(NodeState::load(&node.paths.dir).unwrap().upgrade.is_none());
}

#[tokio::test]
async fn registry_names_ips_and_lookup() {
    let f = fixture();
    let reg = Registry::load(f.svc.clone()).unwrap();
    let a = reg.create(state("img:1")).await.unwrap();
    assert_eq!(reg.get("node-a").unwrap().id, a.id);
    assert_eq!(reg.get(&a.id.to_string()).unwrap().id, a.id);
    let dup = reg.create(state("img:1")).await.unwrap_err();
    assert!(dup.to_string().contains("already exists"));

    let mut bridged = state("img:1");
    bridged.name = String::new();
    bridged.host_network = false;
    bridged.ip = String::new();
    bridged.gateway = String::new();
    let b = reg.create(bridged.clone()).await.unwrap();
    let b_state = b.cached();
    assert!(!b_state.name.is_empty());
    assert_eq!(b_state.ip, "10.77.0.10");
    assert_eq!(b_state.gateway, "10.77.0.1");
    bridged.id = Uuid::new_v4();
    bridged.ip = "10.77.0.10".into();
    let clash = reg.create(bridged).await.unwrap_err();
    assert!(clash.to_string().contains("already used"), "{clash}");

    reg.delete(&a).await.unwrap();
    assert!(reg.get("node-a").is_err());
    // Reload from disk sees the remaining node.
    let again = Registry::load(f.svc.clone()).unwrap();
    assert_eq!(again.list().len(), 1);
}

#[tokio::test]
async fn torn_state_falls_back_to_the_previous_copy() {
    let f = fixture();
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.start().await.unwrap();
    let dir = node.paths.dir.clone();
    let text = std::fs::read(dir.join(super::state::STATE_FILE)).unwrap();
    std::fs::write(dir.join(super::state::STATE_FILE), &text[..text.len() / 2]).unwrap();
    let reg = Registry::load(f.svc.clone()).unwrap();
    let entry = reg.get("node-a").unwrap();
    let back = entry.lock().await;
    assert!(back.broken.is_none());
    // The copy before the last write: started, but not yet marked running.
    assert_eq!(back.state.id, node.state.id);
    assert_eq!(back.state.expected_status, Status::Running);
}

#[tokio::test]
async fn unreadable_state_is_broken_keeps_name_and_ip_and_can_be_deleted() {
    let f = fixture();
    let mut s = state("img:1");
    s.host_network = false;
    s.ip = "10.77.0.10".into();
    let reg = Registry::load(f.svc.clone()).unwrap();
    let entry = reg.create(s).await.unwrap();
    entry.lock().await.start().await.unwrap();
    let (id, dir) = {
        let n = entry.lock().await;
        (n.container_id(), n.paths.dir.clone())
    };
    for file in [super::state::STATE_FILE, super::state::PREV_STATE_FILE] {
        let text = std::fs::read(dir.join(file)).unwrap();
        std::fs::write(dir.join(file), &text[..text.len() / 3]).unwrap();
    }
    let reg = Registry::load(f.svc.clone()).unwrap();
    let entry = reg.get("node-a").unwrap();
    {
        let mut node = entry.lock().await;
        assert_eq!(node.status().await, Status::Broken);
        assert!(node.failure_reason().await.contains("state.json"));
        assert_eq!(node.state.ip, "10.77.0.10");
        assert!(matches!(node.start().await, Err(NodeError::Broken(_))));
    }
    // Its container keeps running, and nobody else gets its name or IP.
    assert!(f.runtime.state(&id).await.unwrap().is_running());
    let mut same_name = state("img:1");
    same_name.host_network = false;
    assert!(reg.create(same_name).await.is_err());
    let mut same_ip = state("img:1");
    same_ip.name = "other".into();
    same_ip.host_network = false;
    same_ip.ip = "10.77.0.10".into();
    assert!(reg.create(same_ip).await.is_err());

    reg.delete(&entry).await.unwrap();
    assert!(!dir.exists());
    assert!(!f.runtime.state(&id).await.unwrap().is_running());
    assert!(reg.get("node-a").is_err());
}

#[tokio::test]
async fn metrics_list_jobs_over_the_agent_connection_of_the_started_node() {
    let f = fixture();
    f.agents
        .agent
        .jobs
        .lock()
        .unwrap()
        .push(babel_api::pb::babel::v1::JobEntry {
            name: "sync".into(),
            ..Default::default()
        });
    let mut node = Node::create(f.svc.clone(), state("img:1")).await.unwrap();
    node.start().await.unwrap();
    assert_eq!(*f.agents.connects.lock().unwrap(), 1);
    for _ in 0..3 {
        let m = node.metrics().await.unwrap();
        assert_eq!(m.height, Some(7));
        assert_eq!(m.jobs.len(), 1);
        assert_eq!(m.jobs[0].name, "sync");
    }
    // Three health passes: three job lists, no new connection.
    assert_eq!(*f.agents.connects.lock().unwrap(), 1);
    assert_eq!(*f.agents.agent.jobs_asked.lock().unwrap(), 3);

    // Stopping drops the connection; the next start opens one again.
    node.stop(false).await.unwrap();
    assert!(node.agent.is_none());
    node.start().await.unwrap();
    node.metrics().await.unwrap();
    assert_eq!(*f.agents.connects.lock().unwrap(), 2);
    assert_eq!(*f.agents.agent.jobs_asked.lock().unwrap(), 4);
}
