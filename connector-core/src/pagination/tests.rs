//! Stream tests: in-memory fake servers in every style, property tests over
//! totals and page sizes, resumption, loop and runaway guards, concurrency.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::StreamExt;
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::error::{ConnectorError, ErrorKind, Result};

/// Returns `Pending` `n` times (waking itself) before completing, so fetches
/// overlap and finish out of order.
struct YieldN(u32);

impl Future for YieldN {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Every server style the fake speaks, one per strategy configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Slack: `response_metadata.next_cursor`, `""` at the end, empty pages
    /// mid-list with a live cursor.
    SlackCursor,
    /// Stripe-like: `has_more` plus a cursor sent as a body field; the last page
    /// still carries a cursor, and the flag wins.
    HasMoreCursor,
    /// Microsoft Graph `@odata.nextLink` (absolute URL, `$top` on the first call).
    ODataNextLink,
    /// A next URL in a response header.
    HeaderNextUrl,
    /// RFC 8288 Link with relative URLs and several header values.
    LinkHeader,
    /// Offset/limit ending on a short page.
    OffsetShortPage,
    /// ServiceNow-like offset with a total in the body.
    OffsetTotalBody,
    /// Jira-like `start`/`limit` ending on `isLastPage`.
    OffsetIsLast,
    /// Offset with `X-Total-Count`.
    OffsetTotalHeader,
    /// GitHub-like `page` from 1 ending on a short page.
    PageFrom1ShortPage,
    /// Page numbers from 0 ending on an empty page.
    PageFrom0EmptyPage,
    /// Page numbers with `total_pages` in the body.
    PageTotalPages,
    /// Page numbers with `x-total` (items) in a header.
    PageTotalHeader,
    /// Azure DevOps: `x-ms-continuationtoken` sent back as `continuationToken`.
    ContinuationToQuery,
    /// A continuation header sent back as the same header.
    ContinuationToHeader,
    /// GraphQL relay.
    Relay,
}

const ALL_STYLES: &[Style] = &[
    Style::SlackCursor,
    Style::HasMoreCursor,
    Style::ODataNextLink,
    Style::HeaderNextUrl,
    Style::LinkHeader,
    Style::OffsetShortPage,
    Style::OffsetTotalBody,
    Style::OffsetIsLast,
    Style::OffsetTotalHeader,
    Style::PageFrom1ShortPage,
    Style::PageFrom0EmptyPage,
    Style::PageTotalPages,
    Style::PageTotalHeader,
    Style::ContinuationToQuery,
    Style::ContinuationToHeader,
    Style::Relay,
];

const CONCURRENT_STYLES: &[Style] = &[
    Style::OffsetTotalBody,
    Style::OffsetTotalHeader,
    Style::PageTotalPages,
    Style::PageTotalHeader,
];

impl Style {
    fn strategy(self) -> Pagination {
        match self {
            Style::SlackCursor => CursorPagination::new("response_metadata.next_cursor")
                .with_page_size_param(Param::query("limit"))
                .into(),
            Style::HasMoreCursor => CursorPagination::new("next")
                .with_has_more(Flag::has_more("has_more"))
                .with_token_param(Param::body("starting_after"))
                .with_page_size_param(Param::query("limit"))
                .into(),
            // Unquoted on purpose: the literal-key fallback finds it.
            Style::ODataNextLink => NextUrlPagination::new(Locator::body("@odata.nextLink"))
                .with_page_size_param(Param::query("$top"))
                .into(),
            Style::HeaderNextUrl => NextUrlPagination::new(Locator::header("x-next-page"))
                .with_page_size_param(Param::query("size"))
                .into(),
            Style::LinkHeader => LinkHeaderPagination::new()
                .with_page_size_param(Param::query("per_page"))
                .into(),
            Style::OffsetShortPage => Pagination::offset(),
            Style::OffsetTotalBody => OffsetPagination::new("sysparm_offset", "sysparm_limit")
                .with_end(EndCondition::Total(Locator::body("meta.total")))
                .into(),
            Style::OffsetIsLast => OffsetPagination::new("start", "limit")
                .with_end(EndCondition::Flag(Flag::is_last("isLastPage")))
                .into(),
            Style::OffsetTotalHeader => OffsetPagination::default()
                .with_end(EndCondition::Total(Locator::header("x-total-count")))
                .into(),
            Style::PageFrom1ShortPage => Pagination::page_number(),
            Style::PageFrom0EmptyPage => PageNumberPagination::new("pageNo", "pageSize")
                .with_first_page(0)
                .with_end(EndCondition::EmptyPage)
                .into(),
            Style::PageTotalPages => PageNumberPagination::default()
                .with_end(EndCondition::TotalPages(Locator::body("total_pages")))
                .into(),
            Style::PageTotalHeader => PageNumberPagination::default()
                .with_end(EndCondition::Total(Locator::header("x-total")))
                .into(),
            Style::ContinuationToQuery => ContinuationPagination::new("x-ms-continuationtoken")
                .with_token_param(Param::query("continuationToken"))
                .with_page_size_param(Param::query("$top"))
                .into(),
            Style::ContinuationToHeader => ContinuationPagination::new("x-continuation")
                .with_page_size_param(Param::header("x-page-size"))
                .into(),
            Style::Relay => Pagination::graphql_relay("data.repository.issues.pageInfo"),
        }
    }

