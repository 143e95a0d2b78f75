//! A fake GitHub REST API, in process, seeded with generated data (feature
//! `fake`).
//!
//! It follows the shapes in `vendor-api-facts.md` §1: bare-array pages, `Link`
//! headers with `rel="next"`/`"last"`/`"first"`/`"prev"` and no header when one page
//! holds everything, `page`/`per_page` with a maximum of 100 (**400** above it),
//! `since` on issues (updated at or after), pull requests in the issues listing with
//! a `pull_request` object, `x-ratelimit-*` headers on every response (403 with
//! `x-ratelimit-remaining: 0` past the quota), GitHub error bodies
//! (`{"message","documentation_url","status"}`) and bearer-token auth (401
//! `Bad credentials`). Tokens the client must follow are never built by it: the
//! fake's `Link` URLs carry them.
//!
//! Not modelled: `sort`/`direction` (items are served in creation order, which is
//! what the connector asks for), ETags and 304s, the search API, GraphQL.
//!
//! ```no_run
//! # async fn demo() -> connector_core::Result<()> {
//! use connector_github::fake::GithubFake;
//! use connector_core::ConnectorFactory;
//!
//! let fake = GithubFake::builder().issues_per_repository(500).start().await;
//! let connector = connector_github::GithubConnectorFactory.connect(fake.config()).await?;
//! assert!(connector.test_connection().await.success);
//! # Ok(()) }
//! ```

use std::time::Duration;

use connector_core::chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, TimeZone, Utc};
use connector_core::serde_json::{Value, json};
use connector_core::{ConnectorConfig, Credentials};
use connector_testkit::fake::{
    AuthGuard, CollectionHandle, Envelope, ErrorStyle, FakeApi, FakeCollection, FakeEndpoint,
    Paging, RateLimitSim, RateLimitStyle,
};
use connector_testkit::rng::SplitMix64;

use crate::config::MAX_PAGE_SIZE;

/// The token the fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "ghp_fakeTokenForTheConnectorSdk000000000";

/// The organization the fake serves unless told otherwise.
pub const DEFAULT_ORG: &str = "acme-corp";

/// The name of the collection holding `repository`'s issues (`issues:o/r`).
pub fn issues_collection(repository: &str) -> String {
    format!("issues:{repository}")
}

/// Builds a [`GithubFake`]. Defaults: organization `acme-corp`, 24 repositories,
/// 40 members, issues (about a third of them pull requests) in the first 3
/// repositories, 200 each, token [`DEFAULT_TOKEN`], GitHub's primary rate limit of
/// 5,000 requests per hour, served at the root (set
/// [`path_prefix`](Self::path_prefix) to `/api/v3` for a GitHub Enterprise Server
/// layout), seed 7.
#[derive(Debug, Clone)]
#[must_use]
pub struct GithubFakeBuilder {
    token: String,
    organization: String,
    repositories: usize,
    members: usize,
    repositories_with_issues: usize,
    issues_per_repository: usize,
    seed: u64,
    path_prefix: String,
    rate_limit: Option<RateLimitSim>,
}

impl Default for GithubFakeBuilder {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_owned(),
            organization: DEFAULT_ORG.to_owned(),
            repositories: 24,
            members: 40,
            repositories_with_issues: 3,
            issues_per_repository: 200,
            seed: 7,
            path_prefix: String::new(),
            rate_limit: Some(RateLimitSim::new(
                5000,
                Duration::from_secs(3600),
                RateLimitStyle::GitHub { status: 403 },
            )),
        }
    }
}

impl GithubFakeBuilder {
    /// The token the fake accepts (`Authorization: Bearer <token>`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The organization's login.
    pub fn organization(mut self, org: impl Into<String>) -> Self {
        self.organization = org.into();
        self
    }

    /// How many repositories the organization has (at least 1).
    pub fn repositories(mut self, n: usize) -> Self {
        self.repositories = n.max(1);
        self
    }

    /// How many members the organization has.
    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    /// How many repositories (the first ones) have issues.
    pub fn repositories_with_issues(mut self, n: usize) -> Self {
        self.repositories_with_issues = n;
        self
    }

    /// How many issues and pull requests each of those repositories has.
    pub fn issues_per_repository(mut self, n: usize) -> Self {
        self.issues_per_repository = n;
        self
    }

    /// The seed of the generated data (same seed, same data).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Serves the API under `prefix` (`/api/v3`, as GitHub Enterprise Server does).
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Replaces (or, with `None`, removes) the rate-limit simulation.
    pub fn rate_limit(mut self, sim: Option<RateLimitSim>) -> Self {
        self.rate_limit = sim;
        self
    }

