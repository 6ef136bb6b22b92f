//! A recording fake of the plugin `Engine`, shared by the plugin host tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use babel_api::engine::{
    Engine, EngineError, EngineResult, HttpResponse, JrpcRequest, LogLevel, RestRequest, ShResponse,
};
use babel_api::job::{JobConfig, JobInfo, JobStatus, JobsInfo};
use babel_api::node_env::NodeEnv;

/// One call the plugin made, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreateJob(String, JobConfig),
    StartJob(String),
    StopJob(String),
    StopAllJobs,
    JobInfo(String),
    GetJobs,
    RunJrpc(JrpcRequest, Option<Duration>),
    RunRest(RestRequest, Option<Duration>),
    RunSh(String, Option<Duration>),
    RenderTemplate(PathBuf, PathBuf, String),
    FileWrite(PathBuf, Vec<u8>),
    FileRead(PathBuf),
    DataStamp,
    HasArchive,
    SaveData(String),
    LoadData,
    SaveConfig(String),
    PutSecret(String, Vec<u8>),
    GetSecret(String),
    AddTask(String, String, String, String),
    DeleteTask(String),
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct FakeState {
    pub jobs: JobsInfo,
    /// `run_sh` answers by exact body; others get exit 0 with stdout "ok".
    pub sh: HashMap<String, ShResponse>,
    pub http: HttpResponse,
    pub data: Option<String>,
    pub config: Option<String>,
    pub secrets: HashMap<String, Vec<u8>>,
    pub files: HashMap<PathBuf, Vec<u8>>,
    pub stamp: Option<SystemTime>,
    pub archive: bool,
    pub params: BTreeMap<String, String>,
    pub env: NodeEnv,
    /// Operation names that fail with the engine error "<name> failed".
    pub fail: Vec<&'static str>,
    /// How long `run_sh` blocks.
    pub sh_delay: Duration,
}

impl Default for FakeState {
    fn default() -> Self {
        Self {
            jobs: JobsInfo::new(),
            sh: HashMap::new(),
            http: HttpResponse {
                status_code: 200,
                body: "{}".into(),
            },
            data: None,
            config: None,
            secrets: HashMap::new(),
            files: HashMap::new(),
            stamp: None,
            archive: false,
            params: BTreeMap::new(),
            env: test_env(),
            fail: vec![],
            sh_delay: Duration::ZERO,
        }
    }
}

pub fn test_env() -> NodeEnv {
    NodeEnv {
        node_id: "node-1".into(),
        node_name: "node name".into(),
        node_org_id: "org-1".into(),
        node_version: "1.2.3".into(),
        node_protocol: "testchain".into(),
        node_variant: "main".into(),
        node_ip: "10.0.0.2".into(),
        node_gateway: "10.0.0.1".into(),
        dev_mode: false,
        bv_host_id: "host-1".into(),
        bv_host_name: "host".into(),
        bv_api_url: "http://api".into(),
        data_mount_point: "/blockjoy".into(),
        protocol_data_path: "/blockjoy/protocol_data".into(),
    }
}

#[derive(Default)]
pub struct FakeEngine {
    calls: Mutex<Vec<Call>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    pub state: Mutex<FakeState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeEngine {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn with(f: impl FnOnce(&mut FakeState)) -> Arc<Self> {
        let fake = Self::default();
        f(&mut lock(&fake.state));
        Arc::new(fake)
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *lock(&self.calls))
    }

    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        lock(&self.logs).clone()
    }

    pub fn set_job(&self, name: &str, status: JobStatus) {
        self.state().jobs.insert(name.to_string(), job_info(status));
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    fn check(&self, op: &'static str) -> EngineResult<()> {
        if self.state().fail.contains(&op) {
            Err(EngineError::Engine(format!("{op} failed").into()))
        } else {
            Ok(())
        }
    }
}

pub fn job_info(status: JobStatus) -> JobInfo {
    JobInfo {
        status,
        timestamp: SystemTime::UNIX_EPOCH + Duration::from_secs(7),
        progress: None,
        restart_count: 2,
        logs: vec!["newest".into(), "oldest".into()],
        upgrade_blocking: true,
    }
}

