//! # connector-derive
//!
//! `#[derive(EntityMapping)]`: a struct that says how a vendor's JSON object becomes
//! one of your entities, checked when it compiles.
//!
//! The derive implements
//! [`connector_core::mapping::TypedMapping`](../connector_core/mapping/trait.TypedMapping.html)
//! for the struct, which gives:
//!
//! - `entity_mapping()`: the same `EntityMapping` descriptor a mapping file holds,
//!   built once. Discovery, schemas, configuration overrides and the dynamic
//!   `Mapper` work on it unchanged.
//! - `from_source(&Value)`: a typed conversion of one source object into the
//!   struct. It runs the descriptor's own paths, transforms, defaults and validation
//!   rules (the same code as the `Mapper`), reads values borrowed from the source
//!   and converts each to the field's type with `connector_core::mapping::coerce`.
//!   Every problem of the record is collected into one
//!   `ErrorKind::Validation` error; a missing field or a wrong type names the source
//!   path and the expected type.
//! - `into_record(self, connector_id)`: the struct as a `Record`, equal to what the
//!   `Mapper` makes of the same source object.
//!
//! Paths are parsed at compile time with the grammar connector-core parses them with
//! at run time (the derive compiles `connector-core/src/mapping/grammar.rs` itself),
//! and every attribute error of a struct is reported in one compile, at the
//! attribute that causes it.
//!
//! # Example
//!
//! ```
//! use connector_core::chrono::{DateTime, Utc};
//! use connector_core::mapping::TypedMapping;
//! use connector_derive::EntityMapping;
//! use connector_core::serde_json::json;
//!
//! #[derive(Debug, EntityMapping)]
//! #[entity(
//!     source = "cmdb_ci_server",
//!     target = "NODE",
//!     display_name = "Servers",
//!     rename_all = "camelCase"
//! )]
//! struct Server {
//!     #[field(external_id)]
//!     sys_id: String,
//!     #[field(updated_at, source = "sys_updated_on")]
//!     updated: Option<DateTime<Utc>>,
//!     #[field(min_len = 2)]
//!     name: String,
//!     /// ServiceNow sends numbers as strings: `"4"` becomes `4`.
//!     cpu_count: Option<i64>,
//!     #[field(source = "ram", transform(convert_unit(from = "mb", to = "gb")))]
//!     memory_gb: Option<i64>,
//!     #[field(source = "operational_status",
//!             transform(lookup("1" => "OPERATIONAL", "2" => "RETIRED", _ => "UNKNOWN")))]
//!     status: String,
//!     #[relationship(target = "NODE", kind = "RUNS_ON")]
//!     hosted_on: Option<String>,
//! }
//!
//! let source = json!({
//!     "sys_id": "s1", "name": "db01", "cpu_count": "4", "ram": "16384",
//!     "operational_status": "1", "sys_updated_on": "2024-01-15 10:30:00",
//!     "hosted_on": {"link": "https://acme.service-now.com/...", "value": "h1"}
//! });
//! let server = Server::from_source(&source)?;
//! assert_eq!(server.cpu_count, Some(4));
//! assert_eq!(server.status, "OPERATIONAL");
//! assert_eq!(server.hosted_on.as_deref(), Some("h1"));
//!
//! // The record equals what the dynamic engine makes of the descriptor.
//! let record = server.into_record("servicenow")?;
//! assert_eq!(record.field("memoryGb"), Some(&json!(16)));
//! let dynamic = Server::mapper()?.map(&source, "servicenow")?;
//! assert_eq!(Some(record), dynamic);
//!
//! // Every problem of a record in one error, naming source paths and types.
//! let err = Server::from_source(&json!({"sys_id": "s2", "name": "x", "cpu_count": "four"}))
//!     .unwrap_err();
//! let problems: Vec<String> = err.field_errors().iter().map(|e| e.to_string()).collect();
//! assert_eq!(problems, [
//!     "cpu_count: expected a number, found \"four\"",
//!     "operational_status: required field is missing",
//!     "name: must be at least 2 characters long",
//! ]);
//! # Ok::<(), connector_core::ConnectorError>(())
//! ```
//!
//! # Container attributes: `#[entity(...)]`
//!
//! | attribute | meaning |
//! |---|---|
//! | `source = "cmdb_ci_appl"` | the vendor's object type (required) |
//! | `target = "APPLICATION_COMPONENT"` | the entity type of the records (required) |
//! | `display_name = "Applications"` | a human name; default: the struct's name |
//! | `description = "..."` | what the mapping imports |
//! | `rename_all = "camelCase"` | how field names become target names: `lowercase`, `UPPERCASE`, `PascalCase`, `camelCase`, `snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `SCREAMING-KEBAB-CASE` |
//! | `crate = "my_core"` | the path of connector-core, when the dependency is renamed; default `::connector_core` |
//!
//! # Field attributes: `#[field(...)]`
//!
//! A field without attributes is mapped from the source key of its name to the
//! target of its name (after `rename_all`). Its type says what it accepts and
//! whether it is required:
//!
//! | type | accepts | descriptor |
//! |---|---|---|
//! | `String` | strings; numbers and booleans as their text | as written |
//! | `bool` | `true`/`false`, `"true"`/`"false"`, `"1"`/`"0"`, `1`/`0`, `"yes"`/`"no"` | adds `to_bool` |
//! | `i8`…`i64`, `u8`…`u64`, `isize`, `usize` | numbers and numeric strings (`"4"`) that fit | adds `to_number` |
//! | `f32`, `f64` | numbers and numeric strings | adds `to_number` |
//! | `DateTime<Utc>` | RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), `YYYY-MM-DD` | adds `parse_datetime` |
//! | `serde_json::Value` | anything | as written |
//! | `Vec<T>` | an array of what `T` accepts (`labels[].name`) | per element |
//! | `Option<T>` | what `T` accepts; missing or `null` is `None` | `required: false` |
//! | any other `T: Deserialize + Serialize` | what serde accepts | as written |
//!
//! A type without `Option` is required: a missing or `null` value (or an empty
//! string) is an error. The conversion the type implies (`to_number`, ...) is added
//! to the descriptor's transforms unless the transforms already end with it, so the
//! dynamic `Mapper` produces the same values.
//!
//! | attribute | meaning |
//! |---|---|
//! | `source = "owned_by.email"` | the source path (core syntax: `a.b`, `a[0]`, `labels[].name`, quoted keys `"\"@odata.type\""`); default: the field name |
//! | `target = "ownerEmail"` | the target name; dots make nested objects; default: the field name after `rename_all` |
//! | `description = "..."` | the field's description in the descriptor |
//! | `external_id` | this `String` field holds the vendor's stable id (exactly one field) |
//! | `created_at`, `updated_at` | this `Option<DateTime<Utc>>` field is the record's creation / modification time |
//! | `skip` | not mapped; filled with `Default::default()` or `default` |
//! | `default` | when the value is missing, use `Default::default()` (the field is then not required) |
//! | `default = "literal"` / `default = expr` | when missing, use this literal or Rust expression of the field's (inner) type |
//! | `with = path::to::function` | convert with `fn(&serde_json::Value) -> Result<T, E: Display>` (after any `transform`s); registered as custom transform `path::to::function` in `transform_registry()` |
//! | `transform = "lower"` | one built-in transform without arguments |
//! | `transform(t1, t2(args), ...)` | built-in transforms, applied in order |
//! | `required(message = "...")` | a `required` validation rule (with its message) |
//! | `min_len = 2`, `max_len = 80` | length of a `String`, `Vec` or `Value` |
//! | `pattern = "^[A-Z]+$"` | a `String` matches a regular expression (checked at compile time) |
//! | `email`, `url` | a `String` is an email address / an absolute URL |
//! | `one_of = ["a", "b"]` | the value is one of these literals |
//! | `range(min = 0, max = 100)` | a number lies within the bounds |
//!
//! Every validation rule also has a form with a message, reported instead of the
//! rule's own: `min_len(2, message = "...")`, `pattern("^a", message = "...")`,
//! `email(message = "...")`, `one_of(["a"], message = "...")`,
//! `range(min = 0, message = "...")`.
//!
//! Built-in transforms (connector-core's `Transform`): `lower`, `upper`, `trim`,
//! `to_number`, `to_bool`, `to_string`, `extract_reference` /
//! `extract_reference(key = "id")`, `parse_datetime` / `parse_datetime(format = "%d/%m/%Y")`,
//! `format_datetime(format = "%Y-%m-%d")`, `convert_unit(from = "mb", to = "gb",
//! round = "floor", decimals = 1)`, `split(",")`, `join(", ")`,
//! `coalesce("path", "other.path")`, `constant("value")`, and
//! `lookup("1" => "PRODUCTION", "2" => "RETIRED", _ => "UNKNOWN")` (`default = ...` is
//! the same as `_ => ...`).
//!
//! # Relationship attributes: `#[relationship(...)]`
//!
//! On an `Option<String>` (at most one related id) or `Vec<String>` field. The source
//! may hold ids, lists of ids or reference objects (`{"value": id}`, `{"id": id}`).
//!
//! | attribute | meaning |
//! |---|---|
//! | `source = "depends_on"` | the source path; default: the field name |
//! | `target = "APPLICATION_COMPONENT"` | the related entity type (required) |
//! | `kind = "DEPENDS_ON"` | the relationship kind (required) |
//! | `strength = 75` | 0–100; default 50 |
//! | `lookup = "external_id"` / `"name"` / `lookup(field = "email")` | what the id identifies on the other side |
//! | `bidirectional` | the link holds both ways |
//!
//! # Compile-time errors
//!
//! Unknown and duplicate attributes, malformed paths, conflicting attributes
//! (`skip` with `source`, two roles on one field, two external ids), validation
//! rules that do not fit the field's type (`min_len` on an integer, `range` on a
//! string), relationships on a field of the wrong type, invalid patterns, literals
//! that do not fit the field and target names mapped twice are reported together,
//! each at its attribute. A stub implementation is still emitted, so code using the
//! struct does not add errors of its own.
//!
//! # Publishing
//!
//! The derive includes `connector-core/src/mapping/grammar.rs` by relative path. In
//! the workspace that is one file for both crates; a published `connector-derive`
//! package must carry a copy (e.g. a build step that copies the file into the
//! package, checked by a test that the copies are equal).

mod attr;
mod case;
mod ctxt;
mod expand;
#[path = "../../connector-core/src/mapping/grammar.rs"]
#[allow(unreachable_pub, dead_code, clippy::all)]
mod grammar;
mod ty;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `connector_core::mapping::TypedMapping`: the mapping descriptor, the
/// typed conversion from a source JSON object and the conversion into a `Record`.
///
/// See the [crate documentation](crate) for the attributes.
#[proc_macro_derive(EntityMapping, attributes(entity, field, relationship))]
pub fn derive_entity_mapping(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::default();
    let entity = valid::entity(&cx, input);
    if cx.has_errors() {
        let stub = expand::fallback(input, Some(&entity.krate));
        let errors = match cx.check() {
            Err(e) => e.to_compile_error(),
            Ok(()) => proc_macro2::TokenStream::new(),
        };
        return quote::quote!(#errors #stub);
    }
    expand::expand(&entity)
}
