//! Fake node network for unit tests: remembers which nodes have a namespace.

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{NetError, NodeNet, NodeNetwork};
use crate::container::spec::Network;

#[derive(Debug, Default)]
pub struct FakeNetwork {
    /// Node ids whose namespace exists.
    pub namespaces: Mutex<BTreeSet<String>>,
}

impl FakeNetwork {
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl NodeNetwork for FakeNetwork {
    async fn setup(&self, node_id: &str, _net: &NodeNet) -> Result<Network, NetError> {
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node_id.to_string());
        Ok(Network::Host)
    }

    async fn teardown(&self, node_id: &str) -> Result<(), NetError> {
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node_id);
        Ok(())
    }

    async fn leftovers(&self, node_id: &str) -> Vec<String> {
        if self.namespaces().contains(node_id) {
            vec![format!("netns bv-{node_id}")]
        } else {
            vec![]
        }
    }
}
