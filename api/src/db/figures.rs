//! `host_figures` and `node_history`: the latest figures of each host (JSON, written by the
//! host's own reports or the console's scrapes) and a bounded status history per node.
//! Both live in the database so every replica serves the same view.

use super::{Db, DbResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostFiguresRow {
    pub host_id: String,
    pub at_ms: i64,
    pub figures_json: Option<String>,
    pub error: Option<String>,
}

/// One sample of a node's status.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PointRow {
    pub node_id: String,
    pub at_ms: i64,
    pub status: String,
    pub height: Option<i64>,
    pub block_age_secs: Option<i64>,
    pub alerts: i64,
}

/// Replaces the host's figures (clearing a scrape error).
pub async fn put_host(db: &Db, host_id: &str, at_ms: i64, figures_json: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO host_figures (host_id, at_ms, figures_json, error) VALUES ($1, $2, $3, NULL)
         ON CONFLICT (host_id) DO UPDATE SET at_ms = $2, figures_json = $3, error = NULL",
    )
    .bind(host_id)
    .bind(at_ms)
    .bind(figures_json)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Marks the host's figures with a failed scrape; the last good figures stay.
pub async fn put_error(db: &Db, host_id: &str, at_ms: i64, error: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO host_figures (host_id, at_ms, figures_json, error) VALUES ($1, $2, NULL, $3)
         ON CONFLICT (host_id) DO UPDATE SET at_ms = $2, error = $3",
    )
    .bind(host_id)
    .bind(at_ms)
    .bind(error)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn host(db: &Db, host_id: &str) -> DbResult<Option<HostFiguresRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM host_figures WHERE host_id = $1")
            .bind(host_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn hosts(db: &Db) -> DbResult<Vec<HostFiguresRow>> {
    Ok(sqlx::query_as("SELECT * FROM host_figures")
        .fetch_all(&db.pool)
        .await?)
}

/// Adds samples (a repeated `(node, at_ms)` is ignored) and drops those nodes' samples
/// older than `keep_from`.
pub async fn add_points(db: &Db, points: &[PointRow], keep_from: i64) -> DbResult<()> {
    let mut tx = db.pool.begin().await?;
    for p in points {
        sqlx::query(
            "INSERT INTO node_history (node_id, at_ms, status, height, block_age_secs, alerts)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id, at_ms) DO NOTHING",
        )
        .bind(&p.node_id)
        .bind(p.at_ms)
        .bind(&p.status)
        .bind(p.height)
        .bind(p.block_age_secs)
        .bind(p.alerts)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM node_history WHERE node_id = $1 AND at_ms < $2")
            .bind(&p.node_id)
            .bind(keep_from)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A node's samples, oldest first.
pub async fn history(db: &Db, node_id: &str) -> DbResult<Vec<PointRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM node_history WHERE node_id = $1 ORDER BY at_ms")
            .bind(node_id)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Every node's samples, by node and oldest first.
pub async fn histories(db: &Db) -> DbResult<Vec<PointRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM node_history ORDER BY node_id, at_ms")
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Drops every sample older than `before` (nodes that stopped reporting or were deleted).
pub async fn prune(db: &Db, before: i64) -> DbResult<u64> {
    Ok(sqlx::query("DELETE FROM node_history WHERE at_ms < $1")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}
