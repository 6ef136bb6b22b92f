//! Errors of the image store. Every message names the URI, layer or path involved.

use std::path::PathBuf;

/// Anything that can go wrong while resolving, fetching, unpacking or mounting an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image URI `{uri}`: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("image `{uri}` not found: {reason}")]
    NotFound { uri: String, reason: String },
    #[error("docker daemon error for `{uri}`: {message}")]
    Docker { uri: String, message: String },
    #[error("registry error for `{uri}`: {message}")]
    Registry { uri: String, message: String },
    #[error("bad image `{uri}`: {reason}")]
    BadImage { uri: String, reason: String },
    #[error("failed to unpack layer {layer} at `{}`: {source}", path.display())]
    Unpack {
        layer: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("I/O error at `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record of the store (index, refs, mount state) could not be read or written.
    #[error(transparent)]
    Record(#[from] bv_base::json_file::JsonFileError),
    #[error("mount error at `{}`: {message}", path.display())]
    Mount { path: PathBuf, message: String },
    #[error("image {digest} is in use by the mount at `{}`", mount.display())]
    InUse { digest: String, mount: PathBuf },
    #[error("image {digest} is not in the store")]
    UnknownDigest { digest: String },
    /// A blocking task of the store panicked or was cancelled.
    #[error("image task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A pull from a remote source was planned without its spool directory.
    #[error("image task failed: internal: no spool directory")]
    NoSpool,
    /// A registry pull was planned without the image config it resolved.
    #[error("image task failed: internal: registry config not fetched")]
    NoRegistryConfig,
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
}
