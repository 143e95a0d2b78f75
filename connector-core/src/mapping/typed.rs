//! Typed mappings: the runtime side of `#[derive(EntityMapping)]`.
//!
//! A struct that derives `EntityMapping` (from the `connector-derive` crate)
//! implements [`TypedMapping`]: it carries the same [`EntityMapping`] descriptor the
//! dynamic [`Mapper`] runs — so discovery, schemas and configuration overrides work
//! unchanged — and converts a source object straight into the struct with
//! [`TypedMapping::from_source`], and the struct into a [`Record`] with
//! [`TypedMapping::into_record`].
//!
//! The typed conversion runs the descriptor's own rules: paths, transforms, defaults,
//! `required` and validation rules are compiled from the descriptor once (the
//! private `Plan` below) and applied with the same code the [`Mapper`] uses; the
//! value each field ends up with is then converted to the field's Rust type with the
//! [`coerce`] helpers. A source object maps to the same record either
//! way. Values are read borrowed from the source; only the struct's own values are
//! allocated.
//!
//! The items after [`TypedMapping`] are called by generated code and are not meant
//! to be used directly; they are hidden from the documentation.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::coerce::{self, CoerceError};
use super::grammar::Segment;
use super::mapper::{Mapper, Resolver, SlotPath, Target, assign_slots};
use super::model::{EntityMapping, Transform};
use super::path::FieldPath;
use super::transform::{CompiledTransform, TransformRegistry};
use super::validate::CompiledRule;
use crate::error::{ConnectorError, FieldError, Result};
use crate::name::Name;
use crate::record::{Fields, Record, Relationship, RelationshipKind};

/// A Rust type mapped from one source entity type, usually through
/// `#[derive(EntityMapping)]`.
///
/// # Examples
///
/// With the derive (feature `derive`, or the `connector-derive` crate):
///
/// ```
/// use connector_core::mapping::TypedMapping;
/// use connector_core::EntityMapping;
///
/// #[derive(EntityMapping)]
/// #[entity(source = "cmdb_ci_server", target = "NODE", display_name = "Servers")]
/// struct Server {
///     #[field(external_id)]
///     sys_id: String,
///     name: String,
///     cpu_count: Option<i64>,
/// }
///
/// let server = Server::from_source(&serde_json::json!({
///     "sys_id": "s1", "name": "db01", "cpu_count": "4"
/// }))?;
/// assert_eq!(server.cpu_count, Some(4));
/// let record = server.into_record("servicenow")?;
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
pub trait TypedMapping: Sized {
    /// The descriptor of the mapping: the same data a mapping file holds. It is built
    /// once, on first use.
    fn entity_mapping() -> &'static EntityMapping;

    /// The custom transforms the descriptor names (the `with = ...` functions of the
    /// derive), for building a dynamic [`Mapper`] from the descriptor. Empty by
    /// default.
    fn transform_registry() -> TransformRegistry {
        TransformRegistry::new()
    }

    /// Converts one source object into `Self`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Validation`](crate::ErrorKind::Validation) error carrying every
    /// problem of the record as a [`FieldError`], in the order the [`Mapper`] reports
    /// them: a missing external id, a missing required field or a value of the wrong
    /// type (named by source path, with rule `type` and a message saying what type
    /// was expected), a failing transform, a broken validation rule (named by target
    /// field), an unparsable timestamp or relationship. An
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error when the descriptor
    /// cannot be compiled (an invalid datetime format).
    fn from_source(source: &Value) -> Result<Self>;

    /// Converts `self` into a record of the descriptor's target type, produced by
    /// `connector`. Pass a [`Name`] when converting many values: a `&str` is copied
    /// into each record.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Validation`](crate::ErrorKind::Validation) error when a field
    /// of a type converted through serde cannot be represented as JSON.
    fn into_record(self, connector: impl Into<Name>) -> Result<Record>;

    /// [`from_source`](Self::from_source) then [`into_record`](Self::into_record):
    /// what [`Mapper::map`] does for a mapping without filters.
    ///
    /// # Errors
    ///
    /// As [`from_source`](Self::from_source) and [`into_record`](Self::into_record);
    /// the error names `connector`.
    fn map_source(source: &Value, connector: impl Into<Name>) -> Result<Record> {
        let connector: Name = connector.into();
        match Self::from_source(source) {
            Ok(typed) => typed.into_record(connector.clone()),
            Err(e) => Err(e),
        }
        .map_err(|e| e.with_connector(connector.as_str()))
    }

    /// A dynamic [`Mapper`] compiled from [`entity_mapping`](Self::entity_mapping)
    /// and [`transform_registry`](Self::transform_registry).
    ///
    /// # Errors
    ///
    /// As [`Mapper::with_registry`].
    fn mapper() -> Result<Mapper> {
        Mapper::with_registry(Self::entity_mapping(), &Self::transform_registry())
    }
}

/// A path from segments the derive parsed at compile time with the same grammar.
#[doc(hidden)]
pub fn path(first: &str, rest: Vec<Segment>) -> FieldPath {
    let mut segments = Vec::with_capacity(rest.len() + 1);
    segments.push(Segment::Key(first.to_owned()));
    segments.extend(rest);
    // The first segment is a key, so `from_segments` always builds the path.
    FieldPath::from_segments(segments).unwrap_or_else(|| FieldPath::key(first))
}

