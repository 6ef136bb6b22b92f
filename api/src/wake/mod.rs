//! Waking command streams. A stream waits on its host's [`Notify`]; whoever records a command
//! announces the host. The rows in `commands` are the truth: a wake only makes a stream read
//! them sooner, and streams still re-read on a slow timer, so a lost wake delays a command
//! but never loses it.
//!
//! One process on SQLite wakes in memory ([`LocalWake`]); replicas on PostgreSQL announce
//! with `NOTIFY` and every replica's listener wakes its own streams ([`PgWake`]).

mod hub;
mod local;
mod pg;

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Notify;

pub use hub::Hub;
pub use local::LocalWake;
pub use pg::{CHANNEL, PgWake, WakeError};

/// How a recorded command reaches the stream of its host.
pub trait Wake: Send + Sync + Debug {
    /// The signal the streams of `host_id` held on this replica wait on.
    fn subscribe(&self, host_id: &str) -> Arc<Notify>;
    /// Tells every replica that `host_id` has new commands. Best effort: failures are logged,
    /// the streams' timer picks the command up.
    fn announce<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, ()>;
    /// How long a stream may wait without a wake before it reads the database anyway.
    fn fallback_poll(&self) -> std::time::Duration;
}
