//! Database access: one code path for SQLite and PostgreSQL through the sqlx `Any` driver.
//! The schema uses only TEXT and BIGINT so the same SQL runs on both; migrations are
//! embedded in the binary. One module per table family.

pub mod archives;
pub mod codec;
pub mod commands;
pub mod figures;
pub mod hosts;
pub mod images;
pub mod job_logs;
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
    #[error("stored value of {what} is corrupt: {source}")]
    Corrupt {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("database file permissions: {0}")]
    Files(#[from] std::io::Error),
}

pub type DbResult<T> = Result<T, DbError>;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (2, "leases", include_str!("migrations/0002_leases.sql")),
    (3, "figures", include_str!("migrations/0003_figures.sql")),
    (
        4,
        "command_retry",
        include_str!("migrations/0004_command_retry.sql"),
    ),
];

/// A connection pool plus what the code needs to know about the backend.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub postgres: bool,
}

/// The database file of a `sqlite://` URL (none for memory databases and other backends).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The database and its `-wal` / `-shm` companions readable by the owner only (the database
/// holds password hashes): the main file is created 0600 before SQLite opens it.
fn private_sqlite_files(db: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !db.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db)?;
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
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
        if let Some(path) = sqlite_file(&url) {
            private_sqlite_files(&path)?;
        }
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
        // WAL mode made `-wal` / `-shm` by now; SQLite gives them the database's mode, but
        // files left by an older version may be wider.
        if let Some(path) = sqlite_file(&url) {
            private_sqlite_files(&path)?;
        }
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

#[cfg(test)]
mod file_mode_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn sqlite_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api.db");
        let db = Db::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(&db.pool).await.unwrap();
        assert_eq!(mode(&file), 0o600);
        for suffix in ["-wal", "-shm"] {
            let companion = dir.path().join(format!("api.db{suffix}"));
            if companion.exists() {
                assert_eq!(mode(&companion), 0o600, "{}", companion.display());
            }
        }
        drop(db);
        // A database left world-readable by an older version is tightened on open.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _db = Db::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn only_sqlite_files_are_touched() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/api.db?mode=rwc"),
            Some(std::path::PathBuf::from("/var/lib/api.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
