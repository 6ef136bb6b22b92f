//! Why an archive transfer failed: [`ArchiveError`] and the kinds it groups (HTTP failures,
//! corrupt chunks, unusable manifests, bad job parameters).

use std::path::{Path, PathBuf};

use babel_api::rpc::MissingField;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The backend has no archive (or no such version); `message` is the backend's text.
    #[error("archive not found: {call} failed: {message}")]
    NotFound { call: &'static str, message: String },
    /// The backend already has what `call` would create; `message` is the backend's text.
    #[error("already exists: {call} failed: {message}")]
    AlreadyExists { call: &'static str, message: String },
    /// A backend call failed; `retry` tells whether asking again may help.
    #[error("{call} failed: {message}")]
    Backend {
        call: &'static str,
        message: String,
        retry: bool,
    },
    /// The backend answered a chunk request with none of the chunks asked for.
    #[error("no chunk descriptors returned for {indexes:?}")]
    NoChunkDescriptors { indexes: Vec<u32> },
    /// The backend sent a chunk without a URL to download it from.
    #[error("chunk {index} has no download URL")]
    NoDownloadUrl { index: u32 },
    /// A file system operation (`op`: open, create, stat, ...) on `path` failed.
    #[error("can't {op} {}: {source}", path.display())]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Walking the source tree failed at `path` (empty when unknown).
    #[error("can't list {path}: {source}")]
    List {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A source file ended before a planned range: it changed after planning.
    #[error(
        "can't read {len} bytes at {pos} of {} (file changed during upload?): {source}",
        path.display()
    )]
    ReadRange {
        len: u64,
        pos: u64,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The thread writing downloaded data failed.
    #[error("Writer error: {0}")]
    Writer(#[source] std::io::Error),
    /// The thread writing downloaded data hung up early.
    #[error("Writer error: writer stopped")]
    WriterStopped,
    #[error("zstd compression failed: {0}")]
    Compress(#[source] std::io::Error),
    /// HTTP transfer of a chunk failed (network, status, short body): worth retrying.
    #[error(transparent)]
    Http(#[from] HttpFailure),
    /// Chunk content doesn't match its manifest entry (digest, decoding, size).
    #[error(transparent)]
    Corrupt(#[from] Corruption),
    /// The manifest or metadata is unusable.
    #[error("corrupted manifest - {0}")]
    Manifest(#[from] ManifestError),
    /// Bad job parameters (globs, chunk count, paths).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Can't download {required} bytes of data while only {available} available")]
    DiskSpace { required: u64, available: u64 },
    /// Stopped on request; nothing failed.
    #[error("{0} interrupted")]
    Interrupted(&'static str),
    #[error("chunk '{key}' {op} failed: {source}")]
    Chunk {
        key: String,
        op: &'static str,
        #[source]
        source: Box<ArchiveError>,
    },
    /// A blocking task of the transfer panicked or was cancelled.
    #[error("{task} task failed: {source}")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("{0} thread panicked")]
    ThreadPanicked(&'static str),
    /// The hashing thread hung up while chunk data was still arriving.
    #[error("hashing thread stopped")]
    HashingStopped,
    #[error("can't build HTTP client: {0}")]
    HttpClient(#[source] crate::http_client::ClientError),
    #[error("invalid state file {}: {source}", path.display())]
    StateFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("can't serialize {file}: {source}")]
    Serialize {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    /// A planned block is larger than this platform can address.
    #[error("block too large for this platform")]
    BlockTooLarge,
    /// The source tree walk returned a path outside the source.
    #[error("walked outside the source")]
    OutsideSource,
    #[error("can't stat {path}: {source}")]
    Stat {
        path: String,
        #[source]
        source: walkdir::Error,
    },
    #[error("internal error - chunk without destinations")]
    ChunkWithoutDestinations,
    #[error("no upload slot for chunk {index}")]
    NoUploadSlot { index: u32 },
    #[error("chunk {index} missing after upload")]
    MissingAfterUpload { index: u32 },
}

impl ArchiveError {
    /// The error of file system operation `op` on `path`, for `map_err`.
    pub fn file(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ArchiveError::File { op, path, source }
    }

    /// A failed blocking `task`, for `map_err`.
    pub fn task(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |source| ArchiveError::Task { task, source }
    }

    /// Whether running the same step again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ArchiveError::Http(_)
            | ArchiveError::Corrupt(_)
            | ArchiveError::NoChunkDescriptors { .. }
            | ArchiveError::NoDownloadUrl { .. } => true,
            ArchiveError::Backend { retry, .. } => *retry,
            ArchiveError::Chunk { source, .. } => source.is_transient(),
            _ => false,
        }
    }
}

/// An HTTP request of a chunk transfer that failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    #[error("GET failed: {0}")]
    Get(#[source] reqwest::Error),
    #[error("server responded with {0}")]
    GetStatus(reqwest::StatusCode),
    #[error("server ignored the Range request ({0})")]
    RangeIgnored(reqwest::StatusCode),
    #[error("server error: received more bytes than requested")]
    TooManyBytes,
    #[error("server error: received less bytes than requested")]
    TooFewBytes,
    #[error("GET body failed: {0}")]
    Body(#[source] reqwest::Error),
    #[error("PUT failed: {0}")]
    Put(#[source] reqwest::Error),
    #[error("server responded with {status}|{headers:?}|{body}")]
    PutStatus {
        status: reqwest::StatusCode,
        headers: Box<reqwest::header::HeaderMap>,
        body: String,
    },
}

/// Chunk content that doesn't match its manifest entry.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    #[error("chunk decoding failed: {0}")]
    Decode(#[source] std::io::Error),
    #[error("chunk decoding failed: the last zstd frame is truncated")]
    TruncatedFrame,
    #[error("(decompressed) chunk size doesn't match expected one")]
    DecodedSize,
    #[error("received {received} bytes, expected {expected}")]
    Size { received: u64, expected: u64 },
    /// The digests as the manifest prints them (`kind:hex`).
    #[error("chunk checksum mismatch - expected {expected}, actual {actual}")]
    Checksum { expected: String, actual: String },
}

/// Why a manifest or its metadata is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("sha1 chunk checksums are not supported")]
    Sha1Checksum,
    #[error("invalid destination '{0}'")]
    InvalidDestination(String),
    #[error("expected at least one destination file in chunk {index}")]
    NoDestinations { index: u32 },
    #[error("total_size {total_size} is smaller than already downloaded data {have}")]
    TotalSizeTooSmall { total_size: u64, have: u64 },
    #[error("chunk checksum has no kind")]
    ChecksumWithoutKind,
    #[error("chunk {index} ('{key}') has no checksum")]
    NoChecksum { index: u32, key: String },
    #[error("compression: {0}")]
    Compression(#[source] MissingField),
}

/// Bad parameters of an archive job.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not an upload job")]
    NotUpload,
    #[error("invalid number of chunks - need at least one")]
    NoChunks,
    #[error("invalid exclude pattern '{pattern}': {source}")]
    ExcludePattern {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("invalid exclude patterns: {0}")]
    ExcludePatterns(#[source] globset::Error),
    #[error("invalid source directory {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
}

/// One value of every variant, with its message and whether it is transient.
#[cfg(test)]
pub(crate) async fn examples() -> Vec<(ArchiveError, &'static str, bool)> {
    let io = || std::io::Error::other("x");
    let reqwest_error = || reqwest::Client::new().get("no url").build().unwrap_err();
    let json_error = || serde_json::from_str::<u32>("x").unwrap_err();
    let join_error = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
    // The task id in the text depends on what else ran in this process.
    let task_message: &'static str =
        Box::leak(format!("unpack task failed: {join_error}").into_boxed_str());
    let walk_error = walkdir::WalkDir::new("/nonexistent/source")
        .into_iter()
        .next()
        .unwrap()
        .unwrap_err();
    let glob_error = || globset::Glob::new("a[").unwrap_err();
    let client_error =
        crate::http_client::ClientError::Tls(tokio_rustls::rustls::Error::General("x".into()));
    let call = "download_metadata";
    let message = || "no archive".to_string();
    let status = reqwest::StatusCode::NOT_FOUND;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("server", "s3".parse().unwrap());
    vec![
        (
            ArchiveError::NotFound {
                call,
                message: message(),
            },
            "archive not found: download_metadata failed: no archive",
            false,
        ),
        (
            ArchiveError::AlreadyExists {
                call,
                message: message(),
            },
            "already exists: download_metadata failed: no archive",
            false,
        ),
        (
            ArchiveError::Backend {
                call,
                message: message(),
                retry: true,
            },
            "download_metadata failed: no archive",
            true,
        ),
        (
            ArchiveError::Backend {
                call,
                message: message(),
                retry: false,
            },
            "download_metadata failed: no archive",
            false,
        ),
        (
            ArchiveError::NoChunkDescriptors {
                indexes: vec![1, 2],
            },
            "no chunk descriptors returned for [1, 2]",
            true,
        ),
        (
            ArchiveError::NoDownloadUrl { index: 3 },
            "chunk 3 has no download URL",
            true,
        ),
        (
            ArchiveError::file("open", Path::new("/d"))(io()),
            "can't open /d: x",
            false,
        ),
        (
            ArchiveError::List {
                path: "/src/a".into(),
                source: io(),
            },
            "can't list /src/a: x",
            false,
        ),
        (
            ArchiveError::ReadRange {
                len: 4,
                pos: 8,
                path: "/src/a".into(),
                source: io(),
            },
            "can't read 4 bytes at 8 of /src/a (file changed during upload?): x",
            false,
        ),
        (ArchiveError::Writer(io()), "Writer error: x", false),
        (
            ArchiveError::WriterStopped,
            "Writer error: writer stopped",
            false,
        ),
        (
            ArchiveError::Compress(io()),
            "zstd compression failed: x",
            false,
        ),
        (
            HttpFailure::Get(reqwest_error()).into(),
            "GET failed: builder error",
            true,
        ),
        (
            HttpFailure::GetStatus(status).into(),
            "server responded with 404 Not Found",
            true,
        ),
        (
            HttpFailure::RangeIgnored(reqwest::StatusCode::OK).into(),
            "server ignored the Range request (200 OK)",
            true,
        ),
        (
            HttpFailure::TooManyBytes.into(),
            "server error: received more bytes than requested",
            true,
        ),
        (
            HttpFailure::TooFewBytes.into(),
            "server error: received less bytes than requested",
            true,
        ),
        (
            HttpFailure::Body(reqwest_error()).into(),
            "GET body failed: builder error",
            true,
        ),
        (
            HttpFailure::Put(reqwest_error()).into(),
            "PUT failed: builder error",
            true,
        ),
        (
            HttpFailure::PutStatus {
                status,
                headers: Box::new(headers),
                body: "NoSuchBucket".into(),
            }
            .into(),
            r#"server responded with 404 Not Found|{"server": "s3"}|NoSuchBucket"#,
            true,
        ),
        (
            Corruption::Decode(io()).into(),
            "chunk decoding failed: x",
            true,
        ),
        (
            Corruption::TruncatedFrame.into(),
            "chunk decoding failed: the last zstd frame is truncated",
            true,
        ),
        (
            Corruption::DecodedSize.into(),
            "(decompressed) chunk size doesn't match expected one",
            true,
        ),
        (
            Corruption::Size {
                received: 1,
                expected: 2,
            }
            .into(),
            "received 1 bytes, expected 2",
            true,
        ),
        (
            Corruption::Checksum {
                expected: "blake3:00".into(),
                actual: "blake3:01".into(),
            }
            .into(),
            "chunk checksum mismatch - expected blake3:00, actual blake3:01",
            true,
        ),
        (
            ManifestError::Sha1Checksum.into(),
            "corrupted manifest - sha1 chunk checksums are not supported",
            false,
        ),
        (
            ManifestError::InvalidDestination("../f".into()).into(),
            "corrupted manifest - invalid destination '../f'",
            false,
        ),
        (
            ManifestError::NoDestinations { index: 4 }.into(),
            "corrupted manifest - expected at least one destination file in chunk 4",
            false,
        ),
        (
            ManifestError::TotalSizeTooSmall {
                total_size: 5,
                have: 6,
            }
            .into(),
            "corrupted manifest - total_size 5 is smaller than already downloaded data 6",
            false,
        ),
        (
            ManifestError::ChecksumWithoutKind.into(),
            "corrupted manifest - chunk checksum has no kind",
            false,
        ),
        (
            ManifestError::NoChecksum {
                index: 7,
                key: "k".into(),
            }
            .into(),
            "corrupted manifest - chunk 7 ('k') has no checksum",
            false,
        ),
        (
            ManifestError::Compression(MissingField("compression.kind")).into(),
            "corrupted manifest - compression: invalid message: missing field `compression.kind`",
            false,
        ),
        (ConfigError::NotUpload.into(), "not an upload job", false),
        (
            ConfigError::NoChunks.into(),
            "invalid number of chunks - need at least one",
            false,
        ),
        (
            ConfigError::ExcludePattern {
                pattern: "a[".into(),
                source: glob_error(),
            }
            .into(),
            "invalid exclude pattern 'a[': error parsing glob 'a[': unclosed character class; missing ']'",
            false,
        ),
        (
            ConfigError::ExcludePatterns(glob_error()).into(),
            "invalid exclude patterns: error parsing glob 'a[': unclosed character class; missing ']'",
            false,
        ),
        (
            ConfigError::NotADirectory("/src".into()).into(),
            "invalid source directory /src: not a directory",
            false,
        ),
        (
            ArchiveError::DiskSpace {
                required: 8,
                available: 9,
            },
            "Can't download 8 bytes of data while only 9 available",
            false,
        ),
        (
            ArchiveError::Interrupted("upload"),
            "upload interrupted",
            false,
        ),
        (
            ArchiveError::Chunk {
                key: "k".into(),
                op: "download",
                source: Box::new(HttpFailure::TooFewBytes.into()),
            },
            "chunk 'k' download failed: server error: received less bytes than requested",
            true,
        ),
        (
            ArchiveError::Task {
                task: "unpack",
                source: join_error,
            },
            task_message,
            false,
        ),
        (
            ArchiveError::ThreadPanicked("hashing"),
            "hashing thread panicked",
            false,
        ),
        (
            ArchiveError::HashingStopped,
            "hashing thread stopped",
            false,
        ),
        (
            ArchiveError::HttpClient(client_error),
            "can't build HTTP client: failed to set up TLS: unexpected error: x",
            false,
        ),
        (
            ArchiveError::StateFile {
                path: "/s/chunks.json".into(),
                source: json_error(),
            },
            "invalid state file /s/chunks.json: expected value at line 1 column 1",
            false,
        ),
        (
            ArchiveError::Serialize {
                file: "chunks.json".into(),
                source: json_error(),
            },
            "can't serialize chunks.json: expected value at line 1 column 1",
            false,
        ),
        (
            ArchiveError::BlockTooLarge,
            "block too large for this platform",
            false,
        ),
        (
            ArchiveError::OutsideSource,
            "walked outside the source",
            false,
        ),
        (
            ArchiveError::Stat {
                path: "a/b".into(),
                source: walk_error,
            },
            "can't stat a/b: IO error for operation on /nonexistent/source: No such file or directory (os error 2)",
            false,
        ),
        (
            ArchiveError::ChunkWithoutDestinations,
            "internal error - chunk without destinations",
            false,
        ),
        (
            ArchiveError::NoUploadSlot { index: 10 },
            "no upload slot for chunk 10",
            false,
        ),
        (
            ArchiveError::MissingAfterUpload { index: 11 },
            "chunk 11 missing after upload",
            false,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_and_transience_of_every_variant() {
        for (err, message, transient) in examples().await {
            assert_eq!(err.to_string(), message);
            assert_eq!(err.is_transient(), transient, "{message}");
        }
    }
}