/// A relationship kind by its serialised name (`DEPENDS_ON`); unknown names become
/// [`RelationshipKind::Other`].
#[doc(hidden)]
pub fn relationship_kind(name: &str) -> RelationshipKind {
    serde_json::from_value(Value::String(name.to_owned()))
        .unwrap_or_else(|_| RelationshipKind::Other(name.to_owned()))
}

/// A descriptor compiled for the typed conversion. Built once per type by generated
/// code.
#[doc(hidden)]
pub struct Plan {
    mapping: EntityMapping,
    target_type: Name,
    /// The target of each field, split at dots.
    targets: Vec<Target>,
    /// For each field with a flat target, its rank among the targets in name order
    /// (`None` for nested targets): a builder given fields in ascending rank
    /// appends them without comparing names.
    ranks: Vec<Option<usize>>,
    relationships: Vec<PlanRelationship>,
    compiled: std::result::Result<Vec<PlanField>, String>,
    external_id: SlotPath,
    created_at: Option<SlotPath>,
    updated_at: Option<SlotPath>,
    /// The sorted first keys of every source path, found in one pass over a
    /// source object as the [`Mapper`] finds them (`None`: one lookup per path).
    top_keys: Option<Vec<String>>,
}

struct PlanField {
    source: SlotPath,
    target: String,
    required: bool,
    transforms: Vec<(String, CompiledTransform)>,
    default: Option<Value>,
    /// (index in the mapping's `validation`, rule name, rule, message)
    rules: Vec<(usize, String, CompiledRule, Option<String>)>,
}

struct PlanRelationship {
    source: SlotPath,
    target_type: Name,
    kind: RelationshipKind,
    strength: u8,
    bidirectional: bool,
}

impl Plan {
    /// Compiles `mapping`, resolving custom transforms in `registry`. A mapping that
    /// does not compile still yields a plan: its [`mapping`](Self::mapping) is
    /// available and every [`reader`](Self::reader) call reports the problem.
    pub fn new(mapping: EntityMapping, registry: &TransformRegistry) -> Self {
        let mut compiled = compile(&mapping, registry);
        let targets: Vec<Target> = mapping
            .fields
            .iter()
            .map(|f| Target::new(&f.target))
            .collect();
        let ranks = flat_ranks(&targets);
        let relationships = mapping
            .relationships
            .iter()
            .map(|r| PlanRelationship {
                source: SlotPath::new(&r.source_field),
                target_type: Name::interned(&r.target_type),
                kind: r.kind.clone(),
                strength: r.strength.unwrap_or(Relationship::DEFAULT_STRENGTH),
                bidirectional: r.bidirectional,
            })
            .collect();
        let mut relationships: Vec<PlanRelationship> = relationships;
        let mut external_id = SlotPath::new(&mapping.external_id);
        let mut created_at = mapping.created_at.as_ref().map(SlotPath::new);
        let mut updated_at = mapping.updated_at.as_ref().map(SlotPath::new);
        let top_keys = match &mut compiled {
            Ok(fields) => assign_slots(
                std::iter::once(&mut external_id)
                    .chain(created_at.as_mut())
                    .chain(updated_at.as_mut())
                    .chain(fields.iter_mut().map(|f| &mut f.source))
                    .chain(relationships.iter_mut().map(|r| &mut r.source))
                    .collect(),
            ),
            Err(_) => None,
        };
        Self {
            target_type: Name::interned(&mapping.target_type),
            mapping,
            targets,
            ranks,
            relationships,
            compiled,
            external_id,
            created_at,
            updated_at,
            top_keys,
        }
    }

    /// The descriptor.
    pub fn mapping(&self) -> &EntityMapping {
        &self.mapping
    }

    /// Starts reading one source object.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error when the descriptor
    /// did not compile.
    pub fn reader<'p: 's, 's>(&'p self, source: &'s Value) -> Result<Reader<'p, 's>> {
        match &self.compiled {
            Ok(fields) => Ok(Reader {
                plan: self,
                fields,
                source,
                resolver: Resolver::new(source, self.top_keys.as_deref()),
                external_id: None,
                id_errors: Vec::new(),
                field_errors: Vec::new(),
                rule_errors: Vec::new(),
                time_errors: Vec::new(),
                relationship_errors: Vec::new(),
            }),
            Err(problems) => Err(ConnectorError::config(format!(
                "entity mapping `{}`: {problems}",
                self.mapping.source_type
            ))
            .with_entity(self.mapping.source_type.clone())),
        }
    }

    /// Starts the record of an object with this external id.
    pub fn record(&self, external_id: String, connector: impl Into<Name>) -> RecordBuilder<'_> {
        let mut record = Record::new(self.target_type.clone(), external_id, connector);
        record.fields = Fields::with_capacity(self.targets.len());
        RecordBuilder {
            plan: self,
            record,
            last_rank: None,
            shared_id: None,
            errors: Vec::new(),
        }
    }
}

