//! Fake vendor APIs on wiremock.
//!
//! A [`FakeApi`] is one wiremock server on 127.0.0.1 with a loud fallback (any
//! request no route matches gets **500** naming the request and the routes that
//! exist), a request log, a [`FaultPlan`], an optional [`RateLimitSim`] and a
//! default [`AuthGuard`] and [`ErrorStyle`]. Routes are mounted on it:
//!
//! - [`FakeCollection`]: a `Vec<Value>` served page by page in any pagination
//!   style of `connector-core` ([`Paging`]), inside a vendor envelope
//!   ([`Envelope`]), with a default and a maximum page size (400 above it), an
//!   incremental `updated since` filter, and a [`CollectionHandle`] to read and
//!   mutate the data between reads;
//! - [`FakeEndpoint`]: one JSON document (the `/user` or `/rate_limit` a
//!   connection test calls).
//! - [`FakeRoute`]: an answer computed per request (a token endpoint checking the
//!   form body, a count following the data).
//!
//! A collection's vendor hooks ([`FakeCollection::query`],
//! [`FakeCollection::decorate`], [`FakeCollection::page_size_from`],
//! [`FakeCollection::also_at`]) express query languages and signals no paging
//! style has (ServiceNow `sysparm_query`, Graph delta links).
//!
//! Every route answers through the same gates, in this order: the fault plan, the
//! auth guard (401 with the vendor's body), the rate limit, then the route itself.
//!
//! ```no_run
//! # async fn demo() {
//! use connector_testkit::fake::{AuthGuard, Envelope, ErrorStyle, FakeApi, FakeCollection, Paging};
//! use serde_json::json;
//!
//! let api = FakeApi::builder()
//!     .auth(AuthGuard::bearer("test-token"))
//!     .errors(ErrorStyle::GitHub)
//!     .start()
//!     .await;
//! let issues = FakeCollection::new("issues", "/repos/o/r/issues", vec![json!({"id": 1}), json!({"id": 2})])
//!     .paging(Paging::link_header())
//!     .envelope(Envelope::Bare)
//!     .mount(&api)
//!     .await
//!     .expect("a valid collection");
//! issues.insert(json!({"id": 3}));
//! # }
//! ```

mod auth;
mod collection;
mod faults;
mod ratelimit;
mod reset;
pub mod time;
mod vendor;

pub use auth::AuthGuard;
pub use collection::{CollectionHandle, Envelope, FakeCollection, PageInfo, Paging};
pub use faults::{Fault, FaultPlan, FaultRule, InjectedFault};
pub use ratelimit::{RateLimitSim, RateLimitStyle};
pub use reset::{ResetMode, ResetProxy};
pub use vendor::ErrorStyle;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::clock::TestClock;
use faults::FaultContext;
use ratelimit::RateLimiter;

/// The name the log gives requests no route matched.
pub const UNMATCHED: &str = "(unmatched)";

/// One request the fake received, with what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// 1 for the fake's first request.
    pub seq: u64,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path.
    pub path: String,
    /// The query parameters, in order, sensitive values redacted.
    pub query: Vec<(String, String)>,
    /// The headers, sensitive values (`Authorization`, API keys) redacted.
    pub headers: Vec<(String, String)>,
    /// The route that answered, or [`UNMATCHED`].
    pub route: String,
    /// The page index the request asked for, for collections.
    pub page: Option<u64>,
    /// The status answered.
    pub status: u16,
    /// The fault injected, if any.
    pub fault: Option<String>,
    /// When it arrived, on the fake's clock, since the fake started.
    pub at: Duration,
}

impl LoggedRequest {
    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response before it becomes a wiremock template, so faults can rework it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: serde_json::to_vec(body).unwrap_or_default(),
            content_type: "application/json".to_owned(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn template(self, delay: Option<Duration>) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status).set_body_raw(self.body, &self.content_type);
        for (name, value) in self.headers {
            t = t.append_header(name.as_str(), value.as_str());
        }
        if let Some(d) = delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// What a route contributes to the shared gates.
#[derive(Debug, Clone)]
pub(crate) struct RouteInfo {
    pub(crate) name: String,
    /// `None`: the API's guard; `Some(None)`: no guard; `Some(Some(g))`: this guard.
    pub(crate) auth: Option<Option<AuthGuard>>,
}

/// State shared by the routes of one fake.
pub(crate) struct Shared {
    pub(crate) clock: TestClock,
    pub(crate) faults: FaultPlan,
    pub(crate) errors: ErrorStyle,
    auth: Option<AuthGuard>,
    base: String,
    seq: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
    limiter: Mutex<Option<RateLimiter>>,
    last: Mutex<HashMap<String, Reply>>,
    collections: Mutex<BTreeMap<String, CollectionHandle>>,
    routes: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The URL a client used to reach this request's path: from `Host`, else the
    /// server's own address.
    pub(crate) fn request_base(&self, request: &Request) -> String {
        request
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(|h| format!("http://{h}"))
            .unwrap_or_else(|| self.base.clone())
    }

