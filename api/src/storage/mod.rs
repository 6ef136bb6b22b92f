//! Object storage for archive chunks and the expiring URLs handed to hosts.
//!
//! * [`fs`]: a directory on the local filesystem (default). The API serves the URLs itself
//!   (`/chunks/...` on the same port, see `crate::http`) and signs them with a MAC over
//!   method, key and expiry.
//! * [`s3`]: any S3-compatible store through `object_store`, with its presigned URLs.

pub mod fs;
pub mod s3;

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("storage io on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid object key {0:?}")]
    BadKey(String),
}

/// Where chunks live.
#[derive(Debug, Clone)]
pub enum Storage {
    Fs(fs::FsStorage),
    S3(s3::S3Storage),
}

/// Whether a URL lets the holder read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlOp {
    Get,
    Put,
}

impl UrlOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlOp::Get => "GET",
            UrlOp::Put => "PUT",
        }
    }
}

impl Storage {
    /// An expiring URL to GET or PUT one object.
    pub async fn signed_url(
        &self,
        op: UrlOp,
        key: &str,
        expires: Duration,
    ) -> Result<String, StorageError> {
        check_key(key)?;
        match self {
            Storage::Fs(fs) => Ok(fs.signed_url(op, key, expires)),
            Storage::S3(s3) => s3.signed_url(op, key, expires).await,
        }
    }
}

/// Object keys: `[A-Za-z0-9._-]` segments separated by `/`, no empty, `.` or `..` segment.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("eth-main/3/chunk-000001").is_ok());
        assert!(check_key("a/../b").is_err());
        assert!(check_key("/abs").is_err());
        assert!(check_key("a//b").is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key("").is_err());
    }
}
