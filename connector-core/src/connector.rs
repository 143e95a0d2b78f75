//! The connector trait and its factory.
//!
//! A connector is a value implementing [`UniversalConnector`]: it tests its
//! connection, reports health, discovers what it can import, and fetches entities
//! as a **stream** of [`SyncItem`]s (records, deletions and checkpoints). A
//! [`ConnectorFactory`] describes a connector (metadata and config schema) and
//! connects it from a [`ConnectorConfig`]. Both traits are object-safe, so a
//! registry holds `Arc<dyn ConnectorFactory>` and hands out
//! `Box<dyn UniversalConnector>`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ConnectorConfig;
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::mapping::{EntityMapping, EntitySchema};
use crate::metadata::{ConnectorMetadata, RateLimitHint};
use crate::record::{Relationship, SyncItem};
use crate::state::Checkpoint;

/// The stream a fetch returns: records, deletions and checkpoints, in order.
pub type SyncStream<'a> = BoxStream<'a, Result<SyncItem>>;

/// The stream of relationships [`UniversalConnector::fetch_relationships`] returns.
pub type RelationshipStream<'a> = BoxStream<'a, Result<Relationship>>;

/// What to fetch and from where.
///
/// Defaults: no limit, the connector's page size, no filters, a full read from the
/// start, one page in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Stop after this many records.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Records per page; the connector's default (and the vendor's maximum) when absent.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Connector-specific filters.
    #[serde(default)]
    pub filters: Map<String, Value>,
    /// Only records changed at or after this time (incremental lower bound).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Continue from this checkpoint. An in-progress checkpoint resumes the same
    /// read; a completed one starts an incremental read from its watermark.
    #[serde(default)]
    pub resume: Option<Checkpoint>,
    /// Pages in flight at once, for strategies that allow it; at least 1.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Keep the unmapped source object on each record.
    #[serde(default)]
    pub include_raw: bool,
}

impl FetchOptions {
    /// A full read with defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops after `limit` records.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// Adds a filter.
    pub fn with_filter(mut self, key: impl Into<String>, value: Value) -> Self {
        self.filters.insert(key.into(), value);
        self
    }

    /// Reads only records changed at or after `since`.
    pub fn with_since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Continues from `checkpoint`.
    pub fn with_resume(mut self, checkpoint: Checkpoint) -> Self {
        self.resume = Some(checkpoint);
        self
    }

    /// Sets how many pages may be in flight.
    pub fn with_concurrency(mut self, pages: usize) -> Self {
        self.concurrency = Some(pages.max(1));
        self
    }

    /// Keeps raw source objects on records.
    pub fn with_raw(mut self, include: bool) -> Self {
        self.include_raw = include;
        self
    }

    /// The lower bound an incremental read should use: `since` when set; else, when
    /// resuming an interrupted read, the bound that read started with; else, after a
    /// completed read, that read's watermark.
    pub fn incremental_since(&self) -> Option<DateTime<Utc>> {
        match (&self.since, &self.resume) {
            (Some(since), _) => Some(*since),
            (None, Some(cp)) if cp.complete => cp.watermark,
            (None, Some(cp)) => cp.since,
            (None, None) => None,
        }
    }

    /// The page token to resume an interrupted read from, if any.
    pub fn resume_cursor(&self) -> Option<&str> {
        match &self.resume {
            Some(cp) if !cp.complete => cp.cursor.as_deref(),
            _ => None,
        }
    }
}

/// The outcome of [`UniversalConnector::test_connection`]. It is a value, never an
/// error: a failed test says what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestResult {
    /// Whether everything worked.
    pub success: bool,
    /// One line for a person.
    pub message: String,
    /// Whether the credentials were accepted.
    pub authenticated: bool,
    /// Whether the credentials have the permissions the connector needs.
    pub permissions_valid: bool,
    /// Whether the API answered at all.
    pub endpoint_reachable: bool,
    /// The API version the vendor reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The errors met, as printable lines.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The kind of the error that made the test fail, for programs to branch on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
}

