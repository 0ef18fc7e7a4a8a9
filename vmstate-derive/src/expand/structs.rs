//! `VmState` + `VmStateField` for structs.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::Member;
use syn::spanned::Spanned;

use super::describe;
use crate::internals::ast::{Container, Field, FieldKind};

/// The wire name of a field as an expression of type `&'static str`.
pub fn wire_name(f: &Field<'_>) -> TokenStream {
    match f.attrs.name.get() {
        Some(expr) => quote!(#expr),
        // QEMU's VMSTATE_UNUSED fields are all called "unused".
        None if matches!(f.kind, FieldKind::Unused(_)) => quote!("unused"),
        None => {
            let s = f.rust_name();
            quote!(#s)
        }
    }
}

/// The description name as an expression of type `&'static str`.
pub fn container_name(c: &Container<'_>) -> TokenStream {
    match c.attrs.name.get() {
        Some(expr) => quote!(#expr),
        None => {
            let s = c.ident.to_string();
            quote!(#s)
        }
    }
}

pub fn version(c: &Container<'_>) -> TokenStream {
    match c.attrs.version.get() {
        Some(e) => quote!(#e),
        None => quote!(0),
    }
}

pub fn minimum_version(c: &Container<'_>) -> TokenStream {
    match c.attrs.minimum_version.get() {
        Some(e) => quote!(#e),
        None => quote!(0),
    }
}

/// The wire name of the field that `member` refers to.
pub fn count_name(fields: &[Field<'_>], member: &Member) -> TokenStream {
    let key = member.to_token_stream().to_string();
    fields
        .iter()
        .find(|f| f.member.to_token_stream().to_string() == key)
        .map(wire_name)
        .unwrap_or_else(|| quote!(#key))
}

/// True if `ty` mentions one of the generic type parameters.
fn mentions(ty: &TokenStream, params: &[String]) -> bool {
    ty.clone().into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => params.contains(&i.to_string()),
        TokenTree::Group(g) => mentions(&g.stream(), params),
        _ => false,
    })
}

fn field_bound(f: &Field<'_>, self_ty: &TokenStream) -> Option<TokenStream> {
    let ty = f.ty;
    Some(match &f.kind {
        FieldKind::Plain => quote!(#ty: __vm::VmStateField),
        FieldKind::Equal => quote!(#ty: __vm::forms::EqualField),
        FieldKind::VarArray { .. } => quote!(#ty: __vm::forms::VarArray),
        FieldKind::VarBuffer { .. } => quote!(#ty: __vm::forms::VarBuffer),
        FieldKind::Subsection | FieldKind::Pinned(_) => quote!(#ty: __vm::VmState),
        FieldKind::List { .. } => quote!(#ty: __vm::forms::ListContainer),
        FieldKind::Tree => quote!(#ty: __vm::forms::TreeContainer),
        FieldKind::AutoAlloc => quote!(#ty: __vm::forms::PointerArray),
        FieldKind::Tmp(t) => quote!(#t: __vm::forms::TmpState<#self_ty>),
        _ => return None,
    })
}

pub fn expand(c: &Container<'_>, fields: &[Field<'_>]) -> TokenStream {
    hygienic!(__V, __hook, __index, __name, __v, __version);
    let ident = c.ident;
    let (impl_generics, ty_generics, where_clause) = c.generics.split_for_impl();
    let self_ty = quote!(#ident #ty_generics);
    let params: Vec<String> = c
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();

    // Infer bounds from the field types that use generic parameters.
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| p.to_token_stream()).collect())
        .unwrap_or_default();
    if !params.is_empty() {
        for f in fields {
            let ty_tokens = match &f.kind {
                FieldKind::Tmp(t) => t.to_token_stream(),
                _ => f.ty.to_token_stream(),
            };
            if mentions(&ty_tokens, &params) {
                predicates.extend(field_bound(f, &self_ty));
            }
        }
    }
    let where_clause = if predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#predicates,)*)
    };

    let name = container_name(c);
    let version = version(c);
    let minimum = minimum_version(c);
    let field_descriptions = fields
        .iter()
        .filter(|f| f.is_migrated())
        .map(|f| describe::field(f, fields));
    let subsections: Vec<&Field<'_>> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Subsection))
        .collect();
    let subsection_descriptions = subsections.iter().map(|f| {
        let ty = f.ty;
        quote_spanned!(ty.span()=> <#ty as __vm::VmState>::DESCRIPTION)
    });

    let visits = fields
        .iter()
        .filter(|f| f.is_migrated())
        .enumerate()
        .map(|(index, f)| visit_field(c, f, fields, index));

    let needed_arms = subsections.iter().enumerate().map(|(i, f)| {
        let m = &f.member;
        let ty = f.ty;
        let own = quote_spanned!(ty.span()=> <#ty as __vm::VmState>::needed(&self.#m));
        match f.attrs.needed.get() {
            Some(path) => {
                // Only the binding carries the user's span: `self` must keep
                // the derive's hygiene (the path may come from a macro).
                let bind = quote_spanned!(path.span()=>
                    let #__hook: fn(&Self) -> ::core::primitive::bool = #path;
                );
                let hook = quote!({ #bind #__hook(self) });
                quote!(#i => (#hook) && #own,)
            }
            None => quote!(#i => #own,),
        }
    });
    let visit_arms = subsections.iter().enumerate().map(|(i, f)| {
        let m = &f.member;
        let ty = f.ty;
        quote_spanned! {ty.span()=>
            #i => __vm::visit_struct_at(
                &mut self.#m,
                #__v,
                <#ty as __vm::VmState>::DESCRIPTION.name,
                #__version,
            ),
        }
    });
    let subsection_fns = if subsections.is_empty() {
        quote!()
    } else {
        quote! {
            fn subsection_needed(&self, #__index: ::core::primitive::usize) -> ::core::primitive::bool {
                match #__index {
                    #(#needed_arms)*
                    _ => false,
                }
            }
            fn visit_subsection<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                &mut self,
                #__v: &mut #__V,
                #__index: ::core::primitive::usize,
                #__version: ::core::primitive::u32,
            ) -> __vm::Result<()> {
                match #__index {
                    #(#visit_arms)*
                    _ => __vm::Err(__vm::Error::msg("no such subsection")),
                }
            }
        }
    };

    let hooks = hooks(c);
    // A load of exactly the fixed-size bytes at the current version cannot
    // fail: no hooks, no subsections, every field unconditional and of a
    // form that accepts any bytes. Loads then skip their transactional copy.
    let has_load_hooks = c.attrs.pre_load.is_set() || c.attrs.post_load.is_set();
    let field_infallible = fields.iter().map(|f| {
        let ty = f.ty;
        let conditional = f.attrs.since.is_set() || f.attrs.exists.is_set();
        match &f.kind {
            FieldKind::Skip => quote!(true),
            _ if conditional => quote!(false),
            FieldKind::Plain => {
                quote_spanned!(ty.span()=> <#ty as __vm::VmStateField>::LOAD_INFALLIBLE)
            }
            FieldKind::Buffer | FieldKind::Unused(_) => quote!(true),
            _ => quote!(false),
        }
    });
    let load_infallible = if has_load_hooks || !subsections.is_empty() {
        quote!(false)
    } else {
        quote!(true #(&& #field_infallible)*)
    };
    // Checks that mention generic parameters can only run per instance, when
    // the description is evaluated; the others run for every build.
    let all_params: Vec<String> = c
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .chain(c.generics.const_params().map(|p| p.ident.to_string()))
        .collect();
    let (checks, generic_checks) = static_checks(c, fields, &all_params);

    quote! {
        impl #impl_generics __vm::VmState for #self_ty #where_clause {
            const DESCRIPTION: &'static __vm::Description<'static> = {
                #generic_checks
                &__vm::Description {
                    name: #name,
                    version_id: #version,
                    minimum_version_id: #minimum,
                    fields: &[#(#field_descriptions),*],
                    subsections: &[#(#subsection_descriptions),*],
                }
            };

            const LOAD_INFALLIBLE: ::core::primitive::bool = #load_infallible;

            #[inline]
            fn visit_fields<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                &mut self,
                #__v: &mut #__V,
                #__version: ::core::primitive::u32,
            ) -> __vm::Result<()> {
                let _ = &#__version;
                #(#visits)*
                __vm::Ok(())
            }

            #subsection_fns
            #hooks
        }

        impl #impl_generics __vm::VmStateField for #self_ty #where_clause {
            const LAYOUT: __vm::Layout<'static> = __vm::Layout::Struct {
                description: <Self as __vm::VmState>::DESCRIPTION,
                pinned_version: __vm::None,
            };
            // As a field, a struct is followed by a subsection probe that can
            // fail on the parent's next bytes (as in QEMU): never infallible.
            const LOAD_INFALLIBLE: ::core::primitive::bool = false;

            #[inline]
            fn visit<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(&mut self, #__v: &mut #__V, #__name: &'__vmstate_d ::core::primitive::str) -> __vm::Result<()> {
                __vm::visit_struct(self, #__v, #__name)
            }

            #[inline]
            fn visit_at_version<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                &mut self,
                #__v: &mut #__V,
                #__name: &'__vmstate_d ::core::primitive::str,
                #__version: ::core::primitive::u32,
            ) -> __vm::Result<()> {
                __vm::visit_struct_at(self, #__v, #__name, #__version)
            }
        }

        #checks
    }
}

fn hooks(c: &Container<'_>) -> TokenStream {
    hygienic!(__hook, __version);
    let a = &c.attrs;
    let mut out = TokenStream::new();
    // Each hook is first bound to a function pointer of the documented
    // signature, so a mismatch is reported as such, on the user's path.
    if let Some(p) = a.needed.get() {
        let bind =
            quote_spanned! {p.span()=> let #__hook: fn(&Self) -> ::core::primitive::bool = #p; };
        out.extend(quote! {
            fn needed(&self) -> ::core::primitive::bool {
                #bind
                #__hook(self)
            }
        });
    }
    if let Some(p) = a.pre_save.get() {
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self) -> ::core::result::Result<(), _> = #p;
        };
        out.extend(quote! {
            fn pre_save(&mut self) -> __vm::Result<()> {
                #bind
                #__hook(self).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    if let Some(p) = a.post_save.get() {
        let bind = quote_spanned! {p.span()=> let #__hook: fn(&mut Self) = #p; };
        out.extend(quote! {
            fn post_save(&mut self) {
                #bind
                #__hook(self)
            }
        });
    }
    if let Some(p) = a.pre_load.get() {
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self) -> ::core::result::Result<(), _> = #p;
        };
        out.extend(quote! {
            fn pre_load(&mut self) -> __vm::Result<()> {
                #bind
                #__hook(self).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    if let Some(p) = a.post_load.get() {
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self, ::core::primitive::u32) -> ::core::result::Result<(), _> = #p;
        };
        out.extend(quote! {
            fn post_load(&mut self, #__version: ::core::primitive::u32) -> __vm::Result<()> {
                #bind
                #__hook(self, #__version).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    out
}

fn visit_field(
    c: &Container<'_>,
    f: &Field<'_>,
    fields: &[Field<'_>],
    index: usize,
) -> TokenStream {
    hygienic!(__check, __e, __exists, __failed, __v, __version, __walked);
    let m = &f.member;
    let ty = f.ty;
    let span = ty.span();
    let name = wire_name(f);
    let since_opt = match f.attrs.since.get() {
        Some(s) => quote!(__vm::Some(#s)),
        None => quote!(__vm::None),
    };
    let call = match &f.kind {
        FieldKind::Plain => quote_spanned! {span=>
            __vm::VmStateField::visit(&mut self.#m, #__v, #name)
        },
        FieldKind::Equal => quote_spanned! {span=>
            __vm::forms::EqualField::visit_equal(&mut self.#m, #__v, #name)
        },
        FieldKind::Le => quote_spanned! {span=>
            __vm::forms::LessOrEqualField::visit_le(&mut self.#m, #__v, #name)
        },
        FieldKind::Buffer => quote_spanned! {span=>
            __vm::forms::buffer(#__v, #name, &mut self.#m)
        },
        FieldKind::VarBuffer { len } => {
            let count = count_name(fields, len);
            quote_spanned! {span=>
                __vm::forms::var_buffer(#__v, #name, &mut self.#m, self.#len, #count)
            }
        }
        FieldKind::VarArray { len } => {
            let count = count_name(fields, len);
            quote_spanned! {span=>
                __vm::forms::var_array(#__v, #name, &mut self.#m, self.#len, #count)
            }
        }
        FieldKind::Bitmap { bits } => {
            let count = count_name(fields, bits);
            quote_spanned! {span=>
                __vm::forms::bitmap(#__v, #name, &mut self.#m, self.#bits, #count)
            }
        }
        FieldKind::Unused(n) => quote_spanned! {n.span()=>
            __vm::forms::unused(#__v, #name, #n)
        },
        FieldKind::Pinned(version) => quote_spanned! {span=>
            __vm::forms::pinned(#__v, #name, &mut self.#m, #version)
        },
        FieldKind::List { .. } => quote_spanned! {span=>
            __vm::forms::list(#__v, #name, &mut self.#m, #since_opt)
        },
        FieldKind::Tree => quote_spanned! {span=>
            __vm::forms::tree(#__v, #name, &mut self.#m, #since_opt)
        },
        FieldKind::AutoAlloc => quote_spanned! {span=>
            __vm::forms::auto_alloc(#__v, #name, __vm::forms::PointerArray::slots(&mut self.#m))
        },
        FieldKind::Tmp(t) => quote_spanned! {t.span()=>
            __vm::forms::tmp::<_, #t, _>(#__v, #name, self, #since_opt)
        },
        FieldKind::Validate(p) => {
            let desc = container_name(c);
            let bind = quote_spanned! {p.span()=>
                let #__check: fn(&Self, ::core::primitive::u32) -> ::core::primitive::bool = #p;
            };
            let check = quote!({ #bind #__check(self, #__version) });
            quote! {
                __vm::forms::validate(#__v, #desc, #name, #check)
            }
        }
        FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken => return quote!(),
    };
    // `index` is the field's position in DESCRIPTION.fields.
    let visit = quote! {
        let #__walked = match __vm::Visitor::enter_field(#__v, #index) {
            // A field the input does not have keeps its value (BER).
            __vm::Ok(()) if __vm::Visitor::field_absent(#__v) => {
                __vm::Visitor::leave_field(#__v)
            }
            __vm::Ok(()) => match #call {
                __vm::Ok(()) => __vm::Visitor::leave_field(#__v),
                #__failed => #__failed,
            },
            #__failed => #__failed,
        };
        if let __vm::Err(#__e) = #__walked {
            return __vm::Err(__vm::in_field(
                #__e,
                <Self as __vm::VmState>::DESCRIPTION,
                #index,
            ));
        }
    };
    match (f.attrs.exists.get(), f.attrs.since.get()) {
        (Some(p), _) => {
            let bind = quote_spanned! {p.span()=>
                let #__exists: fn(&Self, ::core::primitive::u32) -> ::core::primitive::bool = #p;
            };
            let test = quote!({ #bind #__exists(self, #__version) });
            quote! { if #test { #visit } }
        }
        // Lists, trees and tmp use `since` as their load version as well.
        (None, Some(since)) => quote! { if (#since) <= #__version { #visit } },
        (None, None) => visit,
    }
}

/// A string for messages: the literal, if the expression is one.
fn literal_str(e: &TokenStream) -> Option<String> {
    let lit: syn::LitStr = syn::parse2(e.clone()).ok()?;
    Some(lit.value())
}

/// Compile-time checks that need values only the compiler knows (versions
/// given as constants, subsection names from other types). Returns the
/// checks for every build and those that depend on generic parameters (to be
/// evaluated with the description of each instance).
fn static_checks(
    c: &Container<'_>,
    fields: &[Field<'_>],
    params: &[String],
) -> (TokenStream, TokenStream) {
    let version = version(c);
    let minimum = minimum_version(c);
    let mut always = TokenStream::new();
    let mut generic = TokenStream::new();
    let mut push = |deps: &[&TokenStream], check: TokenStream| {
        if deps.iter().any(|d| mentions(d, params)) {
            generic.extend(quote!(#check;));
        } else {
            always.extend(quote!(const _: () = #check;));
        }
    };
    let vspan = c
        .attrs
        .minimum_version
        .get()
        .map(|e| e.span())
        .unwrap_or_else(Span::call_site);
    push(
        &[&version, &minimum],
        quote_spanned! {vspan=>
            ::core::assert!(
                (#minimum) <= (#version),
                "vmstate: minimum_version is greater than version, so no stream could ever be loaded; the minimum must be <= the version"
            )
        },
    );
    let parent = container_name(c);
    for f in fields {
        if let Some(since) = f.attrs.since.get() {
            let msg = format!(
                "vmstate: `since` of field `{}` is greater than the struct's version, so the field would never be sent; raise the struct's `version`",
                f.rust_name()
            );
            push(
                &[&since.to_token_stream(), &version],
                quote_spanned! {since.span()=>
                    ::core::assert!((#since) <= (#version), #msg)
                },
            );
        }
        let ty = f.ty;
        match &f.kind {
            FieldKind::Subsection => {
                let msg = match literal_str(&parent) {
                    Some(p) => format!(
                        "vmstate: the name of subsection `{0}` must start with its parent's name \"{p}\" and be longer (QEMU's prefix rule): name the subsection's struct e.g. #[vmstate(name = \"{p}/{0}\")]",
                        f.rust_name()
                    ),
                    None => format!(
                        "vmstate: the name of subsection `{}` must start with its parent's name and be longer (QEMU's prefix rule), e.g. \"parent/child\"",
                        f.rust_name()
                    ),
                };
                push(
                    &[&ty.to_token_stream(), &parent],
                    quote_spanned! {ty.span()=>
                        ::core::assert!(
                            <#ty as __vm::VmState>::__DERIVE_FAILED
                                || __vm::forms::name_has_prefix(<#ty as __vm::VmState>::DESCRIPTION.name, #parent),
                            #msg
                        )
                    },
                );
                let msg = format!(
                    "vmstate: the name of subsection `{}` is longer than 255 bytes: the wire gives it one length byte",
                    f.rust_name()
                );
                push(
                    &[&ty.to_token_stream()],
                    quote_spanned! {ty.span()=>
                        ::core::assert!(
                            <#ty as __vm::VmState>::__DERIVE_FAILED
                                || <#ty as __vm::VmState>::DESCRIPTION.name.len() <= 255,
                            #msg
                        )
                    },
                );
            }
            FieldKind::Pinned(v) => {
                let msg = format!(
                    "vmstate: `struct_version` of field `{}` is outside the versions its struct can load (its minimum_version..=version)",
                    f.rust_name()
                );
                push(
                    &[&ty.to_token_stream(), &v.to_token_stream()],
                    quote_spanned! {v.span()=>
                        ::core::assert!(
                            <#ty as __vm::VmState>::__DERIVE_FAILED
                                || ((#v) <= <#ty as __vm::VmState>::DESCRIPTION.version_id
                                    && (#v) >= <#ty as __vm::VmState>::DESCRIPTION.minimum_version_id),
                            #msg
                        )
                    },
                );
            }
            _ => {}
        }
    }
    // QEMU finds an incoming subsection by its name: of two with one name,
    // the second could never be loaded. (Repeated *field* names are fine:
    // fields are found by position, and descriptions number the repeats.)
    let subsections: Vec<&Field<'_>> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Subsection))
        .collect();
    for (i, a) in subsections.iter().enumerate() {
        for b in &subsections[i + 1..] {
            let (ta, tb) = (a.ty, b.ty);
            let msg = format!(
                "vmstate: subsections `{}` and `{}` have the same name: QEMU finds a subsection by its name when loading, so the second could never be loaded; give each subsection struct its own name",
                a.rust_name(),
                b.rust_name()
            );
            push(
                &[&ta.to_token_stream(), &tb.to_token_stream()],
                quote_spanned! {tb.span()=>
                    ::core::assert!(
                        <#ta as __vm::VmState>::__DERIVE_FAILED
                            || <#tb as __vm::VmState>::__DERIVE_FAILED
                            || !__vm::forms::names_equal(
                                <#ta as __vm::VmState>::DESCRIPTION.name,
                                <#tb as __vm::VmState>::DESCRIPTION.name,
                            ),
                        #msg
                    )
                },
            );
        }
    }
    (always, generic)
}
