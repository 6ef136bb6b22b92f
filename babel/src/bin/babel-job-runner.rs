use std::path::PathBuf;

use babel::paths::{self, RunnerPaths};
use babel::runner::{RunnerExit, run, shutdown_on_signals};
use clap::Parser;
use eyre::WrapErr;

/// Runs one babel job in its own session (started by babel, survives babel restarts).
#[derive(Parser, Debug)]
#[command(name = "babel-job-runner", version = babel_api::VERSION)]
struct Cli {
    #[arg(long, default_value = paths::DEFAULT_JOBS_DIR)]
    jobs_dir: PathBuf,
    #[arg(long, default_value = paths::DEFAULT_CONFIG)]
    config: PathBuf,
    #[arg(long, default_value = paths::DEFAULT_MONITOR_SOCKET)]
    monitor_socket: PathBuf,
    #[arg(long, default_value = paths::DEFAULT_ENGINE_SOCKET)]
    engine_socket: PathBuf,
    /// Name of the job to run.
    job: String,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the runner's exit status tells the agent how the job ended"
)]
fn main() -> eyre::Result<()> {
    // Own session first, so signals aimed at babel's process group don't reach the job.
    let _ = nix::unistd::setsid();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let paths = RunnerPaths {
        jobs_dir: cli.jobs_dir,
        config: cli.config,
        monitor_socket: cli.monitor_socket,
        engine_socket: cli.engine_socket,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .wrap_err("can't start runtime")?;
    let exit = rt.block_on(async {
        let shutdown = shutdown_on_signals().wrap_err("can't install signal handlers")?;
        Ok::<_, eyre::Report>(run(paths, cli.job, PathBuf::from("/etc/passwd"), shutdown).await)
    })?;
    // Don't wait for detached log pumps of background processes.
    rt.shutdown_background();
    std::process::exit(match exit {
        RunnerExit::Finished => 0,
        RunnerExit::Interrupted => 143,
    })
}