    /// Generates the data, starts the server and mounts every route.
    ///
    /// # Panics
    ///
    /// Never for the collections it builds (bare arrays with `Link` paging).
    pub async fn start(self) -> GithubFake {
        let mut api = FakeApi::builder()
            .auth(AuthGuard::bearer(&self.token))
            .errors(ErrorStyle::GitHub);
        if let Some(sim) = self.rate_limit.clone() {
            api = api.rate_limit(sim);
        }
        let api = api.start().await;
        let data = Data::generate(&self);
        let p = &self.path_prefix;
        let org = &self.organization;
        FakeEndpoint::get(
            "user",
            format!("{p}/user"),
            json!({"login": "sync-bot", "id": 4_200_001, "node_id": "MDQ6VXNlcjQyMDAwMDE=",
                   "type": "User", "site_admin": false, "html_url": "https://github.com/sync-bot"}),
        )
        .mount(&api)
        .await;
        FakeEndpoint::get(
            "organization",
            format!("{p}/orgs/{org}"),
            json!({"login": org, "id": 9_000_001, "node_id": "MDEyOk9yZ2FuaXphdGlvbjkwMDAwMDE=",
                   "type": "Organization", "public_repos": data.public_repos,
                   "html_url": format!("https://github.com/{org}")}),
        )
        .mount(&api)
        .await;
        FakeEndpoint::get(
            "rate_limit",
            format!("{p}/rate_limit"),
            json!({"resources": {"core": {"limit": 5000, "used": 1, "remaining": 4999, "reset": 1_767_225_600},
                                 "search": {"limit": 30, "used": 0, "remaining": 30, "reset": 1_767_225_600}},
                   "rate": {"limit": 5000, "used": 1, "remaining": 4999, "reset": 1_767_225_600}}),
        )
        .mount(&api)
        .await;
        for repo in &data.repositories {
            let full_name = repo["full_name"].as_str().unwrap_or_default().to_owned();
            FakeEndpoint::get(
                format!("repository:{full_name}"),
                format!("{p}/repos/{full_name}"),
                repo.clone(),
            )
            .mount(&api)
            .await;
        }
        let mut issue_repos = Vec::new();
        let mut issue_handles = Vec::new();
        let repositories = mount(
            FakeCollection::new(
                "repositories",
                format!("{p}/orgs/{org}/repos"),
                data.repositories,
            )
            .updated_field("updated_at"),
            &api,
        )
        .await;
        let members = mount(
            FakeCollection::new("members", format!("{p}/orgs/{org}/members"), data.members),
            &api,
        )
        .await;
        for (repo, issues) in data.issues {
            let handle = mount(
                FakeCollection::new(
                    issues_collection(&repo),
                    format!("{p}/repos/{repo}/issues"),
                    issues,
                )
                // Issues are keyed by their web page, as the connector keys them.
                .id_field("html_url")
                .since_param("since", "updated_at"),
                &api,
            )
            .await;
            issue_repos.push(repo);
            issue_handles.push(handle);
        }
        not_found(&api, &self.path_prefix).await;
        GithubFake {
            api,
            token: self.token,
            organization: self.organization,
            path_prefix: self.path_prefix,
            repositories,
            members,
            issue_repositories: issue_repos,
            issues: issue_handles,
        }
    }
}

/// GitHub answers 404 `{"message":"Not Found"}` for organizations and
/// repositories that do not exist or that the token cannot see. Requests to other
/// unknown paths still reach the testkit's loud fallback.
async fn not_found(api: &FakeApi, prefix: &str) {
    let prefix = prefix.replace('/', "\\/");
    for pattern in [
        format!(r"^{prefix}/orgs/[^/]+(/repos|/members)?$"),
        format!(r"^{prefix}/repos/[^/]+/[^/]+(/issues)?$"),
    ] {
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path_regex(pattern))
            .respond_with(
                wiremock::ResponseTemplate::new(404)
                    .set_body_json(ErrorStyle::GitHub.body(404, "")),
            )
            .with_priority(200)
            .named("github 404 for unknown organizations and repositories")
            .mount(api.server())
            .await;
    }
}

async fn mount(collection: FakeCollection, api: &FakeApi) -> CollectionHandle {
    let collection = collection
        .paging(Paging::link_header())
        .envelope(Envelope::Bare)
        .page_size(30)
        .max_page_size(MAX_PAGE_SIZE);
    match collection.mount(api).await {
        Ok(handle) => handle,
        // A bare array with Link paging carries no body signals: mounting cannot fail.
        Err(e) => unreachable!("a GitHub collection is always valid: {e}"),
    }
}

