//! What a connector author supplies to run the contract suite: a
//! [`ContractFixture`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use connector_core::webhook::WebhookHandler;
use connector_core::{ConnectorConfig, ConnectorFactory, SyncItem, UniversalConnector};

use crate::fake::{CollectionHandle, FakeApi};

/// The canary secret the suite uses unless a fixture picks its own: long and
/// unusual enough that finding it anywhere is a leak, not a coincidence.
pub const DEFAULT_CANARY: &str = "ctk_canary_7f3a91c4e25b4d08a6";

/// A config the factory must reject, and the field its error must name.
#[derive(Debug, Clone)]
pub struct BadConfig {
    /// The config.
    pub config: ConnectorConfig,
    /// The field path the error must name (`settings.base_url`), as in
    /// [`FieldError::path`](connector_core::FieldError) or the message.
    pub field: String,
}

impl BadConfig {
    /// `config` must be rejected naming `field`.
    pub fn new(config: ConnectorConfig, field: impl Into<String>) -> Self {
        Self {
            config,
            field: field.into(),
        }
    }
}

/// How a connector under test is set up: its factory, its fake API, its configs.
///
/// The suite calls [`start_fake`](Self::start_fake) once per test (a fresh server
/// each time), connects with [`config`](Self::config) pointing at it, and reads
/// the expected data from the fake's collections. Only the first four methods
/// are required.
///
/// ```no_run
/// use std::sync::Arc;
/// use connector_core::{ConnectorConfig, ConnectorFactory, Credentials};
/// use connector_testkit::fake::{AuthGuard, FakeApi, FakeCollection, Paging};
/// use connector_testkit::suite::{BadConfig, ContractFixture};
/// use serde_json::json;
/// # struct MyFactory;
/// # #[async_trait::async_trait]
/// # impl ConnectorFactory for MyFactory {
/// #     fn metadata(&self) -> connector_core::ConnectorMetadata {
/// #         connector_core::ConnectorMetadata::new("my-api", "My API", "Me", connector_core::Category::Other)
/// #     }
/// #     fn settings_schema(&self) -> connector_core::schemars::Schema {
/// #         connector_core::schemars::json_schema!({ "type": "object" })
/// #     }
/// #     async fn connect(&self, _: ConnectorConfig) -> connector_core::Result<Box<dyn connector_core::UniversalConnector>> {
/// #         Err(connector_core::ConnectorError::unsupported("a documentation stand-in"))
/// #     }
/// # }
///
/// struct MyFixture;
///
/// #[async_trait::async_trait]
/// impl ContractFixture for MyFixture {
///     fn factory(&self) -> Arc<dyn ConnectorFactory> {
///         Arc::new(MyFactory)
///     }
///     async fn start_fake(&self, secret: &str) -> FakeApi {
///         let api = FakeApi::builder().auth(AuthGuard::bearer(secret)).start().await;
///         let users = (0..9).map(|i| json!({"id": i, "updated_at": "2024-01-15T10:00:00Z"})).collect();
///         FakeCollection::new("users", "/users", users)
///             .paging(Paging::link_header())
///             .since_param("since", "updated_at")
///             .mount(&api)
///             .await
///             .expect("collection");
///         api
///     }
///     fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
///         let credentials = serde_json::from_value(json!({"type": "bearer", "token": secret}))
///             .expect("credentials");
///         ConnectorConfig::new("org", credentials).with_settings(json!({"base_url": base_url}))
///     }
///     fn bad_config(&self, _base_url: &str) -> BadConfig {
///         let config = ConnectorConfig::new("org", Credentials::None).with_settings(json!({}));
///         BadConfig::new(config, "settings.base_url")
///     }
/// }
/// ```
#[async_trait]
pub trait ContractFixture: Send + Sync {
    /// The factory of the connector under test.
    fn factory(&self) -> Arc<dyn ConnectorFactory>;

    /// Starts a fresh fake API holding the fixture data, one collection per
    /// entity (named like the entity), that accepts `secret` as the credential and
    /// rejects anything else with 401.
    async fn start_fake(&self, secret: &str) -> FakeApi;

    /// A config that points the connector at `base_url` and authenticates with
    /// `secret`. The suite also calls it with a wrong secret (expecting 401) and
    /// with the address of a closed port (expecting an unreachable host).
    ///
    /// Under tokio's paused clock, the config should disable the client's
    /// per-request timeout (see `docs/testing.md`).
    fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig;

    /// A config the factory must reject, and the field the error must name.
    fn bad_config(&self, base_url: &str) -> BadConfig;

    /// The secret that must never leak. Defaults to [`DEFAULT_CANARY`].
    fn canary(&self) -> String {
        DEFAULT_CANARY.to_owned()
    }

