//! Versions held for the whole host, `<root>/auto_upgrade_holds.json` (atomic writes): once
//! an upgrade of any node to a protocol/variant version was rolled back (by the engine, or a
//! manual upgrade that failed its health check), automatic upgrades leave that version
//! alone on every node of the host. A newer version is tried as usual; deleting an entry
//! from the file releases it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const HOLDS_FILE: &str = "auto_upgrade_holds.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub protocol: String,
    pub variant: String,
    pub version: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Holds {
    pub holds: Vec<Hold>,
}

fn path(root: &Path) -> PathBuf {
    root.join(HOLDS_FILE)
}

impl Holds {
    /// The host's holds; a missing file holds nothing.
    pub fn load(root: &Path) -> Result<Self, String> {
        let p = path(root);
        match std::fs::read(&p) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("reading {}: {e}", p.display())),
        }
    }

    pub fn save(&self, root: &Path) -> Result<(), String> {
        let p = path(root);
        let json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        bv_base::write_atomic(&p, &json).map_err(|e| format!("writing {}: {e}", p.display()))
    }

    /// Versions held for one protocol/variant.
    pub fn versions(&self, protocol: &str, variant: &str) -> Vec<String> {
        self.holds
            .iter()
            .filter(|h| h.protocol == protocol && h.variant == variant)
            .map(|h| h.version.clone())
            .collect()
    }

    /// Holds a version; `false` when it already was.
    pub fn add(&mut self, hold: Hold) -> bool {
        let known = self.holds.iter().any(|h| {
            h.protocol == hold.protocol && h.variant == hold.variant && h.version == hold.version
        });
        if !known {
            self.holds.push(hold);
        }
        !known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_is_idempotent_and_per_variant() {
        let dir = tempfile::tempdir().unwrap();
        let mut holds = Holds::load(dir.path()).unwrap();
        let hold = |variant: &str| Hold {
            protocol: "p".into(),
            variant: variant.into(),
            version: "1.1.0".into(),
            at: Utc::now(),
            reason: "not healthy".into(),
        };
        assert!(holds.add(hold("v")));
        assert!(!holds.add(hold("v")));
        holds.save(dir.path()).unwrap();
        let back = Holds::load(dir.path()).unwrap();
        assert_eq!(back.versions("p", "v"), ["1.1.0"]);
        assert!(back.versions("p", "other").is_empty());
    }
}
