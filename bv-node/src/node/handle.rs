//! One node with the handles its operations need; the operations themselves are in the
//! sibling modules (`create`, `lifecycle`, `update`, `upgrade`, `plugin`, `recovery`).

use std::sync::{Arc, Mutex};

use babel_plugin::Plugin;

use super::agent::Agent;
use super::backoff::Recovery;
use super::env;
use super::error::{NodeResult, io_err};
use super::paths::NodePaths;
use super::services::Services;
use super::state::NodeState;

/// A node's loaded plugin, shared with its scheduled tasks and the health check.
pub type SharedPlugin = Arc<Mutex<Plugin>>;

/// A node with the handles its operations need.
pub struct Node {
    pub state: NodeState,
    pub paths: NodePaths,
    pub svc: Arc<Services>,
    pub agent: Option<Arc<dyn Agent>>,
    pub plugin: Option<SharedPlugin>,
    /// The node's `BabelEngine` server (while the node should run).
    pub engine_server: Option<tokio::task::JoinHandle<()>>,
    pub recovery: Recovery,
    /// Why the node's state cannot be read; its `state` is then a salvaged stand-in that is
    /// never written back.
    pub broken: Option<String>,
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
            engine_server: None,
            recovery: Recovery::default(),
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

    pub fn stop_engine(&mut self) {
        if let Some(h) = self.engine_server.take() {
            h.abort();
        }
    }

    pub fn save(&self) -> NodeResult<()> {
        if let Some(error) = &self.broken {
            return Err(super::NodeError::Broken(error.clone()));
        }
        self.state.save(&self.paths.dir)?;
        Ok(())
    }
}
