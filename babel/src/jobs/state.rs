//! The jobs manager's state: every job's configuration and state behind one short-held
//! mutex, shared by the command API and the supervision loop. Nothing waits while holding it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use babel_api::job::{JobConfig, JobInfo, JobStatus};
use babel_api::node_env::NodeEnv;
use tokio::sync::mpsc;
use tracing::error;

use super::events::Events;
use super::process::Runners;
use super::store::JobDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MgrState {
    NotReady,
    Ready,
    Shutdown,
}

#[derive(Debug, Clone)]
pub(super) enum JobState {
    Active {
        pid: u32,
        since: SystemTime,
    },
    Stopping {
        pid: u32,
        since: SystemTime,
    },
    /// Last known inactive status. `Running` here means "runner gone, start it again".
    Inactive {
        status: JobStatus,
        since: SystemTime,
    },
}

#[derive(Debug)]
pub(super) struct Job {
    pub(super) config: JobConfig,
    pub(super) state: JobState,
    pub(super) events: Events,
    pub(super) unexpected_ends: VecDeque<SystemTime>,
    /// When a runner that ended without a status may start again (its backoff).
    pub(super) restart_at: Option<SystemTime>,
}

impl Job {
    pub(super) fn new(config: JobConfig, state: JobState) -> Self {
        Self {
            config,
            state,
            events: Events::default(),
            unexpected_ends: VecDeque::new(),
            restart_at: None,
        }
    }

    pub(super) fn status(&self) -> JobStatus {
        match &self.state {
            JobState::Active { .. } | JobState::Stopping { .. } => JobStatus::Running,
            JobState::Inactive { status, .. } => status.clone(),
        }
    }

    pub(super) fn is_active(&self) -> bool {
        !matches!(self.state, JobState::Inactive { .. })
    }

    pub(super) fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.config.shutdown_timeout_secs())
    }
}

pub(super) struct Inner {
    pub(super) state: MgrState,
    pub(super) node_env: Option<NodeEnv>,
    pub(super) jobs: HashMap<String, Job>,
}

pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
    pub(super) runners: Arc<dyn Runners>,
    pub(super) jobs_dir: PathBuf,
    pub(super) passwd: PathBuf,
    pub(super) exit_tx: mpsc::UnboundedSender<(String, u32)>,
    /// Where errors for the host go (`bv_error`); unset in tests that don't care.
    pub(super) errors: std::sync::OnceLock<mpsc::UnboundedSender<String>>,
}

impl Shared {
    /// Reports an error to the host (`bv_error`, for alerting), besides logging it.
    pub(super) fn report(&self, message: String) {
        error!("{message}");
        if let Some(tx) = self.errors.get() {
            let _ = tx.send(message);
        }
    }
}

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock leaves consistent-enough data; keep serving.
    shared.inner.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn job_info(jobs_dir: &Path, name: &str, job: &mut Job) -> JobInfo {
    let now = SystemTime::now();
    let timestamp = match &job.state {
        JobState::Active { since, .. }
        | JobState::Stopping { since, .. }
        | JobState::Inactive { since, .. } => *since,
    };
    JobInfo {
        status: job.status(),
        timestamp,
        progress: JobDir::new(jobs_dir, name).load_progress(),
        restart_count: job.events.restart_count(now),
        logs: job.events.logs(now),
        upgrade_blocking: job.config.upgrade_blocking(),
    }
}