/// The rank of each flat target among all targets in name order, `None` for nested
/// ones. Flat targets are distinct (the descriptor is validated), so ranks are too.
fn flat_ranks(targets: &[Target]) -> Vec<Option<usize>> {
    let mut flat: Vec<(usize, &Name)> = targets
        .iter()
        .enumerate()
        .filter_map(|(index, target)| match target {
            Target::Flat(name) => Some((index, name)),
            Target::Nested(..) => None,
        })
        .collect();
    flat.sort_by(|a, b| a.1.cmp(b.1));
    let mut ranks = vec![None; targets.len()];
    for (rank, (index, _)) in flat.into_iter().enumerate() {
        ranks[index] = Some(rank);
    }
    ranks
}

fn compile(
    mapping: &EntityMapping,
    registry: &TransformRegistry,
) -> std::result::Result<Vec<PlanField>, String> {
    mapping.validate().map_err(|e| e.message().to_owned())?;
    let mut problems = Vec::new();
    let mut fields: Vec<PlanField> = mapping
        .fields
        .iter()
        .map(|f| PlanField {
            source: SlotPath::new(&f.source),
            target: f.target.clone(),
            required: f.required,
            transforms: f
                .transforms
                .iter()
                .filter_map(|t| match CompiledTransform::compile(t, registry) {
                    Ok(c) => Some((t.name().to_owned(), c)),
                    Err(p) => {
                        problems.push(format!("field `{}`: {p}", f.target));
                        None
                    }
                })
                .collect(),
            default: f.default.clone(),
            rules: Vec::new(),
        })
        .collect();
    for (index, rule) in mapping.validation.iter().enumerate() {
        let Some(field) = mapping.fields.iter().position(|f| f.target == rule.field) else {
            continue;
        };
        match CompiledRule::compile(&rule.rule, registry) {
            Ok(compiled) => fields[field].rules.push((
                index,
                rule.rule.name().to_owned(),
                compiled,
                rule.message.clone(),
            )),
            Err(p) => problems.push(format!("validation of `{}`: {p}", rule.field)),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems.join("; "))
    }
}

/// Reads the values of one source object for the typed conversion, collecting every
/// problem.
///
/// Each `read*` method returns `None` when the value could not be read; the problem
/// is recorded and reported by [`into_error`](Self::into_error).
#[doc(hidden)]
pub struct Reader<'p, 's> {
    plan: &'p Plan,
    fields: &'p [PlanField],
    source: &'s Value,
    resolver: Resolver<'s>,
    external_id: Option<String>,
    id_errors: Vec<FieldError>,
    field_errors: Vec<FieldError>,
    rule_errors: Vec<(usize, FieldError)>,
    time_errors: Vec<FieldError>,
    relationship_errors: Vec<FieldError>,
}

