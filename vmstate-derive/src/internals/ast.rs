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
    /// Which description the field's wire fields belong to: 0 the struct's
    /// own, `k` the `k`-th inline subsection (`subsection = "..."` markers).
    pub group: usize,
    /// The context the field's walk passes to a struct that takes one.
    pub context: Option<FieldContext>,
}

/// The context a field passes down (`#[vmstate(context ...)]` on a field).
pub enum FieldContext {
    /// `context`: this struct's own context, passed on.
    Inherit,
    /// `context = expr`: computed from `self`.
    Expr(Expr),
}

/// What counts the elements of a variable array, the bytes of a variable
/// buffer or the bits of a bitmap (`len = ..`, `bits = ..`).
pub enum Count {
    /// Another field of the struct: migrated (its value as saved, or as
    /// just loaded) or `skip` (configuration both sides know: the
    /// destination's own value).
    Field(Member),
    /// A constant (an expression without `self`): the length is fixed.
    Const(Expr),
    /// An expression of `self`, evaluated at every walk.
    Expr(Expr),
}

/// Which part of a field a view walks.
pub enum Select {
    /// All of it (the field sent again, e.g. in a subsection).
    Whole,
    /// Single elements, each a wire field of its own (`index = RDT`,
    /// `index = [CTRL, EECD]`).
    Elements(Vec<Expr>),
    /// A run of elements (`start = 8, len = 4`; `len` omitted: to the end).
    Range {
        start: Option<Box<Expr>>,
        len: Option<Box<Expr>>,
    },
}

/// A `()` field that walks part of another field (`view = field`).
pub struct View {
    /// The field viewed.
    pub target: Member,
    /// Its type.
    pub target_ty: Type,
    /// Its wire name (the default name of the view's wire fields).
    pub target_name: proc_macro2::TokenStream,
    pub select: Select,
    /// Sent as a `buffer` (bytes) instead of element by element.
    pub buffer: bool,
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
    /// A `buffer` whose length is counted.
    VarBuffer { len: Count },
    /// An array whose element count is counted.
    VarArray { len: Count },
    /// A bitmap whose bit count is counted.
    Bitmap { bits: Count },
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
    /// Wire fields that are part of another field.
    View(Box<View>),
    /// `subsection = "name"` on `()`: the fields after it form a subsection.
    Inline(Expr),
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
                            group: 0,
                            context: None,
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
        let tuple = matches!(&input.data, syn::Data::Struct(s) if matches!(s.fields, syn::Fields::Unnamed(_)));
        let has_context = container.attrs.context.is_set();
        if let Data::Struct(fields) = &mut container.data {
            check::resolve_fields(cx, fields, tuple, has_context);
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
        self.wire_count() > 0
    }

    /// How many wire fields (entries of a description's field list) the
    /// field is: 0 if it is not sent as fields, several for a view of
    /// several elements.
    pub fn wire_count(&self) -> usize {
        match &self.kind {
            FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken | FieldKind::Inline(_) => 0,
            FieldKind::View(view) => match &view.select {
                Select::Elements(e) => e.len(),
                _ => 1,
            },
            _ => 1,
        }
    }
}
