//! The full contract suite against the fake GitHub API, and GitHub-specific tests:
//! rate-limit rules end to end, GitHub Enterprise Server base URLs, the pull
//! request flag, `since` incremental reads across repositories, error bodies, and a
//! live test that runs only with credentials in the environment.

use std::sync::Arc;
use std::time::Duration;

use connector_core::futures::TryStreamExt;
use connector_core::mapping::TypedMapping;
use connector_core::serde_json::{Value, json};
use connector_core::webhook::{WebhookHandler, WebhookScheme, WebhookVerifier};
use connector_core::{
    Checkpoint, ConnectorConfig, ConnectorFactory, Credentials, ErrorKind, FetchOptions, Record,
    SyncItem, UniversalConnector,
};
use connector_github::fake::{DEFAULT_ORG, GithubFake, config_for, issues_collection};
use connector_github::webhook::GithubWebhookHandler;
use connector_github::{GithubConnectorFactory, Issue};
use connector_testkit::fake::{CollectionHandle, FakeApi, Fault, FaultRule};
use connector_testkit::suite::{BadConfig, ContractFixture, WebhookFixture, WebhookSample};

/// The repository whose issues the fixture reads: the fake's first repository.
const REPO: &str = "acme-corp/billing-service";

struct Fixture;

#[connector_core::async_trait]
impl ContractFixture for Fixture {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(GithubConnectorFactory)
    }

    async fn start_fake(&self, secret: &str) -> FakeApi {
        GithubFake::builder()
            .token(secret)
            .repositories(12)
            .members(10)
            .repositories_with_issues(1)
            .issues_per_repository(31)
            .start()
            .await
            .into_api()
    }

    fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
        config_for(base_url, secret, DEFAULT_ORG, &[REPO.to_owned()])
    }

    fn bad_config(&self, base_url: &str) -> BadConfig {
        let config = ConnectorConfig::new(
            "org",
            Credentials::Bearer {
                token: "t".to_owned().into(),
            },
        )
        .with_settings(json!({ "base_url": base_url, "repositories": [REPO] }));
        BadConfig::new(config, "settings.organization")
    }

    fn collection(&self, api: &FakeApi, entity: &str) -> Option<CollectionHandle> {
        match entity {
            "issues" => api.collection(&issues_collection(REPO)),
            other => api.collection(other),
        }
    }

    fn incremental(&self, entity: &str) -> bool {
        // GitHub reports no change time for organization members.
        entity != "members"
    }

    fn webhooks(&self) -> Option<&dyn WebhookFixture> {
        Some(&Webhooks)
    }
}

/// The webhook section: GitHub's handler over the connected connector's mappings,
/// and an `issues` / `opened` delivery for an issue of [`REPO`], which must yield
/// the record a fetch of the same issue yields.
struct Webhooks;

#[connector_core::async_trait]
impl WebhookFixture for Webhooks {
    fn handler(
        &self,
        connector: &dyn UniversalConnector,
        secret: &str,
    ) -> Result<Option<Arc<dyn WebhookHandler>>, String> {
        let verifier =
            WebhookVerifier::new(WebhookScheme::GitHub, secret).map_err(|e| e.to_string())?;
        let handler = GithubWebhookHandler::from_mappings(connector.mappings(), verifier)
            .map_err(|e| e.to_string())?;
        Ok(Some(Arc::new(handler)))
    }

