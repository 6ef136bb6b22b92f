//! Console sign-in with the existing users and tokens. `POST /api/login` takes an email and
//! password (a new session token is issued, as `AuthService/Login` does) or any existing
//! token; the token then rides in an `HttpOnly`, `SameSite=Strict` cookie. API calls may
//! send `Authorization: Bearer <token>` instead.

use super::error::{HttpError, HttpResult};
use super::state::Shared;
use crate::auth::{Principal, PrincipalKind, Scope, resolve};
use crate::crypto::verify_password;
use crate::db::{self, now_ms};
use crate::services::auth::issue_session;
use crate::services::error::ApiError;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub const COOKIE_NAME: &str = "bv_console";
const SESSION_SECS: i64 = 7 * 24 * 3600;

fn token_from(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(t) = bearer.filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A signed-in caller who may read nodes and hosts: every console view shows both (hosts'
/// own tokens are refused).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<Shared> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, console: &Shared) -> HttpResult<Self> {
        let token = token_from(&parts.headers).ok_or(HttpError::SignedOut)?;
        let p = resolve(&console.app.db, &token).await?;
        if p.kind == PrincipalKind::Host {
            return Err(HttpError::HostToken);
        }
        p.require(Scope::NodeRead)?;
        p.require(Scope::HostRead)?;
        Ok(Self(p))
    }
}

impl Caller {
    /// A gRPC request carrying this caller, for calling the services directly.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.extensions_mut().insert(self.0.clone());
        req
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginBody {
    pub email: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Me {
    pub id: String,
    pub email: Option<String>,
    pub admin: bool,
    pub can_write: bool,
}

async fn me_of(console: &Shared, p: &Principal) -> HttpResult<Me> {
    let email = match p.user_id() {
        Some(id) => db::users::by_id(&console.app.db, id)
            .await?
            .map(|u| u.email),
        None => None,
    };
    Ok(Me {
        id: p.id.clone(),
        email,
        admin: p.admin,
        can_write: p.has(Scope::NodeWrite),
    })
}

fn cookie(token: &str, max_age: i64) -> HeaderValue {
    // Tokens are base64url with a prefix: always a valid header value.
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("bv_console=; Path=/; Max-Age=0"))
}

pub async fn login(
    State(console): State<Shared>,
    Json(body): Json<LoginBody>,
) -> HttpResult<Response> {
    let denied = || HttpError::from(ApiError::WrongCredentials);
    let token = match (body.token, body.email, body.password) {
        (Some(token), _, _) if !token.trim().is_empty() => token.trim().to_string(),
        (_, Some(email), Some(password)) => {
            let user = db::users::by_email(&console.app.db, email.trim())
                .await?
                .ok_or_else(denied)?;
            if !verify_password(&password, &user.password_hash) {
                return Err(denied());
            }
            issue_session(
                &console.app,
                &user.user_id,
                Some(now_ms() + SESSION_SECS * 1000),
            )
            .await?
        }
        _ => return Err(HttpError::NoCredentials),
    };
    let p = resolve(&console.app.db, &token).await?;
    if p.kind == PrincipalKind::Host {
        return Err(HttpError::HostToken);
    }
    p.require(Scope::NodeRead)?;
    p.require(Scope::HostRead)?;
    let me = me_of(&console, &p).await?;
    let mut resp = Json(me).into_response();
    resp.headers_mut()
        .insert(SET_COOKIE, cookie(&token, SESSION_SECS));
    Ok(resp)
}

pub async fn logout() -> Response {
    let mut resp = Json(serde_json::json!({})).into_response();
    resp.headers_mut().insert(SET_COOKIE, cookie("", 0));
    resp
}

pub async fn me(State(console): State<Shared>, caller: Caller) -> HttpResult<Json<Me>> {
    Ok(Json(me_of(&console, &caller.0).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(token_from(&h), None);
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=b; bv_console=bva_x; c=d"),
        );
        assert_eq!(token_from(&h).as_deref(), Some("bva_x"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer bva_y"));
        assert_eq!(token_from(&h).as_deref(), Some("bva_y"));
    }
}
