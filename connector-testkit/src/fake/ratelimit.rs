//! Rate-limit simulation: a request quota per window, answered the vendor's way.
//!
//! Every response carries the vendor's "remaining" headers; a request over the
//! quota gets 429 (or 403, GitHub's primary limit) with the vendor's reset headers
//! and, where the vendor sends it, `Retry-After`. The window runs on the fake's
//! [`TestClock`](crate::clock::TestClock), so a connector that sleeps until the
//! reset on tokio's paused clock finds the window open again.

use std::time::{Duration, UNIX_EPOCH};

use tokio::time::Instant;

use crate::clock::TestClock;

/// Which vendor's headers the simulation sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitStyle {
    /// GitHub: `x-ratelimit-limit/-remaining/-used/-reset` (reset in epoch seconds)
    /// and `x-ratelimit-resource`; over the limit `403` (or `429`) with
    /// `x-ratelimit-remaining: 0` and no `Retry-After`.
    GitHub {
        /// 403 or 429; GitHub sends either.
        status: u16,
    },
    /// Okta: `X-Rate-Limit-Limit/-Remaining/-Reset` (epoch seconds); `429`, no
    /// `Retry-After`.
    Okta,
    /// PagerDuty and the IETF draft: `ratelimit-limit/-remaining/-reset` (reset in
    /// seconds to wait); `429`.
    Ietf,
    /// ServiceNow: `X-RateLimit-Limit`, `X-RateLimit-Reset` (epoch seconds),
    /// `X-RateLimit-Rule`; `429` with `Retry-After`.
    ServiceNow,
    /// Microsoft Graph: no headers until throttled, then `429` with `Retry-After`.
    RetryAfter,
}

/// A quota of `limit` requests per `window`.
///
/// ```
/// use std::time::Duration;
/// use connector_testkit::fake::{RateLimitSim, RateLimitStyle};
///
/// let github = RateLimitSim::new(5000, Duration::from_secs(3600), RateLimitStyle::GitHub { status: 403 });
/// let pagerduty = RateLimitSim::new(960, Duration::from_secs(60), RateLimitStyle::Ietf).with_retry_after(true);
/// # let _ = (github, pagerduty);
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitSim {
    limit: u32,
    window: Duration,
    style: RateLimitStyle,
    retry_after: Option<bool>,
}

impl RateLimitSim {
    /// `limit` requests per `window`, with `style`'s headers.
    pub fn new(limit: u32, window: Duration, style: RateLimitStyle) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_secs(1)),
            style,
            retry_after: None,
        }
    }

    /// Sends (or withholds) `Retry-After` over the limit, whatever the style does.
    pub fn with_retry_after(mut self, send: bool) -> Self {
        self.retry_after = Some(send);
        self
    }

    fn sends_retry_after(&self) -> bool {
        self.retry_after.unwrap_or(matches!(
            self.style,
            RateLimitStyle::ServiceNow | RateLimitStyle::RetryAfter
        ))
    }
}

/// The decision for one request.
#[derive(Debug)]
pub(crate) struct Decision {
    /// `Some(status)` when the request is over the quota.
    pub(crate) exceeded: Option<u16>,
    /// Headers to add to the response.
    pub(crate) headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    sim: RateLimitSim,
    window_start: Instant,
    used: u32,
}

impl RateLimiter {
    pub(crate) fn new(sim: RateLimitSim, clock: &TestClock) -> Self {
        Self {
            sim,
            window_start: clock.now(),
            used: 0,
        }
    }

    pub(crate) fn check(&mut self, clock: &TestClock) -> Decision {
        let now = clock.now();
        if now.saturating_duration_since(self.window_start) >= self.sim.window {
            self.window_start = now;
            self.used = 0;
        }
        let exceeded = self.used >= self.sim.limit;
        if !exceeded {
            self.used += 1;
        }
        let remaining = self.sim.limit.saturating_sub(self.used);
        let left = self
            .sim
            .window
            .saturating_sub(now.saturating_duration_since(self.window_start));
        let wait_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let reset_epoch = clock
            .wall()
            .checked_add(Duration::from_secs(wait_secs))
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let (limit, remaining, used, wait, epoch) = (
            self.sim.limit.to_string(),
            remaining.to_string(),
            self.used.to_string(),
            wait_secs.to_string(),
            reset_epoch.to_string(),
        );
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut h = |name: &str, value: &str| headers.push((name.to_owned(), value.to_owned()));
        let status = match self.sim.style {
            RateLimitStyle::GitHub { status } => {
                h("x-ratelimit-limit", &limit);
                h("x-ratelimit-remaining", &remaining);
                h("x-ratelimit-used", &used);
                h("x-ratelimit-reset", &epoch);
                h("x-ratelimit-resource", "core");
                status
            }
            RateLimitStyle::Okta => {
                h("x-rate-limit-limit", &limit);
                h("x-rate-limit-remaining", &remaining);
                h("x-rate-limit-reset", &epoch);
                429
            }
            RateLimitStyle::Ietf => {
                h("ratelimit-limit", &limit);
                h("ratelimit-remaining", &remaining);
                h("ratelimit-reset", &wait);
                429
            }
            RateLimitStyle::ServiceNow => {
                h("x-ratelimit-limit", &limit);
                h("x-ratelimit-reset", &epoch);
                h("x-ratelimit-rule", "b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7");
                429
            }
            RateLimitStyle::RetryAfter => 429,
        };
        if exceeded && self.sim.sends_retry_after() {
            h("retry-after", &wait);
        }
        Decision {
            exceeded: exceeded.then_some(status),
            headers,
        }
    }
}
