//! [`Name`]: the cheaply cloned string of entity types, connector ids and field
//! names.
//!
//! Every record carries its entity type, the id of its connector, one name per
//! mapped field and the entity types of its relationships. Those strings are the
//! same for every record of a sync, so a [`Name`] shares them instead of copying
//! them: a name from a `&'static str` is a pointer, any other is an `Arc<str>`, and
//! cloning either never allocates. A mapping compiles its names once; each record
//! then costs a reference-count increment per name instead of an allocation.
//!
//! A `Name` compares, orders, hashes, prints and serialises exactly like the
//! string it holds.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string that clones without allocating.
///
/// ```
/// use connector_core::Name;
///
/// const ISSUE: Name = Name::from_static("ISSUE");
/// let owned = Name::from(String::from("ISSUE"));
/// assert_eq!(ISSUE, owned);
/// assert_eq!(ISSUE, "ISSUE");
/// assert_eq!(owned.as_str(), "ISSUE");
/// let copy = owned.clone(); // a reference-count increment, no allocation
/// assert_eq!(copy.len(), 5);
/// ```
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// The most bytes of distinct strings [`Name::interned`] keeps for the life of
    /// the process: 1 MiB, tens of thousands of field and entity names.
    pub const MAX_INTERNED_BYTES: usize = 1 << 20;

    /// A name of a string that lives for the whole program: no allocation, ever.
    pub const fn from_static(name: &'static str) -> Self {
        Self(Repr::Static(name))
    }

    /// A name holding a copy of `name` (one allocation; clones share it).
    pub fn new(name: &str) -> Self {
        Self(Repr::Shared(Arc::from(name)))
    }

    /// The name of `name` from a process-wide table: the first call with a given
    /// string copies it into memory that is never freed, later calls return that
    /// copy. Cloning and dropping an interned name touches no reference count, so
    /// mappings intern the names they put in every record. The table is bounded:
    /// after [`MAX_INTERNED_BYTES`](Self::MAX_INTERNED_BYTES) of distinct strings, names are no longer
    /// interned but shared as [`Name::new`] makes them.
    pub fn interned(name: &str) -> Self {
        intern(name).map_or_else(|| Self::new(name), Self::from_static)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

fn intern(name: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};

    struct Table {
        names: HashSet<&'static str>,
        bytes: usize,
    }
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        Mutex::new(Table {
            names: HashSet::new(),
            bytes: 0,
        })
    });
    // A poisoned table still holds valid strings.
    let mut table = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = table.names.get(name) {
        return Some(found);
    }
    if table.bytes + name.len() > Name::MAX_INTERNED_BYTES {
        return None;
    }
    let leaked: &'static str = Box::leak(Box::from(name));
    table.bytes += name.len();
    table.names.insert(leaked);
    Some(leaked)
}

impl Default for Name {
    /// The empty name.
    fn default() -> Self {
        Self::from_static("")
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_with {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Name {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }

        impl PartialEq<Name> for $t {
            fn eq(&self, other: &Name) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String);

impl From<&str> for Name {
    /// Copies the string (one allocation). Use [`Name::from_static`] for literals
    /// on hot paths.
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Self::new(name)
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Self(Repr::Shared(Arc::from(name)))
    }
}

impl From<Box<str>> for Name {
    fn from(name: Box<str>) -> Self {
        Self(Repr::Shared(Arc::from(name)))
    }
}

impl From<Arc<str>> for Name {
    fn from(name: Arc<str>) -> Self {
        Self(Repr::Shared(name))
    }
}

impl From<&Name> for Name {
    fn from(name: &Name) -> Self {
        name.clone()
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.as_str().to_owned()
    }
}

impl From<&Name> for String {
    fn from(name: &Name) -> Self {
        name.as_str().to_owned()
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `Cow` so a borrowed string is copied once, an owned one moved.
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match s {
            std::borrow::Cow::Borrowed(s) => Self::new(s),
            std::borrow::Cow::Owned(s) => Self::from(s),
        })
    }
}

impl schemars::JsonSchema for Name {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("String")
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Name {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    #[test]
    fn static_and_shared_names_are_the_same_string() {
        let a = Name::from_static("USER");
        let b = Name::from(String::from("USER"));
        let c = Name::new("USER");
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        let hash = |n: &Name| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            n.hash(&mut h);
            h.finish()
        };
        let hash_str = |s: &str| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        // `Borrow<str>` needs the same hash as the `str`.
        assert_eq!(hash(&a), hash_str("USER"));
        assert!(Name::from_static("A") < Name::new("B"));
    }

    #[test]
    fn looked_up_by_str_in_maps() {
        let mut map = HashMap::new();
        map.insert(Name::new("ISSUE"), 1);
        assert_eq!(map.get("ISSUE"), Some(&1));
        let mut tree = BTreeMap::new();
        tree.insert(Name::from_static("B"), 2);
        tree.insert(Name::new("A"), 1);
        assert_eq!(
            tree.keys().map(Name::as_str).collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert_eq!(tree.get("B"), Some(&2));
    }

    #[test]
    fn prints_and_serialises_as_the_string() {
        let name = Name::new("APPLICATION_COMPONENT");
        assert_eq!(name.to_string(), "APPLICATION_COMPONENT");
        assert_eq!(format!("{name:?}"), "\"APPLICATION_COMPONENT\"");
        assert_eq!(
            serde_json::to_string(&name).unwrap(),
            "\"APPLICATION_COMPONENT\""
        );
        let back: Name = serde_json::from_str("\"APPLICATION_COMPONENT\"").unwrap();
        assert_eq!(back, name);
        let escaped: Name = serde_json::from_str("\"a\\\"b\"").unwrap();
        assert_eq!(escaped, "a\"b");
        assert!(serde_json::from_str::<Name>("3").is_err());
    }

    #[test]
    fn compares_with_strings_both_ways() {
        let name = Name::from_static("NODE");
        assert!(name == "NODE");
        assert!("NODE" == name);
        assert!(name == *"NODE");
        let owned = String::from("NODE");
        assert!(owned == name);
        assert!(name == owned);
        assert!(name != "EDGE");
        assert_eq!(String::from(name), "NODE");
    }

    #[test]
    fn interned_names_are_one_copy() {
        let a = Name::interned("interned-test-name");
        let b = Name::interned(&String::from("interned-test-name"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert!(matches!(a.0, Repr::Static(_)));
    }

    #[test]
    fn clones_share_the_allocation() {
        let shared: Arc<str> = Arc::from("TEAM");
        let name = Name::from(Arc::clone(&shared));
        let copies: Vec<Name> = (0..10).map(|_| name.clone()).collect();
        assert_eq!(Arc::strong_count(&shared), 12);
        drop(copies);
        assert_eq!(Arc::strong_count(&shared), 2);
    }
}
