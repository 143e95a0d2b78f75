//! The GitHub connector: [`GithubConnector`] implements
//! [`UniversalConnector`] over the REST API.
//!
//! - `test_connection` calls `GET /user` (who the token is) and
//!   `GET /orgs/{org}` (whether the organization is visible); 401 is an
//!   authentication failure, 403 a missing permission.
//! - `health` adds the core rate-limit budget from `GET /rate_limit` (which does
//!   not count against it).
//! - `discover` counts each entity with one `per_page=1` request: the page number
//!   of the `rel="last"` link is the number of items.
//! - `fetch` follows `Link` headers at up to 100 items per page and yields a
//!   checkpoint after every page. Issues are read repository by repository
//!   (`state=all&sort=created&direction=asc`, so updates during a read never shift
//!   an unread issue onto a page already read), with `since` for incremental reads
//!   (updated at or after; the boundary is re-read and upserts are idempotent).
//!   Repositories are filtered by `updated_at` on the client (GitHub has no `since`
//!   for them); members are always read in full (GitHub reports no change time).
//!   Each issue carries a `PART_OF` relationship to its repository (by the
//!   repository's numeric id, read once per repository with `GET /repos/{o}/{r}`).

use std::time::Instant;

use async_trait::async_trait;
use connector_core::chrono::{DateTime, Utc};
use connector_core::futures::stream::{self, BoxStream, StreamExt};
use connector_core::mapping::{FieldPath, FilterOp, FilterRule, RecordSeed, TypedMapping};
use connector_core::pagination::parse_link_header;
use connector_core::serde_json::Value;
use connector_core::{
    Checkpoint, ConnectorError, ConnectorMetadata, DiscoveredEntity, Discovery, EntityMapping,
    ErrorKind, FetchOptions, HealthCheck, HealthReport, HealthStatus, Mapper, Page, Record,
    Relationship, RelationshipKind, Result, SyncItem, SyncStream, TestResult, UniversalConnector,
};
use connector_http::HttpClient;
use connector_http::paginate::{LinkHeaderPagination, Param};
use serde::de::DeserializeSeed;
use serde::{Deserialize, Serialize};

use crate::client::{self, API_VERSION};
use crate::config::{GithubSettings, MAX_PAGE_SIZE};
use crate::mapping::{ISSUES, MEMBERS, REPOSITORIES};

/// A connected GitHub connector. Build it with
/// [`GithubConnectorFactory`](crate::GithubConnectorFactory).
pub struct GithubConnector {
    meta: ConnectorMetadata,
    settings: GithubSettings,
    client: HttpClient,
    mappings: Vec<EntityMapping>,
    mappers: Vec<Mapper>,
    webhook: Option<crate::GithubWebhookHandler>,
}

impl std::fmt::Debug for GithubConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConnector")
            .field("settings", &self.settings)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Which listing an entity reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Repositories,
    Members,
    Issues,
}

impl Entity {
    fn parse(name: &str) -> Option<Self> {
        match name {
            REPOSITORIES => Some(Entity::Repositories),
            MEMBERS => Some(Entity::Members),
            ISSUES => Some(Entity::Issues),
            _ => None,
        }
    }

    /// Whether GitHub reports change times the read can be bounded by.
    fn incremental(self) -> bool {
        !matches!(self, Entity::Members)
    }
}

/// One paginated listing of a read: the organization's repositories, its
/// members, or one repository's issues.
#[derive(Debug, Clone)]
struct Segment {
    /// A stable name for checkpoints: the path.
    key: String,
    path: String,
    query: Vec<(&'static str, String)>,
    /// `owner/name` for issue listings.
    repository: Option<String>,
}

/// The resume token of a GitHub read, serialised into checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The segment to continue (its key).
    segment: String,
    /// The next page's URL within it; `None` starts the segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The incremental lower bound of the read being resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
    /// The latest change time seen before this point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<DateTime<Utc>>,
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn decode(token: &str) -> Result<Self> {
        serde_json::from_str(token).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Protocol,
                format!("the checkpoint's cursor is not a GitHub cursor ({e}); start a full read"),
            )
        })
    }
}

impl GithubConnector {
    pub(crate) fn new(
        meta: ConnectorMetadata,
        settings: GithubSettings,
        client: HttpClient,
        mappings: Vec<EntityMapping>,
        mappers: Vec<Mapper>,
        webhook: Option<crate::GithubWebhookHandler>,
    ) -> Self {
        Self {
            meta,
            settings,
            client,
            mappings,
            mappers,
            webhook,
        }
    }

