//! Shared helpers of the blockvisord end-to-end tests: a daemon in a temp root, the `bv` CLI
//! against it, test images built into the local docker daemon.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn bin(name: &str) -> PathBuf {
    e2e::bin_dir().join(name)
}

/// A bridge name unique to this test process (at most 15 characters).
pub fn bridge_name() -> String {
    format!("bvt{:x}", std::process::id())
}

/// Removes a test bridge with the host rules blockvisord installs for it (the NAT table
/// `ip bv_nat_<bridge>` and the `FORWARD` accept rules tagged `blockvisor <bridge>`).
pub fn remove_bridge(bridge: &str) {
    let quiet = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    quiet(Command::new("ip").args(["link", "del", bridge]));
    quiet(Command::new("nft").args(["delete", "table", "ip", &format!("bv_nat_{bridge}")]));
    let comment = format!("blockvisor {bridge}");
    for dir in ["-i", "-o"] {
        while quiet(Command::new("iptables").args([
            "-w",
            "-D",
            "FORWARD",
            dir,
            bridge,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ])) {}
    }
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{nanos:x}", std::process::id())
}

/// Builds a `FROM scratch` image with static busybox and `main_rhai` as its plugin.
pub fn build_image(tag: &str, main_rhai: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let busybox = which("busybox");
    std::fs::copy(&busybox, dir.path().join("busybox")).expect("copy busybox");
    std::fs::write(dir.path().join("main.rhai"), main_rhai).expect("write main.rhai");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         RUN mkdir -p /tmp /root /etc && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd\n\
         COPY main.rhai /var/lib/babel/plugin/main.rhai\n",
    )
    .expect("write Dockerfile");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Untags and removes `tag`'s own image. Its parents stay: tests running in parallel build on
/// the same cached layers, and pruning them mid-build fails the other build.
pub fn remove_image(tag: &str) {
    let _ = Command::new("docker")
        .args(["rmi", "-f", "--no-prune", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn which(cmd: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(cmd))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{cmd} not found in PATH"))
}

/// A blockvisord running in a temp root.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    /// The network namespace the daemon runs in (None: the test's own).
    pub netns: Option<String>,
    /// The daemon's `cgroup_parent`, unique per daemon; removed on teardown.
    cgroup_parent: String,
    child: Option<Child>,
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_with_network("")
    }

    /// A daemon whose `[network]` section gets `extra` (TOML lines) besides a unique bridge.
    pub fn start_with_network(extra: &str) -> Self {
        Self::start_with_config("", extra)
    }

    /// `top` goes before the `[network]` section (top-level keys, then other tables such as
    /// `[metrics]` or `[upgrade]`); `network` into it.
    pub fn start_with_config(top: &str, extra: &str) -> Self {
        Self::start_in(None, top, extra)
    }

    /// [`Self::start_with_config`] with the daemon in network namespace `netns`.
    pub fn start_in(netns: Option<&str>, top: &str, extra: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bv")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let root = dir.path().join("r");
        let socket = dir.path().join("bv.sock");
        let config = dir.path().join("bv.toml");
        let cgroup_parent = unique("bvt");
        std::fs::write(
            &config,
            format!(
                "cgroup_parent = \"{cgroup_parent}\"\nrecovery_interval_secs = 1\nrecovery_backoff_ms = 200\nstop_grace_secs = 2\n\
                 {top}\n[network]\nbridge = \"{}\"\n{extra}\n",
                bridge_name()
            ),
        )
        .expect("config");
        let mut d = Self {
            dir,
            root,
            socket,
            config,
            netns: netns.map(String::from),
            cgroup_parent,
            child: None,
        };
        d.spawn();
        d
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log");
        // nsenter switches only the network namespace (`ip netns exec` would also remount
        // /sys and hide the cgroup mounts runc needs) and execs the daemon in place, so the
        // child's pid is the daemon's.
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}"))
                    .arg(bin("blockvisord"));
                c
            }
            None => Command::new(bin("blockvisord")),
        };
        let child = command
            .arg("--root")
            .arg(&self.root)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn blockvisord");
        self.child = Some(child);
        wait_for(Duration::from_secs(20), "daemon answers", || {
            self.bv(&["status"])
                .stdout_str()
                .starts_with("Service running")
        });
    }

    /// SIGTERM and wait: node containers keep running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// kill -9 of the daemon (node containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn bv(&self, args: &[&str]) -> Output {
        Command::new(bin("bv"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run bv")
    }

    /// Runs bv, asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.bv(args);
        assert!(
            out.status.success(),
            "bv {args:?} failed: {}\n--- daemon log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out.stdout_str()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bv {args:?}: bad json {e}: {text}"))
    }

    pub fn node(&self, name: &str) -> Value {
        let list = self.json(&["node", "list"]);
        list.as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// Waits for `check`; on timeout fails with the daemon log and the node's jobs, so a
    /// failure in CI can be read without a rerun.
    pub fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        node: &str,
        mut check: impl FnMut() -> bool,
    ) {
        let start = Instant::now();
        while !check() {
            if start.elapsed() >= timeout {
                let jobs = self.bv(&["node", "job", node, "list"]);
                let status = self.bv(&["node", "status", node]);
                panic!(
                    "timed out waiting for: {what}\n--- node status\n{}{}\n--- jobs\n{}{}\n--- daemon log\n{}",
                    status.stdout_str(),
                    String::from_utf8_lossy(&status.stderr),
                    jobs.stdout_str(),
                    String::from_utf8_lossy(&jobs.stderr),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn runc_list(&self) -> String {
        let out = Command::new("runc")
            .arg("--root")
            .arg(self.root.join("runc"))
            .args(["list", "-q"])
            .output()
            .expect("runc list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Deletes every node and stops the daemon; used on teardown.
    pub fn cleanup(&mut self) {
        if self.child.is_some() {
            let _ = self.bv(&["node", "delete", "--all", "--yes"]);
        }
        self.stop();
        remove_cgroup_parent(&self.cgroup_parent);
    }
}

/// Removes a daemon's cgroup parent directory from every hierarchy (v1 controllers and the v2
/// root). Only empty directories go: a node left running keeps its cgroup.
fn remove_cgroup_parent(name: &str) {
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(name)];
    if let Ok(entries) = std::fs::read_dir(base) {
        dirs.extend(entries.flatten().map(|e| e.path().join(name)));
    }
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let _ = std::fs::remove_dir(&dir);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.cleanup();
    }
}

pub trait OutputExt {
    fn stdout_str(&self) -> String;
}

impl OutputExt for Output {
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

pub fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn mounts_under(path: &Path) -> Vec<String> {
    let prefix = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// A local upgrade catalog (`[upgrade] catalog`) a test writes: the daemon reads it every
/// second, automatic upgrades off unless a node's own policy turns them on.
pub struct Catalog {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Catalog {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.toml");
        Self { _dir: dir, path }
    }

    /// The daemon config section that points at it.
    pub fn config(&self) -> String {
        format!(
            "[upgrade]\nmode = \"manual\"\ncheck_interval_secs = 1\ncatalog = \"{}\"",
            self.path.display()
        )
    }

    /// Offers one image, replacing what the catalog offered before.
    pub fn offer(&self, protocol: &str, variant: &str, version: &str, tag: &str) {
        std::fs::write(
            &self.path,
            format!(
                "[[image]]\nprotocol = \"{protocol}\"\nvariant = \"{variant}\"\n\
                 version = \"{version}\"\nuri = \"docker-daemon://{tag}\"\n"
            ),
        )
        .expect("write catalog");
    }
}
