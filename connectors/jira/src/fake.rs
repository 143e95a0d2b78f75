//! A fake Jira Cloud REST API v3, in process, seeded with generated data (feature
//! `fake`).
//!
//! It follows `vendor-api-facts.md` §3:
//!
//! - `GET /rest/api/3/search/jql` with `jql`, `fields`, `maxResults` and
//!   `nextPageToken`: `{"issues":[…],"nextPageToken":"…","isLast":false}`; the
//!   last page has `isLast: true` and no `nextPageToken`; tokens are opaque (a
//!   built one is a 400); `fields` defaults to `id` only; `maxResults` defaults to
//!   50 and is capped silently (100 unless told otherwise); an unbounded JQL (only
//!   `ORDER BY`) is a 400. The JQL understood: `issuetype in (…)` / `=`,
//!   `project in (…)` / `=`, `updated >= "yyyy/MM/dd HH:mm"` (also `-` separated;
//!   read in the fake user's zone, UTC), clauses joined by `AND`, and `ORDER BY`
//!   (validated, not applied: issues are served in creation order). Anything else
//!   is a 400 `Error in the JQL Query`.
//! - `POST /rest/api/3/search/approximate-count` `{"jql"}` → `{"count":N}` (exact
//!   here).
//! - `GET /rest/api/3/project/search` with `startAt`/`maxResults` (max 50): a
//!   PageBean `{"self","nextPage","maxResults","startAt","total","isLast","values"}`.
//! - `GET /rest/api/3/myself` (`timeZone: "UTC"`), and the removed
//!   `GET /rest/api/3/search` answering 410 (the exact post-removal answer is `[?]`).
//! - Basic auth (email + API token); errors as
//!   `{"errorMessages":[…],"errors":{}}`; the 401 body is JSON here (often plain
//!   text at Jira `[?]`).
//!
//! Issue records: `{"id","key","self","fields":{"summary","status":{"name",
//! "statusCategory":{"key"}},"issuetype":{"name"},"project":{"id","key"},
//! "assignee":{"accountId","displayName","emailAddress"},"created","updated",
//! "description":<ADF>,"parent":{…},"priority":{"name"},"labels":[…]}}` with dates
//! as `2024-01-15T10:22:33.000+0000`.

use connector_core::chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, TimeZone, Utc};
use connector_core::serde_json::{Map, Value, json};
use connector_core::{ConnectorConfig, Credentials};
use connector_testkit::fake::{
    AuthGuard, CollectionHandle, Envelope, ErrorStyle, FakeApi, FakeCollection, FakeEndpoint,
    FakeReply, FakeRoute, Paging,
};
use connector_testkit::rng::SplitMix64;
use wiremock::Request;

use crate::config::{MAX_PROJECT_PAGE, MAX_SEARCH_PAGE};
use crate::connector::{COUNT_PATH, MYSELF_PATH, PROJECT_SEARCH_PATH, SEARCH_PATH};

/// The account email the fake accepts unless told otherwise.
pub const DEFAULT_EMAIL: &str = "sync-bot@acme.example";
/// The API token the fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "ATATT3xFfGF0fakeJiraApiTokenForTheSdk";

/// The name of the collection holding every issue (epics, stories, bugs, tasks).
pub const ISSUES: &str = "issues";

/// Builds a [`JiraFake`]. Defaults: 4 projects, each with 8 epics, 60 stories and
/// 20 other issues (bugs and tasks, which neither entity takes), `maxResults`
/// capped at 100, basic auth with [`DEFAULT_EMAIL`] / [`DEFAULT_TOKEN`], seed 11.
#[derive(Debug, Clone)]
#[must_use]
pub struct JiraFakeBuilder {
    email: String,
    token: String,
    projects: usize,
    epics: usize,
    stories: usize,
    others: usize,
    max_results: u32,
    seed: u64,
}

