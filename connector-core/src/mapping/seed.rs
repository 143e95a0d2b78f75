//! Decoding a source object straight into a record: [`RecordSeed`].

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::mapper::{MAX_SLOTS, Mapper, Slots};
use crate::error::Result;
use crate::name::Name;
use crate::record::Record;

/// Decodes one source object from JSON and maps it with a [`Mapper`], without
/// building the object as a `serde_json::Value` first.
///
/// A `serde::de::DeserializeSeed` (implemented for `&RecordSeed`): hand it to a
/// deserializer where a source object is, as `connector-http`'s
/// `PaginatedRequest::pages_with_seed` does for every item of a page. It gives
/// what [`Mapper::map_owned`] gives for the same object decoded as a `Value`
/// (the record, `None` when a filter skips it, or the record's validation
/// error), and fails only where decoding that `Value` would (malformed JSON).
///
/// It is cheaper because it decodes only the top-level fields the mapping reads,
/// each into a slot the mapper compiled for it: the fields the mapping does not
/// read are skipped without being built, and the object itself (its map and a
/// `String` per key) is never made. A field the mapping reads only by key
/// (`user.login`, never `user` whole or `user[0]`) keeps just those keys. When
/// the mapper keeps the source as `raw`, or a `coalesce` transform may read any
/// field, or the paths start with more than 32 different keys, the seed decodes
/// the whole object and calls [`Mapper::map_owned`].
///
/// ```
/// use connector_core::mapping::{EntityMapping, FieldMapping, FieldPath, Mapper};
/// use serde::de::DeserializeSeed;
/// use serde_json::json;
///
/// let mapping = EntityMapping::new("issue", "ISSUE", "Issues", FieldPath::parse("id")?)
///     .with_field(FieldMapping::new(FieldPath::parse("user.login")?, "author"));
/// let mapper = Mapper::new(&mapping)?;
/// let seed = mapper.record_seed("github");
///
/// let body = r#"{"id": 7, "user": {"login": "octocat"}, "reactions": {"+1": 3}}"#;
/// let mut json = serde_json::Deserializer::from_str(body);
/// let record = (&seed).deserialize(&mut json)?.expect("mapped").expect("not filtered");
///
/// let value: serde_json::Value = serde_json::from_str(body)?;
/// assert_eq!(Some(record.clone()), mapper.map_owned(value, "github")?);
/// assert_eq!(record.field("author"), Some(&json!("octocat")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RecordSeed {
    mapper: Mapper,
    connector: Name,
    /// The slot of each key the mapper decodes into slots; `None` when it
    /// decodes whole sources.
    index: Option<KeyIndex>,
}

impl fmt::Debug for RecordSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSeed")
            .field("mapping", &self.mapper.mapping().source_type)
            .field("connector", &self.connector)
            .finish()
    }
}

impl Mapper {
    /// A [`RecordSeed`] that decodes source objects and maps them with this
    /// mapper, for `connector`: [`map_owned`](Self::map_owned) straight from JSON.
    pub fn record_seed(&self, connector: impl Into<Name>) -> RecordSeed {
        RecordSeed {
            mapper: self.clone(),
            connector: connector.into(),
            index: self
                .decodes_slots()
                .map(|keys| KeyIndex::new(keys).with_sub_keys(self.slot_sub_keys())),
        }
    }
}

impl RecordSeed {
    /// The mapper it maps with.
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// Maps a source that is not an object, or one decoded whole.
    fn map_whole(&self, source: Value) -> Result<Option<Record>> {
        self.mapper.map_owned(source, self.connector.clone())
    }
}

impl<'de> DeserializeSeed<'de> for &RecordSeed {
    type Value = Result<Option<Record>>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        match &self.index {
            Some(index) => {
                deserializer.deserialize_any(ObjectOrValue(SourceVisitor { seed: self, index }))
            }
            None => Value::deserialize(deserializer).map(|source| self.map_whole(source)),
        }
    }
}

/// Decodes a source object's top-level fields into the mapper's slots.
struct SourceVisitor<'a> {
    seed: &'a RecordSeed,
    index: &'a KeyIndex,
}

