//! Text tables and JSON renderings of API messages.

use babel_api::pb::babel::v1 as bpb;
use babel_api::pb::blockvisor::v1 as pb;
use comfy_table::{Table, presets::NOTHING};
use serde_json::{Value, json};

pub fn print_json(v: &Value) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// A failed command's error as one JSON line for stderr: `{"error": message, "causes": [..]}`
/// (`message` is the outermost context, `causes` the chain under it).
pub fn error_json(e: &eyre::Report) -> Value {
    let mut chain = e.chain().map(|c| c.to_string());
    let message = chain.next().unwrap_or_default();
    json!({"error": message, "causes": chain.collect::<Vec<_>>()})
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

pub fn status_word(s: i32) -> &'static str {
    match pb::NodeStatus::try_from(s).unwrap_or(pb::NodeStatus::Unspecified) {
        pb::NodeStatus::Running => "Running",
        pb::NodeStatus::Stopped => "Stopped",
        pb::NodeStatus::Busy => "Busy",
        pb::NodeStatus::Failed => "Failed",
        pb::NodeStatus::Broken => "Broken",
        pb::NodeStatus::Unspecified => "Unknown",
    }
}

pub fn uptime(node: &pb::Node) -> Option<u64> {
    if status_word(node.status) != "Running" {
        return None;
    }
    let started = node.started_at.as_ref()?;
    let now = chrono::Utc::now().timestamp();
    u64::try_from(now - started.seconds).ok()
}

