//! The host's figures for the API: usage, and per node the daemon's own status, health,
//! height, block age, jobs and alerts (from the last health check), sent over the API
//! connection the daemon keeps, so the API needs no access to the metrics port. The API's
//! answer names the job logs someone watches: their last lines go with the next report,
//! and the answer also sets when that is (sooner while a log is watched).

use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::api::v1 as api_pb;
use babel_api::pb::babel::v1 as bpb;
use futures::StreamExt;
use tonic::{Code, Status};

use bv_host::apilink::control::ControlPlane;
use bv_node::node::agent::babel_client;
use bv_node::nodes::{NodeObservation, Registry};

/// Shortest and longest wait between two reports, whatever the API asks.
pub const MIN_EVERY: Duration = Duration::from_millis(500);
pub const MAX_EVERY: Duration = Duration::from_secs(60);
/// Wait after a failed report (the API may be down or restarting).
pub const RETRY_EVERY: Duration = Duration::from_secs(10);
/// Wait while the API does not know the call (an older version).
pub const UNSUPPORTED_EVERY: Duration = Duration::from_secs(300);
/// Most lines sent of one job log.
pub const MAX_LOG_LINES: u32 = 500;
/// How long reading one job log may take.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the figures come from (the daemon's registry; fixed data in tests).
#[tonic::async_trait]
pub trait FigureSource: Send + Sync {
    async fn figures(&self) -> api_pb::ReportHostFiguresRequest;
    /// The last `lines` lines of `job` of `node_id`, oldest first.
    async fn job_log(&self, node_id: &str, job: &str, lines: u32) -> Result<Vec<String>, String>;
}

fn job_status(info: &bpb::JobInfo) -> &'static str {
    match info.status.as_ref().and_then(|s| s.status.as_ref()) {
        Some(bpb::job_status::Status::Pending(_)) => "pending",
        Some(bpb::job_status::Status::Running(_)) => "running",
        Some(bpb::job_status::Status::Finished(f)) if f.exit_code == Some(0) => "finished",
        Some(bpb::job_status::Status::Finished(_)) => "failed",
        Some(bpb::job_status::Status::Stopped(_)) => "stopped",
        None => "unknown",
    }
}

/// One node's figures from its last health check.
pub fn node_figures(o: &NodeObservation) -> api_pb::NodeFigures {
    let m = o.metrics.clone().unwrap_or_default();
    let protocol = m.protocol_status.as_ref();
    let mut jobs: Vec<api_pb::NodeJobFigures> = m
        .jobs
        .iter()
        .map(|j| api_pb::NodeJobFigures {
            name: j.name.clone(),
            status: j.info.as_ref().map_or("unknown", job_status).to_string(),
            restarts: j.info.as_ref().map_or(0, |i| u64::from(i.restart_count)),
        })
        .collect();
    jobs.sort_by(|a, b| a.name.cmp(&b.name));
    api_pb::NodeFigures {
        node_id: o.id.to_string(),
        status: o.status.to_string().to_ascii_lowercase(),
        version: o.version.clone(),
        height: m.height,
        block_age_secs: m.block_age,
        consensus: m.consensus,
        protocol_state: protocol.map(|p| p.state.clone()),
        protocol_health: protocol.map(|p| p.health.clone()),
        alerts: o
            .alerts
            .iter()
            .map(|a| api_pb::NodeAlertFigures {
                kind: a.kind.clone(),
                message: a.message.clone(),
            })
            .collect(),
        jobs,
        memory_bytes: o.resources.memory_bytes,
        disk_bytes: o.resources.disk_bytes,
    }
}

/// The daemon's registry as a figure source.
pub struct RegistryFigures(pub Arc<Registry>);

#[tonic::async_trait]
impl FigureSource for RegistryFigures {
    async fn figures(&self) -> api_pb::ReportHostFiguresRequest {
        let registry = self.0.clone();
        // Host metrics read /proc and statfs: blocking work.
        let host = tokio::task::spawn_blocking(move || registry.host_metrics())
            .await
            .unwrap_or_default();
        api_pb::ReportHostFiguresRequest {
            host_id: String::new(),
            usage: Some(api_pb::HostUsage {
                cpu_percent: host.used_cpu_percent,
                memory_used_bytes: host.used_memory_bytes,
                memory_total_bytes: host.total_memory_bytes,
                disk_used_bytes: host.used_disk_bytes,
                disk_total_bytes: host.total_disk_bytes,
                load1: host.load_one,
                uptime_secs: host.uptime_secs,
            }),
            nodes: self.0.observed().all().iter().map(node_figures).collect(),
            logs: vec![],
        }
    }

    async fn job_log(&self, node_id: &str, job: &str, lines: u32) -> Result<Vec<String>, String> {
        let entry = self.0.get(node_id).map_err(|e| e.to_string())?;
        let mut client = {
            let node = entry.lock().await;
            if !node.container_state().await.is_running() {
                return Err(format!("node {} is not running", node.state.name));
            }
            babel_client(&node.paths.babel_socket(), Some(LOG_TIMEOUT))
        };
        let read = async {
            let mut stream = client
                .job_logs(bpb::JobLogsRequest {
                    name: job.to_string(),
                    lines,
                    follow: false,
                })
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                out.push(item.map_err(|s| s.message().to_string())?.line);
            }
            Ok::<_, String>(out)
        };
        let mut out = tokio::time::timeout(LOG_TIMEOUT, read)
            .await
            .map_err(|_| "reading the job log timed out".to_string())??;
        let keep = usize::try_from(lines).unwrap_or(usize::MAX);
        if out.len() > keep {
            out.drain(..out.len() - keep);
        }
        Ok(out)
    }
}

