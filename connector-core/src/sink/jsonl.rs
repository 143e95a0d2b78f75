//! The JSON Lines sink.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Batch, RecordKey, RelationshipReport, RollbackOutcome, RunScope, Sink, SinkInfo};
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::record::Record;
use crate::state::{Checkpoint, StateKey, write_atomically};

const COMMIT_FILE: &str = "_commit.json";

/// A transactional [`Sink`] writing one JSON Lines file per entity type under a
/// directory.
///
/// Each line is an operation: `{"op":"upsert","key":{..},"record":{..}}` or
/// `{"op":"delete","key":{..}}`; for a key, the **last** line wins. A small commit
/// file (`_commit.json`, replaced atomically) records how many bytes of each file
/// are committed and the checkpoints that go with them. Commit fsyncs the entity
/// files, then replaces the commit file; anything after the committed length is
/// uncommitted and is cut off on rollback, at the next `begin`, and when the
/// directory is opened after a crash. That makes the sink exactly-once: a checkpoint
/// is never durable without its data, nor the data without its checkpoint.
///
/// The sink keeps an index of keys to line offsets in memory (one entry per stored
/// record, not per source record) to answer lookups; [`JsonLinesSink::compact`]
/// rewrites a file with only its live records.
///
/// I/O is blocking and happens inside the async methods (see the
/// [module docs](super#blocking-io)).
#[derive(Debug)]
pub struct JsonLinesSink {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    commit: CommitFile,
    /// Where the latest line of each live key is: file name, offset, length.
    index: HashMap<RecordKey, Location>,
    /// Current lengths of the files written since the last commit.
    dirty: BTreeMap<String, u64>,
    pending_checkpoints: BTreeMap<StateKey, Checkpoint>,
    atomic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    file: String,
    offset: u64,
    len: u64,
    has_relationships: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CommitFile {
    /// Committed bytes per entity file.
    files: BTreeMap<String, u64>,
    /// Committed checkpoints.
    #[serde(default)]
    checkpoints: Vec<(StateKey, Checkpoint)>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LineRef<'a> {
    Upsert {
        key: &'a RecordKey,
        record: &'a Record,
    },
    Delete {
        key: &'a RecordKey,
    },
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    Upsert { key: RecordKey, record: Record },
    Delete { key: RecordKey },
}

fn io_err(what: &str, path: &Path, err: std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unexpected,
        format!("could not {what} {}: {err}", path.display()),
    )
    .with_operation("jsonl_sink")
    .with_source(err)
}

/// Keeps file names portable: ASCII alphanumerics, `-` and `_` stay, the rest
/// becomes `%XX`.
fn file_name_for(entity: &str) -> String {
    let mut out = String::with_capacity(entity.len() + 6);
    for b in entity.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(".jsonl");
    out
}