impl TestResult {
    /// A successful test.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: message.into(),
            authenticated: true,
            permissions_valid: true,
            endpoint_reachable: true,
            api_version: None,
            errors: Vec::new(),
            error_kind: None,
        }
    }

    /// Sets the API version.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    /// A failed test, classified from the error's kind:
    /// auth → not authenticated; permission denied → authenticated but lacking
    /// permissions; network, timeout and unavailable → endpoint unreachable; others
    /// (not found, decode, config) → reachable and authenticated, but wrong.
    pub fn from_error(err: &ConnectorError) -> Self {
        let kind = err.kind();
        let (authenticated, permissions_valid, endpoint_reachable) = match kind {
            ErrorKind::Auth => (false, false, true),
            ErrorKind::PermissionDenied => (true, false, true),
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Unavailable => {
                (false, false, false)
            }
            ErrorKind::Config => (false, false, false),
            _ => (true, true, true),
        };
        let lead = match kind {
            ErrorKind::Auth => "authentication failed",
            ErrorKind::PermissionDenied => "authenticated, but a permission is missing",
            ErrorKind::Network | ErrorKind::Timeout => "the API could not be reached",
            ErrorKind::Unavailable => "the API is unavailable",
            ErrorKind::RateLimited => "the API is throttling requests",
            ErrorKind::Config => "the configuration is invalid",
            _ => "the connection test failed",
        };
        Self {
            success: false,
            message: format!("{lead}: {}", err.message()),
            authenticated,
            permissions_valid,
            endpoint_reachable,
            api_version: None,
            errors: vec![err.to_string()],
            error_kind: Some(format!("{kind:?}")),
        }
    }

    /// [`TestResult::ok`] for `Ok`, [`TestResult::from_error`] for `Err`.
    pub fn from_result<T>(result: &Result<T>, ok_message: impl Into<String>) -> Self {
        match result {
            Ok(_) => Self::ok(ok_message),
            Err(e) => Self::from_error(e),
        }
    }
}

/// The state of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Fine.
    Pass,
    /// Working, but worth a look.
    Warn,
    /// Broken.
    Fail,
}

/// One named health check (`auth_valid`, `api_reachable`, `rate_limit_ok`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthCheck {
    /// The check's name.
    pub name: String,
    /// Its state.
    pub status: HealthStatus,
    /// What was found.
    pub message: String,
    /// How long the check took.
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl HealthCheck {
    /// Creates a check.
    pub fn new(
        name: impl Into<String>,
        status: HealthStatus,
        message: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            status,
            message: message.into(),
            duration,
        }
    }
}

/// The health of a connector instance: its checks, and the worst of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The worst status among the checks (pass when there are none).
    pub status: HealthStatus,
    /// The checks.
    pub checks: Vec<HealthCheck>,
}

impl HealthReport {
    /// A report over `checks`.
    pub fn new(checks: Vec<HealthCheck>) -> Self {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Pass);
        Self { status, checks }
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&HealthCheck> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The standard three checks derived from a connection test that took `took`.
    pub fn from_test(test: &TestResult, took: Duration) -> Self {
        let status = |ok: bool| {
            if ok {
                HealthStatus::Pass
            } else {
                HealthStatus::Fail
            }
        };
        let throttled = test.error_kind.as_deref() == Some("RateLimited");
        let detail = |ok: bool, good: &str| {
            if ok {
                good.to_owned()
            } else {
                test.message.clone()
            }
        };
        Self::new(vec![
            HealthCheck::new(
                "api_reachable",
                status(test.endpoint_reachable),
                detail(test.endpoint_reachable, "the API answered"),
                took,
            ),
            HealthCheck::new(
                "auth_valid",
                status(test.authenticated),
                detail(test.authenticated, "the credentials were accepted"),
                took,
            ),
            HealthCheck::new(
                "rate_limit_ok",
                if throttled {
                    HealthStatus::Warn
                } else {
                    HealthStatus::Pass
                },
                if throttled {
                    test.message.clone()
                } else {
                    "not throttled".to_owned()
                },
                took,
            ),
        ])
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// One entity a connector can import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiscoveredEntity {
    /// The name to pass to [`UniversalConnector::fetch`] (`cmdb_ci_appl`, `issues`).
    pub name: String,
    /// A name for people (`Applications`).
    pub display_name: String,
    /// The caller's entity type records are mapped to.
    pub target_type: String,
    /// How many there are, when the vendor says cheaply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Whether the credentials allow reading it.
    pub can_import: bool,
    /// The entity types it has relationships to.
    #[serde(default)]
    pub relationships: Vec<String>,
}

impl DiscoveredEntity {
    /// An importable entity with no count.
    pub fn new(
        name: impl Into<String>,
        display_name: impl Into<String>,
        target_type: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            display_name: display_name.into(),
            target_type: target_type.into(),
            count: None,
            can_import: true,
            relationships: Vec::new(),
        }
    }

