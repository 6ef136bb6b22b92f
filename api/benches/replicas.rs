//! Load bench: two `bv-api` replicas (the real binary, as child processes) on one PostgreSQL
//! database, simulated hosts holding their command streams (alternately on each replica),
//! and nodes on them. Commands are made on the replica that does NOT hold the host's stream,
//! so every one crosses replicas through LISTEN/NOTIFY.
//!
//! Measures, per fleet size: command delivery latency (API call made → command on the host's
//! stream) p50/p99, database statements per command (counted from the replicas' sqlx
//! statement log, which they write for this), and each replica's CPU time and RSS.
//!
//! Needs `BV_API_TEST_PG_URL` (`eval "$(scripts/start-postgres)"`). Knobs:
//! `BV_API_BENCH_HOSTS` (comma-separated fleet sizes, default `100,1000`),
//! `BV_API_BENCH_NODES_PER_HOST` (default 10), `BV_API_BENCH_COMMANDS` (default 2000).
//! Run: `cargo bench -p api --bench replicas`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use babel_api::pb::api::v1 as pb;
use common::flows::{key, nib_push};
use common::{Bearer, Clients, PgDatabase, bearer};
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// Host streams per gRPC connection (HTTP/2 servers cap concurrent streams).
const STREAMS_PER_CONNECTION: usize = 50;