impl JsonLinesSink {
    /// Opens (or creates) the sink in `dir`, cutting off anything a crashed run left
    /// uncommitted.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or read, or a committed line is not
    /// valid (the file was edited by hand).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_err("create the sink directory", &dir, e))?;
        let commit_path = dir.join(COMMIT_FILE);
        let commit = match fs::read(&commit_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ConnectorError::decode(format!(
                    "commit file {} is invalid: {e}",
                    commit_path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CommitFile::default(),
            Err(e) => return Err(io_err("read", &commit_path, e)),
        };
        let mut inner = Inner {
            dir,
            commit,
            index: HashMap::new(),
            dirty: BTreeMap::new(),
            pending_checkpoints: BTreeMap::new(),
            atomic: false,
        };
        inner.restore()?;
        Ok(Self {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory the sink writes to.
    pub fn dir(&self) -> PathBuf {
        self.lock().dir.clone()
    }

    /// The path of the file holding `entity` records.
    pub fn path_for(&self, entity: &str) -> PathBuf {
        self.lock().dir.join(file_name_for(entity))
    }

    /// The latest stored record for `key` (committed, or written by the current run).
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn get(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.lock().read(key)
    }

    /// Every live key, sorted.
    pub fn keys(&self) -> Vec<RecordKey> {
        let mut keys: Vec<RecordKey> = self.lock().index.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// How many live records the sink holds.
    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    /// True when the sink holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rewrites the file of `entity` with one line per live record, dropping
    /// superseded versions and deletions. Runs only between runs.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`] when a run has uncommitted writes; I/O errors.
    pub fn compact(&self, entity: &str) -> Result<()> {
        let mut inner = self.lock();
        if !inner.dirty.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                "cannot compact while a run has uncommitted writes",
            ));
        }
        let name = file_name_for(entity);
        let mut live: Vec<(RecordKey, Location)> = inner
            .index
            .iter()
            .filter(|(_, loc)| loc.file == name)
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect();
        live.sort_by_key(|(_, l)| l.offset);
        let path = inner.dir.join(&name);
        let mut out = Vec::new();
        let mut moved = Vec::with_capacity(live.len());
        let mut file = File::open(&path).map_err(|e| io_err("open", &path, e))?;
        for (key, loc) in live {
            let line = read_at(&mut file, &path, &loc)?;
            let offset = out.len() as u64;
            out.extend_from_slice(&line);
            moved.push((key, Location { offset, ..loc }));
        }
        write_atomically(&path, &out)?;
        let mut commit = inner.commit.clone();
        commit.files.insert(name, out.len() as u64);
        inner.write_commit(&commit)?;
        inner.commit = commit;
        for (key, loc) in moved {
            inner.index.insert(key, loc);
        }
        Ok(())
    }
}

fn read_at(file: &mut File, path: &Path, loc: &Location) -> Result<Vec<u8>> {
    file.seek(SeekFrom::Start(loc.offset))
        .map_err(|e| io_err("seek in", path, e))?;
    let mut buf = vec![0; usize::try_from(loc.len).unwrap_or(usize::MAX)];
    file.read_exact(&mut buf)
        .map_err(|e| io_err("read", path, e))?;
    Ok(buf)
}

impl Inner {
    /// Cuts every entity file back to its committed length and rebuilds the index.
    fn restore(&mut self) -> Result<()> {
        self.index.clear();
        self.dirty.clear();
        self.pending_checkpoints.clear();
        let entries = fs::read_dir(&self.dir).map_err(|e| io_err("list", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".jsonl") {
                continue;
            }
            let path = entry.path();
            let committed = self.commit.files.get(&name).copied().unwrap_or(0);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| io_err("open", &path, e))?;
            let len = file.metadata().map_err(|e| io_err("stat", &path, e))?.len();
            if len != committed {
                file.set_len(committed)
                    .map_err(|e| io_err("truncate", &path, e))?;
                file.sync_all().map_err(|e| io_err("sync", &path, e))?;
            }
            self.scan(&name, &path, committed)?;
        }
        Ok(())
    }

    fn scan(&mut self, name: &str, path: &Path, committed: u64) -> Result<()> {
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let mut reader = BufReader::new(file.take(committed));
        let mut offset = 0u64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io_err("read", path, e))?;
            if n == 0 {
                break;
            }
            let parsed: Line = serde_json::from_slice(&line).map_err(|e| {
                ConnectorError::decode(format!(
                    "{} has an invalid line at byte {offset}: {e}",
                    path.display()
                ))
            })?;
            match parsed {
                Line::Upsert { key, record } => {
                    let loc = Location {
                        file: name.to_owned(),
                        offset,
                        len: n as u64,
                        has_relationships: !record.relationships.is_empty(),
                    };
                    self.index.insert(key, loc);
                }
                Line::Delete { key } => {
                    self.index.remove(&key);
                }
            }
            offset += n as u64;
        }
        Ok(())
    }

    fn read(&self, key: &RecordKey) -> Result<Option<Record>> {
        let Some(loc) = self.index.get(key) else {
            return Ok(None);
        };
        let path = self.dir.join(&loc.file);
        let mut file = File::open(&path).map_err(|e| io_err("open", &path, e))?;
        let bytes = read_at(&mut file, &path, loc)?;
        match serde_json::from_slice(&bytes)? {
            Line::Upsert { record, .. } => Ok(Some(record)),
            Line::Delete { .. } => Ok(None),
        }
    }

    fn current_len(&self, name: &str) -> u64 {
        self.dirty
            .get(name)
            .or_else(|| self.commit.files.get(name))
            .copied()
            .unwrap_or(0)
    }

    /// Appends a batch: all lines or (after truncating back) none.
    fn append(&mut self, batch: &Batch) -> Result<()> {
        let mut lines: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut index_changes: Vec<(RecordKey, Option<Location>)> = Vec::new();
        let mut push = |name: String, json: Vec<u8>, change: (RecordKey, bool, bool)| {
            let buf = lines.entry(name.clone()).or_default();
            let base = self.current_len(&name) + buf.len() as u64;
            let (key, live, has_relationships) = change;
            let loc = live.then(|| Location {
                file: name,
                offset: base,
                len: json.len() as u64 + 1,
                has_relationships,
            });
            buf.extend_from_slice(&json);
            buf.push(b'\n');
            index_changes.push((key, loc));
        };
        for write in &batch.writes {
            let json = serde_json::to_vec(&LineRef::Upsert {
                key: &write.key,
                record: &write.record,
            })?;
            let has_rel = !write.record.relationships.is_empty();
            push(
                file_name_for(&write.key.entity),
                json,
                (write.key.clone(), true, has_rel),
            );
        }
        for deletion in &batch.deletions {
            let key = batch.deletion_key(deletion);
            let json = serde_json::to_vec(&LineRef::Delete { key: &key })?;
            push(file_name_for(&key.entity), json, (key, false, false));
        }
        let mut written: Vec<(String, u64)> = Vec::new();
        let result = (|| {
            for (name, buf) in &lines {
                let path = self.dir.join(name);
                let before = self.current_len(name);
                written.push((name.clone(), before));
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| io_err("open", &path, e))?;
                file.write_all(buf)
                    .map_err(|e| io_err("append to", &path, e))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (name, before) in written {
                let path = self.dir.join(&name);
                if let Ok(f) = OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_len(before);
                }
            }
            return Err(e);
        }
        for (name, buf) in lines {
            let len = self.current_len(&name) + buf.len() as u64;
            self.dirty.insert(name, len);
        }
        for (key, loc) in index_changes {
            match loc {
                Some(loc) => {
                    self.index.insert(key, loc);
                }
                None => {
                    self.index.remove(&key);
                }
            }
        }
        if let Some(cp) = &batch.checkpoint {
            self.pending_checkpoints
                .insert(batch.state_key.clone(), cp.clone());
        }
        Ok(())
    }

    fn write_commit(&self, commit: &CommitFile) -> Result<()> {
        let json = serde_json::to_vec_pretty(commit)?;
        write_atomically(&self.dir.join(COMMIT_FILE), &json)
    }

    /// Fsyncs the dirty files, then replaces the commit file.
    fn commit(&mut self) -> Result<()> {
        if self.dirty.is_empty() && self.pending_checkpoints.is_empty() {
            return Ok(());
        }
        for name in self.dirty.keys() {
            let path = self.dir.join(name);
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_err("open", &path, e))?;
            file.sync_all().map_err(|e| io_err("sync", &path, e))?;
        }
        let mut commit = self.commit.clone();
        for (name, len) in &self.dirty {
            commit.files.insert(name.clone(), *len);
        }
        let mut checkpoints: BTreeMap<StateKey, Checkpoint> =
            commit.checkpoints.into_iter().collect();
        checkpoints.extend(
            self.pending_checkpoints
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        commit.checkpoints = checkpoints.into_iter().collect();
        self.write_commit(&commit)?;
        self.commit = commit;
        self.dirty.clear();
        self.pending_checkpoints.clear();
        Ok(())
    }
}

