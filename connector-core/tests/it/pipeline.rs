//! The import pipeline against every sink: crash and resume, dropped runs,
//! dedupe strategies, validation, preview, rollback, cancellation, relationships.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use connector_core::futures::{Stream, StreamExt, stream};
use connector_core::mapping::EntityMapping;
use connector_core::metadata::{Category, ConnectorMetadata};
use connector_core::pipeline::{
    CancelToken, CommitMode, DedupeStrategy, ImportOptions, ImportPipeline, JobStatus,
    MemoryJournal, PreviewAction, Stage,
};
use connector_core::serde_json::json;
use connector_core::sink::{
    Batch, JsonLinesSink, MemorySink, RecordKey, RelationshipReport, RollbackOutcome, RunScope,
    Sink, SinkInfo,
};
use connector_core::sqlite::SqliteStore;
use connector_core::{
    Checkpoint, ConnectorError, Deletion, Discovery, ErrorKind, FetchOptions, FieldError,
    MemoryStateStore, Record, Relationship, RelationshipKind, Result, StateKey, StateStore,
    SyncItem, SyncStream, TestResult, UniversalConnector,
};

const ORG: &str = "org-1";
const CONNECTOR: &str = "fake";

/// One item of the in-memory source.
#[derive(Clone)]
enum Item {
    Record(Record),
    /// Arrives as an error item of kind Validation; the stream goes on.
    Invalid(String),
    Deletion(Deletion),
    /// A fatal (non-record) error; the stream ends.
    Fatal,
}

/// A connector over in-memory lists, one per entity, yielding a checkpoint after
/// every `page` items. The checkpoint cursor is the index of the next item.
struct Source {
    meta: ConnectorMetadata,
    entities: BTreeMap<String, Vec<Item>>,
    page: usize,
    /// Return `Pending` (and wake) before every item, so a test can stop a run
    /// between any two items by polling it a given number of times.
    yield_between: bool,
}

impl Source {
    fn new(page: usize) -> Self {
        Self {
            meta: ConnectorMetadata::new(CONNECTOR, "Fake", "Tests", Category::Other),
            entities: BTreeMap::new(),
            page,
            yield_between: false,
        }
    }

    fn with(mut self, entity: &str, items: Vec<Item>) -> Self {
        self.entities.insert(entity.to_owned(), items);
        self
    }

    fn yielding(mut self) -> Self {
        self.yield_between = true;
        self
    }
}

fn app(i: usize) -> Record {
    Record::new("APP", format!("a{i:03}"), CONNECTOR)
        .with_field("name", json!(format!("App {i}")))
        .with_field("n", json!(i))
}

fn apps(n: usize) -> Vec<Item> {
    (0..n).map(|i| Item::Record(app(i))).collect()
}

#[async_trait]
impl UniversalConnector for Source {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }
    fn mappings(&self) -> &[EntityMapping] {
        &[]
    }
    async fn test_connection(&self) -> TestResult {
        TestResult::ok("in memory")
    }
    async fn discover(&self) -> Result<Discovery> {
        Ok(Discovery::new(vec![]))
    }
    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let Some(items) = self.entities.get(entity) else {
            return stream::iter(vec![Err(ConnectorError::unsupported(entity.to_owned()))]).boxed();
        };
        let len = items.len();
        let start = match &options.resume {
            Some(cp) if cp.complete => len,
            _ => options
                .resume_cursor()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        };
        let stream_name = entity.to_owned();
        let page = self.page;
        let limit = options.limit.map_or(usize::MAX, |l| l as usize);
        // Lazily: one item, then a checkpoint at each page boundary.
        let lazy = (start..len).take(limit).flat_map(move |i| {
            let item = match &items[i] {
                Item::Record(r) => Ok(SyncItem::Record(r.clone())),
                Item::Deletion(d) => Ok(SyncItem::Deletion(d.clone())),
                Item::Invalid(id) => Err(ConnectorError::validation(
                    format!("record {id} breaks mapping"),
                    vec![
                        FieldError::new("fields.name", "required", "required field is missing"),
                        FieldError::new("fields.owner.email", "format", "not an email"),
                    ],
                )
                .with_external_id(id.clone())),
                Item::Fatal => Err(ConnectorError::new(ErrorKind::Unavailable, "upstream 503")),
            };
            let fatal = matches!(items[i], Item::Fatal);
            let next = i + 1;
            let checkpoint = if fatal {
                None
            } else if next == len {
                Some(Ok(SyncItem::Checkpoint(
                    Checkpoint::completed(&stream_name, None).with_records_seen(next as u64),
                )))
            } else if next % page == 0 {
                Some(Ok(SyncItem::Checkpoint(
                    Checkpoint::in_progress(&stream_name, next.to_string())
                        .with_records_seen(next as u64),
                )))
            } else {
                None
            };
            std::iter::once(item).chain(checkpoint)
        });
        // Nothing after a fatal error.
        let lazy = lazy.scan(false, |stopped, item| {
            if *stopped {
                return None;
            }
            *stopped = matches!(&item, Err(e) if e.kind() == ErrorKind::Unavailable);
            Some(item)
        });
        let s = stream::iter(lazy);
        if self.yield_between {
            YieldEach {
                inner: s.boxed(),
                ready: false,
            }
            .boxed()
        } else {
            s.boxed()
        }
    }
}

/// Returns `Pending` once before every item.
struct YieldEach<S> {
    inner: S,
    ready: bool,
}

impl<S: Stream + Unpin> Stream for YieldEach<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        self.inner.poll_next_unpin(cx)
    }
}

/// Fails `write_batch` after `ok` successful batches.
struct FailAfter<S> {
    inner: Arc<S>,
    ok: usize,
    seen: AtomicUsize,
}

impl<S> FailAfter<S> {
    fn new(inner: Arc<S>, ok: usize) -> Self {
        Self {
            inner,
            ok,
            seen: AtomicUsize::new(0),
        }
    }
}

/// A sink over another with some calls changed: each test sink implements the
/// calls it changes, [`Wrapped`] passes the rest to `inner`.
#[async_trait]
trait Hooks: Send + Sync {
    fn inner(&self) -> &dyn Sink;
    fn info(&self) -> SinkInfo {
        self.inner().info()
    }
    async fn begin(&self, scope: &RunScope) -> Result<()> {
        self.inner().begin(scope).await
    }
    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        self.inner().lookup(keys).await
    }
    async fn write_batch(&self, batch: Batch) -> Result<()> {
        self.inner().write_batch(batch).await
    }
    async fn commit(&self) -> Result<()> {
        self.inner().commit().await
    }
    async fn rollback(&self) -> Result<RollbackOutcome> {
        self.inner().rollback().await
    }
}

/// The sink of a [`Hooks`] (it derefs to the hooks, for their fields).
struct Wrapped<H>(H);

impl<H> std::ops::Deref for Wrapped<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.0
    }
}

