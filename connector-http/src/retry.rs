//! Retry policy: how many attempts, how long to back off, how long a server may ask
//! us to wait, and how many retries a client may spend.
//!
//! Order of the layers, from the outside in: **max elapsed** bounds the whole call;
//! each **attempt** waits for the client's rate limits, applies auth, then sends with
//! the per-attempt request timeout (the timeout sits *inside* the retry loop). A
//! failed attempt is classified by the [`Classifier`](crate::classify::Classifier);
//! a retryable one sleeps either the wait the server asked for (`Retry-After`, reset
//! headers) or an exponential backoff with full jitter, then tries again.
//!
//! Only idempotent methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`) are
//! retried, or requests marked safe with
//! [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent). One exception:
//! a request whose connection could not be opened never left the client, so it is
//! retried whatever its method.
//!
//! ```
//! use std::time::Duration;
//! use connector_http::{RetryBudget, RetryPolicy};
//!
//! let policy = RetryPolicy::default()
//!     .with_max_attempts(5)
//!     .with_max_wait(Duration::from_secs(120))
//!     .with_budget(RetryBudget::default().with_capacity(50));
//! assert_eq!(policy.max_attempts(), 5);
//! ```

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use connector_core::ErrorKind;
use http::Method;

use crate::classify::RetryReason;

/// How failed requests are retried. `Clone + Debug`; every setting has a default.
///
/// | setting | default |
/// |---|---|
/// | [`with_max_attempts`](Self::with_max_attempts) | 4 (one try and three retries) |
/// | [`with_initial_backoff`](Self::with_initial_backoff) | 500 ms |
/// | [`with_max_backoff`](Self::with_max_backoff) | 30 s |
/// | [`with_factor`](Self::with_factor) | 2.0 |
/// | [`with_jitter`](Self::with_jitter) | on (full jitter: a uniform wait in `[0, backoff]`) |
/// | [`with_max_elapsed`](Self::with_max_elapsed) | 5 min for the whole call, waits included |
/// | [`with_max_wait`](Self::with_max_wait) | 60 s for any single wait the server asks for |
/// | [`with_budget`](Self::with_budget) | [`RetryBudget::default`] |
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    factor: f32,
    jitter: bool,
    max_elapsed: Option<Duration>,
    max_wait: Duration,
    budget: RetryBudget,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            factor: 2.0,
            jitter: true,
            max_elapsed: Some(Duration::from_secs(300)),
            max_wait: Duration::from_secs(60),
            budget: RetryBudget::default(),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt). Waits for rate limits still apply.
    pub fn none() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Sets the total number of attempts, the first included. `0` is read as `1`.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff delay.
    pub fn with_initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the largest backoff delay.
    pub fn with_max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Sets the factor each backoff delay grows by. Values below 1 are read as 1.
    pub fn with_factor(mut self, factor: f32) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// Turns full jitter on or off. Off gives the plain exponential schedule, which
    /// is useful in tests and harmful in production (synchronised retries).
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Bounds the whole call, waits included; `None` for no bound. A retry whose
    /// wait would cross the bound is not made.
    pub fn with_max_elapsed(mut self, max: Option<Duration>) -> Self {
        self.max_elapsed = max;
        self
    }

    /// Caps any single wait the server asks for (`Retry-After`, reset headers, a
    /// client-wide rate-limit pause). A longer wait fails fast with an
    /// [`ErrorKind::RateLimited`] error carrying the wait in
    /// [`retry_after`](connector_core::ConnectorError::retry_after), instead of
    /// sleeping silently for an hour.
    pub fn with_max_wait(mut self, max: Duration) -> Self {
        self.max_wait = max;
        self
    }

    /// Sets the retry budget shared by every clone of the client.
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The total number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The bound on the whole call.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The cap on a single server-requested wait.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The retry budget.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// A fresh backoff schedule for one call.
    pub(crate) fn schedule(&self) -> Backoff {
        let inner = ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(self.factor)
            .without_max_times()
            .build();
        Backoff {
            inner,
            jitter: self.jitter,
            rng: fastrand::Rng::new(),
        }
    }
}

/// The exponential schedule of backon, with full jitter applied on top: each delay
/// is drawn uniformly from `[0, exponential delay]` (the "full jitter" of the AWS
/// architecture blog), which spreads synchronised clients best.
pub(crate) struct Backoff {
    inner: backon::ExponentialBackoff,
    jitter: bool,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.inner.next().unwrap_or(Duration::ZERO);
        if !self.jitter || base.is_zero() {
            return base;
        }
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }
}

