//! What a pending upgrade is waiting for, readable without the node's lock: an upgrade
//! holds the lock while it waits, and `bv node status`, the metrics and the host's report
//! show this instead of a bare `Busy`.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Why an upgrade has not started yet and until when it waits at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeWait {
    /// What is waited for, e.g. `upgrade-blocking job(s) running: download`.
    pub reason: String,
    /// The version the node is to be upgraded to.
    pub to_version: String,
    pub since: DateTime<Utc>,
    /// The wait ends here at the latest.
    pub deadline: DateTime<Utc>,
}

/// One line for people and the control plane: what the upgrade waits for, until when.
impl std::fmt::Display for UpgradeWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upgrade to {} waiting: {} (at most until {})",
            self.to_version,
            self.reason,
            self.deadline.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The current wait of a node's upgrade, shared between the node and its registry entry.
#[derive(Debug, Default)]
pub struct UpgradeWaitCell(Mutex<Option<UpgradeWait>>);

impl UpgradeWaitCell {
    pub fn get(&self) -> Option<UpgradeWait> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, wait: Option<UpgradeWait>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = wait;
    }
}
