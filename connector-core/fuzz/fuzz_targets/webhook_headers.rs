//! Feeds arbitrary headers, bodies and clocks to every webhook scheme's
//! verifier and delivery-id extraction. The property: nothing panics, and every
//! rejection names a header.
//!
//! ```text
//! cd connector-core/fuzz && cargo +nightly fuzz run webhook_headers -- -max_total_time=300
//! ```

#![no_main]

use connector_core::webhook::{DeliveryId, WebhookScheme, fuzz_verify_all};
use libfuzzer_sys::fuzz_target;

/// Header names the parsers read, so the fuzzer reaches them without guessing.
const NAMES: &[&str] = &[
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "Stripe-Signature",
    "X-Shopify-Hmac-Sha256",
    "X-Gitlab-Token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-PagerDuty-Signature",
    "X-GitHub-Delivery",
    "X-Shopify-Event-Id",
    "Idempotency-Key",
];

fuzz_target!(|input: (Vec<(u8, Vec<u8>)>, Vec<u8>, i64)| {
    let (raw, body, now) = input;
    let headers: Vec<(&str, Vec<u8>)> = raw
        .into_iter()
        .map(|(n, v)| (NAMES[usize::from(n) % NAMES.len()], v))
        .collect();
    for outcome in fuzz_verify_all(&headers, &body, now) {
        if let Err(rejection) = outcome {
            assert!(!rejection.header().is_empty());
        }
    }
    for scheme in WebhookScheme::ALL {
        let _ = DeliveryId::extract(*scheme, &headers, &body);
    }
});
