//! The embedded SQLite store (feature `sqlite`).
//!
//! [`SqliteStore`] is one SQLite database (rusqlite, SQLite bundled) that holds
//! everything an embedded import needs:
//!
//! | table | what |
//! |---|---|
//! | `scopes` | one row per (organization, connector, entity): the integer `scope` the per-record tables use |
//! | `job_ids` | one row per job that wrote records: the integer `job` the per-record tables use |
//! | `records` | one row per record, `UNIQUE(scope, external_id)`, the record as JSON and its history (first and last job, last action, when) |
//! | `relationships` | the relationships each record carries, and whether their target is stored |
//! | `sync_log` | the history of each external id whose record was deleted (first and last job, when, when deleted), until it comes back |
//! | `checkpoints` | one checkpoint per stream, written **in the same transaction as the batch it covers** |
//! | `import_jobs` | every import job with its status, stage and counts |
//! | `audit_events` | who did what, when, to how many records, and whether it worked |
//! | `credentials` | connector credentials sealed by the [vault](crate::vault) |
//!
//! The store's own times (`first_imported_at`, `last_imported_at`,
//! `first_synced_at`, `last_synced_at`) are nanoseconds since the Unix epoch (UTC);
//! times from the source and the other tables' times are RFC 3339 text. A database
//! of schema version 1 (text keys in every row) is upgraded when opened, in one
//! transaction.
//!
//! It is a [`Sink`] (transactional, storing checkpoints: exactly-once loads), a
//! [`StateStore`], an [`ImportJournal`] and the vault's storage. The database runs
//! in WAL mode with `synchronous = FULL`, so a committed batch survives a power cut.
//!
//! # Blocking and concurrency
//!
//! Calls run SQLite directly inside the async methods (blocking for one batch's
//! statements and an fsync); see the [sink module docs](crate::sink#blocking-io).
//! The exceptions are [`write_batch`](Sink::write_batch) of 64 or more records and
//! [`lookup`](Sink::lookup) of 64 or more keys: they run (serialising, the
//! statements and the fsync) on a thread of the store's own (one for writes, one
//! for lookups, started at the first and stopped when the store is dropped), so
//! the import pipeline reads the next pages meanwhile (dropping the call waits for
//! the work, so a write is always finished once its call is gone).
//!
//! One store value serves one run at a time: between `begin` and `commit` of an
//! atomic run, every other call on the same store takes part in that transaction.
//! For concurrent runs open one store per run on the same file; SQLite serialises
//! writers (a busy database waits up to five seconds, then fails with a retryable
//! [`Unavailable`](ErrorKind::Unavailable) error).
//!
//! A file store has a second connection for [`lookup`](Sink::lookup): outside an
//! atomic run, a lookup reads the last commit without waiting for a write under
//! way (the import pipeline looks the next batch up meanwhile); inside one it uses
//! the writing connection, which alone sees what the run wrote. SQLite's automatic
//! checkpoint (copying the WAL into the database file, inside the commit that
//! fills it past the threshold) is replaced by a passive checkpoint on a thread
//! and connection of its own, started by that commit; dropping the store waits
//! for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::name::Name;
use crate::pipeline::{AuditEvent, Counts, ImportJob, ImportJournal, JobStatus, Stage};
use crate::record::{Record, Relationship, RelationshipKind};
use crate::sink::{
    Batch, RecordKey, RelationshipReport, RollbackOutcome, RunScope, Sink, SinkInfo, WriteAction,
};
use crate::state::{Checkpoint, StateKey, StateStore};
use crate::vault::{CredentialVault, SealedCredentials};

const SCHEMA_VERSION: i64 = 3;

/// How much WAL (in bytes) the store lets grow before SQLite copies it into the
/// database file.
const WAL_CHECKPOINT_BYTES: i64 = 40 * 1024 * 1024;

/// The tables of a new database (schema version 3).
///
/// Per-record rows carry integers where version 1 repeated text: `scope` (the
/// organization, connector and entity, interned in `scopes`), `job` (the job id,
/// interned in `job_ids`) and the store's own timestamps as nanoseconds since the
/// Unix epoch (UTC). Timestamps taken from the source stay RFC 3339 text.
///
/// A stored record's sync history is in its own row (`first_job`, `job` the last
/// one, `last_action`, `first_imported_at`, `last_imported_at`); `sync_log` holds
/// only the history of deleted records (version 2 kept a `sync_log` row for every
/// record, a second B-tree insert per write). The two columns version 3 added come
/// last, with defaults, so a new and an upgraded file have the same layout.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY,
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entity TEXT NOT NULL,
    UNIQUE (organization, connector, entity)
);
CREATE TABLE IF NOT EXISTS job_ids (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    scope INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    record TEXT NOT NULL,
    source_created_at TEXT,
    source_updated_at TEXT,
    first_imported_at INTEGER NOT NULL,
    last_imported_at INTEGER NOT NULL,
    job INTEGER NOT NULL,
    first_job INTEGER NOT NULL DEFAULT 0,
    last_action TEXT NOT NULL DEFAULT 'create',
    UNIQUE (scope, external_id)
);
CREATE TABLE IF NOT EXISTS relationships (
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    owner_entity TEXT NOT NULL,
    owner_external_id TEXT NOT NULL,
    from_type TEXT NOT NULL,
    from_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    to_type TEXT NOT NULL,
    to_id TEXT NOT NULL,
    strength INTEGER NOT NULL,
    bidirectional INTEGER NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0,
    UNIQUE (organization, connector, owner_entity, owner_external_id, from_type, from_id, kind, to_type, to_id)
);
CREATE INDEX IF NOT EXISTS relationships_target
    ON relationships (organization, connector, to_type, to_id);
CREATE TABLE IF NOT EXISTS sync_log (
    scope INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    first_job INTEGER NOT NULL,
    last_job INTEGER NOT NULL,
    last_action TEXT NOT NULL,
    first_synced_at INTEGER NOT NULL,
    last_synced_at INTEGER NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (scope, external_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entity TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (organization, connector, entity)
);
CREATE TABLE IF NOT EXISTS import_jobs (
    id TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entities TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    counts TEXT NOT NULL,
    actor TEXT,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS import_jobs_by_connector
    ON import_jobs (organization, connector, started_at);
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    organization TEXT NOT NULL,
    resource TEXT NOT NULL,
    job_id TEXT,
    records INTEGER NOT NULL,
    success INTEGER NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS credentials (
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (organization, name)
);
";

/// Renames the version-1 tables whose layout changed, before [`SCHEMA`] creates
/// their version-2 successors.
const MIGRATE_V1_BEFORE: &str = "
ALTER TABLE records RENAME TO records_v1;
ALTER TABLE sync_log RENAME TO sync_log_v1;
";

/// Copies the version-1 rows into the version-2 tables (keeping record ids) and
/// drops the old tables. Version 1 wrote the store's own timestamps as fixed-width
/// RFC 3339 UTC text with nine fraction digits, converted here to nanoseconds.
const MIGRATE_V1_AFTER: &str = "
INSERT OR IGNORE INTO scopes (organization, connector, entity)
    SELECT organization, connector, entity FROM records_v1
    UNION SELECT organization, connector, entity FROM sync_log_v1;
INSERT OR IGNORE INTO job_ids (job_id)
    SELECT job_id FROM records_v1
    UNION SELECT first_job_id FROM sync_log_v1
    UNION SELECT last_job_id FROM sync_log_v1;
INSERT INTO records (id, scope, external_id, record, source_created_at, source_updated_at,
    first_imported_at, last_imported_at, job)
    SELECT r.id, s.id, r.external_id, r.record, r.source_created_at, r.source_updated_at,
        unixepoch(substr(r.first_imported_at, 1, 19)) * 1000000000
            + CAST(substr(r.first_imported_at, 21, 9) AS INTEGER),
        unixepoch(substr(r.last_imported_at, 1, 19)) * 1000000000
            + CAST(substr(r.last_imported_at, 21, 9) AS INTEGER),
        j.id
    FROM records_v1 r
    JOIN scopes s ON s.organization = r.organization AND s.connector = r.connector
        AND s.entity = r.entity
    JOIN job_ids j ON j.job_id = r.job_id;
INSERT INTO sync_log (scope, external_id, first_job, last_job, last_action, first_synced_at,
    last_synced_at, deleted_at)
    SELECT s.id, l.external_id, fj.id, lj.id, l.last_action,
        unixepoch(substr(l.first_synced_at, 1, 19)) * 1000000000
            + CAST(substr(l.first_synced_at, 21, 9) AS INTEGER),
        unixepoch(substr(l.last_synced_at, 1, 19)) * 1000000000
            + CAST(substr(l.last_synced_at, 21, 9) AS INTEGER),
        l.deleted_at
    FROM sync_log_v1 l
    JOIN scopes s ON s.organization = l.organization AND s.connector = l.connector
        AND s.entity = l.entity
    JOIN job_ids fj ON fj.job_id = l.first_job_id
    JOIN job_ids lj ON lj.job_id = l.last_job_id;
DROP TABLE records_v1;
DROP TABLE sync_log_v1;
";

/// Adds version 3's record columns to a version-2 database.
const MIGRATE_V2: &str = "
ALTER TABLE records ADD COLUMN first_job INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN last_action TEXT NOT NULL DEFAULT 'create';
";

/// Moves the history of every stored record from `sync_log` into its `records`
/// row (the first sync time, which outlives a deletion, becomes
/// `first_imported_at`); `sync_log` keeps only deleted keys. The last step of the
/// upgrades from versions 1 and 2.
const FOLD_SYNC_LOG: &str = "
UPDATE records SET first_job = l.first_job, last_action = l.last_action,
    first_imported_at = l.first_synced_at
    FROM sync_log l WHERE l.scope = records.scope AND l.external_id = records.external_id;
UPDATE records SET first_job = job WHERE first_job = 0;
DELETE FROM sync_log WHERE EXISTS (SELECT 1 FROM records r
    WHERE r.scope = sync_log.scope AND r.external_id = sync_log.external_id);
";

/// The sync history of one external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncLogEntry {
    /// The record's key.
    pub key: RecordKey,
    /// The job that first imported it.
    pub first_job_id: String,
    /// The job that last touched it.
    pub last_job_id: String,
    /// `create`, `update` or `delete`.
    pub last_action: String,
    /// When it was first imported.
    pub first_synced_at: DateTime<Utc>,
    /// When it was last touched.
    pub last_synced_at: DateTime<Utc>,
    /// When it was deleted upstream, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The embedded store; see the [module docs](self).
///
/// ```
/// use connector_core::sink::{RecordKey, Sink};
/// use connector_core::sqlite::SqliteStore;
///
/// let store = SqliteStore::open_in_memory().unwrap();
/// assert_eq!(store.info().name, "sqlite");
/// assert_eq!(store.get(&RecordKey::new("org", "jira", "ISSUE", "10001")).unwrap(), None);
/// ```
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// A second connection, for lookups outside atomic runs (file databases in
    /// WAL mode only): they then do not wait for a write on `conn`, and see what
    /// is committed.
    reader: Option<Arc<Mutex<Connection>>>,
    /// The threads large writes and lookups run on.
    writes: Worker,
    lookups: Worker,
    /// Checkpoints the WAL on a thread of its own (file databases in WAL mode).
    checkpoints: Option<Arc<Checkpointer>>,
    /// Whether an atomic run's transaction is open on `conn`: lookups must then
    /// use `conn`, to see what the run wrote.
    atomic_run: AtomicBool,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
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
        ConnectorError::new(kind, format!("SQLite store: could not {what}: {err}"))
            .with_operation("sqlite")
            .with_source(err)
    }
}

