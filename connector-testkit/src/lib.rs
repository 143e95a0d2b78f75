//! # connector-testkit
//!
//! Everything a connector author needs to prove a connector correct offline, in
//! `cargo test`, with no credentials:
//!
//! - [`fake`]: fake vendor APIs on wiremock: paginated collections in every style
//!   `connector-core` supports, vendor envelopes and error bodies, auth guards,
//!   an incremental filter, mutation between reads, a request log and a loud
//!   fallback; scripted and seeded-random fault injection; rate-limit simulation;
//!   a raw TCP proxy for connection resets.
//! - [`suite`]: the contract suite every connector runs: one fixture, one macro
//!   ([`contract_suite!`]), the same named tests for everyone, filtered by the
//!   capabilities the connector declares.
//! - [`fixtures`]: JSON fixtures from files and a redaction helper for recorded
//!   responses.
//! - [`smoke`]: the live smoke runner: `test_connection` and one small fetch per
//!   entity for every registered connector with real credentials.
//!
//! See `docs/testing.md` for the guide.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod fake;
pub mod rng;
pub mod suite;

/// Re-exports the generated tests name; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
pub mod fixtures;
pub mod smoke;
