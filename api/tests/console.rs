//! The web console's HTTP API against a real server: sign-in with a password or a token
//! (cookie), the fleet joined with a scraped metrics endpoint, the live event stream, node
//! detail with history and commands, the catalog, actions recorded as host commands, and
//! the static front end with its content security policy.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use babel_api::pb::api::v1 as pb;
use common::{Clients, Harness, bearer};
use serde_json::{Value, json};

/// A stand-in for a host daemon's metrics endpoint whose text the test sets.
async fn metrics_endpoint() -> (String, Arc<Mutex<String>>) {
    let text = Arc::new(Mutex::new(String::new()));
    let served = text.clone();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let t = served.lock().expect("lock").clone();
            async move { t }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/metrics"), text)
}

fn exposition(node_id: &str, height: u64, alert: bool) -> String {
    let base = format!("node_id=\"{node_id}\",node_name=\"n\"");
    let mut t = format!(
        "bv_host_cpu_used_percent 12.5\nbv_host_memory_used_bytes 1000\n\
         bv_host_memory_total_bytes 4000\nbv_host_disk_used_bytes 10\nbv_host_disk_total_bytes 100\n\
         bv_node_status{{{base},status=\"running\"}} 1\n\
         bv_node_height{{{base}}} {height}\nbv_node_block_age_seconds{{{base}}} 3\n\
         bv_node_job_status{{{base},job=\"sync\",status=\"running\"}} 1\n\
         bv_node_job_restarts{{{base},job=\"sync\"}} 2\n"
    );
    if alert {
        t.push_str(&format!(
            "bv_node_alert{{{base},kind=\"job_failed\",message=\"job `init` failed (exit code 1)\"}} 1\n"
        ));
    }
    t.push_str("# EOF\n");
    t
}

struct Web {
    base: String,
    http: reqwest::Client,
    cookie: String,
}

impl Web {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_api_end_to_end() {
    let (metrics_url, metrics_text) = metrics_endpoint().await;
    let assets = tempfile::tempdir().expect("assets");
    std::fs::create_dir_all(assets.path().join("assets")).expect("mkdir");
    std::fs::write(
        assets.path().join("index.html"),
        "<!doctype html><p>console</p>",
    )
    .expect("w");
    std::fs::write(assets.path().join("assets/app.js"), "console.log(1)").expect("w");
    let assets_dir = assets.path().to_path_buf();
    let h = Harness::sqlite_with(|c| {
        c.console.console_listen = Some("127.0.0.1:0".parse().expect("addr"));
        c.console.console_scrape = vec![format!("host-c={metrics_url}")];
        c.console.console_interval_secs = 1;
        c.console.console_assets = assets_dir;
    })
    .await;
    let base = h.server.console_url().expect("console runs");
    let http = reqwest::Client::new();