impl<'de> ReadsObjects<'de> for SourceVisitor<'_> {
    type Out = Result<Option<Record>>;

    const EXPECTING: &'static str = "a source object";

    fn object<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Out, A::Error> {
        let mut slots: Slots = [const { None }; MAX_SLOTS];
        while let Some(slot) = map.next_key_seed(KeyWith(|key: &str| self.index.slot(key)))? {
            match slot {
                // A repeated key keeps its last value, as a decoded `Value` does.
                Some(slot) => {
                    slots[slot] = Some(match self.index.sub_keys(slot) {
                        Some(keys) => map.next_value_seed(SparseValue { keys })?,
                        None => map.next_value()?,
                    });
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(self
            .seed
            .mapper
            .map_slots(slots, self.seed.connector.clone()))
    }

    /// Anything but an object is mapped as a `Value`, for the same error.
    fn other(self, value: Value) -> Self::Out {
        self.seed.map_whole(value)
    }
}

/// A visitor that reads an object its own way ([`ReadsObjects::object`]) and
/// takes any other value decoded as a `Value` ([`ReadsObjects::other`]).
trait ReadsObjects<'de>: Sized {
    type Out;

    /// What the visitor expects, for decode errors.
    const EXPECTING: &'static str;

    fn object<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Out, A::Error>;

    fn other(self, value: Value) -> Self::Out;
}

/// The `serde` visitor of a [`ReadsObjects`].
struct ObjectOrValue<V>(V);

impl<'de, V: ReadsObjects<'de>> Visitor<'de> for ObjectOrValue<V> {
    type Value = V::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(V::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<V::Out, A::Error> {
        self.0.object(map)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> std::result::Result<V::Out, E> {
        Ok(self.0.other(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<V::Out, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<V::Out, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(self.0.other(Value::Array(items)))
    }
}

/// The slot of each of the mapper's first keys (slot `i` holds the value of the
/// `i`-th sorted key), found by a small open-addressing table over each key's
/// length and first, middle and last bytes: one table probe and usually one
/// comparison per key of the source, where a binary search costs several.
#[derive(Clone)]
struct KeyIndex {
    keys: Vec<Box<str>>,
    /// For each slot, the sorted keys of its object the mapping reads, when it
    /// reads nothing else of it (see `Mapper::slot_sub_keys`).
    sub_keys: Vec<Option<Vec<Box<str>>>>,
    /// `table[h]` is a slot + 1, or 0 for an empty bucket; its length is a power
    /// of two, at least twice the number of keys.
    table: Vec<u8>,
}

impl KeyIndex {
    fn new(sorted_keys: &[String]) -> Self {
        debug_assert!(sorted_keys.len() <= MAX_SLOTS && MAX_SLOTS < usize::from(u8::MAX));
        let size = (sorted_keys.len() * 2).next_power_of_two().max(8);
        let mut table = vec![0u8; size];
        for (slot, key) in sorted_keys.iter().enumerate() {
            let mut bucket = Self::hash(key.as_bytes()) & (size - 1);
            while table[bucket] != 0 {
                bucket = (bucket + 1) & (size - 1);
            }
            // At most MAX_SLOTS (32) keys: the slot fits.
            table[bucket] = u8::try_from(slot + 1).unwrap_or(u8::MAX);
        }
        Self {
            keys: sorted_keys.iter().map(|k| k.as_str().into()).collect(),
            sub_keys: Vec::new(),
            table,
        }
    }

    fn with_sub_keys(mut self, sub_keys: Vec<Option<Vec<String>>>) -> Self {
        self.sub_keys = sub_keys
            .into_iter()
            .map(|keys| keys.map(|keys| keys.iter().map(|k| k.as_str().into()).collect()))
            .collect();
        self
    }

    /// The keys to keep of slot `slot`'s object, `None` to decode it whole.
    fn sub_keys(&self, slot: usize) -> Option<&[Box<str>]> {
        self.sub_keys.get(slot)?.as_deref()
    }

    fn hash(key: &[u8]) -> usize {
        match key {
            [] => 0,
            [first, .., last] | [first @ last] => {
                let middle = key[key.len() / 2];
                key.len()
                    .wrapping_mul(31)
                    .wrapping_add(usize::from(*first).wrapping_mul(131))
                    .wrapping_add(usize::from(middle).wrapping_mul(17))
                    .wrapping_add(usize::from(*last))
            }
        }
    }

    /// The slot of `key`, `None` for a key the mapping does not read.
    fn slot(&self, key: &str) -> Option<usize> {
        let mask = self.table.len() - 1;
        let mut bucket = Self::hash(key.as_bytes()) & mask;
        loop {
            let slot = usize::from(self.table[bucket]).checked_sub(1)?;
            if *self.keys[slot] == *key {
                return Some(slot);
            }
            bucket = (bucket + 1) & mask;
        }
    }
}

/// Decodes a value the mapping reads only some keys of (`user` for `user.login`):
/// an object keeps just those keys (the others are skipped, not built); any other
/// value is decoded as it is.
struct SparseValue<'a> {
    /// Sorted.
    keys: &'a [Box<str>],
}

impl<'de> DeserializeSeed<'de> for SparseValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(ObjectOrValue(self))
    }
}

impl<'de> ReadsObjects<'de> for SparseValue<'_> {
    type Out = Value;

    const EXPECTING: &'static str = "any JSON value";

    fn object<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        let kept = |key: &str| {
            self.keys
                .binary_search_by(|k| (**k).cmp(key))
                .is_ok()
                .then(|| key.to_owned())
        };
        while let Some(key) = map.next_key_seed(KeyWith(kept))? {
            match key {
                Some(key) => {
                    object.insert(key, map.next_value()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }

    fn other(self, value: Value) -> Value {
        value
    }
}

/// Decodes an object key with a function of the key's text, without allocating
/// it (`KeyIndex::slot`, or a sparse object's kept keys).
struct KeyWith<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for KeyWith<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<T, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for KeyWith<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<T, E> {
        Ok((self.0)(key))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::{EntityMapping, FieldMapping, FieldPath, Transform};

    fn mapping() -> EntityMapping {
        let path = |p: &str| FieldPath::parse(p).expect("path");
        EntityMapping::new("issue", "ISSUE", "Issues", path("id"))
            .with_field(FieldMapping::new(path("title"), "title").with_required(true))
            .with_field(FieldMapping::new(path("user.login"), "author"))
            .with_field(FieldMapping::new(path("labels[].name"), "labels"))
    }

    /// Decodes `text` with the seed; checks it against `map_owned` of the decoded
    /// `Value` (records, or errors alike to the last detail).
    fn seeded(mapper: &Mapper, text: &str) -> Result<Option<Record>> {
        let seed = mapper.record_seed("github");
        let mut json = serde_json::Deserializer::from_str(text);
        let seeded = (&seed).deserialize(&mut json).expect("valid JSON decodes");
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        let owned = mapper.map_owned(value, "github");
        assert_eq!(format!("{seeded:?}"), format!("{owned:?}"), "{text}");
        seeded
    }

    #[test]
    fn decodes_only_the_fields_the_mapping_reads_into_slots() {
        let mapper = Mapper::new(&mapping()).expect("compiles");
        assert!(mapper.record_seed("github").index.is_some());
        let record = seeded(
            &mapper,
            r#"{"reactions": {"+1": [1, {"a": null}]}, "id": 7, "title": "Crash",
                "user": {"login": "octocat", "site_admin": false}, "body": "x",
                "labels": [{"name": "bug"}, {"name": "p1"}], "zzz": 1.5e300}"#,
        )
        .expect("maps")
        .expect("no filter");
        assert_eq!(record.external_id, "7");
        assert_eq!(record.field("author"), Some(&json!("octocat")));
        assert_eq!(record.field("labels"), Some(&json!(["bug", "p1"])));
        assert_eq!(record.fields.len(), 3);
    }

    #[test]
    fn an_object_read_only_by_key_keeps_only_those_keys() {
        let path = |p: &str| FieldPath::parse(p).expect("path");
        let mapping = mapping()
            .with_field(FieldMapping::new(path("pull_request.url"), "prUrl"))
            .with_field(FieldMapping::new(
                path("pull_request.merged_at"),
                "mergedAt",
            ))
            .with_field(FieldMapping::new(path("milestone"), "milestone"))
            .with_field(FieldMapping::new(path("milestone.title"), "milestoneTitle"));
        let mapper = Mapper::new(&mapping).expect("compiles");
        // Slots in key order: id, labels, milestone, pull_request, title, user.
        let sub = mapper.slot_sub_keys();
        assert_eq!(sub[1], None, "labels[].name projects");
        assert_eq!(sub[2], None, "milestone is also read whole");
        assert_eq!(sub[3], Some(vec!["merged_at".to_owned(), "url".to_owned()]));
        assert_eq!(sub[5], Some(vec!["login".to_owned()]));
        let record = seeded(
            &mapper,
            r#"{"id": 1, "title": "t", "user": {"id": 9, "login": "a", "site_admin": {"x": [1]},
                "login": "octocat"}, "pull_request": {"url": "https://u", "diff_url": "d",
                "merged_at": null}, "milestone": {"title": "v1", "number": 3}}"#,
        )
        .expect("maps")
        .expect("no filter");
        assert_eq!(record.field("author"), Some(&json!("octocat")));
        assert_eq!(record.field("prUrl"), Some(&json!("https://u")));
        assert_eq!(
            record.field("milestone"),
            Some(&json!({"title": "v1", "number": 3}))
        );
        // The same slots holding something other than an object.
        for other in [
            "\"octocat\"",
            "null",
            "[{\"login\": \"x\"}]",
            "7",
            "true",
            "{}",
        ] {
            let text =
                format!(r#"{{"id": 1, "title": "t", "user": {other}, "pull_request": {other}}}"#);
            seeded(&mapper, &text).expect("maps");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_escaped_keys_match() {
        let mapper = Mapper::new(&mapping()).expect("compiles");
        let record = seeded(&mapper, r#"{"id": 1, "title": "a", "titl\u0065": "b"}"#)
            .expect("maps")
            .expect("no filter");
        assert_eq!(record.field("title"), Some(&json!("b")));
    }

    #[test]
    fn a_source_that_is_not_an_object_fails_as_map_owned_fails() {
        let mapper = Mapper::new(&mapping()).expect("compiles");
        for text in [
            "3",
            "-3",
            "2.5",
            "\"id\"",
            "null",
            "true",
            "[1, {\"id\": 2}]",
            "{}",
        ] {
            let err = seeded(&mapper, text).expect_err(text);
            assert!(err.to_string().contains("external id is missing"), "{err}");
        }
        let err = seeded(&mapper, r#"{"id": "x", "title": ""}"#).expect_err("empty title");
        assert_eq!(
            err.field_errors()[0].to_string(),
            "title: required field is empty"
        );
        assert!(err.to_string().contains("record x"), "{err}");
    }

    #[test]
    fn malformed_json_is_a_decode_error_even_in_a_field_it_skips() {
        let mapper = Mapper::new(&mapping()).expect("compiles");
        let seed = mapper.record_seed("github");
        for text in [
            r#"{"id": 1, "skipped": [1, }"#,
            r#"{"id": 1, "title": "a""#,
            "{\"id\" 1}",
        ] {
            let mut json = serde_json::Deserializer::from_str(text);
            assert!((&seed).deserialize(&mut json).is_err(), "{text}");
        }
    }

    #[test]
    fn raw_and_coalesce_decode_the_whole_source() {
        let raw = Mapper::new(&mapping()).expect("compiles").with_raw(true);
        assert!(raw.record_seed("github").index.is_none());
        let text = r#"{"id": 1, "title": "a", "extra": {"kept": true}}"#;
        let record = seeded(&raw, text).expect("maps").expect("no filter");
        assert_eq!(record.raw, Some(serde_json::from_str(text).expect("JSON")));

        let coalesce = mapping().with_field(
            FieldMapping::new(FieldPath::parse("name").expect("path"), "name").with_transform(
                Transform::Coalesce {
                    paths: vec![FieldPath::parse("login").expect("path")],
                },
            ),
        );
        let mapper = Mapper::new(&coalesce).expect("compiles");
        assert!(mapper.record_seed("github").index.is_none());
        let record = seeded(&mapper, r#"{"id": 1, "title": "a", "login": "octo"}"#)
            .expect("maps")
            .expect("no filter");
        assert_eq!(record.field("name"), Some(&json!("octo")));
    }

    #[test]
    fn the_key_index_finds_every_key_and_nothing_else() {
        // 32 keys sharing lengths and first, middle and last bytes: many collide.
        let mut keys: Vec<String> = (0..32)
            .map(|i| format!("k{}{i:02}x", "_".repeat(i % 3)))
            .collect();
        keys.sort();
        let index = KeyIndex::new(&keys);
        for (slot, key) in keys.iter().enumerate() {
            assert_eq!(index.slot(key), Some(slot), "{key}");
        }
        for other in ["", "k", "k00", "k_01x ", "K00x", "k_00x", "\u{e9}"] {
            assert_eq!(index.slot(other), None, "{other}");
        }
        assert_eq!(KeyIndex::new(&[]).slot("id"), None);
    }
}
