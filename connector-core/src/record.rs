//! Records, relationships and the items a fetch stream yields.
//!
//! A [`Record`] is one source object after mapping: the caller's entity type, the
//! vendor's external id and the mapped fields. A [`Relationship`] links two records
//! by entity type and external id. A fetch stream yields [`SyncItem`]s: records,
//! deletions, and [`Checkpoint`]s at page boundaries.
//!
//! Timestamps are [`chrono::DateTime<Utc>`](chrono::DateTime) throughout the workspace.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::Checkpoint;

/// One mapped source object.
///
/// ```
/// use connector_core::Record;
/// use serde_json::json;
///
/// let record = Record::new("APPLICATION_COMPONENT", "a1b2", "servicenow")
///     .with_field("name", json!("Payroll"))
///     .with_field("status", json!("PRODUCTION"));
/// assert_eq!(record.field("name"), Some(&json!("Payroll")));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The caller's entity type (`APPLICATION_COMPONENT`, `USER`).
    pub entity_type: String,
    /// The vendor's stable identifier of the object (`sys_id`, GitHub `id`).
    pub external_id: String,
    /// The id of the connector that produced the record.
    pub source_connector: String,
    /// The mapped fields, by target name.
    pub fields: Map<String, Value>,
    /// The relationships the mapping found on this record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Relationship>,
    /// The unmapped source object, when the caller asked to keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
    /// A link to the object in the vendor's UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// When the vendor created the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the vendor last changed the object; drives incremental watermarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Record {
    /// Creates a record with no fields.
    pub fn new(
        entity_type: impl Into<String>,
        external_id: impl Into<String>,
        source_connector: impl Into<String>,
    ) -> Self {
        Self {
            entity_type: entity_type.into(),
            external_id: external_id.into(),
            source_connector: source_connector.into(),
            fields: Map::new(),
            relationships: Vec::new(),
            raw: None,
            external_url: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// Sets a field, replacing any earlier value.
    pub fn with_field(mut self, name: impl Into<String>, value: Value) -> Self {
        self.fields.insert(name.into(), value);
        self
    }

    /// Adds a relationship.
    pub fn with_relationship(mut self, relationship: Relationship) -> Self {
        self.relationships.push(relationship);
        self
    }

    /// Sets the last-modified time.
    pub fn with_updated_at(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at = Some(at);
        self
    }

    /// Sets the creation time.
    pub fn with_created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }

    /// Sets the link to the object in the vendor's UI.
    pub fn with_external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = Some(url.into());
        self
    }

    /// Keeps the unmapped source object.
    pub fn with_raw(mut self, raw: Value) -> Self {
        self.raw = Some(raw);
        self
    }

    /// The value of a mapped field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
}

/// How two entities relate. The common kinds have variants; anything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RelationshipKind {
    /// The source depends on the target.
    DependsOn,
    /// The source uses the target.
    Uses,
    /// The source runs on the target (an application on a server).
    RunsOn,
    /// The source serves the target (an application serves a business service).
    Serves,
    /// The source manages the target (a manager manages a report).
    Manages,
    /// The source is a member of the target (a user in a group).
    MemberOf,
    /// The source is the parent of the target (an epic of a story).
    ParentOf,
    /// The source owns the target.
    Owns,
    /// The source contains the target.
    Contains,
    /// A kind with no variant of its own.
    #[serde(untagged)]
    Other(String),
}

impl RelationshipKind {
    /// The kind's name as it is serialised (`DEPENDS_ON`).
    pub fn as_str(&self) -> &str {
        match self {
            RelationshipKind::DependsOn => "DEPENDS_ON",
            RelationshipKind::Uses => "USES",
            RelationshipKind::RunsOn => "RUNS_ON",
            RelationshipKind::Serves => "SERVES",
            RelationshipKind::Manages => "MANAGES",
            RelationshipKind::MemberOf => "MEMBER_OF",
            RelationshipKind::ParentOf => "PARENT_OF",
            RelationshipKind::Owns => "OWNS",
            RelationshipKind::Contains => "CONTAINS",
            RelationshipKind::Other(s) => s,
        }
    }
}

