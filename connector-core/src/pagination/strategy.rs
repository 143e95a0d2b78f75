//! The pagination strategies, as data.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::link;
use super::path;
use super::request::{PageRequest, Param, ParamValue, RequestParam, Target};
use super::signals::PageSignals;
use crate::error::{ConnectorError, Result, clip};

/// Where a signal is read from: a path in the JSON body or a response header.
///
/// Body paths use dots (`response_metadata.next_cursor`), bracketed indexes
/// (`data[0].cursor`) and double-quoted keys for keys containing dots
/// (`"@odata.nextLink"`; a path that finds nothing is also tried as one literal
/// top-level key, so `@odata.nextLink` works unquoted). Header names are matched
/// case-insensitively.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locator {
    /// A path into the JSON body.
    Body(String),
    /// A response header name.
    Header(String),
}

impl Locator {
    /// A path into the JSON body.
    pub fn body(path: impl Into<String>) -> Self {
        Locator::Body(path.into())
    }

    /// A response header.
    pub fn header(name: impl Into<String>) -> Self {
        Locator::Header(name.into())
    }

    fn validate(&self, what: &str) -> Result<()> {
        match self {
            Locator::Body(p) => path::parse(p)
                .map(drop)
                .map_err(|e| ConnectorError::config(format!("{what}: {e}"))),
            Locator::Header(h) if h.trim().is_empty() => Err(ConnectorError::config(format!(
                "{what}: the header name is empty"
            ))),
            Locator::Header(_) => Ok(()),
        }
    }

    fn find<'a>(&self, signals: &'a dyn PageSignals) -> Option<Found<'a>> {
        match self {
            Locator::Body(p) => signals
                .body()
                .and_then(|b| path::lookup(b, p))
                .map(Found::Json),
            Locator::Header(h) => signals.header(h).map(Found::Text),
        }
    }

    fn token(&self, signals: &dyn PageSignals) -> Result<Option<String>> {
        self.find(signals).map_or(Ok(None), |f| f.token(self))
    }

    fn number(&self, signals: &dyn PageSignals) -> Result<Option<u64>> {
        self.find(signals).map_or(Ok(None), |f| f.number(self))
    }

    fn flag(&self, signals: &dyn PageSignals) -> Result<Option<bool>> {
        self.find(signals).map_or(Ok(None), |f| f.flag(self))
    }

    fn body_path(&self) -> Option<&str> {
        match self {
            Locator::Body(p) => Some(p),
            Locator::Header(_) => None,
        }
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::Body(p) => write!(f, "body `{p}`"),
            Locator::Header(h) => write!(f, "header `{h}`"),
        }
    }
}

/// A value found by a [`Locator`].
enum Found<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl Found<'_> {
    /// A token: a non-empty string (passed back as is) or a number. Null, an empty
    /// string and a blank header mean "no token".
    fn token(&self, at: &Locator) -> Result<Option<String>> {
        match self {
            Found::Json(Value::String(s)) if s.is_empty() => Ok(None),
            Found::Json(Value::String(s)) => Ok(Some(s.clone())),
            Found::Json(Value::Number(n)) => Ok(Some(n.to_string())),
            Found::Json(Value::Null) => Ok(None),
            Found::Json(other) => Err(unexpected_shape(at, "a string", other)),
            Found::Text(t) => Ok(Some(t.trim()).filter(|t| !t.is_empty()).map(str::to_string)),
        }
    }

    /// A non-negative integer, as a JSON number or a numeric string.
    fn number(&self, at: &Locator) -> Result<Option<u64>> {
        let parse = |s: &str| {
            s.trim().parse::<u64>().map(Some).map_err(|_| {
                ConnectorError::decode(format!(
                    "expected a non-negative integer at {at}, found `{}`",
                    clip(s, 64)
                ))
            })
        };
        match self {
            Found::Json(Value::Null) => Ok(None),
            Found::Json(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None => match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => {
                        Ok(Some(f as u64))
                    }
                    _ => Err(unexpected_shape(
                        at,
                        "a non-negative integer",
                        &Value::Number(n.clone()),
                    )),
                },
            },
            Found::Json(Value::String(s)) => parse(s),
            Found::Json(other) => Err(unexpected_shape(at, "a non-negative integer", other)),
            Found::Text(t) => parse(t),
        }
    }

    /// A boolean, as JSON `true`/`false`, the strings `"true"`/`"false"` (any
    /// case; ServiceNow sends everything as strings) or the numbers 0 and 1.
    fn flag(&self, at: &Locator) -> Result<Option<bool>> {
        let parse = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(ConnectorError::decode(format!(
                "expected true or false at {at}, found `{}`",
                clip(s, 64)
            ))),
        };
        match self {
            Found::Json(Value::Null) => Ok(None),
            Found::Json(Value::Bool(b)) => Ok(Some(*b)),
            Found::Json(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
            Found::Json(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
            Found::Json(Value::String(s)) => parse(s),
            Found::Json(other) => Err(unexpected_shape(at, "true or false", other)),
            Found::Text(t) => parse(t),
        }
    }
}

fn unexpected_shape(at: &Locator, expected: &str, found: &Value) -> ConnectorError {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ConnectorError::decode(format!("expected {expected} at {at}, found {kind}"))
}

