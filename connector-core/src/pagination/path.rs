//! Body paths for pagination signals, on the mapping engine's [`FieldPath`]
//! grammar: `a.b`, `a[0].b`, quoted keys such as `"@odata.nextLink"`.
//!
//! Two pagination-specific rules: a projection (`a[].b`) is refused, since a
//! signal is one value; and when a path finds nothing but the body has a
//! top-level key spelled exactly like the whole path, that key is used, so
//! `@odata.nextLink` works unquoted too.

use serde_json::Value;

use crate::mapping::FieldPath;

/// Parses a signal path, or says what is wrong with it.
pub(crate) fn parse(path: &str) -> Result<FieldPath, String> {
    let parsed = FieldPath::parse(path).map_err(|e| format!("invalid path `{path}`: {e}"))?;
    if parsed.has_projection() {
        return Err(format!(
            "invalid path `{path}`: a projection (`[]`) cannot locate a pagination signal"
        ));
    }
    Ok(parsed)
}

/// Looks `path` up in `root`. An invalid path finds nothing but its literal key
/// (strategies validate their paths before the first request).
pub(crate) fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let found = parse(path).ok().and_then(|p| p.resolve_borrowed(root));
    found.or_else(|| root.as_object()?.get(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_paths() {
        assert!(parse(r#"a."b.c"[2].d"#).is_ok());
        for bad in ["a..b", "a.", ".a", "\"a", "a[x]", "items[].cursor"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
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
    }
}
