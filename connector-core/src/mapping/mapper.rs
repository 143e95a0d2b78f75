//! The compiled mapping that turns source JSON into [`Record`]s.
//!
//! Everything that can be decided once is decided in [`Mapper::with_registry`]:
//! paths are parsed, patterns compiled, custom names resolved and target keys built.
//! [`Mapper::map`] then only walks the source value, borrowing from it, and
//! allocates only what the record owns.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::coerce;
use super::grammar::Segment;
use super::model::{EntityMapping, FilterOp};
use super::path::FieldPath;
use super::transform::{CompiledTransform, TransformRegistry};
use super::validate::{CompiledRule, loosely_equal};
use crate::error::{ConnectorError, FieldError, Result};
use crate::name::Name;
use crate::record::{Fields, Record, Relationship, RelationshipKind};

/// An [`EntityMapping`] compiled for speed: build it once per entity, then call
/// [`map`](Mapper::map) for every source record.
///
/// Cloning is cheap; a `Mapper` is `Send + Sync` and can be shared across tasks.
///
/// ```
/// use connector_core::mapping::{EntityMapping, FieldMapping, FieldPath, Mapper, Transform};
/// use serde_json::json;
///
/// let mapping = EntityMapping::new("user", "USER", "Users", FieldPath::parse("id")?)
///     .with_field(FieldMapping::new(FieldPath::parse("userPrincipalName")?, "email")
///         .with_required(true)
///         .with_transform(Transform::Lower))
///     .with_field(FieldMapping::new(FieldPath::parse("\"@odata.type\"")?, "kind"));
/// let mapper = Mapper::new(&mapping)?;
///
/// let user = json!({
///     "@odata.type": "#microsoft.graph.user",
///     "id": "6e7b768e",
///     "userPrincipalName": "AdeleV@Contoso.com"
/// });
/// let record = mapper.map(&user, "azure-ad")?.expect("not filtered");
/// assert_eq!(record.entity_type, "USER");
/// assert_eq!(record.field("email"), Some(&json!("adelev@contoso.com")));
/// assert_eq!(record.field("kind"), Some(&json!("#microsoft.graph.user")));
///
/// let err = mapper.map(&json!({"id": "x"}), "azure-ad").unwrap_err();
/// assert_eq!(err.field_errors()[0].to_string(), "userPrincipalName: required field is missing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Mapper {
    inner: Arc<Compiled>,
    keep_raw: bool,
}

struct Compiled {
    mapping: EntityMapping,
    target_type: Name,
    subject: String,
    external_id: SlotPath,
    created_at: Option<SlotPath>,
    updated_at: Option<SlotPath>,
    fields: Vec<CompiledField>,
    /// The field indexes and keys in key order, when every target is flat: the fields map
    /// is then built from sorted pairs in one pass instead of by inserts.
    sorted_flat: Option<Vec<(usize, Name)>>,
    /// The sorted, distinct first keys of every source path, when the source objects'
    /// maps iterate in key order (serde_json without `preserve_order`) and there are
    /// at most [`MAX_SLOTS`]: the mapper then finds them all in one merge pass over
    /// the object instead of one tree search per path.
    top_keys: Option<Vec<String>>,
    /// Whether a transform (`coalesce`) reads the whole source, beyond its field's
    /// own path.
    reads_whole_source: bool,
    /// For each field, the indexes in `rules` of the validation rules on its target.
    field_rules: Vec<Vec<usize>>,
    relationships: Vec<CompiledRelationship>,
    filters: Vec<CompiledFilter>,
    rules: Vec<CompiledValidation>,
}

/// The most first keys looked up in one merge pass.
pub(crate) const MAX_SLOTS: usize = 32;

/// The top-level values of one source object, by slot (see `Compiled::top_keys`).
pub(crate) type Slots = [Option<Value>; MAX_SLOTS];

/// The whole source of a mapping from slots, which has none: nothing reads it
/// (see [`Mapper::decodes_slots`]).
static NO_SOURCE: Value = Value::Null;

/// A source path and the slot of its first key in `Compiled::top_keys`.
pub(crate) struct SlotPath {
    path: FieldPath,
    slot: usize,
}

impl SlotPath {
    pub(crate) fn new(path: &FieldPath) -> Self {
        Self {
            path: path.clone(),
            slot: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        self.path.as_str()
    }
}

/// Resolves source paths against one record, through the merged first-key slots
/// when the mapper has them.
pub(crate) struct Resolver<'v> {
    source: &'v Value,
    slots: Option<[Option<&'v Value>; MAX_SLOTS]>,
}

impl<'v> Resolver<'v> {
    pub(crate) fn new(source: &'v Value, top_keys: Option<&[String]>) -> Self {
        let slots = match (top_keys, source) {
            (Some(keys), Value::Object(object)) => {
                let mut slots = [None; MAX_SLOTS];
                fill_slots(keys, object, &mut slots);
                Some(slots)
            }
            _ => None,
        };
        Self { source, slots }
    }

    /// Resolves against the top-level values a [`RecordSeed`](super::RecordSeed)
    /// decoded into the mapper's slots: the same answers as [`new`](Self::new) over
    /// an object holding those values, without the object.
    pub(crate) fn from_slots(slots: &'v [Option<Value>; MAX_SLOTS]) -> Self {
        Self {
            source: &NO_SOURCE,
            slots: Some(std::array::from_fn(|i| slots[i].as_ref())),
        }
    }

    /// The top-level value `path` starts at, when the merged first-key pass found
    /// it: where a value found along `path` lies.
    fn first(&self, path: &SlotPath) -> Option<&'v Value> {
        self.slots.as_ref()?[path.slot]
    }

    pub(crate) fn get(&self, path: &SlotPath) -> Option<Cow<'v, Value>> {
        match &self.slots {
            Some(slots) => slots[path.slot].and_then(|first| path.path.resolve_rest(first)),
            None => path.path.resolve(self.source),
        }
    }
}

struct CompiledField {
    source: SlotPath,
    target: Target,
    required: bool,
    transforms: Vec<(String, CompiledTransform)>,
    default: Option<Value>,
}

/// Where a value goes in the record's fields: one key, or a nested chain.
pub(crate) enum Target {
    Flat(Name),
    /// The field, then the keys inside it (`owner.email`: `owner`, `[email]`).
    Nested(Name, Vec<String>),
}

/// Inserts `value` at `first` then the nested keys `rest` (`owner`, `["email"]`),
/// creating (or replacing non-object) parents.
fn insert_nested(fields: &mut Fields, first: &Name, rest: &[String], value: Value) {
    let Some((last, parents)) = rest.split_last() else {
        fields.insert(first.clone(), value);
        return;
    };
    let slot = fields.get_or_insert_with(first.clone(), || Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    let mut map = match slot {
        Value::Object(map) => map,
        _ => return,
    };
    for key in parents {
        let slot = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(inner) => map = inner,
            _ => return,
        }
    }
    map.insert(last.clone(), value);
}

impl Target {
    /// The target of a field named `name`, split at dots.
    pub(crate) fn new(name: &str) -> Self {
        let mut parts = name.split('.');
        let first = Name::interned(parts.next().unwrap_or_default());
        let rest: Vec<String> = parts.map(str::to_owned).collect();
        if rest.is_empty() {
            Target::Flat(first)
        } else {
            Target::Nested(first, rest)
        }
    }

