//! The data model of a mapping: what an [`EntityMapping`] file holds.
//!
//! Everything here is plain serde data. Paths are validated when the data is
//! deserialised; the rest is checked by [`EntityMapping::validate`], which the load
//! helpers and [`Mapper`](super::Mapper) run.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::path::FieldPath;
use crate::error::{ConnectorError, Result};
use crate::record::RelationshipKind;

/// How one source object type becomes one of the caller's entity types.
///
/// It is data: build it in code, load it with [`EntityMapping::from_json`] (or
/// `from_yaml` with the `yaml` feature), adjust it with
/// [`apply_overrides`](EntityMapping::apply_overrides), and compile it into a
/// [`Mapper`](super::Mapper) to map records.
///
/// ```
/// use connector_core::mapping::{EntityMapping, Mapper};
/// use serde_json::json;
///
/// let mapping = EntityMapping::from_json(r#"{
///     "source_type": "cmdb_ci_appl",
///     "target_type": "APPLICATION_COMPONENT",
///     "display_name": "Applications",
///     "external_id": "sys_id",
///     "updated_at": "sys_updated_on",
///     "fields": [
///         {"source": "name", "target": "name", "required": true},
///         {"source": "operational_status", "target": "status", "required": true,
///          "transform": {"type": "lookup", "table": {"1": "PRODUCTION", "2": "RETIRED"},
///                        "default": "UNKNOWN"}}
///     ],
///     "relationships": [
///         {"source_field": "depends_on", "target_type": "APPLICATION_COMPONENT",
///          "kind": "DEPENDS_ON", "strength": 75}
///     ],
///     "validation": [{"field": "name", "rule": {"min_length": 2}}]
/// }"#)?;
///
/// let mapper = Mapper::new(&mapping)?;
/// let source = json!({
///     "sys_id": "a1b2",
///     "name": "Payroll",
///     "operational_status": "1",
///     "sys_updated_on": "2024-01-15 10:30:00",
///     "depends_on": {"link": "https://acme.service-now.com/api/now/table/cmdb_ci/c3d4",
///                    "value": "c3d4"}
/// });
/// let record = mapper.map(&source, "servicenow")?.expect("no filter excludes it");
/// assert_eq!(record.external_id, "a1b2");
/// assert_eq!(record.field("status"), Some(&json!("PRODUCTION")));
/// assert_eq!(record.relationships[0].to_id, "c3d4");
/// assert_eq!(record.updated_at.map(|t| t.to_rfc3339()).as_deref(),
///            Some("2024-01-15T10:30:00+00:00"));
///
/// let err = mapper.map(&json!({"sys_id": "x9", "name": "P"}), "servicenow").unwrap_err();
/// assert_eq!(err.field_errors().len(), 2); // status missing, name too short
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityMapping {
    /// The vendor's object type (`cmdb_ci_appl`, `user`).
    pub source_type: String,
    /// The caller's entity type the records get (`APPLICATION_COMPONENT`).
    pub target_type: String,
    /// A human name for the entity (`Applications`).
    pub display_name: String,
    /// What the mapping imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the vendor's stable id is (`sys_id`, `id`). A record without one is
    /// invalid.
    pub external_id: FieldPath,
    /// Where the creation time is, if the vendor has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<FieldPath>,
    /// Where the last-modified time is, if the vendor has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<FieldPath>,
    /// The mapped fields, in order.
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    /// Relationships read from fields of the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<RelationshipMapping>,
    /// Records that fail any filter are skipped (not an error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterRule>,
    /// Rules the mapped fields must satisfy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<ValidationRule>,
}

