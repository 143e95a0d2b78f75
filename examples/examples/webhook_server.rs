//! A webhook receiver embedding the SDK in an axum service.
//!
//! `POST /webhooks/{connector}` takes the raw body (`axum::body::Bytes`, never a
//! parsed JSON extractor: the signature covers the exact bytes), verifies it,
//! records its delivery id, answers **202** within a second, and hands the
//! delivery to a background task (a bounded tokio mpsc channel) that maps it with
//! the connector's `WebhookHandler` and writes the records and deletions through
//! a pipeline sink. A redelivery answers **200** `duplicate` and is not processed
//! again; a bad signature answers **401**, a missing or malformed header **400**.
//!
//! Run it (GitHub deliveries, SQLite store and idempotency table in
//! `webhooks.sqlite3`):
//!
//! ```text
//! GITHUB_WEBHOOK_SECRET=… cargo run -p connector-examples --example webhook_server
//! ```
//!
//! and point a GitHub webhook (content type `application/json`, events "Issues"
//! and "Pull requests") at `http://<host>:3000/webhooks/github`. The tests at the
//! bottom drive the router in-process (`cargo test -p connector-examples
//! --example webhook_server`).

#![allow(clippy::print_stdout)] // An example prints what it does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use connector_core::chrono::Utc;
use connector_core::sink::Sink;
use connector_core::webhook::{
    IdempotencyStore, Receipt, Rejection, Verified, WebhookHandler, WebhookReceiver, write_to_sink,
};
use tokio::sync::mpsc;

/// How long the request path may spend verifying and de-duplicating before it
/// gives up with 503 (the vendor then retries). Vendors time out after ~10 s;
/// answering well under a second keeps their queues moving.
const RECEIVE_BUDGET: Duration = Duration::from_millis(800);

/// Deliveries waiting for the background task. When full, new deliveries get 503
/// and the vendor retries later: back-pressure instead of unbounded memory.
const QUEUE: usize = 1024;

/// One accepted delivery, owned, on its way to the background task.
struct Job {
    connector: String,
    verified: Verified,
    headers: Vec<(String, Vec<u8>)>,
    body: Bytes,
}

/// The shared state of the service: one receiver per connector id.
struct App {
    receivers: HashMap<String, WebhookReceiver>,
    jobs: mpsc::Sender<Job>,
}

/// Builds the router and spawns the background task writing to `sink` for
/// `organization`. Must run inside a tokio runtime.
fn service(
    handlers: Vec<Arc<dyn WebhookHandler>>,
    store: Arc<dyn IdempotencyStore>,
    sink: Arc<dyn Sink>,
    organization: &str,
) -> Router {
    let receivers: HashMap<String, WebhookReceiver> = handlers
        .into_iter()
        .map(|h| {
            let id = h.connector_id().to_owned();
            (id, WebhookReceiver::new(h, store.clone()))
        })
        .collect();
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(process(
        receivers.clone(),
        rx,
        sink,
        organization.to_owned(),
    ));
    let app = Arc::new(App {
        receivers,
        jobs: tx,
    });
    Router::new()
        .route("/webhooks/{connector}", post(receive))
        .with_state(app)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The request path: verify, de-duplicate, enqueue, answer.
async fn receive(
    State(app): State<Arc<App>>,
    Path(connector): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(receiver) = app.receivers.get(&connector) else {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no webhook handler for `{connector}`")}),
        );
    };
    // `(&HeaderName, &HeaderValue)` pairs implement the SDK's `Headers` lookup.
    let pairs: Vec<_> = headers.iter().collect();
    let received =
        tokio::time::timeout(RECEIVE_BUDGET, receiver.receive(&pairs, &body, Utc::now())).await;
    match received {
        Err(_) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "timed out; retry"}),
        ),
        Ok(Err(err)) => {
            // Rejections carry their status (400 / 401); anything else is the
            // idempotency store failing, which a retry may fix.
            let status = Rejection::of(&err)
                .and_then(|r| StatusCode::from_u16(r.http_status()).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            json(status, serde_json::json!({"error": err.to_string()}))
        }
        Ok(Ok(Receipt::Duplicate(id))) => json(
            StatusCode::OK,
            serde_json::json!({"status": "duplicate", "delivery": id.to_string()}),
        ),
        Ok(Ok(Receipt::Accepted(verified))) => {
            let delivery = verified.delivery_id.as_ref().map(ToString::to_string);
            let job = Job {
                connector,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect(),
                verified,
                body,
            };
            match app.jobs.try_send(job) {
                Ok(()) => json(
                    StatusCode::ACCEPTED,
                    serde_json::json!({"status": "accepted", "delivery": delivery}),
                ),
                Err(full) => {
                    // Not processed: forget the id so the vendor's retry is fresh.
                    let job = match full {
                        mpsc::error::TrySendError::Full(job)
                        | mpsc::error::TrySendError::Closed(job) => job,
                    };
                    receiver.release(&job.verified).await;
                    json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        serde_json::json!({"error": "queue full; retry"}),
                    )
                }
            }
        }
    }
}

