//! Google service-account JWT bearer exchange (RFC 7523), signed RS256 with ring.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use connector_core::error::REDACTED;
use connector_core::{ConnectorError, Result};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use secrecy::{ExposeSecret, SecretString};

use super::oauth2::{DEFAULT_SKEW, TokenCache, request_token};
use super::{Applied, AuthContext, AuthRequest, AuthStrategy};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Google accepts assertions valid for at most one hour.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// A Google service account: signs an RS256 JWT with the account's private key
/// and exchanges it for an access token at `token_uri` (feature `jwt`).
///
/// The token is cached and refreshed like the OAuth 2.0 strategies (single
/// flight, refreshed 60 s before expiry, dropped after a `401`). Domain-wide
/// delegation (Admin SDK Directory API) impersonates a user with
/// [`with_subject`](Self::with_subject).
///
/// ```no_run
/// use connector_http::auth::GoogleServiceAccount;
///
/// let key_json = std::fs::read_to_string("service-account.json").unwrap();
/// let auth = GoogleServiceAccount::from_json(&key_json)
///     .unwrap()
///     .with_scope("https://www.googleapis.com/auth/admin.directory.user.readonly")
///     .with_subject("admin@example.com");
/// ```
pub struct GoogleServiceAccount {
    client_email: String,
    key_id: Option<String>,
    private_key: SecretString,
    key_pair: Arc<RsaKeyPair>,
    token_uri: String,
    scopes: Vec<String>,
    subject: Option<String>,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    cache: TokenCache,
}

impl GoogleServiceAccount {
    /// Reads a service-account key file (the JSON Google issues): `client_email`,
    /// `private_key`, and optionally `private_key_id` and `token_uri`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming the missing or
    /// invalid field; the key itself never appears in the message.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            ConnectorError::config(format!(
                "the service-account key is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let email = field("client_email").ok_or_else(|| {
            ConnectorError::config("the service-account key has no `client_email`")
        })?;
        let key = field("private_key").ok_or_else(|| {
            ConnectorError::config("the service-account key has no `private_key`")
        })?;
        let mut account = Self::new(
            email,
            SecretString::from(key.to_owned()),
            field("token_uri").unwrap_or(DEFAULT_TOKEN_URI),
        )?;
        account.key_id = field("private_key_id").map(str::to_owned);
        Ok(account)
    }

    /// A service account from its email, PEM private key (PKCS#8 `BEGIN PRIVATE
    /// KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`) and token endpoint.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) when the key cannot
    /// be read as an RSA private key.
    pub fn new(
        client_email: impl Into<String>,
        private_key_pem: impl Into<SecretString>,
        token_uri: impl Into<String>,
    ) -> Result<Self> {
        let private_key = private_key_pem.into();
        let key_pair = parse_pem(private_key.expose_secret())?;
        Ok(Self {
            client_email: client_email.into(),
            key_id: None,
            private_key,
            key_pair: Arc::new(key_pair),
            token_uri: token_uri.into(),
            scopes: Vec::new(),
            subject: None,
            clock: Arc::new(SystemTime::now),
            cache: TokenCache::new(DEFAULT_SKEW),
        })
    }

    /// Requests a scope (sent space-separated).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Impersonates `user` (domain-wide delegation: the JWT's `sub`).
    pub fn with_subject(mut self, user: impl Into<String>) -> Self {
        self.subject = Some(user.into());
        self
    }

    /// Exchanges the assertion at `token_uri` instead of the key file's.
    pub fn with_token_uri(mut self, token_uri: impl Into<String>) -> Self {
        self.token_uri = token_uri.into();
        self
    }

    /// Refreshes this long before the token expires (default 60 s).
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.cache = TokenCache::new(skew);
        self
    }

    /// Uses `clock` for the assertion's `iat`/`exp` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The signed assertion for time `now`: `header.claims.signature`, each part
    /// base64url without padding.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unexpected`](connector_core::ErrorKind::Unexpected) when signing
    /// fails.
    pub fn assertion(&self, now: SystemTime) -> Result<SecretString> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = serde_json::Value::from(kid.clone());
        }
        let mut claims = serde_json::json!({
            "iss": self.client_email,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        if !self.scopes.is_empty() {
            claims["scope"] = serde_json::Value::from(self.scopes.join(" "));
        }
        if let Some(sub) = &self.subject {
            claims["sub"] = serde_json::Value::from(sub.clone());
        }
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                ConnectorError::unexpected("signing the service-account assertion failed")
            })?;
        Ok(SecretString::from(format!(
            "{signing_input}.{}",
            b64.encode(signature)
        )))
    }

    async fn fetch(&self, cx: &AuthContext<'_>) -> Result<super::oauth2::TokenResponse> {
        let assertion = self.assertion((self.clock)())?;
        cx.remember_secret(&assertion);
        let form = [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.expose_secret()),
        ];
        request_token(
            cx.token_request(&self.token_uri)
                .idempotent(true)
                .form(&form),
        )
        .await
    }
}

fn parse_pem(pem: &str) -> Result<RsaKeyPair> {
    let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| {
            ConnectorError::config("the service-account `private_key` is not valid PEM")
        })?;
    let parsed = if pkcs1 {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    };
    parsed.map_err(|e| {
        ConnectorError::config(format!(
            "the service-account `private_key` is not a usable RSA key: {e}"
        ))
    })
}

impl fmt::Debug for GoogleServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &REDACTED)
            .field("token_uri", &self.token_uri)
            .field("scopes", &self.scopes)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthStrategy for GoogleServiceAccount {
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
        vec![self.private_key.clone()]
    }
}
