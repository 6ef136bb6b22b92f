//! Object storage for archive chunks and the expiring URLs handed to hosts.
//!
//! * [`fs`]: a directory on the local filesystem (default). The API serves the URLs itself
//!   (`/chunks/...` on the same port, see `crate::http`) and signs them with a MAC over
//!   method, key and expiry.
//! * [`s3`]: any S3-compatible store through `object_store`, with its presigned URLs.

mod access;
mod error;
pub mod fs;
pub mod s3;

use std::time::Duration;

pub use access::{UrlOp, check_key};
pub use error::StorageError;

/// Where chunks live.
#[derive(Debug, Clone)]
pub enum Storage {
    Fs(fs::FsStorage),
    S3(s3::S3Storage),
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
