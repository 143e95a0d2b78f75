//! The Microsoft Entra ID connector (`azure-ad`) and its factory.
//!
//! - **Reads are delta rounds**: `GET /users/delta?$select=…` (and `/groups/delta`)
//!   with `Prefer: odata.maxpagesize=N`, following `@odata.nextLink` verbatim until
//!   a page carries `@odata.deltaLink`. The first round returns every object; the
//!   delta link is the completed checkpoint's `sync_token`, and a read from that
//!   checkpoint returns only what changed since, with `@removed` entries as
//!   [`SyncItem::Deletion`]s. A delta item that lacks a required property (Graph
//!   may send only the changed ones) is fetched in full by id.
//! - **Checkpoints**: after every page the next link (an in-progress cursor); at
//!   the end the delta link. An expired delta link (410) starts a new full round.
//! - A checkpoint with a watermark but no delta link (or `FetchOptions::since`)
//!   cannot be honoured by Graph, which has no modification time on users and
//!   groups: a watermark in the future yields nothing, one in the past a full round.
//! - **Relationships**: [`fetch_relationships("user")`] reads
//!   `/users?$select=id&$expand=manager($select=id)` and yields
//!   *manager* `MANAGES` *report*.
//! - A record that breaks its mapping is yielded as an
//!   [`ErrorKind::Validation`] error item and the read continues.
//!
//! [`fetch_relationships("user")`]: UniversalConnector::fetch_relationships

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::Utc;
use connector_core::futures::stream::{self, StreamExt};
use connector_core::mapping::{EntityMapping, Mapper, Segment};
use connector_core::metadata::{Priority, ReleaseStatus};
use connector_core::{
    AuthMethod, Capabilities, Category, Checkpoint, ConnectorConfig, ConnectorError,
    ConnectorFactory, ConnectorMetadata, Deletion, DiscoveredEntity, Discovery, ErrorKind,
    FetchOptions, Relationship, RelationshipKind, RelationshipStream, Result, SyncItem, SyncStream,
    TestResult, UniversalConnector, async_trait,
};
use connector_http::HttpClient;
use connector_http::paginate::{Locator, NextUrlPagination, Param};
use serde::Deserialize;
use serde_json::Value;

use crate::client;
use crate::config::{GraphSettings, MAX_DELTA_PAGE_SIZE};
use crate::mapping::default_mappings;

/// The connector id.
pub const CONNECTOR_ID: &str = "azure-ad";

/// The largest page Graph serves with `$expand` on directory objects.
const MAX_EXPAND_PAGE_SIZE: u32 = 100;

/// The connector's metadata.
pub fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new(
        CONNECTOR_ID,
        "Microsoft Entra ID (Azure AD)",
        "Microsoft",
        Category::IdentityAccess,
    )
    .with_description(
        "Imports Entra ID users and groups through Microsoft Graph delta queries, with the \
         manager hierarchy.",
    )
    .with_status(ReleaseStatus::Beta)
    .with_priority(Priority::P0)
    .with_documentation_url("https://docs.rs/connector-msgraph")
    .with_auth_methods([AuthMethod::OAuth2ClientCredentials, AuthMethod::Bearer])
    .with_allowed_hosts(["graph.microsoft.com", "login.microsoftonline.com"])
    .with_capabilities(
        Capabilities::import()
            .with_incremental()
            .with_relationships()
            .with_discovery_counts(),
    )
}

/// Connects Entra ID connectors from a [`ConnectorConfig`].
///
/// Settings: [`GraphSettings`]. Credentials: `oauth2_client_credentials` (an app
/// registration with application permissions) or `bearer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureAdFactory;

impl AzureAdFactory {
    /// The factory.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ConnectorFactory for AzureAdFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(GraphSettings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        Ok(Box::new(AzureAdConnector::new(&config)?))
    }
}

#[derive(Clone)]
struct Entity {
    mapping: EntityMapping,
    mapper: Mapper,
    path: &'static str,
    select: String,
    required: Vec<String>,
}

/// A connected Entra ID connector.
pub struct AzureAdConnector {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    entities: Vec<Entity>,
    client: HttpClient,
    page_size: u32,
}

impl std::fmt::Debug for AzureAdConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureAdConnector")
            .field("client", &self.client)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

