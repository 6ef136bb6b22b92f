//! `upload` and `download` jobs end to end: a real babel agent and real job runners, the
//! host side played by a fake `BabelEngine` service on the engine socket.

#![allow(clippy::unwrap_used)]

mod archive_support;
mod common;

use std::sync::{Arc, Mutex};

use archive_support::{FakeEngine, ObjectServer, ServerUrls, TestBackend, serve_engine};
use babel_api::job::{Compression, JobConfig, JobStatus, JobType, RestartConfig, RestartPolicy};
use common::{TestAgent, kill_processes_under};

fn on_failure() -> RestartPolicy {
    RestartPolicy::OnFailure(RestartConfig {
        backoff_timeout_ms: 60_000,
        backoff_base_ms: 10,
        max_retries: Some(1),
    })
}

fn upload_job(number_of_chunks: Option<u32>) -> JobConfig {
    JobConfig::new(
        JobType::Upload {
            exclude: Some(vec!["*.log".into()]),
            compression: Some(Compression::Zstd(3)),
            max_connections: Some(2),
            max_runners: Some(2),
            number_of_chunks,
            url_expires_secs: Some(600),
            data_version: None,
        },
        on_failure(),
    )
}

fn download_job(restart: RestartPolicy) -> JobConfig {
    JobConfig::new(
        JobType::Download {
            max_connections: Some(2),
            max_runners: Some(3),
        },
        restart,
    )
}

async fn agent_with_engine(
    backend: &Arc<TestBackend>,
) -> (TestAgent, FakeEngine, tokio::task::JoinHandle<()>) {
    let mut agent = TestAgent::start().await;
    let errors = Arc::new(Mutex::new(Vec::new()));
    let engine = serve_engine(
        &agent.path("e.sock"),
        FakeEngine {
            backend: backend.clone(),
            bv_errors: errors.clone(),
        },
    );
    agent.setup().await;
    let handle = FakeEngine {
        backend: backend.clone(),
        bv_errors: errors,
    };
    (agent, handle, engine)
}

#[tokio::test]
async fn upload_then_download_jobs_through_the_engine_socket() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));

    // Uploading node: data plus a lock (the data stamp).
    let (mut up, _, _engine_up) = agent_with_engine(&backend).await;
    let src = up.data().join("protocol_data");
    for i in 0..200u64 {
        archive_support::write_file(
            &src,
            &format!("blocks/{i:03}"),
            &archive_support::json_lines(i, 20_000),
            0o644,
        );
    }
    archive_support::write_file(&src, "node.log", b"not uploaded", 0o644);
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::write(up.data().join(".protocol_data.lock"), b"").unwrap();
    up.create("upload", upload_job(Some(4))).await.unwrap();
    up.start_job("upload").await;
    assert_eq!(
        up.wait_finished("upload", 60).await,
        JobStatus::finished(Some(0), "")
    );
    let info = up.info("upload").await;
    let progress = info.progress.expect("upload progress");
    assert_eq!((progress.total, progress.current), (4, 4));
    assert!(backend.manifest(1).is_some());
    std::fs::remove_file(src.join("node.log")).unwrap();

    // Downloading node: no lock, so the archive is fetched.
    let (mut down, _, _engine_down) = agent_with_engine(&backend).await;
    down.create("download", download_job(on_failure()))
        .await
        .unwrap();
    down.start_job("download").await;
    assert_eq!(
        down.wait_finished("download", 60).await,
        JobStatus::finished(Some(0), "")
    );
    archive_support::assert_same_tree(&src, &down.data().join("protocol_data"));
    let progress = down
        .info("download")
        .await
        .progress
        .expect("download progress");
    assert_eq!(
        (progress.total, progress.current, progress.message.as_str()),
        (4, 4, "chunks")
    );

    // With the lock present the download job succeeds without fetching anything.
    std::fs::write(down.data().join(".protocol_data.lock"), b"").unwrap();
    server.reset_counters();
    down.start_job("download").await;
    down.wait_job("download", 30, |i| {
        i.status != JobStatus::finished(Some(0), "")
    })
    .await;
    assert_eq!(
        down.wait_finished("download", 30).await,
        JobStatus::finished(Some(0), "job 'download' finished")
    );
    assert_eq!(server.total_gets(), 0);

    for a in [&mut up, &mut down] {
        a.kill9();
        kill_processes_under(a.root.path());
    }
}

#[tokio::test]
async fn bad_upload_parameters_and_missing_archive_fail_the_jobs() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let (mut agent, _, _engine) = agent_with_engine(&backend).await;
    std::fs::create_dir_all(agent.data().join("protocol_data")).unwrap();

    agent.create("upload", upload_job(Some(0))).await.unwrap();
    agent.start_job("upload").await;
    match agent.wait_finished("upload", 30).await {
        JobStatus::Finished {
            exit_code: None,
            message,
        } => {
            assert!(message.contains("need at least one"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }

    agent
        .create("download", download_job(RestartPolicy::Never))
        .await
        .unwrap();
    agent.start_job("download").await;
    match agent.wait_finished("download", 30).await {
        JobStatus::Finished {
            exit_code: Some(-1),
            message,
        } => {
            assert!(
                message.starts_with("job 'download' failed with: archive not found"),
                "{message}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
    agent.kill9();
    kill_processes_under(agent.root.path());
}
