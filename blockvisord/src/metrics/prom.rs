//! Prometheus/OpenMetrics exposition of the host and node figures, served over HTTP on
//! `GET /metrics` (config `[metrics] listen`). Every scrape renders a fresh registry from a
//! [`Snapshot`], so deleted nodes disappear at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::blockvisor::v1 as pb;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::autoupgrade::runner::UpgradeCounts;
use bv_node::node::state::Status;
use bv_node::nodes::NodeObservation;

/// Everything one scrape shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub host: pb::HostMetrics,
    pub nodes: Vec<NodeObservation>,
    /// Per node: automatic upgrades done and rolled back (from the upgrade policy records).
    pub upgrades: Vec<UpgradeCounts>,
    /// Upgrades waiting before they stop their node (blocking jobs, upgrade window).
    pub upgrade_waits: Vec<UpgradeWaiting>,
    /// How long the last complete health-check pass took.
    pub health_check: Option<std::time::Duration>,
}

/// A node whose upgrade waits for a safe moment.
#[derive(Debug, Clone)]
pub struct UpgradeWaiting {
    pub node_id: String,
    pub name: String,
    pub wait: bv_node::node::upgrade_wait::UpgradeWait,
}

/// Where scrapes get their data (the daemon's registry; fixed data in tests).
pub trait MetricsSource: Send + Sync + 'static {
    fn snapshot(&self) -> Snapshot;
}

type Labels = Vec<(String, String)>;
type FGauge = Family<Labels, Gauge<f64, AtomicU64>>;

