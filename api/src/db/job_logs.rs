//! `job_logs`: job logs someone watches in the console. A watch names the host that runs
//! the node and lasts until `wanted_until`; the host's answers are stored with it, so any
//! replica can serve them.

use super::{Db, DbResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobLogRow {
    pub node_id: String,
    pub job: String,
    pub host_id: String,
    pub max_lines: i64,
    pub wanted_until: i64,
    pub at_ms: Option<i64>,
    pub lines_json: Option<String>,
    pub error: Option<String>,
}

/// Starts or extends a watch of `job` of `node_id` until `until`.
pub async fn want(
    db: &Db,
    node_id: &str,
    job: &str,
    host_id: &str,
    max_lines: i64,
    until: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO job_logs (node_id, job, host_id, max_lines, wanted_until)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (node_id, job) DO UPDATE SET host_id = $3, max_lines = $4,
            wanted_until = CASE WHEN job_logs.wanted_until > $5 THEN job_logs.wanted_until ELSE $5 END",
    )
    .bind(node_id)
    .bind(job)
    .bind(host_id)
    .bind(max_lines)
    .bind(until)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The watches of a host's nodes still wanted at `now`.
pub async fn wanted(db: &Db, host_id: &str, now: i64) -> DbResult<Vec<JobLogRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM job_logs WHERE host_id = $1 AND wanted_until >= $2 ORDER BY node_id, job",
    )
    .bind(host_id)
    .bind(now)
    .fetch_all(&db.pool)
    .await?)
}

/// Stores a host's answer for a watch it was asked about (only that host's watches).
pub async fn answer(
    db: &Db,
    host_id: &str,
    node_id: &str,
    job: &str,
    at_ms: i64,
    lines_json: Option<&str>,
    error: Option<&str>,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE job_logs SET at_ms = $1, lines_json = $2, error = $3
         WHERE host_id = $4 AND node_id = $5 AND job = $6",
    )
    .bind(at_ms)
    .bind(lines_json)
    .bind(error)
    .bind(host_id)
    .bind(node_id)
    .bind(job)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(db: &Db, node_id: &str, job: &str) -> DbResult<Option<JobLogRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM job_logs WHERE node_id = $1 AND job = $2")
            .bind(node_id)
            .bind(job)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Drops watches that ended before `before`.
pub async fn prune(db: &Db, before: i64) -> DbResult<u64> {
    Ok(sqlx::query("DELETE FROM job_logs WHERE wanted_until < $1")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}