/// RFC 3339 with nine fraction digits: exact, and fixed-width so text order is
/// time order.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Appends [`ts`]'s text of `at` to `out` without allocating.
fn push_ts(out: &mut Vec<u8>, at: DateTime<Utc>) {
    match crate::json::rfc3339(at, crate::json::Fraction::Nanos) {
        Some((text, len)) => out.extend_from_slice(&text[..len]),
        None => out.extend_from_slice(ts(at).as_bytes()),
    }
}

/// Text SQLite binds from bytes the store wrote itself (valid UTF-8 by
/// construction: JSON from serde_json, ids and times from `str`s), so a batch's
/// buffer is never validated again.
struct TextBytes<'a>(&'a [u8]);

impl rusqlite::ToSql for TextBytes<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(self.0),
        ))
    }
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| ConnectorError::decode(format!("SQLite store: bad timestamp `{s}`: {e}")))
}

fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

/// The store's own timestamps (import and sync times, always "now") as
/// nanoseconds since the Unix epoch: 8 bytes instead of 30 in every row.
fn nanos(at: DateTime<Utc>) -> Result<i64> {
    at.timestamp_nanos_opt().ok_or_else(|| {
        ConnectorError::unexpected(format!(
            "SQLite store: the time {at} is outside the range the store records"
        ))
    })
}

fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// The id of the scope (organization, connector, entity), if one was stored;
/// reading never creates one.
fn scope_id(
    conn: &Connection,
    organization: &str,
    connector: &str,
    entity: &str,
) -> Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT id FROM scopes WHERE organization = ?1 AND connector = ?2 AND entity = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![organization, connector, entity], |r| r.get(0))
            .optional()
    })
    .map_err(db_err("read a scope"))
}

/// The id of the scope of `key`, created (in the caller's transaction) when new.
fn scope_id_or_insert(conn: &Connection, key: &RecordKey) -> Result<i64> {
    let (organization, connector, entity) = (
        key.organization.as_str(),
        key.connector.as_str(),
        key.entity.as_str(),
    );
    if let Some(id) = scope_id(conn, organization, connector, entity)? {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO scopes (organization, connector, entity) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![organization, connector, entity]))
        .map_err(db_err("store a scope"))?;
    Ok(conn.last_insert_rowid())
}

/// The id of the job id `job_id`, created (in the caller's transaction) when new.
fn job_ref(conn: &Connection, job_id: &str) -> Result<i64> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM job_ids WHERE job_id = ?1")
        .and_then(|mut s| s.query_row(params![job_id], |r| r.get(0)).optional())
        .map_err(db_err("read a job id"))?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO job_ids (job_id) VALUES (?1)")
        .and_then(|mut s| s.execute(params![job_id]))
        .map_err(db_err("store a job id"))?;
    Ok(conn.last_insert_rowid())
}

/// Copies the WAL into the database file on a thread of its own, so a commit that
/// fills the WAL past the threshold does not wait for the copy (SQLite's own
/// automatic checkpoint runs inside that commit: tens of milliseconds per 40 MiB
/// during which the next batch cannot be written). The checkpoint is a passive
/// one, on a connection of its own: it copies what it can while writes go on,
/// and the next commit past the threshold starts another.
struct Checkpointer {
    path: PathBuf,
    running: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            running: AtomicBool::new(false),
            thread: Mutex::new(None),
        }
    }

    /// Makes `conn`'s commits start a checkpoint once the WAL holds `pages` pages
    /// or more (this replaces SQLite's automatic checkpoint on `conn`).
    fn install(self: &Arc<Self>, conn: &mut Connection, pages: i64) -> Result<()> {
        let this = Arc::downgrade(self);
        conn.wal_hook(Some(
            move |wal: &mut rusqlite::hooks::Wal, in_wal: std::ffi::c_int| {
                if i64::from(in_wal) < pages {
                    return Ok(());
                }
                match this.upgrade() {
                    Some(this) if this.start() => Ok(()),
                    // Not started (no thread could be made): copy now, as SQLite would.
                    _ => wal.checkpoint(),
                }
            },
        ))
        .map_err(db_err("install the checkpoint hook"))
    }

    /// Starts a checkpoint unless one is running; false when no thread could be
    /// started.
    fn start(self: &Arc<Self>) -> bool {
        if self.running.swap(true, Ordering::AcqRel) {
            return true;
        }
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                if let Err(err) = this.checkpoint() {
                    tracing::warn!(
                        error = %err,
                        "SQLite store: a background WAL checkpoint failed; the next commit \
                         past the threshold starts another"
                    );
                }
                this.running.store(false, Ordering::Release);
            });
        match spawned {
            Ok(handle) => {
                // The previous thread has finished (`running` was false).
                *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
                true
            }
            Err(_) => {
                self.running.store(false, Ordering::Release);
                false
            }
        }
    }

    fn checkpoint(&self) -> Result<()> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err("open the database to checkpoint it"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_err("set the busy timeout"))?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(db_err("checkpoint the WAL"))
    }

    /// Waits for a running checkpoint to finish.
    fn wait(&self) {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // A checkpoint still copying finishes before the store is gone.
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.wait();
        }
    }
}

/// Opens the lookup connection of a file store (after its tables exist): it only
/// reads, and in WAL mode it reads the last commit while a write is under way.
fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db_err("open the database for lookups"))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(db_err("set the busy timeout"))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -256;")
        .map_err(db_err("set pragmas"))?;
    Ok(conn)
}

