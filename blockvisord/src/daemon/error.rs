//! Why a local API call failed. [`From<ApiError> for Status`] is the local API's one mapping
//! of errors to gRPC statuses.

use bv_host::apilink::client::ClientError;
use bv_host::net::firewall::FirewallError;
use bv_host::rootfs::RootfsError;
use bv_node::node::{ErrorKind, NodeError};
use tonic::Status;

use crate::cloud::CloudError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
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
    #[error("{}", image_text(uri, source))]
    Image { uri: String, source: RootfsError },
    /// The node's automatic-upgrade record could not be written.
    #[error(transparent)]
    UpgradePolicy(bv_base::json_file::JsonFileError),
    /// No metrics observation of the node yet (its plugin has not answered).
    #[error("no metrics of this node yet; the plugin has not answered")]
    NoMetrics,
    /// A followed log file could not be read further.
    #[error(transparent)]
    LogRead(std::io::Error),
    #[error(transparent)]
    Holds(bv_base::json_file::JsonFileError),
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

/// A pull failure names the image once: the store's errors name it already, except a local
/// file operation, which names its path.
fn image_text(uri: &str, source: &RootfsError) -> String {
    match source {
        RootfsError::Io { .. } => format!("image `{uri}`: {source}"),
        _ => source.to_string(),
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::Rpc(s) => s,
            ApiError::Cloud(c) => match c {
                CloudError::NoApiUrl
                | CloudError::Client(ClientError::Url { .. })
                | CloudError::Client(ClientError::Token) => Status::invalid_argument(message),
                CloudError::Credentials(_)
                | CloudError::DevNodeFromCatalog
                | CloudError::AlreadyRuns { .. } => Status::failed_precondition(message),
                CloudError::AlreadyRegistered { .. } => Status::already_exists(message),
                CloudError::NotRegistered(_) | CloudError::Client(ClientError::Connect { .. }) => {
                    Status::unavailable(message)
                }
                CloudError::SaveCredentials(_)
                | CloudError::Client(ClientError::IncompleteRegistration)
                | CloudError::Client(ClientError::NotOneNode { .. }) => Status::internal(message),
                CloudError::Api(s) | CloudError::Client(ClientError::Rpc(s)) => s,
            },
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

impl From<CloudError> for Status {
    fn from(e: CloudError) -> Self {
        ApiError::Cloud(e).into()
    }
}

/// Node errors as the local API answers them.
pub fn to_status(e: NodeError) -> Status {
    ApiError::Node(e).into()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use bv_host::apilink::NotRegistered;
    use bv_host::apilink::creds::CredsError;
    use bv_node::node::{PropertyError, Refused};
    use tonic::Code;

    use super::*;
    use bv_base::json_file::JsonFileError;

    fn io() -> std::io::Error {
        std::io::Error::other("disk on fire")
    }

    fn creds_err() -> CredsError {
        CredsError::Empty {
            path: PathBuf::from("/host.json"),
            field: "token",
        }
    }

    fn cloud(e: CloudError) -> ApiError {
        ApiError::Cloud(e)
    }

    /// Every variant of [`ApiError`] (node errors one per kind, cloud errors each) with the
    /// code the local API answers it with.
    fn table() -> Vec<(ApiError, Code)> {
        let transport =
            tonic::transport::Endpoint::from_shared("not a uri\n".to_string()).unwrap_err();
        vec![
            (
                ApiError::Node(NodeError::NodeNotFound("n".into())),
                Code::NotFound,
            ),
            (
                ApiError::Node(NodeError::MethodNotFound("m".into())),
                Code::NotFound,
            ),
            (
                ApiError::Node(NodeError::EmptyImageUri),
                Code::InvalidArgument,
            ),
            (
                ApiError::Node(NodeError::Property(PropertyError::NotAllowed {
                    key: "k".into(),
                    value: "v".into(),
                    allowed: vec![],
                })),
                Code::InvalidArgument,
            ),
            (
                ApiError::Node(NodeError::NodeFailed(Refused::Update)),
                Code::FailedPrecondition,
            ),
            (
                ApiError::Node(NodeError::NameTaken("n".into())),
                Code::FailedPrecondition,
            ),
            (
                ApiError::Node(NodeError::Io {
                    context: "x".into(),
                    source: io(),
                }),
                Code::Internal,
            ),
            (
                ApiError::Firewall(FirewallError::Field {
                    field: "port".into(),
                    value: "x".into(),
                    reason: "not a number".into(),
                }),
                Code::InvalidArgument,
            ),
            (
                ApiError::Missing("CreateNodeRequest.source"),
                Code::InvalidArgument,
            ),
            (ApiError::EmptyJobName, Code::InvalidArgument),
            (ApiError::NotRunning("n".into()), Code::FailedPrecondition),
            (ApiError::Stopped, Code::FailedPrecondition),
            (ApiError::Failed, Code::FailedPrecondition),
            (ApiError::EmptyJobInfo, Code::Internal),
            (
                ApiError::Image {
                    uri: "dir:x".into(),
                    source: RootfsError::BadDir {
                        uri: "dir:x".into(),
                        path: "x".into(),
                    },
                },
                Code::FailedPrecondition,
            ),
            (
                ApiError::UpgradePolicy(JsonFileError::Write {
                    path: "/r".into(),
                    source: io(),
                }),
                Code::Internal,
            ),
            (ApiError::NoMetrics, Code::Unavailable),
            (ApiError::LogRead(io()), Code::Internal),
            (
                ApiError::Holds(JsonFileError::Read {
                    path: "/h".into(),
                    source: io(),
                }),
                Code::Internal,
            ),
            (
                ApiError::NotHeld {
                    protocol: "p".into(),
                    variant: "v".into(),
                    version: "1".into(),
                },
                Code::NotFound,
            ),
            (
                ApiError::Rpc(Status::already_exists("babel says")),
                Code::AlreadyExists,
            ),
            (
                cloud(CloudError::NotRegistered(NotRegistered)),
                Code::Unavailable,
            ),
            (cloud(CloudError::NoApiUrl), Code::InvalidArgument),
            (
                cloud(CloudError::Credentials(creds_err())),
                Code::FailedPrecondition,
            ),
            (
                cloud(CloudError::AlreadyRegistered {
                    host_id: "h".into(),
                    api_url: "http://api".into(),
                }),
                Code::AlreadyExists,
            ),
            (
                cloud(CloudError::SaveCredentials(creds_err())),
                Code::Internal,
            ),
            (
                cloud(CloudError::Client(ClientError::Url {
                    url: "x".into(),
                    message: "bad".into(),
                })),
                Code::InvalidArgument,
            ),
            (
                cloud(CloudError::Client(ClientError::Token)),
                Code::InvalidArgument,
            ),
            (
                cloud(CloudError::Client(ClientError::Connect {
                    url: "http://api".into(),
                    source: transport,
                })),
                Code::Unavailable,
            ),
            (
                cloud(CloudError::Client(ClientError::IncompleteRegistration)),
                Code::Internal,
            ),
            (
                cloud(CloudError::Client(ClientError::NotOneNode { count: 2 })),
                Code::Internal,
            ),
            (
                cloud(CloudError::Client(ClientError::Rpc(
                    Status::permission_denied("bad token"),
                ))),
                Code::PermissionDenied,
            ),
            (
                cloud(CloudError::DevNodeFromCatalog),
                Code::FailedPrecondition,
            ),
            (
                cloud(CloudError::AlreadyRuns {
                    node: uuid::Uuid::nil(),
                    version: "1.0.0".into(),
                    build: 2,
                }),
                Code::FailedPrecondition,
            ),
            (
                cloud(CloudError::Api(Status::not_found("no such image"))),
                Code::NotFound,
            ),
        ]
    }

    #[test]
    fn every_variant_has_its_code() {
        for (error, code) in table() {
            let what = format!("{error:?}");
            let passed_on = matches!(
                error,
                ApiError::Rpc(_)
                    | ApiError::Cloud(CloudError::Api(_))
                    | ApiError::Cloud(CloudError::Client(ClientError::Rpc(_)))
            );
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{what}");
            if !passed_on {
                assert_eq!(status.message(), message, "{what}");
            }
        }
    }

    #[test]
    fn passed_on_statuses_keep_their_message() {
        let status = Status::from(cloud(CloudError::Client(ClientError::Rpc(
            Status::unauthenticated("token expired"),
        ))));
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "token expired");
    }
}
