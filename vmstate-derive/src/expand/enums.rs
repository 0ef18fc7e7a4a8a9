//! `VmStateField` for field-less enums with an integer repr.

use proc_macro2::TokenStream;
use quote::quote;

use crate::internals::ast::{Container, Enum};

pub fn expand(c: &Container<'_>, e: &Enum<'_>) -> TokenStream {
    hygienic!(__V, __name, __other, __raw, __v);
    let ident = c.ident;
    let (impl_generics, ty_generics, where_clause) = c.generics.split_for_impl();
    let repr = &e.repr;
    let type_name = ident.to_string();
    let to_raw = e
        .variants
        .iter()
        .map(|v| quote!(Self::#v => Self::#v as #repr,));
    let from_raw = e
        .variants
        .iter()
        .map(|v| quote!(#__raw if #__raw == (Self::#v as #repr) => Self::#v,));
    quote! {
        impl #impl_generics __vm::VmStateField for #ident #ty_generics #where_clause {
            const LAYOUT: __vm::Layout<'static> = <#repr as __vm::VmStateField>::LAYOUT;

            fn visit<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, #__v: &mut #__V, #__name: &'__vmstate_d ::core::primitive::str) -> __vm::Result<()> {
                let mut #__raw: #repr = match self { #(#to_raw)* };
                __vm::VmStateField::visit(&mut #__raw, #__v, #__name)?;
                if <#__V as __vm::Visitor<'_>>::LOADING {
                    *self = match #__raw {
                        #(#from_raw)*
                        #__other => {
                            return __vm::Err(__vm::invalid_discriminant(#__v, #type_name, #__other as ::core::primitive::i128));
                        }
                    };
                }
                __vm::Ok(())
            }
        }
    }
}
