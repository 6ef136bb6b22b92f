//! The `Babel` gRPC service: thin translation between messages and the agent's parts.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use babel_api::engine::{JrpcRequest, RestRequest};
use babel_api::node_env::BabelConfig;
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_server::Babel;
use babel_api::rpc;
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::error::AgentError;
use super::state::Agent;
use crate::ops;

/// Default timeout of run_sh / run_jrpc / run_rest when the request gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Added to the active jobs' shutdown time for babel's own shutdown.
pub const SHUTDOWN_MARGIN: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct BabelService(pub Arc<Agent>);

type Res<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The error of job operation `op`, for `map_err`.
fn job_err(op: &'static str) -> impl FnOnce(crate::jobs::ManagerError) -> AgentError {
    move |source| AgentError::Job { op, source }
}

/// A required field of a request message.
fn required<T>(op: &'static str, field: &'static str, value: Option<T>) -> Result<T, AgentError> {
    value.ok_or(AgentError::Missing {
        op,
        source: babel_api::rpc::MissingField(field),
    })
}

fn timeout_of(ms: u64) -> Duration {
    if ms == 0 {
        DEFAULT_TIMEOUT
    } else {
        Duration::from_millis(ms)
    }
}

fn headers(h: Vec<pb::Header>) -> Option<Vec<(String, String)>> {
    (!h.is_empty()).then(|| h.into_iter().map(|h| (h.name, h.value)).collect())
}

fn timeout_response(d: Duration) -> Response<pb::ShutdownTimeoutResponse> {
    Response::new(pb::ShutdownTimeoutResponse {
        timeout_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    })
}

impl BabelService {
    fn manager(&self) -> &crate::jobs::JobsManager {
        &self.0.manager
    }
}

#[tonic::async_trait]
impl Babel for BabelService {
    async fn get_version(&self, _: Request<pb::GetVersionRequest>) -> Res<pb::GetVersionResponse> {
        Ok(Response::new(pb::GetVersionResponse {
            version: babel_api::VERSION.to_string(),
        }))
    }

    async fn setup_babel(
        &self,
        req: Request<pb::SetupBabelRequest>,
    ) -> Res<pb::SetupBabelResponse> {
        let cfg = required("setup_babel", "config", req.into_inner().config)?;
        let cfg = BabelConfig::try_from(cfg).map_err(|source| AgentError::Missing {
            op: "setup_babel",
            source,
        })?;
        super::setup::setup_babel(&self.0, cfg)
            .await
            .map_err(AgentError::Setup)?;
        Ok(Response::new(pb::SetupBabelResponse {}))
    }

    async fn get_babel_shutdown_timeout(
        &self,
        _: Request<pb::GetBabelShutdownTimeoutRequest>,
    ) -> Res<pb::ShutdownTimeoutResponse> {
        Ok(timeout_response(
            self.manager().active_jobs_shutdown_timeout() + SHUTDOWN_MARGIN,
        ))
    }

    async fn shutdown_babel(
        &self,
        req: Request<pb::ShutdownBabelRequest>,
    ) -> Res<pb::ShutdownBabelResponse> {
        self.manager()
            .shutdown(req.into_inner().force)
            .await
            .map_err(AgentError::Shutdown)?;
        Ok(Response::new(pb::ShutdownBabelResponse {}))
    }

    async fn check_job_runner(
        &self,
        req: Request<pb::CheckJobRunnerRequest>,
    ) -> Res<pb::CheckJobRunnerResponse> {
        let status = self.0.runner_bin.check(req.into_inner().checksum).await;
        Ok(Response::new(pb::CheckJobRunnerResponse {
            status: status.into(),
        }))
    }

    async fn upload_job_runner(
        &self,
        req: Request<Streaming<pb::FileChunk>>,
    ) -> Res<pb::UploadJobRunnerResponse> {
        self.0
            .runner_bin
            .upload(req.into_inner())
            .await
            .map_err(AgentError::UploadRunner)?;
        Ok(Response::new(pb::UploadJobRunnerResponse {}))
    }

