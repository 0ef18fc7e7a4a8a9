//! The static schema: one `FieldDescription` per migrated field.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::structs::{count_name, wire_name};
use crate::internals::ast::{Field, FieldKind};

pub fn field(f: &Field<'_>, fields: &[Field<'_>]) -> TokenStream {
    let ty = f.ty;
    let span = ty.span();
    let name = wire_name(f);
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
    let layout = match &f.kind {
        FieldKind::Plain => quote_spanned!(span=> <#ty as __vm::VmStateField>::LAYOUT),
        FieldKind::Equal => quote_spanned!(span=>
            __vm::Layout::Scalar(<#ty as __vm::forms::EqualField>::WIRE)),
        FieldKind::Le => quote!(__vm::Layout::Scalar(__vm::WireType::Int32Le)),
        FieldKind::Buffer => quote_spanned!(span=>
            __vm::Layout::Buffer(<#ty as __vm::forms::FixedBuffer>::LEN)),
        FieldKind::VarBuffer { len } => {
            let count = count_name(fields, len);
            quote!(__vm::Layout::VarBuffer { len_field: #count })
        }
        FieldKind::VarArray { len } => {
            let count = count_name(fields, len);
            quote_spanned!(span=> __vm::Layout::VarArray {
                count_field: #count,
                capacity: <#ty as __vm::forms::VarArray>::CAPACITY,
                element: &<<#ty as __vm::forms::VarArray>::Element as __vm::VmStateField>::LAYOUT,
            })
        }
        FieldKind::Bitmap { bits } => {
            let count = count_name(fields, bits);
            quote!(__vm::Layout::Bitmap { bits_field: #count })
        }
        FieldKind::Unused(n) => quote!(__vm::Layout::Unused(#n)),
        FieldKind::Pinned(v) => quote_spanned!(span=> __vm::Layout::Struct {
            description: <#ty as __vm::VmState>::DESCRIPTION,
            pinned_version: __vm::Some(#v),
        }),
        FieldKind::List { qlist } => {
            let wire = if *qlist {
                quote!(__vm::WireType::Qlist)
            } else {
                quote!(__vm::WireType::Qtailq)
            };
            quote_spanned!(span=> __vm::Layout::List {
                wire: #wire,
                element: &<<#ty as __vm::forms::ListContainer>::Element as __vm::VmStateField>::LAYOUT,
            })
        }
        FieldKind::Tree => quote_spanned!(span=> __vm::Layout::Tree {
            key: &<<#ty as __vm::forms::TreeContainer>::Key as __vm::VmStateField>::LAYOUT,
            value: &<<#ty as __vm::forms::TreeContainer>::Value as __vm::VmStateField>::LAYOUT,
        }),
        FieldKind::AutoAlloc => quote_spanned!(span=> __vm::Layout::Array {
            len: <#ty as __vm::forms::PointerArray>::LEN,
            element: &__vm::Layout::Pointer {
                auto_alloc: true,
                element: &<<#ty as __vm::forms::PointerArray>::Pointee as __vm::VmStateField>::LAYOUT,
            },
        }),
        FieldKind::Tmp(t) => quote_spanned!(t.span()=>
            __vm::Layout::Tmp(<#t as __vm::VmState>::DESCRIPTION)),
        FieldKind::Validate(_) => quote!(__vm::Layout::Validate),
        FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken => return quote!(),
    };
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
}
