//! The contract suite against the fake ServiceNow instance.

use std::sync::Arc;

use connector_core::serde_json::json;
use connector_core::{ConnectorConfig, ConnectorFactory, Credentials};
use connector_servicenow::ServiceNowFactory;
use connector_servicenow::fake::{FakeData, FakeServiceNow, Scale};
use connector_testkit::fake::FakeApi;
use connector_testkit::suite::{BadConfig, ContractFixture};

/// The user the fixture logs in as; the suite supplies the password.
pub(crate) const USER: &str = "integration.user";

pub(crate) struct ServiceNowFixture;

pub(crate) fn config(instance: &str, password: &str) -> ConnectorConfig {
    let credentials: Credentials = connector_core::serde_json::from_value(
        json!({"type": "basic", "username": USER, "password": password}),
    )
    .expect("credentials");
    ConnectorConfig::new("org-1", credentials).with_settings(json!({ "instance": instance }))
}

pub(crate) async fn fake(password: &str) -> FakeApi {
    FakeServiceNow::new(FakeData::generate(Scale::small(), 42))
        .basic_auth(USER, password)
        .start()
        .await
}

#[connector_core::async_trait]
impl ContractFixture for ServiceNowFixture {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(ServiceNowFactory::new())
    }

    async fn start_fake(&self, secret: &str) -> FakeApi {
        fake(secret).await
    }

    fn config(&self, base_url: &str, secret: &str) -> ConnectorConfig {
        config(base_url, secret)
    }

    fn bad_config(&self, _base_url: &str) -> BadConfig {
        // A name that would send the credentials to another host.
        BadConfig::new(config("evil.com/x", "pw"), "settings.instance")
    }
}

connector_testkit::contract_suite!(crate::contract::ServiceNowFixture);
