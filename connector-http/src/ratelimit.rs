//! Client-side rate limiting: a quota, the server's own "come back at" signal, and a
//! cap on requests in flight. All three are shared by every clone of a client and
//! by every stream reading through it.
//!
//! Before each attempt a request, in this order: takes an in-flight permit (when
//! [`max_in_flight`](crate::HttpClientBuilder::with_max_in_flight) is set), waits out
//! a server-reported reset (when an earlier response said zero requests remain, or
//! asked to back off with `Retry-After` on a 429/503), then waits for a cell of the
//! [`RateLimit`] quota. Waits run on tokio's clock, so tests drive them with a
//! paused clock.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::headers;

/// A client-side request quota (GCRA, via governor): a steady rate plus a burst.
///
/// ```
/// use connector_http::RateLimit;
///
/// // 10 requests per second, at most 3 at once after an idle period.
/// let limit = RateLimit::per_second(10).with_burst(3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    quota: Quota,
}

impl RateLimit {
    /// `n` requests per second, with a burst of `n`. `0` is read as `1`.
    pub fn per_second(n: u32) -> Self {
        Self {
            quota: Quota::per_second(nonzero(n)),
        }
    }

    /// `n` requests per minute, with a burst of `n`. `0` is read as `1`.
    pub fn per_minute(n: u32) -> Self {
        Self {
            quota: Quota::per_minute(nonzero(n)),
        }
    }

    /// `n` requests per hour, with a burst of `n`. `0` is read as `1`.
    pub fn per_hour(n: u32) -> Self {
        Self {
            quota: Quota::per_hour(nonzero(n)),
        }
    }

    /// One request every `period`, with a burst of one. A zero period is read as
    /// one nanosecond.
    pub fn every(period: Duration) -> Self {
        let period = period.max(Duration::from_nanos(1));
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(nonzero(1)));
        Self { quota }
    }

    /// Sets how many requests may go at once after an idle period. `0` is read as `1`.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.quota = self.quota.allow_burst(nonzero(burst));
        self
    }

    /// The time between two requests at the steady rate.
    pub fn interval(&self) -> Duration {
        self.quota.replenish_interval()
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.quota.burst_size().get()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// governor's clock, driven by tokio's (pausable) clock.
#[derive(Clone, Debug)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// The run-time quota of one client.
pub(crate) struct QuotaLimiter {
    governor: Governor,
    clock: TokioClock,
}

impl std::fmt::Debug for QuotaLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaLimiter").finish_non_exhaustive()
    }
}

impl QuotaLimiter {
    pub(crate) fn new(limit: &RateLimit) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Self {
            governor: RateLimiter::direct_with_clock(limit.quota, clock.clone()),
            clock,
        }
    }

    /// Takes one cell, or says how long to wait before asking again.
    pub(crate) fn check(&self) -> Result<(), Duration> {
        self.governor
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The server's "every request waits until" instant, shared by all clones.
#[derive(Debug, Default)]
pub(crate) struct ServerGate {
    until: Mutex<Option<Instant>>,
}

impl ServerGate {
    /// Learns from a response: zero remaining with a reset time, or a 429/503 with
    /// `Retry-After`, closes the gate for everyone until then.
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        let now = SystemTime::now();
        let wait = if headers::remaining_is_zero(headers) {
            headers::server_wait(headers, now)
        } else if matches!(status.as_u16(), 429 | 503) {
            headers::retry_after(headers, now)
        } else {
            None
        };
        if let Some(wait) = wait.filter(|w| !w.is_zero()) {
            self.close_for(wait);
        }
    }

    pub(crate) fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        if let Ok(mut guard) = self.until.lock()
            && guard.is_none_or(|current| current < until)
        {
            *guard = Some(until);
        }
    }

    /// How long a request must still wait, if at all.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let guard = self.until.lock().ok()?;
        let until = (*guard)?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        assert_eq!(
            RateLimit::per_second(4).interval(),
            Duration::from_millis(250)
        );
        assert_eq!(RateLimit::per_second(4).burst(), 4);
        assert_eq!(RateLimit::per_minute(60).with_burst(1).burst(), 1);
        assert_eq!(
            RateLimit::every(Duration::from_secs(2)).interval(),
            Duration::from_secs(2)
        );
        assert_eq!(RateLimit::per_second(0).burst(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn quota_spaces_cells_on_tokio_time() {
        let q = QuotaLimiter::new(&RateLimit::per_second(2).with_burst(1));
        assert!(q.check().is_ok());
        let wait = q.check().expect_err("second cell must wait");
        assert_eq!(wait, Duration::from_millis(500));
        tokio::time::sleep(wait).await;
        assert!(q.check().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn gate_closes_on_remaining_zero() {
        let gate = ServerGate::default();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "5".parse().unwrap());
        h.insert("x-ratelimit-reset", "30".parse().unwrap());
        gate.observe(StatusCode::OK, &h);
        assert_eq!(gate.remaining(), None);
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        gate.observe(StatusCode::OK, &h);
        assert_eq!(gate.remaining(), Some(Duration::from_secs(30)));
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(gate.remaining(), None);
    }
}
