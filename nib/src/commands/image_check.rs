//! `nib image check`: validate babel.yaml, lint the plugin, and optionally smoke-test a
//! throw-away dev node on the local daemon.
//!
//! Where the linted plugin comes from (first that applies):
//! 1. `--plugin-dir`;
//! 2. the directory of babel.yaml, if it has a `main.rhai` (the scaffold's Dockerfile copies
//!    exactly that directory's `*.rhai` into the image), unless `--from-image`;
//! 3. the dev node's rootfs, when runtime checks create one anyway;
//! 4. the image itself (`plugin_source`): no daemon needed for `oci:` layouts; `docker://`
//!    is copied with skopeo; `docker-daemon://` needs the Docker daemon.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use babel_api::node_env::PLUGIN_DIR_IN_ROOTFS;
use babel_api::pb::blockvisor::v1 as pb;
use eyre::{Result, bail};

#[cfg(test)]
use super::check_failures::evaluate;
use super::check_failures::{ChecksFailed, explain};
use super::image_play::{DevNodePlan, load_validated, plan_for};
use super::plugin_source;
use crate::cli::{Check, CheckArgs};
use crate::daemon_client::{Daemon, DevNodes};
use crate::lint::{lint_plugin, lint_plugin_strict};

/// Run the checks; returns the JSON result of a passing run (`--format json`).
pub async fn run(args: CheckArgs) -> Result<serde_json::Value> {
    let checks = if args.lint_only {
        vec![Check::Plugin]
    } else if args.checks.is_empty() {
        vec![Check::Plugin, Check::JobsStatus]
    } else {
        args.checks.clone()
    };
    crate::output::say!("Read and validate {}", args.node.path.path.display());
    let image = load_validated(&args.node.path.path)?;
    let lint = checks.contains(&Check::Plugin);
    let runtime = checks.iter().any(|c| *c != Check::Plugin);
    // The plugin is linted for the chosen variant, or for every variant.
    let lint_keys: Vec<Option<String>> = match &args.node.variant {
        Some(key) => vec![Some(key.clone())],
        None if image.variants.len() > 1 => {
            image.variants.iter().map(|v| Some(v.key.clone())).collect()
        }
        None => vec![None],
    };
    let plan_of = |key: &Option<String>| {
        let mut node = args.node.clone();
        node.variant.clone_from(key);
        plan_for(&image, &node)
    };
    let mut linted = false;
    let mut lint_results = Vec::new();
    let mut nodes = Vec::new();
    let mut stale = false;
    if lint {
        let local = local_plugin_dir(&args);
        if local.is_some() || !runtime {
            let extracted = match &local {
                Some(_) => None,
                None => Some(plugin_source::extract(&image.container_uri)?),
            };
            let dir = local
                .as_deref()
                .or(extracted.as_ref().map(|e| e.dir()))
                .unwrap_or(Path::new("."));
            lint_results = lint_variants(dir, &lint_keys, &plan_of, args.deny_warnings)?;
            linted = true;
        }
    }
    if runtime {
        let runtime_keys: Vec<Option<String>> = if args.all_variants {
            image.variants.iter().map(|v| Some(v.key.clone())).collect()
        } else {
            vec![args.node.variant.clone()]
        };
        let mut daemon = Daemon::connect(&args.node.daemon.socket).await?;
        stale = super::plugin_freshness::warn_if_stale(&args.node.path.path, &image.container_uri)?;
        for key in &runtime_keys {
            let plan = plan_of(key)?;
            crate::output::say!(
                "babel.yaml is valid ({} {} variant '{}')",
                plan.variant.protocol_key,
                plan.variant.version,
                plan.variant.key
            );
            let opts = RuntimeOptions {
                checks: checks.clone(),
                start_timeout: Duration::from_secs(args.start_timeout),
                jobs_wait: Duration::from_secs(args.jobs_wait),
                cleanup: args.cleanup,
                force_cleanup: args.force_cleanup,
                lint_rootfs: lint && !linted,
                deny_warnings: args.deny_warnings,
                poll: Duration::from_secs(1),
            };
            run_on_node(&mut daemon, plan, &opts).await?;
            nodes.push(key.clone());
        }
    }
    crate::output::say!("All checks passed!");
    Ok(serde_json::json!({
        "ok": true,
        "checks": checks.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>(),
        "lint": lint_results,
        "runtime_variants": nodes,
        "stale_image": stale,
    }))
}