    /// The settings in effect.
    pub fn settings(&self) -> &GithubSettings {
        &self.settings
    }

    fn org_path(&self, what: &str) -> String {
        format!("/orgs/{}/{what}", self.settings.organization)
    }

    fn segments(&self, entity: Entity) -> Vec<Segment> {
        match entity {
            Entity::Repositories => {
                let path = self.org_path("repos");
                vec![Segment {
                    key: path.clone(),
                    path,
                    query: vec![
                        ("type", "all".to_owned()),
                        ("sort", "created".to_owned()),
                        ("direction", "asc".to_owned()),
                    ],
                    repository: None,
                }]
            }
            Entity::Members => {
                let path = self.org_path("members");
                vec![Segment {
                    key: path.clone(),
                    path,
                    query: Vec::new(),
                    repository: None,
                }]
            }
            Entity::Issues => self
                .settings
                .repositories
                .iter()
                .map(|repo| {
                    let path = format!("/repos/{repo}/issues");
                    Segment {
                        key: path.clone(),
                        path,
                        query: vec![
                            ("state", "all".to_owned()),
                            ("sort", "created".to_owned()),
                            ("direction", "asc".to_owned()),
                        ],
                        repository: Some(repo.clone()),
                    }
                })
                .collect(),
        }
    }

    fn fail(&self, entity: &str, operation: &'static str, err: ConnectorError) -> ConnectorError {
        client::explain(err)
            .with_connector(crate::ID)
            .with_operation(operation)
            .with_entity(entity.to_owned())
    }

    /// The number of items a listing holds, from one `per_page=1` request.
    async fn count(&self, segment: &Segment) -> Result<u64> {
        let response = self
            .client
            .get(&segment.path)
            .query(&segment.query)
            .query(&[("per_page", "1")])
            .operation("discover")
            .send()
            .await?;
        let last_page = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_link_header)
            .find(|l| l.has_rel("last"))
            .and_then(|l| {
                connector_http::Url::parse(l.uri()).ok().and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "page")
                        .map(|(_, v)| v.into_owned())
                })
            })
            .and_then(|p| p.parse::<u64>().ok());
        if let Some(pages) = last_page {
            return Ok(pages);
        }
        let items: Vec<Value> = response.json().await?;
        Ok(items.len() as u64)
    }

    async fn count_entity(&self, entity: Entity) -> Result<u64> {
        let mut total = 0;
        for segment in self.segments(entity) {
            total += self.count(&segment).await?;
        }
        Ok(total)
    }

    /// The numeric id of `owner/name`, which issue relationships point at.
    async fn repository_id(&self, repository: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct Repo {
            id: Value,
        }
        let repo: Repo = self
            .client
            .get(&format!("/repos/{repository}"))
            .operation("fetch")
            .send()
            .await?
            .json()
            .await?;
        match repo.id {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) if !s.is_empty() => Ok(s),
            other => Err(ConnectorError::decode(format!(
                "repository `{repository}` has id {other}, not a number"
            ))),
        }
    }

    async fn check_user(&self) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        match self
            .client
            .get("/user")
            .operation("test_connection")
            .send()
            .await
        {
            Ok(response) => Ok(Some(response.json::<User>().await?.login)),
            // GitHub App installation tokens may not read `/user`; the organization
            // check below still proves the token works.
            Err(e) if e.kind() == ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn check_org(&self) -> Result<()> {
        self.client
            .get(&format!("/orgs/{}", self.settings.organization))
            .operation("test_connection")
            .send()
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    let message = format!(
                        "organization `{}` does not exist or the token cannot see it",
                        self.settings.organization
                    );
                    e.with_message(message)
                } else {
                    e
                }
            })?;
        Ok(())
    }
}

#[async_trait]
impl UniversalConnector for GithubConnector {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn webhook_handler(&self) -> Option<&dyn connector_core::webhook::WebhookHandler> {
        self.webhook
            .as_ref()
            .map(|h| h as &dyn connector_core::webhook::WebhookHandler)
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        let user = match self.check_user().await {
            Ok(user) => user,
            Err(e) => return TestResult::from_error(&self.fail("user", "test_connection", e)),
        };
        if let Err(e) = self.check_org().await {
            return TestResult::from_error(&self.fail("organization", "test_connection", e));
        }
        let who = user.map_or_else(
            || "with an app installation token".to_owned(),
            |login| format!("as `{login}`"),
        );
        TestResult::ok(format!(
            "authenticated {who}; organization `{}` is visible",
            self.settings.organization
        ))
        .with_api_version(API_VERSION)
    }