/// How one source value becomes one target field.
///
/// The source value is looked up, passed through the transforms in order, and
/// replaced by `default` when it is still absent. `null` counts as absent, and an
/// absent value is omitted from the record (or reported when `required`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// Where the value is in the source record.
    pub source: FieldPath,
    /// The target field name; dots make nested objects (`owner.email`).
    pub target: String,
    /// When true, a record whose value is absent or an empty string after transforms
    /// and default is invalid.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Transforms applied in order. In a file, `transform` (one transform, or the name
    /// of one without arguments such as `"lower"`) and `transforms` (a list) are both
    /// accepted.
    #[serde(
        default,
        alias = "transform",
        deserialize_with = "one_or_many_transforms",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub transforms: Vec<Transform>,
    /// The value used when the source value is absent after transforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What the field means, for schemas and documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldMapping {
    /// Maps `source` to `target`, optional, with no transforms.
    pub fn new(source: FieldPath, target: impl Into<String>) -> Self {
        Self {
            source,
            target: target.into(),
            required: false,
            transforms: Vec::new(),
            default: None,
            description: None,
        }
    }

    /// Sets whether the field is required.
    pub fn with_required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Appends a transform.
    pub fn with_transform(mut self, transform: Transform) -> Self {
        self.transforms.push(transform);
        self
    }

    /// Sets the default value.
    pub fn with_default(mut self, default: Value) -> Self {
        self.default = Some(default);
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// A built-in value transform, with its arguments.
///
/// Serialised with a `type` tag: `{"type": "lookup", "table": {"1": "PRODUCTION"},
/// "default": "UNKNOWN"}`, `{"type": "lower"}`.
///
/// Transforms other than `coalesce` and `constant` leave an absent value absent.
/// The per-value transforms (`lookup`, `lower`, `upper`, `trim`, `parse_datetime`,
/// `format_datetime`, `convert_unit`, `extract_reference`, `to_number`, `to_bool`,
/// `to_string`) apply to each element when the value is an array, so they compose
/// with `[]` projections; `split`, `join`, `coalesce`, `constant` and `custom` see the
/// whole value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Transform {
    /// Replaces the value by its entry in `table` (keyed by the value's text: `"1"`
    /// and `1` both find key `"1"`), or by `default` when it has none. Without a
    /// default, a value missing from the table is an error.
    Lookup {
        /// The table, keyed by the source value's text.
        table: BTreeMap<String, Value>,
        /// The value for keys the table lacks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Value>,
    },
    /// Lowercases a string.
    Lower,
    /// Uppercases a string.
    Upper,
    /// Trims whitespace from both ends of a string.
    Trim,
    /// Parses a date and time into an RFC 3339 UTC string (`2024-01-15T10:30:00Z`).
    /// Without `format`, accepts what [`coerce::to_datetime`](super::coerce::to_datetime)
    /// accepts (RFC 3339, `YYYY-MM-DD HH:MM:SS` as UTC, `YYYY-MM-DD`).
    ParseDatetime {
        /// A strftime format (chrono syntax) the source uses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
    },
    /// Formats a date and time (any form `parse_datetime` accepts without a format)
    /// with a strftime format, in UTC.
    FormatDatetime {
        /// The strftime format (chrono syntax), e.g. `%Y-%m-%d`.
        format: String,
    },
    /// Converts a quantity between units (binary: 1 KB = 1024 bytes), then rounds.
    /// `{"type": "convert_unit", "from": "mb", "to": "gb"}` turns `"16384"` into `16`.
    ConvertUnit {
        /// The unit of the source value.
        from: Unit,
        /// The unit wanted.
        to: Unit,
        /// How to round; the default is to the nearest, halves away from zero.
        #[serde(default, skip_serializing_if = "Rounding::is_default")]
        round: Rounding,
        /// Decimal places to keep; 0 (the default) gives an integer.
        #[serde(default, skip_serializing_if = "is_zero")]
        decimals: u8,
    },
    /// Takes `key` (default `value`) out of a reference object, as ServiceNow sends
    /// references: `{"link": "...", "value": "a1b2"}` becomes `"a1b2"`. A string or
    /// number passes unchanged.
    ExtractReference {
        /// The key holding the referenced id.
        #[serde(
            default = "default_reference_key",
            skip_serializing_if = "is_value_key"
        )]
        key: String,
    },
    /// Splits a string into an array of strings; empty parts are dropped and parts
    /// are trimmed.
    Split {
        /// The separator, e.g. `,`.
        separator: String,
    },
    /// Joins an array of scalars into one string. A string passes unchanged.
    Join {
        /// The separator, e.g. `, `.
        separator: String,
    },
    /// When the value is absent, `null` or an empty string, takes the first of these
    /// paths that holds something else.
    Coalesce {
        /// The fallback paths, in order.
        paths: Vec<FieldPath>,
    },
    /// Replaces the value, present or not, by a constant.
    Constant {
        /// The constant.
        value: Value,
    },
    /// Converts a number or numeric string to a number (`"4"` → `4`, `"2.5"` → `2.5`).
    ToNumber,
    /// Converts `true`/`false`, `"1"`/`"0"`, `"yes"`/`"no"`, `1`/`0` to a boolean.
    ToBool,
    /// Converts a string, number or boolean to a string.
    ToString,
    /// Calls a transform registered in the
    /// [`TransformRegistry`](super::TransformRegistry) under `name`, with `args`.
    Custom {
        /// The registered name.
        name: String,
        /// Arguments passed to the function as given.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        args: Value,
    },
}

