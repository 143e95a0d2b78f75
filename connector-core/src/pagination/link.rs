//! A forgiving parser for RFC 8288 `Link` headers.
//!
//! Real servers are loose with the grammar, so the parser accepts whitespace
//! anywhere it is harmless, several links per header value (and several header
//! values), several relation types in one `rel` (`rel="next last"`), quoted and
//! unquoted parameter values (with `\"` escapes), and commas or semicolons inside
//! quoted strings or inside `<...>`. A malformed parameter is skipped without
//! losing the links around it. Relative URI-references are returned as written:
//! resolving them against the request URL is the HTTP layer's job.

/// One link of a `Link` header: a URI-reference and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    uri: String,
    params: Vec<(String, String)>,
}

impl Link {
    /// The target URI-reference as written between `<` and `>` (trimmed), possibly
    /// relative.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The parameters in order, names lowercased, values unquoted and unescaped.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value of the first parameter called `name` (ASCII case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The relation types of the first `rel` parameter, split on whitespace.
    pub fn rels(&self) -> impl Iterator<Item = &str> {
        self.param("rel")
            .unwrap_or_default()
            .split_ascii_whitespace()
    }

    /// Whether `rel` (ASCII case-insensitive) is one of this link's relation types.
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels().any(|r| r.eq_ignore_ascii_case(rel))
    }
}

/// Parses one `Link` header value into its links, in order.
///
/// Never fails: what cannot be parsed is skipped, and an unterminated `<` ends the
/// value.
///
/// ```
/// use connector_core::pagination::parse_link_header;
///
/// let links = parse_link_header(
///     r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last""#,
/// );
/// assert_eq!(links.len(), 2);
/// assert!(links[0].has_rel("next"));
/// assert_eq!(links[1].uri(), "https://api.github.com/repositories/1300192/issues?page=515");
/// ```
pub fn parse_link_header(value: &str) -> Vec<Link> {
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut links = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let uri = if bytes[i] == b'<' {
            match value[i + 1..].find('>') {
                Some(len) => {
                    let uri = value[i + 1..i + 1 + len].trim();
                    i += len + 2;
                    uri
                }
                None => break,
            }
        } else {
            // Lenient: a bare URI without angle brackets, up to the first `;` or `,`.
            let end = find_delimiter(bytes, i, b";,");
            let uri = value[i..end].trim();
            i = end;
            uri
        };
        let mut params = Vec::new();
        loop {
            skip_whitespace(bytes, &mut i);
            if i >= bytes.len() {
                break;
            }
            match bytes[i] {
                b',' => {
                    i += 1;
                    break;
                }
                b';' => {
                    i += 1;
                    skip_whitespace(bytes, &mut i);
                    let start = i;
                    while i < bytes.len()
                        && !bytes[i].is_ascii_whitespace()
                        && !matches!(bytes[i], b'=' | b';' | b',')
                    {
                        i += 1;
                    }
                    let name = value[start..i].to_ascii_lowercase();
                    skip_whitespace(bytes, &mut i);
                    let mut param_value = String::new();
                    if i < bytes.len() && bytes[i] == b'=' {
                        i += 1;
                        skip_whitespace(bytes, &mut i);
                        if i < bytes.len() && bytes[i] == b'"' {
                            param_value = read_quoted(value, &mut i);
                        } else {
                            let start = i;
                            while i < bytes.len()
                                && !bytes[i].is_ascii_whitespace()
                                && !matches!(bytes[i], b';' | b',')
                            {
                                i += 1;
                            }
                            param_value = value[start..i].to_string();
                        }
                    }
                    if !name.is_empty() {
                        params.push((name, param_value));
                    }
                }
                _ => {
                    // Garbage between parameters: skip to the next delimiter.
                    i = find_delimiter(bytes, i, b";,");
                }
            }
        }
        links.push(Link {
            uri: uri.to_string(),
            params,
        });
    }
    links
}

/// Finds the URI of the first link with relation type `rel` across several
/// `Link` header values (servers such as Okta send one header per link).
///
/// Links with an empty URI are ignored.
///
/// ```
/// use connector_core::pagination::find_link;
///
/// let values = [
///     r#"<https://acme.okta.com/api/v1/users?limit=200>; rel="self""#,
///     r#"<https://acme.okta.com/api/v1/users?after=00ub&limit=200>; rel="next""#,
/// ];
/// assert_eq!(
///     find_link(values, "next").as_deref(),
///     Some("https://acme.okta.com/api/v1/users?after=00ub&limit=200")
/// );
/// assert_eq!(find_link(values, "last"), None);
/// ```
pub fn find_link<'a>(values: impl IntoIterator<Item = &'a str>, rel: &str) -> Option<String> {
    values
        .into_iter()
        .flat_map(parse_link_header)
        .find(|link| !link.uri.is_empty() && link.has_rel(rel))
        .map(|link| link.uri)
}

