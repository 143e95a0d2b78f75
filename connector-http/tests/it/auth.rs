//! Every auth strategy's exact wire shape, OAuth2 single flight, rotation and the
//! refresh-and-retry after a 401.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use connector_core::ErrorKind;
use connector_http::SecretString;
use connector_http::auth::{
    ApiKey, AwsSigV4, Basic, Bearer, ClientAuth, OAuth2ClientCredentials, OAuth2RefreshToken,
};
use secrecy::ExposeSecret;
use wiremock::matchers::{body_string_contains, header, header_regex, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::{client, fallback, server};

async fn expect_api(server: &MockServer, m: MockBuilder) {
    m.respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
        .expect(1)
        .mount(server)
        .await;
    fallback(server).await;
}

#[tokio::test]
async fn basic_sends_base64_credentials() {
    let server = server().await;
    // base64("bot:hunter2")
    expect_api(
        &server,
        Mock::given(path("/me")).and(header("authorization", "Basic Ym90Omh1bnRlcjI=")),
    )
    .await;
    let client = client(&server)
        .with_auth(Basic::new("bot", "hunter2"))
        .build()
        .unwrap();
    client.get("/me").send().await.unwrap();
}

#[tokio::test]
async fn bearer_sends_the_token() {
    let server = server().await;
    expect_api(
        &server,
        Mock::given(path("/me")).and(header("authorization", "Bearer ghp_abc123")),
    )
    .await;
    let client = client(&server)
        .with_auth(Bearer::new("ghp_abc123"))
        .build()
        .unwrap();
    client.get("/me").send().await.unwrap();
}

#[tokio::test]
async fn api_key_in_a_custom_header_gitlab() {
    let server = server().await;
    expect_api(
        &server,
        Mock::given(path("/projects")).and(header("PRIVATE-TOKEN", "glpat-xyz")),
    )
    .await;
    let client = client(&server)
        .with_auth(ApiKey::header("PRIVATE-TOKEN", "glpat-xyz").unwrap())
        .build()
        .unwrap();
    client.get("/projects").send().await.unwrap();
}

#[tokio::test]
async fn api_key_with_a_prefix_pagerduty() {
    let server = server().await;
    expect_api(
        &server,
        Mock::given(path("/incidents")).and(header("authorization", "Token token=u+pd-key")),
    )
    .await;
    let auth = ApiKey::header("Authorization", "u+pd-key")
        .unwrap()
        .with_prefix("Token token=");
    let client = client(&server).with_auth(auth).build().unwrap();
    client.get("/incidents").send().await.unwrap();
}

#[tokio::test]
async fn api_key_in_a_query_parameter_replaces_any_existing_one() {
    let server = server().await;
    expect_api(
        &server,
        Mock::given(path("/items"))
            .and(query_param("api_key", "k-123"))
            .and(query_param("page", "2")),
    )
    .await;
    let client = client(&server)
        .with_auth(ApiKey::query("api_key", "k-123"))
        .build()
        .unwrap();
    client
        .get("/items?api_key=stale")
        .query(&[("page", "2")])
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sigv4_signs_every_attempt_with_the_expected_shape() {
    let server = server().await;
    expect_api(
        &server,
        Mock::given(method("GET"))
            .and(path("/"))
            .and(header("x-amz-date", "20150830T123600Z"))
            .and(header("x-amz-security-token", "session-tok"))
            .and(header_regex(
                "authorization",
                r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$",
            )),
    )
    .await;
    let fixed = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let auth = AwsSigV4::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "iam",
    )
    .with_session_token("session-tok")
    .with_clock(move || fixed);
    let client = client(&server).with_auth(auth).build().unwrap();
    client
        .get("/?Action=ListUsers&Version=2010-05-08")
        .send()
        .await
        .unwrap();
}

fn token_body(token: &str, expires_in: u64) -> serde_json::Value {
    serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
}

#[tokio::test]
async fn client_credentials_form_and_basic_client_auth() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        // base64("cid:csecret")
        .and(header("authorization", "Basic Y2lkOmNzZWNyZXQ="))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=read+write"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-1", 3600)))
        .expect(1)
        .mount(&server)
        .await;
    expect_api(
        &server,
        Mock::given(path("/api")).and(header("authorization", "Bearer at-1")),
    )
    .await;
    let auth =
        OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "csecret")
            .with_scope("read")
            .with_scope("write");
    let client = client(&server).with_auth(auth).build().unwrap();
    client.get("/api").send().await.unwrap();
}

