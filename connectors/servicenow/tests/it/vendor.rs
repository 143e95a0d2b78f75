//! ServiceNow-specific behaviour beyond the contract suite.

use std::time::Instant;

use connector_core::futures::{StreamExt, TryStreamExt};
use connector_core::serde_json::json;
use connector_core::{ConnectorFactory, ErrorKind, FetchOptions, SyncItem, UniversalConnector};
use connector_servicenow::ServiceNowFactory;
use connector_servicenow::fake::{FakeData, FakeServiceNow, Scale};
use connector_testkit::fake::{Fault, FaultRule};

use crate::contract::{USER, config, fake};

const PASSWORD: &str = "vendor-test-password";

async fn connect(instance: &str) -> Box<dyn UniversalConnector> {
    ServiceNowFactory::new()
        .connect(config(instance, PASSWORD))
        .await
        .expect("connect")
}

#[tokio::test]
async fn reads_ask_for_mapped_fields_in_a_stable_order_and_incrementally_by_update_time() {
    let api = fake(PASSWORD).await;
    let c = connect(&api.uri()).await;
    let full: Vec<SyncItem> = c
        .fetch("cmdb_ci_server", FetchOptions::new().with_page_size(4))
        .try_collect()
        .await
        .expect("read");
    let first = &api.requests_to("cmdb_ci_server")[0];
    assert_eq!(first.query_param("sysparm_query"), Some("ORDERBYsys_id"));
    assert_eq!(first.query_param("sysparm_limit"), Some("4"));
    assert_eq!(
        first.query_param("sysparm_exclude_reference_link"),
        Some("true")
    );
    assert_eq!(
        first.query_param("sysparm_fields"),
        Some(
            "sys_id,sys_created_on,sys_updated_on,name,short_description,ip_address,os,host_name,cpu_count,ram,hosted_on"
        )
    );
    let record = full.iter().find_map(SyncItem::as_record).expect("a record");
    assert!(record.field("memoryGb").is_some_and(|v| v.is_number()));
    let done = full
        .last()
        .and_then(SyncItem::as_checkpoint)
        .expect("checkpoint");
    assert!(done.complete);
    let watermark = done.watermark.expect("watermark");

    api.clear_log();
    let _: Vec<SyncItem> = c
        .fetch(
            "cmdb_ci_server",
            FetchOptions::new().with_resume(done.clone()),
        )
        .try_collect()
        .await
        .expect("incremental read");
    let incremental = &api.requests_to("cmdb_ci_server")[0];
    assert_eq!(
        incremental.query_param("sysparm_query").map(str::to_owned),
        Some(format!(
            "sys_updated_on>={}^ORDERBYsys_id",
            watermark.format("%Y-%m-%d %H:%M:%S")
        ))
    );
}

