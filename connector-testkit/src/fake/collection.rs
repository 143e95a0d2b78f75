//! A paginated collection: a `Vec<Value>` served in any pagination style.
//!
//! Every style reduces a request to an offset and a page size, serves that slice
//! of the (optionally `since`-filtered) data, and writes the style's signals (a
//! cursor in the body, a next URL, a `Link` header, a total, a more-flag, a
//! continuation header, a relay `pageInfo`) into the response. Cursors and page
//! tokens are opaque and checksummed: a client that builds them instead of
//! following them gets **400**. Data is read at request time, so mutations through
//! the [`CollectionHandle`] show in the next page served.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request};

use super::time::{format_like, parse_str, parse_timestamp};
use super::{AuthGuard, FakeApi, Reply, RouteInfo, Shared};
use crate::rng::SplitMix64;

/// A vendor query: the items a request selects from the collection, in serving
/// order (filtered, sorted, projected, with synthetic entries such as deletion
/// markers), or the detail of a **400**.
type QueryFn = dyn Fn(&Request, Vec<Value>) -> Result<Vec<Value>, String> + Send + Sync;
/// Adds vendor signals to a page: headers and envelope fields.
type DecorateFn = dyn Fn(&Request, &PageInfo, &mut Value, &mut Vec<(String, String)>) + Send + Sync;
/// Reads the page size a request asks for, where no query parameter carries it.
type PageSizeFn = dyn Fn(&Request) -> Result<Option<u32>, String> + Send + Sync;

/// Vendor hooks of a collection (see [`FakeCollection::query`],
/// [`FakeCollection::decorate`], [`FakeCollection::page_size_from`]).
#[derive(Clone, Default)]
struct Hooks {
    query: Option<Arc<QueryFn>>,
    decorate: Option<Arc<DecorateFn>>,
    page_size: Option<Arc<PageSizeFn>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("query", &self.query.is_some())
            .field("decorate", &self.decorate.is_some())
            .field("page_size", &self.page_size.is_some())
            .finish()
    }
}

/// The page a [`FakeCollection::decorate`] hook is adding signals to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageInfo {
    /// The offset of the page's first item in the selected items.
    pub offset: u64,
    /// The page size asked for.
    pub size: u32,
    /// How many items the request selects in all.
    pub total: u64,
    /// How many items the page holds.
    pub len: usize,
    /// Whether more pages follow.
    pub has_next: bool,
    /// The URL the client reached the fake with (`http://127.0.0.1:PORT`).
    pub base: String,
}

/// How a collection is paged. Each constructor uses the parameter names of the
/// matching `connector-core` strategy's defaults; setters change them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Paging {
    /// A cursor in the body (Slack, Stripe, Google `nextPageToken`), sent back as a
    /// query parameter.
    Cursor {
        /// Body path of the next cursor (`next_cursor`, `response_metadata.next_cursor`).
        cursor_path: String,
        /// Query parameter the client sends it back in (`cursor`, `pageToken`).
        token_param: String,
        /// Query parameter of the page size (`limit`), if any.
        size_param: Option<String>,
        /// Body path of a has-more flag (`has_more`), if any.
        has_more_path: Option<String>,
    },
    /// A next-page URL in the body (`@odata.nextLink`, `links.next`, `next`),
    /// carrying an opaque token parameter.
    NextUrl {
        /// Body path of the next URL.
        next_path: String,
        /// The token parameter inside the URL (`$skiptoken`).
        token_param: String,
        /// Query parameter of the page size on the first request (`$top`).
        size_param: Option<String>,
    },
    /// GitHub/GitLab/Okta: `Link: <...page=2>; rel="next"`, page numbers from 1.
    LinkHeader {
        /// The page-number parameter inside the link (`page`).
        page_param: String,
        /// The page-size parameter (`per_page`).
        size_param: Option<String>,
    },
    /// Offset and limit (ServiceNow, Jira, PagerDuty).
    Offset {
        /// The offset parameter.
        offset_param: String,
        /// The limit parameter.
        limit_param: String,
        /// Body path of the total, if sent.
        total_path: Option<String>,
        /// Body path of a more-flag (`more`), if sent.
        more_path: Option<String>,
        /// A header carrying the total (`X-Total-Count`), if sent.
        total_header: Option<String>,
    },
    /// Page number and size.
    PageNumber {
        /// The page parameter.
        page_param: String,
        /// The size parameter.
        size_param: Option<String>,
        /// The number of the first page (0 or 1).
        first_page: u64,
        /// Body path of the total count, if sent.
        total_path: Option<String>,
        /// Body path of the total pages, if sent.
        total_pages_path: Option<String>,
    },
    /// A continuation token in a response header, sent back as a request header
    /// (Azure DevOps `x-ms-continuationtoken`) or query parameter.
    Continuation {
        /// The response header.
        header: String,
        /// The request header the client sends it back in; the same name by default.
        request_header: Option<String>,
        /// Or the query parameter, when set.
        request_query: Option<String>,
        /// Query parameter of the page size, if any.
        size_param: Option<String>,
    },
    /// GraphQL relay: a `POST` whose `variables` carry `first` and `after`; items
    /// at `<connection>.nodes`, `pageInfo { hasNextPage endCursor }` beside them.
    Relay {
        /// Body path of the connection object (`data.repository.issues`).
        connection_path: String,
        /// The cursor variable.
        after_variable: String,
        /// The page-size variable.
        first_variable: String,
    },
}

