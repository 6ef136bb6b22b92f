//! Persistent transfer state in `<data_mount_point>/.babel_jobs/` and the job's
//! `progress.json`.
//!
//! * `download.metadata` — JSON [`DownloadMetadata`] of the version being downloaded;
//! * `download.chunks` — JSON lines of chunks whose data is complete (and synced) on disk;
//! * `download.parts` — JSON lines of chunks ever started (their files are removed on cleanup);
//! * `upload.blueprint` — JSON [`Blueprint`]: the planned manifest, data version, data stamp;
//! * `upload.chunks` — JSON lines of uploaded chunks.
//!
//! JSON-lines files are appended to; a line torn by a crash is ignored on load.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::ArchiveError;
use super::model::{Chunk, DownloadManifest};

/// The error of serializing state file `file`, for `map_err`.
fn serialize(file: &str) -> impl FnOnce(serde_json::Error) -> ArchiveError {
    move |source| ArchiveError::Serialize {
        file: file.to_string(),
        source,
    }
}

/// Directory of the transfer state, relative to the data mount point.
pub const STATE_DIR: &str = ".babel_jobs";
pub const DOWNLOAD_METADATA: &str = "download.metadata";
pub const DOWNLOAD_CHUNKS: &str = "download.chunks";
pub const DOWNLOAD_PARTS: &str = "download.parts";
pub const UPLOAD_BLUEPRINT: &str = "upload.blueprint";
pub const UPLOAD_CHUNKS: &str = "upload.chunks";

/// The plan of an upload, saved before the first chunk is sent so a later run resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blueprint {
    pub manifest: DownloadManifest,
    pub data_version: u64,
    /// The protocol data stamp the plan was made for; resume requires the same stamp.
    pub data_stamp: Option<SystemTime>,
}

/// The transfer state files of one node.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(data_mount_point: &Path) -> Self {
        Self {
            dir: data_mount_point.join(STATE_DIR),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn exists(&self, file: &str) -> bool {
        self.path(file).exists()
    }

    /// Loads a JSON file; `None` when it doesn't exist.
    pub fn load<T: DeserializeOwned>(&self, file: &str) -> Result<Option<T>, ArchiveError> {
        let path = self.path(file);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ArchiveError::file("read", &path)(e));
            }
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| ArchiveError::StateFile { path, source })
    }

    /// Writes a JSON file atomically (temp file, fsync, rename).
    pub fn save<T: Serialize>(&self, file: &str, value: &T) -> Result<(), ArchiveError> {
        let data = serde_json::to_vec(value).map_err(serialize(file))?;
        write_atomic(&self.path(file), &data)
    }

    /// All parsable lines of a JSON-lines file (empty when it doesn't exist).
    pub fn load_lines<T: DeserializeOwned>(&self, file: &str) -> Result<Vec<T>, ArchiveError> {
        let path = self.path(file);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ArchiveError::file("read", &path)(e));
            }
        };
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(v) => out.push(v),
                Err(e) => warn!(
                    "{}:{}: skipping unreadable line: {e}",
                    path.display(),
                    n + 1
                ),
            }
        }
        Ok(out)
    }

    /// Appends items as JSON lines; `sync` makes them durable before returning.
    pub fn append_lines<T: Serialize>(
        &self,
        file: &str,
        items: &[T],
        sync: bool,
    ) -> Result<(), ArchiveError> {
        if items.is_empty() {
            return Ok(());
        }
        let path = self.path(file);
        let mut buf = Vec::new();
        for item in items {
            serde_json::to_writer(&mut buf, item).map_err(serialize(file))?;
            buf.push(b'\n');
        }
        let ctx = || ArchiveError::file("append to", &path);
        self.ensure_dir()?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(ctx())?;
        f.write_all(&buf).map_err(ctx())?;
        if sync {
            f.sync_data().map_err(ctx())?;
        }
        Ok(())
    }

    pub fn remove(&self, file: &str) -> Result<(), ArchiveError> {
        let path = self.path(file);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ArchiveError::file("remove", &path)(e)),
        }
    }

    pub fn ensure_dir(&self) -> Result<(), ArchiveError> {
        fs::create_dir_all(&self.dir).map_err(ArchiveError::file("create", &self.dir))
    }
}