/// A token bucket that stops a client from hammering a failing upstream.
///
/// Every retry withdraws [`retry_cost`](Self::with_retry_cost) tokens; every
/// successful response deposits [`success_refill`](Self::with_success_refill),
/// up to [`capacity`](Self::with_capacity). When the bucket cannot pay for a retry,
/// the error is returned at once (status exhausted). Shared by every clone of a
/// client.
///
/// Defaults: capacity 100, retry cost 5, success refill 1, so twenty retries in a
/// row without a success empty it, and steady success refills it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    capacity: u32,
    retry_cost: u32,
    success_refill: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            capacity: 100,
            retry_cost: 5,
            success_refill: 1,
        }
    }
}

impl RetryBudget {
    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        Self {
            capacity: u32::MAX,
            retry_cost: 0,
            success_refill: 0,
        }
    }

    /// Sets the size of the bucket (it starts full).
    pub fn with_capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets what one retry costs.
    pub fn with_retry_cost(mut self, cost: u32) -> Self {
        self.retry_cost = cost;
        self
    }

    /// Sets what one successful response deposits.
    pub fn with_success_refill(mut self, refill: u32) -> Self {
        self.success_refill = refill;
        self
    }
}

/// The run-time state of a [`RetryBudget`].
#[derive(Debug)]
pub(crate) struct BudgetState {
    config: RetryBudget,
    tokens: Mutex<u32>,
}

impl BudgetState {
    pub(crate) fn new(config: RetryBudget) -> Self {
        let tokens = Mutex::new(config.capacity);
        Self { config, tokens }
    }

    /// Withdraws the cost of one retry; false when the bucket cannot pay.
    pub(crate) fn try_withdraw(&self) -> bool {
        let Ok(mut tokens) = self.tokens.lock() else {
            return true;
        };
        match tokens.checked_sub(self.config.retry_cost) {
            Some(left) => {
                *tokens = left;
                true
            }
            None => false,
        }
    }

    pub(crate) fn deposit(&self) {
        if let Ok(mut tokens) = self.tokens.lock() {
            *tokens = tokens
                .saturating_add(self.config.success_refill)
                .min(self.config.capacity);
        }
    }

    #[cfg(test)]
    pub(crate) fn tokens(&self) -> u32 {
        self.tokens.lock().map(|t| *t).unwrap_or(0)
    }
}

/// Whether a method may be repeated without changing the outcome (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Something the client did that an operator may want to see. Delivered to the
/// callback given to [`HttpClientBuilder::on_event`](crate::HttpClientBuilder::on_event)
/// and logged with `tracing`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum HttpEvent {
    /// A failed attempt will be retried after a wait.
    Retry(RetryEvent),
    /// A request waits for a rate limit (client quota or a server-reported reset).
    RateLimitWait(RateLimitWait),
}

/// A retry about to happen. Every field is safe to print.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct RetryEvent {
    /// The request method.
    pub method: Method,
    /// The request URL, credentials removed.
    pub url: String,
    /// The attempt that failed (1 for the first try).
    pub attempt: u32,
    /// The kind of the failure.
    pub kind: ErrorKind,
    /// Why it is retried.
    pub reason: RetryReason,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// How long the client waits before the next attempt.
    pub delay: Duration,
    /// Whether the delay is what the server asked for (rather than backoff).
    pub server_requested: bool,
}

/// What a request is waiting for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// The client's own quota ([`RateLimit`](crate::RateLimit)).
    ClientQuota,
    /// The server reported zero remaining requests until a reset, or asked every
    /// request to back off.
    ServerReset,
}

impl fmt::Display for WaitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitCause::ClientQuota => "client quota",
            WaitCause::ServerReset => "server rate-limit reset",
        })
    }
}

/// A request waiting for a rate limit. Every field is safe to print.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct RateLimitWait {
    /// The request method.
    pub method: Method,
    /// The request URL, credentials removed.
    pub url: String,
    /// What it waits for.
    pub cause: WaitCause,
    /// How long it waits.
    pub delay: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_without_jitter_is_exponential_and_capped() {
        let policy = RetryPolicy::default()
            .with_jitter(false)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(500));
        let mut s = policy.schedule();
        let delays: Vec<_> = (0..5).map(|_| s.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn full_jitter_stays_within_the_exponential_delay() {
        let policy = RetryPolicy::default().with_initial_backoff(Duration::from_millis(100));
        for _ in 0..50 {
            let mut s = policy.schedule();
            assert!(s.next_delay() <= Duration::from_millis(100));
            assert!(s.next_delay() <= Duration::from_millis(200));
        }
    }

    #[test]
    fn budget_withdraws_and_refills() {
        let b = BudgetState::new(RetryBudget::default().with_capacity(10).with_retry_cost(5));
        assert!(b.try_withdraw());
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
        b.deposit();
        assert_eq!(b.tokens(), 1);
        for _ in 0..20 {
            b.deposit();
        }
        assert_eq!(b.tokens(), 10);
        let unlimited = BudgetState::new(RetryBudget::unlimited());
        assert!((0..1000).all(|_| unlimited.try_withdraw()));
    }

    #[test]
    fn idempotent_methods() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
