//! The bodies of the contract tests.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use connector_core::futures::StreamExt;
use connector_core::{
    Checkpoint, ConnectorConfig, ConnectorError, ConnectorFactory, EntityMapping, ErrorKind,
    FetchOptions, Mapper, Record, SyncItem, UniversalConnector,
};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;

use super::{ContractFixture, ContractTest, SuiteOptions, TraceCapture};
use crate::fake::{CollectionHandle, FakeApi, Fault, FaultRule};

/// A secret the fake never accepts.
const WRONG_SECRET: &str = "ctk-wrong-secret-not-the-canary";

/// How many ids a failure message lists.
const SHOW: usize = 8;

pub(crate) enum Verdict {
    Pass,
    Skip(String),
}

type Check = Result<Verdict, String>;

pub(crate) async fn run<F: ContractFixture>(
    fixture: &F,
    options: &SuiteOptions,
    test: ContractTest,
) -> Check {
    let ctx = Ctx {
        fixture,
        options,
        factory: fixture.factory(),
        canary: fixture.canary(),
    };
    match test {
        ContractTest::MetadataWellFormed => ctx.metadata().await,
        ContractTest::ConfigSchemaValid => ctx.config_schema().await,
        ContractTest::BadConfigRejected => ctx.bad_config().await,
        ContractTest::ConnectionSucceeds => ctx.connection_succeeds().await,
        ContractTest::ConnectionAuthFailure => ctx.connection_auth_failure().await,
        ContractTest::ConnectionUnreachable => ctx.connection_unreachable().await,
        ContractTest::DiscoverListsEntities => ctx.discover().await,
        ContractTest::FullReadReturnsFixture => ctx.full_read().await,
        ContractTest::FullReadsIdentical => ctx.identical_reads().await,
        ContractTest::RawKeptOnRequest => ctx.raw_kept().await,
        ContractTest::ReadCrossesPages => ctx.crosses_pages().await,
        ContractTest::SurvivesRateLimit => ctx.survives_rate_limit().await,
        ContractTest::SurvivesServerErrors => ctx.survives_server_errors().await,
        ContractTest::IncrementalReadsChanges => ctx.incremental().await,
        ContractTest::ResumeFromEveryCheckpoint => ctx.resume_everywhere().await,
        ContractTest::FutureCheckpointYieldsNothing => ctx.future_checkpoint().await,
        ContractTest::RelationshipsResolve => ctx.relationships().await,
        ContractTest::CanaryNeverLeaks => ctx.canary().await,
        ContractTest::WebhooksAccepted => ctx.webhooks().await,
        ContractTest::WebhookValidDelivery
        | ContractTest::WebhookTamperedBody
        | ContractTest::WebhookWrongSecret
        | ContractTest::WebhookStaleTimestamp
        | ContractTest::WebhookFutureTimestamp
        | ContractTest::WebhookReplaySkipped => ctx.webhook_contract(test).await,
    }
}

struct Ctx<'a, F> {
    fixture: &'a F,
    options: &'a SuiteOptions,
    factory: Arc<dyn ConnectorFactory>,
    canary: String,
}

struct Env {
    api: FakeApi,
    connector: Box<dyn UniversalConnector>,
}

/// What a read yielded, up to its first error.
struct Read {
    items: Vec<SyncItem>,
    error: Option<ConnectorError>,
    truncated: bool,
}

impl Read {
    fn ok(self, what: &str) -> Result<Read, String> {
        if let Some(e) = &self.error {
            return Err(format!(
                "{what} failed after {} records: {e}",
                self.records().len()
            ));
        }
        if self.truncated {
            return Err(format!(
                "{what} did not end after {} items",
                self.items.len()
            ));
        }
        Ok(self)
    }

    fn records(&self) -> Vec<&Record> {
        self.items.iter().filter_map(SyncItem::as_record).collect()
    }

    fn ids(&self) -> Vec<String> {
        self.records()
            .iter()
            .map(|r| r.external_id.clone())
            .collect()
    }

    fn final_checkpoint(&self) -> Option<&Checkpoint> {
        self.items.last().and_then(SyncItem::as_checkpoint)
    }
}

/// The records a read of one entity must yield, mapped from the fixture data.
struct Expected {
    ids: Vec<String>,
    records: BTreeMap<String, Record>,
    collection: CollectionHandle,
}

fn ids_list(ids: &[String]) -> String {
    let mut shown: Vec<&str> = ids.iter().take(SHOW).map(String::as_str).collect();
    if ids.len() > SHOW {
        shown.push("…");
    }
    format!("[{}]", shown.join(", "))
}

/// The address of a local port nothing listens on.
fn closed_port_url() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a local port: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    drop(listener);
    Ok(format!("http://127.0.0.1:{port}"))
}

