//! Records, relationships and the items a fetch stream yields.
//!
//! A [`Record`] is one source object after mapping: the caller's entity type, the
//! vendor's external id and the mapped fields. A [`Relationship`] links two records
//! by entity type and external id. A fetch stream yields [`SyncItem`]s: records,
//! deletions, and [`Checkpoint`]s at page boundaries.
//!
//! Entity types, connector ids and field names are [`Name`]s: shared, so a
//! mapping that produces a million records allocates each of them once, not a
//! million times. A record's [`Fields`] are kept sorted by name and serialise as a
//! JSON object, key for key what a `serde_json::Map` of the same fields gives.
//!
//! Timestamps are [`chrono::DateTime<Utc>`](chrono::DateTime) throughout the workspace.

use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::name::Name;
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
    pub entity_type: Name,
    /// The vendor's stable identifier of the object (`sys_id`, GitHub `id`).
    pub external_id: String,
    /// The id of the connector that produced the record.
    pub source_connector: Name,
    /// The mapped fields, by target name.
    pub fields: Fields,
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
    ///
    /// Pass [`Name`]s (or `Name::from_static` literals) for the entity type and the
    /// connector when making many records: cloning a name does not allocate.
    pub fn new(
        entity_type: impl Into<Name>,
        external_id: impl Into<String>,
        source_connector: impl Into<Name>,
    ) -> Self {
        Self {
            entity_type: entity_type.into(),
            external_id: external_id.into(),
            source_connector: source_connector.into(),
            fields: Fields::new(),
            relationships: Vec::new(),
            raw: None,
            external_url: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// Sets a field, replacing any earlier value.
    pub fn with_field(mut self, name: impl Into<Name>, value: Value) -> Self {
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

/// The mapped fields of a [`Record`]: target names to JSON values, kept sorted by
/// name, each name once.
///
/// A small sorted vector rather than a tree: a record has a handful to a few dozen
/// fields, a mapping produces them in an order it sorts once, and the names are
/// shared [`Name`]s. It reads like a `serde_json::Map` (`get`, `insert`, `iter`,
/// `remove`, indexing), serialises to the same JSON object and converts to and
/// from one.
///
/// ```
/// use connector_core::record::Fields;
/// use serde_json::json;
///
/// let mut fields = Fields::new();
/// fields.insert("status", json!("OPEN"));
/// fields.insert("assignee", json!("ada"));
/// assert_eq!(fields.get("status"), Some(&json!("OPEN")));
/// assert_eq!(fields["missing"], json!(null));
/// assert_eq!(fields.keys().collect::<Vec<_>>(), ["assignee", "status"]);
/// assert_eq!(serde_json::to_string(&fields)?, r#"{"assignee":"ada","status":"OPEN"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Fields(Vec<(Name, Value)>);

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// No fields, with room for `capacity`.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// The value of field `name`, to change it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).ok().map(|i| &mut self.0[i].1)
    }

    /// Whether field `name` is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets field `name`, returning the value it replaces. Inserting names in
    /// sorted order appends.
    pub fn insert(&mut self, name: impl Into<Name>, value: Value) -> Option<Value> {
        let name = name.into();
        if self.0.last().is_none_or(|(last, _)| *last < name) {
            self.0.push((name, value));
            return None;
        }
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Appends a field whose name sorts after every name already here (a mapping
    /// that sorted its names once). Checked in debug builds only.
    pub(crate) fn push_sorted(&mut self, name: Name, value: Value) {
        debug_assert!(self.0.last().is_none_or(|(last, _)| *last < name));
        self.0.push((name, value));
    }

    /// The value at position `index` in name order, to change it.
    pub(crate) fn value_at_mut(&mut self, index: usize) -> Option<&mut Value> {
        self.0.get_mut(index).map(|(_, v)| v)
    }

    /// The value of field `name`, inserting `make()` first when it is not set.
    pub fn get_or_insert_with(
        &mut self,
        name: impl Into<Name>,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        let name = name.into();
        let i = match self.position(&name) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (name, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Removes field `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps the fields for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// The fields in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Name, &Value)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The fields in name order, values mutable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Name, &mut Value)> + ExactSizeIterator {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// The values in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// The fields as a `serde_json::Map`.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(k, v)| (String::from(k), v))
            .collect()
    }

    /// A copy of the fields as a JSON object.
    pub fn to_value(&self) -> Value {
        Value::Object(self.clone().into_map())
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Index<&str> for Fields {
    type Output = Value;

    /// The value of the field, or `null` when it is not set (like indexing a
    /// [`Value`]).
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl<K: Into<Name>> FromIterator<(K, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        fields.extend(iter);
        fields
    }
}

impl<K: Into<Name>> Extend<(K, Value)> for Fields {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.0.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Fields {
    type Item = (Name, Value);
    type IntoIter = std::vec::IntoIter<(Name, Value)>;

    /// The fields in name order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a Name, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Name, Value)>,
        fn(&'a (Name, Value)) -> (&'a Name, &'a Value),
    >;

    /// The fields in name order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        // A map iterates in key order, so every insert appends.
        map.into_iter().collect()
    }
}

impl From<Fields> for Map<String, Value> {
    fn from(fields: Fields) -> Self {
        fields.into_map()
    }
}

impl From<Fields> for Value {
    fn from(fields: Fields) -> Self {
        Value::Object(fields.into_map())
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::with_capacity(access.size_hint().unwrap_or(0));
                while let Some((k, v)) = access.next_entry::<Name, Value>()? {
                    fields.insert(k, v);
                }
                Ok(fields)
            }
        }

        deserializer.deserialize_map(FieldsVisitor)
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
    pub from_type: Name,
    /// The source entity's external id.
    ///
    /// Shared rather than owned: the relationships a mapping finds on one record
    /// all start at that record, and share one copy of its id (cloning an
    /// `Arc<str>` counts a reference; it does not copy the id). Compare it as a
    /// string with `&*rel.from_id == "a1"`.
    pub from_id: Arc<str>,
    /// The target entity's type.
    pub to_type: Name,
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
    ///
    /// The source id is anything that converts into an `Arc<str>` (`&str`,
    /// `String`, or an `Arc<str>` already shared with other relationships).
    ///
    /// ```
    /// use connector_core::{Relationship, RelationshipKind};
    ///
    /// let rel = Relationship::new(
    ///     ("APPLICATION_COMPONENT", "a1"),
    ///     RelationshipKind::DependsOn,
    ///     ("APPLICATION_COMPONENT", "a2"),
    /// )
    /// .with_strength(75);
    /// assert_eq!(&*rel.from_id, "a1");
    /// assert_eq!(rel.to_id, "a2");
    /// ```
    #[inline]
    pub fn new(
        from: (impl Into<Name>, impl Into<Arc<str>>),
        kind: RelationshipKind,
        to: (impl Into<Name>, impl Into<String>),
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
    #[inline]
    pub fn with_strength(mut self, strength: u8) -> Self {
        self.strength = strength.min(100);
        self
    }

    /// Marks the relationship as holding both ways.
    #[inline]
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
    pub entity_type: Name,
    /// The external id of the deleted object.
    pub external_id: String,
    /// When the deletion happened, when the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Deletion {
    /// Creates a deletion.
    pub fn new(entity_type: impl Into<Name>, external_id: impl Into<String>) -> Self {
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
    fn fields_stay_sorted_and_serialise_like_a_map() {
        let mut fields = Fields::new();
        for (k, v) in [("b", 2), ("d", 4), ("a", 1), ("c", 3), ("b", 20)] {
            fields.insert(k, json!(v));
        }
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(fields.get("b"), Some(&json!(20)));
        let map: Map<String, Value> = serde_json::from_value(json!({
            "d": 4, "c": 3, "b": 20, "a": 1
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(Fields::from(map.clone()), fields);
        assert_eq!(fields.clone().into_map(), map);
        let back: Fields = serde_json::from_value(Value::Object(map)).unwrap();
        assert_eq!(back, fields);
        assert_eq!(fields.remove("c"), Some(json!(3)));
        assert!(!fields.contains_key("c"));
        assert_eq!(fields["c"], Value::Null);
        *fields.get_or_insert_with("e", || json!([])) = json!(5);
        fields.retain(|k, _| k != "a");
        assert_eq!(
            format!("{fields:?}"),
            r#"{"b": Number(20), "d": Number(4), "e": Number(5)}"#
        );
        assert!(serde_json::from_value::<Fields>(json!([1])).is_err());
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
