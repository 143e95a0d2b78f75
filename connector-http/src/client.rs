//! [`HttpClient`], its builder and its request builder.
//!
//! One client per connector instance: it holds the connection pool, the auth
//! strategy and its token cache, the rate limiter, the server-reported reset gate,
//! the in-flight cap and the retry budget. Cloning is cheap (an `Arc`), and every
//! clone shares all of them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use connector_core::{ConnectorError, ErrorKind, Result};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument as _;
use tracing::field::Empty;
use url::Url;

use crate::auth::{Applied, AuthContext, AuthRequest, AuthStrategy};
use crate::classify::{Classifier, ResponseParts, RetryReason, Verdict};
use crate::ratelimit::{QuotaLimiter, RateLimit, ServerGate};
use crate::response::{Body, Response};
use crate::retry::{
    Backoff, BudgetState, HttpEvent, RateLimitWait, RetryEvent, RetryPolicy, WaitCause,
    is_idempotent,
};
use crate::secret::Scrubber;
use crate::tls;

/// The most of an error response body the client reads (for classification and the
/// excerpt); the rest is discarded.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The `User-Agent` prefix of every request: `connector-sdk/<version>`.
pub const SDK_USER_AGENT: &str = concat!("connector-sdk/", env!("CARGO_PKG_VERSION"));

type EventCallback = Arc<dyn Fn(&HttpEvent) + Send + Sync>;

/// The HTTP client every vendor crate uses. Cheap to clone; clones share the
/// connection pool, auth and token cache, rate limits and retry budget.
///
/// Build one with [`HttpClient::builder`]; make requests with [`get`](Self::get),
/// [`post`](Self::post) and friends, which take a path relative to the base URL.
///
/// ```no_run
/// # async fn run() -> connector_core::Result<()> {
/// use connector_http::{HttpClient, auth::Bearer};
///
/// let client = HttpClient::builder("https://api.github.com")
///     .with_connector("github")
///     .with_auth(Bearer::new("ghp_example"))
///     .build()?;
/// let repo: serde_json::Value = client.get("/repos/octocat/Hello-World").send().await?.json().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    base: Url,
    connector: Option<String>,
    timeout: Option<Duration>,
    auth: Option<Arc<dyn AuthStrategy>>,
    retry: RetryPolicy,
    classifier: Classifier,
    quota: Option<QuotaLimiter>,
    gate: ServerGate,
    in_flight: Option<Arc<Semaphore>>,
    budget: BudgetState,
    scrubber: Scrubber,
    sensitive_headers: Vec<HeaderName>,
    on_event: Option<EventCallback>,
    allowed_origins: Vec<url::Origin>,
}

/// Builds an [`HttpClient`]. Every setting has a default:
///
/// | setting | default |
/// |---|---|
/// | base URL | required; every request path is relative to it |
/// | [`with_connector`](Self::with_connector) | none (named in errors and the `User-Agent`) |
/// | [`with_user_agent`](Self::with_user_agent) | `connector-sdk/<version> (<connector>)` |
/// | [`with_default_header`](Self::with_default_header) | `Accept: application/json` |
/// | [`with_connect_timeout`](Self::with_connect_timeout) | 10 s |
/// | [`with_timeout`](Self::with_timeout) | 30 s per attempt (inside the retry loop) |
/// | [`with_pool_idle_timeout`](Self::with_pool_idle_timeout) | 90 s |
/// | [`with_gzip`](Self::with_gzip) | on |
/// | [`with_auth`](Self::with_auth) | none |
/// | [`with_retry`](Self::with_retry) | [`RetryPolicy::default`] |
/// | [`with_classifier`](Self::with_classifier) | [`Classifier::standard`] |
/// | [`with_rate_limit`](Self::with_rate_limit) | none |
/// | [`with_max_in_flight`](Self::with_max_in_flight) | unlimited |
/// | [`with_allowed_origin`](Self::with_allowed_origin) | only the base URL's origin |
/// | [`with_system_proxy`](Self::with_system_proxy) | on (`HTTPS_PROXY`, `NO_PROXY`, ...) |
#[must_use]
pub struct HttpClientBuilder {
    base_url: String,
    connector: Option<String>,
    user_agent: Option<String>,
    default_headers: HeaderMap,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    gzip: bool,
    auth: Option<Arc<dyn AuthStrategy>>,
    retry: RetryPolicy,
    classifier: Classifier,
    rate_limit: Option<RateLimit>,
    max_in_flight: Option<usize>,
    on_event: Option<EventCallback>,
    allowed_origins: Vec<String>,
    system_proxy: bool,
    error: Option<String>,
}

