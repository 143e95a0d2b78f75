//! Vendor-shaped error bodies, so a fake fails the way the real API does.
//!
//! The shapes follow `vendor-api-facts.md`; where the facts file marks a detail as
//! unverified (`[?]`), the body uses the believed shape and says so here.

use serde_json::{Value, json};

/// Which vendor's error envelope a fake answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorStyle {
    /// `{"error":{"code":<status>,"message":..}}`: a neutral shape for generic fakes.
    #[default]
    Generic,
    /// GitHub: `{"message":..,"documentation_url":..,"status":"401"}` (status is a string).
    GitHub,
    /// ServiceNow: `{"error":{"message":..,"detail":..},"status":"failure"}`.
    ServiceNow,
    /// Microsoft Graph: `{"error":{"code":..,"message":..,"innerError":{..}}}`.
    Graph,
    /// Okta: `{"errorCode":"E0000011","errorSummary":..,"errorLink":..,"errorId":..,"errorCauses":[]}`.
    Okta,
    /// Salesforce: a JSON array `[{"message":..,"errorCode":..}]`.
    Salesforce,
    /// JSON:API (Terraform Cloud): `{"errors":[{"status":"401","title":..}]}`.
    JsonApi,
    /// PagerDuty: `{"error":{"message":..,"code":2006,"errors":[..]}}` (numeric codes
    /// are unverified `[?]` in the facts file).
    PagerDuty,
    /// Jira Cloud: `{"errorMessages":[..],"errors":{}}`. The facts file marks the
    /// 401 body as uncertain `[?]` (often plain text); this style sends the same
    /// JSON shape with Jira's wording.
    Jira,
}

