//! Webhooks (feature `webhooks`): verify vendor signatures on the raw bytes,
//! reject replays, process each delivery once, and turn events into records.
//!
//! A webhook endpoint does four things, in this order:
//!
//! 1. **Verify** the delivery with a [`WebhookVerifier`] over the exact raw body
//!    bytes, before any parsing: GitHub, Slack, Stripe, Shopify, GitLab, Standard
//!    Webhooks and PagerDuty ([`WebhookScheme`]). Comparisons are constant time;
//!    timestamped schemes reject a timestamp outside the tolerance in **both**
//!    directions; the current time is a parameter. A rejection is a [`Rejection`]
//!    naming the header, never a panic.
//! 2. **De-duplicate** on the [`DeliveryId`] with an [`IdempotencyStore`]
//!    ([`MemoryIdempotencyStore`], or `SqliteIdempotencyStore` with the `sqlite`
//!    feature): a redelivered event is acknowledged and skipped.
//! 3. **Answer fast** (202) and process in the background: vendors time out in
//!    seconds and retry.
//! 4. **Map** the event with the connector's [`WebhookHandler`] into
//!    [`SyncItem`](crate::SyncItem)s (upserts and deletions) and write them to a
//!    [`Sink`](crate::sink::Sink) ([`write_to_sink`]).
//!
//! [`WebhookReceiver`] does 1 and 2 in `receive` and 4 in `process`.
//!
//! # Errors
//!
//! A rejected delivery becomes a [`ConnectorError`](crate::ConnectorError) of kind
//! [`Protocol`](crate::ErrorKind::Protocol) when a header is missing or malformed
//! (answer 400) and [`Auth`](crate::ErrorKind::Auth) when the signature, token or
//! timestamp fails (answer 401). Neither the secret nor the expected signature
//! ever appears in an error, and [`WebhookVerifier`]'s `Debug` redacts secrets.
//!
//! See `docs/webhooks.md` for the schemes, operational advice and the axum
//! example in `examples/`.

mod delivery;
mod encoding;
mod handler;
mod headers;
mod idempotency;
mod rejection;
#[cfg(feature = "sqlite")]
mod sqlite;
mod verify;

#[cfg(test)]
mod tests;

pub use delivery::{
    DeliveryId, GITHUB_DELIVERY, GITHUB_EVENT, GITLAB_EVENT_UUID, GITLAB_IDEMPOTENCY_KEY,
    SHOPIFY_EVENT_ID, SHOPIFY_WEBHOOK_ID,
};
pub use handler::{Receipt, WebhookHandler, WebhookReceiver, write_to_sink};
pub use headers::Headers;
pub use idempotency::{DEFAULT_TTL, DeliveryStatus, IdempotencyStore, MemoryIdempotencyStore};
pub use rejection::{Rejection, RejectionReason};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteIdempotencyStore;
pub use verify::{
    DEFAULT_TOLERANCE, GITHUB_SIGNATURE, GITHUB_SIGNATURE_SHA1, GITLAB_TOKEN, PAGERDUTY_SIGNATURE,
    SHOPIFY_SIGNATURE, SLACK_SIGNATURE, SLACK_TIMESTAMP, STANDARD_ID, STANDARD_SIGNATURE,
    STANDARD_TIMESTAMP, STRIPE_SIGNATURE, Verified, WebhookScheme, WebhookVerifier,
};

/// Parses every header a scheme reads, for fuzzing and property tests: runs
/// `verify` for every scheme with a fixed secret over `headers` and `body` at
/// `now_unix`, and returns the outcomes. Never panics on any input.
#[doc(hidden)]
pub fn fuzz_verify_all(
    headers: &dyn Headers,
    body: &[u8],
    now_unix: i64,
) -> Vec<std::result::Result<Verified, Rejection>> {
    let now = chrono::DateTime::from_timestamp(now_unix, 0).unwrap_or_default();
    WebhookScheme::ALL
        .iter()
        .filter_map(|s| WebhookVerifier::new(*s, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok())
        .map(|v| {
            #[cfg(feature = "webhooks-github-sha1")]
            let v = v.with_legacy_sha1(true);
            v.verify(headers, body, now)
        })
        .collect()
}
