//! What the health check last saw of each node, shared by the daemon (`bv node status`,
//! `bv node info`, the Prometheus endpoint). The health check fills it; nodes are removed
//! from it when they are deleted.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::node::state::Status;

/// What the last health check saw of one node.
#[derive(Debug, Clone)]
pub struct NodeObservation {
    pub id: Uuid,
    pub name: String,
    pub protocol: String,
    pub variant: String,
    pub version: String,
    /// When the node was seen (under its lock).
    pub at: DateTime<Utc>,
    pub status: Status,
    /// Plugin figures and jobs (running nodes only).
    pub metrics: Option<pb::NodeMetrics>,
    pub resources: pb::NodeResources,
    pub alerts: Vec<pb::NodeAlert>,
    /// When `resources.disk_bytes` was last measured (walking a data dir is slow).
    pub disk_at: Option<DateTime<Utc>>,
}

/// The daemon's shared view of node health, written by the collector.
#[derive(Debug, Default)]
pub struct Observed {
    nodes: RwLock<HashMap<Uuid, NodeObservation>>,
    metrics_addr: OnceLock<String>,
    /// How long the last complete health-check pass over every node took.
    last_pass: RwLock<Option<Duration>>,
}

impl Observed {
    pub fn get(&self, id: &Uuid) -> Option<NodeObservation> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<NodeObservation> {
        let mut list: Vec<_> = self
            .nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    pub fn put(&self, obs: NodeObservation) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(obs.id, obs);
    }

    pub fn remove(&self, id: &Uuid) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Keeps only the given nodes (deleted ones disappear from the metrics).
    pub fn retain(&self, ids: &[Uuid]) {
        let keep: std::collections::HashSet<&Uuid> = ids.iter().collect();
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| keep.contains(id));
    }

    pub fn set_last_pass(&self, took: Duration) {
        *self.last_pass.write().unwrap_or_else(|p| p.into_inner()) = Some(took);
    }

    /// Duration of the last complete health-check pass (None before the first one ends).
    pub fn last_pass(&self) -> Option<Duration> {
        *self.last_pass.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_metrics_addr(&self, addr: String) {
        let _ = self.metrics_addr.set(addr);
    }

    /// `host:port` of the Prometheus endpoint, empty when it is off.
    pub fn metrics_addr(&self) -> String {
        self.metrics_addr.get().cloned().unwrap_or_default()
    }
}
