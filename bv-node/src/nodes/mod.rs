//! Registry of the host's nodes: lookup by id or name, one lock per node (operations on a
//! node are serialised, different nodes proceed in parallel), a state cache for listing
//! while a node is busy.

pub mod dirs;
pub mod observed;
pub mod report;
pub mod startup;

#[cfg(test)]
mod crash_tests;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, RwLock};

use tracing::{error, info, warn};
use uuid::Uuid;

use crate::node::state::{Loaded, NodeState};
use crate::node::upgrade_wait::{UpgradeWait, UpgradeWaitCell};
use crate::node::validate;
use crate::node::{Node, NodeError, NodeResult, PluginCancel, Services};
pub use dirs::{has_state, node_dir_id};
pub use observed::{NodeObservation, Observed};
pub use report::SweepReport;
pub use startup::recover_host;

pub struct NodeEntry {
    pub id: Uuid,
    node: tokio::sync::Mutex<Node>,
    cache: RwLock<NodeState>,
    plugin_cancel: Arc<PluginCancel>,
    upgrade_wait: Arc<UpgradeWaitCell>,
}

impl std::fmt::Debug for NodeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeEntry").field("id", &self.id).finish()
    }
}

/// Exclusive access to a node; refreshes the entry's state cache when dropped.
pub struct NodeGuard<'a> {
    guard: tokio::sync::MutexGuard<'a, Node>,
    cache: &'a RwLock<NodeState>,
}

impl Deref for NodeGuard<'_> {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.guard
    }
}

impl DerefMut for NodeGuard<'_> {
    fn deref_mut(&mut self) -> &mut Node {
        &mut self.guard
    }
}

impl Drop for NodeGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut cache) = self.cache.write() {
            *cache = self.guard.state.clone();
        }
    }
}

impl NodeEntry {
    fn new(node: Node) -> Self {
        Self {
            id: node.state.id,
            cache: RwLock::new(node.state.clone()),
            plugin_cancel: node.plugin_cancel.clone(),
            upgrade_wait: node.upgrade_wait.clone(),
            node: tokio::sync::Mutex::new(node),
        }
    }

    /// Cancels the node's running and queued plugin calls without waiting for its lock (a
    /// hung call may hold it); the plugin is dropped and loaded again on next use.
    pub fn cancel_plugin_calls(&self) {
        self.plugin_cancel.close();
    }

    /// What the node's pending upgrade waits for (blocking jobs, the plugin's upgrade
    /// window), read without the node's lock, which the waiting upgrade holds.
    pub fn upgrade_wait(&self) -> Option<UpgradeWait> {
        self.upgrade_wait.get()
    }

