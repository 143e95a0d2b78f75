//! The import pipeline: from a connector's fetch streams into a [`Sink`].
//!
//! [`ImportPipeline`] imports one or more entities of a connector for one
//! organization. For each entity it reads the fetch stream (resuming from the stored
//! checkpoint), validates every record (invalid ones are collected with their field
//! paths and the run goes on, unless [`ImportOptions::fail_on_error`] is set),
//! dedupes it against the sink and the rest of the run ([`DedupeStrategy`]), and
//! writes batches of [`ImportOptions::batch_size`] items. A batch carries the latest
//! checkpoint the stream yielded, and the checkpoint is committed only with (or
//! after) the batch it covers, so an interrupted run resumes without loss and
//! without duplicates. A batch is written while the next one is read and looked
//! up: the pipeline waits for the write before it hands the sink the next batch,
//! asks again for the keys the write stored (a lookup made meanwhile may not see
//! them), and counts a batch (and saves its checkpoint) once it has landed. After
//! all entities, relationships are resolved against the sink by external id and
//! the unresolved ones are reported.
//!
//! The pipeline reports progress through a callback ([`ImportPipeline::on_progress`];
//! forward to a channel from there if you prefer one), stops cooperatively through a
//! [`CancelToken`], can [preview](ImportPipeline::preview) what a run would do
//! without writing anything, and records jobs and audit events in an
//! [`ImportJournal`]. With [`CommitMode::Atomic`] a failed run is rolled back
//! entirely; with [`CommitMode::PerBatch`] (the default) the committed batches stay
//! and the next run continues after them.
//!
//! Records arrive already mapped: connectors map inside `fetch`. A record that
//! breaks its mapping arrives as an error item of kind
//! [`Validation`](ErrorKind::Validation); it is reported, not fatal.

mod journal;
mod progress;
mod report;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::connector::{FetchOptions, SyncStream, UniversalConnector};
use crate::error::{ConnectorError, ErrorKind, FieldError, Result};
use crate::name::Name;
use crate::record::{Deletion, Record, SyncItem};
use crate::sink::{
    Batch, RecordKey, RecordWrite, RollbackOutcome, RunScope, Sink, SinkInfo, WriteAction,
    merge_records,
};
use crate::state::{Checkpoint, StateKey, StateStore};

pub use journal::{AuditEvent, ImportJob, ImportJournal, JobStatus, MemoryJournal};
pub use progress::{CancelToken, Cancelled, Counts, ProgressEvent, Stage};
pub use report::{
    EntityPreview, EntityReport, ImportError, ImportReport, PreviewAction, PreviewRecord,
    PreviewReport, RecordError, RollbackSummary,
};

/// What to do with a record whose key the sink (or this run) already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupeStrategy {
    /// Keep the stored record; count the new one as skipped.
    Skip,
    /// Replace the stored record with the new one. The default: what a repeated or
    /// incremental sync needs. A record that arrives exactly as stored is not
    /// written again and counts as skipped.
    #[default]
    Update,
    /// Merge the new record into the stored one (see
    /// [`merge_records`]); a merge that changes nothing counts as skipped.
    Merge,
    /// Treat the duplicate as a record error of kind
    /// [`Conflict`](ErrorKind::Conflict): reported, and fatal with
    /// [`ImportOptions::fail_on_error`].
    Fail,
}

impl DedupeStrategy {
    /// The strategy's name (`skip`).
    pub fn as_str(self) -> &'static str {
        match self {
            DedupeStrategy::Skip => "skip",
            DedupeStrategy::Update => "update",
            DedupeStrategy::Merge => "merge",
            DedupeStrategy::Fail => "fail",
        }
    }
}

/// How a run commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitMode {
    /// Every batch commits with its checkpoint. A failure keeps the committed
    /// batches; the next run resumes after them. The default.
    #[default]
    PerBatch,
    /// The whole run is one transaction: a failure (or cancellation) rolls back
    /// everything the run wrote. Checkpoints commit with the run.
    Atomic,
}

/// How a run behaves. Defaults: strategy [`DedupeStrategy::Update`], record errors
/// not fatal, batches of 1,000 items, [`CommitMode::PerBatch`], the first 100 record
/// errors kept, resume from the stored checkpoint, default fetch options.
///
/// The batch size trades resume granularity and memory (up to three batches are
/// held: one being written, the next being staged and up to one read ahead while
/// it is looked up) for per-commit costs: into the SQLite store, 1,000
/// items a batch import 12–15% faster than 500 and need ~2.5 MB more (measured in
/// `benches/`); 2,000 gain little more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImportOptions {
    /// What to do with duplicates.
    pub dedupe: DedupeStrategy,
    /// Stop the run at the first record error.
    pub fail_on_error: bool,
    /// Items (records and deletions) per batch; at least 1. A batch is written at
    /// the first checkpoint after it holds this many items (so it ends where the
    /// stream can resume), and at the latest when it holds twice as many.
    pub batch_size: usize,
    /// How the run commits.
    pub commit_mode: CommitMode,
    /// How many record errors the report keeps (all are counted).
    pub max_errors: usize,
    /// Continue from the stored checkpoint of each entity.
    pub resume: bool,
    /// The fetch options each entity is read with; the pipeline sets `resume`.
    pub fetch: FetchOptions,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dedupe: DedupeStrategy::default(),
            fail_on_error: false,
            batch_size: 1000,
            commit_mode: CommitMode::default(),
            max_errors: 100,
            resume: true,
            fetch: FetchOptions::default(),
        }
    }
}

