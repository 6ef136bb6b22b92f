//! What happens before an upgrade stops a node, against fakes: upgrade-blocking jobs refuse,
//! delay or (forced) give way to it, the plugin's `upgrade_window()` delays it within a
//! bound, and a new image whose plugin fails to load or lint leaves the node untouched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::agent::fake::FakeConnector;
use super::state::{NodeImage, Status, sample};
use super::upgrade::UpgradeTarget;
use super::upgrade_errors::{GateError, PrepareError};
use super::upgrade_gate::{OnBlocking, UpgradeGate};
use super::{Node, NodeError, Services};
use bv_host::config::Config;
use bv_host::container::ContainerRuntime;
use bv_host::container::fake::FakeRuntime;
use bv_host::rootfs::RootfsProvider;
use bv_host::rootfs::fake::FakeRootfs;

struct Fixture {
    _dir: tempfile::TempDir,
    svc: Arc<Services>,
    runtime: Arc<FakeRuntime>,
    rootfs: Arc<FakeRootfs>,
    agents: Arc<FakeConnector>,
}

const PLUGIN: &str = "fn height() { 7 }\n";

fn fixture(plugins: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        root: dir.path().join("root"),
        ..Default::default()
    };
    std::fs::create_dir_all(config.nodes_dir()).unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let agents = Arc::new(FakeConnector::default());
    let rootfs = Arc::new(FakeRootfs {
        plugin: PLUGIN.into(),
        plugins: plugins
            .iter()
            .map(|(uri, src)| (uri.to_string(), src.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    });
    let (scheduler, _rx) = bv_host::scheduler::Scheduler::new();
    let svc = Arc::new(Services {
        config,
        runtime: runtime.clone(),
        rootfs: rootfs.clone(),
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
        rootfs,
        agents,
    }
}

async fn running_node(f: &Fixture) -> Node {
    let mut s = sample(Uuid::new_v4(), "node-a");
    s.image.uri = "img:1".into();
    s.image.version = "1.0.0".into();
    let mut node = Node::create(f.svc.clone(), s).await.unwrap();
    node.start().await.unwrap();
    node
}

fn target(node: &Node, uri: &str) -> UpgradeTarget {
    UpgradeTarget {
        image: NodeImage {
            uri: uri.into(),
            version: "2.0.0".into(),
            ..Default::default()
        },
        image_key: node.state.image_key.clone(),
        vm_config: node.state.vm_config.clone(),
        health_timeout: None,
    }
}

fn gate(on_blocking: OnBlocking, max_wait_ms: u64) -> UpgradeGate {
    UpgradeGate {
        on_blocking,
        max_wait: Duration::from_millis(max_wait_ms),
        poll: Duration::from_millis(10),
    }
}

fn set_blocking(f: &Fixture, jobs: &[&str]) {
    *f.agents.agent.blocking.lock().unwrap() = jobs.iter().map(|j| j.to_string()).collect();
}

fn shutdowns(f: &Fixture) -> usize {
    let calls = f.agents.agent.calls.lock().unwrap();
    calls.iter().filter(|c| c.starts_with("shutdown")).count()
}

/// Still running the old image in the same container, never stopped.
async fn assert_untouched(f: &Fixture, node: &Node, shutdowns_before: usize) {
    assert_eq!(node.state.image.uri, "img:1");
    assert!(node.state.upgrade.is_none());
    assert_eq!(node.status().await, Status::Running);
    assert_eq!(shutdowns(f), shutdowns_before, "the node was stopped");
    assert_eq!(f.runtime.list().await.unwrap(), vec![node.container_id()]);
    assert!(!node.paths.upgrade_stage().exists(), "staging dir left");
    assert!(
        f.rootfs
            .mounts_under(&node.paths.upgrade_stage())
            .is_empty()
    );
    assert!(node.upgrade_wait.get().is_none());
}

#[tokio::test]
async fn blocking_job_refuses_the_upgrade_with_its_name() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    set_blocking(&f, &["download"]);
    let before = shutdowns(&f);
    let t = target(&node, "img:2");
    let err = node
        .upgrade_with(t, &gate(OnBlocking::Refuse, 1000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::UpgradeGate(GateError::BlockingJobs { jobs }) if jobs == "download"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_untouched(&f, &node, before).await;
}

#[tokio::test]
async fn waiting_upgrade_is_visible_and_goes_ahead_when_the_job_finishes() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    set_blocking(&f, &["download"]);
    let before = shutdowns(&f);
    let cell = node.upgrade_wait.clone();
    let agent = f.agents.agent.clone();
    let watcher = tokio::spawn(async move {
        let mut seen = None;
        while seen.is_none() {
            seen = cell.get();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Still blocked a while after the wait became visible: the upgrade must not go on.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let shutdowns = agent
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("shutdown"))
            .count();
        agent.blocking.lock().unwrap().clear();
        (seen.unwrap(), shutdowns)
    });
    let t = target(&node, "img:2");
    node.upgrade_with(t, &gate(OnBlocking::Wait, 10_000))
        .await
        .unwrap();
    let (wait, shutdowns_while_waiting) = watcher.await.unwrap();
    assert_eq!(
        shutdowns_while_waiting, before,
        "stopped while a blocking job ran"
    );
    assert!(wait.reason.contains("download"), "{wait:?}");
    assert_eq!(wait.to_version, "2.0.0");
    assert!(wait.deadline > wait.since);
    assert_eq!(node.state.image.uri, "img:2");
    assert_eq!(node.status().await, Status::Running);
    assert!(node.upgrade_wait.get().is_none());
}

#[tokio::test]
async fn waiting_for_blocking_jobs_is_bounded_and_never_kills_them() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    set_blocking(&f, &["download", "init"]);
    let before = shutdowns(&f);
    let started = Instant::now();
    let t = target(&node, "img:2");
    let err = node
        .upgrade_with(t, &gate(OnBlocking::Wait, 150))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(
        matches!(&err, NodeError::UpgradeGate(GateError::StillBlocked { jobs, .. }) if jobs == "download, init"),
        "{err}"
    );
    assert_untouched(&f, &node, before).await;
}

#[tokio::test]
async fn forced_upgrade_stops_the_blocking_job() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    set_blocking(&f, &["download"]);
    let before = shutdowns(&f);
    let t = target(&node, "img:2");
    node.upgrade_with(t, &gate(OnBlocking::Force, 0))
        .await
        .unwrap();
    assert_eq!(node.state.image.uri, "img:2");
    assert_eq!(shutdowns(&f), before + 1);
    assert!(f.agents.agent.blocking.lock().unwrap().is_empty());
}