    async fn health(&self) -> HealthReport {
        #[derive(Deserialize)]
        struct Budget {
            limit: u64,
            remaining: u64,
        }
        #[derive(Deserialize)]
        struct Resources {
            core: Budget,
        }
        #[derive(Deserialize)]
        struct RateLimit {
            resources: Resources,
        }
        let started = Instant::now();
        let test = self.test_connection().await;
        let mut report = HealthReport::from_test(&test, started.elapsed());
        if !test.success {
            return report;
        }
        let started = Instant::now();
        let budget = async {
            self.client
                .get("/rate_limit")
                .operation("health")
                .send()
                .await?
                .json::<RateLimit>()
                .await
        }
        .await;
        let check = match budget {
            Ok(RateLimit {
                resources: Resources { core },
            }) => {
                let status = if core.remaining == 0 {
                    HealthStatus::Fail
                } else if core.remaining.saturating_mul(10) < core.limit {
                    HealthStatus::Warn
                } else {
                    HealthStatus::Pass
                };
                HealthCheck::new(
                    "rate_limit_ok",
                    status,
                    format!(
                        "{} of {} core requests left this hour",
                        core.remaining, core.limit
                    ),
                    started.elapsed(),
                )
            }
            Err(e) => HealthCheck::new(
                "rate_limit_ok",
                HealthStatus::Warn,
                format!(
                    "the rate-limit budget could not be read: {}",
                    client::explain(e).message()
                ),
                started.elapsed(),
            ),
        };
        let mut checks: Vec<HealthCheck> = report
            .checks
            .drain(..)
            .filter(|c| c.name != "rate_limit_ok")
            .collect();
        checks.push(check);
        HealthReport::new(checks)
    }

    async fn discover(&self) -> Result<Discovery> {
        let mut entities = Vec::new();
        let mut warnings = Vec::new();
        for mapping in &self.mappings {
            let Some(entity) = Entity::parse(&mapping.source_type) else {
                continue;
            };
            let mut found = DiscoveredEntity::from_mapping(mapping);
            if entity == Entity::Issues && self.settings.repositories.is_empty() {
                found = found.with_can_import(false);
                warnings.push(
                    "`issues` needs `settings.repositories` (`owner/name` entries)".to_owned(),
                );
                entities.push(found);
                continue;
            }
            match self.count_entity(entity).await {
                Ok(n) if entity != Entity::Issues || self.settings.include_pull_requests => {
                    found = found.with_count(n);
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) => {
                    let e = self.fail(&mapping.source_type, "discover", e);
                    warnings.push(format!(
                        "`{}` cannot be read: {}",
                        mapping.source_type,
                        e.message()
                    ));
                    found = found.with_can_import(false);
                }
                Err(e) => return Err(self.fail(&mapping.source_type, "discover", e)),
            }
            entities.push(found);
        }
        let mut discovery =
            Discovery::new(entities).with_estimate(self.meta.rate_limit.as_ref(), MAX_PAGE_SIZE);
        for w in warnings {
            discovery = discovery.with_warning(w);
        }
        Ok(discovery)
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let found = Entity::parse(entity).and_then(|e| {
            self.mappings
                .iter()
                .position(|m| m.source_type == entity)
                .map(|i| (e, i))
        });
        let Some((kind, index)) = found else {
            let err = connector_core::connector::unknown_entity(&self.meta, &self.mappings, entity);
            return stream::once(async move { Err(err) }).boxed();
        };
        if kind == Entity::Issues && self.settings.repositories.is_empty() {
            let err = ConnectorError::invalid_config(
                "GitHub settings",
                vec![connector_core::FieldError::new(
                    "settings.repositories",
                    "required",
                    "list the repositories (`owner/name`) whose issues to import",
                )],
            )
            .with_connector(crate::ID)
            .with_entity(entity.to_owned());
            return stream::once(async move { Err(err) }).boxed();
        }
        let run = match Run::start(self, kind, index, &options) {
            Ok(run) => run,
            Err(e) => {
                let err = self.fail(entity, "fetch", e);
                return stream::once(async move { Err(err) }).boxed();
            }
        };
        stream::unfold(run, |mut run| async move {
            let batch = run.step().await?;
            Some((stream::iter(batch), run))
        })
        .flatten()
        .boxed()
    }
}