    async fn create_job(&self, req: Request<pb::CreateJobRequest>) -> Res<pb::JobActionResponse> {
        let req = req.into_inner();
        let name = req.name.trim().to_string();
        let config = required("create_job", "config", req.config)?;
        let config = babel_api::job::JobConfig::try_from(config).map_err(|source| {
            AgentError::JobConfig {
                name: name.clone(),
                source,
            }
        })?;
        self.manager()
            .create(&name, config)
            .await
            .map_err(job_err("create_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn start_job(&self, req: Request<pb::JobRequest>) -> Res<pb::JobActionResponse> {
        self.manager()
            .start(&req.into_inner().name)
            .map_err(job_err("start_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn stop_job(&self, req: Request<pb::JobRequest>) -> Res<pb::JobActionResponse> {
        self.manager()
            .stop(&req.into_inner().name)
            .await
            .map_err(job_err("stop_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn skip_job(&self, req: Request<pb::JobRequest>) -> Res<pb::JobActionResponse> {
        self.manager()
            .skip(&req.into_inner().name)
            .await
            .map_err(job_err("skip_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn cleanup_job(&self, req: Request<pb::JobRequest>) -> Res<pb::JobActionResponse> {
        self.manager()
            .cleanup(&req.into_inner().name)
            .map_err(job_err("cleanup_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn restart_job(&self, req: Request<pb::JobRequest>) -> Res<pb::JobActionResponse> {
        self.manager()
            .restart(&req.into_inner().name)
            .await
            .map_err(job_err("restart_job"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn stop_all_jobs(
        &self,
        _: Request<pb::StopAllJobsRequest>,
    ) -> Res<pb::JobActionResponse> {
        self.manager()
            .stop_all()
            .await
            .map_err(job_err("stop_all_jobs"))?;
        Ok(Response::new(pb::JobActionResponse {}))
    }

    async fn job_info(&self, req: Request<pb::JobRequest>) -> Res<pb::JobInfoResponse> {
        let info = self
            .manager()
            .info(&req.into_inner().name)
            .map_err(job_err("job_status"))?;
        Ok(Response::new(pb::JobInfoResponse {
            info: Some(info.into()),
        }))
    }

    async fn get_jobs(&self, _: Request<pb::GetJobsRequest>) -> Res<pb::GetJobsResponse> {
        let jobs = self
            .manager()
            .list()
            .into_iter()
            .map(|(name, info)| pb::JobEntry {
                name,
                info: Some(info.into()),
            })
            .collect();
        Ok(Response::new(pb::GetJobsResponse { jobs }))
    }

    async fn get_job_shutdown_timeout(
        &self,
        req: Request<pb::JobRequest>,
    ) -> Res<pb::ShutdownTimeoutResponse> {
        let t = self
            .manager()
            .job_shutdown_timeout(&req.into_inner().name)
            .map_err(job_err("get_job_shutdown_timeout"))?;
        Ok(timeout_response(t))
    }

    async fn get_active_jobs_shutdown_timeout(
        &self,
        _: Request<pb::GetActiveJobsShutdownTimeoutRequest>,
    ) -> Res<pb::ShutdownTimeoutResponse> {
        Ok(timeout_response(
            self.manager().active_jobs_shutdown_timeout(),
        ))
    }

    type JobLogsStream = BoxStream<pb::LogLine>;

    async fn job_logs(&self, req: Request<pb::JobLogsRequest>) -> Res<Self::JobLogsStream> {
        let req = req.into_inner();
        let names = if req.name.is_empty() {
            self.manager().job_names()
        } else {
            self.manager()
                .info(&req.name)
                .map_err(job_err("job_logs"))?;
            vec![req.name]
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for job in names {
            let path = self
                .manager()
                .jobs_dir()
                .join(&job)
                .join(crate::paths::LOGS_FILE);
            let make = move |line| {
                Ok(pb::LogLine {
                    job: job.clone(),
                    line,
                })
            };
            tokio::spawn(crate::logs::tail::stream_log(
                path,
                req.lines as usize,
                req.follow,
                make,
                tx.clone(),
            ));
        }
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn run_sh(&self, req: Request<pb::RunShRequest>) -> Res<pb::ShResponse> {
        let req = req.into_inner();
        let r = ops::sh::run_sh(&req.body, timeout_of(req.timeout_ms))
            .await
            .map_err(AgentError::from)?;
        Ok(Response::new(pb::ShResponse {
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
        }))
    }

    async fn run_jrpc(&self, req: Request<pb::RunJrpcRequest>) -> Res<pb::HttpResponse> {
        let req = req.into_inner();
        let timeout = timeout_of(req.timeout_ms);
        let jrpc = JrpcRequest {
            host: req.host,
            method: req.method,
            params: req.params,
            headers: headers(req.headers),
        };
        let r = ops::http::run_jrpc(&jrpc, timeout)
            .await
            .map_err(AgentError::from)?;
        Ok(Response::new(pb::HttpResponse {
            status_code: r.status_code.into(),
            body: r.body,
        }))
    }

    async fn run_rest(&self, req: Request<pb::RunRestRequest>) -> Res<pb::HttpResponse> {
        let req = req.into_inner();
        let timeout = timeout_of(req.timeout_ms);
        let rest = RestRequest {
            url: req.url,
            headers: headers(req.headers),
        };
        let r = ops::http::run_rest(&rest, timeout)
            .await
            .map_err(AgentError::from)?;
        Ok(Response::new(pb::HttpResponse {
            status_code: r.status_code.into(),
            body: r.body,
        }))
    }

    async fn render_template(
        &self,
        req: Request<pb::RenderTemplateRequest>,
    ) -> Res<pb::RenderTemplateResponse> {
        let req = req.into_inner();
        tokio::task::spawn_blocking(move || {
            ops::template::render_template(
                req.template.as_ref(),
                req.destination.as_ref(),
                &req.params,
            )
        })
        .await
        .map_err(AgentError::Task)?
        .map_err(AgentError::Template)?;
        Ok(Response::new(pb::RenderTemplateResponse {}))
    }

    async fn file_write(
        &self,
        req: Request<Streaming<pb::FileChunk>>,
    ) -> Res<pb::FileWriteResponse> {
        ops::files::receive_file(req.into_inner(), None)
            .await
            .map_err(AgentError::FileWrite)?;
        Ok(Response::new(pb::FileWriteResponse {}))
    }

    type FileReadStream = BoxStream<pb::FileChunk>;

    async fn file_read(&self, req: Request<pb::FileReadRequest>) -> Res<Self::FileReadStream> {
        let path = std::path::PathBuf::from(req.into_inner().path);
        if let Err(source) = std::fs::metadata(&path) {
            return Err(AgentError::FileRead { path, source }.into());
        }
        let chunks = ops::files::send_file(path.clone()).map(move |item| {
            item.map_err(|source| {
                Status::from(AgentError::FileRead {
                    path: path.clone(),
                    source,
                })
            })
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn protocol_data_stamp(
        &self,
        _: Request<pb::ProtocolDataStampRequest>,
    ) -> Res<pb::ProtocolDataStampResponse> {
        let env = match self.manager().node_env() {
            Some(env) => env,
            None => {
                bv_base::json_file::read::<BabelConfig>(&self.0.config.runner.config)
                    .map_err(AgentError::BabelConfig)?
                    .node_env
            }
        };
        let lock = crate::paths::protocol_data_lock(&env);
        let stamp = match std::fs::metadata(&lock) {
            Ok(m) => Some(m.modified().map_err(AgentError::DataStamp)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AgentError::DataStamp(e).into()),
        };
        Ok(Response::new(pb::ProtocolDataStampResponse {
            stamp: stamp.map(rpc::timestamp),
        }))
    }
}
