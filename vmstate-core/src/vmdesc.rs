//! The vmdesc: the JSON description QEMU appends to a stream (after EOF) so
//! that tools can split each device section into named, typed fields.
//!
//! [`VmdescVisitor`] saves a value exactly like [`OutputVisitor`] and, in the
//! same walk, writes the JSON QEMU's `vmstate_save_vmsd` writes for it: per
//! field `name` (made unique as `name[k]`), `array_len` for compressible arrays
//! or `index` per element, `type` (QEMU's `VMStateInfo` name, `struct`,
//! `vstruct`), a nested `struct` object, and `size`, the bytes actually
//! written; `subsections` only when at least one was sent.
//!
//! `"index"` and `"array_len"` follow QEMU 10.0's `max_elems`: an element
//! is described as part of an array while more than one element is left
//! from it, so the last element of an uncompressed array has no `"index"`.
//! An array of pointers (`[Option<T>; N]`) is described in runs: where the
//! elements change between NULL and non-NULL a new entry begins (even after
//! a compressed one), its `max_elems` the length of the run; a NULL is an
//! entry of type `nullptr` and size 1, which always compresses. A first run
//! of non-NULL elements is not a change in QEMU, so its `"array_len"` is the
//! whole array's. The walk announces the NULLs with
//! [`Visitor::pointer_nulls`] so that the runs can be measured ahead.

use qemufile::QemuWrite;

use crate::json::JsonWriter;
use crate::{
    Description, Error, FieldDescription, Layout, OutputVisitor, Result, Timer, Visitor, Walk,
    visit_struct,
};

/// How the events of the current field map to vmdesc entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldMode {
    /// One entry covering everything until the field ends.
    Single,
    /// One entry per element (or one compressed entry).
    Elements,
    /// No entry: a `validate` check has no elements (QEMU: `num` = 0).
    Silent,
}

#[derive(Debug)]
struct FieldCtx<'d> {
    description: &'d FieldDescription<'d>,
    /// `name` or `name[k]`.
    name: String,
    mode: FieldMode,
    compress: bool,
    /// Events nested inside the field (arrays, structs) still open.
    depth: usize,
    /// Number of elements (Elements mode), known at `enter_array`.
    n_elems: usize,
    /// Depth at which the innermost array's elements are visited.
    leaf_depth: usize,
    /// Elements described so far (their `index`).
    elements_seen: usize,
    /// JSON is switched off for the elements after a compressed first one.
    suppressing: bool,
    /// Position where the current entry started.
    entry_start: u64,
    /// The JSON entry of the current element is open.
    entry_open: bool,
    /// A compressed array already described its first element.
    compressed_done: bool,
    /// A gtree's first call (its count) does not end the field.
    expect_tree_end: bool,
    /// Started by `enter_field`: only `leave_field` ends it.
    explicit: bool,
    /// The elements are pointers that may be NULL (`VMS_ARRAY_OF_POINTER`).
    pointers: bool,
    /// Per element, whether it is NULL (told by `pointer_nulls`).
    nulls: Vec<bool>,
    /// QEMU's `is_prev_null`: whether the current run is one of NULLs.
    prev_null: bool,
    /// The open entry describes a NULL pointer (`nullptr`, no `struct`).
    entry_null: bool,
    /// A lone pointer field: its entry opens once it is known to be NULL or not.
    pending_open: bool,
    /// The elements are auto-allocated pointers
    /// (`VMS_ARRAY_OF_POINTER_AUTO_ALLOC`, QEMU 10.2): each is described by
    /// a `ptr-marker` entry, then, when present, an entry of its own; none
    /// compresses, so none has `"index"` or `"array_len"`.
    auto_alloc: bool,
}

/// Where one entry's element is in its array, for its `"array_len"`/`"index"`.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The element's index (`i` in QEMU's save loop).
    index: usize,
    /// QEMU's `max_elems`: the elements left from this one, or the length of
    /// the run of NULL or non-NULL pointers that starts here.
    max_elems: usize,
    /// The element is a NULL pointer, described as QEMU's fake `nullptr` field.
    null: bool,
}

#[derive(Debug)]
struct StructFrame<'d> {
    description: &'d Description<'d>,
    next_field: usize,
    field: Option<FieldCtx<'d>>,
    fields_open: bool,
    subsections_open: bool,
    /// JSON is being written for this struct (false inside compressed arrays).
    json: bool,
    /// The struct is a subsection, not a field of its parent.
    subsection: bool,
}