#[tokio::test]
async fn caller_filters_join_the_encoded_query() {
    let api = fake(PASSWORD).await;
    let c = connect(&api.uri()).await;
    let items: Vec<SyncItem> = c
        .fetch(
            "cmdb_ci_server",
            FetchOptions::new().with_filter("query", json!("sys_class_name=cmdb_ci_win_server")),
        )
        .try_collect()
        .await
        .expect("read");
    let records: Vec<_> = items.iter().filter_map(SyncItem::as_record).collect();
    assert!(!records.is_empty());
    let windows = api.collection("cmdb_ci_server").expect("servers").items();
    let expected = windows
        .iter()
        .filter(|s| s["sys_class_name"] == "cmdb_ci_win_server")
        .count();
    assert_eq!(records.len(), expected);
    let bad = c
        .fetch(
            "cmdb_ci_server",
            FetchOptions::new().with_filter("query", json!("a=1^NQb=2")),
        )
        .next()
        .await
        .expect("an item")
        .expect_err("rejected");
    assert_eq!(bad.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn discovery_counts_and_unreadable_tables() {
    let api = fake(PASSWORD).await;
    let c = connect(&api.uri()).await;
    let d = c.discover().await.expect("discover");
    assert_eq!(d.entity("cmdb_ci_appl").and_then(|e| e.count), Some(12));
    assert_eq!(d.total, Some(31));
    api.faults().push(
        FaultRule::new(Fault::status(403))
            .on_route("cmdb_ci_service")
            .always(),
    );
    let d = c.discover().await.expect("discover");
    let services = d.entity("cmdb_ci_service").expect("listed");
    assert!(!services.can_import);
    assert!(
        d.warnings[0].contains("User Not Authorized"),
        "{:?}",
        d.warnings
    );
}

#[tokio::test]
async fn errors_carry_what_servicenow_said() {
    let api = fake(PASSWORD).await;
    let wrong = ServiceNowFactory::new()
        .connect(config(&api.uri(), "not-the-password"))
        .await
        .expect("connect");
    let result = wrong.test_connection().await;
    assert!(!result.success && !result.authenticated);
    assert!(
        result
            .message
            .contains("401 Unauthorized: ServiceNow says \"User Not Authenticated ("),
        "{}",
        result.message
    );
    let c = connect(&api.uri()).await;
    api.faults().push(
        FaultRule::new(Fault::status(403))
            .on_route("cmdb_ci_appl")
            .always(),
    );
    let result = c.test_connection().await;
    assert!(
        result.authenticated && !result.permissions_valid,
        "{result:?}"
    );
    assert!(
        result
            .message
            .contains("403 Forbidden: ServiceNow says \"User Not Authorized ("),
        "{}",
        result.message
    );
}

#[tokio::test]
async fn relationships_are_typed_by_relationship_type() {
    let api = fake(PASSWORD).await;
    let c = connect(&api.uri()).await;
    let from_apps: Vec<_> = c
        .fetch_relationships("cmdb_ci_appl", FetchOptions::new())
        .try_collect()
        .await
        .expect("relationships");
    assert!(
        from_apps
            .iter()
            .any(|r| r.kind.as_str() == "RUNS_ON" && r.to_type == "NODE")
    );
    assert!(
        from_apps
            .iter()
            .all(|r| r.from_type == "APPLICATION_COMPONENT")
    );
    // The switch is not imported: its relationship is skipped.
    let rows = api.collection("cmdb_rel_ci").expect("rels").items();
    assert!(
        rows.iter()
            .any(|r| r["child.sys_class_name"] == "cmdb_ci_ip_switch")
    );
    assert!(from_apps.iter().all(|r| r.to_type != "cmdb_ci_ip_switch"));
    let from_services: Vec<_> = c
        .fetch_relationships("cmdb_ci_service", FetchOptions::new())
        .try_collect()
        .await
        .expect("relationships");
    assert!(!from_services.is_empty());
    assert!(from_services.iter().all(|r| r.kind.as_str() == "SERVES"
        && r.from_type == "APPLICATION_COMPONENT"
        && r.to_type == "BUSINESS_SERVICE"));
    let query = api
        .requests_to("cmdb_rel_ci")
        .last()
        .and_then(|r| r.query_param("sysparm_query").map(str::to_owned));
    assert_eq!(
        query.as_deref(),
        Some("parent.sys_class_nameINSTANCEOFcmdb_ci_service^ORDERBYsys_id")
    );
}

#[tokio::test]
async fn a_row_that_breaks_its_mapping_is_reported_and_the_read_goes_on() {
    let api = fake(PASSWORD).await;
    let apps = api.collection("cmdb_ci_appl").expect("apps");
    let ids = apps.ids();
    apps.update(&ids[3], |row| row["name"] = json!("X"));
    let c = connect(&api.uri()).await;
    let items: Vec<_> = c
        .fetch("cmdb_ci_appl", FetchOptions::new().with_page_size(5))
        .collect()
        .await;
    let errors: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind(), ErrorKind::Validation);
    assert!(
        errors[0].to_string().contains("at least 2 characters"),
        "{}",
        errors[0]
    );
    let records = items
        .iter()
        .filter(|i| matches!(i, Ok(SyncItem::Record(_))))
        .count();
    assert_eq!(records, 11);
    assert!(matches!(items.last(), Some(Ok(SyncItem::Checkpoint(cp))) if cp.complete));
}

#[tokio::test]
async fn limit_stops_mid_page_with_an_exact_checkpoint() {
    let api = fake(PASSWORD).await;
    let c = connect(&api.uri()).await;
    let items: Vec<SyncItem> = c
        .fetch(
            "cmdb_ci_appl",
            FetchOptions::new().with_page_size(5).with_limit(7),
        )
        .try_collect()
        .await
        .expect("read");
    assert_eq!(items.iter().filter_map(SyncItem::as_record).count(), 7);
    let cp = items
        .last()
        .and_then(SyncItem::as_checkpoint)
        .expect("checkpoint");
    assert_eq!(cp.cursor.as_deref(), Some("7"));
    let rest: Vec<SyncItem> = c
        .fetch("cmdb_ci_appl", FetchOptions::new().with_resume(cp.clone()))
        .try_collect()
        .await
        .expect("rest");
    assert_eq!(rest.iter().filter_map(SyncItem::as_record).count(), 5);
}

#[tokio::test]
async fn the_fake_follows_the_facts() {
    let api = fake(PASSWORD).await;
    let client = raw_get(
        &api.uri(),
        "/api/now/table/cmdb_ci_appl?sysparm_limit=5&sysparm_query=ORDERBYsys_id",
    )
    .await;
    let (status, headers, body) = client;
    assert_eq!(status, 200);
    let link = headers
        .iter()
        .find(|(k, _)| k == "link")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(link.contains("sysparm_offset=-5>;rel=\"prev\""), "{link}");
    assert!(link.contains("sysparm_offset=5>;rel=\"next\""), "{link}");
    assert!(link.contains("sysparm_offset=10>;rel=\"last\""), "{link}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-total-count" && v == "12")
    );
    assert_eq!(body["result"].as_array().map(Vec::len), Some(5));
    assert!(body["result"][0]["vendor"]["link"].is_string());
    let (status, _, body) =
        raw_get(&api.uri(), "/api/now/table/cmdb_ci_appl?sysparm_offset=-1").await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "failure");
}