    /// Whether the server may return fewer items than asked mid-list (real
    /// servers do; offset strategies must then advance by what was returned).
    fn may_be_stingy(self) -> bool {
        !matches!(
            self,
            Style::OffsetShortPage
                | Style::PageFrom1ShortPage
                | Style::PageFrom0EmptyPage
                | Style::PageTotalPages
                | Style::PageTotalHeader
        )
    }
}

/// An in-memory collection served in one style.
#[derive(Clone)]
struct Fake {
    style: Style,
    len: usize,
    stingy: bool,
}

/// The parameters of a request as a server sees them: the next URL's query plus
/// every param, keyed by (location, name).
fn received(req: &PageRequest) -> HashMap<(ParamLocation, String), String> {
    let mut map = HashMap::new();
    if let Some(url) = req.next_url() {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert((ParamLocation::Query, k.to_string()), v.to_string());
        }
    }
    for p in req.params() {
        map.insert((p.location, p.name.clone()), p.value.as_text().into_owned());
    }
    map
}

fn fake_error(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unexpected,
        format!("fake server: {}", msg.into()),
    )
}

impl Fake {
    fn new(style: Style, len: usize) -> Self {
        Self {
            style,
            len,
            stingy: style.may_be_stingy(),
        }
    }

    /// How many items to serve from `start` when `size` were asked for.
    fn count(&self, start: usize, size: usize, allow_empty: bool) -> usize {
        let n = if self.stingy && start % 7 == 3 {
            size / 2
        } else {
            size
        };
        let n = if allow_empty { n } else { n.max(1) };
        n.min(self.len.saturating_sub(start))
    }

    fn items(start: usize, n: usize) -> Vec<u32> {
        (start..start + n).map(|i| i as u32).collect()
    }

