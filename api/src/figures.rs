//! Host and node figures beyond the node table: usage, and per node the daemon's own state,
//! health, height, block age, jobs and alerts. Hosts report them over their connection
//! (`HostService.ReportFigures`); the console may also scrape a daemon's metrics endpoint.
//! Either way they are stored in the database with a bounded status history per node, so
//! every replica serves the same view.

use std::collections::{BTreeMap, HashMap};

use babel_api::pb::api::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::db::figures::{self as store, PointRow};
use crate::db::{Db, DbResult};

/// How long a node's status history reaches back.
pub const HISTORY_MS: i64 = 3600 * 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostUsage {
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub load1: f64,
    pub uptime_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub name: String,
    pub status: String,
    pub restarts: u64,
}

/// One node as its daemon last reported it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeTelemetry {
    /// `running`, `stopped`, `busy`, `failed` or `broken` (the daemon's own view).
    pub status: String,
    pub version: String,
    pub height: Option<u64>,
    pub block_age_secs: Option<u64>,
    pub consensus: Option<bool>,
    pub protocol_state: Option<String>,
    pub protocol_health: Option<String>,
    pub alerts: Vec<Alert>,
    pub jobs: Vec<Job>,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
}

/// One report (or scrape) of one host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostTelemetry {
    pub usage: HostUsage,
    pub nodes: BTreeMap<String, NodeTelemetry>,
}

impl From<&pb::ReportHostFiguresRequest> for HostTelemetry {
    fn from(r: &pb::ReportHostFiguresRequest) -> Self {
        let u = r.usage.unwrap_or_default();
        let nodes = r
            .nodes
            .iter()
            .map(|n| {
                let mut jobs: Vec<Job> = n
                    .jobs
                    .iter()
                    .map(|j| Job {
                        name: j.name.clone(),
                        status: j.status.clone(),
                        restarts: j.restarts,
                    })
                    .collect();
                jobs.sort_by(|a, b| a.name.cmp(&b.name));
                let t = NodeTelemetry {
                    status: n.status.clone(),
                    version: n.version.clone(),
                    height: n.height,
                    block_age_secs: n.block_age_secs,
                    consensus: n.consensus,
                    protocol_state: n.protocol_state.clone(),
                    protocol_health: n.protocol_health.clone(),
                    alerts: n
                        .alerts
                        .iter()
                        .map(|a| Alert {
                            kind: a.kind.clone(),
                            message: a.message.clone(),
                        })
                        .collect(),
                    jobs,
                    memory_bytes: n.memory_bytes,
                    disk_bytes: n.disk_bytes,
                };
                (n.node_id.clone(), t)
            })
            .collect();
        Self {
            usage: HostUsage {
                cpu_percent: u.cpu_percent,
                memory_used_bytes: u.memory_used_bytes,
                memory_total_bytes: u.memory_total_bytes,
                disk_used_bytes: u.disk_used_bytes,
                disk_total_bytes: u.disk_total_bytes,
                load1: u.load1,
                uptime_secs: u.uptime_secs,
            },
            nodes,
        }
    }
}

/// A point of a node's status history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub status: String,
    pub height: Option<u64>,
    pub block_age_secs: Option<u64>,
    pub alerts: usize,
}

impl From<PointRow> for Point {
    fn from(r: PointRow) -> Self {
        Self {
            at_ms: r.at_ms,
            status: r.status,
            height: r.height.and_then(|h| u64::try_from(h).ok()),
            block_age_secs: r.block_age_secs.and_then(|a| u64::try_from(a).ok()),
            alerts: usize::try_from(r.alerts).unwrap_or(0),
        }
    }
}

fn as_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The latest figures of a host, and the error of its last failed scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latest {
    pub at_ms: i64,
    pub error: Option<String>,
    pub telemetry: Option<HostTelemetry>,
}

impl Latest {
    pub fn node(&self, node_id: &str) -> Option<&NodeTelemetry> {
        self.telemetry.as_ref()?.nodes.get(node_id)
    }
}

/// Stores a host's figures taken at `at_ms` and adds a history point per node (dropping
/// those older than [`HISTORY_MS`]).
pub async fn record(db: &Db, host_id: &str, at_ms: i64, t: &HostTelemetry) -> DbResult<()> {
    let json = serde_json::to_string(t).map_err(|e| crate::db::DbError::Corrupt {
        what: "host figures",
        source: e.into(),
    })?;
    store::put_host(db, host_id, at_ms, &json).await?;
    let points: Vec<PointRow> = t
        .nodes
        .iter()
        .map(|(id, n)| PointRow {
            node_id: id.clone(),
            at_ms,
            status: n.status.clone(),
            height: as_i64(n.height),
            block_age_secs: as_i64(n.block_age_secs),
            alerts: i64::try_from(n.alerts.len()).unwrap_or(i64::MAX),
        })
        .collect();
    store::add_points(db, &points, at_ms - HISTORY_MS).await
}

