//! The real runtime: runc with a private `--root`, containers detached with their console
//! going to a file, exits observed through a pidfd on the init pid, and plain `runc delete`
//! (never `-f`, which always sleeps 100 ms).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use super::{ContainerRuntime, ContainerState, ExecOutput, RuntimeError, RuntimeResult, pidfd};

#[derive(Debug, Clone)]
pub struct Runc {
    binary: PathBuf,
    root: PathBuf,
}

impl Runc {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            root: root.into(),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root);
        cmd.stdin(Stdio::null()).kill_on_drop(false);
        cmd
    }

    async fn output(&self, args: &[&str], what: String) -> RuntimeResult<std::process::Output> {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|source| RuntimeError::Io {
                context: format!("running {}", self.binary.display()),
                source,
            })?;
        if out.status.success() {
            Ok(out)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if stderr.contains("does not exist") || stderr.contains("not exist") {
                return Err(RuntimeError::NotFound(what));
            }
            Err(RuntimeError::Command {
                command: what,
                message: stderr,
            })
        }
    }

    /// `runc create|run -d` with the init's stdio going to `console`.
    async fn launch(
        &self,
        verb: &str,
        id: &str,
        bundle: &Path,
        console: &Path,
    ) -> RuntimeResult<u32> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(console)
            .map_err(|source| RuntimeError::Io {
                context: format!("opening {}", console.display()),
                source,
            })?;
        let log2 = log.try_clone().map_err(|source| RuntimeError::Io {
            context: "duplicating console fd".into(),
            source,
        })?;
        let pid_file = bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let mut cmd = self.command();
        cmd.arg(verb);
        if verb == "run" {
            cmd.arg("--detach");
        }
        cmd.arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdout(log)
            .stderr(log2);
        let status = cmd.status().await.map_err(|source| RuntimeError::Io {
            context: format!("running {}", self.binary.display()),
            source,
        })?;
        if !status.success() {
            let tail = tail_of(console, 2048);
            return Err(RuntimeError::Command {
                command: format!("runc {verb} {id}"),
                message: format!("{status}; console: {tail}"),
            });
        }
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| RuntimeError::Command {
                command: format!("runc {verb} {id}"),
                message: format!("no pid in {}", pid_file.display()),
            })?;
        Ok(pid)
    }
}

/// Start time (clock ticks since boot) of a live, non-zombie process.
/// The fields of runc's `state.json` that identify the container's init process.
#[derive(serde::Deserialize)]
struct InitProcess {
    init_process_pid: u64,
    init_process_start: u64,
}

fn proc_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // Field 22 of stat is the 20th after the command name.
    fields.get(19)?.parse().ok()
}

impl Runc {
    /// The init pid from runc's own state file, when that process is still the container's
    /// init (same start time). Saves a `runc state` exec on the hot paths.
    fn live_init_pid(&self, id: &str) -> Option<Option<u32>> {
        let text = std::fs::read(self.root.join(id).join("state.json")).ok()?;
        // Only the two fields are decoded; the rest of the file (the whole container
        // config, ~8 KB) is skipped without building a JSON tree: every status, list and
        // health check reads this file for every node.
        let init: InitProcess = serde_json::from_slice(&text).ok()?;
        let pid = u32::try_from(init.init_process_pid).ok()?;
        Some((proc_start(pid) == Some(init.init_process_start)).then_some(pid))
    }
}

fn tail_of(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).trim().to_string()
}

#[async_trait]
impl ContainerRuntime for Runc {
    async fn create(&self, id: &str, bundle: &Path, console: &Path) -> RuntimeResult<u32> {
        self.launch("create", id, bundle, console).await
    }

    async fn start(&self, id: &str) -> RuntimeResult<()> {
        self.output(&["start", id], format!("runc start {id}"))
            .await?;
        Ok(())
    }

    async fn run(&self, id: &str, bundle: &Path, console: &Path) -> RuntimeResult<u32> {
        self.launch("run", id, bundle, console).await
    }

