//! [`Response`]: a classified, successful response.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use connector_core::{ConnectorError, ErrorKind, Result};
use futures::Stream;
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::OwnedSemaphorePermit;
use url::Url;

use crate::client::{HttpClient, error_chain};
use crate::secret::RedactedHeaders;

pub(crate) enum Body {
    Live(reqwest::Response),
    Buffered(Bytes),
}

/// A response the classifier accepted. Read the body once with
/// [`json`](Self::json), [`text`](Self::text), [`bytes`](Self::bytes) or
/// [`bytes_stream`](Self::bytes_stream).
///
/// While it is alive it counts against the client's in-flight cap. Its `Debug`
/// output redacts the URL and sensitive headers.
pub struct Response {
    client: HttpClient,
    method: Method,
    url: Url,
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    operation: Option<Cow<'static, str>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Response {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: HttpClient,
        method: Method,
        url: Url,
        status: StatusCode,
        headers: HeaderMap,
        body: Body,
        permit: Option<OwnedSemaphorePermit>,
        operation: Option<Cow<'static, str>>,
    ) -> Self {
        Self {
            client,
            method,
            url,
            status,
            headers,
            body,
            operation,
            _permit: permit,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The URL requested, before auth added anything to it. Relative links in the
    /// response resolve against it. It may still carry credentials put there by
    /// the caller; print [`redacted_url`](Self::redacted_url) instead.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL with credentials removed, safe to print.
    pub fn redacted_url(&self) -> String {
        self.client.redact_url(self.url.as_str())
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    fn context(&self, err: ConnectorError) -> ConnectorError {
        let err = err
            .with_request(self.method.as_str(), &self.redacted_url())
            .with_http_status(self.status.as_u16());
        self.client.decorate(err, self.operation.as_ref())
    }

    fn body_error(&self, err: &reqwest::Error) -> ConnectorError {
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Network
        };
        let detail = self.client.scrubber().scrub(&error_chain(err));
        self.context(ConnectorError::new(
            kind,
            format!("reading the response body failed: {detail}"),
        ))
    }

    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] or [`ErrorKind::Network`] when the body cannot be read.
    pub async fn bytes(mut self) -> Result<Bytes> {
        match std::mem::replace(&mut self.body, Body::Buffered(Bytes::new())) {
            Body::Buffered(bytes) => Ok(bytes),
            Body::Live(response) => match response.bytes().await {
                Ok(bytes) => Ok(bytes),
                Err(e) => Err(self.body_error(&e.without_url())),
            },
        }
    }

    /// Reads the body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ErrorKind::Decode`] for invalid UTF-8.
    pub async fn text(self) -> Result<String> {
        let client = self.client.clone();
        let ctx = (
            self.method.clone(),
            self.redacted_url(),
            self.status,
            self.operation.clone(),
        );
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            let err = ConnectorError::decode(format!("the response body is not UTF-8: {e}"))
                .with_request(ctx.0.as_str(), &ctx.1)
                .with_http_status(ctx.2.as_u16());
            client.decorate(err, ctx.3.as_ref())
        })
    }

    /// Reads the body and decodes it as JSON into `T`.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`ErrorKind::Decode`] (with the serde path and
    /// a scrubbed excerpt of the body) when it does not match `T`.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T> {
        let client = self.client.clone();
        let (method, url, status, operation) = (
            self.method.clone(),
            self.redacted_url(),
            self.status,
            self.operation.clone(),
        );
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            decode_error(&client, &e.to_string(), std::any::type_name::<T>(), &bytes)
                .with_request(method.as_str(), &url)
                .with_http_status(status.as_u16())
                .with_operation(operation.unwrap_or(Cow::Borrowed("decode")))
        })
    }

    /// The body as a stream of chunks, for large downloads.
    pub fn bytes_stream(self) -> impl Stream<Item = Result<Bytes>> + Send {
        use futures::StreamExt as _;
        let client = self.client.clone();
        let url = self.redacted_url();
        let method = self.method.clone();
        let permit = self._permit;
        let stream = match self.body {
            Body::Live(response) => response.bytes_stream().left_stream(),
            Body::Buffered(bytes) => futures::stream::once(async move { Ok(bytes) }).right_stream(),
        };
        stream.map(move |chunk| {
            let _hold = &permit;
            chunk.map_err(|e| {
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Network
                };
                let detail = client.scrubber().scrub(&error_chain(&e.without_url()));
                client.decorate(
                    ConnectorError::new(
                        kind,
                        format!("reading the response body failed: {detail}"),
                    )
                    .with_request(method.as_str(), &url),
                    None,
                )
            })
        })
    }
}

/// A decode error with a scrubbed excerpt of the body.
pub(crate) fn decode_error(
    client: &HttpClient,
    detail: &str,
    target: &str,
    body: &[u8],
) -> ConnectorError {
    let excerpt = client
        .scrubber()
        .scrub(&String::from_utf8_lossy(&body[..body.len().min(4096)]));
    client.decorate(
        ConnectorError::decode(format!(
            "the response body does not match {}: {detail}",
            short_type_name(target)
        ))
        .with_body_excerpt(&excerpt),
        None,
    )
}

fn short_type_name(name: &str) -> String {
    // `alloc::vec::Vec<my_crate::Issue>` reads better as `Vec<Issue>`.
    let is_delimiter =
        |c: char| matches!(c, '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&');
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    for c in name.chars() {
        if is_delimiter(c) {
            out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
            segment.clear();
            out.push(c);
        } else {
            segment.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
    out
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status.as_u16())
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field(
                "headers",
                &RedactedHeaders {
                    headers: &self.headers,
                    extra_sensitive: self.client.sensitive_headers(),
                    scrubber: self.client.scrubber(),
                },
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        assert_eq!(
            short_type_name("alloc::vec::Vec<my_crate::model::Issue>"),
            "Vec<Issue>"
        );
        assert_eq!(short_type_name("serde_json::value::Value"), "Value");
        assert_eq!(
            short_type_name("it::errors::f::{{closure}}::Issue"),
            "Issue"
        );
        assert_eq!(short_type_name("(u8, std::string::String)"), "(u8, String)");
    }
}