impl<'p: 's, 's> Reader<'p, 's> {
    /// The external id, as the [`Mapper`] reads it (a string or a number).
    pub fn external_id(&mut self) -> Option<String> {
        let path = &self.plan.external_id;
        let found = self.resolver.get(path);
        let id = match found.as_deref() {
            None | Some(Value::Null) => {
                self.id_errors.push(FieldError::new(
                    path.as_str(),
                    "required",
                    "external id is missing",
                ));
                None
            }
            Some(Value::String(s)) if s.is_empty() => {
                self.id_errors.push(FieldError::new(
                    path.as_str(),
                    "required",
                    "external id is empty",
                ));
                None
            }
            Some(v) => match coerce::to_string_lossless(v) {
                Ok(id) => Some(id.into_owned()),
                Err(e) => {
                    self.id_errors
                        .push(FieldError::new(path.as_str(), "type", e.to_string()));
                    None
                }
            },
        };
        self.external_id.clone_from(&id);
        id
    }

    /// The value of field `index` after transforms and default: `Some(None)` when
    /// absent (and allowed to be).
    fn value(&mut self, index: usize, transforms: usize) -> Option<Option<Cow<'s, Value>>> {
        let fields: &'p [PlanField] = self.fields;
        let field = fields.get(index)?;
        let mut value = self.resolver.get(&field.source).filter(|v| !v.is_null());
        for (name, transform) in field.transforms.iter().take(transforms) {
            match transform.apply(value, self.source) {
                Ok(v) => value = v.filter(|v| !v.is_null()),
                Err(message) => {
                    self.field_errors.push(FieldError::new(
                        field.source.as_str(),
                        name.as_str(),
                        message,
                    ));
                    return None;
                }
            }
        }
        let value = match value {
            Some(v) => Some(v),
            None => field.default.as_ref().map(Cow::Borrowed),
        };
        if field.required {
            let problem = match &value {
                None => Some("required field is missing"),
                Some(v) if v.as_str().is_some_and(str::is_empty) => Some("required field is empty"),
                Some(_) => None,
            };
            if let Some(message) = problem {
                self.field_errors
                    .push(FieldError::new(field.source.as_str(), "required", message));
                return None;
            }
        }
        Some(value)
    }

    fn convert<T>(
        &mut self,
        index: usize,
        value: &Value,
        convert: impl FnOnce(&Value) -> std::result::Result<T, CoerceError>,
    ) -> Option<T> {
        match convert(value) {
            Ok(t) => Some(t),
            Err(e) => {
                if let Some(field) = self.fields.get(index) {
                    self.field_errors.push(FieldError::new(
                        field.source.as_str(),
                        "type",
                        e.to_string(),
                    ));
                }
                None
            }
        }
    }

    /// Runs the validation rules of field `index` on its mapped value.
    pub fn check_rules(&mut self, index: usize, value: Option<&Value>) {
        let Some(field) = self.fields.get(index) else {
            return;
        };
        for (rule_index, name, rule, message) in &field.rules {
            if let Err(own) = rule.check(value) {
                let message = message.clone().unwrap_or_else(|| own.into_owned());
                self.rule_errors.push((
                    *rule_index,
                    FieldError::new(field.target.as_str(), name.as_str(), message),
                ));
            }
        }
    }

    /// Reads optional field `index`, converting its value with `convert`.
    pub fn read_optional<T>(
        &mut self,
        index: usize,
        convert: impl FnOnce(&Value) -> std::result::Result<T, CoerceError>,
    ) -> Option<Option<T>> {
        let value = self.value(index, usize::MAX)?;
        let typed = match value.as_deref() {
            None => None,
            Some(v) => Some(self.convert(index, v, convert)?),
        };
        self.check_rules(index, value.as_deref());
        Some(typed)
    }

    /// Reads field `index`, which must be present, converting its value with
    /// `convert`.
    pub fn read_required<T>(
        &mut self,
        index: usize,
        convert: impl FnOnce(&Value) -> std::result::Result<T, CoerceError>,
    ) -> Option<T> {
        match self.read_optional(index, convert)? {
            Some(t) => Some(t),
            None => {
                self.missing(index);
                None
            }
        }
    }

    /// [`read_optional`](Self::read_optional) with [`to_string`] for a `String`
    /// field: a value a transform made (a lookup's constant, an uppercased string)
    /// moves into the field instead of being copied again.
    pub fn read_optional_string(&mut self, index: usize) -> Option<Option<String>> {
        let Some(value) = self.value(index, usize::MAX)? else {
            self.check_rules(index, None);
            return Some(None);
        };
        if !matches!(
            &*value,
            Value::String(_) | Value::Number(_) | Value::Bool(_)
        ) {
            // Records the type error, as `read_optional` does.
            return self.convert(index, &value, to_string).map(Some);
        }
        self.check_rules(index, Some(&value));
        match value {
            Cow::Owned(Value::String(s)) => Some(Some(s)),
            other => self.convert(index, &other, to_string).map(Some),
        }
    }

    /// [`read_required`](Self::read_required) with [`to_string`], moving values as
    /// [`read_optional_string`](Self::read_optional_string) does.
    pub fn read_required_string(&mut self, index: usize) -> Option<String> {
        match self.read_optional_string(index)? {
            Some(s) => Some(s),
            None => {
                self.missing(index);
                None
            }
        }
    }

    fn missing(&mut self, index: usize) {
        if let Some(field) = self.fields.get(index) {
            self.field_errors.push(FieldError::new(
                field.source.as_str(),
                "required",
                "required field is missing",
            ));
        }
    }

    /// Reads optional field `index` whose last transform is a user function: the
    /// value before that transform (or the default) is passed to `f` directly.
    pub fn read_with_optional<T>(
        &mut self,
        index: usize,
        f: impl FnOnce(&Value) -> std::result::Result<T, String>,
    ) -> Option<Option<T>> {
        let transforms = self
            .fields
            .get(index)
            .map_or(0, |field| field.transforms.len().saturating_sub(1));
        let value = self.value(index, transforms)?;
        match value.as_deref() {
            None => Some(None),
            Some(v) => match f(v) {
                Ok(t) => Some(Some(t)),
                Err(message) => {
                    let field = self.fields.get(index)?;
                    let name = field.transforms.last().map_or("with", |(n, _)| n.as_str());
                    self.field_errors
                        .push(FieldError::new(field.source.as_str(), name, message));
                    None
                }
            },
        }
    }

    /// As [`read_with_optional`](Self::read_with_optional), for a field that must be
    /// present.
    pub fn read_with_required<T>(
        &mut self,
        index: usize,
        f: impl FnOnce(&Value) -> std::result::Result<T, String>,
    ) -> Option<T> {
        match self.read_with_optional(index, f)? {
            Some(t) => Some(t),
            None => {
                self.missing(index);
                None
            }
        }
    }

    /// The creation time, as the [`Mapper`] reads it.
    pub fn created_at(&mut self) -> Option<Option<DateTime<Utc>>> {
        let path = self.plan.created_at.as_ref();
        self.timestamp(path)
    }

    /// The last-modified time, as the [`Mapper`] reads it.
    pub fn updated_at(&mut self) -> Option<Option<DateTime<Utc>>> {
        let path = self.plan.updated_at.as_ref();
        self.timestamp(path)
    }

    fn timestamp(&mut self, path: Option<&'p SlotPath>) -> Option<Option<DateTime<Utc>>> {
        let Some(path) = path else {
            return Some(None);
        };
        match self.resolver.get(path).as_deref() {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.is_empty() => Some(None),
            Some(v) => match coerce::to_datetime(v) {
                Ok(at) => Some(Some(at)),
                Err(e) => {
                    self.time_errors.push(FieldError::new(
                        path.as_str(),
                        "datetime",
                        e.to_string(),
                    ));
                    None
                }
            },
        }
    }

    /// The ids relationship `index` links to, as the [`Mapper`] extracts them: ids,
    /// lists of ids and reference objects (`{"value": id}`, `{"id": id}`); `null`
    /// and empty strings are skipped.
    pub fn relationship_ids(&mut self, index: usize) -> Option<Vec<String>> {
        let rel = self.plan.relationships.get(index)?;
        let mut ids = Vec::new();
        let Some(value) = self.resolver.get(&rel.source) else {
            return Some(ids);
        };
        let mut ok = true;
        match &*value {
            Value::Array(items) => {
                for item in items {
                    ok &= self.push_id(index, item, &mut ids);
                }
            }
            other => ok = self.push_id(index, other, &mut ids),
        }
        ok.then_some(ids)
    }

    /// The one id relationship `index` links to, if any.
    pub fn relationship_id(&mut self, index: usize) -> Option<Option<String>> {
        let mut ids = self.relationship_ids(index)?;
        if ids.len() > 1 {
            let rel = self.plan.relationships.get(index)?;
            self.relationship_errors.push(FieldError::new(
                rel.source.as_str(),
                "relationship",
                format!(
                    "expected at most one id, found {} (use a `Vec<String>` field)",
                    ids.len()
                ),
            ));
            return None;
        }
        Some(ids.pop())
    }

    fn push_id(&mut self, index: usize, value: &Value, out: &mut Vec<String>) -> bool {
        let Some(rel) = self.plan.relationships.get(index) else {
            return false;
        };
        match super::mapper::reference_id(value) {
            Ok(Some(id)) => {
                out.push(id.into_owned());
                true
            }
            Ok(None) => true,
            Err(message) => {
                self.relationship_errors.push(FieldError::new(
                    rel.source.as_str(),
                    "relationship",
                    message,
                ));
                false
            }
        }
    }

    /// True when nothing was reported.
    pub fn is_clean(&self) -> bool {
        self.id_errors.is_empty()
            && self.field_errors.is_empty()
            && self.rule_errors.is_empty()
            && self.time_errors.is_empty()
            && (self.external_id.is_none() || self.relationship_errors.is_empty())
    }

    /// The validation error listing every problem found, in the [`Mapper`]'s order.
    pub fn into_error(self) -> ConnectorError {
        let mut errors = self.id_errors;
        errors.extend(self.field_errors);
        let mut rules = self.rule_errors;
        rules.sort_by_key(|(index, _)| *index);
        errors.extend(rules.into_iter().map(|(_, e)| e));
        errors.extend(self.time_errors);
        if self.external_id.is_some() {
            // Like the mapper, relationships are only read once the id is known.
            errors.extend(self.relationship_errors);
        }
        let source_type = self.plan.mapping.source_type.as_str();
        let subject = match &self.external_id {
            Some(id) => format!("record {id} breaks mapping {source_type}"),
            None => format!("record breaks mapping {source_type}"),
        };
        let mut err = ConnectorError::validation(subject, errors).with_entity(source_type);
        if let Some(id) = self.external_id {
            err = err.with_external_id(id);
        }
        err
    }
}

