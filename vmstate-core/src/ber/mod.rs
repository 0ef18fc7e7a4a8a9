//! Self-describing state: BER (ASN.1 Basic Encoding Rules, with DER's
//! canonical choices) that survives schema change.
//!
//! QEMU's wire format is not self-describing: a field is found by its
//! position, so a type changed on one side loads wrong values silently. In
//! this format every struct carries its description's name and version,
//! every field its name, every value its wire type, so a loader finds
//! fields by name, as Protobuf does:
//!
//! * fields may come in any order;
//! * a field the destination does not know is skipped (and listed:
//!   [`LoadReport::unknown_fields`]);
//! * a field the input lacks keeps the destination's value, unless the
//!   destination has it at the version the input was written at (a
//!   *required* field: it was removed or renamed on the writer's side), then
//!   the load fails naming it ([`ErrorKind::MissingField`](crate::ErrorKind::MissingField));
//!   a renamed field keeps loading with `#[vmstate(alias = "old")]`;
//! * an integer loads into any integer type (other width or sign) when its
//!   value fits, else the load fails naming the field
//!   ([`ErrorKind::LossyConversion`](crate::ErrorKind::LossyConversion)); a
//!   `bool` loads from 0 or 1;
//! * an array of another length, a struct of another name, a version below
//!   the destination's `minimum_version` and a subsection the destination
//!   does not have are refused, naming the field.
//!
//! The encoding is in `docs/ber-format.md` at the root of the repository.
//! Both visitors work on `#[derive(VmState)]` types and on
//! [`DynamicState`](crate::dynamic::DynamicState) alike, and [`stream`]
//! carries whole QEMU migration streams, RAM included, and converts them
//! back byte for byte.
//!
//! ```
//! use vmstate_core::VmState;
//!
//! #[derive(VmState, Clone, Default, Debug, PartialEq)]
//! #[vmstate(name = "dev", version = 1)]
//! struct V1 { ctrl: u16, mode: u8 }
//!
//! // Version 2 widened `ctrl`, renamed `mode`, added `irq`.
//! #[derive(VmState, Clone, Default, Debug, PartialEq)]
//! #[vmstate(name = "dev", version = 2, minimum_version = 1)]
//! struct V2 {
//!     ctrl: u32,
//!     #[vmstate(alias = "mode")]
//!     op_mode: u8,
//!     #[vmstate(since = 2)]
//!     irq: u8,
//! }
//!
//! let bytes = vmstate_core::ber::save_to_vec(&mut V1 { ctrl: 0x1234, mode: 3 })?;
//! let mut new = V2 { irq: 9, ..V2::default() };
//! vmstate_core::ber::load(&mut new, &bytes)?;
//! assert_eq!(new, V2 { ctrl: 0x1234, op_mode: 3, irq: 9 });
//! # Ok::<(), vmstate_core::Error>(())
//! ```
//!
//! Loading walks the destination at the version of the input (the struct's
//! own version when the input is newer): `post_load` and `exists`
//! predicates see the version the input was written at, as with QEMU's
//! format.

mod input;
mod output;
mod plan;
mod stack;
pub mod stream;
mod tlv;
mod unknown;

pub use input::BerInputVisitor;
pub use output::BerOutputVisitor;
pub use tlv::{Code, tags};
pub use unknown::Unknown;

use crate::state::owned;
use crate::{Description, Error, Limits, PathSegment, Result, VmState, Walk, visit_struct_at};
use tlv::{malformed, put_integer, put_len, put_str, read_tlv, read_uint};

/// The string that opens every document: the header's first element.
pub const MAGIC: &str = "vmstate-ber";

/// The version of the format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// How a BER load treats differences between the input and the
/// destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BerOptions {
    /// Accept structs written at a newer version than the destination's own
    /// (default true: fields are found by name, so a newer writer's state
    /// loads wherever the fields the destination needs are there).
    pub accept_newer: bool,
    /// Refuse an input that lacks a field the destination has at the
    /// input's version (default true). When false, such fields keep the
    /// destination's value too.
    pub require_fields: bool,
    /// What the input may make the load allocate.
    pub limits: Limits,
}

impl Default for BerOptions {
    fn default() -> Self {
        BerOptions {
            accept_newer: true,
            require_fields: true,
            limits: Limits::DEFAULT,
        }
    }
}

/// A field of the input that the destination does not have: skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// The description of the struct it was in.
    pub description: String,
    /// Its name.
    pub name: String,
    /// The offset of its values in the input.
    pub offset: u64,
}