    fn sample(&self) -> Option<WebhookSample> {
        let issue = json!({
            "id": 2_001_347, "node_id": "I_kwDOAbc", "number": 1347, "title": "Invoices round twice",
            "state": "open", "user": {"login": "octocat", "id": 1},
            "labels": [{"id": 208045946, "name": "bug", "color": "f29513"}],
            "assignees": [{"login": "hubot", "id": 2}], "created_at": "2024-01-15T10:00:00Z",
            "updated_at": "2024-01-15T10:05:00Z", "closed_at": null,
            "html_url": format!("https://github.com/{REPO}/issues/1347"), "body": "Steps: …"
        });
        let payload = json!({
            "action": "opened",
            "issue": issue,
            "repository": {"id": 9001, "full_name": REPO},
            "sender": {"login": "octocat", "id": 1}
        });
        let expected = Issue::map_source(&issue, "github").ok()?;
        Some(WebhookSample::new(
            [
                ("X-GitHub-Event", "issues"),
                ("Content-Type", "application/json"),
            ],
            payload.to_string(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            vec![expected.into()],
        ))
    }
}

mod contract {
    connector_testkit::contract_suite!(super::Fixture);
}

async fn connect(config: ConnectorConfig) -> Box<dyn UniversalConnector> {
    match GithubConnectorFactory.connect(config).await {
        Ok(c) => c,
        Err(e) => panic!("connect: {e}"),
    }
}

async fn read(c: &dyn UniversalConnector, entity: &str, options: FetchOptions) -> Vec<SyncItem> {
    match c.fetch(entity, options).try_collect().await {
        Ok(items) => items,
        Err(e) => panic!("fetch `{entity}`: {e}"),
    }
}

fn records(items: &[SyncItem]) -> Vec<&Record> {
    items.iter().filter_map(SyncItem::as_record).collect()
}

fn final_checkpoint(items: &[SyncItem]) -> Checkpoint {
    match items.last().and_then(SyncItem::as_checkpoint) {
        Some(cp) if cp.complete => cp.clone(),
        other => panic!("the read did not end with a completed checkpoint: {other:?}"),
    }
}

#[tokio::test]
async fn pull_requests_are_flagged_and_can_be_left_out() {
    let fake = GithubFake::builder()
        .repositories(3)
        .repositories_with_issues(1)
        .issues_per_repository(60)
        .start()
        .await;
    let c = connect(fake.config()).await;
    let items = read(c.as_ref(), "issues", FetchOptions::new()).await;
    let all = records(&items);
    assert_eq!(all.len(), 60);
    let prs = all
        .iter()
        .filter(|r| r.field("isPullRequest") == Some(&json!(true)))
        .count();
    let source_prs = fake.issues(&fake.issue_repositories()[0]).map(|h| {
        h.items()
            .iter()
            .filter(|i| i.get("pull_request").is_some())
            .count()
    });
    assert_eq!(Some(prs), source_prs);
    assert!(
        prs > 0 && prs < 60,
        "the fake mixes issues and pull requests: {prs}"
    );
    assert!(all.iter().all(|r| {
        r.relationships
            .iter()
            .any(|rel| rel.to_type == "REPOSITORY")
    }));

    let mut config = fake.config();
    config.settings["include_pull_requests"] = json!(false);
    let c = connect(config).await;
    let items = read(c.as_ref(), "issues", FetchOptions::new()).await;
    assert_eq!(records(&items).len(), 60 - prs);
}

#[tokio::test]
async fn since_reads_only_changed_issues_across_repositories() {
    let fake = GithubFake::builder()
        .repositories(4)
        .repositories_with_issues(3)
        .issues_per_repository(120)
        .start()
        .await;
    let c = connect(fake.config()).await;
    let items = read(c.as_ref(), "issues", FetchOptions::new()).await;
    assert_eq!(records(&items).len(), 360);
    // Two pages per repository (100 + 20), a checkpoint after each.
    let checkpoints = items.iter().filter_map(SyncItem::as_checkpoint).count();
    assert_eq!(checkpoints, 6);
    let done = final_checkpoint(&items);
    let watermark = done.watermark.unwrap_or_else(|| panic!("a watermark"));

    let repo = fake.issue_repositories()[1].clone();
    let handle = fake
        .issues(&repo)
        .cloned()
        .unwrap_or_else(|| panic!("issues of {repo}"));
    let ids = handle.ids();
    handle.touch(&ids[3], watermark + chrono_minutes(5));
    fake.api().clear_log();
    let again = read(c.as_ref(), "issues", FetchOptions::new().with_resume(done)).await;
    let changed: Vec<&str> = records(&again)
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    assert!(changed.contains(&ids[3].as_str()), "{changed:?}");
    // Only issues updated at or after the watermark: the boundary ones and the change.
    assert!(changed.len() < 10, "{changed:?}");
    let sent: Vec<String> = fake
        .api()
        .requests()
        .iter()
        .filter_map(|r| r.query_param("since").map(str::to_owned))
        .collect();
    assert_eq!(
        sent.len(),
        3,
        "one `since` listing per repository: {sent:?}"
    );
    assert!(sent.iter().all(|s| s.ends_with('Z')), "{sent:?}");
}

fn chrono_minutes(n: i64) -> connector_core::chrono::Duration {
    connector_core::chrono::Duration::minutes(n)
}

#[tokio::test]
async fn enterprise_server_base_urls_work() {
    let fake = GithubFake::builder()
        .path_prefix("/api/v3")
        .repositories(5)
        .members(3)
        .repositories_with_issues(1)
        .issues_per_repository(5)
        .start()
        .await;
    assert!(fake.base_url().ends_with("/api/v3"));
    let c = connect(fake.config()).await;
    let test = c.test_connection().await;
    assert!(test.success, "{}", test.message);
    for entity in ["repositories", "members", "issues"] {
        let items = read(c.as_ref(), entity, FetchOptions::new()).await;
        assert!(!records(&items).is_empty(), "{entity}");
    }
    assert!(
        fake.api()
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/api/v3/")),
        "every request goes under the Enterprise Server root"
    );
    let discovery = c
        .discover()
        .await
        .unwrap_or_else(|e| panic!("discover: {e}"));
    assert_eq!(
        discovery.entity("repositories").and_then(|e| e.count),
        Some(5)
    );
    assert_eq!(discovery.entity("issues").and_then(|e| e.count), Some(5));
}

#[tokio::test]
async fn requests_carry_github_headers() {
    let fake = GithubFake::builder().repositories(2).start().await;
    let c = connect(fake.config()).await;
    assert!(c.test_connection().await.success);
    let request = fake
        .api()
        .requests()
        .into_iter()
        .find(|r| r.path == "/user")
        .unwrap_or_else(|| panic!("a /user request"));
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("accept").as_deref(),
        Some("application/vnd.github+json")
    );
    assert_eq!(
        header("x-github-api-version").as_deref(),
        Some("2022-11-28")
    );
    assert!(header("user-agent").is_some_and(|ua| ua.contains("github")));
}

