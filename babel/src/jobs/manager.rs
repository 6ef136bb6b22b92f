//! The jobs manager: registry of jobs, their states, and the loop that starts pending jobs
//! whose dependencies are met and handles runner exits.
//!
//! State lives behind one short-held mutex; nothing waits while holding it. Terminating a
//! runner marks the job `Stopping` first, so the exit handler leaves it alone.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use babel_api::job::{JobConfig, JobInfo, JobStatus, JobType, JobsInfo, MAX_JOBS, RestartPolicy};
use babel_api::node_env::NodeEnv;
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::deps::{Readiness, readiness};
use super::events::Events;
use super::process::Runners;
use super::store::JobDir;
use super::validate;

/// Extra time given to a runner beyond the job's own shutdown timeout (the runner needs it
/// to escalate to SIGKILL and exit).
const TERMINATE_GRACE: Duration = Duration::from_secs(5);
/// A runner that ends without a status this many times within [`CRASH_WINDOW`] fails its job.
const MAX_UNEXPECTED_ENDS: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MgrState {
    NotReady,
    Ready,
    Shutdown,
}

#[derive(Debug, Clone)]
enum JobState {
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
struct Job {
    config: JobConfig,
    state: JobState,
    events: Events,
    unexpected_ends: VecDeque<SystemTime>,
}

impl Job {
    fn new(config: JobConfig, state: JobState) -> Self {
        Self {
            config,
            state,
            events: Events::default(),
            unexpected_ends: VecDeque::new(),
        }
    }

    fn status(&self) -> JobStatus {
        match &self.state {
            JobState::Active { .. } | JobState::Stopping { .. } => JobStatus::Running,
            JobState::Inactive { status, .. } => status.clone(),
        }
    }

    fn is_active(&self) -> bool {
        !matches!(self.state, JobState::Inactive { .. })
    }

    fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.config.shutdown_timeout_secs())
    }
}

struct Inner {
    state: MgrState,
    node_env: Option<NodeEnv>,
    jobs: HashMap<String, Job>,
}

struct Shared {
    inner: Mutex<Inner>,
    runners: Arc<dyn Runners>,
    jobs_dir: PathBuf,
    passwd: PathBuf,
    exit_tx: mpsc::UnboundedSender<(String, u32)>,
    /// Where errors for the host go (`bv_error`); unset in tests that don't care.
    errors: std::sync::OnceLock<mpsc::UnboundedSender<String>>,
}

impl Shared {
    /// Reports an error to the host (spec: `bv_error`), besides logging it.
    fn report(&self, message: String) {
        error!("{message}");
        if let Some(tx) = self.errors.get() {
            let _ = tx.send(message);
        }
    }
}

/// Handle to the jobs manager; cheap to clone.
#[derive(Clone)]
pub struct JobsManager {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for JobsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsManager")
            .field("jobs_dir", &self.shared.jobs_dir)
            .finish()
    }
}

fn not_found(op: &str, name: &str) -> ManagerError {
    ManagerError::NotFound(format!("can't {op}, job '{name}' not found"))
}