    /// The entity described by a mapping.
    pub fn from_mapping(mapping: &EntityMapping) -> Self {
        let mut entity = Self::new(
            &mapping.source_type,
            &mapping.display_name,
            &mapping.target_type,
        );
        let mut targets: Vec<String> = mapping
            .relationships
            .iter()
            .map(|r| r.target_type.clone())
            .collect();
        targets.sort();
        targets.dedup();
        entity.relationships = targets;
        entity
    }

    /// Sets the count.
    pub fn with_count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Sets whether it can be imported.
    pub fn with_can_import(mut self, can_import: bool) -> Self {
        self.can_import = can_import;
        self
    }
}

/// What [`UniversalConnector::discover`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Discovery {
    /// The importable entities.
    pub entities: Vec<DiscoveredEntity>,
    /// The sum of the counts, when every entity has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// How long a full import would take at the vendor's rate limit, when the
    /// counts and the rate-limit hint are known.
    #[serde(
        default,
        with = "opt_duration_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimated_import_time: Option<Duration>,
    /// Things worth knowing (an entity the credentials cannot read).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Discovery {
    /// A discovery over `entities`, computing the total.
    pub fn new(entities: Vec<DiscoveredEntity>) -> Self {
        let total = entities.iter().map(|e| e.count).sum::<Option<u64>>();
        Self {
            entities,
            total,
            estimated_import_time: None,
            warnings: Vec::new(),
        }
    }

    /// A discovery listing the entity of every mapping, without counts.
    pub fn from_mappings(mappings: &[EntityMapping]) -> Self {
        Self::new(
            mappings
                .iter()
                .map(DiscoveredEntity::from_mapping)
                .collect(),
        )
    }

    /// Estimates the import time: one request per page of `page_size` records,
    /// paced at the hint's sustained rate (bursts ignored, so it errs long).
    pub fn with_estimate(mut self, hint: Option<&RateLimitHint>, page_size: u32) -> Self {
        if let Some(hint) = hint
            && self.total.is_some()
            && hint.requests_per_minute > 0
            && page_size > 0
        {
            let pages: u64 = self
                .entities
                .iter()
                .map(|e| e.count.unwrap_or(0).div_ceil(u64::from(page_size)).max(1))
                .sum();
            let secs = pages as f64 * 60.0 / f64::from(hint.requests_per_minute);
            self.estimated_import_time = Some(Duration::from_secs_f64(secs.ceil()));
        }
        self
    }

    /// Adds a warning.
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The entity called `name`.
    pub fn entity(&self, name: &str) -> Option<&DiscoveredEntity> {
        self.entities.iter().find(|e| e.name == name)
    }
}

mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}

