//! The reference connector the testkit proves itself with: "Acme Desk", a small
//! but complete connector on `connector-http`, and the deliberately broken
//! variants the suite must catch ([`Bug`]).
//!
//! - `tickets` at `/api/tickets`: offset/limit, `{"items": [...], "total": N}`;
//! - `users` at `/api/users`: GitHub-style `Link` header, bare array;
//! - both filter by `since` on `updated_at`; tickets point at their assignee;
//! - `GET /api/me` for the connection test, `GET /api/stats` for counts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use connector_core::futures::stream::{self, BoxStream, StreamExt};
use connector_core::schemars::{self, JsonSchema};
use connector_core::serde_json::{Value, json};
use connector_core::{
    AuthMethod, Capabilities, Category, Checkpoint, ConnectorConfig, ConnectorError,
    ConnectorFactory, ConnectorMetadata, Credentials, DiscoveredEntity, Discovery, EntityMapping,
    FetchOptions, Mapper, Result, SyncItem, SyncStream, TestResult, UniversalConnector,
    async_trait,
};
use connector_http::auth::Bearer;
use connector_http::paginate::{
    EndCondition, LinkHeaderPagination, Locator, OffsetPagination, Pagination, Param,
};
use connector_http::{ExposeSecret, HttpClient, RetryPolicy};
use connector_testkit::fake::{
    AuthGuard, Envelope, ErrorStyle, FakeApi, FakeCollection, FakeEndpoint, Paging,
};
use connector_testkit::suite::{BadConfig, ContractFixture};
use serde::Deserialize;

/// A deliberate defect, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bug {
    /// The correct connector.
    None,
    /// Never yields the records of the last page.
    DropsLastPage,
    /// Yields the first page twice.
    DuplicatesPage,
    /// Puts its token into every error message.
    LeaksToken,
    /// Retries throttled pages at once, ignoring `Retry-After`.
    IgnoresRetryAfter,
    /// Reads incrementally with `updated > watermark` instead of `>=`.
    ExclusiveSince,
    /// Keeps no raw objects, even when asked to.
    IgnoresRaw,
}

pub(crate) const TICKETS: usize = 10;
pub(crate) const USERS: usize = 7;

fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new("acme-desk", "Acme Desk", "Acme", Category::Itsm)
        .with_documentation_url("https://docs.example.com/connectors/acme-desk")
        .with_auth_methods([AuthMethod::Bearer])
        .with_capabilities(
            Capabilities::import()
                .with_incremental()
                .with_discovery_counts()
                .with_relationships(),
        )
}

fn mappings() -> Vec<EntityMapping> {
    let tickets = EntityMapping::from_json(
        r#"{
        "source_type": "tickets", "target_type": "TICKET", "display_name": "Tickets",
        "external_id": "id", "updated_at": "updated_at",
        "fields": [
            { "source": "title", "target": "title", "required": true },
            { "source": "status", "target": "status", "transform": "upper" }
        ],
        "relationships": [ { "source_field": "assignee_id", "target_type": "PERSON", "kind": "OWNS" } ]
    }"#,
    )
    .expect("tickets mapping");
    let users = EntityMapping::from_json(
        r#"{
        "source_type": "users", "target_type": "PERSON", "display_name": "Users",
        "external_id": "id", "updated_at": "updated_at",
        "fields": [
            { "source": "login", "target": "login", "required": true },
            { "source": "email", "target": "email", "required": true }
        ],
        "validation": [ { "field": "email", "rule": "email" } ]
    }"#,
    )
    .expect("users mapping");
    vec![tickets, users]
}

/// Settings of Acme Desk.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The API root, e.g. `https://acme.example.com`.
    #[schemars(length(min = 1))]
    base_url: String,
    /// Per-request timeout in seconds; 0 disables it (tests on the paused clock).
    #[serde(default)]
    timeout_secs: Option<u64>,
    /// A webhook signing secret (marked secret in the schema).
    #[serde(default)]
    #[schemars(schema_with = "connector_core::credentials::optional_secret_schema")]
    webhook_secret: Option<String>,
}

pub(crate) struct AcmeFactory {
    pub(crate) bug: Bug,
}

#[async_trait]
impl ConnectorFactory for AcmeFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(Settings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        let settings: Settings = config.settings()?;
        let _ = settings.webhook_secret;
        let token = match &config.credentials {
            Credentials::Bearer { token } => token.expose_secret().to_owned(),
            other => {
                return Err(ConnectorError::config(format!(
                    "credentials: acme-desk needs a bearer token, got `{}`",
                    other.kind()
                )));
            }
        };
        let timeout = match settings.timeout_secs {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => Some(Duration::from_secs(30)),
        };
        let retry = match self.bug {
            Bug::IgnoresRetryAfter => RetryPolicy::none(),
            _ => RetryPolicy::default()
                .with_jitter(false)
                .with_initial_backoff(Duration::from_millis(100)),
        };
        let build = move || {
            HttpClient::builder(settings.base_url.clone())
                .with_connector("acme-desk")
                .with_system_proxy(false)
                .with_timeout(timeout)
                .with_connect_timeout(timeout)
                .with_auth(Bearer::new(token.clone()))
                .with_retry(retry.clone())
                .build()
        };
        Ok(Box::new(AcmeDesk {
            meta: metadata(),
            mappings: mappings(),
            client: build()?,
            bug: self.bug,
            token: match &config.credentials {
                Credentials::Bearer { token } => token.expose_secret().to_owned(),
                _ => String::new(),
            },
            build: Box::new(build),
        }))
    }
}