/// The next report: the figures and the lines of every log the API asked for.
pub async fn build(
    source: &dyn FigureSource,
    wanted: &[api_pb::JobLogWanted],
) -> api_pb::ReportHostFiguresRequest {
    let mut req = source.figures().await;
    for w in wanted {
        let lines = w.max_lines.clamp(1, MAX_LOG_LINES);
        let (lines, error) = match source.job_log(&w.node_id, &w.job, lines).await {
            Ok(lines) => (lines, None),
            Err(e) => (vec![], Some(e)),
        };
        req.logs.push(api_pb::JobLogLines {
            node_id: w.node_id.clone(),
            job: w.job.clone(),
            lines,
            error,
        });
    }
    req
}

/// What the loop does after one report: which logs to read next and how long to wait.
pub fn after(
    result: Result<api_pb::ReportHostFiguresResponse, Status>,
) -> (Vec<api_pb::JobLogWanted>, Duration) {
    match result {
        Ok(resp) => (
            resp.logs,
            Duration::from_millis(resp.next_report_ms).clamp(MIN_EVERY, MAX_EVERY),
        ),
        Err(s) if s.code() == Code::Unimplemented => {
            tracing::debug!("the API takes no figure reports: {}", s.message());
            (vec![], UNSUPPORTED_EVERY)
        }
        Err(s) => {
            tracing::debug!("figure report failed: {}", s.message());
            (vec![], RETRY_EVERY)
        }
    }
}

/// Reports the figures until the task is aborted, first after `first`.
pub async fn run(api: Arc<dyn ControlPlane>, source: Arc<dyn FigureSource>, first: Duration) {
    tokio::time::sleep(first).await;
    let mut wanted = Vec::new();
    loop {
        let req = build(&*source, &wanted).await;
        let (next, wait) = after(api.report_figures(req).await);
        wanted = next;
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use babel_api::pb::api::v1 as pb;
    use bv_host::apilink::control::CommandStream;

    use super::*;

    /// Answers the first report by asking for the `node` job's log, later ones with nothing.
    #[derive(Default)]
    struct Api {
        reports: Mutex<Vec<pb::ReportHostFiguresRequest>>,
    }

    #[tonic::async_trait]
    impl ControlPlane for Api {
        async fn command_stream(&self) -> Result<CommandStream, Status> {
            Err(Status::unavailable("not used"))
        }
        async fn ack(&self, _id: &str) -> Result<(), Status> {
            Ok(())
        }
        async fn update(&self, _u: pb::UpdateCommandRequest) -> Result<(), Status> {
            Ok(())
        }
        async fn report_status(&self, _r: pb::ReportNodeStatusRequest) -> Result<(), Status> {
            Ok(())
        }
        async fn report_figures(
            &self,
            r: pb::ReportHostFiguresRequest,
        ) -> Result<pb::ReportHostFiguresResponse, Status> {
            let mut reports = self.reports.lock().unwrap();
            reports.push(r);
            let logs = if reports.len() == 1 {
                vec![pb::JobLogWanted {
                    node_id: "n1".into(),
                    job: "node".into(),
                    max_lines: 2,
                }]
            } else {
                vec![]
            };
            Ok(pb::ReportHostFiguresResponse {
                logs,
                next_report_ms: 1,
            })
        }
    }

    struct Source;

    #[tonic::async_trait]
    impl FigureSource for Source {
        async fn figures(&self) -> pb::ReportHostFiguresRequest {
            pb::ReportHostFiguresRequest {
                nodes: vec![pb::NodeFigures {
                    node_id: "n1".into(),
                    status: "running".into(),
                    height: Some(7),
                    ..Default::default()
                }],
                ..Default::default()
            }
        }
        async fn job_log(
            &self,
            node_id: &str,
            job: &str,
            lines: u32,
        ) -> Result<Vec<String>, String> {
            if job != "node" {
                return Err(format!("no job {job}"));
            }
            let all = ["a", "b", "c"].map(|l| format!("{node_id} {l}"));
            Ok(all[all.len() - lines as usize..].to_vec())
        }
    }

    #[tokio::test]
    async fn asked_for_logs_go_with_the_next_report_only() {
        let api = Arc::new(Api::default());
        let task = tokio::spawn(run(api.clone(), Arc::new(Source), Duration::ZERO));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while api.reports.lock().unwrap().len() < 3 {
            assert!(tokio::time::Instant::now() < deadline, "too few reports");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
        let reports = api.reports.lock().unwrap();
        assert_eq!(reports[0].nodes[0].height, Some(7));
        assert!(reports[0].logs.is_empty());
        assert_eq!(reports[1].logs.len(), 1);
        assert_eq!(reports[1].logs[0].lines, ["n1 b", "n1 c"]);
        assert_eq!(reports[1].logs[0].error, None);
        assert!(reports[2].logs.is_empty());
    }

    #[test]
    fn waits_follow_the_api_within_bounds() {
        let ok = |ms| {
            Ok(pb::ReportHostFiguresResponse {
                logs: vec![],
                next_report_ms: ms,
            })
        };
        assert_eq!(after(ok(1)).1, MIN_EVERY);
        assert_eq!(after(ok(5_000)).1, Duration::from_secs(5));
        assert_eq!(after(ok(u64::MAX)).1, MAX_EVERY);
        assert_eq!(after(Err(Status::unavailable("down"))).1, RETRY_EVERY);
        assert_eq!(
            after(Err(Status::unimplemented("old API"))).1,
            UNSUPPORTED_EVERY
        );
    }
}
