//! Checks on the derive input that can be made before expansion, each with a
//! span on the user's code and a message that says what to write instead.

use quote::ToTokens;
use syn::{Member, Type};

use super::Ctxt;
use super::ast::{Container, Data, Enum, Field, FieldKind};

const REPRS: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

/// Validates an enum: field-less variants and an explicit integer repr.
pub fn enum_shape<'a>(
    cx: &Ctxt,
    input: &'a syn::DeriveInput,
    data: &'a syn::DataEnum,
) -> Option<Enum<'a>> {
    let mut repr = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(ident) = meta.path.get_ident() {
                if REPRS.contains(&ident.to_string().as_str()) {
                    repr = Some(ident.clone());
                }
            }
            Ok(())
        });
    }
    let mut ok = true;
    for v in &data.variants {
        super::attr::forbid_on_variant(cx, &v.attrs);
        if !matches!(v.fields, syn::Fields::Unit) {
            cx.error_spanned_by(
                v,
                "VmState enums must have only unit variants: the wire carries just the \
                 discriminant; move data into a struct",
            );
            ok = false;
        }
    }
    if repr.is_none() {
        cx.error_spanned_by(
            &input.ident,
            "a VmState enum needs an explicit integer representation for its wire width: \
             add #[repr(u8)] (or u16, u32, u64, i8, i16, i32, i64)",
        );
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

/// Decides each field's kind from its attributes, reporting conflicts.
pub fn resolve_fields(cx: &Ctxt, fields: &mut [Field<'_>]) {
    for f in fields.iter_mut() {
        let a = &f.attrs;
        // Attributes that choose the wire form; at most one may be given.
        let forms: Vec<(&str, bool)> = vec![
            ("skip", a.skip.is_set()),
            ("equal", a.equal.is_set()),
            ("le", a.le.is_set()),
            ("buffer", a.buffer.is_set()),
            ("bitmap", a.bitmap.is_set()),
            ("unused", a.unused.is_set()),
            ("subsection", a.subsection.is_set()),
            ("struct_version", a.struct_version.is_set()),
            ("qtailq", a.qtailq.is_set()),
            ("qlist", a.qlist.is_set()),
            ("gtree", a.gtree.is_set()),
            ("auto_alloc", a.auto_alloc.is_set()),
            ("tmp", a.tmp.is_set()),
            ("validate", a.validate.is_set()),
        ];
        let chosen: Vec<&str> = forms.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
        let span_tokens = f.original.to_token_stream();
        if chosen.len() > 1 {
            cx.error_spanned_by(
                &span_tokens,
                format!(
                    "conflicting vmstate attributes `{}`: a field has one wire form",
                    chosen.join("` and `")
                ),
            );
            f.kind = FieldKind::Skip;
            continue;
        }
        let form = chosen.first().copied();
        let len = a.len.get().cloned();
        if a.len.is_set() && !matches!(form, None | Some("buffer")) {
            cx.error_spanned_by(
                a.len.tokens().unwrap_or(&span_tokens),
                format!("`len` does not apply to a `{}` field", form.unwrap_or("")),
            );
        }
        if a.bits.is_set() && form != Some("bitmap") {
            cx.error_spanned_by(
                a.bits.tokens().unwrap_or(&span_tokens),
                "`bits` only applies together with `bitmap`: #[vmstate(bitmap, bits = nbits)]",
            );
        }
        if a.needed.is_set() && form != Some("subsection") {
            cx.error_spanned_by(
                a.needed.tokens().unwrap_or(&span_tokens),
                "`needed` on a field only applies to a `subsection` field; to decide whether a \
                 plain field is sent, use `since = N` or `exists = path`",
            );
        }
        if a.since.is_set() && a.exists.is_set() {
            cx.error_spanned_by(
                a.exists.tokens().unwrap_or(&span_tokens),
                "`since` and `exists` conflict: an exists predicate alone decides whether the \
                 field is present (QEMU ignores the version then); keep one",
            );
        }
        if matches!(form, Some("skip") | Some("subsection"))
            && (a.since.is_set() || a.exists.is_set() || a.name.is_set())
        {
            cx.error_spanned_by(
                &span_tokens,
                format!(
                    "a `{}` field is not in the field list, so `since`, `exists` and `name` do \
                     not apply",
                    form.unwrap_or("")
                ),
            );
        }
        let unit_only = matches!(form, Some("unused") | Some("tmp") | Some("validate"));
        if unit_only && !is_unit(f.ty) {
            cx.error_spanned_by(
                f.ty,
                format!(
                    "a `{}` field holds no state of its own: declare it as `()`, e.g. \
                     `#[vmstate({} ...)] _pad: ()`",
                    form.unwrap_or(""),
                    form.unwrap_or("")
                ),
            );
        }
        if !unit_only && form != Some("skip") && is_unit(f.ty) {
            cx.error_spanned_by(
                f.ty,
                "a `()` field carries no state: use `#[vmstate(unused = N)]` for padding bytes, \
                 `tmp = T` for computed fields, `validate = f` for a check, or `skip`",
            );
        }
        if form == Some("bitmap") && !a.bits.is_set() {
            cx.error_spanned_by(
                &span_tokens,
                "a bitmap needs its bit count: #[vmstate(bitmap, bits = field_with_bit_count)]",
            );
        }
        f.kind = match form {
            None => match len {
                Some(len) => FieldKind::VarArray { len },
                None => FieldKind::Plain,
            },
            Some("skip") => FieldKind::Skip,
            Some("equal") => FieldKind::Equal,
            Some("le") => FieldKind::Le,
            Some("buffer") => match len {
                Some(len) => FieldKind::VarBuffer { len },
                None => FieldKind::Buffer,
            },
            Some("bitmap") => match a.bits.get() {
                Some(bits) => FieldKind::Bitmap { bits: bits.clone() },
                None => FieldKind::Skip,
            },
            Some("unused") => FieldKind::Unused(
                a.unused
                    .get()
                    .cloned()
                    .unwrap_or_else(|| syn::parse_quote!(0)),
            ),
            Some("subsection") => FieldKind::Subsection,
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
                None => FieldKind::Skip,
            },
            Some("validate") => match a.validate.get() {
                Some(p) => FieldKind::Validate(p.clone()),
                None => FieldKind::Skip,
            },
            Some(_) => FieldKind::Plain,
        };
    }
    check_count_fields(cx, fields);
    check_duplicate_names(cx, fields);
}

fn member_eq(a: &Member, b: &Member) -> bool {
    a.to_token_stream().to_string() == b.to_token_stream().to_string()
}

/// A count (`len`, `bits`) must name a field that exists, comes earlier, is
/// migrated, and is one of the integer types QEMU can read a count from.
fn check_count_fields(cx: &Ctxt, fields: &[Field<'_>]) {
    for (i, f) in fields.iter().enumerate() {
        let (count, what) = match &f.kind {
            FieldKind::VarArray { len } | FieldKind::VarBuffer { len } => (len, "len"),
            FieldKind::Bitmap { bits } => (bits, "bits"),
            _ => continue,
        };
        let name = count.to_token_stream().to_string();
        let Some(pos) = fields.iter().position(|g| member_eq(&g.member, count)) else {
            cx.error_spanned_by(
                count,
                format!("`{what} = {name}` names no field of this struct"),
            );
            continue;
        };
        let target = &fields[pos];
        if pos >= i {
            cx.error_spanned_by(
                count,
                format!(
                    "the count field `{name}` must come before `{}`: the loader reads the count \
                     first, then as many elements",
                    f.rust_name()
                ),
            );
        } else if !target.is_migrated() {
            cx.error_spanned_by(
                count,
                format!(
                    "the count field `{name}` is not migrated, so the destination could not \
                     know how many elements follow; migrate it (remove `skip`)"
                ),
            );
        } else if !matches!(
            target.kind,
            FieldKind::Plain | FieldKind::Equal | FieldKind::Le
        ) {
            cx.error_spanned_by(
                count,
                format!("the count field `{name}` must be a plain integer field"),
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

/// Two migrated fields may not share a wire name: dumps, vmdesc and errors
/// could not tell them apart. QEMU itself repeats names in two cases, which
/// stay allowed: unused padding (`unused`, `unused`) and alternatives of which
/// only one is sent (each guarded by `exists` or `since`).
fn check_duplicate_names(cx: &Ctxt, fields: &[Field<'_>]) {
    let mut seen: Vec<(String, &Field<'_>)> = Vec::new();
    for f in fields.iter().filter(|f| f.is_migrated()) {
        let name = match f.attrs.name.get() {
            Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            })) => s.value(),
            Some(_) => continue,
            None => f.rust_name(),
        };
        let tolerated = |g: &Field<'_>| {
            matches!(g.kind, FieldKind::Unused(_))
                || g.attrs.exists.is_set()
                || g.attrs.since.is_set()
        };
        match seen.iter().find(|(n, _)| *n == name) {
            Some((_, first)) if !(tolerated(first) && tolerated(f)) => {
                cx.error_spanned_by(
                    f.attrs
                        .name
                        .tokens()
                        .cloned()
                        .unwrap_or_else(|| f.member.to_token_stream()),
                    format!(
                        "duplicate wire name `{name}`: two fields would be indistinguishable in \
                         dumps, vmdesc and errors; rename one with #[vmstate(name = \"...\")] \
                         (repeats are allowed only for unused padding and for alternatives \
                         guarded by `exists` or `since`)"
                    ),
                );
            }
            Some(_) => {}
            None => seen.push((name, f)),
        }
    }
}

/// Container-level checks.
pub fn container(cx: &Ctxt, c: &Container<'_>) {
    if let Data::Enum(_) = &c.data {
        for (set, key) in [
            (c.attrs.version.is_set(), "version"),
            (c.attrs.minimum_version.is_set(), "minimum_version"),
            (c.attrs.pre_save.is_set(), "pre_save"),
            (c.attrs.post_save.is_set(), "post_save"),
            (c.attrs.pre_load.is_set(), "pre_load"),
            (c.attrs.post_load.is_set(), "post_load"),
            (c.attrs.needed.is_set(), "needed"),
            (c.attrs.name.is_set(), "name"),
        ] {
            if set {
                cx.error_spanned_by(
                    c.ident,
                    format!("`{key}` does not apply to an enum: an enum is a field value, not a description"),
                );
            }
        }
    }
    if let (Some(syn::Expr::Lit(v)), Some(syn::Expr::Lit(m))) =
        (c.attrs.version.get(), c.attrs.minimum_version.get())
    {
        if let (syn::Lit::Int(v), syn::Lit::Int(m)) = (&v.lit, &m.lit) {
            if let (Ok(v), Ok(m)) = (v.base10_parse::<u32>(), m.base10_parse::<u32>()) {
                if m > v {
                    cx.error_spanned_by(
                        c.attrs
                            .minimum_version
                            .tokens()
                            .cloned()
                            .unwrap_or_default(),
                        format!(
                            "minimum_version {m} is greater than version {v}: no stream could \
                             ever be loaded; the minimum must be <= the version"
                        ),
                    );
                }
            }
        }
    }
}
