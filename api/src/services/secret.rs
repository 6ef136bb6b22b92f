//! SecretService: per-node plugin secrets, encrypted at rest with a key derived from the
//! master key and bound to (node id, name). Hosts reach the secrets of their own nodes.

use babel_api::pb::api::v1 as pb;
use pb::secret_service_server::SecretService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, grpc};
use super::{State, not_found};
use crate::auth::{Principal, Scope, principal};
use crate::db;

const MAX_SECRET_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Secrets(pub State);

fn context(node_id: &str, name: &str) -> String {
    format!("node/{node_id}/{name}")
}

impl Secrets {
    async fn check(&self, p: &Principal, node_id: &str, scope: Scope) -> ApiResult<()> {
        p.require(scope)?;
        let row = db::nodes::by_id(&self.0.db, node_id)
            .await?
            .ok_or_else(|| not_found("node", node_id))?;
        if p.host_id().is_some_and(|h| h != row.host_id) {
            return Err(not_found("node", node_id));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(ApiError::SecretName);
    }
    Ok(())
}

#[tonic::async_trait]
impl SecretService for Secrets {
    async fn get_secret(
        &self,
        req: Request<pb::GetSecretRequest>,
    ) -> Result<Response<pb::GetSecretResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            self.check(&p, &req.node_id, Scope::SecretRead).await?;
            let sealed = db::secrets::get(&self.0.db, &req.node_id, &req.name)
                .await?
                .ok_or_else(|| not_found("secret", &req.name))?;
            let value = self
                .0
                .keys
                .open(&context(&req.node_id, &req.name), &sealed)?;
            Ok(pb::GetSecretResponse { value })
        })
        .await
    }

    async fn put_secret(
        &self,
        req: Request<pb::PutSecretRequest>,
    ) -> Result<Response<pb::PutSecretResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            self.check(&p, &req.node_id, Scope::SecretWrite).await?;
            check_name(&req.name)?;
            if req.value.len() > MAX_SECRET_BYTES {
                return Err(ApiError::SecretTooLarge {
                    max: MAX_SECRET_BYTES,
                });
            }
            let sealed = self
                .0
                .keys
                .seal(&context(&req.node_id, &req.name), &req.value);
            db::secrets::put(&self.0.db, &req.node_id, &req.name, &sealed).await?;
            Ok(pb::PutSecretResponse {})
        })
        .await
    }

    async fn list_secrets(
        &self,
        req: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let node_id = &req.get_ref().node_id;
            self.check(&p, node_id, Scope::SecretRead).await?;
            let names = db::secrets::names(&self.0.db, node_id).await?;
            Ok(pb::ListSecretsResponse { names })
        })
        .await
    }

    async fn delete_secret(
        &self,
        req: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let req = req.into_inner();
            self.check(&p, &req.node_id, Scope::SecretWrite).await?;
            if !db::secrets::delete(&self.0.db, &req.node_id, &req.name).await? {
                return Err(not_found("secret", &req.name));
            }
            Ok(pb::DeleteSecretResponse {})
        })
        .await
    }
}