    fn respond(&self, req: &PageRequest) -> Result<FetchedPage<u32, Signals>> {
        let p = received(req);
        let q = |name: &str| p.get(&(ParamLocation::Query, name.to_string())).cloned();
        let at = |loc: ParamLocation, name: &str| p.get(&(loc, name.to_string())).cloned();
        let num = |v: Option<String>, what: &str| -> Result<usize> {
            v.ok_or_else(|| fake_error(format!("missing {what}")))?
                .parse::<usize>()
                .map_err(|_| fake_error(format!("bad {what}")))
        };
        let len = self.len;
        match self.style {
            Style::SlackCursor => {
                let asked = num(q("limit"), "limit")?;
                let cursor = q("cursor");
                let (start, empty_served) = match cursor.as_deref() {
                    None => (0, false),
                    Some(c) => match (c.strip_prefix("c"), c.strip_prefix("e")) {
                        (Some(n), _) => (num(Some(n.to_string()), "cursor")?, false),
                        (_, Some(n)) => (num(Some(n.to_string()), "cursor")?, true),
                        _ => return Err(fake_error("bad cursor")),
                    },
                };
                if !empty_served && start % 5 == 2 && start < len {
                    let body = json!({"ok": true, "members": [],
                        "response_metadata": {"next_cursor": format!("e{start}")}});
                    return Ok(FetchedPage::new(vec![], Signals::from_body(body)));
                }
                let n = self.count(start, asked, false);
                let end = start + n;
                let next = if end < len {
                    format!("c{end}")
                } else {
                    String::new()
                };
                let body = json!({"ok": true, "response_metadata": {"next_cursor": next}});
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
            Style::HasMoreCursor => {
                let asked = num(q("limit"), "limit")?;
                let start = match at(ParamLocation::Body, "starting_after") {
                    None => 0,
                    Some(last) => num(Some(last), "starting_after")? + 1,
                };
                let n = self.count(start, asked, false);
                let end = start + n;
                let last_id = if n == 0 { Value::Null } else { json!(end - 1) };
                let body = json!({"object": "list", "has_more": end < len, "next": last_id});
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
            Style::ODataNextLink => {
                let asked = num(q("$top"), "$top")?;
                let start = q("$skiptoken")
                    .map(|t| num(t.strip_prefix("S").map(str::to_string), "$skiptoken"))
                    .transpose()?
                    .unwrap_or(0);
                let n = self.count(start, asked, false);
                let end = start + n;
                let mut body =
                    json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users"});
                if end < len {
                    body["@odata.nextLink"] = json!(format!(
                        "https://graph.microsoft.com/v1.0/users?$top={asked}&$skiptoken=S{end}"
                    ));
                }
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
            Style::HeaderNextUrl => {
                let asked = num(q("size"), "size")?;
                let start = q("start")
                    .map(|s| num(Some(s), "start"))
                    .transpose()?
                    .unwrap_or(0);
                let n = self.count(start, asked, false);
                let end = start + n;
                let mut signals = Signals::new();
                if end < len {
                    signals = signals.with_header(
                        "X-Next-Page",
                        format!("https://api.example.com/items?start={end}&size={asked}"),
                    );
                }
                Ok(FetchedPage::new(Self::items(start, n), signals))
            }
            Style::LinkHeader => {
                let asked = num(q("per_page"), "per_page")?;
                let start = q("from")
                    .map(|s| num(Some(s), "from"))
                    .transpose()?
                    .unwrap_or(0);
                if req.next_url().is_some_and(|u| !u.starts_with('/')) {
                    return Err(fake_error("expected the relative URL as given"));
                }
                let n = self.count(start, asked, false);
                let end = start + n;
                let mut signals = Signals::new().with_header(
                    "Link",
                    format!("</items?from={start}&per_page={asked}>; rel=\"self\""),
                );
                if end < len {
                    let last_start = len - 1;
                    let value = if end == last_start {
                        format!("</items?from={end}&per_page={asked}>; rel=\"next last\"")
                    } else {
                        format!(
                            "</items?from={end}&per_page={asked}>;rel=next , \
                             </items?from={last_start}&per_page={asked}>; rel=\"last\""
                        )
                    };
                    signals = signals.with_header("link", value);
                }
                Ok(FetchedPage::new(Self::items(start, n), signals))
            }
            Style::OffsetShortPage | Style::OffsetTotalHeader => {
                let start = num(q("offset"), "offset")?;
                let asked = num(q("limit"), "limit")?;
                let n = self.count(start, asked, false);
                let signals = Signals::new().with_header("X-Total-Count", len.to_string());
                Ok(FetchedPage::new(Self::items(start, n), signals))
            }
            Style::OffsetTotalBody => {
                let start = num(q("sysparm_offset"), "sysparm_offset")?;
                let asked = num(q("sysparm_limit"), "sysparm_limit")?;
                let n = self.count(start, asked, false);
                let body = json!({"meta": {"total": len}});
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
            Style::OffsetIsLast => {
                let start = num(q("start"), "start")?;
                let asked = num(q("limit"), "limit")?;
                let n = self.count(start, asked, false);
                let body = json!({"start": start, "size": n, "isLastPage": start + n >= len});
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
            Style::PageFrom1ShortPage | Style::PageTotalPages | Style::PageTotalHeader => {
                let page = num(q("page"), "page")?;
                let per_page = num(q("per_page"), "per_page")?;
                if page == 0 {
                    return Err(fake_error("pages start at 1"));
                }
                let start = ((page - 1) * per_page).min(len);
                let n = self.count(start, per_page, false);
                let body = json!({"total_pages": len.div_ceil(per_page)});
                let signals = Signals::from_body(body).with_header("X-Total", len.to_string());
                Ok(FetchedPage::new(Self::items(start, n), signals))
            }
            Style::PageFrom0EmptyPage => {
                let page = num(q("pageNo"), "pageNo")?;
                let per_page = num(q("pageSize"), "pageSize")?;
                let start = (page * per_page).min(len);
                let n = self.count(start, per_page, false);
                Ok(FetchedPage::new(Self::items(start, n), Signals::new()))
            }
            Style::ContinuationToQuery | Style::ContinuationToHeader => {
                let (token, asked) = if self.style == Style::ContinuationToQuery {
                    (q("continuationToken"), num(q("$top"), "$top")?)
                } else {
                    (
                        at(ParamLocation::Header, "x-continuation"),
                        num(at(ParamLocation::Header, "x-page-size"), "x-page-size")?,
                    )
                };
                let start = token
                    .map(|t| num(t.strip_prefix("ct-").map(str::to_string), "token"))
                    .transpose()?
                    .unwrap_or(0);
                let n = self.count(start, asked, false);
                let end = start + n;
                let header = if self.style == Style::ContinuationToQuery {
                    "x-ms-continuationtoken"
                } else {
                    "X-Continuation"
                };
                let mut signals = Signals::new();
                if end < len {
                    signals = signals.with_header(header, format!("ct-{end}"));
                }
                Ok(FetchedPage::new(Self::items(start, n), signals))
            }
            Style::Relay => {
                let first = num(at(ParamLocation::Variable, "first"), "first")?;
                let start = at(ParamLocation::Variable, "after")
                    .map(|t| num(t.strip_prefix("Y3Vyc29y").map(str::to_string), "after"))
                    .transpose()?
                    .unwrap_or(0);
                let n = self.count(start, first, false);
                let end = start + n;
                let end_cursor = if n == 0 {
                    Value::Null
                } else {
                    json!(format!("Y3Vyc29y{end}"))
                };
                let body = json!({"data": {"repository": {"issues": {
                    "pageInfo": {"hasNextPage": end < len, "endCursor": end_cursor}
                }}}});
                Ok(FetchedPage::new(
                    Self::items(start, n),
                    Signals::from_body(body),
                ))
            }
        }
    }
}

fn run(fake: &Fake, options: PaginateOptions) -> Vec<Result<Page<u32>>> {
    let fake = fake.clone();
    let stream = paginate(fake.style.strategy(), options, move |req| {
        let response = fake.respond(&req);
        async move { response }
    });
    block_on(stream.collect())
}

fn run_ok(fake: &Fake, options: PaginateOptions) -> Vec<Page<u32>> {
    run(fake, options)
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .unwrap_or_else(|e| panic!("{:?} failed: {e}", fake.style))
}

fn flatten(pages: &[Page<u32>]) -> Vec<u32> {
    pages
        .iter()
        .flat_map(|p| p.items().iter().copied())
        .collect()
}

/// Checks the token chain: page i's resume token is page i+1's token, only the
/// last page has none, indexes count from 0.
fn check_chain(pages: &[Page<u32>], first_token: Option<&str>) {
    assert!(!pages.is_empty(), "a read yields at least one page");
    assert_eq!(pages[0].token(), first_token);
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.index(), i as u64);
        match pages.get(i + 1) {
            Some(next) => assert_eq!(page.resume_token(), next.token(), "page {i}"),
            None => assert!(page.is_last(), "the last page has no resume token"),
        }
    }
}

fn check_style(style: Style, total: usize, size: u32, concurrency: usize, picks: &[usize]) {
    let fake = Fake {
        stingy: style.may_be_stingy() && concurrency == 1,
        ..Fake::new(style, total)
    };
    let options = PaginateOptions::new()
        .with_page_size(size)
        .with_concurrency(concurrency);
    let pages = run_ok(&fake, options.clone());
    let expected: Vec<u32> = (0..total as u32).collect();
    assert_eq!(
        flatten(&pages),
        expected,
        "{style:?} total {total} size {size}"
    );
    check_chain(&pages, None);
    // Resume from every page when there are few, else from the picked ones.
    let ks: Vec<usize> = if pages.len() <= 24 {
        (0..pages.len()).collect()
    } else {
        picks
            .iter()
            .map(|p| p % pages.len())
            .chain([0, pages.len() - 1])
            .collect()
    };
    for k in ks {
        let Some(token) = pages[k].resume_token() else {
            continue;
        };
        let resumed = run_ok(
            &fake,
            options.clone().with_resume_from(Some(token.to_string())),
        );
        assert_eq!(
            flatten(&resumed),
            flatten(&pages[k + 1..]),
            "{style:?} total {total} size {size}: resumed after page {k}"
        );
        check_chain(&resumed, Some(token));
        let original: Vec<_> = pages[k + 1..].iter().map(|p| p.resume_token()).collect();
        let again: Vec<_> = resumed.iter().map(|p| p.resume_token()).collect();
        assert_eq!(original, again, "resume tokens are the same after resuming");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_strategy_yields_every_item_once_in_order_and_resumes(
        style in proptest::sample::select(ALL_STYLES),
        total in 0usize..500,
        size in 1u32..50,
        picks in proptest::collection::vec(any::<usize>(), 3),
    ) {
        check_style(style, total, size, 1, &picks);
    }

    #[test]
    fn concurrent_reads_yield_every_item_once_in_order_and_resume(
        style in proptest::sample::select(CONCURRENT_STYLES),
        total in 0usize..500,
        size in 1u32..50,
        concurrency in 2usize..6,
        picks in proptest::collection::vec(any::<usize>(), 3),
    ) {
        check_style(style, total, size, concurrency, &picks);
    }
}

#[test]
fn every_style_at_the_edges() {
    for &style in ALL_STYLES {
        for total in [0, 1, 2, 9, 10, 11, 99, 100, 101] {
            for size in [1, 3, 10, 100] {
                check_style(style, total, size, 1, &[]);
            }
        }
    }
}

/// A fetcher over a scripted list of (items, body) responses.
fn scripted(
    responses: Vec<(Vec<u32>, Value)>,
) -> impl FnMut(PageRequest) -> futures::future::Ready<Result<FetchedPage<u32, Value>>> {
    let mut responses = responses.into_iter();
    move |req| {
        futures::future::ready(match responses.next() {
            Some((items, body)) => Ok(FetchedPage::new(items, body)),
            None => Err(fake_error(format!(
                "no response scripted for page {}",
                req.index()
            ))),
        })
    }
}

fn collect<S: futures::Stream<Item = Result<Page<u32>>>>(s: S) -> Vec<Result<Page<u32>>> {
    block_on(s.collect())
}

#[test]
fn repeated_cursor_is_a_protocol_error_after_the_page() {
    let fetch = scripted(vec![
        (vec![1], json!({"next_cursor": "A"})),
        (vec![2], json!({"next_cursor": "B"})),
        (vec![3], json!({"next_cursor": "A"})),
        (vec![4], json!({"next_cursor": "C"})),
    ]);
    let out = collect(paginate(
        Pagination::cursor("next_cursor"),
        PaginateOptions::new(),
        fetch,
    ));
    assert_eq!(out.len(), 4, "three pages, then the error, then the end");
    assert_eq!(
        out[2].as_ref().map(|p| p.items().to_vec()).ok(),
        Some(vec![3])
    );
    let err = out[3]
        .as_ref()
        .err()
        .map(|e| (e.kind(), e.message().to_string()));
    let (kind, message) = err.unwrap_or((ErrorKind::Unexpected, String::new()));
    assert_eq!(kind, ErrorKind::Protocol);
    assert!(
        message.contains("`A` returned by page 2 repeats"),
        "{message}"
    );
    assert!(
        message.contains("cursor pagination"),
        "names the strategy: {message}"
    );
}

#[test]
fn a_cursor_equal_to_the_resume_token_is_a_repeat() {
    let fetch = scripted(vec![(vec![1], json!({"next_cursor": "X"}))]);
    let options = PaginateOptions::new().with_resume_from(Some("X".into()));
    let out = collect(paginate(Pagination::cursor("next_cursor"), options, fetch));
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], Err(e) if e.kind() == ErrorKind::Protocol));
}

#[test]
fn repeated_next_url_is_redacted_in_the_error() {
    let url = "https://h/items?page=2&access_token=s3cr3t";
    let fetch = scripted(vec![
        (vec![1], json!({ "next": url })),
        (vec![2], json!({ "next": url })),
    ]);
    let out = collect(paginate(
        Pagination::next_url(Locator::body("next")),
        PaginateOptions::new(),
        fetch,
    ));
    let message = out
        .last()
        .and_then(|r| r.as_ref().err())
        .map(|e| e.to_string());
    let message = message.unwrap_or_default();
    assert!(message.contains("access_token=REDACTED"), "{message}");
    assert!(!message.contains("s3cr3t"));
}

#[test]
fn max_pages_guard_is_a_protocol_error_naming_the_limit() {
    let mut n = 0u32;
    let endless = move |_req: PageRequest| {
        n += 1;
        futures::future::ready(Ok(FetchedPage::new(
            vec![n],
            json!({"next_cursor": n.to_string()}),
        )))
    };
    let options = PaginateOptions::new().with_max_pages(5);
    let out = collect(paginate(
        Pagination::cursor("next_cursor"),
        options,
        endless,
    ));
    assert_eq!(out.len(), 6);
    assert!(out[..5].iter().all(Result::is_ok));
    let message = out[5]
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(message.starts_with("protocol violation: stopped after 5 pages, the max_pages limit"));
    assert!(message.contains("max_pages: 5"), "{message}");

    // A read of exactly max_pages pages completes.
    let fake = Fake::new(Style::OffsetShortPage, 50);
    let pages = run_ok(
        &fake,
        PaginateOptions::new().with_page_size(10).with_max_pages(6),
    );
    assert_eq!(flatten(&pages).len(), 50);
}

#[test]
fn max_pages_guard_applies_to_concurrent_reads() {
    let fake = Fake {
        stingy: false,
        ..Fake::new(Style::OffsetTotalBody, 100)
    };
    let options = PaginateOptions::new()
        .with_page_size(10)
        .with_max_pages(4)
        .with_concurrency(3);
    let out = run(&fake, options);
    assert_eq!(out.len(), 5);
    let pages: Vec<_> = out[..4]
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .cloned()
        .collect();
    assert_eq!(flatten(&pages), (0..40).collect::<Vec<_>>());
    assert_eq!(pages[3].resume_token(), Some("40"));
    assert!(matches!(&out[4], Err(e) if e.kind() == ErrorKind::Protocol));
}

#[test]
fn empty_page_with_a_live_cursor_continues() {
    let fetch = scripted(vec![
        (vec![1, 2], json!({"next_cursor": "a"})),
        (vec![], json!({"next_cursor": "b"})),
        (vec![], json!({"next_cursor": "c"})),
        (vec![3], json!({"next_cursor": null})),
    ]);
    let out = collect(paginate(
        Pagination::cursor("next_cursor"),
        PaginateOptions::new(),
        fetch,
    ));
    let pages: Vec<_> = out.into_iter().collect::<Result<_>>().unwrap_or_default();
    assert_eq!(pages.len(), 4);
    assert_eq!(flatten(&pages), vec![1, 2, 3]);
    assert!(pages[1].is_empty() && !pages[1].is_last());
}

#[test]
fn end_on_empty_page_when_the_strategy_says_so() {
    let fetch = scripted(vec![
        (vec![1], json!({"next_cursor": "a"})),
        (vec![], json!({"next_cursor": "b"})),
    ]);
    let strategy = CursorPagination::new("next_cursor").with_end_on_empty_page(true);
    let out = collect(paginate(strategy.into(), PaginateOptions::new(), fetch));
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], Ok(p) if p.is_last()));
}