/// What a boolean flag in a response means.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagMeaning {
    /// `true` means more pages follow (`has_more`, `more`, `hasNextPage`).
    HasMore,
    /// `true` means this is the last page (`isLast`, `isLastPage`).
    IsLast,
}

/// A boolean in the response that says whether more pages follow.
///
/// A flag that is absent (or null) has no say: the strategy falls back to its
/// other signals. A flag that is present but not a boolean, `"true"`/`"false"`,
/// 0 or 1 is a [`Decode`](crate::ErrorKind::Decode) error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flag {
    /// Where the flag is read from.
    pub at: Locator,
    /// What `true` means.
    pub meaning: FlagMeaning,
}

impl Flag {
    /// A flag whose `true` means more pages follow, at a body path (`has_more`).
    pub fn has_more(path: impl Into<String>) -> Self {
        Self {
            at: Locator::body(path),
            meaning: FlagMeaning::HasMore,
        }
    }

    /// A flag whose `true` means this is the last page, at a body path (`isLast`).
    pub fn is_last(path: impl Into<String>) -> Self {
        Self {
            at: Locator::body(path),
            meaning: FlagMeaning::IsLast,
        }
    }

    /// A flag read from any [`Locator`].
    pub fn new(at: Locator, meaning: FlagMeaning) -> Self {
        Self { at, meaning }
    }

    /// Whether more pages follow, or `None` when the flag is absent.
    fn more(&self, signals: &dyn PageSignals) -> Result<Option<bool>> {
        Ok(self.at.flag(signals)?.map(|b| match self.meaning {
            FlagMeaning::HasMore => b,
            FlagMeaning::IsLast => !b,
        }))
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meaning = match self.meaning {
            FlagMeaning::HasMore => "more",
            FlagMeaning::IsLast => "last",
        };
        write!(f, "{meaning} flag at {}", self.at)
    }
}

/// When an offset or page-number read ends. An empty page always ends it.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCondition {
    /// A page with fewer items than the page size is the last. The default: it
    /// saves a request, but the page size must not exceed the server's maximum (a
    /// server that caps 500 to 100 would look finished after one page).
    #[default]
    ShortPage,
    /// Only an empty page ends the read.
    EmptyPage,
    /// The total number of items, read from the response. While it is absent
    /// (GitLab drops `x-total` above 10,000 items) only an empty page ends the
    /// read. A known total allows concurrent fetching.
    Total(Locator),
    /// The total number of pages, read from the response. Absent: as for `Total`.
    TotalPages(Locator),
    /// A more/last flag. Absent: only an empty page ends the read.
    Flag(Flag),
}

impl EndCondition {
    fn validate(&self) -> Result<()> {
        match self {
            EndCondition::ShortPage | EndCondition::EmptyPage => Ok(()),
            EndCondition::Total(l) => l.validate("the total"),
            EndCondition::TotalPages(l) => l.validate("the total pages"),
            EndCondition::Flag(f) => f.at.validate("the more/last flag"),
        }
    }

    fn body_path(&self) -> Option<&str> {
        match self {
            EndCondition::ShortPage | EndCondition::EmptyPage => None,
            EndCondition::Total(l) | EndCondition::TotalPages(l) => l.body_path(),
            EndCondition::Flag(f) => f.at.body_path(),
        }
    }
}

impl fmt::Display for EndCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndCondition::ShortPage => f.write_str("ends on a short page"),
            EndCondition::EmptyPage => f.write_str("ends on an empty page"),
            EndCondition::Total(l) => write!(f, "total at {l}"),
            EndCondition::TotalPages(l) => write!(f, "total pages at {l}"),
            EndCondition::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// A cursor read from the response, sent back to get the next page (Slack
/// `response_metadata.next_cursor`, Google `nextPageToken`, Stripe with
/// `has_more`).
///
/// Defaults: cursor at body `next_cursor`; sent as query parameter `cursor`; no
/// more-flag; no page-size parameter; an empty page does not end the read. The
/// read ends when the cursor is absent, null or `""`, or when the flag says no
/// more. A flag saying more with no cursor is a
/// [`Protocol`](crate::ErrorKind::Protocol) error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CursorPagination {
    /// Where the next cursor is read from.
    pub cursor: Locator,
    /// Where the cursor is sent.
    pub token_param: Param,
    /// An optional more/last flag.
    pub has_more: Option<Flag>,
    /// Where the page size is sent, if anywhere.
    pub page_size_param: Option<Param>,
    /// Whether an empty page ends the read even with a cursor.
    pub end_on_empty_page: bool,
}

impl Default for CursorPagination {
    fn default() -> Self {
        Self {
            cursor: Locator::body("next_cursor"),
            token_param: Param::query("cursor"),
            has_more: None,
            page_size_param: None,
            end_on_empty_page: false,
        }
    }
}

impl CursorPagination {
    /// The cursor at body path `cursor_path`, other settings at their defaults.
    pub fn new(cursor_path: impl Into<String>) -> Self {
        Self {
            cursor: Locator::body(cursor_path),
            ..Self::default()
        }
    }

    /// Reads the cursor from `cursor`.
    pub fn with_cursor(mut self, cursor: Locator) -> Self {
        self.cursor = cursor;
        self
    }