/// Builds the record of a typed value.
#[doc(hidden)]
pub struct RecordBuilder<'p> {
    plan: &'p Plan,
    record: Record,
    /// The rank of the last field appended by rank, while every field set so far
    /// came in ascending rank (flat targets in name order, as the derive writes
    /// them); `None` before the first and after any field set another way.
    last_rank: Option<usize>,
    /// The record's id as its relationships share it, made at the first one.
    shared_id: Option<Arc<str>>,
    errors: Vec<FieldError>,
}

impl RecordBuilder<'_> {
    /// Sets field `index` (by its target name, nested when dotted).
    pub fn field(&mut self, index: usize, value: std::result::Result<Value, String>) {
        let plan: &Plan = self.plan;
        let Some(target) = plan.targets.get(index) else {
            return;
        };
        match value {
            Ok(value) => match (target, plan.ranks[index]) {
                // Every field so far came in ascending rank and this one ranks
                // after them: its name sorts after theirs, so it appends.
                (Target::Flat(name), Some(rank))
                    if self.last_rank.is_none_or(|last| last < rank)
                        && (self.last_rank.is_some() || self.record.fields.is_empty()) =>
                {
                    self.record.fields.push_sorted(name.clone(), value);
                    self.last_rank = Some(rank);
                }
                _ => {
                    self.last_rank = None;
                    target.insert(&mut self.record.fields, value);
                }
            },
            Err(message) => {
                self.errors
                    .push(FieldError::new(target.dotted(), "type", message));
            }
        }
    }

    /// Adds the relationships of relationship `index` to these ids.
    pub fn relationships(&mut self, index: usize, ids: impl IntoIterator<Item = String>) {
        let plan: &Plan = self.plan;
        let Some(rel) = plan.relationships.get(index) else {
            return;
        };
        for id in ids {
            let from_id = self
                .shared_id
                .get_or_insert_with(|| Arc::from(self.record.external_id.as_str()));
            self.record.relationships.push(
                Relationship::new(
                    (self.record.entity_type.clone(), Arc::clone(from_id)),
                    rel.kind.clone(),
                    (rel.target_type.clone(), id),
                )
                .with_strength(rel.strength)
                .with_bidirectional(rel.bidirectional),
            );
        }
    }

    /// Sets the creation time.
    pub fn created_at(&mut self, at: Option<DateTime<Utc>>) {
        self.record.created_at = at;
    }

    /// Sets the last-modified time.
    pub fn updated_at(&mut self, at: Option<DateTime<Utc>>) {
        self.record.updated_at = at;
    }

    /// The record.
    ///
    /// # Errors
    ///
    /// A validation error when a field could not be represented as JSON.
    pub fn finish(self) -> Result<Record> {
        if self.errors.is_empty() {
            return Ok(self.record);
        }
        let subject = format!(
            "record {} of mapping {} cannot be represented as JSON",
            self.record.external_id, self.plan.mapping.source_type
        );
        Err(ConnectorError::validation(subject, self.errors)
            .with_entity(self.plan.mapping.source_type.as_str())
            .with_external_id(self.record.external_id))
    }
}

