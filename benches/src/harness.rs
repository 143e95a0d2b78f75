//! The contenders of the whole-sync benchmarks: the hand-written reqwest +
//! serde_json floor, and the SDK's paths (paginate yielding `Value`s, paginate +
//! dynamic `Mapper`, derived mapping over `Value`s, typed decoding + derived
//! mapping), a connector built on them, the import pipeline into SQLite and a
//! counting sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use connector_core::mapping::TypedMapping;
use connector_core::pipeline::{ImportOptions, ImportPipeline};
use connector_core::sink::{Batch, RelationshipReport, RollbackOutcome, RunScope, SinkInfo};
use connector_core::{
    Capabilities, Category, ConnectorError, ConnectorMetadata, Discovery, EntityMapping,
    FetchOptions, MemoryStateStore, Record, RecordKey, Result, Sink, SqliteStore, SyncItem,
    SyncStream, TestResult, UniversalConnector, async_trait, sync,
};
use connector_http::HttpClient;
use connector_http::paginate::{
    EndCondition, Locator, OffsetPagination, PaginatedRequest, Pagination,
};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::data::PAGE_SIZE;
use crate::model::Issue;

/// How the source pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The next page's absolute URL in the body (`"next"`).
    NextUrl,
    /// `offset`/`limit` query parameters and a `total` in the body.
    Offset,
}

impl Style {
    /// Parses `next` or `offset`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Style::NextUrl),
            "offset" => Some(Style::Offset),
            _ => None,
        }
    }

    /// `next` or `offset`.
    pub fn name(self) -> &'static str {
        match self {
            Style::NextUrl => "next",
            Style::Offset => "offset",
        }
    }
}

/// How the benchmark connector maps items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each item decoded straight into a record by the dynamic `Mapper`'s
    /// `RecordSeed` (`pages_with_seed`).
    Dynamic,
    /// Each item decoded into a `Value`, then the dynamic `Mapper`'s `map_owned`
    /// (`pages_with`): what `Dynamic` did before `RecordSeed`.
    DynamicValue,
    /// Pages of `Value` through the derived conversion (`sync::typed`).
    DerivedFromValue,
    /// Pages decoded straight into [`Issue`], then `into_record`
    /// (`sync::checkpointed`).
    Typed,
}

/// The request every SDK contender reads: the issues in `style`, 100 per page,
/// `concurrency` pages in flight.
pub fn sdk_request(client: &HttpClient, style: Style, concurrency: usize) -> PaginatedRequest {
    let (path, strategy): (&str, Pagination) = match style {
        Style::NextUrl => ("/next/issues", Pagination::next_url(Locator::body("next"))),
        Style::Offset => (
            "/offset/issues",
            OffsetPagination::default()
                .with_end(EndCondition::Total(Locator::body("total")))
                .into(),
        ),
    };
    client
        .get(path)
        .paginate(strategy)
        .page_size(PAGE_SIZE as u32)
        .concurrency(concurrency)
        .at("items")
}

/// A connector over the benchmark server: one entity, `issues`, mapped per
/// [`Mode`].
pub struct BenchConnector {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    client: HttpClient,
    style: Style,
    mode: Mode,
    concurrency: usize,
}

impl BenchConnector {
    /// A connector reading from `base_url`.
    ///
    /// # Errors
    ///
    /// When the client cannot be built.
    pub fn new(base_url: &str, style: Style, mode: Mode, concurrency: usize) -> Result<Self> {
        let client = HttpClient::builder(base_url)
            .with_connector("bench")
            .build()?;
        Ok(Self {
            meta: ConnectorMetadata::new("bench", "Bench", "Bench", Category::DevelopmentDevops)
                .with_capabilities(Capabilities::import()),
            mappings: vec![Issue::entity_mapping().clone()],
            client,
            style,
            mode,
            concurrency,
        })
    }
}