    pub async fn lock(&self) -> NodeGuard<'_> {
        NodeGuard {
            guard: self.node.lock().await,
            cache: &self.cache,
        }
    }

    /// `None` when another operation holds the node (it is Busy).
    pub fn try_lock(&self) -> Option<NodeGuard<'_>> {
        self.node.try_lock().ok().map(|guard| NodeGuard {
            guard,
            cache: &self.cache,
        })
    }

    pub fn cached(&self) -> NodeState {
        match self.cache.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

pub struct Registry {
    svc: Arc<Services>,
    nodes: RwLock<HashMap<Uuid, Arc<NodeEntry>>>,
    /// Serialises creates so name and IP checks cannot race.
    create_lock: tokio::sync::Mutex<()>,
    /// Health-check results (status reasons, alerts, metrics).
    observed: Observed,
    /// What start-up recovery did.
    last_sweep: RwLock<SweepReport>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Loads every `nodes/*/state.json`; unreadable ones are logged and skipped.
    pub fn load(svc: Arc<Services>) -> std::io::Result<Self> {
        let dir = svc.config.nodes_dir();
        std::fs::create_dir_all(&dir)?;
        let mut nodes = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(id) = node_dir_id(&path) else {
                continue;
            };
            if !has_state(&path) {
                continue;
            }
            let node = match NodeState::load_or_salvage(&path, id) {
                Loaded::Good(state) => Node::new(svc.clone(), state),
                Loaded::FromPrevious { state, error } => {
                    warn!(node = %id, "{error}; using the previous copy");
                    Node::new(svc.clone(), state)
                }
                Loaded::Broken { salvaged, error } => {
                    error!(node = %id, name = %salvaged.name, "node is Broken: {error}");
                    let mut node = Node::new(svc.clone(), salvaged);
                    node.broken = Some(Arc::new(error));
                    node
                }
            };
            nodes.insert(node.state.id, Arc::new(NodeEntry::new(node)));
        }
        info!(count = nodes.len(), "nodes loaded");
        Ok(Self {
            svc,
            nodes: RwLock::new(nodes),
            create_lock: tokio::sync::Mutex::new(()),
            observed: Observed::default(),
            last_sweep: RwLock::new(SweepReport::default()),
        })
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.svc
    }

    /// How many nodes hold an address of the bridge network.
    pub fn used_ips(&self) -> usize {
        self.list()
            .iter()
            .filter(|e| !e.cached().host_network)
            .count()
    }

    /// The host's figures with this registry's node count.
    pub fn host_metrics(&self) -> babel_api::pb::blockvisor::v1::HostMetrics {
        let mut m = bv_host::hostinfo::metrics(&self.services().config.root, self.used_ips());
        let sweep = self.last_sweep();
        m.last_sweep = Some(babel_api::pb::blockvisor::v1::SweepReport {
            at: sweep.at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            operations: sweep.operations,
            removed: sweep.removed,
            errors: sweep.errors,
        });
        m
    }

    /// Phase two of start-up recovery, once the nodes are loaded: interrupted upgrades are
    /// rolled back to the image recorded before them (or just tidied when they had already
    /// succeeded).
    pub async fn finish_interrupted_upgrades(&self, report: &mut SweepReport) {
        let journal = crate::journal::Journal::new(&self.svc.config.root);
        for entry in self.list() {
            let mut node = entry.lock().await;
            startup::finish_upgrade(&mut node, &journal, report).await;
        }
        // Entries of nodes that are gone.
        for intent in journal.list().into_iter().flatten() {
            if intent.op == crate::journal::Op::Upgrade
                && self.get(&intent.node_id.to_string()).is_err()
            {
                let _ = journal.done(intent.op, intent.node_id);
            }
        }
    }

    pub fn set_last_sweep(&self, report: SweepReport) {
        *self.last_sweep.write().unwrap_or_else(|p| p.into_inner()) = report;
    }

    pub fn last_sweep(&self) -> SweepReport {
        self.last_sweep
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    pub fn list(&self) -> Vec<Arc<NodeEntry>> {
        let mut list: Vec<_> = self.read().values().cloned().collect();
        list.sort_by_key(|e| e.cached().created_at);
        list
    }

    /// One recovery pass ([`Node::recover`] of every node, one after the other). A node held
    /// by another operation for longer than `lock_wait` is skipped: that operation decides
    /// its fate. Short holds (a scheduled task's check, a status query) are waited for:
    /// were they skipped, a task firing every second in phase with the passes would keep a
    /// crashed node from ever being recovered.
    pub async fn recover_all(&self, lock_wait: std::time::Duration) {
        for entry in self.list() {
            if let Ok(mut node) = tokio::time::timeout(lock_wait, entry.lock()).await {
                node.recover().await;
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, Arc<NodeEntry>>> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, Arc<NodeEntry>>> {
        self.nodes.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id_or_name: &str) -> NodeResult<Arc<NodeEntry>> {
        let map = self.read();
        if let Ok(id) = Uuid::parse_str(id_or_name)
            && let Some(e) = map.get(&id)
        {
            return Ok(e.clone());
        }
        map.values()
            .find(|e| e.cached().name == id_or_name)
            .cloned()
            .ok_or_else(|| NodeError::NodeNotFound(id_or_name.into()))
    }

    /// Creates a node: assigns id, name and IP when missing and checks they are unique.
    pub async fn create(&self, mut state: NodeState) -> NodeResult<Arc<NodeEntry>> {
        let _serial = self.create_lock.lock().await;
        let existing: Vec<NodeState> = self.read().values().map(|e| e.cached()).collect();
        if let Some(same) = existing.iter().find(|s| s.id == state.id) {
            return self.get(&same.id.to_string());
        }
        let used: Vec<Ipv4Addr> = existing
            .iter()
            .filter(|s| !s.host_network)
            .filter_map(|s| s.ip.parse().ok())
            .collect();
        validate::name(&state.name)?;
        if !state.host_network {
            validate::ip(&state.ip, &self.svc.config.network, &used)?;
        }
        validate::resources(
            &state.vm_config,
            &validate::HostCapacity::of_host(&self.svc.config.root),
        )?;
        if state.name.is_empty() {
            state.name = unique_name(&existing);
        } else if existing.iter().any(|s| s.name == state.name) {
            return Err(NodeError::NameTaken(state.name));
        }
        let net = &self.svc.config.network;
        if state.host_network {
            if state.ip.is_empty() {
                state.ip = "127.0.0.1".into();
                state.gateway = "127.0.0.1".into();
            }
        } else {
            if state.ip.is_empty() {
                let ip = bv_host::net::allocate_ip(net.first_ip, net.last_ip, &used)
                    .ok_or(NodeError::NoFreeIp)?;
                state.ip = ip.to_string();
            } else if state.ip.parse::<Ipv4Addr>().is_err() {
                return Err(NodeError::NotIpv4(state.ip.clone()));
            } else if existing.iter().any(|s| !s.host_network && s.ip == state.ip) {
                return Err(NodeError::IpTaken(state.ip));
            }
            if state.gateway.is_empty() {
                state.gateway = net.gateway.to_string();
            }
        }
        let node = Node::create(self.svc.clone(), state).await?;
        let entry = Arc::new(NodeEntry::new(node));
        self.write().insert(entry.id, entry.clone());
        Ok(entry)
    }

    /// Deletes the node (must not be locked by the caller).
    pub async fn delete(&self, entry: &Arc<NodeEntry>) -> NodeResult<()> {
        entry.cancel_plugin_calls();
        let mut node = entry.lock().await;
        node.delete().await?;
        self.write().remove(&entry.id);
        self.observed.remove(&entry.id);
        Ok(())
    }
}

fn unique_name(existing: &[NodeState]) -> String {
    loop {
        let name = petname::petname(3, "-").unwrap_or_else(|| Uuid::new_v4().to_string());
        if !existing.iter().any(|s| s.name == name) {
            return name;
        }
    }
}
