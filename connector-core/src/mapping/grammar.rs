//! The field-path grammar, with no dependency beyond `std`.
//!
//! This file is the single definition of the path syntax used by
//! [`FieldPath`](super::FieldPath). It depends on nothing but `std` and refers to no
//! other module, so `connector-derive` can compile the same file
//! (`#[path = ".../mapping/grammar.rs"] mod grammar;`) to validate paths at compile
//! time with exactly the rules the runtime applies.
//!
//! # Syntax
//!
//! ```text
//! path     = key-seg { "." key-seg | "[" bracket "]" }
//! key-seg  = bare-key | quoted
//! bracket  = digits            (an array index)
//!          | ""                (a projection over every element)
//!          | quoted            (a key that contains special characters)
//! bare-key = one or more characters other than `.`, `[`, `]`, `"`, `\` and whitespace
//! quoted   = `"` { any character but `"` and `\` | `\"` | `\\` } `"`
//! ```
//!
//! Examples: `name`, `owned_by.value`, `items[0].id`, `members[].id`,
//! `"@odata.type"`, `a."x.y".b`, `a["x.y"]`.
//!
//! Positions in errors are 0-based character offsets into the path.

use std::fmt;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Look up an object key.
    Key(String),
    /// Take the element at this index of an array.
    Index(usize),
    /// Apply the rest of the path to every element of an array (`[]`).
    Project,
}

/// Why a path did not parse: what was expected, where, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The 0-based character offset of the problem.
    pub position: usize,
    /// What the parser expected there (`key`, `` `]` ``), in words.
    pub expected: &'static str,
    /// The character found there, or `None` at the end of the path.
    pub found: Option<char>,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {} at position {}, found ",
            self.expected, self.position
        )?;
        match self.found {
            Some(c) if c.is_whitespace() => write!(f, "whitespace {c:?}"),
            Some(c) => write!(f, "`{c}`"),
            None => f.write_str("end of path"),
        }
    }
}

impl std::error::Error for PathError {}

/// True for a character that may appear in a bare (unquoted) key.
pub fn is_bare_key_char(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '"' | '\\') && !c.is_whitespace()
}

/// True when `key` can be written without quotes.
pub fn is_bare_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_bare_key_char)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    position: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next().map(|(_, c)| c);
        if c.is_some() {
            self.position += 1;
        }
        c
    }

    fn error(&mut self, expected: &'static str) -> PathError {
        PathError {
            position: self.position,
            expected,
            found: self.peek(),
        }
    }

    /// A bare or quoted key.
    fn key(&mut self) -> Result<String, PathError> {
        match self.peek() {
            Some('"') => self.quoted(),
            Some(c) if is_bare_key_char(c) => {
                let mut key = String::new();
                while let Some(c) = self.peek().filter(|&c| is_bare_key_char(c)) {
                    key.push(c);
                    self.bump();
                }
                Ok(key)
            }
            _ => Err(self.error("key")),
        }
    }

    /// A quoted key; the parser is at the opening quote.
    fn quoted(&mut self) -> Result<String, PathError> {
        self.bump();
        let mut key = String::new();
        loop {
            match self.peek() {
                Some('"') => {
                    self.bump();
                    return Ok(key);
                }
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => {
                            key.push(c);
                            self.bump();
                        }
                        _ => return Err(self.error("`\"` or `\\` after `\\`")),
                    }
                }
                Some(c) => {
                    key.push(c);
                    self.bump();
                }
                None => return Err(self.error("closing `\"`")),
            }
        }
    }

    /// The inside of `[...]`; the parser is just after `[`.
    fn bracket(&mut self) -> Result<Segment, PathError> {
        let segment = match self.peek() {
            Some(']') => Segment::Project,
            Some('"') => Segment::Key(self.quoted()?),
            Some(c) if c.is_ascii_digit() => {
                let start = self.position;
                let mut index: usize = 0;
                while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
                    index = match index
                        .checked_mul(10)
                        .and_then(|i| i.checked_add(d as usize))
                    {
                        Some(i) => i,
                        None => {
                            return Err(PathError {
                                position: start,
                                expected: "an index that fits in usize",
                                found: Some(c),
                            });
                        }
                    };
                    self.bump();
                }
                Segment::Index(index)
            }
            _ => return Err(self.error("index, `]` or quoted key")),
        };
        match self.peek() {
            Some(']') => {
                self.bump();
                Ok(segment)
            }
            _ => Err(self.error("`]`")),
        }
    }
}

/// Parses a path into its segments.
///
/// # Errors
///
/// A [`PathError`] naming the first position that breaks the grammar, what was
/// expected there and what was found.
pub fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    let mut p = Parser {
        chars: path.char_indices().peekable(),
        position: 0,
    };
    let mut segments = vec![Segment::Key(p.key()?)];
    loop {
        match p.peek() {
            None => return Ok(segments),
            Some('.') => {
                p.bump();
                segments.push(Segment::Key(p.key()?));
            }
            Some('[') => {
                p.bump();
                segments.push(p.bracket()?);
            }
            Some(_) => return Err(p.error("`.`, `[` or end of path")),
        }
    }
}

/// Writes a key, quoting and escaping it when it is not a bare key.
pub fn write_key(out: &mut impl fmt::Write, key: &str) -> fmt::Result {
    if is_bare_key(key) {
        return out.write_str(key);
    }
    out.write_char('"')?;
    for c in key.chars() {
        if matches!(c, '"' | '\\') {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('"')
}

/// Writes segments in canonical form: `a."x.y"[0][]`. Parsing the output yields the
/// same segments.
pub fn write_segments(out: &mut impl fmt::Write, segments: &[Segment]) -> fmt::Result {
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Key(key) => {
                if i > 0 {
                    out.write_char('.')?;
                }
                write_key(out, key)?;
            }
            Segment::Index(index) => write!(out, "[{index}]")?,
            Segment::Project => out.write_str("[]")?,
        }
    }
    Ok(())
}

/// The canonical text of `segments` (see [`write_segments`]).
pub fn to_canonical(segments: &[Segment]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_segments(&mut out, segments);
    out
}