impl Default for JiraFakeBuilder {
    fn default() -> Self {
        Self {
            email: DEFAULT_EMAIL.to_owned(),
            token: DEFAULT_TOKEN.to_owned(),
            projects: 4,
            epics: 8,
            stories: 60,
            others: 20,
            max_results: MAX_SEARCH_PAGE,
            seed: 11,
        }
    }
}

impl JiraFakeBuilder {
    /// The account email and API token the fake accepts.
    pub fn credentials(mut self, email: impl Into<String>, token: impl Into<String>) -> Self {
        self.email = email.into();
        self.token = token.into();
        self
    }

    /// How many projects there are (at least 1).
    pub fn projects(mut self, n: usize) -> Self {
        self.projects = n.max(1);
        self
    }

    /// Epics, stories and other issues per project.
    pub fn issues_per_project(mut self, epics: usize, stories: usize, others: usize) -> Self {
        self.epics = epics;
        self.stories = stories;
        self.others = others;
        self
    }

    /// The most issues a search page holds; larger `maxResults` are capped silently,
    /// as Jira does.
    pub fn max_results(mut self, max: u32) -> Self {
        self.max_results = max.max(1);
        self
    }

    /// The seed of the generated data.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Generates the data, starts the server and mounts every route.
    pub async fn start(self) -> JiraFake {
        let api = FakeApi::builder()
            .auth(AuthGuard::basic(&self.email, &self.token))
            .errors(ErrorStyle::Jira)
            .start()
            .await;
        let (projects, issues) = generate(&self);
        FakeEndpoint::get(
            "myself",
            MYSELF_PATH,
            json!({"accountId": "712020:5b10a2844c20165700ede21g", "accountType": "atlassian",
                   "emailAddress": self.email, "displayName": "Sync Bot", "active": true,
                   "timeZone": "UTC", "locale": "en_US"}),
        )
        .mount(&api)
        .await;
        FakeEndpoint::get(
            "search (removed)",
            "/rest/api/3/search",
            json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."], "errors": {}}),
        )
        .status(410)
        .mount(&api)
        .await;
        let projects = mount(
            FakeCollection::new("projects", PROJECT_SEARCH_PATH, projects)
                .paging(
                    Paging::offset()
                        .with_params("startAt", "maxResults")
                        .with_total("total"),
                )
                .envelope(Envelope::key("values"))
                .page_size(MAX_PROJECT_PAGE)
                .max_page_size(MAX_PROJECT_PAGE)
                .page_size_from(capped("maxResults", MAX_PROJECT_PAGE))
                .decorate(|request, page, body, _headers| {
                    let url = |start: u64| {
                        format!(
                            "{}{}?startAt={start}&maxResults={}",
                            page.base,
                            request.url.path(),
                            page.size
                        )
                    };
                    if let Some(obj) = body.as_object_mut() {
                        obj.insert("self".into(), json!(url(page.offset)));
                        obj.insert("maxResults".into(), json!(page.size));
                        obj.insert("startAt".into(), json!(page.offset));
                        obj.insert("isLast".into(), json!(!page.has_next));
                        if page.has_next {
                            obj.insert(
                                "nextPage".into(),
                                json!(url(page.offset + page.len as u64)),
                            );
                        }
                    }
                }),
            &api,
        )
        .await;
        let issues = mount(
            FakeCollection::new(ISSUES, SEARCH_PATH, issues)
                .paging(Paging::Cursor {
                    cursor_path: "nextPageToken".to_owned(),
                    token_param: "nextPageToken".to_owned(),
                    size_param: Some("maxResults".to_owned()),
                    has_more_path: None,
                })
                .envelope(Envelope::key("issues"))
                .page_size(50)
                .max_page_size(self.max_results)
                .page_size_from(capped("maxResults", self.max_results))
                .updated_field("fields.updated")
                .id_field("key")
                .query(search)
                .decorate(|_request, page, body, _headers| {
                    if let Some(obj) = body.as_object_mut() {
                        obj.insert("isLast".into(), json!(!page.has_next));
                        if !page.has_next {
                            obj.remove("nextPageToken");
                        }
                    }
                }),
            &api,
        )
        .await;
        let counted = issues.clone();
        FakeRoute::new("POST", "approximate-count", COUNT_PATH, move |request| {
            let jql = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|b| b.get("jql").and_then(Value::as_str).map(str::to_owned));
            let Some(jql) = jql else {
                return FakeReply::json(
                    400,
                    &ErrorStyle::Jira.body(400, "The request body must hold `jql`."),
                );
            };
            match Jql::parse(&jql) {
                Ok(q) => {
                    let n = counted.items().iter().filter(|i| q.matches(i)).count();
                    FakeReply::json(200, &json!({ "count": n }))
                }
                Err(e) => FakeReply::json(400, &ErrorStyle::Jira.body(400, &e)),
            }
        })
        .mount(&api)
        .await;
        JiraFake {
            api,
            email: self.email,
            token: self.token,
            projects,
            issues,
        }
    }
}

