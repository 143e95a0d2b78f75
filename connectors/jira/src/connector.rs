//! The Jira Cloud connector: [`JiraConnector`] implements [`UniversalConnector`]
//! over REST API v3.
//!
//! - `test_connection` calls `GET /rest/api/3/myself`; 401 is an authentication
//!   failure, 403 a missing permission.
//! - `discover` counts projects from the `total` of a one-item page and issues with
//!   `POST /rest/api/3/search/approximate-count` (approximate, as the name says, so
//!   the connector does not declare exact discovery counts).
//! - `fetch("projects")` pages `GET /rest/api/3/project/search` by
//!   `startAt`/`maxResults` until `isLast`.
//! - `fetch("epic")` and `fetch("story")` page `GET /rest/api/3/search/jql` by
//!   `nextPageToken` until `isLast` (the old `startAt` search is gone), with a
//!   bounded JQL: `issuetype in (...)`, the configured projects and extra JQL,
//!   `ORDER BY created ASC, key ASC`.
//! - Incremental reads add `updated >= "yyyy/MM/dd HH:mm"`. JQL dates have minute
//!   precision and are read in the user's time zone, so the literal is the
//!   watermark converted to that zone (or widened by 12 hours when the zone is
//!   unknown) and floored to the minute: the boundary minute is re-read, and
//!   records older than the watermark are dropped here, so a resumed read yields
//!   exactly the records changed at or after the watermark.

use async_trait::async_trait;
use connector_core::chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Utc};
use connector_core::futures::stream::{self, StreamExt};
use connector_core::pagination::{EndCondition, Flag};
use connector_core::serde_json::{Value, json};
use connector_core::{
    ConnectorError, ConnectorMetadata, DiscoveredEntity, Discovery, EntityMapping, ErrorKind,
    FetchOptions, Mapper, Result, SyncStream, TestResult, UniversalConnector, sync,
};
use connector_http::HttpClient;
use connector_http::paginate::{CursorPagination, OffsetPagination, Param};
use serde::Deserialize;

use crate::client;
use crate::config::{JiraSettings, MAX_PROJECT_PAGE, MAX_SEARCH_PAGE, unknown_zone_slack};
use crate::mapping::{EPIC, ISSUE_FIELDS, PROJECTS, STORY, adf_to_text};

/// The path of the JQL search.
pub const SEARCH_PATH: &str = "/rest/api/3/search/jql";
/// The path of the project search.
pub const PROJECT_SEARCH_PATH: &str = "/rest/api/3/project/search";
/// The path of the approximate issue count.
pub const COUNT_PATH: &str = "/rest/api/3/search/approximate-count";
/// The path of the current user.
pub const MYSELF_PATH: &str = "/rest/api/3/myself";

/// A connected Jira Cloud connector. Build it with
/// [`JiraConnectorFactory`](crate::JiraConnectorFactory).
pub struct JiraConnector {
    meta: ConnectorMetadata,
    settings: JiraSettings,
    client: HttpClient,
    mappings: Vec<EntityMapping>,
    mappers: Vec<Mapper>,
}

impl std::fmt::Debug for JiraConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraConnector")
            .field("settings", &self.settings)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Myself {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    #[serde(default, rename = "accountId")]
    account_id: Option<String>,
    #[serde(default, rename = "timeZone")]
    time_zone: Option<String>,
}

/// Quotes a JQL string value.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The JQL date literal for an incremental lower bound: `since` seen from a zone
/// `offset` east of UTC (JQL reads dates in the user's zone), floored to the minute.
pub fn jql_date(since: DateTime<Utc>, offset: ChronoDuration) -> String {
    (since + offset).format("%Y/%m/%d %H:%M").to_string()
}

impl JiraConnector {
    pub(crate) fn new(
        meta: ConnectorMetadata,
        settings: JiraSettings,
        client: HttpClient,
        mappings: Vec<EntityMapping>,
        mappers: Vec<Mapper>,
    ) -> Self {
        Self {
            meta,
            settings,
            client,
            mappings,
            mappers,
        }
    }

    /// The settings in effect.
    pub fn settings(&self) -> &JiraSettings {
        &self.settings
    }

    fn fail(&self, entity: &str, operation: &'static str, err: ConnectorError) -> ConnectorError {
        client::explain(err)
            .with_connector(crate::ID)
            .with_operation(operation)
            .with_entity(entity.to_owned())
    }

    /// The issue types an issue entity reads.
    fn issue_types(&self, entity: &str) -> &[String] {
        if entity == EPIC {
            &self.settings.epic_issue_types
        } else {
            &self.settings.story_issue_types
        }
    }

