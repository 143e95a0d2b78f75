//! Writing records as JSON, byte for byte what `serde_json::to_writer` writes for
//! them, at a fraction of the cost.
//!
//! A store serialises every record it writes; with serde_json most of that time is
//! its string escaping (a table lookup per byte) and chrono's `Display`-based
//! timestamps. Here strings are scanned eight bytes at a time and timestamps are
//! written digit by digit; everything else follows serde_json's compact format
//! exactly (tests compare the bytes with serde_json's over random records).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;

use crate::record::Record;

/// Appends `record` as compact JSON: the same bytes as
/// `serde_json::to_writer(out, record)`.
pub(crate) fn write_record(out: &mut Vec<u8>, record: &Record) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"entity_type\":");
    write_str(out, record.entity_type.as_str());
    out.extend_from_slice(b",\"external_id\":");
    write_str(out, &record.external_id);
    out.extend_from_slice(b",\"source_connector\":");
    write_str(out, record.source_connector.as_str());
    out.extend_from_slice(b",\"fields\":{");
    for (i, (name, value)) in record.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name.as_str());
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    if !record.relationships.is_empty() {
        out.extend_from_slice(b",\"relationships\":");
        serde_json::to_writer(&mut *out, &record.relationships)?;
    }
    if let Some(raw) = &record.raw {
        out.extend_from_slice(b",\"raw\":");
        write_value(out, raw)?;
    }
    if let Some(url) = &record.external_url {
        out.extend_from_slice(b",\"external_url\":");
        write_str(out, url);
    }
    if let Some(at) = record.created_at {
        out.extend_from_slice(b",\"created_at\":");
        write_time(out, at)?;
    }
    if let Some(at) = record.updated_at {
        out.extend_from_slice(b",\"updated_at\":");
        write_time(out, at)?;
    }
    out.push(b'}');
    Ok(())
}

/// Appends `value` as compact JSON (serde_json's bytes).
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => serde_json::to_writer(&mut *out, n)?,
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is below 0x20, a `"` or a `\`: the bytes JSON
/// escapes. (Exact: the borrow of the subtraction only runs into bytes above a
/// byte that already matched.)
fn needs_escape(word: u64) -> bool {
    let zero_in = |x: u64| x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS;
    let control = word.wrapping_sub(LOW_BITS * 0x20) & !word & HIGH_BITS;
    (control
        | zero_in(word ^ (LOW_BITS * u64::from(b'"')))
        | zero_in(word ^ (LOW_BITS * u64::from(b'\\'))))
        != 0
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it: `"` and `\`
/// with a backslash, `\b \t \n \f \r` short, other control bytes as `\u00XX`
/// (lowercase hex), everything else (`/`, DEL, non-ASCII) as is.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `at` as chrono's serde writes it (`"2024-01-15T10:30:45Z"`, with 3, 6
/// or 9 fraction digits when the time has a fraction).
fn write_time(out: &mut Vec<u8>, at: DateTime<Utc>) -> serde_json::Result<()> {
    match rfc3339(at, Fraction::Shortest) {
        Some((text, len)) => {
            out.push(b'"');
            out.extend_from_slice(&text[..len]);
            out.push(b'"');
            Ok(())
        }
        None => serde_json::to_writer(&mut *out, &at),
    }
}

/// How many fraction digits [`rfc3339`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fraction {
    /// None for a whole second, else 3, 6 or 9: chrono's serde and `Debug` form.
    Shortest,
    /// Always 9: `to_rfc3339_opts(SecondsFormat::Nanos, true)`.
    Nanos,
}