impl Paging {
    /// `next_cursor` in the body, sent back as `cursor`, page size as `limit`.
    pub fn cursor() -> Self {
        Paging::Cursor {
            cursor_path: "next_cursor".to_owned(),
            token_param: "cursor".to_owned(),
            size_param: Some("limit".to_owned()),
            has_more_path: None,
        }
    }

    /// A next URL at body path `next_path` (token `page_token`, size `limit`).
    pub fn next_url(next_path: impl Into<String>) -> Self {
        Paging::NextUrl {
            next_path: next_path.into(),
            token_param: "page_token".to_owned(),
            size_param: Some("limit".to_owned()),
        }
    }

    /// Microsoft Graph: `@odata.nextLink` with `$skiptoken`, page size `$top`.
    pub fn odata() -> Self {
        Paging::NextUrl {
            next_path: "@odata.nextLink".to_owned(),
            token_param: "$skiptoken".to_owned(),
            size_param: Some("$top".to_owned()),
        }
    }

    /// `Link` header with `page` and `per_page` (GitHub).
    pub fn link_header() -> Self {
        Paging::LinkHeader {
            page_param: "page".to_owned(),
            size_param: Some("per_page".to_owned()),
        }
    }

    /// `offset` and `limit`, ending on a short page (no total sent).
    pub fn offset() -> Self {
        Paging::Offset {
            offset_param: "offset".to_owned(),
            limit_param: "limit".to_owned(),
            total_path: None,
            more_path: None,
            total_header: None,
        }
    }

    /// `page` (from 1) and `per_page`, ending on a short page.
    pub fn page_number() -> Self {
        Paging::PageNumber {
            page_param: "page".to_owned(),
            size_param: Some("per_page".to_owned()),
            first_page: 1,
            total_path: None,
            total_pages_path: None,
        }
    }

    /// A continuation token in response header `header`, sent back in the request
    /// header of the same name.
    pub fn continuation(header: impl Into<String>) -> Self {
        Paging::Continuation {
            header: header.into(),
            request_header: None,
            request_query: None,
            size_param: None,
        }
    }

    /// GraphQL relay with the connection at `connection_path`, variables `first`
    /// and `after`.
    pub fn relay(connection_path: impl Into<String>) -> Self {
        Paging::Relay {
            connection_path: connection_path.into(),
            after_variable: "after".to_owned(),
            first_variable: "first".to_owned(),
        }
    }

    /// Renames the parameters of offset (`offset`, `limit`), page-number (`page`,
    /// `per_page`) and link-header (`page`, `per_page`) styles; for cursor and
    /// next-URL styles, the token and size parameters.
    pub fn with_params(mut self, position: &str, size: &str) -> Self {
        match &mut self {
            Paging::Cursor {
                token_param,
                size_param,
                ..
            }
            | Paging::NextUrl {
                token_param,
                size_param,
                ..
            } => {
                *token_param = position.to_owned();
                *size_param = Some(size.to_owned());
            }
            Paging::LinkHeader {
                page_param,
                size_param,
            }
            | Paging::PageNumber {
                page_param,
                size_param,
                ..
            } => {
                *page_param = position.to_owned();
                *size_param = Some(size.to_owned());
            }
            Paging::Offset {
                offset_param,
                limit_param,
                ..
            } => {
                *offset_param = position.to_owned();
                *limit_param = size.to_owned();
            }
            Paging::Continuation { size_param, .. } => *size_param = Some(size.to_owned()),
            Paging::Relay {
                after_variable,
                first_variable,
                ..
            } => {
                *after_variable = position.to_owned();
                *first_variable = size.to_owned();
            }
        }
        self
    }

    /// Sends the total at body path `path` (offset and page-number styles).
    pub fn with_total(mut self, at: &str) -> Self {
        match &mut self {
            Paging::Offset { total_path, .. } | Paging::PageNumber { total_path, .. } => {
                *total_path = Some(at.to_owned());
            }
            _ => {}
        }
        self
    }

    /// Sends a more-flag at body path `path` (offset style, PagerDuty `more`) or a
    /// has-more flag (cursor style, Stripe `has_more`).
    pub fn with_more_flag(mut self, at: &str) -> Self {
        match &mut self {
            Paging::Offset { more_path, .. } => *more_path = Some(at.to_owned()),
            Paging::Cursor { has_more_path, .. } => *has_more_path = Some(at.to_owned()),
            _ => {}
        }
        self
    }