#[async_trait]
impl UniversalConnector for BenchConnector {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        TestResult::from_result(&self.client.get("/ping").send().await, "connected")
    }

    async fn discover(&self) -> Result<Discovery> {
        Ok(Discovery::from_mappings(&self.mappings))
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        if let Err(e) = self.mapping_for(entity) {
            return sync::failed(e);
        }
        let request =
            sdk_request(&self.client, self.style, self.concurrency).fetch_options(&options);
        // Each page is mapped on the task that decoded it (`pages_with`), and
        // `sync::records` adds the checkpoints.
        let connector = crate::micro::CONNECTOR;
        let pages = match self.mode {
            Mode::Dynamic => match Issue::mapper() {
                Ok(mapper) => {
                    let mapper = mapper.with_raw(options.include_raw);
                    request.pages_with_seed(mapper.record_seed(connector))
                }
                Err(e) => return sync::failed(e),
            },
            Mode::DynamicValue => match Issue::mapper() {
                Ok(mapper) => {
                    let mapper = mapper.with_raw(options.include_raw);
                    request.pages_with(move |raw: Value| mapper.map_owned(raw, connector.clone()))
                }
                Err(e) => return sync::failed(e),
            },
            Mode::DerivedFromValue => request
                .pages_with(move |raw: Value| Issue::map_source(&raw, connector.clone()).map(Some)),
            Mode::Typed => request
                .pages_with(move |issue: Issue| issue.into_record(connector.clone()).map(Some)),
        };
        sync::records("issues", pages, &options)
    }
}

/// Reads every record of `connector`'s `issues` and drops it; returns the count.
///
/// # Errors
///
/// The first error of the stream.
pub async fn count_fetch(connector: &BenchConnector) -> Result<u64> {
    let mut n = 0;
    let mut items = connector.fetch("issues", FetchOptions::new());
    while let Some(item) = items.try_next().await? {
        if matches!(item, SyncItem::Record(_)) {
            n += 1;
        }
    }
    Ok(n)
}

/// SDK paginate yielding `Value` items, counted.
///
/// # Errors
///
/// The first error of the stream.
pub async fn count_values(base_url: &str, style: Style, concurrency: usize) -> Result<u64> {
    count_items::<Value>(base_url, style, concurrency).await
}

/// SDK paginate yielding items decoded as `T` (no records built), counted: with
/// `T` = [`Issue`], the same work as the typed floor, so the ratio is the
/// pagination machinery's own cost.
///
/// # Errors
///
/// The first error of the stream.
pub async fn count_items<T: DeserializeOwned + Send + 'static>(
    base_url: &str,
    style: Style,
    concurrency: usize,
) -> Result<u64> {
    let client = HttpClient::builder(base_url).build()?;
    let mut items = sdk_request(&client, style, concurrency).items::<T>();
    let mut n = 0;
    while let Some(item) = items.try_next().await? {
        drop(item);
        n += 1;
    }
    Ok(n)
}

/// A sink that counts what it is given and keeps nothing.
#[derive(Debug, Default)]
pub struct CountingSink {
    records: AtomicU64,
}

