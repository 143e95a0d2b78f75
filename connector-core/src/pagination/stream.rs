//! Turning a page fetcher into a stream of pages.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::stream::{self, FuturesOrdered, Stream, StreamExt};

use super::request::{PageRequest, Target};
use super::signals::PageSignals;
use super::strategy::Pagination;
use crate::error::{ConnectorError, Result, clip, redact_url};

/// What a fetcher returns for one page: the decoded items and the signals the
/// strategy reads (headers, envelope).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedPage<T, S> {
    /// The items of the page, in source order.
    pub items: Vec<T>,
    /// The response signals.
    pub signals: S,
}

impl<T, S: PageSignals> FetchedPage<T, S> {
    /// A fetched page.
    pub fn new(items: Vec<T>, signals: S) -> Self {
        Self { items, signals }
    }
}

/// One page of a paginated read.
///
/// Save [`resume_token`](Page::resume_token) (for example in a
/// [`Checkpoint`](crate::Checkpoint)) once the page's items are safely stored:
/// a stream started from it with
/// [`PaginateOptions::with_resume_from`] yields exactly the pages after this one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    items: Vec<T>,
    index: u64,
    token: Option<String>,
    resume_token: Option<String>,
}

impl<T> Page<T> {
    /// The items, in source order.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Takes the items.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the page has no items (a page can be empty and not the last).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The page's position in this stream, from 0 (also when the stream started
    /// from a resume token).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The token that fetched this page: `None` for the first page of a fresh read.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The token of the next page: where to resume after this page. `None` on the
    /// last page.
    pub fn resume_token(&self) -> Option<&str> {
        self.resume_token.as_deref()
    }

    /// Whether this is the last page of the read.
    pub fn is_last(&self) -> bool {
        self.resume_token.is_none()
    }

