//! A complete connector for "Acme Tasks", a made-up REST API (bearer auth,
//! `GET /v1/me`, `GET /v1/tasks?limit=&cursor=&updated_since=` answering
//! `{"data": [...], "next_cursor": "..."}`), in as few lines as the SDK allows, and
//! the contract suite that proves it (`cargo test -p connector-examples --example
//! custom_connector`). Run it against an in-process fake with
//! `cargo run -p connector-examples --example custom_connector`.

#![allow(clippy::print_stdout)] // An example prints what it does.

// ---- The connector: everything a real one needs. ----------------------------
use connector_core::chrono::{DateTime, SecondsFormat, Utc};
use connector_core::{schemars, sync, *};
use connector_http::{HttpClient, HttpSettings, paginate::Pagination};

#[derive(EntityMapping)]
#[entity(source = "tasks", target = "TASK", display_name = "Tasks")]
struct Task {
    #[field(external_id)]
    id: String,
    #[field(min_len = 1)]
    title: String,
    #[field(transform = "upper")]
    status: Option<String>,
    #[field(updated_at)]
    updated_at: Option<DateTime<Utc>>,
    #[relationship(target = "TASK", kind = "DEPENDS_ON")]
    blocked_by: Vec<String>,
}

struct AcmeTasksFactory;

struct AcmeTasks {
    meta: ConnectorMetadata,
    mappings: Vec<EntityMapping>,
    client: HttpClient,
}

#[async_trait]
impl ConnectorFactory for AcmeTasksFactory {
    fn metadata(&self) -> ConnectorMetadata {
        ConnectorMetadata::new(
            "acme-tasks",
            "Acme Tasks",
            "Acme",
            Category::ProjectPortfolio,
        )
        .with_documentation_url("https://docs.example.com/connectors/acme-tasks")
        .with_auth_methods([AuthMethod::Bearer])
        .with_capabilities(
            Capabilities::import()
                .with_incremental()
                .with_relationships(),
        )
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(HttpSettings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        let settings: HttpSettings = config.settings()?;
        let client = settings.client("acme-tasks", &config.credentials)?;
        let mappings = vec![Task::entity_mapping().clone()];
        Ok(Box::new(AcmeTasks {
            meta: self.metadata(),
            mappings,
            client,
        }))
    }
}

#[async_trait]
impl UniversalConnector for AcmeTasks {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }

    fn mappings(&self) -> &[EntityMapping] {
        &self.mappings
    }

    async fn test_connection(&self) -> TestResult {
        TestResult::from_result(&self.client.get("/v1/me").send().await, "connected")
    }

    async fn discover(&self) -> Result<Discovery> {
        Ok(Discovery::from_mappings(&self.mappings))
    }

    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        if let Err(e) = self.mapping_for(entity) {
            return sync::failed(e);
        }
        let mut request = self.client.get("/v1/tasks");
        if let Some(since) = options.incremental_since() {
            let since = since.to_rfc3339_opts(SecondsFormat::Secs, true);
            request = request.query(&[("updated_since", since)]);
        }
        let pages = request
            .paginate(Pagination::cursor("next_cursor"))
            .fetch_options(&options)
            .at("data")
            .pages();
        sync::typed::<Task, _>(pages, &options, "acme-tasks")
    }
}
// ---- End of the connector. --------------------------------------------------

use connector_core::futures::TryStreamExt;
use connector_core::serde_json::{Value, json};
use connector_testkit::fake::{AuthGuard, Envelope, FakeApi, FakeCollection, FakeEndpoint, Paging};

/// Starts an in-process fake of Acme Tasks holding `n` tasks, accepting `token`.
async fn start_fake(token: &str, n: usize) -> FakeApi {
    let api = FakeApi::builder()
        .auth(AuthGuard::bearer(token))
        .start()
        .await;
    let tasks: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("T-{i}"), "title": format!("Task {i}"),
                "status": if i % 2 == 0 { "open" } else { "done" },
                "blocked_by": if i == 0 { vec![] } else { vec![format!("T-{}", i / 2)] },
                "updated_at": format!("2026-03-{:02}T09:00:00Z", 1 + i % 28),
            })
        })
        .collect();
    let mounted = FakeCollection::new("tasks", "/v1/tasks", tasks)
        .paging(Paging::cursor())
        .envelope(Envelope::key("data"))
        .max_page_size(100)
        .since_param("updated_since", "updated_at")
        .mount(&api)
        .await;
    if let Err(e) = mounted {
        eprintln!("could not start the fake: {e}");
    }
    FakeEndpoint::get("me", "/v1/me", json!({ "user": "demo" }))
        .mount(&api)
        .await;
    api
}

fn config(base_url: &str, token: &str) -> ConnectorConfig {
    let credentials = Credentials::Bearer {
        token: token.into(),
    };
    ConnectorConfig::new("org-1", credentials).with_settings(json!({ "base_url": base_url }))
}

#[tokio::main]
async fn main() -> Result<()> {
    let api = start_fake("demo-token", 120).await;
    let connector = AcmeTasksFactory
        .connect(config(&api.uri(), "demo-token"))
        .await?;
    let test = connector.test_connection().await;
    println!("test_connection: {} ({})", test.success, test.message);
    let items: Vec<SyncItem> = connector
        .fetch("tasks", FetchOptions::new())
        .try_collect()
        .await?;
    let records: Vec<&Record> = items.iter().filter_map(SyncItem::as_record).collect();
    let checkpoints = items.iter().filter(|i| i.as_checkpoint().is_some()).count();
    println!(
        "fetched {} tasks with {checkpoints} checkpoints",
        records.len()
    );
    if let Some(first) = records.first() {
        println!("first: {} {}", first.external_id, first.fields.to_value());
    }
    Ok(())
}

#[cfg(test)]
mod contract {
    use super::*;
    use connector_testkit::suite::{BadConfig, ContractFixture};
    use std::sync::Arc;

    struct Fixture;

    #[async_trait]
    impl ContractFixture for Fixture {
        fn factory(&self) -> Arc<dyn ConnectorFactory> {
            Arc::new(AcmeTasksFactory)
        }
        async fn start_fake(&self, secret: &str) -> FakeApi {
            start_fake(secret, 23).await
        }
        fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
            config(base_url, secret)
        }
        fn bad_config(&self, _base_url: &str) -> BadConfig {
            BadConfig::new(
                config("http://tasks.acme.example", "t"),
                "settings.base_url",
            )
        }
    }

    connector_testkit::contract_suite!(Fixture);
}
