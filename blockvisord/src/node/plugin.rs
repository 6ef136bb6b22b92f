//! The host side of a node's Rhai plugin.

use babel_api::pb::blockvisor::v1 as pb;

use super::{Node, NodeError, NodeResult};

impl Node {
    /// Re-reads `main.rhai` from the node's rootfs.
    pub async fn reload_plugin(&mut self) -> NodeResult<()> {
        Ok(())
    }

    /// Runs the plugin's `init` (jobs, services, scheduled tasks).
    pub(crate) async fn plugin_init(&mut self) -> NodeResult<()> {
        Ok(())
    }

    pub async fn capabilities(&mut self) -> NodeResult<Vec<String>> {
        Err(NodeError::Unimplemented(
            "plugin host not available yet".into(),
        ))
    }

    pub async fn run_method(&mut self, _method: &str, _param: &str) -> NodeResult<String> {
        Err(NodeError::Unimplemented(
            "plugin host not available yet".into(),
        ))
    }

    pub async fn metrics(&mut self) -> NodeResult<pb::NodeMetrics> {
        Err(NodeError::Unimplemented(
            "plugin host not available yet".into(),
        ))
    }
}

impl Node {
    /// After a daemon restart: reload the plugin and re-register scheduled tasks.
    pub async fn reattach(&mut self) -> NodeResult<()> {
        Ok(())
    }
}

/// Daemon shutdown: stop plugin-side work (containers keep running).
pub async fn shutdown_all(_registry: &crate::nodes::Registry) {}
