//! The health check of an upgrade: once the new version runs, it must report a healthy
//! protocol status within a timeout (the operator's, else the image's, else
//! [`DEFAULT_HEALTH_TIMEOUT`]), or the upgrade is rolled back. A rollback leaves a note in
//! the node dir (`upgrade_rollback.json`) that is shown as the `upgrade_rolled_back` alert
//! until the next upgrade succeeds.

use std::path::Path;
use std::time::Duration;

use babel_plugin::{Health, UpgradeRollback};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::plugin::with_plugin;
use super::{Node, NodeError, NodeResult, io_err};
use bv_base::fault;

/// How long an upgraded node gets to report `health: "healthy"` when neither the operator
/// nor the image says otherwise.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(600);
/// Alert kind of a node whose last upgrade was rolled back.
pub const UPGRADE_ROLLED_BACK_ALERT: &str = "upgrade_rolled_back";
const ROLLBACK_NOTE_FILE: &str = "upgrade_rollback.json";
/// Longest pause between two protocol status polls.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for one protocol status answer.
const STATUS_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the last upgrade of a node was rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackNote {
    pub at: DateTime<Utc>,
    /// The version that was given up.
    pub from_version: String,
    /// The version the node runs again.
    pub to_version: String,
    pub reason: String,
    /// The data dir was emptied because the new version declared its data incompatible.
    pub data_discarded: bool,
}

impl RollbackNote {
    /// The alert text: what was rolled back, to what, and why.
    pub fn message(&self) -> String {
        let data = if self.data_discarded {
            "; its data was declared incompatible and discarded, the node initializes again"
        } else {
            ""
        };
        format!(
            "upgrade to {} rolled back to {} at {}: {}{data}",
            self.from_version, self.to_version, self.at, self.reason
        )
    }
}

/// The rollback note of a node dir, if its last upgrade was rolled back.
pub fn rollback_note(node_dir: &Path) -> Option<RollbackNote> {
    bv_base::json_file::read_if_exists(&node_dir.join(ROLLBACK_NOTE_FILE))
        .ok()
        .flatten()
}

/// The `upgrade_rolled_back` alert of a node dir, if any.
pub fn rollback_alert(node_dir: &Path) -> Option<babel_api::pb::blockvisor::v1::NodeAlert> {
    rollback_note(node_dir).map(|n| babel_api::pb::blockvisor::v1::NodeAlert {
        kind: UPGRADE_ROLLED_BACK_ALERT.into(),
        message: n.message(),
    })
}

/// The timeout in force: the operator's, else the image's, else the default.
pub fn health_timeout(operator: Option<Duration>, image: Option<&UpgradeRollback>) -> Duration {
    operator
        .or_else(|| {
            image
                .and_then(|u| u.health_timeout_secs)
                .map(Duration::from_secs)
        })
        .unwrap_or(DEFAULT_HEALTH_TIMEOUT)
}

