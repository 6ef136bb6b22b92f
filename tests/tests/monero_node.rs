//! The monerod regtest image (images/monero-regtest) on a real blockvisord: `nib image check`
//! passes, properties change monerod's command line, `mine` makes the height grow.

mod bv_support;
mod monero_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use bv_support::unique;
use monero_support::{BridgeCleanup, build_image, image_dir, mine, monerod_cmdline, wait_height};

fn nib(args: &[&str], cwd: &Path, socket: &Path) -> Output {
    Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("BV_SOCKET", socket)
        .env("NIB_CONFIG", cwd.join("no-credentials.json"))
        .output()
        .expect("run nib")
}

#[test]
fn monero_image_check_properties_and_mining() {
    let _bridge = BridgeCleanup;
    build_image(&monero_support::yaml_version());
    let d = monero_support::daemon(10, 19);

    // nib image check on a throw-away node from the image's own definition
    let work = tempfile::tempdir().unwrap();
    for f in ["babel.yaml", "main.rhai"] {
        std::fs::copy(image_dir().join(f), work.path().join(f)).unwrap();
    }
    let out = nib(
        &[
            "image",
            "check",
            "plugin",
            "jobs-status",
            "jobs-restarts",
            "protocol-status",
            "--start-timeout",
            "60",
            "--jobs-wait",
            "3",
            "--cleanup",
        ],
        work.path(),
        &d.socket,
    );
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{log}\n--- daemon log ---\n{}",
        d.log()
    );
    assert!(log.contains("All checks passed!"), "{log}");

    // a node with non-default properties: they show up on monerod's command line
    let name = unique("xmr-");
    let yaml = work.path().join("babel.yaml");
    d.ok(&[
        "node",
        "create",
        "--babel-yaml",
        yaml.to_str().unwrap(),
        "--name",
        &name,
        "--props",
        r#"{"prune": "on", "log-level": "1"}"#,
        "--bridge",
    ]);
    d.ok(&["node", "start", &name]);
    let cmdline = monerod_cmdline(&d, &name);
    assert!(cmdline.contains("--regtest"), "{cmdline}");
    assert!(cmdline.contains("--prune-blockchain"), "{cmdline}");
    assert!(cmdline.contains("--log-level 1"), "{cmdline}");
    assert!(cmdline.contains("--offline"), "no peers: {cmdline}");
    let node = d.node(&name);
    let ip = node["ip"].as_str().unwrap().to_string();
    // --bridge: an address from the daemon's range, not the host network
    assert!(
        ip.starts_with(&format!("{}.1", monero_support::subnet())),
        "{node}"
    );
    assert!(
        cmdline.contains(&format!("--p2p-bind-ip {ip}")),
        "{cmdline}"
    );

    // `bv node update --props` follows the image's property rules, and a refusal changes
    // nothing
    let refused = |props: &str, expect: &str| {
        let out = d.bv(&["node", "update", &name, "--props", props]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && err.contains(expect),
            "{props}: {err}"
        );
    };
    refused(
        r#"{"log-level": "9"}"#,
        "`9` is not allowed; allowed: 0, 1, 2",
    );
    refused(r#"{"prune": "off"}"#, "cannot change while the node runs");
    refused(r#"{"prunne": "off"}"#, "did you mean `prune`");
    assert!(monerod_cmdline(&d, &name).contains("--prune-blockchain"));

    // the height grows by exactly the mined blocks
    let before = wait_height(&d, &name, 1, Duration::from_secs(60));
    let reported = mine(&d, &name, 5, Duration::from_secs(60));
    assert_eq!(reported, before + 5);
    let after = wait_height(&d, &name, before + 5, Duration::from_secs(30));
    assert_eq!(after, before + 5);
    let status = d.ok(&["node", "run", "protocol_status", &name]);
    let status: serde_json::Value = serde_json::from_str(status.trim()).expect("status json");
    assert_eq!(status["state"], "broadcasting", "{status}");
    assert_eq!(status["health"], "healthy", "{status}");
    assert_eq!(
        d.ok(&["node", "run", "address", &name]).trim(),
        format!("{ip}:18080")
    );
    let age: u64 = d
        .ok(&["node", "run", "block_age", &name])
        .trim()
        .parse()
        .unwrap();
    assert!(age < 600, "block age {age}");

    // bad input: a mine count out of range is a clear error
    let out = d.bv(&["node", "run", "mine", &name, "--param", "0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not in 1..=1000"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the chain survives a restart (data dir kept)
    d.ok(&["node", "restart", &name]);
    wait_height(&d, &name, after, Duration::from_secs(60));
}
