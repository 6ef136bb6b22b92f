//! [`NodeOps`] on the daemon's node registry: the same node operations the local API runs.

use std::sync::Arc;

use uuid::Uuid;

use super::convert::ConfigUpdate;
use super::dispatch::{NodeOps, NodeReport};
use bv_node::node::state::{NodeState, Status};
use bv_node::node::upgrade::UpgradeTarget;
use bv_node::node::upgrade_gate::{OnBlocking, UpgradeGate};
use bv_node::node::{NodeError, NodeResult};
use bv_node::nodes::Registry;

/// How long an upgrade command waits for the plugin's upgrade window: commands run one at a
/// time, so the wait is short; running upgrade-blocking jobs refuse the command at once
/// (`BLOCKING_JOB_RUNNING` with a retry hint), as the control plane expects.
const COMMAND_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct RegistryOps(pub Arc<Registry>);

impl RegistryOps {
    fn entry(&self, id: Uuid) -> NodeResult<Arc<bv_node::nodes::NodeEntry>> {
        self.0.get(&id.to_string())
    }
}

#[tonic::async_trait]
impl NodeOps for RegistryOps {
    async fn create(&self, state: NodeState, start: bool) -> NodeResult<()> {
        let entry = self.0.create(state).await?;
        if start {
            let mut node = entry.lock().await;
            if node.status().await != Status::Running {
                node.start().await?;
            }
        }
        Ok(())
    }

    async fn start(&self, id: Uuid) -> NodeResult<()> {
        let entry = self.entry(id)?;
        let mut node = entry.lock().await;
        if node.state.expected_status == Status::Running && node.status().await == Status::Running {
            return Ok(());
        }
        node.start().await
    }

    async fn stop(&self, id: Uuid) -> NodeResult<()> {
        let entry = self.entry(id)?;
        entry.cancel_plugin_calls();
        let mut node = entry.lock().await;
        node.stop(false).await
    }

    async fn restart(&self, id: Uuid) -> NodeResult<()> {
        let entry = self.entry(id)?;
        let mut node = entry.lock().await;
        node.restart(false).await
    }

    async fn delete(&self, id: Uuid) -> NodeResult<()> {
        match self.entry(id) {
            Ok(entry) => self.0.delete(&entry).await,
            Err(NodeError::NodeNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn upgrade(&self, id: Uuid, mut target: UpgradeTarget) -> NodeResult<()> {
        let entry = self.entry(id)?;
        let mut node = entry.lock().await;
        if target.image_key.protocol_key.is_empty() {
            target.image_key = node.state.image_key.clone();
        }
        let gate = UpgradeGate {
            on_blocking: OnBlocking::Refuse,
            max_wait: COMMAND_MAX_WAIT,
            ..Default::default()
        };
        node.upgrade_with(target, &gate).await
    }

    async fn update(&self, id: Uuid, update: ConfigUpdate) -> NodeResult<()> {
        let entry = self.entry(id)?;
        let mut node = entry.lock().await;
        node.state.tags = update.tags;
        node.update(bv_node::node::update::NodeUpdate {
            properties: update.properties,
            firewall: Some(update.firewall),
            display_name: Some(update.display_name),
        })
        .await
    }

    async fn reports(&self) -> Vec<NodeReport> {
        let mut out = vec![];
        for entry in self.0.list() {
            let (state, status) = match entry.try_lock() {
                Some(node) => (node.state.clone(), node.status().await),
                None => (entry.cached(), Status::Busy),
            };
            if state.dev_mode {
                continue;
            }
            let metrics = (status == Status::Running)
                .then(|| self.0.observed().get(&state.id))
                .flatten()
                .and_then(|o| o.metrics);
            let protocol = metrics.as_ref().and_then(|m| m.protocol_status.clone());
            out.push(NodeReport {
                id: state.id,
                status,
                config_id: state.image.config_id,
                ip: state.ip,
                gateway: state.gateway,
                protocol_state: protocol.as_ref().map(|p| p.state.clone()),
                protocol_health: protocol.map(|p| p.health),
                p2p_address: metrics.and_then(|m| m.address),
                upgrade_waiting: entry.upgrade_wait().map(|w| w.to_string()),
            });
        }
        out
    }
}