#[test]
fn more_flag_without_a_cursor_is_a_protocol_error() {
    let strategy = CursorPagination::new("next").with_has_more(Flag::has_more("has_more"));
    let fetch = scripted(vec![(vec![1], json!({"has_more": true}))]);
    let out = collect(paginate(strategy.into(), PaginateOptions::new(), fetch));
    assert!(matches!(&out[..], [Err(e)] if e.kind() == ErrorKind::Protocol));
}

#[test]
fn relay_signals_are_checked() {
    let relay = || Pagination::graphql_relay("data.search.pageInfo");
    let cases = [
        (
            json!({"data": {"search": {"pageInfo": {"hasNextPage": true}}}}),
            ErrorKind::Protocol,
        ),
        (json!({"data": {"search": null}}), ErrorKind::Decode),
        (
            json!({"data": {"search": {"pageInfo": {"endCursor": "x"}}}}),
            ErrorKind::Decode,
        ),
        (
            json!({"data": {"search": {"pageInfo": {"hasNextPage": "maybe"}}}}),
            ErrorKind::Decode,
        ),
    ];
    for (body, kind) in cases {
        let out = collect(paginate(
            relay(),
            PaginateOptions::new(),
            scripted(vec![(vec![1], body)]),
        ));
        assert!(matches!(&out[..], [Err(e)] if e.kind() == kind), "{out:?}");
    }
}

