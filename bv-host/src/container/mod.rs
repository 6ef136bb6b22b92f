//! Container layer: a narrow runtime trait (real impl: runc), the OCI `config.json` builder
//! and the process helpers they share.

pub mod pidfd;
pub mod runc;
pub mod spec;

#[cfg(any(test, feature = "fakes"))]
pub mod fake;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{command} failed: {message}")]
    Command { command: String, message: String },
    #[error("container {0} not found")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("writing config.json: {0}")]
    Spec(#[from] SpecError),
}

/// Why a container's `config.json` could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Build(#[from] oci_spec::OciSpecError),
    /// A resource limit does not fit the spec's integer type.
    #[error(transparent)]
    TooLarge(#[from] std::num::TryFromIntError),
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// The bundle has no `config.json` to run.
    #[error("no config.json")]
    Missing,
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// What the runtime reports about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// No such container.
    Absent,
    /// Created, init not started yet.
    Created {
        pid: u32,
    },
    Running {
        pid: u32,
    },
    /// Exists but its init has exited.
    Stopped,
}

impl ContainerState {
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running { .. })
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Created { pid } | Self::Running { pid } => Some(*pid),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs containers from OCI bundles (`<bundle>/config.json` + rootfs).
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Creates the container; its init waits for `start`. Returns the init pid.
    async fn create(&self, id: &str, bundle: &Path, console: &Path) -> RuntimeResult<u32>;
    async fn start(&self, id: &str) -> RuntimeResult<()>;
    /// Create and start in one step. Returns the init pid.
    async fn run(&self, id: &str, bundle: &Path, console: &Path) -> RuntimeResult<u32>;
    async fn state(&self, id: &str) -> RuntimeResult<ContainerState>;
    /// Sends `signal` to the container's init.
    async fn kill(&self, id: &str, signal: i32) -> RuntimeResult<()>;
    /// Waits until process `pid` exits; `false` on timeout.
    async fn wait(&self, pid: u32, timeout: Duration) -> RuntimeResult<bool>;
    /// Removes a container whose init has exited (never forced).
    async fn delete(&self, id: &str) -> RuntimeResult<()>;
    /// Runs a command inside a running container and collects its output.
    async fn exec(&self, id: &str, args: &[String], env: &[String]) -> RuntimeResult<ExecOutput>;
    /// State root, for tools that exec into containers themselves (`bv node shell`).
    fn state_root(&self) -> PathBuf;
    /// Ids of every container under this runtime's state root.
    async fn list(&self) -> RuntimeResult<Vec<String>>;
    /// Removes the (empty) cgroup a container was given, if it is still there; `true` when
    /// one was removed.
    async fn remove_cgroup(&self, cgroups_path: &str) -> RuntimeResult<bool>;
}

/// Stops a container: `signal` to init, wait up to `grace`, then SIGKILL and wait, then
/// delete. Absent containers are fine.
pub async fn stop_and_delete(
    runtime: &dyn ContainerRuntime,
    id: &str,
    signal: i32,
    grace: Duration,
) -> RuntimeResult<()> {
    match runtime.state(id).await? {
        ContainerState::Absent => return Ok(()),
        ContainerState::Stopped => {}
        ContainerState::Created { pid } | ContainerState::Running { pid } => {
            runtime.kill(id, signal).await?;
            if !runtime.wait(pid, grace).await? {
                if signal != libc::SIGKILL {
                    runtime.kill(id, libc::SIGKILL).await?;
                }
                if !runtime.wait(pid, Duration::from_secs(10)).await? {
                    return Err(RuntimeError::Command {
                        command: format!("kill {id}"),
                        message: format!("init pid {pid} did not exit after SIGKILL"),
                    });
                }
            }
        }
    }
    runtime.delete(id).await
}
