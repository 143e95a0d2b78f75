//! A registry of connector factories, by id.
//!
//! Vendor crates expose a `register(&mut ConnectorRegistry)` function; the
//! `connectors` umbrella crate calls each enabled vendor's. An application then
//! lists what is available (as a JSON catalog) and connects by id.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::ConnectorConfig;
use crate::connector::{ConnectorFactory, UniversalConnector};
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::metadata::ConnectorMetadata;

/// Connector factories by id.
///
/// ```
/// use connector_core::registry::ConnectorRegistry;
///
/// let registry = ConnectorRegistry::new();
/// assert!(registry.is_empty());
/// let err = registry.get("github").err().unwrap();
/// assert_eq!(err.kind(), connector_core::ErrorKind::NotFound);
/// ```
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    factories: BTreeMap<String, Arc<dyn ConnectorFactory>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorRegistry")
            .field("ids", &self.factories.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a factory under its metadata's id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Conflict`] when the id is taken; [`ErrorKind::Config`] when
    /// the metadata is malformed (see [`ConnectorMetadata::validate`]).
    pub fn register(&mut self, factory: impl ConnectorFactory + 'static) -> Result<()> {
        self.register_arc(Arc::new(factory))
    }

    /// Adds a shared factory under its metadata's id.
    ///
    /// # Errors
    ///
    /// As [`ConnectorRegistry::register`].
    pub fn register_arc(&mut self, factory: Arc<dyn ConnectorFactory>) -> Result<()> {
        let meta = factory.metadata();
        if let Err(errors) = meta.validate() {
            return Err(ConnectorError::invalid_config(
                format!("connector `{}` has malformed metadata", meta.id),
                errors,
            ));
        }
        if self.factories.contains_key(&meta.id) {
            return Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!("a connector with id `{}` is already registered", meta.id),
            )
            .with_operation("register"));
        }
        self.factories.insert(meta.id, factory);
        Ok(())
    }

    /// The factory registered as `id`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] listing the ids that exist.
    pub fn get(&self, id: &str) -> Result<&Arc<dyn ConnectorFactory>> {
        self.factories.get(id).ok_or_else(|| {
            let known = self.factories.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            let known = if known.is_empty() { "none".to_owned() } else { known };
            ConnectorError::new(
                ErrorKind::NotFound,
                format!("no connector `{id}` is registered (registered: {known}); enable its cargo feature"),
            )
        })
    }

    /// Whether `id` is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.factories.contains_key(id)
    }

    /// The registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// How many connectors are registered.
    pub fn len(&self) -> usize {
        self.factories.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.factories.is_empty()
    }

    /// The metadata of every registered connector, sorted by id.
    pub fn list(&self) -> Vec<ConnectorMetadata> {
        self.factories.values().map(|f| f.metadata()).collect()
    }

    /// A JSON catalog: `{"connectors":[metadata...]}`, sorted by id.
    pub fn catalog_json(&self) -> Value {
        serde_json::json!({ "connectors": self.list() })
    }

    /// Connects the connector `id` with `config`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown id; the factory's config errors.
    pub async fn connect(
        &self,
        id: &str,
        config: ConnectorConfig,
    ) -> Result<Box<dyn UniversalConnector>> {
        let factory = self.get(id)?;
        factory
            .connect(config)
            .await
            .map_err(|e| e.with_connector(id.to_owned()).with_operation("connect"))
    }
}
