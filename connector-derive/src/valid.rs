//! Phase 2, validate: checks the parsed attributes against each other and against
//! the field types, and builds the [`Entity`] the expansion works from.
//!
//! Every problem is recorded in the [`Ctxt`], spanned at the offending attribute or
//! type; the model is still built as far as it can be, so one compile reports
//! every problem.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use crate::attr::{
    self, DefaultSpec, FieldAttrs, Lit, LitValue, LookupSpec, PathLit, RuleSpec, TransformSpec,
};
use crate::ctxt::Ctxt;
use crate::ty::{FieldType, Scalar};

/// A struct that derives `EntityMapping`, checked.
pub(crate) struct Entity<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) krate: syn::Path,
    pub(crate) source_type: String,
    pub(crate) target_type: String,
    pub(crate) display_name: String,
    pub(crate) description: Option<String>,
    pub(crate) external_id: Option<Special<'a>>,
    pub(crate) created_at: Option<Special<'a>>,
    pub(crate) updated_at: Option<Special<'a>>,
    pub(crate) fields: Vec<Mapped<'a>>,
    pub(crate) relationships: Vec<Rel<'a>>,
    pub(crate) skipped: Vec<(&'a Ident, Option<DefaultSpec>)>,
}

/// The external id or a timestamp: a field with a source path.
pub(crate) struct Special<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) source: PathLit,
}

/// A mapped field.
pub(crate) struct Mapped<'a> {
    pub(crate) ident: &'a Ident,
    /// Where the target name comes from: `target = "..."` or the field name.
    pub(crate) target_span: Span,
    pub(crate) ty: FieldType<'a>,
    pub(crate) source: PathLit,
    pub(crate) target: String,
    pub(crate) required: bool,
    /// The transforms of the descriptor, implied conversions included (`with`'s
    /// custom transform is added by the expansion).
    pub(crate) transforms: Vec<TransformSpec>,
    pub(crate) with: Option<syn::Path>,
    pub(crate) default: Option<DefaultSpec>,
    pub(crate) description: Option<String>,
    pub(crate) rules: Vec<(RuleSpec, Option<String>)>,
}

/// A relationship field.
pub(crate) struct Rel<'a> {
    pub(crate) ident: &'a Ident,
    /// `Vec<String>` (true) or `Option<String>` (false).
    pub(crate) many: bool,
    pub(crate) source: PathLit,
    pub(crate) target_type: String,
    pub(crate) kind: String,
    pub(crate) strength: Option<u8>,
    pub(crate) lookup: LookupSpec,
    pub(crate) bidirectional: bool,
}

/// Reads and checks the whole derive input.
pub(crate) fn entity<'a>(cx: &Ctxt, input: &'a DeriveInput) -> Entity<'a> {
    let container = attr::container(cx, &input.attrs);
    let ident = &input.ident;

    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics,
            "`EntityMapping` cannot be derived for a generic struct; the descriptor is one static value per type",
        );
    }
    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => Some(named),
            _ => {
                cx.error_spanned_by(
                    ident,
                    "`EntityMapping` can only be derived for a struct with named fields",
                );
                None
            }
        },
        Data::Enum(e) => {
            cx.error_spanned_by(
                e.enum_token,
                "`EntityMapping` can only be derived for a struct with named fields, not an enum",
            );
            None
        }
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                "`EntityMapping` can only be derived for a struct with named fields, not a union",
            );
            None
        }
    };

    let required_str = |lit: &Option<LitStr>, key: &str, what: &str| match lit {
        Some(lit) if !lit.value().trim().is_empty() => lit.value(),
        Some(lit) => {
            cx.error_spanned_by(lit, format!("`{key}` must not be empty"));
            String::new()
        }
        None => {
            if !container.mentioned.iter().any(|m| m == key) {
                cx.error_spanned_by(
                    ident,
                    format!("missing `#[entity({key} = \"...\")]`: {what}"),
                );
            }
            String::new()
        }
    };
    let source_type = required_str(
        &container.source,
        "source",
        "the vendor's object type, e.g. `cmdb_ci_appl`",
    );
    let target_type = required_str(
        &container.target,
        "target",
        "the entity type records get, e.g. `APPLICATION_COMPONENT`",
    );
    let display_name = container
        .display_name
        .as_ref()
        .map_or_else(|| ident.to_string(), LitStr::value);

    let mut entity = Entity {
        ident,
        krate: container
            .krate
            .unwrap_or_else(|| syn::parse_quote!(::connector_core)),
        source_type,
        target_type,
        display_name,
        description: container.description.as_ref().map(LitStr::value),
        external_id: None,
        created_at: None,
        updated_at: None,
        fields: Vec::new(),
        relationships: Vec::new(),
        skipped: Vec::new(),
    };

    for field in named.into_iter().flat_map(|n| n.named.iter()) {
        let Some(ident) = field.ident.as_ref() else {
            continue;
        };
        let attrs = attr::field(cx, &field.attrs);
        let ty = FieldType::of(&field.ty);
        let name = ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
        add_field(
            cx,
            &mut entity,
            ident,
            &field.ty,
            ty,
            &name,
            attrs,
            container.rename_all,
        );
    }

    if named.is_some() && entity.external_id.is_none() {
        cx.error_spanned_by(
            ident,
            "missing external id: mark the field holding the vendor's stable id with `#[field(external_id)]`",
        );
    }
    check_targets(cx, &entity);
    entity
}

