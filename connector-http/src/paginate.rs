//! HTTP bindings of the pagination strategies of `connector-core`.
//!
//! [`RequestBuilder::paginate`] turns a request into a [`PaginatedRequest`]; each
//! page is that request with the strategy's parameters applied:
//!
//! - query parameters replace any of the same name; header parameters set the
//!   header; body parameters set a top-level field of the JSON body; GraphQL
//!   variables set `variables.<name>` of the JSON body;
//! - next URLs (body fields, `Link` headers) are followed **as given**, resolved
//!   against the URL of the page that returned them when relative, and refused
//!   with a [`Protocol`](connector_core::ErrorKind::Protocol) error when they leave
//!   the client's origin (see
//!   [`with_allowed_origin`](crate::HttpClientBuilder::with_allowed_origin));
//! - headers (`Link`, `x-total`, continuation tokens) and the envelope fields the
//!   strategy reads are fed back as signals.
//!
//! Items are decoded straight from the page body into `T` with a serde seed that
//! walks to the items path: no `serde_json::Value` per record, and only the
//! envelope fields the strategy names are kept. Every page goes through the
//! client: auth, retries, rate limits and classification apply per page.
//!
//! The stream ends when the cursor ends; a repeated cursor or next URL is a
//! `Protocol` error, not a loop. Offset and page-number strategies with a known
//! total can keep [`concurrency`](PaginatedRequest::concurrency) pages in flight,
//! yielding them in source order.
//!
//! Pages are read ahead by default: a tokio task fetches the next pages while the
//! consumer maps and stores the current one, and each page's items are decoded on
//! a task of their own while the following page is fetched (see
//! [`read_ahead`](PaginatedRequest::read_ahead)). Dropping the stream stops them.
//!
//! ```no_run
//! # async fn run(client: connector_http::HttpClient) -> connector_core::Result<()> {
//! use futures::TryStreamExt as _;
//! use connector_http::paginate::{Pagination, LinkHeaderPagination, Param};
//!
//! #[derive(serde::Deserialize)]
//! struct Issue { id: u64, title: String }
//!
//! // GitHub: a bare array per page, the next page in the `Link` header.
//! let mut pages = client
//!     .get("/repos/octocat/Hello-World/issues")
//!     .query(&[("state", "all")])
//!     .paginate(LinkHeaderPagination::new().with_page_size_param(Param::query("per_page")))
//!     .page_size(100)
//!     .pages::<Issue>();
//! while let Some(page) = pages.try_next().await? {
//!     for issue in page.items() { /* store it */ }
//!     // Checkpoint here: `page.resume_token()` restarts after this page.
//! }
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use connector_core::pagination::{FetchedPage, PageRequest, PageSignals, RequestParam};
use connector_core::{ConnectorError, Result};
use futures::FutureExt as _;
use futures::future;
use futures::stream::{self, BoxStream, StreamExt};
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny};
use serde_json::Value;
use url::Url;

use crate::client::{HttpClient, RequestBuilder};
use crate::decode::{
    DecodeItems, DecodeThenMap, DecodeWithSeed, Keep, decode_page_with, split_path,
};
use crate::response::decode_error;

pub use connector_core::pagination::{
    ContinuationPagination, CursorPagination, EndCondition, Flag, FlagMeaning,
    LinkHeaderPagination, Locator, NextUrlPagination, OffsetPagination, Page, PageNumberPagination,
    PaginateOptions, Pagination, Param, ParamLocation, RelayPagination,
};

/// A request to read page by page. Build it with [`RequestBuilder::paginate`],
/// set the items path and options, then take [`items`](Self::items),
/// [`items_at`](Self::items_at) or [`pages`](Self::pages).
///
/// Defaults: items at the root (the body is the array), the
/// [`PaginateOptions`] defaults (page size 100, one page in flight).
#[must_use]
#[derive(Debug)]
pub struct PaginatedRequest {
    request: RequestBuilder,
    strategy: Pagination,
    options: PaginateOptions,
    items_path: String,
}

impl RequestBuilder {
    /// Reads this request page by page with `strategy`.
    pub fn paginate(self, strategy: impl Into<Pagination>) -> PaginatedRequest {
        PaginatedRequest {
            request: self,
            strategy: strategy.into(),
            options: PaginateOptions::default(),
            items_path: String::new(),
        }
    }
}

