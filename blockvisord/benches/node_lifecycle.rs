//! T1 / T1b (perf-anchors): node create → babel answering, and node delete, with the image
//! already unpacked; `docker run -d` / `docker rm -f` of the same image side by side.
//!
//! `cargo bench -p blockvisord --bench node_lifecycle` (root, runc, dockerd). Prints p50/p95.
#![allow(
    clippy::disallowed_methods,
    reason = "the bench drives docker beside the daemon and exits non-zero when a run fails"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bv_host::config::Config;
use bv_node::node::Node;
use bv_node::node::agent::wait_for_babel;
use bv_node::node::state::{ImageKey, NodeImage, NodeState, SCHEMA_VERSION, Status};

const ROUNDS: usize = 20;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

fn report(what: &str, v: &mut [Duration]) {
    let p50 = pct(v, 0.5);
    let p95 = pct(v, 0.95);
    println!(
        "{what:<44} p50 {:>7.1} ms   p95 {:>7.1} ms   (n={})",
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        v.len()
    );
}

fn build_image(tag: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let busybox = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .map_err(|e| e.to_string())?;
    let busybox = String::from_utf8_lossy(&busybox.stdout).trim().to_string();
    std::fs::copy(&busybox, dir.path().join("busybox")).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("main.rhai"), "fn height() { 1 }\n")
        .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         COPY main.rhai /var/lib/babel/plugin/main.rhai\n",
    )
    .map_err(|e| e.to_string())?;
    let ok = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .map_err(|e| e.to_string())?
        .status
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("docker build {tag} failed"))
    }
}

fn state(uri: &str, i: usize) -> NodeState {
    NodeState {
        schema_version: SCHEMA_VERSION,
        id: uuid::Uuid::new_v4(),
        name: format!("bench-{i}"),
        display_name: String::new(),
        org_id: String::new(),
        protocol_name: String::new(),
        image_key: ImageKey::default(),
        image: NodeImage {
            uri: uri.into(),
            version: "1.0.0".into(),
            ..Default::default()
        },
        dev_mode: true,
        host_network: true,
        ip: "127.0.0.1".into(),
        gateway: "127.0.0.1".into(),
        properties: Default::default(),
        firewall: Default::default(),
        vm_config: Default::default(),
        tags: vec![],
        expected_status: Status::Stopped,
        started_at: None,
        initialized: false,
        restarting: false,
        upgrade: None,
        property_rules: Vec::new(),
        created_at: chrono::Utc::now(),
    }
}

fn docker(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

async fn bench(root: &Path, uri: &str, tag: &str) -> Result<(), String> {
    let config = Config {
        root: root.to_owned(),
        socket: root.join("bv.sock"),
        cgroup_parent: format!("bvbench{}", std::process::id()),
        stop_grace_secs: 1,
        babel_dir: Some(
            std::env::var_os("BV_BABEL_DIR")
                .map(Into::into)
                .unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/babel-static")
                }),
        ),
        ..Default::default()
    };
    let (scheduler, _fired) = bv_host::scheduler::Scheduler::new();
    let svc = Arc::new(
        blockvisord::daemon::services(config, Arc::new(scheduler)).map_err(|e| format!("{e:#}"))?,
    );
    // Warm the image cache (pull + unpack once), as T1 assumes.
    svc.rootfs
        .ensure(uri, None)
        .await
        .map_err(|e| e.to_string())?;

    let (mut create, mut delete) = (vec![], vec![]);
    let (mut c_node, mut c_runc, mut c_babel) = (vec![], vec![], vec![]);
    for i in 0..ROUNDS {
        let t = Instant::now();
        let mut node = Node::create(svc.clone(), state(uri, i))
            .await
            .map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        node.launch_container().await.map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        wait_for_babel(&node.paths.babel_socket(), Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        create.push(t.elapsed());
        c_node.push(t1 - t);
        c_runc.push(t2 - t1);
        c_babel.push(t2.elapsed());

        let t = Instant::now();
        node.delete().await.map_err(|e| e.to_string())?;
        delete.push(t.elapsed());
    }

    let (mut drun, mut drm) = (vec![], vec![]);
    for i in 0..ROUNDS {
        let name = format!("bvbench-{}-{i}", std::process::id());
        let t = Instant::now();
        if !docker(&["run", "-d", "--name", &name, tag, "/bin/sleep", "1000"]) {
            return Err("docker run failed".into());
        }
        drun.push(t.elapsed());
        let t = Instant::now();
        docker(&["rm", "-f", &name]);
        drm.push(t.elapsed());
    }

    println!("node lifecycle (image cached, host network, {ROUNDS} rounds)");
    report("T1  create -> babel answering (bv)", &mut create);
    report("      node dir + image check + overlay", &mut c_node);
    report("      config.json + runc run -d", &mut c_runc);
    report("      babel first answer", &mut c_babel);
    report("    docker run -d (same image)", &mut drun);
    report(
        "T1b delete: kill + wait + runc delete + rm (bv)",
        &mut delete,
    );
    report("    docker rm -f (same image)", &mut drm);
    Ok(())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tag = format!("bv-bench-{}:1", std::process::id());
    let result = build_image(&tag).and_then(|()| {
        let root = tempfile::Builder::new()
            .prefix("bvb")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        let uri = format!("docker-daemon://{tag}");
        rt.block_on(bench(root.path(), &uri, &tag))
    });
    docker(&["rmi", "-f", &tag]);
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
