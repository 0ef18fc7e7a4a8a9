//! `VmState` + `VmStateField` for structs, or `VmStateIn` + `ContextField`
//! for structs with a `context`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use super::describe;
use crate::internals::ast::{Container, Count, Field, FieldContext, FieldKind, Select, View};

/// The wire name of a field (its first wire field's, for a view of several
/// elements) as an expression of type `&'static str`.
pub fn wire_name(f: &Field<'_>) -> TokenStream {
    wire_names(f)
        .into_iter()
        .next()
        .unwrap_or_else(|| rust_name_literal(f))
}

fn rust_name_literal(f: &Field<'_>) -> TokenStream {
    let s = f.rust_name();
    quote!(#s)
}

/// The wire names of the wire fields of `f`, in order.
pub fn wire_names(f: &Field<'_>) -> Vec<TokenStream> {
    if let Some(expr) = f.attrs.name.get() {
        return vec![quote!(#expr)];
    }
    match &f.kind {
        // QEMU's VMSTATE_UNUSED fields are all called "unused".
        FieldKind::Unused(_) => vec![quote!("unused")],
        FieldKind::View(view) => view_names(view),
        _ => vec![rust_name_literal(f)],
    }
}

/// A view's names: the viewed field's, and for single elements
/// `field[INDEX]`, as QEMU's `stringify(mac_reg[RDT])` gives.
fn view_names(view: &View) -> Vec<TokenStream> {
    match &view.select {
        Select::Elements(list) => {
            let base = literal_str(&view.target_name)
                .unwrap_or_else(|| view.target.to_token_stream().to_string());
            list.iter()
                .map(|e| {
                    let s = format!("{base}[{}]", compact(&e.to_token_stream()));
                    quote!(#s)
                })
                .collect()
        }
        _ => vec![view.target_name.clone()],
    }
}

/// Tokens as written, without the spaces the token printer puts between
/// them (`E1000::RDT`, `RA+1`).
fn compact(tokens: &TokenStream) -> String {
    tokens.to_string().replace(' ', "")
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

/// What a count is called in descriptions and errors (`&'static str`): the
/// wire name of the count field, or the expression as written.
pub fn count_name(fields: &[Field<'_>], count: &Count) -> TokenStream {
    match count {
        Count::Field(member) => {
            let key = member.to_token_stream().to_string();
            fields
                .iter()
                .find(|f| f.member.to_token_stream().to_string() == key)
                .map(|f| match f.kind {
                    FieldKind::Skip => rust_name_literal(f),
                    _ => wire_name(f),
                })
                .unwrap_or_else(|| quote!(#key))
        }
        Count::Const(e) | Count::Expr(e) => {
            let s = compact(&e.to_token_stream());
            quote!(#s)
        }
    }
}

/// The count as a length (`Result<usize>`) when the counted field is
/// walked, its type checked where the count is written.
fn count_len(count: &Count, name: &TokenStream) -> TokenStream {
    hygienic!(__n);
    match count {
        Count::Field(m) => quote_spanned!(m.span()=> __vm::forms::count_len(self.#m, #name)),
        Count::Const(e) => {
            let bind = quote_spanned!(e.span()=> let #__n: ::core::primitive::usize = #e;);
            quote!(__vm::Ok::<::core::primitive::usize, __vm::Error>({ #bind #__n }))
        }
        Count::Expr(e) => quote_spanned!(e.span()=> __vm::forms::count_len(#e, #name)),
    }
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
        // A bound `T: ContextField` would hide the impls that give its
        // `Context`, which the field's context expression must match: such
        // fields get no inferred bound (write the element's bounds on the
        // struct).
        FieldKind::Plain | FieldKind::Subsection if f.context.is_some() => return None,
        FieldKind::Plain => quote!(#ty: __vm::VmStateField),
        FieldKind::Equal => quote!(#ty: __vm::forms::EqualField),
        FieldKind::VarArray { .. } => quote!(#ty: __vm::forms::VarArray),
        FieldKind::VarBuffer { .. } => quote!(#ty: __vm::forms::VarBuffer),
        FieldKind::Subsection | FieldKind::Pinned(_) => quote!(#ty: __vm::VmState),
        FieldKind::List { .. } => quote!(#ty: __vm::forms::ListContainer),
        FieldKind::Tree => quote!(#ty: __vm::forms::TreeContainer),
        FieldKind::AutoAlloc => quote!(#ty: __vm::forms::PointerArray),
        FieldKind::Tmp(t) => quote!(#t: __vm::forms::TmpState<#self_ty>),
        FieldKind::View(view) => {
            let t = &view.target_ty;
            match view.select {
                Select::Whole if !view.buffer => {
                    quote!(#t: __vm::forms::ArrayView + __vm::VmStateField)
                }
                _ => quote!(#t: __vm::forms::ArrayView),
            }
        }
        _ => return None,
    })
}

/// The trait a typed subsection's struct implements.
fn subsection_trait(f: &Field<'_>) -> TokenStream {
    if f.context.is_some() {
        quote!(__vm::VmStateIn)
    } else {
        quote!(__vm::VmState)
    }
}

/// What the generated code of one struct knows.
struct Gen<'a> {
    c: &'a Container<'a>,
    fields: &'a [Field<'a>],
    /// The struct takes a context (`#[vmstate(context = C)]`): it implements
    /// `VmStateIn`, and its hooks and predicates get `&C` last.
    context: bool,
}

impl Gen<'_> {
    /// The names of the struct's type and const parameters.
    fn params(&self) -> Vec<String> {
        let g = self.c.generics;
        g.type_params()
            .map(|p| p.ident.to_string())
            .chain(g.const_params().map(|p| p.ident.to_string()))
            .collect()
    }

    /// The trait that carries `DESCRIPTION`.
    fn own_trait(&self) -> TokenStream {
        if self.context {
            quote!(__vm::VmStateIn)
        } else {
            quote!(__vm::VmState)
        }
    }

    /// The extra parameter types of hooks and predicates: `, &C`, or nothing.
    fn cx_param(&self) -> TokenStream {
        if self.context {
            quote!(, &<Self as __vm::VmStateIn>::Context)
        } else {
            quote!()
        }
    }

    /// The extra arguments of hooks and predicates: `, __cx`, or nothing.
    fn cx_arg(&self) -> TokenStream {
        hygienic!(__cx);
        if self.context {
            quote!(, #__cx)
        } else {
            quote!()
        }
    }

    /// The binding of a field's context and the expression that is it
    /// (`ty_trait` names the trait whose `Context` it must be).
    fn field_context(
        &self,
        f: &Field<'_>,
        ty_trait: TokenStream,
    ) -> Option<(TokenStream, TokenStream)> {
        hygienic!(__c, __cx);
        let ty = f.ty;
        match f.context.as_ref()? {
            FieldContext::Inherit => Some((quote!(), quote!(#__cx))),
            FieldContext::Expr(e) => {
                let bind = quote_spanned! {e.span()=>
                    let #__c: &<#ty as #ty_trait>::Context = &(#e);
                };
                Some((bind, quote!(#__c)))
            }
        }
    }
}

pub fn expand(c: &Container<'_>, fields: &[Field<'_>]) -> TokenStream {
    hygienic!(__V, __cx, __hook, __index, __name, __v, __version);
    let g = Gen {
        c,
        fields,
        context: c.attrs.context.is_set(),
    };
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
                FieldKind::View(view) => view.target_ty.to_token_stream(),
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

    let own_trait = g.own_trait();
    let name = container_name(c);
    let version = version(c);
    let minimum = minimum_version(c);

    // The subsections, typed and inline, in declaration order.
    let subsections: Vec<&Field<'_>> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Subsection | FieldKind::Inline(_)))
        .collect();
    let group_fields = |group: usize| fields.iter().filter(move |f| f.group == group);

    let field_descriptions: Vec<TokenStream> = group_fields(0)
        .flat_map(|f| describe::field(f, fields))
        .collect();
    let subsection_descriptions = subsections.iter().map(|f| match &f.kind {
        FieldKind::Inline(sub_name) => {
            let group = f.group;
            let descs = group_fields(group).flat_map(|f| describe::field(f, fields));
            let v = match f.attrs.version.get() {
                Some(e) => quote!(#e),
                None => quote!(0),
            };
            let m = match f.attrs.minimum_version.get() {
                Some(e) => quote!(#e),
                None => quote!(0),
            };
            quote! {
                &__vm::Description {
                    name: #sub_name,
                    version_id: #v,
                    minimum_version_id: #m,
                    fields: &[#(#descs),*],
                    subsections: &[],
                }
            }
        }
        _ => {
            let ty = f.ty;
            let tr = subsection_trait(f);
            quote_spanned!(ty.span()=> <#ty as #tr>::DESCRIPTION)
        }
    });

    let own_description = quote!(<Self as #own_trait>::DESCRIPTION);
    let visits = visits(&g, group_fields(0), &own_description);

    let cx_param = g.cx_param();
    let cx_arg = g.cx_arg();
    let needed_arms = subsections.iter().enumerate().map(|(i, f)| {
        let m = &f.member;
        let ty = f.ty;
        let own = match &f.kind {
            FieldKind::Inline(_) => quote!(true),
            _ => match g.field_context(f, quote!(__vm::VmStateIn)) {
                Some((bind, cxe)) => quote_spanned!(ty.span()=>
                    { #bind <#ty as __vm::VmStateIn>::needed_in(&self.#m, #cxe) }),
                None => quote_spanned!(ty.span()=> <#ty as __vm::VmState>::needed(&self.#m)),
            },
        };
        match f.attrs.needed.get() {
            Some(path) => {
                // Only the binding carries the user's span: `self` must keep
                // the derive's hygiene (the path may come from a macro).
                let bind = quote_spanned!(path.span()=>
                    let #__hook: fn(&Self #cx_param) -> ::core::primitive::bool = #path;
                );
                let hook = quote!({ #bind #__hook(self #cx_arg) });
                quote!(#i => (#hook) && #own,)
            }
            None => quote!(#i => #own,),
        }
    });
    let visit_arms = subsections.iter().enumerate().map(|(i, f)| {
        let m = &f.member;
        let ty = f.ty;
        match &f.kind {
            FieldKind::Inline(_) => quote! {
                #i => __vm::visit_struct_at(
                    &mut __vm::forms::Inline::new(self, #i),
                    #__v,
                    <Self as __vm::VmState>::DESCRIPTION.subsections[#i].name,
                    #__version,
                ),
            },
            _ => match g.field_context(f, quote!(__vm::VmStateIn)) {
                Some((bind, cxe)) => quote_spanned! {ty.span()=>
                    #i => {
                        #bind
                        __vm::visit_struct_at(
                            &mut __vm::InContext::new(&mut self.#m, #cxe),
                            #__v,
                            <#ty as __vm::VmStateIn>::DESCRIPTION.name,
                            #__version,
                        )
                    }
                },
                None => quote_spanned! {ty.span()=>
                    #i => __vm::visit_struct_at(
                        &mut self.#m,
                        #__v,
                        <#ty as __vm::VmState>::DESCRIPTION.name,
                        #__version,
                    ),
                },
            },
        }
    });
    let cx_decl = if g.context {
        quote!(#__cx: &<Self as __vm::VmStateIn>::Context,)
    } else {
        quote!()
    };
    let (needed_fn, visit_sub_fn, visit_fields_fn) = if g.context {
        (
            quote!(subsection_needed_in),
            quote!(visit_subsection_in),
            quote!(visit_fields_in),
        )
    } else {
        (
            quote!(subsection_needed),
            quote!(visit_subsection),
            quote!(visit_fields),
        )
    };
    let subsection_fns = if subsections.is_empty() {
        quote!()
    } else {
        quote! {
            #[inline]
            fn #needed_fn(&self, #cx_decl #__index: ::core::primitive::usize) -> ::core::primitive::bool {
                let _ = &#__index;
                match #__index {
                    #(#needed_arms)*
                    _ => false,
                }
            }
            #[inline]
            #[inline(always)]
            fn #visit_sub_fn<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                &mut self,
                #cx_decl
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
    let inline_fns = inline_fns(&g, &subsections);

    let hooks = hooks(&g);
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
            FieldKind::Plain if f.context.is_some() => quote!(false),
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
    let (checks, generic_checks) = static_checks(&g, &all_params);
    let default = default_impl(c, fields, &impl_generics, &ty_generics, &where_clause);

    let description = quote! {
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
    };

    if g.context {
        let cty = c.attrs.context.get();
        return quote! {
            impl #impl_generics __vm::VmStateIn for #self_ty #where_clause {
                type Context = #cty;

                #description

                #[inline]
                fn visit_fields_in<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                    &mut self,
                    #__cx: &<Self as __vm::VmStateIn>::Context,
                    #__v: &mut #__V,
                    #__version: ::core::primitive::u32,
                ) -> __vm::Result<()> {
                    let _ = (&#__version, &#__cx);
                    #visits
                    __vm::Ok(())
                }

                #subsection_fns
                #hooks
            }

            impl #impl_generics __vm::ContextField for #self_ty #where_clause {
                type Context = #cty;
                const LAYOUT: __vm::Layout<'static> = __vm::Layout::Struct {
                    description: <Self as __vm::VmStateIn>::DESCRIPTION,
                    pinned_version: __vm::None,
                };

                #[inline]
                fn visit_in<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                    &mut self,
                    #__cx: &<Self as __vm::ContextField>::Context,
                    #__v: &mut #__V,
                    #__name: &'__vmstate_d ::core::primitive::str,
                ) -> __vm::Result<()> {
                    __vm::visit_struct(&mut __vm::InContext::new(self, #__cx), #__v, #__name)
                }
            }

            #checks
            #default
        };
    }

    quote! {
        impl #impl_generics __vm::VmState for #self_ty #where_clause {
            #description

            const LOAD_INFALLIBLE: ::core::primitive::bool = #load_infallible;

            #[inline]
            fn #visit_fields_fn<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
                &mut self,
                #__v: &mut #__V,
                #__version: ::core::primitive::u32,
            ) -> __vm::Result<()> {
                let _ = &#__version;
                #visits
                __vm::Ok(())
            }

            #subsection_fns
            #inline_fns
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
        #default
    }
}

/// The walks of the wire fields `fields`, numbered from 0 in `description`.
///
/// Runs of consecutive fields of fixed layout ([`packed_size`]) are walked as
/// one block of wire bytes by visitors that take packed runs
/// (`Visitor::PACKED_RUNS`), and field by field by the others.
fn visits<'f>(
    g: &Gen<'_>,
    fields: impl Iterator<Item = &'f Field<'f>>,
    description: &TokenStream,
) -> TokenStream {
    let mut index = 0;
    let mut out = TokenStream::new();
    let mut run: Vec<(&'f Field<'f>, usize)> = Vec::new();
    let mut run_bytes = 0;
    for f in fields {
        let n = f.wire_count();
        if n == 0 {
            continue;
        }
        match packed_size(g, f) {
            Some(size) => {
                if run_bytes + size > MAX_PACKED {
                    out.extend(packed_run(g, &run, description));
                    run.clear();
                    run_bytes = 0;
                }
                run.push((f, index));
                run_bytes += size;
            }
            None => {
                out.extend(packed_run(g, &run, description));
                run.clear();
                run_bytes = 0;
                out.extend(visit_field(g, f, index, description));
            }
        }
        index += n;
    }
    out.extend(packed_run(g, &run, description));
    out
}

/// The wire size of `f` if it can be part of a packed run: one
/// unconditional wire field, walked by its type alone, of a type whose
/// encoding is a fixed block that any bytes decode into. Only the
/// primitive types and arrays of them with a literal length are taken, by
/// their spelling, so that runs can be cut to size here (a type alias or
/// an array of a named length is walked on its own; arrays move as one
/// slice anyway); the generated code checks `VmStateField::PACKED_SIZE` as
/// well.
fn packed_size(g: &Gen<'_>, f: &Field<'_>) -> Option<usize> {
    let form = match &f.kind {
        FieldKind::Plain => f.context.is_none(),
        FieldKind::Buffer => is_byte_array(f.ty),
        _ => false,
    };
    if !form || f.wire_count() != 1 || f.attrs.since.is_set() || f.attrs.exists.is_set() {
        return None;
    }
    fixed_layout_size(f.ty, &g.params()).filter(|&n| n <= MAX_PACKED_FIELD)
}

/// `[u8; N]`.
fn is_byte_array(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Array(a) => {
            matches!(&*a.elem, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
        }
        syn::Type::Paren(p) => is_byte_array(&p.elem),
        _ => false,
    }
}

/// The wire size of a primitive integer, `bool`, `f64`, `Timer`, or an
/// array of them with a literal length; `None` for anything else (or a
/// name that is one of the struct's generic parameters).
fn fixed_layout_size(ty: &syn::Type, params: &[String]) -> Option<usize> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let name = last.ident.to_string();
            if !last.arguments.is_empty() || params.contains(&name) {
                return None;
            }
            let plain = p.path.segments.len() == 1;
            let timer = name == "Timer"
                && (plain || p.path.segments.iter().any(|s| s.ident == "vmstate_core"));
            if timer {
                return Some(8);
            }
            if !plain {
                return None;
            }
            match name.as_str() {
                "u8" | "i8" | "bool" => Some(1),
                "u16" | "i16" => Some(2),
                "u32" | "i32" => Some(4),
                "u64" | "i64" | "f64" => Some(8),
                _ => None,
            }
        }
        syn::Type::Array(a) => {
            let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            }) = &a.len
            else {
                return None;
            };
            let n: usize = n.base10_parse().ok()?;
            fixed_layout_size(&a.elem, params)?.checked_mul(n)
        }
        syn::Type::Paren(p) => fixed_layout_size(&p.elem, params),
        _ => None,
    }
}

/// Largest packed block, in bytes: a run is cut before the field that
/// would take it further, so the block stays a small stack buffer.
const MAX_PACKED: usize = 512;

/// Largest field taken into a packed run: bigger arrays and buffers move
/// as one slice or copy of their own.
const MAX_PACKED_FIELD: usize = 128;

/// The walk of a run of packable fields: one block for visitors that take
/// packed runs, field by field otherwise (and when a load's input ends
/// inside the run, so that the error names the field where it ends).
fn packed_run(g: &Gen<'_>, run: &[(&Field<'_>, usize)], description: &TokenStream) -> TokenStream {
    hygienic!(__V, __at, __buf, __e, __packed, __v);
    let per_field: TokenStream = run
        .iter()
        .map(|(f, index)| visit_field(g, f, *index, description))
        .collect();
    // Visitors get the run as a range of the description's fields: a run
    // whose fields are not consecutive there (none is today: each packable
    // field is one wire field) is walked field by field, not misdescribed.
    let first = run.first().map_or(0, |(_, index)| *index);
    let end = run.last().map_or(0, |(_, index)| *index + 1);
    if run.len() < 2 || end.checked_sub(first) != Some(run.len()) {
        return per_field;
    }
    let sizes: Vec<TokenStream> = run
        .iter()
        .map(|(f, _)| {
            let ty = f.ty;
            quote!(<#ty as __vm::VmStateField>::PACKED_SIZE)
        })
        .collect();
    let members: Vec<&syn::Member> = run.iter().map(|(f, _)| &f.member).collect();
    let max = MAX_PACKED;
    quote! {
        let #__packed: ::core::primitive::bool = if <#__V as __vm::Visitor<'__vmstate_d>>::PACKED_RUNS
            #(&& #sizes != 0)*
            && (0 #(+ #sizes)*) <= #max
        {
            let mut #__buf = [0u8; { let n = 0 #(+ #sizes)*; if n <= #max { n } else { 0 } }];
            if <#__V as __vm::Visitor<'__vmstate_d>>::LOADING {
                match __vm::Visitor::take_packed(#__v, #first..#end, &mut #__buf) {
                    __vm::Ok(true) => {
                        let mut #__at = 0usize;
                        #(
                            __vm::VmStateField::unpack(&mut self.#members, &#__buf[#__at..]);
                            #__at += #sizes;
                        )*
                        let _ = #__at;
                        true
                    }
                    __vm::Ok(false) => false,
                    __vm::Err(#__e) => {
                        return __vm::Err(__vm::in_field(#__e, #description, #first));
                    }
                }
            } else {
                let mut #__at = 0usize;
                #(
                    __vm::VmStateField::pack(&self.#members, &mut #__buf[#__at..]);
                    #__at += #sizes;
                )*
                let _ = #__at;
                match __vm::Visitor::put_packed(#__v, #first..#end, &#__buf) {
                    __vm::Ok(written) => written,
                    __vm::Err(#__e) => {
                        return __vm::Err(__vm::in_field(#__e, #description, #first));
                    }
                }
            }
        } else {
            false
        };
        if !#__packed {
            #per_field
        }
    }
}

/// `__inline_fields` and `__inline_hook`: the fields and hooks of the
/// inline subsections (subsection `i` of `subsections` for each marker).
fn inline_fns(g: &Gen<'_>, subsections: &[&Field<'_>]) -> TokenStream {
    hygienic!(__V, __hook, __index, __v, __version, __which);
    let mut field_arms = Vec::new();
    let mut hook_arms = Vec::new();
    for (i, f) in subsections.iter().enumerate() {
        if !matches!(f.kind, FieldKind::Inline(_)) {
            continue;
        }
        let description = quote!(<Self as __vm::VmState>::DESCRIPTION.subsections[#i]);
        let group = f.group;
        let walk = visits(
            g,
            g.fields.iter().filter(|x| x.group == group),
            &description,
        );
        field_arms.push(quote!(#i => { #walk __vm::Ok(()) }));
        let a = &f.attrs;
        if let Some(p) = a.pre_save.get() {
            let bind = quote_spanned! {p.span()=>
                let #__hook: fn(&mut Self) -> ::core::result::Result<(), _> = #p;
            };
            hook_arms.push(quote! {
                (#i, __vm::forms::Hook::PreSave) => {
                    #bind
                    #__hook(self).map_err(::core::convert::Into::<__vm::Error>::into)
                }
            });
        }
        if let Some(p) = a.post_save.get() {
            let bind = quote_spanned! {p.span()=> let #__hook: fn(&mut Self) = #p; };
            hook_arms.push(quote! {
                (#i, __vm::forms::Hook::PostSave) => {
                    #bind
                    #__hook(self);
                    __vm::Ok(())
                }
            });
        }
        if let Some(p) = a.pre_load.get() {
            let bind = quote_spanned! {p.span()=>
                let #__hook: fn(&mut Self) -> ::core::result::Result<(), _> = #p;
            };
            hook_arms.push(quote! {
                (#i, __vm::forms::Hook::PreLoad) => {
                    #bind
                    #__hook(self).map_err(::core::convert::Into::<__vm::Error>::into)
                }
            });
        }
        if let Some(p) = a.post_load.get() {
            let bind = quote_spanned! {p.span()=>
                let #__hook: fn(&mut Self, ::core::primitive::u32) -> ::core::result::Result<(), _> = #p;
            };
            hook_arms.push(quote! {
                (#i, __vm::forms::Hook::PostLoad(#__version)) => {
                    #bind
                    #__hook(self, #__version).map_err(::core::convert::Into::<__vm::Error>::into)
                }
            });
        }
    }
    if field_arms.is_empty() {
        return TokenStream::new();
    }
    let hook_fn = if hook_arms.is_empty() {
        quote!()
    } else {
        quote! {
            fn __inline_hook(
                &mut self,
                #__index: ::core::primitive::usize,
                #__which: __vm::forms::Hook,
            ) -> __vm::Result<()> {
                match (#__index, #__which) {
                    #(#hook_arms)*
                    _ => __vm::Ok(()),
                }
            }
        }
    };
    quote! {
        fn __inline_fields<'__vmstate_d, #__V: __vm::Visitor<'__vmstate_d>>(
            &mut self,
            #__index: ::core::primitive::usize,
            #__v: &mut #__V,
            #__version: ::core::primitive::u32,
        ) -> __vm::Result<()> {
            let _ = &#__version;
            match #__index {
                #(#field_arms)*
                _ => __vm::Err(__vm::Error::msg("no such inline subsection")),
            }
        }
        #hook_fn
    }
}

fn hooks(g: &Gen<'_>) -> TokenStream {
    hygienic!(__cx, __hook, __version);
    let a = &g.c.attrs;
    let cx_param = g.cx_param();
    let cx_arg = g.cx_arg();
    let (cx_decl, sfx) = if g.context {
        (quote!(, #__cx: &<Self as __vm::VmStateIn>::Context), "_in")
    } else {
        (quote!(), "")
    };
    let f = |base: &str| proc_macro2::Ident::new(&format!("{base}{sfx}"), Span::call_site());
    let mut out = TokenStream::new();
    // Each hook is first bound to a function pointer of the documented
    // signature, so a mismatch is reported as such, on the user's path.
    if let Some(p) = a.needed.get() {
        let name = f("needed");
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&Self #cx_param) -> ::core::primitive::bool = #p;
        };
        // Predicates are small and asked on every save: let the caller's
        // crate inline them.
        out.extend(quote! {
            #[inline]
            fn #name(&self #cx_decl) -> ::core::primitive::bool {
                #bind
                #__hook(self #cx_arg)
            }
        });
    }
    if let Some(p) = a.pre_save.get() {
        let name = f("pre_save");
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self #cx_param) -> ::core::result::Result<(), _> = #p;
        };
        out.extend(quote! {
            fn #name(&mut self #cx_decl) -> __vm::Result<()> {
                #bind
                #__hook(self #cx_arg).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    if let Some(p) = a.post_save.get() {
        let name = f("post_save");
        let bind = quote_spanned! {p.span()=> let #__hook: fn(&mut Self #cx_param) = #p; };
        out.extend(quote! {
            fn #name(&mut self #cx_decl) {
                #bind
                #__hook(self #cx_arg)
            }
        });
    }
    if let Some(p) = a.pre_load.get() {
        let name = f("pre_load");
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self #cx_param) -> ::core::result::Result<(), _> = #p;
        };
        out.extend(quote! {
            fn #name(&mut self #cx_decl) -> __vm::Result<()> {
                #bind
                #__hook(self #cx_arg).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    if let Some(p) = a.post_load.get() {
        let name = f("post_load");
        let bind = quote_spanned! {p.span()=>
            let #__hook: fn(&mut Self, ::core::primitive::u32 #cx_param) -> ::core::result::Result<(), _> = #p;
        };
        let (decl, arg) = if g.context {
            (
                quote!(#__cx: &<Self as __vm::VmStateIn>::Context, #__version: ::core::primitive::u32),
                quote!(#__version, #__cx),
            )
        } else {
            (
                quote!(#__version: ::core::primitive::u32),
                quote!(#__version),
            )
        };
        out.extend(quote! {
            fn #name(&mut self, #decl) -> __vm::Result<()> {
                #bind
                #__hook(self, #arg).map_err(::core::convert::Into::<__vm::Error>::into)
            }
        });
    }
    out
}

/// The walk of one wire field of `f` (its `part`-th, for a view of several
/// elements), as an expression of type `Result<()>`.
fn field_call(g: &Gen<'_>, f: &Field<'_>, part: usize, name: &TokenStream) -> TokenStream {
    hygienic!(__check, __count, __e, __i, __v, __version);
    let m = &f.member;
    let ty = f.ty;
    let span = ty.span();
    let fields = g.fields;
    let since_opt = match f.attrs.since.get() {
        Some(s) => quote!(__vm::Some(#s)),
        None => quote!(__vm::None),
    };
    match &f.kind {
        FieldKind::Plain => match g.field_context(f, quote!(__vm::ContextField)) {
            Some((bind, cxe)) => quote_spanned! {span=>
                { #bind __vm::ContextField::visit_in(&mut self.#m, #cxe, #__v, #name) }
            },
            None => quote_spanned! {span=>
                __vm::VmStateField::visit(&mut self.#m, #__v, #name)
            },
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
            let value = count_len(len, &count);
            quote_spanned! {span=>
                match #value {
                    __vm::Ok(#__count) => __vm::forms::var_buffer(#__v, #name, &mut self.#m, #__count, #count),
                    __vm::Err(#__e) => __vm::Err(__vm::Visitor::locate(#__v, #__e)),
                }
            }
        }
        FieldKind::VarArray { len } => {
            let count = count_name(fields, len);
            let value = count_len(len, &count);
            quote_spanned! {span=>
                match #value {
                    __vm::Ok(#__count) => __vm::forms::var_array(#__v, #name, &mut self.#m, #__count, #count),
                    __vm::Err(#__e) => __vm::Err(__vm::Visitor::locate(#__v, #__e)),
                }
            }
        }
        FieldKind::Bitmap { bits } => {
            let count = count_name(fields, bits);
            let value = count_len(bits, &count);
            quote_spanned! {span=>
                match #value {
                    __vm::Ok(#__count) => __vm::forms::bitmap(#__v, #name, &mut self.#m, #__count, #count),
                    __vm::Err(#__e) => __vm::Err(__vm::Visitor::locate(#__v, #__e)),
                }
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
            let desc = container_name(g.c);
            let cx_param = g.cx_param();
            let cx_arg = g.cx_arg();
            let bind = quote_spanned! {p.span()=>
                let #__check: fn(&Self, ::core::primitive::u32 #cx_param) -> ::core::primitive::bool = #p;
            };
            let check = quote!({ #bind #__check(self, #__version #cx_arg) });
            quote! {
                __vm::forms::validate(#__v, #desc, #name, #check)
            }
        }
        FieldKind::View(view) => {
            let t = &view.target;
            let vspan = view.target_ty.span();
            match &view.select {
                Select::Elements(list) => {
                    let e = &list[part];
                    let bind = quote_spanned!(e.span()=> let #__i: ::core::primitive::usize = #e;);
                    quote_spanned! {vspan=>
                        { #bind __vm::forms::view_element(#__v, #name, &mut self.#t, #__i) }
                    }
                }
                Select::Whole if !view.buffer => quote_spanned! {vspan=>
                    __vm::VmStateField::visit(&mut self.#t, #__v, #name)
                },
                Select::Whole => quote_spanned! {vspan=>
                    __vm::forms::view_bytes(#__v, #name, &mut self.#t, 0, __vm::None)
                },
                Select::Range { start, len } => {
                    let (start, len) = describe::range_bounds(start.as_deref(), len.as_deref());
                    if view.buffer {
                        quote_spanned! {vspan=>
                            __vm::forms::view_bytes(#__v, #name, &mut self.#t, #start, #len)
                        }
                    } else {
                        quote_spanned! {vspan=>
                            __vm::forms::view_range(#__v, #name, &mut self.#t, #start, #len)
                        }
                    }
                }
            }
        }
        FieldKind::Skip | FieldKind::Subsection | FieldKind::Broken | FieldKind::Inline(_) => {
            quote!(__vm::Ok(()))
        }
    }
}

/// The walks of the wire fields of `f`, the first numbered `index` in
/// `description`, under the field's `exists`/`since` condition.
fn visit_field(g: &Gen<'_>, f: &Field<'_>, index: usize, description: &TokenStream) -> TokenStream {
    hygienic!(__e, __exists, __failed, __v, __version, __walked);
    let names = wire_names(f);
    let mut visit = TokenStream::new();
    for part in 0..f.wire_count() {
        let name = names
            .get(part)
            .cloned()
            .unwrap_or_else(|| rust_name_literal(f));
        let call = field_call(g, f, part, &name);
        let at = index + part;
        // `at` is the field's position in the description's fields.
        visit.extend(quote! {
            let #__walked = match __vm::Visitor::enter_field(#__v, #at) {
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
                return __vm::Err(__vm::in_field(#__e, #description, #at));
            }
        });
    }
    match (f.attrs.exists.get(), f.attrs.since.get()) {
        (Some(p), _) => {
            let cx_param = g.cx_param();
            let cx_arg = g.cx_arg();
            let bind = quote_spanned! {p.span()=>
                let #__exists: fn(&Self, ::core::primitive::u32 #cx_param) -> ::core::primitive::bool = #p;
            };
            let test = quote!({ #bind #__exists(self, #__version #cx_arg) });
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

/// The value `#[vmstate(default)]` gives a field of type `ty`: arrays of
/// any length element by element (Rust's `Default` stops at 32), boxes of
/// them in place, anything else its `Default`.
fn default_value(ty: &syn::Type) -> TokenStream {
    match ty {
        syn::Type::Paren(p) => default_value(&p.elem),
        syn::Type::Group(g) => default_value(&g.elem),
        syn::Type::Array(a) => {
            let inner = default_value(&a.elem);
            quote_spanned!(a.span()=> ::core::array::from_fn(|_| #inner))
        }
        syn::Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last();
            let boxed = last
                .filter(|s| s.ident == "Box")
                .and_then(|s| match &s.arguments {
                    syn::PathArguments::AngleBracketed(args) => match args.args.first() {
                        Some(syn::GenericArgument::Type(t @ syn::Type::Array(_))) => Some(t),
                        _ => None,
                    },
                    _ => None,
                });
            match boxed {
                Some(inner) => {
                    let inner = default_value(inner);
                    quote_spanned!(ty.span()=> ::std::boxed::Box::new(#inner))
                }
                None => quote_spanned!(ty.span()=> ::core::default::Default::default()),
            }
        }
        _ => quote_spanned!(ty.span()=> ::core::default::Default::default()),
    }
}

/// `impl Default` for `#[vmstate(default)]`.
fn default_impl(
    c: &Container<'_>,
    fields: &[Field<'_>],
    impl_generics: &syn::ImplGenerics<'_>,
    ty_generics: &syn::TypeGenerics<'_>,
    where_clause: &TokenStream,
) -> TokenStream {
    if !c.attrs.default.is_set() {
        return TokenStream::new();
    }
    let ident = c.ident;
    // As `#[derive(Default)]`: every type parameter is `Default`.
    let mut predicates: Vec<TokenStream> =
        match syn::parse2::<syn::WhereClause>(where_clause.clone()) {
            Ok(w) => w.predicates.iter().map(|p| p.to_token_stream()).collect(),
            Err(_) => Vec::new(),
        };
    predicates.extend(c.generics.type_params().map(|p| {
        let t = &p.ident;
        quote!(#t: ::core::default::Default)
    }));
    let where_clause = if predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#predicates,)*)
    };
    let values = fields.iter().map(|f| {
        let value = match f.attrs.default.get() {
            Some(e) => quote_spanned!(e.span()=> #e),
            None => default_value(f.ty),
        };
        let m = &f.member;
        quote!(#m: #value)
    });
    quote! {
        impl #impl_generics ::core::default::Default for #ident #ty_generics #where_clause {
            fn default() -> Self {
                Self { #(#values,)* }
            }
        }
    }
}

/// Compile-time checks that need values only the compiler knows (versions
/// given as constants, subsection names from other types). Returns the
/// checks for every build and those that depend on generic parameters (to be
/// evaluated with the description of each instance).
fn static_checks(g: &Gen<'_>, params: &[String]) -> (TokenStream, TokenStream) {
    let c = g.c;
    let fields = g.fields;
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
    // The inline subsection a field is in, if any: its version bounds `since`.
    let mut sub_version = None;
    for f in fields {
        if let FieldKind::Inline(_) = f.kind {
            let v = match f.attrs.version.get() {
                Some(e) => e.to_token_stream(),
                None => quote!(0),
            };
            let m = match f.attrs.minimum_version.get() {
                Some(e) => e.to_token_stream(),
                None => quote!(0),
            };
            let msg = format!(
                "vmstate: minimum_version of inline subsection `{}` is greater than its version, so it could never be loaded",
                f.rust_name()
            );
            let span = f
                .attrs
                .minimum_version
                .get()
                .map(|e| e.span())
                .unwrap_or_else(Span::call_site);
            push(
                &[&v, &m],
                quote_spanned! {span=> ::core::assert!((#m) <= (#v), #msg)},
            );
            sub_version = Some(v);
        }
        if let Some(since) = f.attrs.since.get() {
            let (bound, what) = match &sub_version {
                Some(v) if f.group > 0 => (v.clone(), "its inline subsection's"),
                _ => (version.clone(), "the struct's"),
            };
            let msg = format!(
                "vmstate: `since` of field `{}` is greater than {what} version, so the field would never be sent; raise {what} `version`",
                f.rust_name()
            );
            push(
                &[&since.to_token_stream(), &bound],
                quote_spanned! {since.span()=>
                    ::core::assert!((#since) <= (#bound), #msg)
                },
            );
        }
        let ty = f.ty;
        match &f.kind {
            FieldKind::Subsection | FieldKind::Inline(_) => {
                let (sub_name, failed, deps) = match &f.kind {
                    FieldKind::Inline(e) => {
                        (e.to_token_stream(), quote!(false), e.to_token_stream())
                    }
                    _ => {
                        let tr = subsection_trait(f);
                        (
                            quote!(<#ty as #tr>::DESCRIPTION.name),
                            quote!(<#ty as #tr>::__DERIVE_FAILED),
                            ty.to_token_stream(),
                        )
                    }
                };
                let span = match &f.kind {
                    FieldKind::Inline(e) => e.span(),
                    _ => ty.span(),
                };
                let inline = matches!(f.kind, FieldKind::Inline(_));
                let msg = match literal_str(&parent) {
                    Some(p) if inline => format!(
                        "vmstate: the name of inline subsection `{0}` must start with its parent's name \"{p}\" and be longer (QEMU's prefix rule): write e.g. subsection = \"{p}/{0}\"",
                        f.rust_name().trim_start_matches('_')
                    ),
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
                    &[&deps, &parent],
                    quote_spanned! {span=>
                        ::core::assert!(
                            #failed || __vm::forms::name_has_prefix(#sub_name, #parent),
                            #msg
                        )
                    },
                );
                let msg = format!(
                    "vmstate: the name of subsection `{}` is longer than 255 bytes: the wire gives it one length byte",
                    f.rust_name()
                );
                push(
                    &[&deps],
                    quote_spanned! {span=>
                        ::core::assert!(#failed || (#sub_name).len() <= 255, #msg)
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
            FieldKind::VarArray {
                len: Count::Const(n),
            }
            | FieldKind::VarBuffer {
                len: Count::Const(n),
            } => {
                let tr = if matches!(f.kind, FieldKind::VarArray { .. }) {
                    quote!(__vm::forms::VarArray)
                } else {
                    quote!(__vm::forms::VarBuffer)
                };
                let msg = format!(
                    "vmstate: the constant `len` of field `{}` is larger than its array",
                    f.rust_name()
                );
                push(
                    &[&ty.to_token_stream(), &n.to_token_stream()],
                    quote_spanned! {n.span()=>
                        ::core::assert!(
                            match <#ty as #tr>::CAPACITY {
                                __vm::Some(capacity) => (#n) <= capacity,
                                __vm::None => true,
                            },
                            #msg
                        )
                    },
                );
            }
            FieldKind::View(view) => {
                let t = &view.target_ty;
                let len = quote!(<#t as __vm::forms::ArrayView>::LEN);
                let mut check = |start: TokenStream, n: TokenStream, span: Span, msg: String| {
                    push(
                        &[&t.to_token_stream(), &start, &n],
                        quote_spanned! {span=>
                            ::core::assert!(__vm::forms::view_fits(#len, #start, #n), #msg)
                        },
                    );
                };
                let target = view.target.to_token_stream().to_string();
                match &view.select {
                    Select::Elements(list) => {
                        for e in list {
                            let (start, _) = describe::range_bounds(Some(e), None);
                            check(
                                start,
                                quote!(__vm::Some(1usize)),
                                e.span(),
                                format!(
                                    "vmstate: `index = {}` is outside the array `{target}`",
                                    compact(&e.to_token_stream())
                                ),
                            );
                        }
                    }
                    Select::Range { start, len: n } => {
                        let span = n
                            .as_deref()
                            .or(start.as_deref())
                            .map(|e| e.span())
                            .unwrap_or_else(Span::call_site);
                        let (start, n) = describe::range_bounds(start.as_deref(), n.as_deref());
                        check(
                            start,
                            n,
                            span,
                            format!(
                                "vmstate: the view of `{target}` reaches past the end of the array (a `Vec` needs `len`)"
                            ),
                        );
                    }
                    Select::Whole => {}
                }
            }
            _ => {}
        }
    }
    // QEMU finds an incoming subsection by its name: of two with one name,
    // the second could never be loaded. (Repeated *field* names are fine:
    // fields are found by position, and descriptions number the repeats.)
    let subsections: Vec<&Field<'_>> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Subsection | FieldKind::Inline(_)))
        .collect();
    let sub_info = |f: &Field<'_>| -> (TokenStream, TokenStream, TokenStream, Span) {
        match &f.kind {
            FieldKind::Inline(e) => (
                e.to_token_stream(),
                quote!(false),
                e.to_token_stream(),
                e.span(),
            ),
            _ => {
                let ty = f.ty;
                let tr = subsection_trait(f);
                (
                    quote!(<#ty as #tr>::DESCRIPTION.name),
                    quote!(<#ty as #tr>::__DERIVE_FAILED),
                    ty.to_token_stream(),
                    ty.span(),
                )
            }
        }
    };
    for (i, a) in subsections.iter().enumerate() {
        for b in &subsections[i + 1..] {
            let (na, fa, da, _) = sub_info(a);
            let (nb, fb, db, span) = sub_info(b);
            let what = if matches!(a.kind, FieldKind::Inline(_))
                || matches!(b.kind, FieldKind::Inline(_))
            {
                "subsection"
            } else {
                "subsection struct"
            };
            let msg = format!(
                "vmstate: subsections `{}` and `{}` have the same name: QEMU finds a subsection by its name when loading, so the second could never be loaded; give each {what} its own name",
                a.rust_name(),
                b.rust_name()
            );
            push(
                &[&da, &db],
                quote_spanned! {span=>
                    ::core::assert!(
                        #fa || #fb || !__vm::forms::names_equal(#na, #nb),
                        #msg
                    )
                },
            );
        }
    }
    (always, generic)
}
