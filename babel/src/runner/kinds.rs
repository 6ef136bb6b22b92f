//! Job kinds: one handler per `JobType`. The runner's restart loop is the same for all of
//! them; a kind only knows how to run its job once.

use std::path::PathBuf;

use babel_api::job::{JobConfig, JobStatus};
use babel_api::node_env::NodeEnv;
use tokio::sync::watch;

use super::monitor::Monitor;

/// Everything a job kind may use.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub name: String,
    pub config: JobConfig,
    pub job_dir: PathBuf,
    pub node_env: NodeEnv,
    pub monitor: Monitor,
    /// Where `run_as` users are looked up.
    pub passwd: PathBuf,
    /// The host's BabelEngine socket (archive jobs ask it for chunk URLs).
    pub engine_socket: PathBuf,
}

/// Becomes `true` when the runner is asked to stop.
pub type ShutdownRx = watch::Receiver<bool>;

/// How one run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job ended; the restart policy decides what's next.
    Exited { code: Option<i32>, message: String },
    /// The runner was asked to stop and the job was ended; nothing is recorded.
    Interrupted,
    /// The job can't run at all; this is its final status (no restart).
    Final(JobStatus),
}

/// One kind of job.
#[tonic::async_trait]
pub trait JobKind: Send {
    /// Once before the first run (clean-up of leftovers, checks).
    async fn prepare(&mut self, _ctx: &JobContext) -> Result<(), Outcome> {
        Ok(())
    }
    /// Runs the job once, ending it when `shutdown` fires.
    async fn run_once(&mut self, ctx: &JobContext, shutdown: &mut ShutdownRx) -> Outcome;
}

/// A kind whose implementation is not available in this build: fails cleanly, once.
#[derive(Debug)]
pub struct Unsupported(pub &'static str);

#[tonic::async_trait]
impl JobKind for Unsupported {
    async fn run_once(&mut self, _ctx: &JobContext, _shutdown: &mut ShutdownRx) -> Outcome {
        Outcome::Final(JobStatus::finished(
            None,
            format!("{} jobs are not supported yet", self.0),
        ))
    }
}
