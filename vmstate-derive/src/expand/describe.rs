//! The static schema: one `FieldDescription` per wire field.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::structs::{count_name, wire_names};
use crate::internals::ast::{Count, Field, FieldKind, Select, View};

/// The descriptions of the wire fields of `f` (none, one, or one per
/// element of a view of several elements).
pub fn field(f: &Field<'_>, fields: &[Field<'_>]) -> Vec<TokenStream> {
    let ty = f.ty;
    let span = ty.span();
    let since = match f.attrs.since.get() {
        Some(s) => quote!(#s),
        None => quote!(0),
    };
    let has_exists = f.attrs.exists.is_set();
    // Former names, for formats that find fields by name (BER): one
    // string, or an array of them.
    let aliases = match f.attrs.alias.get() {
        Some(syn::Expr::Array(list)) => quote!(&#list),
        Some(one) => quote!(&[#one]),
        None => quote!(&[]),
    };
    let layouts: Vec<TokenStream> = match &f.kind {
        FieldKind::Plain if f.context.is_some() => {
            vec![quote_spanned!(span=> <#ty as __vm::ContextField>::LAYOUT)]
        }
        FieldKind::Plain => vec![quote_spanned!(span=> <#ty as __vm::VmStateField>::LAYOUT)],
        FieldKind::Equal => vec![quote_spanned!(span=>
            __vm::Layout::Scalar(<#ty as __vm::forms::EqualField>::WIRE))],
        FieldKind::Le => vec![quote!(__vm::Layout::Scalar(__vm::WireType::Int32Le))],
        FieldKind::Buffer => vec![quote_spanned!(span=>
            __vm::Layout::Buffer(<#ty as __vm::forms::FixedBuffer>::LEN))],
        FieldKind::VarBuffer {
            len: Count::Const(n),
        } => vec![quote_spanned!(n.span()=> __vm::Layout::Buffer(#n))],
        FieldKind::VarBuffer { len } => {
            let count = count_name(fields, len);
            vec![quote!(__vm::Layout::VarBuffer { len_field: #count })]
        }
        FieldKind::VarArray {
            len: Count::Const(n),
        } => vec![quote_spanned!(span=> __vm::Layout::Array {
            len: #n,
            element: &<<#ty as __vm::forms::VarArray>::Element as __vm::VmStateField>::LAYOUT,
        })],
        FieldKind::VarArray { len } => {
            let count = count_name(fields, len);
            vec![quote_spanned!(span=> __vm::Layout::VarArray {
                count_field: #count,
                capacity: <#ty as __vm::forms::VarArray>::CAPACITY,
                element: &<<#ty as __vm::forms::VarArray>::Element as __vm::VmStateField>::LAYOUT,
            })]
        }
        FieldKind::Bitmap { bits } => {
            let count = count_name(fields, bits);
            vec![quote!(__vm::Layout::Bitmap { bits_field: #count })]
        }
        FieldKind::Unused(n) => vec![quote!(__vm::Layout::Unused(#n))],
        FieldKind::Pinned(v) => vec![quote_spanned!(span=> __vm::Layout::Struct {
            description: <#ty as __vm::VmState>::DESCRIPTION,
            pinned_version: __vm::Some(#v),
        })],
        FieldKind::List { qlist } => {
            let wire = if *qlist {
                quote!(__vm::WireType::Qlist)
            } else {
                quote!(__vm::WireType::Qtailq)
            };
            vec![quote_spanned!(span=> __vm::Layout::List {
                wire: #wire,
                element: &<<#ty as __vm::forms::ListContainer>::Element as __vm::VmStateField>::LAYOUT,
            })]
        }
        FieldKind::Tree => vec![quote_spanned!(span=> __vm::Layout::Tree {
            key: &<<#ty as __vm::forms::TreeContainer>::Key as __vm::VmStateField>::LAYOUT,
            value: &<<#ty as __vm::forms::TreeContainer>::Value as __vm::VmStateField>::LAYOUT,
        })],
        FieldKind::AutoAlloc => vec![quote_spanned!(span=> __vm::Layout::Array {
            len: <#ty as __vm::forms::PointerArray>::LEN,
            element: &__vm::Layout::Pointer {
                auto_alloc: true,
                element: &<<#ty as __vm::forms::PointerArray>::Pointee as __vm::VmStateField>::LAYOUT,
            },
        })],
        FieldKind::Tmp(t) => vec![quote_spanned!(t.span()=>
            __vm::Layout::Tmp(<#t as __vm::VmState>::DESCRIPTION))],
        FieldKind::Validate(_) => vec![quote!(__vm::Layout::Validate)],
        FieldKind::View(view) => view_layouts(view),
        FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken | FieldKind::Inline(_) => {
            return Vec::new();
        }
    };
    let names = wire_names(f);
    layouts
        .into_iter()
        .zip(names)
        .map(|(layout, name)| {
            quote! {
                __vm::FieldDescription {
                    name: #name,
                    layout: #layout,
                    since: #since,
                    has_exists_predicate: #has_exists,
                    aliases: #aliases,
                    vmdesc: __vm::None,
                }
            }
        })
        .collect()
}

/// `start`, `len` of a run view as `usize` and `Option<usize>` expressions.
pub fn range_bounds(
    start: Option<&syn::Expr>,
    len: Option<&syn::Expr>,
) -> (TokenStream, TokenStream) {
    hygienic!(__n);
    let start = match start {
        Some(s) => {
            let bind = quote_spanned!(s.span()=> let #__n: ::core::primitive::usize = #s;);
            quote!({ #bind #__n })
        }
        None => quote!(0usize),
    };
    let len = match len {
        Some(n) => {
            let bind = quote_spanned!(n.span()=> let #__n: ::core::primitive::usize = #n;);
            quote!(__vm::Some({ #bind #__n }))
        }
        None => quote!(__vm::None),
    };
    (start, len)
}

fn view_layouts(view: &View) -> Vec<TokenStream> {
    let t = &view.target_ty;
    let span = t.span();
    let element = quote_spanned!(span=>
        <<#t as __vm::forms::ArrayView>::Element as __vm::VmStateField>::LAYOUT);
    match &view.select {
        Select::Whole if view.buffer => vec![quote_spanned!(span=> __vm::Layout::Buffer(
            __vm::forms::view_len(<#t as __vm::forms::ArrayView>::LEN, 0, __vm::None)
        ))],
        Select::Whole => vec![quote_spanned!(span=> <#t as __vm::VmStateField>::LAYOUT)],
        Select::Elements(list) => list.iter().map(|_| element.clone()).collect(),
        Select::Range { start, len } => {
            let (start, len) = range_bounds(start.as_deref(), len.as_deref());
            let n = quote_spanned!(span=>
                __vm::forms::view_len(<#t as __vm::forms::ArrayView>::LEN, #start, #len));
            if view.buffer {
                vec![quote!(__vm::Layout::Buffer(#n))]
            } else {
                vec![quote!(__vm::Layout::Array { len: #n, element: &#element })]
            }
        }
    }
}
