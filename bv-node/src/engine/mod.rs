//! Host side of the plugin `Engine`: node effects are forwarded to the node's babel over
//! gRPC (the plugin runs on a blocking thread, so calls block on the daemon's runtime);
//! plugin data/config files, secrets and scheduled tasks are handled on the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use babel_api::engine::{
    DEFAULT_REQUEST_TIMEOUT, Engine, EngineError, EngineResult, HttpResponse, JrpcRequest,
    LogLevel, RestRequest, ShResponse,
};
use babel_api::job::{JobConfig, JobInfo, JobsInfo};
use babel_api::node_env::NodeEnv;
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_client::BabelClient;
use tonic::transport::Channel;
use uuid::Uuid;

use bv_host::scheduler::{Scheduler, Task};

pub mod server;

const CHUNK: usize = 16 * 1024;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_BZIP2);

pub struct NodeEngine {
    pub node_id: Uuid,
    pub node_dir: PathBuf,
    pub env: NodeEnv,
    pub params: BTreeMap<String, String>,
    pub babel: BabelClient<Channel>,
    pub runtime: tokio::runtime::Handle,
    pub scheduler: Arc<Scheduler>,
    /// The control-plane API (secrets, "has archive").
    pub cloud: Arc<bv_host::apilink::Link>,
    pub archive: server::NodeArchive,
}

impl std::fmt::Debug for NodeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeEngine")
            .field("node_id", &self.node_id)
            .finish()
    }
}

fn ms(t: Option<Duration>) -> u64 {
    u64::try_from(t.unwrap_or(DEFAULT_REQUEST_TIMEOUT).as_millis()).unwrap_or(u64::MAX)
}

fn with_deadline<T>(msg: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT) + Duration::from_secs(5));
    req
}

impl NodeEngine {
    fn block<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    fn client(&self) -> BabelClient<Channel> {
        self.babel.clone()
    }

    fn job(&self, name: &str) -> EngineResult<pb::JobRequest> {
        if name.is_empty() {
            return Err(EngineError::EmptyJobName);
        }
        Ok(pb::JobRequest { name: name.into() })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.node_dir.join(name)
    }

    fn api(&self) -> EngineResult<Arc<bv_host::apilink::ApiClient>> {
        self.cloud
            .require()
            .map_err(|e| EngineError::Engine(Box::new(e)))
    }
}

