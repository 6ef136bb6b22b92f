//! ArchiveService: data versions, upload slots and manifests of protocol data archives,
//! addressed by archive id or store key. Hosts may reach only the store
//! keys their live nodes use.

use std::time::Duration;

use babel_api::pb::api::v1 as pb;
use babel_api::pb::babel::v1 as bpb;
use pb::archive_service_server::ArchiveService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, Denied, grpc};
use super::{State, not_found, required};
use crate::auth::{Principal, Scope, principal};
use crate::db;
use crate::storage::UrlOp;

const DEFAULT_EXPIRES_SECS: u32 = 3600;
const MAX_EXPIRES_SECS: u32 = 7 * 24 * 3600;
const MAX_SLOTS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Archives(pub State);

fn expires(secs: Option<u32>) -> Duration {
    Duration::from_secs(u64::from(
        secs.unwrap_or(DEFAULT_EXPIRES_SECS)
            .clamp(1, MAX_EXPIRES_SECS),
    ))
}

/// Object key of one uploaded chunk.
pub fn chunk_key(store_key: &str, data_version: u64, index: u32) -> String {
    format!("{store_key}/{data_version}/chunk-{index:08}")
}

impl Archives {
    /// Resolves the archive to its store key and checks the caller may use it.
    async fn store_key(
        &self,
        p: &Principal,
        archive: Option<&pb::ArchiveRef>,
        scope: Scope,
    ) -> ApiResult<String> {
        p.require(scope)?;
        let archive = required("archive", archive)?;
        let store_key = match &archive.archive {
            Some(pb::archive_ref::Archive::ArchiveId(id)) => {
                db::images::archive_by_id(&self.0.db, id)
                    .await?
                    .ok_or_else(|| not_found("archive", id))?
                    .store_key
            }
            Some(pb::archive_ref::Archive::StoreKey(key)) => {
                if !db::images::store_key_known(&self.0.db, key).await? {
                    return Err(not_found("archive with store key", key));
                }
                key.clone()
            }
            None => {
                return Err(ApiError::RequiredOneOf("archive_id", "store_key"));
            }
        };
        if let Some(host_id) = p.host_id()
            && !db::nodes::host_uses_store_key(&self.0.db, host_id, &store_key).await?
        {
            return Err(Denied::ForeignArchive {
                store_key: store_key.clone(),
            }
            .into());
        }
        Ok(store_key)
    }
}

