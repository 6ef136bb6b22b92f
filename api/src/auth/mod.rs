//! Who is calling. Every gRPC request passes [`middleware`], which resolves the bearer token
//! to a [`Principal`] (or rejects the call); handlers then check scopes and ownership.
//! Only `AuthService/Login` and `HostService/RegisterHost` go without a token (they carry
//! their own credentials in the body).

pub mod error;
pub mod scopes;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::crypto::token_hash;
use crate::db::{self, Db, now_ms};
pub use error::AuthError;
pub use scopes::Scope;

/// What kind of credential the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    ApiKey,
    Host,
}

/// The authenticated caller, available to handlers through the request extensions.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// User id (users, API keys) or host id (hosts).
    pub id: String,
    pub admin: bool,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.admin || self.scopes.contains(&scope)
    }

    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.admin {
            Ok(())
        } else {
            Err(AuthError::AdminOnly)
        }
    }

    /// The host id when the caller is a host.
    pub fn host_id(&self) -> Option<&str> {
        (self.kind == PrincipalKind::Host).then_some(self.id.as_str())
    }

    /// The user behind a session or API key.
    pub fn user_id(&self) -> Option<&str> {
        (self.kind != PrincipalKind::Host).then_some(self.id.as_str())
    }
}

/// The principal of a request (set by the middleware).
pub fn principal<T>(req: &tonic::Request<T>) -> Result<Principal, AuthError> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or(AuthError::NoPrincipal)
}

const PUBLIC_PATHS: &[&str] = &[
    "/api.v1.AuthService/Login",
    "/api.v1.HostService/RegisterHost",
];

/// Axum middleware in front of every gRPC route.
pub async fn middleware(State(db): State<Db>, mut req: Request, next: Next) -> Response {
    if PUBLIC_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match authenticate(&db, req.headers()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(refused) => {
            let (parts, ()) = tonic::Status::from(refused).into_http::<()>().into_parts();
            (parts.status, parts.headers).into_response()
        }
    }
}

async fn authenticate(db: &Db, headers: &axum::http::HeaderMap) -> Result<Principal, AuthError> {
    let header = headers
        .get("authorization")
        .ok_or(AuthError::MissingHeader)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::MalformedHeader)?;
    resolve(db, token).await
}

/// Resolves a bearer token to its principal.
pub async fn resolve(db: &Db, token: &str) -> Result<Principal, AuthError> {
    let invalid = || AuthError::InvalidToken;
    let row = db::tokens::by_hash(db, &token_hash(token))
        .await?
        .ok_or_else(invalid)?;
    if row.expires_at.is_some_and(|exp| exp <= now_ms()) {
        return Err(invalid());
    }
    let scopes = || Scope::parse_list(&row.scopes);
    match row.kind.as_str() {
        "session" | "api_key" => {
            let user_id = row.user_id.clone().ok_or_else(invalid)?;
            let user = db::users::by_id(db, &user_id).await?.ok_or_else(invalid)?;
            let admin = user.admin != 0;
            let (kind, scopes) = if row.kind == "session" {
                (PrincipalKind::User, Scope::user_defaults())
            } else {
                (PrincipalKind::ApiKey, scopes())
            };
            Ok(Principal {
                kind,
                id: user_id,
                // An API key is admin only when it says so explicitly.
                admin: admin && (kind == PrincipalKind::User || scopes.contains(&Scope::Admin)),
                scopes,
            })
        }
        "host" => {
            let host_id = row.host_id.clone().ok_or_else(invalid)?;
            db::hosts::by_id(db, &host_id).await?.ok_or_else(invalid)?;
            Ok(Principal {
                kind: PrincipalKind::Host,
                id: host_id,
                admin: false,
                scopes: Scope::host_defaults(),
            })
        }
        _ => Err(invalid()),
    }
}
