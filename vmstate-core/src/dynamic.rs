//! State described at run time: a [`Description`] built from a stream's
//! vmdesc (or any other description that only exists at run time), and a
//! [`DynamicState`] holding one section's values as that description says.
//!
//! # One walk, borrowed descriptions
//!
//! A derived type's description is a `const`: `&'static Description<'static>`.
//! A run-time description borrows its names, fields and nested descriptions
//! from a [`DescriptionArena`], so it is a `&'a Description<'a>` for the
//! arena's lifetime `'a`. The [`Visitor`] trait has that lifetime as a
//! parameter (`Visitor<'d>`), and so does [`Walk`]: derived types implement
//! `Walk<'d>` for every `'d`, a `DynamicState<'d>` for its own. Every visitor
//! (the QEMUFile reader and writer, the pretty-printer, the vmdesc writer,
//! the token recorder) runs over both, through the same
//! [`visit_struct_at`]: version checks, fields, subsection framing and error
//! paths are the same code for typed and dynamic state. The derive pays
//! nothing for this: its descriptions stay `const` and `'static`.
//!
//! ```
//! use vmstate_core::dynamic::{DescriptionArena, DynamicState};
//!
//! let entry = serde_json::json!({
//!     "name": "pit", "instance_id": 0, "vmsd_name": "pit", "version": 1,
//!     "fields": [
//!         {"name": "mode", "type": "uint8", "size": 1},
//!         {"name": "count", "array_len": 2, "type": "uint16", "size": 2},
//!     ],
//! });
//! let arena = DescriptionArena::new();
//! let description = arena.section(&entry)?;
//! let body = [3, 0, 1, 0, 2];
//! let mut state = DynamicState::load_from_slice(description, &body, 1)?;
//! assert_eq!(vmstate_core::dynamic::save_to_vec(&mut state)?, body);
//! assert_eq!(
//!     vmstate_core::dynamic::pretty_print(&mut state)?,
//!     "pit.mode = (uint8) 0x3\npit.count[0] = (uint16) 0x1\npit.count[1] = (uint16) 0x2\n"
//! );
//! # Ok::<(), vmstate_core::Error>(())
//! ```
//!
//! Loading a dynamic state takes what the stream holds: `equal` and `le`
//! fields are loaded as plain integers (there is no destination
//! configuration to compare with) and shown under their own type names.

use std::borrow::Cow;

use bumpalo::Bump;
use qemufile::{QemuRead, QemuWrite, SliceReader};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::state::owned;
use crate::{
    Description, Error, ErrorKind, FieldDescription, InputVisitor, Layout, Limit, Limits,
    OutputVisitor, PathSegment, PrettyPrinter, Result, Timer, Visitor, VmdescEntry, Walk, WireType,
    visit_struct_at,
};

/// How deep run-time descriptions may nest (structs in structs, subsections).
pub const MAX_DEPTH: usize = 64;

/// Owns the pieces of run-time [`Description`]s: names, field lists, layouts
/// and nested descriptions. Descriptions borrow from it and live as long as it.
///
/// Every section description it builds is checked against its [`Limits`]
/// ([`WalkCost`]): the memory of its values, its largest array or buffer,
/// and its elements that take no input. A vmdesc is untrusted, and a
/// [`DynamicState`] allocates its values before it reads them.
#[derive(Default)]
pub struct DescriptionArena {
    bump: Bump,
    limits: Limits,
}

impl std::fmt::Debug for DescriptionArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DescriptionArena")
            .field("allocated_bytes", &self.bump.allocated_bytes())
            .finish()
    }
}

#[cold]
fn bad(path: &str, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidDescription(format!("{path}: {message}")))
}