/// A directed link between two entities, each named by entity type and external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Relationship {
    /// The source entity's type.
    pub from_type: String,
    /// The source entity's external id.
    pub from_id: String,
    /// The target entity's type.
    pub to_type: String,
    /// The target entity's external id.
    pub to_id: String,
    /// How the two relate.
    pub kind: RelationshipKind,
    /// How strong the link is, 0 to 100.
    pub strength: u8,
    /// Whether the reverse link holds too.
    #[serde(default)]
    pub bidirectional: bool,
}

impl Relationship {
    /// The strength used when a mapping gives none.
    pub const DEFAULT_STRENGTH: u8 = 50;

    /// Creates a relationship of default strength, one way.
    pub fn new(
        from: (impl Into<String>, impl Into<String>),
        kind: RelationshipKind,
        to: (impl Into<String>, impl Into<String>),
    ) -> Self {
        Self {
            from_type: from.0.into(),
            from_id: from.1.into(),
            to_type: to.0.into(),
            to_id: to.1.into(),
            kind,
            strength: Self::DEFAULT_STRENGTH,
            bidirectional: false,
        }
    }

    /// Sets the strength, clamped to 0–100.
    pub fn with_strength(mut self, strength: u8) -> Self {
        self.strength = strength.min(100);
        self
    }

    /// Marks the relationship as holding both ways.
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }
}

/// A source object that was deleted upstream (a Graph `@removed` entry, a webhook
/// `deleted` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deletion {
    /// The caller's entity type.
    pub entity_type: String,
    /// The external id of the deleted object.
    pub external_id: String,
    /// When the deletion happened, when the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Deletion {
    /// Creates a deletion.
    pub fn new(entity_type: impl Into<String>, external_id: impl Into<String>) -> Self {
        Self {
            entity_type: entity_type.into(),
            external_id: external_id.into(),
            deleted_at: None,
        }
    }
}

/// One item of a fetch stream.
///
/// Checkpoints arrive at page boundaries, after every record they cover. A consumer
/// saves a checkpoint only after it has durably stored every record before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncItem {
    /// A created or updated object.
    Record(Record),
    /// An object deleted upstream.
    Deletion(Deletion),
    /// A resume point covering every item before it.
    Checkpoint(Checkpoint),
}

impl SyncItem {
    /// The record, if this item is one.
    pub fn as_record(&self) -> Option<&Record> {
        match self {
            SyncItem::Record(r) => Some(r),
            _ => None,
        }
    }

    /// The checkpoint, if this item is one.
    pub fn as_checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            SyncItem::Checkpoint(c) => Some(c),
            _ => None,
        }
    }
}

impl From<Record> for SyncItem {
    fn from(record: Record) -> Self {
        SyncItem::Record(record)
    }
}

impl From<Checkpoint> for SyncItem {
    fn from(checkpoint: Checkpoint) -> Self {
        SyncItem::Checkpoint(checkpoint)
    }
}

impl From<Deletion> for SyncItem {
    fn from(deletion: Deletion) -> Self {
        SyncItem::Deletion(deletion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relationship_kind_round_trips_known_and_other() {
        let kinds = vec![
            RelationshipKind::DependsOn,
            RelationshipKind::Other("BLOCKS".into()),
        ];
        let json = serde_json::to_value(&kinds).unwrap();
        assert_eq!(json, json!(["DEPENDS_ON", "BLOCKS"]));
        let back: Vec<RelationshipKind> = serde_json::from_value(json).unwrap();
        assert_eq!(back, kinds);
        assert_eq!(RelationshipKind::RunsOn.as_str(), "RUNS_ON");
    }

    #[test]
    fn strength_is_clamped() {
        let r =
            Relationship::new(("A", "1"), RelationshipKind::Uses, ("B", "2")).with_strength(250);
        assert_eq!(r.strength, 100);
    }

    #[test]
    fn sync_item_serialises_with_a_type_tag() {
        let item = SyncItem::from(Record::new("USER", "u1", "azure-ad"));
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["type"], "record");
        assert_eq!(json["external_id"], "u1");
        let back: SyncItem = serde_json::from_value(json).unwrap();
        assert_eq!(back, item);
    }
}
