//! Shared helpers: a fresh server with a loud fallback, a test client builder and
//! an event recorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_http::{HttpClient, HttpClientBuilder, HttpEvent, RetryPolicy};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The status of the fallback: not retried, classified as unexpected, and its body
/// lands in the error excerpt, so a mismatch reads as what it is.
pub(crate) const FALLBACK_STATUS: u16 = 418;

/// A fresh server. Call [`fallback`] after mounting the test's mocks.
pub(crate) async fn server() -> MockServer {
    MockServer::start().await
}

/// Mounts the catch-all mock, at the lowest priority.
pub(crate) async fn fallback(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(FALLBACK_STATUS).set_body_string(
            "NO MOCK MATCHED: the request's method, path, query, headers or body differ from \
             every mock this test mounted",
        ))
        .with_priority(u8::MAX)
        .named("fallback")
        .mount(server)
        .await;
}

/// A builder for `server` that suits the paused clock: no timers (request and
/// connect timeouts, the pool's idle sweep) that tokio would auto-advance into
/// while a loopback request is in flight, no proxy, deterministic backoff.
pub(crate) fn client(server: &MockServer) -> HttpClientBuilder {
    HttpClient::builder(server.uri())
        .with_connector("test")
        .with_system_proxy(false)
        .with_timeout(None)
        .with_connect_timeout(None)
        .with_pool_idle_timeout(None)
        .with_retry(
            RetryPolicy::default()
                .with_jitter(false)
                .with_initial_backoff(Duration::from_millis(100)),
        )
}

/// Collects the client's events.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<HttpEvent>>>);

impl Events {
    pub(crate) fn recorder(&self) -> impl Fn(&HttpEvent) + Send + Sync + 'static {
        let events = Arc::clone(&self.0);
        move |e| events.lock().unwrap().push(e.clone())
    }

    pub(crate) fn all(&self) -> Vec<HttpEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The delays of the retries, in order.
    pub(crate) fn retry_delays(&self) -> Vec<Duration> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                HttpEvent::Retry(r) => Some(r.delay),
                _ => None,
            })
            .collect()
    }
}
