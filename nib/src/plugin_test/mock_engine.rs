//! The engine plugin unit tests run against: canned `run_sh` / `run_jrpc` / `run_rest`
//! answers chosen by the test, a given node env and params, and a record of every job, file,
//! secret, task and log line the plugin produced. Nothing leaves the process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use babel_api::engine::{
    Engine, EngineError, EngineResult, HttpResponse, JrpcRequest, LogLevel, RestRequest, ShResponse,
};
use babel_api::job::{JobConfig, JobInfo, JobStatus, JobsInfo};
use babel_api::node_env::NodeEnv;

/// A canned answer: used for the calls whose text contains `pattern` (the newest match wins).
#[derive(Debug, Clone)]
pub struct Canned<T> {
    pub pattern: String,
    pub response: T,
}

/// What a test set up and what the plugin did.
#[derive(Debug, Clone, Default)]
pub struct MockState {
    pub env: NodeEnv,
    pub params: BTreeMap<String, String>,
    pub sh: Vec<Canned<ShResponse>>,
    pub jrpc: Vec<Canned<HttpResponse>>,
    pub rest: Vec<Canned<HttpResponse>>,
    /// Jobs created, by name.
    pub jobs: BTreeMap<String, JobConfig>,
    /// Status of each job as the plugin sees it (set by the test or by start/stop).
    pub job_status: BTreeMap<String, JobStatus>,
    /// Names of jobs started, in order.
    pub started: Vec<String>,
    pub files: BTreeMap<String, Vec<u8>>,
    pub secrets: BTreeMap<String, Vec<u8>>,
    pub data: String,
    pub config: Option<String>,
    pub tasks: BTreeMap<String, (String, String, String)>,
    /// Every `run_sh` body, JSON-RPC method and REST URL called, in order.
    pub calls: Vec<String>,
    pub logs: Vec<String>,
    pub has_archive: bool,
}

/// The engine handed to the plugin; the test runner keeps a clone of `state`.
#[derive(Debug, Clone, Default)]
pub struct MockEngine {
    pub state: Arc<Mutex<MockState>>,
}

impl MockEngine {
    pub fn lock(&self) -> MutexGuard<'_, MockState> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn canned<T: Clone>(list: &[Canned<T>], text: &str, kind: &str, hint: &str) -> EngineResult<T> {
    list.iter()
        .rev()
        .find(|c| text.contains(&c.pattern))
        .map(|c| c.response.clone())
        .ok_or_else(|| {
            EngineError::Engine(Box::new(NoMock {
                kind: kind.into(),
                text: text.into(),
                hint: hint.into(),
            }))
        })
}

/// A call no mock of the test answers.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: no mock matches `{text}`; add {hint} to the test")]
struct NoMock {
    kind: String,
    text: String,
    hint: String,
}

fn info(status: JobStatus) -> JobInfo {
    JobInfo {
        status,
        timestamp: SystemTime::UNIX_EPOCH,
        progress: None,
        restart_count: 0,
        logs: vec![],
        upgrade_blocking: false,
    }
}

