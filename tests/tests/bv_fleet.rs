//! Operating a fleet, end to end against a real blockvisord with runc: the Prometheus
//! endpoint shows plugin figures, resources and alerts; `bv node update` changes properties
//! of a running node; `bv node status` gives the reason of an unhealthy node; automatic
//! upgrades move a node to a newer catalog version and roll back a version that does not
//! become healthy by the deadline.

mod bv_support;

use std::io::{Read, Write};
use std::time::Duration;

use bv_support::{Catalog, Daemon, build_image, remove_image, unique, wait_for};

fn plugin(health: &str) -> String {
    format!(
        r#"
fn plugin_config() {{
    let color = node_params()["color"];
    #{{ services: [ #{{ name: "svc", run_sh: `while true; do echo ${{color}} > /blockjoy/svc-color; sleep 1; done` }} ] }}
}}
fn height() {{ 42 }}
fn block_age() {{ 3 }}
fn color() {{ node_params()["color"] }}
fn protocol_status() {{ {health} }}
"#
    )
}

/// Health from a file the test writes into the node's data dir.
const HEALTH_FROM_FILE: &str = r#"let h = run_sh(`cat /blockjoy/health 2>/dev/null || echo healthy`).unwrap(); h.trim(); #{state: "broadcasting", health: h}"#;
const ALWAYS_UNHEALTHY: &str = r#"#{state: "stalled", health: "unhealthy"}"#;

struct Images(Vec<String>);
impl Drop for Images {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| remove_image(t));
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