/// A connected connector instance.
///
/// Implement `metadata`, `mappings`, `test_connection`, `discover` and `fetch`;
/// the rest have defaults. Everything is `&self`: an instance is shared by the
/// streams it returns and may serve several fetches at once.
///
/// # Examples
///
/// A connector over an in-memory list, paginated two records per page, with a
/// checkpoint after every page:
///
/// ```
/// use async_trait::async_trait;
/// use connector_core::{
///     Checkpoint, Discovery, DiscoveredEntity, FetchOptions, Record, Result, SyncItem,
///     SyncStream, TestResult, UniversalConnector,
/// };
/// use connector_core::mapping::EntityMapping;
/// use connector_core::metadata::{AuthMethod, Category, ConnectorMetadata};
/// use futures::{StreamExt, stream};
///
/// struct Fruit { meta: ConnectorMetadata, names: Vec<&'static str> }
///
/// #[async_trait]
/// impl UniversalConnector for Fruit {
///     fn metadata(&self) -> &ConnectorMetadata { &self.meta }
///     fn mappings(&self) -> &[EntityMapping] { &[] }
///     async fn test_connection(&self) -> TestResult { TestResult::ok("always up") }
///     async fn discover(&self) -> Result<Discovery> {
///         let fruit = DiscoveredEntity::new("fruit", "Fruit", "PRODUCT")
///             .with_count(self.names.len() as u64);
///         Ok(Discovery::new(vec![fruit]))
///     }
///     fn fetch(&self, _entity: &str, options: FetchOptions) -> SyncStream<'_> {
///         let start: usize = options.resume_cursor().and_then(|c| c.parse().ok()).unwrap_or(0);
///         let pages = self.names[start.min(self.names.len())..].chunks(2).enumerate();
///         let items = pages.flat_map(move |(i, page)| {
///             let next = start + (i + 1) * 2;
///             let records = page.iter().map(|n| Ok(SyncItem::from(Record::new("PRODUCT", *n, "fruit"))));
///             let cp = Checkpoint::in_progress("fruit", next.to_string());
///             records.chain(std::iter::once(Ok(SyncItem::from(cp)))).collect::<Vec<_>>()
///         });
///         stream::iter(items.collect::<Vec<_>>()).boxed()
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let meta = ConnectorMetadata::new("fruit", "Fruit", "Example", Category::Other)
///     .with_auth_methods([AuthMethod::Bearer]);
/// let connector: Box<dyn UniversalConnector> =
///     Box::new(Fruit { meta, names: vec!["apple", "banana", "cherry"] });
/// assert!(connector.test_connection().await.success);
/// let items: Vec<SyncItem> = connector
///     .fetch("fruit", FetchOptions::new().with_resume(Checkpoint::in_progress("fruit", "2")))
///     .map(|i| i.unwrap())
///     .collect()
///     .await;
/// assert_eq!(items[0].as_record().unwrap().external_id, "cherry");
/// # });
/// ```
#[async_trait]
pub trait UniversalConnector: Send + Sync {
    /// What this connector is.
    fn metadata(&self) -> &ConnectorMetadata;

    /// The entity mappings in effect (defaults plus config overrides).
    fn mappings(&self) -> &[EntityMapping];

    /// The mapping of `entity`, or the error listing the entities that exist.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`] when no mapping has that source type.
    fn mapping_for(&self, entity: &str) -> Result<&EntityMapping> {
        self.mappings()
            .iter()
            .find(|m| m.source_type == entity)
            .ok_or_else(|| unknown_entity(self.metadata(), self.mappings(), entity))
    }

    /// Checks that the API is reachable and the credentials work, against the
    /// vendor's cheapest authenticated endpoint. Never fails: a failed test is a
    /// [`TestResult`] that says what failed.
    async fn test_connection(&self) -> TestResult;

    /// Named checks (`auth_valid`, `api_reachable`, `rate_limit_ok`), each pass,
    /// warn or fail, with how long it took. Defaults to deriving them from
    /// [`test_connection`](Self::test_connection).
    async fn health(&self) -> HealthReport {
        let started = Instant::now();
        let test = self.test_connection().await;
        HealthReport::from_test(&test, started.elapsed())
    }