fn skip_whitespace(bytes: &[u8], i: &mut usize) {
    while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

/// The index of the next delimiter in `delims` at or after `from`, outside quoted
/// strings, or the end of the input.
fn find_delimiter(bytes: &[u8], mut i: usize, delims: &[u8]) -> usize {
    let mut in_quotes = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            match b {
                b'\\' => i += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if delims.contains(&b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// Reads a quoted string starting at the opening quote at `*i`; leaves `*i` after
/// the closing quote (or at the end when it is missing).
fn read_quoted(value: &str, i: &mut usize) -> String {
    let mut out = String::new();
    let mut chars = value[*i + 1..].char_indices();
    let base = *i + 1;
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            '"' => {
                *i = base + offset + 1;
                return out;
            }
            other => out.push(other),
        }
    }
    *i = value.len();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(value: &str) -> Vec<(String, Vec<String>)> {
        parse_link_header(value)
            .into_iter()
            .map(|l| (l.uri().to_string(), l.rels().map(str::to_string).collect()))
            .collect()
    }

    fn pairs(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(u, rels)| (u.to_string(), rels.iter().map(|r| r.to_string()).collect()))
            .collect()
    }

    #[test]
    fn parses_messy_real_world_headers() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a [&'a str])]);
        let cases: &[Case<'_>] = &[
            // GitHub, exactly.
            (
                r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last""#,
                &[
                    (
                        "https://api.github.com/repositories/1300192/issues?page=2",
                        &["next"],
                    ),
                    (
                        "https://api.github.com/repositories/1300192/issues?page=515",
                        &["last"],
                    ),
                ],
            ),
            // GitHub, four links.
            (
                r#"<https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first", <https://api.github.com/repositories/1300192/issues?page=2>; rel="prev""#,
                &[
                    (
                        "https://api.github.com/repositories/1300192/issues?page=4",
                        &["next"],
                    ),
                    (
                        "https://api.github.com/repositories/1300192/issues?page=515",
                        &["last"],
                    ),
                    (
                        "https://api.github.com/repositories/1300192/issues?page=1",
                        &["first"],
                    ),
                    (
                        "https://api.github.com/repositories/1300192/issues?page=2",
                        &["prev"],
                    ),
                ],
            ),
            // ServiceNow: no space after `;`, negative offsets.
            (
                r#"<https://x.service-now.com/api/now/table/incident?sysparm_offset=0>;rel="first",<https://x.service-now.com/api/now/table/incident?sysparm_offset=-1>;rel="prev",<https://x.service-now.com/api/now/table/incident?sysparm_offset=1>;rel="next""#,
                &[
                    (
                        "https://x.service-now.com/api/now/table/incident?sysparm_offset=0",
                        &["first"],
                    ),
                    (
                        "https://x.service-now.com/api/now/table/incident?sysparm_offset=-1",
                        &["prev"],
                    ),
                    (
                        "https://x.service-now.com/api/now/table/incident?sysparm_offset=1",
                        &["next"],
                    ),
                ],
            ),
            // Unquoted rel, odd whitespace, uppercase parameter name and value.
            (
                "  < /items?cursor=abc >  ;  REL = Next  ,<https://h/x>;rel=last",
                &[("/items?cursor=abc", &["Next"]), ("https://h/x", &["last"])],
            ),
            // Several rels in one value.
            (
                r#"<https://h/p/9>; rel="next last""#,
                &[("https://h/p/9", &["next", "last"])],
            ),
            // Commas inside <...> and inside quoted strings.
            (
                r#"<https://h/search?q=a,b&page=2>; title="one, two; three"; rel="next", <https://h/search?q=a,b&page=1>; rel=prev"#,
                &[
                    ("https://h/search?q=a,b&page=2", &["next"]),
                    ("https://h/search?q=a,b&page=1", &["prev"]),
                ],
            ),
            // Escaped quote inside a quoted string; extension rel with a URI.
            (
                r#"<./p?x=1>; title="say \"hi\", ok"; rel="http://example.net/rel/x next""#,
                &[("./p?x=1", &["http://example.net/rel/x", "next"])],
            ),
            // Only the first rel counts; valueless and starred parameters are kept.
            (
                r#"<https://h/a>; rel="prev"; rel="next"; crossorigin; title*=UTF-8'de'n%c3%a4chstes"#,
                &[("https://h/a", &["prev"])],
            ),
            // Garbage between parameters is skipped without losing the link.
            (
                r#"<https://h/a> junk; rel="next""#,
                &[("https://h/a", &["next"])],
            ),
            // No brackets (broken servers), trailing comma, empty value.
            ("https://h/b; rel=next,", &[("https://h/b", &["next"])]),
            ("", &[]),
            ("  ,  , ", &[]),
            // Unterminated bracket: nothing after it is trusted.
            (
                r#"<https://h/a>; rel="next", <https://h/b; rel="last""#,
                &[("https://h/a", &["next"])],
            ),
            // Unterminated quote: the rest is the value.
            (r#"<https://h/a>; rel="next"#, &[("https://h/a", &["next"])]),
            // Non-ASCII in a quoted title.
            (
                r#"<https://h/ä>; title="naïve, ☃"; rel="next""#,
                &[("https://h/ä", &["next"])],
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(summary(header), pairs(expected), "header: {header}");
        }
    }

    #[test]
    fn reads_parameters() {
        let links = parse_link_header(r#"<a>; title="x \"y\""; TYPE=text/html; hreflang=de"#);
        assert_eq!(links[0].param("title"), Some(r#"x "y""#));
        assert_eq!(links[0].param("type"), Some("text/html"));
        assert_eq!(links[0].params().len(), 3);
    }

    #[test]
    fn finds_next_across_header_values() {
        let values = [
            r#"<https://acme.okta.com/api/v1/users?limit=200>; rel="self""#,
            r#"<https://acme.okta.com/api/v1/users?after=00ubfjQEMYBLRUWIEDKK&limit=200>; rel="next""#,
        ];
        assert_eq!(
            find_link(values, "next").as_deref(),
            Some("https://acme.okta.com/api/v1/users?after=00ubfjQEMYBLRUWIEDKK&limit=200")
        );
        assert_eq!(
            find_link(values, "NEXT")
                .as_deref()
                .map(|u| u.contains("after")),
            Some(true)
        );
        assert_eq!(find_link(["<>; rel=next"], "next"), None);
        assert_eq!(
            find_link([r#"<https://h/p>; rel="nextpage""#], "next"),
            None
        );
    }
}