#[test]
fn string_flags_and_totals_are_read() {
    // ServiceNow sends everything as strings.
    let strategy = OffsetPagination::default()
        .with_end(EndCondition::Flag(Flag::is_last("isLast")))
        .into();
    let fetch = scripted(vec![
        (vec![1, 2], json!({"isLast": "false"})),
        (vec![3], json!({"isLast": "TRUE"})),
    ]);
    let out = collect(paginate(
        strategy,
        PaginateOptions::new().with_page_size(2),
        fetch,
    ));
    let pages: Vec<_> = out.into_iter().collect::<Result<_>>().unwrap_or_default();
    assert_eq!(flatten(&pages), vec![1, 2, 3]);

    let strategy: Pagination = OffsetPagination::default()
        .with_end(EndCondition::Total(Locator::body("total")))
        .into();
    let fetch = scripted(vec![
        (vec![1, 2], json!({"total": "3"})),
        (vec![3], json!({"total": "3"})),
    ]);
    let out = collect(paginate(
        strategy.clone(),
        PaginateOptions::new().with_page_size(5),
        fetch,
    ));
    let pages: Vec<_> = out.into_iter().collect::<Result<_>>().unwrap_or_default();
    assert_eq!(
        flatten(&pages),
        vec![1, 2, 3],
        "advances by the items returned"
    );

    let fetch = scripted(vec![(vec![1], json!({"total": "lots"}))]);
    let out = collect(paginate(strategy, PaginateOptions::new(), fetch));
    assert!(matches!(&out[..], [Err(e)] if e.kind() == ErrorKind::Decode));
}

