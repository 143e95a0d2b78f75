//! The in-memory sink.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Batch, RecordKey, RelationshipReport, RollbackOutcome, RunScope, Sink, SinkInfo};
use crate::error::Result;
use crate::record::{Record, Relationship};
use crate::state::{Checkpoint, StateKey};

/// A transactional [`Sink`] in memory, for tests and short-lived processes.
///
/// It stores checkpoints with the data, so a pipeline resumes from exactly what it
/// holds. Atomic runs work on a copy of the committed data that replaces it on
/// commit; a rollback (or a run whose future was dropped, at the next `begin`)
/// discards the copy.
///
/// ```
/// use connector_core::Record;
/// use connector_core::sink::{MemorySink, RecordKey};
///
/// let sink = MemorySink::new();
/// assert!(sink.is_empty());
/// assert_eq!(sink.get(&RecordKey::new("org", "github", "REPO", "1")), None::<Record>);
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    committed: Tables,
    /// The working copy of an atomic run.
    pending: Option<Tables>,
}

#[derive(Debug, Default, Clone)]
struct Tables {
    records: BTreeMap<RecordKey, Record>,
    /// Relationships by the key of the record they come from.
    relationships: BTreeMap<RecordKey, Vec<Relationship>>,
    checkpoints: BTreeMap<StateKey, Checkpoint>,
}

impl Tables {
    fn apply(&mut self, mut batch: Batch) {
        // Writes, then deletions, as every sink applies them.
        for write in std::mem::take(&mut batch.writes) {
            self.relationships.remove(&write.key);
            if !write.record.relationships.is_empty() {
                self.relationships
                    .insert(write.key.clone(), write.record.relationships.clone());
            }
            self.records.insert(write.key, write.record);
        }
        for deletion in &batch.deletions {
            let key = batch.deletion_key(deletion);
            self.records.remove(&key);
            self.relationships.remove(&key);
        }
        if let Some(cp) = batch.checkpoint {
            self.checkpoints.insert(batch.state_key, cp);
        }
    }
}

impl MemorySink {
    /// Creates an empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock happens between whole-value updates of
        // owned maps; the data stays consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The committed record for `key`.
    pub fn get(&self, key: &RecordKey) -> Option<Record> {
        self.lock().committed.records.get(key).cloned()
    }

    /// Every committed record, ordered by key.
    pub fn records(&self) -> Vec<(RecordKey, Record)> {
        self.lock()
            .committed
            .records
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// How many committed records there are.
    pub fn len(&self) -> usize {
        self.lock().committed.records.len()
    }

    /// True when no record is committed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every committed relationship, ordered by the key of the record it comes from.
    pub fn relationships(&self) -> Vec<Relationship> {
        self.lock()
            .committed
            .relationships
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// The committed checkpoint for `key`.
    pub fn checkpoint(&self, key: &StateKey) -> Option<Checkpoint> {
        self.lock().committed.checkpoints.get(key).cloned()
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("memory", true, true)
    }

    async fn begin(&self, scope: &RunScope) -> Result<()> {
        let mut state = self.lock();
        state.pending = scope.atomic.then(|| state.committed.clone());
        Ok(())
    }

    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        let state = self.lock();
        let tables = state.pending.as_ref().unwrap_or(&state.committed);
        Ok(keys
            .iter()
            .map(|k| tables.records.get(k).cloned())
            .collect())
    }

    async fn write_batch(&self, batch: Batch) -> Result<()> {
        let mut state = self.lock();
        match state.pending.as_mut() {
            Some(pending) => pending.apply(batch),
            None => state.committed.apply(batch),
        }
        Ok(())
    }

    async fn resolve_relationships(
        &self,
        scope: &RunScope,
        sample_limit: usize,
    ) -> Result<RelationshipReport> {
        let state = self.lock();
        let tables = state.pending.as_ref().unwrap_or(&state.committed);
        let mut report = RelationshipReport::default();
        for (from, rels) in &tables.relationships {
            if from.organization != scope.organization || from.connector != scope.connector {
                continue;
            }
            for rel in rels {
                let resolved = tables.records.contains_key(&from.target_of(rel));
                report.count(rel, resolved, sample_limit);
            }
        }
        Ok(report)
    }

    async fn commit(&self) -> Result<()> {
        let mut state = self.lock();
        if let Some(pending) = state.pending.take() {
            state.committed = pending;
        }
        Ok(())
    }

    async fn rollback(&self) -> Result<RollbackOutcome> {
        self.lock().pending = None;
        Ok(RollbackOutcome::Undone)
    }

    async fn load_checkpoint(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        Ok(self.checkpoint(key))
    }
}
