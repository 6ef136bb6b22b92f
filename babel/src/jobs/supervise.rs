//! The supervision loop: starts pending jobs whose dependencies are met, fails those whose
//! dependencies failed, and handles runner exits (the status a runner wrote, or a restart
//! when it ended without one). Terminating a runner marks the job `Stopping` first, so the
//! exit handler leaves it alone.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use babel_api::job::{JobStatus, RestartPolicy};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::deps::{Readiness, readiness};
use super::state::{Inner, Job, JobState, MgrState, Shared, lock};
use super::store::JobDir;

/// A runner that ends without a status this many times within [`CRASH_WINDOW`] fails its job.
const MAX_UNEXPECTED_ENDS: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// Backoff base of a crashed runner whose job has no restart backoff of its own (`never`).
const DEFAULT_CRASH_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest and longest wait before a crashed runner starts again.
const MIN_CRASH_BACKOFF: Duration = Duration::from_millis(100);
const MAX_CRASH_BACKOFF: Duration = Duration::from_secs(300);
/// Pid sent on the exit channel to run the scheduler again (no runner has pid 0).
const WAKE: u32 = 0;

/// How long a job waits before its runner starts again after it ended without a status for
/// the `ends`-th time within [`CRASH_WINDOW`]: the job's backoff base, doubled per end.
pub(super) fn crash_restart_delay(policy: &RestartPolicy, ends: usize) -> Duration {
    let base = match policy {
        RestartPolicy::Always(c) | RestartPolicy::OnFailure(c) => {
            Duration::from_millis(c.backoff_base_ms)
        }
        RestartPolicy::Never => DEFAULT_CRASH_BACKOFF,
    };
    let shift = u32::try_from(ends.saturating_sub(1)).unwrap_or(u32::MAX);
    let factor = 1u32.checked_shl(shift).unwrap_or(u32::MAX);
    base.saturating_mul(factor)
        .clamp(MIN_CRASH_BACKOFF, MAX_CRASH_BACKOFF)
}

/// Reads every job directory: a job whose runner is alive is re-attached, otherwise its
/// saved status is used (none saved: Pending, so it starts again).
pub(super) fn load_jobs(shared: &Shared) -> HashMap<String, Job> {
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
pub(super) fn schedule(shared: &Shared, inner: &mut Inner) {
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
                JobStatus::Running if job.restart_at.is_some_and(|at| at > SystemTime::now()) => {
                    Readiness::NotYet
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
    job.restart_at = None;
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
    if pid == WAKE || !matches!(job.state, JobState::Active { pid: p, .. } if p == pid) {
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
    let delay = crash_restart_delay(&job.config.restart, job.unexpected_ends.len());
    info!("job '{name}': starting its runner again in {delay:?}");
    job.restart_at = Some(now + delay);
    job.state = JobState::Inactive {
        status: JobStatus::Running,
        since: now,
    };
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let tx = shared.exit_tx.clone();
        let name = name.to_string();
        rt.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send((name, WAKE));
        });
    }
}

/// Handles runner exits as they are reported. Jobs are started inline by the operations
/// that make them startable (start, startup, and each exit handled here).
pub(super) async fn run_loop(
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

#[cfg(test)]
mod tests {
    use babel_api::job::RestartConfig;

    use super::*;

    fn on_failure(base_ms: u64) -> RestartPolicy {
        RestartPolicy::OnFailure(RestartConfig {
            backoff_timeout_ms: 60_000,
            backoff_base_ms: base_ms,
            max_retries: None,
        })
    }

    #[test]
    fn crashed_runners_wait_the_jobs_backoff_doubling() {
        let delays: Vec<u128> = (1..=5)
            .map(|n| crash_restart_delay(&on_failure(500), n).as_millis())
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000]);
    }

    #[test]
    fn crash_backoff_is_bounded() {
        assert_eq!(crash_restart_delay(&on_failure(0), 1), MIN_CRASH_BACKOFF);
        assert_eq!(
            crash_restart_delay(&on_failure(u64::MAX), 1),
            MAX_CRASH_BACKOFF
        );
        assert_eq!(
            crash_restart_delay(&on_failure(1000), 200),
            MAX_CRASH_BACKOFF
        );
        assert_eq!(
            crash_restart_delay(&RestartPolicy::Never, 1),
            DEFAULT_CRASH_BACKOFF
        );
    }
}
