//! # connectors
//!
//! The vendor connectors of the connector SDK, one cargo feature each, so an
//! application compiles only the vendors it uses:
//!
//! ```toml
//! [dependencies]
//! connectors = { version = "0.1", features = ["github", "servicenow"] }
//! ```
//!
//! | feature | connector id | crate |
//! |---|---|---|
//! | `github` | `github` | `connector-github` |
//! | `jira` | `jira` | `connector-jira` |
//! | `servicenow` | `servicenow` | `connector-servicenow` |
//! | `azure-ad` | `azure-ad` | `connector-msgraph` |
//! | `all` | all of the above | |
//!
//! [`registry`] returns a [`ConnectorRegistry`] holding every enabled connector;
//! [`catalog`] lists every connector the project knows of, with an honest release
//! status: the enabled ones with their own metadata, the rest as the catalog file
//! describes them (`Planned` for those not implemented yet).
//!
//! ```
//! let registry = connectors::registry().unwrap();
//! let catalog = connectors::catalog_json(&registry);
//! assert!(catalog["connectors"].as_array().is_some_and(|c| c.len() >= 40));
//! ```

use connector_core::metadata::{
    Capabilities, Category, ConnectorMetadata, Priority, ReleaseStatus,
};
use connector_core::{ConnectorError, ConnectorRegistry, Result};
use serde_json::Value;

/// Registers every connector enabled by a cargo feature.
///
/// # Errors
///
/// When a connector's id is already registered.
pub fn register_enabled(registry: &mut ConnectorRegistry) -> Result<()> {
    #[cfg(feature = "github")]
    connector_github::register(registry)?;
    #[cfg(feature = "jira")]
    connector_jira::register(registry)?;
    #[cfg(feature = "servicenow")]
    connector_servicenow::register(registry)?;
    #[cfg(feature = "azure-ad")]
    connector_msgraph::register(registry)?;
    let _ = &registry;
    Ok(())
}

/// A registry of every connector enabled by a cargo feature.
///
/// # Errors
///
/// When two enabled connectors share an id (a bug in this crate).
pub fn registry() -> Result<ConnectorRegistry> {
    let mut registry = ConnectorRegistry::new();
    register_enabled(&mut registry)?;
    Ok(registry)
}

/// The ids of the connectors this build enables.
pub fn enabled() -> Vec<&'static str> {
    [
        (cfg!(feature = "github"), "github"),
        (cfg!(feature = "jira"), "jira"),
        (cfg!(feature = "servicenow"), "servicenow"),
        (cfg!(feature = "azure-ad"), "azure-ad"),
    ]
    .into_iter()
    .filter_map(|(on, id)| on.then_some(id))
    .collect()
}

const CATALOG: &str = include_str!("catalog.json");

/// One entry of the catalog file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    name: String,
    vendor: String,
    category: Category,
    description: String,
    priority: Priority,
    status: ReleaseStatus,
    source: String,
    #[serde(default)]
    feature: Option<String>,
}

fn entries() -> Result<Vec<Entry>> {
    serde_json::from_str(CATALOG)
        .map_err(|e| ConnectorError::unexpected(format!("the built-in catalog is malformed: {e}")))
}

/// Every connector the project knows of, sorted by priority then id.
///
/// A connector enabled in `registry` is described by its own metadata; the others
/// by the catalog file: `Planned` for those not implemented yet, and the release
/// status of their crate for those implemented but not enabled in this build.
///
/// # Errors
///
/// When the built-in catalog file is malformed (a bug in this crate; tested).
pub fn catalog(registry: &ConnectorRegistry) -> Result<Vec<ConnectorMetadata>> {
    let mut out: Vec<ConnectorMetadata> = Vec::new();
    for entry in entries()? {
        if let Ok(factory) = registry.get(&entry.id) {
            out.push(factory.metadata());
            continue;
        }
        let meta = ConnectorMetadata::new(entry.id, entry.name, entry.vendor, entry.category)
            .with_description(match &entry.feature {
                Some(f) => format!("{} (enable the `{f}` feature)", entry.description),
                None => format!(
                    "{} Planned: not implemented yet ({}).",
                    entry.description, entry.source
                ),
            })
            .with_version("0.0.0")
            .with_status(entry.status)
            .with_priority(entry.priority)
            .with_capabilities(Capabilities::default());
        out.push(meta);
    }
    for meta in registry.list() {
        if !out.iter().any(|m| m.id == meta.id) {
            out.push(meta);
        }
    }
    out.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// [`catalog`] as JSON: `{"connectors": [...]}`. A malformed catalog yields an
/// `error` field instead.
pub fn catalog_json(registry: &ConnectorRegistry) -> Value {
    match catalog(registry) {
        Ok(list) => serde_json::json!({ "connectors": list }),
        Err(e) => serde_json::json!({ "connectors": [], "error": e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 000's P0 list, seed 001's waves and seed 004's connectors.
    const SEED_IDS: &[&str] = &[
        "servicenow",
        "jira-service-mgmt",
        "azure-ad",
        "okta",
        "google-workspace",
        "aws",
        "azure",
        "gcp",
        "jira",
        "azure-devops",
        "github",
        "gitlab",
        "confluence",
        "sharepoint",
        "salesforce",
        "dynamics-365",
        "slack",
        "microsoft-teams",
        "kubernetes",
        "terraform",
        "quickbooks",
        "xero",
        "netsuite",
        "bamboohr",
        "workday",
        "adp-workforce-now",
        "sap-successfactors",
        "greenhouse",
        "lever",
        "docusign",
        "adobe-acrobat-sign",
        "hellosign",
        "pagerduty",
        "opsgenie",
        "databricks",
        "snowflake",
        "tableau",
        "power-bi",
        "s3",
        "gcs",
    ];

    #[test]
    fn the_catalog_lists_every_seed_connector_once_with_honest_status() {
        let registry = registry().expect("registry");
        let catalog = catalog(&registry).expect("catalog");
        let mut ids: Vec<&str> = catalog.iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        let mut expected = SEED_IDS.to_vec();
        expected.sort_unstable();
        assert_eq!(ids, expected);
        for meta in &catalog {
            let implemented = registry.contains(&meta.id);
            assert_eq!(
                meta.status != ReleaseStatus::Planned,
                implemented,
                "{}: only registered connectors may claim a status other than Planned",
                meta.id
            );
            if let Err(errors) = meta.validate() {
                panic!("{}: {errors:?}", meta.id);
            }
        }
    }

    #[test]
    fn every_feature_registers_its_connector() {
        let registry = registry().expect("registry");
        assert_eq!(
            registry.ids().collect::<Vec<_>>(),
            ["azure-ad", "github", "jira", "servicenow"]
        );
        assert_eq!(enabled().len(), 4);
        for id in enabled() {
            let meta = registry.get(id).expect("registered").metadata();
            assert_eq!(meta.id, id);
            assert_ne!(meta.status, ReleaseStatus::Planned);
        }
    }

    #[test]
    fn the_catalog_file_names_only_known_features() {
        for entry in entries().expect("catalog parses") {
            if let Some(feature) = entry.feature {
                assert_eq!(feature, entry.id, "feature names match connector ids");
                assert!(
                    enabled().contains(&feature.as_str()),
                    "{feature} is a real feature"
                );
            }
        }
    }
}
