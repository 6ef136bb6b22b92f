//! Per-node memory of the upgrade engine, `nodes/<id>/auto_upgrade.json` (atomic writes;
//! removed with the node).

use std::path::{Path, PathBuf};

use bv_base::json_file::{self, JsonFileError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use bv_host::config::Mode;
use bv_node::node::state::NodeImage;

pub const RECORD_FILE: &str = "auto_upgrade.json";

/// Why a node's upgrade record could not be read or written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodePolicy {
    pub mode: Option<Mode>,
    pub delay_secs: Option<u64>,
    pub health_deadline_secs: Option<u64>,
}

/// A newer version first seen at some time (the delay counts from there when the catalog
/// gives no publication time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub version: String,
    pub first_seen: DateTime<Utc>,
}

/// An automatic upgrade waiting for the node to prove healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The image to roll back to.
    pub from: NodeImage,
    pub to_version: String,
    pub upgraded_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Record {
    pub policy: NodePolicy,
    pub candidate: Option<Candidate>,
    pub pending: Option<Pending>,
    /// Versions that failed or were rolled back: not tried again.
    pub blocked_versions: Vec<String>,
    pub last_result: String,
    /// What the engine did on its last pass (shown by `bv node info`).
    pub state: String,
    pub upgraded: u64,
    pub rolled_back: u64,
}

fn path(node_dir: &Path) -> PathBuf {
    node_dir.join(RECORD_FILE)
}

impl Record {
    /// The node's record; a missing file is an empty record.
    pub fn load(node_dir: &Path) -> Result<Self, JsonFileError> {
        Ok(json_file::read_if_exists(&path(node_dir))?.unwrap_or_default())
    }

    pub fn save(&self, node_dir: &Path) -> Result<(), JsonFileError> {
        json_file::write(&path(node_dir), self, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Record::load(dir.path()).unwrap(), Record::default());
        let r = Record {
            policy: NodePolicy {
                mode: Some(Mode::Automatic),
                delay_secs: Some(60),
                health_deadline_secs: None,
            },
            blocked_versions: vec!["1.2.0".into()],
            upgraded: 3,
            ..Default::default()
        };
        r.save(dir.path()).unwrap();
        assert_eq!(Record::load(dir.path()).unwrap(), r);
        std::fs::write(dir.path().join(RECORD_FILE), "{\"bogus\": 1}").unwrap();
        let err = Record::load(dir.path()).unwrap_err();
        assert!(matches!(err, JsonFileError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
