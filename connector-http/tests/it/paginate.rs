//! Each pagination strategy against a mock in its vendor's style.

use connector_core::ErrorKind;
use connector_http::paginate::{
    ContinuationPagination, CursorPagination, EndCondition, LinkHeaderPagination, Locator,
    NextUrlPagination, OffsetPagination, PageNumberPagination, Pagination, Param, RelayPagination,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::{client, fallback, server};

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u64,
}

fn items(ids: &[u64]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"id": id, "name": format!("item {id}")}))
            .collect(),
    )
}

async fn page(server: &MockServer, mock: MockBuilder, response: ResponseTemplate) {
    mock.respond_with(response).expect(1).mount(server).await;
}

/// A page whose matchers also match an earlier page: it must win when it matches.
async fn later_page(server: &MockServer, mock: MockBuilder, response: ResponseTemplate) {
    mock.respond_with(response)
        .expect(1)
        .with_priority(1)
        .mount(server)
        .await;
}

fn ids(items: &[Item]) -> Vec<u64> {
    items.iter().map(|i| i.id).collect()
}

#[tokio::test(start_paused = true)]
async fn link_header_with_absolute_and_relative_urls_github() {
    let server = server().await;
    let base = server.uri();
    page(
        &server,
        Mock::given(path("/repos/o/r/issues")).and(query_param("per_page", "2")).and(query_param_is_missing("page")),
        ResponseTemplate::new(200).set_body_json(items(&[1, 2])).insert_header(
            "link",
            format!(r#"<{base}/repos/o/r/issues?per_page=2&page=2>; rel="next", <{base}/repos/o/r/issues?per_page=2&page=3>; rel="last""#)
                .as_str(),
        ),
    )
    .await;
    // A path-absolute relative reference.
    page(
        &server,
        Mock::given(path("/repos/o/r/issues")).and(query_param("page", "2")),
        ResponseTemplate::new(200)
            .set_body_json(items(&[3, 4]))
            .insert_header(
                "link",
                r#"</repos/o/r/issues?per_page=2&page=3>; rel="next""#,
            ),
    )
    .await;
    // A query-only relative reference.
    page(
        &server,
        Mock::given(path("/repos/o/r/issues")).and(query_param("page", "3")),
        ResponseTemplate::new(200)
            .set_body_json(items(&[5]))
            .insert_header("link", r#"<?per_page=2&page=4>; rel="next""#),
    )
    .await;
    page(
        &server,
        Mock::given(path("/repos/o/r/issues")).and(query_param("page", "4")),
        ResponseTemplate::new(200).set_body_json(items(&[])),
    )
    .await;
    fallback(&server).await;

    let client = client(&server).build().unwrap();
    let all: Vec<Item> = client
        .get("/repos/o/r/issues")
        .paginate(LinkHeaderPagination::new().with_page_size_param(Param::query("per_page")))
        .page_size(2)
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_next_url_on_another_host_is_refused() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/v1.0/users")),
        ResponseTemplate::new(200).set_body_json(json!({
            "value": items(&[1]),
            "@odata.nextLink": "https://attacker.example/v1.0/users?$skiptoken=x"
        })),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let results: Vec<_> = client
        .get("/v1.0/users")
        .paginate(Pagination::next_url(Locator::body("@odata.nextLink")))
        .items_at("value")
        .collect()
        .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap()["id"], 1);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(
        err.to_string().contains("https://attacker.example"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn next_url_in_the_body_microsoft_graph() {
    let server = server().await;
    let next = format!("{}/v1.0/users?$top=2&$skiptoken=page2", server.uri());
    page(
        &server,
        Mock::given(path("/v1.0/users"))
            .and(query_param_is_missing("$skiptoken"))
            .and(query_param("$top", "2")),
        ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": items(&[1, 2]),
            "@odata.nextLink": next,
        })),
    )
    .await;
    page(
        &server,
        Mock::given(path("/v1.0/users")).and(query_param("$skiptoken", "page2")),
        ResponseTemplate::new(200).set_body_json(json!({"value": items(&[3])})),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let users: Vec<Item> = client
        .get("/v1.0/users")
        .paginate(
            NextUrlPagination::new(Locator::body("@odata.nextLink"))
                .with_page_size_param(Param::query("$top")),
        )
        .page_size(2)
        .at("value")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&users), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn cursor_in_the_body_slack() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/api/users.list"))
            .and(query_param("limit", "2"))
            .and(query_param_is_missing("cursor")),
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": items(&[1, 2]),
            "response_metadata": {"next_cursor": "dXNlcjpVMDYxTkZUVDI="}
        })),
    )
    .await;
    // Read twice: once in the full read, once when resuming.
    Mock::given(path("/api/users.list"))
        .and(query_param("cursor", "dXNlcjpVMDYxTkZUVDI="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": items(&[3]), "response_metadata": {"next_cursor": ""}
        })))
        .expect(2)
        .mount(&server)
        .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let pages: Vec<_> = client
        .get("/api/users.list")
        .paginate(
            CursorPagination::new("response_metadata.next_cursor")
                .with_page_size_param(Param::query("limit")),
        )
        .page_size(2)
        .at("members")
        .pages::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(pages[0].items()), vec![1, 2]);
    assert_eq!(pages[0].resume_token(), Some("dXNlcjpVMDYxTkZUVDI="));
    assert!(pages[1].is_last());

    // Resuming from the first page's token yields only what follows it.
    let resumed: Vec<Item> = client
        .get("/api/users.list")
        .paginate(
            CursorPagination::new("response_metadata.next_cursor")
                .with_page_size_param(Param::query("limit")),
        )
        .resume_from(Some("dXNlcjpVMDYxTkZUVDI=".into()))
        .at("members")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&resumed), vec![3]);
}

