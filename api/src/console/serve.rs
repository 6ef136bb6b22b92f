//! Starts the console: its own listener (plain HTTP, or HTTPS with a certificate), the
//! router, the scraper and the refresher.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::config::{BadTarget, ConsoleConfig};
use super::state::{Console, Shared};
use super::{assets, events, handlers, logs, session};
use crate::services::State;
use crate::tls::{ReloadingCert, TlsListener};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Target(#[from] BadTarget),
    #[error("binding the console on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("console HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A running console; its tasks stop when this is dropped.
#[derive(Debug)]
pub struct ConsoleHandle {
    pub addr: SocketAddr,
    /// True when the console speaks HTTPS.
    pub tls: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ConsoleHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub fn router(console: Shared) -> Router {
    Router::new()
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route("/api/fleet", get(handlers::fleet))
        .route("/api/events", get(events::stream))
        .route("/api/history", get(handlers::history))
        .route("/api/catalog", get(handlers::catalog))
        .route("/api/nodes", post(handlers::create))
        .route("/api/nodes/{id}", get(handlers::node))
        .route("/api/nodes/{id}/{action}", post(handlers::action))
        .route("/api/nodes/{id}/jobs/{job}/logs", get(logs::job_log))
        .fallback(assets::serve)
        .with_state(console)
}

/// Binds `config.console_listen` and serves the console there; `None` when it is unset.
pub async fn start(
    app: State,
    config: &ConsoleConfig,
) -> Result<Option<ConsoleHandle>, ConsoleError> {
    let Some(addr) = config.console_listen else {
        return Ok(None);
    };
    let targets = config.targets()?;
    let tls = match (&config.console_tls_cert, &config.console_tls_key) {
        (Some(cert), Some(key)) => {
            let cert = ReloadingCert::load(cert, key)?;
            Some((
                crate::tls::server_config(cert.clone(), &[b"http/1.1"])?,
                cert,
            ))
        }
        _ => None,
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ConsoleError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ConsoleError::Bind { addr, source })?;
    let (fleet, _) = watch::channel(Arc::<str>::from(""));
    let console = Arc::new(Console {
        app,
        targets,
        fleet,
        refresh: Notify::new(),
        assets: config.console_assets.clone(),
        interval: Duration::from_secs(config.console_interval_secs.max(1)),
        http: reqwest::Client::builder().build()?,
    });
    let app = router(console.clone());
    let https = tls.is_some();
    let mut watching = None;
    let server = match tls {
        Some((tls, cert)) => {
            let listener = TlsListener::new(listener, tls, "console")
                .map_err(|source| ConsoleError::Bind { addr, source })?;
            watching = Some(cert.watch(crate::tls::RELOAD_EVERY));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("console stopped: {e}");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("console stopped: {e}");
            }
        }),
    };
    let mut tasks = vec![
        server,
        tokio::spawn(events::refresher(console.clone())),
        tokio::spawn(events::scraper(console)),
    ];
    tasks.extend(watching);
    tracing::info!(%addr, https, "console listening");
    Ok(Some(ConsoleHandle {
        addr,
        tls: https,
        tasks,
    }))
}
