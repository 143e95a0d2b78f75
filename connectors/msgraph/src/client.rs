//! The HTTP client of the Graph connectors: client-credentials tokens from
//! `{authority}/{tenant}/oauth2/v2.0/token` (scope `<graph origin>/.default`,
//! client id and secret in the form body), Graph's error bodies turned into
//! messages, and Graph's throttling quirks ahead of the shared status table.
//!
//! - Errors: Graph answers `{"error":{"code","message","innerError":{..}}}`, the
//!   token endpoint `{"error","error_description","error_codes",..}`; [`describe`]
//!   adds the code and message to the classified error.
//! - Classification: 429 and 503 wait `Retry-After` (shared table); 509
//!   (SharePoint's bandwidth limit) is throttling too.

use std::time::Duration;

use connector_core::{ConnectorError, Credentials, ErrorKind, FieldError, Result};
use connector_http::auth::{Bearer, ClientAuth, OAuth2ClientCredentials};
use connector_http::classify::{Classifier, ResponseParts, Verdict};
use connector_http::{ExposeSecret, HttpClient, RateLimit, RetryPolicy};
use serde::Deserialize;
use serde_json::Value;

use crate::config::GraphSettings;

/// Builds the client for `settings` and `credentials`, authenticating as
/// `connector` (named in errors and the `User-Agent`).
///
/// # Errors
///
/// [`ErrorKind::Config`] naming the invalid setting or credential.
pub fn build(
    connector: &str,
    settings: &GraphSettings,
    credentials: &Credentials,
) -> Result<HttpClient> {
    let timeout = match settings.timeout_secs {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(Duration::from_secs(60)),
    };
    let mut builder = HttpClient::builder(settings.graph_url()?)
        .with_connector(connector)
        .with_timeout(timeout)
        .with_classifier(classifier())
        .with_retry(RetryPolicy::default().with_max_attempts(5));
    if let Some(rps) = settings.requests_per_second {
        builder = builder.with_rate_limit(RateLimit::per_second(rps));
    }
    builder = match credentials {
        Credentials::OAuth2ClientCredentials {
            client_id,
            client_secret,
            token_url,
            scopes,
            tenant_id,
        } => {
            let token_url = match token_url {
                Some(url) => connector_http::checked_base_url(url).map_err(|why| {
                    ConnectorError::invalid_config(
                        "credentials are invalid",
                        vec![FieldError::new("credentials.token_url", "url", why)],
                    )
                })?,
                None => format!(
                    "{}/{}/oauth2/v2.0/token",
                    settings.authority()?,
                    settings.tenant(tenant_id.as_deref())?
                ),
            };
            let scope = if scopes.is_empty() {
                settings.scope()?
            } else {
                scopes.join(" ")
            };
            builder.with_auth(
                OAuth2ClientCredentials::new(
                    token_url,
                    client_id.clone(),
                    client_secret.expose_secret().to_owned(),
                )
                .with_scope(scope)
                .with_client_auth(ClientAuth::RequestBody),
            )
        }
        Credentials::Bearer { token } => {
            builder.with_auth(Bearer::new(token.expose_secret().to_owned()))
        }
        other => {
            return Err(ConnectorError::invalid_config(
                "credentials are invalid",
                vec![FieldError::new(
                    "credentials",
                    "type",
                    format!(
                        "Microsoft Graph takes `oauth2_client_credentials` (an app registration \
                         with application permissions) or `bearer` credentials, not `{}`",
                        other.kind()
                    ),
                )],
            ));
        }
    };
    builder.build()
}

/// The shared classifier with Graph's rule ahead of it: 509 is throttling.
pub fn classifier() -> Classifier {
    Classifier::standard().with_rule_fn("graph_bandwidth_limit", |parts: &ResponseParts<'_>| {
        (parts.status().as_u16() == 509).then(|| Verdict::throttled(ErrorKind::RateLimited, parts))
    })
}

#[derive(Debug, Deserialize)]
struct GraphError {
    error: Value,
    #[serde(default)]
    error_description: Option<String>,
}

/// The code and message of a Graph or token-endpoint error body.
pub fn parse_error_body(body: &str) -> Option<(String, String)> {
    let parsed: GraphError = serde_json::from_str(body.trim()).ok()?;
    match parsed.error {
        Value::Object(e) => {
            let code = e.get("code").and_then(Value::as_str)?.to_owned();
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((code, message))
        }
        // The token endpoint: {"error":"invalid_client","error_description":"AADSTS7000215: ..."}
        Value::String(code) => {
            let description = parsed.error_description.unwrap_or_default();
            // Keep the first line: the rest carries trace and correlation ids.
            let first = description.lines().next().unwrap_or("").trim().to_owned();
            Some((code, first))
        }
        _ => None,
    }
}

