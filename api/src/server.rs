//! Wires everything together: database, keys, storage, the gRPC services behind the auth
//! middleware and the chunk routes, all on one listening socket.

use std::net::SocketAddr;
use std::sync::Arc;

use babel_api::pb::api::v1 as pb;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::{Routes, RoutesBuilder};

use crate::config::Config;
use crate::crypto::{Keys, hash_password, new_token, write_private};
use crate::db::{self, Db};
use crate::janitor::Janitor;
use crate::services::{self, AppState};
use crate::storage::fs::FsStorage;
use crate::storage::s3::S3Storage;
use crate::storage::{Storage, StorageError};
use crate::tls::{ReloadingCert, TlsListener};
use crate::wake::{LocalWake, PgWake, Wake, WakeError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("creating data dir {}: {source}", .path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Wake(#[from] WakeError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("bootstrap: {0}")]
    Bootstrap(#[source] crate::crypto::CryptoError),
    #[error("server task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
    move |source| ServerError::Io { what, source }
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// The admin token, when this start created it (first start).
    pub new_admin_token: Option<String>,
    pub admin_token_file: std::path::PathBuf,
    /// The web console, when `--console-listen` is set.
    pub console: Option<crate::console::ConsoleHandle>,
    /// This process's name among the replicas.
    pub replica: String,
    /// Whether gRPC and the chunk routes speak TLS.
    pub tls: bool,
    state: Arc<AppState>,
    janitor: Option<Janitor>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// Base URL for gRPC clients.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Waits until the server stops (on error or after [`Running::shutdown`]).
    pub async fn wait(mut self) -> Result<(), ServerError> {
        let console = self.console.take();
        let janitor = self.janitor.take();
        let result = match (&mut self.handle).await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Task(e)),
        };
        drop(console);
        if janitor.is_some() {
            drop(janitor);
            // Hand the periodic work over at once instead of after the lease lapses.
            let _ = db::leases::release(&self.state.db, crate::janitor::LEASE, &self.replica).await;
        }
        result
    }

    /// Base URL of the web console, when it runs.
    pub fn console_url(&self) -> Option<String> {
        self.console.as_ref().map(|c| {
            let scheme = if c.tls { "https" } else { "http" };
            format!("{scheme}://{}", c.addr)
        })
    }

    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await
    }
}