/// Reads `param` as the page size, capped at `max` without complaint (Jira's way).
fn capped(
    param: &'static str,
    max: u32,
) -> impl Fn(&Request) -> Result<Option<u32>, String> + Send + Sync + 'static {
    move |request| {
        let Some((_, raw)) = request.url.query_pairs().find(|(k, _)| k == param) else {
            return Ok(None);
        };
        match raw.parse::<u32>() {
            Ok(n) => Ok(Some(n.clamp(1, max))),
            Err(_) => Err(format!("The value '{raw}' is invalid for `{param}`.")),
        }
    }
}

async fn mount(collection: FakeCollection, api: &FakeApi) -> CollectionHandle {
    match collection.mount(api).await {
        Ok(handle) => handle,
        // Keyed envelopes carry every body signal: mounting cannot fail.
        Err(e) => unreachable!("a Jira collection is always valid: {e}"),
    }
}

/// The search route's query: JQL filtering and `fields` projection.
fn search(request: &Request, items: Vec<Value>) -> Result<Vec<Value>, String> {
    let param = |name: &str| {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let jql = param("jql").unwrap_or_default();
    let query = Jql::parse(&jql)?;
    let fields = param("fields");
    Ok(items
        .into_iter()
        .filter(|i| query.matches(i))
        .map(|i| project_fields(i, fields.as_deref()))
        .collect())
}

/// Keeps `id`, `key`, `self` and the requested fields (`id` only when none are).
fn project_fields(mut issue: Value, fields: Option<&str>) -> Value {
    let Some(obj) = issue.as_object_mut() else {
        return issue;
    };
    match fields {
        None => {
            let id = obj.get("id").cloned().unwrap_or(Value::Null);
            json!({ "id": id })
        }
        Some(list)
            if list
                .split(',')
                .any(|f| matches!(f.trim(), "*all" | "*navigable")) =>
        {
            issue
        }
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            if let Some(Value::Object(all)) = obj.get_mut("fields") {
                all.retain(|k, _| wanted.contains(&k.as_str()));
            }
            issue
        }
    }
}

/// The JQL the fake understands (see the module docs).
#[derive(Debug, Default)]
struct Jql {
    types: Option<Vec<String>>,
    projects: Option<Vec<String>>,
    updated_since: Option<DateTime<Utc>>,
}