/// The background task: map each delivery and write it through the sink, one at
/// a time (a sink serves one run at a time).
async fn process(
    receivers: HashMap<String, WebhookReceiver>,
    mut jobs: mpsc::Receiver<Job>,
    sink: Arc<dyn Sink>,
    organization: String,
) {
    while let Some(job) = jobs.recv().await {
        let Some(receiver) = receivers.get(&job.connector) else {
            continue;
        };
        let items = match receiver
            .process(&job.verified, &job.headers, &job.body)
            .await
        {
            Ok(items) => items,
            Err(err) => {
                // `process` already forgot the id: a redelivery is processed again.
                tracing::warn!(connector = %job.connector, error = %err, "webhook mapping failed");
                continue;
            }
        };
        if let Err(err) = write_to_sink(sink.as_ref(), &organization, &job.connector, items).await {
            receiver.release(&job.verified).await;
            tracing::warn!(connector = %job.connector, error = %err, "webhook write failed");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use connector_core::sqlite::SqliteStore;
    use connector_core::webhook::{SqliteIdempotencyStore, WebhookScheme, WebhookVerifier};
    use connector_github::GithubWebhookHandler;

    let Ok(secret) = std::env::var("GITHUB_WEBHOOK_SECRET") else {
        println!("set GITHUB_WEBHOOK_SECRET to the secret configured on the GitHub webhook");
        return Ok(());
    };
    let verifier = WebhookVerifier::new(WebhookScheme::GitHub, secret)?;
    let github: Arc<dyn WebhookHandler> = Arc::new(GithubWebhookHandler::new(verifier)?);
    // The records and the delivery ids live in one SQLite file.
    let store = SqliteStore::open("webhooks.sqlite3")?;
    let deliveries = SqliteIdempotencyStore::beside(&store)?;
    let app = service(
        vec![github],
        Arc::new(deliveries),
        Arc::new(store),
        "my-org",
    );
    let addr = std::env::var("WEBHOOK_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}/webhooks/github");
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::Request;
    use connector_core::Checkpoint;
    use connector_core::Result;
    use connector_core::sink::{
        Batch, MemorySink, RecordKey, RelationshipReport, RollbackOutcome, RunScope, SinkInfo,
    };
    use connector_core::state::StateKey;
    use connector_core::webhook::{MemoryIdempotencyStore, WebhookScheme, WebhookVerifier};
    use connector_github::GithubWebhookHandler;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    const SECRET: &str = "example-webhook-secret";

    /// A memory sink that counts batches, to prove a replay is not written twice.
    #[derive(Default)]
    struct Counting {
        inner: MemorySink,
        batches: AtomicUsize,
    }

    #[async_trait]
    impl Sink for Counting {
        fn info(&self) -> SinkInfo {
            self.inner.info()
        }
        async fn begin(&self, scope: &RunScope) -> Result<()> {
            self.inner.begin(scope).await
        }
        async fn lookup(&self, keys: &[RecordKey]) -> Result<Vec<Option<connector_core::Record>>> {
            self.inner.lookup(keys).await
        }
        async fn write_batch(&self, batch: Batch) -> Result<()> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.inner.write_batch(batch).await
        }
        async fn resolve_relationships(
            &self,
            scope: &RunScope,
            sample_limit: usize,
        ) -> Result<RelationshipReport> {
            self.inner.resolve_relationships(scope, sample_limit).await
        }
        async fn commit(&self) -> Result<()> {
            self.inner.commit().await
        }
        async fn rollback(&self) -> Result<RollbackOutcome> {
            self.inner.rollback().await
        }
        async fn load_checkpoint(&self, key: &StateKey) -> Result<Option<Checkpoint>> {
            self.inner.load_checkpoint(key).await
        }
    }

    fn app() -> (Router, Arc<Counting>, WebhookVerifier) {
        let verifier = WebhookVerifier::new(WebhookScheme::GitHub, SECRET).unwrap();
        let handler = Arc::new(GithubWebhookHandler::new(verifier.clone()).unwrap());
        let sink = Arc::new(Counting::default());
        let router = service(
            vec![handler],
            Arc::new(MemoryIdempotencyStore::new()),
            sink.clone(),
            "org-1",
        );
        (router, sink, verifier)
    }

    fn body() -> Vec<u8> {
        json!({
            "action": "closed",
            "issue": {
                "id": 4242, "number": 7, "title": "Invoices round twice", "state": "closed",
                "user": {"login": "octocat"}, "labels": [], "assignees": [],
                "created_at": "2024-01-15T10:00:00Z", "updated_at": "2024-01-16T09:00:00Z",
                "closed_at": "2024-01-16T09:00:00Z",
                "html_url": "https://github.com/acme/billing/issues/7"
            },
            "repository": {"id": 9001, "full_name": "acme/billing"}
        })
        .to_string()
        .into_bytes()
    }

    fn request(headers: &[(String, String)], body: Vec<u8>) -> Request<Body> {
        let mut req = Request::post("/webhooks/github")
            .header("X-GitHub-Event", "issues")
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.body(Body::from(body)).unwrap()
    }

    async fn send(router: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// Waits (on the real clock, at most 5 s) for the background task.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_valid_delivery_is_accepted_and_reaches_the_sink() {
        let (router, sink, verifier) = app();
        let body = body();
        let headers = verifier.sign(&body, Utc::now(), "d-1");
        let (status, answer) = send(&router, request(&headers, body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["status"], "accepted");
        let key = RecordKey::new(
            "org-1",
            "github",
            "ISSUE",
            "https://github.com/acme/billing/issues/7",
        );
        until(|| sink.inner.get(&key).is_some()).await;
        let record = sink.inner.get(&key).expect("the record reaches the sink");
        assert_eq!(record.field("state"), Some(&json!("closed")));
    }

    #[tokio::test]
    async fn a_tampered_delivery_is_401_and_a_missing_signature_400() {
        let (router, sink, verifier) = app();
        let body = body();
        let headers = verifier.sign(&body, Utc::now(), "d-2");
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let (status, answer) = send(&router, request(&headers, tampered)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert!(!answer.to_string().contains(SECRET));
        let (status, _) = send(&router, request(&[], body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let wrong = WebhookVerifier::new(WebhookScheme::GitHub, "not-the-secret").unwrap();
        let (status, _) = send(
            &router,
            request(&wrong.sign(&body, Utc::now(), "d-3"), body),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.batches.load(Ordering::SeqCst), 0);
        assert!(sink.inner.is_empty());
    }

    #[tokio::test]
    async fn a_replayed_delivery_is_acknowledged_and_written_once() {
        let (router, sink, verifier) = app();
        let body = body();
        let headers = verifier.sign(&body, Utc::now(), "d-4");
        let (first, _) = send(&router, request(&headers, body.clone())).await;
        assert_eq!(first, StatusCode::ACCEPTED);
        let (second, answer) = send(&router, request(&headers, body)).await;
        assert_eq!(second, StatusCode::OK);
        assert_eq!(answer["status"], "duplicate");
        assert_eq!(answer["delivery"], "github:d-4");
        until(|| sink.batches.load(Ordering::SeqCst) >= 1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.batches.load(Ordering::SeqCst), 1);
        assert_eq!(sink.inner.len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_connector_is_404() {
        let (router, _, verifier) = app();
        let body = body();
        let headers = verifier.sign(&body, Utc::now(), "d-5");
        let mut req = request(&headers, body);
        *req.uri_mut() = "/webhooks/jira".parse().unwrap();
        let (status, _) = send(&router, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
