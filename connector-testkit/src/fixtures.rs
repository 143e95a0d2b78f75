//! JSON fixtures from files, and redaction of recorded responses.
//!
//! Fixtures live beside the tests (`tests/fixtures/*.json`) and load with
//! [`load_json`] or [`load_items`]. Responses recorded from a real API must not
//! carry credentials into the repository: a [`Redactor`] strips sensitive headers
//! (`Authorization`, cookies, API keys), secret-looking JSON fields
//! (`access_token`, `client_secret`, `password`, ...), credentials in URLs, and
//! every known secret value wherever it appears.

use std::fs;
use std::path::Path;

use connector_core::error::{REDACTED, redact_url};
use connector_core::{ConnectorError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Reads a JSON file.
///
/// # Errors
///
/// [`Config`](connector_core::ErrorKind::Config) naming the file when it cannot be
/// read or is not JSON (with the line and column).
///
/// ```no_run
/// let users = connector_testkit::fixtures::load_json(
///     concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/users.json"),
/// ).expect("fixture");
/// ```
pub fn load_json(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| {
        ConnectorError::config(format!("fixture `{}` cannot be read: {e}", path.display()))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ConnectorError::config(format!(
            "fixture `{}` is not valid JSON: {e}",
            path.display()
        ))
    })
}

/// Reads a JSON file holding an array of records, or an object with the array
/// under `items`, `value`, `result`, `data` or `records`.
///
/// # Errors
///
/// As [`load_json`], and when no array is found.
pub fn load_items(path: impl AsRef<Path>) -> Result<Vec<Value>> {
    let path = path.as_ref();
    match load_json(path)? {
        Value::Array(items) => Ok(items),
        Value::Object(mut o) => ["items", "value", "result", "data", "records"]
            .iter()
            .find_map(|k| match o.remove(*k) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            })
            .ok_or_else(|| {
                ConnectorError::config(format!(
                    "fixture `{}` holds no array (top level, or under items/value/result/data/records)",
                    path.display()
                ))
            }),
        _ => Err(ConnectorError::config(format!("fixture `{}` holds no array", path.display()))),
    }
}

/// A response recorded from a real API, to replay in a fake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The request's method and URL, for reference.
    #[serde(default)]
    pub request: String,
    /// The status.
    pub status: u16,
    /// The headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Value,
}

impl RecordedResponse {
    /// Reads a recorded response from a JSON file.
    ///
    /// # Errors
    ///
    /// As [`load_json`], and when the file is not a recorded response.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        serde_json::from_value(load_json(path)?).map_err(|e| {
            ConnectorError::config(format!(
                "`{}` is not a recorded response: {e}",
                path.display()
            ))
        })
    }

    /// Writes the response, redacted with `redactor`, as pretty JSON.
    ///
    /// # Errors
    ///
    /// [`Unexpected`](connector_core::ErrorKind::Unexpected) when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>, redactor: &Redactor) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(&redactor.response(self)).map_err(|e| {
            ConnectorError::unexpected(format!("cannot serialise the recording: {e}"))
        })?;
        fs::write(path, text + "\n").map_err(|e| {
            ConnectorError::unexpected(format!("cannot write `{}`: {e}", path.display()))
        })
    }
}

/// Strips secrets from recorded requests and responses.
///
/// ```
/// use connector_testkit::fixtures::Redactor;
/// use serde_json::json;
///
/// let r = Redactor::new().with_secret("ghp_live_secret");
/// let body = json!({"access_token": "abc", "next_cursor": "c2", "note": "token ghp_live_secret used",
///                   "url": "https://api.example.com/x?api_key=k1&page=2"});
/// assert_eq!(r.json(&body), json!({"access_token": "REDACTED", "next_cursor": "c2",
///     "note": "token REDACTED used", "url": "https://api.example.com/x?api_key=REDACTED&page=2"}));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that knows no secret values (it still strips sensitive headers
    /// and fields).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also replaces `secret` wherever it appears (values shorter than 4
    /// characters are ignored: they would match by accident).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        let secret = secret.into();
        if secret.len() >= 4 {
            self.secrets.push(secret);
        }
        self
    }

    /// Also replaces each of `secrets` (`config.credentials.secret_values()`).
    pub fn with_secrets<'a>(self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        secrets.into_iter().fold(self, |r, s| r.with_secret(s))
    }

    /// Replaces every known secret in `text`, and credentials in URLs.
    pub fn text(&self, text: &str) -> String {
        let mut out = self
            .secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), REDACTED));
        if out.contains("://") || out.contains('?') {
            out = out
                .split(' ')
                .map(|w| {
                    if w.contains('?') || w.contains('@') {
                        redact_url(w)
                    } else {
                        w.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
        }
        out
    }

    /// Redacts header values: sensitive headers entirely, others by [`text`](Self::text).
    pub fn headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(k, v)| {
                let v = if connector_http::secret::is_sensitive_header(k) || is_secret_field(k) {
                    REDACTED.to_owned()
                } else {
                    self.text(v)
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// Redacts a JSON document: secret-looking fields entirely, every string by
    /// [`text`](Self::text).
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let v = if is_secret_field(k)
                            && !v.is_null()
                            && !v.is_object()
                            && !v.is_array()
                        {
                            Value::String(REDACTED.to_owned())
                        } else {
                            self.json(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Redacts a whole recorded response.
    pub fn response(&self, response: &RecordedResponse) -> RecordedResponse {
        RecordedResponse {
            request: self.text(&response.request),
            status: response.status,
            headers: self.headers(&response.headers),
            body: self.json(&response.body),
        }
    }
}

/// Whether a JSON field or header name holds a secret. Paging tokens
/// (`next_page_token`, `cursor`) are not secrets and stay, so a recording still
/// replays.
fn is_secret_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    const PAGING: &[&str] = &[
        "page",
        "cursor",
        "continuation",
        "next",
        "skip",
        "delta",
        "sync",
    ];
    const SECRET: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "signature",
        "private_key",
        "api_key",
        "apikey",
        "api-key",
        "authorization",
        "cookie",
        "session",
    ];
    SECRET.iter().any(|s| lower.contains(s)) && !PAGING.iter().any(|p| lower.contains(p))
}
