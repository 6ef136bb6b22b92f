//! The runner's client of babel's JobsMonitor service (event log and restart counts).

use std::path::Path;
use std::time::Duration;

use babel_api::pb::babel::v1::{
    PushLogRequest, RegisterRestartRequest, jobs_monitor_client::JobsMonitorClient,
};
use tonic::transport::Channel;

/// Deadline of monitor calls; babel may be restarting, so failures are only logged.
const DEADLINE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Monitor {
    client: JobsMonitorClient<Channel>,
    job: String,
}

impl Monitor {
    pub fn new(socket: &Path, job: &str) -> Self {
        Self {
            client: JobsMonitorClient::new(bv_base::uds::connect_lazy(socket, Some(DEADLINE))),
            job: job.to_string(),
        }
    }

    pub async fn push_log(&self, message: &str) {
        let req = PushLogRequest {
            name: self.job.clone(),
            message: message.to_string(),
        };
        if let Err(e) = self.client.clone().push_log(req).await {
            tracing::warn!("can't push log to babel: {}", e.message());
        }
    }

    pub async fn register_restart(&self) {
        let req = RegisterRestartRequest {
            name: self.job.clone(),
        };
        if let Err(e) = self.client.clone().register_restart(req).await {
            tracing::warn!("can't register restart with babel: {}", e.message());
        }
    }
}
