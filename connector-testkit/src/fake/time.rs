//! Timestamps in the formats vendors use, read and written back in kind.
//!
//! Fakes filter by an "updated" field and the suite moves records forward in time;
//! both must work whatever format the fixture data uses: RFC 3339 (`2024-01-15T10:22:33Z`,
//! with or without fractions or an offset), ServiceNow's `2024-01-15 10:22:33`, or
//! epoch seconds or milliseconds as numbers.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

const SPACE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
const BASIC_OFFSET_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f%z";

/// Parses a timestamp value: an RFC 3339 string, `YYYY-MM-DD HH:MM:SS` (UTC), or
/// epoch seconds (milliseconds when at least 10^12) as a number.
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_str(s),
        Value::Number(n) => {
            let n = n.as_i64()?;
            if n >= 1_000_000_000_000 {
                DateTime::from_timestamp_millis(n)
            } else {
                DateTime::from_timestamp(n, 0)
            }
        }
        _ => None,
    }
}

/// Parses a timestamp string (see [`parse_timestamp`]).
pub fn parse_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // ISO 8601 with a basic offset, as Jira and Salesforce send it:
    // `2024-01-15T10:22:33.000+0000`.
    if let Ok(t) = DateTime::parse_from_str(s, BASIC_OFFSET_FORMAT) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, SPACE_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// Formats `at` the way `like` is formatted, so a record keeps its vendor's format
/// after the suite changes it. RFC 3339 with a `Z` when `like` is not recognised.
pub fn format_like(like: &Value, at: DateTime<Utc>) -> Value {
    match like {
        Value::Number(n) if n.as_i64().is_some_and(|n| n >= 1_000_000_000_000) => {
            Value::from(at.timestamp_millis())
        }
        Value::Number(_) => Value::from(at.timestamp()),
        Value::String(s) if NaiveDateTime::parse_from_str(s.trim(), SPACE_FORMAT).is_ok() => {
            Value::String(at.format(SPACE_FORMAT).to_string())
        }
        Value::String(s)
            if DateTime::parse_from_rfc3339(s.trim()).is_err()
                && DateTime::parse_from_str(s.trim(), BASIC_OFFSET_FORMAT).is_ok() =>
        {
            Value::String(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        }
        Value::String(s) => {
            let fractions = if s.contains('.') {
                SecondsFormat::Millis
            } else {
                SecondsFormat::Secs
            };
            Value::String(at.to_rfc3339_opts(fractions, !s.ends_with("+00:00")))
        }
        _ => Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_round_trip() {
        let at = parse_str("2024-01-15T10:22:33Z").expect("rfc3339");
        assert_eq!(
            format_like(&json!("2023-01-01T00:00:00Z"), at),
            json!("2024-01-15T10:22:33Z")
        );
        assert_eq!(
            format_like(&json!("2023-01-01T00:00:00.000Z"), at),
            json!("2024-01-15T10:22:33.000Z")
        );
        assert_eq!(
            format_like(&json!("2023-01-01 00:00:00"), at),
            json!("2024-01-15 10:22:33")
        );
        assert_eq!(format_like(&json!(1), at), json!(1_705_314_153));
        assert_eq!(parse_timestamp(&json!("2024-01-15 10:22:33")), Some(at));
        assert_eq!(parse_timestamp(&json!(1_705_314_153_000_i64)), Some(at));
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
    }
}
