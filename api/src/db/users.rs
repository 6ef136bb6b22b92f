//! `users`: people who log in with email + password (argon2 hashes).

use super::{Db, DbResult, new_id, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
    pub admin: i64,
    pub created_at: i64,
}

pub async fn insert(db: &Db, email: &str, password_hash: &str, admin: bool) -> DbResult<UserRow> {
    let row = UserRow {
        user_id: new_id(),
        email: email.to_string(),
        password_hash: password_hash.to_string(),
        admin: i64::from(admin),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO users (user_id, email, password_hash, admin, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.user_id)
    .bind(&row.email)
    .bind(&row.password_hash)
    .bind(row.admin)
    .bind(row.created_at)
    .execute(&db.pool)
    .await?;
    Ok(row)
}

pub async fn by_email(db: &Db, email: &str) -> DbResult<Option<UserRow>> {
    Ok(sqlx::query_as("SELECT * FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn by_id(db: &Db, user_id: &str) -> DbResult<Option<UserRow>> {
    Ok(sqlx::query_as("SELECT * FROM users WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn list(db: &Db) -> DbResult<Vec<UserRow>> {
    Ok(sqlx::query_as("SELECT * FROM users ORDER BY created_at")
        .fetch_all(&db.pool)
        .await?)
}

pub async fn count(db: &Db) -> DbResult<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await?;
    Ok(n)
}
