//! `hosts`.

use babel_api::pb::api::v1 as pb;

use super::codec::{decode_list, encode_list, to_timestamp};
use super::{Db, DbResult, new_id, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostRow {
    pub host_id: String,
    pub org_id: Option<String>,
    pub network_name: String,
    pub display_name: Option<String>,
    pub bv_version: String,
    pub os: String,
    pub os_version: String,
    pub cpu_cores: i64,
    pub memory_bytes: i64,
    pub disk_bytes: i64,
    pub ip_address: String,
    pub ip_gateway: String,
    pub region: Option<String>,
    pub tags_json: String,
    pub online: i64,
    pub last_seen_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub created_at: i64,
}

impl HostRow {
    pub fn to_proto(&self, node_count: u64) -> DbResult<pb::Host> {
        Ok(pb::Host {
            host_id: self.host_id.clone(),
            network_name: self.network_name.clone(),
            display_name: self.display_name.clone(),
            org_id: self.org_id.clone(),
            bv_version: self.bv_version.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            cpu_cores: self.cpu_cores as u32,
            memory_bytes: self.memory_bytes as u64,
            disk_bytes: self.disk_bytes as u64,
            ip_address: self.ip_address.clone(),
            ip_gateway: self.ip_gateway.clone(),
            region: self.region.clone(),
            tags: decode_list("host tags", &self.tags_json)?,
            online: self.online != 0,
            last_seen_at: self.last_seen_at.map(to_timestamp),
            node_count,
            created_at: Some(to_timestamp(self.created_at)),
        })
    }

    pub fn from_registration(req: &pb::RegisterHostRequest, org_id: Option<String>) -> Self {
        Self {
            host_id: new_id(),
            org_id,
            network_name: req.network_name.clone(),
            display_name: req.display_name.clone(),
            bv_version: req.bv_version.clone(),
            os: req.os.clone(),
            os_version: req.os_version.clone(),
            cpu_cores: i64::from(req.cpu_cores),
            memory_bytes: req.memory_bytes as i64,
            disk_bytes: req.disk_bytes as i64,
            ip_address: req.ip_address.clone(),
            ip_gateway: req.ip_gateway.clone(),
            region: req.region.clone(),
            tags_json: encode_list(&req.tags),
            online: 0,
            last_seen_at: None,
            deleted_at: None,
            created_at: now_ms(),
        }
    }
}

pub async fn insert(db: &Db, row: &HostRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO hosts (host_id, org_id, network_name, display_name, bv_version, os,
            os_version, cpu_cores, memory_bytes, disk_bytes, ip_address, ip_gateway, region,
            tags_json, online, last_seen_at, deleted_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18)",
    )
    .bind(&row.host_id)
    .bind(&row.org_id)
    .bind(&row.network_name)
    .bind(&row.display_name)
    .bind(&row.bv_version)
    .bind(&row.os)
    .bind(&row.os_version)
    .bind(row.cpu_cores)
    .bind(row.memory_bytes)
    .bind(row.disk_bytes)
    .bind(&row.ip_address)
    .bind(&row.ip_gateway)
    .bind(&row.region)
    .bind(&row.tags_json)
    .bind(row.online)
    .bind(row.last_seen_at)
    .bind(row.deleted_at)
    .bind(row.created_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn update(db: &Db, row: &HostRow) -> DbResult<()> {
    sqlx::query(
        "UPDATE hosts SET network_name = $1, display_name = $2, bv_version = $3, os = $4,
            os_version = $5, cpu_cores = $6, memory_bytes = $7, disk_bytes = $8
         WHERE host_id = $9",
    )
    .bind(&row.network_name)
    .bind(&row.display_name)
    .bind(&row.bv_version)
    .bind(&row.os)
    .bind(&row.os_version)
    .bind(row.cpu_cores)
    .bind(row.memory_bytes)
    .bind(row.disk_bytes)
    .bind(&row.host_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Marks a host online as of `at` (ms): its stream opened or is still open.
pub async fn heartbeat(db: &Db, host_id: &str, at: i64) -> DbResult<()> {
    sqlx::query("UPDATE hosts SET online = 1, last_seen_at = $1 WHERE host_id = $2")
        .bind(at)
        .bind(host_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Marks a host offline when its stream closes, unless another stream (possibly on another
/// replica) has renewed it since `last_beat`, the closing stream's own last heartbeat.
pub async fn stream_closed(db: &Db, host_id: &str, last_beat: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE hosts SET online = 0, last_seen_at = $1
         WHERE host_id = $2 AND last_seen_at = $3",
    )
    .bind(now_ms())
    .bind(host_id)
    .bind(last_beat)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Marks offline every host whose stream has not beaten since `before` (ms): its replica
/// died without closing it. Returns how many.
pub async fn expire_online(db: &Db, before: i64) -> DbResult<u64> {
    let done = sqlx::query("UPDATE hosts SET online = 0 WHERE online = 1 AND last_seen_at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

pub async fn mark_deleted(db: &Db, host_id: &str) -> DbResult<()> {
    sqlx::query("UPDATE hosts SET deleted_at = $1, online = 0 WHERE host_id = $2")
        .bind(now_ms())
        .bind(host_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn by_id(db: &Db, host_id: &str) -> DbResult<Option<HostRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM hosts WHERE host_id = $1 AND deleted_at IS NULL")
            .bind(host_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn list(
    db: &Db,
    org_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<HostRow>, i64)> {
    let rows = sqlx::query_as(
        "SELECT * FROM hosts WHERE deleted_at IS NULL AND ($1 IS NULL OR org_id = $1)
         ORDER BY created_at LIMIT $2 OFFSET $3",
    )
    .bind(org_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM hosts WHERE deleted_at IS NULL AND ($1 IS NULL OR org_id = $1)",
    )
    .bind(org_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, total))
}

pub async fn node_count(db: &Db, host_id: &str) -> DbResult<u64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM nodes WHERE host_id = $1 AND deleted_at IS NULL")
            .bind(host_id)
            .fetch_one(&db.pool)
            .await?;
    Ok(n as u64)
}

/// The live host with the fewest nodes (online hosts first).
pub async fn least_loaded(db: &Db, org_id: Option<&str>) -> DbResult<Option<HostRow>> {
    Ok(sqlx::query_as(
        "SELECT h.* FROM hosts h
         WHERE h.deleted_at IS NULL AND ($1 IS NULL OR h.org_id IS NULL OR h.org_id = $1)
         ORDER BY h.online DESC,
            (SELECT COUNT(*) FROM nodes n WHERE n.host_id = h.host_id AND n.deleted_at IS NULL),
            h.created_at
         LIMIT 1",
    )
    .bind(org_id)
    .fetch_optional(&db.pool)
    .await?)
}
