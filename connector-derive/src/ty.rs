//! What the derive knows about a field's Rust type, from its spelling.
//!
//! A proc macro sees tokens, not resolved types, so types are recognised by the last
//! segment of their path: `String`, `bool`, the integer and float primitives,
//! `DateTime<Utc>`, `Value` (serde_json's), `Option<T>` and `Vec<T>`. Anything else
//! converts through serde.

use syn::{GenericArgument, PathArguments, Type};

/// The conversion a scalar type gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Bool,
    /// A signed integer primitive (`i64`).
    Int(&'static str),
    /// An unsigned integer primitive (`u16`).
    Uint(&'static str),
    /// `f32` or `f64`.
    Float(&'static str),
    /// `DateTime<Utc>` (`utc` is false for another time zone).
    DateTime {
        utc: bool,
    },
    /// `serde_json::Value`.
    Json,
    /// Any other type: converted with serde.
    Other,
}

impl Scalar {
    /// True for the types whose conversion is built in (not serde).
    pub(crate) fn is_builtin(self) -> bool {
        !matches!(self, Scalar::Other)
    }

    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Scalar::Int(_) | Scalar::Uint(_) | Scalar::Float(_))
    }
}

/// A field type: `T`, `Option<T>`, `Vec<T>` or `Option<Vec<T>>`.
pub(crate) struct FieldType<'a> {
    pub(crate) optional: bool,
    pub(crate) list: bool,
    pub(crate) scalar: Scalar,
    /// The type inside `Option`, if any (the whole type otherwise).
    pub(crate) inner: &'a Type,
    /// The element type: `T` of `T`, `Option<T>`, `Vec<T>`, `Option<Vec<T>>`.
    pub(crate) element: &'a Type,
}

impl<'a> FieldType<'a> {
    pub(crate) fn of(ty: &'a Type) -> Self {
        let (optional, inner) = match generic_arg(ty, "Option") {
            Some(inner) => (true, inner),
            None => (false, ty),
        };
        let (list, element) = match generic_arg(inner, "Vec") {
            Some(element) => (true, element),
            None => (false, inner),
        };
        Self {
            optional,
            list,
            scalar: scalar(element),
            inner,
            element,
        }
    }

    /// True when the whole field is a string (or a JSON value, which may be one).
    pub(crate) fn is_stringish(&self) -> bool {
        !self.list && matches!(self.scalar, Scalar::String | Scalar::Json)
    }

    /// True when a length applies: a string, a list or a JSON value.
    pub(crate) fn has_length(&self) -> bool {
        self.list || matches!(self.scalar, Scalar::String | Scalar::Json)
    }

    /// True when the field is a number (or a JSON value, which may be one).
    pub(crate) fn is_numeric(&self) -> bool {
        !self.list && (self.scalar.is_numeric() || self.scalar == Scalar::Json)
    }

    /// True for `Option<String>`.
    pub(crate) fn is_option_string(&self) -> bool {
        self.optional && !self.list && self.scalar == Scalar::String
    }

    /// True for `Vec<String>`.
    pub(crate) fn is_vec_string(&self) -> bool {
        !self.optional && self.list && self.scalar == Scalar::String
    }

    /// True for `Option<DateTime<Utc>>`.
    pub(crate) fn is_option_datetime(&self) -> bool {
        self.optional && !self.list && self.scalar == (Scalar::DateTime { utc: true })
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

/// `T` when `ty` is `name<T>`.
fn generic_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let segment = last_segment(ty)?;
    if segment.ident != name {
        return None;
    }
    match &segment.arguments {
        PathArguments::AngleBracketed(args) if args.args.len() == 1 => match args.args.first()? {
            GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

fn scalar(ty: &Type) -> Scalar {
    let Some(segment) = last_segment(ty) else {
        return Scalar::Other;
    };
    let name = segment.ident.to_string();
    let bare = matches!(segment.arguments, PathArguments::None);
    match name.as_str() {
        "String" if bare => Scalar::String,
        "bool" if bare => Scalar::Bool,
        "i8" if bare => Scalar::Int("i8"),
        "i16" if bare => Scalar::Int("i16"),
        "i32" if bare => Scalar::Int("i32"),
        "i64" if bare => Scalar::Int("i64"),
        "isize" if bare => Scalar::Int("isize"),
        "u8" if bare => Scalar::Uint("u8"),
        "u16" if bare => Scalar::Uint("u16"),
        "u32" if bare => Scalar::Uint("u32"),
        "u64" if bare => Scalar::Uint("u64"),
        "usize" if bare => Scalar::Uint("usize"),
        "f32" if bare => Scalar::Float("f32"),
        "f64" if bare => Scalar::Float("f64"),
        "Value" if bare => Scalar::Json,
        "DateTime" => {
            let utc = generic_arg(ty, "DateTime")
                .and_then(last_segment)
                .is_some_and(|s| s.ident == "Utc");
            Scalar::DateTime { utc }
        }
        _ => Scalar::Other,
    }
}
