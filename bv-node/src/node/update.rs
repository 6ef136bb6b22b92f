//! Changing a node in place, without recreating it: properties (the plugin's
//! `node_params()`), firewall rules and display name.
//!
//! * Firewall changes are validated first and then applied atomically to the running node.
//!   If applying fails the previous rules stay in force and the state keeps them too.
//! * Property changes on a running node are refused while an upgrade-blocking job runs
//!   (retry later). Otherwise the plugin is loaded again with the new values and `init` runs
//!   again, which re-creates the jobs and services (babel restarts a job that is re-created
//!   while active). A stopped node runs `init` at its next start.

use std::collections::BTreeMap;
use std::time::Duration;

use babel_api::pb::babel::v1 as bpb;
use tracing::info;

use super::agent::babel_client;
use super::state::Status;
use super::{Node, NodeError, NodeResult, Refused};
use bv_host::net::firewall::Firewall;

/// What an update changes; `None`/empty fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    /// Merged into the node's properties.
    pub properties: BTreeMap<String, String>,
    pub firewall: Option<Firewall>,
    pub display_name: Option<String>,
}

impl Node {
    /// Loads the node's firewall into its network namespace (bridged nodes only).
    pub async fn apply_firewall(&self) -> NodeResult<()> {
        if self.state.host_network {
            return Ok(());
        }
        self.svc
            .network
            .apply_firewall(&self.container_id(), &self.state.firewall)
            .await?;
        Ok(())
    }

    /// Names of running upgrade-blocking jobs (empty when babel cannot be asked).
    async fn blocking_jobs(&self) -> Vec<String> {
        let mut client = babel_client(&self.paths.babel_socket(), Some(Duration::from_secs(10)));
        let Ok(jobs) = client.get_jobs(bpb::GetJobsRequest {}).await else {
            return vec![];
        };
        babel_api::rpc::running_upgrade_blocking(&jobs.into_inner().jobs)
    }

    pub async fn update(&mut self, update: NodeUpdate) -> NodeResult<()> {
        if self.status().await == Status::Failed {
            return Err(NodeError::NodeFailed(Refused::Update));
        }
        if let Some(fw) = &update.firewall {
            bv_host::net::firewall::validate(fw)?;
        }
        super::property_rules::check(
            &self.state.property_rules,
            &self.state.properties,
            &update.properties,
            self.container_state().await.is_running(),
        )?;
        let props_changed = update
            .properties
            .iter()
            .any(|(k, v)| self.state.properties.get(k) != Some(v));
        let running = self.state.expected_status == Status::Running;
        if props_changed && running && self.agent.is_some() {
            let blocking = self.blocking_jobs().await;
            if !blocking.is_empty() {
                return Err(NodeError::BlockingJobs(blocking));
            }
        }

        if let Some(name) = update.display_name {
            self.state.display_name = name;
        }
        if let Some(fw) = update.firewall
            && fw != self.state.firewall
        {
            let previous = std::mem::replace(&mut self.state.firewall, fw);
            if let Err(e) = self.apply_firewall().await {
                self.state.firewall = previous;
                return Err(e);
            }
            info!(node = %self.state.id, "firewall updated");
        }
        if props_changed {
            self.state.properties.extend(update.properties);
            self.state.initialized = false;
        }
        self.save()?;

        if props_changed {
            // The plugin reads node_params() from its engine: load it with the new values.
            self.load_plugin().await?;
            if running && self.agent.is_some() && self.container_state().await.is_running() {
                self.plugin_init().await?;
                self.state.initialized = true;
                self.save()?;
                info!(node = %self.state.id, "properties updated, plugin re-initialised");
            }
        }
        Ok(())
    }
}
