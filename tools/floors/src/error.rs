//! What can stop a check before it judges anything.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FloorsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot parse: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
}