/// Lints `dir` once per variant key and prints a summary line per variant; fails when any
/// variant failed.
fn lint_variants(
    dir: &Path,
    keys: &[Option<String>],
    plan_of: &dyn Fn(&Option<String>) -> Result<DevNodePlan>,
    deny_warnings: bool,
) -> Result<Vec<serde_json::Value>> {
    let mut summary = Vec::new();
    for key in keys {
        let plan = plan_of(key)?;
        crate::output::say!(
            "babel.yaml is valid ({} {} variant '{}')",
            plan.variant.protocol_key,
            plan.variant.version,
            plan.variant.key
        );
        let outcome = lint_plugin(dir, &plan.variant, &plan.properties)?;
        summary.push((plan.variant.key.clone(), outcome));
    }
    let mut failed = 0;
    let mut results = Vec::new();
    for (key, outcome) in &summary {
        let verdict = if outcome.failed(deny_warnings) {
            failed += 1;
            "FAILED"
        } else {
            "ok"
        };
        crate::output::say!("variant '{key}': plugin {verdict} ({outcome})");
        results.push(serde_json::json!({
            "variant": key,
            "errors": outcome.errors,
            "warnings": outcome.warnings,
            "ok": verdict == "ok",
        }));
    }
    if failed > 0 {
        bail!(
            "plugin lint failed for {failed} of {} variant(s)",
            summary.len()
        );
    }
    Ok(results)
}

fn local_plugin_dir(args: &CheckArgs) -> Option<PathBuf> {
    if let Some(dir) = &args.plugin_dir {
        return Some(dir.clone());
    }
    if args.from_image {
        return None;
    }
    let parent = args
        .node
        .path
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    parent.join("main.rhai").is_file().then_some(parent)
}

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub checks: Vec<Check>,
    pub start_timeout: Duration,
    pub jobs_wait: Duration,
    pub cleanup: bool,
    pub force_cleanup: bool,
    /// Lint `<rootfs>/var/lib/babel/plugin` of the created node.
    pub lint_rootfs: bool,
    /// Lint warnings fail the check too.
    pub deny_warnings: bool,
    pub poll: Duration,
}

/// Create, start and inspect a dev node, then clean up per the flags. Never panics: every
/// failure (including the start timeout) is an error, and cleanup still runs.
pub async fn run_on_node(
    daemon: &mut impl DevNodes,
    plan: DevNodePlan,
    opts: &RuntimeOptions,
) -> Result<()> {
    let variant = plan.variant.clone();
    let properties = plan.properties.clone();
    let node = daemon.create_node(plan.spec).await?;
    let spec = node.spec.clone().unwrap_or_default();
    let id = spec.id.clone();
    crate::output::say!("Created '{}' dev_node with ID `{id}`", spec.name);
    let result = async {
        if opts.lint_rootfs {
            let dir = Path::new(&node.rootfs).join(PLUGIN_DIR_IN_ROOTFS);
            lint_plugin_strict(&dir, &variant, &properties, opts.deny_warnings)?;
        }
        run_checks(daemon, &id, opts).await
    }
    .await;
    let delete = opts.force_cleanup || (opts.cleanup && result.is_ok());
    if delete {
        match daemon.delete_node(&id).await {
            Ok(()) => crate::output::say!("Node deleted"),
            Err(e) => {
                eprintln!("Failed to delete node `{id}`: {e:#}");
                if result.is_ok() {
                    return Err(e);
                }
            }
        }
    } else if result.is_err() {
        eprintln!(
            "Node `{id}` kept for inspection (bv node info {id}); delete it with bv node delete"
        );
    }
    result
}

async fn run_checks(daemon: &mut impl DevNodes, id: &str, opts: &RuntimeOptions) -> Result<()> {
    daemon.start_node(id).await?;
    crate::output::say!("Node started");
    wait_running(daemon, id, opts).await?;
    crate::output::say!("Node is running");
    tokio::time::sleep(opts.jobs_wait).await;
    let metrics = daemon.node_metrics(id).await?;
    let failures = explain(&opts.checks, &metrics);
    if failures.is_empty() {
        return Ok(());
    }
    for f in &failures {
        eprintln!("check failed: {f}");
    }
    Err(ChecksFailed(failures).into())
}