    /// Sends the cursor as `param` (`Param::query("pageToken")`, `Param::body("cursor")`).
    pub fn with_token_param(mut self, param: Param) -> Self {
        self.token_param = param;
        self
    }

    /// Also reads a more/last flag.
    pub fn with_has_more(mut self, flag: Flag) -> Self {
        self.has_more = Some(flag);
        self
    }

    /// Sends the page size as `param` (`Param::query("limit")`).
    pub fn with_page_size_param(mut self, param: Param) -> Self {
        self.page_size_param = Some(param);
        self
    }

    /// Ends the read on an empty page even when a cursor is present.
    pub fn with_end_on_empty_page(mut self, end: bool) -> Self {
        self.end_on_empty_page = end;
        self
    }
}

/// A URL for the next page, read from the body (`@odata.nextLink`,
/// `nextRecordsUrl`, `links.next`, `next`) or from a response header, and
/// followed as given.
///
/// Defaults: URL at body `next`; no page-size parameter (when set, it is sent on
/// the first request only: next URLs carry it); an empty page does not end the
/// read (a Graph delta nextLink may follow an empty page). The read ends when the
/// URL is absent, null or empty. A relative URL is handed to the fetcher as is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NextUrlPagination {
    /// Where the next URL is read from.
    pub next: Locator,
    /// Where the page size is sent on the first request, if anywhere.
    pub page_size_param: Option<Param>,
    /// Whether an empty page ends the read even with a next URL.
    pub end_on_empty_page: bool,
}

impl Default for NextUrlPagination {
    fn default() -> Self {
        Self {
            next: Locator::body("next"),
            page_size_param: None,
            end_on_empty_page: false,
        }
    }
}

impl NextUrlPagination {
    /// The next URL read from `next`, other settings at their defaults.
    pub fn new(next: Locator) -> Self {
        Self {
            next,
            ..Self::default()
        }
    }

    /// Sends the page size as `param` on the first request (`Param::query("$top")`).
    pub fn with_page_size_param(mut self, param: Param) -> Self {
        self.page_size_param = Some(param);
        self
    }

    /// Ends the read on an empty page even when a next URL is present.
    pub fn with_end_on_empty_page(mut self, end: bool) -> Self {
        self.end_on_empty_page = end;
        self
    }
}

/// The next page's URL from an RFC 8288 `Link` header (GitHub, GitLab, Okta,
/// ServiceNow); see [`parse_link_header`](super::parse_link_header).
///
/// Defaults: header `link`, relation `next`, no page-size parameter (first request
/// only when set), an empty page does not end the read (Okta's System Log always
/// has a next link: set `end_on_empty_page` there). Every value of a repeated
/// header is searched. The read ends when no link has the relation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkHeaderPagination {
    /// The header name.
    pub header: String,
    /// The relation type of the next page.
    pub rel: String,
    /// Where the page size is sent on the first request, if anywhere.
    pub page_size_param: Option<Param>,
    /// Whether an empty page ends the read even with a next link.
    pub end_on_empty_page: bool,
}

impl Default for LinkHeaderPagination {
    fn default() -> Self {
        Self {
            header: "link".to_string(),
            rel: "next".to_string(),
            page_size_param: None,
            end_on_empty_page: false,
        }
    }
}

impl LinkHeaderPagination {
    /// `Link` header, `rel="next"`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows the link with relation `rel` instead of `next`.
    pub fn with_rel(mut self, rel: impl Into<String>) -> Self {
        self.rel = rel.into();
        self
    }

    /// Reads links from `header` instead of `link`.
    pub fn with_header(mut self, header: impl Into<String>) -> Self {
        self.header = header.into();
        self
    }

    /// Sends the page size as `param` on the first request (`Param::query("per_page")`).
    pub fn with_page_size_param(mut self, param: Param) -> Self {
        self.page_size_param = Some(param);
        self
    }

    /// Ends the read on an empty page even when a next link is present.
    pub fn with_end_on_empty_page(mut self, end: bool) -> Self {
        self.end_on_empty_page = end;
        self
    }
}

/// Offset and limit parameters (ServiceNow `sysparm_offset`/`sysparm_limit`,
/// Jira `startAt`/`maxResults`).
///
/// Defaults: query parameters `offset` and `limit`, first offset 0, ends on a
/// short page ([`EndCondition::ShortPage`]). The offset advances by the number of
/// items actually returned, so a server that returns fewer than asked loses
/// nothing. An empty page always ends the read. Resume tokens are offsets in
/// decimal.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OffsetPagination {
    /// Where the offset is sent.
    pub offset_param: Param,
    /// Where the page size is sent.
    pub limit_param: Param,
    /// The offset of the first item.
    pub start: u64,
    /// When the read ends.
    pub end: EndCondition,
}

impl Default for OffsetPagination {
    fn default() -> Self {
        Self {
            offset_param: Param::query("offset"),
            limit_param: Param::query("limit"),
            start: 0,
            end: EndCondition::ShortPage,
        }
    }
}

impl OffsetPagination {
    /// Offset and limit sent as the query parameters `offset_param` and
    /// `limit_param`, other settings at their defaults.
    pub fn new(offset_param: impl Into<String>, limit_param: impl Into<String>) -> Self {
        Self {
            offset_param: Param::query(offset_param),
            limit_param: Param::query(limit_param),
            ..Self::default()
        }
    }

