#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod config;
pub mod connector;
#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;
pub mod mapping;

pub use config::GraphSettings;
pub use connector::{AzureAdConnector, AzureAdFactory, metadata};
pub use mapping::{AzureGroup, AzureUser};

use connector_core::{ConnectorRegistry, Result};

/// Registers the Microsoft Entra ID connector (id `azure-ad`) in `registry`.
///
/// # Errors
///
/// When a connector with the same id is already registered.
pub fn register(registry: &mut ConnectorRegistry) -> Result<()> {
    registry.register(AzureAdFactory::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::{ConnectorFactory, FetchOptions, UniversalConnector};

    /// Object safety and `Send` futures and streams (STYLE 14).
    #[allow(dead_code)]
    fn assert_send(c: Box<dyn UniversalConnector>, f: AzureAdFactory) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&c.test_connection());
        is_send(&c.discover());
        is_send(&c.fetch("user", FetchOptions::new()));
        is_send(&c.fetch_relationships("user", FetchOptions::new()));
        is_send(&f.connect(connector_core::ConnectorConfig::new(
            "o",
            connector_core::Credentials::None,
        )));
    }

    #[test]
    fn registers_once() {
        let mut registry = ConnectorRegistry::new();
        register(&mut registry).expect("first");
        assert!(registry.contains("azure-ad"));
        assert!(register(&mut registry).is_err());
    }
}
