//! The low-level link to the control-plane API: credentials of the registration
//! ([`creds`]), the authenticated gRPC client ([`client`]), the shared connection
//! ([`link`]) and the calls the command loop makes ([`control`]). Command handling is the
//! daemon's (`cloud`).

pub mod client;
pub mod control;
pub mod creds;
pub mod link;

pub use client::ApiClient;
pub use link::{Link, NotRegistered, archive_ref};