/// On the real clock (a paused clock jumps ahead while the fake's sockets are
/// idle, which could open the window before the connector asks): a 2-second window.
#[tokio::test]
async fn primary_rate_limit_waits_for_the_reset() {
    let fake = GithubFake::builder()
        .repositories(250)
        .members(0)
        .repositories_with_issues(0)
        .rate_limit(Some(connector_testkit::fake::RateLimitSim::new(
            3,
            Duration::from_secs(2),
            connector_testkit::fake::RateLimitStyle::GitHub { status: 403 },
        )))
        .start()
        .await;
    // Another client sharing the token spends the hour's budget first.
    let other = connector_http::HttpClient::builder(fake.base_url())
        .with_auth(connector_http::auth::Bearer::new(fake.token().to_owned()))
        .with_timeout(None)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"));
    for _ in 0..3 {
        let _ = other.get("/user").send().await;
    }
    let mut config = fake.config();
    config.settings["request_timeout_secs"] = json!(0);
    let c = connect(config).await;
    let items = read(c.as_ref(), "repositories", FetchOptions::new()).await;
    assert_eq!(records(&items).len(), 250);
    let log = fake.api().requests_to("repositories");
    let blocked = log
        .iter()
        .position(|r| r.status == 403)
        .unwrap_or_else(|| panic!("the exhausted budget answered 403: {log:?}"));
    let retry = log
        .get(blocked + 1)
        .unwrap_or_else(|| panic!("a retry after the 403"));
    let gap = retry.at.saturating_sub(log[blocked].at);
    // The retry may meet one more 403: the fake's window closes on the nanosecond
    // while `x-ratelimit-reset` is in whole epoch seconds. It never comes early.
    assert!(
        gap >= Duration::from_millis(900),
        "retried {gap:?} after a 403 with x-ratelimit-remaining: 0 (the window resets after 2 s)"
    );
}

