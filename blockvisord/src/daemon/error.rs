//! Why a local API call failed. [`From<ApiError> for Status`] is the local API's one mapping
//! of errors to gRPC statuses.

use bv_host::net::firewall::FirewallError;
use bv_host::rootfs::RootfsError;
use bv_node::node::{ErrorKind, NodeError};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// A required oneof of the request is not set (`CreateNodeRequest.source`).
    #[error("{0} is empty")]
    Missing(&'static str),
    #[error("job name is empty")]
    EmptyJobName,
    #[error("node `{0}` is not running")]
    NotRunning(String),
    /// Jobs cannot be reached while the node is not running (name not looked up).
    #[error("node is not running")]
    Stopped,
    #[error("node is Failed")]
    Failed,
    #[error("babel sent an empty job info")]
    EmptyJobInfo,
    #[error("image `{uri}`: {source}")]
    Image { uri: String, source: RootfsError },
    /// The node's automatic-upgrade record could not be written.
    #[error(transparent)]
    UpgradePolicy(#[from] crate::autoupgrade::record::RecordError),
    /// No metrics observation of the node yet (its plugin has not answered).
    #[error("no metrics of this node yet; the plugin has not answered")]
    NoMetrics,
    /// A followed log file could not be read further.
    #[error(transparent)]
    LogRead(std::io::Error),
    #[error(transparent)]
    Holds(#[from] crate::autoupgrade::holds::HoldsError),
    #[error("{protocol}/{variant} {version} is not held on this host")]
    NotHeld {
        protocol: String,
        variant: String,
        version: String,
    },
    /// Babel or the control-plane API answered with this status; it is passed on.
    #[error("{}", .0.message())]
    Rpc(#[from] Status),
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::Rpc(s) => s,
            ApiError::Node(n) => match n.kind() {
                ErrorKind::InvalidArgument => Status::invalid_argument(message),
                ErrorKind::FailedPrecondition => Status::failed_precondition(message),
                ErrorKind::NotFound => Status::not_found(message),
                ErrorKind::Internal => Status::internal(message),
            },
            ApiError::Firewall(_) | ApiError::Missing(_) | ApiError::EmptyJobName => {
                Status::invalid_argument(message)
            }
            ApiError::NotRunning(_)
            | ApiError::Stopped
            | ApiError::Failed
            | ApiError::Image { .. } => Status::failed_precondition(message),
            ApiError::NotHeld { .. } => Status::not_found(message),
            ApiError::NoMetrics => Status::unavailable(message),
            ApiError::EmptyJobInfo
            | ApiError::UpgradePolicy(_)
            | ApiError::LogRead(_)
            | ApiError::Holds(_) => Status::internal(message),
        }
    }
}

/// Node errors as the local API answers them.
pub fn to_status(e: NodeError) -> Status {
    ApiError::Node(e).into()
}