#[async_trait]
impl<H: Hooks> Sink for Wrapped<H> {
    fn info(&self) -> SinkInfo {
        self.0.info()
    }
    async fn begin(&self, scope: &RunScope) -> Result<()> {
        self.0.begin(scope).await
    }
    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        self.0.lookup(keys).await
    }
    async fn write_batch(&self, batch: Batch) -> Result<()> {
        self.0.write_batch(batch).await
    }
    async fn resolve_relationships(
        &self,
        scope: &RunScope,
        n: usize,
    ) -> Result<RelationshipReport> {
        self.0.inner().resolve_relationships(scope, n).await
    }
    async fn commit(&self) -> Result<()> {
        self.0.commit().await
    }
    async fn rollback(&self) -> Result<RollbackOutcome> {
        self.0.rollback().await
    }
    async fn load_checkpoint(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
        self.0.inner().load_checkpoint(key).await
    }
}

#[async_trait]
impl<S: Sink> Hooks for FailAfter<S> {
    fn inner(&self) -> &dyn Sink {
        &*self.inner
    }
    async fn write_batch(&self, batch: Batch) -> Result<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.ok {
            return Err(ConnectorError::new(
                ErrorKind::Unavailable,
                "disk full (injected)",
            ));
        }
        self.inner.write_batch(batch).await
    }
}

/// A sink that cannot undo and keeps no checkpoints (like a remote API), over a
/// memory sink.
struct NonTransactional(MemorySink);

#[async_trait]
impl Hooks for NonTransactional {
    fn inner(&self) -> &dyn Sink {
        &self.0
    }
    fn info(&self) -> SinkInfo {
        SinkInfo::new("remote", false, false)
    }
    async fn begin(&self, _scope: &RunScope) -> Result<()> {
        Ok(())
    }
    async fn commit(&self) -> Result<()> {
        Ok(())
    }
    async fn rollback(&self) -> Result<RollbackOutcome> {
        Ok(RollbackOutcome::Kept)
    }
}

/// The sinks under test, each with a way to read back everything it holds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Sqlite,
    Jsonl,
}

const KINDS: [Kind; 3] = [Kind::Memory, Kind::Sqlite, Kind::Jsonl];

enum AnySink {
    Memory(Arc<MemorySink>),
    Sqlite(Arc<SqliteStore>),
    Jsonl(Arc<JsonLinesSink>),
}

impl AnySink {
    fn new(kind: Kind, dir: &Path) -> Self {
        match kind {
            Kind::Memory => AnySink::Memory(Arc::new(MemorySink::new())),
            Kind::Sqlite => {
                AnySink::Sqlite(Arc::new(SqliteStore::open(dir.join("store.db")).unwrap()))
            }
            Kind::Jsonl => {
                AnySink::Jsonl(Arc::new(JsonLinesSink::open(dir.join("jsonl")).unwrap()))
            }
        }
    }

    fn sink(&self) -> Arc<dyn Sink> {
        match self {
            AnySink::Memory(s) => s.clone(),
            AnySink::Sqlite(s) => s.clone(),
            AnySink::Jsonl(s) => s.clone(),
        }
    }

    fn failing(&self, ok: usize) -> Arc<dyn Sink> {
        match self {
            AnySink::Memory(s) => Arc::new(Wrapped(FailAfter::new(s.clone(), ok))),
            AnySink::Sqlite(s) => Arc::new(Wrapped(FailAfter::new(s.clone(), ok))),
            AnySink::Jsonl(s) => Arc::new(Wrapped(FailAfter::new(s.clone(), ok))),
        }
    }

    /// Everything stored, by external id, for `entity`.
    fn contents(&self, entity: &str) -> BTreeMap<String, Record> {
        let mut out = BTreeMap::new();
        match self {
            AnySink::Memory(s) => {
                for (k, r) in s.records() {
                    if k.entity == entity {
                        out.insert(k.external_id, r);
                    }
                }
            }
            AnySink::Sqlite(s) => s
                .for_each_record(ORG, CONNECTOR, entity, |r| {
                    out.insert(r.external_id.clone(), r);
                    Ok(())
                })
                .unwrap(),
            AnySink::Jsonl(s) => {
                for k in s.keys() {
                    if k.entity == entity {
                        out.insert(k.external_id.clone(), s.get(&k).unwrap().unwrap());
                    }
                }
            }
        }
        out
    }
}

fn expected(items: &[Item]) -> BTreeMap<String, Record> {
    let mut out = BTreeMap::new();
    for item in items {
        match item {
            Item::Record(r) => {
                out.insert(r.external_id.clone(), r.clone());
            }
            Item::Deletion(d) => {
                out.remove(&d.external_id);
            }
            _ => {}
        }
    }
    out
}

fn pipeline(source: Arc<Source>, sink: Arc<dyn Sink>, options: ImportOptions) -> ImportPipeline {
    ImportPipeline::new(ORG, source, sink)
        .with_entities(["apps"])
        .with_options(options)
}

fn opts() -> ImportOptions {
    ImportOptions::new().with_batch_size(3)
}

#[tokio::test]
async fn a_full_run_loads_everything_and_a_second_run_reads_nothing_new() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let source = Arc::new(Source::new(3).with("apps", apps(10)));
        let p = pipeline(source.clone(), sink.sink(), opts());
        let report = p.run().await.unwrap();
        assert_eq!(report.status, JobStatus::Completed);
        assert_eq!(report.totals.created, 10, "{kind:?}");
        assert_eq!(report.entity("apps").unwrap().batches, 4, "{kind:?}");
        let cp = report.entity("apps").unwrap().checkpoint.clone().unwrap();
        assert!(cp.complete, "{kind:?}");
        assert_eq!(
            sink.contents("APP"),
            expected(&source.entities["apps"]),
            "{kind:?}"
        );
        let again = p.run().await.unwrap();
        assert_eq!(again.totals.processed, 0, "{kind:?}");
        assert_eq!(
            again.entity("apps").unwrap().resumed_from.as_ref(),
            Some(&cp)
        );
    }
}

/// Fail the sink after k batches, for every k; resume; the store equals the
/// source exactly, and every record was created exactly once over both runs.
#[tokio::test]
async fn crash_after_k_batches_and_resume_loses_and_duplicates_nothing() {
    let items = apps(11); // 4 pages of 3, 3, 3, 2
    for kind in KINDS {
        for mode in [CommitMode::PerBatch, CommitMode::Atomic] {
            for k in 0..=4 {
                let dir = tempfile::tempdir().unwrap();
                let sink = AnySink::new(kind, dir.path());
                let source = Arc::new(Source::new(3).with("apps", items.clone()));
                let options = opts().with_commit_mode(mode);
                let failed = pipeline(source.clone(), sink.failing(k), options.clone())
                    .run()
                    .await;
                let (created_first, kept) = match failed {
                    Err(err) => {
                        assert_eq!(err.kind(), ErrorKind::Unavailable, "{kind:?} k={k}");
                        let report = err.report();
                        assert_eq!(report.status, JobStatus::Failed);
                        let rollback = report.rollback.expect("a failed run reports its rollback");
                        assert!(rollback.undone);
                        let created = report.totals.created;
                        match mode {
                            CommitMode::PerBatch => assert_eq!(rollback.records_kept, created),
                            CommitMode::Atomic => assert_eq!(rollback.records_kept, 0),
                        }
                        (
                            if mode == CommitMode::Atomic {
                                0
                            } else {
                                created
                            },
                            rollback.records_kept,
                        )
                    }
                    Ok(report) => {
                        assert_eq!(k, 4, "only k = every batch succeeds ({kind:?})");
                        (report.totals.created, report.totals.created)
                    }
                };
                assert_eq!(
                    sink.contents("APP").len() as u64,
                    kept,
                    "{kind:?} {mode:?} k={k}"
                );
                let resumed = pipeline(source.clone(), sink.sink(), options)
                    .run()
                    .await
                    .unwrap();
                assert_eq!(
                    resumed.totals.updated, 0,
                    "{kind:?} {mode:?} k={k}: re-delivered records"
                );
                assert_eq!(
                    created_first + resumed.totals.created,
                    11,
                    "{kind:?} {mode:?} k={k}: every record created exactly once"
                );
                assert_eq!(
                    sink.contents("APP"),
                    expected(&items),
                    "{kind:?} {mode:?} k={k}"
                );
            }
        }
    }
}

