//! Signature verification for each vendor scheme.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::delivery::{self, DeliveryId};
use super::encoding;
use super::headers::{Headers, optional, required};
use super::rejection::{Rejection, RejectionReason};
use crate::error::{ConnectorError, Result};

/// How long a timestamped delivery stays acceptable, in both directions, unless
/// set with [`WebhookVerifier::with_tolerance`]: five minutes, as Slack, Stripe's
/// official libraries and the Standard Webhooks spec use.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The longest `webhook-id` / delivery id kept (longer ones are ignored).
pub(crate) const MAX_ID_LEN: usize = 256;

/// GitHub's signature header.
pub const GITHUB_SIGNATURE: &str = "X-Hub-Signature-256";
/// GitHub's legacy SHA-1 signature header.
pub const GITHUB_SIGNATURE_SHA1: &str = "X-Hub-Signature";
/// Slack's signature header.
pub const SLACK_SIGNATURE: &str = "X-Slack-Signature";
/// Slack's timestamp header.
pub const SLACK_TIMESTAMP: &str = "X-Slack-Request-Timestamp";
/// Stripe's signature header (timestamp and signatures in one).
pub const STRIPE_SIGNATURE: &str = "Stripe-Signature";
/// Shopify's signature header.
pub const SHOPIFY_SIGNATURE: &str = "X-Shopify-Hmac-Sha256";
/// GitLab's secret token header.
pub const GITLAB_TOKEN: &str = "X-Gitlab-Token";
/// Standard Webhooks' message id header.
pub const STANDARD_ID: &str = "webhook-id";
/// Standard Webhooks' timestamp header.
pub const STANDARD_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks' signature header.
pub const STANDARD_SIGNATURE: &str = "webhook-signature";
/// PagerDuty's (v3 webhooks) signature header.
pub const PAGERDUTY_SIGNATURE: &str = "X-PagerDuty-Signature";

/// A vendor's webhook authentication scheme. See `docs/webhooks.md` for each
/// scheme's headers and signed bytes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookScheme {
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; no
    /// timestamp (dedupe on `X-GitHub-Delivery`).
    GitHub,
    /// `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>` with
    /// `X-Slack-Request-Timestamp`.
    Slack,
    /// `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]` over `"{t}.{body}"`, the
    /// whole `whsec_…` string being the key; any `v1` may match (rotation).
    Stripe,
    /// `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`; no timestamp.
    Shopify,
    /// `X-Gitlab-Token: <secret>`, compared in constant time; no signature.
    /// (GitLab's newer signing token uses [`StandardWebhooks`](Self::StandardWebhooks).)
    GitLab,
    /// `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")> …`
    /// with `webhook-id` and `webhook-timestamp`; the key is the base64 part of a
    /// `whsec_…` secret.
    StandardWebhooks,
    /// `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, body)>[,v1=<hex>…]`;
    /// no timestamp.
    PagerDuty,
}

impl WebhookScheme {
    /// Every scheme.
    pub const ALL: &'static [WebhookScheme] = &[
        WebhookScheme::GitHub,
        WebhookScheme::Slack,
        WebhookScheme::Stripe,
        WebhookScheme::Shopify,
        WebhookScheme::GitLab,
        WebhookScheme::StandardWebhooks,
        WebhookScheme::PagerDuty,
    ];

    /// A short lowercase name (`github`, `standard_webhooks`), also the prefix of
    /// [`DeliveryId::key`].
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookScheme::GitHub => "github",
            WebhookScheme::Slack => "slack",
            WebhookScheme::Stripe => "stripe",
            WebhookScheme::Shopify => "shopify",
            WebhookScheme::GitLab => "gitlab",
            WebhookScheme::StandardWebhooks => "standard_webhooks",
            WebhookScheme::PagerDuty => "pagerduty",
        }
    }

    /// The header carrying the signature (or, for GitLab, the token).
    pub fn signature_header(self) -> &'static str {
        match self {
            WebhookScheme::GitHub => GITHUB_SIGNATURE,
            WebhookScheme::Slack => SLACK_SIGNATURE,
            WebhookScheme::Stripe => STRIPE_SIGNATURE,
            WebhookScheme::Shopify => SHOPIFY_SIGNATURE,
            WebhookScheme::GitLab => GITLAB_TOKEN,
            WebhookScheme::StandardWebhooks => STANDARD_SIGNATURE,
            WebhookScheme::PagerDuty => PAGERDUTY_SIGNATURE,
        }
    }

    /// Whether the scheme signs a timestamp, so that the replay window applies.
    pub fn is_timestamped(self) -> bool {
        matches!(
            self,
            WebhookScheme::Slack | WebhookScheme::Stripe | WebhookScheme::StandardWebhooks
        )
    }
}

