//! The host's side of the control-plane API: registration, the command stream ([`stream`],
//! [`dispatch`]), the host's figure reports ([`figures`]) and catalog creates. The client itself and the shared connection are the
//! low-level `apilink`.

pub mod applied;
pub mod convert;
pub mod dispatch;
pub mod error;
pub mod figures;
pub mod forward;
pub mod ops;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::api::v1 as api_pb;
use babel_api::pb::blockvisor::v1 as pb;
pub use error::CloudError;

use bv_host::apilink::client::{self, ApiClient};
use bv_host::apilink::creds::HostCredentials;
use bv_host::apilink::link::Link;
use bv_node::nodes::Registry;

/// Connects the daemon to the API with `creds` and starts the command loop (replacing a
/// running one).
pub fn connect(registry: &Arc<Registry>, creds: &HostCredentials) -> Result<(), CloudError> {
    let svc = registry.services();
    let link = &svc.cloud;
    let client = Arc::new(ApiClient::new(creds)?);
    link.set_client(client.clone());
    let opts = stream::LoopOptions {
        host_network: svc.config.network.host_network,
        status_every: Duration::from_secs(svc.config.status_interval_secs.max(1)),
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
    };
    let ops = Arc::new(ops::RegistryOps(registry.clone()));
    let mut facts = host_facts(registry);
    facts.host_id = creds.host_id.clone();
    let updater = client.clone();
    tokio::spawn(async move {
        if let Err(e) = updater.update_host(facts).await {
            tracing::warn!("sending host info to the API: {}", e.message());
        }
    });
    let applied = applied::Applied::load(&svc.config.root);
    let source = Arc::new(figures::RegistryFigures(registry.clone()));
    let reports = figures::run(client.clone(), source, Duration::from_secs(1));
    let commands = stream::run(client, ops, link.connected_flag(), opts, applied);
    // One task: replacing the link's task stops both loops.
    let task = tokio::spawn(async move {
        tokio::join!(commands, reports);
    });
    link.replace_task(task);
    tracing::info!(api = %creds.api_url, host_id = %creds.host_id, "connecting to the API");
    Ok(())
}

/// Connects at daemon start when the host is registered. Credentials the link refuses (e.g.
/// a plaintext URL to another machine without `insecure`) leave the daemon running its
/// nodes without the API, saying how to fix it.
pub fn connect_if_registered(registry: &Arc<Registry>) -> eyre::Result<()> {
    let cfg = &registry.services().config;
    match HostCredentials::load(&cfg.root)? {
        Some(creds) => {
            if let Err(e) = connect(registry, &creds) {
                tracing::error!(api = %creds.api_url, "not connecting to the API: {e}; register again with `bv host register --force`");
            }
            Ok(())
        }
        None => {
            if let Some(url) = &cfg.api_url {
                tracing::warn!(api = %url, "api_url is set but this host is not registered; run `bv host register --api {url} <TOKEN>`");
            }
            Ok(())
        }
    }
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (field("ID"), field("VERSION_ID"))
}

/// What the API should know about this machine (sent at registration and on every start).
fn host_facts(registry: &Registry) -> api_pb::UpdateHostRequest {
    let metrics = registry.host_metrics();
    let (os, os_version) = os_release();
    api_pb::UpdateHostRequest {
        host_id: String::new(),
        network_name: None,
        display_name: None,
        bv_version: Some(babel_api::VERSION.into()),
        os: Some(os),
        os_version: Some(os_version),
        disk_bytes: Some(metrics.total_disk_bytes),
        memory_bytes: Some(metrics.total_memory_bytes),
        cpu_cores: Some(
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1),
        ),
    }
}

