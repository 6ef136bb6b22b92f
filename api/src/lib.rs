//! `bv-api`: the control-plane API server. Protocols, images, archives (chunk storage and
//! expiring URLs), hosts, nodes, node secrets, and the command streams hosts dial out to.
//! SQLite by default, PostgreSQL with the same code; chunks on the local filesystem or any
//! S3-compatible store.

pub mod auth;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod figures;
pub mod http;
pub mod janitor;
pub mod server;
pub mod services;
pub mod storage;
pub mod tls;
pub mod wake;
