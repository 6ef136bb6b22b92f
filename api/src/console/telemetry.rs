//! Figures from a scrape of a host daemon's metrics endpoint (`--console-scrape`, an
//! optional extra to what hosts report themselves): the `bv_*` series of one exposition
//! turned into a [`HostTelemetry`].

use super::exposition::Sample;
use crate::figures::{Alert, HostTelemetry, Job};

fn as_u64(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

/// Builds the figures from the `bv_*` series of one exposition.
pub fn from_samples(samples: &[Sample]) -> HostTelemetry {
    let mut t = HostTelemetry::default();
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
        let t = from_samples(&parse(TEXT).unwrap());
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
}
