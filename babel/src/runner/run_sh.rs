//! `run_sh` jobs: `sh -c <body>` in its own process group, output to the job's log file;
//! stopping sends the configured signal to the whole group, then SIGKILL after the timeout.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use babel_api::job::JobStatus;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::kinds::{JobContext, JobKind, Outcome, ShutdownRx};
use super::process_group::GroupRecord;
use crate::jobs::validate::{FieldProblem, parse_signal};
use crate::logs::writer::{LogWriter, pump};
use crate::ops::sh::{normalize_body, shell_command};
use crate::ops::users::{User, lookup_user};
use crate::paths::{LOGS_FILE, PGID_FILE};

#[derive(Debug)]
pub struct RunShJob {
    body: String,
    user: Option<User>,
    signal: Signal,
}

impl RunShJob {
    pub fn new(body: &str) -> Self {
        Self {
            body: normalize_body(body),
            user: None,
            signal: Signal::SIGTERM,
        }
    }

    fn command(&self, ctx: &JobContext) -> Command {
        let (prog, args) = shell_command(&self.body);
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .envs(ctx.node_env.env_vars())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        if let Some(u) = &self.user {
            cmd.uid(u.uid)
                .gid(u.gid)
                .env("HOME", &u.home)
                .env("USER", &u.name)
                .env("LOGNAME", &u.name);
        }
        cmd
    }
}

/// Whether any process is in process group `pgid`.
fn publish_group(path: &std::path::Path, record: GroupRecord) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = bv_base::AtomicFile::create(path, None)?;
    file.write_all(record.to_line().as_bytes())?;
    file.commit_unsynced()
}

fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// Sends `signal` to group `pgid`, waits up to `timeout` for it to empty, then SIGKILLs it.
/// `leader` (our child, when it is one) is reaped meanwhile, since a zombie still counts as
/// a group member.
async fn end_group(pgid: i32, signal: Signal, timeout: Duration, mut leader: Option<&mut Child>) {
    if !group_alive(pgid) {
        return;
    }
    let _ = killpg(Pid::from_raw(pgid), signal);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(child) = leader.as_mut() {
            let _ = child.try_wait();
        }
        if !group_alive(pgid) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if group_alive(pgid) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

#[tonic::async_trait]
impl JobKind for RunShJob {
    async fn prepare(&mut self, ctx: &JobContext) -> Result<(), Outcome> {
        self.signal = parse_signal(ctx.config.shutdown_signal())
            .map_err(|e| Outcome::Final(JobStatus::finished(None, e.to_string())))?;
        if let Some(name) = &ctx.config.run_as {
            self.user = Some(lookup_user(&ctx.passwd, name).ok_or_else(|| {
                Outcome::Final(JobStatus::finished(
                    None,
                    FieldProblem::UnknownUser(name.clone()).to_string(),
                ))
            })?);
        }
        // A previous runner may have been killed without ending its job's processes.
        let pgid_file = ctx.job_dir.join(PGID_FILE);
        if let Some(record) = GroupRecord::read(&pgid_file) {
            if record.is_leftover_now() {
                tracing::info!("ending leftover process group {}", record.pgid);
                let timeout = Duration::from_secs(ctx.config.shutdown_timeout_secs());
                end_group(record.pgid, self.signal, timeout, None).await;
            } else {
                tracing::debug!("process group {} is not a leftover", record.pgid);
            }
        }
        let _ = crate::fsutil::remove_if_exists(&pgid_file);
        Ok(())
    }

    async fn run_once(&mut self, ctx: &JobContext, shutdown: &mut ShutdownRx) -> Outcome {
        let name = &ctx.name;
        let max_bytes = ctx
            .config
            .log_buffer_capacity_mb()
            .saturating_mul(1_000_000);
        let timestamps = ctx.config.log_timestamp.unwrap_or(false);
        let writer = match LogWriter::open(&ctx.job_dir.join(LOGS_FILE), max_bytes, timestamps) {
            Ok(w) => Arc::new(Mutex::new(w)),
            Err(e) => {
                return Outcome::Exited {
                    code: None,
                    message: format!("Failed to spawn job '{name}': can't open log file: {e}"),
                };
            }
        };
        let mut child = match self.command(ctx).spawn() {
            Ok(c) => c,
            Err(e) => {
                return Outcome::Exited {
                    code: None,
                    message: format!("Failed to spawn job '{name}': {e}"),
                };
            }
        };
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        // Only needed while processes live, which a machine crash ends too: no fsync. Put in
        // place by rename, so a runner killed mid-write never leaves an empty record that would
        // hide its group from the next runner.
        let _ = publish_group(&ctx.job_dir.join(PGID_FILE), GroupRecord::of_leader(pgid));
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, writer.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, writer.clone())));
        }
        let stop = async {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let outcome = tokio::select! {
            status = child.wait() => Outcome::Exited {
                code: status.as_ref().ok().and_then(|s| s.code()),
                message: format!(
                    "job '{name}' {}",
                    super::exit_text::describe_wait(&status)
                ),
            },
            () = stop => {
                let timeout = Duration::from_secs(ctx.config.shutdown_timeout_secs());
                if pgid > 1 {
                    end_group(pgid, self.signal, timeout, Some(&mut child)).await;
                }
                let _ = child.wait().await;
                Outcome::Interrupted
            }
        };
        // Output still buffered in the pipes belongs to this run; background processes
        // that keep the pipes open must not block the restart, so wait only briefly.
        for p in pumps {
            let _ = tokio::time::timeout(Duration::from_millis(200), p).await;
        }
        outcome
    }
}
