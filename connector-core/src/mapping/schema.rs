//! The shape of an entity as a mapping produces it, for discovery and documentation.
//!
//! [`EntityMapping::schema`] derives an [`EntitySchema`]; the connector trait's
//! default `schema(entity)` returns it.

use serde::{Deserialize, Serialize};

use super::model::{EntityMapping, Rule};
use crate::record::RelationshipKind;

/// The fields and relationships a mapping gives an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySchema {
    /// The vendor's object type.
    pub source_type: String,
    /// The caller's entity type.
    pub target_type: String,
    /// A human name for the entity.
    pub display_name: String,
    /// What the entity is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The mapped fields, in mapping order.
    pub fields: Vec<SchemaField>,
    /// The relationships records of this entity can carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<SchemaRelationship>,
}

/// One field of an [`EntitySchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaField {
    /// The target field name.
    pub name: String,
    /// The source path it is read from.
    pub source: String,
    /// True when the mapping requires it (a required field mapping or a `required`
    /// validation rule).
    pub required: bool,
    /// What the field means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One relationship of an [`EntitySchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaRelationship {
    /// The related entity's type.
    pub target_type: String,
    /// How the entity relates to it.
    pub kind: RelationshipKind,
}

impl EntityMapping {
    /// The schema of the entity this mapping produces.
    ///
    /// ```
    /// use connector_core::mapping::{EntityMapping, FieldMapping, FieldPath};
    ///
    /// let mapping = EntityMapping::new("group", "TEAM", "Groups", FieldPath::parse("id")?)
    ///     .with_field(FieldMapping::new(FieldPath::parse("displayName")?, "name").with_required(true));
    /// let schema = mapping.schema();
    /// assert_eq!(schema.fields[0].name, "name");
    /// assert_eq!(schema.fields[0].source, "displayName");
    /// assert!(schema.fields[0].required);
    /// # Ok::<(), connector_core::mapping::PathError>(())
    /// ```
    pub fn schema(&self) -> EntitySchema {
        let fields = self
            .fields
            .iter()
            .map(|f| SchemaField {
                name: f.target.clone(),
                source: f.source.to_string(),
                required: f.required
                    || self
                        .validation
                        .iter()
                        .any(|v| v.field == f.target && matches!(v.rule, Rule::Required)),
                description: f.description.clone(),
            })
            .collect();
        let mut relationships: Vec<SchemaRelationship> = Vec::new();
        for r in &self.relationships {
            let rel = SchemaRelationship {
                target_type: r.target_type.clone(),
                kind: r.kind.clone(),
            };
            if !relationships.contains(&rel) {
                relationships.push(rel);
            }
        }
        EntitySchema {
            source_type: self.source_type.clone(),
            target_type: self.target_type.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            fields,
            relationships,
        }
    }
}
