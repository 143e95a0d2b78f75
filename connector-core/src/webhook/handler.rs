//! [`WebhookHandler`]: what a realtime connector implements, and
//! [`WebhookReceiver`]: verification, de-duplication and processing in one place.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::delivery::DeliveryId;
use super::headers::Headers;
use super::idempotency::{DeliveryStatus, IdempotencyStore};
use super::verify::{Verified, WebhookVerifier};
use crate::error::{ConnectorError, Result};
use crate::record::SyncItem;
use crate::sink::{Batch, RecordWrite, RunScope, Sink, WriteAction};
use crate::state::StateKey;

/// Turns a vendor's webhook deliveries into [`SyncItem`]s.
///
/// A connector that declares the `realtime` capability implements it (on the
/// connector or on a small value built from the connector's config and
/// [mappings](crate::UniversalConnector::mappings)), so deliveries map through
/// the same mappings as a fetch: a record from a webhook equals the record a
/// fetch would yield for the same object.
///
/// The trait is object safe; receivers hold `Arc<dyn WebhookHandler>`.
///
/// [`handle`](Self::handle) may assume the delivery is verified: callers verify
/// first with [`verifier`](Self::verifier) (as
/// [`verify_and_handle`](Self::verify_and_handle) and [`WebhookReceiver`] do).
pub trait WebhookHandler: Send + Sync {
    /// The connector id (`github`), for errors and routing.
    fn connector_id(&self) -> &str;

    /// The verifier for this connector's deliveries, holding its webhook secret(s).
    fn verifier(&self) -> &WebhookVerifier;

    /// Maps one verified delivery (`headers` as received, `body` the raw bytes) to
    /// records (upserts) and deletions. A delivery of an event or action the
    /// connector does not sync yields no items (acknowledged and ignored).
    ///
    /// # Errors
    ///
    /// [`Decode`](crate::ErrorKind::Decode) when the body is not the JSON the
    /// event promises; a mapping error when an object breaks its mapping.
    fn handle(&self, headers: &dyn Headers, body: &[u8]) -> Result<Vec<SyncItem>>;

    /// Verifies the delivery against `now`, then handles it.
    ///
    /// # Errors
    ///
    /// The rejection (see [`Rejection`](super::Rejection) for the kinds), with
    /// this connector's id; or what [`handle`](Self::handle) returns.
    fn verify_and_handle(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<SyncItem>> {
        self.verifier()
            .verify_or_error(headers, body, now)
            .map_err(|e| e.with_connector(self.connector_id()))?;
        self.handle(headers, body)
    }
}

/// What [`WebhookReceiver::receive`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Verified and not seen before (or without a delivery id): process it.
    Accepted(Verified),
    /// Verified, and already received within the idempotency TTL: acknowledge
    /// it and skip it.
    Duplicate(DeliveryId),
}

impl Receipt {
    /// Whether it is a duplicate.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Receipt::Duplicate(_))
    }
}

/// The receiving side of one connector's webhook endpoint: verifies each
/// delivery, records its id in an [`IdempotencyStore`], and (later, off the
/// request path) maps it with the [`WebhookHandler`].
///
/// `receive` is fast (an HMAC and one store lookup), so a server answers from it
/// and hands `process` to a background task. Deliveries without a delivery id
/// (Slack slash commands) are always accepted.
///
/// ```
/// use std::sync::Arc;
/// use chrono::Utc;
/// use connector_core::webhook::{
///     Headers, MemoryIdempotencyStore, Receipt, WebhookHandler, WebhookReceiver, WebhookScheme,
///     WebhookVerifier,
/// };
/// use connector_core::{Record, Result, SyncItem};
///
/// struct Echo(WebhookVerifier);
/// impl WebhookHandler for Echo {
///     fn connector_id(&self) -> &str { "echo" }
///     fn verifier(&self) -> &WebhookVerifier { &self.0 }
///     fn handle(&self, _headers: &dyn Headers, body: &[u8]) -> Result<Vec<SyncItem>> {
///         let id = String::from_utf8_lossy(body).into_owned();
///         Ok(vec![Record::new("NOTE", id, "echo").into()])
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let verifier = WebhookVerifier::new(WebhookScheme::GitHub, "s3cret").unwrap();
/// let receiver = WebhookReceiver::new(
///     Arc::new(Echo(verifier.clone())),
///     Arc::new(MemoryIdempotencyStore::new()),
/// );
/// let now = Utc::now();
/// let headers = verifier.sign(b"n-1", now, "delivery-1");
///
/// let Receipt::Accepted(verified) = receiver.receive(&headers, b"n-1", now).await.unwrap() else {
///     panic!("expected a fresh delivery");
/// };
/// let items = receiver.process(&verified, &headers, b"n-1").await.unwrap();
/// assert_eq!(items.len(), 1);
/// // GitHub redelivers: acknowledged, not processed again.
/// assert!(receiver.receive(&headers, b"n-1", now).await.unwrap().is_duplicate());
/// # });
/// ```
#[derive(Clone)]
pub struct WebhookReceiver {
    handler: Arc<dyn WebhookHandler>,
    store: Arc<dyn IdempotencyStore>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("connector", &self.handler.connector_id())
            .field("verifier", self.handler.verifier())
            .finish_non_exhaustive()
    }
}