/// `at` as RFC 3339 text in UTC with a `Z`, exactly as chrono writes it, in a
/// fixed buffer (no allocation, no formatting machinery): the bytes and their
/// length. `None` for years outside 0 to 9999, which chrono writes with a sign.
pub(crate) fn rfc3339(at: DateTime<Utc>, fraction: Fraction) -> Option<([u8; 30], usize)> {
    // The accessors of a `DateTime` convert to local time on every call; the
    // naive UTC date and time are read directly.
    let naive = at.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    // chrono writes a leap second (nanosecond 1e9 or more) as second 60.
    let (second, nanos) = match time.nanosecond() {
        n if n >= 1_000_000_000 => (time.second() + 1, n - 1_000_000_000),
        n => (time.second(), n),
    };
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    let two = |text: &mut [u8; 30], at: usize, n: u32| {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    };
    two(&mut text, 0, year / 100);
    two(&mut text, 2, year % 100);
    two(&mut text, 5, date.month());
    two(&mut text, 8, date.day());
    two(&mut text, 11, time.hour());
    two(&mut text, 14, time.minute());
    two(&mut text, 17, second);
    let digits = match fraction {
        Fraction::Nanos => 9,
        Fraction::Shortest if nanos == 0 => 0,
        Fraction::Shortest if nanos % 1_000_000 == 0 => 3,
        Fraction::Shortest if nanos % 1_000 == 0 => 6,
        Fraction::Shortest => 9,
    };
    if digits == 0 {
        text[19] = b'Z';
        return Some((text, 20));
    }
    let mut n = nanos / 10u32.pow(9 - digits);
    for i in (20..20 + digits as usize).rev() {
        text[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    text[20 + digits as usize] = b'Z';
    Some((text, 21 + digits as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Relationship, RelationshipKind};
    use proptest::prelude::*;
    use serde_json::json;

    fn ours(record: &Record) -> String {
        let mut out = Vec::new();
        write_record(&mut out, record).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("{e}"))
    }

    fn theirs(record: &Record) -> String {
        serde_json::to_string(record).unwrap_or_else(|e| panic!("{e}"))
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_full_record_is_written_as_serde_json_writes_it() {
        let mut record = Record::new("ISSUE", "42\"\\\n", "github")
            .with_field(
                "title",
                json!("Sync \u{1} stalls / \u{7f} é \t\r\u{8}\u{c}"),
            )
            .with_field("n", json!(-3))
            .with_field("ratio", json!(0.1))
            .with_field("big", json!(u64::MAX))
            .with_field("ok", json!(true))
            .with_field("none", Value::Null)
            .with_field(
                "user",
                json!({"login": "octo", "id": 1, "nested": [1, [], {}]}),
            )
            .with_field("labels", json!([{"name": "bug"}, {"name": "p1"}]))
            .with_relationship(Relationship::new(
                ("ISSUE", "42"),
                RelationshipKind::DependsOn,
                ("REPO", "7"),
            ));
        record.raw = Some(json!({"id": 42, "x": "y"}));
        record.external_url = Some("https://example.test/a?b=\"c\"".into());
        record.created_at = Some(at("2024-01-15T10:30:45Z"));
        record.updated_at = Some(at("2024-02-01T00:00:00.5Z"));
        assert_eq!(ours(&record), theirs(&record));
        let bare = Record::new("ISSUE", "", "github");
        assert_eq!(ours(&bare), theirs(&bare));
    }

    #[test]
    fn times_are_written_as_chrono_serialises_them() {
        use chrono::{NaiveDate, TimeZone};
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_000_000_000))
            .map(|t| Utc.from_utc_datetime(&t))
            .unwrap_or_else(|| panic!("a leap second"));
        for t in [
            at("2024-01-15T10:30:45Z"),
            at("2024-01-15T10:30:45.1Z"),
            at("2024-01-15T10:30:45.000123Z"),
            at("2024-01-15T10:30:45.000000007Z"),
            at("0000-01-01T00:00:00Z"),
            at("9999-12-31T23:59:59.999Z"),
            leap,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ] {
            let mut out = Vec::new();
            write_time(&mut out, t).unwrap_or_else(|e| panic!("{e}"));
            let expected = serde_json::to_vec(&t).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    /// Strings with every byte class JSON escapes, at every offset of the
    /// eight-byte scan.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\u{7f}'),
                Just('é'),
                Just('😀'),
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('a')),
                prop::char::range('a', 'z'),
                prop::char::range('a', 'z'),
                prop::char::range('a', 'z'),
            ],
            0..40,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            tricky_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(tricky_string(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_record_is_written_as_serde_json_writes_it(
            id in tricky_string(),
            fields in prop::collection::btree_map(tricky_string(), any_value(), 0..6),
            raw in prop::option::of(any_value()),
            url in prop::option::of(tricky_string()),
            created in prop::option::of(-62_135_596_800i64..253_402_300_800i64),
            nanos in prop_oneof![Just(0u32), Just(500_000_000), Just(123_000), 0u32..1_000_000_000],
        ) {
            let mut record = Record::new("ENTITY", id, "conn");
            for (name, value) in fields {
                record = record.with_field(name, value);
            }
            record.raw = raw;
            record.external_url = url;
            record.created_at = created.and_then(|s| DateTime::from_timestamp(s, nanos));
            record.updated_at = record.created_at;
            prop_assert_eq!(ours(&record), theirs(&record));
        }

        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in tricky_string()) {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            let expected = serde_json::to_vec(&s).unwrap_or_else(|e| panic!("{e}"));
            prop_assert_eq!(out, expected);
        }
    }
}
