//! The `bv` command line: service control, nodes, jobs. Talks to blockvisord over its Unix
//! socket; `--format json` prints machine-readable output for every command.

pub mod catalog;
pub mod client;
pub mod exec;
pub mod format;
pub mod holds;
pub mod host;
pub mod job;
pub mod logview;
pub mod node;
pub mod out;
pub mod output;
pub mod progress;
pub mod service;
pub mod set;
pub mod update;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

pub use client::{connect, rpc_err, wait_until};
pub use exec::{ExecPlan, Outcome};
pub use format::Format;

/// blockvisord's default local API socket. The daemon owns this default
/// (`bv_host::config::DEFAULT_SOCKET`); `bv` links no daemon code, so it keeps a copy that a
/// test of blockvisord holds equal.
pub const DEFAULT_SOCKET: &str = "/run/blockvisor.sock";

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
    /// Verbose errors: print the full error chain with its causes.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
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
    /// The control plane's protocol catalog (needs a registered host).
    #[command(subcommand, visible_alias = "p")]
    Protocol(catalog::ProtocolCommand),
    /// Print the shell completion script of `bv` (`scripts/setup` installs them).
    Completions { shell: bv_base::cli_docs::Shell },
    /// Write the man pages of `bv` and its subcommands into a directory.
    Man { dir: PathBuf },
}

/// Runs a command; what it leaves to do (a foreground program) is the binary's.
pub async fn run(cli: Cli) -> eyre::Result<Outcome> {
    let format = cli.format;
    match cli.command {
        Command::Start(args) => service::start(&cli.socket, args, format).await?,
        Command::Stop => service::stop(&cli.socket, format).await?,
        Command::Status => service::status(&cli.socket, format).await?,
        Command::Host(cmd) => service::host(&cli.socket, cmd, format).await?,
        Command::Node(cmd) => return node::run(&cli.socket, *cmd, format).await,
        Command::Set(cmd) => set::run(&cli.socket, *cmd, format).await?,
        Command::Protocol(cmd) => catalog::protocol(&cli.socket, cmd, format).await?,
        Command::Completions { shell } => {
            let script = bv_base::cli_docs::completions(Cli::command(), shell);
            crate::outln!("{}", script.trim_end());
        }
        Command::Man { dir } => {
            for page in bv_base::cli_docs::man_pages(Cli::command(), &dir)? {
                if format == Format::Text {
                    crate::outln!("{}", page.display());
                }
            }
        }
    }
    Ok(Outcome::Done)
}
