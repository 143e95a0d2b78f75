//! The [`UniversalConnector`] for ServiceNow CMDB and its factory.
//!
//! - **Reads** go through the Table API, `GET /api/now/table/{table}`, with
//!   `sysparm_limit`/`sysparm_offset` paging ordered by `sys_id` (offsets stay
//!   stable while rows change), `sysparm_fields` naming only the mapped columns
//!   (dot-walked ones such as `owned_by.email` included) and
//!   `sysparm_exclude_reference_link=true`. The read ends at `X-Total-Count`, not
//!   on a short page: ACLs can drop rows from a page after the query ran.
//! - **Checkpoints** follow every page: the next offset while a read runs; at the
//!   end, a completed checkpoint whose watermark is the newest `sys_updated_on`
//!   read (capped five minutes before the read started, so rows changed during
//!   the read are read again next time).
//! - **Incremental** reads add `sys_updated_on>=YYYY-MM-DD HH:MM:SS` (UTC) to
//!   `sysparm_query`. Deletions are not visible through the Table API; run a full
//!   read to reconcile them.
//! - **Relationships** come from `cmdb_rel_ci` ([`fetch_relationships`]): rows whose
//!   parent is a CI of the table, typed by the relationship type's name.
//! - A row that breaks its mapping is yielded as an
//!   [`ErrorKind::Validation`] error item and the read **continues**; any other
//!   error ends the stream.
//!
//! [`fetch_relationships`]: UniversalConnector::fetch_relationships

use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, SecondsFormat, Utc};
use connector_core::futures::stream::{self, StreamExt};
use connector_core::mapping::{EntityMapping, Mapper, Segment};
use connector_core::metadata::{Priority, ReleaseStatus};
use connector_core::{
    AuthMethod, Capabilities, Category, Checkpoint, ConnectorConfig, ConnectorError,
    ConnectorFactory, ConnectorMetadata, DiscoveredEntity, Discovery, ErrorKind, FetchOptions,
    Page, Record, Relationship, RelationshipKind, RelationshipStream, Result, SyncItem, SyncStream,
    TestResult, UniversalConnector, async_trait,
};
use connector_http::HttpClient;
use connector_http::paginate::{EndCondition, Locator, OffsetPagination};
use serde_json::Value;

use crate::client::{self, CONNECTOR_ID};
use crate::config::{MAX_PAGE_SIZE, ServiceNowSettings};
use crate::mapping::default_mappings;

/// The relationship table.
pub const REL_TABLE: &str = "cmdb_rel_ci";

/// How far before the start of a read its watermark may reach: rows changed while
/// a read runs are read again by the next incremental read.
const WATERMARK_SAFETY: ChronoDuration = ChronoDuration::minutes(5);

/// The connector's metadata.
pub fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new(
        CONNECTOR_ID,
        "ServiceNow CMDB",
        "ServiceNow",
        Category::Itsm,
    )
    .with_description(
        "Imports applications, servers and business services from the ServiceNow CMDB \
             (Table API), with their cmdb_rel_ci relationships.",
    )
    .with_status(ReleaseStatus::Beta)
    .with_priority(Priority::P0)
    .with_documentation_url("https://docs.rs/connector-servicenow")
    .with_auth_methods([
        AuthMethod::Basic,
        AuthMethod::OAuth2ClientCredentials,
        AuthMethod::OAuth2RefreshToken,
        AuthMethod::Bearer,
    ])
    .with_allowed_hosts(["*.service-now.com"])
    .with_capabilities(
        Capabilities::import()
            .with_incremental()
            .with_relationships()
            .with_discovery_counts(),
    )
}

/// Connects ServiceNow CMDB connectors from a [`ConnectorConfig`].
///
/// Settings: [`ServiceNowSettings`]. Credentials: `basic`, `bearer`,
/// `oauth2_client_credentials` or `oauth2_refresh_token`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceNowFactory;

impl ServiceNowFactory {
    /// The factory.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ConnectorFactory for ServiceNowFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(ServiceNowSettings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        Ok(Box::new(ServiceNowConnector::new(&config)?))
    }
}

