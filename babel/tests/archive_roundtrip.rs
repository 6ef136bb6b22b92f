//! Archive upload → download round trips against an in-process object server: byte-identical
//! trees (contents, modes, empty files and directories), corrupt chunks re-fetched, failed
//! uploads resumed, progress reported.

#![allow(clippy::unwrap_used)]

mod archive_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use archive_support::{ObjectServer, ServerUrls, TestBackend, assert_same_tree};
use babel::archive::state::{
    DOWNLOAD_CHUNKS, DOWNLOAD_METADATA, Progress, StateDir, UPLOAD_BLUEPRINT, UPLOAD_CHUNKS,
};
use babel::archive::{
    ArchiveError, DownloadReport, Downloader, TransferOptions, UploadParams, UploadReport, Uploader,
};
use babel_api::job::{Compression, JobProgress};
use tokio_util::sync::CancellationToken;

fn opts() -> TransferOptions {
    TransferOptions {
        retry_base: Duration::from_millis(1),
        record_interval: Duration::ZERO,
        max_runners: 3,
        ..TransferOptions::default()
    }
}

/// Many small files, a large file with holes, empty files and directories, varied modes,
/// plus files the upload excludes (`*.tmp`, `cache/**`).
fn build_tree(root: &Path) {
    use archive_support::{json_lines, noise, write_file};
    for i in 0..1200u64 {
        let size = (i * 997 % 4096) as usize;
        let data = if i % 2 == 0 {
            noise(i, size)
        } else {
            json_lines(i, size)
        };
        let mode = [0o644, 0o600, 0o755, 0o444][(i % 4) as usize];
        write_file(root, &format!("db/{:02}/f{i:04}.dat", i % 37), &data, mode);
    }
    // Large and sparse-ish: 24 MiB with three 1 MiB islands of data.
    let big = root.join("db/big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(24 << 20).unwrap();
    for (n, at) in [0u64, 9 << 20, (23 << 20) + 5].into_iter().enumerate() {
        use std::os::unix::fs::FileExt;
        f.write_all_at(&noise(n as u64, 1 << 20)[..(1 << 20) - 5], at)
            .unwrap();
    }
    write_file(root, "state/chain.json", &json_lines(7, 5 << 20), 0o640);
    write_file(root, "state/empty", b"", 0o600);
    write_file(root, "zzz_last_empty", b"", 0o644);
    std::fs::create_dir_all(root.join("empty/a/b")).unwrap();
    std::fs::create_dir_all(root.join("private")).unwrap();
    std::fs::set_permissions(
        root.join("private"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    write_file(root, "state/x.tmp", b"scratch", 0o644);
    write_file(root, "cache/c1", b"cached", 0o644);
}

fn remove_excluded(root: &Path) {
    std::fs::remove_file(root.join("state/x.tmp")).unwrap();
    std::fs::remove_file(root.join("cache/c1")).unwrap();
}

struct Node {
    _tmp: tempfile::TempDir,
    mount: std::path::PathBuf,
    data: std::path::PathBuf,
    job: std::path::PathBuf,
}

fn node() -> Node {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("blockjoy");
    let data = mount.join("protocol_data");
    let job = tmp.path().join("job");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&job).unwrap();
    Node {
        _tmp: tmp,
        mount,
        data,
        job,
    }
}

fn params(src: &Path, compression: Option<Compression>, chunks: Option<u32>) -> UploadParams {
    UploadParams {
        source: src.to_path_buf(),
        exclude: vec!["*.tmp".into(), "cache/**".into()],
        compression,
        number_of_chunks: chunks,
        url_expires_secs: None,
        data_version: None,
        data_stamp: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000)),
    }
}

async fn upload(
    backend: &Arc<TestBackend>,
    node: &Node,
    p: &UploadParams,
) -> Result<UploadReport, ArchiveError> {
    Uploader::new(
        backend.clone(),
        StateDir::new(&node.mount),
        Progress::in_job_dir(&node.job),
        opts(),
        CancellationToken::new(),
    )
    .run(p)
    .await
}

