#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
pub mod mapping;
pub mod webhook;

pub use config::GithubSettings;
pub use connector::GithubConnector;
pub use mapping::{Issue, Member, Repository};
pub use webhook::GithubWebhookHandler;

use async_trait::async_trait;
use connector_core::mapping::TypedMapping;
use connector_core::metadata::RateLimitHint;
use connector_core::{
    AuthMethod, Capabilities, Category, ConnectorConfig, ConnectorFactory, ConnectorMetadata,
    ConnectorRegistry, EntityMapping, Mapper, Priority, ReleaseStatus, Result, UniversalConnector,
};

/// The connector id: `github`.
pub const ID: &str = "github";

/// The connector's metadata.
pub fn metadata() -> ConnectorMetadata {
    ConnectorMetadata::new(ID, "GitHub", "GitHub", Category::DevelopmentDevops)
        .with_description(
            "Repositories and members of an organization, and issues and pull requests of chosen repositories, from GitHub.com or GitHub Enterprise Server.",
        )
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_status(ReleaseStatus::Beta)
        .with_priority(Priority::P0)
        .with_documentation_url(
            "https://github.com/connector-sdk/connector-sdk/tree/main/connectors/github",
        )
        .with_auth_methods([AuthMethod::Bearer])
        .with_rate_limit(
            RateLimitHint::per_minute(5000 / 60)
                .with_notes("5,000 requests per hour per user token; secondary limits on bursts"),
        )
        .with_allowed_hosts(["api.github.com"])
        .with_capabilities(
            Capabilities::import()
                .with_incremental()
                .with_relationships()
                .with_discovery_counts()
                .with_realtime(),
        )
}

/// The default mappings, from the derived structs: repositories, members, issues.
pub fn default_mappings() -> Vec<EntityMapping> {
    vec![
        Repository::entity_mapping().clone(),
        Member::entity_mapping().clone(),
        Issue::entity_mapping().clone(),
    ]
}

/// Creates GitHub connectors from configs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubConnectorFactory;

#[async_trait]
impl ConnectorFactory for GithubConnectorFactory {
    fn metadata(&self) -> ConnectorMetadata {
        metadata()
    }

    fn settings_schema(&self) -> schemars::Schema {
        schemars::schema_for!(GithubSettings)
    }

    async fn connect(&self, config: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
        let settings: GithubSettings = config.settings()?;
        settings.validate()?;
        let client = client::build(&settings, &config.credentials)?;
        let mut mappings = Vec::new();
        let mut mappers = Vec::new();
        for (mapping, registry) in [
            (
                Repository::entity_mapping(),
                Repository::transform_registry(),
            ),
            (Member::entity_mapping(), Member::transform_registry()),
            (Issue::entity_mapping(), Issue::transform_registry()),
        ] {
            let mapping = mapping.apply_overrides(&config.mapping_overrides)?;
            mappers.push(Mapper::with_registry(&mapping, &registry)?);
            mappings.push(mapping);
        }
        let webhook = match &settings.webhook_secret {
            Some(secret) => {
                use connector_core::secrecy::ExposeSecret as _;
                use connector_core::webhook::{WebhookScheme, WebhookVerifier};
                let verifier = WebhookVerifier::new(WebhookScheme::GitHub, secret.expose_secret())
                    .map_err(|e| e.with_context("field", "settings.webhook_secret"))?;
                Some(GithubWebhookHandler::from_config(&config, verifier)?)
            }
            None => None,
        };
        Ok(Box::new(GithubConnector::new(
            metadata(),
            settings,
            client,
            mappings,
            mappers,
            webhook,
        )))
    }
}

/// Registers the GitHub connector in `registry`.
///
/// # Errors
///
/// When a connector with the id `github` is already registered.
pub fn register(registry: &mut ConnectorRegistry) -> Result<()> {
    registry.register(GithubConnectorFactory)
}
