//! NodeService: the desired state of nodes. Every change is recorded as a command for the
//! node's host (delivered on its command stream); hosts report actual status back.

use babel_api::pb::api::v1 as pb;
use pb::node_service_server::NodeService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, Denied, grpc};
use super::image::find_image;
use super::node_config::resolve;
use super::{State, not_found, page};
use crate::auth::{Principal, Scope, principal};
use crate::db::nodes::{NodeFilter, NodeRow};
use crate::db::{self, new_id};

#[derive(Debug, Clone)]
pub struct Nodes(pub State);

const MAX_NODES_PER_CALL: u32 = 100;

impl Nodes {
    /// Loads a live node the caller may act on.
    async fn load(
        &self,
        p: &Principal,
        node_id: &str,
        scope: Scope,
    ) -> ApiResult<(NodeRow, pb::Node)> {
        p.require(scope)?;
        let row = db::nodes::by_id(&self.0.db, node_id)
            .await?
            .filter(|r| r.deleted_at.is_none())
            .ok_or_else(|| not_found("node", node_id))?;
        if let Some(host_id) = p.host_id()
            && row.host_id != host_id
        {
            return Err(not_found("node", node_id));
        }
        let node = row.to_proto()?;
        Ok((row, node))
    }

    /// Records a command for the node's host and wakes its stream.
    async fn command(&self, node: &pb::Node, command: pb::node_command::Command) -> ApiResult<()> {
        let cmd = pb::command::Command::Node(pb::NodeCommand {
            node_id: node.node_id.clone(),
            host_id: node.host_id.clone(),
            command: Some(command),
        });
        db::commands::insert(&self.0.db, &node.host_id, Some(&node.node_id), cmd).await?;
        self.0.wake.announce(&node.host_id).await;
        Ok(())
    }

    async fn unique_name(&self) -> ApiResult<String> {
        for _ in 0..20 {
            let name = petname::petname(3, "-").unwrap_or_else(new_id);
            if !db::nodes::name_taken(&self.0.db, &name).await? {
                return Ok(name);
            }
        }
        Ok(new_id())
    }

    /// Fills config (values, vm, image, archive) of `node` from `image`.
    async fn configure(
        &self,
        node: &mut pb::Node,
        image: &pb::Image,
        new_values: &[pb::NodePropertyValue],
        firewall: Option<pb::FirewallConfig>,
    ) -> ApiResult<()> {
        let previous = node
            .config
            .as_ref()
            .and_then(|c| c.image.as_ref())
            .map(|i| i.values.clone())
            .unwrap_or_default();
        let resolved = resolve(image, &previous, new_values)?;
        let archive_id = match &resolved.store_key {
            Some(key) => db::images::archives_of(&self.0.db, &image.image_id)
                .await?
                .into_iter()
                .find(|a| &a.store_key == key)
                .map(|a| a.archive_id)
                .unwrap_or_default(),
            None => String::new(),
        };
        let firewall = firewall
            .or_else(|| node.config.as_ref().and_then(|c| c.firewall.clone()))
            .or_else(|| image.firewall.clone());
        let key = image.version_key.clone().unwrap_or_default();
        node.image_id = image.image_id.clone();
        node.protocol_id = image.protocol_id.clone();
        node.protocol_name = key.protocol_key.clone();
        node.version_key = Some(key);
        node.semantic_version = image.semantic_version.clone();
        node.build_version = image.build_version;
        node.config_id = new_id();
        node.config = Some(pb::NodeConfig {
            image: Some(pb::NodeImageConfig {
                image_id: image.image_id.clone(),
                image_uri: image.image_uri.clone(),
                archive_id,
                store_key: resolved.store_key.unwrap_or_default(),
                min_babel_version: image.min_babel_version.clone(),
                values: resolved.values,
            }),
            firewall,
            vm: Some(resolved.vm),
        });
        Ok(())
    }

    async fn set_next_state(
        &self,
        req: Request<pb::NodeIdRequest>,
        state: pb::NodeState,
        command: pb::node_command::Command,
    ) -> ApiResult<pb::Node> {
        let p = principal(&req)?;
        let (_, mut node) = self
            .load(&p, &req.get_ref().node_id, Scope::NodeWrite)
            .await?;
        node.next_state = state as i32;
        db::nodes::save(&self.0.db, &node, false).await?;
        self.command(&node, command).await?;
        Ok(node)
    }
}

