//! Retries: `Retry-After`, the cap, 5xx, 4xx, POST, budget, elapsed bound.

use std::time::{Duration, SystemTime};

use connector_core::{ErrorKind, ErrorStatus};
use connector_http::classify::{Classifier, RateLimitExhausted};
use connector_http::retry::RetryEvent;
use connector_http::{HttpEvent, RetryBudget, RetryPolicy, RetryReason, StatusCode};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Events, client, fallback, server};

async fn fail_then_ok(
    server: &wiremock::MockServer,
    verb: &str,
    failure: ResponseTemplate,
    failures: u64,
) {
    Mock::given(method(verb))
        .and(path("/things"))
        .respond_with(failure)
        .up_to_n_times(failures)
        .expect(failures)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method(verb))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
        .expect(1)
        .with_priority(2)
        .mount(server)
        .await;
    fallback(server).await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_honoured() {
    let server = server().await;
    fail_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(429).insert_header("retry-after", "7"),
        1,
    )
    .await;
    let events = Events::default();
    let client = client(&server).on_event(events.recorder()).build().unwrap();

    let started = Instant::now();
    let body: serde_json::Value = client
        .get("/things")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ok"], true);
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(events.retry_delays(), vec![Duration::from_secs(7)]);
    let HttpEvent::Retry(RetryEvent {
        reason,
        kind,
        status,
        server_requested,
        ..
    }) = &events.all()[0]
    else {
        panic!("expected a retry event");
    };
    assert_eq!(
        (*reason, *kind, *status, *server_requested),
        (
            RetryReason::Throttling,
            ErrorKind::RateLimited,
            Some(429),
            true
        )
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_honoured() {
    let server = server().await;
    let at = chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + Duration::from_secs(31));
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    fail_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(503).insert_header("retry-after", date.as_str()),
        1,
    )
    .await;
    let events = Events::default();
    let client = client(&server).on_event(events.recorder()).build().unwrap();

    let started = Instant::now();
    client.get("/things").send().await.unwrap();
    let delays = events.retry_delays();
    assert_eq!(delays.len(), 1);
    // An HTTP date has one-second resolution.
    assert!(
        delays[0] >= Duration::from_secs(29) && delays[0] <= Duration::from_secs(31),
        "{delays:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(29));
}

#[tokio::test(start_paused = true)]
async fn a_wait_beyond_the_cap_fails_fast_with_the_wait() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let events = Events::default();
    let client = client(&server)
        .with_retry(RetryPolicy::default().with_max_wait(Duration::from_secs(60)))
        .on_event(events.recorder())
        .build()
        .unwrap();

    let err = client.get("/things").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(err.is_retryable(), "the caller may retry later: {err:?}");
    assert!(err.to_string().contains("retry after 1h 0m"), "{err}");
    assert!(
        events.all().is_empty(),
        "no retry, no wait: {:?}",
        events.all()
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let server = server().await;
    fail_then_ok(&server, "GET", ResponseTemplate::new(502), 2).await;
    let events = Events::default();
    let client = client(&server).on_event(events.recorder()).build().unwrap();

    client.get("/things").send().await.unwrap();
    // No jitter in tests: 100 ms, then 200 ms.
    let delays: Vec<u128> = events
        .retry_delays()
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(delays, vec![100, 200]);
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_as_exhausted() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(3)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_retry(
            RetryPolicy::default()
                .with_jitter(false)
                .with_max_attempts(3),
        )
        .build()
        .unwrap();
    let err = client.get("/things").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.status(), ErrorStatus::Exhausted);
    assert_eq!(err.context().http_status, Some(500));
    assert_eq!(err.context().body_excerpt.as_deref(), Some("boom"));
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/things"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let err = client.get("/things").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.status(), ErrorStatus::Permanent);
}

#[tokio::test(start_paused = true)]
async fn post_is_not_retried_unless_marked() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/unsafe"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    fail_then_ok(&server, "POST", ResponseTemplate::new(503), 1).await;
    let client = client(&server).build().unwrap();

    let err = client
        .post("/unsafe")
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.is_retryable(),
        "not retried here, but retrying may help: {err:?}"
    );

    client
        .post("/things")
        .json(&serde_json::json!({"q": "search"}))
        .idempotent(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_stops_a_failing_upstream_being_hammered() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    fallback(&server).await;
    // Room for one retry in total, shared by every request and clone.
    let client = client(&server)
        .with_retry(
            RetryPolicy::default()
                .with_jitter(false)
                .with_budget(RetryBudget::default().with_capacity(5).with_retry_cost(5)),
        )
        .build()
        .unwrap();
    let err = client.get("/a").send().await.unwrap_err();
    assert_eq!(err.status(), ErrorStatus::Exhausted);
    assert!(err.to_string().contains("retry budget: exhausted"), "{err}");
    let err = client.clone().get("/b").send().await.unwrap_err();
    assert!(err.to_string().contains("retry budget: exhausted"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_bounds_the_whole_call() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "20"))
        .expect(2)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(10)
                .with_max_elapsed(Some(Duration::from_secs(30))),
        )
        .build()
        .unwrap();
    let err = client.get("/slow").send().await.unwrap_err();
    assert_eq!(err.status(), ErrorStatus::Exhausted);
    assert!(err.to_string().contains("gave up after"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn vendor_rule_turns_github_403_into_throttling_until_reset() {
    let server = server().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 20;
    fail_then_ok(
        &server,
        "GET",
        ResponseTemplate::new(403)
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .set_body_json(
                serde_json::json!({"message": "API rate limit exceeded for user ID 1."}),
            ),
        1,
    )
    .await;
    let events = Events::default();
    let client = client(&server)
        .with_classifier(
            Classifier::standard().with_rule(RateLimitExhausted::on_status(StatusCode::FORBIDDEN)),
        )
        .on_event(events.recorder())
        .build()
        .unwrap();
    let started = Instant::now();
    client.get("/things").send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(18),
        "{:?}",
        started.elapsed()
    );
    let delays = events.retry_delays();
    assert!(
        delays[0] >= Duration::from_secs(18) && delays[0] <= Duration::from_secs(20),
        "{delays:?}"
    );

    // Without the vendor rule the same 403 is a permission error.
    let other = crate::common::server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).insert_header("x-ratelimit-remaining", "0"))
        .expect(1)
        .mount(&other)
        .await;
    fallback(&other).await;
    let err = crate::common::client(&other)
        .build()
        .unwrap()
        .get("/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}
