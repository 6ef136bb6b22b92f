//! The job runner executable: its cached checksum and its replacement by the host.

use std::path::PathBuf;

use babel_api::pb::babel::v1::{BinaryStatus, FileChunk};
use futures::Stream;
use tokio::sync::RwLock;

use crate::ops::files::{StreamError, file_checksum, receive_file};

/// The job runner binary and the CRC of what is on disk (`None`: missing).
#[derive(Debug)]
pub struct JobRunnerBinary {
    path: PathBuf,
    crc: RwLock<Option<u32>>,
}

impl JobRunnerBinary {
    pub async fn load(path: PathBuf) -> Self {
        let p = path.clone();
        let crc = tokio::task::spawn_blocking(move || file_checksum(&p))
            .await
            .ok()
            .flatten();
        Self {
            path,
            crc: RwLock::new(crc),
        }
    }

    pub async fn check(&self, expected: u32) -> BinaryStatus {
        match *self.crc.read().await {
            None => BinaryStatus::Missing,
            Some(c) if c == expected => BinaryStatus::Ok,
            Some(_) => BinaryStatus::ChecksumMismatch,
        }
    }

    /// Replaces the binary (atomically: running runners keep their old executable). The
    /// cached checksum always describes what is on disk afterwards.
    pub async fn upload<S>(&self, stream: S) -> Result<(), StreamError>
    where
        S: Stream<Item = Result<FileChunk, tonic::Status>> + Unpin,
    {
        let mut crc = self.crc.write().await;
        let result = receive_file(stream, Some(self.path.clone())).await;
        *crc = match &result {
            Ok((_, c)) => Some(*c),
            Err(_) => file_checksum(&self.path),
        };
        result.map(|_| ())
    }
}
