//! The webhook contract tests, for connectors that declare `realtime`.
//!
//! Each test builds the connector's [`WebhookHandler`] from the fixture's
//! [`WebhookFixture::handler`], signs the fixture's [`WebhookSample`] the way the
//! vendor would (with the handler's own verifier, so every scheme works), and
//! sends it through a [`WebhookReceiver`] with a fresh in-memory idempotency
//! store:
//!
//! | test | sends | expects |
//! |---|---|---|
//! | `webhook_valid_delivery_yields_records` | the signed sample | accepted; the expected records and deletions |
//! | `webhook_tampered_body_rejected` | the sample with one body byte changed | an `Auth` rejection (skipped for token schemes, which do not sign the body) |
//! | `webhook_wrong_secret_rejected` | the sample signed with another secret | an `Auth` rejection |
//! | `webhook_stale_timestamp_rejected` | signed `tolerance + 60 s` ago | an `Auth` rejection, reason `timestamp_too_old` (skipped for schemes without a timestamp) |
//! | `webhook_future_timestamp_rejected` | signed `tolerance + 60 s` ahead | an `Auth` rejection, reason `timestamp_in_future` (likewise) |
//! | `webhook_replayed_delivery_skipped` | the same delivery twice | the second is a duplicate and is not processed |

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_core::webhook::{
    MemoryIdempotencyStore, Receipt, Rejection, RejectionReason, WebhookReceiver, WebhookScheme,
    WebhookVerifier,
};
use connector_core::{ErrorKind, SyncItem, UniversalConnector};

use super::ContractTest;
use super::checks::Verdict;
use super::fixture::{WebhookFixture, WebhookSample};

/// A secret the handler is never configured with; valid base64 after `whsec_`,
/// so it is a well-formed secret for every scheme.
const WRONG_SECRET: &str = "whsec_Y3RrLXdyb25nLXdlYmhvb2stc2VjcmV0IQ==";

/// Runs one webhook contract test.
pub(crate) async fn run(
    fixture: &dyn WebhookFixture,
    connector: &dyn UniversalConnector,
    secret: &str,
    test: ContractTest,
) -> Result<Verdict, String> {
    let handler = match fixture.handler(connector, secret) {
        Ok(Some(handler)) => handler,
        Ok(None) => {
            return Ok(Verdict::Skip(
                "the fixture's `webhooks()` section provides no `handler`".to_owned(),
            ));
        }
        Err(e) => return Err(format!("building the webhook handler failed: {e}")),
    };
    let Some(sample) = fixture.sample() else {
        return Ok(Verdict::Skip(
            "the fixture's `webhooks()` section provides no `sample` delivery".to_owned(),
        ));
    };
    let ctx = WebhookCtx {
        verifier: handler.verifier().clone(),
        receiver: WebhookReceiver::new(handler, Arc::new(MemoryIdempotencyStore::new())),
        sample,
        now: Utc::now(),
    };
    match test {
        ContractTest::WebhookValidDelivery => ctx.valid().await,
        ContractTest::WebhookTamperedBody => ctx.tampered().await,
        ContractTest::WebhookWrongSecret => ctx.wrong_secret().await,
        ContractTest::WebhookStaleTimestamp => ctx.stale().await,
        ContractTest::WebhookFutureTimestamp => ctx.future().await,
        ContractTest::WebhookReplaySkipped => ctx.replay().await,
        other => Err(format!("`{other}` is not a webhook test")),
    }
}

struct WebhookCtx {
    verifier: WebhookVerifier,
    receiver: WebhookReceiver,
    sample: WebhookSample,
    now: DateTime<Utc>,
}

impl WebhookCtx {
    /// The sample's headers plus the signature headers `signer` makes for `body` at `at`.
    fn signed(
        &self,
        signer: &WebhookVerifier,
        body: &[u8],
        at: DateTime<Utc>,
    ) -> Vec<(String, String)> {
        let mut headers = self.sample.headers.clone();
        headers.extend(signer.sign(body, at, &self.sample.delivery_id));
        headers
    }

