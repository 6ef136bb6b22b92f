//! `leases`: named, expiring claims so that periodic work runs on one replica at a time.
//! A claim succeeds when the lease is free, expired, or already ours; the same upsert runs on
//! SQLite and PostgreSQL.

use super::{Db, DbResult, now_ms};

/// Takes or renews `name` for `holder` until `ttl_ms` from now. True when `holder` has it.
pub async fn claim(db: &Db, name: &str, holder: &str, ttl_ms: i64) -> DbResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
    )
    .bind(name)
    .bind(holder)
    .bind(now + ttl_ms)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives `name` up when `holder` has it, so another replica may take it at once.
pub async fn release(db: &Db, name: &str, holder: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The current holder of `name`, when the lease has not expired.
pub async fn holder(db: &Db, name: &str) -> DbResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT holder FROM leases WHERE name = $1 AND expires_at > $2")
            .bind(name)
            .bind(now_ms())
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(h,)| h))
}