fn first_key(path: &connector_core::FieldPath) -> Option<&str> {
    match path.segments().first() {
        Some(Segment::Key(k)) => Some(k),
        _ => None,
    }
}

/// The properties a mapping reads, for `$select` (relationships excluded: they
/// are navigation properties).
pub fn select(mapping: &EntityMapping) -> String {
    let mut keys: Vec<&str> = Vec::new();
    let paths = std::iter::once(&mapping.external_id)
        .chain(&mapping.created_at)
        .chain(&mapping.updated_at)
        .chain(mapping.fields.iter().map(|f| &f.source));
    for key in paths.filter_map(first_key) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.join(",")
}

impl AzureAdConnector {
    /// Validates `config` and builds the connector. It does not call Graph.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] naming the invalid setting, credential or override.
    pub fn new(config: &ConnectorConfig) -> Result<Self> {
        let settings: GraphSettings = config.settings()?;
        let client = client::build(CONNECTOR_ID, &settings, &config.credentials)?;
        let mut mappings = default_mappings();
        if let Some(wanted) = &settings.entities {
            if wanted.is_empty() || wanted.iter().any(|w| w != "user" && w != "group") {
                return Err(ConnectorError::invalid_config(
                    "settings are invalid",
                    vec![connector_core::FieldError::new(
                        "settings.entities",
                        "one_of",
                        "name at least one of `user`, `group`",
                    )],
                ));
            }
            mappings.retain(|m| wanted.contains(&m.source_type));
        }
        for mapping in &mut mappings {
            *mapping = mapping.apply_overrides(&config.mapping_overrides)?;
        }
        let entities = mappings
            .iter()
            .map(|m| {
                Ok(Entity {
                    mapper: Mapper::new(m)?,
                    path: if m.source_type == "group" {
                        "/groups"
                    } else {
                        "/users"
                    },
                    select: select(m),
                    required: m
                        .fields
                        .iter()
                        .filter(|f| f.required)
                        .filter_map(|f| first_key(&f.source).map(str::to_owned))
                        .collect(),
                    mapping: m.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            meta: metadata(),
            mappings,
            entities,
            client,
            page_size: settings.page_size(),
        })
    }

    fn entity(&self, name: &str) -> Result<&Entity> {
        self.entities
            .iter()
            .find(|e| e.mapping.source_type == name)
            .ok_or_else(|| {
                connector_core::connector::unknown_entity(&self.meta, &self.mappings, name)
            })
    }

    async fn count(&self, entity: &Entity) -> Result<u64> {
        let body: Value = self
            .client
            .get(entity.path)
            .query(&[("$count", "true"), ("$top", "1"), ("$select", "id")])
            .header("ConsistencyLevel", "eventual")
            .operation("discover")
            .send()
            .await
            .map_err(client::describe)?
            .json()
            .await?;
        body.get("@odata.count")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                ConnectorError::decode(format!(
                    "Graph answered {} without a numeric `@odata.count`",
                    entity.path
                ))
                .with_connector(CONNECTOR_ID)
            })
    }

    /// One page of a delta round.
    async fn page(&self, url: &str, page_size: u32) -> Result<GraphPage> {
        self.client
            .get(url)
            .header("Prefer", &format!("odata.maxpagesize={page_size}"))
            .operation("fetch")
            .send()
            .await
            .map_err(client::describe)?
            .json()
            .await
    }

    /// The full object `id` when a delta item lacks required properties; `None`
    /// when it no longer exists.
    async fn complete(&self, entity: &Entity, id: &str) -> Result<Option<Value>> {
        let path = format!("{}/{id}", entity.path);
        match self
            .client
            .get(&path)
            .query(&[("$select", entity.select.as_str())])
            .operation("fetch")
            .send()
            .await
        {
            Ok(response) => response.json().await.map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(client::describe(e)),
        }
    }
}

