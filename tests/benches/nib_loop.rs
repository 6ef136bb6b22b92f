//! The image engineer's first minutes: from an empty directory to a dev node answering a
//! plugin method (`nib image create` → `nib image build` → `nib image play` → `bv node
//! start` → `bv node run height` answers), on a real blockvisord and dockerd. Prints each
//! phase and the total, p50 / max over the rounds.
//!
//! Binaries come from `$E2E_BIN_DIR` (else `target/release`):
//! `cargo build -p nib -p blockvisord -p bv && E2E_BIN_DIR=$PWD/target/debug cargo bench -p e2e --bench nib_loop`.
//! Root, runc and dockerd needed. `NIB_BENCH_ROUNDS` (default 5).

#[path = "../tests/bv_support/mod.rs"]
mod bv_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bv_support::{Daemon, remove_image, unique};

const PHASES: [&str; 5] = ["create", "build", "play", "start -> answer", "total"];

fn nib(args: &[&str], cwd: &Path, socket: &Path) -> Result<String, String> {
    let out = Command::new(e2e::bin_dir().join("nib"))
        .args(args)
        .current_dir(cwd)
        .env("BV_SOCKET", socket)
        .output()
        .map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("nib {args:?}: {text}"))
    }
}

fn round(daemon: &Daemon, work: &Path) -> Result<[Duration; 5], String> {
    let protocol = unique("nibbench");
    let t0 = Instant::now();
    nib(
        &["image", "create", &protocol, "cl-net-full"],
        work,
        &daemon.socket,
    )?;
    let t_create = t0.elapsed();
    let img = work.join(format!("{protocol}_cl-net-full"));
    nib(&["image", "build"], &img, &daemon.socket)?;
    let t_build = t0.elapsed();
    let log = nib(&["image", "play"], &img, &daemon.socket)?;
    let t_play = t0.elapsed();
    let name = log
        .split("and name `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .ok_or("no node name printed")?
        .to_string();
    let started = daemon.bv(&["node", "start", &name]);
    if !started.status.success() {
        return Err(String::from_utf8_lossy(&started.stderr).into_owned());
    }
    loop {
        if daemon
            .bv(&["node", "run", "height", &name])
            .status
            .success()
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            return Err(format!("node {name} did not answer within 120 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = t0.elapsed();
    let _ = daemon.bv(&["node", "delete", &name, "--yes"]);
    remove_image(&format!("{protocol}-cl-net-full:0.0.1"));
    Ok([
        t_create,
        t_build - t_create,
        t_play - t_build,
        total - t_play,
        total,
    ])
}

fn main() -> std::process::ExitCode {
    if !e2e::bin_dir().join("nib").is_file() {
        eprintln!(
            "no nib in {}; build the binaries and set E2E_BIN_DIR (see the header of this file)",
            e2e::bin_dir().display()
        );
        return std::process::ExitCode::from(2);
    }
    let rounds: usize = std::env::var("NIB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let work = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start();
    let mut samples: Vec<[Duration; 5]> = Vec::new();
    for i in 0..rounds {
        match round(&daemon, work.path()) {
            Ok(s) => samples.push(s),
            Err(e) => {
                eprintln!(
                    "round {i} failed: {e}\n--- daemon log ---\n{}",
                    daemon.log()
                );
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!(
        "nib loop, empty dir -> dev node answering ({rounds} rounds, binaries from {})",
        e2e::bin_dir().display()
    );
    for (i, phase) in PHASES.iter().enumerate() {
        let mut v: Vec<Duration> = samples.iter().map(|s| s[i]).collect();
        v.sort();
        let p50 = v[(v.len() - 1) / 2];
        let max = v[v.len() - 1];
        println!(
            "{phase:<18} p50 {:>8.1} ms   max {:>8.1} ms",
            p50.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    std::process::ExitCode::SUCCESS
}