fn lock_conn(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a locked section leaves at worst an open transaction, which the
    // next `begin` rolls back.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Upgrades a database of schema version `from` to [`SCHEMA_VERSION`] with `sql`,
/// in one transaction: either every row is in the new layout, or the file is left
/// as it was.
fn migrate(conn: &Connection, from: i64, sql: &str) -> Result<()> {
    let before = std::time::Instant::now();
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(db_err("start the schema upgrade"))?;
    let upgraded = conn
        .execute_batch(&format!("{sql} PRAGMA user_version = {SCHEMA_VERSION};"))
        .and_then(|()| conn.execute_batch("COMMIT"));
    if let Err(err) = upgraded {
        let _ = conn.execute_batch("ROLLBACK");
        // The messages name the versions; a new version must revisit them.
        const _: () = assert!(SCHEMA_VERSION == 3);
        let what = match from {
            1 => "upgrade the database from schema version 1 to 3 (the file is unchanged)",
            _ => "upgrade the database from schema version 2 to 3 (the file is unchanged)",
        };
        return Err(db_err(what)(err));
    }
    tracing::info!(
        elapsed_ms = before.elapsed().as_millis() as u64,
        "SQLite store: upgraded the database from schema version {from} to {SCHEMA_VERSION}"
    );
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and its tables.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or is not a database of this store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(db_err("open the database"))?;
        let store = Self::init(conn, Some(path.to_path_buf()), WAL_CHECKPOINT_BYTES)?;
        Ok(store)
    }

    /// An in-memory database, for tests.
    ///
    /// # Errors
    ///
    /// When SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(db_err("open the database"))?;
        Self::init(conn, None, WAL_CHECKPOINT_BYTES)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>, checkpoint_bytes: i64) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_err("set the busy timeout"))?;
        // 16 KiB pages instead of 4 KiB for a new file (an existing file keeps its
        // page size): a record row is ~0.6 KB of JSON, so a 4 KiB page holds about
        // six and wastes a tenth of itself; larger pages mean fewer B-tree pages and
        // WAL frames per batch. Measured: about 8% less CPU for a 200k-record import.
        conn.execute_batch("PRAGMA page_size = 16384")
            .map_err(db_err("set the page size"))?;
        let mut wal = false;
        if path.is_some() {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(db_err("enable WAL"))?;
            wal = mode.eq_ignore_ascii_case("wal");
            if !wal {
                tracing::warn!(
                    mode,
                    "SQLite store: WAL mode unavailable, using the rollback journal"
                );
            }
        }
        // A checkpoint every ~40 MiB of WAL (on disk, not in memory: 10,000 pages of
        // 4 KiB, 2,500 of 16 KiB) instead of SQLite's 1,000 pages: a bulk import
        // then rewrites its hot pages into the database file less often. Durability
        // is unchanged (every commit is in the fsynced WAL). A file store in WAL
        // mode replaces SQLite's own checkpoints by the same threshold with ones
        // on a thread of their own ([`Checkpointer`]).
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(db_err("read the page size"))?;
        let wal_pages = (checkpoint_bytes / page_size.max(512)).max(1);
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {wal_pages};"
        ))
        .map_err(db_err("set pragmas"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err("read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(ConnectorError::config(format!(
                "the SQLite store has schema version {version}, newer than this library supports \
                 ({SCHEMA_VERSION}); upgrade connector-core"
            )));
        }
        match version {
            0 => conn
                .execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(db_err("create the tables"))?,
            1 => migrate(
                &conn,
                1,
                &format!("{MIGRATE_V1_BEFORE} {SCHEMA} {MIGRATE_V1_AFTER} {FOLD_SYNC_LOG}"),
            )?,
            2 => migrate(&conn, 2, &format!("{MIGRATE_V2} {FOLD_SYNC_LOG}"))?,
            _ => {}
        }
        let (reader, checkpoints) = match &path {
            Some(path) if wal => {
                let reader = Arc::new(Mutex::new(open_reader(path)?));
                let checkpoints = Arc::new(Checkpointer::new(path));
                checkpoints.install(&mut conn, wal_pages)?;
                (Some(reader), Some(checkpoints))
            }
            _ => (None, None),
        };
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            reader,
            writes: Worker::new("sqlite-write", "write"),
            lookups: Worker::new("sqlite-lookup", "lookup"),
            checkpoints,
            atomic_run: AtomicBool::new(false),
            path,
        })
    }

    /// The connection lookups use: the reader outside an atomic run, else the
    /// store's connection (inside an atomic run, only it sees what the run wrote).
    fn lookup_conn(&self) -> &Arc<Mutex<Connection>> {
        match &self.reader {
            Some(reader) if !self.atomic_run.load(Ordering::Acquire) => reader,
            _ => &self.conn,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        lock_conn(&self.conn)
    }

    /// The database file, unless in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The stored record for `key`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn get(&self, key: &RecordKey) -> Result<Option<Record>> {
        get_record(&self.lock(), key)
    }

    /// How many records the store holds for an organization and connector.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn count_records(&self, organization: &str, connector: &str) -> Result<u64> {
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT count(*) FROM records WHERE scope IN \
                 (SELECT id FROM scopes WHERE organization = ?1 AND connector = ?2)",
                params![organization, connector],
                |r| r.get(0),
            )
            .map_err(db_err("count records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Calls `each` with every record of an organization, connector and entity
    /// type, in external-id order, without loading them all at once.
    ///
    /// # Errors
    ///
    /// When the database cannot be read, or `each` fails.
    pub fn for_each_record(
        &self,
        organization: &str,
        connector: &str,
        entity: &str,
        mut each: impl FnMut(Record) -> Result<()>,
    ) -> Result<()> {
        let conn = self.lock();
        let Some(scope) = scope_id(&conn, organization, connector, entity)? else {
            return Ok(());
        };
        let mut stmt = conn
            .prepare_cached("SELECT record FROM records WHERE scope = ?1 ORDER BY external_id")
            .map_err(db_err("read records"))?;
        let mut rows = stmt.query(params![scope]).map_err(db_err("read records"))?;
        while let Some(row) = rows.next().map_err(db_err("read records"))? {
            let json: String = row.get(0).map_err(db_err("read records"))?;
            each(serde_json::from_str(&json)?)?;
        }
        Ok(())
    }

    /// The stored relationships carried by the record `key`, with whether each
    /// target is stored (as of the last resolution).
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn relationships_of(&self, key: &RecordKey) -> Result<Vec<(Relationship, bool)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT from_type, from_id, kind, to_type, to_id, strength, bidirectional, resolved \
                 FROM relationships WHERE organization = ?1 AND connector = ?2 \
                 AND owner_entity = ?3 AND owner_external_id = ?4 ORDER BY rowid",
            )
            .map_err(db_err("read relationships"))?;
        let rows = stmt
            .query_map(
                params![key.organization, key.connector, key.entity, key.external_id],
                relationship_row,
            )
            .map_err(db_err("read relationships"))?;
        let mut out = Vec::new();
        for row in rows {
            let (rel, resolved) = row.map_err(db_err("read relationships"))?;
            out.push((rel?, resolved));
        }
        Ok(out)
    }

    /// The sync log entry of `key`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn sync_log_entry(&self, key: &RecordKey) -> Result<Option<SyncLogEntry>> {
        let conn = self.lock();
        let read = |sql: &str| {
            conn.query_row(
                sql,
                params![key.organization, key.connector, key.entity, key.external_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err("read the sync log"))
        };
        // A stored record's history is in its row; a deleted one's in the log.
        let row = match read(
            "SELECT fj.job_id, lj.job_id, r.last_action, r.first_imported_at, \
             r.last_imported_at, NULL FROM records r \
             JOIN scopes s ON s.id = r.scope \
             JOIN job_ids fj ON fj.id = r.first_job JOIN job_ids lj ON lj.id = r.job \
             WHERE s.organization = ?1 AND s.connector = ?2 AND s.entity = ?3 \
             AND r.external_id = ?4",
        )? {
            Some(row) => Some(row),
            None => read(
                "SELECT fj.job_id, lj.job_id, l.last_action, l.first_synced_at, \
                 l.last_synced_at, l.deleted_at FROM sync_log l \
                 JOIN scopes s ON s.id = l.scope \
                 JOIN job_ids fj ON fj.id = l.first_job JOIN job_ids lj ON lj.id = l.last_job \
                 WHERE s.organization = ?1 AND s.connector = ?2 AND s.entity = ?3 \
                 AND l.external_id = ?4",
            )?,
        };
        let Some((first_job_id, last_job_id, last_action, first, last, deleted)) = row else {
            return Ok(None);
        };
        Ok(Some(SyncLogEntry {
            key: key.clone(),
            first_job_id,
            last_job_id,
            last_action,
            first_synced_at: from_nanos(first),
            last_synced_at: from_nanos(last),
            deleted_at: parse_opt_ts(deleted)?,
        }))
    }

    /// The import job with `id`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn job(&self, id: &str) -> Result<Option<ImportJob>> {
        let conn = self.lock();
        let row = conn
            .query_row(
                &format!("{JOB_COLUMNS} WHERE id = ?1"),
                params![id],
                job_row,
            )
            .optional()
            .map_err(db_err("read the import job"))?;
        row.map(JobRow::into_job).transpose()
    }

    /// The latest jobs of `organization` (of one connector, when given), newest
    /// first, at most `limit`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn jobs(
        &self,
        organization: &str,
        connector: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ImportJob>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{JOB_COLUMNS} WHERE organization = ?1 AND (?2 IS NULL OR connector = ?2) \
                 ORDER BY started_at DESC, rowid DESC LIMIT ?3"
            ))
            .map_err(db_err("read import jobs"))?;
        let rows = stmt
            .query_map(
                params![organization, connector, to_i64(limit as u64)],
                job_row,
            )
            .map_err(db_err("read import jobs"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(db_err("read import jobs"))?.into_job()?);
        }
        Ok(out)
    }

    /// When the last completed import of `connector` for `organization` started:
    /// the `last_run` to give [`schedule::is_due`](crate::schedule::is_due).
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn last_completed_run(
        &self,
        organization: &str,
        connector: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let started: Option<String> = self
            .lock()
            .query_row(
                "SELECT max(started_at) FROM import_jobs WHERE organization = ?1 \
                 AND connector = ?2 AND status = 'completed'",
                params![organization, connector],
                |r| r.get(0),
            )
            .map_err(db_err("read import jobs"))?;
        parse_opt_ts(started)
    }

    /// The latest audit events of `organization`, newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn audit_events(&self, organization: &str, limit: usize) -> Result<Vec<AuditEvent>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, actor, action, resource, job_id, records, success, detail \
                 FROM audit_events WHERE organization = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(db_err("read audit events"))?;
        let rows = stmt
            .query_map(params![organization, to_i64(limit as u64)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(db_err("read audit events"))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, actor, action, resource, job_id, records, success, detail) =
                row.map_err(db_err("read audit events"))?;
            out.push(AuditEvent {
                at: parse_ts(&at)?,
                actor,
                action,
                organization: organization.to_owned(),
                resource,
                job_id,
                records: u64::try_from(records).unwrap_or(0),
                success,
                detail,
            });
        }
        Ok(out)
    }

    /// Seals `credentials` with `vault` and stores them as `name` (a connector
    /// instance) of `organization`, replacing earlier ones, and records an audit
    /// event `credentials.store` by `actor`.
    ///
    /// # Errors
    ///
    /// Those of [`CredentialVault::seal`]; database errors.
    pub fn put_credentials(
        &self,
        organization: &str,
        name: &str,
        credentials: &Credentials,
        vault: &CredentialVault,
        actor: Option<&str>,
    ) -> Result<()> {
        let sealed = vault.seal(credentials, &credential_context(organization, name))?;
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_err("store credentials"))?;
        write_sealed(&tx, organization, name, &sealed)?;
        let event = AuditEvent::now("credentials.store", organization, name, true)
            .with_actor(actor.map(str::to_owned))
            .with_detail(format!(
                "{} credentials sealed with key `{}`",
                credentials.kind(),
                sealed.key_id
            ));
        insert_audit(&tx, &event)?;
        tx.commit().map_err(db_err("store credentials"))
    }

    /// The credentials stored as `name` of `organization`, opened with `vault`.
    ///
    /// # Errors
    ///
    /// Those of [`CredentialVault::open`] (wrong key, tampering); database errors.
    pub fn get_credentials(
        &self,
        organization: &str,
        name: &str,
        vault: &CredentialVault,
    ) -> Result<Option<Credentials>> {
        let Some(sealed) = self.sealed_credentials(organization, name)? else {
            return Ok(None);
        };
        vault
            .open(&sealed, &credential_context(organization, name))
            .map(Some)
    }

    /// The sealed credentials stored as `name` of `organization`, as stored.
    ///
    /// # Errors
    ///
    /// When the database cannot be read or the row is malformed.
    pub fn sealed_credentials(
        &self,
        organization: &str,
        name: &str,
    ) -> Result<Option<SealedCredentials>> {
        let conn = self.lock();
        let row = conn
            .query_row(
                "SELECT version, key_id, nonce, ciphertext FROM credentials \
                 WHERE organization = ?1 AND name = ?2",
                params![organization, name],
                |r| {
                    Ok((
                        r.get::<_, u8>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err("read credentials"))?;
        row.map(|(version, key_id, nonce, ciphertext)| {
            SealedCredentials::from_parts(version, key_id, &nonce, ciphertext)
        })
        .transpose()
    }

    /// Removes the credentials stored as `name` of `organization`; true when
    /// there were some.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub fn delete_credentials(&self, organization: &str, name: &str) -> Result<bool> {
        let n = self
            .lock()
            .execute(
                "DELETE FROM credentials WHERE organization = ?1 AND name = ?2",
                params![organization, name],
            )
            .map_err(db_err("delete credentials"))?;
        Ok(n > 0)
    }

    /// Reseals, in one transaction, every stored credential not sealed with the
    /// vault's current key; returns how many were resealed. Run it after making
    /// the new key current and the old one a previous key.
    ///
    /// # Errors
    ///
    /// Those of [`CredentialVault::reseal`] (nothing is changed then); database
    /// errors.
    pub fn rotate_credentials(&self, vault: &CredentialVault) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_err("rotate credentials"))?;
        let stale: Vec<(String, String, SealedCredentials)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT organization, name, version, key_id, nonce, ciphertext FROM credentials \
                     WHERE key_id != ?1 OR version != ?2 ORDER BY organization, name",
                )
                .map_err(db_err("rotate credentials"))?;
            let rows = stmt
                .query_map(
                    params![vault.current_key_id(), crate::vault::SEAL_VERSION],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, u8>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Vec<u8>>(4)?,
                            r.get::<_, Vec<u8>>(5)?,
                        ))
                    },
                )
                .map_err(db_err("rotate credentials"))?;
            let mut out = Vec::new();
            for row in rows {
                let (org, name, version, key_id, nonce, ciphertext) =
                    row.map_err(db_err("rotate credentials"))?;
                out.push((
                    org,
                    name,
                    SealedCredentials::from_parts(version, key_id, &nonce, ciphertext)?,
                ));
            }
            out
        };
        for (org, name, sealed) in &stale {
            let resealed = vault.reseal(sealed, &credential_context(org, name))?;
            write_sealed(&tx, org, name, &resealed)?;
        }
        tx.commit().map_err(db_err("rotate credentials"))?;
        Ok(stale.len())
    }
}

const JOB_COLUMNS: &str = "SELECT id, organization, connector, entities, status, stage, counts, \
     actor, started_at, updated_at, finished_at, error FROM import_jobs";

/// The raw columns of one `import_jobs` row.
struct JobRow {
    id: String,
    organization: String,
    connector: String,
    entities: String,
    status: String,
    stage: String,
    counts: String,
    actor: Option<String>,
    started: String,
    updated: String,
    finished: Option<String>,
    error: Option<String>,
}

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        organization: r.get(1)?,
        connector: r.get(2)?,
        entities: r.get(3)?,
        status: r.get(4)?,
        stage: r.get(5)?,
        counts: r.get(6)?,
        actor: r.get(7)?,
        started: r.get(8)?,
        updated: r.get(9)?,
        finished: r.get(10)?,
        error: r.get(11)?,
    })
}

