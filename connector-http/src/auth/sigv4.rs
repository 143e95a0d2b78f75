//! AWS Signature Version 4.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_core::Result;
use connector_core::error::REDACTED;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use super::{Applied, AuthContext, AuthRequest, AuthStrategy};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Signs requests with AWS Signature Version 4 (`AWS4-HMAC-SHA256`).
///
/// Signs `host`, `content-type` (when present) and every `x-amz-*` header, and the
/// SHA-256 of the body. For S3 (`service == "s3"`) the path is encoded once and
/// `x-amz-content-sha256` is sent; for every other service the path is encoded
/// twice, as AWS specifies. Temporary credentials add `x-amz-security-token`.
///
/// ```
/// use connector_http::auth::AwsSigV4;
///
/// let auth = AwsSigV4::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "iam");
/// assert_eq!(
///     format!("{auth:?}"),
///     r#"AwsSigV4 { access_key_id: "AKIDEXAMPLE", secret_access_key: "REDACTED", session_token: None, region: "us-east-1", service: "iam" }"#
/// );
/// ```
#[derive(Clone)]
pub struct AwsSigV4 {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
    region: String,
    service: String,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

/// What [`AwsSigV4::sign`] computed. Every field is safe to print: the signing key
/// is not among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Output {
    /// The canonical request, as AWS defines it.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
    /// The value of the `Authorization` header.
    pub authorization: String,
    /// The `x-amz-date` value (`20150830T123600Z`).
    pub amz_date: String,
    /// The signed header names, `;`-separated.
    pub signed_headers: String,
}

impl AwsSigV4 {
    /// Signs for `region` and `service` (`iam`, `ec2`, `s3`) with long-term keys.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<SecretString>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            region: region.into(),
            service: service.into(),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Adds the session token of temporary credentials (`x-amz-security-token`).
    pub fn with_session_token(mut self, token: impl Into<SecretString>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Uses `clock` for the signing time instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn is_s3(&self) -> bool {
        self.service == "s3"
    }

    /// Signs a request at time `at`. `headers` must already hold `x-amz-date` and any
    /// other `x-amz-*` headers to sign; `host` is taken from `url`.
    pub fn sign(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        at: SystemTime,
    ) -> SigV4Output {
        let time: DateTime<Utc> = at.into();
        let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
        let date = time.format("%Y%m%d").to_string();
        let payload_hash = hex(&Sha256::digest(body));

        let mut signed: Vec<(String, String)> = Vec::new();
        signed.push(("host".into(), host_header(url)));
        for (name, value) in headers {
            let name = name.as_str();
            if name == "content-type" || name.starts_with("x-amz-") {
                let value = value.to_str().unwrap_or_default();
                signed.push((name.to_owned(), collapse_spaces(value)));
            }
        }
        if !signed.iter().any(|(n, _)| n == X_AMZ_DATE) {
            signed.push((X_AMZ_DATE.into(), amz_date.clone()));
        }
        signed.sort();
        // Several values of one header are joined with commas.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, value) in signed {
            match merged.last_mut() {
                Some((last, v)) if *last == name => {
                    v.push(',');
                    v.push_str(&value);
                }
                _ => merged.push((name, value)),
            }
        }
        let canonical_headers: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed_headers = merged
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");

        let canonical_request = format!(
            "{method}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
            method = method.as_str(),
            uri = canonical_uri(url, !self.is_s3()),
            query = canonical_query(url),
        );
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let key = signing_key(&self.secret_access_key, &date, &self.region, &self.service);
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        );
        SigV4Output {
            canonical_request,
            string_to_sign,
            signature,
            authorization,
            amz_date,
            signed_headers,
        }
    }
}

impl fmt::Debug for AwsSigV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSigV4")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| REDACTED),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for AwsSigV4 {
    async fn apply(&self, request: &mut AuthRequest<'_>, _cx: &AuthContext<'_>) -> Result<Applied> {
        let at = (self.clock)();
        let time: DateTime<Utc> = at.into();
        let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
        if let Ok(value) = HeaderValue::from_str(&amz_date) {
            request.set_plain_header(HeaderName::from_static(X_AMZ_DATE), value);
        }
        if let Some(token) = &self.session_token {
            request.set_header(
                HeaderName::from_static(X_AMZ_SECURITY_TOKEN),
                token.expose_secret(),
            )?;
        }
        if self.is_s3() {
            let hash = hex(&Sha256::digest(request.body().unwrap_or_default()));
            if let Ok(value) = HeaderValue::from_str(&hash) {
                request.set_plain_header(HeaderName::from_static(X_AMZ_CONTENT_SHA256), value);
            }
        }
        let out = self.sign(
            request.method(),
            request.url(),
            request.headers(),
            request.body().unwrap_or_default(),
            at,
        );
        request.set_header(http::header::AUTHORIZATION, &out.authorization)?;
        Ok(Applied::STATIC)
    }

    fn sensitive_headers(&self) -> Vec<HeaderName> {
        vec![HeaderName::from_static(X_AMZ_SECURITY_TOKEN)]
    }

    fn secrets(&self) -> Vec<SecretString> {
        let mut out = vec![self.secret_access_key.clone()];
        out.extend(self.session_token.iter().cloned());
        out
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn signing_key(secret: &SecretString, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_secret = format!("AWS4{}", secret.expose_secret());
    let k_date = hmac(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// URI-encodes everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`.
fn aws_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn canonical_uri(url: &Url, double_encode: bool) -> String {
    let path = url.path();
    if path.is_empty() || path == "/" {
        return "/".to_owned();
    }
    path.split('/')
        .map(|segment| {
            let raw = percent_decode(segment);
            let once = aws_encode(&raw);
            if double_encode {
                aws_encode(&once)
            } else {
                once
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(url: &Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (aws_encode(&k), aws_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// The AWS documentation example (`vendor-api-facts.md` §0), byte for byte.
    #[test]
    fn aws_published_vector() {
        let signer = AwsSigV4::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "us-east-1",
            "iam",
        );
        let url =
            Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        // 2015-08-30T12:36:00Z
        let at = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let out = signer.sign(&Method::GET, &url, &headers, b"", at);

        assert_eq!(
            out.canonical_request,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&Sha256::digest(out.canonical_request.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex(&signing_key(
                &signer.secret_access_key,
                "20150830",
                "us-east-1",
                "iam"
            )),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            out.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert_eq!(out.amz_date, "20150830T123600Z");
    }

    #[test]
    fn canonical_forms() {
        let url = Url::parse("https://h/a b/c%2Fd?b=2&a=x y&a=1").unwrap();
        assert_eq!(canonical_uri(&url, false), "/a%20b/c%2Fd");
        assert_eq!(canonical_uri(&url, true), "/a%2520b/c%252Fd");
        assert_eq!(canonical_query(&url), "a=1&a=x%20y&b=2");
        assert_eq!(
            host_header(&Url::parse("http://127.0.0.1:8080/").unwrap()),
            "127.0.0.1:8080"
        );
    }
}
