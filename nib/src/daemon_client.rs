//! Client of the local blockvisord API (Unix socket), behind the narrow [`DevNodes`] trait so
//! the play/check/upgrade logic is tested with a fake.

use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use eyre::{Context, Result};
use tonic::transport::Channel;

/// blockvisord's default socket (overridden by `--socket` / `BV_SOCKET`).
pub const DEFAULT_SOCKET: &str = "/run/blockvisor.sock";

/// What nib needs from the daemon.
pub trait DevNodes {
    async fn create_node(&mut self, spec: pb::NodeSpec) -> Result<pb::Node>;
    async fn start_node(&mut self, id: &str) -> Result<pb::Node>;
    async fn get_node(&mut self, id_or_name: &str) -> Result<pb::Node>;
    async fn node_metrics(&mut self, id: &str) -> Result<pb::NodeMetrics>;
    async fn delete_node(&mut self, id: &str) -> Result<()>;
    async fn upgrade_node(&mut self, id_or_name: &str, spec: pb::NodeSpec) -> Result<pb::Node>;
}

/// The real daemon.
pub struct Daemon {
    client: BlockvisorClient<Channel>,
}

impl Daemon {
    pub async fn connect(socket: &Path) -> Result<Self> {
        let channel = bv_base::uds::connect(socket, None)
            .await
            .wrap_err_with(|| {
                format!(
                    "cannot reach blockvisord at {} (is it running? set --socket or BV_SOCKET)",
                    socket.display()
                )
            })?;
        Ok(Self {
            client: BlockvisorClient::new(channel),
        })
    }
}

fn node_ref(id_or_name: &str) -> pb::NodeRef {
    pb::NodeRef {
        id_or_name: id_or_name.to_string(),
    }
}

fn status(e: tonic::Status) -> eyre::Report {
    eyre::eyre!("blockvisord: {} ({:?})", e.message(), e.code())
}

impl DevNodes for Daemon {
    async fn create_node(&mut self, spec: pb::NodeSpec) -> Result<pb::Node> {
        let tags = spec.tags.clone();
        let req = pb::CreateNodeRequest {
            source: Some(pb::create_node_request::Source::Spec(spec)),
            properties: Default::default(),
            tags,
        };
        Ok(self
            .client
            .create_node(req)
            .await
            .map_err(status)?
            .into_inner())
    }

    async fn start_node(&mut self, id: &str) -> Result<pb::Node> {
        Ok(self
            .client
            .start_node(node_ref(id))
            .await
            .map_err(status)?
            .into_inner())
    }

    async fn get_node(&mut self, id_or_name: &str) -> Result<pb::Node> {
        Ok(self
            .client
            .get_node(node_ref(id_or_name))
            .await
            .map_err(status)?
            .into_inner())
    }

    async fn node_metrics(&mut self, id: &str) -> Result<pb::NodeMetrics> {
        Ok(self
            .client
            .get_node_metrics(node_ref(id))
            .await
            .map_err(status)?
            .into_inner())
    }

    async fn delete_node(&mut self, id: &str) -> Result<()> {
        self.client
            .delete_node(node_ref(id))
            .await
            .map_err(status)?;
        Ok(())
    }

    async fn upgrade_node(&mut self, id_or_name: &str, spec: pb::NodeSpec) -> Result<pb::Node> {
        let req = pb::UpgradeNodeRequest {
            id_or_name: id_or_name.to_string(),
            target: Some(pb::upgrade_node_request::Target::Spec(spec)),
            health_timeout_secs: None,
        };
        Ok(self
            .client
            .upgrade_node(req)
            .await
            .map_err(status)?
            .into_inner())
    }
}
