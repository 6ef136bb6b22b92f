//! Test harness: starts a `bv-api` server on SQLite (temp dir) or on its own PostgreSQL
//! database, and makes authenticated gRPC clients.
#![allow(dead_code)]

pub mod certs;
pub mod flows;

use api::config::Config;
use api::server::Running;
use babel_api::pb::api::v1 as pb;
use sqlx::Connection;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub struct Harness {
    pub server: Running,
    pub admin_token: String,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    pub config: Config,
    pg_cleanup: Option<(String, String)>,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bvapi")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let config = Config::new(dir.path().to_path_buf());
        Self::start(dir, config, None).await
    }

    /// SQLite, with `adjust` applied to the configuration first.
    pub async fn sqlite_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bvapi")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let mut config = Config::new(dir.path().to_path_buf());
        adjust(&mut config);
        Self::start(dir, config, None).await
    }

    /// A fresh database on the PostgreSQL server named by `BV_API_TEST_PG_URL`. Returns None
    /// (after saying so) outside CI when the variable is unset; in CI it must be set.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(|_| {}).await
    }

    /// PostgreSQL, with `adjust` applied to the configuration first.
    pub async fn postgres_with(adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let db = PgDatabase::create().await?;
        let dir = tempfile::Builder::new()
            .prefix("bvapi")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let mut config = Config::new(dir.path().to_path_buf());
        config.database_url = Some(db.url.clone());
        adjust(&mut config);
        Some(Self::start(dir, config, Some((db.admin_url, db.name))).await)
    }

    async fn start(
        data_dir: tempfile::TempDir,
        config: Config,
        pg_cleanup: Option<(String, String)>,
    ) -> Self {
        let database_url = config.database_url();
        let server = api::server::start(config.clone())
            .await
            .expect("server starts");
        let admin_token = server
            .new_admin_token
            .clone()
            .expect("first start makes an admin token");
        Self {
            server,
            admin_token,
            data_dir,
            database_url,
            config,
            pg_cleanup,
        }
    }

    /// Another replica on the same database and master key, with its own data dir (kept in
    /// `dir`), configured by `adjust`.
    pub async fn replica(
        &self,
        dir: &tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> Running {
        let mut config = Config::new(dir.path().to_path_buf());
        config.database_url = Some(self.database_url.clone());
        config.master_key_file = Some(self.config.master_key_path());
        config.janitor_every_secs = self.config.janitor_every_secs;
        adjust(&mut config);
        let replica = api::server::start(config).await.expect("replica starts");
        assert!(
            replica.new_admin_token.is_none(),
            "the first replica made the admin"
        );
        replica
    }

    pub async fn channel(&self) -> Channel {
        channel_to(&self.server).await
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
        if let Some((admin_url, name)) = self.pg_cleanup {
            drop_database(&admin_url, &name).await;
        }
    }
}

/// A gRPC channel to a server (any replica).
pub async fn channel_to(server: &Running) -> Channel {
    Channel::from_shared(server.url())
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

/// A database of its own on the PostgreSQL server named by `BV_API_TEST_PG_URL`.
pub struct PgDatabase {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// None (after saying so) outside CI when the variable is unset; in CI it must be set.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("BV_API_TEST_PG_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("BV_API_TEST_PG_URL must be set in CI (scripts/start-postgres exports it)");
            }
            eprintln!(
                "SKIPPING PostgreSQL test: BV_API_TEST_PG_URL is not set (run scripts/start-postgres)"
            );
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("bvapi_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .expect("connect to BV_API_TEST_PG_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin_url).expect("BV_API_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    pub async fn drop_now(self) {
        drop_database(&self.admin_url, &self.name).await;
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = sqlx::AnyConnection::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

#[derive(Clone)]
pub struct Bearer(pub Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub fn bearer(token: &str) -> Bearer {
    Bearer(Some(
        format!("Bearer {token}").parse().expect("ascii token"),
    ))
}

pub type Svc = InterceptedService<Channel, Bearer>;

/// Every client, authenticated with one token.
pub struct Clients {
    pub auth: pb::auth_service_client::AuthServiceClient<Svc>,
    pub keys: pb::api_key_service_client::ApiKeyServiceClient<Svc>,
    pub users: pb::user_service_client::UserServiceClient<Svc>,
    pub protocols: pb::protocol_service_client::ProtocolServiceClient<Svc>,
    pub images: pb::image_service_client::ImageServiceClient<Svc>,
    pub archives: pb::archive_service_client::ArchiveServiceClient<Svc>,
    pub hosts: pb::host_service_client::HostServiceClient<Svc>,
    pub nodes: pb::node_service_client::NodeServiceClient<Svc>,
    pub commands: pb::command_service_client::CommandServiceClient<Svc>,
    pub secrets: pb::secret_service_client::SecretServiceClient<Svc>,
}

impl Clients {
    pub fn new(channel: Channel, auth: Bearer) -> Self {
        Self {
            auth: pb::auth_service_client::AuthServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            keys: pb::api_key_service_client::ApiKeyServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            users: pb::user_service_client::UserServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            protocols: pb::protocol_service_client::ProtocolServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            images: pb::image_service_client::ImageServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            archives: pb::archive_service_client::ArchiveServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            hosts: pb::host_service_client::HostServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            nodes: pb::node_service_client::NodeServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            commands: pb::command_service_client::CommandServiceClient::with_interceptor(
                channel.clone(),
                auth.clone(),
            ),
            secrets: pb::secret_service_client::SecretServiceClient::with_interceptor(
                channel, auth,
            ),
        }
    }
}