impl DescriptionArena {
    /// An empty arena, with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty arena whose descriptions must stay within `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        DescriptionArena {
            bump: Bump::new(),
            limits,
        }
    }

    /// The limits descriptions are checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes the arena holds.
    pub fn allocated_bytes(&self) -> usize {
        self.bump.allocated_bytes()
    }

    /// The description of one section from its vmdesc `"devices"` entry (or
    /// any object with `"vmsd_name"`, `"version"`, `"fields"` and
    /// `"subsections"`, such as a nested `"struct"`), as JSON.
    pub fn section<'a>(&'a self, entry: &Json) -> Result<&'a Description<'a>> {
        let object = VmdescObject::deserialize(entry).map_err(|e| bad("vmdesc entry", e))?;
        self.section_from(&object)
    }

    /// The description of one section from its parsed vmdesc entry.
    pub fn section_from<'a>(&'a self, entry: &VmdescObject<'_>) -> Result<&'a Description<'a>> {
        // Sections saved without a VMStateDescription (QEMU's legacy
        // `save_state` handlers, e.g. s390-skeys) have no "vmsd_name": their
        // entry's "name" (the idstr) names them.
        let name = entry
            .vmsd_name
            .as_deref()
            .or(entry.name.as_deref())
            .ok_or_else(|| bad("vmdesc entry", "no \"vmsd_name\" string"))?;
        let description = self.description(entry.vmsd_name.as_deref(), entry, name, 0)?;
        WalkCost::of(description).check(&self.limits, name)?;
        Ok(description)
    }

    fn str<'a>(&'a self, s: &str) -> &'a str {
        self.bump.alloc_str(s)
    }

    fn description<'a>(
        &'a self,
        vmsd_name: Option<&str>,
        obj: &VmdescObject<'_>,
        path: &str,
        depth: usize,
    ) -> Result<&'a Description<'a>> {
        self.describe(
            vmsd_name,
            obj.version,
            obj.fields.as_deref(),
            obj.subsections.as_deref(),
            path,
            depth,
        )
    }

    fn describe<'a>(
        &'a self,
        vmsd_name: Option<&str>,
        version: Option<u64>,
        fields: Option<&[VmdescField<'_>]>,
        subsections: Option<&[VmdescObject<'_>]>,
        path: &str,
        depth: usize,
    ) -> Result<&'a Description<'a>> {
        if depth > MAX_DEPTH {
            return Err(bad(path, format!("nested more than {MAX_DEPTH} deep")));
        }
        let name = match vmsd_name {
            Some(n) => n,
            None if depth == 0 => path,
            None => return Err(bad(path, "no \"vmsd_name\" string")),
        };
        let version = match version {
            None => 0,
            Some(v) => {
                u32::try_from(v).map_err(|_| bad(path, format!("\"version\" {v} is not a u32")))?
            }
        };
        let fields = fields.unwrap_or(&[]);
        let mut built: Vec<FieldDescription<'a>> = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            let fd = self.field(f, path, i, built.last(), depth)?;
            built.push(fd);
        }
        correct_first_pointer_run(&mut built);
        let subs = subsections.unwrap_or(&[]);
        let mut nested: Vec<&'a Description<'a>> = Vec::with_capacity(subs.len());
        for (i, s) in subs.iter().enumerate() {
            let sub_path = match s.vmsd_name.as_deref() {
                Some(n) => n.to_owned(),
                None => format!("{path}.subsections[{i}]"),
            };
            nested.push(self.description(s.vmsd_name.as_deref(), s, &sub_path, depth + 1)?);
        }
        Ok(self.bump.alloc(Description {
            name: self.str(name),
            version_id: version,
            // A stream's description is the one version it was saved at.
            minimum_version_id: version,
            fields: self.bump.alloc_slice_fill_iter(built),
            subsections: self.bump.alloc_slice_fill_iter(nested),
        }))
    }

    fn field<'a>(
        &'a self,
        f: &VmdescField<'_>,
        parent: &str,
        i: usize,
        previous: Option<&FieldDescription<'a>>,
        depth: usize,
    ) -> Result<FieldDescription<'a>> {
        let name = f
            .name
            .as_deref()
            .ok_or_else(|| bad(parent, format!("field {i} has no \"name\" string")))?;
        // The field's path, for errors and nested descriptions only.
        let path = || format!("{parent}.{name}");
        let ty = f
            .type_name
            .as_deref()
            .ok_or_else(|| bad(&path(), "no \"type\" string"))?;
        let (size, index, array_len) = (f.size, f.index, f.array_len);
        let element = self.element(f, ty, size, &path, depth)?;
        // Entries of one name that number their elements on from the entry
        // before (indexed elements, the last one without "index" in QEMU
        // 10.0; NULL-pointer runs) are elements of one C array.
        let continues = previous.is_some_and(|p| {
            p.name == name
                && p.vmdesc
                    .is_some_and(|e| e.index.is_some() || e.array_len.is_some() || e.continues)
        });
        let first_element = match (index, continues, previous.and_then(|p| p.vmdesc)) {
            (Some(i), _, _) => i,
            (None, true, Some(p)) => p.first_element + p.array_len.unwrap_or(1),
            _ => 0,
        };
        let entry = VmdescEntry {
            type_name: self.str(ty),
            index,
            array_len,
            size,
            first_element,
            continues,
        };
        let is_array = array_len.is_some() || index.is_some() || continues;
        let layout = if is_array {
            let len = usize::try_from(array_len.unwrap_or(1))
                .map_err(|_| bad(&path(), "\"array_len\" does not fit in memory"))?;
            Layout::Array {
                len,
                element: self.bump.alloc(element),
            }
        } else {
            element
        };
        Ok(FieldDescription {
            name: self.str(name),
            layout,
            since: 0,
            has_exists_predicate: false,
            aliases: &[],
            vmdesc: Some(entry),
        })
    }

    fn element<'a>(
        &'a self,
        f: &VmdescField<'_>,
        ty: &str,
        size: Option<u64>,
        path: &dyn Fn() -> String,
        depth: usize,
    ) -> Result<Layout<'a>> {
        let sized = |what: &str| -> Result<usize> {
            let n = size.ok_or_else(|| bad(&path(), format!("{what} field without \"size\"")))?;
            usize::try_from(n)
                .map_err(|_| bad(&path(), format!("\"size\" {n} does not fit in memory")))
        };
        Ok(match ty {
            "struct" | "vstruct" => {
                let nested = f
                    .nested
                    .as_deref()
                    .ok_or_else(|| bad(&path(), format!("{ty} field without \"struct\"")))?;
                let description =
                    self.description(nested.vmsd_name.as_deref(), nested, &path(), depth + 1)?;
                Layout::Struct {
                    description,
                    pinned_version: (ty == "vstruct").then_some(description.version_id),
                }
            }
            // QEMU writes a tmp's description into the field's own entry;
            // it is walked as the struct it is, if it covers the bytes.
            "tmp" if f.fields.is_some() => {
                let description = self.describe(
                    f.vmsd_name.as_deref(),
                    f.version,
                    f.fields.as_deref(),
                    None,
                    &path(),
                    depth + 1,
                )?;
                match (description.fixed_size(), size) {
                    (Some(n), Some(m)) if n as u64 == m => Layout::Tmp(description),
                    _ => Layout::Info {
                        name: self.str(ty),
                        size: Some(sized(ty)?),
                    },
                }
            }
            "nullptr" | "ptr-marker" => Layout::Scalar(WireType::PtrMarker),
            "buffer" => Layout::Buffer(sized("buffer")?),
            "unused_buffer" => Layout::Unused(sized("unused_buffer")?),
            _ => match WireType::from_name(ty) {
                Some(w)
                    if w.fixed_size().is_some()
                        && w.fixed_size().map(|n| n as u64)
                            == size.or(w.fixed_size().map(|n| n as u64)) =>
                {
                    Layout::Scalar(w)
                }
                // Everything else (device-specific VMStateInfos, tmp,
                // lists, trees, bitmaps, scalars of an unexpected size) is
                // its bytes, shown under its type name.
                _ => Layout::Info {
                    name: self.str(ty),
                    size: Some(sized(ty)?),
                },
            },
        })
    }
}

