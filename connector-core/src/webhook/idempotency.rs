//! Processing each delivery once: [`IdempotencyStore`] and its in-memory
//! implementation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

/// How long a delivery id is remembered unless configured otherwise: 7 days,
/// longer than any vendor retries a delivery (GitHub does not retry on its own;
/// Stripe retries for up to 3 days; Shopify for 48 hours).
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Whether a delivery id was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// First time (within the TTL): process it. The id is now recorded.
    Fresh,
    /// Seen within the TTL: acknowledge it and skip it.
    Duplicate,
}

/// Remembers which delivery ids were processed, for a TTL.
///
/// `check_and_record` is atomic: of two concurrent calls with the same id,
/// exactly one gets [`Fresh`](DeliveryStatus::Fresh). Implementations take `now`
/// as a parameter (a clock) so tests are deterministic.
///
/// When processing a fresh delivery fails and the vendor should be allowed to
/// redeliver it, call [`forget`](Self::forget).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Records `delivery_id` as seen at `now` unless it already is (and has not
    /// expired), saying which.
    ///
    /// # Errors
    ///
    /// When the store cannot be read or written. A receiver should then answer
    /// with a retryable status (503) so the vendor redelivers.
    async fn check_and_record(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryStatus>;

    /// Forgets `delivery_id`, so its next delivery counts as fresh.
    ///
    /// # Errors
    ///
    /// When the store cannot be written.
    async fn forget(&self, delivery_id: &str) -> Result<()>;
}

/// An [`IdempotencyStore`] in memory: for one process, tests, and as a first
/// line in front of a shared store.
///
/// Entries expire after the TTL (default [`DEFAULT_TTL`]) and expired entries
/// are purged as new ones arrive, so memory is bounded by the deliveries of one
/// TTL, and never more than `capacity` (default 1,000,000) entries: when full,
/// the oldest entry is evicted early (a replay of that delivery would then be
/// processed again; size the capacity above your deliveries per TTL).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use connector_core::webhook::{DeliveryStatus, IdempotencyStore, MemoryIdempotencyStore};
///
/// # futures::executor::block_on(async {
/// let store = MemoryIdempotencyStore::new();
/// let t0 = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
/// assert_eq!(store.check_and_record("github:1", t0).await.unwrap(), DeliveryStatus::Fresh);
/// assert_eq!(store.check_and_record("github:1", t0).await.unwrap(), DeliveryStatus::Duplicate);
/// let later = t0 + Duration::days(8);
/// assert_eq!(store.check_and_record("github:1", later).await.unwrap(), DeliveryStatus::Fresh);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Delivery id → when it expires (Unix seconds).
    expires: HashMap<String, i64>,
    /// Insertion order with each entry's expiry, for purging. An id re-recorded
    /// after expiring appears twice; the stale copy is skipped.
    order: VecDeque<(i64, String)>,
}

impl Default for MemoryIdempotencyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryIdempotencyStore {
    /// The default capacity.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// A store with the [`DEFAULT_TTL`] and [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY).
    pub fn new() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            capacity: Self::DEFAULT_CAPACITY,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// Sets how long an id is remembered.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the most entries kept (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many ids are remembered (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.lock().expires.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The map stays consistent even if a holder panicked mid-call: every
        // mutation is a single insert or remove.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }
}

impl Entries {
    /// Drops expired entries from the front of the order, and the oldest live ones
    /// while more than `capacity` remain.
    fn purge(&mut self, now: i64, capacity: usize) {
        while let Some((expires_at, id)) = self.order.front() {
            let live = self.expires.get(id) == Some(expires_at);
            if live && *expires_at > now && self.expires.len() <= capacity {
                break;
            }
            if live {
                self.expires.remove(id);
            }
            self.order.pop_front();
        }
        // Stale copies further back (ids re-recorded or forgotten) are dropped
        // when they reach the front; bound the queue so they cannot pile up.
        if self.order.len() > capacity.saturating_mul(2).max(16) {
            let expires = &self.expires;
            self.order.retain(|(at, id)| expires.get(id) == Some(at));
        }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn check_and_record(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryStatus> {
        let now = now.timestamp();
        let mut entries = self.lock();
        if let Some(expires_at) = entries.expires.get(delivery_id)
            && *expires_at > now
        {
            return Ok(DeliveryStatus::Duplicate);
        }
        let expires_at = now.saturating_add(self.ttl_secs());
        entries.expires.insert(delivery_id.to_owned(), expires_at);
        entries
            .order
            .push_back((expires_at, delivery_id.to_owned()));
        entries.purge(now, self.capacity);
        Ok(DeliveryStatus::Fresh)
    }

    async fn forget(&self, delivery_id: &str) -> Result<()> {
        self.lock().expires.remove(delivery_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures::executor::block_on;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
    }

    #[test]
    fn duplicates_within_the_ttl_and_fresh_after() {
        block_on(async {
            let store = MemoryIdempotencyStore::new().with_ttl(Duration::from_secs(60));
            assert_eq!(
                store.check_and_record("a", at(0)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            assert_eq!(
                store.check_and_record("a", at(59)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            assert_eq!(
                store.check_and_record("b", at(59)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            assert_eq!(
                store.check_and_record("a", at(60)).await.unwrap(),
                DeliveryStatus::Fresh
            );
            assert_eq!(
                store.check_and_record("a", at(61)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            store.forget("a").await.unwrap();
            assert_eq!(
                store.check_and_record("a", at(62)).await.unwrap(),
                DeliveryStatus::Fresh
            );
        });
    }

    #[test]
    fn expired_entries_are_purged_and_memory_is_bounded() {
        block_on(async {
            let store = MemoryIdempotencyStore::new()
                .with_ttl(Duration::from_secs(10))
                .with_capacity(100);
            for i in 0..50 {
                store
                    .check_and_record(&format!("old-{i}"), at(0))
                    .await
                    .unwrap();
            }
            assert_eq!(store.len(), 50);
            // Everything above has expired by t=20: one new delivery purges it.
            store.check_and_record("new", at(20)).await.unwrap();
            assert_eq!(store.len(), 1);
            for i in 0..1_000 {
                store
                    .check_and_record(&format!("burst-{i}"), at(21))
                    .await
                    .unwrap();
            }
            assert_eq!(store.len(), 100);
            assert!(store.lock().order.len() <= 200);
            // The newest are kept, the oldest evicted.
            assert_eq!(
                store.check_and_record("burst-999", at(21)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
            assert_eq!(
                store.check_and_record("burst-0", at(21)).await.unwrap(),
                DeliveryStatus::Fresh
            );
        });
    }

    #[test]
    fn a_clock_going_backwards_keeps_entries() {
        block_on(async {
            let store = MemoryIdempotencyStore::new().with_ttl(Duration::from_secs(10));
            store.check_and_record("a", at(100)).await.unwrap();
            assert_eq!(
                store.check_and_record("a", at(50)).await.unwrap(),
                DeliveryStatus::Duplicate
            );
        });
    }
}
