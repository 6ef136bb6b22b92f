//! Test fixtures for archive transfers: an in-process object server (PUT/GET with Range,
//! fault injection, request counters), an `ArchiveBackend` that hands out its URLs (or S3
//! presigned URLs), and tree generation / comparison helpers. Shared by the archive tests
//! and the archive bench.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use babel::archive::model::{Chunk, DownloadManifest};
use babel::archive::{ArchiveBackend, ArchiveError};
use babel_api::pb::babel::v1 as pb;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

// --- object server ------------------------------------------------------------------------

#[derive(Default)]
pub struct Faults {
    /// Keys whose next GET has one byte flipped.
    pub corrupt_next_get: HashSet<String>,
    /// Keys whose PUTs fail with 500.
    pub fail_puts: HashSet<String>,
    /// Delay before answering each GET.
    pub get_delay: Duration,
}

#[derive(Default)]
pub struct Counters {
    pub gets: HashMap<String, u32>,
    pub puts: HashMap<String, u32>,
}

struct ServerState {
    dir: PathBuf,
    faults: Mutex<Faults>,
    counters: Mutex<Counters>,
}

/// A loopback object store: `PUT /o/<key>` stores the body, `GET /o/<key>` serves it with
/// `Range` support.
pub struct ObjectServer {
    pub base: String,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl ObjectServer {
    /// Serves objects stored as files under `dir`.
    pub async fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let state = Arc::new(ServerState {
            dir: dir.to_path_buf(),
            faults: Mutex::default(),
            counters: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/o/{*key}", get(get_object).put(put_object))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    pub fn url(&self, key: &str) -> String {
        format!("{}/o/{key}", self.base)
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.state.faults.lock().unwrap()
    }

    pub fn gets(&self, key: &str) -> u32 {
        self.state
            .counters
            .lock()
            .unwrap()
            .gets
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_gets(&self) -> u32 {
        self.state.counters.lock().unwrap().gets.values().sum()
    }

    pub fn puts(&self, key: &str) -> u32 {
        self.state
            .counters
            .lock()
            .unwrap()
            .puts
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_puts(&self) -> u32 {
        self.state.counters.lock().unwrap().puts.values().sum()
    }

    pub fn reset_counters(&self) {
        *self.state.counters.lock().unwrap() = Counters::default();
    }

    pub fn object_path(&self, key: &str) -> PathBuf {
        self.state.dir.join(key.replace('/', "_"))
    }
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn put_object(
    State(st): State<Arc<ServerState>>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Like S3 with a presigned URL: the length must be declared, not chunked.
    if !headers.contains_key(header::CONTENT_LENGTH) {
        return (StatusCode::LENGTH_REQUIRED, "MissingContentLength").into_response();
    }
    *st.counters
        .lock()
        .unwrap()
        .puts
        .entry(key.clone())
        .or_default() += 1;
    if st.faults.lock().unwrap().fail_puts.contains(&key) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    let path = st.dir.join(key.replace('/', "_"));
    let tmp = path.with_extension("part");
    // One blocking writer per body (tokio::fs would hop threads for every piece).
    let (tx, rx) = std::sync::mpsc::channel::<bytes::Bytes>();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        for piece in rx {
            f.write_all(&piece)?;
        }
        drop(f);
        std::fs::rename(&tmp, &path)
    });
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(b) => {
                if tx.send(b).is_err() {
                    break;
                }
            }
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    }
    drop(tx);
    match writer.await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn parse_range(headers: &HeaderMap, len: u64) -> Option<(u64, u64)> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        len - 1
    } else {
        b.parse().ok()?
    };
    Some((start, end.min(len.saturating_sub(1))))
}

async fn get_object(
    State(st): State<Arc<ServerState>>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    *st.counters
        .lock()
        .unwrap()
        .gets
        .entry(key.clone())
        .or_default() += 1;
    let (delay, corrupt) = {
        let mut f = st.faults.lock().unwrap();
        (f.get_delay, f.corrupt_next_get.remove(&key))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let path = st.dir.join(key.replace('/', "_"));
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = f.metadata().await.unwrap().len();
    let (status, start, end) = match parse_range(&headers, len) {
        Some((s, e)) if s <= e && e < len => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Some(_) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => (StatusCode::OK, 0, len),
    };
    f.seek(std::io::SeekFrom::Start(start)).await.unwrap();
    let reader = f.take(end - start);
    let mut first = corrupt;
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20).map(move |r| {
        r.map(|b| {
            if first && !b.is_empty() {
                first = false;
                let mut v = b.to_vec();
                v[0] ^= 0xff;
                bytes::Bytes::from(v)
            } else {
                b
            }
        })
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, (end - start).into());
    if status == StatusCode::PARTIAL_CONTENT {
        resp.headers_mut().insert(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1).parse().unwrap(),
        );
    }
    resp
}

// --- backend ------------------------------------------------------------------------------

/// Where chunk URLs point.
#[async_trait]
pub trait UrlMaker: Send + Sync {
    async fn put_url(&self, key: &str) -> String;
    async fn get_url(&self, key: &str) -> String;
}

/// URLs of an [`ObjectServer`] (by base URL, so another process can rebuild it).
pub struct ServerUrls(pub String);

#[async_trait]
impl UrlMaker for ServerUrls {
    async fn put_url(&self, key: &str) -> String {
        format!("{}/o/{key}", self.0)
    }
    async fn get_url(&self, key: &str) -> String {
        format!("{}/o/{key}", self.0)
    }
}

/// An in-memory control plane: allocates data versions, keeps manifests, signs URLs.
pub struct TestBackend {
    urls: Box<dyn UrlMaker>,
    pub state: Mutex<BackendState>,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct BackendState {
    pub last_version: u64,
    pub manifests: BTreeMap<u64, DownloadManifest>,
    #[serde(skip)]
    pub slot_requests: u32,
}

impl TestBackend {
    pub fn new(urls: impl UrlMaker + 'static) -> Arc<Self> {
        Arc::new(Self {
            urls: Box::new(urls),
            state: Mutex::default(),
        })
    }