impl ErrorStyle {
    /// The body this vendor sends with `status`; `detail` is added where the vendor
    /// has a free-text field for it.
    pub fn body(self, status: u16, detail: &str) -> Value {
        match self {
            ErrorStyle::Generic => {
                json!({ "error": { "code": status, "message": generic(status), "detail": detail } })
            }
            ErrorStyle::GitHub => {
                let message = match status {
                    400 | 422 if !detail.is_empty() => detail,
                    401 => "Bad credentials",
                    403 => "Resource not accessible by integration",
                    404 => "Not Found",
                    422 => "Validation Failed",
                    429 => "API rate limit exceeded for user ID 1.",
                    _ => generic(status),
                };
                json!({
                    "message": message,
                    "documentation_url": "https://docs.github.com/rest",
                    "status": status.to_string(),
                })
            }
            ErrorStyle::ServiceNow => {
                let (message, default_detail) = match status {
                    401 => (
                        "User Not Authenticated",
                        "Required to provide Auth information",
                    ),
                    403 => ("User Not Authorized", "Failed API level ACL Validation"),
                    404 => (
                        "No Record found",
                        "Record doesn't exist or ACL restricts the record retrieval",
                    ),
                    429 => ("Rate limit exceeded", "Too many requests for this rule"),
                    _ => (generic(status), ""),
                };
                let detail = if detail.is_empty() {
                    default_detail
                } else {
                    detail
                };
                json!({ "error": { "message": message, "detail": detail }, "status": "failure" })
            }
            ErrorStyle::Graph => {
                let (code, message) = match status {
                    400 => ("BadRequest", detail),
                    401 => ("InvalidAuthenticationToken", "Access token is empty."),
                    403 => (
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.",
                    ),
                    404 => ("Request_ResourceNotFound", "Resource does not exist."),
                    429 => ("TooManyRequests", "The request has been throttled"),
                    503 => (
                        "serviceNotAvailable",
                        "The service is temporarily unavailable.",
                    ),
                    _ => ("generalException", generic(status)),
                };
                json!({
                    "error": {
                        "code": code,
                        "message": message,
                        "innerError": {
                            "date": "2024-01-15T10:22:33",
                            "request-id": "b1909fc0-0000-4000-8000-000000000001",
                            "client-request-id": "836e08bb-0000-4000-8000-000000000002"
                        }
                    }
                })
            }
            ErrorStyle::Okta => {
                let (code, summary) = match status {
                    400 => ("E0000001", "Api validation failed"),
                    401 => ("E0000011", "Invalid token provided"),
                    403 => (
                        "E0000006",
                        "You do not have permission to perform the requested action",
                    ),
                    404 => ("E0000007", "Not found: Resource not found"),
                    429 => (
                        "E0000047",
                        "API call exceeded rate limit due to too many requests.",
                    ),
                    _ => ("E0000009", "Internal Server Error"),
                };
                let causes: Vec<Value> = if detail.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({ "errorSummary": detail })]
                };
                json!({
                    "errorCode": code,
                    "errorSummary": summary,
                    "errorLink": code,
                    "errorId": "oaeTestkit0000000000",
                    "errorCauses": causes,
                })
            }
            ErrorStyle::Salesforce => {
                let (code, message) = match status {
                    400 => ("MALFORMED_QUERY", detail),
                    401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
                    403 => (
                        "INSUFFICIENT_ACCESS",
                        "insufficient access rights on object id",
                    ),
                    404 => ("NOT_FOUND", "The requested resource does not exist"),
                    _ => ("UNKNOWN_EXCEPTION", generic(status)),
                };
                json!([{ "message": message, "errorCode": code }])
            }
            ErrorStyle::JsonApi => {
                let title = match status {
                    401 => "unauthorized",
                    404 => "not found",
                    422 => "invalid attribute",
                    429 => "Too many requests",
                    _ => generic(status),
                };
                let mut error = json!({ "status": status.to_string(), "title": title });
                if !detail.is_empty() {
                    error["detail"] = json!(detail);
                }
                json!({ "errors": [error] })
            }
            ErrorStyle::Jira => {
                let message = match status {
                    400 if !detail.is_empty() => detail,
                    401 => "Client must be authenticated to access this resource.",
                    403 => "You do not have permission to perform this operation.",
                    404 => "Issue does not exist or you do not have permission to see it.",
                    429 => "Rate limit exceeded.",
                    _ => generic(status),
                };
                json!({ "errorMessages": [message], "errors": {} })
            }
            ErrorStyle::PagerDuty => {
                let (code, message) = match status {
                    400 => (2001, "Invalid Input Provided"),
                    401 => (2006, "Authentication failed"),
                    403 => (2010, "Access Denied"),
                    404 => (2100, "Not Found"),
                    429 => (2020, "Rate Limit Exceeded"),
                    _ => (2000, "Internal Error"),
                };
                let errors: Vec<&str> = if detail.is_empty() {
                    Vec::new()
                } else {
                    vec![detail]
                };
                json!({ "error": { "message": message, "code": code, "errors": errors } })
            }
        }
    }
}

fn generic(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_shapes_follow_the_facts_file() {
        let gh = ErrorStyle::GitHub.body(401, "");
        assert_eq!(gh["message"], "Bad credentials");
        assert_eq!(gh["status"], "401");
        let sn = ErrorStyle::ServiceNow.body(401, "");
        assert_eq!(sn["error"]["message"], "User Not Authenticated");
        assert_eq!(sn["status"], "failure");
        assert_eq!(
            ErrorStyle::Graph.body(401, "")["error"]["code"],
            "InvalidAuthenticationToken"
        );
        assert_eq!(ErrorStyle::Okta.body(429, "")["errorCode"], "E0000047");
        assert_eq!(
            ErrorStyle::Salesforce.body(401, "")[0]["errorCode"],
            "INVALID_SESSION_ID"
        );
        assert_eq!(
            ErrorStyle::JsonApi.body(401, "")["errors"][0]["status"],
            "401"
        );
        assert_eq!(
            ErrorStyle::PagerDuty.body(400, "Limit must be less than or equal to 100.")["error"]["errors"]
                [0],
            "Limit must be less than or equal to 100."
        );
        assert_eq!(ErrorStyle::Generic.body(503, "")["error"]["code"], 503);
        assert_eq!(
            ErrorStyle::Jira.body(400, "Error in the JQL Query: x")["errorMessages"][0],
            "Error in the JQL Query: x"
        );
    }
}