fn read_optional(path: &Path) -> EngineResult<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EngineError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, content: &str) -> EngineResult<()> {
    bv_base::write_atomic(path, content.as_bytes()).map_err(|source| EngineError::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl Engine for NodeEngine {
    fn create_job(&self, job_name: &str, job_config: JobConfig) -> EngineResult<()> {
        self.job(job_name)?;
        let req = pb::CreateJobRequest {
            name: job_name.into(),
            config: Some(job_config.into()),
        };
        self.block(self.client().create_job(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn start_job(&self, job_name: &str) -> EngineResult<()> {
        let req = self.job(job_name)?;
        self.block(self.client().start_job(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn stop_job(&self, job_name: &str) -> EngineResult<()> {
        let req = self.job(job_name)?;
        self.block(self.client().stop_job(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn skip_job(&self, job_name: &str) -> EngineResult<()> {
        let req = self.job(job_name)?;
        self.block(self.client().skip_job(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn cleanup_job(&self, job_name: &str) -> EngineResult<()> {
        let req = self.job(job_name)?;
        self.block(self.client().cleanup_job(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn stop_all_jobs(&self) -> EngineResult<()> {
        self.block(self.client().stop_all_jobs(pb::StopAllJobsRequest {}))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn job_info(&self, job_name: &str) -> EngineResult<JobInfo> {
        let req = self.job(job_name)?;
        let info = self
            .block(self.client().job_info(req))
            .map_err(EngineError::Agent)?
            .into_inner()
            .info
            .ok_or(EngineError::NoJobInfo)?;
        Ok(JobInfo::try_from(info)?)
    }

    fn get_jobs(&self) -> EngineResult<JobsInfo> {
        let jobs = self
            .block(self.client().get_jobs(pb::GetJobsRequest {}))
            .map_err(EngineError::Agent)?
            .into_inner()
            .jobs;
        let mut out = JobsInfo::new();
        for j in jobs {
            if let Some(info) = j.info {
                out.insert(j.name, JobInfo::try_from(info)?);
            }
        }
        Ok(out)
    }

    fn run_jrpc(&self, req: JrpcRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse> {
        let msg = pb::RunJrpcRequest {
            host: req.host,
            method: req.method,
            params: req.params,
            headers: headers(req.headers),
            timeout_ms: ms(timeout),
        };
        let r = self
            .block(self.client().run_jrpc(with_deadline(msg, timeout)))
            .map_err(EngineError::Agent)?
            .into_inner();
        Ok(http(r))
    }

    fn run_rest(&self, req: RestRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse> {
        let msg = pb::RunRestRequest {
            url: req.url,
            headers: headers(req.headers),
            timeout_ms: ms(timeout),
        };
        let r = self
            .block(self.client().run_rest(with_deadline(msg, timeout)))
            .map_err(EngineError::Agent)?
            .into_inner();
        Ok(http(r))
    }

    fn run_sh(&self, body: &str, timeout: Option<Duration>) -> EngineResult<ShResponse> {
        let msg = pb::RunShRequest {
            body: body.into(),
            timeout_ms: ms(timeout),
        };
        let r = self
            .block(self.client().run_sh(with_deadline(msg, timeout)))
            .map_err(EngineError::Agent)?
            .into_inner();
        Ok(ShResponse {
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }

    fn render_template(
        &self,
        template: &Path,
        destination: &Path,
        params: &str,
    ) -> EngineResult<()> {
        let req = pb::RenderTemplateRequest {
            template: template.display().to_string(),
            destination: destination.display().to_string(),
            params: params.into(),
        };
        self.block(self.client().render_template(req))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn file_write(&self, path: &Path, content: Vec<u8>) -> EngineResult<()> {
        let checksum = CRC.checksum(&content);
        let mut parts = vec![pb::FileChunk {
            part: Some(pb::file_chunk::Part::Destination(
                path.display().to_string(),
            )),
        }];
        parts.extend(content.chunks(CHUNK).map(|c| pb::FileChunk {
            part: Some(pb::file_chunk::Part::Data(c.to_vec())),
        }));
        parts.push(pb::FileChunk {
            part: Some(pb::file_chunk::Part::Checksum(checksum)),
        });
        self.block(self.client().file_write(futures::stream::iter(parts)))
            .map_err(EngineError::Agent)?;
        Ok(())
    }

    fn file_read(&self, path: &Path) -> EngineResult<Vec<u8>> {
        let req = pb::FileReadRequest {
            path: path.display().to_string(),
        };
        self.block(async {
            let mut stream = self
                .client()
                .file_read(req)
                .await
                .map_err(EngineError::Agent)?
                .into_inner();
            let mut out = vec![];
            while let Some(chunk) = stream.message().await.map_err(EngineError::Agent)? {
                if let Some(pb::file_chunk::Part::Data(d)) = chunk.part {
                    out.extend(d);
                }
            }
            Ok(out)
        })
    }

    fn protocol_data_stamp(&self) -> EngineResult<Option<SystemTime>> {
        if self.env.dev_mode {
            return Ok(Some(SystemTime::UNIX_EPOCH));
        }
        let r = self
            .block(
                self.client()
                    .protocol_data_stamp(pb::ProtocolDataStampRequest {}),
            )
            .map_err(EngineError::Agent)?
            .into_inner();
        Ok(r.stamp.as_ref().map(babel_api::rpc::system_time))
    }

    fn has_protocol_archive(&self) -> EngineResult<bool> {
        if self.env.dev_mode {
            return Ok(false);
        }
        let Some(archive) =
            bv_host::apilink::archive_ref(&self.archive.archive_id, &self.archive.store_key)
        else {
            return Ok(false);
        };
        let client = self.api()?;
        match self.block(client.download_metadata(archive)) {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(EngineError::Api(s)),
        }
    }

    fn node_params(&self) -> BTreeMap<String, String> {
        self.params.clone()
    }

    fn node_env(&self) -> NodeEnv {
        self.env.clone()
    }

    fn save_data(&self, value: &str) -> EngineResult<()> {
        write(&self.file("plugin.data"), value)
    }

    fn load_data(&self) -> EngineResult<String> {
        Ok(read_optional(&self.file("plugin.data"))?.unwrap_or_default())
    }

    fn save_config(&self, config_json: &str) -> EngineResult<()> {
        write(&self.file("plugin_config.json"), config_json)
    }

    fn load_config(&self) -> EngineResult<Option<String>> {
        read_optional(&self.file("plugin_config.json"))
    }

    fn put_secret(&self, name: &str, value: Vec<u8>) -> EngineResult<()> {
        if self.env.dev_mode {
            return Ok(());
        }
        let client = self.api()?;
        self.block(client.put_secret(&self.node_id.to_string(), name, value))
            .map_err(EngineError::Api)
    }

    fn get_secret(&self, name: &str) -> EngineResult<Option<Vec<u8>>> {
        if self.env.dev_mode {
            return Ok(Some(b"dev-secret".to_vec()));
        }
        let client = self.api()?;
        self.block(client.get_secret(&self.node_id.to_string(), name))
            .map_err(EngineError::Api)
    }

    fn add_task(
        &self,
        task_name: &str,
        schedule: &str,
        function_name: &str,
        function_param: &str,
    ) -> EngineResult<()> {
        let task = Task {
            schedule: schedule.into(),
            function: function_name.into(),
            param: function_param.into(),
        };
        self.scheduler
            .add(self.node_id, &self.node_dir, task_name, task)
            .map_err(|e| EngineError::Engine(Box::new(e)))
    }

    fn delete_task(&self, task_name: &str) -> EngineResult<()> {
        self.scheduler
            .delete(self.node_id, &self.node_dir, task_name)
            .map_err(|e| EngineError::Engine(Box::new(e)))
    }

    fn log(&self, level: LogLevel, message: &str) {
        let node = self.node_id;
        match level {
            LogLevel::Debug => tracing::debug!(%node, "plugin: {message}"),
            LogLevel::Info => tracing::info!(%node, "plugin: {message}"),
            LogLevel::Warn => tracing::warn!(%node, "plugin: {message}"),
            LogLevel::Error => tracing::error!(%node, "plugin: {message}"),
        }
    }
}

fn headers(h: Option<Vec<(String, String)>>) -> Vec<pb::Header> {
    h.unwrap_or_default()
        .into_iter()
        .map(|(name, value)| pb::Header { name, value })
        .collect()
}

fn http(r: pb::HttpResponse) -> HttpResponse {
    HttpResponse {
        status_code: u16::try_from(r.status_code).unwrap_or(0),
        body: r.body,
    }
}
