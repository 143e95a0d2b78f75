//! The quickstart: `cargo run -p connector-examples --example quickstart`.
//!
//! It starts in-process fakes of ServiceNow (3,000 CMDB items and their
//! relationships) and GitHub (repositories, members, issues and pull requests),
//! connects to both through the connector registry, tests the connections,
//! discovers what is there, previews an import, imports every entity into an
//! embedded SQLite file with a progress bar, and prints a summary. Then it changes
//! some records at the source and imports again: the second run is incremental and
//! touches only what changed.
//!
//! No network and no setup: the fakes follow the vendors' documented APIs and run
//! on 127.0.0.1. To import from the real GitHub instead of the fake, set
//! `GITHUB_TOKEN` (a token that can read the organization) and
//! `QUICKSTART_GITHUB_ORG` (the organization), and optionally
//! `QUICKSTART_GITHUB_REPOS` (`owner/name,owner/name`: whose issues to import).

#![allow(clippy::print_stdout)] // An example prints what it does.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_core::chrono::Utc;
use connector_core::pipeline::{ImportOptions, ImportPipeline, ProgressEvent};
use connector_core::serde_json::json;
use connector_core::{
    ConnectorConfig, ConnectorRegistry, Credentials, SqliteStore, UniversalConnector,
};
use connector_examples::seconds;
use connector_github::fake::GithubFake;
use connector_servicenow::fake::{FakeData, FakeServiceNow, Scale};
use connector_testkit::fake::FakeApi;

const ORG: &str = "quickstart-org";
const SNOW_USER: &str = "admin";
const SNOW_PASSWORD: &str = "quickstart-password";

/// One imported entity's line in the summary table.
struct Row {
    connector: String,
    entity: String,
    created: u64,
    updated: u64,
    skipped: u64,
    failed: u64,
    duration: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    println!("Connector SDK quickstart\n");

    println!("1. Starting in-process fakes of ServiceNow and GitHub on 127.0.0.1 ...");
    let servicenow = FakeServiceNow::new(FakeData::generate(Scale::demo(), 42))
        .basic_auth(SNOW_USER, SNOW_PASSWORD)
        .start()
        .await;
    let real_github = real_github_config();
    let github_fake = match real_github {
        Some(_) => None,
        None => Some(
            GithubFake::builder()
                .repositories(60)
                .members(180)
                .repositories_with_issues(4)
                .issues_per_repository(400)
                .start()
                .await,
        ),
    };
    let github_config = match (&real_github, &github_fake) {
        (Some(config), _) => config.clone(),
        (None, Some(fake)) => fake.config(),
        (None, None) => unreachable_config(),
    };
    let targets = [
        ("servicenow", servicenow_config(&servicenow.uri())),
        ("github", github_config),
    ];

    let registry = connectors::registry()?;
    println!(
        "   registered connectors: {}\n",
        registry.ids().collect::<Vec<_>>().join(", ")
    );

    let dir = PathBuf::from(".quickstart");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("quickstart.sqlite3");
    for stale in [
        db.clone(),
        dir.join("quickstart.sqlite3-wal"),
        dir.join("quickstart.sqlite3-shm"),
    ] {
        if stale.exists() {
            std::fs::remove_file(stale)?;
        }
    }
    let store = Arc::new(SqliteStore::open(&db)?);

    let mut connected: Vec<(String, Arc<dyn UniversalConnector>)> = Vec::new();
    for (id, config) in targets {
        let connector: Arc<dyn UniversalConnector> = registry.connect(id, config).await?.into();
        println!("2. {id}: test_connection, discover and preview");
        let test = connector.test_connection().await;
        println!(
            "   test_connection: {} — {}",
            if test.success { "ok" } else { "FAILED" },
            test.message
        );
        if !test.success {
            return Err(format!("{id}: {}", test.errors.join("; ")).into());
        }
        let discovery = connector.discover().await?;
        for entity in &discovery.entities {
            let count = entity.count.map_or("?".to_owned(), |c| c.to_string());
            println!(
                "   {:<18} {:>6} {:<22} → {}",
                entity.name, count, entity.display_name, entity.target_type
            );
        }
        let preview = pipeline(&registry, connector.clone(), store.clone())
            .preview(2)
            .await?;
        for entity in &preview.entities {
            println!(
                "   preview {:<18} would create {}, update {}, skip {} (of the first {})",
                entity.entity,
                entity.counts.created,
                entity.counts.updated,
                entity.counts.skipped,
                entity.counts.processed
            );
        }
        println!();
        connected.push((id.to_owned(), connector));
    }

