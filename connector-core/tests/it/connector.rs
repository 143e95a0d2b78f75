//! A small in-memory connector written against the public API: two entity types,
//! offset pagination through `paginate`, a `Mapper` compiled from JSON mappings,
//! a checkpoint after every page, and resumption from a saved checkpoint.

use std::collections::BTreeMap;

use connector_core::connector::unknown_entity;
use connector_core::futures::TryStreamExt;
use connector_core::metadata::RateLimitHint;
use connector_core::pagination::Signals;
use connector_core::serde_json::{Value, json};
use connector_core::{
    AuthMethod, Capabilities, Category, Checkpoint, ConnectorConfig, ConnectorFactory,
    ConnectorMetadata, Credentials, DiscoveredEntity, Discovery, EntityMapping, ErrorKind,
    FetchOptions, FetchedPage, FileStateStore, Mapper, PaginateOptions, Pagination, Record, Result,
    StateKey, StateStore, SyncItem, SyncStream, TestResult, UniversalConnector, async_trait,
    paginate, sync,
};

pub(crate) const PAGE_SIZE: u32 = 3;

fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new("memory-crm", "Memory CRM", "Example", Category::CrmSales)
        .with_documentation_url("https://docs.example.com/connectors/memory-crm")
        .with_auth_methods([AuthMethod::Bearer])
        .with_rate_limit(RateLimitHint::per_minute(600))
        .with_capabilities(
            Capabilities::import()
                .with_incremental()
                .with_discovery_counts(),
        )
}

fn mappings() -> Vec<EntityMapping> {
    let accounts = EntityMapping::from_json(
        r#"{
        "source_type": "accounts", "target_type": "ORGANIZATION", "display_name": "Accounts",
        "external_id": "id", "updated_at": "modified",
        "fields": [
            { "source": "name", "target": "name", "required": true },
            { "source": "tier", "target": "tier", "transform": { "type": "upper" } }
        ]
    }"#,
    )
    .expect("accounts mapping");
    let contacts = EntityMapping::from_json(
        r#"{
        "source_type": "contacts", "target_type": "PERSON", "display_name": "Contacts",
        "external_id": "id", "updated_at": "modified",
        "fields": [
            { "source": "email", "target": "email", "required": true },
            { "source": "account.id", "target": "accountId" }
        ],
        "validation": [ { "field": "email", "rule": "email" } ]
    }"#,
    )
    .expect("contacts mapping");
    vec![accounts, contacts]
}

/// The source data: entity name → objects, ordered.
pub(crate) fn source() -> BTreeMap<&'static str, Vec<Value>> {
    let accounts = (0..10)
        .map(|i| json!({ "id": format!("A{i}"), "name": format!("Account {i}"), "tier": "gold", "modified": format!("2026-01-{:02}T00:00:00Z", i + 1) }))
        .collect();
    let contacts = (0..7)
        .map(|i| json!({ "id": format!("C{i}"), "email": format!("c{i}@example.com"), "account": { "id": format!("A{}", i % 3) }, "modified": "2026-02-01T00:00:00Z" }))
        .collect();
    BTreeMap::from([("accounts", accounts), ("contacts", contacts)])
}

pub(crate) struct MemoryCrm {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    data: BTreeMap<&'static str, Vec<Value>>,
}

#[async_trait]
impl UniversalConnector for MemoryCrm {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        TestResult::ok("in-memory source is always reachable")
    }

    async fn discover(&self) -> Result<Discovery> {
        let entities = self
            .mappings
            .iter()
            .map(|m| {
                let count = self.data.get(m.source_type.as_str()).map_or(0, Vec::len);
                DiscoveredEntity::from_mapping(m).with_count(count as u64)
            })
            .collect();
        Ok(Discovery::new(entities).with_estimate(self.meta.rate_limit.as_ref(), PAGE_SIZE))
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let Some(mapping) = self.mappings.iter().find(|m| m.source_type == entity) else {
            return sync::failed(unknown_entity(&self.meta, &self.mappings, entity));
        };
        let mapper = match Mapper::new(mapping) {
            Ok(m) => m,
            Err(e) => return sync::failed(e),
        };
        let rows = self
            .data
            .get(mapping.source_type.as_str())
            .cloned()
            .unwrap_or_default();
        let paging = PaginateOptions::default()
            .with_page_size(options.page_size.unwrap_or(PAGE_SIZE))
            .with_resume_from(options.resume_cursor().map(str::to_owned));
        let pages = paginate(Pagination::offset(), paging, move |request| {
            let start = (request.offset().unwrap_or(0) as usize).min(rows.len());
            let end = (start + request.page_size() as usize).min(rows.len());
            let items = rows[start..end].to_vec();
            async move { Ok(FetchedPage::new(items, Signals::new())) }
        });
        sync::mapped(
            entity.to_owned(),
            pages,
            &options,
            mapper,
            self.meta.id.clone(),
        )
    }
}

pub(crate) struct MemoryCrmFactory;

#[async_trait]
impl ConnectorFactory for MemoryCrmFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> connector_core::schemars::Schema {
        connector_core::schemars::schema_for!(Settings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        let settings: Settings = config.settings()?;
        let mut mappings = mappings();
        for m in &mut mappings {
            *m = m.apply_overrides(&config.mapping_overrides)?;
        }
        let mut data = source();
        data.retain(|entity, _| settings.entities.iter().any(|e| e == entity));
        Ok(Box::new(MemoryCrm {
            meta: metadata(),
            mappings,
            data,
        }))
    }
}