    /// Sends the offset as `param`.
    pub fn with_offset_param(mut self, param: Param) -> Self {
        self.offset_param = param;
        self
    }

    /// Sends the page size as `param`.
    pub fn with_limit_param(mut self, param: Param) -> Self {
        self.limit_param = param;
        self
    }

    /// Starts at offset `start` instead of 0.
    pub fn with_start(mut self, start: u64) -> Self {
        self.start = start;
        self
    }

    /// Ends the read on `end`.
    pub fn with_end(mut self, end: EndCondition) -> Self {
        self.end = end;
        self
    }
}

/// Page-number parameters (GitHub `page`/`per_page`, GitLab, many others).
///
/// Defaults: query parameters `page` and `per_page`, first page 1, ends on a
/// short page ([`EndCondition::ShortPage`]). An empty page always ends the read.
/// With [`EndCondition::Total`] the number of pages is the total divided by the
/// page size, rounded up. Resume tokens are page numbers in decimal.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageNumberPagination {
    /// Where the page number is sent.
    pub page_param: Param,
    /// Where the page size is sent, if anywhere.
    pub size_param: Option<Param>,
    /// The number of the first page: 0 or 1.
    pub first_page: u64,
    /// When the read ends.
    pub end: EndCondition,
}

impl Default for PageNumberPagination {
    fn default() -> Self {
        Self {
            page_param: Param::query("page"),
            size_param: Some(Param::query("per_page")),
            first_page: 1,
            end: EndCondition::ShortPage,
        }
    }
}

impl PageNumberPagination {
    /// Page number and size sent as the query parameters `page_param` and
    /// `size_param`, other settings at their defaults.
    pub fn new(page_param: impl Into<String>, size_param: impl Into<String>) -> Self {
        Self {
            page_param: Param::query(page_param),
            size_param: Some(Param::query(size_param)),
            ..Self::default()
        }
    }

    /// Sends the page number as `param`.
    pub fn with_page_param(mut self, param: Param) -> Self {
        self.page_param = param;
        self
    }

    /// Sends the page size as `param`, or not at all with `None`.
    pub fn with_size_param(mut self, param: Option<Param>) -> Self {
        self.size_param = param;
        self
    }

    /// Numbers the first page `first` (0 or 1) instead of 1.
    pub fn with_first_page(mut self, first: u64) -> Self {
        self.first_page = first;
        self
    }

    /// Ends the read on `end`.
    pub fn with_end(mut self, end: EndCondition) -> Self {
        self.end = end;
        self
    }
}

/// A continuation token in a response header, sent back in a request header of
/// the same or another name, or as a query parameter (Azure DevOps
/// `x-ms-continuationtoken` → `continuationToken`).
///
/// Defaults: response header `x-ms-continuationtoken`, sent back as the request
/// header of the same name; no page-size parameter; an empty page does not end
/// the read. The read ends when the header is absent or blank.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContinuationPagination {
    /// The response header holding the token.
    pub response_header: String,
    /// Where the token is sent back.
    pub token_param: Param,
    /// Where the page size is sent, if anywhere.
    pub page_size_param: Option<Param>,
    /// Whether an empty page ends the read even with a token.
    pub end_on_empty_page: bool,
}

impl Default for ContinuationPagination {
    fn default() -> Self {
        Self::new("x-ms-continuationtoken")
    }
}

impl ContinuationPagination {
    /// The token in response header `header`, sent back as the request header of
    /// the same name.
    pub fn new(header: impl Into<String>) -> Self {
        let header = header.into();
        Self {
            token_param: Param::header(header.clone()),
            response_header: header,
            page_size_param: None,
            end_on_empty_page: false,
        }
    }

    /// Sends the token back as `param` (`Param::query("continuationToken")`).
    pub fn with_token_param(mut self, param: Param) -> Self {
        self.token_param = param;
        self
    }

    /// Sends the page size as `param` (`Param::query("$top")`).
    pub fn with_page_size_param(mut self, param: Param) -> Self {
        self.page_size_param = Some(param);
        self
    }

    /// Ends the read on an empty page even when a token is present.
    pub fn with_end_on_empty_page(mut self, end: bool) -> Self {
        self.end_on_empty_page = end;
        self
    }
}

/// GraphQL relay connections: `pageInfo { hasNextPage endCursor }` at a path in
/// the body, the cursor sent as a variable.
///
/// Defaults: `pageInfo` at body path `pageInfo` (usually deeper, e.g.
/// `data.repository.issues.pageInfo`), fields `hasNextPage` and `endCursor`,
/// cursor variable `after`, page-size variable `first`, an empty page does not
/// end the read. A response without `pageInfo` or `hasNextPage` is a
/// [`Decode`](crate::ErrorKind::Decode) error; `hasNextPage: true` without an
/// `endCursor` is a [`Protocol`](crate::ErrorKind::Protocol) error.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayPagination {
    /// The body path of the `pageInfo` object.
    pub page_info: String,
    /// The field of `pageInfo` saying whether more pages follow.
    pub has_next_page: String,
    /// The field of `pageInfo` holding the cursor of the next page.
    pub end_cursor: String,
    /// Where the cursor is sent.
    pub cursor_variable: Param,
    /// Where the page size is sent, if anywhere.
    pub page_size_variable: Option<Param>,
    /// Whether an empty page ends the read even when `hasNextPage` is true.
    pub end_on_empty_page: bool,
}

