//! Graph-specific behaviour beyond the contract suite.

use connector_core::futures::TryStreamExt;
use connector_core::serde_json::{Value, json};
use connector_core::{ConnectorFactory, FetchOptions, SyncItem, UniversalConnector};
use connector_msgraph::AzureAdFactory;

use crate::contract::{config, fake};

const SECRET: &str = "vendor-test-client-secret";

async fn connect(base: &str) -> Box<dyn UniversalConnector> {
    AzureAdFactory::new()
        .connect(config(base, SECRET))
        .await
        .expect("connect")
}

#[tokio::test]
async fn delta_link_checkpoint_yields_changes_and_deletions() {
    let api = fake(SECRET).await;
    let c = connect(&api.uri()).await;
    let full: Vec<SyncItem> = c
        .fetch("user", FetchOptions::new().with_page_size(4))
        .try_collect()
        .await
        .expect("first round");
    let done = full
        .last()
        .and_then(SyncItem::as_checkpoint)
        .expect("checkpoint")
        .clone();
    assert!(done.complete);
    assert!(
        done.sync_token
            .as_deref()
            .is_some_and(|t| t.contains("/users/delta?$deltatoken="))
    );
    let first = &api.requests_to("user")[0];
    assert_eq!(first.path, "/users/delta");
    assert!(
        first
            .query_param("$select")
            .is_some_and(|s| s.starts_with("id,createdDateTime,userPrincipalName"))
    );
    assert!(
        first
            .headers
            .iter()
            .any(|(k, v)| k == "prefer" && v == "odata.maxpagesize=4")
    );
    let token = api.requests_to("token");
    assert_eq!(token.len(), 1, "one token for the whole round");

    let users = api.collection("user").expect("users");
    let ids = users.ids();
    users.update(&ids[2], |u| u["jobTitle"] = json!("Chief Fake Officer"));
    assert!(users.delete(&ids[5]));
    let changes: Vec<SyncItem> = c
        .fetch("user", FetchOptions::new().with_resume(done))
        .try_collect()
        .await
        .expect("delta round");
    let records: Vec<_> = changes.iter().filter_map(SyncItem::as_record).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].external_id, ids[2]);
    assert_eq!(
        records[0].field("title"),
        Some(&json!("Chief Fake Officer"))
    );
    let deleted: Vec<_> = changes
        .iter()
        .filter_map(|i| match i {
            SyncItem::Deletion(d) => Some(d.external_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [ids[5].clone()]);
    assert!(
        changes
            .last()
            .and_then(SyncItem::as_checkpoint)
            .is_some_and(|c| c.complete && c.sync_token.is_some())
    );
}

#[tokio::test]
async fn managers_manage_their_reports() {
    let api = fake(SECRET).await;
    let c = connect(&api.uri()).await;
    let rels: Vec<_> = c
        .fetch_relationships("user", FetchOptions::new())
        .try_collect()
        .await
        .expect("relationships");
    let users = api.collection("user").expect("users").items();
    let with_manager: Vec<&Value> = users
        .iter()
        .filter(|u| u.get("manager").is_some())
        .collect();
    assert_eq!(rels.len(), with_manager.len());
    for user in with_manager {
        let id = user["id"].as_str().unwrap_or_default();
        let manager = user["manager"]["id"].as_str().unwrap_or_default();
        assert!(
            rels.iter()
                .any(|r| &*r.from_id == manager && r.to_id == id && r.kind.as_str() == "MANAGES"),
            "{manager} manages {id}"
        );
    }
    let request = api.requests_to("user").last().cloned().expect("a request");
    assert_eq!(request.path, "/users");
    assert_eq!(request.query_param("$expand"), Some("manager($select=id)"));
    // No manager link on the user records themselves (it would point the wrong way).
    let items: Vec<SyncItem> = c
        .fetch("user", FetchOptions::new())
        .try_collect()
        .await
        .expect("read");
    assert!(
        items
            .iter()
            .filter_map(SyncItem::as_record)
            .all(|r| r.relationships.is_empty())
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_authentication_failure_naming_aadsts() {
    let api = fake(SECRET).await;
    let c = AzureAdFactory::new()
        .connect(config(&api.uri(), "not-the-secret"))
        .await
        .expect("connect");
    let result = c.test_connection().await;
    assert!(!result.success && !result.authenticated);
    assert!(
        result
            .message
            .contains("Microsoft Graph says \"invalid_client: AADSTS7000215"),
        "{}",
        result.message
    );
    assert!(!result.message.contains("not-the-secret"));
}

#[tokio::test]
async fn discovery_counts_need_consistency_level() {
    let api = fake(SECRET).await;
    let c = connect(&api.uri()).await;
    let d = c.discover().await.expect("discover");
    assert_eq!(d.entity("user").and_then(|e| e.count), Some(15));
    assert_eq!(d.entity("group").and_then(|e| e.count), Some(9));
    let count = api
        .requests_to("user")
        .into_iter()
        .find(|r| r.query_param("$count").is_some())
        .expect("count request");
    assert!(
        count
            .headers
            .iter()
            .any(|(k, v)| k == "consistencylevel" && v == "eventual")
    );
}
