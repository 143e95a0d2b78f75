//! The HTTP client of the connector: built from the settings and credentials on
//! `connector-http`, with ServiceNow's error bodies turned into messages and its
//! quirks classified ahead of the shared status table.
//!
//! - Auth: basic (user and password), a bearer token, OAuth client credentials
//!   or a refresh token against `<instance>/oauth_token.do` (client id and secret
//!   in the form body, as ServiceNow expects).
//! - Errors: ServiceNow answers `{"error":{"message","detail"},"status":"failure"}`;
//!   [`describe`] adds the message and detail to the classified error.
//! - Classification: the shared table (429 and 503 wait `Retry-After`, or
//!   `X-RateLimit-Reset`), plus one ServiceNow rule: a `2xx` answered with an HTML
//!   page is a hibernating developer instance or a login portal, not data.

use std::time::Duration;

use connector_core::{ConnectorError, Credentials, ErrorKind, Result};
use connector_http::auth::{
    Basic, Bearer, ClientAuth, OAuth2ClientCredentials, OAuth2RefreshToken,
};
use connector_http::classify::{Classifier, ResponseParts, Verdict};
use connector_http::{ExposeSecret, HttpClient, RateLimit, RetryPolicy};
use serde::Deserialize;

use crate::config::ServiceNowSettings;

/// The connector id, named in errors and the `User-Agent`.
pub const CONNECTOR_ID: &str = "servicenow";

/// Builds the client for `settings` and `credentials`.
///
/// # Errors
///
/// [`ErrorKind::Config`] naming the setting or credential that is invalid, or
/// credentials of a kind ServiceNow does not take.
pub fn build(settings: &ServiceNowSettings, credentials: &Credentials) -> Result<HttpClient> {
    let api_url = settings.api_url()?;
    let timeout = match settings.timeout_secs {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(Duration::from_secs(60)),
    };
    let mut builder = HttpClient::builder(api_url)
        .with_connector(CONNECTOR_ID)
        .with_timeout(timeout)
        .with_classifier(classifier())
        .with_retry(RetryPolicy::default().with_max_attempts(5));
    if let Some(rps) = settings.requests_per_second {
        builder = builder.with_rate_limit(RateLimit::per_second(rps));
    }
    builder = match credentials {
        Credentials::Basic { username, password } => builder.with_auth(Basic::new(
            username.clone(),
            password.expose_secret().to_owned(),
        )),
        Credentials::Bearer { token } => {
            builder.with_auth(Bearer::new(token.expose_secret().to_owned()))
        }
        Credentials::OAuth2ClientCredentials {
            client_id,
            client_secret,
            token_url,
            scopes,
            ..
        } => {
            let mut auth = OAuth2ClientCredentials::new(
                settings.token_url(token_url.as_deref())?,
                client_id.clone(),
                client_secret.expose_secret().to_owned(),
            )
            .with_client_auth(ClientAuth::RequestBody);
            if !scopes.is_empty() {
                auth = auth.with_scope(scopes.join(" "));
            }
            builder.with_auth(auth)
        }
        Credentials::OAuth2RefreshToken {
            client_id,
            client_secret,
            refresh_token,
            token_url,
            ..
        } => {
            let mut auth = OAuth2RefreshToken::new(
                settings.token_url(token_url.as_deref())?,
                client_id.clone(),
                refresh_token.expose_secret().to_owned(),
            )
            .with_client_auth(ClientAuth::RequestBody);
            if let Some(secret) = client_secret {
                auth = auth.with_client_secret(secret.expose_secret().to_owned());
            }
            builder.with_auth(auth)
        }
        other => {
            return Err(ConnectorError::invalid_config(
                "credentials are invalid",
                vec![connector_core::FieldError::new(
                    "credentials",
                    "type",
                    format!(
                        "ServiceNow takes `basic`, `bearer`, `oauth2_client_credentials` or \
                         `oauth2_refresh_token` credentials, not `{}`",
                        other.kind()
                    ),
                )],
            ));
        }
    };
    builder.build()
}

/// The shared classifier with ServiceNow's rule ahead of it: a successful status
/// with an HTML body is a hibernating instance or a login page.
pub fn classifier() -> Classifier {
    Classifier::standard().with_rule_fn("servicenow_html_page", html_page)
}

fn html_page(parts: &ResponseParts<'_>) -> Option<Verdict> {
    let html = parts
        .header("content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    (parts.status().is_success() && html).then_some(Verdict::Fail {
        kind: ErrorKind::Unavailable,
    })
}