/// Converts a typed field value into the JSON value a record holds.
///
/// Implemented for the types the derive converts itself: `String`, `bool`, the
/// integer and float types, `DateTime<Utc>` (written as RFC 3339 in UTC, like the
/// `parse_datetime` transform), `serde_json::Value` and `Vec`s of these. Other field
/// types go through serde.
#[doc(hidden)]
pub trait IntoFieldValue {
    /// The JSON value.
    fn into_field_value(self) -> Value;
}

impl IntoFieldValue for String {
    fn into_field_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoFieldValue for bool {
    fn into_field_value(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoFieldValue for Value {
    fn into_field_value(self) -> Value {
        self
    }
}

impl IntoFieldValue for DateTime<Utc> {
    fn into_field_value(self) -> Value {
        Value::String(coerce::datetime_to_string(&self))
    }
}

macro_rules! into_field_value_via_from {
    ($($t:ty),*) => {$(
        impl IntoFieldValue for $t {
            fn into_field_value(self) -> Value {
                Value::from(self)
            }
        }
    )*};
}

into_field_value_via_from!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl IntoFieldValue for f64 {
    /// A non-finite float becomes `null`, as `serde_json::to_value` makes it.
    fn into_field_value(self) -> Value {
        serde_json::Number::from_f64(self).map_or(Value::Null, Value::Number)
    }
}

impl IntoFieldValue for f32 {
    fn into_field_value(self) -> Value {
        f64::from(self).into_field_value()
    }
}

impl<T: IntoFieldValue> IntoFieldValue for Vec<T> {
    fn into_field_value(self) -> Value {
        Value::Array(
            self.into_iter()
                .map(IntoFieldValue::into_field_value)
                .collect(),
        )
    }
}

/// A value of a type converted through serde, as JSON.
///
/// # Errors
///
/// serde_json's message when the value cannot be represented.
#[doc(hidden)]
pub fn serialize<T: serde::Serialize>(value: &T) -> std::result::Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// Converts a value to `String`: strings as they are, numbers and booleans as text.
///
/// # Errors
///
/// For `null`, arrays and objects.
#[doc(hidden)]
pub fn to_string(value: &Value) -> std::result::Result<String, CoerceError> {
    coerce::to_string_lossless(value)
        .map(Cow::into_owned)
        .map_err(|_| CoerceError::new("a string", value))
}

/// Converts a value to a signed integer type; `expected` names the type for errors.
///
/// # Errors
///
/// When [`coerce::to_i64`] fails or the number does not fit.
#[doc(hidden)]
pub fn to_int<T: TryFrom<i64>>(
    value: &Value,
    expected: &'static str,
) -> std::result::Result<T, CoerceError> {
    coerce::to_i64(value)
        .ok()
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| CoerceError::new(expected, value))
}

/// Converts a value to an unsigned integer type; `expected` names the type for
/// errors.
///
/// # Errors
///
/// When [`coerce::to_u64`] fails or the number does not fit.
#[doc(hidden)]
pub fn to_uint<T: TryFrom<u64>>(
    value: &Value,
    expected: &'static str,
) -> std::result::Result<T, CoerceError> {
    coerce::to_u64(value)
        .ok()
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| CoerceError::new(expected, value))
}

/// Converts a value to `f32`.
///
/// # Errors
///
/// As [`coerce::to_f64`].
#[doc(hidden)]
pub fn to_f32(value: &Value) -> std::result::Result<f32, CoerceError> {
    // Narrowing is the conversion asked for.
    coerce::to_f64(value).map(|f| f as f32)
}

/// Clones a JSON value out of the source (for `serde_json::Value` fields).
///
/// # Errors
///
/// Never; the signature matches the other conversions.
#[doc(hidden)]
pub fn to_json(value: &Value) -> std::result::Result<Value, CoerceError> {
    Ok(value.clone())
}

/// Converts an array element by element.
///
/// # Errors
///
/// When the value is not an array, or for the first element that does not convert.
#[doc(hidden)]
pub fn to_list<T>(
    value: &Value,
    mut convert: impl FnMut(&Value) -> std::result::Result<T, CoerceError>,
) -> std::result::Result<Vec<T>, CoerceError> {
    match value {
        Value::Array(items) => items.iter().map(&mut convert).collect(),
        other => Err(CoerceError::new("an array", other)),
    }
}

/// Converts a value through serde (for field types the derive has no conversion
/// for); `expected` names the type for errors.
///
/// # Errors
///
/// When the value does not deserialise into `T`.
#[doc(hidden)]
pub fn deserialize<T: serde::de::DeserializeOwned>(
    value: &Value,
    expected: &'static str,
) -> std::result::Result<T, CoerceError> {
    T::deserialize(value).map_err(|_| CoerceError::new(expected, value))
}

/// Registers a `with = ...` function as the custom transform `name`, so a dynamic
/// [`Mapper`] built from the descriptor runs it too.
#[doc(hidden)]
pub fn register_with<T: 'static, E: std::fmt::Display + 'static>(
    registry: &mut TransformRegistry,
    name: &str,
    f: fn(&Value) -> std::result::Result<T, E>,
    to_json: fn(T) -> std::result::Result<Value, String>,
) {
    registry.register_transform(name, move |value: &Value, _args: &Value| {
        f(value).map_err(|e| e.to_string()).and_then(to_json)
    });
}

/// The custom transform a `with = ...` field adds to the descriptor.
#[doc(hidden)]
pub fn with_transform(name: &str) -> Transform {
    Transform::Custom {
        name: name.to_owned(),
        args: Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> Plan {
        let mapping = EntityMapping::from_json(
            r#"{
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "updated_at": "updated",
            "fields": [
                {"source": "name", "target": "name", "required": true},
                {"source": "n", "target": "stats.n", "transform": "to_number"}
            ],
            "relationships": [{"source_field": "deps", "target_type": "T", "kind": "USES"}],
            "validation": [{"field": "name", "rule": {"min_length": 2}}]
        }"#,
        )
        .unwrap();
        Plan::new(mapping, &TransformRegistry::new())
    }

    #[test]
    fn reader_matches_the_mapper() {
        let plan = plan();
        let source = json!({"id": 7, "name": "ab", "n": "4", "deps": ["x", {"value": "y"}],
                            "updated": "2024-01-15 10:30:00"});
        let mut r = plan.reader(&source).unwrap();
        let id = r.external_id().unwrap();
        let name: String = r.read_required(0, to_string).unwrap();
        let n: Option<i64> = r.read_optional(1, |v| to_int(v, "an i64")).unwrap();
        let updated = r.updated_at().unwrap();
        let deps = r.relationship_ids(0).unwrap();
        assert!(r.is_clean());
        let mut b = plan.record(id, "c");
        b.field(0, Ok(name.into_field_value()));
        b.field(1, Ok(n.unwrap().into_field_value()));
        b.updated_at(updated);
        b.relationships(0, deps);
        let typed = b.finish().unwrap();
        let dynamic = Mapper::new(plan.mapping())
            .unwrap()
            .map(&source, "c")
            .unwrap()
            .unwrap();
        assert_eq!(typed, dynamic);
    }

    #[test]
    fn record_builder_gives_the_same_fields_in_any_order() {
        let mapping = EntityMapping::from_json(
            r#"{
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [
                {"source": "a", "target": "zeta"},
                {"source": "b", "target": "alpha"},
                {"source": "c", "target": "mid.inner"},
                {"source": "d", "target": "beta"},
                {"source": "e", "target": "mid.other"}
            ]
        }"#,
        )
        .unwrap();
        let plan = Plan::new(mapping, &TransformRegistry::new());
        assert_eq!(plan.ranks, [Some(2), Some(0), None, Some(1), None]);
        let expected = json!({
            "alpha": 1, "beta": 3, "mid": {"inner": 2, "other": 4}, "zeta": 0
        });
        // Every order of every subset of the five fields.
        for mask in 0u32..32 {
            let mut chosen: Vec<usize> = (0..5).filter(|i| mask & (1 << i) != 0).collect();
            let mut orders = Vec::new();
            permutations(&mut chosen, 0, &mut orders);
            for order in orders {
                let mut b = plan.record("1".to_owned(), "c");
                for &i in &order {
                    b.field(i, Ok(json!(i)));
                }
                let record = b.finish().unwrap();
                let mut want = expected.as_object().unwrap().clone();
                want.retain(|k, _| match k.as_str() {
                    "zeta" => order.contains(&0),
                    "alpha" => order.contains(&1),
                    "beta" => order.contains(&3),
                    _ => order.contains(&2) || order.contains(&4),
                });
                if let Some(Value::Object(mid)) = want.get_mut("mid") {
                    mid.retain(|k, _| order.contains(&if k == "inner" { 2 } else { 4 }));
                }
                assert_eq!(record.fields.to_value(), Value::Object(want), "{order:?}");
                assert!(record.fields.keys().is_sorted(), "{order:?}");
            }
        }
        // A value that cannot be represented is an error naming the target.
        let mut b = plan.record("1".to_owned(), "c");
        b.field(1, Ok(json!(1)));
        b.field(2, Err("no".to_owned()));
        let err = b.finish().unwrap_err();
        assert_eq!(
            err.field_errors(),
            [FieldError::new("mid.inner", "type", "no")]
        );
    }