impl JobsManager {
    /// Creates the manager (NotReady) and spawns its loop on the current runtime.
    pub fn new(jobs_dir: PathBuf, passwd: PathBuf, runners: Arc<dyn Runners>) -> Self {
        let (exit_tx, exit_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state: MgrState::NotReady,
                node_env: None,
                jobs: HashMap::new(),
            }),
            runners,
            jobs_dir,
            passwd,
            exit_tx,
            errors: std::sync::OnceLock::new(),
        });
        tokio::spawn(run_loop(Arc::downgrade(&shared), exit_rx));
        Self { shared }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// Sends the errors the host must hear about (`bv_error`) to `tx` (set once).
    pub fn report_errors_to(&self, tx: mpsc::UnboundedSender<String>) {
        let _ = self.shared.errors.set(tx);
    }

    pub fn jobs_dir(&self) -> &Path {
        &self.shared.jobs_dir
    }

    pub fn is_ready(&self) -> bool {
        self.lock().state == MgrState::Ready
    }

    pub fn node_env(&self) -> Option<NodeEnv> {
        self.lock().node_env.clone()
    }

    /// Stores the node env, (re)loads jobs from disk unless already running, and starts
    /// scheduling.
    pub fn startup(&self, node_env: NodeEnv) -> Result<(), ManagerError> {
        let mut inner = self.lock();
        inner.node_env = Some(node_env);
        if inner.state != MgrState::Ready {
            std::fs::create_dir_all(&self.shared.jobs_dir).map_err(|e| {
                ManagerError::Failed(format!(
                    "can't create jobs dir {}: {e}",
                    self.shared.jobs_dir.display()
                ))
            })?;
            inner.jobs = load_jobs(&self.shared);
            inner.state = MgrState::Ready;
            info!(jobs = inner.jobs.len(), "jobs manager ready");
        }
        schedule(&self.shared, &mut inner);
        Ok(())
    }

    pub fn job_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.lock().jobs.keys().cloned().collect();
        names.sort();
        names
    }

    pub async fn create(&self, name: &str, config: JobConfig) -> Result<(), ManagerError> {
        validate::validate(name, &config, &self.shared.passwd).map_err(ManagerError::Invalid)?;
        {
            let inner = self.lock();
            if !inner.jobs.contains_key(name) && inner.jobs.len() >= MAX_JOBS {
                return Err(ManagerError::Failed(format!(
                    "Exceeded max number of supported jobs: {MAX_JOBS}"
                )));
            }
        }
        self.terminate(name).await?;
        let dir = JobDir::new(&self.shared.jobs_dir, name);
        let io = |e: std::io::Error| ManagerError::Failed(format!("job '{name}': {e}"));
        dir.create().map_err(io)?;
        dir.save_status(&JobStatus::Stopped).map_err(io)?;
        dir.save_config(&config).map_err(io)?;
        let job = Job::new(
            config,
            JobState::Inactive {
                status: JobStatus::Stopped,
                since: SystemTime::now(),
            },
        );
        self.lock().jobs.insert(name.to_string(), job);
        Ok(())
    }

    /// Moves an inactive job to Pending and starts it at once when it can.
    pub fn start(&self, name: &str) -> Result<(), ManagerError> {
        let mut inner = self.lock();
        let job = inner
            .jobs
            .get_mut(name)
            .ok_or_else(|| not_found("start", name))?;
        if job.is_active() {
            return Ok(());
        }
        let waiting_for: Vec<String> = job
            .config
            .needs
            .iter()
            .flatten()
            .chain(job.config.wait_for.iter().flatten())
            .cloned()
            .collect();
        job.state = JobState::Inactive {
            status: JobStatus::Pending { waiting_for },
            since: SystemTime::now(),
        };
        schedule(&self.shared, &mut inner);
        // A job spawned right away has no status file (the runner writes the final one):
        // only a job left waiting needs `Pending` on disk. This saves an fsync pair on
        // every immediate start.
        if let Some(Job {
            state:
                JobState::Inactive {
                    status: status @ JobStatus::Pending { .. },
                    ..
                },
            ..
        }) = inner.jobs.get(name)
        {
            JobDir::new(&self.shared.jobs_dir, name)
                .save_status(status)
                .map_err(|e| ManagerError::Failed(format!("job '{name}': {e}")))?;
        }
        Ok(())
    }

    /// Terminates the job's runner if active and records `status`.
    async fn stop_with(&self, op: &str, name: &str, status: JobStatus) -> Result<(), ManagerError> {
        if !self.lock().jobs.contains_key(name) {
            return Err(not_found(op, name));
        }
        self.terminate(name).await?;
        let mut inner = self.lock();
        let job = inner
            .jobs
            .get_mut(name)
            .ok_or_else(|| not_found(op, name))?;
        JobDir::new(&self.shared.jobs_dir, name)
            .save_status(&status)
            .map_err(|e| ManagerError::Failed(format!("job '{name}': {e}")))?;
        job.state = JobState::Inactive {
            status,
            since: SystemTime::now(),
        };
        schedule(&self.shared, &mut inner);
        Ok(())
    }

    pub async fn stop(&self, name: &str) -> Result<(), ManagerError> {
        self.stop_with("stop", name, JobStatus::Stopped).await
    }

    pub async fn skip(&self, name: &str) -> Result<(), ManagerError> {
        self.stop_with("skip", name, JobStatus::finished(Some(0), "Skipped"))
            .await
    }

    pub async fn restart(&self, name: &str) -> Result<(), ManagerError> {
        self.stop_with("restart", name, JobStatus::Stopped).await?;
        self.start(name)
    }

    pub async fn stop_all(&self) -> Result<(), ManagerError> {
        for name in self.job_names() {
            self.stop(&name).await?;
        }
        Ok(())
    }

    /// Removes transfer state of an inactive archive job (run_sh: nothing to do).
    pub fn cleanup(&self, name: &str) -> Result<(), ManagerError> {
        let inner = self.lock();
        let job = inner
            .jobs
            .get(name)
            .ok_or_else(|| not_found("cleanup", name))?;
        let env = inner.node_env.as_ref().ok_or_else(|| {
            ManagerError::Failed(format!("can't cleanup, job '{name}', missing node_env"))
        })?;
        if job.is_active() {
            return Err(ManagerError::Failed(format!(
                "can't cleanup active job '{name}'"
            )));
        }
        let state = crate::archive::state::StateDir::new(Path::new(&env.data_mount_point));
        let result = match job.config.job_type {
            JobType::RunSh(_) => Ok(()),
            JobType::Download { .. } => {
                crate::archive::state::cleanup_download(&state, Path::new(&env.protocol_data_path))
            }
            JobType::Upload { .. } => crate::archive::state::cleanup_upload(&state),
        };
        result.map_err(|e| ManagerError::Failed(format!("can't cleanup job '{name}': {e}")))?;
        Ok(())
    }

    pub fn info(&self, name: &str) -> Result<JobInfo, ManagerError> {
        let mut inner = self.lock();
        let job = inner.jobs.get_mut(name).ok_or_else(|| {
            ManagerError::NotFound(format!("unknown status, job '{name}' not found"))
        })?;
        Ok(job_info(&self.shared.jobs_dir, name, job))
    }

    pub fn list(&self) -> JobsInfo {
        let mut inner = self.lock();
        inner
            .jobs
            .iter_mut()
            .map(|(name, job)| (name.clone(), job_info(&self.shared.jobs_dir, name, job)))
            .collect()
    }

    pub fn job_shutdown_timeout(&self, name: &str) -> Result<Duration, ManagerError> {
        let inner = self.lock();
        let job = inner
            .jobs
            .get(name)
            .ok_or_else(|| not_found("get shutdown timeout", name))?;
        Ok(if job.is_active() {
            job.shutdown_timeout()
        } else {
            Duration::ZERO
        })
    }

    pub fn active_jobs_shutdown_timeout(&self) -> Duration {
        self.lock()
            .jobs
            .values()
            .filter(|j| j.is_active())
            .map(Job::shutdown_timeout)
            .sum()
    }

    pub fn push_log(&self, name: &str, message: &str) {
        if let Some(job) = self.lock().jobs.get_mut(name) {
            job.events.push(SystemTime::now(), message);
        }
    }

    pub fn register_restart(&self, name: &str) {
        if let Some(job) = self.lock().jobs.get_mut(name) {
            job.events.register_restart(SystemTime::now());
        }
    }

    /// Stops scheduling and ends every runner (gracefully, or by killing its session when
    /// `force`). Nothing is persisted: without a status file the jobs start again on the next
    /// startup.
    pub async fn shutdown(&self, force: bool) -> Result<(), ManagerError> {
        self.lock().state = MgrState::Shutdown;
        for name in self.job_names() {
            if force {
                self.force_kill(&name).await;
            } else {
                self.terminate(&name).await?;
            }
            let mut inner = self.lock();
            if let Some(job) = inner.jobs.get_mut(&name)
                && job.is_active()
            {
                job.state = JobState::Inactive {
                    status: JobStatus::Running,
                    since: SystemTime::now(),
                };
            }
        }
        Ok(())
    }

    async fn force_kill(&self, name: &str) {
        let Some((pid, timeout)) = self.begin_stopping(name) else {
            return;
        };
        let runners = &self.shared.runners;
        runners.signal(pid, Signal::SIGTERM);
        if tokio::time::timeout(timeout, runners.wait_exit(pid))
            .await
            .is_err()
        {
            runners.kill_session(pid);
            let _ = tokio::time::timeout(Duration::from_secs(5), runners.wait_exit(pid)).await;
        }
        self.mark_runner_gone(name, pid);
    }

    fn begin_stopping(&self, name: &str) -> Option<(u32, Duration)> {
        let mut inner = self.lock();
        let job = inner.jobs.get_mut(name)?;
        let timeout = job.shutdown_timeout();
        match job.state {
            JobState::Active { pid, since } | JobState::Stopping { pid, since } => {
                job.state = JobState::Stopping { pid, since };
                Some((pid, timeout))
            }
            JobState::Inactive { .. } => None,
        }
    }

    fn mark_runner_gone(&self, name: &str, pid: u32) {
        let mut inner = self.lock();
        if let Some(job) = inner.jobs.get_mut(name)
            && matches!(job.state, JobState::Stopping { pid: p, .. } if p == pid)
        {
            job.state = JobState::Inactive {
                status: JobStatus::Stopped,
                since: SystemTime::now(),
            };
        }
    }

    /// Gracefully ends the job's runner (SIGTERM, then wait up to its shutdown timeout).
    async fn terminate(&self, name: &str) -> Result<(), ManagerError> {
        let Some((pid, timeout)) = self.begin_stopping(name) else {
            return Ok(());
        };
        let runners = &self.shared.runners;
        runners.signal(pid, Signal::SIGTERM);
        let ended = tokio::time::timeout(timeout + TERMINATE_GRACE, runners.wait_exit(pid))
            .await
            .is_ok();
        if !ended && runners.is_alive(pid) {
            let mut inner = self.lock();
            if let Some(job) = inner.jobs.get_mut(name)
                && let JobState::Stopping { pid: p, since } = job.state
                && p == pid
            {
                job.state = JobState::Active { pid, since };
            }
            return Err(ManagerError::Failed(format!(
                "Failed to terminate job_runner for '{name}' job (pid {pid}), timeout expired!"
            )));
        }
        self.mark_runner_gone(name, pid);
        Ok(())
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock leaves consistent-enough data; keep serving.
    shared.inner.lock().unwrap_or_else(|e| e.into_inner())
}