#[tokio::test]
async fn client_credentials_in_the_body() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("client_id=cid"))
        .and(body_string_contains("client_secret=csecret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-1", 3600)))
        .expect(1)
        .mount(&server)
        .await;
    expect_api(
        &server,
        Mock::given(path("/api")).and(header("authorization", "Bearer at-1")),
    )
    .await;
    let auth =
        OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "csecret")
            .with_client_auth(ClientAuth::RequestBody);
    client(&server)
        .with_auth(auth)
        .build()
        .unwrap()
        .get("/api")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_concurrent_requests_cause_one_token_request() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("at-shared", 3600))
                .set_delay(Duration::from_millis(5)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer at-shared"))
        .respond_with(ResponseTemplate::new(200))
        .expect(100)
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth =
        OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "csecret");
    let client = client(&server).with_auth(auth).build().unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .get(&format!("/api?i={i}"))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 200);
    }
}

#[tokio::test(start_paused = true)]
async fn tokens_are_refreshed_before_expiry() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-short", 120)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .respond_with(ResponseTemplate::new(200))
        .expect(3)
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth = OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "cs")
        .with_refresh_skew(Duration::from_secs(30));
    let client = client(&server).with_auth(auth).build().unwrap();
    client.get("/api").send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    client.get("/api").send().await.unwrap(); // 60 s left, beyond the skew: cached
    tokio::time::sleep(Duration::from_secs(35)).await;
    client.get("/api").send().await.unwrap(); // 25 s left, within the skew: refreshed
}

#[tokio::test]
async fn rotated_refresh_tokens_reach_the_callback_and_are_used_next() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-2"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-2", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-3"
        })))
        .expect(1)
        .mount(&server)
        .await;
    // at-1 is revoked after one use, so the second call refreshes with rt-2.
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer at-2"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;

    let rotated: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&rotated);
    let auth = OAuth2RefreshToken::new(format!("{}/token", server.uri()), "app", "rt-1")
        .on_rotation(move |t: &SecretString| {
            sink.lock().unwrap().push(t.expose_secret().to_owned())
        });
    let client = client(&server).with_auth(auth).build().unwrap();
    client.get("/api").send().await.unwrap();
    client.get("/api").send().await.unwrap();
    assert_eq!(
        *rotated.lock().unwrap(),
        vec!["rt-2".to_owned(), "rt-3".to_owned()]
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("stale", 3600)))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("fresh", 3600)))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer stale"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth = OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "cs");
    let client = client(&server).with_auth(auth).build().unwrap();
    // Even a POST: the server rejected it before acting on it.
    let response = client
        .post("/api")
        .json(&serde_json::json!({"x": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_second_401_is_an_auth_error_after_exactly_one_retry() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("never-good", 3600)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"message": "Bad credentials"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth = OAuth2ClientCredentials::new(format!("{}/oauth/token", server.uri()), "cid", "cs");
    let err = client(&server)
        .with_auth(auth)
        .build()
        .unwrap()
        .get("/api")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(err.context().http_status, Some(401));
}

#[tokio::test]
async fn a_rejected_grant_is_an_auth_error_naming_the_token_request() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_client", "error_description": "client secret is wrong"
        })))
        .expect(1)
        .mount(&server)
        .await;
    fallback(&server).await;
    let auth = OAuth2ClientCredentials::new(
        format!("{}/oauth/token", server.uri()),
        "cid",
        "wrong-secret-value",
    );
    let err = client(&server)
        .with_auth(auth)
        .build()
        .unwrap()
        .get("/api")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(err.context().operation.as_deref(), Some("token_refresh"));
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(
        err.context()
            .url
            .as_deref()
            .unwrap_or_default()
            .ends_with("/oauth/token"),
        "{err:?}"
    );
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn google_service_account_exchanges_a_verified_rs256_assertion() {
    use base64::Engine as _;
    use connector_http::auth::GoogleServiceAccount;

    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        ))
        .and(body_string_contains("assertion="))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("ya29.google", 3600)))
        .expect(1)
        .mount(&server)
        .await;
    expect_api(
        &server,
        Mock::given(path("/admin/directory/v1/users"))
            .and(header("authorization", "Bearer ya29.google")),
    )
    .await;

    let key_json = include_str!("../fixtures/test-service-account.json");
    let token_uri = format!("{}/token", server.uri());
    let fixed = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let account = GoogleServiceAccount::from_json(key_json)
        .unwrap()
        .with_token_uri(token_uri.clone())
        .with_scope("https://www.googleapis.com/auth/admin.directory.user.readonly")
        .with_subject("admin@example.com")
        .with_clock(move || fixed);
    assert!(!format!("{account:?}").contains("BEGIN PRIVATE KEY"));

    // The assertion verifies with the key's public half and carries the claims.
    let assertion = account.assertion(fixed).unwrap();
    let parts: Vec<&str> = assertion.expose_secret().split('.').collect();
    assert_eq!(parts.len(), 3);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header_json: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        header_json,
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1"})
    );
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": "sync@connector-sdk-test.iam.gserviceaccount.com",
            "aud": token_uri,
            "iat": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
            "scope": "https://www.googleapis.com/auth/admin.directory.user.readonly",
            "sub": "admin@example.com",
        })
    );
    let pem: serde_json::Value = serde_json::from_str(key_json).unwrap();
    let der: String = pem["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key_pair = ring::signature::RsaKeyPair::from_pkcs8(
        &base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap(),
    )
    .unwrap();
    use ring::signature::KeyPair as _;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        key_pair.public_key().as_ref().to_vec(),
    );
    public
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64.decode(parts[2]).unwrap(),
        )
        .expect("the assertion's signature verifies");

    let client = client(&server).with_auth(account).build().unwrap();
    client
        .get("/admin/directory/v1/users")
        .send()
        .await
        .unwrap();
}

