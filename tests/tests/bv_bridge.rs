//! Bridge networking: a node with a fixed IP in its own network namespace, joined to a
//! bridge; `node_ip`/`node_gateway` reach the plugin; the host reaches the node.

mod bv_support;

use std::process::Command;

use bv_support::{Daemon, bridge_name, build_image, remove_image, unique};

const PLUGIN: &str = r#"
fn net() { let r = run_sh(`ip addr show eth0; ip route`).unwrap(); r }
fn env_ip() { node_env().node_ip + " " + node_env().node_gateway }
"#;

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_image(&self.0);
        bv_support::remove_bridge(&bridge_name());
    }
}

#[test]
fn bridged_node_gets_fixed_ip() {
    let tag = format!("{}:1", unique("bv-e2e-net-"));
    let _cleanup = Cleanup(tag.clone());
    build_image(&tag, PLUGIN);
    let d = Daemon::start_with_network(
        "gateway = \"10.213.7.1\"\nprefix = 24\nfirst_ip = \"10.213.7.10\"\nlast_ip = \"10.213.7.20\"",
    );
    let name = unique("net-");
    d.ok(&[
        "node",
        "create",
        "--image",
        &format!("docker-daemon://{tag}"),
        "--name",
        &name,
        "--ip",
        "10.213.7.15",
    ]);
    d.ok(&["node", "start", &name]);
    let node = d.node(&name);
    assert_eq!(node["status"], "Running", "{node}\n{}", d.log());
    assert_eq!(node["ip"], "10.213.7.15");
    assert_eq!(node["gateway"], "10.213.7.1");

    let net = d.ok(&["node", "run", "net", &name]);
    assert!(net.contains("10.213.7.15/24"), "{net}");
    assert!(net.contains("default via 10.213.7.1"), "{net}");
    assert_eq!(
        d.ok(&["node", "run", "env_ip", &name]).trim(),
        "10.213.7.15 10.213.7.1"
    );
    let ping = Command::new("busybox")
        .args(["ping", "-c", "1", "-W", "2", "10.213.7.15"])
        .output()
        .expect("ping");
    assert!(ping.status.success(), "host cannot reach the node");

    let id = node["id"].as_str().unwrap().to_string();
    d.ok(&["node", "delete", &name, "--yes"]);
    assert!(!std::path::Path::new(&format!("/var/run/netns/bv-{id}")).exists());
}
