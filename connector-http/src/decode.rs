//! Decoding a page body in one pass: the items at a path straight into `Vec<T>`,
//! and only the envelope fields a pagination strategy reads kept as small
//! `serde_json::Value`s.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};

/// Splits a body path (`data.items`, `"@odata.nextLink"`, `data[0].cursor`) into
/// segments. An index becomes its own `[n]` segment. Empty, `$` and `.` mean the
/// root.
pub(crate) fn split_path(path: &str) -> Vec<String> {
    let path = path.trim();
    if path.is_empty() || path == "$" || path == "." {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    current.push(q);
                }
            }
            '.' => out.push(std::mem::take(&mut current)),
            '[' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                let mut index = String::from("[");
                for q in chars.by_ref() {
                    index.push(q);
                    if q == ']' {
                        break;
                    }
                }
                out.push(index);
                if chars.peek() == Some(&'.') {
                    chars.next();
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// What to keep of the envelope: the segments of each body path a strategy
/// reads, plus each whole path as a literal top-level key (`@odata.nextLink`
/// written without quotes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Keep {
    paths: Vec<Vec<String>>,
    literals: Vec<String>,
}

impl Keep {
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut keep = Keep::default();
        for p in paths {
            keep.paths.push(split_path(p));
            keep.literals.push(p.trim().to_owned());
        }
        keep
    }

    fn keeps(&self, along: &[String], depth: usize, key: &str) -> bool {
        (depth == 0 && self.literals.iter().any(|l| l == key))
            || self
                .paths
                .iter()
                .any(|p| p.len() > depth && p[..depth] == along[..depth] && p[depth] == key)
    }
}

/// A decoded page: its items, and the kept envelope (`None` when the body is the
/// item array itself).
pub(crate) struct Envelope<T> {
    pub(crate) items: Vec<T>,
    pub(crate) rest: Option<Value>,
}

/// How the items of a page are decoded, one after another, as the array is read.
pub(crate) trait DecodeItems: Send + Sync + 'static {
    /// What each item becomes.
    type Item: Send + 'static;

    /// The name of the type items are decoded into, for decode errors.
    fn item_type(&self) -> &'static str;

    /// The next item of the array, `None` at its end.
    fn next_item<'de, A: SeqAccess<'de>>(
        &self,
        seq: &mut A,
    ) -> Result<Option<Self::Item>, A::Error>;
}

/// Each item decoded into `T`, then turned into `U` by `map` at once (so no
/// page of `T`s is collected first).
pub(crate) struct DecodeThenMap<T, F> {
    map: F,
    marker: PhantomData<fn() -> T>,
}

impl<T, F> DecodeThenMap<T, F> {
    pub(crate) fn new(map: F) -> Self {
        Self {
            map,
            marker: PhantomData,
        }
    }
}

impl<T, U, F> DecodeItems for DecodeThenMap<T, F>
where
    T: DeserializeOwned + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    type Item = U;

    fn item_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn next_item<'de, A: SeqAccess<'de>>(&self, seq: &mut A) -> Result<Option<U>, A::Error> {
        Ok(seq.next_element::<T>()?.map(&self.map))
    }
}

/// Each item decoded by a seed (`&S: DeserializeSeed`), such as connector-core's
/// `RecordSeed`.
pub(crate) struct DecodeWithSeed<S, U> {
    seed: S,
    marker: PhantomData<fn() -> U>,
}

impl<S, U> DecodeWithSeed<S, U> {
    pub(crate) fn new(seed: S) -> Self {
        Self {
            seed,
            marker: PhantomData,
        }
    }
}

impl<S, U> DecodeItems for DecodeWithSeed<S, U>
where
    S: Send + Sync + 'static,
    U: Send + 'static,
    for<'a, 'de> &'a S: DeserializeSeed<'de, Value = U>,
{
    type Item = U;

    /// The seed's type (`RecordSeed`): what the items did not match.
    fn item_type(&self) -> &'static str {
        std::any::type_name::<S>()
    }

    fn next_item<'de, A: SeqAccess<'de>>(&self, seq: &mut A) -> Result<Option<U>, A::Error> {
        seq.next_element_seed(&self.seed)
    }
}

/// Decodes `body`: the array at `items_path` into `Vec<T>`, and the parts of the
/// envelope `keep` names. A missing or null item array is an empty page.
#[cfg(test)]
pub(crate) fn decode_page<T: DeserializeOwned + Send + 'static>(
    body: &[u8],
    items_path: &[String],
    keep: &Keep,
) -> Result<Envelope<T>, serde_json::Error> {
    decode_page_with(body, items_path, keep, &DecodeThenMap::new(|item: T| item))
}

/// Decodes `body`: each item of the array at `items_path` by `items`, and the
/// parts of the envelope `keep` names. A missing or null item array is an empty
/// page.
pub(crate) fn decode_page_with<I: DecodeItems>(
    body: &[u8],
    items_path: &[String],
    keep: &Keep,
    items: &I,
) -> Result<Envelope<I::Item>, serde_json::Error> {
    let seed = Seed {
        path: items_path,
        depth: 0,
        keep,
        items,
    };
    // A body checked as UTF-8 once (fast for ASCII) is read as `str`: serde_json
    // then does not check each string it decodes again.
    let (items, rest) = match std::str::from_utf8(body) {
        Ok(text) => decode_from(&mut serde_json::Deserializer::from_str(text), seed)?,
        Err(_) => decode_from(&mut serde_json::Deserializer::from_slice(body), seed)?,
    };
    Ok(Envelope {
        items,
        rest: rest.map(Value::Object),
    })
}

