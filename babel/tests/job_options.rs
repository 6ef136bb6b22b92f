//! The remaining job options and node setup, end to end: run_as, shutdown_signal, log
//! rotation and timestamps, RAM disks and post_setup.sh, graceful agent stop.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use babel_api::job::JobStatus;
use babel_api::node_env::{BabelConfig, RamDisk};
use babel_api::pb::babel::v1 as pb;
use common::{TestAgent, sh_job};

async fn wait_file(path: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.is_empty()
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_exists(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never created",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn run_as_shutdown_signal_and_logs() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    std::fs::set_permissions(a.data(), std::fs::Permissions::from_mode(0o777)).unwrap();

    let uid = a.data().join("uid");
    let mut cfg = sh_job(&format!("id -u > {}; echo home=$HOME", uid.display()));
    cfg.run_as = Some("nobody".into());
    a.create("as_nobody", cfg).await.unwrap();
    a.start_job("as_nobody").await;
    assert_eq!(
        a.wait_finished("as_nobody", 10).await,
        JobStatus::finished(Some(0), "")
    );
    assert_eq!(std::fs::read_to_string(&uid).unwrap().trim(), "65534");

    let trapped = a.data().join("trapped");
    let ready = a.data().join("ready");
    let mut cfg = sh_job(&format!(
        "trap 'echo INT > {}; exit 0' INT; touch {}; while true; do sleep 0.05; done",
        trapped.display(),
        ready.display()
    ));
    cfg.shutdown_signal = Some("SIGINT".into());
    cfg.shutdown_timeout_secs = Some(5);
    a.create("trap", cfg).await.unwrap();
    a.start_job("trap").await;
    wait_exists(&ready).await;
    let t = Instant::now();
    a.stop_job("trap").await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "SIGINT was not delivered: stop took {:?}",
        t.elapsed()
    );
    assert_eq!(std::fs::read_to_string(&trapped).unwrap(), "INT\n");

    // A job ignoring its shutdown signal is killed after the timeout.
    let mut cfg = sh_job(&format!(
        "trap '' TERM; touch {}; while true; do sleep 0.05; done",
        ready.display()
    ));
    cfg.shutdown_timeout_secs = Some(1);
    std::fs::remove_file(&ready).unwrap();
    a.create("stubborn", cfg).await.unwrap();
    a.start_job("stubborn").await;
    wait_exists(&ready).await;
    let t = Instant::now();
    a.stop_job("stubborn").await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(a.info("stubborn").await.status, JobStatus::Stopped);

    // 1 MB log limit: ~1.5 MB of output rotates once; timestamps prefix lines.
    let mut cfg = sh_job(
        "i=0; while [ $i -lt 15000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789; i=$((i+1)); done",
    );
    cfg.log_buffer_capacity_mb = Some(1);
    cfg.log_timestamp = Some(true);
    a.create("loud", cfg).await.unwrap();
    a.start_job("loud").await;
    assert_eq!(
        a.wait_finished("loud", 60).await,
        JobStatus::finished(Some(0), "")
    );
    let current = std::fs::metadata(a.path("jobs/loud/logs")).unwrap().len();
    assert!(current <= 1_000_000, "{current}");
    // The rotated file is gzip'ed; the plain one is gone.
    assert!(!a.path("jobs/loud/logs.1").exists());
    let mut first = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(a.path("jobs/loud/logs.1.gz")).unwrap(),
        ),
        &mut first,
    )
    .unwrap();
    let rotated = first.len();
    assert!(rotated <= 1_000_000 && rotated > 900_000, "{rotated}");
    assert!(
        std::fs::metadata(a.path("jobs/loud/logs.1.gz"))
            .unwrap()
            .len()
            < 200_000,
        "not compressed"
    );
    let first = first.lines().next().unwrap();
    let (stamp, line) = first.split_once('|').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{first}"
    );
    assert!(line.starts_with("0123456789"));
}

#[tokio::test]
async fn setup_mounts_ramdisks_and_runs_post_setup() {
    let mut a = TestAgent::start().await;
    let ram = a.path("ram");
    std::fs::write(
        a.path("post_setup.sh"),
        format!("echo $NODE_NAME > {}/hook", a.data().display()),
    )
    .unwrap();
    let cfg = BabelConfig {
        node_env: a.node_env(),
        ramdisks: vec![RamDisk {
            ram_disk_mount_point: ram.display().to_string(),
            ram_disk_size_mb: 8,
        }],
    };
    a.client
        .setup_babel(pb::SetupBabelRequest {
            config: Some(cfg.clone().into()),
        })
        .await
        .unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounted = mounts
        .lines()
        .any(|l| l.contains(&format!(" {} ", ram.display())) && l.contains(" - tmpfs "));
    assert!(mounted, "ram disk not mounted");
    assert_eq!(
        std::fs::read_to_string(a.data().join("hook")).unwrap(),
        "test-node\n"
    );
    let saved: BabelConfig =
        serde_json::from_slice(&std::fs::read(a.path("babel.conf")).unwrap()).unwrap();
    assert_eq!(saved, cfg);
    // Idempotent: a second setup does not mount again.
    a.client
        .setup_babel(pb::SetupBabelRequest {
            config: Some(cfg.into()),
        })
        .await
        .unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        mounts
            .lines()
            .filter(|l| l.contains(&format!(" {} ", ram.display())))
            .count(),
        1
    );

    std::fs::write(a.path("post_setup.sh"), "echo broken >&2; exit 1").unwrap();
    let err = a
        .client
        .setup_babel(pb::SetupBabelRequest {
            config: Some(
                BabelConfig {
                    node_env: a.node_env(),
                    ramdisks: vec![],
                }
                .into(),
            ),
        })
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("failed to setup node with:") && err.message().contains("broken"),
        "{}",
        err.message()
    );
    nix::mount::umount(&ram).unwrap();
}

#[tokio::test]
async fn sigterm_stops_babel_but_not_jobs() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let ticks = a.data().join("ticks");
    a.create(
        "svc",
        sh_job(&format!(
            "while true; do echo t >> {}; sleep 0.05; done",
            ticks.display()
        )),
    )
    .await
    .unwrap();
    a.start_job("svc").await;
    wait_file(&ticks).await;
    let mut child = a.child.take().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!a.path("b.sock").exists(), "socket left behind");
    let n = std::fs::read_to_string(&ticks).unwrap().lines().count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        std::fs::read_to_string(&ticks).unwrap().lines().count() > n,
        "job ended with babel"
    );
    a.spawn().await;
    assert_eq!(a.info("svc").await.status, JobStatus::Running);
}
