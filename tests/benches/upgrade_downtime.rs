//! Upgrade downtime: last healthy answer before an upgrade → first healthy answer after,
//! for `bv node upgrade` of a busybox (httpd) node and a monerod regtest node, beside
//! `docker stop` + `docker run` of the same images with the same data, measured in the same
//! run with the same probe. Ours is polled through the protocol status (`bv node run
//! protocol_status`, whose plugin asks httpd / monerod's `get_info` inside the node);
//! docker's container is asked the same thing directly (HTTP GET / `get_info`). Downtime is
//! the longest gap between two healthy answers while the upgrade runs. Prints p50 / max per
//! image and mechanism; asserts nothing.
//!
//! Binaries come from `$E2E_BIN_DIR` (else next to the bench binary):
//! `cargo build -p blockvisord -p bv -p babel && E2E_BIN_DIR=$PWD/target/debug cargo bench
//! --profile dev -p e2e --bench upgrade_downtime`. Root, runc and dockerd needed.
//! `UPGRADE_BENCH_ROUNDS` (default 3); `UPGRADE_BENCH_ONLY=busybox|monerod`.

#[path = "../tests/bv_support/mod.rs"]
mod bv_support;
#[path = "../tests/monero_support/mod.rs"]
mod monero_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bv_support::{Daemon, build_image, remove_image, unique};

const POLL: Duration = Duration::from_millis(50);
const HTTPD: &str = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www";