/// Saves values like [`OutputVisitor`] and writes their vmdesc JSON.
#[derive(Debug)]
pub struct VmdescVisitor<'d, W: QemuWrite> {
    out: OutputVisitor<W>,
    json: JsonWriter,
    frames: Vec<StructFrame<'d>>,
    /// The next struct walked is a subsection announced by `enter_subsection`.
    subsection_pending: bool,
}

/// The type name QEMU shows for a field.
fn type_name<'a>(layout: &Layout<'a>) -> &'a str {
    layout.type_name()
}

/// QEMU's `vmsd_can_compress`: no `exists` predicate, and for structs every
/// nested field compressible and no subsections.
fn can_compress(fd: &FieldDescription) -> bool {
    !fd.has_exists_predicate && layout_compresses(&fd.layout)
}

fn layout_compresses(layout: &Layout) -> bool {
    match layout {
        Layout::Struct { description, .. } => {
            description.subsections.is_empty() && description.fields.iter().all(can_compress)
        }
        // QEMU does not compress auto-allocated pointers: a marker and an
        // element may alternate.
        Layout::Pointer {
            auto_alloc: true, ..
        } => false,
        Layout::Array { element, .. }
        | Layout::VarArray { element, .. }
        | Layout::Pointer { element, .. } => layout_compresses(element),
        _ => true,
    }
}

fn is_element_layout(layout: &Layout) -> bool {
    matches!(layout, Layout::Array { .. } | Layout::VarArray { .. })
}

/// How many array levels nest (a 2-D array is one QEMU field of rows × columns).
fn array_depth(layout: &Layout) -> usize {
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => {
            1 + array_depth(element)
        }
        _ => 0,
    }
}

/// Elements per outer element: the product of the nested fixed array lengths.
fn inner_elements(layout: &Layout) -> usize {
    fn fixed(layout: &Layout) -> usize {
        match layout {
            Layout::Array { len, element } => len.saturating_mul(fixed(element)),
            _ => 1,
        }
    }
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => fixed(element),
        _ => 1,
    }
}

/// True when the elements of `layout` (through nested arrays) are pointers
/// that may be NULL: QEMU's `VMS_ARRAY_OF_POINTER`, not the `auto_alloc` form.
/// True for an array of auto-allocated pointers.
fn auto_alloc_elements(layout: &Layout) -> bool {
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => {
            auto_alloc_elements(element)
        }
        Layout::Pointer { auto_alloc, .. } => *auto_alloc,
        _ => false,
    }
}

fn pointer_elements(layout: &Layout) -> bool {
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => {
            pointer_elements(element)
        }
        Layout::Pointer { auto_alloc, .. } => !auto_alloc,
        _ => false,
    }
}

/// QEMU's `max_elems` at a change between NULL and non-NULL elements: the
/// length of the run of equal elements that starts at `i`.
fn run_length(nulls: &[bool], i: usize, null: bool, n_elems: usize) -> usize {
    (i + 1..n_elems)
        .find(|&j| nulls.get(j) != Some(&null))
        .map_or(n_elems.saturating_sub(i), |j| j - i)
}

/// The innermost element layout of (nested) arrays and pointers.
fn element_layout<'a>(layout: &'a Layout<'a>) -> &'a Layout<'a> {
    match layout {
        Layout::Array { element, .. }
        | Layout::VarArray { element, .. }
        | Layout::Pointer { element, .. } => element_layout(element),
        other => other,
    }
}

/// The `"array_len"` or `"index"` key of the element at `place` of field
/// `f`, as QEMU's `vmsd_desc_field_start` writes it.
fn write_element_keys(json: &mut JsonWriter, f: &FieldCtx<'_>, place: Option<Place>) {
    match f.description.vmdesc {
        // A field of a run-time description: the entry QEMU wrote.
        Some(entry) => {
            if let Some(n) = entry.array_len {
                json.int(Some("array_len"), n as i64);
            } else if let Some(i) = entry.index {
                json.int(Some("index"), i as i64);
            }
        }
        // An element is described as part of an array while more than one
        // element is left from it (`max_elems > 1`): the last one of an
        // uncompressed array has no "index". A NULL pointer is described by
        // QEMU's fake `nullptr` field, which always compresses.
        None if f.mode == FieldMode::Elements && !f.auto_alloc => {
            if let Some(p) = place.filter(|p| p.max_elems > 1) {
                if p.null || f.compress {
                    json.int(Some("array_len"), p.max_elems as i64);
                } else {
                    json.int(Some("index"), p.index as i64);
                }
            }
        }
        None => {}
    }
}

