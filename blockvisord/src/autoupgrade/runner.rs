//! The daemon side of automatic upgrades: every `check_interval_secs`, each node's record
//! and policy go through the [`Planner`]; upgrades and rollbacks run under the node's lock
//! with the ordinary upgrade operation (which itself rolls back a failed start).

use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use tracing::{info, warn};

use super::holds::{Hold, Holds};
use super::policy::{Action, NodeView, Planner, effective};
use super::record::Record;
use crate::cloud::CloudError;
use bv_base::json_file::JsonFileError;
use bv_host::config::{Mode, UpgradeConfig};
use bv_node::node::NodeError;
use bv_node::node::state::{NodeImage, Status};
use bv_node::node::upgrade::UpgradeTarget;
use bv_node::node::upgrade_errors::GateError;
use bv_node::node::upgrade_gate::{OnBlocking, UpgradeGate};
use bv_node::nodes::{NodeEntry, Registry};

/// How long a pass waits for a node another task holds (a status query, a metrics scrape)
/// before it counts the node as busy (start, stop, upgrade in progress) and skips it.
const BUSY_AFTER: Duration = Duration::from_millis(1500);

async fn view(registry: &Registry, entry: &NodeEntry, record: &Record, holds: &Holds) -> NodeView {
    let busy = tokio::time::timeout(BUSY_AFTER, entry.lock())
        .await
        .is_err();
    let state = entry.cached();
    let obs = registry.observed().get(&entry.id);
    let since = record.pending.as_ref().map(|p| p.upgraded_at);
    // Healthy = seen running without alerts after the upgrade, on the upgraded version
    // (an upgrade through the API lands a little later).
    let on_target = record
        .pending
        .as_ref()
        .is_none_or(|p| state.image.version == p.to_version);
    let healthy = on_target
        && obs.is_some_and(|o| {
            o.status == Status::Running && o.alerts.is_empty() && since.is_none_or(|t| o.at > t)
        });
    NodeView {
        held: holds.versions(&state.image_key.protocol_key, &state.image_key.variant_key),
        protocol: state.image_key.protocol_key,
        variant: state.image_key.variant_key,
        image: state.image,
        running: state.expected_status == Status::Running,
        hands_off: busy || state.expected_status == Status::Failed,
        healthy,
    }
}

/// How long an automatic upgrade waits for the plugin's upgrade window (passes run one node
/// after the other, so the wait is short); running upgrade-blocking jobs put the upgrade off
/// to the next pass instead.
const AUTO_MAX_WAIT: Duration = Duration::from_secs(300);

/// Why an automatic upgrade did not happen or did not stick.
#[derive(Debug, thiserror::Error)]
enum UpgradeFailure {
    /// Not at a safe moment (upgrade-blocking jobs): tried again at the next pass.
    #[error(transparent)]
    NotNow(GateError),
    /// The new version ran but was not healthy in time; the upgrade rolled it back.
    #[error("{version} was not healthy within {timeout_secs} s")]
    Unhealthy { version: String, timeout_secs: u64 },
    /// The control-plane API did not take the upgrade of a node it manages.
    #[error(transparent)]
    Api(CloudError),
    #[error(transparent)]
    Failed(NodeError),
}

/// Dev nodes are upgraded here; nodes the control-plane API manages are upgraded through
/// it (its Upgrade command then runs here), so the API's record stays right.
async fn upgrade_to(
    registry: &Registry,
    entry: &NodeEntry,
    image: NodeImage,
    health_timeout: Option<Duration>,
    on_blocking: OnBlocking,
) -> Result<(), UpgradeFailure> {
    let state = entry.cached();
    if !state.dev_mode {
        let req = pb::CatalogNodeRequest {
            version: Some(image.version.clone()),
            ..Default::default()
        };
        return crate::cloud::upgrade_from_catalog(&registry.services().cloud, &state, &req)
            .await
            .map(|_| ())
            .map_err(UpgradeFailure::Api);
    }
    let mut node = entry.lock().await;
    let target = UpgradeTarget {
        image,
        image_key: node.state.image_key.clone(),
        vm_config: node.state.vm_config.clone(),
        health_timeout,
    };
    let gate = UpgradeGate {
        on_blocking,
        max_wait: AUTO_MAX_WAIT,
        ..Default::default()
    };
    node.upgrade_with(target, &gate).await.map_err(|e| match e {
        NodeError::UpgradeGate(e) => UpgradeFailure::NotNow(e),
        NodeError::UpgradeRolledBackUnhealthy {
            version,
            timeout_secs,
            ..
        } => UpgradeFailure::Unhealthy {
            version,
            timeout_secs,
        },
        other => UpgradeFailure::Failed(other),
    })
}

