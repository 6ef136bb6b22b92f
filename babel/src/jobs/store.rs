//! The files of one job directory: `config.json`, `status.json`, `progress.json`.
//! Every write is atomic (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use babel_api::job::{JobConfig, JobProgress, JobStatus};

use bv_base::json_file::{self, JsonFileError};

use crate::fsutil;
use crate::paths::{CONFIG_FILE, PROGRESS_FILE, STATUS_FILE};

/// One job's directory.
#[derive(Debug, Clone)]
pub struct JobDir(pub PathBuf);

impl JobDir {
    pub fn new(jobs_dir: &Path, name: &str) -> Self {
        Self(jobs_dir.join(name))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn config_path(&self) -> PathBuf {
        self.0.join(CONFIG_FILE)
    }

    pub fn status_path(&self) -> PathBuf {
        self.0.join(STATUS_FILE)
    }

    /// Creates the job dir, readable by its owner only (job configs hold command lines).
    pub fn create(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.0)?;
        std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700))
    }

    /// Saves the config 0600: it holds the job's command line.
    pub fn save_config(&self, config: &JobConfig) -> Result<(), JsonFileError> {
        json_file::write(&self.config_path(), config, Some(0o600))
    }

    pub fn load_config(&self) -> Result<JobConfig, JsonFileError> {
        json_file::read(&self.config_path())
    }

    pub fn save_status(&self, status: &JobStatus) -> Result<(), JsonFileError> {
        json_file::write(&self.status_path(), status, None)
    }

    /// The runner's final status: visible at once, made durable by the agent when it reads
    /// it (see [`JobDir::sync_status`]), so the job's end is not delayed by an fsync.
    pub fn publish_status(&self, status: &JobStatus) -> std::io::Result<()> {
        let data = serde_json::to_vec(status).map_err(std::io::Error::other)?;
        let mut file = bv_base::AtomicFile::create(&self.status_path(), None)?;
        file.write_all(&data)?;
        file.commit_unsynced()
    }

    /// fsyncs `status.json` and the job dir.
    pub fn sync_status(&self) -> std::io::Result<()> {
        bv_base::sync_file(&self.status_path())
    }

    /// The saved status and the file's mtime (the time of that state change).
    pub fn load_status(&self) -> Result<(JobStatus, SystemTime), JsonFileError> {
        let status = json_file::read(&self.status_path())?;
        let mtime = std::fs::metadata(self.status_path())
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        Ok((status, mtime))
    }

    pub fn clear_status(&self) -> std::io::Result<()> {
        fsutil::remove_if_exists(&self.status_path())
    }

    pub fn load_progress(&self) -> Option<JobProgress> {
        json_file::read(&self.0.join(PROGRESS_FILE)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel_api::job::{JobType, RestartPolicy};

    #[test]
    fn config_and_status_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let dir = JobDir::new(root.path(), "j");
        dir.create().unwrap();
        let cfg = JobConfig::new(JobType::RunSh("true".into()), RestartPolicy::Never);
        dir.save_config(&cfg).unwrap();
        assert_eq!(dir.load_config().unwrap(), cfg);
        assert!(dir.load_status().unwrap_err().is_not_found());
        dir.save_status(&JobStatus::Stopped).unwrap();
        assert_eq!(dir.load_status().unwrap().0, JobStatus::Stopped);
        dir.clear_status().unwrap();
        dir.clear_status().unwrap();
        assert!(dir.load_progress().is_none());
    }

    #[test]
    fn job_dir_and_config_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let dir = JobDir::new(root.path(), "j");
        dir.create().unwrap();
        dir.save_config(&JobConfig::new(
            JobType::RunSh("secret --key x".into()),
            RestartPolicy::Never,
        ))
        .unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.config_path()), 0o600);
    }
}