/// A running fake GitHub API and handles to its data.
#[derive(Debug)]
pub struct GithubFake {
    api: FakeApi,
    token: String,
    organization: String,
    path_prefix: String,
    repositories: CollectionHandle,
    members: CollectionHandle,
    issue_repositories: Vec<String>,
    issues: Vec<CollectionHandle>,
}

impl GithubFake {
    /// A builder with the defaults.
    pub fn builder() -> GithubFakeBuilder {
        GithubFakeBuilder::default()
    }

    /// The testkit fake underneath (request log, faults, rate limit).
    pub fn api(&self) -> &FakeApi {
        &self.api
    }

    /// The fake, consumed into its testkit server.
    pub fn into_api(self) -> FakeApi {
        self.api
    }

    /// The API root to configure as `settings.base_url`.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.api.uri(), self.path_prefix)
    }

    /// The token the fake accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The repositories that have issues, as `owner/name`.
    pub fn issue_repositories(&self) -> &[String] {
        &self.issue_repositories
    }

    /// The repositories collection.
    pub fn repositories(&self) -> &CollectionHandle {
        &self.repositories
    }

    /// The members collection.
    pub fn members(&self) -> &CollectionHandle {
        &self.members
    }

    /// The issues collection of `repository` (`owner/name`).
    pub fn issues(&self, repository: &str) -> Option<&CollectionHandle> {
        self.issue_repositories
            .iter()
            .position(|r| r == repository)
            .and_then(|i| self.issues.get(i))
    }

    /// A config for the GitHub connector pointing at this fake, with every
    /// repository that has issues.
    pub fn config(&self) -> ConnectorConfig {
        config_for(
            &self.base_url(),
            &self.token,
            &self.organization,
            &self.issue_repositories,
        )
    }
}

/// A GitHub connector config for `base_url`, `token`, `organization` and
/// `repositories`.
pub fn config_for(
    base_url: &str,
    token: &str,
    organization: &str,
    repositories: &[String],
) -> ConnectorConfig {
    ConnectorConfig::new(
        "fake-org",
        Credentials::Bearer {
            token: token.to_owned().into(),
        },
    )
    .with_settings(json!({
        "base_url": base_url,
        "organization": organization,
        "repositories": repositories,
    }))
}

const ADJECTIVES: &[&str] = &[
    "billing",
    "payments",
    "identity",
    "search",
    "catalog",
    "checkout",
    "ledger",
    "routing",
    "inventory",
    "pricing",
    "notify",
    "reporting",
    "gateway",
    "audit",
    "scheduler",
    "profile",
];
const NOUNS: &[&str] = &[
    "service", "api", "web", "worker", "sdk", "infra", "ui", "jobs",
];
const FIRST: &[&str] = &[
    "ada",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "frances",
    "alan",
    "radia",
    "edsger",
    "sophie",
    "guido",
    "hedy",
    "tim",
    "katherine",
];
const LAST: &[&str] = &[
    "lovelace", "hopper", "torvalds", "hamilton", "thompson", "liskov", "ritchie", "allen",
    "turing", "perlman", "dijkstra", "wilson", "rossum", "lamarr", "berners", "johnson",
];
const TOPICS: &[&str] = &[
    "login times out",
    "CSV export drops rows",
    "retry storm after deploy",
    "dark mode contrast",
    "flaky integration test",
    "pagination skips items",
    "memory leak in worker",
    "upgrade TLS library",
    "typo in error message",
    "slow dashboard query",
    "webhook signature mismatch",
    "add audit log entry",
    "cache invalidation race",
];
const LABELS: &[(&str, &str)] = &[
    ("bug", "d73a4a"),
    ("enhancement", "a2eeef"),
    ("documentation", "0075ca"),
    ("good first issue", "7057ff"),
    ("security", "b60205"),
    ("performance", "fbca04"),
];

struct Data {
    repositories: Vec<Value>,
    members: Vec<Value>,
    issues: Vec<(String, Vec<Value>)>,
    public_repos: usize,
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn pick<'a>(rng: &mut SplitMix64, from: &[&'a str]) -> &'a str {
    let i = rng.below(from.len() as u64) as usize;
    from.get(i).copied().unwrap_or_default()
}