/// Names that look secret but name something else.
fn names_a_secret(name: &str) -> bool {
    const NOT_SECRET: &[&str] = &[
        "url",
        "uri",
        "_type",
        "_name",
        "_header",
        "_param",
        "_location",
        "_path",
        "_field",
        "_id",
        "_prefix",
        "_in",
    ];
    connector_core::error::is_sensitive_name(name)
        && !NOT_SECRET
            .iter()
            .any(|s| name.to_ascii_lowercase().ends_with(s))
}

impl<F: ContractFixture> Ctx<'_, F> {
    async fn env(&self) -> Result<Env, String> {
        let api = self.fixture.start_fake(&self.canary).await;
        let config = self.fixture.config(&api.uri(), &self.canary);
        let connector = self
            .factory
            .connect(config)
            .await
            .map_err(|e| format!("connecting with the good config failed: {e}"))?;
        Ok(Env { api, connector })
    }

    async fn read(
        &self,
        connector: &dyn UniversalConnector,
        entity: &str,
        options: FetchOptions,
    ) -> Read {
        let mut stream = connector.fetch(entity, options);
        let mut read = Read {
            items: Vec::new(),
            error: None,
            truncated: false,
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(item) => {
                    read.items.push(item);
                    if read.items.len() > self.options.max_items {
                        read.truncated = true;
                        break;
                    }
                }
                Err(e) => {
                    read.error = Some(e);
                    break;
                }
            }
        }
        read
    }

    fn expected(&self, env: &Env, mapping: &EntityMapping) -> Result<Expected, String> {
        let entity = &mapping.source_type;
        let collection = self.fixture.collection(&env.api, entity).ok_or_else(|| {
            format!("the fake has no collection for entity `{entity}`; mount one named `{entity}` or override `ContractFixture::collection`")
        })?;
        let mapper = Mapper::new(mapping)
            .map_err(|e| format!("the mapping of `{entity}` does not compile: {e}"))?;
        let connector_id = env.connector.metadata().id.clone();
        let mut expected = Expected {
            ids: Vec::new(),
            records: BTreeMap::new(),
            collection,
        };
        for raw in expected.collection.items() {
            match mapper.map(&raw, &connector_id) {
                Ok(Some(record)) => {
                    expected.ids.push(record.external_id.clone());
                    expected.records.insert(record.external_id.clone(), record);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(format!(
                        "a fixture record of `{entity}` breaks its mapping: {e}"
                    ));
                }
            }
        }
        Ok(expected)
    }

    fn page_size(&self, collection: &CollectionHandle) -> u32 {
        let len = u32::try_from(collection.len()).unwrap_or(u32::MAX);
        let size = (len / self.options.pages.max(1)).max(1);
        collection.max_page_size().map_or(size, |max| size.min(max))
    }

    fn options_for(&self, expected: &Expected) -> FetchOptions {
        FetchOptions::new().with_page_size(self.page_size(&expected.collection))
    }

    /// Compares the records read with the expected ones: none lost, none
    /// duplicated, none unexpected, each with the mapped fields.
    fn compare(
        &self,
        what: &str,
        records: &[&Record],
        expected: &Expected,
        mapping: &EntityMapping,
        wanted: &[String],
    ) -> Result<(), String> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in records {
            *counts.entry(r.external_id.as_str()).or_default() += 1;
        }
        let duplicated: Vec<String> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| (*id).to_owned())
            .collect();
        let wanted_set: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .cloned()
            .collect();
        let unexpected: Vec<String> = counts
            .keys()
            .filter(|id| !wanted_set.contains(*id))
            .map(|id| (*id).to_owned())
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("{} missing {}", missing.len(), ids_list(&missing)));
        }
        if !duplicated.is_empty() {
            problems.push(format!(
                "{} duplicated {}",
                duplicated.len(),
                ids_list(&duplicated)
            ));
        }
        if !unexpected.is_empty() {
            problems.push(format!(
                "{} unexpected {}",
                unexpected.len(),
                ids_list(&unexpected)
            ));
        }
        let required: Vec<&str> = mapping
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.target.as_str())
            .collect();
        for record in records.iter().take(10_000) {
            if problems.len() >= 6 {
                break;
            }
            if record.entity_type != mapping.target_type {
                problems.push(format!(
                    "record `{}` has type `{}`, the mapping says `{}`",
                    record.external_id, record.entity_type, mapping.target_type
                ));
                continue;
            }
            for field in &required {
                if record.field(field).is_none_or(Value::is_null) {
                    problems.push(format!(
                        "record `{}` lacks required field `{field}`",
                        record.external_id
                    ));
                }
            }
            if let Some(exp) = expected.records.get(&record.external_id) {
                for (name, value) in &exp.fields {
                    if record.fields.get(name) != Some(value) {
                        problems.push(format!(
                            "record `{}` field `{name}` is {}, the mapping of the fixture gives {value}",
                            record.external_id,
                            record.fields.get(name).map_or_else(|| "absent".to_owned(), Value::to_string)
                        ));
                        break;
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what}: {} records read, {} expected: {}",
                records.len(),
                wanted.len(),
                problems.join("; ")
            ))
        }
    }

    fn mappings(env: &Env) -> Result<Vec<EntityMapping>, String> {
        let mappings = env.connector.mappings().to_vec();
        if mappings.is_empty() {
            return Err("the connector has no entity mappings".to_owned());
        }
        Ok(mappings)
    }

    // ---- spec -------------------------------------------------------------

    async fn metadata(&self) -> Check {
        let meta = self.factory.metadata();
        if let Err(errors) = meta.validate() {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(format!("the metadata is invalid: {}", lines.join("; ")));
        }
        let env = self.env().await?;
        let live = env.connector.metadata();
        if live.id != meta.id || live.capabilities != meta.capabilities {
            return Err(format!(
                "the connected instance reports id `{}` and {:?}, the factory `{}` and {:?}",
                live.id, live.capabilities, meta.id, meta.capabilities
            ));
        }
        for mapping in Self::mappings(&env)? {
            mapping
                .validate()
                .map_err(|e| format!("the mapping of `{}` is invalid: {e}", mapping.source_type))?;
        }
        Ok(Verdict::Pass)
    }

    async fn config_schema(&self) -> Check {
        let schema = self.factory.config_schema();
        let mut problems = Vec::new();
        let mut unmarked = Vec::new();
        walk_schema(&schema, &schema, "#", &mut problems, &mut unmarked, 0);
        if !schema
            .get("properties")
            .and_then(|p| p.get("settings"))
            .is_some_and(|s| s.is_object() || s.is_boolean())
        {
            problems.push("the config schema has no `settings` property".to_owned());
        }
        if !unmarked.is_empty() {
            problems.push(format!(
                "secret-looking fields are not marked `writeOnly`/`secret` (use `connector_core::credentials::secret_schema`): {}",
                unmarked.join(", ")
            ));
        }
        let config = self.fixture.config("http://127.0.0.1:9", &self.canary);
        let document = json!({
            "organization_id": config.organization_id,
            "name": config.name,
            "credentials": config.credentials.to_json_exposing_secrets(),
            "settings": config.settings,
            "filters": config.filters,
        });
        for error in connector_core::schema::validate(&schema, &document, "config") {
            problems.push(format!("the good config does not validate: {error}"));
        }
        if problems.is_empty() {
            Ok(Verdict::Pass)
        } else {
            Err(problems.join("; "))
        }
    }

    async fn bad_config(&self) -> Check {
        let bad = self.fixture.bad_config("http://127.0.0.1:9");
        match self.factory.connect(bad.config).await {
            Ok(_) => Err(format!(
                "the bad config was accepted; expected a config error naming `{}`",
                bad.field
            )),
            Err(e) if e.kind() != ErrorKind::Config => Err(format!(
                "the bad config was rejected as {:?}, not as a config error: {e}",
                e.kind()
            )),
            Err(e) => {
                let named = e.field_errors().iter().any(|f| f.path == bad.field)
                    || e.to_string().contains(&bad.field);
                if named {
                    Ok(Verdict::Pass)
                } else {
                    Err(format!(
                        "the config error does not name `{}`: {e}",
                        bad.field
                    ))
                }
            }
        }
    }

    // ---- check ------------------------------------------------------------

    async fn connection_succeeds(&self) -> Check {
        let env = self.env().await?;
        let result = env.connector.test_connection().await;
        if !(result.success && result.authenticated && result.endpoint_reachable) {
            return Err(format!(
                "test_connection failed against the fake with good credentials: {}",
                result.message
            ));
        }
        Ok(Verdict::Pass)
    }

    async fn connection_auth_failure(&self) -> Check {
        let api = self.fixture.start_fake(&self.canary).await;
        let config = self.fixture.config(&api.uri(), WRONG_SECRET);
        let connector = match self.factory.connect(config).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::Auth => return Ok(Verdict::Pass),
            Err(e) => {
                return Err(format!(
                    "connecting with a wrong secret failed as {:?}, not at test_connection: {e}",
                    e.kind()
                ));
            }
        };
        let result = connector.test_connection().await;
        if result.success {
            return Err("test_connection succeeded with a wrong secret".to_owned());
        }
        if !api.requests().iter().any(|r| r.status == 401) {
            return Err("the fake never answered 401: test_connection did not send the credential to the API".to_owned());
        }
        if result.authenticated || result.error_kind.as_deref() != Some("Auth") {
            return Err(format!(
                "a 401 was classified as {:?} (authenticated: {}), not as an authentication failure: {}",
                result.error_kind, result.authenticated, result.message
            ));
        }
        Ok(Verdict::Pass)
    }

    async fn connection_unreachable(&self) -> Check {
        let url = closed_port_url()?;
        let config = self.fixture.config(&url, &self.canary);
        let connector = match self.factory.connect(config).await {
            Ok(c) => c,
            Err(e) if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) => {
                return Ok(Verdict::Pass);
            }
            Err(e) => {
                return Err(format!(
                    "connecting to a closed port failed as {:?} at connect: {e}",
                    e.kind()
                ));
            }
        };
        let result = connector.test_connection().await;
        let kind_ok = matches!(result.error_kind.as_deref(), Some("Network" | "Timeout"));
        if result.success || result.endpoint_reachable || !kind_ok {
            return Err(format!(
                "a closed port gave success {}, endpoint_reachable {}, kind {:?}: {}",
                result.success, result.endpoint_reachable, result.error_kind, result.message
            ));
        }
        Ok(Verdict::Pass)
    }

    // ---- discover ---------------------------------------------------------

    async fn discover(&self) -> Check {
        let env = self.env().await?;
        let discovery = env
            .connector
            .discover()
            .await
            .map_err(|e| format!("discover failed: {e}"))?;
        let counts = env.connector.metadata().capabilities.discovery_counts;
        let mut problems = Vec::new();
        for mapping in Self::mappings(&env)? {
            let entity = &mapping.source_type;
            let Some(found) = discovery.entity(entity) else {
                problems.push(format!("`{entity}` is mapped but not discovered"));
                continue;
            };
            if found.target_type != mapping.target_type {
                problems.push(format!(
                    "`{entity}` is discovered as `{}`, mapped as `{}`",
                    found.target_type, mapping.target_type
                ));
            }
            if counts {
                let collection = self
                    .fixture
                    .collection(&env.api, entity)
                    .ok_or_else(|| format!("the fake has no collection for entity `{entity}`"))?;
                if found.count != Some(collection.len() as u64) {
                    problems.push(format!(
                        "`{entity}` count is {:?}, the fixture holds {}",
                        found.count,
                        collection.len()
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(Verdict::Pass)
        } else {
            Err(problems.join("; "))
        }
    }

    // ---- read -------------------------------------------------------------

    async fn full_read(&self) -> Check {
        let env = self.env().await?;
        for mapping in Self::mappings(&env)? {
            let expected = self.expected(&env, &mapping)?;
            let what = format!("a full read of `{}`", mapping.source_type);
            let read = self
                .read(
                    env.connector.as_ref(),
                    &mapping.source_type,
                    self.options_for(&expected),
                )
                .await
                .ok(&what)?;
            self.compare(&what, &read.records(), &expected, &mapping, &expected.ids)?;
        }
        Ok(Verdict::Pass)
    }

    async fn identical_reads(&self) -> Check {
        let env = self.env().await?;
        for mapping in Self::mappings(&env)? {
            let expected = self.expected(&env, &mapping)?;
            let entity = &mapping.source_type;
            let options = self.options_for(&expected);
            let first = self
                .read(env.connector.as_ref(), entity, options.clone())
                .await
                .ok("the first read")?;
            let second = self
                .read(env.connector.as_ref(), entity, options)
                .await
                .ok("the second read")?;
            let (a, b) = (first.records(), second.records());
            if a.len() != b.len() {
                return Err(format!(
                    "`{entity}`: the first read yielded {} records, the second {}",
                    a.len(),
                    b.len()
                ));
            }
            if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                return Err(format!(
                    "`{entity}`: record {i} differs between two full reads (`{}` vs `{}`)",
                    a[i].external_id, b[i].external_id
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    async fn raw_kept(&self) -> Check {
        let env = self.env().await?;
        for mapping in Self::mappings(&env)? {
            let expected = self.expected(&env, &mapping)?;
            let entity = &mapping.source_type;
            let mapper = Mapper::new(&mapping)
                .map_err(|e| format!("the mapping of `{entity}` does not compile: {e}"))?;
            let what = format!("a full read of `{entity}` with raw objects kept");
            let read = self
                .read(
                    env.connector.as_ref(),
                    entity,
                    self.options_for(&expected).with_raw(true),
                )
                .await
                .ok(&what)?;
            let records = read.records();
            self.compare(&what, &records, &expected, &mapping, &expected.ids)?;
            for record in records {
                let id = &record.external_id;
                let raw = record.raw.as_ref().ok_or_else(|| {
                    format!("`{entity}`: record `{id}` has no raw object though it was asked for")
                })?;
                // The raw object is the whole source item: mapped again, it gives
                // the record's id and every mapped field.
                let again = match mapper.map(raw, record.source_connector.clone()) {
                    Ok(Some(again)) => again,
                    Ok(None) => {
                        return Err(format!(
                            "`{entity}`: the raw object of record `{id}` is filtered out by its own mapping"
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "`{entity}`: the raw object of record `{id}` no longer maps: {e}"
                        ));
                    }
                };
                if again.external_id != *id {
                    return Err(format!(
                        "`{entity}`: the raw object of record `{id}` maps to id `{}`",
                        again.external_id
                    ));
                }
                if let Some((name, value)) = again
                    .fields
                    .iter()
                    .find(|(name, value)| record.fields.get(name) != Some(value))
                {
                    return Err(format!(
                        "`{entity}`: field `{name}` of record `{id}` differs from what its raw object maps to ({value})"
                    ));
                }
            }
            let plain = self
                .read(env.connector.as_ref(), entity, self.options_for(&expected))
                .await
                .ok("a full read")?;
            if let Some(record) = plain.records().iter().find(|r| r.raw.is_some()) {
                return Err(format!(
                    "`{entity}`: record `{}` carries a raw object nobody asked for",
                    record.external_id
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    async fn crosses_pages(&self) -> Check {
        let env = self.env().await?;
        let wanted = u64::from(self.options.pages.max(3));
        for mapping in Self::mappings(&env)? {
            let expected = self.expected(&env, &mapping)?;
            let entity = &mapping.source_type;
            if (expected.collection.len() as u64) < wanted {
                return Err(format!(
                    "the fixture of `{entity}` has {} records; it needs at least {wanted} to span {wanted} pages",
                    expected.collection.len()
                ));
            }
            env.api.clear_log();
            self.read(env.connector.as_ref(), entity, self.options_for(&expected))
                .await
                .ok("the read")?;
            let pages = env
                .api
                .requests_to(expected.collection.name())
                .iter()
                .filter(|r| r.status == 200)
                .count() as u64;
            if pages < wanted {
                return Err(format!(
                    "a read of `{entity}` fetched {pages} page(s) with page size {}; it must cross at least {wanted} (does the connector honour `FetchOptions::page_size`?)",
                    self.page_size(&expected.collection)
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    /// The entity the fault tests read: the first mapped one.
    fn fault_target(&self, env: &Env) -> Result<(EntityMapping, Expected), String> {
        let mapping = Self::mappings(env)?.remove(0);
        let expected = self.expected(env, &mapping)?;
        if expected.collection.len() < 3 {
            return Err(format!(
                "the fixture of `{}` needs at least 3 records for the fault tests",
                mapping.source_type
            ));
        }
        Ok((mapping, expected))
    }

    async fn survives_rate_limit(&self) -> Check {
        let env = self.env().await?;
        let (mapping, expected) = self.fault_target(&env)?;
        let route = expected.collection.name().to_owned();
        let wait = self.options.retry_after.as_secs().max(1);
        env.api.faults().push(
            FaultRule::new(Fault::too_many_requests(wait))
                .on_route(&route)
                .on_page(1),
        );
        let what = format!(
            "a read of `{}` meeting a 429 on page 2",
            mapping.source_type
        );
        let read = self
            .read(
                env.connector.as_ref(),
                &mapping.source_type,
                self.options_for(&expected),
            )
            .await
            .ok(&what)?;
        self.compare(&what, &read.records(), &expected, &mapping, &expected.ids)?;
        let log = env.api.requests_to(&route);
        let Some(at) = log.iter().position(|r| r.status == 429) else {
            return Err("the read never asked for page 2, so the 429 was not injected".to_owned());
        };
        let Some(retry) = log.get(at + 1) else {
            return Err("no request followed the 429".to_owned());
        };
        let gap = retry.at.saturating_sub(log[at].at);
        if gap.as_secs() < wait {
            return Err(format!(
                "the connector retried {gap:?} after a 429 with `Retry-After: {wait}`: it ignores Retry-After"
            ));
        }
        Ok(Verdict::Pass)
    }

    async fn survives_server_errors(&self) -> Check {
        let env = self.env().await?;
        let (mapping, expected) = self.fault_target(&env)?;
        let route = expected.collection.name().to_owned();
        env.api.faults().push(
            FaultRule::new(Fault::unavailable())
                .on_route(&route)
                .on_page(1)
                .times(2),
        );
        env.api.faults().push(
            FaultRule::new(Fault::status(500))
                .on_route(&route)
                .on_page(2),
        );
        let what = format!(
            "a read of `{}` meeting 503, 503 on page 2 and 500 on page 3",
            mapping.source_type
        );
        let read = self
            .read(
                env.connector.as_ref(),
                &mapping.source_type,
                self.options_for(&expected),
            )
            .await
            .ok(&what)?;
        self.compare(&what, &read.records(), &expected, &mapping, &expected.ids)?;
        if env.api.faults().injected().len() < 2 {
            return Err(
                "the read never asked for page 2, so the 503s were not injected".to_owned(),
            );
        }
        Ok(Verdict::Pass)
    }

    // ---- incremental ------------------------------------------------------

    async fn incremental(&self) -> Check {
        let env = self.env().await?;
        for mapping in Self::mappings(&env)? {
            let entity = &mapping.source_type;
            if !self.fixture.incremental(entity) {
                continue;
            }
            let expected = self.expected(&env, &mapping)?;
            let options = self.options_for(&expected);
            let full = self
                .read(env.connector.as_ref(), entity, options.clone())
                .await
                .ok("the first read")?;
            let Some(checkpoint) = full.final_checkpoint().filter(|c| c.complete).cloned() else {
                return Err(format!(
                    "the read of `{entity}` did not end with a completed checkpoint"
                ));
            };
            let boundary = checkpoint
                .watermark
                .or_else(|| expected.collection.max_updated())
                .ok_or_else(|| format!("`{entity}`: the checkpoint has no watermark and the fixture has no updated times"))?;
            let changed = self.fixture.mutate(&env.api, entity, boundary).await?;
            let after = self.expected(&env, &mapping)?;
            let wanted: Vec<String> = if checkpoint.watermark.is_some() {
                let changed_raw = after.collection.changed_since(boundary);
                let ids: HashSet<String> = changed_raw
                    .iter()
                    .filter_map(|v| after.collection.id_of(v))
                    .collect();
                after
                    .ids
                    .iter()
                    .filter(|id| ids.contains(*id))
                    .cloned()
                    .collect()
            } else {
                after
                    .ids
                    .iter()
                    .filter(|id| changed.contains(id))
                    .cloned()
                    .collect()
            };
            let what = format!(
                "a read of `{entity}` from the final checkpoint (watermark {boundary}) after changing {}",
                ids_list(&changed)
            );
            let second = self
                .read(
                    env.connector.as_ref(),
                    entity,
                    options.with_resume(checkpoint),
                )
                .await
                .ok(&what)?;
            self.compare(&what, &second.records(), &after, &mapping, &wanted)?;
        }
        Ok(Verdict::Pass)
    }

    async fn resume_everywhere(&self) -> Check {
        let env = self.env().await?;
        for mapping in Self::mappings(&env)? {
            let entity = &mapping.source_type;
            let expected = self.expected(&env, &mapping)?;
            let options = self.options_for(&expected);
            let full = self
                .read(env.connector.as_ref(), entity, options.clone())
                .await
                .ok("the full read")?;
            let all = full.ids();
            let mut seen = 0;
            let mut resumed = 0;
            for item in &full.items {
                match item {
                    SyncItem::Record(_) => seen += 1,
                    SyncItem::Checkpoint(cp) if !cp.complete => {
                        resumed += 1;
                        let what = format!("a read of `{entity}` resumed after {seen} records");
                        let rest = self
                            .read(
                                env.connector.as_ref(),
                                entity,
                                options.clone().with_resume(cp.clone()),
                            )
                            .await
                            .ok(&what)?;
                        let got = rest.ids();
                        if got != all[seen..] {
                            return Err(format!(
                                "{what} yielded {} instead of the remaining {}",
                                ids_list(&got),
                                ids_list(&all[seen..])
                            ));
                        }
                    }
                    _ => {}
                }
            }
            if resumed == 0 {
                return Err(format!(
                    "the read of `{entity}` emitted no intermediate checkpoint across its pages"
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    async fn future_checkpoint(&self) -> Check {
        let env = self.env().await?;
        let future = Utc::now() + ChronoDuration::days(3650);
        for mapping in Self::mappings(&env)? {
            let entity = &mapping.source_type;
            if !self.fixture.incremental(entity) {
                continue;
            }
            let checkpoint = Checkpoint::completed(entity.clone(), Some(future));
            let what = format!(
                "a read of `{entity}` from a checkpoint in {}",
                future.format("%Y")
            );
            let read = self
                .read(
                    env.connector.as_ref(),
                    entity,
                    FetchOptions::new().with_resume(checkpoint),
                )
                .await
                .ok(&what)?;
            let ids = read.ids();
            if !ids.is_empty() {
                return Err(format!(
                    "{what} yielded {} records {}",
                    ids.len(),
                    ids_list(&ids)
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    // ---- relationships ----------------------------------------------------

    async fn relationships(&self) -> Check {
        let env = self.env().await?;
        let mappings = Self::mappings(&env)?;
        let mut known: HashSet<(connector_core::Name, String)> = HashSet::new();
        let mut records = Vec::new();
        for mapping in &mappings {
            let read = self
                .read(
                    env.connector.as_ref(),
                    &mapping.source_type,
                    FetchOptions::new(),
                )
                .await
                .ok("the read")?;
            for r in read.records() {
                known.insert((r.entity_type.clone(), r.external_id.clone()));
                records.push(r.clone());
            }
        }
        let mut problems = Vec::new();
        let mut count = 0;
        for r in &records {
            for rel in &r.relationships {
                count += 1;
                if rel.from_type != r.entity_type || *rel.from_id != *r.external_id {
                    problems.push(format!(
                        "a relationship on `{}` starts at {}/{}",
                        r.external_id, rel.from_type, rel.from_id
                    ));
                }
                if !known.contains(&(rel.to_type.clone(), rel.to_id.clone())) {
                    problems.push(format!(
                        "`{}` {} {}/{}, which no read yielded",
                        r.external_id,
                        rel.kind.as_str(),
                        rel.to_type,
                        rel.to_id
                    ));
                }
            }
        }
        for mapping in &mappings {
            let mut stream = env
                .connector
                .fetch_relationships(&mapping.source_type, FetchOptions::new());
            while let Some(rel) = stream.next().await {
                let rel = rel.map_err(|e| {
                    format!("fetch_relationships(`{}`) failed: {e}", mapping.source_type)
                })?;
                count += 1;
                for (t, id) in [
                    (&rel.from_type, &*rel.from_id),
                    (&rel.to_type, rel.to_id.as_str()),
                ] {
                    if !known.contains(&(t.clone(), id.to_owned())) {
                        problems.push(format!(
                            "fetch_relationships(`{}`) names {t}/{id}, which no read yielded",
                            mapping.source_type
                        ));
                    }
                }
            }
        }
        if count == 0 {
            return Err("the connector declares relationships but yielded none".to_owned());
        }
        problems.truncate(SHOW);
        if problems.is_empty() {
            Ok(Verdict::Pass)
        } else {
            Err(problems.join("; "))
        }
    }

    // ---- security ---------------------------------------------------------

    async fn canary(&self) -> Check {
        let capture = TraceCapture::new();
        let texts = self
            .leak_probe()
            .with_subscriber(capture.dispatch())
            .await?;
        let mut leaks: Vec<&str> = texts
            .iter()
            .filter(|(_, text)| text.contains(&self.canary))
            .map(|(place, _)| place.as_str())
            .collect();
        if capture.output().contains(&self.canary) {
            leaks.push("the captured tracing output");
        }
        if leaks.is_empty() {
            Ok(Verdict::Pass)
        } else {
            Err(format!(
                "the canary secret appears in: {}",
                leaks.join("; ")
            ))
        }
    }

    /// Runs the connector through good, failing and unreachable calls while it
    /// holds the canary, and returns every text it produced, by where it came from.
    async fn leak_probe(&self) -> Result<Vec<(String, String)>, String> {
        let mut texts: Vec<(String, String)> = Vec::new();
        fn both<T: Debug + ?Sized>(texts: &mut Vec<(String, String)>, place: &str, value: &T) {
            texts.push((format!("{place} (Debug)"), format!("{value:?}")));
        }
        fn error(texts: &mut Vec<(String, String)>, place: &str, e: &ConnectorError) {
            texts.push((format!("{place} (Display)"), e.to_string()));
            texts.push((format!("{place} (Debug)"), format!("{e:?}")));
        }
        let api = self.fixture.start_fake(&self.canary).await;
        let config: ConnectorConfig = self.fixture.config(&api.uri(), &self.canary);
        both(&mut texts, "the config", &config);
        let connector = match self.factory.connect(config).await {
            Ok(c) => c,
            Err(e) => {
                error(&mut texts, "connect", &e);
                return Ok(texts);
            }
        };
        let entities: Vec<String> = connector
            .mappings()
            .iter()
            .map(|m| m.source_type.clone())
            .collect();
        both(
            &mut texts,
            "test_connection",
            &connector.test_connection().await,
        );
        let faults: [(&str, Fault); 4] = [
            ("a 401 (token revoked)", Fault::status(401)),
            ("a 403", Fault::status(403)),
            ("a 404", Fault::status(404)),
            ("a 400 echoing the request headers", Fault::EchoRequest),
        ];
        for (label, fault) in faults {
            api.faults().clear();
            api.faults().push(FaultRule::new(fault).always());
            both(
                &mut texts,
                &format!("test_connection after {label}"),
                &connector.test_connection().await,
            );
            both(
                &mut texts,
                &format!("health after {label}"),
                &connector.health().await,
            );
            if let Err(e) = connector.discover().await {
                error(&mut texts, &format!("discover after {label}"), &e);
            }
            for entity in &entities {
                let read = self
                    .read(connector.as_ref(), entity, FetchOptions::new())
                    .await;
                if let Some(e) = &read.error {
                    error(&mut texts, &format!("fetch(`{entity}`) after {label}"), e);
                }
            }
        }
        api.faults().clear();
        let url = closed_port_url()?;
        match self
            .factory
            .connect(self.fixture.config(&url, &self.canary))
            .await
        {
            Ok(unreachable) => {
                both(
                    &mut texts,
                    "test_connection of an unreachable host",
                    &unreachable.test_connection().await,
                );
                if let Some(entity) = entities.first() {
                    let read = self
                        .read(unreachable.as_ref(), entity, FetchOptions::new())
                        .await;
                    if let Some(e) = &read.error {
                        error(&mut texts, "fetch from an unreachable host", e);
                    }
                }
            }
            Err(e) => error(&mut texts, "connect to an unreachable host", &e),
        }
        Ok(texts)
    }

    // ---- realtime ---------------------------------------------------------

    async fn webhooks(&self) -> Check {
        let Some(webhooks) = self.fixture.webhooks() else {
            return Ok(Verdict::Skip(
                "the connector declares `realtime`, but the fixture has no `webhooks()` section yet".to_owned(),
            ));
        };
        let env = self.env().await?;
        webhooks
            .check(env.connector.as_ref(), &env.api, &self.canary)
            .await?;
        Ok(Verdict::Pass)
    }

    /// The named webhook tests of `suite/webhooks.rs`.
    async fn webhook_contract(&self, test: ContractTest) -> Check {
        let Some(webhooks) = self.fixture.webhooks() else {
            return Ok(Verdict::Skip(
                "the connector declares `realtime`, but the fixture has no `webhooks()` section yet".to_owned(),
            ));
        };
        let env = self.env().await?;
        super::webhooks::run(webhooks, env.connector.as_ref(), &self.canary, test).await
    }
}

const JSON_TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "string", "integer",
];

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn marked(root: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
    if flag("writeOnly") || flag("secret") {
        return true;
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        return marked(root, target, depth + 1);
    }
    ["anyOf", "oneOf", "allOf"].iter().any(|k| {
        schema
            .get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(|a| marked(root, a, depth + 1)))
    })
}

fn string_like(root: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match schema.get("type") {
        Some(Value::String(t)) => return t == "string",
        Some(Value::Array(ts)) => return ts.iter().any(|t| t == "string"),
        _ => {}
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve(root, r))
    {
        return string_like(root, target, depth + 1);
    }
    ["anyOf", "oneOf"].iter().any(|k| {
        schema
            .get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(|a| string_like(root, a, depth + 1)))
    })
}

/// Checks the JSON Schema keywords schemars emits are well formed, and collects
/// secret-looking string properties that are not marked.
fn walk_schema(
    root: &Value,
    node: &Value,
    at: &str,
    problems: &mut Vec<String>,
    unmarked: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let obj = match node {
        Value::Bool(_) => return,
        Value::Object(o) => o,
        _ => {
            problems.push(format!("{at}: a schema must be an object or a boolean"));
            return;
        }
    };
    match obj.get("type") {
        None => {}
        Some(Value::String(t)) if JSON_TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| JSON_TYPES.contains(&t))) => {}
        Some(other) => problems.push(format!("{at}: `type` {other} is not a JSON Schema type")),
    }
    if let Some(reference) = obj.get("$ref") {
        match reference.as_str() {
            Some(r) if resolve(root, r).is_some() => {}
            _ => problems.push(format!("{at}: `$ref` {reference} does not resolve")),
        }
    }
    let props = obj.get("properties").and_then(Value::as_object);
    if let Some(required) = obj.get("required") {
        match required.as_array() {
            Some(names) => {
                for name in names {
                    match name.as_str() {
                        Some(n) if props.is_none_or(|p| p.contains_key(n)) => {}
                        _ => problems.push(format!("{at}: required `{name}` is not a property")),
                    }
                }
            }
            None => problems.push(format!("{at}: `required` must be an array")),
        }
    }
    if let Some(props) = props {
        for (name, schema) in props {
            let path = format!("{at}/properties/{name}");
            if names_a_secret(name) && string_like(root, schema, 0) && !marked(root, schema, 0) {
                unmarked.push(path.clone());
            }
            walk_schema(root, schema, &path, problems, unmarked, depth + 1);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = obj.get(key) {
            walk_schema(
                root,
                child,
                &format!("{at}/{key}"),
                problems,
                unmarked,
                depth + 1,
            );
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(children) = obj.get(key).and_then(Value::as_array) {
            for (i, child) in children.iter().enumerate() {
                walk_schema(
                    root,
                    child,
                    &format!("{at}/{key}/{i}"),
                    problems,
                    unmarked,
                    depth + 1,
                );
            }
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(defs) = obj.get(key).and_then(Value::as_object) {
            for (name, child) in defs {
                walk_schema(
                    root,
                    child,
                    &format!("{at}/{key}/{name}"),
                    problems,
                    unmarked,
                    depth + 1,
                );
            }
        }
    }
}
