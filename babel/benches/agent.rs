//! Agent benchmarks (perf-anchors T2, T6): job start latency, trivial job to exit status,
//! agent RSS idle and with 10 jobs streaming output. Prints figures; asserts nothing.
//!
//! `cargo bench -p babel --bench agent`
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use babel_api::job::{JobConfig, JobStatus, JobType, RestartPolicy};
use babel_api::node_env::{BabelConfig, NodeEnv};
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_client::BabelClient;
use futures::StreamExt;
use tonic::transport::Channel;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<40} n={:<4} p50={:.3} ms  p95={:.3} ms  min={:.3} ms  max={:.3} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.95),
        pct(&v, 0.0),
        pct(&v, 1.0)
    );
}

async fn info(c: &mut BabelClient<Channel>, name: &str) -> JobStatus {
    let i = c
        .job_info(pb::JobRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner();
    i.info.unwrap().status.unwrap().try_into().unwrap()
}

async fn create(c: &mut BabelClient<Channel>, name: &str, body: &str) {
    let cfg = JobConfig::new(JobType::RunSh(body.into()), RestartPolicy::Never);
    c.create_job(pb::CreateJobRequest {
        name: name.into(),
        config: Some(cfg.into()),
    })
    .await
    .unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = tempfile::Builder::new()
        .prefix("bvb")
        .tempdir_in("/tmp")
        .unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("data")).unwrap();
    let mut babel = Command::new(env!("CARGO_BIN_EXE_babel"))
        .arg("--socket")
        .arg(r.join("b.sock"))
        .arg("--jobs-dir")
        .arg(r.join("jobs"))
        .arg("--config")
        .arg(r.join("babel.conf"))
        .arg("--monitor-socket")
        .arg(r.join("m.sock"))
        .arg("--job-runner")
        .arg(env!("CARGO_BIN_EXE_babel-job-runner"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = babel.id();
    let mut c = BabelClient::new(bv_base::uds::connect_lazy(&r.join("b.sock"), None));
    while c.get_version(pb::GetVersionRequest {}).await.is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let env = NodeEnv {
        data_mount_point: r.join("data").display().to_string(),
        ..Default::default()
    };
    let cfg = BabelConfig {
        node_env: env,
        ramdisks: vec![],
    };
    c.setup_babel(pb::SetupBabelRequest {
        config: Some(cfg.into()),
    })
    .await
    .unwrap();
    for _ in 0..50 {
        c.get_version(pb::GetVersionRequest {}).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "babel idle RSS                           {} KiB (target <= 8192)",
        rss_kib(pid)
    );

    // T2: start_job until the reply (the runner is spawned before babel answers).
    create(&mut c, "quick", "true").await;
    let (mut start, mut to_exit) = (vec![], vec![]);
    for _ in 0..200 {
        let t = Instant::now();
        c.start_job(pb::JobRequest {
            name: "quick".into(),
        })
        .await
        .unwrap();
        start.push(t.elapsed());
        while !matches!(info(&mut c, "quick").await, JobStatus::Finished { .. }) {}
        to_exit.push(t.elapsed());
    }
    report("job start via gRPC (T2, p50 <= 3 ms)", start);
    report("trivial job to exit status (p50 <= 5 ms)", to_exit);
    let mut rpc = vec![];
    for _ in 0..500 {
        let t = Instant::now();
        c.get_version(pb::GetVersionRequest {}).await.unwrap();
        rpc.push(t.elapsed());
    }
    report("get_version round trip", rpc);

    // T6: 10 jobs streaming output, all followed through JobLogs.
    for i in 0..10 {
        create(
            &mut c,
            &format!("stream{i}"),
            &format!("while :; do echo job {i} says hello world; sleep 0.001; done"),
        )
        .await;
        c.start_job(pb::JobRequest {
            name: format!("stream{i}"),
        })
        .await
        .unwrap();
    }
    let mut logs = c
        .job_logs(pb::JobLogsRequest {
            name: String::new(),
            lines: 10,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    let reader = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(Ok(_)) = logs.next().await {
            n += 1;
        }
        n
    });
    let mut peak = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kib(pid));
    }
    let lines: u64 = (0..10)
        .map(|i| {
            std::fs::read_to_string(r.join(format!("jobs/stream{i}/logs")))
                .map(|s| s.lines().count() as u64)
                .unwrap_or(0)
        })
        .sum();
    println!(
        "babel RSS, 10 jobs streaming + followed  {peak} KiB peak (target <= 16384); {lines} lines logged in 5 s"
    );
    c.stop_all_jobs(pb::StopAllJobsRequest {}).await.unwrap();
    reader.abort();
    for b in ["babel", "babel-job-runner"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/babel-static")
            .join(b);
        if let Ok(m) = std::fs::metadata(&p) {
            println!(
                "static {b:<17} binary size            {} KiB (target <= 10240)",
                m.len() / 1024
            );
        }
    }
    let _ = babel.kill();
    let _ = babel.wait();
}
