//! Root test: a node's firewall, loaded with nft into its network namespace, lets allowed
//! ports through and blocks denied ones, between a node namespace and a client namespace on
//! a unique test bridge set up by the daemon's own bridge code (which also installs the NAT
//! table and the forwarding rules of the bridge). Fails when not run as root.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use bv_host::config::NetworkConfig;
use bv_host::net::bridge::Bridge;
use bv_host::net::firewall::{Firewall, FirewallRule};
use bv_host::net::{NodeNet, NodeNetwork, host_rules, netns_path};

fn enter_netns(ns: &str) {
    let file = std::fs::File::open(netns_path(ns)).expect("open netns");
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// Serves `hi` on each port, inside `ns`, until the process ends.
fn serve_in(ns: &str, ports: &[u16]) {
    let (ns, ports) = (ns.to_string(), ports.to_vec());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        enter_netns(&ns);
        let listeners: Vec<TcpListener> = ports
            .iter()
            .map(|p| TcpListener::bind(("0.0.0.0", *p)).expect("bind in netns"))
            .collect();
        ready_tx.send(()).expect("ready");
        for l in listeners {
            std::thread::spawn(move || {
                for mut s in l.incoming().flatten() {
                    let _ = s.write_all(b"hi");
                }
            });
        }
    });
    ready_rx.recv().expect("listeners ready");
}

#[derive(Debug, PartialEq, Eq)]
enum Reach {
    Open,
    Refused,
    TimedOut,
}

/// Connects from inside `ns` and reads the greeting.
fn reach_from(ns: &str, ip: Ipv4Addr, port: u16) -> Reach {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_netns(&ns);
        let addr = SocketAddr::from((ip, port));
        match TcpStream::connect_timeout(&addr, Duration::from_millis(1500)) {
            Ok(mut s) => {
                let mut buf = String::new();
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let _ = s.read_to_string(&mut buf);
                assert_eq!(buf, "hi");
                Reach::Open
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Reach::Refused,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Reach::TimedOut,
            Err(e) => panic!("connect {addr}: {e}"),
        }
    })
    .join()
    .expect("client thread")
}

fn rule(name: &str, dir: &str, action: &str, ports: &[u32], ips: &[String]) -> FirewallRule {
    FirewallRule {
        name: name.into(),
        action: action.into(),
        direction: dir.into(),
        protocol: Some("tcp".into()),
        ips: ips.to_vec(),
        ports: ports.to_vec(),
    }
}

