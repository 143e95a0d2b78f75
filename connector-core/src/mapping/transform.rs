//! Compiled transforms and the registry of user transforms and rules.
//!
//! [`Transform`] values are data; [`CompiledTransform`] is what the mapper runs: lookup
//! tables become hash maps, datetime formats are parsed once, unit conversions
//! become a factor, and custom names are resolved against a [`TransformRegistry`]
//! when the mapper is built, so an unknown name fails then and not per record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use serde_json::Value;

use super::coerce::{self, CoerceError};
use super::model::{Rounding, Transform};
use super::path::FieldPath;

/// A user transform: called with the value and the `args` of the mapping; returns the
/// new value or a message saying what is wrong with the input.
pub type TransformFn = Arc<dyn Fn(&Value, &Value) -> Result<Value, String> + Send + Sync>;

/// A user validation rule: called with the mapped value; returns a message when the
/// value breaks the rule.
pub type RuleFn = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// Named user transforms ([`Transform::Custom`]) and validation rules
/// ([`Rule::Custom`](super::Rule::Custom)).
///
/// Cloning is cheap (the functions are shared).
///
/// ```
/// use connector_core::mapping::TransformRegistry;
/// use serde_json::{json, Value};
///
/// let registry = TransformRegistry::new()
///     .with_transform("prefix", |v: &Value, args: &Value| {
///         let p = args["prefix"].as_str().unwrap_or_default();
///         v.as_str().map(|s| json!(format!("{p}{s}"))).ok_or_else(|| "expected a string".into())
///     })
///     .with_rule("even", |v: &Value| match v.as_i64() {
///         Some(n) if n % 2 == 0 => Ok(()),
///         _ => Err("must be an even number".into()),
///     });
/// assert!(registry.transform("prefix").is_some());
/// assert!(registry.rule("even").is_some());
/// ```
#[derive(Clone, Default)]
pub struct TransformRegistry {
    transforms: HashMap<String, TransformFn>,
    rules: HashMap<String, RuleFn>,
}

impl TransformRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a transform under `name`, replacing any earlier one.
    pub fn with_transform(
        mut self,
        name: impl Into<String>,
        f: impl Fn(&Value, &Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.register_transform(name, f);
        self
    }

    /// Registers a transform under `name`, replacing any earlier one.
    pub fn register_transform(
        &mut self,
        name: impl Into<String>,
        f: impl Fn(&Value, &Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.transforms.insert(name.into(), Arc::new(f));
        self
    }

    /// Registers a validation rule under `name`, replacing any earlier one.
    pub fn with_rule(
        mut self,
        name: impl Into<String>,
        f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.register_rule(name, f);
        self
    }

    /// Registers a validation rule under `name`, replacing any earlier one.
    pub fn register_rule(
        &mut self,
        name: impl Into<String>,
        f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.rules.insert(name.into(), Arc::new(f));
        self
    }

    /// The transform registered under `name`.
    pub fn transform(&self, name: &str) -> Option<&TransformFn> {
        self.transforms.get(name)
    }

    /// The rule registered under `name`.
    pub fn rule(&self, name: &str) -> Option<&RuleFn> {
        self.rules.get(name)
    }
}

impl fmt::Debug for TransformRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut transforms: Vec<_> = self.transforms.keys().collect();
        transforms.sort();
        let mut rules: Vec<_> = self.rules.keys().collect();
        rules.sort();
        f.debug_struct("TransformRegistry")
            .field("transforms", &transforms)
            .field("rules", &rules)
            .finish()
    }
}

/// A lookup table, compiled: the entries in key order. Tables are small (a handful
/// of status codes), so a scan that compares lengths before bytes beats hashing the
/// key; large tables are searched by halves.
#[derive(Clone)]
pub(crate) struct LookupTable(Box<[(Box<str>, Value)]>);

impl LookupTable {
    /// Tables with at most this many entries are scanned.
    const SCAN: usize = 16;