/// `cleanup_job` for a download job: forgets the completed chunks, removes every
/// file a started chunk may have written (relative to `protocol_data_path`), then the parts
/// list and the metadata.
pub fn cleanup_download(state: &StateDir, protocol_data_path: &Path) -> Result<(), ArchiveError> {
    state.remove(DOWNLOAD_CHUNKS)?;
    let parts: Vec<Chunk> = state.load_lines(DOWNLOAD_PARTS)?;
    let mut dirs = Vec::new();
    for dest in parts.iter().flat_map(|c| &c.destinations) {
        let Some(path) = super::unpack::safe_join(protocol_data_path, &dest.path) else {
            continue;
        };
        if dest.is_dir() {
            dirs.push(path);
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ArchiveError::file("remove", &path)(e));
            }
        }
    }
    // Directories the archive created go too, if nothing else lives in them.
    dirs.sort_by(|a, b| b.cmp(a));
    for dir in dirs {
        let _ = fs::remove_dir(dir);
    }
    state.remove(DOWNLOAD_PARTS)?;
    state.remove(DOWNLOAD_METADATA)
}

/// `cleanup_job` for an upload job: forgets the blueprint and the uploaded chunks.
pub fn cleanup_upload(state: &StateDir) -> Result<(), ArchiveError> {
    state.remove(UPLOAD_BLUEPRINT)?;
    state.remove(UPLOAD_CHUNKS)
}

/// `progress.json` of an archive job: `{"total":u32,"current":u32,"message":"chunks"}`.
#[derive(Debug, Clone)]
pub struct Progress {
    path: Option<PathBuf>,
}

impl Progress {
    /// Progress written to `<job_dir>/progress.json`.
    pub fn in_job_dir(job_dir: &Path) -> Self {
        Self {
            path: Some(job_dir.join("progress.json")),
        }
    }

    /// Progress that isn't recorded (benches, tools).
    pub fn none() -> Self {
        Self { path: None }
    }

    pub fn report(&self, total: u32, current: u32) {
        let Some(path) = &self.path else { return };
        let p = babel_api::job::JobProgress {
            total,
            current,
            message: "chunks".into(),
        };
        let result = serde_json::to_vec(&p)
            .map_err(serialize("progress"))
            .and_then(|data| write_atomic(path, &data));
        if let Err(e) = result {
            warn!("can't write progress {}: {e}", path.display());
        }
    }
}

/// Writes `data` to `path` atomically and durably, creating its directory first.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ArchiveError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(ArchiveError::file("write", path))?;
    }
    bv_base::write_atomic(path, data).map_err(ArchiveError::file("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::model::{Checksum, FileLocation};

    fn chunk(index: u32, paths: &[&str]) -> Chunk {
        Chunk {
            index,
            key: format!("k{index}"),
            url: None,
            checksum: Checksum::placeholder(),
            size: 1,
            destinations: paths
                .iter()
                .map(|p| FileLocation {
                    path: p.to_string(),
                    pos: 0,
                    size: 0,
                    mode: None,
                })
                .collect(),
        }
    }

    #[test]
    fn json_lines_append_and_skip_torn_line() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path());
        assert!(
            state
                .load_lines::<Chunk>(DOWNLOAD_CHUNKS)
                .unwrap()
                .is_empty()
        );
        state
            .append_lines(DOWNLOAD_CHUNKS, &[chunk(0, &["a"]), chunk(1, &["b"])], true)
            .unwrap();
        // A crash in the middle of an append leaves a torn last line.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(state.path(DOWNLOAD_CHUNKS))
            .unwrap();
        f.write_all(b"{\"index\":2,\"ke").unwrap();
        let loaded: Vec<Chunk> = state.load_lines(DOWNLOAD_CHUNKS).unwrap();
        assert_eq!(loaded.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn cleanup_download_removes_started_files_and_state() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("protocol_data");
        fs::create_dir_all(data.join("d/e")).unwrap();
        fs::write(data.join("d/e/f"), b"x").unwrap();
        fs::write(data.join("keep"), b"x").unwrap();
        let state = StateDir::new(tmp.path());
        state.save(DOWNLOAD_METADATA, &1u32).unwrap();
        state
            .append_lines(
                DOWNLOAD_PARTS,
                &[chunk(0, &["d/", "d/e/", "d/e/f", "../escape"])],
                false,
            )
            .unwrap();
        state
            .append_lines(DOWNLOAD_CHUNKS, &[chunk(0, &[])], false)
            .unwrap();
        cleanup_download(&state, &data).unwrap();
        assert!(!data.join("d").exists());
        assert!(data.join("keep").exists());
        for f in [DOWNLOAD_METADATA, DOWNLOAD_PARTS, DOWNLOAD_CHUNKS] {
            assert!(!state.exists(f), "{f}");
        }
    }

    #[test]
    fn progress_json_shape() {
        let tmp = tempfile::tempdir().unwrap();
        Progress::in_job_dir(tmp.path()).report(7, 3);
        let text = fs::read_to_string(tmp.path().join("progress.json")).unwrap();
        assert_eq!(text, r#"{"total":7,"current":3,"message":"chunks"}"#);
    }
}