/// One table the connector reads: its mapping and the compiled mapper.
#[derive(Clone)]
struct Table {
    mapping: EntityMapping,
    mapper: Mapper,
    fields: String,
}

/// A connected ServiceNow CMDB connector.
pub struct ServiceNowConnector {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    tables: Vec<Table>,
    client: HttpClient,
    page_size: u32,
}

impl std::fmt::Debug for ServiceNowConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowConnector")
            .field("client", &self.client)
            .field(
                "tables",
                &self
                    .mappings
                    .iter()
                    .map(|m| &m.source_type)
                    .collect::<Vec<_>>(),
            )
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl ServiceNowConnector {
    /// Validates `config` and builds the connector. It does not call the instance.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] naming the invalid setting, credential, table or
    /// mapping override.
    pub fn new(config: &ConnectorConfig) -> Result<Self> {
        let settings: ServiceNowSettings = config.settings()?;
        let client = client::build(&settings, &config.credentials)?;
        let mut mappings = default_mappings();
        if let Some(tables) = &settings.tables {
            let unknown: Vec<&String> = tables
                .iter()
                .filter(|t| !mappings.iter().any(|m| &m.source_type == *t))
                .collect();
            if !unknown.is_empty() || tables.is_empty() {
                return Err(ConnectorError::invalid_config(
                    "settings are invalid",
                    vec![connector_core::FieldError::new(
                        "settings.tables",
                        "one_of",
                        format!(
                            "name at least one of cmdb_ci_appl, cmdb_ci_server, cmdb_ci_service \
                             (unknown: {unknown:?})"
                        ),
                    )],
                ));
            }
            mappings.retain(|m| tables.contains(&m.source_type));
        }
        for mapping in &mut mappings {
            *mapping = mapping.apply_overrides(&config.mapping_overrides)?;
        }
        let tables = mappings
            .iter()
            .map(|m| {
                Ok(Table {
                    mapper: Mapper::new(m)?,
                    fields: sysparm_fields(m),
                    mapping: m.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            meta: metadata(),
            mappings,
            tables,
            client,
            page_size: settings.page_size(),
        })
    }

    fn table(&self, entity: &str) -> Result<&Table> {
        self.tables
            .iter()
            .find(|t| t.mapping.source_type == entity)
            .ok_or_else(|| {
                connector_core::connector::unknown_entity(&self.meta, &self.mappings, entity)
            })
    }

    /// The number of rows of `table`, from `X-Total-Count` of a one-row request.
    async fn count(&self, table: &str) -> Result<u64> {
        let response = self
            .client
            .get(&table_path(table))
            .query(&[("sysparm_limit", "1"), ("sysparm_fields", "sys_id")])
            .operation("discover")
            .send()
            .await
            .map_err(|e| client::describe(e).with_entity(table))?;
        let total = response.header("x-total-count").map(str::to_owned);
        drop(response);
        total
            .as_deref()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ConnectorError::decode(format!(
                    "the Table API answered without a numeric X-Total-Count for `{table}`"
                ))
                .with_connector(CONNECTOR_ID)
                .with_entity(table)
            })
    }

    fn page_size(&self, options: &FetchOptions) -> u32 {
        options
            .page_size
            .unwrap_or(self.page_size)
            .clamp(1, MAX_PAGE_SIZE)
    }
}

fn table_path(table: &str) -> String {
    format!("/api/now/table/{table}")
}

/// The columns a mapping reads, for `sysparm_fields`: the first key of every
/// path (a dot-walked `owned_by.email` is one quoted key).
pub fn sysparm_fields(mapping: &EntityMapping) -> String {
    let mut fields: Vec<String> = Vec::new();
    let mut add = |path: &connector_core::FieldPath| {
        if let Some(Segment::Key(key)) = path.segments().first()
            && !fields.contains(key)
        {
            fields.push(key.clone());
        }
    };
    add(&mapping.external_id);
    for path in mapping.created_at.iter().chain(&mapping.updated_at) {
        add(path);
    }
    for field in &mapping.fields {
        add(&field.source);
    }
    for rel in &mapping.relationships {
        add(&rel.source_field);
    }
    fields.join(",")
}