    /// The same page (position and tokens) holding `items` instead: for a reader
    /// that decodes or converts a page's items in a later stage.
    ///
    /// ```
    /// # use connector_core::pagination::{paginate, FetchedPage, PaginateOptions, Pagination, Signals};
    /// # use futures::StreamExt;
    /// # use serde_json::json;
    /// let pages = paginate(Pagination::cursor("next"), PaginateOptions::new(), |_| async {
    ///     Ok(FetchedPage::new(vec!["1", "2"], Signals::from_body(json!({ "next": null }))))
    /// });
    /// let page = futures::executor::block_on(pages.collect::<Vec<_>>()).remove(0)?;
    /// let numbers: Vec<u32> = page.items().iter().map(|s| s.parse().unwrap()).collect();
    /// let page = page.with_items(numbers);
    /// assert_eq!(page.items(), &[1, 2]);
    /// assert!(page.is_last());
    /// # Ok::<(), connector_core::ConnectorError>(())
    /// ```
    pub fn with_items<U>(self, items: Vec<U>) -> Page<U> {
        Page {
            items,
            index: self.index,
            token: self.token,
            resume_token: self.resume_token,
        }
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// How [`paginate`] runs a strategy.
///
/// Defaults: start from the first page, page size [`DEFAULT_PAGE_SIZE`], at most
/// [`DEFAULT_MAX_PAGES`] pages, one page in flight, two pages read ahead.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaginateOptions {
    /// Start from this resume token instead of the first page.
    pub resume_from: Option<String>,
    /// The page size asked for, where the strategy sends one.
    pub page_size: u32,
    /// The most pages one stream fetches; going past it is a
    /// [`Protocol`](crate::ErrorKind::Protocol) error.
    pub max_pages: u64,
    /// The most pages in flight. Above 1 it applies to offset and page-number
    /// strategies once the first page reports the total (see
    /// [`Pagination::supports_concurrency`]); others fetch one page at a time.
    pub concurrency: usize,
    /// How many pages a transport that can run tasks (the HTTP binding in
    /// `connector-http`) fetches and decodes ahead of the consumer, on a task of
    /// their own, while the consumer works on the page it has. `0` fetches a page
    /// only when the consumer asks for it. [`paginate`] itself ignores it, and so
    /// does `connector-http` with several pages in flight (those pages are its
    /// read-ahead).
    pub read_ahead: usize,
}

/// The default page size: 100.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The default maximum number of pages per stream: 1,000,000.
pub const DEFAULT_MAX_PAGES: u64 = 1_000_000;

impl Default for PaginateOptions {
    fn default() -> Self {
        Self {
            resume_from: None,
            page_size: DEFAULT_PAGE_SIZE,
            max_pages: DEFAULT_MAX_PAGES,
            concurrency: 1,
            read_ahead: 2,
        }
    }
}

impl PaginateOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from `token` (a page's [`resume_token`](Page::resume_token), e.g.
    /// from a saved checkpoint's cursor); `None` starts from the first page.
    pub fn with_resume_from(mut self, token: Option<String>) -> Self {
        self.resume_from = token;
        self
    }

    /// Asks for `size` items per page. Keep it at most the server's maximum: a
    /// server that silently returns fewer would make a short-page strategy stop
    /// early.
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Fetches at most `max` pages.
    pub fn with_max_pages(mut self, max: u64) -> Self {
        self.max_pages = max;
        self
    }

    /// Keeps up to `n` pages in flight where the strategy allows it.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Lets a transport fetch up to `n` pages ahead of the consumer (see
    /// [`read_ahead`](Self::read_ahead)); `0` turns reading ahead off.
    pub fn with_read_ahead(mut self, n: usize) -> Self {
        self.read_ahead = n;
        self
    }
}

/// Turns an async page fetcher into a stream of pages.
///
/// For every page, `fetch` receives a [`PageRequest`] (what to ask for) and
/// returns the page's items and signals; `strategy` reads the signals to find the
/// next page. The stream:
///
/// - ends when the strategy says the read is over, not on an empty page unless
///   the strategy says so;
/// - yields a [`Protocol`](crate::ErrorKind::Protocol) error, after the page that
///   returned it, when a next token repeats an earlier one, or when more than
///   [`max_pages`](PaginateOptions::max_pages) pages would be fetched;
/// - yields [`Config`](crate::ErrorKind::Config) first when the strategy or the
///   options are invalid;
/// - ends after the first error (fetcher errors pass through unchanged);
/// - with [`concurrency`](PaginateOptions::concurrency) `n > 1` and a strategy
///   that [supports it](Pagination::supports_concurrency), keeps up to `n` page
///   fetches in flight once the first page reports the total, and still yields
///   pages in source order. A page in the middle that comes back shorter than the
///   first (the collection changed) is then a `Protocol` error rather than a gap.
///
/// A token that repeats one of the last 1,024 is caught at once. A longer loop
/// of `λ` pages that starts after `μ` pages is caught within `2(μ + λ) + λ`
/// pages (Brent's method: one earlier token, moved at powers of two, is
/// compared with each new one); the pages of the loop read until then are
/// yielded again. Only 64-bit hashes of tokens are kept, at most 1,025 of them,
/// so the guard's memory does not grow with the read.
///
/// It is `Send` when the fetcher, its future, the items and the signals are.
///
/// # Examples
///
/// ```
/// use connector_core::pagination::{paginate, FetchedPage, PaginateOptions, Pagination, Signals};
/// use futures::StreamExt;
/// use serde_json::json;
///
/// // An in-memory "server" of 7 items, paged by a cursor in the body.
/// let data: Vec<u32> = (0..7).collect();
/// let fetch = |req: connector_core::pagination::PageRequest| {
///     let data = data.clone();
///     async move {
///         let start: usize = req.cursor().map_or(Ok(0), str::parse).map_err(|_| {
///             connector_core::ConnectorError::protocol("bad cursor")
///         })?;
///         let end = (start + req.page_size() as usize).min(data.len());
///         let next = if end < data.len() { json!(end.to_string()) } else { json!(null) };
///         Ok(FetchedPage::new(data[start..end].to_vec(), Signals::from_body(json!({ "next_cursor": next }))))
///     }
/// };
///
/// let pages = paginate(
///     Pagination::cursor("next_cursor"),
///     PaginateOptions::new().with_page_size(3),
///     fetch,
/// );
/// let pages: Vec<_> = futures::executor::block_on(pages.collect());
/// let pages: Vec<_> = pages.into_iter().collect::<Result<_, _>>().unwrap();
/// assert_eq!(pages.len(), 3);
/// assert_eq!(pages[0].items(), &[0, 1, 2]);
/// assert_eq!(pages[0].resume_token(), Some("3"));
/// assert!(pages[2].is_last());
/// ```
pub fn paginate<T, S, F, Fut>(
    strategy: Pagination,
    options: PaginateOptions,
    fetch: F,
) -> impl Stream<Item = Result<Page<T>>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<FetchedPage<T, S>>>,
    S: PageSignals,
{
    let state = Runner::new(strategy, options, fetch);
    stream::unfold(state, |mut state| async move {
        let item = state.step().await?;
        Some((item, state))
    })
}

/// The plan of a concurrent read: the positions still to request.
struct Plan {
    /// The next position to request (offset or page number).
    next: u64,
    /// The position at which the read ends, exclusive.
    end: u64,
    /// How far apart positions are (items per page for offsets, 1 for pages).
    stride: u64,
    /// The item count every page but the last must have.
    full_page: usize,
}

struct Runner<F, Fut: Future> {
    strategy: Pagination,
    options: PaginateOptions,
    fetch: F,
    /// Detects a next-page token that comes back, with flat memory.
    seen: LoopGuard,
    /// Pages requested so far.
    requested: u64,
    /// The next request of a sequential read.
    next: Option<PageRequest>,
    /// A concurrent read's remaining plan and the requests in flight, in order.
    plan: Option<Plan>,
    in_flight: FuturesOrdered<Fut>,
    in_flight_requests: VecDeque<PageRequest>,
    /// An error to yield on the next poll (after the page that caused it).
    pending_error: Option<ConnectorError>,
    done: bool,
}

/// Remembers the tokens of a read to detect one that comes back: the hashes of
/// the last [`LoopGuard::RECENT`] exactly, and for longer loops one checkpoint
/// token that moves to the newest token after 1, 2, 4, 8, ... tokens (Brent's
/// cycle detection). Once a loop is under way the checkpoint lands in it, and
/// once the distance between moves exceeds the loop's length, the token comes
/// back to the checkpoint before it moves again.
#[derive(Default)]
struct LoopGuard {
    recent: HashSet<u64>,
    order: VecDeque<u64>,
    checkpoint: Option<u64>,
    /// Tokens since the checkpoint last moved.
    since_move: u64,
    /// Tokens between the checkpoint's last move and its next.
    next_move: u64,
}

impl LoopGuard {
    /// How many of the latest tokens are compared exactly.
    const RECENT: usize = 1024;

