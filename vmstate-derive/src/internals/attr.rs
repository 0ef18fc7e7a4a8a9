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
            cx.error_spanned_by(
                at,
                format!(
                    "duplicate vmstate attribute `{}`: it is already given for this item; keep one",
                    self.name
                ),
            );
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
    /// `context = C`: hooks and predicates also get `&C` from the parent.
    pub context: Attr<Type>,
    /// `default`: derive `Default`, arrays of any length included.
    pub default: Flag,
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
            context: Attr::none("context"),
            default: Attr::none("default"),
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
            let parsed = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                let key = path_key(&path);
                match key.as_str() {
                    "name" => set_expr(cx, &meta, &mut c.name)?,
                    "version" => set_expr(cx, &meta, &mut c.version)?,
                    "minimum_version" => set_expr(cx, &meta, &mut c.minimum_version)?,
                    "pre_save" => set_path(cx, &meta, &mut c.pre_save)?,
                    "post_save" => set_path(cx, &meta, &mut c.post_save)?,
                    "pre_load" => set_path(cx, &meta, &mut c.pre_load)?,
                    "post_load" => set_path(cx, &meta, &mut c.post_load)?,
                    "needed" => set_path(cx, &meta, &mut c.needed)?,
                    "crate" => set_path(cx, &meta, &mut c.krate)?,
                    "context" => set_type(cx, &meta, &mut c.context)?,
                    "default" => set_flag(cx, &meta, &mut c.default)?,
                    _ => {
                        skip_value(&meta)?;
                        cx.error_spanned_by(&path, unknown_key(&key, Position::Container));
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

/// Attributes on a field.
pub struct Field {
    pub name: Attr<Expr>,
    pub alias: Attr<Expr>,
    pub since: Attr<Expr>,
    pub exists: Attr<Path>,
    pub skip: Flag,
    pub equal: Flag,
    pub le: Flag,
    pub buffer: Flag,
    pub len: Attr<Expr>,
    pub bitmap: Flag,
    pub bits: Attr<Expr>,
    pub unused: Attr<Expr>,
    /// `subsection` (a field of a subsection type) or `subsection = "name"`
    /// (on `()`: the fields after it form a subsection of this struct).
    pub subsection: Attr<Option<Expr>>,
    pub needed: Attr<Path>,
    /// An inline subsection's `version`, `minimum_version` and hooks.
    pub version: Attr<Expr>,
    pub minimum_version: Attr<Expr>,
    pub pre_save: Attr<Path>,
    pub post_save: Attr<Path>,
    pub pre_load: Attr<Path>,
    pub post_load: Attr<Path>,
    /// `view = field`: wire fields that are a part of another field.
    pub view: Attr<Member>,
    pub index: Attr<Expr>,
    pub start: Attr<Expr>,
    /// `context` (pass this struct's context on) or `context = expr`.
    pub context: Attr<Option<Expr>>,
    /// `default = expr`: the value `#[vmstate(default)]` gives the field.
    pub default: Attr<Expr>,
    pub struct_version: Attr<Expr>,
    pub qtailq: Flag,
    pub qlist: Flag,
    pub gtree: Flag,
    pub auto_alloc: Flag,
    pub tmp: Attr<Type>,
    pub validate: Attr<Path>,
    /// Span of the first `vmstate` attribute, for errors about combinations.
    pub span: Option<Span>,
    /// An attribute of this field could not be parsed; it gets no further
    /// checks.
    pub broken: bool,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut f = Field {
            name: Attr::none("name"),
            alias: Attr::none("alias"),
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
            version: Attr::none("version"),
            minimum_version: Attr::none("minimum_version"),
            pre_save: Attr::none("pre_save"),
            post_save: Attr::none("post_save"),
            pre_load: Attr::none("pre_load"),
            post_load: Attr::none("post_load"),
            view: Attr::none("view"),
            index: Attr::none("index"),
            start: Attr::none("start"),
            context: Attr::none("context"),
            default: Attr::none("default"),
            struct_version: Attr::none("struct_version"),
            qtailq: Attr::none("qtailq"),
            qlist: Attr::none("qlist"),
            gtree: Attr::none("gtree"),
            auto_alloc: Attr::none("auto_alloc"),
            tmp: Attr::none("tmp"),
            validate: Attr::none("validate"),
            span: None,
            broken: false,
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident("vmstate")) {
            f.span
                .get_or_insert_with(|| syn::spanned::Spanned::span(attr));
            let before = cx.error_count();
            let parsed = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                let key = path_key(&path);
                match key.as_str() {
                    "name" => set_expr(cx, &meta, &mut f.name)?,
                    "alias" => set_expr(cx, &meta, &mut f.alias)?,
                    "since" => set_expr(cx, &meta, &mut f.since)?,
                    "exists" => set_path(cx, &meta, &mut f.exists)?,
                    "skip" => set_flag(cx, &meta, &mut f.skip)?,
                    "equal" => set_flag(cx, &meta, &mut f.equal)?,
                    "le" => set_flag(cx, &meta, &mut f.le)?,
                    "buffer" => set_flag(cx, &meta, &mut f.buffer)?,
                    "len" => set_count(cx, &meta, &mut f.len)?,
                    "bitmap" => set_flag(cx, &meta, &mut f.bitmap)?,
                    "bits" => set_count(cx, &meta, &mut f.bits)?,
                    "unused" => set_expr(cx, &meta, &mut f.unused)?,
                    "subsection" => set_optional_expr(cx, &meta, &mut f.subsection)?,
                    "needed" => set_path(cx, &meta, &mut f.needed)?,
                    "version" => set_expr(cx, &meta, &mut f.version)?,
                    "minimum_version" => set_expr(cx, &meta, &mut f.minimum_version)?,
                    "pre_save" => set_path(cx, &meta, &mut f.pre_save)?,
                    "post_save" => set_path(cx, &meta, &mut f.post_save)?,
                    "pre_load" => set_path(cx, &meta, &mut f.pre_load)?,
                    "post_load" => set_path(cx, &meta, &mut f.post_load)?,
                    "view" => set_member(cx, &meta, &mut f.view)?,
                    "index" => set_expr(cx, &meta, &mut f.index)?,
                    "start" => set_expr(cx, &meta, &mut f.start)?,
                    "context" => set_optional_expr(cx, &meta, &mut f.context)?,
                    "default" => set_expr(cx, &meta, &mut f.default)?,
                    "struct_version" => set_expr(cx, &meta, &mut f.struct_version)?,
                    "qtailq" => set_flag(cx, &meta, &mut f.qtailq)?,
                    "qlist" => set_flag(cx, &meta, &mut f.qlist)?,
                    "gtree" => set_flag(cx, &meta, &mut f.gtree)?,
                    "auto_alloc" => set_flag(cx, &meta, &mut f.auto_alloc)?,
                    "tmp" => set_type(cx, &meta, &mut f.tmp)?,
                    "validate" => set_path(cx, &meta, &mut f.validate)?,
                    _ => {
                        skip_value(&meta)?;
                        cx.error_spanned_by(&path, unknown_key(&key, Position::Field));
                    }
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
            // Later checks would only repeat the mistake in other words.
            f.broken |= cx.error_count() > before;
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

/// Where an attribute is written.
#[derive(Clone, Copy, PartialEq)]
enum Position {
    Container,
    Field,
}

const CONTAINER_KEY_LIST: &[&str] = &[
    "name",
    "version",
    "minimum_version",
    "pre_save",
    "post_save",
    "pre_load",
    "post_load",
    "needed",
    "crate",
    "context",
    "default",
];

const FIELD_KEY_LIST: &[&str] = &[
    "name",
    "alias",
    "since",
    "exists",
    "skip",
    "equal",
    "le",
    "buffer",
    "len",
    "bitmap",
    "bits",
    "unused",
    "subsection",
    "needed",
    "struct_version",
    "qtailq",
    "qlist",
    "gtree",
    "auto_alloc",
    "tmp",
    "validate",
    "view",
    "index",
    "start",
    "context",
    "default",
];

/// How a key is written, for messages that say what to write.
fn example(key: &str) -> &'static str {
    match key {
        "name" => "name = \"...\"",
        "alias" => "alias = \"old_name\"",
        "version" => "version = 2",
        "minimum_version" => "minimum_version = 1",
        "pre_save" => "pre_save = Dev::pre_save",
        "post_save" => "post_save = Dev::post_save",
        "pre_load" => "pre_load = Dev::pre_load",
        "post_load" => "post_load = Dev::post_load",
        "needed" => "needed = Dev::is_needed",
        "crate" => "crate = ::vmstate_core",
        "context" => "context = ControllerContext",
        "default" => "default",
        "view" => "view = regs",
        "index" => "index = 3",
        "start" => "start = 8",
        "since" => "since = 2",
        "exists" => "exists = Dev::field_exists",
        "len" => "len = count_field",
        "bits" => "bits = bit_count_field",
        "unused" => "unused = 4",
        "struct_version" => "struct_version = 2",
        "tmp" => "tmp = TmpType",
        "validate" => "validate = Dev::check",
        "skip" => "skip",
        "equal" => "equal",
        "le" => "le",
        "buffer" => "buffer",
        "bitmap" => "bitmap",
        "subsection" => "subsection",
        "qtailq" => "qtailq",
        "qlist" => "qlist",
        "gtree" => "gtree",
        "auto_alloc" => "auto_alloc",
        _ => "",
    }
}

/// Names people reach for from QEMU's C macros or other derives.
fn alias(key: &str) -> Option<&'static str> {
    Some(match key {
        "rename" | "wire_name" => "name",
        "aliases" | "old_name" | "former_name" | "ber_alias" => "alias",
        "version_id" => "version",
        "minimum_version_id" | "min_version" | "min_version_id" => "minimum_version",
        "count" | "length" | "num" | "size" | "varray" => "len",
        "test" | "field_exists" | "if" => "exists",
        "ignore" | "skip_migration" => "skip",
        "struct_version_id" | "vstruct" => "struct_version",
        "padding" | "pad" => "unused",
        "list" => "qtailq",
        "tree" | "map" => "gtree",
        "with_tmp" => "tmp",
        "check" => "validate",
        "vmstate_core" | "krate" => "crate",
        _ => return None,
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The message for a key that does not exist at `pos`.
fn unknown_key(key: &str, pos: Position) -> String {
    let (valid, other, here, there) = match pos {
        Position::Container => (CONTAINER_KEY_LIST, FIELD_KEY_LIST, "container", "field"),
        Position::Field => (FIELD_KEY_LIST, CONTAINER_KEY_LIST, "field", "container"),
    };
    if pos == Position::Field && key == "version" {
        return "`version` belongs on the struct, not on a field: on a field, write `since = 2` \
                for a field added in version 2, or `struct_version = 2` to walk a nested \
                struct at version 2"
            .to_owned();
    }
    if other.contains(&key) {
        return match pos {
            Position::Container => format!(
                "`{key}` is a field attribute, not a {here} attribute: put \
                 `#[vmstate({})]` on the field it is about",
                example(key)
            ),
            Position::Field => format!(
                "`{key}` is a {there} attribute, not a {here} attribute: move it to the \
                 `#[vmstate(...)]` on the struct, e.g. `#[vmstate({})]`",
                example(key)
            ),
        };
    }
    let suggestion = alias(key).filter(|k| valid.contains(k)).or_else(|| {
        valid
            .iter()
            .map(|k| (edit_distance(key, k), *k))
            .filter(|(d, k)| (*d <= 2 && *d < k.len()) || (k.len() >= 3 && key.starts_with(k)))
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    });
    let list = valid.join(", ");
    match suggestion {
        Some(s) => format!(
            "unknown vmstate {here} attribute `{key}`; did you mean `{s}`? (write `{}`; valid \
             {here} attributes: {list})",
            example(s)
        ),
        None => {
            format!("unknown vmstate {here} attribute `{key}`; valid {here} attributes: {list}")
        }
    }
}

/// Checks that `key = value` follows; reports a missing value.
fn has_value(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(true);
    }
    if meta.input.peek(syn::token::Paren) {
        let group: proc_macro2::Group = meta.input.parse()?;
        cx.error_spanned_by(
            group,
            format!(
                "`{key}` takes its value after `=`: write `{}`",
                example(key)
            ),
        );
    } else {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` needs a value: write `{}`", example(key)),
        );
    }
    Ok(false)
}

/// Reports a string where a path, type or field name belongs, and consumes it.
fn quoted(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str, what: &str) -> syn::Result<bool> {
    if !meta.input.peek(syn::LitStr) {
        return Ok(false);
    }
    let lit: syn::LitStr = meta.input.parse()?;
    cx.error_spanned_by(
        &lit,
        format!(
            "`{key}` takes {what}, not a string: remove the quotes, `{key} = {}`",
            lit.value()
        ),
    );
    Ok(true)
}

fn set_expr(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Attr<Expr>) -> syn::Result<()> {
    if has_value(cx, meta, attr.name)? {
        let value = meta.value()?.parse()?;
        attr.set(cx, &meta.path, value);
    }
    Ok(())
}

fn set_path(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Attr<Path>) -> syn::Result<()> {
    if has_value(cx, meta, attr.name)? {
        let input = meta.value()?;
        let what = if attr.name == "crate" {
            "a path"
        } else {
            "the path of a function"
        };
        if !quoted(cx, meta, attr.name, what)? {
            let value = input.parse()?;
            attr.set(cx, &meta.path, value);
        }
    }
    Ok(())
}

fn set_member(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Attr<Member>) -> syn::Result<()> {
    if has_value(cx, meta, attr.name)? {
        let input = meta.value()?;
        if !quoted(cx, meta, attr.name, "the name of a field")? {
            let value = input.parse()?;
            attr.set(cx, &meta.path, value);
        }
    }
    Ok(())
}

/// A count: the name of another field, a constant or an expression of `self`.
fn set_count(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Attr<Expr>) -> syn::Result<()> {
    if has_value(cx, meta, attr.name)? {
        let input = meta.value()?;
        if !quoted(
            cx,
            meta,
            attr.name,
            "a field name, a constant or an expression",
        )? {
            let value = input.parse()?;
            attr.set(cx, &meta.path, value);
        }
    }
    Ok(())
}

/// A key that is a flag on its own or takes a value: `subsection` or
/// `subsection = "dev/sub"`, `context` or `context = expr`.
fn set_optional_expr(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attr: &mut Attr<Option<Expr>>,
) -> syn::Result<()> {
    if meta.input.peek(syn::token::Paren) {
        let group: proc_macro2::Group = meta.input.parse()?;
        cx.error_spanned_by(
            group,
            format!(
                "`{0}` takes its value after `=`: write `{0}` alone or `{0} = ...`",
                attr.name
            ),
        );
        return Ok(());
    }
    if meta.input.peek(syn::Token![=]) {
        let value = meta.value()?.parse()?;
        attr.set(cx, &meta.path, Some(value));
    } else {
        attr.set(cx, &meta.path, None);
    }
    Ok(())
}

fn set_type(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Attr<Type>) -> syn::Result<()> {
    if has_value(cx, meta, attr.name)? {
        let input = meta.value()?;
        if !quoted(cx, meta, attr.name, "a type")? {
            let value = input.parse()?;
            attr.set(cx, &meta.path, value);
        }
    }
    Ok(())
}

fn set_flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, attr: &mut Flag) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        let value = skip_value(meta)?;
        cx.error_spanned_by(
            value,
            format!(
                "`{0}` takes no value: write just `{0}`, e.g. `#[vmstate({0})]`",
                attr.name
            ),
        );
        return Ok(());
    }
    attr.set(cx, &meta.path, ());
    Ok(())
}

/// Consumes `= value` or `(...)` after a key so parsing can go on and report
/// further errors; returns what was consumed.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    let mut out = TokenStream::new();
    if meta.input.peek(syn::Token![=]) {
        let eq: syn::Token![=] = meta.input.parse()?;
        let value: Expr = meta.input.parse()?;
        eq.to_tokens(&mut out);
        value.to_tokens(&mut out);
    } else if meta.input.peek(syn::token::Paren) {
        let group: proc_macro2::Group = meta.input.parse()?;
        group.to_tokens(&mut out);
    }
    Ok(out)
}