/// What a load found besides the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The version the input's root struct was written at.
    pub version: u32,
    /// Fields of the input the destination does not have: skipped, or
    /// kept when the load keeps what it does not know ([`load_keeping`]).
    pub unknown_fields: Vec<UnknownField>,
    /// Subsections of the input the destination does not have, kept
    /// ([`load_keeping`]; other loads refuse them).
    pub unknown_subsections: Vec<UnknownField>,
}

/// What a document holds after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// One struct: a device's state.
    State,
    /// A whole migration stream ([`stream`]).
    Stream,
}

impl DocumentKind {
    fn name(self) -> &'static str {
        match self {
            DocumentKind::State => "state",
            DocumentKind::Stream => "stream",
        }
    }
}

/// A description the writer used, as its header lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The description's name.
    pub name: String,
    /// Its version (the one the writer writes).
    pub version: u32,
    /// In a stream: the section's idstr and instance id.
    pub section: Option<(String, u32)>,
}

/// The header of a document: readable without knowing the payload's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// What follows.
    pub kind: DocumentKind,
    /// The writer's descriptions: for a state, every description of its
    /// tree (nested structs and subsections); for a stream, each device
    /// section's.
    pub descriptions: Vec<HeaderEntry>,
    /// A stream's vmdesc JSON (the descriptions of its device sections in
    /// QEMU's format), if it has one.
    pub vmdesc: Option<Vec<u8>>,
}