    /// Runs `request` through the gates (faults, auth, rate limit) and `respond`.
    pub(crate) fn serve(
        &self,
        route: &RouteInfo,
        request: &Request,
        page: Option<u64>,
        respond: impl FnOnce(&Request) -> Reply,
    ) -> ResponseTemplate {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = self.faults.take(&FaultContext {
            seq,
            route: &route.name,
            page,
        });
        let mut delay = None;
        let guard = match &route.auth {
            None => self.auth.as_ref(),
            Some(g) => g.as_ref(),
        };
        let reply = match &fault {
            Some(Fault::Status {
                status,
                retry_after,
            }) => {
                let mut r = Reply::json(*status, &self.errors.body(*status, "injected fault"));
                if let Some(wait) = retry_after {
                    r = r.with_header("retry-after", wait.as_secs().to_string());
                }
                r
            }
            Some(Fault::EchoRequest) => {
                let mut body = self.errors.body(400, "the request was rejected");
                let received: serde_json::Map<String, Value> = request
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        (k.as_str().to_owned(), Value::String(v))
                    })
                    .collect();
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("received_headers".to_owned(), Value::Object(received));
                } else {
                    body = serde_json::json!({ "errors": body, "received_headers": received });
                }
                Reply::json(400, &body)
            }
            Some(Fault::MalformedJson) => Reply {
                status: 200,
                body: br#"{"items": [{"id": 1,, "name": "broken"#.to_vec(),
                content_type: "application/json".to_owned(),
                headers: Vec::new(),
            },
            Some(Fault::WrongContentType) => Reply {
                status: 200,
                body: b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"
                    .to_vec(),
                content_type: "text/html; charset=utf-8".to_owned(),
                headers: Vec::new(),
            },
            _ if guard.is_some_and(|g| !g.allows(request)) => Reply::json(
                401,
                &self.errors.body(401, "missing or invalid credentials"),
            ),
            other => {
                let decision = lock(&self.limiter).as_mut().map(|l| l.check(&self.clock));
                let mut reply = match decision.as_ref().and_then(|d| d.exceeded) {
                    Some(status) => {
                        Reply::json(status, &self.errors.body(status, "rate limit exceeded"))
                    }
                    None => {
                        let fresh = respond(request);
                        let mut last = lock(&self.last);
                        let previous = last.get(&route.name).cloned();
                        if (200..300).contains(&fresh.status) {
                            last.insert(route.name.clone(), fresh.clone());
                        }
                        match (other, previous) {
                            (Some(Fault::DuplicatePage), Some(previous)) => previous,
                            _ => fresh,
                        }
                    }
                };
                if let Some(d) = decision {
                    reply.headers.extend(d.headers);
                }
                match other {
                    Some(Fault::TruncatedBody) => {
                        let half = reply.body.len() / 2;
                        reply.body.truncate(half);
                    }
                    Some(Fault::Delay(d)) => delay = Some(*d),
                    _ => {}
                }
                reply
            }
        };
        self.record(
            seq,
            request,
            &route.name,
            page,
            reply.status,
            fault.as_ref(),
        );
        reply.template(delay)
    }

    fn record(
        &self,
        seq: u64,
        request: &Request,
        route: &str,
        page: Option<u64>,
        status: u16,
        fault: Option<&Fault>,
    ) {
        let query = request
            .url
            .query_pairs()
            .map(|(k, v)| {
                let v = if connector_core::error::is_sensitive_name(&k) {
                    connector_core::error::REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let headers = request
            .headers
            .iter()
            .map(|(k, v)| {
                let value = if connector_http::secret::is_sensitive_header(k.as_str()) {
                    connector_core::error::REDACTED.to_owned()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                };
                (k.as_str().to_owned(), value)
            })
            .collect();
        let entry = LoggedRequest {
            seq,
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query,
            headers,
            route: route.to_owned(),
            page,
            status,
            fault: fault.map(Fault::name),
            at: self.clock.elapsed(),
        };
        let mut log = lock(&self.log);
        let at = log.partition_point(|e| e.seq < seq);
        log.insert(at, entry);
    }

    pub(crate) fn add_route(&self, description: String) {
        lock(&self.routes).push(description);
    }
}

/// A fake vendor API: a wiremock server with shared gates, a log and a fallback.
pub struct FakeApi {
    server: MockServer,
    shared: Arc<Shared>,
}

impl fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeApi")
            .field("uri", &self.server.uri())
            .field("routes", &*lock(&self.shared.routes))
            .finish_non_exhaustive()
    }
}