struct Replica {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    // The child is killed and waited for in `Drop` (or here on timeout).
    #[allow(clippy::zombie_processes)]
    fn start(dir: &Path, db_url: &str, key_file: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("replica dir");
        let log = std::fs::File::create(dir.join("log")).expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_bv-api"))
            .arg("--data-dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
            .arg("--master-key-file")
            .arg(key_file)
            // Every statement is logged (one line each), so the bench can count them.
            .env("RUST_LOG", "warn,sqlx::query=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bv-api");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let addr = std::fs::read_to_string(dir.join("address")).unwrap_or_default();
            if !addr.trim().is_empty() {
                return Self {
                    child,
                    url: format!("http://{}", addr.trim()),
                    log: dir.join("log"),
                };
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bv-api did not start (log in {})", dir.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Statements run so far (sqlx logs one line per statement).
    fn statements(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("sqlx::query"))
            .count()
    }

    /// (CPU seconds so far, RSS MiB, peak RSS MiB).
    fn usage(&self) -> (f64, f64, f64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
            .sum();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (
            ticks / 100.0,
            kib("VmRSS:") / 1024.0,
            kib("VmHWM:") / 1024.0,
        )
    }
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

/// A host: holds its stream, acks and completes every command, reports arrivals.
async fn host(channel: Channel, token: String, arrived: mpsc::UnboundedSender<(String, Instant)>) {
    let mut c = Clients::new(channel, bearer(&token));
    let mut stream = c
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream")
        .into_inner();
    while let Some(Ok(cmd)) = stream.next().await {
        let at = Instant::now();
        if let Some(pb::command::Command::Node(n)) = &cmd.command {
            let _ = arrived.send((n.node_id.clone(), at));
        }
        let _ = c
            .commands
            .ack(pb::AckCommandRequest {
                command_id: cmd.command_id.clone(),
            })
            .await;
        let _ = c
            .commands
            .update(pb::UpdateCommandRequest {
                command_id: cmd.command_id,
                exit_code: pb::CommandExitCode::Ok as i32,
                exit_message: None,
                retry_hint_seconds: None,
            })
            .await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run_scale(hosts: usize, nodes_per_host: usize, commands: usize) {
    let pg = PgDatabase::create()
        .await
        .expect("BV_API_TEST_PG_URL must be set");
    let tmp = tempfile::tempdir_in("/tmp").expect("tmp");
    let key_file = tmp.path().join("master.key");
    api::crypto::Keys::load_or_create(&key_file).expect("master key");
    let replicas = [
        Replica::start(&tmp.path().join("a"), &pg.url, &key_file),
        Replica::start(&tmp.path().join("b"), &pg.url, &key_file),
    ];
    let admin_token = std::fs::read_to_string(tmp.path().join("a/admin.token"))
        .expect("admin token")
        .trim()
        .to_string();
    let admin_channels = [
        channel(&replicas[0].url).await,
        channel(&replicas[1].url).await,
    ];
    let mut admin = Clients::new(admin_channels[0].clone(), bearer(&admin_token));
    let nib_key = admin
        .keys
        .create(pb::CreateApiKeyRequest {
            label: "bench nib".into(),
            scopes: [
                "protocol:read",
                "protocol:write",
                "image:read",
                "image:write",
            ]
            .map(String::from)
            .to_vec(),
        })
        .await
        .expect("nib key")
        .into_inner()
        .api_key;
    nib_push(&mut Clients::new(
        admin_channels[0].clone(),
        bearer(&nib_key),
    ))
    .await;

    // Hosts: registered, stream on replica i % 2.
    let setup = Instant::now();
    let (arrived_tx, mut arrived_rx) = mpsc::unbounded_channel();
    let mut host_channels: Vec<Channel> = Vec::new();
    let mut host_ids = Vec::with_capacity(hosts);
    let mut anon = Clients::new(admin_channels[0].clone(), Bearer(None));
    for i in 0..hosts {
        let provision = admin
            .hosts
            .create_provision_token(pb::CreateProvisionTokenRequest::default())
            .await
            .expect("provision token")
            .into_inner()
            .provision_token;
        let reg = anon
            .hosts
            .register_host(pb::RegisterHostRequest {
                provision_token: provision,
                network_name: format!("bench-{i}"),
                bv_version: "0.1.0".into(),
                os: "debian".into(),
                os_version: "12".into(),
                cpu_cores: 64,
                memory_bytes: 1 << 40,
                disk_bytes: 1 << 44,
                ip_address: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                ip_gateway: "10.0.0.1".into(),
                ..Default::default()
            })
            .await
            .expect("register")
            .into_inner();
        let replica = i % 2;
        let slot = i / 2 / STREAMS_PER_CONNECTION * 2 + replica;
        while host_channels.len() <= slot {
            let r = host_channels.len() % 2;
            host_channels.push(channel(&replicas[r].url).await);
        }
        tokio::spawn(host(
            host_channels[slot].clone(),
            reg.token,
            arrived_tx.clone(),
        ));
        host_ids.push(reg.host.expect("host").host_id);
    }
    // Nodes: made through the replica not holding the host's stream; every Create command
    // must reach the host.
    let mut node_hosts: Vec<(String, usize)> = Vec::new();
    let creates = futures::stream::iter(host_ids.iter().enumerate().map(|(i, host_id)| {
        let mut admin = Clients::new(admin_channels[(i + 1) % 2].clone(), bearer(&admin_token));
        let host_id = host_id.clone();
        async move {
            let nodes = admin
                .nodes
                .create(pb::CreateNodeRequest {
                    image: Some(pb::create_node_request::Image::Selector(
                        pb::ImageSelector {
                            version_key: Some(key("testing", "busybox-dev-node")),
                            semantic_version: None,
                            build_version: None,
                        },
                    )),
                    host_id: Some(host_id),
                    node_count: Some(nodes_per_host as u32),
                    ..Default::default()
                })
                .await
                .expect("create nodes")
                .into_inner()
                .nodes;
            nodes
                .into_iter()
                .map(move |n| (n.node_id, i))
                .collect::<Vec<_>>()
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    for batch in creates {
        node_hosts.extend(batch);
    }
    let mut pending = node_hosts.len();
    while pending > 0 {
        tokio::time::timeout(Duration::from_secs(120), arrived_rx.recv())
            .await
            .expect("every Create arrives")
            .expect("hosts run");
        pending -= 1;
    }
    let setup_secs = setup.elapsed().as_secs_f64();

    // Idle: what the open streams cost without commands.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let statements = || replicas.iter().map(Replica::statements).sum::<usize>();
    let idle_from = statements();
    let idle_window = Duration::from_secs(10);
    tokio::time::sleep(idle_window).await;
    let idle_statements = statements() - idle_from;

    // Measured, twice: Stops one at a time (delivery latency without queueing), then Stops
    // 32 at a time (throughput; latency then includes the queue). Each to a node of its own,
    // made on the replica not holding the host's stream.
    let quiet = commands.min(200).min(node_hosts.len() / 2);
    let rounds = [
        (1, &node_hosts[..quiet]),
        (
            32,
            &node_hosts[quiet..(quiet + commands).min(node_hosts.len())],
        ),
    ];
    for (concurrency, sample) in rounds {
        let issued: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let cpu_before: Vec<f64> = replicas.iter().map(|r| r.usage().0).collect();
        let statements_before = statements();
        let started = Instant::now();
        let issuing = {
            let issued = issued.clone();
            let admin_channels = admin_channels.clone();
            let admin_token = admin_token.clone();
            let sample = sample.to_vec();
            tokio::spawn(async move {
                futures::stream::iter(sample.into_iter().map(|(node_id, i)| {
                    let mut admin =
                        Clients::new(admin_channels[(i + 1) % 2].clone(), bearer(&admin_token));
                    let issued = issued.clone();
                    async move {
                        issued
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(node_id.clone(), Instant::now());
                        admin
                            .nodes
                            .stop(pb::NodeIdRequest { node_id })
                            .await
                            .expect("stop");
                    }
                }))
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await;
            })
        };
        let mut latencies = Vec::with_capacity(sample.len());
        while latencies.len() < sample.len() {
            let (node_id, at) = tokio::time::timeout(Duration::from_secs(120), arrived_rx.recv())
                .await
                .expect("every Stop arrives")
                .expect("hosts run");
            let sent = issued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&node_id);
            if let Some(sent) = sent {
                latencies.push(at.duration_since(sent));
            }
        }
        issuing.await.expect("issuing");
        let elapsed = started.elapsed();
        // Let the last acks and results land.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let ran = statements() - statements_before;
        let usage: Vec<(f64, f64, f64)> = replicas.iter().map(|r| r.usage()).collect();
        latencies.sort();
        // Less what the open streams would have run anyway meanwhile.
        let idle_during =
            idle_statements as f64 * (elapsed.as_secs_f64() + 1.0) / idle_window.as_secs_f64();
        let per_command = (ran as f64 - idle_during) / sample.len() as f64;
        println!(
            "| {hosts} | {} | {} × {concurrency} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.2} / {:.2} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} |",
            node_hosts.len(),
            sample.len(),
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            sample.len() as f64 / elapsed.as_secs_f64(),
            per_command,
            idle_statements as f64 / idle_window.as_secs_f64(),
            usage[0].0 - cpu_before[0],
            usage[1].0 - cpu_before[1],
            usage[0].1,
            usage[1].1,
            usage[0].2,
            usage[1].2,
            setup_secs,
        );
    }
    drop(replicas);
    pg.drop_now().await;
}

fn main() {
    if std::env::var("BV_API_TEST_PG_URL").is_err() {
        eprintln!(
            "SKIPPING replicas bench: BV_API_TEST_PG_URL is not set (scripts/start-postgres)"
        );
        return;
    }
    let scales: Vec<usize> = std::env::var("BV_API_BENCH_HOSTS")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let nodes_per_host = env_num("BV_API_BENCH_NODES_PER_HOST", 10);
    let commands = env_num("BV_API_BENCH_COMMANDS", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| hosts | nodes | commands × concurrency | p50 ms | p99 ms | commands/s | DB statements/command | idle DB statements/s | CPU s (A / B) | RSS MiB (A / B) | peak RSS MiB (A / B) | setup s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for hosts in scales {
        rt.block_on(run_scale(hosts, nodes_per_host, commands));
    }
}
