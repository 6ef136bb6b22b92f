//! Node networking: host network (dev mode) or a per-node network namespace with a veth
//! into a Linux bridge and a fixed IP.

pub mod bridge;
pub mod error;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod firewall;
pub mod host_rules;
pub mod network;
pub mod nft;

pub use error::NetError;
pub use network::{HostOnly, NodeNet, NodeNetwork, allocate_ip, netns_path};

/// Bridge networking for nodes that do not share the host network.
pub fn default_network(config: &crate::config::Config) -> std::sync::Arc<dyn NodeNetwork> {
    std::sync::Arc::new(bridge::Bridge::new(config.network.clone()))
}
