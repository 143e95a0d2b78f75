//! GitHub webhooks: [`GithubWebhookHandler`] turns verified `issues` and
//! `pull_request` deliveries into the same `ISSUE` records a fetch yields.
//!
//! | event | action | items |
//! |---|---|---|
//! | `issues` | `deleted`, `transferred` | a [`Deletion`] of the issue (a transferred issue gets a new id in its new repository) |
//! | `issues` | anything else (`opened`, `edited`, `closed`, `reopened`, `labeled`, `assigned`, …) | the issue as a record, through the connector's `issues` mapping; `closed` yields `state: "closed"` |
//! | `pull_request` | any (`opened`, `edited`, `closed`, `reopened`, `synchronize`, …) | the pull request as an `ISSUE` record with `isPullRequest: true` and `mergedAt`, unless `include_pull_requests` is off |
//! | `ping` and every other event | | nothing (acknowledged) |
//!
//! Every record carries the same `PART_OF` relationship to its repository as a
//! fetch. Deliveries of repositories outside the configured `repositories` are
//! ignored when that list is set.
//!
//! **Keys.** Issues are keyed by their web page (`html_url`), not by GitHub's
//! numeric id: a pull request's own `id` (in `pull_request` events) differs from
//! the issue id the issues API gives it, but both carry the same
//! `https://github.com/OWNER/REPO/pull/N`. So a `pull_request` delivery updates
//! the record a fetch stored.

use connector_core::mapping::TypedMapping;
use connector_core::serde_json::{self, Value, json};
use connector_core::webhook::{
    GITHUB_EVENT, Headers, WebhookHandler, WebhookScheme, WebhookVerifier,
};
use connector_core::{
    ConnectorConfig, ConnectorError, Deletion, EntityMapping, ErrorKind, Mapper, Relationship,
    RelationshipKind, Result, SyncItem,
};

use crate::config::GithubSettings;
use crate::mapping::{ISSUES, Issue};

/// Maps GitHub webhook deliveries to records; see the [module docs](self).
///
/// ```
/// use connector_core::chrono::Utc;
/// use connector_core::SyncItem;
/// use connector_core::webhook::{WebhookHandler, WebhookScheme, WebhookVerifier};
/// use connector_github::webhook::GithubWebhookHandler;
///
/// let verifier = WebhookVerifier::new(WebhookScheme::GitHub, "webhook-secret")?;
/// let handler = GithubWebhookHandler::new(verifier.clone())?;
/// let body = br#"{"action":"deleted","issue":{"id":42,"number":7,"title":"x","state":"open",
///     "html_url":"https://github.com/o/r/issues/7"},"repository":{"id":1,"full_name":"o/r"}}"#;
/// let mut headers = verifier.sign(body, Utc::now(), "d-1");
/// headers.push(("X-GitHub-Event".into(), "issues".into()));
/// let items = handler.verify_and_handle(&headers, body, Utc::now())?;
/// assert!(matches!(&items[0], SyncItem::Deletion(d) if d.external_id == "https://github.com/o/r/issues/7"));
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Debug)]
pub struct GithubWebhookHandler {
    verifier: WebhookVerifier,
    issues: Mapper,
    target: String,
    include_pull_requests: bool,
    repositories: Vec<String>,
}

impl GithubWebhookHandler {
    /// A handler with the default `issues` mapping, accepting every repository.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `verifier` is not for [`WebhookScheme::GitHub`].
    pub fn new(verifier: WebhookVerifier) -> Result<Self> {
        Self::with_mapping(verifier, Issue::entity_mapping())
    }

    /// A handler for the connector `config` describes: its `issues` mapping with
    /// the config's overrides, its `repositories` (deliveries of others are
    /// ignored) and `include_pull_requests`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid config or override, or a verifier of
    /// another scheme.
    pub fn from_config(config: &ConnectorConfig, verifier: WebhookVerifier) -> Result<Self> {
        let settings: GithubSettings = config.settings()?;
        let mapping = Issue::entity_mapping().apply_overrides(&config.mapping_overrides)?;
        let mut handler = Self::with_mapping(verifier, &mapping)?;
        handler.include_pull_requests = settings.include_pull_requests;
        handler.repositories = settings.repositories;
        Ok(handler)
    }

