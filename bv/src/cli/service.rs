//! `bv start|stop|status` and `bv host …`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use babel_api::pb::blockvisor::v1 as pb;
use clap::{Args, Subcommand};
use eyre::{WrapErr, bail};

use super::output::print_json;
use super::{Format, connect, rpc_err, wait_until};

#[derive(Args, Debug)]
pub struct StartArgs {
    /// The blockvisord executable (default: next to `bv`, then PATH).
    #[arg(long)]
    pub daemon: Option<PathBuf>,
    /// Daemon log file.
    #[arg(long, env = "BV_LOG", default_value = "/var/log/blockvisord.log")]
    pub log: PathBuf,
    /// Seconds to wait for the daemon to answer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Extra arguments for blockvisord (e.g. `-- --root /tmp/bv --config bv.toml`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum HostCommand {
    /// The host at a glance: capacity and usage, nodes by state, daemon and agent
    /// versions, the control-plane API link.
    #[command(visible_aliases = ["m", "info"])]
    Metrics,
    /// Register this host with a control-plane API using a provision token (made by
    /// `bv-api provision-token`); blockvisord stores the host credentials under its root
    /// (host.json, mode 0600) and connects to the API's command stream.
    Register(RegisterArgs),
    /// Send this host's facts (versions, OS, resources) to the control-plane API now.
    #[command(visible_alias = "u")]
    Update,
    /// Versions automatic upgrades leave alone on this host because an upgrade to them was
    /// rolled back; `release` lets them be tried again.
    Holds {
        #[command(subcommand)]
        cmd: Option<super::holds::HoldsCommand>,
    },
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Single-use provision token.
    pub provision_token: String,
    /// API URL (default: `api_url` of the daemon config).
    #[arg(long, env = "BV_API_URL")]
    pub api: Option<String>,
    /// Host name reported to the API (default: the hostname).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing registration.
    #[arg(long)]
    pub force: bool,
    /// PEM file of the CA that signs the API's certificate (default: the system roots).
    #[arg(long, env = "BV_API_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Allow plaintext http:// to a non-loopback API address (the host token then crosses
    /// the network unencrypted).
    #[arg(long)]
    pub insecure: bool,
}