fn busybox_plugin() -> String {
    format!(
        r#"
fn plugin_config() {{ #{{ services: [ #{{ name: "httpd", run_sh: `{HTTPD}` }} ] }} }}
fn protocol_status() {{
    let r = run_sh(`wget -q -O - http://127.0.0.1:8080/ 2>/dev/null || true`).unwrap();
    r.trim();
    if r == "ok" {{ #{{state: "broadcasting", health: "healthy"}} }} else {{ #{{state: "starting", health: "neutral"}} }}
}}
"#
    )
}

fn monerod_args(data: &str) -> Vec<String> {
    format!(
        "--regtest --fixed-difficulty 1 --non-interactive --data-dir {data} --rpc-bind-ip 0.0.0.0 \
         --confirm-external-bind --rpc-bind-port 18081 --p2p-bind-ip 0.0.0.0 --keep-fakechain \
         --no-igd --no-zmq --disable-dns-checkpoints --check-updates disabled --offline"
    )
    .split(' ')
    .map(String::from)
    .collect()
}

/// Healthy answers of a probe, timed when they arrive, until stopped.
struct Poller {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(probe: impl Fn() -> bool + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(vec![]));
        let (s, a) = (stop.clone(), answers.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if probe() {
                    a.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Instant::now());
                }
                std::thread::sleep(POLL);
            }
        });
        Self {
            stop,
            answers,
            thread: Some(thread),
        }
    }

    fn last(&self) -> Option<Instant> {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .copied()
    }

    /// Waits for a healthy answer after `t`.
    fn wait_after(&self, t: Instant, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while self.last().is_none_or(|l| l <= t) {
            if start.elapsed() > timeout {
                return Err(format!("no healthy answer within {timeout:?}"));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// The longest gap between two healthy answers that spans `t`.
    fn gap_around(&self, t: Instant) -> Option<Duration> {
        let a = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let before = a.iter().rev().find(|x| **x <= t)?;
        let mut gap = Duration::ZERO;
        let mut prev = *before;
        for x in a.iter().filter(|x| **x > *before) {
            gap = gap.max(*x - prev);
            prev = *x;
        }
        (prev > *before).then_some(gap)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bv_socket_probe(socket: std::path::PathBuf, node: String) -> impl Fn() -> bool {
    move || {
        let out = Command::new(bv_support::bin("bv"))
            .arg("--socket")
            .arg(&socket)
            .args(["node", "run", "protocol_status", &node])
            .output();
        out.is_ok_and(|o| {
            o.status.success()
                && serde_json::from_slice::<serde_json::Value>(&o.stdout)
                    .is_ok_and(|v| v["health"] == "healthy")
        })
    }
}

fn http(addr: &str, request: &str) -> Option<String> {
    let addr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn httpd_probe(addr: String) -> impl Fn() -> bool {
    move || {
        http(
            &addr,
            "GET / HTTP/1.0\r\nHost: bench\r\nConnection: close\r\n\r\n",
        )
        .is_some_and(|r| r.starts_with("HTTP/1.") && r.contains(" 200 ") && r.ends_with("ok\n"))
    }
}

fn get_info_probe(addr: String) -> impl Fn() -> bool {
    move || {
        let body = r#"{"jsonrpc":"2.0","id":"0","method":"get_info"}"#;
        let req = format!(
            "POST /json_rpc HTTP/1.0\r\nHost: bench\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        http(&addr, &req).is_some_and(|r| {
            r.split("\r\n\r\n")
                .nth(1)
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .is_some_and(|v| {
                    let i = &v["result"];
                    i["status"] == "OK" && (i["offline"] == true || i["synchronized"] == true)
                })
        })
    }
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One kind of image: two tags, what docker runs, how to probe it.
struct Kind {
    name: &'static str,
    tags: [String; 2],
    versions: [String; 2],
    /// docker run arguments after the image.
    command: Vec<String>,
    port: u16,
    monerod: bool,
}

fn ours(d: &Daemon, kind: &Kind, rounds: usize) -> Result<Vec<Duration>, String> {
    let name = unique("upbench-");
    let out = d.bv(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{}", kind.tags[0]),
        "--image-version",
        &kind.versions[0],
        "--name",
        &name,
        "--bridge",
    ]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let result = (|| {
        let started = d.bv(&["node", "start", &name]);
        if !started.status.success() {
            return Err(String::from_utf8_lossy(&started.stderr).into_owned());
        }
        let poller = Poller::start(bv_socket_probe(d.socket.clone(), name.clone()));
        poller.wait_after(Instant::now(), Duration::from_secs(120))?;
        let mut out = vec![];
        for round in 0..rounds {
            let to = (round + 1) % 2;
            std::thread::sleep(Duration::from_millis(500));
            let t0 = Instant::now();
            let up = d.bv(&[
                "node",
                "upgrade",
                &name,
                "--image",
                &format!("docker-daemon://{}", kind.tags[to]),
                "--image-version",
                &kind.versions[to],
            ]);
            if !up.status.success() {
                return Err(String::from_utf8_lossy(&up.stderr).into_owned());
            }
            poller.wait_after(Instant::now(), Duration::from_secs(120))?;
            out.push(poller.gap_around(t0).ok_or("no healthy answer before")?);
        }
        Ok(out)
    })();
    let _ = d.bv(&["node", "delete", &name, "--yes"]);
    result
}

fn theirs(kind: &Kind, rounds: usize) -> Result<Vec<Duration>, String> {
    let volume = unique("upbench-vol-");
    let mut container = String::new();
    let run = |tag: &str| -> Result<(String, String), String> {
        let mut args: Vec<String> = ["run", "-d", "-v"].iter().map(|s| s.to_string()).collect();
        args.push(format!("{volume}:/data"));
        args.push(tag.to_string());
        args.extend(kind.command.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = docker(&refs)?;
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &id,
        ])?;
        Ok((id, ip))
    };
    let result = (|| {
        let (id, ip) = run(&kind.tags[0])?;
        container = id;
        let addr = Arc::new(Mutex::new(format!("{ip}:{}", kind.port)));
        let current = addr.clone();
        let monerod = kind.monerod;
        let poller = Poller::start(move || {
            let a = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if monerod {
                get_info_probe(a)()
            } else {
                httpd_probe(a)()
            }
        });
        poller.wait_after(Instant::now(), Duration::from_secs(120))?;
        let mut out = vec![];
        for round in 0..rounds {
            let to = (round + 1) % 2;
            std::thread::sleep(Duration::from_millis(500));
            let t0 = Instant::now();
            docker(&["stop", &container])?;
            docker(&["rm", &container])?;
            let (id, ip) = run(&kind.tags[to])?;
            container = id;
            *addr.lock().unwrap_or_else(|p| p.into_inner()) = format!("{ip}:{}", kind.port);
            poller.wait_after(Instant::now(), Duration::from_secs(120))?;
            out.push(poller.gap_around(t0).ok_or("no healthy answer before")?);
        }
        Ok(out)
    })();
    if !container.is_empty() {
        let _ = docker(&["rm", "-f", &container]);
    }
    let _ = docker(&["volume", "rm", "-f", &volume]);
    result
}

fn p50_max(mut v: Vec<Duration>) -> String {
    v.sort();
    match (v.get(v.len() / 2), v.last()) {
        (Some(p), Some(m)) => format!(
            "{:>9.0} ms {:>9.0} ms",
            p.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3
        ),
        _ => "-".into(),
    }
}

fn main() -> std::process::ExitCode {
    if !nix_root() {
        eprintln!("upgrade_downtime: needs root (runc, dockerd); skipped");
        return std::process::ExitCode::SUCCESS;
    }
    let rounds: usize = std::env::var("UPGRADE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("UPGRADE_BENCH_ONLY").unwrap_or_default();
    let mut kinds = vec![];
    let mut cleanup = vec![];
    if only.is_empty() || only == "busybox" {
        let repo = unique("upbench-bb-");
        let tags = [format!("{repo}:1"), format!("{repo}:2")];
        for t in &tags {
            build_image(t, &busybox_plugin());
            cleanup.push(t.clone());
        }
        kinds.push(Kind {
            name: "busybox httpd",
            tags,
            versions: ["1.0.0".into(), "2.0.0".into()],
            command: vec!["sh".into(), "-c".into(), HTTPD.into()],
            port: 8080,
            monerod: false,
        });
    }
    if only.is_empty() || only == "monerod" {
        let v = [
            format!("0.8.0-{}", unique("b")),
            format!("0.9.0-{}", unique("b")),
        ];
        let tags = [
            monero_support::build_image(&v[0]),
            monero_support::build_image(&v[1]),
        ];
        cleanup.extend(tags.iter().cloned());
        let mut command = vec!["/usr/bin/monerod".to_string()];
        command.extend(monerod_args("/data"));
        kinds.push(Kind {
            name: "monerod regtest",
            tags,
            versions: v,
            command,
            port: 18081,
            monerod: true,
        });
    }
    let d = monero_support::daemon(20, 40);
    println!(
        "upgrade downtime (last healthy answer -> first healthy answer), {rounds} rounds, poll {POLL:?}"
    );
    println!(
        "{:<16} {:<28} {:>12} {:>12}",
        "image", "mechanism", "p50", "max"
    );
    let mut failed = false;
    for kind in &kinds {
        for (mechanism, result) in [
            ("bv node upgrade", ours(&d, kind, rounds)),
            ("docker stop + docker run", theirs(kind, rounds)),
        ] {
            match result {
                Ok(v) => println!("{:<16} {:<28} {}", kind.name, mechanism, p50_max(v)),
                Err(e) => {
                    failed = true;
                    eprintln!("{} / {mechanism}: {e}\n{}", kind.name, d.log());
                }
            }
        }
    }
    drop(d);
    let _ = Command::new("ip")
        .args(["link", "del", &bv_support::bridge_name()])
        .stderr(std::process::Stdio::null())
        .status();
    cleanup.iter().for_each(|t| remove_image(t));
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

fn nix_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
