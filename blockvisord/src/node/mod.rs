//! One node: its persisted state, its paths on disk, and the operations on it (create,
//! start, stop, restart, delete, upgrade, recovery). Callers serialise operations per node
//! (see `nodes::Registry`).

pub mod agent;
pub mod container;
pub mod create;
pub mod env;
pub mod lifecycle;
pub mod plugin;
pub mod recovery;
pub mod state;
pub mod update;
pub mod upgrade;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use crate::config::Config;
use crate::container::ContainerRuntime;
use crate::net::NodeNetwork;
use crate::rootfs::RootfsProvider;
use agent::{Agent, AgentConnector};
use state::NodeState;

pub use recovery::Recovery;

/// Everything node operations need from the host, shared by all nodes.
pub struct Services {
    pub config: Config,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub rootfs: Arc<dyn RootfsProvider>,
    pub agents: Arc<dyn AgentConnector>,
    pub network: Arc<dyn NodeNetwork>,
    /// Directory holding `babel` and `babel-job-runner`.
    pub babel_dir: PathBuf,
    /// The `bv-init` binary bind-mounted as every container's PID 1.
    pub init_binary: PathBuf,
    pub scheduler: Arc<crate::scheduler::Scheduler>,
    /// The control-plane API connection (empty until the host is registered).
    pub cloud: Arc<crate::cloud::Link>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("root", &self.config.root)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("state: {0}")]
    State(#[from] state::StateError),
    #[error("container: {0}")]
    Runtime(#[from] crate::container::RuntimeError),
    #[error("image: {0}")]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Agent(#[from] agent::AgentError),
    #[error("network: {0}")]
    Network(#[from] crate::net::NetError),
    #[error("plugin: {0}")]
    Plugin(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("upgrade failed and was rolled back: {0}")]
    UpgradeRolledBack(String),
    #[error("upgrade failed ({error}) and rollback failed too ({rollback}); node marked Failed")]
    UpgradeFailed { error: String, rollback: String },
}

pub type NodeResult<T> = Result<T, NodeError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeError {
    let context = context.into();
    move |source| NodeError::Io { context, source }
}

/// Host paths of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    pub dir: PathBuf,
}

impl NodePaths {
    pub fn new(nodes_dir: &Path, id: Uuid) -> Self {
        Self {
            dir: nodes_dir.join(id.to_string()),
        }
    }
    /// Persistent data, `/blockjoy` in the node; survives upgrades.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// Bound at `/run/babel` in the node: babel and engine sockets.
    pub fn run(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub fn babel_socket(&self) -> PathBuf {
        self.run().join("babel.socket")
    }
    pub fn engine_socket(&self) -> PathBuf {
        self.run().join("engine.socket")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn plugin_dir(&self) -> PathBuf {
        self.rootfs().join("var/lib/babel/plugin")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn plugin_data(&self) -> PathBuf {
        self.dir.join("plugin.data")
    }
    pub fn plugin_config(&self) -> PathBuf {
        self.dir.join("plugin_config.json")
    }
    pub fn tasks(&self) -> PathBuf {
        self.dir.join("tasks.json")
    }
}

/// A node with the handles its operations need.
pub struct Node {
    pub state: NodeState,
    pub paths: NodePaths,
    pub svc: Arc<Services>,
    pub agent: Option<Arc<dyn Agent>>,
    pub plugin: Option<plugin::SharedPlugin>,
    /// The node's `BabelEngine` server (while the node should run).
    pub engine_server: Option<tokio::task::JoinHandle<()>>,
    pub recovery: Recovery,
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
        self.state.save(&self.paths.dir)?;
        Ok(())
    }
}