/// As above with batches large enough that the SQLite store writes them on its own
/// thread and the pipeline reads ahead meanwhile: a failure after k batches, for
/// every k, then a resume, still loses and duplicates nothing.
#[tokio::test]
async fn crash_and_resume_with_large_batches_written_while_reading_ahead() {
    let items = apps(450); // pages of 70, batches of 140 (two pages)
    for mode in [CommitMode::PerBatch, CommitMode::Atomic] {
        for k in 0..=4 {
            let dir = tempfile::tempdir().unwrap();
            let sink = AnySink::new(Kind::Sqlite, dir.path());
            let source = Arc::new(Source::new(70).with("apps", items.clone()).yielding());
            let options = ImportOptions::new()
                .with_batch_size(140)
                .with_commit_mode(mode);
            let first = pipeline(source.clone(), sink.failing(k), options.clone())
                .run()
                .await;
            let created_first = match (&first, mode) {
                (Ok(report), _) => report.totals.created,
                (Err(_), CommitMode::Atomic) => 0,
                (Err(err), CommitMode::PerBatch) => err.report().totals.created,
            };
            assert_eq!(
                sink.contents("APP").len() as u64,
                created_first,
                "{mode:?} k={k}"
            );
            let resumed = pipeline(source.clone(), sink.sink(), options)
                .run()
                .await
                .unwrap();
            assert_eq!(resumed.totals.updated, 0, "{mode:?} k={k}");
            assert_eq!(
                created_first + resumed.totals.created,
                450,
                "{mode:?} k={k}: every record created exactly once"
            );
            assert_eq!(sink.contents("APP"), expected(&items), "{mode:?} k={k}");
        }
    }
}

/// Poll the run a bounded number of times and drop it, for every stopping point;
/// resume; the store equals the source exactly.
#[tokio::test]
async fn dropping_the_run_anywhere_and_resuming_is_exact() {
    let items = apps(8);
    let waker = std::task::Waker::noop();
    for kind in KINDS {
        for mode in [CommitMode::PerBatch, CommitMode::Atomic] {
            let mut n = 1;
            loop {
                let dir = tempfile::tempdir().unwrap();
                let sink = AnySink::new(kind, dir.path());
                let source = Arc::new(Source::new(3).with("apps", items.clone()).yielding());
                let options = opts().with_commit_mode(mode);
                let p = pipeline(source.clone(), sink.sink(), options.clone());
                let finished = {
                    let mut run = Box::pin(p.run());
                    let mut cx = Context::from_waker(waker);
                    (0..n).any(|_| run.as_mut().poll(&mut cx).is_ready())
                }; // dropped here, mid-run unless finished
                let resumed = pipeline(source.clone(), sink.sink(), options)
                    .run()
                    .await
                    .unwrap();
                assert_eq!(resumed.totals.updated, 0, "{kind:?} {mode:?} n={n}");
                assert_eq!(
                    sink.contents("APP"),
                    expected(&items),
                    "{kind:?} {mode:?} n={n}"
                );
                if let AnySink::Sqlite(store) = &sink {
                    for id in expected(&items).keys() {
                        let entry = store
                            .sync_log_entry(&RecordKey::new(ORG, CONNECTOR, "APP", id))
                            .unwrap()
                            .unwrap();
                        assert_eq!(entry.last_action, "create", "{id} written twice (n={n})");
                    }
                }
                if finished {
                    break;
                }
                n += 1;
            }
            assert!(n > 8, "the run should need many polls ({kind:?})");
        }
    }
}

fn dup_items() -> Vec<Item> {
    // a001 twice on the same page, a002 on two pages, plus a000 already stored.
    let v2 = |i: usize| {
        app(i)
            .with_field("name", json!(format!("App {i} v2")))
            .with_field("owner", json!(null))
    };
    vec![
        Item::Record(app(0).with_field("tier", json!(1))),
        Item::Record(app(1)),
        Item::Record(v2(1)),
        Item::Record(app(2)),
        Item::Record(app(3)),
        Item::Record(v2(2)),
    ]
}

async fn seed_existing(sink: &Arc<dyn Sink>) {
    let stored = app(0)
        .with_field("name", json!("Stored"))
        .with_field("owner", json!("ann"));
    let source = Arc::new(Source::new(3).with("apps", vec![Item::Record(stored)]));
    pipeline(source, sink.clone(), opts().with_resume(false))
        .run()
        .await
        .unwrap();
}

#[tokio::test]
async fn dedupe_strategies_against_the_sink_and_within_the_run() {
    for kind in KINDS {
        for strategy in [
            DedupeStrategy::Skip,
            DedupeStrategy::Update,
            DedupeStrategy::Merge,
            DedupeStrategy::Fail,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let sink = AnySink::new(kind, dir.path());
            seed_existing(&sink.sink()).await;
            let source = Arc::new(Source::new(3).with("apps", dup_items()));
            let options = opts().with_dedupe(strategy).with_resume(false);
            let report = pipeline(source, sink.sink(), options).run().await.unwrap();
            let c = report.totals;
            let stored = sink.contents("APP");
            assert_eq!(stored.len(), 4, "{kind:?} {strategy:?}");
            let name = |id: &str| stored[id].field("name").cloned().unwrap();
            match strategy {
                DedupeStrategy::Skip => {
                    assert_eq!(
                        (c.created, c.updated, c.skipped, c.failed),
                        (3, 0, 3, 0),
                        "{kind:?}"
                    );
                    assert_eq!(name("a000"), json!("Stored"));
                    assert_eq!(name("a001"), json!("App 1"));
                    assert_eq!(name("a002"), json!("App 2"));
                }
                DedupeStrategy::Update => {
                    assert_eq!(
                        (c.created, c.updated, c.skipped, c.failed),
                        (3, 3, 0, 0),
                        "{kind:?}"
                    );
                    assert_eq!(name("a000"), json!("App 0"));
                    assert_eq!(
                        stored["a000"].field("owner"),
                        None,
                        "update replaces the record"
                    );
                    assert_eq!(name("a001"), json!("App 1 v2"));
                    assert_eq!(name("a002"), json!("App 2 v2"));
                }
                DedupeStrategy::Merge => {
                    assert_eq!(
                        (c.created, c.updated, c.skipped, c.failed),
                        (3, 3, 0, 0),
                        "{kind:?}"
                    );
                    assert_eq!(name("a000"), json!("App 0"));
                    assert_eq!(
                        stored["a000"].field("owner"),
                        Some(&json!("ann")),
                        "merge keeps fields"
                    );
                    assert_eq!(stored["a000"].field("tier"), Some(&json!(1)));
                    assert_eq!(name("a002"), json!("App 2 v2"));
                }
                DedupeStrategy::Fail => {
                    assert_eq!(
                        (c.created, c.updated, c.skipped, c.failed),
                        (3, 0, 0, 3),
                        "{kind:?}"
                    );
                    assert_eq!(report.errors_total, 3);
                    assert!(report.errors.iter().all(|e| e.kind == ErrorKind::Conflict));
                    let ids: BTreeSet<_> = report
                        .errors
                        .iter()
                        .filter_map(|e| e.external_id.clone())
                        .collect();
                    assert_eq!(
                        ids,
                        BTreeSet::from(["a000".to_owned(), "a001".into(), "a002".into()])
                    );
                    assert_eq!(name("a000"), json!("Stored"));
                    assert_eq!(name("a001"), json!("App 1"));
                }
            }
        }
    }
}