/// Serves the peer's address once on `port` inside `ns`.
fn serve_peer_in(ns: &str, port: u16) {
    let ns = ns.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        enter_netns(&ns);
        let l = TcpListener::bind(("0.0.0.0", port)).expect("bind in netns");
        ready_tx.send(()).expect("ready");
        for mut s in l.incoming().flatten() {
            let peer = s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = s.write_all(peer.as_bytes());
        }
    });
    ready_rx.recv().expect("listener ready");
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Cleanup {
    bridge: String,
    nodes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.nodes {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("bv-{id}")])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("{}o", self.bridge)])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}h", self.bridge)])
            .status();
        let bridge = self.bridge.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let _ = rt.block_on(host_rules::remove(&bridge));
        })
        .join();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_ports_are_unreachable_allowed_ones_reachable() {
    let pid = std::process::id();
    let bridge = format!("bvfw{:x}", pid % 0x00ff_ffff);
    let octet = u8::try_from(100 + pid % 100).unwrap_or(100);
    let config = NetworkConfig {
        bridge: bridge.clone(),
        gateway: Ipv4Addr::new(10, 215, octet, 1),
        prefix: 24,
        first_ip: Ipv4Addr::new(10, 215, octet, 10),
        last_ip: Ipv4Addr::new(10, 215, octet, 20),
        veth_prefix: "bvf".into(),
        ..NetworkConfig::default()
    };
    let (node, client) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let _cleanup = Cleanup {
        bridge: bridge.clone(),
        nodes: vec![node.clone(), client.clone()],
    };
    let net = Bridge::new(config.clone());
    let (node_ip, client_ip) = (
        Ipv4Addr::new(10, 215, octet, 10),
        Ipv4Addr::new(10, 215, octet, 11),
    );
    for (id, ip) in [(&node, node_ip), (&client, client_ip)] {
        net.setup(
            id,
            &NodeNet {
                ip,
                gateway: config.gateway,
                prefix: 24,
            },
        )
        .await
        .expect("bridge setup (needs root)");
    }
    let (node_ns, client_ns) = (format!("bv-{node}"), format!("bv-{client}"));
    serve_in(&node_ns, &[8080, 8081, 8082]);
    serve_in(&client_ns, &[9090, 9091]);
    // No rules yet: everything is reachable (the bridge forwards despite Docker's policy).
    assert_eq!(reach_from(&client_ns, node_ip, 8081), Reach::Open);

    let client_net = vec![format!("{client_ip}/32")];
    let fw = Firewall {
        default_in: "deny".into(),
        default_out: "allow".into(),
        rules: vec![
            rule("web", "in", "allow", &[8080], &[]),
            rule("admin", "in", "reject", &[8082], &client_net),
            rule("no-9090", "out", "deny", &[9090], &client_net),
        ],
    };
    net.apply_firewall(&node, &fw)
        .await
        .expect("apply firewall");
    assert_eq!(reach_from(&client_ns, node_ip, 8080), Reach::Open);
    assert_eq!(reach_from(&client_ns, node_ip, 8081), Reach::TimedOut);
    assert_eq!(reach_from(&client_ns, node_ip, 8082), Reach::Refused);
    assert_eq!(reach_from(&node_ns, client_ip, 9091), Reach::Open);
    assert_eq!(reach_from(&node_ns, client_ip, 9090), Reach::TimedOut);

    // Re-applying replaces the rules atomically: 8081 opens, 8080 closes.
    let fw2 = Firewall {
        default_in: "reject".into(),
        default_out: "allow".into(),
        rules: vec![rule("other", "in", "allow", &[8081], &[])],
    };
    net.apply_firewall(&node, &fw2).await.expect("re-apply");
    assert_eq!(reach_from(&client_ns, node_ip, 8081), Reach::Open);
    assert_eq!(reach_from(&client_ns, node_ip, 8080), Reach::Refused);
    assert_eq!(reach_from(&node_ns, client_ip, 9090), Reach::Open);
    let table = bv_host::net::firewall::table_name(&node);
    let listed = Command::new("ip")
        .args(["netns", "exec", &node_ns, "nft", "list", "tables"])
        .output()
        .expect("nft list");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        listed.trim(),
        format!("table inet {table}"),
        "one table per node"
    );

    // The bridge's NAT table is in place on the host.
    let nat = Command::new("nft")
        .args(["list", "table", "ip", &host_rules::nat_table(&bridge)])
        .output()
        .expect("nft list nat");
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(
        nat.contains(&format!("ip saddr 10.215.{octet}.0/24")) && nat.contains("masquerade"),
        "{nat}"
    );

    // NAT: an "outside" network routed by the host, which has no route back to the node
    // subnet, sees the host's address; without masquerading the reply would never arrive.
    let outside_ns = format!("{bridge}o");
    let (host_end, out_end) = (format!("{bridge}h"), format!("{bridge}x"));
    ip(&["netns", "add", &outside_ns]);
    ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", &out_end,
    ]);
    ip(&["link", "set", &out_end, "netns", &outside_ns]);
    let host_addr = format!("10.216.{octet}.1/24");
    ip(&["addr", "add", &host_addr, "dev", &host_end]);
    ip(&["link", "set", &host_end, "up"]);
    let out_addr = format!("10.216.{octet}.2/24");
    ip(&["-n", &outside_ns, "addr", "add", &out_addr, "dev", &out_end]);
    ip(&["-n", &outside_ns, "link", "set", &out_end, "up"]);
    serve_peer_in(&outside_ns, 7070);
    let seen = {
        let ns = client_ns.clone();
        std::thread::spawn(move || {
            enter_netns(&ns);
            let addr = SocketAddr::from((Ipv4Addr::new(10, 216, octet, 2), 7070));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                .expect("bridged node reaches the outside network");
            let mut buf = String::new();
            s.read_to_string(&mut buf).expect("read");
            buf
        })
        .join()
        .expect("client thread")
    };
    assert_eq!(seen, format!("10.216.{octet}.1"), "masqueraded as the host");

    // Deleting the node removes its rules with its namespace.
    net.teardown(&node).await.expect("teardown");
    assert!(!netns_path(&node_ns).exists());
}
