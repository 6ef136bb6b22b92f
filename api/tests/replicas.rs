//! Two `bv-api` replicas on one PostgreSQL database: a command made on one reaches the host
//! stream held by the other (woken by NOTIFY, well before the fallback poll), tokens and
//! sessions work on both, results are idempotent, the `online` mark survives a stream moving
//! between replicas, periodic work runs under one lease, and two replicas starting on an
//! empty database make one admin.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api::config::Config;
use babel_api::pb::api::v1 as pb;
use common::flows::{key, next_command, nib_login, nib_push, node_command, register_host_token};
use common::{Bearer, Clients, Harness, PgDatabase, bearer, channel_to};

/// Well under the fallback polls (30 s on PostgreSQL, 2 s in process): delivery within this,
/// again and again, proves the wake crossed replicas.
const CROSS_REPLICA_WAKE: Duration = Duration::from_secs(1);

async fn create_node(admin: &mut Clients, host_id: &str) -> pb::Node {
    let created = admin
        .nodes
        .create(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(
                pb::ImageSelector {
                    version_key: Some(key("testing", "busybox-dev-node")),
                    semantic_version: None,
                    build_version: None,
                },
            )),
            new_values: vec![pb::NodePropertyValue {
                key: "greeting".into(),
                value: "hi".into(),
                has_changed: true,
            }],
            host_id: Some(host_id.into()),
            ..Default::default()
        })
        .await
        .expect("create node")
        .into_inner()
        .nodes;
    created.into_iter().next().expect("one node")
}

async fn timed_next(stream: &mut tonic::Streaming<pb::Command>) -> (pb::Command, Duration) {
    let started = Instant::now();
    let cmd = next_command(stream).await;
    (cmd, started.elapsed())
}

async fn report(host: &mut Clients, cmd: &pb::Command, code: pb::CommandExitCode) -> pb::Command {
    host.commands
        .update(pb::UpdateCommandRequest {
            command_id: cmd.command_id.clone(),
            exit_code: code as i32,
            exit_message: Some(format!("{code:?}")),
            retry_hint_seconds: None,
        })
        .await
        .expect("update")
        .into_inner()
}

