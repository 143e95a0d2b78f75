//! Integration tests of connector-http against wiremock servers on 127.0.0.1.
//!
//! One fresh server per test, with a loud catch-all fallback mounted last; retry
//! and rate-limit waits run on tokio's paused clock and are asserted through the
//! client's events and tokio's virtual time, never the wall clock.

mod auth;
mod common;
mod errors;
mod paginate;
mod ratelimit;
mod retry;
