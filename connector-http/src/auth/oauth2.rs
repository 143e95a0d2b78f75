//! OAuth 2.0 grants with a cached, single-flight token.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use connector_core::error::REDACTED;
use connector_core::{ConnectorError, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{Applied, AuthContext, AuthRequest, AuthStrategy};
use crate::client::RequestBuilder;

/// The default time before expiry at which a cached token is refreshed.
pub(crate) const DEFAULT_SKEW: Duration = Duration::from_secs(60);

/// A token as the token endpoint returned it.
pub(crate) struct TokenResponse {
    pub(crate) access_token: SecretString,
    pub(crate) token_type: String,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<SecretString>,
}

impl TokenResponse {
    /// Parses an RFC 6749 §5.1 token response. Error messages name fields only:
    /// the body holds the token and is never quoted.
    pub(crate) fn parse(body: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ConnectorError::decode(format!(
                "the token endpoint did not return JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let field = |name: &str| value.get(name);
        let access_token = field("access_token")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectorError::decode("the token response has no `access_token` string")
            })?;
        let token_type = match field("token_type").and_then(|v| v.as_str()) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => "Bearer".to_owned(),
        };
        // Some servers send `expires_in` as a string ("3599").
        let expires_in = match field("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(1e9)));
        let refresh_token = field("refresh_token")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()));
        Ok(Self {
            access_token: SecretString::from(access_token.to_owned()),
            token_type,
            expires_in,
            refresh_token,
        })
    }
}

struct Cached {
    header: SecretString,
    expires_at: Option<Instant>,
    generation: u64,
}

/// A cached token with single-flight refresh: however many requests find the token
/// missing or about to expire at once, one of them fetches and the others wait for
/// its result.
pub(crate) struct TokenCache {
    current: RwLock<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    skew: Duration,
}

impl TokenCache {
    pub(crate) fn new(skew: Duration) -> Self {
        Self {
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            skew,
        }
    }

    fn fresh(&self) -> Option<(SecretString, Applied)> {
        let guard = self.current.read().ok()?;
        let cached = guard.as_ref()?;
        let fresh = cached
            .expires_at
            .is_none_or(|at| Instant::now() + self.skew < at);
        fresh.then(|| {
            (
                cached.header.clone(),
                Applied::generation(cached.generation),
            )
        })
    }

    /// The `Authorization` value of a fresh token, fetching one with `fetch` when
    /// none is cached or the cached one expires within the skew.
    pub(crate) async fn get<F, Fut>(
        &self,
        cx: &AuthContext<'_>,
        fetch: F,
    ) -> Result<(SecretString, Applied)>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<TokenResponse>>,
    {
        if let Some(hit) = self.fresh() {
            return Ok(hit);
        }
        let _flight = self.refresh.lock().await;
        if let Some(hit) = self.fresh() {
            return Ok(hit);
        }
        let token = fetch().await?;
        cx.remember_secret(&token.access_token);
        let header = SecretString::from(format!(
            "{} {}",
            token.token_type,
            token.access_token.expose_secret()
        ));
        cx.remember_secret(&header);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let expires_at = token.expires_in.map(|d| Instant::now() + d);
        if let Ok(mut guard) = self.current.write() {
            *guard = Some(Cached {
                header: header.clone(),
                expires_at,
                generation,
            });
        }
        Ok((header, Applied::generation(generation)))
    }

    /// Drops the cached token if it is still the one tagged `applied`.
    pub(crate) fn invalidate(&self, applied: Applied) {
        if let Ok(mut guard) = self.current.write()
            && guard
                .as_ref()
                .is_some_and(|c| c.generation == applied.get())
        {
            *guard = None;
        }
    }
}

/// Sends a token request and classifies failures as [`ErrorKind::Auth`]: a token
/// endpoint answering 400/401/403 means the client credentials or grant are bad.
pub(crate) async fn request_token(request: RequestBuilder) -> Result<TokenResponse> {
    let response = request
        .send()
        .await
        .map_err(|err| match err.context().http_status {
            Some(400 | 401 | 403) => rekind(
                &err,
                ErrorKind::Auth,
                "the token endpoint rejected the grant",
            ),
            _ => err,
        })?;
    let body = response.bytes().await?;
    TokenResponse::parse(&body)
}

/// A copy of `err` with another kind and message (context kept).
pub(crate) fn rekind(err: &ConnectorError, kind: ErrorKind, message: &str) -> ConnectorError {
    let ctx = err.context();
    let mut out = ConnectorError::new(kind, message).with_operation("token_refresh");
    if let (Some(method), Some(url)) = (&ctx.method, &ctx.url) {
        out = out.with_request(method.clone(), url);
    }
    if let Some(status) = ctx.http_status {
        out = out.with_http_status(status);
    }
    if let Some(body) = &ctx.body_excerpt {
        out = out.with_body_excerpt(body);
    }
    out
}

