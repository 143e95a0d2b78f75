//! The Entra ID mappings of seed 000 as derived structs: users (`user` → `USER`)
//! and groups (`group` → `TEAM`).
//!
//! Each descriptor equals the JSON mapping in
//! `connector-core/tests/fixtures/mappings/azure_ad_*.json` (a test checks it).
//!
//! The seed's `manager` relationship is part of the user descriptor (`manager.id`,
//! `MANAGES`), but read that way it would say the *user* manages their manager.
//! The connector therefore does not put it on user records: it emits it from
//! [`fetch_relationships("user")`](connector_core::UniversalConnector::fetch_relationships)
//! in the right direction, **manager → report**.

use connector_core::chrono::{DateTime, Utc};
use connector_core::{EntityMapping, TypedMapping};

/// An Entra ID user as a `USER`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "user",
    target = "USER",
    display_name = "Users",
    description = "Import Azure AD users"
)]
pub struct AzureUser {
    /// The object id.
    #[field(external_id)]
    pub id: String,
    /// `createdDateTime`.
    #[field(created_at, source = "createdDateTime")]
    pub created: Option<DateTime<Utc>>,
    /// `userPrincipalName`.
    #[field(source = "userPrincipalName")]
    pub email: String,
    /// `displayName`.
    #[field(source = "displayName")]
    pub name: String,
    /// `givenName`.
    #[field(source = "givenName", target = "firstName")]
    pub first_name: Option<String>,
    /// `surname`.
    #[field(source = "surname", target = "lastName")]
    pub last_name: Option<String>,
    /// `jobTitle`.
    #[field(source = "jobTitle")]
    pub title: Option<String>,
    /// `department`.
    pub department: Option<String>,
    /// `officeLocation`.
    #[field(source = "officeLocation")]
    pub location: Option<String>,
    /// `mobilePhone`.
    #[field(source = "mobilePhone")]
    pub phone: Option<String>,
    /// The manager's id (`$expand=manager`); see the module docs for the direction.
    #[relationship(source = "manager.id", target = "USER", kind = "MANAGES")]
    pub manager: Option<String>,
}

/// An Entra ID group as a `TEAM`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "group",
    target = "TEAM",
    display_name = "Groups",
    description = "Import Azure AD groups as teams"
)]
pub struct AzureGroup {
    /// The object id.
    #[field(external_id)]
    pub id: String,
    /// `createdDateTime`.
    #[field(created_at, source = "createdDateTime")]
    pub created: Option<DateTime<Utc>>,
    /// `displayName`.
    #[field(source = "displayName")]
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `mail`.
    #[field(source = "mail")]
    pub email: Option<String>,
}

/// The two default mappings, users first.
pub fn default_mappings() -> Vec<EntityMapping> {
    vec![
        AzureUser::entity_mapping().clone(),
        AzureGroup::entity_mapping().clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> EntityMapping {
        let path = format!(
            "{}/../../connector-core/tests/fixtures/mappings/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        EntityMapping::from_json(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn descriptors_equal_the_seed_fixtures() {
        assert_eq!(*AzureUser::entity_mapping(), fixture("azure_ad_user"));
        assert_eq!(*AzureGroup::entity_mapping(), fixture("azure_ad_group"));
    }
}
