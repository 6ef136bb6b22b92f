//! The job runner executable: its checksum and its replacement by the host.
//!
//! The CRC is computed lazily (on the first `check_job_runner`), never before the agent
//! serves, and cached keyed by the file's identity (inode, size, mtime), so a file replaced
//! behind the agent's back is checksummed again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use babel_api::pb::babel::v1::{BinaryStatus, FileChunk};
use futures::Stream;
use tokio::sync::RwLock;

use crate::ops::files::{StreamError, file_checksum};

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileKey {
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

fn file_key(path: &Path) -> Option<FileKey> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileKey {
        ino: m.ino(),
        size: m.size(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    })
}

/// The job runner binary and the CRC of what is on disk, computed on demand.
#[derive(Debug)]
pub struct JobRunnerBinary {
    path: PathBuf,
    cached: RwLock<Option<(FileKey, u32)>>,
}

impl JobRunnerBinary {
    /// Costs nothing: the file is not read until its checksum is asked for.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: RwLock::new(None),
        }
    }

    /// CRC of the file as it is now (`None`: missing or unreadable).
    pub async fn crc(&self) -> Option<u32> {
        let key = file_key(&self.path)?;
        if let Some((k, crc)) = *self.cached.read().await
            && k == key
        {
            return Some(crc);
        }
        let mut cached = self.cached.write().await;
        if let Some((k, crc)) = *cached
            && k == key
        {
            return Some(crc);
        }
        let path = self.path.clone();
        let crc = tokio::task::spawn_blocking(move || file_checksum(&path))
            .await
            .ok()
            .flatten()?;
        // Only cache when the file did not change while it was read.
        if file_key(&self.path) == Some(key) {
            *cached = Some((key, crc));
        }
        Some(crc)
    }

    pub async fn check(&self, expected: u32) -> BinaryStatus {
        match self.crc().await {
            None => BinaryStatus::Missing,
            Some(c) if c == expected => BinaryStatus::Ok,
            Some(_) => BinaryStatus::ChecksumMismatch,
        }
    }

    /// Replaces the binary (atomically: running runners keep their old executable). The
    /// cache then describes the new file.
    pub async fn upload<S>(&self, stream: S) -> Result<(), StreamError>
    where
        S: Stream<Item = Result<FileChunk, tonic::Status>> + Unpin,
    {
        let mut cached = self.cached.write().await;
        let result = crate::ops::files::receive_file(stream, Some(self.path.clone())).await;
        *cached = match (&result, file_key(&self.path)) {
            (Ok((_, crc)), Some(key)) => Some((key, *crc)),
            _ => None,
        };
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::files::checksum;

    #[tokio::test]
    async fn crc_is_lazy_and_follows_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runner");
        let bin = JobRunnerBinary::new(path.clone());
        assert!(bin.cached.read().await.is_none());
        assert_eq!(bin.check(1).await, BinaryStatus::Missing);

        std::fs::write(&path, b"one").unwrap();
        assert_eq!(bin.check(checksum(b"one")).await, BinaryStatus::Ok);
        assert!(bin.cached.read().await.is_some());

        // Replaced by someone else (new inode): checksummed again.
        let tmp = dir.path().join("runner.new");
        std::fs::write(&tmp, b"two!").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(
            bin.check(checksum(b"one")).await,
            BinaryStatus::ChecksumMismatch
        );
        assert_eq!(bin.check(checksum(b"two!")).await, BinaryStatus::Ok);

        std::fs::remove_file(&path).unwrap();
        assert_eq!(bin.check(checksum(b"two!")).await, BinaryStatus::Missing);
    }
}
