//! Case-insensitive header lookup without an HTTP crate.
//!
//! Verification reads a handful of headers. [`Headers`] is the one thing it needs
//! from a request: "the value of this header, whatever its case". It is
//! implemented for slices, arrays and vectors of `(name, value)` pairs whose name
//! is `AsRef<str>` and value `AsRef<[u8]>`, which covers `(&str, &str)`,
//! `(String, String)` and `(&http::HeaderName, &http::HeaderValue)` alike, so an
//! axum or hyper handler passes `headers.iter().collect::<Vec<_>>()`.

use super::rejection::Rejection;

/// Read access to request headers, by name, ignoring ASCII case.
///
/// Object safe: verification and handlers take `&dyn Headers`. It requires
/// `Sync` so that `&dyn Headers` is `Send` and the receiver's futures can move
/// between threads (every ordinary header container is `Sync`).
pub trait Headers: Sync {
    /// The raw value of the first header called `name` (compared ignoring ASCII
    /// case), or `None` when there is none.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl<K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync> Headers for [(K, V)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync, const N: usize> Headers for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str> + Sync, V: AsRef<[u8]> + Sync> Headers for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn header(&self, name: &str) -> Option<&[u8]> {
        (**self).header(name)
    }
}

/// The value of `name` as trimmed text, or a [`Rejection`] naming the header when it
/// is missing, empty or not UTF-8.
pub(crate) fn required<'h>(
    headers: &'h dyn Headers,
    name: &'static str,
) -> Result<&'h str, Rejection> {
    match optional(headers, name)? {
        Some(v) => Ok(v),
        None => Err(Rejection::missing(name)),
    }
}

/// The value of `name` as trimmed text when present; a [`Rejection`] when it is
/// present but empty or not UTF-8.
pub(crate) fn optional<'h>(
    headers: &'h dyn Headers,
    name: &'static str,
) -> Result<Option<&'h str>, Rejection> {
    let Some(raw) = headers.header(name) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(raw)
        .map_err(|_| Rejection::malformed(name, "the value is not valid UTF-8"))?
        .trim();
    if text.is_empty() {
        return Err(Rejection::malformed(name, "the value is empty"));
    }
    Ok(Some(text))
}

/// The value of `name` as trimmed text, or `None` when missing, empty or not UTF-8.
/// For headers that are informational (delivery ids, event names).
pub(crate) fn lenient<'h>(headers: &'h dyn Headers, name: &str) -> Option<&'h str> {
    let raw = headers.header(name)?;
    let text = std::str::from_utf8(raw).ok()?.trim();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::rejection::RejectionReason;

    #[test]
    fn lookup_ignores_case_and_takes_the_first_value() {
        let headers = vec![("x-hub-signature-256", "a"), ("X-HUB-SIGNATURE-256", "b")];
        assert_eq!(headers.header("X-Hub-Signature-256"), Some(&b"a"[..]));
        assert_eq!(headers.header("x-github-delivery"), None);
        let owned: Vec<(String, Vec<u8>)> = vec![("Webhook-Id".into(), b"msg_1".to_vec())];
        assert_eq!(owned.header("webhook-id"), Some(&b"msg_1"[..]));
        let array = [("A", "1")];
        let dynamic: &dyn Headers = &array;
        assert_eq!(dynamic.header("a"), Some(&b"1"[..]));
    }

    #[test]
    fn required_names_the_header_when_missing_empty_or_binary() {
        let headers: Vec<(&str, &[u8])> = vec![("empty", b"  "), ("binary", b"\xff\xfe")];
        let missing = required(&headers, "X-Slack-Signature").unwrap_err();
        assert_eq!(missing.reason(), RejectionReason::MissingHeader);
        assert_eq!(missing.header(), "X-Slack-Signature");
        let empty = required(&headers, "empty").unwrap_err();
        assert_eq!(empty.reason(), RejectionReason::MalformedHeader);
        let binary = required(&headers, "binary").unwrap_err();
        assert_eq!(binary.reason(), RejectionReason::MalformedHeader);
        assert_eq!(lenient(&headers, "binary"), None);
    }
}
