//! What a run or a preview reports.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::journal::JobStatus;
use super::progress::Counts;
use super::{CommitMode, DedupeStrategy};
use crate::error::{ConnectorError, ErrorKind, FieldError};
use crate::record::Record;
use crate::sink::{RelationshipReport, WriteAction};
use crate::state::Checkpoint;

pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

pub(crate) mod opt_duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_millis))
    }
}

fn kind_name<S: Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// One record that could not be imported, with the paths of its failing fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RecordError {
    /// The source entity (stream) it came from.
    pub entity: String,
    /// The record's external id, when known.
    pub external_id: Option<String>,
    /// What kind of failure ([`ErrorKind::Validation`], or
    /// [`ErrorKind::Conflict`] for a `fail` dedupe).
    #[serde(serialize_with = "kind_name")]
    pub kind: ErrorKind,
    /// The error, as a sentence.
    pub message: String,
    /// The failing fields, each with its path.
    pub fields: Vec<FieldError>,
}

impl RecordError {
    /// A record error from a [`ConnectorError`].
    pub fn from_error(entity: &str, external_id: Option<&str>, err: &ConnectorError) -> Self {
        Self {
            entity: entity.to_owned(),
            external_id: external_id
                .map(str::to_owned)
                .or_else(|| err.context().external_id.clone()),
            kind: err.kind(),
            message: err.to_string(),
            fields: err.field_errors().to_vec(),
        }
    }

    /// The paths of the failing fields.
    pub fn paths(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.path.as_str()).collect()
    }
}

/// What one entity's import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EntityReport {
    /// The source entity (stream).
    pub entity: String,
    /// Its counts.
    pub counts: Counts,
    /// Batches written.
    pub batches: u64,
    /// The checkpoint the run started from, if any.
    pub resumed_from: Option<Checkpoint>,
    /// The last checkpoint committed with the data (for an atomic run: the one
    /// committed at the end, if the run committed).
    pub checkpoint: Option<Checkpoint>,
}

impl EntityReport {
    pub(crate) fn new(entity: &str, resumed_from: Option<Checkpoint>) -> Self {
        Self {
            entity: entity.to_owned(),
            counts: Counts::default(),
            batches: 0,
            resumed_from,
            checkpoint: None,
        }
    }
}

/// What a rollback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RollbackSummary {
    /// Whether the sink undid its uncommitted writes.
    pub undone: bool,
    /// Records this run stored that are still in the sink (committed batches, or
    /// everything a non-transactional sink was given).
    pub records_kept: u64,
    /// Records this run wrote that the rollback removed.
    pub records_undone: u64,
}

/// The outcome of [`ImportPipeline::run`](super::ImportPipeline::run).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// The job id.
    pub job_id: String,
    /// The organization imported for.
    pub organization: String,
    /// The connector id.
    pub connector: String,
    /// How the run ended.
    pub status: JobStatus,
    /// How the run committed.
    pub commit_mode: CommitMode,
    /// The dedupe strategy.
    pub dedupe: DedupeStrategy,
    /// Per entity, in import order.
    pub entities: Vec<EntityReport>,
    /// The sum over entities.
    pub totals: Counts,
    /// The first record errors (see
    /// [`ImportOptions::max_errors`](super::ImportOptions::max_errors)).
    pub errors: Vec<RecordError>,
    /// How many record errors there were in all.
    pub errors_total: u64,
    /// Relationship resolution, when the run got that far.
    pub relationships: Option<RelationshipReport>,
    /// What the rollback did, when the run failed.
    pub rollback: Option<RollbackSummary>,
    /// The error that ended the run, when it failed.
    pub fatal_error: Option<String>,
    /// Things worth knowing that did not fail the run.
    pub warnings: Vec<String>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it took.
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl ImportReport {
    /// The report of `entity`.
    pub fn entity(&self, entity: &str) -> Option<&EntityReport> {
        self.entities.iter().find(|e| e.entity == entity)
    }
}

/// An import that did not complete: the error that stopped it, and the report of
/// what it did before (including the rollback).
pub struct ImportError {
    error: ConnectorError,
    report: Box<ImportReport>,
}

impl ImportError {
    pub(crate) fn new(error: ConnectorError, report: ImportReport) -> Self {
        Self {
            error,
            report: Box::new(report),
        }
    }

    /// The error that stopped the run.
    pub fn error(&self) -> &ConnectorError {
        &self.error
    }

    /// The error's kind ([`ErrorKind::Cancelled`] for a cancelled run).
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// What the run did before it stopped.
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// The error and the report.
    pub fn into_parts(self) -> (ConnectorError, ImportReport) {
        (self.error, *self.report)
    }
}

impl fmt::Debug for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportError")
            .field("error", &self.error)
            .field("job_id", &self.report.job_id)
            .field("status", &self.report.status)
            .field("rollback", &self.report.rollback)
            .finish()
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "import job {} {}: {}",
            self.report.job_id,
            self.report.status.as_str(),
            self.error
        )
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<ImportError> for ConnectorError {
    fn from(err: ImportError) -> Self {
        err.error
    }
}

/// What a previewed record would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PreviewAction {
    /// It would be created.
    Create,
    /// It would replace (or be merged into) a stored record.
    Update,
    /// It would be skipped: the sink holds it and the strategy is `skip`.
    Skip,
    /// It would fail: invalid, or a duplicate under the `fail` strategy.
    Fail,
}

impl From<WriteAction> for PreviewAction {
    fn from(action: WriteAction) -> Self {
        match action {
            WriteAction::Create => PreviewAction::Create,
            WriteAction::Update => PreviewAction::Update,
        }
    }
}

/// One previewed record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PreviewRecord {
    /// What the import would do with it.
    pub action: PreviewAction,
    /// The record as it would be stored (merged, for the `merge` strategy).
    pub record: Record,
}

/// What importing the first records of one entity would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EntityPreview {
    /// The source entity.
    pub entity: String,
    /// The counts the import would produce for these records.
    pub counts: Counts,
    /// The valid records, with what would happen to each.
    pub records: Vec<PreviewRecord>,
    /// The invalid ones.
    pub errors: Vec<RecordError>,
}

/// The outcome of [`ImportPipeline::preview`](super::ImportPipeline::preview).
/// Nothing was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PreviewReport {
    /// The organization.
    pub organization: String,
    /// The connector id.
    pub connector: String,
    /// Per entity, in import order.
    pub entities: Vec<EntityPreview>,
}

impl PreviewReport {
    /// The preview of `entity`.
    pub fn entity(&self, entity: &str) -> Option<&EntityPreview> {
        self.entities.iter().find(|e| e.entity == entity)
    }
}
