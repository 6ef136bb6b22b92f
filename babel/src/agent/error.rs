//! The agent's errors and their one mapping to gRPC statuses.

use std::path::PathBuf;

use babel_api::rpc::MissingField;
use tonic::{Code, Status};

use crate::jobs::ManagerError;
use crate::ops::files::StreamError;
use crate::ops::http::HttpError;
use crate::ops::sh::ShError;
use crate::ops::template::TemplateError;
use bv_base::json_file::JsonFileError;

/// Why `setup_babel` failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("can't create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("can't mount tmpfs of {size_mb} MB on {}: {source}", path.display())]
    Mount {
        path: PathBuf,
        size_mb: u64,
        source: nix::Error,
    },
    #[error("can't save the config: {0}")]
    SaveConfig(JsonFileError),
    #[error("can't run {}: {source}", path.display())]
    RunHook {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} failed with {status}: {stderr}", path.display())]
    HookFailed {
        path: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("failed to startup jobs_manger: {0}")]
    Startup(ManagerError),
}

/// Every way a `Babel` request can fail; [`From<AgentError> for Status`] is the only place
/// that picks a gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A request message lacked a required field.
    #[error("{op} failed: {source}")]
    Missing {
        op: &'static str,
        source: MissingField,
    },
    #[error("create_job failed: job '{name}': {source}")]
    JobConfig { name: String, source: MissingField },
    #[error("{op} failed: {source}")]
    Job {
        op: &'static str,
        source: ManagerError,
    },
    #[error("failed to setup node with: {0}")]
    Setup(#[from] SetupError),
    #[error("failed to shutdown jobs_manger: {0}")]
    Shutdown(ManagerError),
    #[error("upload_job_runner failed: {0}")]
    UploadRunner(StreamError),
    #[error("file_write failed: {0}")]
    FileWrite(StreamError),
    #[error("file_read {} failed: {source}", path.display())]
    FileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sh(#[from] ShError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("failed to read babel config: {0}")]
    BabelConfig(JsonFileError),
    #[error("failed to get protocol data stamp: {0}")]
    DataStamp(std::io::Error),
}

impl From<AgentError> for Status {
    fn from(err: AgentError) -> Self {
        let code = match &err {
            AgentError::Missing { .. } | AgentError::JobConfig { .. } => Code::InvalidArgument,
            AgentError::Job { source, .. } => job_code(source),
            AgentError::Setup(_)
            | AgentError::Shutdown(_)
            | AgentError::UploadRunner(_)
            | AgentError::FileWrite(_)
            | AgentError::FileRead { .. }
            | AgentError::Sh(_)
            | AgentError::Http(_)
            | AgentError::Template(_)
            | AgentError::Task(_)
            | AgentError::BabelConfig(_)
            | AgentError::DataStamp(_) => Code::Internal,
        };
        Status::new(code, err.to_string())
    }
}

/// The code of a failed job command: the caller's mistake (no such job, a refused config)
/// or the agent's failure.
fn job_code(err: &ManagerError) -> Code {
    match err {
        ManagerError::NotFound { .. } | ManagerError::NoStatus { .. } => Code::NotFound,
        ManagerError::Invalid(_) => Code::InvalidArgument,
        ManagerError::TooManyJobs
        | ManagerError::JobsDir { .. }
        | ManagerError::Store { .. }
        | ManagerError::CleanupWithoutNodeEnv { .. }
        | ManagerError::CleanupActive { .. }
        | ManagerError::Cleanup { .. }
        | ManagerError::TerminateTimeout { .. } => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::archive::ArchiveError;
    use crate::jobs::validate::{FieldProblem, InvalidJob};
    use crate::paths::JobNameError;

    fn io() -> std::io::Error {
        std::io::Error::other("x")
    }

    fn sh_error() -> ShError {
        ShError::Timeout {
            body: "sleep 9".into(),
            timeout: std::time::Duration::from_secs(1),
        }
    }

    fn http_error() -> HttpError {
        HttpError::Params(serde_json::from_str::<u32>("x").unwrap_err())
    }

    fn job(source: ManagerError) -> AgentError {
        AgentError::Job {
            op: "start_job",
            source,
        }
    }

    /// Every job command error, with its code and message.
    fn job_errors() -> Vec<(ManagerError, Code, &'static str)> {
        let name = || "a".to_string();
        vec![
            (
                ManagerError::NotFound {
                    op: "start",
                    name: name(),
                },
                Code::NotFound,
                "can't start, job 'a' not found",
            ),
            (
                ManagerError::NoStatus { name: name() },
                Code::NotFound,
                "unknown status, job 'a' not found",
            ),
            (
                ManagerError::Invalid(InvalidJob::Name(JobNameError::Empty)),
                Code::InvalidArgument,
                "empty job name is not allowed",
            ),
            (
                ManagerError::Invalid(InvalidJob::Field {
                    name: name(),
                    field: "run_as",
                    problem: FieldProblem::UnknownUser("u".into()),
                }),
                Code::InvalidArgument,
                "job 'a': invalid `run_as`: cant run as a 'u': user not found",
            ),
            (
                ManagerError::TooManyJobs,
                Code::Internal,
                "Exceeded max number of supported jobs: 16",
            ),
            (
                ManagerError::JobsDir {
                    path: "/j".into(),
                    source: io(),
                },
                Code::Internal,
                "can't create jobs dir /j: x",
            ),
            (
                ManagerError::Store {
                    name: name(),
                    source: JsonFileError::Write {
                        path: "/j/a/status.json".into(),
                        source: io(),
                    },
                },
                Code::Internal,
                "job 'a': writing /j/a/status.json: x",
            ),
            (
                ManagerError::CleanupWithoutNodeEnv { name: name() },
                Code::Internal,
                "can't cleanup, job 'a', missing node_env",
            ),
            (
                ManagerError::CleanupActive { name: name() },
                Code::Internal,
                "can't cleanup active job 'a'",
            ),
            (
                ManagerError::Cleanup {
                    name: name(),
                    source: ArchiveError::file("remove", Path::new("/d/chunks"))(io()),
                },
                Code::Internal,
                "can't cleanup job 'a': can't remove /d/chunks: x",
            ),
            (
                ManagerError::TerminateTimeout {
                    name: name(),
                    pid: 7,
                },
                Code::Internal,
                "Failed to terminate job_runner for 'a' job (pid 7), timeout expired!",
            ),
        ]
    }

    #[test]
    fn job_errors_keep_their_codes_and_messages() {
        for (source, code, message) in job_errors() {
            let status = Status::from(job(source));
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), format!("start_job failed: {message}"));
        }
    }

    /// Archive errors reach a client only through `cleanup_job`.
    #[tokio::test]
    async fn archive_errors_keep_their_code() {
        for (source, message, _) in crate::archive::error::examples().await {
            let status = Status::from(job(ManagerError::Cleanup {
                name: "a".into(),
                source,
            }));
            assert_eq!(status.code(), Code::Internal, "{message}");
            assert_eq!(
                status.message(),
                format!("start_job failed: can't cleanup job 'a': {message}")
            );
        }
    }

    #[tokio::test]
    async fn agent_errors_keep_their_codes() {
        let join_error = tokio::spawn(async { panic!("boom") }).await.unwrap_err();
        let table: Vec<(AgentError, Code)> = vec![
            (
                AgentError::Missing {
                    op: "setup_babel",
                    source: MissingField("config"),
                },
                Code::InvalidArgument,
            ),
            (
                AgentError::JobConfig {
                    name: "a".into(),
                    source: MissingField("job_type"),
                },
                Code::InvalidArgument,
            ),
            (job(ManagerError::TooManyJobs), Code::Internal),
            (
                AgentError::Setup(SetupError::CreateDir {
                    path: "/d".into(),
                    source: io(),
                }),
                Code::Internal,
            ),
            (
                AgentError::Shutdown(ManagerError::TooManyJobs),
                Code::Internal,
            ),
            (
                AgentError::UploadRunner(StreamError::MissingChecksum),
                Code::Internal,
            ),
            (
                AgentError::FileWrite(StreamError::MissingDestination),
                Code::Internal,
            ),
            (
                AgentError::FileRead {
                    path: "/f".into(),
                    source: io(),
                },
                Code::Internal,
            ),
            (AgentError::Sh(sh_error()), Code::Internal),
            (AgentError::Http(http_error()), Code::Internal),
            (
                AgentError::Template(
                    crate::ops::template::render_template(
                        Path::new("/nonexistent/template"),
                        Path::new("/nonexistent/out"),
                        "{}",
                    )
                    .unwrap_err(),
                ),
                Code::Internal,
            ),
            (AgentError::Task(join_error), Code::Internal),
            (
                AgentError::BabelConfig(
                    bv_base::json_file::read::<u32>(Path::new("/nonexistent/babel.conf"))
                        .unwrap_err(),
                ),
                Code::Internal,
            ),
            (AgentError::DataStamp(io()), Code::Internal),
        ];
        for (err, code) in table {
            let message = err.to_string();
            let status = Status::from(err);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
        let status = Status::from(AgentError::DataStamp(io()));
        assert_eq!(status.message(), "failed to get protocol data stamp: x");
    }
}
