//! Before an upgrade stops a node: running upgrade-blocking jobs (downloads, uploads, init
//! and any job whose restart policy makes it blocking) are never killed unless the caller
//! forces it, and a plugin's `upgrade_window()` (seconds until a safe restart) delays the
//! stop. Both waits are bounded and visible through the node's [`UpgradeWaitCell`].
//!
//! * Blocking jobs: `Refuse` fails at once with the job names; `Wait` polls until they
//!   finish (then goes ahead) and fails after the maximum wait, never killing them; `Force`
//!   goes ahead and logs which jobs the stop kills.
//! * Upgrade window: waited for (except with `Force`); the upgrade goes ahead once the
//!   plugin answers 0 or the maximum wait is over. A failing `upgrade_window()` is logged
//!   and does not hold the upgrade.

use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use super::state::Status;
use super::upgrade_errors::GateError;
use super::upgrade_wait::{UpgradeWait, UpgradeWaitCell};
use super::{Node, NodeResult};

/// How long an upgrade waits for blocking jobs and the upgrade window unless told.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);
/// How often a waiting upgrade asks again.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// What an upgrade does about running upgrade-blocking jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBlocking {
    /// Refuse with the jobs' names (retry later, wait, or force).
    Refuse,
    /// Wait until they finish, at most the gate's `max_wait`.
    #[default]
    Wait,
    /// Go ahead; the stop kills them.
    Force,
}

/// How an upgrade waits for a safe moment before it stops the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeGate {
    pub on_blocking: OnBlocking,
    /// Longest wait in all, for blocking jobs and the upgrade window together.
    pub max_wait: Duration,
    pub poll: Duration,
}

impl Default for UpgradeGate {
    fn default() -> Self {
        Self {
            on_blocking: OnBlocking::default(),
            max_wait: DEFAULT_MAX_WAIT,
            poll: DEFAULT_POLL,
        }
    }
}

/// Clears the visible wait when the gate returns, however it returns.
struct ClearWait<'a>(&'a UpgradeWaitCell);

impl Drop for ClearWait<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl Node {
    /// Waits until the node may be stopped for the upgrade to `to_version` (see the module
    /// doc); an error leaves the node untouched.
    pub async fn gate_upgrade(&mut self, gate: &UpgradeGate, to_version: &str) -> NodeResult<()> {
        let cell = self.upgrade_wait.clone();
        let _clear = ClearWait(&cell);
        let since = Utc::now();
        let max_wait = chrono::Duration::from_std(gate.max_wait).unwrap_or(chrono::Duration::MAX);
        let deadline = since.checked_add_signed(max_wait).unwrap_or(since);
        let wait = |reason: String| UpgradeWait {
            reason,
            to_version: to_version.to_string(),
            since,
            deadline,
        };
        loop {
            let jobs = self.running_blocking_jobs().await;
            let over = Utc::now() >= deadline;
            if !jobs.is_empty() {
                let jobs = jobs.join(", ");
                match gate.on_blocking {
                    OnBlocking::Refuse => return Err(GateError::BlockingJobs { jobs }.into()),
                    OnBlocking::Force => {
                        warn!(node = %self.state.id, "forced upgrade kills upgrade-blocking job(s): {jobs}");
                        return Ok(());
                    }
                    OnBlocking::Wait if over => {
                        let secs = gate.max_wait.as_secs();
                        return Err(GateError::StillBlocked { jobs, secs }.into());
                    }
                    OnBlocking::Wait => {
                        cell.set(Some(wait(format!(
                            "upgrade-blocking job(s) running: {jobs}"
                        ))));
                        tokio::time::sleep(gate.poll).await;
                        continue;
                    }
                }
            }
            if gate.on_blocking == OnBlocking::Force {
                return Ok(());
            }
            let Some(secs) = self.upgrade_window().await.filter(|s| *s > 0) else {
                return Ok(());
            };
            if over {
                info!(node = %self.state.id, "upgrade window still {secs} s away after the maximum wait; upgrading now");
                return Ok(());
            }
            cell.set(Some(wait(format!(
                "plugin upgrade_window(): safe to restart in {secs} s"
            ))));
            let left = (deadline - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(gate.poll.min(Duration::from_secs(secs)).min(left)).await;
        }
    }

    /// Running upgrade-blocking jobs of a running node (none when babel cannot be asked).
    async fn running_blocking_jobs(&self) -> Vec<String> {
        let Some(agent) = self.agent.clone() else {
            return vec![];
        };
        if self.state.expected_status != Status::Running {
            return vec![];
        }
        match agent.blocking_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(node = %self.state.id, "upgrade: cannot list jobs: {e}");
                vec![]
            }
        }
    }

    /// The plugin's `upgrade_window()` of a running node, if it defines one.
    async fn upgrade_window(&mut self) -> Option<u64> {
        if self.state.expected_status != Status::Running || self.agent.is_none() {
            return None;
        }
        let caps = self.capabilities().await.ok()?;
        if !caps.iter().any(|c| c == "upgrade_window") {
            return None;
        }
        match self.run_method("upgrade_window", "").await {
            Ok(out) => match out.trim().parse::<u64>() {
                Ok(secs) => Some(secs),
                Err(_) => {
                    warn!(node = %self.state.id, "upgrade_window() returned `{out}`, not seconds; ignored");
                    None
                }
            },
            Err(e) => {
                warn!(node = %self.state.id, "upgrade_window(): {e}; ignored");
                None
            }
        }
    }
}