#[tokio::test(start_paused = true)]
async fn cursor_in_a_post_body_jira_enhanced_search() {
    let server = server().await;
    page(
        &server,
        Mock::given(method("POST"))
            .and(path("/rest/api/3/search/jql"))
            .and(body_partial_json(
                json!({"jql": "project = X", "maxResults": 2}),
            )),
        ResponseTemplate::new(200)
            .set_body_json(json!({"issues": items(&[1, 2]), "nextPageToken": "tok-2"})),
    )
    .await;
    later_page(
        &server,
        Mock::given(method("POST"))
            .and(path("/rest/api/3/search/jql"))
            .and(body_partial_json(
                json!({"jql": "project = X", "nextPageToken": "tok-2"}),
            )),
        ResponseTemplate::new(200).set_body_json(json!({"issues": items(&[3]), "isLast": true})),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let issues: Vec<Item> = client
        .post("/rest/api/3/search/jql")
        .json(&json!({"jql": "project = X"}))
        .idempotent(true)
        .paginate(
            CursorPagination::new("nextPageToken")
                .with_token_param(Param::body("nextPageToken"))
                .with_page_size_param(Param::body("maxResults")),
        )
        .page_size(2)
        .at("issues")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&issues), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn offset_with_total_and_concurrency_jira() {
    let server = server().await;
    for (start, ids) in [
        (0u64, vec![1u64, 2]),
        (2, vec![3, 4]),
        (4, vec![5, 6]),
        (6, vec![7]),
    ] {
        page(
            &server,
            Mock::given(path("/rest/api/3/users"))
                .and(query_param("startAt", start.to_string().as_str()))
                .and(query_param("maxResults", "2")),
            ResponseTemplate::new(200).set_body_json(json!({
                "startAt": start, "maxResults": 2, "total": 7, "values": items(&ids)
            })),
        )
        .await;
    }
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let pages: Vec<_> = client
        .get("/rest/api/3/users")
        .paginate(
            OffsetPagination::new("startAt", "maxResults")
                .with_end(EndCondition::Total(Locator::body("total"))),
        )
        .page_size(2)
        .concurrency(3)
        .at("values")
        .pages::<Item>()
        .try_collect()
        .await
        .unwrap();
    let all: Vec<u64> = pages.iter().flat_map(|p| ids(p.items())).collect();
    assert_eq!(
        all,
        vec![1, 2, 3, 4, 5, 6, 7],
        "source order despite concurrency"
    );
    assert_eq!(
        pages
            .iter()
            .map(|p| p.resume_token().map(str::to_owned))
            .collect::<Vec<_>>(),
        vec![
            Some("2".to_owned()),
            Some("4".to_owned()),
            Some("6".to_owned()),
            None
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn page_number_with_total_pages_header_gitlab() {
    let server = server().await;
    for (n, ids) in [(1u64, vec![1u64, 2]), (2, vec![3, 4]), (3, vec![5])] {
        page(
            &server,
            Mock::given(path("/api/v4/projects"))
                .and(query_param("page", n.to_string().as_str()))
                .and(query_param("per_page", "2")),
            ResponseTemplate::new(200)
                .set_body_json(items(&ids))
                .insert_header("x-total-pages", "3")
                .insert_header("x-page", n.to_string().as_str()),
        )
        .await;
    }
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let all: Vec<Item> = client
        .get("/api/v4/projects")
        .query(&[("membership", "true")])
        .paginate(
            PageNumberPagination::new("page", "per_page")
                .with_end(EndCondition::TotalPages(Locator::header("x-total-pages"))),
        )
        .page_size(2)
        .concurrency(2)
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn continuation_header_azure_devops() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/org/_apis/projects")).and(query_param_is_missing("continuationToken")),
        ResponseTemplate::new(200)
            .set_body_json(json!({"count": 2, "value": items(&[1, 2])}))
            .insert_header("x-ms-continuationtoken", "ct-2"),
    )
    .await;
    page(
        &server,
        Mock::given(path("/org/_apis/projects")).and(query_param("continuationToken", "ct-2")),
        ResponseTemplate::new(200).set_body_json(json!({"count": 1, "value": items(&[3])})),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let all: Vec<Item> = client
        .get("/org/_apis/projects")
        .paginate(
            ContinuationPagination::new("x-ms-continuationtoken")
                .with_token_param(Param::query("continuationToken")),
        )
        .at("value")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn graphql_relay_github() {
    let server = server().await;
    let query = "query($after: String, $first: Int) { repository(owner: \"o\", name: \"r\") { issues(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }";
    let envelope = |ids: &[u64], more: bool, cursor: Value| {
        json!({"data": {"repository": {"issues": {
            "nodes": items(ids),
            "pageInfo": {"hasNextPage": more, "endCursor": cursor}
        }}}})
    };
    page(
        &server,
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_partial_json(json!({"variables": {"first": 2}}))),
        ResponseTemplate::new(200).set_body_json(envelope(&[1, 2], true, json!("Y3Vyc29yOjI="))),
    )
    .await;
    later_page(
        &server,
        Mock::given(method("POST"))
            .and(path("/graphql"))
            .and(body_partial_json(
                json!({"variables": {"first": 2, "after": "Y3Vyc29yOjI="}}),
            )),
        ResponseTemplate::new(200).set_body_json(envelope(&[3], false, Value::Null)),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let all: Vec<Item> = client
        .post("/graphql")
        .json(&json!({"query": query}))
        .idempotent(true)
        .paginate(RelayPagination::new("data.repository.issues.pageInfo"))
        .page_size(2)
        .at("data.repository.issues.nodes")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_repeated_cursor_is_a_protocol_error() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/list")).and(query_param_is_missing("cursor")),
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": items(&[1]), "next_cursor": "same"})),
    )
    .await;
    page(
        &server,
        Mock::given(path("/list")).and(query_param("cursor", "same")),
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": items(&[2]), "next_cursor": "same"})),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let results: Vec<_> = client
        .get("/list")
        .paginate(Pagination::cursor("next_cursor"))
        .at("data")
        .items::<Item>()
        .collect()
        .await;
    assert_eq!(results.len(), 3, "two items, then the error: {results:?}");
    assert_eq!(results[1].as_ref().unwrap().id, 2);
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("repeats"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_page_that_does_not_decode_names_the_page_and_type() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/list")),
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": [{"id": "seven"}], "next_cursor": null})),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let err = client
        .get("/list")
        .paginate(Pagination::cursor("next_cursor"))
        .at("data")
        .items::<Item>()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("does not match Item"), "{err}");
    assert!(err.to_string().contains("page: 0"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn fetch_options_set_page_size_and_resume_from_the_checkpoint() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/rest/api/3/users"))
            .and(query_param("startAt", "4"))
            .and(query_param("maxResults", "3")),
        ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 4, "maxResults": 3, "total": 6, "values": items(&[5, 6])
        })),
    )
    .await;
    fallback(&server).await;
    let client = client(&server).build().unwrap();
    let options = connector_core::FetchOptions::new()
        .with_page_size(3)
        .with_resume(connector_core::Checkpoint::in_progress("users", "4"));
    let got: Vec<Item> = client
        .get("/rest/api/3/users")
        .paginate(
            OffsetPagination::new("startAt", "maxResults")
                .with_end(EndCondition::Total(Locator::body("total"))),
        )
        .page_size(50)
        .fetch_options(&options)
        .at("values")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![5, 6]);
}

/// Ten pages, page `n` at `?page=n`, each naming the next in the body.
async fn ten_pages(server: &MockServer) {
    for n in 1..=10u64 {
        let next = (n < 10).then(|| format!("{}/items?page={}", server.uri(), n + 1));
        Mock::given(path("/items"))
            .and(query_param("page", n.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"items": items(&[n]), "next": next})),
            )
            .mount(server)
            .await;
    }
}

