//! The crash-injection suite: every named fault point of create, delete and upgrade is hit
//! once (the operation unwinds there without any of its own cleanup, as under kill -9), then
//! the daemon's start-up recovery runs on the same host. Afterwards no container, network
//! namespace, mount, node dir or journal entry may be left that belongs to no node, and no
//! node may be lost: an interrupted create is gone (its name and IP free again), an
//! interrupted delete is complete, an interrupted upgrade is back on its old image.

use std::sync::Arc;

use uuid::Uuid;

use super::{Registry, SweepReport, recover_host};
use crate::journal::Journal;
use crate::node::agent::fake::FakeConnector;
use crate::node::state::{NodeImage, NodeState, Status, sample};
use crate::node::upgrade::UpgradeTarget;
use crate::node::{NodeError, Services};
use bv_base::fault;
use bv_host::config::Config;
use bv_host::container::ContainerRuntime;
use bv_host::container::fake::FakeRuntime;
use bv_host::net::fake::FakeNetwork;
use bv_host::rootfs::RootfsProvider;
use bv_host::rootfs::fake::FakeRootfs;

struct Host {
    _dir: tempfile::TempDir,
    svc: Arc<Services>,
    runtime: Arc<FakeRuntime>,
    rootfs: Arc<FakeRootfs>,
    network: Arc<FakeNetwork>,
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        root: dir.path().join("root"),
        ..Default::default()
    };
    std::fs::create_dir_all(config.nodes_dir()).unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let rootfs = Arc::new(FakeRootfs {
        plugin: "fn height() { 7 }\n".into(),
        ..Default::default()
    });
    let network = Arc::new(FakeNetwork::default());
    let (scheduler, _rx) = bv_host::scheduler::Scheduler::new();
    let svc = Arc::new(Services {
        config,
        runtime: runtime.clone(),
        rootfs: rootfs.clone(),
        agents: Arc::new(FakeConnector::default()),
        network: network.clone(),
        babel_dir: dir.path().join("babel"),
        init_binary: dir.path().join("bv-init"),
        scheduler: Arc::new(scheduler),
        cloud: Default::default(),
    });
    Host {
        _dir: dir,
        svc,
        runtime,
        rootfs,
        network,
    }
}

fn bridged(name: &str, ip: &str) -> NodeState {
    let mut s = sample(Uuid::new_v4(), name);
    s.image.uri = "img:1".into();
    s.image.version = "1.0.0".into();
    s.host_network = false;
    s.ip = ip.into();
    s.gateway = "10.77.0.1".into();
    s
}

fn target(uri: &str) -> UpgradeTarget {
    let s = bridged("x", "");
    UpgradeTarget {
        image: NodeImage {
            uri: uri.into(),
            version: "2.0.0".into(),
            ..Default::default()
        },
        image_key: s.image_key,
        vm_config: s.vm_config,
        health_timeout: None,
    }
}

/// A daemon restart on the same host: recovery, then the registry.
async fn restart(h: &Host) -> (Registry, SweepReport) {
    let mut report = recover_host(&h.svc).await;
    let reg = Registry::load(h.svc.clone()).unwrap();
    reg.finish_interrupted_upgrades(&mut report).await;
    (reg, report)
}

/// Nothing on the host belongs to no node.
async fn assert_clean(h: &Host, reg: &Registry, point: &str) {
    let live: Vec<String> = reg.list().iter().map(|e| e.id.to_string()).collect();
    for c in h.runtime.list().await.unwrap() {
        assert!(live.contains(&c), "{point}: container {c} left");
    }
    for ns in h.network.namespaces() {
        assert!(live.contains(&ns), "{point}: namespace of {ns} left");
    }
    let nodes_dir = h.svc.config.nodes_dir();
    for m in h.rootfs.mounted() {
        let owner = m.strip_prefix(&nodes_dir).unwrap().components().next();
        let owner = owner.unwrap().as_os_str().to_str().unwrap().to_string();
        assert!(live.contains(&owner), "{point}: mount {} left", m.display());
    }
    for d in std::fs::read_dir(&nodes_dir).unwrap().flatten() {
        let name = d.file_name().into_string().unwrap();
        assert!(live.contains(&name), "{point}: dir {name} left");
    }
    assert!(
        Journal::new(&h.svc.config.root).list().is_empty(),
        "{point}: journal not empty"
    );
}

/// Runs `op` with `point` armed; it must stop there.
async fn crash_at<F>(point: &str, op: F)
where
    F: std::future::Future<Output = Result<(), NodeError>> + Send + 'static,
{
    fault::arm(Some(point));
    // Same thread (current-thread runtime): the armed point is seen by the task.
    let out = tokio::task::spawn_local(op).await;
    fault::arm(None);
    assert!(
        out.as_ref().is_err_and(|e| e.is_panic()),
        "{point} was not reached: {out:?}"
    );
}

/// The node should run and its container does (the agent reconnects after a restart).
async fn runs(reg: &Registry, name: &str) -> bool {
    let entry = reg.get(name).unwrap();
    let n = entry.lock().await;
    n.state.expected_status == Status::Running && n.container_state().await.is_running()
}

fn points(prefix: &str) -> Vec<&'static str> {
    fault::POINTS
        .iter()
        .copied()
        .filter(|p| p.starts_with(prefix))
        .collect()
}

async fn local<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(f).await
}

