//! Density: what one host costs per node as the node count grows (1, 10, 50, 100, 200 idle
//! busybox nodes, bridge networking, metrics on), with the same counts of `docker run -d`
//! containers of the same image measured in the same run.
//!
//! For each count: PSS of each node's bv-init, babel and job runner (`smaps_rollup`), the
//! node's memory cgroup usage, the daemon's CPU over an idle window and its RSS/PSS, the
//! health-check pass time (`bv_health_check_seconds`), `bv node list` latency, daemon
//! restart → every node listed Running and answering a plugin call, create + start and
//! delete of one more node; for docker, dockerd + containerd (fixed cost), the
//! containerd-shim's PSS and the container's memory cgroup per container, `docker run -d`
//! and `docker rm -f` of one more.
//!
//! Binaries come from `$E2E_BIN_DIR` (else `target/release`), the agent from
//! `$BV_DENSITY_BABEL_DIR` (else `target/babel-static`):
//! `cargo build --release -p blockvisord -p bv && scripts/build-babel-static release &&
//!  cargo bench -p e2e --bench density`. Root, runc and dockerd needed.
//! `BV_DENSITY_COUNTS=1,10` scales it down; `BV_DENSITY_IDLE_SECS` (default 20) is the idle
//! window, `BV_DENSITY_INTERVAL` (default 5) the health-check interval,
//! `BV_DENSITY_SVG` (default `target/density.svg`) where the plot goes.
//! Nodes, containers, the bridge, the image and the temp root are removed on the way out,
//! also when a step fails.

#[path = "../tests/bv_support/mod.rs"]
mod bv_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bv_support::{Daemon, OutputExt, build_image, remove_bridge, remove_image, unique};

const PLUGIN: &str = r#"
fn plugin_config() {
    #{
        init: #{ commands: [], jobs: [] },
        services: [ #{ name: "idle", run_sh: `sleep 100000000` } ],
    }
}
fn height() { 1 }
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

type R<T> = Result<T, String>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn counts() -> Vec<usize> {
    let raw = std::env::var("BV_DENSITY_COUNTS").unwrap_or_else(|_| "1,10,50,100,200".into());
    let mut v: Vec<usize> = raw
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn mb(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

// ---- /proc and cgroup readings ----

/// Proportional set size of a process, bytes.
fn pss(pid: u32) -> u64 {
    kb_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

fn rss(pid: u32) -> u64 {
    kb_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

fn kb_field(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state(0) ppid(1) ... utime(11) stime(12).
    let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| o.stdout_str().trim().parse().ok())
        .unwrap_or(100.0)
}

struct Proc {
    pid: u32,
    ppid: u32,
    comm: String,
    cmdline: String,
}

fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let comm = stat.split_once('(')?.1.rsplit_once(')')?.0.to_string();
        let ppid = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        Some(Proc {
            pid,
            ppid,
            comm,
            cmdline,
        })
    })
    .collect()
}

/// The memory cgroup directory of a process (cgroup v1 `memory` controller or v2).
fn memory_cgroup(pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrl.split(',').any(|c| c == "memory") {
            return Some(PathBuf::from(format!("/sys/fs/cgroup/memory{path}")));
        }
        if ctrl.is_empty() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Some(PathBuf::from(format!("/sys/fs/cgroup{path}")));
        }
    }
    None
}

fn cgroup_usage(dir: &Path) -> u64 {
    for f in ["memory.usage_in_bytes", "memory.current"] {
        if let Ok(s) = std::fs::read_to_string(dir.join(f)) {
            return s.trim().parse().unwrap_or(0);
        }
    }
    0
}

// ---- the table ----

#[derive(Default, Clone)]
struct Row {
    count: usize,
    // bv, per node (bytes)
    init_pss: f64,
    babel_pss: f64,
    runner_pss: f64,
    node_pss: f64,
    node_cgroup: f64,
    daemon_rss: f64,
    daemon_pss: f64,
    /// Daemon PSS growth since it ran no node, per node.
    daemon_per_node: f64,
    daemon_cpu_pct: f64,
    health_pass: Option<Duration>,
    list: Duration,
    restart_listed: Duration,
    restart_answered: Duration,
    create_one: Duration,
    delete_one: Duration,
    // docker
    docker_fixed: f64,
    shim_pss: f64,
    container_cgroup: f64,
    dockerd_cpu_pct: f64,
    docker_run: Duration,
    docker_rm: Duration,
}