/// ServiceNow's error body: `{"error":{"message","detail"},"status":"failure"}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Debug, Deserialize)]
struct ErrorFields {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The `message` and `detail` of a ServiceNow error body, if `body` is one.
pub fn parse_error_body(body: &str) -> Option<(String, Option<String>)> {
    let parsed: ErrorBody = serde_json::from_str(body.trim()).ok()?;
    let message = parsed.error.message.filter(|m| !m.trim().is_empty())?;
    let detail = parsed.error.detail.filter(|d| !d.trim().is_empty());
    Some((message, detail))
}

/// Adds what ServiceNow said (its error message and detail, or why an HTML page
/// came back) to a classified error. Other errors pass through unchanged.
pub fn describe(err: ConnectorError) -> ConnectorError {
    let ctx = err.context();
    let status = ctx.http_status;
    let said = ctx.body_excerpt.as_deref().and_then(parse_error_body);
    let hint = match (status, err.kind()) {
        (Some(401), _) => Some("check the user name and password or the OAuth client"),
        (Some(403), _) => {
            Some("the user needs read access to the table, e.g. the `cmdb_read` or `itil` role")
        }
        (Some(404), _) => Some("the table does not exist, or an ACL hides it from this user"),
        (Some(s), ErrorKind::Unavailable) if (200..300).contains(&s) => Some(
            "the instance answered with an HTML page: a developer instance may be hibernating, \
             wake it at developer.servicenow.com, or a login portal sits in front of the API",
        ),
        _ => None,
    };
    let said = said.map(|(what, detail)| match detail {
        Some(detail) => format!("{what} ({detail})"),
        None => what,
    });
    err.with_vendor_explanation("ServiceNow", said.as_deref(), hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_http::{HeaderMap, HeaderValue, Method, StatusCode};

    #[test]
    fn classification_table() {
        // (status, content type, retry-after, expected kind, retried)
        type Case = (
            u16,
            &'static str,
            Option<&'static str>,
            Option<ErrorKind>,
            bool,
        );
        let cases: &[Case] = &[
            (200, "application/json", None, None, false),
            (
                200,
                "text/html; charset=UTF-8",
                None,
                Some(ErrorKind::Unavailable),
                false,
            ),
            (
                400,
                "application/json",
                None,
                Some(ErrorKind::Config),
                false,
            ),
            (401, "application/json", None, Some(ErrorKind::Auth), false),
            (
                403,
                "application/json",
                None,
                Some(ErrorKind::PermissionDenied),
                false,
            ),
            (
                404,
                "application/json",
                None,
                Some(ErrorKind::NotFound),
                false,
            ),
            (
                429,
                "application/json",
                Some("7"),
                Some(ErrorKind::RateLimited),
                true,
            ),
            (
                503,
                "application/json",
                None,
                Some(ErrorKind::Unavailable),
                true,
            ),
            (500, "text/html", None, Some(ErrorKind::Unavailable), true),
        ];
        let classifier = classifier();
        for &(status, content_type, retry_after, kind, retried) in cases {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static(content_type));
            if let Some(r) = retry_after {
                headers.insert("retry-after", HeaderValue::from_static(r));
            }
            let status_code = StatusCode::from_u16(status).expect("status");
            let parts = ResponseParts::new(&Method::GET, status_code, &headers, None);
            let verdict = classifier.classify(&parts);
            match (verdict, kind) {
                (Verdict::Success, None) => {}
                (Verdict::Fail { kind: got }, Some(want)) if !retried => {
                    assert_eq!(got, want, "{status} {content_type}");
                }
                (
                    Verdict::Retry {
                        kind: got, after, ..
                    },
                    Some(want),
                ) if retried => {
                    assert_eq!(got, want, "{status}");
                    if retry_after.is_some() {
                        assert_eq!(after, Some(Duration::from_secs(7)));
                    }
                }
                (other, _) => panic!("{status} {content_type}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn error_bodies_table() {
        let cases = [
            (
                401,
                r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#,
                ErrorKind::Auth,
                "the server answered 401 Unauthorized: ServiceNow says \"User Not Authenticated (Required to provide Auth information)\" (check the user name and password or the OAuth client)",
            ),
            (
                403,
                r#"{"error":{"message":"User Not Authorized","detail":"Failed API level ACL Validation"},"status":"failure"}"#,
                ErrorKind::PermissionDenied,
                "the server answered 403 Forbidden: ServiceNow says \"User Not Authorized (Failed API level ACL Validation)\" (the user needs read access to the table, e.g. the `cmdb_read` or `itil` role)",
            ),
            (
                400,
                r#"{"error":{"message":"offset is -1","detail":"Negative offset is not supported"},"status":"failure"}"#,
                ErrorKind::Config,
                "the server answered 400 Bad Request: ServiceNow says \"offset is -1 (Negative offset is not supported)\"",
            ),
            (
                400,
                r#"{"error":{"message":"Invalid table cmdb_ci_nope","detail":null},"status":"failure"}"#,
                ErrorKind::Config,
                "the server answered 400 Bad Request: ServiceNow says \"Invalid table cmdb_ci_nope\"",
            ),
            (
                500,
                "<html><body>Oops</body></html>",
                ErrorKind::Unavailable,
                "the server answered 500 Internal Server Error",
            ),
            (
                200,
                "<html><head><title>Instance Hibernating page</title></head></html>",
                ErrorKind::Unavailable,
                "the server answered 200 OK (the instance answered with an HTML page: a developer instance may be hibernating, wake it at developer.servicenow.com, or a login portal sits in front of the API)",
            ),
        ];
        for (status, body, kind, message) in cases {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            let err = ConnectorError::new(kind, format!("the server answered {status} {reason}"))
                .with_http_status(status)
                .with_body_excerpt(body);
            assert_eq!(describe(err).message(), message, "{status}");
        }
        assert_eq!(parse_error_body("not json"), None);
        assert_eq!(parse_error_body(r#"{"error":{"message":""}}"#), None);
    }
}
