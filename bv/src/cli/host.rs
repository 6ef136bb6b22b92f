//! `bv host info` (also `metrics`, `m`): the host at a glance.

use std::collections::BTreeMap;
use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;
use serde_json::{Value, json};

use super::output::{human_bytes, print_json, status_word};
use super::{Format, connect, rpc_err};

/// Node count per status word, in a stable order.
pub fn nodes_by_state(nodes: &[pb::Node]) -> BTreeMap<&'static str, usize> {
    let mut by = BTreeMap::new();
    for n in nodes {
        *by.entry(status_word(n.status)).or_default() += 1;
    }
    by
}

/// The control-plane link in words: not registered, or the API, host id and whether the
/// command stream is open.
pub fn api_link(i: &pb::InfoResponse) -> String {
    if i.api_url.is_empty() {
        return "not registered (bv host register)".into();
    }
    let state = if i.api_connected {
        "connected"
    } else {
        "not connected"
    };
    format!("{} as host {} ({state})", i.api_url, i.host_id)
}

pub fn info_json(i: &pb::InfoResponse, m: &pb::HostMetrics, nodes: &[pb::Node]) -> Value {
    json!({
        "daemon": {"version": i.version, "pid": i.pid, "root": i.root, "socket": i.socket,
            "dev_mode": i.dev_mode, "metrics_addr": i.metrics_addr},
        "agent": {"version": i.agent_version},
        "api": {"url": i.api_url, "host_id": i.host_id, "connected": i.api_connected},
        "nodes": {"total": nodes.len(), "by_state": nodes_by_state(nodes)},
        "cpu": {"used_percent": m.used_cpu_percent,
            "load": [m.load_one, m.load_five, m.load_fifteen]},
        "memory": {"used_bytes": m.used_memory_bytes, "total_bytes": m.total_memory_bytes},
        "disk": {"used_bytes": m.used_disk_bytes, "total_bytes": m.total_disk_bytes},
        "used_ips": m.used_ips,
        "network": {"received_bytes": m.network_received_bytes, "sent_bytes": m.network_sent_bytes},
        "uptime_secs": m.uptime_secs,
        // The flat figures `bv host metrics --format json` always had.
        "used_cpu_percent": m.used_cpu_percent,
        "used_memory_bytes": m.used_memory_bytes,
        "total_memory_bytes": m.total_memory_bytes,
        "used_disk_bytes": m.used_disk_bytes,
        "total_disk_bytes": m.total_disk_bytes,
        "load_one": m.load_one,
        "load_five": m.load_five,
        "load_fifteen": m.load_fifteen,
        "last_sweep": m.last_sweep.as_ref().map(|s| json!({
            "at": s.at,
            "operations": s.operations,
            "removed": s.removed,
            "errors": s.errors,
        })),
    })
}

/// The start-up recovery's report: when, and what it completed, rolled back and removed.
fn sweep_lines(s: &pb::SweepReport) -> Vec<String> {
    if s.at.is_empty() {
        return vec![];
    }
    let mut lines = vec![format!(
        "Last sweep:     {} ({} operation(s) finished, {} leftover(s) removed, {} error(s))",
        s.at,
        s.operations.len(),
        s.removed.len(),
        s.errors.len()
    )];
    let items = s
        .operations
        .iter()
        .chain(&s.removed)
        .map(|x| format!("  {x}"))
        .chain(s.errors.iter().map(|e| format!("  error: {e}")));
    lines.extend(items);
    lines
}

fn percent(used: u64, total: u64) -> String {
    if total == 0 {
        return String::new();
    }
    format!(" ({:.0}%)", used as f64 * 100.0 / total as f64)
}

