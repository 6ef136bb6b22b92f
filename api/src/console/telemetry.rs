//! What the console knows beyond the database: the last scrape of each host daemon's
//! metrics endpoint (usage, per-node height, block age, jobs, alerts) and a bounded history
//! of node status samples for the charts. Kept in memory per bv-api process.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::RwLock;

use serde::Serialize;

use super::exposition::Sample;

/// Samples kept per node (at a 5 s scrape interval, one hour).
pub const HISTORY_LEN: usize = 720;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HostUsage {
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub load1: f64,
    pub uptime_secs: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    pub name: String,
    pub status: String,
    pub restarts: u64,
}

/// One node as its daemon last reported it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NodeTelemetry {
    /// `running`, `stopped`, `busy` or `failed` (the daemon's own view).
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

/// One scrape of one host.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HostTelemetry {
    pub usage: HostUsage,
    pub nodes: BTreeMap<String, NodeTelemetry>,
}

fn as_u64(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

impl HostTelemetry {
    /// Builds the view from the `bv_*` series of one exposition.
    pub fn from_samples(samples: &[Sample]) -> Self {
        let mut t = Self::default();
        for s in samples {
            let u = &mut t.usage;
            match s.name.as_str() {
                "bv_host_cpu_used_percent" => u.cpu_percent = s.value,
                "bv_host_memory_used_bytes" => u.memory_used_bytes = as_u64(s.value),
                "bv_host_memory_total_bytes" => u.memory_total_bytes = as_u64(s.value),
                "bv_host_disk_used_bytes" => u.disk_used_bytes = as_u64(s.value),
                "bv_host_disk_total_bytes" => u.disk_total_bytes = as_u64(s.value),
                "bv_host_load1" => u.load1 = s.value,
                "bv_host_uptime_seconds" => u.uptime_secs = as_u64(s.value),
                _ => {}
            }
            let Some(id) = s.label("node_id") else {
                continue;
            };
            let n = t.nodes.entry(id.to_string()).or_default();
            let label = |k: &str| s.label(k).unwrap_or_default().to_string();
            match s.name.as_str() {
                "bv_node_info" => n.version = label("version"),
                "bv_node_status" if s.value == 1.0 => n.status = label("status"),
                "bv_node_alert" if s.value == 1.0 => n.alerts.push(Alert {
                    kind: label("kind"),
                    message: label("message"),
                }),
                "bv_node_height" => n.height = Some(as_u64(s.value)),
                "bv_node_block_age_seconds" => n.block_age_secs = Some(as_u64(s.value)),
                "bv_node_consensus" => n.consensus = Some(s.value == 1.0),
                "bv_node_protocol_status" if s.value == 1.0 => {
                    n.protocol_state = Some(label("state"));
                    n.protocol_health = Some(label("health"));
                }
                "bv_node_job_status" if s.value == 1.0 => {
                    let name = label("job");
                    match n.jobs.iter_mut().find(|j| j.name == name) {
                        Some(j) => j.status = label("status"),
                        None => n.jobs.push(Job {
                            name,
                            status: label("status"),
                            restarts: 0,
                        }),
                    }
                }
                "bv_node_job_restarts" => {
                    let name = label("job");
                    let restarts = as_u64(s.value);
                    match n.jobs.iter_mut().find(|j| j.name == name) {
                        Some(j) => j.restarts = restarts,
                        None => n.jobs.push(Job {
                            name,
                            status: String::new(),
                            restarts,
                        }),
                    }
                }
                "bv_node_memory_bytes" => n.memory_bytes = as_u64(s.value),
                "bv_node_disk_bytes" => n.disk_bytes = as_u64(s.value),
                _ => {}
            }
        }
        for n in t.nodes.values_mut() {
            n.jobs.sort_by(|a, b| a.name.cmp(&b.name));
        }
        t
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

/// The outcome of the last scrape of a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scrape {
    pub at_ms: i64,
    /// Set when the last scrape failed; `telemetry` then holds the last good one.
    pub error: Option<String>,
    pub telemetry: Option<HostTelemetry>,
}

#[derive(Debug, Default)]
struct Inner {
    hosts: HashMap<String, Scrape>,
    history: HashMap<String, VecDeque<Point>>,
}

/// Last scrapes by host id, and node histories by node id.
#[derive(Debug, Default)]
pub struct Telemetry {
    inner: RwLock<Inner>,
}

impl Telemetry {
    /// Records a successful scrape of `host_id` taken at `at_ms`.
    pub fn record(&self, host_id: &str, at_ms: i64, t: HostTelemetry) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for (id, n) in &t.nodes {
            let h = inner.history.entry(id.clone()).or_default();
            if h.len() == HISTORY_LEN {
                h.pop_front();
            }
            h.push_back(Point {
                at_ms,
                status: n.status.clone(),
                height: n.height,
                block_age_secs: n.block_age_secs,
                alerts: n.alerts.len(),
            });
        }
        inner.hosts.insert(
            host_id.to_string(),
            Scrape {
                at_ms,
                error: None,
                telemetry: Some(t),
            },
        );
    }

    /// Records a failed scrape; the last good telemetry stays, marked by the error.
    pub fn record_error(&self, host_id: &str, at_ms: i64, error: String) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let entry = inner
            .hosts
            .entry(host_id.to_string())
            .or_insert_with(|| Scrape {
                at_ms,
                error: None,
                telemetry: None,
            });
        entry.at_ms = at_ms;
        entry.error = Some(error);
    }

    pub fn host(&self, host_id: &str) -> Option<Scrape> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.hosts.get(host_id).cloned()
    }

    /// The node as its host's last scrape showed it.
    pub fn node(&self, host_id: &str, node_id: &str) -> Option<NodeTelemetry> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .hosts
            .get(host_id)?
            .telemetry
            .as_ref()?
            .nodes
            .get(node_id)
            .cloned()
    }

    /// Every node's history, by node id.
    pub fn histories(&self) -> HashMap<String, Vec<Point>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .history
            .iter()
            .map(|(id, h)| (id.clone(), h.iter().cloned().collect()))
            .collect()
    }

    pub fn history(&self, node_id: &str) -> Vec<Point> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .history
            .get(node_id)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::exposition::parse;
    use super::*;

    const TEXT: &str = "bv_host_cpu_used_percent 12.5\nbv_host_memory_used_bytes 1000\n\
        bv_host_memory_total_bytes 4000\nbv_host_disk_used_bytes 10\nbv_host_disk_total_bytes 100\n\
        bv_node_info{node_id=\"n1\",node_name=\"a\",protocol=\"p\",variant=\"v\",version=\"1.2.0\"} 1\n\
        bv_node_status{node_id=\"n1\",node_name=\"a\",status=\"running\"} 1\n\
        bv_node_status{node_id=\"n1\",node_name=\"a\",status=\"stopped\"} 0\n\
        bv_node_alert{node_id=\"n1\",node_name=\"a\",kind=\"unhealthy\",message=\"m\"} 1\n\
        bv_node_height{node_id=\"n1\",node_name=\"a\"} 1234\n\
        bv_node_block_age_seconds{node_id=\"n1\",node_name=\"a\"} 7\n\
        bv_node_protocol_status{node_id=\"n1\",node_name=\"a\",state=\"broadcasting\",health=\"unhealthy\"} 1\n\
        bv_node_job_restarts{node_id=\"n1\",node_name=\"a\",job=\"node\"} 3\n\
        bv_node_job_status{node_id=\"n1\",node_name=\"a\",job=\"node\",status=\"running\"} 1\n\
        bv_node_job_status{node_id=\"n1\",node_name=\"a\",job=\"init\",status=\"failed\"} 1\n";

    #[test]
    fn host_and_nodes_from_an_exposition() {
        let t = HostTelemetry::from_samples(&parse(TEXT).unwrap());
        assert_eq!(t.usage.cpu_percent, 12.5);
        assert_eq!(t.usage.memory_total_bytes, 4000);
        assert_eq!(t.usage.disk_used_bytes, 10);
        let n = &t.nodes["n1"];
        assert_eq!(n.status, "running");
        assert_eq!(n.version, "1.2.0");
        assert_eq!(n.height, Some(1234));
        assert_eq!(n.block_age_secs, Some(7));
        assert_eq!(n.protocol_health.as_deref(), Some("unhealthy"));
        assert_eq!(
            n.alerts,
            vec![Alert {
                kind: "unhealthy".into(),
                message: "m".into()
            }]
        );
        let jobs: Vec<_> = n
            .jobs
            .iter()
            .map(|j| (j.name.as_str(), j.status.as_str(), j.restarts))
            .collect();
        assert_eq!(jobs, [("init", "failed", 0), ("node", "running", 3)]);
    }

    #[test]
    fn history_is_bounded_and_errors_keep_the_last_scrape() {
        let store = Telemetry::default();
        let t = HostTelemetry::from_samples(&parse(TEXT).unwrap());
        for i in 0..(HISTORY_LEN as i64 + 5) {
            store.record("h", i, t.clone());
        }
        let h = store.history("n1");
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0].at_ms, 5);
        assert_eq!(h[0].height, Some(1234));
        store.record_error("h", 99_999, "connection refused".into());
        let s = store.host("h").unwrap();
        assert_eq!(s.error.as_deref(), Some("connection refused"));
        assert_eq!(store.node("h", "n1").unwrap().height, Some(1234));
        assert!(store.node("h", "n2").is_none());
    }
}
