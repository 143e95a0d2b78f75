//! Known-answer vectors (vendor-api-facts.md §0), rejection tables and
//! no-panic properties for every scheme.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).single().unwrap()
}

struct Vector {
    name: &'static str,
    scheme: WebhookScheme,
    secret: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    now: i64,
}

/// Every webhook vector of vendor-api-facts.md §0. (The AWS SigV4 vector of §0
/// is request signing, tested in connector-http's `auth::sigv4` tests.)
fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "GitHub X-Hub-Signature-256 (GitHub docs)",
            scheme: WebhookScheme::GitHub,
            secret: "It's a Secret to Everybody",
            headers: &[(
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )],
            body: "Hello, World!",
            now: 1_700_000_000,
        },
        Vector {
            name: "Slack v0 (Slack docs)",
            scheme: WebhookScheme::Slack,
            secret: "8f742231b10e8888abcd99yyyzzz85a5",
            headers: &[
                ("X-Slack-Request-Timestamp", "1531420618"),
                (
                    "X-Slack-Signature",
                    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                ),
            ],
            body: SLACK_BODY,
            now: 1_531_420_618,
        },
        Vector {
            name: "Stripe v1 (computed)",
            scheme: WebhookScheme::Stripe,
            secret: "whsec_test_secret",
            headers: &[(
                "Stripe-Signature",
                "t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724",
            )],
            body: r#"{"id":"evt_test","object":"event"}"#,
            now: 1_700_000_000,
        },
        Vector {
            name: "Shopify (computed)",
            scheme: WebhookScheme::Shopify,
            secret: "shop-secret",
            headers: &[(
                "X-Shopify-Hmac-Sha256",
                "plW8VGqq0nDMIEhDqaNNW99asdUCy7EIqLZVcQwtAZ0=",
            )],
            body: r#"{"id":1}"#,
            now: 1_700_000_000,
        },
        Vector {
            name: "Standard Webhooks (spec example)",
            scheme: WebhookScheme::StandardWebhooks,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            headers: &[
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
                ("webhook-timestamp", "1614265330"),
                (
                    "webhook-signature",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                ),
            ],
            body: r#"{"test": 2432232314}"#,
            now: 1_614_265_330,
        },
        Vector {
            name: "GitLab X-Gitlab-Token (constant-time equality)",
            scheme: WebhookScheme::GitLab,
            secret: "gl-token-123",
            headers: &[("X-Gitlab-Token", "gl-token-123")],
            body: r#"{"object_kind":"issue"}"#,
            now: 1_700_000_000,
        },
    ]
}

#[test]
fn every_published_vector_verifies() {
    for v in vectors() {
        let verifier = WebhookVerifier::new(v.scheme, v.secret).unwrap();
        let verified = verifier
            .verify(&v.headers, v.body.as_bytes(), at(v.now))
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(verified.scheme, v.scheme, "{}", v.name);
        assert_eq!(verified.secret_index, 0, "{}", v.name);
        if v.scheme.is_timestamped() {
            assert_eq!(verified.timestamp, Some(at(v.now)), "{}", v.name);
        }
    }
}

#[test]
fn every_published_vector_is_what_sign_produces() {
    for v in vectors() {
        let verifier = WebhookVerifier::new(v.scheme, v.secret).unwrap();
        let id = v
            .headers
            .iter()
            .find(|(k, _)| *k == "webhook-id")
            .map_or("", |(_, v)| v);
        let signed = verifier.sign(v.body.as_bytes(), at(v.now), id);
        for (name, want) in v.headers {
            let got = signed
                .header(name)
                .map(|b| String::from_utf8_lossy(b).into_owned());
            assert_eq!(got.as_deref(), Some(*want), "{}: {name}", v.name);
        }
    }
}

