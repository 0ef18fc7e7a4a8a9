//! Code generation.

/// Binds identifiers for the generated code with mixed-site hygiene: user
/// paths and expressions spliced into the same bodies (`exists = f`,
/// `since = N`, hooks) neither see nor shadow them.
macro_rules! hygienic {
    ($($name:ident),*) => {
        $(
            #[allow(non_snake_case)]
            let $name = proc_macro2::Ident::new(stringify!($name), proc_macro2::Span::mixed_site());
        )*
    };
}

mod describe;
mod enums;
mod structs;

pub use structs::wire_name;

use proc_macro2::TokenStream;
use quote::quote;

use crate::internals::Ctxt;
use crate::internals::ast::{Container, Data};

/// Expands the derive; on errors, the errors plus a fallback impl so that the
/// user sees the real mistakes, not a cascade of "trait not implemented".
pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let container = Container::from_ast(&cx, input);
    match container {
        Some(c) if !cx.has_errors() => {
            let krate = krate(&c);
            let body = match &c.data {
                Data::Struct(fields) => structs::expand(&c, fields),
                Data::Enum(e) => enums::expand(&c, e),
            };
            wrap(&krate, body)
        }
        other => {
            let errors = cx.into_compile_errors();
            let fallback = fallback(input, other.as_ref());
            quote! { #errors #fallback }
        }
    }
}

fn krate(c: &Container<'_>) -> TokenStream {
    match c.attrs.krate.get() {
        Some(path) => quote!(#path),
        None => quote!(::vmstate_core),
    }
}

/// Puts generated items in an anonymous const, with the private API under a
/// name that cannot collide with the user's.
fn wrap(krate: &TokenStream, body: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            use #krate::__private as __vm;
            #body
        };
    }
}

/// An impl that satisfies the trait without doing anything, emitted next to
/// compile errors so that uses of the type elsewhere still type-check.
fn fallback(input: &syn::DeriveInput, c: Option<&Container<'_>>) -> TokenStream {
    hygienic!(__V);
    let krate = c.map(krate).unwrap_or_else(|| quote!(::vmstate_core));
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = ident.to_string();
    let context = c.and_then(|c| c.attrs.context.get());
    let body = match &input.data {
        syn::Data::Struct(_) if context.is_some() => quote! {
            impl #impl_generics __vm::VmStateIn for #ident #ty_generics #where_clause {
                type Context = #context;
                const DESCRIPTION: &'static __vm::Description<'static> = &__vm::Description {
                    name: #name,
                    version_id: 0,
                    minimum_version_id: 0,
                    fields: &[],
                    subsections: &[],
                };
                const __DERIVE_FAILED: ::core::primitive::bool = true;
                fn visit_fields_in<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, _: &<Self as __vm::VmStateIn>::Context, _: &mut #__V, _: ::core::primitive::u32) -> __vm::Result<()> {
                    __vm::Ok(())
                }
            }
            impl #impl_generics __vm::ContextField for #ident #ty_generics #where_clause {
                type Context = #context;
                const LAYOUT: __vm::Layout<'static> = __vm::Layout::Validate;
                fn visit_in<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, _: &<Self as __vm::ContextField>::Context, _: &mut #__V, _: &'__vmstate_d ::core::primitive::str) -> __vm::Result<()> {
                    __vm::Ok(())
                }
            }
        },
        syn::Data::Struct(_) => quote! {
            impl #impl_generics __vm::VmState for #ident #ty_generics #where_clause {
                const DESCRIPTION: &'static __vm::Description<'static> = &__vm::Description {
                    name: #name,
                    version_id: 0,
                    minimum_version_id: 0,
                    fields: &[],
                    subsections: &[],
                };
                const __DERIVE_FAILED: ::core::primitive::bool = true;
                fn visit_fields<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, _: &mut #__V, _: ::core::primitive::u32) -> __vm::Result<()> {
                    __vm::Ok(())
                }
            }
            impl #impl_generics __vm::VmStateField for #ident #ty_generics #where_clause {
                const LAYOUT: __vm::Layout<'static> = __vm::Layout::Validate;
                fn visit<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, _: &mut #__V, _: &'__vmstate_d ::core::primitive::str) -> __vm::Result<()> {
                    __vm::Ok(())
                }
            }
        },
        syn::Data::Enum(_) => quote! {
            impl #impl_generics __vm::VmStateField for #ident #ty_generics #where_clause {
                const LAYOUT: __vm::Layout<'static> = __vm::Layout::Validate;
                fn visit<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, _: &mut #__V, _: &'__vmstate_d ::core::primitive::str) -> __vm::Result<()> {
                    __vm::Ok(())
                }
            }
        },
        syn::Data::Union(_) => return TokenStream::new(),
    };
    wrap(&krate, body)
}
