//! A plugin whose `protocol_status()` never returns: the health check raises
//! `plugin_unresponsive` (node status and metrics), `bv node info` answers from cached state
//! within a second, `bv node stop` is prompt and the daemon's CPU falls back afterwards.

mod bv_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bv_support::{Daemon, build_image, remove_image, unique, wait_for};

const HUNG_PLUGIN: &str = "fn protocol_status() { loop { } }\nfn height() { 7 }\n";

struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bv\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

/// User + system CPU ticks of a process (fields 14 and 15 of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name may contain spaces: fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

#[test]
fn hung_plugin_raises_an_alert_and_stop_is_prompt() {
    let tag = format!("{}:1", unique("bv-e2e-hung-"));
    let _image = Image(tag.clone());
    build_image(&tag, HUNG_PLUGIN);
    let d = Daemon::start_with_config(
        "[metrics]\nlisten = \"127.0.0.1:0\"\ninterval_secs = 1\n",
        "",
    );
    let name = unique("h-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{tag}"),
        "--name",
        &name,
    ]);
    d.ok(&["node", "start", &name]);
    let status = d.json(&["status"]);
    let pid = status["pid"].as_u64().expect("daemon pid");
    let addr = status["metrics_addr"]
        .as_str()
        .expect("metrics_addr")
        .to_string();

    wait_for(Duration::from_secs(60), "plugin_unresponsive alert", || {
        d.node(&name)["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["kind"] == "plugin_unresponsive"))
    });
    let text = scrape(&addr);
    assert!(
        text.lines()
            .any(|l| l.starts_with("bv_node_alert{") && l.contains("plugin_unresponsive")),
        "{text}"
    );

    // Info answers from cached state while the plugin spins.
    for _ in 0..3 {
        let start = Instant::now();
        let info = d.json(&["node", "info", &name]);
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "bv node info took {:?}",
            start.elapsed()
        );
        assert_eq!(info["name"], name.as_str(), "{info}");
    }

    let start = Instant::now();
    d.ok(&["node", "stop", &name]);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "bv node stop took {took:?}");
    assert_eq!(d.node(&name)["status"], "Stopped");

    // Give a cancelled call its last progress check, then measure.
    std::thread::sleep(Duration::from_secs(1));
    let window = Duration::from_secs(4);
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    let share = used as f64 / (window.as_secs_f64() * ticks_per_second() as f64);
    eprintln!(
        "stop took {took:?}; daemon CPU after stop: {:.1}% of a core",
        share * 100.0
    );
    assert!(
        share < 0.3,
        "daemon still uses {:.0}% of a core after stop",
        share * 100.0
    );
    d.ok(&["node", "delete", &name, "--yes"]);
}
