//! One node: its persisted state, its paths on disk, and the operations on it (create,
//! start, stop, restart, delete, upgrade, recovery). Callers serialise operations per node
//! (see `nodes::Registry`).

pub mod agent;
mod api_ca;
pub mod backoff;
pub mod container;
pub mod create;
pub mod env;
pub mod error;
pub mod handle;
pub mod lifecycle;
pub mod paths;
pub mod plugin;
pub mod property_rules;
pub mod recovery;
pub mod services;
pub mod state;
pub mod update;
pub mod upgrade;
pub mod upgrade_errors;
pub mod upgrade_gate;
pub mod upgrade_health;
pub mod upgrade_prepare;
pub mod upgrade_wait;
pub mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod upgrade_gate_tests;

pub use backoff::Recovery;
pub(crate) use error::io_err;
pub use error::{ErrorKind, NodeError, NodeResult, PropertyError, Refused};
pub use handle::{Node, PluginCancel, PluginCell, SharedPlugin};
pub use paths::NodePaths;
pub use services::Services;
