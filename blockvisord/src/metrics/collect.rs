//! The health check: observes every node periodically (without holding a node's lock while
//! the plugin answers) and keeps the result in [`Observed`].

use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use chrono::Utc;
use tracing::{debug, info};

use super::{alerts, cgroup, disk};
use bv_host::config::Cadence;
use bv_node::node::plugin::PLUGIN_UNRESPONSIVE_ALERT;
use bv_node::node::state::Status;
use bv_node::nodes::{NodeEntry, Registry};
use bv_node::nodes::{NodeObservation, Observed};

/// Longest a plugin gets to answer during a health check.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Observes one node; a node busy with another operation keeps its last figures.
pub async fn observe(entry: &NodeEntry, observed: &Observed, cadence: Cadence) -> NodeObservation {
    let mounts = cgroup::mounts().unwrap_or_default();
    observe_in(entry, observed, cadence, &mounts).await
}

/// [`observe`] with the cgroup mounts read once for a whole pass.
async fn observe_in(
    entry: &NodeEntry,
    observed: &Observed,
    cadence: Cadence,
    mounts: &[cgroup::CgroupMount],
) -> NodeObservation {
    let previous = observed.get(&entry.id);
    let Ok(mut node) = tokio::time::timeout(Duration::from_secs(2), entry.lock()).await else {
        let state = entry.cached();
        return match previous {
            Some(mut p) => {
                p.status = Status::Busy;
                p.at = Utc::now();
                p
            }
            None => NodeObservation {
                id: state.id,
                name: state.name,
                protocol: state.image_key.protocol_key,
                variant: state.image_key.variant_key,
                version: state.image.version,
                at: Utc::now(),
                status: Status::Busy,
                metrics: None,
                resources: pb::NodeResources::default(),
                alerts: vec![],
                disk_at: None,
            },
        };
    };
    // Observation time = when the node was seen under its lock, so a check that began
    // before an upgrade never counts as seeing the upgraded node.
    let seen_at = Utc::now();
    // One read of the container's state for both the status and the pid.
    let container = node.container_state().await;
    let status = node.status_in(&container);
    let reason = if status.is_failed() {
        node.failure_reason().await
    } else {
        String::new()
    };
    let pid = container.pid();
    let agent = node.agent.clone();
    let data = node.paths.data();
    let node_dir = node.paths.dir.clone();
    let plugin = if status == Status::Running {
        node.plugin().await.ok()
    } else {
        None
    };
    let state = node.state.clone();
    drop(node);

    let mut unresponsive = None;
    let metrics = match plugin {
        // Dropping the collection at the timeout cancels the plugin call.
        Some(p) => {
            match tokio::time::timeout(
                PLUGIN_TIMEOUT,
                bv_node::node::plugin::collect_metrics(&p, agent.as_deref()),
            )
            .await
            {
                Ok(Ok(m)) => Some(m),
                Ok(Err(e)) => {
                    debug!(node = %state.id, "health check: {e}");
                    None
                }
                Err(_) => {
                    debug!(node = %state.id, "health check: plugin timed out");
                    unresponsive = Some(pb::NodeAlert {
                        kind: PLUGIN_UNRESPONSIVE_ALERT.into(),
                        message: format!(
                            "the plugin did not answer the status check within {}s",
                            PLUGIN_TIMEOUT.as_secs()
                        ),
                    });
                    None
                }
            }
        }
        None => None,
    };
    let usage = pid
        .and_then(|pid| cgroup::usage_of_pid_in(mounts, pid))
        .unwrap_or_default();
    let now = Utc::now();
    let (disk_bytes, disk_at) = match previous.as_ref().and_then(|p| p.disk_at.map(|t| (p, t))) {
        Some((p, t)) if (now - t).to_std().unwrap_or_default() < cadence.disk_every => {
            (p.resources.disk_bytes, Some(t))
        }
        _ => (
            tokio::task::spawn_blocking(move || disk::allocated_bytes(&data))
                .await
                .unwrap_or(0),
            Some(now),
        ),
    };
    let resources = pb::NodeResources {
        cpu_seconds: usage.cpu_seconds,
        memory_bytes: usage.memory_bytes,
        memory_limit_bytes: if usage.memory_limit_bytes > 0 {
            usage.memory_limit_bytes
        } else {
            state.vm_config.mem_size_mb * 1024 * 1024
        },
        disk_bytes,
        disk_limit_bytes: state.vm_config.disk_size_gb * 1_000_000_000,
    };
    let mut alerts = alerts::node_alerts(status, &reason, metrics.as_ref());
    alerts.extend(unresponsive);
    alerts.extend(bv_node::node::upgrade_health::rollback_alert(&node_dir));
    if let Some(p) = &previous
        && p.alerts.is_empty()
        && !alerts.is_empty()
    {
        let text: Vec<_> = alerts.iter().map(|a| a.message.as_str()).collect();
        info!(node = %state.id, name = %state.name, "node needs attention: {}", text.join("; "));
    }
    NodeObservation {
        id: state.id,
        name: state.name,
        protocol: state.image_key.protocol_key,
        variant: state.image_key.variant_key,
        version: state.image.version,
        at: seen_at,
        status,
        metrics,
        resources,
        alerts,
        disk_at,
    }
}

/// One pass over every node.
pub async fn pass(registry: &Registry, cadence: Cadence) {
    let started = std::time::Instant::now();
    let observed = registry.observed();
    let entries = registry.list();
    let ids: Vec<_> = entries.iter().map(|e| e.id).collect();
    let mounts = cgroup::mounts().unwrap_or_default();
    for entry in entries {
        let obs = observe_in(&entry, observed, cadence, &mounts).await;
        observed.put(obs);
    }
    observed.retain(&ids);
    observed.set_last_pass(started.elapsed());
}

/// Runs the health check forever.
pub async fn run(registry: Arc<Registry>, cadence: Cadence) {
    let mut tick = tokio::time::interval(cadence.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        pass(&registry, cadence).await;
    }
}
