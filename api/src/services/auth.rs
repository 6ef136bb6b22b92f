//! AuthService (login, who-am-i), UserService and ApiKeyService.

use babel_api::pb::api::v1 as pb;
use pb::api_key_service_server::ApiKeyService;
use pb::auth_service_server::AuthService;
use pb::user_service_server::UserService;
use tonic::{Request, Response, Status};

use super::State;
use super::error::{ApiError, ApiResult, Denied, grpc};
use crate::auth::{PrincipalKind, Scope, principal};
use crate::crypto::{hash_password, new_token, token_hash, verify_password};
use crate::db::codec::to_timestamp;
use crate::db::tokens::{NewToken, TokenKind, TokenRow};
use crate::db::users::UserRow;
use crate::db::{self, now_ms};

const SESSION_MS: i64 = 7 * 24 * 3600 * 1000;
const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone)]
pub struct Auth(pub State);

fn user_proto(u: &UserRow) -> pb::User {
    pb::User {
        user_id: u.user_id.clone(),
        email: u.email.clone(),
        admin: u.admin != 0,
        created_at: Some(to_timestamp(u.created_at)),
    }
}

fn key_proto(t: &TokenRow) -> pb::ApiKey {
    pb::ApiKey {
        api_key_id: t.token_id.clone(),
        label: t.label.clone(),
        scopes: t.scopes.split_whitespace().map(str::to_string).collect(),
        user_id: t.user_id.clone().unwrap_or_default(),
        created_at: Some(to_timestamp(t.created_at)),
    }
}

/// Issues a session token for a user.
pub async fn issue_session(
    state: &State,
    user_id: &str,
    expires_at: Option<i64>,
) -> ApiResult<String> {
    let token = new_token("bva_");
    db::tokens::insert(
        &state.db,
        &token_hash(&token),
        NewToken {
            kind: TokenKind::Session,
            user_id: Some(user_id),
            host_id: None,
            org_id: None,
            label: "session",
            scopes: &[],
            expires_at,
        },
    )
    .await?;
    Ok(token)
}

#[tonic::async_trait]
impl AuthService for Auth {
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        grpc(async move {
            let req = req.into_inner();
            let denied = || ApiError::WrongCredentials;
            let user = db::users::by_email(&self.0.db, &req.email)
                .await?
                .ok_or_else(denied)?;
            if !verify_password(&req.password, &user.password_hash) {
                return Err(denied());
            }
            let expires_at = now_ms() + SESSION_MS;
            let token = issue_session(&self.0, &user.user_id, Some(expires_at)).await?;
            Ok(pb::LoginResponse {
                token,
                user_id: user.user_id,
                expires_at: Some(to_timestamp(expires_at)),
            })
        })
        .await
    }

    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let kind = match p.kind {
                PrincipalKind::User => pb::PrincipalKind::User,
                PrincipalKind::ApiKey => pb::PrincipalKind::ApiKey,
                PrincipalKind::Host => pb::PrincipalKind::Host,
            };
            Ok(pb::WhoAmIResponse {
                kind: kind as i32,
                id: p.id.clone(),
                scopes: p.scopes.iter().map(|s| s.as_str().to_string()).collect(),
                admin: p.admin,
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl UserService for Auth {
    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        grpc(async move {
            principal(&req)?.require_admin()?;
            let req = req.into_inner();
            if !req.email.contains('@') {
                return Err(ApiError::EmailWithoutAt);
            }
            if req.password.len() < MIN_PASSWORD_CHARS {
                return Err(ApiError::ShortPassword {
                    min: MIN_PASSWORD_CHARS,
                });
            }
            let hash = hash_password(&req.password)?;
            let user = db::users::insert(&self.0.db, &req.email, &hash, req.admin).await?;
            Ok(user_proto(&user))
        })
        .await
    }

    async fn list_users(
        &self,
        req: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        grpc(async move {
            principal(&req)?.require_admin()?;
            let users = db::users::list(&self.0.db).await?;
            Ok(pb::ListUsersResponse {
                users: users.iter().map(user_proto).collect(),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl ApiKeyService for Auth {
    async fn create(
        &self,
        req: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let user_id = p
                .user_id()
                .filter(|_| p.kind == PrincipalKind::User)
                .ok_or(ApiError::Denied(Denied::NotUserSession))?
                .to_string();
            let req = req.into_inner();
            if req.scopes.is_empty() {
                return Err(ApiError::NoScopes);
            }
            let mut names = Vec::new();
            for name in &req.scopes {
                let scope =
                    Scope::parse(name).ok_or_else(|| ApiError::UnknownScope(name.clone()))?;
                p.require(scope)?;
                names.push(scope.as_str().to_string());
            }
            let token = new_token("bvk_");
            let row = db::tokens::insert(
                &self.0.db,
                &token_hash(&token),
                NewToken {
                    kind: TokenKind::ApiKey,
                    user_id: Some(&user_id),
                    host_id: None,
                    org_id: None,
                    label: &req.label,
                    scopes: &names,
                    expires_at: None,
                },
            )
            .await?;
            Ok(pb::CreateApiKeyResponse {
                api_key: token,
                key: Some(key_proto(&row)),
            })
        })
        .await
    }

    async fn list(
        &self,
        req: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let user_id = p.user_id().ok_or(ApiError::Denied(Denied::HostApiKeys))?;
            let keys = db::tokens::list_api_keys(&self.0.db, user_id).await?;
            Ok(pb::ListApiKeysResponse {
                keys: keys.iter().map(key_proto).collect(),
            })
        })
        .await
    }

    async fn delete(
        &self,
        req: Request<pb::DeleteApiKeyRequest>,
    ) -> Result<Response<pb::DeleteApiKeyResponse>, Status> {
        grpc(async move {
            let p = principal(&req)?;
            let user_id = p.user_id().ok_or(ApiError::Denied(Denied::HostApiKeys))?;
            if !db::tokens::delete_api_key(&self.0.db, &req.get_ref().api_key_id, user_id).await? {
                return Err(super::not_found("API key", &req.get_ref().api_key_id));
            }
            Ok(pb::DeleteApiKeyResponse {})
        })
        .await
    }
}