async fn requests_after(pages_taken: usize, read_ahead: usize) -> usize {
    requests_after_with(pages_taken, read_ahead, 1).await
}

/// The requests a next-URL read made once `pages_taken` pages were taken, with
/// `concurrency` asked for (a next-URL read cannot use it: one page at a time).
async fn requests_after_with(pages_taken: usize, read_ahead: usize, concurrency: usize) -> usize {
    let server = server().await;
    ten_pages(&server).await;
    let client = client(&server).build().unwrap();
    let mut pages = client
        .get("/items?page=1")
        .paginate(NextUrlPagination::new(Locator::body("next")))
        .concurrency(concurrency)
        .read_ahead(read_ahead)
        .at("items")
        .pages::<Item>();
    for n in 1..=pages_taken as u64 {
        let page = pages.try_next().await.unwrap().unwrap();
        assert_eq!(ids(page.items()), vec![n]);
    }
    // Give the read-ahead task every chance to overshoot.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(pages);
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn read_ahead_fetches_the_next_pages_before_they_are_asked_for_but_no_more() {
    // A consumer that takes one page (one stream per page) causes one request.
    assert_eq!(requests_after(1, 0).await, 1);
    assert_eq!(requests_after(1, 2).await, 1);
    // Once a second page is asked for, up to `read_ahead + 1` more are fetched
    // and decoded.
    assert_eq!(requests_after(2, 0).await, 2);
    assert_eq!(requests_after(2, 1).await, 4);
    assert_eq!(requests_after(2, 3).await, 6);
}

#[tokio::test]
async fn a_next_url_read_asked_for_concurrency_still_reads_ahead() {
    // The strategy cannot keep several pages in flight, so the read is one page at
    // a time, read ahead as without `concurrency`.
    assert_eq!(requests_after_with(1, 2, 4).await, 1);
    assert_eq!(requests_after_with(2, 1, 4).await, 4);
    assert_eq!(requests_after_with(2, 3, 4).await, 6);
}

/// Runs `read` where a consumer of a paginated read can run: in the test's own
/// `block_on` (no task) and in a task spawned on the runtime (as a service runs a
/// sync). Pages in flight are fetched differently in the two.
async fn here_and_in_a_task<F, Fut>(read: F) -> [Fut::Output; 2]
where
    F: Fn() -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let here = read().await;
    let in_task = tokio::spawn(read()).await.unwrap();
    [here, in_task]
}

