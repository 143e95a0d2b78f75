//! Compiled field paths into JSON values.
//!
//! A [`FieldPath`] is parsed once, when a mapping is loaded, into a list of
//! [`Segment`]s; resolving it against a record walks the segments without parsing
//! or allocating (projections aside). The grammar lives in
//! [`grammar`](super::grammar).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::grammar::{self, PathError, Segment};

/// A parsed path into a JSON value: `a.b`, `a[0].b`, `a[].b`, `"@odata.type"`.
///
/// It (de)serialises as the text it was parsed from, so a mapping file holds plain
/// strings that are validated when the file is loaded. Two paths are equal when their
/// segments are (`a["b"]` equals `a.b`).
///
/// ```
/// use connector_core::mapping::FieldPath;
/// use serde_json::json;
///
/// let path = FieldPath::parse("members[].id")?;
/// let group = json!({"members": [{"id": "u1"}, {"id": "u2"}]});
/// assert_eq!(path.resolve(&group).as_deref(), Some(&json!(["u1", "u2"])));
///
/// let err = FieldPath::parse("owner..email").unwrap_err();
/// assert_eq!(err.to_string(), "expected key at position 6, found `.`");
/// # Ok::<(), connector_core::mapping::PathError>(())
/// ```
#[derive(Clone)]
pub struct FieldPath {
    source: Box<str>,
    segments: Box<[Segment]>,
    projects: bool,
}

impl FieldPath {
    /// Parses a path.
    ///
    /// # Errors
    ///
    /// A [`PathError`] saying where the text breaks the grammar and what was expected.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let segments = grammar::parse(path)?;
        Ok(Self::build(path.into(), segments))
    }

    /// A path of one key, taken literally (no parsing: dots are part of the key).
    pub fn key(key: impl Into<String>) -> Self {
        let segments = vec![Segment::Key(key.into())];
        Self::build(grammar::to_canonical(&segments).into(), segments)
    }

    /// Builds a path from segments; its text is the canonical form.
    ///
    /// Returns `None` when the first segment is not a key (the grammar requires one).
    pub fn from_segments(segments: Vec<Segment>) -> Option<Self> {
        match segments.first() {
            Some(Segment::Key(_)) => Some(Self::build(
                grammar::to_canonical(&segments).into(),
                segments,
            )),
            _ => None,
        }
    }

    fn build(source: Box<str>, segments: Vec<Segment>) -> Self {
        let projects = segments.iter().any(|s| matches!(s, Segment::Project));
        Self {
            source,
            segments: segments.into_boxed_slice(),
            projects,
        }
    }

    /// The text the path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the path contains a `[]` projection (and so resolves to a new array).
    pub fn has_projection(&self) -> bool {
        self.projects
    }

    /// The canonical text of the path (`a["b"]` becomes `a.b`).
    pub fn canonical(&self) -> String {
        grammar::to_canonical(&self.segments)
    }

    /// Finds the value the path points at.
    ///
    /// Returns `None` when a key or index is missing or a segment meets a value of the
    /// wrong shape. A path without projection borrows from `value`. A projection
    /// (`a[].b`) yields a new array of the values the rest of the path finds in each
    /// element, skipping elements where it finds nothing; a projection inside a
    /// projection flattens its arrays into the outer one (`a[].b[].c` is a flat list).
    pub fn resolve<'v>(&self, value: &'v Value) -> Option<Cow<'v, Value>> {
        if self.projects {
            resolve_projecting(&self.segments, value).map(Cow::Owned)
        } else {
            self.resolve_borrowed(value).map(Cow::Borrowed)
        }
    }

    /// Resolves a path that has no projection, borrowing. Returns `None` for a path
    /// with a projection.
    pub fn resolve_borrowed<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut current = value;
        for segment in self.segments.iter() {
            current = step(current, segment)?;
        }
        Some(current)
    }
}

impl FieldPath {
    /// The first key (every path starts with one).
    pub(crate) fn first_key(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// Resolves the segments after the first, starting from `first`, the value the
    /// first key found.
    pub(crate) fn resolve_rest<'v>(&self, first: &'v Value) -> Option<Cow<'v, Value>> {
        let rest = self.segments.get(1..)?;
        if self.projects {
            return resolve_projecting(rest, first).map(Cow::Owned);
        }
        let mut current = first;
        for segment in rest {
            current = step(current, segment)?;
        }
        Some(Cow::Borrowed(current))
    }
}

fn step<'v>(value: &'v Value, segment: &Segment) -> Option<&'v Value> {
    match (segment, value) {
        (Segment::Key(key), Value::Object(map)) => map.get(key.as_str()),
        (Segment::Index(index), Value::Array(items)) => items.get(*index),
        _ => None,
    }
}

