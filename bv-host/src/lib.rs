//! Host primitives of blockvisord, the floor below nodes: nothing here knows about a node's
//! lifecycle.
//!
//! * [`config`]: embedded defaults, TOML file, flags (and every type the config holds).
//! * [`image`]: the OCI image store (pull, unpack, mount).
//! * [`container`]: the runtime trait, runc, the OCI spec builder.
//! * [`rootfs`]: images as node root filesystems.
//! * [`net`]: node networking and the per-node firewall.
//! * [`scheduler`]: cron tasks of node plugins.
//! * [`apilink`]: the link to the control-plane API (credentials, client, connection).
//! * [`hostinfo`]: host figures (capacity, usage).

pub mod apilink;
pub mod config;
pub mod container;
pub mod hostinfo;
pub mod image;
pub mod net;
pub mod rootfs;
pub mod scheduler;
