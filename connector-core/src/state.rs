//! Sync state: checkpoints and where they are kept.
//!
//! A [`Checkpoint`] is a versioned, serialisable resume point for one stream (one
//! entity of one connector): the page token to continue a read that was cut short,
//! and the incremental high-watermark to start the next read from. A
//! [`StateStore`] keeps checkpoints keyed by organization, connector and entity.
//! [`MemoryStateStore`] is for tests and short-lived processes; [`FileStateStore`]
//! writes each checkpoint atomically (temporary file, fsync, rename), so a crash in
//! the middle of a write leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ConnectorError, ErrorKind, Result};

/// A resume point for one stream.
///
/// - While a read is in progress, `cursor` holds the token of the next page and
///   `complete` is false: resuming continues the same read from that page.
/// - When a read has finished, `complete` is true and `cursor` is `None`: the next
///   read is incremental, starting from `watermark` (or from `sync_token`, for
///   vendors that hand out one, such as a Microsoft Graph delta link).
///
/// ```
/// use connector_core::Checkpoint;
///
/// let mid = Checkpoint::in_progress("issues", "page-3");
/// assert!(!mid.complete);
/// let json = serde_json::to_string(&mid).unwrap();
/// let back: Checkpoint = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, mid);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The format version; see [`Checkpoint::VERSION`].
    pub version: u32,
    /// The stream this checkpoint belongs to: the source entity type.
    pub stream: String,
    /// The token of the next page, while a read is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Whether the read this checkpoint belongs to has finished.
    #[serde(default)]
    pub complete: bool,
    /// The incremental high-watermark: records changed at or after it are read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<DateTime<Utc>>,
    /// A vendor token for the next incremental read (Graph delta link, sync token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    /// How many records the read has yielded up to this checkpoint.
    #[serde(default)]
    pub records_seen: u64,
    /// The lower bound of the incremental read in progress, so a resumed read keeps
    /// the same filter. `None` for full reads and completed checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl Checkpoint {
    /// The current checkpoint format version.
    pub const VERSION: u32 = 1;

    /// A checkpoint in the middle of a read: resume from `cursor`.
    pub fn in_progress(stream: impl Into<String>, cursor: impl Into<String>) -> Self {
        Self {
            version: Self::VERSION,
            stream: stream.into(),
            cursor: Some(cursor.into()),
            complete: false,
            watermark: None,
            sync_token: None,
            records_seen: 0,
            since: None,
        }
    }

    /// A checkpoint at the end of a read: the next read is incremental.
    pub fn completed(stream: impl Into<String>, watermark: Option<DateTime<Utc>>) -> Self {
        Self {
            version: Self::VERSION,
            stream: stream.into(),
            cursor: None,
            complete: true,
            watermark,
            sync_token: None,
            records_seen: 0,
            since: None,
        }
    }

    /// Sets the high-watermark.
    pub fn with_watermark(mut self, watermark: Option<DateTime<Utc>>) -> Self {
        self.watermark = watermark;
        self
    }

    /// Sets the vendor sync token.
    pub fn with_sync_token(mut self, token: impl Into<String>) -> Self {
        self.sync_token = Some(token.into());
        self
    }

    /// Sets the lower bound of the incremental read in progress.
    pub fn with_since(mut self, since: Option<DateTime<Utc>>) -> Self {
        self.since = since;
        self
    }

    /// Sets the number of records yielded so far.
    pub fn with_records_seen(mut self, n: u64) -> Self {
        self.records_seen = n;
        self
    }

    /// Checks that this checkpoint can be used to resume `stream`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the version is newer than this library knows or
    /// the checkpoint belongs to another stream.
    pub fn validate_for(&self, stream: &str) -> Result<()> {
        if self.version > Self::VERSION {
            return Err(ConnectorError::config(format!(
                "checkpoint version {} is newer than this library supports ({}); upgrade \
                 connector-core or clear the saved state",
                self.version,
                Self::VERSION
            )));
        }
        if self.stream != stream {
            return Err(ConnectorError::config(format!(
                "checkpoint belongs to stream `{}`, not `{stream}`",
                self.stream
            )));
        }
        Ok(())
    }
}

/// What a saved checkpoint is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StateKey {
    /// The organization (tenant) the sync runs for.
    pub organization: String,
    /// The connector id.
    pub connector: String,
    /// The entity (stream).
    pub entity: String,
}

impl StateKey {
    /// Creates a key.
    pub fn new(
        organization: impl Into<String>,
        connector: impl Into<String>,
        entity: impl Into<String>,
    ) -> Self {
        Self {
            organization: organization.into(),
            connector: connector.into(),
            entity: entity.into(),
        }
    }
}

/// Keeps checkpoints between runs.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Loads the checkpoint saved for `key`, if any.
    async fn load(&self, key: &StateKey) -> Result<Option<Checkpoint>>;
    /// Saves `checkpoint` for `key`, replacing any earlier one.
    async fn save(&self, key: &StateKey, checkpoint: &Checkpoint) -> Result<()>;
    /// Forgets the checkpoint for `key`; the next read starts from scratch.
    async fn clear(&self, key: &StateKey) -> Result<()>;
}

/// A [`StateStore`] in memory; state is lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<HashMap<StateKey, Checkpoint>>,
}

