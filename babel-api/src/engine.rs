//! The `Engine` seam: every node-side effect a plugin can cause.
//!
//! The Rhai plugin host calls only this trait. blockvisord implements it by forwarding to the
//! node's babel agent (and to the control-plane API for archives and secrets); tests and the
//! linter implement it with fakes. Calls are synchronous because Rhai is: the host runs plugin
//! code on a blocking thread and bridges to async I/O itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::job::{JobConfig, JobInfo, JobsInfo};
use crate::node_env::NodeEnv;

/// Default timeout of `run_sh`, `run_jrpc` and `run_rest` when the plugin gives none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// An engine implementation's own error (the host's scheduler or API link, a test double).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an engine call failed. Plugin scripts see the message, so it names what failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The thing asked for does not exist (a secret, a job, a file).
    #[error("not found: {0}")]
    NotFound(String),
    /// The call did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A job call named no job.
    #[error("job name is empty")]
    EmptyJobName,
    /// The node's agent refused or failed the call with this status.
    #[error("{}", agent_text(.0))]
    Agent(tonic::Status),
    /// The control-plane API refused or failed the call with this status.
    #[error("API: {}", .0.message())]
    Api(tonic::Status),
    /// The agent answered a job query without the job's info.
    #[error("babel sent no job info")]
    NoJobInfo,
    /// The agent's job info lacks a field.
    #[error(transparent)]
    JobInfo(#[from] crate::rpc::MissingField),
    #[error("reading {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The engine's own failure, with its error as the source.
    #[error(transparent)]
    Engine(BoxError),
}

/// What a script sees of an agent status: its message, marked when the code says the thing
/// was missing or the call ran out of time.
fn agent_text(status: &tonic::Status) -> String {
    match status.code() {
        tonic::Code::NotFound => format!("not found: {}", status.message()),
        tonic::Code::DeadlineExceeded => format!("timed out: {}", status.message()),
        _ => status.message().to_string(),
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JrpcRequest {
    pub host: String,
    pub method: String,
    /// JSON text of the params (an object or an array).
    pub params: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestRequest {
    pub url: String,
    pub headers: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status_code: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShResponse {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Node-side effects available to a plugin. Implementations must be cheap to share.
pub trait Engine: Send + Sync + 'static {
    fn create_job(&self, job_name: &str, job_config: JobConfig) -> EngineResult<()>;
    fn start_job(&self, job_name: &str) -> EngineResult<()>;
    fn stop_job(&self, job_name: &str) -> EngineResult<()>;
    fn skip_job(&self, job_name: &str) -> EngineResult<()>;
    fn cleanup_job(&self, job_name: &str) -> EngineResult<()>;
    fn stop_all_jobs(&self) -> EngineResult<()>;
    fn job_info(&self, job_name: &str) -> EngineResult<JobInfo>;
    fn get_jobs(&self) -> EngineResult<JobsInfo>;

    fn run_jrpc(&self, req: JrpcRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse>;
    fn run_rest(&self, req: RestRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse>;
    fn run_sh(&self, body: &str, timeout: Option<Duration>) -> EngineResult<ShResponse>;
    /// Renders a Tera template inside the node; `params` is a JSON object.
    fn render_template(
        &self,
        template: &Path,
        destination: &Path,
        params: &str,
    ) -> EngineResult<()>;
    fn file_write(&self, path: &Path, content: Vec<u8>) -> EngineResult<()>;
    fn file_read(&self, path: &Path) -> EngineResult<Vec<u8>>;
    /// mtime of the protocol data lock file, `None` when data was never initialised.
    fn protocol_data_stamp(&self) -> EngineResult<Option<SystemTime>>;
    /// Whether the API holds a data archive for this node's store key.
    fn has_protocol_archive(&self) -> EngineResult<bool>;

    fn node_params(&self) -> BTreeMap<String, String>;
    fn node_env(&self) -> NodeEnv;
    fn save_data(&self, value: &str) -> EngineResult<()>;
    fn load_data(&self) -> EngineResult<String>;
    /// Persists the last evaluated `plugin_config` (JSON text).
    fn save_config(&self, config_json: &str) -> EngineResult<()>;
    /// The last saved `plugin_config` (JSON text), if any.
    fn load_config(&self) -> EngineResult<Option<String>>;
    fn put_secret(&self, name: &str, value: Vec<u8>) -> EngineResult<()>;
    /// `Ok(None)` when the secret does not exist.
    fn get_secret(&self, name: &str) -> EngineResult<Option<Vec<u8>>>;

    /// Schedules `function_name(function_param)` by a 6/7-field cron expression. Task names
    /// are scoped to the node.
    fn add_task(
        &self,
        task_name: &str,
        schedule: &str,
        function_name: &str,
        function_param: &str,
    ) -> EngineResult<()>;
    fn delete_task(&self, task_name: &str) -> EngineResult<()>;

    fn log(&self, level: LogLevel, message: &str);
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn each_error_says_what_failed() {
        let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let cases: Vec<(EngineError, &str)> = vec![
            (EngineError::NotFound("job x".into()), "not found: job x"),
            (EngineError::Timeout("run_sh".into()), "timed out: run_sh"),
            (EngineError::EmptyJobName, "job name is empty"),
            (
                EngineError::Agent(tonic::Status::not_found("job `a`")),
                "not found: job `a`",
            ),
            (
                EngineError::Agent(tonic::Status::deadline_exceeded("sh")),
                "timed out: sh",
            ),
            (
                EngineError::Agent(tonic::Status::invalid_argument("bad config")),
                "bad config",
            ),
            (EngineError::Agent(tonic::Status::internal("boom")), "boom"),
            (
                EngineError::Api(tonic::Status::unavailable("down")),
                "API: down",
            ),
            (EngineError::NoJobInfo, "babel sent no job info"),
            (
                EngineError::JobInfo(crate::rpc::MissingField("status")),
                "invalid message: missing field `status`",
            ),
            (
                EngineError::Read {
                    path: "/d/f".into(),
                    source: io(),
                },
                "reading /d/f: permission denied",
            ),
            (
                EngineError::Write {
                    path: "/d/f".into(),
                    source: io(),
                },
                "writing /d/f: permission denied",
            ),
            (
                EngineError::Engine("no mock matches".into()),
                "no mock matches",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text, "{err:?}");
        }
    }
}