impl fmt::Display for WebhookScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What verification established about an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The scheme it was verified under.
    pub scheme: WebhookScheme,
    /// The signed timestamp, for timestamped schemes.
    pub timestamp: Option<DateTime<Utc>>,
    /// Which configured secret matched: 0 is the one given to
    /// [`WebhookVerifier::new`], then those added with
    /// [`with_secret`](WebhookVerifier::with_secret) in order. Watch it during a
    /// rotation: once nothing matches an old secret any more, remove it.
    pub secret_index: usize,
    /// The delivery's id, for de-duplication, when the scheme or body carries one
    /// (see [`DeliveryId::extract`]).
    pub delivery_id: Option<DeliveryId>,
}

/// Verifies deliveries of one [`WebhookScheme`] against one or more secrets.
///
/// Verification always runs over the exact raw body bytes (verify **before**
/// parsing), compares in constant time, and for timestamped schemes rejects a
/// timestamp more than the tolerance away from `now` in either direction. `now`
/// is a parameter so tests are deterministic; production code passes
/// `Utc::now()` (or uses [`verify_now`](Self::verify_now)).
///
/// Several secrets may be configured at once for a rotation: a delivery is
/// accepted when it matches any of them. `Debug` redacts the secrets.
///
/// # Examples
///
/// ```
/// use chrono::Utc;
/// use connector_core::webhook::{RejectionReason, WebhookScheme, WebhookVerifier};
///
/// let verifier = WebhookVerifier::new(WebhookScheme::GitHub, "It's a Secret to Everybody")?;
/// let headers = [(
///     "x-hub-signature-256",
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
/// )];
/// assert!(verifier.verify(&headers, b"Hello, World!", Utc::now()).is_ok());
///
/// let rejected = verifier.verify(&headers, b"Hello, World?", Utc::now()).unwrap_err();
/// assert_eq!(rejected.reason(), RejectionReason::SignatureMismatch);
/// assert_eq!(rejected.http_status(), 401);
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Clone)]
pub struct WebhookVerifier {
    scheme: WebhookScheme,
    keys: Vec<SecretSlice<u8>>,
    tolerance: Duration,
    legacy_sha1: bool,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("scheme", &self.scheme)
            .field("secrets", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .field("legacy_sha1", &self.legacy_sha1)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for `scheme` with one secret and the [`DEFAULT_TOLERANCE`].
    ///
    /// The secret is used as given (its UTF-8 bytes are the HMAC key; for Stripe
    /// that includes the `whsec_` prefix), except for
    /// [`StandardWebhooks`](WebhookScheme::StandardWebhooks), whose key is the
    /// base64 after an optional `whsec_` prefix.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the secret is empty, or
    /// is not valid base64 for Standard Webhooks. The message never contains the
    /// secret.
    pub fn new(scheme: WebhookScheme, secret: impl Into<SecretString>) -> Result<Self> {
        let key = key_for(scheme, &secret.into())?;
        Ok(Self {
            scheme,
            keys: vec![key],
            tolerance: DEFAULT_TOLERANCE,
            legacy_sha1: false,
        })
    }

    /// Adds another accepted secret, for a rotation: configure the new secret next
    /// to the old one, switch the vendor over, then drop the old one.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_secret(mut self, secret: impl Into<SecretString>) -> Result<Self> {
        self.keys.push(key_for(self.scheme, &secret.into())?);
        Ok(self)
    }

    /// Sets how far a signed timestamp may be from `now`, in either direction.
    /// Ignored by schemes without a timestamp. Default: [`DEFAULT_TOLERANCE`].
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Also accepts GitHub's legacy `X-Hub-Signature: sha1=…` when a delivery
    /// carries no `X-Hub-Signature-256`. Off by default; only with the
    /// `webhooks-github-sha1` feature. SHA-1 HMAC is still unforgeable in practice,
    /// but GitHub recommends SHA-256 and sends both.
    #[cfg(feature = "webhooks-github-sha1")]
    pub fn with_legacy_sha1(mut self, allow: bool) -> Self {
        self.legacy_sha1 = allow;
        self
    }