async fn wait_running(daemon: &mut impl DevNodes, id: &str, opts: &RuntimeOptions) -> Result<()> {
    let deadline = Instant::now() + opts.start_timeout;
    loop {
        let node = daemon.get_node(id).await?;
        match pb::NodeStatus::try_from(node.status) {
            Ok(pb::NodeStatus::Running) => return Ok(()),
            Ok(pb::NodeStatus::Failed) => {
                bail!("node `{id}` failed to start: {}", node.status_reason)
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!(
                "node `{id}` did not reach Running within {}s (status {:?}{})",
                opts.start_timeout.as_secs(),
                pb::NodeStatus::try_from(node.status).unwrap_or(pb::NodeStatus::Unspecified),
                if node.status_reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", node.status_reason)
                }
            );
        }
        tokio::time::sleep(opts.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use babel_api::pb::babel::v1 as babel;

    use super::*;
    use crate::cli::{DaemonArgs, DevNodeArgs, PathArg};

    /// Scripted daemon: `statuses` are returned by successive `get_node` calls.
    #[derive(Default)]
    struct FakeDaemon {
        statuses: VecDeque<pb::NodeStatus>,
        metrics: pb::NodeMetrics,
        calls: Vec<String>,
        created: Option<pb::NodeSpec>,
    }

    impl DevNodes for FakeDaemon {
        async fn create_node(&mut self, mut spec: pb::NodeSpec) -> Result<pb::Node> {
            self.calls.push("create".into());
            spec.id = "node-1".into();
            spec.name = "happy-fake-node".into();
            self.created = Some(spec.clone());
            Ok(pb::Node {
                spec: Some(spec),
                ..Default::default()
            })
        }
        async fn start_node(&mut self, id: &str) -> Result<pb::Node> {
            self.calls.push(format!("start {id}"));
            Ok(pb::Node::default())
        }
        async fn get_node(&mut self, _: &str) -> Result<pb::Node> {
            self.calls.push("get".into());
            let status = self.statuses.pop_front().unwrap_or(pb::NodeStatus::Stopped);
            Ok(pb::Node {
                status: status as i32,
                status_reason: "babel did not answer".into(),
                ..Default::default()
            })
        }
        async fn node_metrics(&mut self, _: &str) -> Result<pb::NodeMetrics> {
            self.calls.push("metrics".into());
            Ok(self.metrics.clone())
        }
        async fn delete_node(&mut self, id: &str) -> Result<()> {
            self.calls.push(format!("delete {id}"));
            Ok(())
        }
        async fn upgrade_node(&mut self, _: &str, _: pb::NodeSpec) -> Result<pb::Node> {
            unreachable!("not used by check")
        }
    }

    const YAML: &str = r#"
version: 1.2.3
container_uri: docker-daemon://check-test:1
protocol_key: testing
visibility: development
firewall_config: {default_in: deny, default_out: allow, rules: []}
properties:
  - {key: mode, name: Mode, default_value: "off", ui_type: !switch {on: null, off: null}}
variants:
  - key: a-b-c
    sku_code: AAA-BB-C
    archive_pointers: [{pointer: !store_key k}]
    min_cpu: 1
    min_memory_mb: 100
    min_disk_gb: 1
"#;

    fn test_plan(dir: &Path) -> DevNodePlan {
        let path = dir.join("babel.yaml");
        std::fs::write(&path, YAML).unwrap();
        super::super::image_play::plan(&DevNodeArgs {
            path: PathArg { path },
            variant: None,
            props: Some(r#"{"mode": "on"}"#.into()),
            ip: None,
            gateway: None,
            tags: vec!["ci".into()],
            build: false,
            daemon: DaemonArgs {
                socket: "/nonexistent".into(),
            },
        })
        .unwrap()
    }

    fn opts(checks: Vec<Check>, cleanup: bool, force: bool) -> RuntimeOptions {
        RuntimeOptions {
            checks,
            start_timeout: Duration::from_millis(30),
            jobs_wait: Duration::ZERO,
            cleanup,
            force_cleanup: force,
            lint_rootfs: false,
            deny_warnings: false,
            poll: Duration::from_millis(5),
        }
    }

    fn job(name: &str, exit: Option<i32>, restarts: u32) -> babel::JobEntry {
        let status = match exit {
            Some(c) => babel::job_status::Status::Finished(babel::JobFinished {
                exit_code: Some(c),
                message: "boom".into(),
            }),
            None => babel::job_status::Status::Running(Default::default()),
        };
        babel::JobEntry {
            name: name.into(),
            info: Some(babel::JobInfo {
                status: Some(babel::JobStatus {
                    status: Some(status),
                }),
                restart_count: restarts,
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn passing_checks_clean_up_with_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FakeDaemon {
            statuses: [pb::NodeStatus::Stopped, pb::NodeStatus::Running].into(),
            metrics: pb::NodeMetrics {
                jobs: vec![job("ok", Some(0), 0), job("svc", None, 0)],
                protocol_status: Some(pb::ProtocolStatus {
                    state: "broadcasting".into(),
                    health: "healthy".into(),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let all = vec![
            Check::JobsStatus,
            Check::JobsRestarts,
            Check::ProtocolStatus,
        ];
        run_on_node(&mut d, test_plan(dir.path()), &opts(all, true, false))
            .await
            .unwrap();
        assert_eq!(
            d.calls,
            [
                "create",
                "start node-1",
                "get",
                "get",
                "metrics",
                "delete node-1"
            ]
        );
        let spec = d.created.unwrap();
        assert!(spec.dev_mode);
        assert_eq!(spec.properties["mode"], "on");
        assert_eq!(spec.tags, ["ci"]);
    }

    #[tokio::test]
    async fn start_timeout_is_an_error_not_a_panic_and_keeps_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FakeDaemon::default();
        let err = run_on_node(
            &mut d,
            test_plan(dir.path()),
            &opts(vec![Check::JobsStatus], true, false),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("did not reach Running"), "{err}");
        assert!(err.to_string().contains("babel did not answer"), "{err}");
        assert!(!d.calls.iter().any(|c| c.starts_with("delete")));
    }

    #[tokio::test]
    async fn force_cleanup_deletes_a_failed_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FakeDaemon {
            statuses: [pb::NodeStatus::Failed].into(),
            ..Default::default()
        };
        let err = run_on_node(
            &mut d,
            test_plan(dir.path()),
            &opts(vec![Check::JobsStatus], false, true),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("failed to start"), "{err}");
        assert_eq!(d.calls.last().unwrap(), "delete node-1");
    }

    #[tokio::test]
    async fn failing_jobs_fail_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FakeDaemon {
            statuses: [pb::NodeStatus::Running].into(),
            metrics: pb::NodeMetrics {
                jobs: vec![job("bad", Some(3), 2)],
                ..Default::default()
            },
            ..Default::default()
        };
        let err = run_on_node(
            &mut d,
            test_plan(dir.path()),
            &opts(vec![Check::JobsStatus], true, false),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("1 check(s) failed"), "{err}");
        assert!(!d.calls.iter().any(|c| c.starts_with("delete")));
    }

    #[test]
    fn evaluate_each_check() {
        let m = pb::NodeMetrics {
            jobs: vec![job("bad", Some(3), 0), job("flaky", None, 4)],
            protocol_status: Some(pb::ProtocolStatus {
                state: "down".into(),
                health: "unhealthy".into(),
            }),
            ..Default::default()
        };
        let f = evaluate(&[Check::JobsStatus], &m);
        assert_eq!(f, ["job 'bad' finished with 3 exit code: boom"]);
        let f = evaluate(&[Check::JobsRestarts], &m);
        assert_eq!(f, ["job 'flaky' restarted 4 time(s)"]);
        let f = evaluate(&[Check::ProtocolStatus], &m);
        assert!(f[0].contains("unhealthy"));
        let none = evaluate(&[Check::ProtocolStatus], &pb::NodeMetrics::default());
        assert_eq!(none, ["No protocol status"]);
        let failed = pb::NodeMetrics {
            alerts: vec![pb::NodeAlert {
                kind: "plugin_error".into(),
                message: "protocol_status: Rhai function 'protocol_status' returned error: boom"
                    .into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            evaluate(&[Check::ProtocolStatus], &failed),
            [
                "No protocol status: protocol_status: Rhai function 'protocol_status' returned error: boom"
            ]
        );
        assert!(evaluate(&[Check::Plugin], &m).is_empty());
    }
}