/// How a confidential client proves its identity to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 §2.3.1, the
    /// method every server must support). The default.
    #[default]
    BasicHeader,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

fn add_client_auth(
    mut request: RequestBuilder,
    form: &mut Vec<(String, String)>,
    client_id: &str,
    client_secret: Option<&SecretString>,
    style: ClientAuth,
) -> RequestBuilder {
    match (style, client_secret) {
        (ClientAuth::BasicHeader, Some(secret)) => {
            request = request.basic_auth(client_id, secret);
        }
        (ClientAuth::RequestBody, Some(secret)) => {
            form.push(("client_id".into(), client_id.into()));
            form.push(("client_secret".into(), secret.expose_secret().to_owned()));
        }
        (_, None) => form.push(("client_id".into(), client_id.into())),
    }
    request
}

/// The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) with a cached token.
///
/// The token is refreshed [`refresh_skew`](Self::with_refresh_skew) (default 60 s)
/// before it expires, by one request however many are waiting; after a `401` on a
/// cached token it is dropped and the request retried once.
///
/// ```
/// use connector_http::auth::OAuth2ClientCredentials;
///
/// let auth = OAuth2ClientCredentials::new(
///     "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token",
///     "client-id",
///     "client-secret",
/// )
/// .with_scope("https://graph.microsoft.com/.default");
/// assert!(!format!("{auth:?}").contains("client-secret"));
/// ```
pub struct OAuth2ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    client_auth: ClientAuth,
    cache: TokenCache,
}

impl OAuth2ClientCredentials {
    /// A grant against `token_url` for `client_id`/`client_secret`.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        Self {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: Vec::new(),
            params: Vec::new(),
            client_auth: ClientAuth::default(),
            cache: TokenCache::new(DEFAULT_SKEW),
        }
    }

    /// Requests a scope (sent space-separated as `scope`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds a form parameter to the token request (`audience`, `resource`).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Sets how the client authenticates to the token endpoint (default: basic).
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Refreshes this long before the token expires (default 60 s).
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.cache = TokenCache::new(skew);
        self
    }

    async fn fetch(&self, cx: &AuthContext<'_>) -> Result<TokenResponse> {
        let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        if !self.scopes.is_empty() {
            form.push(("scope".into(), self.scopes.join(" ")));
        }
        form.extend(self.params.iter().cloned());
        let request = cx.token_request(&self.token_url).idempotent(true);
        let request = add_client_auth(
            request,
            &mut form,
            &self.client_id,
            Some(&self.client_secret),
            self.client_auth,
        );
        request_token(request.form(&form)).await
    }
}

impl fmt::Debug for OAuth2ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2ClientCredentials")
            .field(
                "token_url",
                &connector_core::error::redact_url(&self.token_url),
            )
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("scopes", &self.scopes)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStrategy for OAuth2ClientCredentials {
    async fn apply(&self, request: &mut AuthRequest<'_>, cx: &AuthContext<'_>) -> Result<Applied> {
        let (header, applied) = self.cache.get(cx, || self.fetch(cx)).await?;
        request.set_header(http::header::AUTHORIZATION, header.expose_secret())?;
        Ok(applied)
    }

    async fn on_unauthorized(&self, applied: Applied, _cx: &AuthContext<'_>) -> Result<bool> {
        self.cache.invalidate(applied);
        Ok(true)
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.client_secret.clone()]
    }
}

/// Called with the new refresh token when the server rotates it, so the caller can
/// persist it. Runs inside the refresh, before any request uses the new token; keep
/// it short (hand the token to a channel or a task for slow storage).
pub type RotationCallback = Arc<dyn Fn(&SecretString) + Send + Sync>;

/// The OAuth 2.0 refresh-token grant (RFC 6749 §6) with a cached access token.
///
/// When the token response carries a new `refresh_token` (rotation, as Okta,
/// Salesforce, Atlassian and Google do on request), it replaces the old one and
/// the [`on_rotation`](Self::on_rotation) callback receives it.
///
/// Refresh requests are not retried after a failure that may have reached the
/// server: with rotation the old refresh token may already be spent.
pub struct OAuth2RefreshToken {
    token_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    refresh_token: RwLock<SecretString>,
    scopes: Vec<String>,
    client_auth: ClientAuth,
    on_rotation: Option<RotationCallback>,
    cache: TokenCache,
}