/// Adds Graph's code and message (and a hint for the common failures) to a
/// classified error. Other errors pass through unchanged.
pub fn describe(err: ConnectorError) -> ConnectorError {
    let ctx = err.context();
    let said = ctx.body_excerpt.as_deref().and_then(parse_error_body);
    let token = ctx.operation.as_deref() == Some("token_refresh");
    let hint = match (ctx.http_status, err.kind()) {
        (_, ErrorKind::Auth) if token => {
            Some("check the tenant, client id and client secret of the app registration")
        }
        (Some(401), _) => {
            Some("the access token was refused; check the tenant and app registration")
        }
        (Some(403), _) => Some(
            "grant the app the application permissions User.Read.All and GroupMember.Read.All, \
             or Directory.Read.All, and give admin consent",
        ),
        (Some(410), _) => Some("the delta token expired; a full read starts a new round"),
        _ => None,
    };
    let said = said.map(|(code, what)| match what.is_empty() {
        true => code,
        false => format!("{code}: {what}"),
    });
    err.with_vendor_explanation("Microsoft Graph", said.as_deref(), hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_http::{HeaderMap, HeaderValue, Method, StatusCode};

    #[test]
    fn classification_table() {
        type Case = (u16, Option<&'static str>, ErrorKind, bool);
        let cases: &[Case] = &[
            (400, None, ErrorKind::Config, false),
            (401, None, ErrorKind::Auth, false),
            (403, None, ErrorKind::PermissionDenied, false),
            (404, None, ErrorKind::NotFound, false),
            (410, None, ErrorKind::NotFound, false),
            (429, Some("30"), ErrorKind::RateLimited, true),
            (503, Some("5"), ErrorKind::Unavailable, true),
            (509, Some("30"), ErrorKind::RateLimited, true),
            (504, None, ErrorKind::Unavailable, true),
        ];
        let classifier = classifier();
        for &(status, retry_after, kind, retried) in cases {
            let mut headers = HeaderMap::new();
            if let Some(r) = retry_after {
                headers.insert("retry-after", HeaderValue::from_static(r));
            }
            let code = StatusCode::from_u16(status).expect("status");
            let verdict =
                classifier.classify(&ResponseParts::new(&Method::GET, code, &headers, None));
            match verdict {
                Verdict::Retry {
                    kind: got, after, ..
                } if retried => {
                    assert_eq!(got, kind, "{status}");
                    if let Some(r) = retry_after {
                        assert_eq!(after.map(|d| d.as_secs().to_string()).as_deref(), Some(r));
                    }
                }
                Verdict::Fail { kind: got } if !retried => assert_eq!(got, kind, "{status}"),
                other => panic!("{status}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn error_bodies_table() {
        let cases = [
            (
                403,
                None,
                r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2021-12-09T17:41:54","request-id":"b1909fc0","client-request-id":"836e08bb"}}}"#,
                ErrorKind::PermissionDenied,
                "the server answered 403 Forbidden: Microsoft Graph says \"Authorization_RequestDenied: Insufficient privileges to complete the operation.\" (grant the app the application permissions User.Read.All and GroupMember.Read.All, or Directory.Read.All, and give admin consent)",
            ),
            (
                401,
                None,
                r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}"#,
                ErrorKind::Auth,
                "the server answered 401 Unauthorized: Microsoft Graph says \"InvalidAuthenticationToken: Access token has expired.\" (the access token was refused; check the tenant and app registration)",
            ),
            (
                401,
                Some("token_refresh"),
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[7000215]}"#,
                ErrorKind::Auth,
                "the token endpoint rejected the grant: Microsoft Graph says \"invalid_client: AADSTS7000215: Invalid client secret provided.\" (check the tenant, client id and client secret of the app registration)",
            ),
            (
                400,
                None,
                r#"{"error":{"code":"Request_BadRequest","message":"Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."}}"#,
                ErrorKind::Config,
                "the server answered 400 Bad Request: Microsoft Graph says \"Request_BadRequest: Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.\"",
            ),
            (
                502,
                None,
                "<html>bad gateway</html>",
                ErrorKind::Unavailable,
                "the server answered 502 Bad Gateway",
            ),
        ];
        for (status, operation, body, kind, message) in cases {
            let lead = match operation {
                Some(_) => "the token endpoint rejected the grant".to_owned(),
                None => {
                    let reason = StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("");
                    format!("the server answered {status} {reason}")
                }
            };
            let mut err = ConnectorError::new(kind, lead)
                .with_http_status(status)
                .with_body_excerpt(body);
            if let Some(op) = operation {
                err = err.with_operation(op);
            }
            assert_eq!(describe(err).message(), message, "{status}");
        }
    }
}