pub(crate) struct AcmeDesk {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    client: HttpClient,
    bug: Bug,
    token: String,
    /// Builds a fresh client: the bug "retry with a new client" uses it.
    build: Box<dyn Fn() -> Result<HttpClient> + Send + Sync>,
}

/// Where a read is: the next page's token, the `since` filter, the running watermark.
#[derive(Clone)]
struct Cursor {
    token: Option<String>,
    since: Option<DateTime<Utc>>,
    watermark: Option<DateTime<Utc>>,
    page: u64,
    done: bool,
}

impl AcmeDesk {
    fn leak(&self, e: ConnectorError) -> ConnectorError {
        match self.bug {
            Bug::LeaksToken => {
                let message = format!("{} (sent with token {})", e.message(), self.token);
                e.with_message(message)
            }
            _ => e,
        }
    }

    fn strategy(entity: &str) -> Pagination {
        match entity {
            "users" => LinkHeaderPagination::new()
                .with_page_size_param(Param::query("per_page"))
                .into(),
            _ => OffsetPagination::default()
                .with_end(EndCondition::Total(Locator::body("total")))
                .into(),
        }
    }

    /// Fetches one page starting at `cursor`.
    async fn page(
        &self,
        client: &HttpClient,
        entity: &str,
        page_size: u32,
        cursor: &Cursor,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let path = format!("/api/{entity}");
        let mut request = client.get(&path).operation("fetch");
        if let Some(since) = cursor.since {
            let since = match self.bug {
                Bug::ExclusiveSince => since + chrono::Duration::seconds(1),
                _ => since,
            };
            request = request.query(&[("since", since.to_rfc3339_opts(SecondsFormat::Secs, true))]);
        }
        let mut pages = request
            .paginate(Self::strategy(entity))
            .page_size(page_size)
            .resume_from(cursor.token.clone())
            .at(if entity == "users" { "" } else { "items" })
            .pages::<Value>();
        match pages.next().await {
            Some(Ok(page)) => {
                let next = page.resume_token().map(str::to_owned);
                Ok((page.into_items(), next))
            }
            Some(Err(e)) => Err(e),
            None => Ok((Vec::new(), None)),
        }
    }