    /// Records a token's hash; false when it repeats one seen before.
    fn insert(&mut self, hash: u64) -> bool {
        if self.checkpoint == Some(hash) || self.recent.contains(&hash) {
            return false;
        }
        if self.order.len() == Self::RECENT
            && let Some(oldest) = self.order.pop_front()
        {
            self.recent.remove(&oldest);
        }
        self.order.push_back(hash);
        self.recent.insert(hash);
        self.since_move += 1;
        if self.since_move >= self.next_move {
            self.checkpoint = Some(hash);
            self.since_move = 0;
            self.next_move = (self.next_move * 2).max(1);
        }
        true
    }
}

fn token_hash(token: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}

impl<F, Fut, T, S> Runner<F, Fut>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<FetchedPage<T, S>>>,
    S: PageSignals,
{
    fn new(strategy: Pagination, options: PaginateOptions, fetch: F) -> Self {
        let mut runner = Self {
            strategy,
            options,
            fetch,
            seen: LoopGuard::default(),
            requested: 0,
            next: None,
            plan: None,
            in_flight: FuturesOrdered::new(),
            in_flight_requests: VecDeque::new(),
            pending_error: None,
            done: false,
        };
        match runner.first_request() {
            Ok(request) => runner.next = Some(request),
            Err(e) => runner.pending_error = Some(e),
        }
        runner
    }

    fn first_request(&mut self) -> Result<PageRequest> {
        self.strategy.validate()?;
        if self.options.max_pages == 0 {
            return Err(ConnectorError::config(
                "paginate: max_pages must be at least 1",
            ));
        }
        if self.options.concurrency == 0 {
            return Err(ConnectorError::config(
                "paginate: concurrency must be at least 1",
            ));
        }
        let token = self.options.resume_from.clone();
        if let Some(t) = &token {
            self.seen.insert(token_hash(t));
        }
        self.strategy
            .request(token.as_deref(), 0, self.options.page_size)
    }

    fn fail(&mut self, error: ConnectorError) -> Option<Result<Page<T>>> {
        self.done = true;
        self.next = None;
        self.plan = None;
        // Drop the fetches still in flight: nobody will read them.
        self.in_flight = FuturesOrdered::new();
        self.in_flight_requests.clear();
        Some(Err(error))
    }

    fn max_pages_error(&self) -> ConnectorError {
        ConnectorError::protocol(format!(
            "stopped after {} pages, the max_pages limit, while {} still had a next page; \
             raise PaginateOptions::max_pages if the collection really is this large",
            self.options.max_pages, self.strategy
        ))
        .with_context("strategy", self.strategy.name())
        .with_context("max_pages", self.options.max_pages)
    }

    async fn step(&mut self) -> Option<Result<Page<T>>> {
        if let Some(e) = self.pending_error.take() {
            return self.fail(e);
        }
        if self.done {
            return None;
        }
        if self.plan.is_some() {
            return self.step_concurrent().await;
        }
        let request = self.next.take()?;
        if self.requested >= self.options.max_pages {
            return self.fail(self.max_pages_error());
        }
        self.requested += 1;
        let fetched = match (self.fetch)(request.clone()).await {
            Ok(f) => f,
            Err(e) => return self.fail(e),
        };
        let advance = match self
            .strategy
            .advance(&request, fetched.items.len(), &fetched.signals)
        {
            Ok(a) => a,
            Err(e) => return self.fail(e),
        };
        drop(fetched.signals);
        let index = request.index;
        let page = Page {
            items: fetched.items,
            index,
            token: request.token,
            resume_token: advance.next.clone(),
        };
        let Some(next) = advance.next else {
            self.done = true;
            return Some(Ok(page));
        };
        if !self.seen.insert(token_hash(&next)) {
            self.pending_error = Some(self.repeat_error(&next, index));
            return Some(Ok(page));
        }
        match self
            .strategy
            .request(Some(&next), index + 1, self.options.page_size)
        {
            Ok(next_request) => {
                if self.options.concurrency > 1 {
                    self.plan = self.plan_from(&next_request, advance.end, page.items.len());
                }
                if self.plan.is_none() {
                    self.next = Some(next_request);
                }
            }
            Err(e) => self.pending_error = Some(e),
        }
        Some(Ok(page))
    }

    fn repeat_error(&self, token: &str, index: u64) -> ConnectorError {
        ConnectorError::protocol(format!(
            "the next-page token `{}` returned by page {index} repeats an earlier one, so the \
             read would loop forever ({})",
            clip(&redact_url(token), 64),
            self.strategy
        ))
        .with_context("strategy", self.strategy.name())
        .with_context("page", index)
    }

    /// A concurrent plan, when the strategy allows one and the first page told the
    /// end. `next` is the request after the first page.
    fn plan_from(&self, next: &PageRequest, end: Option<u64>, first_count: usize) -> Option<Plan> {
        let end = end?;
        if !self.strategy.supports_concurrency() || first_count == 0 {
            return None;
        }
        let (position, stride) = match next.target {
            Target::Offset(o) => (o, first_count as u64),
            Target::PageNumber(p) => (p, 1),
            _ => return None,
        };
        Some(Plan {
            next: position,
            end,
            stride,
            full_page: first_count,
        })
    }

    async fn step_concurrent(&mut self) -> Option<Result<Page<T>>> {
        // Fill the window, in source order.
        while self.in_flight.len() < self.options.concurrency {
            let Some(plan) = &self.plan else { break };
            let (position, stride) = (plan.next, plan.stride);
            if position >= plan.end || self.requested >= self.options.max_pages {
                break;
            }
            let request = match self.strategy.request(
                Some(&position.to_string()),
                self.requested,
                self.options.page_size,
            ) {
                Ok(r) => r,
                Err(e) => return self.fail(e),
            };
            if let Some(plan) = &mut self.plan {
                plan.next = position.saturating_add(stride);
            }
            self.requested += 1;
            self.in_flight.push_back((self.fetch)(request.clone()));
            self.in_flight_requests.push_back(request);
        }
        let (plan_next, plan_end, full_page) = match &self.plan {
            Some(plan) => (plan.next, plan.end, plan.full_page),
            None => return None,
        };
        if self.in_flight.is_empty() {
            // Nothing could be sent: the only reason is the page limit.
            if plan_next < plan_end {
                return self.fail(self.max_pages_error());
            }
            self.done = true;
            return None;
        }
        let result = self.in_flight.next().await?;
        let request = self.in_flight_requests.pop_front()?;
        let fetched = match result {
            Ok(f) => f,
            Err(e) => return self.fail(e),
        };
        let following = match self.in_flight_requests.front() {
            Some(r) => r.token.clone(),
            None => (plan_next < plan_end).then(|| plan_next.to_string()),
        };
        if following.is_some() && fetched.items.len() < full_page {
            let what = match request.target {
                Target::Offset(o) => format!("offset {o}"),
                Target::PageNumber(p) => format!("page number {p}"),
                _ => String::from("a planned position"),
            };
            let error = ConnectorError::protocol(format!(
                "page {} ({what}) returned {} items where {full_page} were expected, so the \
                 collection changed during a concurrent read ({}); resume from the previous \
                 page's token, or read with concurrency 1",
                request.index,
                fetched.items.len(),
                self.strategy
            ))
            .with_context("strategy", self.strategy.name())
            .with_context("page", request.index);
            return self.fail(error);
        }
        if following.is_none() {
            self.done = true;
        }
        Some(Ok(Page {
            items: fetched.items,
            index: request.index,
            token: request.token,
            resume_token: following,
        }))
    }
}

#[cfg(test)]
mod loop_guard_tests {
    use super::LoopGuard;

