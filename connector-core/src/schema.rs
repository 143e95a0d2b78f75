//! Validation of JSON values against the JSON Schemas that `schemars` generates.
//!
//! Connector settings arrive as JSON. Before they are deserialised into the
//! connector's typed settings they are checked against the connector's schema, so a
//! user gets every problem at once, each naming its path (`settings.instance:
//! required`), instead of serde's first error.
//!
//! The validator covers the keywords `schemars` emits for Rust types: `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `prefixItems`,
//! `enum`, `const`, `minimum`/`maximum` (and exclusive forms), `minLength`/
//! `maxLength`, `minItems`/`maxItems`, `pattern`, `format` (`uri`, `email`),
//! `anyOf`/`oneOf`/`allOf`, and `$ref` into `$defs`/`definitions`. Unknown
//! keywords are ignored, as the JSON Schema specification says.

use serde_json::{Map, Value};

use crate::error::FieldError;

/// Validates `value` against `schema`, returning every violation found.
///
/// `root` is the path prefix used in error paths (`settings`).
///
/// ```
/// use connector_core::schema::validate;
/// use serde_json::json;
///
/// let schema = json!({
///     "type": "object",
///     "properties": { "instance": { "type": "string" }, "page_size": { "type": "integer", "maximum": 1000 } },
///     "required": ["instance"]
/// });
/// let errors = validate(&schema, &json!({ "page_size": 5000 }), "settings");
/// let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
/// assert_eq!(lines, [
///     "settings.instance: required",
///     "settings.page_size: must be at most 1000",
/// ]);
/// ```
pub fn validate(schema: &Value, value: &Value, root: &str) -> Vec<FieldError> {
    let mut v = Validator {
        root: schema,
        errors: Vec::new(),
        depth: 0,
    };
    v.check(schema, value, root);
    v.errors
}

struct Validator<'s> {
    root: &'s Value,
    errors: Vec<FieldError>,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (path.is_empty(), simple) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{key:?}"),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}.{key:?}"),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => value.is_number(),
        other => type_name(value) == other,
    }
}