/// Reports `key` on a field whose role excludes it.
fn conflict(cx: &Ctxt, key: &syn::Path, with: &str) {
    let name = key
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    cx.error_spanned_by(key, format!("`{name}` cannot be combined with `{with}`"));
}

/// The keys of a `#[field]` that only make sense on a mapped field, for conflict
/// reports.
fn mapped_only_keys(attrs: &FieldAttrs) -> Vec<(syn::Path, Span)> {
    let mut keys: Vec<(syn::Path, Span)> = Vec::new();
    if let Some(target) = &attrs.target {
        keys.push((syn::parse_quote!(target), target.span()));
    }
    if let Some(d) = &attrs.description {
        keys.push((syn::parse_quote!(description), d.span()));
    }
    if let Some((path, _)) = &attrs.default {
        keys.push((path.clone(), path.span()));
    }
    if let Some((path, _)) = &attrs.with {
        keys.push((path.clone(), path.span()));
    }
    for (path, _) in &attrs.transforms {
        keys.push((path.clone(), path.span()));
    }
    for rule in &attrs.rules {
        keys.push((rule.path.clone(), rule.path.span()));
    }
    keys
}

#[allow(clippy::too_many_arguments)]
fn add_field<'a>(
    cx: &Ctxt,
    entity: &mut Entity<'a>,
    ident: &'a Ident,
    syn_ty: &'a syn::Type,
    ty: FieldType<'a>,
    name: &str,
    attrs: FieldAttrs,
    rename_all: Option<crate::case::RenameRule>,
) {
    let conflict_keys = |role: &str| {
        for (path, span) in mapped_only_keys(&attrs) {
            let key = path
                .get_ident()
                .map_or_else(String::new, ToString::to_string);
            cx.error_at(span, format!("`{key}` cannot be combined with `{role}`"));
        }
    };

    // A relationship.
    if let Some(rel_attr) = &attrs.relationship_attr {
        if let Some(field_attr) = &attrs.field_attr {
            cx.error_spanned_by(
                field_attr,
                "a field cannot have both `#[field(...)]` and `#[relationship(...)]`",
            );
        }
        let many = ty.is_vec_string();
        if !many && !ty.is_option_string() {
            cx.error_spanned_by(
                syn_ty,
                "a `#[relationship]` field must be `Option<String>` or `Vec<String>` (the external ids it links to)",
            );
        }
        let target_type = match &attrs.rel_target {
            Some(t) => t.value(),
            None => {
                cx.error_spanned_by(
                    rel_attr,
                    "missing `target` in `#[relationship(...)]`: the related entity type, e.g. `target = \"NODE\"`",
                );
                String::new()
            }
        };
        let kind = match &attrs.kind {
            Some(k) => k.value(),
            None => {
                cx.error_spanned_by(
                    rel_attr,
                    "missing `kind` in `#[relationship(...)]`, e.g. `kind = \"DEPENDS_ON\"`",
                );
                String::new()
            }
        };
        entity.relationships.push(Rel {
            ident,
            many,
            source: attrs
                .rel_source
                .unwrap_or_else(|| PathLit::key(name, ident.span())),
            target_type,
            kind,
            strength: attrs.strength,
            lookup: attrs.lookup.unwrap_or(LookupSpec::ExternalId),
            bidirectional: attrs.bidirectional.is_some(),
        });
        return;
    }

    // Skipped.
    if let Some(skip) = &attrs.skip {
        for other in [&attrs.external_id, &attrs.created_at, &attrs.updated_at]
            .into_iter()
            .flatten()
        {
            conflict(cx, other, "skip");
        }
        if let Some(source) = &attrs.source {
            cx.error_spanned_by(&source.lit, "`source` cannot be combined with `skip`");
        }
        for (path, span) in mapped_only_keys(&attrs) {
            if path.is_ident("default") {
                continue;
            }
            let key = path
                .get_ident()
                .map_or_else(String::new, ToString::to_string);
            cx.error_at(span, format!("`{key}` cannot be combined with `skip`"));
        }
        let _ = skip;
        entity
            .skipped
            .push((ident, attrs.default.map(|(_, spec)| spec)));
        return;
    }

    let source = attrs
        .source
        .clone()
        .unwrap_or_else(|| PathLit::key(name, ident.span()));

    // The external id or a timestamp.
    let roles = [
        ("external_id", &attrs.external_id),
        ("created_at", &attrs.created_at),
        ("updated_at", &attrs.updated_at),
    ];
    let mut role = None;
    for (name, path) in roles {
        let Some(path) = path else { continue };
        match role {
            None => role = Some((name, path)),
            Some((first, _)) => conflict(cx, path, first),
        }
    }
    if let Some((role, path)) = role {
        conflict_keys(role);
        let fits = if role == "external_id" {
            !ty.optional && !ty.list && ty.scalar == Scalar::String
        } else {
            ty.is_option_datetime()
        };
        if !fits {
            let wanted = if role == "external_id" {
                "`String`"
            } else {
                "`Option<DateTime<Utc>>`"
            };
            cx.error_spanned_by(syn_ty, format!("the `{role}` field must be {wanted}"));
        }
        let slot = match role {
            "external_id" => &mut entity.external_id,
            "created_at" => &mut entity.created_at,
            _ => &mut entity.updated_at,
        };
        match slot {
            Some(first) => cx.error_spanned_by(
                path,
                format!(
                    "duplicate `{role}`: field `{}` already holds it",
                    first.ident
                ),
            ),
            None => *slot = Some(Special { ident, source }),
        }
        return;
    }

    // A mapped field.
    let with = attrs.with.as_ref().map(|(_, f)| f.clone());
    if with.is_none()
        && let Scalar::DateTime { utc: false } = ty.scalar
    {
        cx.error_spanned_by(
            syn_ty,
            "a `DateTime` field must be `DateTime<Utc>` (or use `with = ...` for another time zone)",
        );
    }
    for rule in &attrs.rules {
        check_rule_fits(cx, rule, &ty, syn_ty);
    }
    if let Some((path, DefaultSpec::Lit(lit))) = &attrs.default {
        check_default_fits(cx, path, lit, &ty, with.is_some());
    }
    let target = match &attrs.target {
        Some(t) => t.value(),
        None => rename_all.map_or_else(|| name.to_owned(), |r| r.apply(name)),
    };
    let mut transforms: Vec<TransformSpec> =
        attrs.transforms.iter().map(|(_, t)| t.clone()).collect();
    if with.is_none()
        && let Some(implied) = implied_transform(ty.scalar)
    {
        let done = transforms.last().is_some_and(|last| {
            matches!(
                (last, ty.scalar),
                (
                    TransformSpec::ToNumber | TransformSpec::ConvertUnit { .. },
                    Scalar::Int(_) | Scalar::Uint(_) | Scalar::Float(_)
                ) | (TransformSpec::ToBool, Scalar::Bool)
                    | (TransformSpec::ParseDatetime { .. }, Scalar::DateTime { .. })
            )
        });
        if !done {
            transforms.push(implied);
        }
    }
    entity.fields.push(Mapped {
        ident,
        target_span: attrs
            .target
            .as_ref()
            .map_or_else(|| ident.span(), LitStr::span),
        source,
        target,
        required: !ty.optional && attrs.default.is_none(),
        ty,
        transforms,
        with,
        default: attrs.default.map(|(_, d)| d),
        description: attrs.description.as_ref().map(LitStr::value),
        rules: attrs
            .rules
            .into_iter()
            .map(|r| (r.rule, r.message))
            .collect(),
    });
}

