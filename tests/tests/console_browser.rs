//! The web console in a real browser: headless Debian `chromium` (through `chromedriver`)
//! against a real `bv-api` and a real `blockvisord` with two runc nodes; the daemon reports
//! its figures over its API connection (no metrics endpoint, no per-host console config).
//! Signs in, sees the nodes with their heights, stops one and sees its state change without
//! a reload, sees an alert appear, follows a job's log live, and saves screenshots (`target/console-screenshots/`; also `docs/img/` with
//! `BV_DOCS_SCREENSHOTS=1`).

mod api_support;
mod bv_support;
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use api_support::start_api_with;
use bv_support::{Daemon, build_image, remove_image, unique, wait_for};
use serde_json::{Value, json};
use webdriver::Browser;

const PLUGIN: &str = r#"
fn plugin_config() {
    #{ services: [ #{ name: "chain", run_sh: `i=100; while true; do i=$((i+1)); echo $i > /blockjoy/h; echo "imported block $i"; sleep 1; done` } ] }
}
fn height() { let h = run_sh(`cat /blockjoy/h 2>/dev/null || echo 0`).unwrap(); h.trim(); parse_int(h) }
fn block_age() { let a = run_sh(`echo $(( $(cat /blockjoy/h 2>/dev/null || echo 0) % 6 ))`).unwrap(); a.trim(); parse_int(a) }
fn protocol_status() { let h = run_sh(`cat /blockjoy/health 2>/dev/null || echo healthy`).unwrap(); h.trim(); #{state: "broadcasting", health: h} }
"#;

struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nib(args: &[&str], cwd: &Path, config: &Path) -> String {
    let out = Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("NIB_CONFIG", config)
        .output()
        .expect("run nib");
    ok(out, &format!("nib {args:?}"))
}

fn node_by_id(d: &Daemon, id: &str) -> Value {
    d.json(&["node", "list"])
        .as_array()
        .and_then(|a| a.iter().find(|n| n["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

fn create_node(d: &Daemon, protocol: &str, variant: &str) -> String {
    let out = d.ok(&["node", "create", protocol, variant]);
    let id = out
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no node id in: {out}"))
        .to_string();
    wait_for(
        Duration::from_secs(120),
        &format!("node {id} Running"),
        || {
            let n = node_by_id(d, &id);
            assert_ne!(n["status"], "Failed", "{n}\n{}", d.log());
            n["status"] == "Running" && n["initialized"] == true
        },
    );
    id
}

fn screenshot_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        e2e::bin_dir()
            .parent()
            .map(|t| t.join("console-screenshots"))
            .unwrap_or_default(),
    ];
    if std::env::var("BV_DOCS_SCREENSHOTS").is_ok_and(|v| v == "1") {
        dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/img"));
    }
    dirs
}

fn save(b: &Browser, name: &str) {
    for dir in screenshot_dirs() {
        b.screenshot(&dir.join(name));
    }
}

#[test]
fn console_in_a_browser() {
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/dist/index.html");
    assert!(
        assets.exists(),
        "the console front end is not built ({}): run scripts/setup",
        assets.display()
    );
    let tmp = tempfile::Builder::new()
        .prefix("console")
        .tempdir_in("/tmp")
        .expect("tempdir");

    // A daemon without a metrics endpoint, and bv-api with its console: the figures come
    // over the host's own connection.
    let d = Daemon::start_with_config(
        "status_interval_secs = 1\n[metrics]\ninterval_secs = 1",
        "host_network = true",
    );
    let status = d.json(&["status"]);
    assert!(
        status["metrics_addr"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "no metrics endpoint: {status}"
    );
    let host_name = unique("console-host-");
    let api = start_api_with(
        &tmp.path().join("api"),
        &["--console-listen".into(), "127.0.0.1:0".into()],
    );
    let console = format!(
        "http://{}",
        std::fs::read_to_string(api.data.join("console_address"))
            .expect("console_address")
            .trim()
    );

    // A protocol and image in the catalog.
    let protocol = unique("cons");
    let variant = "e2e-net";
    let tag = format!("{protocol}:1");
    let _image = Image(tag.clone());
    build_image(&tag, PLUGIN);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work");
    let nib_cfg = tmp.path().join("nib.json");
    nib(
        &[
            "login",
            "--api",
            &api.url,
            "--email",
            "admin@localhost",
            "--password",
            &api.password,
        ],
        &work,
        &nib_cfg,
    );
    std::fs::write(
        work.join("protocols.yaml"),
        format!("- key: {protocol}\n  name: Console e2e chain\n  visibility: public\n"),
    )
    .expect("protocols.yaml");
    nib(&["protocol", "push"], &work, &nib_cfg);
    std::fs::write(
        work.join("babel.yaml"),
        format!(
            "version: 1.0.0\ncontainer_uri: docker-daemon://{tag}\nprotocol_key: {protocol}\norg_id: null\n\
             description: console e2e\ndns_scheme: null\nvisibility: public\n\
             firewall_config:\n  default_in: allow\n  default_out: allow\n  rules: []\n\
             properties: []\n\
             variants:\n  - key: {variant}\n    sku_code: CON-E2E-N\n    archive_pointers:\n      - pointer: !store_key {protocol}-{variant}-v1\n\
             \x20   min_cpu: 1\n    min_memory_mb: 200\n    min_disk_gb: 1\n    ramdisks: []\n"
        ),
    )
    .expect("babel.yaml");
    nib(&["image", "push"], &work, &nib_cfg);

    // Register the host and run two nodes on it.
    let token = ok(
        Command::new(e2e::bin_dir().join("bv-api"))
            .arg("--data-dir")
            .arg(&api.data)
            .arg("provision-token")
            .output()
            .expect("provision-token"),
        "provision-token",
    );
    d.json(&[
        "host",
        "register",
        "--api",
        &api.url,
        "--name",
        &host_name,
        token.trim(),
    ]);
    wait_for(Duration::from_secs(20), "command stream connected", || {
        d.json(&["status"])["api_connected"] == true
    });
    let a = create_node(&d, &protocol, variant);
    let b_id = create_node(&d, &protocol, variant);
    let b_dir = PathBuf::from(
        node_by_id(&d, &b_id)["data_dir"]
            .as_str()
            .expect("data_dir"),
    );

    // Sign in.
    let b = Browser::start(1440, 900);
    b.goto(&console);
    b.type_into(
        &b.find("#email", Duration::from_secs(20)),
        "admin@localhost",
    );
    b.type_into(&b.find("#password", Duration::from_secs(5)), &api.password);
    save(&b, "console-login.png");
    b.click(&b.find("form button[type=submit]", Duration::from_secs(5)));
    b.find("header nav", Duration::from_secs(20));

    // Every form control has a label and every button a name.
    let unlabeled = b.eval(
        "return [...document.querySelectorAll('input, select')].filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).length \
         + [...document.querySelectorAll('button')].filter(b => !b.textContent.trim() && !b.getAttribute('aria-label')).length",
        json!([]),
    );
    assert_eq!(unlabeled, 0, "unlabeled controls on the overview");

    // The nodes, with the heights the daemon reported.
    b.click(&b.find("a[href='#/nodes']", Duration::from_secs(5)));
    let row = |id: &str| format!("tr[data-node-id='{id}']");
    for id in [&a, &b_id] {
        b.find(&row(id), Duration::from_secs(30));
    }
    b.wait(
        "heights reported by the host",
        Duration::from_secs(60),
        |b| {
            [&a, &b_id].iter().all(|id| {
                let t = b.text(&format!("{} td.num", row(id)));
                !t.is_empty() && t != "–"
            })
        },
    );
    let unlabeled = b.eval(
        "return [...document.querySelectorAll('input, select')].filter(e => e.labels.length === 0).length",
        json!([]),
    );
    assert_eq!(unlabeled, 0, "unlabeled filters");
    assert!(b.text(&row(&a)).contains("running"), "{}", b.text(&row(&a)));
    b.eval("window.__sameDocument = 42; return null", json!([]));

    // Keyboard: a new page puts focus on its heading, the next Tab stop is the first
    // filter; the confirmation dialog takes focus and Escape cancels it.
    assert_eq!(
        b.eval("return document.activeElement.id", json!([])),
        "nodes-title"
    );
    b.press("\u{E004}");
    assert_eq!(
        b.eval("return document.activeElement.id", json!([])),
        "f-protocol"
    );
    let stop = b.find(
        &format!("{} .actions button", row(&a)),
        Duration::from_secs(5),
    );
    b.click(&stop);
    b.find("dialog[open] button.danger", Duration::from_secs(5));
    assert_eq!(
        b.eval(
            "return document.activeElement.closest('dialog') !== null",
            json!([])
        ),
        true,
        "focus moves into the dialog"
    );
    b.press("\u{E00C}");
    b.wait("Escape closes the dialog", Duration::from_secs(5), |b| {
        b.eval(
            "return document.querySelector('dialog[open]') === null",
            json!([]),
        ) == true
    });
    assert_eq!(
        b.eval("return document.activeElement.textContent", json!([])),
        b.text(&format!("{} .actions button", row(&a))),
        "focus returns to the button that opened the dialog"
    );
    assert_eq!(
        node_by_id(&d, &a)["status"],
        "Running",
        "cancel does nothing"
    );

    // Stop node A: confirm in the dialog, then watch the state change live.
    b.click(&stop);
    let confirm = b.find("dialog[open] button.danger", Duration::from_secs(5));
    assert!(b.text("dialog[open]").contains("Stop"));
    b.click(&confirm);
    b.wait("node A shown stopped", Duration::from_secs(90), |b| {
        b.text(&format!("{} .node-state", row(&a)))
            .starts_with("stopped")
    });
    assert_eq!(node_by_id(&d, &a)["status"], "Stopped");
    b.wait("the change is announced", Duration::from_secs(10), |b| {
        b.text("#announcer").contains("is now stopped")
    });

    // An alert appears when node B turns unhealthy.
    assert_eq!(b.text(&format!("{} .node-alerts", row(&b_id))), "–");
    std::fs::write(b_dir.join("health"), "unhealthy").expect("write health");
    b.wait("node B's alert", Duration::from_secs(90), |b| {
        b.text(&format!("{} .node-alerts", row(&b_id)))
            .contains("unhealthy")
    });
    assert_eq!(
        b.eval("return window.__sameDocument", json!([])),
        42,
        "the page was not reloaded"
    );
    save(&b, "console-nodes.png");

    // Pictures for the docs get a longer status history (and no toast).
    if screenshot_dirs().len() > 1 {
        std::thread::sleep(Duration::from_secs(30));
    }

    // Node detail with its height / block-age chart.
    b.click(&b.find(&format!("{} a", row(&b_id)), Duration::from_secs(5)));
    b.find(".uplot canvas", Duration::from_secs(30));
    assert!(b.text("main").contains("unhealthy"));
    save(&b, "console-node.png");

    // The job's log: the panel opens from the jobs table and follows the job live.
    let show = b.find(
        "button[aria-controls='job-log-panel']",
        Duration::from_secs(30),
    );
    let job_row = b.eval(
        "return document.querySelector(\"button[aria-controls='job-log-panel']\").closest('tr').textContent",
        json!([]),
    );
    assert!(
        job_row.as_str().unwrap_or_default().starts_with("chain"),
        "{job_row}"
    );
    b.click(&show);
    assert_eq!(
        b.eval(
            "return document.querySelector(\"button[aria-controls='job-log-panel']\").getAttribute('aria-expanded')",
            json!([])
        ),
        "true"
    );
    let last_block = |b: &Browser| -> u64 {
        b.text("#job-log-panel pre[role=log]")
            .lines()
            .filter_map(|l| l.strip_prefix("imported block "))
            .filter_map(|n| n.trim().parse().ok())
            .max()
            .unwrap_or(0)
    };
    b.wait("the job's log lines", Duration::from_secs(60), |b| {
        last_block(b) > 100
    });
    let first = last_block(&b);
    b.wait(
        "newer log lines without a reload",
        Duration::from_secs(30),
        |b| last_block(b) >= first + 2,
    );
    b.eval(
        "document.getElementById('job-log-panel').previousElementSibling.scrollIntoView(); return null",
        json!([]),
    );
    save(&b, "console-joblog.png");
    b.click(&b.find(
        "button[aria-controls='job-log-panel']",
        Duration::from_secs(5),
    ));
    b.wait("the log panel closes", Duration::from_secs(5), |b| {
        b.eval(
            "return document.querySelector('#job-log-panel pre') === null",
            json!([]),
        ) == true
    });

    // Hosts, and the overview dashboard panels.
    b.click(&b.find("a[href='#/hosts']", Duration::from_secs(5)));
    b.wait("host usage", Duration::from_secs(30), |b| {
        b.text("#hosts").contains("online") && b.text("#hosts").contains(" of ")
    });
    assert!(b.text("#hosts").contains(&host_name));
    save(&b, "console-hosts.png");
    b.click(&b.find("a[href='#/']", Duration::from_secs(5)));
    b.wait("two dashboard panels", Duration::from_secs(30), |b| {
        b.eval(
            "return document.querySelectorAll('.panels .uplot').length",
            json!([]),
        ) == 2
    });
    assert!(b.text("#open-alerts").contains("unhealthy"));
    save(&b, "console-overview.png");

    // Create a node from the catalog; it shows up on the nodes page and runs on the host.
    b.click(&b.find("a[href='#/catalog']", Duration::from_secs(5)));
    b.click(&b.find("main table button", Duration::from_secs(30)));
    b.type_into(
        &b.find("dialog[open] #c-tags", Duration::from_secs(5)),
        "from-console",
    );
    save(&b, "console-catalog.png");
    b.click(&b.find("dialog[open] button[type=submit]", Duration::from_secs(5)));
    b.wait("the create dialog closes", Duration::from_secs(20), |b| {
        b.eval(
            "return document.querySelector('dialog[open]') === null",
            json!([]),
        ) == true
    });
    b.click(&b.find("a[href='#/nodes']", Duration::from_secs(5)));
    b.wait("the new node listed", Duration::from_secs(30), |b| {
        b.text("#nodes").contains("from-console")
    });
    wait_for(Duration::from_secs(120), "a third node on the host", || {
        d.json(&["node", "list"])
            .as_array()
            .is_some_and(|a| a.len() == 3)
    });
}
