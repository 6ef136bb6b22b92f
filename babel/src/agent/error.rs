//! The agent's errors and their one mapping to gRPC statuses.

use std::path::PathBuf;

use babel_api::rpc::MissingField;
use tonic::Status;

use crate::fsutil::ReadJsonError;
use crate::jobs::ManagerError;
use crate::ops::files::StreamError;
use crate::ops::http::HttpError;
use crate::ops::sh::ShError;
use crate::ops::template::TemplateError;

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
    #[error("can't save {}: {source}", path.display())]
    SaveConfig {
        path: PathBuf,
        source: std::io::Error,
    },
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
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("failed to read babel config: {0}")]
    BabelConfig(ReadJsonError),
    #[error("failed to get protocol data stamp: {0}")]
    DataStamp(std::io::Error),
}

impl From<AgentError> for Status {
    fn from(err: AgentError) -> Self {
        let message = err.to_string();
        match err {
            AgentError::Missing { .. }
            | AgentError::JobConfig { .. }
            | AgentError::Job {
                source: ManagerError::Invalid(_),
                ..
            } => Status::invalid_argument(message),
            AgentError::Job {
                source: ManagerError::NotFound(_),
                ..
            } => Status::not_found(message),
            AgentError::Job { .. }
            | AgentError::Setup(_)
            | AgentError::Shutdown(_)
            | AgentError::UploadRunner(_)
            | AgentError::FileWrite(_)
            | AgentError::FileRead { .. }
            | AgentError::Sh(_)
            | AgentError::Http(_)
            | AgentError::Template(_)
            | AgentError::Task(_)
            | AgentError::BabelConfig(_)
            | AgentError::DataStamp(_) => Status::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn codes_follow_the_cause() {
        let job = |source| AgentError::Job {
            op: "start_job",
            source,
        };
        let status = Status::from(job(ManagerError::NotFound("job 'a' not found".into())));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "start_job failed: job 'a' not found");
        let status = Status::from(job(ManagerError::Invalid("bad".into())));
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = Status::from(job(ManagerError::Failed("io".into())));
        assert_eq!(status.code(), Code::Internal);
        let status = Status::from(AgentError::Missing {
            op: "setup_babel",
            source: MissingField("config"),
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        let status = Status::from(AgentError::DataStamp(std::io::Error::other("x")));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "failed to get protocol data stamp: x");
    }
}
