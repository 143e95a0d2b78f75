//! What a strategy reads from a response: headers and the JSON envelope.

use serde_json::Value;

/// The parts of a response a pagination strategy reads to find the next page.
///
/// The HTTP layer implements it over its response headers plus the decoded
/// envelope (the body, or only the parts of it outside the item array; see
/// [`Pagination::body_paths`](super::Pagination::body_paths)), so items can be
/// decoded straight into a typed `T` without a `serde_json::Value` per item.
/// In-memory fetchers and tests use [`Signals`].
pub trait PageSignals {
    /// The first value of the header `name`, matched ASCII case-insensitively.
    fn header(&self, name: &str) -> Option<&str>;

    /// Every value of the header `name`, in order (case-insensitive). The default
    /// returns at most the one value of [`PageSignals::header`]; implement it when
    /// a header can repeat, as `Link` does on Okta.
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.header(name).into_iter().collect()
    }

    /// The JSON body, or the envelope around the items, when there is one.
    fn body(&self) -> Option<&Value>;
}

/// No signals at all: enough for offset and page-number strategies that end on a
/// short or empty page.
impl PageSignals for () {
    fn header(&self, _name: &str) -> Option<&str> {
        None
    }

    fn body(&self) -> Option<&Value> {
        None
    }
}

/// A JSON body without headers.
impl PageSignals for Value {
    fn header(&self, _name: &str) -> Option<&str> {
        None
    }

    fn body(&self) -> Option<&Value> {
        Some(self)
    }
}

impl<S: PageSignals + ?Sized> PageSignals for &S {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        (**self).header_values(name)
    }

    fn body(&self) -> Option<&Value> {
        (**self).body()
    }
}

impl<S: PageSignals + ?Sized> PageSignals for Box<S> {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        (**self).header_values(name)
    }

    fn body(&self) -> Option<&Value> {
        (**self).body()
    }
}

/// Owned headers and an optional JSON body: the [`PageSignals`] of in-memory
/// fetchers, fakes and tests.
///
/// ```
/// use connector_core::pagination::{PageSignals, Signals};
/// use serde_json::json;
///
/// let signals = Signals::new()
///     .with_header("Link", "<https://h/p2>; rel=\"next\"")
///     .with_body(json!({"total": 3}));
/// assert_eq!(signals.header("link"), Some("<https://h/p2>; rel=\"next\""));
/// assert_eq!(signals.body(), Some(&json!({"total": 3})));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Signals {
    /// No headers and no body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signals with only a JSON body.
    pub fn from_body(body: Value) -> Self {
        Self {
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// Adds a header value; a repeated name adds another value.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the JSON body.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl PageSignals for Signals {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }
}
