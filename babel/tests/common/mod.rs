//! Test harness: a real `babel` process (and its real runners) in a temp root.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use babel_api::job::{JobConfig, JobInfo, JobStatus};
use babel_api::node_env::{BabelConfig, NodeEnv};
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_client::BabelClient;
use tonic::transport::Channel;

pub struct TestAgent {
    pub root: tempfile::TempDir,
    pub child: Option<Child>,
    pub client: BabelClient<Channel>,
    pub job_runner: PathBuf,
}

pub fn babel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_babel"))
}

pub fn runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_babel-job-runner"))
}

impl TestAgent {
    pub async fn start() -> Self {
        Self::start_with_runner(None).await
    }

    /// An agent whose job runner is `job_runner` (relative to the root) instead of the built one.
    pub async fn start_with_runner(job_runner: Option<&str>) -> Self {
        let root = tempfile::Builder::new()
            .prefix("bv")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::create_dir_all(root.path().join("data")).unwrap();
        let mut agent = Self {
            child: None,
            client: BabelClient::new(bv_base::uds::connect_lazy(
                &root.path().join("b.sock"),
                None,
            )),
            job_runner: job_runner
                .map(|p| root.path().join(p))
                .unwrap_or_else(runner_bin),
            root,
        };
        agent.spawn().await;
        agent
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// Starts (or restarts) the babel process and waits for it to answer.
    pub async fn spawn(&mut self) {
        let r = self.root.path();
        let child = Command::new(babel_bin())
            .arg("--socket")
            .arg(r.join("b.sock"))
            .arg("--jobs-dir")
            .arg(r.join("jobs"))
            .arg("--config")
            .arg(r.join("babel.conf"))
            .arg("--monitor-socket")
            .arg(r.join("m.sock"))
            .arg("--engine-socket")
            .arg(r.join("e.sock"))
            .arg("--job-runner")
            .arg(&self.job_runner)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(r.join(format!("babel{}.log", rand_suffix()))).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = self
                .client
                .get_version(pb::GetVersionRequest {})
                .await
                .is_ok();
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "babel did not come up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn node_env(&self) -> NodeEnv {
        NodeEnv {
            node_id: "n1".into(),
            node_name: "test-node".into(),
            data_mount_point: self.data().display().to_string(),
            protocol_data_path: self.data().join("protocol_data").display().to_string(),
            dev_mode: true,
            ..Default::default()
        }
    }

    pub async fn setup(&mut self) {
        let config = BabelConfig {
            node_env: self.node_env(),
            ramdisks: vec![],
        };
        self.client
            .setup_babel(pb::SetupBabelRequest {
                config: Some(config.into()),
            })
            .await
            .unwrap();
    }

    pub async fn create(&mut self, name: &str, config: JobConfig) -> Result<(), tonic::Status> {
        self.client
            .create_job(pb::CreateJobRequest {
                name: name.into(),
                config: Some(config.into()),
            })
            .await
            .map(|_| ())
    }

    pub async fn start_job(&mut self, name: &str) {
        self.client
            .start_job(pb::JobRequest { name: name.into() })
            .await
            .unwrap();
    }

    pub async fn stop_job(&mut self, name: &str) -> Result<(), tonic::Status> {
        self.client
            .stop_job(pb::JobRequest { name: name.into() })
            .await
            .map(|_| ())
    }

    pub async fn info(&mut self, name: &str) -> JobInfo {
        let r = self
            .client
            .job_info(pb::JobRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner();
        r.info.unwrap().try_into().unwrap()
    }

    /// Waits until job `name` satisfies `pred`, returning its info.
    pub async fn wait_job(
        &mut self,
        name: &str,
        secs: u64,
        pred: impl Fn(&JobInfo) -> bool,
    ) -> JobInfo {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let info = self.info(name).await;
            if pred(&info) {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "job {name}: condition not met, last info {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_finished(&mut self, name: &str, secs: u64) -> JobStatus {
        self.wait_job(name, secs, |i| {
            matches!(i.status, JobStatus::Finished { .. })
        })
        .await
        .status
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Kills every process whose command line mentions `root` (runners and their jobs).
pub fn kill_processes_under(root: &Path) {
    let needle = root.as_os_str().as_encoded_bytes().to_vec();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && cmd.windows(needle.len()).any(|w| w == needle.as_slice())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill9();
        kill_processes_under(self.root.path());
    }
}

pub fn sh_job(body: &str) -> JobConfig {
    JobConfig::new(
        babel_api::job::JobType::RunSh(body.into()),
        babel_api::job::RestartPolicy::Never,
    )
}