/// Duplicates that arrive batches apart, with batches large enough that the SQLite
/// store looks up and writes on threads of their own while the pipeline reads
/// ahead: every later copy sees the earlier one as stored, on every sink.
#[tokio::test]
async fn duplicates_batches_apart_are_updates_while_lookups_and_writes_read_ahead() {
    let v2 = |i: usize| app(i).with_field("name", json!(format!("App {i} v2")));
    let mut items = apps(300);
    items.extend((0..300).step_by(3).map(|i| Item::Record(v2(i))));
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let source = Arc::new(Source::new(50).with("apps", items.clone()).yielding());
        let options = opts().with_batch_size(100).with_resume(false);
        let report = pipeline(source, sink.sink(), options).run().await.unwrap();
        let c = report.totals;
        assert_eq!(
            (c.processed, c.created, c.updated, c.skipped),
            (400, 300, 100, 0),
            "{kind:?}"
        );
        let stored = sink.contents("APP");
        assert_eq!(stored.len(), 300, "{kind:?}");
        for i in 0..300 {
            let expected = if i % 3 == 0 { v2(i) } else { app(i) };
            assert_eq!(stored[&format!("a{i:03}")], expected, "{kind:?} {i}");
        }
    }
}

#[tokio::test]
async fn fail_strategy_with_fail_on_error_stops_the_run() {
    let sink: Arc<dyn Sink> = Arc::new(MemorySink::new());
    seed_existing(&sink).await;
    let source = Arc::new(Source::new(3).with("apps", dup_items()));
    let options = opts()
        .with_dedupe(DedupeStrategy::Fail)
        .with_fail_on_error(true)
        .with_resume(false);
    let err = pipeline(source, sink, options).run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // a001 twice in the first page is found before a000 is looked up in the sink.
    assert!(
        err.to_string()
            .contains("`a001` of `APP` appears twice in this run"),
        "{err}"
    );
    assert_eq!(err.report().rollback.unwrap().records_kept, 0);
}

#[tokio::test]
async fn validation_errors_are_reported_with_paths_and_valid_records_load() {
    let mut items = apps(7);
    items.insert(2, Item::Invalid("bad-1".into()));
    items.insert(5, Item::Record(Record::new("APP", " ", CONNECTOR)));
    items.push(Item::Record(app(50).with_field("name", json!(""))));
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let source = Arc::new(Source::new(3).with("apps", items.clone()));
        let p = pipeline(source, sink.sink(), opts()).with_validator("APP", |r: &Record| {
            match r.field("name").and_then(|v| v.as_str()) {
                Some("") => vec![FieldError::new(
                    "fields.name",
                    "min_length",
                    "must not be empty",
                )],
                _ => vec![],
            }
        });
        let report = p.run().await.unwrap();
        assert_eq!(report.totals.created, 7, "{kind:?}");
        assert_eq!(report.totals.failed, 3, "{kind:?}");
        assert_eq!(report.totals.processed, 10);
        let paths: Vec<Vec<&str>> = report.errors.iter().map(|e| e.paths()).collect();
        assert_eq!(
            paths,
            vec![
                vec!["fields.name", "fields.owner.email"],
                vec!["external_id"],
                vec!["fields.name"]
            ]
        );
        assert_eq!(report.errors[0].external_id.as_deref(), Some("bad-1"));
        assert_eq!(report.errors[2].external_id.as_deref(), Some("a050"));
        assert!(
            report
                .errors
                .iter()
                .all(|e| e.kind == ErrorKind::Validation)
        );
        assert_eq!(sink.contents("APP").len(), 7);
    }
}

#[tokio::test]
async fn fail_on_error_keeps_committed_batches_per_batch_and_nothing_atomically() {
    let mut items = apps(7);
    items.insert(4, Item::Invalid("bad".into()));
    for (mode, kept) in [(CommitMode::PerBatch, 3), (CommitMode::Atomic, 0)] {
        let sink = Arc::new(MemorySink::new());
        let source = Arc::new(Source::new(3).with("apps", items.clone()));
        let options = opts().with_fail_on_error(true).with_commit_mode(mode);
        let err = pipeline(source, sink.clone(), options)
            .run()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(
            err.report().errors[0].paths(),
            vec!["fields.name", "fields.owner.email"]
        );
        assert_eq!(sink.len(), kept, "{mode:?}");
        assert_eq!(err.report().rollback.unwrap().records_kept, kept as u64);
    }
}

#[tokio::test]
async fn a_non_transactional_sink_reports_what_it_kept() {
    let mut items = apps(7);
    items.push(Item::Fatal);
    let sink = Arc::new(Wrapped(NonTransactional(MemorySink::new())));
    let state = Arc::new(MemoryStateStore::new());
    let source = Arc::new(Source::new(3).with("apps", items));
    let options = opts().with_commit_mode(CommitMode::Atomic);
    let err = pipeline(source.clone(), sink.clone(), options)
        .with_state_store(state.clone())
        .run()
        .await
        .unwrap_err();
    let rollback = err.report().rollback.unwrap();
    assert!(!rollback.undone);
    assert_eq!(rollback.records_kept, 6);
    assert_eq!(sink.0.0.len(), 6);
    assert!(
        err.report()
            .warnings
            .iter()
            .any(|w| w.contains("not transactional")),
        "{:?}",
        err.report().warnings
    );
    // Atomic runs save checkpoints only after a commit: nothing was saved.
    assert_eq!(
        state
            .load(&StateKey::new(ORG, CONNECTOR, "apps"))
            .await
            .unwrap(),
        None
    );

    // Per batch, a non-checkpointing sink's progress goes to the state store.
    let sink = Arc::new(Wrapped(NonTransactional(MemorySink::new())));
    let err = pipeline(source, sink, opts())
        .with_state_store(state.clone())
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let saved = state
        .load(&StateKey::new(ORG, CONNECTOR, "apps"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.cursor.as_deref(), Some("6"));
}

#[tokio::test]
async fn preview_writes_nothing_and_predicts_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    seed_existing(&(store.clone() as Arc<dyn Sink>)).await;
    store
        .clear(&StateKey::new(ORG, CONNECTOR, "apps"))
        .await
        .unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();

    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let mut items = dup_items();
    items.insert(1, Item::Invalid("bad".into()));
    let source = Arc::new(Source::new(3).with("apps", items));
    let options = opts().with_dedupe(DedupeStrategy::Skip);
    let journal = Arc::new(MemoryJournal::new());
    let p = pipeline(source, store.clone(), options).with_journal(journal.clone());
    let preview = p.preview(5).await.unwrap();
    let apps = preview.entity("apps").unwrap();
    let actions: Vec<(String, PreviewAction)> = apps
        .records
        .iter()
        .map(|r| (r.record.external_id.clone(), r.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("a000".into(), PreviewAction::Skip),
            ("a001".into(), PreviewAction::Create),
            ("a001".into(), PreviewAction::Skip),
            ("a002".into(), PreviewAction::Create),
        ]
    );
    assert_eq!(apps.counts.processed, 5);
    assert_eq!(
        apps.errors[0].paths(),
        vec!["fields.name", "fields.owner.email"]
    );
    assert!(journal.jobs().is_empty());
    assert_eq!(store.count_records(ORG, CONNECTOR).unwrap(), 1);
    drop(p);
    drop(store);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "preview changed the database file"
    );

    let memory = Arc::new(MemorySink::new());
    let source = Arc::new(Source::new(3).with("apps", apps_items_for_preview()));
    pipeline(source, memory.clone(), opts())
        .preview(2)
        .await
        .unwrap();
    assert!(memory.is_empty());
    assert_eq!(
        memory.checkpoint(&StateKey::new(ORG, CONNECTOR, "apps")),
        None
    );
}