pub fn info_text(i: &pb::InfoResponse, m: &pb::HostMetrics, nodes: &[pb::Node]) -> String {
    let by: Vec<String> = nodes_by_state(nodes)
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect();
    let mut lines = vec![
        format!(
            "Daemon:         blockvisord {}, pid {}, root {}{}",
            i.version,
            i.pid,
            i.root,
            if i.dev_mode { ", dev mode" } else { "" }
        ),
        format!("Agent:          babel {}", i.agent_version),
        format!("API:            {}", api_link(i)),
        format!(
            "Nodes:          {}{}",
            nodes.len(),
            if by.is_empty() {
                String::new()
            } else {
                format!(" ({})", by.join(", "))
            }
        ),
        format!("Used cpu:       {:.1}%", m.used_cpu_percent),
        format!(
            "Used mem:       {} / {}{}",
            human_bytes(m.used_memory_bytes),
            human_bytes(m.total_memory_bytes),
            percent(m.used_memory_bytes, m.total_memory_bytes)
        ),
        format!(
            "Used disk:      {} / {}{}",
            human_bytes(m.used_disk_bytes),
            human_bytes(m.total_disk_bytes),
            percent(m.used_disk_bytes, m.total_disk_bytes)
        ),
        format!("Used IPs:       {}", m.used_ips),
        format!(
            "Load:           {:.2} {:.2} {:.2}",
            m.load_one, m.load_five, m.load_fifteen
        ),
        format!("Uptime:         {} s", m.uptime_secs),
    ];
    if !i.metrics_addr.is_empty() {
        lines.push(format!("Metrics:        http://{}/metrics", i.metrics_addr));
    }
    if let Some(sweep) = &m.last_sweep {
        lines.extend(sweep_lines(sweep));
    }
    lines.join("\n")
}

pub async fn info(socket: &Path, format: Format) -> eyre::Result<()> {
    let mut client = connect(socket).await?;
    let i = client
        .info(pb::InfoRequest {})
        .await
        .map_err(rpc_err)?
        .into_inner();
    let m = client
        .get_host_metrics(pb::GetHostMetricsRequest {})
        .await
        .map_err(rpc_err)?
        .into_inner();
    let nodes = client
        .list_nodes(pb::ListNodesRequest {})
        .await
        .map_err(rpc_err)?
        .into_inner()
        .nodes;
    match format {
        Format::Json => print_json(&info_json(&i, &m, &nodes)),
        Format::Text => crate::outln!("{}", info_text(&i, &m, &nodes)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(status: pb::NodeStatus) -> pb::Node {
        pb::Node {
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn info_counts_nodes_by_state_and_names_the_link() {
        let i = pb::InfoResponse {
            version: "1.2.3".into(),
            agent_version: "1.2.3".into(),
            api_url: "https://api.example:8770".into(),
            host_id: "h-1".into(),
            api_connected: false,
            ..Default::default()
        };
        let m = pb::HostMetrics {
            used_memory_bytes: 1 << 30,
            total_memory_bytes: 4 << 30,
            ..Default::default()
        };
        let nodes = [
            node(pb::NodeStatus::Running),
            node(pb::NodeStatus::Running),
            node(pb::NodeStatus::Failed),
        ];
        let text = info_text(&i, &m, &nodes);
        assert!(
            text.contains("Nodes:          3 (1 Failed, 2 Running)"),
            "{text}"
        );
        assert!(text.contains("Agent:          babel 1.2.3"), "{text}");
        assert!(text.contains("h-1 (not connected)"), "{text}");
        assert!(text.contains("1.0 GiB / 4.0 GiB (25%)"), "{text}");
        let v = info_json(&i, &m, &nodes);
        assert_eq!(v["nodes"]["by_state"]["Running"], 2);
        assert_eq!(v["api"]["connected"], false);
        assert_eq!(
            api_link(&pb::InfoResponse::default()),
            "not registered (bv host register)"
        );
    }

    #[test]
    fn the_last_sweep_is_shown_when_one_ran() {
        let none = pb::SweepReport::default();
        assert!(sweep_lines(&none).is_empty());
        let report = pb::SweepReport {
            at: "2026-12-02T06:00:00Z".into(),
            operations: vec!["create abc rolled back".into()],
            removed: vec!["mount /r/nodes/abc/rootfs".into()],
            errors: vec!["veth bvvabc: busy".into()],
        };
        let lines = sweep_lines(&report);
        assert!(lines[0].contains("1 operation(s) finished, 1 leftover(s) removed, 1 error(s)"));
        assert!(lines.iter().any(|l| l == "  mount /r/nodes/abc/rootfs"));
        assert!(lines.iter().any(|l| l == "  error: veth bvvabc: busy"));
        let m = pb::HostMetrics {
            last_sweep: Some(report),
            ..Default::default()
        };
        let json = info_json(&pb::InfoResponse::default(), &m, &[]);
        assert_eq!(
            json["last_sweep"]["removed"][0],
            "mount /r/nodes/abc/rootfs"
        );
    }
}
