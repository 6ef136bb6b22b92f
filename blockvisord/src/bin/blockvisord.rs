//! Host daemon: runs blockchain nodes as containers.
use std::path::PathBuf;

use bv_host::config::Config;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "blockvisord", version = babel_api::VERSION)]
struct Cli {
    /// TOML config file (optional: embedded defaults otherwise).
    #[arg(long, env = "BV_CONFIG")]
    config: Option<PathBuf>,
    /// State root (default /var/lib/blockvisor).
    #[arg(long, env = "BV_ROOT")]
    root: Option<PathBuf>,
    /// Local API socket (default /run/blockvisor.sock).
    #[arg(long, env = "BV_SOCKET")]
    socket: Option<PathBuf>,
    /// Directory with the static babel and babel-job-runner.
    #[arg(long, env = "BV_BABEL_DIR")]
    babel_dir: Option<PathBuf>,
    /// Bridge for non-host-network nodes.
    #[arg(long, env = "BV_BRIDGE")]
    bridge: Option<String>,
}

fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // `bv start` sends stderr to a log file: escape codes only on a terminal.
        .with_ansi(bv_base::term::ansi_allowed(&std::io::stderr()))
        .init();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(root) = cli.root {
        config.root = root;
    }
    if let Some(socket) = cli.socket {
        config.socket = socket;
    }
    if let Some(dir) = cli.babel_dir {
        config.babel_dir = Some(dir);
    }
    if let Some(bridge) = cli.bridge {
        config.network.bridge = bridge;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(blockvisord::daemon::run(config))
}
