//! Errors of node operations.

use super::{agent, state};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("state: {0}")]
    State(#[from] state::StateError),
    #[error("container: {0}")]
    Runtime(#[from] bv_host::container::RuntimeError),
    #[error("image: {0}")]
    Rootfs(#[from] bv_host::rootfs::RootfsError),
    #[error(transparent)]
    Agent(#[from] agent::AgentError),
    #[error("network: {0}")]
    Network(#[from] bv_host::net::NetError),
    #[error("plugin: {0}")]
    Plugin(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("upgrade failed and was rolled back: {0}")]
    UpgradeRolledBack(String),
    #[error("upgrade failed ({error}) and rollback failed too ({rollback}); node marked Failed")]
    UpgradeFailed { error: String, rollback: String },
}

pub type NodeResult<T> = Result<T, NodeError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}