impl Jql {
    fn parse(jql: &str) -> Result<Self, String> {
        let lower = jql.to_ascii_lowercase();
        let restriction = match lower.find("order by") {
            Some(at) => {
                let order = &jql[at + "order by".len()..];
                if order.split(',').count() > 7 {
                    return Err(
                        "Error in the JQL Query: ORDER BY may list at most 7 fields.".into(),
                    );
                }
                &jql[..at]
            }
            None => jql,
        };
        if restriction.trim().is_empty() {
            return Err("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into());
        }
        let mut q = Jql::default();
        for clause in split_and(restriction) {
            let clause = clause.trim();
            let (field, rest) = clause
                .split_once(char::is_whitespace)
                .ok_or_else(|| jql_error(clause))?;
            let rest = rest.trim();
            match field.to_ascii_lowercase().as_str() {
                "issuetype" | "type" => {
                    q.types = Some(values(rest).ok_or_else(|| jql_error(clause))?)
                }
                "project" => q.projects = Some(values(rest).ok_or_else(|| jql_error(clause))?),
                "updated" => {
                    let date = rest
                        .strip_prefix(">=")
                        .map(|d| unquote(d.trim()))
                        .ok_or_else(|| jql_error(clause))?;
                    let at = ["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"]
                        .iter()
                        .find_map(|f| NaiveDateTime::parse_from_str(&date, f).ok())
                        .ok_or_else(|| format!("Error in the JQL Query: Date value '{date}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."))?;
                    q.updated_since = Some(at.and_utc());
                }
                _ => return Err(jql_error(clause)),
            }
        }
        Ok(q)
    }

    fn matches(&self, issue: &Value) -> bool {
        let text = |ptr: &str| {
            issue
                .pointer(ptr)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        if let Some(types) = &self.types
            && !types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(text("/fields/issuetype/name")))
        {
            return false;
        }
        if let Some(projects) = &self.projects
            && !projects
                .iter()
                .any(|p| p.eq_ignore_ascii_case(text("/fields/project/key")))
        {
            return false;
        }
        if let Some(since) = self.updated_since {
            let updated =
                DateTime::parse_from_str(text("/fields/updated"), "%Y-%m-%dT%H:%M:%S%.f%z")
                    .map(|t| t.with_timezone(&Utc));
            if !updated.is_ok_and(|t| t >= since) {
                return false;
            }
        }
        true
    }
}

fn jql_error(clause: &str) -> String {
    format!("Error in the JQL Query: the fake Jira does not understand `{clause}`.")
}

/// Splits on top-level ` AND ` (outside quotes).
fn split_and(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let words: Vec<&str> = s.split(' ').collect();
    for word in words {
        if !quoted && word.eq_ignore_ascii_case("and") {
            out.push(std::mem::take(&mut current));
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        quoted ^= word.matches('"').count() % 2 == 1;
    }
    out.push(current);
    out.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .replace("\\\"", "\"")
}

/// The values of `in ("a", "b")` or `= "a"` / `= a`.
fn values(rest: &str) -> Option<Vec<String>> {
    if let Some(v) = rest.strip_prefix('=') {
        return Some(vec![unquote(v)]);
    }
    let lower = rest.to_ascii_lowercase();
    let list = lower.strip_prefix("in").map(|_| rest[2..].trim())?;
    let inner = list.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(unquote).collect())
}

/// A running fake Jira Cloud API and handles to its data.
#[derive(Debug)]
pub struct JiraFake {
    api: FakeApi,
    email: String,
    token: String,
    projects: CollectionHandle,
    issues: CollectionHandle,
}

impl JiraFake {
    /// A builder with the defaults.
    pub fn builder() -> JiraFakeBuilder {
        JiraFakeBuilder::default()
    }

    /// The testkit fake underneath (request log, faults).
    pub fn api(&self) -> &FakeApi {
        &self.api
    }

    /// The fake, consumed into its testkit server.
    pub fn into_api(self) -> FakeApi {
        self.api
    }

    /// The API root to configure as `settings.base_url`.
    pub fn base_url(&self) -> String {
        self.api.uri()
    }

    /// The projects collection.
    pub fn projects(&self) -> &CollectionHandle {
        &self.projects
    }

    /// The collection of every issue.
    pub fn issues(&self) -> &CollectionHandle {
        &self.issues
    }

