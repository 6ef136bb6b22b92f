//! Job system end to end: real babel, real runners, temp root.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use babel_api::job::{JobConfig, JobStatus, JobType, RestartConfig, RestartPolicy};
use babel_api::pb::babel::v1 as pb;
use common::{TestAgent, sh_job};
use futures::StreamExt;

fn read_nanos(path: &std::path::Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// Waits until `path` has at least `n` lines.
async fn wait_lines(path: &std::path::Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
        < n
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never got {n} lines",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn on_failure_backoff_doubles_then_gives_up() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let stamps = a.data().join("stamps");
    let mut cfg = sh_job(&format!(
        "date +%s%N >> {}; echo failing; exit 3",
        stamps.display()
    ));
    cfg.restart = RestartPolicy::OnFailure(RestartConfig {
        backoff_timeout_ms: 5_000,
        backoff_base_ms: 200,
        max_retries: Some(3),
    });
    a.create("flaky", cfg).await.unwrap();
    a.start_job("flaky").await;
    let status = a.wait_finished("flaky", 20).await;
    let JobStatus::Finished { exit_code, message } = &status else {
        unreachable!()
    };
    assert_eq!(*exit_code, Some(3));
    assert!(message == "job 'flaky' exited with code 3", "{message}");
    let runs = read_nanos(&stamps);
    assert_eq!(runs.len(), 4, "one run plus max_retries restarts");
    let gaps: Vec<u128> = runs.windows(2).map(|w| (w[1] - w[0]) / 1_000_000).collect();
    for (gap, expected) in gaps.iter().zip([200u128, 400, 800]) {
        assert!(*gap >= expected && *gap < expected + 700, "gaps {gaps:?}");
    }
    let info = a.info("flaky").await;
    assert_eq!(info.restart_count, 3);
    assert_eq!(info.logs.len(), 4, "{:?}", info.logs);
    assert!(info.logs[0].contains("job 'flaky' exited with code 3"));
}

#[tokio::test]
async fn always_restarts_clean_exits_and_on_failure_does_not() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let runs = a.data().join("runs");
    let mut cfg = sh_job(&format!("echo x >> {}", runs.display()));
    cfg.restart = RestartPolicy::Always(RestartConfig {
        backoff_timeout_ms: 1000,
        backoff_base_ms: 10,
        max_retries: Some(3),
    });
    a.create("job_name", cfg.clone()).await.unwrap();
    a.start_job("job_name").await;
    let status = a.wait_finished("job_name", 20).await;
    assert_eq!(
        status,
        JobStatus::finished(Some(0), "job 'job_name' exited with code 0")
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 4);

    cfg.restart = RestartPolicy::OnFailure(RestartConfig {
        backoff_timeout_ms: 1000,
        backoff_base_ms: 10,
        max_retries: None,
    });
    a.create("once", cfg).await.unwrap();
    a.start_job("once").await;
    assert_eq!(
        a.wait_finished("once", 20).await,
        JobStatus::finished(Some(0), "")
    );
    assert!(!a.info("once").await.upgrade_blocking);
}

#[tokio::test]
async fn needs_and_wait_for_order_jobs() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let order = a.data().join("order");
    let o = order.display();
    let mut first = sh_job(&format!("sleep 0.3; echo first >> {o}"));
    first.restart = RestartPolicy::Never;
    let mut needs_first = sh_job(&format!("echo second >> {o}"));
    needs_first.needs = Some(vec!["first".into()]);
    let failing = sh_job("exit 2");
    let mut waits_failing = sh_job(&format!("echo waited >> {o}"));
    waits_failing.wait_for = Some(vec!["failing".into()]);
    let mut needs_failing = sh_job(&format!("echo never >> {o}"));
    needs_failing.needs = Some(vec!["failing".into()]);
    let mut needs_unknown = sh_job("true");
    needs_unknown.needs = Some(vec!["ghost".into()]);
    for (name, cfg) in [
        ("second", needs_first),
        ("first", first),
        ("waits", waits_failing),
        ("needs_failing", needs_failing),
        ("failing", failing),
        ("needs_unknown", needs_unknown),
    ] {
        a.create(name, cfg).await.unwrap();
    }
    a.start_job("first").await;
    a.start_job("failing").await;
    for name in ["second", "waits", "needs_failing", "needs_unknown"] {
        a.start_job(name).await;
    }
    // A dependent waits while its dependency runs.
    assert_eq!(a.info("first").await.status, JobStatus::Running);
    assert_eq!(
        a.info("second").await.status,
        JobStatus::Pending {
            waiting_for: vec!["first".into()]
        }
    );
    assert_eq!(
        a.info("needs_unknown").await.status,
        JobStatus::finished(
            None,
            "job 'needs_unknown' needs 'ghost', but it is not defined"
        )
    );
    assert_eq!(
        a.wait_finished("second", 10).await,
        JobStatus::finished(Some(0), "")
    );
    assert_eq!(
        a.wait_finished("waits", 10).await,
        JobStatus::finished(Some(0), "")
    );
    let status = a.wait_finished("needs_failing", 10).await;
    let JobStatus::Finished {
        exit_code: None,
        message,
    } = status
    else {
        panic!("{status:?}")
    };
    assert!(
        message
            == "job 'needs_failing' needs 'failing', but it failed (exit code 2): job 'failing' exited with code 2",
        "{message}"
    );
    let lines = std::fs::read_to_string(&order).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert!(lines.contains(&"waited"));
    let pos = |s| lines.iter().position(|l| *l == s).unwrap();
    assert!(pos("first") < pos("second"), "{lines:?}");
    assert!(!lines.contains(&"never"));

    // Skipping a dependency lets dependents proceed.
    let mut blocked = sh_job("true");
    blocked.needs = Some(vec!["gate".into()]);
    a.create("gate", sh_job("sleep 100")).await.unwrap();
    a.create("blocked", blocked).await.unwrap();
    a.start_job("gate").await;
    a.start_job("blocked").await;
    a.wait_job("gate", 10, |i| i.status == JobStatus::Running)
        .await;
    a.client
        .skip_job(pb::JobRequest {
            name: "gate".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        a.info("gate").await.status,
        JobStatus::finished(Some(0), "Skipped")
    );
    assert_eq!(
        a.wait_finished("blocked", 10).await,
        JobStatus::finished(Some(0), "")
    );
}

