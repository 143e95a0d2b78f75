//! Authentication strategies behind one trait, applied to every attempt of every
//! request.
//!
//! | strategy | sends |
//! |---|---|
//! | [`Basic`] | `Authorization: Basic base64(user:password)` |
//! | [`Bearer`] | `Authorization: Bearer <token>` |
//! | [`ApiKey`] | a header (`PRIVATE-TOKEN: <key>`, `Authorization: Token token=<key>`) or a query parameter |
//! | [`OAuth2ClientCredentials`] | a cached bearer token from the client-credentials grant |
//! | [`OAuth2RefreshToken`] | a cached bearer token from the refresh-token grant, rotating refresh tokens handed to a callback |
//! | `GoogleServiceAccount` (feature `jwt`) | a cached bearer token from an RS256 JWT-bearer exchange |
//! | [`AwsSigV4`] | an AWS Signature Version 4 `Authorization` header |
//!
//! Every secret is a [`SecretString`]; every strategy's `Debug` prints `REDACTED` in
//! its place; every secret a strategy holds or fetches is scrubbed by the client
//! from error bodies and URLs.
//!
//! A strategy that caches tokens gets one chance to refresh after a `401`: the client
//! calls [`AuthStrategy::on_unauthorized`] and, when it returns `true`, repeats the
//! request once (even a `POST`, since the server rejected it before acting on it).

mod oauth2;
mod sigv4;

#[cfg(feature = "jwt")]
mod google;

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use connector_core::{ConnectorError, Result};
use http::{HeaderName, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::client::{HttpClient, RequestBuilder};
use crate::secret::Scrubber;

#[cfg(feature = "jwt")]
pub use google::GoogleServiceAccount;
pub use oauth2::{ClientAuth, OAuth2ClientCredentials, OAuth2RefreshToken, RotationCallback};
pub use sigv4::{AwsSigV4, SigV4Output};

/// The strategy for a config's [`Credentials`](connector_core::Credentials), for the
/// kinds that need no vendor knowledge:
///
/// - `none` → no auth (`Ok(None)`);
/// - `basic` → [`Basic`]; `bearer` → [`Bearer`];
/// - `oauth2_client_credentials` → [`OAuth2ClientCredentials`] with its scopes;
/// - `oauth2_refresh_token` → [`OAuth2RefreshToken`] (with the client secret when
///   given).
///
/// The OAuth2 kinds need `token_url` in the credentials; a connector whose vendor has
/// a fixed token endpoint builds the strategy itself.
///
/// # Errors
///
/// [`Config`](connector_core::ErrorKind::Config) for an OAuth2 kind without
/// `token_url`, and for API keys, service accounts, AWS keys and custom credentials:
/// where those go (header name, service, region) is the connector's knowledge, so
/// it builds [`ApiKey`], `GoogleServiceAccount` (feature `jwt`) or [`AwsSigV4`] itself.
pub fn from_credentials(
    credentials: &connector_core::Credentials,
) -> Result<Option<std::sync::Arc<dyn AuthStrategy>>> {
    use connector_core::Credentials as C;
    use std::sync::Arc;
    let secret = |s: &SecretString| SecretString::from(s.expose_secret());
    let token_url = |url: &Option<String>| {
        url.clone().ok_or_else(|| {
            ConnectorError::config(format!(
                "credentials.token_url: required for `{}` credentials",
                credentials.kind()
            ))
        })
    };
    let strategy: Arc<dyn AuthStrategy> = match credentials {
        C::None => return Ok(None),
        C::Basic { username, password } => Arc::new(Basic::new(username.clone(), secret(password))),
        C::Bearer { token } => Arc::new(Bearer::new(secret(token))),
        C::OAuth2ClientCredentials {
            client_id,
            client_secret,
            token_url: url,
            scopes,
            ..
        } => {
            let mut grant = OAuth2ClientCredentials::new(
                token_url(url)?,
                client_id.clone(),
                secret(client_secret),
            );
            for scope in scopes {
                grant = grant.with_scope(scope.clone());
            }
            Arc::new(grant)
        }
        C::OAuth2RefreshToken {
            client_id,
            client_secret,
            refresh_token,
            token_url: url,
            ..
        } => {
            let mut grant =
                OAuth2RefreshToken::new(token_url(url)?, client_id.clone(), secret(refresh_token));
            if let Some(client_secret) = client_secret {
                grant = grant.with_client_secret(secret(client_secret));
            }
            Arc::new(grant)
        }
        other => {
            return Err(ConnectorError::config(format!(
                "credentials: `{}` credentials need connector-specific setup; build the \
                 auth strategy in the connector",
                other.kind()
            )));
        }
    };
    Ok(Some(strategy))
}

/// Adds credentials to a request. Implemented by every strategy in this module and
/// by vendor crates with a scheme of their own.
///
/// The client calls [`apply`](Self::apply) before every attempt (so signatures and
/// tokens are always fresh), and [`on_unauthorized`](Self::on_unauthorized) once
/// when an attempt gets a `401`.
#[async_trait]
pub trait AuthStrategy: Send + Sync + fmt::Debug {
    /// Adds credentials to `request`, fetching or refreshing a token through `cx`
    /// when needed. Returns a tag for the credentials used, handed back to
    /// [`on_unauthorized`](Self::on_unauthorized).
    ///
    /// # Errors
    ///
    /// Whatever getting a token fails with, usually
    /// [`ErrorKind::Auth`](connector_core::ErrorKind::Auth).
    async fn apply(&self, request: &mut AuthRequest<'_>, cx: &AuthContext<'_>) -> Result<Applied>;

    /// Reacts to a `401` on a request that carried the credentials tagged `applied`.
    /// Returns `true` when a retry may succeed (the cached token was dropped and the
    /// next [`apply`](Self::apply) fetches a new one). The default returns `false`.
    ///
    /// # Errors
    ///
    /// An error replaces the `401` error returned to the caller.
    async fn on_unauthorized(&self, applied: Applied, cx: &AuthContext<'_>) -> Result<bool> {
        let _ = (applied, cx);
        Ok(false)
    }

    /// Header names this strategy writes secrets into, beyond the standard ones
    /// (`Authorization`, API-key-like names). They are never logged.
    fn sensitive_headers(&self) -> Vec<HeaderName> {
        Vec::new()
    }

    /// The secret values this strategy holds from the start, scrubbed by the client
    /// from every error and trace.
    fn secrets(&self) -> Vec<SecretString> {
        Vec::new()
    }
}

/// A tag for the credentials an [`AuthStrategy::apply`] call used, such as the
/// generation of a cached token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Applied(u64);

impl Applied {
    /// Credentials that never change (basic, bearer, API key, signatures).
    pub const STATIC: Applied = Applied(0);

    /// A tag for generation `generation` of a cached token.
    pub fn generation(generation: u64) -> Self {
        Applied(generation)
    }

    /// The generation this tag names.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The request an [`AuthStrategy`] adds credentials to.
///
/// Gives access to what signing schemes need (method, URL, headers, body bytes)
/// without exposing the HTTP library underneath.
pub struct AuthRequest<'a> {
    inner: &'a mut reqwest::Request,
}

impl<'a> AuthRequest<'a> {
    pub(crate) fn new(inner: &'a mut reqwest::Request) -> Self {
        Self { inner }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The full request URL, query included.
    pub fn url(&self) -> &Url {
        self.inner.url()
    }

    /// The request headers.
    pub fn headers(&self) -> &http::HeaderMap {
        self.inner.headers()
    }

    /// The request body, when it is in memory (always, for requests built by this
    /// crate). `None` for an empty body.
    pub fn body(&self) -> Option<&[u8]> {
        self.inner.body().and_then(|b| b.as_bytes())
    }

    /// Sets a header, replacing any value it had. The value is marked sensitive so
    /// HTTP libraries do not log it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) when the value is
    /// not a valid header value (the message never contains the value).
    pub fn set_header(&mut self, name: HeaderName, value: &str) -> Result<()> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ConnectorError::config(format!(
                "the credential for header `{name}` is not a valid header value"
            ))
        })?;
        value.set_sensitive(true);
        self.inner.headers_mut().insert(name, value);
        Ok(())
    }

    /// Sets a header that holds no secret (a date, a content hash).
    pub fn set_plain_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.inner.headers_mut().insert(name, value);
    }

    /// Sets a query parameter, replacing any parameter of the same name.
    pub fn set_query_param(&mut self, name: &str, value: &str) {
        set_query_param(self.inner.url_mut(), name, value);
    }
}

