//! `commands`: what hosts must do; the whole `Command` message is stored and the result
//! columns are filled in as the host reports.

use babel_api::pb::api::v1 as pb;

use super::codec::{decode_pb, encode_pb, to_timestamp};
use super::{Db, DbResult, new_id, next_seq, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommandRow {
    pub command_id: String,
    pub seq: i64,
    pub host_id: String,
    pub node_id: Option<String>,
    pub command_pb: String,
    pub acked_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub exit_code: Option<i64>,
    pub exit_message: Option<String>,
    pub retry_hint_seconds: Option<i64>,
    pub created_at: i64,
}

impl CommandRow {
    pub fn to_proto(&self) -> DbResult<pb::Command> {
        let mut cmd: pb::Command = decode_pb("command", &self.command_pb)?;
        cmd.command_id = self.command_id.clone();
        cmd.host_id = self.host_id.clone();
        cmd.created_at = Some(to_timestamp(self.created_at));
        cmd.acked_at = self.acked_at.map(to_timestamp);
        cmd.completed_at = self.completed_at.map(to_timestamp);
        cmd.exit_code = self.exit_code.map(|c| c as i32);
        cmd.exit_message = self.exit_message.clone();
        cmd.retry_hint_seconds = self.retry_hint_seconds.map(|s| s as u64);
        Ok(cmd)
    }
}

/// Records a command for a host and returns it.
pub async fn insert(
    db: &Db,
    host_id: &str,
    node_id: Option<&str>,
    command: pb::command::Command,
) -> DbResult<CommandRow> {
    let msg = pb::Command {
        command: Some(command),
        ..Default::default()
    };
    let row = CommandRow {
        command_id: new_id(),
        seq: next_seq(),
        host_id: host_id.to_string(),
        node_id: node_id.map(str::to_string),
        command_pb: encode_pb(&msg),
        acked_at: None,
        completed_at: None,
        exit_code: None,
        exit_message: None,
        retry_hint_seconds: None,
        created_at: now_ms(),
    };
    // Replicas' clocks differ: a command never sorts before one already recorded for the
    // same host, so a host applies them in the order they were made.
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO commands (command_id, seq, host_id, node_id, command_pb, created_at)
         SELECT $1, CASE WHEN MAX(seq) >= $2 THEN MAX(seq) + 1 ELSE $2 END, $3, $4, $5, $6
         FROM commands WHERE host_id = $3
         RETURNING seq",
    )
    .bind(&row.command_id)
    .bind(row.seq)
    .bind(&row.host_id)
    .bind(&row.node_id)
    .bind(&row.command_pb)
    .bind(row.created_at)
    .fetch_one(&db.pool)
    .await?;
    Ok(CommandRow { seq, ..row })
}

/// Commands of a host without a result, oldest first.
pub async fn pending(db: &Db, host_id: &str) -> DbResult<Vec<CommandRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM commands WHERE host_id = $1 AND completed_at IS NULL ORDER BY seq",
    )
    .bind(host_id)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn by_id(db: &Db, command_id: &str) -> DbResult<Option<CommandRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM commands WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn ack(db: &Db, command_id: &str) -> DbResult<()> {
    sqlx::query("UPDATE commands SET acked_at = $1 WHERE command_id = $2 AND acked_at IS NULL")
        .bind(now_ms())
        .bind(command_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records a command's result. The first result stands: a host that reports again (after a
/// reconnect or a redelivery) changes nothing. True when this call recorded it.
pub async fn complete(db: &Db, req: &pb::UpdateCommandRequest) -> DbResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE commands SET completed_at = $1, acked_at = COALESCE(acked_at, $1),
            exit_code = $2, exit_message = $3, retry_hint_seconds = $4
         WHERE command_id = $5 AND completed_at IS NULL",
    )
    .bind(now)
    .bind(i64::from(req.exit_code))
    .bind(&req.exit_message)
    .bind(req.retry_hint_seconds.map(|s| s as i64))
    .bind(&req.command_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn list(
    db: &Db,
    host_id: Option<&str>,
    node_id: Option<&str>,
    pending_only: bool,
) -> DbResult<Vec<CommandRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM commands WHERE ($1 IS NULL OR host_id = $1) AND ($2 IS NULL OR node_id = $2)
            AND ($3 = 0 OR completed_at IS NULL)
         ORDER BY seq LIMIT 1000",
    )
    .bind(host_id)
    .bind(node_id)
    .bind(i64::from(pending_only))
    .fetch_all(&db.pool)
    .await?)
}
