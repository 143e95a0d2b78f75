//! The one error type of the SDK.
//!
//! Every failure, whether it comes from configuration, an HTTP response, a page that
//! breaks its pagination contract or a record that breaks its mapping, is a
//! [`ConnectorError`]. It is classified once, where it happens (usually at the HTTP
//! edge), into an [`ErrorKind`] and an [`ErrorStatus`]; everything above decides by
//! kind ([`ConnectorError::is_retryable`], [`ConnectorError::retry_after`]) and never
//! parses messages or status codes again.
//!
//! Context travels with the error: connector id, operation, entity, the request's
//! method and URL **with credentials removed**, the HTTP status and a body excerpt of
//! at most [`BODY_EXCERPT_LIMIT`] bytes. `Display` renders all of it as one line that
//! says what went wrong and what to do about it.
//!
//! ```
//! use connector_core::{ConnectorError, ErrorKind};
//!
//! let err = ConnectorError::new(ErrorKind::NotFound, "table cmdb_ci_foo does not exist")
//!     .with_connector("servicenow")
//!     .with_operation("fetch")
//!     .with_entity("cmdb_ci_foo")
//!     .with_http_status(404);
//! assert!(!err.is_retryable());
//! assert_eq!(
//!     err.to_string(),
//!     "not found: table cmdb_ci_foo does not exist; check the identifier and the base URL \
//!      (connector: servicenow, operation: fetch, entity: cmdb_ci_foo, status: 404)"
//! );
//! ```

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// The maximum size in bytes of a response body excerpt kept in an error.
pub const BODY_EXCERPT_LIMIT: usize = 512;

/// A `Result` whose error is [`ConnectorError`].
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// What kind of failure an error is. Decide on this, never on the message.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The connector configuration is missing a value or holds an invalid one.
    Config,
    /// The credentials were rejected (HTTP 401, a failed token exchange).
    Auth,
    /// The credentials are valid but lack a permission or scope (HTTP 403).
    PermissionDenied,
    /// The requested resource or entity does not exist (HTTP 404).
    NotFound,
    /// The vendor throttled the request (HTTP 429, or a vendor-specific signal).
    RateLimited,
    /// The vendor is unavailable or failed on its side (HTTP 5xx).
    Unavailable,
    /// The request or an operation did not finish in time.
    Timeout,
    /// The connection could not be made or was broken (DNS, TCP, TLS).
    Network,
    /// A response body could not be decoded into the expected shape.
    Decode,
    /// The vendor broke its own protocol, e.g. a pagination cursor that repeats.
    Protocol,
    /// A record breaks the rules of its mapping.
    Validation,
    /// The write conflicts with existing state (HTTP 409, a duplicate key).
    Conflict,
    /// The connector does not support the requested capability or entity.
    Unsupported,
    /// The operation was cancelled by the caller.
    Cancelled,
    /// Anything else; a bug report is welcome when this appears.
    Unexpected,
}

impl ErrorKind {
    /// A short lowercase name, used as the first words of `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Unavailable => "upstream unavailable",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Network => "network error",
            ErrorKind::Decode => "unexpected response",
            ErrorKind::Protocol => "protocol violation",
            ErrorKind::Validation => "invalid record",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unexpected => "unexpected error",
        }
    }

    /// What a person can do about an error of this kind.
    fn hint(self) -> &'static str {
        match self {
            ErrorKind::Config => "fix the configuration",
            ErrorKind::Auth => "check the credentials",
            ErrorKind::PermissionDenied => "grant the missing permission or scope",
            ErrorKind::NotFound => "check the identifier and the base URL",
            ErrorKind::RateLimited => "slow down or retry later",
            ErrorKind::Unavailable => "retry later",
            ErrorKind::Timeout => "retry, or raise the timeout",
            ErrorKind::Network => "check connectivity and the base URL",
            ErrorKind::Decode => "the vendor response changed shape; report it with the excerpt",
            ErrorKind::Protocol => "the vendor broke its protocol; report it with the context",
            ErrorKind::Validation => "fix the source record or the mapping",
            ErrorKind::Conflict => "reload the current state and try again",
            ErrorKind::Unsupported => "use a capability the connector declares",
            ErrorKind::Cancelled => "run again to continue from the last checkpoint",
            ErrorKind::Unexpected => "report it as a bug",
        }
    }

    /// The status an error of this kind has unless told otherwise.
    pub fn default_status(self) -> ErrorStatus {
        match self {
            ErrorKind::RateLimited
            | ErrorKind::Unavailable
            | ErrorKind::Timeout
            | ErrorKind::Network => ErrorStatus::Temporary,
            _ => ErrorStatus::Permanent,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether retrying could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    /// Retrying the same request will fail the same way.
    Permanent,
    /// Retrying later may succeed.
    Temporary,
    /// It was temporary, but the retries allowed were used up.
    Exhausted,
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorStatus::Permanent => "permanent",
            ErrorStatus::Temporary => "temporary",
            ErrorStatus::Exhausted => "temporary, retries exhausted",
        })
    }
}

