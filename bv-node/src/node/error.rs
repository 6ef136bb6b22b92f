//! Errors of node operations.

use babel_plugin::PluginError;
use bv_host::net::firewall::FirewallError;

use super::{agent, state};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("invalid {0}")]
    Invalid(#[from] super::validate::InvalidField),
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
    Plugin(PluginError),
    #[error("plugin: plugin task failed: {0}")]
    PluginTask(tokio::task::JoinError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error("image uri is empty")]
    EmptyImageUri,
    #[error("ip `{0}` is not IPv4")]
    NotIpv4(String),
    #[error("image min_babel_version `{required}`: {source}")]
    BadMinBabelVersion {
        required: String,
        source: semver::Error,
    },
    #[error("own version: {0}")]
    OwnVersion(semver::Error),
    #[error("image requires babel >= {required}, this host runs {ours}")]
    BabelTooOld {
        required: String,
        ours: semver::Version,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("node state cannot be read ({0}); only delete works on this node")]
    Broken(String),
    #[error(
        "new version {version} did not report a healthy protocol status within {timeout_secs} s ({last})"
    )]
    UpgradeUnhealthy {
        version: String,
        timeout_secs: u64,
        last: String,
    },
    #[error("upgrade failed and was rolled back: {0}")]
    UpgradeRolledBack(String),
    /// The new version ran but did not become healthy in time; rolled back.
    #[error("upgrade failed and was rolled back: {reason}")]
    UpgradeRolledBackUnhealthy {
        version: String,
        timeout_secs: u64,
        reason: String,
    },
    #[error("upgrade failed ({error}) and rollback failed too ({rollback}); node marked Failed")]
    UpgradeFailed { error: String, rollback: String },
    #[error(transparent)]
    UpgradeGate(#[from] super::upgrade_errors::GateError),
    #[error("upgrade not prepared, the node was left as it was: {0}")]
    UpgradePrepare(#[from] super::upgrade_errors::PrepareError),
}

pub type NodeResult<T> = Result<T, NodeError>;

/// How a caller should see a node error: the one classification behind the local API's
/// status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong.
    InvalidArgument,
    /// The request is fine but the node or host is not in a state to carry it out.
    FailedPrecondition,
    NotFound,
    Unimplemented,
    /// Something failed on the host.
    Internal,
}

impl NodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::InvalidArgument(_)
            | NodeError::Invalid(_)
            | NodeError::Firewall(_)
            | NodeError::EmptyImageUri
            | NodeError::NotIpv4(_)
            | NodeError::BadMinBabelVersion { .. }
            | NodeError::OwnVersion(_) => ErrorKind::InvalidArgument,
            NodeError::FailedPrecondition(_)
            | NodeError::BabelTooOld { .. }
            | NodeError::Broken(_)
            | NodeError::UpgradeGate(_) => ErrorKind::FailedPrecondition,
            NodeError::UpgradePrepare(_) => ErrorKind::InvalidArgument,
            NodeError::NotFound(_) => ErrorKind::NotFound,
            NodeError::Unimplemented(_) => ErrorKind::Unimplemented,
            _ => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}