/// A page's items and the envelope fields kept.
type Decoded<T> = (Vec<T>, Option<Map<String, Value>>);

fn decode_from<'de, R: serde_json::de::Read<'de>, I: DecodeItems>(
    de: &mut serde_json::Deserializer<R>,
    seed: Seed<'_, I>,
) -> Result<Decoded<I::Item>, serde_json::Error> {
    let decoded = seed.deserialize(&mut *de)?;
    de.end()?;
    Ok(decoded)
}

struct Seed<'a, I> {
    path: &'a [String],
    depth: usize,
    keep: &'a Keep,
    items: &'a I,
}

impl<'de, I: DecodeItems> DeserializeSeed<'de> for Seed<'_, I> {
    type Value = Decoded<I::Item>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        if self.depth == self.path.len() {
            let items = deserializer.deserialize_option(Items { items: self.items })?;
            return Ok((items, None));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de, I: DecodeItems> Visitor<'de> for Seed<'_, I> {
    type Value = Decoded<I::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object with the item array at `{}`",
            self.path.join(".")
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((Vec::new(), None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((Vec::new(), None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let wanted = &self.path[self.depth];
        let mut items = Vec::new();
        let mut rest = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if &key == wanted {
                let (found, nested) = map.next_value_seed(Seed {
                    path: self.path,
                    depth: self.depth + 1,
                    keep: self.keep,
                    items: self.items,
                })?;
                items = found;
                if let Some(nested) = nested.filter(|n| !n.is_empty()) {
                    rest.insert(key, Value::Object(nested));
                }
            } else if self.keep.keeps(self.path, self.depth, &key) {
                let value: Value = map.next_value()?;
                rest.insert(key, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((items, Some(rest)))
    }
}

/// The item array (or `null`, no items), each item decoded as it is read.
struct Items<'a, I> {
    items: &'a I,
}

impl<'de, I: DecodeItems> Visitor<'de> for Items<'_, I> {
    type Value = Vec<I::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = self.items.next_item(&mut seq)? {
            out.push(item);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct User {
        id: u32,
    }

    #[test]
    fn splits_paths() {
        assert_eq!(split_path("value"), vec!["value"]);
        assert_eq!(split_path("data.items"), vec!["data", "items"]);
        assert_eq!(split_path("\"@odata.nextLink\""), vec!["@odata.nextLink"]);
        assert_eq!(split_path("data[0].cursor"), vec!["data", "[0]", "cursor"]);
        assert!(split_path("$").is_empty());
        assert!(split_path("").is_empty());
    }

    #[test]
    fn decodes_items_and_keeps_only_signal_fields() {
        let body = br#"{"@odata.context":"x","value":[{"id":1},{"id":2}],"@odata.nextLink":"https://h/next","huge":[1,2,3]}"#;
        let keep = Keep::new(["@odata.nextLink"]);
        let page: Envelope<User> = decode_page(body, &split_path("value"), &keep).unwrap();
        assert_eq!(page.items, vec![User { id: 1 }, User { id: 2 }]);
        assert_eq!(
            page.rest,
            Some(json!({"@odata.nextLink": "https://h/next"}))
        );
    }

    #[test]
    fn nested_items_keep_nested_signals() {
        let body = br#"{"data":{"repository":{"issues":{"nodes":[{"id":7}],"pageInfo":{"hasNextPage":true,"endCursor":"c1"},"totalCount":9}}}}"#;
        let keep = Keep::new(["data.repository.issues.pageInfo"]);
        let page: Envelope<User> =
            decode_page(body, &split_path("data.repository.issues.nodes"), &keep).unwrap();
        assert_eq!(page.items, vec![User { id: 7 }]);
        assert_eq!(
            page.rest,
            Some(
                json!({"data":{"repository":{"issues":{"pageInfo":{"hasNextPage":true,"endCursor":"c1"}}}}})
            )
        );
    }

    #[test]
    fn root_arrays_missing_and_null_items() {
        let page: Envelope<User> = decode_page(br#"[{"id":1}]"#, &[], &Keep::default()).unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.rest.is_none());
        let page: Envelope<User> = decode_page(
            br#"{"next":null}"#,
            &split_path("value"),
            &Keep::new(["next"]),
        )
        .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.rest, Some(json!({"next": null})));
        let page: Envelope<User> =
            decode_page(br#"{"value":null}"#, &split_path("value"), &Keep::default()).unwrap();
        assert!(page.items.is_empty());
    }

    #[test]
    fn a_body_that_is_not_utf8_is_read_as_bytes_with_the_same_result() {
        // Invalid UTF-8 in an envelope field nobody reads: the body is decoded
        // from bytes, which skips that field as before.
        let mut body = br#"{"skipped":"x"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#"","value":[{"id":1},{"id":2}]}"#);
        let page: Envelope<User> =
            decode_page(&body, &split_path("value"), &Keep::default()).unwrap();
        assert_eq!(page.items, vec![User { id: 1 }, User { id: 2 }]);
        // In an item it is an error, as it was.
        let mut body = br#"{"value":[{"id":1,"name":"x"#.to_vec();
        body.push(0xff);
        body.extend_from_slice(br#""}]}"#);
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Named {
            name: String,
        }
        assert!(decode_page::<Named>(&body, &split_path("value"), &Keep::default()).is_err());
    }

    #[test]
    fn type_errors_name_the_problem() {
        let err = decode_page::<User>(
            br#"{"value":[{"id":"x"}]}"#,
            &split_path("value"),
            &Keep::default(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = decode_page::<User>(br#"[1]"#, &split_path("value"), &Keep::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("item array at `value`"), "{err}");
    }
}