impl fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("method", self.inner.method())
            .field(
                "url",
                &connector_core::error::redact_url(self.inner.url().as_str()),
            )
            .finish_non_exhaustive()
    }
}

/// Replaces (or adds) one query parameter, keeping the others in order.
pub(crate) fn set_query_param(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    for (k, v) in &kept {
        pairs.append_pair(k, v);
    }
    pairs.append_pair(name, value);
}

/// What an [`AuthStrategy`] may use while applying credentials: the client (for
/// token requests) and its scrubber.
pub struct AuthContext<'a> {
    client: &'a HttpClient,
}

impl<'a> AuthContext<'a> {
    pub(crate) fn new(client: &'a HttpClient) -> Self {
        Self { client }
    }

    /// A `POST` to a token endpoint (any absolute URL). It goes through the client's
    /// classifier, retry policy and tracing, but not through its auth strategy, rate
    /// limits or in-flight cap (a token endpoint is a different service, and a
    /// request waiting for a token already holds a permit).
    pub fn token_request(&self, url: &str) -> RequestBuilder {
        self.client.token_request(url)
    }

    /// Remembers a secret learned at run time (a fetched access token, a rotated
    /// refresh token) so the client scrubs it from errors and traces.
    pub fn remember_secret(&self, secret: &SecretString) {
        self.client.scrubber().add_dynamic(secret);
    }

    /// The client's scrubber.
    pub fn scrubber(&self) -> &Scrubber {
        self.client.scrubber()
    }
}

impl fmt::Debug for AuthContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthContext").finish_non_exhaustive()
    }
}