    /// How many tokens of `tokens` the guard accepts before one repeats.
    fn accepted(tokens: impl Iterator<Item = u64>) -> usize {
        let mut guard = LoopGuard::default();
        tokens.take_while(|t| guard.insert(*t)).count()
    }

    #[test]
    fn a_token_from_the_last_thousand_is_caught_at_once() {
        assert_eq!(accepted([1, 2, 1].into_iter()), 2);
        assert_eq!(accepted([7, 7].into_iter()), 1);
        // A loop of 1,000 tokens after a run-up of 5,000.
        let tokens = (0..5000).chain((5000..6000).cycle());
        assert_eq!(accepted(tokens), 6000);
    }

    #[test]
    fn a_longer_loop_is_caught_within_twice_its_start_and_length_plus_a_turn() {
        for (run_up, length) in [
            (0u64, 5000u64),
            (3000, 1500),
            (100_000, 30_000),
            (1, 65_537),
        ] {
            let tokens = (0..run_up).chain((run_up..run_up + length).cycle());
            let n = accepted(tokens) as u64;
            assert!(
                n >= run_up + length,
                "{run_up} + {length}: stopped early at {n}"
            );
            assert!(
                n <= 2 * (run_up + length) + length,
                "{run_up} + {length}: caught only after {n}"
            );
        }
    }

    #[test]
    fn memory_stays_flat_over_a_long_read() {
        let mut guard = LoopGuard::default();
        for t in 0..200_000u64 {
            assert!(guard.insert(t.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        }
        assert_eq!(guard.order.len(), LoopGuard::RECENT);
        assert_eq!(guard.recent.len(), LoopGuard::RECENT);
    }
}