    println!("3. Importing everything into {}", db.display());
    let first = import_all(&registry, &connected, &store, true).await?;
    print_summary("First import (full)", &first);

    println!("4. Changing records at the source ...");
    let changed = change_sources(&servicenow, github_fake.as_ref());
    println!("   changed {changed} records\n");

    println!("5. Importing again: incremental, from the stored checkpoints");
    let second = import_all(&registry, &connected, &store, false).await?;
    print_summary("Second import (incremental)", &second);

    let stored = store.count_records(ORG, "servicenow")? + store.count_records(ORG, "github")?;
    println!(
        "{stored} records in {} — finished in {}",
        db.display(),
        seconds(started.elapsed())
    );
    Ok(())
}

fn servicenow_config(instance: &str) -> ConnectorConfig {
    let credentials = Credentials::Basic {
        username: SNOW_USER.into(),
        password: SNOW_PASSWORD.into(),
    };
    ConnectorConfig::new(ORG, credentials).with_settings(json!({ "instance": instance }))
}

/// The config for the real GitHub, when the environment asks for it.
fn real_github_config() -> Option<ConnectorConfig> {
    let token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())?;
    let Some(org) = std::env::var("QUICKSTART_GITHUB_ORG")
        .ok()
        .filter(|o| !o.is_empty())
    else {
        println!("   GITHUB_TOKEN is set but QUICKSTART_GITHUB_ORG is not: using the fake GitHub");
        return None;
    };
    let repos: Vec<String> = std::env::var("QUICKSTART_GITHUB_REPOS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    println!("   using the real GitHub for organization {org}");
    let mut config =
        connector_github::fake::config_for("https://api.github.com", &token, &org, &repos);
    config.organization_id = ORG.to_owned();
    Some(config)
}

/// A config no fake answers; only reached if both GitHub sources are missing.
fn unreachable_config() -> ConnectorConfig {
    ConnectorConfig::new(ORG, Credentials::None)
}

fn pipeline(
    _registry: &ConnectorRegistry,
    connector: Arc<dyn UniversalConnector>,
    store: Arc<SqliteStore>,
) -> ImportPipeline {
    ImportPipeline::new(ORG, connector, store.clone())
        .with_journal(store)
        .with_actor("quickstart")
        .with_options(ImportOptions::new().with_batch_size(500))
}

async fn import_all(
    registry: &ConnectorRegistry,
    connected: &[(String, Arc<dyn UniversalConnector>)],
    store: &Arc<SqliteStore>,
    full: bool,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for (id, connector) in connected {
        // Per-entity timing from the progress events: the first and last elapsed
        // time seen for each entity.
        let spans: Arc<Mutex<BTreeMap<String, (Duration, Duration)>>> = Arc::default();
        let recorder = spans.clone();
        let mut run = pipeline(registry, connector.clone(), store.clone()).on_progress(move |e| {
            if let Some(entity) = &e.entity
                && let Ok(mut spans) = recorder.lock()
            {
                let span = spans
                    .entry(entity.clone())
                    .or_insert((e.elapsed, e.elapsed));
                span.1 = e.elapsed;
            }
            progress_bar(e);
        });
        if full {
            for entity in connector.discover().await?.entities {
                if let Some(count) = entity.count {
                    run = run.with_expected_total(entity.name, count);
                }
            }
        }
        let report = run.run().await.map_err(|err| format!("{id}: {err}"))?;
        if std::io::stdout().is_terminal() {
            println!();
        }
        let spans = spans.lock().map(|s| s.clone()).unwrap_or_default();
        rows.extend(report.entities.iter().map(|e| {
            Row {
                connector: id.clone(),
                entity: e.entity.clone(),
                created: e.counts.created,
                updated: e.counts.updated,
                skipped: e.counts.skipped,
                failed: e.counts.failed,
                duration: spans
                    .get(&e.entity)
                    .map_or(Duration::ZERO, |(a, b)| b.saturating_sub(*a)),
            }
        }));
    }
    Ok(rows)
}

