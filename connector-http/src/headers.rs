//! Reading the wait a server asks for: `Retry-After` and the rate-limit headers
//! vendors send.
//!
//! `Retry-After` is delta-seconds or an HTTP-date (RFC 9110). Reset headers come in
//! three dialects, all accepted by [`reset_wait`]:
//!
//! - epoch seconds: GitHub and ServiceNow `x-ratelimit-reset`, Okta
//!   `X-Rate-Limit-Reset`, GitLab `RateLimit-Reset`;
//! - delta seconds: PagerDuty `ratelimit-reset` and the IETF `RateLimit` draft;
//! - a date: Jira `X-RateLimit-Reset` (ISO 8601, minutes precision), GitLab
//!   `RateLimit-ResetTime` (HTTP-date).
//!
//! A number of at least 1,000,000,000 is read as epoch seconds (anything smaller
//! would be a wait of over 31 years), at least 10^12 as epoch milliseconds, and
//! anything smaller as delta seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// Header names that report how many requests remain in the current window.
pub const REMAINING_HEADERS: &[&str] = &[
    "x-ratelimit-remaining",
    "ratelimit-remaining",
    "x-rate-limit-remaining",
];

/// Header names that report when the current window resets.
pub const RESET_HEADERS: &[&str] = &[
    "x-ratelimit-reset",
    "ratelimit-reset",
    "x-rate-limit-reset",
    "ratelimit-resettime",
];

const EPOCH_SECONDS_FLOOR: f64 = 1_000_000_000.0;
const EPOCH_MILLIS_FLOOR: f64 = 1_000_000_000_000.0;

/// Parses a `Retry-After` value: delta-seconds (fractions allowed) or an HTTP-date.
/// A date in the past gives a zero wait. Returns `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(secs) = parse_seconds(value) {
        return Some(secs);
    }
    parse_date(value).map(|at| wait_until(at, now))
}

/// Parses a rate-limit reset value in any of the dialects described in the module
/// documentation and returns how long to wait from `now`.
pub fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(n) = value.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        if n >= EPOCH_MILLIS_FLOOR {
            return Some(wait_until(
                UNIX_EPOCH + Duration::from_secs_f64(n / 1000.0),
                now,
            ));
        }
        if n >= EPOCH_SECONDS_FLOOR {
            return Some(wait_until(UNIX_EPOCH + Duration::from_secs_f64(n), now));
        }
        return Some(Duration::from_secs_f64(n));
    }
    parse_date(value).map(|at| wait_until(at, now))
}

/// The first header of `names` present in `headers` whose value is valid text.
pub fn first_header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
}

/// Whether a rate-limit "remaining" header says zero requests remain.
pub fn remaining_is_zero(headers: &HeaderMap) -> bool {
    first_header(headers, REMAINING_HEADERS)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .is_some_and(|n| n <= 0.0)
}

/// The wait a `Retry-After` header asks for.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

/// The wait until the rate-limit window resets, from the first reset header present.
pub fn reset_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    RESET_HEADERS
        .iter()
        .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .find_map(|v| parse_reset(v, now))
}

/// The wait the server asked for: `Retry-After` when present, else the reset header.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after(headers, now).or_else(|| reset_wait(headers, now))
}

fn parse_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && (0.0..1e12).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

fn parse_date(value: &str) -> Option<SystemTime> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let parsed = DateTime::parse_from_rfc2822(value)
        .or_else(|_| DateTime::parse_from_rfc3339(value))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // Jira: `2024-05-01T12:34Z` (minutes precision).
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%MZ")
                .ok()
                .map(|n| n.and_utc())
        })?;
    let secs = u64::try_from(parsed.timestamp()).ok()?;
    Some(
        UNIX_EPOCH
            + Duration::from_secs(secs)
            + Duration::from_nanos(u64::from(parsed.timestamp_subsec_nanos())),
    )
}

fn wait_until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        // 2015-10-21T07:28:00Z
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-3", now()), None);
    }

    #[test]
    fn reset_dialects() {
        // Epoch seconds (GitHub, Okta).
        assert_eq!(
            parse_reset("1445412540", now()),
            Some(Duration::from_secs(60))
        );
        // Epoch milliseconds.
        assert_eq!(
            parse_reset("1445412540000", now()),
            Some(Duration::from_secs(60))
        );
        // Delta seconds (PagerDuty).
        assert_eq!(parse_reset("42", now()), Some(Duration::from_secs(42)));
        // Jira ISO 8601 with minutes.
        assert_eq!(
            parse_reset("2015-10-21T07:30Z", now()),
            Some(Duration::from_secs(120))
        );
        // RFC 3339 and HTTP-date.
        assert_eq!(
            parse_reset("2015-10-21T07:28:10Z", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_reset("Wed, 21 Oct 2015 07:29:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        // In the past.
        assert_eq!(parse_reset("1445412000", now()), Some(Duration::ZERO));
        assert_eq!(parse_reset("later", now()), None);
    }

    #[test]
    fn server_wait_prefers_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "1445412540".parse().unwrap());
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert!(remaining_is_zero(&h));
        assert_eq!(server_wait(&h, now()), Some(Duration::from_secs(60)));
        h.insert("retry-after", "5".parse().unwrap());
        assert_eq!(server_wait(&h, now()), Some(Duration::from_secs(5)));
        let mut okta = HeaderMap::new();
        okta.insert("X-Rate-Limit-Remaining", "3".parse().unwrap());
        assert!(!remaining_is_zero(&okta));
    }
}