/// One page of a Graph collection or delta round.
#[derive(Debug, Deserialize)]
struct GraphPage {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

struct Round {
    entity: Entity,
    first_url: String,
    url: Option<String>,
    from_token: bool,
    first: bool,
    links: HashSet<u64>,
    seen: u64,
    limit: Option<u64>,
    page_size: u32,
    include_raw: bool,
}

fn hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Round {
    fn error(&self, e: ConnectorError) -> Result<SyncItem> {
        Err(e
            .with_connector(CONNECTOR_ID)
            .with_entity(self.entity.mapping.source_type.clone()))
    }
}

#[async_trait]
impl UniversalConnector for AzureAdConnector {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    /// Lists one user (`GET /users?$top=1&$select=id`): it proves the token and
    /// the `User.Read.All` permission the import needs.
    async fn test_connection(&self) -> TestResult {
        let result = self
            .client
            .get("/users")
            .query(&[("$top", "1"), ("$select", "id")])
            .operation("test_connection")
            .send()
            .await;
        match result {
            Ok(_) => TestResult::ok(format!(
                "connected to Microsoft Graph at {}",
                self.client.redact_url(self.client.base_url().as_str())
            )),
            Err(e) => TestResult::from_error(&client::describe(e)),
        }
    }

    /// Counts users and groups with `$count=true` (`ConsistencyLevel: eventual`);
    /// an entity the app may not read is listed with `can_import: false`.
    async fn discover(&self) -> Result<Discovery> {
        let mut entities = Vec::new();
        let mut warnings = Vec::new();
        for entity in &self.entities {
            let found = DiscoveredEntity::from_mapping(&entity.mapping);
            match self.count(entity).await {
                Ok(n) => entities.push(found.with_count(n)),
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    warnings.push(format!(
                        "`{}` cannot be read: {e}",
                        entity.mapping.source_type
                    ));
                    entities.push(found.with_can_import(false));
                }
                Err(e) => return Err(e),
            }
        }
        let mut discovery = Discovery::new(entities);
        for w in warnings {
            discovery = discovery.with_warning(w);
        }
        Ok(discovery)
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let found = match self.entity(entity) {
            Ok(e) => e.clone(),
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        if let Some(cp) = &options.resume
            && let Err(e) = cp.validate_for(entity)
        {
            return stream::once(async move { Err(e.with_connector(CONNECTOR_ID)) }).boxed();
        }
        let fresh = format!("{}/delta?$select={}", found.path, found.select);
        let token = options
            .resume
            .as_ref()
            .filter(|c| c.complete)
            .and_then(|c| c.sync_token.clone());
        let (start, from_token) = match (options.resume_cursor(), token) {
            (Some(cursor), _) => (cursor.to_owned(), false),
            (None, Some(delta)) => (delta, true),
            (None, None) => {
                // A bound Graph cannot apply: nothing can have changed after a
                // future instant; anything else needs a full round.
                if let Some(since) = options.incremental_since()
                    && since > Utc::now()
                {
                    let cp = Checkpoint::completed(entity.to_owned(), Some(since));
                    return stream::once(async move { Ok(SyncItem::from(cp)) }).boxed();
                }
                (fresh.clone(), false)
            }
        };
        let round = Round {
            entity: found,
            first_url: fresh,
            url: Some(start),
            from_token,
            first: true,
            links: HashSet::new(),
            seen: options
                .resume
                .as_ref()
                .filter(|c| !c.complete)
                .map_or(0, |c| c.records_seen),
            limit: options.limit,
            page_size: options
                .page_size
                .unwrap_or(self.page_size)
                .clamp(1, MAX_DELTA_PAGE_SIZE),
            include_raw: options.include_raw,
        };
        stream::unfold(round, move |mut round| async move {
            let url = round.url.take()?;
            let page = match self.page(&url, round.page_size).await {
                Ok(p) => p,
                Err(e) if round.first && round.from_token && e.context().http_status == Some(410) => {
                    tracing::warn!(entity = %round.entity.mapping.source_type, "the delta link expired; starting a full round");
                    round.from_token = false;
                    round.url = Some(round.first_url.clone());
                    return Some((stream::iter(Vec::new()), round));
                }
                Err(e) => {
                    let err = round.error(e);
                    return Some((stream::iter(vec![err]), round));
                }
            };
            round.first = false;
            let target = round.entity.mapping.target_type.clone();
            let name = round.entity.mapping.source_type.clone();
            let mut out: Vec<Result<SyncItem>> = Vec::with_capacity(page.value.len() + 1);
            for mut item in page.value {
                if round.limit.is_some_and(|l| round.seen >= l) {
                    // Resume re-reads this page: at least once, never lost.
                    let cp = Checkpoint::in_progress(name.clone(), url.clone()).with_records_seen(round.seen);
                    out.push(Ok(cp.into()));
                    return Some((stream::iter(out), round));
                }
                let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
                if item.get("@removed").is_some() {
                    match id {
                        Some(id) => out.push(Ok(Deletion::new(target.clone(), id).into())),
                        None => out.push(round.error(ConnectorError::decode("a `@removed` entry has no `id`"))),
                    }
                    continue;
                }
                let partial = round.entity.required.iter().any(|k| item.get(k).is_none());
                if partial && let Some(id) = &id {
                    match self.complete(&round.entity, id).await {
                        Ok(Some(full)) => item = full,
                        Ok(None) => {
                            out.push(Ok(Deletion::new(target.clone(), id.clone()).into()));
                            continue;
                        }
                        Err(e) => {
                            out.push(round.error(e));
                            return Some((stream::iter(out), round));
                        }
                    }
                }
                let connector = connector_core::Name::from_static(CONNECTOR_ID);
                let mapper = &round.entity.mapper;
                // Without `raw` kept, the record's values move out of the item.
                let mapped = if round.include_raw {
                    mapper.map(&item, connector).map(|r| r.map(|r| r.with_raw(item)))
                } else {
                    mapper.map_owned(item, connector)
                };
                match mapped {
                    Ok(Some(record)) => {
                        round.seen += 1;
                        out.push(Ok(record.into()));
                    }
                    Ok(None) => {}
                    Err(e) => out.push(Err(e.with_entity(name.clone()))),
                }
            }
            let checkpoint = match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    if !round.links.insert(hash(&next)) {
                        out.push(round.error(ConnectorError::protocol(
                            "Graph repeated an @odata.nextLink; stopping instead of looping",
                        )));
                        return Some((stream::iter(out), round));
                    }
                    round.url = Some(next.clone());
                    Checkpoint::in_progress(name.clone(), next)
                }
                (None, Some(delta)) => Checkpoint::completed(name.clone(), None).with_sync_token(delta),
                (None, None) => Checkpoint::completed(name.clone(), None),
            };
            out.push(Ok(checkpoint.with_records_seen(round.seen).into()));
            if round.limit.is_some_and(|l| round.seen >= l) {
                round.url = None;
            }
            Some((stream::iter(out), round))
        })
        .flatten()
        .boxed()
    }

    /// `user`: every user's manager, as *manager* `MANAGES` *user*, from
    /// `/users?$select=id&$expand=manager($select=id)` (pages of at most 100, the
    /// `$expand` limit). `group`: none yet.
    fn fetch_relationships(&self, entity: &str, options: FetchOptions) -> RelationshipStream<'_> {
        let found = match self.entity(entity) {
            Ok(e) => e,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        if found.mapping.source_type != "user" {
            return stream::empty().boxed();
        }
        let target = found.mapping.target_type.clone();
        let page_size = options
            .page_size
            .unwrap_or(self.page_size)
            .clamp(1, MAX_EXPAND_PAGE_SIZE);
        self.client
            .get("/users")
            .query(&[("$select", "id"), ("$expand", "manager($select=id)")])
            .operation("fetch_relationships")
            .paginate(
                NextUrlPagination::new(Locator::body("@odata.nextLink"))
                    .with_page_size_param(Param::query("$top")),
            )
            .page_size(page_size)
            .at("value")
            .items::<Value>()
            .filter_map(move |item| {
                let out = match item {
                    Ok(user) => {
                        let id = user.get("id").and_then(Value::as_str);
                        let manager = user.pointer("/manager/id").and_then(Value::as_str);
                        match (id, manager) {
                            (Some(id), Some(manager)) => Some(Ok(Relationship::new(
                                (target.clone(), manager.to_owned()),
                                RelationshipKind::Manages,
                                (target.clone(), id.to_owned()),
                            ))),
                            _ => None,
                        }
                    }
                    Err(e) => Some(Err(client::describe(e).with_entity("user"))),
                };
                async move { out }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_mapped_properties() {
        let m = default_mappings();
        assert_eq!(
            select(&m[0]),
            "id,createdDateTime,userPrincipalName,displayName,givenName,surname,jobTitle,department,officeLocation,mobilePhone"
        );
        assert_eq!(
            select(&m[1]),
            "id,createdDateTime,displayName,description,mail"
        );
    }
}