/// Builds a [`FakeApi`]. Defaults: no auth guard, [`ErrorStyle::Generic`], no
/// rate limit.
#[derive(Debug, Default)]
#[must_use]
pub struct FakeApiBuilder {
    auth: Option<AuthGuard>,
    errors: ErrorStyle,
    rate_limit: Option<RateLimitSim>,
}

impl FakeApiBuilder {
    /// Every route requires this credential unless it sets its own.
    pub fn auth(mut self, guard: AuthGuard) -> Self {
        self.auth = Some(guard);
        self
    }

    /// Errors use this vendor's body shape.
    pub fn errors(mut self, style: ErrorStyle) -> Self {
        self.errors = style;
        self
    }

    /// Applies a request quota to every route.
    pub fn rate_limit(mut self, sim: RateLimitSim) -> Self {
        self.rate_limit = Some(sim);
        self
    }

    /// Starts the server on 127.0.0.1 and mounts the fallback. Call it inside the
    /// test's tokio runtime: the fake reads that runtime's clock.
    pub async fn start(self) -> FakeApi {
        let server = MockServer::start().await;
        let clock = TestClock::current();
        let limiter = self.rate_limit.map(|sim| RateLimiter::new(sim, &clock));
        let shared = Arc::new(Shared {
            clock,
            faults: FaultPlan::new(),
            errors: self.errors,
            auth: self.auth,
            base: server.uri(),
            seq: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            limiter: Mutex::new(limiter),
            last: Mutex::new(HashMap::new()),
            collections: Mutex::new(BTreeMap::new()),
            routes: Mutex::new(Vec::new()),
        });
        Mock::given(any())
            .respond_with(Fallback(Arc::clone(&shared)))
            .with_priority(u8::MAX)
            .named("testkit fallback")
            .mount(&server)
            .await;
        FakeApi { server, shared }
    }
}

impl FakeApi {
    /// A builder for a fake with options.
    pub fn builder() -> FakeApiBuilder {
        FakeApiBuilder::default()
    }

    /// A fake with no auth guard, generic errors and no rate limit.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The base URL (`http://127.0.0.1:PORT`) to point a connector at.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The wiremock server, to mount mocks of your own (they skip the gates).
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The fault plan every route consults.
    pub fn faults(&self) -> &FaultPlan {
        &self.shared.faults
    }

    /// The fake's clock (the test runtime's clock).
    pub fn clock(&self) -> &TestClock {
        &self.shared.clock
    }

    /// The error style.
    pub fn error_style(&self) -> ErrorStyle {
        self.shared.errors
    }

    /// Replaces (or removes) the rate limit; the new window starts now.
    pub fn set_rate_limit(&self, sim: Option<RateLimitSim>) {
        *lock(&self.shared.limiter) = sim.map(|s| RateLimiter::new(s, &self.shared.clock));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The requests the route called `route` answered.
    pub fn requests_to(&self, route: &str) -> Vec<LoggedRequest> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.route == route)
            .cloned()
            .collect()
    }

    /// Forgets the logged requests (sequence numbers keep counting).
    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// The collection mounted as `name`.
    pub fn collection(&self, name: &str) -> Option<CollectionHandle> {
        lock(&self.shared.collections).get(name).cloned()
    }

    /// Every mounted collection, by name.
    pub fn collections(&self) -> Vec<CollectionHandle> {
        lock(&self.shared.collections).values().cloned().collect()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn register_collection(&self, handle: CollectionHandle) {
        lock(&self.shared.collections).insert(handle.name().to_owned(), handle);
    }
}

struct Fallback(Arc<Shared>);

impl Respond for Fallback {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.0;
        let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let routes = lock(&shared.routes).join(", ");
        let target = connector_core::error::redact_url(&format!(
            "{}{}",
            request.url.path(),
            request
                .url
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ));
        let message = format!(
            "testkit fake: no route matched {} {target}; mounted routes: [{routes}]",
            request.method
        );
        shared.record(seq, request, UNMATCHED, None, 500, None);
        ResponseTemplate::new(500).set_body_raw(message.into_bytes(), "text/plain; charset=utf-8")
    }
}

/// One JSON document behind the gates: the endpoint a connection test calls.
///
/// ```no_run
/// # async fn demo(api: &connector_testkit::fake::FakeApi) {
/// use connector_testkit::fake::FakeEndpoint;
/// FakeEndpoint::get("user", "/user", serde_json::json!({"login": "octocat"})).mount(api).await;
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeEndpoint {
    name: String,
    method: String,
    path: String,
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    auth: Option<Option<AuthGuard>>,
}

