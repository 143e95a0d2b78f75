//! Client quota spacing, the server-reported reset gate, the in-flight cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use connector_core::ErrorKind;
use connector_http::retry::WaitCause;
use connector_http::{HttpEvent, RateLimit, RetryPolicy};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Respond, ResponseTemplate};

use crate::common::{Events, client, fallback, server};

#[tokio::test(start_paused = true)]
async fn the_quota_spaces_requests_across_clones() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(5)
        .mount(&server)
        .await;
    fallback(&server).await;
    let events = Events::default();
    let client = client(&server)
        .with_rate_limit(RateLimit::per_second(2).with_burst(1))
        .on_event(events.recorder())
        .build()
        .unwrap();

    let started = Instant::now();
    let mut sent_at = Vec::new();
    for i in 0..5 {
        // Alternate clones: the quota is shared.
        let c = if i % 2 == 0 {
            client.clone()
        } else {
            client.clone().clone()
        };
        c.get("/x").send().await.unwrap();
        sent_at.push(started.elapsed());
    }
    // One cell every 500 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
    let quota_waits: Vec<_> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            HttpEvent::RateLimitWait(w) if w.cause == WaitCause::ClientQuota => Some(w.delay),
            _ => None,
        })
        .collect();
    assert_eq!(quota_waits.len(), 4, "{quota_waits:?} {sent_at:?}");
    for pair in sent_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(500),
            "{sent_at:?}"
        );
    }
}

/// Answers the first request with `remaining: 0` and a reset, the rest normally.
struct ExhaustOnce {
    calls: Arc<AtomicUsize>,
    reset_epoch: u64,
}

impl Respond for ExhaustOnce {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", self.reset_epoch.to_string().as_str())
        } else {
            ResponseTemplate::new(200).insert_header("x-ratelimit-remaining", "4999")
        }
    }
}

#[tokio::test(start_paused = true)]
async fn remaining_zero_makes_every_request_wait_for_the_reset() {
    let server = server().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .respond_with(ExhaustOnce {
            calls: Arc::clone(&calls),
            reset_epoch: reset,
        })
        .expect(4)
        .mount(&server)
        .await;
    fallback(&server).await;
    let events = Events::default();
    let client = client(&server).on_event(events.recorder()).build().unwrap();

    client.get("/first").send().await.unwrap();
    let started = Instant::now();
    // Three other requests, on clones, concurrently: all wait for the reset.
    let (a, b, c) = tokio::join!(
        client.clone().get("/a").send(),
        client.clone().get("/b").send(),
        client.clone().get("/c").send(),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(28),
        "{:?}",
        started.elapsed()
    );
    let gate_waits: Vec<_> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            HttpEvent::RateLimitWait(w) if w.cause == WaitCause::ServerReset => Some(w.delay),
            _ => None,
        })
        .collect();
    assert_eq!(gate_waits.len(), 3, "{gate_waits:?}");
    assert!(
        gate_waits
            .iter()
            .all(|d| *d >= Duration::from_secs(28) && *d <= Duration::from_secs(30))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_reset_beyond_the_cap_fails_fast() {
    let server = server().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    Mock::given(method("GET"))
        .and(path("/first"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ratelimit-remaining", "0")
                .insert_header("ratelimit-reset", reset.to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_retry(RetryPolicy::default().with_max_wait(Duration::from_secs(60)))
        .build()
        .unwrap();
    client.get("/first").send().await.unwrap();
    let err = client.get("/second").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    let wait = err.retry_after().unwrap();
    assert!(wait > Duration::from_secs(3500), "{wait:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_in_flight_caps_concurrency() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(3)))
        .expect(8)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server).with_max_in_flight(2).build().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = client.clone();
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        tasks.push(tokio::spawn(async move {
            let response = client.get(&format!("/x{i}")).send().await.unwrap();
            // The response holds its permit until its body is read.
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            response.bytes().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}
