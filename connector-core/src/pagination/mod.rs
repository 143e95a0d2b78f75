//! Pagination: strategies as data, and page streams built from a page fetcher.
//!
//! A connector describes how a collection is paged with a [`Pagination`] value
//! (cursor in the body, next URL, RFC 8288 `Link` header, offset/limit, page
//! number, continuation header or GraphQL relay), which is plain serialisable
//! data. [`paginate`] runs it: it asks an async fetcher for one page at a time
//! with a [`PageRequest`] (the token, offset, page number, URL or parameters to
//! send), reads the response's [`PageSignals`] (headers and JSON envelope) to find
//! the next page, and yields a stream of [`Page`]s. Every page carries a resume
//! token, so a read cut short continues from the last page stored. The stream ends
//! when the cursor ends, a repeated token or a runaway read is a
//! [`Protocol`](crate::ErrorKind::Protocol) error rather than an endless loop, and
//! offset and page-number reads with a known total can keep several pages in
//! flight.
//!
//! This module has no HTTP and no runtime: `connector-http` binds the strategies
//! to requests (query parameters, headers, next URLs, decoding items straight into
//! typed records) and feeds the response headers and envelope back as signals.

mod link;
mod path;
mod request;
mod signals;
mod strategy;
mod stream;

#[cfg(test)]
mod tests;

pub use link::{Link, find_link, parse_link_header};
pub use request::{PageRequest, Param, ParamLocation, ParamValue, RequestParam};
pub use signals::{PageSignals, Signals};
pub use strategy::{
    ContinuationPagination, CursorPagination, EndCondition, Flag, FlagMeaning,
    LinkHeaderPagination, Locator, NextUrlPagination, OffsetPagination, PageNumberPagination,
    Pagination, RelayPagination,
};
pub use stream::{
    DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE, FetchedPage, Page, PaginateOptions, paginate,
};