async fn download(backend: &Arc<TestBackend>, node: &Node) -> Result<DownloadReport, ArchiveError> {
    Downloader::new(
        backend.clone(),
        StateDir::new(&node.mount),
        Progress::in_job_dir(&node.job),
        opts(),
        CancellationToken::new(),
    )
    .run(&node.data)
    .await
}

fn progress(node: &Node) -> JobProgress {
    serde_json::from_slice(&std::fs::read(node.job.join("progress.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn zstd_round_trip_is_byte_identical_with_modes_and_empty_dirs() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    build_tree(&up.data);
    let report = upload(
        &backend,
        &up,
        &params(&up.data, Some(Compression::Zstd(3)), Some(7)),
    )
    .await
    .unwrap();
    assert_eq!(report.chunks, 7);
    assert_eq!(report.uploaded_now, 7);
    let state = StateDir::new(&up.mount);
    assert!(!state.exists(UPLOAD_BLUEPRINT) && !state.exists(UPLOAD_CHUNKS));
    assert_eq!(progress(&up).current, 7);
    let manifest = backend.manifest(report.data_version).unwrap();
    assert_eq!(manifest.compression, Some(Compression::Zstd(3)));
    assert!(
        manifest
            .chunks
            .iter()
            .all(|c| c.url.is_none() && !c.key.is_empty())
    );
    let stored: u64 = manifest.chunks.iter().map(|c| c.size).sum();
    assert!(
        stored < report.total_size,
        "{stored} vs {}",
        report.total_size
    );

    let down = node();
    let got = download(&backend, &down).await.unwrap();
    assert_eq!((got.chunks, got.downloaded_now), (7, 7));
    remove_excluded(&up.data);
    assert_same_tree(&up.data, &down.data);
    let p = progress(&down);
    assert_eq!((p.total, p.current, p.message.as_str()), (7, 7, "chunks"));
    // All files share one modification time.
    let m = |p: &str| {
        std::fs::metadata(down.data.join(p))
            .unwrap()
            .modified()
            .unwrap()
    };
    assert_eq!(m("db/big.bin"), m("state/empty"));

    // A second run finds every chunk recorded and fetches nothing.
    server.reset_counters();
    let again = download(&backend, &down).await.unwrap();
    assert_eq!(again.downloaded_now, 0);
    assert_eq!(server.total_gets(), 0);
    assert_same_tree(&up.data, &down.data);
}

#[tokio::test]
async fn uncompressed_round_trip_with_default_chunking() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    build_tree(&up.data);
    let report = upload(&backend, &up, &params(&up.data, None, None))
        .await
        .unwrap();
    assert_eq!(report.chunks, 1);
    let manifest = backend.manifest(report.data_version).unwrap();
    assert_eq!(manifest.chunks[0].size, report.total_size);
    let down = node();
    download(&backend, &down).await.unwrap();
    remove_excluded(&up.data);
    assert_same_tree(&up.data, &down.data);
}

#[tokio::test]
async fn tree_of_only_empty_files_and_dirs_round_trips() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    archive_support::write_file(&up.data, "a/empty", b"", 0o600);
    std::fs::create_dir_all(up.data.join("b/c")).unwrap();
    let report = upload(
        &backend,
        &up,
        &params(&up.data, Some(Compression::Zstd(3)), Some(3)),
    )
    .await
    .unwrap();
    assert_eq!(report.total_size, 0);
    assert_eq!(server.total_puts(), 0, "nothing to store");
    let down = node();
    download(&backend, &down).await.unwrap();
    assert_same_tree(&up.data, &down.data);
}

#[tokio::test]
async fn corrupt_chunk_is_detected_and_fetched_again() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    build_tree(&up.data);
    let report = upload(
        &backend,
        &up,
        &params(&up.data, Some(Compression::Zstd(3)), Some(5)),
    )
    .await
    .unwrap();
    let manifest = backend.manifest(report.data_version).unwrap();
    let victim = manifest.chunks[2].key.clone();
    server.faults().corrupt_next_get.insert(victim.clone());
    let down = node();
    let got = download(&backend, &down).await.unwrap();
    assert_eq!(got.downloaded_now, 5);
    assert_eq!(server.gets(&victim), 2, "corrupt chunk fetched again");
    assert_eq!(server.gets(&manifest.chunks[1].key), 1);
    remove_excluded(&up.data);
    assert_same_tree(&up.data, &down.data);
}