impl Default for RelayPagination {
    fn default() -> Self {
        Self {
            page_info: "pageInfo".to_string(),
            has_next_page: "hasNextPage".to_string(),
            end_cursor: "endCursor".to_string(),
            cursor_variable: Param::variable("after"),
            page_size_variable: Some(Param::variable("first")),
            end_on_empty_page: false,
        }
    }
}

impl RelayPagination {
    /// `pageInfo` at body path `page_info`, other settings at their defaults.
    pub fn new(page_info: impl Into<String>) -> Self {
        Self {
            page_info: page_info.into(),
            ..Self::default()
        }
    }

    /// Sends the cursor as `param` instead of the variable `after`.
    pub fn with_cursor_variable(mut self, param: Param) -> Self {
        self.cursor_variable = param;
        self
    }

    /// Sends the page size as `param`, or not at all with `None`.
    pub fn with_page_size_variable(mut self, param: Option<Param>) -> Self {
        self.page_size_variable = param;
        self
    }

    /// Reads the more-flag and the cursor from these fields of `pageInfo`.
    pub fn with_fields(
        mut self,
        has_next_page: impl Into<String>,
        end_cursor: impl Into<String>,
    ) -> Self {
        self.has_next_page = has_next_page.into();
        self.end_cursor = end_cursor.into();
        self
    }

    /// Ends the read on an empty page even when `hasNextPage` is true.
    pub fn with_end_on_empty_page(mut self, end: bool) -> Self {
        self.end_on_empty_page = end;
        self
    }
}

/// How a collection is paged: one of the strategies, as serialisable data.
///
/// Connectors describe their pagination with it (in code or in JSON); [`paginate`]
/// runs it over a page fetcher, and the HTTP layer binds it to requests. Each
/// variant's struct documents its defaults and has `with_*` setters.
///
/// ```
/// use connector_core::pagination::{
///     CursorPagination, EndCondition, Flag, Locator, OffsetPagination, Pagination, Param,
/// };
///
/// // Slack: `response_metadata.next_cursor`, sent back as `cursor`, page size as `limit`.
/// let slack = Pagination::from(
///     CursorPagination::new("response_metadata.next_cursor")
///         .with_page_size_param(Param::query("limit")),
/// );
/// // Jira Service Management: `start`/`limit`, ends on `isLastPage`.
/// let jsm = Pagination::from(
///     OffsetPagination::new("start", "limit").with_end(EndCondition::Flag(Flag::is_last("isLastPage"))),
/// );
/// // Microsoft Graph.
/// let graph = Pagination::next_url(Locator::body("@odata.nextLink"));
///
/// let json = serde_json::to_value(&slack).unwrap();
/// assert_eq!(json["type"], "cursor");
/// let back: Pagination = serde_json::from_value(json).unwrap();
/// assert_eq!(back, slack);
/// assert_eq!(graph.name(), "next URL");
/// # let _ = jsm;
/// ```
///
/// [`paginate`]: super::paginate
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Pagination {
    /// A cursor in the body.
    Cursor(CursorPagination),
    /// A next URL in the body or a header.
    NextUrl(NextUrlPagination),
    /// An RFC 8288 `Link` header.
    LinkHeader(LinkHeaderPagination),
    /// Offset and limit.
    Offset(OffsetPagination),
    /// Page numbers.
    PageNumber(PageNumberPagination),
    /// A continuation token in a response header.
    ContinuationHeader(ContinuationPagination),
    /// A GraphQL relay connection.
    GraphqlRelay(RelayPagination),
}

impl From<CursorPagination> for Pagination {
    fn from(s: CursorPagination) -> Self {
        Pagination::Cursor(s)
    }
}

impl From<NextUrlPagination> for Pagination {
    fn from(s: NextUrlPagination) -> Self {
        Pagination::NextUrl(s)
    }
}

impl From<LinkHeaderPagination> for Pagination {
    fn from(s: LinkHeaderPagination) -> Self {
        Pagination::LinkHeader(s)
    }
}

impl From<OffsetPagination> for Pagination {
    fn from(s: OffsetPagination) -> Self {
        Pagination::Offset(s)
    }
}

impl From<PageNumberPagination> for Pagination {
    fn from(s: PageNumberPagination) -> Self {
        Pagination::PageNumber(s)
    }
}

impl From<ContinuationPagination> for Pagination {
    fn from(s: ContinuationPagination) -> Self {
        Pagination::ContinuationHeader(s)
    }
}

impl From<RelayPagination> for Pagination {
    fn from(s: RelayPagination) -> Self {
        Pagination::GraphqlRelay(s)
    }
}

/// What a strategy concluded from one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advance {
    /// The token of the next page, or `None` when the read is over.
    pub(crate) next: Option<String>,
    /// For offset and page-number strategies whose total is known: the position
    /// (offset or page number) at which the read ends, exclusive.
    pub(crate) end: Option<u64>,
}

impl Advance {
    fn to(next: Option<String>) -> Self {
        Self { next, end: None }
    }
}

impl Pagination {
    /// A cursor at body path `cursor_path`, sent back as query parameter `cursor`
    /// (see [`CursorPagination`] for the defaults and setters).
    pub fn cursor(cursor_path: impl Into<String>) -> Self {
        CursorPagination::new(cursor_path).into()
    }