#[test]
fn missing_total_falls_back_to_empty_page() {
    // GitLab drops x-total above 10,000 items.
    let strategy: Pagination = PageNumberPagination::default()
        .with_end(EndCondition::Total(Locator::header("x-total")))
        .into();
    let fetch = scripted(vec![
        (vec![1, 2], json!({})),
        (vec![3], json!({})),
        (vec![], json!({})),
    ]);
    let out = collect(paginate(
        strategy,
        PaginateOptions::new().with_page_size(2),
        fetch,
    ));
    let pages: Vec<_> = out.into_iter().collect::<Result<_>>().unwrap_or_default();
    assert_eq!(pages.len(), 3);
    assert_eq!(flatten(&pages), vec![1, 2, 3]);
}

#[test]
fn fetch_errors_pass_through_and_end_the_stream() {
    let mut calls = 0;
    let fetch = move |_req: PageRequest| {
        calls += 1;
        futures::future::ready(if calls == 2 {
            Err(ConnectorError::new(ErrorKind::Unavailable, "503"))
        } else {
            Ok(FetchedPage::new(
                vec![calls],
                json!({"next_cursor": format!("c{calls}")}),
            ))
        })
    };
    let out = collect(paginate(
        Pagination::cursor("next_cursor"),
        PaginateOptions::new(),
        fetch,
    ));
    assert_eq!(out.len(), 2);
    assert!(matches!(&out[1], Err(e) if e.kind() == ErrorKind::Unavailable));
}