    /// Sends the total in header `name` (offset style; ServiceNow `X-Total-Count`).
    pub fn with_total_header(mut self, name: &str) -> Self {
        if let Paging::Offset { total_header, .. } = &mut self {
            *total_header = Some(name.to_owned());
        }
        self
    }

    /// Sends the number of pages at body path `path` (page-number style).
    pub fn with_total_pages(mut self, at: &str) -> Self {
        if let Paging::PageNumber {
            total_pages_path, ..
        } = &mut self
        {
            *total_pages_path = Some(at.to_owned());
        }
        self
    }

    /// Numbers pages from `first` (page-number style).
    pub fn with_first_page(mut self, first: u64) -> Self {
        if let Paging::PageNumber { first_page, .. } = &mut self {
            *first_page = first;
        }
        self
    }

    /// Reads the continuation token back from query parameter `name` (continuation style).
    pub fn with_token_query(mut self, name: &str) -> Self {
        if let Paging::Continuation { request_query, .. } = &mut self {
            *request_query = Some(name.to_owned());
        }
        self
    }

    fn body_paths(&self) -> Vec<&str> {
        match self {
            Paging::Cursor {
                cursor_path,
                has_more_path,
                ..
            } => std::iter::once(cursor_path.as_str())
                .chain(has_more_path.as_deref())
                .collect(),
            Paging::NextUrl { next_path, .. } => vec![next_path],
            Paging::Offset {
                total_path,
                more_path,
                ..
            } => total_path
                .iter()
                .chain(more_path)
                .map(String::as_str)
                .collect(),
            Paging::PageNumber {
                total_path,
                total_pages_path,
                ..
            } => total_path
                .iter()
                .chain(total_pages_path)
                .map(String::as_str)
                .collect(),
            Paging::LinkHeader { .. } | Paging::Continuation { .. } | Paging::Relay { .. } => {
                Vec::new()
            }
        }
    }

    fn http_method(&self) -> &'static str {
        match self {
            Paging::Relay { .. } => "POST",
            _ => "GET",
        }
    }
}

/// Where the items sit in a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Envelope {
    /// The body is the array (GitHub, Okta).
    Bare,
    /// `{"<key>": [...], ...}`: `items`, `users` (PagerDuty), `records` (Salesforce).
    Key(String),
    /// Microsoft Graph: `{"@odata.context": .., "value": [...], "@odata.nextLink": ..}`.
    OData,
    /// JSON:API: `{"data": [...], "links": {self, first, prev, next, last}, "meta": {"pagination": ..}}`.
    JsonApi,
}

impl Envelope {
    /// `{"items": [...]}`.
    pub fn items() -> Self {
        Envelope::Key("items".to_owned())
    }

    /// ServiceNow: `{"result": [...]}`.
    pub fn result() -> Self {
        Envelope::Key("result".to_owned())
    }

    /// `{"<key>": [...]}`.
    pub fn key(key: impl Into<String>) -> Self {
        Envelope::Key(key.into())
    }

    /// The body path of the items (`""` for a bare array).
    pub fn items_path(&self) -> &str {
        match self {
            Envelope::Bare => "",
            Envelope::Key(k) => k,
            Envelope::OData => "value",
            Envelope::JsonApi => "data",
        }
    }
}

/// A collection to mount on a [`FakeApi`].
///
/// Defaults: pages of 10, no maximum, [`Paging::offset`], [`Envelope::items`],
/// id field `id`, no updated field, no `since` filter, the API's auth guard.
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeCollection {
    name: String,
    path: String,
    items: Vec<Value>,
    paging: Paging,
    envelope: Envelope,
    page_size: u32,
    max_page_size: Option<u32>,
    id_field: String,
    updated_field: Option<String>,
    since_param: Option<String>,
    auth: Option<Option<AuthGuard>>,
    extra_paths: Vec<String>,
    hooks: Hooks,
}

