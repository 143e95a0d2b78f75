//! Phase 3, expand: generates the descriptor, the typed conversion and the record
//! conversion, wrapped in `const _: () = { ... };` with every path absolute through
//! the crate path (`::connector_core` unless `#[entity(crate = "...")]`).
//!
//! [`fallback`] emits the stub implementation used when the attributes have errors,
//! so the user sees those errors and not a cascade of "trait not implemented".

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::DeriveInput;

use crate::attr::{DefaultSpec, Lit, LitValue, LookupSpec, PathLit, RuleSpec, TransformSpec};
use crate::grammar::Segment;
use crate::ty::{FieldType, Scalar};
use crate::valid::{Entity, Mapped, Rel};

/// The stub implementation emitted next to the errors.
pub(crate) fn fallback(input: &DeriveInput, krate: Option<&syn::Path>) -> TokenStream {
    let default_krate: syn::Path = syn::parse_quote!(::connector_core);
    let krate = krate.unwrap_or(&default_krate);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::mapping::TypedMapping for #ident #ty_generics #where_clause {
                fn entity_mapping() -> &'static #krate::mapping::EntityMapping {
                    ::core::unreachable!()
                }
                fn from_source(_: &#krate::serde_json::Value) -> #krate::Result<Self> {
                    ::core::unreachable!()
                }
                fn into_record(
                    self,
                    _: impl ::core::convert::Into<#krate::Name>,
                ) -> #krate::Result<#krate::Record> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