#[test]
fn invalid_setup_is_a_config_error_before_any_fetch() {
    let cases: Vec<(Pagination, PaginateOptions)> = vec![
        (
            Pagination::offset(),
            PaginateOptions::new().with_resume_from(Some("abc".into())),
        ),
        (
            Pagination::page_number(),
            PaginateOptions::new().with_resume_from(Some("-1".into())),
        ),
        (Pagination::cursor("a..b"), PaginateOptions::new()),
        (
            Pagination::cursor("x"),
            PaginateOptions::new().with_page_size(0),
        ),
        (
            Pagination::cursor("x"),
            PaginateOptions::new().with_max_pages(0),
        ),
        (
            Pagination::offset(),
            PaginateOptions::new().with_concurrency(0),
        ),
        (
            LinkHeaderPagination::new().with_rel(" ").into(),
            PaginateOptions::new(),
        ),
    ];
    for (strategy, options) in cases {
        let fetched = Arc::new(AtomicUsize::new(0));
        let counter = fetched.clone();
        let out = collect(paginate(strategy.clone(), options, move |_req| {
            counter.fetch_add(1, Ordering::SeqCst);
            futures::future::ready(Ok(FetchedPage::new(vec![1u32], ())))
        }));
        assert!(
            matches!(&out[..], [Err(e)] if e.kind() == ErrorKind::Config),
            "{strategy}: {out:?}"
        );
        assert_eq!(fetched.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn twenty_five_thousand_pages_stream_through() {
    let fake = Fake::new(Style::SlackCursor, 25_000);
    let fake = Fake {
        stingy: false,
        ..fake
    };
    let stream = paginate(
        Style::SlackCursor.strategy(),
        PaginateOptions::new().with_page_size(1),
        move |req| futures::future::ready(fake.respond(&req)),
    );
    let (pages, items) = block_on(
        stream.fold((0u64, 0u64), |(pages, items), page| async move {
            let n = page.map_or(0, |p| p.len() as u64);
            (pages + 1, items + n)
        }),
    );
    assert_eq!(items, 25_000);
    assert!(pages >= 25_000);
}

#[test]
fn concurrent_output_is_in_source_order_with_at_most_n_in_flight() {
    for concurrency in [2usize, 3, 8] {
        let fake = Fake {
            stingy: false,
            ..Fake::new(Style::OffsetTotalBody, 997)
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (flight, top) = (in_flight.clone(), peak.clone());
        let stream = paginate(
            fake.style.strategy(),
            PaginateOptions::new()
                .with_page_size(10)
                .with_concurrency(concurrency),
            move |req| {
                let now = flight.fetch_add(1, Ordering::SeqCst) + 1;
                top.fetch_max(now, Ordering::SeqCst);
                let response = fake.respond(&req);
                // Later pages finish first within a window.
                let delay = 10 - (req.index() % 10) as u32;
                let flight = flight.clone();
                async move {
                    YieldN(delay).await;
                    flight.fetch_sub(1, Ordering::SeqCst);
                    response
                }
            },
        );
        let pages: Vec<_> = block_on(stream.collect::<Vec<_>>())
            .into_iter()
            .collect::<Result<_>>()
            .unwrap_or_default();
        assert_eq!(flatten(&pages), (0..997).collect::<Vec<_>>());
        check_chain(&pages, None);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            concurrency,
            "window is used and never exceeded"
        );
    }
}

#[test]
fn concurrent_short_page_mid_read_is_a_protocol_error() {
    // The server is stingy at offsets 3 mod 7: a concurrent read cannot advance
    // by what was returned, so it reports instead of skipping items.
    let fake = Fake {
        stingy: true,
        ..Fake::new(Style::OffsetTotalBody, 200)
    };
    let out = run(
        &fake,
        PaginateOptions::new()
            .with_page_size(10)
            .with_concurrency(4),
    );
    let last = out
        .last()
        .and_then(|r| r.as_ref().err())
        .map(|e| (e.kind(), e.to_string()));
    let (kind, message) = last.unwrap_or((ErrorKind::Unexpected, String::new()));
    assert_eq!(kind, ErrorKind::Protocol);
    assert!(
        message.contains("collection changed during a concurrent read"),
        "{message}"
    );
    let pages: Vec<_> = out
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .cloned()
        .collect();
    let items = flatten(&pages);
    assert_eq!(
        items,
        (0..items.len() as u32).collect::<Vec<_>>(),
        "no gap before the error"
    );
}

#[test]
fn concurrency_falls_back_to_sequential_without_a_total() {
    let fake = Fake::new(Style::OffsetShortPage, 95);
    let pages = run_ok(
        &fake,
        PaginateOptions::new()
            .with_page_size(10)
            .with_concurrency(4),
    );
    assert_eq!(flatten(&pages), (0..95).collect::<Vec<_>>());
}

#[test]
fn requests_carry_typed_accessors_and_params() {
    let opts = 25;
    // Cursor: nothing but the page size on the first request.
    let s = Style::SlackCursor.strategy();
    let first = s.request(None, 0, opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(first.is_first() && first.cursor().is_none());
    assert_eq!(first.params().len(), 1);
    assert_eq!(first.params()[0].name, "limit");
    assert_eq!(first.params()[0].value, ParamValue::Integer(25));
    let next = s
        .request(Some("dXNlcjpVMEc5V0ZYTlo="), 1, opts)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.cursor(), Some("dXNlcjpVMEc5V0ZYTlo="));
    assert_eq!(next.params_at(ParamLocation::Query).count(), 2);

    // Next URL: page size on the first request only, then the URL as given.
    let s = Style::ODataNextLink.strategy();
    let next = s
        .request(Some("https://graph/users?$skiptoken=x"), 1, opts)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.next_url(), Some("https://graph/users?$skiptoken=x"));
    assert!(next.params().is_empty());

    // Offset and page number.
    let r = Pagination::offset()
        .request(Some("40"), 2, 20)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.offset(), r.page_number()), (Some(40), None));
    let names: Vec<_> = r
        .params()
        .iter()
        .map(|p| (p.name.as_str(), p.value.to_string()))
        .collect();
    assert_eq!(
        names,
        [("offset", "40".to_string()), ("limit", "20".to_string())]
    );
    let r = Pagination::page_number()
        .request(None, 0, 20)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.page_number(), Some(1));

    // Continuation header goes back as a header; relay uses variables.
    let r = Pagination::continuation_header("x-ms-continuationtoken")
        .request(Some("tok"), 1, 20)
        .unwrap_or_else(|e| panic!("{e}"));
    let header: Vec<_> = r
        .params_at(ParamLocation::Header)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(header, ["x-ms-continuationtoken"]);
    let r = Style::Relay
        .strategy()
        .request(Some("c1"), 1, 50)
        .unwrap_or_else(|e| panic!("{e}"));
    let vars: Vec<_> = r
        .params_at(ParamLocation::Variable)
        .map(|p| (p.name.as_str(), p.value.to_json()))
        .collect();
    assert_eq!(vars, [("first", json!(50)), ("after", json!("c1"))]);
}