    pub fn with_state(urls: impl UrlMaker + 'static, state: BackendState) -> Arc<Self> {
        Arc::new(Self {
            urls: Box::new(urls),
            state: Mutex::new(state),
        })
    }

    pub fn manifest(&self, version: u64) -> Option<DownloadManifest> {
        self.state.lock().unwrap().manifests.get(&version).cloned()
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(&*self.state.lock().unwrap()).unwrap()
    }
}

fn key_for(version: u64, index: u32) -> String {
    format!("archive/{version}/{index:05}")
}

#[async_trait]
impl ArchiveBackend for TestBackend {
    async fn download_metadata(&self) -> Result<pb::DownloadMetadata, ArchiveError> {
        let st = self.state.lock().unwrap();
        let (version, m) =
            st.manifests
                .iter()
                .next_back()
                .ok_or_else(|| ArchiveError::NotFound {
                    call: "download_metadata",
                    message: "no manifest".into(),
                })?;
        Ok(pb::DownloadMetadata {
            total_size: m.total_size,
            compression: m.compression.map(Into::into),
            chunks: m.chunks.len() as u32,
            data_version: *version,
        })
    }

    async fn download_chunks(
        &self,
        data_version: u64,
        indexes: &[u32],
    ) -> Result<Vec<pb::Chunk>, ArchiveError> {
        let chunks: Vec<Chunk> = {
            let st = self.state.lock().unwrap();
            let m = st
                .manifests
                .get(&data_version)
                .ok_or_else(|| ArchiveError::NotFound {
                    call: "download_chunks",
                    message: format!("version {data_version}"),
                })?;
            m.chunks
                .iter()
                .filter(|c| indexes.contains(&c.index))
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for mut c in chunks {
            c.url = Some(self.urls.get_url(&c.key).await);
            out.push(c.into());
        }
        Ok(out)
    }

    async fn upload_slots(
        &self,
        data_version: Option<u64>,
        indexes: &[u32],
        _url_expires_secs: u32,
    ) -> Result<pb::UploadSlots, ArchiveError> {
        let version = {
            let mut st = self.state.lock().unwrap();
            st.slot_requests += 1;
            match data_version {
                Some(v) => v,
                None => {
                    st.last_version += 1;
                    st.last_version
                }
            }
        };
        let mut slots = Vec::new();
        for &index in indexes {
            let key = key_for(version, index);
            slots.push(pb::Slot {
                index,
                url: self.urls.put_url(&key).await,
                key,
            });
        }
        Ok(pb::UploadSlots {
            slots,
            data_version: version,
        })
    }

    async fn put_download_manifest(
        &self,
        manifest: pb::DownloadManifest,
        data_version: u64,
    ) -> Result<(), ArchiveError> {
        let mut m = DownloadManifest::try_from(manifest)?;
        for (i, c) in m.chunks.iter_mut().enumerate() {
            c.index = i as u32;
        }
        self.state.lock().unwrap().manifests.insert(data_version, m);
        Ok(())
    }
}

// --- trees --------------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// JSON-like text lines with varying field values.
pub fn json_lines(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 256);
    let mut i = seed;
    while out.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let line = format!(
            "{{\"height\":{},\"hash\":\"{:016x}{:016x}\",\"txs\":{},\"peer\":\"10.0.{}.{}\",\"ok\":{}}}\n",
            i >> 40,
            i,
            i.rotate_left(17),
            (i >> 20) % 500,
            (i >> 8) % 256,
            (i >> 3) % 256,
            i.is_multiple_of(3)
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a file with the given mode.
pub fn write_file(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every entry under `root`: relative path → (is_dir, mode, blake3 of content).
pub fn tree_digest(root: &Path) -> BTreeMap<String, (bool, u32, String)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let meta = e.metadata().unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            out.insert(rel, (true, mode, String::new()));
        } else {
            let mut h = blake3::Hasher::new();
            h.update_reader(std::fs::File::open(e.path()).unwrap())
                .unwrap();
            out.insert(rel, (false, mode, h.finalize().to_hex().to_string()));
        }
    }
    out
}

/// Asserts two trees hold the same entries, modes and contents.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let a = tree_digest(expected);
    let b = tree_digest(actual);
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "missing {only_a:?}, extra {only_b:?}"
    );
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "entry {k} differs");
    }
}