impl FakeEndpoint {
    /// `GET path` answers `200` with `body`; the route is called `name` in the log.
    pub fn get(name: impl Into<String>, path: impl Into<String>, body: Value) -> Self {
        Self {
            name: name.into(),
            method: "GET".to_owned(),
            path: path.into(),
            status: 200,
            body,
            headers: Vec::new(),
            auth: None,
        }
    }

    /// Answers `method` instead of `GET`.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into().to_ascii_uppercase();
        self
    }

    /// Answers `status` instead of 200.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Uses `guard` (or none) instead of the API's.
    pub fn auth(mut self, guard: Option<AuthGuard>) -> Self {
        self.auth = Some(guard);
        self
    }

    /// Mounts the endpoint.
    pub async fn mount(self, api: &FakeApi) {
        let shared = Arc::clone(api.shared());
        shared.add_route(format!("{} {} ({})", self.method, self.path, self.name));
        let route = RouteInfo {
            name: self.name.clone(),
            auth: self.auth.clone(),
        };
        let (status, body, headers) = (self.status, self.body, self.headers);
        let responder = move |request: &Request| {
            shared.serve(&route, request, None, |_| {
                let mut r = Reply::json(status, &body);
                r.headers.extend(headers.iter().cloned());
                r
            })
        };
        Mock::given(method(self.method.as_str()))
            .and(path(self.path.as_str()))
            .respond_with(responder)
            .named(self.name)
            .mount(api.server())
            .await;
    }
}

/// The answer a [`FakeRoute`] computes for one request.
#[derive(Debug, Clone)]
pub struct FakeReply(Reply);

impl FakeReply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Self {
        Self(Reply::json(status, body))
    }

    /// `status` with a `text/plain` body (Graph's `/users/$count`).
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self(Reply {
            status,
            body: body.into().into_bytes(),
            content_type: "text/plain; charset=utf-8".to_owned(),
            headers: Vec::new(),
        })
    }

    /// Adds a response header.
    pub fn with_header(self, name: &str, value: impl Into<String>) -> Self {
        Self(self.0.with_header(name, value))
    }
}

type RespondFn = dyn Fn(&Request) -> FakeReply + Send + Sync;

/// A route whose answer is computed per request, behind the same gates as every
/// other route (faults, auth guard, rate limit, log): a token endpoint that checks
/// the form body, a count that follows the data, a vendor endpoint a collection
/// cannot express.
///
/// ```no_run
/// # async fn demo(api: &connector_testkit::fake::FakeApi) {
/// use connector_testkit::fake::{FakeReply, FakeRoute};
/// FakeRoute::new("POST", "token", "/oauth/token", |request| {
///     let body = String::from_utf8_lossy(&request.body);
///     if body.contains("client_secret=right") {
///         FakeReply::json(200, &serde_json::json!({"access_token": "t", "token_type": "Bearer"}))
///     } else {
///         FakeReply::json(401, &serde_json::json!({"error": "invalid_client"}))
///     }
/// })
/// .auth(None)
/// .mount(api)
/// .await;
/// # }
/// ```
#[must_use]
pub struct FakeRoute {
    name: String,
    method: String,
    path: String,
    auth: Option<Option<AuthGuard>>,
    respond: Arc<RespondFn>,
}

impl fmt::Debug for FakeRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRoute")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl FakeRoute {
    /// `method path` answered by `respond`; the route is called `name` in the log.
    pub fn new(
        method: &str,
        name: impl Into<String>,
        path: impl Into<String>,
        respond: impl Fn(&Request) -> FakeReply + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            method: method.to_ascii_uppercase(),
            path: path.into(),
            auth: None,
            respond: Arc::new(respond),
        }
    }

    /// Uses `guard` (or none) instead of the API's.
    pub fn auth(mut self, guard: Option<AuthGuard>) -> Self {
        self.auth = Some(guard);
        self
    }

    /// Mounts the route.
    pub async fn mount(self, api: &FakeApi) {
        let shared = Arc::clone(api.shared());
        shared.add_route(format!("{} {} ({})", self.method, self.path, self.name));
        let route = RouteInfo {
            name: self.name.clone(),
            auth: self.auth.clone(),
        };
        let respond = self.respond;
        let responder = move |request: &Request| {
            shared.serve(&route, request, None, |request| respond(request).0)
        };
        Mock::given(method(self.method.as_str()))
            .and(path(self.path.as_str()))
            .respond_with(responder)
            .named(self.name)
            .mount(api.server())
            .await;
    }
}
