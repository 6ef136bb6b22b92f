//! Errors of node operations.

use std::path::PathBuf;
use std::sync::Arc;

use babel_plugin::PluginError;
use bv_host::net::firewall::FirewallError;
use uuid::Uuid;

use super::{agent, state};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No node has this id or name.
    #[error("node `{0}` not found")]
    NodeNotFound(String),
    #[error("a node named `{0}` already exists")]
    NameTaken(String),
    #[error("ip {0} is already used by another node")]
    IpTaken(String),
    #[error("no free node IP left; give --ip")]
    NoFreeIp,
    #[error("node dir {} already exists", .0.display())]
    DirExists(PathBuf),
    /// A node id that is not a UUID; `field` names where it came from.
    #[error("{field} `{value}`: {source}")]
    BadId {
        field: &'static str,
        value: String,
        source: uuid::Error,
    },
    #[error("firewall: at most {max} rules")]
    TooManyFirewallRules { max: usize },
    /// The control plane described a node without an image to run.
    #[error("API node {0}: config.image.image_uri is empty")]
    ApiNodeWithoutImage(Uuid),
    /// A Create command whose node record carries another id than the command.
    #[error("create command: node ids differ")]
    CreateIdMismatch { command: Uuid, node: Uuid },
    #[error("invalid {0}")]
    Invalid(#[from] super::validate::InvalidField),
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error("protocol method not found: {0}")]
    MethodNotFound(String),
    /// A graceful stop needs babel, which does not answer.
    #[error("babel is not reachable; use --force to stop anyway")]
    BabelUnreachable,
    #[error("can't {0} a Failed node; start or stop it first")]
    NodeFailed(Refused),
    /// Changing properties would restart jobs that block upgrades.
    #[error("upgrade-blocking job(s) running: {}; retry when they finish", .0.join(", "))]
    BlockingJobs(Vec<String>),
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
    Broken(Arc<state::Unreadable>),
    #[error(
        "new version {version} did not report a healthy protocol status within {timeout_secs} s ({last})"
    )]
    UpgradeUnhealthy {
        version: String,
        timeout_secs: u64,
        last: String,
    },
    #[error("upgrade failed and was rolled back: {0}")]
    UpgradeRolledBack(#[source] Box<NodeError>),
    /// The new version ran but did not become healthy in time; rolled back.
    #[error("upgrade failed and was rolled back: {reason}")]
    UpgradeRolledBackUnhealthy {
        version: String,
        timeout_secs: u64,
        reason: String,
    },
    #[error("upgrade failed ({error}) and rollback failed too ({rollback}); node marked Failed")]
    UpgradeFailed {
        #[source]
        error: Box<NodeError>,
        rollback: Box<NodeError>,
    },
    #[error(transparent)]
    UpgradeGate(#[from] super::upgrade_errors::GateError),
    #[error("upgrade not prepared, the node was left as it was: {0}")]
    UpgradePrepare(#[from] super::upgrade_errors::PrepareError),
}

pub type NodeResult<T> = Result<T, NodeError>;

/// An operation refused on a Failed node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Upgrade,
    Update,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Upgrade => "upgrade",
            Refused::Update => "update",
        })
    }
}

/// Why a property change was refused (checked against the image's property rules).
#[derive(Debug, thiserror::Error)]
pub enum PropertyError {
    #[error(
        "property `{key}` is not defined by the image{}; defined: {}",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        defined.join(", ")
    )]
    Undefined {
        key: String,
        /// The defined key closest to `key`, if one is close.
        suggestion: Option<String>,
        defined: Vec<String>,
    },
    #[error("property `{key}`: `{value}` is not allowed; allowed: {}", allowed.join(", "))]
    NotAllowed {
        key: String,
        value: String,
        allowed: Vec<String>,
    },
    #[error(
        "property `{key}` cannot change while the node runs (dynamic_value: false); stop the \
         node first"
    )]
    NotDynamic { key: String },
}

/// How a caller should see a node error: the one classification behind the local API's
/// status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong.
    InvalidArgument,
    /// The request is fine but the node or host is not in a state to carry it out.
    FailedPrecondition,
    NotFound,
    /// Something failed on the host.
    Internal,
}

