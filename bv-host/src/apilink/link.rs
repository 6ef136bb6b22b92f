//! The daemon's connection to the control-plane API: empty until the host is registered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use babel_api::pb::api::v1 as api_pb;

use super::client::ApiClient;

/// A call needs the control-plane API but this host has no registration.
#[derive(Debug, thiserror::Error)]
#[error("this host is not registered with a control-plane API (run `bv host register`)")]
pub struct NotRegistered;

/// The API connection shared by the daemon: empty until the host is registered.
#[derive(Debug, Default)]
pub struct Link {
    client: RwLock<Option<Arc<ApiClient>>>,
    connected: Arc<AtomicBool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Link {
    pub fn client(&self) -> Option<Arc<ApiClient>> {
        self.client.read().ok().and_then(|c| c.clone())
    }

    /// The client, or why there is none.
    pub fn require(&self) -> Result<Arc<ApiClient>, NotRegistered> {
        self.client().ok_or(NotRegistered)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Sets the client of a new registration.
    pub fn set_client(&self, client: Arc<ApiClient>) {
        if let Ok(mut c) = self.client.write() {
            *c = Some(client);
        }
    }

    /// The flag the command loop keeps up to date.
    pub fn connected_flag(&self) -> Arc<AtomicBool> {
        self.connected.clone()
    }

    /// Makes `task` the command loop, aborting the one it replaces.
    pub fn replace_task(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut t) = self.task.lock()
            && let Some(old) = t.replace(task)
        {
            old.abort();
        }
    }

    /// Stops the command loop (daemon shutdown).
    pub fn shutdown(&self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(t) = task.take()
        {
            t.abort();
        }
    }
}

/// The archive of a node for API archive calls: by id when the node has one, else by key.
pub fn archive_ref(archive_id: &str, store_key: &str) -> Option<api_pb::ArchiveRef> {
    use api_pb::archive_ref::Archive;
    let archive = if !archive_id.is_empty() {
        Archive::ArchiveId(archive_id.into())
    } else if !store_key.is_empty() {
        Archive::StoreKey(store_key.into())
    } else {
        return None;
    };
    Some(api_pb::ArchiveRef {
        archive: Some(archive),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_ref_prefers_the_id() {
        use api_pb::archive_ref::Archive;
        assert_eq!(
            archive_ref("a1", "k").and_then(|r| r.archive),
            Some(Archive::ArchiveId("a1".into()))
        );
        assert_eq!(
            archive_ref("", "k").and_then(|r| r.archive),
            Some(Archive::StoreKey("k".into()))
        );
        assert!(archive_ref("", "").is_none());
    }

    #[test]
    fn unregistered_link_says_how_to_register() {
        let link = Link::default();
        let e = link.require().unwrap_err();
        assert!(e.to_string().contains("bv host register"), "{e}");
        assert!(!link.is_connected());
    }
}