fn job_info(jobs_dir: &Path, name: &str, job: &mut Job) -> JobInfo {
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

/// Reads every job directory: a job whose runner is alive is re-attached, otherwise its
/// saved status is used (none saved: Pending, so it starts again).
fn load_jobs(shared: &Shared) -> HashMap<String, Job> {
    let mut jobs = HashMap::new();
    let running = shared.runners.find_running();
    let Ok(entries) = std::fs::read_dir(&shared.jobs_dir) else {
        return jobs;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let dir = JobDir(entry.path());
        if !dir.config_path().exists() {
            continue;
        }
        let config = match dir.load_config() {
            Ok(c) => c,
            Err(e) => {
                let kept = dir.path().join("config.json.invalid");
                shared.report(format!(
                    "job '{name}' skipped: {e} (moved to {})",
                    kept.display()
                ));
                let _ = std::fs::rename(dir.config_path(), kept);
                continue;
            }
        };
        let state = if let Some((pid, since)) = running.get(&name) {
            info!("job '{name}': re-attached to runner pid {pid}");
            watch(shared, &name, *pid);
            JobState::Active {
                pid: *pid,
                since: *since,
            }
        } else {
            match dir.load_status() {
                Ok((JobStatus::Running, _)) | Ok((JobStatus::Pending { .. }, _)) => {
                    JobState::Inactive {
                        status: JobStatus::Pending {
                            waiting_for: vec![],
                        },
                        since: SystemTime::now(),
                    }
                }
                Ok((status, since)) => JobState::Inactive { status, since },
                Err(e) => {
                    if !e.is_not_found() {
                        warn!("job '{name}': {e}; starting it again");
                    }
                    JobState::Inactive {
                        status: JobStatus::Pending {
                            waiting_for: vec![],
                        },
                        since: SystemTime::now(),
                    }
                }
            }
        };
        jobs.insert(name, Job::new(config, state));
    }
    jobs
}

fn watch(shared: &Shared, name: &str, pid: u32) {
    let exited = shared.runners.wait_exit(pid);
    let tx = shared.exit_tx.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        exited.await;
        let _ = tx.send((name, pid));
    });
}

