//! Per-request overhead (divan) of the rate limiter, the retry wrapper and the
//! auth layer, in nanoseconds: one request's worth of each layer, run through
//! connector-http's `bench-internals` hooks (the functions the send path runs on
//! every attempt), without the network and without waits (the quota is never
//! exhausted, the response is a 200, the OAuth2 token is cached).
//!
//! The auth benches include copying the request for the attempt (auth is applied
//! to that copy); `attempt_copy` measures the copy alone, so a strategy's own cost
//! is its time minus `attempt_copy`'s. `whole_get` is a whole `GET /ping` to a
//! local server through a client with no layers, for scale.
//!
//! `cargo bench -p connector-benches --features bench --bench overhead`.

use connector_benches::micro::{LayerCase, LayerProbes, bare_client, ping_rounds};
use connector_benches::server::{Catalog, Server};
use divan::Bencher;

fn main() {
    divan::main();
}

fn run(bencher: Bencher<'_, '_>, case: LayerCase) {
    let server = Server::start(Catalog::new(100, 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let probes = runtime.block_on(LayerProbes::new(&server.base_url()));
    let _context = runtime.enter();
    bencher.bench_local(|| probes.once(divan::black_box(case)));
}

/// Rate limiter admission with a quota (pause check, one quota cell) and learning
/// from a 200's headers.
#[divan::bench]
fn rate_limiter(b: Bencher<'_, '_>) {
    run(b, LayerCase::RateLimit);
}

/// What every client does without a quota: the pause check and learning from the
/// response.
#[divan::bench]
fn pause_check_only(b: Bencher<'_, '_>) {
    run(b, LayerCase::PauseOnly);
}

/// The rate limiter with a `max_in_flight` cap as well.
#[divan::bench]
fn rate_limiter_in_flight(b: Bencher<'_, '_>) {
    run(b, LayerCase::RateLimitInFlight);
}

/// The retry wrapper around a successful attempt (start, classify, deposit).
#[divan::bench]
fn retry_wrapper(b: Bencher<'_, '_>) {
    run(b, LayerCase::Retry);
}

/// The attempt's copy of the request: the baseline of the auth benches.
#[divan::bench]
fn attempt_copy(b: Bencher<'_, '_>) {
    run(b, LayerCase::AttemptCopy);
}

/// Bearer auth on the attempt's copy (copy included).
#[divan::bench]
fn bearer_auth(b: Bencher<'_, '_>) {
    run(b, LayerCase::Bearer);
}

/// OAuth2 client credentials with a cached token (copy included).
#[divan::bench]
fn oauth2_cached_token(b: Bencher<'_, '_>) {
    run(b, LayerCase::OAuth2Cached);
}

/// Quota, retry wrapper and bearer auth together (copy included).
#[divan::bench]
fn all_three(b: Bencher<'_, '_>) {
    run(b, LayerCase::All);
}

/// A whole `GET /ping` on loopback through a client with no layers, for scale.
#[divan::bench]
fn whole_get(bencher: Bencher<'_, '_>) {
    let server = Server::start(Catalog::new(100, 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = bare_client(&server.base_url());
    bencher.bench_local(|| runtime.block_on(ping_rounds(&client, 1)));
}
