//! Phase 1, parse: reads `#[entity(...)]`, `#[field(...)]` and `#[relationship(...)]`
//! into plain data, recording every syntax error, unknown or duplicate attribute and
//! malformed path in the [`Ctxt`] and carrying on with the next attribute.
//!
//! Errors are worded like serde's: lowercase, no trailing period, the attribute in
//! backticks, saying what was expected.

use proc_macro2::{Span, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Token, bracketed, parenthesized, token};

use crate::case::{self, RenameRule};
use crate::ctxt::Ctxt;
use crate::grammar::{self, Segment};

/// A literal value in an attribute: a string, a number or a boolean.
#[derive(Debug, Clone)]
pub(crate) enum LitValue {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

/// A literal and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Lit {
    pub(crate) value: LitValue,
    pub(crate) span: Span,
}

impl Lit {
    /// What kind of literal it is, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self.value {
            LitValue::Str(_) => "a string",
            LitValue::Int(_) => "an integer",
            LitValue::Float(_) => "a float",
            LitValue::Bool(_) => "a boolean",
        }
    }

    /// The literal as text, the way a lookup table keys it (`"1"` and `1` both give
    /// `1`).
    pub(crate) fn key_text(&self) -> String {
        match &self.value {
            LitValue::Str(s) => s.clone(),
            LitValue::Int(i) => i.to_string(),
            LitValue::Float(f) => f.to_string(),
            LitValue::Bool(b) => b.to_string(),
        }
    }
}

impl Parse for Lit {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let neg: Option<Token![-]> = input.parse()?;
        let lit: syn::Lit = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), "expected a string, number or boolean"))?;
        let span = lit.span();
        let sign = if neg.is_some() { -1 } else { 1 };
        let value = match &lit {
            syn::Lit::Str(s) if neg.is_none() => LitValue::Str(s.value()),
            syn::Lit::Int(i) => LitValue::Int(sign * i.base10_parse::<i128>()?),
            syn::Lit::Float(f) => LitValue::Float(if neg.is_some() {
                -f.base10_parse::<f64>()?
            } else {
                f.base10_parse::<f64>()?
            }),
            syn::Lit::Bool(b) if neg.is_none() => LitValue::Bool(b.value),
            _ => {
                return Err(syn::Error::new(
                    span,
                    "expected a string, number or boolean",
                ));
            }
        };
        Ok(Lit { value, span })
    }
}

/// A source path, parsed at compile time with the runtime's grammar.
#[derive(Clone)]
pub(crate) struct PathLit {
    pub(crate) segments: Vec<Segment>,
    pub(crate) lit: LitStr,
}

impl PathLit {
    /// Parses the path in `lit`; `what` names the attribute for the message.
    pub(crate) fn parse(lit: LitStr, what: &str) -> syn::Result<Self> {
        match grammar::parse(&lit.value()) {
            Ok(segments) => Ok(PathLit { segments, lit }),
            Err(e) => Err(syn::Error::new(
                lit.span(),
                format!("invalid path in `{what}`: {e}"),
            )),
        }
    }

    /// A path of one key, from a field name.
    pub(crate) fn key(name: &str, span: Span) -> Self {
        PathLit {
            segments: vec![Segment::Key(name.to_owned())],
            lit: LitStr::new(name, span),
        }
    }
}

/// One argument inside `name(...)`.
pub(crate) enum Arg {
    /// `key = value`
    Named(Ident, ArgValue),
    /// `"key" => value`
    Arrow(Lit, ArgValue),
    /// `_ => value`
    Wildcard(Span, ArgValue),
    /// `value`
    Positional(ArgValue),
}

/// A value inside an argument list: a literal or a bracketed list of literals.
pub(crate) enum ArgValue {
    Lit(Lit),
    List(Vec<Lit>, Span),
}

impl ArgValue {
    pub(crate) fn span(&self) -> Span {
        match self {
            ArgValue::Lit(l) => l.span,
            ArgValue::List(_, span) => *span,
        }
    }
}

impl Parse for ArgValue {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(token::Bracket) {
            let content;
            let brackets = bracketed!(content in input);
            let items = content.parse_terminated(Lit::parse, Token![,])?;
            Ok(ArgValue::List(
                items.into_iter().collect(),
                brackets.span.join(),
            ))
        } else {
            input.parse().map(ArgValue::Lit)
        }
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![=>]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(Arg::Named(name, input.parse()?));
        }
        if input.peek(Token![_]) {
            let underscore: Token![_] = input.parse()?;
            input.parse::<Token![=>]>()?;
            return Ok(Arg::Wildcard(underscore.span, input.parse()?));
        }
        let value: ArgValue = input.parse()?;
        if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            let ArgValue::Lit(key) = value else {
                return Err(syn::Error::new(
                    value.span(),
                    "expected a literal key before `=>`",
                ));
            };
            return Ok(Arg::Arrow(key, input.parse()?));
        }
        Ok(Arg::Positional(value))
    }
}