    /// A next URL read from `next` (see [`NextUrlPagination`]).
    pub fn next_url(next: Locator) -> Self {
        NextUrlPagination::new(next).into()
    }

    /// The `Link` header with `rel="next"` (see [`LinkHeaderPagination`]).
    pub fn link_header() -> Self {
        LinkHeaderPagination::new().into()
    }

    /// Query parameters `offset` and `limit`, ending on a short page (see
    /// [`OffsetPagination`]).
    pub fn offset() -> Self {
        OffsetPagination::default().into()
    }

    /// Query parameters `page` (from 1) and `per_page`, ending on a short page
    /// (see [`PageNumberPagination`]).
    pub fn page_number() -> Self {
        PageNumberPagination::default().into()
    }

    /// A continuation token in response header `header`, sent back as the request
    /// header of the same name (see [`ContinuationPagination`]).
    pub fn continuation_header(header: impl Into<String>) -> Self {
        ContinuationPagination::new(header).into()
    }

    /// A GraphQL relay connection whose `pageInfo` is at body path `page_info`
    /// (see [`RelayPagination`]).
    pub fn graphql_relay(page_info: impl Into<String>) -> Self {
        RelayPagination::new(page_info).into()
    }

    /// A short name of the strategy, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Pagination::Cursor(_) => "cursor",
            Pagination::NextUrl(_) => "next URL",
            Pagination::LinkHeader(_) => "Link header",
            Pagination::Offset(_) => "offset",
            Pagination::PageNumber(_) => "page number",
            Pagination::ContinuationHeader(_) => "continuation header",
            Pagination::GraphqlRelay(_) => "GraphQL relay",
        }
    }

    /// The body paths the strategy reads, so the HTTP layer can keep just these
    /// parts of the envelope. Empty when it reads only headers and item counts.
    pub fn body_paths(&self) -> Vec<&str> {
        let mut paths = Vec::new();
        match self {
            Pagination::Cursor(c) => {
                paths.extend(c.cursor.body_path());
                paths.extend(c.has_more.as_ref().and_then(|f| f.at.body_path()));
            }
            Pagination::NextUrl(n) => paths.extend(n.next.body_path()),
            Pagination::Offset(o) => paths.extend(o.end.body_path()),
            Pagination::PageNumber(p) => paths.extend(p.end.body_path()),
            Pagination::GraphqlRelay(r) => paths.push(&r.page_info),
            Pagination::LinkHeader(_) | Pagination::ContinuationHeader(_) => {}
        }
        paths
    }

    /// Whether pages can be fetched concurrently once the first page reports the
    /// total: offset and page-number strategies ending on [`EndCondition::Total`]
    /// or [`EndCondition::TotalPages`].
    pub fn supports_concurrency(&self) -> bool {
        let end = match self {
            Pagination::Offset(o) => &o.end,
            Pagination::PageNumber(p) => &p.end,
            _ => return false,
        };
        matches!(end, EndCondition::Total(_) | EndCondition::TotalPages(_))
    }

    /// Checks the strategy's paths and names.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) naming the malformed path or the empty
    /// name.
    pub fn validate(&self) -> Result<()> {
        let named = |p: &Param, what: &str| {
            if p.name.trim().is_empty() {
                Err(ConnectorError::config(format!(
                    "{self}: the {what} name is empty"
                )))
            } else {
                Ok(())
            }
        };
        let optional =
            |p: &Option<Param>, what: &str| p.as_ref().map_or(Ok(()), |p| named(p, what));
        let wrap = |e: ConnectorError| {
            let message = format!("{}: {}", self.name(), e.message());
            e.with_message(message)
        };
        match self {
            Pagination::Cursor(c) => {
                c.cursor.validate("the cursor").map_err(wrap)?;
                if let Some(f) = &c.has_more {
                    f.at.validate("the more/last flag").map_err(wrap)?;
                }
                named(&c.token_param, "cursor parameter")?;
                optional(&c.page_size_param, "page size parameter")
            }
            Pagination::NextUrl(n) => {
                n.next.validate("the next URL").map_err(wrap)?;
                optional(&n.page_size_param, "page size parameter")
            }
            Pagination::LinkHeader(l) => {
                if l.header.trim().is_empty() || l.rel.trim().is_empty() {
                    return Err(ConnectorError::config(format!(
                        "{self}: the header name and the relation type must not be empty"
                    )));
                }
                optional(&l.page_size_param, "page size parameter")
            }
            Pagination::Offset(o) => {
                o.end.validate().map_err(wrap)?;
                named(&o.offset_param, "offset parameter")?;
                named(&o.limit_param, "limit parameter")
            }
            Pagination::PageNumber(p) => {
                p.end.validate().map_err(wrap)?;
                named(&p.page_param, "page parameter")?;
                optional(&p.size_param, "page size parameter")
            }
            Pagination::ContinuationHeader(c) => {
                if c.response_header.trim().is_empty() {
                    return Err(ConnectorError::config(format!(
                        "{self}: the response header name is empty"
                    )));
                }
                named(&c.token_param, "token parameter")?;
                optional(&c.page_size_param, "page size parameter")
            }
            Pagination::GraphqlRelay(r) => {
                Locator::body(r.page_info.clone())
                    .validate("pageInfo")
                    .map_err(wrap)?;
                Locator::body(r.has_next_page.clone())
                    .validate("hasNextPage")
                    .map_err(wrap)?;
                Locator::body(r.end_cursor.clone())
                    .validate("endCursor")
                    .map_err(wrap)?;
                named(&r.cursor_variable, "cursor variable")?;
                optional(&r.page_size_variable, "page size variable")
            }
        }
    }

    /// Builds the request for the page selected by `token` (`None`: the first
    /// page of a fresh read). `index` is the page's position in the stream.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) when `page_size` is 0, or when the
    /// token cannot belong to this strategy (an offset or page number that is not
    /// a non-negative integer), e.g. a resume token saved by another strategy.
    pub fn request(&self, token: Option<&str>, index: u64, page_size: u32) -> Result<PageRequest> {
        if page_size == 0 {
            return Err(ConnectorError::config(format!(
                "{}: the page size must be at least 1",
                self.name()
            )));
        }
        let size = ParamValue::Integer(u64::from(page_size));
        let mut params = Vec::new();
        let numeric = |what: &str, t: &str| {
            t.parse::<u64>().map_err(|_| {
                ConnectorError::config(format!(
                    "resume token `{}` is not a valid {what} for {} pagination; it must be a \
                     non-negative integer (was it saved by another strategy?)",
                    clip(t, 64),
                    self.name()
                ))
            })
        };
        // Cursor-like strategies share one shape: the cursor goes into a parameter.
        let mut cursor_like = |token_param: &Param, size_param: Option<&Param>| {
            if let Some(p) = size_param {
                params.push(RequestParam::new(p, size.clone()));
            }
            match token {
                Some(t) => {
                    params.push(RequestParam::new(
                        token_param,
                        ParamValue::Text(t.to_string()),
                    ));
                    Target::Cursor(t.to_string())
                }
                None => Target::Start,
            }
        };
        let target = match self {
            Pagination::Cursor(c) => cursor_like(&c.token_param, c.page_size_param.as_ref()),
            Pagination::ContinuationHeader(c) => {
                cursor_like(&c.token_param, c.page_size_param.as_ref())
            }
            Pagination::GraphqlRelay(r) => {
                cursor_like(&r.cursor_variable, r.page_size_variable.as_ref())
            }
            Pagination::NextUrl(NextUrlPagination {
                page_size_param, ..
            })
            | Pagination::LinkHeader(LinkHeaderPagination {
                page_size_param, ..
            }) => match token {
                Some(url) => Target::Url(url.to_string()),
                None => {
                    if let Some(p) = page_size_param {
                        params.push(RequestParam::new(p, size));
                    }
                    Target::Start
                }
            },
            Pagination::Offset(o) => {
                let offset = token.map_or(Ok(o.start), |t| numeric("offset", t))?;
                params.push(RequestParam::new(
                    &o.offset_param,
                    ParamValue::Integer(offset),
                ));
                params.push(RequestParam::new(&o.limit_param, size));
                Target::Offset(offset)
            }
            Pagination::PageNumber(p) => {
                let page = token.map_or(Ok(p.first_page), |t| numeric("page number", t))?;
                params.push(RequestParam::new(&p.page_param, ParamValue::Integer(page)));
                if let Some(sp) = &p.size_param {
                    params.push(RequestParam::new(sp, size));
                }
                Target::PageNumber(page)
            }
        };
        Ok(PageRequest {
            index,
            token: token.map(str::to_string),
            page_size,
            target,
            params,
        })
    }

    /// The token of the page after the one `request` fetched, given how many items
    /// it returned and the response's signals; `None` when the read is over.
    ///
    /// [`paginate`](super::paginate) calls this for every page; it is public for
    /// bindings that drive pagination by hand.
    ///
    /// # Errors
    ///
    /// [`Decode`](crate::ErrorKind::Decode) when a signal has the wrong type,
    /// [`Protocol`](crate::ErrorKind::Protocol) when the signals contradict each
    /// other (more pages but no cursor), [`Config`](crate::ErrorKind::Config) when
    /// `request` was not built by this strategy.
    pub fn next_token(
        &self,
        request: &PageRequest,
        item_count: usize,
        signals: &dyn PageSignals,
    ) -> Result<Option<String>> {
        Ok(self.advance(request, item_count, signals)?.next)
    }

    pub(crate) fn advance(
        &self,
        request: &PageRequest,
        item_count: usize,
        signals: &dyn PageSignals,
    ) -> Result<Advance> {
        let count = item_count as u64;
        let size = u64::from(request.page_size);
        let mismatch = || {
            ConnectorError::config(format!(
                "{self}: the page request was not built by this strategy"
            ))
        };
        match self {
            Pagination::Cursor(c) => {
                let cursor = c.cursor.token(signals)?;
                let more = match &c.has_more {
                    Some(flag) => flag.more(signals)?,
                    None => None,
                };
                let next = match (more, cursor) {
                    (Some(false), _) => None,
                    (Some(true), None) => {
                        return Err(ConnectorError::protocol(format!(
                            "{self}: the response says more pages follow but has no cursor at {}",
                            c.cursor
                        )));
                    }
                    (_, cursor) => cursor,
                };
                Ok(Advance::to(
                    next.filter(|_| !(c.end_on_empty_page && count == 0)),
                ))
            }
            Pagination::NextUrl(n) => {
                let next = n.next.token(signals)?;
                Ok(Advance::to(
                    next.filter(|_| !(n.end_on_empty_page && count == 0)),
                ))
            }
            Pagination::LinkHeader(l) => {
                let next = link::find_link(signals.header_values(&l.header), &l.rel);
                Ok(Advance::to(
                    next.filter(|_| !(l.end_on_empty_page && count == 0)),
                ))
            }
            Pagination::ContinuationHeader(c) => {
                let next = Locator::header(c.response_header.clone()).token(signals)?;
                Ok(Advance::to(
                    next.filter(|_| !(c.end_on_empty_page && count == 0)),
                ))
            }
            Pagination::GraphqlRelay(r) => {
                let info = signals
                    .body()
                    .and_then(|b| path::lookup(b, &r.page_info))
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| {
                        ConnectorError::decode(format!(
                            "{self}: the response has no pageInfo at `{}`",
                            r.page_info
                        ))
                    })?;
                let has_next = Locator::body(r.has_next_page.clone());
                let more = has_next.flag(info)?.ok_or_else(|| {
                    ConnectorError::decode(format!(
                        "{self}: pageInfo at `{}` has no `{}`",
                        r.page_info, r.has_next_page
                    ))
                })?;
                if !more {
                    return Ok(Advance::to(None));
                }
                let end_cursor = Locator::body(r.end_cursor.clone()).token(info)?;
                match end_cursor {
                    Some(c) if !(r.end_on_empty_page && count == 0) => Ok(Advance::to(Some(c))),
                    Some(_) => Ok(Advance::to(None)),
                    None => Err(ConnectorError::protocol(format!(
                        "{self}: `{}` is true but `{}` is missing at `{}`",
                        r.has_next_page, r.end_cursor, r.page_info
                    ))),
                }
            }
            Pagination::Offset(o) => {
                let Target::Offset(offset) = request.target else {
                    return Err(mismatch());
                };
                if count == 0 {
                    return Ok(Advance::to(None));
                }
                let next = offset.saturating_add(count);
                let (stop, end) = match &o.end {
                    EndCondition::ShortPage => (count < size, None),
                    EndCondition::EmptyPage => (false, None),
                    EndCondition::Total(at) => match at.number(signals)? {
                        Some(total) => (next >= total, Some(total)),
                        None => (false, None),
                    },
                    EndCondition::TotalPages(at) => match at.number(signals)? {
                        Some(pages) => {
                            let end = o.start.saturating_add(pages.saturating_mul(size));
                            (next >= end, Some(end))
                        }
                        None => (false, None),
                    },
                    EndCondition::Flag(flag) => (flag.more(signals)? == Some(false), None),
                };
                Ok(Advance {
                    next: (!stop).then(|| next.to_string()),
                    end,
                })
            }
            Pagination::PageNumber(p) => {
                let Target::PageNumber(page) = request.target else {
                    return Err(mismatch());
                };
                if count == 0 {
                    return Ok(Advance::to(None));
                }
                let next = page.saturating_add(1);
                let (stop, end) = match &p.end {
                    EndCondition::ShortPage => (count < size, None),
                    EndCondition::EmptyPage => (false, None),
                    EndCondition::Total(at) => match at.number(signals)? {
                        Some(total) => {
                            let end = p.first_page.saturating_add(total.div_ceil(size));
                            (next >= end, Some(end))
                        }
                        None => (false, None),
                    },
                    EndCondition::TotalPages(at) => match at.number(signals)? {
                        Some(pages) => {
                            let end = p.first_page.saturating_add(pages);
                            (next >= end, Some(end))
                        }
                        None => (false, None),
                    },
                    EndCondition::Flag(flag) => (flag.more(signals)? == Some(false), None),
                };
                Ok(Advance {
                    next: (!stop).then(|| next.to_string()),
                    end,
                })
            }
        }
    }
}

