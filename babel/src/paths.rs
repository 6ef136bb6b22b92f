//! Where the agent and its runners keep things. Every path comes from flags (with in-node
//! defaults), so tests and the host daemon can run many agents side by side.

use std::path::{Path, PathBuf};

use babel_api::node_env::{NodeEnv, PROTOCOL_DATA_LOCK};

/// Default Babel API socket inside the node.
pub const DEFAULT_SOCKET: &str = "/run/babel/babel.socket";
/// Default jobs directory inside the node.
pub const DEFAULT_JOBS_DIR: &str = "/var/lib/babel/jobs";
/// Default persisted `BabelConfig` inside the node.
pub const DEFAULT_CONFIG: &str = "/var/lib/babel/babel.conf";
/// Default JobsMonitor socket inside the node.
pub const DEFAULT_MONITOR_SOCKET: &str = "/var/lib/babel/jobs_monitor.socket";
/// Default host BabelEngine socket inside the node.
pub const DEFAULT_ENGINE_SOCKET: &str = "/run/babel/engine.socket";

/// Files of one job directory.
pub const CONFIG_FILE: &str = "config.json";
pub const STATUS_FILE: &str = "status.json";
pub const PROGRESS_FILE: &str = "progress.json";
pub const LOGS_FILE: &str = "logs";
/// Process group of the job's processes, so a new runner can clean up after a killed one.
pub const PGID_FILE: &str = "job.pgid";
/// The runner's own diagnostics (stderr).
pub const RUNNER_LOG_FILE: &str = "runner.log";

/// The paths a runner needs; babel passes them on the runner's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerPaths {
    pub jobs_dir: PathBuf,
    pub config: PathBuf,
    pub monitor_socket: PathBuf,
    pub engine_socket: PathBuf,
}

impl RunnerPaths {
    pub fn job_dir(&self, name: &str) -> PathBuf {
        self.jobs_dir.join(name)
    }

    /// Runner command-line arguments (everything after the executable).
    pub fn runner_args(&self, job_name: &str) -> Vec<std::ffi::OsString> {
        vec![
            "--jobs-dir".into(),
            self.jobs_dir.clone().into_os_string(),
            "--config".into(),
            self.config.clone().into_os_string(),
            "--monitor-socket".into(),
            self.monitor_socket.clone().into_os_string(),
            "--engine-socket".into(),
            self.engine_socket.clone().into_os_string(),
            "--".into(),
            job_name.into(),
        ]
    }

    /// `post_setup.sh` next to the persisted config.
    pub fn post_setup_script(&self) -> PathBuf {
        self.config
            .parent()
            .unwrap_or(Path::new("/"))
            .join("post_setup.sh")
    }
}

/// `<data_mount_point>/.protocol_data.lock`
pub fn protocol_data_lock(env: &NodeEnv) -> PathBuf {
    Path::new(&env.data_mount_point).join(PROTOCOL_DATA_LOCK)
}

/// `<data_mount_point>/.babel_jobs/<name>/`, the one-time job backup.
pub fn one_time_backup_dir(env: &NodeEnv, name: &str) -> PathBuf {
    Path::new(&env.data_mount_point)
        .join(".babel_jobs")
        .join(name)
}

/// Why a job name can't be a job directory name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobNameError {
    #[error("empty job name is not allowed")]
    Empty,
    #[error("invalid job name '{0}': must be a single path component")]
    NotOneComponent(String),
}

/// A job name must be usable as one directory name.
pub fn validate_job_name(name: &str) -> Result<(), JobNameError> {
    if name.is_empty() {
        return Err(JobNameError::Empty);
    }
    if name.len() > 200 || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(JobNameError::NotOneComponent(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_single_components() {
        assert!(validate_job_name("nginx_1").is_ok());
        assert!(validate_job_name("").is_err());
        assert!(validate_job_name("..").is_err());
        assert!(validate_job_name("a/b").is_err());
    }

    #[test]
    fn runner_args_end_with_the_name() {
        let p = RunnerPaths {
            jobs_dir: "/j".into(),
            config: "/c".into(),
            monitor_socket: "/m".into(),
            engine_socket: "/e".into(),
        };
        let args = p.runner_args("x");
        assert_eq!(args.last().unwrap(), "x");
        assert_eq!(args.len(), 10);
        assert_eq!(p.post_setup_script(), PathBuf::from("/post_setup.sh"));
    }
}