/// Six rows at `at`, one per page, and a total.
async fn six_rows_at(server: &MockServer, at: &str) {
    for offset in 0..6u64 {
        Mock::given(path(at))
            .and(query_param("offset", offset.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 6, "rows": items(&[offset + 1])})),
            )
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn with_pages_in_flight_the_read_ahead_is_the_pages_in_flight() {
    // After the first page, three in flight. A path per consumer, so only that
    // read's requests are counted.
    let server = Arc::new(server().await);
    let paths = ["/in-flight", "/in-flight-task"];
    for at in paths {
        six_rows_at(&server, at).await;
    }
    let client = client(&server).build().unwrap();
    let next_path = AtomicUsize::new(0);
    let runs = here_and_in_a_task(|| {
        let at = paths[next_path.fetch_add(1, Ordering::SeqCst)];
        let (client, server) = (client.clone(), Arc::clone(&server));
        async move {
            let mut pages = client
                .get(at)
                .paginate(
                    OffsetPagination::default()
                        .with_end(EndCondition::Total(Locator::body("total"))),
                )
                .page_size(1)
                .concurrency(3)
                .read_ahead(5)
                .at("rows")
                .pages::<Item>();
            let mut taken = Vec::new();
            for _ in 1..=2 {
                let page = pages.try_next().await.unwrap().unwrap();
                taken.extend(ids(page.items()));
            }
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let requests = server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|r| r.url.path() == at)
                .count();
            let rest: Vec<u64> = pages
                .map_ok(|page| ids(page.items()))
                .try_concat()
                .await
                .unwrap();
            (at, taken, requests, rest)
        }
    })
    .await;
    for (at, taken, requests, rest) in runs {
        assert_eq!(taken, vec![1, 2], "{at}");
        // The first page, then pages 2 to 4 in flight; nothing runs ahead of
        // them (a read-ahead task of depth 5 would have fetched all six).
        assert_eq!(requests, 4, "{at}");
        assert_eq!(rest, vec![3, 4, 5, 6], "{at}");
    }
}