impl JobRow {
    fn into_job(self) -> Result<ImportJob> {
        let status = JobStatus::parse(&self.status).ok_or_else(|| {
            ConnectorError::decode(format!(
                "SQLite store: unknown job status `{}`",
                self.status
            ))
        })?;
        Ok(ImportJob {
            id: self.id,
            organization: self.organization,
            connector: self.connector,
            entities: serde_json::from_str(&self.entities)?,
            status,
            stage: serde_json::from_value::<Stage>(serde_json::Value::String(self.stage))?,
            counts: serde_json::from_str::<Counts>(&self.counts)?,
            actor: self.actor,
            started_at: parse_ts(&self.started)?,
            updated_at: parse_ts(&self.updated)?,
            finished_at: parse_opt_ts(self.finished)?,
            error: self.error,
        })
    }
}

fn credential_context(organization: &str, name: &str) -> String {
    format!("{organization}/{name}")
}

fn write_sealed(
    conn: &Connection,
    organization: &str,
    name: &str,
    sealed: &SealedCredentials,
) -> Result<()> {
    conn.execute(
        "INSERT INTO credentials (organization, name, version, key_id, nonce, ciphertext, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (organization, name) DO UPDATE SET \
         version = excluded.version, key_id = excluded.key_id, nonce = excluded.nonce, \
         ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        params![
            organization,
            name,
            sealed.version,
            sealed.key_id,
            &sealed.nonce[..],
            sealed.ciphertext,
            ts(Utc::now())
        ],
    )
    .map_err(db_err("store credentials"))?;
    Ok(())
}

fn insert_audit(conn: &Connection, event: &AuditEvent) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_events (at, actor, action, organization, resource, job_id, records, \
         success, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            ts(event.at),
            event.actor,
            event.action,
            event.organization,
            event.resource,
            event.job_id,
            to_i64(event.records),
            event.success,
            event.detail
        ],
    )
    .map_err(db_err("record an audit event"))?;
    Ok(())
}

type RelationshipRow = (Result<Relationship>, bool);

fn relationship_row(r: &Row<'_>) -> rusqlite::Result<RelationshipRow> {
    let from_type: String = r.get(0)?;
    let from_id: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let to_type: String = r.get(3)?;
    let to_id: String = r.get(4)?;
    let strength: i64 = r.get(5)?;
    let bidirectional: bool = r.get(6)?;
    let resolved: bool = r.get(7)?;
    let rel = serde_json::from_value::<RelationshipKind>(serde_json::Value::String(kind))
        .map(|kind| {
            Relationship::new((from_type, from_id), kind, (to_type, to_id))
                .with_strength(u8::try_from(strength).unwrap_or(100))
                .with_bidirectional(bidirectional)
        })
        .map_err(ConnectorError::from);
    Ok((rel, resolved))
}

fn get_record(conn: &Connection, key: &RecordKey) -> Result<Option<Record>> {
    get_record_at(
        conn,
        [&key.organization, &key.connector, &key.entity],
        &key.external_id,
    )
}

/// The stored record of `external_id` in the scope (organization, connector,
/// entity).
fn get_record_at(conn: &Connection, scope: [&str; 3], external_id: &str) -> Result<Option<Record>> {
    let [organization, connector, entity] = scope;
    let json: Option<String> = conn
        .prepare_cached(
            "SELECT r.record FROM records r JOIN scopes s ON s.id = r.scope \
             WHERE s.organization = ?1 AND s.connector = ?2 AND s.entity = ?3 \
             AND r.external_id = ?4",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![organization, connector, entity, external_id], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(db_err("read a record"))?;
    json.map(|j| serde_json::from_str(&j).map_err(ConnectorError::from))
        .transpose()
}

/// The most external ids one lookup query binds (SQLite allows 32,766 parameters).
const LOOKUP_CHUNK: usize = 512;

/// Keys to look up, owned compactly (a lookup hands them to its thread): the
/// external ids back to back in one buffer, in runs of keys of one organization,
/// connector and entity. Three allocations instead of one per key.
struct LookupKeys {
    ids: String,
    /// Where each id ends in `ids`.
    ends: Vec<usize>,
    /// Each run's organization, connector and entity, and how many keys it holds.
    runs: Vec<([Name; 3], usize)>,
}

impl LookupKeys {
    fn new(keys: &[RecordKey]) -> Self {
        let mut out = Self {
            ids: String::with_capacity(keys.iter().map(|k| k.external_id.len()).sum()),
            ends: Vec::with_capacity(keys.len()),
            runs: Vec::new(),
        };
        for key in keys {
            let same = out.runs.last().is_some_and(|([o, c, e], _)| {
                *o == key.organization && *c == key.connector && *e == key.entity
            });
            if same {
                if let Some((_, n)) = out.runs.last_mut() {
                    *n += 1;
                }
            } else {
                let scope = [
                    key.organization.clone(),
                    key.connector.clone(),
                    key.entity.clone(),
                ];
                out.runs.push((scope, 1));
            }
            out.ids.push_str(&key.external_id);
            out.ends.push(out.ids.len());
        }
        out
    }

    /// The `i`-th external id.
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }
}

/// The stored records for `keys`, in order: one query per run of up to
/// [`LOOKUP_CHUNK`] keys of the same organization, connector and entity
/// (`external_id IN (..)` on the unique index) instead of one per key.
fn lookup_records(conn: &Connection, keys: &LookupKeys) -> Result<Vec<Option<Record>>> {
    let mut out = Vec::with_capacity(keys.ends.len());
    let mut next = 0;
    for ([organization, connector, entity], len) in &keys.runs {
        let names = [organization.as_str(), connector.as_str(), entity.as_str()];
        let run_end = next + len;
        while next < run_end {
            let chunk = next..run_end.min(next + LOOKUP_CHUNK);
            next = chunk.end;
            if chunk.len() == 1 {
                out.push(get_record_at(conn, names, keys.id(chunk.start))?);
                continue;
            }
            let Some(scope) = scope_id(conn, names[0], names[1], names[2])? else {
                out.extend(chunk.map(|_| None));
                continue;
            };
            // Power-of-two placeholder counts (the last id repeated) keep the number
            // of distinct statements in the cache small.
            let slots = chunk.len().next_power_of_two();
            let mut sql = String::with_capacity(80 + slots * 2);
            sql.push_str(
                "SELECT external_id, record FROM records WHERE scope = ?1 AND external_id IN (?",
            );
            sql.push_str(&",?".repeat(slots - 1));
            sql.push(')');
            let last = chunk.end - 1;
            let ids = chunk
                .clone()
                .chain(std::iter::repeat(last))
                .take(slots)
                .map(|i| keys.id(i));
            let params = std::iter::once(rusqlite::types::ToSqlOutput::from(scope))
                .chain(ids.map(rusqlite::types::ToSqlOutput::from));
            let mut found: HashMap<String, String> = HashMap::new();
            {
                let mut stmt = conn.prepare_cached(&sql).map_err(db_err("read records"))?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params))
                    .map_err(db_err("read records"))?;
                while let Some(row) = rows.next().map_err(db_err("read records"))? {
                    let id: String = row.get(0).map_err(db_err("read records"))?;
                    let json: String = row.get(1).map_err(db_err("read records"))?;
                    found.insert(id, json);
                }
            }
            for i in chunk {
                let record = match found.get(keys.id(i)) {
                    Some(json) => Some(serde_json::from_str(json)?),
                    None => None,
                };
                out.push(record);
            }
        }
    }
    Ok(out)
}

/// The fewest record writes (or keys looked up) that [`SqliteStore::write_batch`]
/// (or [`lookup`](Sink::lookup)) hands to its thread: below that, the hand-over
/// costs more than it hides.
const THREADED_WRITE_MIN: usize = 64;

/// A thread of the store's own that runs its large writes (or lookups), one at a
/// time, started at the first one and stopped (after the work queued) when the
/// store is dropped. One long-lived thread instead of one per batch: no thread is
/// started per batch, and the thread's allocations (a batch's JSON) reuse one
/// allocator arena instead of spreading over many.
struct Worker {
    name: &'static str,
    what: &'static str,
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Worker {
    fn new(name: &'static str, what: &'static str) -> Self {
        Self {
            name,
            what,
            jobs: Mutex::new(None),
            thread: Mutex::new(None),
        }
    }

    /// Queues `job`, starting the thread first if it is not running.
    fn submit(&self, job: Job) -> Result<()> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let handle = std::thread::Builder::new()
                .name(self.name.to_owned())
                .spawn(move || {
                    for job in rx {
                        // A job that panics has dropped its answer (its caller gets
                        // an error); the thread goes on with the next.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|err| {
                    ConnectorError::unexpected(format!(
                        "SQLite store: could not start the {} thread: {err}",
                        self.what
                    ))
                })?;
            *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
            *jobs = Some(tx);
        }
        match jobs.as_ref().map(|tx| tx.send(job)) {
            Some(Ok(())) => Ok(()),
            _ => {
                // The thread is gone; start afresh next time.
                *jobs = None;
                Err(ConnectorError::unexpected(format!(
                    "SQLite store: the {} thread stopped",
                    self.what
                )))
            }
        }
    }

    /// Runs `work` on the thread and awaits its result, on any executor. The
    /// calling task is free meanwhile (an import pipeline reads the next pages).
    /// Dropping the returned future before the answer waits for the work, so once
    /// the call is gone its work is done: a write landed with its checkpoint, or
    /// not at all.
    ///
    /// `work` returns its answer and what it no longer needs (a written batch's
    /// records): the thread answers first and frees the rest afterwards, while the
    /// caller goes on, so freeing a thousand records is off the caller's path.
    async fn run<T: Send + 'static, G: Send + 'static>(
        &self,
        work: impl FnOnce() -> (Result<T>, G) + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = futures::channel::oneshot::channel();
        // Dropped by the thread once it has answered (or if the job is dropped
        // unrun): what a dropped call waits for.
        let (answered, wait) = std::sync::mpsc::sync_channel::<()>(0);
        self.submit(Box::new(move || {
            let answered = answered;
            let (answer, garbage) = work();
            let _ = tx.send(answer);
            drop(answered);
            drop(garbage);
        }))?;
        let mut waiting = WaitOnDrop(Some(wait));
        let what = self.what;
        let answer = rx.await.unwrap_or_else(|_| {
            Err(ConnectorError::unexpected(format!(
                "SQLite store: the {what} thread stopped without an answer"
            )))
        });
        // Answered: the work is done and the thread only frees memory now, which
        // nothing waits for.
        waiting.0.take();
        answer
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the work already queued.
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Waits, when dropped, until the worker has answered (also when the call is
/// abandoned).
struct WaitOnDrop(Option<std::sync::mpsc::Receiver<()>>);

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        if let Some(wait) = self.0.take() {
            // Returns once the thread drops its end.
            let _ = wait.recv();
        }
    }
}

/// A batch made ready for the writer thread: everything owned, and the records'
/// external ids and JSON written back to back into one buffer (no allocation per
/// record).
struct PreparedBatch<'b> {
    job_id: String,
    state_key: StateKey,
    /// The first key of each distinct scope among the writes, in order of first use.
    scopes: Vec<RecordKey>,
    /// The external ids, JSON and source times of the writes, back to back (UTF-8).
    text: Vec<u8>,
    writes: Vec<PreparedWrite<'b>>,
    deletions: Vec<(RecordKey, Option<DateTime<Utc>>)>,
    checkpoint: Option<Checkpoint>,
}