impl WebhookReceiver {
    /// A receiver for `handler`'s deliveries, remembering ids in `store`.
    pub fn new(handler: Arc<dyn WebhookHandler>, store: Arc<dyn IdempotencyStore>) -> Self {
        Self { handler, store }
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<dyn WebhookHandler> {
        &self.handler
    }

    /// Verifies a delivery and records its id.
    ///
    /// # Errors
    ///
    /// The rejection as a [`ConnectorError`] (kind
    /// [`Auth`](crate::ErrorKind::Auth) or [`Protocol`](crate::ErrorKind::Protocol);
    /// [`Rejection::of`](super::Rejection::of) recovers the details), or the
    /// store's error (answer 503 so the vendor retries).
    pub async fn receive(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Receipt> {
        let verified = self
            .handler
            .verifier()
            .verify_or_error(headers, body, now)
            .map_err(|e| e.with_connector(self.handler.connector_id()))?;
        if let Some(id) = &verified.delivery_id {
            let status = self
                .store
                .check_and_record(&id.key(), now)
                .await
                .map_err(|e| e.with_connector(self.handler.connector_id()))?;
            if status == DeliveryStatus::Duplicate {
                return Ok(Receipt::Duplicate(id.clone()));
            }
        }
        Ok(Receipt::Accepted(verified))
    }

    /// Maps an accepted delivery. When mapping fails, its id is forgotten, so a
    /// redelivery by the vendor is processed again.
    ///
    /// # Errors
    ///
    /// What the handler returns.
    pub async fn process(
        &self,
        verified: &Verified,
        headers: &dyn Headers,
        body: &[u8],
    ) -> Result<Vec<SyncItem>> {
        match self.handler.handle(headers, body) {
            Ok(items) => Ok(items),
            Err(err) => {
                self.release(verified).await;
                Err(err.with_connector(self.handler.connector_id()))
            }
        }
    }

    /// Forgets an accepted delivery's id (after its processing failed further
    /// down, e.g. in the sink), so a redelivery is processed again. A failure to
    /// forget is logged, not returned: the original error matters more.
    pub async fn release(&self, verified: &Verified) {
        if let Some(id) = &verified.delivery_id
            && let Err(e) = self.store.forget(&id.key()).await
        {
            tracing::warn!(delivery = %id, error = %e, "could not forget a failed delivery");
        }
    }
}

/// Writes the items of one delivery to `sink` as one non-atomic run of one batch:
/// records as upserts (create or update, decided by a lookup), deletions as
/// deletions; checkpoints are ignored (webhooks have none). Returns how many
/// records and deletions were written.
///
/// The run's job id is `webhook:{connector}` and its state key's entity is
/// `webhook`; the sink sees an ordinary batch, so every [`Sink`] works.
///
/// # Errors
///
/// What the sink returns; the run is then rolled back.
pub async fn write_to_sink(
    sink: &dyn Sink,
    organization: &str,
    connector: &str,
    items: Vec<SyncItem>,
) -> Result<usize> {
    let scope = RunScope::new(
        format!("webhook:{connector}"),
        organization,
        connector,
        false,
    );
    let mut batch = Batch::new(
        scope.clone(),
        StateKey::new(organization, connector, "webhook"),
    );
    let mut records = Vec::new();
    for item in items {
        match item {
            SyncItem::Record(r) => records.push(r),
            SyncItem::Deletion(d) => batch.deletions.push(d),
            SyncItem::Checkpoint(_) => {}
        }
    }
    // One write per key: the last version of a record in a delivery wins.
    let mut last: std::collections::HashMap<crate::sink::RecordKey, usize> = Default::default();
    for (i, r) in records.iter().enumerate() {
        last.insert(scope.key_of(r), i);
    }
    records = records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| last.get(&scope.key_of(r)) == Some(i))
        .map(|(_, r)| r)
        .collect();
    let written = records.len() + batch.deletions.len();
    if written == 0 {
        return Ok(0);
    }
    sink.begin(&scope).await?;
    let result = async {
        let keys: Vec<_> = records.iter().map(|r| scope.key_of(r)).collect();
        let existing = sink.lookup(&keys).await?;
        for ((record, key), old) in records.into_iter().zip(keys).zip(existing) {
            let action = if old.is_some() {
                WriteAction::Update
            } else {
                WriteAction::Create
            };
            batch.writes.push(RecordWrite::new(key, action, record));
        }
        sink.write_batch(batch).await?;
        sink.commit().await
    }
    .await;
    if let Err(err) = result {
        if let Err(rollback) = sink.rollback().await {
            tracing::warn!(error = %rollback, "rolling back a webhook write failed");
        }
        return Err::<usize, ConnectorError>(err);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receiver's futures are `Send`, so servers can spawn them.
    #[allow(dead_code)]
    fn futures_are_send(r: &WebhookReceiver, h: &dyn Headers, v: &Verified, s: &dyn Sink) {
        fn send<T: Send>(_: &T) {}
        send(&r.receive(h, b"", Utc::now()));
        send(&r.process(v, h, b""));
        send(&r.release(v));
        send(&write_to_sink(s, "o", "c", Vec::new()));
    }
}
