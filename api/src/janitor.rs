//! Periodic upkeep, run by one replica at a time under the `janitor` lease: clears the
//! `online` mark of hosts whose stream's replica died, deletes long-expired tokens, drops
//! node status history older than an hour and ended job log watches, and issues again the
//! commands hosts refused for a while (upgrade-blocking jobs running) once their retry hint
//! has passed, so such an upgrade goes ahead when the jobs are done. Every replica tries
//! each round; the lease holder renews it and works, the others wait for it to expire. The
//! work is idempotent, so a stalled holder overlapping a new one is harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::db::{self, Db, now_ms};
use crate::wake::Wake;

pub const LEASE: &str = "janitor";
/// A host's `online` mark not renewed for this long is stale (four stream heartbeats).
pub const ONLINE_STALE_MS: i64 = 4 * crate::services::command::HEARTBEAT_MS;
/// Expired tokens are kept this long, so "expired" is still what a late caller is told.
const EXPIRED_TOKEN_GRACE_MS: i64 = 24 * 3600 * 1000;

/// Ended job log watches are kept this long (a reopened panel shows the last lines at once).
const LOG_WATCH_GRACE_MS: i64 = 600 * 1000;

/// The running janitor; dropping it stops it (the lease then lapses).
#[derive(Debug)]
pub struct Janitor {
    task: JoinHandle<()>,
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Janitor {
    /// Starts rounds every `every`, as `replica` (a name unique to this process).
    pub fn start(db: Db, wake: Arc<dyn Wake>, replica: String, every: Duration) -> Self {
        let task = tokio::spawn(async move {
            let ttl = i64::try_from((every * 3).as_millis()).unwrap_or(i64::MAX);
            loop {
                match db::leases::claim(&db, LEASE, &replica, ttl).await {
                    Ok(true) => {
                        if let Err(e) = round(&db, wake.as_ref()).await {
                            tracing::warn!("janitor: {e}");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("janitor lease: {e}"),
                }
                tokio::time::sleep(every).await;
            }
        });
        Self { task }
    }
}

async fn round(db: &Db, wake: &dyn Wake) -> db::DbResult<()> {
    let now = now_ms();
    retry_refused(db, wake, now).await?;
    let offline = db::hosts::expire_online(db, now - ONLINE_STALE_MS).await?;
    let tokens = db::tokens::delete_expired(db, now - EXPIRED_TOKEN_GRACE_MS).await?;
    db::figures::prune(db, now - crate::figures::HISTORY_MS).await?;
    db::job_logs::prune(db, now - LOG_WATCH_GRACE_MS).await?;
    if offline > 0 || tokens > 0 {
        tracing::info!(
            offline,
            tokens,
            "janitor: hosts marked offline, expired tokens deleted"
        );
    }
    Ok(())
}

/// Issues again every refused command whose retry hint has passed, and wakes its host.
async fn retry_refused(db: &Db, wake: &dyn Wake, now: i64) -> db::DbResult<()> {
    for refused in db::commands::retries_due(db, now).await? {
        if let Some(again) = db::commands::reissue(db, &refused).await? {
            tracing::info!(
                host = %again.host_id,
                node = again.node_id.as_deref().unwrap_or(""),
                refused = %refused.command_id,
                command = %again.command_id,
                "janitor: command refused for blocking jobs issued again"
            );
            wake.announce(&again.host_id).await;
        }
    }
    Ok(())
}