fn default_reference_key() -> String {
    "value".to_owned()
}

fn is_value_key(key: &str) -> bool {
    key == "value"
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Transform {
    /// The transform's `type` name (`lookup`, `to_number`, or a custom name).
    pub fn name(&self) -> &str {
        match self {
            Transform::Lookup { .. } => "lookup",
            Transform::Lower => "lower",
            Transform::Upper => "upper",
            Transform::Trim => "trim",
            Transform::ParseDatetime { .. } => "parse_datetime",
            Transform::FormatDatetime { .. } => "format_datetime",
            Transform::ConvertUnit { .. } => "convert_unit",
            Transform::ExtractReference { .. } => "extract_reference",
            Transform::Split { .. } => "split",
            Transform::Join { .. } => "join",
            Transform::Coalesce { .. } => "coalesce",
            Transform::Constant { .. } => "constant",
            Transform::ToNumber => "to_number",
            Transform::ToBool => "to_bool",
            Transform::ToString => "to_string",
            Transform::Custom { name, .. } => name,
        }
    }

    /// A lookup table with a default, from `(key, value)` string pairs.
    pub fn lookup<'a>(
        table: impl IntoIterator<Item = (&'a str, &'a str)>,
        default: Option<&str>,
    ) -> Self {
        Transform::Lookup {
            table: table
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect(),
            default: default.map(Value::from),
        }
    }

    /// `extract_reference` with the default key `value`.
    pub fn extract_reference() -> Self {
        Transform::ExtractReference {
            key: default_reference_key(),
        }
    }
}

/// A unit of digital storage for [`Transform::ConvertUnit`]; binary multiples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Bytes.
    #[serde(alias = "b", alias = "B", alias = "byte")]
    Bytes,
    /// 1024 bytes.
    #[serde(alias = "KB", alias = "kib", alias = "KiB")]
    Kb,
    /// 1024 KB.
    #[serde(alias = "MB", alias = "mib", alias = "MiB")]
    Mb,
    /// 1024 MB.
    #[serde(alias = "GB", alias = "gib", alias = "GiB")]
    Gb,
    /// 1024 GB.
    #[serde(alias = "TB", alias = "tib", alias = "TiB")]
    Tb,
}

impl Unit {
    /// The size of the unit in bytes.
    pub fn bytes(self) -> f64 {
        match self {
            Unit::Bytes => 1.0,
            Unit::Kb => 1024.0,
            Unit::Mb => 1024.0 * 1024.0,
            Unit::Gb => 1024.0 * 1024.0 * 1024.0,
            Unit::Tb => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        }
    }
}

/// How [`Transform::ConvertUnit`] rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// To the nearest, halves away from zero (`Math.round` for positive values).
    #[default]
    Nearest,
    /// Down.
    Floor,
    /// Up.
    Ceil,
    /// Not at all: the result is a float.
    None,
}

impl Rounding {
    fn is_default(&self) -> bool {
        *self == Rounding::Nearest
    }
}

/// Reads `transform`/`transforms`: one transform object, the name of a transform
/// without arguments, or a list of either.
fn one_or_many_transforms<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<Transform>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<Transform>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a transform, a transform name, or a list of them")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(vec![transform_from_name(v)?])
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            Ok(vec![Transform::deserialize(
                de::value::MapAccessDeserializer::new(map),
            )?])
        }

        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(OneTransform(t)) = seq.next_element()? {
                out.push(t);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_any(OneOrMany)
}

