//! gRPC client of the control-plane API, authenticated with the host token. Every call the
//! daemon makes to the API goes through here.

use std::time::Duration;

use babel_api::pb::api::v1 as pb;
use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::blockvisor::v1 as bvpb;
use bv_base::api_endpoint::{ApiTls, api_endpoint};
use futures::StreamExt;
use pb::archive_service_client::ArchiveServiceClient;
use pb::command_service_client::CommandServiceClient;
use pb::host_service_client::HostServiceClient;
use pb::node_service_client::NodeServiceClient;
use pb::protocol_service_client::ProtocolServiceClient;
use pb::secret_service_client::SecretServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use super::control::{CommandStream, ControlPlane};
use super::creds::HostCredentials;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("API url `{url}`: {message}")]
    Url { url: String, message: String },
    #[error("host token is not a valid header value")]
    Token,
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("RegisterHost answered without host id or token")]
    IncompleteRegistration,
    /// A create answered with `count` nodes instead of one.
    #[error("API created not exactly one node")]
    NotOneNode { count: usize },
    #[error("API: {0}")]
    Rpc(#[from] Status),
}

fn endpoint(url: &str, tls: &ApiTls) -> Result<Endpoint, ClientError> {
    Ok(api_endpoint(url, tls)
        .map_err(|e| ClientError::Url {
            url: url.into(),
            message: e.to_string(),
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

/// Registers this host with a single-use provision token; returns the host id and token.
pub async fn register(
    api_url: &str,
    tls: &ApiTls,
    req: pb::RegisterHostRequest,
) -> Result<(String, String), ClientError> {
    let channel =
        endpoint(api_url, tls)?
            .connect()
            .await
            .map_err(|source| ClientError::Connect {
                url: api_url.into(),
                source,
            })?;
    let resp = HostServiceClient::new(channel)
        .register_host(req)
        .await?
        .into_inner();
    let host_id = resp.host.map(|h| h.host_id).unwrap_or_default();
    if host_id.is_empty() || resp.token.is_empty() {
        return Err(ClientError::IncompleteRegistration);
    }
    Ok((host_id, resp.token))
}

/// What a local `bv node start|stop|restart|delete` asks the API for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    Start,
    Stop,
    Restart,
    Delete,
}

/// A connection to the API on behalf of one registered host.
#[derive(Clone)]
pub struct ApiClient {
    channel: Channel,
    auth: MetadataValue<Ascii>,
    pub host_id: String,
    pub api_url: String,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("api_url", &self.api_url)
            .field("host_id", &self.host_id)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// Connects lazily: nothing is dialled until the first call.
    pub fn new(creds: &HostCredentials) -> Result<Self, ClientError> {
        let channel = endpoint(&creds.api_url, &creds.tls())?.connect_lazy();
        let auth = format!("Bearer {}", creds.token)
            .parse()
            .map_err(|_| ClientError::Token)?;
        Ok(Self {
            channel,
            auth,
            host_id: creds.host_id.clone(),
            api_url: creds.api_url.clone(),
        })
    }

    fn req<T>(&self, msg: T, timeout: Option<Duration>) -> Request<T> {
        let mut req = Request::new(msg);
        req.metadata_mut()
            .insert("authorization", self.auth.clone());
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        req
    }

    fn nodes(&self) -> NodeServiceClient<Channel> {
        NodeServiceClient::new(self.channel.clone())
    }

    fn archives(&self) -> ArchiveServiceClient<Channel> {
        ArchiveServiceClient::new(self.channel.clone())
    }

    fn secrets(&self) -> SecretServiceClient<Channel> {
        SecretServiceClient::new(self.channel.clone())
    }

    /// Asks the API for a node of `selector` on this host (the Create command follows on
    /// the command stream).
    pub async fn create_node(
        &self,
        selector: pb::ImageSelector,
        new_values: Vec<pb::NodePropertyValue>,
        tags: Vec<String>,
        node_name: Option<String>,
    ) -> Result<pb::Node, ClientError> {
        let req = pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(selector)),
            new_values,
            tags,
            node_name,
            host_id: Some(self.host_id.clone()),
            ..Default::default()
        };
        let mut nodes = self
            .nodes()
            .create(self.req(req, Some(Duration::from_secs(30))))
            .await?
            .into_inner()
            .nodes;
        if nodes.len() != 1 {
            return Err(ClientError::NotOneNode { count: nodes.len() });
        }
        nodes.pop().ok_or(ClientError::NotOneNode { count: 0 })
    }

    /// Updates this host's record (version, OS, resources).
    pub async fn update_host(&self, req: pb::UpdateHostRequest) -> Result<(), Status> {
        HostServiceClient::new(self.channel.clone())
            .update_host(self.req(req, Some(Duration::from_secs(15))))
            .await?;
        Ok(())
    }

    /// Protocols whose name or key contains `search` (all when None), at most `limit`, each
    /// with its variants' versions.
    pub async fn list_catalog(
        &self,
        search: Option<String>,
        limit: u64,
    ) -> Result<Vec<bvpb::CatalogProtocol>, Status> {
        let mut client = ProtocolServiceClient::new(self.channel.clone());
        let timeout = Some(Duration::from_secs(15));
        let protocols = client
            .list_protocols(self.req(
                pb::ListProtocolsRequest {
                    org_id: None,
                    search,
                    page: Some(pb::Page { offset: 0, limit }),
                },
                timeout,
            ))
            .await?
            .into_inner()
            .protocols;
        let mut out = Vec::with_capacity(protocols.len());
        for p in protocols {
            let variants = client
                .list_variants(self.req(
                    pb::ListVariantsRequest {
                        protocol_key: p.key.clone(),
                        org_id: None,
                    },
                    timeout,
                ))
                .await?
                .into_inner()
                .variant_keys;
            let mut versions = vec![];
            for variant in variants {
                let listed = client
                    .list_versions(self.req(
                        pb::ListVersionsRequest {
                            version_key: Some(pb::ProtocolVersionKey {
                                protocol_key: p.key.clone(),
                                variant_key: variant.clone(),
                            }),
                            org_id: None,
                        },
                        timeout,
                    ))
                    .await?
                    .into_inner()
                    .versions;
                versions.extend(listed.into_iter().map(|v| bvpb::CatalogVersion {
                    variant: variant.clone(),
                    semantic_version: v.semantic_version,
                }));
            }
            out.push(bvpb::CatalogProtocol {
                key: p.key,
                name: p.name,
                description: p.description,
                versions,
            });
        }
        Ok(out)
    }

    /// The image of a variant (latest version/build unless given).
    pub async fn get_image(
        &self,
        version_key: pb::ProtocolVersionKey,
        semantic_version: Option<String>,
        build_version: Option<u64>,
    ) -> Result<pb::Image, Status> {
        let req = pb::GetImageRequest {
            version_key: Some(version_key),
            org_id: None,
            semantic_version,
            build_version,
        };
        Ok(
            pb::image_service_client::ImageServiceClient::new(self.channel.clone())
                .get_image(self.req(req, Some(Duration::from_secs(15))))
                .await?
                .into_inner(),
        )
    }

    /// Asks the API to move a node to another image (the Upgrade command follows).
    pub async fn upgrade_node(
        &self,
        node_id: &str,
        image_id: Option<String>,
    ) -> Result<pb::Node, Status> {
        let req = pb::UpgradeNodeRequest {
            node_id: node_id.into(),
            image_id,
        };
        Ok(self
            .nodes()
            .upgrade(self.req(req, Some(Duration::from_secs(30))))
            .await?
            .into_inner())
    }

    /// NodeService Start/Stop/Restart/Delete of one of this host's nodes.
    pub async fn node_action(&self, node_id: &str, action: NodeAction) -> Result<(), Status> {
        let req = self.req(
            pb::NodeIdRequest {
                node_id: node_id.into(),
            },
            Some(Duration::from_secs(15)),
        );
        let mut nodes = self.nodes();
        match action {
            NodeAction::Start => drop(nodes.start(req).await?),
            NodeAction::Stop => drop(nodes.stop(req).await?),
            NodeAction::Restart => drop(nodes.restart(req).await?),
            NodeAction::Delete => drop(nodes.delete(req).await?),
        }
        Ok(())
    }

    pub async fn get_secret(&self, node_id: &str, name: &str) -> Result<Option<Vec<u8>>, Status> {
        let req = pb::GetSecretRequest {
            node_id: node_id.into(),
            name: name.into(),
        };
        match self
            .secrets()
            .get_secret(self.req(req, Some(Duration::from_secs(15))))
            .await
        {
            Ok(r) => Ok(Some(r.into_inner().value)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }

    pub async fn put_secret(
        &self,
        node_id: &str,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(), Status> {
        let req = pb::PutSecretRequest {
            node_id: node_id.into(),
            name: name.into(),
            value,
        };
        self.secrets()
            .put_secret(self.req(req, Some(Duration::from_secs(15))))
            .await?;
        Ok(())
    }

    pub async fn download_metadata(
        &self,
        archive: pb::ArchiveRef,
    ) -> Result<bpb::DownloadMetadata, Status> {
        let req = pb::GetDownloadMetadataRequest {
            archive: Some(archive),
            data_version: None,
        };
        Ok(self
            .archives()
            .get_download_metadata(self.req(req, Some(Duration::from_secs(60))))
            .await?
            .into_inner())
    }

    pub async fn download_chunks(
        &self,
        archive: pb::ArchiveRef,
        data_version: u64,
        chunk_indexes: Vec<u32>,
    ) -> Result<Vec<bpb::Chunk>, Status> {
        let req = pb::GetDownloadChunksRequest {
            archive: Some(archive),
            data_version,
            chunk_indexes,
            url_expires_secs: None,
        };
        Ok(self
            .archives()
            .get_download_chunks(self.req(req, Some(Duration::from_secs(60))))
            .await?
            .into_inner()
            .chunks)
    }

    pub async fn upload_slots(
        &self,
        archive: pb::ArchiveRef,
        data_version: Option<u64>,
        slot_indexes: Vec<u32>,
        url_expires_secs: u32,
    ) -> Result<bpb::UploadSlots, Status> {
        let timeout = Duration::from_secs(5 + slot_indexes.len() as u64 / 200);
        let req = pb::GetUploadSlotsRequest {
            archive: Some(archive),
            data_version,
            slot_indexes,
            url_expires_secs: (url_expires_secs > 0).then_some(url_expires_secs),
        };
        Ok(self
            .archives()
            .get_upload_slots(self.req(req, Some(timeout)))
            .await?
            .into_inner())
    }

    pub async fn put_manifest(
        &self,
        archive: pb::ArchiveRef,
        data_version: u64,
        manifest: bpb::DownloadManifest,
    ) -> Result<(), Status> {
        let timeout = Duration::from_secs(10 + manifest.chunks.len() as u64 / 100);
        let req = pb::PutDownloadManifestRequest {
            archive: Some(archive),
            data_version,
            manifest: Some(manifest),
        };
        self.archives()
            .put_download_manifest(self.req(req, Some(timeout)))
            .await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl ControlPlane for ApiClient {
    async fn command_stream(&self) -> Result<CommandStream, Status> {
        let req = pb::StreamCommandsRequest {
            host_id: Some(self.host_id.clone()),
        };
        let stream = CommandServiceClient::new(self.channel.clone())
            .stream(self.req(req, None))
            .await?
            .into_inner();
        Ok(stream.boxed())
    }

    async fn ack(&self, command_id: &str) -> Result<(), Status> {
        let req = pb::AckCommandRequest {
            command_id: command_id.into(),
        };
        CommandServiceClient::new(self.channel.clone())
            .ack(self.req(req, Some(Duration::from_secs(15))))
            .await?;
        Ok(())
    }

    async fn update(&self, update: pb::UpdateCommandRequest) -> Result<(), Status> {
        CommandServiceClient::new(self.channel.clone())
            .update(self.req(update, Some(Duration::from_secs(15))))
            .await?;
        Ok(())
    }

    async fn report_status(&self, req: pb::ReportNodeStatusRequest) -> Result<(), Status> {
        self.nodes()
            .report_status(self.req(req, Some(Duration::from_secs(15))))
            .await?;
        Ok(())
    }

    async fn report_figures(
        &self,
        mut req: pb::ReportHostFiguresRequest,
    ) -> Result<pb::ReportHostFiguresResponse, Status> {
        req.host_id = self.host_id.clone();
        Ok(HostServiceClient::new(self.channel.clone())
            .report_figures(self.req(req, Some(Duration::from_secs(15))))
            .await?
            .into_inner())
    }
}