/// QEMU 10.0 describes an array of pointers in runs of NULL and non-NULL
/// elements, but when the first element is not NULL its run keeps the whole
/// array's length as `"array_len"` (the save loop's NULL-change check starts
/// from "not NULL", so nothing makes it count the run), and the runs after it
/// are counted twice: the s390 `css` array with images 0 and 0xfe is
/// described as 256 images, 253 NULLs, 1 image, 1 NULL. The entries after
/// the first say how many elements they hold and the first claims the whole
/// array, so its run is the difference. Only the layout changes: the entry
/// keeps what QEMU wrote, so the vmdesc is written back as it was.
fn correct_first_pointer_run(fields: &mut [FieldDescription<'_>]) {
    let is_null = |f: &FieldDescription<'_>| {
        f.vmdesc
            .is_some_and(|e| matches!(e.type_name, "nullptr" | "ptr-marker"))
    };
    let count = |f: &FieldDescription<'_>| f.vmdesc.and_then(|e| e.array_len).unwrap_or(1);
    let mut start = 0;
    while start < fields.len() {
        let run = fields[start + 1..]
            .iter()
            .take_while(|f| f.vmdesc.is_some_and(|e| e.continues))
            .count();
        let (first, rest) = fields[start..=start + run].split_at_mut(1);
        start += run + 1;
        let first = &mut first[0];
        let (Some(claimed), false, true) = (
            first.vmdesc.and_then(|e| e.array_len),
            is_null(first),
            rest.iter().any(is_null),
        ) else {
            continue;
        };
        let later: u64 = rest.iter().map(count).fold(0, u64::saturating_add);
        if later >= claimed {
            continue;
        }
        let own = claimed - later;
        if let Layout::Array { len, .. } = &mut first.layout {
            *len = usize::try_from(own).unwrap_or(*len);
        }
        let mut next = first.vmdesc.map_or(0, |e| e.first_element) + own;
        for f in rest.iter_mut() {
            if let Some(e) = f.vmdesc.as_mut() {
                if e.index.is_none() {
                    e.first_element = next;
                }
                next = e.first_element + e.array_len.unwrap_or(1);
            }
        }
    }
}

/// What walking a run-time description costs, from the description alone:
/// a vmdesc declares every count (`array_len`, buffer sizes), so the cost is
/// known before a byte of the body is read. Counts saturate at `u64::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkCost {
    /// Memory the values of a [`DynamicState`] of it take, subsections
    /// included, in bytes.
    pub memory: u64,
    /// The largest single allocation among them (one array or buffer).
    pub largest_allocation: u64,
    /// Elements the walk visits that take no bytes of input (empty
    /// structs, zero-size buffers), subsections included.
    pub unpaid_elements: u64,
    /// The fewest input bytes a body of it takes (without subsections).
    pub min_input: u64,
}

impl WalkCost {
    /// The cost of `description`.
    pub fn of(description: &Description<'_>) -> WalkCost {
        let mut cost = WalkCost {
            memory: (std::mem::size_of::<DynamicState<'_>>() as u64).saturating_add(
                (description.subsections.len() * std::mem::size_of::<Option<DynamicState<'_>>>())
                    as u64,
            ),
            ..WalkCost::default()
        };
        for f in description.fields {
            let field = WalkCost::of_layout(&f.layout);
            cost.add(field);
            cost.min_input = cost.min_input.saturating_add(field.min_input);
        }
        for sub in description.subsections {
            cost.add(WalkCost::of(sub));
        }
        cost
    }

    /// The cost of one value of `layout` (as a field or array element).
    pub(crate) fn of_layout(layout: &Layout<'_>) -> WalkCost {
        let value = std::mem::size_of::<Value<'_>>() as u64;
        let leaf = |n: u64, heap: u64| WalkCost {
            memory: value.saturating_add(heap),
            largest_allocation: heap,
            unpaid_elements: u64::from(n == 0),
            min_input: n,
        };
        match *layout {
            Layout::Scalar(w) => leaf(w.fixed_size().unwrap_or(1) as u64, 0),
            Layout::Buffer(n) | Layout::Info { size: Some(n), .. } => leaf(n as u64, n as u64),
            Layout::Unused(n) => leaf(n as u64, 0),
            Layout::Struct { description, .. } | Layout::Tmp(description) => {
                let inner = WalkCost::of(description);
                WalkCost {
                    memory: value.saturating_add(inner.memory),
                    unpaid_elements: inner
                        .unpaid_elements
                        .saturating_add(u64::from(inner.min_input == 0)),
                    ..inner
                }
            }
            Layout::Array { len, element } => {
                let len = len as u64;
                let one = WalkCost::of_layout(element);
                // Arrays of these integers are kept as plain vectors.
                let packed = match *element {
                    Layout::Scalar(
                        w @ (WireType::Uint8
                        | WireType::Uint16
                        | WireType::Uint32
                        | WireType::Uint64
                        | WireType::Int32),
                    ) => w.fixed_size().map(|n| n as u64),
                    _ => None,
                };
                let (vector, per_element) = match packed {
                    Some(n) => (len.saturating_mul(n), n),
                    None => (len.saturating_mul(value), one.memory),
                };
                WalkCost {
                    memory: value.saturating_add(len.saturating_mul(per_element)),
                    largest_allocation: vector.max(one.largest_allocation),
                    unpaid_elements: len.saturating_mul(one.unpaid_elements),
                    min_input: len.saturating_mul(one.min_input),
                }
            }
            // Run-time descriptions have no other layouts.
            _ => leaf(0, 0),
        }
    }

    fn add(&mut self, other: WalkCost) {
        self.memory = self.memory.saturating_add(other.memory);
        self.largest_allocation = self.largest_allocation.max(other.largest_allocation);
        self.unpaid_elements = self.unpaid_elements.saturating_add(other.unpaid_elements);
    }

    /// Refuses a cost beyond `limits` for the section named `name`.
    pub fn check(&self, limits: &Limits, name: &str) -> Result<()> {
        limits.check(Limit::MaxAllocation, self.largest_allocation, || {
            format!("the largest array or buffer of section {name}")
        })?;
        limits.check(Limit::SectionMemory, self.memory, || {
            format!("the values of section {name}")
        })?;
        limits.check(Limit::UnpaidElements, self.unpaid_elements, || {
            format!("the elements of section {name} that take no input")
        })?;
        Ok(())
    }
}

/// A vmdesc JSON object as QEMU writes it: a device entry (with `"name"`
/// and `"instance_id"`), a nested `"struct"`, a subsection. Names borrow
/// from the JSON text where they can.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VmdescObject<'a> {
    /// `"name"`: a device entry's idstr.
    pub name: Option<Cow<'a, str>>,
    /// `"instance_id"`: a device entry's instance id.
    pub instance_id: Option<u64>,
    /// `"vmsd_name"`: the description's name.
    pub vmsd_name: Option<Cow<'a, str>>,
    /// `"version"`: the version it was saved at.
    pub version: Option<u64>,
    /// `"fields"`.
    pub fields: Option<Vec<VmdescField<'a>>>,
    /// `"subsections"`: those that were sent.
    pub subsections: Option<Vec<VmdescObject<'a>>>,
}

