//! The one ordered classifier every vendor shares: status and headers in, an
//! [`ErrorKind`] and a retry decision out.
//!
//! The [standard table](StandardTable) lives here and nowhere else:
//!
//! | response | kind | retried |
//! |---|---|---|
//! | 1xx, 2xx, 3xx | success | — |
//! | 400 | [`ErrorKind::Config`] (the request the configuration produced was malformed: a bad filter, field or parameter) | no |
//! | 401 | [`ErrorKind::Auth`] (one refresh-and-retry when the auth strategy can refresh) | no |
//! | 403 | [`ErrorKind::PermissionDenied`] | no |
//! | 404, 410 | [`ErrorKind::NotFound`] | no |
//! | 405, 501 | [`ErrorKind::Unsupported`] | no |
//! | 408 | [`ErrorKind::Timeout`] | yes |
//! | 409, 412 | [`ErrorKind::Conflict`] | no |
//! | 413, 414, 431 | [`ErrorKind::Config`] | no |
//! | 422 | [`ErrorKind::Validation`] (the server understood the request and rejected its content) | no |
//! | 429 | [`ErrorKind::RateLimited`], throttling: waits `Retry-After` or the reset header | yes |
//! | 503 | [`ErrorKind::Unavailable`], throttling: waits `Retry-After` or the reset header | yes |
//! | 500, 502, 504 and other 5xx | [`ErrorKind::Unavailable`], server error | yes |
//! | other 4xx | [`ErrorKind::Unexpected`] | no |
//!
//! Transport failures are classified by the client: timeouts are
//! [`ErrorKind::Timeout`], connection failures [`ErrorKind::Network`], both transient.
//!
//! A vendor adds a rule **ahead of** the table for its quirks instead of copying it:
//!
//! ```
//! use connector_http::classify::{Classifier, RateLimitExhausted};
//! use connector_http::StatusCode;
//!
//! // GitHub: a 403 with `x-ratelimit-remaining: 0` is throttling, not a permission error.
//! let classifier = Classifier::standard().with_rule(RateLimitExhausted::on_status(StatusCode::FORBIDDEN));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use connector_core::ErrorKind;
use http::{HeaderMap, Method, StatusCode};

use crate::headers;

/// What a classifier sees of a response: method, status, headers and, for non-2xx
/// responses, the first bytes of the body.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    method: &'a Method,
    status: StatusCode,
    headers: &'a HeaderMap,
    body: Option<&'a [u8]>,
    now: SystemTime,
}

impl<'a> ResponseParts<'a> {
    /// Describes a response. `body` is `None` for successful responses, whose body
    /// the classifier must not consume.
    pub fn new(
        method: &'a Method,
        status: StatusCode,
        headers: &'a HeaderMap,
        body: Option<&'a [u8]>,
    ) -> Self {
        Self {
            method,
            status,
            headers,
            body,
            now: SystemTime::now(),
        }
    }

    /// Uses `now` as the wall-clock time for HTTP-date and epoch headers.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.method
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// A header value as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The start of the body (at most 64 KiB) for non-2xx responses.
    pub fn body(&self) -> Option<&[u8]> {
        self.body
    }

    /// The wait the server asked for: `Retry-After`, else a rate-limit reset header.
    pub fn server_wait(&self) -> Option<Duration> {
        headers::server_wait(self.headers, self.now)
    }

    /// Whether a rate-limit "remaining" header says zero requests remain.
    pub fn remaining_is_zero(&self) -> bool {
        headers::remaining_is_zero(self.headers)
    }
}

/// Why a failure may be retried. Throttling waits what the server asked for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// The server is throttling (429, 503, a vendor rate-limit signal).
    Throttling,
    /// The server failed on its side (500, 502, 504).
    ServerError,
    /// The request timed out or the connection failed.
    Transient,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryReason::Throttling => "throttling",
            RetryReason::ServerError => "server error",
            RetryReason::Transient => "transient failure",
        })
    }
}

/// The outcome of classifying one response.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The response is a success; hand it to the caller.
    Success,
    /// The response is a failure that may pass on retry.
    Retry {
        /// The kind of the error if retries run out.
        kind: ErrorKind,
        /// Why it may be retried.
        reason: RetryReason,
        /// The wait the server asked for, overriding the backoff delay.
        after: Option<Duration>,
    },
    /// The response is a failure that will not pass on retry.
    Fail {
        /// The kind of the error.
        kind: ErrorKind,
    },
}