#[tonic::async_trait]
impl NodeService for Nodes {
    async fn create(
        &self,
        req: Request<pb::CreateNodeRequest>,
    ) -> Result<Response<pb::CreateNodeResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            p.require(Scope::NodeWrite)?;
            let req = req.into_inner();
            let image = match &req.image {
                Some(pb::create_node_request::Image::ImageId(id)) => {
                    db::images::by_id(&self.0.db, id)
                        .await?
                        .ok_or_else(|| not_found("image", id))?
                        .to_proto()?
                }
                Some(pb::create_node_request::Image::Selector(s)) => {
                    let key = super::required("selector.version_key", s.version_key.as_ref())?;
                    find_image(
                        &self.0.db,
                        key,
                        s.semantic_version.as_deref(),
                        s.build_version,
                    )
                    .await?
                }
                None => return Err(ApiError::RequiredOneOf("image_id", "selector")),
            };
            let host = match (p.host_id(), &req.host_id) {
                (Some(own), Some(asked)) if own != asked => {
                    return Err(Denied::ForeignNodeCreate.into());
                }
                (Some(own), _) => db::hosts::by_id(&self.0.db, own).await?,
                (None, Some(id)) => db::hosts::by_id(&self.0.db, id).await?,
                (None, None) => db::hosts::least_loaded(&self.0.db, req.org_id.as_deref()).await?,
            }
            .ok_or(ApiError::NoHost)?;
            let count = req.node_count.unwrap_or(1);
            if count == 0 || count > MAX_NODES_PER_CALL {
                return Err(ApiError::NodeCount {
                    max: MAX_NODES_PER_CALL,
                });
            }
            for tag in &req.tags {
                super::check_kebab("tag", tag)?;
            }
            if let Some(name) = &req.node_name {
                super::check_kebab("node_name", name)?;
                if count != 1 {
                    return Err(ApiError::NamedNodeCount);
                }
                if db::nodes::name_taken(&self.0.db, name).await? {
                    return Err(ApiError::NodeNameTaken { name: name.clone() });
                }
            }
            let mut nodes = Vec::new();
            for _ in 0..count {
                let name = match &req.node_name {
                    Some(name) => name.clone(),
                    None => self.unique_name().await?,
                };
                let mut node = pb::Node {
                    node_id: new_id(),
                    display_name: req.display_name.clone().unwrap_or_else(|| name.clone()),
                    node_name: name,
                    org_id: req.org_id.clone().or_else(|| host.org_id.clone()),
                    host_id: host.host_id.clone(),
                    tags: req.tags.clone(),
                    next_state: pb::NodeState::Running as i32,
                    status: Some(pb::NodeStatus {
                        state: pb::NodeState::Starting as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                self.configure(&mut node, &image, &req.new_values, req.firewall.clone())
                    .await?;
                db::nodes::insert(&self.0.db, &node).await?;
                self.command(
                    &node,
                    pb::node_command::Command::Create(pb::NodeCreate {
                        node: Some(node.clone()),
                    }),
                )
                .await?;
                tracing::info!(node_id = %node.node_id, host_id = %node.host_id, "node created");
                nodes.push(node);
            }
            Ok(pb::CreateNodeResponse { nodes })
        })
        .await
    }