impl ImportOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the dedupe strategy.
    pub fn with_dedupe(mut self, dedupe: DedupeStrategy) -> Self {
        self.dedupe = dedupe;
        self
    }

    /// Makes record errors fatal.
    pub fn with_fail_on_error(mut self, fail: bool) -> Self {
        self.fail_on_error = fail;
        self
    }

    /// Sets the batch size (at least 1).
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// Sets the commit mode.
    pub fn with_commit_mode(mut self, mode: CommitMode) -> Self {
        self.commit_mode = mode;
        self
    }

    /// Sets how many record errors the report keeps.
    pub fn with_max_errors(mut self, max: usize) -> Self {
        self.max_errors = max;
        self
    }

    /// Whether to continue from stored checkpoints (`false` re-reads everything).
    pub fn with_resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Sets the fetch options (page size, filters, limit, raw).
    pub fn with_fetch(mut self, fetch: FetchOptions) -> Self {
        self.fetch = fetch;
        self
    }
}

type Validator = Arc<dyn Fn(&Record) -> Vec<FieldError> + Send + Sync>;
type ProgressCallback = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// Imports entities of one connector, for one organization, into a [`Sink`].
///
/// See the [module docs](self) for the stages. A pipeline is reusable: every
/// [`run`](Self::run) is a new job that continues from the checkpoints the last
/// one stored.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use connector_core::{
///     Checkpoint, Discovery, FetchOptions, Record, Result, SyncItem, SyncStream,
///     TestResult, UniversalConnector,
/// };
/// use connector_core::mapping::EntityMapping;
/// use connector_core::metadata::{Category, ConnectorMetadata};
/// use connector_core::pipeline::{DedupeStrategy, ImportOptions, ImportPipeline};
/// use connector_core::sink::{MemorySink, RecordKey};
/// use futures::{StreamExt, stream};
/// use serde_json::json;
///
/// /// Three apps in pages of two, with a checkpoint after each page.
/// struct Apps(ConnectorMetadata);
///
/// #[async_trait]
/// impl UniversalConnector for Apps {
///     fn metadata(&self) -> &ConnectorMetadata { &self.0 }
///     fn mappings(&self) -> &[EntityMapping] { &[] }
///     async fn test_connection(&self) -> TestResult { TestResult::ok("up") }
///     async fn discover(&self) -> Result<Discovery> { Ok(Discovery::new(vec![])) }
///     fn fetch(&self, _entity: &str, options: FetchOptions) -> SyncStream<'_> {
///         let start: usize = options.resume_cursor().and_then(|c| c.parse().ok()).unwrap_or(0);
///         let mut items = Vec::new();
///         for i in start..3 {
///             let app = Record::new("APPLICATION", format!("app-{i}"), "apps")
///                 .with_field("name", json!(format!("App {i}")));
///             items.push(Ok(SyncItem::from(app)));
///             if i % 2 == 1 {
///                 items.push(Ok(Checkpoint::in_progress("apps", (i + 1).to_string()).into()));
///             }
///         }
///         items.push(Ok(Checkpoint::completed("apps", None).into()));
///         stream::iter(items).boxed()
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let connector = Arc::new(Apps(ConnectorMetadata::new("apps", "Apps", "Example", Category::Other)));
/// let sink = Arc::new(MemorySink::new());
/// let pipeline = ImportPipeline::new("org-1", connector, sink.clone())
///     .with_entities(["apps"])
///     .with_options(ImportOptions::new().with_dedupe(DedupeStrategy::Skip).with_batch_size(2))
///     .with_actor("user-42");
///
/// let report = pipeline.run().await.unwrap();
/// assert_eq!(report.totals.created, 3);
/// assert_eq!(sink.len(), 3);
/// assert!(sink.get(&RecordKey::new("org-1", "apps", "APPLICATION", "app-2")).is_some());
///
/// // The second run starts from the completed checkpoint and finds nothing new.
/// let again = pipeline.run().await.unwrap();
/// assert_eq!(again.totals.written(), 0);
/// # });
/// ```
pub struct ImportPipeline {
    organization: String,
    connector: Arc<dyn UniversalConnector>,
    sink: Arc<dyn Sink>,
    state: Option<Arc<dyn StateStore>>,
    journal: Option<Arc<dyn ImportJournal>>,
    entities: Vec<String>,
    options: ImportOptions,
    validators: HashMap<String, Validator>,
    progress: Option<ProgressCallback>,
    totals: HashMap<String, u64>,
    cancel: CancelToken,
    actor: Option<String>,
}

