//! The host side of a node's Rhai plugin: loading `main.rhai` from the node's rootfs with a
//! [`NodeEngine`], `init`, method calls, status and metrics. Plugin code is blocking, so it
//! runs on tokio's blocking pool.

use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use babel_plugin::{Plugin, PluginError, PluginLimits};
use tracing::{debug, info, warn};

use super::agent::{Agent, babel_client};
use super::handle::{Node, PluginCell, SharedPlugin};
use super::{NodeError, NodeResult};
use crate::engine::NodeEngine;

fn plugin_err(e: PluginError) -> NodeError {
    match e {
        PluginError::MethodNotFound(m) => NodeError::MethodNotFound(m),
        other => NodeError::Plugin(other),
    }
}

/// Cancels a plugin call when the future waiting for it is dropped (a caller's timeout),
/// so the blocking thread neither keeps running the script nor starts it later.
struct CancelOnDrop {
    cancel: babel_plugin::CallCancel,
    id: babel_plugin::CallId,
    done: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done {
            self.cancel.cancel(self.id);
        }
    }
}

/// Runs `f` on the plugin on a blocking thread. Dropping the returned future cancels the
/// call.
pub(super) async fn with_plugin<T, F>(plugin: &SharedPlugin, f: F) -> NodeResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Plugin) -> Result<T, PluginError> + Send + 'static,
{
    let plugin = plugin.clone();
    let id = plugin.cancel.new_call();
    let mut guard = CancelOnDrop {
        cancel: plugin.cancel.clone(),
        id,
        done: false,
    };
    let result = tokio::task::spawn_blocking(move || {
        let mut locked = plugin.plugin.lock().unwrap_or_else(|p| p.into_inner());
        let _running = locked.enter_call(id)?;
        f(&mut locked)
    })
    .await;
    guard.done = true;
    result.map_err(NodeError::PluginTask)?.map_err(plugin_err)
}

impl Node {
    pub(crate) fn engine(&self) -> NodeEngine {
        NodeEngine {
            node_id: self.state.id,
            node_dir: self.paths.dir.clone(),
            env: self.node_env(),
            params: self.state.properties.clone(),
            babel: babel_client(&self.paths.babel_socket(), Some(Duration::from_secs(600))),
            runtime: tokio::runtime::Handle::current(),
            scheduler: self.svc.scheduler.clone(),
            cloud: self.svc.cloud.clone(),
            archive: crate::engine::server::NodeArchive {
                archive_id: self.state.image.archive_id.clone(),
                store_key: self.state.image.store_key.clone(),
            },
        }
    }

    /// Loads `main.rhai` from the node's rootfs (mounting it if needed).
    pub async fn load_plugin(&mut self) -> NodeResult<SharedPlugin> {
        self.svc
            .rootfs
            .mount(&self.state.image.uri, &self.paths.dir)
            .await?;
        let dir = self.paths.plugin_dir();
        let engine = Arc::new(self.engine());
        let plugin = tokio::task::spawn_blocking(move || {
            Plugin::load(&dir, engine, PluginLimits::default())
        })
        .await
        .map_err(NodeError::PluginTask)?
        .map_err(plugin_err)?;
        let shared = Arc::new(PluginCell::new(plugin));
        self.set_plugin(Some(shared.clone()));
        Ok(shared)
    }

    /// The loaded plugin (loading it on first use, or again after its calls were cancelled
    /// for good).
    pub async fn plugin(&mut self) -> NodeResult<SharedPlugin> {
        match &self.plugin {
            Some(p) if !p.cancel.is_closed() => Ok(p.clone()),
            _ => self.load_plugin().await,
        }
    }

    /// Re-reads `main.rhai`; on a running node also re-evaluates `plugin_config`.
    pub async fn reload_plugin(&mut self) -> NodeResult<()> {
        let plugin = self.load_plugin().await?;
        if self.container_state().await.is_running() && self.agent.is_some() {
            with_plugin(&plugin, |p| p.reload_plugin_config()).await?;
        }
        Ok(())
    }

    /// Runs the plugin's `init` (jobs, services, scheduled tasks).
    pub(crate) async fn plugin_init(&mut self) -> NodeResult<()> {
        let plugin = self.plugin().await?;
        // Evaluate `plugin_config` first: `init` (default or custom) works from it.
        let has_init = with_plugin(&plugin, |p| {
            if p.has_capability("plugin_config") {
                p.reload_plugin_config()?;
            }
            Ok(p.has_capability("init"))
        })
        .await?;
        if has_init {
            with_plugin(&plugin, |p| p.init()).await?;
            info!(node = %self.state.id, "plugin init done");
        }
        Ok(())
    }

    pub async fn capabilities(&mut self) -> NodeResult<Vec<String>> {
        let plugin = self.plugin().await?;
        with_plugin(&plugin, |p| Ok(p.capabilities())).await
    }

