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
    /// The command issued again in this one's place after its retry hint, or empty when a
    /// later command for the node made that moot.
    pub retried_by: Option<String>,
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
    insert_as(db, new_id(), host_id, node_id, command).await
}

async fn insert_as(
    db: &Db,
    command_id: String,
    host_id: &str,
    node_id: Option<&str>,
    command: pb::command::Command,
) -> DbResult<CommandRow> {
    let msg = pb::Command {
        command: Some(command),
        ..Default::default()
    };
    let row = CommandRow {
        command_id,
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
        retried_by: None,
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

/// Commands a host refused because upgrade-blocking jobs ran, whose retry hint has passed
/// and that were not issued again yet, oldest first.
pub async fn retries_due(db: &Db, now: i64) -> DbResult<Vec<CommandRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM commands
         WHERE exit_code = $1 AND retry_hint_seconds IS NOT NULL AND retried_by IS NULL
           AND completed_at + retry_hint_seconds * 1000 <= $2
         ORDER BY seq LIMIT 100",
    )
    .bind(pb::CommandExitCode::BlockingJobRunning as i64)
    .bind(now)
    .fetch_all(&db.pool)
    .await?)
}

/// Issues `refused` again for its host, unless a later command for the same node replaced
/// it (an operator's new upgrade, a delete: theirs is what stands). Claims the row first, so
/// of several replicas only one issues it. Returns the new command.
pub async fn reissue(db: &Db, refused: &CommandRow) -> DbResult<Option<CommandRow>> {
    let (later,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM commands WHERE host_id = $1 AND node_id = $2 AND seq > $3",
    )
    .bind(&refused.host_id)
    .bind(&refused.node_id)
    .bind(refused.seq)
    .fetch_one(&db.pool)
    .await?;
    let new_id = if later > 0 { String::new() } else { new_id() };
    let claimed = sqlx::query(
        "UPDATE commands SET retried_by = $1 WHERE command_id = $2 AND retried_by IS NULL",
    )
    .bind(&new_id)
    .bind(&refused.command_id)
    .execute(&db.pool)
    .await?;
    if claimed.rows_affected() != 1 || new_id.is_empty() {
        return Ok(None);
    }
    let Some(command) = refused.to_proto()?.command else {
        return Ok(None);
    };
    let row = insert_as(
        db,
        new_id,
        &refused.host_id,
        refused.node_id.as_deref(),
        command,
    )
    .await?;
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("api.db").display()))
            .await
            .unwrap();
        (dir, db)
    }

    fn upgrade(node: &str) -> pb::command::Command {
        pb::command::Command::Node(pb::NodeCommand {
            node_id: node.into(),
            command: Some(pb::node_command::Command::Upgrade(Default::default())),
            ..Default::default()
        })
    }

    async fn refuse(db: &Db, row: &CommandRow, hint: Option<u64>) {
        let req = pb::UpdateCommandRequest {
            command_id: row.command_id.clone(),
            exit_code: pb::CommandExitCode::BlockingJobRunning as i32,
            exit_message: Some("upgrade-blocking job(s) running: download".into()),
            retry_hint_seconds: hint,
        };
        assert!(complete(db, &req).await.unwrap());
    }

    #[tokio::test]
    async fn a_refused_command_is_issued_again_once_after_its_hint() {
        let (_dir, db) = db().await;
        let first = insert(&db, "h1", Some("n1"), upgrade("n1")).await.unwrap();
        refuse(&db, &first, Some(60)).await;
        let now = now_ms();
        assert!(
            retries_due(&db, now).await.unwrap().is_empty(),
            "hint not passed"
        );
        let due = retries_due(&db, now + 61_000).await.unwrap();
        assert_eq!(due.len(), 1);
        let again = reissue(&db, &due[0]).await.unwrap().expect("issued again");
        assert_ne!(again.command_id, first.command_id);
        assert_eq!(again.to_proto().unwrap().command, Some(upgrade("n1")));
        let waiting = pending(&db, "h1").await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].command_id, again.command_id);
        // Claimed: a second replica's round issues nothing more.
        assert!(reissue(&db, &due[0]).await.unwrap().is_none());
        assert!(retries_due(&db, now + 61_000).await.unwrap().is_empty());
        assert_eq!(pending(&db, "h1").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_later_command_for_the_node_makes_the_retry_moot() {
        let (_dir, db) = db().await;
        let first = insert(&db, "h1", Some("n1"), upgrade("n1")).await.unwrap();
        refuse(&db, &first, Some(0)).await;
        let delete = pb::command::Command::Node(pb::NodeCommand {
            node_id: "n1".into(),
            command: Some(pb::node_command::Command::Delete(Default::default())),
            ..Default::default()
        });
        let later = insert(&db, "h1", Some("n1"), delete).await.unwrap();
        let due = retries_due(&db, now_ms() + 1000).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(reissue(&db, &due[0]).await.unwrap().is_none());
        let waiting = pending(&db, "h1").await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].command_id, later.command_id);
        assert!(retries_due(&db, now_ms() + 1000).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn failures_without_a_hint_are_not_retried() {
        let (_dir, db) = db().await;
        let first = insert(&db, "h1", Some("n1"), upgrade("n1")).await.unwrap();
        refuse(&db, &first, None).await;
        assert!(
            retries_due(&db, now_ms() + 3_600_000)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