struct PreparedWrite<'b> {
    /// Index into [`PreparedBatch::scopes`].
    scope: usize,
    action: WriteAction,
    /// Byte ranges of [`PreparedBatch::text`].
    external_id: std::ops::Range<usize>,
    json: std::ops::Range<usize>,
    created_at: Option<std::ops::Range<usize>>,
    updated_at: Option<std::ops::Range<usize>>,
    /// The record's relationships, borrowed from the batch.
    relationships: &'b [Relationship],
}

fn same_scope(a: &RecordKey, b: &RecordKey) -> bool {
    a.entity == b.entity && a.connector == b.connector && a.organization == b.organization
}

impl<'b> PreparedBatch<'b> {
    fn new(batch: &'b Batch) -> Result<Self> {
        let mut scopes: Vec<RecordKey> = Vec::new();
        let mut text = Vec::with_capacity(batch.writes.len() * 640);
        let mut writes = Vec::with_capacity(batch.writes.len());
        for w in &batch.writes {
            let scope = match scopes.iter().rposition(|k| same_scope(k, &w.key)) {
                Some(i) => i,
                None => {
                    scopes.push(w.key.clone());
                    scopes.len() - 1
                }
            };
            let start = text.len();
            text.extend_from_slice(w.key.external_id.as_bytes());
            let id_end = text.len();
            crate::json::write_record(&mut text, &w.record)?;
            let json = id_end..text.len();
            let mut time = |at: Option<DateTime<Utc>>| {
                at.map(|at| {
                    let start = text.len();
                    push_ts(&mut text, at);
                    start..text.len()
                })
            };
            let created_at = time(w.record.created_at);
            let updated_at = time(w.record.updated_at);
            writes.push(PreparedWrite {
                scope,
                action: w.action,
                external_id: start..id_end,
                json,
                created_at,
                updated_at,
                relationships: &w.record.relationships,
            });
        }
        Ok(Self {
            job_id: batch.scope.job_id.clone(),
            state_key: batch.state_key.clone(),
            scopes,
            text,
            writes,
            deletions: batch
                .deletions
                .iter()
                .map(|d| (batch.deletion_key(d), d.deleted_at))
                .collect(),
            checkpoint: batch.checkpoint.clone(),
        })
    }
}

/// The scope id of `key`, remembering the last one: a batch's keys almost always
/// share one scope.
struct ScopeCache<'k> {
    last: Option<(&'k RecordKey, i64)>,
}

impl<'k> ScopeCache<'k> {
    fn id(&mut self, conn: &Connection, key: &'k RecordKey) -> Result<i64> {
        if let Some((k, id)) = self.last
            && k.organization == key.organization
            && k.connector == key.connector
            && k.entity == key.entity
        {
            return Ok(id);
        }
        let id = scope_id_or_insert(conn, key)?;
        self.last = Some((key, id));
        Ok(id)
    }
}

/// Writes a batch inside the current transaction.
fn apply_batch(conn: &Connection, batch: &PreparedBatch<'_>) -> Result<()> {
    let now = nanos(Utc::now())?;
    let job = job_ref(conn, &batch.job_id)?;
    let mut scopes = ScopeCache { last: None };
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO records (scope, external_id, record, source_created_at, \
             source_updated_at, first_imported_at, last_imported_at, first_job, job, \
             last_action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7, ?8) \
             ON CONFLICT (scope, external_id) DO UPDATE SET \
             record = excluded.record, source_created_at = excluded.source_created_at, \
             source_updated_at = excluded.source_updated_at, \
             last_imported_at = excluded.last_imported_at, job = excluded.job, \
             last_action = excluded.last_action",
        )
        .map_err(db_err("write records"))?;
    let mut clear_rels = conn
        .prepare_cached(
            "DELETE FROM relationships WHERE organization = ?1 AND connector = ?2 \
             AND owner_entity = ?3 AND owner_external_id = ?4",
        )
        .map_err(db_err("write relationships"))?;
    let mut insert_rel = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO relationships (organization, connector, owner_entity, \
             owner_external_id, from_type, from_id, kind, to_type, to_id, strength, bidirectional) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(db_err("write relationships"))?;
    // A record's history is in its row; a deleted record's moves to the sync log
    // (a tombstone), and back into the row when the record returns.
    let mut bury = conn
        .prepare_cached(
            "INSERT INTO sync_log (scope, external_id, first_job, last_job, last_action, \
             first_synced_at, last_synced_at, deleted_at) \
             VALUES (?1, ?2, ?3, ?4, 'delete', ?5, ?6, ?7) \
             ON CONFLICT (scope, external_id) DO UPDATE SET \
             last_job = excluded.last_job, last_action = excluded.last_action, \
             last_synced_at = excluded.last_synced_at, deleted_at = excluded.deleted_at",
        )
        .map_err(db_err("write the sync log"))?;
    let mut revive = conn
        .prepare_cached(
            "DELETE FROM sync_log WHERE scope = ?1 AND external_id = ?2 \
             RETURNING first_job, first_synced_at",
        )
        .map_err(db_err("write the sync log"))?;
    let mut keep_history = conn
        .prepare_cached(
            "UPDATE records SET first_job = ?3, first_imported_at = ?4 \
             WHERE scope = ?1 AND external_id = ?2",
        )
        .map_err(db_err("write the sync log"))?;
    // A record the pipeline found new is inserted without a conflict clause first:
    // when that inserts a row, the key had no record and so no relationships to
    // clear. Anything else (an update, or a "create" delivered twice) takes the
    // upsert and replaces the relationships.
    let mut insert_new = conn
        .prepare_cached(
            "INSERT INTO records (scope, external_id, record, source_created_at, \
             source_updated_at, first_imported_at, last_imported_at, first_job, job, \
             last_action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?7, ?8) \
             ON CONFLICT (scope, external_id) DO NOTHING",
        )
        .map_err(db_err("write records"))?;
    let scope_ids = batch
        .scopes
        .iter()
        .map(|k| scope_id_or_insert(conn, k))
        .collect::<Result<Vec<i64>>>()?;
    // Whether each scope has deleted keys a write may bring back (one probe per
    // batch and scope instead of one per record).
    let mut has_tombstones = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sync_log WHERE scope = ?1)")
        .map_err(db_err("read the sync log"))?;
    let tombstones = scope_ids
        .iter()
        .map(|id| {
            has_tombstones
                .query_row([id], |r| r.get::<_, bool>(0))
                .map_err(db_err("read the sync log"))
        })
        .collect::<Result<Vec<bool>>>()?;
    for write in &batch.writes {
        let k = &batch.scopes[write.scope];
        let scope = scope_ids[write.scope];
        let text = |range: &std::ops::Range<usize>| TextBytes(&batch.text[range.clone()]);
        let external_id = text(&write.external_id);
        let action = match write.action {
            WriteAction::Create => "create",
            WriteAction::Update => "update",
        };
        let p = params![
            scope,
            external_id,
            text(&write.json),
            write.created_at.as_ref().map(text),
            write.updated_at.as_ref().map(text),
            now,
            job,
            action
        ];
        let inserted = write.action == WriteAction::Create
            && insert_new.execute(p).map_err(db_err("write records"))? == 1;
        if !inserted {
            upsert.execute(p).map_err(db_err("write records"))?;
            clear_rels
                .execute(params![k.organization, k.connector, k.entity, external_id])
                .map_err(db_err("write relationships"))?;
        }
        for rel in write.relationships {
            insert_rel
                .execute(params![
                    k.organization,
                    k.connector,
                    k.entity,
                    external_id,
                    rel.from_type,
                    rel.from_id,
                    rel.kind.as_str(),
                    rel.to_type,
                    rel.to_id,
                    rel.strength,
                    rel.bidirectional
                ])
                .map_err(db_err("write relationships"))?;
        }
        if tombstones[write.scope] {
            let returned = revive
                .query_row(params![scope, external_id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
                .map_err(db_err("write the sync log"))?;
            if let Some((first_job, first_synced_at)) = returned {
                keep_history
                    .execute(params![scope, external_id, first_job, first_synced_at])
                    .map_err(db_err("write the sync log"))?;
            }
        }
    }
    if !batch.deletions.is_empty() {
        let mut delete = conn
            .prepare_cached(
                "DELETE FROM records WHERE scope = ?1 AND external_id = ?2 \
                 RETURNING first_job, first_imported_at",
            )
            .map_err(db_err("delete records"))?;
        for (k, deleted_at) in &batch.deletions {
            let scope = scopes.id(conn, k)?;
            let (first_job, first_synced_at) = delete
                .query_row(params![scope, k.external_id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
                .map_err(db_err("delete records"))?
                .unwrap_or((job, now));
            clear_rels
                .execute(params![
                    k.organization,
                    k.connector,
                    k.entity,
                    k.external_id
                ])
                .map_err(db_err("delete relationships"))?;
            let deleted_at = ts(deleted_at.unwrap_or_else(Utc::now));
            bury.execute(params![
                scope,
                k.external_id,
                first_job,
                job,
                first_synced_at,
                now,
                deleted_at
            ])
            .map_err(db_err("write the sync log"))?;
        }
    }
    if let Some(cp) = &batch.checkpoint {
        save_checkpoint(conn, &batch.state_key, cp)?;
    }
    Ok(())
}

fn save_checkpoint(conn: &Connection, key: &StateKey, checkpoint: &Checkpoint) -> Result<()> {
    let json = serde_json::to_string(checkpoint)?;
    conn.prepare_cached(
        "INSERT INTO checkpoints (organization, connector, entity, checkpoint, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (organization, connector, entity) DO UPDATE SET \
         checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            key.organization,
            key.connector,
            key.entity,
            json,
            ts(Utc::now())
        ])
    })
    .map_err(db_err("save a checkpoint"))?;
    Ok(())
}

fn load_checkpoint(conn: &Connection, key: &StateKey) -> Result<Option<Checkpoint>> {
    let json: Option<String> = conn
        .prepare_cached(
            "SELECT checkpoint FROM checkpoints WHERE organization = ?1 AND connector = ?2 AND entity = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![key.organization, key.connector, key.entity], |r| r.get(0)).optional()
        })
        .map_err(db_err("load a checkpoint"))?;
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| {
            ConnectorError::decode(format!(
                "the stored checkpoint of `{}` is invalid: {e}; clear it to start over",
                key.entity
            ))
        })
    })
    .transpose()
}

/// Runs `f` in a transaction of its own, or in a savepoint when a run's
/// transaction is open, so `f`'s writes land all or nothing.
fn in_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let outer = conn.is_autocommit();
    let (begin, commit, undo) = if outer {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    } else {
        (
            "SAVEPOINT batch",
            "RELEASE batch",
            "ROLLBACK TO batch; RELEASE batch",
        )
    };
    conn.execute_batch(begin)
        .map_err(db_err("start a transaction"))?;
    let result = f(conn).and_then(|v| {
        conn.execute_batch(commit)
            .map(|()| v)
            .map_err(db_err("commit"))
    });
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch(undo);
    }
    result
}