fn hms(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

pub fn image_label(spec: &pb::NodeSpec) -> String {
    let key = spec.image_key.clone().unwrap_or_default();
    let image = spec.image.clone().unwrap_or_default();
    format!("{}/{}/{}", key.protocol_key, key.variant_key, image.version)
}

pub fn node_table(nodes: &[pb::Node]) -> String {
    if nodes.is_empty() {
        return "No nodes found.".into();
    }
    let mut table = Table::new();
    table.load_style(NOTHING).set_header(vec![
        "ID",
        "Name",
        "Image",
        "State",
        "IP Address",
        "Uptime  [h:m:s]",
    ]);
    for n in nodes {
        let spec = n.spec.clone().unwrap_or_default();
        table.add_row(vec![
            spec.id.clone(),
            spec.name.clone(),
            image_label(&spec),
            status_word(n.status).to_string(),
            spec.ip.clone(),
            uptime(n).map(hms).unwrap_or_else(|| "-".into()),
        ]);
    }
    table.to_string()
}

pub fn node_json(n: &pb::Node) -> Value {
    let spec = n.spec.clone().unwrap_or_default();
    let image = spec.image.clone().unwrap_or_default();
    let key = spec.image_key.clone().unwrap_or_default();
    let vm = spec.vm_config.clone().unwrap_or_default();
    json!({
        "id": spec.id,
        "name": spec.name,
        "status": status_word(n.status),
        "expected_status": status_word(n.expected_status),
        "status_reason": n.status_reason,
        "initialized": n.initialized,
        "protocol_key": key.protocol_key,
        "variant_key": key.variant_key,
        "image": {"uri": image.uri, "version": image.version, "id": image.id},
        "dev_mode": spec.dev_mode,
        "ip": spec.ip,
        "gateway": spec.gateway,
        "properties": spec.properties,
        "tags": spec.tags,
        "vm_config": {"vcpu_count": vm.vcpu_count, "mem_size_mb": vm.mem_size_mb, "disk_size_gb": vm.disk_size_gb,
            "ramdisks": vm.ramdisks.iter().map(|r| json!({"mount": r.mount, "size_mb": r.size_mb})).collect::<Vec<_>>()},
        "started_at": n.started_at.as_ref().map(|t| t.seconds),
        "uptime_secs": uptime(n),
        "node_dir": n.node_dir,
        "data_dir": n.data_dir,
        "rootfs": n.rootfs,
        "alerts": alerts_json(&n.alerts),
        "upgrade_wait": upgrade_wait_json(n.upgrade_wait.as_ref()),
        "auto_upgrade": n.auto_upgrade.as_ref().map(|a| json!({
            "mode": a.policy.as_ref().map(|p| upgrade_mode_word(p.mode)),
            "delay_secs": a.policy.as_ref().and_then(|p| p.delay_secs),
            "health_deadline_secs": a.policy.as_ref().and_then(|p| p.health_deadline_secs),
            "state": a.state,
            "last_result": a.last_result,
        })),
    })
}

/// A protobuf timestamp's seconds as RFC 3339 UTC (empty when unset).
fn rfc3339(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// What a pending upgrade waits for, as one line.
pub fn upgrade_wait_text(w: &pb::UpgradeWait) -> String {
    format!(
        "upgrade to {} waiting: {} (at most until {})",
        w.to_version,
        w.reason,
        rfc3339(w.deadline.as_ref().map(|t| t.seconds))
    )
}

pub fn upgrade_wait_json(w: Option<&pb::UpgradeWait>) -> Value {
    w.map(|w| {
        json!({
            "reason": w.reason,
            "to_version": w.to_version,
            "since": rfc3339(w.since.as_ref().map(|t| t.seconds)),
            "deadline": rfc3339(w.deadline.as_ref().map(|t| t.seconds)),
        })
    })
    .unwrap_or(Value::Null)
}

pub fn alerts_json(alerts: &[pb::NodeAlert]) -> Value {
    alerts
        .iter()
        .map(|a| json!({"kind": a.kind, "message": a.message}))
        .collect()
}

pub fn upgrade_mode_word(mode: i32) -> &'static str {
    match pb::UpgradeMode::try_from(mode).unwrap_or(pb::UpgradeMode::Unspecified) {
        pb::UpgradeMode::Automatic => "automatic",
        pb::UpgradeMode::Manual => "manual",
        pb::UpgradeMode::Unspecified => "host default",
    }
}

pub fn job_status_text(s: Option<&bpb::JobStatus>) -> String {
    let Some(status) = s.and_then(|s| s.status.clone()) else {
        return "-".into();
    };
    match babel_api::job::JobStatus::try_from(bpb::JobStatus {
        status: Some(status),
    }) {
        Ok(st) => st.to_string(),
        Err(e) => format!("invalid status: {e}"),
    }
}

pub fn job_info_json(name: &str, info: &bpb::JobInfo) -> Value {
    json!({
        "name": name,
        "status": job_status_text(info.status.as_ref()),
        "timestamp": info.timestamp.as_ref().map(|t| t.seconds),
        "progress": info.progress.as_ref().map(|p| json!({"total": p.total, "current": p.current, "message": p.message})),
        "restart_count": info.restart_count,
        "upgrade_blocking": info.upgrade_blocking,
        "logs": info.logs,
    })
}

pub fn metrics_json(m: &pb::NodeMetrics) -> Value {
    json!({
        "height": m.height,
        "block_age": m.block_age,
        "consensus": m.consensus,
        "protocol_status": m.protocol_status.as_ref().map(|p| json!({"state": p.state, "health": p.health})),
        "name": m.name,
        "address": m.address,
        "jobs": m.jobs.iter().map(|j| job_info_json(&j.name, &j.info.clone().unwrap_or_default())).collect::<Vec<_>>(),
        "resources": m.resources.as_ref().map(|r| json!({
            "cpu_seconds": r.cpu_seconds,
            "memory_bytes": r.memory_bytes,
            "memory_limit_bytes": r.memory_limit_bytes,
            "disk_bytes": r.disk_bytes,
            "disk_limit_bytes": r.disk_limit_bytes,
        })),
        "alerts": alerts_json(&m.alerts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_header_and_rows() {
        let node = pb::Node {
            spec: Some(pb::NodeSpec {
                id: "id-1".into(),
                name: "brave-blue-fox".into(),
                ip: "10.0.0.2".into(),
                ..Default::default()
            }),
            status: pb::NodeStatus::Stopped.into(),
            ..Default::default()
        };
        let t = node_table(&[node]);
        assert!(t.contains("Name") && t.contains("brave-blue-fox") && t.contains("Stopped"));
        assert_eq!(node_table(&[]), "No nodes found.");
        assert_eq!(hms(3725), "1:02:05");
        assert_eq!(human_bytes(2048), "2.0 KiB");
    }
}