/// Starts every job that can start now and fails those whose dependencies failed, until
/// nothing changes (so failures propagate along chains in one go).
fn schedule(shared: &Shared, inner: &mut Inner) {
    if inner.state != MgrState::Ready {
        return;
    }
    loop {
        let statuses: HashMap<String, JobStatus> = inner
            .jobs
            .iter()
            .map(|(n, j)| (n.clone(), j.status()))
            .collect();
        let mut changed = false;
        let mut names: Vec<String> = inner.jobs.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some(job) = inner.jobs.get_mut(&name) else {
                continue;
            };
            let JobState::Inactive { status, .. } = &job.state else {
                continue;
            };
            let decision = match status {
                JobStatus::Pending { .. } => {
                    readiness(&name, &job.config, |d| statuses.get(d).cloned())
                }
                JobStatus::Running => Readiness::Ready,
                _ => continue,
            };
            match decision {
                Readiness::NotYet => {}
                Readiness::Failed(msg) => {
                    changed = true;
                    finish(shared, &name, job, JobStatus::finished(None, msg), true);
                }
                Readiness::Ready => {
                    changed = true;
                    spawn(shared, &name, job);
                }
            }
        }
        if !changed {
            break;
        }
    }
}

fn finish(shared: &Shared, name: &str, job: &mut Job, status: JobStatus, save: bool) {
    if let JobStatus::Finished { message, .. } = &status
        && !message.is_empty()
    {
        job.events.push(SystemTime::now(), message);
        warn!("job '{name}': {message}");
    }
    if save && let Err(e) = JobDir::new(&shared.jobs_dir, name).save_status(&status) {
        error!("job '{name}': can't save status: {e}");
    }
    job.state = JobState::Inactive {
        status,
        since: SystemTime::now(),
    };
}

