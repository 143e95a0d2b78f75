//! Per-request overhead (divan) of the rate limiter, the retry wrapper and the
//! auth layer: `GET /ping` against a local server through clients with each layer
//! (no waits: the limit is far above the request rate and nothing fails). The
//! overhead of a layer is its time minus the bare client's.
//! `cargo bench -p connector-benches --features bench --bench overhead`.

use connector_benches::micro::{Layers, ping_rounds};
use connector_benches::server::{Catalog, Server};
use divan::Bencher;

fn main() {
    divan::main();
}

fn run(bencher: Bencher<'_, '_>, layers: Layers) {
    let server = Server::start(Catalog::new(100, 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = layers.client(&server.base_url());
    bencher.bench_local(|| runtime.block_on(ping_rounds(&client, 1)));
}

#[divan::bench]
fn bare(b: Bencher<'_, '_>) {
    run(b, Layers::Bare);
}

#[divan::bench]
fn rate_limiter(b: Bencher<'_, '_>) {
    run(b, Layers::RateLimit);
}

#[divan::bench]
fn retry_wrapper(b: Bencher<'_, '_>) {
    run(b, Layers::Retry);
}

#[divan::bench]
fn bearer_auth(b: Bencher<'_, '_>) {
    run(b, Layers::Auth);
}

#[divan::bench]
fn all_three(b: Bencher<'_, '_>) {
    run(b, Layers::All);
}
