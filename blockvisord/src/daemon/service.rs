//! The local API (`blockvisor.v1.Blockvisor`) served to `bv` and `nib`.

use std::pin::Pin;
use std::sync::Arc;

use babel_api::pb::blockvisor::v1 as pb;
use babel_api::pb::blockvisor::v1::blockvisor_server::Blockvisor;
use futures::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::error::{ApiError, to_status};
use super::logs::LogStream;
use crate::cloud::forward::forward;
use bv_host::apilink::client::NodeAction;
use bv_node::node::Node;
use bv_node::node::state::Status as NodeStatus;
use bv_node::node::upgrade::UpgradeTarget;
use bv_node::nodes::{NodeEntry, Registry};

/// How long a catalog create waits for the node to appear locally before answering.
const CATALOG_CREATE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// How long a catalog upgrade waits for the API's Upgrade command to finish here.
const CATALOG_UPGRADE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long describing a node waits for its lock before answering `Busy` from the cached
/// state (so `bv node info|status` answer within a second whatever the node is doing).
const DESCRIBE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How long `get_node_metrics` waits for a fresh observation before answering from the last
/// one (the fresh one still lands in the cache).
const METRICS_FRESH_WAIT: std::time::Duration = std::time::Duration::from_millis(700);

pub struct Service {
    pub registry: Arc<Registry>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    pub fn entry(&self, id_or_name: &str) -> Result<Arc<NodeEntry>, Status> {
        self.registry.get(id_or_name).map_err(to_status)
    }

    pub async fn describe(&self, node: &Node) -> pb::Node {
        let status = node.status().await;
        let reason = if status.is_failed() {
            node.failure_reason().await
        } else {
            String::new()
        };
        let mut out = convert::node_to_pb(
            &node.state,
            status,
            &node.paths,
            &node.svc.runtime.state_root(),
            reason.clone(),
        );
        crate::metrics::annotate(&self.registry, &mut out, node.state.id, status, &reason);
        out.upgrade_wait = node.upgrade_wait.get().map(super::upgrade_gate::wait_to_pb);
        out
    }

    /// Describes a node, waiting a moment for short operations (scheduled tasks, metrics);
    /// a node still locked after that is `Busy` (start, stop, upgrade in progress).
    async fn describe_entry(&self, entry: &NodeEntry) -> pb::Node {
        match tokio::time::timeout(DESCRIBE_LOCK_WAIT, entry.lock()).await {
            Ok(node) => self.describe(&node).await,
            Err(_) => {
                let state = entry.cached();
                let svc = self.registry.services();
                let paths = bv_node::node::NodePaths::new(&svc.config.nodes_dir(), state.id);
                let mut out = convert::node_to_pb(
                    &state,
                    NodeStatus::Busy,
                    &paths,
                    &svc.runtime.state_root(),
                    String::new(),
                );
                out.upgrade_wait = entry.upgrade_wait().map(super::upgrade_gate::wait_to_pb);
                out
            }
        }
    }
}

#[tonic::async_trait]
impl Blockvisor for Service {
    async fn info(
        &self,
        _req: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        let svc = self.registry.services();
        let cfg = &svc.config;
        let client = svc.cloud.client();
        Ok(Response::new(pb::InfoResponse {
            version: babel_api::VERSION.into(),
            root: cfg.root.display().to_string(),
            socket: cfg.socket.display().to_string(),
            dev_mode: cfg.dev_mode,
            node_count: u32::try_from(self.registry.list().len()).unwrap_or(u32::MAX),
            pid: std::process::id(),
            metrics_addr: self.registry.observed().metrics_addr(),
            api_url: client
                .as_ref()
                .map(|c| c.api_url.clone())
                .unwrap_or_default(),
            host_id: client.map(|c| c.host_id.clone()).unwrap_or_default(),
            api_connected: svc.cloud.is_connected(),
            // The agent is built with the daemon and installed fresh at each node start.
            agent_version: babel_api::VERSION.into(),
        }))
    }

    async fn register_host(
        &self,
        req: Request<pb::RegisterHostRequest>,
    ) -> Result<Response<pb::RegisterHostResponse>, Status> {
        let registered = crate::cloud::register(&self.registry, req.into_inner()).await?;
        Ok(Response::new(registered))
    }

    async fn update_host_info(
        &self,
        _req: Request<pb::UpdateHostInfoRequest>,
    ) -> Result<Response<pb::UpdateHostInfoResponse>, Status> {
        crate::cloud::update_host_info(&self.registry).await?;
        Ok(Response::new(pb::UpdateHostInfoResponse {}))
    }

