//! Host daemon `blockvisord`, on top of `bv_node` (nodes) and `bv_host` (host primitives).
//!
//! * [`daemon`]: the local API server, re-attach, recovery loop.
//! * [`cloud`]: registration with the control-plane API and its command stream.
//! * [`metrics`]: health checks of nodes and the Prometheus endpoint.
//! * [`autoupgrade`]: automatic upgrades of nodes to newer images.

pub mod autoupgrade;
pub mod cloud;
pub mod daemon;
pub mod metrics;