/// The holds every node's last rollback asks for (manual upgrades too).
fn rolled_back_holds(registry: &Registry) -> Vec<Hold> {
    let nodes_dir = registry.services().config.nodes_dir();
    registry
        .list()
        .iter()
        .filter_map(|entry| {
            let note = bv_node::node::upgrade_health::rollback_note(
                &nodes_dir.join(entry.id.to_string()),
            )?;
            let key = entry.cached().image_key;
            Some(Hold {
                protocol: key.protocol_key,
                variant: key.variant_key,
                version: note.from_version.clone(),
                at: note.at,
                reason: note.message(),
            })
        })
        .collect()
}

/// Adds `new` to the holds file (what an operator released since stays released).
fn save_holds(root: &std::path::Path, new: Vec<Hold>) -> Holds {
    match Holds::update(root, |h| new.into_iter().fold(false, |c, x| h.add(x) | c)) {
        Ok((_, holds)) => holds,
        Err(e) => {
            warn!("auto-upgrade: {e}");
            Holds::default()
        }
    }
}

/// One pass over every node.
pub async fn pass(registry: &Registry, planner: &Planner, host: &UpgradeConfig) {
    let root = registry.services().config.root.clone();
    let mut holds = save_holds(&root, rolled_back_holds(registry));
    // Holds made during this pass: they apply to the nodes after, and are saved at the end.
    let mut added = Vec::new();
    let nodes_dir = registry.services().config.nodes_dir();
    for entry in registry.list() {
        let dir = nodes_dir.join(entry.id.to_string());
        let mut record = match Record::load(&dir) {
            Ok(r) => r,
            Err(e) => {
                warn!(node = %entry.id, "auto-upgrade: {e}");
                continue;
            }
        };
        let policy = effective(host, &record.policy);
        if policy.mode == Mode::Manual && record.pending.is_none() && record.state == "manual" {
            continue;
        }
        let node = view(registry, &entry, &record, &holds).await;
        let (action, state) = planner.plan(&policy, &node, &mut record).await;
        record.state = state;
        match action {
            Action::Nothing => {}
            Action::Confirm => info!(node = %entry.id, "auto-upgrade: {}", record.last_result),
            Action::Upgrade(img) => {
                info!(node = %entry.id, from = %node.image.version, to = %img.version, "auto-upgrade");
                let image = NodeImage {
                    version: img.version.clone(),
                    uri: img.uri.clone(),
                    min_babel_version: img.min_babel_version.clone(),
                    ..node.image.clone()
                };
                let health = policy.health_deadline.to_std().ok();
                let result = upgrade_to(registry, &entry, image, health, OnBlocking::Refuse).await;
                if let Err(e @ (UpgradeFailure::Api(_) | UpgradeFailure::Failed(_))) = &result {
                    warn!(node = %entry.id, "auto-upgrade to {} failed: {e}", img.version);
                }
                // A version that ran and was rolled back is held for the whole host; a
                // failure before it ran (a pull, a refused image) is only recorded.
                if let Err(e @ UpgradeFailure::Unhealthy { .. }) = &result {
                    warn!(node = %entry.id, "auto-upgrade to {} rolled back: {e}", img.version);
                    let hold = Hold {
                        protocol: node.protocol.clone(),
                        variant: node.variant.clone(),
                        version: img.version.clone(),
                        at: chrono::Utc::now(),
                        reason: e.to_string(),
                    };
                    holds.add(hold.clone());
                    added.push(hold);
                }
                match result {
                    Err(UpgradeFailure::NotNow(why)) => {
                        info!(node = %entry.id, "auto-upgrade to {} put off: {why}", img.version);
                        record.state = format!("upgrade to {} waiting: {why}", img.version);
                    }
                    // Rolled back by the upgrade's own health check: booked as a health
                    // rollback, as if the engine had rolled it back at its deadline.
                    Err(e @ UpgradeFailure::Unhealthy { .. }) => {
                        planner.upgraded(&policy, &node, &img, Ok(()), &mut record);
                        planner.rolled_back(&e.to_string(), Ok(()), &mut record);
                        record.state = record.last_result.clone();
                    }
                    other => {
                        let result = other.map_err(|e| e.to_string());
                        planner.upgraded(&policy, &node, &img, result, &mut record);
                    }
                }
            }
            Action::Rollback { to, reason } => {
                warn!(node = %entry.id, "auto-upgrade rollback: {reason}");
                let hold = Hold {
                    protocol: node.protocol.clone(),
                    variant: node.variant.clone(),
                    version: node.image.version.clone(),
                    at: chrono::Utc::now(),
                    reason: reason.clone(),
                };
                holds.add(hold.clone());
                added.push(hold);
                // Back to the version that was healthy: an unhealthy node is not left
                // waiting on its jobs (the upgrade log names what the rollback ends).
                let result = upgrade_to(registry, &entry, to, None, OnBlocking::Force)
                    .await
                    .map_err(|e| e.to_string());
                planner.rolled_back(&reason, result, &mut record);
                record.state = record.last_result.clone();
            }
        }
        if let Err(e) = record.save(&dir) {
            warn!(node = %entry.id, "auto-upgrade: {e}");
        }
    }
    save_holds(&root, added);
}