/// A time in the Table API's format: `YYYY-MM-DD HH:MM:SS`, UTC.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Parses the Table API's `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(raw.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// The encoded query of a read: the caller's filter, the incremental bound, a
/// stable order.
///
/// # Errors
///
/// [`ErrorKind::Config`] when the filter is not a string or starts a new query
/// (`^NQ`), which would escape the incremental bound.
pub fn encoded_query(filter: Option<&Value>, since: Option<DateTime<Utc>>) -> Result<String> {
    let mut terms: Vec<String> = Vec::new();
    match filter {
        None | Some(Value::Null) => {}
        Some(Value::String(q)) if q.trim().is_empty() => {}
        Some(Value::String(q)) => {
            if q.contains("^NQ") || q.contains("ORDERBY") {
                return Err(ConnectorError::config(
                    "filters.query: use an encoded query without `^NQ` or `ORDERBY`; the \
                     connector adds its own order and incremental bound",
                ));
            }
            terms.push(q.trim().to_owned());
        }
        Some(_) => {
            return Err(ConnectorError::config(
                "filters.query: expected an encoded query string such as `operational_status=1`",
            ));
        }
    }
    if let Some(since) = since {
        terms.push(format!("sys_updated_on>={}", format_time(since)));
    }
    terms.push("ORDERBYsys_id".to_owned());
    Ok(terms.join("^"))
}

/// Where a read is.
struct ReadState {
    entity: String,
    since: Option<DateTime<Utc>>,
    watermark: Option<DateTime<Utc>>,
    seen: u64,
    limit: Option<u64>,
    started: DateTime<Utc>,
    done: bool,
}

impl ReadState {
    /// The checkpoint after everything read so far, `next` being the offset of the
    /// next row (`None` at the end).
    fn checkpoint(&self, next: Option<String>) -> Checkpoint {
        match next {
            Some(offset) => {
                let mut cp = Checkpoint::in_progress(self.entity.clone(), offset)
                    .with_watermark(self.watermark)
                    .with_records_seen(self.seen);
                if let Some(since) = self.since {
                    cp = cp.with_sync_token(since.to_rfc3339_opts(SecondsFormat::Secs, true));
                }
                cp
            }
            None => {
                let capped = self
                    .watermark
                    .map(|w| w.min(self.started - WATERMARK_SAFETY));
                Checkpoint::completed(self.entity.clone(), capped.max(self.since))
                    .with_records_seen(self.seen)
            }
        }
    }

    /// Yields one page of items the pages' decode tasks already mapped, ending
    /// with its checkpoint.
    fn page(&mut self, page: Page<Result<Option<Record>>>) -> Vec<Result<SyncItem>> {
        let start: u64 = page.token().and_then(|t| t.parse().ok()).unwrap_or(0);
        let next = page.resume_token().map(str::to_owned);
        let mut out = Vec::with_capacity(page.len() + 1);
        for (i, mapped) in page.into_items().into_iter().enumerate() {
            if self.limit.is_some_and(|l| self.seen >= l) {
                out.push(Ok(self
                    .checkpoint(Some((start + i as u64).to_string()))
                    .into()));
                self.done = true;
                return out;
            }
            match mapped {
                Ok(Some(record)) => {
                    self.watermark = self.watermark.max(record.updated_at);
                    self.seen += 1;
                    out.push(Ok(record.into()));
                }
                Ok(None) => {}
                Err(e) => out.push(Err(e.with_entity(self.entity.clone()))),
            }
        }
        self.done = next.is_none() || self.limit.is_some_and(|l| self.seen >= l);
        out.push(Ok(self.checkpoint(next).into()));
        out
    }
}

#[async_trait]
impl UniversalConnector for ServiceNowConnector {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    /// Reads one row of the first configured table (`sysparm_limit=1`): it proves
    /// the credentials and the read permission the import needs.
    async fn test_connection(&self) -> TestResult {
        let Some(table) = self.tables.first() else {
            return TestResult::from_error(&ConnectorError::config("no table is configured"));
        };
        let table = &table.mapping.source_type;
        let result = self
            .client
            .get(&table_path(table))
            .query(&[("sysparm_limit", "1"), ("sysparm_fields", "sys_id")])
            .operation("test_connection")
            .send()
            .await;
        match result {
            Ok(response) => {
                let version = response.header("x-is-version").map(str::to_owned);
                let ok = TestResult::ok(format!(
                    "connected to ServiceNow at {} and read `{table}`",
                    self.client.redact_url(self.client.base_url().as_str())
                ));
                match version {
                    Some(v) => ok.with_api_version(v),
                    None => ok,
                }
            }
            Err(e) => TestResult::from_error(&client::describe(e)),
        }
    }

