//! Compiled validation rules.
//!
//! Patterns are compiled and custom rules resolved once, when the mapper is built.

use std::borrow::Cow;

use regex_lite::Regex;
use serde_json::Value;

use super::coerce;
use super::model::Rule;
use super::transform::{RuleFn, TransformRegistry};

/// A rule ready to run.
#[derive(Clone)]
pub(crate) enum CompiledRule {
    Required,
    MinLength(usize),
    MaxLength(usize),
    Pattern(Regex),
    OneOf(Vec<Value>),
    Email,
    Url,
    Range { min: Option<f64>, max: Option<f64> },
    Custom(RuleFn),
}

impl CompiledRule {
    /// Compiles a rule.
    ///
    /// # Errors
    ///
    /// A message when a pattern does not compile or a custom rule is not registered.
    pub(crate) fn compile(rule: &Rule, registry: &TransformRegistry) -> Result<Self, String> {
        Ok(match rule {
            Rule::Required => CompiledRule::Required,
            Rule::MinLength(n) => CompiledRule::MinLength(*n),
            Rule::MaxLength(n) => CompiledRule::MaxLength(*n),
            Rule::Pattern(p) => CompiledRule::Pattern(
                Regex::new(p).map_err(|e| format!("pattern `{p}` does not compile: {e}"))?,
            ),
            Rule::OneOf(values) => CompiledRule::OneOf(values.clone()),
            Rule::Email => CompiledRule::Email,
            Rule::Url => CompiledRule::Url,
            Rule::Range { min, max } => CompiledRule::Range {
                min: *min,
                max: *max,
            },
            Rule::Custom { name } => CompiledRule::Custom(
                registry
                    .rule(name)
                    .cloned()
                    .ok_or_else(|| format!("unknown custom rule `{name}`"))?,
            ),
        })
    }

    /// Checks a mapped value (`None` when the field is absent). Returns the rule's own
    /// message on failure.
    pub(crate) fn check(&self, value: Option<&Value>) -> Result<(), Cow<'static, str>> {
        let value = match value {
            None | Some(Value::Null) => {
                return match self {
                    CompiledRule::Required => Err("required field is missing".into()),
                    _ => Ok(()),
                };
            }
            Some(value) => value,
        };
        match self {
            CompiledRule::Required => match value {
                Value::String(s) if s.is_empty() => Err("required field is empty".into()),
                Value::Array(a) if a.is_empty() => Err("required field is empty".into()),
                _ => Ok(()),
            },
            CompiledRule::MinLength(n) => match length(value)? {
                len if len >= *n => Ok(()),
                _ if value.is_array() => Err(format!("must have at least {n} items").into()),
                _ => Err(format!("must be at least {n} characters long").into()),
            },
            CompiledRule::MaxLength(n) => match length(value)? {
                len if len <= *n => Ok(()),
                _ if value.is_array() => Err(format!("must have at most {n} items").into()),
                _ => Err(format!("must be at most {n} characters long").into()),
            },
            CompiledRule::Pattern(re) => {
                let s = coerce::to_string_lossless(value).map_err(|e| e.to_string())?;
                if re.is_match(&s) {
                    Ok(())
                } else {
                    Err(format!("does not match pattern `{}`", re.as_str()).into())
                }
            }
            CompiledRule::OneOf(values) => {
                if values.iter().any(|v| loosely_equal(v, value)) {
                    Ok(())
                } else {
                    let listed: Vec<String> = values.iter().map(render).collect();
                    Err(format!("must be one of {}", listed.join(", ")).into())
                }
            }
            CompiledRule::Email => match value.as_str() {
                Some(s) if is_email(s) => Ok(()),
                _ => Err("is not a valid email address".into()),
            },
            CompiledRule::Url => match value.as_str() {
                Some(s) if is_url(s) => Ok(()),
                _ => Err("is not a valid URL".into()),
            },
            CompiledRule::Range { min, max } => {
                let x = coerce::to_f64(value).map_err(|e| e.to_string())?;
                let below = min.is_some_and(|m| x < m);
                let above = max.is_some_and(|m| x > m);
                match (below || above, min, max) {
                    (false, _, _) => Ok(()),
                    (true, Some(lo), Some(hi)) => {
                        Err(format!("must be between {lo} and {hi}").into())
                    }
                    (true, Some(lo), None) => Err(format!("must be at least {lo}").into()),
                    (true, _, Some(hi)) => Err(format!("must be at most {hi}").into()),
                    (true, None, None) => Ok(()),
                }
            }
            CompiledRule::Custom(f) => f(value).map_err(Cow::Owned),
        }
    }
}

