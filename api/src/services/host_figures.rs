//! `HostService.ReportFigures`: a host's own figures and the job log lines it was asked for.
//! The answer names the job logs still watched and when to report next (sooner while a log
//! is watched, so the console's log panel follows the job).

use super::error::{ApiError, ApiResult, Denied};
use crate::auth::{Principal, Scope};
use crate::db::{self, Db, now_ms};
use crate::figures::{self, HostTelemetry};
use babel_api::pb::api::v1 as pb;

/// Report interval while nobody watches a log of the host.
pub const REPORT_MS: u64 = 5_000;
/// Report interval while a job log of the host is watched.
pub const WATCHED_REPORT_MS: u64 = 1_000;
/// Most lines of a job log kept per watch.
pub const MAX_LOG_LINES: usize = 500;
/// Longest line kept (characters); longer lines are cut.
pub const MAX_LINE_CHARS: usize = 2_000;
/// Most bytes of a job log kept per watch (the newest lines win).
pub const MAX_LOG_BYTES: usize = 128 * 1024;

/// The last lines of `lines`, each cut to [`MAX_LINE_CHARS`], at most [`MAX_LOG_LINES`] and
/// [`MAX_LOG_BYTES`] in all.
pub fn bound_lines(lines: &[String], max_lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for line in lines.iter().rev().take(max_lines.min(MAX_LOG_LINES)) {
        let cut: String = line.chars().take(MAX_LINE_CHARS).collect();
        bytes += cut.len() + 1;
        if bytes > MAX_LOG_BYTES {
            break;
        }
        out.push(cut);
    }
    out.reverse();
    out
}

/// Stores the report of `host_id` (node figures of its own nodes only) and answers it.
pub async fn report(
    db: &Db,
    p: &Principal,
    req: &pb::ReportHostFiguresRequest,
) -> ApiResult<pb::ReportHostFiguresResponse> {
    let host_id = req.host_id.as_str();
    if p.host_id().is_some_and(|h| h != host_id) {
        return Err(Denied::ForeignReport.into());
    }
    if p.host_id().is_none() {
        p.require(Scope::HostWrite)?;
    }
    db::hosts::by_id(db, host_id)
        .await?
        .ok_or_else(|| super::not_found("host", host_id))?;
    let (own, _) = db::nodes::list(
        db,
        &db::nodes::NodeFilter {
            host_id: Some(host_id),
            ..Default::default()
        },
        0,
        10_000,
    )
    .await?;
    let now = now_ms();
    let mut t = HostTelemetry::from(req);
    t.nodes.retain(|id, _| own.iter().any(|n| &n.node_id == id));
    figures::record(db, host_id, now, &t).await?;
    for l in &req.logs {
        // Only logs asked for, each bounded by its watch.
        let Some(watch) = db::job_logs::get(db, &l.node_id, &l.job).await? else {
            continue;
        };
        if watch.host_id != host_id {
            continue;
        }
        let (lines, error) = match &l.error {
            Some(e) => (None, Some(e.as_str())),
            None => {
                let max = usize::try_from(watch.max_lines).unwrap_or(0);
                let kept = bound_lines(&l.lines, max);
                let json = serde_json::to_string(&kept).map_err(ApiError::EncodeLogLines)?;
                (Some(json), None)
            }
        };
        db::job_logs::answer(
            db,
            host_id,
            &l.node_id,
            &l.job,
            now,
            lines.as_deref(),
            error,
        )
        .await?;
    }
    let wanted = db::job_logs::wanted(db, host_id, now).await?;
    Ok(pb::ReportHostFiguresResponse {
        next_report_ms: if wanted.is_empty() {
            REPORT_MS
        } else {
            WATCHED_REPORT_MS
        },
        logs: wanted
            .into_iter()
            .map(|w| pb::JobLogWanted {
                node_id: w.node_id,
                job: w.job,
                max_lines: u32::try_from(w.max_lines).unwrap_or(0),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_keep_the_newest_within_bounds() {
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let kept = bound_lines(&lines, 3);
        assert_eq!(kept, ["line 997", "line 998", "line 999"]);
        assert_eq!(bound_lines(&lines, 10_000).len(), MAX_LOG_LINES);
        let long = vec!["x".repeat(MAX_LINE_CHARS * 2); 400];
        let kept = bound_lines(&long, 400);
        assert!(kept.iter().all(|l| l.len() == MAX_LINE_CHARS));
        assert!(kept.len() * (MAX_LINE_CHARS + 1) <= MAX_LOG_BYTES);
        assert_eq!(kept.len(), MAX_LOG_BYTES / (MAX_LINE_CHARS + 1));
    }
}