impl FakeCollection {
    /// The collection `name` (the entity it holds) at `path`, serving `items`.
    pub fn new(name: impl Into<String>, path: impl Into<String>, items: Vec<Value>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            items,
            paging: Paging::offset(),
            envelope: Envelope::items(),
            page_size: 10,
            max_page_size: None,
            id_field: "id".to_owned(),
            updated_field: None,
            since_param: None,
            auth: None,
            extra_paths: Vec::new(),
            hooks: Hooks::default(),
        }
    }

    /// Pages the collection with `paging`.
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// Wraps pages in `envelope`.
    pub fn envelope(mut self, envelope: Envelope) -> Self {
        self.envelope = envelope;
        self
    }

    /// The page size when the client sends none.
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Answers **400** (with the vendor's body) when a client asks for more.
    pub fn max_page_size(mut self, max: u32) -> Self {
        self.max_page_size = Some(max.max(1));
        self
    }

    /// The field holding each item's id (`id`, `sys_id`).
    pub fn id_field(mut self, field: impl Into<String>) -> Self {
        self.id_field = field.into();
        self
    }

    /// The field holding each item's last-modified time (`updated_at`,
    /// `sys_updated_on`), which [`CollectionHandle::touch`] moves.
    pub fn updated_field(mut self, field: impl Into<String>) -> Self {
        self.updated_field = Some(field.into());
        self
    }

    /// Filters by query parameter `param`: only items whose `updated_field` is at
    /// or after its timestamp are served (GitHub `since`).
    pub fn since_param(
        mut self,
        param: impl Into<String>,
        updated_field: impl Into<String>,
    ) -> Self {
        self.since_param = Some(param.into());
        self.updated_field = Some(updated_field.into());
        self
    }

    /// Uses `guard` (or none) instead of the API's guard.
    pub fn auth(mut self, guard: Option<AuthGuard>) -> Self {
        self.auth = Some(guard);
        self
    }

    /// Also serves the collection at `path` (one route, one log name, one data
    /// set): Microsoft Graph lists users at `/users` and tracks them at
    /// `/users/delta`. Hooks can tell the paths apart by `request.url.path()`.
    pub fn also_at(mut self, path: impl Into<String>) -> Self {
        self.extra_paths.push(path.into());
        self
    }

    /// Selects the items a request is served with a vendor query: `select` gets the
    /// request and the items (after any `since` filter) and returns the items to
    /// page through, in order, or the detail of a **400** with the vendor's body.
    /// ServiceNow's `sysparm_query`/`sysparm_fields` and Graph's `$select` and
    /// delta tokens are written this way.
    pub fn query(
        mut self,
        select: impl Fn(&Request, Vec<Value>) -> Result<Vec<Value>, String> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.query = Some(Arc::new(select));
        self
    }

    /// Adds vendor signals to every page: `decorate` gets the request, the page's
    /// [`PageInfo`], the body and the headers (after the paging style wrote its
    /// own) and may change them (ServiceNow's `Link` header, Graph's
    /// `@odata.deltaLink` and `@odata.count`). Not called for the relay style.
    pub fn decorate(
        mut self,
        decorate: impl Fn(&Request, &PageInfo, &mut Value, &mut Vec<(String, String)>)
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.hooks.decorate = Some(Arc::new(decorate));
        self
    }

    /// Reads the page size from the request with `read` instead of the style's
    /// size parameter: `Ok(None)` serves the default size, `Err` a **400** with
    /// the detail (Graph's `Prefer: odata.maxpagesize=N`). The maximum page size
    /// still applies.
    pub fn page_size_from(
        mut self,
        read: impl Fn(&Request) -> Result<Option<u32>, String> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.page_size = Some(Arc::new(read));
        self
    }

    /// Mounts the collection and returns the handle to its data.
    ///
    /// # Errors
    ///
    /// A message when the envelope cannot carry the style's body signals (a bare
    /// array cannot hold a cursor).
    pub async fn mount(self, api: &FakeApi) -> Result<CollectionHandle, String> {
        if self.envelope == Envelope::Bare && !self.paging.body_paths().is_empty() {
            return Err(format!(
                "collection `{}`: a bare-array envelope cannot carry the body fields {:?} of {:?}",
                self.name,
                self.paging.body_paths(),
                self.paging
            ));
        }
        let page_size = self
            .max_page_size
            .map_or(self.page_size, |max| self.page_size.min(max));
        let handle = CollectionHandle(Arc::new(State {
            name: self.name,
            path: self.path,
            paging: self.paging,
            envelope: self.envelope,
            page_size,
            max_page_size: self.max_page_size,
            id_field: self.id_field,
            updated_field: self.updated_field,
            since_param: self.since_param,
            hooks: self.hooks,
            items: Mutex::new(self.items),
        }));
        let shared = Arc::clone(api.shared());
        let verb = handle.0.paging.http_method();
        shared.add_route(format!("{verb} {} ({})", handle.0.path, handle.0.name));
        let route = RouteInfo {
            name: handle.0.name.clone(),
            auth: self.auth,
        };
        let state = handle.clone();
        let gates = Arc::clone(&shared);
        let responder = move |request: &Request| {
            let shared = &gates;
            let page = state
                .decode(request)
                .ok()
                .map(|p| p.offset / u64::from(p.size));
            shared.serve(&route, request, page, |request| {
                state.render(request, shared)
            })
        };
        for extra in &self.extra_paths {
            shared.add_route(format!("{verb} {extra} ({})", handle.0.name));
        }
        let paths = std::iter::once(handle.0.path.clone()).chain(self.extra_paths);
        for at in paths {
            Mock::given(method(verb))
                .and(path(at.as_str()))
                .respond_with(responder.clone())
                .named(format!("collection {} at {at}", handle.0.name))
                .mount(api.server())
                .await;
        }
        api.register_collection(handle.clone());
        Ok(handle)
    }
}

