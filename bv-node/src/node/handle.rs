//! One node with the handles its operations need; the operations themselves are in the
//! sibling modules (`create`, `lifecycle`, `update`, `upgrade`, `plugin`, `recovery`).

use std::sync::{Arc, Mutex};

use babel_plugin::{CallCancel, Plugin};

use super::agent::Agent;
use super::backoff::Recovery;
use super::env;
use super::error::{NodeResult, io_err};
use super::paths::NodePaths;
use super::services::Services;
use super::state::{NodeState, Unreadable};
use super::upgrade_wait::UpgradeWaitCell;

/// File in the node dir holding why the node's last start failed.
const LAST_ERROR_FILE: &str = "last_error";

/// A node's loaded plugin, shared with its scheduled tasks and the health check.
pub type SharedPlugin = Arc<PluginCell>;

/// A loaded plugin behind its lock, with the handle that cancels its calls without it.
#[derive(Debug)]
pub struct PluginCell {
    pub(crate) plugin: Mutex<Plugin>,
    pub(crate) cancel: CallCancel,
}

impl PluginCell {
    pub(crate) fn new(plugin: Plugin) -> Self {
        Self {
            cancel: plugin.canceller(),
            plugin: Mutex::new(plugin),
        }
    }
}

/// The cancel handle of a node's current plugin, reachable without the node's lock (so a
/// stop or delete can end a hung call before it waits for the node).
#[derive(Debug, Default)]
pub struct PluginCancel(Mutex<Option<CallCancel>>);

impl PluginCancel {
    fn set(&self, cancel: Option<CallCancel>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = cancel;
    }

    /// Cancels the running call and every later one of the current plugin.
    pub fn close(&self) {
        if let Some(cancel) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            cancel.close();
        }
    }
}

/// A node with the handles its operations need.
pub struct Node {
    pub state: NodeState,
    pub paths: NodePaths,
    pub svc: Arc<Services>,
    pub agent: Option<Arc<dyn Agent>>,
    pub plugin: Option<SharedPlugin>,
    /// Cancels the current plugin's calls; shared with the node's registry entry.
    pub plugin_cancel: Arc<PluginCancel>,
    /// What a pending upgrade waits for; shared with the node's registry entry.
    pub upgrade_wait: Arc<UpgradeWaitCell>,
    /// The node's `BabelEngine` server (while the node should run).
    pub engine_server: Option<tokio::task::JoinHandle<()>>,
    pub recovery: Recovery,
    /// Why the last start failed (also in `<node dir>/last_error`, so it survives restarts).
    pub last_error: Option<String>,
    /// Why the node's state cannot be read; its `state` is then a salvaged stand-in that is
    /// never written back.
    pub broken: Option<Arc<Unreadable>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.state.id)
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(svc: Arc<Services>, state: NodeState) -> Self {
        let paths = NodePaths::new(&svc.config.nodes_dir(), state.id);
        Self {
            state,
            paths,
            svc,
            agent: None,
            plugin: None,
            plugin_cancel: Arc::default(),
            upgrade_wait: Arc::default(),
            engine_server: None,
            recovery: Recovery::default(),
            last_error: None,
            broken: None,
        }
    }

    /// The runc container id of this node.
    pub fn container_id(&self) -> String {
        self.state.id.to_string()
    }

    /// Serves the node's engine socket (idempotent).
    pub fn serve_engine(&mut self) -> NodeResult<()> {
        if self
            .engine_server
            .as_ref()
            .is_some_and(|h| !h.is_finished())
        {
            return Ok(());
        }
        let socket = self.paths.engine_socket();
        let archive = crate::engine::server::NodeArchive {
            archive_id: self.state.image.archive_id.clone(),
            store_key: self.state.image.store_key.clone(),
        };
        let handle =
            crate::engine::server::serve(self.state.id, &socket, self.svc.cloud.clone(), archive)
                .map_err(io_err(format!("serving {}", socket.display())))?;
        self.engine_server = Some(handle);
        Ok(())
    }

    /// The node environment, with the host id and API URL of the registration when the
    /// host is registered.
    pub fn node_env(&self) -> babel_api::node_env::NodeEnv {
        let mut env = env::node_env(&self.state, &self.svc.config);
        if let Some(api) = self.svc.cloud.client() {
            env.bv_host_id = api.host_id.clone();
            env.bv_api_url = api.api_url.clone();
        }
        env
    }

    /// Makes `plugin` the node's plugin (`None` drops it).
    pub(crate) fn set_plugin(&mut self, plugin: Option<SharedPlugin>) {
        self.plugin_cancel
            .set(plugin.as_ref().map(|p| p.cancel.clone()));
        self.plugin = plugin;
    }

    /// Drops the plugin after cancelling its running and queued calls at once (stop,
    /// delete); it is loaded again on next use.
    pub fn drop_plugin(&mut self) {
        self.plugin_cancel.close();
        self.set_plugin(None);
    }

    pub fn stop_engine(&mut self) {
        if let Some(h) = self.engine_server.take() {
            h.abort();
        }
    }

    /// Keeps why an operation failed, for the status reason of a Failed node.
    pub fn record_failure(&mut self, error: &str) {
        let path = self.paths.dir.join(LAST_ERROR_FILE);
        if let Err(e) = bv_base::write_atomic(&path, error.as_bytes()) {
            tracing::warn!(node = %self.state.id, "saving {}: {e}", path.display());
        }
        self.last_error = Some(error.to_string());
    }

    pub fn clear_failure(&mut self) {
        self.last_error = None;
        let _ = std::fs::remove_file(self.paths.dir.join(LAST_ERROR_FILE));
    }

    /// Why the last start failed, if it did (read back after a daemon restart).
    pub fn last_failure(&self) -> Option<String> {
        self.last_error.clone().or_else(|| {
            std::fs::read_to_string(self.paths.dir.join(LAST_ERROR_FILE))
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
    }

    pub fn save(&self) -> NodeResult<()> {
        if let Some(error) = &self.broken {
            return Err(super::NodeError::Broken(error.clone()));
        }
        self.state.save(&self.paths.dir)?;
        Ok(())
    }
}