#[tokio::test(start_paused = true)]
async fn secondary_rate_limit_honours_retry_after_on_403() {
    let fake = GithubFake::builder()
        .repositories(150)
        .rate_limit(None)
        .start()
        .await;
    fake.api().faults().push(
        FaultRule::new(Fault::Status {
            status: 403,
            retry_after: Some(Duration::from_secs(45)),
        })
        .on_route("repositories")
        .on_page(1),
    );
    let mut config = fake.config();
    config.settings["request_timeout_secs"] = json!(0);
    let c = connect(config).await;
    let items = read(c.as_ref(), "repositories", FetchOptions::new()).await;
    assert_eq!(records(&items).len(), 150);
    let log = fake.api().requests_to("repositories");
    let at = log
        .iter()
        .position(|r| r.status == 403)
        .unwrap_or_else(|| panic!("a 403"));
    let gap = log[at + 1].at.saturating_sub(log[at].at);
    assert!(gap >= Duration::from_secs(45), "waited {gap:?}");
}

#[tokio::test]
async fn errors_carry_what_github_said() {
    let fake = GithubFake::builder().repositories(2).start().await;
    let c = connect(config_for(&fake.base_url(), "ghp_wrong", DEFAULT_ORG, &[])).await;
    let test = c.test_connection().await;
    assert!(!test.success);
    assert_eq!(test.error_kind.as_deref(), Some("Auth"));
    assert!(test.message.contains("Bad credentials"), "{}", test.message);

    let c = connect(config_for(
        &fake.base_url(),
        fake.token(),
        "no-such-org",
        &[],
    ))
    .await;
    let test = c.test_connection().await;
    assert_eq!(
        test.error_kind.as_deref(),
        Some("NotFound"),
        "{}",
        test.message
    );
    assert!(test.message.contains("no-such-org"), "{}", test.message);

    fake.api().faults().push(
        FaultRule::new(Fault::status(403))
            .on_route("members")
            .always(),
    );
    let c = connect(fake.config()).await;
    let err = c
        .fetch("members", FetchOptions::new())
        .try_collect::<Vec<_>>()
        .await
        .err()
        .unwrap_or_else(|| panic!("a 403"));
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string()
            .contains("Resource not accessible by integration"),
        "{err}"
    );
    let discovery = c
        .discover()
        .await
        .unwrap_or_else(|e| panic!("discover: {e}"));
    assert_eq!(
        discovery.entity("members").map(|e| e.can_import),
        Some(false)
    );
    assert!(!discovery.warnings.is_empty());
}

#[tokio::test]
async fn config_problems_name_their_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "settings.organization"),
        (
            json!({"organization": "o", "base_url": "not a url"}),
            "settings.base_url",
        ),
        (
            json!({"organization": "o", "repositories": ["no-slash"]}),
            "settings.repositories",
        ),
        (
            json!({"organization": "o", "extra": true}),
            "settings.extra",
        ),
    ];
    for (settings, field) in cases {
        let config = ConnectorConfig::new(
            "org",
            Credentials::Bearer {
                token: "t".to_owned().into(),
            },
        )
        .with_settings(settings.clone());
        let err = GithubConnectorFactory
            .connect(config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{settings} was accepted"));
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.field_errors().iter().any(|f| f.path.starts_with(field)),
            "{settings}: {err}"
        );
    }
    let no_repos = connect(config_for("http://127.0.0.1:9", "t", "o", &[])).await;
    let err = no_repos
        .fetch("issues", FetchOptions::new())
        .try_collect::<Vec<_>>()
        .await
        .err()
        .map(|e| e.kind());
    assert_eq!(err, Some(ErrorKind::Config));
}