/// One field-level problem, as found by mapping or config validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The path of the offending field (`settings.instance`, `owned_by.email`).
    pub path: String,
    /// The rule that failed (`required`, `min_length`, `type`).
    pub rule: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FieldError {
    /// Creates a field error.
    pub fn new(
        path: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Where and on what an error happened. Everything here is safe to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// The connector id (`github`).
    pub connector: Option<String>,
    /// The operation (`fetch`, `test_connection`, `token_refresh`).
    pub operation: Option<Cow<'static, str>>,
    /// The entity type being read or written.
    pub entity: Option<String>,
    /// The record's external id, when the error concerns one record.
    pub external_id: Option<String>,
    /// The HTTP method of the request.
    pub method: Option<String>,
    /// The request URL, with credentials removed (see [`redact_url`]).
    pub url: Option<String>,
    /// The HTTP status of the response.
    pub http_status: Option<u16>,
    /// At most [`BODY_EXCERPT_LIMIT`] bytes of the response body, on one line.
    pub body_excerpt: Option<String>,
    /// Any further key-value pairs.
    pub extra: Vec<(Cow<'static, str>, String)>,
}

/// The SDK's error: a kind, a status, a message, context and an optional source.
///
/// Build one with [`ConnectorError::new`] and the `with_*` helpers. It is boxed
/// internally, so `Result<T, ConnectorError>` stays small.
pub struct ConnectorError(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    status: ErrorStatus,
    message: String,
    retry_after: Option<Duration>,
    context: ErrorContext,
    field_errors: Vec<FieldError>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl ConnectorError {
    /// Creates an error of `kind` with a message saying what went wrong.
    ///
    /// The status is the kind's default ([`ErrorKind::default_status`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            status: kind.default_status(),
            message: message.into(),
            retry_after: None,
            context: ErrorContext::default(),
            field_errors: Vec::new(),
            source: None,
        }))
    }

    /// Shorthand for an [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for an [`ErrorKind::Decode`] error.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// Shorthand for an [`ErrorKind::Protocol`] error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for an [`ErrorKind::Unexpected`] error.
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, message)
    }

    /// A validation error carrying every field error of one record or config.
    ///
    /// The message lists the field errors, so `Display` names every failing path.
    pub fn validation(subject: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::with_field_errors(ErrorKind::Validation, subject, errors)
    }

    /// A configuration error carrying every field error of a config or settings
    /// object; `Display` names every failing path.
    pub fn invalid_config(subject: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::with_field_errors(ErrorKind::Config, subject, errors)
    }

    fn with_field_errors(
        kind: ErrorKind,
        subject: impl Into<String>,
        errors: Vec<FieldError>,
    ) -> Self {
        let subject = subject.into();
        let listed = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let message = if listed.is_empty() {
            subject
        } else {
            format!("{subject}: {listed}")
        };
        let mut err = Self::new(kind, message);
        err.0.field_errors = errors;
        err
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Whether retrying may help.
    pub fn status(&self) -> ErrorStatus {
        self.0.status
    }

    /// The message, without context.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// How long the vendor asked to wait before retrying, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The context the error carries.
    pub fn context(&self) -> &ErrorContext {
        &self.0.context
    }

    /// The field errors of a validation error (empty for other kinds).
    pub fn field_errors(&self) -> &[FieldError] {
        &self.0.field_errors
    }

    /// True when the status is [`ErrorStatus::Temporary`]: retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.status == ErrorStatus::Temporary
    }

    /// Sets the status.
    pub fn with_status(mut self, status: ErrorStatus) -> Self {
        self.0.status = status;
        self
    }

    /// Marks a temporary error as permanent.
    pub fn set_permanent(self) -> Self {
        self.with_status(ErrorStatus::Permanent)
    }

    /// Marks a temporary error whose retries were used up. Permanent errors stay so.
    pub fn set_exhausted(mut self) -> Self {
        if self.0.status == ErrorStatus::Temporary {
            self.0.status = ErrorStatus::Exhausted;
        }
        self
    }

    /// Records how long the vendor asked to wait.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.0.retry_after = Some(wait);
        self
    }

    /// Names the connector, unless one is named already.
    pub fn with_connector(mut self, id: impl Into<String>) -> Self {
        if self.0.context.connector.is_none() {
            self.0.context.connector = Some(id.into());
        }
        self
    }

    /// Names the operation, unless one is named already.
    pub fn with_operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        if self.0.context.operation.is_none() {
            self.0.context.operation = Some(operation.into());
        }
        self
    }

    /// Names the entity type, unless one is named already.
    pub fn with_entity(mut self, entity: impl Into<String>) -> Self {
        if self.0.context.entity.is_none() {
            self.0.context.entity = Some(entity.into());
        }
        self
    }

    /// Names the record's external id.
    pub fn with_external_id(mut self, id: impl Into<String>) -> Self {
        self.0.context.external_id = Some(id.into());
        self
    }

    /// Records the request. The URL is redacted with [`redact_url`] here, so the
    /// raw URL is never stored.
    pub fn with_request(mut self, method: impl Into<String>, url: &str) -> Self {
        self.0.context.method = Some(method.into());
        self.0.context.url = Some(redact_url(url));
        self
    }

    /// Records the HTTP status of the response.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.0.context.http_status = Some(status);
        self
    }

    /// Keeps at most [`BODY_EXCERPT_LIMIT`] bytes of a response body, on one line.
    ///
    /// The caller is responsible for removing secrets the body may echo; the HTTP
    /// layer scrubs the secrets it knows before calling this.
    pub fn with_body_excerpt(mut self, body: &str) -> Self {
        let excerpt = excerpt(body);
        if !excerpt.is_empty() {
            self.0.context.body_excerpt = Some(excerpt);
        }
        self
    }

    /// Adds a key-value pair of context. The value must be safe to print.
    pub fn with_context(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
    ) -> Self {
        self.0.context.extra.push((key.into(), value.to_string()));
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Adds what the vendor said about the failure and a vendor-specific hint to the
    /// message, the same way for every connector:
    /// `{message}: GitHub says "Bad credentials" (the token was revoked or expired)`.
    /// Either part may be absent; with neither, the error is returned unchanged.
    ///
    /// ```
    /// use connector_core::{ConnectorError, ErrorKind};
    ///
    /// let err = ConnectorError::new(ErrorKind::Auth, "HTTP 401 Unauthorized")
    ///     .with_vendor_explanation("Jira", Some("Client must be authenticated"), Some("use an API token"));
    /// assert_eq!(
    ///     err.message(),
    ///     "HTTP 401 Unauthorized: Jira says \"Client must be authenticated\" (use an API token)"
    /// );
    /// ```
    pub fn with_vendor_explanation(
        self,
        vendor: &str,
        said: Option<&str>,
        hint: Option<&str>,
    ) -> Self {
        let said = said.map(str::trim).filter(|s| !s.is_empty());
        let hint = hint.map(str::trim).filter(|h| !h.is_empty());
        if said.is_none() && hint.is_none() {
            return self;
        }
        let mut message = self.message().to_owned();
        if let Some(said) = said {
            message.push_str(&format!(": {vendor} says \"{said}\""));
        }
        if let Some(hint) = hint {
            message.push_str(&format!(" ({hint})"));
        }
        self.with_message(message)
    }

    /// Replaces the message, keeping kind, status and context.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        write!(f, "{}: {}", inner.kind, inner.message)?;
        match (inner.kind, inner.retry_after) {
            (ErrorKind::RateLimited, Some(wait)) => {
                write!(f, "; retry after {}", HumanDuration(wait))?;
            }
            (kind, _) => write!(f, "; {}", kind.hint())?,
        }
        if inner.status == ErrorStatus::Exhausted {
            f.write_str(", retries exhausted")?;
        }
        let ctx = &inner.context;
        let mut parts: Vec<(&str, &str)> = Vec::new();
        let status;
        let request;
        if let Some(v) = &ctx.connector {
            parts.push(("connector", v));
        }
        if let Some(v) = &ctx.operation {
            parts.push(("operation", v));
        }
        if let Some(v) = &ctx.entity {
            parts.push(("entity", v));
        }
        if let Some(v) = &ctx.external_id {
            parts.push(("external id", v));
        }
        if let Some(url) = &ctx.url {
            request = match &ctx.method {
                Some(m) => format!("{m} {url}"),
                None => url.clone(),
            };
            parts.push(("request", &request));
        }
        if let Some(s) = ctx.http_status {
            status = s.to_string();
            parts.push(("status", &status));
        }
        for (k, v) in &ctx.extra {
            parts.push((k, v));
        }
        if !parts.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        if let Some(body) = &ctx.body_excerpt {
            write!(f, ": {body}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        let mut d = f.debug_struct("ConnectorError");
        d.field("kind", &inner.kind)
            .field("status", &inner.status)
            .field("message", &inner.message);
        if let Some(wait) = inner.retry_after {
            d.field("retry_after", &wait);
        }
        d.field("context", &inner.context);
        if !inner.field_errors.is_empty() {
            d.field("field_errors", &inner.field_errors);
        }
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for ConnectorError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<serde_json::Error> for ConnectorError {
    fn from(err: serde_json::Error) -> Self {
        ConnectorError::decode(format!("invalid JSON: {err}")).with_source(err)
    }
}

/// Prints a duration the way people read it: `30s`, `2m 5s`, `1h 0m`, `250ms`.
struct HumanDuration(Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs == 0 {
            return write!(f, "{}ms", self.0.as_millis());
        }
        let secs = if self.0.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        match secs {
            s if s < 60 => write!(f, "{s}s"),
            s if s < 3600 => write!(f, "{}m {}s", s / 60, s % 60),
            s => write!(f, "{}h {}m", s / 3600, (s % 3600) / 60),
        }
    }
}

fn excerpt(body: &str) -> String {
    let mut end = body.len().min(BODY_EXCERPT_LIMIT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = body[..end]
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < body.len() {
        out.push('…');
    }
    out
}

/// The placeholder that replaces a secret in URLs and messages.
pub const REDACTED: &str = "REDACTED";

/// At most `max_chars` characters of `text`, with `…` when it was cut: for
/// quoting user or vendor input in an error message without flooding it.
///
/// ```
/// use connector_core::error::clip;
///
/// assert_eq!(clip("acme", 80), "acme");
/// assert_eq!(clip("ééééé", 3), "ééé…");
/// ```
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Returns true when a query parameter or header name usually carries a secret.
///
/// Matches `token`, `access_token`, `key`, `api_key`, `apikey`, `secret`,
/// `client_secret`, `signature`, `X-Amz-Signature`, `password`, `code`, `sig`,
/// `auth` and any name containing `token`, `secret`, `password`, `signature` or
/// `credential`, ignoring case.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    const EXACT: &[&str] = &[
        "key",
        "code",
        "sig",
        "auth",
        "authorization",
        "pass",
        "pwd",
        "session",
        "sessionid",
        "cookie",
        "private-token",
        "x-api-key",
        "api-key",
        "apikey",
    ];
    const CONTAINS: &[&str] = &["token", "secret", "password", "signature", "credential"];
    EXACT.contains(&lower.as_str())
        || CONTAINS.iter().any(|c| lower.contains(c))
        || lower.ends_with("_key")
        || lower.ends_with("-key")
        || lower.ends_with("apikey")
}

/// Removes credentials from a URL: the `user:pass@` userinfo and the values of
/// sensitive query parameters (see [`is_sensitive_name`]). The fragment is dropped.
///
/// Works on any string and never fails: text that is not a URL comes back with
/// only the query rule applied.
///
/// ```
/// use connector_core::error::redact_url;
///
/// assert_eq!(
///     redact_url("https://bot:hunter2@example.com/api?page=2&access_token=abc"),
///     "https://REDACTED@example.com/api?page=2&access_token=REDACTED"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match before_query.find("://") {
        Some(scheme_end) => {
            let authority_start = scheme_end + 3;
            let rest = &before_query[authority_start..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            out.push_str(&before_query[..authority_start]);
            match authority.rfind('@') {
                Some(at) => {
                    out.push_str(REDACTED);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&rest[authority_end..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, _)) if is_sensitive_name(&percent_decode_lossy(k)) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

fn percent_decode_lossy(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_rate_limited_with_wait_and_request() {
        let err = ConnectorError::new(ErrorKind::RateLimited, "API rate limit exceeded")
            .with_retry_after(Duration::from_secs(125))
            .with_connector("github")
            .with_operation("fetch")
            .with_entity("issues")
            .with_request(
                "GET",
                "https://api.github.com/repos/o/r/issues?page=3&access_token=s3cr3t",
            )
            .with_http_status(429);
        assert_eq!(
            err.to_string(),
            "rate limited: API rate limit exceeded; retry after 2m 5s (connector: github, \
             operation: fetch, entity: issues, request: GET \
             https://api.github.com/repos/o/r/issues?page=3&access_token=REDACTED, status: 429)"
        );
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(125)));
    }

    #[test]
    fn display_auth_with_body_excerpt_on_one_line() {
        let err = ConnectorError::new(ErrorKind::Auth, "the server rejected the credentials")
            .with_connector("jira")
            .with_request(
                "GET",
                "https://admin:pa55@acme.atlassian.net/rest/api/3/myself",
            )
            .with_http_status(401)
            .with_body_excerpt("{\"errorMessages\":\n[\"Unauthorized\"]}");
        assert_eq!(
            err.to_string(),
            "authentication failed: the server rejected the credentials; check the credentials \
             (connector: jira, request: GET https://REDACTED@acme.atlassian.net/rest/api/3/myself, \
             status: 401): {\"errorMessages\": [\"Unauthorized\"]}"
        );
        assert!(!err.to_string().contains("pa55"));
        assert!(!format!("{err:?}").contains("pa55"));
        assert!(!err.is_retryable());
    }

    #[test]
    fn display_exhausted_and_validation() {
        let err =
            ConnectorError::new(ErrorKind::Unavailable, "503 Service Unavailable").set_exhausted();
        assert_eq!(
            err.to_string(),
            "upstream unavailable: 503 Service Unavailable; retry later, retries exhausted"
        );
        assert_eq!(err.status(), ErrorStatus::Exhausted);
        assert!(!err.is_retryable());

        let err = ConnectorError::validation(
            "record INC001 breaks mapping cmdb_ci_appl",
            vec![
                FieldError::new("name", "required", "required field is missing"),
                FieldError::new("u_criticality", "one_of", "must be one of 1, 2, 3, 4"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "invalid record: record INC001 breaks mapping cmdb_ci_appl: name: required field is \
             missing; u_criticality: must be one of 1, 2, 3, 4; fix the source record or the mapping"
        );
        assert_eq!(err.field_errors().len(), 2);
    }

    #[test]
    fn body_excerpt_is_bounded_and_char_safe() {
        let body = "é".repeat(400); // 800 bytes
        let err = ConnectorError::decode("bad").with_body_excerpt(&body);
        let ex = err.context().body_excerpt.as_deref().unwrap_or_default();
        assert!(ex.len() <= BODY_EXCERPT_LIMIT + '…'.len_utf8());
        assert!(ex.ends_with('…'));
    }

    #[test]
    fn redacts_userinfo_and_sensitive_query_values() {
        assert_eq!(
            redact_url("https://user:pass@host.example/a/b?x=1&token=t&Api_Key=k&sig=zz#frag"),
            "https://REDACTED@host.example/a/b?x=1&token=REDACTED&Api_Key=REDACTED&sig=REDACTED"
        );
        assert_eq!(
            redact_url("https://s3.amazonaws.com/b/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2F"),
            "https://s3.amazonaws.com/b/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"
        );
        assert_eq!(
            redact_url("/relative?client_secret=x"),
            "/relative?client_secret=REDACTED"
        );
        assert_eq!(
            redact_url("https://h/p?%74oken=x"),
            "https://h/p?%74oken=REDACTED"
        );
        assert_eq!(redact_url("https://h/p?page=2"), "https://h/p?page=2");
        // The @ in a path is not userinfo.
        assert_eq!(redact_url("https://h/users/a@b.c"), "https://h/users/a@b.c");
    }

    #[test]
    fn with_helpers_do_not_overwrite_inner_context() {
        let err = ConnectorError::config("x")
            .with_connector("inner")
            .with_connector("outer");
        assert_eq!(err.context().connector.as_deref(), Some("inner"));
    }

    #[test]
    fn error_is_small_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<ConnectorError>();
        assert_eq!(
            std::mem::size_of::<ConnectorError>(),
            std::mem::size_of::<usize>()
        );
    }
}
