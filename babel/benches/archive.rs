//! Archive transfer bench (perf-anchors Targets T4, T5, T5b), side by side with the CLI
//! pipelines on the same data in the same run. Loopback only; data generated here.
//!
//! `cargo bench -p babel --bench archive` prints MB/s (10^6 bytes of uncompressed content):
//! * T4 upload of mixed data (random + JSON-like halves) vs `tar | zstd -3 -T2`;
//! * T5 download of large files to disk vs `curl | zstd -d`;
//! * T5b download of a many-small-files tree to tmpfs vs GNU tar extraction.
//!
//! Each figure is the median of `RUNS` runs. Set `ARCHIVE_BENCH_MB` to change the data size.

#![allow(clippy::unwrap_used)]

#[path = "../tests/archive_support/mod.rs"]
mod archive_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use archive_support::{ObjectServer, ServerUrls, TestBackend, json_lines, noise, write_file};
use babel::archive::state::{Progress, StateDir};
use babel::archive::{Downloader, TransferOptions, UploadParams, Uploader};
use babel_api::job::Compression;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn sh(script: &str) -> Duration {
    let t = Instant::now();
    let ok = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(ok.success(), "{script}");
    t.elapsed()
}

fn dir_size(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

async fn upload(backend: &Arc<TestBackend>, src: &Path, mount: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(mount);
    let params = UploadParams {
        source: src.to_path_buf(),
        exclude: vec![],
        compression: Some(Compression::Zstd(3)),
        number_of_chunks: None,
        url_expires_secs: None,
        data_version: None,
        data_stamp: Some(SystemTime::now()),
    };
    let t = Instant::now();
    Uploader::new(
        backend.clone(),
        StateDir::new(mount),
        Progress::none(),
        TransferOptions::default(),
        CancellationToken::new(),
    )
    .run(&params)
    .await
    .unwrap();
    t.elapsed()
}

async fn download(backend: &Arc<TestBackend>, mount: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(mount);
    let t = Instant::now();
    Downloader::new(
        backend.clone(),
        StateDir::new(mount),
        Progress::none(),
        TransferOptions::default(),
        CancellationToken::new(),
    )
    .run(&mount.join("protocol_data"))
    .await
    .unwrap();
    t.elapsed()
}

#[tokio::main]
async fn main() {
    let mb: usize = std::env::var("ARCHIVE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let disk = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let server = ObjectServer::start(&shm.path().join("store")).await;
    let backend = TestBackend::new(ServerUrls(server.base.clone()));

    // Mixed large files: 8 MiB pieces, half random, half JSON lines.
    let mixed = shm.path().join("mixed");
    for i in 0..(mb / 8).max(1) as u64 {
        let mut data = noise(i, 4 << 20);
        data.extend(json_lines(i, 4 << 20));
        write_file(&mixed, &format!("f{i:03}"), &data, 0o644);
    }
    let mixed_bytes = dir_size(&mixed);
    println!(
        "data: {:.0} MB mixed (random + JSON halves)",
        mixed_bytes as f64 / 1e6
    );

    // T4 upload.
    let up_mount = shm.path().join("up");
    let mut ours = Vec::new();
    for _ in 0..RUNS {
        ours.push(upload(&backend, &mixed, &up_mount).await);
    }
    let cli: Vec<_> = (0..RUNS)
        .map(|_| {
            sh(&format!(
                "tar -C {} -cf - . | zstd -3 -T2 -q -f -o {}/mixed.tar.zst",
                mixed.display(),
                shm.path().display()
            ))
        })
        .collect();
    println!(
        "T4 upload (read+zstd-3+blake3+PUT): {:.0} MB/s | tar | zstd -3 -T2: {:.0} MB/s (target >= 500)",
        mbps(mixed_bytes, median(ours)),
        mbps(mixed_bytes, median(cli))
    );

    // T5 download to disk.
    let zst = shm.path().join("mixed.tar.zst");
    let key = "cli/mixed.tar.zst";
    std::fs::copy(&zst, server.object_path(key)).unwrap();
    let down_mount = disk.path().join("down");
    let mut ours = Vec::new();
    for _ in 0..RUNS {
        ours.push(download(&backend, &down_mount).await);
    }
    let cli: Vec<_> = (0..RUNS)
        .map(|_| {
            sh(&format!(
                "curl -sf {} | zstd -d -q -f -o {}/mixed.tar",
                server.url(key),
                disk.path().display()
            ))
        })
        .collect();
    println!(
        "T5 download to disk (GET+blake3+zstd -d+pwrite+sync): {:.0} MB/s | curl | zstd -d: {:.0} MB/s (target >= 1000)",
        mbps(mixed_bytes, median(ours)),
        mbps(mixed_bytes, median(cli))
    );
    let _ = std::fs::remove_dir_all(disk.path().join("down"));

    // T5b many small files on tmpfs: 20k files, ~15 KiB each.
    let small = shm.path().join("small");
    for i in 0..20_000u64 {
        let size = 4_000 + (i * 7919 % 22_000) as usize;
        let data = if i % 2 == 0 {
            noise(i, size)
        } else {
            json_lines(i, size)
        };
        write_file(&small, &format!("d{:03}/f{i:05}", i % 200), &data, 0o644);
    }
    let small_bytes = dir_size(&small);
    let backend = TestBackend::new(ServerUrls(server.base.clone()));
    upload(&backend, &small, &shm.path().join("up-small")).await;
    let small_mount = shm.path().join("down-small");
    let mut ours = Vec::new();
    for _ in 0..RUNS {
        ours.push(download(&backend, &small_mount).await);
    }
    sh(&format!(
        "tar -C {} -cf {}/small.tar .",
        small.display(),
        shm.path().display()
    ));
    sh(&format!(
        "zstd -3 -T2 -q -f {0}/small.tar -o {0}/small.tar.zst",
        shm.path().display()
    ));
    let x = shm.path().join("x");
    let tar_x: Vec<_> = (0..RUNS)
        .map(|_| {
            let _ = std::fs::remove_dir_all(&x);
            std::fs::create_dir_all(&x).unwrap();
            sh(&format!(
                "tar -C {} -xf {}/small.tar",
                x.display(),
                shm.path().display()
            ))
        })
        .collect();
    let zstd_tar_x: Vec<_> = (0..RUNS)
        .map(|_| {
            let _ = std::fs::remove_dir_all(&x);
            std::fs::create_dir_all(&x).unwrap();
            sh(&format!(
                "zstd -dc {}/small.tar.zst | tar -C {} -xf -",
                shm.path().display(),
                x.display()
            ))
        })
        .collect();
    let ours = mbps(small_bytes, median(ours));
    let tar = mbps(small_bytes, median(tar_x));
    println!(
        "T5b small files (20k, {:.0} MB) to tmpfs: {ours:.0} MB/s | tar -x: {tar:.0} MB/s | zstd -d | tar -x: {:.0} MB/s => {:.0}% of tar (target >= 80%)",
        small_bytes as f64 / 1e6,
        mbps(small_bytes, median(zstd_tar_x)),
        ours / tar * 100.0
    );
}
