//! Node and host observation: a periodic health check of every node (status, plugin
//! metrics, jobs, cgroup and disk use, alerts), kept in `nodes::Observed` for `bv node status`,
//! `bv node info` and the Prometheus endpoint ([`prom`]).

pub mod alerts;
pub mod cgroup;
pub mod collect;
pub mod disk;
pub mod prom;

use babel_api::pb::blockvisor::v1 as pb;
use uuid::Uuid;

use bv_node::node::state::Status;
use bv_node::node::upgrade_health::UPGRADE_ROLLED_BACK_ALERT;

/// Scrapes read the daemon's registry.
pub struct RegistrySource(pub std::sync::Arc<bv_node::nodes::Registry>);

impl prom::MetricsSource for RegistrySource {
    fn snapshot(&self) -> prom::Snapshot {
        prom::Snapshot {
            host: self.0.host_metrics(),
            nodes: self.0.observed().all(),
            upgrades: crate::autoupgrade::runner::counts(&self.0),
            upgrade_waits: self
                .0
                .list()
                .iter()
                .filter_map(|e| {
                    let wait = e.upgrade_wait()?;
                    Some(prom::UpgradeWaiting {
                        node_id: e.id.to_string(),
                        name: e.cached().name,
                        wait,
                    })
                })
                .collect(),
            health_check: self.0.observed().last_pass(),
        }
    }
}

/// Adds alerts and the auto-upgrade state to a node's API message. `status`/`reason` are
/// live; protocol and job alerts come from the last health check.
pub fn annotate(
    registry: &bv_node::nodes::Registry,
    node: &mut pb::Node,
    id: Uuid,
    status: Status,
    reason: &str,
) {
    let config = &registry.services().config;
    let dir = config.nodes_dir().join(id.to_string());
    let observed = registry.observed().get(&id);
    let mut alerts = alerts::node_alerts(status, reason, None);
    if !status.is_failed()
        && let Some(o) = observed
    {
        alerts.extend(o.alerts.into_iter().filter(|a| a.kind != "failed"));
    }
    // A rollback is shown at once, not only from the next health check.
    if !alerts.iter().any(|a| a.kind == UPGRADE_ROLLED_BACK_ALERT) {
        alerts.extend(bv_node::node::upgrade_health::rollback_alert(&dir));
    }
    let auto = crate::autoupgrade::runner::describe(&config.upgrade, &dir);
    if auto.last_result.starts_with("rolled back") || auto.last_result.starts_with("upgrade to") {
        alerts.push(pb::NodeAlert {
            kind: "upgrade_rolled_back".into(),
            message: auto.last_result.clone(),
        });
    }
    node.alerts = alerts;
    node.auto_upgrade = Some(auto);
}