    fn new(table: &std::collections::BTreeMap<String, Value>) -> Self {
        // A `BTreeMap` iterates in key order, which `get` relies on.
        Self(
            table
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.clone()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&Value> {
        if self.0.len() <= Self::SCAN {
            self.0
                .iter()
                .find(|(k, _)| k.len() == key.len() && k.as_bytes() == key.as_bytes())
                .map(|(_, v)| v)
        } else {
            self.0
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .ok()
                .map(|i| &self.0[i].1)
        }
    }
}

/// A transform ready to run: tables compiled, formats parsed, custom names resolved.
#[derive(Clone)]
pub(crate) enum CompiledTransform {
    Lookup {
        table: LookupTable,
        default: Option<Value>,
    },
    Lower,
    Upper,
    Trim,
    ParseDatetime {
        format: Option<String>,
    },
    FormatDatetime {
        items: Vec<Item<'static>>,
    },
    ConvertUnit {
        factor: f64,
        round: Rounding,
        scale: f64,
    },
    ExtractReference {
        key: String,
    },
    Split {
        separator: String,
    },
    Join {
        separator: String,
    },
    Coalesce {
        paths: Vec<FieldPath>,
    },
    Constant {
        value: Value,
    },
    ToNumber,
    ToBool,
    ToString,
    Custom {
        f: TransformFn,
        args: Value,
    },
}

impl CompiledTransform {
    /// Compiles a transform.
    ///
    /// # Errors
    ///
    /// A message when a custom name is not registered or a format is invalid.
    pub(crate) fn compile(
        transform: &Transform,
        registry: &TransformRegistry,
    ) -> Result<Self, String> {
        Ok(match transform {
            Transform::Lookup { table, default } => CompiledTransform::Lookup {
                table: LookupTable::new(table),
                default: default.clone(),
            },
            Transform::Lower => CompiledTransform::Lower,
            Transform::Upper => CompiledTransform::Upper,
            Transform::Trim => CompiledTransform::Trim,
            Transform::ParseDatetime { format } => {
                if let Some(format) = format {
                    coerce::check_datetime_format(format)?;
                }
                CompiledTransform::ParseDatetime {
                    format: format.clone(),
                }
            }
            Transform::FormatDatetime { format } => CompiledTransform::FormatDatetime {
                items: StrftimeItems::new(format)
                    .parse_to_owned()
                    .map_err(|_| format!("invalid datetime format `{format}`"))?,
            },
            Transform::ConvertUnit {
                from,
                to,
                round,
                decimals,
            } => CompiledTransform::ConvertUnit {
                factor: from.bytes() / to.bytes(),
                round: *round,
                scale: 10f64.powi(i32::from(*decimals)),
            },
            Transform::ExtractReference { key } => {
                CompiledTransform::ExtractReference { key: key.clone() }
            }
            Transform::Split { separator } => CompiledTransform::Split {
                separator: separator.clone(),
            },
            Transform::Join { separator } => CompiledTransform::Join {
                separator: separator.clone(),
            },
            Transform::Coalesce { paths } => CompiledTransform::Coalesce {
                paths: paths.clone(),
            },
            Transform::Constant { value } => CompiledTransform::Constant {
                value: value.clone(),
            },
            Transform::ToNumber => CompiledTransform::ToNumber,
            Transform::ToBool => CompiledTransform::ToBool,
            Transform::ToString => CompiledTransform::ToString,
            Transform::Custom { name, args } => CompiledTransform::Custom {
                f: registry
                    .transform(name)
                    .cloned()
                    .ok_or_else(|| format!("unknown custom transform `{name}`"))?,
                args: args.clone(),
            },
        })
    }

    /// Runs the transform. `input` is `None` when the value is absent (or `null`);
    /// `record` is the whole source record, for `coalesce`.
    pub(crate) fn apply<'v>(
        &self,
        input: Option<Cow<'v, Value>>,
        record: &'v Value,
    ) -> Result<Option<Cow<'v, Value>>, String> {
        match self {
            CompiledTransform::Constant { value } => Ok(Some(Cow::Owned(value.clone()))),
            CompiledTransform::Coalesce { paths } => {
                if input.as_deref().is_some_and(|v| !is_blank(v)) {
                    return Ok(input);
                }
                Ok(paths
                    .iter()
                    .find_map(|p| p.resolve(record).filter(|v| !is_blank(v))))
            }
            _ => match input {
                None => Ok(None),
                // Vendors send "" for unset numbers, booleans and dates (ServiceNow
                // does for every empty field): for the typed transforms that is absent,
                // not a type error.
                Some(value) if self.is_typed() && is_blank_string(&value) => Ok(None),
                Some(value) => self.apply_present(value).map(Some),
            },
        }
    }