/// A service (restart always) with `needs` on an init job: it starts only once the init job
/// succeeded, and never starts, saying why, when the init job failed.
#[tokio::test]
async fn service_needs_an_init_job() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let config = a.data().join("config");
    let c = config.display();
    let always = RestartPolicy::Always(RestartConfig {
        backoff_timeout_ms: 1000,
        backoff_base_ms: 10,
        max_retries: None,
    });
    let init = sh_job(&format!("sleep 0.3; echo ready > {c}"));
    let mut service = sh_job(&format!("cat {c} >> {c}.seen; sleep 100"));
    service.restart = always;
    service.needs = Some(vec!["init_job".into()]);
    let bad_init = sh_job("exit 3");
    let mut bad_service = sh_job("sleep 100");
    bad_service.restart = always;
    bad_service.needs = Some(vec!["bad_init".into()]);
    for (name, cfg) in [
        ("service", service),
        ("init_job", init),
        ("bad_service", bad_service),
        ("bad_init", bad_init),
    ] {
        a.create(name, cfg).await.unwrap();
    }
    // As default init does: the init jobs first, then the services.
    for name in ["init_job", "bad_init", "service", "bad_service"] {
        a.start_job(name).await;
    }
    let early = a.info("service").await.status;
    assert!(matches!(early, JobStatus::Pending { .. }), "{early:?}");
    a.wait_job("service", 10, |i| i.status == JobStatus::Running)
        .await;
    wait_lines(&a.data().join("config.seen"), 1).await;
    assert_eq!(
        std::fs::read_to_string(a.data().join("config.seen")).unwrap(),
        "ready\n"
    );
    let status = a.wait_finished("bad_service", 10).await;
    let JobStatus::Finished {
        exit_code: None,
        message,
    } = status
    else {
        panic!("{status:?}")
    };
    assert!(
        message.starts_with("job 'bad_service' needs 'bad_init', but it failed (exit code 3)"),
        "{message}"
    );
}