#[tokio::test]
async fn pages_decode_off_the_consumers_task_wherever_it_runs() {
    // On the `block_on` thread (no task) and in a task, one page at a time
    // (read ahead) or three in flight, each page is decoded on a task of its
    // own: pages decode on every worker, and never in the consumer's task.
    let server = server().await;
    six_rows_at(&server, "/decoded-where").await;
    let client = client(&server).build().unwrap();
    for concurrency in [1, 3] {
        let runs = here_and_in_a_task(|| {
            let client = client.clone();
            async move {
                let consumer = tokio::task::try_id();
                let decoders = Arc::new(Mutex::new(Vec::new()));
                let seen = Arc::clone(&decoders);
                let ids: Vec<u64> = client
                    .get("/decoded-where")
                    .paginate(
                        OffsetPagination::default()
                            .with_end(EndCondition::Total(Locator::body("total"))),
                    )
                    .page_size(1)
                    .concurrency(concurrency)
                    .at("rows")
                    .pages_with(move |item: Item| {
                        seen.lock().unwrap().push(tokio::task::try_id());
                        item.id
                    })
                    .map_ok(|page| page.into_items())
                    .try_concat()
                    .await
                    .unwrap();
                let decoders = decoders.lock().unwrap().clone();
                (consumer, ids, decoders)
            }
        })
        .await;
        for (consumer, ids, decoders) in runs {
            let case = format!("concurrency {concurrency}, consumer {consumer:?}");
            assert_eq!(ids, (1..=6).collect::<Vec<_>>(), "{case}");
            assert_eq!(decoders.len(), 6, "{case}");
            assert!(
                decoders.iter().all(|d| d.is_some() && *d != consumer),
                "{case}: decoded in {decoders:?}"
            );
        }
    }
}

#[tokio::test]
async fn read_ahead_keeps_every_page_in_order() {
    let server = server().await;
    ten_pages(&server).await;
    let client = client(&server).build().unwrap();
    // `usize::MAX` is capped (at 1,024), not a panic.
    for read_ahead in [4, usize::MAX] {
        let all: Vec<Item> = client
            .get("/items?page=1")
            .paginate(NextUrlPagination::new(Locator::body("next")))
            .read_ahead(read_ahead)
            .at("items")
            .items::<Item>()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            ids(&all),
            (1..=10).collect::<Vec<_>>(),
            "read_ahead {read_ahead}"
        );
    }
}

