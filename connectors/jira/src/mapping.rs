//! How Jira objects become records: one `#[derive(EntityMapping)]` struct per
//! entity, following seed 000's Jira spec (epics → `INITIATIVE`, stories →
//! `REQUIREMENT`: `key` → external id, `summary` → `name`, `description` →
//! `description`, `assignee.emailAddress` → `ownerEmail` for epics), plus projects
//! and a few more fields worth having.
//!
//! Epics and stories come from the same JQL search; the connector adds a filter on
//! `fields.issuetype.name` (the configured issue types) to each descriptor, so
//! the mapping also says which issues it takes.
//!
//! | entity | source | target type |
//! |---|---|---|
//! | `projects` | `GET /rest/api/3/project/search` | `PROJECT` |
//! | `epic` | `GET /rest/api/3/search/jql` with `issuetype in (Epic)` | `INITIATIVE` |
//! | `story` | `GET /rest/api/3/search/jql` with `issuetype in (Story)` | `REQUIREMENT` |

use connector_core::chrono::{DateTime, Utc};
use connector_core::mapping::{FilterOp, FilterRule};
use connector_core::serde_json::Value;
use connector_core::{EntityMapping, FieldPath};

/// The source type of projects.
pub const PROJECTS: &str = "projects";
/// The source type of epics.
pub const EPIC: &str = "epic";
/// The source type of stories.
pub const STORY: &str = "story";

/// The issue fields the search asks for: everything the mappings read.
pub const ISSUE_FIELDS: &str =
    "summary,description,assignee,status,issuetype,project,parent,priority,labels,created,updated";

/// A project (`GET /rest/api/3/project/search`). Jira reports no modification time
/// for projects, so they are always read in full.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "projects",
    target = "PROJECT",
    display_name = "Projects",
    description = "Jira projects the credentials can see",
    rename_all = "camelCase"
)]
pub struct Project {
    /// Jira's numeric id (as text), stable when the key changes.
    #[field(external_id)]
    pub id: String,
    /// The project key (`PAY`).
    #[field(min_len = 1)]
    pub key: String,
    /// The name.
    #[field(min_len = 1)]
    pub name: String,
    /// `software`, `service_desk` or `business`.
    #[field(source = "projectTypeKey")]
    pub project_type: Option<String>,
    /// Whether the project is team-managed.
    #[field(source = "simplified")]
    pub team_managed: Option<bool>,
    /// `classic` or `next-gen`.
    pub style: Option<String>,
}

/// An epic (`issuetype` in the configured epic types) as an `INITIATIVE`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "epic",
    target = "INITIATIVE",
    display_name = "Epics",
    description = "Import Epics",
    rename_all = "camelCase"
)]
pub struct Epic {
    /// The issue key (`PAY-12`), as seed 000 maps it (`key` → `externalId`).
    #[field(external_id)]
    pub key: String,
    /// When it was created.
    #[field(created_at, source = "fields.created")]
    pub created: Option<DateTime<Utc>>,
    /// When it last changed; drives incremental reads.
    #[field(updated_at, source = "fields.updated")]
    pub updated: Option<DateTime<Utc>>,
    /// The summary.
    #[field(source = "fields.summary", min_len = 1)]
    pub name: String,
    /// The description in Atlassian Document Format (the connector adds
    /// `descriptionText`, its plain text).
    #[field(source = "fields.description")]
    pub description: Option<Value>,
    /// The assignee's email address (hidden by many users' privacy settings).
    #[field(source = "fields.assignee.emailAddress")]
    pub owner_email: Option<String>,
    /// Jira's numeric issue id.
    #[field(source = "id")]
    pub jira_id: String,
    /// The status name (`In Progress`).
    #[field(source = "fields.status.name")]
    pub status: Option<String>,
    /// The status category (`new`, `indeterminate`, `done`).
    #[field(source = "fields.status.statusCategory.key")]
    pub status_category: Option<String>,
    /// The project key.
    #[field(source = "fields.project.key")]
    pub project: Option<String>,
    /// The assignee's display name.
    #[field(source = "fields.assignee.displayName")]
    pub owner_name: Option<String>,
    /// The priority name.
    #[field(source = "fields.priority.name")]
    pub priority: Option<String>,
    /// The labels.
    #[field(source = "fields.labels", default)]
    pub labels: Vec<String>,
}

/// A story (`issuetype` in the configured story types) as a `REQUIREMENT`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "story",
    target = "REQUIREMENT",
    display_name = "Stories",
    description = "Import Stories",
    rename_all = "camelCase"
)]
pub struct Story {
    /// The issue key (`PAY-34`), as seed 000 maps it.
    #[field(external_id)]
    pub key: String,
    /// When it was created.
    #[field(created_at, source = "fields.created")]
    pub created: Option<DateTime<Utc>>,
    /// When it last changed; drives incremental reads.
    #[field(updated_at, source = "fields.updated")]
    pub updated: Option<DateTime<Utc>>,
    /// The summary.
    #[field(source = "fields.summary", min_len = 1)]
    pub name: String,
    /// The description in Atlassian Document Format.
    #[field(source = "fields.description")]
    pub description: Option<Value>,
    /// Jira's numeric issue id.
    #[field(source = "id")]
    pub jira_id: String,
    /// The status name.
    #[field(source = "fields.status.name")]
    pub status: Option<String>,
    /// The status category (`new`, `indeterminate`, `done`).
    #[field(source = "fields.status.statusCategory.key")]
    pub status_category: Option<String>,
    /// The project key.
    #[field(source = "fields.project.key")]
    pub project: Option<String>,
    /// The assignee's email address.
    #[field(source = "fields.assignee.emailAddress")]
    pub owner_email: Option<String>,
    /// The priority name.
    #[field(source = "fields.priority.name")]
    pub priority: Option<String>,
    /// The labels.
    #[field(source = "fields.labels", default)]
    pub labels: Vec<String>,
    /// The parent epic's key: the story is `PART_OF` that `INITIATIVE`.
    #[relationship(source = "fields.parent.key", target = "INITIATIVE", kind = "PART_OF")]
    pub epic: Option<String>,
}

