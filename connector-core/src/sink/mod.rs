//! Where an import puts its records.
//!
//! A [`Sink`] is the destination of an [`ImportPipeline`](crate::pipeline::ImportPipeline):
//! it stores records keyed by organization, connector, entity type and external id
//! ([`RecordKey`]), the relationships they carry, and (optionally) the checkpoint of
//! each stream **in the same write as the batch it covers**, which is what makes a
//! load exactly-once. The pipeline decides what to do with each record (create,
//! update, skip) and hands the sink finished [`Batch`]es; a sink only stores.
//!
//! The protocol of a run:
//!
//! 1. [`Sink::begin`] starts a run. With [`RunScope::atomic`] the whole run is one
//!    transaction; otherwise every [`Sink::write_batch`] is durable on its own.
//!    `begin` also discards anything a previous run left uncommitted (a run whose
//!    future was dropped).
//! 2. [`Sink::lookup`] finds stored records by key (the pipeline dedupes with it);
//!    [`Sink::write_batch`] stores one batch, all of it or none of it. The
//!    pipeline has at most one write in flight, and looks the next batch up while
//!    it runs: for the keys that write stores, such a lookup may answer from
//!    before or after it (the pipeline asks again once it has landed); for every
//!    other key it must answer from what is stored.
//! 3. [`Sink::resolve_relationships`] checks, after all entities, which
//!    relationships point at records the sink holds.
//! 4. [`Sink::commit`] ends a successful run; [`Sink::rollback`] ends a failed one,
//!    undoing what it can and saying whether it could.
//!
//! Three sinks ship with the crate: [`MemorySink`] (tests, short-lived processes),
//! [`JsonLinesSink`] (one file per entity, fsync on commit) and, behind the `sqlite`
//! feature, [`SqliteStore`].
//!
//! # Blocking I/O
//!
//! The file and SQLite sinks do their (short, per-batch) I/O directly inside their
//! async methods, so the crate stays runtime-agnostic. Each call blocks for one
//! batch's worth of writing plus an fsync. On a multi-threaded runtime that is
//! usually acceptable; if it is not, run the import on a dedicated thread (for
//! example `tokio::task::spawn_blocking` around `futures::executor::block_on`).
//! The SQLite store writes large batches on a thread of its own (see
//! [its docs][`SqliteStore`]); the pipeline reads ahead from the
//! connector while any sink's write is pending, and drives the write while it
//! reads.
//!
#![cfg_attr(
    feature = "sqlite",
    doc = "[`SqliteStore`]: crate::sqlite::SqliteStore"
)]
// Without the feature the store is not built: the link names the crate's docs.
#![cfg_attr(not(feature = "sqlite"), doc = "[`SqliteStore`]: crate")]

mod jsonl;
mod memory;

use crate::error::Result;
use crate::name::Name;
use crate::record::{Deletion, Record, Relationship};
use crate::state::{Checkpoint, StateKey};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use jsonl::JsonLinesSink;
pub use memory::MemorySink;

/// What a stored record is keyed by: unique per organization, connector, entity
/// type and external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    /// The organization (tenant) the record belongs to.
    pub organization: Name,
    /// The id of the connector that produced it.
    pub connector: Name,
    /// The caller's entity type ([`Record::entity_type`]).
    pub entity: Name,
    /// The vendor's id of the object ([`Record::external_id`]).
    pub external_id: String,
}

impl RecordKey {
    /// Creates a key.
    pub fn new(
        organization: impl Into<Name>,
        connector: impl Into<Name>,
        entity: impl Into<Name>,
        external_id: impl Into<String>,
    ) -> Self {
        Self {
            organization: organization.into(),
            connector: connector.into(),
            entity: entity.into(),
            external_id: external_id.into(),
        }
    }

    /// The key of `record` when `connector` imports it for `organization`.
    pub fn of(organization: &Name, connector: &Name, record: &Record) -> Self {
        Self::new(
            organization,
            connector,
            &record.entity_type,
            record.external_id.as_str(),
        )
    }

    /// The key of the target of `relationship`, in the same organization and
    /// connector as this key.
    pub fn target_of(&self, relationship: &Relationship) -> Self {
        Self::new(
            &self.organization,
            &self.connector,
            &relationship.to_type,
            relationship.to_id.as_str(),
        )
    }
}

/// Who is importing what: handed to [`Sink::begin`] and carried by every batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunScope {
    /// The import job's id.
    pub job_id: String,
    /// The organization records are imported for.
    pub organization: Name,
    /// The connector id.
    pub connector: Name,
    /// Whether the whole run is one transaction (see
    /// [`CommitMode::Atomic`](crate::pipeline::CommitMode::Atomic)).
    pub atomic: bool,
}

