//! Checks on the derive input that can be made before expansion, each with a
//! span on the user's code and a message that says what to write instead.

use quote::ToTokens;
use syn::{Member, Type};

use super::Ctxt;
use super::ast::{Container, Count, Data, Enum, Field, FieldContext, FieldKind, Select, View};

const REPRS: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

/// Validates an enum: field-less variants and an explicit integer repr.
pub fn enum_shape<'a>(
    cx: &Ctxt,
    input: &'a syn::DeriveInput,
    data: &'a syn::DataEnum,
) -> Option<Enum<'a>> {
    let mut repr = None;
    let mut other_repr = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(ident) = meta.path.get_ident() {
                if REPRS.contains(&ident.to_string().as_str()) {
                    repr = Some(ident.clone());
                } else if ident != "align" && ident != "packed" {
                    other_repr = Some(ident.clone());
                }
            }
            if meta.input.peek(syn::token::Paren) {
                let _group: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        });
    }
    let mut ok = true;
    for v in &data.variants {
        super::attr::forbid_on_variant(cx, &v.attrs);
        if !matches!(v.fields, syn::Fields::Unit) {
            cx.error_spanned_by(
                &v.fields,
                format!(
                    "variant `{}` carries data, but a VmState enum is sent as its discriminant \
                     only: make it a unit variant and move the data into a struct field",
                    v.ident
                ),
            );
            ok = false;
        }
    }
    if data.variants.is_empty() {
        cx.error_spanned_by(
            &input.ident,
            "a VmState enum needs at least one variant: an enum without values cannot be \
             saved or loaded",
        );
        return None;
    }
    if repr.is_none() {
        match other_repr {
            Some(r) if r == "usize" || r == "isize" => cx.error_spanned_by(
                &r,
                format!(
                    "#[repr({r})] has no fixed wire width (it depends on the host): use \
                     #[repr(u32)] or #[repr(u64)] (or u8, u16, i8, i16, i32, i64)"
                ),
            ),
            Some(r) => cx.error_spanned_by(
                &r,
                format!(
                    "#[repr({r})] gives no wire width: a VmState enum needs an integer repr \
                     such as #[repr(u8)] (or u16, u32, u64, i8, i16, i32, i64)"
                ),
            ),
            None => cx.error_spanned_by(
                &input.ident,
                "a VmState enum needs an explicit integer representation for its wire width: \
                 add #[repr(u8)] (or u16, u32, u64, i8, i16, i32, i64)",
            ),
        }
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Enum {
        repr: repr?,
        variants: data.variants.iter().map(|v| &v.ident).collect(),
    })
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// What a field type visibly is, as far as the derive can tell from the
/// tokens. `Other` (user types, aliases, generics) is left to the compiler's
/// trait checks.
enum Shape<'a> {
    Unit,
    /// A primitive with a wire form: bool, the 8..64-bit integers, f64.
    Scalar(String),
    /// A primitive or std type with no wire form of its own.
    NoWire(String),
    Array(&'a Type),
    Vec(&'a Type),
    VecDeque(&'a Type),
    BTreeMap,
    /// `HashMap`, `HashSet`, `BTreeSet`.
    Collection(String),
    Option(&'a Type),
    Reference,
    Tuple,
    Other,
}

const SCALARS: &[&str] = &[
    "bool", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f64",
];

fn generic_arg(seg: &syn::PathSegment, n: usize) -> Option<&Type> {
    match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .nth(n),
        _ => None,
    }
}

fn shape(ty: &Type) -> Shape<'_> {
    match ty {
        Type::Paren(p) => shape(&p.elem),
        Type::Group(g) => shape(&g.elem),
        Type::Tuple(t) if t.elems.is_empty() => Shape::Unit,
        Type::Tuple(_) => Shape::Tuple,
        Type::Array(a) => Shape::Array(&a.elem),
        Type::Reference(_) | Type::Ptr(_) => Shape::Reference,
        Type::Slice(_) => Shape::NoWire("[T]".to_owned()),
        Type::Path(p) if p.qself.is_none() => {
            let segs = &p.path.segments;
            let Some(last) = segs.last() else {
                return Shape::Other;
            };
            let name = last.ident.to_string();
            if segs.len() == 1 && p.path.leading_colon.is_none() && last.arguments.is_empty() {
                if SCALARS.contains(&name.as_str()) {
                    return Shape::Scalar(name);
                }
                if ["usize", "isize", "f32", "char", "str", "u128", "i128"].contains(&name.as_str())
                {
                    return Shape::NoWire(name);
                }
            }
            let std_path = segs.len() == 1
                || ["std", "alloc", "core"].contains(&segs[0].ident.to_string().as_str());
            if !std_path {
                return Shape::Other;
            }
            match (name.as_str(), generic_arg(last, 0)) {
                ("String", None) => Shape::NoWire(name),
                ("Vec", Some(t)) => Shape::Vec(t),
                ("VecDeque", Some(t)) => Shape::VecDeque(t),
                ("Option", Some(t)) => Shape::Option(t),
                // A box has the form of its content (QEMU's `VMS_POINTER`).
                ("Box", Some(t)) => shape(t),
                ("BTreeMap", Some(_)) => Shape::BTreeMap,
                ("HashMap" | "HashSet" | "BTreeSet", Some(_)) => Shape::Collection(name),
                _ => Shape::Other,
            }
        }
        _ => Shape::Other,
    }
}

fn is_scalar(ty: &Type, names: &[&str]) -> bool {
    matches!(shape(ty), Shape::Scalar(n) if names.contains(&n.as_str()))
}

/// The type as the user would write it.
fn show(ty: &Type) -> String {
    let mut s = ty.to_token_stream().to_string();
    for (from, to) in [
        (" ;", ";"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        (" :: ", "::"),
        (":: ", "::"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// Why a type cannot be a plain field, if the derive can tell.
fn plain_field_error(ty: &Type) -> Option<(&Type, String)> {
    let t = show(ty);
    let msg = match shape(ty) {
        Shape::Unit => "a `()` field carries no state: use `#[vmstate(unused = N)]` for padding \
                        bytes, `tmp = T` for computed fields, `validate = f` for a check, or \
                        `skip`"
            .to_owned(),
        Shape::NoWire(n) => match n.as_str() {
            "usize" | "isize" => format!(
                "`{n}` has no wire form: its width depends on the host; use u32 or u64 (i32 or \
                 i64), the width QEMU's field has"
            ),
            "f32" => "`f32` has no wire form: QEMU migrates floating point as 64-bit \
                      (`CPU_Double_U`); use f64"
                .to_owned(),
            "u128" | "i128" => format!(
                "`{n}` has no wire form: QEMU has no 128-bit field; use two u64 fields or \
                 `[u64; 2]`"
            ),
            _ => format!(
                "`{t}` has no wire form: QEMU migrates bytes, not text; use `[u8; N]` with \
                 #[vmstate(buffer)], or `Vec<u8>` with #[vmstate(buffer, len = count_field)]"
            ),
        },
        Shape::Vec(_) | Shape::VecDeque(_) => format!(
            "`{t}` has no wire form of its own; say how it is sent: \
             #[vmstate(len = count_field)] for a variable array counted by an earlier field, \
             `qtailq` or `qlist` for a list with markers, or for bytes \
             #[vmstate(buffer, len = count_field)]"
        ),
        Shape::BTreeMap => format!("`{t}` is sent as a tree: add #[vmstate(gtree)]"),
        Shape::Collection(n) => format!(
            "`{n}` has no wire form: a map is sent as a `gtree` in key order; use \
             `BTreeMap<K, V>` with #[vmstate(gtree)]"
        ),
        Shape::Reference => format!(
            "`{t}` cannot be a field: loading writes into the field, so it must own its value; \
             use the value type itself (or `Box<T>`)"
        ),
        Shape::Tuple => format!(
            "`{t}`: tuples have no wire form; use separate fields, or a struct with \
             #[derive(VmState)]"
        ),
        Shape::Array(elem) | Shape::Option(elem) => return plain_field_error(elem),
        Shape::Scalar(_) | Shape::Other => return None,
    };
    Some((ty, msg))
}

/// Checks that the field type fits the wire form chosen by its attributes.
fn check_type(cx: &Ctxt, f: &Field<'_>, form: Option<&str>) {
    let ty = f.ty;
    let t = show(ty);
    let sh = shape(ty);
    let definite = !matches!(sh, Shape::Other);
    let a = &f.attrs;
    let at = |key: Option<&proc_macro2::TokenStream>| {
        key.cloned().unwrap_or_else(|| ty.to_token_stream())
    };
    match (form, &f.kind) {
        (_, FieldKind::Plain) => {
            if let Some((ty, msg)) = plain_field_error(ty) {
                cx.error_spanned_by(ty, msg);
            }
        }
        (_, FieldKind::Equal)
            if definite && !is_scalar(ty, &["u8", "u16", "u32", "u64", "i32"]) =>
        {
            cx.error_spanned_by(
                ty,
                format!(
                    "`equal` compares an integer on load and exists only for u8, u16, u32, \
                     u64 and i32 fields, not `{t}`: change the type or remove `equal`"
                ),
            );
        }
        (_, FieldKind::Le) if definite && !is_scalar(ty, &["i32"]) => {
            cx.error_spanned_by(
                ty,
                format!(
                    "`le` is QEMU's `int32 le` and exists only for i32 fields, not `{t}`: \
                     declare the field as i32, or use `equal` for an exact match"
                ),
            );
        }
        (_, FieldKind::Buffer) => {
            let ok = matches!(sh, Shape::Array(e) if is_scalar(e, &["u8"]));
            if definite && !ok {
                let msg = match sh {
                    Shape::Vec(e) if is_scalar(e, &["u8"]) => format!(
                        "a `{t}` buffer needs its length: #[vmstate(buffer, len = count_field)]"
                    ),
                    Shape::Array(_) => format!(
                        "`buffer` needs a byte array `[u8; N]` (or `Box<[u8; N]>`), not `{t}`: \
                         remove `buffer` to send the array element by element"
                    ),
                    _ => format!(
                        "`buffer` needs a byte array `[u8; N]` (or `Box<[u8; N]>`), not `{t}`"
                    ),
                };
                cx.error_spanned_by(ty, msg);
            }
        }
        (_, FieldKind::VarBuffer { .. }) => {
            let ok = matches!(sh, Shape::Array(e) | Shape::Vec(e) if is_scalar(e, &["u8"]));
            if definite && !ok {
                let msg = match sh {
                    Shape::Array(_) | Shape::Vec(_) => format!(
                        "`buffer, len = ..` needs bytes, `Vec<u8>` or `[u8; N]`, not `{t}`: for \
                         other elements write `len = ..` without `buffer` (a variable array)"
                    ),
                    _ => {
                        format!("`buffer, len = ..` needs bytes, `Vec<u8>` or `[u8; N]`, not `{t}`")
                    }
                };
                cx.error_spanned_by(ty, msg);
            }
        }
        (_, FieldKind::VarArray { .. }) => match sh {
            Shape::Array(e) | Shape::Vec(e) => {
                if let Some((ty, msg)) = plain_field_error(e) {
                    cx.error_spanned_by(ty, msg);
                }
            }
            Shape::Other => {}
            Shape::BTreeMap => cx.error_spanned_by(
                at(a.len.tokens()),
                format!(
                    "`len` makes a variable array, but `{t}` is a map: remove `len` and use \
                     #[vmstate(gtree)]"
                ),
            ),
            _ => cx.error_spanned_by(
                at(a.len.tokens()),
                format!(
                    "`len` makes `{}` a variable array, but `{t}` is not an array: declare it \
                     as `[T; N]` or `Vec<T>`, or remove `len`",
                    f.rust_name()
                ),
            ),
        },
        (_, FieldKind::Bitmap { .. }) => {
            let ok = matches!(sh, Shape::Vec(e) if is_scalar(e, &["u64"]));
            if definite && !ok {
                cx.error_spanned_by(
                    ty,
                    format!(
                        "a `bitmap` is held as 64-bit words, `Vec<u64>`, not `{t}` (QEMU's \
                         `unsigned long` bitmap, sent as be64 words)"
                    ),
                );
            }
        }
        (_, FieldKind::Subsection) if definite => {
            cx.error_spanned_by(
                ty,
                format!(
                    "a `subsection` is a struct with #[derive(VmState)] whose name starts \
                     with this struct's name (e.g. \"parent/child\"), not `{t}`; for a \
                     field that is sent only sometimes, use `since = N` or `exists = path`"
                ),
            );
        }
        (_, FieldKind::Pinned(_)) if definite => {
            cx.error_spanned_by(
                ty,
                format!(
                    "`struct_version` walks a nested #[derive(VmState)] struct at a fixed \
                     version; `{t}` is not such a struct: remove `struct_version`"
                ),
            );
        }
        (Some(key), FieldKind::List { .. }) => match sh {
            Shape::Vec(e) | Shape::VecDeque(e) => {
                if let Some((ty, msg)) = plain_field_error(e) {
                    cx.error_spanned_by(ty, msg);
                }
            }
            Shape::Other => {}
            _ => cx.error_spanned_by(
                ty,
                format!("`{key}` needs a list, `Vec<T>` or `VecDeque<T>`, not `{t}`"),
            ),
        },
        (_, FieldKind::Tree) => match sh {
            Shape::BTreeMap | Shape::Other => {}
            Shape::Collection(n) if n == "HashMap" => cx.error_spanned_by(
                ty,
                "`gtree` needs a `BTreeMap<K, V>`: QEMU sends the nodes in key order, so use a \
                 BTreeMap instead of a HashMap",
            ),
            _ => cx.error_spanned_by(
                ty,
                format!("`gtree` needs a map, `BTreeMap<K, V>`, not `{t}`"),
            ),
        },
        (_, FieldKind::AutoAlloc) => {
            let ok = matches!(sh, Shape::Array(e) if matches!(shape(e), Shape::Option(_) | Shape::Other));
            if definite && !ok {
                cx.error_spanned_by(
                    ty,
                    format!(
                        "`auto_alloc` needs an array of optional elements, `[Option<T>; N]` \
                         (`None` is QEMU's NULL pointer), not `{t}`"
                    ),
                );
            }
        }
        _ => {}
    }
}

/// True if the tokens mention `self`.
fn mentions_self(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => i == "self",
        proc_macro2::TokenTree::Group(g) => mentions_self(g.stream()),
        _ => false,
    })
}

/// What a `len = ..`/`bits = ..` value is: another field (by name, or by
/// index in a tuple struct), an expression of `self`, or a constant.
fn classify_count(
    cx: &Ctxt,
    e: &syn::Expr,
    key: &str,
    members: &[Member],
    tuple: bool,
) -> Option<Count> {
    match e {
        syn::Expr::Path(p)
            if p.qself.is_none() && p.attrs.is_empty() && p.path.get_ident().is_some() =>
        {
            let ident = p.path.get_ident()?;
            let name = ident.to_string();
            if members
                .iter()
                .any(|m| matches!(m, Member::Named(i) if *i == name))
            {
                // The field, spanned where the attribute names it.
                return Some(Count::Field(Member::Named(ident.clone())));
            }
            let lower = name
                .trim_start_matches('_')
                .chars()
                .next()
                .is_some_and(|c| c.is_lowercase());
            if lower {
                cx.error_spanned_by(
                    e,
                    format!(
                        "`{key} = {name}` names no field of this struct: name the field that holds \
                         the count (migrated, or `skip` configuration both sides know), a constant \
                         (`{key} = FIFO_SIZE`), or an expression of `self` \
                         (`{key} = self.capacity as usize`)"
                    ),
                );
                return None;
            }
            Some(Count::Const(e.clone()))
        }
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) if tuple => {
            let index: usize = i.base10_parse().ok()?;
            match members.get(index) {
                Some(_) => Some(Count::Field(Member::Unnamed(syn::Index {
                    index: index as u32,
                    span: i.span(),
                }))),
                None => {
                    cx.error_spanned_by(
                        e,
                        format!(
                            "`{key} = {index}` names no field of this tuple struct (it has {}): in \
                             a tuple struct an integer names a field; write a constant count as \
                             `{key} = {{ {index} }}`",
                            members.len()
                        ),
                    );
                    None
                }
            }
        }
        _ if mentions_self(e.to_token_stream()) => Some(Count::Expr(e.clone())),
        _ => Some(Count::Const(e.clone())),
    }
}

/// Decides each field's kind from its attributes, reporting conflicts.
pub fn resolve_fields(cx: &Ctxt, fields: &mut [Field<'_>], tuple: bool, has_context: bool) {
    let members: Vec<Member> = fields.iter().map(|f| f.member.clone()).collect();
    let mut group = 0usize;
    for f in fields.iter_mut() {
        if f.attrs.broken {
            f.kind = FieldKind::Broken;
            continue;
        }
        let before = cx.error_count();
        let a = &f.attrs;
        let inline_marker = matches!(a.subsection.get(), Some(Some(_)));
        // Attributes that choose the wire form; at most one may be given.
        let subsection_key = if inline_marker {
            "subsection = \"..\""
        } else {
            "subsection"
        };
        let forms = [
            ("skip", a.skip.tokens()),
            ("equal", a.equal.tokens()),
            ("le", a.le.tokens()),
            ("buffer", a.buffer.tokens()),
            ("bitmap", a.bitmap.tokens()),
            ("unused", a.unused.tokens()),
            (subsection_key, a.subsection.tokens()),
            ("struct_version", a.struct_version.tokens()),
            ("qtailq", a.qtailq.tokens()),
            ("qlist", a.qlist.tokens()),
            ("gtree", a.gtree.tokens()),
            ("auto_alloc", a.auto_alloc.tokens()),
            ("tmp", a.tmp.tokens()),
            ("validate", a.validate.tokens()),
            ("view", a.view.tokens()),
        ];
        let chosen: Vec<(&str, &proc_macro2::TokenStream)> = forms
            .iter()
            .filter_map(|(n, t)| t.map(|t| (*n, t)))
            .collect();
        // `view` with `buffer` sends the viewed bytes as a buffer.
        let view_buffer = a.view.is_set() && a.buffer.is_set();
        let chosen: Vec<(&str, &proc_macro2::TokenStream)> = if view_buffer {
            chosen.into_iter().filter(|(n, _)| *n != "buffer").collect()
        } else {
            chosen
        };
        if chosen.len() > 1 {
            for (name, tokens) in &chosen[1..] {
                cx.error_spanned_by(
                    *tokens,
                    format!(
                        "`{name}` conflicts with `{}`: each chooses how the field is sent, and a \
                         field has one wire form; keep one of them",
                        chosen[0].0
                    ),
                );
            }
            f.kind = FieldKind::Broken;
            continue;
        }
        let form = chosen.first().map(|(n, _)| *n);
        let ty_tokens = f.ty.to_token_stream();
        if a.len.is_set() && !matches!(form, None | Some("buffer") | Some("view")) {
            cx.error_spanned_by(
                a.len.tokens().unwrap_or(&ty_tokens),
                format!(
                    "`len` does not apply to a `{}` field: it counts the elements of a variable \
                     array (`len = n` alone) or the bytes of a buffer (`buffer, len = n`), or \
                     gives the length of a view (`view = f, start = 8, len = 4`)",
                    form.unwrap_or("")
                ),
            );
        }
        if a.bits.is_set() && form != Some("bitmap") {
            cx.error_spanned_by(
                a.bits.tokens().unwrap_or(&ty_tokens),
                "`bits` only applies together with `bitmap`: #[vmstate(bitmap, bits = nbits)]",
            );
        }
        if a.needed.is_set() && !matches!(form, Some("subsection" | "subsection = \"..\"")) {
            cx.error_spanned_by(
                a.needed.tokens().unwrap_or(&ty_tokens),
                "`needed` on a field only applies to a `subsection` field; to decide whether a \
                 plain field is sent, use `since = N` or `exists = path`",
            );
        }
        if !inline_marker {
            let keys = [
                ("version", a.version.tokens()),
                ("minimum_version", a.minimum_version.tokens()),
                ("pre_save", a.pre_save.tokens()),
                ("post_save", a.post_save.tokens()),
                ("pre_load", a.pre_load.tokens()),
                ("post_load", a.post_load.tokens()),
            ];
            for (key, tokens) in keys {
                let Some(tokens) = tokens else { continue };
                let msg = if key == "version" {
                    "`version` belongs on the struct, not on a field: on a field, write `since = 2` \
                     for a field added in version 2, or `struct_version = 2` to walk a nested \
                     struct at version 2 (on a `subsection = \"dev/sub\"` marker, `version` is \
                     the inline subsection's)"
                        .to_owned()
                } else {
                    format!(
                        "`{key}` is a struct attribute: move it to the `#[vmstate(...)]` on the \
                         struct, or put it on a `subsection = \"dev/sub\"` marker for the hook of \
                         an inline subsection"
                    )
                };
                cx.error_spanned_by(tokens, msg);
            }
        }
        if form != Some("view") {
            for (key, tokens) in [("index", a.index.tokens()), ("start", a.start.tokens())] {
                if let Some(tokens) = tokens {
                    cx.error_spanned_by(
                        tokens,
                        format!(
                            "`{key}` selects the part of a field a view sends: it needs `view = \
                             field`, e.g. #[vmstate(view = regs, {key} = 8)] on a `()` field"
                        ),
                    );
                }
            }
        }
        if a.since.is_set() && a.exists.is_set() {
            cx.error_spanned_by(
                a.exists.tokens().unwrap_or(&ty_tokens),
                "`since` and `exists` conflict: an exists predicate alone decides whether the \
                 field is present (QEMU ignores the version then); keep one, e.g. check the \
                 version inside the predicate",
            );
        }
        if let Some(form @ ("skip" | "subsection" | "subsection = \"..\"")) = form {
            let why = match form {
                "skip" => "a `skip` field is not sent at all",
                "subsection" => {
                    "a `subsection` is sent after the fields, under its own name and version, \
                     when its `needed` says so"
                }
                _ => {
                    "an inline subsection is sent after the fields, under its own name and \
                     version, when its `needed` says so; its fields are the ones that follow"
                }
            };
            for (key, tokens) in [
                ("since", a.since.tokens()),
                ("exists", a.exists.tokens()),
                ("name", a.name.tokens()),
                ("alias", a.alias.tokens()),
            ] {
                if let Some(tokens) = tokens {
                    cx.error_spanned_by(
                        tokens,
                        format!("`{key}` does not apply here: {why}; remove `{key}`"),
                    );
                }
            }
        }
        if let Some(tokens) = a.context.tokens() {
            let inherit = matches!(a.context.get(), Some(None));
            if !matches!(form, None | Some("subsection")) {
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "`context` passes a context to a nested struct that takes one \
                         (#[vmstate(context = C)] on its struct); a `{}` field has none",
                        form.unwrap_or("")
                    ),
                );
            } else if inherit && !has_context {
                cx.error_spanned_by(
                    tokens,
                    "`context` alone passes this struct's own context on, but this struct takes \
                     none: give the value, `context = expr` (an expression of `self`), or add \
                     #[vmstate(context = C)] to the struct",
                );
            }
            f.context = Some(match a.context.get() {
                Some(Some(e)) => FieldContext::Expr(e.clone()),
                _ => FieldContext::Inherit,
            });
        }
        let unit_only = matches!(
            form,
            Some("unused" | "tmp" | "validate" | "view" | "subsection = \"..\"")
        );
        if let Some(form) = form.filter(|_| unit_only && !is_unit(f.ty)) {
            let example = match form {
                "unused" => "#[vmstate(unused = 4)] _pad: ()",
                "tmp" => "#[vmstate(tmp = TmpType)] _tmp: ()",
                "view" => "#[vmstate(view = regs, index = 3)] _reg3: ()",
                "validate" => "#[vmstate(validate = Dev::check)] _check: ()",
                _ => "#[vmstate(subsection = \"dev/sub\", version = 1)] _sub: ()",
            };
            let what = match form {
                "subsection = \"..\"" => {
                    "an inline subsection marker holds no state of its own (the fields after it \
                     do)"
                    .to_owned()
                }
                "view" => "a `view` holds no state of its own (the viewed field does)".to_owned(),
                _ => format!("an `{form}` field holds no state of its own"),
            };
            cx.error_spanned_by(
                f.ty,
                format!("{what}: declare it as `()`, e.g. `{example}`"),
            );
        }
        if form == Some("bitmap") && !a.bits.is_set() {
            cx.error_spanned_by(
                a.bitmap.tokens().unwrap_or(&ty_tokens),
                "a bitmap needs its bit count: #[vmstate(bitmap, bits = field_with_bit_count)]",
            );
        }
        let count = |attr: &super::attr::Attr<syn::Expr>, key: &str| {
            attr.get()
                .and_then(|e| classify_count(cx, e, key, &members, tuple))
        };
        f.kind = match form {
            None => match a.len.get() {
                Some(_) => match count(&a.len, "len") {
                    Some(len) => FieldKind::VarArray { len },
                    None => FieldKind::Broken,
                },
                None => FieldKind::Plain,
            },
            Some("skip") => FieldKind::Skip,
            Some("equal") => FieldKind::Equal,
            Some("le") => FieldKind::Le,
            Some("buffer") => match a.len.get() {
                Some(_) => match count(&a.len, "len") {
                    Some(len) => FieldKind::VarBuffer { len },
                    None => FieldKind::Broken,
                },
                None => FieldKind::Buffer,
            },
            Some("bitmap") => match count(&a.bits, "bits") {
                Some(bits) => FieldKind::Bitmap { bits },
                None => FieldKind::Broken,
            },
            Some("unused") => FieldKind::Unused(
                a.unused
                    .get()
                    .cloned()
                    .unwrap_or_else(|| syn::parse_quote!(0)),
            ),
            Some("subsection") => FieldKind::Subsection,
            Some("subsection = \"..\"") => match a.subsection.get() {
                Some(Some(name)) => FieldKind::Inline(name.clone()),
                _ => FieldKind::Broken,
            },
            Some("struct_version") => FieldKind::Pinned(
                a.struct_version
                    .get()
                    .cloned()
                    .unwrap_or_else(|| syn::parse_quote!(0)),
            ),
            Some("qtailq") => FieldKind::List { qlist: false },
            Some("qlist") => FieldKind::List { qlist: true },
            Some("gtree") => FieldKind::Tree,
            Some("auto_alloc") => FieldKind::AutoAlloc,
            Some("tmp") => match a.tmp.get() {
                Some(t) => FieldKind::Tmp(t.clone()),
                None => FieldKind::Broken,
            },
            Some("validate") => match a.validate.get() {
                Some(p) => FieldKind::Validate(p.clone()),
                None => FieldKind::Broken,
            },
            // Resolved below, once every field is known.
            Some("view") => FieldKind::Broken,
            Some(_) => FieldKind::Plain,
        };
        if matches!(f.kind, FieldKind::Inline(_)) {
            group += 1;
        }
        f.group = group;
        check_literals(cx, &f.attrs);
        if cx.error_count() > before {
            // The type checks would only restate the attribute mistake.
            if form == Some("view") {
                f.attrs.broken = true;
            }
            continue;
        }
        if !unit_only {
            check_type(cx, f, form);
        }
    }
    resolve_views(cx, fields);
    check_count_fields(cx, fields);
}

/// Resolves every `view = target` against the other fields.
fn resolve_views(cx: &Ctxt, fields: &mut [Field<'_>]) {
    for i in 0..fields.len() {
        let f = &fields[i];
        let Some(target) = f.attrs.view.get().filter(|_| !f.attrs.broken) else {
            continue;
        };
        if !matches!(f.kind, FieldKind::Broken) || !is_unit(f.ty) {
            continue;
        }
        let name = target.to_token_stream().to_string();
        let Some(pos) = fields.iter().position(|g| member_eq(&g.member, target)) else {
            cx.error_spanned_by(
                target,
                format!(
                    "`view = {name}` names no field of this struct: name the field it shows part of"
                ),
            );
            continue;
        };
        let t = &fields[pos];
        if t.attrs.view.is_set()
            || matches!(
                t.kind,
                FieldKind::Inline(_)
                    | FieldKind::Unused(_)
                    | FieldKind::Tmp(_)
                    | FieldKind::Validate(_)
            )
        {
            cx.error_spanned_by(
                target,
                format!(
                    "`view = {name}` names a field that holds no state (a view, marker, `unused`, \
                     `tmp` or `validate` field): a view shows part of a field with a value"
                ),
            );
            continue;
        }
        if pos == i {
            cx.error_spanned_by(target, "a view cannot show itself");
            continue;
        }
        let a = &f.attrs;
        let select = match (a.index.get(), a.start.get()) {
            (Some(_), Some(_)) => {
                cx.error_spanned_by(
                    a.start.tokens(),
                    "`index` and `start` conflict: `index` sends single elements, `start` (with \
                     `len`) a run of them; keep one",
                );
                continue;
            }
            (Some(index), None) => {
                if a.len.is_set() {
                    cx.error_spanned_by(
                        a.len.tokens(),
                        "`len` does not apply to single elements (`index`): for a run of \
                         elements write `start = first, len = n`",
                    );
                    continue;
                }
                let list: Vec<syn::Expr> = match index {
                    syn::Expr::Array(arr) => arr.elems.iter().cloned().collect(),
                    e => vec![e.clone()],
                };
                if list.is_empty() {
                    cx.error_spanned_by(
                        index,
                        "`index = []` selects no element: name at least one",
                    );
                    continue;
                }
                if list.len() > 1 && a.name.is_set() {
                    cx.error_spanned_by(
                        a.name.tokens(),
                        "`name` names one wire field, but `index = [..]` makes one per element \
                         (each named `field[INDEX]` as QEMU's stringify does): use one view per \
                         element to name them yourself",
                    );
                    continue;
                }
                if a.buffer.is_set() {
                    cx.error_spanned_by(
                        a.buffer.tokens(),
                        "`buffer` sends bytes: a view of single elements sends each element in its \
                         own form; use `start`/`len` for a run of bytes",
                    );
                    continue;
                }
                Select::Elements(list)
            }
            (None, start) => {
                if start.is_none() && a.len.get().is_none() {
                    Select::Whole
                } else {
                    Select::Range {
                        start: start.cloned().map(Box::new),
                        len: a.len.get().cloned().map(Box::new),
                    }
                }
            }
        };
        if a.buffer.is_set() {
            let bytes = match shape(t.ty) {
                Shape::Array(e) | Shape::Vec(e) => is_scalar(e, &["u8"]),
                _ => true,
            };
            if !bytes {
                cx.error_spanned_by(
                    a.buffer.tokens(),
                    format!(
                        "`buffer` sends bytes, but `{name}` is `{}`: remove `buffer` to send the \
                         elements in their own form",
                        show(t.ty)
                    ),
                );
                continue;
            }
        }
        let view = View {
            target: t.member.clone(),
            target_ty: t.ty.clone(),
            target_name: crate::expand::wire_name(t),
            select,
            buffer: a.buffer.is_set(),
        };
        fields[i].kind = FieldKind::View(Box::new(view));
    }
}

/// Values given as literals must have the type the attribute takes.
fn check_literals(cx: &Ctxt, a: &super::attr::Field) {
    check_name(cx, &a.name);
    check_int(cx, &a.since, "u32", "since = 2");
    check_int(cx, &a.struct_version, "u32", "struct_version = 2");
    check_int(cx, &a.unused, "usize", "unused = 4");
}

/// An integer attribute written as a literal of another type.
pub fn check_int(cx: &Ctxt, attr: &super::attr::Attr<syn::Expr>, ty: &str, example: &str) {
    let Some(e) = attr.get() else { return };
    let bad = match e {
        syn::Expr::Lit(syn::ExprLit { lit, .. }) => match lit {
            syn::Lit::Int(i) => !i.suffix().is_empty() && i.suffix() != ty,
            _ => true,
        },
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => true,
        _ => false,
    };
    if bad {
        cx.error_spanned_by(
            e,
            format!("this value is a {ty}, a non-negative integer: write e.g. `{example}`"),
        );
    }
}

/// Wire names may not be empty.
fn check_name(cx: &Ctxt, name: &super::attr::Attr<syn::Expr>) {
    if let Some(syn::Expr::Lit(syn::ExprLit { lit, .. })) = name.get() {
        let syn::Lit::Str(s) = lit else {
            cx.error_spanned_by(lit, "a name is a string: write e.g. `name = \"irq_level\"`");
            return;
        };
        if s.value().is_empty() {
            cx.error_spanned_by(
                s,
                "a wire name cannot be empty: dumps, vmdesc and errors name things by it; \
                 write a name, or remove `name` to use the Rust name",
            );
        }
    }
}

fn member_eq(a: &Member, b: &Member) -> bool {
    a.to_token_stream().to_string() == b.to_token_stream().to_string()
}

/// A count (`len`, `bits`) that names a field: a migrated one must come
/// earlier and be one of the integer types QEMU can read a count from; a
/// `skip` one is configuration both sides know (any count type, anywhere).
fn check_count_fields(cx: &Ctxt, fields: &[Field<'_>]) {
    for (i, f) in fields.iter().enumerate() {
        let (count, what) = match &f.kind {
            FieldKind::VarArray {
                len: Count::Field(len),
            }
            | FieldKind::VarBuffer {
                len: Count::Field(len),
            } => (len, "len"),
            FieldKind::Bitmap {
                bits: Count::Field(bits),
            } => (bits, "bits"),
            _ => continue,
        };
        let name = count.to_token_stream().to_string();
        let Some(pos) = fields.iter().position(|g| member_eq(&g.member, count)) else {
            continue;
        };
        let target = &fields[pos];
        if matches!(target.kind, FieldKind::Broken)
            || (matches!(target.kind, FieldKind::Plain) && plain_field_error(target.ty).is_some())
        {
            // Already reported on the count field itself.
            continue;
        }
        if pos == i {
            cx.error_spanned_by(
                count,
                format!(
                    "`{what} = {name}` names the field itself: the count must be another field \
                     (an earlier migrated integer, or `skip` configuration), a constant or an \
                     expression of `self`"
                ),
            );
        } else if matches!(target.kind, FieldKind::Skip) {
            // Not migrated: both sides know it (QEMU's Fifo8 `capacity`, the
            // fdc's `fifo_size`); the compiler checks it is a count type.
        } else if !target.is_migrated() || matches!(target.kind, FieldKind::View(_)) {
            cx.error_spanned_by(
                count,
                format!(
                    "`{what} = {name}` names a field that is not an integer value (a \
                     subsection, marker or view): name an integer field, migrated or `skip`"
                ),
            );
        } else if pos > i {
            cx.error_spanned_by(
                count,
                format!(
                    "the count field `{name}` must come before `{}`: the loader reads the count \
                     first, then as many elements (a `skip` count, which is not read, may come \
                     anywhere)",
                    f.rust_name()
                ),
            );
        } else if !matches!(
            target.kind,
            FieldKind::Plain | FieldKind::Equal | FieldKind::Le
        ) {
            cx.error_spanned_by(
                count,
                format!(
                    "the count field `{name}` must be a plain integer field (u8, u16, u32 or \
                     i32), sent as itself before `{}`",
                    f.rust_name()
                ),
            );
        } else {
            let ty = target.ty.to_token_stream().to_string();
            if !["u8", "u16", "u32", "i32"].contains(&ty.as_str()) {
                cx.error_spanned_by(
                    target.ty,
                    format!(
                        "`{name}` is the count of `{}` and must be u8, u16, u32 or i32 (the \
                         widths QEMU reads counts from), not {ty}",
                        f.rust_name()
                    ),
                );
            }
        }
    }
}

fn int_literal(e: Option<&syn::Expr>) -> Option<u64> {
    match e? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse().ok(),
        syn::Expr::Group(g) => int_literal(Some(&g.expr)),
        syn::Expr::Paren(p) => int_literal(Some(&p.expr)),
        _ => None,
    }
}

/// Container-level checks.
pub fn container(cx: &Ctxt, c: &Container<'_>) {
    let a = &c.attrs;
    if let Data::Enum(_) = &c.data {
        for (tokens, key) in [
            (a.version.tokens(), "version"),
            (a.minimum_version.tokens(), "minimum_version"),
            (a.pre_save.tokens(), "pre_save"),
            (a.post_save.tokens(), "post_save"),
            (a.pre_load.tokens(), "pre_load"),
            (a.post_load.tokens(), "post_load"),
            (a.needed.tokens(), "needed"),
            (a.name.tokens(), "name"),
            (a.context.tokens(), "context"),
        ] {
            if let Some(tokens) = tokens {
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "`{key}` does not apply to an enum: an enum is a field value (its \
                         discriminant), not a description with a name, versions and hooks; \
                         only `crate` may be given"
                    ),
                );
            }
        }
        if let Some(tokens) = a.default.tokens() {
            cx.error_spanned_by(
                tokens,
                "`default` does not apply to an enum: derive `Default` and mark the default \
                 variant with `#[default]`",
            );
        }
        return;
    }
    check_name(cx, &a.name);
    let before = cx.error_count();
    check_int(cx, &a.version, "u32", "version = 2");
    check_int(cx, &a.minimum_version, "u32", "minimum_version = 1");
    if cx.error_count() > before {
        return;
    }
    // Versions that are literals are checked here with a precise span;
    // others by a const assertion in the generated code.
    let version_given = a.version.is_set();
    let version = if version_given {
        int_literal(a.version.get())
    } else {
        Some(0)
    };
    let no_version = |n: u64| {
        if version_given {
            String::new()
        } else {
            format!(
                "; the struct has no `version`, so it is at version 0: add `version = {n}` to \
                 the #[vmstate(...)] on the struct"
            )
        }
    };
    if let (Some(v), Some(m)) = (version, int_literal(a.minimum_version.get())) {
        if m > v {
            cx.error_spanned_by(
                a.minimum_version.get(),
                format!(
                    "minimum_version {m} is greater than version {v}: no stream could ever be \
                     loaded; the minimum must be <= the version{}",
                    no_version(m)
                ),
            );
        }
    }
    let Data::Struct(fields) = &c.data else {
        return;
    };
    if !a.default.is_set() {
        for f in fields {
            if let Some(tokens) = f.attrs.default.tokens() {
                cx.error_spanned_by(
                    tokens,
                    "`default = ..` gives the field's value in the `Default` that \
                     #[vmstate(default)] derives: add `default` to the #[vmstate(...)] on the \
                     struct (or write the `Default` impl yourself)",
                );
            }
        }
    }
    let inline = fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::Inline(_)));
    if let (true, Some(tokens)) = (inline, a.context.tokens()) {
        cx.error_spanned_by(
            tokens,
            "a struct with a `context` cannot have inline subsections (`subsection = \"..\"` \
             markers): put the subsection's fields in a subsection struct of their own",
        );
    }
    for f in fields {
        if let (Some(v), Some(s)) = (version, int_literal(f.attrs.since.get())) {
            if s > v && !matches!(f.kind, FieldKind::Broken) {
                let fix = if version_given {
                    format!("; raise the struct's version: `version = {s}`")
                } else {
                    no_version(s)
                };
                cx.error_spanned_by(
                    f.attrs.since.get(),
                    format!(
                        "`since = {s}` is newer than the struct's version {v}: the field would \
                         never be sent or loaded{fix}"
                    ),
                );
            }
        }
    }
}
