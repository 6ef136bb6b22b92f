//! Waking across replicas with PostgreSQL `LISTEN/NOTIFY`. Each replica holds one listening
//! connection; announcing is a `pg_notify` on the shared pool. PostgreSQL delivers a
//! notification to every listener, the announcing replica included.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Hub, Wake};
use crate::db::Db;

/// The notification channel; the payload is a host id.
pub const CHANNEL: &str = "bv_api_commands";
/// Streams re-read the database this often even without a notification.
const FALLBACK_POLL: Duration = Duration::from_secs(30);
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error("listening for command notifications: {0}")]
pub struct WakeError(#[from] sqlx::Error);

#[derive(Debug)]
pub struct PgWake {
    hub: Arc<Hub>,
    db: Db,
    listening: JoinHandle<()>,
}

impl Drop for PgWake {
    fn drop(&mut self) {
        self.listening.abort();
    }
}

impl PgWake {
    /// Connects the listener to `url` (the database `db` uses) and starts relaying.
    pub async fn start(url: &str, db: Db) -> Result<Self, WakeError> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        let hub = Arc::new(Hub::default());
        let listening = tokio::spawn(relay(listener, hub.clone()));
        Ok(Self { hub, db, listening })
    }
}

async fn relay(mut listener: PgListener, hub: Arc<Hub>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => hub.wake(n.payload()),
            Ok(None) => {
                // The connection dropped (it is re-made on the next call) and notifications
                // sent meanwhile are gone: every stream re-reads.
                tracing::warn!("command notifications: connection lost, reconnecting");
                hub.wake_all();
            }
            Err(e) => {
                tracing::warn!("command notifications: {e}");
                tokio::time::sleep(RETRY).await;
                hub.wake_all();
            }
        }
    }
}

impl Wake for PgWake {
    fn subscribe(&self, host_id: &str) -> Arc<Notify> {
        self.hub.notifier(host_id)
    }

    fn announce<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Selecting a constant: the driver cannot decode `pg_notify`'s void result.
            let sent = sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS n")
                .bind(CHANNEL)
                .bind(host_id)
                .execute(&self.db.pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(%host_id, "announcing a command: {e}");
                // At least the streams held here need not wait for the timer.
                self.hub.wake(host_id);
            }
        })
    }

    fn fallback_poll(&self) -> Duration {
        FALLBACK_POLL
    }
}