/// The conversion a typed field implies in the descriptor, so the dynamic engine
/// produces what the typed conversion reads.
fn implied_transform(scalar: Scalar) -> Option<TransformSpec> {
    match scalar {
        Scalar::Bool => Some(TransformSpec::ToBool),
        Scalar::Int(_) | Scalar::Uint(_) | Scalar::Float(_) => Some(TransformSpec::ToNumber),
        Scalar::DateTime { .. } => Some(TransformSpec::ParseDatetime { format: None }),
        Scalar::String | Scalar::Json | Scalar::Other => None,
    }
}

fn type_name(ty: &syn::Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}

fn check_rule_fits(cx: &Ctxt, rule: &attr::RuleAttr, ty: &FieldType<'_>, syn_ty: &syn::Type) {
    let key = rule
        .path
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    let (fits, wanted) = match &rule.rule {
        RuleSpec::Required => (true, ""),
        RuleSpec::MinLen(_) | RuleSpec::MaxLen(_) => (
            ty.has_length(),
            "a `String`, `Vec` or `serde_json::Value` field",
        ),
        RuleSpec::Pattern(p) => {
            if let Err(e) = regex_lite::Regex::new(&p.value()) {
                cx.error_spanned_by(p, format!("invalid `pattern`: {e}"));
            }
            (ty.is_stringish(), "a `String` or `serde_json::Value` field")
        }
        RuleSpec::Email | RuleSpec::Url => {
            (ty.is_stringish(), "a `String` or `serde_json::Value` field")
        }
        RuleSpec::Range { .. } => (
            ty.is_numeric(),
            "a numeric field (an integer or float type, or `serde_json::Value`)",
        ),
        RuleSpec::OneOf(values) => {
            let misfit = values.iter().find(|v| {
                ty.list
                    || !match (&v.value, ty.scalar) {
                        (_, Scalar::Json | Scalar::Other | Scalar::String) => true,
                        (LitValue::Int(_), s) => s.is_numeric(),
                        (LitValue::Float(_), s) => matches!(s, Scalar::Float(_)),
                        (LitValue::Bool(_), s) => s == Scalar::Bool,
                        (LitValue::Str(_), _) => false,
                    }
            });
            if let Some(v) = misfit {
                cx.error_at(
                    v.span,
                    format!(
                        "`one_of` value is {}, which does not fit a field of type `{}`",
                        v.kind(),
                        type_name(syn_ty)
                    ),
                );
            }
            (true, "")
        }
    };
    if !fits {
        cx.error_spanned_by(
            &rule.path,
            format!(
                "`{key}` does not fit a field of type `{}`; it applies to {wanted}",
                type_name(syn_ty)
            ),
        );
    }
}

