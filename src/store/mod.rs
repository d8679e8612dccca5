//! The only place with SQL. A [`Db`] wraps an sqlx `Any` pool so the same repositories run
//! on SQLite (the embedded default) and Postgres (the scale-out store); queries use `$n`
//! placeholders and portable types (every integer is read as `i64`, booleans are 0/1, JSON is
//! text), and each backend has its own embedded migrations (`migrations/sqlite`,
//! `migrations/postgres`) applied on connect.

pub mod accounts;
mod cache;
pub mod directory;
pub mod documents;
pub mod federation;
pub mod filter;
pub mod keys;
pub mod lifecycle;
pub mod notify;
pub mod policy;
pub mod service_accounts;
pub mod tenants;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

/// A failure of the store, classified for the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (maps to 409).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database could not be reached, or is restarting, shutting down or full of
    /// connections (maps to 503 with `Retry-After`: the request may succeed when retried).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row holds data this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error (a bug: maps to 500).
    #[error("database error: {0}")]
    Other(sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Every sqlx error that reaches the store's callers is classified here, also when it is
/// propagated with `?`: a lost connection is never reported as a bug.
/// The one classification of a database error: a lost or restarting database is
/// `Unavailable` (503), a unique-constraint violation a `Conflict` (409; [`StoreError::classify`]
/// names what conflicted), anything else a bug (500). Every store function answers with `?`.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            _ if is_connection_loss(&e) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("row"),
            _ => StoreError::Other(e),
        }
    }
}

/// SQLSTATEs (Postgres) that say the server, not the query, failed: the whole class `08`
/// (connection exception), `57P01` admin_shutdown ("terminating connection due to
/// administrator command"), `57P02` crash_shutdown, `57P03` cannot_connect_now (starting
/// up or in recovery) and `53300` too_many_connections.
const UNAVAILABLE_SQLSTATES: [&str; 4] = ["57P01", "57P02", "57P03", "53300"];

/// SQLite primary result codes that say the database is held by someone else past the busy
/// timeout: `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6). sqlx reports extended codes, whose low
/// byte is the primary one.
const UNAVAILABLE_SQLITE_CODES: [i64; 2] = [5, 6];

