//! The intent journal: before `create`, `delete` or `upgrade` touches anything, it writes
//! `<root>/journal/<node id>.<op>.json` (atomically); the entry is removed once the
//! operation is complete or rolled back. An entry found at daemon start is an operation a
//! crash interrupted: start-up recovery (`nodes::startup`) completes or rolls it back.

use std::path::{Path, PathBuf};

use bv_base::json_file::{self, JsonFileError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Delete,
    Upgrade,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Upgrade => "upgrade",
        }
    }
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub op: Op,
    pub node_id: Uuid,
    pub name: String,
    pub ip: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal: {0}")]
    Entry(#[from] JsonFileError),
}

/// The journal directory of a state root.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join("journal"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, op: Op, id: Uuid) -> PathBuf {
        self.dir.join(format!("{id}.{}.json", op.as_str()))
    }

    /// Records an intent (durably) before the operation's first side effect.
    pub fn record(&self, op: Op, id: Uuid, name: &str, ip: &str) -> Result<(), JournalError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| JournalError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let intent = Intent {
            op,
            node_id: id,
            name: name.into(),
            ip: ip.into(),
            started_at: Utc::now(),
        };
        Ok(json_file::write(&self.path(op, id), &intent, None)?)
    }

    /// The operation is complete (or rolled back): forget it.
    pub fn done(&self, op: Op, id: Uuid) -> Result<(), JournalError> {
        let path = self.path(op, id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(JournalError::Io { path, source }),
        }
    }

    pub fn has(&self, op: Op, id: Uuid) -> bool {
        self.path(op, id).exists()
    }

    /// Every entry, oldest first. An unreadable entry is returned as its error (with the
    /// node id taken from its file name when it has one).
    pub fn list(&self) -> Vec<Result<Intent, (Option<Uuid>, JournalError)>> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out: Vec<_> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|path| {
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.split('.').next())
                    .and_then(|n| n.parse().ok());
                json_file::read::<Intent>(&path).map_err(|e| (id, JournalError::Entry(e)))
            })
            .collect();
        out.sort_by_key(|r| r.as_ref().map(|i| i.started_at).ok());
        out
    }

    /// Removes an unreadable entry of node `id` (all its ops).
    pub fn forget(&self, id: Uuid) {
        for op in [Op::Create, Op::Delete, Op::Upgrade] {
            let _ = self.done(op, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_list_done() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        let id = Uuid::new_v4();
        j.record(Op::Create, id, "a", "10.0.0.2").unwrap();
        assert!(j.has(Op::Create, id));
        let all = j.list();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_ref().unwrap().name, "a");
        j.done(Op::Create, id).unwrap();
        assert!(j.list().is_empty());
        j.done(Op::Create, id).unwrap();
    }
}
