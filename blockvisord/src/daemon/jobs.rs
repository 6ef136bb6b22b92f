//! Job commands, forwarded to the node's babel.

use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::babel::v1::babel_client::BabelClient;
use babel_api::pb::blockvisor::v1 as pb;
use futures::StreamExt;
use tonic::transport::Channel;

use super::error::ApiError;
use super::logs::LogStream;
use bv_node::node::agent::babel_client;
use bv_node::node::state::Status as NodeStatus;
use bv_node::nodes::NodeEntry;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Start,
    Stop,
    Skip,
    Cleanup,
    Restart,
}

async fn client(entry: &NodeEntry) -> Result<BabelClient<Channel>, ApiError> {
    let node = entry.lock().await;
    if !node.container_state().await.is_running() {
        return Err(ApiError::NotRunning(node.state.name.clone()));
    }
    if node.state.expected_status == NodeStatus::Failed {
        return Err(ApiError::Failed);
    }
    Ok(babel_client(
        &node.paths.babel_socket(),
        Some(std::time::Duration::from_secs(30)),
    ))
}

pub async fn list(entry: &NodeEntry) -> Result<pb::ListJobsResponse, ApiError> {
    let jobs = client(entry)
        .await?
        .get_jobs(bpb::GetJobsRequest {})
        .await?
        .into_inner()
        .jobs;
    Ok(pb::ListJobsResponse { jobs })
}

pub async fn info(entry: &NodeEntry, name: String) -> Result<bpb::JobInfo, ApiError> {
    client(entry)
        .await?
        .job_info(bpb::JobRequest { name })
        .await?
        .into_inner()
        .info
        .ok_or(ApiError::EmptyJobInfo)
}

pub async fn act(entry: &NodeEntry, name: &str, action: Action) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::EmptyJobName);
    }
    let mut c = client(entry).await?;
    let req = bpb::JobRequest { name: name.into() };
    match action {
        Action::Start => c.start_job(req).await?,
        Action::Stop => c.stop_job(req).await?,
        Action::Skip => c.skip_job(req).await?,
        Action::Cleanup => c.cleanup_job(req).await?,
        Action::Restart => c.restart_job(req).await?,
    };
    Ok(())
}

pub async fn logs(entry: &NodeEntry, req: pb::JobLogsRequest) -> Result<LogStream, ApiError> {
    let mut c = {
        let node = entry.lock().await;
        if !node.container_state().await.is_running() {
            return Err(ApiError::Stopped);
        }
        // No deadline: a followed log stays open.
        babel_client(&node.paths.babel_socket(), None)
    };
    let stream = c
        .job_logs(bpb::JobLogsRequest {
            name: req.job,
            lines: req.lines,
            follow: req.follow,
        })
        .await?
        .into_inner();
    Ok(Box::pin(stream.map(|item| {
        item.map(|l| pb::LogLine {
            source: l.job,
            line: l.line,
        })
    })))
}