/// One vmdesc field entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VmdescField<'a> {
    /// `"name"` (made unique by QEMU: `unused[1]`).
    pub name: Option<Cow<'a, str>>,
    /// `"type"`: the `VMStateInfo` name, `struct`, `vstruct`, `nullptr`.
    pub type_name: Option<Cow<'a, str>>,
    /// `"size"`: bytes of one element.
    pub size: Option<u64>,
    /// `"index"`: the element this entry describes.
    pub index: Option<u64>,
    /// `"array_len"`: elements this entry describes.
    pub array_len: Option<u64>,
    /// `"struct"`: a nested description.
    pub nested: Option<Box<VmdescObject<'a>>>,
    /// A `tmp`'s (or a list's) own description, written into the entry by
    /// QEMU: `"vmsd_name"` ...
    pub vmsd_name: Option<Cow<'a, str>>,
    /// ... `"version"` ...
    pub version: Option<u64>,
    /// ... and `"fields"`.
    pub fields: Option<Vec<VmdescField<'a>>>,
}

/// A whole vmdesc: `{"page_size": ..., "configuration": {...}, "devices": [...]}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VmdescDocument<'a> {
    /// `"page_size"`: the target page size.
    pub page_size: Option<u64>,
    /// `"configuration"`: the configuration section's description.
    pub configuration: Option<VmdescObject<'a>>,
    /// `"devices"`: one entry per device section.
    pub devices: Option<Vec<VmdescObject<'a>>>,
}

