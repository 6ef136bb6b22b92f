//! The [`ArchiveBackend`] inside a node: the host's `BabelEngine` gRPC service on the engine
//! socket, which forwards to the control-plane API.
//!
//! Deadlines: 63 s for metadata and chunk descriptors, `6 s + n/200 s` for
//! upload slots, `13 s + chunks/100 s` for the manifest. `Unavailable`-like failures are
//! retried three times (600 ms, 1.2 s, 2.4 s); `NotFound` means "no archive".

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use babel_api::pb::babel::v1::{
    self as pb, BvErrorRequest, GetDownloadChunksRequest, GetDownloadMetadataRequest,
    GetUploadSlotsRequest, PutDownloadManifestRequest, babel_engine_client::BabelEngineClient,
};
use tonic::Code;
use tonic::transport::Channel;

use super::{ArchiveBackend, ArchiveError};

const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(600),
    Duration::from_millis(1200),
    Duration::from_millis(2400),
];

/// Client of the host's `BabelEngine` service.
#[derive(Debug, Clone)]
pub struct EngineBackend {
    client: BabelEngineClient<Channel>,
}

impl EngineBackend {
    /// A backend on the engine socket (connects lazily).
    pub fn new(socket: &Path) -> Self {
        let channel = bv_base::uds::connect_lazy(socket, None);
        Self {
            client: BabelEngineClient::new(channel)
                .max_decoding_message_size(256 * 1024 * 1024)
                .max_encoding_message_size(256 * 1024 * 1024),
        }
    }

    /// Reports an error to the host (logged there at ERROR; alerting hook).
    pub async fn bv_error(&self, message: &str) {
        let req = BvErrorRequest {
            message: message.to_string(),
        };
        if let Err(e) = self.client.clone().bv_error(req).await {
            tracing::warn!("can't report error to the host: {}", e.message());
        }
    }

    async fn call<T, F, Fut>(
        &self,
        what: &'static str,
        deadline: Duration,
        f: F,
    ) -> Result<T, ArchiveError>
    where
        F: Fn(BabelEngineClient<Channel>, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut attempt = 0;
        loop {
            match f(self.client.clone(), deadline).await {
                Ok(resp) => return Ok(resp.into_inner()),
                Err(s) if retryable(s.code()) && attempt < RETRY_DELAYS.len() => {
                    tracing::warn!("{what} failed ({}), retrying", s.message());
                    tokio::time::sleep(RETRY_DELAYS[attempt]).await;
                    attempt += 1;
                }
                Err(s) => return Err(status_error(what, s)),
            }
        }
    }
}

fn retryable(code: Code) -> bool {
    !matches!(
        code,
        Code::Internal
            | Code::InvalidArgument
            | Code::Unimplemented
            | Code::PermissionDenied
            | Code::NotFound
            | Code::AlreadyExists
    )
}

fn status_error(call: &'static str, s: tonic::Status) -> ArchiveError {
    let message = s.message().to_string();
    match s.code() {
        Code::NotFound => ArchiveError::NotFound { call, message },
        Code::AlreadyExists => ArchiveError::AlreadyExists { call, message },
        code => ArchiveError::Backend {
            call,
            message,
            retry: retryable(code),
        },
    }
}

fn request<T>(msg: T, deadline: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(deadline);
    req
}

#[async_trait]
impl ArchiveBackend for EngineBackend {
    async fn download_metadata(&self) -> Result<pb::DownloadMetadata, ArchiveError> {
        self.call(
            "get_download_metadata",
            Duration::from_secs(63),
            |mut c, d| async move {
                c.get_download_metadata(request(GetDownloadMetadataRequest {}, d))
                    .await
            },
        )
        .await
    }

    async fn download_chunks(
        &self,
        data_version: u64,
        indexes: &[u32],
    ) -> Result<Vec<pb::Chunk>, ArchiveError> {
        let msg = GetDownloadChunksRequest {
            data_version,
            indexes: indexes.to_vec(),
        };
        let resp = self
            .call(
                "get_download_chunks",
                Duration::from_secs(63),
                |mut c, d| {
                    let msg = msg.clone();
                    async move { c.get_download_chunks(request(msg, d)).await }
                },
            )
            .await?;
        Ok(resp.chunks)
    }

    async fn upload_slots(
        &self,
        data_version: Option<u64>,
        indexes: &[u32],
        url_expires_secs: u32,
    ) -> Result<pb::UploadSlots, ArchiveError> {
        let msg = GetUploadSlotsRequest {
            data_version,
            indexes: indexes.to_vec(),
            url_expires_secs,
        };
        let deadline = Duration::from_secs(6) + Duration::from_millis(indexes.len() as u64 * 5);
        self.call("get_upload_slots", deadline, |mut c, d| {
            let msg = msg.clone();
            async move { c.get_upload_slots(request(msg, d)).await }
        })
        .await
    }

    async fn put_download_manifest(
        &self,
        manifest: pb::DownloadManifest,
        data_version: u64,
    ) -> Result<(), ArchiveError> {
        let deadline =
            Duration::from_secs(13) + Duration::from_millis(manifest.chunks.len() as u64 * 10);
        let msg = PutDownloadManifestRequest {
            manifest: Some(manifest),
            data_version,
        };
        self.call("put_download_manifest", deadline, |mut c, d| {
            let msg = msg.clone();
            async move { c.put_download_manifest(request(msg, d)).await }
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_archive_errors() {
        let e = status_error("x", tonic::Status::not_found("no archive"));
        assert!(matches!(e, ArchiveError::NotFound { .. }));
        let e = status_error("x", tonic::Status::internal("boom"));
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "x failed: boom");
        let e = status_error("x", tonic::Status::unavailable("later"));
        assert!(e.is_transient());
        assert!(retryable(Code::DeadlineExceeded));
        assert!(!retryable(Code::PermissionDenied));
    }
}
