//! The GitHub HTTP client: bearer auth, GitHub's headers, its rate-limit rules
//! ahead of the shared status table, and its error bodies read into messages.
//!
//! GitHub's rules, in order, before connector-http's standard table:
//!
//! | response | verdict |
//! |---|---|
//! | 403 or 429 with `x-ratelimit-remaining: 0` (primary limit) | throttled until `x-ratelimit-reset` (epoch seconds) |
//! | 403 or 429 with `retry-after` (secondary limit) | throttled for `retry-after` seconds |
//! | 403 or 429 whose message names a secondary rate limit, without either header | throttled for 60 s, then backing off |
//! | anything else | the standard table (401 auth, 403 permission, 404 not found, 422 validation, 5xx retried) |

use std::time::Duration;

use connector_core::{ConnectorError, Credentials, ErrorKind, Result};
use connector_http::auth::Bearer;
use connector_http::classify::{Classifier, RateLimitExhausted, ResponseParts, RetryReason};
use connector_http::{HttpClient, StatusCode, Verdict};
use serde::Deserialize;

use crate::config::GithubSettings;

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

/// The media type every request accepts.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";

/// How long to wait on a secondary rate limit that names no wait (GitHub: "at
/// least one minute").
pub const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// GitHub's rate-limit rules ahead of the standard table (see the module docs).
pub fn classifier() -> Classifier {
    Classifier::standard()
        .with_rule(
            RateLimitExhausted::on_status(StatusCode::FORBIDDEN)
                .with_status(StatusCode::TOO_MANY_REQUESTS),
        )
        .with_rule_fn("github secondary rate limit", secondary_limit)
}

fn secondary_limit(parts: &ResponseParts<'_>) -> Option<Verdict> {
    let status = parts.status();
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let retry_after = parts
        .header("retry-after")
        .and_then(|v| connector_http::headers::parse_retry_after(v, std::time::SystemTime::now()));
    let named = parts
        .body()
        .map(String::from_utf8_lossy)
        .is_some_and(|b| b.to_ascii_lowercase().contains("secondary rate limit"));
    if retry_after.is_none() && !named {
        return None;
    }
    Some(Verdict::Retry {
        kind: ErrorKind::RateLimited,
        reason: RetryReason::Throttling,
        after: Some(retry_after.unwrap_or(SECONDARY_LIMIT_WAIT)),
    })
}

/// Builds the client for `settings` and `credentials`.
///
/// # Errors
///
/// [`ErrorKind::Config`] when the credentials are not a bearer token or the base
/// URL is invalid.
pub fn build(settings: &GithubSettings, credentials: &Credentials) -> Result<HttpClient> {
    let token = match credentials {
        Credentials::Bearer { token } => token.clone(),
        other => {
            return Err(ConnectorError::invalid_config(
                "GitHub credentials",
                vec![connector_core::FieldError::new(
                    "credentials.type",
                    "one_of",
                    format!(
                        "GitHub authenticates with a token (`bearer`: a personal access, OAuth or app installation token), not `{}`",
                        other.kind()
                    ),
                )],
            ));
        }
    };
    HttpClient::builder(settings.base_url.trim_end_matches('/'))
        .with_connector(crate::ID)
        .with_auth(Bearer::new(token))
        .with_default_header("accept", MEDIA_TYPE)
        .with_default_header("x-github-api-version", API_VERSION)
        .with_classifier(classifier())
        .with_timeout(settings.timeout())
        .build()
}

/// GitHub's error body: `{"message", "documentation_url", "errors"?, "status"?}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    documentation_url: Option<String>,
    #[serde(default)]
    errors: Vec<FieldProblem>,
}

