//! The agent's first duties: version, setup, run_sh, and a run_sh job's life cycle.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use babel_api::job::JobStatus;
use babel_api::pb::babel::v1 as pb;
use common::{TestAgent, sh_job};

#[tokio::test]
async fn version_setup_run_sh_and_a_job() {
    let mut a = TestAgent::start().await;
    let v = a
        .client
        .get_version(pb::GetVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.version, babel_api::VERSION);
    a.setup().await;
    assert!(a.path("babel.conf").exists());

    let r = a
        .client
        .run_sh(pb::RunShRequest {
            body: "echo $((2+3)); echo oops >&2; exit 4".into(),
            timeout_ms: 5000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.exit_code, r.stdout.as_str(), r.stderr.as_str()),
        (4, "5\n", "oops\n")
    );
    let err = a
        .client
        .run_sh(pb::RunShRequest {
            body: "sleep 5".into(),
            timeout_ms: 100,
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("deadline has elapsed"), "{err:?}");

    let marker = a.data().join("ran");
    a.create(
        "hello",
        sh_job(&format!(
            "echo hello $NODE_NAME; touch {}",
            marker.display()
        )),
    )
    .await
    .unwrap();
    assert_eq!(a.info("hello").await.status, JobStatus::Stopped);
    a.start_job("hello").await;
    let status = a.wait_finished("hello", 10).await;
    assert_eq!(status, JobStatus::finished(Some(0), ""));
    assert!(marker.exists());
    let logs = std::fs::read_to_string(a.path("jobs/hello/logs")).unwrap();
    assert_eq!(logs, "hello test-node\n");
    let saved: JobStatus =
        serde_json::from_slice(&std::fs::read(a.path("jobs/hello/status.json")).unwrap()).unwrap();
    assert_eq!(saved, status);

    // A long job: running, then stopped with its whole process group.
    let child_marker = a.data().join("child-alive");
    a.create(
        "svc",
        sh_job(&format!(
            "(while true; do touch {}; sleep 0.05; done) & sleep 1000",
            child_marker.display()
        )),
    )
    .await
    .unwrap();
    a.start_job("svc").await;
    let info = a
        .wait_job("svc", 10, |i| i.status == JobStatus::Running)
        .await;
    assert!(info.upgrade_blocking);
    let t = a
        .client
        .get_active_jobs_shutdown_timeout(pb::GetActiveJobsShutdownTimeoutRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.timeout_ms, 60_000);
    a.stop_job("svc").await.unwrap();
    assert_eq!(a.info("svc").await.status, JobStatus::Stopped);
    let _ = std::fs::remove_file(&child_marker);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !child_marker.exists(),
        "background child of the job survived stop"
    );
}