/// A GET through connector-http with the fixture's credentials: status, headers
/// and JSON body, whatever the status.
async fn raw_get(
    base: &str,
    path: &str,
) -> (
    u16,
    Vec<(String, String)>,
    connector_core::serde_json::Value,
) {
    use connector_http::auth::Basic;
    use connector_http::{HttpClient, RetryPolicy};
    let client = HttpClient::builder(base)
        .with_auth(Basic::new(USER, PASSWORD))
        .with_retry(RetryPolicy::none())
        .build()
        .expect("client");
    match client.get(path).send().await {
        Ok(response) => {
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let status = response.status().as_u16();
            let body = response.json().await.expect("json");
            (status, headers, body)
        }
        Err(e) => {
            let ctx = e.context();
            let body = ctx
                .body_excerpt
                .as_deref()
                .and_then(|b| connector_core::serde_json::from_str(b).ok())
                .unwrap_or_default();
            (ctx.http_status.unwrap_or(0), Vec::new(), body)
        }
    }
}

/// Not an assertion on speed (see `benches/`): prints what a demo-sized read
/// costs in this (debug) build.
#[tokio::test]
async fn demo_sized_read_streams_every_row() {
    let api = FakeServiceNow::new(FakeData::generate(Scale::demo(), 7))
        .basic_auth(USER, PASSWORD)
        .start()
        .await;
    let c = connect(&api.uri()).await;
    let started = Instant::now();
    let mut records = 0;
    for table in ["cmdb_ci_appl", "cmdb_ci_server", "cmdb_ci_service"] {
        let mut stream = c.fetch(table, FetchOptions::new());
        while let Some(item) = stream.next().await {
            if matches!(item.expect("item"), SyncItem::Record(_)) {
                records += 1;
            }
        }
    }
    assert_eq!(records, 3_000);
    let took = started.elapsed();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "read {records} CIs in {took:?} ({:.0} records/s, debug build)",
            f64::from(records) / took.as_secs_f64()
        );
    }
}