#[tokio::test]
async fn a_few_thousand_records_are_served() {
    let fake = GithubFake::builder()
        .repositories(40)
        .members(60)
        .repositories_with_issues(5)
        .issues_per_repository(600)
        .start()
        .await;
    let c = connect(fake.config()).await;
    let items = read(c.as_ref(), "issues", FetchOptions::new()).await;
    assert_eq!(records(&items).len(), 3000);
    let health = c.health().await;
    assert_eq!(
        health.check("rate_limit_ok").map(|c| c.status),
        Some(connector_core::HealthStatus::Pass)
    );
}

/// Runs against a real GitHub when `GITHUB_TOKEN` and `GITHUB_ORG` are set.
#[tokio::test]
async fn live() {
    let (Ok(token), Ok(org)) = (std::env::var("GITHUB_TOKEN"), std::env::var("GITHUB_ORG")) else {
        #[allow(clippy::print_stdout)]
        {
            println!(
                "skipped live: set GITHUB_TOKEN and GITHUB_ORG (and optionally GITHUB_REPOSITORIES=owner/a,owner/b) to run it"
            );
        }
        return;
    };
    let repos: Vec<String> = std::env::var("GITHUB_REPOSITORIES")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let base =
        std::env::var("GITHUB_BASE_URL").unwrap_or_else(|_| "https://api.github.com".to_owned());
    let c = connect(config_for(&base, &token, &org, &repos)).await;
    let test = c.test_connection().await;
    assert!(test.success, "{}", test.message);
    let items = read(
        c.as_ref(),
        "repositories",
        FetchOptions::new().with_limit(5),
    )
    .await;
    assert!(records(&items).len() <= 5);
}

/// A connector configured with a webhook secret hands out its handler through the
/// trait; the handler verifies signed deliveries and keys them like a fetch; the
/// secret never appears in `Debug`.
#[tokio::test]
async fn the_connector_hands_out_its_webhook_handler() {
    const SECRET: &str = "whsec-canary-2f9d";
    let fake = GithubFake::builder().start().await;
    let mut config = fake.config();
    config.settings["webhook_secret"] = json!(SECRET);
    let connector = connect(config).await;
    let handler = connector
        .webhook_handler()
        .expect("configured with a secret");
    assert_eq!(handler.connector_id(), "github");
    let repo = fake.issue_repositories()[0].clone();
    let body = json!({
        "action": "closed",
        "issue": {"id": 7, "number": 3, "title": "t", "state": "closed",
                  "html_url": format!("https://github.com/{repo}/issues/3")},
        "repository": {"id": 1, "full_name": repo}
    })
    .to_string();
    let now = connector_core::chrono::Utc::now();
    let mut headers = handler.verifier().sign(body.as_bytes(), now, "delivery-1");
    headers.push(("X-GitHub-Event".into(), "issues".into()));
    let items = handler
        .verify_and_handle(&headers, body.as_bytes(), now)
        .expect("verified");
    let record = items[0].as_record().expect("a record");
    assert_eq!(
        record.external_id,
        format!("https://github.com/{repo}/issues/3")
    );
    let tampered = body.replace("closed", "open");
    assert!(
        handler
            .verify_and_handle(&headers, tampered.as_bytes(), now)
            .is_err()
    );
    let settings: connector_github::GithubSettings = {
        let mut config = fake.config();
        config.settings["webhook_secret"] = json!(SECRET);
        config.settings().expect("settings")
    };
    let printed = format!("{settings:?} {:?}", handler.verifier());
    assert!(!printed.contains(SECRET), "{printed}");

    let without = connect(fake.config()).await;
    assert!(without.webhook_handler().is_none());
}