fn short(value: &Value) -> String {
    let s = value.to_string();
    if s.len() > 60 {
        let mut end = 57;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

impl<'s> Validator<'s> {
    fn push(&mut self, path: &str, rule: &str, message: String) {
        self.errors.push(FieldError::new(path, rule, message));
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// Whether `value` is valid against `schema`, without recording errors.
    fn is_valid(&mut self, schema: &'s Value, value: &Value) -> bool {
        let saved = std::mem::take(&mut self.errors);
        self.check(schema, value, "");
        let ok = self.errors.is_empty();
        self.errors = saved;
        ok
    }

    fn check(&mut self, schema: &'s Value, value: &Value, path: &str) {
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.push(path, "not_allowed", "is not allowed".into());
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        if self.depth >= MAX_DEPTH {
            return;
        }
        self.depth += 1;
        self.check_object_schema(schema, value, path);
        self.depth -= 1;
    }

    fn check_object_schema(&mut self, schema: &'s Map<String, Value>, value: &Value, path: &str) {
        if let Some(Value::String(reference)) = schema.get("$ref") {
            match self.resolve(reference) {
                Some(target) => self.check(target, value, path),
                None => self.push(
                    path,
                    "schema",
                    format!("schema reference {reference} is unknown"),
                ),
            }
        }

        if let Some(expected) = schema.get("type") {
            let ok = match expected {
                Value::String(t) => type_matches(t, value),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|t| type_matches(t, value)),
                _ => true,
            };
            if !ok {
                let wanted = match expected {
                    Value::Array(ts) => ts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" or "),
                    other => other.as_str().unwrap_or("?").to_owned(),
                };
                let message = format!("expected {wanted}, found {}", type_name(value));
                self.push(path, "type", message);
                return;
            }
        }

        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.contains(value)
        {
            let listed = options.iter().map(short).collect::<Vec<_>>().join(", ");
            self.push(
                path,
                "one_of",
                format!("must be one of {listed}, found {}", short(value)),
            );
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            self.push(path, "const", format!("must be {}", short(expected)));
        }

        match value {
            Value::Object(map) => self.check_object(schema, map, path),
            Value::Array(items) => self.check_array(schema, items, path),
            Value::String(s) => self.check_string(schema, s, path),
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    self.check_number(schema, x, path);
                }
            }
            _ => {}
        }

        if let Some(Value::Array(all)) = schema.get("allOf") {
            for s in all {
                self.check(s, value, path);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = schema.get(key) {
                let matching = options.iter().filter(|s| self.is_valid(s, value)).count();
                let ok = if key == "anyOf" {
                    matching >= 1
                } else {
                    matching == 1
                };
                if !ok {
                    // Report the errors of the closest option when there is one
                    // object option, which names the field; otherwise say no variant fits.
                    if options.len() == 1 {
                        self.check(&options[0], value, path);
                    } else if matching == 0 {
                        let variants = describe_variants(options);
                        self.push(
                            path,
                            "variant",
                            format!("does not match any allowed form{variants}"),
                        );
                    } else {
                        self.push(path, "variant", "matches more than one allowed form".into());
                    }
                }
            }
        }
    }

    fn check_object(
        &mut self,
        schema: &'s Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    self.push(&join(path, name), "required", "required".into());
                }
            }
        }
        for (key, item) in map {
            let child = join(path, key);
            match properties.and_then(|p| p.get(key)) {
                Some(prop_schema) => self.check(prop_schema, item, &child),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let known = properties
                            .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default();
                        self.push(
                            &child,
                            "unknown_field",
                            format!("unknown field, expected one of {known}"),
                        );
                    }
                    Some(extra @ Value::Object(_)) => self.check(extra, item, &child),
                    _ => {}
                },
            }
        }
    }

    fn check_array(&mut self, schema: &'s Map<String, Value>, items: &[Value], path: &str) {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            self.push(
                path,
                "min_items",
                format!("needs at least {min} items, found {len}"),
            );
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            self.push(
                path,
                "max_items",
                format!("allows at most {max} items, found {len}"),
            );
        }
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let child = format!("{path}[{i}]");
            match prefix.and_then(|p| p.get(i)) {
                Some(s) => self.check(s, item, &child),
                None => {
                    if let Some(s) = schema.get("items") {
                        self.check(s, item, &child);
                    }
                }
            }
        }
    }

    fn check_string(&mut self, schema: &'s Map<String, Value>, s: &str, path: &str) {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            self.push(
                path,
                "min_length",
                format!("must be at least {min} characters"),
            );
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            self.push(
                path,
                "max_length",
                format!("must be at most {max} characters"),
            );
        }
        if let Some(Value::String(pattern)) = schema.get("pattern") {
            match regex_lite::Regex::new(pattern) {
                Ok(re) if !re.is_match(s) => {
                    self.push(path, "pattern", format!("must match the pattern {pattern}"));
                }
                Ok(_) => {}
                Err(_) => self.push(
                    path,
                    "schema",
                    format!("schema pattern {pattern} is invalid"),
                ),
            }
        }
        match schema.get("format").and_then(Value::as_str) {
            Some("uri") if !looks_like_url(s) => {
                self.push(
                    path,
                    "url",
                    "must be an absolute URL like https://example.com".into(),
                );
            }
            Some("email") if !looks_like_email(s) => {
                self.push(path, "email", "must be an email address".into());
            }
            _ => {}
        }
    }

    fn check_number(&mut self, schema: &'s Map<String, Value>, x: f64, path: &str) {
        let num = |k: &str| schema.get(k).and_then(Value::as_f64);
        if let Some(min) = num("minimum")
            && x < min
        {
            self.push(
                path,
                "range",
                format!("must be at least {}", min_display(min)),
            );
        }
        if let Some(max) = num("maximum")
            && x > max
        {
            self.push(
                path,
                "range",
                format!("must be at most {}", min_display(max)),
            );
        }
        if let Some(min) = num("exclusiveMinimum")
            && x <= min
        {
            self.push(
                path,
                "range",
                format!("must be greater than {}", min_display(min)),
            );
        }
        if let Some(max) = num("exclusiveMaximum")
            && x >= max
        {
            self.push(
                path,
                "range",
                format!("must be less than {}", min_display(max)),
            );
        }
        if let Some(Value::String(format)) = schema.get("format") {
            let bounds = match format.as_str() {
                "uint8" => Some((0.0, u8::MAX as f64)),
                "uint16" => Some((0.0, u16::MAX as f64)),
                "uint32" => Some((0.0, u32::MAX as f64)),
                "int8" => Some((i8::MIN as f64, i8::MAX as f64)),
                "int16" => Some((i16::MIN as f64, i16::MAX as f64)),
                "int32" => Some((i32::MIN as f64, i32::MAX as f64)),
                _ => None,
            };
            if let Some((lo, hi)) = bounds
                && (x < lo || x > hi)
            {
                self.push(path, "range", format!("does not fit in {format}"));
            }
        }
    }
}