    /// The transforms that turn text into a typed value.
    fn is_typed(&self) -> bool {
        matches!(
            self,
            CompiledTransform::ToNumber
                | CompiledTransform::ToBool
                | CompiledTransform::ConvertUnit { .. }
                | CompiledTransform::ParseDatetime { .. }
                | CompiledTransform::FormatDatetime { .. }
        )
    }

    fn apply_present<'v>(&self, value: Cow<'v, Value>) -> Result<Cow<'v, Value>, String> {
        match self {
            CompiledTransform::Split { separator } => {
                let s = value.as_str().ok_or_else(|| expected("a string", &value))?;
                let parts = s
                    .split(separator.as_str())
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(Value::from)
                    .collect();
                Ok(Cow::Owned(Value::Array(parts)))
            }
            CompiledTransform::Join { separator } => match &*value {
                Value::String(_) => Ok(value),
                Value::Array(items) => {
                    let mut out = String::new();
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(separator);
                        }
                        out.push_str(&coerce::to_string_lossless(item).map_err(|e| e.to_string())?);
                    }
                    Ok(Cow::Owned(Value::String(out)))
                }
                other => Err(expected("an array or a string", other)),
            },
            CompiledTransform::Custom { f, args } => f(&value, args).map(Cow::Owned),
            _ => match value {
                Cow::Borrowed(Value::Array(items)) => items
                    .iter()
                    .map(|item| self.apply_scalar(item).map(Cow::into_owned))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|items| Cow::Owned(Value::Array(items))),
                Cow::Owned(Value::Array(items)) => items
                    .iter()
                    .map(|item| self.apply_scalar(item).map(Cow::into_owned))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|items| Cow::Owned(Value::Array(items))),
                Cow::Borrowed(v) => self.apply_scalar(v),
                Cow::Owned(v) => self.apply_scalar(&v).map(|c| Cow::Owned(c.into_owned())),
            },
        }
    }

    /// The per-value transforms, on one value.
    fn apply_scalar<'v>(&self, value: &'v Value) -> Result<Cow<'v, Value>, String> {
        match self {
            CompiledTransform::Lookup { table, default } => {
                let key = coerce::to_string_lossless(value).map_err(|e| e.to_string())?;
                match table.get(key.as_ref()).or(default.as_ref()) {
                    Some(found) => Ok(Cow::Owned(found.clone())),
                    None => Err(format!(
                        "{} is not in the lookup table",
                        coerce::describe(value)
                    )),
                }
            }
            CompiledTransform::Lower => map_str(value, str::to_lowercase),
            CompiledTransform::Upper => map_str(value, str::to_uppercase),
            CompiledTransform::Trim => match value {
                Value::String(s) if s.trim().len() == s.len() => Ok(Cow::Borrowed(value)),
                _ => map_str(value, |s| s.trim().to_owned()),
            },
            CompiledTransform::ParseDatetime { format } => {
                let at = match format {
                    Some(format) => coerce::to_datetime_with_format(value, format),
                    None => coerce::to_datetime(value),
                }
                .map_err(|e| e.to_string())?;
                Ok(Cow::Owned(Value::String(coerce::datetime_to_string(&at))))
            }
            CompiledTransform::FormatDatetime { items } => {
                use std::fmt::Write as _;
                let at = coerce::to_datetime(value).map_err(|e| e.to_string())?;
                let mut out = String::new();
                write!(out, "{}", at.format_with_items(items.iter()))
                    .map_err(|_| "the date cannot be written in this format".to_owned())?;
                Ok(Cow::Owned(Value::String(out)))
            }
            CompiledTransform::ConvertUnit {
                factor,
                round,
                scale,
            } => {
                let x = coerce::to_f64(value).map_err(|e| e.to_string())? * factor;
                let rounded = match round {
                    Rounding::Nearest => (x * scale).round() / scale,
                    Rounding::Floor => (x * scale).floor() / scale,
                    Rounding::Ceil => (x * scale).ceil() / scale,
                    Rounding::None => x,
                };
                let out = if *round != Rounding::None && *scale == 1.0 && rounded.abs() < 9.0e15 {
                    Value::from(rounded as i64)
                } else {
                    serde_json::Number::from_f64(rounded)
                        .map(Value::Number)
                        .ok_or_else(|| format!("{rounded} is not a finite number"))?
                };
                Ok(Cow::Owned(out))
            }
            CompiledTransform::ExtractReference { key } => match value {
                Value::Object(map) => map.get(key.as_str()).map(Cow::Borrowed).ok_or_else(|| {
                    format!("expected a reference object with `{key}`, found an object without it")
                }),
                Value::String(_) | Value::Number(_) => Ok(Cow::Borrowed(value)),
                other => Err(expected("a reference object, a string or a number", other)),
            },
            CompiledTransform::ToNumber => Ok(Cow::Owned(Value::Number(
                coerce::to_number(value).map_err(|e| e.to_string())?,
            ))),
            CompiledTransform::ToBool => Ok(Cow::Owned(Value::Bool(
                coerce::to_bool(value).map_err(|e| e.to_string())?,
            ))),
            CompiledTransform::ToString => match value {
                Value::String(_) => Ok(Cow::Borrowed(value)),
                other => Ok(Cow::Owned(Value::String(
                    coerce::to_string_lossless(other)
                        .map_err(|e| e.to_string())?
                        .into_owned(),
                ))),
            },
            // The whole-value transforms never reach here.
            CompiledTransform::Split { .. }
            | CompiledTransform::Join { .. }
            | CompiledTransform::Custom { .. }
            | CompiledTransform::Coalesce { .. }
            | CompiledTransform::Constant { .. } => Ok(Cow::Borrowed(value)),
        }
    }
}

