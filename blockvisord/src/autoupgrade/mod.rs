//! Automatic upgrades: per host (config `[upgrade]`) or per node (`bv node update
//! --upgrade-policy`), nodes follow the newest image version of their protocol/variant
//! after a delay, and an upgraded node that is not healthy by a deadline is rolled back.
//!
//! * [`policy`]: the pure decision logic over a [`policy::Clock`] and an
//!   [`catalog::ImageCatalog`] ("latest version for protocol/variant").
//! * [`catalog`]: the catalog trait and the file catalog used without the control-plane API.
//! * [`record`]: what the engine remembers per node (`nodes/<id>/auto_upgrade.json`).
//! * [`runner`]: the daemon loop that applies decisions to nodes.

pub mod catalog;
pub mod policy;
pub mod record;
pub mod runner;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only `bv node upgrade` upgrades the node.
    #[default]
    Manual,
    /// Newer catalog versions are applied after the delay.
    Automatic,
}

/// Host default of the upgrade policy, and how the engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpgradeConfig {
    pub mode: Mode,
    /// Seconds a newer version must have been available before nodes move to it.
    pub delay_secs: u64,
    /// Seconds an upgraded node gets to become healthy before it is rolled back.
    pub health_deadline_secs: u64,
    /// Seconds between two passes of the engine.
    pub check_interval_secs: u64,
    /// Catalog file (TOML, see docs/operations.md); default `<root>/catalog.toml`.
    pub catalog: Option<PathBuf>,
}

impl Default for UpgradeConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Manual,
            delay_secs: 14 * 86_400,
            health_deadline_secs: 600,
            check_interval_secs: 300,
            catalog: None,
        }
    }
}
