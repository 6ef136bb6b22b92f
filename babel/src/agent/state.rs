//! The state the agent's services share.

use std::path::PathBuf;

use crate::jobs::JobsManager;
use crate::paths::RunnerPaths;

use super::runner_bin::JobRunnerBinary;

/// Where the agent's files and sockets are (from flags).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub socket: PathBuf,
    pub runner: RunnerPaths,
    pub job_runner: PathBuf,
    /// passwd file for `run_as` (normally `/etc/passwd`).
    pub passwd: PathBuf,
}

/// Shared state of the services.
#[derive(Debug)]
pub struct Agent {
    pub config: AgentConfig,
    pub manager: JobsManager,
    pub runner_bin: JobRunnerBinary,
}
