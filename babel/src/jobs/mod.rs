//! The jobs manager inside the agent: job registry, dependency resolution, the status store
//! on disk, and the runner processes (one per job).

pub mod deps;
pub mod events;
pub mod manager;
pub mod process;
mod state;
pub mod store;
mod supervise;
pub mod validate;

pub use manager::{JobsManager, ManagerError};