#[tokio::test]
async fn crash_during_create_rolls_back() {
    local(async {
        let all = points("create.");
        assert_eq!(all.len(), 4);
        for point in all {
            let h = host();
            let reg = Arc::new(Registry::load(h.svc.clone()).unwrap());
            let keep = reg.create(bridged("keep", "10.77.0.10")).await.unwrap();
            keep.lock().await.start().await.unwrap();
            let r = reg.clone();
            crash_at(point, async move {
                r.create(bridged("doomed", "10.77.0.11")).await.map(|_| ())
            })
            .await;
            let (reg, report) = restart(&h).await;
            assert_clean(&h, &reg, point).await;
            assert_eq!(report.operations.len(), 1, "{point}: {report:?}");
            // No node lost, and the rolled-back one's name and IP are free again.
            assert!(runs(&reg, "keep").await, "{point}");
            assert!(reg.get("doomed").is_err(), "{point}");
            reg.create(bridged("doomed", "10.77.0.11")).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn crash_during_delete_completes_it() {
    local(async {
        let all = points("delete.");
        assert_eq!(all.len(), 5);
        for point in all {
            let h = host();
            let reg = Arc::new(Registry::load(h.svc.clone()).unwrap());
            let keep = reg.create(bridged("keep", "10.77.0.10")).await.unwrap();
            keep.lock().await.start().await.unwrap();
            let doomed = reg.create(bridged("doomed", "10.77.0.11")).await.unwrap();
            doomed.lock().await.start().await.unwrap();
            std::fs::write(doomed.lock().await.paths.data().join("chain.db"), b"blocks").unwrap();
            let r = reg.clone();
            crash_at(point, async move { r.delete(&doomed).await }).await;
            let (reg, report) = restart(&h).await;
            assert_clean(&h, &reg, point).await;
            assert!(reg.get("doomed").is_err(), "{point}");
            assert_eq!(report.operations.len(), 1, "{point}: {report:?}");
            assert!(runs(&reg, "keep").await, "{point}");
        }
    })
    .await;
}

#[tokio::test]
async fn crash_during_upgrade_rolls_back_to_the_old_image() {
    local(async {
        let all = points("upgrade.");
        assert_eq!(all.len(), 7);
        for point in all {
            let h = host();
            let reg = Arc::new(Registry::load(h.svc.clone()).unwrap());
            let node = reg.create(bridged("up", "10.77.0.10")).await.unwrap();
            node.lock().await.start().await.unwrap();
            let entry = node.clone();
            crash_at(point, async move {
                entry.lock().await.upgrade(target("img:2")).await
            })
            .await;
            let (reg, report) = restart(&h).await;
            assert_clean(&h, &reg, point).await;
            assert_eq!(report.operations.len(), 1, "{point}: {report:?}");
            let entry = reg.get("up").unwrap();
            let n = entry.lock().await;
            assert_eq!(n.state.image.uri, "img:1", "{point}");
            assert!(n.state.upgrade.is_none(), "{point}");
            assert_eq!(n.state.expected_status, Status::Running, "{point}");
            assert!(n.container_state().await.is_running(), "{point}");
            let mounted = std::fs::read_to_string(n.paths.rootfs().join("image")).unwrap();
            assert_eq!(mounted, "img:1", "{point}");
        }
    })
    .await;
}

#[tokio::test]
async fn sweep_removes_what_belongs_to_no_node_and_reports_it() {
    let h = host();
    let reg = Registry::load(h.svc.clone()).unwrap();
    let keep = reg.create(bridged("keep", "10.77.0.10")).await.unwrap();
    keep.lock().await.start().await.unwrap();
    // Debris of an old daemon: a dir without state holding a mounted rootfs and data, a
    // container of our runtime with its namespace, a cgroup, a pull spool.
    let stray = Uuid::new_v4().to_string();
    let dir = h.svc.config.nodes_dir().join(&stray);
    std::fs::create_dir_all(dir.join("data/blocks")).unwrap();
    h.rootfs.mount("img:1", &dir).await.unwrap();
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    h.runtime
        .run(&stray, &dir, &dir.join("console.log"))
        .await
        .unwrap();
    h.network.namespaces.lock().unwrap().insert(stray.clone());
    h.runtime
        .cgroups
        .lock()
        .unwrap()
        .insert(format!("blockvisor/{stray}"));
    h.rootfs
        .tmp
        .lock()
        .unwrap()
        .push(h.svc.config.images_dir().join("tmp/pull-1-2-3"));
    let journal_dir = h.svc.config.root.join("journal");
    std::fs::create_dir_all(&journal_dir).unwrap();
    let torn = journal_dir.join(format!(".{stray}.create.json.77.0.tmp"));
    std::fs::write(&torn, "{").unwrap();
    drop(reg);

    let (reg, report) = restart(&h).await;
    assert_clean(&h, &reg, "sweep").await;
    assert!(report.errors.is_empty(), "{report:?}");
    for what in [
        format!("container {stray}"),
        format!("netns bv-{stray}"),
        format!("mount {}", dir.join("rootfs").display()),
        format!("cgroup blockvisor/{stray}"),
        format!("dir {}", dir.display()),
        format!("temp {}", torn.display()),
        format!(
            "image temp {}",
            h.svc.config.images_dir().join("tmp/pull-1-2-3").display()
        ),
    ] {
        assert!(report.removed.contains(&what), "{what} not in {report:?}");
    }
    assert!(h.runtime.cgroups.lock().unwrap().is_empty());
    assert!(runs(&reg, "keep").await);
    assert!(reg.last_sweep().removed.is_empty(), "not set by the test");
}
