//! `JobsMonitor`: runners report failure messages and restarts here.

use babel_api::pb::babel::v1::{
    PushLogRequest, PushLogResponse, RegisterRestartRequest, RegisterRestartResponse,
    jobs_monitor_server::JobsMonitor,
};
use tonic::{Request, Response, Status};

use crate::jobs::JobsManager;

#[derive(Debug)]
pub struct Monitor(pub JobsManager);

#[tonic::async_trait]
impl JobsMonitor for Monitor {
    async fn push_log(
        &self,
        req: Request<PushLogRequest>,
    ) -> Result<Response<PushLogResponse>, Status> {
        let req = req.into_inner();
        self.0.push_log(&req.name, &req.message);
        Ok(Response::new(PushLogResponse {}))
    }

    async fn register_restart(
        &self,
        req: Request<RegisterRestartRequest>,
    ) -> Result<Response<RegisterRestartResponse>, Status> {
        self.0.register_restart(&req.into_inner().name);
        Ok(Response::new(RegisterRestartResponse {}))
    }
}