impl Data {
    fn generate(b: &GithubFakeBuilder) -> Self {
        let mut rng = SplitMix64::new(b.seed);
        let epoch = Utc
            .with_ymd_and_hms(2023, 1, 2, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let org = &b.organization;
        let members: Vec<Value> = (0..b.members)
            .map(|i| {
                let login = format!("{}-{}{}", pick(&mut rng, FIRST), pick(&mut rng, LAST), i);
                let id = 5_000_000 + i as u64;
                json!({
                    "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
                    "type": if i % 25 == 24 { "Bot" } else { "User" },
                    "site_admin": false,
                    "html_url": format!("https://github.com/{login}"),
                })
            })
            .collect();
        let mut public_repos = 0;
        let repositories: Vec<Value> = (0..b.repositories)
            .map(|i| {
                let name = format!(
                    "{}-{}{}",
                    ADJECTIVES[i % ADJECTIVES.len()],
                    NOUNS[(i / ADJECTIVES.len()) % NOUNS.len()],
                    if i >= ADJECTIVES.len() * NOUNS.len() {
                        format!("-{i}")
                    } else {
                        String::new()
                    }
                );
                let created = epoch + ChronoDuration::hours(i as i64 * 37);
                let updated = created + ChronoDuration::hours(rng.below(24 * 200) as i64 + 1);
                let pushed = updated - ChronoDuration::minutes(rng.below(600) as i64);
                let private = rng.chance(400);
                if !private {
                    public_repos += 1;
                }
                let id = 700_000 + i as u64;
                json!({
                    "id": id, "node_id": format!("MDEwOlJlcG9zaXRvcnk{id}"), "name": name,
                    "full_name": format!("{org}/{name}"), "private": private,
                    "owner": {"login": org, "id": 9_000_001, "type": "Organization"},
                    "html_url": format!("https://github.com/{org}/{name}"),
                    "description": format!("The {name} of {org}"),
                    "default_branch": if rng.chance(100) { "master" } else { "main" },
                    "archived": rng.chance(50),
                    "visibility": if private { "private" } else { "public" },
                    "created_at": at(created), "updated_at": at(updated), "pushed_at": at(pushed),
                })
            })
            .collect();
        let mut issues = Vec::new();
        for (r, repo) in repositories
            .iter()
            .take(b.repositories_with_issues)
            .enumerate()
        {
            let full_name = repo["full_name"].as_str().unwrap_or_default().to_owned();
            let repo_created = repo["created_at"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map_or(epoch, |t| t.with_timezone(&Utc));
            let list = (0..b.issues_per_repository)
                .map(|n| {
                    let number = n as u64 + 1;
                    let id = 1_000_000_000 + (r as u64) * 1_000_000 + number;
                    let created = repo_created + ChronoDuration::hours(n as i64 * 5 + 1);
                    let updated = created + ChronoDuration::minutes(rng.below(60 * 24 * 30) as i64);
                    let closed = rng.chance(550);
                    let is_pr = rng.chance(330);
                    let author = members
                        .get(rng.below(b.members.max(1) as u64) as usize)
                        .and_then(|m| m["login"].as_str())
                        .unwrap_or("octocat")
                        .to_owned();
                    let assignees: Vec<Value> = members
                        .get(rng.below(b.members.max(1) as u64) as usize)
                        .filter(|_| rng.chance(600))
                        .map(|m| json!({"login": m["login"], "id": m["id"]}))
                        .into_iter()
                        .collect();
                    let (label, color) = LABELS[rng.below(LABELS.len() as u64) as usize];
                    let kind = if is_pr { "pull" } else { "issues" };
                    let mut issue = json!({
                        "id": id, "node_id": format!("MDU6SXNzdWU{id}"), "number": number,
                        "title": format!("{} ({})", pick(&mut rng, TOPICS), number),
                        "state": if closed { "closed" } else { "open" },
                        "state_reason": if closed { json!("completed") } else { Value::Null },
                        "user": {"login": author, "id": 5_000_000},
                        "labels": [{"id": 208_045_946 + (label.len() as u64), "name": label, "color": color}],
                        "assignees": assignees,
                        "comments": rng.below(12),
                        "created_at": at(created), "updated_at": at(updated),
                        "closed_at": if closed { json!(at(updated)) } else { Value::Null },
                        "html_url": format!("https://github.com/{full_name}/{kind}/{number}"),
                        "repository_url": format!("https://api.github.com/repos/{full_name}"),
                        "body": format!("Steps to reproduce are in the linked runbook for #{number}."),
                    });
                    if is_pr && let Some(obj) = issue.as_object_mut() {
                        let merged = if closed { json!(at(updated)) } else { Value::Null };
                        obj.insert(
                            "pull_request".to_owned(),
                            json!({
                                "url": format!("https://api.github.com/repos/{full_name}/pulls/{number}"),
                                "html_url": format!("https://github.com/{full_name}/pull/{number}"),
                                "diff_url": format!("https://github.com/{full_name}/pull/{number}.diff"),
                                "patch_url": format!("https://github.com/{full_name}/pull/{number}.patch"),
                                "merged_at": merged,
                            }),
                        );
                    }
                    issue
                })
                .collect();
            issues.push((full_name, list));
        }
        Self {
            repositories,
            members,
            issues,
            public_repos,
        }
    }
}