/// One element of a transform list: an object or a name.
struct OneTransform(Transform);

impl<'de> Deserialize<'de> for OneTransform {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct One;

        impl<'de> Visitor<'de> for One {
            type Value = OneTransform;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transform or a transform name")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                transform_from_name(v).map(OneTransform)
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                Transform::deserialize(de::value::MapAccessDeserializer::new(map)).map(OneTransform)
            }
        }

        deserializer.deserialize_any(One)
    }
}

/// A transform given by name alone: `"lower"` means `{"type": "lower"}`.
fn transform_from_name<E: de::Error>(name: &str) -> std::result::Result<Transform, E> {
    let map = std::iter::once(("type", name));
    Transform::deserialize(de::value::MapDeserializer::new(
        map.map(|(k, v)| (k.into_deserializer(), v.into_deserializer())),
    ))
}

/// How a field of the record links it to another entity.
///
/// The field may hold an id, a list of ids, or reference objects (`{"value": id}` as
/// ServiceNow sends, or `{"id": id}` as Graph sends); each gives one
/// [`Relationship`](crate::Relationship) from this record to `target_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipMapping {
    /// Where the related ids are.
    pub source_field: FieldPath,
    /// The related entity's type (the caller's name, e.g. `NODE`).
    pub target_type: String,
    /// How this record relates to the other.
    pub kind: RelationshipKind,
    /// What the extracted value identifies on the other side; the default is its
    /// external id.
    #[serde(default, skip_serializing_if = "Lookup::is_external_id")]
    pub lookup: Lookup,
    /// The strength, 0–100; the default is
    /// [`Relationship::DEFAULT_STRENGTH`](crate::Relationship::DEFAULT_STRENGTH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<u8>,
    /// Whether the link holds both ways.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bidirectional: bool,
}

impl RelationshipMapping {
    /// A one-way relationship by external id, of default strength.
    pub fn new(
        source_field: FieldPath,
        target_type: impl Into<String>,
        kind: RelationshipKind,
    ) -> Self {
        Self {
            source_field,
            target_type: target_type.into(),
            kind,
            lookup: Lookup::ExternalId,
            strength: None,
            bidirectional: false,
        }
    }

    /// Sets the strength (0–100).
    pub fn with_strength(mut self, strength: u8) -> Self {
        self.strength = Some(strength);
        self
    }
}

/// What the value in a relationship's source field identifies on the other entity.
///
/// The value becomes the relationship's `to_id`; with anything but `external_id` the
/// consumer resolves it to the other record's external id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup {
    /// The other entity's external id (the default).
    #[default]
    ExternalId,
    /// The other entity's name.
    Name,
    /// Another field of the other entity, by target name: `{"field": "email"}`.
    Field(String),
}

impl Lookup {
    fn is_external_id(&self) -> bool {
        *self == Lookup::ExternalId
    }
}

/// A condition a source record must meet to be mapped; a record that fails it is
/// skipped, not reported.
///
/// Comparisons are loose between strings and numbers (`"7"` equals `7`), as vendors
/// like ServiceNow send numbers as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    /// The source path tested.
    pub field: FieldPath,
    /// The comparison.
    pub op: FilterOp,
    /// The operand: a value for `eq`/`ne`, an array for `in`/`not_in`, none for
    /// `exists`/`missing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// The comparison of a [`FilterRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// The value is present and equals the operand.
    Eq,
    /// The value is absent or differs from the operand.
    Ne,
    /// The value is present and equals one of the operands.
    In,
    /// The value is absent or equals none of the operands.
    NotIn,
    /// The value is present and not `null`.
    Exists,
    /// The value is absent or `null`.
    Missing,
}

impl FilterOp {
    fn name(self) -> &'static str {
        match self {
            FilterOp::Eq => "eq",
            FilterOp::Ne => "ne",
            FilterOp::In => "in",
            FilterOp::NotIn => "not_in",
            FilterOp::Exists => "exists",
            FilterOp::Missing => "missing",
        }
    }
}