fn apps_items_for_preview() -> Vec<Item> {
    apps(5)
}

/// A fatal error in an atomic run leaves the SQLite file byte-for-byte as it was;
/// the job and audit trail (kept in another store) record the failure.
#[tokio::test]
async fn atomic_rollback_leaves_the_sqlite_file_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let source = Arc::new(Source::new(3).with("apps", apps(4)));
        pipeline(source, store, opts()).run().await.unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    assert!(
        !dir.path().join("store.db-wal").exists()
            || std::fs::metadata(dir.path().join("store.db-wal"))
                .unwrap()
                .len()
                == 0
    );

    let audit = Arc::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let mut items = apps(12);
        items[1] = Item::Record(app(1).with_field("name", json!("changed")));
        items.push(Item::Deletion(Deletion::new("APP", "a000")));
        items.push(Item::Fatal);
        let source = Arc::new(Source::new(3).with("apps", items));
        let options = opts()
            .with_commit_mode(CommitMode::Atomic)
            .with_resume(false);
        let err = pipeline(source, store.clone(), options)
            .with_journal(audit.clone())
            .with_actor("ops@example.com")
            .run()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let rollback = err.report().rollback.unwrap();
        assert!(rollback.undone);
        // 8 created and a001 changed; a000, a002 and a003 arrive exactly as stored
        // and are not written again.
        assert_eq!(rollback.records_undone, 9);
        assert_eq!(store.count_records(ORG, CONNECTOR).unwrap(), 4);

        let job = audit.job(&err.report().job_id).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.actor.as_deref(), Some("ops@example.com"));
        assert!(
            job.error
                .as_deref()
                .unwrap_or_default()
                .contains("upstream 503")
        );
        let events = audit.audit_events(ORG, 10).unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].success);
        assert_eq!(events[0].records, 0, "nothing written survived");
        assert_eq!(events[0].actor.as_deref(), Some("ops@example.com"));
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the rolled-back run changed the file"
    );
}

#[tokio::test]
async fn cancellation_stops_at_a_consistent_checkpoint_and_resume_finishes() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let items = apps(10);
        let source = Arc::new(Source::new(3).with("apps", items.clone()));
        let token = CancelToken::new();
        let trigger = token.clone();
        let p = pipeline(source.clone(), sink.sink(), opts())
            .with_cancel_token(token)
            .on_progress(move |e| {
                if e.stage == Stage::Loading && e.entity_counts.created >= 3 {
                    trigger.cancel();
                }
            });
        let err = p.run().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{kind:?}");
        assert_eq!(err.report().status, JobStatus::Cancelled);
        let stored = sink.contents("APP").len();
        assert_eq!(stored, 3, "{kind:?}");
        let cp = err
            .report()
            .entity("apps")
            .unwrap()
            .checkpoint
            .clone()
            .unwrap();
        assert_eq!(cp.cursor.as_deref(), Some("3"));

        let resumed = pipeline(source, sink.sink(), opts()).run().await.unwrap();
        assert_eq!(resumed.totals.created, 7, "{kind:?}");
        assert_eq!(sink.contents("APP"), expected(&items));
    }
}

#[tokio::test]
async fn cancelling_while_the_stream_waits_wakes_the_run() {
    struct Stuck(ConnectorMetadata);
    #[async_trait]
    impl UniversalConnector for Stuck {
        fn metadata(&self) -> &ConnectorMetadata {
            &self.0
        }
        fn mappings(&self) -> &[EntityMapping] {
            &[]
        }
        async fn test_connection(&self) -> TestResult {
            TestResult::ok("")
        }
        async fn discover(&self) -> Result<Discovery> {
            Ok(Discovery::new(vec![]))
        }
        fn fetch(&self, _: &str, _: FetchOptions) -> SyncStream<'_> {
            stream::iter(vec![Ok(SyncItem::Record(app(0)))])
                .chain(stream::pending())
                .boxed()
        }
    }
    let sink = Arc::new(MemorySink::new());
    let connector = Arc::new(Stuck(ConnectorMetadata::new(
        CONNECTOR,
        "Stuck",
        "Tests",
        Category::Other,
    )));
    let p = ImportPipeline::new(ORG, connector, sink.clone()).with_entities(["apps"]);
    let token = p.cancel_token();
    let (result, ()) = tokio::join!(p.run(), async move {
        tokio::task::yield_now().await;
        token.cancel();
    });
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(sink.len(), 1, "the record read before cancelling is kept");
}

#[tokio::test]
async fn relationships_are_resolved_after_all_entities() {
    let runs_on = |i: usize, server: &str| {
        app(i).with_relationship(Relationship::new(
            ("APP", format!("a{i:03}")),
            RelationshipKind::RunsOn,
            ("SERVER", server),
        ))
    };
    let servers = vec![
        Item::Record(Record::new("SERVER", "s1", CONNECTOR)),
        Item::Record(Record::new("SERVER", "s2", CONNECTOR)),
    ];
    let apps = vec![
        Item::Record(runs_on(0, "s1")),
        Item::Record(runs_on(1, "s2")),
        Item::Record(runs_on(2, "s9")),
    ];
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let source = Arc::new(
            Source::new(2)
                .with("apps", apps.clone())
                .with("servers", servers.clone()),
        );
        // Apps first: their targets arrive later in the run.
        let p = ImportPipeline::new(ORG, source, sink.sink()).with_entities(["apps", "servers"]);
        let report = p.run().await.unwrap();
        let rels = report.relationships.unwrap();
        assert_eq!((rels.resolved, rels.unresolved), (2, 1), "{kind:?}");
        assert_eq!(rels.unresolved_sample[0].to_id, "s9");
        if let AnySink::Sqlite(store) = &sink {
            let of = store
                .relationships_of(&RecordKey::new(ORG, CONNECTOR, "APP", "a000"))
                .unwrap();
            assert_eq!(of.len(), 1);
            assert!(of[0].1, "resolved flag stored");
        }
    }
}

