//! Mechanisms every crate of the workspace shares, each implemented once.
//!
//! * [`atomic`]: crash-safe file replacement (temp file, fsync, rename, fsync of the
//!   directory), with an exact mode when asked; [`atomic_async`] is the same on tokio.
//! * [`uds`]: gRPC channels and listeners on Unix sockets.
//! * `json_file` (feature `json-file`): JSON files kept by the host, read with the path in
//!   every error and written atomically.
//! * `api_endpoint` (feature `api-tls`): how clients reach the control-plane API (TLS, the
//!   plaintext rule).
//! * `cli_docs` (feature `cli-docs`): shell completions and man pages from a clap definition.
//! * [`fault`]: named crash points for the crash-injection tests (no-ops unless the
//!   `fault-injection` feature is on).
//! * [`suggest`]: "did you mean" suggestions for misspelt names.
//! * [`term`]: whether escape codes may go to a stream (TTY, `NO_COLOR`).

#[cfg(feature = "api-tls")]
pub mod api_endpoint;
pub mod atomic;
pub mod atomic_async;
#[cfg(feature = "cli-docs")]
pub mod cli_docs;
pub mod fault;
#[cfg(feature = "json-file")]
pub mod json_file;
pub mod suggest;
pub mod term;
pub mod uds;

pub use atomic::{AtomicFile, is_temp_file, sync_file, write_atomic, write_atomic_mode};
pub use atomic_async::AsyncAtomicFile;