    async fn list_protocols(
        &self,
        req: Request<pb::ListProtocolsRequest>,
    ) -> Result<Response<pb::ListProtocolsResponse>, Status> {
        let req = req.into_inner();
        let limit = if req.number == 0 { 50 } else { req.number };
        let protocols =
            crate::cloud::list_catalog(&self.registry.services().cloud, req.name, limit).await?;
        Ok(Response::new(pb::ListProtocolsResponse { protocols }))
    }

    async fn get_host_metrics(
        &self,
        _req: Request<pb::GetHostMetricsRequest>,
    ) -> Result<Response<pb::HostMetrics>, Status> {
        Ok(Response::new(self.registry.host_metrics()))
    }

    async fn list_nodes(
        &self,
        _req: Request<pb::ListNodesRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        let mut nodes = vec![];
        for entry in self.registry.list() {
            nodes.push(self.describe_entry(&entry).await);
        }
        Ok(Response::new(pb::ListNodesResponse { nodes }))
    }

    async fn get_node(&self, req: Request<pb::NodeRef>) -> Result<Response<pb::Node>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        Ok(Response::new(self.describe_entry(&entry).await))
    }

    async fn create_node(
        &self,
        req: Request<pb::CreateNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let req = req.into_inner();
        let spec = match req.source {
            Some(pb::create_node_request::Source::Spec(spec)) => spec,
            Some(pb::create_node_request::Source::Catalog(c)) => {
                return self.create_from_catalog(c, req.properties, req.tags).await;
            }
            None => {
                return Err(ApiError::Missing("CreateNodeRequest.source").into());
            }
        };
        let cfg = &self.registry.services().config;
        let host_default = cfg.network.host_network || spec.dev_mode;
        let state = convert::state_from_spec(spec, req.properties, req.tags, host_default)
            .map_err(to_status)?;
        let entry = self.registry.create(state).await.map_err(to_status)?;
        let node = entry.lock().await;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn start_node(&self, req: Request<pb::NodeRef>) -> Result<Response<pb::Node>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        if forward(&self.registry, &entry, NodeAction::Start).await? {
            return Ok(Response::new(self.describe_entry(&entry).await));
        }
        let mut node = entry.lock().await;
        if node.state.dev_mode {
            node.reload_plugin().await.map_err(to_status)?;
        }
        node.start().await.map_err(to_status)?;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn stop_node(
        &self,
        req: Request<pb::StopNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        if !req.force && forward(&self.registry, &entry, NodeAction::Stop).await? {
            return Ok(Response::new(self.describe_entry(&entry).await));
        }
        entry.cancel_plugin_calls();
        let mut node = entry.lock().await;
        node.stop(req.force).await.map_err(to_status)?;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn restart_node(
        &self,
        req: Request<pb::StopNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        if !req.force && forward(&self.registry, &entry, NodeAction::Restart).await? {
            return Ok(Response::new(self.describe_entry(&entry).await));
        }
        let mut node = entry.lock().await;
        node.restart(req.force).await.map_err(to_status)?;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn delete_node(
        &self,
        req: Request<pb::NodeRef>,
    ) -> Result<Response<pb::DeleteNodeResponse>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        let forwarded = forward(&self.registry, &entry, NodeAction::Delete).await?;
        if !forwarded || self.registry.get(&entry.id.to_string()).is_ok() {
            // Not managed, or the API's Delete did not arrive in time: delete here.
            self.registry.delete(&entry).await.map_err(to_status)?;
        }
        Ok(Response::new(pb::DeleteNodeResponse {
            id: entry.id.to_string(),
        }))
    }

    async fn upgrade_node(
        &self,
        req: Request<pb::UpgradeNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        let gate = super::upgrade_gate::gate_from_pb(req.on_blocking(), req.max_wait_secs);
        let spec = match req.target {
            Some(pb::upgrade_node_request::Target::Spec(spec)) => spec,
            Some(pb::upgrade_node_request::Target::Catalog(c)) => {
                return self.upgrade_from_catalog(&entry, c).await;
            }
            None => {
                return Err(ApiError::Missing("UpgradeNodeRequest.target").into());
            }
        };
        // The new image's firewall (nib sends the variant's): checked before, applied after.
        let firewall = match spec.firewall {
            Some(fw) => {
                let fw = convert::firewall_from_pb(Some(fw)).map_err(to_status)?;
                bv_host::net::firewall::validate(&fw).map_err(ApiError::from)?;
                Some(fw)
            }
            None => None,
        };
        let mut node = entry.lock().await;
        let mut target = UpgradeTarget {
            image: convert::image_from_pb(spec.image),
            image_key: convert::image_key_from_pb(spec.image_key),
            vm_config: match spec.vm_config {
                Some(vm) => convert::vm_from_pb(Some(vm)),
                None => node.state.vm_config.clone(),
            },
            health_timeout: req.health_timeout_secs.map(std::time::Duration::from_secs),
        };
        if target.image_key.protocol_key.is_empty() {
            target.image_key = node.state.image_key.clone();
        }
        node.upgrade_with(target, &gate).await.map_err(to_status)?;
        if firewall.is_some() {
            let update = bv_node::node::update::NodeUpdate {
                firewall,
                ..Default::default()
            };
            node.update(update).await.map_err(to_status)?;
        }
        Ok(Response::new(self.describe(&node).await))
    }

    async fn update_node(
        &self,
        req: Request<pb::UpdateNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        let update = bv_node::node::update::NodeUpdate {
            properties: req.properties.into_iter().collect(),
            firewall: match req.firewall {
                Some(fw) => Some(convert::firewall_from_pb(Some(fw)).map_err(to_status)?),
                None => None,
            },
            display_name: req.display_name,
        };
        let mut node = entry.lock().await;
        if let Some(policy) = &req.upgrade_policy {
            crate::autoupgrade::runner::set_policy(&node.paths.dir, policy)
                .map_err(ApiError::UpgradePolicy)?;
        }
        node.update(update).await.map_err(to_status)?;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn reload_plugin(&self, req: Request<pb::NodeRef>) -> Result<Response<pb::Node>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        let mut node = entry.lock().await;
        node.reload_plugin().await.map_err(to_status)?;
        Ok(Response::new(self.describe(&node).await))
    }

    async fn list_capabilities(
        &self,
        req: Request<pb::NodeRef>,
    ) -> Result<Response<pb::ListCapabilitiesResponse>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        let mut node = entry.lock().await;
        let capabilities = node.capabilities().await.map_err(to_status)?;
        Ok(Response::new(pb::ListCapabilitiesResponse { capabilities }))
    }

    async fn run_method(
        &self,
        req: Request<pb::RunMethodRequest>,
    ) -> Result<Response<pb::RunMethodResponse>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        let mut node = entry.lock().await;
        if node.state.dev_mode {
            node.reload_plugin().await.map_err(to_status)?;
        }
        let result = node
            .run_method(&req.method, &req.param)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RunMethodResponse { result }))
    }

    async fn get_node_metrics(
        &self,
        req: Request<pb::NodeRef>,
    ) -> Result<Response<pb::NodeMetrics>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        let registry = self.registry.clone();
        let refresh_entry = entry.clone();
        let mut refresh = tokio::spawn(async move {
            let cadence = registry.services().config.metrics.cadence();
            let obs =
                crate::metrics::collect::observe(&refresh_entry, registry.observed(), cadence)
                    .await;
            registry.observed().put(obs.clone());
            obs
        });
        let obs = match tokio::time::timeout(METRICS_FRESH_WAIT, &mut refresh).await {
            Ok(Ok(obs)) => Some(obs),
            _ => self.registry.observed().get(&entry.id),
        };
        let Some(obs) = obs else {
            return Err(ApiError::NoMetrics.into());
        };
        let mut metrics = obs.metrics.unwrap_or_default();
        metrics.resources = Some(obs.resources);
        metrics.alerts = obs.alerts;
        Ok(Response::new(metrics))
    }

    async fn list_jobs(
        &self,
        req: Request<pb::NodeRef>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let entry = self.entry(&req.into_inner().id_or_name)?;
        Ok(Response::new(super::jobs::list(&entry).await?))
    }

    async fn job_info(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<babel_api::pb::babel::v1::JobInfo>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        Ok(Response::new(super::jobs::info(&entry, req.job).await?))
    }

    async fn start_job(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        self.job_action(req, super::jobs::Action::Start).await
    }

    async fn stop_job(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        self.job_action(req, super::jobs::Action::Stop).await
    }

    async fn skip_job(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        self.job_action(req, super::jobs::Action::Skip).await
    }

    async fn cleanup_job(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        self.job_action(req, super::jobs::Action::Cleanup).await
    }

    async fn restart_job(
        &self,
        req: Request<pb::NodeJobRequest>,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        self.job_action(req, super::jobs::Action::Restart).await
    }

    type JobLogsStream = LogStream;

    async fn job_logs(
        &self,
        req: Request<pb::JobLogsRequest>,
    ) -> Result<Response<Self::JobLogsStream>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        Ok(Response::new(super::jobs::logs(&entry, req).await?))
    }

    async fn list_upgrade_holds(
        &self,
        _req: Request<pb::ListUpgradeHoldsRequest>,
    ) -> Result<Response<pb::UpgradeHolds>, Status> {
        let root = &self.registry.services().config.root;
        Ok(Response::new(super::holds::list(root)?))
    }

    async fn release_upgrade_hold(
        &self,
        req: Request<pb::ReleaseUpgradeHoldRequest>,
    ) -> Result<Response<pb::UpgradeHolds>, Status> {
        let root = &self.registry.services().config.root;
        Ok(Response::new(super::holds::release(
            root,
            req.into_inner(),
        )?))
    }

    type PullImageStream = Pin<Box<dyn Stream<Item = Result<pb::PullProgress, Status>> + Send>>;

    async fn pull_image(
        &self,
        req: Request<pb::PullImageRequest>,
    ) -> Result<Response<Self::PullImageStream>, Status> {
        let req = req.into_inner();
        let svc = self.registry.services();
        let uri = match req.catalog {
            Some(c) if req.uri.is_empty() => {
                crate::cloud::catalog_image_uri(&svc.cloud, &c).await?
            }
            _ if req.uri.is_empty() => return Err(ApiError::Missing("PullImageRequest.uri").into()),
            _ => req.uri,
        };
        let rootfs = svc.rootfs.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress: bv_host::rootfs::ProgressFn = Box::new(move |p| {
                let _ = progress_tx.send(Ok(pb::PullProgress {
                    phase: p.phase,
                    total_bytes: p.total,
                    advance_bytes: p.advance,
                    phase_done: p.done,
                    digest: String::new(),
                }));
            });
            let last = match rootfs.ensure(&uri, Some(progress)).await {
                Ok(info) => Ok(pb::PullProgress {
                    digest: info.digest,
                    ..Default::default()
                }),
                Err(source) => Err(ApiError::Image { uri, source }.into()),
            };
            let _ = tx.send(last);
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        )))
    }

    type NodeLogsStream = LogStream;

    async fn node_logs(
        &self,
        req: Request<pb::NodeLogsRequest>,
    ) -> Result<Response<Self::NodeLogsStream>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        let path = entry.lock().await.paths.console_log();
        super::logs::tail(path, "console", req.lines, req.follow)
            .await
            .map(Response::new)
    }
}