#[tokio::test]
async fn deletions_remove_records_and_the_sync_log_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let mut items = apps(4);
    items.push(Item::Deletion(Deletion::new("APP", "a001")));
    let source = Arc::new(Source::new(3).with("apps", items.clone()));
    let report = pipeline(source, store.clone(), opts()).run().await.unwrap();
    assert_eq!(report.totals.deleted, 1);
    assert_eq!(store.count_records(ORG, CONNECTOR).unwrap(), 3);
    let key = RecordKey::new(ORG, CONNECTOR, "APP", "a001");
    let entry = store.sync_log_entry(&key).unwrap().unwrap();
    assert_eq!(entry.last_action, "delete");
    assert!(entry.deleted_at.is_some());
    assert_eq!(entry.first_job_id, report.job_id);
    for kind in [Kind::Memory, Kind::Jsonl] {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let source = Arc::new(Source::new(3).with("apps", items.clone()));
        pipeline(source, sink.sink(), opts()).run().await.unwrap();
        assert_eq!(sink.contents("APP"), expected(&items), "{kind:?}");
    }
}

#[tokio::test]
async fn progress_events_carry_stages_counts_and_an_eta() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let source = Arc::new(Source::new(3).with("apps", apps(9)));
    let p = pipeline(source, Arc::new(MemorySink::new()), opts())
        .with_expected_total("apps", 9)
        .on_progress(move |e| seen.lock().unwrap().push(e.clone()));
    let report = p.run().await.unwrap();
    let events = events.lock().unwrap();
    let stages: Vec<Stage> = events.iter().map(|e| e.stage).collect();
    assert_eq!(
        stages,
        vec![
            Stage::Starting,
            Stage::Extracting,
            Stage::Loading,
            Stage::Loading,
            Stage::Loading,
            Stage::Relationships,
            Stage::Committing,
            Stage::Completed
        ]
    );
    let loads: Vec<u64> = events
        .iter()
        .filter(|e| e.stage == Stage::Loading)
        .map(|e| e.entity_counts.created)
        .collect();
    assert_eq!(loads, vec![3, 6, 9]);
    assert!(events.iter().all(|e| e.job_id == report.job_id));
    assert!(
        events
            .iter()
            .filter(|e| e.stage == Stage::Loading)
            .all(|e| e.total == Some(9))
    );
    let last_load = events.iter().rfind(|e| e.stage == Stage::Loading).unwrap();
    assert!(
        last_load.eta.is_none_or(|d| d.is_zero()),
        "{:?}",
        last_load.eta
    );
}

#[tokio::test]
async fn sqlite_journal_records_jobs_and_audit_events() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let source = Arc::new(Source::new(3).with("apps", apps(5)));
    let report = pipeline(source, store.clone(), opts())
        .with_journal(store.clone())
        .with_actor("user-7")
        .run()
        .await
        .unwrap();
    let job = store.job(&report.job_id).unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.stage, Stage::Completed);
    assert_eq!(job.counts.created, 5);
    assert_eq!(job.entities, vec!["apps".to_owned()]);
    assert!(job.finished_at.is_some());
    let events = store.audit_events(ORG, 10).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.action.as_str(), e.resource.as_str(), e.records, e.success),
        ("connector.import", CONNECTOR, 5, true)
    );
    assert_eq!(e.job_id.as_deref(), Some(report.job_id.as_str()));
    assert_eq!(e.actor.as_deref(), Some("user-7"));

    let mut items = apps(2);
    items.push(Item::Fatal);
    let failing = Arc::new(Source::new(3).with("apps", items));
    let err = pipeline(failing, store.clone(), opts().with_resume(false))
        .with_journal(store.clone())
        .run()
        .await
        .unwrap_err();
    let jobs = store.jobs(ORG, Some(CONNECTOR), 10).unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![err.report().job_id.as_str(), report.job_id.as_str()]
    );
    assert_eq!(jobs[0].status, JobStatus::Failed);
    assert_eq!(store.jobs(ORG, Some("other"), 10).unwrap().len(), 0);
    assert_eq!(
        store.last_completed_run(ORG, CONNECTOR).unwrap(),
        Some(report.started_at)
    );
}

#[tokio::test]
async fn sqlite_is_a_state_store() {
    let store = SqliteStore::open_in_memory().unwrap();
    let key = StateKey::new(ORG, CONNECTOR, "apps");
    assert_eq!(store.load(&key).await.unwrap(), None);
    let cp = Checkpoint::in_progress("apps", "p7").with_records_seen(70);
    store.save(&key, &cp).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(cp));
    store.clear(&key).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
}

#[tokio::test]
async fn jsonl_cuts_off_uncommitted_bytes_after_a_crash_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let items = apps(6);
    {
        let sink = Arc::new(JsonLinesSink::open(dir.path()).unwrap());
        let source = Arc::new(Source::new(3).with("apps", items.clone()));
        pipeline(source, sink, opts()).run().await.unwrap();
    }
    let file = dir.path().join("APP.jsonl");
    let committed = std::fs::read(&file).unwrap();
    // A crash mid-append leaves a torn line after the committed bytes.
    let mut torn = committed.clone();
    torn.extend_from_slice(b"{\"op\":\"upsert\",\"key\":{\"organ");
    std::fs::write(&file, &torn).unwrap();
    let sink = Arc::new(JsonLinesSink::open(dir.path()).unwrap());
    assert_eq!(std::fs::read(&file).unwrap(), committed);
    assert_eq!(sink.len(), 6);

    // Unchanged records are not written again; changed ones append, and
    // compaction keeps one line per live record.
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    let source = Arc::new(Source::new(3).with("apps", items.clone()));
    let report = pipeline(source, sink.clone(), opts().with_resume(false))
        .run()
        .await
        .unwrap();
    assert_eq!((report.totals.updated, report.totals.skipped), (0, 6));
    assert_eq!(lines(&file), 6);
    let changed: Vec<Item> = (0..6)
        .map(|i| Item::Record(app(i).with_field("name", json!(format!("App {i} v2")))))
        .collect();
    let source = Arc::new(Source::new(3).with("apps", changed.clone()));
    pipeline(source, sink.clone(), opts().with_resume(false))
        .run()
        .await
        .unwrap();
    assert_eq!(lines(&file), 12);
    sink.compact("APP").unwrap();
    assert_eq!(lines(&file), 6);
    let reopened = AnySink::Jsonl(Arc::new(JsonLinesSink::open(dir.path()).unwrap()));
    assert_eq!(reopened.contents("APP"), expected(&changed));
}