pub async fn info(socket: &Path) -> Option<pb::InfoResponse> {
    let mut client = connect(socket).await.ok()?;
    client
        .info(pb::InfoRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

fn info_json(i: &pb::InfoResponse) -> serde_json::Value {
    serde_json::json!({
        "running": true,
        "version": i.version,
        "root": i.root,
        "socket": i.socket,
        "dev_mode": i.dev_mode,
        "node_count": i.node_count,
        "pid": i.pid,
        "metrics_addr": i.metrics_addr,
        "api_url": i.api_url,
        "host_id": i.host_id,
        "api_connected": i.api_connected,
    })
}

fn info_text(i: &pb::InfoResponse) -> String {
    let api = if i.api_url.is_empty() {
        String::new()
    } else {
        format!(
            ", host {} on {} ({})",
            i.host_id,
            i.api_url,
            if i.api_connected {
                "connected"
            } else {
                "not connected"
            }
        )
    };
    format!(
        "version {}, root {}, socket {}, {} node(s), pid {}{}{}{api}",
        i.version,
        i.root,
        i.socket,
        i.node_count,
        i.pid,
        if i.dev_mode { ", dev mode" } else { "" },
        if i.metrics_addr.is_empty() {
            String::new()
        } else {
            format!(", metrics http://{}/metrics", i.metrics_addr)
        }
    )
}

fn daemon_exe(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("blockvisord")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("blockvisord"))
}

pub async fn start(socket: &Path, args: StartArgs, format: Format) -> eyre::Result<()> {
    if let Some(i) = info(socket).await {
        report_started(&i, format);
        return Ok(());
    }
    let exe = daemon_exe(args.daemon);
    if let Some(dir) = args.log.parent() {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .wrap_err_with(|| format!("opening {}", args.log.display()))?;
    let log2 = log.try_clone()?;
    // Launching the daemon is what `bv start` is for.
    #[expect(
        clippy::disallowed_methods,
        reason = "`bv start` launches blockvisord in its own session"
    )]
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("--socket")
        .arg(socket)
        .args(&args.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Own session: the daemon outlives this shell.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .wrap_err_with(|| format!("starting {}", exe.display()))?;
    let up = wait_until(Duration::from_secs(args.timeout), || async {
        info(socket).await.is_some()
    })
    .await;
    if !up {
        let exited = child.try_wait().ok().flatten();
        let tail = std::fs::read_to_string(&args.log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "blockvisord did not answer on {} within {} s{}; last log lines ({}):\n{}",
            socket.display(),
            args.timeout,
            exited
                .map(|s| format!(" (it exited: {s})"))
                .unwrap_or_default(),
            args.log.display(),
            tail.join("\n")
        );
    }
    let i = info(socket)
        .await
        .ok_or_else(|| eyre::eyre!("blockvisord stopped answering"))?;
    report_started(&i, format);
    Ok(())
}

fn report_started(i: &pb::InfoResponse, format: Format) {
    match format {
        Format::Json => print_json(&info_json(i)),
        Format::Text => crate::outln!("blockvisor service started successfully: {}", info_text(i)),
    }
}

pub async fn stop(socket: &Path, format: Format) -> eyre::Result<()> {
    if let Some(i) = info(socket).await {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(i.pid).wrap_err("bad daemon pid")?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .wrap_err_with(|| format!("signalling blockvisord (pid {})", i.pid))?;
        let down = wait_until(Duration::from_secs(30), || async {
            info(socket).await.is_none()
        })
        .await;
        if !down {
            bail!("blockvisord (pid {}) still answers after 30 s", i.pid);
        }
        // The socket closes before the process is gone: wait for the process itself, so a
        // daemon started next never overlaps this one.
        let exited = wait_until(Duration::from_secs(30), || async { has_exited(pid) }).await;
        if !exited {
            bail!(
                "blockvisord (pid {}) has not exited 30 s after SIGTERM",
                i.pid
            );
        }
    }
    match format {
        Format::Json => print_json(&serde_json::json!({"running": false})),
        Format::Text => crate::outln!("blockvisor service stopped successfully"),
    }
    Ok(())
}

/// Gone, or a zombie waiting for its parent to reap it (it holds no lock and no socket).
fn has_exited(pid: nix::unistd::Pid) -> bool {
    if nix::sys::signal::kill(pid, None) == Err(nix::errno::Errno::ESRCH) {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s.get(i + 2..))
                .map(|r| r.starts_with('Z'))
        })
        .unwrap_or(true)
}

pub async fn status(socket: &Path, format: Format) -> eyre::Result<()> {
    let i = info(socket).await;
    match (format, i) {
        (Format::Json, Some(i)) => print_json(&info_json(&i)),
        (Format::Json, None) => print_json(&serde_json::json!({"running": false})),
        (Format::Text, Some(i)) => crate::outln!("Service running: {}", info_text(&i)),
        (Format::Text, None) => crate::outln!("Service stopped"),
    }
    Ok(())
}

async fn register(socket: &Path, args: RegisterArgs, format: Format) -> eyre::Result<()> {
    let r = connect(socket)
        .await?
        .register_host(pb::RegisterHostRequest {
            api_url: args.api.unwrap_or_default(),
            provision_token: args.provision_token,
            name: args.name,
            force: args.force,
            // The daemon reads the file: give it a path that does not depend on our cwd.
            ca_file: args
                .ca_file
                .as_deref()
                .map(std::path::absolute)
                .transpose()?
                .map(|p| p.display().to_string()),
            insecure: args.insecure,
        })
        .await
        .map_err(rpc_err)?
        .into_inner();
    match format {
        Format::Json => print_json(&serde_json::json!({
            "host_id": r.host_id,
            "api_url": r.api_url,
            "credentials_file": r.credentials_file,
        })),
        Format::Text => crate::outln!(
            "Host registered with ID `{}` at {} (credentials in {})",
            r.host_id,
            r.api_url,
            r.credentials_file
        ),
    }
    Ok(())
}

pub async fn host(socket: &Path, cmd: HostCommand, format: Format) -> eyre::Result<()> {
    match cmd {
        HostCommand::Register(args) => register(socket, args, format).await,
        HostCommand::Metrics => super::host::info(socket, format).await,
        HostCommand::Update => super::catalog::update_host(socket, format).await,
        HostCommand::Holds { cmd } => super::holds::holds(socket, cmd, format).await,
    }
}
