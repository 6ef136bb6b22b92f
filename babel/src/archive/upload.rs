//! Upload of `protocol_data_path` as a new archive version.
//!
//! Plan → save blueprint → (per chunk, `max_runners` at a time) read + compress + digest →
//! PUT to a slot URL (`max_connections` at a time) → record in `upload.chunks` → when all are
//! up, send the manifest last and forget the state. A later run with the same protocol data
//! stamp resumes from the blueprint and skips recorded chunks.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use babel_api::job::Compression;
use babel_api::pb::babel::v1 as pb;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::model::{Checksum, Chunk, DownloadManifest};
use super::pack::{Packed, pack_chunk};
use super::plan::{compile_excludes, plan_chunks, scan, slot_count};
use super::state::{Blueprint, Progress, StateDir, UPLOAD_BLUEPRINT, UPLOAD_CHUNKS};
use super::{ArchiveBackend, ArchiveError, HttpFailure, TransferOptions};

/// What to upload and how (the `upload` job type's fields plus node facts).
#[derive(Debug, Clone)]
pub struct UploadParams {
    /// The source directory (`protocol_data_path`).
    pub source: PathBuf,
    pub exclude: Vec<String>,
    pub compression: Option<Compression>,
    pub number_of_chunks: Option<u32>,
    pub url_expires_secs: Option<u32>,
    pub data_version: Option<u64>,
    /// Current protocol data stamp; a blueprint is resumed only for the same stamp.
    pub data_stamp: Option<SystemTime>,
}

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    pub data_version: u64,
    pub chunks: u32,
    pub total_size: u64,
    /// Chunks sent by this run (the rest were recorded by an earlier one).
    pub uploaded_now: u32,
}

pub struct Uploader {
    backend: Arc<dyn ArchiveBackend>,
    state: StateDir,
    progress: Progress,
    opts: TransferOptions,
    cancel: CancellationToken,
}

