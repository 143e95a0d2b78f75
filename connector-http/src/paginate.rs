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
//! Pages are read ahead by default: a tokio task fetches and decodes the next two
//! pages while the consumer maps and stores the current one (see
//! [`read_ahead`](PaginatedRequest::read_ahead)). Dropping the stream stops it.
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

use connector_core::pagination::{FetchedPage, PageRequest, PageSignals, RequestParam};
use connector_core::{ConnectorError, Result};
use futures::FutureExt as _;
use futures::stream::{self, BoxStream, StreamExt};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::client::RequestBuilder;
use crate::decode::{Keep, decode_page, split_path};
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
    /// source order.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.options = self.options.with_concurrency(n);
        self
    }

    /// Fetches and decodes up to `n` pages ahead of the consumer, on a tokio task
    /// of their own, so the next page is on its way while the consumer works on
    /// the current one (default 2; `0` fetches a page only when asked for it).
    /// Dropping the stream stops the task; a consumer that stops early has caused
    /// up to `n` requests it did not use.
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
        let keep = Arc::new(Keep::new(self.strategy.body_paths()));
        let items_path = Arc::new(split_path(&self.items_path));
        let last_url: Arc<Mutex<Option<Url>>> = Arc::new(Mutex::new(None));
        let template = self.request;
        // With several pages in flight, each is fetched and decoded on a task of
        // its own, so pages decode on as many worker threads as the runtime has.
        let own_task = self.options.concurrency > 1;
        let fetch = move |page: PageRequest| {
            let template = template.clone();
            let keep = Arc::clone(&keep);
            let items_path = Arc::clone(&items_path);
            let last_url = Arc::clone(&last_url);
            let work =
                async move { fetch_page::<T>(template, page, &items_path, &keep, &last_url).await };
            if own_task {
                crate::read_ahead::on_own_task(work).left_future()
            } else {
                work.right_future()
            }
        };
        let read_ahead = self.options.read_ahead;
        let pages =
            connector_core::pagination::paginate(self.strategy, self.options, fetch).boxed();
        crate::read_ahead::read_ahead(pages, read_ahead)
    }
}

async fn fetch_page<T: DeserializeOwned>(
    template: RequestBuilder,
    page: PageRequest,
    items_path: &[String],
    keep: &Keep,
    last_url: &Mutex<Option<Url>>,
) -> Result<FetchedPage<T, HttpSignals>> {
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
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(FetchedPage::new(
            Vec::new(),
            HttpSignals {
                headers,
                body: None,
            },
        ));
    }
    let envelope = decode_page::<T>(&body, items_path, keep).map_err(|e| {
        decode_error(&client, &e.to_string(), std::any::type_name::<T>(), &body)
            .with_request(method.as_str(), &url)
            .with_http_status(status.as_u16())
            .with_context("page", page.index())
    })?;
    Ok(FetchedPage::new(
        envelope.items,
        HttpSignals {
            headers,
            body: envelope.rest,
        },
    ))
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
