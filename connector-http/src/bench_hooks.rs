//! Hooks for the SDK's own benchmarks (`connector-benches`, feature
//! `bench-internals`); **not a stable API**, and nothing but the benchmarks should
//! turn the feature on.
//!
//! Each method of [`LayerProbe`](crate::__bench::LayerProbe) runs one request's
//! worth of one layer of the send path, without the network, by calling the very
//! functions
//! [`RequestBuilder::send`] calls for every attempt: the rate limiter's admission,
//! the server-reported pause learning from a response, the retry wrapper's
//! bookkeeping around a successful attempt (classification included), and the
//! auth strategy applied to the attempt's copy of the request. The benchmarks time
//! these in a loop to report nanoseconds per request per layer, which whole
//! requests against a server cannot resolve (a loopback round trip is tens of
//! microseconds, and its noise is microseconds).

use std::fmt;

use connector_core::Result;
use http::{HeaderMap, StatusCode};

use crate::classify::Verdict;
use crate::client::{ExecOptions, HttpClient, RequestBuilder};

/// One request, prepared as [`RequestBuilder::send`] prepares it, whose per-attempt
/// layer work can be run on its own. For benchmarks only.
pub struct LayerProbe {
    client: HttpClient,
    request: reqwest::Request,
    opts: ExecOptions,
    method: http::Method,
    url: String,
}

impl LayerProbe {
    /// Prepares `request` without sending it.
    ///
    /// # Errors
    ///
    /// Whatever `send` would fail with before sending (an invalid URL or header).
    pub fn new(request: RequestBuilder) -> Result<Self> {
        let (client, request, opts) = request.into_parts()?;
        let method = request.method().clone();
        let url = client.redact_url(request.url().as_str());
        Ok(Self {
            client,
            request,
            opts,
            method,
            url,
        })
    }

    /// The rate limiter's admission of one attempt, as `send` runs it: an in-flight
    /// permit (when the client caps requests in flight), the server-reported pause
    /// check, then one cell of the client quota (when one is set). The permit is
    /// released at once. Completes without waiting while no limit is reached.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RateLimited`](connector_core::ErrorKind::RateLimited) when a
    /// server-reported pause exceeds the retry policy's maximum wait.
    pub async fn admit(&self) -> Result<()> {
        let permit = self
            .client
            .wait_for_limits(&self.method, &self.url, &self.opts)
            .await?;
        drop(permit);
        Ok(())
    }

    /// What every attempt learns from its response's `status` and `headers`: a
    /// server-reported pause (zero remaining with a reset, or `Retry-After` on a
    /// 429/503) closes the gate for every request of the client.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        self.client.observe_limits(status, headers, &self.opts);
    }

    /// The retry wrapper's work for a call whose first attempt gets `status` and
    /// `headers`: starting the call (clock and backoff schedule), classifying the
    /// response, and, when it is a success, the deposit into the retry budget.
    /// Returns whether the response classified as a success.
    pub fn retry_success(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        let call = self.client.start_call();
        let success = matches!(
            self.client.classify(&self.method, status, headers, None),
            Verdict::Success
        );
        if success {
            self.client.on_success();
        }
        // The send path keeps both for the rest of the call; keep the optimiser
        // from dropping their construction here.
        std::hint::black_box(call);
        success
    }

    /// Copies the request for one attempt, as every attempt does before applying
    /// auth; the baseline [`authorize`](Self::authorize) is compared with.
    ///
    /// # Errors
    ///
    /// When the body cannot be repeated (never for bodies built by this crate).
    pub fn attempt_request(&self) -> Result<()> {
        let request = self.client.attempt_request(&self.request, &self.opts)?;
        drop(request);
        Ok(())
    }

    /// Copies the request for one attempt and applies the client's auth strategy
    /// to the copy, as every attempt does. With a caching strategy and a fresh
    /// cached token, this takes no network.
    ///
    /// # Errors
    ///
    /// Whatever the strategy fails with (fetching a token, an invalid header value).
    pub async fn authorize(&self) -> Result<()> {
        let mut request = self.client.attempt_request(&self.request, &self.opts)?;
        self.client.authorize(&mut request, &self.opts).await?;
        drop(request);
        Ok(())
    }
}

impl fmt::Debug for LayerProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerProbe")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimit;
    use crate::auth::Bearer;

    #[tokio::test]
    async fn runs_each_layer_without_the_network() {
        let client = HttpClient::builder("http://127.0.0.1:9/api?token=hunter2")
            .with_rate_limit(RateLimit::per_second(1000))
            .with_max_in_flight(4)
            .with_auth(Bearer::new("s3cret-token"))
            .build()
            .unwrap();
        let probe = LayerProbe::new(client.get("/ping")).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "10".parse().unwrap());
        for _ in 0..3 {
            probe.admit().await.unwrap();
            probe.observe(StatusCode::OK, &headers);
            assert!(probe.retry_success(StatusCode::OK, &headers));
            probe.attempt_request().unwrap();
            probe.authorize().await.unwrap();
        }
        assert!(!probe.retry_success(StatusCode::NOT_FOUND, &headers));
        let debug = format!("{probe:?}");
        assert!(!debug.contains("s3cret-token"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