#[test]
fn sqlite_vault_round_trip_wrong_key_tampering_and_rotation() {
    use connector_core::Credentials;
    use connector_core::vault::{CredentialVault, VaultKey};

    const CANARY: &str = "CANARY-sqlite-vault-93c1";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let store = SqliteStore::open(&path).unwrap();
    let creds: Credentials = connector_core::serde_json::from_value(json!({
        "type": "oauth2_client_credentials", "client_id": "app", "client_secret": CANARY
    }))
    .unwrap();
    let v1 = CredentialVault::new(VaultKey::new("k1", [1; 32]).unwrap());
    store
        .put_credentials(ORG, "graph-prod", &creds, &v1, Some("admin"))
        .unwrap();
    store
        .put_credentials(ORG, "graph-test", &creds, &v1, None)
        .unwrap();

    // Round trip; the secret is nowhere in the file, nor in what prints.
    let back = store
        .get_credentials(ORG, "graph-prod", &v1)
        .unwrap()
        .unwrap();
    assert_eq!(back.secret_values(), vec![CANARY]);
    assert!(
        !format!(
            "{back:?} {:?}",
            store.sealed_credentials(ORG, "graph-prod").unwrap()
        )
        .contains(CANARY)
    );
    drop(store);
    let bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("vault.db-wal")).unwrap_or_default();
    let needle = CANARY.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "secret stored in clear"
    );
    assert!(
        !wal.windows(needle.len()).any(|w| w == needle),
        "secret in the WAL in clear"
    );
    let store = SqliteStore::open(&path).unwrap();
    let events = store.audit_events(ORG, 10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].action, "credentials.store");
    assert_eq!(events[1].actor.as_deref(), Some("admin"));

    // The wrong key with the right id fails authentication; an unknown id says so.
    let wrong = CredentialVault::new(VaultKey::new("k1", [2; 32]).unwrap());
    let err = store
        .get_credentials(ORG, "graph-prod", &wrong)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("either that key is wrong or the stored ciphertext was tampered"),
        "{err}"
    );
    let other = CredentialVault::new(VaultKey::new("k9", [1; 32]).unwrap());
    assert!(
        store
            .get_credentials(ORG, "graph-prod", &other)
            .unwrap_err()
            .to_string()
            .contains("`k1`")
    );

    // Tampering with the stored ciphertext, or moving it to another row, is detected.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mut blob: Vec<u8> = raw
        .query_row(
            "SELECT ciphertext FROM credentials WHERE name = 'graph-test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    blob[3] ^= 0x01;
    raw.execute(
        "UPDATE credentials SET ciphertext = ?1 WHERE name = 'graph-test'",
        [&blob],
    )
    .unwrap();
    let err = store.get_credentials(ORG, "graph-test", &v1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("tampered"), "{err}");
    raw.execute(
        "UPDATE credentials SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM credentials \
         WHERE name = 'graph-prod') WHERE name = 'graph-test'",
        [],
    )
    .unwrap();
    assert!(
        store.get_credentials(ORG, "graph-test", &v1).is_err(),
        "a row copied from another opened"
    );

    // Rotation: k2 current, k1 previous; everything resealed under k2.
    store
        .put_credentials(ORG, "graph-test", &creds, &v1, None)
        .unwrap();
    let v2 = CredentialVault::new(VaultKey::new("k2", [7; 32]).unwrap())
        .with_previous_key(VaultKey::new("k1", [1; 32]).unwrap());
    assert_eq!(store.rotate_credentials(&v2).unwrap(), 2);
    assert_eq!(store.rotate_credentials(&v2).unwrap(), 0);
    let only_k2 = CredentialVault::new(VaultKey::new("k2", [7; 32]).unwrap());
    assert_eq!(
        store
            .get_credentials(ORG, "graph-prod", &only_k2)
            .unwrap()
            .unwrap()
            .secret_values(),
        vec![CANARY]
    );
    assert!(store.get_credentials(ORG, "graph-prod", &v1).is_err());
    assert!(store.delete_credentials(ORG, "graph-prod").unwrap());
    assert_eq!(
        store
            .get_credentials(ORG, "graph-prod", &only_k2)
            .unwrap()
            .map(|c| c.kind()),
        None
    );
}

#[tokio::test]
async fn progress_channel_and_configuration_errors() {
    let source = Arc::new(Source::new(3).with("apps", apps(4)));
    let (p, mut events) =
        pipeline(source.clone(), Arc::new(MemorySink::new()), opts()).progress_channel();
    let report = p.run().await.unwrap();
    drop(p);
    let mut stages = Vec::new();
    while let Some(event) = events.next().await {
        stages.push(event.stage);
    }
    assert_eq!(stages.first(), Some(&Stage::Starting));
    assert_eq!(stages.last(), Some(&Stage::Completed));
    assert_eq!(
        stages.iter().filter(|s| **s == Stage::Loading).count() as u64,
        report.entity("apps").unwrap().batches
    );

    // A connector without mappings and no entities named: a clear config error, nothing begun.
    let err = ImportPipeline::new(ORG, source.clone(), Arc::new(MemorySink::new()))
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("with_entities"), "{err}");
    assert!(err.report().rollback.is_none());

    // A stored checkpoint of another stream is refused, not misused.
    let sink = Arc::new(MemorySink::new());
    let state = Arc::new(MemoryStateStore::new());
    state
        .save(
            &StateKey::new(ORG, CONNECTOR, "apps"),
            &Checkpoint::in_progress("users", "3"),
        )
        .await
        .unwrap();
    let err = pipeline(
        source,
        Arc::new(Wrapped(NonTransactional(MemorySink::new()))),
        opts(),
    )
    .with_state_store(state)
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("belongs to stream `users`"),
        "{err}"
    );
    assert!(sink.is_empty());
}

/// A full re-read of unchanged data writes nothing on any sink: every sink gives
/// back exactly the record it stored (fields, relationships, timestamps, URL), so
/// the pipeline can tell an unchanged record from a changed one.
#[tokio::test]
async fn an_unchanged_re_read_is_skipped_and_a_change_is_updated_on_every_sink() {
    let at = connector_core::chrono::DateTime::parse_from_rfc3339("2026-05-01T10:00:00.123Z")
        .unwrap()
        .with_timezone(&connector_core::chrono::Utc);
    let rich = |i: usize, name: &str| {
        app(i)
            .with_field("name", json!(name))
            .with_field("nested", json!({"a": [1, 2.5, null, "x"], "b": true}))
            .with_updated_at(at)
            .with_created_at(at)
            .with_external_url(format!("https://example.com/apps/{i}"))
            .with_relationship(
                Relationship::new(
                    ("APP", format!("a{i:03}")),
                    RelationshipKind::DependsOn,
                    ("APP", "a000"),
                )
                .with_strength(75),
            )
    };
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let sink = AnySink::new(kind, dir.path());
        let first: Vec<Item> = (0..4).map(|i| Item::Record(rich(i, "same"))).collect();
        let run = |items: Vec<Item>| {
            let source = Arc::new(Source::new(2).with("apps", items));
            let sink = sink.sink();
            async move {
                pipeline(source, sink, opts().with_resume(false))
                    .run()
                    .await
            }
        };
        let report = run(first.clone()).await.unwrap();
        assert_eq!(report.totals.created, 4, "{kind:?}");
        let report = run(first).await.unwrap();
        assert_eq!(
            (report.totals.updated, report.totals.skipped),
            (0, 4),
            "{kind:?}"
        );
        let mut second: Vec<Item> = (0..4).map(|i| Item::Record(rich(i, "same"))).collect();
        second[2] = Item::Record(rich(2, "changed"));
        let report = run(second).await.unwrap();
        assert_eq!(
            (report.totals.updated, report.totals.skipped),
            (1, 3),
            "{kind:?}"
        );
    }
}

