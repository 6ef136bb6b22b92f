//! The daemon: wires the services, re-attaches to running nodes, serves the local API on a
//! Unix socket and runs the recovery loop until SIGTERM/SIGINT. Node containers keep
//! running while the daemon is down.

pub mod convert;
pub mod error;
pub mod holds;
pub mod jobs;
pub mod lock;
pub mod logs;
pub mod service;
pub mod upgrade_gate;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use babel_api::pb::blockvisor::v1::blockvisor_server::BlockvisorServer;
use eyre::WrapErr;
use tokio_stream::wrappers::UnixListenerStream;
use tracing::{info, warn};

use bv_host::config::Config;
use bv_host::container::runc::Runc;
use bv_node::node::Services;
use bv_node::node::agent::BabelConnector;
use bv_node::nodes::{NodeEntry, Registry};

/// The static PID 1 of node containers, built from `init/bv-init.c`.
pub const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bv-init"));

/// Writes bv-init under the root (only when it changed, so running nodes keep their inode).
pub fn install_init(bin_dir: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin_dir)?;
    let path = bin_dir.join("bv-init");
    if std::fs::read(&path).ok().as_deref() != Some(INIT_BINARY) {
        bv_base::write_atomic(&path, INIT_BINARY)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(path)
}

pub fn services(
    config: Config,
    scheduler: Arc<bv_host::scheduler::Scheduler>,
) -> eyre::Result<Services> {
    config.validate()?;
    std::fs::create_dir_all(config.nodes_dir())
        .wrap_err_with(|| format!("creating {}", config.nodes_dir().display()))?;
    let init_binary = install_init(&config.bin_dir()).wrap_err("installing bv-init")?;
    let babel_dir = config.resolve_babel_dir()?;
    let runtime = Arc::new(Runc::new(config.runc.clone(), config.runc_root()));
    let rootfs = bv_host::rootfs::default_provider(&config);
    let network = bv_host::net::default_network(&config);
    Ok(Services {
        runtime,
        rootfs,
        agents: Arc::new(BabelConnector),
        network,
        babel_dir,
        init_binary,
        scheduler,
        cloud: Default::default(),
        config,
    })
}

/// Reconnects to the agents of running nodes after a daemon (re)start. Returns the running
/// nodes whose state does not record init as done, for [`finish_inits`].
pub async fn attach(registry: &Registry) -> Vec<Arc<NodeEntry>> {
    use futures::StreamExt;
    // Nodes are independent (each under its own lock) and each waits on processes (nft)
    // and its agent's socket, so a few go at once: a restart with many nodes answers sooner.
    futures::stream::iter(registry.list())
        .map(|entry| async move { attach_node(&entry).await.then_some(entry) })
        .buffer_unordered(ATTACH_CONCURRENCY)
        .filter_map(|unfinished| async move { unfinished })
        .collect()
        .await
}

/// Runs init again on the nodes [`attach`] found without a recorded init, a few at once,
/// each under its lock (listed Busy meanwhile). It runs once the daemon serves, so a slow or
/// hung init does not hold up its socket, and before the recovery loop, which would
/// otherwise start these nodes itself after its back-off.
async fn finish_inits(nodes: Vec<Arc<NodeEntry>>) {
    use futures::StreamExt;
    futures::stream::iter(nodes)
        .for_each_concurrent(ATTACH_CONCURRENCY, |entry| async move {
            let mut node = entry.lock().await;
            // An operator's command may have come first (a stop, a delete).
            if !node.init_unrecorded() {
                return;
            }
            if let Err(e) = node.finish_init().await {
                warn!(node = %node.state.id, "running init again: {e}");
            }
        })
        .await;
}

/// Nodes attached at the same time on start-up.
const ATTACH_CONCURRENCY: usize = 8;

/// Whether the node runs and its init must run again ([`finish_inits`]).
async fn attach_node(entry: &NodeEntry) -> bool {
    let mut node = entry.lock().await;
    if node.broken.is_some() {
        // Its firewall and config are unknown: leave what runs alone until it is deleted.
        return false;
    }
    // Rules live in the node's namespace; loading them again makes them match the state.
    if let Err(e) = node.apply_firewall().await {
        warn!(node = %node.state.id, "firewall: {e}");
    }
    if !node.container_state().await.is_running() {
        return false;
    }
    match node
        .svc
        .agents
        .connect(&node.paths.babel_socket(), Duration::from_secs(5))
        .await
    {
        Ok(agent) => {
            node.agent = Some(agent);
            if let Err(e) = node.reattach().await {
                warn!(node = %node.state.id, "reattach: {e}");
            }
            info!(node = %node.state.id, name = %node.state.name, "re-attached");
            node.init_unrecorded()
        }
        Err(e) => {
            warn!(node = %node.state.id, "babel not reachable on attach: {e}");
            false
        }
    }
}

async fn recovery_loop(registry: Arc<Registry>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        registry.recover_all(RECOVERY_LOCK_WAIT).await;
    }
}

