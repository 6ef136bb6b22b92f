//! `babel-job-runner`: runs one job, restarting it per its policy, and records the final
//! status in the job directory. Runs in its own session so it outlives agent restarts.
//!
//! Every failure before the job could start (bad config, missing babel config, one-time
//! backup or lock errors) is recorded as `Finished{exit_code: None, ..}`, so the agent never
//! respawns a runner that can't work.

pub mod backoff;
pub mod exit_text;
pub mod kinds;
pub mod monitor;
pub mod one_time;
pub mod process_group;
pub mod run_sh;

use std::path::PathBuf;

use babel_api::job::{JobStatus, JobType};
use babel_api::node_env::BabelConfig;
use tokio::sync::watch;
use tracing::{error, info};

use crate::jobs::store::JobDir;
use crate::paths::{RunnerPaths, one_time_backup_dir, protocol_data_lock};
use backoff::{Backoff, Clock, Decision, SystemClock};
use bv_base::json_file::{self, JsonFileError};
use kinds::{JobContext, JobKind, Outcome, ShutdownRx, Unsupported};
use monitor::Monitor;
use run_sh::RunShJob;

/// What the runner process should exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerExit {
    /// A final status was written.
    Finished,
    /// Stopped by a signal; nothing written (the agent decides what happens next).
    Interrupted,
}

/// Runs job `name` until it is over or `shutdown` fires.
pub async fn run(
    paths: RunnerPaths,
    name: String,
    passwd: PathBuf,
    shutdown: ShutdownRx,
) -> RunnerExit {
    let dir = JobDir::new(&paths.jobs_dir, &name);
    let monitor = Monitor::new(&paths.monitor_socket, &name);
    let ctx = match load_context(&paths, &name, &dir, monitor, passwd) {
        Ok(ctx) => ctx,
        Err(e) => {
            return finish(
                &paths.engine_socket,
                &dir,
                None,
                JobStatus::finished(None, e.to_string()),
            )
            .await;
        }
    };
    let backup = ctx
        .config
        .one_time
        .unwrap_or(false)
        .then(|| one_time_backup_dir(&ctx.node_env, &name));
    if let Some(backup) = &backup {
        match one_time::prelude(backup, dir.path()) {
            Ok(one_time::Prelude::AlreadyDone(status)) => {
                info!("one-time job '{name}' already done: {status}");
                return RunnerExit::Finished;
            }
            Ok(one_time::Prelude::Run) => {}
            Err(e) => {
                let msg = format!(
                    "one-time job '{name}': can't use backup {}: {e}",
                    backup.display()
                );
                return finish(
                    &paths.engine_socket,
                    &dir,
                    None,
                    JobStatus::finished(None, msg),
                )
                .await;
            }
        }
    }
    if ctx.config.use_protocol_data.unwrap_or(false) {
        let lock = protocol_data_lock(&ctx.node_env);
        if let Err(e) = touch(&lock) {
            let msg = format!("can't touch protocol data lock {}: {e}", lock.display());
            return finish(
                &paths.engine_socket,
                &dir,
                backup.as_deref(),
                JobStatus::finished(None, msg),
            )
            .await;
        }
    }
    match run_with_restarts(&ctx, shutdown, &SystemClock).await {
        Some(status) => finish(&paths.engine_socket, &dir, backup.as_deref(), status).await,
        None => RunnerExit::Interrupted,
    }
}

/// Why a runner can't start its job; the text becomes the job's final status.
#[derive(Debug, thiserror::Error)]
enum ContextError {
    #[error("can't load job '{name}' config: {source}")]
    JobConfig {
        name: String,
        #[source]
        source: JsonFileError,
    },
    #[error("can't load babel config: {0}")]
    BabelConfig(#[source] JsonFileError),
}

fn load_context(
    paths: &RunnerPaths,
    name: &str,
    dir: &JobDir,
    monitor: Monitor,
    passwd: PathBuf,
) -> Result<JobContext, ContextError> {
    let config = dir
        .load_config()
        .map_err(|source| ContextError::JobConfig {
            name: name.to_string(),
            source,
        })?;
    let babel: BabelConfig = json_file::read(&paths.config).map_err(ContextError::BabelConfig)?;
    Ok(JobContext {
        name: name.to_string(),
        config,
        job_dir: dir.path().to_path_buf(),
        node_env: babel.node_env,
        monitor,
        passwd,
        engine_socket: paths.engine_socket.clone(),
    })
}

/// Creates `path` or sets its mtime to now.
fn touch(path: &std::path::Path) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.set_modified(std::time::SystemTime::now())
}

async fn finish(
    engine_socket: &std::path::Path,
    dir: &JobDir,
    backup: Option<&std::path::Path>,
    status: JobStatus,
) -> RunnerExit {
    info!("job finished: {status}");
    if let Err(e) = dir.publish_status(&status) {
        let message = format!(
            "job runner can't save status {status} to {}: {e}",
            dir.status_path().display()
        );
        error!("{message}");
        crate::archive::engine::EngineBackend::new(engine_socket)
            .bv_error(&message)
            .await;
    }
    if let Some(backup) = backup
        && let Err(e) = one_time::record(backup, dir.path())
    {
        error!("can't record one-time job in {}: {e}", backup.display());
    }
    RunnerExit::Finished
}

/// The restart loop shared by every job kind. `None` when interrupted.
pub async fn run_with_restarts(
    ctx: &JobContext,
    mut shutdown: ShutdownRx,
    clock: &dyn Clock,
) -> Option<JobStatus> {
    let mut kind = kind_for(&ctx.config.job_type);
    if let Err(outcome) = kind.prepare(ctx).await {
        return match outcome {
            Outcome::Final(status) => Some(status),
            Outcome::Interrupted => None,
            Outcome::Exited { code, message } => Some(JobStatus::finished(code, message)),
        };
    }
    let mut backoff = Backoff::new(ctx.config.restart, clock.now());
    loop {
        if *shutdown.borrow() {
            return None;
        }
        backoff.started(clock.now());
        let (code, message) = match kind.run_once(ctx, &mut shutdown).await {
            Outcome::Interrupted => return None,
            Outcome::Final(status) => return Some(status),
            Outcome::Exited { code, message } => (code, message),
        };
        if backoff.is_reportable(code) {
            ctx.monitor.push_log(&message).await;
        }
        match backoff.on_exit(clock.now(), code, &message) {
            Decision::Final(status) => return Some(status),
            Decision::RestartNow => {}
            Decision::RestartAfter(delay) => {
                let stop = shutdown.wait_for(|s| *s);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop => return None,
                }
            }
        }
        ctx.monitor.register_restart().await;
    }
}

/// A shutdown channel fired by SIGTERM, SIGINT or SIGHUP.
pub fn shutdown_on_signals() -> std::io::Result<ShutdownRx> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        info!("stop requested");
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// The handler for a job type.
pub fn kind_for(job_type: &JobType) -> Box<dyn JobKind> {
    match job_type {
        JobType::RunSh(body) => Box::new(RunShJob::new(body)),
        JobType::Download { .. } | JobType::Upload { .. } => {
            crate::archive::job::kind_for(job_type)
                .unwrap_or_else(|| Box::new(Unsupported("archive")))
        }
    }
}
