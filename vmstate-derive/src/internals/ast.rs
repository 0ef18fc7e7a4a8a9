//! The derive input, parsed into what the expansion needs.

use syn::{Expr, Member, Path, Type};

use super::{Ctxt, attr, check};

/// The type being derived.
pub struct Container<'a> {
    pub ident: &'a syn::Ident,
    pub generics: &'a syn::Generics,
    pub attrs: attr::Container,
    pub data: Data<'a>,
}

pub enum Data<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Enum<'a>),
}

/// A field-less enum with an integer representation.
pub struct Enum<'a> {
    pub repr: syn::Ident,
    pub variants: Vec<&'a syn::Ident>,
}

/// One field of the struct.
pub struct Field<'a> {
    pub member: Member,
    pub ty: &'a Type,
    pub attrs: attr::Field,
    pub kind: FieldKind,
}

/// How a field is walked, resolved from its attributes.
pub enum FieldKind {
    /// Not migrated.
    Skip,
    /// Its attributes had errors (already reported); no further checks.
    Broken,
    /// Walked by its type's `VmStateField` impl.
    Plain,
    /// `equal` form.
    Equal,
    /// `int32 le` form.
    Le,
    /// A fixed `buffer`.
    Buffer,
    /// A `buffer` whose length is another field.
    VarBuffer { len: Member },
    /// An array whose count is another field.
    VarArray { len: Member },
    /// A bitmap whose bit count is another field.
    Bitmap { bits: Member },
    /// Unused bytes.
    Unused(Expr),
    /// A subsection.
    Subsection,
    /// A struct at a pinned version.
    Pinned(Expr),
    /// `qtailq` or `qlist`.
    List { qlist: bool },
    /// `gtree`.
    Tree,
    /// Array of pointers with markers before every element.
    AutoAlloc,
    /// Computed fields through a temporary.
    Tmp(Type),
    /// A load-time check.
    Validate(Path),
}

impl<'a> Container<'a> {
    pub fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let data = match &input.data {
            syn::Data::Struct(s) => {
                let fields = s
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let member = match &f.ident {
                            Some(ident) => Member::Named(ident.clone()),
                            None => Member::Unnamed(i.into()),
                        };
                        Field {
                            member,
                            ty: &f.ty,
                            attrs: attr::Field::from_ast(cx, &f.attrs),
                            kind: FieldKind::Plain,
                        }
                    })
                    .collect();
                Data::Struct(fields)
            }
            syn::Data::Enum(e) => Data::Enum(check::enum_shape(cx, input, e)?),
            syn::Data::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "VmState cannot be derived for a union: which member is live is not \
                     known, so there is no wire layout; use a struct or an enum with a repr",
                );
                return None;
            }
        };
        let mut container = Container {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            data,
        };
        if let Data::Struct(fields) = &mut container.data {
            check::resolve_fields(cx, fields);
        }
        check::container(cx, &container);
        Some(container)
    }
}

impl Field<'_> {
    /// The default wire name: the Rust field name (or the tuple index).
    pub fn rust_name(&self) -> String {
        match &self.member {
            Member::Named(ident) => {
                let s = ident.to_string();
                s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
            }
            Member::Unnamed(index) => index.index.to_string(),
        }
    }

    /// True if the field is written on the wire in the field list.
    pub fn is_migrated(&self) -> bool {
        !matches!(
            self.kind,
            FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken
        )
    }
}