impl CountingSink {
    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Sink for CountingSink {
    fn info(&self) -> SinkInfo {
        SinkInfo::new("counting", false, false)
    }

    async fn begin(&self, _scope: &RunScope) -> Result<()> {
        Ok(())
    }

    async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>> {
        Ok(vec![None; keys.len()])
    }

    async fn write_batch(&self, batch: Batch) -> Result<()> {
        self.records
            .fetch_add(batch.writes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn resolve_relationships(
        &self,
        _scope: &RunScope,
        _sample_limit: usize,
    ) -> Result<RelationshipReport> {
        Ok(RelationshipReport::default())
    }

    async fn commit(&self) -> Result<()> {
        Ok(())
    }

    async fn rollback(&self) -> Result<RollbackOutcome> {
        Ok(RollbackOutcome::Kept)
    }
}

/// Imports `connector`'s issues into `sink` through the import pipeline; returns
/// the records written.
///
/// # Errors
///
/// When the import fails.
pub async fn import(
    connector: BenchConnector,
    sink: Arc<dyn Sink>,
    with_state: bool,
) -> Result<u64> {
    let mut pipeline = ImportPipeline::new("bench-org", Arc::new(connector), sink)
        .with_entities(["issues"])
        .with_options(ImportOptions::new());
    if with_state {
        pipeline = pipeline.with_state_store(Arc::new(MemoryStateStore::new()));
    }
    let report = pipeline.run().await.map_err(|e| e.into_parts().0)?;
    Ok(report.totals.created + report.totals.updated)
}

/// Opens a fresh SQLite store in `dir`.
///
/// # Errors
///
/// When the database cannot be created.
pub fn sqlite_in(dir: &std::path::Path) -> Result<Arc<SqliteStore>> {
    Ok(Arc::new(SqliteStore::open(dir.join("bench.sqlite"))?))
}

// ---- The hand-written floor. -----------------------------------------------

#[derive(Deserialize)]
struct NextPage<T> {
    items: Vec<T>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct OffsetPage<T> {
    total: u64,
    items: Vec<T>,
}

fn floor_err(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::decode(format!("floor: {e}"))
}

/// A plain reqwest client, as a hand-written loop would build it.
///
/// # Errors
///
/// When reqwest cannot build a client.
pub fn floor_client() -> Result<reqwest::Client> {
    connector_http::tls::ensure_crypto_provider();
    reqwest::Client::builder().build().map_err(floor_err)
}

async fn get_page<P: DeserializeOwned>(client: &reqwest::Client, url: &str) -> Result<P> {
    let body = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(floor_err)?
        .bytes()
        .await
        .map_err(floor_err)?;
    serde_json::from_slice(&body).map_err(floor_err)
}

/// The floor: a hand-written reqwest + serde_json loop decoding each page into
/// `Vec<T>`, `concurrency` pages in flight for the offset style (after the first
/// page tells the total). Returns the number of items.
///
/// # Errors
///
/// On any HTTP or decode error.
pub async fn floor<T: DeserializeOwned + Send + 'static>(
    base_url: &str,
    style: Style,
    concurrency: usize,
) -> Result<u64> {
    let client = floor_client()?;
    let mut n = 0u64;
    match style {
        Style::NextUrl => {
            let mut url = format!("{base_url}/next/issues?page=1");
            loop {
                let page: NextPage<T> = get_page(&client, &url).await?;
                n += page.items.len() as u64;
                match page.next {
                    Some(next) => url = next,
                    None => break,
                }
            }
        }
        Style::Offset => {
            let url =
                |offset: u64| format!("{base_url}/offset/issues?offset={offset}&limit={PAGE_SIZE}");
            let first: OffsetPage<T> = get_page(&client, &url(0)).await?;
            n += first.items.len() as u64;
            let total = first.total;
            let offsets = (PAGE_SIZE as u64..total).step_by(PAGE_SIZE);
            let mut pages = stream::iter(offsets)
                .map(|offset| {
                    let client = client.clone();
                    let url = url(offset);
                    async move { get_page::<OffsetPage<T>>(&client, &url).await }
                })
                .buffered(concurrency.max(1));
            while let Some(page) = pages.next().await {
                n += page?.items.len() as u64;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Catalog, Server};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_contender_reads_every_record() {
        let server = Server::start(Catalog::new(300, 3));
        let base = server.base_url();
        for style in [Style::NextUrl, Style::Offset] {
            assert_eq!(floor::<Issue>(&base, style, 2).await.ok(), Some(300));
            assert_eq!(floor::<Value>(&base, style, 1).await.ok(), Some(300));
            assert_eq!(count_values(&base, style, 1).await.ok(), Some(300));
            assert_eq!(count_items::<Issue>(&base, style, 2).await.ok(), Some(300));
            for mode in [
                Mode::Dynamic,
                Mode::DynamicValue,
                Mode::DerivedFromValue,
                Mode::Typed,
            ] {
                let c = BenchConnector::new(&base, style, mode, 2).expect("a connector");
                assert_eq!(count_fetch(&c).await.ok(), Some(300), "{style:?} {mode:?}");
            }
        }
        let c = BenchConnector::new(&base, Style::Offset, Mode::Typed, 1).expect("a connector");
        let sink = Arc::new(CountingSink::default());
        assert_eq!(import(c, sink.clone(), true).await.ok(), Some(300));
        assert_eq!(sink.records(), 300);
        let dir = tempfile::tempdir().expect("a directory");
        let c = BenchConnector::new(&base, Style::NextUrl, Mode::Typed, 1).expect("a connector");
        let store = sqlite_in(dir.path()).expect("a store");
        assert_eq!(import(c, store, false).await.ok(), Some(300));
    }
}