/// A rule a mapped field must satisfy.
///
/// In a file: `{"field": "name", "rule": "required"}`,
/// `{"field": "name", "rule": {"min_length": 2}, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    /// The target field name the rule checks.
    pub field: String,
    /// The rule.
    pub rule: Rule,
    /// The message reported instead of the rule's own when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ValidationRule {
    /// A rule on a target field, with the rule's own message.
    pub fn new(field: impl Into<String>, rule: Rule) -> Self {
        Self {
            field: field.into(),
            rule,
            message: None,
        }
    }

    /// Sets the message reported when the rule fails.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// A validation rule. Rules other than `required` pass when the field is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Rule {
    /// The field is present, not `null`, not an empty string or array.
    Required,
    /// A string has at least this many characters (an array, this many items).
    MinLength(usize),
    /// A string has at most this many characters (an array, this many items).
    MaxLength(usize),
    /// A string (or number) matches this regular expression (`regex-lite` syntax;
    /// unanchored unless the pattern says `^...$`).
    Pattern(String),
    /// The value equals one of these (loosely: `"1"` equals `1`).
    OneOf(Vec<Value>),
    /// A string is an email address (`local@domain.tld`).
    Email,
    /// A string is an absolute URL (`scheme://host...`).
    Url,
    /// A number (or numeric string) lies within the bounds, inclusive.
    Range {
        /// The lower bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// The upper bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// A rule registered in the [`TransformRegistry`](super::TransformRegistry).
    Custom {
        /// The registered name.
        name: String,
    },
}

impl Rule {
    /// The rule's name (`required`, `min_length`, or a custom rule's name).
    pub fn name(&self) -> &str {
        match self {
            Rule::Required => "required",
            Rule::MinLength(_) => "min_length",
            Rule::MaxLength(_) => "max_length",
            Rule::Pattern(_) => "pattern",
            Rule::OneOf(_) => "one_of",
            Rule::Email => "email",
            Rule::Url => "url",
            Rule::Range { .. } => "range",
            Rule::Custom { name } => name,
        }
    }
}

impl EntityMapping {
    /// A mapping with no fields, relationships, filters or rules.
    pub fn new(
        source_type: impl Into<String>,
        target_type: impl Into<String>,
        display_name: impl Into<String>,
        external_id: FieldPath,
    ) -> Self {
        Self {
            source_type: source_type.into(),
            target_type: target_type.into(),
            display_name: display_name.into(),
            description: None,
            external_id,
            created_at: None,
            updated_at: None,
            fields: Vec::new(),
            relationships: Vec::new(),
            filters: Vec::new(),
            validation: Vec::new(),
        }
    }

    /// Appends a field mapping.
    pub fn with_field(mut self, field: FieldMapping) -> Self {
        self.fields.push(field);
        self
    }