async fn host_online(admin: &mut Clients, host_id: &str) -> bool {
    admin
        .hosts
        .get_host(pb::GetHostRequest {
            host_id: host_id.into(),
        })
        .await
        .expect("get host")
        .into_inner()
        .online
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_tokens_and_results_cross_replicas() {
    let Some(h) = Harness::postgres_with(|c| c.janitor_every_secs = 1).await else {
        return;
    };
    let b_dir = tempfile::tempdir_in("/tmp").expect("temp dir");
    let b = h.replica(&b_dir, |_| {}).await;
    let a_channel = h.channel().await;
    let b_channel = channel_to(&b).await;

    // A session made on B (nib login) yields an API key that A accepts, and the bootstrap
    // admin token works on B.
    let mut anon_b = Clients::new(b_channel.clone(), Bearer(None));
    let nib_key = nib_login(&h, &mut anon_b).await;
    let mut nib_a = Clients::new(a_channel.clone(), bearer(&nib_key));
    nib_push(&mut nib_a).await;
    let mut admin_a = Clients::new(a_channel.clone(), bearer(&h.admin_token));
    let mut admin_b = Clients::new(b_channel.clone(), bearer(&h.admin_token));
    let (host, host_token) = register_host_token(&h, &mut admin_a, "host-x").await;
    let mut host_a = Clients::new(a_channel.clone(), bearer(&host_token));
    let mut host_b = Clients::new(b_channel.clone(), bearer(&host_token));

    // The host holds its stream on B; commands are made on A.
    let mut stream = host_b
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream on B")
        .into_inner();
    let node = create_node(&mut admin_a, &host.host_id).await;
    let (create, took) = timed_next(&mut stream).await;
    assert!(matches!(
        node_command(&create),
        pb::node_command::Command::Create(_)
    ));
    assert!(took < CROSS_REPLICA_WAKE, "create took {took:?}");
    // Ack twice, on both replicas; report on A.
    for host in [&mut host_a, &mut host_b] {
        host.commands
            .ack(pb::AckCommandRequest {
                command_id: create.command_id.clone(),
            })
            .await
            .expect("ack is idempotent");
    }
    report(&mut host_a, &create, pb::CommandExitCode::Ok).await;

    admin_a
        .nodes
        .stop(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("stop on A");
    let (stop, took) = timed_next(&mut stream).await;
    assert!(matches!(
        node_command(&stop),
        pb::node_command::Command::Stop(_)
    ));
    assert!(took < CROSS_REPLICA_WAKE, "stop took {took:?}");
    // The first result stands: a redelivered command's second report changes nothing.
    let first = report(&mut host_b, &stop, pb::CommandExitCode::Ok).await;
    let again = report(&mut host_a, &stop, pb::CommandExitCode::InternalError).await;
    assert_eq!(again.exit_code, Some(pb::CommandExitCode::Ok as i32));
    assert_eq!(again.completed_at, first.completed_at);
    assert_eq!(again.exit_message.as_deref(), Some("Ok"));

    // Made on B, delivered on B too; then the host moves its stream to A.
    admin_b
        .nodes
        .start(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("start on B");
    let (start, took) = timed_next(&mut stream).await;
    assert!(took < CROSS_REPLICA_WAKE, "start took {took:?}");
    assert!(matches!(
        node_command(&start),
        pb::node_command::Command::Start(_)
    ));
    let mut stream_a = host_a
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream on A")
        .into_inner();
    // Not yet reported: the new stream gets it again (at-least-once).
    let (again, _) = timed_next(&mut stream_a).await;
    assert_eq!(again.command_id, start.command_id);
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        host_online(&mut admin_a, &host.host_id).await,
        "the old stream closing leaves the host online: it holds a stream on A"
    );
    report(&mut host_a, &start, pb::CommandExitCode::Ok).await;
    let pending = host_b
        .commands
        .pending(pb::PendingCommandsRequest::default())
        .await
        .expect("pending")
        .into_inner()
        .commands;
    assert!(pending.is_empty(), "{pending:?}");
    drop(stream_a);

    // Upkeep runs on one replica at a time.
    let db = api::db::Db::connect(&h.database_url).await.expect("db");
    let replicas = [h.server.replica.clone(), b.replica.clone()];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let holder = api::db::leases::holder(&db, api::janitor::LEASE)
        .await
        .expect("lease")
        .expect("someone holds the janitor lease");
    assert!(replicas.contains(&holder), "{holder}");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = api::db::leases::holder(&db, api::janitor::LEASE)
            .await
            .expect("lease");
        assert_eq!(
            now.as_ref(),
            Some(&holder),
            "the lease stays with its holder"
        );
    }
    // A host whose replica died without closing its stream is marked offline by upkeep.
    sqlx::query("UPDATE hosts SET online = 1, last_seen_at = $1 WHERE host_id = $2")
        .bind(api::db::now_ms() - api::janitor::ONLINE_STALE_MS - 1000)
        .bind(&host.host_id)
        .execute(&db.pool)
        .await
        .expect("age the host's heartbeat");
    let deadline = Instant::now() + Duration::from_secs(5);
    while host_online(&mut admin_b, &host.host_id).await {
        assert!(Instant::now() < deadline, "stale online mark not cleared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // B stops: A holds the lease (at once when B had it: B releases it on shutdown).
    b.shutdown().await.expect("B stops");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = api::db::leases::holder(&db, api::janitor::LEASE)
            .await
            .expect("lease");
        if now.as_deref() == Some(h.server.replica.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A did not take the lease: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.pool.close().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_make_one_admin() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let dirs = [
        tempfile::tempdir_in("/tmp").expect("temp dir"),
        tempfile::tempdir_in("/tmp").expect("temp dir"),
    ];
    let key_file = dirs[0].path().join("shared-master.key");
    let config = |dir: &tempfile::TempDir| {
        let mut c = Config::new(dir.path().to_path_buf());
        c.database_url = Some(pg.url.clone());
        c.master_key_file = Some(key_file.clone());
        c
    };
    // The key is made by whoever starts first; make it up front so both share it.
    api::crypto::Keys::load_or_create(&key_file).expect("master key");
    let (a, b) = tokio::join!(
        api::server::start(config(&dirs[0])),
        api::server::start(config(&dirs[1]))
    );
    let (a, b) = (a.expect("A starts"), b.expect("B starts"));
    let tokens: Vec<_> = [&a, &b]
        .iter()
        .filter_map(|r| r.new_admin_token.clone())
        .collect();
    assert_eq!(tokens.len(), 1, "exactly one replica made the admin");
    for r in [&a, &b] {
        let mut admin = Clients::new(channel_to(r).await, bearer(&tokens[0]));
        admin
            .nodes
            .list(pb::ListNodesRequest::default())
            .await
            .expect("the admin token works on every replica");
    }
    a.shutdown().await.expect("A stops");
    b.shutdown().await.expect("B stops");
    pg.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_work_on_every_replica() {
    let console = |c: &mut Config| {
        c.console.console_listen = Some("127.0.0.1:0".parse().expect("addr"));
    };
    let Some(h) = Harness::postgres_with(console).await else {
        return;
    };
    let b_dir = tempfile::tempdir_in("/tmp").expect("temp dir");
    let b = h.replica(&b_dir, console).await;
    let (a_url, b_url) = (
        h.server.console_url().expect("console on A"),
        b.console_url().expect("console on B"),
    );
    let http = reqwest::Client::new();
    let password = std::fs::read_to_string(h.data_dir.path().join("admin.password")).expect("pw");
    let r = http
        .post(format!("{a_url}/api/login"))
        .json(&serde_json::json!({"email": "admin@localhost", "password": password.trim()}))
        .send()
        .await
        .expect("login on A");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    for base in [&a_url, &b_url] {
        let r = http
            .get(format!("{base}/api/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("me");
        assert_eq!(r.status().as_u16(), 200, "session from A on {base}");
    }
    let r = http
        .get(format!("{b_url}/api/me"))
        .header("cookie", "bv_console=forged")
        .send()
        .await
        .expect("me");
    assert_eq!(r.status().as_u16(), 401);
    b.shutdown().await.expect("B stops");
    h.stop().await;
}

async fn console_login(http: &reqwest::Client, base: &str, password: &str) -> String {
    let r = http
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 200);
    r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string()
}

async fn console_get(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
) -> serde_json::Value {
    let r = http
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("console GET");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.expect("json")
}

fn figures(node_id: &str, height: u64, logs: Vec<pb::JobLogLines>) -> pb::ReportHostFiguresRequest {
    pb::ReportHostFiguresRequest {
        host_id: String::new(),
        usage: Some(pb::HostUsage {
            cpu_percent: 12.5,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            ..Default::default()
        }),
        nodes: vec![
            pb::NodeFigures {
                node_id: node_id.into(),
                status: "running".into(),
                height: Some(height),
                block_age_secs: Some(3),
                jobs: vec![pb::NodeJobFigures {
                    name: "node".into(),
                    status: "running".into(),
                    restarts: 1,
                }],
                ..Default::default()
            },
            // A node of another host (or none): ignored.
            pb::NodeFigures {
                node_id: "not-this-hosts-node".into(),
                status: "running".into(),
                height: Some(1),
                ..Default::default()
            },
        ],
        logs,
    }
}

/// A host reports its figures to replica A only; replica B's console serves the same node
/// figures, the same status history and the job log lines the host sent after B asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_history_and_job_logs_cross_replicas() {
    let console = |c: &mut Config| {
        c.console.console_listen = Some("127.0.0.1:0".parse().expect("addr"));
    };
    let Some(h) = Harness::postgres_with(console).await else {
        return;
    };
    let b_dir = tempfile::tempdir_in("/tmp").expect("temp dir");
    let b = h.replica(&b_dir, console).await;
    let b_url = b.console_url().expect("console on B");
    let a_channel = h.channel().await;
    let mut anon = Clients::new(a_channel.clone(), Bearer(None));
    let nib_key = nib_login(&h, &mut anon).await;
    nib_push(&mut Clients::new(a_channel.clone(), bearer(&nib_key))).await;
    let mut admin_a = Clients::new(a_channel.clone(), bearer(&h.admin_token));
    let (host, host_token) = register_host_token(&h, &mut admin_a, "host-f").await;
    let mut host_a = Clients::new(a_channel.clone(), bearer(&host_token));
    let node = create_node(&mut admin_a, &host.host_id).await;

    // Another host may not report for this one.
    let (_, other_token) = register_host_token(&h, &mut admin_a, "host-g").await;
    let mut other = Clients::new(a_channel.clone(), bearer(&other_token));
    let mut forged = figures(&node.node_id, 99, vec![]);
    forged.host_id = host.host_id.clone();
    let err = other
        .hosts
        .report_figures(forged)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    for height in [100, 101] {
        let mut req = figures(&node.node_id, height, vec![]);
        req.host_id = host.host_id.clone();
        let answer = host_a
            .hosts
            .report_figures(req)
            .await
            .expect("report on A")
            .into_inner();
        assert!(answer.logs.is_empty(), "nobody watches a log yet");
        assert_eq!(answer.next_report_ms, 5_000);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let http = reqwest::Client::new();
    let password = std::fs::read_to_string(h.data_dir.path().join("admin.password")).expect("pw");
    let cookie = console_login(&http, &b_url, password.trim()).await;
    let detail = console_get(
        &http,
        &b_url,
        &cookie,
        &format!("/api/nodes/{}", node.node_id),
    )
    .await;
    assert_eq!(detail["node"]["height"], 101);
    assert_eq!(detail["node"]["block_age_secs"], 3);
    assert_eq!(detail["node"]["jobs"][0]["name"], "node");
    let heights: Vec<u64> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|p| p["height"].as_u64().expect("height"))
        .collect();
    assert_eq!(heights, [100, 101], "B serves the history A stored");
    let fleet = console_get(&http, &b_url, &cookie, "/api/fleet").await;
    let host_view = fleet["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|x| x["id"] == host.host_id.as_str())
        .expect("host in the fleet")
        .clone();
    assert_eq!(host_view["usage"]["cpu_percent"], 12.5);
    let all = console_get(&http, &b_url, &cookie, "/api/history").await;
    assert!(all.get("not-this-hosts-node").is_none());

    // B's log panel asks; A's answer to the host's next report names the log; the host's
    // report after that carries the lines, which B then serves.
    let log_path = format!("/api/nodes/{}/jobs/node/logs?lines=2", node.node_id);
    let empty = console_get(&http, &b_url, &cookie, &log_path).await;
    assert_eq!(empty["lines"], serde_json::json!([]));
    assert!(empty["at_ms"].is_null());
    let mut req = figures(&node.node_id, 102, vec![]);
    req.host_id = host.host_id.clone();
    let answer = host_a
        .hosts
        .report_figures(req)
        .await
        .expect("report")
        .into_inner();
    assert_eq!(
        answer.next_report_ms, 1_000,
        "reports quicken while a log is watched"
    );
    assert_eq!(
        answer.logs,
        [pb::JobLogWanted {
            node_id: node.node_id.clone(),
            job: "node".into(),
            max_lines: 2,
        }]
    );
    let lines: Vec<String> = ["starting", "block 101", "block 102"]
        .map(String::from)
        .to_vec();
    let mut req = figures(
        &node.node_id,
        102,
        vec![pb::JobLogLines {
            node_id: node.node_id.clone(),
            job: "node".into(),
            lines,
            error: None,
        }],
    );
    req.host_id = host.host_id.clone();
    host_a
        .hosts
        .report_figures(req)
        .await
        .expect("report with logs");
    let log = console_get(&http, &b_url, &cookie, &log_path).await;
    assert_eq!(
        log["lines"],
        serde_json::json!(["block 101", "block 102"]),
        "the newest lines, bounded by the watch"
    );
    assert!(log["at_ms"].as_i64().is_some());
    b.shutdown().await.expect("B stops");
    h.stop().await;
}

/// A `bv-api` process on the shared database, killed (SIGKILL) when dropped.
struct Proc(std::process::Child, String);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Killed and waited for in `Drop` (or below on timeout).
#[allow(clippy::zombie_processes)]
fn spawn_replica(dir: &std::path::Path, db_url: &str, key: &std::path::Path) -> Proc {
    std::fs::create_dir_all(dir).expect("dir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bv-api"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
        .arg("--master-key-file")
        .arg(key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bv-api");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let addr = std::fs::read_to_string(dir.join("address")).unwrap_or_default();
        if !addr.trim().is_empty() {
            return Proc(child, format!("http://{}", addr.trim()));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bv-api did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kill -9 of the replica holding a host's stream while a command is in flight: the host
/// reconnects to the other replica, gets the command again (it has no result), reports it
/// without applying it twice, and every command ends with exactly one application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_streams_replica_loses_nothing() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let tmp = tempfile::tempdir_in("/tmp").expect("tmp");
    let key_file = tmp.path().join("master.key");
    api::crypto::Keys::load_or_create(&key_file).expect("master key");
    let a = spawn_replica(&tmp.path().join("a"), &pg.url, &key_file);
    let b = spawn_replica(&tmp.path().join("b"), &pg.url, &key_file);
    let admin_token = std::fs::read_to_string(tmp.path().join("a/admin.token"))
        .expect("admin token")
        .trim()
        .to_string();
    let connect = |url: String| async move {
        tonic::transport::Channel::from_shared(url)
            .expect("url")
            .connect()
            .await
            .expect("connect")
    };
    let (a_ch, b_ch) = (connect(a.1.clone()).await, connect(b.1.clone()).await);
    let mut admin_b = Clients::new(b_ch.clone(), bearer(&admin_token));
    let nib_key = admin_b
        .keys
        .create(pb::CreateApiKeyRequest {
            label: "nib".into(),
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
    nib_push(&mut Clients::new(b_ch.clone(), bearer(&nib_key))).await;
    let provision = admin_b
        .hosts
        .create_provision_token(pb::CreateProvisionTokenRequest::default())
        .await
        .expect("provision")
        .into_inner()
        .provision_token;
    let reg = Clients::new(b_ch.clone(), Bearer(None))
        .hosts
        .register_host(pb::RegisterHostRequest {
            provision_token: provision,
            network_name: "failover".into(),
            bv_version: "0.1.0".into(),
            os: "debian".into(),
            os_version: "12".into(),
            cpu_cores: 8,
            memory_bytes: 1 << 34,
            disk_bytes: 1 << 40,
            ip_address: "10.0.0.9".into(),
            ip_gateway: "10.0.0.1".into(),
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner();
    let host_id = reg.host.expect("host").host_id;

    // The host streams from A; commands are made on B.
    let mut host_a = Clients::new(a_ch, bearer(&reg.token));
    let mut stream = host_a
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream on A")
        .into_inner();
    let node = create_node(&mut admin_b, &host_id).await;
    let mut applied: HashMap<String, usize> = HashMap::new();
    let create = next_command(&mut stream).await;
    *applied.entry(create.command_id.clone()).or_default() += 1;
    report(&mut host_a, &create, pb::CommandExitCode::Ok).await;
    admin_b
        .nodes
        .stop(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("stop on B");
    let stop = next_command(&mut stream).await;
    host_a
        .commands
        .ack(pb::AckCommandRequest {
            command_id: stop.command_id.clone(),
        })
        .await
        .expect("ack");
    // Applied on the host; then A dies before the result is reported.
    *applied.entry(stop.command_id.clone()).or_default() += 1;
    drop(a);
    assert!(
        host_a
            .commands
            .update(pb::UpdateCommandRequest {
                command_id: stop.command_id.clone(),
                exit_code: pb::CommandExitCode::Ok as i32,
                exit_message: None,
                retry_hint_seconds: None,
            })
            .await
            .is_err(),
        "A is gone"
    );
    // Meanwhile another command is made on B.
    admin_b
        .nodes
        .start(pb::NodeIdRequest {
            node_id: node.node_id.clone(),
        })
        .await
        .expect("start on B");

    // The host reconnects to B: the unreported Stop comes again, then the Start.
    let mut host_b = Clients::new(b_ch, bearer(&reg.token));
    let mut stream = host_b
        .commands
        .stream(pb::StreamCommandsRequest::default())
        .await
        .expect("stream on B")
        .into_inner();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let cmd = next_command(&mut stream).await;
        seen.push(cmd.command_id.clone());
        if !applied.contains_key(&cmd.command_id) {
            *applied.entry(cmd.command_id.clone()).or_default() += 1;
        }
        report(&mut host_b, &cmd, pb::CommandExitCode::Ok).await;
    }
    assert_eq!(
        seen[0], stop.command_id,
        "the in-flight command comes first again"
    );
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
    assert_eq!(applied.len(), 3);
    let pending = host_b
        .commands
        .pending(pb::PendingCommandsRequest::default())
        .await
        .expect("pending")
        .into_inner()
        .commands;
    assert!(
        pending.is_empty(),
        "every command has its one result: {pending:?}"
    );
    drop(b);
    pg.drop_now().await;
}