/// Parses `( arg, arg, ... )` after a nested meta's path.
fn parse_args(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Arg>> {
    let content;
    parenthesized!(content in meta.input);
    let args = content.parse_terminated(Arg::parse, Token![,])?;
    Ok(args.into_iter().collect())
}

/// How a meta item was written.
enum Form {
    /// `name`
    Bare,
    /// `name = ...` (the `=` consumed)
    Value,
    /// `name(...)` (not consumed)
    List,
}

fn form(meta: &ParseNestedMeta<'_>) -> syn::Result<Form> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        Ok(Form::Value)
    } else if meta.input.peek(token::Paren) {
        Ok(Form::List)
    } else {
        Ok(Form::Bare)
    }
}

/// Skips the value of an attribute that was reported, so parsing goes on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(token::Paren) {
        let _content;
        parenthesized!(_content in meta.input);
    } else if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
            meta.input.parse::<TokenTree>()?;
        }
    }
    Ok(())
}

fn name_of(meta: &ParseNestedMeta<'_>) -> String {
    let path = &meta.path;
    path.get_ident().map_or_else(
        || quote::quote!(#path).to_string().replace(' ', ""),
        ToString::to_string,
    )
}

/// Reads `key = "string"`. Anything else is reported and skipped (`Ok(None)`), so
/// the rest of the attribute is still read.
fn string_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attr: &str,
    key: &str,
) -> syn::Result<Option<LitStr>> {
    let expected = || {
        meta.error(format!(
            "expected `{attr}` attribute `{key}` to be a string: `{key} = \"...\"`"
        ))
    };
    if !meta.input.peek(Token![=]) {
        cx.syn_error(expected());
        skip_value(meta)?;
        return Ok(None);
    }
    let value = meta.value()?;
    if !value.peek(LitStr) {
        cx.syn_error(expected());
        skip_rest(value)?;
        return Ok(None);
    }
    value.parse().map(Some)
}

fn skip_rest(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Sets an attribute once; a second occurrence is reported as a duplicate.
fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, path: &syn::Path, attr: &str) {
    if slot.is_some() {
        let key = path
            .get_ident()
            .map_or_else(String::new, ToString::to_string);
        cx.error_spanned_by(path, format!("duplicate `{attr}` attribute `{key}`"));
    } else {
        *slot = Some(value);
    }
}

fn unknown(meta: &ParseNestedMeta<'_>, attr: &str, expected: &str) -> syn::Error {
    meta.error(format!(
        "unknown `{attr}` attribute `{}`, expected one of {expected}",
        name_of(meta)
    ))
}

// ---------------------------------------------------------------------------------
// #[entity(...)]

/// The container attributes.
#[derive(Default)]
pub(crate) struct Container {
    pub(crate) source: Option<LitStr>,
    pub(crate) target: Option<LitStr>,
    pub(crate) display_name: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) rename_all: Option<RenameRule>,
    pub(crate) krate: Option<syn::Path>,
    /// Keys that were written, valid or not (a bad value is not also "missing").
    pub(crate) mentioned: Vec<String>,
}

const ENTITY_KEYS: &str =
    "`source`, `target`, `display_name`, `description`, `rename_all`, `crate`";