/// A string borrowed from the JSON text when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Deserializes a vmdesc object type key by key. A key given twice keeps its
/// last value, as Python's `json` (QEMU's analyzer) reads it: QEMU repeats
/// `"vmsd_name"`, `"version"` and `"fields"` in the entry of a list with
/// several elements. Unknown keys are ignored.
macro_rules! vmdesc_object {
    ($ty:ident { $($key:literal => $field:ident: $kind:ident),* $(,)? }) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a vmdesc ", stringify!($ty), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> std::result::Result<$ty<'de>, A::Error> {
                        let mut out = $ty::default();
                        while let Some(key) = map.next_key::<Text<'de>>()? {
                            match key.0.as_ref() {
                                $($key => out.$field = vmdesc_object!(@value map $kind),)*
                                _ => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
    (@value $map:ident text) => { Some($map.next_value::<Text<'de>>()?.0) };
    (@value $map:ident boxed) => { Some(Box::new($map.next_value()?)) };
    (@value $map:ident value) => { Some($map.next_value()?) };
}

vmdesc_object!(VmdescObject {
    "name" => name: text,
    "instance_id" => instance_id: value,
    "vmsd_name" => vmsd_name: text,
    "version" => version: value,
    "fields" => fields: value,
    "subsections" => subsections: value,
});

vmdesc_object!(VmdescField {
    "name" => name: text,
    "type" => type_name: text,
    "size" => size: value,
    "index" => index: value,
    "array_len" => array_len: value,
    "struct" => nested: boxed,
    "vmsd_name" => vmsd_name: text,
    "version" => version: value,
    "fields" => fields: value,
});

vmdesc_object!(VmdescDocument {
    "page_size" => page_size: value,
    "configuration" => configuration: value,
    "devices" => devices: value,
});

impl<'a> VmdescDocument<'a> {
    /// Parses a vmdesc JSON text.
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        serde_json::from_slice(text).map_err(|e| {
            Error::new(ErrorKind::InvalidDescription(format!(
                "vmdesc JSON, line {} column {}: {e}",
                e.line(),
                e.column()
            )))
        })
    }
}

/// The value of one field of a [`DynamicState`], as its [`Layout`] says.
///
/// `equal` and `le` integers are held as the plain integer of their width.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value<'d> {
    /// `bool`.
    Bool(bool),
    /// `int8`.
    I8(i8),
    /// `int16`.
    I16(i16),
    /// `int32`, `int32 equal`, `int32 le`.
    I32(i32),
    /// `int64`.
    I64(i64),
    /// `uint8`, `uint8 equal`.
    U8(u8),
    /// `uint16`, `uint16 equal`.
    U16(u16),
    /// `uint32`, `uint32 equal`.
    U32(u32),
    /// `uint64`, `int64 equal`.
    U64(u64),
    /// `CPU_Double_U`.
    F64(f64),
    /// `timer`.
    Timer(Timer),
    /// A NULL pointer (`nullptr` / `ptr-marker` `0x30`).
    Null,
    /// A `ptr-marker` `0x31` of an auto-allocated pointer: the element,
    /// described by the next entry, follows.
    Present,
    /// `unused_buffer`: nothing is kept (zeros are written).
    Unused,
    /// `buffer`, or a type known only by name and size (`pci config`, `tmp`, ...).
    Bytes(Vec<u8>),
    /// An array of `uint8`.
    U8s(Vec<u8>),
    /// An array of `uint16`.
    U16s(Vec<u16>),
    /// An array of `uint32`.
    U32s(Vec<u32>),
    /// An array of `uint64`.
    U64s(Vec<u64>),
    /// An array of `int32`.
    I32s(Vec<i32>),
    /// Any other array.
    List(Vec<Value<'d>>),
    /// A nested struct.
    Struct(Box<DynamicState<'d>>),
}

impl<'d> Value<'d> {
    /// The zero value of `layout`.
    pub fn zero(layout: &'d Layout<'d>) -> Result<Value<'d>> {
        Ok(match *layout {
            Layout::Scalar(w) => match w {
                WireType::Bool => Value::Bool(false),
                WireType::Int8 => Value::I8(0),
                WireType::Int16 => Value::I16(0),
                WireType::Int32 | WireType::Int32Equal | WireType::Int32Le => Value::I32(0),
                WireType::Int64 => Value::I64(0),
                WireType::Uint8 | WireType::Uint8Equal => Value::U8(0),
                WireType::Uint16 | WireType::Uint16Equal => Value::U16(0),
                WireType::Uint32 | WireType::Uint32Equal => Value::U32(0),
                WireType::Uint64 | WireType::Uint64Equal => Value::U64(0),
                WireType::CpuDouble => Value::F64(0.0),
                WireType::Timer => Value::Timer(Timer::not_armed()),
                WireType::PtrMarker => Value::Null,
                other => return Err(Error::msg(format!("no dynamic value for a {other} scalar"))),
            },
            Layout::Buffer(n) | Layout::Info { size: Some(n), .. } => {
                Limits::DEFAULT.check(Limit::MaxAllocation, n as u64, || {
                    format!("a buffer of {n} bytes")
                })?;
                Value::Bytes(vec![0; n])
            }
            Layout::Unused(_) => Value::Unused,
            // Counted by an earlier field: empty until a walk sizes them.
            Layout::VarBuffer { .. } => Value::Bytes(Vec::new()),
            Layout::VarArray { element, .. } => empty_array(element),
            Layout::Struct { description, .. } | Layout::Tmp(description) => {
                Value::Struct(Box::new(DynamicState::new(description)?))
            }
            Layout::Array { len, element } => {
                // Descriptions from an arena are within its limits; bound
                // hand-made ones by the defaults before allocating.
                let bytes = WalkCost::of_layout(layout).largest_allocation;
                Limits::DEFAULT.check(Limit::MaxAllocation, bytes, || {
                    format!("an array of {len} elements")
                })?;
                match *element {
                    Layout::Scalar(WireType::Uint8) => Value::U8s(vec![0; len]),
                    Layout::Scalar(WireType::Uint16) => Value::U16s(vec![0; len]),
                    Layout::Scalar(WireType::Uint32) => Value::U32s(vec![0; len]),
                    Layout::Scalar(WireType::Uint64) => Value::U64s(vec![0; len]),
                    Layout::Scalar(WireType::Int32) => Value::I32s(vec![0; len]),
                    _ => Value::List(
                        (0..len)
                            .map(|_| Value::zero(element))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                }
            }
            _ => {
                return Err(Error::msg(
                    "this layout has no dynamic value (only vmdesc layouts do)",
                ));
            }
        })
    }
}

/// The value of one section (or nested struct, or subsection) as a run-time
/// [`Description`] says: what QEMU's analyzer decodes from a stream with its
/// vmdesc, walked by every [`Visitor`] like a derived struct.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicState<'d> {
    description: &'d Description<'d>,
    values: Vec<Value<'d>>,
    /// By the description's subsections: `Some` when sent.
    subsections: Vec<Option<DynamicState<'d>>>,
}

impl<'d> DynamicState<'d> {
    /// The zero state of `description`, with no subsection sent.
    pub fn new(description: &'d Description<'d>) -> Result<Self> {
        let values = description
            .fields
            .iter()
            .map(|f| {
                Value::zero(&f.layout).map_err(|e| e.within(PathSegment::Field(owned(f.name))))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DynamicState {
            description,
            values,
            subsections: vec![None; description.subsections.len()],
        })
    }

    /// Loads the state saved at `version_id` from `input` (a section body):
    /// exactly the fields and subsections the description has, as
    /// [`crate::load`] does for a typed one. Error paths start at the
    /// description's name.
    pub fn load<R: QemuRead>(
        description: &'d Description<'d>,
        input: R,
        version_id: u32,
    ) -> Result<Self> {
        Self::load_as(description, input, version_id, description.name)
    }

    /// [`load`](Self::load), with error paths starting at `root` (a stream
    /// section's name).
    pub fn load_as<R: QemuRead>(
        description: &'d Description<'d>,
        input: R,
        version_id: u32,
        root: &str,
    ) -> Result<Self> {
        let root_of = |e: Error| e.within(PathSegment::Root(owned(root)));
        let mut state = DynamicState::new(description).map_err(root_of)?;
        let mut v = InputVisitor::new(input);
        visit_struct_at(&mut state, &mut v, description.name, version_id).map_err(root_of)?;
        Ok(state)
    }

    /// Loads `bytes`, the whole body saved at `version_id`.
    pub fn load_from_slice(
        description: &'d Description<'d>,
        bytes: &[u8],
        version_id: u32,
    ) -> Result<Self> {
        let mut reader = SliceReader::new(bytes);
        let state = DynamicState::load(description, &mut reader, version_id)?;
        crate::leftover(&reader, description)
            .map_err(|e| e.within(PathSegment::Root(owned(description.name))))?;
        Ok(state)
    }

    /// The description.
    pub fn description(&self) -> &'d Description<'d> {
        self.description
    }

    /// The fields with their values, in wire order.
    pub fn fields(&self) -> impl Iterator<Item = (&'d FieldDescription<'d>, &Value<'d>)> {
        self.description.fields.iter().zip(&self.values)
    }

    /// The value of field number `index` (of [`Description::fields`]).
    pub fn value_mut(&mut self, index: usize) -> Option<&mut Value<'d>> {
        self.values.get_mut(index)
    }

    /// The first field named `name`.
    pub fn field(&self, name: &str) -> Option<&Value<'d>> {
        let i = self
            .description
            .fields
            .iter()
            .position(|f| f.name == name)?;
        self.values.get(i)
    }

    /// The number of values it holds (scalars, buffers and array elements,
    /// nested structs and subsections included): one line each in a dump.
    pub fn value_count(&self) -> u64 {
        fn count(v: &Value<'_>) -> u64 {
            match v {
                Value::U8s(x) => x.len() as u64,
                Value::U16s(x) => x.len() as u64,
                Value::U32s(x) => x.len() as u64,
                Value::U64s(x) => x.len() as u64,
                Value::I32s(x) => x.len() as u64,
                Value::List(items) => items.iter().map(count).sum(),
                Value::Struct(s) => s.value_count(),
                _ => 1,
            }
        }
        self.values.iter().map(count).sum::<u64>()
            + self
                .subsections()
                .map(DynamicState::value_count)
                .sum::<u64>()
    }

    /// The subsections that were sent, in description order.
    pub fn subsections(&self) -> impl Iterator<Item = &DynamicState<'d>> {
        self.subsections.iter().flatten()
    }

    /// The subsection `name`, if it was sent.
    pub fn subsection(&self, name: &str) -> Option<&DynamicState<'d>> {
        let i = self.description.subsection_index(name.as_bytes())?;
        self.subsections.get(i)?.as_ref()
    }
}