    #[test]
    fn string_reads_match_the_generic_reads() {
        let mapping = EntityMapping::from_json(
            r#"{
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [
                {"source": "s", "target": "s", "transform": {"type": "lookup",
                    "table": {"1": "ONE", "2": 2}, "default": "OTHER"}},
                {"source": "u", "target": "u", "transform": "upper"},
                {"source": "p", "target": "p"},
                {"source": "r", "target": "r", "required": true, "transform": "trim"},
                {"source": "d", "target": "d", "default": "dflt"}
            ],
            "validation": [
                {"field": "u", "rule": {"min_length": 3}},
                {"field": "s", "rule": {"one_of": ["ONE", "OTHER"]}},
                {"field": "p", "rule": "required"}
            ]
        }"#,
        )
        .unwrap();
        let plan = Plan::new(mapping, &TransformRegistry::new());
        let sources = [
            json!({"id": 1, "s": "1", "u": "abc", "p": "x", "r": " y ", "d": "z"}),
            json!({"id": 1, "s": 2, "u": "ab", "p": 4, "r": "y"}),
            json!({"id": 1, "s": "9", "u": true, "p": 2.5, "r": ""}),
            json!({"id": 1, "s": {"a": 1}, "u": [1], "p": {"x": 1}, "r": [" a "]}),
            json!({"id": 1, "s": null, "u": null, "p": null, "r": null, "d": null}),
            json!({"id": 1, "s": [], "u": "x", "p": [], "d": false}),
        ];
        for source in &sources {
            let mut generic = plan.reader(source).unwrap();
            let mut fast = plan.reader(source).unwrap();
            for index in [0, 1, 2, 4] {
                assert_eq!(
                    generic.read_optional(index, to_string),
                    fast.read_optional_string(index),
                    "{source} field {index}"
                );
            }
            assert_eq!(
                generic.read_required(3, to_string),
                fast.read_required_string(3),
                "{source}"
            );
            assert_eq!(generic.is_clean(), fast.is_clean(), "{source}");
            assert_eq!(
                generic.into_error().field_errors(),
                fast.into_error().field_errors(),
                "{source}"
            );
        }
    }

    #[test]
    fn reader_finds_values_with_and_without_the_merged_pass() {
        // 40 distinct first keys: more than one merge pass takes, so one lookup each.
        for width in [3usize, 40] {
            let mut mapping = EntityMapping::new("t", "T", "T", FieldPath::parse("id").unwrap());
            for i in 0..width {
                mapping.fields.push(super::super::FieldMapping::new(
                    FieldPath::parse(&format!("k{i}.v")).unwrap(),
                    format!("k{i}"),
                ));
            }
            let plan = Plan::new(mapping, &TransformRegistry::new());
            assert_eq!(plan.top_keys.is_some(), width < 32);
            let source = json!({"id": "x", "k1": {"v": "one"}, "k2": "flat", "zz": 1});
            let mut r = plan.reader(&source).unwrap();
            assert_eq!(r.external_id(), Some("x".to_owned()));
            assert_eq!(r.read_optional_string(1), Some(Some("one".to_owned())));
            assert_eq!(r.read_optional_string(2), Some(None));
            assert_eq!(r.read_optional_string(0), Some(None));
            assert!(r.is_clean());
        }
    }

    fn permutations(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == items.len() {
            out.push(items.clone());
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, out);
            items.swap(k, i);
        }
    }

    #[test]
    fn reader_reports_every_problem_in_mapper_order() {
        let plan = plan();
        let source = json!({"name": "a", "n": "four", "updated": "soon"});
        let mut r = plan.reader(&source).unwrap();
        assert_eq!(r.external_id(), None);
        assert_eq!(r.read_required(0, to_string), Some("a".to_owned()));
        assert_eq!(r.read_optional(1, |v| to_int::<i64>(v, "an i64")), None);
        assert_eq!(r.updated_at(), None);
        assert!(!r.is_clean());
        let typed = r.into_error();
        let dynamic = Mapper::new(plan.mapping())
            .unwrap()
            .map(&source, "c")
            .unwrap_err();
        assert_eq!(typed.field_errors(), dynamic.field_errors());
        assert_eq!(typed.message(), dynamic.message());
    }

    #[test]
    fn conversions_name_the_expected_type() {
        assert_eq!(
            to_int::<i8>(&json!("300"), "an i8")
                .unwrap_err()
                .to_string(),
            "expected an i8, found \"300\""
        );
        assert_eq!(to_uint::<u16>(&json!(7), "a u16"), Ok(7));
        assert_eq!(to_string(&json!(4)), Ok("4".to_owned()));
        assert_eq!(
            to_string(&json!({})).unwrap_err().to_string(),
            "expected a string, found an object"
        );
        assert_eq!(
            to_list(&json!(["1", 2]), |v| to_int::<i64>(v, "an i64")),
            Ok(vec![1, 2])
        );
        assert_eq!(
            to_list(&json!("1"), to_json).unwrap_err().expected(),
            "an array"
        );
        assert_eq!(relationship_kind("DEPENDS_ON"), RelationshipKind::DependsOn);
        assert_eq!(
            relationship_kind("BLOCKS"),
            RelationshipKind::Other("BLOCKS".into())
        );
        assert_eq!(f64::NAN.into_field_value(), Value::Null);
        assert_eq!(
            path("a", vec![Segment::Project, Segment::Key("b".into())]).as_str(),
            "a[].b"
        );
    }
}