#[async_trait]
impl Sink for JsonLinesSink {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("jsonl", true, true)
    }

    async fn begin(&self, scope: &RunScope) -> Result<()> {
        let mut inner = self.lock();
        if !inner.dirty.is_empty() || !inner.pending_checkpoints.is_empty() {
            inner.restore()?;
        }
        inner.atomic = scope.atomic;
        Ok(())
    }

    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        let inner = self.lock();
        keys.iter().map(|k| inner.read(k)).collect()
    }

    async fn write_batch(&self, batch: Batch) -> Result<()> {
        let mut inner = self.lock();
        inner.append(&batch)?;
        if !inner.atomic
            && let Err(e) = inner.commit()
        {
            inner.restore()?;
            return Err(e);
        }
        Ok(())
    }

    async fn resolve_relationships(
        &self,
        scope: &RunScope,
        sample_limit: usize,
    ) -> Result<RelationshipReport> {
        let inner = self.lock();
        let mut report = RelationshipReport::default();
        let mut from: Vec<&RecordKey> = inner
            .index
            .iter()
            .filter(|(k, loc)| {
                loc.has_relationships
                    && k.organization == scope.organization
                    && k.connector == scope.connector
            })
            .map(|(k, _)| k)
            .collect();
        from.sort();
        for key in from {
            if let Some(record) = inner.read(key)? {
                for rel in &record.relationships {
                    let resolved = inner.index.contains_key(&key.target_of(rel));
                    report.count(rel, resolved, sample_limit);
                }
            }
        }
        Ok(report)
    }

    async fn commit(&self) -> Result<()> {
        let mut inner = self.lock();
        inner.atomic = false;
        inner.commit()
    }

    async fn rollback(&self) -> Result<RollbackOutcome> {
        let mut inner = self.lock();
        inner.atomic = false;
        inner.restore()?;
        Ok(RollbackOutcome::Undone)
    }

    async fn load_checkpoint(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        let inner = self.lock();
        Ok(inner
            .commit
            .checkpoints
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, c)| c.clone()))
    }
}
