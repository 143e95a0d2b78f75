//! The smoke runner against the fake Acme Desk: pass, fail, skip, unknown ids,
//! environment variables, and no secret in the output.

use connector_core::ConnectorRegistry;
use connector_core::serde_json::json;
use connector_testkit::fake::{Fault, FaultRule};
use connector_testkit::smoke::{SmokePlan, SmokeStatus, run};

use crate::reference::{AcmeFactory, Bug, acme_config, acme_fake};

const SECRET: &str = "live-smoke-token-4711";

fn registry(bug: Bug) -> ConnectorRegistry {
    let mut registry = ConnectorRegistry::new();
    registry.register(AcmeFactory { bug }).expect("register");
    registry
}

fn plan(base_url: &str, secret: &str) -> SmokePlan {
    let config = acme_config(base_url, secret);
    let value = json!({
        "connectors": { "acme-desk": {
            "config": {
                "organization_id": config.organization_id,
                "credentials": { "type": "bearer", "token": secret },
                "settings": config.settings,
            },
            "page_size": 2,
        } }
    });
    connector_core::serde_json::from_value(value).expect("plan")
}

#[tokio::test(start_paused = true)]
async fn a_working_connector_passes_with_one_record_per_entity() {
    let api = acme_fake(SECRET).await;
    let report = run(&registry(Bug::None), &plan(&api.uri(), SECRET)).await;
    let result = report.result("acme-desk").expect("result");
    assert_eq!(result.status, SmokeStatus::Pass, "{report}");
    assert_eq!(
        result.detail,
        "test_connection ok; tickets: 1 record(s); users: 1 record(s)"
    );
    assert!(!report.has_failures());
    assert!(
        report
            .to_string()
            .ends_with("1 passed, 0 failed, 0 skipped"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_exit_non_zero_and_never_print_the_secret() {
    let api = acme_fake("another-token-0000").await;
    let report = run(&registry(Bug::None), &plan(&api.uri(), SECRET)).await;
    assert_eq!(
        report.result("acme-desk").map(|r| r.status),
        Some(SmokeStatus::Fail),
        "{report}"
    );
    assert!(
        report.to_string().contains("authentication failed"),
        "{report}"
    );
    assert_eq!(report.exit_code(), std::process::ExitCode::FAILURE);

    // A connector that puts its token into errors: the runner still prints none.
    let api = acme_fake(SECRET).await;
    api.faults().push(
        FaultRule::new(Fault::status(500))
            .on_route("users")
            .always(),
    );
    let report = run(&registry(Bug::LeaksToken), &plan(&api.uri(), SECRET)).await;
    let text = report.to_string();
    assert!(text.contains("FAIL acme-desk: fetch `users`"), "{text}");
    assert!(text.contains("sent with token REDACTED"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn missing_targets_skip_with_a_reason_and_unknown_ids_fail() {
    let plan: SmokePlan = connector_core::serde_json::from_value(json!({
        "connectors": { "jira": { "skip": "no sandbox" } }
    }))
    .expect("plan");
    let report = run(&registry(Bug::None), &plan).await;
    let acme = report.result("acme-desk").expect("acme");
    assert_eq!(acme.status, SmokeStatus::Skip);
    assert!(
        acme.detail.contains("CONNECTOR_SMOKE_ACME_DESK"),
        "{}",
        acme.detail
    );
    assert_eq!(
        report.result("jira").map(|r| r.status),
        Some(SmokeStatus::Fail),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn targets_come_from_environment_variables() {
    let api = acme_fake(SECRET).await;
    let config = json!({
        "organization_id": "org-1",
        "credentials": { "type": "bearer", "token": SECRET },
        "settings": { "base_url": api.uri(), "timeout_secs": 0 },
    });
    let registry = registry(Bug::None);
    let vars = vec![
        ("PATH".to_owned(), "/usr/bin".to_owned()),
        ("CONNECTOR_SMOKE_ACME_DESK".to_owned(), config.to_string()),
    ];
    let plan = SmokePlan::from_vars(&registry, vars).expect("plan from vars");
    let report = run(&registry, &plan).await;
    assert_eq!(
        report.result("acme-desk").map(|r| r.status),
        Some(SmokeStatus::Pass),
        "{report}"
    );

    let bad = vec![(
        "CONNECTOR_SMOKE_ACME_DESK".to_owned(),
        format!("{{\"token\": \"{SECRET}\""),
    )];
    let err = SmokePlan::from_vars(&registry, bad).expect_err("not JSON");
    assert!(
        err.to_string().contains("CONNECTOR_SMOKE_ACME_DESK") && !err.to_string().contains(SECRET),
        "{err}"
    );
}
