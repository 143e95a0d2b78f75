//! A minimal path lookup into a JSON body, for pagination signals only.
//!
//! Syntax: segments separated by `.` (`response_metadata.next_cursor`), array
//! indexes in brackets (`data[0].cursor`), and keys containing dots or brackets in
//! double quotes (`"@odata.nextLink"`, with `\"` and `\\` escapes). An empty path is
//! the body itself. When a path finds nothing and the body has a top-level key
//! spelled exactly like the whole path, that key is used, so `@odata.nextLink`
//! works unquoted too.

use serde_json::Value;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses a path, or says what is wrong with it.
pub(crate) fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut chars = path.chars().peekable();
    // Whether a segment must follow (start of path or after a dot).
    let mut expect_segment = !path.is_empty();
    while let Some(&c) = chars.peek() {
        match c {
            '"' => {
                chars.next();
                let mut key = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some(escaped) => key.push(escaped),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        other => key.push(other),
                    }
                }
                if !closed {
                    return Err(format!("unterminated quoted key in path `{path}`"));
                }
                segments.push(Segment::Key(key));
                expect_segment = false;
            }
            '[' => {
                chars.next();
                let mut digits = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    digits.push(c);
                }
                let index = digits.trim().parse::<usize>().ok().filter(|_| closed);
                match index {
                    Some(i) => segments.push(Segment::Index(i)),
                    None => {
                        return Err(format!("invalid array index `[{digits}` in path `{path}`"));
                    }
                }
                expect_segment = false;
            }
            '.' => {
                if expect_segment {
                    return Err(format!("empty segment in path `{path}`"));
                }
                chars.next();
                expect_segment = true;
            }
            _ => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' || c == '"' {
                        break;
                    }
                    key.push(c);
                    chars.next();
                }
                segments.push(Segment::Key(key));
                expect_segment = false;
            }
        }
    }
    if expect_segment {
        return Err(format!("path `{path}` ends with a dot"));
    }
    Ok(segments)
}

/// Looks `path` up in `root`. An invalid path finds nothing (strategies validate
/// their paths before the first request).
pub(crate) fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let found = parse(path).ok().and_then(|segments| {
        segments
            .iter()
            .try_fold(root, |value, segment| match segment {
                Segment::Key(key) => value.as_object()?.get(key),
                Segment::Index(i) => value.as_array()?.get(*i),
            })
    });
    found.or_else(|| root.as_object()?.get(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_dots_indexes_and_quoted_keys() {
        assert_eq!(
            parse(r#"a."b.c"[2].d"#),
            Ok(vec![
                Segment::Key("a".into()),
                Segment::Key("b.c".into()),
                Segment::Index(2),
                Segment::Key("d".into()),
            ])
        );
        assert_eq!(parse(""), Ok(vec![]));
        assert!(parse("a..b").is_err());
        assert!(parse("a.").is_err());
        assert!(parse(".a").is_err());
        assert!(parse("\"a").is_err());
        assert!(parse("a[x]").is_err());
    }

    #[test]
    fn looks_up_values() {
        let body = json!({
            "response_metadata": {"next_cursor": "abc"},
            "@odata.nextLink": "https://x/next",
            "data": {"items": [{"pageInfo": {"endCursor": "c1"}}]},
        });
        assert_eq!(
            lookup(&body, "response_metadata.next_cursor"),
            Some(&json!("abc"))
        );
        assert_eq!(
            lookup(&body, "\"@odata.nextLink\""),
            Some(&json!("https://x/next"))
        );
        // The whole path as a literal top-level key is the fallback.
        assert_eq!(
            lookup(&body, "@odata.nextLink"),
            Some(&json!("https://x/next"))
        );
        assert_eq!(
            lookup(&body, "data.items[0].pageInfo.endCursor"),
            Some(&json!("c1"))
        );
        assert_eq!(lookup(&body, "data.items[1]"), None);
        assert_eq!(lookup(&body, "missing.path"), None);
        assert_eq!(lookup(&body, ""), Some(&body));
    }
}
