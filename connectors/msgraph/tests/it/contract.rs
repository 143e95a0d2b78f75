//! The contract suite against the fake Graph tenant.

use std::sync::Arc;

use connector_core::serde_json::json;
use connector_core::{ConnectorConfig, ConnectorFactory, Credentials};
use connector_msgraph::AzureAdFactory;
use connector_msgraph::fake::{FakeData, FakeGraph, Scale};
use connector_testkit::fake::FakeApi;
use connector_testkit::suite::{BadConfig, ContractFixture};

/// The app the fixture signs in as; the suite supplies the secret.
pub(crate) const CLIENT_ID: &str = "3f0c9a51-app-registration";

pub(crate) struct EntraFixture;

pub(crate) fn config(base_url: &str, secret: &str) -> ConnectorConfig {
    let credentials: Credentials = connector_core::serde_json::from_value(json!({
        "type": "oauth2_client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": secret,
    }))
    .expect("credentials");
    ConnectorConfig::new("org-1", credentials).with_settings(json!({
        "tenant_id": FakeGraph::TENANT,
        "authority": base_url,
        "base_url": base_url,
    }))
}

pub(crate) async fn fake(secret: &str) -> FakeApi {
    FakeGraph::new(FakeData::generate(Scale::small(), 11))
        .client(CLIENT_ID, secret)
        .start()
        .await
}

#[connector_core::async_trait]
impl ContractFixture for EntraFixture {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(AzureAdFactory::new())
    }

    async fn start_fake(&self, secret: &str) -> FakeApi {
        fake(secret).await
    }

    fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
        config(base_url, secret)
    }

    fn bad_config(&self, base_url: &str) -> BadConfig {
        let mut config = config(base_url, "pw");
        config.settings["tenant_id"] = json!("evil.com/x");
        BadConfig::new(config, "settings.tenant_id")
    }
}

connector_testkit::contract_suite!(crate::contract::EntraFixture);
