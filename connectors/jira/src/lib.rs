#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
pub mod mapping;

pub use config::JiraSettings;
pub use connector::JiraConnector;
pub use mapping::{Epic, Project, Story};

use async_trait::async_trait;
use connector_core::mapping::TypedMapping;
use connector_core::metadata::RateLimitHint;
use connector_core::{
    AuthMethod, Capabilities, Category, ConnectorConfig, ConnectorFactory, ConnectorMetadata,
    ConnectorRegistry, EntityMapping, Mapper, Priority, ReleaseStatus, Result, UniversalConnector,
};

/// The connector id: `jira`.
pub const ID: &str = "jira";

/// The connector's metadata.
pub fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new(ID, "Jira Cloud", "Atlassian", Category::ProjectPortfolio)
        .with_description(
            "Projects, epics (as initiatives) and stories (as requirements) from Jira Cloud, read with the nextPageToken JQL search.",
        )
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_status(ReleaseStatus::Beta)
        .with_priority(Priority::P0)
        .with_documentation_url(
            "https://github.com/connector-sdk/connector-sdk/tree/main/connectors/jira",
        )
        .with_auth_methods([
            AuthMethod::Basic,
            AuthMethod::Bearer,
            AuthMethod::OAuth2RefreshToken,
        ])
        .with_rate_limit(
            RateLimitHint::per_minute(600)
                .with_notes("burst limits per endpoint (429 with Retry-After); hourly points quotas for OAuth apps"),
        )
        .with_allowed_hosts(["*.atlassian.net", "api.atlassian.com"])
        .with_capabilities(
            Capabilities::import()
                .with_incremental()
                .with_relationships(),
        )
}

/// The default mappings, from the derived structs, with the default issue types.
pub fn default_mappings() -> Vec<EntityMapping> {
    mappings_for(&JiraSettings::for_site("example"))
}

fn mappings_for(settings: &JiraSettings) -> Vec<EntityMapping> {
    vec![
        Project::entity_mapping().clone(),
        mapping::only_issue_types(Epic::entity_mapping().clone(), &settings.epic_issue_types),
        mapping::only_issue_types(Story::entity_mapping().clone(), &settings.story_issue_types),
    ]
}

/// Creates Jira Cloud connectors from configs.
#[derive(Debug, Clone, Copy, Default)]
pub struct JiraConnectorFactory;

#[async_trait]
impl ConnectorFactory for JiraConnectorFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(JiraSettings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        let settings: JiraSettings = config.settings()?;
        settings.validate()?;
        let client = client::build(&settings, &config.credentials)?;
        let registries = [
            Project::transform_registry(),
            Epic::transform_registry(),
            Story::transform_registry(),
        ];
        let mut mappings = Vec::new();
        let mut mappers = Vec::new();
        for (mapping, registry) in mappings_for(&settings).into_iter().zip(registries) {
            let mapping = mapping.apply_overrides(&config.mapping_overrides)?;
            mappers.push(Mapper::with_registry(&mapping, &registry)?);
            mappings.push(mapping);
        }
        Ok(Box::new(JiraConnector::new(
            metadata(),
            settings,
            client,
            mappings,
            mappers,
        )))
    }
}

/// Registers the Jira Cloud connector in `registry`.
///
/// # Errors
///
/// When a connector with the id `jira` is already registered.
pub fn register(registry: &mut ConnectorRegistry) -> Result<()> {
    registry.register(JiraConnectorFactory)
}