impl Engine for MockEngine {
    fn create_job(&self, name: &str, config: JobConfig) -> EngineResult<()> {
        let mut s = self.lock();
        s.jobs.insert(name.to_string(), config);
        s.job_status
            .entry(name.to_string())
            .or_insert(JobStatus::Stopped);
        Ok(())
    }
    fn start_job(&self, name: &str) -> EngineResult<()> {
        let mut s = self.lock();
        if !s.jobs.contains_key(name) {
            return Err(EngineError::NotFound(format!("job {name}")));
        }
        s.started.push(name.to_string());
        s.job_status.insert(name.to_string(), JobStatus::Running);
        Ok(())
    }
    fn stop_job(&self, name: &str) -> EngineResult<()> {
        self.lock()
            .job_status
            .insert(name.to_string(), JobStatus::Stopped);
        Ok(())
    }
    fn skip_job(&self, name: &str) -> EngineResult<()> {
        self.stop_job(name)
    }
    fn cleanup_job(&self, name: &str) -> EngineResult<()> {
        let mut s = self.lock();
        s.jobs.remove(name);
        s.job_status.remove(name);
        Ok(())
    }
    fn stop_all_jobs(&self) -> EngineResult<()> {
        for status in self.lock().job_status.values_mut() {
            *status = JobStatus::Stopped;
        }
        Ok(())
    }
    fn job_info(&self, name: &str) -> EngineResult<JobInfo> {
        self.lock()
            .job_status
            .get(name)
            .cloned()
            .map(info)
            .ok_or_else(|| EngineError::NotFound(format!("job {name}")))
    }
    fn get_jobs(&self) -> EngineResult<JobsInfo> {
        Ok(self
            .lock()
            .job_status
            .iter()
            .map(|(k, v)| (k.clone(), info(v.clone())))
            .collect())
    }
    fn run_jrpc(&self, req: JrpcRequest, _: Option<Duration>) -> EngineResult<HttpResponse> {
        let mut s = self.lock();
        s.calls.push(format!("jrpc {} {}", req.host, req.method));
        canned(
            &s.jrpc,
            &req.method,
            "run_jrpc",
            "mock_jrpc(method, response)",
        )
    }
    fn run_rest(&self, req: RestRequest, _: Option<Duration>) -> EngineResult<HttpResponse> {
        let mut s = self.lock();
        s.calls.push(format!("rest {}", req.url));
        canned(&s.rest, &req.url, "run_rest", "mock_rest(url, response)")
    }
    fn run_sh(&self, body: &str, _: Option<Duration>) -> EngineResult<ShResponse> {
        let mut s = self.lock();
        s.calls.push(format!("sh {body}"));
        canned(&s.sh, body, "run_sh", "mock_sh(command, stdout)")
    }
    fn render_template(&self, template: &Path, out: &Path, params: &str) -> EngineResult<()> {
        let text = format!("rendered {} with {params}", template.display());
        self.lock()
            .files
            .insert(out.display().to_string(), text.into_bytes());
        Ok(())
    }
    fn file_write(&self, path: &Path, content: Vec<u8>) -> EngineResult<()> {
        self.lock()
            .files
            .insert(path.display().to_string(), content);
        Ok(())
    }
    fn file_read(&self, path: &Path) -> EngineResult<Vec<u8>> {
        let key = path.display().to_string();
        self.lock()
            .files
            .get(&key)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("{key}; add mock_file(path, text)")))
    }
    fn protocol_data_stamp(&self) -> EngineResult<Option<SystemTime>> {
        Ok(None)
    }
    fn has_protocol_archive(&self) -> EngineResult<bool> {
        Ok(self.lock().has_archive)
    }
    fn node_params(&self) -> BTreeMap<String, String> {
        self.lock().params.clone()
    }
    fn node_env(&self) -> NodeEnv {
        self.lock().env.clone()
    }
    fn save_data(&self, value: &str) -> EngineResult<()> {
        self.lock().data = value.to_string();
        Ok(())
    }
    fn load_data(&self) -> EngineResult<String> {
        Ok(self.lock().data.clone())
    }
    fn save_config(&self, config_json: &str) -> EngineResult<()> {
        self.lock().config = Some(config_json.to_string());
        Ok(())
    }
    fn load_config(&self) -> EngineResult<Option<String>> {
        Ok(self.lock().config.clone())
    }
    fn put_secret(&self, name: &str, value: Vec<u8>) -> EngineResult<()> {
        self.lock().secrets.insert(name.to_string(), value);
        Ok(())
    }
    fn get_secret(&self, name: &str) -> EngineResult<Option<Vec<u8>>> {
        Ok(self.lock().secrets.get(name).cloned())
    }
    fn add_task(
        &self,
        name: &str,
        schedule: &str,
        function: &str,
        param: &str,
    ) -> EngineResult<()> {
        self.lock().tasks.insert(
            name.to_string(),
            (
                schedule.to_string(),
                function.to_string(),
                param.to_string(),
            ),
        );
        Ok(())
    }
    fn delete_task(&self, name: &str) -> EngineResult<()> {
        self.lock().tasks.remove(name);
        Ok(())
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.lock().logs.push(format!("{level:?}: {message}"));
    }
}