struct State {
    name: String,
    path: String,
    paging: Paging,
    envelope: Envelope,
    page_size: u32,
    max_page_size: Option<u32>,
    id_field: String,
    updated_field: Option<String>,
    since_param: Option<String>,
    hooks: Hooks,
    items: Mutex<Vec<Value>>,
}

/// The data of a mounted collection, shared with its route: read it, and change it
/// between (or during) reads.
#[derive(Clone)]
pub struct CollectionHandle(Arc<State>);

impl fmt::Debug for CollectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectionHandle")
            .field("name", &self.0.name)
            .field("path", &self.0.path)
            .field("paging", &self.0.paging)
            .field("len", &self.len())
            .finish()
    }
}

/// A page a request asked for.
#[derive(Debug, Clone, Copy)]
struct PageAsk {
    offset: u64,
    size: u32,
}

impl CollectionHandle {
    fn items_guard(&self) -> MutexGuard<'_, Vec<Value>> {
        self.0.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The path it is served at.
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The paging style.
    pub fn paging(&self) -> &Paging {
        &self.0.paging
    }

    /// The default page size.
    pub fn default_page_size(&self) -> u32 {
        self.0.page_size
    }

    /// The maximum page size, if any.
    pub fn max_page_size(&self) -> Option<u32> {
        self.0.max_page_size
    }

    /// The id field.
    pub fn id_field(&self) -> &str {
        &self.0.id_field
    }

    /// The updated field, if configured.
    pub fn updated_field(&self) -> Option<&str> {
        self.0.updated_field.as_deref()
    }

