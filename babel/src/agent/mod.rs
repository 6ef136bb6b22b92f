//! The agent process: the `Babel` service for the host and the `JobsMonitor` service for job
//! runners, each on its own Unix socket, plus node setup and graceful shutdown.

mod error;
pub mod monitor;
pub mod runner_bin;
pub mod service;
pub mod setup;
mod state;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use babel_api::node_env::BabelConfig;
use babel_api::pb::babel::v1::babel_server::BabelServer;
use babel_api::pb::babel::v1::jobs_monitor_server::JobsMonitorServer;
use eyre::WrapErr;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tracing::{info, warn};

use crate::jobs::JobsManager;
use crate::jobs::process::OsRunners;

pub use error::{AgentError, SetupError};
pub use state::{Agent, AgentConfig};

/// The agent's sockets are reachable by the owner and group (0660).
fn bind(path: &Path) -> eyre::Result<UnixListener> {
    bv_base::uds::bind(path, 0o660).wrap_err_with(|| format!("can't bind {}", path.display()))
}

/// Serves until `shutdown` resolves. Job runners are left running: a restarted agent
/// re-attaches to them.
pub async fn serve(config: AgentConfig, shutdown: impl Future<Output = ()>) -> eyre::Result<()> {
    let babel_listener = bind(&config.socket)?;
    let monitor_listener = bind(&config.runner.monitor_socket)?;
    let runners = Arc::new(OsRunners {
        job_runner: config.job_runner.clone(),
        paths: config.runner.clone(),
    });
    let manager = JobsManager::new(
        config.runner.jobs_dir.clone(),
        config.passwd.clone(),
        runners,
    );
    manager.report_errors_to(report_errors(&config.runner.engine_socket));
    let runner_bin = runner_bin::JobRunnerBinary::new(config.job_runner.clone());
    let agent = Arc::new(Agent {
        config: config.clone(),
        manager,
        runner_bin,
    });
    resume(&agent);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let monitor = tonic::transport::Server::builder()
        .add_service(JobsMonitorServer::new(monitor::Monitor(
            agent.manager.clone(),
        )))
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(monitor_listener),
            stopped(stop_rx.clone()),
        );
    let babel = tonic::transport::Server::builder()
        .add_service(BabelServer::new(service::BabelService(agent.clone())))
        .serve_with_incoming_shutdown(UnixListenerStream::new(babel_listener), stopped(stop_rx));
    info!(socket = %config.socket.display(), "babel {} serving", babel_api::VERSION);
    let servers = async { tokio::try_join!(monitor, babel) };
    tokio::pin!(servers);
    let result = tokio::select! {
        r = &mut servers => r.map(|_| ()),
        () = shutdown => {
            info!("shutting down (jobs keep running)");
            let _ = stop_tx.send(true);
            // Open client connections (and followed log streams) would hold a graceful
            // stop forever: give them a moment, then go.
            match tokio::time::timeout(std::time::Duration::from_secs(2), servers).await {
                Ok(r) => r.map(|_| ()),
                Err(_) => Ok(()),
            }
        }
    };
    for s in [&config.socket, &config.runner.monitor_socket] {
        let _ = std::fs::remove_file(s);
    }
    result.wrap_err("gRPC server failed")
}

/// A channel whose messages go to the host's `bv_error` (the engine socket is connected
/// lazily, so a host that is not there yet costs nothing but a warning per message).
fn report_errors(engine_socket: &Path) -> tokio::sync::mpsc::UnboundedSender<String> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let engine = crate::archive::engine::EngineBackend::new(engine_socket);
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            engine.bv_error(&message).await;
        }
    });
    tx
}

/// After an agent restart: when the node was set up before and its RAM disks are still
/// mounted, start the jobs manager right away (re-attaching to running jobs).
fn resume(agent: &Agent) {
    let path = &agent.config.runner.config;
    if !path.exists() {
        return;
    }
    match bv_base::json_file::read::<BabelConfig>(path) {
        Ok(cfg) if setup::ramdisks_mounted(&cfg.ramdisks) => {
            if let Err(e) = agent.manager.startup(cfg.node_env) {
                warn!("can't resume jobs: {e}");
            }
        }
        Ok(_) => info!("RAM disks not mounted; waiting for setup_babel"),
        Err(e) => warn!("{e}; waiting for setup_babel"),
    }
}
