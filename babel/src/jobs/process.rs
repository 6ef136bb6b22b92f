//! Runner processes: spawning `babel-job-runner`, finding runners left by a previous agent,
//! watching them exit (pidfd) and terminating them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::paths::{RUNNER_LOG_FILE, RunnerPaths};

/// What the manager needs from the OS about runner processes (a seam for tests).
pub trait Runners: Send + Sync + 'static {
    /// Starts the runner of `name`, returning its PID.
    fn spawn(&self, name: &str) -> std::io::Result<u32>;
    /// Runners alive now, by job name, with their start time.
    fn find_running(&self) -> HashMap<String, (u32, SystemTime)>;
    /// Resolves once process `pid` has ended (and reaps it when it is our child).
    fn wait_exit(&self, pid: u32) -> BoxFuture<'static, ()>;
    fn is_alive(&self, pid: u32) -> bool;
    /// Sends `signal` to the runner.
    fn signal(&self, pid: u32, signal: Signal);
    /// Kills the runner and everything in its session (the job's processes).
    fn kill_session(&self, pid: u32);
}

/// The real runner processes.
#[derive(Debug, Clone)]
pub struct OsRunners {
    pub job_runner: PathBuf,
    pub paths: RunnerPaths,
}

impl Runners for OsRunners {
    fn spawn(&self, name: &str) -> std::io::Result<u32> {
        let job_dir = self.paths.job_dir(name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(job_dir.join(RUNNER_LOG_FILE))?;
        let child = Command::new(&self.job_runner)
            .args(self.paths.runner_args(name))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .current_dir("/")
            .spawn()?;
        // The child is reaped by `wait_exit`; dropping the handle neither kills nor waits.
        Ok(child.id())
    }

    fn find_running(&self) -> HashMap<String, (u32, SystemTime)> {
        let mut found = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        let exe = OsString::from(&self.job_runner);
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<OsString> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(a).to_os_string()
                })
                .collect();
            let Some((first, rest)) = args.split_first() else {
                continue;
            };
            let Some(name) = rest.last().and_then(|n| n.to_str()) else {
                continue;
            };
            if *first == exe
                && rest == self.paths.runner_args(name).as_slice()
                && self.is_alive(pid)
            {
                let started = start_time(pid).unwrap_or_else(SystemTime::now);
                found.insert(name.to_string(), (pid, started));
            }
        }
        found
    }

    fn wait_exit(&self, pid: u32) -> BoxFuture<'static, ()> {
        Box::pin(wait_exit(pid))
    }

    fn is_alive(&self, pid: u32) -> bool {
        is_alive(pid)
    }

    fn signal(&self, pid: u32, signal: Signal) {
        if let Ok(p) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(p), signal);
        }
    }

    fn kill_session(&self, pid: u32) {
        self.signal(pid, Signal::SIGKILL);
        for p in session_members(pid) {
            self.signal(p, Signal::SIGKILL);
        }
    }
}

/// `/proc/<pid>/stat` fields after the command name (state is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie (a zombie child is reaped on the way).
pub fn is_alive(pid: u32) -> bool {
    match stat_fields(pid) {
        Some(f) if f.first().is_some_and(|s| s != "Z" && s != "X") => true,
        Some(_) => {
            reap(pid);
            false
        }
        None => false,
    }
}

fn reap(pid: u32) {
    if let Ok(p) = i32::try_from(pid) {
        let _ = waitpid(Pid::from_raw(p), Some(WaitPidFlag::WNOHANG));
    }
}

/// Processes whose session id is `sid`.
fn session_members(sid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // fields: state ppid pgrp session ...
            stat_fields(*pid)
                .and_then(|f| f.get(3)?.parse::<u32>().ok())
                .is_some_and(|s| s == sid)
        })
        .collect()
}

/// Start time of a process from `/proc` (boot time + start ticks).
pub fn start_time(pid: u32) -> Option<SystemTime> {
    let ticks: u64 = stat_fields(pid)?.get(19)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100);
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(btime)
            + Duration::from_millis(ticks * 1000 / hz),
    )
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
    // passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(std::io::Error::other)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Resolves once `pid` has ended: a pidfd becomes readable at exit; without pidfd support
/// the process table is polled.
pub async fn wait_exit(pid: u32) {
    let registered = pidfd_open(pid).ok().and_then(|fd| {
        // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open and unchanged
        // until it is dropped.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .ok()
    });
    if let Some(afd) = registered {
        let _ = afd.readable().await;
    } else {
        while is_alive(pid) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    reap(pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[allow(clippy::zombie_processes)] // reaped by wait_exit, which is under test
    async fn wait_exit_sees_child_end_and_reaps_it() {
        let child = Command::new("sh")
            .args(["-c", "sleep 0.2"])
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(is_alive(pid));
        assert!(start_time(pid).is_some());
        tokio::time::timeout(Duration::from_secs(5), wait_exit(pid))
            .await
            .unwrap();
        assert!(!is_alive(pid));
        assert!(stat_fields(pid).is_none(), "zombie not reaped");
    }
}