impl Row {
    /// The node's processes plus its share of the daemon's growth.
    fn bv_all_in_pss(&self) -> f64 {
        self.node_pss + self.daemon_per_node
    }
    fn docker_per(&self) -> f64 {
        self.shim_pss + self.container_cgroup
    }
}

// ---- the bench ----

/// Everything the run creates; dropping it removes it all (also when a step failed).
struct Fixture {
    daemon: Option<Daemon>,
    tag: String,
    label: String,
    bridge: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label={}", self.label)])
            .output()
            .map(|o| o.stdout_str())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // The daemon's cgroup parent (per run), left empty once its nodes are gone.
        let parent = self.daemon.as_ref().and_then(|d| {
            let text = std::fs::read_to_string(&d.config).ok()?;
            let line = text.lines().find(|l| l.starts_with("cgroup_parent"))?;
            Some(line.split('"').nth(1)?.to_string())
        });
        // Deletes every node, stops the daemon, removes its temp root.
        drop(self.daemon.take());
        if let Some(parent) = parent.filter(|p| !p.is_empty())
            && let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup")
        {
            for c in controllers.flatten() {
                let _ = std::fs::remove_dir(c.path().join(&parent));
            }
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&parent));
        }
        remove_bridge(&self.bridge);
        remove_image(&self.tag);
    }
}

struct Bench {
    fx: Fixture,
    uri: String,
    nodes: Vec<String>,
    containers: usize,
    metrics: String,
    idle: Duration,
    tck: f64,
    /// Daemon PSS with no node.
    daemon_pss0: f64,
}

impl Bench {
    fn d(&self) -> &Daemon {
        self.fx.daemon.as_ref().expect("daemon")
    }

