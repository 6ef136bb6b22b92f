//! Download of the latest archive version into `protocol_data_path`.
//!
//! Metadata (saved, so later runs resume) → disk-space check → chunk descriptors in batches
//! of `max_runners` → per chunk: ranged GETs (`max_connections` requests at a time) streamed
//! through digest + decoder + writer threads → finished chunks are made durable (syncfs) and
//! appended to `download.chunks` → after the last chunk, files get their final size, modes
//! and one common mtime. A chunk is recorded only after its digest matched and all its bytes
//! were written, so a killed download resumes without fetching recorded chunks again and
//! rewrites any chunk it had only started.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use babel_api::job::Compression;
use nix::sys::time::TimeSpec;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::fetch::{Fetched, fetch_chunk};
use super::finalize::{Fresh, finalize};
use super::model::{Chunk, DownloadMetadata};
use super::state::{
    DOWNLOAD_CHUNKS, DOWNLOAD_METADATA, DOWNLOAD_PARTS, Progress, StateDir, cleanup_download,
};
use super::unpack::unpack_chunk;
use super::{ArchiveBackend, ArchiveError, ManifestError, TransferOptions};

/// Stored bytes queued between the HTTP stream and the decoder of one chunk.
const STREAM_QUEUE: usize = 64;

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    pub data_version: u64,
    pub chunks: u32,
    pub total_size: u64,
    /// Chunks fetched by this run (the rest were recorded by an earlier one).
    pub downloaded_now: u32,
}

pub struct Downloader {
    backend: Arc<dyn ArchiveBackend>,
    state: StateDir,
    progress: Progress,
    opts: TransferOptions,
    cancel: CancellationToken,
}

impl Downloader {
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

    /// Downloads into `dest` (the protocol data directory).
    pub async fn run(&self, dest: &Path) -> Result<DownloadReport, ArchiveError> {
        let (meta, done) = self.metadata(dest).await?;
        // The common modification time of the downloaded files.
        let now = TimeSpec::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        std::fs::create_dir_all(dest).map_err(ArchiveError::file("create", dest))?;
        check_disk_space(dest, &meta, &done)?;
        let (done, fresh, downloaded_now) = self.transfer(dest, &meta, done, now).await?;
        let chunks: Vec<Chunk> = done.values().cloned().collect();
        let root = dest.to_path_buf();
        tokio::task::spawn_blocking(move || finalize(&root, &chunks, &fresh, &now))
            .await
            .map_err(ArchiveError::task("finalize"))??;
        Ok(DownloadReport {
            data_version: meta.data_version,
            chunks: meta.chunks,
            total_size: meta.total_size,
            downloaded_now,
        })
    }

    /// Saved metadata and recorded chunks, or (after cleaning up leftovers) fresh metadata.
    async fn metadata(
        &self,
        dest: &Path,
    ) -> Result<(DownloadMetadata, BTreeMap<u32, Chunk>), ArchiveError> {
        if let Some(meta) = self.state.load::<DownloadMetadata>(DOWNLOAD_METADATA)? {
            let done: Vec<Chunk> = self.state.load_lines(DOWNLOAD_CHUNKS)?;
            info!(
                "resuming download of data version {}: {}/{} chunks done",
                meta.data_version,
                done.len(),
                meta.chunks
            );
            return Ok((meta, done.into_iter().map(|c| (c.index, c)).collect()));
        }
        cleanup_download(&self.state, dest)?;
        let meta: DownloadMetadata = self.backend.download_metadata().await?.try_into()?;
        self.state.ensure_dir()?;
        self.state.save(DOWNLOAD_METADATA, &meta)?;
        info!(
            "downloading data version {}: {} bytes in {} chunks",
            meta.data_version, meta.total_size, meta.chunks
        );
        Ok((meta, BTreeMap::new()))
    }

