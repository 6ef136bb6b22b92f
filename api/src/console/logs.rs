//! `GET /api/nodes/{id}/jobs/{job}/logs`: the last lines of a job's log. Each call keeps a
//! watch of that log open for a short while; the node's host sees the watch in the answer
//! to its next figures report, sends the lines with the report after, and reports more
//! often while the watch lasts. The call returns the latest lines stored (any replica's).

use super::error::{HttpError, HttpResult};
use super::session::Caller;
use super::state::Shared;
use crate::db::{self, now_ms};
use crate::services::node::Nodes;
use axum::Json;
use axum::extract::{Path, Query, State};
use babel_api::pb::api::v1 as pb;
use pb::node_service_server::NodeService;
use serde::{Deserialize, Serialize};

/// How long one call keeps the watch open.
pub const WATCH_MS: i64 = 15_000;
/// Lines asked for when the caller names no number.
pub const DEFAULT_LINES: u32 = 200;
const MAX_JOB_NAME: usize = 128;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub lines: Option<u32>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct JobLog {
    pub node_id: String,
    pub job: String,
    /// Oldest first; empty until the host answered.
    pub lines: Vec<String>,
    /// When the host read them; none until it answered.
    pub at_ms: Option<i64>,
    /// Why the host could not read them.
    pub error: Option<String>,
}

pub async fn job_log(
    State(c): State<Shared>,
    caller: Caller,
    Path((node_id, job)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> HttpResult<Json<JobLog>> {
    if job.is_empty() || job.len() > MAX_JOB_NAME || job.chars().any(char::is_control) {
        return Err(HttpError::BadJobName);
    }
    // The node service checks `node:read` and the caller's org.
    let node = Nodes(c.app.clone())
        .get(caller.request(pb::GetNodeRequest {
            node_id: node_id.clone(),
        }))
        .await?
        .into_inner();
    let lines = q.lines.unwrap_or(DEFAULT_LINES).clamp(
        1,
        u32::try_from(crate::services::host_figures::MAX_LOG_LINES).unwrap_or(u32::MAX),
    );
    let db = &c.app.db;
    db::job_logs::want(
        db,
        &node.node_id,
        &job,
        &node.host_id,
        i64::from(lines),
        now_ms() + WATCH_MS,
    )
    .await?;
    let row = db::job_logs::get(db, &node.node_id, &job).await?;
    let (lines, at_ms, error) = match row {
        Some(r) => (
            r.lines_json
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
            r.at_ms,
            r.error,
        ),
        None => (Vec::new(), None, None),
    };
    Ok(Json(JobLog {
        node_id: node.node_id,
        job,
        lines,
        at_ms,
        error,
    }))
}
