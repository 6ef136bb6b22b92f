//! `nodes`: the whole `Node` message is stored; ids, placement and states are columns.

use babel_api::pb::api::v1 as pb;

use super::codec::{decode_pb, encode_pb, to_timestamp};
use super::{Db, DbResult, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub node_id: String,
    pub node_name: String,
    pub host_id: String,
    pub org_id: Option<String>,
    pub image_id: String,
    pub store_key: String,
    pub protocol_key: String,
    pub next_state: i64,
    pub state: i64,
    pub node_pb: String,
    pub deleted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl NodeRow {
    pub fn to_proto(&self) -> DbResult<pb::Node> {
        let mut node: pb::Node = decode_pb("node", &self.node_pb)?;
        node.next_state = self.next_state as i32;
        node.created_at = Some(to_timestamp(self.created_at));
        node.updated_at = Some(to_timestamp(self.updated_at));
        Ok(node)
    }
}

fn columns(node: &pb::Node) -> (String, i64, i64) {
    let store_key = node
        .config
        .as_ref()
        .and_then(|c| c.image.as_ref())
        .map(|i| i.store_key.clone())
        .unwrap_or_default();
    let state = node.status.as_ref().map(|s| s.state).unwrap_or(0);
    (store_key, i64::from(node.next_state), i64::from(state))
}

pub async fn insert(db: &Db, node: &pb::Node) -> DbResult<()> {
    let (store_key, next_state, state) = columns(node);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO nodes (node_id, node_name, host_id, org_id, image_id, store_key,
            protocol_key, next_state, state, node_pb, deleted_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $11)",
    )
    .bind(&node.node_id)
    .bind(&node.node_name)
    .bind(&node.host_id)
    .bind(&node.org_id)
    .bind(&node.image_id)
    .bind(store_key)
    .bind(&node.protocol_name)
    .bind(next_state)
    .bind(state)
    .bind(encode_pb(node))
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Saves the node; `deleted` marks it deleted.
pub async fn save(db: &Db, node: &pb::Node, deleted: bool) -> DbResult<()> {
    let (store_key, next_state, state) = columns(node);
    let now = now_ms();
    sqlx::query(
        "UPDATE nodes SET image_id = $1, store_key = $2, next_state = $3, state = $4,
            node_pb = $5, updated_at = $6,
            deleted_at = CASE WHEN $7 = 1 THEN $6 ELSE deleted_at END
         WHERE node_id = $8",
    )
    .bind(&node.image_id)
    .bind(store_key)
    .bind(next_state)
    .bind(state)
    .bind(encode_pb(node))
    .bind(now)
    .bind(i64::from(deleted))
    .bind(&node.node_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn by_id(db: &Db, node_id: &str) -> DbResult<Option<NodeRow>> {
    Ok(sqlx::query_as("SELECT * FROM nodes WHERE node_id = $1")
        .bind(node_id)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn name_taken(db: &Db, name: &str) -> DbResult<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM nodes WHERE node_name = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// Filters for [`list`].
#[derive(Debug, Default)]
pub struct NodeFilter<'a> {
    pub host_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub protocol_key: Option<&'a str>,
    pub include_deleted: bool,
}

pub async fn list(
    db: &Db,
    f: &NodeFilter<'_>,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<NodeRow>, i64)> {
    const WHERE: &str = "($1 IS NULL OR host_id = $1) AND ($2 IS NULL OR org_id = $2)
        AND ($3 IS NULL OR protocol_key = $3) AND ($4 = 1 OR deleted_at IS NULL)";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM nodes WHERE {WHERE} ORDER BY created_at LIMIT $5 OFFSET $6"
    )))
    .bind(f.host_id)
    .bind(f.org_id)
    .bind(f.protocol_key)
    .bind(i64::from(f.include_deleted))
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM nodes WHERE {WHERE}"
    )))
    .bind(f.host_id)
    .bind(f.org_id)
    .bind(f.protocol_key)
    .bind(i64::from(f.include_deleted))
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, total))
}

/// True when a live node on the host uses the store key (hosts may reach only those).
pub async fn host_uses_store_key(db: &Db, host_id: &str, store_key: &str) -> DbResult<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM nodes WHERE host_id = $1 AND store_key = $2
         AND deleted_at IS NULL",
    )
    .bind(host_id)
    .bind(store_key)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}