/// Records a failed scrape; the last good figures stay, marked by the error.
pub async fn record_error(db: &Db, host_id: &str, at_ms: i64, error: &str) -> DbResult<()> {
    store::put_error(db, host_id, at_ms, error).await
}

fn latest(row: store::HostFiguresRow) -> Latest {
    Latest {
        at_ms: row.at_ms,
        error: row.error,
        // Figures a newer version wrote in a shape this one cannot read are left out.
        telemetry: row.figures_json.and_then(|j| serde_json::from_str(&j).ok()),
    }
}

/// The latest figures of every host that has any, by host id.
pub async fn all_latest(db: &Db) -> DbResult<HashMap<String, Latest>> {
    Ok(store::hosts(db)
        .await?
        .into_iter()
        .map(|r| (r.host_id.clone(), latest(r)))
        .collect())
}

pub async fn host_latest(db: &Db, host_id: &str) -> DbResult<Option<Latest>> {
    Ok(store::host(db, host_id).await?.map(latest))
}

pub async fn history(db: &Db, node_id: &str) -> DbResult<Vec<Point>> {
    Ok(store::history(db, node_id)
        .await?
        .into_iter()
        .map(Point::from)
        .collect())
}

/// Every node's history, by node id.
pub async fn histories(db: &Db) -> DbResult<HashMap<String, Vec<Point>>> {
    let mut out: HashMap<String, Vec<Point>> = HashMap::new();
    for r in store::histories(db).await? {
        out.entry(r.node_id.clone()).or_default().push(r.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(height: u64) -> HostTelemetry {
        let req = pb::ReportHostFiguresRequest {
            usage: Some(pb::HostUsage {
                cpu_percent: 50.0,
                ..Default::default()
            }),
            nodes: vec![pb::NodeFigures {
                node_id: "n1".into(),
                status: "running".into(),
                height: Some(height),
                alerts: vec![pb::NodeAlertFigures {
                    kind: "unhealthy".into(),
                    message: "m".into(),
                }],
                jobs: vec![
                    pb::NodeJobFigures {
                        name: "b".into(),
                        status: "running".into(),
                        restarts: 0,
                    },
                    pb::NodeJobFigures {
                        name: "a".into(),
                        status: "failed".into(),
                        restarts: 2,
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        HostTelemetry::from(&req)
    }

    #[tokio::test]
    async fn latest_figures_and_an_hour_of_history_per_node() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("api.db").display()))
            .await
            .unwrap();
        let t0 = 1_000_000_000;
        record(&db, "h", t0, &report(1)).await.unwrap();
        record(&db, "h", t0 + 1000, &report(2)).await.unwrap();
        // The same instant again adds no second point.
        record(&db, "h", t0 + 1000, &report(2)).await.unwrap();
        let h = history(&db, "n1").await.unwrap();
        assert_eq!(
            h.iter().map(|p| p.height).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert_eq!(h[0].alerts, 1);
        // A sample more than an hour later drops the older ones.
        record(&db, "h", t0 + HISTORY_MS + 1500, &report(3))
            .await
            .unwrap();
        let h = history(&db, "n1").await.unwrap();
        assert_eq!(h.iter().map(|p| p.height).collect::<Vec<_>>(), [Some(3)]);

        record_error(&db, "h", t0 + HISTORY_MS + 2000, "refused")
            .await
            .unwrap();
        let latest = host_latest(&db, "h").await.unwrap().unwrap();
        assert_eq!(latest.error.as_deref(), Some("refused"));
        let n = latest.node("n1").unwrap();
        assert_eq!(n.height, Some(3), "a failed scrape keeps the last figures");
        let jobs: Vec<_> = n.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(jobs, ["a", "b"]);
        assert_eq!(latest.telemetry.unwrap().usage.cpu_percent, 50.0);
        assert!(host_latest(&db, "other").await.unwrap().is_none());

        assert_eq!(
            crate::db::figures::prune(&db, t0 + 2 * HISTORY_MS)
                .await
                .unwrap(),
            1
        );
        assert!(histories(&db).await.unwrap().is_empty());
    }
}