impl PaginatedRequest {
    /// Replaces all the options.
    pub fn with_options(mut self, options: PaginateOptions) -> Self {
        self.options = options;
        self
    }

    /// Asks for `size` items per page (sent where the strategy names a page-size
    /// parameter).
    pub fn page_size(mut self, size: u32) -> Self {
        self.options = self.options.with_page_size(size);
        self
    }

    /// Starts after the page whose [`resume_token`](Page::resume_token) is `token`;
    /// `None` starts from the first page.
    pub fn resume_from(mut self, token: Option<String>) -> Self {
        self.options = self.options.with_resume_from(token);
        self
    }

    /// Applies a fetch's options: its page size (when set), the cursor of the
    /// checkpoint it resumes from, and its concurrency (when set). The page size
    /// set before stays the default.
    pub fn fetch_options(mut self, options: &connector_core::FetchOptions) -> Self {
        if let Some(size) = options.page_size {
            self = self.page_size(size);
        }
        if let Some(n) = options.concurrency {
            self = self.concurrency(n);
        }
        self.resume_from(options.resume_cursor().map(str::to_owned))
    }

    /// Keeps up to `n` pages in flight (offset and page-number strategies with a
    /// known total; others read one page at a time). Pages still come out in
    /// source order. Each page in flight is decoded on a tokio task of its own,
    /// so up to `n` pages are read ahead of the consumer and
    /// [`read_ahead`](Self::read_ahead) is not used; a read one page at a time
    /// reads ahead as `read_ahead` says. The responses are read on the pages'
    /// tasks when the consumer polls the stream outside a task (the thread that
    /// calls `block_on`), and in the consumer's task when it runs in one, so
    /// the pages do not park and wake the workers the consumer shares with them.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.options = self.options.with_concurrency(n);
        self
    }

    /// Fetches and decodes pages ahead of the consumer, on tokio tasks of their
    /// own, so the next page is on its way while the consumer works on the
    /// current one (default 2; `0` fetches a page only when asked for it; more
    /// than 1,024 reads 1,024 ahead).
    ///
    /// Reading one page at a time, up to `n + 1` pages are fetched ahead and
    /// decoded (or being decoded) when the consumer asks for the next: each page
    /// is first only scanned (its item count and the envelope fields the strategy
    /// reads), the next request goes out at once, and the items are decoded into
    /// `T` on a task of their own meanwhile, which hands the page straight to the
    /// consumer. The scan
    /// parses each page twice (about a fifth more CPU per page for typed items)
    /// and takes the decoding off the path from one request to the next. With
    /// several pages in flight ([`concurrency`](Self::concurrency) with a strategy
    /// that supports it), the pages in flight are the read-ahead: each is decoded
    /// once, on its own task, and `n` is not used.
    ///
    /// Dropping the stream stops the tasks; a consumer that stops after the first
    /// page has caused one request, one that stops later up to `n + 1` it did not
    /// use.
    pub fn read_ahead(mut self, n: usize) -> Self {
        self.options = self.options.with_read_ahead(n);
        self
    }

    /// Stops with a `Protocol` error after `max` pages.
    pub fn max_pages(mut self, max: u64) -> Self {
        self.options = self.options.with_max_pages(max);
        self
    }

    /// Reads items from the array at `path` (`value`, `data.items`,
    /// `"@odata.value"`); empty or `$` for a body that is the array itself.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.items_path = path.into();
        self
    }

    /// The items at `path` as JSON values.
    pub fn items_at(self, path: impl Into<String>) -> BoxStream<'static, Result<Value>> {
        self.at(path).items::<Value>()
    }

    /// The items, decoded straight into `T`.
    pub fn items<T: DeserializeOwned + Send + 'static>(self) -> BoxStream<'static, Result<T>> {
        self.pages::<T>()
            .flat_map(|page| match page {
                Ok(page) => stream::iter(page.into_items().into_iter().map(Ok)).left_stream(),
                Err(e) => stream::once(async move { Err(e) }).right_stream(),
            })
            .boxed()
    }

    /// The pages, each with its items decoded into `T` and its resume token.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> BoxStream<'static, Result<Page<T>>> {
        self.pages_with(|item: T| item)
    }

    /// The pages, each item decoded into `T` and then turned into a `U` by `map`
    /// on the task that decoded it: where pages are decoded off the consumer's
    /// task (read ahead, or several in flight), so is the mapping, and the
    /// consumer receives finished items. The usual `map` makes a record, so a
    /// connector's mapping runs alongside its sink's work instead of before it.
    ///
    /// `map` sees every item of every page in source order within a page; with
    /// several pages in flight, pages are mapped concurrently. Pages read ahead
    /// of a consumer that stops early have been mapped for nothing.
    ///
    /// ```no_run
    /// # async fn run(client: connector_http::HttpClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use connector_core::mapping::{EntityMapping, FieldPath, Mapper};
    /// use connector_core::{FetchOptions, Name, sync};
    /// use connector_http::paginate::{Locator, Pagination};
    /// use serde_json::Value;
    ///
    /// let options = FetchOptions::new();
    /// let mapping = EntityMapping::new("user", "USER", "Users", FieldPath::parse("id")?);
    /// let mapper = Mapper::new(&mapping)?.with_raw(options.include_raw);
    /// let connector = Name::from_static("example");
    /// let pages = client
    ///     .get("/users")
    ///     .paginate(Pagination::next_url(Locator::body("next")))
    ///     .at("items")
    ///     .pages_with(move |item: Value| mapper.map_owned(item, connector.clone()));
    /// let records = sync::records("users", pages, &options);
    /// # drop(records);
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages_with<T, U, F>(self, map: F) -> BoxStream<'static, Result<Page<U>>>
    where
        T: DeserializeOwned + Send + 'static,
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.pages_decoded(DecodeThenMap::new(map))
    }

    /// The pages, each item decoded by `seed` (as `(&seed).deserialize(..)`) on
    /// the task that decodes the page, as [`pages_with`](Self::pages_with) runs its
    /// function there.
    ///
    /// The seed reads each item's JSON itself, so nothing is built in between:
    /// with connector-core's [`RecordSeed`](connector_core::mapping::RecordSeed)
    /// (`mapper.record_seed(connector)`), an item becomes a record without first
    /// becoming a `serde_json::Value`, and the fields the mapping does not read
    /// are skipped rather than decoded. The records are those of
    /// `.pages_with(|item: Value| mapper.map_owned(item, connector))`.
    ///
    /// An item the seed cannot decode (malformed JSON, or a type the seed
    /// rejects) fails its page, as an item that does not fit `T` does in
    /// [`pages_with`](Self::pages_with).
    ///
    /// ```no_run
    /// # async fn run(client: connector_http::HttpClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use connector_core::mapping::{EntityMapping, FieldPath, Mapper};
    /// use connector_core::{FetchOptions, Name, sync};
    /// use connector_http::paginate::{Locator, Pagination};
    ///
    /// let options = FetchOptions::new();
    /// let mapping = EntityMapping::new("user", "USER", "Users", FieldPath::parse("id")?);
    /// let mapper = Mapper::new(&mapping)?.with_raw(options.include_raw);
    /// let pages = client
    ///     .get("/users")
    ///     .paginate(Pagination::next_url(Locator::body("next")))
    ///     .at("items")
    ///     .pages_with_seed(mapper.record_seed(Name::from_static("example")));
    /// let records = sync::records("users", pages, &options);
    /// # drop(records);
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages_with_seed<S, U>(self, seed: S) -> BoxStream<'static, Result<Page<U>>>
    where
        S: Send + Sync + 'static,
        U: Send + 'static,
        for<'a, 'de> &'a S: DeserializeSeed<'de, Value = U>,
    {
        self.pages_decoded(DecodeWithSeed::new(seed))
    }

    /// The pages, each item decoded by `items` on the task that decodes the page.
    fn pages_decoded<I: DecodeItems>(self, items: I) -> BoxStream<'static, Result<Page<I::Item>>> {
        let items = Arc::new(items);
        let keep = Arc::new(Keep::new(self.strategy.body_paths()));
        let items_path = Arc::new(split_path(&self.items_path));
        let last_url: Arc<Mutex<Option<Url>>> = Arc::new(Mutex::new(None));
        let template = self.request;
        let read_ahead = self.options.read_ahead;
        // With several pages in flight, each page is decoded on a task of its own
        // as soon as its response is in, so pages decode on as many worker threads
        // as the runtime has. Where the response is read depends on where the
        // consumer runs:
        // - on a thread of its own (the thread that calls `block_on`, or one
        //   outside the runtime), each page is fetched on its task too, so
        //   responses go from the connection's task to the page's on the
        //   workers, and only decoded pages reach the consumer's thread;
        // - in a task (as a service runs a sync), the consumer shares the
        //   workers with the pages, and each page on a task of its own would
        //   park and wake a worker per chunk of the response; the responses are
        //   read in the consumer's task instead, and only the decoding moves.
        // Those pages are the read-ahead: a task polling the stream for the
        // consumer would only add a hop (a wake-up on another thread) per page.
        let in_flight = self.options.concurrency > 1 && self.strategy.supports_concurrency();
        if in_flight || read_ahead == 0 {
            let fetch = move |page: PageRequest| {
                let template = template.clone();
                let keep = Arc::clone(&keep);
                let items_path = Arc::clone(&items_path);
                let last_url = Arc::clone(&last_url);
                let items = Arc::clone(&items);
                // Called where the consumer polls the stream: in a task, with
                // pages in flight, only the decoding moves.
                let decode_apart = in_flight && tokio::task::try_id().is_some();
                let work = async move {
                    let raw = fetch_raw(template, &page, &last_url).await?;
                    if decode_apart {
                        crate::read_ahead::spawn_now(async move {
                            raw.decode(&items_path, &keep, &*items)
                        })
                        .await
                    } else {
                        raw.decode(&items_path, &keep, &*items)
                    }
                };
                if in_flight && !decode_apart {
                    crate::read_ahead::on_own_task(work).left_future()
                } else {
                    work.right_future()
                }
            };
            return connector_core::pagination::paginate(self.strategy, self.options, fetch)
                .boxed();
        }
        // One page at a time, read ahead: the fetch only scans a page (its item
        // count and the envelope fields the strategy reads) so the next request
        // goes out at once, and the items are decoded into `T` on a task of their
        // own while the next page is on its way.
        let scan_items_path = Arc::clone(&items_path);
        let fetch = move |page: PageRequest| {
            let template = template.clone();
            let keep = Arc::clone(&keep);
            let items_path = Arc::clone(&scan_items_path);
            let last_url = Arc::clone(&last_url);
            async move {
                let raw = fetch_raw(template, &page, &last_url).await?;
                raw.scan(&items_path, &keep)
            }
        };
        let scanned =
            connector_core::pagination::paginate(self.strategy, self.options, fetch).boxed();
        let no_envelope = Arc::new(Keep::default());
        // Each scanned page starts decoding on a task of its own at once. The
        // read-ahead task passes the decodings on, in order (up to
        // `read_ahead + 1` of them wait), and the consumer awaits each: a decoded
        // page goes from its task straight to the consumer, not through the
        // read-ahead task (one wake-up on another thread less per page).
        let decodings = scanned.map(move |page: Result<Page<Scanned>>| {
            let page = match page {
                Ok(page) => page,
                Err(e) => return future::ready(Err(e)).boxed(),
            };
            let Some(Scanned::Body(raw)) = page.items().first().cloned() else {
                return future::ready(Ok(page.with_items(Vec::new()))).boxed();
            };
            let items_path = Arc::clone(&items_path);
            let no_envelope = Arc::clone(&no_envelope);
            let items = Arc::clone(&items);
            crate::read_ahead::spawn_now(async move {
                let items = raw.decode(&items_path, &no_envelope, &*items)?.items;
                Ok(page.with_items(items))
            })
        });
        let decoded =
            crate::read_ahead::read_ahead(decodings.boxed(), read_ahead.saturating_add(1))
                .then(|page| page);
        // Like the pages it scans, the stream ends after its first error: a page
        // that does not decode ends it even though later pages were scanned.
        let decoded = decoded.scan(false, |failed, page: Result<Page<I::Item>>| {
            let next = (!*failed).then(|| {
                *failed = page.is_err();
                page
            });
            future::ready(next)
        });
        decoded.boxed()
    }
}

