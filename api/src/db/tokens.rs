//! `tokens`: every bearer token, stored as a keyed hash (never the token itself).

use super::{Db, DbResult, new_id, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    ApiKey,
    Host,
    Provision,
}

impl TokenKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::ApiKey => "api_key",
            TokenKind::Host => "host",
            TokenKind::Provision => "provision",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub token_id: String,
    pub token_hash: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub host_id: Option<String>,
    pub org_id: Option<String>,
    pub label: String,
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub used_at: Option<i64>,
    pub created_at: i64,
}

/// What a new token row holds besides its hash.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub kind: TokenKind,
    pub user_id: Option<&'a str>,
    pub host_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub label: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<i64>,
}

pub async fn insert(db: &Db, token_hash: &str, new: NewToken<'_>) -> DbResult<TokenRow> {
    let row = TokenRow {
        token_id: new_id(),
        token_hash: token_hash.to_string(),
        kind: new.kind.as_str().to_string(),
        user_id: new.user_id.map(str::to_string),
        host_id: new.host_id.map(str::to_string),
        org_id: new.org_id.map(str::to_string),
        label: new.label.to_string(),
        scopes: new.scopes.join(" "),
        expires_at: new.expires_at,
        used_at: None,
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO tokens (token_id, token_hash, kind, user_id, host_id, org_id, label,
            scopes, expires_at, used_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&row.token_id)
    .bind(&row.token_hash)
    .bind(&row.kind)
    .bind(&row.user_id)
    .bind(&row.host_id)
    .bind(&row.org_id)
    .bind(&row.label)
    .bind(&row.scopes)
    .bind(row.expires_at)
    .bind(row.used_at)
    .bind(row.created_at)
    .execute(&db.pool)
    .await?;
    Ok(row)
}

pub async fn by_hash(db: &Db, token_hash: &str) -> DbResult<Option<TokenRow>> {
    Ok(sqlx::query_as("SELECT * FROM tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await?)
}

/// Marks an unused, unexpired provision token used; false when it was not usable.
pub async fn consume_provision(db: &Db, token_hash: &str) -> DbResult<Option<TokenRow>> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE tokens SET used_at = $1
         WHERE token_hash = $2 AND kind = 'provision' AND used_at IS NULL
           AND (expires_at IS NULL OR expires_at > $1)",
    )
    .bind(now)
    .bind(token_hash)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 1 {
        by_hash(db, token_hash).await
    } else {
        Ok(None)
    }
}

pub async fn list_api_keys(db: &Db, user_id: &str) -> DbResult<Vec<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM tokens WHERE kind = 'api_key' AND user_id = $1 ORDER BY created_at",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn delete_api_key(db: &Db, token_id: &str, user_id: &str) -> DbResult<bool> {
    let done =
        sqlx::query("DELETE FROM tokens WHERE token_id = $1 AND kind = 'api_key' AND user_id = $2")
            .bind(token_id)
            .bind(user_id)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_for_host(db: &Db, host_id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM tokens WHERE host_id = $1 AND kind = 'host'")
        .bind(host_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Deletes tokens that expired before `before` (ms). Returns how many.
pub async fn delete_expired(db: &Db, before: i64) -> DbResult<u64> {
    let done = sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
