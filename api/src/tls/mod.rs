//! TLS for the listening sockets (gRPC and the web console): a certificate that is re-read
//! from its files when they change, and a listener that yields connections after their
//! handshake.

mod certs;
mod listener;

pub use certs::{ReloadingCert, TlsError, server_config};
pub use listener::{TlsConn, TlsListener};

/// How often served certificate files are checked for a renewal.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
