//! Host daemon `blockvisord` and its CLI `bv`.
//!
//! * [`config`]: embedded defaults, TOML file, flags.
//! * [`daemon`]: the local API server, re-attach, recovery loop.
//! * [`nodes`] / [`node`]: the registry and one node's state and operations.
//! * [`container`]: the runtime trait, runc, the OCI spec builder.
//! * [`rootfs`], [`net`]: images as node root filesystems, node networking.
//! * [`cli`]: the `bv` command line.
//! * [`cloud`]: registration with the control-plane API, its command stream, archives and
//!   secrets.

pub mod apilink;
pub mod autoupgrade;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod container;
pub mod daemon;
pub mod engine;
pub mod fsutil;
pub mod hostinfo;
pub mod image;
pub mod metrics;
pub mod net;
pub mod node;
pub mod nodes;
pub mod nodeset;
pub mod rootfs;
pub mod scheduler;
pub mod uds;