fn resolve_projecting(segments: &[Segment], value: &Value) -> Option<Value> {
    let mut current = value;
    for (i, segment) in segments.iter().enumerate() {
        if let Segment::Project = segment {
            let items = current.as_array()?;
            let rest = &segments[i + 1..];
            let nested = rest.iter().any(|s| matches!(s, Segment::Project));
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match resolve_projecting(rest, item) {
                    Some(Value::Array(inner)) if nested => out.extend(inner),
                    Some(found) => out.push(found),
                    None => {}
                }
            }
            return Some(Value::Array(out));
        }
        current = step(current, segment)?;
    }
    Some(current.clone())
}

impl PartialEq for FieldPath {
    fn eq(&self, other: &Self) -> bool {
        self.segments == other.segments
    }
}

impl Eq for FieldPath {}

impl std::hash::Hash for FieldPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.segments.hash(state);
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.source)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for FieldPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for FieldPath {
    type Error = PathError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = FieldPath;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field path such as `owned_by.value` or `members[].id`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldPath, E> {
                FieldPath::parse(v)
                    .map_err(|e| E::custom(format_args!("invalid field path `{v}`: {e}")))
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn parses_good_paths() {
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            ("name", vec![key("name")]),
            ("owned_by.email", vec![key("owned_by"), key("email")]),
            ("a[0].b", vec![key("a"), Segment::Index(0), key("b")]),
            (
                "a[12][3]",
                vec![key("a"), Segment::Index(12), Segment::Index(3)],
            ),
            ("a[].b", vec![key("a"), Segment::Project, key("b")]),
            ("a[][]", vec![key("a"), Segment::Project, Segment::Project]),
            ("\"@odata.type\"", vec![key("@odata.type")]),
            ("@odata.nextLink", vec![key("@odata"), key("nextLink")]),
            ("a.\"x.y\".b", vec![key("a"), key("x.y"), key("b")]),
            ("a[\"x.y\"]", vec![key("a"), key("x.y")]),
            ("a[\"x[0]\"].c", vec![key("a"), key("x[0]"), key("c")]),
            ("\"q\\\"uote\\\\\"", vec![key("q\"uote\\")]),
            ("\"\"", vec![key("")]),
            ("u_name-with$chars:ok", vec![key("u_name-with$chars:ok")]),
            ("ünïcode.ключ", vec![key("ünïcode"), key("ключ")]),
        ];
        for (input, expected) in cases {
            let path = FieldPath::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(path.segments(), expected.as_slice(), "{input}");
            assert_eq!(path.as_str(), input);
        }
    }

    #[test]
    fn rejects_bad_paths_with_exact_errors() {
        let cases = [
            ("", "expected key at position 0, found end of path"),
            (".a", "expected key at position 0, found `.`"),
            ("a.", "expected key at position 2, found end of path"),
            ("a..b", "expected key at position 2, found `.`"),
            ("[0]", "expected key at position 0, found `[`"),
            (
                "a[",
                "expected index, `]` or quoted key at position 2, found end of path",
            ),
            (
                "a[x]",
                "expected index, `]` or quoted key at position 2, found `x`",
            ),
            (
                "a[-1]",
                "expected index, `]` or quoted key at position 2, found `-`",
            ),
            ("a[0", "expected `]` at position 3, found end of path"),
            ("a[0b]", "expected `]` at position 3, found `b`"),
            ("a[\"x\"", "expected `]` at position 5, found end of path"),
            (
                "a]",
                "expected `.`, `[` or end of path at position 1, found `]`",
            ),
            (
                "a\"b\"",
                "expected `.`, `[` or end of path at position 1, found `\"`",
            ),
            (
                "a b",
                "expected `.`, `[` or end of path at position 1, found whitespace ' '",
            ),
            (
                "\"abc",
                "expected closing `\"` at position 4, found end of path",
            ),
            (
                "\"a\\nb\"",
                "expected `\"` or `\\` after `\\` at position 3, found `n`",
            ),
            (
                "a[99999999999999999999999]",
                "expected an index that fits in usize at position 2, found `9`",
            ),
            ("é..", "expected key at position 2, found `.`"),
        ];
        for (input, expected) in cases {
            match FieldPath::parse(input) {
                Ok(p) => panic!("{input:?} parsed as {:?}", p.segments()),
                Err(e) => assert_eq!(e.to_string(), expected, "{input:?}"),
            }
        }
    }

    #[test]
    fn resolves_keys_indexes_and_quoted_keys() {
        let v = json!({
            "@odata.type": "#microsoft.graph.user",
            "owned_by": {"link": "https://x/api", "value": "abc"},
            "a": {"x.y": {"b": 3}},
            "items": [{"id": 1}, {"id": 2}],
            "n": null
        });
        let get = |p: &str| {
            FieldPath::parse(p)
                .unwrap()
                .resolve(&v)
                .map(Cow::into_owned)
        };
        assert_eq!(get("\"@odata.type\""), Some(json!("#microsoft.graph.user")));
        assert_eq!(get("owned_by.value"), Some(json!("abc")));
        assert_eq!(get("a.\"x.y\".b"), Some(json!(3)));
        assert_eq!(get("a[\"x.y\"].b"), Some(json!(3)));
        assert_eq!(get("items[1].id"), Some(json!(2)));
        assert_eq!(get("items[2].id"), None);
        assert_eq!(get("n"), Some(Value::Null));
        assert_eq!(get("n.x"), None);
        assert_eq!(get("owned_by[0]"), None);
        assert_eq!(get("items.id"), None);
        assert_eq!(get("missing"), None);
        // Without a projection the result borrows.
        let path = FieldPath::parse("owned_by.value").unwrap();
        assert!(matches!(path.resolve(&v), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn resolves_projections_and_flattens_nested_ones() {
        let v = json!({
            "members": [{"id": "u1"}, {"name": "no id"}, {"id": "u2"}],
            "groups": [
                {"members": [{"id": "a"}, {"id": "b"}]},
                {"members": []},
                {"members": [{"id": "c"}]}
            ],
            "matrix": [[1, 2], [3]],
            "scalar": 5
        });
        let get = |p: &str| {
            FieldPath::parse(p)
                .unwrap()
                .resolve(&v)
                .map(Cow::into_owned)
        };
        assert_eq!(get("members[].id"), Some(json!(["u1", "u2"])));
        assert_eq!(get("members[]"), Some(v["members"].clone()));
        assert_eq!(get("groups[].members[].id"), Some(json!(["a", "b", "c"])));
        assert_eq!(
            get("groups[].members"),
            Some(json!([[{"id": "a"}, {"id": "b"}], [], [{"id": "c"}]]))
        );
        assert_eq!(get("matrix[][]"), Some(json!([1, 2, 3])));
        assert_eq!(get("matrix[][0]"), Some(json!([1, 3])));
        assert_eq!(get("groups[0].members[].id"), Some(json!(["a", "b"])));
        assert_eq!(get("scalar[]"), None);
        assert_eq!(get("missing[].id"), None);
    }

    #[test]
    fn serde_uses_the_source_text_and_validates() {
        let path: FieldPath = serde_json::from_value(json!("a[\"x.y\"]")).unwrap();
        assert_eq!(serde_json::to_value(&path).unwrap(), json!("a[\"x.y\"]"));
        assert_eq!(path.canonical(), "a.\"x.y\"");
        assert_eq!(path, FieldPath::parse("a.\"x.y\"").unwrap());
        let err = serde_json::from_value::<FieldPath>(json!("a..b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid field path `a..b`: expected key at position 2, found `.`"
        );
        assert!(serde_json::from_value::<FieldPath>(json!(3)).is_err());
    }

    #[test]
    fn literal_keys_and_segments() {
        let p = FieldPath::key("owned_by.email");
        assert_eq!(p.as_str(), "\"owned_by.email\"");
        assert_eq!(p.segments(), [key("owned_by.email")].as_slice());
        assert!(FieldPath::from_segments(vec![Segment::Index(0)]).is_none());
        let p = FieldPath::from_segments(vec![key("a"), Segment::Project, key("b c")]).unwrap();
        assert_eq!(p.as_str(), "a[].\"b c\"");
        assert!(p.has_projection());
    }

    fn segment_strategy() -> impl Strategy<Value = Segment> {
        prop_oneof![
            "[a-z@._\\[\\]\"\\\\ $-]{0,8}".prop_map(Segment::Key),
            (0usize..1000).prop_map(Segment::Index),
            Just(Segment::Project),
        ]
    }

    proptest! {
        #[test]
        fn canonical_text_round_trips(
            first in "[a-zA-Z@._\\[\\]\"\\\\ é-]{0,8}",
            rest in proptest::collection::vec(segment_strategy(), 0..6),
        ) {
            let mut segments = vec![Segment::Key(first)];
            segments.extend(rest);
            let text = grammar::to_canonical(&segments);
            let parsed = FieldPath::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(parsed.segments(), segments.as_slice());
            prop_assert_eq!(parsed.canonical(), text.as_str());
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,16}") {
            if let Ok(p) = FieldPath::parse(&input) {
                // Whatever parses, prints canonically and re-parses to the same path.
                prop_assert_eq!(FieldPath::parse(&p.canonical()).ok(), Some(p));
            }
        }
    }
}