/// The `"type"` of field `f`'s entries (`nullptr` for a NULL pointer: the
/// name of QEMU 10.0's `vmstate_info_nullptr`).
fn entry_type<'d>(f: &FieldCtx<'d>, null: bool) -> &'d str {
    match f.description.vmdesc {
        Some(entry) => entry.type_name,
        None if null && f.auto_alloc => "ptr-marker",
        None if null => "nullptr",
        None => type_name(&f.description.layout),
    }
}

impl<'d, W: QemuWrite> VmdescVisitor<'d, W> {
    /// Writes into `out`; the JSON goes into `json`, inside the object that is
    /// open there (QEMU writes a device's keys into its device object).
    pub fn new(out: W, json: JsonWriter) -> Self {
        VmdescVisitor {
            out: OutputVisitor::new(out),
            json,
            frames: Vec::new(),
            subsection_pending: false,
        }
    }

    /// The stream and the JSON.
    pub fn into_parts(self) -> (W, JsonWriter) {
        (self.out.into_inner(), self.json)
    }

    fn pos(&mut self) -> u64 {
        self.out.get_mut().position()
    }

    fn json_on(&self) -> bool {
        self.frames.last().is_none_or(|f| f.json)
    }

    /// Starts the field named `name` at the current struct level, if no field
    /// is in progress there (for walks that do not announce their fields).
    fn field_event(&mut self, name: &'d str) -> Result<()> {
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        if frame.field.is_some() {
            return Ok(());
        }
        let d = frame.description;
        let index = (frame.next_field..d.fields.len())
            .find(|&i| d.fields[i].name == name)
            .ok_or_else(|| {
                Error::msg(format!(
                    "vmdesc: field `{name}` is not in the description of `{}` (a hand-written \
                     VmState impl whose walk and DESCRIPTION disagree?)",
                    d.name
                ))
            })?;
        self.start_field(index, false)
    }

