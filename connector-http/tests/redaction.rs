//! A canary secret never appears in an error, a `Debug` output or the tracing
//! output, whichever way the client holds it.
//!
//! A test binary of its own: every test here installs a scoped subscriber, and
//! none runs next to tests without one. tracing caches whether a callsite is
//! enabled process-wide, so a span first reached by a thread with no subscriber
//! could be missed by a capturing test running at the same moment.

use std::io::Write;
use std::sync::{Arc, Mutex};

use connector_http::auth::{ApiKey, Bearer, OAuth2ClientCredentials};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[path = "it/common.rs"]
#[allow(dead_code)]
mod common;

use common::{client, fallback, server};

const CANARY: &str = "canary-7f3e9a1c-do-not-print";

/// Everything the fmt subscriber writes, in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A subscriber writing every span and event into `capture`.
fn capturing(capture: &Capture) -> impl tracing::Subscriber + Send + Sync + 'static {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_writer(capture.clone())
        .finish()
}

fn capture_tracing() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capturing(&capture));
    (capture, guard)
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "the canary leaked into {what}:\n{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn api_key_in_a_plain_query_parameter_is_scrubbed_everywhere() {
    let (capture, _guard) = capture_tracing();
    let server = server().await;
    // The vendor echoes the request URL and the key in its error body.
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!(
            "upstream failed for /items?k={CANARY}&page=1 (key {CANARY})"
        )))
        .expect(2)
        .mount(&server)
        .await;
    fallback(&server).await;
    // `k` is not a name the URL redaction knows: only the scrubber can catch it.
    let client = client(&server)
        .with_auth(ApiKey::query("k", CANARY))
        .with_retry(
            connector_http::RetryPolicy::default()
                .with_jitter(false)
                .with_max_attempts(2),
        )
        .build()
        .unwrap();
    let err = client
        .get("/items")
        .query(&[("page", "1")])
        .send()
        .await
        .unwrap_err();

    assert_clean("Display", &err.to_string());
    assert_clean("Debug", &format!("{err:?}"));
    assert_clean("client Debug", &format!("{client:?}"));
    let excerpt = err.context().body_excerpt.clone().unwrap_or_default();
    assert_eq!(
        excerpt,
        "upstream failed for /items?k=REDACTED&page=1 (key REDACTED)"
    );
    let logs = capture.text();
    assert_clean("tracing output", &logs);
    // The span and retry event really were recorded.
    assert!(logs.contains("http_request"), "{logs}");
    assert!(logs.contains("attempt=2"), "{logs}");
    assert!(logs.contains("status=500"), "{logs}");
    assert!(logs.contains("retrying request"), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn bearer_token_echoed_in_headers_and_body_is_never_shown() {
    let (capture, _guard) = capture_tracing();
    let server = server().await;
    Mock::given(path("/ok"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", format!("session={CANARY}").as_str())
                .insert_header("x-echo-authorization", format!("Bearer {CANARY}").as_str())
                .set_body_string("{}"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/denied"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header(
                    "www-authenticate",
                    format!("Bearer error=\"invalid_token\" token={CANARY}").as_str(),
                )
                .set_body_json(
                    serde_json::json!({"message": format!("token {CANARY} is revoked")}),
                ),
        )
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_auth(Bearer::new(CANARY))
        .build()
        .unwrap();

    let response = client.get("/ok").send().await.unwrap();
    let debug = format!("{response:?}");
    assert_clean("Response Debug", &debug);
    assert!(debug.contains(r#""set-cookie": "REDACTED""#), "{debug}");

    let err = client.get("/denied").send().await.unwrap_err();
    assert_clean("Display", &err.to_string());
    assert_clean("Debug", &format!("{err:?}"));
    assert!(
        err.to_string().contains("token REDACTED is revoked"),
        "{err}"
    );
    assert_clean("tracing output", &capture.text());
}

#[tokio::test(start_paused = true)]
async fn fetched_access_tokens_and_client_secrets_are_scrubbed() {
    let (capture, _guard) = capture_tracing();
    let server = server().await;
    let access = format!("{CANARY}-access");
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 3600
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .respond_with(ResponseTemplate::new(403).set_body_string(format!(
            "token {access} lacks scope; client secret {CANARY}-secret"
        )))
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth = OAuth2ClientCredentials::new(
        format!("{}/token", server.uri()),
        "cid",
        format!("{CANARY}-secret"),
    );
    let client = client(&server).with_auth(auth).build().unwrap();
    let err = client.get("/api").send().await.unwrap_err();
    assert_clean("Display", &err.to_string());
    assert_clean("Debug", &format!("{err:?}"));
    assert_clean("client Debug", &format!("{client:?}"));
    assert_clean("tracing output", &capture.text());
}

/// Pages read ahead on another worker thread still log under the consumer's
/// subscriber, so a canary check over the tracing output covers them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_ahead_log_under_the_callers_subscriber() {
    use futures::TryStreamExt as _;
    use tracing::instrument::WithSubscriber as _;

    let server = server().await;
    for n in 1..=3u32 {
        let next = (n < 3).then(|| format!("{}/items?page={}", server.uri(), n + 1));
        Mock::given(path("/items"))
            .and(wiremock::matchers::query_param("page", n.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"items": [{"id": n}], "next": next})),
            )
            .mount(&server)
            .await;
    }
    fallback(&server).await;
    let client = client(&server)
        .with_auth(ApiKey::query("k", CANARY))
        .build()
        .unwrap();
    let capture = Capture::default();
    let subscriber = capturing(&capture);
    let items: Vec<serde_json::Value> = client
        .get("/items?page=1")
        .paginate(connector_http::paginate::NextUrlPagination::new(
            connector_http::paginate::Locator::body("next"),
        ))
        .read_ahead(2)
        .at("items")
        .items::<serde_json::Value>()
        .try_collect()
        .with_subscriber(subscriber)
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    let logs = capture.text();
    assert_clean("tracing output", &logs);
    for page in 1..=3 {
        assert!(
            logs.contains(&format!("page={page}")),
            "no log line of page {page}:\n{logs}"
        );
    }
}
