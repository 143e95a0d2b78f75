//! Delivery ids: what de-duplication is keyed by.

use std::fmt;

use serde::Deserialize;

use super::headers::{Headers, lenient};
use super::verify::{MAX_ID_LEN, STANDARD_ID, WebhookScheme};

/// GitHub's delivery GUID header.
pub const GITHUB_DELIVERY: &str = "X-GitHub-Delivery";
/// GitHub's event name header (`issues`, `pull_request`).
pub const GITHUB_EVENT: &str = "X-GitHub-Event";
/// Shopify's event id header (the same across retries of one event).
pub const SHOPIFY_EVENT_ID: &str = "X-Shopify-Event-Id";
/// Shopify's webhook (delivery) id header.
pub const SHOPIFY_WEBHOOK_ID: &str = "X-Shopify-Webhook-Id";
/// GitLab's idempotency key header (GitLab 17.4 and later; stable across retries).
pub const GITLAB_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// GitLab's per-event UUID header.
pub const GITLAB_EVENT_UUID: &str = "X-Gitlab-Event-UUID";

/// The id of one delivery, unique per scheme, stable across the vendor's retries
/// of the same event. [`key`](Self::key) is what an
/// [`IdempotencyStore`](super::IdempotencyStore) records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId {
    scheme: WebhookScheme,
    id: String,
}

#[derive(Deserialize)]
struct BodyIds {
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    event: Option<InnerEvent>,
}

#[derive(Deserialize)]
struct InnerEvent {
    #[serde(default)]
    id: Option<String>,
}

impl DeliveryId {
    /// A delivery id of `scheme`.
    pub fn new(scheme: WebhookScheme, id: impl Into<String>) -> Self {
        Self {
            scheme,
            id: id.into(),
        }
    }

    /// Finds the delivery id of a (verified) delivery, where the scheme has one:
    ///
    /// | scheme | id |
    /// |---|---|
    /// | GitHub | `X-GitHub-Delivery` |
    /// | Standard Webhooks | `webhook-id` |
    /// | Shopify | `X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id` |
    /// | GitLab | `Idempotency-Key`, else `webhook-id`, else `X-Gitlab-Event-UUID` |
    /// | Slack | the JSON body's `event_id` (Events API; slash commands have none) |
    /// | Stripe | the JSON body's `id` (`evt_…`) |
    /// | PagerDuty | the JSON body's `event.id` (v3 webhooks; unverified, see the facts file) |
    ///
    /// `None` when there is none, or it is empty or longer than 256 bytes. Call it
    /// only on a verified delivery: the body is parsed.
    pub fn extract(scheme: WebhookScheme, headers: &dyn Headers, body: &[u8]) -> Option<Self> {
        let from_headers = |names: &[&str]| names.iter().find_map(|n| lenient(headers, n));
        let id = match scheme {
            WebhookScheme::GitHub => from_headers(&[GITHUB_DELIVERY]).map(str::to_owned),
            WebhookScheme::StandardWebhooks => from_headers(&[STANDARD_ID]).map(str::to_owned),
            WebhookScheme::Shopify => {
                from_headers(&[SHOPIFY_EVENT_ID, SHOPIFY_WEBHOOK_ID]).map(str::to_owned)
            }
            WebhookScheme::GitLab => {
                from_headers(&[GITLAB_IDEMPOTENCY_KEY, STANDARD_ID, GITLAB_EVENT_UUID])
                    .map(str::to_owned)
            }
            WebhookScheme::Slack => body_ids(body).and_then(|b| b.event_id),
            WebhookScheme::Stripe => body_ids(body).and_then(|b| b.id),
            WebhookScheme::PagerDuty => body_ids(body).and_then(|b| b.event).and_then(|e| e.id),
        }?;
        (!id.is_empty() && id.len() <= MAX_ID_LEN).then(|| Self::new(scheme, id))
    }

    /// The scheme.
    pub fn scheme(&self) -> WebhookScheme {
        self.scheme
    }

    /// The vendor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `{scheme}:{id}` (`github:72d3162e-…`): the key to record. Prefix it with a
    /// tenant or connector instance when several share one store and the vendor's
    /// ids are not globally unique.
    pub fn key(&self) -> String {
        format!("{}:{}", self.scheme, self.id)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

fn body_ids(body: &[u8]) -> Option<BodyIds> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_scheme_header_or_body() {
        let h = [
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("webhook-id", "msg_1"),
            ("X-Shopify-Webhook-Id", "wh-1"),
            ("X-Gitlab-Event-UUID", "ev-1"),
        ];
        let id = |s, body: &[u8]| DeliveryId::extract(s, &h, body).map(|d| d.key());
        assert_eq!(
            id(WebhookScheme::GitHub, b"{}").as_deref(),
            Some("github:72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(
            id(WebhookScheme::StandardWebhooks, b"").as_deref(),
            Some("standard_webhooks:msg_1")
        );
        assert_eq!(
            id(WebhookScheme::Shopify, b"").as_deref(),
            Some("shopify:wh-1")
        );
        assert_eq!(
            id(WebhookScheme::GitLab, b"").as_deref(),
            Some("gitlab:msg_1")
        );
        assert_eq!(
            id(
                WebhookScheme::Slack,
                br#"{"type":"event_callback","event_id":"Ev1"}"#
            )
            .as_deref(),
            Some("slack:Ev1")
        );
        assert_eq!(
            id(WebhookScheme::Slack, b"token=x&command=%2Fdo").as_deref(),
            None
        );
        assert_eq!(
            id(WebhookScheme::Stripe, br#"{"id":"evt_1","object":"event"}"#).as_deref(),
            Some("stripe:evt_1")
        );
        assert_eq!(
            id(
                WebhookScheme::PagerDuty,
                br#"{"event":{"id":"01ABC","event_type":"incident.triggered"}}"#
            )
            .as_deref(),
            Some("pagerduty:01ABC")
        );
        assert_eq!(id(WebhookScheme::Stripe, b"{not json").as_deref(), None);
        let long = "x".repeat(MAX_ID_LEN + 1);
        let h = [("X-GitHub-Delivery", long.as_str())];
        assert_eq!(DeliveryId::extract(WebhookScheme::GitHub, &h, b""), None);
    }
}
