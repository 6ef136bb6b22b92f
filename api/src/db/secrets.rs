//! `secrets`: node secrets, stored encrypted (see `crate::crypto`).

use super::{Db, DbResult, now_ms};

pub async fn put(db: &Db, node_id: &str, name: &str, ciphertext: &str) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO secrets (node_id, name, ciphertext, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (node_id, name) DO UPDATE SET ciphertext = $3, updated_at = $4",
    )
    .bind(node_id)
    .bind(name)
    .bind(ciphertext)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, node_id: &str, name: &str) -> DbResult<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT ciphertext FROM secrets WHERE node_id = $1 AND name = $2")
            .bind(node_id)
            .bind(name)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(c,)| c))
}

pub async fn names(db: &Db, node_id: &str) -> DbResult<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM secrets WHERE node_id = $1 ORDER BY name")
            .bind(node_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

pub async fn delete(db: &Db, node_id: &str, name: &str) -> DbResult<bool> {
    let done = sqlx::query("DELETE FROM secrets WHERE node_id = $1 AND name = $2")
        .bind(node_id)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