#[test]
fn every_vector_fails_on_a_tampered_body_a_wrong_secret_and_a_flipped_signature() {
    for v in vectors() {
        let now = at(v.now);
        let verifier = WebhookVerifier::new(v.scheme, v.secret).unwrap();
        let mut body = v.body.as_bytes().to_vec();
        body.push(b' ');
        let tampered = verifier.verify(&v.headers, &body, now);
        let wrong_secret = WebhookVerifier::new(v.scheme, "whsec_d3JvbmcgYnV0IHZhbGlk")
            .unwrap()
            .verify(&v.headers, v.body.as_bytes(), now)
            .unwrap_err();
        assert_eq!(
            wrong_secret.reason(),
            RejectionReason::SignatureMismatch,
            "{}",
            v.name
        );
        if v.scheme == WebhookScheme::GitLab {
            // The token does not cover the body: GitLab cannot detect tampering.
            assert!(tampered.is_ok());
            continue;
        }
        let tampered = tampered.unwrap_err();
        assert_eq!(
            tampered.reason(),
            RejectionReason::SignatureMismatch,
            "{}",
            v.name
        );
        assert_eq!(tampered.header(), v.scheme.signature_header(), "{}", v.name);
        // Flip one character of the signature, keeping it well-formed.
        let flipped: Vec<(String, String)> = v
            .headers
            .iter()
            .map(|(k, val)| {
                let mut val = val.to_string();
                if k.eq_ignore_ascii_case(v.scheme.signature_header()) {
                    let pos = val.len() - 3;
                    let c = val.as_bytes()[pos];
                    let new = if c == b'a' { "b" } else { "a" };
                    val.replace_range(pos..=pos, new);
                }
                (k.to_string(), val)
            })
            .collect();
        let err = verifier
            .verify(&flipped, v.body.as_bytes(), now)
            .unwrap_err();
        assert_eq!(
            err.reason(),
            RejectionReason::SignatureMismatch,
            "{}",
            v.name
        );
    }
}

#[test]
fn the_replay_window_is_checked_in_both_directions() {
    for v in vectors().into_iter().filter(|v| v.scheme.is_timestamped()) {
        let verifier = WebhookVerifier::new(v.scheme, v.secret).unwrap();
        let body = v.body.as_bytes();
        let edge = |secs: i64| verifier.verify(&v.headers, body, at(v.now + secs));
        assert!(
            edge(300).is_ok(),
            "{}: 300 s old is inside the default tolerance",
            v.name
        );
        assert!(edge(-300).is_ok(), "{}: 300 s ahead is inside", v.name);
        let stale = edge(301).unwrap_err();
        assert_eq!(
            stale.reason(),
            RejectionReason::TimestampTooOld,
            "{}",
            v.name
        );
        assert_eq!(stale.http_status(), 401);
        let future = edge(-301).unwrap_err();
        assert_eq!(
            future.reason(),
            RejectionReason::TimestampInFuture,
            "{}",
            v.name
        );
        // A custom tolerance.
        let strict = verifier.clone().with_tolerance(Duration::from_secs(10));
        assert!(strict.verify(&v.headers, body, at(v.now + 10)).is_ok());
        assert_eq!(
            strict
                .verify(&v.headers, body, at(v.now - 11))
                .unwrap_err()
                .reason(),
            RejectionReason::TimestampInFuture
        );
    }
    // Schemes without a timestamp ignore the clock.
    let gh = &vectors()[0];
    let verifier = WebhookVerifier::new(gh.scheme, gh.secret).unwrap();
    assert!(
        verifier
            .verify(&gh.headers, gh.body.as_bytes(), at(0))
            .is_ok()
    );
}

#[test]
fn a_forged_stale_delivery_is_a_mismatch_not_a_replay() {
    let verifier = WebhookVerifier::new(WebhookScheme::Stripe, "whsec_test_secret").unwrap();
    let headers = [("Stripe-Signature", format!("t=1,v1={}", "0".repeat(64)))];
    let err = verifier
        .verify(&headers, b"{}", at(1_700_000_000))
        .unwrap_err();
    assert_eq!(err.reason(), RejectionReason::SignatureMismatch);
}

#[test]
fn several_signatures_and_secrets_support_rotation() {
    let body = br#"{"id":"evt_test","object":"event"}"#;
    let good = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";
    let other = "1".repeat(64);
    let now = at(1_700_000_000);
    let stripe = WebhookVerifier::new(WebhookScheme::Stripe, "whsec_test_secret").unwrap();
    for header in [
        format!("t=1700000000,v1={other},v1={good}"),
        format!("t=1700000000, v0={other}, v1={good}, v1={other}"),
        format!("v1={good},t=1700000000"),
    ] {
        let h = [("stripe-signature", header.as_str())];
        assert!(stripe.verify(&h, body, now).is_ok(), "{header}");
    }
    // The old secret first, the new one added: a delivery signed with the new one
    // matches index 1.
    let rotated = WebhookVerifier::new(WebhookScheme::Stripe, "whsec_old")
        .unwrap()
        .with_secret("whsec_test_secret")
        .unwrap();
    let h = [("Stripe-Signature", format!("t=1700000000,v1={good}"))];
    assert_eq!(rotated.verify(&h, body, now).unwrap().secret_index, 1);

    // Standard Webhooks: space-separated, other versions ignored.
    let std_sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let sw = WebhookVerifier::new(
        WebhookScheme::StandardWebhooks,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .unwrap();
    for sigs in [
        format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {std_sig}"),
        format!("v1a,c29tZXRoaW5n {std_sig}"),
    ] {
        let h = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sigs.as_str()),
        ];
        assert!(
            sw.verify(&h, br#"{"test": 2432232314}"#, at(1_614_265_330))
                .is_ok(),
            "{sigs}"
        );
    }

    // PagerDuty: several comma-separated v1 values.
    let pd = WebhookVerifier::new(WebhookScheme::PagerDuty, "pd-secret").unwrap();
    let body = br#"{"event":{"id":"01DEF","event_type":"incident.triggered"}}"#;
    let signed = pd.sign(body, now, "");
    let real =
        String::from_utf8_lossy(signed.header("x-pagerduty-signature").unwrap()).into_owned();
    let both = format!("v1={other}, {real}");
    let h = [("X-PagerDuty-Signature", both.as_str())];
    let verified = pd.verify(&h, body, now).unwrap();
    assert_eq!(verified.delivery_id.unwrap().key(), "pagerduty:01DEF");
}