fn gauge(reg: &mut Registry, name: &str, help: &str) -> FGauge {
    let f = FGauge::default();
    reg.register(name, help, f.clone());
    f
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
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

const STATUSES: [(Status, &str); 5] = [
    (Status::Running, "running"),
    (Status::Stopped, "stopped"),
    (Status::Busy, "busy"),
    (Status::Failed, "failed"),
    (Status::Broken, "broken"),
];

fn encode_host(reg: &mut Registry, h: &pb::HostMetrics, nodes: usize) {
    for (name, help, value) in [
        (
            "host_cpu_used_percent",
            "Host CPU use (load based), percent",
            h.used_cpu_percent,
        ),
        (
            "host_memory_used_bytes",
            "Host memory in use",
            h.used_memory_bytes as f64,
        ),
        (
            "host_memory_total_bytes",
            "Host memory",
            h.total_memory_bytes as f64,
        ),
        (
            "host_disk_used_bytes",
            "Used space on the state root's filesystem",
            h.used_disk_bytes as f64,
        ),
        (
            "host_disk_total_bytes",
            "Size of the state root's filesystem",
            h.total_disk_bytes as f64,
        ),
        ("host_load1", "Load average, 1 minute", h.load_one),
        ("host_load5", "Load average, 5 minutes", h.load_five),
        ("host_load15", "Load average, 15 minutes", h.load_fifteen),
        (
            "host_used_ips",
            "Node IPs in use on the bridge",
            f64::from(h.used_ips),
        ),
        ("host_uptime_seconds", "Host uptime", h.uptime_secs as f64),
        ("host_nodes", "Nodes on this host", nodes as f64),
    ] {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(value);
        reg.register(name, help, g);
    }
    for (name, help, value) in [
        (
            "host_network_received_bytes",
            "Bytes received on all interfaces but loopback",
            h.network_received_bytes,
        ),
        (
            "host_network_sent_bytes",
            "Bytes sent on all interfaces but loopback",
            h.network_sent_bytes,
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(value);
        reg.register(name, help, c);
    }
}

/// Renders a snapshot as OpenMetrics text (metric names start with `bv_`).
pub fn render(snap: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("bv");
    encode_host(&mut reg, &snap.host, snap.nodes.len());
    if let Some(took) = snap.health_check {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(took.as_secs_f64());
        reg.register(
            "health_check_seconds",
            "Duration of the last health-check pass over every node",
            g,
        );
    }

    let info = gauge(
        &mut reg,
        "node_info",
        "Node identity: protocol, variant, image version",
    );
    let status = gauge(&mut reg, "node_status", "1 for the node's current status");
    let healthy = gauge(&mut reg, "node_healthy", "1 when the node has no alerts");
    let alert = gauge(&mut reg, "node_alert", "1 per open alert of a node");
    let height = gauge(
        &mut reg,
        "node_height",
        "Block height reported by the plugin",
    );
    let block_age = gauge(
        &mut reg,
        "node_block_age_seconds",
        "Age of the latest block",
    );
    let consensus = gauge(
        &mut reg,
        "node_consensus",
        "1 when the node is in consensus",
    );
    let protocol = gauge(
        &mut reg,
        "node_protocol_status",
        "1 for the plugin's protocol state and health",
    );
    let job = gauge(&mut reg, "node_job_status", "1 for each job's status");
    let restarts = gauge(
        &mut reg,
        "node_job_restarts",
        "Job restarts in the last 24 hours",
    );
    let memory = gauge(
        &mut reg,
        "node_memory_bytes",
        "Memory used by the node's cgroup",
    );
    let memory_limit = gauge(
        &mut reg,
        "node_memory_limit_bytes",
        "Memory limit (0: none)",
    );
    let disk = gauge(
        &mut reg,
        "node_disk_bytes",
        "Space allocated by the node's data dir",
    );
    let disk_limit = gauge(
        &mut reg,
        "node_disk_limit_bytes",
        "Declared disk size (0: none)",
    );
    let cpu = Family::<Labels, Counter<f64, AtomicU64>>::default();
    reg.register(
        "node_cpu_seconds",
        "CPU time used by the node's processes since its container started",
        cpu.clone(),
    );
    let upgraded = Family::<Labels, Counter<u64>>::default();
    reg.register(
        "node_auto_upgrades",
        "Automatic upgrades completed",
        upgraded.clone(),
    );
    let rolled_back = Family::<Labels, Counter<u64>>::default();
    reg.register(
        "node_auto_upgrade_rollbacks",
        "Automatic upgrades rolled back (unhealthy by the deadline or failed start)",
        rolled_back.clone(),
    );

    for n in &snap.nodes {
        let id = n.id.to_string();
        let base = labels(&[("node_id", &id), ("node_name", &n.name)]);
        let with = |extra: &[(&str, &str)]| {
            let mut l = base.clone();
            l.extend(labels(extra));
            l
        };
        info.get_or_create(&with(&[
            ("protocol", &n.protocol),
            ("variant", &n.variant),
            ("version", &n.version),
        ]))
        .set(1.0);
        for (s, word) in STATUSES {
            status
                .get_or_create(&with(&[("status", word)]))
                .set(if s == n.status { 1.0 } else { 0.0 });
        }
        healthy
            .get_or_create(&base)
            .set(if n.alerts.is_empty() { 1.0 } else { 0.0 });
        for a in &n.alerts {
            alert
                .get_or_create(&with(&[("kind", &a.kind), ("message", &a.message)]))
                .set(1.0);
        }
        let r = &n.resources;
        cpu.get_or_create(&base).inc_by(r.cpu_seconds);
        memory.get_or_create(&base).set(r.memory_bytes as f64);
        memory_limit
            .get_or_create(&base)
            .set(r.memory_limit_bytes as f64);
        disk.get_or_create(&base).set(r.disk_bytes as f64);
        disk_limit
            .get_or_create(&base)
            .set(r.disk_limit_bytes as f64);
        let Some(m) = &n.metrics else { continue };
        if let Some(h) = m.height {
            height.get_or_create(&base).set(h as f64);
        }
        if let Some(a) = m.block_age {
            block_age.get_or_create(&base).set(a as f64);
        }
        if let Some(c) = m.consensus {
            consensus
                .get_or_create(&base)
                .set(if c { 1.0 } else { 0.0 });
        }
        if let Some(p) = &m.protocol_status {
            protocol
                .get_or_create(&with(&[("state", &p.state), ("health", &p.health)]))
                .set(1.0);
        }
        for j in &m.jobs {
            let Some(ji) = &j.info else { continue };
            job.get_or_create(&with(&[("job", &j.name), ("status", job_status(ji))]))
                .set(1.0);
            restarts
                .get_or_create(&with(&[("job", &j.name)]))
                .set(f64::from(ji.restart_count));
        }
    }
    let waiting = gauge(
        &mut reg,
        "node_upgrade_waiting_seconds",
        "How long an upgrade has waited for upgrade-blocking jobs or the plugin's upgrade window",
    );
    let now = chrono::Utc::now();
    for w in &snap.upgrade_waits {
        let series = labels(&[
            ("node_id", &w.node_id),
            ("node_name", &w.name),
            ("to_version", &w.wait.to_version),
            ("reason", &w.wait.reason),
        ]);
        let secs = (now - w.wait.since).num_milliseconds().max(0) as f64 / 1000.0;
        waiting.get_or_create(&series).set(secs);
    }
    for u in &snap.upgrades {
        let base = labels(&[("node_id", &u.node_id), ("node_name", &u.name)]);
        upgraded.get_or_create(&base).inc_by(u.upgraded);
        rolled_back.get_or_create(&base).inc_by(u.rolled_back);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, source: Arc<dyn MetricsSource>) {
    use axum::http::header;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let source = source.clone();
            async move {
                let text = tokio::task::spawn_blocking(move || render(&source.snapshot()))
                    .await
                    .unwrap_or_default();
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("metrics endpoint stopped: {e}");
    }
}

/// Binds the metrics listener (`127.0.0.1:0` picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    struct Fixed(Snapshot);
    impl MetricsSource for Fixed {
        fn snapshot(&self) -> Snapshot {
            self.0.clone()
        }
    }

    fn sample() -> Snapshot {
        let id = uuid::Uuid::parse_str("0f5e1c2a-1111-2222-3333-444455556666").unwrap();
        let job = |name: &str, status, restarts| bpb::JobEntry {
            name: name.into(),
            info: Some(bpb::JobInfo {
                status: Some(bpb::JobStatus {
                    status: Some(status),
                }),
                restart_count: restarts,
                ..Default::default()
            }),
        };
        Snapshot {
            host: pb::HostMetrics {
                used_memory_bytes: 1000,
                total_memory_bytes: 4000,
                load_one: 0.5,
                network_received_bytes: 77,
                ..Default::default()
            },
            nodes: vec![NodeObservation {
                id,
                name: "brave-fox".into(),
                protocol: "monero".into(),
                variant: "regtest".into(),
                version: "1.2.0".into(),
                at: chrono::Utc::now(),
                status: Status::Running,
                metrics: Some(pb::NodeMetrics {
                    height: Some(1234),
                    block_age: Some(7),
                    consensus: Some(true),
                    protocol_status: Some(pb::ProtocolStatus {
                        state: "broadcasting".into(),
                        health: "unhealthy".into(),
                    }),
                    jobs: vec![
                        job(
                            "node",
                            bpb::job_status::Status::Running(bpb::JobRunning {}),
                            3,
                        ),
                        job(
                            "init",
                            bpb::job_status::Status::Finished(bpb::JobFinished {
                                exit_code: Some(1),
                                message: String::new(),
                            }),
                            0,
                        ),
                    ],
                    ..Default::default()
                }),
                resources: pb::NodeResources {
                    cpu_seconds: 12.5,
                    memory_bytes: 2048,
                    memory_limit_bytes: 0,
                    disk_bytes: 8192,
                    disk_limit_bytes: 0,
                },
                alerts: vec![pb::NodeAlert {
                    kind: "job_failed".into(),
                    message: "job `init` failed (exit code 1)".into(),
                }],
                disk_at: None,
            }],
            upgrades: vec![UpgradeCounts {
                node_id: id.to_string(),
                name: "brave-fox".into(),
                upgraded: 2,
                rolled_back: 1,
            }],
            upgrade_waits: vec![UpgradeWaiting {
                node_id: id.to_string(),
                name: "brave-fox".into(),
                wait: bv_node::node::upgrade_wait::UpgradeWait {
                    reason: "upgrade-blocking job(s) running: download".into(),
                    to_version: "1.2.0".into(),
                    since: chrono::Utc::now() - chrono::Duration::seconds(30),
                    deadline: chrono::Utc::now() + chrono::Duration::seconds(3570),
                },
            }],
            health_check: Some(std::time::Duration::from_millis(250)),
        }
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn renders_node_and_host_series() {
        let text = render(&sample());
        assert_eq!(value(&text, "bv_health_check_seconds"), Some(0.25));
        let n = "node_id=\"0f5e1c2a-1111-2222-3333-444455556666\",node_name=\"brave-fox\"";
        assert_eq!(
            value(&text, &format!("bv_node_height{{{n}}}")),
            Some(1234.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_block_age_seconds{{{n}}}")),
            Some(7.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_consensus{{{n}}}")),
            Some(1.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_status{{{n},status=\"running\"}}")),
            Some(1.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_status{{{n},status=\"failed\"}}")),
            Some(0.0)
        );
        assert_eq!(value(&text, &format!("bv_node_healthy{{{n}}}")), Some(0.0));
        assert_eq!(
            value(&text, &format!("bv_node_job_restarts{{{n},job=\"node\"}}")),
            Some(3.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("bv_node_job_status{{{n},job=\"init\",status=\"failed\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_cpu_seconds_total{{{n}}}")),
            Some(12.5)
        );
        assert_eq!(
            value(&text, &format!("bv_node_memory_bytes{{{n}}}")),
            Some(2048.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_disk_bytes{{{n}}}")),
            Some(8192.0)
        );
        assert_eq!(
            value(&text, &format!("bv_node_auto_upgrades_total{{{n}}}")),
            Some(2.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("bv_node_auto_upgrade_rollbacks_total{{{n}}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &format!(
                    "bv_node_protocol_status{{{n},state=\"broadcasting\",health=\"unhealthy\"}}"
                )
            ),
            Some(1.0)
        );
        assert!(text.contains("bv_node_alert{") && text.contains("kind=\"job_failed\""));
        let waited = value(
            &text,
            &format!(
                "bv_node_upgrade_waiting_seconds{{{n},to_version=\"1.2.0\",reason=\"upgrade-blocking job(s) running: download\"}}"
            ),
        )
        .expect("upgrade wait series");
        assert!((30.0..40.0).contains(&waited), "{waited}");
        assert_eq!(value(&text, "bv_host_memory_used_bytes"), Some(1000.0));
        assert_eq!(value(&text, "bv_host_nodes"), Some(1.0));
        assert_eq!(
            value(&text, "bv_host_network_received_bytes_total"),
            Some(77.0)
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[tokio::test]
    async fn endpoint_serves_the_source() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::new(Fixed(sample()))));
        let response = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
        .await
        .unwrap();
        server.abort();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(CONTENT_TYPE), "{response}");
        assert!(response.contains("bv_node_height{"), "{response}");
    }
}