    // Signed out: 401; wrong password: 401; a host token: refused.
    let r = http
        .get(format!("{base}/api/fleet"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .post(format!("{base}/api/login"))
        .json(&json!({"email": "admin@localhost", "password": "nope"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 401);
    let password = std::fs::read_to_string(h.data_dir.path().join("admin.password")).expect("pw");
    let r = http
        .post(format!("{base}/api/login"))
        .json(&json!({"email": "admin@localhost", "password": password.trim()}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 200);
    let set_cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let cookie = set_cookie.split(';').next().expect("pair").to_string();
    let me: Value = r.json().await.expect("me");
    assert_eq!(me["email"], "admin@localhost");
    assert_eq!(me["can_write"], true);
    let web = Web {
        base: base.clone(),
        http: http.clone(),
        cookie,
    };
    // The admin token works as well (as a bearer header).
    let r = http
        .get(format!("{base}/api/me"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status().as_u16(), 200);

    // A catalog entry and a host.
    let mut admin = Clients::new(h.channel().await, bearer(&h.admin_token));
    admin
        .protocols
        .add_protocol(pb::AddProtocolRequest {
            key: "cons".into(),
            name: "Console protocol".into(),
            ..Default::default()
        })
        .await
        .expect("protocol");
    let version = admin
        .protocols
        .add_version(pb::AddVersionRequest {
            version_key: Some(pb::ProtocolVersionKey {
                protocol_key: "cons".into(),
                variant_key: "main".into(),
            }),
            semantic_version: "1.0.0".into(),
            sku_code: "CON-MAIN".into(),
            ..Default::default()
        })
        .await
        .expect("version")
        .into_inner();
    let add_image = pb::AddImageRequest {
        protocol_version_id: version.protocol_version_id,
        image_uri: "docker-daemon://busybox:latest".into(),
        min_cpu_cores: 1,
        min_memory_bytes: 100_000_000,
        min_disk_bytes: 1_000_000_000,
        min_babel_version: "0.1.0".into(),
        ..Default::default()
    };
    let image = admin
        .images
        .add_image(add_image.clone())
        .await
        .expect("image")
        .into_inner();
    let provision = admin
        .hosts
        .create_provision_token(pb::CreateProvisionTokenRequest::default())
        .await
        .expect("provision")
        .into_inner()
        .provision_token;
    let reg = Clients::new(h.channel().await, common::Bearer(None))
        .hosts
        .register_host(pb::RegisterHostRequest {
            provision_token: provision,
            network_name: "host-c".into(),
            bv_version: "0.1.0".into(),
            cpu_cores: 4,
            memory_bytes: 4000,
            disk_bytes: 100,
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner();
    let host_id = reg.host.expect("host").host_id;
    let r = http
        .post(format!("{base}/api/login"))
        .json(&json!({"token": reg.token}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 403, "host tokens are not for people");
    let mut host = Clients::new(h.channel().await, bearer(&reg.token));
    // API keys: the console needs node:read and host:read; without node:write it is
    // read-only.
    for (scopes, expected, can_write) in [
        (vec!["node:read"], 403, None),
        (vec!["node:read", "host:read"], 200, Some(false)),
    ] {
        let key = admin
            .keys
            .create(pb::CreateApiKeyRequest {
                label: "console".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            })
            .await
            .expect("api key")
            .into_inner()
            .api_key;
        let r = http
            .post(format!("{base}/api/login"))
            .json(&json!({ "token": key }))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status().as_u16(), expected, "{scopes:?}");
        if let Some(w) = can_write {
            let me: Value = r.json().await.expect("me");
            assert_eq!(me["can_write"], w);
        }
    }

    let catalog = web.get("/api/catalog").await;
    let cons = catalog
        .as_array()
        .and_then(|a| a.iter().find(|p| p["key"] == "cons"))
        .expect("cons in catalog")
        .clone();
    assert_eq!(cons["variants"][0]["variant"], "main");
    assert_eq!(
        cons["variants"][0]["images"][0]["image_id"],
        image.image_id.as_str()
    );

    // The event stream, opened before anything changes.
    let mut events = http
        .get(format!("{base}/api/events"))
        .header("cookie", &web.cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status().as_u16(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );

    // Create from the catalog.
    let (status, created) = web
        .post(
            "/api/nodes",
            json!({"image_id": image.image_id, "host_id": host_id, "tags": ["blue"]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let node_id = created[0]["id"].as_str().expect("id").to_string();
    assert_eq!(created[0]["tags"][0], "blue");

    // The scraper joins the metrics endpoint's figures.
    *metrics_text.lock().expect("lock") = exposition(&node_id, 42, false);
    wait_until("height from the metrics endpoint", async || {
        let f = web.get("/api/fleet").await;
        f["nodes"][0]["height"] == 42 && f["hosts"][0]["usage"]["memory_total_bytes"] == 4000
    })
    .await;
    let f = web.get("/api/fleet").await;
    assert_eq!(f["hosts"][0]["name"], "host-c");
    assert_eq!(f["hosts"][0]["node_count"], 1);
    assert_eq!(f["nodes"][0]["protocol"], "cons");
    assert_eq!(f["nodes"][0]["host_name"], "host-c");
    assert_eq!(f["nodes"][0]["block_age_secs"], 3);
    assert_eq!(f["nodes"][0]["jobs"][0]["name"], "sync");
    assert_eq!(f["nodes"][0]["jobs"][0]["restarts"], 2);
    assert_eq!(f["nodes"][0]["alerts"], json!([]));

    // An alert shows up on the live stream.
    *metrics_text.lock().expect("lock") = exposition(&node_id, 43, true);
    let mut buffer = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !buffer.contains("job_failed") {
            let chunk = events.chunk().await.expect("stream").expect("open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("alert event within 20 s");
    assert!(buffer.contains("event: fleet"), "{buffer}");

    // Stop: recorded for the host; the host's report reaches the stream.
    let (status, body) = web
        .post(&format!("/api/nodes/{node_id}/stop"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let detail = web.get(&format!("/api/nodes/{node_id}")).await;
    assert_eq!(detail["node"]["next_state"], "stopped");
    let kinds: Vec<_> = detail["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["stop", "create"], "newest first");
    assert!(
        detail["history"].as_array().expect("history").len() >= 2,
        "{detail}"
    );
    assert_eq!(detail["history"].as_array().expect("h")[0]["height"], 42);
    let all = web.get("/api/history").await;
    assert_eq!(all[&node_id][0]["height"], 42);
    host.nodes
        .report_status(pb::ReportNodeStatusRequest {
            node_id: node_id.clone(),
            status: Some(pb::NodeStatus {
                state: pb::NodeState::Stopped as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("report");
    buffer.clear();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !buffer.contains("\"state\":\"stopped\"") {
            let chunk = events.chunk().await.expect("stream").expect("open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("stopped state on the stream");

    // Upgrade: to the newest build of the node's variant; none newer is a conflict.
    let (status, _) = web
        .post(&format!("/api/nodes/{node_id}/upgrade"), json!({}))
        .await;
    assert_eq!(status, 409, "already on the newest build");
    let build2 = admin
        .images
        .add_image(add_image)
        .await
        .expect("second build")
        .into_inner();
    let (status, body) = web
        .post(&format!("/api/nodes/{node_id}/upgrade"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let detail = web.get(&format!("/api/nodes/{node_id}")).await;
    assert_eq!(detail["node"]["build"], 2);
    assert_eq!(detail["node"]["image_id"], build2.image_id.as_str());
    assert_eq!(detail["commands"][0]["kind"], "upgrade");

    // Unknown actions, unknown nodes, deletion.
    let (status, _) = web
        .post(&format!("/api/nodes/{node_id}/explode"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = web.post("/api/nodes/nope/start", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = web
        .post(&format!("/api/nodes/{node_id}/delete"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    wait_until("deleted node leaves the fleet", async || {
        web.get("/api/fleet").await["nodes"] == json!([])
    })
    .await;

    // The front end: files, client routes, no escape from the directory, strict CSP.
    let r = http.get(format!("{base}/")).send().await.expect("index");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("a")
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(r.text().await.expect("text").contains("console"));
    let r = http
        .get(format!("{base}/nodes/{node_id}"))
        .send()
        .await
        .expect("route");
    assert!(r.text().await.expect("text").contains("console"));
    let r = http
        .get(format!("{base}/assets/app.js"))
        .send()
        .await
        .expect("js");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("a")
            .starts_with("text/javascript")
    );
    let r = http
        .get(format!("{base}/assets/missing.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(r.status().as_u16(), 404);

    drop(events);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_over_https() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (c, k) = (cert.clone(), key.clone());
    let h = Harness::sqlite_with(|cfg| {
        cfg.console.console_listen = Some("127.0.0.1:0".parse().expect("addr"));
        cfg.console.console_tls_cert = Some(c);
        cfg.console.console_tls_key = Some(k);
    })
    .await;
    let base = h.server.console_url().expect("console");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let pem = std::fs::read(&cert).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let r = client
        .get(format!("{base}/api/me"))
        .send()
        .await
        .expect("https");
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .get(format!("{base}/api/me"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .expect("https");
    assert_eq!(r.status().as_u16(), 200);
    let plain = base.replace("https://", "http://");
    assert!(
        reqwest::get(format!("{plain}/api/me")).await.is_err(),
        "plain HTTP is not served on a TLS console"
    );
    h.stop().await;
}
