//! HostService: provision tokens, registration (which issues the host's own token), and
//! host records.

use babel_api::pb::api::v1 as pb;
use pb::host_service_server::HostService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, Denied, grpc};
use super::{State, not_found, page};
use crate::auth::{Principal, Scope, principal};
use crate::crypto::{new_token, token_hash};
use crate::db::codec::to_timestamp;
use crate::db::hosts::HostRow;
use crate::db::tokens::{NewToken, TokenKind};
use crate::db::{self, Db, DbError, now_ms};

const DEFAULT_PROVISION_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct Hosts(pub State);

/// Makes a single-use provision token (default lifetime 24 h, at most 30 days); returns it
/// with its expiry (epoch ms). Also used by `bv-api provision-token`.
pub async fn create_provision_token(
    db: &Db,
    user_id: Option<&str>,
    org_id: Option<&str>,
    expires_secs: Option<u64>,
) -> Result<(String, i64), DbError> {
    let secs = expires_secs
        .unwrap_or(DEFAULT_PROVISION_SECS)
        .clamp(1, 30 * 24 * 3600);
    let expires_at = now_ms() + (secs as i64) * 1000;
    let token = new_token("bvp_");
    db::tokens::insert(
        db,
        &token_hash(&token),
        NewToken {
            kind: TokenKind::Provision,
            user_id,
            host_id: None,
            org_id,
            label: "provision",
            scopes: &[],
            expires_at: Some(expires_at),
        },
    )
    .await?;
    Ok((token, expires_at))
}

impl Hosts {
    async fn proto(&self, row: &HostRow) -> ApiResult<pb::Host> {
        let count = db::hosts::node_count(&self.0.db, &row.host_id).await?;
        Ok(row.to_proto(count)?)
    }

    /// A host may read/update itself; others need the scope.
    fn check(p: &Principal, host_id: &str, scope: Scope) -> ApiResult<()> {
        if p.host_id() == Some(host_id) {
            return Ok(());
        }
        if p.host_id().is_some() {
            return Err(Denied::ForeignHost.into());
        }
        Ok(p.require(scope)?)
    }
}

#[tonic::async_trait]
impl HostService for Hosts {
    async fn create_provision_token(
        &self,
        req: Request<pb::CreateProvisionTokenRequest>,
    ) -> Result<Response<pb::CreateProvisionTokenResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            if p.host_id().is_some() {
                return Err(Denied::HostProvisions.into());
            }
            p.require(Scope::HostWrite)?;
            let req = req.into_inner();
            let (token, expires_at) = create_provision_token(
                &self.0.db,
                p.user_id(),
                req.org_id.as_deref(),
                req.expires_secs,
            )
            .await?;
            Ok(pb::CreateProvisionTokenResponse {
                provision_token: token,
                expires_at: Some(to_timestamp(expires_at)),
            })
        })
        .await
    }

    async fn register_host(
        &self,
        req: Request<pb::RegisterHostRequest>,
    ) -> Result<Response<pb::RegisterHostResponse>, Status> {
        grpc(async move {
            let req = req.into_inner();
            if req.network_name.trim().is_empty() {
                return Err(ApiError::Required {
                    field: "network_name (hostname)",
                });
            }
            let provision =
                db::tokens::consume_provision(&self.0.db, &token_hash(&req.provision_token))
                    .await?
                    .ok_or(ApiError::BadProvisionToken)?;
            let row = HostRow::from_registration(&req, provision.org_id.clone());
            db::hosts::insert(&self.0.db, &row).await?;
            let token = new_token("bvh_");
            db::tokens::insert(
                &self.0.db,
                &token_hash(&token),
                NewToken {
                    kind: TokenKind::Host,
                    user_id: None,
                    host_id: Some(&row.host_id),
                    org_id: row.org_id.as_deref(),
                    label: &row.network_name,
                    scopes: &[],
                    expires_at: None,
                },
            )
            .await?;
            tracing::info!(host_id = %row.host_id, name = %row.network_name, "host registered");
            Ok(pb::RegisterHostResponse {
                host: Some(self.proto(&row).await?),
                token,
            })
        })
        .await
    }

    async fn get_host(
        &self,
        req: Request<pb::GetHostRequest>,
    ) -> Result<Response<pb::Host>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let id = &req.get_ref().host_id;
            Self::check(&p, id, Scope::HostRead)?;
            let row = db::hosts::by_id(&self.0.db, id)
                .await?
                .ok_or_else(|| not_found("host", id))?;
            self.proto(&row).await
        })
        .await
    }

    async fn list_hosts(
        &self,
        req: Request<pb::ListHostsRequest>,
    ) -> Result<Response<pb::ListHostsResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            if p.host_id().is_some() {
                return Err(Denied::HostLists.into());
            }
            p.require(Scope::HostRead)?;
            let req = req.into_inner();
            let (offset, limit) = page(req.page.as_ref());
            let (rows, total) =
                db::hosts::list(&self.0.db, req.org_id.as_deref(), offset, limit).await?;
            let mut hosts = Vec::with_capacity(rows.len());
            for row in &rows {
                hosts.push(self.proto(row).await?);
            }
            Ok(pb::ListHostsResponse {
                hosts,
                total: total as u64,
            })
        })
        .await
    }

    async fn update_host(
        &self,
        req: Request<pb::UpdateHostRequest>,
    ) -> Result<Response<pb::Host>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            Self::check(&p, &req.host_id, Scope::HostWrite)?;
            let mut row = db::hosts::by_id(&self.0.db, &req.host_id)
                .await?
                .ok_or_else(|| not_found("host", &req.host_id))?;
            if let Some(v) = req.network_name {
                row.network_name = v;
            }
            if let Some(v) = req.display_name {
                row.display_name = Some(v);
            }
            if let Some(v) = req.bv_version {
                row.bv_version = v;
            }
            if let Some(v) = req.os {
                row.os = v;
            }
            if let Some(v) = req.os_version {
                row.os_version = v;
            }
            if let Some(v) = req.disk_bytes {
                row.disk_bytes = v as i64;
            }
            if let Some(v) = req.memory_bytes {
                row.memory_bytes = v as i64;
            }
            if let Some(v) = req.cpu_cores {
                row.cpu_cores = i64::from(v);
            }
            db::hosts::update(&self.0.db, &row).await?;
            self.proto(&row).await
        })
        .await
    }

    async fn delete_host(
        &self,
        req: Request<pb::DeleteHostRequest>,
    ) -> Result<Response<pb::DeleteHostResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            if p.host_id().is_some() {
                return Err(Denied::HostDeletes.into());
            }
            p.require(Scope::HostWrite)?;
            let id = &req.get_ref().host_id;
            db::hosts::by_id(&self.0.db, id)
                .await?
                .ok_or_else(|| not_found("host", id))?;
            if db::hosts::node_count(&self.0.db, id).await? > 0 {
                return Err(ApiError::HostHasNodes);
            }
            db::hosts::mark_deleted(&self.0.db, id).await?;
            db::tokens::delete_for_host(&self.0.db, id).await?;
            Ok(pb::DeleteHostResponse {})
        })
        .await
    }

    async fn report_figures(
        &self,
        req: Request<pb::ReportHostFiguresRequest>,
    ) -> Result<Response<pb::ReportHostFiguresResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let answer = super::host_figures::report(&self.0.db, &p, req.get_ref()).await?;
            Ok(answer)
        })
        .await
    }
}
