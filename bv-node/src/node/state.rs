//! Persisted node state (`nodes/<id>/state.json`), versioned and written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use bv_base::write_atomic;
use bv_host::net::firewall::Firewall;

/// Bumped on incompatible changes; older files are migrated on load.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Running,
    Stopped,
    Busy,
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "Running",
            Self::Stopped => "Stopped",
            Self::Busy => "Busy",
            Self::Failed => "Failed",
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageKey {
    pub protocol_key: String,
    pub variant_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeImage {
    pub id: String,
    pub version: String,
    pub config_id: String,
    pub archive_id: String,
    pub store_key: String,
    pub uri: String,
    pub min_babel_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RamDisk {
    pub mount: String,
    pub size_mb: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmConfig {
    pub vcpu_count: u32,
    pub mem_size_mb: u64,
    pub disk_size_gb: u64,
    pub ramdisks: Vec<RamDisk>,
}

/// An upgrade in flight: what to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeState {
    pub previous_image: NodeImage,
    pub previous_image_key: ImageKey,
    pub previous_vm_config: VmConfig,
    pub previous_initialized: bool,
    /// Whether the node ran before the upgrade (and must run after it).
    pub was_running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    pub schema_version: u32,
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub org_id: String,
    pub protocol_name: String,
    pub image_key: ImageKey,
    pub image: NodeImage,
    pub dev_mode: bool,
    pub host_network: bool,
    pub ip: String,
    pub gateway: String,
    pub properties: BTreeMap<String, String>,
    pub firewall: Firewall,
    pub vm_config: VmConfig,
    pub tags: Vec<String>,
    pub expected_status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub initialized: bool,
    pub restarting: bool,
    pub upgrade: Option<UpgradeState>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: schema version {found} is newer than this blockvisord ({SCHEMA_VERSION})")]
    TooNew { path: PathBuf, found: u32 },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub const STATE_FILE: &str = "state.json";

impl NodeState {
    pub fn load(node_dir: &Path) -> Result<Self, StateError> {
        let path = node_dir.join(STATE_FILE);
        let text = std::fs::read(&path).map_err(|source| StateError::Read {
            path: path.clone(),
            source,
        })?;
        let raw: serde_json::Value =
            serde_json::from_slice(&text).map_err(|source| StateError::Parse {
                path: path.clone(),
                source,
            })?;
        let found = raw
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StateError::TooNew { path, found });
        }
        serde_json::from_value(raw).map_err(|source| StateError::Parse { path, source })
    }

    pub fn save(&self, node_dir: &Path) -> Result<(), StateError> {
        let path = node_dir.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|source| StateError::Parse {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json).map_err(|source| StateError::Write { path, source })
    }
}

#[cfg(test)]
pub(crate) fn sample(id: Uuid, name: &str) -> NodeState {
    NodeState {
        schema_version: SCHEMA_VERSION,
        id,
        name: name.into(),
        display_name: String::new(),
        org_id: String::new(),
        protocol_name: String::new(),
        image_key: ImageKey {
            protocol_key: "example".into(),
            variant_key: "dev".into(),
        },
        image: NodeImage {
            version: "0.1.0".into(),
            uri: "docker-daemon://x:1".into(),
            ..Default::default()
        },
        dev_mode: true,
        host_network: true,
        ip: "127.0.0.1".into(),
        gateway: "127.0.0.1".into(),
        properties: BTreeMap::new(),
        firewall: Firewall::default(),
        vm_config: VmConfig::default(),
        tags: vec![],
        expected_status: Status::Stopped,
        started_at: None,
        initialized: false,
        restarting: false,
        upgrade: None,
        created_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let dir = tempfile::tempdir().unwrap();
        let state = sample(Uuid::new_v4(), "a-b-c");
        state.save(dir.path()).unwrap();
        assert_eq!(NodeState::load(dir.path()).unwrap(), state);

        let mut raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(STATE_FILE)).unwrap()).unwrap();
        raw["schema_version"] = 99.into();
        std::fs::write(dir.path().join(STATE_FILE), raw.to_string()).unwrap();
        let err = NodeState::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn unknown_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = sample(Uuid::new_v4(), "x");
        let mut raw = serde_json::to_value(&state).unwrap();
        raw["bogus"] = 1.into();
        std::fs::write(dir.path().join(STATE_FILE), raw.to_string()).unwrap();
        let err = NodeState::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bogus") && err.contains("state.json"), "{err}");
    }
}