#[async_trait]
impl Sink for SqliteStore {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("sqlite", true, true)
    }

    async fn begin(&self, scope: &RunScope) -> Result<()> {
        let conn = self.lock();
        if !conn.is_autocommit() {
            tracing::warn!("SQLite store: rolling back a transaction an unfinished run left open");
            conn.execute_batch("ROLLBACK")
                .map_err(db_err("roll back an unfinished run"))?;
        }
        if scope.atomic {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(db_err("start the run's transaction"))?;
        }
        self.atomic_run.store(scope.atomic, Ordering::Release);
        Ok(())
    }

    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        // A large lookup (a pipeline's batch) runs on a thread of its own, like a
        // large write, so the caller's task goes on reading meanwhile.
        let conn = self.lookup_conn();
        if keys.len() < THREADED_WRITE_MIN {
            return lookup_records(&lock_conn(conn), &LookupKeys::new(keys));
        }
        let conn = Arc::clone(conn);
        let keys = LookupKeys::new(keys);
        self.lookups
            .run(move || (lookup_records(&lock_conn(&conn), &keys), keys))
            .await
    }

    async fn write_batch(&self, batch: Batch) -> Result<()> {
        // A large batch is serialised, written and fsynced on a thread of its own
        // (which frees its records after answering), so the caller's task (the pipeline
        // reading the next page) keeps going meanwhile, on any executor. Dropping
        // this future waits for the thread: as with an inline write, once the call
        // is gone its write is done (the batch and its checkpoint landed together,
        // or not at all). Small batches are written inline: a thread costs more
        // than it hides.
        if batch.writes.len() < THREADED_WRITE_MIN {
            let prepared = PreparedBatch::new(&batch)?;
            let conn = self.lock();
            return in_transaction(&conn, |c| apply_batch(c, &prepared));
        }
        let conn = Arc::clone(&self.conn);
        self.writes
            .run(move || {
                let written = PreparedBatch::new(&batch).and_then(|prepared| {
                    let conn = lock_conn(&conn);
                    let written = in_transaction(&conn, |c| apply_batch(c, &prepared));
                    drop(conn);
                    written
                });
                // The batch's records are freed after the answer.
                (written, batch)
            })
            .await
    }

    async fn resolve_relationships(
        &self,
        scope: &RunScope,
        sample_limit: usize,
    ) -> Result<RelationshipReport> {
        let conn = self.lock();
        in_transaction(&conn, |c| {
            c.execute(
                "UPDATE relationships SET resolved = EXISTS (SELECT 1 FROM records r \
                 JOIN scopes s ON s.id = r.scope \
                 WHERE s.organization = relationships.organization \
                 AND s.connector = relationships.connector AND s.entity = relationships.to_type \
                 AND r.external_id = relationships.to_id) \
                 WHERE organization = ?1 AND connector = ?2",
                params![scope.organization, scope.connector],
            )
            .map_err(db_err("resolve relationships"))?;
            let (resolved, unresolved): (i64, i64) = c
                .query_row(
                    "SELECT coalesce(sum(resolved), 0), coalesce(sum(1 - resolved), 0) \
                     FROM relationships WHERE organization = ?1 AND connector = ?2",
                    params![scope.organization, scope.connector],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_err("count relationships"))?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT from_type, from_id, kind, to_type, to_id, strength, bidirectional, resolved \
                     FROM relationships WHERE organization = ?1 AND connector = ?2 AND resolved = 0 \
                     ORDER BY rowid LIMIT ?3",
                )
                .map_err(db_err("read relationships"))?;
            let rows = stmt
                .query_map(
                    params![
                        scope.organization,
                        scope.connector,
                        to_i64(sample_limit as u64)
                    ],
                    relationship_row,
                )
                .map_err(db_err("read relationships"))?;
            let mut report = RelationshipReport {
                resolved: u64::try_from(resolved).unwrap_or(0),
                unresolved: u64::try_from(unresolved).unwrap_or(0),
                unresolved_sample: Vec::new(),
            };
            for row in rows {
                let (rel, _) = row.map_err(db_err("read relationships"))?;
                report.unresolved_sample.push(rel?);
            }
            Ok(report)
        })
    }

    async fn commit(&self) -> Result<()> {
        let conn = self.lock();
        if !conn.is_autocommit() {
            conn.execute_batch("COMMIT")
                .map_err(db_err("commit the run"))?;
        }
        self.atomic_run.store(false, Ordering::Release);
        Ok(())
    }

    async fn rollback(&self) -> Result<RollbackOutcome> {
        let conn = self.lock();
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")
                .map_err(db_err("roll back the run"))?;
        }
        self.atomic_run.store(false, Ordering::Release);
        Ok(RollbackOutcome::Undone)
    }

    async fn load_checkpoint(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        load_checkpoint(&self.lock(), key)
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        load_checkpoint(&self.lock(), key)
    }

    async fn save(&self, key: &StateKey, checkpoint: &Checkpoint) -> Result<()> {
        save_checkpoint(&self.lock(), key, checkpoint)
    }

    async fn clear(&self, key: &StateKey) -> Result<()> {
        self.lock()
            .execute(
                "DELETE FROM checkpoints WHERE organization = ?1 AND connector = ?2 AND entity = ?3",
                params![key.organization, key.connector, key.entity],
            )
            .map_err(db_err("clear a checkpoint"))?;
        Ok(())
    }
}

#[async_trait]
impl ImportJournal for SqliteStore {
    async fn record_job(&self, job: &ImportJob) -> Result<()> {
        let entities = serde_json::to_string(&job.entities)?;
        let counts = serde_json::to_string(&job.counts)?;
        self.lock()
            .execute(
                "INSERT INTO import_jobs (id, organization, connector, entities, status, stage, counts, \
                 actor, started_at, updated_at, finished_at, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, stage = excluded.stage, \
                 counts = excluded.counts, updated_at = excluded.updated_at, \
                 finished_at = excluded.finished_at, error = excluded.error, entities = excluded.entities",
                params![
                    job.id,
                    job.organization,
                    job.connector,
                    entities,
                    job.status.as_str(),
                    job.stage.as_str(),
                    counts,
                    job.actor,
                    ts(job.started_at),
                    ts(job.updated_at),
                    job.finished_at.map(ts),
                    job.error
                ],
            )
            .map_err(db_err("record an import job"))?;
        Ok(())
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        insert_audit(&self.lock(), event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Deletion;
    use crate::sink::RecordWrite;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"))
            .block_on(f)
    }

    fn record(id: &str, to: &str) -> Record {
        Record::new("ISSUE", id, "jira")
            .with_field("id", serde_json::json!(id))
            .with_relationship(Relationship::new(
                ("ISSUE", id),
                RelationshipKind::DependsOn,
                ("ISSUE", to),
            ))
    }

    fn write(store: &SqliteStore, action: WriteAction, records: &[Record]) {
        let scope = RunScope::new("job", "org", "jira", false);
        let mut batch = Batch::new(scope.clone(), StateKey::new("org", "jira", "ISSUE"));
        for r in records {
            batch
                .writes
                .push(RecordWrite::new(scope.key_of(r), action, r.clone()));
        }
        block_on(store.write_batch(batch)).unwrap_or_else(|e| panic!("write: {e}"));
    }

    #[test]
    fn a_batched_lookup_answers_in_order_across_scopes_and_chunks() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        let stored: Vec<Record> = (0..700)
            .filter(|i| i % 3 == 0)
            .map(|i| record(&i.to_string(), "x"))
            .collect();
        write(&store, WriteAction::Create, &stored);
        let mut keys: Vec<RecordKey> = (0..700)
            .map(|i| RecordKey::new("org", "jira", "ISSUE", i.to_string()))
            .collect();
        // Other scopes in between, and a repeated key.
        keys.insert(5, RecordKey::new("org", "jira", "EPIC", "3"));
        keys.insert(9, RecordKey::new("other", "jira", "ISSUE", "3"));
        keys.push(RecordKey::new("org", "jira", "ISSUE", "3"));
        let found = block_on(store.lookup(&keys)).unwrap_or_else(|e| panic!("lookup: {e}"));
        assert_eq!(found.len(), keys.len());
        for (k, f) in keys.iter().zip(&found) {
            let expected = (k.organization == "org" && k.entity == "ISSUE")
                .then(|| k.external_id.parse::<u32>().ok())
                .flatten()
                .filter(|i| i % 3 == 0)
                .map(|i| record(&i.to_string(), "x"));
            assert_eq!(f, &expected, "{k:?}");
        }
    }

    #[test]
    fn a_large_write_is_done_when_its_call_is_dropped_and_runs_on_any_executor() {
        let records: Vec<Record> = (0..THREADED_WRITE_MIN * 2)
            .map(|i| record(&i.to_string(), "x"))
            .collect();
        let scope = RunScope::new("job", "org", "jira", false);
        let mut batch = Batch::new(scope.clone(), StateKey::new("org", "jira", "ISSUE"));
        for r in &records {
            batch.writes.push(RecordWrite::new(
                scope.key_of(r),
                WriteAction::Create,
                r.clone(),
            ));
        }
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        {
            let mut write = store.write_batch(batch.clone());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = write.as_mut().poll(&mut cx);
        } // dropped, most likely mid-write
        assert_eq!(
            store.count_records("org", "jira").ok(),
            Some(records.len() as u64)
        );
        // Without a tokio runtime.
        let other = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        futures::executor::block_on(other.write_batch(batch))
            .unwrap_or_else(|e| panic!("write: {e}"));
        assert_eq!(
            other.count_records("org", "jira").ok(),
            Some(records.len() as u64)
        );
    }