/// One response of a paginated read, before its items are decoded.
struct RawPage {
    client: HttpClient,
    method: Method,
    status: StatusCode,
    /// The URL with secrets redacted, for error messages.
    url: String,
    headers: HeaderMap,
    body: Bytes,
    /// The page's position in the read.
    index: u64,
}

/// An item of a scanned page: the first holds the page's body, to be decoded
/// later; the others only count.
#[derive(Clone)]
enum Scanned {
    Body(Arc<RawPage>),
    Counted,
}

impl<'de> Deserialize<'de> for Scanned {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Scanned::Counted)
    }
}

async fn fetch_raw(
    template: RequestBuilder,
    page: &PageRequest,
    last_url: &Mutex<Option<Url>>,
) -> Result<RawPage> {
    let client = template.client().clone();
    let mut request = template;
    if let Some(next) = page.next_url() {
        let previous = last_url.lock().ok().and_then(|u| u.clone());
        let base = previous.or_else(|| request.url().cloned()).ok_or_else(|| {
            ConnectorError::config(
                "the paginated request has no valid URL to resolve the next link against",
            )
        })?;
        let url = base.join(next).map_err(|e| {
            client.decorate(
                ConnectorError::protocol(format!(
                    "the next-page URL `{}` is not a valid URL: {e}",
                    client.redact_url(next)
                )),
                None,
            )
        })?;
        client.check_origin(&url)?;
        request = request.with_url(url);
    } else {
        for param in page.params() {
            request = apply_param(request, param)?;
        }
    }
    let method = request.method().clone();
    let response = request.send().await?;
    if let Ok(mut guard) = last_url.lock() {
        *guard = Some(response.url().clone());
    }
    let headers = response.headers().clone();
    let status = response.status();
    let url = response.redacted_url();
    let body = response.bytes().await?;
    Ok(RawPage {
        client,
        method,
        status,
        url,
        headers,
        body,
        index: page.index(),
    })
}

