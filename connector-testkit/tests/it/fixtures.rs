//! Fixture loading and redaction of recorded responses.

use connector_core::ErrorKind;
use connector_core::serde_json::json;
use connector_testkit::fixtures::{RecordedResponse, Redactor, load_items, load_json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn fixtures_load_from_files_and_errors_name_the_file() {
    let users = load_items(format!("{DIR}/users.json")).expect("users fixture");
    assert_eq!(users.len(), 2);
    assert_eq!(users[1]["login"], "grace");
    let err = load_json(format!("{DIR}/missing.json")).expect_err("no such file");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn recorded_responses_are_saved_redacted_and_load_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token.json");
    let recorded = RecordedResponse {
        request: "POST https://login.example.com/token?client_secret=s3cr3t-value".to_owned(),
        status: 200,
        headers: vec![
            ("Set-Cookie".to_owned(), "session=abc".to_owned()),
            ("X-Request-Id".to_owned(), "r-1".to_owned()),
            ("X-Echo".to_owned(), "Bearer live-token-123".to_owned()),
        ],
        body: json!({
            "access_token": "eyJ.live",
            "refresh_token": "rt-live",
            "token_type": "Bearer",
            "expires_in": 3599,
            "nextPageToken": "page-2",
            "profile": { "login": "ada", "password": "hunter22", "note": "uses live-token-123" },
        }),
    };
    let redactor = Redactor::new().with_secret("live-token-123");
    recorded.save(&path, &redactor).expect("save");
    let text = std::fs::read_to_string(&path).expect("read back");
    for secret in [
        "s3cr3t-value",
        "abc",
        "eyJ.live",
        "rt-live",
        "hunter22",
        "live-token-123",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    let back = RecordedResponse::load(&path).expect("load");
    assert_eq!(
        back.body["nextPageToken"], "page-2",
        "paging tokens stay so the recording replays"
    );
    assert_eq!(back.body["expires_in"], 3599);
    assert_eq!(back.body["profile"]["login"], "ada");
    assert_eq!(
        back.headers[1],
        ("X-Request-Id".to_owned(), "r-1".to_owned())
    );
    assert_eq!(back.headers[0].1, "REDACTED");
}
