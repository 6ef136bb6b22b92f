//! A download killed with SIGKILL mid-way resumes without fetching recorded chunks again and
//! ends with the exact tree. The download runs in a child process (this test binary,
//! re-executed with the ignored `child_download` test) so it can be really killed.

#![allow(clippy::unwrap_used)]

mod archive_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use archive_support::{BackendState, ObjectServer, ServerUrls, TestBackend, assert_same_tree};
use babel::archive::model::Chunk;
use babel::archive::state::{DOWNLOAD_CHUNKS, Progress, StateDir};
use babel::archive::{Downloader, TransferOptions, UploadParams, Uploader};
use babel_api::job::Compression;
use tokio_util::sync::CancellationToken;

const CHUNKS: u32 = 12;

#[derive(serde::Serialize, serde::Deserialize)]
struct ChildConfig {
    base_url: String,
    backend_state: PathBuf,
    mount: PathBuf,
    dest: PathBuf,
}

fn opts() -> TransferOptions {
    TransferOptions {
        retry_base: Duration::from_millis(1),
        record_interval: Duration::ZERO,
        max_runners: 2,
        ..TransferOptions::default()
    }
}

async fn run_download(backend: Arc<TestBackend>, mount: &Path, dest: &Path) -> u32 {
    Downloader::new(
        backend,
        StateDir::new(mount),
        Progress::none(),
        opts(),
        CancellationToken::new(),
    )
    .run(dest)
    .await
    .unwrap()
    .downloaded_now
}

/// The process that gets killed (does nothing unless started by the test below).
#[tokio::test]
#[ignore = "helper process of download_killed_with_sigkill_resumes"]
async fn child_download() {
    let Ok(cfg) = std::env::var("ARCHIVE_CHILD_CONFIG") else {
        return;
    };
    let cfg: ChildConfig = serde_json::from_str(&cfg).unwrap();
    let state: BackendState =
        serde_json::from_slice(&std::fs::read(&cfg.backend_state).unwrap()).unwrap();
    let backend = TestBackend::with_state(ServerUrls(cfg.base_url), state);
    run_download(backend, &cfg.mount, &cfg.dest).await;
}

fn recorded(mount: &Path) -> Vec<Chunk> {
    StateDir::new(mount).load_lines(DOWNLOAD_CHUNKS).unwrap()
}

#[tokio::test]
async fn download_killed_with_sigkill_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(&tmp.path().join("store")).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let src = tmp.path().join("src");
    for i in 0..40u64 {
        let data = if i % 2 == 0 {
            archive_support::noise(i, 150_000)
        } else {
            archive_support::json_lines(i, 150_000)
        };
        archive_support::write_file(&src, &format!("d{}/f{i}", i % 3), &data, 0o640);
    }
    std::fs::create_dir_all(src.join("empty")).unwrap();
    let params = UploadParams {
        source: src.clone(),
        exclude: vec![],
        compression: Some(Compression::Zstd(3)),
        number_of_chunks: Some(CHUNKS),
        url_expires_secs: None,
        data_version: None,
        data_stamp: Some(SystemTime::UNIX_EPOCH),
    };
    let up_mount = tmp.path().join("up");
    Uploader::new(
        backend.clone(),
        StateDir::new(&up_mount),
        Progress::none(),
        opts(),
        CancellationToken::new(),
    )
    .run(&params)
    .await
    .unwrap();

    let state_file = tmp.path().join("backend.json");
    std::fs::write(&state_file, backend.snapshot()).unwrap();
    let mount = tmp.path().join("down");
    let dest = mount.join("protocol_data");
    let cfg = ChildConfig {
        base_url: server.base.clone(),
        backend_state: state_file,
        mount: mount.clone(),
        dest: dest.clone(),
    };
    // Slow responses so the child is killed with some chunks done and some in flight.
    server.faults().get_delay = Duration::from_millis(250);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_download", "--exact", "--ignored", "--nocapture"])
        .env("ARCHIVE_CHILD_CONFIG", serde_json::to_string(&cfg).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Kill while a chunk is in flight (requested, not yet recorded), after some are done.
    while recorded(&mount).len() < 3 || server.total_gets() as usize <= recorded(&mount).len() {
        assert!(Instant::now() < deadline, "child made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "child ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = recorded(&mount);
    assert!(
        (done_before.len() as u32) < CHUNKS,
        "the child finished before it was killed; slow the server down"
    );
    assert!(
        server.total_gets() as usize > done_before.len(),
        "chunks were in flight"
    );

    server.faults().get_delay = Duration::ZERO;
    server.reset_counters();
    let fetched = run_download(backend.clone(), &mount, &dest).await;
    assert_eq!(fetched as usize, CHUNKS as usize - done_before.len());
    for c in &done_before {
        assert_eq!(
            server.gets(&c.key),
            0,
            "recorded chunk {} fetched again",
            c.index
        );
    }
    assert_same_tree(&src, &dest);
}
