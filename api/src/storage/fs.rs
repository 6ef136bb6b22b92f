//! Chunks as files under a directory; URLs point at this API's own `/chunks/` route and
//! carry `op`, `exp` (unix seconds) and `sig` = MAC("<op> <key> <exp>").

use std::path::{Path, PathBuf};
use std::time::Duration;

use bv_base::AsyncAtomicFile;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::access::{UrlOp, check_key};
use super::error::StorageError;
use crate::crypto::Keys;

#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
    base_url: String,
    keys: Keys,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FsStorage {
    /// `base_url` is how hosts reach this API over HTTP (e.g. `http://127.0.0.1:8770`).
    pub fn new(root: PathBuf, base_url: &str, keys: Keys) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        Ok(Self {
            root,
            base_url: base_url.trim_end_matches('/').to_string(),
            keys,
        })
    }

    pub fn signed_url(&self, op: UrlOp, key: &str, expires: Duration) -> String {
        let exp = chrono::Utc::now().timestamp() + expires.as_secs() as i64;
        let sig = self.keys.sign_url(&format!("{} {key} {exp}", op.as_str()));
        let op = op.as_str().to_lowercase();
        format!("{}/chunks/{key}?op={op}&exp={exp}&sig={sig}", self.base_url)
    }

    /// Checks a URL's signature and expiry for `op` on `key`.
    pub fn authorize(&self, op: UrlOp, key: &str, exp: i64, sig: &str) -> bool {
        check_key(key).is_ok()
            && exp >= chrono::Utc::now().timestamp()
            && self
                .keys
                .verify_url(&format!("{} {key} {exp}", op.as_str()), sig)
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Opens an object for reading; None when missing.
    pub async fn open(&self, key: &str) -> Result<Option<(tokio::fs::File, u64)>, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => {
                let len = file.metadata().await.map_err(io_err(&path))?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Streams an object into place atomically and durably; returns its size.
    pub async fn write<S, E>(&self, key: &str, mut body: S) -> Result<u64, StorageError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.path_of(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_err(parent))?;
        }
        let mut file = AsyncAtomicFile::create(&path)
            .await
            .map_err(io_err(&path))?;
        let mut size = 0u64;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| StorageError::Io {
                path: key.to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            size += piece.len() as u64;
            file.file().write_all(&piece).await.map_err(io_err(&path))?;
        }
        file.commit().await.map_err(io_err(&path))?;
        Ok(size)
    }
}
