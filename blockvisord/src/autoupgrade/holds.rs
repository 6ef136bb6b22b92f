//! Versions held for the whole host, `<root>/auto_upgrade_holds.json` (atomic writes): once
//! an upgrade of any node to a protocol/variant version was rolled back (by the engine, or a
//! manual upgrade that failed its health check), automatic upgrades leave that version
//! alone on every node of the host. A newer version is tried as usual. `bv host holds
//! release` releases a hold; the release is remembered, so the rollback that made the hold
//! does not bring it back (a later rollback of that version does).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bv_base::json_file::{self, JsonFileError};
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

/// An operator's release of a hold: rollbacks up to `at` no longer hold that version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub protocol: String,
    pub variant: String,
    pub version: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Holds {
    pub holds: Vec<Hold>,
    pub released: Vec<Release>,
}

fn path(root: &Path) -> PathBuf {
    root.join(HOLDS_FILE)
}

/// Serialises read-modify-write of the file between the upgrade pass and the local API.
static FILE_LOCK: Mutex<()> = Mutex::new(());

impl Holds {
    /// The host's holds; a missing file holds nothing.
    pub fn load(root: &Path) -> Result<Self, JsonFileError> {
        Ok(json_file::read_if_exists(&path(root))?.unwrap_or_default())
    }

    fn save(&self, root: &Path) -> Result<(), JsonFileError> {
        json_file::write(&path(root), self, None)
    }

    /// Loads the file, applies `change` and saves it when `change` says it changed anything,
    /// with no other change in between. Returns what `change` returned and the holds as they
    /// now stand.
    pub fn update(
        root: &Path,
        change: impl FnOnce(&mut Holds) -> bool,
    ) -> Result<(bool, Holds), JsonFileError> {
        let _guard = FILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut holds = Self::load(root)?;
        let changed = change(&mut holds);
        if changed {
            holds.save(root)?;
        }
        Ok((changed, holds))
    }

    /// Versions held for one protocol/variant.
    pub fn versions(&self, protocol: &str, variant: &str) -> Vec<String> {
        self.holds
            .iter()
            .filter(|h| h.protocol == protocol && h.variant == variant)
            .map(|h| h.version.clone())
            .collect()
    }

    /// Holds a version; `false` when it already was, or when an operator released it after
    /// the rollback that asks for the hold.
    pub fn add(&mut self, hold: Hold) -> bool {
        let same = |p: &str, v: &str, ver: &str| {
            p == hold.protocol && v == hold.variant && ver == hold.version
        };
        let known = self
            .holds
            .iter()
            .any(|h| same(&h.protocol, &h.variant, &h.version));
        let released = self
            .released
            .iter()
            .any(|r| same(&r.protocol, &r.variant, &r.version) && r.at >= hold.at);
        if known || released {
            return false;
        }
        self.holds.push(hold);
        true
    }

    /// Releases the hold of a version, remembering when; `false` when it was not held.
    pub fn release(
        &mut self,
        protocol: &str,
        variant: &str,
        version: &str,
        at: DateTime<Utc>,
    ) -> bool {
        let before = self.holds.len();
        self.holds
            .retain(|h| !(h.protocol == protocol && h.variant == variant && h.version == version));
        if self.holds.len() == before {
            return false;
        }
        self.released
            .retain(|r| !(r.protocol == protocol && r.variant == variant && r.version == version));
        self.released.push(Release {
            protocol: protocol.into(),
            variant: variant.into(),
            version: version.into(),
            at,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `change` changed the file.
    fn apply(root: &Path, change: impl FnOnce(&mut Holds) -> bool) -> bool {
        Holds::update(root, change).unwrap().0
    }

    fn hold(variant: &str, at: DateTime<Utc>) -> Hold {
        Hold {
            protocol: "p".into(),
            variant: variant.into(),
            version: "1.1.0".into(),
            at,
            reason: "not healthy".into(),
        }
    }

    #[test]
    fn add_is_idempotent_and_per_variant() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        assert!(apply(dir.path(), |h| h.add(hold("v", now))));
        assert!(!apply(dir.path(), |h| h.add(hold("v", now))));
        let back = Holds::load(dir.path()).unwrap();
        assert_eq!(back.versions("p", "v"), ["1.1.0"]);
        assert!(back.versions("p", "other").is_empty());
    }

    #[test]
    fn a_release_sticks_until_a_later_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let rolled_back = Utc::now() - chrono::Duration::minutes(5);
        Holds::update(dir.path(), |h| h.add(hold("v", rolled_back))).unwrap();
        let released = Utc::now();
        assert!(apply(dir.path(), |h| h.release("p", "v", "1.1.0", released)));
        assert!(!apply(dir.path(), |h| h.release("p", "v", "1.1.0", released)));
        // The same rollback (its note is still on the node) does not hold it again...
        assert!(!apply(dir.path(), |h| h.add(hold("v", rolled_back))));
        assert!(
            Holds::load(dir.path())
                .unwrap()
                .versions("p", "v")
                .is_empty()
        );
        // ...a later one does.
        let again = released + chrono::Duration::seconds(1);
        assert!(apply(dir.path(), |h| h.add(hold("v", again))));
        assert_eq!(
            Holds::load(dir.path()).unwrap().versions("p", "v"),
            ["1.1.0"]
        );
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HOLDS_FILE), b"{not json").unwrap();
        let e = Holds::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(HOLDS_FILE), "{e}");
    }
}