impl RunScope {
    /// Creates a scope.
    pub fn new(
        job_id: impl Into<String>,
        organization: impl Into<Name>,
        connector: impl Into<Name>,
        atomic: bool,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            organization: organization.into(),
            connector: connector.into(),
            atomic,
        }
    }

    /// The key of `record` in this scope.
    pub fn key_of(&self, record: &Record) -> RecordKey {
        RecordKey::of(&self.organization, &self.connector, record)
    }
}

/// Whether a write creates a record or replaces a stored one. The pipeline decides;
/// the sink may use it for its sync log, but must store the record either way
/// (an upsert), so a batch delivered twice stores each record once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAction {
    /// The sink held no record with this key.
    Create,
    /// The record replaces the stored one (after a merge, when the strategy merges).
    Update,
}

impl WriteAction {
    /// `create` or `update`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteAction::Create => "create",
            WriteAction::Update => "update",
        }
    }
}

/// One record to store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordWrite {
    /// Its key.
    pub key: RecordKey,
    /// What the pipeline decided.
    pub action: WriteAction,
    /// The record, with its relationships. The stored relationships *from* this
    /// record are replaced by these.
    pub record: Record,
}

impl RecordWrite {
    /// Creates a write.
    pub fn new(key: RecordKey, action: WriteAction, record: Record) -> Self {
        Self {
            key,
            action,
            record,
        }
    }
}

/// What [`Sink::write_batch`] stores, all of it or none of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Batch {
    /// The run this batch belongs to.
    pub scope: RunScope,
    /// The stream (source entity) the batch came from; checkpoints are keyed by it.
    pub state_key: StateKey,
    /// The records to store, each key at most once.
    pub writes: Vec<RecordWrite>,
    /// The records deleted upstream; their relationships go with them.
    pub deletions: Vec<Deletion>,
    /// The checkpoint covering every item of this batch and of the batches before
    /// it. A sink that [stores checkpoints](SinkInfo::stores_checkpoints) saves it
    /// in the same transaction as the writes.
    pub checkpoint: Option<Checkpoint>,
}

impl Batch {
    /// An empty batch of `scope` for the stream `state_key`.
    pub fn new(scope: RunScope, state_key: StateKey) -> Self {
        Self {
            scope,
            state_key,
            writes: Vec::new(),
            deletions: Vec::new(),
            checkpoint: None,
        }
    }

    /// True when there is nothing to write, not even a checkpoint.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.deletions.is_empty() && self.checkpoint.is_none()
    }

    /// The key of a deletion in this batch's scope.
    pub fn deletion_key(&self, deletion: &Deletion) -> RecordKey {
        RecordKey::new(
            &self.scope.organization,
            &self.scope.connector,
            &deletion.entity_type,
            deletion.external_id.as_str(),
        )
    }
}

/// What a sink can do, so the pipeline knows what a failure leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SinkInfo {
    /// A short name for reports (`memory`, `jsonl`, `sqlite`).
    pub name: String,
    /// Whether [`Sink::rollback`] undoes uncommitted writes. A non-transactional
    /// sink keeps what it was given, and the pipeline reports what it kept.
    pub transactional: bool,
    /// Whether [`Sink::write_batch`] saves the batch's checkpoint with the batch and
    /// [`Sink::load_checkpoint`] reads it back. The pipeline then resumes from the
    /// sink's checkpoints, which can never run ahead of (or behind) the data.
    pub stores_checkpoints: bool,
}

impl SinkInfo {
    /// Describes a sink.
    pub fn new(name: impl Into<String>, transactional: bool, stores_checkpoints: bool) -> Self {
        Self {
            name: name.into(),
            transactional,
            stores_checkpoints,
        }
    }
}

/// What [`Sink::rollback`] managed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackOutcome {
    /// Every write not yet committed was undone.
    Undone,
    /// The sink cannot undo; what it was given stays.
    Kept,
}

/// What [`Sink::resolve_relationships`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RelationshipReport {
    /// Relationships whose target record is in the sink.
    pub resolved: u64,
    /// Relationships whose target record is not (yet) in the sink.
    pub unresolved: u64,
    /// The first unresolved relationships, for the report.
    pub unresolved_sample: Vec<Relationship>,
}

impl RelationshipReport {
    /// Adds one relationship's outcome, keeping at most `sample_limit` unresolved ones.
    pub fn count(&mut self, relationship: &Relationship, resolved: bool, sample_limit: usize) {
        if resolved {
            self.resolved += 1;
        } else {
            self.unresolved += 1;
            if self.unresolved_sample.len() < sample_limit {
                self.unresolved_sample.push(relationship.clone());
            }
        }
    }
}