#[tokio::test]
async fn chunk_that_stays_corrupt_fails_the_download_and_keeps_other_chunks() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    build_tree(&up.data);
    let report = upload(
        &backend,
        &up,
        &params(&up.data, Some(Compression::Zstd(3)), Some(4)),
    )
    .await
    .unwrap();
    let manifest = backend.manifest(report.data_version).unwrap();
    // Damage the stored object itself: every fetch is corrupt.
    let victim = &manifest.chunks[3];
    let obj = server.object_path(&victim.key);
    let mut bytes = std::fs::read(&obj).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&obj, &bytes).unwrap();
    let down = node();
    let err = download(&backend, &down).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("chunk '{}' download failed", victim.key)),
        "{err}"
    );
    assert!(
        err.contains("checksum mismatch") || err.contains("decoding"),
        "{err}"
    );
    let state = StateDir::new(&down.mount);
    assert!(state.exists(DOWNLOAD_METADATA));
    let recorded: Vec<babel::archive::model::Chunk> = state.load_lines(DOWNLOAD_CHUNKS).unwrap();
    assert!(recorded.iter().all(|c| c.index != 3));
}

#[tokio::test]
async fn failed_upload_resumes_without_sending_finished_chunks_again() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    build_tree(&up.data);
    let p = params(&up.data, Some(Compression::Zstd(3)), Some(6));
    server.faults().fail_puts.insert("archive/1/00004".into());
    let err = upload(&backend, &up, &p).await.unwrap_err().to_string();
    assert!(
        err.contains("chunk 'archive/1/00004' upload failed"),
        "{err}"
    );
    assert!(err.contains("500"), "{err}");
    let state = StateDir::new(&up.mount);
    assert!(
        state.exists(UPLOAD_BLUEPRINT),
        "recoverable failure keeps the blueprint"
    );
    assert!(
        backend.manifest(1).is_none(),
        "no manifest before every chunk is up"
    );

    server.faults().fail_puts.clear();
    server.reset_counters();
    let report = upload(&backend, &up, &p).await.unwrap();
    assert_eq!(report.data_version, 1);
    assert_eq!(report.uploaded_now, 1);
    assert_eq!(server.total_puts(), 1);
    assert_eq!(server.puts("archive/1/00004"), 1);
    let down = node();
    download(&backend, &down).await.unwrap();
    remove_excluded(&up.data);
    assert_same_tree(&up.data, &down.data);
}

#[tokio::test]
async fn changed_data_stamp_starts_a_new_upload() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let up = node();
    archive_support::write_file(&up.data, "a", &archive_support::noise(1, 100_000), 0o644);
    let mut p = params(&up.data, Some(Compression::Zstd(3)), Some(2));
    server.faults().fail_puts.insert("archive/1/00001".into());
    upload(&backend, &up, &p).await.unwrap_err();
    server.faults().fail_puts.clear();
    p.data_stamp = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2000));
    let report = upload(&backend, &up, &p).await.unwrap();
    assert_eq!(
        report.data_version, 2,
        "a new version, not the stale blueprint's"
    );
    assert_eq!(report.uploaded_now, 2);
}

#[tokio::test]
async fn bad_parameters_and_missing_archive_are_clear_errors() {
    let store = tempfile::tempdir().unwrap();
    let server = ObjectServer::start(store.path()).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    let n = node();
    let mut p = params(&n.data, None, Some(0));
    let err = upload(&backend, &n, &p).await.unwrap_err().to_string();
    assert!(err.contains("need at least one"), "{err}");
    p.number_of_chunks = None;
    p.exclude = vec!["[".into()];
    let err = upload(&backend, &n, &p).await.unwrap_err().to_string();
    assert!(err.contains("invalid exclude pattern '['"), "{err}");
    p.exclude.clear();
    p.source = n.data.join("missing");
    let err = upload(&backend, &n, &p).await.unwrap_err().to_string();
    assert!(err.contains("invalid source directory"), "{err}");
    let err = download(&backend, &n).await.unwrap_err();
    assert!(matches!(err, ArchiveError::NotFound { .. }), "{err}");
}