/// Draws a progress line on a terminal (`[#####-----]  50%  1,500/3,000  12,345/s`);
/// prints nothing when the output is not a terminal.
fn progress_bar(event: &ProgressEvent) {
    let (Some(entity), true) = (&event.entity, std::io::stdout().is_terminal()) else {
        return;
    };
    let done = event.entity_counts.processed;
    let rate = event.records_per_second;
    let line = match event.total.filter(|t| *t > 0) {
        Some(total) => {
            let ratio = (done as f64 / total as f64).min(1.0);
            let filled = (ratio * 20.0).round() as usize;
            let bar = format!("{}{}", "#".repeat(filled), "-".repeat(20 - filled));
            format!(
                "   {entity:<16} [{bar}] {:>3.0}% {done:>6}/{total:<6} {rate:>7.0}/s",
                ratio * 100.0
            )
        }
        None => format!("   {entity:<16} {done:>6} records {rate:>7.0}/s"),
    };
    print!("\r{line:<78}");
    let _ = std::io::stdout().flush();
}

fn print_summary(title: &str, rows: &[Row]) {
    println!("   {title}");
    println!(
        "   {:<11} {:<16} {:>8} {:>8} {:>8} {:>7} {:>9} {:>10}",
        "connector", "entity", "imported", "updated", "skipped", "failed", "duration", "records/s"
    );
    let mut total = (0, 0, 0, 0, Duration::ZERO);
    let rate = |n: u64, d: Duration| {
        if d.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.0}", n as f64 / d.as_secs_f64())
        }
    };
    for r in rows {
        let processed = r.created + r.updated + r.skipped + r.failed;
        println!(
            "   {:<11} {:<16} {:>8} {:>8} {:>8} {:>7} {:>9} {:>10}",
            r.connector,
            r.entity,
            r.created,
            r.updated,
            r.skipped,
            r.failed,
            seconds(r.duration),
            rate(processed, r.duration)
        );
        total = (
            total.0 + r.created,
            total.1 + r.updated,
            total.2 + r.skipped,
            total.3 + r.failed,
            total.4 + r.duration,
        );
    }
    let processed = total.0 + total.1 + total.2 + total.3;
    println!(
        "   {:<11} {:<16} {:>8} {:>8} {:>8} {:>7} {:>9} {:>10}\n",
        "total",
        "",
        total.0,
        total.1,
        total.2,
        total.3,
        seconds(total.4),
        rate(processed, total.4)
    );
}

/// Changes a few records at each source, the way users would between syncs.
fn change_sources(servicenow: &FakeApi, github: Option<&GithubFake>) -> usize {
    let now = Utc::now();
    let snow_time = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut changed = 0;
    for (table, n) in [("cmdb_ci_appl", 5), ("cmdb_ci_server", 3)] {
        let Some(coll) = servicenow.collection(table) else {
            continue;
        };
        for id in coll.ids().into_iter().take(n) {
            let updated = coll.update(&id, |row| {
                if let Some(name) = row.get("name").and_then(|v| v.as_str()).map(str::to_owned) {
                    row["name"] = json!(format!("{name} (renamed)"));
                }
                row["sys_updated_on"] = json!(snow_time);
            });
            changed += usize::from(updated);
        }
    }
    if let Some(fake) = github {
        let github_time = now.to_rfc3339_opts(connector_core::chrono::SecondsFormat::Secs, true);
        for repo in fake.issue_repositories().iter().take(2) {
            let Some(coll) = fake.issues(repo) else {
                continue;
            };
            for id in coll.ids().into_iter().take(2) {
                let updated = coll.update(&id, |issue| {
                    issue["state"] = json!("closed");
                    issue["updated_at"] = json!(github_time);
                });
                changed += usize::from(updated);
            }
        }
    }
    changed
}