#[tokio::test]
async fn every_read_mode_yields_the_same_pages_then_the_same_decode_error() {
    // Pages 1 and 2 decode; page 3 has an item that is not an `Item`, page 4 is
    // never reached.
    let server = server().await;
    for n in 1..=4u64 {
        let next = format!("{}/items?page={}", server.uri(), n + 1);
        let body = if n == 3 {
            json!({"items": [{"id": "three"}], "next": next})
        } else {
            json!({"items": items(&[2 * n - 1, 2 * n]), "next": next})
        };
        Mock::given(path("/items"))
            .and(query_param("page", n.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let client = client(&server).build().unwrap();
    // 0: in the consumer's task; 1 and 2: scanned, then decoded on tasks of
    // their own.
    for read_ahead in [0, 1, 2] {
        let results: Vec<_> = client
            .get("/items?page=1")
            .paginate(NextUrlPagination::new(Locator::body("next")))
            .read_ahead(read_ahead)
            .at("items")
            .pages::<Item>()
            .collect()
            .await;
        assert_eq!(results.len(), 3, "read_ahead {read_ahead}");
        let first = results[0].as_ref().unwrap();
        assert_eq!(ids(first.items()), vec![1, 2], "read_ahead {read_ahead}");
        assert_eq!(first.index(), 0);
        let second = results[1].as_ref().unwrap();
        assert_eq!(ids(second.items()), vec![3, 4], "read_ahead {read_ahead}");
        assert_eq!(second.index(), 1);
        assert!(second.resume_token().is_some_and(|t| t.contains("page=3")));
        let err = results[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "read_ahead {read_ahead}");
        assert!(err.to_string().contains("does not match Item"), "{err}");
        assert!(err.to_string().contains("page: 2"), "{err}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_the_scan_with_a_decode_error() {
    let server = server().await;
    page(
        &server,
        Mock::given(path("/list")),
        ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
    )
    .await;
    let client = client(&server).build().unwrap();
    let err = client
        .get("/list")
        .paginate(Pagination::cursor("next_cursor"))
        .at("data")
        .pages::<Item>()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("page: 0"), "{err}");
    assert!(err.to_string().contains("maintenance"), "{err}");
}

#[tokio::test]
async fn pages_with_maps_every_item_where_its_page_is_decoded_in_every_read_mode() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let server = server().await;
    ten_pages(&server).await;
    let client = client(&server).build().unwrap();
    for read_ahead in [0, 1, 2] {
        let mapped = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&mapped);
        let mut pages = client
            .get("/items?page=1")
            .paginate(NextUrlPagination::new(Locator::body("next")))
            .read_ahead(read_ahead)
            .at("items")
            .pages_with(move |item: Item| {
                counter.fetch_add(1, Ordering::SeqCst);
                format!("item {}", item.id)
            });
        let first = pages.try_next().await.unwrap().unwrap();
        assert_eq!(first.items(), ["item 1"]);
        let second = pages.try_next().await.unwrap().unwrap();
        assert_eq!(second.items(), ["item 2"]);
        assert!(second.resume_token().is_some_and(|t| t.contains("page=3")));
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Read ahead, `read_ahead + 1` later pages are mapped before they are
        // asked for; without, only what was taken.
        let expected = if read_ahead == 0 {
            2
        } else {
            2 + read_ahead as u64 + 1
        };
        assert_eq!(
            mapped.load(Ordering::SeqCst),
            expected,
            "read_ahead {read_ahead}"
        );
        let rest: Vec<String> = pages
            .map_ok(|page| page.into_items())
            .try_concat()
            .await
            .unwrap();
        assert_eq!(
            rest,
            (3..=10).map(|n| format!("item {n}")).collect::<Vec<_>>()
        );
        assert_eq!(mapped.load(Ordering::SeqCst), 10);
    }
}

#[tokio::test]
async fn pages_with_maps_pages_in_flight_and_keeps_their_order() {
    let server = server().await;
    for offset in [0u64, 2, 4] {
        let ids: Vec<u64> = (offset + 1..=(offset + 2).min(5)).collect();
        Mock::given(path("/rows"))
            .and(query_param("offset", offset.to_string()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"total": 5, "rows": items(&ids)})),
            )
            .mount(&server)
            .await;
    }
    let client = client(&server).build().unwrap();
    let doubled: Vec<u64> = client
        .get("/rows")
        .paginate(OffsetPagination::default().with_end(EndCondition::Total(Locator::body("total"))))
        .page_size(2)
        .concurrency(3)
        .at("rows")
        .pages_with(|item: Item| item.id * 2)
        .map_ok(|page| page.into_items())
        .try_concat()
        .await
        .unwrap();
    assert_eq!(doubled, vec![2, 4, 6, 8, 10]);
}