    /// Starts field `index` of the current struct.
    fn start_field(&mut self, index: usize, explicit: bool) -> Result<()> {
        let pos = self.pos();
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        let d = frame.description;
        let Some(fd) = d.fields.get(index) else {
            return Err(Error::msg(format!(
                "vmdesc: `{}` has no field number {index}",
                d.name
            )));
        };
        frame.next_field = index + 1;
        let mode = if is_element_layout(&fd.layout) {
            FieldMode::Elements
        } else if matches!(fd.layout, Layout::Validate) {
            FieldMode::Silent
        } else {
            FieldMode::Single
        };
        let ctx = FieldCtx {
            description: fd,
            name: d.unique_name(index).into_owned(),
            mode,
            compress: can_compress(fd),
            depth: 0,
            n_elems: 0,
            leaf_depth: array_depth(&fd.layout),
            elements_seen: 0,
            suppressing: false,
            entry_start: pos,
            entry_open: false,
            compressed_done: false,
            expect_tree_end: matches!(fd.layout, Layout::Tree { .. }),
            explicit,
            pointers: fd.vmdesc.is_none() && pointer_elements(&fd.layout),
            nulls: Vec::new(),
            prev_null: false,
            entry_null: false,
            pending_open: false,
            auto_alloc: fd.vmdesc.is_none() && auto_alloc_elements(&fd.layout),
        };
        let json = frame.json;
        let lone_pointer = mode == FieldMode::Single
            && fd.vmdesc.is_none()
            && matches!(
                fd.layout,
                Layout::Pointer {
                    auto_alloc: false,
                    ..
                }
            );
        frame.field = Some(ctx);
        if mode == FieldMode::Single && json {
            if lone_pointer {
                if let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) {
                    f.pending_open = true;
                }
            } else {
                self.open_entry(None);
            }
        }
        Ok(())
    }

    /// Opens the entry of a lone pointer field that waits for its first
    /// event: `null` tells whether the pointer is NULL.
    fn open_pending(&mut self, null: bool) {
        let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) else {
            return;
        };
        if !f.pending_open || f.depth > 0 {
            return;
        }
        f.pending_open = false;
        self.open_entry(Some(Place {
            index: 0,
            max_elems: 1,
            null,
        }));
    }

    /// Ends the current field.
    fn end_field(&mut self) {
        let single = self
            .frames
            .last()
            .and_then(|f| f.field.as_ref())
            .is_some_and(|f| f.mode == FieldMode::Single);
        if single {
            self.close_entry();
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.field = None;
        }
    }

    /// Opens the JSON object of one entry of the current field.
    fn open_entry(&mut self, place: Option<Place>) {
        let pos = self.pos();
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let Some(f) = frame.field.as_mut() else {
            return;
        };
        f.entry_start = pos;
        f.entry_open = true;
        let null = place.is_some_and(|p| p.null);
        f.entry_null = null;
        let layout = element_layout(&f.description.layout);
        self.json.start_object(None);
        self.json.str(Some("name"), &f.name);
        write_element_keys(&mut self.json, f, place);
        self.json.str(Some("type"), entry_type(f, null));
        if !null
            && matches!(
                layout,
                Layout::Struct {
                    pinned_version: None,
                    ..
                }
            )
        {
            self.json.start_object(Some("struct"));
        }
    }

    /// Closes the current entry with its size.
    fn close_entry(&mut self) {
        let pos = self.pos();
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let Some(f) = frame.field.as_mut() else {
            return;
        };
        if !f.entry_open {
            return;
        }
        f.entry_open = false;
        if !f.entry_null
            && matches!(
                element_layout(&f.description.layout),
                Layout::Struct {
                    pinned_version: None,
                    ..
                }
            )
        {
            self.json.end_object();
        }
        self.json.int(Some("size"), (pos - f.entry_start) as i64);
        self.json.end_object();
    }

    /// Ends the current field if its events are complete.
    fn maybe_end_field(&mut self) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let Some(f) = frame.field.as_ref() else {
            return;
        };
        if f.explicit || f.depth > 0 || f.expect_tree_end {
            return;
        }
        self.end_field();
    }

    /// A scalar call: starts (and possibly ends) a field at this level.
    fn scalar(&mut self, name: &'d str) -> Result<()> {
        self.field_event(name)?;
        self.open_pending(false);
        Ok(())
    }

    fn after_scalar(&mut self) {
        self.maybe_end_field();
    }

    /// A run of `n` scalar elements of `size` bytes written in bulk.
    fn bulk(&mut self, name: &'d str, n: usize, size: u64) -> Result<()> {
        self.field_event(name)?;
        self.open_pending(false);
        let json = self.json_on();
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        let Some(f) = frame.field.as_mut() else {
            return Ok(());
        };
        if f.mode != FieldMode::Elements || f.depth != f.leaf_depth {
            return Ok(());
        }
        // Elements written at once: describe them as QEMU would one by one.
        let first = f.elements_seen;
        f.elements_seen += n;
        if !json || f.compressed_done || n == 0 {
            return Ok(());
        }
        let compress = f.compress;
        if compress {
            f.compressed_done = true;
        }
        let f = &*f;
        let count = if compress { 1 } else { n };
        for i in first..first + count {
            let place = Place {
                index: i,
                max_elems: f.n_elems.saturating_sub(i),
                null: false,
            };
            self.json.start_object(None);
            self.json.str(Some("name"), &f.name);
            write_element_keys(&mut self.json, f, Some(place));
            self.json.str(Some("type"), entry_type(f, false));
            self.json.int(Some("size"), size as i64);
            self.json.end_object();
        }
        Ok(())
    }
}

macro_rules! delegate_scalar {
    ($($method:ident($t:ty)),* $(,)?) => {$(
        fn $method(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            self.scalar(name)?;
            self.out.$method(name, v)?;
            self.after_scalar();
            Ok(())
        }
    )*};
}

macro_rules! delegate_slice {
    ($($method:ident($t:ty, $size:expr)),* $(,)?) => {$(
        fn $method(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            self.bulk(name, items.len(), $size)?;
            self.out.$method(name, items)
        }
    )*};
}