    async fn deliver(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Receipt, connector_core::ConnectorError> {
        self.receiver.receive(&headers, body, self.now).await
    }

    async fn valid(&self) -> Result<Verdict, String> {
        let headers = self.signed(&self.verifier, &self.sample.body, self.now);
        let receipt = self
            .deliver(&headers, &self.sample.body)
            .await
            .map_err(|e| format!("a correctly signed delivery was rejected: {e}"))?;
        let Receipt::Accepted(verified) = receipt else {
            return Err("a first delivery was reported as a duplicate".to_owned());
        };
        let items = self
            .receiver
            .process(&verified, &headers, &self.sample.body)
            .await
            .map_err(|e| format!("handling a valid delivery failed: {e}"))?;
        compare(&self.sample.expected, &items)?;
        Ok(Verdict::Pass)
    }

    async fn tampered(&self) -> Result<Verdict, String> {
        if self.verifier.scheme() == WebhookScheme::GitLab {
            return Ok(Verdict::Skip(
                "GitLab's `X-Gitlab-Token` does not sign the body, so tampering cannot be detected"
                    .to_owned(),
            ));
        }
        let headers = self.signed(&self.verifier, &self.sample.body, self.now);
        let mut body = self.sample.body.clone();
        match body.last_mut() {
            Some(last) => *last ^= 0x01,
            None => body.push(b' '),
        }
        expect_rejection(
            "a delivery whose body changed after signing",
            self.deliver(&headers, &body).await,
            RejectionReason::SignatureMismatch,
        )
    }

    async fn wrong_secret(&self) -> Result<Verdict, String> {
        let wrong = WebhookVerifier::new(self.verifier.scheme(), WRONG_SECRET)
            .map_err(|e| format!("building a verifier with the wrong secret failed: {e}"))?;
        let headers = self.signed(&wrong, &self.sample.body, self.now);
        expect_rejection(
            "a delivery signed with the wrong secret",
            self.deliver(&headers, &self.sample.body).await,
            RejectionReason::SignatureMismatch,
        )
    }

    fn skew(&self) -> chrono::Duration {
        let secs = self.verifier.tolerance() + Duration::from_secs(60);
        chrono::Duration::from_std(secs).unwrap_or(chrono::Duration::days(1))
    }

    fn untimed(&self) -> Option<Verdict> {
        (!self.verifier.scheme().is_timestamped()).then(|| {
            Verdict::Skip(format!(
                "the {} scheme signs no timestamp; replays are stopped by delivery-id de-duplication",
                self.verifier.scheme()
            ))
        })
    }

    async fn stale(&self) -> Result<Verdict, String> {
        if let Some(skip) = self.untimed() {
            return Ok(skip);
        }
        let headers = self.signed(&self.verifier, &self.sample.body, self.now - self.skew());
        expect_rejection(
            "a delivery signed longer ago than the tolerance",
            self.deliver(&headers, &self.sample.body).await,
            RejectionReason::TimestampTooOld,
        )
    }

    async fn future(&self) -> Result<Verdict, String> {
        if let Some(skip) = self.untimed() {
            return Ok(skip);
        }
        let headers = self.signed(&self.verifier, &self.sample.body, self.now + self.skew());
        expect_rejection(
            "a delivery signed further ahead than the tolerance",
            self.deliver(&headers, &self.sample.body).await,
            RejectionReason::TimestampInFuture,
        )
    }

    async fn replay(&self) -> Result<Verdict, String> {
        let headers = self.signed(&self.verifier, &self.sample.body, self.now);
        let first = self
            .deliver(&headers, &self.sample.body)
            .await
            .map_err(|e| format!("a correctly signed delivery was rejected: {e}"))?;
        match &first {
            Receipt::Accepted(v) if v.delivery_id.is_none() => {
                return Err(
                    "the delivery has no delivery id, so a replay cannot be detected; \
                     give the sample the scheme's id header or body field"
                        .to_owned(),
                );
            }
            Receipt::Accepted(_) => {}
            Receipt::Duplicate(_) => {
                return Err("a first delivery was reported as a duplicate".to_owned());
            }
        }
        match self.deliver(&headers, &self.sample.body).await {
            Ok(Receipt::Duplicate(_)) => Ok(Verdict::Pass),
            Ok(Receipt::Accepted(_)) => {
                Err("the same delivery was accepted twice; it must be skipped".to_owned())
            }
            Err(e) => Err(format!(
                "a replayed delivery must be acknowledged as a duplicate, not rejected: {e}"
            )),
        }
    }
}

fn expect_rejection(
    what: &str,
    outcome: Result<Receipt, connector_core::ConnectorError>,
    reason: RejectionReason,
) -> Result<Verdict, String> {
    match outcome {
        Ok(_) => Err(format!("{what} was accepted; it must be rejected")),
        Err(e) if e.kind() != ErrorKind::Auth => Err(format!(
            "{what} was rejected as `{}`, expected `{}`: {e}",
            e.kind(),
            ErrorKind::Auth
        )),
        Err(e) => match Rejection::of(&e).map(Rejection::reason) {
            Some(r) if r == reason => Ok(Verdict::Pass),
            other => Err(format!(
                "{what} was rejected for {other:?}, expected {reason:?}: {e}"
            )),
        },
    }
}

/// Every expected record is produced with the same key and fields, every expected
/// deletion likewise, and nothing else.
fn compare(expected: &[SyncItem], got: &[SyncItem]) -> Result<(), String> {
    let key = |item: &SyncItem| match item {
        SyncItem::Record(r) => Some(format!("record {}/{}", r.entity_type, r.external_id)),
        SyncItem::Deletion(d) => Some(format!("deletion {}/{}", d.entity_type, d.external_id)),
        _ => None,
    };
    let want: Vec<String> = expected.iter().filter_map(key).collect();
    let have: Vec<String> = got.iter().filter_map(key).collect();
    if want != have {
        return Err(format!("the delivery yielded {have:?}, expected {want:?}"));
    }
    for (e, g) in expected.iter().zip(got) {
        if let (SyncItem::Record(e), SyncItem::Record(g)) = (e, g) {
            for (name, value) in &e.fields {
                if g.fields.get(name) != Some(value) {
                    return Err(format!(
                        "record {}/{}: field `{name}` is {:?}, expected {value}",
                        g.entity_type,
                        g.external_id,
                        g.fields.get(name)
                    ));
                }
            }
            if g.fields.len() != e.fields.len() {
                return Err(format!(
                    "record {}/{} has fields {:?}, expected {:?}",
                    g.entity_type,
                    g.external_id,
                    g.fields.keys().collect::<Vec<_>>(),
                    e.fields.keys().collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeApi;
    use async_trait::async_trait;
    use connector_core::futures::stream;
    use connector_core::webhook::{Headers, WebhookHandler};
    use connector_core::{
        AuthMethod, Category, ConnectorMetadata, Deletion, Discovery, EntityMapping, FetchOptions,
        Record, SyncStream, TestResult,
    };
    use serde_json::{Value, json};

    struct Null(ConnectorMetadata);

    #[async_trait]
    impl UniversalConnector for Null {
        fn metadata(&self) -> &ConnectorMetadata {
            &self.0
        }
        fn mappings(&self) -> &[EntityMapping] {
            &[]
        }
        async fn test_connection(&self) -> TestResult {
            TestResult::ok("up")
        }
        async fn discover(&self) -> connector_core::Result<Discovery> {
            Ok(Discovery::new(Vec::new()))
        }
        fn fetch(&self, _entity: &str, _options: FetchOptions) -> SyncStream<'_> {
            Box::pin(stream::empty())
        }
    }

    /// Maps `{"action": …, "note": {"id": …, "text": …}}`; `deleted` deletes.
    struct Notes {
        verifier: WebhookVerifier,
        /// A bug to inject: drop the `text` field.
        lose_text: bool,
    }

    impl WebhookHandler for Notes {
        fn connector_id(&self) -> &str {
            "notes"
        }
        fn verifier(&self) -> &WebhookVerifier {
            &self.verifier
        }
        fn handle(
            &self,
            _headers: &dyn Headers,
            body: &[u8],
        ) -> connector_core::Result<Vec<SyncItem>> {
            let v: Value = serde_json::from_slice(body)?;
            let id = v["note"]["id"].to_string();
            if v["action"] == "deleted" {
                return Ok(vec![Deletion::new("NOTE", id).into()]);
            }
            let mut r = Record::new("NOTE", id, "notes");
            if !self.lose_text {
                r = r.with_field("text", v["note"]["text"].clone());
            }
            Ok(vec![r.into()])
        }
    }

    struct Fixture {
        scheme: WebhookScheme,
        tolerance: Duration,
        lose_text: bool,
        delivery_id: &'static str,
    }

    impl Fixture {
        fn new(scheme: WebhookScheme) -> Self {
            Self {
                scheme,
                tolerance: connector_core::webhook::DEFAULT_TOLERANCE,
                lose_text: false,
                delivery_id: "delivery-1",
            }
        }
    }

    #[async_trait]
    impl WebhookFixture for Fixture {
        fn handler(
            &self,
            _connector: &dyn UniversalConnector,
            secret: &str,
        ) -> Result<Option<Arc<dyn WebhookHandler>>, String> {
            let verifier = WebhookVerifier::new(self.scheme, secret)
                .map_err(|e| e.to_string())?
                .with_tolerance(self.tolerance);
            Ok(Some(Arc::new(Notes {
                verifier,
                lose_text: self.lose_text,
            })))
        }

        fn sample(&self) -> Option<WebhookSample> {
            let body = json!({"id": self.delivery_id, "action": "edited", "note": {"id": 7, "text": "hi"}});
            let expected = Record::new("NOTE", "7", "notes").with_field("text", json!("hi"));
            Some(WebhookSample::new(
                [("Content-Type", "application/json")],
                body.to_string(),
                self.delivery_id,
                vec![expected.into()],
            ))
        }

        async fn check(
            &self,
            _connector: &dyn UniversalConnector,
            _api: &FakeApi,
            _secret: &str,
        ) -> Result<(), String> {
            Ok(())
        }
    }

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";
    const TESTS: [ContractTest; 6] = [
        ContractTest::WebhookValidDelivery,
        ContractTest::WebhookTamperedBody,
        ContractTest::WebhookWrongSecret,
        ContractTest::WebhookStaleTimestamp,
        ContractTest::WebhookFutureTimestamp,
        ContractTest::WebhookReplaySkipped,
    ];

    async fn outcomes(fixture: &Fixture) -> Vec<(ContractTest, Result<Verdict, String>)> {
        let meta = ConnectorMetadata::new("notes", "Notes", "Test", Category::Other)
            .with_auth_methods([AuthMethod::Bearer]);
        let connector = Null(meta);
        let mut out = Vec::new();
        for test in TESTS {
            out.push((test, run(fixture, &connector, SECRET, test).await));
        }
        out
    }

    fn summary(
        outcomes: &[(ContractTest, Result<Verdict, String>)],
    ) -> Vec<(&'static str, &'static str)> {
        outcomes
            .iter()
            .map(|(t, o)| {
                let what = match o {
                    Ok(Verdict::Pass) => "pass",
                    Ok(Verdict::Skip(_)) => "skip",
                    Err(_) => "fail",
                };
                (t.name(), what)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_correct_handler_passes_every_scheme() {
        for scheme in WebhookScheme::ALL {
            let fixture = Fixture::new(*scheme);
            let got = outcomes(&fixture).await;
            for (test, outcome) in &got {
                let timed = matches!(
                    test,
                    ContractTest::WebhookStaleTimestamp | ContractTest::WebhookFutureTimestamp
                );
                let tamper = *test == ContractTest::WebhookTamperedBody;
                match outcome {
                    Ok(Verdict::Pass) => {}
                    Ok(Verdict::Skip(_)) if timed && !scheme.is_timestamped() => {}
                    Ok(Verdict::Skip(_)) if tamper && *scheme == WebhookScheme::GitLab => {}
                    // Slack, Stripe and PagerDuty carry the id in the body: the
                    // sample's body has `id`, which only Stripe reads.
                    Err(_)
                        if *test == ContractTest::WebhookReplaySkipped
                            && matches!(
                                scheme,
                                WebhookScheme::Slack | WebhookScheme::PagerDuty
                            ) => {}
                    other => panic!(
                        "{scheme} {test}: {}",
                        match other {
                            Ok(Verdict::Skip(why)) => format!("skipped: {why}"),
                            Err(why) => why.clone(),
                            Ok(Verdict::Pass) => String::new(),
                        }
                    ),
                }
            }
        }
    }

    #[tokio::test]
    async fn broken_handlers_fail_the_matching_tests() {
        let mut lossy = Fixture::new(WebhookScheme::GitHub);
        lossy.lose_text = true;
        let got = summary(&outcomes(&lossy).await);
        assert_eq!(got[0], ("webhook_valid_delivery_yields_records", "fail"));
        assert!(got[1..].iter().all(|(_, o)| *o != "fail"), "{got:?}");

        // No delivery id: replays cannot be detected.
        let mut anonymous = Fixture::new(WebhookScheme::GitHub);
        anonymous.delivery_id = "";
        let got = summary(&outcomes(&anonymous).await);
        assert_eq!(got[5], ("webhook_replayed_delivery_skipped", "fail"));
    }
}