impl std::fmt::Debug for ImportPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportPipeline")
            .field("organization", &self.organization)
            .field("connector", &self.connector.metadata().id)
            .field("sink", &self.sink.info())
            .field("entities", &self.entities)
            .field("options", &self.options)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl ImportPipeline {
    /// A pipeline importing from `connector` into `sink` for `organization`, with
    /// default options, every entity the connector maps, and no state store (a
    /// sink that [stores checkpoints](SinkInfo::stores_checkpoints) needs none).
    pub fn new(
        organization: impl Into<String>,
        connector: Arc<dyn UniversalConnector>,
        sink: Arc<dyn Sink>,
    ) -> Self {
        Self {
            organization: organization.into(),
            connector,
            sink,
            state: None,
            journal: None,
            entities: Vec::new(),
            options: ImportOptions::default(),
            validators: HashMap::new(),
            progress: None,
            totals: HashMap::new(),
            cancel: CancelToken::new(),
            actor: None,
        }
    }

    /// Imports these entities (source types, as passed to `fetch`), in this order.
    /// Without this, every entity of the connector's mappings is imported.
    pub fn with_entities<I, S>(mut self, entities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entities = entities.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the options.
    pub fn with_options(mut self, options: ImportOptions) -> Self {
        self.options = options;
        self
    }

    /// Keeps checkpoints in `store`. For a sink that stores checkpoints itself the
    /// sink's copy is the one resumed from, and `store` receives a copy after each
    /// commit.
    pub fn with_state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Some(store);
        self
    }

    /// Records jobs and audit events in `journal`.
    pub fn with_journal(mut self, journal: Arc<dyn ImportJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Runs `validate` on every record of `entity_type` (the caller's type); the
    /// field errors it returns make the record invalid.
    pub fn with_validator<F>(mut self, entity_type: impl Into<String>, validate: F) -> Self
    where
        F: Fn(&Record) -> Vec<FieldError> + Send + Sync + 'static,
    {
        self.validators
            .insert(entity_type.into(), Arc::new(validate));
        self
    }

    /// Calls `callback` with every [`ProgressEvent`]. Keep it quick; or use
    /// [`progress_channel`](Self::progress_channel) to receive events elsewhere.
    pub fn on_progress<F>(mut self, callback: F) -> Self
    where
        F: Fn(&ProgressEvent) + Send + Sync + 'static,
    {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// Sends every [`ProgressEvent`] to the returned channel as well (in place of
    /// any callback). The channel holds at most a few events per batch; drop the
    /// receiver when you stop listening (sending to a dropped receiver is ignored).
    pub fn progress_channel(
        self,
    ) -> (
        Self,
        futures::channel::mpsc::UnboundedReceiver<ProgressEvent>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let pipeline = self.on_progress(move |event| {
            // A closed receiver means nobody listens any more; that is not an error.
            let _ = tx.unbounded_send(event.clone());
        });
        (pipeline, rx)
    }

    /// Tells the pipeline how many records `entity` has (from
    /// [`discover`](UniversalConnector::discover), say), so progress events carry
    /// an ETA.
    pub fn with_expected_total(mut self, entity: impl Into<String>, total: u64) -> Self {
        self.totals.insert(entity.into(), total);
        self
    }

    /// Names who runs the imports, for jobs and audit events.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Uses `token` for cancellation instead of the pipeline's own.
    pub fn with_cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// The token that cancels this pipeline's runs.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The options in effect.
    pub fn options(&self) -> &ImportOptions {
        &self.options
    }

    fn entity_list(&self) -> Result<Vec<String>> {
        let entities = if self.entities.is_empty() {
            self.connector
                .mappings()
                .iter()
                .map(|m| m.source_type.clone())
                .collect()
        } else {
            self.entities.clone()
        };
        if entities.is_empty() {
            return Err(ConnectorError::config(
                "nothing to import: name the entities with `with_entities`, or use a connector \
                 with mappings",
            )
            .with_connector(self.connector.metadata().id.clone()));
        }
        Ok(entities)
    }

    async fn load_checkpoint(&self, sink: &SinkInfo, key: &StateKey) -> Result<Option<Checkpoint>> {
        let checkpoint = if sink.stores_checkpoints {
            self.sink.load_checkpoint(key).await?
        } else if let Some(state) = &self.state {
            state.load(key).await?
        } else {
            None
        };
        if let Some(cp) = &checkpoint {
            cp.validate_for(&key.entity)?;
        }
        Ok(checkpoint)
    }

    /// Validates a record: an external id, an entity type, and the caller's
    /// validator for its type.
    fn validate(&self, entity: &str, record: &Record) -> Result<()> {
        let mut problems = Vec::new();
        if record.external_id.trim().is_empty() {
            problems.push(FieldError::new(
                "external_id",
                "required",
                "the record has no external id",
            ));
        }
        if record.entity_type.trim().is_empty() {
            problems.push(FieldError::new(
                "entity_type",
                "required",
                "the record has no entity type",
            ));
        }
        if let Some(validate) = self.validators.get(record.entity_type.as_str()) {
            problems.extend(validate(record));
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConnectorError::validation(
            format!("record `{}` of `{entity}` is invalid", record.external_id),
            problems,
        )
        .with_connector(self.connector.metadata().id.clone())
        .with_entity(entity)
        .with_external_id(record.external_id.clone()))
    }

    fn conflict(&self, entity: &str, key: &RecordKey, stored: bool) -> ConnectorError {
        let why = if stored {
            "is already stored"
        } else {
            "appears twice in this run"
        };
        ConnectorError::new(
            ErrorKind::Conflict,
            format!(
                "record `{}` of `{}` {why} and the dedupe strategy is `fail`",
                key.external_id, key.entity
            ),
        )
        .with_connector(self.connector.metadata().id.clone())
        .with_entity(entity)
        .with_external_id(key.external_id.clone())
    }

    /// Imports every entity, as one job.
    ///
    /// # Errors
    ///
    /// An [`ImportError`] carrying the error that stopped the run (kind
    /// [`Cancelled`](ErrorKind::Cancelled) when it was cancelled) and the report
    /// of what it did, including the rollback. Record errors are not fatal unless
    /// [`ImportOptions::fail_on_error`] is set.
    pub async fn run(&self) -> std::result::Result<ImportReport, ImportError> {
        let mut run = Run::new(self);
        let result = run.execute().await;
        run.finish(result).await
    }

    /// Reads, validates and dedupes the first `per_entity` records of every entity
    /// (from the stored checkpoint, as a run would) and reports what a run would
    /// create, update, skip or fail. Writes nothing: no records, no checkpoints, no
    /// jobs.
    ///
    /// # Errors
    ///
    /// The first error that is not a record error (a failed fetch, an unreadable
    /// sink).
    pub async fn preview(&self, per_entity: usize) -> Result<PreviewReport> {
        let connector_id = Name::from(self.connector.metadata().id.as_str());
        let organization = Name::from(self.organization.as_str());
        let info = self.sink.info();
        let mut report = PreviewReport {
            organization: self.organization.clone(),
            connector: connector_id.to_string(),
            entities: Vec::new(),
        };
        for entity in self.entity_list()? {
            let key = StateKey::new(&self.organization, &connector_id, &entity);
            let mut fetch = self.options.fetch.clone();
            fetch.limit = Some(
                fetch
                    .limit
                    .map_or(per_entity as u64, |l| l.min(per_entity as u64)),
            );
            fetch.resume = if self.options.resume {
                self.load_checkpoint(&info, &key).await?
            } else {
                None
            };
            let mut preview = EntityPreview {
                entity: entity.clone(),
                counts: Counts::default(),
                records: Vec::new(),
                errors: Vec::new(),
            };
            let mut seen: HashMap<RecordKey, usize> = HashMap::new();
            let mut stream = self.connector.fetch(&entity, fetch);
            while preview.counts.processed < per_entity as u64 {
                let Some(item) = stream.next().await else {
                    break;
                };
                match item {
                    Ok(SyncItem::Record(record)) => {
                        preview.counts.processed += 1;
                        if let Err(err) = self.validate(&entity, &record) {
                            preview.counts.failed += 1;
                            preview.errors.push(RecordError::from_error(
                                &entity,
                                Some(&record.external_id),
                                &err,
                            ));
                            continue;
                        }
                        let rkey = RecordKey::of(&organization, &connector_id, &record);
                        let stored = match seen.get(&rkey) {
                            Some(&i) => preview.records.get(i).map(|p| p.record.clone()),
                            None => self
                                .sink
                                .lookup(std::slice::from_ref(&rkey))
                                .await?
                                .pop()
                                .flatten(),
                        };
                        let (action, record) = match (stored, self.options.dedupe) {
                            (None, _) => (PreviewAction::Create, record),
                            (Some(_), DedupeStrategy::Skip) => (PreviewAction::Skip, record),
                            (Some(_), DedupeStrategy::Update) => (PreviewAction::Update, record),
                            (Some(old), DedupeStrategy::Merge) => {
                                (PreviewAction::Update, merge_records(&old, record))
                            }
                            (Some(_), DedupeStrategy::Fail) => {
                                let err = self.conflict(&entity, &rkey, !seen.contains_key(&rkey));
                                preview.errors.push(RecordError::from_error(
                                    &entity,
                                    Some(&rkey.external_id),
                                    &err,
                                ));
                                (PreviewAction::Fail, record)
                            }
                        };
                        match action {
                            PreviewAction::Create => preview.counts.created += 1,
                            PreviewAction::Update => preview.counts.updated += 1,
                            PreviewAction::Skip => preview.counts.skipped += 1,
                            PreviewAction::Fail => preview.counts.failed += 1,
                        }
                        seen.entry(rkey).or_insert(preview.records.len());
                        preview.records.push(PreviewRecord { action, record });
                    }
                    Ok(SyncItem::Deletion(_)) => preview.counts.deleted += 1,
                    Ok(SyncItem::Checkpoint(_)) => {}
                    Err(err) if err.kind() == ErrorKind::Validation => {
                        preview.counts.processed += 1;
                        preview.counts.failed += 1;
                        preview
                            .errors
                            .push(RecordError::from_error(&entity, None, &err));
                    }
                    Err(err) => return Err(err.with_entity(&entity).with_operation("preview")),
                }
            }
            report.entities.push(preview);
        }
        Ok(report)
    }
}

static JOB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A job id unique within the process and, in practice, across processes:
/// the start time, the process id and a counter.
fn new_job_id() -> String {
    let n = JOB_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "imp-{}-{:x}-{n}",
        Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    )
}

enum Next<T> {
    Item(Option<T>),
    Cancelled,
}

/// The next stream item, or `Cancelled` as soon as the token is cancelled (also
/// while the stream is waiting). Drives the in-flight write meanwhile, for sinks
/// that work while polled.
async fn next_or_cancel<'p, S: Stream + Unpin>(
    stream: &mut S,
    token: &CancelToken,
    in_flight: &mut Option<InFlight<'p>>,
) -> Next<S::Item> {
    let mut cancelled = token.cancelled();
    futures::future::poll_fn(move |cx| {
        if token.is_cancelled() {
            return Poll::Ready(Next::Cancelled);
        }
        if let Some(write) = in_flight.as_mut() {
            let _ = write.drive(cx);
        }
        if let Poll::Ready(item) = stream.poll_next_unpin(cx) {
            return Poll::Ready(Next::Item(item));
        }
        match std::future::Future::poll(Pin::new(&mut cancelled), cx) {
            Poll::Ready(()) => Poll::Ready(Next::Cancelled),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A batch handed to the sink whose write has not been awaited yet. It runs while
/// the pipeline stages the next batch and looks that batch up; it is awaited
/// (and counted, and its checkpoint saved) before the next batch is written, and
/// at the latest when the entity ends, also when the entity fails.
struct InFlight<'p> {
    write: Pin<Box<dyn Future<Output = Result<()>> + Send + 'p>>,
    /// The write's outcome, once it is ready (the future is not polled again).
    outcome: Option<Result<()>>,
    /// The hashes of the external ids the batch writes or deletes. A lookup made
    /// while the write runs may see these keys before or after it; the pipeline
    /// asks again for those. One entity's batches share the organization and
    /// connector, so the external id is what tells keys apart; a collision (or
    /// the same id under another entity type) only costs a second lookup.
    keys: HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    written: u64,
    counts: Counts,
    checkpoint: Option<Checkpoint>,
}

impl<'p> InFlight<'p> {
    /// Polls the write unless it has finished; records the outcome.
    fn drive(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.outcome.is_none() {
            match self.write.as_mut().poll(cx) {
                Poll::Ready(outcome) => self.outcome = Some(outcome),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    /// Waits for the write to finish and takes its outcome.
    async fn finish(&mut self) -> Result<()> {
        futures::future::poll_fn(|cx| self.drive(cx)).await;
        self.outcome.take().unwrap_or_else(|| {
            Err(ConnectorError::unexpected(
                "import pipeline: a batch's write was awaited twice",
            ))
        })
    }

    /// Whether a lookup of `key` made while this write ran may be out of date.
    fn may_change(&self, key: &RecordKey) -> bool {
        self.keys
            .contains(&self.hasher.hash_one(key.external_id.as_str()))
    }
}

/// Stream items read ahead, in order; a `None` is the end of the stream (which is
/// then not polled again).
type ReadAhead = VecDeque<Option<Result<SyncItem>>>;

/// Awaits `call` (a sink's lookup or write), reading up to `limit` items of
/// `stream` into `ahead` meanwhile.
async fn await_reading_ahead<S: Stream + Unpin, T>(
    call: impl Future<Output = T>,
    stream: &mut S,
    ahead: &mut VecDeque<Option<S::Item>>,
    limit: usize,
) -> T {
    let mut call = std::pin::pin!(call);
    futures::future::poll_fn(|cx| {
        if let Poll::Ready(result) = call.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        while ahead.len() < limit && !matches!(ahead.back(), Some(None)) {
            match stream.poll_next_unpin(cx) {
                Poll::Ready(item) => ahead.push_back(item),
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await
}

/// The items read since the last batch was written.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// The key of each record in `records` and its index there (the only copy of
    /// the key: the batch takes it from here).
    positions: HashMap<RecordKey, usize>,
    deletions: Vec<Deletion>,
    checkpoint: Option<Checkpoint>,
    /// Items read into this batch, including skipped and invalid ones.
    items: usize,
    /// Outcomes of duplicates within the batch, counted once the batch is stored.
    counts: Counts,
}

/// One run of a pipeline.
struct Run<'p> {
    p: &'p ImportPipeline,
    info: SinkInfo,
    scope: RunScope,
    started: Instant,
    entity_started: Instant,
    job: journal::ImportJob,
    report: ImportReport,
    current: usize,
    began: bool,
    committed: bool,
    written_durable: u64,
    written_pending: u64,
    final_checkpoints: Vec<(usize, StateKey, Checkpoint)>,
}

impl<'p> Run<'p> {
    fn new(p: &'p ImportPipeline) -> Self {
        let connector = p.connector.metadata().id.clone();
        let job_id = new_job_id();
        let atomic = p.options.commit_mode == CommitMode::Atomic;
        let now = Utc::now();
        let job = journal::ImportJob {
            id: job_id.clone(),
            organization: p.organization.clone(),
            connector: connector.clone(),
            entities: Vec::new(),
            status: JobStatus::Running,
            stage: Stage::Starting,
            counts: Counts::default(),
            actor: p.actor.clone(),
            started_at: now,
            updated_at: now,
            finished_at: None,
            error: None,
        };
        let report = ImportReport {
            job_id: job_id.clone(),
            organization: p.organization.clone(),
            connector: connector.clone(),
            status: JobStatus::Running,
            commit_mode: p.options.commit_mode,
            dedupe: p.options.dedupe,
            entities: Vec::new(),
            totals: Counts::default(),
            errors: Vec::new(),
            errors_total: 0,
            relationships: None,
            rollback: None,
            fatal_error: None,
            warnings: Vec::new(),
            started_at: now,
            finished_at: now,
            duration: Duration::ZERO,
        };
        Self {
            p,
            info: p.sink.info(),
            scope: RunScope::new(job_id, &p.organization, connector, atomic),
            started: Instant::now(),
            entity_started: Instant::now(),
            job,
            report,
            current: 0,
            began: false,
            committed: false,
            written_durable: 0,
            written_pending: 0,
            final_checkpoints: Vec::new(),
        }
    }

    fn totals(&self) -> Counts {
        let mut totals = Counts::default();
        for e in &self.report.entities {
            totals.add(&e.counts);
        }
        totals
    }

    fn emit(&mut self, stage: Stage) {
        self.job.stage = stage;
        let Some(callback) = &self.p.progress else {
            return;
        };
        let entity = self.report.entities.get(self.current);
        let entity_counts = entity.map(|e| e.counts).unwrap_or_default();
        let total = entity.and_then(|e| self.p.totals.get(&e.entity).copied());
        let secs = self.entity_started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            entity_counts.processed as f64 / secs
        } else {
            0.0
        };
        let eta = match total {
            Some(total) if rate > 0.0 => {
                let left = total.saturating_sub(entity_counts.processed) as f64;
                Some(Duration::from_secs_f64(left / rate))
            }
            _ => None,
        };
        let event = ProgressEvent {
            job_id: self.scope.job_id.clone(),
            stage,
            entity: entity.map(|e| e.entity.clone()),
            entity_counts,
            run_counts: self.totals(),
            total,
            elapsed: self.started.elapsed(),
            records_per_second: rate,
            eta,
        };
        callback(&event);
    }

    async fn record_job(&mut self) {
        let Some(journal) = &self.p.journal else {
            return;
        };
        self.job.counts = self.totals();
        self.job.updated_at = Utc::now();
        if let Err(e) = journal.record_job(&self.job).await {
            tracing::warn!(job = %self.scope.job_id, error = %e, "could not record import job progress");
            self.report
                .warnings
                .push(format!("could not record the job: {e}"));
        }
    }

    async fn execute(&mut self) -> Result<()> {
        let entities = self.p.entity_list()?;
        self.job.entities = entities.clone();
        if let Some(journal) = &self.p.journal {
            journal.record_job(&self.job).await?;
        }
        self.emit(Stage::Starting);
        self.p.sink.begin(&self.scope).await?;
        self.began = true;
        for entity in &entities {
            self.import_entity(entity).await?;
        }
        self.emit(Stage::Relationships);
        let relationships = self
            .p
            .sink
            .resolve_relationships(&self.scope, self.p.options.max_errors)
            .await?;
        self.report.relationships = Some(relationships);
        self.emit(Stage::Committing);
        self.p.sink.commit().await?;
        self.committed = true;
        self.written_durable += std::mem::take(&mut self.written_pending);
        for (index, key, checkpoint) in std::mem::take(&mut self.final_checkpoints) {
            if let Some(state) = &self.p.state
                && let Err(e) = state.save(&key, &checkpoint).await
            {
                self.report.warnings.push(format!(
                    "the data is committed, but the checkpoint of `{}` could not be saved to the \
                     state store ({e}); the next run re-reads it",
                    key.entity
                ));
            }
            if let Some(entity) = self.report.entities.get_mut(index) {
                entity.checkpoint = Some(checkpoint);
            }
        }
        Ok(())
    }

    async fn import_entity(&mut self, entity: &str) -> Result<()> {
        let p = self.p;
        let key = StateKey::new(&p.organization, &self.scope.connector, entity);
        let resume = if p.options.resume {
            p.load_checkpoint(&self.info, &key).await?
        } else {
            None
        };
        let mut fetch = p.options.fetch.clone();
        fetch.resume = resume.clone();
        self.current = self.report.entities.len();
        self.report.entities.push(EntityReport::new(entity, resume));
        self.entity_started = Instant::now();
        self.emit(Stage::Extracting);

        let connector: &'p dyn UniversalConnector = &*p.connector;
        let mut stream = connector.fetch(entity, fetch);
        // The last batch handed to the sink: written while the next one is read.
        let mut in_flight: Option<InFlight<'p>> = None;
        let read = self
            .read_entity(entity, &key, &mut stream, &mut in_flight)
            .await;
        // Whatever ended the entity, the batch still being written is awaited and,
        // when it landed, counted (with its checkpoint) before the run goes on.
        let landed = self.land(entity, &key, in_flight.take()).await;
        read.and(landed)
    }

    /// Reads one entity's stream into batches and writes them; the last write may
    /// still be in flight when this returns.
    async fn read_entity(
        &mut self,
        entity: &str,
        key: &StateKey,
        stream: &mut SyncStream<'p>,
        in_flight: &mut Option<InFlight<'p>>,
    ) -> Result<()> {
        let p = self.p;
        let mut pending = Pending::default();
        // Items read from the stream while the previous batch was being written.
        let mut ahead: ReadAhead = VecDeque::new();
        loop {
            // A write that finished while items were read is accounted for now,
            // so progress events follow the sink.
            self.land_if_done(entity, key, in_flight).await?;
            let next = match ahead.pop_front() {
                Some(_) if p.cancel.is_cancelled() => Next::Cancelled,
                Some(item) => Next::Item(item),
                None => next_or_cancel(stream, &p.cancel, in_flight).await,
            };
            let item = match next {
                Next::Item(Some(item)) => item,
                Next::Item(None) => break,
                Next::Cancelled => {
                    if !self.scope.atomic {
                        // Keep what was read: the batch goes out with the last
                        // checkpoint seen, which covers no more than what is stored.
                        self.flush(entity, key, &mut pending, in_flight, None)
                            .await?;
                    }
                    return Err(ConnectorError::new(
                        ErrorKind::Cancelled,
                        "the import was cancelled",
                    )
                    .with_connector(self.scope.connector.clone())
                    .with_entity(entity));
                }
            };
            match item {
                Ok(SyncItem::Record(record)) => self.stage(entity, record, &mut pending)?,
                Ok(SyncItem::Deletion(deletion)) => {
                    self.entity_mut().counts.processed += 1;
                    pending.items += 1;
                    pending.deletions.push(deletion);
                }
                Ok(SyncItem::Checkpoint(checkpoint)) => {
                    pending.checkpoint = Some(checkpoint);
                    if pending.items >= p.options.batch_size {
                        let read = Some((&mut *stream, &mut ahead));
                        self.flush(entity, key, &mut pending, in_flight, read)
                            .await?;
                    }
                    continue;
                }
                Err(err) if err.kind() == ErrorKind::Validation => {
                    self.entity_mut().counts.processed += 1;
                    pending.items += 1;
                    let err = err.with_entity(entity);
                    self.record_failure(entity, None, err)?;
                }
                Err(err) => {
                    return Err(err
                        .with_connector(self.scope.connector.clone())
                        .with_entity(entity)
                        .with_operation("import"));
                }
            }
            // Batches end at checkpoints, so a resumed run re-reads nothing that is
            // stored; a stream that checkpoints rarely is cut at twice the size.
            if pending.items >= p.options.batch_size.saturating_mul(2) {
                let read = Some((&mut *stream, &mut ahead));
                self.flush(entity, key, &mut pending, in_flight, read)
                    .await?;
            }
        }
        self.flush(entity, key, &mut pending, in_flight, None).await
    }

    fn entity_mut(&mut self) -> &mut EntityReport {
        let index = self.current;
        &mut self.report.entities[index]
    }

    /// Counts a record error; returns it when it is fatal.
    fn record_failure(
        &mut self,
        entity: &str,
        external_id: Option<&str>,
        err: ConnectorError,
    ) -> Result<()> {
        self.entity_mut().counts.failed += 1;
        self.report.errors_total += 1;
        if self.report.errors.len() < self.p.options.max_errors {
            self.report
                .errors
                .push(RecordError::from_error(entity, external_id, &err));
        }
        if self.p.options.fail_on_error {
            Err(err)
        } else {
            Ok(())
        }
    }

    /// Validates a record and adds it to the pending batch, deduping within it.
    fn stage(&mut self, entity: &str, record: Record, pending: &mut Pending) -> Result<()> {
        self.entity_mut().counts.processed += 1;
        pending.items += 1;
        if let Err(err) = self.p.validate(entity, &record) {
            return self.record_failure(entity, Some(&record.external_id), err);
        }
        let key = self.scope.key_of(&record);
        let (key, index) = match pending.positions.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(pending.records.len());
                pending.records.push(record);
                return Ok(());
            }
            Entry::Occupied(slot) => (slot.key().clone(), *slot.get()),
        };
        match self.p.options.dedupe {
            DedupeStrategy::Skip => pending.counts.skipped += 1,
            DedupeStrategy::Update => {
                pending.records[index] = record;
                pending.counts.updated += 1;
            }
            DedupeStrategy::Merge => {
                let merged = merge_records(&pending.records[index], record);
                pending.records[index] = merged;
                pending.counts.updated += 1;
            }
            DedupeStrategy::Fail => {
                let err = self.p.conflict(entity, &key, false);
                return self.record_failure(entity, Some(&key.external_id), err);
            }
        }
        Ok(())
    }

    /// Dedupes the pending records against the sink and hands them to it as one
    /// batch with the latest checkpoint, leaving the write in flight.
    ///
    /// The previous batch's write (if any) is awaited here, while the new batch is
    /// looked up: keys that write touches are looked up again once it has landed,
    /// so the lookup sees every earlier batch. With `read_ahead`, reads up to a
    /// batch of items from the stream into the buffer meanwhile (a sink that works
    /// inside `poll` finishes first and nothing is read ahead); they are staged, in
    /// order, after this returns, while the new batch is being written.
    async fn flush(
        &mut self,
        entity: &str,
        key: &StateKey,
        pending: &mut Pending,
        in_flight: &mut Option<InFlight<'p>>,
        mut read_ahead: Option<(&mut SyncStream<'p>, &mut ReadAhead)>,
    ) -> Result<()> {
        let p = self.p;
        let limit = p.options.batch_size.max(1);
        let records = std::mem::take(&mut pending.records);
        // The keys, in record order, moved out of the dedupe map.
        let mut slots: Vec<Option<RecordKey>> = Vec::new();
        slots.resize_with(records.len(), || None);
        for (key, index) in pending.positions.drain() {
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(key);
            }
        }
        let keys: Vec<RecordKey> = slots.into_iter().flatten().collect();
        if keys.len() != records.len() {
            return Err(ConnectorError::unexpected(format!(
                "import pipeline: {} pending records but {} keys",
                records.len(),
                keys.len()
            )));
        }
        pending.items = 0;
        let mut counts = std::mem::take(&mut pending.counts);
        let mut batch = Batch::new(self.scope.clone(), key.clone());
        batch.deletions = std::mem::take(&mut pending.deletions);
        batch.checkpoint = pending.checkpoint.take();

        // Look this batch up while the previous one lands.
        let mut previous = in_flight.take();
        let lookup = async {
            if keys.is_empty() {
                Ok(Vec::new())
            } else {
                p.sink.lookup(&keys).await
            }
        };
        let landing = async {
            match previous.as_mut() {
                Some(write) => Some(write.finish().await),
                None => None,
            }
        };
        let both = futures::future::join(lookup, landing);
        let (stored, landed) = match &mut read_ahead {
            Some((stream, ahead)) => await_reading_ahead(both, stream, ahead, limit).await,
            None => both.await,
        };
        if let (Some(write), Some(outcome)) = (previous.as_mut(), landed) {
            self.landed(entity, key, write, outcome).await?;
        }
        let mut stored = stored?;
        if stored.len() != keys.len() {
            return Err(self.bad_lookup(keys.len(), stored.len()));
        }
        // What the previous batch wrote or deleted may have been read before it
        // landed: ask again for those keys (in a re-read source, rarely any).
        if let Some(write) = &previous {
            let again: Vec<usize> = (0..keys.len())
                .filter(|&i| write.may_change(&keys[i]))
                .collect();
            if !again.is_empty() {
                let subset: Vec<RecordKey> = again.iter().map(|&i| keys[i].clone()).collect();
                let fresh = p.sink.lookup(&subset).await?;
                if fresh.len() != subset.len() {
                    return Err(self.bad_lookup(subset.len(), fresh.len()));
                }
                for (i, record) in again.into_iter().zip(fresh) {
                    stored[i] = record;
                }
            }
        }
        drop(previous);

        for ((rkey, record), old) in keys.into_iter().zip(records).zip(stored) {
            let write = match (old, p.options.dedupe) {
                (None, _) => {
                    counts.created += 1;
                    RecordWrite::new(rkey, WriteAction::Create, record)
                }
                (Some(_), DedupeStrategy::Skip) => {
                    counts.skipped += 1;
                    continue;
                }
                // A record stored exactly as it arrives again is not written:
                // an incremental run over overlapping pages, or a full re-read
                // of a source without a change filter, touches only changes.
                (Some(old), DedupeStrategy::Update) if old == record => {
                    counts.skipped += 1;
                    continue;
                }
                (Some(_), DedupeStrategy::Update) => {
                    counts.updated += 1;
                    RecordWrite::new(rkey, WriteAction::Update, record)
                }
                (Some(old), DedupeStrategy::Merge) => {
                    let merged = merge_records(&old, record);
                    if merged == old {
                        counts.skipped += 1;
                        continue;
                    }
                    counts.updated += 1;
                    RecordWrite::new(rkey, WriteAction::Update, merged)
                }
                (Some(_), DedupeStrategy::Fail) => {
                    let err = p.conflict(entity, &rkey, true);
                    self.record_failure(entity, Some(&rkey.external_id), err)?;
                    continue;
                }
            };
            batch.writes.push(write);
        }
        counts.deleted = batch.deletions.len() as u64;
        if batch.is_empty() {
            self.entity_mut().counts.add(&counts);
            return Ok(());
        }
        let hasher = std::collections::hash_map::RandomState::new();
        let mut changed = HashSet::with_capacity(batch.writes.len() + batch.deletions.len());
        changed.extend(
            batch
                .writes
                .iter()
                .map(|w| hasher.hash_one(w.key.external_id.as_str())),
        );
        changed.extend(
            batch
                .deletions
                .iter()
                .map(|d| hasher.hash_one(d.external_id.as_str())),
        );
        let mut write = InFlight {
            written: batch.writes.len() as u64,
            checkpoint: batch.checkpoint.clone(),
            counts,
            keys: changed,
            hasher,
            outcome: None,
            write: p.sink.write_batch(batch),
        };
        // Start it: a sink that writes on a thread of its own hands the batch over
        // on the first poll.
        futures::future::poll_fn(|cx| {
            let _ = write.drive(cx);
            Poll::Ready(())
        })
        .await;
        *in_flight = Some(write);
        // A sink that wrote inside that poll is accounted for at once.
        self.land_if_done(entity, key, in_flight).await
    }

    /// Lands the in-flight write if it has finished.
    async fn land_if_done(
        &mut self,
        entity: &str,
        key: &StateKey,
        in_flight: &mut Option<InFlight<'p>>,
    ) -> Result<()> {
        if in_flight.as_ref().is_some_and(|w| w.outcome.is_some()) {
            self.land(entity, key, in_flight.take()).await
        } else {
            Ok(())
        }
    }

    /// The error for a sink whose lookup answered `got` results for `asked` keys.
    fn bad_lookup(&self, asked: usize, got: usize) -> ConnectorError {
        ConnectorError::unexpected(format!(
            "sink `{}` answered a lookup of {asked} keys with {got} results",
            self.info.name
        ))
    }

    /// Awaits the in-flight write, if any, and accounts for it.
    async fn land(
        &mut self,
        entity: &str,
        key: &StateKey,
        in_flight: Option<InFlight<'p>>,
    ) -> Result<()> {
        let Some(mut write) = in_flight else {
            return Ok(());
        };
        let outcome = write.finish().await;
        self.landed(entity, key, &mut write, outcome).await
    }

    /// Accounts for a finished write: its counts, its checkpoint (saved to the
    /// state store outside an atomic run) and a progress event.
    async fn landed(
        &mut self,
        entity: &str,
        key: &StateKey,
        write: &mut InFlight<'p>,
        outcome: Result<()>,
    ) -> Result<()> {
        outcome.map_err(|e| e.with_entity(entity).with_operation("write_batch"))?;
        if self.scope.atomic {
            self.written_pending += write.written;
        } else {
            self.written_durable += write.written;
        }
        let index = self.current;
        {
            let report = self.entity_mut();
            report.counts.add(&write.counts);
            report.batches += 1;
        }
        if let Some(checkpoint) = write.checkpoint.take() {
            if self.scope.atomic {
                self.final_checkpoints.retain(|(i, _, _)| *i != index);
                self.final_checkpoints
                    .push((index, key.clone(), checkpoint));
            } else {
                if let Some(state) = &self.p.state {
                    state.save(key, &checkpoint).await?;
                }
                self.entity_mut().checkpoint = Some(checkpoint);
            }
        }
        self.emit(Stage::Loading);
        self.record_job().await;
        Ok(())
    }

    async fn finish(
        mut self,
        result: Result<()>,
    ) -> std::result::Result<ImportReport, ImportError> {
        let error = match result {
            Ok(()) => None,
            Err(error) => {
                if self.began && !self.committed {
                    self.emit(Stage::RollingBack);
                    let summary = match self.p.sink.rollback().await {
                        Ok(RollbackOutcome::Undone) => RollbackSummary {
                            undone: true,
                            records_kept: self.written_durable,
                            records_undone: self.written_pending,
                        },
                        Ok(RollbackOutcome::Kept) => RollbackSummary {
                            undone: false,
                            records_kept: self.written_durable + self.written_pending,
                            records_undone: 0,
                        },
                        Err(e) => {
                            self.report
                                .warnings
                                .push(format!("the rollback failed: {e}"));
                            RollbackSummary {
                                undone: false,
                                records_kept: self.written_durable + self.written_pending,
                                records_undone: 0,
                            }
                        }
                    };
                    if !self.info.transactional && self.written_pending + self.written_durable > 0 {
                        self.report.warnings.push(format!(
                            "sink `{}` is not transactional: the {} records this run wrote stay",
                            self.info.name, summary.records_kept
                        ));
                    }
                    self.report.rollback = Some(summary);
                }
                Some(error)
            }
        };
        let status = match &error {
            None => JobStatus::Completed,
            Some(e) if e.kind() == ErrorKind::Cancelled => JobStatus::Cancelled,
            Some(_) => JobStatus::Failed,
        };
        let finished = Utc::now();
        self.report.status = status;
        self.report.totals = self.totals();
        self.report.fatal_error = error.as_ref().map(ToString::to_string);
        self.report.finished_at = finished;
        self.report.duration = self.started.elapsed();
        self.job.status = status;
        self.job.finished_at = Some(finished);
        self.job.error = self.report.fatal_error.clone();
        self.emit(match status {
            JobStatus::Completed => Stage::Completed,
            JobStatus::Cancelled => Stage::Cancelled,
            _ => Stage::Failed,
        });
        self.record_job().await;
        if let Some(journal) = &self.p.journal {
            let written = if self.report.rollback.is_some_and(|r| r.undone) {
                self.written_durable
            } else {
                self.written_durable + self.written_pending
            };
            let mut event = journal::AuditEvent::now(
                "connector.import",
                &self.scope.organization,
                &self.scope.connector,
                error.is_none(),
            )
            .with_actor(self.p.actor.clone())
            .with_job(&self.scope.job_id)
            .with_records(written);
            if let Some(e) = &self.report.fatal_error {
                event = event.with_detail(e.clone());
            }
            if let Err(e) = journal.record_audit(&event).await {
                tracing::warn!(job = %self.scope.job_id, error = %e, "could not record the audit event");
                self.report
                    .warnings
                    .push(format!("could not record the audit event: {e}"));
            }
        }
        match error {
            None => Ok(self.report),
            Some(error) => Err(ImportError::new(error, self.report)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run and preview futures are `Send`, so a caller can spawn them.
    #[allow(dead_code)]
    fn futures_are_send(p: &ImportPipeline) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&p.run());
        is_send(&p.preview(10));
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<ImportPipeline>();
    }

    #[test]
    fn job_ids_are_unique() {
        let a = new_job_id();
        let b = new_job_id();
        assert_ne!(a, b);
        assert!(a.starts_with("imp-"));
    }
}