    /// The dotted name.
    pub(crate) fn dotted(&self) -> String {
        match self {
            Target::Flat(key) => key.to_string(),
            Target::Nested(first, rest) => {
                let mut name = first.to_string();
                for key in rest {
                    name.push('.');
                    name.push_str(key);
                }
                name
            }
        }
    }

    /// Sets the target in `fields`.
    pub(crate) fn insert(&self, fields: &mut Fields, value: Value) {
        match self {
            Target::Flat(key) => {
                fields.insert(key.clone(), value);
            }
            Target::Nested(first, rest) => insert_nested(fields, first, rest, value),
        }
    }

    fn get<'a>(&self, fields: &'a Fields) -> Option<&'a Value> {
        match self {
            Target::Flat(key) => fields.get(key),
            Target::Nested(first, rest) => {
                let mut value = fields.get(first)?;
                for key in rest {
                    value = value.as_object()?.get(key)?;
                }
                Some(value)
            }
        }
    }
}

struct CompiledRelationship {
    source: SlotPath,
    target_type: Name,
    kind: RelationshipKind,
    strength: u8,
    bidirectional: bool,
}

struct CompiledFilter {
    field: SlotPath,
    op: FilterOp,
    value: Value,
}

struct CompiledValidation {
    field: String,
    /// Index of the field mapping that produces the target.
    field_index: usize,
    rule_name: String,
    rule: CompiledRule,
    message: Option<String>,
}

impl Mapper {
    /// Compiles a mapping that uses no custom transforms or rules.
    ///
    /// # Errors
    ///
    /// As [`with_registry`](Self::with_registry).
    pub fn new(mapping: &EntityMapping) -> Result<Self> {
        Self::with_registry(mapping, &TransformRegistry::new())
    }

    /// Compiles a mapping, resolving custom transforms and rules in `registry`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error when the mapping fails
    /// [`EntityMapping::validate`] or names a custom transform or rule the registry
    /// lacks.
    pub fn with_registry(mapping: &EntityMapping, registry: &TransformRegistry) -> Result<Self> {
        mapping.validate()?;
        let mut problems = Vec::new();
        let fields: Vec<CompiledField> = mapping
            .fields
            .iter()
            .map(|f| CompiledField {
                source: SlotPath::new(&f.source),
                target: Target::new(&f.target),
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
            })
            .collect();
        let mut rules = Vec::new();
        for rule in &mapping.validation {
            let Some(field_index) = mapping.fields.iter().position(|f| f.target == rule.field)
            else {
                // `validate` has reported it already.
                continue;
            };
            match CompiledRule::compile(&rule.rule, registry) {
                Ok(compiled) => rules.push(CompiledValidation {
                    field: rule.field.clone(),
                    field_index,
                    rule_name: rule.rule.name().to_owned(),
                    rule: compiled,
                    message: rule.message.clone(),
                }),
                Err(p) => problems.push(format!("validation of `{}`: {p}", rule.field)),
            }
        }
        if !problems.is_empty() {
            return Err(ConnectorError::config(format!(
                "entity mapping `{}`: {}",
                mapping.source_type,
                problems.join("; ")
            ))
            .with_entity(mapping.source_type.clone()));
        }
        let relationships = mapping
            .relationships
            .iter()
            .map(|r| CompiledRelationship {
                source: SlotPath::new(&r.source_field),
                target_type: Name::interned(&r.target_type),
                kind: r.kind.clone(),
                strength: r.strength.unwrap_or(Relationship::DEFAULT_STRENGTH),
                bidirectional: r.bidirectional,
            })
            .collect();
        let filters = mapping
            .filters
            .iter()
            .map(|f| CompiledFilter {
                field: SlotPath::new(&f.field),
                op: f.op,
                value: f.value.clone().unwrap_or(Value::Null),
            })
            .collect();
        let sorted_flat = fields
            .iter()
            .enumerate()
            .map(|(index, f)| match &f.target {
                Target::Flat(key) => Some((index, key.clone())),
                Target::Nested(..) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|mut order| {
                order.sort_by(|a, b| a.1.cmp(&b.1));
                order
            });
        let mut field_rules = vec![Vec::new(); fields.len()];
        for (index, rule) in rules.iter().enumerate() {
            field_rules[rule.field_index].push(index);
        }
        let mut relationships: Vec<CompiledRelationship> = relationships;
        let mut filters: Vec<CompiledFilter> = filters;
        let mut fields = fields;
        let mut external_id = SlotPath::new(&mapping.external_id);
        let mut created_at = mapping.created_at.as_ref().map(SlotPath::new);
        let mut updated_at = mapping.updated_at.as_ref().map(SlotPath::new);
        let reads_whole_source = fields.iter().any(|f| {
            f.transforms
                .iter()
                .any(|(_, t)| matches!(t, CompiledTransform::Coalesce { .. }))
        });
        let top_keys = assign_slots(
            std::iter::once(&mut external_id)
                .chain(created_at.as_mut())
                .chain(updated_at.as_mut())
                .chain(fields.iter_mut().map(|f| &mut f.source))
                .chain(relationships.iter_mut().map(|r| &mut r.source))
                .chain(filters.iter_mut().map(|f| &mut f.field))
                .collect(),
        );
        Ok(Self {
            inner: Arc::new(Compiled {
                mapping: mapping.clone(),
                target_type: Name::interned(&mapping.target_type),
                subject: format!("breaks mapping {}", mapping.source_type),
                external_id,
                created_at,
                updated_at,
                fields,
                sorted_flat,
                top_keys,
                reads_whole_source,
                field_rules,
                relationships,
                filters,
                rules,
            }),
            keep_raw: false,
        })
    }

    /// Keeps (or stops keeping) a copy of the source object in [`Record::raw`].
    /// Off by default; it costs a deep copy per record.
    pub fn with_raw(mut self, keep_raw: bool) -> Self {
        self.keep_raw = keep_raw;
        self
    }

    /// The mapping this mapper was compiled from.
    pub fn mapping(&self) -> &EntityMapping {
        &self.inner.mapping
    }

    /// Tests the mapping's filters only: false when the record would be skipped.
    pub fn accepts(&self, source: &Value) -> bool {
        let resolver = Resolver::new(source, None);
        self.inner.filters.iter().all(|f| f.matches(&resolver))
    }

    /// Maps one source object.
    ///
    /// Returns `Ok(None)` when a filter excludes the record.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Validation`](crate::ErrorKind::Validation) error carrying every
    /// problem of the record as a [`FieldError`]: a missing external id, a missing
    /// required field (named by source path), a transform that cannot convert the value
    /// (named by source path, rule = the transform), a broken validation rule (named by
    /// target field), an unparsable timestamp or relationship. Its context names
    /// the connector, the entity (the source type) and the external id when known.
    ///
    /// Pass the connector as a [`Name`] when mapping many records: a `&str` is
    /// copied into each record.
    pub fn map(&self, source: &Value, connector: impl Into<Name>) -> Result<Option<Record>> {
        let connector: Name = connector.into();
        let Some(draft) = self.draft(source, &connector, false)? else {
            return Ok(None);
        };
        let raw = self.keep_raw.then(|| source.clone());
        Ok(Some(draft.into_record(
            &self.inner.target_type,
            connector,
            raw,
        )))
    }

    /// Maps one source object it is given to keep: [`map`](Self::map) for a source
    /// the caller no longer needs, as a fetch stream has once a page is decoded.
    ///
    /// Values the record takes unchanged from the source (strings, nested objects,
    /// arrays, the external id) are moved out of it instead of copied, so a record
    /// costs fewer allocations and the source less to drop. With
    /// [`with_raw`](Self::with_raw) set the source itself becomes the record's `raw`
    /// (no copy either). The record, and any error, is exactly what
    /// [`map`](Self::map) returns for the same source.
    ///
    /// ```
    /// use connector_core::mapping::{EntityMapping, FieldMapping, FieldPath, Mapper};
    /// use serde_json::json;
    ///
    /// let mapping = EntityMapping::new("issue", "ISSUE", "Issues", FieldPath::parse("id")?)
    ///     .with_field(FieldMapping::new(FieldPath::parse("user")?, "author"));
    /// let mapper = Mapper::new(&mapping)?;
    /// let source = json!({ "id": 7, "user": { "login": "octocat", "id": 1 } });
    /// let borrowed = mapper.map(&source, "github")?;
    /// let owned = mapper.map_owned(source, "github")?;
    /// assert_eq!(owned, borrowed);
    /// assert_eq!(owned.unwrap().field("author"), Some(&json!({ "login": "octocat", "id": 1 })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_owned(
        &self,
        mut source: Value,
        connector: impl Into<Name>,
    ) -> Result<Option<Record>> {
        let connector: Name = connector.into();
        let target_type = &self.inner.target_type;
        if self.keep_raw {
            // The source is kept whole: nothing can move out of it.
            let Some(draft) = self.draft(&source, &connector, false)? else {
                return Ok(None);
            };
            return Ok(Some(draft.into_record(
                target_type,
                connector,
                Some(source),
            )));
        }
        let Some(mut draft) = self.draft(&source, &connector, true)? else {
            return Ok(None);
        };
        draft.take_from(&mut source);
        Ok(Some(draft.into_record(target_type, connector, None)))
    }

