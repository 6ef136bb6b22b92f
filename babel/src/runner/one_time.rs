//! One-time jobs: their record lives on the data drive (`<data>/.babel_jobs/<name>/`), so a
//! job that finished never runs again, not even after an upgrade or a new agent.
//!
//! Unlike the upstream agent, an interrupted run (runner stopped or killed before the job
//! ended) is not remembered as failed: the "started" marker is recognised and the job runs
//! again.

use std::path::{Path, PathBuf};

use babel_api::job::JobStatus;

use crate::paths::{PROGRESS_FILE, STATUS_FILE};
use bv_base::json_file;

/// Status kept in the backup while a one-time job runs.
pub const STARTED_MESSAGE: &str = "one-time job started, but not finished";

#[derive(Debug, PartialEq, Eq)]
pub enum Prelude {
    /// The job finished before: its recorded status was restored into the job dir.
    AlreadyDone(JobStatus),
    /// Run the job (first time, or again after an interrupted run).
    Run,
}

fn started_marker() -> JobStatus {
    JobStatus::finished(None, STARTED_MESSAGE)
}

/// Checks the backup in `backup`, restoring a finished record into `job_dir`, or marks the
/// job as started.
pub fn prelude(backup: &Path, job_dir: &Path) -> std::io::Result<Prelude> {
    let recorded: Option<JobStatus> = json_file::read(&backup.join(STATUS_FILE)).ok();
    match recorded {
        Some(status) if status != started_marker() => {
            copy_record(backup, job_dir)?;
            Ok(Prelude::AlreadyDone(status))
        }
        _ => {
            std::fs::create_dir_all(backup)?;
            json_file::write(&backup.join(STATUS_FILE), &started_marker(), None)
                .map_err(std::io::Error::other)?;
            Ok(Prelude::Run)
        }
    }
}

/// Saves the job's final record into the backup.
pub fn record(backup: &Path, job_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(backup)?;
    copy_record(job_dir, backup)
}

fn copy_record(from: &Path, to: &Path) -> std::io::Result<()> {
    for f in [STATUS_FILE, PROGRESS_FILE] {
        let src: PathBuf = from.join(f);
        match std::fs::read(&src) {
            Ok(data) => bv_base::write_atomic(&to.join(f), &data)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_once_then_restores_and_reruns_after_interruption() {
        let root = tempfile::tempdir().unwrap();
        let backup = root.path().join("data/.babel_jobs/j");
        let job_dir = root.path().join("jobs/j");
        std::fs::create_dir_all(&job_dir).unwrap();
        assert_eq!(prelude(&backup, &job_dir).unwrap(), Prelude::Run);
        // Interrupted: the marker is still there, the job runs again.
        assert_eq!(prelude(&backup, &job_dir).unwrap(), Prelude::Run);
        let done = JobStatus::finished(Some(0), "");
        json_file::write(&job_dir.join(STATUS_FILE), &done, None).unwrap();
        record(&backup, &job_dir).unwrap();
        std::fs::remove_file(job_dir.join(STATUS_FILE)).unwrap();
        assert_eq!(
            prelude(&backup, &job_dir).unwrap(),
            Prelude::AlreadyDone(done.clone())
        );
        let restored: JobStatus = json_file::read(&job_dir.join(STATUS_FILE)).unwrap();
        assert_eq!(restored, done);
    }
}