    async fn get(&self, req: Request<pb::GetNodeRequest>) -> Result<Response<pb::Node>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            p.require(Scope::NodeRead)?;
            let id = &req.get_ref().node_id;
            let row = db::nodes::by_id(&self.0.db, id)
                .await?
                .ok_or_else(|| not_found("node", id))?;
            if p.host_id().is_some_and(|h| h != row.host_id) {
                return Err(not_found("node", id));
            }
            Ok(row.to_proto()?)
        })
        .await
    }

    async fn list(
        &self,
        req: Request<pb::ListNodesRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            p.require(Scope::NodeRead)?;
            let req = req.into_inner();
            let host_id = match (p.host_id(), req.host_id.as_deref()) {
                (Some(own), Some(asked)) if own != asked => {
                    return Err(Denied::ForeignNodeList.into());
                }
                (Some(own), _) => Some(own),
                (None, asked) => asked,
            };
            let filter = NodeFilter {
                host_id,
                org_id: req.org_id.as_deref(),
                protocol_key: req.protocol_key.as_deref(),
                include_deleted: req.include_deleted,
            };
            let (offset, limit) = page(req.page.as_ref());
            let (rows, total) = db::nodes::list(&self.0.db, &filter, offset, limit).await?;
            let nodes = rows
                .iter()
                .map(|r| r.to_proto())
                .collect::<Result<_, _>>()?;
            Ok(pb::ListNodesResponse {
                nodes,
                total: total as u64,
            })
        })
        .await
    }

    async fn start(&self, req: Request<pb::NodeIdRequest>) -> Result<Response<pb::Node>, Status> {
        grpc(self.set_next_state(
            req,
            pb::NodeState::Running,
            pb::node_command::Command::Start(pb::NodeStart {}),
        ))
        .await
    }

    async fn stop(&self, req: Request<pb::NodeIdRequest>) -> Result<Response<pb::Node>, Status> {
        grpc(self.set_next_state(
            req,
            pb::NodeState::Stopped,
            pb::node_command::Command::Stop(pb::NodeStop {}),
        ))
        .await
    }

    async fn restart(&self, req: Request<pb::NodeIdRequest>) -> Result<Response<pb::Node>, Status> {
        grpc(self.set_next_state(
            req,
            pb::NodeState::Running,
            pb::node_command::Command::Restart(pb::NodeRestart {}),
        ))
        .await
    }

    async fn delete(
        &self,
        req: Request<pb::NodeIdRequest>,
    ) -> Result<Response<pb::DeleteNodeResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let (_, mut node) = self
                .load(&p, &req.get_ref().node_id, Scope::NodeWrite)
                .await?;
            node.next_state = pb::NodeState::Deleted as i32;
            if let Some(status) = node.status.as_mut() {
                status.state = pb::NodeState::Deleting as i32;
            }
            db::nodes::save(&self.0.db, &node, true).await?;
            self.command(&node, pb::node_command::Command::Delete(pb::NodeDelete {}))
                .await?;
            Ok(pb::DeleteNodeResponse {})
        })
        .await
    }

    async fn upgrade(
        &self,
        req: Request<pb::UpgradeNodeRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let (_, mut node) = self.load(&p, &req.node_id, Scope::NodeWrite).await?;
            let image = match &req.image_id {
                Some(id) => db::images::by_id(&self.0.db, id)
                    .await?
                    .ok_or_else(|| not_found("image", id))?
                    .to_proto()?,
                None => {
                    let key = node.version_key.clone().unwrap_or_default();
                    find_image(&self.0.db, &key, None, None).await?
                }
            };
            if image.image_id == node.image_id {
                return Err(ApiError::SameImage);
            }
            self.configure(&mut node, &image, &[], None).await?;
            db::nodes::save(&self.0.db, &node, false).await?;
            self.command(
                &node,
                pb::node_command::Command::Upgrade(pb::NodeUpgrade {
                    node: Some(node.clone()),
                }),
            )
            .await?;
            Ok(node)
        })
        .await
    }

    async fn update_config(
        &self,
        req: Request<pb::UpdateNodeConfigRequest>,
    ) -> Result<Response<pb::Node>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let (_, mut node) = self.load(&p, &req.node_id, Scope::NodeWrite).await?;
            let image = db::images::by_id(&self.0.db, &node.image_id)
                .await?
                .ok_or_else(|| not_found("image", &node.image_id))?
                .to_proto()?;
            for v in &req.new_values {
                let dynamic = image
                    .properties
                    .iter()
                    .filter(|prop| prop.key == v.key || prop.key_group.as_deref() == Some(&v.key))
                    .all(|prop| prop.dynamic_value);
                if !dynamic {
                    return Err(ApiError::NotDynamic { key: v.key.clone() });
                }
            }
            let store_key_before = node
                .config
                .as_ref()
                .and_then(|c| c.image.as_ref())
                .map(|i| i.store_key.clone());
            self.configure(&mut node, &image, &req.new_values, req.firewall)
                .await?;
            let store_key_after = node
                .config
                .as_ref()
                .and_then(|c| c.image.as_ref())
                .map(|i| i.store_key.clone());
            if store_key_before != store_key_after {
                return Err(ApiError::ArchiveChange);
            }
            if let Some(name) = req.display_name {
                node.display_name = name;
            }
            if req.update_tags {
                for tag in &req.tags {
                    super::check_kebab("tag", tag)?;
                }
                node.tags = req.tags;
            }
            db::nodes::save(&self.0.db, &node, false).await?;
            self.command(
                &node,
                pb::node_command::Command::Update(pb::NodeUpdate {
                    node: Some(node.clone()),
                }),
            )
            .await?;
            Ok(node)
        })
        .await
    }

    async fn report_status(
        &self,
        req: Request<pb::ReportNodeStatusRequest>,
    ) -> Result<Response<pb::ReportNodeStatusResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            if p.host_id().is_none() {
                p.require_admin()?;
            }
            let row = db::nodes::by_id(&self.0.db, &req.node_id)
                .await?
                .ok_or_else(|| not_found("node", &req.node_id))?;
            if p.host_id().is_some_and(|h| h != row.host_id) {
                return Err(not_found("node", &req.node_id));
            }
            let mut node = row.to_proto()?;
            if let Some(status) = req.status {
                node.status = Some(status);
            }
            if req.p2p_address.is_some() {
                node.p2p_address = req.p2p_address;
            }
            if let Some(ip) = req.ip_address {
                node.ip_address = ip;
            }
            if let Some(gw) = req.ip_gateway {
                node.ip_gateway = gw;
            }
            db::nodes::save(&self.0.db, &node, row.deleted_at.is_some()).await?;
            Ok(pb::ReportNodeStatusResponse {})
        })
        .await
    }
}