    /// The scheme.
    pub fn scheme(&self) -> WebhookScheme {
        self.scheme
    }

    /// The replay tolerance.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies a delivery against the current time.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub fn verify_now(
        &self,
        headers: &dyn Headers,
        body: &[u8],
    ) -> std::result::Result<Verified, Rejection> {
        self.verify(headers, body, Utc::now())
    }

    /// Verifies a delivery: `headers` as received, `body` the exact raw bytes,
    /// `now` the receiver's current time.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] naming the header concerned: missing or malformed header,
    /// signature mismatch, or (timestamped schemes) a timestamp outside the
    /// tolerance. The signature is checked before the timestamp, so a stale or
    /// future rejection means a genuinely signed delivery (a replay or a clock
    /// problem), while a forged one is always a mismatch.
    pub fn verify(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> std::result::Result<Verified, Rejection> {
        let (secret_index, timestamp) = match self.scheme {
            WebhookScheme::GitHub => (self.verify_github(headers, body)?, None),
            WebhookScheme::Slack => self.verify_slack(headers, body, now)?,
            WebhookScheme::Stripe => self.verify_stripe(headers, body, now)?,
            WebhookScheme::Shopify => {
                let value = required(headers, SHOPIFY_SIGNATURE)?;
                let sig = encoding::base64_exact(value, 32).ok_or_else(|| {
                    Rejection::malformed(
                        SHOPIFY_SIGNATURE,
                        "expected the base64 of a 32-byte HMAC-SHA256",
                    )
                })?;
                (self.match_sha256(SHOPIFY_SIGNATURE, &[sig], &[body])?, None)
            }
            WebhookScheme::GitLab => (self.verify_gitlab(headers)?, None),
            WebhookScheme::StandardWebhooks => self.verify_standard(headers, body, now)?,
            WebhookScheme::PagerDuty => {
                let value = required(headers, PAGERDUTY_SIGNATURE)?;
                let sigs = versioned_list(PAGERDUTY_SIGNATURE, value, ',', '=', "v1", |s| {
                    encoding::hex_exact(s, 32)
                })?;
                (
                    self.match_sha256(PAGERDUTY_SIGNATURE, &sigs, &[body])?,
                    None,
                )
            }
        };
        Ok(Verified {
            scheme: self.scheme,
            timestamp,
            secret_index,
            delivery_id: DeliveryId::extract(self.scheme, headers, body),
        })
    }

    /// Verifies and converts a rejection into a [`ConnectorError`] (see
    /// [`Rejection`] for the kinds).
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), converted.
    pub fn verify_or_error(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified> {
        self.verify(headers, body, now)
            .map_err(ConnectorError::from)
    }

    /// The headers a vendor would send for `body` at `now`, signed with the first
    /// secret: for tests, fakes and replaying captured deliveries. `delivery_id`
    /// goes in the scheme's id header where it has one (`X-GitHub-Delivery`,
    /// `webhook-id`, `X-Shopify-Event-Id`, `Idempotency-Key`); Slack, Stripe and
    /// PagerDuty carry the id in the body.
    ///
    /// For GitLab the "signature" is the secret itself, so the result contains it.
    pub fn sign(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
        delivery_id: &str,
    ) -> Vec<(String, String)> {
        let Some(key) = self.keys.first() else {
            return Vec::new();
        };
        let key = key.expose_secret();
        let ts = now.timestamp().to_string();
        let h = |name: &str, value: String| (name.to_owned(), value);
        match self.scheme {
            WebhookScheme::GitHub => {
                let mut out = vec![
                    h(
                        GITHUB_SIGNATURE,
                        format!("sha256={}", hex_sha256(key, &[body])),
                    ),
                    h(delivery::GITHUB_DELIVERY, delivery_id.to_owned()),
                ];
                #[cfg(feature = "webhooks-github-sha1")]
                if self.legacy_sha1 {
                    out.push(h(
                        GITHUB_SIGNATURE_SHA1,
                        format!(
                            "sha1={}",
                            hmac_sha1(key, body)
                                .map(|t| encoding::hex(&t))
                                .unwrap_or_default()
                        ),
                    ));
                }
                out.retain(|(_, v)| !v.is_empty());
                out
            }
            WebhookScheme::Slack => vec![
                h(SLACK_TIMESTAMP, ts.clone()),
                h(
                    SLACK_SIGNATURE,
                    format!(
                        "v0={}",
                        hex_sha256(key, &[b"v0:", ts.as_bytes(), b":", body])
                    ),
                ),
            ],
            WebhookScheme::Stripe => {
                let sig = hex_sha256(key, &[ts.as_bytes(), b".", body]);
                vec![h(STRIPE_SIGNATURE, format!("t={ts},v1={sig}"))]
            }
            WebhookScheme::Shopify => {
                let mut out = vec![h(SHOPIFY_SIGNATURE, base64_sha256(key, &[body]))];
                if !delivery_id.is_empty() {
                    out.push(h(delivery::SHOPIFY_EVENT_ID, delivery_id.to_owned()));
                }
                out
            }
            WebhookScheme::GitLab => {
                let mut out = vec![h(GITLAB_TOKEN, String::from_utf8_lossy(key).into_owned())];
                if !delivery_id.is_empty() {
                    out.push(h(delivery::GITLAB_IDEMPOTENCY_KEY, delivery_id.to_owned()));
                }
                out
            }
            WebhookScheme::StandardWebhooks => {
                let sig = base64_sha256(
                    key,
                    &[delivery_id.as_bytes(), b".", ts.as_bytes(), b".", body],
                );
                vec![
                    h(STANDARD_ID, delivery_id.to_owned()),
                    h(STANDARD_TIMESTAMP, ts),
                    h(STANDARD_SIGNATURE, format!("v1,{sig}")),
                ]
            }
            WebhookScheme::PagerDuty => vec![h(
                PAGERDUTY_SIGNATURE,
                format!("v1={}", hex_sha256(key, &[body])),
            )],
        }
    }

    fn verify_github(&self, headers: &dyn Headers, body: &[u8]) -> Result<usize, Rejection> {
        if let Some(value) = optional(headers, GITHUB_SIGNATURE)? {
            let sig = value
                .strip_prefix("sha256=")
                .and_then(|hex| encoding::hex_exact(hex, 32))
                .ok_or_else(|| {
                    Rejection::malformed(GITHUB_SIGNATURE, "expected `sha256=` and 64 hex digits")
                })?;
            return self.match_sha256(GITHUB_SIGNATURE, &[sig], &[body]);
        }
        #[cfg(feature = "webhooks-github-sha1")]
        if self.legacy_sha1
            && let Some(value) = optional(headers, GITHUB_SIGNATURE_SHA1)?
        {
            let sig = value
                .strip_prefix("sha1=")
                .and_then(|hex| encoding::hex_exact(hex, 20))
                .ok_or_else(|| {
                    Rejection::malformed(
                        GITHUB_SIGNATURE_SHA1,
                        "expected `sha1=` and 40 hex digits",
                    )
                })?;
            for (i, key) in self.keys.iter().enumerate() {
                let Some(tag) = hmac_sha1(key.expose_secret(), body) else {
                    continue;
                };
                if bool::from(tag.as_slice().ct_eq(&sig[..])) {
                    return Ok(i);
                }
            }
            return Err(Rejection::mismatch(GITHUB_SIGNATURE_SHA1));
        }
        if headers.header(GITHUB_SIGNATURE_SHA1).is_some() {
            return Err(Rejection::new(
                RejectionReason::MissingHeader,
                GITHUB_SIGNATURE,
                "the header is missing; only the legacy SHA-1 `X-Hub-Signature` was sent, \
                 which is not enabled",
            ));
        }
        Err(Rejection::missing(GITHUB_SIGNATURE))
    }

    fn verify_slack(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(usize, Option<DateTime<Utc>>), Rejection> {
        let ts_text = required(headers, SLACK_TIMESTAMP)?;
        let ts = parse_unix(SLACK_TIMESTAMP, ts_text)?;
        let value = required(headers, SLACK_SIGNATURE)?;
        let sig = value
            .strip_prefix("v0=")
            .and_then(|hex| encoding::hex_exact(hex, 32))
            .ok_or_else(|| {
                Rejection::malformed(SLACK_SIGNATURE, "expected `v0=` and 64 hex digits")
            })?;
        let index = self.match_sha256(
            SLACK_SIGNATURE,
            &[sig],
            &[b"v0:", ts_text.as_bytes(), b":", body],
        )?;
        Ok((index, Some(self.check_window(SLACK_TIMESTAMP, ts, now)?)))
    }

    fn verify_stripe(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(usize, Option<DateTime<Utc>>), Rejection> {
        let value = required(headers, STRIPE_SIGNATURE)?;
        let mut ts: Option<(&str, i64)> = None;
        let mut sigs = Vec::new();
        for item in value.split(',') {
            let (k, v) = item.trim().split_once('=').ok_or_else(|| {
                Rejection::malformed(
                    STRIPE_SIGNATURE,
                    "expected comma-separated `key=value` items",
                )
            })?;
            match k {
                "t" => {
                    if ts.is_some() {
                        return Err(Rejection::malformed(
                            STRIPE_SIGNATURE,
                            "more than one `t=` item",
                        ));
                    }
                    ts = Some((v, parse_unix(STRIPE_SIGNATURE, v)?));
                }
                "v1" => sigs.push(encoding::hex_exact(v, 32).ok_or_else(|| {
                    Rejection::malformed(STRIPE_SIGNATURE, "a `v1=` item is not 64 hex digits")
                })?),
                // `v0` (test-mode legacy) and future schemes are ignored, as Stripe's libraries do.
                _ => {}
            }
            if sigs.len() > MAX_SIGNATURES {
                return Err(Rejection::malformed(
                    STRIPE_SIGNATURE,
                    "too many signatures",
                ));
            }
        }
        let (ts_text, ts) =
            ts.ok_or_else(|| Rejection::malformed(STRIPE_SIGNATURE, "no `t=` timestamp"))?;
        if sigs.is_empty() {
            return Err(Rejection::malformed(STRIPE_SIGNATURE, "no `v1=` signature"));
        }
        let index =
            self.match_sha256(STRIPE_SIGNATURE, &sigs, &[ts_text.as_bytes(), b".", body])?;
        Ok((index, Some(self.check_window(STRIPE_SIGNATURE, ts, now)?)))
    }

    fn verify_gitlab(&self, headers: &dyn Headers) -> Result<usize, Rejection> {
        let token = required(headers, GITLAB_TOKEN)?;
        // Hash both sides first: equal-length digests compare in constant time and
        // the comparison says nothing about the secret's length.
        let got = Sha256::digest(token.as_bytes());
        for (i, key) in self.keys.iter().enumerate() {
            let want = Sha256::digest(key.expose_secret());
            if bool::from(got.as_slice().ct_eq(want.as_slice())) {
                return Ok(i);
            }
        }
        Err(Rejection::new(
            RejectionReason::SignatureMismatch,
            GITLAB_TOKEN,
            "the token matches no configured secret",
        ))
    }

    fn verify_standard(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(usize, Option<DateTime<Utc>>), Rejection> {
        let id = required(headers, STANDARD_ID)?;
        let ts_text = required(headers, STANDARD_TIMESTAMP)?;
        let ts = parse_unix(STANDARD_TIMESTAMP, ts_text)?;
        let value = required(headers, STANDARD_SIGNATURE)?;
        let sigs = versioned_list(STANDARD_SIGNATURE, value, ' ', ',', "v1", |s| {
            encoding::base64_exact(s, 32)
        })?;
        let index = self.match_sha256(
            STANDARD_SIGNATURE,
            &sigs,
            &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body],
        )?;
        Ok((index, Some(self.check_window(STANDARD_TIMESTAMP, ts, now)?)))
    }

    /// The index of the first secret whose HMAC-SHA256 over `parts` equals any of
    /// `candidates`, compared in constant time.
    fn match_sha256(
        &self,
        header: &'static str,
        candidates: &[Vec<u8>],
        parts: &[&[u8]],
    ) -> Result<usize, Rejection> {
        for (i, key) in self.keys.iter().enumerate() {
            let Some(tag) = hmac_sha256(key.expose_secret(), parts) else {
                continue;
            };
            let hit = candidates
                .iter()
                .fold(Choice::from(0), |acc, c| acc | tag.as_slice().ct_eq(c));
            if bool::from(hit) {
                return Ok(i);
            }
        }
        Err(Rejection::mismatch(header))
    }

    fn check_window(
        &self,
        header: &'static str,
        ts: i64,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Rejection> {
        let tolerance = i128::from(self.tolerance.as_secs());
        let age = i128::from(now.timestamp()) - i128::from(ts);
        if age > tolerance {
            return Err(Rejection::new(
                RejectionReason::TimestampTooOld,
                header,
                format!("the delivery was signed {age} s ago; the tolerance is {tolerance} s"),
            ));
        }
        if -age > tolerance {
            return Err(Rejection::new(
                RejectionReason::TimestampInFuture,
                header,
                format!(
                    "the delivery is signed {} s in the future; the tolerance is {tolerance} s",
                    -age
                ),
            ));
        }
        DateTime::from_timestamp(ts, 0)
            .ok_or_else(|| Rejection::malformed(header, "the timestamp is out of range"))
    }
}

/// At most this many signatures are read from one header.
const MAX_SIGNATURES: usize = 16;

/// Parses `{version}{sep}{value}` items separated by `item_sep`, keeping the
/// decoded values of `version` and ignoring other versions. A `version` value
/// that does not decode, or no `version` item at all, is malformed.
fn versioned_list(
    header: &'static str,
    value: &str,
    item_sep: char,
    kv_sep: char,
    version: &str,
    decode: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, Rejection> {
    let mut out = Vec::new();
    for item in value
        .split(item_sep)
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let (v, sig) = item.split_once(kv_sep).ok_or_else(|| {
            Rejection::malformed(
                header,
                format!("expected `{version}{kv_sep}<signature>` items"),
            )
        })?;
        if v != version {
            continue;
        }
        let sig = decode(sig).ok_or_else(|| {
            Rejection::malformed(
                header,
                format!("a `{version}` signature does not decode to 32 bytes"),
            )
        })?;
        out.push(sig);
        if out.len() > MAX_SIGNATURES {
            return Err(Rejection::malformed(header, "too many signatures"));
        }
    }
    if out.is_empty() {
        return Err(Rejection::malformed(
            header,
            format!("no `{version}` signature"),
        ));
    }
    Ok(out)
}

/// Parses a Unix timestamp in seconds: ASCII digits only, at most 12 of them.
fn parse_unix(header: &'static str, text: &str) -> Result<i64, Rejection> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::malformed(
            header,
            "expected a Unix timestamp in seconds",
        ));
    }
    text.parse::<i64>()
        .map_err(|_| Rejection::malformed(header, "expected a Unix timestamp in seconds"))
}

