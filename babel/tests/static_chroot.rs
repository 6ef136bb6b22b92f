//! The static agent works in a FROM-scratch image: a root containing only the static
//! `babel`, `babel-job-runner` (from `scripts/build-babel-static`) and busybox. babel runs
//! chrooted in its own mount and PID namespaces, serves its socket, and runs a job.
//! Needs root, `unshare`, `chroot` and a static busybox; fails (never skips) without them.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use babel_api::job::{JobConfig, JobStatus, JobType, RestartPolicy};
use babel_api::node_env::{BabelConfig, NodeEnv};
use babel_api::pb::babel::v1 as pb;
use babel_api::pb::babel::v1::babel_client::BabelClient;

struct Jail(Child);

impl Drop for Jail {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn static_dir() -> PathBuf {
    std::env::var_os("BV_BABEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/babel-static"))
}

fn install(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// A root with nothing but the static agent, busybox and a passwd file.
fn scratch_root(root: &Path) {
    let agent = static_dir();
    for b in ["babel", "babel-job-runner"] {
        let src = agent.join(b);
        assert!(
            src.is_file(),
            "{} missing: run scripts/build-babel-static first",
            src.display()
        );
        install(&src, &root.join("usr/bin").join(b));
    }
    let busybox = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .unwrap();
    let busybox = String::from_utf8_lossy(&busybox.stdout).trim().to_string();
    assert!(!busybox.is_empty(), "busybox (static) is required");
    install(Path::new(&busybox), &root.join("bin/busybox"));
    for applet in ["sh", "echo", "cat"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    for d in ["dev", "run", "data", "var/lib/babel"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

#[tokio::test]
async fn static_agent_serves_and_runs_a_job_in_a_scratch_root() {
    let tmp = tempfile::Builder::new()
        .prefix("bvscratch")
        .tempdir_in("/tmp")
        .unwrap();
    let root = tmp.path().join("rootfs");
    scratch_root(&root);
    // Nothing dynamic may be needed: no libc, no loader in this root.
    assert!(!root.join("lib").exists() && !root.join("lib64").exists());

    let child = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--kill-child", "sh", "-c"])
        // /dev is what every container runtime provides (runc does for FROM-scratch images).
        .arg(r#"mount --rbind /dev "$0/dev" && exec chroot "$0" "$@""#)
        .arg(&root)
        .args([
            "/usr/bin/babel",
            "--socket",
            "/run/babel.socket",
            "--jobs-dir",
            "/var/lib/babel/jobs",
            "--config",
            "/etc/babel.conf",
            "--monitor-socket",
            "/run/jobs_monitor.socket",
            "--engine-socket",
            "/run/engine.socket",
            "--job-runner",
            "/usr/bin/babel-job-runner",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("babel.log")).unwrap())
        .spawn()
        .expect("unshare (util-linux) is required");
    let _jail = Jail(child);

    let socket = root.join("run/babel.socket");
    let mut client = BabelClient::new(bv_base::uds::connect_lazy(&socket, None));
    let deadline = Instant::now() + Duration::from_secs(20);
    let version = loop {
        if let Ok(v) = client.get_version(pb::GetVersionRequest {}).await {
            break v.into_inner().version;
        }
        assert!(
            Instant::now() < deadline,
            "babel did not answer in the scratch root: {}",
            std::fs::read_to_string(tmp.path().join("babel.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(version, babel_api::VERSION);

    let config = BabelConfig {
        node_env: NodeEnv {
            node_name: "scratch".into(),
            data_mount_point: "/data".into(),
            protocol_data_path: "/data/protocol_data".into(),
            ..Default::default()
        },
        ramdisks: vec![],
    };
    client
        .setup_babel(pb::SetupBabelRequest {
            config: Some(config.into()),
        })
        .await
        .unwrap();
    let job = JobConfig::new(
        JobType::RunSh("echo hello from $NODE_NAME > /data/out; cat /data/out".into()),
        RestartPolicy::Never,
    );
    client
        .create_job(pb::CreateJobRequest {
            name: "hello".into(),
            config: Some(job.into()),
        })
        .await
        .unwrap();
    client
        .start_job(pb::JobRequest {
            name: "hello".into(),
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let info = client
            .job_info(pb::JobRequest {
                name: "hello".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let status: JobStatus = info.info.unwrap().status.unwrap().try_into().unwrap();
        if matches!(status, JobStatus::Finished { .. }) {
            break status;
        }
        assert!(Instant::now() < deadline, "job still {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status,
        JobStatus::finished(Some(0), ""),
        "{}",
        std::fs::read_to_string(tmp.path().join("babel.log")).unwrap_or_default()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("data/out")).unwrap(),
        "hello from scratch\n"
    );
    let logs = std::fs::read_to_string(root.join("var/lib/babel/jobs/hello/logs")).unwrap();
    assert_eq!(logs, "hello from scratch\n");

    // Plain http needs no CA bundle: the root has none, yet loopback services answer.
    assert!(!root.join("etc/ssl").exists());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/height", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !String::from_utf8_lossy(&req).contains("\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            req.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n42")
            .unwrap();
    });
    let resp = client
        .run_rest(pb::RunRestRequest {
            url,
            headers: vec![],
            timeout_ms: 5_000,
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n{}",
                std::fs::read_to_string(tmp.path().join("babel.log")).unwrap_or_default()
            )
        })
        .into_inner();
    server.join().unwrap();
    assert_eq!((resp.status_code, resp.body.as_str()), (200, "42"));
}