fn series(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_update_alerts_and_auto_upgrade() {
    let repo = unique("bv-e2e-fleet-");
    let (v1, v2, v3) = (
        format!("{repo}:1"),
        format!("{repo}:2"),
        format!("{repo}:3"),
    );
    let _images = Images(vec![v1.clone(), v2.clone(), v3.clone()]);
    build_image(&v1, &plugin(HEALTH_FROM_FILE));
    build_image(&v2, &plugin(HEALTH_FROM_FILE));
    build_image(&v3, &plugin(ALWAYS_UNHEALTHY));

    let catalog = Catalog::new();
    let d = Daemon::start_with_config(
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\ninterval_secs = 1\n{}",
            catalog.config()
        ),
        "",
    );
    let name = unique("fleet-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{v1}"),
        "--image-version",
        "1.0.0",
        "--protocol-key",
        "fleetproto",
        "--variant-key",
        "fleetvar",
        "--name",
        &name,
        "--props",
        r#"{"color": "red"}"#,
    ]);
    d.ok(&["node", "start", &name]);
    let node = d.node(&name);
    let id = node["id"].as_str().expect("id").to_string();
    let data_dir = std::path::PathBuf::from(node["data_dir"].as_str().expect("data_dir"));

    // Metrics: the endpoint address is in `bv status`.
    let status = d.json(&["status"]);
    let addr = status["metrics_addr"]
        .as_str()
        .expect("metrics_addr")
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{status}");
    let labels = format!("{{node_id=\"{id}\",node_name=\"{name}\"}}");
    let mut text = String::new();
    wait_for(Duration::from_secs(30), "height in metrics", || {
        text = scrape(&addr);
        series(&text, &format!("bv_node_height{labels}")) == Some(42.0)
    });
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        series(&text, &format!("bv_node_block_age_seconds{labels}")),
        Some(3.0)
    );
    assert_eq!(
        series(&text, &format!("bv_node_healthy{labels}")),
        Some(1.0)
    );
    assert!(
        series(&text, &format!("bv_node_memory_bytes{labels}")).unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "bv_node_job_restarts{{node_id=\"{id}\",node_name=\"{name}\",job=\"svc\"}}"
        )),
        "{text}"
    );
    assert!(series(&text, "bv_host_memory_total_bytes").unwrap_or(0.0) > 0.0);
    let info = d.ok(&["node", "info", &name]);
    assert!(
        info.contains("Memory:") && info.contains("Block height:   42"),
        "{info}"
    );
    assert!(info.contains("Auto upgrade:   manual"), "{info}");

    // Update a running node in place.
    assert_eq!(d.ok(&["node", "run", "color", &name]).trim(), "red");
    let svc_color = || std::fs::read_to_string(data_dir.join("svc-color")).unwrap_or_default();
    wait_for(Duration::from_secs(20), "service writes red", || {
        svc_color().trim() == "red"
    });
    d.ok(&["node", "update", &name, "--props", r#"{"color": "blue"}"#]);
    assert_eq!(d.ok(&["node", "run", "color", &name]).trim(), "blue");
    // init ran again: the service was re-created with the new value.
    wait_for(
        Duration::from_secs(20),
        "service restarted with blue",
        || svc_color().trim() == "blue",
    );
    assert_eq!(d.node(&name)["status"], "Running");

    // Alerts: an unhealthy protocol shows in `bv node status` and in the metrics.
    std::fs::write(data_dir.join("health"), "unhealthy").expect("write health");
    wait_for(Duration::from_secs(30), "unhealthy alert", || {
        d.ok(&["node", "status", &name]).contains("is unhealthy")
    });
    assert_eq!(
        d.ok(&["node", "status", &name]).trim(),
        "Running (protocol status `broadcasting` is unhealthy)"
    );
    let text = scrape(&addr);
    assert_eq!(
        series(&text, &format!("bv_node_healthy{labels}")),
        Some(0.0)
    );
    assert!(text.contains("kind=\"unhealthy\""), "{text}");
    std::fs::write(data_dir.join("health"), "healthy").expect("write health");
    wait_for(Duration::from_secs(30), "healthy again", || {
        d.ok(&["node", "status", &name]).trim() == "Running"
    });

    // Automatic upgrade: the node's own policy, no delay, 10 s to become healthy.
    let entry = |version: &str, tag: &str| {
        format!(
            "[[image]]\nprotocol = \"fleetproto\"\nvariant = \"fleetvar\"\nversion = \"{version}\"\n\
             uri = \"docker-daemon://{tag}\"\n"
        )
    };
    catalog.offer("fleetproto", "fleetvar", "1.1.0", &v2);
    d.ok(&[
        "node",
        "update",
        &name,
        "--upgrade-policy",
        "auto",
        "--upgrade-delay",
        "0",
        "--health-deadline",
        "10s",
    ]);
    wait_for(
        Duration::from_secs(60),
        "upgrade to 1.1.0 confirmed",
        || {
            let n = d.node(&name);
            n["auto_upgrade"]["last_result"]
                .as_str()
                .is_some_and(|r| r.starts_with("upgraded to 1.1.0"))
        },
    );
    let n = d.node(&name);
    assert_eq!(n["image"]["version"], "1.1.0", "{n}");
    assert_eq!(n["status"], "Running", "{n}");
    assert_eq!(d.ok(&["node", "run", "color", &name]).trim(), "blue");

    // 1.2.0 never becomes healthy: rolled back to 1.1.0 after the deadline, and not retried.
    std::fs::write(
        &catalog.path,
        format!("{}{}", entry("1.1.0", &v2), entry("1.2.0", &v3)),
    )
    .expect("catalog");
    wait_for(Duration::from_secs(90), "rollback from 1.2.0", || {
        let n = d.node(&name);
        n["auto_upgrade"]["last_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("rolled back"))
    });
    let n = d.node(&name);
    assert_eq!(n["image"]["version"], "1.1.0", "{n}\n{}", d.log());
    assert_eq!(n["status"], "Running", "{n}");
    let status = d.ok(&["node", "status", &name]);
    assert!(
        status.contains("1.2.0 was not healthy within 10 s"),
        "{status}"
    );
    let text = scrape(&addr);
    assert_eq!(
        series(
            &text,
            &format!("bv_node_auto_upgrade_rollbacks_total{labels}")
        ),
        Some(1.0)
    );
    assert_eq!(
        series(&text, &format!("bv_node_auto_upgrades_total{labels}")),
        Some(1.0)
    );
    // The engine keeps seeing 1.2.0 and leaves it alone.
    let start = std::time::Instant::now();
    loop {
        let seen = d.node(&name)["auto_upgrade"].clone();
        if seen["state"].as_str() == Some("1.2.0 was rolled back; waiting for a newer version") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "1.2.0 not blocked: {seen}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.node(&name)["image"]["version"], "1.1.0");
}
