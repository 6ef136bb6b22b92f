//! Shared helpers of the monerod regtest end-to-end tests: building the image from
//! images/monero-regtest, a daemon on a bridge subnet of its own, heights through `bv`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bv_support::{Daemon, OutputExt};

pub fn image_dir() -> PathBuf {
    image_dir_of("monero-regtest")
}

pub fn image_dir_of(image: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("images")
        .join(image)
}

/// Builds the image (`images/monero-regtest/build VERSION`) and returns its tag.
pub fn build_image(version: &str) -> String {
    build_image_of("monero-regtest", version)
}

/// Builds `images/<image>/build VERSION` and returns its tag.
pub fn build_image_of(image: &str, version: &str) -> String {
    let out = Command::new(image_dir_of(image).join("build"))
        .arg(version)
        .output()
        .expect("run images/monero-regtest/build");
    assert!(
        out.status.success(),
        "images/{image}/build {version}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout_str().trim().to_string()
}

/// `version` of images/monero-regtest/babel.yaml.
pub fn yaml_version() -> String {
    yaml_version_of("monero-regtest")
}

pub fn yaml_version_of(image: &str) -> String {
    let yaml = std::fs::read_to_string(image_dir_of(image).join("babel.yaml")).expect("babel.yaml");
    yaml.lines()
        .find_map(|l| l.strip_prefix("version:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("version in babel.yaml")
}

/// The first three octets of a /24 for this test process (the bridge is per process too).
pub fn subnet() -> String {
    let pid = std::process::id();
    format!("10.{}.{}", 100 + pid % 100, (pid / 100) % 256)
}

/// A daemon whose nodes get `first..=last` of this process' /24 on this process' bridge.
pub fn daemon(first: u8, last: u8) -> Daemon {
    let net = subnet();
    Daemon::start_with_network(&format!(
        "gateway = \"{net}.1\"\nprefix = 24\nfirst_ip = \"{net}.{first}\"\nlast_ip = \"{net}.{last}\""
    ))
}

/// Deletes this process' bridge on drop (after the daemon is gone).
pub struct BridgeCleanup;

impl Drop for BridgeCleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &crate::bv_support::bridge_name()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The node's height as its plugin reports it, the error while monerod does not answer yet.
pub fn height(d: &Daemon, node: &str) -> Result<u64, String> {
    let out = d.bv(&["node", "run", "height", node]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = out.stdout_str();
    text.trim()
        .parse()
        .map_err(|e| format!("height `{text}`: {e}"))
}

/// Polls until the node's height is at least `min`; returns it.
pub fn wait_height(d: &Daemon, node: &str, min: u64, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        if let Ok(h) = height(d, node)
            && h >= min
        {
            return h;
        }
        assert!(
            start.elapsed() < timeout,
            "node {node}: height did not reach {min} in {timeout:?} (now {:?})\n--- node log ---\n{}\n--- daemon log ---\n{}",
            height(d, node),
            d.bv(&["node", "logs", node, "-n", "40"]).stdout_str(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Mines `n` blocks on `node`, retrying while the daemon is not ready: RPC not up yet, BUSY
/// (monerod until it is synchronized with its peers) or HTTP 500 (litecoind answers its
/// JSON-RPC errors such as -28 "Loading block index" with it while it starts). Returns the
/// height the daemon reports after mining.
pub fn mine(d: &Daemon, node: &str, n: u32, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let out = d.bv(&["node", "run", "mine", node, "--param", &n.to_string()]);
        if out.status.success() {
            let v: serde_json::Value =
                serde_json::from_str(out.stdout_str().trim()).expect("mine returns JSON");
            return v["height"].as_u64().expect("height in mine result");
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            (err.contains("BUSY")
                || err.contains("error sending request")
                || err.contains("status_code: 500"))
                && start.elapsed() < timeout,
            "mine on {node} failed: {err}\n--- daemon log ---\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// monerod's command line inside the node.
pub fn monerod_cmdline(d: &Daemon, node: &str) -> String {
    cmdline(d, node, "/usr/bin/monerod")
}

/// The command line of the process inside the node whose argv[0] is `program`.
pub fn cmdline(d: &Daemon, node: &str, program: &str) -> String {
    let script = format!(
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep '^{program} '"
    );
    let out = d.ok(&["node", "shell", node, "--", "sh", "-c", &script]);
    out.trim().to_string()
}