impl OAuth2RefreshToken {
    /// A grant against `token_url` for a public client `client_id`.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        refresh_token: impl Into<SecretString>,
    ) -> Self {
        Self {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            refresh_token: RwLock::new(refresh_token.into()),
            scopes: Vec::new(),
            client_auth: ClientAuth::default(),
            on_rotation: None,
            cache: TokenCache::new(DEFAULT_SKEW),
        }
    }

    /// Authenticates as a confidential client with `secret`.
    pub fn with_client_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Requests a scope (sent space-separated as `scope`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Sets how the client authenticates to the token endpoint (default: basic).
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Refreshes this long before the token expires (default 60 s).
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.cache = TokenCache::new(skew);
        self
    }

    /// Calls `callback` with every new refresh token the server issues.
    pub fn on_rotation(mut self, callback: impl Fn(&SecretString) + Send + Sync + 'static) -> Self {
        self.on_rotation = Some(Arc::new(callback));
        self
    }

    fn current_refresh_token(&self) -> Result<SecretString> {
        self.refresh_token
            .read()
            .map(|t| t.clone())
            .map_err(|_| ConnectorError::unexpected("the refresh token lock was poisoned"))
    }

    async fn fetch(&self, cx: &AuthContext<'_>) -> Result<TokenResponse> {
        let refresh_token = self.current_refresh_token()?;
        let mut form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            (
                "refresh_token".to_owned(),
                refresh_token.expose_secret().to_owned(),
            ),
        ];
        if !self.scopes.is_empty() {
            form.push(("scope".into(), self.scopes.join(" ")));
        }
        let request = cx.token_request(&self.token_url);
        let request = add_client_auth(
            request,
            &mut form,
            &self.client_id,
            self.client_secret.as_ref(),
            self.client_auth,
        );
        let token = request_token(request.form(&form)).await?;
        if let Some(new) = &token.refresh_token
            && new.expose_secret() != refresh_token.expose_secret()
        {
            cx.remember_secret(new);
            if let Ok(mut guard) = self.refresh_token.write() {
                *guard = new.clone();
            }
            if let Some(callback) = &self.on_rotation {
                callback(new);
            }
        }
        Ok(token)
    }
}

impl fmt::Debug for OAuth2RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2RefreshToken")
            .field(
                "token_url",
                &connector_core::error::redact_url(&self.token_url),
            )
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| REDACTED),
            )
            .field("refresh_token", &REDACTED)
            .field("scopes", &self.scopes)
            .field("rotation_callback", &self.on_rotation.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStrategy for OAuth2RefreshToken {
    async fn apply(&self, request: &mut AuthRequest<'_>, cx: &AuthContext<'_>) -> Result<Applied> {
        let (header, applied) = self.cache.get(cx, || self.fetch(cx)).await?;
        request.set_header(http::header::AUTHORIZATION, header.expose_secret())?;
        Ok(applied)
    }

    async fn on_unauthorized(&self, applied: Applied, _cx: &AuthContext<'_>) -> Result<bool> {
        self.cache.invalidate(applied);
        Ok(true)
    }

    fn secrets(&self) -> Vec<SecretString> {
        let mut out: Vec<SecretString> = self.client_secret.iter().cloned().collect();
        if let Ok(t) = self.current_refresh_token() {
            out.push(t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_responses() {
        let t = TokenResponse::parse(
            br#"{"access_token":"at","token_type":"bearer","expires_in":"3599","refresh_token":"rt"}"#,
        )
        .unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, Some(Duration::from_secs(3599)));
        assert_eq!(
            t.refresh_token
                .map(|s| s.expose_secret().to_owned())
                .as_deref(),
            Some("rt")
        );
        let err = TokenResponse::parse(br#"{"token":"leak-me"}"#)
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(!err.to_string().contains("leak-me"));
        let err = TokenResponse::parse(b"<html>leak-me").err().unwrap();
        assert!(!format!("{err:?}").contains("leak-me"));
    }

    #[test]
    fn debug_is_redacted_exactly() {
        let auth = OAuth2RefreshToken::new("https://id.example/token", "cid", "rt-canary")
            .with_client_secret("cs-canary");
        assert_eq!(
            format!("{auth:?}"),
            r#"OAuth2RefreshToken { token_url: "https://id.example/token", client_id: "cid", client_secret: Some("REDACTED"), refresh_token: "REDACTED", scopes: [], rotation_callback: false, .. }"#
        );
        let auth = OAuth2ClientCredentials::new("https://id.example/token", "cid", "cs-canary");
        assert_eq!(
            format!("{auth:?}"),
            r#"OAuth2ClientCredentials { token_url: "https://id.example/token", client_id: "cid", client_secret: "REDACTED", scopes: [], client_auth: BasicHeader, .. }"#
        );
    }
}
