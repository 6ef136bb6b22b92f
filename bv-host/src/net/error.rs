//! Errors of node networking.

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NetError(pub String);