    #[test]
    fn a_create_of_a_stored_record_still_replaces_its_relationships() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        write(&store, WriteAction::Create, &[record("1", "a")]);
        write(&store, WriteAction::Create, &[record("1", "b")]);
        let key = RecordKey::new("org", "jira", "ISSUE", "1");
        let rels = store
            .relationships_of(&key)
            .unwrap_or_else(|e| panic!("read: {e}"));
        let targets: Vec<&str> = rels.iter().map(|(r, _)| r.to_id.as_str()).collect();
        assert_eq!(targets, ["b"]);
        assert_eq!(store.get(&key).ok().flatten(), Some(record("1", "b")));
    }

    #[test]
    fn a_file_store_uses_wal_with_a_large_autocheckpoint() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let store = SqliteStore::open(dir.path().join("s.sqlite"))
            .unwrap_or_else(|e| panic!("open the store: {e}"));
        let conn = store.lock();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| panic!("read the pragma {name}: {e}"))
        };
        assert_eq!(
            [
                pragma("journal_mode"),
                pragma("synchronous"),
                pragma("page_size"),
                pragma("wal_autocheckpoint"),
            ],
            [
                r#"Text("wal")"#,
                "Integer(2)",
                "Integer(16384)",
                // SQLite's own checkpoint is replaced by the store's (next test).
                "Integer(0)",
            ],
            "WAL, synchronous = FULL, page size of a new file, no checkpoint in commits"
        );
        assert!(store.checkpoints.is_some() && store.reader.is_some());
        assert_eq!(WAL_CHECKPOINT_BYTES, 40 << 20);
    }

    #[test]
    fn a_worker_runs_every_job_on_one_thread_and_survives_a_panicking_one() {
        let worker = Worker::new("sqlite-test", "test");
        let on = || block_on(worker.run(|| (Ok(std::thread::current().id()), ())));
        let first = on().unwrap_or_else(|e| panic!("a job: {e}"));
        let failed = block_on(worker.run(|| -> (Result<()>, ()) { panic!("injected") }));
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("the test thread stopped without an answer")
        );
        assert_eq!(on().unwrap_or_else(|e| panic!("a job: {e}")), first);
        assert_ne!(first, std::thread::current().id());
    }

    #[test]
    fn a_wal_past_the_threshold_is_copied_into_the_file_by_a_background_checkpoint() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().join("s.sqlite");
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        // A threshold of four 16 KiB pages.
        let store = SqliteStore::init(conn, Some(path.clone()), 4 * 16_384)
            .unwrap_or_else(|e| panic!("open the store: {e}"));
        let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = file_size();
        let records: Vec<Record> = (0..200)
            .map(|i| record(&format!("{i:04}"), "x").with_field("body", "b".repeat(500).into()))
            .collect();
        write(&store, WriteAction::Create, &records);
        store
            .checkpoints
            .as_ref()
            .unwrap_or_else(|| panic!("a file store checkpoints"))
            .wait();
        // ~100 KB of records reached the database file itself, which only a
        // checkpoint writes (SQLite's own is off).
        assert!(
            file_size() >= before + 100 * 1024,
            "database file {before} bytes before, {} after",
            file_size()
        );
        let found = block_on(store.lookup(&[RecordKey::new("org", "jira", "ISSUE", "0199")]))
            .unwrap_or_else(|e| panic!("lookup: {e}"));
        assert_eq!(
            found[0].as_ref().map(|r| &r.external_id),
            Some(&"0199".to_owned())
        );
    }

    #[test]
    fn lookups_use_their_own_connection_outside_atomic_runs_and_the_runs_inside_them() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let store = Arc::new(
            SqliteStore::open(dir.path().join("s.sqlite"))
                .unwrap_or_else(|e| panic!("open the store: {e}")),
        );
        write(&store, WriteAction::Create, &[record("1", "x")]);
        let key = RecordKey::new("org", "jira", "ISSUE", "1");
        // Outside a run, a lookup does not wait for the store's connection (held
        // here, as a write holds it) and sees what is committed.
        let held = store.lock();
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = Arc::clone(&store);
        let lookup_key = key.clone();
        std::thread::spawn(move || {
            let _ = tx.send(block_on(reading.lookup(&[lookup_key])).map(|r| r[0].is_some()));
        });
        let answer = rx.recv_timeout(Duration::from_secs(10));
        drop(held);
        assert!(
            matches!(answer, Ok(Ok(true))),
            "a lookup waited for the write connection: {answer:?}"
        );
        // Inside an atomic run, a lookup sees what the run wrote and has not
        // committed.
        let scope = RunScope::new("job-2", "org", "jira", true);
        block_on(store.begin(&scope)).unwrap_or_else(|e| panic!("begin: {e}"));
        write(&store, WriteAction::Create, &[record("2", "x")]);
        let key2 = RecordKey::new("org", "jira", "ISSUE", "2");
        let seen =
            block_on(store.lookup(std::slice::from_ref(&key2))).unwrap_or_else(|e| panic!("{e}"));
        assert!(seen[0].is_some(), "the run's own write is visible to it");
        block_on(store.rollback()).unwrap_or_else(|e| panic!("rollback: {e}"));
        let after = block_on(store.lookup(&[key2, key])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            after.iter().map(Option::is_some).collect::<Vec<_>>(),
            [false, true],
            "rolled back, then read through the lookup connection again"
        );
    }

    /// The tables of schema version 1, as that release created them.
    const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entity TEXT NOT NULL,
    external_id TEXT NOT NULL,
    record TEXT NOT NULL,
    source_created_at TEXT,
    source_updated_at TEXT,
    first_imported_at TEXT NOT NULL,
    last_imported_at TEXT NOT NULL,
    job_id TEXT NOT NULL,
    UNIQUE (organization, connector, entity, external_id)
);
CREATE TABLE IF NOT EXISTS relationships (
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    owner_entity TEXT NOT NULL,
    owner_external_id TEXT NOT NULL,
    from_type TEXT NOT NULL,
    from_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    to_type TEXT NOT NULL,
    to_id TEXT NOT NULL,
    strength INTEGER NOT NULL,
    bidirectional INTEGER NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0,
    UNIQUE (organization, connector, owner_entity, owner_external_id, from_type, from_id, kind, to_type, to_id)
);
CREATE INDEX IF NOT EXISTS relationships_target
    ON relationships (organization, connector, to_type, to_id);
