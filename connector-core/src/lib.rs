//! # connector-core
//!
//! The foundation of the connector SDK: the [`UniversalConnector`] trait every
//! connector implements, the records it yields, the mapping engine that turns vendor
//! JSON into the caller's entities, pagination streams, the error taxonomy and sync
//! state. It has no HTTP client and no runtime-specific API; `connector-http` binds
//! pagination and errors to HTTP.
//!
//! See the crate README and `docs/architecture.md` for the data flow; the
//! integration test `tests/it/connector.rs` is a complete connector written against
//! the public API.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod connector;
pub mod credentials;
pub mod error;
#[cfg(feature = "sqlite")]
mod json;
pub mod mapping;
pub mod metadata;
mod name;
pub mod pagination;
pub mod pipeline;
pub mod record;
pub mod registry;
pub mod schedule;
pub mod schema;
pub mod sink;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod state;
pub mod sync;
#[cfg(feature = "vault")]
pub mod vault;
#[cfg(feature = "webhooks")]
pub mod webhook;

pub use config::{ConnectorConfig, Frequency, SyncSchedule};
pub use connector::{
    ConnectorFactory, DiscoveredEntity, Discovery, FetchOptions, HealthCheck, HealthReport,
    HealthStatus, RelationshipStream, SyncStream, TestResult, UniversalConnector,
};
pub use credentials::Credentials;
pub use error::{ConnectorError, ErrorContext, ErrorKind, ErrorStatus, FieldError, Result};
pub use mapping::{
    EntityMapping, EntitySchema, FieldMapping, FieldPath, Mapper, MappingOverride,
    RelationshipMapping, Rule, Transform, TransformRegistry, TypedMapping, ValidationRule,
};
pub use metadata::{
    AuthMethod, Capabilities, Category, ConnectorMetadata, Priority, ReleaseStatus,
};
pub use name::Name;
pub use pagination::{
    FetchedPage, Page, PageRequest, PageSignals, PaginateOptions, Pagination, paginate,
};
pub use pipeline::{
    CancelToken, CommitMode, DedupeStrategy, ImportError, ImportOptions, ImportPipeline,
    ImportReport, ProgressEvent,
};
pub use record::{Deletion, Fields, Record, Relationship, RelationshipKind, SyncItem};
pub use registry::ConnectorRegistry;
pub use sink::{JsonLinesSink, MemorySink, RecordKey, Sink};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use state::{Checkpoint, FileStateStore, MemoryStateStore, StateKey, StateStore};
#[cfg(feature = "vault")]
pub use vault::{CredentialVault, VaultKey};

/// Re-exported so connector authors and generated code name one version.
pub use async_trait::async_trait;
/// Re-exported datetime types.
pub use chrono;
/// `#[derive(EntityMapping)]`: a typed mapping checked at compile time (feature
/// `derive`). The derive and the [`EntityMapping`](struct@mapping::EntityMapping) data type
/// share a name, as serde's derives share their traits' names.
#[cfg(feature = "derive")]
pub use connector_derive::EntityMapping;
/// Re-exported so connector authors name the same stream types.
pub use futures;
/// Re-exported for typed settings schemas.
pub use schemars;
/// Re-exported for secrets in connector settings.
pub use secrecy;
/// Re-exported for JSON values.
pub use serde_json;