    /// The JQL restriction of an issue entity, without an order.
    pub fn restriction(&self, entity: &str, since: Option<&str>) -> String {
        let types: Vec<String> = self.issue_types(entity).iter().map(|t| quote(t)).collect();
        let mut clauses = vec![format!("issuetype in ({})", types.join(", "))];
        if !self.settings.projects.is_empty() {
            let keys: Vec<String> = self.settings.projects.iter().map(|k| quote(k)).collect();
            clauses.push(format!("project in ({})", keys.join(", ")));
        }
        if let Some(extra) = self
            .settings
            .jql
            .as_deref()
            .filter(|j| !j.trim().is_empty())
        {
            clauses.push(format!("({extra})"));
        }
        if let Some(date) = since {
            clauses.push(format!("updated >= {}", quote(date)));
        }
        clauses.join(" AND ")
    }

    /// How far east of UTC the user's zone is, for JQL dates: the setting, else
    /// UTC when `/myself` says so, else the widest safe assumption (UTC-12).
    async fn zone_offset(&self) -> Result<ChronoDuration> {
        if let Some(offset) = self.settings.offset()? {
            return Ok(ChronoDuration::seconds(i64::from(
                FixedOffset::local_minus_utc(&offset),
            )));
        }
        let me: Myself = self
            .client
            .get(MYSELF_PATH)
            .operation("fetch")
            .send()
            .await?
            .json()
            .await?;
        let utc = me.time_zone.as_deref().is_some_and(|z| {
            matches!(z, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT")
        });
        if utc {
            Ok(ChronoDuration::zero())
        } else {
            tracing::debug!(
                zone = me.time_zone.as_deref().unwrap_or("unknown"),
                "Jira user zone is not UTC and no time_zone_offset is set: widening the incremental window by 12 hours"
            );
            Ok(unknown_zone_slack())
        }
    }

    async fn count_projects(&self) -> Result<u64> {
        #[derive(Deserialize)]
        struct Page {
            total: Option<u64>,
            #[serde(default)]
            values: Vec<Value>,
        }
        let page: Page = self
            .client
            .get(PROJECT_SEARCH_PATH)
            .query(&[("maxResults", "1")])
            .operation("discover")
            .send()
            .await?
            .json()
            .await?;
        Ok(page.total.unwrap_or(page.values.len() as u64))
    }

    async fn count_issues(&self, entity: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let count: Count = self
            .client
            .post(COUNT_PATH)
            .json(&json!({ "jql": self.restriction(entity, None) }))
            .idempotent(true)
            .operation("discover")
            .send()
            .await?
            .json()
            .await?;
        Ok(count.count)
    }

    fn fetch_projects(&self, index: usize, options: FetchOptions) -> SyncStream<'_> {
        let mapper = self.mappers[index].clone().with_raw(options.include_raw);
        let pages = self
            .client
            .get(PROJECT_SEARCH_PATH)
            .operation("fetch")
            .paginate(
                OffsetPagination::new("startAt", "maxResults")
                    .with_end(EndCondition::Flag(Flag::is_last("isLast"))),
            )
            .page_size(
                options
                    .page_size
                    .unwrap_or(MAX_PROJECT_PAGE)
                    .clamp(1, MAX_PROJECT_PAGE),
            )
            .resume_from(options.resume_cursor().map(str::to_owned))
            .at("values")
            // Each project is decoded straight into its record on the task
            // that decodes its page.
            .pages_with_seed(mapper.record_seed(connector_core::Name::from_static(crate::ID)));
        let entity = PROJECTS.to_owned();
        // Projects have no change time: every read is full, whatever the options say.
        let mut full = options;
        full.since = None;
        if full.resume.as_ref().is_some_and(|c| c.complete) {
            full.resume = None;
        }
        let pages = pages.map(move |p| p.map_err(|e| self.fail(&entity, "fetch", e)));
        sync::records(PROJECTS, pages, &full)
    }

