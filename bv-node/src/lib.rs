//! Nodes of blockvisord, on top of the host primitives of `bv_host`.
//!
//! * [`node`]: one node's persisted state, paths and operations (create, start, stop,
//!   upgrade, recovery, plugin calls).
//! * [`nodes`]: the registry of the host's nodes, one lock per node, and what the health
//!   check last saw of each.
//! * [`engine`]: the host side of the plugin engine (`BabelEngine` per node).

pub mod engine;
pub mod journal;
pub mod node;
pub mod nodes;