    /// Whether `entity` can be read incrementally. Defaults to `true` for every
    /// entity. An entity the vendor reports no change time for (GitHub organization
    /// members, Jira projects) is always read in full: return `false` for it and the
    /// `incremental_read_yields_only_changes` and `future_checkpoint_yields_nothing`
    /// tests skip it (`resume_from_every_checkpoint` still reads it).
    fn incremental(&self, entity: &str) -> bool {
        let _ = entity;
        true
    }

    /// The fake collection holding `entity`'s source data. Defaults to the
    /// collection named like the entity.
    fn collection(&self, api: &FakeApi, entity: &str) -> Option<CollectionHandle> {
        api.collection(entity)
    }

    /// Changes `entity`'s data before the incremental test's second read, given
    /// the `boundary` (the watermark of the first read's final checkpoint).
    /// Returns the ids it changed.
    ///
    /// The default moves the first record's updated time to exactly `boundary`
    /// (a change at the boundary, which a `>` comparison misses) and the middle
    /// record's to one hour later.
    ///
    /// # Errors
    ///
    /// A message when the data cannot be changed (no collection, no updated field).
    async fn mutate(
        &self,
        api: &FakeApi,
        entity: &str,
        boundary: DateTime<Utc>,
    ) -> Result<Vec<String>, String> {
        let coll = self
            .collection(api, entity)
            .ok_or_else(|| format!("no fake collection for entity `{entity}`"))?;
        if coll.updated_field().is_none() {
            return Err(format!(
                "the fake collection `{}` has no updated field; set `since_param`/`updated_field` so records can change",
                coll.name()
            ));
        }
        let ids = coll.ids();
        let first = ids
            .first()
            .cloned()
            .ok_or_else(|| format!("collection `{}` is empty", coll.name()))?;
        let middle = ids
            .get(ids.len() / 2)
            .cloned()
            .unwrap_or_else(|| first.clone());
        coll.touch(&first, boundary);
        coll.touch(&middle, boundary + ChronoDuration::hours(1));
        let mut changed = vec![first];
        if !changed.contains(&middle) {
            changed.push(middle);
        }
        Ok(changed)
    }

    /// The webhook section of the fixture: the extension point of the `realtime`
    /// tests. `None` (the default) skips them with a reason.
    fn webhooks(&self) -> Option<&dyn WebhookFixture> {
        None
    }
}

/// The webhook part of a fixture, for connectors that declare `realtime`.
///
/// Give a [`handler`](Self::handler) and a [`sample`](Self::sample) delivery and
/// the suite runs the named webhook tests (valid delivery, tampered body, wrong
/// secret, stale and future timestamps, replay; see `docs/webhooks.md`): it signs
/// the sample with the handler's own verifier, so any scheme works. The
/// `webhooks_accepted` test additionally runs [`check`](Self::check), for
/// connector-specific checks (the default passes).
#[async_trait]
pub trait WebhookFixture: Send + Sync {
    /// The connector's webhook handler for the connected `connector`, verifying
    /// with `secret` (the suite's canary). `Ok(None)` (the default) skips the
    /// named webhook tests.
    ///
    /// # Errors
    ///
    /// A message when the handler cannot be built.
    fn handler(
        &self,
        connector: &dyn UniversalConnector,
        secret: &str,
    ) -> Result<Option<Arc<dyn WebhookHandler>>, String> {
        let _ = (connector, secret);
        Ok(None)
    }

    /// The delivery the named webhook tests send, unsigned, and what it must
    /// yield. `None` (the default) skips them.
    fn sample(&self) -> Option<WebhookSample> {
        None
    }

    /// Delivers webhooks to `connector` (signed with `secret`) and checks what it
    /// made of them. The default checks nothing more than the named tests do.
    ///
    /// # Errors
    ///
    /// A message saying what went wrong.
    async fn check(
        &self,
        connector: &dyn UniversalConnector,
        api: &FakeApi,
        secret: &str,
    ) -> Result<(), String> {
        let _ = (connector, api, secret);
        Ok(())
    }
}

/// One webhook delivery for the contract tests, before signing, and what the
/// handler must make of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookSample {
    /// Headers other than the signature, timestamp and id headers the suite adds
    /// (`X-GitHub-Event: issues`, `Content-Type: application/json`).
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The delivery id, placed where the scheme carries it (for schemes that carry
    /// it in the body, the body must already contain it).
    pub delivery_id: String,
    /// The records and deletions the delivery must yield, in order. Records are
    /// compared by entity type, external id and fields.
    pub expected: Vec<SyncItem>,
}

impl WebhookSample {
    /// A sample: `body` with the extra `headers`, delivered as `delivery_id`,
    /// yielding `expected`.
    pub fn new<K: Into<String>, V: Into<String>>(
        headers: impl IntoIterator<Item = (K, V)>,
        body: impl Into<Vec<u8>>,
        delivery_id: impl Into<String>,
        expected: Vec<SyncItem>,
    ) -> Self {
        Self {
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            body: body.into(),
            delivery_id: delivery_id.into(),
            expected,
        }
    }
}