CREATE TABLE IF NOT EXISTS sync_log (
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entity TEXT NOT NULL,
    external_id TEXT NOT NULL,
    first_job_id TEXT NOT NULL,
    last_job_id TEXT NOT NULL,
    last_action TEXT NOT NULL,
    first_synced_at TEXT NOT NULL,
    last_synced_at TEXT NOT NULL,
    deleted_at TEXT,
    PRIMARY KEY (organization, connector, entity, external_id)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entity TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (organization, connector, entity)
);
CREATE TABLE IF NOT EXISTS import_jobs (
    id TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    connector TEXT NOT NULL,
    entities TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    counts TEXT NOT NULL,
    actor TEXT,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS import_jobs_by_connector
    ON import_jobs (organization, connector, started_at);
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    organization TEXT NOT NULL,
    resource TEXT NOT NULL,
    job_id TEXT,
    records INTEGER NOT NULL,
    success INTEGER NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS credentials (
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (organization, name)
);
";

    /// A version-1 database as that release left it after an import of two
    /// records (one deleted afterwards), a checkpoint, a job and an audit event.
    fn v1_file(path: &Path, first: &Record, second: &Record) {
        let conn = Connection::open(path).unwrap_or_else(|e| panic!("open: {e}"));
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; {SCHEMA_V1} PRAGMA user_version = 1;"
        ))
        .unwrap_or_else(|e| panic!("v1 schema: {e}"));
        let at = "2024-03-01T10:00:00.123456789Z";
        let later = "2024-03-02T11:30:00.000000001Z";
        for (r, job, first_at) in [(first, "job-1", at), (second, "job-2", later)] {
            conn.execute(
                "INSERT INTO records (organization, connector, entity, external_id, record, \
                 source_created_at, source_updated_at, first_imported_at, last_imported_at, \
                 job_id) VALUES ('org', 'jira', 'ISSUE', ?1, ?2, NULL, NULL, ?3, ?4, ?5)",
                params![
                    r.external_id,
                    serde_json::to_string(r).unwrap_or_default(),
                    first_at,
                    later,
                    job
                ],
            )
            .unwrap_or_else(|e| panic!("v1 record: {e}"));
            conn.execute(
                "INSERT INTO sync_log VALUES ('org', 'jira', 'ISSUE', ?1, 'job-1', ?2, \
                 'update', ?3, ?4, NULL)",
                params![r.external_id, job, at, later],
            )
            .unwrap_or_else(|e| panic!("v1 log: {e}"));
        }
        conn.execute_batch(
            "INSERT INTO sync_log VALUES ('org', 'jira', 'ISSUE', 'gone', 'job-1', 'job-2', \
             'delete', '2024-03-01T10:00:00.123456789Z', '2024-03-02T11:30:00.000000001Z', \
             '2024-03-02T09:00:00.000000000Z');
             INSERT INTO relationships (organization, connector, owner_entity, \
             owner_external_id, from_type, from_id, kind, to_type, to_id, strength, \
             bidirectional) VALUES ('org', 'jira', 'ISSUE', '1', 'ISSUE', '1', 'depends_on', \
             'ISSUE', '2', 100, 0);
             INSERT INTO audit_events (at, actor, action, organization, resource, job_id, \
             records, success, detail) VALUES ('2024-03-02T11:30:00.000000001Z', 'ops', \
             'import', 'org', 'jira', 'job-2', 2, 1, NULL);",
        )
        .unwrap_or_else(|e| panic!("v1 rows: {e}"));
        let checkpoint = Checkpoint::in_progress("ISSUE", "page-7");
        conn.execute(
            "INSERT INTO checkpoints VALUES ('org', 'jira', 'ISSUE', ?1, ?2)",
            params![
                serde_json::to_string(&checkpoint).unwrap_or_default(),
                later
            ],
        )
        .unwrap_or_else(|e| panic!("v1 checkpoint: {e}"));
        conn.execute(
            "INSERT INTO import_jobs VALUES ('job-2', 'org', 'jira', '[\"ISSUE\"]', \
             'completed', 'completed', ?1, 'ops', ?2, ?2, ?2, NULL)",
            params![
                serde_json::to_string(&Counts::default()).unwrap_or_default(),
                later
            ],
        )
        .unwrap_or_else(|e| panic!("v1 job: {e}"));
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn write_in(store: &SqliteStore, job: &str, writes: &[(WriteAction, Record)], gone: &[&str]) {
        let scope = RunScope::new(job, "org", "jira", false);
        let mut batch = Batch::new(scope.clone(), StateKey::new("org", "jira", "ISSUE"));
        for (action, r) in writes {
            batch
                .writes
                .push(RecordWrite::new(scope.key_of(r), *action, r.clone()));
        }
        for id in gone {
            batch.deletions.push(Deletion::new("ISSUE", *id));
        }
        block_on(store.write_batch(batch)).unwrap_or_else(|e| panic!("write: {e}"));
    }

    fn log_of(store: &SqliteStore, id: &str) -> Option<SyncLogEntry> {
        store
            .sync_log_entry(&RecordKey::new("org", "jira", "ISSUE", id))
            .unwrap_or_else(|e| panic!("log: {e}"))
    }

    /// First job, last job, last action and deletion time of an entry.
    fn history(e: &SyncLogEntry) -> (&str, &str, &str, Option<DateTime<Utc>>) {
        (
            e.first_job_id.as_str(),
            e.last_job_id.as_str(),
            e.last_action.as_str(),
            e.deleted_at,
        )
    }

    fn log_rows(store: &SqliteStore) -> i64 {
        store
            .lock()
            .query_row("SELECT count(*) FROM sync_log", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("count: {e}"))
    }

    #[test]
    fn a_deleted_record_keeps_its_history_and_takes_it_back_when_it_returns() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("open: {e}"));
        write_in(
            &store,
            "job-a",
            &[(WriteAction::Create, record("1", "x"))],
            &[],
        );
        let created = log_of(&store, "1").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(history(&created), ("job-a", "job-a", "create", None));
        assert_eq!(
            log_rows(&store),
            0,
            "a stored record's history is in its row"
        );

        write_in(
            &store,
            "job-b",
            &[(WriteAction::Update, record("1", "y"))],
            &[],
        );
        let updated = log_of(&store, "1").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(
            (updated.first_job_id.as_str(), updated.last_job_id.as_str()),
            ("job-a", "job-b")
        );
        assert_eq!(updated.last_action, "update");
        assert_eq!(updated.first_synced_at, created.first_synced_at);

        // Deleted: the history moves to the log, with the deletion.
        write_in(&store, "job-c", &[], &["1", "never-seen"]);
        assert_eq!(
            store.get(&RecordKey::new("org", "jira", "ISSUE", "1")).ok(),
            Some(None)
        );
        let deleted = log_of(&store, "1").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(
            (
                deleted.first_job_id.as_str(),
                deleted.last_job_id.as_str(),
                deleted.last_action.as_str()
            ),
            ("job-a", "job-c", "delete")
        );
        assert_eq!(deleted.first_synced_at, created.first_synced_at);
        assert!(deleted.deleted_at.is_some());
        let unknown = log_of(&store, "never-seen").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(
            (unknown.first_job_id.as_str(), unknown.last_action.as_str()),
            ("job-c", "delete")
        );
        assert_eq!(log_rows(&store), 2);

        // Back again: its first job and first sync time come back with it.
        write_in(
            &store,
            "job-d",
            &[
                (WriteAction::Create, record("1", "z")),
                (WriteAction::Create, record("2", "z")),
            ],
            &[],
        );
        let back = log_of(&store, "1").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(history(&back), ("job-a", "job-d", "create", None));
        assert_eq!(back.first_synced_at, created.first_synced_at);
        let new = log_of(&store, "2").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(new.first_job_id, "job-d");
        assert_eq!(
            log_rows(&store),
            1,
            "only the unknown key's tombstone is left"
        );
        assert_eq!(log_of(&store, "3"), None);
    }

    /// Version 2's schema: version 3's without the two record columns it added.
    fn schema_v2() -> String {
        let added = "    first_job INTEGER NOT NULL DEFAULT 0,\n    \
                     last_action TEXT NOT NULL DEFAULT 'create',\n";
        assert!(SCHEMA.contains(added), "the columns version 3 added");
        SCHEMA.replace(added, "")
    }

    #[test]
    fn a_version_2_database_is_upgraded_and_its_sync_log_folded_into_the_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().join("v2.sqlite");
        let (one, two) = (record("1", "2"), record("2", "1"));
        let first = nanos(at("2024-03-01T10:00:00.123456789Z")).unwrap_or_default();
        let later = nanos(at("2024-03-02T11:30:00.000000001Z")).unwrap_or_default();
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = WAL; {} PRAGMA user_version = 2;
                 INSERT INTO scopes VALUES (1, 'org', 'jira', 'ISSUE');
                 INSERT INTO job_ids VALUES (1, 'job-1'), (2, 'job-2');",
                schema_v2()
            ))
            .unwrap_or_else(|e| panic!("v2 schema: {e}"));
            for r in [&one, &two] {
                // The row was (re)created later than the key was first synced.
                conn.execute(
                    "INSERT INTO records (scope, external_id, record, source_created_at, \
                     source_updated_at, first_imported_at, last_imported_at, job) \
                     VALUES (1, ?1, ?2, NULL, NULL, ?3, ?3, 2)",
                    params![
                        r.external_id,
                        serde_json::to_string(r).unwrap_or_default(),
                        later
                    ],
                )
                .unwrap_or_else(|e| panic!("v2 record: {e}"));
                conn.execute(
                    "INSERT INTO sync_log VALUES (1, ?1, 1, 2, 'update', ?2, ?3, NULL)",
                    params![r.external_id, first, later],
                )
                .unwrap_or_else(|e| panic!("v2 log: {e}"));
            }
            conn.execute(
                "INSERT INTO sync_log VALUES (1, 'gone', 1, 2, 'delete', ?1, ?2, \
                 '2024-03-02T09:00:00.000000000Z')",
                params![first, later],
            )
            .unwrap_or_else(|e| panic!("v2 tombstone: {e}"));
        }
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("upgrade: {e}"));
        let version: i64 = store
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("version: {e}"));
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(
            store.get(&RecordKey::new("org", "jira", "ISSUE", "2")).ok(),
            Some(Some(two))
        );
        let entry = log_of(&store, "2").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(history(&entry), ("job-1", "job-2", "update", None));
        assert_eq!(entry.first_synced_at, from_nanos(first));
        assert_eq!(entry.last_synced_at, from_nanos(later));
        let gone = log_of(&store, "gone").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(gone.deleted_at, Some(at("2024-03-02T09:00:00Z")));
        assert_eq!(log_rows(&store), 1, "only the deleted key stays in the log");

        // New writes after the upgrade keep the folded history.
        write_in(
            &store,
            "job-3",
            &[(WriteAction::Update, record("1", "9"))],
            &[],
        );
        let entry = log_of(&store, "1").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(
            (entry.first_job_id.as_str(), entry.last_job_id.as_str()),
            ("job-1", "job-3")
        );
        assert_eq!(entry.first_synced_at, from_nanos(first));
        write_in(
            &store,
            "job-3",
            &[(WriteAction::Create, record("gone", "1"))],
            &[],
        );
        let back = log_of(&store, "gone").unwrap_or_else(|| panic!("an entry"));
        assert_eq!(
            (back.first_job_id.as_str(), back.deleted_at),
            ("job-1", None)
        );
        assert_eq!(log_rows(&store), 0);
        drop(store);
        let before = std::fs::read(&path).unwrap_or_default();
        drop(SqliteStore::open(&path).unwrap_or_else(|e| panic!("reopen: {e}")));
        assert!(
            std::fs::read(&path).unwrap_or_default() == before,
            "reopening changed the file"
        );
        drop(one);
    }

    fn pushed(t: DateTime<Utc>) -> String {
        let mut out = b"prefix".to_vec();
        push_ts(&mut out, t);
        String::from_utf8(out[6..].to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn times_written_into_a_batch_buffer_match_the_stored_text_format() {
        use chrono::{NaiveDate, TimeZone};
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .map(|t| Utc.from_utc_datetime(&t))
            .unwrap_or_else(|| panic!("a leap second"));
        let cases = [
            at("2024-01-15T10:30:45Z"),
            at("2024-01-15T10:30:45.123456789Z"),
            at("1970-01-01T00:00:00.000000001Z"),
            at("0000-01-01T00:00:00Z"),
            at("9999-12-31T23:59:59.999999999Z"),
            leap,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_else(|| panic!("year 10000")),
            Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0)
                .single()
                .unwrap_or_else(|| panic!("year -1")),
        ];
        for t in cases {
            assert_eq!(pushed(t), ts(t), "{t:?}");
        }
        assert_eq!(pushed(leap), "2016-12-31T23:59:60.500000000Z");
    }

    proptest::proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            secs in -62_135_596_800i64..253_402_300_800i64,
            nanos in 0u32..1_000_000_000,
        ) {
            let t = DateTime::from_timestamp(secs, nanos)
                .unwrap_or_else(|| panic!("in range"));
            proptest::prop_assert_eq!(pushed(t), ts(t));
        }
    }

    #[test]
    fn a_version_1_database_is_upgraded_with_its_records_log_checkpoints_and_jobs() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().join("v1.sqlite");
        let (one, two) = (record("1", "2"), record("2", "1"));
        v1_file(&path, &one, &two);

        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("open v1: {e}"));
        let version: i64 = store
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("version: {e}"));
        assert_eq!(version, SCHEMA_VERSION);

        let key = |id: &str| RecordKey::new("org", "jira", "ISSUE", id);
        assert_eq!(store.get(&key("1")).ok().flatten(), Some(one.clone()));
        let found = block_on(store.lookup(&[key("2"), key("3"), key("1")]))
            .unwrap_or_else(|e| panic!("lookup: {e}"));
        assert_eq!(found, vec![Some(two.clone()), None, Some(one.clone())]);
        assert_eq!(store.count_records("org", "jira").ok(), Some(2));
        let mut all = Vec::new();
        store
            .for_each_record("org", "jira", "ISSUE", |r| {
                all.push(r);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("each: {e}"));
        assert_eq!(all, vec![one, two]);

        let entry = store
            .sync_log_entry(&key("2"))
            .unwrap_or_else(|e| panic!("log: {e}"))
            .unwrap_or_else(|| panic!("a log entry"));
        assert_eq!(
            (
                entry.first_job_id.as_str(),
                entry.last_job_id.as_str(),
                entry.last_action.as_str()
            ),
            ("job-1", "job-2", "update")
        );
        assert_eq!(entry.first_synced_at, at("2024-03-01T10:00:00.123456789Z"));
        assert_eq!(entry.last_synced_at, at("2024-03-02T11:30:00.000000001Z"));
        let gone = store
            .sync_log_entry(&key("gone"))
            .unwrap_or_else(|e| panic!("log: {e}"))
            .unwrap_or_else(|| panic!("a log entry"));
        assert_eq!(gone.deleted_at, Some(at("2024-03-02T09:00:00.000000000Z")));

        let checkpoint = block_on(store.load(&StateKey::new("org", "jira", "ISSUE")))
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        assert_eq!(checkpoint, Some(Checkpoint::in_progress("ISSUE", "page-7")));
        let job = store
            .job("job-2")
            .unwrap_or_else(|e| panic!("job: {e}"))
            .unwrap_or_else(|| panic!("the job"));
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(store.audit_events("org", 10).map(|a| a.len()).ok(), Some(1));
        let rels = store
            .relationships_of(&key("1"))
            .unwrap_or_else(|e| panic!("relationships: {e}"));
        assert_eq!(rels.len(), 1);

        // The upgraded store takes new writes in the old scope and in new ones.
        write(&store, WriteAction::Update, &[record("1", "3")]);
        write(&store, WriteAction::Create, &[record("9", "1")]);
        assert_eq!(store.count_records("org", "jira").ok(), Some(3));
        let entry = store
            .sync_log_entry(&key("1"))
            .unwrap_or_else(|e| panic!("log: {e}"))
            .unwrap_or_else(|| panic!("a log entry"));
        assert_eq!(
            (entry.first_job_id.as_str(), entry.last_job_id.as_str()),
            ("job-1", "job")
        );
        drop(store);
        // Opening it again changes nothing.
        let before = std::fs::read(&path).unwrap_or_default();
        drop(SqliteStore::open(&path).unwrap_or_else(|e| panic!("reopen: {e}")));
        assert!(
            std::fs::read(&path).unwrap_or_default() == before,
            "reopening changed the file"
        );
    }

    #[test]
    fn a_version_1_database_that_cannot_be_upgraded_is_left_unchanged() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().join("v1.sqlite");
        v1_file(&path, &record("1", "2"), &record("2", "1"));
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
            conn.execute("UPDATE records SET last_imported_at = 'yesterday'", [])
                .unwrap_or_else(|e| panic!("spoil: {e}"));
        }
        let before = std::fs::read(&path).unwrap_or_default();
        let err = SqliteStore::open(&path).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("schema version 1"), "{err}");
        assert!(
            std::fs::read(&path).unwrap_or_default() == before,
            "a failed upgrade changed the file"
        );
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let old: i64 = conn
            .query_row(
                "SELECT count(*) FROM records WHERE organization = 'org'",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("the v1 table is intact: {e}"));
        assert_eq!(old, 2);
    }
}