    /// The page. With [`Bug::IgnoresRetryAfter`] a throttled page is retried at
    /// once on a fresh client (which knows nothing of the server's pause).
    async fn page_with_bug(
        &self,
        entity: &str,
        page_size: u32,
        cursor: &Cursor,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let mut attempt = 0;
        let mut client = self.client.clone();
        loop {
            match self.page(&client, entity, page_size, cursor).await {
                Err(e) if self.bug == Bug::IgnoresRetryAfter && e.is_retryable() && attempt < 5 => {
                    attempt += 1;
                    client = (self.build)()?;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl UniversalConnector for AcmeDesk {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        let result = self
            .client
            .get("/api/me")
            .operation("test_connection")
            .send()
            .await;
        match result {
            Ok(_) => TestResult::ok("connected to Acme Desk"),
            Err(e) => TestResult::from_error(&self.leak(e)),
        }
    }

    async fn discover(&self) -> Result<Discovery> {
        let stats: Value = self
            .client
            .get("/api/stats")
            .operation("discover")
            .send()
            .await
            .map_err(|e| self.leak(e))?
            .json()
            .await?;
        let entities = self
            .mappings
            .iter()
            .map(|m| {
                let entity = DiscoveredEntity::from_mapping(m);
                match stats.get(&m.source_type).and_then(Value::as_u64) {
                    Some(n) => entity.with_count(n),
                    None => entity,
                }
            })
            .collect();
        Ok(Discovery::new(entities))
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let Some(mapping) = self.mappings.iter().find(|m| m.source_type == entity) else {
            let err = connector_core::connector::unknown_entity(&self.meta, &self.mappings, entity);
            return stream::once(async move { Err(err) }).boxed();
        };
        let mapper = match Mapper::new(mapping) {
            Ok(m) => m.with_raw(options.include_raw && self.bug != Bug::IgnoresRaw),
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let entity = entity.to_owned();
        let page_size = options.page_size.unwrap_or(50);
        let resume = options.resume.clone().filter(|c| !c.complete);
        let cursor = Cursor {
            token: options.resume_cursor().map(str::to_owned),
            since: match &resume {
                Some(cp) => cp
                    .sync_token
                    .as_deref()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc)),
                None => options.incremental_since(),
            },
            watermark: resume
                .as_ref()
                .and_then(|c| c.watermark)
                .or(options.incremental_since()),
            page: 0,
            done: false,
        };
        let pages: BoxStream<'_, Result<Vec<SyncItem>>> =
            stream::unfold((cursor, mapper), move |(mut cursor, mapper)| {
                let entity = entity.clone();
                async move {
                    if cursor.done {
                        return None;
                    }
                    let (items, next) = match self.page_with_bug(&entity, page_size, &cursor).await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            cursor.done = true;
                            return Some((Err(self.leak(e)), (cursor, mapper)));
                        }
                    };
                    let mut out = Vec::new();
                    for raw in items {
                        match mapper.map_owned(raw, "acme-desk") {
                            Ok(Some(record)) => {
                                cursor.watermark = cursor.watermark.max(record.updated_at);
                                out.push(SyncItem::from(record));
                            }
                            Ok(None) => {}
                            Err(e) => {
                                cursor.done = true;
                                return Some((Err(e), (cursor, mapper)));
                            }
                        }
                    }
                    if self.bug == Bug::DuplicatesPage && cursor.page == 0 {
                        let again = out.clone();
                        out.extend(again);
                    }
                    if self.bug == Bug::DropsLastPage && next.is_none() {
                        out.clear();
                    }
                    let checkpoint = match &next {
                        Some(token) => {
                            let mut cp = Checkpoint::in_progress(entity.clone(), token.clone())
                                .with_watermark(cursor.watermark);
                            if let Some(since) = cursor.since {
                                cp = cp.with_sync_token(
                                    since.to_rfc3339_opts(SecondsFormat::Secs, true),
                                );
                            }
                            cp
                        }
                        None => Checkpoint::completed(entity.clone(), cursor.watermark),
                    };
                    out.push(SyncItem::from(checkpoint));
                    cursor.token = next;
                    cursor.done = cursor.token.is_none();
                    cursor.page += 1;
                    Some((Ok(out), (cursor, mapper)))
                }
            })
            .boxed();
        pages
            .flat_map(|page| match page {
                Ok(items) => stream::iter(items.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed()
    }
}

/// The fixture data: tickets and users.
pub(crate) fn tickets() -> Vec<Value> {
    (0..TICKETS)
        .map(|i| {
            json!({
                "id": format!("T{i}"),
                "title": format!("Printer {i} is on fire"),
                "status": if i % 2 == 0 { "open" } else { "closed" },
                "assignee_id": format!("U{}", i % USERS),
                "updated_at": format!("2026-01-{:02}T10:00:00Z", i + 1),
            })
        })
        .collect()
}

pub(crate) fn users() -> Vec<Value> {
    (0..USERS)
        .map(|i| {
            json!({
                "id": format!("U{i}"),
                "login": format!("agent{i}"),
                "email": format!("agent{i}@example.com"),
                "updated_at": format!("2026-02-{:02}T08:30:00Z", i + 1),
            })
        })
        .collect()
}

/// Acme Desk's fixture, with or without a bug.
pub(crate) struct AcmeFixture {
    pub(crate) bug: Bug,
}

impl AcmeFixture {
    pub(crate) fn correct() -> Self {
        Self { bug: Bug::None }
    }
}

/// The fake Acme Desk API, accepting `secret` as its bearer token.
pub(crate) async fn acme_fake(secret: &str) -> FakeApi {
    let api = FakeApi::builder()
        .auth(AuthGuard::bearer(secret))
        .errors(ErrorStyle::GitHub)
        .start()
        .await;
    FakeCollection::new("tickets", "/api/tickets", tickets())
        .paging(Paging::offset().with_total("total"))
        .envelope(Envelope::items())
        .max_page_size(50)
        .since_param("since", "updated_at")
        .mount(&api)
        .await
        .expect("tickets collection");
    FakeCollection::new("users", "/api/users", users())
        .paging(Paging::link_header())
        .envelope(Envelope::Bare)
        .page_size(30)
        .max_page_size(100)
        .since_param("since", "updated_at")
        .mount(&api)
        .await
        .expect("users collection");
    FakeEndpoint::get("me", "/api/me", json!({"id": "U0", "login": "agent0"}))
        .mount(&api)
        .await;
    FakeEndpoint::get(
        "stats",
        "/api/stats",
        json!({"tickets": TICKETS, "users": USERS}),
    )
    .mount(&api)
    .await;
    api
}

pub(crate) fn acme_config(base_url: &str, secret: &str) -> ConnectorConfig {
    let credentials: Credentials =
        connector_core::serde_json::from_value(json!({"type": "bearer", "token": secret}))
            .expect("credentials");
    ConnectorConfig::new("org-1", credentials)
        .with_settings(json!({ "base_url": base_url, "timeout_secs": 0 }))
}

#[async_trait]
impl ContractFixture for AcmeFixture {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(AcmeFactory { bug: self.bug })
    }

    async fn start_fake(&self, secret: &str) -> FakeApi {
        acme_fake(secret).await
    }

    fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
        acme_config(base_url, secret)
    }

    fn bad_config(&self, _base_url: &str) -> BadConfig {
        let config = ConnectorConfig::new("org-1", Credentials::None)
            .with_settings(json!({ "timeout_secs": 5 }));
        BadConfig::new(config, "settings.base_url")
    }
}