    fn bv(&self, args: &[&str]) -> R<String> {
        let out = self.d().bv(args);
        if out.status.success() {
            Ok(out.stdout_str())
        } else {
            Err(format!(
                "bv {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn add_node(&mut self) -> R<(Duration, String)> {
        let name = format!("dn{}", self.nodes.len());
        let t = Instant::now();
        self.bv(&[
            "node", "create", "--image", &self.uri, "--name", &name, "--bridge",
        ])?;
        self.bv(&["node", "start", &name])?;
        let took = t.elapsed();
        self.nodes.push(name.clone());
        Ok((took, name))
    }

    fn add_container(&mut self) -> R<Duration> {
        let name = format!("{}-{}", self.fx.label, self.containers);
        let t = Instant::now();
        let out = Command::new("docker")
            .args(["run", "-d", "--name", &name, "--label", &self.fx.label])
            .arg(&self.fx.tag)
            .args(["/bin/sleep", "100000000"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "docker run: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        self.containers += 1;
        Ok(t.elapsed())
    }

    /// CPU % of one core used by `pids` together over the idle window.
    fn cpu_pct(&self, pids: &[u32]) -> f64 {
        let before: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum();
        let t = Instant::now();
        std::thread::sleep(self.idle);
        let after: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum();
        (after.saturating_sub(before)) as f64 / self.tck / t.elapsed().as_secs_f64() * 100.0
    }

    fn scrape(&self, series: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.metrics).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bv\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    fn measure(&mut self, count: usize) -> R<Row> {
        while self.nodes.len() < count {
            self.add_node()?;
        }
        while self.containers < count {
            self.add_container()?;
        }
        let mut row = Row {
            count,
            ..Default::default()
        };
        let n = count as f64;
        // Let the start-up settle and at least one health pass see every node.
        std::thread::sleep(Duration::from_secs(3));

        // Node processes: the init of each node container and its descendants.
        let procs = processes();
        let mut children: HashMap<u32, Vec<&Proc>> = HashMap::new();
        for p in &procs {
            children.entry(p.ppid).or_default().push(p);
        }
        let runc_root = self.d().root.join("runc");
        let list = Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["list", "-f", "json"])
            .output()
            .map_err(|e| e.to_string())?;
        let list: serde_json::Value =
            serde_json::from_slice(&list.stdout).map_err(|e| format!("runc list: {e}"))?;
        let inits: Vec<u32> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["status"] == "running")
                    .filter_map(|c| c["pid"].as_u64().map(|p| p as u32))
                    .collect()
            })
            .unwrap_or_default();
        if inits.len() != count {
            return Err(format!(
                "{} running node containers, want {count}",
                inits.len()
            ));
        }
        let (mut init, mut babel, mut runner, mut rest, mut cg) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for pid in &inits {
            init += pss(*pid);
            let mut stack = vec![*pid];
            while let Some(p) = stack.pop() {
                for c in children.get(&p).into_iter().flatten() {
                    match c.comm.as_str() {
                        "babel" => babel += pss(c.pid),
                        // `comm` is cut at 15 bytes: "babel-job-runne".
                        n if n.starts_with("babel-job-run") => runner += pss(c.pid),
                        _ => rest += pss(c.pid),
                    }
                    stack.push(c.pid);
                }
            }
            if let Some(dir) = memory_cgroup(*pid) {
                cg += cgroup_usage(&dir);
            }
        }
        row.init_pss = init as f64 / n;
        row.babel_pss = babel as f64 / n;
        row.runner_pss = runner as f64 / n;
        row.node_pss = (init + babel + runner + rest) as f64 / n;
        row.node_cgroup = cg as f64 / n;

        // Daemon: memory, CPU over an idle window, health-check pass.
        let dpid = self.d().pid().ok_or("daemon not running")?;
        row.daemon_rss = rss(dpid) as f64;
        row.daemon_pss = pss(dpid) as f64;
        row.daemon_per_node = (row.daemon_pss - self.daemon_pss0).max(0.0) / n;
        row.daemon_cpu_pct = self.cpu_pct(&[dpid]);
        row.health_pass = self
            .scrape("bv_health_check_seconds ")
            .map(Duration::from_secs_f64);

        // `bv node list` (process start included, as a user sees it).
        let mut lists = vec![];
        for _ in 0..10 {
            let t = Instant::now();
            self.bv(&["node", "list"])?;
            lists.push(t.elapsed());
        }
        row.list = p50(lists);

        // One more node at this count.
        let (took, name) = self.add_node()?;
        row.create_one = took;
        let t = Instant::now();
        self.bv(&["node", "delete", &name, "--yes"])?;
        row.delete_one = t.elapsed();
        self.nodes.pop();

        // Restart: SIGTERM (nodes keep running), start, wait for every node listed Running,
        // then for every node to answer a plugin call through the daemon.
        let d = self.fx.daemon.as_mut().ok_or("daemon")?;
        d.stop();
        let t = Instant::now();
        d.spawn();
        let d = self.d();
        loop {
            let out = d.bv(&["node", "list", "--format", "json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let running = v
                .as_array()
                .map(|a| a.iter().filter(|n| n["status"] == "Running").count())
                .unwrap_or(0);
            if running == count {
                break;
            }
            if t.elapsed() > Duration::from_secs(120) {
                return Err(format!("after restart {running}/{count} nodes running"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        row.restart_listed = t.elapsed();
        let names = self.nodes.clone();
        let socket = d.socket.clone();
        let workers = 8.min(names.len()).max(1);
        let failed = std::thread::scope(|s| {
            let chunks: Vec<_> = names.chunks(names.len().div_ceil(workers)).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let socket = &socket;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .filter(|name| !answers(socket, name, t))
                            .count()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(usize::MAX))
                .sum::<usize>()
        });
        if failed > 0 {
            return Err(format!("{failed} nodes did not answer after restart"));
        }
        row.restart_answered = t.elapsed();
        self.metrics = metrics_addr(self.d())?;

        // Docker side.
        let procs = processes();
        let fixed: Vec<u32> = procs
            .iter()
            .filter(|p| p.comm == "dockerd" || p.comm == "containerd")
            .map(|p| p.pid)
            .collect();
        row.docker_fixed = fixed.iter().map(|p| pss(*p)).sum::<u64>() as f64;
        let ids = Command::new("docker")
            .args([
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                &format!("label={}", self.fx.label),
            ])
            .output()
            .map(|o| o.stdout_str())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        let (mut shim, mut ccg) = (0u64, 0u64);
        for id in &ids {
            if let Some(p) = procs
                .iter()
                .find(|p| p.comm.starts_with("containerd-shim") && p.cmdline.contains(id))
            {
                shim += pss(p.pid);
                if let Some(c) = procs.iter().find(|c| c.ppid == p.pid)
                    && let Some(dir) = memory_cgroup(c.pid)
                {
                    ccg += cgroup_usage(&dir);
                }
            }
        }
        let nc = ids.len().max(1) as f64;
        row.shim_pss = shim as f64 / nc;
        row.container_cgroup = ccg as f64 / nc;
        row.dockerd_cpu_pct = self.cpu_pct(&fixed);
        let t = self.add_container()?;
        row.docker_run = t;
        let name = format!("{}-{}", self.fx.label, self.containers - 1);
        let t = Instant::now();
        let ok = Command::new("docker")
            .args(["rm", "-f", &name])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("docker rm -f {name} failed"));
        }
        row.docker_rm = t.elapsed();
        self.containers -= 1;
        Ok(row)
    }
}

/// Polls `bv node run height` until the node answers (at most 60 s after `since`).
fn answers(socket: &Path, name: &str, since: Instant) -> bool {
    loop {
        let ok = Command::new(bv_support::bin("bv"))
            .arg("--socket")
            .arg(socket)
            .args(["node", "run", "height", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return true;
        }
        if since.elapsed() > Duration::from_secs(60) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn metrics_addr(d: &Daemon) -> R<String> {
    let v = d.json(&["status"]);
    v["metrics_addr"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
        .ok_or_else(|| format!("no metrics address in {v}"))
}

fn run(rows: &mut Vec<Row>) -> R<()> {
    let tag = format!("{}:1", unique("bv-density-"));
    let label = format!("bvdensity{}", std::process::id());
    let bridge = bv_support::bridge_name();
    let mut fx = Fixture {
        daemon: None,
        tag: tag.clone(),
        label,
        bridge,
    };
    build_image(&tag, PLUGIN);
    let babel_dir = std::env::var_os("BV_DENSITY_BABEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/babel-static"));
    let pid = std::process::id();
    let (a, b) = (180 + pid % 40, (pid / 40) % 250);
    let interval = env_u64("BV_DENSITY_INTERVAL", 5);
    fx.daemon = Some(Daemon::start_with_config(
        &format!(
            "babel_dir = \"{}\"\nstatus_interval_secs = 3600\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\ninterval_secs = {interval}\n",
            babel_dir.display()
        ),
        &format!(
            "gateway = \"10.{a}.{b}.1\"\nprefix = 24\nfirst_ip = \"10.{a}.{b}.10\"\n\
             last_ip = \"10.{a}.{b}.250\"\nveth_prefix = \"dv{:x}\"\n",
            pid % 4096
        ),
    ));
    let metrics = metrics_addr(fx.daemon.as_ref().ok_or("daemon")?)?;
    std::thread::sleep(Duration::from_secs(2));
    let daemon_pss0 = fx
        .daemon
        .as_ref()
        .and_then(Daemon::pid)
        .map(|p| pss(p) as f64)
        .unwrap_or(0.0);
    let mut bench = Bench {
        fx,
        uri: format!("docker-daemon://{tag}"),
        nodes: vec![],
        containers: 0,
        metrics,
        idle: Duration::from_secs(env_u64("BV_DENSITY_IDLE_SECS", 20)),
        tck: clock_ticks(),
        daemon_pss0,
    };
    for count in counts() {
        let row = bench.measure(count)?;
        print_row(&row);
        rows.push(row);
    }
    Ok(())
}

fn print_header() {
    println!(
        "{:>5} | {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} | {:>7} {:>7} {:>6} {:>8} | {:>7} {:>8} {:>8} {:>8} {:>8} | {:>7} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "nodes",
        "init",
        "babel",
        "runner",
        "procs/n",
        "all-in/n",
        "cg/n",
        "d.RSS",
        "d.PSS",
        "d.CPU%",
        "health",
        "list",
        "rst.list",
        "rst.ans",
        "create+1",
        "delete+1",
        "dk.fix",
        "shim",
        "dk.cg",
        "dk.CPU%",
        "run+1",
        "rm+1"
    );
    println!(
        "{:>5} | {:>7} {:>7} {:>7} {:>8} {:>8} | {:>7} {:>7} {:>6} {:>8} | {:>7} {:>8} {:>8} {:>8} {:>8} | {:>7} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "",
        "MB",
        "MB",
        "MB",
        "MB",
        "MB",
        "MB",
        "MB",
        "%",
        "ms",
        "ms",
        "ms",
        "ms",
        "ms",
        "ms",
        "MB",
        "MB",
        "MB",
        "%",
        "ms",
        "ms"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:>5} | {:>7.2} {:>7.2} {:>7.2} {:>8.2} {:>8.2} {:>8.2} | {:>7.1} {:>7.1} {:>6.2} {:>8} | {:>7.1} {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>7.1} {:>6.2} {:>6.2} {:>7.2} {:>7.0} {:>7.0}",
        r.count,
        mb(r.init_pss),
        mb(r.babel_pss),
        mb(r.runner_pss),
        mb(r.node_pss),
        mb(r.bv_all_in_pss()),
        mb(r.node_cgroup),
        mb(r.daemon_rss),
        mb(r.daemon_pss),
        r.daemon_cpu_pct,
        r.health_pass
            .map(|d| format!("{:.1}", ms(d)))
            .unwrap_or_else(|| "-".into()),
        ms(r.list),
        ms(r.restart_listed),
        ms(r.restart_answered),
        ms(r.create_one),
        ms(r.delete_one),
        mb(r.docker_fixed),
        mb(r.shim_pss),
        mb(r.container_cgroup),
        r.dockerd_cpu_pct,
        ms(r.docker_run),
        ms(r.docker_rm),
    );
}

/// A plotted line: legend, colour, value of a row.
type Series = (&'static str, &'static str, fn(&Row) -> f64);

/// Cost per node against the node count: a line chart drawn as SVG text.
fn svg(rows: &[Row]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 400.0, 60.0, 190.0, 30.0, 50.0);
    let max_n = rows.iter().map(|r| r.count).max().unwrap_or(1) as f64;
    let series: [Series; 4] = [
        ("bv node all-in, PSS", "#1f77b4", |r| mb(r.bv_all_in_pss())),
        ("bv node, cgroup", "#2ca02c", |r| mb(r.node_cgroup)),
        ("bv daemon growth / n", "#9467bd", |r| mb(r.daemon_per_node)),
        ("docker shim + cgroup", "#d62728", |r| mb(r.docker_per())),
    ];
    let max_y = rows
        .iter()
        .flat_map(|r| series.iter().map(move |s| (s.2)(r)))
        .fold(1.0f64, f64::max)
        .ceil();
    let x = |n: f64| left + (w - left - right) * n / max_n;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max_y);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Host memory per node (MB) against node count</text>\n"
    );
    for i in 0..=4 {
        let v = max_y * f64::from(i) / 4.0;
        let yv = y(v);
        s += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yv}\" y2=\"{yv}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.1}</text>\n",
            w - right,
            left - 6.0,
            yv + 4.0
        );
    }
    for r in rows {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x(r.count as f64),
            h - bottom + 18.0,
            r.count
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">nodes / containers</text>\n",
        (left + w - right) / 2.0,
        h - 10.0
    );
    for (i, (name, color, f)) in series.iter().enumerate() {
        let pts: Vec<String> = rows
            .iter()
            .map(|r| format!("{:.1},{:.1}", x(r.count as f64), y(f(r))))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            s += &format!("<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>\n");
        }
        let ly = top + 20.0 * i as f64 + 10.0;
        s += &format!(
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0
        );
    }
    s += "</svg>\n";
    s
}

#[expect(
    clippy::disallowed_methods,
    reason = "a failed bench run exits non-zero"
)]
fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "density: counts {:?}, load {}",
        counts(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    print_header();
    let mut rows = vec![];
    let result = run(&mut rows);
    if !rows.is_empty() {
        let path = std::env::var_os("BV_DENSITY_SVG")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/density.svg"));
        match std::fs::write(&path, svg(&rows)) {
            Ok(()) => println!("plot: {}", path.display()),
            Err(e) => eprintln!("writing {}: {e}", path.display()),
        }
    }
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