#[test]
fn every_auth_debug_is_redacted_exactly() {
    assert_eq!(
        format!("{:?}", Basic::new("bot", "canary-pw")),
        r#"Basic { username: "bot", password: "REDACTED" }"#
    );
    assert_eq!(
        format!("{:?}", Bearer::new("canary-tok")),
        r#"Bearer { token: "REDACTED" }"#
    );
    assert_eq!(
        format!("{:?}", ApiKey::header("X-API-Key", "canary-key").unwrap()),
        r#"ApiKey { location: Header("x-api-key"), prefix: None, key: "REDACTED" }"#
    );
    assert_eq!(
        format!(
            "{:?}",
            AwsSigV4::new("AKID", "canary-secret", "eu-west-1", "ec2")
                .with_session_token("canary-st")
        ),
        r#"AwsSigV4 { access_key_id: "AKID", secret_access_key: "REDACTED", session_token: Some("REDACTED"), region: "eu-west-1", service: "ec2" }"#
    );
    assert_eq!(
        format!(
            "{:?}",
            OAuth2ClientCredentials::new(
                "https://id.example/token?client_secret=x",
                "cid",
                "canary-cs"
            )
        ),
        r#"OAuth2ClientCredentials { token_url: "https://id.example/token?client_secret=REDACTED", client_id: "cid", client_secret: "REDACTED", scopes: [], client_auth: BasicHeader, .. }"#
    );
}

fn credentials(value: serde_json::Value) -> connector_core::Credentials {
    serde_json::from_value(value).expect("credentials")
}

#[tokio::test]
async fn with_credentials_maps_basic_bearer_and_oauth2() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=read"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "cc-token", "expires_in": 3600})),
        )
        .expect(1)
        .mount(&server)
        .await;
    for (path_, auth) in [
        ("/basic", "Basic Ym90Omh1bnRlcjI="),
        ("/bearer", "Bearer ghp_abc123"),
        ("/oauth", "Bearer cc-token"),
    ] {
        Mock::given(path(path_))
            .and(header("authorization", auth))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .expect(1)
            .mount(&server)
            .await;
    }
    fallback(&server).await;
    let cases = [
        (
            "/basic",
            serde_json::json!({"type": "basic", "username": "bot", "password": "hunter2"}),
        ),
        (
            "/bearer",
            serde_json::json!({"type": "bearer", "token": "ghp_abc123"}),
        ),
        (
            "/oauth",
            serde_json::json!({"type": "oauth2_client_credentials", "client_id": "c",
                "client_secret": "s", "token_url": format!("{}/token", server.uri()), "scopes": ["read"]}),
        ),
    ];
    for (p, creds) in cases {
        let client = client(&server)
            .with_credentials(&credentials(creds))
            .build()
            .unwrap();
        client.get(p).send().await.unwrap();
    }
}

#[test]
fn with_credentials_refuses_kinds_that_need_vendor_knowledge() {
    for (creds, needle) in [
        (
            serde_json::json!({"type": "api_key", "key": "k"}),
            "`api_key` credentials need",
        ),
        (
            serde_json::json!({"type": "oauth2_client_credentials", "client_id": "c", "client_secret": "s"}),
            "credentials.token_url: required",
        ),
    ] {
        let err = connector_http::HttpClient::builder("https://api.example.com")
            .with_credentials(&credentials(creds))
            .build()
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!err.to_string().contains("\"k\""), "{err}");
    }
}