/// Pages whose items were mapped where they were decoded: a record, `None` for an
/// item left out, or the item's mapping error.
type MappedPages = BoxStream<'static, Result<Page<Result<Option<Record>>>>>;

/// The state of one fetch: which segment, its page stream, the watermark so far.
struct Run<'a> {
    connector: &'a GithubConnector,
    kind: Entity,
    entity: String,
    mapper: Mapper,
    segments: Vec<Segment>,
    segment: usize,
    /// The segment's pages, each item already mapped by an [`ItemSeed`].
    pages: Option<MappedPages>,
    resume_next: Option<String>,
    since: Option<DateTime<Utc>>,
    max_seen: Option<DateTime<Utc>>,
    page_size: u32,
    remaining: Option<u64>,
    repository_id: Option<String>,
    finished: bool,
}

impl<'a> Run<'a> {
    fn start(
        connector: &'a GithubConnector,
        kind: Entity,
        index: usize,
        options: &FetchOptions,
    ) -> Result<Self> {
        let mapping = &connector.mappings[index];
        let segments = connector.segments(kind);
        let (segment, resume_next, since, max_seen) = match options.resume_cursor() {
            Some(token) => {
                let cursor = Cursor::decode(token)?;
                let at = segments
                    .iter()
                    .position(|s| s.key == cursor.segment)
                    .ok_or_else(|| {
                        ConnectorError::new(
                            ErrorKind::Protocol,
                            format!(
                                "the checkpoint continues `{}`, which the settings no longer list; start a full read",
                                cursor.segment
                            ),
                        )
                    })?;
                (at, cursor.next, cursor.since, cursor.max)
            }
            None => (
                0,
                None,
                options.incremental_since().filter(|_| kind.incremental()),
                None,
            ),
        };
        Ok(Self {
            connector,
            kind,
            entity: mapping.source_type.clone(),
            mapper: read_mapper(connector, kind, index, options)?,
            segments,
            segment,
            pages: None,
            resume_next,
            since,
            max_seen,
            page_size: options
                .page_size
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            remaining: options.limit,
            repository_id: None,
            finished: false,
        })
    }

    fn fail(&mut self, err: ConnectorError) -> Option<Vec<Result<SyncItem>>> {
        self.finished = true;
        Some(vec![Err(self.connector.fail(&self.entity, "fetch", err))])
    }