impl fmt::Display for Pagination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pagination::Cursor(c) => write!(
                f,
                "cursor pagination (cursor at {}, sent as {} `{}`)",
                c.cursor, c.token_param.location, c.token_param.name
            ),
            Pagination::NextUrl(n) => write!(f, "next-URL pagination (URL at {})", n.next),
            Pagination::LinkHeader(l) => {
                write!(
                    f,
                    "Link header pagination (header `{}`, rel `{}`)",
                    l.header, l.rel
                )
            }
            Pagination::Offset(o) => write!(
                f,
                "offset pagination ({} `{}`, {} `{}`, {})",
                o.offset_param.location,
                o.offset_param.name,
                o.limit_param.location,
                o.limit_param.name,
                o.end
            ),
            Pagination::PageNumber(p) => write!(
                f,
                "page-number pagination ({} `{}` from {}, {})",
                p.page_param.location, p.page_param.name, p.first_page, p.end
            ),
            Pagination::ContinuationHeader(c) => write!(
                f,
                "continuation-header pagination (header `{}`, sent as {} `{}`)",
                c.response_header, c.token_param.location, c.token_param.name
            ),
            Pagination::GraphqlRelay(r) => {
                write!(
                    f,
                    "GraphQL relay pagination (pageInfo at `{}`)",
                    r.page_info
                )
            }
        }
    }
}