impl NodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::BadId { .. }
            | NodeError::TooManyFirewallRules { .. }
            | NodeError::ApiNodeWithoutImage(_)
            | NodeError::CreateIdMismatch { .. }
            | NodeError::Property(PropertyError::Undefined { .. })
            | NodeError::Property(PropertyError::NotAllowed { .. })
            | NodeError::Invalid(_)
            | NodeError::Firewall(_)
            | NodeError::EmptyImageUri
            | NodeError::NotIpv4(_)
            | NodeError::BadMinBabelVersion { .. }
            | NodeError::OwnVersion(_) => ErrorKind::InvalidArgument,
            NodeError::NameTaken(_)
            | NodeError::IpTaken(_)
            | NodeError::NoFreeIp
            | NodeError::DirExists(_)
            | NodeError::Property(PropertyError::NotDynamic { .. })
            | NodeError::BabelUnreachable
            | NodeError::NodeFailed(_)
            | NodeError::BlockingJobs(_)
            | NodeError::BabelTooOld { .. }
            | NodeError::Broken(_)
            | NodeError::UpgradeGate(_) => ErrorKind::FailedPrecondition,
            NodeError::UpgradePrepare(_) => ErrorKind::InvalidArgument,
            NodeError::NodeNotFound(_) | NodeError::MethodNotFound(_) => ErrorKind::NotFound,
            NodeError::State(_)
            | NodeError::Runtime(_)
            | NodeError::Rootfs(_)
            | NodeError::Agent(_)
            | NodeError::Network(_)
            | NodeError::Plugin(_)
            | NodeError::PluginTask(_)
            | NodeError::Io { .. }
            | NodeError::Journal(_)
            | NodeError::UpgradeUnhealthy { .. }
            | NodeError::UpgradeRolledBack(_)
            | NodeError::UpgradeRolledBackUnhealthy { .. }
            | NodeError::UpgradeFailed { .. } => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::super::upgrade_errors::{GateError, PrepareError};
    use super::*;
    use bv_base::json_file::JsonFileError;

    fn io() -> std::io::Error {
        std::io::Error::other("disk on fire")
    }

    fn semver_err() -> semver::Error {
        semver::Version::parse("not a version").unwrap_err()
    }

    /// Every variant of [`NodeError`] with the kind the local API answers it with.
    async fn table() -> Vec<(NodeError, ErrorKind)> {
        use ErrorKind::*;
        let join = tokio::spawn(std::future::pending::<()>());
        join.abort();
        let join_err = join.await.unwrap_err();
        vec![
            (NodeError::NodeNotFound("n".into()), NotFound),
            (NodeError::MethodNotFound("height".into()), NotFound),
            (NodeError::NameTaken("n".into()), FailedPrecondition),
            (NodeError::IpTaken("10.0.0.2".into()), FailedPrecondition),
            (NodeError::NoFreeIp, FailedPrecondition),
            (NodeError::DirExists("/x".into()), FailedPrecondition),
            (NodeError::BabelUnreachable, FailedPrecondition),
            (NodeError::NodeFailed(Refused::Upgrade), FailedPrecondition),
            (NodeError::NodeFailed(Refused::Update), FailedPrecondition),
            (
                NodeError::BlockingJobs(vec!["sync".into()]),
                FailedPrecondition,
            ),
            (
                NodeError::Property(PropertyError::NotDynamic { key: "k".into() }),
                FailedPrecondition,
            ),
            (
                NodeError::BabelTooOld {
                    required: "9.0.0".into(),
                    ours: semver::Version::new(1, 0, 0),
                },
                FailedPrecondition,
            ),
            (
                NodeError::Broken(Arc::new(state::Unreadable {
                    current: state::StateError::TooNew {
                        path: "/s".into(),
                        found: 99,
                    },
                    previous: state::StateError::File(JsonFileError::Read {
                        path: "/p".into(),
                        source: io(),
                    }),
                })),
                FailedPrecondition,
            ),
            (
                NodeError::UpgradeGate(GateError::BlockingJobs {
                    jobs: "sync".into(),
                }),
                FailedPrecondition,
            ),
            (
                NodeError::BadId {
                    field: "spec.id",
                    value: "x".into(),
                    source: Uuid::parse_str("x").unwrap_err(),
                },
                InvalidArgument,
            ),
            (
                NodeError::TooManyFirewallRules { max: 128 },
                InvalidArgument,
            ),
            (NodeError::ApiNodeWithoutImage(Uuid::nil()), InvalidArgument),
            (
                NodeError::CreateIdMismatch {
                    command: Uuid::nil(),
                    node: Uuid::max(),
                },
                InvalidArgument,
            ),
            (
                NodeError::Invalid(super::super::validate::InvalidField {
                    field: "name",
                    reason: "is empty".into(),
                }),
                InvalidArgument,
            ),
            (
                NodeError::Property(PropertyError::Undefined {
                    key: "k".into(),
                    suggestion: None,
                    defined: vec![],
                }),
                InvalidArgument,
            ),
            (
                NodeError::Property(PropertyError::NotAllowed {
                    key: "k".into(),
                    value: "v".into(),
                    allowed: vec!["w".into()],
                }),
                InvalidArgument,
            ),
            (
                NodeError::Firewall(FirewallError::Field {
                    field: "port".into(),
                    value: "x".into(),
                    reason: "not a number".into(),
                }),
                InvalidArgument,
            ),
            (NodeError::EmptyImageUri, InvalidArgument),
            (NodeError::NotIpv4("::1".into()), InvalidArgument),
            (
                NodeError::BadMinBabelVersion {
                    required: "x".into(),
                    source: semver_err(),
                },
                InvalidArgument,
            ),
            (NodeError::OwnVersion(semver_err()), InvalidArgument),
            (
                NodeError::UpgradePrepare(PrepareError::StageBusy("/s".into())),
                InvalidArgument,
            ),
            (
                NodeError::State(state::StateError::TooNew {
                    path: "/s".into(),
                    found: 99,
                }),
                Internal,
            ),
            (
                NodeError::Runtime(bv_host::container::RuntimeError::NotFound("c".into())),
                Internal,
            ),
            (
                NodeError::Rootfs(bv_host::rootfs::RootfsError::BadDir {
                    uri: "dir:x".into(),
                    path: "x".into(),
                }),
                Internal,
            ),
            (
                NodeError::Agent(agent::AgentError::NotReady {
                    socket: "s".into(),
                    secs: 1,
                    last: "refused".into(),
                }),
                Internal,
            ),
            (
                NodeError::Network(bv_host::net::NetError::Refused {
                    command: "ip".into(),
                }),
                Internal,
            ),
            (
                NodeError::Plugin(PluginError::MethodNotFound("m".into())),
                Internal,
            ),
            (NodeError::PluginTask(join_err), Internal),
            (
                NodeError::Io {
                    context: "creating x".into(),
                    source: io(),
                },
                Internal,
            ),
            (
                NodeError::Journal(crate::journal::JournalError::Io {
                    path: "/j".into(),
                    source: io(),
                }),
                Internal,
            ),
            (
                NodeError::UpgradeUnhealthy {
                    version: "2".into(),
                    timeout_secs: 1,
                    last: "down".into(),
                },
                Internal,
            ),
            (
                NodeError::UpgradeRolledBack(Box::new(NodeError::EmptyImageUri)),
                Internal,
            ),
            (
                NodeError::UpgradeRolledBackUnhealthy {
                    version: "2".into(),
                    timeout_secs: 1,
                    reason: "down".into(),
                },
                Internal,
            ),
            (
                NodeError::UpgradeFailed {
                    error: Box::new(NodeError::EmptyImageUri),
                    rollback: Box::new(NodeError::NoFreeIp),
                },
                Internal,
            ),
        ]
    }

    #[tokio::test]
    async fn every_variant_has_its_kind() {
        for (error, kind) in table().await {
            assert_eq!(error.kind(), kind, "{error:?}");
        }
    }

    #[test]
    fn messages_stay_as_users_see_them() {
        let cases = [
            (
                NodeError::NodeNotFound("node-a".into()),
                "node `node-a` not found",
            ),
            (
                NodeError::NameTaken("node-a".into()),
                "a node named `node-a` already exists",
            ),
            (
                NodeError::IpTaken("10.0.0.2".into()),
                "ip 10.0.0.2 is already used by another node",
            ),
            (NodeError::NoFreeIp, "no free node IP left; give --ip"),
            (
                NodeError::DirExists("/nodes/x".into()),
                "node dir /nodes/x already exists",
            ),
            (
                NodeError::MethodNotFound("nope".into()),
                "protocol method not found: nope",
            ),
            (
                NodeError::NodeFailed(Refused::Upgrade),
                "can't upgrade a Failed node; start or stop it first",
            ),
            (
                NodeError::NodeFailed(Refused::Update),
                "can't update a Failed node; start or stop it first",
            ),
            (
                NodeError::BlockingJobs(vec!["a".into(), "b".into()]),
                "upgrade-blocking job(s) running: a, b; retry when they finish",
            ),
            (
                NodeError::TooManyFirewallRules { max: 128 },
                "firewall: at most 128 rules",
            ),
            (
                NodeError::Property(PropertyError::NotDynamic {
                    key: "sync-mode".into(),
                }),
                "property `sync-mode` cannot change while the node runs (dynamic_value: false); \
                 stop the node first",
            ),
            (
                NodeError::UpgradeFailed {
                    error: Box::new(NodeError::EmptyImageUri),
                    rollback: Box::new(NodeError::NoFreeIp),
                },
                "upgrade failed (image uri is empty) and rollback failed too (no free node IP \
                 left; give --ip); node marked Failed",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}