    /// The sorted first keys a [`RecordSeed`](super::RecordSeed) decodes into
    /// slots, when the mapper can map from them: every path it reads starts with
    /// one of them, no `coalesce` reads the whole source, and the source is not
    /// kept as `raw`. `None`: the seed decodes the whole source.
    pub(crate) fn decodes_slots(&self) -> Option<&[String]> {
        if self.keep_raw || self.inner.reads_whole_source {
            return None;
        }
        self.inner.top_keys.as_deref()
    }

    /// For each slot of [`decodes_slots`](Self::decodes_slots), the sorted keys of
    /// its value that the mapping reads, when every path through the slot goes on
    /// to a key of an object (`user.login`, `pull_request.url`): the seed can then
    /// keep only those keys of that object. `None` for a slot some path reads
    /// whole, or goes on from by index or projection (`user`, `labels[].name`).
    pub(crate) fn slot_sub_keys(&self) -> Vec<Option<Vec<String>>> {
        let c = &*self.inner;
        let Some(top) = &c.top_keys else {
            return Vec::new();
        };
        let mut sub: Vec<Option<Vec<String>>> = vec![Some(Vec::new()); top.len()];
        let paths = std::iter::once(&c.external_id)
            .chain(c.created_at.as_ref())
            .chain(c.updated_at.as_ref())
            .chain(c.fields.iter().map(|f| &f.source))
            .chain(c.relationships.iter().map(|r| &r.source))
            .chain(c.filters.iter().map(|f| &f.field));
        for path in paths {
            let Some(keys) = sub.get_mut(path.slot) else {
                continue;
            };
            match (path.path.segments().get(1), keys.as_mut()) {
                (Some(Segment::Key(key)), Some(keys)) => keys.push(key.clone()),
                _ => *keys = None,
            }
        }
        for keys in sub.iter_mut().flatten() {
            keys.sort();
            keys.dedup();
        }
        sub
    }

    /// [`map_owned`](Self::map_owned) of an object whose top-level values are in
    /// `slots` (by [`decodes_slots`](Self::decodes_slots)' keys) and which has no
    /// other keys the mapping reads.
    pub(crate) fn map_slots(&self, mut slots: Slots, connector: Name) -> Result<Option<Record>> {
        let draft = {
            let resolver = Resolver::from_slots(&slots);
            self.draft_with(&resolver, &NO_SOURCE, &connector, true)?
        };
        let Some(mut draft) = draft else {
            return Ok(None);
        };
        draft.take_from_slots(&mut slots);
        Ok(Some(draft.into_record(
            &self.inner.target_type,
            connector,
            None,
        )))
    }

    /// Everything [`map`](Self::map) decides about one source, short of building
    /// the record. With `movable`, values found unchanged in the source are left
    /// there and named by address in [`Draft::found`], for
    /// [`Draft::take_from`] to move out once the source is no longer borrowed.
    fn draft(&self, source: &Value, connector: &Name, movable: bool) -> Result<Option<Draft>> {
        let resolver = Resolver::new(source, self.inner.top_keys.as_deref());
        self.draft_with(&resolver, source, connector, movable)
    }