fn check_default_fits(cx: &Ctxt, path: &syn::Path, lit: &Lit, ty: &FieldType<'_>, with: bool) {
    if with {
        // The literal is passed to the `with` function like a source value.
        return;
    }
    let fits = !ty.list
        && match (&lit.value, ty.scalar) {
            (_, Scalar::Json | Scalar::Other) => true,
            (LitValue::Str(_), Scalar::String | Scalar::DateTime { .. }) => true,
            (LitValue::Str(s), Scalar::Bool) => matches!(s.as_str(), "true" | "false"),
            (LitValue::Int(_), s) => s.is_numeric() || s == Scalar::String,
            (LitValue::Float(_), Scalar::Float(_) | Scalar::String) => true,
            (LitValue::Bool(_), Scalar::Bool | Scalar::String) => true,
            _ => false,
        };
    if !fits {
        let hint = if ty.list {
            "; for a list write an expression, e.g. `default = Vec::new()`"
        } else {
            ""
        };
        cx.error_spanned_by(
            path,
            format!(
                "`default` is {}, which does not fit a field of type `{}`{hint}",
                lit.kind(),
                type_name(ty.inner)
            ),
        );
    }
}

/// Target names must be well formed and unique, and none may be an object that
/// another target nests inside (`owner` and `owner.email`).
fn check_targets(cx: &Ctxt, entity: &Entity<'_>) {
    for (i, field) in entity.fields.iter().enumerate() {
        let target = field.target.as_str();
        if target.is_empty() || target.split('.').any(str::is_empty) {
            cx.error_at(
                field.target_span,
                format!("target `{target}` is not a valid name; write `target = \"name\"` or `target = \"parent.child\"`"),
            );
            continue;
        }
        for earlier in &entity.fields[..i] {
            let other = earlier.target.as_str();
            if other == target {
                cx.error_at(
                    field.target_span,
                    format!(
                        "target `{target}` is already mapped by field `{}`",
                        earlier.ident
                    ),
                );
            } else if target.starts_with(&format!("{other}."))
                || other.starts_with(&format!("{target}."))
            {
                cx.error_at(
                    field.target_span,
                    format!(
                        "target `{target}` conflicts with `{other}` of field `{}`: one nests inside the other",
                        earlier.ident
                    ),
                );
            }
        }
    }
}