/// A memory sink whose writes finish only after the next lookup has been answered
/// (or after many polls, for the last batch), and which logs both: a lookup made
/// meanwhile sees the store without the batch being written.
struct SlowWrites {
    inner: MemorySink,
    lookups: AtomicUsize,
    log: Mutex<Vec<String>>,
}

impl SlowWrites {
    fn new() -> Self {
        Self {
            inner: MemorySink::new(),
            lookups: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// What the sink holds, by external id.
    fn stored(&self) -> BTreeMap<String, Record> {
        self.inner
            .records()
            .into_iter()
            .map(|(k, r)| (k.external_id, r))
            .collect()
    }

    fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

fn ids(keys: impl IntoIterator<Item = String>) -> String {
    keys.into_iter().collect::<Vec<_>>().join(",")
}

#[async_trait]
impl Hooks for SlowWrites {
    fn inner(&self) -> &dyn Sink {
        &self.inner
    }
    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        let found = self.inner.lookup(keys).await?;
        let seen = keys
            .iter()
            .zip(&found)
            .map(|(k, r)| format!("{}{}", k.external_id, if r.is_some() { "+" } else { "-" }));
        self.log(format!("lookup {}", ids(seen)));
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(found)
    }
    async fn write_batch(&self, batch: Batch) -> Result<()> {
        let written = ids(batch.writes.iter().map(|w| w.key.external_id.clone()));
        let before = self.lookups.load(Ordering::SeqCst);
        let mut polls = 0;
        std::future::poll_fn(|cx| {
            polls += 1;
            if self.lookups.load(Ordering::SeqCst) > before || polls > 50 {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
        self.log(format!("write {written}"));
        self.inner.write_batch(batch).await
    }
}

/// The next batch is looked up while the previous one is still being written;
/// what that lookup cannot have seen yet (keys the write stores) is asked again
/// once the write has landed, so dedupe decides on the stored state.
#[tokio::test]
async fn the_next_batch_is_looked_up_while_the_last_is_written_and_sees_it() {
    let changed = app(1).with_field("name", json!("App 1 v2"));
    let items = vec![
        Item::Record(app(0)),
        Item::Record(app(1)),
        Item::Record(app(2)),
        // The second batch: one unchanged, one changed, one new.
        Item::Record(app(0)),
        Item::Record(changed.clone()),
        Item::Record(app(3)),
    ];
    let sink = Arc::new(Wrapped(SlowWrites::new()));
    let source = Arc::new(Source::new(3).with("apps", items));
    let report = pipeline(source, sink.clone(), opts()).run().await.unwrap();

    let counts = report.entity("apps").unwrap().counts;
    assert_eq!(
        (counts.created, counts.updated, counts.skipped),
        (4, 1, 1),
        "{:?}",
        sink.log.lock().unwrap()
    );
    assert_eq!(
        *sink.log.lock().unwrap(),
        [
            "lookup a000-,a001-,a002-",
            // Batch 2 is looked up while batch 1 is written: it cannot see it...
            "lookup a000-,a001-,a003-",
            "write a000,a001,a002",
            // ...so the keys batch 1 wrote are asked again, after it landed.
            "lookup a000+,a001+",
            "write a001,a003",
        ]
    );
    let stored = sink.stored();
    assert_eq!(stored["a001"], changed);
    assert_eq!(stored.len(), 4);
}

/// A fatal error while a batch is still being written: the write is awaited and
/// counted, with its checkpoint, before the run fails.
#[tokio::test]
async fn a_batch_in_flight_when_the_stream_fails_is_awaited_and_counted() {
    let sink = Arc::new(Wrapped(SlowWrites::new()));
    let mut items = apps(3);
    items.push(Item::Fatal);
    let source = Arc::new(Source::new(3).with("apps", items));
    let err = pipeline(source, sink.clone(), opts())
        .run()
        .await
        .unwrap_err();
    let entity = err.report().entity("apps").unwrap();
    assert_eq!((entity.counts.created, entity.batches), (3, 1));
    assert_eq!(
        entity.checkpoint.as_ref().and_then(|c| c.cursor.as_deref()),
        Some("3")
    );
    assert_eq!(sink.inner.records().len(), 3);
    assert_eq!(
        *sink.log.lock().unwrap(),
        ["lookup a000-,a001-,a002-", "write a000,a001,a002"]
    );
}

/// Batches large enough for the SQLite store's own threads (and its lookup
/// connection): a batch that repeats the keys of the batch before it, still
/// being written when it is looked up, is deduped against what that batch
/// stored, in both commit modes and for every sink.
#[tokio::test]
async fn a_batch_repeating_the_one_before_it_is_deduped_against_it() {
    let v2 = |i: usize| app(i).with_field("name", json!(format!("App {i} v2")));
    let mut items: Vec<Item> = (0..100).map(|i| Item::Record(app(i))).collect();
    items.extend((0..100).map(|i| Item::Record(if i < 50 { app(i) } else { v2(i) })));
    items.extend((100..200).map(|i| Item::Record(app(i))));
    for mode in [CommitMode::PerBatch, CommitMode::Atomic] {
        for kind in KINDS {
            let dir = tempfile::tempdir().unwrap();
            let sink = AnySink::new(kind, dir.path());
            let source = Arc::new(Source::new(100).with("apps", items.clone()));
            let options = ImportOptions::new()
                .with_batch_size(100)
                .with_commit_mode(mode);
            let report = pipeline(source, sink.sink(), options).run().await.unwrap();
            let counts = report.entity("apps").unwrap().counts;
            assert_eq!(
                (counts.created, counts.updated, counts.skipped),
                (200, 50, 50),
                "{kind:?} {mode:?}"
            );
            assert_eq!(sink.contents("APP"), expected(&items), "{kind:?} {mode:?}");
        }
    }
}

/// A key the batch still being written deletes, arriving again in the next batch,
/// is a new record: the lookup that saw it stored is asked again.
#[tokio::test]
async fn a_record_deleted_by_the_batch_in_flight_comes_back_as_created() {
    let items = vec![
        Item::Record(app(0)),
        Item::Record(app(1)),
        Item::Record(app(2)),
        Item::Deletion(Deletion::new("APP", "a000")),
        Item::Record(app(5)),
        Item::Record(app(6)),
        Item::Record(app(0)),
        Item::Record(app(7)),
        Item::Record(app(8)),
    ];
    let sink = Arc::new(Wrapped(SlowWrites::new()));
    let source = Arc::new(Source::new(3).with("apps", items.clone()));
    let report = pipeline(source, sink.clone(), opts()).run().await.unwrap();
    let counts = report.entity("apps").unwrap().counts;
    assert_eq!(
        (
            counts.created,
            counts.deleted,
            counts.skipped,
            counts.updated
        ),
        (8, 1, 0, 0),
        "{:?}",
        sink.log.lock().unwrap()
    );
    let log = sink.log.lock().unwrap().clone();
    assert!(
        log.contains(&"lookup a000+,a007-,a008-".to_owned())
            && log.contains(&"lookup a000-".to_owned()),
        "the third batch was looked up while the deletion was in flight, then again: {log:?}"
    );
    let stored = sink.stored();
    assert_eq!(stored, expected(&items));
}