impl Engine for FakeEngine {
    fn create_job(&self, name: &str, config: JobConfig) -> EngineResult<()> {
        self.record(Call::CreateJob(name.into(), config));
        self.check("create_job")
    }
    fn start_job(&self, name: &str) -> EngineResult<()> {
        self.record(Call::StartJob(name.into()));
        self.check("start_job")
    }
    fn stop_job(&self, name: &str) -> EngineResult<()> {
        self.record(Call::StopJob(name.into()));
        self.check("stop_job")
    }
    fn skip_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn cleanup_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn stop_all_jobs(&self) -> EngineResult<()> {
        self.record(Call::StopAllJobs);
        self.check("stop_all_jobs")
    }
    fn job_info(&self, name: &str) -> EngineResult<JobInfo> {
        self.record(Call::JobInfo(name.into()));
        self.check("job_info")?;
        self.state()
            .jobs
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("job '{name}'")))
    }
    fn get_jobs(&self) -> EngineResult<JobsInfo> {
        self.record(Call::GetJobs);
        self.check("get_jobs")?;
        Ok(self.state().jobs.clone())
    }
    fn run_jrpc(&self, req: JrpcRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse> {
        self.record(Call::RunJrpc(req, timeout));
        self.check("run_jrpc")?;
        Ok(self.state().http.clone())
    }
    fn run_rest(&self, req: RestRequest, timeout: Option<Duration>) -> EngineResult<HttpResponse> {
        self.record(Call::RunRest(req, timeout));
        self.check("run_rest")?;
        Ok(self.state().http.clone())
    }
    fn run_sh(&self, body: &str, timeout: Option<Duration>) -> EngineResult<ShResponse> {
        self.record(Call::RunSh(body.into(), timeout));
        self.check("run_sh")?;
        let (delay, resp) = {
            let state = self.state();
            (state.sh_delay, state.sh.get(body).cloned())
        };
        std::thread::sleep(delay);
        Ok(resp.unwrap_or(ShResponse {
            exit_code: 0,
            stdout: "ok".into(),
            stderr: String::new(),
        }))
    }
    fn render_template(&self, t: &Path, d: &Path, params: &str) -> EngineResult<()> {
        self.record(Call::RenderTemplate(t.into(), d.into(), params.into()));
        self.check("render_template")
    }
    fn file_write(&self, path: &Path, content: Vec<u8>) -> EngineResult<()> {
        self.record(Call::FileWrite(path.into(), content.clone()));
        self.check("file_write")?;
        self.state().files.insert(path.into(), content);
        Ok(())
    }
    fn file_read(&self, path: &Path) -> EngineResult<Vec<u8>> {
        self.record(Call::FileRead(path.into()));
        self.state()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(path.display().to_string()))
    }
    fn protocol_data_stamp(&self) -> EngineResult<Option<SystemTime>> {
        self.record(Call::DataStamp);
        Ok(self.state().stamp)
    }
    fn has_protocol_archive(&self) -> EngineResult<bool> {
        self.record(Call::HasArchive);
        Ok(self.state().archive)
    }
    fn node_params(&self) -> BTreeMap<String, String> {
        self.state().params.clone()
    }
    fn node_env(&self) -> NodeEnv {
        self.state().env.clone()
    }
    fn save_data(&self, value: &str) -> EngineResult<()> {
        self.record(Call::SaveData(value.into()));
        self.state().data = Some(value.into());
        Ok(())
    }
    fn load_data(&self) -> EngineResult<String> {
        self.record(Call::LoadData);
        self.state()
            .data
            .clone()
            .ok_or_else(|| EngineError::Engine(Box::new(std::io::Error::from_raw_os_error(2))))
    }
    fn save_config(&self, config_json: &str) -> EngineResult<()> {
        self.record(Call::SaveConfig(config_json.into()));
        self.check("save_config")?;
        self.state().config = Some(config_json.into());
        Ok(())
    }
    fn load_config(&self) -> EngineResult<Option<String>> {
        Ok(self.state().config.clone())
    }
    fn put_secret(&self, name: &str, value: Vec<u8>) -> EngineResult<()> {
        self.record(Call::PutSecret(name.into(), value.clone()));
        self.state().secrets.insert(name.into(), value);
        Ok(())
    }
    fn get_secret(&self, name: &str) -> EngineResult<Option<Vec<u8>>> {
        self.record(Call::GetSecret(name.into()));
        self.check("get_secret")?;
        Ok(self.state().secrets.get(name).cloned())
    }
    fn add_task(
        &self,
        name: &str,
        schedule: &str,
        function: &str,
        param: &str,
    ) -> EngineResult<()> {
        self.record(Call::AddTask(
            name.into(),
            schedule.into(),
            function.into(),
            param.into(),
        ));
        Ok(())
    }
    fn delete_task(&self, name: &str) -> EngineResult<()> {
        self.record(Call::DeleteTask(name.into()));
        Ok(())
    }
    fn log(&self, level: LogLevel, message: &str) {
        lock(&self.logs).push((level, message.into()));
    }
}
