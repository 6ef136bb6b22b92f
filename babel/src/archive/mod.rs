//! Protocol data archives: chunked, compressed, parallel and resumable
//! upload and download of `protocol_data_path`.
//!
//! * [`model`]: chunks, manifests and metadata (serde on disk, protobuf on the wire).
//! * [`state`]: transfer state under `<data_mount_point>/.babel_jobs/` and `progress.json`.
//! * [`plan`]: scanning the source tree and cutting it into chunks.
//! * [`pack`]: reading a chunk's ranges and compressing them (frame-parallel zstd).
//! * [`upload`] / [`download`]: the two transfers.
//! * [`fetch`]: ranged HTTP GETs with retries; [`unpack`]: verify, decompress and write.
//! * [`engine`]: the [`ArchiveBackend`] of a real node (the host's `BabelEngine` service).
//! * [`job`]: the `download` / `upload` job kinds of the job runner.
//!
//! Where URLs come from is behind [`ArchiveBackend`], so the transfers are tested against an
//! in-process object server and an S3-compatible store.

pub mod download;
pub mod engine;
pub(crate) mod error;
pub mod fetch;
pub mod finalize;
pub mod job;
pub mod model;
pub mod pack;
pub mod plan;
pub mod state;
pub mod unpack;
pub mod upload;

use std::time::Duration;

use async_trait::async_trait;
use babel_api::pb::babel::v1::{Chunk, DownloadManifest, DownloadMetadata, UploadSlots};

/// Where chunk URLs come from and where the manifest goes.
#[async_trait]
pub trait ArchiveBackend: Send + Sync {
    /// Metadata of the latest archive version; [`ArchiveError::NotFound`] when there is none.
    async fn download_metadata(&self) -> Result<DownloadMetadata, ArchiveError>;
    /// Chunk descriptors (with GET URLs) of the given indexes.
    async fn download_chunks(
        &self,
        data_version: u64,
        indexes: &[u32],
    ) -> Result<Vec<Chunk>, ArchiveError>;
    /// PUT URLs for the given slot indexes; `None` allocates a new data version.
    async fn upload_slots(
        &self,
        data_version: Option<u64>,
        indexes: &[u32],
        url_expires_secs: u32,
    ) -> Result<UploadSlots, ArchiveError>;
    /// Publishes the manifest of an uploaded version (sent last).
    async fn put_download_manifest(
        &self,
        manifest: DownloadManifest,
        data_version: u64,
    ) -> Result<(), ArchiveError>;
}

/// Tuning of a transfer (defaults in its `Default` impl).
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Concurrent HTTP requests.
    pub max_connections: usize,
    /// Chunks in flight.
    pub max_runners: usize,
    /// Retries of one HTTP part / chunk after the first attempt.
    pub retries: u32,
    /// First retry delay; doubles per retry.
    pub retry_base: Duration,
    /// Largest ranged GET.
    pub part_size: u64,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// How long finished download chunks may wait before they are made durable (syncfs)
    /// and recorded; zero records each chunk at once.
    pub record_interval: Duration,
    /// Threads compressing/decompressing (default: CPU count).
    pub cpu_threads: usize,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            max_connections: 3,
            max_runners: 8,
            retries: 5,
            retry_base: Duration::from_millis(500),
            part_size: 128 * 1024 * 1024,
            request_timeout: Duration::from_secs(600),
            record_interval: Duration::from_secs(2),
            cpu_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

impl TransferOptions {
    /// The defaults overridden by a job's `max_connections` / `max_runners`.
    pub fn with_limits(max_connections: Option<u32>, max_runners: Option<u32>) -> Self {
        let mut o = Self::default();
        if let Some(c) = max_connections {
            o.max_connections = (c as usize).max(1);
        }
        if let Some(r) = max_runners {
            o.max_runners = (r as usize).clamp(1, 1024);
        }
        o
    }

    pub(crate) fn retry_delay(&self, attempt: u32) -> Duration {
        self.retry_base.saturating_mul(1 << attempt.min(16))
    }

    pub(crate) fn http_client(&self) -> Result<reqwest::Client, ArchiveError> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(self.request_timeout)
                .pool_max_idle_per_host(self.max_connections.max(1))
        };
        crate::http_client::build(builder).map_err(ArchiveError::HttpClient)
    }
}

pub use download::DownloadReport;
pub use download::Downloader;
pub use error::{ArchiveError, ConfigError, Corruption, HttpFailure, ManifestError};
pub use upload::{UploadParams, UploadReport, Uploader};