impl Header {
    /// Appends the header TLV to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut content = Vec::new();
        put_str(&mut content, MAGIC);
        put_integer(&mut content, u64::from(self.format_version));
        put_str(&mut content, self.kind.name());
        let mut list = Vec::new();
        for d in &self.descriptions {
            let mut one = Vec::new();
            put_str(&mut one, &d.name);
            put_integer(&mut one, u64::from(d.version));
            if let Some((idstr, instance)) = &d.section {
                put_str(&mut one, idstr);
                put_integer(&mut one, u64::from(*instance));
            }
            list.push(tags::SEQUENCE);
            put_len(&mut list, one.len());
            list.extend_from_slice(&one);
        }
        content.push(tags::SEQUENCE);
        put_len(&mut content, list.len());
        content.extend_from_slice(&list);
        if let Some(json) = &self.vmdesc {
            content.push(tags::OCTET_STRING);
            put_len(&mut content, json.len());
            content.extend_from_slice(json);
        }
        out.push(tags::HEADER);
        put_len(out, content.len());
        out.extend_from_slice(&content);
    }

    /// Parses the header at the start of `bytes`; returns it and its length.
    pub fn parse(bytes: &[u8]) -> Result<(Header, usize)> {
        let bad = |at: usize, m: &str| malformed(at as u64, m.to_owned());
        if !is_ber(bytes) {
            return Err(bad(
                0,
                "not a vmstate BER document: it does not start with the vmstate-ber header",
            ));
        }
        let h = read_tlv(bytes, 0, bytes.len(), 0)?;
        let mut at = h.content;
        let next = |at: &mut usize, expect: u8, what: &str| -> Result<tlv::Tlv> {
            let t = read_tlv(bytes, *at, h.end, 0)?;
            if t.tag != expect {
                return Err(bad(t.start, &format!("the header's {what} is missing")));
            }
            *at = t.end;
            Ok(t)
        };
        next(&mut at, tags::UTF8_STRING, "magic")?;
        let v = next(&mut at, tags::INTEGER, "format version")?;
        let format_version = read_uint(&bytes[v.content..v.end], v.content as u64)?;
        if format_version != u64::from(FORMAT_VERSION) {
            return Err(bad(
                v.start,
                &format!(
                    "format version {format_version}: this build reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let k = next(&mut at, tags::UTF8_STRING, "document kind")?;
        let kind = match &bytes[k.content..k.end] {
            b"state" => DocumentKind::State,
            b"stream" => DocumentKind::Stream,
            _ => return Err(bad(k.start, "unknown document kind")),
        };
        let list = next(&mut at, tags::SEQUENCE, "list of descriptions")?;
        let mut descriptions = Vec::new();
        let mut p = list.content;
        while p < list.end {
            let one = read_tlv(bytes, p, list.end, 0)?;
            p = one.end;
            if one.tag != tags::SEQUENCE {
                return Err(bad(one.start, "a description entry is a SEQUENCE"));
            }
            let mut q = one.content;
            let mut parts = Vec::new();
            while q < one.end {
                let t = read_tlv(bytes, q, one.end, 0)?;
                q = t.end;
                parts.push(t);
            }
            let text =
                |t: &tlv::Tlv| String::from_utf8_lossy(&bytes[t.content..t.end]).into_owned();
            let number = |t: &tlv::Tlv| -> Result<u32> {
                let n = read_uint(&bytes[t.content..t.end], t.content as u64)?;
                u32::try_from(n).map_err(|_| bad(t.start, "a number above 2^32 - 1"))
            };
            let entry = match parts.as_slice() {
                [n, v] if n.tag == tags::UTF8_STRING && v.tag == tags::INTEGER => HeaderEntry {
                    name: text(n),
                    version: number(v)?,
                    section: None,
                },
                [n, v, s, i]
                    if n.tag == tags::UTF8_STRING
                        && v.tag == tags::INTEGER
                        && s.tag == tags::UTF8_STRING
                        && i.tag == tags::INTEGER =>
                {
                    HeaderEntry {
                        name: text(n),
                        version: number(v)?,
                        section: Some((text(s), number(i)?)),
                    }
                }
                _ => {
                    return Err(bad(
                        one.start,
                        "a description entry is a name and a version (and a section's idstr and instance)",
                    ));
                }
            };
            descriptions.push(entry);
        }
        let mut vmdesc = None;
        if at < h.end {
            let t = next(&mut at, tags::OCTET_STRING, "vmdesc")?;
            vmdesc = Some(bytes[t.content..t.end].to_vec());
        }
        if at != h.end {
            return Err(bad(at, "unknown elements at the end of the header"));
        }
        Ok((
            Header {
                format_version: FORMAT_VERSION,
                kind,
                descriptions,
                vmdesc,
            },
            h.end,
        ))
    }

    /// The header of a state document of `description`: every description
    /// of its tree, once, in the order first met.
    pub fn for_state(description: &Description<'_>) -> Header {
        let mut seen: Vec<*const Description<'_>> = Vec::new();
        let mut out = Vec::new();
        collect(description, &mut seen, &mut out, 0);
        Header {
            format_version: FORMAT_VERSION,
            kind: DocumentKind::State,
            descriptions: out,
            vmdesc: None,
        }
    }
}

fn collect<'a>(
    d: &'a Description<'a>,
    seen: &mut Vec<*const Description<'a>>,
    out: &mut Vec<HeaderEntry>,
    depth: usize,
) {
    if depth > crate::dynamic::MAX_DEPTH || seen.contains(&std::ptr::from_ref(d)) {
        return;
    }
    seen.push(d);
    if !out
        .iter()
        .any(|e| e.name == d.name && e.version == d.version_id)
    {
        out.push(HeaderEntry {
            name: d.name.to_owned(),
            version: d.version_id,
            section: None,
        });
    }
    for f in d.fields {
        if let Some(nested) = f.layout.description() {
            collect(nested, seen, out, depth + 1);
        }
    }
    for s in d.subsections {
        collect(s, seen, out, depth + 1);
    }
}

/// True if `bytes` starts with the header of a vmstate BER document (the
/// first 16 bytes tell).
pub fn is_ber(bytes: &[u8]) -> bool {
    let Ok(Some(head)) = tlv::read_head(bytes, 0) else {
        return false;
    };
    let rest = &bytes[head.header.min(bytes.len())..];
    head.tag == tags::HEADER
        && rest.len() >= 2 + MAGIC.len()
        && rest[0] == tags::UTF8_STRING
        && usize::from(rest[1]) == MAGIC.len()
        && &rest[2..2 + MAGIC.len()] == MAGIC.as_bytes()
}

/// Appends the struct TLV of `value` (walked at its own version) to `out`:
/// no header (for embedding, as a stream's sections do).
///
/// The bytes that open each field are computed once per description of
/// the program and reused by every save.
pub fn save_struct<T: VmState>(value: &mut T, out: &mut Vec<u8>) -> Result<()> {
    let mut v = BerOutputVisitor::for_static(out);
    save_with(value, &mut v)
}

/// [`save_struct`] for any walk, a [`DynamicState`](crate::dynamic::DynamicState)
/// of run-time descriptions included (their precomputed bytes are kept for
/// this save only).
pub fn save_walk<'d, T: Walk<'d>>(value: &mut T, out: &mut Vec<u8>) -> Result<()> {
    let mut v = BerOutputVisitor::new(out);
    save_with(value, &mut v)
}

fn save_with<'d: 'o, 'o, T: Walk<'d>>(value: &mut T, v: &mut BerOutputVisitor<'o>) -> Result<()> {
    let d = value.description();
    visit_struct_at(value, v, d.name, d.version_id)
        .map_err(|e| e.within(PathSegment::Root(owned(d.name))))
}

/// The header of a state document and where its struct begins; a whole
/// stream's document is refused with a pointer to the stream converter.
fn state_header(bytes: &[u8]) -> Result<(Header, usize)> {
    let (header, at) = Header::parse(bytes)?;
    if header.kind != DocumentKind::State {
        return Err(Error::msg(
            "this BER document is a whole stream, not one state: convert it with \
             vmstate_core::ber::stream",
        ));
    }
    Ok((header, at))
}

/// Appends a whole state document of `value` to `out`: the header, then its
/// struct.
pub fn save<T: VmState>(value: &mut T, out: &mut Vec<u8>) -> Result<()> {
    Header::for_state(T::DESCRIPTION).write(out);
    save_struct(value, out)
}

/// A whole state document of `value`.
pub fn save_to_vec<T: VmState>(value: &mut T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    save(value, &mut out)?;
    Ok(out)
}

/// Loads a state document into `value`, with the default [`BerOptions`].
/// Transactional: `value` is unchanged unless everything succeeded.
pub fn load<T: VmState + Clone>(value: &mut T, bytes: &[u8]) -> Result<LoadReport> {
    load_with(value, bytes, &BerOptions::default())
}

/// Loads a state document into `value`, with `options`. Transactional.
pub fn load_with<T: VmState + Clone>(
    value: &mut T,
    bytes: &[u8],
    options: &BerOptions,
) -> Result<LoadReport> {
    let (_, at) = state_header(bytes)?;
    let mut scratch = value.clone();
    let report = load_struct(&mut scratch, &bytes[at..], at as u64, options)?;
    *value = scratch;
    Ok(report)
}

/// Loads one struct TLV (no header) into `value`, in place (not
/// transactional: on error `value` may be partly loaded). `base` is the
/// offset of `bytes[0]` in the whole input, for errors.
pub fn load_struct<T: VmState>(
    value: &mut T,
    bytes: &[u8],
    base: u64,
    options: &BerOptions,
) -> Result<LoadReport> {
    let mut v = BerInputVisitor::for_static(bytes, base, *options);
    load_with_visitor(value, &mut v)
}

/// [`load_struct`] for any walk, a [`DynamicState`](crate::dynamic::DynamicState)
/// of run-time descriptions included.
pub fn load_walk<'d, T: Walk<'d>>(
    value: &mut T,
    bytes: &[u8],
    base: u64,
    options: &BerOptions,
) -> Result<LoadReport> {
    let mut v = BerInputVisitor::new(bytes, base, *options);
    load_with_visitor(value, &mut v)
}

fn load_with_visitor<'d, T: Walk<'d>>(
    value: &mut T,
    v: &mut BerInputVisitor<'_, 'd>,
) -> Result<LoadReport> {
    let d = value.description();
    let root = |e: Error| e.within(PathSegment::Root(owned(d.name)));
    let (_, version) = v.root_head_of(d).map_err(root)?;
    // The input's version, or the destination's own when the input is newer.
    let walk = version.min(d.version_id);
    visit_struct_at(value, v, d.name, walk).map_err(root)?;
    Ok(LoadReport {
        version,
        unknown_fields: v.take_unknown_fields(),
        unknown_subsections: v.take_unknown_subsections(),
    })
}

/// A `VmState` type that keeps what a BER input holds and its schema does
/// not know, to write it back: its schema says "keep what I do not know".
///
/// The type holds an [`Unknown`] in a field the walk does not visit
/// (`#[vmstate(skip)]`) and hands it out here. [`load_keeping`] then keeps,
/// in every struct of the tree (nested structs, array elements,
/// subsections), the fields and subsections the schema does not have
/// (unknown subsections are kept instead of refused), and
/// [`save_keeping`] writes them back where they were, with each struct's
/// version as the input had it when newer:
///
/// ```
/// use vmstate_core::VmState;
/// use vmstate_core::ber::{self, KeepUnknown, Unknown};
///
/// #[derive(VmState, Clone, Default, Debug, PartialEq)]
/// #[vmstate(name = "dev", version = 1)]
/// struct Old {
///     ctrl: u16,
///     #[vmstate(skip)]
///     unknown: Unknown,
/// }
/// impl KeepUnknown for Old {
///     fn unknown(&mut self) -> &mut Unknown {
///         &mut self.unknown
///     }
/// }
///
/// #[derive(VmState, Clone, Default, Debug, PartialEq)]
/// #[vmstate(name = "dev", version = 2)]
/// struct New {
///     ctrl: u16,
///     #[vmstate(since = 2)]
///     irq: u8,
/// }
///
/// let doc = ber::save_to_vec(&mut New { ctrl: 1, irq: 9 })?;
/// let mut old = Old::default();
/// ber::load_keeping(&mut old, &doc)?;
/// old.ctrl = 2;
/// let back = ber::save_keeping_to_vec(&mut old)?;
/// let mut new = New::default();
/// ber::load(&mut new, &back)?;
/// assert_eq!(new, New { ctrl: 2, irq: 9 });
/// # Ok::<(), vmstate_core::Error>(())
/// ```
pub trait KeepUnknown: VmState {
    /// Where this value keeps what its schema does not know.
    fn unknown(&mut self) -> &mut Unknown;
}

/// [`save`] of a [`KeepUnknown`] value: writes back what it kept, and the
/// header of the document it was loaded from (with this writer's
/// descriptions added).
pub fn save_keeping<T: KeepUnknown>(value: &mut T, out: &mut Vec<u8>) -> Result<()> {
    let unknown = std::mem::take(value.unknown());
    let mut header = Header::for_state(T::DESCRIPTION);
    if let Some(kept) = &unknown.header {
        header.descriptions = merge_header(kept, &header.descriptions);
    }
    header.write(out);
    let saved = save_struct_keeping(value, &unknown, out);
    *value.unknown() = unknown;
    saved
}

/// A whole document of a [`KeepUnknown`] value ([`save_keeping`]).
pub fn save_keeping_to_vec<T: KeepUnknown>(value: &mut T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    save_keeping(value, &mut out)?;
    Ok(out)
}

/// [`load`] into a [`KeepUnknown`] value: keeps what its schema does not
/// know in its [`Unknown`] (replacing what it held). Transactional.
pub fn load_keeping<T: KeepUnknown + Clone>(value: &mut T, bytes: &[u8]) -> Result<LoadReport> {
    load_keeping_with(value, bytes, &BerOptions::default())
}

/// [`load_keeping`] with `options`. Transactional.
pub fn load_keeping_with<T: KeepUnknown + Clone>(
    value: &mut T,
    bytes: &[u8],
    options: &BerOptions,
) -> Result<LoadReport> {
    let (header, at) = state_header(bytes)?;
    let mut scratch = value.clone();
    let mut unknown = Unknown::default();
    let report = load_struct_keeping(&mut scratch, &bytes[at..], at as u64, options, &mut unknown)?;
    unknown.header = Some(header.descriptions);
    *scratch.unknown() = unknown;
    *value = scratch;
    Ok(report)
}

/// [`save_struct`], writing back what `unknown` kept.
pub fn save_struct_keeping<T: VmState>(
    value: &mut T,
    unknown: &Unknown,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut v = BerOutputVisitor::for_static(out).writing_back(unknown);
    save_with(value, &mut v)
}

/// [`load_struct`], keeping in `unknown` (replacing what it held) the
/// fields and subsections `value`'s schema does not know. Not
/// transactional.
pub fn load_struct_keeping<T: VmState>(
    value: &mut T,
    bytes: &[u8],
    base: u64,
    options: &BerOptions,
    unknown: &mut Unknown,
) -> Result<LoadReport> {
    let mut v = BerInputVisitor::for_static(bytes, base, *options).keeping_unknown();
    let report = load_with_visitor(value, &mut v)?;
    *unknown = v.take_kept();
    Ok(report)
}

/// The header entries of a document saved back: the input's, in its order
/// (an entry of ours of the same name with a newer version replaces the
/// version), then ours it lacks.
fn merge_header(kept: &[HeaderEntry], ours: &[HeaderEntry]) -> Vec<HeaderEntry> {
    let mut out: Vec<HeaderEntry> = kept.to_vec();
    for e in &mut out {
        if let Some(o) = ours.iter().find(|o| o.name == e.name) {
            e.version = e.version.max(o.version);
        }
    }
    for o in ours {
        if !out.iter().any(|e| e.name == o.name) {
            out.push(o.clone());
        }
    }
    out
}
