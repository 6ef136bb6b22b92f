//! Protocol status and the special states derived from jobs.

use serde::{Deserialize, Serialize};

use babel_api::job::{JobStatus, JobsInfo};

use super::config::PluginConfig;
use super::defaults::{DOWNLOAD_JOB, UPLOAD_JOB};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Neutral,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolStatus {
    pub state: String,
    pub health: Health,
}

/// Special states set by the host, not the script.
pub const UPLOADING: &str = "uploading";
pub const DOWNLOADING: &str = "downloading";
pub const STARTING: &str = "starting";

impl ProtocolStatus {
    fn neutral(state: &str) -> Self {
        Self {
            state: state.to_string(),
            health: Health::Neutral,
        }
    }

    /// Whether this is one of the states derived from jobs (metrics skip height etc. then).
    pub fn is_special(&self) -> bool {
        [UPLOADING, DOWNLOADING, STARTING].contains(&self.state.as_str())
    }
}

/// `uploading` > `downloading` > `starting` (a configured service pending); `None` means ask
/// the script.
pub fn special_state(jobs: &JobsInfo, config: Option<&PluginConfig>) -> Option<ProtocolStatus> {
    let running = |name: &str| matches!(jobs.get(name), Some(i) if i.status == JobStatus::Running);
    if running(UPLOAD_JOB) {
        return Some(ProtocolStatus::neutral(UPLOADING));
    }
    if running(DOWNLOAD_JOB) {
        return Some(ProtocolStatus::neutral(DOWNLOADING));
    }
    let starting = config.is_some_and(|c| {
        c.services.iter().any(|s| {
            matches!(jobs.get(&s.name), Some(i) if matches!(i.status, JobStatus::Pending { .. }))
        })
    });
    starting.then(|| ProtocolStatus::neutral(STARTING))
}
