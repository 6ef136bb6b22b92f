//! The per-node `BabelEngine` service on `<node_dir>/run/engine.socket` (`/run/babel/
//! engine.socket` in the node): babel reports errors here and asks for archive URLs, which
//! need the control-plane API (not connected yet, so those calls answer Unavailable).

use std::path::Path;

use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_engine_server::{BabelEngine, BabelEngineServer};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

#[derive(Debug)]
struct EngineService {
    node_id: Uuid,
}

fn no_api() -> Status {
    Status::unavailable("control-plane API not configured on this host: no protocol data archives")
}

#[tonic::async_trait]
impl BabelEngine for EngineService {
    async fn put_download_manifest(
        &self,
        _req: Request<pb::PutDownloadManifestRequest>,
    ) -> Result<Response<pb::PutDownloadManifestResponse>, Status> {
        Err(no_api())
    }

    async fn get_download_metadata(
        &self,
        _req: Request<pb::GetDownloadMetadataRequest>,
    ) -> Result<Response<pb::DownloadMetadata>, Status> {
        Err(no_api())
    }

    async fn get_download_chunks(
        &self,
        _req: Request<pb::GetDownloadChunksRequest>,
    ) -> Result<Response<pb::GetDownloadChunksResponse>, Status> {
        Err(no_api())
    }

    async fn get_upload_slots(
        &self,
        _req: Request<pb::GetUploadSlotsRequest>,
    ) -> Result<Response<pb::UploadSlots>, Status> {
        Err(no_api())
    }

    async fn bv_error(
        &self,
        req: Request<pb::BvErrorRequest>,
    ) -> Result<Response<pb::BvErrorResponse>, Status> {
        tracing::error!(node = %self.node_id, "Babel: {}", req.into_inner().message);
        Ok(Response::new(pb::BvErrorResponse {}))
    }
}

/// Serves the node's engine socket until the returned task is aborted.
pub fn serve(node_id: Uuid, socket: &Path) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = crate::uds::bind(socket, 0o660)?;
    Ok(tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(BabelEngineServer::new(EngineService { node_id }))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await;
        if let Err(e) = result {
            tracing::warn!(node = %node_id, "engine socket: {e}");
        }
    }))
}
