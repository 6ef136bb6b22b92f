//! The node lifecycle's view of the in-node agent (babel): readiness, setup and graceful
//! shutdown. The real implementation speaks the Babel gRPC API over the node's socket.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use babel_api::node_env::BabelConfig;
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_client::BabelClient;
use tonic::transport::Channel;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("babel did not answer on {socket} within {secs} s: {last}")]
    NotReady {
        socket: String,
        secs: u64,
        last: String,
    },
    /// Babel answered a call with this status.
    #[error("babel: {}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
}

#[async_trait]
pub trait Agent: Send + Sync {
    async fn setup(&self, config: BabelConfig) -> Result<(), AgentError>;
    /// Gracefully stops every job (babel keeps running).
    async fn shutdown(&self, force: bool) -> Result<(), AgentError>;
    async fn version(&self) -> Result<String, AgentError>;
    /// Names of the upgrade-blocking jobs that run now (an upgrade would kill them).
    async fn blocking_jobs(&self) -> Result<Vec<String>, AgentError>;
    /// Every job babel knows, with its status (the health check's view of the jobs).
    async fn jobs(&self) -> Result<Vec<pb::JobEntry>, AgentError>;
}

/// Opens agents for nodes: waits until the agent answers on `socket`.
#[async_trait]
pub trait AgentConnector: Send + Sync + 'static {
    async fn connect(&self, socket: &Path, timeout: Duration)
    -> Result<Arc<dyn Agent>, AgentError>;
}

#[derive(Debug, Clone)]
pub struct BabelAgent {
    client: BabelClient<Channel>,
}

impl BabelAgent {
    pub fn client(&self) -> BabelClient<Channel> {
        self.client.clone()
    }
}

#[async_trait]
impl Agent for BabelAgent {
    async fn setup(&self, config: BabelConfig) -> Result<(), AgentError> {
        self.client
            .clone()
            .setup_babel(pb::SetupBabelRequest {
                config: Some(config.into()),
            })
            .await?;
        Ok(())
    }

    async fn shutdown(&self, force: bool) -> Result<(), AgentError> {
        let mut client = self.client.clone();
        let timeout = client
            .get_babel_shutdown_timeout(pb::GetBabelShutdownTimeoutRequest {})
            .await
            .map(|r| Duration::from_millis(r.into_inner().timeout_ms))
            .unwrap_or(Duration::from_secs(60));
        let mut req = tonic::Request::new(pb::ShutdownBabelRequest { force });
        req.set_timeout(timeout + Duration::from_secs(15));
        client.shutdown_babel(req).await?;
        Ok(())
    }

    async fn version(&self) -> Result<String, AgentError> {
        Ok(self
            .client
            .clone()
            .get_version(pb::GetVersionRequest {})
            .await?
            .into_inner()
            .version)
    }

    async fn blocking_jobs(&self) -> Result<Vec<String>, AgentError> {
        let jobs = self
            .client
            .clone()
            .get_jobs(pb::GetJobsRequest {})
            .await?
            .into_inner()
            .jobs;
        Ok(babel_api::rpc::running_upgrade_blocking(&jobs))
    }

    async fn jobs(&self) -> Result<Vec<pb::JobEntry>, AgentError> {
        let mut req = tonic::Request::new(pb::GetJobsRequest {});
        req.set_timeout(JOBS_TIMEOUT);
        Ok(self.client.clone().get_jobs(req).await?.into_inner().jobs)
    }
}

/// Longest babel gets to list its jobs.
const JOBS_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to babel over its Unix socket.
#[derive(Debug, Default)]
pub struct BabelConnector;

/// Polls `socket` until babel answers `GetVersion`, every 1 ms at first, then every 2 ms (a stat of the socket path is cheap).
pub async fn wait_for_babel(socket: &Path, timeout: Duration) -> Result<BabelAgent, AgentError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(1);
    let mut last = String::from("socket not created yet");
    loop {
        if socket.exists() {
            match bv_base::uds::connect(socket, Some(Duration::from_secs(15))).await {
                Ok(channel) => {
                    let agent = BabelAgent {
                        client: BabelClient::new(channel),
                    };
                    match agent.version().await {
                        Ok(_) => return Ok(agent),
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(e) => last = format!("connect: {e}"),
            }
        }
        if started.elapsed() >= timeout {
            return Err(AgentError::NotReady {
                socket: socket.display().to_string(),
                secs: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(2));
    }
}

#[async_trait]
impl AgentConnector for BabelConnector {
    async fn connect(
        &self,
        socket: &Path,
        timeout: Duration,
    ) -> Result<Arc<dyn Agent>, AgentError> {
        Ok(Arc::new(wait_for_babel(socket, timeout).await?))
    }
}

/// A babel client that connects lazily (for job and engine calls on a running node).
pub fn babel_client(socket: &Path, timeout: Option<Duration>) -> BabelClient<Channel> {
    BabelClient::new(bv_base::uds::connect_lazy(socket, timeout))
}

#[cfg(test)]
pub mod fake {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    pub struct FakeAgent {
        pub calls: Mutex<Vec<String>>,
        /// Running upgrade-blocking jobs; `shutdown` ends them (as babel stops its jobs).
        pub blocking: Mutex<Vec<String>>,
        /// What `jobs` answers, and how many times it was asked.
        pub jobs: Mutex<Vec<pb::JobEntry>>,
        pub jobs_asked: Mutex<u32>,
    }

    #[async_trait]
    impl Agent for FakeAgent {
        async fn setup(&self, config: BabelConfig) -> Result<(), AgentError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("setup {}", config.node_env.node_name));
            Ok(())
        }
        async fn shutdown(&self, force: bool) -> Result<(), AgentError> {
            self.calls.lock().unwrap().push(format!("shutdown {force}"));
            self.blocking.lock().unwrap().clear();
            Ok(())
        }
        async fn version(&self) -> Result<String, AgentError> {
            Ok("fake".into())
        }
        async fn blocking_jobs(&self) -> Result<Vec<String>, AgentError> {
            Ok(self.blocking.lock().unwrap().clone())
        }
        async fn jobs(&self) -> Result<Vec<pb::JobEntry>, AgentError> {
            *self.jobs_asked.lock().unwrap() += 1;
            Ok(self.jobs.lock().unwrap().clone())
        }
    }

    #[derive(Debug, Default)]
    pub struct FakeConnector {
        pub agent: Arc<FakeAgent>,
        /// How many times a node connected to its agent.
        pub connects: Mutex<u32>,
    }

    #[async_trait]
    impl AgentConnector for FakeConnector {
        async fn connect(
            &self,
            _socket: &Path,
            _t: Duration,
        ) -> Result<Arc<dyn Agent>, AgentError> {
            *self.connects.lock().unwrap() += 1;
            Ok(self.agent.clone())
        }
    }
}