/// Whether an sqlx error means the database could not be reached or refused to serve
/// (retrying later may succeed) rather than a bug in the query or the data.
pub fn is_connection_loss(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// [`is_connection_loss`] for a database error's code: a SQLSTATE on Postgres, a decimal
/// (extended) result code on SQLite.
fn unavailable_code(code: &str) -> bool {
    // SQLSTATEs are five characters; SQLite's extended result codes have at most four digits.
    if code.len() == 5 {
        return code.starts_with("08") || UNAVAILABLE_SQLSTATES.contains(&code);
    }
    code.parse::<i64>()
        .is_ok_and(|n| UNAVAILABLE_SQLITE_CODES.contains(&(n & 0xff)))
}

impl StoreError {
    /// Classifies an sqlx error, turning unique violations into [`StoreError::Conflict`] and
    /// connection-level failures into [`StoreError::Unavailable`].
    pub fn classify(e: sqlx::Error, what: &'static str) -> Self {
        match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(what),
            other => other,
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: one process (or several on one machine) at a time.
    Sqlite,
    /// A Postgres server shared by any number of instances.
    Postgres,
}

impl Backend {
    /// The backend a `--database-url` names, or None for any other scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{user}{hidden}@{host}")
        }
        None => authority.to_owned(),
    };
    // a password may also come as a query parameter (`?password=...`)
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Handle to the database (cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    pool: sqlx::AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    accounts: std::sync::Arc<accounts::Accounts>,
    documents: std::sync::Arc<documents::Cache>,
    directory: std::sync::Arc<directory::Directory>,
    /// The newest policy version this process wrote (see [`Db::wrote_version`]).
    local_version: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Tests: reads of the policy (its version or all of it) through this handle.
    #[cfg(any(test, feature = "test-util"))]
    policy_reads: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Tests: reads of the policy never answer (a database partitioned away).
    #[cfg(any(test, feature = "test-util"))]
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects and applies the embedded migrations of the URL's backend: `sqlite:` (the file
    /// is created if missing) or `postgres://` (the database must exist).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => Self::connect_sqlite(url).await,
            Some(Backend::Postgres) => Self::connect_postgres(url).await,
            None => Err(StoreError::Unavailable(format!(
                "{}: the database URL must start with sqlite: or postgres://",
                redacted(url)
            ))),
        }
    }

    fn new(pool: sqlx::AnyPool, backend: Backend, url: &str) -> Self {
        Self {
            pool,
            backend,
            url: url.into(),
            accounts: Default::default(),
            documents: std::sync::Arc::new(documents::Cache::new(backend == Backend::Sqlite)),
            directory: Default::default(),
            local_version: Default::default(),
            #[cfg(any(test, feature = "test-util"))]
            policy_reads: Default::default(),
            #[cfg(any(test, feature = "test-util"))]
            stalled: Default::default(),
        }
    }

    async fn connect_postgres(url: &str) -> StoreResult<Self> {
        // A request waits at most this long for a connection: longer only delays the 503 (or,
        // with --on-store-loss serve, the cached answer) when the server is gone.
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(2))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", redacted(url))))?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(Self::new(pool, Backend::Postgres, url))
    }

    async fn connect_sqlite(url: &str) -> StoreResult<Self> {
        // The Any driver only takes URL options, so the file is first created and switched
        // to WAL (a persistent setting) through the native SQLite options.
        let native = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad database URL: {e}")))?;
        private_file(native.get_filename())?;
        let native = native
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let conn = sqlx::ConnectOptions::connect(&native)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        sqlx::Connection::close(conn).await?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // Freed content (a retired signing seed, a replaced password hash, a deleted row)
            // is overwritten with zeros instead of lingering in the file's free space. A
            // per-connection setting, so on every connection.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA secure_delete = ON")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        SQLITE_MIGRATOR.run(&pool).await?;
        Ok(Self::new(pool, Backend::Sqlite, url))
    }

    /// The backend this handle talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for the repositories in this module.
    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    /// The account-row cache (see [`accounts`]).
    pub(crate) fn accounts(&self) -> &std::sync::Arc<accounts::Accounts> {
        &self.accounts
    }

    pub(crate) fn documents(&self) -> &documents::Cache {
        &self.documents
    }

    /// The tenants' member directories (see [`directory`]).
    pub fn directory(&self) -> &directory::Directory {
        &self.directory
    }

    /// Records that this process is writing policy version `version`.
    pub(crate) fn note_local_version(&self, version: i64) {
        self.local_version
            .fetch_max(version, std::sync::atomic::Ordering::AcqRel);
    }

    /// Whether policy version `version` (or a newer one) was written by this process: its
    /// writer brings this instance's engine to it, so an announcement of it needs no reload.
    pub fn wrote_version(&self, version: i64) -> bool {
        self.local_version
            .load(std::sync::atomic::Ordering::Acquire)
            >= version
    }

    /// Forgets every cached account and session (after accounts were changed in a way that is
    /// announced nowhere, such as SQL run by hand on SQLite).
    pub fn forget_cached_accounts(&self) {
        self.accounts.invalidate();
    }

    /// SQLite: moves the write-ahead log into the database file and empties it, so content
    /// just erased (with `secure_delete`, which zeroes it in the pages) leaves no older copy
    /// in the log's frames. Waits (busy timeout) for readers of older snapshots; if some
    /// still hold one, the log is emptied by a later checkpoint and a warning says so.
    /// Postgres: nothing (its dead tuples are reclaimed by VACUUM).
    pub(crate) async fn truncate_wal(&self) -> StoreResult<()> {
        use sqlx::Row;
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        if row.try_get::<i64, _>(0)? != 0 {
            tracing::warn!(
                "the SQLite write-ahead log could not be emptied (a reader holds an older \
                 snapshot): erased content stays in it until the next checkpoint"
            );
        }
        Ok(())
    }

    /// True when a trivial query succeeds.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Called before every read of the policy: tests count them
    /// ([`Db::policy_reads_for_tests`]) and can make them hang ([`Db::stall_for_tests`]).
    pub(crate) async fn policy_read(&self) {
        #[cfg(any(test, feature = "test-util"))]
        {
            use std::sync::atomic::Ordering::Relaxed;
            self.policy_reads.fetch_add(1, Relaxed);
            while self.stalled.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// Tests: while `stalled`, every read of the policy waits without an answer or an error,
    /// as a query does when the database is partitioned away (packets dropped, no reset).
    #[cfg(any(test, feature = "test-util"))]
    pub fn stall_for_tests(&self, stalled: bool) {
        self.stalled
            .store(stalled, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tests: how many times the policy version (or the whole policy) was read through this
    /// handle.
    #[cfg(any(test, feature = "test-util"))]
    pub fn policy_reads_for_tests(&self) -> u64 {
        self.policy_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the pool; every later query fails (tests use this to simulate an outage).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the database file readable by its owner only (it holds password hashes, refresh
/// token hashes and, unless `--signing-key-file` is used, the signing key), or narrows an
/// existing one that others could read. SQLite gives its `-wal` and `-shm` files the mode of
/// the database file, so they follow. In-memory databases have no file.
fn private_file(path: &std::path::Path) -> StoreResult<()> {
    let unavailable = |e: std::io::Error| {
        StoreError::Unavailable(format!("database file {}: {e}", path.display()))
    };
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)
                    .map_err(unavailable)?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        "the database file was readable by others; narrowing it to 0600"
                    );
                    for suffix in ["", "-wal", "-shm"] {
                        let mut p = path.as_os_str().to_owned();
                        p.push(suffix);
                        if std::path::Path::new(&p).exists() {
                            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                                .map_err(unavailable)?;
                        }
                    }
                }
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(())
}

/// Runs raw SQL (tests use it to simulate failures, e.g. a trigger that aborts a write).
#[cfg(any(test, feature = "test-util"))]
pub async fn execute_for_tests(db: &Db, sql: &'static str) -> StoreResult<()> {
    let _written = db.documents().write();
    sqlx::query(sql).execute(db.pool()).await?;
    Ok(())
}

/// Runs a raw `SELECT COUNT(*) ...` (tests use it to look at rows no API shows).
#[cfg(any(test, feature = "test-util"))]
pub async fn count_for_tests(db: &Db, sql: &'static str) -> StoreResult<i64> {
    use sqlx::Row;
    let row = sqlx::query(sql).fetch_one(db.pool()).await?;
    row.try_get::<i64, _>(0).map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database error with a given code, as a driver reports it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "a database error"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn coded(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    #[test]
    fn a_lost_restarting_or_busy_database_is_unavailable_and_anything_else_is_a_bug() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let unavailable = [
            sqlx::Error::Io(io()),
            sqlx::Error::Tls("handshake".into()),
            sqlx::Error::Protocol("unexpected message".into()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            coded("08006"), // connection_failure
            coded("08003"), // connection_does_not_exist
            coded("57P01"), // admin_shutdown
            coded("57P02"), // crash_shutdown
            coded("57P03"), // cannot_connect_now
            coded("53300"), // too_many_connections
            coded("5"),     // SQLITE_BUSY
            coded("517"),   // SQLITE_BUSY_SNAPSHOT
            coded("6"),     // SQLITE_LOCKED
        ];
        for e in unavailable {
            let shown = e.to_string();
            assert!(
                matches!(StoreError::from(e), StoreError::Unavailable(_)),
                "{shown} is not unavailable"
            );
        }
        let bugs = [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("version".into()),
            coded("42601"), // syntax_error
            coded("42P01"), // undefined_table
            coded("22P02"), // invalid_text_representation
            coded("57014"), // query_canceled: a statement timeout is not a lost server
            coded("1"),     // SQLITE_ERROR
            coded("11"),    // SQLITE_CORRUPT
            coded("2067"),  // SQLITE_CONSTRAINT_UNIQUE, outside classify
        ];
        for e in bugs {
            let shown = e.to_string();
            assert!(
                matches!(StoreError::from(e), StoreError::Other(_)),
                "{shown} is not a bug"
            );
        }
        assert!(matches!(
            StoreError::classify(coded("57P01"), "user"),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn urls_lose_their_password_and_nothing_else() {
        for (url, shown) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "postgresql://u:p@ss@h/db?sslmode=require",
                "postgresql://u:***@h/db?sslmode=require",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h/db", "postgres://h/db"),
            ("sqlite://warden.db", "sqlite://warden.db"),
            (
                "postgres://u@h/db?sslmode=disable&password=x",
                "postgres://u@h/db?sslmode=disable&password=***",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }
}
