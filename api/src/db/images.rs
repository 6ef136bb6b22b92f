//! `images` (the whole `Image` message is stored; id, build and visibility are columns) and
//! `archives` (one per image archive pointer with a store key).

use babel_api::pb::api::v1 as pb;

use super::codec::{decode_list, decode_pb, encode_list, encode_pb, to_timestamp};
use super::{Db, DbResult, new_id, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImageRow {
    pub image_id: String,
    pub protocol_version_id: String,
    pub build_version: i64,
    pub visibility: i64,
    pub image_pb: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ImageRow {
    pub fn to_proto(&self) -> DbResult<pb::Image> {
        let mut image: pb::Image = decode_pb("image", &self.image_pb)?;
        image.image_id = self.image_id.clone();
        image.protocol_version_id = self.protocol_version_id.clone();
        image.build_version = self.build_version as u64;
        image.visibility = self.visibility as i32;
        image.created_at = Some(to_timestamp(self.created_at));
        image.updated_at = Some(to_timestamp(self.updated_at));
        Ok(image)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchiveRow {
    pub archive_id: String,
    pub image_id: String,
    pub store_key: String,
    pub org_id: Option<String>,
    pub new_archive_keys: String,
    pub created_at: i64,
}

impl ArchiveRow {
    pub fn to_proto(&self) -> DbResult<pb::Archive> {
        Ok(pb::Archive {
            archive_id: self.archive_id.clone(),
            image_id: self.image_id.clone(),
            store_key: self.store_key.clone(),
            new_archive_keys: decode_list("archive keys", &self.new_archive_keys)?,
            org_id: self.org_id.clone(),
        })
    }
}

/// Inserts an image with the next build number of its version, plus its archives, in one
/// transaction (retried by the caller on a unique-build conflict).
pub async fn insert(db: &Db, image: &pb::Image) -> DbResult<ImageRow> {
    let mut tx = db.pool.begin().await?;
    let (max,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(build_version) FROM images WHERE protocol_version_id = $1")
            .bind(&image.protocol_version_id)
            .fetch_one(&mut *tx)
            .await?;
    let now = now_ms();
    let row = ImageRow {
        image_id: new_id(),
        protocol_version_id: image.protocol_version_id.clone(),
        build_version: max.unwrap_or(0) + 1,
        visibility: i64::from(image.visibility),
        image_pb: encode_pb(image),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO images (image_id, protocol_version_id, build_version, visibility, image_pb,
            created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.image_id)
    .bind(&row.protocol_version_id)
    .bind(row.build_version)
    .bind(row.visibility)
    .bind(&row.image_pb)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *tx)
    .await?;
    for pointer in &image.archive_pointers {
        let Some(pb::archive_pointer::Pointer::StoreKey(store_key)) = &pointer.pointer else {
            continue;
        };
        let mut keys = pointer.new_archive_keys.clone();
        keys.sort();
        sqlx::query(
            "INSERT INTO archives (archive_id, image_id, store_key, org_id, new_archive_keys,
                created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(&row.image_id)
        .bind(store_key)
        .bind(&image.org_id)
        .bind(encode_list(&keys))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}

pub async fn set_visibility(db: &Db, image_id: &str, visibility: i32) -> DbResult<()> {
    sqlx::query("UPDATE images SET visibility = $1, updated_at = $2 WHERE image_id = $3")
        .bind(i64::from(visibility))
        .bind(now_ms())
        .bind(image_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn by_id(db: &Db, image_id: &str) -> DbResult<Option<ImageRow>> {
    Ok(sqlx::query_as("SELECT * FROM images WHERE image_id = $1")
        .bind(image_id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Builds of one protocol version, newest first.
pub async fn builds_of(db: &Db, protocol_version_id: &str) -> DbResult<Vec<ImageRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM images WHERE protocol_version_id = $1 ORDER BY build_version DESC",
    )
    .bind(protocol_version_id)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn archives_of(db: &Db, image_id: &str) -> DbResult<Vec<ArchiveRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM archives WHERE image_id = $1 ORDER BY store_key")
            .bind(image_id)
            .fetch_all(&db.pool)
            .await?,
    )
}

pub async fn archive_by_id(db: &Db, archive_id: &str) -> DbResult<Option<ArchiveRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM archives WHERE archive_id = $1")
            .bind(archive_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn store_key_known(db: &Db, store_key: &str) -> DbResult<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM archives WHERE store_key = $1")
        .bind(store_key)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}
