//! A host registered to a real `bv-api`: provision token, `bv host register`, nodes created
//! through the API (a Create command on the host's stream) and with `bv node create
//! <protocol> <variant>`, status reported back, plugin secrets kept by the API, and protocol
//! data uploaded by one node into the API's store and downloaded byte-identically by the
//! default init of another (babel ⇄ blockvisord ⇄ API ⇄ storage).

mod api_support;
mod bv_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use api_support::{Api, start_api_tls, start_api_with, test_pki};
use babel_api::pb::api::v1 as pb;
use bv_support::{Daemon, build_image, remove_image, unique, wait_for};
use serde_json::Value;

const PLUGIN: &str = r#"
fn plugin_config() {
    #{
        services: [
            #{ name: "svc", run_sh: `while true; do sleep 1; done` },
        ],
    }
}
fn write_data(param) {
    run_sh(`mkdir -p /blockjoy/protocol_data/sub && head -c 3000000 /dev/urandom > /blockjoy/protocol_data/sub/blob.bin && echo ${param} > /blockjoy/protocol_data/a.txt`).unwrap();
    "written"
}
fn protocol_status() { #{state: "broadcasting", health: "healthy"} }
fn put_s(param) { put_secret("k", param.to_blob()); "stored" }
fn get_s() { get_secret("k").as_string() }
"#;

impl Api {
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.data.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_string()
    }

    fn provision_token(&self) -> String {
        let out = Command::new(e2e::bin_dir().join("bv-api"))
            .arg("--data-dir")
            .arg(&self.data)
            .arg("provision-token")
            .output()
            .expect("bv-api provision-token");
        ok(&out).trim().to_string()
    }

    /// Runs `f` with an admin-authenticated channel.
    fn admin<T>(
        &self,
        f: impl AsyncFnOnce(tonic::transport::Channel, String) -> Result<T, tonic::Status>,
    ) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let channel = self.channel().await;
            f(channel, format!("Bearer {}", self.read("admin.token")))
                .await
                .expect("admin call")
        })
    }

    fn data_versions(&self, store_key: &str) -> Vec<pb::DataVersion> {
        let key = store_key.to_string();
        self.admin(async move |ch, auth| {
            let mut req = tonic::Request::new(pb::ListDataVersionsRequest {
                archive: Some(pb::ArchiveRef {
                    archive: Some(pb::archive_ref::Archive::StoreKey(key)),
                }),
            });
            req.metadata_mut()
                .insert("authorization", auth.parse().expect("header"));
            Ok(pb::archive_service_client::ArchiveServiceClient::new(ch)
                .list_data_versions(req)
                .await?
                .into_inner()
                .versions)
        })
    }

    /// NodeService Start, Stop or Delete as admin.
    fn node_call(&self, node_id: &str, call: &'static str) {
        let id = node_id.to_string();
        self.admin(async move |ch, auth| {
            let mut req = tonic::Request::new(pb::NodeIdRequest { node_id: id });
            req.metadata_mut()
                .insert("authorization", auth.parse().expect("header"));
            let mut client = pb::node_service_client::NodeServiceClient::new(ch);
            match call {
                "start" => drop(client.start(req).await?),
                "stop" => drop(client.stop(req).await?),
                _ => drop(client.delete(req).await?),
            }
            Ok(())
        })
    }

    fn node(&self, node_id: &str) -> pb::Node {
        let id = node_id.to_string();
        self.admin(async move |ch, auth| {
            let mut req = tonic::Request::new(pb::GetNodeRequest { node_id: id });
            req.metadata_mut()
                .insert("authorization", auth.parse().expect("header"));
            Ok(pb::node_service_client::NodeServiceClient::new(ch)
                .get(req)
                .await?
                .into_inner())
        })
    }
}

