//! What node operations need from the host, shared by all nodes.

use std::path::PathBuf;
use std::sync::Arc;

use super::agent::AgentConnector;
use bv_host::config::Config;
use bv_host::container::ContainerRuntime;
use bv_host::net::NodeNetwork;
use bv_host::rootfs::RootfsProvider;

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
    pub scheduler: Arc<bv_host::scheduler::Scheduler>,
    /// The control-plane API connection (empty until the host is registered).
    pub cloud: Arc<bv_host::apilink::Link>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("root", &self.config.root)
            .finish_non_exhaustive()
    }
}