fn key_for(scheme: WebhookScheme, secret: &SecretString) -> Result<SecretSlice<u8>> {
    let text = secret.expose_secret();
    if text.is_empty() {
        return Err(ConnectorError::config(format!(
            "the {scheme} webhook secret is empty"
        )));
    }
    if scheme != WebhookScheme::StandardWebhooks {
        return Ok(SecretSlice::from(text.as_bytes().to_vec()));
    }
    let b64 = text.strip_prefix("whsec_").unwrap_or(text);
    match encoding::base64_any(b64) {
        Some(key) if !key.is_empty() => Ok(SecretSlice::from(key)),
        _ => Err(ConnectorError::config(
            "the Standard Webhooks secret is not `whsec_` followed by base64",
        )),
    }
}

/// HMAC-SHA256 of the concatenated `parts`. HMAC accepts keys of any length, so
/// this is `None` only in theory; callers treat `None` as "matches nothing".
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
}

/// Lowercase hex of HMAC-SHA256, for signing (empty in the theoretical failure).
fn hex_sha256(key: &[u8], parts: &[&[u8]]) -> String {
    hmac_sha256(key, parts)
        .map(|t| encoding::hex(&t))
        .unwrap_or_default()
}

/// Base64 of HMAC-SHA256, for signing (empty in the theoretical failure).
fn base64_sha256(key: &[u8], parts: &[&[u8]]) -> String {
    hmac_sha256(key, parts)
        .map(|t| encoding::base64(&t))
        .unwrap_or_default()
}

#[cfg(feature = "webhooks-github-sha1")]
fn hmac_sha1(key: &[u8], body: &[u8]) -> Option<[u8; 20]> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}
