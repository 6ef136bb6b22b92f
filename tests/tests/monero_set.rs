//! Node sets on a real chain: monerod regtest nodes created as a set on a bridge of their own
//! peer with each other (blocks mined on one reach the others), scale up and down keeps the
//! peer lists right, and a rolling upgrade to a new image version keeps every node's chain.

mod bv_support;
mod monero_support;

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use bv_support::{Daemon, bin, remove_image, unique};
use monero_support::{BridgeCleanup, build_image, image_dir, mine, monerod_cmdline, wait_height};

const T: Duration = Duration::from_secs(120);

struct ImageCleanup(String);
impl Drop for ImageCleanup {
    fn drop(&mut self) {
        remove_image(&self.0);
    }
}

fn members(d: &Daemon, set: &str) -> Vec<serde_json::Value> {
    let list = d.json(&["set", "list"]);
    let sets = list.as_array().expect("set list is an array");
    let Some(s) = sets.iter().find(|s| s["set"] == set) else {
        return vec![];
    };
    s["members"].as_array().cloned().unwrap_or_default()
}

fn ip_of(d: &Daemon, name: &str) -> String {
    d.node(name)["ip"].as_str().expect("node ip").to_string()
}

/// Every member's monerod names exactly the other members as exclusive peers.
fn assert_peered(d: &Daemon, names: &[&str]) {
    let ips: Vec<String> = names.iter().map(|n| ip_of(d, n)).collect();
    for (i, name) in names.iter().enumerate() {
        let cmdline = monerod_cmdline(d, name);
        for (j, ip) in ips.iter().enumerate() {
            let flag = format!("--add-exclusive-node {ip}:18080");
            assert_eq!(
                cmdline.contains(&flag),
                i != j,
                "{name}: `{flag}` in {cmdline}"
            );
        }
        assert!(!cmdline.contains("--offline"), "{name}: {cmdline}");
        assert_eq!(
            cmdline.matches("--add-exclusive-node").count(),
            names.len() - 1,
            "{name}: {cmdline}"
        );
    }
}

#[test]
fn monero_set_peers_scales_and_rolls_upgrades() {
    let _bridge = BridgeCleanup;
    build_image(&monero_support::yaml_version());
    let v2 = format!("0.2.0-{}", unique("e2e"));
    let tag2 = build_image(&v2);
    let _image2 = ImageCleanup(tag2.clone());
    let d = monero_support::daemon(20, 60);
    let set = unique("xmr");
    let yaml = image_dir().join("babel.yaml");

    // a set of 2: each member peers with the other, blocks mined on one reach the other
    let created = d.json(&[
        "set",
        "create",
        &set,
        "--count",
        "2",
        "--babel-yaml",
        yaml.to_str().unwrap(),
    ]);
    assert_eq!(
        created["members"].as_array().map(Vec::len),
        Some(2),
        "{created}"
    );
    let (n1, n2, n3) = (format!("{set}-1"), format!("{set}-2"), format!("{set}-3"));
    assert_ne!(ip_of(&d, &n1), ip_of(&d, &n2));
    assert_peered(&d, &[&n1, &n2]);
    let h = mine(&d, &n1, 5, T);
    assert!(h >= 6, "height after mining 5: {h}");
    wait_height(&d, &n2, h, T);

    // scale up: the new member syncs the chain; the old ones now name it as a peer
    let scaled = d.json(&["set", "scale", &set, "--count", "3"]);
    assert_eq!(
        scaled["members"].as_array().map(Vec::len),
        Some(3),
        "{scaled}"
    );
    wait_height(&d, &n3, h, T);
    assert_peered(&d, &[&n1, &n2, &n3]);
    let h = mine(&d, &n3, 3, T);
    wait_height(&d, &n1, h, T);
    wait_height(&d, &n2, h, T);

    // scale down: the highest member goes, the others drop it from their peers
    d.json(&["set", "scale", &set, "--count", "2"]);
    assert!(d.node(&n3).is_null(), "{n3} still exists");
    assert_eq!(members(&d, &set).len(), 2);
    assert_peered(&d, &[&n1, &n2]);
    let h = mine(&d, &n2, 2, T);
    wait_height(&d, &n1, h, T);

    // rolling upgrade: every member runs the new image and keeps its chain, no member's
    // height goes back, and the set answers throughout (one member down at a time)
    let ids: Vec<String> = [&n1, &n2]
        .iter()
        .map(|n| d.node(n)["id"].as_str().unwrap().to_string())
        .collect();
    let before: Vec<u64> = [&n1, &n2]
        .iter()
        .map(|n| wait_height(&d, n, h, T))
        .collect();
    let p2p: Vec<SocketAddr> = [&n1, &n2]
        .iter()
        .map(|n| {
            format!("{}:18080", ip_of(&d, n))
                .parse()
                .expect("p2p address")
        })
        .collect();
    let err_path = d.dir.path().join("set-upgrade.stderr");
    let mut upgrade = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&d.socket)
        .args(["set", "upgrade", &set, "--image"])
        .arg(format!("docker-daemon://{tag2}"))
        .args(["--image-version", &v2])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn bv set upgrade");
    let (mut polls, mut most_down) = (0u32, 0usize);
    let status = loop {
        if let Some(status) = upgrade.try_wait().expect("bv set upgrade") {
            break status;
        }
        let down = p2p
            .iter()
            .filter(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_err())
            .count();
        polls += 1;
        most_down = most_down.max(down);
        assert!(
            down <= 1,
            "{down} members down at once during the rolling upgrade"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "bv set upgrade: {err}\n{}", d.log());
    eprintln!("rolling upgrade: {polls} polls, at most {most_down} member(s) down at once");
    for ((name, id), was) in [&n1, &n2].iter().zip(&ids).zip(&before) {
        let now = wait_height(&d, name, *was, T);
        assert!(now >= *was, "{name} lost blocks: {now} < {was}");
        assert_eq!(
            d.node(name)["id"].as_str(),
            Some(id.as_str()),
            "{name} recreated"
        );
        assert_eq!(d.ok(&["node", "run", "image_version", name]).trim(), v2);
        let now = wait_height(&d, name, h, T);
        assert!(now >= h, "{name} lost blocks: {now} < {h}");
    }
    assert_peered(&d, &[&n1, &n2]);
    let h = mine(&d, &n1, 2, T);
    wait_height(&d, &n2, h, T);

    // bad input is refused with a clear error
    let out = d.bv(&["set", "scale", &set, "--count", "0"]);
    assert!(!out.status.success());
    let out = d.bv(&[
        "set",
        "create",
        &set,
        "--count",
        "1",
        "--babel-yaml",
        yaml.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // delete removes every member
    d.ok(&["set", "delete", &set, "--yes"]);
    assert!(members(&d, &set).is_empty());
    assert!(d.node(&n1).is_null() && d.node(&n2).is_null());
}