    /// Lists the entities this connector can import, with counts when cheap.
    ///
    /// # Errors
    ///
    /// The classified error of the request that failed.
    async fn discover(&self) -> Result<Discovery>;

    /// The schema of `entity`. Defaults to the schema of its mapping.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`] when no mapping has that source type.
    async fn schema(&self, entity: &str) -> Result<EntitySchema> {
        self.mapping_for(entity).map(EntityMapping::schema)
    }

    /// Streams `entity`: records and deletions as pages arrive, and a checkpoint
    /// after each page covering every item before it. The stream never holds more
    /// than the pages in flight.
    ///
    /// Errors arrive as stream items; a stream ends after its first error unless
    /// the connector documents otherwise.
    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_>;

    /// Streams relationships that are entities of their own at the vendor
    /// (ServiceNow `cmdb_rel_ci`). Defaults to none: most relationships travel on
    /// records.
    fn fetch_relationships(&self, _entity: &str, _options: FetchOptions) -> RelationshipStream<'_> {
        Box::pin(stream::empty())
    }

    /// The handler for this connector's webhooks, when it declares `realtime` and
    /// was configured to receive them (a webhook secret). The default: none.
    #[cfg(feature = "webhooks")]
    fn webhook_handler(&self) -> Option<&dyn crate::webhook::WebhookHandler> {
        None
    }

    /// Releases resources (tokens, connections). The default does nothing.
    ///
    /// # Errors
    ///
    /// When revoking a session fails.
    async fn disconnect(&self) -> Result<()> {
        Ok(())
    }
}