    /// Counts every table with `X-Total-Count`; a table the user may not read is
    /// listed with `can_import: false` and a warning instead of failing discovery.
    async fn discover(&self) -> Result<Discovery> {
        let mut entities = Vec::new();
        let mut warnings = Vec::new();
        for table in &self.tables {
            let entity = DiscoveredEntity::from_mapping(&table.mapping);
            match self.count(&table.mapping.source_type).await {
                Ok(n) => entities.push(entity.with_count(n)),
                Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) => {
                    warnings.push(format!(
                        "`{}` cannot be read: {e}",
                        table.mapping.source_type
                    ));
                    entities.push(entity.with_can_import(false));
                }
                Err(e) => return Err(e),
            }
        }
        let mut discovery = Discovery::new(entities);
        for w in warnings {
            discovery = discovery.with_warning(w);
        }
        Ok(discovery.with_estimate(self.meta.rate_limit.as_ref(), self.page_size))
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let table = match self.table(entity) {
            Ok(t) => t.clone(),
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let resume = options.resume.as_ref().filter(|c| !c.complete);
        if let Some(cp) = &options.resume
            && let Err(e) = cp.validate_for(entity)
        {
            return stream::once(async move { Err(e.with_connector(CONNECTOR_ID)) }).boxed();
        }
        // An interrupted incremental read keeps its bound in the sync token.
        let since = match resume {
            Some(cp) => cp.sync_token.as_deref().and_then(parse_time),
            None => options.incremental_since(),
        };
        let query = match encoded_query(options.filters.get("query"), since) {
            Ok(q) => q,
            Err(e) => {
                return stream::once(async move { Err(e.with_connector(CONNECTOR_ID)) }).boxed();
            }
        };
        let state = ReadState {
            entity: entity.to_owned(),
            since,
            watermark: resume.and_then(|c| c.watermark),
            seen: resume.map_or(0, |c| c.records_seen),
            limit: options.limit,
            started: Utc::now(),
            done: false,
        };
        let mapper = table.mapper.with_raw(options.include_raw);
        let pages = self
            .client
            .get(&table_path(entity))
            .query(&[
                ("sysparm_query", query.as_str()),
                ("sysparm_fields", table.fields.as_str()),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_display_value", "false"),
            ])
            .operation("fetch")
            .paginate(
                OffsetPagination::new("sysparm_offset", "sysparm_limit")
                    .with_end(EndCondition::Total(Locator::header("X-Total-Count"))),
            )
            .page_size(self.page_size(&options))
            .resume_from(options.resume_cursor().map(str::to_owned))
            .concurrency(options.concurrency.unwrap_or(1).max(1))
            .at("result")
            // Each row is decoded straight into its record on the task that
            // decodes its page: only the fields the mapping reads are decoded
            // (the whole row when `raw` is kept).
            .pages_with_seed(mapper.record_seed(connector_core::Name::from_static(CONNECTOR_ID)));
        stream::unfold((pages, state), |(mut pages, mut state)| async move {
            if state.done {
                return None;
            }
            let items = match pages.next().await {
                None => return None,
                Some(Err(e)) => {
                    state.done = true;
                    vec![Err(client::describe(e).with_entity(state.entity.clone()))]
                }
                Some(Ok(page)) => state.page(page),
            };
            Some((stream::iter(items), (pages, state)))
        })
        .flatten()
        .boxed()
    }