// --- fake host engine ---------------------------------------------------------------------

/// The host's `BabelEngine` service backed by a [`TestBackend`]; errors reported through
/// `bv_error` are collected.
pub struct FakeEngine {
    pub backend: Arc<TestBackend>,
    pub bv_errors: Arc<Mutex<Vec<String>>>,
}

fn to_status(e: ArchiveError) -> tonic::Status {
    match e {
        ArchiveError::NotFound { message, .. } => tonic::Status::not_found(message),
        other => tonic::Status::internal(other.to_string()),
    }
}

#[tonic::async_trait]
impl pb::babel_engine_server::BabelEngine for FakeEngine {
    async fn put_download_manifest(
        &self,
        req: tonic::Request<pb::PutDownloadManifestRequest>,
    ) -> Result<tonic::Response<pb::PutDownloadManifestResponse>, tonic::Status> {
        let r = req.into_inner();
        self.backend
            .put_download_manifest(r.manifest.unwrap_or_default(), r.data_version)
            .await
            .map_err(to_status)?;
        Ok(tonic::Response::new(pb::PutDownloadManifestResponse {}))
    }

    async fn get_download_metadata(
        &self,
        _req: tonic::Request<pb::GetDownloadMetadataRequest>,
    ) -> Result<tonic::Response<pb::DownloadMetadata>, tonic::Status> {
        let m = self.backend.download_metadata().await.map_err(to_status)?;
        Ok(tonic::Response::new(m))
    }

    async fn get_download_chunks(
        &self,
        req: tonic::Request<pb::GetDownloadChunksRequest>,
    ) -> Result<tonic::Response<pb::GetDownloadChunksResponse>, tonic::Status> {
        let r = req.into_inner();
        let chunks = self
            .backend
            .download_chunks(r.data_version, &r.indexes)
            .await
            .map_err(to_status)?;
        Ok(tonic::Response::new(pb::GetDownloadChunksResponse {
            chunks,
        }))
    }

    async fn get_upload_slots(
        &self,
        req: tonic::Request<pb::GetUploadSlotsRequest>,
    ) -> Result<tonic::Response<pb::UploadSlots>, tonic::Status> {
        let r = req.into_inner();
        let slots = self
            .backend
            .upload_slots(r.data_version, &r.indexes, r.url_expires_secs)
            .await
            .map_err(to_status)?;
        Ok(tonic::Response::new(slots))
    }

    async fn bv_error(
        &self,
        req: tonic::Request<pb::BvErrorRequest>,
    ) -> Result<tonic::Response<pb::BvErrorResponse>, tonic::Status> {
        self.bv_errors
            .lock()
            .unwrap()
            .push(req.into_inner().message);
        Ok(tonic::Response::new(pb::BvErrorResponse {}))
    }
}

/// Serves a [`FakeEngine`] on `socket` until the returned task is aborted.
pub fn serve_engine(socket: &Path, engine: FakeEngine) -> tokio::task::JoinHandle<()> {
    let _ = std::fs::remove_file(socket);
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(pb::babel_engine_server::BabelEngineServer::new(engine))
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
            .await;
    })
}