    /// A config for the Jira connector pointing at this fake (basic auth).
    pub fn config(&self) -> ConnectorConfig {
        config_for(&self.base_url(), &self.email, &self.token)
    }
}

/// A Jira connector config for `base_url` with basic auth `email` / `token`.
pub fn config_for(base_url: &str, email: &str, token: &str) -> ConnectorConfig {
    ConnectorConfig::new(
        "fake-org",
        Credentials::Basic {
            username: email.to_owned(),
            password: token.to_owned().into(),
        },
    )
    .with_settings(json!({ "base_url": base_url }))
}

const PROJECT_NAMES: &[(&str, &str)] = &[
    ("PAY", "Payments"),
    ("WEB", "Web Storefront"),
    ("IDN", "Identity"),
    ("OPS", "Platform Operations"),
    ("DATA", "Data Platform"),
    ("MOB", "Mobile Apps"),
];
const PEOPLE: &[(&str, &str)] = &[
    ("Mia Krystof", "mia.krystof"),
    ("Noah Brandt", "noah.brandt"),
    ("Aiko Tanaka", "aiko.tanaka"),
    ("Lucas Moreau", "lucas.moreau"),
    ("Priya Raman", "priya.raman"),
    ("Jonas Berg", "jonas.berg"),
];
const EPIC_THEMES: &[&str] = &[
    "Checkout redesign",
    "SSO for enterprise customers",
    "Reduce p99 latency",
    "GDPR data export",
    "New pricing plans",
    "Observability rollout",
    "Offline mode",
    "Partner API v2",
];
const STORY_VERBS: &[&str] = &[
    "As a shopper I can",
    "As an admin I can",
    "As a developer I can",
    "As an auditor I can",
];
const STORY_GOALS: &[&str] = &[
    "save a card for later",
    "export my data as CSV",
    "see my order history",
    "reset my password by email",
    "filter reports by region",
    "invite a teammate",
    "rotate an API key",
    "download an invoice",
];
const STATUSES: &[(&str, &str)] = &[
    ("To Do", "new"),
    ("In Progress", "indeterminate"),
    ("In Review", "indeterminate"),
    ("Done", "done"),
];

const PRIORITIES: &[&str] = &["Highest", "High", "Medium", "Low"];

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

fn generate(b: &JiraFakeBuilder) -> (Vec<Value>, Vec<Value>) {
    let mut rng = SplitMix64::new(b.seed);
    let epoch = Utc
        .with_ymd_and_hms(2024, 1, 8, 8, 30, 0)
        .single()
        .unwrap_or_default();
    let mut projects = Vec::new();
    let mut issues = Vec::new();
    let mut next_id = 10_100_u64;
    for p in 0..b.projects {
        let (key, name) = PROJECT_NAMES[p % PROJECT_NAMES.len()];
        let key = if p < PROJECT_NAMES.len() {
            key.to_owned()
        } else {
            format!("{key}{p}")
        };
        let project_id = (10_000 + p).to_string();
        projects.push(json!({
            "id": project_id, "key": key, "name": name,
            "self": format!("https://acme.atlassian.net/rest/api/3/project/{project_id}"),
            "projectTypeKey": "software", "simplified": p % 2 == 1,
            "style": if p % 2 == 1 { "next-gen" } else { "classic" },
            "isPrivate": false,
        }));
        let total = b.epics + b.stories + b.others;
        let mut epic_keys: Vec<String> = Vec::new();
        for n in 0..total {
            let kind = if n < b.epics {
                "Epic"
            } else if n < b.epics + b.stories {
                "Story"
            } else if n % 2 == 0 {
                "Bug"
            } else {
                "Task"
            };
            let number = n + 1;
            let issue_key = format!("{key}-{number}");
            let id = next_id.to_string();
            next_id += 1;
            let created = epoch
                + ChronoDuration::hours((p * 3) as i64)
                + ChronoDuration::minutes((n as i64) * 97);
            let updated = created
                + ChronoDuration::seconds(rng.below(60 * 60 * 24 * 20) as i64)
                + ChronoDuration::milliseconds(rng.below(1000) as i64);
            let (status, category) = STATUSES[rng.below(STATUSES.len() as u64) as usize];
            let assignee = if rng.chance(750) {
                let (display, handle) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
                let mut a = json!({"accountId": format!("5b10a2844c2016570{:07}", rng.below(9_999_999)),
                    "displayName": display, "active": true, "timeZone": "Europe/Berlin"});
                // Many users hide their email address.
                if rng.chance(600)
                    && let Some(obj) = a.as_object_mut()
                {
                    obj.insert(
                        "emailAddress".into(),
                        json!(format!("{handle}@acme.example")),
                    );
                }
                a
            } else {
                Value::Null
            };
            let summary = match kind {
                "Epic" => format!("{} ({key})", EPIC_THEMES[n % EPIC_THEMES.len()]),
                "Story" => format!(
                    "{} {} ({issue_key})",
                    STORY_VERBS[rng.below(STORY_VERBS.len() as u64) as usize],
                    STORY_GOALS[rng.below(STORY_GOALS.len() as u64) as usize]
                ),
                _ => format!("Fix flaky job in {name} ({issue_key})"),
            };
            let mut fields = Map::new();
            fields.insert("summary".into(), json!(summary));
            fields.insert(
                "status".into(),
                json!({"name": status, "statusCategory": {"key": category}}),
            );
            fields.insert("issuetype".into(), json!({"name": kind, "subtask": false}));
            fields.insert(
                "project".into(),
                json!({"id": project_id, "key": key, "name": name}),
            );
            fields.insert("assignee".into(), assignee);
            fields.insert("created".into(), json!(jira_time(created)));
            fields.insert("updated".into(), json!(jira_time(updated)));
            fields.insert(
                "description".into(),
                if rng.chance(850) {
                    adf(&format!(
                        "{summary}: acceptance criteria are in the linked page."
                    ))
                } else {
                    Value::Null
                },
            );
            fields.insert(
                "priority".into(),
                json!({"name": PRIORITIES[rng.below(PRIORITIES.len() as u64) as usize]}),
            );
            fields.insert(
                "labels".into(),
                json!(if rng.chance(300) {
                    vec!["roadmap"]
                } else {
                    vec![]
                }),
            );
            if kind == "Epic" {
                epic_keys.push(issue_key.clone());
            } else if kind == "Story" && !epic_keys.is_empty() && rng.chance(800) {
                let parent = &epic_keys[rng.below(epic_keys.len() as u64) as usize];
                fields.insert(
                    "parent".into(),
                    json!({"key": parent, "fields": {"issuetype": {"name": "Epic"}}}),
                );
            }
            issues.push(json!({
                "id": id, "key": issue_key,
                "self": format!("https://acme.atlassian.net/rest/api/3/issue/{id}"),
                "fields": Value::Object(fields),
            }));
        }
    }
    (projects, issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_subset_parses_and_rejects() {
        let q = Jql::parse(
            r#"issuetype in ("Epic") AND project in ("PAY", "WEB") AND updated >= "2024/01/15 10:22" ORDER BY created ASC, key ASC"#,
        );
        let q = q.unwrap_or_default();
        assert_eq!(q.types, Some(vec!["Epic".to_owned()]));
        assert_eq!(q.projects.as_ref().map(Vec::len), Some(2));
        assert!(q.updated_since.is_some());
        assert!(Jql::parse("order by key desc").is_err_and(|e| e.contains("Unbounded")));
        assert!(
            Jql::parse("summary ~ \"x\"").is_err_and(|e| e.starts_with("Error in the JQL Query"))
        );
        assert!(Jql::parse("updated >= \"yesterday\"").is_err());
    }

    #[test]
    fn fields_default_to_id_only() {
        let issue = json!({"id": "1", "key": "A-1", "fields": {"summary": "s", "updated": "u"}});
        assert_eq!(project_fields(issue.clone(), None), json!({"id": "1"}));
        assert_eq!(
            project_fields(issue, Some("summary")),
            json!({"id": "1", "key": "A-1", "fields": {"summary": "s"}})
        );
    }
}