impl<'d> DynamicState<'d> {
    /// [`Walk::walk_fields`] of a description with counted fields
    /// ([`Layout::VarArray`], [`Layout::VarBuffer`], which edits that resize
    /// build): each is as long as the earlier field it names says.
    #[cold]
    fn walk_counted_fields<V: Visitor<'d>>(&mut self, v: &mut V) -> Result<()> {
        let fields = self.description.fields;
        for (k, fd) in fields.iter().enumerate() {
            let (before, rest) = self.values.split_at_mut(k);
            let Some(value) = rest.first_mut() else { break };
            let walked = v.enter_field(k).and_then(|()| {
                if !v.field_absent() {
                    match fd.layout {
                        Layout::VarArray {
                            count_field,
                            element,
                            ..
                        } => {
                            let n = count_of(&fields[..k], before, count_field)?;
                            walk_counted_array(v, fd.name, element, n, value)?;
                        }
                        Layout::VarBuffer { len_field } => {
                            let n = count_of(&fields[..k], before, len_field)?;
                            walk_counted_buffer(v, fd.name, n, value)?;
                        }
                        _ => walk_field(v, fd, value)?,
                    }
                }
                v.leave_field()
            });
            walked.map_err(|e| {
                e.within(PathSegment::Field(owned(&self.description.unique_name(k))))
            })?;
        }
        Ok(())
    }
}

impl<'d> Walk<'d> for DynamicState<'d> {
    fn description(&self) -> &'d Description<'d> {
        self.description
    }

    fn walk_fields<V: Visitor<'d>>(&mut self, v: &mut V, _version_id: u32) -> Result<()> {
        let fields = self.description.fields;
        let counted = |f: &FieldDescription<'_>| {
            matches!(f.layout, Layout::VarArray { .. } | Layout::VarBuffer { .. })
        };
        if fields.iter().any(counted) {
            return self.walk_counted_fields(v);
        }
        for (k, (fd, value)) in fields.iter().zip(self.values.iter_mut()).enumerate() {
            let walked = v.enter_field(k).and_then(|()| {
                // A field the input does not have keeps its value (BER).
                if !v.field_absent() {
                    walk_field(v, fd, value)?;
                }
                v.leave_field()
            });
            walked.map_err(|e| {
                e.within(PathSegment::Field(owned(&self.description.unique_name(k))))
            })?;
        }
        Ok(())
    }

    fn walk_subsection_needed(&self, index: usize) -> bool {
        self.subsections.get(index).is_some_and(Option::is_some)
    }

    fn walk_subsection<V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()> {
        let d = self.description.subsections[index];
        let slot = &mut self.subsections[index];
        if V::LOADING || slot.is_none() {
            *slot = Some(DynamicState::new(d)?);
        }
        match slot {
            Some(sub) => visit_struct_at(sub, v, d.name, version_id),
            None => Ok(()),
        }
    }
}

fn walk_field<'d, V: Visitor<'d>>(
    v: &mut V,
    fd: &'d FieldDescription<'d>,
    value: &mut Value<'d>,
) -> Result<()> {
    let first = fd.vmdesc.map_or(0, |e| e.first_element);
    match (&fd.layout, value) {
        (Layout::Array { len, element }, value) => {
            let size = element.fixed_size().unwrap_or(0);
            v.enter_array(fd.name, *len, size)?;
            match value {
                // Runs from the first element go to the visitor at once.
                Value::U8s(items) if first == 0 => v.visit_u8_slice(fd.name, items)?,
                Value::U16s(items) if first == 0 => v.visit_u16_slice(fd.name, items)?,
                Value::U32s(items) if first == 0 => v.visit_u32_slice(fd.name, items)?,
                Value::U64s(items) if first == 0 => v.visit_u64_slice(fd.name, items)?,
                Value::I32s(items) if first == 0 => v.visit_i32_slice(fd.name, items)?,
                other => {
                    let mut element_value = None;
                    for i in 0..*len {
                        let index = usize::try_from(first)
                            .unwrap_or(usize::MAX)
                            .saturating_add(i);
                        v.enter_element(index)?;
                        let walked = match &mut *other {
                            Value::List(items) => walk_value(v, fd.name, element, &mut items[i]),
                            scalars => {
                                // A continued run of scalars: one element at a time.
                                let e = element_value.insert(take_scalar(scalars, i, element)?);
                                let r = walk_value(v, fd.name, element, e);
                                put_scalar(scalars, i, e);
                                r
                            }
                        };
                        walked.map_err(|e| e.within(PathSegment::Index(index)))?;
                        v.leave_element()?;
                    }
                }
            }
            v.leave_array()
        }
        (layout, value) => walk_value(v, fd.name, layout, value),
    }
}