#[test]
fn strategies_round_trip_as_data() {
    for &style in ALL_STYLES {
        let strategy = style.strategy();
        let json = serde_json::to_value(&strategy).unwrap_or_default();
        let back: Pagination =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, strategy);
    }
    // Defaults fill what a description leaves out.
    let parsed: Pagination =
        serde_json::from_value(json!({"type": "link_header"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, Pagination::link_header());
    let parsed: Pagination = serde_json::from_value(json!({
        "type": "offset",
        "offset_param": {"location": "query", "name": "startAt"},
        "end": {"total": {"body": "total"}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.supports_concurrency());
    // A typo is an error, not a silently ignored field.
    let typo =
        serde_json::from_value::<Pagination>(json!({"type": "cursor", "cursr": {"body": "x"}}));
    assert!(typo.is_err());
}

#[test]
fn body_paths_name_what_the_strategy_reads() {
    assert_eq!(
        Style::HasMoreCursor.strategy().body_paths(),
        ["next", "has_more"]
    );
    assert_eq!(
        Style::Relay.strategy().body_paths(),
        ["data.repository.issues.pageInfo"]
    );
    assert!(Pagination::link_header().body_paths().is_empty());
}

/// The stream is `Send` when the fetcher is, so it can run on a multi-threaded
/// runtime and be boxed as `BoxStream`.
#[allow(dead_code)]
fn paginate_stream_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let stream = paginate(
        Pagination::cursor("next"),
        PaginateOptions::new(),
        |_req| async { Ok(FetchedPage::new(vec![1u32], Signals::new())) },
    );
    assert_send(&stream);
    let _boxed: futures::stream::BoxStream<'static, Result<Page<u32>>> = stream.boxed();
}