/// Settings of the in-memory connector.
#[derive(Debug, serde::Deserialize, connector_core::schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Which entities hold data.
    #[schemars(length(min = 1))]
    pub(crate) entities: Vec<String>,
}

pub(crate) fn config() -> ConnectorConfig {
    ConnectorConfig::new("org-1", Credentials::None)
        .with_settings(json!({ "entities": ["accounts", "contacts"] }))
}

async fn connector() -> Box<dyn UniversalConnector> {
    MemoryCrmFactory.connect(config()).await.expect("connect")
}

async fn read_all(
    c: &dyn UniversalConnector,
    entity: &str,
    options: FetchOptions,
) -> Vec<SyncItem> {
    c.fetch(entity, options).try_collect().await.expect("fetch")
}

fn ids(items: &[SyncItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(SyncItem::as_record)
        .map(|r| r.external_id.clone())
        .collect()
}

#[tokio::test]
async fn full_read_of_both_entities_crosses_pages_with_checkpoints() {
    let c = connector().await;
    for (entity, rows) in source() {
        let items = read_all(c.as_ref(), entity, FetchOptions::new()).await;
        let expected: Vec<String> = rows
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(ids(&items), expected, "{entity}");
        let checkpoints: Vec<&Checkpoint> =
            items.iter().filter_map(SyncItem::as_checkpoint).collect();
        let pages = rows.len().div_ceil(PAGE_SIZE as usize);
        assert!(pages >= 3, "{entity} must span at least three pages");
        assert_eq!(
            checkpoints.len(),
            pages,
            "{entity}: one checkpoint per page"
        );
        assert!(
            checkpoints.last().is_some_and(|c| c.complete),
            "{entity}: last checkpoint is complete"
        );
        assert!(
            matches!(items.last(), Some(SyncItem::Checkpoint(_))),
            "a checkpoint closes the stream"
        );
    }
}

#[tokio::test]
async fn records_are_mapped() {
    let c = connector().await;
    let items = read_all(c.as_ref(), "contacts", FetchOptions::new().with_limit(1)).await;
    let first: &Record = items
        .iter()
        .find_map(SyncItem::as_record)
        .expect("a record");
    assert_eq!(first.entity_type, "PERSON");
    assert_eq!(first.source_connector, "memory-crm");
    assert_eq!(first.field("email"), Some(&json!("c0@example.com")));
    assert_eq!(first.field("accountId"), Some(&json!("A0")));
    assert!(first.updated_at.is_some());
}

#[tokio::test]
async fn resuming_from_every_saved_checkpoint_yields_exactly_the_rest() {
    let c = connector().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStateStore::new(dir.path()).expect("store");
    for (entity, _) in source() {
        let full = read_all(c.as_ref(), entity, FetchOptions::new()).await;
        let all_ids = ids(&full);
        let mut seen = 0;
        for item in &full {
            match item {
                SyncItem::Record(_) => seen += 1,
                SyncItem::Checkpoint(cp) if !cp.complete => {
                    // Save, "crash", load, resume.
                    let key = StateKey::new("org-1", "memory-crm", entity);
                    store.save(&key, cp).await.expect("save");
                    let loaded = store.load(&key).await.expect("load").expect("present");
                    loaded.validate_for(entity).expect("same stream");
                    let rest =
                        read_all(c.as_ref(), entity, FetchOptions::new().with_resume(loaded)).await;
                    assert_eq!(ids(&rest), all_ids[seen..], "{entity} resumed after {seen}");
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn discovery_counts_and_schema() {
    let c = connector().await;
    let d = c.discover().await.expect("discover");
    assert_eq!(d.entity("accounts").and_then(|e| e.count), Some(10));
    assert_eq!(d.entity("contacts").and_then(|e| e.count), Some(7));
    assert_eq!(d.total, Some(17));
    // 4 + 3 pages at 10 requests per second, rounded up.
    assert_eq!(
        d.estimated_import_time,
        Some(std::time::Duration::from_secs(1))
    );
    let schema = c.schema("contacts").await.expect("schema");
    assert_eq!(schema.target_type, "PERSON");
    assert!(
        schema
            .fields
            .iter()
            .any(|f| f.name == "email" && f.required)
    );
    let err = c.schema("invoices").await.expect_err("unknown entity");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string()
            .contains("known entities: accounts, contacts"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_settings_are_rejected_naming_the_field() {
    let config = ConnectorConfig::new("org-1", Credentials::None)
        .with_settings(json!({ "entities": [] , "extra": 1 }));
    let err = MemoryCrmFactory
        .connect(config)
        .await
        .err()
        .expect("rejected");
    assert_eq!(err.kind(), ErrorKind::Config);
    let paths: Vec<&str> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["settings.entities", "settings.extra"], "{err}");
}

#[tokio::test]
async fn mapping_overrides_from_config_apply() {
    let overrides = connector_core::serde_json::from_value(json!([
        { "entity": "accounts", "remove": ["tier"], "add": [ { "source": "id", "target": "code" } ] }
    ]))
    .expect("overrides");
    let c = MemoryCrmFactory
        .connect(config().with_mapping_overrides(overrides))
        .await
        .expect("connect");
    let items = read_all(c.as_ref(), "accounts", FetchOptions::new()).await;
    let first = items.iter().find_map(SyncItem::as_record).expect("record");
    assert_eq!(first.field("code"), Some(&json!("A0")));
    assert_eq!(first.field("tier"), None);
}