    pub async fn run_method(&mut self, method: &str, param: &str) -> NodeResult<String> {
        let plugin = self.plugin().await?;
        let (method, param) = (method.to_string(), param.to_string());
        with_plugin(&plugin, move |p| {
            if !p.has_capability(&method) {
                return Err(PluginError::MethodNotFound(method));
            }
            p.call_method(&method, &param)
        })
        .await
    }

    /// Protocol status, height, block age, consensus, name, address and jobs.
    pub async fn metrics(&mut self) -> NodeResult<pb::NodeMetrics> {
        let plugin = self.plugin().await?;
        collect_metrics(&plugin, self.agent.as_deref()).await
    }

    /// After a daemon restart: reload the plugin and re-register scheduled tasks.
    pub async fn reattach(&mut self) -> NodeResult<()> {
        self.svc.scheduler.load_node(self.state.id, &self.paths.dir);
        self.serve_engine()?;
        self.load_plugin().await?;
        Ok(())
    }

    /// The node should run but its state does not record init as done: the daemon died
    /// between init and saving, or a torn `state.json` gave way to its previous copy.
    pub fn init_unrecorded(&self) -> bool {
        self.state.expected_status == super::state::Status::Running
            && self.state.upgrade.is_none()
            && !self.state.initialized
    }

    /// Starts a node of [`Node::init_unrecorded`] again, which runs init once more: plugins'
    /// init already runs again after property changes and upgrades, so a second run is within
    /// its contract.
    pub async fn finish_init(&mut self) -> NodeResult<()> {
        info!(node = %self.state.id, "init is not recorded as done; running it again");
        self.start().await
    }
}

/// The plugin's figures and babel's jobs; needs no node lock (the health check uses it).
/// Alert kind of a plugin method that failed during metrics collection (its real error).
pub const PLUGIN_ERROR_ALERT: &str = "plugin_error";
/// Alert kind of a plugin that did not answer in time (a hung or far too slow script).
pub const PLUGIN_UNRESPONSIVE_ALERT: &str = "plugin_unresponsive";
/// Alert kind of an ignored unknown `plugin_config` key.
pub const PLUGIN_CONFIG_ALERT: &str = "plugin_config";

/// Metrics from the plugin and the agent; plugin errors and config warnings as alerts.
/// Jobs are listed over the node's agent connection (none without one), so a health pass
/// opens no connection per node.
pub async fn collect_metrics(
    plugin: &SharedPlugin,
    agent: Option<&dyn Agent>,
) -> NodeResult<pb::NodeMetrics> {
    let mut m = with_plugin(plugin, |p| {
        let mut m = pb::NodeMetrics::default();
        if p.has_capability("protocol_status") {
            match p.protocol_status() {
                Ok(s) => {
                    m.protocol_status = Some(pb::ProtocolStatus {
                        state: s.state,
                        health: serde_json::to_value(s.health)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                    })
                }
                Err(e) => {
                    warn!("protocol_status: {e}");
                    let kind = match e {
                        PluginError::Timeout { .. } => PLUGIN_UNRESPONSIVE_ALERT,
                        _ => PLUGIN_ERROR_ALERT,
                    };
                    m.alerts.push(pb::NodeAlert {
                        kind: kind.into(),
                        message: format!("protocol_status: {e}"),
                    });
                }
            }
        }
        // Unknown plugin_config keys are ignored, so the node runs; they stay visible.
        for warning in p.config_warnings() {
            m.alerts.push(pb::NodeAlert {
                kind: PLUGIN_CONFIG_ALERT.into(),
                message: warning.to_string(),
            });
        }
        let busy = m
            .protocol_status
            .as_ref()
            .is_some_and(|s| ["downloading", "uploading", "starting"].contains(&s.state.as_str()));
        if !busy {
            if p.has_capability("height") {
                m.height = p.height().ok();
            }
            if p.has_capability("block_age") {
                m.block_age = p.block_age().ok();
            }
            if p.has_capability("consensus") {
                m.consensus = p.consensus().ok();
            }
        }
        if p.has_capability("name") {
            m.name = p.name().ok();
        }
        if p.has_capability("address") {
            m.address = p.address().ok();
        }
        Ok(m)
    })
    .await?;
    if let Some(agent) = agent {
        match agent.jobs().await {
            Ok(jobs) => m.jobs = jobs,
            Err(e) => debug!("listing jobs: {e}"),
        }
    }
    Ok(m)
}

/// Calls a plugin method without holding the node's lock (scheduled tasks).
pub async fn call(plugin: &SharedPlugin, method: &str, param: &str) -> NodeResult<String> {
    let (method, param) = (method.to_string(), param.to_string());
    with_plugin(plugin, move |p| p.call_method(&method, &param)).await
}
