//! # connector-http
//!
//! The HTTP client every connector of the SDK makes its requests through. Vendor
//! crates never name the HTTP library underneath; they get:
//!
//! - [`HttpClient`]: a cheap-to-clone client built from a base URL (always
//!   overridable), default headers, a `User-Agent` naming the SDK and connector,
//!   connect and per-attempt timeouts and gzip, over reqwest with rustls and the
//!   `ring` provider ([`tls`]).
//! - [`auth`]: basic, bearer, API key (header or query), OAuth 2.0 client
//!   credentials and refresh token with a single-flight cached token, Google
//!   service-account JWT (feature `jwt`) and AWS Signature V4, behind one trait.
//! - [`retry`] and [`classify`]: one ordered classifier shared by all vendors,
//!   exponential backoff with full jitter, `Retry-After` and reset headers honoured
//!   up to a cap, a retry budget, and only safe requests retried.
//! - [`ratelimit`]: a client quota, a server-reported reset that pauses every
//!   request on the client, and a max-in-flight cap.
//! - [`paginate`]: the pagination strategies of `connector-core` bound to HTTP,
//!   yielding items (dynamic or typed, decoded straight from the page body) or
//!   whole pages with resume tokens.
//! - Errors are `connector_core::ConnectorError`s classified once, here, with the
//!   URL redacted and a scrubbed body excerpt; a `tracing` span per request
//!   carries method, redacted URL, status, attempt and latency, and no secret.
//!
//! # Example
//!
//! A paginated, authenticated, retried request:
//!
//! ```no_run
//! # async fn run() -> connector_core::Result<()> {
//! use futures::TryStreamExt as _;
//! use connector_http::{HttpClient, RateLimit, RetryPolicy};
//! use connector_http::auth::OAuth2ClientCredentials;
//! use connector_http::paginate::{Locator, Pagination};
//!
//! let client = HttpClient::builder("https://graph.microsoft.com/v1.0")
//!     .with_connector("msgraph")
//!     .with_auth(
//!         OAuth2ClientCredentials::new(
//!             "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token",
//!             "client-id",
//!             "client-secret",
//!         )
//!         .with_scope("https://graph.microsoft.com/.default"),
//!     )
//!     .with_retry(RetryPolicy::default().with_max_attempts(5))
//!     .with_rate_limit(RateLimit::per_second(10))
//!     .build()?;
//!
//! let users: Vec<serde_json::Value> = client
//!     .get("/users")
//!     .query(&[("$top", "100")])
//!     .paginate(Pagination::next_url(Locator::body("@odata.nextLink")))
//!     .items_at("value")
//!     .try_collect()
//!     .await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

/// Hooks for the SDK's own benchmarks; not a stable API (feature `bench-internals`).
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
#[path = "bench_hooks.rs"]
pub mod __bench;
pub mod auth;
mod base_url;
pub mod classify;
mod client;
mod decode;
pub mod headers;
pub mod paginate;
pub mod ratelimit;
mod read_ahead;
mod response;
pub mod retry;
pub mod secret;
mod settings;
pub mod tls;

pub use base_url::checked_base_url;
pub use classify::{Classifier, RetryReason, Verdict};
pub use client::{HttpClient, HttpClientBuilder, MAX_ERROR_BODY, RequestBuilder, SDK_USER_AGENT};
pub use ratelimit::RateLimit;
pub use response::Response;
pub use retry::{HttpEvent, RetryBudget, RetryPolicy};
pub use settings::{DEFAULT_REQUEST_TIMEOUT, HttpSettings};

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
pub use secrecy::{ExposeSecret, SecretString};
pub use url::Url;
