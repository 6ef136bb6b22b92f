//! The permissive engine the linter runs plugins against: every effect succeeds
//! and nothing leaves the process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use babel_api::engine::{
    Engine, EngineResult, HttpResponse, JrpcRequest, LogLevel, RestRequest, ShResponse,
};
use babel_api::job::{JobConfig, JobInfo, JobStatus, JobsInfo};
use babel_api::node_env::NodeEnv;

/// A task registered through `add_task` during the dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecordedTask {
    pub name: String,
    pub schedule: String,
    pub function: String,
    pub param: String,
}

pub(super) struct StubEngine {
    pub env: NodeEnv,
    pub params: BTreeMap<String, String>,
    pub tasks: Mutex<Vec<RecordedTask>>,
}

impl StubEngine {
    pub fn new(env: NodeEnv, params: BTreeMap<String, String>) -> Self {
        Self {
            env,
            params,
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub fn tasks(&self) -> Vec<RecordedTask> {
        match self.tasks.lock() {
            Ok(tasks) => tasks.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn pending_info() -> JobInfo {
    JobInfo {
        status: JobStatus::Pending {
            waiting_for: vec![],
        },
        timestamp: SystemTime::UNIX_EPOCH,
        progress: None,
        restart_count: 0,
        logs: vec![],
        upgrade_blocking: false,
    }
}

impl Engine for StubEngine {
    fn create_job(&self, _: &str, _: JobConfig) -> EngineResult<()> {
        Ok(())
    }
    fn start_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn stop_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn skip_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn cleanup_job(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn stop_all_jobs(&self) -> EngineResult<()> {
        Ok(())
    }
    fn job_info(&self, _: &str) -> EngineResult<JobInfo> {
        Ok(pending_info())
    }
    fn get_jobs(&self) -> EngineResult<JobsInfo> {
        Ok([("dummy_job".to_string(), pending_info())].into())
    }
    fn run_jrpc(&self, _: JrpcRequest, _: Option<Duration>) -> EngineResult<HttpResponse> {
        Ok(HttpResponse {
            status_code: 0,
            body: String::new(),
        })
    }
    fn run_rest(&self, _: RestRequest, _: Option<Duration>) -> EngineResult<HttpResponse> {
        Ok(HttpResponse {
            status_code: 0,
            body: String::new(),
        })
    }
    fn run_sh(&self, _: &str, _: Option<Duration>) -> EngineResult<ShResponse> {
        Ok(ShResponse {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        })
    }
    fn render_template(&self, _: &Path, _: &Path, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn file_write(&self, _: &Path, _: Vec<u8>) -> EngineResult<()> {
        Ok(())
    }
    fn file_read(&self, _: &Path) -> EngineResult<Vec<u8>> {
        Ok(vec![])
    }
    fn protocol_data_stamp(&self) -> EngineResult<Option<SystemTime>> {
        Ok(None)
    }
    fn has_protocol_archive(&self) -> EngineResult<bool> {
        Ok(true)
    }
    fn node_params(&self) -> BTreeMap<String, String> {
        self.params.clone()
    }
    fn node_env(&self) -> NodeEnv {
        self.env.clone()
    }
    fn save_data(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn load_data(&self) -> EngineResult<String> {
        Ok(String::new())
    }
    fn save_config(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn load_config(&self) -> EngineResult<Option<String>> {
        Ok(None)
    }
    fn put_secret(&self, _: &str, _: Vec<u8>) -> EngineResult<()> {
        Ok(())
    }
    fn get_secret(&self, _: &str) -> EngineResult<Option<Vec<u8>>> {
        Ok(Some(b"secret value".to_vec()))
    }
    fn add_task(
        &self,
        name: &str,
        schedule: &str,
        function: &str,
        param: &str,
    ) -> EngineResult<()> {
        let task = RecordedTask {
            name: name.to_string(),
            schedule: schedule.to_string(),
            function: function.to_string(),
            param: param.to_string(),
        };
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(task),
            Err(poisoned) => poisoned.into_inner().push(task),
        }
        Ok(())
    }
    fn delete_task(&self, _: &str) -> EngineResult<()> {
        Ok(())
    }
    fn log(&self, _: LogLevel, _: &str) {}
}