#[tokio::test]
async fn upgrade_window_delays_the_upgrade_up_to_the_maximum_wait() {
    let plugin = "fn height() { 7 }\nfn upgrade_window() { 3600 }\n";
    let f = fixture(&[("img:1", plugin)]);
    let mut node = running_node(&f).await;
    let before = shutdowns(&f);
    let cell = node.upgrade_wait.clone();
    let watcher = tokio::spawn(async move {
        loop {
            if let Some(w) = cell.get() {
                return w;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let started = Instant::now();
    let t = target(&node, "img:2");
    node.upgrade_with(t, &gate(OnBlocking::Refuse, 300))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let wait = watcher.await.unwrap();
    assert!(wait.reason.contains("upgrade_window"), "{wait:?}");
    assert!(wait.reason.contains("3600 s"), "{wait:?}");
    assert_eq!(node.state.image.uri, "img:2");
    assert_eq!(shutdowns(&f), before + 1);
}

#[tokio::test]
async fn open_upgrade_window_does_not_delay() {
    let plugin = "fn height() { 7 }\nfn upgrade_window() { 0 }\n";
    let f = fixture(&[("img:1", plugin)]);
    let mut node = running_node(&f).await;
    let started = Instant::now();
    let t = target(&node, "img:2");
    node.upgrade_with(t, &gate(OnBlocking::Refuse, 5_000))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(node.state.image.uri, "img:2");
}

#[tokio::test]
async fn plugin_that_does_not_load_leaves_the_node_running() {
    let f = fixture(&[("img:broken", "fn height( {\n")]);
    let mut node = running_node(&f).await;
    let before = shutdowns(&f);
    let t = target(&node, "img:broken");
    let err = node.upgrade(t).await.unwrap_err();
    assert!(
        matches!(err, NodeError::UpgradePrepare(PrepareError::PluginLoad(_))),
        "{err}"
    );
    assert_untouched(&f, &node, before).await;
    // The same node upgrades fine to a good image afterwards.
    let t = target(&node, "img:2");
    node.upgrade(t).await.unwrap();
    assert_eq!(node.state.image.uri, "img:2");
}

#[tokio::test]
async fn plugin_that_fails_its_lint_leaves_the_node_running() {
    // Loads, but `init` calls an engine function that does not exist.
    let f = fixture(&[("img:lint", "fn init() { no_such_engine_fn(1); }\n")]);
    let mut node = running_node(&f).await;
    let before = shutdowns(&f);
    let t = target(&node, "img:lint");
    let err = node.upgrade(t).await.unwrap_err();
    assert!(
        matches!(err, NodeError::UpgradePrepare(PrepareError::PluginLint(_))),
        "{err}"
    );
    assert_untouched(&f, &node, before).await;
}

#[tokio::test]
async fn missing_image_leaves_the_node_running() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    let before = shutdowns(&f);
    let t = target(&node, "img:missing");
    let err = node.upgrade(t).await.unwrap_err();
    assert!(matches!(err, NodeError::Rootfs(_)), "{err}");
    assert_untouched(&f, &node, before).await;
}

#[tokio::test]
async fn image_that_does_not_mount_leaves_the_node_running() {
    let f = fixture(&[]);
    let mut node = running_node(&f).await;
    let before = shutdowns(&f);
    let t = target(&node, "img:unmountable");
    let err = node.upgrade(t).await.unwrap_err();
    assert!(matches!(err, NodeError::Rootfs(_)), "{err}");
    assert_untouched(&f, &node, before).await;
}
