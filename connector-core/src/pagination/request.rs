//! What the fetcher is asked to fetch: [`PageRequest`] and the parameters in it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a request parameter goes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    /// A URL query parameter.
    Query,
    /// A top-level field of the JSON request body (POST search endpoints).
    Body,
    /// A request header.
    Header,
    /// A GraphQL variable.
    Variable,
}

impl fmt::Display for ParamLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamLocation::Query => "query parameter",
            ParamLocation::Body => "body field",
            ParamLocation::Header => "header",
            ParamLocation::Variable => "variable",
        })
    }
}

/// A named request parameter slot: where a strategy puts a token or a page size.
///
/// ```
/// use connector_core::pagination::{Param, ParamLocation};
///
/// let p = Param::query("pageToken");
/// assert_eq!((p.location, p.name.as_str()), (ParamLocation::Query, "pageToken"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Param {
    /// Where the parameter goes.
    pub location: ParamLocation,
    /// Its name (query parameter, body field, header or variable name).
    pub name: String,
}

impl Param {
    /// A parameter at `location` called `name`.
    pub fn new(location: ParamLocation, name: impl Into<String>) -> Self {
        Self {
            location,
            name: name.into(),
        }
    }

    /// A URL query parameter.
    pub fn query(name: impl Into<String>) -> Self {
        Self::new(ParamLocation::Query, name)
    }

    /// A top-level JSON body field.
    pub fn body(name: impl Into<String>) -> Self {
        Self::new(ParamLocation::Body, name)
    }

    /// A request header.
    pub fn header(name: impl Into<String>) -> Self {
        Self::new(ParamLocation::Header, name)
    }

    /// A GraphQL variable.
    pub fn variable(name: impl Into<String>) -> Self {
        Self::new(ParamLocation::Variable, name)
    }
}

/// The value of a request parameter: text (tokens) or an integer (offsets, page
/// numbers and sizes, which GraphQL wants as `Int`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamValue {
    /// A string, such as a cursor.
    Text(String),
    /// A non-negative integer, such as an offset or a page size.
    Integer(u64),
}

impl ParamValue {
    /// The value as text, for query parameters and headers.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            ParamValue::Text(s) => Cow::Borrowed(s),
            ParamValue::Integer(n) => Cow::Owned(n.to_string()),
        }
    }

    /// The value as JSON, for body fields and GraphQL variables.
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Text(s) => Value::String(s.clone()),
            ParamValue::Integer(n) => Value::from(*n),
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// One parameter a [`PageRequest`] asks the fetcher to send.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestParam {
    /// Where it goes.
    pub location: ParamLocation,
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: ParamValue,
}

impl RequestParam {
    pub(crate) fn new(param: &Param, value: ParamValue) -> Self {
        Self {
            location: param.location,
            name: param.name.clone(),
            value,
        }
    }
}

/// The position a request points at, typed per strategy family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The first page of a cursor or next-URL strategy.
    Start,
    /// A URL to follow as given (next-URL and Link strategies).
    Url(String),
    /// A cursor to send back (cursor, continuation and GraphQL strategies).
    Cursor(String),
    /// An item offset.
    Offset(u64),
    /// A page number.
    PageNumber(u64),
}

/// What the fetcher must ask for: one page of the collection.
///
/// A fetcher (the HTTP binding, or an in-memory fake) builds its request from the
/// typed accessors or, more generically, by applying [`PageRequest::params`] and
/// following [`PageRequest::next_url`] when there is one. The first page of a
/// fresh read has no [`token`](PageRequest::token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub(crate) index: u64,
    pub(crate) token: Option<String>,
    pub(crate) page_size: u32,
    pub(crate) target: Target,
    pub(crate) params: Vec<RequestParam>,
}

impl PageRequest {
    /// The position of this page in the stream: 0 for the first page the stream
    /// fetches (also when it starts from a resume token).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The token that selects this page: `None` for the first page of a fresh
    /// read, otherwise the previous page's resume token (or the resume token the
    /// stream started from).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether this is the first page of a fresh read (no token).
    pub fn is_first(&self) -> bool {
        self.token.is_none()
    }

    /// The page size asked for (see
    /// [`PaginateOptions::page_size`](super::PaginateOptions::page_size)). It is
    /// sent only when the strategy names a parameter for it.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The item offset to request (offset strategies only).
    pub fn offset(&self) -> Option<u64> {
        match self.target {
            Target::Offset(o) => Some(o),
            _ => None,
        }
    }

    /// The page number to request (page-number strategies only).
    pub fn page_number(&self) -> Option<u64> {
        match self.target {
            Target::PageNumber(n) => Some(n),
            _ => None,
        }
    }

    /// The URL to request as given, instead of the collection URL (next-URL and
    /// Link strategies, every page but the first). It may be relative: resolve it
    /// against the URL of the request that returned it.
    pub fn next_url(&self) -> Option<&str> {
        match &self.target {
            Target::Url(u) => Some(u),
            _ => None,
        }
    }

    /// The cursor to send back (cursor, continuation-header and GraphQL
    /// strategies, every page but the first). It is also among
    /// [`params`](PageRequest::params), at the place the strategy names.
    pub fn cursor(&self) -> Option<&str> {
        match &self.target {
            Target::Cursor(c) => Some(c),
            _ => None,
        }
    }

    /// Every parameter to send with this request: cursor, offset, page number,
    /// page size, each with its location and name. Empty when the request is a
    /// [`next_url`](PageRequest::next_url) to follow as given.
    pub fn params(&self) -> &[RequestParam] {
        &self.params
    }

    /// The parameters to send at `location`.
    pub fn params_at(&self, location: ParamLocation) -> impl Iterator<Item = &RequestParam> {
        self.params.iter().filter(move |p| p.location == location)
    }
}
