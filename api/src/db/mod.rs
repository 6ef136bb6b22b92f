//! Database access: one code path for SQLite and PostgreSQL through the sqlx `Any` driver.
//! The schema uses only TEXT and BIGINT so the same SQL runs on both; migrations are
//! embedded in the binary. One module per table family.

pub mod archives;
pub mod codec;
pub mod commands;
pub mod hosts;
pub mod images;
pub mod leases;
pub mod nodes;
pub mod protocols;
pub mod secrets;
pub mod tokens;
pub mod users;

use std::borrow::Cow;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value of {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

pub type DbResult<T> = Result<T, DbError>;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "leases", include_str!("migrations/0002_leases.sql")),
];

/// A connection pool plus what the code needs to know about the backend.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub postgres: bool,
}

impl Db {
    /// Connects (creating a SQLite file when missing) and runs the embedded migrations.
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres");
        let url = if !postgres && !url.contains("mode=") && url != "sqlite::memory:" {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_string()
        };
        let max = if postgres { 16 } else { 4 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let db = Self { pool, postgres };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> DbResult<()> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A strictly increasing sequence number (microseconds, bumped on ties) for ordering rows
/// made in the same millisecond.
pub fn next_seq() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