    /// Loads a mapping from JSON and [validates](Self::validate) it.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the problem:
    /// the JSON error with its line and column (an unknown field, a bad path, a
    /// missing `target`), or the validation failures.
    pub fn from_json(json: &str) -> Result<Self> {
        let mapping: Self = serde_json::from_str(json)
            .map_err(|e| ConnectorError::config(format!("invalid entity mapping: {e}")))?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// Loads a mapping from YAML and [validates](Self::validate) it. Quote lookup-table
    /// keys that look like numbers (`"1": PRODUCTION`).
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    #[cfg(feature = "yaml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "yaml")))]
    pub fn from_yaml(yaml: &str) -> Result<Self> {
        let mapping: Self = serde_saphyr::from_str(yaml)
            .map_err(|e| ConnectorError::config(format!("invalid entity mapping: {e}")))?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// Serialises the mapping as pretty JSON.
    ///
    /// # Errors
    ///
    /// Only if a value in the mapping cannot be represented (it always can for data
    /// that was deserialised).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| ConnectorError::unexpected(format!("cannot serialise mapping: {e}")))
    }

    /// Checks what can be checked without a transform registry: target names are
    /// well formed and unique (and none is a prefix object of another), every
    /// validation rule names a mapped target, patterns compile, datetime formats are
    /// valid, relationship strengths are at most 100 and filter operands fit their
    /// operation.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error listing every problem.
    pub fn validate(&self) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::config(format!(
                "entity mapping `{}`: {}",
                self.source_type,
                problems.join("; ")
            ))
            .with_entity(self.source_type.clone()))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut targets = HashSet::new();
        for field in &self.fields {
            let target = field.target.as_str();
            if target.is_empty() || target.split('.').any(str::is_empty) {
                problems.push(format!(
                    "target `{target}` of `{}` is not a valid name",
                    field.source
                ));
            } else if !targets.insert(target) {
                problems.push(format!("target `{target}` is mapped more than once"));
            }
            for transform in &field.transforms {
                if let Err(p) = check_transform(transform) {
                    problems.push(format!("field `{target}`: {p}"));
                }
            }
        }
        let mut conflicts = Vec::new();
        for target in &targets {
            let mut prefix = String::new();
            for part in target.split('.') {
                if !prefix.is_empty() && targets.contains(prefix.as_str()) {
                    conflicts.push(format!(
                        "target `{prefix}` conflicts with `{target}`, which nests inside it"
                    ));
                    break;
                }
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(part);
            }
        }
        conflicts.sort();
        problems.append(&mut conflicts);
        for rel in &self.relationships {
            if rel.strength.is_some_and(|s| s > 100) {
                problems.push(format!(
                    "relationship from `{}`: strength must be at most 100",
                    rel.source_field
                ));
            }
        }
        for filter in &self.filters {
            let op = filter.op;
            let fits = matches!(
                (op, &filter.value),
                (FilterOp::Eq | FilterOp::Ne, Some(_))
                    | (FilterOp::In | FilterOp::NotIn, Some(Value::Array(_)))
                    | (FilterOp::Exists | FilterOp::Missing, None)
            );
            if !fits {
                let wanted = match op {
                    FilterOp::Eq | FilterOp::Ne => "needs a `value`",
                    FilterOp::In | FilterOp::NotIn => "needs a `value` that is an array",
                    FilterOp::Exists | FilterOp::Missing => "takes no `value`",
                };
                problems.push(format!(
                    "filter on `{}`: `{}` {wanted}",
                    filter.field,
                    op.name()
                ));
            }
        }
        for rule in &self.validation {
            if !targets.contains(rule.field.as_str()) {
                problems.push(format!(
                    "validation rule `{}` names `{}`, which no field mapping targets",
                    rule.rule.name(),
                    rule.field
                ));
            }
            match &rule.rule {
                Rule::Pattern(p) => {
                    if let Err(e) = regex_lite::Regex::new(p) {
                        problems.push(format!(
                            "pattern for `{}` does not compile: {e}",
                            rule.field
                        ));
                    }
                }
                Rule::Range {
                    min: Some(min),
                    max: Some(max),
                } if min > max => {
                    problems.push(format!("range for `{}` has min above max", rule.field));
                }
                _ => {}
            }
        }
        problems
    }
}

