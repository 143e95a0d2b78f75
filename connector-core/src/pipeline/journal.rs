//! Import jobs and audit events, and where they are recorded.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::progress::{Counts, Stage};
use crate::error::Result;

/// The state of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobStatus {
    /// The run is in progress (or its process died; see [`ImportJob::updated_at`]).
    Running,
    /// The run finished and is committed.
    Completed,
    /// The run failed; see [`ImportJob::error`].
    Failed,
    /// The run was cancelled.
    Cancelled,
}

impl JobStatus {
    /// The status's name (`running`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`as_str`](Self::as_str) output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }
}

/// One import run, as recorded while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImportJob {
    /// The job id (also the report's).
    pub id: String,
    /// The organization imported for.
    pub organization: String,
    /// The connector id.
    pub connector: String,
    /// The entities (source types) the run imports.
    pub entities: Vec<String>,
    /// The job's state.
    pub status: JobStatus,
    /// The stage of the latest progress event.
    pub stage: Stage,
    /// The run's counts so far.
    pub counts: Counts,
    /// Who started the run (a user or service id), if known.
    pub actor: Option<String>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the job was last updated.
    pub updated_at: DateTime<Utc>,
    /// When the run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One audit event: who did what, when, to how many records, and whether it worked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it (a user or service id), if known.
    pub actor: Option<String>,
    /// What was done (`connector.import`, `credentials.store`).
    pub action: String,
    /// The organization.
    pub organization: String,
    /// The connector (or connector instance) acted on.
    pub resource: String,
    /// The import job, when the event belongs to one.
    pub job_id: Option<String>,
    /// How many records it touched.
    pub records: u64,
    /// Whether it succeeded.
    pub success: bool,
    /// More detail (the error of a failure), safe to print.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event happening now.
    pub fn now(
        action: impl Into<String>,
        organization: impl Into<String>,
        resource: impl Into<String>,
        success: bool,
    ) -> Self {
        Self {
            at: Utc::now(),
            actor: None,
            action: action.into(),
            organization: organization.into(),
            resource: resource.into(),
            job_id: None,
            records: 0,
            success,
            detail: None,
        }
    }

    /// Sets who did it.
    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// Sets the job.
    pub fn with_job(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// Sets how many records it touched.
    pub fn with_records(mut self, records: u64) -> Self {
        self.records = records;
        self
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Where import jobs and audit events are recorded.
///
/// The pipeline records the job when the run starts, after every batch and when it
/// ends, and one audit event per run. A failure to record the start fails the run
/// before it reads anything; later failures become report warnings.
///
/// Keep the journal in a different store from the sink when a rolled-back run must
/// leave the sink's store byte-for-byte unchanged; the failed job is recorded after
/// the rollback either way.
#[async_trait]
pub trait ImportJournal: Send + Sync {
    /// Inserts or replaces the job with `job.id`.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    async fn record_job(&self, job: &ImportJob) -> Result<()>;

    /// Appends an audit event.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    async fn record_audit(&self, event: &AuditEvent) -> Result<()>;
}

/// An [`ImportJournal`] in memory.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    jobs: Mutex<Vec<ImportJob>>,
    audit: Mutex<Vec<AuditEvent>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The job with `id`.
    pub fn job(&self, id: &str) -> Option<ImportJob> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|j| j.id == id)
            .cloned()
    }

    /// Every job, in the order they started.
    pub fn jobs(&self) -> Vec<ImportJob> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every audit event, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.audit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl ImportJournal for MemoryJournal {
    async fn record_job(&self, job: &ImportJob) -> Result<()> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.iter_mut().find(|j| j.id == job.id) {
            Some(existing) => *existing = job.clone(),
            None => jobs.push(job.clone()),
        }
        Ok(())
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        self.audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}
