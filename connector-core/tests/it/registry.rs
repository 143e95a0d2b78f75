//! The registry: register, refuse duplicates, list a catalog, connect by id.

use connector_core::futures::TryStreamExt;
use connector_core::{ConnectorRegistry, ErrorKind, SyncItem};

use crate::connector::{MemoryCrmFactory, config};

#[tokio::test]
async fn register_list_and_connect_by_id() {
    let mut registry = ConnectorRegistry::new();
    registry.register(MemoryCrmFactory).expect("register");
    let dup = registry.register(MemoryCrmFactory).expect_err("duplicate");
    assert_eq!(dup.kind(), ErrorKind::Conflict);
    assert!(
        dup.to_string()
            .contains("`memory-crm` is already registered"),
        "{dup}"
    );

    let catalog = registry.catalog_json();
    assert_eq!(catalog["connectors"][0]["id"], "memory-crm");
    assert_eq!(catalog["connectors"][0]["category"], "crm_sales");

    let connector = registry
        .connect("memory-crm", config())
        .await
        .expect("connect");
    let items: Vec<SyncItem> = connector
        .fetch("accounts", Default::default())
        .try_collect()
        .await
        .expect("fetch");
    assert_eq!(items.iter().filter(|i| i.as_record().is_some()).count(), 10);

    let missing = registry
        .connect("github", config())
        .await
        .err()
        .expect("unknown id");
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(
        missing.to_string().contains("registered: memory-crm"),
        "{missing}"
    );
}

#[test]
fn config_schema_embeds_settings_and_marks_secrets() {
    use connector_core::ConnectorFactory;
    let schema = MemoryCrmFactory.config_schema();
    assert_eq!(
        schema["properties"]["settings"]["properties"]["entities"]["type"],
        "array"
    );
    let text = schema.to_string();
    assert!(
        text.contains("\"writeOnly\":true"),
        "credential secrets are marked"
    );
    // The whole config validates against its own schema.
    let config = connector_core::serde_json::json!({
        "organization_id": "o", "credentials": { "type": "bearer", "token": "t" },
        "settings": { "entities": ["accounts"] }
    });
    assert!(connector_core::schema::validate(&schema, &config, "config").is_empty());
    let bad = connector_core::serde_json::json!({ "organization_id": "o", "settings": {} });
    let errors = connector_core::schema::validate(&schema, &bad, "config");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "config.settings.entities: required");
}

#[test]
fn malformed_metadata_is_refused() {
    use connector_core::{
        Category, ConnectorConfig, ConnectorFactory, ConnectorMetadata, Result, UniversalConnector,
        async_trait,
    };
    struct Bad;
    #[async_trait]
    impl ConnectorFactory for Bad {
        fn metadata(&self) -> ConnectorMetadata {
            ConnectorMetadata::new("Bad Id", "Bad", "V", Category::Other)
        }
        fn settings_schema(&self) -> connector_core::schemars::Schema {
            connector_core::schemars::json_schema!({ "type": "object" })
        }
        async fn connect(&self, _: ConnectorConfig) -> Result<Box<dyn UniversalConnector>> {
            Err(connector_core::ConnectorError::unsupported(
                "never connects",
            ))
        }
    }
    let err = ConnectorRegistry::new()
        .register(Bad)
        .expect_err("malformed");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("id: `Bad Id` is not kebab-case"),
        "{err}"
    );
}
