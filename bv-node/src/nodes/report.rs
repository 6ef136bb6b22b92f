//! What start-up recovery did: kept by the registry, logged, and served as the last sweep
//! report.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// What the last start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub at: Option<DateTime<Utc>>,
    /// Interrupted operations completed or rolled back.
    pub operations: Vec<String>,
    /// Leftovers removed (`kind path-or-name`).
    pub removed: Vec<String>,
    /// What could not be cleaned (kept for the next start).
    pub errors: Vec<String>,
}

impl SweepReport {
    pub(crate) fn removed(&mut self, what: String) {
        info!("sweep: removed {what}");
        self.removed.push(what);
    }
    pub(crate) fn error(&mut self, what: String) {
        warn!("sweep: {what}");
        self.errors.push(what);
    }
    pub(crate) fn operation(&mut self, what: String) {
        info!("recovery: {what}");
        self.operations.push(what);
    }
}