    /// Streams `cmdb_rel_ci` rows whose parent is a CI of `entity` (or every row,
    /// for `entity` = `cmdb_rel_ci`) whose two ends are CIs of the configured
    /// tables, as relationships typed by the relationship type's name. See the
    /// crate README for the table of type names.
    fn fetch_relationships(&self, entity: &str, options: FetchOptions) -> RelationshipStream<'_> {
        let parent_filter = if entity == REL_TABLE {
            None
        } else {
            match self.table(entity) {
                Ok(_) => Some(format!("parent.sys_class_nameINSTANCEOF{entity}")),
                Err(e) => return stream::once(async move { Err(e) }).boxed(),
            }
        };
        let filter = parent_filter.map(Value::String);
        let query = match encoded_query(filter.as_ref(), options.incremental_since()) {
            Ok(q) => q,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let types: Arc<Vec<(String, String)>> = Arc::new(
            self.mappings
                .iter()
                .map(|m| (m.source_type.clone(), m.target_type.clone()))
                .collect(),
        );
        let entity = entity.to_owned();
        self.client
            .get(&table_path(REL_TABLE))
            .query(&[
                ("sysparm_query", query.as_str()),
                (
                    "sysparm_fields",
                    "sys_id,parent,child,type.name,parent.sys_class_name,child.sys_class_name,sys_updated_on",
                ),
                ("sysparm_exclude_reference_link", "true"),
            ])
            .operation("fetch_relationships")
            .paginate(
                OffsetPagination::new("sysparm_offset", "sysparm_limit")
                    .with_end(EndCondition::Total(Locator::header("X-Total-Count"))),
            )
            .page_size(self.page_size(&options))
            .at("result")
            .items::<Value>()
            .filter_map(move |row| {
                let out = match row {
                    Ok(row) => relationship(&row, &types).map(Ok),
                    Err(e) => Some(Err(client::describe(e).with_entity(entity.clone()))),
                };
                async move { out }
            })
            .boxed()
    }
}

/// The table a CI class belongs to, for the classes the connector imports:
/// the table itself and its subclasses (`cmdb_ci_linux_server` is a server,
/// `cmdb_ci_appl_*`/`cmdb_ci_app_server_*` are applications,
/// `cmdb_ci_service_*` and `service_offering` are services).
pub fn base_table(class: &str) -> Option<&'static str> {
    if class == "cmdb_ci_appl"
        || class.starts_with("cmdb_ci_appl_")
        || class.starts_with("cmdb_ci_app_server")
    {
        Some("cmdb_ci_appl")
    } else if class == "cmdb_ci_server"
        || (class.starts_with("cmdb_ci_") && class.ends_with("_server"))
    {
        Some("cmdb_ci_server")
    } else if class == "cmdb_ci_service"
        || class.starts_with("cmdb_ci_service_")
        || class == "service_offering"
    {
        Some("cmdb_ci_service")
    } else {
        None
    }
}

/// How a `cmdb_rel_type` name (`"Depends on::Used by"`) reads as a relationship:
/// the kind and whether it runs from the child to the parent.
pub fn relationship_kind(type_name: &str) -> (RelationshipKind, bool) {
    let parent_side = type_name
        .split("::")
        .next()
        .unwrap_or(type_name)
        .trim()
        .to_ascii_lowercase();
    match parent_side.as_str() {
        "depends on" => (RelationshipKind::DependsOn, false),
        "uses" => (RelationshipKind::Uses, false),
        "used by" => (RelationshipKind::Uses, true),
        "runs on" | "hosted on" | "virtualized by" => (RelationshipKind::RunsOn, false),
        "runs" | "hosts" | "virtualizes" => (RelationshipKind::RunsOn, true),
        "provides" | "serves" => (RelationshipKind::Serves, false),
        "provided by" | "served by" => (RelationshipKind::Serves, true),
        "contains" => (RelationshipKind::Contains, false),
        "contained by" => (RelationshipKind::Contains, true),
        _ => (
            RelationshipKind::Other(parent_side.to_ascii_uppercase().replace([' ', '-'], "_")),
            false,
        ),
    }
}

fn text<'a>(row: &'a Value, key: &str) -> Option<&'a str> {
    match row.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o
            .get("value")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// One `cmdb_rel_ci` row as a relationship, or `None` when an end is not a CI of
