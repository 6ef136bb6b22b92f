//! Two `bv-api` replicas on one PostgreSQL database behind a TCP load balancer, and three
//! host daemons, each in its own network namespace with its own address, connected over TLS.
//!
//! Create, stop, start and upgrade commands are made on both replicas, whichever holds the
//! host's stream. Then the replica holding two hosts' streams is killed with SIGKILL while
//! commands for those hosts are in flight: the hosts reconnect through the balancer to the
//! other replica, every command takes effect, and none is applied twice.

mod api_support;
mod bv_support;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_support::{Api, start_api_replica, start_api_with, test_pki_for};
use babel_api::pb::api::v1 as pb;
use bv_support::{Daemon, build_image, remove_image, unique, wait_for};
use serde_json::Value;

const PLUGIN: &str = r#"
fn plugin_config() {
    #{ services: [ #{ name: "svc", run_sh: `while true; do sleep 1; done` } ] }
}
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
"#;

const HOSTS: usize = 3;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// A bridge on the test's side and one namespace per host, each with a veth into the bridge.
/// Everything is removed on drop (a namespace takes its veth pair with it).
struct Net {
    bridge: String,
    gateway: IpAddr,
    hosts: Vec<(String, IpAddr)>,
}

impl Net {
    fn new() -> Self {
        let id = std::process::id();
        let subnet = format!("10.216.{}", id % 250);
        let bridge = format!("bvrb{:x}", id);
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut net = Self {
            bridge: bridge.clone(),
            gateway: format!("{subnet}.1").parse().expect("ip"),
            hosts: vec![],
        };
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..HOSTS {
            let ns = format!("bvrh{:x}-{i}", id);
            let (outer, inner) = (format!("bvro{:x}{i}", id), format!("bvri{:x}{i}", id));
            let addr = format!("{subnet}.{}", 11 + i);
            ip(&["netns", "add", &ns]);
            net.hosts.push((ns.clone(), addr.parse().expect("ip")));
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&["link", "set", &outer, "master", &bridge, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (ns, _) in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// A TCP load balancer with source-address affinity: a client keeps its replica while that
/// one accepts connections, and moves to the next one that does when it stops.
struct Balancer {
    addr: SocketAddr,
    /// Replica index per client address, as last routed.
    routes: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Balancer {
    fn start(bind: IpAddr, backends: Vec<SocketAddr>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind((bind, 0)))
            .expect("bind balancer");
        let addr = listener.local_addr().expect("balancer address");
        let routes: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let table = routes.clone();
        runtime.spawn(async move {
            while let Ok((mut inbound, peer)) = listener.accept().await {
                let (backends, routes, next) = (backends.clone(), table.clone(), next.clone());
                tokio::spawn(async move {
                    let n = backends.len();
                    let known = routes.lock().expect("routes").get(&peer.ip()).copied();
                    let first = known.unwrap_or_else(|| next.fetch_add(1, Ordering::Relaxed) % n);
                    for k in 0..n {
                        let i = (first + k) % n;
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(backends[i]).await
                        {
                            routes.lock().expect("routes").insert(peer.ip(), i);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            routes,
            _runtime: runtime,
        }
    }

    fn route(&self, client: IpAddr) -> Option<usize> {
        self.routes.lock().expect("routes").get(&client).copied()
    }
}

/// A database of its own on the test PostgreSQL server, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    fn create() -> Self {
        let admin_url = std::env::var("BV_API_TEST_PG_URL")
            .expect("BV_API_TEST_PG_URL (eval \"$(scripts/start-postgres)\")");
        let name = unique("bvrepl_").replace('-', "_");
        run(Command::new("psql").args([&admin_url, "-qc", &format!("CREATE DATABASE {name}")]));
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("database URL with a path");
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin_url,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

/// Admin calls to one replica over TLS, through the same connector the daemon uses.
struct Admin {
    url: String,
    ca: PathBuf,
    token: String,
    runtime: tokio::runtime::Runtime,
}

impl Admin {
    fn new(api: &Api, ca: &Path, token: &str) -> Self {
        Self {
            url: api.url.clone(),
            ca: ca.to_path_buf(),
            token: token.to_string(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn nodes(&self) -> pb::node_service_client::NodeServiceClient<tonic::transport::Channel> {
        let channel = self
            .runtime
            .block_on(api_support::connect(&self.url, Some(&self.ca)));
        pb::node_service_client::NodeServiceClient::new(channel)
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().expect("header"),
        );
        req
    }

    fn create(&self, protocol: &str, variant: &str, host_id: &str) -> String {
        let req = self.request(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(
                pb::ImageSelector {
                    version_key: Some(pb::ProtocolVersionKey {
                        protocol_key: protocol.into(),
                        variant_key: variant.into(),
                    }),
                    semantic_version: Some("0.0.1".into()),
                    build_version: None,
                },
            )),
            host_id: Some(host_id.into()),
            ..Default::default()
        });
        let mut client = self.nodes();
        let created = self
            .runtime
            .block_on(client.create(req))
            .unwrap_or_else(|e| panic!("create on {host_id} via {}: {e}", self.url))
            .into_inner();
        created.nodes[0].node_id.clone()
    }

    fn call(&self, node_id: &str, what: &str) {
        let mut client = self.nodes();
        let id = pb::NodeIdRequest {
            node_id: node_id.into(),
        };
        let result = self.runtime.block_on(async {
            match what {
                "stop" => client.stop(self.request(id)).await.map(drop),
                "start" => client.start(self.request(id)).await.map(drop),
                _ => client
                    .upgrade(self.request(pb::UpgradeNodeRequest {
                        node_id: node_id.into(),
                        image_id: None,
                    }))
                    .await
                    .map(drop),
            }
        });
        result.unwrap_or_else(|e| panic!("{what} {node_id} via {}: {e}", self.url));
    }
}

fn babel_yaml(protocol: &str, variant: &str, version: &str, image: &str) -> String {
    format!(
        "version: {version}\ncontainer_uri: docker-daemon://{image}\nprotocol_key: {protocol}\norg_id: null\n\
         description: replicas e2e\ndns_scheme: null\nvisibility: public\n\
         firewall_config:\n  default_in: allow\n  default_out: allow\n  rules: []\n\
         properties: []\n\
         variants:\n  - key: {variant}\n    sku_code: TST-REPL-N\n    archive_pointers:\n      - pointer: !store_key {protocol}-{variant}-v1\n\
         \x20   min_cpu: 1\n    min_memory_mb: 64\n    min_disk_gb: 1\n    ramdisks: []\n"
    )
}

fn nib(args: &[&str], cwd: &Path, config: &Path) -> String {
    run(Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("NIB_CONFIG", config))
}

fn node_on(d: &Daemon, id: &str) -> Value {
    d.json(&["node", "list"])
        .as_array()
        .and_then(|a| a.iter().find(|n| n["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

fn wait_node(d: &Daemon, id: &str, what: &str, check: impl Fn(&Value) -> bool) {
    d.wait_for(Duration::from_secs(120), what, id, || {
        check(&node_on(d, id))
    });
}

fn running(n: &Value) -> bool {
    n["status"] == "Running" && n["initialized"] == true
}

/// Command ids in `log` that the daemon applied ("command done" lines), with counts.
fn applied_commands(log: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for line in log.lines().filter(|l| l.contains("command done")) {
        // The id follows `command=`, possibly with ANSI styling around the `=`.
        let plain: String = strip_ansi(line);
        if let Some(id) = plain
            .split_whitespace()
            .find_map(|w| w.strip_prefix("command="))
        {
            *seen.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn two_replicas_three_hosts_and_a_replica_killed_mid_command() {
    let net = Net::new();
    let db = Database::create();
    let tmp = tempfile::Builder::new()
        .prefix("replicas")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let pki = tmp.path().join("pki");
    test_pki_for(&pki, &[&net.gateway.to_string()]);
    let ca = pki.join("ca.pem");
    let flags = vec![
        "--database-url".to_string(),
        db.url.clone(),
        "--master-key-file".into(),
        tmp.path().join("master.key").display().to_string(),
        "--tls-cert".into(),
        pki.join("server.pem").display().to_string(),
        "--tls-key".into(),
        pki.join("server.key").display().to_string(),
    ];
    let mut first = start_api_with(&tmp.path().join("api-a"), &flags);
    let mut second = start_api_replica(&tmp.path().join("api-b"), &flags);
    let backend = |api: &Api| -> SocketAddr {
        api.url
            .trim_start_matches("https://")
            .parse()
            .expect("replica address")
    };
    let lb = Balancer::start(net.gateway, vec![backend(&first), backend(&second)]);
    let lb_url = format!("https://{}", lb.addr);
    let token = std::fs::read_to_string(first.data.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_string();
    let replicas = [
        Admin::new(&first, &ca, &token),
        Admin::new(&second, &ca, &token),
    ];

    // Publish a protocol with two versions of one variant.
    let protocol = unique("repl");
    let variant = "e2e-net";
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let nib_cfg = tmp.path().join("nib.json");
    let tag = format!("{protocol}:1");
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    nib(
        &[
            "login",
            "--api",
            &first.url,
            "--ca-file",
            &ca.display().to_string(),
            "--email",
            "admin@localhost",
            "--password",
            &first.password,
        ],
        &work,
        &nib_cfg,
    );
    std::fs::write(
        work.join("protocols.yaml"),
        format!("- key: {protocol}\n  name: Replicas e2e\n  visibility: public\n"),
    )
    .expect("protocols.yaml");
    nib(&["protocol", "push"], &work, &nib_cfg);
    for version in ["0.0.1", "0.0.2"] {
        std::fs::write(
            work.join("babel.yaml"),
            babel_yaml(&protocol, variant, version, &tag),
        )
        .expect("babel.yaml");
        nib(&["image", "push"], &work, &nib_cfg);
    }

    // Three hosts, each in its namespace, registered through the balancer over TLS.
    let mut hosts = vec![];
    for (ns, addr) in &net.hosts {
        let d = Daemon::start_in(Some(ns), "status_interval_secs = 1", "host_network = true");
        let provision = run(Command::new(e2e::bin_dir().join("bv-api"))
            .arg("--data-dir")
            .arg(&first.data)
            .args(["--database-url", &db.url, "provision-token"]));
        let reg = d.json(&[
            "host",
            "register",
            "--api",
            &lb_url,
            "--ca-file",
            &ca.display().to_string(),
            provision.trim(),
        ]);
        let host_id = reg["host_id"].as_str().expect("host_id").to_string();
        wait_for(Duration::from_secs(30), "command stream connected", || {
            d.json(&["status"])["api_connected"] == true
        });
        hosts.push((d, host_id, *addr));
    }
    let holder = |h: usize| lb.route(hosts[h].2).expect("host routed");
    // Affinity spreads the three hosts over both replicas.
    let on_first: Vec<usize> = (0..HOSTS).filter(|&h| holder(h) == 0).collect();
    assert!(
        !on_first.is_empty() && on_first.len() < HOSTS,
        "hosts on replica 0: {on_first:?}"
    );

    // 1. Commands through both replicas, whichever holds the stream.
    let mut nodes: Vec<(usize, String)> = vec![];
    for (h, (_, host_id, _)) in hosts.iter().enumerate() {
        for api in &replicas {
            nodes.push((h, api.create(&protocol, variant, host_id)));
        }
    }
    for (h, id) in &nodes {
        wait_node(&hosts[*h].0, id, "node Running", running);
    }
    let (h0, n0) = nodes[0].clone();
    replicas[1].call(&n0, "stop");
    wait_node(&hosts[h0].0, &n0, "node Stopped", |n| {
        n["status"] == "Stopped"
    });
    replicas[0].call(&n0, "start");
    wait_node(&hosts[h0].0, &n0, "node Running again", running);
    let (h1, n1) = nodes[1].clone();
    replicas[1 - holder(h1)].call(&n1, "upgrade");
    wait_node(&hosts[h1].0, &n1, "node upgraded to 0.0.2", |n| {
        running(n) && n["image"]["version"] == "0.0.2"
    });

    // 2. Kill the replica holding the most streams while commands for its hosts are in
    // flight; they are made on the survivor.
    let victim = if on_first.len() * 2 >= HOSTS { 0 } else { 1 };
    let survivor = 1 - victim;
    let victims_hosts: Vec<usize> = (0..HOSTS).filter(|&h| holder(h) == victim).collect();
    let mut in_flight: Vec<(usize, String)> = vec![];
    for &h in &victims_hosts {
        in_flight.push((
            h,
            replicas[survivor].create(&protocol, variant, &hosts[h].1),
        ));
    }
    let stopped: Vec<(usize, String)> = nodes
        .iter()
        .filter(|(h, _)| victims_hosts.contains(h))
        .take(2)
        .cloned()
        .collect();
    for (_, id) in &stopped {
        replicas[survivor].call(id, "stop");
    }
    if victim == 0 {
        first.kill9();
    } else {
        second.kill9();
    }
    for &h in &victims_hosts {
        wait_for(
            Duration::from_secs(60),
            "host moved to the survivor",
            || {
                lb.route(hosts[h].2) == Some(survivor)
                    && hosts[h].0.json(&["status"])["api_connected"] == true
            },
        );
    }
    for (h, id) in &in_flight {
        wait_node(
            &hosts[*h].0,
            id,
            "node made during the kill Running",
            running,
        );
    }
    for (h, id) in &stopped {
        wait_node(&hosts[*h].0, id, "node stopped during the kill", |n| {
            n["status"] == "Stopped"
        });
    }
    // After the kill, commands still reach every host.
    for (h, id) in &stopped {
        replicas[survivor].call(id, "start");
        wait_node(&hosts[*h].0, id, "node started after the kill", running);
    }

    // Exactly once: every node made once per create, every command applied once.
    for (h, (d, _, _)) in hosts.iter().enumerate() {
        let listed = d.json(&["node", "list"]);
        let expected = nodes
            .iter()
            .chain(&in_flight)
            .filter(|(n, _)| *n == h)
            .count();
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(expected),
            "host {h}: {listed}"
        );
        let applied = applied_commands(&d.log());
        assert!(
            !applied.is_empty(),
            "host {h} applied nothing:\n{}",
            d.log()
        );
        let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "host {h} applied twice: {twice:?}\n{}",
            d.log()
        );
    }
}
