//! The control-plane calls the command loop makes, as a trait so the loop is tested with
//! fakes.

use std::pin::Pin;

use babel_api::pb::api::v1 as pb;
use futures::Stream;
use tonic::Status;

pub type CommandStream = Pin<Box<dyn Stream<Item = Result<pb::Command, Status>> + Send>>;

/// The API calls the command loop makes.
#[tonic::async_trait]
pub trait ControlPlane: Send + Sync {
    async fn command_stream(&self) -> Result<CommandStream, Status>;
    async fn ack(&self, command_id: &str) -> Result<(), Status>;
    async fn update(&self, update: pb::UpdateCommandRequest) -> Result<(), Status>;
    async fn report_status(&self, req: pb::ReportNodeStatusRequest) -> Result<(), Status>;
    /// Sends the host's figures (and asked-for job log lines); `host_id` is filled in.
    async fn report_figures(
        &self,
        req: pb::ReportHostFiguresRequest,
    ) -> Result<pb::ReportHostFiguresResponse, Status>;
}
