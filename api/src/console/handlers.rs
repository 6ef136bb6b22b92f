//! JSON handlers: fleet, node detail, catalog, and the node actions. Actions go through the
//! gRPC service implementations (same checks, same commands for the hosts) with the
//! console caller as principal.

use super::error::{HttpError, HttpResult};
use super::session::Caller;
use super::state::Shared;
use super::view::{self, Fleet, NodeDetail, NodeView};
use crate::db;
use crate::figures::{self, Point};
use crate::services::command::Commands;
use crate::services::image::Images;
use crate::services::node::Nodes;
use crate::services::protocol::Protocols;
use axum::Json;
use axum::extract::{Path, State};
use babel_api::pb::api::v1 as pb;
use pb::command_service_server::CommandService;
use pb::image_service_server::ImageService;
use pb::node_service_server::NodeService;
use pb::protocol_service_server::ProtocolService;
use serde::{Deserialize, Serialize};

pub async fn fleet(State(c): State<Shared>, _caller: Caller) -> HttpResult<Json<Fleet>> {
    Ok(Json(view::fleet(&c.app.db).await?))
}

/// Status histories of the fleet's live nodes, by node id.
pub async fn history(
    State(c): State<Shared>,
    _caller: Caller,
) -> HttpResult<Json<std::collections::HashMap<String, Vec<Point>>>> {
    let (rows, _) = db::nodes::list(&c.app.db, &Default::default(), 0, 10_000).await?;
    let mut all = figures::histories(&c.app.db).await?;
    all.retain(|id, _| rows.iter().any(|r| &r.node_id == id));
    Ok(Json(all))
}

async fn node_view(c: &Shared, caller: &Caller, node_id: &str) -> HttpResult<NodeView> {
    let node = Nodes(c.app.clone())
        .get(caller.request(pb::GetNodeRequest {
            node_id: node_id.to_string(),
        }))
        .await?
        .into_inner();
    let host_name = db::hosts::by_id(&c.app.db, &node.host_id)
        .await?
        .map(|h| h.display_name.unwrap_or(h.network_name))
        .unwrap_or_default();
    let latest = figures::host_latest(&c.app.db, &node.host_id).await?;
    Ok(view::node_view(&node, &host_name, latest.as_ref()))
}

pub async fn node(
    State(c): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> HttpResult<Json<NodeDetail>> {
    let node = node_view(&c, &caller, &id).await?;
    let commands = Commands(c.app.clone())
        .list(caller.request(pb::ListCommandsRequest {
            node_id: Some(id.clone()),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .commands
        .iter()
        .rev()
        .map(view::command_view)
        .collect();
    Ok(Json(NodeDetail {
        history: figures::history(&c.app.db, &id).await?,
        node,
        commands,
    }))
}

#[derive(Debug, Serialize)]
pub struct CatalogImage {
    pub image_id: String,
    pub semantic_version: String,
    pub build_version: u64,
    pub description: Option<String>,
    pub min_cpu_cores: u64,
    pub min_memory_bytes: u64,
    pub min_disk_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct CatalogVariant {
    pub variant: String,
    /// Newest first.
    pub images: Vec<CatalogImage>,
}

#[derive(Debug, Serialize)]
pub struct CatalogProtocol {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub variants: Vec<CatalogVariant>,
}

pub async fn catalog(
    State(c): State<Shared>,
    caller: Caller,
) -> HttpResult<Json<Vec<CatalogProtocol>>> {
    let protocols = Protocols(c.app.clone());
    let images = Images(c.app.clone());
    let list = protocols
        .list_protocols(caller.request(pb::ListProtocolsRequest {
            page: Some(pb::Page {
                offset: 0,
                limit: 1000,
            }),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .protocols;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let variants = protocols
            .list_variants(caller.request(pb::ListVariantsRequest {
                protocol_key: p.key.clone(),
                org_id: None,
            }))
            .await?
            .into_inner()
            .variant_keys;
        let mut vs = Vec::with_capacity(variants.len());
        for variant in variants {
            let found = images
                .list_images(caller.request(pb::ListImagesRequest {
                    version_key: Some(pb::ProtocolVersionKey {
                        protocol_key: p.key.clone(),
                        variant_key: variant.clone(),
                    }),
                    ..Default::default()
                }))
                .await?
                .into_inner()
                .images;
            vs.push(CatalogVariant {
                variant,
                images: found
                    .into_iter()
                    .map(|i| CatalogImage {
                        image_id: i.image_id,
                        semantic_version: i.semantic_version,
                        build_version: i.build_version,
                        description: i.description,
                        min_cpu_cores: i.min_cpu_cores,
                        min_memory_bytes: i.min_memory_bytes,
                        min_disk_bytes: i.min_disk_bytes,
                    })
                    .collect(),
            });
        }
        out.push(CatalogProtocol {
            key: p.key,
            name: p.name,
            description: p.description,
            variants: vs,
        });
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    pub image_id: String,
    pub host_id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

pub async fn create(
    State(c): State<Shared>,
    caller: Caller,
    Json(body): Json<CreateBody>,
) -> HttpResult<Json<Vec<NodeView>>> {
    let created = Nodes(c.app.clone())
        .create(caller.request(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::ImageId(body.image_id)),
            host_id: body.host_id.filter(|h| !h.is_empty()),
            display_name: body.display_name.filter(|n| !n.trim().is_empty()),
            tags: body.tags,
            ..Default::default()
        }))
        .await?
        .into_inner();
    c.refresh.notify_one();
    Ok(Json(
        created
            .nodes
            .iter()
            .map(|n| view::node_view(n, "", None))
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionBody {
    /// Upgrade target; default the newest build of the node's variant.
    pub image_id: Option<String>,
}

/// `POST /api/nodes/{id}/{action}`: start, stop, restart, upgrade or delete.
pub async fn action(
    State(c): State<Shared>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> HttpResult<Json<serde_json::Value>> {
    let nodes = Nodes(c.app.clone());
    let req = || {
        caller.request(pb::NodeIdRequest {
            node_id: id.clone(),
        })
    };
    match action.as_str() {
        "start" => drop(nodes.start(req()).await?),
        "stop" => drop(nodes.stop(req()).await?),
        "restart" => drop(nodes.restart(req()).await?),
        "delete" => drop(nodes.delete(req()).await?),
        "upgrade" => drop(
            nodes
                .upgrade(caller.request(pb::UpgradeNodeRequest {
                    node_id: id.clone(),
                    image_id: body.and_then(|Json(b)| b.image_id),
                }))
                .await?,
        ),
        other => {
            return Err(HttpError::UnknownAction(other.to_string()));
        }
    }
    c.refresh.notify_one();
    Ok(Json(serde_json::json!({ "node_id": id, "action": action })))
}