fn check_transform(transform: &Transform) -> std::result::Result<(), String> {
    match transform {
        Transform::ParseDatetime {
            format: Some(format),
        }
        | Transform::FormatDatetime { format } => super::coerce::check_datetime_format(format),
        Transform::Split { separator } if separator.is_empty() => {
            Err("`split` needs a non-empty separator".to_owned())
        }
        Transform::Coalesce { paths } if paths.is_empty() => {
            Err("`coalesce` needs at least one path".to_owned())
        }
        Transform::ExtractReference { key } if key.is_empty() => {
            Err("`extract_reference` needs a non-empty key".to_owned())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transform_accepts_one_object_a_name_or_a_list() {
        let one: FieldMapping = serde_json::from_value(json!({
            "source": "a", "target": "a", "transform": {"type": "lower"}
        }))
        .unwrap();
        assert_eq!(one.transforms, vec![Transform::Lower]);
        let named: FieldMapping =
            serde_json::from_value(json!({"source": "a", "target": "a", "transform": "trim"}))
                .unwrap();
        assert_eq!(named.transforms, vec![Transform::Trim]);
        let many: FieldMapping = serde_json::from_value(json!({
            "source": "a", "target": "a",
            "transforms": ["trim", {"type": "split", "separator": ","}]
        }))
        .unwrap();
        assert_eq!(
            many.transforms,
            vec![
                Transform::Trim,
                Transform::Split {
                    separator: ",".into()
                }
            ]
        );
        // Serialised as a list, under `transforms`.
        assert_eq!(
            serde_json::to_value(&one).unwrap()["transforms"],
            json!([{"type": "lower"}])
        );
    }

    #[test]
    fn typos_are_reported() {
        let err = |v: Value| {
            serde_json::from_value::<FieldMapping>(v)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(json!({"source": "a", "target": "a", "requird": true}))
                .starts_with("unknown field `requird`"),
        );
        assert!(
            err(json!({"source": "a", "target": "a", "transform": "lowr"}))
                .starts_with("unknown variant `lowr`")
        );
        assert!(
            err(json!({"source": "a", "target": "a", "transform": {"type": "split", "sep": ","}}))
                .starts_with("unknown field `sep`")
        );
        let rule = serde_json::from_value::<ValidationRule>(
            json!({"field": "a", "rule": {"range": {"min": 1, "mx": 2}}}),
        );
        assert!(
            rule.unwrap_err()
                .to_string()
                .starts_with("unknown field `mx`")
        );
    }

    #[test]
    fn rules_serialise_compactly() {
        let rules = vec![
            ValidationRule::new("name", Rule::Required),
            ValidationRule::new("name", Rule::MinLength(2)).with_message("too short"),
            ValidationRule::new(
                "n",
                Rule::Range {
                    min: Some(0.0),
                    max: None,
                },
            ),
            ValidationRule::new(
                "n",
                Rule::Custom {
                    name: "even".into(),
                },
            ),
        ];
        let json = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            json,
            json!([
                {"field": "name", "rule": "required"},
                {"field": "name", "rule": {"min_length": 2}, "message": "too short"},
                {"field": "n", "rule": {"range": {"min": 0.0}}},
                {"field": "n", "rule": {"custom": {"name": "even"}}}
            ])
        );
        let back: Vec<ValidationRule> = serde_json::from_value(json).unwrap();
        assert_eq!(back, rules);
    }

    #[test]
    fn validate_lists_every_problem() {
        let mapping: EntityMapping = serde_json::from_value(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [
                {"source": "a", "target": "a"},
                {"source": "b", "target": "a"},
                {"source": "c", "target": "a.c"},
                {"source": "d", "target": "d..x"},
                {"source": "e", "target": "e", "transform": {"type": "format_datetime", "format": "%Q"}}
            ],
            "relationships": [{"source_field": "r", "target_type": "T", "kind": "USES", "strength": 101}],
            "filters": [{"field": "x", "op": "in", "value": "1"}, {"field": "x", "op": "exists", "value": 1}],
            "validation": [
                {"field": "nope", "rule": "required"},
                {"field": "e", "rule": {"pattern": "("}}
            ]
        }))
        .unwrap();
        let err = mapping.validate().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        let msg = err.message();
        for needle in [
            "target `a` is mapped more than once",
            "target `a` conflicts with `a.c`, which nests inside it",
            "target `d..x` of `d` is not a valid name",
            "field `e`: invalid datetime format `%Q`",
            "relationship from `r`: strength must be at most 100",
            "filter on `x`: `in` needs a `value` that is an array",
            "filter on `x`: `exists` takes no `value`",
            "validation rule `required` names `nope`, which no field mapping targets",
            "pattern for `e` does not compile",
        ] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
    }

    #[test]
    fn unit_names_and_defaults() {
        let t: Transform =
            serde_json::from_value(json!({"type": "convert_unit", "from": "MB", "to": "gb"}))
                .unwrap();
        assert_eq!(
            t,
            Transform::ConvertUnit {
                from: Unit::Mb,
                to: Unit::Gb,
                round: Rounding::Nearest,
                decimals: 0
            }
        );
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"type": "convert_unit", "from": "mb", "to": "gb"})
        );
        let t: Transform = serde_json::from_value(json!({"type": "extract_reference"})).unwrap();
        assert_eq!(t, Transform::extract_reference());
        assert_eq!(t.name(), "extract_reference");
    }
}
