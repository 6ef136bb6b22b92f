//! In-process waking: the single-process default (SQLite).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::{Hub, Wake};

#[derive(Debug, Default)]
pub struct LocalWake {
    hub: Hub,
}

impl Wake for LocalWake {
    fn subscribe(&self, host_id: &str) -> Arc<Notify> {
        self.hub.notifier(host_id)
    }

    fn announce<'a>(&'a self, host_id: &'a str) -> BoxFuture<'a, ()> {
        self.hub.wake(host_id);
        Box::pin(std::future::ready(()))
    }

    fn fallback_poll(&self) -> Duration {
        // Another process sharing the SQLite file (e.g. `bv-api provision-token`) does not
        // wake this one.
        Duration::from_secs(2)
    }
}
