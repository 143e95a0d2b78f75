//! # connector-core
//!
//! The foundation of the connector SDK: the [`UniversalConnector`] trait every
//! connector implements, the records it yields, the mapping engine that turns vendor
//! JSON into the caller's entities, pagination streams, the error taxonomy and sync
//! state. It has no HTTP client and no runtime-specific API; `connector-http` binds
//! pagination and errors to HTTP.
//!
//! See the crate README and `docs/architecture.md` for the data flow.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod mapping;
pub mod pagination;
pub mod record;
pub mod state;

pub use error::{ConnectorError, ErrorContext, ErrorKind, ErrorStatus, FieldError, Result};
pub use record::{Deletion, Record, Relationship, RelationshipKind, SyncItem};
pub use state::{Checkpoint, FileStateStore, MemoryStateStore, StateKey, StateStore};
