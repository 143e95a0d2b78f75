//! [`SqliteIdempotencyStore`]: delivery ids in the SQLite database of the
//! embedded store (features `webhooks` and `sqlite`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, params};

use super::idempotency::{DEFAULT_TTL, DeliveryStatus, IdempotencyStore};
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::sqlite::SqliteStore;

/// The table, created on open if missing. It is independent of the store's own
/// schema version: [`SqliteStore`] never touches it, and it never touches theirs.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_expiry ON webhook_deliveries (expires_at);
";

/// Expired rows are deleted every this many calls (with the call's `now`).
const PURGE_EVERY: u64 = 1024;

/// An [`IdempotencyStore`] in SQLite: the `webhook_deliveries` table, normally in
/// the same database file as the [`SqliteStore`] the pipeline writes to (see
/// [`beside`](Self::beside)), so ids survive restarts and are shared by every
/// process on the host.
///
/// It uses its own connection: the store's connection may be inside an atomic
/// import run, and a delivery must not be recorded (or forgotten) by that run's
/// commit or rollback. SQLite serialises the writers; a busy database waits up
/// to five seconds, then fails with a retryable
/// [`Unavailable`](ErrorKind::Unavailable) error. Calls block for one statement,
/// like the store's (see the [sink docs](crate::sink#blocking-io)).
///
/// ```
/// use chrono::Utc;
/// use connector_core::webhook::{DeliveryStatus, IdempotencyStore, SqliteIdempotencyStore};
///
/// # futures::executor::block_on(async {
/// let store = SqliteIdempotencyStore::open_in_memory().unwrap();
/// let now = Utc::now();
/// assert_eq!(store.check_and_record("github:1", now).await.unwrap(), DeliveryStatus::Fresh);
/// assert_eq!(store.check_and_record("github:1", now).await.unwrap(), DeliveryStatus::Duplicate);
/// # });
/// ```
pub struct SqliteIdempotencyStore {
    conn: Mutex<Connection>,
    ttl: Duration,
    calls: AtomicU64,
}

impl std::fmt::Debug for SqliteIdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteIdempotencyStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn db_err(what: &'static str) -> impl Fn(rusqlite::Error) -> ConnectorError {
    move |err| {
        let busy = matches!(
            err.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        );
        let kind = if busy {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Unexpected
        };
        ConnectorError::new(
            kind,
            format!("webhook idempotency store: could not {what}: {err}"),
        )
        .with_operation("webhook_idempotency")
        .with_source(err)
    }
}

impl SqliteIdempotencyStore {
    /// Opens (or creates) the database at `path` and the `webhook_deliveries` table.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or the table cannot be created.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path.as_ref()).map_err(db_err("open the database"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_err("enable WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "webhook idempotency store: WAL mode unavailable");
        }
        Self::init(conn)
    }

    /// Opens the database file of `store` (a second connection to it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `store` is in memory (an in-memory database
    /// cannot be shared between connections; use
    /// [`open_in_memory`](Self::open_in_memory)), or as [`open`](Self::open).
    pub fn beside(store: &SqliteStore) -> Result<Self> {
        let path = store.path().ok_or_else(|| {
            ConnectorError::config(
                "the SQLite store is in memory, so the webhook idempotency store cannot share \
                 its database; open both on a file",
            )
        })?;
        Self::open(path)
    }

    /// An in-memory database, for tests.
    ///
    /// # Errors
    ///
    /// When SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(db_err("open the database"))?)
    }

    fn init(conn: Connection) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_err("set the busy timeout"))?;
        conn.execute_batch(SCHEMA)
            .map_err(db_err("create the webhook_deliveries table"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            ttl: DEFAULT_TTL,
            calls: AtomicU64::new(0),
        })
    }

    /// Sets how long an id is remembered. Default: [`DEFAULT_TTL`].
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Deletes the ids expired at `now`, returning how many. Runs every 1,024
    /// calls of [`check_and_record`](IdempotencyStore::check_and_record); call it
    /// from a timer for a tighter bound.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let n = self
            .lock()
            .execute(
                "DELETE FROM webhook_deliveries WHERE expires_at <= ?1",
                params![now.timestamp()],
            )
            .map_err(db_err("purge expired deliveries"))?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// How many ids the table holds (expired ones included until purged).
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn len(&self) -> Result<u64> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0))
            .map_err(db_err("count deliveries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether the table holds no id.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl IdempotencyStore for SqliteIdempotencyStore {
    async fn check_and_record(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryStatus> {
        if self.calls.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            self.purge_expired(now)?;
        }
        let now = now.timestamp();
        let expires_at = now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX));
        // One statement, so it is atomic across connections: a new id is
        // inserted, an expired one is renewed, a live one is left alone.
        let changed = self
            .lock()
            .execute(
                "INSERT INTO webhook_deliveries (delivery_id, received_at, expires_at) \
                 VALUES (?1, ?2, ?3) \
                 ON CONFLICT (delivery_id) DO UPDATE SET \
                 received_at = excluded.received_at, expires_at = excluded.expires_at \
                 WHERE webhook_deliveries.expires_at <= ?2",
                params![delivery_id, now, expires_at],
            )
            .map_err(db_err("record a delivery"))?;
        Ok(if changed == 0 {
            DeliveryStatus::Duplicate
        } else {
            DeliveryStatus::Fresh
        })
    }

    async fn forget(&self, delivery_id: &str) -> Result<()> {
        self.lock()
            .execute(
                "DELETE FROM webhook_deliveries WHERE delivery_id = ?1",
                params![delivery_id],
            )
            .map_err(db_err("forget a delivery"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures::executor::block_on;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    #[test]
    fn records_expires_forgets_and_purges() {
        block_on(async {
            let store = SqliteIdempotencyStore::open_in_memory()
                .unwrap()
                .with_ttl(Duration::from_secs(60));
            assert_eq!(
                store.check_and_record("a", at(0)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            assert_eq!(
                store.check_and_record("a", at(59)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            assert_eq!(
                store.check_and_record("a", at(60)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            assert_eq!(
                store.check_and_record("a", at(119)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            store.forget("a").await.unwrap();
            assert_eq!(
                store.check_and_record("a", at(120)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            store.check_and_record("b", at(120)).await.unwrap();
            assert_eq!(store.len().unwrap(), 2);
            assert_eq!(store.purge_expired(at(180)).unwrap(), 2);
            assert_eq!(store.len().unwrap(), 0);
        });
    }

    #[test]
    fn shares_the_pipeline_store_file_and_survives_reopening() {
        block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.db");
            let pipeline_store = SqliteStore::open(&path).unwrap();
            let first = SqliteIdempotencyStore::beside(&pipeline_store).unwrap();
            assert_eq!(
                first.check_and_record("github:1", at(0)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            drop(first);
            // A second process (connection) on the same file sees the id.
            let second = SqliteIdempotencyStore::open(&path).unwrap();
            assert_eq!(
                second.check_and_record("github:1", at(1)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            // The pipeline store still opens and works with the extra table present.
            drop(pipeline_store);
            let reopened = SqliteStore::open(&path).unwrap();
            assert_eq!(reopened.count_records("org", "github").unwrap(), 0);

            let in_memory = SqliteStore::open_in_memory().unwrap();
            let err = SqliteIdempotencyStore::beside(&in_memory).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
        });
    }
}