/// What the last status poll saw, for the rollback reason.
fn describe(last: &Result<babel_plugin::ProtocolStatus, String>) -> String {
    match last {
        Ok(s) => format!(
            "last protocol status `{}` ({})",
            s.state,
            serde_json::to_value(s.health)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
        Err(e) => format!("last protocol status call failed: {e}"),
    }
}

impl Node {
    /// Waits until the just-started new version reports a healthy protocol status. Records,
    /// before waiting, whether a rollback must discard the data (so a rollback after a crash
    /// during the wait does the same). A plugin without `protocol_status` has nothing to
    /// judge and passes at once.
    pub(super) async fn await_upgrade_health(
        &mut self,
        operator: Option<Duration>,
    ) -> NodeResult<()> {
        let plugin = self.plugin().await?;
        let declared = with_plugin(&plugin, |p| {
            Ok(p.plugin_config().and_then(|c| c.upgrade.clone()))
        })
        .await?;
        if let Some(upgrade) = self.state.upgrade.as_mut() {
            upgrade.discard_data_on_rollback = declared
                .as_ref()
                .and_then(|d| d.data_incompatible_with_previous)
                .unwrap_or(false);
        }
        self.save()?;
        fault::point("upgrade.during_health_wait");
        let has_status = with_plugin(&plugin, |p| Ok(p.has_capability("protocol_status"))).await?;
        if !has_status {
            return Ok(());
        }
        let timeout = health_timeout(operator, declared.as_ref());
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let poll = POLL_EVERY.min(timeout / 10);
        let last = loop {
            let now = tokio::time::Instant::now();
            let call_budget = STATUS_CALL_TIMEOUT.min(deadline.saturating_duration_since(now));
            let answer =
                tokio::time::timeout(call_budget, with_plugin(&plugin, |p| p.protocol_status()))
                    .await;
            let seen = match answer {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", call_budget.as_secs())),
            };
            if matches!(&seen, Ok(s) if s.health == Health::Healthy) {
                info!(
                    node = %self.state.id,
                    after_ms = started.elapsed().as_millis() as u64,
                    "upgraded node is healthy"
                );
                return Ok(());
            }
            if tokio::time::Instant::now() + poll >= deadline {
                break seen;
            }
            tokio::time::sleep(poll).await;
        };
        Err(NodeError::UpgradeUnhealthy {
            version: self.state.image.version.clone(),
            timeout_secs: timeout.as_secs(),
            last: describe(&last),
        })
    }

    /// Leaves the rollback note (shown as an alert) after an upgrade was rolled back.
    pub(super) fn note_rollback(&mut self, from_version: &str, reason: &str, discarded: bool) {
        let note = RollbackNote {
            at: Utc::now(),
            from_version: from_version.to_string(),
            to_version: self.state.image.version.clone(),
            reason: reason.to_string(),
            data_discarded: discarded,
        };
        warn!(node = %self.state.id, "{}", note.message());
        let path = self.paths.dir.join(ROLLBACK_NOTE_FILE);
        if let Err(e) = bv_base::json_file::write(&path, &note, None) {
            warn!(node = %self.state.id, "rollback note: {e}");
        }
    }

    /// Drops the rollback note once an upgrade succeeded.
    pub(super) fn clear_rollback_note(&self) {
        let _ = std::fs::remove_file(self.paths.dir.join(ROLLBACK_NOTE_FILE));
    }

    /// Empties the data dir (the new version declared its data unreadable by the old one);
    /// the old version then initializes again.
    pub(super) fn discard_data(&mut self) -> NodeResult<()> {
        let data = self.paths.data();
        let entries =
            std::fs::read_dir(&data).map_err(io_err(format!("reading {}", data.display())))?;
        for entry in entries {
            let path = entry
                .map_err(io_err(format!("reading {}", data.display())))?
                .path();
            let removed = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(io_err(format!("removing {}", path.display())))?;
        }
        self.state.initialized = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_over_image_over_default() {
        let image = UpgradeRollback {
            health_timeout_secs: Some(30),
            data_incompatible_with_previous: None,
        };
        assert_eq!(
            health_timeout(Some(Duration::from_secs(5)), Some(&image)),
            Duration::from_secs(5)
        );
        assert_eq!(health_timeout(None, Some(&image)), Duration::from_secs(30));
        assert_eq!(health_timeout(None, None), DEFAULT_HEALTH_TIMEOUT);
        assert_eq!(
            health_timeout(None, Some(&UpgradeRollback::default())),
            DEFAULT_HEALTH_TIMEOUT
        );
    }

    #[test]
    fn note_round_trips_and_names_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        assert!(rollback_alert(dir.path()).is_none());
        let note = RollbackNote {
            at: Utc::now(),
            from_version: "2.0.0".into(),
            to_version: "1.0.0".into(),
            reason: "not healthy".into(),
            data_discarded: true,
        };
        std::fs::write(
            dir.path().join(ROLLBACK_NOTE_FILE),
            serde_json::to_vec(&note).unwrap(),
        )
        .unwrap();
        assert_eq!(rollback_note(dir.path()), Some(note));
        let alert = rollback_alert(dir.path()).unwrap();
        assert_eq!(alert.kind, UPGRADE_ROLLED_BACK_ALERT);
        assert!(
            alert
                .message
                .contains("upgrade to 2.0.0 rolled back to 1.0.0")
        );
        assert!(alert.message.contains("discarded"));
    }
}