#[tonic::async_trait]
impl ArchiveService for Archives {
    async fn get_download_metadata(
        &self,
        req: Request<pb::GetDownloadMetadataRequest>,
    ) -> Result<Response<bpb::DownloadMetadata>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let key = self
                .store_key(&p, req.archive.as_ref(), Scope::ArchiveRead)
                .await?;
            let row = match req.data_version {
                Some(v) => db::archives::get(&self.0.db, &key, v as i64)
                    .await?
                    .filter(|r| r.complete != 0),
                None => db::archives::latest_complete(&self.0.db, &key).await?,
            }
            .ok_or_else(|| ApiError::NoManifest {
                store_key: key.clone(),
            })?;
            Ok(row.metadata()?)
        })
        .await
    }

    async fn get_download_chunks(
        &self,
        req: Request<pb::GetDownloadChunksRequest>,
    ) -> Result<Response<pb::GetDownloadChunksResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let key = self
                .store_key(&p, req.archive.as_ref(), Scope::ArchiveRead)
                .await?;
            let version = db::archives::get(&self.0.db, &key, req.data_version as i64)
                .await?
                .filter(|r| r.complete != 0)
                .ok_or_else(|| not_found("data version", format!("{key}/{}", req.data_version)))?;
            let ttl = expires(req.url_expires_secs);
            let mut chunks = Vec::with_capacity(req.chunk_indexes.len());
            for index in &req.chunk_indexes {
                if i64::from(*index) >= version.chunk_count {
                    return Err(ApiError::ChunkOutOfRange {
                        index: *index,
                        chunk_count: version.chunk_count,
                    });
                }
                let mut chunk =
                    db::archives::chunk(&self.0.db, &key, version.data_version, i64::from(*index))
                        .await?
                        .ok_or_else(|| not_found("chunk", index.to_string()))?;
                chunk.url = Some(
                    self.0
                        .storage
                        .signed_url(UrlOp::Get, &chunk.key, ttl)
                        .await?,
                );
                chunks.push(chunk);
            }
            Ok(pb::GetDownloadChunksResponse { chunks })
        })
        .await
    }

    async fn get_upload_slots(
        &self,
        req: Request<pb::GetUploadSlotsRequest>,
    ) -> Result<Response<bpb::UploadSlots>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let key = self
                .store_key(&p, req.archive.as_ref(), Scope::ArchiveWrite)
                .await?;
            if req.slot_indexes.len() > MAX_SLOTS {
                return Err(ApiError::TooManySlots { max: MAX_SLOTS });
            }
            let data_version = match req.data_version {
                None => db::archives::allocate(&self.0.db, &key).await?,
                Some(v) => {
                    let v = v as i64;
                    db::archives::ensure(&self.0.db, &key, v).await?;
                    let row = db::archives::get(&self.0.db, &key, v)
                        .await?
                        .ok_or_else(|| not_found("data version", format!("{key}/{v}")))?;
                    if row.complete != 0 {
                        return Err(ApiError::VersionComplete {
                            data_version: v,
                            store_key: key.clone(),
                        });
                    }
                    v
                }
            } as u64;
            let ttl = expires(req.url_expires_secs);
            let mut slots = Vec::with_capacity(req.slot_indexes.len());
            for index in &req.slot_indexes {
                let chunk = chunk_key(&key, data_version, *index);
                let url = self.0.storage.signed_url(UrlOp::Put, &chunk, ttl).await?;
                slots.push(bpb::Slot {
                    index: *index,
                    key: chunk,
                    url,
                });
            }
            Ok(bpb::UploadSlots {
                slots,
                data_version,
            })
        })
        .await
    }

    async fn put_download_manifest(
        &self,
        req: Request<pb::PutDownloadManifestRequest>,
    ) -> Result<Response<pb::PutDownloadManifestResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            let key = self
                .store_key(&p, req.archive.as_ref(), Scope::ArchiveWrite)
                .await?;
            let manifest = required("manifest", req.manifest.as_ref())?;
            let prefix = format!("{key}/{}/", req.data_version);
            for chunk in &manifest.chunks {
                if !chunk.key.starts_with(&prefix) {
                    return Err(ApiError::ForeignChunkKey {
                        key: chunk.key.clone(),
                        data_version: req.data_version,
                        store_key: key.clone(),
                    });
                }
                crate::storage::check_key(&chunk.key)?;
            }
            if let Some(row) = db::archives::get(&self.0.db, &key, req.data_version as i64).await?
                && row.complete != 0
            {
                return Err(ApiError::ManifestExists {
                    data_version: req.data_version,
                    store_key: key.clone(),
                });
            }
            db::archives::put_manifest(&self.0.db, &key, req.data_version as i64, manifest).await?;
            Ok(pb::PutDownloadManifestResponse {})
        })
        .await
    }

    async fn list_data_versions(
        &self,
        req: Request<pb::ListDataVersionsRequest>,
    ) -> Result<Response<pb::ListDataVersionsResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let key = self
                .store_key(&p, req.get_ref().archive.as_ref(), Scope::ArchiveRead)
                .await?;
            let versions = db::archives::list(&self.0.db, &key)
                .await?
                .into_iter()
                .map(|r| pb::DataVersion {
                    data_version: r.data_version as u64,
                    complete: r.complete != 0,
                    total_size: r.total_size as u64,
                    chunks: r.chunk_count as u32,
                })
                .collect();
            Ok(pb::ListDataVersionsResponse { versions })
        })
        .await
    }
}