/// `mapping` restricted to issues whose type is one of `types`.
pub fn only_issue_types(mut mapping: EntityMapping, types: &[String]) -> EntityMapping {
    if let Ok(field) = FieldPath::parse("fields.issuetype.name") {
        mapping.filters.push(FilterRule {
            field,
            op: FilterOp::In,
            value: Some(Value::Array(
                types.iter().cloned().map(Value::String).collect(),
            )),
        });
    }
    mapping
}

/// The plain text of an Atlassian Document Format value: text nodes joined,
/// paragraphs and other blocks on their own lines. A string is returned as is.
pub fn adf_to_text(value: &Value) -> Option<String> {
    fn walk(node: &Value, out: &mut String) {
        match node {
            Value::String(s) => out.push_str(s),
            Value::Object(o) => {
                match o.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = o.get("text").and_then(Value::as_str) {
                            out.push_str(t);
                        }
                    }
                    Some("hardBreak") => out.push('\n'),
                    Some("mention") | Some("emoji") => {
                        if let Some(t) = o
                            .get("attrs")
                            .and_then(|a| a.get("text").or_else(|| a.get("shortName")))
                            .and_then(Value::as_str)
                        {
                            out.push_str(t);
                        }
                    }
                    _ => {}
                }
                if let Some(Value::Array(children)) = o.get("content") {
                    for child in children {
                        walk(child, out);
                    }
                    let block = matches!(
                        o.get("type").and_then(Value::as_str),
                        Some("paragraph" | "heading" | "listItem" | "codeBlock" | "blockquote")
                    );
                    if block && !out.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    walk(value, &mut out);
    let text = out.trim_end().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::Mapper;
    use connector_core::mapping::TypedMapping;
    use connector_core::serde_json::json;

    fn issue(kind: &str) -> Value {
        json!({"id": "10002", "key": "ED-1", "self": "https://your-domain.atlassian.net/rest/api/3/issue/10002",
            "fields": {"summary": "Main order flow broken",
                "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
                "issuetype": {"name": kind}, "project": {"id": "10000", "key": "ED"},
                "assignee": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof", "emailAddress": "mia@example.com"},
                "created": "2024-01-10T09:00:00.000+0000", "updated": "2024-01-15T10:22:33.000+0000",
                "parent": {"id": "10001", "key": "ED-0", "fields": {"issuetype": {"name": "Epic"}}},
                "description": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Orders fail"}, {"type": "hardBreak"}, {"type": "text", "text": "at checkout."}]},
                    {"type": "paragraph", "content": [{"type": "text", "text": "Since Monday."}]}]}}})
    }

    #[test]
    fn seed_fields_map_and_jira_dates_parse() {
        let record = Epic::map_source(&issue("Epic"), "jira").ok();
        let r = record.as_ref();
        assert_eq!(r.map(|r| r.external_id.as_str()), Some("ED-1"));
        assert_eq!(r.map(|r| r.entity_type.as_str()), Some("INITIATIVE"));
        assert_eq!(
            r.and_then(|r| r.field("name")),
            Some(&json!("Main order flow broken"))
        );
        assert_eq!(
            r.and_then(|r| r.field("ownerEmail")),
            Some(&json!("mia@example.com"))
        );
        assert_eq!(
            r.and_then(|r| r.updated_at).map(|t| t.to_rfc3339()),
            Some("2024-01-15T10:22:33+00:00".to_owned())
        );
        let story = Story::map_source(&issue("Story"), "jira").ok();
        let rels = story.map(|s| s.relationships).unwrap_or_default();
        assert_eq!(rels.len(), 1);
        assert_eq!(
            (rels[0].to_type.as_str(), rels[0].to_id.as_str()),
            ("INITIATIVE", "ED-0")
        );
    }

    #[test]
    fn issue_type_filters_pick_the_right_issues() {
        let epics = only_issue_types(Epic::entity_mapping().clone(), &["Epic".to_owned()]);
        let mapper = Mapper::new(&epics).ok();
        let mapped = |kind: &str| {
            mapper
                .as_ref()
                .and_then(|m| m.map(&issue(kind), "jira").ok())
                .flatten()
                .is_some()
        };
        assert!(mapped("Epic"));
        assert!(!mapped("Story"));
    }

    #[test]
    fn adf_becomes_text() {
        let text = adf_to_text(&issue("Epic")["fields"]["description"]);
        assert_eq!(
            text.as_deref(),
            Some("Orders fail\nat checkout.\nSince Monday.")
        );
        assert_eq!(adf_to_text(&json!("plain")).as_deref(), Some("plain"));
        assert_eq!(adf_to_text(&Value::Null), None);
    }
}