impl Verdict {
    /// A throttling verdict that waits what the server asked for.
    pub fn throttled(kind: ErrorKind, parts: &ResponseParts<'_>) -> Self {
        Verdict::Retry {
            kind,
            reason: RetryReason::Throttling,
            after: parts.server_wait(),
        }
    }
}

/// One rule of a [`Classifier`]: returns `Some` to decide, `None` to pass the
/// response on to the next rule.
pub trait ClassifyRule: Send + Sync + fmt::Debug {
    /// Classifies a response, or returns `None` to let later rules decide.
    fn classify(&self, response: &ResponseParts<'_>) -> Option<Verdict>;
}

/// An ordered list of rules ending in the [`StandardTable`]. The first rule that
/// returns `Some` decides.
///
/// Default: the standard table alone. `Clone` shares the rules.
#[derive(Clone, Debug)]
pub struct Classifier {
    rules: Vec<Arc<dyn ClassifyRule>>,
}

impl Default for Classifier {
    fn default() -> Self {
        Self::standard()
    }
}

impl Classifier {
    /// The standard table and no vendor rules.
    pub fn standard() -> Self {
        Self { rules: Vec::new() }
    }

    /// Adds a vendor rule ahead of the standard table. Rules added earlier are
    /// consulted first.
    pub fn with_rule(mut self, rule: impl ClassifyRule + 'static) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// Adds a rule written as a closure, named for `Debug` output.
    pub fn with_rule_fn<F>(self, name: &'static str, rule: F) -> Self
    where
        F: Fn(&ResponseParts<'_>) -> Option<Verdict> + Send + Sync + 'static,
    {
        self.with_rule(FnRule { name, rule })
    }

    /// Classifies a response: vendor rules in order, then the standard table.
    pub fn classify(&self, response: &ResponseParts<'_>) -> Verdict {
        self.rules
            .iter()
            .find_map(|rule| rule.classify(response))
            .unwrap_or_else(|| StandardTable.decide(response))
    }
}

struct FnRule<F> {
    name: &'static str,
    rule: F,
}

impl<F> fmt::Debug for FnRule<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FnRule").field(&self.name).finish()
    }
}

impl<F> ClassifyRule for FnRule<F>
where
    F: Fn(&ResponseParts<'_>) -> Option<Verdict> + Send + Sync,
{
    fn classify(&self, response: &ResponseParts<'_>) -> Option<Verdict> {
        (self.rule)(response)
    }
}

/// The default status table (see the module documentation). Always consulted last.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardTable;

impl StandardTable {
    /// Classifies by status alone (plus `Retry-After`/reset headers for throttling).
    pub fn decide(&self, response: &ResponseParts<'_>) -> Verdict {
        let status = response.status();
        let code = status.as_u16();
        if code < 400 {
            return Verdict::Success;
        }
        match code {
            429 => Verdict::throttled(ErrorKind::RateLimited, response),
            503 => Verdict::throttled(ErrorKind::Unavailable, response),
            408 => Verdict::Retry {
                kind: ErrorKind::Timeout,
                reason: RetryReason::Transient,
                after: None,
            },
            501 | 405 => Verdict::Fail {
                kind: ErrorKind::Unsupported,
            },
            505 => Verdict::Fail {
                kind: ErrorKind::Unsupported,
            },
            500..=599 => Verdict::Retry {
                kind: ErrorKind::Unavailable,
                reason: RetryReason::ServerError,
                after: headers::retry_after(response.headers(), response.now),
            },
            400 | 413 | 414 | 431 => Verdict::Fail {
                kind: ErrorKind::Config,
            },
            401 => Verdict::Fail {
                kind: ErrorKind::Auth,
            },
            403 => Verdict::Fail {
                kind: ErrorKind::PermissionDenied,
            },
            404 | 410 => Verdict::Fail {
                kind: ErrorKind::NotFound,
            },
            409 | 412 => Verdict::Fail {
                kind: ErrorKind::Conflict,
            },
            422 => Verdict::Fail {
                kind: ErrorKind::Validation,
            },
            _ => Verdict::Fail {
                kind: ErrorKind::Unexpected,
            },
        }
    }
}

impl ClassifyRule for StandardTable {
    fn classify(&self, response: &ResponseParts<'_>) -> Option<Verdict> {
        Some(self.decide(response))
    }
}

/// A rule for vendors that signal an exhausted quota with a non-429 status: a
/// response with one of `statuses` and a rate-limit "remaining" header of `0`
/// (`x-ratelimit-remaining`, `ratelimit-remaining`, `x-rate-limit-remaining`) is
/// throttling, waiting `Retry-After` or until the reset header.
///
/// GitHub answers 403 with `x-ratelimit-remaining: 0` when the primary limit is hit.
#[derive(Debug, Clone)]
pub struct RateLimitExhausted {
    statuses: Vec<StatusCode>,
}

impl RateLimitExhausted {
    /// Applies the rule to responses with `status`.
    pub fn on_status(status: StatusCode) -> Self {
        Self {
            statuses: vec![status],
        }
    }

    /// Applies the rule to one more status as well.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.statuses.push(status);
        self
    }
}

impl ClassifyRule for RateLimitExhausted {
    fn classify(&self, response: &ResponseParts<'_>) -> Option<Verdict> {
        (self.statuses.contains(&response.status()) && response.remaining_is_zero())
            .then(|| Verdict::throttled(ErrorKind::RateLimited, response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(classifier: &Classifier, status: u16, headers: &[(&str, &str)]) -> Verdict {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let method = Method::GET;
        let parts = ResponseParts::new(
            &method,
            StatusCode::from_u16(status).unwrap(),
            &map,
            Some(b""),
        );
        classifier.classify(&parts)
    }

    #[test]
    fn standard_table() {
        use ErrorKind::*;
        let c = Classifier::standard();
        let fail = |kind| Verdict::Fail { kind };
        let cases: &[(u16, Verdict)] = &[
            (200, Verdict::Success),
            (204, Verdict::Success),
            (304, Verdict::Success),
            (400, fail(Config)),
            (401, fail(Auth)),
            (403, fail(PermissionDenied)),
            (404, fail(NotFound)),
            (405, fail(Unsupported)),
            (409, fail(Conflict)),
            (410, fail(NotFound)),
            (418, fail(Unexpected)),
            (422, fail(Validation)),
            (501, fail(Unsupported)),
            (
                408,
                Verdict::Retry {
                    kind: Timeout,
                    reason: RetryReason::Transient,
                    after: None,
                },
            ),
            (
                429,
                Verdict::Retry {
                    kind: RateLimited,
                    reason: RetryReason::Throttling,
                    after: None,
                },
            ),
            (
                503,
                Verdict::Retry {
                    kind: Unavailable,
                    reason: RetryReason::Throttling,
                    after: None,
                },
            ),
            (
                500,
                Verdict::Retry {
                    kind: Unavailable,
                    reason: RetryReason::ServerError,
                    after: None,
                },
            ),
            (
                502,
                Verdict::Retry {
                    kind: Unavailable,
                    reason: RetryReason::ServerError,
                    after: None,
                },
            ),
            (
                504,
                Verdict::Retry {
                    kind: Unavailable,
                    reason: RetryReason::ServerError,
                    after: None,
                },
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(verdict(&c, *status, &[]), *expected, "status {status}");
        }
        assert_eq!(
            verdict(&c, 429, &[("retry-after", "7")]),
            Verdict::Retry {
                kind: RateLimited,
                reason: RetryReason::Throttling,
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn vendor_rules_go_first() {
        let c = Classifier::standard()
            .with_rule(RateLimitExhausted::on_status(StatusCode::FORBIDDEN))
            .with_rule_fn("never reached for 403", |_| Some(Verdict::Success));
        assert_eq!(
            verdict(
                &c,
                403,
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "30")]
            ),
            Verdict::Retry {
                kind: ErrorKind::RateLimited,
                reason: RetryReason::Throttling,
                after: Some(Duration::from_secs(30))
            }
        );
        // Without remaining=0 the GitHub rule passes and the next rule decides.
        assert_eq!(
            verdict(&c, 403, &[("x-ratelimit-remaining", "12")]),
            Verdict::Success
        );
        assert_eq!(
            verdict(
                &Classifier::standard(),
                403,
                &[("x-ratelimit-remaining", "12")]
            ),
            Verdict::Fail {
                kind: ErrorKind::PermissionDenied
            }
        );
        assert!(format!("{c:?}").contains("never reached for 403"));
    }
}