#[tokio::test]
async fn one_time_job_runs_once_even_with_a_new_jobs_dir() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let runs = a.data().join("runs");
    let mut cfg = sh_job(&format!("echo run >> {}", runs.display()));
    cfg.one_time = Some(true);
    cfg.use_protocol_data = Some(true);
    a.create("init", cfg.clone()).await.unwrap();
    a.start_job("init").await;
    assert_eq!(
        a.wait_finished("init", 10).await,
        JobStatus::finished(Some(0), "")
    );
    assert!(a.data().join(".protocol_data.lock").exists());
    assert!(a.data().join(".babel_jobs/init/status.json").exists());
    let stamp = a
        .client
        .protocol_data_stamp(pb::ProtocolDataStampRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(stamp.stamp.is_some());

    // "Upgrade": a new agent with a fresh jobs dir, same data drive.
    a.kill9();
    std::fs::remove_dir_all(a.path("jobs")).unwrap();
    a.spawn().await;
    a.setup().await;
    a.create("init", cfg.clone()).await.unwrap();
    a.start_job("init").await;
    assert_eq!(
        a.wait_finished("init", 10).await,
        JobStatus::finished(Some(0), "")
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n");

    // An interrupted one-time job is not failed forever: it runs again.
    let marker = a.data().join("long_runs");
    let mut long = sh_job(&format!("echo x >> {}; sleep 100", marker.display()));
    long.one_time = Some(true);
    a.create("long", long).await.unwrap();
    a.start_job("long").await;
    wait_lines(&marker, 1).await;
    a.stop_job("long").await.unwrap();
    a.start_job("long").await;
    a.wait_job("long", 10, |i| i.status == JobStatus::Running)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "interrupted one-time job did not run again: {:?} {}",
            a.info("long").await,
            std::fs::read_to_string(a.path("jobs/long/runner.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn jobs_survive_babel_kill_and_are_reattached() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let ticks = a.data().join("ticks");
    let mut cfg = sh_job(&format!(
        "while true; do echo tick >> {}; sleep 0.05; done",
        ticks.display()
    ));
    cfg.restart = RestartPolicy::Always(RestartConfig {
        backoff_timeout_ms: 60_000,
        backoff_base_ms: 1000,
        max_retries: None,
    });
    cfg.shutdown_timeout_secs = Some(5);
    a.create("svc", cfg).await.unwrap();
    a.start_job("svc").await;
    let before = a
        .wait_job("svc", 10, |i| i.status == JobStatus::Running)
        .await;
    // The runner publishes its group record once the job's process runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let runner_pid = loop {
        match std::fs::read_to_string(a.path("jobs/svc/job.pgid")) {
            Ok(text) if !text.is_empty() => break text,
            _ => {
                assert!(std::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    a.kill9();
    let count = || {
        std::fs::read_to_string(&ticks)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let n = count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(count() > n, "job stopped with babel");

    a.spawn().await;
    // No setup call: babel resumes from its persisted config and finds the runner.
    let after = a.info("svc").await;
    assert_eq!(after.status, JobStatus::Running);
    assert_eq!(
        after
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        before
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    assert_eq!(
        std::fs::read_to_string(a.path("jobs/svc/job.pgid")).unwrap(),
        runner_pid,
        "job was restarted"
    );
    let t = a
        .client
        .get_job_shutdown_timeout(pb::JobRequest { name: "svc".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.timeout_ms, 5000);

    // The re-attached runner is still under control.
    a.stop_job("svc").await.unwrap();
    assert_eq!(a.info("svc").await.status, JobStatus::Stopped);
    let n = count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(), n, "job still running after stop");
}

#[tokio::test]
async fn shutdown_babel_leaves_jobs_to_resume() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let runs = a.data().join("runs");
    a.create(
        "svc",
        sh_job(&format!("echo run >> {}; sleep 100", runs.display())),
    )
    .await
    .unwrap();
    a.start_job("svc").await;
    wait_lines(&runs, 1).await;
    let t = a
        .client
        .get_babel_shutdown_timeout(pb::GetBabelShutdownTimeoutRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.timeout_ms, 75_000);
    a.client
        .shutdown_babel(pb::ShutdownBabelRequest { force: false })
        .await
        .unwrap();
    assert!(
        !a.path("jobs/svc/status.json").exists(),
        "shutdown must not record a status"
    );
    a.kill9();
    a.spawn().await;
    a.wait_job("svc", 10, |i| i.status == JobStatus::Running)
        .await;
    wait_lines(&runs, 2).await;
}

#[tokio::test]
async fn job_logs_tail_and_follow() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let go = a.data().join("go");
    let mut cfg = sh_job(&format!(
        "for i in 1 2 3 4 5; do echo line$i; done; while [ ! -e {} ]; do sleep 0.02; done; echo late >&2; sleep 100",
        go.display()
    ));
    cfg.log_timestamp = Some(false);
    a.create("chatty", cfg).await.unwrap();
    a.start_job("chatty").await;
    a.wait_job("chatty", 10, |i| i.status == JobStatus::Running)
        .await;
    let log = a.path("jobs/chatty/logs");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count()
        < 5
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tail: Vec<String> = a
        .client
        .job_logs(pb::JobLogsRequest {
            name: "chatty".into(),
            lines: 2,
            follow: false,
        })
        .await
        .unwrap()
        .into_inner()
        .map(|l| l.unwrap().line)
        .collect()
        .await;
    assert_eq!(tail, vec!["line4", "line5"]);

    let mut follow = a
        .client
        .job_logs(pb::JobLogsRequest {
            name: "chatty".into(),
            lines: 1,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    let first = follow.next().await.unwrap().unwrap();
    assert_eq!(
        (first.job.as_str(), first.line.as_str()),
        ("chatty", "line5")
    );
    std::fs::write(&go, "").unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), follow.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.line, "late");

    let err = a
        .client
        .job_logs(pb::JobLogsRequest {
            name: "nope".into(),
            lines: 0,
            follow: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn bad_configs_are_rejected_and_archive_jobs_accepted() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    let mut bad = sh_job("true");
    bad.shutdown_signal = Some("SIGWHATEVER".into());
    let err = a.create("bad", bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message()
            .contains("job 'bad': invalid `shutdown_signal`"),
        "{}",
        err.message()
    );
    let err = a.create("empty", sh_job("   ")).await.unwrap_err();
    assert!(
        err.message().contains("job_type.run_sh"),
        "{}",
        err.message()
    );
    let mut user = sh_job("true");
    user.run_as = Some("no-such-user-here".into());
    let err = a.create("user", user).await.unwrap_err();
    assert!(
        err.message().contains("user not found"),
        "{}",
        err.message()
    );
    let err = a
        .client
        .create_job(pb::CreateJobRequest {
            name: "noconf".into(),
            config: Some(pb::JobConfig::default()),
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("missing field `job_type`"),
        "{}",
        err.message()
    );
    let err = a
        .client
        .start_job(pb::JobRequest {
            name: "ghost".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "start_job failed: can't start, job 'ghost' not found"
    );
    assert!(!a.path("jobs/bad").exists());

    // Archive jobs are accepted and persisted; with protocol data present a download is
    // done at once.
    let download = JobConfig::new(
        JobType::Download {
            max_connections: None,
            max_runners: None,
        },
        RestartPolicy::Never,
    );
    a.create("download", download.clone()).await.unwrap();
    let saved: JobConfig =
        serde_json::from_slice(&std::fs::read(a.path("jobs/download/config.json")).unwrap())
            .unwrap();
    assert_eq!(saved, download);
    std::fs::write(a.data().join(".protocol_data.lock"), "").unwrap();
    a.start_job("download").await;
    assert_eq!(
        a.wait_finished("download", 10).await,
        JobStatus::finished(Some(0), "job 'download' finished")
    );
    assert_eq!(a.info("download").await.restart_count, 0);

    // A job whose runner can't load its config records that instead of crash-looping.
    let mut looping = sh_job("true");
    looping.restart = RestartPolicy::Always(RestartConfig {
        backoff_timeout_ms: 1,
        backoff_base_ms: 1,
        max_retries: None,
    });
    a.create("broken", looping).await.unwrap();
    std::fs::write(a.path("jobs/broken/config.json"), "{not json").unwrap();
    a.start_job("broken").await;
    let status = a.wait_finished("broken", 10).await;
    let JobStatus::Finished {
        exit_code: None,
        message,
    } = status
    else {
        panic!("{status:?}")
    };
    assert!(
        message.contains("can't load job 'broken' config"),
        "{message}"
    );
}

#[tokio::test]
async fn sixteen_jobs_at_most() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    for i in 0..16 {
        a.create(&format!("j{i}"), sh_job("true")).await.unwrap();
    }
    a.create("j3", sh_job("true")).await.unwrap();
    let err = a.create("j16", sh_job("true")).await.unwrap_err();
    assert!(
        err.message()
            .contains("Exceeded max number of supported jobs: 16")
    );
    let jobs = a
        .client
        .get_jobs(pb::GetJobsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(jobs.jobs.len(), 16);
}

/// A stale group record (another PID namespace, a reused id) must not end an unrelated
/// process group; a record that names the live leader still ends the leftover group.
#[tokio::test]
async fn only_the_recorded_leftover_group_is_ended() {
    let mut a = TestAgent::start().await;
    a.setup().await;
    // A group leader that init adopts, as a runner's orphaned job is; its pid is the group id.
    let spawn_group = || -> u32 {
        let out = std::process::Command::new("sh")
            .args(["-c", "setsid sleep 30 >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    let start_time = |pid: u32| -> String {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace().nth(19).unwrap().to_string()
    };

    let unrelated = spawn_group();
    a.create("stale", sh_job("true")).await.unwrap();
    let wrong = start_time(unrelated).parse::<u64>().unwrap() + 1;
    std::fs::write(
        a.path("jobs/stale/job.pgid"),
        format!("{} {wrong}", unrelated),
    )
    .unwrap();
    a.start_job("stale").await;
    a.wait_finished("stale", 20).await;
    assert!(alive(unrelated), "an unrelated group was ended");
    let _ = std::process::Command::new("kill")
        .arg(unrelated.to_string())
        .status();

    let leftover = spawn_group();
    a.create("leftover", sh_job("true")).await.unwrap();
    std::fs::write(
        a.path("jobs/leftover/job.pgid"),
        format!("{} {}", leftover, start_time(leftover)),
    )
    .unwrap();
    a.start_job("leftover").await;
    a.wait_finished("leftover", 20).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(leftover) {
        assert!(
            std::time::Instant::now() < deadline,
            "leftover group kept running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