/// The destination of an import. See the [module docs](self) for the protocol.
///
/// Implementations must make [`write_batch`](Sink::write_batch) an upsert keyed by
/// [`RecordKey`] (so a batch delivered twice after a crash stores each record once)
/// and all-or-nothing.
#[async_trait]
pub trait Sink: Send + Sync {
    /// What this sink can do.
    fn info(&self) -> SinkInfo;

    /// Starts a run. Discards anything an unfinished earlier run left uncommitted.
    ///
    /// # Errors
    ///
    /// When the sink cannot start a transaction or open its files.
    async fn begin(&self, scope: &RunScope) -> Result<()>;

    /// The stored records for `keys`, in the same order (`None` where there is none).
    /// Inside an atomic run, records written earlier in the run are visible.
    ///
    /// # Errors
    ///
    /// When the sink cannot be read.
    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>>;

    /// Stores one batch: all of it or none of it. Outside an atomic run the batch is
    /// durable when this returns; inside one it becomes durable at
    /// [`commit`](Sink::commit).
    ///
    /// The sink takes the batch: it may keep the records without copying them, or
    /// hand them to a thread of its own to serialise and write while the caller
    /// reads on.
    ///
    /// # Errors
    ///
    /// When the batch could not be stored; nothing of it is then stored (for a
    /// transactional sink).
    async fn write_batch(&self, batch: Batch) -> Result<()>;

    /// Resolves the relationships of the scope's organization and connector against
    /// the stored records (by external id) and reports which targets are missing,
    /// keeping at most `sample_limit` of those.
    ///
    /// # Errors
    ///
    /// When the sink cannot be read.
    async fn resolve_relationships(
        &self,
        scope: &RunScope,
        sample_limit: usize,
    ) -> Result<RelationshipReport>;

    /// Ends a successful run, making everything it wrote durable.
    ///
    /// # Errors
    ///
    /// When the commit fails; the run then counts as failed and is rolled back.
    async fn commit(&self) -> Result<()>;

    /// Ends a failed run, undoing whatever is not yet committed if the sink can.
    ///
    /// # Errors
    ///
    /// When the rollback itself fails.
    async fn rollback(&self) -> Result<RollbackOutcome>;

    /// The checkpoint stored with the data for `key`, for sinks that
    /// [store checkpoints](SinkInfo::stores_checkpoints). The default has none.
    ///
    /// # Errors
    ///
    /// When the sink cannot be read.
    async fn load_checkpoint(&self, _key: &StateKey) -> Result<Option<Checkpoint>> {
        Ok(None)
    }
}

/// Merges `new` into `old` for [`DedupeStrategy::Merge`](crate::pipeline::DedupeStrategy::Merge):
/// fields of `new` win unless they are `null`; fields only `old` has stay;
/// relationships are the union; `raw`, `external_url` and timestamps come from
/// `new` when it has them.
pub fn merge_records(old: &Record, new: Record) -> Record {
    let mut merged = old.clone();
    for (name, value) in new.fields {
        if !value.is_null() || !merged.fields.contains_key(&name) {
            merged.fields.insert(name, value);
        }
    }
    for rel in new.relationships {
        if !merged.relationships.contains(&rel) {
            merged.relationships.push(rel);
        }
    }
    if new.raw.is_some() {
        merged.raw = new.raw;
    }
    if new.external_url.is_some() {
        merged.external_url = new.external_url;
    }
    if new.created_at.is_some() {
        merged.created_at = new.created_at;
    }
    if new.updated_at.is_some() {
        merged.updated_at = new.updated_at;
    }
    merged.source_connector = new.source_connector;
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RelationshipKind;
    use serde_json::{Value, json};

    #[test]
    fn merge_keeps_old_fields_and_ignores_nulls() {
        let rel = Relationship::new(("APP", "1"), RelationshipKind::RunsOn, ("SERVER", "s1"));
        let old = Record::new("APP", "1", "c")
            .with_field("name", json!("Payroll"))
            .with_field("owner", json!("ann"))
            .with_relationship(rel.clone());
        let new = Record::new("APP", "1", "c")
            .with_field("name", json!("Payroll v2"))
            .with_field("owner", Value::Null)
            .with_field("tier", json!(1))
            .with_relationship(rel);
        let merged = merge_records(&old, new);
        assert_eq!(merged.field("name"), Some(&json!("Payroll v2")));
        assert_eq!(merged.field("owner"), Some(&json!("ann")));
        assert_eq!(merged.field("tier"), Some(&json!(1)));
        assert_eq!(merged.relationships.len(), 1);
    }
}