/// An empty or all-whitespace string.
fn is_blank_string(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Absent-like for `coalesce`: `null` or an empty string.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn map_str<'v>(value: &'v Value, f: impl Fn(&str) -> String) -> Result<Cow<'v, Value>, String> {
    match value {
        Value::String(s) => Ok(Cow::Owned(Value::String(f(s)))),
        other => Err(expected("a string", other)),
    }
}

fn expected(what: &'static str, found: &Value) -> String {
    CoerceError::new(what, found).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::model::Unit;
    use serde_json::json;

    fn run(t: &Transform, input: Value) -> Result<Option<Value>, String> {
        run_with(t, input, &TransformRegistry::new())
    }

    fn run_with(
        t: &Transform,
        input: Value,
        registry: &TransformRegistry,
    ) -> Result<Option<Value>, String> {
        let compiled = CompiledTransform::compile(t, registry)?;
        let record = json!({"alt": "fallback", "blank": "", "nothing": null});
        let input = if input.is_null() {
            None
        } else {
            Some(Cow::Owned(input))
        };
        compiled
            .apply(input, &record)
            .map(|v| v.map(Cow::into_owned))
    }

    #[test]
    fn lookup() {
        let t = || Transform::lookup([("1", "PRODUCTION"), ("2", "RETIRED")], Some("UNKNOWN"));
        assert_eq!(run(&t(), json!("1")), Ok(Some(json!("PRODUCTION"))));
        assert_eq!(run(&t(), json!(2)), Ok(Some(json!("RETIRED"))));
        assert_eq!(run(&t(), json!("9")), Ok(Some(json!("UNKNOWN"))));
        assert_eq!(run(&t(), json!("")), Ok(Some(json!("UNKNOWN"))));
        assert_eq!(run(&t(), json!(null)), Ok(None));
        assert_eq!(
            run(&t(), json!(["1", "2"])),
            Ok(Some(json!(["PRODUCTION", "RETIRED"])))
        );
        let strict = Transform::lookup([("1", "A")], None);
        assert_eq!(
            run(&strict, json!("7")),
            Err("\"7\" is not in the lookup table".into())
        );
        assert_eq!(
            run(&strict, json!({"x": 1})),
            Err("expected a string, number or boolean, found an object".into())
        );
    }

    #[test]
    fn lookup_tables_small_and_large_find_exactly_their_keys() {
        // Small tables are scanned, large ones searched by halves: both find every
        // key, and only exact keys (no prefixes, no case folding).
        for size in [1usize, 3, LookupTable::SCAN, LookupTable::SCAN + 1, 200] {
            let keys: Vec<String> = (0..size).map(|i| format!("k{}", i * 7)).collect();
            let t = Transform::lookup(keys.iter().map(|k| (k.as_str(), k.as_str())), None);
            for k in &keys {
                assert_eq!(run(&t, json!(k)), Ok(Some(json!(k))), "size {size}");
            }
            for missing in ["", "k", "K0", "k00", "k0 ", "k1"] {
                assert_eq!(
                    run(&t, json!(missing)),
                    Err(format!("{} is not in the lookup table", json!(missing))),
                    "size {size}, {missing:?}"
                );
            }
        }
        let mixed = Transform::lookup([("10", "ten"), ("1", "one"), ("100", "hundred")], None);
        assert_eq!(run(&mixed, json!(1)), Ok(Some(json!("one"))));
        assert_eq!(run(&mixed, json!(10)), Ok(Some(json!("ten"))));
        assert_eq!(run(&mixed, json!("100")), Ok(Some(json!("hundred"))));
    }

    #[test]
    fn case_and_trim() {
        assert_eq!(run(&Transform::Lower, json!("AbC")), Ok(Some(json!("abc"))));
        assert_eq!(run(&Transform::Upper, json!("AbC")), Ok(Some(json!("ABC"))));
        assert_eq!(
            run(&Transform::Trim, json!("  a b ")),
            Ok(Some(json!("a b")))
        );
        assert_eq!(run(&Transform::Trim, json!("ab")), Ok(Some(json!("ab"))));
        assert_eq!(
            run(&Transform::Lower, json!(["A", "B"])),
            Ok(Some(json!(["a", "b"])))
        );
        assert_eq!(
            run(&Transform::Lower, json!(1)),
            Err("expected a string, found 1".into())
        );
    }

    #[test]
    fn datetimes() {
        let parse = Transform::ParseDatetime { format: None };
        assert_eq!(
            run(&parse, json!("2024-01-15 10:30:00")),
            Ok(Some(json!("2024-01-15T10:30:00Z")))
        );
        assert_eq!(
            run(&parse, json!("2024-01-15T12:30:00+02:00")),
            Ok(Some(json!("2024-01-15T10:30:00Z")))
        );
        assert_eq!(
            run(&parse, json!("yesterday")),
            Err("expected a date and time, found \"yesterday\"".into())
        );
        let custom = Transform::ParseDatetime {
            format: Some("%d/%m/%Y %H:%M".into()),
        };
        assert_eq!(
            run(&custom, json!("15/01/2024 10:30")),
            Ok(Some(json!("2024-01-15T10:30:00Z")))
        );
        let bad = Transform::ParseDatetime {
            format: Some("%Q".into()),
        };
        assert_eq!(
            run(&bad, json!("x")),
            Err("invalid datetime format `%Q`".into())
        );
        let format = Transform::FormatDatetime {
            format: "%Y-%m-%d".into(),
        };
        assert_eq!(
            run(&format, json!("2024-01-15T23:30:00-02:00")),
            Ok(Some(json!("2024-01-16")))
        );
        let bad = Transform::FormatDatetime {
            format: "%Y-%".into(),
        };
        assert_eq!(
            run(&bad, json!("x")),
            Err("invalid datetime format `%Y-%`".into())
        );
    }

    #[test]
    fn convert_unit() {
        let mb_gb = |round, decimals| Transform::ConvertUnit {
            from: Unit::Mb,
            to: Unit::Gb,
            round,
            decimals,
        };
        assert_eq!(
            run(&mb_gb(Rounding::Nearest, 0), json!("16384")),
            Ok(Some(json!(16)))
        );
        assert_eq!(
            run(&mb_gb(Rounding::Nearest, 0), json!(1536)),
            Ok(Some(json!(2)))
        );
        assert_eq!(
            run(&mb_gb(Rounding::Floor, 0), json!(1536)),
            Ok(Some(json!(1)))
        );
        assert_eq!(
            run(&mb_gb(Rounding::Ceil, 0), json!(1025)),
            Ok(Some(json!(2)))
        );
        assert_eq!(
            run(&mb_gb(Rounding::Nearest, 2), json!(1000)),
            Ok(Some(json!(0.98)))
        );
        assert_eq!(
            run(&mb_gb(Rounding::None, 0), json!(512)),
            Ok(Some(json!(0.5)))
        );
        let gb_bytes = Transform::ConvertUnit {
            from: Unit::Gb,
            to: Unit::Bytes,
            round: Rounding::Nearest,
            decimals: 0,
        };
        assert_eq!(run(&gb_bytes, json!(2)), Ok(Some(json!(2_147_483_648_i64))));
        let tb_kb = Transform::ConvertUnit {
            from: Unit::Tb,
            to: Unit::Kb,
            round: Rounding::Nearest,
            decimals: 0,
        };
        assert_eq!(run(&tb_kb, json!(1)), Ok(Some(json!(1_073_741_824_i64))));
        assert_eq!(
            run(&mb_gb(Rounding::Nearest, 0), json!("lots")),
            Err("expected a number, found \"lots\"".into())
        );
    }

    #[test]
    fn extract_reference() {
        let t = Transform::extract_reference;
        let reference = json!({"link": "https://acme.service-now.com/api/now/table/sys_user/u1", "value": "u1"});
        assert_eq!(run(&t(), reference), Ok(Some(json!("u1"))));
        assert_eq!(run(&t(), json!("u1")), Ok(Some(json!("u1"))));
        assert_eq!(
            run(&t(), json!([{"value": "a"}, {"value": "b"}])),
            Ok(Some(json!(["a", "b"])))
        );
        assert_eq!(
            run(&t(), json!({"link": "x"})),
            Err("expected a reference object with `value`, found an object without it".into())
        );
        let display = Transform::ExtractReference {
            key: "display_value".into(),
        };
        assert_eq!(
            run(&display, json!({"display_value": "Alice", "value": "u1"})),
            Ok(Some(json!("Alice")))
        );
        assert_eq!(
            run(&t(), json!(true)),
            Err("expected a reference object, a string or a number, found true".into())
        );
    }

    #[test]
    fn split_and_join() {
        let split = Transform::Split {
            separator: ",".into(),
        };
        assert_eq!(
            run(&split, json!("a, b,,c")),
            Ok(Some(json!(["a", "b", "c"])))
        );
        assert_eq!(
            run(&split, json!(1)),
            Err("expected a string, found 1".into())
        );
        let join = Transform::Join {
            separator: "; ".into(),
        };
        assert_eq!(
            run(&join, json!(["a", 1, true])),
            Ok(Some(json!("a; 1; true")))
        );
        assert_eq!(run(&join, json!("as is")), Ok(Some(json!("as is"))));
        assert_eq!(
            run(&join, json!([{"a": 1}])),
            Err("expected a string, number or boolean, found an object".into())
        );
        assert_eq!(
            run(&join, json!(3)),
            Err("expected an array or a string, found 3".into())
        );
    }

    #[test]
    fn coalesce_and_constant() {
        let paths = |ps: &[&str]| Transform::Coalesce {
            paths: ps.iter().map(|p| FieldPath::parse(p).unwrap()).collect(),
        };
        assert_eq!(
            run(&paths(&["nothing", "blank", "alt"]), json!(null)),
            Ok(Some(json!("fallback")))
        );
        assert_eq!(
            run(&paths(&["alt"]), json!("")),
            Ok(Some(json!("fallback")))
        );
        assert_eq!(run(&paths(&["alt"]), json!("own")), Ok(Some(json!("own"))));
        assert_eq!(run(&paths(&["nothing", "missing"]), json!(null)), Ok(None));
        let constant = Transform::Constant {
            value: json!("servicenow"),
        };
        assert_eq!(run(&constant, json!(null)), Ok(Some(json!("servicenow"))));
        assert_eq!(run(&constant, json!("x")), Ok(Some(json!("servicenow"))));
    }

    #[test]
    fn conversions() {
        assert_eq!(run(&Transform::ToNumber, json!("4")), Ok(Some(json!(4))));
        assert_eq!(
            run(&Transform::ToNumber, json!("2.5")),
            Ok(Some(json!(2.5)))
        );
        assert_eq!(run(&Transform::ToNumber, json!(7)), Ok(Some(json!(7))));
        // ServiceNow sends "" for an unset number: absent, not an error.
        assert_eq!(run(&Transform::ToNumber, json!("")), Ok(None));
        assert_eq!(run(&Transform::ToBool, json!(" ")), Ok(None));
        assert_eq!(
            run(&Transform::ParseDatetime { format: None }, json!("")),
            Ok(None)
        );
        assert_eq!(
            run(&Transform::ToNumber, json!("four")),
            Err("expected a number, found \"four\"".into())
        );
        assert_eq!(
            run(&Transform::ToBool, json!("true")),
            Ok(Some(json!(true)))
        );
        assert_eq!(run(&Transform::ToBool, json!("0")), Ok(Some(json!(false))));
        assert_eq!(run(&Transform::ToBool, json!(1)), Ok(Some(json!(true))));
        assert_eq!(
            run(&Transform::ToBool, json!("perhaps")),
            Err("expected a boolean, found \"perhaps\"".into())
        );
        assert_eq!(run(&Transform::ToString, json!(42)), Ok(Some(json!("42"))));
        assert_eq!(
            run(&Transform::ToString, json!(false)),
            Ok(Some(json!("false")))
        );
        assert_eq!(run(&Transform::ToString, json!("s")), Ok(Some(json!("s"))));
        assert_eq!(
            run(&Transform::ToString, json!({})),
            Err("expected a string, number or boolean, found an object".into())
        );
    }

    #[test]
    fn custom_transforms_resolve_from_the_registry() {
        let registry = TransformRegistry::new().with_transform("repeat", |v, args| {
            let n = args["times"].as_u64().unwrap_or(1) as usize;
            v.as_str()
                .map(|s| json!(s.repeat(n)))
                .ok_or_else(|| "expected a string".to_owned())
        });
        let t = Transform::Custom {
            name: "repeat".into(),
            args: json!({"times": 3}),
        };
        assert_eq!(
            run_with(&t, json!("ab"), &registry),
            Ok(Some(json!("ababab")))
        );
        assert_eq!(
            run_with(&t, json!(1), &registry),
            Err("expected a string".into())
        );
        assert_eq!(run_with(&t, json!(null), &registry), Ok(None));
        assert_eq!(
            run(&t, json!("ab")),
            Err("unknown custom transform `repeat`".into())
        );
        assert_eq!(
            format!("{registry:?}"),
            "TransformRegistry { transforms: [\"repeat\"], rules: [] }"
        );
    }
}
