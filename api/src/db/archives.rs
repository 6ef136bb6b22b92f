//! `data_versions` and `chunks`: the manifests of archive data, per store key and version.

use babel_api::pb::babel::v1 as bpb;

use super::codec::{decode_pb, encode_pb};
use super::{Db, DbResult, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DataVersionRow {
    pub store_key: String,
    pub data_version: i64,
    pub complete: i64,
    pub total_size: i64,
    pub compression_pb: Option<String>,
    pub chunk_count: i64,
    pub created_at: i64,
}

impl DataVersionRow {
    pub fn metadata(&self) -> DbResult<bpb::DownloadMetadata> {
        let compression = match &self.compression_pb {
            Some(text) => Some(decode_pb("compression", text)?),
            None => None,
        };
        Ok(bpb::DownloadMetadata {
            total_size: self.total_size as u64,
            compression,
            chunks: self.chunk_count as u32,
            data_version: self.data_version as u64,
        })
    }
}

pub async fn get(db: &Db, store_key: &str, data_version: i64) -> DbResult<Option<DataVersionRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM data_versions WHERE store_key = $1 AND data_version = $2")
            .bind(store_key)
            .bind(data_version)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn latest_complete(db: &Db, store_key: &str) -> DbResult<Option<DataVersionRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM data_versions WHERE store_key = $1 AND complete = 1
         ORDER BY data_version DESC LIMIT 1",
    )
    .bind(store_key)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn list(db: &Db, store_key: &str) -> DbResult<Vec<DataVersionRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM data_versions WHERE store_key = $1 ORDER BY data_version DESC",
    )
    .bind(store_key)
    .fetch_all(&db.pool)
    .await?)
}

/// Allocates the next data version of a store key (1 for the first).
pub async fn allocate(db: &Db, store_key: &str) -> DbResult<i64> {
    loop {
        let (max,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(data_version) FROM data_versions WHERE store_key = $1")
                .bind(store_key)
                .fetch_one(&db.pool)
                .await?;
        let next = max.unwrap_or(0) + 1;
        if ensure(db, store_key, next).await? {
            return Ok(next);
        }
    }
}

/// Creates the (incomplete) version row if missing; true when this call created it.
pub async fn ensure(db: &Db, store_key: &str, data_version: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "INSERT INTO data_versions (store_key, data_version, complete, total_size,
            compression_pb, chunk_count, created_at)
         VALUES ($1, $2, 0, 0, NULL, 0, $3) ON CONFLICT (store_key, data_version) DO NOTHING",
    )
    .bind(store_key)
    .bind(data_version)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the manifest of a version and marks it complete, in one transaction. Chunks are
/// renumbered by position and stored without URLs.
pub async fn put_manifest(
    db: &Db,
    store_key: &str,
    data_version: i64,
    manifest: &bpb::DownloadManifest,
) -> DbResult<()> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM chunks WHERE store_key = $1 AND data_version = $2")
        .bind(store_key)
        .bind(data_version)
        .execute(&mut *tx)
        .await?;
    for (index, chunk) in manifest.chunks.iter().enumerate() {
        let mut chunk = chunk.clone();
        chunk.index = index as u32;
        chunk.url = None;
        sqlx::query(
            "INSERT INTO chunks (store_key, data_version, chunk_index, chunk_pb)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(store_key)
        .bind(data_version)
        .bind(index as i64)
        .bind(encode_pb(&chunk))
        .execute(&mut *tx)
        .await?;
    }
    let compression = manifest.compression.as_ref().map(encode_pb);
    sqlx::query(
        "INSERT INTO data_versions (store_key, data_version, complete, total_size,
            compression_pb, chunk_count, created_at)
         VALUES ($1, $2, 1, $3, $4, $5, $6)
         ON CONFLICT (store_key, data_version) DO UPDATE SET complete = 1,
            total_size = $3, compression_pb = $4, chunk_count = $5",
    )
    .bind(store_key)
    .bind(data_version)
    .bind(manifest.total_size as i64)
    .bind(compression)
    .bind(manifest.chunks.len() as i64)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn chunk(
    db: &Db,
    store_key: &str,
    data_version: i64,
    index: i64,
) -> DbResult<Option<bpb::Chunk>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT chunk_pb FROM chunks WHERE store_key = $1 AND data_version = $2
         AND chunk_index = $3",
    )
    .bind(store_key)
    .bind(data_version)
    .bind(index)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|(text,)| decode_pb("chunk", &text)).transpose()
}
