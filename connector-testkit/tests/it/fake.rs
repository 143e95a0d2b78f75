//! The fakes, faults, rate limits and reset proxy, driven by connector-http.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_core::futures::TryStreamExt;
use connector_core::serde_json::{Value, json};
use connector_core::{ErrorKind, Result};
use connector_http::paginate::{
    ContinuationPagination, CursorPagination, EndCondition, Flag, LinkHeaderPagination, Locator,
    NextUrlPagination, OffsetPagination, PageNumberPagination, Pagination, Param, RelayPagination,
};
use connector_http::{HttpClient, RetryPolicy};
use connector_testkit::fake::{
    AuthGuard, Envelope, ErrorStyle, FakeApi, FakeCollection, Fault, FaultRule, Paging,
    RateLimitSim, RateLimitStyle, ResetMode, ResetProxy, UNMATCHED,
};

const TOKEN: &str = "fake-test-token-123";

fn items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "id": format!("r{i:02}"), "updated_at": format!("2026-03-{:02}T12:00:00Z", i + 1) }))
        .collect()
}

fn client(base: &str, retry: RetryPolicy) -> HttpClient {
    HttpClient::builder(base)
        .with_connector("testkit")
        .with_system_proxy(false)
        .with_timeout(None)
        .with_connect_timeout(None)
        .with_auth(connector_http::auth::Bearer::new(TOKEN))
        .with_retry(
            retry
                .with_jitter(false)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .build()
        .expect("client")
}

async fn api() -> FakeApi {
    FakeApi::builder()
        .auth(AuthGuard::bearer(TOKEN))
        .errors(ErrorStyle::GitHub)
        .start()
        .await
}

fn ids(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

/// Every pagination style, each with the envelope a vendor pairs it with, read
/// to the end by connector-http's binding of the matching core strategy.
#[tokio::test(start_paused = true)]
async fn every_paging_style_is_read_to_the_end_by_the_matching_strategy() {
    let cases: Vec<(&str, Paging, Envelope, Pagination, &str)> = vec![
        (
            "cursor",
            Paging::cursor(),
            Envelope::items(),
            CursorPagination::new("next_cursor")
                .with_page_size_param(Param::query("limit"))
                .into(),
            "items",
        ),
        (
            "cursor-has-more",
            Paging::cursor().with_more_flag("has_more"),
            Envelope::key("data"),
            CursorPagination::new("next_cursor")
                .with_page_size_param(Param::query("limit"))
                .with_has_more(Flag::has_more("has_more"))
                .into(),
            "data",
        ),
        (
            "odata",
            Paging::odata(),
            Envelope::OData,
            NextUrlPagination::new(Locator::body("@odata.nextLink"))
                .with_page_size_param(Param::query("$top"))
                .into(),
            "value",
        ),
        (
            "link",
            Paging::link_header(),
            Envelope::Bare,
            LinkHeaderPagination::new()
                .with_page_size_param(Param::query("per_page"))
                .into(),
            "",
        ),
        (
            "offset-total",
            Paging::offset().with_total("total"),
            Envelope::result(),
            OffsetPagination::default()
                .with_end(EndCondition::Total(Locator::body("total")))
                .into(),
            "result",
        ),
        (
            "offset-more",
            Paging::offset().with_more_flag("more"),
            Envelope::key("users"),
            OffsetPagination::default()
                .with_end(EndCondition::Flag(Flag::has_more("more")))
                .into(),
            "users",
        ),
        (
            "offset-header",
            Paging::offset()
                .with_params("sysparm_offset", "sysparm_limit")
                .with_total_header("X-Total-Count"),
            Envelope::result(),
            OffsetPagination::new("sysparm_offset", "sysparm_limit")
                .with_end(EndCondition::Total(Locator::header("x-total-count")))
                .into(),
            "result",
        ),
        (
            "jsonapi",
            Paging::page_number().with_params("page[number]", "page[size]"),
            Envelope::JsonApi,
            NextUrlPagination::new(Locator::body("links.next"))
                .with_page_size_param(Param::query("page[size]"))
                .into(),
            "data",
        ),
        (
            "page-number",
            Paging::page_number().with_total_pages("total_pages"),
            Envelope::items(),
            PageNumberPagination::default()
                .with_end(EndCondition::TotalPages(Locator::body("total_pages")))
                .into(),
            "items",
        ),
        (
            "continuation",
            Paging::continuation("x-ms-continuationtoken").with_params("", "$top"),
            Envelope::key("value"),
            ContinuationPagination::new("x-ms-continuationtoken")
                .with_page_size_param(Param::query("$top"))
                .into(),
            "value",
        ),
    ];
    let api = api().await;
    let client = client(&api.uri(), RetryPolicy::none());
    for (name, paging, envelope, strategy, at) in cases {
        let path = format!("/{name}");
        FakeCollection::new(name, path.as_str(), items(25))
            .paging(paging)
            .envelope(envelope)
            .max_page_size(10)
            .mount(&api)
            .await
            .expect(name);
        let got: Vec<Value> = client
            .get(&path)
            .paginate(strategy)
            .page_size(10)
            .items_at(at)
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ids(&got), ids(&items(25)), "{name}");
        let pages = api.requests_to(name);
        assert_eq!(pages.len(), 3, "{name}: {pages:?}");
        assert!(pages.iter().all(|r| r.status == 200), "{name}: {pages:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn graphql_relay_pages_through_post_variables() {
    let api = api().await;
    FakeCollection::new("issues", "/graphql", items(7))
        .paging(Paging::relay("data.repository.issues"))
        .mount(&api)
        .await
        .expect("relay");
    let got: Vec<Value> = client(&api.uri(), RetryPolicy::none())
        .post("/graphql")
        .json(&json!({ "query": "query($first:Int,$after:String){...}", "variables": {} }))
        .paginate(RelayPagination::new("data.repository.issues.pageInfo"))
        .page_size(3)
        .items_at("data.repository.issues.nodes")
        .try_collect()
        .await
        .expect("relay read");
    assert_eq!(got.len(), 7);
    assert_eq!(api.requests_to("issues").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn auth_guard_page_limit_forged_tokens_and_fallback_answer_like_the_vendor() {
    let api = api().await;
    FakeCollection::new("repos", "/repos", items(5))
        .max_page_size(3)
        .mount(&api)
        .await
        .expect("repos");
    let good = client(&api.uri(), RetryPolicy::none());
    let anonymous = HttpClient::builder(api.uri())
        .with_timeout(None)
        .with_connect_timeout(None)
        .with_system_proxy(false)
        .with_retry(RetryPolicy::none())
        .build()
        .expect("client");

    let err = anonymous.get("/repos").send().await.expect_err("401");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.to_string().contains("Bad credentials"),
        "GitHub's 401 body: {err}"
    );

    let err = good
        .get("/repos")
        .query(&[("limit", "4")])
        .send()
        .await
        .expect_err("400");
    assert!(
        err.to_string().contains("larger than the maximum of 3"),
        "{err}"
    );

    let err = good
        .get("/repos")
        .query(&[("cursor", "tk0z0")])
        .send()
        .await;
    assert!(err.is_ok(), "offset style ignores a cursor parameter");
    let cursor_api = api;
    FakeCollection::new("c", "/c", items(5))
        .paging(Paging::cursor())
        .mount(&cursor_api)
        .await
        .expect("c");
    let err = good
        .get("/c")
        .query(&[("cursor", "12")])
        .send()
        .await
        .expect_err("forged cursor");
    assert!(err.to_string().contains("is not valid"), "{err}");

    let err = good
        .get("/nowhere")
        .query(&[("x", "1")])
        .send()
        .await
        .expect_err("fallback");
    assert!(
        err.to_string()
            .contains("no route matched GET /nowhere?x=1"),
        "{err}"
    );
    let log = cursor_api.requests();
    assert_eq!(log.last().map(|r| r.route.as_str()), Some(UNMATCHED));
    assert!(log.iter().map(|r| r.seq).collect::<Vec<_>>().is_sorted());
    // The good client's first request, found by its query rather than its place
    // in the log: wiremock recycles its servers between tests, so a late request
    // from another test can land in this log too.
    let auth_of = |r: &connector_testkit::fake::LoggedRequest| {
        r.headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
    };
    let limited = log
        .iter()
        .find(|r| r.query.iter().any(|(k, v)| k == "limit" && v == "4"))
        .expect("the limit=4 request is logged");
    assert_eq!(
        auth_of(limited).as_deref(),
        Some("REDACTED"),
        "the log never keeps a credential"
    );
    assert!(
        log.iter().filter_map(auth_of).all(|v| v == "REDACTED"),
        "no logged request keeps a credential"
    );
}

#[tokio::test(start_paused = true)]
async fn since_filter_and_mutations_show_in_the_next_read() -> Result<()> {
    let api = api().await;
    let coll = FakeCollection::new("things", "/things", items(6))
        .since_param("since", "updated_at")
        .mount(&api)
        .await
        .expect("things");
    let client = client(&api.uri(), RetryPolicy::none());
    let read = |since: &'static str| {
        let client = client.clone();
        async move {
            let body: Value = client
                .get("/things")
                .query(&[("since", since)])
                .send()
                .await?
                .json()
                .await?;
            Ok::<_, connector_core::ConnectorError>(ids(body["items"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)))
        }
    };
    assert_eq!(
        read("2026-03-05T12:00:00Z").await?,
        ["r04", "r05"],
        "at or after, inclusive"
    );
    let later: DateTime<Utc> = "2026-04-01T00:00:00Z".parse().expect("time");
    assert!(coll.touch("r00", later));
    assert!(coll.delete("r05"));
    coll.insert(json!({"id": "r99", "updated_at": "2026-04-02T00:00:00Z"}));
    assert!(coll.update("r01", |v| v["name"] = json!("renamed")));
    assert_eq!(read("2026-03-05T12:00:00Z").await?, ["r00", "r04", "r99"]);
    assert_eq!(
        coll.get("r00").map(|v| v["updated_at"].clone()),
        Some(json!("2026-04-01T00:00:00Z"))
    );
    let err = client
        .get("/things")
        .query(&[("since", "last tuesday")])
        .send()
        .await
        .expect_err("bad since");
    assert!(err.to_string().contains("ISO 8601"), "{err}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn scripted_faults_reach_the_client_as_classified_errors() {
    let api = api().await;
    FakeCollection::new("rows", "/rows", items(4))
        .mount(&api)
        .await
        .expect("rows");
    let once = client(&api.uri(), RetryPolicy::none());
    let cases = [
        (Fault::too_many_requests(7), ErrorKind::RateLimited),
        (Fault::unavailable(), ErrorKind::Unavailable),
        (Fault::MalformedJson, ErrorKind::Decode),
        (Fault::TruncatedBody, ErrorKind::Decode),
        (Fault::WrongContentType, ErrorKind::Decode),
    ];
    for (fault, kind) in cases {
        api.faults().push(FaultRule::new(fault.clone()));
        let result: Result<Value> = async { once.get("/rows").send().await?.json().await }.await;
        let err = result.expect_err(&fault.name());
        assert_eq!(err.kind(), kind, "{}: {err}", fault.name());
        if fault == Fault::too_many_requests(7) {
            assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        }
    }
    let names: Vec<Option<String>> = api.requests().iter().map(|r| r.fault.clone()).collect();
    assert_eq!(names.len(), 5);
    assert!(names.iter().all(Option::is_some), "{names:?}");

    // 503 for the first 2 requests; the client's retries get through.
    api.faults().first_requests(2, Fault::unavailable());
    let patient = client(&api.uri(), RetryPolicy::default());
    patient
        .get("/rows")
        .send()
        .await
        .expect("third attempt succeeds");
    assert_eq!(api.faults().injected().len(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_slow_response_times_out_on_the_paused_clock() {
    let api = api().await;
    FakeCollection::new("rows", "/rows", items(2))
        .mount(&api)
        .await
        .expect("rows");
    api.faults()
        .push(FaultRule::new(Fault::slow(Duration::from_secs(3600))));
    let client = HttpClient::builder(api.uri())
        .with_system_proxy(false)
        .with_auth(connector_http::auth::Bearer::new(TOKEN))
        .with_timeout(Some(Duration::from_secs(5)))
        .with_retry(RetryPolicy::none())
        .build()
        .expect("client");
    let err = client.get("/rows").send().await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_duplicated_page_repeats_the_cursor_and_echoes_are_scrubbed() {
    let api = api().await;
    FakeCollection::new("rows", "/rows", items(9))
        .paging(Paging::cursor())
        .mount(&api)
        .await
        .expect("rows");
    api.faults().push(
        FaultRule::new(Fault::DuplicatePage)
            .on_route("rows")
            .on_page(1),
    );
    let client = client(&api.uri(), RetryPolicy::none());
    let err = client
        .get("/rows")
        .paginate(CursorPagination::new("next_cursor").with_page_size_param(Param::query("limit")))
        .page_size(3)
        .items_at("items")
        .try_collect::<Vec<Value>>()
        .await
        .expect_err("a repeated cursor is a protocol error");
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");

    api.faults().push(FaultRule::new(Fault::EchoRequest));
    let err = client.get("/rows").send().await.expect_err("echo");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("received_headers"),
        "the body excerpt is kept: {text}"
    );
    assert!(
        !text.contains(TOKEN),
        "connector-http scrubs the echoed token: {text}"
    );
}

#[tokio::test(start_paused = true)]
async fn seeded_faults_repeat_per_seed() {
    let run = |seed| async move {
        let api = api().await;
        FakeCollection::new("rows", "/rows", items(2))
            .mount(&api)
            .await
            .expect("rows");
        api.faults().seeded(
            seed,
            400,
            vec![
                Fault::unavailable(),
                Fault::status(500),
                Fault::MalformedJson,
            ],
            Some("rows"),
        );
        let client = client(&api.uri(), RetryPolicy::none());
        for _ in 0..30 {
            let _ = client.get("/rows").send().await;
        }
        api.requests()
            .iter()
            .map(|r| (r.seq, r.fault.clone()))
            .collect::<Vec<_>>()
    };
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert_ne!(a, run(43).await);
    let hits = a.iter().filter(|(_, f)| f.is_some()).count();
    assert!((3..=24).contains(&hits), "{hits} of 30");
}

/// A window of a day: on the paused clock tokio may jump to the HTTP pool's idle
/// timer (90 s) between requests, so a short window could reopen by itself.
const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(start_paused = true)]
async fn rate_limit_simulation_sends_vendor_headers_and_reopens_after_the_window() {
    let api = FakeApi::builder()
        .auth(AuthGuard::bearer(TOKEN))
        .rate_limit(RateLimitSim::new(2, DAY, RateLimitStyle::Ietf))
        .start()
        .await;
    FakeCollection::new("rows", "/rows", items(2))
        .mount(&api)
        .await
        .expect("rows");
    let once = client(&api.uri(), RetryPolicy::none());
    let first = once.get("/rows").send().await.expect("1st");
    assert_eq!(first.header("ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    once.get("/rows").send().await.expect("2nd");
    let err = once
        .get("/rows")
        .send()
        .await
        .expect_err("3rd is over the quota");
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.retry_after().is_some_and(|w| w <= DAY), "{err:?}");

    let patient = client(
        &api.uri(),
        RetryPolicy::default()
            .with_max_wait(2 * DAY)
            .with_max_elapsed(None),
    );
    patient
        .get("/rows")
        .send()
        .await
        .expect("waits for the reset");
    let log = api.requests();
    let last = log.last().expect("logged");
    assert_eq!(last.status, 200);
    assert!(last.at >= DAY, "the window reopened at {:?}", last.at);

    api.set_rate_limit(Some(RateLimitSim::new(
        1,
        DAY,
        RateLimitStyle::GitHub { status: 403 },
    )));
    let ok = once
        .get("/rows")
        .send()
        .await
        .expect("within the new quota");
    assert_eq!(ok.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        ok.header("x-ratelimit-reset")
            .and_then(|r| r.parse::<u64>().ok())
            .is_some_and(|r| r > 1_700_000_000)
    );
    let err = once
        .get("/rows")
        .send()
        .await
        .expect_err("GitHub's primary limit");
    assert!(
        err.to_string().contains("403") || err.kind() == ErrorKind::RateLimited,
        "{err}"
    );
}

#[tokio::test]
async fn the_reset_proxy_breaks_connections_and_then_passes_through() {
    let reset = ResetProxy::start(ResetMode::Reset).await.expect("proxy");
    let err = client(&reset.uri(), RetryPolicy::none())
        .get("/x")
        .send()
        .await
        .expect_err("reset");
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");

    let cut = ResetProxy::start(ResetMode::CloseMidBody)
        .await
        .expect("proxy");
    let result: Result<Value> = async {
        client(&cut.uri(), RetryPolicy::none())
            .get("/x")
            .send()
            .await?
            .json()
            .await
    }
    .await;
    let err = result.expect_err("cut mid-body");
    assert!(
        matches!(err.kind(), ErrorKind::Network | ErrorKind::Decode),
        "{err}"
    );

    let api = api().await;
    FakeCollection::new("rows", "/rows", items(3))
        .mount(&api)
        .await
        .expect("rows");
    let flaky = ResetProxy::in_front_of(&api.uri(), ResetMode::Reset, 1)
        .await
        .expect("proxy");
    let body: Value = client(&flaky.uri(), RetryPolicy::default())
        .get("/rows")
        .send()
        .await
        .expect("retried past the reset")
        .json()
        .await
        .expect("json");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(3));
    assert!(flaky.connections() >= 2);
}