    /// [`draft`](Self::draft) through `resolver`; `source` is the whole source,
    /// which only `coalesce` reads.
    fn draft_with<'v>(
        &self,
        resolver: &Resolver<'v>,
        source: &'v Value,
        connector: &Name,
        movable: bool,
    ) -> Result<Option<Draft>> {
        let c = &*self.inner;
        if !c.filters.iter().all(|f| f.matches(resolver)) {
            return Ok(None);
        }
        let mut errors = Vec::new();
        // Every field and the external id may move out of the source: one
        // allocation up front instead of growing while the fields are mapped.
        let mut found: Vec<Found> = if movable {
            Vec::with_capacity(c.fields.len() + 1)
        } else {
            Vec::new()
        };

        let external_id_value = resolver.get(&c.external_id);
        // A string id found as it is in the source can move out of it too.
        let id_at = match &external_id_value {
            Some(Cow::Borrowed(at @ Value::String(_))) if movable && worth_moving(at) => {
                Some(Found {
                    at: FoundAt::of(at),
                    place: Place::ExternalId,
                    within: resolver.first(&c.external_id).map(FoundAt::of),
                })
            }
            _ => None,
        };
        let external_id: Option<Cow<'_, str>> = match external_id_value.as_deref() {
            None | Some(Value::Null) => {
                errors.push(FieldError::new(
                    c.external_id.as_str(),
                    "required",
                    "external id is missing",
                ));
                None
            }
            Some(Value::String(s)) if s.is_empty() => {
                errors.push(FieldError::new(
                    c.external_id.as_str(),
                    "required",
                    "external id is empty",
                ));
                None
            }
            Some(v) => match coerce::to_string_lossless(v) {
                Ok(id) => Some(id),
                Err(e) => {
                    errors.push(FieldError::new(
                        c.external_id.as_str(),
                        "type",
                        e.to_string(),
                    ));
                    None
                }
            },
        };

        let mut field_errors: Vec<(usize, FieldError)> = Vec::new();
        // (rule index, error), reported in rule order after the field errors.
        let mut rule_errors: Vec<(usize, FieldError)> = Vec::new();
        let fields = match &c.sorted_flat {
            Some(order) => {
                // Flat, distinct targets: a field's rules see exactly the value it
                // produces, so they run here instead of looking it up afterwards.
                let mut fields = Fields::with_capacity(order.len());
                for (index, key) in order {
                    let field = &c.fields[*index];
                    match field.map(resolver.get(&field.source), source) {
                        Ok(value) => {
                            for &rule in &c.field_rules[*index] {
                                c.rules[rule].check(rule, value.as_deref(), &mut rule_errors);
                            }
                            let value = match value {
                                Some(Cow::Borrowed(at)) if movable && worth_moving(at) => {
                                    found.push(Found {
                                        at: FoundAt::of(at),
                                        place: Place::Field(fields.len()),
                                        within: resolver.first(&field.source).map(FoundAt::of),
                                    });
                                    Value::Null
                                }
                                Some(value) => value.into_owned(),
                                None => continue,
                            };
                            // Sorted, unique keys: each one appends.
                            fields.push_sorted(key.clone(), value);
                        }
                        // A field that failed has its rules skipped.
                        Err(error) => field_errors.push((*index, error)),
                    }
                }
                fields
            }
            None => {
                // Indexes of fields that failed; their validation rules are not run.
                let mut failed: Vec<usize> = Vec::new();
                let mut fields = Fields::with_capacity(c.fields.len());
                for (index, field) in c.fields.iter().enumerate() {
                    match field.map(resolver.get(&field.source), source) {
                        Ok(Some(value)) => field.target.insert(&mut fields, value.into_owned()),
                        Ok(None) => {}
                        Err(error) => {
                            field_errors.push((index, error));
                            failed.push(index);
                        }
                    }
                }
                for (index, rule) in c.rules.iter().enumerate() {
                    if failed.contains(&rule.field_index) {
                        continue;
                    }
                    let value = c.fields[rule.field_index].target.get(&fields);
                    rule.check(index, value, &mut rule_errors);
                }
                fields
            }
        };
        // Report in mapping order, then rule order.
        field_errors.sort_by_key(|(index, _)| *index);
        errors.extend(field_errors.into_iter().map(|(_, error)| error));
        rule_errors.sort_by_key(|(index, _)| *index);
        errors.extend(rule_errors.into_iter().map(|(_, error)| error));

        let created_at = timestamp(c.created_at.as_ref(), resolver, &mut errors);
        let updated_at = timestamp(c.updated_at.as_ref(), resolver, &mut errors);

        let mut relationships = Vec::new();
        if let Some(id) = &external_id {
            let mut from = FromEnd {
                entity_type: &c.target_type,
                id,
                shared: None,
            };
            for rel in &c.relationships {
                rel.extract(&mut from, resolver, &mut relationships, &mut errors);
            }
        }

        match external_id {
            Some(external_id) if errors.is_empty() => {
                let external_id = match id_at {
                    Some(id_at) => {
                        found.push(id_at);
                        String::new()
                    }
                    None => external_id.into_owned(),
                };
                Ok(Some(Draft {
                    external_id,
                    fields,
                    relationships,
                    created_at,
                    updated_at,
                    found,
                }))
            }
            external_id => {
                let subject = match &external_id {
                    Some(id) => format!("record {id} {}", c.subject),
                    None => format!("record {}", c.subject),
                };
                let mut err = ConnectorError::validation(subject, errors)
                    .with_connector(connector.as_str())
                    .with_entity(c.mapping.source_type.as_str());
                if let Some(id) = external_id {
                    err = err.with_external_id(id.into_owned());
                }
                Err(err)
            }
        }
    }
}

/// A record as [`Mapper::draft`] decided it, with the values still to be moved out
/// of the source (none unless the draft was made to move them).
struct Draft {
    /// Empty while [`Place::ExternalId`] is in `found`.
    external_id: String,
    /// `Value::Null` at every [`Place::Field`] in `found`.
    fields: Fields,
    relationships: Vec<Relationship>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    found: Vec<Found>,
}

