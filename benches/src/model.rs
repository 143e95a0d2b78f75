//! The mappings under test.
//!
//! - [`Issue`]: a GitHub issue as one struct that derives both `serde::Deserialize`
//!   (so `connector-http` decodes it straight from the page body) and
//!   `EntityMapping` (so `into_record` makes the record, and `Issue::mapper()` is the
//!   dynamic `Mapper` of the same descriptor). Every SDK contender of the whole-sync
//!   benchmark produces the same records from it.
//! - [`IssueMapped`]: a GitHub issue mapped with paths (`user.login`,
//!   `labels[].name`) and a transform, for the mapping micro-benchmarks.
//! - [`Application`]: connector-derive's seed ServiceNow application struct, and
//!   [`servicenow_app_mapping`], the same mapping as JSON (connector-core's fixture).

use connector_core::EntityMapping;
use connector_core::chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// A GitHub issue, decoded by serde and mapped by the derive.
#[derive(Debug, Clone, PartialEq, Deserialize, EntityMapping)]
#[entity(
    source = "issues",
    target = "ISSUE",
    display_name = "Issues",
    rename_all = "camelCase"
)]
pub struct Issue {
    /// GitHub's numeric id, kept as text.
    #[field(external_id)]
    #[serde(deserialize_with = "number_or_string")]
    pub id: String,
    /// The issue number in its repository.
    pub number: u64,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// The author.
    pub user: User,
    /// The labels.
    pub labels: Vec<Label>,
    /// When it was opened.
    #[field(created_at)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[field(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The description.
    pub body: Option<String>,
}

/// The `user` object of an issue.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    /// The login.
    pub login: String,
    /// The numeric id.
    pub id: u64,
}

/// One label of an issue.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Label {
    /// The label's id.
    pub id: u64,
    /// The label's name.
    pub name: String,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(u64),
        S(String),
    }
    Ok(match Id::deserialize(d)? {
        Id::N(n) => n.to_string(),
        Id::S(s) => s,
    })
}

/// A GitHub issue mapped with source paths and a transform: what a connector
/// author writes to flatten the author and labels.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "issues",
    target = "ISSUE",
    display_name = "Issues",
    rename_all = "camelCase"
)]
pub struct IssueMapped {
    /// GitHub's numeric id, kept as text.
    #[field(external_id)]
    pub id: String,
    /// The issue number.
    pub number: i64,
    /// The title.
    #[field(min_len = 1)]
    pub title: String,
    /// `OPEN` or `CLOSED`.
    #[field(transform = "upper")]
    pub state: String,
    /// The author's login.
    #[field(source = "user.login")]
    pub author: String,
    /// The label names.
    #[field(source = "labels[].name")]
    pub labels: Vec<String>,
    /// Number of comments.
    pub comments: Option<i64>,
    /// When it was opened.
    #[field(created_at)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[field(updated_at)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The description.
    pub body: Option<String>,
}

/// The ServiceNow application mapping the connector itself uses: it maps a row to
/// the same record as [`servicenow_app_mapping`].
pub use connector_servicenow::Application;

/// The ServiceNow application mapping as JSON: connector-core's seed fixture
/// `tests/fixtures/mappings/servicenow_cmdb_ci_appl.json`.
///
/// # Panics
///
/// When the fixture does not parse (a broken checkout).
pub fn servicenow_app_mapping() -> connector_core::mapping::EntityMapping {
    connector_core::mapping::EntityMapping::from_json(include_str!(
        "../../connector-core/tests/fixtures/mappings/servicenow_cmdb_ci_appl.json"
    ))
    .expect("the ServiceNow application fixture parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{issue, servicenow_app};
    use connector_core::mapping::{Mapper, TypedMapping};

    #[test]
    fn typed_decoding_and_the_dynamic_mapper_make_the_same_record() {
        for i in 0..6 {
            let source = issue(i);
            let decoded: Issue = serde_json::from_value(source.clone()).expect("decodes");
            let typed = decoded.into_record("bench").expect("maps");
            let dynamic = Issue::mapper()
                .expect("compiles")
                .map(&source, "bench")
                .expect("maps");
            assert_eq!(Some(typed.clone()), dynamic);
            assert_eq!(Issue::map_source(&source, "bench").expect("maps"), typed);
        }
    }

    #[test]
    fn the_servicenow_struct_matches_its_fixture() {
        let source = servicenow_app(3);
        let dynamic = Mapper::new(&servicenow_app_mapping())
            .expect("compiles")
            .map(&source, "bench")
            .expect("maps");
        assert_eq!(
            dynamic,
            Some(Application::map_source(&source, "bench").expect("maps"))
        );
        let mapped = IssueMapped::map_source(&issue(4), "bench").expect("maps");
        assert_eq!(mapped.fields["state"], "OPEN");
    }
}