    async fn transfer(
        &self,
        dest: &Path,
        meta: &DownloadMetadata,
        mut done: BTreeMap<u32, Chunk>,
        mtime: TimeSpec,
    ) -> Result<(BTreeMap<u32, Chunk>, Fresh, u32), ArchiveError> {
        let mut downloaded_now = 0u32;
        let mut fresh = Fresh::new();
        let mut pending: BTreeSet<u32> =
            (0..meta.chunks).filter(|i| !done.contains_key(i)).collect();
        let mut buffered: VecDeque<Chunk> = VecDeque::new();
        let client = self.opts.http_client()?;
        let connections = Arc::new(Semaphore::new(self.opts.max_connections.max(1)));
        let stop = self.cancel.child_token();
        let mut tasks: JoinSet<Result<(Chunk, Vec<usize>), ArchiveError>> = JoinSet::new();
        let mut unrecorded: Vec<Chunk> = Vec::new();
        let mut last_record = Instant::now();
        let mut first_error: Option<ArchiveError> = None;
        self.progress.report(meta.chunks, done.len() as u32);
        loop {
            while first_error.is_none() && !stop.is_cancelled() && !pending.is_empty() {
                if tasks.len() >= self.opts.max_runners {
                    break;
                }
                if buffered.is_empty() {
                    let wanted: Vec<u32> = pending
                        .iter()
                        .take(self.opts.max_runners)
                        .copied()
                        .collect();
                    match self.chunk_descriptors(meta.data_version, &wanted).await {
                        Ok(chunks) => buffered.extend(chunks),
                        Err(e) => {
                            first_error = Some(e);
                            break;
                        }
                    }
                    if buffered.is_empty() {
                        first_error = Some(ArchiveError::NoChunkDescriptors {
                            indexes: wanted.clone(),
                        });
                        break;
                    }
                }
                let Some(chunk) = buffered.pop_front() else {
                    break;
                };
                if !pending.remove(&chunk.index) {
                    continue;
                }
                if chunk.destinations.is_empty() {
                    first_error = Some(ManifestError::NoDestinations { index: chunk.index }.into());
                    break;
                }
                self.state.append_lines(DOWNLOAD_PARTS, &[&chunk], false)?;
                let job = ChunkDownload {
                    chunk,
                    root: dest.to_path_buf(),
                    compression: meta.compression,
                    data_version: meta.data_version,
                    client: client.clone(),
                    backend: self.backend.clone(),
                    connections: connections.clone(),
                    opts: self.opts.clone(),
                    cancel: stop.clone(),
                    mtime,
                };
                tasks.spawn(job.run());
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok(Ok((chunk, created))) => {
                    fresh.extend(created.into_iter().map(|d| (chunk.index, d)));
                    debug!("chunk {} downloaded", chunk.index);
                    downloaded_now += 1;
                    unrecorded.push(chunk);
                    self.progress
                        .report(meta.chunks, (done.len() + unrecorded.len()) as u32);
                }
                Ok(Err(e)) => {
                    stop.cancel();
                    if !matches!(e, ArchiveError::Interrupted(_)) || first_error.is_none() {
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    stop.cancel();
                    first_error.get_or_insert(ArchiveError::task("download")(e));
                }
            }
            if last_record.elapsed() >= self.opts.record_interval && !unrecorded.is_empty() {
                self.record(dest, &mut unrecorded, &mut done).await?;
                last_record = Instant::now();
            }
        }
        // Whatever finished is kept, also when the run failed or was stopped.
        self.record(dest, &mut unrecorded, &mut done).await?;
        if self.cancel.is_cancelled() {
            return Err(ArchiveError::Interrupted("download"));
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok((done, fresh, downloaded_now))
    }

    /// Makes finished chunks durable, then records them.
    async fn record(
        &self,
        dest: &Path,
        unrecorded: &mut Vec<Chunk>,
        done: &mut BTreeMap<u32, Chunk>,
    ) -> Result<(), ArchiveError> {
        if unrecorded.is_empty() {
            return Ok(());
        }
        let root: PathBuf = dest.to_path_buf();
        tokio::task::spawn_blocking(move || sync_fs(&root))
            .await
            .map_err(ArchiveError::task("sync"))??;
        self.state.append_lines(DOWNLOAD_CHUNKS, unrecorded, true)?;
        for c in unrecorded.drain(..) {
            done.insert(c.index, c);
        }
        Ok(())
    }

    async fn chunk_descriptors(
        &self,
        data_version: u64,
        indexes: &[u32],
    ) -> Result<Vec<Chunk>, ArchiveError> {
        self.backend
            .download_chunks(data_version, indexes)
            .await?
            .into_iter()
            .map(Chunk::try_from)
            .collect()
    }
}

/// Flushes the filesystem holding `dir`.
fn sync_fs(dir: &Path) -> Result<(), ArchiveError> {
    let f = std::fs::File::open(dir).map_err(ArchiveError::file("open", dir))?;
    nix::unistd::syncfs(&f).map_err(|e| ArchiveError::file("sync", dir)(e.into()))
}

/// Fails when the data still to download doesn't fit on the filesystem of `dest`.
fn check_disk_space(
    dest: &Path,
    meta: &DownloadMetadata,
    done: &BTreeMap<u32, Chunk>,
) -> Result<(), ArchiveError> {
    let have: u64 = done.values().map(Chunk::data_size).sum();
    let required = meta
        .total_size
        .checked_sub(have)
        .ok_or(ManifestError::TotalSizeTooSmall {
            total_size: meta.total_size,
            have,
        })?;
    let st =
        nix::sys::statvfs::statvfs(dest).map_err(|e| ArchiveError::file("stat", dest)(e.into()))?;
    let available = st.blocks_available() * st.fragment_size();
    if required > available {
        return Err(ArchiveError::DiskSpace {
            required,
            available,
        });
    }
    Ok(())
}

/// One chunk's download task.
struct ChunkDownload {
    chunk: Chunk,
    root: PathBuf,
    compression: Option<Compression>,
    data_version: u64,
    client: reqwest::Client,
    backend: Arc<dyn ArchiveBackend>,
    connections: Arc<Semaphore>,
    opts: TransferOptions,
    cancel: CancellationToken,
    /// The download's common modification time.
    mtime: TimeSpec,
}

impl ChunkDownload {
    /// The chunk, and the destinations whose files it created.
    async fn run(mut self) -> Result<(Chunk, Vec<usize>), ArchiveError> {
        let key = self.chunk.key.clone();
        let mut attempt = 0;
        loop {
            match self.once().await {
                Ok(created) => {
                    self.chunk.url = None;
                    return Ok((self.chunk, created));
                }
                Err(e) if attempt < self.opts.retries && e.is_transient() => {
                    warn!("chunk '{key}' download attempt {attempt} failed: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(self.opts.retry_delay(attempt)) => {}
                        () = self.cancel.cancelled() => return Err(ArchiveError::Interrupted("download")),
                    }
                    attempt += 1;
                    // A fresh descriptor: the URL may have expired.
                    if let Ok(mut fresh) = self
                        .backend
                        .download_chunks(self.data_version, &[self.chunk.index])
                        .await
                        && let Some(c) = fresh.pop()
                        && let Ok(c) = Chunk::try_from(c)
                        && c.index == self.chunk.index
                    {
                        self.chunk = c;
                    }
                }
                Err(e @ ArchiveError::Interrupted(_)) => return Err(e),
                Err(e) => {
                    return Err(ArchiveError::Chunk {
                        key,
                        op: "download",
                        source: Box::new(e),
                    });
                }
            }
        }
    }

    /// One attempt: stream the stored bytes into the unpacker and wait for both.
    async fn once(&self) -> Result<Vec<usize>, ArchiveError> {
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let root = self.root.clone();
        let chunk = self.chunk.clone();
        let compression = self.compression;
        let mtime = self.mtime;
        let unpacker = tokio::task::spawn_blocking(move || {
            unpack_chunk(&root, &chunk, compression, rx, &mtime)
        });
        let fetched = match (&self.chunk.url, self.chunk.size) {
            (_, 0) => Ok(Fetched::Complete),
            (Some(url), size) => {
                fetch_chunk(
                    &self.client,
                    url,
                    size,
                    &self.opts,
                    &self.connections,
                    &tx,
                    &self.cancel,
                )
                .await
            }
            (None, _) => Err(ArchiveError::NoDownloadUrl {
                index: self.chunk.index,
            }),
        };
        drop(tx);
        let unpacked = unpacker.await.map_err(ArchiveError::task("unpack"))?;
        match fetched {
            // The unpacker's verdict is the one that counts.
            Ok(_) => unpacked,
            // A failed fetch makes the unpacker fail too; report the cause.
            Err(e) => Err(e),
        }
    }
}
