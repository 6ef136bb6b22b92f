//! Archive round trip through an S3-compatible store (moto) with presigned PUT/GET URLs.
//! Needs `moto_server` (installed by scripts/setup); with `CI=true` a missing moto fails.

#![allow(clippy::unwrap_used)]

mod archive_support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use archive_support::{TestBackend, UrlMaker, assert_same_tree};
use async_trait::async_trait;
use babel::archive::state::{Progress, StateDir};
use babel::archive::{Downloader, TransferOptions, UploadParams, Uploader};
use babel_api::job::Compression;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::signer::{Method, Signer};
use tokio_util::sync::CancellationToken;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_binary() -> Option<String> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Some(p);
    }
    let ok = Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| "moto_server".to_string())
}

async fn start_moto() -> Option<(Moto, String)> {
    let Some(bin) = moto_binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto_server not found (CI=true): run scripts/setup, which installs moto[server]"
        );
        eprintln!("SKIPPING S3 archive test: moto_server not installed (run scripts/setup)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(&base).send().await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some((moto, base))
}

struct S3Urls(AmazonS3);

#[async_trait]
impl UrlMaker for S3Urls {
    async fn put_url(&self, key: &str) -> String {
        let p = object_store::path::Path::from(key);
        let url = self
            .0
            .signed_url(Method::PUT, &p, Duration::from_secs(3600));
        url.await.unwrap().to_string()
    }
    async fn get_url(&self, key: &str) -> String {
        let p = object_store::path::Path::from(key);
        let url = self
            .0
            .signed_url(Method::GET, &p, Duration::from_secs(3600));
        url.await.unwrap().to_string()
    }
}

#[tokio::test]
async fn round_trip_through_s3_presigned_urls() {
    let Some((_moto, base)) = start_moto().await else {
        return;
    };
    let bucket = "archives";
    let resp = reqwest::Client::new()
        .put(format!("{base}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "create bucket: {}",
        resp.status()
    );
    let s3 = AmazonS3Builder::new()
        .with_endpoint(&base)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let backend: Arc<TestBackend> = TestBackend::new(S3Urls(s3));

    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("up/protocol_data");
    for i in 0..120u64 {
        let data = if i % 2 == 0 {
            archive_support::noise(i, (i as usize * 1531) % 60_000)
        } else {
            archive_support::json_lines(i, 40_000)
        };
        archive_support::write_file(&src, &format!("d{}/f{i}", i % 5), &data, 0o640);
    }
    archive_support::write_file(&src, "big", &archive_support::noise(9, 3 << 20), 0o600);
    std::fs::create_dir_all(src.join("empty/dir")).unwrap();
    let opts = TransferOptions {
        retry_base: Duration::from_millis(10),
        record_interval: Duration::ZERO,
        ..TransferOptions::default()
    };
    let params = UploadParams {
        source: src.clone(),
        exclude: vec![],
        compression: Some(Compression::Zstd(3)),
        number_of_chunks: Some(5),
        url_expires_secs: Some(600),
        data_version: None,
        data_stamp: Some(SystemTime::UNIX_EPOCH),
    };
    let report = Uploader::new(
        backend.clone(),
        StateDir::new(&tmp.path().join("up")),
        Progress::none(),
        opts.clone(),
        CancellationToken::new(),
    )
    .run(&params)
    .await
    .unwrap();
    assert_eq!(report.chunks, 5);

    let dest = tmp.path().join("down/protocol_data");
    let got = Downloader::new(
        backend,
        StateDir::new(&tmp.path().join("down")),
        Progress::none(),
        opts,
        CancellationToken::new(),
    )
    .run(&dest)
    .await
    .unwrap();
    assert_eq!(got.downloaded_now, 5);
    assert_same_tree(&src, &dest);
}