impl MemoryStateStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StateKey, Checkpoint>> {
        // A poisoned lock only means another thread panicked mid-insert of a whole
        // value; the map itself is still consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        Ok(self.lock().get(key).cloned())
    }

    async fn save(&self, key: &StateKey, checkpoint: &Checkpoint) -> Result<()> {
        self.lock().insert(key.clone(), checkpoint.clone());
        Ok(())
    }

    async fn clear(&self, key: &StateKey) -> Result<()> {
        self.lock().remove(key);
        Ok(())
    }
}

/// A [`StateStore`] that keeps one JSON file per key under a directory.
///
/// Each save writes a temporary file in the same directory, fsyncs it, renames it
/// over the old file and fsyncs the directory, so a reader sees either the old or
/// the new checkpoint, never a torn one. The files are small; writes use blocking
/// file I/O, which is fine for a checkpoint per page.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    /// Uses `dir`, creating it if needed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_error("create the state directory", &dir, e))?;
        Ok(Self { dir })
    }

    /// The file that holds the checkpoint for `key`.
    pub fn path_for(&self, key: &StateKey) -> PathBuf {
        let name = format!(
            "{}__{}__{}.json",
            encode_component(&key.organization),
            encode_component(&key.connector),
            encode_component(&key.entity)
        );
        self.dir.join(name)
    }
}

/// Keeps file names portable: ASCII alphanumerics, `-`, `_` and `.` stay, the rest
/// becomes `%XX`. A leading `.` is escaped so no name is hidden or `..`.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep =
            b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0) || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unexpected,
        format!("could not {what} {}: {err}", path.display()),
    )
    .with_operation("state")
    .with_source(err)
}

#[async_trait]
impl StateStore for FileStateStore {
    async fn load(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        let path = self.path_for(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read the checkpoint", &path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ConnectorError::decode(format!(
                "checkpoint file {} is not a valid checkpoint: {e}; delete it to start over",
                path.display()
            ))
            .with_operation("state")
        })
    }

    async fn save(&self, key: &StateKey, checkpoint: &Checkpoint) -> Result<()> {
        let path = self.path_for(key);
        let json = serde_json::to_vec_pretty(checkpoint)?;
        write_atomically(&path, &json)
    }

    async fn clear(&self, key: &StateKey) -> Result<()> {
        let path = self.path_for(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove the checkpoint", &path, e)),
        }
    }
}

/// Writes `bytes` to `path` so a crash leaves either the old or the new content.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Persist the rename itself. Directories cannot be opened for sync on every
        // platform; a failure here does not undo the rename.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StateKey {
        StateKey::new("org/1", "github", "issues")
    }

    #[tokio::test]
    async fn memory_store_round_trip() {
        let store = MemoryStateStore::new();
        assert_eq!(store.load(&key()).await.unwrap(), None);
        let cp = Checkpoint::in_progress("issues", "p2").with_records_seen(100);
        store.save(&key(), &cp).await.unwrap();
        assert_eq!(store.load(&key()).await.unwrap(), Some(cp));
        store.clear(&key()).await.unwrap();
        assert_eq!(store.load(&key()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn file_store_round_trip_and_names_are_safe() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::new(dir.path()).unwrap();
        let cp = Checkpoint::completed("issues", Some(Utc::now()));
        store.save(&key(), &cp).await.unwrap();
        assert_eq!(store.load(&key()).await.unwrap(), Some(cp));
        let path = store.path_for(&StateKey::new("../evil", "x", ".hidden"));
        assert_eq!(path.parent(), Some(dir.path()));
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            "%2E.%2Fevil__x__%2Ehidden.json"
        );
    }

    #[tokio::test]
    async fn crash_mid_write_keeps_the_old_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::new(dir.path()).unwrap();
        let old = Checkpoint::in_progress("issues", "p1");
        store.save(&key(), &old).await.unwrap();

        // Simulate a crash after the temporary file was partly written but before
        // the rename: a torn temp file sits next to the real one.
        let path = store.path_for(&key());
        let torn = dir.path().join(format!(
            ".{}.{}.tmp",
            path.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        fs::write(&torn, b"{\"version\":1,\"str").unwrap();
        assert_eq!(store.load(&key()).await.unwrap(), Some(old.clone()));

        // The next save replaces the torn file and the checkpoint.
        let new = Checkpoint::in_progress("issues", "p2");
        store.save(&key(), &new).await.unwrap();
        assert_eq!(store.load(&key()).await.unwrap(), Some(new));
        assert!(!torn.exists());
    }

    #[tokio::test]
    async fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::new(dir.path()).unwrap();
        fs::write(store.path_for(&key()), b"not json").unwrap();
        let err = store.load(&key()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.to_string().contains("delete it to start over"), "{err}");
    }

    #[test]
    fn checkpoint_validation() {
        let cp = Checkpoint::in_progress("issues", "x");
        assert!(cp.validate_for("issues").is_ok());
        assert_eq!(
            cp.validate_for("users").unwrap_err().kind(),
            ErrorKind::Config
        );
        let mut future = cp;
        future.version = 99;
        assert!(
            future
                .validate_for("issues")
                .unwrap_err()
                .to_string()
                .contains("newer")
        );
    }
}