impl<'d, W: QemuWrite> Visitor<'d> for VmdescVisitor<'d, W> {
    const LOADING: bool = false;
    const RUNS_SAVE_HOOKS: bool = true;

    delegate_scalar!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_f64(f64),
        visit_timer(Timer),
        visit_u8_equal(u8),
        visit_u16_equal(u16),
        visit_u32_equal(u32),
        visit_u64_equal(u64),
        visit_i32_equal(i32),
        visit_i32_le(i32),
        visit_bitmap_word(u64),
    );
    delegate_slice!(
        visit_u8_slice(u8, 1),
        visit_u16_slice(u16, 2),
        visit_u32_slice(u32, 4),
        visit_u64_slice(u64, 8),
        visit_i32_slice(i32, 4),
    );

    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.scalar(name)?;
        self.out.visit_buffer(name, bytes)?;
        self.after_scalar();
        Ok(())
    }
    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        self.scalar(name)?;
        self.out.visit_unused(name, len)?;
        self.after_scalar();
        Ok(())
    }
    fn visit_ptr_marker(&mut self, name: &'d str, present: &mut bool, valid: bool) -> Result<()> {
        self.field_event(name)?;
        self.open_pending(!*present);
        let json = self.json_on();
        let auto_alloc = self
            .frames
            .last()
            .and_then(|fr| fr.field.as_ref())
            .is_some_and(|f| f.auto_alloc && f.depth == f.leaf_depth);
        if !(auto_alloc && json) {
            self.out.visit_ptr_marker(name, present, valid)?;
            self.after_scalar();
            return Ok(());
        }
        // The marker is an entry of its own, then the element, if present.
        let element = Place {
            index: 0,
            max_elems: 1,
            null: false,
        };
        self.open_entry(Some(Place {
            null: true,
            ..element
        }));
        self.out.visit_ptr_marker(name, present, valid)?;
        self.close_entry();
        if *present {
            self.open_entry(Some(element));
        }
        Ok(())
    }
    fn visit_list_marker(&mut self, name: &'d str, more: &mut bool) -> Result<()> {
        self.scalar(name)?;
        self.out.visit_list_marker(name, more)?;
        self.after_scalar();
        Ok(())
    }

    fn enter_field(&mut self, index: usize) -> Result<()> {
        self.start_field(index, true)
    }

    fn leave_field(&mut self) -> Result<()> {
        self.end_field();
        Ok(())
    }

    fn enter_struct(&mut self, name: &'d str, d: &'d Description<'d>, version: u32) -> Result<()> {
        let subsection = std::mem::take(&mut self.subsection_pending);
        if !subsection {
            self.field_event(name)?;
            self.open_pending(false);
            if let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) {
                f.depth += 1;
            }
        }
        let json = self.json_on();
        if json {
            self.json.str(Some("vmsd_name"), d.name);
            self.json.int(Some("version"), i64::from(version));
            self.json.start_array(Some("fields"));
        }
        self.frames.push(StructFrame {
            description: d,
            next_field: 0,
            field: None,
            fields_open: json,
            subsections_open: false,
            json,
            subsection,
        });
        Ok(())
    }

    fn leave_struct(&mut self) -> Result<()> {
        let Some(frame) = self.frames.pop() else {
            return Ok(());
        };
        if frame.fields_open {
            self.json.end_array();
        }
        if frame.subsections_open {
            self.json.end_array();
        }
        if !frame.subsection {
            if let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) {
                f.depth = f.depth.saturating_sub(1);
            }
            self.maybe_end_field();
        }
        Ok(())
    }

    fn enter_array(&mut self, name: &'d str, len: usize, size: usize) -> Result<()> {
        self.field_event(name)?;
        self.open_pending(false);
        if let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) {
            f.depth += 1;
            // A gtree's count comes before its array; the array's end ends the field.
            f.expect_tree_end = false;
            if f.depth == 1 && f.mode == FieldMode::Elements {
                // A 2-D array is one field of rows × columns elements in QEMU.
                f.n_elems = len.saturating_mul(inner_elements(&f.description.layout));
            }
        }
        self.out.enter_array(name, len, size)
    }

    fn leave_array(&mut self) -> Result<()> {
        if let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) {
            f.depth = f.depth.saturating_sub(1);
        }
        self.maybe_end_field();
        self.out.leave_array()
    }

    fn pointer_nulls(
        &mut self,
        name: &'d str,
        nulls: &mut dyn Iterator<Item = bool>,
    ) -> Result<()> {
        self.field_event(name)?;
        let Some(f) = self.frames.last_mut().and_then(|fr| fr.field.as_mut()) else {
            return Ok(());
        };
        if f.mode == FieldMode::Elements && f.pointers && f.depth == f.leaf_depth {
            f.nulls.extend(nulls);
        } else if f.pending_open {
            let null = nulls.next().unwrap_or(false);
            self.open_pending(null);
        }
        Ok(())
    }

    fn enter_element(&mut self, index: usize) -> Result<()> {
        let json = self.json_on();
        let mut open = None;
        if let Some(frame) = self.frames.last_mut() {
            if let Some(f) = frame.field.as_mut() {
                if f.mode == FieldMode::Elements && f.depth == f.leaf_depth {
                    let i = f.elements_seen;
                    f.elements_seen += 1;
                    // QEMU's save loop: `max_elems` is what is left of the
                    // array, except where an array of pointers changes
                    // between NULL and non-NULL elements (`is_prev_null`
                    // starts false). There a new run begins: it is
                    // described again, even after a compressed entry, with
                    // the run's length.
                    let null = f.pointers && f.nulls.get(i) == Some(&true);
                    let mut max_elems = f.n_elems.saturating_sub(i);
                    if f.pointers && null != f.prev_null {
                        f.prev_null = null;
                        f.compressed_done = false;
                        max_elems = run_length(&f.nulls, i, null, f.n_elems);
                    }
                    let place = Place {
                        index: i,
                        max_elems,
                        null,
                    };
                    if f.compressed_done {
                        if frame.json {
                            f.suppressing = true;
                            frame.json = false;
                        }
                    } else if json && !f.auto_alloc {
                        open = Some(place);
                    }
                }
            }
        }
        let _ = index;
        if let Some(place) = open {
            self.open_entry(Some(place));
        }
        self.out.enter_element(index)
    }

    fn leave_element(&mut self) -> Result<()> {
        let mut close = false;
        if let Some(frame) = self.frames.last_mut() {
            if let Some(f) = frame.field.as_mut() {
                if f.mode == FieldMode::Elements && f.depth == f.leaf_depth {
                    close = f.entry_open;
                    if f.compress {
                        f.compressed_done = true;
                    }
                    if f.suppressing {
                        f.suppressing = false;
                        frame.json = true;
                    }
                }
            }
        }
        if close {
            self.close_entry();
        }
        self.out.leave_element()
    }

    fn enter_subsection(&mut self, d: &'d Description<'d>) -> Result<()> {
        if let Some(frame) = self.frames.last_mut() {
            if frame.json {
                if frame.fields_open {
                    self.json.end_array();
                    frame.fields_open = false;
                }
                if !frame.subsections_open {
                    self.json.start_array(Some("subsections"));
                    frame.subsections_open = true;
                }
                self.json.start_object(None);
            }
        }
        self.subsection_pending = true;
        self.out.enter_subsection(d)
    }

    fn leave_subsection(&mut self) -> Result<()> {
        if self.json_on() {
            self.json.end_object();
        }
        self.out.leave_subsection()
    }

    fn locate(&self, error: Error) -> Error {
        self.out.locate(error)
    }
}

/// Saves `value` into `out` and returns its vmdesc keys (`vmsd_name`,
/// `version`, `fields`, `subsections`) as the inside of a JSON object, e.g.
/// `"vmsd_name": "i8259", "version": 1, "fields": [...]`.
///
/// Works for typed values and for a [`DynamicState`](crate::dynamic::DynamicState)
/// alike (its vmdesc is then the one it was described by).
pub fn save_with_vmdesc<'d, T: Walk<'d>, W: QemuWrite>(value: &mut T, out: W) -> Result<String> {
    let mut json = JsonWriter::new();
    json.start_object(None);
    let mut v = VmdescVisitor::new(out, json);
    let name = value.description().name;
    visit_struct(value, &mut v, name)
        .map_err(|e| e.within(crate::PathSegment::Root(name.to_owned().into())))?;
    let (_, mut json) = v.into_parts();
    json.end_object();
    let text = json.into_string();
    // Strip the braces: the caller places these keys into its device object.
    Ok(text[1..text.len() - 1].to_owned())
}