/// Whether moving `value` out of its source saves more than finding it again
/// costs: a copy of a number, a boolean, an empty container or a short string is
/// about as cheap as the search.
fn worth_moving(value: &Value) -> bool {
    /// Strings shorter than this are copied.
    const MIN_MOVED_STRING: usize = 24;
    match value {
        Value::String(s) => s.len() >= MIN_MOVED_STRING,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A value [`Mapper::draft`] left in the source, to move into the record.
struct Found {
    /// The value.
    at: FoundAt,
    /// Where it goes.
    place: Place,
    /// The top-level value of the source its field's path starts at: where it
    /// most likely lies (a transform may have found it elsewhere).
    within: Option<FoundAt>,
}

/// The address of a value inside the source being mapped: compared, never read.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FoundAt(*const Value);

impl FoundAt {
    fn of(value: &Value) -> Self {
        Self(std::ptr::from_ref(value))
    }

    fn is(self, value: &Value) -> bool {
        std::ptr::eq(self.0, value)
    }
}

/// Where in the record a value found in the source goes.
#[derive(Clone, Copy)]
enum Place {
    ExternalId,
    /// The field at this position of the record's fields.
    Field(usize),
}

impl Draft {
    /// Moves every value in `found` out of `source` (the very source the draft was
    /// made from, unchanged since) into its place in the record.
    ///
    /// The top-level values the fields' paths start at are searched first, one
    /// pass over the source object; anything not there (a transform found it
    /// elsewhere) is searched for in the whole source. A value wanted twice is
    /// copied for all but the last of its places, and a value inside another one
    /// that moves is copied before it goes.
    fn take_from(&mut self, source: &mut Value) {
        if self.found.is_empty() {
            return;
        }
        let mut found = std::mem::take(&mut self.found);
        if let Value::Object(map) = source {
            self.take_within(map.values_mut(), &mut found);
        }
        if !found.is_empty() {
            self.take_in(source, &mut found);
        }
        // Every address came from borrowing `source`, so all were found; should one
        // not be, its place keeps the draft's value rather than panicking.
        debug_assert!(found.is_empty(), "every value found in the source is taken");
    }

    /// [`take_from`](Self::take_from) for a draft made from decoded slots: the
    /// slots are the whole source.
    fn take_from_slots(&mut self, slots: &mut Slots) {
        if self.found.is_empty() {
            return;
        }
        let mut found = std::mem::take(&mut self.found);
        self.take_within(slots.iter_mut().flatten(), &mut found);
        for value in slots.iter_mut().flatten() {
            if found.is_empty() {
                break;
            }
            self.take_in(value, &mut found);
        }
        debug_assert!(found.is_empty(), "every value found in the slots is taken");
    }

    /// Takes what `found` names from the top-level values its fields' paths start
    /// at, where it most likely lies.
    fn take_within<'a>(
        &mut self,
        top_level: impl Iterator<Item = &'a mut Value>,
        found: &mut Vec<Found>,
    ) {
        for value in top_level {
            if found.is_empty() {
                break;
            }
            if found.iter().any(|f| f.within.is_some_and(|w| w.is(value))) {
                self.take_in(value, found);
            }
        }
    }

    fn take_in(&mut self, node: &mut Value, found: &mut Vec<Found>) {
        if found.iter().any(|f| f.at.is(node)) {
            // Anything else still wanted may lie inside `node`: copy it first.
            if found.iter().any(|f| !f.at.is(node)) {
                self.copy_inside(node, found);
            }
            // Copies for all places but the last that want this value; the last
            // takes it.
            while let Some(i) = found.iter().position(|f| f.at.is(node)) {
                let place = found.swap_remove(i).place;
                if found.iter().any(|f| f.at.is(node)) {
                    self.put(place, node.clone());
                } else {
                    self.put(place, std::mem::take(node));
                }
            }
            return;
        }
        match node {
            Value::Object(map) => {
                for value in map.values_mut() {
                    if found.is_empty() {
                        return;
                    }
                    self.take_in(value, found);
                }
            }
            Value::Array(items) => {
                for value in items {
                    if found.is_empty() {
                        return;
                    }
                    self.take_in(value, found);
                }
            }
            _ => {}
        }
    }

    /// Copies every value of `found` that lies strictly inside `node`, which is
    /// about to move, and forgets them.
    fn copy_inside(&mut self, node: &Value, found: &mut Vec<Found>) {
        let (mut values, mut items);
        let children: &mut dyn Iterator<Item = &Value> = match node {
            Value::Object(map) => {
                values = map.values();
                &mut values
            }
            Value::Array(list) => {
                items = list.iter();
                &mut items
            }
            _ => return,
        };
        for child in children {
            while let Some(i) = found.iter().position(|f| f.at.is(child)) {
                let place = found.swap_remove(i).place;
                self.put(place, child.clone());
            }
            if found.is_empty() {
                return;
            }
            self.copy_inside(child, found);
        }
    }

    fn put(&mut self, place: Place, value: Value) {
        match place {
            Place::ExternalId => {
                self.external_id = match value {
                    Value::String(s) => s,
                    other => coerce::to_string_lossless(&other)
                        .map(Cow::into_owned)
                        .unwrap_or_default(),
                };
            }
            Place::Field(i) => {
                if let Some(slot) = self.fields.value_at_mut(i) {
                    *slot = value;
                }
            }
        }
    }

    fn into_record(self, target_type: &Name, connector: Name, raw: Option<Value>) -> Record {
        let mut record = Record::new(target_type.clone(), self.external_id, connector);
        record.fields = self.fields;
        record.relationships = self.relationships;
        record.created_at = self.created_at;
        record.updated_at = self.updated_at;
        record.raw = raw;
        record
    }
}

impl CompiledField {
    /// The field's final value from the value its source path found, `None` when
    /// absent and not required.
    fn map<'v>(
        &self,
        found: Option<Cow<'v, Value>>,
        source: &'v Value,
    ) -> std::result::Result<Option<Cow<'v, Value>>, FieldError> {
        let mut value = found.filter(|v| !v.is_null());
        for (name, transform) in &self.transforms {
            value = transform
                .apply(value, source)
                .map_err(|message| FieldError::new(self.source.as_str(), name.as_str(), message))?
                .filter(|v| !v.is_null());
        }
        let value = match value {
            Some(v) => Some(v),
            None => self.default.clone().map(Cow::Owned),
        };
        if self.required {
            match value.as_deref() {
                None => {
                    return Err(FieldError::new(
                        self.source.as_str(),
                        "required",
                        "required field is missing",
                    ));
                }
                Some(Value::String(s)) if s.is_empty() => {
                    return Err(FieldError::new(
                        self.source.as_str(),
                        "required",
                        "required field is empty",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(value)
    }
}

impl CompiledValidation {
    /// Checks the rule (number `index` of the mapping) against the value its target
    /// got, recording a failure.
    fn check(&self, index: usize, value: Option<&Value>, errors: &mut Vec<(usize, FieldError)>) {
        if let Err(message) = self.rule.check(value) {
            let message = self.message.clone().unwrap_or_else(|| message.into_owned());
            errors.push((
                index,
                FieldError::new(self.field.as_str(), self.rule_name.as_str(), message),
            ));
        }
    }
}

impl CompiledFilter {
    fn matches(&self, resolver: &Resolver<'_>) -> bool {
        let value = resolver.get(&self.field).filter(|v| !v.is_null());
        let value = value.as_deref();
        match self.op {
            FilterOp::Exists => value.is_some(),
            FilterOp::Missing => value.is_none(),
            FilterOp::Eq => value.is_some_and(|v| loosely_equal(v, &self.value)),
            FilterOp::Ne => !value.is_some_and(|v| loosely_equal(v, &self.value)),
            FilterOp::In => value.is_some_and(|v| self.is_listed(v)),
            FilterOp::NotIn => !value.is_some_and(|v| self.is_listed(v)),
        }
    }

    fn is_listed(&self, value: &Value) -> bool {
        self.value
            .as_array()
            .is_some_and(|list| list.iter().any(|x| loosely_equal(x, value)))
    }
}

/// The record a mapping's relationships start at: its type and id, the id shared
/// by every relationship once the first one is found.
struct FromEnd<'a> {
    entity_type: &'a Name,
    id: &'a str,
    shared: Option<Arc<str>>,
}

impl FromEnd<'_> {
    fn shared_id(&mut self) -> Arc<str> {
        Arc::clone(self.shared.get_or_insert_with(|| Arc::from(self.id)))
    }
}

impl CompiledRelationship {
    fn extract(
        &self,
        from: &mut FromEnd<'_>,
        resolver: &Resolver<'_>,
        out: &mut Vec<Relationship>,
        errors: &mut Vec<FieldError>,
    ) {
        let Some(value) = resolver.get(&self.source) else {
            return;
        };
        match &*value {
            Value::Array(items) => {
                for item in items {
                    self.push_one(from, item, out, errors);
                }
            }
            other => self.push_one(from, other, out, errors),
        }
    }

    fn push_one(
        &self,
        from: &mut FromEnd<'_>,
        value: &Value,
        out: &mut Vec<Relationship>,
        errors: &mut Vec<FieldError>,
    ) {
        let id = match reference_id(value) {
            Ok(Some(id)) => id,
            Ok(None) => return,
            Err(message) => {
                errors.push(FieldError::new(
                    self.source.as_str(),
                    "relationship",
                    message,
                ));
                return;
            }
        };
        out.push(
            Relationship::new(
                (from.entity_type.clone(), from.shared_id()),
                self.kind.clone(),
                (self.target_type.clone(), id),
            )
            .with_strength(self.strength)
            .with_bidirectional(self.bidirectional),
        );
    }
}

/// The id a relationship source value names: a string, a number, or a reference
/// object's `value` (ServiceNow) or `id` (Graph). `Ok(None)` for `null` and `""`
/// (ServiceNow sends an unset reference as `""`). Shared by the dynamic and typed
/// mappers.
pub(crate) fn reference_id(value: &Value) -> std::result::Result<Option<Cow<'_, str>>, String> {
    let id = match value {
        Value::Null => return Ok(None),
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Object(map) => match map.get("value").or_else(|| map.get("id")) {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
            _ => return Err("expected a reference object with a `value` or `id` string".into()),
        },
        other => {
            return Err(coerce::CoerceError::new(
                "an id, a list of ids or a reference object",
                other,
            )
            .to_string());
        }
    };
    Ok(if id.is_empty() { None } else { Some(id) })
}

/// Gives each path the slot of its first key; returns the sorted keys when a merge
/// pass can find them (see `Compiled::top_keys`).
pub(crate) fn assign_slots(mut paths: Vec<&mut SlotPath>) -> Option<Vec<String>> {
    let mut keys: Vec<String> = paths
        .iter()
        .filter_map(|p| p.path.first_key().map(str::to_owned))
        .collect();
    keys.sort();
    keys.dedup();
    if keys.len() > MAX_SLOTS || !map_iterates_in_key_order() {
        return None;
    }
    for path in &mut paths {
        let first = path.path.first_key()?;
        path.slot = keys.binary_search_by(|k| k.as_str().cmp(first)).ok()?;
    }
    Some(keys)
}

/// True when `serde_json::Map` iterates in key order (a `BTreeMap`, i.e. without the
/// `preserve_order` feature, which cargo may enable for the whole build).
fn map_iterates_in_key_order() -> bool {
    let mut probe = Map::new();
    probe.insert("b".to_owned(), Value::Null);
    probe.insert("a".to_owned(), Value::Null);
    probe.insert("c".to_owned(), Value::Null);
    probe.keys().map(String::as_str).eq(["a", "b", "c"])
}

/// Finds the values of the sorted `keys` in one pass over a key-ordered `object`.
fn fill_slots<'v>(
    keys: &[String],
    object: &'v Map<String, Value>,
    slots: &mut [Option<&'v Value>],
) {
    let mut wanted = keys.iter().enumerate().peekable();
    for (key, value) in object {
        while let Some(&(slot, want)) = wanted.peek() {
            match want.as_str().cmp(key.as_str()) {
                std::cmp::Ordering::Less => {
                    wanted.next();
                }
                std::cmp::Ordering::Equal => {
                    slots[slot] = Some(value);
                    wanted.next();
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        if wanted.peek().is_none() {
            break;
        }
    }
}

fn timestamp(
    path: Option<&SlotPath>,
    resolver: &Resolver<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let path = path?;
    match resolver.get(path).as_deref() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => match coerce::to_datetime(v) {
            Ok(at) => Some(at),
            Err(e) => {
                errors.push(FieldError::new(path.as_str(), "datetime", e.to_string()));
                None
            }
        },
    }
}

impl fmt::Debug for Mapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        f.debug_struct("Mapper")
            .field("source_type", &c.mapping.source_type)
            .field("target_type", &c.mapping.target_type)
            .field("fields", &c.fields.len())
            .field("relationships", &c.relationships.len())
            .field("filters", &c.filters.len())
            .field("rules", &c.rules.len())
            .field("keep_raw", &self.keep_raw)
            .finish()
    }
}

/// Shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/support/map_checked.rs"]
mod map_checked;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::mapping::FieldMapping;
    use serde_json::json;

    fn mapping(v: Value) -> EntityMapping {
        serde_json::from_value(v).unwrap()
    }

    use map_checked::MapChecked;

    #[test]
    fn nested_targets_defaults_and_raw() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [
                {"source": "owner.mail", "target": "owner.email"},
                {"source": "owner.name", "target": "owner.name"},
                {"source": "tier", "target": "tier", "default": "bronze"},
                {"source": "gone", "target": "gone"}
            ]
        }));
        let mapper = Mapper::new(&m).unwrap().with_raw(true);
        let src = json!({"id": 7, "owner": {"mail": "a@b.c", "name": "A"}, "gone": null});
        let record = mapper.map_checked(&src, "c").unwrap().unwrap();
        assert_eq!(record.external_id, "7");
        assert_eq!(
            record.fields.to_value(),
            json!({"owner": {"email": "a@b.c", "name": "A"}, "tier": "bronze"})
        );
        assert_eq!(record.raw, Some(src));
    }

    #[test]
    fn unknown_custom_names_fail_at_compile_time() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "a", "target": "a", "transform": {"type": "custom", "name": "nope"}}],
            "validation": [{"field": "a", "rule": {"custom": {"name": "nah"}}}]
        }));
        let err = Mapper::new(&m).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.message(),
            "entity mapping `t`: field `a`: unknown custom transform `nope`; validation of `a`: \
             unknown custom rule `nah`"
        );
        let registry = TransformRegistry::new()
            .with_transform("nope", |v, _| Ok(v.clone()))
            .with_rule("nah", |_| Err("never".into()));
        let mapper = Mapper::with_registry(&m, &registry).unwrap();
        let err = mapper
            .map_checked(&json!({"id": "1", "a": "x"}), "c")
            .unwrap_err();
        assert_eq!(err.field_errors(), [FieldError::new("a", "nah", "never")]);
    }

    #[test]
    fn missing_external_id_and_bad_timestamps_are_errors() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "updated_at": "updated", "fields": []
        }));
        let mapper = Mapper::new(&m).unwrap();
        let err = mapper
            .map_checked(&json!({"updated": "soon"}), "c")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(
            err.field_errors(),
            [
                FieldError::new("id", "required", "external id is missing"),
                FieldError::new(
                    "updated",
                    "datetime",
                    "expected a date and time, found \"soon\""
                ),
            ]
        );
        assert_eq!(err.context().external_id, None);
        assert!(
            err.to_string()
                .starts_with("invalid record: record breaks mapping t: id: external id")
        );
        let err = mapper
            .map_checked(&json!({"id": {"x": 1}}), "c")
            .unwrap_err();
        assert_eq!(err.field_errors()[0].rule, "type");
        let ok = mapper
            .map_checked(&json!({"id": "1", "updated": ""}), "c")
            .unwrap()
            .unwrap();
        assert_eq!(ok.updated_at, None);
    }

    #[test]
    fn relationships_from_ids_lists_and_references() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "APP", "display_name": "T", "external_id": "id",
            "relationships": [
                {"source_field": "deps", "target_type": "APP", "kind": "DEPENDS_ON", "strength": 75},
                {"source_field": "host", "target_type": "NODE", "kind": "RUNS_ON", "bidirectional": true},
                {"source_field": "members[].id", "target_type": "USER", "kind": "CONTAINS"}
            ]
        }));
        let mapper = Mapper::new(&m).unwrap();
        let src = json!({
            "id": "a",
            "deps": ["b", {"link": "l", "value": "c"}, {"id": 4}, ""],
            "host": {"link": "l", "value": "h1"},
            "members": [{"id": "u1"}, {"id": "u2"}]
        });
        let record = mapper.map_checked(&src, "c").unwrap().unwrap();
        let got: Vec<_> = record
            .relationships
            .iter()
            .map(|r| {
                (
                    r.to_type.as_str(),
                    r.to_id.as_str(),
                    r.kind.as_str(),
                    r.strength,
                    r.bidirectional,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("APP", "b", "DEPENDS_ON", 75, false),
                ("APP", "c", "DEPENDS_ON", 75, false),
                ("APP", "4", "DEPENDS_ON", 75, false),
                ("NODE", "h1", "RUNS_ON", 50, true),
                ("USER", "u1", "CONTAINS", 50, false),
                ("USER", "u2", "CONTAINS", 50, false),
            ]
        );
        assert!(
            record
                .relationships
                .iter()
                .all(|r| r.from_type == "APP" && &*r.from_id == "a")
        );
        // One copy of the record's id, shared by its relationships.
        let first = &record.relationships[0].from_id;
        assert!(
            record
                .relationships
                .iter()
                .all(|r| std::sync::Arc::ptr_eq(&r.from_id, first))
        );
        let err = mapper
            .map_checked(&json!({"id": "a", "host": true}), "c")
            .unwrap_err();
        assert_eq!(
            err.field_errors(),
            [FieldError::new(
                "host",
                "relationship",
                "expected an id, a list of ids or a reference object, found true"
            )]
        );
    }

    #[test]
    fn filters() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "filters": [
                {"field": "install_status", "op": "ne", "value": 7},
                {"field": "class", "op": "in", "value": ["a", "b"]},
                {"field": "deleted", "op": "missing"}
            ]
        }));
        let mapper = Mapper::new(&m).unwrap();
        let ok = json!({"id": "1", "install_status": "1", "class": "a"});
        assert!(mapper.map_checked(&ok, "c").unwrap().is_some());
        for skipped in [
            json!({"id": "1", "install_status": "7", "class": "a"}),
            json!({"id": "1", "class": "c"}),
            json!({"id": "1", "class": "a", "deleted": true}),
            // Filters run first: a skipped record is not validated.
            json!({"install_status": 7}),
        ] {
            assert!(
                mapper.map_checked(&skipped, "c").unwrap().is_none(),
                "{skipped}"
            );
        }
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "filters": [
                {"field": "a", "op": "eq", "value": "x"},
                {"field": "b", "op": "not_in", "value": [1, 2]},
                {"field": "c", "op": "exists"}
            ]
        }));
        let mapper = Mapper::new(&m).unwrap();
        assert!(mapper.accepts(&json!({"a": "x", "b": 3, "c": 0})));
        assert!(mapper.accepts(&json!({"a": "x", "c": 0})));
        assert!(!mapper.accepts(&json!({"a": "y", "c": 0})));
        assert!(!mapper.accepts(&json!({"a": "x", "b": "2", "c": 0})));
        assert!(!mapper.accepts(&json!({"a": "x", "c": null})));
    }

    #[test]
    fn transform_errors_name_source_path_and_transform() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [
                {"source": "cpu_count", "target": "cpuCount", "transform": "to_number"},
                {"source": "x", "target": "x", "required": true, "transform": {"type": "constant", "value": ""}}
            ]
        }));
        let err = Mapper::new(&m)
            .unwrap()
            .map_checked(&json!({"id": "1", "cpu_count": "four"}), "c")
            .unwrap_err();
        assert_eq!(
            err.field_errors(),
            [
                FieldError::new(
                    "cpu_count",
                    "to_number",
                    "expected a number, found \"four\""
                ),
                FieldError::new("x", "required", "required field is empty"),
            ]
        );
        assert_eq!(err.context().external_id.as_deref(), Some("1"));
        assert_eq!(err.context().connector.as_deref(), Some("c"));
        assert_eq!(err.context().entity.as_deref(), Some("t"));
    }

    #[test]
    fn merged_first_key_lookup_agrees_with_plain_resolution() {
        let paths = [
            "id",
            "B",
            "a",
            "\"a.b\"",
            "a.b",
            "zz",
            "ü",
            "items[].id",
            "items[1]",
            "missing",
            "\"\"",
            "n",
            "a.missing",
            "\"@odata.type\"",
        ];
        let mut mapping = EntityMapping::new("t", "T", "T", FieldPath::parse("id").unwrap());
        for (i, p) in paths.iter().enumerate() {
            mapping.fields.push(FieldMapping::new(
                FieldPath::parse(p).unwrap(),
                format!("f{i}"),
            ));
        }
        let mapper = Mapper::new(&mapping).unwrap();
        let c = &*mapper.inner;
        assert!(
            c.top_keys.is_some(),
            "serde_json::Map iterates in key order here"
        );
        let source = json!({
            "id": 1, "B": 2, "a": {"b": 3}, "a.b": 4, "zz": 5, "ü": 6, "": 7, "n": null,
            "items": [{"id": "x"}, {"id": "y"}], "@odata.type": "#t", "other": 8
        });
        let merged = Resolver::new(&source, c.top_keys.as_deref());
        let plain = Resolver::new(&source, None);
        assert!(merged.slots.is_some() && plain.slots.is_none());
        for field in &c.fields {
            assert_eq!(
                merged.get(&field.source),
                plain.get(&field.source),
                "{}",
                field.source.as_str()
            );
        }
        // Non-objects never match.
        let not_object = json!([1]);
        assert_eq!(
            Resolver::new(&not_object, c.top_keys.as_deref()).get(&c.external_id),
            None
        );

        // Too many distinct first keys: plain lookups.
        let mut wide = EntityMapping::new("t", "T", "T", FieldPath::parse("id").unwrap());
        for i in 0..MAX_SLOTS {
            wide.fields.push(FieldMapping::new(
                FieldPath::parse(&format!("k{i}")).unwrap(),
                format!("k{i}"),
            ));
        }
        let wide = Mapper::new(&wide).unwrap();
        assert!(wide.inner.top_keys.is_none());
        let record = wide
            .map_checked(&json!({"id": "1", "k31": true}), "c")
            .unwrap()
            .unwrap();
        assert_eq!(record.field("k31"), Some(&json!(true)));
    }

    #[test]
    fn rule_errors_follow_field_errors_in_rule_order_flat_or_nested() {
        for nested in [false, true] {
            let owner = if nested { "owner.name" } else { "owner" };
            let m = mapping(json!({
                "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
                "fields": [
                    {"source": "z", "target": "zeta", "transform": "to_number"},
                    {"source": "o", "target": owner},
                    {"source": "a", "target": "alpha"},
                    {"source": "d", "target": "delta", "default": null}
                ],
                "validation": [
                    {"field": "alpha", "rule": {"min_length": 3}},
                    {"field": owner, "rule": "required", "message": "need an owner"},
                    {"field": "zeta", "rule": "required"},
                    {"field": "alpha", "rule": {"pattern": "^[a-z]+$"}},
                    {"field": "delta", "rule": "required"}
                ]
            }));
            let mapper = Mapper::new(&m).unwrap();
            assert_eq!(mapper.inner.sorted_flat.is_some(), !nested);
            let err = mapper
                .map_checked(&json!({"id": "1", "z": "x", "a": "A"}), "c")
                .unwrap_err();
            assert_eq!(
                err.field_errors(),
                [
                    FieldError::new("z", "to_number", "expected a number, found \"x\""),
                    FieldError::new("alpha", "min_length", "must be at least 3 characters long"),
                    FieldError::new(owner, "required", "need an owner"),
                    FieldError::new("alpha", "pattern", "does not match pattern `^[a-z]+$`"),
                    FieldError::new("delta", "required", "required field is missing"),
                ],
                "nested: {nested}"
            );
            let ok = mapper
                .map(
                    &json!({"id": "1", "z": "4", "a": "abc", "o": "x", "d": 0}),
                    "c",
                )
                .unwrap()
                .unwrap();
            assert_eq!(ok.field("zeta"), Some(&json!(4)));
        }
    }

    #[test]
    fn mapper_is_send_sync_and_debug() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Mapper>();
        let m = mapping(
            json!({"source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id"}),
        );
        assert_eq!(
            format!("{:?}", Mapper::new(&m).unwrap()),
            "Mapper { source_type: \"t\", target_type: \"T\", fields: 0, relationships: 0, filters: 0, rules: 0, keep_raw: false }"
        );
    }

    #[test]
    fn map_owned_moves_what_map_copies_and_gives_the_same_record() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "created_at": "created",
            "fields": [
                // The external id is a field too: one copy, one move.
                {"source": "id", "target": "id"},
                // A whole object and a value inside it.
                {"source": "user", "target": "author"},
                {"source": "user.login", "target": "login"},
                // One source path, two targets.
                {"source": "title", "target": "title"},
                {"source": "title", "target": "headline"},
                // An element, a projection (computed, not found) and a whole array.
                {"source": "labels[0].name", "target": "first_label"},
                {"source": "labels[].name", "target": "label_names"},
                {"source": "labels", "target": "labels"},
                // A transform that borrows into the source, and one that computes.
                {"source": "owner", "target": "owner", "transforms": [{"type": "extract_reference"}]},
                {"source": "state", "target": "state", "transforms": [{"type": "upper"}]},
                // Absent, with a default.
                {"source": "tier", "target": "tier", "default": "bronze"},
                // Found by a transform elsewhere than its own path: inside a value
                // another field takes whole, and in a value nothing else takes.
                {"source": "nickname", "target": "fallback_login",
                 "transforms": [{"type": "coalesce", "paths": ["user.login"]}]},
                {"source": "alias", "target": "fallback_deep",
                 "transforms": [{"type": "coalesce", "paths": ["ignored.deep[1]"]}]}
            ],
            "relationships": [
                {"source_field": "owner", "target_type": "USER", "kind": "OWNS"}
            ]
        }));
        let mapper = Mapper::new(&m).unwrap();
        let source = json!({
            "id": "issue-0000000000000000000000001",
            "created": "2024-01-02T03:04:05Z",
            "user": {"login": "octocat-with-a-long-login-name", "id": 1},
            "title": "Broken after the token rotates mid-sync",
            "labels": [{"name": "bug"}, {"name": "p1"}],
            "owner": {"link": "https://x.example/u/9", "value": "user-00000000000000000000000009"},
            "state": "open",
            "ignored": {"deep": ["x", "a string long enough to be moved"]}
        });
        // Long strings, objects and arrays move; short strings and numbers are
        // copied (`worth_moving`): both kinds are here.
        let record = mapper.map_checked(&source, "c").unwrap().unwrap();
        assert_eq!(record.external_id, "issue-0000000000000000000000001");
        assert_eq!(record.fields["id"], "issue-0000000000000000000000001");
        assert_eq!(
            record.fields["author"],
            json!({"login": "octocat-with-a-long-login-name", "id": 1})
        );
        assert_eq!(record.fields["login"], "octocat-with-a-long-login-name");
        assert_eq!(
            record.fields["title"],
            "Broken after the token rotates mid-sync"
        );
        assert_eq!(
            record.fields["headline"],
            "Broken after the token rotates mid-sync"
        );
        assert_eq!(record.fields["first_label"], "bug");
        assert_eq!(record.fields["label_names"], json!(["bug", "p1"]));
        assert_eq!(
            record.fields["labels"],
            json!([{"name": "bug"}, {"name": "p1"}])
        );
        assert_eq!(record.fields["owner"], "user-00000000000000000000000009");
        assert_eq!(record.fields["state"], "OPEN");
        assert_eq!(record.fields["tier"], "bronze");
        assert_eq!(
            record.fields["fallback_login"],
            "octocat-with-a-long-login-name"
        );
        assert_eq!(
            record.fields["fallback_deep"],
            "a string long enough to be moved"
        );
        assert_eq!(
            record.relationships[0].to_id,
            "user-00000000000000000000000009"
        );

        // Moved, not copied: the owned record's long strings and containers hold
        // the source's own buffers; a short string is a copy.
        let at = |v: &Value| v.as_str().map(str::as_ptr);
        let (title, id, deep) = (
            at(&source["title"]),
            at(&source["id"]),
            at(&source["ignored"]["deep"][1]),
        );
        let (owner, login, label, bug) = (
            at(&source["owner"]["value"]),
            at(&source["user"]["login"]),
            at(&source["labels"][1]["name"]),
            at(&source["labels"][0]["name"]),
        );
        let owned = mapper.map_owned(source, "c").unwrap().unwrap();
        let f = &owned.fields;
        // Wanted twice: one place takes the buffer, the other a copy.
        assert!(at(&f["title"]) == title || at(&f["headline"]) == title);
        assert!(Some(owned.external_id.as_ptr()) == id || at(&f["id"]) == id);
        assert_eq!(at(&f["fallback_deep"]), deep);
        assert_eq!(at(&f["owner"]), owner);
        // Inside containers that moved whole.
        assert_eq!(at(&f["author"]["login"]), login);
        assert_eq!(at(&f["labels"][1]["name"]), label);
        assert_ne!(at(&f["first_label"]), bug);

        // A numeric id is converted, not moved; a nested target takes a copy.
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "name", "target": "owner.name"}, {"source": "id", "target": "n"}]
        }));
        let mapper = Mapper::new(&m).unwrap();
        let record = mapper
            .map_checked(&json!({"id": 42, "name": "Ada"}), "c")
            .unwrap()
            .unwrap();
        assert_eq!(record.external_id, "42");
        assert_eq!(record.fields["owner"], json!({"name": "Ada"}));
        assert_eq!(record.fields["n"], 42);
    }

    #[test]
    fn map_owned_keeps_the_whole_source_as_raw() {
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "name", "target": "name"}]
        }));
        let mapper = Mapper::new(&m).unwrap().with_raw(true);
        let source = json!({"id": "1", "name": "Ada", "extra": [1, 2]});
        let record = mapper.map_checked(&source, "c").unwrap().unwrap();
        assert_eq!(record.raw.as_ref(), Some(&source));
        assert_eq!(record.fields["name"], "Ada");
        // Filtered and failing sources alike.
        let m = mapping(json!({
            "source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "name", "target": "name", "required": true}],
            "filters": [{"field": "kind", "op": "eq", "value": "app"}]
        }));
        let mapper = Mapper::new(&m).unwrap();
        assert_eq!(
            mapper
                .map_checked(&json!({"id": "1", "kind": "db"}), "c")
                .unwrap(),
            None
        );
        let err = mapper
            .map_checked(&json!({"id": "1", "kind": "app"}), "c")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
    }
}