impl HttpClient {
    /// Starts building a client for `base_url` (`https://api.github.com`,
    /// `https://gitlab.example.com/api/v4`). Vendor crates pass the configured
    /// override here.
    pub fn builder(base_url: impl Into<String>) -> HttpClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        HttpClientBuilder {
            base_url: base_url.into(),
            connector: None,
            user_agent: None,
            default_headers,
            connect_timeout: Some(Duration::from_secs(10)),
            timeout: Some(Duration::from_secs(30)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            gzip: true,
            auth: None,
            retry: RetryPolicy::default(),
            classifier: Classifier::standard(),
            rate_limit: None,
            max_in_flight: None,
            on_event: None,
            allowed_origins: Vec::new(),
            system_proxy: true,
            error: None,
        }
    }

    /// A `GET` of `path` (relative to the base URL, or an absolute URL on an
    /// allowed origin).
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` of `path`. Not retried unless marked [`idempotent`](RequestBuilder::idempotent).
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PUT` of `path`.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` of `path`. Not retried unless marked [`idempotent`](RequestBuilder::idempotent).
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` of `path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A `HEAD` of `path`.
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = self.resolve(path);
        RequestBuilder::new(self.clone(), method, url, false)
    }

    /// A `POST` to a token endpoint: see [`AuthContext::token_request`].
    pub(crate) fn token_request(&self, url: &str) -> RequestBuilder {
        let url = Url::parse(url).map_err(|e| {
            ConnectorError::config(format!(
                "the token URL `{}` is invalid: {e}",
                self.redact_url(url)
            ))
        });
        RequestBuilder::new(self.clone(), Method::POST, url, true).operation("token_refresh")
    }

    /// The base URL every path is relative to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The connector id given at build time.
    pub fn connector(&self) -> Option<&str> {
        self.inner.connector.as_deref()
    }

    /// The client's scrubber: it knows every secret the client holds.
    pub fn scrubber(&self) -> &Scrubber {
        &self.inner.scrubber
    }

    /// A URL with credentials removed: sensitive query parameters, userinfo and every
    /// secret value the client knows.
    pub fn redact_url(&self, url: &str) -> String {
        self.inner.scrubber.url(url)
    }

    /// Resolves `path` against the base URL. An absolute URL must be on the base
    /// URL's origin or an [allowed origin](HttpClientBuilder::with_allowed_origin):
    /// credentials are never sent elsewhere.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid URL, [`ErrorKind::Protocol`] for a URL
    /// on another origin.
    pub fn resolve(&self, path: &str) -> Result<Url> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = Url::parse(path).map_err(|e| {
                ConnectorError::config(format!(
                    "`{}` is not a valid URL: {e}",
                    self.redact_url(path)
                ))
            })?;
            self.check_origin(&url)?;
            return Ok(url);
        }
        let base = self.inner.base.as_str().trim_end_matches('/');
        let joined = if path.is_empty() {
            base.to_owned()
        } else if path.starts_with('?') {
            format!("{base}{path}")
        } else {
            format!("{base}/{}", path.trim_start_matches('/'))
        };
        Url::parse(&joined).map_err(|e| {
            ConnectorError::config(format!(
                "`{}` is not a valid path: {e}",
                self.redact_url(path)
            ))
        })
    }

    /// Checks that `url` is on the base URL's origin or an allowed one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Protocol`] naming the refused origin.
    pub fn check_origin(&self, url: &Url) -> Result<()> {
        let origin = url.origin();
        if origin == self.inner.base.origin() || self.inner.allowed_origins.contains(&origin) {
            return Ok(());
        }
        Err(self.decorate(
            ConnectorError::protocol(format!(
                "refusing to follow a URL on {} (the client is configured for {}); add it with \
                 `with_allowed_origin` if the vendor really serves it",
                origin.ascii_serialization(),
                self.inner.base.origin().ascii_serialization()
            ))
            .with_request("GET", &self.redact_url(url.as_str())),
            None,
        ))
    }

    pub(crate) fn decorate(
        &self,
        err: ConnectorError,
        operation: Option<&Cow<'static, str>>,
    ) -> ConnectorError {
        let mut err = err;
        if let Some(connector) = &self.inner.connector {
            err = err.with_connector(connector.clone());
        }
        if let Some(op) = operation {
            err = err.with_operation(op.clone());
        }
        err
    }

    pub(crate) fn sensitive_headers(&self) -> &[HeaderName] {
        &self.inner.sensitive_headers
    }

    fn emit(&self, event: HttpEvent) {
        match &event {
            HttpEvent::Retry(e) => tracing::warn!(
                method = %e.method,
                url = %e.url,
                attempt = e.attempt,
                kind = %e.kind,
                reason = %e.reason,
                status = e.status.unwrap_or(0),
                delay_ms = u64::try_from(e.delay.as_millis()).unwrap_or(u64::MAX),
                server_requested = e.server_requested,
                "retrying request"
            ),
            HttpEvent::RateLimitWait(w) => tracing::info!(
                method = %w.method,
                url = %w.url,
                cause = %w.cause,
                delay_ms = u64::try_from(w.delay.as_millis()).unwrap_or(u64::MAX),
                "waiting for rate limit"
            ),
        }
        if let Some(callback) = &self.inner.on_event {
            callback(&event);
        }
    }

    /// Sends `request` with retries, rate limits, auth and classification.
    pub(crate) async fn execute(
        &self,
        request: reqwest::Request,
        opts: &ExecOptions,
    ) -> Result<Response> {
        let policy = &self.inner.retry;
        let (started, mut schedule) = self.start_call();
        let mut attempt: u32 = 0;
        let mut retries: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let failure = match self.attempt(&request, attempt, opts).await {
                Ok(response) => {
                    self.on_success();
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            match failure {
                Failure::Fatal(error) => return Err(error),
                Failure::Unauthorized { applied, error } => {
                    let Some(auth) = self.inner.auth.as_ref().filter(|_| !refreshed) else {
                        return Err(error);
                    };
                    let cx = AuthContext::new(self);
                    if auth
                        .on_unauthorized(applied, &cx)
                        .await
                        .map_err(|e| self.decorate(e, opts.operation.as_ref()))?
                    {
                        tracing::debug!(
                            attempt,
                            "401 on cached credentials; refreshing and retrying once"
                        );
                        refreshed = true;
                        continue;
                    }
                    return Err(error);
                }
                Failure::Retryable {
                    error,
                    reason,
                    after,
                    status,
                    unsent,
                } => {
                    if !opts.idempotent && !unsent {
                        return Err(error);
                    }
                    if let Some(wait) = after.filter(|w| *w > policy.max_wait()) {
                        return Err(wait_too_long(&error, wait, policy.max_wait()));
                    }
                    if retries + 1 >= policy.max_attempts() {
                        // With no retry allowed at all the error stays temporary:
                        // the caller may still retry later.
                        return Err(if retries > 0 {
                            error.set_exhausted()
                        } else {
                            error
                        });
                    }
                    let delay = after.unwrap_or_else(|| schedule.next_delay());
                    if policy
                        .max_elapsed()
                        .is_some_and(|max| started.elapsed() + delay > max)
                    {
                        return Err(error.set_exhausted().with_context(
                            "gave up after",
                            format!("{} ms", started.elapsed().as_millis()),
                        ));
                    }
                    if !self.inner.budget.try_withdraw() {
                        return Err(error
                            .set_exhausted()
                            .with_context("retry budget", "exhausted"));
                    }
                    retries += 1;
                    self.emit(HttpEvent::Retry(RetryEvent {
                        method: request.method().clone(),
                        url: self.redact_url(request.url().as_str()),
                        attempt,
                        kind: error.kind(),
                        reason,
                        status,
                        delay,
                        server_requested: after.is_some(),
                    }));
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// What the retry wrapper sets up for one call before its first attempt: the
    /// start time (for `max_elapsed`) and a fresh backoff schedule.
    pub(crate) fn start_call(&self) -> (Instant, Backoff) {
        (Instant::now(), self.inner.retry.schedule())
    }

    /// What the retry wrapper does when an attempt succeeds: a deposit into the
    /// retry budget.
    pub(crate) fn on_success(&self) {
        self.inner.budget.deposit();
    }

    /// Classifies one response (the retry decision of every attempt).
    pub(crate) fn classify(
        &self,
        method: &Method,
        status: StatusCode,
        headers: &HeaderMap,
        buffered: Option<&[u8]>,
    ) -> Verdict {
        self.inner
            .classifier
            .classify(&ResponseParts::new(method, status, headers, buffered))
    }

    /// Learns the server-reported pause from one response (skipped for internal
    /// requests such as token fetches).
    pub(crate) fn observe_limits(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        opts: &ExecOptions,
    ) {
        if !opts.internal {
            self.inner.gate.observe(status, headers);
        }
    }

    /// The request one attempt sends: a copy of the template with the timeout set.
    pub(crate) fn attempt_request(
        &self,
        template: &reqwest::Request,
        opts: &ExecOptions,
    ) -> Result<reqwest::Request> {
        let mut request = template
            .try_clone()
            .ok_or_else(|| ConnectorError::unexpected("the request body cannot be repeated"))?;
        if let Some(timeout) = opts.timeout.unwrap_or(self.inner.timeout) {
            *request.timeout_mut() = Some(timeout);
        }
        Ok(request)
    }

    /// Applies the auth strategy to one attempt's request (not to internal
    /// requests). Returns the tag of the credentials used.
    pub(crate) async fn authorize(
        &self,
        request: &mut reqwest::Request,
        opts: &ExecOptions,
    ) -> Result<Applied> {
        match (&self.inner.auth, opts.internal) {
            (Some(auth), false) => {
                let cx = AuthContext::new(self);
                auth.apply(&mut AuthRequest::new(request), &cx)
                    .await
                    .map_err(|e| self.decorate(e, opts.operation.as_ref()))
            }
            _ => Ok(Applied::STATIC),
        }
    }

    /// Waits for the in-flight cap, the server gate and the quota, in that order.
    pub(crate) async fn wait_for_limits(
        &self,
        method: &Method,
        url: &str,
        opts: &ExecOptions,
    ) -> Result<Option<OwnedSemaphorePermit>> {
        let inner = &self.inner;
        let permit = match &inner.in_flight {
            Some(semaphore) => Some(Arc::clone(semaphore).acquire_owned().await.map_err(|_| {
                ConnectorError::new(ErrorKind::Cancelled, "the client was shut down")
            })?),
            None => None,
        };
        // Loop: another response may extend the pause while this request waits.
        while let Some(wait) = inner.gate.remaining() {
            if wait > inner.retry.max_wait() {
                let err = ConnectorError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "the server reported its rate limit exhausted for {} s, more than the {} s \
                         the client may wait",
                        wait.as_secs(),
                        inner.retry.max_wait().as_secs()
                    ),
                )
                .with_retry_after(wait)
                .with_request(method.as_str(), url);
                return Err(self.decorate(err, opts.operation.as_ref()));
            }
            self.emit(HttpEvent::RateLimitWait(RateLimitWait {
                method: method.clone(),
                url: url.to_owned(),
                cause: WaitCause::ServerReset,
                delay: wait,
            }));
            tokio::time::sleep(wait).await;
        }
        if let Some(quota) = &inner.quota {
            while let Err(wait) = quota.check() {
                self.emit(HttpEvent::RateLimitWait(RateLimitWait {
                    method: method.clone(),
                    url: url.to_owned(),
                    cause: WaitCause::ClientQuota,
                    delay: wait,
                }));
                tokio::time::sleep(wait).await;
            }
        }
        Ok(permit)
    }

    async fn attempt(
        &self,
        template: &reqwest::Request,
        attempt: u32,
        opts: &ExecOptions,
    ) -> Result<Response, Failure> {
        let inner = &self.inner;
        let method = template.method().clone();
        let url = self.redact_url(template.url().as_str());
        let permit = if opts.internal {
            None
        } else {
            self.wait_for_limits(&method, &url, opts)
                .await
                .map_err(Failure::Fatal)?
        };
        let mut request = self
            .attempt_request(template, opts)
            .map_err(Failure::Fatal)?;
        let applied = self
            .authorize(&mut request, opts)
            .await
            .map_err(Failure::Fatal)?;

        let span = tracing::debug_span!(
            "http_request",
            method = %method,
            url = %url,
            attempt,
            status = Empty,
            latency_ms = Empty,
            error = Empty,
        );
        let sent_at = Instant::now();
        let result = inner.http.execute(request).instrument(span.clone()).await;
        span.record(
            "latency_ms",
            u64::try_from(sent_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        );

        let response = match result {
            Ok(response) => response,
            Err(err) => {
                let unsent = err.is_connect();
                let (error, retryable) = self.transport_error(err, &method, &url, opts);
                span.record("error", tracing::field::display(error.kind()));
                return Err(if retryable {
                    Failure::Retryable {
                        error,
                        reason: RetryReason::Transient,
                        after: None,
                        status: None,
                        unsent,
                    }
                } else {
                    Failure::Fatal(error)
                });
            }
        };

        let status = response.status();
        span.record("status", status.as_u16());
        let headers = response.headers().clone();
        self.observe_limits(status, &headers, opts);
        let ok_status = status.is_success() || status.is_redirection() || status.is_informational();
        let body = if ok_status {
            Body::Live(response)
        } else {
            Body::Buffered(read_limited(response, MAX_ERROR_BODY).await)
        };
        let buffered = match &body {
            Body::Buffered(bytes) => Some(bytes.as_ref()),
            Body::Live(_) => None,
        };
        let verdict = self.classify(&method, status, &headers, buffered);
        let error_body = buffered.unwrap_or_default();
        match verdict {
            Verdict::Success => Ok(Response::new(
                self.clone(),
                method,
                template.url().clone(),
                status,
                headers,
                body,
                permit,
                opts.operation.clone(),
            )),
            Verdict::Retry {
                kind,
                reason,
                after,
            } => {
                span.record("error", tracing::field::display(kind));
                let mut error = self
                    .http_error(kind, &method, &url, status, error_body, opts)
                    .with_status(connector_core::ErrorStatus::Temporary);
                if let Some(wait) = after {
                    error = error.with_retry_after(wait);
                }
                Err(Failure::Retryable {
                    error,
                    reason,
                    after,
                    status: Some(status.as_u16()),
                    unsent: false,
                })
            }
            Verdict::Fail { kind } => {
                span.record("error", tracing::field::display(kind));
                let error = self
                    .http_error(kind, &method, &url, status, error_body, opts)
                    .set_permanent();
                if status == StatusCode::UNAUTHORIZED && inner.auth.is_some() && !opts.internal {
                    Err(Failure::Unauthorized { applied, error })
                } else {
                    Err(Failure::Fatal(error))
                }
            } // `Verdict` is non-exhaustive only for other crates.
        }
    }

    fn http_error(
        &self,
        kind: ErrorKind,
        method: &Method,
        url: &str,
        status: StatusCode,
        body: &[u8],
        opts: &ExecOptions,
    ) -> ConnectorError {
        let message = format!(
            "the server answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let excerpt = self.inner.scrubber.scrub(&String::from_utf8_lossy(body));
        let err = ConnectorError::new(kind, message.trim_end().to_owned())
            .with_request(method.as_str(), url)
            .with_http_status(status.as_u16())
            .with_body_excerpt(&excerpt);
        self.decorate(err, opts.operation.as_ref())
    }

    fn transport_error(
        &self,
        err: reqwest::Error,
        method: &Method,
        url: &str,
        opts: &ExecOptions,
    ) -> (ConnectorError, bool) {
        let (kind, retryable, what) = if err.is_timeout() {
            (ErrorKind::Timeout, true, "the request timed out")
        } else if err.is_connect() {
            (ErrorKind::Network, true, "could not connect")
        } else if err.is_builder() {
            (ErrorKind::Config, false, "could not build the request")
        } else if err.is_redirect() {
            (ErrorKind::Protocol, false, "too many or invalid redirects")
        } else if err.is_decode() {
            (ErrorKind::Decode, false, "could not decode the response")
        } else {
            (ErrorKind::Network, true, "the connection failed")
        };
        let detail = self.inner.scrubber.scrub(&error_chain(&err.without_url()));
        let error = ConnectorError::new(kind, format!("{what}: {detail}"))
            .with_request(method.as_str(), url);
        (self.decorate(error, opts.operation.as_ref()), retryable)
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("HttpClient")
            .field("base_url", &self.redact_url(inner.base.as_str()))
            .field("connector", &inner.connector)
            .field("auth", &inner.auth)
            .field("retry", &inner.retry)
            .field("classifier", &inner.classifier)
            .field("rate_limited", &inner.quota.is_some())
            .field("max_in_flight", &inner.in_flight.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

/// The text of an error and its sources, joined with `: `.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A copy of `err` saying the server asked for a wait beyond the cap.
fn wait_too_long(err: &ConnectorError, wait: Duration, cap: Duration) -> ConnectorError {
    let message = format!(
        "{} and asked to wait {} s, more than the {} s the client may wait",
        err.message(),
        wait.as_secs(),
        cap.as_secs()
    );
    rebuild(err, ErrorKind::RateLimited, message).with_retry_after(wait)
}

/// A copy of `err` with another kind and message; context is kept.
pub(crate) fn rebuild(err: &ConnectorError, kind: ErrorKind, message: String) -> ConnectorError {
    let ctx = err.context();
    let mut out = ConnectorError::new(kind, message);
    if let Some(connector) = &ctx.connector {
        out = out.with_connector(connector.clone());
    }
    if let Some(operation) = &ctx.operation {
        out = out.with_operation(operation.clone());
    }
    if let Some(entity) = &ctx.entity {
        out = out.with_entity(entity.clone());
    }
    if let (Some(method), Some(url)) = (&ctx.method, &ctx.url) {
        out = out.with_request(method.clone(), url);
    }
    if let Some(status) = ctx.http_status {
        out = out.with_http_status(status);
    }
    if let Some(body) = &ctx.body_excerpt {
        out = out.with_body_excerpt(body);
    }
    for (k, v) in &ctx.extra {
        out = out.with_context(k.clone(), v);
    }
    out
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Bytes {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    Bytes::from(out)
}

enum Failure {
    Fatal(ConnectorError),
    Unauthorized {
        applied: Applied,
        error: ConnectorError,
    },
    Retryable {
        error: ConnectorError,
        reason: RetryReason,
        after: Option<Duration>,
        status: Option<u16>,
        /// The connection could not be opened, so the request never left the
        /// client and repeating it is safe whatever the method.
        unsent: bool,
    },
}

/// Per-request options of [`HttpClient::execute`].
#[derive(Clone, Debug, Default)]
pub(crate) struct ExecOptions {
    pub(crate) idempotent: bool,
    pub(crate) internal: bool,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) operation: Option<Cow<'static, str>>,
}

impl HttpClientBuilder {
    /// Names the connector (`github`): it appears in errors and the `User-Agent`.
    pub fn with_connector(mut self, id: impl Into<String>) -> Self {
        self.connector = Some(id.into());
        self
    }

    /// Replaces the whole `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends a header with every request (`Accept`, `X-GitHub-Api-Version`).
    /// Replaces a default of the same name. Never put credentials here: use an
    /// auth strategy, whose secrets are scrubbed.
    pub fn with_default_header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                self.default_headers.insert(name, value);
            }
            _ => {
                self.error = Some(format!(
                    "default header `{name}` has an invalid name or value"
                ))
            }
        }
        self
    }

    /// Sets the TCP/TLS connect timeout (default 10 s). `None` disables it.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the timeout of each attempt, from sending to the end of the headers and
    /// body (default 30 s). `None` disables it. The retry policy's
    /// [`max_elapsed`](RetryPolicy::with_max_elapsed) bounds the whole call.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Closes pooled connections idle for longer than this (default 90 s); `None`
    /// keeps them until the server closes them.
    pub fn with_pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Turns transparent gzip decompression on or off (default on).
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Authenticates every request with `auth`.
    pub fn with_auth(mut self, auth: impl AuthStrategy + 'static) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Authenticates with a config's credentials (see [`auth::from_credentials`] for
    /// the kinds it maps). A kind it cannot map makes [`build`](Self::build) fail
    /// with a config error naming it.
    ///
    /// [`auth::from_credentials`]: crate::auth::from_credentials
    pub fn with_credentials(mut self, credentials: &connector_core::Credentials) -> Self {
        match crate::auth::from_credentials(credentials) {
            Ok(auth) => self.auth = auth,
            Err(e) => self.error = Some(e.message().to_owned()),
        }
        self
    }

    /// Authenticates every request with a shared strategy.
    pub fn with_shared_auth(mut self, auth: Arc<dyn AuthStrategy>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the classifier (the standard table plus vendor rules).
    pub fn with_classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// Limits the request rate of this client and all its clones.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Caps the requests in flight (a response counts until its body is read or it
    /// is dropped). `0` is read as `1`.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max.max(1));
        self
    }

    /// Calls `callback` for every retry and rate-limit wait (also logged with
    /// `tracing`). Keep it cheap; it runs on the request's task.
    pub fn on_event(mut self, callback: impl Fn(&HttpEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(callback));
        self
    }

    /// Allows absolute URLs (next-page links, `client.get("https://...")`) on one
    /// more origin (`https://uploads.github.com`). Credentials are sent there too.
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Uses the proxy from the environment (`HTTPS_PROXY`, `NO_PROXY`) or not
    /// (default on).
    pub fn with_system_proxy(mut self, enabled: bool) -> Self {
        self.system_proxy = enabled;
        self
    }

    /// Builds the client, installing the ring crypto provider first if the process
    /// has none.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid base URL, header or allowed origin, or
    /// when the TLS stack cannot be set up.
    pub fn build(self) -> Result<HttpClient> {
        let config_error = |message: String| {
            let err = ConnectorError::config(message);
            match &self.connector {
                Some(c) => err.with_connector(c.clone()),
                None => err,
            }
        };
        if let Some(message) = &self.error {
            return Err(config_error(message.clone()));
        }
        let base = Url::parse(&self.base_url).map_err(|e| {
            config_error(format!(
                "base_url `{}` is not a valid URL: {e}",
                connector_core::error::redact_url(&self.base_url)
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(config_error(format!(
                "base_url `{}` must be an http or https URL with a host",
                connector_core::error::redact_url(&self.base_url)
            )));
        }
        let mut allowed_origins = Vec::new();
        for origin in &self.allowed_origins {
            let url = Url::parse(origin).map_err(|e| {
                config_error(format!("allowed origin `{origin}` is not a valid URL: {e}"))
            })?;
            allowed_origins.push(url.origin());
        }

        let user_agent = self
            .user_agent
            .clone()
            .unwrap_or_else(|| match &self.connector {
                Some(c) => format!("{SDK_USER_AGENT} ({c})"),
                None => SDK_USER_AGENT.to_owned(),
            });

        tls::ensure_crypto_provider();
        let mut http = reqwest::Client::builder()
            .user_agent(user_agent)
            .default_headers(self.default_headers.clone())
            .gzip(self.gzip)
            .pool_idle_timeout(self.pool_idle_timeout);
        if let Some(timeout) = self.connect_timeout {
            http = http.connect_timeout(timeout);
        }
        if !self.system_proxy {
            http = http.no_proxy();
        }
        let http = http.build().map_err(|e| {
            config_error(format!(
                "could not set up the HTTP client: {}",
                error_chain(&e)
            ))
        })?;

        let scrubber = Scrubber::new();
        let mut sensitive_headers = Vec::new();
        if let Some(auth) = &self.auth {
            for secret in auth.secrets() {
                scrubber.add(&secret);
            }
            sensitive_headers = auth.sensitive_headers();
        }
        let inner = ClientInner {
            http,
            base,
            connector: self.connector,
            timeout: self.timeout,
            auth: self.auth,
            budget: BudgetState::new(self.retry.budget().clone()),
            retry: self.retry,
            classifier: self.classifier,
            quota: self.rate_limit.as_ref().map(QuotaLimiter::new),
            gate: ServerGate::default(),
            in_flight: self.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
            scrubber,
            sensitive_headers,
            on_event: self.on_event,
            allowed_origins,
        };
        Ok(HttpClient {
            inner: Arc::new(inner),
        })
    }
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field(
                "base_url",
                &connector_core::error::redact_url(&self.base_url),
            )
            .field("connector", &self.connector)
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("rate_limit", &self.rate_limit)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// A request being built. Nothing is sent until [`send`](Self::send) (or
/// [`paginate`](Self::paginate)).
///
/// Errors in building (an invalid header, a body that does not serialise) are
/// kept and returned by `send`, so calls chain without `?`.
#[derive(Clone)]
#[must_use]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    url: Result<Url, (ErrorKind, String)>,
    headers: HeaderMap,
    body: Option<Bytes>,
    idempotent: Option<bool>,
    timeout: Option<Option<Duration>>,
    operation: Option<Cow<'static, str>>,
    internal: bool,
    error: Option<(ErrorKind, String)>,
}

impl RequestBuilder {
    fn new(client: HttpClient, method: Method, url: Result<Url>, internal: bool) -> Self {
        Self {
            client,
            method,
            url: url.map_err(|e| (e.kind(), e.message().to_owned())),
            headers: HeaderMap::new(),
            body: None,
            idempotent: None,
            timeout: None,
            operation: None,
            internal,
            error: None,
        }
    }

    fn fail(mut self, kind: ErrorKind, message: String) -> Self {
        if self.error.is_none() {
            self.error = Some((kind, message));
        }
        self
    }

    /// Appends query parameters from anything that serialises to a map or a list of
    /// pairs: `&[("state", "all")]`, a struct, a `HashMap`. Sequences in a map repeat
    /// the name (`a=1&a=2`); `None` values are skipped.
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        match to_pairs(query) {
            Ok(pairs) => {
                if let Ok(url) = &mut self.url {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in &pairs {
                        q.append_pair(k, v);
                    }
                }
                self
            }
            Err(message) => self.fail(
                ErrorKind::Config,
                format!("invalid query parameters: {message}"),
            ),
        }
    }

    /// Sets a header. Sensitive names (`Authorization`, API-key headers) are marked
    /// sensitive and never logged.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.fail(
                ErrorKind::Config,
                format!("`{name}` is not a valid header name"),
            );
        };
        let Ok(mut value) = HeaderValue::from_str(value) else {
            return self.fail(
                ErrorKind::Config,
                format!("the value of header `{name}` is invalid"),
            );
        };
        if crate::secret::is_sensitive_header(name) {
            value.set_sensitive(true);
        }
        self.headers.insert(header, value);
        self
    }

    /// Sends HTTP basic credentials on this request only.
    pub fn basic_auth(self, username: &str, password: &SecretString) -> Self {
        let raw = format!("{username}:{}", password.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        self.client
            .scrubber()
            .add_dynamic(&SecretString::from(encoded.clone()));
        self.header("authorization", &format!("Basic {encoded}"))
    }

    /// Sends `body` as JSON (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Bytes::from(bytes));
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                self
            }
            Err(e) => self.fail(
                ErrorKind::Config,
                format!("the JSON body does not serialise: {e}"),
            ),
        }
    }

    /// Sends `form` URL-encoded (`Content-Type: application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(mut self, form: &T) -> Self {
        match to_pairs(form) {
            Ok(pairs) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                self.body = Some(Bytes::from(encoded));
                self.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                self
            }
            Err(message) => self.fail(ErrorKind::Config, format!("invalid form body: {message}")),
        }
    }

    /// Sends raw bytes; set `Content-Type` with [`header`](Self::header).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Marks the request safe (or not) to repeat. `GET`, `HEAD`, `OPTIONS`, `TRACE`,
    /// `PUT` and `DELETE` are safe by default; mark a `POST` safe when the vendor
    /// treats it as a query (search endpoints, GraphQL reads) or it carries an
    /// idempotency key.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Overrides the per-attempt timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// Names the operation (`fetch`, `test_connection`) in errors.
    pub fn operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// The client this request goes through.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL built so far, when it is valid.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref().ok()
    }

    /// Replaces the URL (pagination follows next links this way).
    pub(crate) fn with_url(mut self, url: Url) -> Self {
        self.url = Ok(url);
        self
    }

    /// Sets (replacing) a query parameter.
    pub(crate) fn set_query(mut self, name: &str, value: &str) -> Self {
        if let Ok(url) = &mut self.url {
            crate::auth::set_query_param(url, name, value);
        }
        self
    }

    /// Sets a field of the JSON body (`parent.name` when `parent` is given),
    /// creating the body or the parent object when missing.
    pub(crate) fn set_json_field(
        mut self,
        parent: Option<&str>,
        name: &str,
        value: serde_json::Value,
    ) -> Result<Self> {
        use serde_json::{Map, Value};
        let mut body: Value = match &self.body {
            Some(bytes) if !bytes.is_empty() => serde_json::from_slice(bytes).map_err(|e| {
                ConnectorError::config(format!(
                    "the request body must be a JSON object to carry `{name}`: {e}"
                ))
            })?,
            _ => Value::Object(Map::new()),
        };
        let Some(object) = body.as_object_mut() else {
            return Err(ConnectorError::config(format!(
                "the request body must be a JSON object to carry `{name}`"
            )));
        };
        let target = match parent {
            Some(parent) => {
                let entry = object
                    .entry(parent.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if entry.is_null() {
                    *entry = Value::Object(Map::new());
                }
                entry.as_object_mut().ok_or_else(|| {
                    ConnectorError::config(format!(
                        "`{parent}` in the request body must be a JSON object"
                    ))
                })?
            }
            None => object,
        };
        target.insert(name.to_owned(), value);
        let bytes = serde_json::to_vec(&body).map_err(|e| {
            ConnectorError::unexpected(format!("re-encoding the JSON body failed: {e}"))
        })?;
        self.body = Some(Bytes::from(bytes));
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    pub(crate) fn into_parts(self) -> Result<(HttpClient, reqwest::Request, ExecOptions)> {
        if let Some((kind, message)) = self.error {
            return Err(self
                .client
                .decorate(ConnectorError::new(kind, message), self.operation.as_ref()));
        }
        let url = match self.url {
            Ok(url) => url,
            Err((kind, message)) => {
                return Err(self
                    .client
                    .decorate(ConnectorError::new(kind, message), self.operation.as_ref()));
            }
        };
        let mut request = reqwest::Request::new(self.method.clone(), url);
        *request.headers_mut() = self.headers;
        if let Some(body) = self.body {
            *request.body_mut() = Some(reqwest::Body::from(body));
        }
        let opts = ExecOptions {
            idempotent: self
                .idempotent
                .unwrap_or_else(|| is_idempotent(&self.method)),
            internal: self.internal,
            timeout: self.timeout,
            operation: self.operation,
        };
        Ok((self.client, request, opts))
    }

    /// Sends the request: waits for rate limits, applies auth, retries what the
    /// policy allows, and classifies the outcome.
    ///
    /// # Errors
    ///
    /// A [`ConnectorError`] classified by the client's classifier, with the
    /// redacted URL, the status and a scrubbed body excerpt; `is_retryable()` is
    /// false when retries ran out (status exhausted).
    pub async fn send(self) -> Result<Response> {
        let (client, request, opts) = self.into_parts()?;
        client.execute(request, &opts).await
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| self.client.redact_url(u.as_str()))
                    .ok(),
            )
            .field(
                "headers",
                &crate::secret::RedactedHeaders {
                    headers: &self.headers,
                    extra_sensitive: self.client.sensitive_headers(),
                    scrubber: self.client.scrubber(),
                },
            )
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}

/// Flattens a serialisable value into name/value pairs.
fn to_pairs<T: Serialize + ?Sized>(value: &T) -> Result<Vec<(String, String)>, String> {
    use serde_json::Value;
    fn scalar(v: &Value) -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Array(_) | Value::Object(_) => Err("nested values cannot be encoded".to_owned()),
        }
    }
    let mut out = Vec::new();
    match serde_json::to_value(value).map_err(|e| e.to_string())? {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Array(items) => {
                        for item in &items {
                            if let Some(s) = scalar(item)? {
                                out.push((k.clone(), s));
                            }
                        }
                    }
                    other => {
                        if let Some(s) = scalar(&other)? {
                            out.push((k, s));
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Array(pair) if pair.len() == 2 => {
                        let name = scalar(&pair[0])?.ok_or("a parameter name is null")?;
                        if let Some(v) = scalar(&pair[1])? {
                            out.push((name, v));
                        }
                    }
                    _ => return Err("expected a list of (name, value) pairs".to_owned()),
                }
            }
        }
        Value::Null => {}
        _ => return Err("expected a map, a struct or a list of pairs".to_owned()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_from_many_shapes() {
        assert_eq!(
            to_pairs(&[("a", "1"), ("b", "x y")]).unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        #[derive(Serialize)]
        struct Q {
            state: &'static str,
            per_page: u32,
            since: Option<String>,
            labels: Vec<&'static str>,
        }
        let q = Q {
            state: "all",
            per_page: 100,
            since: None,
            labels: vec!["bug", "ui"],
        };
        assert_eq!(
            to_pairs(&q).unwrap(),
            vec![
                ("labels".into(), "bug".into()),
                ("labels".into(), "ui".into()),
                ("per_page".into(), "100".into()),
                ("state".into(), "all".into())
            ]
        );
        assert!(to_pairs(&"just a string").is_err());
    }

    #[test]
    fn resolves_paths_against_the_base() {
        let client = HttpClient::builder("https://h.example/api/v4/")
            .build()
            .unwrap();
        assert_eq!(
            client.resolve("/projects").unwrap().as_str(),
            "https://h.example/api/v4/projects"
        );
        assert_eq!(
            client.resolve("projects?x=1").unwrap().as_str(),
            "https://h.example/api/v4/projects?x=1"
        );
        assert_eq!(
            client
                .resolve("https://h.example/api/v4/next?page=2")
                .unwrap()
                .as_str(),
            "https://h.example/api/v4/next?page=2"
        );
        let err = client.resolve("https://evil.example/steal").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("https://evil.example"), "{err}");
        assert_eq!(
            client.resolve("").unwrap().as_str(),
            "https://h.example/api/v4"
        );
    }

    #[test]
    fn bad_base_url_is_a_config_error() {
        let err = HttpClient::builder("not a url")
            .with_connector("jira")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("base_url"), "{err}");
        let err = HttpClient::builder("ftp://h.example").build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
