//! The contract between host and node.
//!
//! * [`pb`]: generated gRPC code for every proto under `proto/` (Babel API, the local
//!   blockvisord API, and the control-plane API), one module per protobuf package.
//! * [`job`], [`node_env`]: the job and node models shared by plugin host, agent and daemon.
//! * [`engine`]: the seam through which plugins cause node-side effects (the Rhai host that
//!   calls it lives in `babel-plugin`, which the in-node agent does not link).
//! * [`rpc`]: conversions between the models and their protobuf messages.

pub mod engine;
pub mod job;
pub mod node_env;
pub mod rpc;

/// Generated protobuf and gRPC code, nested by protobuf package (`pb::babel::v1`, ...).
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb_tree.rs"));

    /// Encoded `FileDescriptorSet` of every proto, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
}

/// Version of this build, reported by every binary and checked against image requirements.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
