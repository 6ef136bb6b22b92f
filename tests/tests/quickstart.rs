//! The README quick start (`scripts/quickstart`) end to end, in a temp root: blockvisord
//! started by `bv start` with no config file, the example image built, a node created from
//! its babel.yaml, started, and shown Running by `bv node list`.

mod bv_support;

use std::path::PathBuf;
use std::process::Command;

use bv_support::{OutputExt, bin};

struct Cleanup {
    socket: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let bv = |args: &[&str]| {
            let _ = Command::new(bin("bv"))
                .arg("--socket")
                .arg(&self.socket)
                .args(args)
                .output();
        };
        bv(&["node", "delete", "--all", "--yes"]);
        bv(&["stop"]);
    }
}

#[test]
fn quickstart_runs_a_node() {
    let dir = tempfile::Builder::new()
        .prefix("bvq")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let socket = dir.path().join("bv.sock");
    let _cleanup = Cleanup {
        socket: socket.clone(),
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(repo.join("scripts/quickstart"))
        .env("BV_QUICKSTART_SKIP_SETUP", "1")
        .env("BV_ROOT", dir.path().join("root"))
        .env("BV_SOCKET", &socket)
        .env("BV_LOG", dir.path().join("blockvisord.log"))
        .output()
        .expect("run scripts/quickstart");
    let stdout = out.stdout_str();
    let log = std::fs::read_to_string(dir.path().join("blockvisord.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "quickstart failed\nstdout:\n{stdout}\nstderr:\n{}\nlog:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("blockvisor service started successfully"),
        "{stdout}"
    );
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("IP Address"))
        .collect();
    assert!(
        table
            .iter()
            .any(|l| l.contains("example/counter-devnet-node") && l.contains("Running")),
        "{stdout}\n{log}"
    );
    // The node really runs: its counter service advances the height.
    let node = table
        .get(1)
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("node row");
    let height = Command::new(bin("bv"))
        .arg("--socket")
        .arg(&socket)
        .args(["node", "run", "height", node])
        .output()
        .expect("bv node run");
    assert!(
        height.status.success(),
        "{}",
        String::from_utf8_lossy(&height.stderr)
    );
}