fn length(value: &Value) -> Result<usize, Cow<'static, str>> {
    match value {
        Value::String(s) => Ok(s.chars().count()),
        Value::Array(a) => Ok(a.len()),
        other => Err(coerce::CoerceError::new("a string or an array", other)
            .to_string()
            .into()),
    }
}

/// A value as it reads in a message: strings bare, the rest as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Equal, or equal as text when both are scalars (`"7"` and `7`).
pub(crate) fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            let t = s.trim();
            match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => t.parse::<i64>().is_ok_and(|x| x == i),
                (_, Some(u), _) => t.parse::<u64>().is_ok_and(|x| x == u),
                (_, _, Some(f)) => t.parse::<f64>().is_ok_and(|x| x == f),
                _ => false,
            }
        }
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            s == if *b { "true" } else { "false" }
        }
        _ => false,
    }
}

/// `local@domain.tld`: one `@`, a non-empty local part, a domain of non-empty labels
/// with at least one dot, no whitespace, at most 254 bytes.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !s.chars().any(char::is_whitespace)
}

/// `scheme://host...`: an ASCII scheme starting with a letter, a non-empty host, no
/// whitespace.
fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !host.is_empty()
        && !host.starts_with(':')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rule: &Rule, value: Value) -> Result<(), String> {
        let registry = TransformRegistry::new().with_rule("even", |v| match v.as_i64() {
            Some(n) if n % 2 == 0 => Ok(()),
            _ => Err("must be even".to_owned()),
        });
        let compiled = CompiledRule::compile(rule, &registry)?;
        let value = if value.is_null() { None } else { Some(value) };
        compiled.check(value.as_ref()).map_err(Cow::into_owned)
    }

    #[test]
    fn required() {
        assert_eq!(check(&Rule::Required, json!("x")), Ok(()));
        assert_eq!(check(&Rule::Required, json!(0)), Ok(()));
        assert_eq!(
            check(&Rule::Required, json!(null)),
            Err("required field is missing".into())
        );
        assert_eq!(
            check(&Rule::Required, json!("")),
            Err("required field is empty".into())
        );
        assert_eq!(
            check(&Rule::Required, json!([])),
            Err("required field is empty".into())
        );
    }

    #[test]
    fn lengths() {
        assert_eq!(check(&Rule::MinLength(2), json!("ab")), Ok(()));
        assert_eq!(
            check(&Rule::MinLength(2), json!("é")),
            Err("must be at least 2 characters long".into())
        );
        assert_eq!(
            check(&Rule::MinLength(2), json!([1])),
            Err("must have at least 2 items".into())
        );
        assert_eq!(check(&Rule::MinLength(2), json!(null)), Ok(()));
        assert_eq!(check(&Rule::MaxLength(3), json!("abc")), Ok(()));
        assert_eq!(
            check(&Rule::MaxLength(3), json!("abcd")),
            Err("must be at most 3 characters long".into())
        );
        assert_eq!(
            check(&Rule::MaxLength(1), json!([1, 2])),
            Err("must have at most 1 items".into())
        );
        assert_eq!(
            check(&Rule::MaxLength(1), json!(12)),
            Err("expected a string or an array, found 12".into())
        );
    }

    #[test]
    fn pattern() {
        assert_eq!(
            check(&Rule::Pattern("^[A-Z]{3}-\\d+$".into()), json!("INC-42")),
            Ok(())
        );
        assert_eq!(check(&Rule::Pattern("^\\d+$".into()), json!(42)), Ok(()));
        assert_eq!(
            check(&Rule::Pattern("^[A-Z]{3}-\\d+$".into()), json!("inc-42")),
            Err("does not match pattern `^[A-Z]{3}-\\d+$`".into())
        );
        assert!(
            check(&Rule::Pattern("(".into()), json!("x"))
                .unwrap_err()
                .starts_with("pattern `(` does not compile")
        );
    }

    #[test]
    fn one_of() {
        let rule = || Rule::OneOf(vec![json!("1"), json!("2"), json!(3)]);
        assert_eq!(check(&rule(), json!("2")), Ok(()));
        assert_eq!(check(&rule(), json!(1)), Ok(()));
        assert_eq!(check(&rule(), json!("3")), Ok(()));
        assert_eq!(
            check(&rule(), json!("9")),
            Err("must be one of 1, 2, 3".into())
        );
    }

    #[test]
    fn email_and_url() {
        for good in [
            "alice@example.com",
            "a.b+c@sub.example.co.uk",
            "x@xn--bcher-kva.de",
        ] {
            assert_eq!(check(&Rule::Email, json!(good)), Ok(()), "{good}");
        }
        for bad in [
            "alice",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@.com",
        ] {
            assert_eq!(
                check(&Rule::Email, json!(bad)),
                Err("is not a valid email address".into()),
                "{bad}"
            );
        }
        assert_eq!(
            check(&Rule::Email, json!(1)),
            Err("is not a valid email address".into())
        );
        for good in [
            "https://acme.service-now.com/x?y=1",
            "http://localhost:8080",
            "ftp://h/f",
        ] {
            assert_eq!(check(&Rule::Url, json!(good)), Ok(()), "{good}");
        }
        for bad in [
            "acme.com",
            "https://",
            "https:///path",
            "1http://h",
            "https://a b.com",
            "https://:80",
        ] {
            assert_eq!(
                check(&Rule::Url, json!(bad)),
                Err("is not a valid URL".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn range() {
        let both = || Rule::Range {
            min: Some(0.0),
            max: Some(100.0),
        };
        assert_eq!(check(&both(), json!(50)), Ok(()));
        assert_eq!(check(&both(), json!("100")), Ok(()));
        assert_eq!(
            check(&both(), json!(101)),
            Err("must be between 0 and 100".into())
        );
        assert_eq!(
            check(
                &Rule::Range {
                    min: Some(1.5),
                    max: None
                },
                json!(1)
            ),
            Err("must be at least 1.5".into())
        );
        assert_eq!(
            check(
                &Rule::Range {
                    min: None,
                    max: Some(2.0)
                },
                json!(3)
            ),
            Err("must be at most 2".into())
        );
        assert_eq!(
            check(&both(), json!("x")),
            Err("expected a number, found \"x\"".into())
        );
    }

    #[test]
    fn custom() {
        let rule = || Rule::Custom {
            name: "even".into(),
        };
        assert_eq!(check(&rule(), json!(4)), Ok(()));
        assert_eq!(check(&rule(), json!(3)), Err("must be even".into()));
        assert_eq!(
            check(&Rule::Custom { name: "odd".into() }, json!(3)),
            Err("unknown custom rule `odd`".into())
        );
    }

    #[test]
    fn loose_equality() {
        assert!(loosely_equal(&json!("7"), &json!(7)));
        assert!(loosely_equal(&json!(7), &json!(" 7")));
        assert!(loosely_equal(&json!("2.5"), &json!(2.5)));
        assert!(loosely_equal(&json!("true"), &json!(true)));
        assert!(!loosely_equal(&json!("7a"), &json!(7)));
        assert!(!loosely_equal(&json!([7]), &json!(7)));
    }
}