    /// A handler using the `issues` mapping among `mappings` (pass a connected
    /// connector's [`mappings`](connector_core::UniversalConnector::mappings), so
    /// its overrides apply), accepting every repository.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `mappings` has no `issues` mapping, it does not
    /// compile, or `verifier` is of another scheme.
    pub fn from_mappings(mappings: &[EntityMapping], verifier: WebhookVerifier) -> Result<Self> {
        let mapping = mappings
            .iter()
            .find(|m| m.source_type == ISSUES)
            .ok_or_else(|| {
                ConnectorError::config("the GitHub mappings have no `issues` mapping")
            })?;
        Self::with_mapping(verifier, mapping)
    }

    fn with_mapping(verifier: WebhookVerifier, mapping: &EntityMapping) -> Result<Self> {
        if verifier.scheme() != WebhookScheme::GitHub {
            return Err(ConnectorError::config(format!(
                "the GitHub webhook handler needs a `github` verifier, not `{}`",
                verifier.scheme()
            )));
        }
        Ok(Self {
            issues: Mapper::with_registry(mapping, &Issue::transform_registry())?,
            target: mapping.target_type.clone(),
            verifier,
            include_pull_requests: true,
            repositories: Vec::new(),
        })
    }

    /// Whether deliveries of `repository` (`owner/name`) are synced.
    fn wants(&self, repository: Option<&str>) -> bool {
        self.repositories.is_empty()
            || repository
                .is_some_and(|r| self.repositories.iter().any(|c| c.eq_ignore_ascii_case(r)))
    }

    fn record(&self, object: &Value, repository_id: Option<String>) -> Result<Vec<SyncItem>> {
        let Some(mut record) = self.issues.map(object, crate::ID)? else {
            return Ok(Vec::new());
        };
        if let Some(repo) = repository_id {
            let from = (record.entity_type.clone(), record.external_id.clone());
            record = record.with_relationship(Relationship::new(
                from,
                RelationshipKind::Other("PART_OF".to_owned()),
                ("REPOSITORY", repo),
            ));
        }
        Ok(vec![record.into()])
    }
}

fn decode(what: &str) -> impl Fn(serde_json::Error) -> ConnectorError + '_ {
    move |e| {
        ConnectorError::new(
            ErrorKind::Decode,
            format!("the `{what}` delivery is not GitHub's JSON: {e}"),
        )
        .with_connector(crate::ID)
        .with_operation("webhook")
    }
}

