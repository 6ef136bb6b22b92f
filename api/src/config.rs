//! Server configuration (command-line flags, each also settable from the environment).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::console::ConsoleConfig;
use crate::storage::s3::S3Config;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Directory for the SQLite database, chunk files, master key and admin token.
    #[arg(long, env = "BV_API_DATA_DIR", default_value = "bv-api-data")]
    pub data_dir: PathBuf,
    /// Address for gRPC and the chunk HTTP routes (port 0 picks a free one).
    #[arg(long, env = "BV_API_LISTEN", default_value = "127.0.0.1:8770")]
    pub listen: SocketAddr,
    /// Database URL (`sqlite://...` or `postgres://...`); default SQLite in the data dir.
    #[arg(long, env = "BV_API_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base URL hosts use to reach this server's chunk routes; default `http://<listen>`
    /// (`https://` with `--tls-cert`).
    #[arg(long, env = "BV_API_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// File with the 32-byte master key (hex); default `<data-dir>/master.key`, created when
    /// missing. Every replica must use the same key.
    #[arg(long, env = "BV_API_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Email of the admin user created on first start.
    #[arg(long, env = "BV_API_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,
    /// Store chunks in this S3 bucket instead of the data dir.
    #[arg(long, env = "BV_API_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "BV_API_S3_REGION")]
    pub s3_region: Option<String>,
    /// S3-compatible endpoint (e.g. `http://127.0.0.1:9000`).
    #[arg(long, env = "BV_API_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "BV_API_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    #[arg(long, env = "BV_API_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allow plain-HTTP S3 endpoints.
    #[arg(long, env = "BV_API_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// PEM certificate chain: gRPC and the chunk routes speak TLS (with `--tls-key`). The
    /// files are re-read when they change, so a renewed certificate needs no restart.
    #[arg(long, env = "BV_API_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "BV_API_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the certificate files for a renewal.
    #[arg(
        long,
        env = "BV_API_TLS_RELOAD_SECS",
        default_value_t = 10,
        hide = true
    )]
    pub tls_reload_secs: u64,
    /// Seconds between rounds of periodic upkeep (one replica at a time does it).
    #[arg(
        long,
        env = "BV_API_JANITOR_EVERY_SECS",
        default_value_t = 30,
        hide = true
    )]
    pub janitor_every_secs: u64,
    #[command(flatten)]
    pub console: ConsoleConfig,
}

impl Config {
    /// Defaults for a data dir (tests and embedding).
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            public_url: None,
            master_key_file: None,
            admin_email: "admin@localhost".to_string(),
            s3_bucket: None,
            s3_region: None,
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 10,
            janitor_every_secs: 30,
            console: ConsoleConfig::default(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("api.db").display()))
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    pub fn s3(&self) -> Option<S3Config> {
        self.s3_bucket.as_ref().map(|bucket| S3Config {
            bucket: bucket.clone(),
            region: self.s3_region.clone(),
            endpoint: self.s3_endpoint.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            allow_http: self.s3_allow_http,
        })
    }
}