/// The error for an entity no mapping knows, listing the ones that exist.
pub fn unknown_entity(
    metadata: &ConnectorMetadata,
    mappings: &[EntityMapping],
    entity: &str,
) -> ConnectorError {
    let known = mappings
        .iter()
        .map(|m| m.source_type.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    ConnectorError::unsupported(format!(
        "connector `{}` has no entity `{entity}`; known entities: {known}",
        metadata.id
    ))
    .with_connector(metadata.id.clone())
    .with_entity(entity)
}

/// Describes a connector and connects it from a config.
#[async_trait]
pub trait ConnectorFactory: Send + Sync {
    /// The connector's metadata.
    fn metadata(&self) -> ConnectorMetadata;

    /// The JSON schema of the connector's `settings` (generate it with
    /// `schemars::schema_for!(YourSettings)`); secret fields are marked with
    /// [`secret_schema`](crate::credentials::secret_schema).
    fn settings_schema(&self) -> schemars::Schema;

    /// The JSON schema of a whole [`ConnectorConfig`] for this connector: the
    /// settings schema embedded in the config envelope, with the credential types.
    fn config_schema(&self) -> Value {
        let mut config = schemars::schema_for!(ConnectorConfig).to_value();
        let mut settings = self.settings_schema().to_value();
        let settings_defs = settings.as_object_mut().and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        });
        if let Some(o) = config.as_object_mut() {
            // Lift the settings' definitions next to the config's so `$ref`s resolve.
            if let Some(Value::Object(defs)) = settings_defs {
                let entry = o
                    .entry("$defs")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(all) = entry.as_object_mut() {
                    all.extend(defs);
                }
            }
            if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
                props.insert("settings".into(), settings);
            }
            let title = format!("{} connector config", self.metadata().name);
            o.insert("title".into(), Value::String(title));
        }
        config
    }

    /// Connects with `config`: validates it, builds the client, and returns the
    /// connected instance. It does not call the vendor; use
    /// [`UniversalConnector::test_connection`] for that.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] naming the invalid field.
    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Category;
    use futures::StreamExt;

    struct Nothing(ConnectorMetadata);

    #[async_trait]
    impl UniversalConnector for Nothing {
        fn metadata(&self) -> &ConnectorMetadata {
            &self.0
        }
        fn mappings(&self) -> &[EntityMapping] {
            &[]
        }
        async fn test_connection(&self) -> TestResult {
            TestResult::from_error(&ConnectorError::new(ErrorKind::RateLimited, "slow down"))
        }
        async fn discover(&self) -> Result<Discovery> {
            Ok(Discovery::new(vec![]))
        }
        fn fetch(&self, entity: &str, _options: FetchOptions) -> SyncStream<'_> {
            let err = unknown_entity(&self.0, &[], entity);
            stream::iter(vec![Err(err)]).boxed()
        }
    }

    /// Object safety and `Send` futures and streams, checked at compile time
    /// (STYLE 14): if a change breaks either, this stops compiling.
    #[allow(dead_code)]
    fn assert_object_safe_and_send(c: Box<dyn UniversalConnector>, f: Box<dyn ConnectorFactory>) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&c.test_connection());
        is_send(&c.health());
        is_send(&c.discover());
        is_send(&c.schema("x"));
        is_send(&c.fetch("x", FetchOptions::new()));
        is_send(&c.fetch_relationships("x", FetchOptions::new()));
        is_send(&c.disconnect());
        is_send(&f.connect(ConnectorConfig::new("o", crate::Credentials::None)));
        fn is_static_send_sync<T: Send + Sync + 'static>() {}
        is_static_send_sync::<Box<dyn UniversalConnector>>();
        is_static_send_sync::<std::sync::Arc<dyn ConnectorFactory>>();
    }

    #[test]
    fn test_result_classification() {
        let auth = TestResult::from_error(&ConnectorError::new(ErrorKind::Auth, "bad token"));
        assert!(!auth.success && !auth.authenticated && auth.endpoint_reachable);
        assert_eq!(auth.message, "authentication failed: bad token");
        let perm = TestResult::from_error(&ConnectorError::new(
            ErrorKind::PermissionDenied,
            "no scope",
        ));
        assert!(perm.authenticated && !perm.permissions_valid);
        let net = TestResult::from_error(&ConnectorError::new(ErrorKind::Network, "refused"));
        assert!(!net.endpoint_reachable);
        assert_eq!(net.error_kind.as_deref(), Some("Network"));
    }

    #[tokio::test]
    async fn default_health_and_schema() {
        let c = Nothing(ConnectorMetadata::new(
            "nothing",
            "Nothing",
            "V",
            Category::Other,
        ));
        let health = c.health().await;
        assert_eq!(health.status, HealthStatus::Warn);
        assert_eq!(
            health.check("rate_limit_ok").map(|c| c.status),
            Some(HealthStatus::Warn)
        );
        assert_eq!(
            health.check("auth_valid").map(|c| c.status),
            Some(HealthStatus::Pass)
        );
        let err = c.schema("users").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let err = c
            .fetch("users", FetchOptions::new())
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("has no entity `users`"), "{err}");
    }

    #[test]
    fn discovery_total_and_estimate() {
        let d = Discovery::new(vec![
            DiscoveredEntity::new("a", "A", "X").with_count(1000),
            DiscoveredEntity::new("b", "B", "Y").with_count(50),
        ])
        .with_estimate(Some(&RateLimitHint::per_minute(60)), 100);
        assert_eq!(d.total, Some(1050));
        // 10 + 1 pages at one request per second.
        assert_eq!(d.estimated_import_time, Some(Duration::from_secs(11)));
        let partial = Discovery::new(vec![
            DiscoveredEntity::new("a", "A", "X").with_count(1),
            DiscoveredEntity::new("b", "B", "Y"),
        ]);
        assert_eq!(partial.total, None);
    }

    #[test]
    fn fetch_options_resolve_cursor_and_since() {
        let mid = FetchOptions::new().with_resume(Checkpoint::in_progress("s", "p3"));
        assert_eq!(mid.resume_cursor(), Some("p3"));
        assert_eq!(mid.incremental_since(), None);
        let t = Utc::now();
        let done = FetchOptions::new().with_resume(Checkpoint::completed("s", Some(t)));
        assert_eq!(done.resume_cursor(), None);
        assert_eq!(done.incremental_since(), Some(t));
    }
}