/// How long the recovery loop waits for a node held by another operation.
const RECOVERY_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Runs due scheduled tasks: the plugin method, under the node's lock, only while it runs.
async fn task_loop(
    registry: Arc<Registry>,
    mut fired: tokio::sync::mpsc::UnboundedReceiver<bv_host::scheduler::Fire>,
) {
    while let Some(fire) = fired.recv().await {
        let Ok(entry) = registry.get(&fire.node_id.to_string()) else {
            continue;
        };
        tokio::spawn(async move {
            // The node lock is held only to check the node runs; the call itself is
            // serialised by the plugin's own lock, so tasks never block node operations.
            let plugin = {
                let Some(mut node) = entry.try_lock() else {
                    tracing::debug!(node = %fire.node_id, task = %fire.name, "node busy; task skipped");
                    return;
                };
                if node.status().await != bv_node::node::state::Status::Running {
                    return;
                }
                match node.plugin().await {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(node = %fire.node_id, task = %fire.name, "task: {e}");
                        return;
                    }
                }
            };
            match bv_node::node::plugin::call(&plugin, &fire.function, &fire.param).await {
                Ok(_) => tracing::debug!(node = %fire.node_id, task = %fire.name, "task ran"),
                Err(e) => warn!(node = %fire.node_id, task = %fire.name, "task failed: {e}"),
            }
        });
    }
}

/// Health checks, the Prometheus endpoint (when configured) and the auto-upgrade engine.
async fn spawn_fleet(registry: Arc<Registry>) -> eyre::Result<Vec<tokio::task::JoinHandle<()>>> {
    let config = registry.services().config.clone();
    let mut tasks = vec![tokio::spawn(crate::metrics::collect::run(
        registry.clone(),
        config.metrics.cadence(),
    ))];
    if let Some(addr) = config.metrics.listen {
        let listener = crate::metrics::prom::bind(addr)
            .await
            .wrap_err_with(|| format!("binding the metrics endpoint {addr}"))?;
        let local = listener.local_addr().wrap_err("metrics endpoint address")?;
        registry.observed().set_metrics_addr(local.to_string());
        info!(%local, "metrics on http://{local}/metrics");
        let source = Arc::new(crate::metrics::RegistrySource(registry.clone()));
        tasks.push(tokio::spawn(crate::metrics::prom::serve(listener, source)));
    }
    let catalog_path = config
        .upgrade
        .catalog
        .clone()
        .unwrap_or_else(|| config.root.join("catalog.toml"));
    let planner = crate::autoupgrade::policy::Planner {
        clock: Arc::new(crate::autoupgrade::policy::SystemClock),
        catalog: Arc::new(crate::autoupgrade::catalog::Layered(vec![
            Arc::new(crate::autoupgrade::catalog::FileCatalog { path: catalog_path }),
            Arc::new(crate::autoupgrade::catalog::ApiCatalog(
                registry.services().cloud.clone(),
            )),
        ])),
    };
    tasks.push(tokio::spawn(crate::autoupgrade::runner::run(
        registry,
        planner,
        config.upgrade,
    )));
    Ok(tasks)
}

/// Refuses to start when another daemon already answers on the socket.
async fn check_not_running(socket: &Path) -> eyre::Result<()> {
    if socket.exists()
        && bv_base::uds::connect(socket, Some(Duration::from_secs(1)))
            .await
            .is_ok()
    {
        eyre::bail!(
            "another blockvisord is already listening on {}",
            socket.display()
        );
    }
    Ok(())
}

pub async fn run(config: Config) -> eyre::Result<()> {
    let socket = config.socket.clone();
    // Held until this function returns (and by the kernel until the process is gone).
    let _root_lock = lock::RootLock::acquire(&config.root)?;
    check_not_running(&socket).await?;
    let recovery_every = Duration::from_secs(config.recovery_interval_secs.max(1));
    let (scheduler, fired) = bv_host::scheduler::Scheduler::new();
    let svc = Arc::new(services(config, Arc::new(scheduler))?);
    // Under the root lock, before anything is served: nothing else touches the root.
    let mut report = bv_node::nodes::recover_host(&svc).await;
    let registry = Arc::new(Registry::load(svc.clone()).wrap_err("loading nodes")?);
    registry.finish_interrupted_upgrades(&mut report).await;
    info!(
        operations = report.operations.len(),
        removed = report.removed.len(),
        errors = report.errors.len(),
        "start-up recovery done"
    );
    registry.set_last_sweep(report);
    let unfinished = attach(&registry).await;
    let fleet = spawn_fleet(registry.clone()).await?;
    crate::cloud::connect_if_registered(&registry)?;

    let listener = bv_base::uds::bind(&socket, 0o660)
        .wrap_err_with(|| format!("binding {}", socket.display()))?;
    info!(socket = %socket.display(), root = %svc.config.root.display(), "blockvisord listening");
    let recovery = tokio::spawn({
        let registry = registry.clone();
        async move {
            finish_inits(unfinished).await;
            recovery_loop(registry, recovery_every).await
        }
    });
    let tasks = tokio::spawn(task_loop(registry.clone(), fired));

    let service = service::Service {
        registry: registry.clone(),
    };
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        info!("shutting down (node containers keep running)");
    };
    let served = tonic::transport::Server::builder()
        .add_service(BlockvisorServer::new(service))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    recovery.abort();
    tasks.abort();
    fleet.iter().for_each(|t| t.abort());
    svc.cloud.shutdown();
    let _ = std::fs::remove_file(&socket);
    served.wrap_err("serving the local API")
}