    fn fetch_issues(
        &self,
        entity: &'static str,
        index: usize,
        options: FetchOptions,
    ) -> SyncStream<'_> {
        let mapper = self.mappers[index].clone().with_raw(options.include_raw);
        let start = async move {
            let since = options.incremental_since();
            let literal = match since {
                Some(at) => match self.zone_offset().await {
                    Ok(offset) => Some(jql_date(at, offset)),
                    Err(e) => return sync::failed(self.fail(entity, "fetch", e)),
                },
                None => None,
            };
            let jql = format!(
                "{} ORDER BY created ASC, key ASC",
                self.restriction(entity, literal.as_deref())
            );
            let pages = self
                .client
                .get(SEARCH_PATH)
                .query(&[("jql", jql.as_str()), ("fields", ISSUE_FIELDS)])
                .operation("fetch")
                .paginate(
                    CursorPagination::new("nextPageToken")
                        .with_token_param(Param::query("nextPageToken"))
                        .with_has_more(Flag::is_last("isLast"))
                        .with_page_size_param(Param::query("maxResults")),
                )
                .page_size(
                    options
                        .page_size
                        .unwrap_or(MAX_SEARCH_PAGE)
                        .clamp(1, MAX_SEARCH_PAGE),
                )
                .resume_from(options.resume_cursor().map(str::to_owned))
                .at("issues")
                // Each issue is mapped on the task that decoded its page.
                .pages_with(move |raw: Value| {
                    let text = raw.pointer("/fields/description").and_then(adf_to_text);
                    let Some(mut record) =
                        mapper.map_owned(raw, connector_core::Name::from_static(crate::ID))?
                    else {
                        return Ok(None);
                    };
                    // The JQL date is floored to the minute (and widened for
                    // unknown zones): drop what changed before the watermark.
                    if let (Some(since), Some(at)) = (since, record.updated_at)
                        && at < since
                    {
                        return Ok(None);
                    }
                    if let Some(text) = text {
                        record = record.with_field("descriptionText", Value::String(text));
                    }
                    Ok(Some(record))
                })
                .map(move |p| p.map_err(|e| self.fail(entity, "fetch", e)));
            sync::records(entity, pages, &options)
        };
        stream::once(start).flatten().boxed()
    }
}

#[async_trait]
impl UniversalConnector for JiraConnector {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        let me = async {
            self.client
                .get(MYSELF_PATH)
                .operation("test_connection")
                .send()
                .await?
                .json::<Myself>()
                .await
        }
        .await;
        match me {
            Ok(me) => {
                let who = me
                    .display_name
                    .or(me.account_id)
                    .unwrap_or_else(|| "an account without a name".to_owned());
                TestResult::ok(format!("authenticated as {who}")).with_api_version("3")
            }
            Err(e) => TestResult::from_error(&self.fail("myself", "test_connection", e)),
        }
    }

    async fn discover(&self) -> Result<Discovery> {
        let mut entities = Vec::new();
        let mut warnings = Vec::new();
        for mapping in &self.mappings {
            let entity = mapping.source_type.as_str();
            let counted = if entity == PROJECTS {
                self.count_projects().await
            } else {
                self.count_issues(entity).await
            };
            let mut found = DiscoveredEntity::from_mapping(mapping);
            match counted {
                Ok(n) => found = found.with_count(n),
                Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) => {
                    let e = self.fail(entity, "discover", e);
                    warnings.push(format!("`{entity}` cannot be counted: {}", e.message()));
                }
                Err(e) => return Err(self.fail(entity, "discover", e)),
            }
            entities.push(found);
        }
        let mut discovery = Discovery::new(entities)
            .with_estimate(self.meta.rate_limit.as_ref(), MAX_SEARCH_PAGE)
            .with_warning("issue counts come from Jira's approximate count");
        for w in warnings {
            discovery = discovery.with_warning(w);
        }
        Ok(discovery)
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        let Some(index) = self.mappings.iter().position(|m| m.source_type == entity) else {
            let err = connector_core::connector::unknown_entity(&self.meta, &self.mappings, entity);
            return sync::failed(err);
        };
        match entity {
            PROJECTS => self.fetch_projects(index, options),
            EPIC => self.fetch_issues(EPIC, index, options),
            STORY => self.fetch_issues(STORY, index, options),
            other => sync::failed(connector_core::connector::unknown_entity(
                &self.meta,
                &self.mappings,
                other,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::chrono::TimeZone;

    #[test]
    fn jql_dates_are_floored_minutes_in_the_user_zone() {
        let at = Utc
            .with_ymd_and_hms(2024, 1, 15, 10, 22, 33)
            .single()
            .unwrap_or_default();
        assert_eq!(jql_date(at, ChronoDuration::zero()), "2024/01/15 10:22");
        assert_eq!(jql_date(at, ChronoDuration::hours(10)), "2024/01/15 20:22");
        assert_eq!(jql_date(at, unknown_zone_slack()), "2024/01/14 22:22");
    }

    #[test]
    fn values_are_quoted() {
        assert_eq!(quote(r#"Epic "big""#), r#""Epic \"big\"""#);
    }

    #[test]
    fn connector_futures_and_streams_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        fn check(c: &dyn UniversalConnector) {
            assert_send(&c.fetch("epic", FetchOptions::new()));
            assert_send(&c.test_connection());
            assert_send(&c.discover());
        }
        let _ = check;
    }
}
