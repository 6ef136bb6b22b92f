//! Plugin cron tasks (`add_task` / `delete_task`): 5–7 field expressions (croner), UTC,
//! keyed by (node, task name) so nodes never overwrite each other's tasks. Each node's tasks
//! are persisted in `nodes/<id>/tasks.json` on every change. Firing only sends an event; the
//! daemon runs the plugin method under the node's lock, so a slow task never blocks others.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use bv_base::json_file::{self, JsonFileError};
use chrono::Utc;
use croner::Cron;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::warn;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub schedule: String,
    pub function: String,
    pub param: String,
}

/// A task that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    pub node_id: Uuid,
    pub name: String,
    pub function: String,
    pub param: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("task `{name}`: invalid schedule `{schedule}`: {message}")]
    Schedule {
        name: String,
        schedule: String,
        message: String,
    },
    #[error("task name is empty")]
    EmptyName,
    #[error("saving the tasks: {0}")]
    Save(#[from] JsonFileError),
}

struct Entry {
    task: Task,
    handle: tokio::task::JoinHandle<()>,
}

pub struct Scheduler {
    runtime: tokio::runtime::Handle,
    fire: mpsc::UnboundedSender<Fire>,
    tasks: Mutex<HashMap<Uuid, BTreeMap<String, Entry>>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

pub const TASKS_FILE: &str = "tasks.json";

impl Scheduler {
    /// Must be called inside a tokio runtime. Due tasks arrive on the returned receiver.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Fire>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                runtime: tokio::runtime::Handle::current(),
                fire: tx,
                tasks: Mutex::new(HashMap::new()),
            },
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, BTreeMap<String, Entry>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces the node's task `name`, persisting the node's task list in `node_dir`.
    pub fn add(
        &self,
        node_id: Uuid,
        node_dir: &Path,
        name: &str,
        task: Task,
    ) -> Result<(), SchedulerError> {
        if name.is_empty() {
            return Err(SchedulerError::EmptyName);
        }
        let cron = Cron::from_str(&task.schedule).map_err(|e| SchedulerError::Schedule {
            name: name.into(),
            schedule: task.schedule.clone(),
            message: e.to_string(),
        })?;
        let handle = self.spawn(node_id, name.to_string(), cron, task.clone());
        let mut map = self.lock();
        let node = map.entry(node_id).or_default();
        if let Some(old) = node.insert(name.to_string(), Entry { task, handle }) {
            old.handle.abort();
        }
        save(node_dir, node)
    }

    pub fn delete(&self, node_id: Uuid, node_dir: &Path, name: &str) -> Result<(), SchedulerError> {
        let mut map = self.lock();
        let Some(node) = map.get_mut(&node_id) else {
            return Ok(());
        };
        if let Some(old) = node.remove(name) {
            old.handle.abort();
        }
        save(node_dir, node)
    }

    /// Drops every task of a node (node deleted); nothing is persisted.
    pub fn remove_node(&self, node_id: Uuid) {
        if let Some(node) = self.lock().remove(&node_id) {
            node.into_values().for_each(|e| e.handle.abort());
        }
    }

    /// Re-registers a node's persisted tasks (daemon restart); bad entries are logged.
    pub fn load_node(&self, node_id: Uuid, node_dir: &Path) {
        let tasks: BTreeMap<String, Task> =
            match json_file::read_if_exists(&node_dir.join(TASKS_FILE)) {
                Ok(Some(t)) => t,
                Ok(None) => return,
                Err(e) => {
                    warn!(node = %node_id, "scheduled tasks: {e}");
                    return;
                }
            };
        for (name, task) in tasks {
            if let Err(e) = self.add(node_id, node_dir, &name, task) {
                warn!(node = %node_id, "restoring task: {e}");
            }
        }
    }

    pub fn tasks(&self, node_id: Uuid) -> BTreeMap<String, Task> {
        self.lock()
            .get(&node_id)
            .map(|n| n.iter().map(|(k, e)| (k.clone(), e.task.clone())).collect())
            .unwrap_or_default()
    }

    fn spawn(
        &self,
        node_id: Uuid,
        name: String,
        cron: Cron,
        task: Task,
    ) -> tokio::task::JoinHandle<()> {
        let tx = self.fire.clone();
        self.runtime.spawn(async move {
            loop {
                let now = Utc::now();
                let Ok(next) = cron.find_next_occurrence(&now, false) else {
                    warn!(node = %node_id, task = %name, "schedule has no next occurrence");
                    return;
                };
                let wait = (next - now).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let fire = Fire {
                    node_id,
                    name: name.clone(),
                    function: task.function.clone(),
                    param: task.param.clone(),
                };
                if tx.send(fire).is_err() {
                    return;
                }
            }
        })
    }
}

fn save(node_dir: &Path, node: &BTreeMap<String, Entry>) -> Result<(), SchedulerError> {
    let tasks: BTreeMap<&String, &Task> = node.iter().map(|(k, e)| (k, &e.task)).collect();
    Ok(json_file::write(&node_dir.join(TASKS_FILE), &tasks, None)?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn task(schedule: &str) -> Task {
        Task {
            schedule: schedule.into(),
            function: "tick".into(),
            param: "p".into(),
        }
    }

    #[tokio::test]
    async fn tasks_are_scoped_per_node_persisted_and_fire() {
        let (s, mut rx) = Scheduler::new();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let da = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        s.add(a, da.path(), "t", task("* * * * * * *")).unwrap();
        s.add(b, db.path(), "t", task("0 0 0 1 1 * 2099")).unwrap();
        // Same name on another node does not replace or delete.
        assert_eq!(s.tasks(a).len(), 1);
        assert_eq!(s.tasks(b).len(), 1);
        let fired = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fired.node_id, a);
        assert_eq!(fired.function, "tick");
        s.delete(b, db.path(), "t").unwrap();
        assert!(s.tasks(b).is_empty());
        assert_eq!(s.tasks(a).len(), 1);

        // Persisted, and restored into a fresh scheduler.
        let (s2, _rx2) = Scheduler::new();
        s2.load_node(a, da.path());
        assert_eq!(s2.tasks(a)["t"], task("* * * * * * *"));
        s2.remove_node(a);
        assert!(s2.tasks(a).is_empty());
    }

    #[tokio::test]
    async fn bad_schedule_is_named() {
        let (s, _rx) = Scheduler::new();
        let d = tempfile::tempdir().unwrap();
        let err = s
            .add(Uuid::new_v4(), d.path(), "x", task("not cron"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("task `x`") && err.contains("not cron"),
            "{err}"
        );
    }
}
