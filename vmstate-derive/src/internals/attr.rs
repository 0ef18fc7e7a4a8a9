//! The `#[vmstate(...)]` attributes.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Expr, Member, Path, Type};

use super::Ctxt;

/// One attribute value, remembering where it was written.
pub struct Attr<T> {
    name: &'static str,
    value: Option<(TokenStream, T)>,
}

impl<T> Attr<T> {
    fn none(name: &'static str) -> Self {
        Attr { name, value: None }
    }

    fn set(&mut self, cx: &Ctxt, at: &Path, value: T) {
        if self.value.is_some() {
            cx.error_spanned_by(at, format!("duplicate vmstate attribute `{}`", self.name));
        } else {
            self.value = Some((at.to_token_stream(), value));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    /// Where the attribute was written (for error spans).
    pub fn tokens(&self) -> Option<&TokenStream> {
        self.value.as_ref().map(|(t, _)| t)
    }

    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

type Flag = Attr<()>;

const CONTAINER_KEYS: &str = "name, version, minimum_version, pre_save, post_save, pre_load, \
                              post_load, needed, crate";

/// Attributes on the struct or enum.
pub struct Container {
    pub name: Attr<Expr>,
    pub version: Attr<Expr>,
    pub minimum_version: Attr<Expr>,
    pub pre_save: Attr<Path>,
    pub post_save: Attr<Path>,
    pub pre_load: Attr<Path>,
    pub post_load: Attr<Path>,
    pub needed: Attr<Path>,
    pub krate: Attr<Path>,
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut c = Container {
            name: Attr::none("name"),
            version: Attr::none("version"),
            minimum_version: Attr::none("minimum_version"),
            pre_save: Attr::none("pre_save"),
            post_save: Attr::none("post_save"),
            pre_load: Attr::none("pre_load"),
            post_load: Attr::none("post_load"),
            needed: Attr::none("needed"),
            krate: Attr::none("crate"),
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                let key = path_key(&path);
                match key.as_str() {
                    "name" => c.name.set(cx, &path, meta.value()?.parse()?),
                    "version" => c.version.set(cx, &path, meta.value()?.parse()?),
                    "minimum_version" => c.minimum_version.set(cx, &path, meta.value()?.parse()?),
                    "pre_save" => c.pre_save.set(cx, &path, meta.value()?.parse()?),
                    "post_save" => c.post_save.set(cx, &path, meta.value()?.parse()?),
                    "pre_load" => c.pre_load.set(cx, &path, meta.value()?.parse()?),
                    "post_load" => c.post_load.set(cx, &path, meta.value()?.parse()?),
                    "needed" => c.needed.set(cx, &path, meta.value()?.parse()?),
                    "crate" => c.krate.set(cx, &path, meta.value()?.parse()?),
                    _ => {
                        skip_value(&meta)?;
                        cx.error_spanned_by(
                            &path,
                            format!(
                                "unknown vmstate container attribute `{key}`; expected one of: \
                                 {CONTAINER_KEYS}"
                            ),
                        );
                    }
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        c
    }
}

const FIELD_KEYS: &str = "name, since, exists, skip, equal, le, buffer, len, bitmap, bits, \
                          unused, subsection, needed, struct_version, qtailq, qlist, gtree, \
                          auto_alloc, tmp, validate";

/// Attributes on a field.
pub struct Field {
    pub name: Attr<Expr>,
    pub since: Attr<Expr>,
    pub exists: Attr<Path>,
    pub skip: Flag,
    pub equal: Flag,
    pub le: Flag,
    pub buffer: Flag,
    pub len: Attr<Member>,
    pub bitmap: Flag,
    pub bits: Attr<Member>,
    pub unused: Attr<Expr>,
    pub subsection: Flag,
    pub needed: Attr<Path>,
    pub struct_version: Attr<Expr>,
    pub qtailq: Flag,
    pub qlist: Flag,
    pub gtree: Flag,
    pub auto_alloc: Flag,
    pub tmp: Attr<Type>,
    pub validate: Attr<Path>,
    /// Span of the first `vmstate` attribute, for errors about combinations.
    pub span: Option<Span>,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut f = Field {
            name: Attr::none("name"),
            since: Attr::none("since"),
            exists: Attr::none("exists"),
            skip: Attr::none("skip"),
            equal: Attr::none("equal"),
            le: Attr::none("le"),
            buffer: Attr::none("buffer"),
            len: Attr::none("len"),
            bitmap: Attr::none("bitmap"),
            bits: Attr::none("bits"),
            unused: Attr::none("unused"),
            subsection: Attr::none("subsection"),
            needed: Attr::none("needed"),
            struct_version: Attr::none("struct_version"),
            qtailq: Attr::none("qtailq"),
            qlist: Attr::none("qlist"),
            gtree: Attr::none("gtree"),
            auto_alloc: Attr::none("auto_alloc"),
            tmp: Attr::none("tmp"),
            validate: Attr::none("validate"),
            span: None,
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
            f.span
                .get_or_insert_with(|| syn::spanned::Spanned::span(attr));
            let parsed = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                let key = path_key(&path);
                match key.as_str() {
                    "name" => f.name.set(cx, &path, meta.value()?.parse()?),
                    "since" => f.since.set(cx, &path, meta.value()?.parse()?),
                    "exists" => f.exists.set(cx, &path, meta.value()?.parse()?),
                    "skip" => f.skip.set(cx, &path, ()),
                    "equal" => f.equal.set(cx, &path, ()),
                    "le" => f.le.set(cx, &path, ()),
                    "buffer" => f.buffer.set(cx, &path, ()),
                    "len" => f.len.set(cx, &path, meta.value()?.parse()?),
                    "bitmap" => f.bitmap.set(cx, &path, ()),
                    "bits" => f.bits.set(cx, &path, meta.value()?.parse()?),
                    "unused" => f.unused.set(cx, &path, meta.value()?.parse()?),
                    "subsection" => f.subsection.set(cx, &path, ()),
                    "needed" => f.needed.set(cx, &path, meta.value()?.parse()?),
                    "struct_version" => f.struct_version.set(cx, &path, meta.value()?.parse()?),
                    "qtailq" => f.qtailq.set(cx, &path, ()),
                    "qlist" => f.qlist.set(cx, &path, ()),
                    "gtree" => f.gtree.set(cx, &path, ()),
                    "auto_alloc" => f.auto_alloc.set(cx, &path, ()),
                    "tmp" => f.tmp.set(cx, &path, meta.value()?.parse()?),
                    "validate" => f.validate.set(cx, &path, meta.value()?.parse()?),
                    _ => {
                        skip_value(&meta)?;
                        cx.error_spanned_by(
                            &path,
                            format!(
                                "unknown vmstate field attribute `{key}`; expected one of: \
                                 {FIELD_KEYS}"
                            ),
                        );
                    }
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        f
    }
}

/// Rejects `#[vmstate]` on enum variants, where no attribute applies.
pub fn forbid_on_variant(cx: &Ctxt, attrs: &[syn::Attribute]) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
        cx.error_spanned_by(
            attr,
            "vmstate attributes are not allowed on enum variants; the discriminant is the wire value",
        );
    }
}

fn path_key(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Consumes `= value` or `(...)` after an unknown key so parsing can go on
/// and report further errors.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _group: proc_macro2::Group = meta.input.parse()?;
    }
    Ok(())
}
