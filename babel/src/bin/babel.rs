use std::path::PathBuf;

use babel::agent::{AgentConfig, serve};
use babel::paths::{self, RunnerPaths};
use clap::Parser;
use eyre::WrapErr;

/// In-node agent: serves the Babel API on a Unix socket and supervises jobs.
#[derive(Parser, Debug)]
#[command(name = "babel", version = babel_api::VERSION)]
struct Cli {
    /// Babel API socket (served for the host daemon).
    #[arg(long, env = "BABEL_SOCKET", default_value = paths::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Directory of job directories.
    #[arg(long, env = "BABEL_JOBS_DIR", default_value = paths::DEFAULT_JOBS_DIR)]
    jobs_dir: PathBuf,
    /// Persisted BabelConfig (JSON), written by setup_babel.
    #[arg(long, env = "BABEL_CONFIG", default_value = paths::DEFAULT_CONFIG)]
    config: PathBuf,
    /// JobsMonitor socket (served for job runners).
    #[arg(long, env = "BABEL_MONITOR_SOCKET", default_value = paths::DEFAULT_MONITOR_SOCKET)]
    monitor_socket: PathBuf,
    /// The host's BabelEngine socket (archives, error reports).
    #[arg(long, env = "BABEL_ENGINE_SOCKET", default_value = paths::DEFAULT_ENGINE_SOCKET)]
    engine_socket: PathBuf,
    /// Job runner executable [default: babel-job-runner next to this executable].
    #[arg(long, env = "BABEL_JOB_RUNNER")]
    job_runner: Option<PathBuf>,
}

fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let job_runner = match cli.job_runner {
        Some(p) => p,
        None => std::env::current_exe()
            .wrap_err("can't find own executable")?
            .with_file_name("babel-job-runner"),
    };
    let config = AgentConfig {
        socket: cli.socket,
        runner: RunnerPaths {
            jobs_dir: cli.jobs_dir,
            config: cli.config,
            monitor_socket: cli.monitor_socket,
            engine_socket: cli.engine_socket,
        },
        job_runner,
        passwd: PathBuf::from("/etc/passwd"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .wrap_err("can't start runtime")?;
    rt.block_on(async {
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        serve(config, shutdown).await
    })
}