/// The implementation of a valid entity.
pub(crate) fn expand(entity: &Entity<'_>) -> TokenStream {
    let krate = &entity.krate;
    let ident = entity.ident;
    let m = quote!(#krate::mapping);
    let typed = quote!(#krate::mapping::typed);
    let value = quote!(#krate::serde_json::Value);

    let descriptor = descriptor(entity);
    let registry = registry(entity);

    // from_source
    let mut reads = Vec::new();
    let mut names = Vec::new();
    let mut inits = Vec::new();
    if let Some(id) = &entity.external_id {
        let f = id.ident;
        reads.push(quote!(let __id = __r.external_id();));
        names.push(quote!(__id));
        inits.push(quote!(#f: __id));
    }
    for (i, field) in entity.fields.iter().enumerate() {
        let var = format_ident!("__f{}", i);
        let f = field.ident;
        let read = read_field(entity, field, i);
        reads.push(quote!(let #var = #read;));
        names.push(quote!(#var));
        inits.push(quote!(#f: #var));
    }
    for (var, special, method) in [
        ("__created", &entity.created_at, quote!(created_at)),
        ("__updated", &entity.updated_at, quote!(updated_at)),
    ] {
        if let Some(special) = special {
            let var = format_ident!("{}", var);
            let f = special.ident;
            reads.push(quote!(let #var = __r.#method();));
            names.push(quote!(#var));
            inits.push(quote!(#f: #var));
        }
    }
    for (i, rel) in entity.relationships.iter().enumerate() {
        let var = format_ident!("__rel{}", i);
        let f = rel.ident;
        let method = if rel.many {
            quote!(relationship_ids)
        } else {
            quote!(relationship_id)
        };
        reads.push(quote!(let #var = __r.#method(#i);));
        names.push(quote!(#var));
        inits.push(quote!(#f: #var));
    }
    for (f, default) in &entity.skipped {
        let expr = match default {
            None | Some(DefaultSpec::Trait) => quote!(::core::default::Default::default()),
            Some(DefaultSpec::Lit(lit)) => lit_expr(lit),
            Some(DefaultSpec::Expr(e)) => quote!(#e),
        };
        inits.push(quote!(#f: #expr));
    }
    let patterns = names
        .iter()
        .map(|n| quote!(::core::option::Option::Some(#n)));

    // into_record
    let id_field = entity.external_id.as_ref().map(|id| {
        let f = id.ident;
        quote!(self.#f)
    });
    let mut writes = Vec::new();
    // In target-name order: the record's fields are a vector sorted by name, and
    // inserting in order appends.
    let mut in_target_order: Vec<(usize, &Mapped<'_>)> = entity.fields.iter().enumerate().collect();
    in_target_order.sort_by(|a, b| a.1.target.cmp(&b.1.target));
    for (i, field) in in_target_order {
        let f = field.ident;
        let to_json = to_json_fn(krate, &field.ty, field.with.is_some());
        writes.push(if field.ty.optional {
            quote! {
                if let ::core::option::Option::Some(__v) = self.#f {
                    __b.field(#i, (#to_json)(__v));
                }
            }
        } else {
            quote!(__b.field(#i, (#to_json)(self.#f));)
        });
    }
    if let Some(c) = &entity.created_at {
        let f = c.ident;
        writes.push(quote!(__b.created_at(self.#f);));
    }
    if let Some(u) = &entity.updated_at {
        let f = u.ident;
        writes.push(quote!(__b.updated_at(self.#f);));
    }
    for (i, rel) in entity.relationships.iter().enumerate() {
        let f = rel.ident;
        writes.push(quote!(__b.relationships(#i, self.#f);));
    }

    quote! {
        const _: () = {
            static __PLAN: ::std::sync::OnceLock<#typed::Plan> = ::std::sync::OnceLock::new();

            fn __plan() -> &'static #typed::Plan {
                __PLAN.get_or_init(|| #typed::Plan::new(__descriptor(), &__registry()))
            }

            fn __descriptor() -> #m::EntityMapping {
                #descriptor
            }

            fn __registry() -> #m::TransformRegistry {
                #registry
            }

            #[automatically_derived]
            impl #m::TypedMapping for #ident {
                fn entity_mapping() -> &'static #m::EntityMapping {
                    __plan().mapping()
                }

                fn transform_registry() -> #m::TransformRegistry {
                    __registry()
                }

                fn from_source(__source: &#value) -> #krate::Result<Self> {
                    let mut __r = __plan().reader(__source)?;
                    #(#reads)*
                    match (#(#names,)*) {
                        (#(#patterns,)*) if __r.is_clean() => {
                            ::core::result::Result::Ok(Self { #(#inits,)* })
                        }
                        _ => ::core::result::Result::Err(__r.into_error()),
                    }
                }

                fn into_record(
                    self,
                    __connector: impl ::core::convert::Into<#krate::Name>,
                ) -> #krate::Result<#krate::Record> {
                    let mut __b = __plan().record(#id_field, __connector);
                    #(#writes)*
                    __b.finish()
                }
            }
        };
    }
}

/// The expression reading mapped field `index` in `from_source`.
fn read_field(entity: &Entity<'_>, field: &Mapped<'_>, index: usize) -> TokenStream {
    let krate = &entity.krate;
    let value = quote!(#krate::serde_json::Value);
    if let Some(with) = &field.with {
        let method = if field.ty.optional {
            quote!(read_with_optional)
        } else {
            quote!(read_with_required)
        };
        let to_json = to_json_fn(krate, &field.ty, true);
        let check = (!field.rules.is_empty()).then(|| {
            quote! {
                if let ::core::option::Option::Some(__t) = &__v {
                    let __json = (#to_json)(::core::clone::Clone::clone(__t)).ok();
                    __r.check_rules(#index, __json.as_ref());
                }
            }
        });
        let inner = field.ty.inner;
        return quote! {{
            let __v = __r.#method(#index, |__x: &#value| -> ::core::result::Result<#inner, ::std::string::String> {
                #with(__x).map_err(|__e| ::std::string::ToString::to_string(&__e))
            });
            #check
            __v
        }};
    }
    if matches!(field.ty.scalar, Scalar::String) && !field.ty.list {
        // A `String` the transforms made moves into the field.
        let method = if field.ty.optional {
            quote!(read_optional_string)
        } else {
            quote!(read_required_string)
        };
        return quote!(__r.#method(#index));
    }
    let method = if field.ty.optional {
        quote!(read_optional)
    } else {
        quote!(read_required)
    };
    let convert = convert_fn(krate, &field.ty);
    quote!(__r.#method(#index, #convert))
}

/// An expression of type `fn(&Value) -> Result<T, CoerceError>` for the field's
/// inner type (`Option` stripped).
fn convert_fn(krate: &syn::Path, ty: &FieldType<'_>) -> TokenStream {
    let typed = quote!(#krate::mapping::typed);
    let coerce = quote!(#krate::mapping::coerce);
    let value = quote!(#krate::serde_json::Value);
    let element = ty.element;
    let scalar = match ty.scalar {
        Scalar::String => quote!(#typed::to_string),
        Scalar::Bool => quote!(#coerce::to_bool),
        Scalar::Int(name) => {
            let expected = if name == "i64" {
                "an integer".to_owned()
            } else {
                format!("an integer that fits in {name}")
            };
            quote!(|__v: &#value| #typed::to_int::<#element>(__v, #expected))
        }
        Scalar::Uint(name) => {
            let expected = if name == "u64" {
                "an unsigned integer".to_owned()
            } else {
                format!("an unsigned integer that fits in {name}")
            };
            quote!(|__v: &#value| #typed::to_uint::<#element>(__v, #expected))
        }
        Scalar::Float("f32") => quote!(#typed::to_f32),
        Scalar::Float(_) => quote!(#coerce::to_f64),
        Scalar::DateTime { .. } => quote!(#coerce::to_datetime),
        Scalar::Json => quote!(#typed::to_json),
        Scalar::Other => {
            let expected = format!(
                "a value of type `{}`",
                quote!(#element).to_string().replace(' ', "")
            );
            quote!(|__v: &#value| #typed::deserialize::<#element>(__v, #expected))
        }
    };
    if ty.list {
        quote!(|__v: &#value| #typed::to_list(__v, #scalar))
    } else {
        scalar
    }
}

/// An expression of type `fn(T) -> Result<Value, String>` for the field's inner type.
fn to_json_fn(krate: &syn::Path, ty: &FieldType<'_>, _with: bool) -> TokenStream {
    let typed = quote!(#krate::mapping::typed);
    let inner = ty.inner;
    if ty.scalar.is_builtin() {
        quote! {
            |__t: #inner| -> ::core::result::Result<#krate::serde_json::Value, ::std::string::String> {
                ::core::result::Result::Ok(#typed::IntoFieldValue::into_field_value(__t))
            }
        }
    } else {
        quote! {
            |__t: #inner| -> ::core::result::Result<#krate::serde_json::Value, ::std::string::String> {
                #typed::serialize(&__t)
            }
        }
    }
}

/// The registry of the `with` functions.
fn registry(entity: &Entity<'_>) -> TokenStream {
    let krate = &entity.krate;
    let m = quote!(#krate::mapping);
    let registrations = entity.fields.iter().filter_map(|field| {
        let with = field.with.as_ref()?;
        let name = with_name(with);
        let to_json = to_json_fn(krate, &field.ty, true);
        let inner = field.ty.inner;
        Some(quote! {
            #m::typed::register_with::<#inner, _>(&mut __registry, #name, #with, #to_json);
        })
    });
    quote! {
        #[allow(unused_mut)]
        let mut __registry = #m::TransformRegistry::new();
        #(#registrations)*
        __registry
    }
}

/// The custom transform name of a `with` function: its path as written.
fn with_name(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

fn path_expr(krate: &syn::Path, path: &PathLit) -> TokenStream {
    let m = quote!(#krate::mapping);
    let mut segments = path.segments.iter();
    let first = match segments.next() {
        Some(Segment::Key(k)) => k.clone(),
        // The grammar always starts with a key.
        _ => String::new(),
    };
    let rest = segments.map(|s| match s {
        Segment::Key(k) => quote!(#m::Segment::Key(::std::string::String::from(#k))),
        Segment::Index(i) => quote!(#m::Segment::Index(#i)),
        Segment::Project => quote!(#m::Segment::Project),
    });
    quote!(#m::typed::path(#first, ::std::vec![#(#rest),*]))
}

/// A literal as a `serde_json::Value` expression.
fn json_expr(krate: &syn::Path, lit: &Lit) -> TokenStream {
    let value = quote!(#krate::serde_json::Value);
    match &lit.value {
        LitValue::Str(s) => quote!(#value::String(::std::string::String::from(#s))),
        LitValue::Int(i) => {
            if let Ok(n) = i64::try_from(*i) {
                let n = Literal::i64_suffixed(n);
                quote!(#value::from(#n))
            } else if let Ok(n) = u64::try_from(*i) {
                let n = Literal::u64_suffixed(n);
                quote!(#value::from(#n))
            } else {
                let f = Literal::f64_suffixed(*i as f64);
                quote!(#value::from(#f))
            }
        }
        LitValue::Float(f) => {
            let f = Literal::f64_suffixed(*f);
            quote!(#value::from(#f))
        }
        LitValue::Bool(b) => quote!(#value::Bool(#b)),
    }
}

/// A literal as a Rust expression of the field's type (for skipped fields).
fn lit_expr(lit: &Lit) -> TokenStream {
    match &lit.value {
        LitValue::Str(s) => quote!(::core::convert::From::from(#s)),
        LitValue::Int(i) => {
            let n = Literal::i128_unsuffixed(*i);
            quote!(#n)
        }
        LitValue::Float(f) => {
            let f = Literal::f64_unsuffixed(*f);
            quote!(#f)
        }
        LitValue::Bool(b) => quote!(#b),
    }
}

fn opt_f64(x: Option<f64>) -> TokenStream {
    match x {
        Some(x) => {
            let x = Literal::f64_suffixed(x);
            quote!(::core::option::Option::Some(#x))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn opt_string(s: Option<&str>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(::std::string::String::from(#s))),
        None => quote!(::core::option::Option::None),
    }
}

fn transform_expr(krate: &syn::Path, t: &TransformSpec) -> TokenStream {
    let m = quote!(#krate::mapping);
    let string = |s: &str| quote!(::std::string::String::from(#s));
    match t {
        TransformSpec::Lookup { table, default } => {
            let inserts = table.iter().map(|(k, v)| {
                let v = json_expr(krate, v);
                quote!(__table.insert(::std::string::String::from(#k), #v);)
            });
            let default = match default {
                Some(d) => {
                    let d = json_expr(krate, d);
                    quote!(::core::option::Option::Some(#d))
                }
                None => quote!(::core::option::Option::None),
            };
            quote! {{
                let mut __table = ::std::collections::BTreeMap::new();
                #(#inserts)*
                #m::Transform::Lookup { table: __table, default: #default }
            }}
        }
        TransformSpec::Lower => quote!(#m::Transform::Lower),
        TransformSpec::Upper => quote!(#m::Transform::Upper),
        TransformSpec::Trim => quote!(#m::Transform::Trim),
        TransformSpec::ToNumber => quote!(#m::Transform::ToNumber),
        TransformSpec::ToBool => quote!(#m::Transform::ToBool),
        TransformSpec::ToString => quote!(#m::Transform::ToString),
        TransformSpec::ParseDatetime { format } => {
            let format = opt_string(format.as_deref());
            quote!(#m::Transform::ParseDatetime { format: #format })
        }
        TransformSpec::FormatDatetime { format } => {
            let format = string(format);
            quote!(#m::Transform::FormatDatetime { format: #format })
        }
        TransformSpec::ConvertUnit {
            from,
            to,
            round,
            decimals,
        } => {
            let from = format_ident!("{}", from);
            let to = format_ident!("{}", to);
            let round = format_ident!("{}", round.unwrap_or("Nearest"));
            quote! {
                #m::Transform::ConvertUnit {
                    from: #m::Unit::#from,
                    to: #m::Unit::#to,
                    round: #m::Rounding::#round,
                    decimals: #decimals,
                }
            }
        }
        TransformSpec::ExtractReference { key } => {
            let key = string(key.as_deref().unwrap_or("value"));
            quote!(#m::Transform::ExtractReference { key: #key })
        }
        TransformSpec::Split { separator } => {
            let separator = string(separator);
            quote!(#m::Transform::Split { separator: #separator })
        }
        TransformSpec::Join { separator } => {
            let separator = string(separator);
            quote!(#m::Transform::Join { separator: #separator })
        }
        TransformSpec::Coalesce { paths } => {
            let paths = paths.iter().map(|p| path_expr(krate, p));
            quote!(#m::Transform::Coalesce { paths: ::std::vec![#(#paths),*] })
        }
        TransformSpec::Constant { value } => {
            let value = json_expr(krate, value);
            quote!(#m::Transform::Constant { value: #value })
        }
    }
}

fn rule_expr(krate: &syn::Path, rule: &RuleSpec) -> TokenStream {
    let m = quote!(#krate::mapping);
    match rule {
        RuleSpec::Required => quote!(#m::Rule::Required),
        RuleSpec::MinLen(n) => quote!(#m::Rule::MinLength(#n)),
        RuleSpec::MaxLen(n) => quote!(#m::Rule::MaxLength(#n)),
        RuleSpec::Pattern(p) => quote!(#m::Rule::Pattern(::std::string::String::from(#p))),
        RuleSpec::Email => quote!(#m::Rule::Email),
        RuleSpec::Url => quote!(#m::Rule::Url),
        RuleSpec::OneOf(values) => {
            let values = values.iter().map(|v| json_expr(krate, v));
            quote!(#m::Rule::OneOf(::std::vec![#(#values),*]))
        }
        RuleSpec::Range { min, max } => {
            let min = opt_f64(*min);
            let max = opt_f64(*max);
            quote!(#m::Rule::Range { min: #min, max: #max })
        }
    }
}

fn default_expr(krate: &syn::Path, field: &Mapped<'_>) -> TokenStream {
    let typed = quote!(#krate::mapping::typed);
    let inner = field.ty.inner;
    let to_json = |expr: TokenStream| {
        if field.ty.scalar.is_builtin() {
            quote! {{
                let __d: #inner = #expr;
                ::core::option::Option::Some(#typed::IntoFieldValue::into_field_value(__d))
            }}
        } else {
            quote! {{
                let __d: #inner = #expr;
                #typed::serialize(&__d).ok()
            }}
        }
    };
    match &field.default {
        None => quote!(::core::option::Option::None),
        Some(DefaultSpec::Lit(lit)) => {
            let json = json_expr(krate, lit);
            quote!(::core::option::Option::Some(#json))
        }
        Some(DefaultSpec::Trait) => to_json(quote!(::core::default::Default::default())),
        Some(DefaultSpec::Expr(e)) => to_json(quote!(#e)),
    }
}

fn descriptor(entity: &Entity<'_>) -> TokenStream {
    let krate = &entity.krate;
    let m = quote!(#krate::mapping);
    let source_type = &entity.source_type;
    let target_type = &entity.target_type;
    let display_name = &entity.display_name;
    let description = opt_string(entity.description.as_deref());
    let external_id = match &entity.external_id {
        Some(id) => path_expr(krate, &id.source),
        None => quote!(#m::FieldPath::key("")),
    };
    let timestamp = |special: &Option<crate::valid::Special<'_>>| match special {
        Some(s) => {
            let p = path_expr(krate, &s.source);
            quote!(::core::option::Option::Some(#p))
        }
        None => quote!(::core::option::Option::None),
    };
    let created_at = timestamp(&entity.created_at);
    let updated_at = timestamp(&entity.updated_at);

    let fields = entity.fields.iter().map(|field| {
        let source = path_expr(krate, &field.source);
        let target = &field.target;
        let required = field.required;
        let mut transforms: Vec<TokenStream> = field
            .transforms
            .iter()
            .map(|t| transform_expr(krate, t))
            .collect();
        if let Some(with) = &field.with {
            let name = with_name(with);
            transforms.push(quote!(#m::typed::with_transform(#name)));
        }
        let default = default_expr(krate, field);
        let description = opt_string(field.description.as_deref());
        quote! {{
            let mut __f = #m::FieldMapping::new(#source, #target);
            __f.required = #required;
            __f.transforms = ::std::vec![#(#transforms),*];
            __f.default = #default;
            __f.description = #description;
            __f
        }}
    });

    let rules = entity.fields.iter().flat_map(|field| {
        let target = &field.target;
        let m = m.clone();
        field.rules.iter().map(move |(rule, message)| {
            let rule = rule_expr(krate, rule);
            let message = opt_string(message.as_deref());
            quote! {{
                let mut __v = #m::ValidationRule::new(#target, #rule);
                __v.message = #message;
                __v
            }}
        })
    });

    let relationships = entity
        .relationships
        .iter()
        .map(|rel| relationship_expr(krate, rel));

    quote! {
        let mut __m = #m::EntityMapping::new(#source_type, #target_type, #display_name, #external_id);
        __m.description = #description;
        __m.created_at = #created_at;
        __m.updated_at = #updated_at;
        __m.fields = ::std::vec![#(#fields),*];
        __m.relationships = ::std::vec![#(#relationships),*];
        __m.validation = ::std::vec![#(#rules),*];
        __m
    }
}

fn relationship_expr(krate: &syn::Path, rel: &Rel<'_>) -> TokenStream {
    let m = quote!(#krate::mapping);
    let source = path_expr(krate, &rel.source);
    let target_type = &rel.target_type;
    let kind = &rel.kind;
    let lookup = match &rel.lookup {
        LookupSpec::ExternalId => quote!(#m::Lookup::ExternalId),
        LookupSpec::Name => quote!(#m::Lookup::Name),
        LookupSpec::Field(f) => quote!(#m::Lookup::Field(::std::string::String::from(#f))),
    };
    let strength = match rel.strength {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let bidirectional = rel.bidirectional;
    quote! {{
        let mut __r = #m::RelationshipMapping::new(
            #source,
            #target_type,
            #m::typed::relationship_kind(#kind),
        );
        __r.lookup = #lookup;
        __r.strength = #strength;
        __r.bidirectional = #bidirectional;
        __r
    }}
}