pub(crate) fn container(cx: &Ctxt, attrs: &[syn::Attribute]) -> Container {
    let mut c = Container::default();
    for attr in attrs {
        if !attr.path().is_ident("entity") {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let path = meta.path.clone();
            let key = name_of(&meta);
            c.mentioned.push(key.clone());
            match key.as_str() {
                "source" | "target" | "display_name" | "description" => {
                    let Some(value) = string_value(cx, &meta, "entity", &key)? else {
                        return Ok(());
                    };
                    let slot = match key.as_str() {
                        "source" => &mut c.source,
                        "target" => &mut c.target,
                        "display_name" => &mut c.display_name,
                        _ => &mut c.description,
                    };
                    set_once(cx, slot, value, &path, "entity");
                }
                "rename_all" => {
                    let Some(value) = string_value(cx, &meta, "entity", "rename_all")? else {
                        return Ok(());
                    };
                    match RenameRule::from_name(&value.value()) {
                        Some(rule) => set_once(cx, &mut c.rename_all, rule, &path, "entity"),
                        None => cx.error_spanned_by(
                            &value,
                            format!(
                                "unknown `rename_all` rule `{}`, expected one of {}",
                                value.value(),
                                case::RULE_NAMES
                            ),
                        ),
                    }
                }
                "crate" => {
                    let Some(value) = string_value(cx, &meta, "entity", "crate")? else {
                        return Ok(());
                    };
                    match value.parse::<syn::Path>() {
                        Ok(krate) => set_once(cx, &mut c.krate, krate, &path, "entity"),
                        Err(_) => cx.error_spanned_by(
                            &value,
                            format!(
                                "expected `crate` to name a crate path, like `crate = \"connector_core\"`, found `{}`",
                                value.value()
                            ),
                        ),
                    }
                }
                _ => {
                    cx.syn_error(unknown(&meta, "entity", ENTITY_KEYS));
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    c
}

// ---------------------------------------------------------------------------------
// #[field(...)]

/// A built-in transform and its arguments, as written.
#[derive(Clone)]
pub(crate) enum TransformSpec {
    Lookup {
        table: Vec<(String, Lit)>,
        default: Option<Lit>,
    },
    Lower,
    Upper,
    Trim,
    ParseDatetime {
        format: Option<String>,
    },
    FormatDatetime {
        format: String,
    },
    ConvertUnit {
        from: &'static str,
        to: &'static str,
        round: Option<&'static str>,
        decimals: u8,
    },
    ExtractReference {
        key: Option<String>,
    },
    Split {
        separator: String,
    },
    Join {
        separator: String,
    },
    Coalesce {
        paths: Vec<PathLit>,
    },
    Constant {
        value: Lit,
    },
    ToNumber,
    ToBool,
    ToString,
}

const TRANSFORMS: &str = "`lookup`, `lower`, `upper`, `trim`, `parse_datetime`, \
     `format_datetime`, `convert_unit`, `extract_reference`, `split`, `join`, `coalesce`, \
     `constant`, `to_number`, `to_bool`, `to_string`";

/// A validation rule, as written.
#[derive(Clone)]
pub(crate) enum RuleSpec {
    Required,
    MinLen(usize),
    MaxLen(usize),
    Pattern(LitStr),
    Email,
    Url,
    OneOf(Vec<Lit>),
    Range { min: Option<f64>, max: Option<f64> },
}

/// A validation rule with its optional message and the attribute it came from.
pub(crate) struct RuleAttr {
    pub(crate) rule: RuleSpec,
    pub(crate) message: Option<String>,
    pub(crate) path: syn::Path,
}

/// How a field's default is given.
#[derive(Clone)]
pub(crate) enum DefaultSpec {
    /// `default`: `Default::default()`.
    Trait,
    /// `default = "literal"`.
    Lit(Lit),
    /// `default = expression`.
    Expr(syn::Expr),
}

/// `lookup` of a relationship.
#[derive(Clone)]
pub(crate) enum LookupSpec {
    ExternalId,
    Name,
    Field(String),
}

/// The attributes of one field, from `#[field(...)]` and `#[relationship(...)]`.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// The `#[field]` attribute, when present.
    pub(crate) field_attr: Option<syn::Path>,
    /// The `#[relationship]` attribute, when present.
    pub(crate) relationship_attr: Option<syn::Path>,

    pub(crate) source: Option<PathLit>,
    pub(crate) target: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) external_id: Option<syn::Path>,
    pub(crate) created_at: Option<syn::Path>,
    pub(crate) updated_at: Option<syn::Path>,
    pub(crate) skip: Option<syn::Path>,
    pub(crate) default: Option<(syn::Path, DefaultSpec)>,
    pub(crate) with: Option<(syn::Path, syn::Path)>,
    pub(crate) transforms: Vec<(syn::Path, TransformSpec)>,
    pub(crate) rules: Vec<RuleAttr>,

    pub(crate) rel_source: Option<PathLit>,
    pub(crate) rel_target: Option<LitStr>,
    pub(crate) kind: Option<LitStr>,
    pub(crate) strength: Option<u8>,
    pub(crate) lookup: Option<LookupSpec>,
    pub(crate) bidirectional: Option<syn::Path>,
}

const FIELD_KEYS: &str = "`source`, `target`, `description`, `external_id`, `created_at`, \
     `updated_at`, `skip`, `default`, `with`, `transform`, `required`, `min_len`, `max_len`, \
     `pattern`, `email`, `url`, `one_of`, `range`";

const RELATIONSHIP_KEYS: &str = "`source`, `target`, `kind`, `strength`, `lookup`, `bidirectional`";

pub(crate) fn field(cx: &Ctxt, attrs: &[syn::Attribute]) -> FieldAttrs {
    let mut f = FieldAttrs::default();
    for attr in attrs {
        let result = if attr.path().is_ident("field") {
            set_once(
                cx,
                &mut f.field_attr,
                attr.path().clone(),
                attr.path(),
                "field",
            );
            attr.parse_nested_meta(|meta| field_meta(cx, &mut f, meta))
        } else if attr.path().is_ident("relationship") {
            set_once(
                cx,
                &mut f.relationship_attr,
                attr.path().clone(),
                attr.path(),
                "relationship",
            );
            attr.parse_nested_meta(|meta| relationship_meta(cx, &mut f, meta))
        } else if attr.path().is_ident("entity") {
            cx.error_spanned_by(
                attr,
                "`#[entity(...)]` belongs on the struct, not on a field",
            );
            Ok(())
        } else {
            Ok(())
        };
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    f
}

fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, slot: &mut Option<syn::Path>, attr: &str) {
    if meta.input.peek(Token![=]) || meta.input.peek(token::Paren) {
        let key = name_of(meta);
        cx.syn_error(meta.error(format!(
            "`{attr}` attribute `{key}` takes no value: write `{key}` alone"
        )));
        let _ = skip_value(meta);
    }
    set_once(cx, slot, meta.path.clone(), &meta.path, attr);
}

fn field_meta(cx: &Ctxt, f: &mut FieldAttrs, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
    let path = meta.path.clone();
    let key = name_of(&meta);
    match key.as_str() {
        "source" => {
            let Some(lit) = string_value(cx, &meta, "field", "source")? else {
                return Ok(());
            };
            match PathLit::parse(lit, "source") {
                Ok(p) => set_once(cx, &mut f.source, p, &path, "field"),
                Err(e) => cx.syn_error(e),
            }
        }
        "target" => {
            let Some(lit) = string_value(cx, &meta, "field", "target")? else {
                return Ok(());
            };
            set_once(cx, &mut f.target, lit, &path, "field");
        }
        "description" => {
            let Some(lit) = string_value(cx, &meta, "field", "description")? else {
                return Ok(());
            };
            set_once(cx, &mut f.description, lit, &path, "field");
        }
        "external_id" => flag(cx, &meta, &mut f.external_id, "field"),
        "created_at" => flag(cx, &meta, &mut f.created_at, "field"),
        "updated_at" => flag(cx, &meta, &mut f.updated_at, "field"),
        "skip" => flag(cx, &meta, &mut f.skip, "field"),
        "default" => {
            let spec = if meta.input.peek(Token![=]) {
                let value = meta.value()?;
                let fork = value.fork();
                match fork.parse::<Lit>() {
                    Ok(lit) if fork.is_empty() || fork.peek(Token![,]) => {
                        value.parse::<Lit>()?;
                        DefaultSpec::Lit(lit)
                    }
                    _ => DefaultSpec::Expr(value.parse()?),
                }
            } else if meta.input.peek(token::Paren) {
                skip_value(&meta)?;
                return Err(syn::Error::new_spanned(
                    &path,
                    "expected `default` or `default = ...`",
                ));
            } else {
                DefaultSpec::Trait
            };
            set_once(cx, &mut f.default, (path.clone(), spec), &path, "field");
        }
        "with" => {
            if !meta.input.peek(Token![=]) {
                skip_value(&meta)?;
                return Err(meta.error(
                    "expected `field` attribute `with` to name a function: `with = path::to::function`",
                ));
            }
            let value = meta.value()?;
            let function: syn::Path = if value.peek(LitStr) {
                value.parse::<LitStr>()?.parse()?
            } else {
                value.parse()?
            };
            set_once(cx, &mut f.with, (path.clone(), function), &path, "field");
        }
        "transform" => match form(&meta)? {
            Form::Value => {
                let lit: LitStr = meta.input.parse().map_err(|_| {
                    meta.error("expected `transform = \"name\"` or `transform(name(args), ...)`")
                })?;
                match transform(&lit.value(), None, lit.span()) {
                    Ok(spec) => f.transforms.push((path.clone(), spec)),
                    Err(e) => cx.syn_error(e),
                }
            }
            Form::List => {
                meta.parse_nested_meta(|t| {
                    let name = name_of(&t);
                    let span = t.path.get_ident().map_or_else(Span::call_site, Ident::span);
                    let args = if t.input.peek(token::Paren) {
                        Some(parse_args(&t)?)
                    } else {
                        None
                    };
                    match transform(&name, args, span) {
                        Ok(spec) => f.transforms.push((t.path, spec)),
                        Err(e) => cx.syn_error(e),
                    }
                    Ok(())
                })?;
            }
            Form::Bare => {
                return Err(
                    meta.error("expected `transform = \"name\"` or `transform(name(args), ...)`")
                );
            }
        },
        "required" | "min_len" | "max_len" | "pattern" | "email" | "url" | "one_of" | "range" => {
            if let Some(rule) = rule(cx, &meta, &key)? {
                f.rules.push(rule);
            }
        }
        _ => {
            cx.syn_error(unknown(&meta, "field", FIELD_KEYS));
            skip_value(&meta)?;
        }
    }
    Ok(())
}

fn relationship_meta(cx: &Ctxt, f: &mut FieldAttrs, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
    let path = meta.path.clone();
    let key = name_of(&meta);
    match key.as_str() {
        "source" => {
            let Some(lit) = string_value(cx, &meta, "relationship", "source")? else {
                return Ok(());
            };
            match PathLit::parse(lit, "source") {
                Ok(p) => set_once(cx, &mut f.rel_source, p, &path, "relationship"),
                Err(e) => cx.syn_error(e),
            }
        }
        "target" => {
            let Some(lit) = string_value(cx, &meta, "relationship", "target")? else {
                return Ok(());
            };
            set_once(cx, &mut f.rel_target, lit, &path, "relationship");
        }
        "kind" => {
            let Some(lit) = string_value(cx, &meta, "relationship", "kind")? else {
                return Ok(());
            };
            if lit.value().trim().is_empty() {
                cx.error_spanned_by(
                    &lit,
                    "`kind` must not be empty, e.g. `kind = \"DEPENDS_ON\"`",
                );
            }
            set_once(cx, &mut f.kind, lit, &path, "relationship");
        }
        "strength" => {
            let expected = "expected `strength` to be an integer from 0 to 100: `strength = 75`";
            if !meta.input.peek(Token![=]) {
                skip_value(&meta)?;
                return Err(meta.error(expected));
            }
            let value = meta.value()?;
            let lit: LitInt = value
                .parse()
                .map_err(|e| syn::Error::new(e.span(), expected))?;
            match lit.base10_parse::<u8>() {
                Ok(s) if s <= 100 => set_once(cx, &mut f.strength, s, &path, "relationship"),
                _ => cx.error_spanned_by(&lit, expected),
            }
        }
        "lookup" => {
            let spec = match form(&meta)? {
                Form::Value => {
                    let lit: LitStr = meta.input.parse()?;
                    match lit.value().as_str() {
                        "external_id" => Some(LookupSpec::ExternalId),
                        "name" => Some(LookupSpec::Name),
                        other => {
                            cx.error_spanned_by(
                                &lit,
                                format!(
                                    "unknown `lookup` `{other}`, expected `\"external_id\"`, `\"name\"` or `lookup(field = \"...\")`"
                                ),
                            );
                            None
                        }
                    }
                }
                Form::List => {
                    let mut field = None;
                    meta.parse_nested_meta(|l| {
                        if l.path.is_ident("field") {
                            field = string_value(cx, &l, "lookup", "field")?.map(|f| f.value());
                            Ok(())
                        } else {
                            Err(l.error("expected `lookup(field = \"...\")`"))
                        }
                    })?;
                    field.map(LookupSpec::Field)
                }
                Form::Bare => {
                    return Err(meta.error(
                        "expected `lookup = \"external_id\"`, `lookup = \"name\"` or `lookup(field = \"...\")`",
                    ));
                }
            };
            if let Some(spec) = spec {
                set_once(cx, &mut f.lookup, spec, &path, "relationship");
            }
        }
        "bidirectional" => flag(cx, &meta, &mut f.bidirectional, "relationship"),
        _ => {
            cx.syn_error(unknown(&meta, "relationship", RELATIONSHIP_KEYS));
            skip_value(&meta)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Transforms

fn no_args(name: &str, args: Option<Vec<Arg>>, span: Span) -> syn::Result<()> {
    match args {
        Some(args) if !args.is_empty() => Err(syn::Error::new(
            span,
            format!("transform `{name}` takes no arguments: write `{name}` alone"),
        )),
        _ => Ok(()),
    }
}

/// The string argument `key` of a transform, given as `key = "..."` or positionally.
fn string_arg(
    name: &str,
    key: &str,
    args: &mut Vec<Arg>,
    span: Span,
) -> syn::Result<Option<String>> {
    let position = args.iter().position(|a| match a {
        Arg::Named(n, _) => n == key,
        Arg::Positional(_) => true,
        _ => false,
    });
    let Some(position) = position else {
        return Ok(None);
    };
    match args.remove(position) {
        Arg::Named(
            _,
            ArgValue::Lit(Lit {
                value: LitValue::Str(s),
                ..
            }),
        )
        | Arg::Positional(ArgValue::Lit(Lit {
            value: LitValue::Str(s),
            ..
        })) => Ok(Some(s)),
        Arg::Named(_, v) | Arg::Positional(v) => Err(syn::Error::new(
            v.span(),
            format!("expected `{key}` of transform `{name}` to be a string"),
        )),
        _ => Err(syn::Error::new(span, format!("expected `{key} = \"...\"`"))),
    }
}

fn no_more(name: &str, args: &[Arg]) -> syn::Result<()> {
    match args.first() {
        None => Ok(()),
        Some(Arg::Named(n, _)) => Err(syn::Error::new(
            n.span(),
            format!("unknown argument `{n}` of transform `{name}`"),
        )),
        Some(Arg::Arrow(k, _)) => Err(syn::Error::new(
            k.span,
            format!("unexpected `=>` in transform `{name}`; only `lookup` takes a table"),
        )),
        Some(Arg::Wildcard(span, _)) => Err(syn::Error::new(
            *span,
            format!("unexpected `_ =>` in transform `{name}`; only `lookup` takes a table"),
        )),
        Some(Arg::Positional(v)) => Err(syn::Error::new(
            v.span(),
            format!("unexpected argument of transform `{name}`"),
        )),
    }
}

fn unit(name: &str, span: Span) -> syn::Result<&'static str> {
    Ok(match name {
        "bytes" | "b" | "B" | "byte" => "Bytes",
        "kb" | "KB" | "kib" | "KiB" => "Kb",
        "mb" | "MB" | "mib" | "MiB" => "Mb",
        "gb" | "GB" | "gib" | "GiB" => "Gb",
        "tb" | "TB" | "tib" | "TiB" => "Tb",
        other => {
            return Err(syn::Error::new(
                span,
                format!("unknown unit `{other}`, expected one of `bytes`, `kb`, `mb`, `gb`, `tb`"),
            ));
        }
    })
}

/// Builds a transform from its name and arguments.
pub(crate) fn transform(
    name: &str,
    args: Option<Vec<Arg>>,
    span: Span,
) -> syn::Result<TransformSpec> {
    let simple = |spec| no_args(name, None, span).map(|()| spec);
    match name {
        "lower" | "upper" | "trim" | "to_number" | "to_bool" | "to_string" => {
            no_args(name, args, span)?;
            simple(match name {
                "lower" => TransformSpec::Lower,
                "upper" => TransformSpec::Upper,
                "trim" => TransformSpec::Trim,
                "to_number" => TransformSpec::ToNumber,
                "to_bool" => TransformSpec::ToBool,
                _ => TransformSpec::ToString,
            })
        }
        "extract_reference" | "parse_datetime" => {
            let mut args = args.unwrap_or_default();
            let key = if name == "extract_reference" {
                "key"
            } else {
                "format"
            };
            let value = string_arg(name, key, &mut args, span)?;
            no_more(name, &args)?;
            Ok(if name == "extract_reference" {
                if value.as_deref() == Some("") {
                    return Err(syn::Error::new(
                        span,
                        "`extract_reference` needs a non-empty `key`",
                    ));
                }
                TransformSpec::ExtractReference { key: value }
            } else {
                TransformSpec::ParseDatetime { format: value }
            })
        }
        "format_datetime" | "split" | "join" => {
            let mut args = args.unwrap_or_default();
            let key = if name == "format_datetime" {
                "format"
            } else {
                "separator"
            };
            let Some(value) = string_arg(name, key, &mut args, span)? else {
                return Err(syn::Error::new(
                    span,
                    format!("transform `{name}` needs a `{key}`: `{name}({key} = \"...\")`"),
                ));
            };
            no_more(name, &args)?;
            Ok(match name {
                "format_datetime" => TransformSpec::FormatDatetime { format: value },
                "split" if value.is_empty() => {
                    return Err(syn::Error::new(span, "`split` needs a non-empty separator"));
                }
                "split" => TransformSpec::Split { separator: value },
                _ => TransformSpec::Join { separator: value },
            })
        }
        "convert_unit" => {
            let mut args = args.unwrap_or_default();
            let mut from = None;
            let mut to = None;
            let mut round = None;
            let mut decimals = 0u8;
            for arg in args.drain(..) {
                let Arg::Named(key, value) = arg else {
                    return Err(syn::Error::new(
                        span,
                        "expected `convert_unit(from = \"mb\", to = \"gb\")`",
                    ));
                };
                let span = value.span();
                match (key.to_string().as_str(), value) {
                    (
                        "from",
                        ArgValue::Lit(Lit {
                            value: LitValue::Str(s),
                            ..
                        }),
                    ) => {
                        from = Some(unit(&s, span)?);
                    }
                    (
                        "to",
                        ArgValue::Lit(Lit {
                            value: LitValue::Str(s),
                            ..
                        }),
                    ) => {
                        to = Some(unit(&s, span)?);
                    }
                    (
                        "round",
                        ArgValue::Lit(Lit {
                            value: LitValue::Str(s),
                            ..
                        }),
                    ) => {
                        round = Some(match s.as_str() {
                            "nearest" => "Nearest",
                            "floor" => "Floor",
                            "ceil" => "Ceil",
                            "none" => "None",
                            other => {
                                return Err(syn::Error::new(
                                    span,
                                    format!(
                                        "unknown rounding `{other}`, expected one of `nearest`, `floor`, `ceil`, `none`"
                                    ),
                                ));
                            }
                        });
                    }
                    (
                        "decimals",
                        ArgValue::Lit(Lit {
                            value: LitValue::Int(n),
                            ..
                        }),
                    ) => {
                        decimals = u8::try_from(n).map_err(|_| {
                            syn::Error::new(span, "expected `decimals` from 0 to 255")
                        })?;
                    }
                    ("from" | "to" | "round", _) => {
                        return Err(syn::Error::new(
                            span,
                            format!("expected `{key}` to be a string"),
                        ));
                    }
                    ("decimals", _) => {
                        return Err(syn::Error::new(
                            span,
                            "expected `decimals` to be an integer",
                        ));
                    }
                    _ => {
                        return Err(syn::Error::new(
                            key.span(),
                            format!(
                                "unknown argument `{key}` of transform `convert_unit`, expected one of `from`, `to`, `round`, `decimals`"
                            ),
                        ));
                    }
                }
            }
            match (from, to) {
                (Some(from), Some(to)) => Ok(TransformSpec::ConvertUnit {
                    from,
                    to,
                    round,
                    decimals,
                }),
                _ => Err(syn::Error::new(
                    span,
                    "transform `convert_unit` needs `from` and `to`: `convert_unit(from = \"mb\", to = \"gb\")`",
                )),
            }
        }
        "coalesce" => {
            let mut paths = Vec::new();
            for arg in args.unwrap_or_default() {
                match arg {
                    Arg::Positional(ArgValue::Lit(Lit {
                        value: LitValue::Str(s),
                        span,
                    })) => paths.push(PathLit::parse(LitStr::new(&s, span), "coalesce")?),
                    other => {
                        let span = match &other {
                            Arg::Named(n, _) => n.span(),
                            Arg::Arrow(k, _) => k.span,
                            Arg::Wildcard(s, _) => *s,
                            Arg::Positional(v) => v.span(),
                        };
                        return Err(syn::Error::new(
                            span,
                            "expected `coalesce(\"path\", \"other.path\", ...)`",
                        ));
                    }
                }
            }
            if paths.is_empty() {
                return Err(syn::Error::new(
                    span,
                    "transform `coalesce` needs at least one path",
                ));
            }
            Ok(TransformSpec::Coalesce { paths })
        }
        "constant" => match args.as_deref() {
            Some([Arg::Positional(ArgValue::Lit(value))]) => Ok(TransformSpec::Constant {
                value: value.clone(),
            }),
            _ => Err(syn::Error::new(
                span,
                "transform `constant` needs one literal: `constant(\"value\")`",
            )),
        },
        "lookup" => {
            let mut table = Vec::new();
            let mut default = None;
            for arg in args.unwrap_or_default() {
                match arg {
                    Arg::Arrow(key, ArgValue::Lit(value)) => {
                        let text = key.key_text();
                        if table.iter().any(|(k, _)| *k == text) {
                            return Err(syn::Error::new(
                                key.span,
                                format!("duplicate key `{text}` in `lookup`"),
                            ));
                        }
                        table.push((text, value));
                    }
                    Arg::Wildcard(_, ArgValue::Lit(value)) => default = Some(value),
                    Arg::Named(n, ArgValue::Lit(value)) if n == "default" => default = Some(value),
                    other => {
                        let span = match &other {
                            Arg::Named(n, _) => n.span(),
                            Arg::Arrow(k, _) => k.span,
                            Arg::Wildcard(s, _) => *s,
                            Arg::Positional(v) => v.span(),
                        };
                        return Err(syn::Error::new(
                            span,
                            "expected `lookup(\"key\" => \"value\", ..., default = \"value\")`",
                        ));
                    }
                }
            }
            if table.is_empty() {
                return Err(syn::Error::new(
                    span,
                    "transform `lookup` needs at least one entry: `lookup(\"1\" => \"PRODUCTION\")`",
                ));
            }
            Ok(TransformSpec::Lookup { table, default })
        }
        "custom" => Err(syn::Error::new(
            span,
            "transform `custom` is not available in the derive; for a function of your own use `with = path::to::function`",
        )),
        other => Err(syn::Error::new(
            span,
            format!("unknown transform `{other}`, expected one of {TRANSFORMS}"),
        )),
    }
}

// ---------------------------------------------------------------------------------
// Validation rules

fn rule(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<RuleAttr>> {
    let path = meta.path.clone();
    let usage = match key {
        "required" => "`required` or `required(message = \"...\")`",
        "min_len" => "`min_len = 2` or `min_len(2, message = \"...\")`",
        "max_len" => "`max_len = 80` or `max_len(80, message = \"...\")`",
        "pattern" => "`pattern = \"^[a-z]+$\"` or `pattern(\"^[a-z]+$\", message = \"...\")`",
        "email" => "`email` or `email(message = \"...\")`",
        "url" => "`url` or `url(message = \"...\")`",
        "one_of" => "`one_of = [\"a\", \"b\"]` or `one_of([\"a\", \"b\"], message = \"...\")`",
        _ => "`range(min = 0, max = 100)`",
    };
    let bad = |span: Span| syn::Error::new(span, format!("expected {usage}"));
    let (value, message, named) = match form(meta)? {
        Form::Bare => (None, None, Vec::new()),
        Form::Value => (Some(meta.input.parse::<ArgValue>()?), None, Vec::new()),
        Form::List => {
            let mut value = None;
            let mut message = None;
            let mut named = Vec::new();
            for arg in parse_args(meta)? {
                match arg {
                    Arg::Named(
                        n,
                        ArgValue::Lit(Lit {
                            value: LitValue::Str(m),
                            ..
                        }),
                    ) if n == "message" => message = Some(m),
                    Arg::Named(n, v) if n == "message" => {
                        return Err(syn::Error::new(
                            v.span(),
                            "expected `message` to be a string",
                        ));
                    }
                    Arg::Named(n, v) => named.push((n, v)),
                    Arg::Positional(v) if value.is_none() => value = Some(v),
                    _ => {
                        return Err(bad(path
                            .get_ident()
                            .map_or_else(Span::call_site, Ident::span)));
                    }
                }
            }
            (value, message, named)
        }
    };
    let span = path.get_ident().map_or_else(Span::call_site, Ident::span);
    let int = |v: &ArgValue| match v {
        ArgValue::Lit(Lit {
            value: LitValue::Int(n),
            span,
        }) => usize::try_from(*n).map_err(|_| syn::Error::new(*span, format!("expected {usage}"))),
        other => Err(bad(other.span())),
    };
    let no_named = |named: &[(Ident, ArgValue)]| match named.first() {
        Some((n, _)) => Err(syn::Error::new(
            n.span(),
            format!("unknown argument `{n}` of `{key}`, expected {usage}"),
        )),
        None => Ok(()),
    };
    let rule = match key {
        "required" | "email" | "url" => {
            if let Some(v) = &value {
                return Err(bad(v.span()));
            }
            no_named(&named)?;
            match key {
                "required" => RuleSpec::Required,
                "email" => RuleSpec::Email,
                _ => RuleSpec::Url,
            }
        }
        "min_len" | "max_len" => {
            no_named(&named)?;
            let n = int(value.as_ref().ok_or_else(|| bad(span))?)?;
            if key == "min_len" {
                RuleSpec::MinLen(n)
            } else {
                RuleSpec::MaxLen(n)
            }
        }
        "pattern" => {
            no_named(&named)?;
            match value {
                Some(ArgValue::Lit(Lit {
                    value: LitValue::Str(s),
                    span,
                })) => RuleSpec::Pattern(LitStr::new(&s, span)),
                Some(other) => return Err(bad(other.span())),
                None => return Err(bad(span)),
            }
        }
        "one_of" => {
            no_named(&named)?;
            match value {
                Some(ArgValue::List(items, list_span)) => {
                    if items.is_empty() {
                        return Err(syn::Error::new(
                            list_span,
                            "`one_of` needs at least one value",
                        ));
                    }
                    RuleSpec::OneOf(items)
                }
                Some(other) => return Err(bad(other.span())),
                None => return Err(bad(span)),
            }
        }
        _ => {
            if let Some(v) = &value {
                return Err(bad(v.span()));
            }
            let mut min = None;
            let mut max = None;
            for (n, v) in named {
                let x = match v {
                    ArgValue::Lit(Lit {
                        value: LitValue::Int(i),
                        ..
                    }) => i as f64,
                    ArgValue::Lit(Lit {
                        value: LitValue::Float(f),
                        ..
                    }) => f,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            format!("expected `{n}` of `range` to be a number"),
                        ));
                    }
                };
                match n.to_string().as_str() {
                    "min" => min = Some(x),
                    "max" => max = Some(x),
                    _ => {
                        return Err(syn::Error::new(
                            n.span(),
                            format!(
                                "unknown argument `{n}` of `range`, expected `min`, `max` or `message`"
                            ),
                        ));
                    }
                }
            }
            if min.is_none() && max.is_none() {
                return Err(syn::Error::new(span, "`range` needs `min`, `max` or both"));
            }
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                cx.error_at(span, format!("`range` has `min` ({lo}) above `max` ({hi})"));
            }
            RuleSpec::Range { min, max }
        }
    };
    Ok(Some(RuleAttr {
        rule,
        message,
        path,
    }))
}
