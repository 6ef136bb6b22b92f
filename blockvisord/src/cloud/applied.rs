//! The commands this host has applied, by id, with the outcome it reported. The API delivers
//! at least once (a command comes again when its result did not reach the API, e.g. its
//! replica died mid-call); a command found here is not applied again, only reported again.
//! Kept in a small file (the newest [`KEEP`] entries) so a daemon restart remembers too.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use babel_api::pb::api::v1 as pb;
use bv_base::json_file::{self, JsonFileError};
use serde::{Deserialize, Serialize};

/// How many applied commands are remembered; a command is redelivered only until its result
/// is recorded, so this needs to cover what may be in flight, not history.
pub const KEEP: usize = 1024;
pub const FILE: &str = "applied_commands.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    command_id: String,
    code: i32,
    message: Option<String>,
}

#[derive(Debug)]
pub struct Applied {
    path: PathBuf,
    entries: VecDeque<Entry>,
}

impl Applied {
    /// Loads the record in `dir` (empty when missing; a corrupt one is reported and reset).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(FILE);
        let entries = json_file::read_if_exists(&path)
            .unwrap_or_else(|e| {
                tracing::warn!("applied command record unreadable, starting empty: {e}");
                None
            })
            .unwrap_or_default();
        Self { path, entries }
    }

    /// The outcome recorded for `command_id`, when it was applied.
    pub fn outcome(&self, command_id: &str) -> Option<(pb::CommandExitCode, Option<String>)> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.command_id == command_id)
            .map(|e| {
                (
                    pb::CommandExitCode::try_from(e.code)
                        .unwrap_or(pb::CommandExitCode::InternalError),
                    e.message.clone(),
                )
            })
    }

    /// Records that `command_id` was applied with this outcome, durably, before the outcome
    /// is reported.
    pub fn record(
        &mut self,
        command_id: &str,
        code: pb::CommandExitCode,
        message: Option<String>,
    ) -> Result<(), JsonFileError> {
        self.entries.push_back(Entry {
            command_id: command_id.to_string(),
            code: code.into(),
            message,
        });
        while self.entries.len() > KEEP {
            self.entries.pop_front();
        }
        json_file::write(&self.path, &self.entries, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_loads_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Applied::load(dir.path());
        assert_eq!(a.outcome("c1"), None);
        a.record("c1", pb::CommandExitCode::Ok, None).unwrap();
        a.record("c2", pb::CommandExitCode::NodeNotFound, Some("gone".into()))
            .unwrap();
        let b = Applied::load(dir.path());
        assert_eq!(b.outcome("c1"), Some((pb::CommandExitCode::Ok, None)));
        assert_eq!(
            b.outcome("c2"),
            Some((pb::CommandExitCode::NodeNotFound, Some("gone".into())))
        );
        let mut c = b;
        for i in 0..KEEP {
            c.record(&format!("x{i}"), pb::CommandExitCode::Ok, None)
                .unwrap();
        }
        assert_eq!(c.outcome("c1"), None, "the oldest entries go");
        assert!(c.outcome(&format!("x{}", KEEP - 1)).is_some());
    }

    #[test]
    fn a_corrupt_record_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert_eq!(Applied::load(dir.path()).outcome("c1"), None);
    }
}