/// a configured table. A business service that "Depends on" an application is
/// reported the seed's way round: the application SERVES the service.
fn relationship(row: &Value, types: &[(String, String)]) -> Option<Relationship> {
    let type_of = |class_key: &str| {
        let table = base_table(text(row, class_key)?)?;
        types
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, target)| target.clone())
    };
    let parent = (
        type_of("parent.sys_class_name")?,
        text(row, "parent")?.to_owned(),
    );
    let child = (
        type_of("child.sys_class_name")?,
        text(row, "child")?.to_owned(),
    );
    let (kind, reversed) =
        relationship_kind(text(row, "type.name").unwrap_or("Depends on::Used by"));
    let serves = kind == RelationshipKind::DependsOn
        && parent.0 == "BUSINESS_SERVICE"
        && child.0 == "APPLICATION_COMPONENT";
    Some(if serves {
        Relationship::new(child, RelationshipKind::Serves, parent).with_strength(80)
    } else if reversed {
        Relationship::new(child, kind, parent)
    } else {
        Relationship::new(parent, kind, child)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_queries() {
        let mappings = default_mappings();
        assert_eq!(
            sysparm_fields(&mappings[0]),
            "sys_id,sys_created_on,sys_updated_on,name,short_description,owned_by.email,\
             operational_status,u_criticality,cost_cc.cost_center,install_status,version,vendor,\
             depends_on,used_by"
        );
        let since = parse_time("2024-01-15 10:00:00");
        assert_eq!(
            encoded_query(Some(&json!("operational_status=1")), since)
                .ok()
                .as_deref(),
            Some("operational_status=1^sys_updated_on>=2024-01-15 10:00:00^ORDERBYsys_id")
        );
        assert_eq!(
            encoded_query(None, None).ok().as_deref(),
            Some("ORDERBYsys_id")
        );
        assert!(encoded_query(Some(&json!("a=1^NQb=2")), None).is_err());
        assert!(encoded_query(Some(&json!(5)), None).is_err());
    }

    #[test]
    fn relationship_types_and_classes() {
        let types = vec![
            (
                "cmdb_ci_appl".to_owned(),
                "APPLICATION_COMPONENT".to_owned(),
            ),
            ("cmdb_ci_server".to_owned(), "NODE".to_owned()),
            ("cmdb_ci_service".to_owned(), "BUSINESS_SERVICE".to_owned()),
        ];
        let row = |p: &str, c: &str, t: &str| {
            json!({"sys_id": "r", "parent": "p1", "child": "c1", "type.name": t,
                   "parent.sys_class_name": p, "child.sys_class_name": c})
        };
        let rel = relationship(
            &row("cmdb_ci_appl", "cmdb_ci_linux_server", "Runs on::Runs"),
            &types,
        )
        .expect("rel");
        assert_eq!(
            (
                rel.from_type.as_str(),
                rel.kind.as_str(),
                rel.to_type.as_str()
            ),
            ("APPLICATION_COMPONENT", "RUNS_ON", "NODE")
        );
        let rel = relationship(
            &row("cmdb_ci_win_server", "cmdb_ci_appl", "Runs::Runs on"),
            &types,
        )
        .expect("rel");
        assert_eq!(
            (&*rel.from_id, rel.kind.as_str(), rel.to_id.as_str()),
            ("c1", "RUNS_ON", "p1")
        );
        let rel = relationship(
            &row("cmdb_ci_service", "cmdb_ci_appl", "Depends on::Used by"),
            &types,
        )
        .expect("rel");
        assert_eq!(
            (rel.from_type.as_str(), rel.kind.as_str()),
            ("APPLICATION_COMPONENT", "SERVES")
        );
        let rel = relationship(
            &row("cmdb_ci_appl", "cmdb_ci_appl", "Depends on::Used by"),
            &types,
        )
        .expect("rel");
        assert_eq!(rel.kind, RelationshipKind::DependsOn);
        assert!(
            relationship(
                &row("cmdb_ci_appl", "cmdb_ci_netgear", "Uses::Used by"),
                &types
            )
            .is_none()
        );
        assert_eq!(
            relationship_kind("Members::Member of").0.as_str(),
            "MEMBERS"
        );
        assert_eq!(
            base_table("cmdb_ci_app_server_tomcat"),
            Some("cmdb_ci_appl")
        );
        assert_eq!(base_table("service_offering"), Some("cmdb_ci_service"));
    }
}