#[test]
fn every_scheme_round_trips_through_sign() {
    let now = at(1_700_000_000);
    let body = br#"{"id":"evt_1","event_id":"Ev1","event":{"id":"P1"}}"#;
    for scheme in WebhookScheme::ALL {
        let verifier = WebhookVerifier::new(*scheme, "whsec_c2VjcmV0LWtleS1ieXRlcw==").unwrap();
        let headers = verifier.sign(body, now, "delivery-1");
        let verified = verifier
            .verify(&headers, body, now)
            .unwrap_or_else(|e| panic!("{scheme}: {e}"));
        assert!(verified.delivery_id.is_some(), "{scheme} has a delivery id");
    }
}

type Case = (
    &'static str,
    WebhookScheme,
    Vec<(&'static str, &'static str)>,
    RejectionReason,
    &'static str,
);

#[test]
fn missing_and_malformed_headers_name_the_header() {
    use RejectionReason::{MalformedHeader as Bad, MissingHeader as Missing};
    use WebhookScheme::*;
    let cases: Vec<Case> = vec![
        (
            "github none",
            GitHub,
            vec![],
            Missing,
            "X-Hub-Signature-256",
        ),
        (
            "github no prefix",
            GitHub,
            vec![("X-Hub-Signature-256", "757107ea")],
            Bad,
            "X-Hub-Signature-256",
        ),
        (
            "github short hex",
            GitHub,
            vec![("X-Hub-Signature-256", "sha256=7571")],
            Bad,
            "X-Hub-Signature-256",
        ),
        (
            "github bad hex",
            GitHub,
            vec![("X-Hub-Signature-256", "sha256=zz")],
            Bad,
            "X-Hub-Signature-256",
        ),
        (
            "github empty",
            GitHub,
            vec![("X-Hub-Signature-256", " ")],
            Bad,
            "X-Hub-Signature-256",
        ),
        (
            "github sha1 only",
            GitHub,
            vec![("X-Hub-Signature", "sha1=00")],
            Missing,
            "X-Hub-Signature-256",
        ),
        (
            "slack no ts",
            Slack,
            vec![("X-Slack-Signature", "v0=00")],
            Missing,
            "X-Slack-Request-Timestamp",
        ),
        (
            "slack bad ts",
            Slack,
            vec![
                ("X-Slack-Request-Timestamp", "-5"),
                ("X-Slack-Signature", "v0=00"),
            ],
            Bad,
            "X-Slack-Request-Timestamp",
        ),
        (
            "slack huge ts",
            Slack,
            vec![
                ("X-Slack-Request-Timestamp", "99999999999999999999"),
                ("X-Slack-Signature", "v0=00"),
            ],
            Bad,
            "X-Slack-Request-Timestamp",
        ),
        (
            "slack no sig",
            Slack,
            vec![("X-Slack-Request-Timestamp", "1531420618")],
            Missing,
            "X-Slack-Signature",
        ),
        (
            "slack v1",
            Slack,
            vec![
                ("X-Slack-Request-Timestamp", "1531420618"),
                ("X-Slack-Signature", "v1=00"),
            ],
            Bad,
            "X-Slack-Signature",
        ),
        ("stripe none", Stripe, vec![], Missing, "Stripe-Signature"),
        (
            "stripe no t",
            Stripe,
            vec![("Stripe-Signature", "v1=00")],
            Bad,
            "Stripe-Signature",
        ),
        (
            "stripe no v1",
            Stripe,
            vec![("Stripe-Signature", "t=1700000000,v0=abc")],
            Bad,
            "Stripe-Signature",
        ),
        (
            "stripe two t",
            Stripe,
            vec![("Stripe-Signature", "t=1,t=2,v1=00")],
            Bad,
            "Stripe-Signature",
        ),
        (
            "stripe garbage",
            Stripe,
            vec![("Stripe-Signature", "garbage")],
            Bad,
            "Stripe-Signature",
        ),
        (
            "stripe bad v1",
            Stripe,
            vec![("Stripe-Signature", "t=1700000000,v1=xyz")],
            Bad,
            "Stripe-Signature",
        ),
        (
            "shopify none",
            Shopify,
            vec![],
            Missing,
            "X-Shopify-Hmac-Sha256",
        ),
        (
            "shopify hex",
            Shopify,
            vec![(
                "X-Shopify-Hmac-Sha256",
                "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )],
            Bad,
            "X-Shopify-Hmac-Sha256",
        ),
        (
            "shopify short",
            Shopify,
            vec![("X-Shopify-Hmac-Sha256", "AAEC")],
            Bad,
            "X-Shopify-Hmac-Sha256",
        ),
        ("gitlab none", GitLab, vec![], Missing, "X-Gitlab-Token"),
        (
            "standard no id",
            StandardWebhooks,
            vec![("webhook-timestamp", "1"), ("webhook-signature", "v1,AA==")],
            Missing,
            "webhook-id",
        ),
        (
            "standard no ts",
            StandardWebhooks,
            vec![("webhook-id", "m"), ("webhook-signature", "v1,AA==")],
            Missing,
            "webhook-timestamp",
        ),
        (
            "standard no sig",
            StandardWebhooks,
            vec![("webhook-id", "m"), ("webhook-timestamp", "1")],
            Missing,
            "webhook-signature",
        ),
        (
            "standard no v1",
            StandardWebhooks,
            vec![
                ("webhook-id", "m"),
                ("webhook-timestamp", "1"),
                ("webhook-signature", "v2,AAAA"),
            ],
            Bad,
            "webhook-signature",
        ),
        (
            "standard bad b64",
            StandardWebhooks,
            vec![
                ("webhook-id", "m"),
                ("webhook-timestamp", "1"),
                ("webhook-signature", "v1,!!!"),
            ],
            Bad,
            "webhook-signature",
        ),
        (
            "standard no comma",
            StandardWebhooks,
            vec![
                ("webhook-id", "m"),
                ("webhook-timestamp", "1"),
                ("webhook-signature", "v1"),
            ],
            Bad,
            "webhook-signature",
        ),
        (
            "pagerduty none",
            PagerDuty,
            vec![],
            Missing,
            "X-PagerDuty-Signature",
        ),
        (
            "pagerduty no v1",
            PagerDuty,
            vec![("X-PagerDuty-Signature", "v0=00")],
            Bad,
            "X-PagerDuty-Signature",
        ),
        (
            "pagerduty bad hex",
            PagerDuty,
            vec![("X-PagerDuty-Signature", "v1=nothex")],
            Bad,
            "X-PagerDuty-Signature",
        ),
        (
            "pagerduty commas",
            PagerDuty,
            vec![("X-PagerDuty-Signature", ",,,")],
            Bad,
            "X-PagerDuty-Signature",
        ),
    ];
    for (name, scheme, headers, reason, header) in cases {
        let verifier =
            WebhookVerifier::new(scheme, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let err = verifier
            .verify(&headers, b"{}", at(1_700_000_000))
            .unwrap_err();
        assert_eq!(err.reason(), reason, "{name}: {err}");
        assert_eq!(err.header(), header, "{name}");
        assert_eq!(err.http_status(), 400, "{name}");
        let conn: crate::ConnectorError = err.into();
        assert_eq!(conn.kind(), ErrorKind::Protocol, "{name}");
        assert!(conn.to_string().contains(header), "{name}: {conn}");
        assert_eq!(
            Rejection::of(&conn).map(Rejection::reason),
            Some(reason),
            "{name}"
        );
    }
}

#[cfg(feature = "webhooks-github-sha1")]
#[test]
fn legacy_sha1_only_when_enabled() {
    let plain = WebhookVerifier::new(WebhookScheme::GitHub, "It's a Secret to Everybody").unwrap();
    let legacy = plain.clone().with_legacy_sha1(true);
    let signed = legacy.sign(b"Hello, World!", at(0), "d-1");
    let sha1_only: Vec<_> = signed
        .iter()
        .filter(|(k, _)| k != GITHUB_SIGNATURE)
        .cloned()
        .collect();
    assert!(sha1_only.header(GITHUB_SIGNATURE_SHA1).is_some());
    assert!(legacy.verify(&sha1_only, b"Hello, World!", at(0)).is_ok());
    let err = plain
        .verify(&sha1_only, b"Hello, World!", at(0))
        .unwrap_err();
    assert_eq!(err.reason(), RejectionReason::MissingHeader);
    assert!(err.detail().contains("not enabled"));
    assert_eq!(
        legacy
            .verify(&sha1_only, b"Hello, World?", at(0))
            .unwrap_err()
            .reason(),
        RejectionReason::SignatureMismatch
    );
    // With both headers, SHA-256 decides.
    assert!(legacy.verify(&signed, b"Hello, World!", at(0)).is_ok());
}

#[test]
fn debug_redacts_and_errors_never_hold_the_secret_or_the_signature() {
    let secret = "It's a Secret to Everybody";
    let verifier = WebhookVerifier::new(WebhookScheme::GitHub, secret)
        .unwrap()
        .with_secret("second-secret")
        .unwrap();
    assert_eq!(
        format!("{verifier:?}"),
        "WebhookVerifier { scheme: GitHub, secrets: [2 redacted], tolerance: 300s, legacy_sha1: false }"
    );
    let expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = [("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))];
    let err = verifier
        .verify(&headers, b"Hello, World!", at(0))
        .unwrap_err();
    let conn: crate::ConnectorError = err.clone().into();
    assert_eq!(conn.kind(), ErrorKind::Auth);
    for text in [
        err.to_string(),
        format!("{err:?}"),
        conn.to_string(),
        format!("{conn:?}"),
    ] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("second-secret"), "{text}");
        assert!(!text.contains(expected), "{text}");
    }
    assert_eq!(
        err.to_string(),
        "webhook rejected (signature_mismatch): `X-Hub-Signature-256`: no signature matches the body under any configured secret"
    );
    let gitlab = WebhookVerifier::new(WebhookScheme::GitLab, "gl-secret-value").unwrap();
    let err = gitlab
        .verify(&[("X-Gitlab-Token", "nope")], b"", at(0))
        .unwrap_err();
    assert!(!format!("{err} {err:?} {gitlab:?}").contains("gl-secret-value"));
}

#[test]
fn bad_secrets_are_config_errors_without_the_secret() {
    let err = WebhookVerifier::new(WebhookScheme::GitHub, "").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err =
        WebhookVerifier::new(WebhookScheme::StandardWebhooks, "whsec_not*base64!").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!err.to_string().contains("not*base64"));
    // The prefix is optional.
    assert!(
        WebhookVerifier::new(
            WebhookScheme::StandardWebhooks,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )
        .is_ok()
    );
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("X-Hub-Signature-256".to_owned()),
        Just("X-Hub-Signature".to_owned()),
        Just("X-Slack-Signature".to_owned()),
        Just("X-Slack-Request-Timestamp".to_owned()),
        Just("Stripe-Signature".to_owned()),
        Just("X-Shopify-Hmac-Sha256".to_owned()),
        Just("X-Gitlab-Token".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        Just("X-PagerDuty-Signature".to_owned()),
        Just("X-GitHub-Delivery".to_owned()),
        "[A-Za-z-]{1,20}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        "\\PC{0,120}".prop_map(String::into_bytes),
        "(t=[0-9]{0,14}|v[01]=[0-9a-fA-F]{0,70}|sha(1|256)=[0-9a-f]{0,70}|v1,[A-Za-z0-9+/=]{0,50}|v0=[0-9a-f]{64})([ ,;=]{0,2}(t=-?[0-9]{0,20}|v1=[0-9a-f]{0,66}|v1,[A-Za-z0-9+/=]{0,46}))*"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// No header string makes any parser panic, and whatever is rejected names a
    /// header.
    #[test]
    fn parsers_never_panic(
        headers in proptest::collection::vec((header_name(), header_value()), 0..6),
        body in any::<Vec<u8>>(),
        now in any::<i64>(),
    ) {
        for outcome in fuzz_verify_all(&headers, &body, now) {
            if let Err(rejection) = outcome {
                prop_assert!(!rejection.header().is_empty());
            }
        }
        for scheme in WebhookScheme::ALL {
            let _ = DeliveryId::extract(*scheme, &headers, &body);
        }
    }
}
