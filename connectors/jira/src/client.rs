//! The Jira Cloud HTTP client: basic auth (email + API token) or OAuth bearer
//! tokens, Jira's error bodies read into messages.
//!
//! Jira's throttling fits connector-http's standard table, so no vendor rule is
//! added ahead of it; the table test below pins the cases Jira produces:
//!
//! | response | verdict |
//! |---|---|
//! | 429 with `Retry-After` (burst, quota and per-issue limits) | throttled for `Retry-After` |
//! | 429 with only `X-RateLimit-Reset` (ISO 8601, minute precision) | throttled until the reset |
//! | 503 with `Retry-After` | throttled for `Retry-After` |
//! | 400 (`Error in the JQL Query: …`, an unknown project) | configuration error, not retried |
//! | 401 | authentication failed |
//! | 403 | permission denied |
//! | 404, 410 (the removed `/rest/api/3/search`) | not found |

use connector_core::{ConnectorError, Credentials, ErrorKind, FieldError, Result};
use connector_http::HttpClient;
use connector_http::auth::{Basic, Bearer, OAuth2RefreshToken};
use connector_http::classify::Classifier;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::JiraSettings;

/// Atlassian's OAuth 2.0 token endpoint, for refresh-token credentials without a
/// `token_url`.
pub const ATLASSIAN_TOKEN_URL: &str = "https://auth.atlassian.com/oauth/token";

/// Jira's classifier: the standard table (see the module docs).
pub fn classifier() -> Classifier {
    Classifier::standard()
}

/// Builds the client for `settings` and `credentials`.
///
/// # Errors
///
/// [`ErrorKind::Config`] for credentials Jira does not take or an invalid base URL.
pub fn build(settings: &JiraSettings, credentials: &Credentials) -> Result<HttpClient> {
    let base = settings.base_url()?;
    let builder = HttpClient::builder(base)
        .with_connector(crate::ID)
        .with_classifier(classifier())
        .with_timeout(settings.timeout());
    let builder = match credentials {
        Credentials::Basic { username, password } => {
            builder.with_auth(Basic::new(username.clone(), password.clone()))
        }
        Credentials::Bearer { token } => builder.with_auth(Bearer::new(token.clone())),
        Credentials::OAuth2RefreshToken {
            client_id,
            client_secret,
            refresh_token,
            token_url,
            ..
        } => {
            let url = token_url.as_deref().unwrap_or(ATLASSIAN_TOKEN_URL);
            let mut grant = OAuth2RefreshToken::new(url, client_id.clone(), refresh_token.clone());
            if let Some(secret) = client_secret {
                grant = grant.with_client_secret(secret.clone());
            }
            builder.with_allowed_origin(url).with_auth(grant)
        }
        other => {
            return Err(ConnectorError::invalid_config(
                "Jira credentials",
                vec![FieldError::new(
                    "credentials.type",
                    "one_of",
                    format!(
                        "Jira Cloud takes `basic` (email and API token), `bearer` (an OAuth access token) or `oauth2_refresh_token`, not `{}`",
                        other.kind()
                    ),
                )],
            ));
        }
    };
    builder.build()
}

/// Jira's error body: `{"errorMessages": [...], "errors": {field: message}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "errorMessages")]
    error_messages: Vec<String>,
    #[serde(default)]
    errors: Map<String, Value>,
}

