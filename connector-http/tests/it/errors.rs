//! Classification of real responses and transport failures into error kinds, with
//! context.

use std::time::Duration;

use connector_core::{ErrorKind, ErrorStatus};
use connector_http::{HttpClient, RetryPolicy};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::common::{FALLBACK_STATUS, client, fallback, server};

#[tokio::test(start_paused = true)]
async fn statuses_map_to_kinds() {
    use ErrorKind::*;
    let table: &[(u16, ErrorKind, ErrorStatus)] = &[
        (400, Config, ErrorStatus::Permanent),
        (401, Auth, ErrorStatus::Permanent),
        (403, PermissionDenied, ErrorStatus::Permanent),
        (404, NotFound, ErrorStatus::Permanent),
        (409, Conflict, ErrorStatus::Permanent),
        (422, Validation, ErrorStatus::Permanent),
        (429, RateLimited, ErrorStatus::Exhausted),
        (500, Unavailable, ErrorStatus::Exhausted),
        (502, Unavailable, ErrorStatus::Exhausted),
        (503, Unavailable, ErrorStatus::Exhausted),
        (504, Unavailable, ErrorStatus::Exhausted),
    ];
    let server = server().await;
    for (status, _, _) in table {
        Mock::given(path(format!("/s/{status}")))
            .respond_with(
                ResponseTemplate::new(*status).set_body_string(format!("body of {status}")),
            )
            .mount(&server)
            .await;
    }
    fallback(&server).await;
    let client = client(&server)
        .with_retry(RetryPolicy::default().with_max_attempts(2))
        .build()
        .unwrap();
    for (status, kind, error_status) in table {
        let err = client
            .get(&format!("/s/{status}"))
            .operation("fetch")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), *kind, "status {status}: {err}");
        assert_eq!(err.status(), *error_status, "status {status}: {err}");
        let ctx = err.context();
        assert_eq!(ctx.http_status, Some(*status));
        assert_eq!(ctx.method.as_deref(), Some("GET"));
        assert_eq!(
            ctx.url.as_deref(),
            Some(format!("{}/s/{status}", server.uri()).as_str())
        );
        assert_eq!(
            ctx.body_excerpt.as_deref(),
            Some(format!("body of {status}").as_str())
        );
        assert_eq!(ctx.connector.as_deref(), Some("test"));
        assert_eq!(ctx.operation.as_deref(), Some("fetch"));
    }
}

#[tokio::test(start_paused = true)]
async fn the_fallback_is_loud() {
    let server = server().await;
    fallback(&server).await;
    let err = client(&server)
        .build()
        .unwrap()
        .get("/nothing-here")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.context().http_status, Some(FALLBACK_STATUS));
    assert!(err.to_string().contains("NO MOCK MATCHED"), "{err}");
}

#[tokio::test]
async fn a_timeout_is_a_timeout() {
    let server = server().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_retry(RetryPolicy::none())
        .build()
        .unwrap();
    // Real time, but only 20 ms of it.
    let err = client
        .get("/slow")
        .timeout(Duration::from_millis(20))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.status(), ErrorStatus::Temporary);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    // A port that was free a moment ago and is closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = HttpClient::builder(format!("http://127.0.0.1:{port}"))
        .with_system_proxy(false)
        .with_retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.get("/x").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(err.is_retryable());
    assert_eq!(
        err.context().url.as_deref(),
        Some(format!("http://127.0.0.1:{port}/x").as_str())
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_that_never_left_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let events = crate::common::Events::default();
    let client = HttpClient::builder(format!("http://127.0.0.1:{port}"))
        .with_system_proxy(false)
        .with_connect_timeout(None)
        .with_retry(RetryPolicy::default().with_max_attempts(3))
        .on_event(events.recorder())
        .build()
        .unwrap();
    let err = client
        .post("/create")
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network);
    assert_eq!(err.status(), ErrorStatus::Exhausted);
    assert_eq!(events.retry_delays().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn bad_json_is_a_decode_error_with_an_excerpt() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Issue {
        id: u64,
    }
    let server = server().await;
    Mock::given(path("/issue"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id": "not a number"}"#))
        .mount(&server)
        .await;
    Mock::given(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let err = client
        .get("/issue")
        .send()
        .await
        .unwrap()
        .json::<Issue>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("does not match Issue"), "{err}");
    assert_eq!(
        err.context().body_excerpt.as_deref(),
        Some(r#"{"id": "not a number"}"#)
    );
    assert_eq!(err.context().http_status, Some(200));
    let err = client
        .get("/html")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
}

#[tokio::test(start_paused = true)]
async fn builder_errors_surface_at_send_naming_the_field() {
    let server = server().await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let err = client
        .get("/x")
        .header("bad header", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("bad header"), "{err}");
    let err = client
        .get("https://elsewhere.example/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    let err = HttpClient::builder(server.uri())
        .with_default_header("X-Ok", "bad\nvalue")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test(start_paused = true)]
async fn user_agent_names_the_sdk_and_connector() {
    let server = server().await;
    Mock::given(path("/ua"))
        .and(wiremock::matchers::header(
            "user-agent",
            concat!("connector-sdk/", env!("CARGO_PKG_VERSION"), " (test)"),
        ))
        .and(wiremock::matchers::header("accept", "application/json"))
        .and(wiremock::matchers::header(
            "x-github-api-version",
            "2022-11-28",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server)
        .with_default_header("X-GitHub-Api-Version", "2022-11-28")
        .build()
        .unwrap();
    assert_eq!(
        client
            .get("/ua")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello"
    );
}
