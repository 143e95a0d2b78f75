//! The mapping engine: vendor JSON in, the caller's [`Record`](crate::Record)s out.
//!
//! An [`EntityMapping`] is data — serde serialisable, loadable from JSON (and YAML with
//! the `yaml` feature), adjustable per configuration with [`MappingOverride`]s. It
//! says where the external id and timestamps are, how each source value becomes a
//! target field ([`FieldMapping`], with [`Transform`]s), which fields hold links to
//! other entities ([`RelationshipMapping`]), which records to skip ([`FilterRule`])
//! and which rules the mapped fields must satisfy ([`ValidationRule`]).
//!
//! A [`Mapper`] is a mapping compiled once — paths parsed into [`FieldPath`]s,
//! patterns compiled, user transforms resolved from a [`TransformRegistry`] — that
//! maps records quickly and reports every problem of a record in one
//! [`ErrorKind::Validation`](crate::ErrorKind::Validation) error.
//!
//! [`coerce`] holds the typed conversions (numeric strings, booleans, ServiceNow and
//! RFC 3339 timestamps) shared by the transforms and by `#[derive(EntityMapping)]`,
//! and [`grammar`] the dependency-free path grammar.
//!
//! ```
//! use connector_core::mapping::{EntityMapping, Mapper};
//! use serde_json::json;
//!
//! let mapping = EntityMapping::from_json(r#"{
//!     "source_type": "cmdb_ci_server", "target_type": "NODE", "display_name": "Servers",
//!     "external_id": "sys_id",
//!     "fields": [
//!         {"source": "name", "target": "name", "required": true},
//!         {"source": "ram", "target": "memoryGb",
//!          "transform": {"type": "convert_unit", "from": "mb", "to": "gb"}}
//!     ]
//! }"#)?;
//! let record = Mapper::new(&mapping)?
//!     .map(&json!({"sys_id": "s1", "name": "db01", "ram": "16384"}), "servicenow")?
//!     .expect("no filters");
//! assert_eq!(record.field("memoryGb"), Some(&json!(16)));
//! # Ok::<(), connector_core::ConnectorError>(())
//! ```

pub mod coerce;
pub mod grammar;
mod mapper;
mod model;
mod overrides;
mod path;
mod schema;
mod seed;
mod transform;
pub mod typed;
mod validate;

pub use grammar::{PathError, Segment};
pub use mapper::Mapper;
pub use model::{
    EntityMapping, FieldMapping, FilterOp, FilterRule, Lookup, RelationshipMapping, Rounding, Rule,
    Transform, Unit, ValidationRule,
};
pub use overrides::MappingOverride;
pub use path::FieldPath;
pub use schema::{EntitySchema, SchemaField, SchemaRelationship};
pub use seed::RecordSeed;
pub use transform::{RuleFn, TransformFn, TransformRegistry};
pub use typed::TypedMapping;