/// The empty array of `element`s, of the kind [`Value::zero`] makes.
fn empty_array<'d>(element: &Layout<'_>) -> Value<'d> {
    match *element {
        Layout::Scalar(WireType::Uint8) => Value::U8s(Vec::new()),
        Layout::Scalar(WireType::Uint16) => Value::U16s(Vec::new()),
        Layout::Scalar(WireType::Uint32) => Value::U32s(Vec::new()),
        Layout::Scalar(WireType::Uint64) => Value::U64s(Vec::new()),
        Layout::Scalar(WireType::Int32) => Value::I32s(Vec::new()),
        _ => Value::List(Vec::new()),
    }
}

/// The value of the count field `name` (the nearest field of that name
/// before the counted one): the number of elements or bytes it counts.
fn count_of(fields: &[FieldDescription<'_>], values: &[Value<'_>], name: &str) -> Result<usize> {
    let Some(k) = fields.iter().rposition(|f| f.name == name) else {
        return Err(Error::msg(format!(
            "its count field `{name}` is not a field before it"
        )));
    };
    let n: i128 = match values.get(k) {
        Some(Value::U8(x)) => (*x).into(),
        Some(Value::U16(x)) => (*x).into(),
        Some(Value::U32(x)) => (*x).into(),
        Some(Value::U64(x)) => (*x).into(),
        Some(Value::I8(x)) => (*x).into(),
        Some(Value::I16(x)) => (*x).into(),
        Some(Value::I32(x)) => (*x).into(),
        Some(Value::I64(x)) => (*x).into(),
        _ => {
            return Err(Error::msg(format!(
                "its count field `{name}` is not an integer"
            )));
        }
    };
    usize::try_from(n).map_err(|_| {
        Error::msg(format!(
            "its count field `{name}` is {n}: a count is not negative"
        ))
    })
}

/// The elements of a counted array (`VMSTATE_VARRAY_*`): as many as its
/// count field says. The walk makes the value that long first: loading
/// visitors are asked for the memory ([`Visitor::allocate`]); saving, new
/// elements are the zero value of their layout and elements past the
/// count are dropped, so that setting the count resizes the array.
fn walk_counted_array<'d, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    element: &'d Layout<'d>,
    n: usize,
    value: &mut Value<'d>,
) -> Result<()> {
    let size = element.fixed_size().unwrap_or(0);
    let one = WalkCost::of_layout(element).memory.max(1);
    let have = array_len(value);
    if n > have {
        let added = ((n - have) as u64).saturating_mul(one);
        v.allocate(added, (n as u64).saturating_mul(one))?;
    }
    resize_array(value, n, element)?;
    v.enter_array(name, n, size)?;
    match value {
        Value::U8s(items) => v.visit_u8_slice(name, items)?,
        Value::U16s(items) => v.visit_u16_slice(name, items)?,
        Value::U32s(items) => v.visit_u32_slice(name, items)?,
        Value::U64s(items) => v.visit_u64_slice(name, items)?,
        Value::I32s(items) => v.visit_i32_slice(name, items)?,
        Value::List(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                v.enter_element(i)?;
                walk_value(v, name, element, item).map_err(|e| e.within(PathSegment::Index(i)))?;
                v.leave_element()?;
            }
        }
        other => return Err(mismatch(name, element, other)),
    }
    v.leave_array()
}

/// The bytes of a counted buffer (`VMSTATE_VBUFFER`): as many as its length
/// field says (zeros appended, or the end dropped, when saving).
fn walk_counted_buffer<'d, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    n: usize,
    value: &mut Value<'d>,
) -> Result<()> {
    match value {
        Value::Bytes(bytes) => {
            if !V::LOADING {
                bytes.resize(n, 0);
            }
            v.visit_buffer_vec(name, bytes, n)
        }
        other => Err(mismatch(name, &Layout::Buffer(n), other)),
    }
}

fn array_len(value: &Value<'_>) -> usize {
    match value {
        Value::U8s(x) => x.len(),
        Value::U16s(x) => x.len(),
        Value::U32s(x) => x.len(),
        Value::U64s(x) => x.len(),
        Value::I32s(x) => x.len(),
        Value::List(x) => x.len(),
        _ => 0,
    }
}

/// Makes the array `n` elements long: new elements are zero values.
fn resize_array<'d>(value: &mut Value<'d>, n: usize, element: &'d Layout<'d>) -> Result<()> {
    match value {
        Value::U8s(x) => x.resize(n, 0),
        Value::U16s(x) => x.resize(n, 0),
        Value::U32s(x) => x.resize(n, 0),
        Value::U64s(x) => x.resize(n, 0),
        Value::I32s(x) => x.resize(n, 0),
        Value::List(x) => {
            x.truncate(n);
            while x.len() < n {
                x.push(Value::zero(element)?);
            }
        }
        other => return Err(mismatch("array", element, other)),
    }
    Ok(())
}

fn take_scalar<'d>(items: &Value<'d>, i: usize, element: &'d Layout<'d>) -> Result<Value<'d>> {
    Ok(match items {
        Value::U8s(x) => Value::U8(x[i]),
        Value::U16s(x) => Value::U16(x[i]),
        Value::U32s(x) => Value::U32(x[i]),
        Value::U64s(x) => Value::U64(x[i]),
        Value::I32s(x) => Value::I32(x[i]),
        _ => Value::zero(element)?,
    })
}

fn put_scalar(items: &mut Value<'_>, i: usize, value: &Value<'_>) {
    match (items, value) {
        (Value::U8s(x), Value::U8(e)) => x[i] = *e,
        (Value::U16s(x), Value::U16(e)) => x[i] = *e,
        (Value::U32s(x), Value::U32(e)) => x[i] = *e,
        (Value::U64s(x), Value::U64(e)) => x[i] = *e,
        (Value::I32s(x), Value::I32(e)) => x[i] = *e,
        _ => {}
    }
}