/// A JSON id (number or string) as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl WebhookHandler for GithubWebhookHandler {
    fn connector_id(&self) -> &str {
        crate::ID
    }

    fn verifier(&self) -> &WebhookVerifier {
        &self.verifier
    }

    fn handle(&self, headers: &dyn Headers, body: &[u8]) -> Result<Vec<SyncItem>> {
        let event = headers
            .header(GITHUB_EVENT)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .ok_or_else(|| {
                ConnectorError::protocol(format!("the delivery has no `{GITHUB_EVENT}` header"))
                    .with_connector(crate::ID)
                    .with_operation("webhook")
            })?;
        let object_key = match event {
            "issues" => "issue",
            "pull_request" if self.include_pull_requests => "pull_request",
            _ => return Ok(Vec::new()),
        };
        let payload: Value = serde_json::from_slice(body).map_err(decode(event))?;
        let repository = payload.get("repository");
        if !self.wants(
            repository
                .and_then(|r| r.get("full_name"))
                .and_then(Value::as_str),
        ) {
            return Ok(Vec::new());
        }
        let repository_id = repository.and_then(|r| r.get("id")).and_then(id_text);
        let action = payload
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let object = payload
            .get(object_key)
            .filter(|o| o.is_object())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Decode,
                    format!("the `{event}` delivery has no `{object_key}` object"),
                )
                .with_connector(crate::ID)
                .with_operation("webhook")
            })?;
        if object_key == "issue" {
            if matches!(action, "deleted" | "transferred") {
                let id = object.get("html_url").and_then(id_text).ok_or_else(|| {
                    ConnectorError::new(ErrorKind::Decode, "the deleted issue has no `html_url`")
                        .with_connector(crate::ID)
                        .with_operation("webhook")
                })?;
                return Ok(vec![Deletion::new(self.target.clone(), id).into()]);
            }
            return self.record(object, repository_id);
        }
        // A pull request in the issues API's shape: its `pull_request` object says
        // it is one and carries the merge time.
        let mut issue = object.clone();
        if let Some(fields) = issue.as_object_mut() {
            let pr = json!({
                "url": object.get("url").cloned().unwrap_or(Value::Null),
                "html_url": object.get("html_url").cloned().unwrap_or(Value::Null),
                "merged_at": object.get("merged_at").cloned().unwrap_or(Value::Null),
            });
            fields.insert("pull_request".to_owned(), pr);
        }
        self.record(&issue, repository_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::chrono::{TimeZone, Utc};
    use connector_core::webhook::RejectionReason;

    fn handler() -> (GithubWebhookHandler, WebhookVerifier) {
        let verifier = WebhookVerifier::new(WebhookScheme::GitHub, "s3cret").unwrap();
        (
            GithubWebhookHandler::new(verifier.clone()).unwrap(),
            verifier,
        )
    }

    const ISSUE_URL: &str = "https://github.com/octocat/Hello-World/issues/1347";

    fn issue(state: &str) -> Value {
        json!({
            "id": 1, "node_id": "MDU6SXNzdWUx", "number": 1347, "title": "Found a bug",
            "state": state, "user": {"login": "octocat", "id": 1},
            "labels": [{"id": 208045946, "name": "bug", "color": "f29513"}],
            "assignees": [], "created_at": "2011-04-22T13:33:48Z",
            "updated_at": "2011-04-22T13:33:48Z", "closed_at": null,
            "html_url": "https://github.com/octocat/Hello-World/issues/1347"
        })
    }

    fn deliver(event: &str, payload: &Value) -> Result<Vec<SyncItem>> {
        let (handler, verifier) = handler();
        let body = payload.to_string();
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut headers = verifier.sign(body.as_bytes(), now, "d-1");
        headers.push(("X-GitHub-Event".into(), event.into()));
        handler.verify_and_handle(&headers, body.as_bytes(), now)
    }

    fn repo() -> Value {
        json!({"id": 1296269, "full_name": "octocat/Hello-World"})
    }

    #[test]
    fn issue_actions_upsert_and_delete() {
        for action in ["opened", "edited", "reopened", "labeled"] {
            let items = deliver(
                "issues",
                &json!({"action": action, "issue": issue("open"), "repository": repo()}),
            )
            .unwrap();
            let record = items[0].as_record().unwrap();
            assert_eq!(record.external_id, ISSUE_URL, "{action}");
            assert_eq!(record.entity_type, "ISSUE");
            assert_eq!(record.field("state"), Some(&json!("open")));
            assert_eq!(record.relationships[0].to_id, "1296269");
            // The same record a fetch yields for the same object.
            let fetched = Issue::map_source(&issue("open"), crate::ID).unwrap();
            assert_eq!(record.fields, fetched.fields);
        }
        let items = deliver(
            "issues",
            &json!({"action": "closed", "issue": issue("closed"), "repository": repo()}),
        )
        .unwrap();
        assert_eq!(
            items[0].as_record().unwrap().field("state"),
            Some(&json!("closed"))
        );
        for action in ["deleted", "transferred"] {
            let items = deliver(
                "issues",
                &json!({"action": action, "issue": issue("open"), "repository": repo()}),
            )
            .unwrap();
            let SyncItem::Deletion(deletion) = &items[0] else {
                panic!("{action}: expected a deletion, got {items:?}");
            };
            assert_eq!(
                (deletion.entity_type.as_str(), deletion.external_id.as_str()),
                ("ISSUE", ISSUE_URL)
            );
        }
    }

    #[test]
    fn pull_requests_are_flagged_issues_keyed_like_a_fetch() {
        const PR_URL: &str = "https://github.com/octocat/Hello-World/pull/1347";
        // The webhook's pull request object: its own id, not the issue id.
        let mut pr = issue("closed");
        pr["id"] = json!(1001);
        pr["url"] = json!("https://api.github.com/repos/octocat/Hello-World/pulls/1347");
        pr["html_url"] = json!(PR_URL);
        pr["merged_at"] = json!("2011-04-23T10:00:00Z");
        let items = deliver(
            "pull_request",
            &json!({"action": "closed", "number": 1347, "pull_request": pr, "repository": repo()}),
        )
        .unwrap();
        let record = items[0].as_record().unwrap();
        assert_eq!(record.external_id, PR_URL);
        assert_eq!(record.field("isPullRequest"), Some(&json!(true)));
        assert_eq!(record.field("state"), Some(&json!("closed")));
        assert!(record.field("mergedAt").is_some_and(|v| !v.is_null()));
        // The same pull request read through the issues API carries its *issue*
        // id; the key is the same, so the webhook updates the fetched record.
        let mut fetched = issue("closed");
        fetched["html_url"] = json!(PR_URL);
        fetched["pull_request"] = json!({
            "url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347",
            "html_url": PR_URL, "merged_at": "2011-04-23T10:00:00Z"
        });
        let fetched = Issue::map_source(&fetched, crate::ID).unwrap();
        assert_eq!(fetched.external_id, record.external_id);
        assert_ne!(fetched.field("id"), record.field("id"));
    }

    #[test]
    fn other_events_and_repositories_are_ignored_and_bad_bodies_fail() {
        assert!(
            deliver("ping", &json!({"zen": "Keep it logically awesome."}))
                .unwrap()
                .is_empty()
        );
        assert!(
            deliver("push", &json!({"ref": "refs/heads/main"}))
                .unwrap()
                .is_empty()
        );
        let err = deliver("issues", &json!({"action": "opened"})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);

        let (_, verifier) = handler();
        let config = ConnectorConfig::new("org", connector_core::Credentials::None).with_settings(
            json!({"organization": "octocat", "repositories": ["octocat/Hello-World"], "include_pull_requests": false}),
        );
        let filtered = GithubWebhookHandler::from_config(&config, verifier).unwrap();
        let body = json!({"action": "opened", "issue": issue("open"), "repository": {"id": 2, "full_name": "octocat/Other"}}).to_string();
        let headers = [("X-GitHub-Event", "issues")];
        assert!(
            filtered
                .handle(&headers, body.as_bytes())
                .unwrap()
                .is_empty()
        );
        let headers = [("X-GitHub-Event", "pull_request")];
        assert!(
            filtered
                .handle(&headers, body.as_bytes())
                .unwrap()
                .is_empty()
        );

        let slack = WebhookVerifier::new(WebhookScheme::Slack, "x").unwrap();
        assert_eq!(
            GithubWebhookHandler::new(slack).unwrap_err().kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn unsigned_and_missing_event_deliveries_are_rejected() {
        let (handler, _) = handler();
        let body = json!({"action": "opened", "issue": issue("open")}).to_string();
        let now = Utc::now();
        let err = handler
            .verify_and_handle(&[("X-GitHub-Event", "issues")], body.as_bytes(), now)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert_eq!(
            connector_core::webhook::Rejection::of(&err).map(|r| r.reason()),
            Some(RejectionReason::MissingHeader)
        );
        let err = handler
            .handle(&[("X-Other", "x")], body.as_bytes())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }
}