    /// A copy of the items, in serving order.
    pub fn items(&self) -> Vec<Value> {
        self.items_guard().clone()
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items_guard().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of `item`, as a string (numbers in decimal).
    pub fn id_of(&self, item: &Value) -> Option<String> {
        match item.get(&self.0.id_field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The ids of the items, in order.
    pub fn ids(&self) -> Vec<String> {
        self.items_guard()
            .iter()
            .filter_map(|i| self.id_of(i))
            .collect()
    }

    /// The item with id `id`.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.items_guard()
            .iter()
            .find(|i| self.id_of(i).as_deref() == Some(id))
            .cloned()
    }

    /// The last-modified time of `item`, if it has one.
    pub fn updated_of(&self, item: &Value) -> Option<DateTime<Utc>> {
        parse_timestamp(field_at(item, self.0.updated_field.as_deref()?)?)
    }

    /// The latest last-modified time in the collection.
    pub fn max_updated(&self) -> Option<DateTime<Utc>> {
        self.items_guard()
            .iter()
            .filter_map(|i| self.updated_of(i))
            .max()
    }

    /// The items changed at or after `since` (what the `since` filter serves).
    pub fn changed_since(&self, since: DateTime<Utc>) -> Vec<Value> {
        self.items_guard()
            .iter()
            .filter(|i| self.updated_of(i).is_none_or(|t| t >= since))
            .cloned()
            .collect()
    }

    /// Appends an item.
    pub fn insert(&self, item: Value) {
        self.items_guard().push(item);
    }

    /// Changes the item `id` with `change`; false when there is none.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Value)) -> bool {
        let mut items = self.items_guard();
        match items
            .iter_mut()
            .find(|i| self.id_of(i).as_deref() == Some(id))
        {
            Some(item) => {
                change(item);
                true
            }
            None => false,
        }
    }

    /// Sets the updated field of item `id` to `at`, in the format it already has;
    /// false when there is no such item or no updated field.
    pub fn touch(&self, id: &str, at: DateTime<Utc>) -> bool {
        let Some(field) = self.0.updated_field.clone() else {
            return false;
        };
        self.update(id, |item| {
            let like = field_at(item, &field).cloned().unwrap_or(Value::Null);
            let value = format_like(&like, at);
            match item.as_object_mut() {
                // A dotted path (`fields.updated`, Jira) names a nested field unless
                // the item has a top-level key of that name.
                Some(obj) if field.contains('.') && !obj.contains_key(&field) => {
                    set_path(item, &field, value);
                }
                Some(obj) => {
                    obj.insert(field, value);
                }
                None => {}
            }
        })
    }

    /// Removes item `id`; false when there is none.
    pub fn delete(&self, id: &str) -> bool {
        let mut items = self.items_guard();
        let before = items.len();
        items.retain(|i| self.id_of(i).as_deref() != Some(id));
        items.len() != before
    }

    /// Replaces every item.
    pub fn replace(&self, items: Vec<Value>) {
        *self.items_guard() = items;
    }

    fn bad_request(detail: String) -> Result<PageAsk, String> {
        Err(detail)
    }

    fn decode(&self, request: &Request) -> Result<PageAsk, String> {
        let s = &*self.0;
        let query = |name: &str| -> Option<String> {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let body: Value = if matches!(s.paging, Paging::Relay { .. }) {
            serde_json::from_slice(&request.body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let size_raw = match &s.paging {
            Paging::Relay { first_variable, .. } => body
                .pointer(&format!("/variables/{first_variable}"))
                .filter(|v| !v.is_null())
                .map(|v| v.to_string()),
            Paging::Offset { limit_param, .. } => query(limit_param),
            Paging::Cursor { size_param, .. }
            | Paging::NextUrl { size_param, .. }
            | Paging::LinkHeader { size_param, .. }
            | Paging::PageNumber { size_param, .. }
            | Paging::Continuation { size_param, .. } => size_param.as_deref().and_then(query),
        };
        let size_raw = match &s.hooks.page_size {
            Some(read) => read(request)?.map(|n| n.to_string()),
            None => size_raw,
        };
        let size = match size_raw {
            None => s.page_size,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Self::bad_request(format!(
                        "page size `{raw}` must be a positive integer"
                    ));
                }
            },
        };
        if let Some(max) = s.max_page_size
            && size > max
        {
            return Self::bad_request(format!(
                "page size {size} is larger than the maximum of {max}"
            ));
        }
        let token = |raw: Option<String>| -> Result<u64, String> {
            match raw {
                None => Ok(0),
                Some(t) if t.is_empty() => Ok(0),
                Some(t) => decode_token(&s.name, &t)
                    .ok_or_else(|| format!("page token `{t}` is not valid for this collection")),
            }
        };
        let number = |raw: Option<String>, default: u64, what: &str| -> Result<u64, String> {
            match raw {
                None => Ok(default),
                Some(r) => r
                    .parse::<u64>()
                    .map_err(|_| format!("{what} `{r}` must be a non-negative integer")),
            }
        };
        let offset = match &s.paging {
            Paging::Cursor { token_param, .. } | Paging::NextUrl { token_param, .. } => {
                token(query(token_param))?
            }
            Paging::Continuation {
                header,
                request_header,
                request_query,
                ..
            } => {
                let raw = match request_query {
                    Some(q) => query(q),
                    None => request
                        .headers
                        .get(
                            request_header
                                .as_deref()
                                .unwrap_or(header)
                                .to_ascii_lowercase()
                                .as_str(),
                        )
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                };
                token(raw)?
            }
            Paging::Relay { after_variable, .. } => token(
                body.pointer(&format!("/variables/{after_variable}"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )?,
            Paging::Offset { offset_param, .. } => number(query(offset_param), 0, "offset")?,
            Paging::LinkHeader { page_param, .. } => {
                let page = number(query(page_param), 1, "page")?;
                if page < 1 {
                    return Self::bad_request(format!("page `{page}` must be at least 1"));
                }
                (page - 1) * u64::from(size)
            }
            Paging::PageNumber {
                page_param,
                first_page,
                ..
            } => {
                let page = number(query(page_param), *first_page, "page")?;
                if page < *first_page {
                    return Self::bad_request(format!(
                        "page `{page}` must be at least {first_page}"
                    ));
                }
                (page - first_page) * u64::from(size)
            }
        };
        Ok(PageAsk { offset, size })
    }

    fn filtered(&self, request: &Request) -> Result<Vec<Value>, String> {
        let items = self.since_filtered(request)?;
        match &self.0.hooks.query {
            Some(select) => select(request, items),
            None => Ok(items),
        }
    }

    fn since_filtered(&self, request: &Request) -> Result<Vec<Value>, String> {
        let Some(param) = &self.0.since_param else {
            return Ok(self.items());
        };
        let raw = request
            .url
            .query_pairs()
            .find(|(k, _)| k == param.as_str())
            .map(|(_, v)| v.into_owned());
        match raw {
            None => Ok(self.items()),
            Some(raw) => match parse_str(&raw) {
                Some(since) => Ok(self.changed_since(since)),
                None => Err(format!(
                    "`{param}` must be an ISO 8601 timestamp, got `{raw}`"
                )),
            },
        }
    }

    fn render(&self, request: &Request, shared: &Shared) -> Reply {
        let s = &*self.0;
        let bad = |detail: String| Reply::json(400, &shared.errors.body(400, &detail));
        let ask = match self.decode(request) {
            Ok(a) => a,
            Err(detail) => return bad(detail),
        };
        let data = match self.filtered(request) {
            Ok(d) => d,
            Err(detail) => return bad(detail),
        };
        let total = data.len() as u64;
        let start = ask.offset.min(total) as usize;
        let end = (ask.offset.saturating_add(u64::from(ask.size))).min(total) as usize;
        let page: Vec<Value> = data
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let next = (end as u64) < total && !page.is_empty();
        let page_len = page.len();
        let next_offset = end as u64;
        let size = u64::from(ask.size);
        let base = shared.request_base(request);
        let url_at = |offset: u64| self.url_for(request, &base, offset, ask.size);

        let mut body_signals: Vec<(String, Value)> = Vec::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        match &s.paging {
            Paging::Cursor {
                cursor_path,
                has_more_path,
                ..
            } => {
                let cursor = if next {
                    Value::String(encode_token(&s.name, next_offset))
                } else {
                    Value::Null
                };
                body_signals.push((cursor_path.clone(), cursor));
                if let Some(p) = has_more_path {
                    body_signals.push((p.clone(), Value::Bool(next)));
                }
            }
            Paging::NextUrl { next_path, .. } => {
                if next && let Some(url) = url_at(next_offset) {
                    body_signals.push((next_path.clone(), Value::String(url)));
                }
            }
            Paging::LinkHeader { .. } => {
                let last_offset = if total == 0 {
                    0
                } else {
                    (total - 1) / size * size
                };
                let mut links = Vec::new();
                if next && let Some(url) = url_at(next_offset) {
                    links.push(format!("<{url}>; rel=\"next\""));
                }
                if (next || ask.offset > 0)
                    && let Some(url) = url_at(last_offset)
                {
                    links.push(format!("<{url}>; rel=\"last\""));
                }
                if ask.offset > 0 {
                    if let Some(url) = url_at(0) {
                        links.push(format!("<{url}>; rel=\"first\""));
                    }
                    if let Some(url) = url_at(ask.offset.saturating_sub(size)) {
                        links.push(format!("<{url}>; rel=\"prev\""));
                    }
                }
                if !links.is_empty() {
                    headers.push(("link".to_owned(), links.join(", ")));
                }
            }
            Paging::Offset {
                total_path,
                more_path,
                total_header,
                offset_param,
                limit_param,
            } => {
                if let Some(p) = total_path {
                    body_signals.push((p.clone(), json!(total)));
                }
                if let Some(p) = more_path {
                    body_signals.push((p.clone(), Value::Bool(next)));
                    // PagerDuty echoes the paging parameters.
                    body_signals.push((offset_param.clone(), json!(ask.offset)));
                    body_signals.push((limit_param.clone(), json!(ask.size)));
                }
                if let Some(h) = total_header {
                    headers.push((h.clone(), total.to_string()));
                }
            }
            Paging::PageNumber {
                total_path,
                total_pages_path,
                ..
            } => {
                if let Some(p) = total_path {
                    body_signals.push((p.clone(), json!(total)));
                }
                if let Some(p) = total_pages_path {
                    body_signals.push((p.clone(), json!(total.div_ceil(size))));
                }
            }
            Paging::Continuation { header, .. } => {
                if next {
                    headers.push((header.clone(), encode_token(&s.name, next_offset)));
                }
            }
            Paging::Relay {
                connection_path, ..
            } => {
                let end_cursor = if page.is_empty() {
                    Value::Null
                } else {
                    Value::String(encode_token(&s.name, next_offset))
                };
                let mut body = Value::Object(Map::new());
                set_path(
                    &mut body,
                    connection_path,
                    json!({
                        "totalCount": total,
                        "nodes": page,
                        "pageInfo": { "hasNextPage": next, "endCursor": end_cursor },
                    }),
                );
                let mut reply = Reply::json(200, &body);
                reply.headers = headers;
                return reply;
            }
        }

        let mut body = match &s.envelope {
            Envelope::Bare => Value::Array(page),
            Envelope::Key(k) => json!({ k.as_str(): page }),
            Envelope::OData => json!({
                "@odata.context": format!("{base}/$metadata#{}", s.name),
                "value": page,
            }),
            Envelope::JsonApi => {
                let pages = total.div_ceil(size).max(1);
                let current = ask.offset / size + 1;
                let link = |offset: Option<u64>| {
                    offset.and_then(url_at).map_or(Value::Null, Value::String)
                };
                json!({
                    "data": page,
                    "links": {
                        "self": link(Some(ask.offset)),
                        "first": link(Some(0)),
                        "prev": link((ask.offset > 0).then(|| ask.offset.saturating_sub(size))),
                        "next": link(next.then_some(next_offset)),
                        "last": link(Some((pages - 1) * size)),
                    },
                    "meta": { "pagination": {
                        "current-page": current,
                        "page-size": ask.size,
                        "prev-page": if current > 1 { json!(current - 1) } else { Value::Null },
                        "next-page": if next { json!(current + 1) } else { Value::Null },
                        "total-pages": pages,
                        "total-count": total,
                    } },
                })
            }
        };
        for (p, v) in body_signals {
            set_path(&mut body, &p, v);
        }
        if let Some(decorate) = &s.hooks.decorate {
            let info = PageInfo {
                offset: ask.offset,
                size: ask.size,
                total,
                len: page_len,
                has_next: next,
                base: base.clone(),
            };
            decorate(request, &info, &mut body, &mut headers);
        }
        let mut reply = Reply::json(200, &body);
        if s.envelope == Envelope::JsonApi {
            reply.content_type = "application/vnd.api+json".to_owned();
        }
        reply.headers = headers;
        reply
    }

    /// The URL of the page at `offset`: the request's URL with the style's
    /// position parameter set. `None` for styles whose position is not in the URL.
    fn url_for(&self, request: &Request, base: &str, offset: u64, size: u32) -> Option<String> {
        let s = &*self.0;
        let mut url = Url::parse(&format!("{base}{}", request.url.path())).ok()?;
        let (param, value) = match &s.paging {
            Paging::Cursor { token_param, .. } | Paging::NextUrl { token_param, .. } => {
                (token_param.clone(), encode_token(&s.name, offset))
            }
            Paging::LinkHeader { page_param, .. } => (
                page_param.clone(),
                (offset / u64::from(size) + 1).to_string(),
            ),
            Paging::Offset { offset_param, .. } => (offset_param.clone(), offset.to_string()),
            Paging::PageNumber {
                page_param,
                first_page,
                ..
            } => (
                page_param.clone(),
                (offset / u64::from(size) + first_page).to_string(),
            ),
            Paging::Continuation { .. } | Paging::Relay { .. } => return None,
        };
        let size_param = match &s.paging {
            Paging::Offset { limit_param, .. } => Some(limit_param.clone()),
            Paging::Cursor { size_param, .. }
            | Paging::NextUrl { size_param, .. }
            | Paging::LinkHeader { size_param, .. }
            | Paging::PageNumber { size_param, .. } => size_param.clone(),
            _ => None,
        };
        {
            let mut pairs = url.query_pairs_mut();
            let mut size_seen = false;
            for (k, v) in request.url.query_pairs() {
                if k == param.as_str() {
                    continue;
                }
                if size_param.as_deref() == Some(&*k) {
                    size_seen = true;
                    pairs.append_pair(&k, &size.to_string());
                } else {
                    pairs.append_pair(&k, &v);
                }
            }
            if let (false, Some(p)) = (size_seen, &size_param) {
                pairs.append_pair(p, &size.to_string());
            }
            pairs.append_pair(&param, &value);
        }
        Some(url.to_string())
    }
}

/// The value of `field` in `item`: the top-level key of that name, else the
/// dotted path (`fields.updated`) into nested objects.
fn field_at<'v>(item: &'v Value, field: &str) -> Option<&'v Value> {
    if let Some(v) = item.get(field) {
        return Some(v);
    }
    if !field.contains('.') {
        return None;
    }
    field.split('.').try_fold(item, |v, key| v.get(key))
}

fn checksum(name: &str, offset: u64) -> u64 {
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    SplitMix64::new(seed ^ offset).next_u64() & 0xffff_ffff
}

/// An opaque, checksummed page token for `offset` of collection `name`.
fn encode_token(name: &str, offset: u64) -> String {
    format!("tk{offset:x}z{:08x}", checksum(name, offset))
}

fn decode_token(name: &str, token: &str) -> Option<u64> {
    let rest = token.strip_prefix("tk")?;
    let (offset, check) = rest.split_once('z')?;
    let offset = u64::from_str_radix(offset, 16).ok()?;
    let check = u64::from_str_radix(check, 16).ok()?;
    (check == checksum(name, offset)).then_some(offset)
}

/// Sets `path` in `body` (`a.b.c`, creating objects; a key starting with `@` or in
/// double quotes is one literal key).
fn set_path(body: &mut Value, path: &str, value: Value) {
    let keys: Vec<String> = if path.starts_with('@') {
        vec![path.to_owned()]
    } else if let Some(inner) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        vec![inner.to_owned()]
    } else {
        path.split('.').map(str::to_owned).collect()
    };
    let mut cursor = body;
    for (i, key) in keys.iter().enumerate() {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        let Some(obj) = cursor.as_object_mut() else {
            return;
        };
        if i + 1 == keys.len() {
            obj.insert(key.clone(), value);
            return;
        }
        cursor = obj
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_forgeries() {
        let t = encode_token("issues", 40);
        assert_eq!(decode_token("issues", &t), Some(40));
        assert_eq!(decode_token("users", &t), None);
        assert_eq!(decode_token("issues", "tk28z00000000"), None);
        assert_eq!(decode_token("issues", "40"), None);
    }

    #[test]
    fn set_path_nests_and_keeps_literal_keys() {
        let mut v = json!({"items": []});
        set_path(&mut v, "response_metadata.next_cursor", json!("c"));
        set_path(&mut v, "@odata.nextLink", json!("u"));
        assert_eq!(v["response_metadata"]["next_cursor"], "c");
        assert_eq!(v["@odata.nextLink"], "u");
    }
}