#[cold]
fn mismatch(name: &str, layout: &Layout<'_>, value: &Value<'_>) -> Error {
    Error::msg(format!(
        "field {name}: a {} value does not fit its {} layout",
        value_kind(value),
        layout.type_name()
    ))
}

fn value_kind(value: &Value<'_>) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::I8(_) | Value::I16(_) | Value::I32(_) | Value::I64(_) => "signed integer",
        Value::U8(_) | Value::U16(_) | Value::U32(_) | Value::U64(_) => "unsigned integer",
        Value::F64(_) => "double",
        Value::Timer(_) => "timer",
        Value::Null => "NULL",
        Value::Present => "present marker",
        Value::Unused => "unused",
        Value::Bytes(_) => "bytes",
        Value::U8s(_) | Value::U16s(_) | Value::U32s(_) | Value::U64s(_) | Value::I32s(_) => {
            "integer array"
        }
        Value::List(_) => "array",
        Value::Struct(_) => "struct",
    }
}

fn walk_value<'d, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    layout: &'d Layout<'d>,
    value: &mut Value<'d>,
) -> Result<()> {
    // A dynamic state takes what the stream holds: `equal` and `le` load as
    // plain integers and are shown (saved) under their own types.
    let plain = V::LOADING;
    match (layout, value) {
        (Layout::Scalar(w), value) => match (*w, value) {
            (WireType::Bool, Value::Bool(x)) => v.visit_bool(name, x),
            (WireType::Int8, Value::I8(x)) => v.visit_i8(name, x),
            (WireType::Int16, Value::I16(x)) => v.visit_i16(name, x),
            (WireType::Int32, Value::I32(x)) => v.visit_i32(name, x),
            (WireType::Int32Equal, Value::I32(x)) if !plain => v.visit_i32_equal(name, x),
            (WireType::Int32Le, Value::I32(x)) if !plain => v.visit_i32_le(name, x),
            (WireType::Int32Equal | WireType::Int32Le, Value::I32(x)) => v.visit_i32(name, x),
            (WireType::Int64, Value::I64(x)) => v.visit_i64(name, x),
            (WireType::Uint8, Value::U8(x)) => v.visit_u8(name, x),
            (WireType::Uint8Equal, Value::U8(x)) if !plain => v.visit_u8_equal(name, x),
            (WireType::Uint8Equal, Value::U8(x)) => v.visit_u8(name, x),
            (WireType::Uint16, Value::U16(x)) => v.visit_u16(name, x),
            (WireType::Uint16Equal, Value::U16(x)) if !plain => v.visit_u16_equal(name, x),
            (WireType::Uint16Equal, Value::U16(x)) => v.visit_u16(name, x),
            (WireType::Uint32, Value::U32(x)) => v.visit_u32(name, x),
            (WireType::Uint32Equal, Value::U32(x)) if !plain => v.visit_u32_equal(name, x),
            (WireType::Uint32Equal, Value::U32(x)) => v.visit_u32(name, x),
            (WireType::Uint64, Value::U64(x)) => v.visit_u64(name, x),
            (WireType::Uint64Equal, Value::U64(x)) if !plain => v.visit_u64_equal(name, x),
            (WireType::Uint64Equal, Value::U64(x)) => v.visit_u64(name, x),
            (WireType::CpuDouble, Value::F64(x)) => v.visit_f64(name, x),
            (WireType::Timer, Value::Timer(x)) => v.visit_timer(name, x),
            (WireType::PtrMarker, marker @ (Value::Null | Value::Present)) => {
                let mut present = matches!(marker, Value::Present);
                v.visit_ptr_marker(name, &mut present, true)?;
                *marker = if present { Value::Present } else { Value::Null };
                Ok(())
            }
            (_, value) => Err(mismatch(name, layout, value)),
        },
        (Layout::Buffer(n), Value::Bytes(bytes)) => v.visit_buffer_vec(name, bytes, *n),
        (Layout::Info { name: ty, size }, Value::Bytes(bytes)) => {
            v.visit_opaque(name, ty, bytes, size.unwrap_or(0))
        }
        (Layout::Unused(n), Value::Unused) => v.visit_unused(name, *n),
        (Layout::Tmp(description), Value::Struct(state)) => {
            if !std::ptr::eq(state.description, *description) {
                **state = DynamicState::new(description)?;
            }
            visit_struct_at(&mut **state, v, name, description.version_id)
        }
        (
            Layout::Struct {
                description,
                pinned_version,
            },
            Value::Struct(state),
        ) => {
            if !std::ptr::eq(state.description, *description) {
                **state = DynamicState::new(description)?;
            }
            let version = pinned_version.unwrap_or(description.version_id);
            visit_struct_at(&mut **state, v, name, version)
        }
        (layout, value) => Err(mismatch(name, layout, value)),
    }
}

/// Saves `state` (a section body) into a new byte vector, with the
/// QEMUFile output visitor.
pub fn save_to_vec(state: &mut DynamicState<'_>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    save(state, &mut out)?;
    Ok(out)
}

/// Saves `state` (a section body) into `out`.
pub fn save<W: QemuWrite>(state: &mut DynamicState<'_>, out: W) -> Result<()> {
    let mut v = OutputVisitor::new(out);
    let d = state.description;
    visit_struct_at(state, &mut v, d.name, d.version_id)
        .map_err(|e| e.within(PathSegment::Root(owned(d.name))))
}

/// The pretty dump of `state`, as [`crate::pretty_print`] prints a typed value.
pub fn pretty_print(state: &mut DynamicState<'_>) -> Result<String> {
    let mut p = PrettyPrinter::new(String::new());
    let d = state.description;
    visit_struct_at(state, &mut p, d.name, d.version_id)?;
    Ok(p.into_inner())
}