fn spawn(shared: &Shared, name: &str, job: &mut Job) {
    if let Err(e) = JobDir::new(&shared.jobs_dir, name).clear_status() {
        let msg = format!("failed to start job '{name}': can't clear its status: {e}");
        shared.report(msg.clone());
        return finish(shared, name, job, JobStatus::finished(None, msg), false);
    }
    match shared.runners.spawn(name) {
        Ok(pid) => {
            info!("job '{name}' started (runner pid {pid})");
            // The process table's start time, not `now`: a babel that re-attaches later
            // reads the same clock, so the job's timestamp does not move.
            let since = super::process::start_time(pid).unwrap_or_else(SystemTime::now);
            job.state = JobState::Active { pid, since };
            watch(shared, name, pid);
        }
        Err(e) => {
            let msg = format!("failed to start job '{name}': {e}");
            finish(shared, name, job, JobStatus::finished(None, msg), true);
        }
    }
}

/// A runner ended: take the status it wrote, or decide what a missing status means.
fn on_runner_exit(shared: &Shared, inner: &mut Inner, name: &str, pid: u32) {
    let Some(job) = inner.jobs.get_mut(name) else {
        return;
    };
    if !matches!(job.state, JobState::Active { pid: p, .. } if p == pid) {
        return;
    }
    let dir = JobDir::new(&shared.jobs_dir, name);
    match dir.load_status() {
        Ok((status @ (JobStatus::Finished { .. } | JobStatus::Stopped), since)) => {
            info!("job '{name}' ended: {status}");
            job.state = JobState::Inactive { status, since };
            // The runner published the status without fsync (so its end is seen at once):
            // make it durable off the state path. A file already replaced by a restart is
            // someone else's business.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = dir.sync_status() {
                    tracing::debug!("fsync of {}: {e}", dir.status_path().display());
                }
            });
        }
        Ok(_) => unexpected_end(
            shared,
            name,
            job,
            "babel_job_runner process ended unexpectedly",
        ),
        Err(e) => {
            let msg =
                format!("can't load job '{name}' status from file after it stopped, with: {e}");
            shared.report(msg.clone());
            if job.config.restart == RestartPolicy::Never {
                finish(shared, name, job, JobStatus::finished(None, msg), true);
            } else {
                unexpected_end(shared, name, job, &msg);
            }
        }
    }
}

/// The runner ended without a final status: start it again, unless it keeps doing so.
fn unexpected_end(shared: &Shared, name: &str, job: &mut Job, msg: &str) {
    let now = SystemTime::now();
    warn!("job '{name}': {msg}");
    job.events.push(now, msg);
    job.events.register_restart(now);
    job.unexpected_ends.push_back(now);
    while job
        .unexpected_ends
        .front()
        .is_some_and(|t| now.duration_since(*t).unwrap_or_default() > CRASH_WINDOW)
    {
        job.unexpected_ends.pop_front();
    }
    if job.unexpected_ends.len() >= MAX_UNEXPECTED_ENDS {
        let msg = format!(
            "job runner of '{name}' ended without a status {MAX_UNEXPECTED_ENDS} times within {}s, giving up",
            CRASH_WINDOW.as_secs()
        );
        job.unexpected_ends.clear();
        return finish(shared, name, job, JobStatus::finished(None, msg), true);
    }
    job.state = JobState::Inactive {
        status: JobStatus::Running,
        since: now,
    };
}

/// Handles runner exits as they are reported. Jobs are started inline by the operations
/// that make them startable (start, startup, and each exit handled here).
async fn run_loop(
    shared: std::sync::Weak<Shared>,
    mut exits: mpsc::UnboundedReceiver<(String, u32)>,
) {
    while let Some((name, pid)) = exits.recv().await {
        let Some(s) = shared.upgrade() else { return };
        let mut inner = lock(&s);
        on_runner_exit(&s, &mut inner, &name, pid);
        schedule(&s, &mut inner);
    }
}
