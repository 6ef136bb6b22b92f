//! `protocols` and `protocol_versions`.

use babel_api::pb::api::v1 as pb;

use super::codec::to_timestamp;
use super::{Db, DbError, DbResult, new_id, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProtocolRow {
    pub protocol_id: String,
    pub org_id: Option<String>,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub ticker: Option<String>,
    pub visibility: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProtocolRow {
    pub fn to_proto(&self) -> pb::Protocol {
        pb::Protocol {
            protocol_id: self.protocol_id.clone(),
            org_id: self.org_id.clone(),
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            ticker: self.ticker.clone(),
            visibility: self.visibility as i32,
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub protocol_version_id: String,
    pub protocol_id: String,
    pub org_id: Option<String>,
    pub protocol_key: String,
    pub variant_key: String,
    pub semantic_version: String,
    pub sku_code: String,
    pub description: Option<String>,
    pub metadata_json: String,
    pub visibility: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MetadataJson {
    key: String,
    value: String,
    description: Option<String>,
}

pub fn encode_metadata(items: &[pb::VersionMetadata]) -> String {
    let list: Vec<MetadataJson> = items
        .iter()
        .map(|m| MetadataJson {
            key: m.metadata_key.clone(),
            value: m.value.clone(),
            description: m.description.clone(),
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_string())
}

impl VersionRow {
    pub fn to_proto(&self) -> DbResult<pb::ProtocolVersion> {
        let metadata: Vec<MetadataJson> =
            serde_json::from_str(&self.metadata_json).map_err(|e| DbError::Corrupt {
                what: "protocol version metadata",
                source: e.into(),
            })?;
        Ok(pb::ProtocolVersion {
            protocol_version_id: self.protocol_version_id.clone(),
            org_id: self.org_id.clone(),
            protocol_id: self.protocol_id.clone(),
            version_key: Some(pb::ProtocolVersionKey {
                protocol_key: self.protocol_key.clone(),
                variant_key: self.variant_key.clone(),
            }),
            semantic_version: self.semantic_version.clone(),
            sku_code: self.sku_code.clone(),
            description: self.description.clone(),
            metadata: metadata
                .into_iter()
                .map(|m| pb::VersionMetadata {
                    metadata_key: m.key,
                    value: m.value,
                    description: m.description,
                })
                .collect(),
            visibility: self.visibility as i32,
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        })
    }

    /// Parsed semantic version (rows are validated on insert).
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.semantic_version).ok()
    }
}

pub async fn insert(
    db: &Db,
    req: &pb::AddProtocolRequest,
    visibility: i32,
) -> DbResult<ProtocolRow> {
    let now = now_ms();
    let row = ProtocolRow {
        protocol_id: new_id(),
        org_id: req.org_id.clone(),
        key: req.key.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        ticker: req.ticker.clone(),
        visibility: i64::from(visibility),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO protocols (protocol_id, org_id, key, name, description, ticker, visibility,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.protocol_id)
    .bind(&row.org_id)
    .bind(&row.key)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.ticker)
    .bind(row.visibility)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&db.pool)
    .await?;
    Ok(row)
}

pub async fn update(db: &Db, row: &ProtocolRow) -> DbResult<()> {
    sqlx::query(
        "UPDATE protocols SET org_id = $1, name = $2, description = $3, ticker = $4,
            visibility = $5, updated_at = $6 WHERE protocol_id = $7",
    )
    .bind(&row.org_id)
    .bind(&row.name)
    .bind(&row.description)
    .bind(&row.ticker)
    .bind(row.visibility)
    .bind(now_ms())
    .bind(&row.protocol_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn by_key(db: &Db, key: &str) -> DbResult<Option<ProtocolRow>> {
    Ok(sqlx::query_as("SELECT * FROM protocols WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn by_id(db: &Db, id: &str) -> DbResult<Option<ProtocolRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM protocols WHERE protocol_id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn list(
    db: &Db,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<ProtocolRow>, i64)> {
    let pattern = format!("%{}%", search.unwrap_or("").to_lowercase());
    let rows = sqlx::query_as(
        "SELECT * FROM protocols WHERE LOWER(key) LIKE $1 OR LOWER(name) LIKE $1
         ORDER BY key LIMIT $2 OFFSET $3",
    )
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM protocols WHERE LOWER(key) LIKE $1 OR LOWER(name) LIKE $1",
    )
    .bind(&pattern)
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, total))
}

pub async fn insert_version(db: &Db, row: &VersionRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO protocol_versions (protocol_version_id, protocol_id, org_id, protocol_key,
            variant_key, semantic_version, sku_code, description, metadata_json, visibility,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&row.protocol_version_id)
    .bind(&row.protocol_id)
    .bind(&row.org_id)
    .bind(&row.protocol_key)
    .bind(&row.variant_key)
    .bind(&row.semantic_version)
    .bind(&row.sku_code)
    .bind(&row.description)
    .bind(&row.metadata_json)
    .bind(row.visibility)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn update_version(db: &Db, row: &VersionRow) -> DbResult<()> {
    sqlx::query(
        "UPDATE protocol_versions SET visibility = $1, description = $2, sku_code = $3,
            updated_at = $4 WHERE protocol_version_id = $5",
    )
    .bind(row.visibility)
    .bind(&row.description)
    .bind(&row.sku_code)
    .bind(now_ms())
    .bind(&row.protocol_version_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn version_by_id(db: &Db, id: &str) -> DbResult<Option<VersionRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM protocol_versions WHERE protocol_version_id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Every version of a variant, newest semantic version first.
pub async fn versions_of(
    db: &Db,
    protocol_key: &str,
    variant_key: &str,
) -> DbResult<Vec<VersionRow>> {
    let mut rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT * FROM protocol_versions WHERE protocol_key = $1 AND variant_key = $2",
    )
    .bind(protocol_key)
    .bind(variant_key)
    .fetch_all(&db.pool)
    .await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.semver()));
    Ok(rows)
}

pub async fn variants_of(db: &Db, protocol_key: &str) -> DbResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT variant_key FROM protocol_versions WHERE protocol_key = $1
         ORDER BY variant_key",
    )
    .bind(protocol_key)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}
