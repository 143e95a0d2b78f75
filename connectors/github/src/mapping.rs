//! How GitHub objects become records: one `#[derive(EntityMapping)]` struct per
//! entity. The derive checks every path and attribute at compile time and produces
//! the [`EntityMapping`](struct@connector_core::EntityMapping) descriptor the connector
//! maps with (after any per-config overrides).
//!
//! | entity | endpoint | target type |
//! |---|---|---|
//! | `repositories` | `GET /orgs/{org}/repos` | `REPOSITORY` |
//! | `members` | `GET /orgs/{org}/members` | `USER` |
//! | `issues` | `GET /repos/{owner}/{repo}/issues` (issues and pull requests) | `ISSUE` |

use connector_core::EntityMapping;
use connector_core::chrono::{DateTime, Utc};

/// The source type of repositories.
pub const REPOSITORIES: &str = "repositories";
/// The source type of organization members.
pub const MEMBERS: &str = "members";
/// The source type of issues and pull requests.
pub const ISSUES: &str = "issues";

/// A repository of the organization (`GET /orgs/{org}/repos`).
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "repositories",
    target = "REPOSITORY",
    display_name = "Repositories",
    description = "Repositories of the configured organization",
    rename_all = "camelCase"
)]
pub struct Repository {
    /// GitHub's numeric id, stable across renames and transfers.
    #[field(external_id)]
    pub id: String,
    /// When the repository was created.
    #[field(created_at, source = "created_at")]
    pub created: Option<DateTime<Utc>>,
    /// When the repository's settings or metadata last changed.
    #[field(updated_at, source = "updated_at")]
    pub updated: Option<DateTime<Utc>>,
    /// The short name (`Hello-World`).
    #[field(min_len = 1)]
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// The owner's login.
    #[field(source = "owner.login")]
    pub owner: Option<String>,
    /// The web page of the repository.
    #[field(source = "html_url")]
    pub url: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// `public`, `private` or `internal`.
    pub visibility: Option<String>,
    /// Whether the repository is private.
    pub private: Option<bool>,
    /// Whether the repository is archived (read-only).
    pub archived: Option<bool>,
    /// The default branch (`main`).
    pub default_branch: Option<String>,
    /// When something was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
    /// The GraphQL node id.
    pub node_id: Option<String>,
}

/// A member of the organization (`GET /orgs/{org}/members`). GitHub reports no
/// modification time for members, so they are always read in full.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "members",
    target = "USER",
    display_name = "Organization members",
    description = "Members of the configured organization",
    rename_all = "camelCase"
)]
pub struct Member {
    /// GitHub's numeric user id.
    #[field(external_id)]
    pub id: String,
    /// The login (`octocat`).
    #[field(source = "login", min_len = 1)]
    pub username: String,
    /// `User` or `Bot`.
    #[field(source = "type")]
    pub account_type: Option<String>,
    /// Whether the user administers the GitHub instance.
    pub site_admin: Option<bool>,
    /// The profile page.
    #[field(source = "html_url")]
    pub url: Option<String>,
    /// The GraphQL node id.
    pub node_id: Option<String>,
}