fn ok(o: &Output) -> String {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

fn nib(args: &[&str], cwd: &Path, config: &Path) -> String {
    let out = Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("NIB_CONFIG", config)
        .output()
        .expect("run nib");
    ok(&out)
}

fn babel_yaml(protocol: &str, variant: &str, image: &str) -> String {
    format!(
        "version: 0.0.1\ncontainer_uri: docker-daemon://{image}\nprotocol_key: {protocol}\norg_id: null\n\
         description: host api e2e\ndns_scheme: null\nvisibility: public\n\
         firewall_config:\n  default_in: allow\n  default_out: allow\n  rules: []\n\
         properties:\n  - key: greeting\n    name: Greeting\n    description: free text\n    dynamic_value: true\n    default_value: hello\n    ui_type: !text null\n\
         variants:\n  - key: {variant}\n    sku_code: TST-E2E-N\n    archive_pointers:\n      - pointer: !store_key {protocol}-{variant}-v1\n\
         \x20   min_cpu: 1\n    min_memory_mb: 200\n    min_disk_gb: 1\n    ramdisks: []\n"
    )
}

fn node_by_id(d: &Daemon, id: &str) -> Value {
    d.json(&["node", "list"])
        .as_array()
        .and_then(|a| a.iter().find(|n| n["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

fn wait_running(d: &Daemon, id: &str) {
    wait_for(
        Duration::from_secs(120),
        &format!("node {id} Running"),
        || {
            let n = node_by_id(d, id);
            if n["status"] == "Failed" {
                panic!("node {id} failed: {n}\n--- daemon log ---\n{}", d.log());
            }
            n["status"] == "Running" && n["initialized"] == true
        },
    );
}

fn job_status(d: &Daemon, node: &str, job: &str) -> String {
    let out = d.bv(&["--format", "json", "node", "job", node, "info", job]);
    if !out.status.success() {
        return String::new();
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["status"].as_str().map(String::from))
        .unwrap_or_default()
}

fn wait_job_finished(d: &Daemon, node: &str, job: &str) {
    let what = format!("job {job} of {node} finished");
    let start = Instant::now();
    loop {
        let status = job_status(d, node, job);
        if status == "Finished with exit code 0" {
            return;
        }
        assert!(
            !status.starts_with("Finished with exit code") || status.ends_with(" 0"),
            "{what}: {status}\n--- daemon log ---\n{}",
            d.log()
        );
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what} (last status `{status}`)\n--- job ---\n{}\n--- daemon log ---\n{}",
            String::from_utf8_lossy(
                &d.bv(&["--format", "json", "node", "job", node, "info", job])
                    .stdout
            ),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

#[test]
fn registered_host_runs_catalog_nodes_secrets_and_archives() {
    let tmp = tempfile::Builder::new()
        .prefix("hostapi")
        .tempdir_in("/tmp")
        .expect("tempdir");
    // Over TLS, as any deployment beyond one machine runs it.
    let api = start_api_tls(&tmp.path().join("api"));
    let nib_cfg = tmp.path().join("nib.json");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");

    // Publish a protocol and an image (built here, FROM scratch: no CA certificates, so the
    // archive jobs must do with plain http) with one archive pointer.
    let protocol = unique("hapi");
    let variant = "e2e-net-full";
    let tag = format!("{protocol}:1");
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    let password = api.read("admin.password");
    let mut login = vec![
        "login",
        "--api",
        &api.url,
        "--email",
        "admin@localhost",
        "--password",
        &password,
    ];
    let ca_args = api.ca_args();
    login.extend(ca_args.iter().map(String::as_str));
    nib(&login, &work, &nib_cfg);
    std::fs::write(
        work.join("protocols.yaml"),
        format!("- key: {protocol}\n  name: Host API e2e\n  visibility: public\n"),
    )
    .expect("protocols.yaml");
    nib(&["protocol", "push"], &work, &nib_cfg);
    std::fs::write(
        work.join("babel.yaml"),
        babel_yaml(&protocol, variant, &tag),
    )
    .expect("babel.yaml");
    let pushed = nib(&["image", "push"], &work, &nib_cfg);
    assert!(pushed.contains("added"), "{pushed}");

    // nib's JSON output for listing/printing commands.
    let listed: Value = serde_json::from_str(&nib(
        &["--format", "json", "protocol", "list", "--name", "Host API"],
        &work,
        &nib_cfg,
    ))
    .expect("protocol list json");
    let mine = listed
        .as_array()
        .and_then(|a| a.iter().find(|p| p["key"] == protocol.as_str()))
        .unwrap_or_else(|| panic!("{protocol} not listed: {listed}"));
    assert_eq!(mine["versions"][0]["variant"], variant);
    assert_eq!(mine["versions"][0]["semantic_version"], "0.0.1");
    let uri: Value = serde_json::from_str(&nib(
        &["--format", "json", "image", "container-uri"],
        &work,
        &nib_cfg,
    ))
    .expect("container-uri json");
    assert_eq!(uri["container_uri"], format!("docker-daemon://{tag}"));
    let pushed: Value = serde_json::from_str(&nib(
        &["--format", "json", "protocol", "push"],
        &work,
        &nib_cfg,
    ))
    .expect("protocol push json");
    assert_eq!(pushed[0]["action"], "unchanged", "{pushed}");
    // `nib login <USER_ID>` refuses credentials of another user.
    let other = Command::new(e2e::bin_dir().join("nib"))
        .args([
            "login",
            "not-this-user",
            "--api",
            &api.url,
            "--email",
            "admin@localhost",
        ])
        .args(["--password", &api.read("admin.password")])
        .args(api.ca_args())
        .current_dir(&work)
        .env("NIB_CONFIG", tmp.path().join("other-nib.json"))
        .output()
        .expect("nib login");
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("not-this-user"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    assert!(!tmp.path().join("other-nib.json").exists());

    // Register a daemon (host network nodes, quick status reports).
    let mut d = Daemon::start_with_config(
        "status_interval_secs = 1\n[metrics]\ninterval_secs = 1",
        "host_network = true",
    );
    let token = api.provision_token();
    let mut register = vec!["host", "register", "--api", &api.url];
    register.extend(ca_args.iter().map(String::as_str));
    let reg = d.json(&[&register[..], &[&token]].concat());
    let host_id = reg["host_id"].as_str().expect("host_id").to_string();
    let creds = d.root.join("host.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds)
        .expect("host.json")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    wait_for(Duration::from_secs(20), "command stream connected", || {
        d.json(&["status"])["api_connected"] == true
    });
    let host_c = host_id.clone();
    let host = api.admin(async move |ch, auth| {
        let mut req = tonic::Request::new(pb::GetHostRequest { host_id: host_c });
        req.metadata_mut()
            .insert("authorization", auth.parse().expect("header"));
        Ok(pb::host_service_client::HostServiceClient::new(ch)
            .get_host(req)
            .await?
            .into_inner())
    });
    assert_eq!(host.bv_version, babel_api::VERSION);
    assert!(
        host.online && host.cpu_cores > 0 && host.memory_bytes > 0,
        "{host:?}"
    );
    // Blockvisor's spellings: `bv host update` and `bv protocol list` through the host's link.
    let sent = d.ok(&["host", "update"]);
    assert_eq!(sent.trim(), "Host info update sent");
    let listed = d.ok(&["protocol", "list", "--name", "Host API"]);
    assert!(
        listed.contains(&format!("- Host API e2e ({protocol})"))
            && listed.contains(&format!("   * {variant}/0.0.1")),
        "{listed}"
    );
    let listed = d.json(&["p", "ls", "-n", "1", "--name", &protocol]);
    assert_eq!(listed[0]["key"], protocol.as_str(), "{listed}");
    // The token is single-use.
    let again = d.bv(&[&register[..], &["--force", &token]].concat());
    assert!(!again.status.success());

    // 2. `bv node create <protocol> <variant>` on the registered host, before any node of
    // the image exists here: the image the API picks is pulled with progress first, and
    // `--name` names the node.
    let created = d.bv(&[
        "node",
        "create",
        &protocol,
        variant,
        "--name",
        "catalog-b",
        "--props",
        r#"{"greeting":"hi"}"#,
    ]);
    let (out, err) = (
        String::from_utf8_lossy(&created.stdout).to_string(),
        String::from_utf8_lossy(&created.stderr).to_string(),
    );
    assert!(created.status.success(), "{out}\n{err}\n{}", d.log());
    assert!(
        err.contains("pull: started") && err.contains("pull: done"),
        "no pull progress on stderr: {err}"
    );
    assert!(out.contains("and name `catalog-b`"), "{out}");
    let node_b = out
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no node id in: {out}"))
        .to_string();
    wait_running(&d, &node_b);
    let b = node_by_id(&d, &node_b);
    assert_eq!(b["name"], "catalog-b", "{b}");
    assert_eq!(b["properties"]["greeting"], "hi");
    // No archive data yet: default init did not download.
    assert!(job_status(&d, &node_b, "download").is_empty());
    // A name in use is refused by the API, and nothing is created.
    let again = d.bv(&["node", "create", &protocol, variant, "--name", "catalog-b"]);
    assert!(!again.status.success());
    assert_eq!(d.json(&["node", "list"]).as_array().map(Vec::len), Some(1));

    // 1. Created through the API: the host gets a Create command on its stream.
    let protocol_c = protocol.clone();
    let host_c = host_id.clone();
    let created = api.admin(async move |ch, auth| {
        let mut req = tonic::Request::new(pb::CreateNodeRequest {
            image: Some(pb::create_node_request::Image::Selector(
                pb::ImageSelector {
                    version_key: Some(pb::ProtocolVersionKey {
                        protocol_key: protocol_c,
                        variant_key: variant.into(),
                    }),
                    semantic_version: None,
                    build_version: None,
                },
            )),
            host_id: Some(host_c),
            ..Default::default()
        });
        req.metadata_mut()
            .insert("authorization", auth.parse().expect("header"));
        Ok(pb::node_service_client::NodeServiceClient::new(ch)
            .create(req)
            .await?
            .into_inner())
    });
    let node_a = created.nodes[0].node_id.clone();
    wait_running(&d, &node_a);
    wait_for(Duration::from_secs(20), "API sees node A Running", || {
        api.node(&node_a).status.map(|s| s.state) == Some(pb::NodeState::Running as i32)
    });
    wait_for(
        Duration::from_secs(30),
        "API sees node A's protocol status",
        || api.node(&node_a).status.and_then(|s| s.protocol_state) == Some("broadcasting".into()),
    );
    let a = node_by_id(&d, &node_a);
    assert_eq!(a["dev_mode"], false);
    assert_eq!(a["protocol_key"], protocol.as_str());
    assert_eq!(a["properties"]["greeting"], "hello");

    // Secrets go to the API (encrypted there), not to a dev stub.
    let out = d.ok(&["node", "run", "put_s", &node_a, "--param", "s3cr3t"]);
    assert!(out.contains("stored"), "{out}");
    let out = d.ok(&["node", "run", "get_s", &node_a]);
    assert_eq!(out.trim(), "s3cr3t");

    // 3. Upload from A into the API's store; a new node downloads it in its default init.
    d.ok(&["node", "run", "write_data", &node_a, "--param", "payload"]);
    // `bv node run upload` follows the job to its end: progress lines on stderr, the final
    // status (not the method's `null`) on stdout.
    let up = d.bv(&["node", "run", "upload", &node_a]);
    let (out, err) = (
        String::from_utf8_lossy(&up.stdout).to_string(),
        String::from_utf8_lossy(&up.stderr).to_string(),
    );
    assert!(up.status.success(), "{out}\n{err}");
    assert!(!out.contains("null"), "{out}");
    assert!(
        out.contains(&format!("Job `upload` of node `{node_a}`: ")),
        "{out}"
    );
    assert!(err.contains("Started job `upload`"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("upload: ") && l.contains('/')),
        "no progress line: {err}"
    );
    wait_job_finished(&d, &node_a, "upload");
    let versions = api.data_versions(&format!("{protocol}-{variant}-v1"));
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(
        versions[0].complete && versions[0].chunks > 0,
        "{versions:?}"
    );
    let stored = files_under(
        &api.data
            .join("chunks")
            .join(format!("{protocol}-{variant}-v1")),
    );
    assert!(!stored.is_empty(), "no chunk in the API's fs store");
    let out = d.ok(&["node", "create", &protocol, variant]);
    let node_c = out.split('`').nth(1).expect("node id").to_string();
    wait_job_finished(&d, &node_c, "download");
    wait_running(&d, &node_c);
    let src = files_under(
        &PathBuf::from(a["data_dir"].as_str().expect("data_dir")).join("protocol_data"),
    );
    let c = node_by_id(&d, &node_c);
    let dst = files_under(
        &PathBuf::from(c["data_dir"].as_str().expect("data_dir")).join("protocol_data"),
    );
    assert_eq!(
        src.len(),
        2,
        "{:?}",
        src.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(
        src == dst,
        "downloaded protocol data differs from the upload"
    );

    // Stop and start through the API; the host follows and reports back.
    api.node_call(&node_c, "stop");
    wait_for(Duration::from_secs(60), "node C stopped", || {
        node_by_id(&d, &node_c)["status"] == "Stopped"
    });
    wait_for(Duration::from_secs(20), "API sees node C Stopped", || {
        api.node(&node_c).status.map(|s| s.state) == Some(pb::NodeState::Stopped as i32)
    });
    api.node_call(&node_c, "start");
    wait_running(&d, &node_c);

    // A restarted daemon reconnects with the stored credentials.
    d.stop();
    d.spawn();
    wait_for(
        Duration::from_secs(20),
        "command stream reconnected",
        || d.json(&["status"])["api_connected"] == true,
    );

    // `bv node upgrade` of a managed node goes through the API (latest build of its variant).
    std::fs::write(
        work.join("babel.yaml"),
        babel_yaml(&protocol, variant, &tag).replace("version: 0.0.1", "version: 0.0.2"),
    )
    .expect("babel.yaml v2");
    let pushed = nib(&["image", "push"], &work, &nib_cfg);
    assert!(pushed.contains("0.0.2"), "{pushed}");
    d.ok(&["node", "upgrade", &node_b]);
    wait_for(Duration::from_secs(120), "node B upgraded to 0.0.2", || {
        node_by_id(&d, &node_b)["image"]["version"] == "0.0.2"
    });
    wait_running(&d, &node_b);
    assert_eq!(api.node(&node_b).semantic_version, "0.0.2");

    // Local stop/start/delete of a managed node go through the API (its desired state).
    d.ok(&["node", "stop", &node_b]);
    assert_eq!(node_by_id(&d, &node_b)["status"], "Stopped");
    assert_eq!(api.node(&node_b).next_state, pb::NodeState::Stopped as i32);
    d.ok(&["node", "start", &node_b]);
    wait_running(&d, &node_b);
    assert_eq!(api.node(&node_b).next_state, pb::NodeState::Running as i32);
    d.ok(&["node", "delete", &node_a, "--yes"]);
    assert!(node_by_id(&d, &node_a).is_null());
    assert_eq!(api.node(&node_a).next_state, pb::NodeState::Deleted as i32);

    // Deleting through the API removes the node on the host.
    api.node_call(&node_c, "delete");
    wait_for(
        Duration::from_secs(60),
        "node C deleted on the host",
        || node_by_id(&d, &node_c).is_null(),
    );
}

/// The host's link over TLS: `bv host register` with a CA made at run time connects the
/// command stream over https; without the CA the certificate is refused; plaintext to a
/// non-loopback address is refused unless `--insecure`.
#[test]
fn host_registers_and_streams_over_tls() {
    let tmp = tempfile::Builder::new()
        .prefix("hostapi-tls")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let pki = tmp.path().join("pki");
    test_pki(&pki);
    let pem = |name: &str| pki.join(name).display().to_string();
    let api = start_api_with(
        &tmp.path().join("api"),
        &[
            "--tls-cert".into(),
            pem("server.pem"),
            "--tls-key".into(),
            pem("server.key"),
        ],
    );
    assert!(api.url.starts_with("https://"), "{}", api.url);
    let d = Daemon::start_with_config("status_interval_secs = 1", "host_network = true");

    let refused = d.bv(&[
        "host",
        "register",
        "--api",
        &api.url,
        &api.provision_token(),
    ]);
    assert!(
        !refused.status.success(),
        "a certificate from an unknown CA"
    );
    let unregistered = d.bv(&["protocol", "list"]);
    assert!(
        !unregistered.status.success()
            && String::from_utf8_lossy(&unregistered.stderr).contains("bv host register"),
        "{}",
        String::from_utf8_lossy(&unregistered.stderr)
    );
    let plain = d.bv(&["host", "register", "--api", "http://192.0.2.1:8770", "tok"]);
    let text = String::from_utf8_lossy(&plain.stderr).to_string();
    assert!(
        !plain.status.success() && text.contains("refusing plaintext"),
        "{text}"
    );

    let ca = pem("ca.pem");
    let token = api.provision_token();
    let reg = d.json(&[
        "host",
        "register",
        "--api",
        &api.url,
        "--ca-file",
        &ca,
        &token,
    ]);
    assert!(
        reg["host_id"].as_str().is_some_and(|h| !h.is_empty()),
        "{reg}"
    );
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(d.root.join("host.json")).expect("host.json"),
    )
    .expect("json");
    assert_eq!(creds["ca_file"], ca.as_str());
    wait_for(Duration::from_secs(20), "command stream over TLS", || {
        d.json(&["status"])["api_connected"] == true
    });
}
