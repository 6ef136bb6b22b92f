//! A bridged node's firewall through the real daemon: the default firewall rejects incoming
//! connections, `bv node update --firewall` opens one port on the running node, and the
//! daemon loads the rules again when it starts, and a node restart keeps them.

mod bv_support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bv_support::{Daemon, bridge_name, build_image, remove_image, unique};

const PLUGIN: &str = r#"
fn plugin_config() {
    #{ services: [
        #{ name: "web", run_sh: `mkdir -p /tmp/www && httpd -p 8080 -h /tmp/www && exec httpd -f -p 8081 -h /tmp/www` },
    ] }
}
"#;

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_image(&self.0);
        bv_support::remove_bridge(&bridge_name());
    }
}

fn open(ip: &str, port: u16) -> bool {
    let addr: SocketAddr = format!("{ip}:{port}").parse().expect("addr");
    TcpStream::connect_timeout(&addr, Duration::from_millis(700)).is_ok()
}

#[test]
fn firewall_applies_to_a_running_bridged_node() {
    let tag = format!("{}:1", unique("bv-e2e-fw-"));
    let _cleanup = Cleanup(tag.clone());
    build_image(&tag, PLUGIN);
    let mut d = Daemon::start_with_network(
        "gateway = \"10.214.9.1\"\nprefix = 24\nfirst_ip = \"10.214.9.10\"\nlast_ip = \"10.214.9.20\"",
    );
    let name = unique("fw-");
    let ip = "10.214.9.12";
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{tag}"),
        "--name",
        &name,
        "--ip",
        ip,
    ]);
    d.ok(&["node", "start", &name]);
    let id = d.node(&name)["id"].as_str().expect("id").to_string();
    let netns = format!("bv-{id}");
    let services_up = || {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &netns, "busybox", "netstat", "-ltn"])
            .output()
            .expect("netstat");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains(":8080") && text.contains(":8081")
    };
    d.wait_for(
        Duration::from_secs(20),
        "httpd listening",
        &name,
        services_up,
    );
    // Default firewall: incoming rejected.
    assert!(!open(ip, 8080) && !open(ip, 8081));

    let fw = d.dir.path().join("fw.yaml");
    std::fs::write(
        &fw,
        "default_in: reject\ndefault_out: allow\nrules:\n  - key: web\n    protocol: tcp\n    \
         direction: in\n    action: allow\n    ports: [{port: 8080}]\n",
    )
    .expect("fw.yaml");
    d.ok(&[
        "node",
        "update",
        &name,
        "--firewall",
        fw.to_str().expect("path"),
    ]);
    assert!(open(ip, 8080), "8080 allowed after update\n{}", d.log());
    assert!(!open(ip, 8081), "8081 still rejected");
    assert_eq!(d.node(&name)["status"], "Running");

    // Bad input is refused with the rule and field named; the rules stay.
    std::fs::write(
        &fw,
        "default_in: reject\ndefault_out: allow\nrules:\n  - key: web\n    protocol: tcp\n    \
         direction: in\n    action: allow\n    ips: [{ip: 10.0.0.999}]\n    ports: [{port: 8081}]\n",
    )
    .expect("fw.yaml");
    let out = d.bv(&[
        "node",
        "update",
        &name,
        "--firewall",
        fw.to_str().expect("path"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules[0] `web`: ips"), "{err}");
    assert!(open(ip, 8080) && !open(ip, 8081));

    // The daemon loads the rules again when it starts: drop them while it is down.
    d.stop();
    let table = format!("bv_{}", id.replace('-', ""));
    let out = std::process::Command::new("ip")
        .args([
            "netns", "exec", &netns, "nft", "delete", "table", "inet", &table,
        ])
        .output()
        .expect("nft delete");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(open(ip, 8081), "no rules while the daemon was down");
    d.spawn();
    assert!(open(ip, 8080) && !open(ip, 8081));
    d.ok(&["node", "restart", &name]);
    d.wait_for(
        Duration::from_secs(20),
        "httpd listening again",
        &name,
        services_up,
    );
    assert!(open(ip, 8080) && !open(ip, 8081));

    d.ok(&["node", "delete", &name, "--yes"]);
    assert!(!std::path::Path::new(&format!("/var/run/netns/{netns}")).exists());
}