impl Uploader {
    pub fn new(
        backend: Arc<dyn ArchiveBackend>,
        state: StateDir,
        progress: Progress,
        opts: TransferOptions,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            backend,
            state,
            progress,
            opts,
            cancel,
        }
    }

    pub async fn run(&self, params: &UploadParams) -> Result<UploadReport, ArchiveError> {
        let excludes = compile_excludes(&params.exclude)?;
        let expires = params
            .url_expires_secs
            .unwrap_or(3600 + 15 * self.opts.max_runners as u32);
        let (blueprint, slots, done) = match self.resumable(params)? {
            Some(resumed) => resumed,
            None => {
                self.state.remove(UPLOAD_CHUNKS)?;
                let source = params.source.clone();
                let entries = tokio::task::spawn_blocking(move || scan(&source, &excludes))
                    .await
                    .map_err(ArchiveError::task("scan"))??;
                let total: u64 = entries.iter().map(|e| e.size).sum();
                let slots = slot_count(total, params.number_of_chunks)?;
                let chunks = plan_chunks(&entries, slots);
                // Asking for the first slots allocates the data version.
                let first: Vec<u32> = chunks
                    .iter()
                    .take(self.opts.max_runners)
                    .map(|c| c.index)
                    .collect();
                let reply = self
                    .backend
                    .upload_slots(params.data_version, &first, expires)
                    .await?;
                let mut blueprint = Blueprint {
                    manifest: DownloadManifest {
                        total_size: total,
                        compression: params.compression,
                        chunks,
                    },
                    data_version: reply.data_version,
                    data_stamp: params.data_stamp,
                };
                self.state.save(UPLOAD_BLUEPRINT, &blueprint)?;
                assign_slots(&mut blueprint.manifest.chunks, reply.slots);
                info!(
                    "upload planned: {total} bytes in {} chunks, data version {}",
                    blueprint.manifest.chunks.len(),
                    blueprint.data_version
                );
                (blueprint, slots, BTreeMap::new())
            }
        };
        let result = self.transfer(blueprint, slots, done, params, expires).await;
        if let Err(e) = &result
            && !e.is_transient()
            && !matches!(e, ArchiveError::Interrupted(_))
        {
            warn!("upload failed for good, forgetting its blueprint: {e}");
            self.state.remove(UPLOAD_BLUEPRINT)?;
            self.state.remove(UPLOAD_CHUNKS)?;
        }
        result
    }

    /// A saved blueprint for the current data stamp, with the chunks already uploaded.
    #[allow(clippy::type_complexity)]
    fn resumable(
        &self,
        params: &UploadParams,
    ) -> Result<Option<(Blueprint, u32, BTreeMap<u32, Chunk>)>, ArchiveError> {
        let Some(blueprint) = self.state.load::<Blueprint>(UPLOAD_BLUEPRINT)? else {
            return Ok(None);
        };
        if blueprint.data_stamp != params.data_stamp {
            info!("protocol data stamp doesn't match the upload blueprint, starting over");
            return Ok(None);
        }
        let uploaded: Vec<Chunk> = self.state.load_lines(UPLOAD_CHUNKS)?;
        let done = uploaded.into_iter().map(|c| (c.index, c)).collect();
        let slots = u32::try_from(blueprint.manifest.chunks.len()).unwrap_or(u32::MAX);
        info!("resuming upload of data version {}", blueprint.data_version);
        Ok(Some((blueprint, slots, done)))
    }

    async fn transfer(
        &self,
        mut blueprint: Blueprint,
        slots: u32,
        mut done: BTreeMap<u32, Chunk>,
        params: &UploadParams,
        expires: u32,
    ) -> Result<UploadReport, ArchiveError> {
        let data_version = blueprint.data_version;
        let compression = blueprint.manifest.compression;
        let mut pending: VecDeque<Chunk> = blueprint
            .manifest
            .chunks
            .iter()
            .filter(|c| !done.contains_key(&c.index))
            .cloned()
            .collect();
        let client = self.opts.http_client()?;
        let cpu = Arc::new(Semaphore::new(self.opts.cpu_threads.max(1)));
        let pack_gate = Arc::new(Semaphore::new(1));
        let connections = Arc::new(Semaphore::new(self.opts.max_connections.max(1)));
        let mut tasks: JoinSet<Result<Chunk, ArchiveError>> = JoinSet::new();
        let mut first_error: Option<ArchiveError> = None;
        let mut uploaded_now = 0u32;
        self.progress.report(slots, done.len() as u32);
        loop {
            while first_error.is_none()
                && !self.cancel.is_cancelled()
                && tasks.len() < self.opts.max_runners
                && !pending.is_empty()
            {
                if pending
                    .front()
                    .is_some_and(|c| c.url.is_none() && c.data_size() > 0)
                {
                    let wanted: Vec<u32> = pending
                        .iter()
                        .filter(|c| c.url.is_none())
                        .take(self.opts.max_runners)
                        .map(|c| c.index)
                        .collect();
                    match self
                        .backend
                        .upload_slots(Some(data_version), &wanted, expires)
                        .await
                    {
                        Ok(reply) => assign_slots(pending.make_contiguous(), reply.slots),
                        Err(e) => {
                            first_error = Some(e);
                            break;
                        }
                    }
                }
                let Some(chunk) = pending.pop_front() else {
                    break;
                };
                let job = ChunkUpload {
                    chunk,
                    source: params.source.clone(),
                    compression,
                    client: client.clone(),
                    backend: self.backend.clone(),
                    data_version,
                    expires,
                    cpu: cpu.clone(),
                    pack_gate: pack_gate.clone(),
                    connections: connections.clone(),
                    opts: self.opts.clone(),
                    cancel: self.cancel.clone(),
                };
                tasks.spawn(job.run());
            }
            let next = tokio::select! {
                next = tasks.join_next() => next,
                () = self.cancel.cancelled(), if !tasks.is_empty() => {
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return Err(ArchiveError::Interrupted("upload"));
                }
            };
            let Some(joined) = next else { break };
            match joined {
                Ok(Ok(chunk)) => {
                    self.state.append_lines(UPLOAD_CHUNKS, &[&chunk], true)?;
                    debug!(
                        "chunk {} uploaded ({} bytes stored)",
                        chunk.index, chunk.size
                    );
                    done.insert(chunk.index, chunk);
                    uploaded_now += 1;
                    self.progress.report(slots, done.len() as u32);
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(ArchiveError::task("upload")(e));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.cancel.is_cancelled() {
            return Err(ArchiveError::Interrupted("upload"));
        }
        // Every chunk is up: the manifest goes last.
        for chunk in &mut blueprint.manifest.chunks {
            let up = done
                .get(&chunk.index)
                .ok_or(ArchiveError::MissingAfterUpload { index: chunk.index })?;
            chunk.key.clone_from(&up.key);
            chunk.checksum = up.checksum.clone();
            chunk.size = up.size;
            chunk.url = None;
        }
        let report = UploadReport {
            data_version,
            chunks: u32::try_from(blueprint.manifest.chunks.len()).unwrap_or(u32::MAX),
            total_size: blueprint.manifest.total_size,
            uploaded_now,
        };
        let manifest: pb::DownloadManifest = blueprint.manifest.into();
        self.backend
            .put_download_manifest(manifest, data_version)
            .await?;
        self.state.remove(UPLOAD_BLUEPRINT)?;
        self.state.remove(UPLOAD_CHUNKS)?;
        info!(
            "upload of data version {data_version} complete: {} chunks",
            report.chunks
        );
        Ok(report)
    }
}

/// Gives chunks the keys and URLs of the slots with their indexes.
fn assign_slots(chunks: &mut [Chunk], slots: Vec<pb::Slot>) {
    let by_index: BTreeMap<u32, pb::Slot> = slots.into_iter().map(|s| (s.index, s)).collect();
    for c in chunks {
        if let Some(slot) = by_index.get(&c.index) {
            c.key.clone_from(&slot.key);
            c.url = Some(slot.url.clone());
        }
    }
}

/// One chunk's upload task.
struct ChunkUpload {
    chunk: Chunk,
    source: PathBuf,
    compression: Option<Compression>,
    client: reqwest::Client,
    backend: Arc<dyn ArchiveBackend>,
    data_version: u64,
    expires: u32,
    cpu: Arc<Semaphore>,
    pack_gate: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    opts: TransferOptions,
    cancel: CancellationToken,
}

impl ChunkUpload {
    async fn run(mut self) -> Result<Chunk, ArchiveError> {
        let key = self.chunk.key.clone();
        self.upload().await.map_err(|e| ArchiveError::Chunk {
            key,
            op: "upload",
            source: Box::new(e),
        })
    }

    async fn upload(&mut self) -> Result<Chunk, ArchiveError> {
        if self.chunk.destinations.is_empty() {
            return Err(ArchiveError::ChunkWithoutDestinations);
        }
        let mut chunk = self.chunk.clone();
        chunk.url = None;
        if chunk.data_size() == 0 {
            // Only empty files and directories: nothing to store.
            chunk.checksum = Checksum::blake3_of(&[]);
            chunk.size = 0;
            return Ok(chunk);
        }
        let packed = {
            let _gate = self
                .pack_gate
                .acquire()
                .await
                .map_err(|_| ArchiveError::Interrupted("upload"))?;
            pack_chunk(
                &self.source,
                &self.chunk.destinations,
                self.compression,
                &self.cpu,
                self.opts.cpu_threads,
            )
            .await?
        };
        let mut attempt = 0;
        loop {
            let url = match &self.chunk.url {
                Some(u) => u.clone(),
                None => self.fresh_url().await?,
            };
            match self.put(&url, &packed).await {
                Ok(()) => break,
                Err(e) if attempt < self.opts.retries && e.is_transient() => {
                    warn!("chunk '{}' upload attempt {attempt} failed: {e}", chunk.key);
                    tokio::select! {
                        () = tokio::time::sleep(self.opts.retry_delay(attempt)) => {}
                        () = self.cancel.cancelled() => return Err(ArchiveError::Interrupted("upload")),
                    }
                    attempt += 1;
                    // The URL may have expired: ask for a fresh one.
                    self.chunk.url = None;
                }
                Err(e) => return Err(e),
            }
        }
        chunk.key.clone_from(&self.chunk.key);
        chunk.size = packed.size();
        chunk.checksum = packed.checksum;
        Ok(chunk)
    }

    async fn fresh_url(&mut self) -> Result<String, ArchiveError> {
        let reply = self
            .backend
            .upload_slots(Some(self.data_version), &[self.chunk.index], self.expires)
            .await?;
        let slot = reply
            .slots
            .into_iter()
            .find(|s| s.index == self.chunk.index)
            .ok_or(ArchiveError::NoUploadSlot {
                index: self.chunk.index,
            })?;
        self.chunk.key = slot.key;
        self.chunk.url = Some(slot.url.clone());
        Ok(slot.url)
    }

    async fn put(&self, url: &str, packed: &Packed) -> Result<(), ArchiveError> {
        let _conn = self
            .connections
            .acquire()
            .await
            .map_err(|_| ArchiveError::Interrupted("upload"))?;
        // Object stores want the length up front (no chunked uploads to presigned URLs).
        let resp = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, packed.size())
            .body(packed.body())
            .send()
            .await
            .map_err(HttpFailure::Put)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = Box::new(resp.headers().clone());
        let body = resp.text().await.unwrap_or_default();
        Err(HttpFailure::PutStatus {
            status,
            headers,
            body,
        }
        .into())
    }
}
