//! Persisted node state (`nodes/<id>/state.json`), versioned and written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use bv_base::json_file::{self, JsonFileError};
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
    /// Its `state.json` (and the previous copy) cannot be read: listed with the error, keeps
    /// its name, IP and container; only `delete` works on it.
    Broken,
}

impl Status {
    /// Failed or Broken: something is wrong and the node carries a reason.
    pub fn is_failed(self) -> bool {
        matches!(self, Self::Failed | Self::Broken)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "Running",
            Self::Stopped => "Stopped",
            Self::Busy => "Busy",
            Self::Failed => "Failed",
            Self::Broken => "Broken",
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

/// What one property may be changed to on an existing node (checked by
/// [`super::property_rules::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyRule {
    pub key: String,
    /// The only values allowed; empty for free text.
    #[serde(default)]
    pub allowed_values: Vec<String>,
    pub dynamic_value: bool,
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
    /// The new version declared its data unreadable by the previous one: a rollback empties
    /// the data dir and the old version initializes again.
    #[serde(default)]
    pub discard_data_on_rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    pub schema_version: u32,
    pub id: Uuid,
    // What identifies the node on the host comes first, so a truncated file still holds it.
    pub name: String,
    pub host_network: bool,
    pub ip: String,
    pub gateway: String,
    pub created_at: DateTime<Utc>,
    pub display_name: String,
    pub org_id: String,
    pub protocol_name: String,
    pub image_key: ImageKey,
    pub image: NodeImage,
    pub dev_mode: bool,
    pub properties: BTreeMap<String, String>,
    pub firewall: Firewall,
    pub vm_config: VmConfig,
    pub tags: Vec<String>,
    pub expected_status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub initialized: bool,
    pub restarting: bool,
    pub upgrade: Option<UpgradeState>,
    /// What `bv node update` may change each property to (empty: not checked here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_rules: Vec<PropertyRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    File(#[from] JsonFileError),
    #[error("{path}: schema version {found} is newer than this blockvisord ({SCHEMA_VERSION})")]
    TooNew { path: PathBuf, found: u32 },
}

pub const STATE_FILE: &str = "state.json";
/// The last good `state.json` before the latest write: what a torn or corrupt state falls
/// back to.
pub const PREV_STATE_FILE: &str = "state.json.prev";

/// Why neither copy of a node's state can be read.
#[derive(Debug, thiserror::Error)]
#[error("{current}; previous copy: {previous}")]
pub struct Unreadable {
    pub current: StateError,
    pub previous: StateError,
}

/// What loading a node dir's state gave.
#[derive(Debug)]
pub enum Loaded {
    Good(NodeState),
    /// `state.json` was unusable; the previous copy was used.
    FromPrevious {
        state: NodeState,
        error: StateError,
    },
    /// Neither copy is usable: what could be salvaged (id from the dir name, name and IP
    /// when the text still holds them) and why.
    Broken {
        salvaged: NodeState,
        error: Unreadable,
    },
}

impl NodeState {
    /// Loads `state.json`, else `state.json.prev`, else salvages what identifies the node.
    pub fn load_or_salvage(node_dir: &Path, id: Uuid) -> Loaded {
        let error = match Self::load_file(&node_dir.join(STATE_FILE)) {
            Ok(state) => return Loaded::Good(state),
            Err(e) => e,
        };
        let prev = node_dir.join(PREV_STATE_FILE);
        let prev_error = match Self::load_file(&prev) {
            Ok(state) => return Loaded::FromPrevious { state, error },
            Err(e) => e,
        };
        let texts: Vec<String> = [node_dir.join(STATE_FILE), prev]
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        let find = |key: &str| texts.iter().find_map(|t| salvage_field(t, key));
        let mut salvaged = broken_placeholder(id);
        if let Some(name) = find("name") {
            salvaged.name = name;
        }
        if let Some(ip) = find("ip") {
            salvaged.ip = ip;
        }
        if let Some(ts) = find("created_at").and_then(|t| t.parse().ok()) {
            salvaged.created_at = ts;
        }
        Loaded::Broken {
            salvaged,
            error: Unreadable {
                current: error,
                previous: prev_error,
            },
        }
    }

    pub fn load(node_dir: &Path) -> Result<Self, StateError> {
        Self::load_file(&node_dir.join(STATE_FILE))
    }

    fn load_file(path: &Path) -> Result<Self, StateError> {
        let raw: serde_json::Value = json_file::read(path)?;
        let found = raw
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path: path.to_owned(),
                found,
            });
        }
        Ok(json_file::from_value(path, raw)?)
    }

    pub fn save(&self, node_dir: &Path) -> Result<(), StateError> {
        let path = node_dir.join(STATE_FILE);
        // Keep the current copy when it is good: a later torn or corrupt write falls back
        // to it.
        if let Ok(current) = std::fs::read(&path)
            && json_file::parse::<NodeState>(&path, &current).is_ok()
        {
            let prev = node_dir.join(PREV_STATE_FILE);
            write_atomic(&prev, &current)
                .map_err(|source| JsonFileError::Write { path: prev, source })?;
        }
        Ok(json_file::write(&path, self, None)?)
    }
}

/// The first top-level `"key": "value"` string of a (possibly truncated) pretty state file.
/// Top-level fields come first in the file, so the first match is the node's own.
fn salvage_field(text: &str, key: &str) -> Option<String> {
    let needle = format!("\n  \"{key}\": \"");
    let start = text.find(&needle)? + needle.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|v| !v.is_empty())
}

/// A state standing in for one that cannot be read: never written back.
fn broken_placeholder(id: Uuid) -> NodeState {
    NodeState {
        schema_version: SCHEMA_VERSION,
        id,
        name: id.to_string(),
        display_name: String::new(),
        org_id: String::new(),
        protocol_name: String::new(),
        image_key: ImageKey {
            protocol_key: String::new(),
            variant_key: String::new(),
        },
        image: NodeImage::default(),
        dev_mode: false,
        // Unknown: teardown of a namespace that does not exist is harmless.
        host_network: false,
        ip: String::new(),
        gateway: String::new(),
        properties: BTreeMap::new(),
        firewall: Firewall::default(),
        vm_config: VmConfig::default(),
        tags: vec![],
        expected_status: Status::Failed,
        started_at: None,
        initialized: false,
        restarting: false,
        upgrade: None,
        property_rules: Vec::new(),
        created_at: DateTime::<Utc>::MIN_UTC,
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
        property_rules: Vec::new(),
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