/// Prints whole bounds without a trailing `.0`.
fn min_display(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

fn describe_variants(options: &[Value]) -> String {
    let tags: Vec<String> = options
        .iter()
        .filter_map(|o| {
            let props = o.get("properties")?.as_object()?;
            props.values().find_map(|p| p.get("const").map(short))
        })
        .collect();
    if tags.is_empty() {
        String::new()
    } else {
        format!(" (type must be one of {})", tags.join(", "))
    }
}

/// A light check for absolute http(s) URLs: a scheme, `://` and a host.
pub(crate) fn looks_like_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        && rest
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|host| !host.is_empty())
        && !s.chars().any(char::is_whitespace)
}

/// A light check for email addresses: one `@`, a local part, a dotted domain.
pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(JsonSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        instance: String,
        #[schemars(range(min = 1, max = 1000))]
        page_size: Option<u32>,
        #[schemars(url)]
        base_url: Option<String>,
        mode: Mode,
        tables: Vec<Table>,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Full,
        Incremental,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema, serde::Deserialize)]
    struct Table {
        #[schemars(length(min = 2))]
        name: String,
    }

    fn errors(value: Value) -> Vec<String> {
        let schema = serde_json::to_value(schemars::schema_for!(Settings)).unwrap();
        validate(&schema, &value, "settings")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_settings_pass() {
        let ok =
            json!({"instance":"acme","page_size":100,"mode":"full","tables":[{"name":"cmdb"}]});
        assert!(errors(ok).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = json!({
            "page_size": 0,
            "base_url": "not a url",
            "mode": "sometimes",
            "tables": [{"name":"ok"}, {"name":"x"}, {}],
            "instnace": "typo"
        });
        assert_eq!(
            errors(bad),
            [
                "settings.instance: required",
                "settings.base_url: must be an absolute URL like https://example.com",
                "settings.instnace: unknown field, expected one of base_url, instance, mode, page_size, tables",
                "settings.mode: must be one of \"full\", \"incremental\", found \"sometimes\"",
                "settings.page_size: must be at least 1",
                "settings.tables[1].name: must be at least 2 characters",
                "settings.tables[2].name: required",
            ]
        );
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            errors(json!({"instance": 5, "mode": "full", "tables": {}})),
            [
                "settings.instance: expected string, found integer",
                "settings.tables: expected array, found object"
            ]
        );
    }

    #[test]
    fn tagged_enums_say_which_tags_are_allowed() {
        let schema = serde_json::to_value(schemars::schema_for!(crate::Credentials)).unwrap();
        let errs = validate(&schema, &json!({"type": "kerberos"}), "credentials");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("\"basic\""), "{}", errs[0]);
    }

    #[test]
    fn url_and_email_checks() {
        assert!(looks_like_url("https://acme.service-now.com"));
        assert!(!looks_like_url("acme.service-now.com"));
        assert!(!looks_like_url("https:///path"));
        assert!(looks_like_email("a.b@example.com"));
        assert!(!looks_like_email("a@b"));
        assert!(!looks_like_email("a b@example.com"));
    }
}