/// An issue or pull request of a configured repository
/// (`GET /repos/{owner}/{repo}/issues?state=all`). Pull requests carry a
/// `pull_request` object, which sets `isPullRequest`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "issues",
    target = "ISSUE",
    display_name = "Issues and pull requests",
    description = "Issues and pull requests of the configured repositories",
    rename_all = "camelCase"
)]
pub struct Issue {
    /// The key: the issue's web page, `https://HOST/OWNER/REPO/issues/N`
    /// (`/pull/N` for a pull request). It is the one identifier a fetch and a
    /// `pull_request` webhook share: the issues API gives a pull request its
    /// *issue* id, the webhook its *pull request* id. Renaming a repository
    /// changes it (GitHub redirects the old URL).
    #[field(external_id, source = "html_url")]
    pub key: String,
    /// GitHub's numeric id (global, unlike `number`; for a pull request read
    /// through the issues API, its issue id).
    #[field(transform = "to_string")]
    pub id: String,
    /// When it was opened.
    #[field(created_at, source = "created_at")]
    pub created: Option<DateTime<Utc>>,
    /// When it last changed; drives incremental reads (`since`).
    #[field(updated_at, source = "updated_at")]
    pub updated: Option<DateTime<Utc>>,
    /// The number within its repository (`#1347`).
    pub number: i64,
    /// The title.
    #[field(min_len = 1)]
    pub title: String,
    /// `open` or `closed`.
    #[field(one_of = ["open", "closed"])]
    pub state: String,
    /// Why it was closed (`completed`, `not_planned`), when it was.
    pub state_reason: Option<String>,
    /// Whether this is a pull request (the source has a `pull_request` object).
    #[field(source = "pull_request.url", transform(lookup("" => "false", _ => "true")), default)]
    pub is_pull_request: bool,
    /// When a pull request was merged.
    #[field(source = "pull_request.merged_at")]
    pub merged_at: Option<DateTime<Utc>>,
    /// The author's login.
    #[field(source = "user.login")]
    pub author: Option<String>,
    /// The assignees' logins.
    #[field(source = "assignees[].login", default)]
    pub assignees: Vec<String>,
    /// The label names.
    #[field(source = "labels[].name", default)]
    pub labels: Vec<String>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The web page.
    #[field(source = "html_url")]
    pub url: Option<String>,
    /// The Markdown body.
    pub body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::mapping::TypedMapping;
    use connector_core::serde_json::json;

    #[test]
    fn issues_and_pull_requests_are_told_apart() {
        let issue = json!({
            "id": 1, "node_id": "MDU6SXNzdWUx", "number": 1347, "title": "Found a bug",
            "state": "open", "user": {"login": "octocat", "id": 1},
            "labels": [{"id": 208045946, "name": "bug", "color": "f29513"}],
            "assignees": [], "created_at": "2011-04-22T13:33:48Z",
            "updated_at": "2011-04-22T13:33:48Z", "closed_at": null,
            "html_url": "https://github.com/octocat/Hello-World/issues/1347"
        });
        let typed = Issue::from_source(&issue).ok();
        assert_eq!(typed.as_ref().map(|i| i.is_pull_request), Some(false));
        assert_eq!(
            typed.as_ref().map(|i| i.labels.clone()),
            Some(vec!["bug".to_owned()])
        );
        let mut pr = issue;
        pr["pull_request"] =
            json!({"url": "https://api.github.com/repos/o/r/pulls/2", "merged_at": null});
        let record = Issue::map_source(&pr, "github").ok();
        assert_eq!(
            record.as_ref().and_then(|r| r.field("isPullRequest")),
            Some(&json!(true))
        );
        let key = pr["html_url"].as_str().map(str::to_owned);
        assert_eq!(record.as_ref().map(|r| r.external_id.clone()), key);
        assert_eq!(
            record.as_ref().and_then(|r| r.field("id")),
            Some(&json!("1"))
        );
        // The dynamic mapper over the descriptor agrees with the typed path.
        let dynamic = Issue::mapper()
            .ok()
            .and_then(|m| m.map(&pr, "github").ok().flatten());
        assert_eq!(dynamic, record);
    }

    #[test]
    fn repositories_and_members_map() {
        let repo = json!({"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "Hello-World",
            "full_name": "octocat/Hello-World", "private": false, "owner": {"login": "octocat", "id": 1, "type": "User"},
            "html_url": "https://github.com/octocat/Hello-World", "default_branch": "main", "archived": false,
            "visibility": "public", "created_at": "2011-01-26T19:01:12Z", "updated_at": "2011-01-26T19:14:43Z",
            "pushed_at": "2011-01-26T19:06:43Z"});
        let record = Repository::map_source(&repo, "github").ok();
        assert_eq!(
            record.as_ref().map(|r| r.external_id.as_str()),
            Some("1296269")
        );
        assert_eq!(
            record.as_ref().and_then(|r| r.field("fullName")),
            Some(&json!("octocat/Hello-World"))
        );
        assert!(record.as_ref().is_some_and(|r| r.updated_at.is_some()));
        let member = json!({"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User",
            "site_admin": false, "html_url": "https://github.com/octocat"});
        let record = Member::map_source(&member, "github").ok();
        assert_eq!(
            record.as_ref().and_then(|r| r.field("username")),
            Some(&json!("octocat"))
        );
    }
}