/// One entry of a 422's `errors`: `{"resource","field","code"}` or `{"message"}`.
#[derive(Debug, Deserialize)]
struct FieldProblem {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What GitHub said in an error body, as one line: `Validation Failed (Issue.title:
/// missing_field); see https://docs.github.com/...`. `None` when the body is not
/// GitHub's error shape.
pub fn error_message(body: &str) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_str(body).ok()?;
    let mut out = parsed.message.trim().to_owned();
    if out.is_empty() {
        return None;
    }
    let problems: Vec<String> = parsed
        .errors
        .iter()
        .map(|p| match (&p.resource, &p.field, &p.code, &p.message) {
            (_, _, _, Some(m)) => m.clone(),
            (Some(r), Some(f), Some(c), None) => format!("{r}.{f}: {c}"),
            (_, Some(f), Some(c), None) => format!("{f}: {c}"),
            (_, _, Some(c), None) => c.clone(),
            _ => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if !problems.is_empty() {
        out.push_str(&format!(" ({})", problems.join("; ")));
    }
    if let Some(url) = parsed.documentation_url.filter(|u| !u.is_empty()) {
        out.push_str(&format!("; see {url}"));
    }
    Some(out)
}

/// Adds what GitHub said (from the error's body excerpt) and a GitHub-specific hint
/// to `err`'s message. Errors without a GitHub body pass unchanged.
pub fn explain(err: ConnectorError) -> ConnectorError {
    let said = err
        .context()
        .body_excerpt
        .as_deref()
        .and_then(error_message);
    let hint = match (err.kind(), err.context().http_status) {
        (ErrorKind::NotFound, Some(404)) => {
            Some("GitHub also answers 404 for private resources the token cannot see")
        }
        (ErrorKind::PermissionDenied, _) => {
            Some("the token lacks a scope or the organization restricts its access")
        }
        _ => None,
    };
    err.with_vendor_explanation("GitHub", said.as_deref(), hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_http::{HeaderMap, HeaderName, HeaderValue, Method};

    fn verdict(status: u16, headers: &[(&str, &str)], body: &str) -> Verdict {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                map.insert(name, value);
            }
        }
        let method = Method::GET;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        classifier().classify(&ResponseParts::new(
            &method,
            status,
            &map,
            Some(body.as_bytes()),
        ))
    }

    fn throttled(after: Option<Duration>) -> Verdict {
        Verdict::Retry {
            kind: ErrorKind::RateLimited,
            reason: RetryReason::Throttling,
            after,
        }
    }

    #[test]
    fn rate_limit_rules_table() {
        let primary = r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#;
        let secondary = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest"}"#;
        type Case<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>, &'a str, Verdict);
        let cases: Vec<Case<'_>> = vec![
            (
                "primary limit on 403 waits for the reset",
                403,
                vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "42")],
                primary,
                throttled(Some(Duration::from_secs(42))),
            ),
            (
                "primary limit on 429 waits for the reset",
                429,
                vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "7")],
                primary,
                throttled(Some(Duration::from_secs(7))),
            ),
            (
                "secondary limit with retry-after",
                403,
                vec![("x-ratelimit-remaining", "4000"), ("retry-after", "30")],
                secondary,
                throttled(Some(Duration::from_secs(30))),
            ),
            (
                "secondary limit named only in the body waits a minute",
                403,
                vec![("x-ratelimit-remaining", "4000")],
                secondary,
                throttled(Some(SECONDARY_LIMIT_WAIT)),
            ),
            (
                "a plain 403 is a permission problem",
                403,
                vec![("x-ratelimit-remaining", "4000")],
                r#"{"message":"Resource not accessible by integration"}"#,
                Verdict::Fail {
                    kind: ErrorKind::PermissionDenied,
                },
            ),
            (
                "401 is an auth failure",
                401,
                vec![],
                r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
                Verdict::Fail {
                    kind: ErrorKind::Auth,
                },
            ),
            (
                "404 is not found",
                404,
                vec![],
                r#"{"message":"Not Found"}"#,
                Verdict::Fail {
                    kind: ErrorKind::NotFound,
                },
            ),
            (
                "422 is a validation failure",
                422,
                vec![],
                r#"{"message":"Validation Failed"}"#,
                Verdict::Fail {
                    kind: ErrorKind::Validation,
                },
            ),
            (
                "200 succeeds",
                200,
                vec![("x-ratelimit-remaining", "0")],
                "",
                Verdict::Success,
            ),
        ];
        for (what, status, headers, body, expected) in cases {
            let got = verdict(status, &headers, body);
            // Reset headers are epoch seconds in production; small values are
            // delta seconds to the shared parser, which keeps this table exact.
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn error_bodies_table() {
        let cases = [
            (
                r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
                Some("Bad credentials; see https://docs.github.com/rest"),
            ),
            (
                r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}],"documentation_url":"https://docs.github.com/rest/issues"}"#,
                Some(
                    "Validation Failed (Issue.title: missing_field); see https://docs.github.com/rest/issues",
                ),
            ),
            (r#"{"message":"Not Found"}"#, Some("Not Found")),
            ("<html>bad gateway</html>", None),
            (r#"{"error":"other shape"}"#, None),
        ];
        for (body, expected) in cases {
            assert_eq!(error_message(body).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn explain_adds_what_github_said() {
        let err = ConnectorError::new(ErrorKind::Auth, "the server answered 401 Unauthorized")
            .with_http_status(401)
            .with_body_excerpt(r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#);
        let explained = explain(err);
        assert_eq!(
            explained.message(),
            "the server answered 401 Unauthorized: GitHub says \"Bad credentials; see https://docs.github.com/rest\""
        );
        assert_eq!(explained.kind(), ErrorKind::Auth);
    }

    #[test]
    fn only_bearer_tokens_are_accepted() {
        let settings = GithubSettings::new("o");
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p".to_owned().into(),
        };
        let err = build(&settings, &basic).err();
        assert_eq!(
            err.as_ref().map(ConnectorError::kind),
            Some(ErrorKind::Config)
        );
        assert!(err.as_ref().is_some_and(|e| {
            e.field_errors()
                .iter()
                .any(|f| f.path == "credentials.type")
        }));
    }
}