#[tokio::test]
async fn pages_with_seed_gives_the_records_of_map_owned_in_every_read_mode() {
    use connector_core::mapping::{EntityMapping, FieldMapping, FieldPath, Mapper};

    let server = server().await;
    ten_pages(&server).await;
    let mapping =
        EntityMapping::new("item", "ITEM", "Items", FieldPath::parse("id").unwrap()).with_field(
            FieldMapping::new(FieldPath::parse("name").unwrap(), "title"),
        );
    let mapper = Mapper::new(&mapping).unwrap();
    let client = client(&server).build().unwrap();
    for read_ahead in [0, 1, 2] {
        let request = || {
            client
                .get("/items?page=1")
                .paginate(NextUrlPagination::new(Locator::body("next")))
                .read_ahead(read_ahead)
                .at("items")
        };
        let seeded: Vec<_> = request()
            .pages_with_seed(mapper.record_seed("acme"))
            .map_ok(|page| page.into_items())
            .try_concat()
            .await
            .unwrap();
        let owned = mapper.clone();
        let mapped: Vec<_> = request()
            .pages_with(move |item: Value| owned.map_owned(item, "acme"))
            .map_ok(|page| page.into_items())
            .try_concat()
            .await
            .unwrap();
        assert_eq!(seeded.len(), 10, "read_ahead {read_ahead}");
        let seeded: Vec<_> = seeded.into_iter().map(|r| r.unwrap().unwrap()).collect();
        let mapped: Vec<_> = mapped.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(seeded, mapped, "read_ahead {read_ahead}");
        assert_eq!(seeded[9].external_id, "10");
        assert_eq!(seeded[9].field("title"), Some(&json!("item 10")));
    }
}

#[tokio::test]
async fn pages_with_seed_maps_pages_in_flight_and_fails_a_page_with_malformed_json() {
    use connector_core::mapping::{EntityMapping, FieldPath, Mapper};

    let server = server().await;
    for offset in [0u64, 2, 4] {
        let body = if offset == 4 {
            // The page's JSON is broken inside an item.
            r#"{"total": 6, "rows": [{"id": 5}, {"id": 6, "name": tru}]}"#.to_owned()
        } else {
            json!({"total": 6, "rows": items(&[offset + 1, offset + 2])}).to_string()
        };
        Mock::given(path("/rows"))
            .and(query_param("offset", offset.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
    }
    let mapping = EntityMapping::new("row", "ROW", "Rows", FieldPath::parse("id").unwrap());
    let mapper = Mapper::new(&mapping).unwrap();
    let client = client(&server).build().unwrap();
    let runs = here_and_in_a_task(|| {
        let (client, mapper) = (client.clone(), mapper.clone());
        async move {
            let mut pages = client
                .get("/rows")
                .paginate(
                    OffsetPagination::default()
                        .with_end(EndCondition::Total(Locator::body("total"))),
                )
                .page_size(2)
                .concurrency(3)
                .at("rows")
                .pages_with_seed(mapper.record_seed("acme"));
            let mut ids = Vec::new();
            let err = loop {
                match pages.try_next().await {
                    Ok(Some(page)) => ids.extend(
                        page.into_items()
                            .into_iter()
                            .map(|r| r.unwrap().unwrap().external_id),
                    ),
                    Ok(None) => panic!("the broken page must fail"),
                    Err(e) => break e,
                }
            };
            (ids, err)
        }
    })
    .await;
    for (ids, err) in runs {
        assert_eq!(ids, ["1", "2", "3", "4"]);
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert!(
            err.to_string()
                .contains("the response body does not match RecordSeed"),
            "names what decodes the items: {err}"
        );
        assert!(err.to_string().contains("page: 2"), "names the page: {err}");
    }
}