impl RawPage {
    /// A body of only whitespace is a page without items or envelope.
    fn is_blank(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// Decodes the items by `items` and keeps the envelope fields `keep` names.
    fn decode<I: DecodeItems>(
        &self,
        items_path: &[String],
        keep: &Keep,
        items: &I,
    ) -> Result<FetchedPage<I::Item, HttpSignals>> {
        if self.is_blank() {
            return Ok(self.signals_only(Vec::new(), None));
        }
        let envelope = decode_page_with(&self.body, items_path, keep, items)
            .map_err(|e| self.decode_error(&e, items.item_type()))?;
        Ok(self.signals_only(envelope.items, envelope.rest))
    }

    /// Counts the items without decoding them and keeps the envelope fields `keep`
    /// names; the first item carries the page for [`decode`](Self::decode) later.
    /// A body that is not JSON fails here, one whose items do not fit the item
    /// type fails when it is decoded.
    fn scan(self, items_path: &[String], keep: &Keep) -> Result<FetchedPage<Scanned, HttpSignals>> {
        if self.is_blank() {
            return Ok(self.signals_only(Vec::new(), None));
        }
        let count = DecodeThenMap::new(|item: Scanned| item);
        let envelope = decode_page_with(&self.body, items_path, keep, &count)
            .map_err(|e| self.decode_error(&e, count.item_type()))?;
        let mut items = envelope.items;
        let headers = self.headers.clone();
        if let Some(first) = items.first_mut() {
            *first = Scanned::Body(Arc::new(self));
        }
        Ok(FetchedPage::new(
            items,
            HttpSignals {
                headers,
                body: envelope.rest,
            },
        ))
    }

    fn signals_only<T>(&self, items: Vec<T>, body: Option<Value>) -> FetchedPage<T, HttpSignals> {
        FetchedPage::new(
            items,
            HttpSignals {
                headers: self.headers.clone(),
                body,
            },
        )
    }

    fn decode_error(&self, e: &serde_json::Error, item_type: &str) -> ConnectorError {
        decode_error(&self.client, &e.to_string(), item_type, &self.body)
            .with_request(self.method.as_str(), &self.url)
            .with_http_status(self.status.as_u16())
            .with_context("page", self.index)
    }
}

fn apply_param(request: RequestBuilder, param: &RequestParam) -> Result<RequestBuilder> {
    Ok(match param.location {
        ParamLocation::Query => request.set_query(&param.name, &param.value.as_text()),
        ParamLocation::Header => request.header(&param.name, &param.value.as_text()),
        ParamLocation::Body => request.set_json_field(None, &param.name, param.value.to_json())?,
        ParamLocation::Variable => {
            request.set_json_field(Some("variables"), &param.name, param.value.to_json())?
        }
        other => {
            return Err(ConnectorError::unsupported(format!(
                "pagination parameter `{}` goes to a {other}, which the HTTP binding does not support",
                param.name
            )));
        }
    })
}

/// The headers and kept envelope of one page, as the strategy reads them.
#[derive(Debug)]
struct HttpSignals {
    headers: HeaderMap,
    body: Option<Value>,
}

impl PageSignals for HttpSignals {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }
}
