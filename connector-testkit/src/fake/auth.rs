//! Auth guards: what a fake requires before it answers.
//!
//! A guard names one header (or query parameter) and the exact value it must
//! carry. A request without it gets **401** with the API's vendor-shaped error body
//! ([`ErrorStyle`](super::ErrorStyle)), the way a real API rejects a bad token.

use std::fmt;

use wiremock::Request;

/// Where the credential must be.
#[derive(Clone, PartialEq, Eq)]
enum Place {
    Header(String),
    Query(String),
}

/// A required credential. `Debug` never prints the expected value.
///
/// ```
/// use connector_testkit::fake::AuthGuard;
///
/// let guard = AuthGuard::bearer("s3cr3t-token");
/// assert_eq!(format!("{guard:?}"), "AuthGuard(header authorization)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthGuard {
    place: Place,
    expected: String,
}

impl AuthGuard {
    /// `Authorization: Bearer <token>` (GitHub, Graph, most OAuth APIs).
    pub fn bearer(token: &str) -> Self {
        Self::header("authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: Basic base64(user:password)` (ServiceNow, Jira Cloud).
    pub fn basic(user: &str, password: &str) -> Self {
        let encoded = base64_encode(format!("{user}:{password}").as_bytes());
        Self::header("authorization", &format!("Basic {encoded}"))
    }

    /// `Authorization: SSWS <token>` (Okta API tokens).
    pub fn ssws(token: &str) -> Self {
        Self::header("authorization", &format!("SSWS {token}"))
    }

    /// Header `name` must equal `value` exactly (`PRIVATE-TOKEN`, `x-api-key`).
    pub fn header(name: &str, value: &str) -> Self {
        Self {
            place: Place::Header(name.to_ascii_lowercase()),
            expected: value.to_owned(),
        }
    }

    /// Query parameter `name` must equal `value`.
    pub fn query(name: &str, value: &str) -> Self {
        Self {
            place: Place::Query(name.to_owned()),
            expected: value.to_owned(),
        }
    }

    /// Whether `request` carries the credential.
    pub fn allows(&self, request: &Request) -> bool {
        match &self.place {
            Place::Header(name) => request
                .headers
                .get_all(name.as_str())
                .iter()
                .any(|v| v.as_bytes() == self.expected.as_bytes()),
            Place::Query(name) => request
                .url
                .query_pairs()
                .any(|(k, v)| k == name.as_str() && v == self.expected.as_str()),
        }
    }
}

impl fmt::Debug for AuthGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Header(name) => write!(f, "AuthGuard(header {name})"),
            Place::Query(name) => write!(f, "AuthGuard(query {name})"),
        }
    }
}

/// Standard base64 with padding (RFC 4648), enough for basic auth.
pub(crate) fn base64_encode(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(
            base64_encode(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn debug_hides_the_expected_value() {
        let g = AuthGuard::query("api_key", "hunter22");
        assert_eq!(format!("{g:?}"), "AuthGuard(query api_key)");
    }
}
