//! The `bv` command line: service control, nodes, jobs. Talks to blockvisord over its Unix
//! socket; `--format json` prints machine-readable output for every command.

pub mod job;
pub mod node;
pub mod output;
pub mod progress;
pub mod service;
pub mod set;
pub mod update;

use std::path::PathBuf;
use std::time::Duration;

use babel_api::pb::blockvisor::v1::blockvisor_client::BlockvisorClient;
use clap::{Parser, Subcommand, ValueEnum};
use eyre::WrapErr;
use tonic::transport::Channel;

use crate::config::DEFAULT_SOCKET;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Command line client of blockvisord.
#[derive(Parser, Debug)]
#[command(name = "bv", version = babel_api::VERSION)]
pub struct Cli {
    /// blockvisord's local API socket.
    #[arg(long, global = true, env = "BV_SOCKET", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start blockvisord in the background and wait until it answers.
    Start(service::StartArgs),
    /// Stop blockvisord (node containers keep running).
    Stop,
    /// Is blockvisord running?
    Status,
    /// Nodes on this host.
    #[command(subcommand, visible_alias = "n")]
    Node(Box<node::NodeCommand>),
    /// Node sets: nodes of one image that peer with each other.
    #[command(subcommand)]
    Set(Box<set::SetCommand>),
    /// Host information.
    #[command(subcommand, visible_alias = "h")]
    Host(service::HostCommand),
}

pub async fn connect(socket: &std::path::Path) -> eyre::Result<BlockvisorClient<Channel>> {
    let channel = crate::uds::connect(socket, None).await.wrap_err_with(|| {
        format!(
            "blockvisord is not reachable on {} (is it running? try `bv start`)",
            socket.display()
        )
    })?;
    Ok(BlockvisorClient::new(channel))
}

/// Turns a gRPC error into a readable one.
pub fn rpc_err(s: tonic::Status) -> eyre::Report {
    eyre::eyre!("{}", s.message())
}

pub async fn run(cli: Cli) -> eyre::Result<()> {
    let format = cli.format;
    match cli.command {
        Command::Start(args) => service::start(&cli.socket, args, format).await,
        Command::Stop => service::stop(&cli.socket, format).await,
        Command::Status => service::status(&cli.socket, format).await,
        Command::Host(cmd) => service::host(&cli.socket, cmd, format).await,
        Command::Node(cmd) => node::run(&cli.socket, *cmd, format).await,
        Command::Set(cmd) => set::run(&cli.socket, *cmd, format).await,
    }
}

/// Polls `check` every 50 ms until it is true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