/// Creates the first admin (user, password file, token file) on an empty database.
async fn bootstrap(state: &AppState, config: &Config) -> Result<Option<String>, ServerError> {
    if db::users::count(&state.db).await? > 0 {
        return Ok(None);
    }
    // Prefixed: base64url may start with '-', which a shell user would pass to
    // `nib login --password …` as a flag.
    let password = new_token("bvpw_");
    let hash = hash_password(&password).map_err(ServerError::Bootstrap)?;
    let user = match db::users::insert(&state.db, &config.admin_email, &hash, true).await {
        Ok(user) => user,
        // Another replica starting on the same empty database made the admin first.
        Err(db::DbError::Sqlx(sqlx::Error::Database(e))) if e.is_unique_violation() => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let token = new_token("bva_");
    db::tokens::insert(
        &state.db,
        &crate::crypto::token_hash(&token),
        db::tokens::NewToken {
            kind: db::tokens::TokenKind::Session,
            user_id: Some(&user.user_id),
            host_id: None,
            org_id: None,
            label: "admin bootstrap token",
            scopes: &[],
            expires_at: None,
        },
    )
    .await?;
    let dir = &config.data_dir;
    write_private(&dir.join("admin.token"), format!("{token}\n").as_bytes())
        .map_err(io("writing admin.token"))?;
    write_private(
        &dir.join("admin.password"),
        format!("{password}\n").as_bytes(),
    )
    .map_err(io("writing admin.password"))?;
    Ok(Some(token))
}

fn grpc_routes(state: &Arc<AppState>) -> Routes {
    let auth = services::auth::Auth(state.clone());
    let mut b = RoutesBuilder::default();
    b.add_service(pb::auth_service_server::AuthServiceServer::new(
        auth.clone(),
    ))
    .add_service(pb::user_service_server::UserServiceServer::new(
        auth.clone(),
    ))
    .add_service(pb::api_key_service_server::ApiKeyServiceServer::new(auth))
    .add_service(pb::protocol_service_server::ProtocolServiceServer::new(
        services::protocol::Protocols(state.clone()),
    ))
    .add_service(pb::image_service_server::ImageServiceServer::new(
        services::image::Images(state.clone()),
    ))
    .add_service(pb::archive_service_server::ArchiveServiceServer::new(
        services::archive::Archives(state.clone()),
    ))
    .add_service(pb::host_service_server::HostServiceServer::new(
        services::host::Hosts(state.clone()),
    ))
    .add_service(pb::node_service_server::NodeServiceServer::new(
        services::node::Nodes(state.clone()),
    ))
    .add_service(pb::command_service_server::CommandServiceServer::new(
        services::command::Commands(state.clone()),
    ))
    .add_service(pb::secret_service_server::SecretServiceServer::new(
        services::secret::Secrets(state.clone()),
    ));
    b.routes()
}

/// Starts the server; returns once it is listening.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let keys = Keys::load_or_create(&config.master_key_path())?;
    let database_url = config.database_url();
    let db = Db::connect(&database_url).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(io("reading bound address"))?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(ReloadingCert::load(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let fs = FsStorage::new(config.data_dir.join("chunks"), &public_url, keys.clone())?;
    let storage = match config.s3() {
        Some(s3) => Storage::S3(S3Storage::new(&s3)?),
        None => Storage::Fs(fs.clone()),
    };
    if db.postgres && matches!(storage, Storage::Fs(_)) {
        tracing::warn!(
            "archive chunks are kept in {}: replicas sharing this database need an S3 bucket",
            config.data_dir.join("chunks").display()
        );
    }
    let wake: Arc<dyn Wake> = if db.postgres {
        Arc::new(PgWake::start(&database_url, db.clone()).await?)
    } else {
        Arc::new(LocalWake::default())
    };
    let replica = format!("replica-{}", uuid::Uuid::new_v4().simple());
    let state = Arc::new(AppState {
        db: db.clone(),
        keys,
        storage,
        wake,
        replica: replica.clone(),
    });
    let new_admin_token = bootstrap(&state, &config).await?;

    let console = crate::console::start(state.clone(), &config.console).await?;
    if let Some(c) = &console {
        std::fs::write(
            config.data_dir.join("console_address"),
            format!("{}\n", c.addr),
        )
        .map_err(io("writing console address file"))?;
    }
    // Written last: tests and scripts wait for this file.
    std::fs::write(config.data_dir.join("address"), format!("{addr}\n"))
        .map_err(io("writing address file"))?;

    let router = grpc_routes(&state)
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            db.clone(),
            crate::auth::middleware,
        ))
        .merge(crate::http::chunk_router(fs));
    let janitor = Janitor::start(
        db.clone(),
        state.wake.clone(),
        replica.clone(),
        std::time::Duration::from_secs(config.janitor_every_secs.max(1)),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .add_routes(Routes::from(router));
    let shutdown = async {
        let _ = rx.await;
    };
    let https = tls.is_some();
    let handle = match tls {
        Some(cert) => {
            let rustls = crate::tls::server_config(cert.clone(), &[b"h2", b"http/1.1"])?;
            let listener =
                TlsListener::new(listener, rustls, "bv-api").map_err(io("listening for TLS"))?;
            let every = std::time::Duration::from_secs(config.tls_reload_secs.max(1));
            let watching = cert.watch(every);
            tokio::spawn(async move {
                let served = server
                    .serve_with_incoming_shutdown(listener.incoming(), shutdown)
                    .await
                    .map_err(ServerError::from);
                watching.abort();
                served
            })
        }
        None => tokio::spawn(async move {
            server
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
                .await
                .map_err(ServerError::from)
        }),
    };
    tracing::info!(%addr, tls = https, "bv-api listening");
    Ok(Running {
        addr,
        new_admin_token,
        admin_token_file: config.data_dir.join("admin.token"),
        console,
        replica,
        tls: https,
        state,
        janitor: Some(janitor),
        shutdown: Some(tx),
        handle,
    })
}
