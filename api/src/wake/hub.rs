//! The per-host signals of one replica's streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Hub {
    hosts: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Hub {
    pub fn notifier(&self, host_id: &str) -> Arc<Notify> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host_id.to_string()).or_default().clone()
    }

    /// Wakes the streams of `host_id` that wait now.
    pub fn wake(&self, host_id: &str) {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = hosts.get(host_id) {
            n.notify_waiters();
        }
    }

    /// Wakes every waiting stream (after wakes may have been missed).
    pub fn wake_all(&self) {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for n in hosts.values() {
            n.notify_waiters();
        }
    }
}