    fn watermark(&self) -> Option<DateTime<Utc>> {
        if !self.kind.incremental() {
            return None;
        }
        match (self.since, self.max_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn cursor(&self, segment: usize, next: Option<String>) -> String {
        Cursor {
            segment: self.segments[segment].key.clone(),
            next,
            since: self.since,
            max: self.max_seen,
        }
        .encode()
    }

    /// The next batch of items: a page's records and its checkpoint, or an error,
    /// or `None` when the read is over.
    async fn step(&mut self) -> Option<Vec<Result<SyncItem>>> {
        loop {
            if self.finished {
                return None;
            }
            let Some(segment) = self.segments.get(self.segment).cloned() else {
                self.finished = true;
                let checkpoint = Checkpoint::completed(self.entity.clone(), self.watermark());
                return Some(vec![Ok(checkpoint.into())]);
            };
            if self.pages.is_none() {
                if let Some(repo) = &segment.repository {
                    match self.connector.repository_id(repo).await {
                        Ok(id) => self.repository_id = Some(id),
                        Err(e) => return self.fail(e),
                    }
                }
                let mut query = segment.query.clone();
                if let Some(since) = self.since.filter(|_| self.kind == Entity::Issues) {
                    query.push((
                        "since",
                        since.to_rfc3339_opts(connector_core::chrono::SecondsFormat::Secs, true),
                    ));
                }
                // Items are decoded straight into records on the tasks that
                // decode their pages.
                let items = ItemSeed {
                    seed: self
                        .mapper
                        .record_seed(connector_core::Name::from_static(crate::ID)),
                    part_of: self
                        .repository_id
                        .clone()
                        .filter(|_| self.kind == Entity::Issues),
                };
                let pages = self
                    .connector
                    .client
                    .get(&segment.path)
                    .query(&query)
                    .operation("fetch")
                    .paginate(
                        LinkHeaderPagination::new().with_page_size_param(Param::query("per_page")),
                    )
                    .page_size(self.page_size)
                    .resume_from(self.resume_next.take())
                    .pages_with_seed(items);
                self.pages = Some(pages);
            }
            let next = match self.pages.as_mut() {
                Some(pages) => pages.next().await,
                None => None,
            };
            match next {
                None => {
                    self.pages = None;
                    self.segment += 1;
                }
                Some(Err(e)) => return self.fail(e),
                Some(Ok(page)) => return Some(self.on_page(page)),
            }
        }
    }

    fn on_page(&mut self, page: Page<Result<Option<Record>>>) -> Vec<Result<SyncItem>> {
        let last = page.is_last();
        let token = page.resume_token().map(str::to_owned);
        let mut out: Vec<Result<SyncItem>> = Vec::with_capacity(page.len() + 1);
        for mapped in page.into_items() {
            if self.remaining == Some(0) {
                break;
            }
            match mapped {
                Ok(Some(record)) => {
                    if let Some(at) = record.updated_at {
                        self.max_seen = Some(self.max_seen.map_or(at, |m| m.max(at)));
                    }
                    // GitHub filters issues by `since`; repositories are filtered here.
                    if self.kind == Entity::Repositories
                        && let (Some(since), Some(at)) = (self.since, record.updated_at)
                        && at < since
                    {
                        continue;
                    }
                    if let Some(left) = self.remaining.as_mut() {
                        *left -= 1;
                    }
                    out.push(Ok(record.into()));
                }
                Ok(None) => {}
                Err(e) => out.push(Err(e
                    .with_connector(crate::ID)
                    .with_entity(self.entity.clone()))),
            }
        }
        if self.remaining == Some(0) {
            self.finished = true;
            return out;
        }
        let checkpoint = if last {
            self.pages = None;
            self.segment += 1;
            if self.segment < self.segments.len() {
                Checkpoint::in_progress(self.entity.clone(), self.cursor(self.segment, None))
            } else {
                self.finished = true;
                Checkpoint::completed(self.entity.clone(), self.watermark())
            }
        } else {
            Checkpoint::in_progress(self.entity.clone(), self.cursor(self.segment, token))
        };
        out.push(Ok(checkpoint.into()));
        out
    }
}

/// The mapper of one read: the entity's, keeping raw objects when asked to, and
/// for issues without pull requests, with a filter that skips an item carrying a
/// `pull_request` object (the issues API lists pull requests as issues).
fn read_mapper(
    connector: &GithubConnector,
    kind: Entity,
    index: usize,
    options: &FetchOptions,
) -> Result<Mapper> {
    let mapper = &connector.mappers[index];
    let mapper = if kind == Entity::Issues && !connector.settings.include_pull_requests {
        let mut mapping = mapper.mapping().clone();
        mapping.filters.push(FilterRule {
            field: FieldPath::key("pull_request"),
            op: FilterOp::Missing,
            value: None,
        });
        Mapper::with_registry(
            &mapping,
            &<crate::mapping::Issue as TypedMapping>::transform_registry(),
        )?
    } else {
        mapper.clone()
    };
    Ok(mapper.with_raw(options.include_raw))
}

/// Decodes one item of a read into its record, on the task that decoded its
/// page: the read's mapper decodes only the fields it reads (the whole item when
/// raw objects are kept), and an issue is linked to its repository.
struct ItemSeed {
    seed: RecordSeed,
    /// The repository an issue is `PART_OF`, for issues.
    part_of: Option<String>,
}

impl<'de> DeserializeSeed<'de> for &ItemSeed {
    type Value = Result<Option<Record>>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        let record = (&self.seed).deserialize(deserializer)?;
        Ok(record.map(|record| record.map(|record| self.link(record))))
    }
}

impl ItemSeed {
    fn link(&self, record: Record) -> Record {
        let Some(repo) = &self.part_of else {
            return record;
        };
        let from = (record.entity_type.clone(), record.external_id.clone());
        record.with_relationship(Relationship::new(
            from,
            RelationshipKind::Other("PART_OF".to_owned()),
            (
                connector_core::Name::from_static("REPOSITORY"),
                repo.clone(),
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            segment: "/repos/o/r/issues".into(),
            next: Some("https://api.github.com/repositories/1/issues?page=2".into()),
            since: None,
            max: None,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
        let err = Cursor::decode("3").err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::Protocol));
    }

    #[test]
    fn connector_futures_and_streams_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        fn check(c: &dyn UniversalConnector) {
            assert_send(&c.fetch("issues", FetchOptions::new()));
            assert_send(&c.test_connection());
            assert_send(&c.discover());
        }
        let _ = check;
    }
}