pub async fn run(registry: Arc<Registry>, planner: Planner, host: UpgradeConfig) {
    let mut tick = tokio::time::interval(Duration::from_secs(host.check_interval_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        pass(&registry, &planner, &host).await;
    }
}

/// The `Node.auto_upgrade` message of a node.
pub fn describe(host: &UpgradeConfig, node_dir: &std::path::Path) -> pb::AutoUpgrade {
    let record = Record::load(node_dir).unwrap_or_default();
    let p = effective(host, &record.policy);
    pb::AutoUpgrade {
        policy: Some(pb::UpgradePolicy {
            mode: match p.mode {
                Mode::Manual => pb::UpgradeMode::Manual,
                Mode::Automatic => pb::UpgradeMode::Automatic,
            }
            .into(),
            delay_secs: u64::try_from(p.delay.num_seconds()).ok(),
            health_deadline_secs: u64::try_from(p.health_deadline.num_seconds()).ok(),
        }),
        state: record.state,
        last_result: record.last_result,
    }
}

/// Stores a node's own policy (`bv node update --upgrade-policy …`).
pub fn set_policy(
    node_dir: &std::path::Path,
    policy: &pb::UpgradePolicy,
) -> Result<(), JsonFileError> {
    let mut record = Record::load(node_dir)?;
    record.policy.mode = match pb::UpgradeMode::try_from(policy.mode) {
        Ok(pb::UpgradeMode::Manual) => Some(Mode::Manual),
        Ok(pb::UpgradeMode::Automatic) => Some(Mode::Automatic),
        _ => None,
    };
    if policy.delay_secs.is_some() {
        record.policy.delay_secs = policy.delay_secs;
    }
    if policy.health_deadline_secs.is_some() {
        record.policy.health_deadline_secs = policy.health_deadline_secs;
    }
    record.state.clear();
    record.save(node_dir)
}

/// Automatic upgrades of one node, done and rolled back (from its policy record).
#[derive(Debug, Clone, Default)]
pub struct UpgradeCounts {
    pub node_id: String,
    pub name: String,
    pub upgraded: u64,
    pub rolled_back: u64,
}

/// Counters for the metrics endpoint.
pub fn counts(registry: &Registry) -> Vec<UpgradeCounts> {
    let nodes_dir = registry.services().config.nodes_dir();
    registry
        .list()
        .iter()
        .filter_map(|e| {
            let r = Record::load(&nodes_dir.join(e.id.to_string())).ok()?;
            Some(UpgradeCounts {
                node_id: e.id.to_string(),
                name: e.cached().name,
                upgraded: r.upgraded,
                rolled_back: r.rolled_back,
            })
        })
        .collect()
}
