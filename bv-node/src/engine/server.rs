//! The per-node `BabelEngine` service on `<node_dir>/run/engine.socket` (`/run/babel/
//! engine.socket` in the node): babel reports errors here and asks for archive metadata,
//! chunk URLs and upload slots, which are forwarded to the control-plane API's archive
//! service for the node's archive with the host credentials.

use std::path::Path;
use std::sync::Arc;

use babel_api::pb::api::v1 as api_pb;
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_engine_server::{BabelEngine, BabelEngineServer};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use bv_host::apilink::ApiClient;
use bv_host::apilink::{Link, NotRegistered};

/// Which archive a node's data lives in (from its image config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeArchive {
    pub archive_id: String,
    pub store_key: String,
}

#[derive(Debug)]
struct EngineService {
    node_id: Uuid,
    link: Arc<Link>,
    archive: NodeArchive,
}

/// Why an engine call failed; [`From<CallError> for Status`] is the one mapping to gRPC.
#[derive(Debug, thiserror::Error)]
enum CallError {
    /// The host is not registered with an API (the link says how to register).
    #[error(transparent)]
    Unlinked(#[from] NotRegistered),
    #[error("node {0} has no protocol data archive (its image has no archive for its properties)")]
    NoArchive(Uuid),
    #[error("manifest is missing")]
    MissingManifest,
    /// The API refused or failed the call.
    #[error("API: {}", .0.message())]
    Api(Status),
}

/// Codes babel does not retry pass through, transient API errors stay Unavailable, the rest
/// become Internal.
impl From<CallError> for Status {
    fn from(e: CallError) -> Self {
        use tonic::Code;
        let msg = e.to_string();
        match e {
            CallError::Unlinked(_) => Status::unavailable(msg),
            CallError::NoArchive(_) => Status::not_found(msg),
            CallError::MissingManifest => Status::invalid_argument(msg),
            CallError::Api(s) => match s.code() {
                Code::NotFound => Status::not_found(msg),
                Code::AlreadyExists => Status::already_exists(msg),
                Code::InvalidArgument => Status::invalid_argument(msg),
                Code::PermissionDenied | Code::Unauthenticated => Status::permission_denied(msg),
                Code::Unavailable | Code::DeadlineExceeded => Status::unavailable(msg),
                _ => Status::internal(msg),
            },
        }
    }
}

impl EngineService {
    fn target(&self) -> Result<(Arc<ApiClient>, api_pb::ArchiveRef), CallError> {
        let client = self.link.require()?;
        let archive =
            bv_host::apilink::archive_ref(&self.archive.archive_id, &self.archive.store_key)
                .ok_or(CallError::NoArchive(self.node_id))?;
        Ok((client, archive))
    }
}

#[tonic::async_trait]
impl BabelEngine for EngineService {
    async fn put_download_manifest(
        &self,
        req: Request<pb::PutDownloadManifestRequest>,
    ) -> Result<Response<pb::PutDownloadManifestResponse>, Status> {
        let req = req.into_inner();
        let manifest = req.manifest.ok_or(CallError::MissingManifest)?;
        let (client, archive) = self.target()?;
        client
            .put_manifest(archive, req.data_version, manifest)
            .await
            .map_err(CallError::Api)?;
        Ok(Response::new(pb::PutDownloadManifestResponse {}))
    }

    async fn get_download_metadata(
        &self,
        _req: Request<pb::GetDownloadMetadataRequest>,
    ) -> Result<Response<pb::DownloadMetadata>, Status> {
        let (client, archive) = self.target()?;
        let meta = client
            .download_metadata(archive)
            .await
            .map_err(CallError::Api)?;
        Ok(Response::new(meta))
    }

    async fn get_download_chunks(
        &self,
        req: Request<pb::GetDownloadChunksRequest>,
    ) -> Result<Response<pb::GetDownloadChunksResponse>, Status> {
        let req = req.into_inner();
        let (client, archive) = self.target()?;
        let chunks = client
            .download_chunks(archive, req.data_version, req.indexes)
            .await
            .map_err(CallError::Api)?;
        Ok(Response::new(pb::GetDownloadChunksResponse { chunks }))
    }

    async fn get_upload_slots(
        &self,
        req: Request<pb::GetUploadSlotsRequest>,
    ) -> Result<Response<pb::UploadSlots>, Status> {
        let req = req.into_inner();
        let (client, archive) = self.target()?;
        let slots = client
            .upload_slots(archive, req.data_version, req.indexes, req.url_expires_secs)
            .await
            .map_err(CallError::Api)?;
        Ok(Response::new(slots))
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
pub fn serve(
    node_id: Uuid,
    socket: &Path,
    link: Arc<Link>,
    archive: NodeArchive,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = bv_base::uds::bind(socket, 0o660)?;
    Ok(tokio::spawn(async move {
        let service = EngineService {
            node_id,
            link,
            archive,
        };
        let result = tonic::transport::Server::builder()
            .add_service(BabelEngineServer::new(service))
            .serve_with_incoming(UnixListenerStream::new(listener))
            .await;
        if let Err(e) = result {
            tracing::warn!(node = %node_id, "engine socket: {e}");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(s: Status) -> Status {
        CallError::Api(s).into()
    }

    #[test]
    fn every_call_error_has_its_code() {
        use tonic::Code;
        let table = [
            (CallError::Unlinked(NotRegistered), Code::Unavailable),
            (CallError::NoArchive(Uuid::nil()), Code::NotFound),
            (CallError::MissingManifest, Code::InvalidArgument),
            (
                CallError::Api(Status::permission_denied("x")),
                Code::PermissionDenied,
            ),
        ];
        for (error, code) in table {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn relay_keeps_final_codes_and_retries_transient_ones() {
        use tonic::Code;
        assert_eq!(relay(Status::not_found("x")).code(), Code::NotFound);
        assert_eq!(
            relay(Status::already_exists("x")).code(),
            Code::AlreadyExists
        );
        assert_eq!(relay(Status::unavailable("x")).code(), Code::Unavailable);
        assert_eq!(relay(Status::unknown("x")).code(), Code::Internal);
        assert!(relay(Status::not_found("gone")).message().contains("gone"));
    }

    #[tokio::test]
    async fn without_registration_archive_calls_are_unavailable() {
        let svc = EngineService {
            node_id: Uuid::nil(),
            link: Arc::default(),
            archive: NodeArchive {
                archive_id: "a".into(),
                store_key: String::new(),
            },
        };
        let e = svc
            .get_download_metadata(Request::new(pb::GetDownloadMetadataRequest {}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable);
    }
}
