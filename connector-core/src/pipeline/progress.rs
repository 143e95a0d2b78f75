//! Progress events and cooperative cancellation.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// The job is created; nothing is read yet.
    Starting,
    /// An entity's fetch stream has started.
    Extracting,
    /// A batch was written to the sink.
    Loading,
    /// Relationships are being resolved against the sink.
    Relationships,
    /// The run is being committed.
    Committing,
    /// The run failed or was cancelled and is being rolled back.
    RollingBack,
    /// The run finished and is committed.
    Completed,
    /// The run failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
}

impl Stage {
    /// The stage's name (`loading`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Starting => "starting",
            Stage::Extracting => "extracting",
            Stage::Loading => "loading",
            Stage::Relationships => "relationships",
            Stage::Committing => "committing",
            Stage::RollingBack => "rolling_back",
            Stage::Completed => "completed",
            Stage::Failed => "failed",
            Stage::Cancelled => "cancelled",
        }
    }
}

/// What happened to the records of one entity (or of a whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Records read from the stream, valid or not.
    pub processed: u64,
    /// Records new to the sink.
    pub created: u64,
    /// Records that replaced (or were merged into) stored ones.
    pub updated: u64,
    /// Records left out because the sink already held them (strategy `skip`).
    pub skipped: u64,
    /// Records that failed validation or a `fail` dedupe.
    pub failed: u64,
    /// Deletions applied.
    pub deleted: u64,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.processed += other.processed;
        self.created += other.created;
        self.updated += other.updated;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.deleted += other.deleted;
    }

    /// Records stored: created plus updated.
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }
}

/// One progress report, sent after the run starts, when each entity starts, after
/// every batch, and when the run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProgressEvent {
    /// The import job.
    pub job_id: String,
    /// Where the run is.
    pub stage: Stage,
    /// The entity being imported, if any.
    pub entity: Option<String>,
    /// The counts of that entity so far.
    pub entity_counts: Counts,
    /// The counts of the whole run so far.
    pub run_counts: Counts,
    /// How many records the entity has, when known (see
    /// [`ImportPipeline::with_expected_total`](super::ImportPipeline::with_expected_total)).
    pub total: Option<u64>,
    /// Time since the run started.
    #[serde(with = "super::report::duration_ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// Records processed per second over the entity so far.
    pub records_per_second: f64,
    /// Estimated time left for the entity, when its total is known.
    #[serde(with = "super::report::opt_duration_ms", rename = "eta_ms")]
    pub eta: Option<Duration>,
}

/// A handle that asks a running import to stop at the next item.
///
/// Cancellation is cooperative: the pipeline notices it between items (and while it
/// waits for the next one), writes the batch it holds with the last checkpoint it
/// saw (in [`CommitMode::PerBatch`](super::CommitMode::PerBatch)), so the stored
/// checkpoint is consistent with the stored data, and returns an error of kind
/// [`Cancelled`](crate::ErrorKind::Cancelled). The next run continues from there.
/// Clones share the same state.
///
/// ```
/// use connector_core::pipeline::CancelToken;
///
/// let token = CancelToken::new();
/// let handle = token.clone();
/// handle.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding this token to stop.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.lock());
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// A future that completes when the token is cancelled.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled { token: self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The future of [`CancelToken::cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'a> {
    token: &'a CancelToken,
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_cancelled() {
            return Poll::Ready(());
        }
        {
            let mut wakers = self.token.lock();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // A cancel between the check and the registration would be missed otherwise.
        if self.token.is_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
