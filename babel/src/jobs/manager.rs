//! The jobs manager's command API: create, start, stop, skip, restart, clean up and inspect
//! jobs, startup and shutdown. Job state lives in [`super::state`]; starting jobs and
//! reacting to runner exits is [`super::supervise`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use babel_api::job::{JobConfig, JobInfo, JobStatus, JobType, JobsInfo, MAX_JOBS};
use babel_api::node_env::NodeEnv;
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::info;

use super::process::Runners;
use super::state::{Inner, Job, JobState, MgrState, Shared, job_info, lock};
use super::store::JobDir;
use super::supervise::{load_jobs, run_loop, schedule};
use super::validate::{self, InvalidJob};
use crate::archive::ArchiveError;

/// Extra time given to a runner beyond the job's own shutdown timeout (the runner needs it
/// to escalate to SIGKILL and exit).
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// Why a jobs manager command failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The command names a job the manager doesn't have.
    #[error("can't {op}, job '{name}' not found")]
    NotFound { op: &'static str, name: String },
    /// `info` of a job the manager doesn't have.
    #[error("unknown status, job '{name}' not found")]
    NoStatus { name: String },
    /// The job config was refused.
    #[error(transparent)]
    Invalid(#[from] InvalidJob),
    #[error("Exceeded max number of supported jobs: {MAX_JOBS}")]
    TooManyJobs,
    #[error("can't create jobs dir {}: {source}", path.display())]
    JobsDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the job's directory (config, status) failed.
    #[error("job '{name}': {source}")]
    Store {
        name: String,
        #[source]
        source: bv_base::json_file::JsonFileError,
    },
    #[error("can't cleanup, job '{name}', missing node_env")]
    CleanupWithoutNodeEnv { name: String },
    #[error("can't cleanup active job '{name}'")]
    CleanupActive { name: String },
    #[error("can't cleanup job '{name}': {source}")]
    Cleanup {
        name: String,
        #[source]
        source: ArchiveError,
    },
    #[error("Failed to terminate job_runner for '{name}' job (pid {pid}), timeout expired!")]
    TerminateTimeout { name: String, pid: u32 },
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

fn not_found(op: &'static str, name: &str) -> ManagerError {
    ManagerError::NotFound {
        op,
        name: name.to_string(),
    }
}

/// The error of a failed write to job `name`'s directory, for `map_err`.
fn store(name: &str) -> impl FnOnce(bv_base::json_file::JsonFileError) -> ManagerError {
    move |source| ManagerError::Store {
        name: name.to_string(),
        source,
    }
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
            std::fs::create_dir_all(&self.shared.jobs_dir).map_err(|source| {
                ManagerError::JobsDir {
                    path: self.shared.jobs_dir.clone(),
                    source,
                }
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
        validate::validate(name, &config, &self.shared.passwd)?;
        {
            let inner = self.lock();
            if !inner.jobs.contains_key(name) && inner.jobs.len() >= MAX_JOBS {
                return Err(ManagerError::TooManyJobs);
            }
        }
        self.terminate(name).await?;
        let dir = JobDir::new(&self.shared.jobs_dir, name);
        dir.create()
            .map_err(|source| bv_base::json_file::JsonFileError::Write {
                path: dir.0.clone(),
                source,
            })
            .map_err(store(name))?;
        dir.save_status(&JobStatus::Stopped).map_err(store(name))?;
        dir.save_config(&config).map_err(store(name))?;
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
                .map_err(store(name))?;
        }
        Ok(())
    }

    /// Terminates the job's runner if active and records `status`.
    async fn stop_with(
        &self,
        op: &'static str,
        name: &str,
        status: JobStatus,
    ) -> Result<(), ManagerError> {
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
            .map_err(store(name))?;
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
        let env = inner
            .node_env
            .as_ref()
            .ok_or_else(|| ManagerError::CleanupWithoutNodeEnv {
                name: name.to_string(),
            })?;
        if job.is_active() {
            return Err(ManagerError::CleanupActive {
                name: name.to_string(),
            });
        }
        let state = crate::archive::state::StateDir::new(Path::new(&env.data_mount_point));
        let result = match job.config.job_type {
            JobType::RunSh(_) => Ok(()),
            JobType::Download { .. } => {
                crate::archive::state::cleanup_download(&state, Path::new(&env.protocol_data_path))
            }
            JobType::Upload { .. } => crate::archive::state::cleanup_upload(&state),
        };
        result.map_err(|source| ManagerError::Cleanup {
            name: name.to_string(),
            source,
        })?;
        Ok(())
    }

    pub fn info(&self, name: &str) -> Result<JobInfo, ManagerError> {
        let mut inner = self.lock();
        let job = inner
            .jobs
            .get_mut(name)
            .ok_or_else(|| ManagerError::NoStatus {
                name: name.to_string(),
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
            return Err(ManagerError::TerminateTimeout {
                name: name.to_string(),
                pid,
            });
        }
        self.mark_runner_gone(name, pid);
        Ok(())
    }
}