/// Registers the host (provision token), saves the credentials and connects.
pub async fn register(
    registry: &Arc<Registry>,
    req: pb::RegisterHostRequest,
) -> Result<pb::RegisterHostResponse, CloudError> {
    let cfg = &registry.services().config;
    let api_url = if req.api_url.is_empty() {
        cfg.api_url.clone().ok_or(CloudError::NoApiUrl)?
    } else {
        req.api_url.clone()
    };
    let existing = HostCredentials::load(&cfg.root).map_err(CloudError::Credentials)?;
    if let Some(c) = existing
        && !req.force
    {
        return Err(CloudError::AlreadyRegistered {
            host_id: c.host_id,
            api_url: c.api_url,
        });
    }
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let facts = host_facts(registry);
    let api_req = api_pb::RegisterHostRequest {
        provision_token: req.provision_token.clone(),
        network_name: req
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| (!cfg.host_name.is_empty()).then(|| cfg.host_name.clone()))
            .unwrap_or(hostname),
        display_name: None,
        bv_version: babel_api::VERSION.into(),
        os: facts.os.unwrap_or_default(),
        os_version: facts.os_version.unwrap_or_default(),
        cpu_cores: facts.cpu_cores.unwrap_or(1),
        memory_bytes: facts.memory_bytes.unwrap_or_default(),
        disk_bytes: facts.disk_bytes.unwrap_or_default(),
        ip_address: cfg.network.gateway.to_string(),
        ip_gateway: cfg.network.gateway.to_string(),
        region: None,
        tags: vec![],
    };
    let tls = bv_base::api_endpoint::ApiTls {
        ca_file: req
            .ca_file
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(Into::into),
        insecure: req.insecure,
    };
    let (host_id, token) = client::register(&api_url, &tls, api_req).await?;
    let creds = HostCredentials {
        api_url: api_url.clone(),
        host_id: host_id.clone(),
        token,
        ca_file: tls.ca_file,
        insecure: tls.insecure,
    };
    let file = creds.save(&cfg.root).map_err(CloudError::SaveCredentials)?;
    connect(registry, &creds)?;
    Ok(pb::RegisterHostResponse {
        host_id,
        api_url,
        credentials_file: file.display().to_string(),
    })
}

/// `bv node create <protocol> <variant>`: asks the API for a node on this host; the node
/// itself is made when the Create command arrives on the stream. Returns the API's node.
pub async fn create_from_catalog(
    link: &Link,
    req: &pb::CatalogNodeRequest,
    properties: &std::collections::HashMap<String, String>,
    tags: Vec<String>,
) -> Result<api_pb::Node, CloudError> {
    let client = link.require()?;
    let selector = api_pb::ImageSelector {
        version_key: Some(api_pb::ProtocolVersionKey {
            protocol_key: req.protocol_key.clone(),
            variant_key: req.variant_key.clone(),
        }),
        semantic_version: req.version.clone(),
        build_version: req.build,
    };
    let mut values: Vec<_> = properties
        .iter()
        .map(|(k, v)| api_pb::NodePropertyValue {
            key: k.clone(),
            value: v.clone(),
            has_changed: true,
        })
        .collect();
    values.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(client
        .create_node(selector, values, tags, req.name.clone())
        .await?)
}

/// The URI of the image a catalog create with this selector runs, so that the CLI can pull
/// it first and show the progress that the create command's own pull cannot.
pub async fn catalog_image_uri(
    link: &Link,
    req: &pb::CatalogNodeRequest,
) -> Result<String, CloudError> {
    let client = link.require()?;
    let key = api_pb::ProtocolVersionKey {
        protocol_key: req.protocol_key.clone(),
        variant_key: req.variant_key.clone(),
    };
    let image = client
        .get_image(key, req.version.clone(), req.build)
        .await?;
    Ok(image.image_uri)
}

/// `bv node upgrade [--version V] [--build N]` of a node managed by the API: asks the API to
/// move it to that image of its variant (default the latest); the Upgrade command follows
/// on the stream. Returns the new image id.
pub async fn upgrade_from_catalog(
    link: &Link,
    node: &bv_node::node::state::NodeState,
    req: &pb::CatalogNodeRequest,
) -> Result<String, CloudError> {
    if node.dev_mode {
        return Err(CloudError::DevNodeFromCatalog);
    }
    let client = link.require()?;
    let key = api_pb::ProtocolVersionKey {
        protocol_key: if req.protocol_key.is_empty() {
            node.image_key.protocol_key.clone()
        } else {
            req.protocol_key.clone()
        },
        variant_key: if req.variant_key.is_empty() {
            node.image_key.variant_key.clone()
        } else {
            req.variant_key.clone()
        },
    };
    let image = client
        .get_image(key, req.version.clone(), req.build)
        .await?;
    if image.image_id == node.image.id {
        return Err(CloudError::AlreadyRuns {
            node: node.id,
            version: image.semantic_version,
            build: image.build_version,
        });
    }
    client
        .upgrade_node(&node.id.to_string(), Some(image.image_id.clone()))
        .await?;
    Ok(image.image_id)
}

/// Sends this host's facts to the API now, as every start does (`bv host update`).
pub async fn update_host_info(registry: &Registry) -> Result<(), CloudError> {
    let client = registry.services().cloud.require()?;
    let mut facts = host_facts(registry);
    facts.host_id = client.host_id.clone();
    Ok(client.update_host(facts).await?)
}

/// Protocols of the API's catalog whose name or key contains `search` (all when None), at
/// most `limit`.
pub async fn list_catalog(
    link: &Link,
    search: Option<String>,
    limit: u64,
) -> Result<Vec<pb::CatalogProtocol>, CloudError> {
    let client = link.require()?;
    Ok(client.list_catalog(search, limit).await?)
}