impl Service {
    /// Asks the API for the node, then waits for its Create command to make it here.
    async fn create_from_catalog(
        &self,
        c: pb::CatalogNodeRequest,
        properties: std::collections::HashMap<String, String>,
        tags: Vec<String>,
    ) -> Result<Response<pb::Node>, Status> {
        let svc = self.registry.services();
        let api_node = crate::cloud::create_from_catalog(&svc.cloud, &c, &properties, tags).await?;
        let deadline = tokio::time::Instant::now() + CATALOG_CREATE_WAIT;
        loop {
            if let Ok(entry) = self.registry.get(&api_node.node_id) {
                return Ok(Response::new(self.describe_entry(&entry).await));
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Not here yet (image still pulling, or the stream is reconnecting): the node as
        // the API describes it, Busy.
        let state =
            crate::cloud::convert::state_from_api(&api_node, svc.config.network.host_network)
                .map_err(to_status)?;
        let paths = bv_node::node::NodePaths::new(&svc.config.nodes_dir(), state.id);
        Ok(Response::new(convert::node_to_pb(
            &state,
            NodeStatus::Busy,
            &paths,
            &svc.runtime.state_root(),
            String::new(),
        )))
    }

    /// Asks the API to upgrade the node, then waits for its Upgrade command to run here.
    async fn upgrade_from_catalog(
        &self,
        entry: &NodeEntry,
        c: pb::CatalogNodeRequest,
    ) -> Result<Response<pb::Node>, Status> {
        let svc = self.registry.services();
        let image_id = crate::cloud::upgrade_from_catalog(&svc.cloud, &entry.cached(), &c).await?;
        let deadline = tokio::time::Instant::now() + CATALOG_UPGRADE_WAIT;
        while tokio::time::Instant::now() < deadline {
            let state = entry.cached();
            if state.image.id == image_id && state.upgrade.is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(Response::new(self.describe_entry(entry).await))
    }

    async fn job_action(
        &self,
        req: Request<pb::NodeJobRequest>,
        action: super::jobs::Action,
    ) -> Result<Response<pb::JobActionResponse>, Status> {
        let req = req.into_inner();
        let entry = self.entry(&req.id_or_name)?;
        super::jobs::act(&entry, &req.job, action).await?;
        Ok(Response::new(pb::JobActionResponse {}))
    }
}
