//! Recording fake runtime for unit tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{ContainerRuntime, ContainerState, ExecOutput, RuntimeError, RuntimeResult, SpecError};

#[derive(Debug, Default)]
pub struct FakeRuntime {
    pub calls: Mutex<Vec<String>>,
    containers: Mutex<HashMap<String, ContainerState>>,
    next_pid: Mutex<u32>,
    /// When set, `run` fails with this message.
    pub fail_run: Mutex<Option<String>>,
    /// When set, SIGTERM is ignored (the container keeps running until SIGKILL).
    pub ignore_term: Mutex<bool>,
    /// Cgroups left behind (the fake never creates one; tests plant them).
    pub cgroups: Mutex<std::collections::HashSet<String>>,
}

impl FakeRuntime {
    fn record(&self, call: String) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Simulates the container's init dying on its own.
    pub fn crash(&self, id: &str) {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), ContainerState::Stopped);
    }

    fn pid_of(&self, pid: u32) -> Option<String> {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, s)| s.pid() == Some(pid))
            .map(|(id, _)| id.clone())
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn create(&self, id: &str, _bundle: &Path, _console: &Path) -> RuntimeResult<u32> {
        self.record(format!("create {id}"));
        let mut next = self.next_pid.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        let pid = 1000 + *next;
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), ContainerState::Created { pid });
        Ok(pid)
    }

    async fn start(&self, id: &str) -> RuntimeResult<()> {
        self.record(format!("start {id}"));
        let mut map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(id).copied() {
            Some(ContainerState::Created { pid }) => {
                map.insert(id.to_string(), ContainerState::Running { pid });
                Ok(())
            }
            _ => Err(RuntimeError::NotFound(id.into())),
        }
    }

    async fn run(&self, id: &str, bundle: &Path, console: &Path) -> RuntimeResult<u32> {
        if let Some(msg) = self
            .fail_run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            self.record(format!("run {id} (failed)"));
            return Err(RuntimeError::Command {
                command: format!("run {id}"),
                message: msg,
            });
        }
        if !bundle.join("config.json").is_file() {
            return Err(RuntimeError::Spec(SpecError::Missing));
        }
        let pid = self.create(id, bundle, console).await?;
        self.start(id).await?;
        self.record(format!("run {id}"));
        Ok(pid)
    }

    async fn state(&self, id: &str) -> RuntimeResult<ContainerState> {
        Ok(self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
            .unwrap_or(ContainerState::Absent))
    }

    async fn kill(&self, id: &str, signal: i32) -> RuntimeResult<()> {
        self.record(format!("kill {id} {signal}"));
        if signal == libc::SIGTERM && *self.ignore_term.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(());
        }
        let mut map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = map.get_mut(id) {
            *state = ContainerState::Stopped;
        }
        Ok(())
    }

    async fn wait(&self, pid: u32, _timeout: Duration) -> RuntimeResult<bool> {
        Ok(self.pid_of(pid).is_none())
    }

    async fn delete(&self, id: &str) -> RuntimeResult<()> {
        self.record(format!("delete {id}"));
        let mut map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(id) {
            Some(ContainerState::Running { .. }) | Some(ContainerState::Created { .. }) => {
                Err(RuntimeError::Command {
                    command: format!("delete {id}"),
                    message: "container is running".into(),
                })
            }
            _ => {
                map.remove(id);
                Ok(())
            }
        }
    }

    async fn exec(&self, id: &str, args: &[String], _env: &[String]) -> RuntimeResult<ExecOutput> {
        self.record(format!("exec {id} {}", args.join(" ")));
        Ok(ExecOutput {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    fn state_root(&self) -> PathBuf {
        PathBuf::from("/fake")
    }

    async fn list(&self) -> RuntimeResult<Vec<String>> {
        Ok(self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect())
    }

    async fn remove_cgroup(&self, cgroups_path: &str) -> RuntimeResult<bool> {
        Ok(self
            .cgroups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cgroups_path))
    }
}

#[cfg(test)]
mod tests {
    use super::super::stop_and_delete;
    use super::*;

    #[tokio::test]
    async fn stop_escalates_to_sigkill_when_term_is_ignored() {
        let rt = FakeRuntime::default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        rt.run("c1", dir.path(), &dir.path().join("log"))
            .await
            .unwrap();
        *rt.ignore_term.lock().unwrap_or_else(|p| p.into_inner()) = true;
        stop_and_delete(&rt, "c1", libc::SIGTERM, Duration::from_millis(1))
            .await
            .unwrap();
        let calls = rt.calls();
        assert!(calls.contains(&"kill c1 15".to_string()));
        assert!(calls.contains(&"kill c1 9".to_string()));
        assert_eq!(calls.last().unwrap(), "delete c1");
        assert_eq!(rt.state("c1").await.unwrap(), ContainerState::Absent);
    }
}
