//! `bv`, the command line of blockvisord. It links the contract crate (`babel_api`) and talks
//! to the daemon over its local socket only; no daemon internals.
//!
//! * [`cli`]: the commands.
//! * [`nodeset`]: the client-side orchestration of node sets.
//! * the local-socket gRPC client is `bv_base::uds`.

pub mod cli;
pub mod nodeset;
