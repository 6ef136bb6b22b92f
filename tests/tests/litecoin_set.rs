//! The same platform on a second chain: litecoind regtest (images/litecoin-regtest) passes
//! `nib image check`, and a node set of it peers (blocks mined on one reach the others) and
//! scales, with no litecoin-specific code outside the image.

mod bv_support;
mod monero_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bv_support::unique;
use monero_support::{
    BridgeCleanup, build_image_of, cmdline, image_dir_of, mine, wait_height, yaml_version_of,
};

const IMAGE: &str = "litecoin-regtest";
const LITECOIND: &str = "/usr/lib/litecoin/litecoind";
const T: Duration = Duration::from_secs(120);

fn nib_check(dir: &Path, socket: &Path) -> String {
    let out = Command::new(e2e::bin_dir().join("nib"))
        .args([
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
        ])
        .current_dir(dir)
        .env("BV_SOCKET", socket)
        .env("NIB_CONFIG", dir.join("no-credentials.json"))
        .output()
        .expect("run nib");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    log
}

#[test]
fn litecoin_image_check_and_set() {
    let _bridge = BridgeCleanup;
    build_image_of(IMAGE, &yaml_version_of(IMAGE));
    let d = monero_support::daemon(70, 90);

    let work = tempfile::tempdir().unwrap();
    for f in ["babel.yaml", "main.rhai"] {
        std::fs::copy(image_dir_of(IMAGE).join(f), work.path().join(f)).unwrap();
    }
    let log = nib_check(work.path(), &d.socket);
    assert!(log.contains("All checks passed!"), "{log}");

    let set = unique("ltc");
    let yaml = work.path().join("babel.yaml");
    d.json(&[
        "set",
        "create",
        &set,
        "--count",
        "2",
        "--babel-yaml",
        yaml.to_str().unwrap(),
        "--props",
        r#"{"txindex": "on"}"#,
    ]);
    let (n1, n2, n3) = (format!("{set}-1"), format!("{set}-2"), format!("{set}-3"));
    let ip = |n: &str| d.node(n)["ip"].as_str().unwrap().to_string();
    let c1 = cmdline(&d, &n1, LITECOIND);
    assert!(c1.contains(&format!("-connect={}:19444", ip(&n2))), "{c1}");
    assert!(c1.contains("-txindex=1"), "{c1}");

    let h = mine(&d, &n1, 4, T);
    assert!(h >= 4, "{h}");
    wait_height(&d, &n2, h, T);

    d.json(&["set", "scale", &set, "--count", "3"]);
    wait_height(&d, &n3, h, T);
    let c1 = cmdline(&d, &n1, LITECOIND);
    assert!(c1.contains(&format!("-connect={}:19444", ip(&n3))), "{c1}");
    let h = mine(&d, &n3, 2, T);
    wait_height(&d, &n1, h, T);
    wait_height(&d, &n2, h, T);

    d.ok(&["set", "delete", &set, "--yes"]);
    assert!(d.node(&n1).is_null());
}
