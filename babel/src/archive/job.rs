//! The `download` and `upload` job kinds: adapters from the job runner to the
//! transfers, talking to the host's `BabelEngine` service on the engine socket.
//!
//! * download: when the protocol data lock exists the job succeeds at once with
//!   `job '<name>' finished`; otherwise it runs the [`Downloader`].
//! * upload: bad parameters (exclude globs, `number_of_chunks: 0`) end the job without
//!   restarts; otherwise it runs the [`Uploader`] with the current data stamp.
//!
//! Success → exit code 0 and `job '<name>' finished`; failure → exit code -1 and
//! `job '<name>' failed with: <error>` for the restart policy to judge; a stop request aborts
//! the transfer and records nothing (the transfer resumes on the next start).

use std::path::Path;
use std::sync::Arc;

use babel_api::job::{JobStatus, JobType};
use tokio_util::sync::CancellationToken;

use super::engine::EngineBackend;
use super::plan::compile_excludes;
use super::state::{Progress, StateDir};
use super::upload::UploadParams;
use super::{ArchiveBackend, ArchiveError, ConfigError, Downloader, TransferOptions, Uploader};
use crate::paths::protocol_data_lock;
use crate::runner::kinds::{JobContext, JobKind, Outcome, ShutdownRx};

/// The handler of an archive job type (`None` for other types).
pub fn kind_for(job_type: &JobType) -> Option<Box<dyn JobKind>> {
    match job_type {
        JobType::Download {
            max_connections,
            max_runners,
        } => Some(Box::new(DownloadJob {
            opts: TransferOptions::with_limits(*max_connections, *max_runners),
        })),
        JobType::Upload { .. } => Some(Box::new(UploadJob {
            job_type: job_type.clone(),
        })),
        JobType::RunSh(_) => None,
    }
}

#[derive(Debug)]
pub struct DownloadJob {
    opts: TransferOptions,
}

#[derive(Debug)]
pub struct UploadJob {
    job_type: JobType,
}

/// A cancellation token fired by the runner's shutdown channel.
fn cancel_on(shutdown: &ShutdownRx) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let mut rx = shutdown.clone();
    let t = token.clone();
    let watcher = tokio::spawn(async move {
        let _ = rx.wait_for(|s| *s).await;
        t.cancel();
    });
    (token, watcher)
}

/// Turns a transfer result into the job outcome.
async fn outcome<T>(
    ctx: &JobContext,
    engine: &EngineBackend,
    result: Result<T, ArchiveError>,
) -> Outcome {
    match result {
        Ok(_) => Outcome::Exited {
            code: Some(0),
            message: format!("job '{}' finished", ctx.name),
        },
        Err(ArchiveError::Interrupted(_)) => Outcome::Interrupted,
        Err(e) => {
            let message = format!("job '{}' failed with: {e}", ctx.name);
            if matches!(e, ArchiveError::Manifest(_)) {
                engine.bv_error(&message).await;
            }
            Outcome::Exited {
                code: Some(-1),
                message,
            }
        }
    }
}

#[tonic::async_trait]
impl JobKind for DownloadJob {
    async fn run_once(&mut self, ctx: &JobContext, shutdown: &mut ShutdownRx) -> Outcome {
        if protocol_data_lock(&ctx.node_env).exists() {
            return Outcome::Final(JobStatus::finished(
                Some(0),
                format!("job '{}' finished", ctx.name),
            ));
        }
        let engine = EngineBackend::new(&ctx.engine_socket);
        let backend: Arc<dyn ArchiveBackend> = Arc::new(engine.clone());
        let (cancel, watcher) = cancel_on(shutdown);
        let downloader = Downloader::new(
            backend,
            StateDir::new(Path::new(&ctx.node_env.data_mount_point)),
            Progress::in_job_dir(&ctx.job_dir),
            self.opts.clone(),
            cancel,
        );
        let result = downloader
            .run(Path::new(&ctx.node_env.protocol_data_path))
            .await;
        watcher.abort();
        outcome(ctx, &engine, result).await
    }
}

impl UploadJob {
    fn params(&self, ctx: &JobContext) -> Result<(UploadParams, TransferOptions), ArchiveError> {
        let JobType::Upload {
            exclude,
            compression,
            max_connections,
            max_runners,
            number_of_chunks,
            url_expires_secs,
            data_version,
        } = &self.job_type
        else {
            return Err(ConfigError::NotUpload.into());
        };
        let exclude = exclude.clone().unwrap_or_default();
        compile_excludes(&exclude)?;
        if *number_of_chunks == Some(0) {
            return Err(ConfigError::NoChunks.into());
        }
        let data_stamp = std::fs::metadata(protocol_data_lock(&ctx.node_env))
            .and_then(|m| m.modified())
            .ok();
        let params = UploadParams {
            source: ctx.node_env.protocol_data_path.clone().into(),
            exclude,
            compression: *compression,
            number_of_chunks: *number_of_chunks,
            url_expires_secs: *url_expires_secs,
            data_version: *data_version,
            data_stamp,
        };
        Ok((
            params,
            TransferOptions::with_limits(*max_connections, *max_runners),
        ))
    }
}

#[tonic::async_trait]
impl JobKind for UploadJob {
    async fn prepare(&mut self, ctx: &JobContext) -> Result<(), Outcome> {
        self.params(ctx).map(|_| ()).map_err(|e| {
            Outcome::Final(JobStatus::finished(
                None,
                format!("job '{}' failed with: {e}", ctx.name),
            ))
        })
    }

    async fn run_once(&mut self, ctx: &JobContext, shutdown: &mut ShutdownRx) -> Outcome {
        let engine = EngineBackend::new(&ctx.engine_socket);
        let (params, opts) = match self.params(ctx) {
            Ok(p) => p,
            Err(e) => return outcome::<()>(ctx, &engine, Err(e)).await,
        };
        let backend: Arc<dyn ArchiveBackend> = Arc::new(engine.clone());
        let (cancel, watcher) = cancel_on(shutdown);
        let uploader = Uploader::new(
            backend,
            StateDir::new(Path::new(&ctx.node_env.data_mount_point)),
            Progress::in_job_dir(&ctx.job_dir),
            opts,
            cancel,
        );
        let result = uploader.run(&params).await;
        watcher.abort();
        outcome(ctx, &engine, result).await
    }
}
