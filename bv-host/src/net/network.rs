//! The node network seam: what a node's network looks like, and the trait that sets it up.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use async_trait::async_trait;

use super::error::NetError;
use crate::container::spec::Network;

/// What a node's network looks like from the inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNet {
    pub ip: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
}

#[async_trait]
pub trait NodeNetwork: Send + Sync + 'static {
    /// Prepares the node's network namespace (idempotent) and says how to join it.
    async fn setup(&self, node_id: &str, net: &NodeNet) -> Result<Network, NetError>;
    /// Removes the node's namespace and veth (idempotent).
    async fn teardown(&self, node_id: &str) -> Result<(), NetError>;
    /// What of the node's network exists on the host now (namespace, veth), by name.
    async fn leftovers(&self, node_id: &str) -> Vec<String>;
    /// Replaces the node's firewall rules atomically. A node whose namespace does not exist
    /// yet gets them when it is set up (the caller applies them after `setup`). Host-network
    /// implementations do nothing: a node's rules must not filter the host.
    async fn apply_firewall(
        &self,
        _node_id: &str,
        _firewall: &super::firewall::Firewall,
    ) -> Result<(), NetError> {
        Ok(())
    }
}

/// Host networking for every node.
#[derive(Debug, Default)]
pub struct HostOnly;

#[async_trait]
impl NodeNetwork for HostOnly {
    async fn setup(&self, _node_id: &str, _net: &NodeNet) -> Result<Network, NetError> {
        Ok(Network::Host)
    }
    async fn teardown(&self, _node_id: &str) -> Result<(), NetError> {
        Ok(())
    }
    async fn leftovers(&self, _node_id: &str) -> Vec<String> {
        vec![]
    }
}

/// Path of a named network namespace as created by `ip netns add`.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/var/run/netns").join(name)
}

/// Next free address in `[first, last]` not in `used` (linear in the number of nodes: the
/// used addresses are looked up in a set, not scanned for every candidate).
pub fn allocate_ip(first: Ipv4Addr, last: Ipv4Addr, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let used: std::collections::HashSet<u32> = used.iter().map(|ip| u32::from(*ip)).collect();
    (u32::from(first)..=u32::from(last))
        .find(|ip| !used.contains(ip))
        .map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_first_free() {
        let a = Ipv4Addr::new(10, 0, 0, 10);
        let b = Ipv4Addr::new(10, 0, 0, 11);
        let c = Ipv4Addr::new(10, 0, 0, 12);
        assert_eq!(allocate_ip(a, c, &[a]), Some(b));
        assert_eq!(allocate_ip(a, b, &[a, b]), None);
    }
}
