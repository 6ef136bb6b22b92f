//! Archive transfer bench (perf-anchors Targets T4, T5, T5b), side by side with the CLI
//! pipelines on the same data in the same run. Loopback only; data generated here.
//!
//! `cargo bench -p babel --bench archive` prints MB/s (10^6 bytes of uncompressed content):
//! * T4 upload of mixed data (random + JSON-like halves) vs `tar | zstd -3 -T2`;
//! * T5 download of large files to disk vs `curl | zstd -d`;
//! * T5b download of a many-small-files tree to tmpfs and to disk vs GNU tar extraction.
//!
//! Each figure is the median of `RUNS` runs. Set `ARCHIVE_BENCH_MB` to change the data size
//! and `ARCHIVE_BENCH_ONLY` (e.g. `t5b` or `t4,t5`) to run only some of the targets;
//! `ARCHIVE_BENCH_CPU=1` prints the CPU time of each download.

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

/// CPU time (user + system) of this process so far, object server included.
fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; it is zero-initialised and ours.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn download(backend: &Arc<TestBackend>, mount: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(mount);
    let cpu = cpu_time();
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
    let wall = t.elapsed();
    if std::env::var_os("ARCHIVE_BENCH_CPU").is_some() {
        println!(
            "  download: {wall:.2?} wall, {:.2?} CPU (object server included)",
            cpu_time() - cpu
        );
    }
    wall
}

fn wanted(target: &str) -> bool {
    std::env::var("ARCHIVE_BENCH_ONLY")
        .map(|only| {
            only.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(target))
        })
        .unwrap_or(true)
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
    let tmp = shm.path();

    if wanted("t4") || wanted("t5") {
        // Mixed large files: 8 MiB pieces, half random, half JSON lines.
        let mixed = tmp.join("mixed");
        for i in 0..(mb / 8).max(1) as u64 {
            let mut data = noise(i, 4 << 20);
            data.extend(json_lines(i, 4 << 20));
            write_file(&mixed, &format!("f{i:03}"), &data, 0o644);
        }
        let bytes = dir_size(&mixed);
        println!(
            "data: {:.0} MB mixed (random + JSON halves)",
            bytes as f64 / 1e6
        );
        let backend = TestBackend::new(ServerUrls(server.base.clone()));
        sh(&format!(
            "tar -C {} -cf {tmp}/mixed.tar . && zstd -3 -T2 -q -f {tmp}/mixed.tar",
            mixed.display(),
            tmp = tmp.display()
        ));
        // The compressor alone on the same bytes: the ceiling this data allows here.
        let zstd_alone = median(
            (0..RUNS)
                .map(|_| {
                    sh(&format!(
                        "zstd -3 -T2 -q -c {}/mixed.tar >/dev/null",
                        tmp.display()
                    ))
                })
                .collect(),
        );
        println!(
            "  calibration: zstd -3 -T2 alone {:.0} MB/s (perf-anchors data: 967-1107), zstd -d alone {:.0} MB/s (anchors: 2168-2280)",
            mbps(bytes, zstd_alone),
            mbps(
                bytes,
                median(
                    (0..RUNS)
                        .map(|_| sh(&format!(
                            "zstd -d -q -c {}/mixed.tar.zst >/dev/null",
                            tmp.display()
                        )))
                        .collect()
                )
            )
        );
        let up_mount = tmp.join("up");
        let mut ours = Vec::new();
        for _ in 0..RUNS {
            ours.push(upload(&backend, &mixed, &up_mount).await);
        }
        if wanted("t4") {
            let cli: Vec<_> = (0..RUNS)
                .map(|_| {
                    sh(&format!(
                        "tar -C {} -cf - . | zstd -3 -T2 -q -f -o {}/cli.tar.zst",
                        mixed.display(),
                        tmp.display()
                    ))
                })
                .collect();
            let ours = median(ours);
            println!(
                "T4 upload (read+zstd-3+blake3+PUT): {:.0} MB/s | tar | zstd -3 -T2: {:.0} MB/s | {:.0}% of zstd alone (target >= 500 MB/s on anchor data, i.e. >= 50% of zstd alone)",
                mbps(bytes, ours),
                mbps(bytes, median(cli)),
                zstd_alone.as_secs_f64() / ours.as_secs_f64() * 100.0
            );
        }
        if wanted("t5") {
            let key = "cli/mixed.tar.zst";
            std::fs::copy(tmp.join("mixed.tar.zst"), server.object_path(key)).unwrap();
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
                mbps(bytes, median(ours)),
                mbps(bytes, median(cli))
            );
            let _ = std::fs::remove_dir_all(&down_mount);
        }
    }

    if wanted("t5b") {
        // Many small files: 20k files, ~15 KiB each.
        let small = tmp.join("small");
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
        upload(&backend, &small, &tmp.join("up-small")).await;
        sh(&format!(
            "tar -C {} -cf {tmp}/small.tar . && zstd -3 -T2 -q -f {tmp}/small.tar -o {tmp}/small.tar.zst",
            small.display(),
            tmp = tmp.display()
        ));
        // tmpfs shows the CPU side; the disk (where protocol data lives) adds file creation
        // and writeback. Runs alternate between ours and tar, so drift hits both alike.
        for (fs, base) in [("tmpfs", tmp), ("disk", disk.path())] {
            let x = base.join("x");
            let mount = base.join("down-small");
            // Each timed run starts with no dirty pages left by the one before.
            let settle = || {
                let _ = std::fs::remove_dir_all(&x);
                let _ = std::fs::remove_dir_all(&mount);
                std::fs::create_dir_all(&x).unwrap();
                sh("sync");
            };
            let tar = |cmd: String| -> Duration {
                settle();
                sh(&cmd)
            };
            let (mut ours, mut tar_x, mut tar_sync, mut zstd_tar_x) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..RUNS {
                settle();
                ours.push(download(&backend, &mount).await);
                tar_x.push(tar(format!(
                    "tar -C {} -xf {}/small.tar",
                    x.display(),
                    tmp.display()
                )));
                tar_sync.push(tar(format!(
                    "tar -C {0} -xf {1}/small.tar && sync -f {0}",
                    x.display(),
                    tmp.display()
                )));
                zstd_tar_x.push(tar(format!(
                    "zstd -dc {}/small.tar.zst | tar -C {} -xf -",
                    tmp.display(),
                    x.display()
                )));
            }
            let _ = std::fs::remove_dir_all(&x);
            let _ = std::fs::remove_dir_all(&mount);
            let ours = mbps(small_bytes, median(ours));
            let tar = mbps(small_bytes, median(tar_x));
            let tar_sync = mbps(small_bytes, median(tar_sync));
            println!(
                "T5b small files (20k, {:.0} MB) to {fs}: {ours:.0} MB/s | tar -x: {tar:.0} MB/s | tar -x + sync: {tar_sync:.0} MB/s | zstd -d | tar -x: {:.0} MB/s => {:.0}% of tar, {:.0}% of tar + sync (target >= 80%)",
                small_bytes as f64 / 1e6,
                mbps(small_bytes, median(zstd_tar_x)),
                ours / tar * 100.0,
                ours / tar_sync * 100.0
            );
        }
    }
}
