//! What the gRPC handlers report, and the one mapping of those errors to gRPC statuses.
//! Handlers return [`ApiError`]; each tonic trait method hands its body to [`grpc`].

use tonic::{Response, Status};

use crate::auth::AuthError;
use crate::crypto::CryptoError;
use crate::db::DbError;
use crate::storage::StorageError;

/// Why a caller may not do what it asked (beyond scopes, which [`AuthError`] covers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("no node of this host uses archive `{store_key}`")]
    ForeignArchive { store_key: String },
    #[error("a host may only see its own commands")]
    ForeignCommands,
    #[error("a host may only report for itself")]
    ForeignReport,
    #[error("a host may only act on itself")]
    ForeignHost,
    #[error("a host may only create nodes on itself")]
    ForeignNodeCreate,
    #[error("a host may only list its own nodes")]
    ForeignNodeList,
    #[error("hosts cannot provision hosts")]
    HostProvisions,
    #[error("hosts cannot list hosts")]
    HostLists,
    #[error("hosts cannot delete hosts")]
    HostDeletes,
    #[error("only a logged-in user can create API keys")]
    NotUserSession,
    #[error("hosts have no API keys")]
    HostApiKeys,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // Malformed requests.
    #[error("{field} is required")]
    Required { field: &'static str },
    #[error("{0} or {1} is required")]
    RequiredOneOf(&'static str, &'static str),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} `{value}` must be lower-kebab-case (a-z, 0-9, single dashes)")]
    NotKebab { field: &'static str, value: String },
    #[error("{field} `{value}` is not semantic: {source}")]
    NotSemver {
        field: &'static str,
        value: String,
        #[source]
        source: semver::Error,
    },
    #[error("unknown visibility {0}")]
    UnknownVisibility(i32),
    #[error("invalid exit_code {0}")]
    InvalidExitCode(i32),
    #[error("email must contain `@`")]
    EmailWithoutAt,
    #[error("password must have at least {min} characters")]
    ShortPassword { min: usize },
    #[error("an API key needs at least one scope")]
    NoScopes,
    #[error("unknown scope `{0}`")]
    UnknownScope(String),
    #[error("archive pointer needs store_key or disallowed")]
    EmptyArchivePointer,
    #[error("chunk index {index} out of range (archive has {chunk_count} chunks)")]
    ChunkOutOfRange { index: u32, chunk_count: i64 },
    #[error("at most {max} slots per call")]
    TooManySlots { max: usize },
    #[error("chunk key `{key}` does not belong to data version {data_version} of `{store_key}`")]
    ForeignChunkKey {
        key: String,
        data_version: u64,
        store_key: String,
    },
    #[error("node_count must be 1..={max}")]
    NodeCount { max: u32 },
    #[error("node_name needs node_count 1")]
    NamedNodeCount,
    #[error("property `{key}` cannot change on an existing node (not dynamic)")]
    NotDynamic { key: String },
    #[error("this change needs different protocol data; create a new node")]
    ArchiveChange,
    #[error("unknown property `{key}` (image has: {})", .known.join(", "))]
    UnknownProperty { key: String, known: Vec<String> },
    #[error("property `{group}` has no option `{value}` (options: {})", .options.join(", "))]
    UnknownOption {
        group: String,
        value: String,
        options: Vec<String>,
    },
    #[error("property `{group}` has no options")]
    NoOptions { group: String },
    #[error("secret name must be 1..=256 printable characters")]
    SecretName,
    #[error("secret larger than {max} bytes")]
    SecretTooLarge { max: usize },

    // Missing or existing things.
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    #[error("no archive data (manifest) for `{store_key}`")]
    NoManifest { store_key: String },
    #[error("protocol `{key}` already exists")]
    ProtocolExists { key: String },
    #[error("node name `{name}` is taken")]
    NodeNameTaken { name: String },
    #[error("data version {data_version} of `{store_key}` is already complete")]
    VersionComplete {
        data_version: i64,
        store_key: String,
    },
    #[error("data version {data_version} of `{store_key}` already has a manifest")]
    ManifestExists {
        data_version: u64,
        store_key: String,
    },

    // State that forbids the call.
    #[error("no host to place the node on (register a host first)")]
    NoHost,
    #[error("the host still has nodes; delete them first")]
    HostHasNodes,
    #[error("the node already runs this image")]
    SameImage,
    #[error("this combination of properties is not allowed: [{}]", .keys.join(", "))]
    DisallowedCombination { keys: Vec<String> },

    // Who is asking.
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("invalid, used or expired provision token")]
    BadProvisionToken,
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Auth(#[from] AuthError),

    // Below the handlers.
    #[error("encoding log lines: {0}")]
    EncodeLogLines(#[source] serde_json::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ApiError {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The gRPC answer of a handler: its result, with the error mapped to its status.
pub async fn grpc<T>(handler: impl Future<Output = ApiResult<T>>) -> Result<Response<T>, Status> {
    handler.await.map(Response::new).map_err(Status::from)
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        use ApiError as E;
        match e {
            E::Auth(auth) => auth.into(),
            E::Db(DbError::Sqlx(sqlx::Error::Database(db))) if db.is_unique_violation() => {
                Status::already_exists(format!("already exists: {}", db.message()))
            }
            E::Storage(StorageError::BadKey(_)) => Status::invalid_argument(e.to_string()),
            E::Required { .. }
            | E::RequiredOneOf(..)
            | E::Empty { .. }
            | E::NotKebab { .. }
            | E::NotSemver { .. }
            | E::UnknownVisibility(_)
            | E::InvalidExitCode(_)
            | E::EmailWithoutAt
            | E::ShortPassword { .. }
            | E::NoScopes
            | E::UnknownScope(_)
            | E::EmptyArchivePointer
            | E::ChunkOutOfRange { .. }
            | E::TooManySlots { .. }
            | E::ForeignChunkKey { .. }
            | E::NodeCount { .. }
            | E::NamedNodeCount
            | E::NotDynamic { .. }
            | E::ArchiveChange
            | E::UnknownProperty { .. }
            | E::UnknownOption { .. }
            | E::NoOptions { .. }
            | E::SecretName
            | E::SecretTooLarge { .. } => Status::invalid_argument(e.to_string()),
            E::NotFound { .. } | E::NoManifest { .. } => Status::not_found(e.to_string()),
            E::ProtocolExists { .. }
            | E::NodeNameTaken { .. }
            | E::VersionComplete { .. }
            | E::ManifestExists { .. } => Status::already_exists(e.to_string()),
            E::NoHost | E::HostHasNodes | E::SameImage | E::DisallowedCombination { .. } => {
                Status::failed_precondition(e.to_string())
            }
            E::WrongCredentials | E::BadProvisionToken => Status::unauthenticated(e.to_string()),
            E::Denied(_) => Status::permission_denied(e.to_string()),
            E::Crypto(_) | E::EncodeLogLines(_) => Status::internal(e.to_string()),
            E::Db(_) | E::Storage(_) => {
                tracing::error!("{e}");
                Status::internal(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    fn semver_error() -> semver::Error {
        semver::Version::parse("not-a-version").expect_err("`not-a-version` is no version")
    }

    fn json_error() -> serde_json::Error {
        serde_json::from_str::<u8>("x").expect_err("`x` is no JSON number")
    }

    /// Every variant with the code its callers see, and the message for a few.
    #[test]
    fn every_variant_has_its_code() {
        use ApiError as E;
        let s = String::from;
        let table: Vec<(ApiError, Code)> = vec![
            (E::Required { field: "archive" }, Code::InvalidArgument),
            (E::RequiredOneOf("a", "b"), Code::InvalidArgument),
            (E::Empty { field: "name" }, Code::InvalidArgument),
            (
                E::NotKebab {
                    field: "tag",
                    value: s("A"),
                },
                Code::InvalidArgument,
            ),
            (
                E::NotSemver {
                    field: "semantic_version",
                    value: s("x"),
                    source: semver_error(),
                },
                Code::InvalidArgument,
            ),
            (E::UnknownVisibility(9), Code::InvalidArgument),
            (E::InvalidExitCode(0), Code::InvalidArgument),
            (E::EmailWithoutAt, Code::InvalidArgument),
            (E::ShortPassword { min: 8 }, Code::InvalidArgument),
            (E::NoScopes, Code::InvalidArgument),
            (E::UnknownScope(s("x")), Code::InvalidArgument),
            (E::EmptyArchivePointer, Code::InvalidArgument),
            (
                E::ChunkOutOfRange {
                    index: 3,
                    chunk_count: 2,
                },
                Code::InvalidArgument,
            ),
            (E::TooManySlots { max: 1 }, Code::InvalidArgument),
            (
                E::ForeignChunkKey {
                    key: s("k"),
                    data_version: 1,
                    store_key: s("s"),
                },
                Code::InvalidArgument,
            ),
            (E::NodeCount { max: 100 }, Code::InvalidArgument),
            (E::NamedNodeCount, Code::InvalidArgument),
            (E::NotDynamic { key: s("k") }, Code::InvalidArgument),
            (E::ArchiveChange, Code::InvalidArgument),
            (
                E::UnknownProperty {
                    key: s("k"),
                    known: vec![s("a")],
                },
                Code::InvalidArgument,
            ),
            (
                E::UnknownOption {
                    group: s("g"),
                    value: s("v"),
                    options: vec![s("a")],
                },
                Code::InvalidArgument,
            ),
            (E::NoOptions { group: s("g") }, Code::InvalidArgument),
            (E::SecretName, Code::InvalidArgument),
            (E::SecretTooLarge { max: 1 }, Code::InvalidArgument),
            (
                E::Storage(StorageError::BadKey(s("../x"))),
                Code::InvalidArgument,
            ),
            (E::not_found("node", "n1"), Code::NotFound),
            (E::NoManifest { store_key: s("s") }, Code::NotFound),
            (E::ProtocolExists { key: s("eth") }, Code::AlreadyExists),
            (E::NodeNameTaken { name: s("n") }, Code::AlreadyExists),
            (
                E::VersionComplete {
                    data_version: 1,
                    store_key: s("s"),
                },
                Code::AlreadyExists,
            ),
            (
                E::ManifestExists {
                    data_version: 1,
                    store_key: s("s"),
                },
                Code::AlreadyExists,
            ),
            (E::NoHost, Code::FailedPrecondition),
            (E::HostHasNodes, Code::FailedPrecondition),
            (E::SameImage, Code::FailedPrecondition),
            (
                E::DisallowedCombination {
                    keys: vec![s("a"), s("b")],
                },
                Code::FailedPrecondition,
            ),
            (E::WrongCredentials, Code::Unauthenticated),
            (E::BadProvisionToken, Code::Unauthenticated),
            (E::Auth(AuthError::InvalidToken), Code::Unauthenticated),
            (E::Auth(AuthError::AdminOnly), Code::PermissionDenied),
            (E::EncodeLogLines(json_error()), Code::Internal),
            (E::Crypto(CryptoError::Decrypt), Code::Internal),
            (
                E::Db(DbError::Corrupt {
                    what: "node",
                    source: "x".into(),
                }),
                Code::Internal,
            ),
            (
                E::Storage(StorageError::Io {
                    path: s("/x"),
                    source: std::io::Error::other("disk"),
                }),
                Code::Internal,
            ),
        ];
        let denials = [
            Denied::ForeignArchive { store_key: s("s") },
            Denied::ForeignCommands,
            Denied::ForeignReport,
            Denied::ForeignHost,
            Denied::ForeignNodeCreate,
            Denied::ForeignNodeList,
            Denied::HostProvisions,
            Denied::HostLists,
            Denied::HostDeletes,
            Denied::NotUserSession,
            Denied::HostApiKeys,
        ];
        let denied = denials
            .into_iter()
            .map(|d| (E::Denied(d), Code::PermissionDenied));
        for (e, code) in table.into_iter().chain(denied) {
            let text = e.to_string();
            let status = Status::from(e);
            assert_eq!(status.code(), code, "{text}");
            assert_eq!(status.message(), text);
        }
    }

    #[test]
    fn messages_read_as_before() {
        let cases = [
            (
                ApiError::Required {
                    field: "selector.version_key",
                },
                "selector.version_key is required",
            ),
            (
                ApiError::RequiredOneOf("image_id", "selector"),
                "image_id or selector is required",
            ),
            (
                ApiError::not_found("protocol version", "eth/main/latest"),
                "protocol version `eth/main/latest` not found",
            ),
            (
                ApiError::UnknownOption {
                    group: "network".into(),
                    value: "devnet".into(),
                    options: vec!["mainnet".into(), "testnet".into()],
                },
                "property `network` has no option `devnet` (options: mainnet, testnet)",
            ),
            (
                ApiError::DisallowedCombination {
                    keys: vec!["archive".into(), "network".into()],
                },
                "this combination of properties is not allowed: [archive, network]",
            ),
            (
                ApiError::Denied(Denied::ForeignArchive {
                    store_key: "eth-main".into(),
                }),
                "no node of this host uses archive `eth-main`",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }
}
