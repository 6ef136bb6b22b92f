//! ProtocolService: protocols and their versions (what `nib protocol push` and the version
//! half of `nib image push` use).

use babel_api::pb::api::v1 as pb;
use pb::protocol_service_server::ProtocolService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, grpc};
use super::{State, check_kebab, not_found, page, required};
use crate::auth::{Scope, principal};
use crate::db::protocols::{VersionRow, encode_metadata};
use crate::db::{self, new_id, now_ms};

#[derive(Debug, Clone)]
pub struct Protocols(pub State);

/// Unspecified visibility means private.
pub fn visibility_or_private(v: i32) -> ApiResult<i32> {
    match pb::Visibility::try_from(v) {
        Ok(pb::Visibility::Unspecified) => Ok(pb::Visibility::Private as i32),
        Ok(v) => Ok(v as i32),
        Err(_) => Err(ApiError::UnknownVisibility(v)),
    }
}

fn version_key(key: Option<&pb::ProtocolVersionKey>) -> ApiResult<&pb::ProtocolVersionKey> {
    let key = required("version_key", key)?;
    check_kebab("version_key.protocol_key", &key.protocol_key)?;
    check_kebab("version_key.variant_key", &key.variant_key)?;
    Ok(key)
}

#[tonic::async_trait]
impl ProtocolService for Protocols {
    async fn add_protocol(
        &self,
        req: Request<pb::AddProtocolRequest>,
    ) -> Result<Response<pb::Protocol>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolWrite)?;
            let req = req.into_inner();
            check_kebab("key", &req.key)?;
            if req.name.trim().is_empty() {
                return Err(ApiError::Empty { field: "name" });
            }
            let visibility = visibility_or_private(req.visibility)?;
            if db::protocols::by_key(&self.0.db, &req.key).await?.is_some() {
                return Err(ApiError::ProtocolExists {
                    key: req.key.clone(),
                });
            }
            let row = db::protocols::insert(&self.0.db, &req, visibility).await?;
            Ok(row.to_proto())
        })
        .await
    }

    async fn update_protocol(
        &self,
        req: Request<pb::UpdateProtocolRequest>,
    ) -> Result<Response<pb::Protocol>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolWrite)?;
            let req = req.into_inner();
            let mut row = db::protocols::by_id(&self.0.db, &req.protocol_id)
                .await?
                .ok_or_else(|| not_found("protocol", &req.protocol_id))?;
            if let Some(name) = req.name {
                row.name = name;
            }
            if let Some(d) = req.description {
                row.description = Some(d);
            }
            if let Some(t) = req.ticker {
                row.ticker = Some(t);
            }
            if let Some(o) = req.org_id {
                row.org_id = Some(o).filter(|o| !o.is_empty());
            }
            if let Some(v) = req.visibility {
                row.visibility = i64::from(visibility_or_private(v)?);
            }
            db::protocols::update(&self.0.db, &row).await?;
            let row = db::protocols::by_id(&self.0.db, &row.protocol_id)
                .await?
                .ok_or_else(|| not_found("protocol", &row.protocol_id))?;
            Ok(row.to_proto())
        })
        .await
    }

    async fn get_protocol(
        &self,
        req: Request<pb::GetProtocolRequest>,
    ) -> Result<Response<pb::Protocol>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolRead)?;
            let row = match &req.get_ref().protocol {
                Some(pb::get_protocol_request::Protocol::ProtocolKey(k)) => {
                    db::protocols::by_key(&self.0.db, k)
                        .await?
                        .ok_or_else(|| not_found("protocol", k))?
                }
                Some(pb::get_protocol_request::Protocol::ProtocolId(id)) => {
                    db::protocols::by_id(&self.0.db, id)
                        .await?
                        .ok_or_else(|| not_found("protocol", id))?
                }
                None => {
                    return Err(ApiError::RequiredOneOf("protocol_key", "protocol_id"));
                }
            };
            Ok(row.to_proto())
        })
        .await
    }

    async fn list_protocols(
        &self,
        req: Request<pb::ListProtocolsRequest>,
    ) -> Result<Response<pb::ListProtocolsResponse>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolRead)?;
            let req = req.into_inner();
            let (offset, limit) = page(req.page.as_ref());
            let (rows, total) =
                db::protocols::list(&self.0.db, req.search.as_deref(), offset, limit).await?;
            Ok(pb::ListProtocolsResponse {
                protocols: rows.iter().map(|r| r.to_proto()).collect(),
                total: total as u64,
            })
        })
        .await
    }

    async fn add_version(
        &self,
        req: Request<pb::AddVersionRequest>,
    ) -> Result<Response<pb::ProtocolVersion>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolWrite)?;
            let req = req.into_inner();
            let key = version_key(req.version_key.as_ref())?;
            semver::Version::parse(&req.semantic_version).map_err(|e| ApiError::NotSemver {
                field: "semantic_version",
                value: req.semantic_version.clone(),
                source: e,
            })?;
            for m in &req.metadata {
                check_kebab("metadata key", &m.metadata_key)?;
            }
            let protocol = db::protocols::by_key(&self.0.db, &key.protocol_key)
                .await?
                .ok_or_else(|| not_found("protocol", &key.protocol_key))?;
            let now = now_ms();
            let row = VersionRow {
                protocol_version_id: new_id(),
                protocol_id: protocol.protocol_id,
                org_id: req.org_id.clone(),
                protocol_key: key.protocol_key.clone(),
                variant_key: key.variant_key.clone(),
                semantic_version: req.semantic_version.clone(),
                sku_code: req.sku_code.clone(),
                description: req.description.clone(),
                metadata_json: encode_metadata(&req.metadata),
                visibility: i64::from(visibility_or_private(req.visibility)?),
                created_at: now,
                updated_at: now,
            };
            db::protocols::insert_version(&self.0.db, &row).await?;
            Ok(row.to_proto()?)
        })
        .await
    }

    async fn update_version(
        &self,
        req: Request<pb::UpdateVersionRequest>,
    ) -> Result<Response<pb::ProtocolVersion>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolWrite)?;
            let req = req.into_inner();
            let mut row = db::protocols::version_by_id(&self.0.db, &req.protocol_version_id)
                .await?
                .ok_or_else(|| not_found("protocol version", &req.protocol_version_id))?;
            if let Some(v) = req.visibility {
                row.visibility = i64::from(visibility_or_private(v)?);
            }
            if let Some(d) = req.description {
                row.description = Some(d);
            }
            if let Some(s) = req.sku_code {
                row.sku_code = s;
            }
            db::protocols::update_version(&self.0.db, &row).await?;
            Ok(row.to_proto()?)
        })
        .await
    }

    async fn get_latest(
        &self,
        req: Request<pb::GetLatestRequest>,
    ) -> Result<Response<pb::ProtocolVersion>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolRead)?;
            let key = version_key(req.get_ref().version_key.as_ref())?;
            let versions =
                db::protocols::versions_of(&self.0.db, &key.protocol_key, &key.variant_key).await?;
            let latest = versions.first().ok_or_else(|| {
                not_found(
                    "protocol version",
                    format!("{}/{}", key.protocol_key, key.variant_key),
                )
            })?;
            Ok(latest.to_proto()?)
        })
        .await
    }

    async fn list_versions(
        &self,
        req: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolRead)?;
            let key = version_key(req.get_ref().version_key.as_ref())?;
            let rows =
                db::protocols::versions_of(&self.0.db, &key.protocol_key, &key.variant_key).await?;
            let versions = rows
                .iter()
                .map(|r| r.to_proto())
                .collect::<Result<_, _>>()?;
            Ok(pb::ListVersionsResponse { versions })
        })
        .await
    }

    async fn list_variants(
        &self,
        req: Request<pb::ListVariantsRequest>,
    ) -> Result<Response<pb::ListVariantsResponse>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ProtocolRead)?;
            let variant_keys =
                db::protocols::variants_of(&self.0.db, &req.get_ref().protocol_key).await?;
            Ok(pb::ListVariantsResponse { variant_keys })
        })
        .await
    }
}