    async fn state(&self, id: &str) -> RuntimeResult<ContainerState> {
        // Fast path: no state dir, no container (saves a runc exec).
        if !self.root.join(id).exists() {
            return Ok(ContainerState::Absent);
        }
        // Running init per runc's state file: no exec needed. Anything else asks runc.
        if let Some(Some(pid)) = self.live_init_pid(id)
            && std::fs::metadata(self.root.join(id).join("exec.fifo")).is_err()
        {
            return Ok(ContainerState::Running { pid });
        }
        let out = match self
            .output(&["state", id], format!("runc state {id}"))
            .await
        {
            Ok(out) => out,
            Err(RuntimeError::NotFound(_)) => return Ok(ContainerState::Absent),
            Err(e) => return Err(e),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| RuntimeError::Command {
                command: format!("runc state {id}"),
                message: format!("unreadable output: {e}"),
            })?;
        let pid = json["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0);
        Ok(match json["status"].as_str().unwrap_or_default() {
            "running" | "paused" => ContainerState::Running { pid },
            "created" | "creating" => ContainerState::Created { pid },
            _ => ContainerState::Stopped,
        })
    }

    async fn kill(&self, id: &str, signal: i32) -> RuntimeResult<()> {
        // Fast path: signal the verified init pid directly (no runc exec).
        if let Some(found) = self.live_init_pid(id) {
            let Some(pid) = found else {
                return Ok(());
            };
            let pid = libc::pid_t::try_from(pid).unwrap_or(0);
            // SAFETY: kill(2) with a pid verified to be this container's init.
            if pid > 0 && unsafe { libc::kill(pid, signal) } == 0 {
                return Ok(());
            }
        }
        let sig = signal.to_string();
        match self
            .output(&["kill", id, &sig], format!("runc kill {id}"))
            .await
        {
            Ok(_) => Ok(()),
            // Already stopped: nothing to signal.
            Err(RuntimeError::Command { message, .. })
                if message.contains("not running")
                    || message.contains("process already finished") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn wait(&self, pid: u32, timeout: Duration) -> RuntimeResult<bool> {
        pidfd::wait_exit(pid, timeout)
            .await
            .map_err(|source| RuntimeError::Io {
                context: format!("waiting for pid {pid}"),
                source,
            })
    }

    async fn delete(&self, id: &str) -> RuntimeResult<()> {
        match self
            .output(&["delete", id], format!("runc delete {id}"))
            .await
        {
            Ok(_) | Err(RuntimeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn exec(&self, id: &str, args: &[String], env: &[String]) -> RuntimeResult<ExecOutput> {
        let mut cmd = self.command();
        cmd.arg("exec");
        for e in env {
            cmd.arg("--env").arg(e);
        }
        cmd.arg(id).args(args);
        let out = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|source| RuntimeError::Io {
                context: format!("running {}", self.binary.display()),
                source,
            })?;
        Ok(ExecOutput {
            exit_code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn state_root(&self) -> PathBuf {
        self.root.clone()
    }

    async fn list(&self) -> RuntimeResult<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(RuntimeError::Io {
                    context: format!("listing {}", self.root.display()),
                    source,
                });
            }
        };
        Ok(entries
            .flatten()
            .filter(|e| e.path().join("state.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect())
    }

    async fn remove_cgroup(&self, cgroups_path: &str) -> RuntimeResult<bool> {
        let rel = cgroups_path.trim_start_matches('/');
        if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Ok(false);
        }
        let root = Path::new(CGROUP_ROOT);
        // Unified hierarchy: one dir. cgroup v1: one per controller hierarchy.
        let dirs: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
            vec![root.join(rel)]
        } else {
            std::fs::read_dir(root)
                .map(|rd| rd.flatten().map(|e| e.path().join(rel)).collect())
                .unwrap_or_default()
        };
        let mut removed = false;
        for dir in dirs {
            match std::fs::remove_dir(&dir) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RuntimeError::Io {
                        context: format!("removing cgroup {}", dir.display()),
                        source,
                    });
                }
            }
        }
        Ok(removed)
    }
}

/// Where the unified cgroup hierarchy is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