/// What Jira said in an error body, as one line (`Error in the JQL Query: …;
/// summary: You must specify a summary of the issue.`). `None` when the body is not
/// Jira's shape or says nothing.
pub fn error_message(body: &str) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_str(body).ok()?;
    let mut parts: Vec<String> = parsed
        .error_messages
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    for (field, message) in &parsed.errors {
        let text = match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{field}: {text}"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Adds what Jira said (from the error's body excerpt) and a Jira-specific hint to
/// `err`'s message. Errors without a Jira body pass unchanged.
pub fn explain(err: ConnectorError) -> ConnectorError {
    let body = err.context().body_excerpt.clone();
    let said = body.as_deref().and_then(error_message).or_else(|| {
        // Jira's 401 is often plain text (`Client must be authenticated ...`).
        body.filter(|b| err.kind() == ErrorKind::Auth && !b.trim_start().starts_with(['{', '<']))
    });
    let hint = match err.kind() {
        ErrorKind::Auth => Some(
            "basic auth takes the Atlassian account email as username and an API token (not the password)",
        ),
        ErrorKind::PermissionDenied => Some("the account lacks the Browse projects permission"),
        _ => None,
    };
    err.with_vendor_explanation("Jira", said.as_deref(), hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_http::classify::{ResponseParts, RetryReason};
    use connector_http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Verdict};
    use std::time::{Duration, SystemTime};

    fn verdict(status: u16, headers: &[(&str, &str)], now: SystemTime) -> Verdict {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                map.insert(n, v);
            }
        }
        let method = Method::GET;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        classifier().classify(&ResponseParts::new(&method, status, &map, Some(b"")).at(now))
    }

    #[test]
    fn jira_responses_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_705_313_700); // 2024-01-15T10:15:00Z
        let throttled = |kind, after| Verdict::Retry {
            kind,
            reason: RetryReason::Throttling,
            after,
        };
        let fail = |kind| Verdict::Fail { kind };
        type Case<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>, Verdict);
        let cases: Vec<Case<'_>> = vec![
            (
                "429 burst limit with Retry-After",
                429,
                vec![
                    ("retry-after", "5"),
                    ("ratelimit-reason", "jira-burst-based"),
                ],
                throttled(ErrorKind::RateLimited, Some(Duration::from_secs(5))),
            ),
            (
                "429 with only an ISO reset",
                429,
                vec![("x-ratelimit-reset", "2024-01-15T10:20Z")],
                throttled(ErrorKind::RateLimited, Some(Duration::from_secs(300))),
            ),
            (
                "503 with Retry-After",
                503,
                vec![("retry-after", "2")],
                throttled(ErrorKind::Unavailable, Some(Duration::from_secs(2))),
            ),
            ("JQL error", 400, vec![], fail(ErrorKind::Config)),
            ("unauthenticated", 401, vec![], fail(ErrorKind::Auth)),
            ("forbidden", 403, vec![], fail(ErrorKind::PermissionDenied)),
            ("no such issue", 404, vec![], fail(ErrorKind::NotFound)),
            ("the removed search", 410, vec![], fail(ErrorKind::NotFound)),
            ("ok", 200, vec![], Verdict::Success),
        ];
        for (what, status, headers, expected) in cases {
            assert_eq!(verdict(status, &headers, now), expected, "{what}");
        }
    }

    #[test]
    fn error_bodies_table() {
        let cases = [
            (
                r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#,
                Some("Issue does not exist or you do not have permission to see it."),
            ),
            (
                r#"{"errorMessages":[],"errors":{"summary":"You must specify a summary of the issue."}}"#,
                Some("summary: You must specify a summary of the issue."),
            ),
            (
                r#"{"errorMessages":["Error in the JQL Query: Expecting ')' but got the end of the query."],"errors":{}}"#,
                Some("Error in the JQL Query: Expecting ')' but got the end of the query."),
            ),
            (r#"{"errorMessages":[],"errors":{}}"#, None),
            (
                "Client must be authenticated to access this resource.",
                None,
            ),
            ("<html>Bad gateway</html>", None),
        ];
        for (body, expected) in cases {
            assert_eq!(error_message(body).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn explain_reads_json_and_plain_text_bodies() {
        let err = ConnectorError::new(ErrorKind::Config, "the server answered 400 Bad Request")
            .with_body_excerpt(r#"{"errorMessages":["Error in the JQL Query: x"],"errors":{}}"#);
        assert_eq!(
            explain(err).message(),
            "the server answered 400 Bad Request: Jira says \"Error in the JQL Query: x\""
        );
        let err = ConnectorError::new(ErrorKind::Auth, "the server answered 401 Unauthorized")
            .with_body_excerpt("Client must be authenticated to access this resource.");
        let message = explain(err).message().to_owned();
        assert!(
            message.contains("Client must be authenticated"),
            "{message}"
        );
        assert!(message.contains("API token"), "{message}");
    }

    #[test]
    fn credentials_jira_does_not_take_name_the_field() {
        let settings = JiraSettings::for_site("acme");
        let key = Credentials::ApiKey {
            key: "k".to_owned().into(),
        };
        let err = build(&settings, &key).err();
        assert!(err.is_some_and(|e| e.field_errors()[0].path == "credentials.type"));
        let basic = Credentials::Basic {
            username: "me@example.com".into(),
            password: "token".to_owned().into(),
        };
        assert!(build(&settings, &basic).is_ok());
    }
}
