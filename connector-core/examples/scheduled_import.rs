//! An application driving scheduled imports: no daemon, just `next_run` and a loop.
//!
//! A small in-memory "inventory" connector gains records over time; the schedule
//! says hourly at :15. The loop below is what a service would run, except that the
//! clock is simulated (the `sleep` would be `tokio::time::sleep` or similar), so the
//! example finishes at once. Each run imports only what changed since the last
//! completed checkpoint, into an in-memory SQLite store that also keeps the jobs and
//! the audit trail.
//!
//! Run it with `cargo run -p connector-core --example scheduled_import` (the crate's
//! dev-dependencies enable its `sqlite` feature for examples).

#![allow(clippy::print_stdout)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use connector_core::futures::{StreamExt, stream};
use connector_core::mapping::EntityMapping;
use connector_core::metadata::{Category, ConnectorMetadata};
use connector_core::pipeline::{ImportOptions, ImportPipeline};
use connector_core::schedule::{is_due, next_run};
use connector_core::serde_json::json;
use connector_core::sqlite::SqliteStore;
use connector_core::{
    Checkpoint, Discovery, FetchOptions, Record, Result, SyncItem, SyncSchedule, SyncStream,
    TestResult, UniversalConnector,
};

/// Records in change order; a read yields those changed after the watermark, ten
/// per page, with a checkpoint after each page.
struct Inventory {
    meta: ConnectorMetadata,
    records: Mutex<Vec<Record>>,
}

impl Inventory {
    fn add(&self, at: DateTime<Utc>, n: usize) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..n {
            let id = records.len();
            let record = Record::new("SERVER", format!("srv-{id:04}"), "inventory")
                .with_field("hostname", json!(format!("host{id}.example.com")))
                .with_updated_at(at);
            records.push(record);
        }
    }
}

#[async_trait]
impl UniversalConnector for Inventory {
    fn metadata(&self) -> &ConnectorMetadata {
        &self.meta
    }
    fn mappings(&self) -> &[EntityMapping] {
        &[]
    }
    async fn test_connection(&self) -> TestResult {
        TestResult::ok("in memory")
    }
    async fn discover(&self) -> Result<Discovery> {
        Ok(Discovery::new(vec![]))
    }
    fn fetch(&self, entity: &str, options: FetchOptions) -> SyncStream<'_> {
        // A snapshot of this read's records; a real connector pages over HTTP.
        let records = self
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let since = options.incremental_since();
        let start = match options.resume_cursor().and_then(|c| c.parse().ok()) {
            Some(index) => index,
            None => records
                .iter()
                .take_while(|r| since.is_some_and(|s| r.updated_at <= Some(s)))
                .count(),
        };
        let stream_name = entity.to_owned();
        let watermark = records.last().and_then(|r| r.updated_at).or(since);
        let total = records.len();
        let items = (start..total).flat_map(move |i| {
            let record = Ok(SyncItem::Record(records[i].clone()));
            let next = i + 1;
            let checkpoint = if next == total {
                Some(Checkpoint::completed(&stream_name, watermark))
            } else if next % 10 == 0 {
                Some(Checkpoint::in_progress(&stream_name, next.to_string()))
            } else {
                None
            };
            std::iter::once(record).chain(checkpoint.map(|c| Ok(SyncItem::Checkpoint(c))))
        });
        stream::iter(items).boxed()
    }
}

fn main() -> Result<()> {
    let schedule: SyncSchedule =
        connector_core::serde_json::from_value(json!({ "frequency": "hourly", "time": "00:15" }))?;
    let inventory = Arc::new(Inventory {
        meta: ConnectorMetadata::new("inventory", "Inventory", "Example", Category::Other),
        records: Mutex::new(Vec::new()),
    });
    let store = Arc::new(SqliteStore::open_in_memory()?);
    let pipeline = ImportPipeline::new("org-1", inventory.clone(), store.clone())
        .with_entities(["servers"])
        .with_options(ImportOptions::new().with_batch_size(10))
        .with_journal(store.clone())
        .with_actor("scheduler");

    // The simulated clock; a service would use Utc::now().
    let mut now = Utc
        .with_ymd_and_hms(2025, 1, 31, 22, 40, 0)
        .single()
        .unwrap_or_default();
    let mut last_run: Option<DateTime<Utc>> = None;
    inventory.add(now, 25);

    for _ in 0..4 {
        let Some(wake) = next_run(&schedule, last_run.unwrap_or(now)) else {
            println!("the schedule is disabled");
            break;
        };
        // tokio::time::sleep((wake - Utc::now()).to_std().unwrap_or_default()).await;
        now = wake;
        if !is_due(&schedule, last_run, now) {
            continue;
        }
        let report = futures::executor::block_on(pipeline.run())?;
        println!(
            "{now}: job {} {}: {} created, {} updated, checkpoint watermark {:?}",
            report.job_id,
            report.status.as_str(),
            report.totals.created,
            report.totals.updated,
            report
                .entity("servers")
                .and_then(|e| e.checkpoint.as_ref())
                .and_then(|c| c.watermark),
        );
        last_run = Some(now);
        // Between runs the source changes.
        inventory.add(now + Duration::minutes(5), 7);
    }
    println!(
        "{} servers stored; audit trail:",
        store.count_records("org-1", "inventory")?
    );
    for event in store.audit_events("org-1", 10)?.iter().rev() {
        println!(
            "  {} {} {} records, success: {}",
            event.at, event.action, event.records, event.success
        );
    }
    Ok(())
}