/// HTTP basic authentication: `Authorization: Basic base64(username:password)`.
#[derive(Clone)]
pub struct Basic {
    username: String,
    password: SecretString,
}

impl Basic {
    /// Authenticates as `username` with `password` (an API token, for Jira Cloud).
    pub fn new(username: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    fn encoded(&self) -> SecretString {
        let raw = format!("{}:{}", self.username, self.password.expose_secret());
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basic")
            .field("username", &self.username)
            .field("password", &connector_core::error::REDACTED)
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for Basic {
    async fn apply(&self, request: &mut AuthRequest<'_>, _cx: &AuthContext<'_>) -> Result<Applied> {
        let value = format!("Basic {}", self.encoded().expose_secret());
        request.set_header(http::header::AUTHORIZATION, &value)?;
        Ok(Applied::STATIC)
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.password.clone(), self.encoded()]
    }
}

/// A static bearer token: `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Bearer {
    token: SecretString,
}

impl Bearer {
    /// Sends `token` as a bearer token.
    pub fn new(token: impl Into<SecretString>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("token", &connector_core::error::REDACTED)
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for Bearer {
    async fn apply(&self, request: &mut AuthRequest<'_>, _cx: &AuthContext<'_>) -> Result<Applied> {
        let value = format!("Bearer {}", self.token.expose_secret());
        request.set_header(http::header::AUTHORIZATION, &value)?;
        Ok(Applied::STATIC)
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.token.clone()]
    }
}

/// Where an [`ApiKey`] goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyLocation {
    /// In a header of this name.
    Header(HeaderName),
    /// In a query parameter of this name.
    Query(String),
}

/// An API key in a header or a query parameter, with an optional prefix.
///
/// ```
/// use connector_http::auth::ApiKey;
///
/// // GitLab: `PRIVATE-TOKEN: <key>`.
/// let gitlab = ApiKey::header("PRIVATE-TOKEN", "glpat-example").unwrap();
/// // PagerDuty: `Authorization: Token token=<key>`.
/// let pagerduty = ApiKey::header("Authorization", "u+example").unwrap().with_prefix("Token token=");
/// // A query parameter: `?api_key=<key>`.
/// let query = ApiKey::query("api_key", "example");
/// assert_eq!(format!("{pagerduty:?}"), r#"ApiKey { location: Header("authorization"), prefix: Some("Token token="), key: "REDACTED" }"#);
/// ```
#[derive(Clone)]
pub struct ApiKey {
    location: ApiKeyLocation,
    prefix: Option<String>,
    key: SecretString,
}

impl ApiKey {
    /// Sends `key` in the header `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) when `name` is not a
    /// valid header name.
    pub fn header(name: &str, key: impl Into<SecretString>) -> Result<Self> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectorError::config(format!("`{name}` is not a valid header name")))?;
        Ok(Self {
            location: ApiKeyLocation::Header(name),
            prefix: None,
            key: key.into(),
        })
    }

    /// Sends `key` in the query parameter `name`.
    pub fn query(name: impl Into<String>, key: impl Into<SecretString>) -> Self {
        Self {
            location: ApiKeyLocation::Query(name.into()),
            prefix: None,
            key: key.into(),
        }
    }

    /// Puts `prefix` before the key (`"Token token="`, `"Bearer "`, `"SSWS "`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Where the key goes.
    pub fn location(&self) -> &ApiKeyLocation {
        &self.location
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .field("key", &connector_core::error::REDACTED)
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for ApiKey {
    async fn apply(&self, request: &mut AuthRequest<'_>, _cx: &AuthContext<'_>) -> Result<Applied> {
        let value = format!(
            "{}{}",
            self.prefix.as_deref().unwrap_or(""),
            self.key.expose_secret()
        );
        match &self.location {
            ApiKeyLocation::Header(name) => request.set_header(name.clone(), &value)?,
            ApiKeyLocation::Query(name) => request.set_query_param(name, &value),
        }
        Ok(Applied::STATIC)
    }

    fn sensitive_headers(&self) -> Vec<HeaderName> {
        match &self.location {
            ApiKeyLocation::Header(name) => vec![name.clone()],
            ApiKeyLocation::Query(_) => Vec::new(),
        }
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.key.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted_exactly() {
        assert_eq!(
            format!("{:?}", Basic::new("bot", "hunter2-canary")),
            r#"Basic { username: "bot", password: "REDACTED" }"#
        );
        assert_eq!(
            format!("{:?}", Bearer::new("tok-canary")),
            r#"Bearer { token: "REDACTED" }"#
        );
        assert_eq!(
            format!("{:?}", ApiKey::query("api_key", "k-canary")),
            r#"ApiKey { location: Query("api_key"), prefix: None, key: "REDACTED" }"#
        );
    }

    #[test]
    fn set_query_param_replaces() {
        let mut url = Url::parse("https://h/p?a=1&key=old&b=2").unwrap();
        set_query_param(&mut url, "key", "new value");
        assert_eq!(url.as_str(), "https://h/p?a=1&b=2&key=new+value");
    }
}
