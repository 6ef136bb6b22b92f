//! Errors the host must hear about reach it through `bv_error` on the engine socket: a job
//! with an unreadable config at load, a runner that can't save the final status, and a
//! runner that ended without a readable status.
#![allow(clippy::unwrap_used)]

mod archive_support;
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archive_support::{FakeEngine, ServerUrls, TestBackend, serve_engine};
use babel_api::job::JobStatus;
use common::{TestAgent, sh_job};

async fn wait_for_report(errors: &Arc<Mutex<Vec<String>>>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if errors.lock().unwrap().iter().any(|e| e.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no bv_error containing `{needle}`; got {:?}",
            errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn agent_and_runner_errors_are_reported_to_the_host() {
    let mut a = TestAgent::start().await;
    let errors = Arc::new(Mutex::new(Vec::new()));
    let _engine = serve_engine(
        &a.path("e.sock"),
        FakeEngine {
            backend: TestBackend::new(ServerUrls("http://127.0.0.1:9".into())),
            bv_errors: errors.clone(),
        },
    );

    // A job dir with a broken config.json is skipped at load, and reported.
    std::fs::create_dir_all(a.path("jobs/broken")).unwrap();
    std::fs::write(a.path("jobs/broken/config.json"), "{not json").unwrap();
    a.setup().await;
    wait_for_report(&errors, "job 'broken' skipped").await;
    assert!(a.path("jobs/broken/config.json.invalid").exists());

    // The job turns its own status file into a directory: the runner can't save the final
    // status and babel can't read one. Both sides report.
    let status = a.path("jobs/blocked/status.json");
    a.create("blocked", sh_job(&format!("mkdir {}", status.display())))
        .await
        .unwrap();
    a.start_job("blocked").await;
    wait_for_report(&errors, "job runner can't save status").await;
    wait_for_report(
        &errors,
        "can't load job 'blocked' status from file after it stopped",
    )
    .await;
    let JobStatus::Finished { exit_code, message } = a.wait_finished("blocked", 15).await else {
        unreachable!()
    };
    assert_eq!(exit_code, None);
    assert!(message.contains("after it stopped"), "{message}");
}
