//! Keeping secrets out of errors, logs and `Debug` output.
//!
//! Three rules, applied by the client to everything it prints or attaches:
//!
//! - URLs pass through [`connector_core::error::redact_url`] (userinfo and sensitive
//!   query parameters) and then through the client's [`Scrubber`], which replaces
//!   every secret value the client knows (API keys, passwords, tokens it fetched).
//! - Response bodies are scrubbed the same way before an excerpt is attached to an
//!   error, because some vendors echo the credentials they rejected.
//! - Headers named by [`is_sensitive_header`] (`Authorization`, `Cookie`,
//!   `Set-Cookie`, `WWW-Authenticate`, `Proxy-Authorization`, API-key headers and any
//!   header an auth strategy declares) are never logged or attached; `Debug` output
//!   of a [`Response`](crate::Response) prints `REDACTED` in their place.

use std::fmt;
use std::sync::{Arc, RwLock};

use connector_core::error::{REDACTED, is_sensitive_name, redact_url};
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};

/// Secrets shorter than this are not scrubbed from text: replacing every `a` in a
/// body would destroy the excerpt without protecting anything.
pub const MIN_SCRUB_LEN: usize = 4;

/// How many secrets learned at run time (fetched access tokens, rotated refresh
/// tokens) a scrubber remembers; the oldest are forgotten first.
const MAX_DYNAMIC_SECRETS: usize = 64;

/// Returns true for header names whose values must never be logged or attached to
/// an error: credentials, cookies, auth challenges and API-key headers.
pub fn is_sensitive_header(name: &str) -> bool {
    const ALWAYS: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "www-authenticate",
        "proxy-authenticate",
        "x-amz-security-token",
    ];
    let lower = name.to_ascii_lowercase();
    ALWAYS.contains(&lower.as_str()) || is_sensitive_name(&lower)
}

/// Replaces the secret values a client knows with `REDACTED` in any text.
///
/// Cloning shares the list, so secrets learned by one clone (a refreshed token) are
/// scrubbed by all. `Debug` prints only how many secrets it holds.
#[derive(Clone, Default)]
pub struct Scrubber {
    inner: Arc<RwLock<ScrubberInner>>,
}

#[derive(Default)]
struct ScrubberInner {
    fixed: Vec<SecretString>,
    dynamic: Vec<SecretString>,
}

impl Scrubber {
    /// Creates a scrubber that knows no secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a secret for the lifetime of the client.
    pub fn add(&self, secret: &SecretString) {
        if secret.expose_secret().len() < MIN_SCRUB_LEN {
            return;
        }
        if let Ok(mut inner) = self.inner.write()
            && !inner
                .fixed
                .iter()
                .any(|s| s.expose_secret() == secret.expose_secret())
        {
            inner.fixed.push(secret.clone());
        }
    }

    /// Remembers a secret learned at run time; only the most recent ones are kept.
    pub fn add_dynamic(&self, secret: &SecretString) {
        if secret.expose_secret().len() < MIN_SCRUB_LEN {
            return;
        }
        if let Ok(mut inner) = self.inner.write() {
            if inner
                .dynamic
                .iter()
                .any(|s| s.expose_secret() == secret.expose_secret())
            {
                return;
            }
            if inner.dynamic.len() >= MAX_DYNAMIC_SECRETS {
                inner.dynamic.remove(0);
            }
            inner.dynamic.push(secret.clone());
        }
    }

    /// Returns `text` with every known secret, raw or percent-encoded, replaced by
    /// `REDACTED`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let Ok(inner) = self.inner.read() else {
            return out;
        };
        for secret in inner.fixed.iter().chain(inner.dynamic.iter()) {
            let raw = secret.expose_secret();
            if out.contains(raw) {
                out = out.replace(raw, REDACTED);
            }
            let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            if encoded != raw && out.contains(&encoded) {
                out = out.replace(&encoded, REDACTED);
            }
            let path_encoded = encoded.replace('+', "%20");
            if path_encoded != encoded && out.contains(&path_encoded) {
                out = out.replace(&path_encoded, REDACTED);
            }
        }
        out
    }

    /// Redacts a URL: [`redact_url`] first, then every known secret value.
    pub fn url(&self, url: &str) -> String {
        self.scrub(&redact_url(url))
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .inner
            .read()
            .map(|i| i.fixed.len() + i.dynamic.len())
            .unwrap_or(0);
        f.debug_struct("Scrubber").field("secrets", &count).finish()
    }
}

/// Formats headers for `Debug` output with sensitive values replaced by `REDACTED`.
pub(crate) struct RedactedHeaders<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extra_sensitive: &'a [HeaderName],
    pub(crate) scrubber: &'a Scrubber,
}

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.headers {
            let sensitive = value.is_sensitive()
                || is_sensitive_header(name.as_str())
                || self.extra_sensitive.contains(name);
            if sensitive {
                map.entry(&name.as_str(), &REDACTED);
            } else {
                let text = self.scrubber.scrub(value.to_str().unwrap_or("<binary>"));
                map.entry(&name.as_str(), &text);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_raw_and_encoded_values() {
        let s = Scrubber::new();
        s.add(&SecretString::from("s3cr3t/with+plus"));
        s.add(&SecretString::from("abc")); // too short, ignored
        assert_eq!(
            s.scrub("a s3cr3t/with+plus b s3cr3t%2Fwith%2Bplus c abc"),
            "a REDACTED b REDACTED c abc"
        );
        assert_eq!(
            s.url("https://u:p@h/x?k=s3cr3t%2Fwith%2Bplus&token=zz"),
            "https://REDACTED@h/x?k=REDACTED&token=REDACTED"
        );
        assert_eq!(format!("{s:?}"), "Scrubber { secrets: 1 }");
    }

    #[test]
    fn dynamic_secrets_are_bounded() {
        let s = Scrubber::new();
        for i in 0..(MAX_DYNAMIC_SECRETS + 5) {
            s.add_dynamic(&SecretString::from(format!("token-{i:04}")));
        }
        assert_eq!(s.scrub("token-0000"), "token-0000");
        assert_eq!(s.scrub("token-0068"), "REDACTED");
    }

    #[test]
    fn sensitive_headers() {
        for name in [
            "Authorization",
            "Cookie",
            "Set-Cookie",
            "WWW-Authenticate",
            "Proxy-Authorization",
            "X-API-Key",
            "PRIVATE-TOKEN",
            "X-Amz-Security-Token",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in [
            "Content-Type",
            "Link",
            "x-ratelimit-remaining",
            "Retry-After",
        ] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }
}
