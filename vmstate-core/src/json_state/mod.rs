//! State as JSON, with field names and wire types: shown, edited by hand
//! and loaded back, for `#[derive(VmState)]` structs and run-time
//! [`DynamicState`]s alike (in the spirit of QEMU's QMP output and input
//! visitors).
//!
//! [`JsonOutputVisitor`] writes what a walk visits as JSON text;
//! [`JsonInputVisitor`] is a loading visitor that takes the values from a
//! parsed JSON document instead of a byte stream. Both run over the one
//! walk ([`visit_struct_at`]), so every check the walk makes on a load
//! (versions, `equal` fields, counts, subsection names, limits) is made on
//! JSON input too, and a JSON document saved again by the QEMUFile output
//! visitor gives exactly the bytes the state was read from.
//!
//! ```
//! use vmstate_core::{VmState, json_state};
//!
//! #[derive(VmState, Clone, Default, Debug, PartialEq)]
//! #[vmstate(name = "mydev", version = 2)]
//! struct MyDev {
//!     ctrl: u32,
//!     #[vmstate(buffer)]
//!     fifo: [u8; 2],
//!     regs: [u16; 2],
//! }
//!
//! let mut dev = MyDev { ctrl: 0x11, fifo: [1, 2], regs: [3, 4] };
//! let text = json_state::to_json(&mut dev)?;
//! assert_eq!(
//!     text,
//!     r#"{"vmsd_name": "mydev", "version": 2, "fields": {
//!   "ctrl": {"type": "uint32", "value": 17},
//!   "fifo": {"type": "buffer", "value": "0x0102"},
//!   "regs": {"type": "uint16", "value": [3, 4]}
//! }}"#
//! );
//! // Edit and load back.
//! let edited = text.replace("17", "\"0x22\"");
//! let mut copy = MyDev::default();
//! json_state::from_json_str(&mut copy, &edited)?;
//! assert_eq!(copy, MyDev { ctrl: 0x22, ..dev });
//! # Ok::<(), vmstate_core::Error>(())
//! ```
//!
//! # The format
//!
//! A struct (a section, a nested struct, a subsection) is an object:
//!
//! ```text
//! {"vmsd_name": NAME, "version": N, "fields": {KEY: FIELD, ...},
//!  "subsections": {NAME: STRUCT, ...}}
//! ```
//!
//! `"subsections"` holds the subsections that are sent, in wire order, and
//! is left out when there are none. `KEY` is the field's name, made unique
//! as QEMU's vmdesc makes it (`unused[0]`, `unused[1]`); the entries QEMU's
//! vmdesc splits one C array into (one entry per element, runs of NULL
//! pointers) are one field whose value is the whole array. A field is
//! `{"type": TYPE, "value": VALUE}`: `TYPE` is QEMU's wire type name
//! (`uint32`, `int32 equal`, `buffer`, `timer`, `struct`, `vstruct`, a
//! device-specific `VMStateInfo` name such as `pci config`; the element's
//! type for arrays), and `VALUE` is, by type:
//!
//! | type | value |
//! |---|---|
//! | integers, `timer`, `bitmap` words | a JSON integer (signed types signed, `timer` -1 when not armed); on input also a string in decimal or hex (`"0x20"`, signed types also as their two's complement bits) |
//! | `bool` | `true` or `false` |
//! | `CPU_Double_U` | a string with the IEEE bits in hex (`"0x3ff8000000000000"`), exact for every double; on input also a JSON number |
//! | `buffer`, device-specific types known by name and size | a string of hex bytes (`"0x0102"`), as many as the field holds |
//! | `unused_buffer` | its size in bytes (zeros are written) |
//! | `ptr-marker` | `null` for a NULL pointer (`0x30`), `true` for a present one (`0x31`) |
//! | `struct`, `vstruct`, `tmp` | a struct object |
//! | an array | a JSON array of the element values; `null` for a NULL element of an array of pointers |
//! | a `gtree` | `[COUNT, [[KEY, VALUE], ...]]` |
//! | a custom `VMStateInfo` of a typed model | the list of the values its walk visits |
//!
//! A `validate` check (no bytes, no vmdesc entry) has no field.
//!
//! On input, a field's `"type"` must be the description's (`nullptr` and
//! `ptr-marker` are one type), every field the walk visits must be there,
//! and nothing else may be; arrays must have exactly their lengths and
//! buffers their sizes. Errors name the field's path, as every load error
//! does.

mod text;

pub(crate) use text::{
    parse_bool, parse_bytes, parse_double, parse_signed, parse_unsigned, shorten,
};

use std::cell::Cell;
use std::fmt::{self, Write};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess};
use serde_json::{Map, Number, Value};

use crate::dynamic::DynamicState;
use crate::pretty::Hex;
use crate::state::owned;
use crate::{
    Description, Error, ErrorKind, IncomingSubsection, Layout, Limit, Limits, PathSegment, Result,
    Timer, Visitor, VmState, WireType, visit_struct, visit_struct_at,
};

/// How the values of a slot (a field or an array element) are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One JSON value.
    Single,
    /// A JSON array of every value the walk visits in it (a `gtree`, a
    /// typed model's own `VMStateInfo`).
    Multi,
    /// An element of an `auto_alloc` pointer array: `null` when NULL, the
    /// element itself otherwise (the `0x31` marker is implied).
    AutoPointer,
}

fn shape_of(layout: Option<&Layout<'_>>, typed: bool) -> Shape {
    match layout {
        Some(Layout::Tree { .. }) => Shape::Multi,
        Some(Layout::Info { .. }) if typed => Shape::Multi,
        Some(Layout::Pointer {
            auto_alloc: true, ..
        }) => Shape::AutoPointer,
        _ => Shape::Single,
    }
}

/// The layout and shape of the elements of an array walked in a slot of
/// `layout`.
fn elements_of<'d>(layout: Option<&'d Layout<'d>>, typed: bool) -> (Option<&'d Layout<'d>>, Shape) {
    let mut layout = layout;
    // An `Option<[T; N]>` holds its array.
    while let Some(Layout::Pointer {
        auto_alloc: false,
        element,
    }) = layout
    {
        layout = Some(element);
    }
    match layout {
        Some(
            Layout::Array { element, .. }
            | Layout::VarArray { element, .. }
            | Layout::List { element, .. },
        ) => (Some(element), shape_of(Some(element), typed)),
        // A gtree's nodes are [key, value].
        Some(Layout::Tree { .. }) => (None, Shape::Multi),
        _ => (None, Shape::Single),
    }
}

/// True when field `k` of `d` continues the C array of the field before it
/// (QEMU's vmdesc describes some arrays as several entries).
fn continues(d: &Description<'_>, k: usize) -> bool {
    k > 0
        && d.fields
            .get(k)
            .and_then(|f| f.vmdesc)
            .is_some_and(|e| e.continues)
}

/// The type shown for field `k` of `d` (and the run of entries it begins):
/// the first type in the run that is not a NULL-pointer marker.
fn field_type<'d>(d: &Description<'d>, k: usize) -> &'d str {
    let mut end = k + 1;
    while continues(d, end) {
        end += 1;
    }
    let run = &d.fields[k..end];
    let pick = run
        .iter()
        .find(|f| f.layout.wire_type() != WireType::PtrMarker)
        .unwrap_or(&run[0]);
    match pick.layout {
        Layout::Struct { .. } | Layout::Tmp(_) => pick.layout.wire_type().name(),
        _ => pick.layout.type_name(),
    }
}

fn same_type(json: &str, description: &str) -> bool {
    fn canon(t: &str) -> &str {
        match t {
            "nullptr" => "ptr-marker",
            other => other,
        }
    }
    canon(json) == canon(description)
}

/// Writes `s` as a JSON string.
fn write_str<W: Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[derive(Debug)]
enum OutFrame<'d> {
    Struct {
        description: &'d Description<'d>,
        fields: usize,
        subsections: usize,
        depth: usize,
        /// Elements written so far into the array of a run of entries.
        run: usize,
    },
    Slot {
        layout: Option<&'d Layout<'d>>,
        typed: bool,
        shape: Shape,
        visits: usize,
        field: bool,
        /// This field continues the array of the one before.
        continued: bool,
        /// The next field continues this one's array: leave it open.
        open_run: bool,
    },
    Array {
        element: Option<&'d Layout<'d>>,
        typed: bool,
        shape: Shape,
        count: usize,
    },
}

/// Writes the values of a walk as JSON (see the [module](self) for the
/// format), into any [`fmt::Write`].
///
/// Every field goes on a line of its own, indented by its depth; arrays of
/// scalars stay on one line.
#[derive(Debug)]
pub struct JsonOutputVisitor<'d, W: Write> {
    out: W,
    frames: Vec<OutFrame<'d>>,
    /// Indentation of the root struct's closing brace.
    indent: usize,
    subsection_pending: bool,
}

impl<'d, W: Write> JsonOutputVisitor<'d, W> {
    /// Writes into `out`.
    pub fn new(out: W) -> Self {
        Self::with_indent(out, 0)
    }

    /// Writes into `out`, as if the root object stood `indent` levels deep
    /// (two spaces each) in a larger document.
    pub fn with_indent(out: W, indent: usize) -> Self {
        JsonOutputVisitor {
            out,
            frames: Vec::new(),
            indent,
            subsection_pending: false,
        }
    }

    /// The output.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn newline(&mut self, depth: usize) -> Result<()> {
        self.out.write_char('\n')?;
        for _ in 0..depth {
            self.out.write_str("  ")?;
        }
        Ok(())
    }

    /// Makes room for one value in the innermost slot or array.
    fn before_value(&mut self) -> Result<()> {
        match self.frames.last_mut() {
            Some(OutFrame::Slot {
                shape,
                visits,
                field,
                continued,
                ..
            }) => {
                let (shape, n, field, continued) = (*shape, *visits, *field, *continued);
                *visits += 1;
                if continued {
                    return Ok(());
                }
                if n == 0 {
                    if field {
                        self.out.write_str(", \"value\": ")?;
                    }
                    if shape == Shape::Multi {
                        self.out.write_char('[')?;
                    }
                } else if shape == Shape::Multi {
                    self.out.write_str(", ")?;
                } else {
                    return Err(Error::msg(
                        "the walk visits a second value where one is expected (a custom field \
                         type that visits several values needs Layout::Info)",
                    ));
                }
                Ok(())
            }
            Some(OutFrame::Array { count, .. }) => {
                if *count > 0 {
                    self.out.write_str(", ")?;
                }
                *count += 1;
                Ok(())
            }
            Some(OutFrame::Struct { .. }) | None => Err(Error::msg(
                "a value outside a field: the JSON visitors need the walk's enter_field calls",
            )),
        }
    }

    fn scalar(&mut self, value: fmt::Arguments<'_>) -> Result<()> {
        self.before_value()?;
        self.out.write_fmt(value)?;
        Ok(())
    }

    fn slice<T: fmt::Display>(&mut self, items: &[T]) -> Result<()> {
        let in_array = matches!(self.frames.last(), Some(OutFrame::Array { .. }));
        if !in_array {
            self.before_value()?;
            self.out.write_char('[')?;
        }
        for (i, x) in items.iter().enumerate() {
            if in_array {
                self.before_value()?;
            } else if i > 0 {
                self.out.write_str(", ")?;
            }
            write!(self.out, "{x}")?;
        }
        if !in_array {
            self.out.write_char(']')?;
        }
        Ok(())
    }

    fn close_slot(&mut self) -> Result<()> {
        if let Some(OutFrame::Slot {
            shape,
            visits,
            field,
            open_run,
            ..
        }) = self.frames.pop()
        {
            if open_run {
                return Ok(());
            }
            if shape == Shape::Multi && visits > 0 {
                self.out.write_char(']')?;
            }
            if field {
                self.out.write_char('}')?;
            } else if visits == 0 {
                self.out.write_str("null")?;
            }
        }
        Ok(())
    }

    fn depth(&self) -> usize {
        self.frames
            .iter()
            .rev()
            .find_map(|f| match f {
                OutFrame::Struct { depth, .. } => Some(*depth),
                _ => None,
            })
            .unwrap_or(self.indent)
    }
}

macro_rules! out_int {
    ($name:ident, $t:ty) => {
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            self.scalar(format_args!("{}", *v))
        }
    };
}

macro_rules! out_slice {
    ($name:ident, $t:ty) => {
        fn $name(&mut self, _: &'d str, items: &mut [$t]) -> Result<()> {
            self.slice(items)
        }
    };
}

impl<'d, W: Write> Visitor<'d> for JsonOutputVisitor<'d, W> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        self.scalar(format_args!("{}", *v))
    }
    out_int!(visit_i8, i8);
    out_int!(visit_i16, i16);
    out_int!(visit_i32, i32);
    out_int!(visit_i64, i64);
    out_int!(visit_u8, u8);
    out_int!(visit_u16, u16);
    out_int!(visit_u32, u32);
    out_int!(visit_u64, u64);
    out_int!(visit_u8_equal, u8);
    out_int!(visit_u16_equal, u16);
    out_int!(visit_u32_equal, u32);
    out_int!(visit_u64_equal, u64);
    out_int!(visit_i32_equal, i32);
    out_int!(visit_i32_le, i32);
    out_int!(visit_bitmap_word, u64);
    out_slice!(visit_u8_slice, u8);
    out_slice!(visit_u16_slice, u16);
    out_slice!(visit_u32_slice, u32);
    out_slice!(visit_u64_slice, u64);
    out_slice!(visit_i32_slice, i32);

    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        self.scalar(format_args!("\"{:#018x}\"", v.to_bits()))
    }
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        self.scalar(format_args!("{}", v.raw()))
    }
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.scalar(format_args!("\"0x{}\"", Hex(bytes)))
    }
    fn visit_opaque(
        &mut self,
        _: &'d str,
        _: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let n = len.min(bytes.len());
        self.scalar(format_args!("\"0x{}\"", Hex(&bytes[..n])))
    }
    fn visit_unused(&mut self, _: &'d str, len: usize) -> Result<()> {
        self.scalar(format_args!("{len}"))
    }
    fn visit_ptr_marker(&mut self, _: &'d str, present: &mut bool, _: bool) -> Result<()> {
        let auto = matches!(
            self.frames.last(),
            Some(OutFrame::Slot {
                shape: Shape::AutoPointer,
                ..
            })
        );
        match (*present, auto) {
            // The element that follows stands for its marker.
            (true, true) => Ok(()),
            (true, false) => self.scalar(format_args!("true")),
            (false, _) => self.scalar(format_args!("null")),
        }
    }
    fn visit_list_marker(&mut self, _: &'d str, _: &mut bool) -> Result<()> {
        // Framing: the elements are the array's.
        Ok(())
    }

    fn enter_field(&mut self, index: usize) -> Result<()> {
        let Some(OutFrame::Struct {
            description,
            fields,
            depth,
            ..
        }) = self.frames.last_mut()
        else {
            return Err(Error::msg("a field outside a struct"));
        };
        let d = *description;
        let depth = *depth;
        let fd = d
            .fields
            .get(index)
            .ok_or_else(|| Error::msg(format!("{} has no field number {index}", d.name)))?;
        // A load-time check has no bytes, and QEMU's vmdesc no entry.
        let hidden = matches!(fd.layout, Layout::Validate);
        let continued = hidden || (continues(d, index) && *fields > 0);
        if !continued {
            if *fields > 0 {
                self.out.write_char(',')?;
            }
            *fields += 1;
            self.newline(depth + 1)?;
            write_str(&mut self.out, &d.unique_name(index))?;
            self.out.write_str(": {\"type\": ")?;
            write_str(&mut self.out, field_type(d, index))?;
        }
        let typed = fd.vmdesc.is_none();
        self.frames.push(OutFrame::Slot {
            layout: Some(&fd.layout),
            typed,
            shape: shape_of(Some(&fd.layout), typed),
            visits: 0,
            field: true,
            continued,
            open_run: hidden || continues(d, index + 1),
        });
        Ok(())
    }
    fn leave_field(&mut self) -> Result<()> {
        self.close_slot()
    }
    fn enter_struct(&mut self, _: &'d str, d: &'d Description<'d>, version: u32) -> Result<()> {
        let depth = if self.frames.is_empty() {
            self.indent
        } else if std::mem::take(&mut self.subsection_pending) {
            self.depth() + 1
        } else {
            self.before_value()?;
            self.depth() + 1
        };
        self.out.write_str("{\"vmsd_name\": ")?;
        write_str(&mut self.out, d.name)?;
        write!(self.out, ", \"version\": {version}, \"fields\": {{")?;
        self.frames.push(OutFrame::Struct {
            description: d,
            fields: 0,
            subsections: 0,
            depth,
            run: 0,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        if let Some(OutFrame::Struct {
            fields,
            subsections,
            depth,
            ..
        }) = self.frames.pop()
        {
            if fields > 0 || subsections > 0 {
                self.newline(depth)?;
            }
            self.out.write_str("}}")?;
        }
        Ok(())
    }
    fn enter_array(&mut self, _: &'d str, _: usize, _: usize) -> Result<()> {
        let (layout, typed, continued, open_run) = match self.frames.last() {
            Some(OutFrame::Slot {
                layout,
                typed,
                continued,
                open_run,
                field: true,
                ..
            }) => (*layout, *typed, *continued, *open_run),
            Some(OutFrame::Slot { layout, typed, .. }) => (*layout, *typed, false, false),
            _ => (None, false, false, false),
        };
        self.before_value()?;
        let mut count = 0;
        if continued {
            count = self.run_count();
        } else {
            self.out.write_char('[')?;
        }
        let (element, shape) = elements_of(layout, typed);
        let _ = open_run;
        self.frames.push(OutFrame::Array {
            element,
            typed,
            shape,
            count,
        });
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        let Some(OutFrame::Array { count, .. }) = self.frames.pop() else {
            return Ok(());
        };
        let open_run = matches!(
            self.frames.last(),
            Some(OutFrame::Slot {
                field: true,
                open_run: true,
                ..
            })
        );
        if open_run {
            self.set_run_count(count);
            return Ok(());
        }
        self.out.write_char(']')?;
        Ok(())
    }
    fn enter_element(&mut self, _: usize) -> Result<()> {
        let (element, typed, shape) = match self.frames.last() {
            Some(OutFrame::Array {
                element,
                typed,
                shape,
                ..
            }) => (*element, *typed, *shape),
            _ => return Err(Error::msg("an array element outside an array")),
        };
        self.before_value()?;
        self.frames.push(OutFrame::Slot {
            layout: element,
            typed,
            shape,
            visits: 0,
            field: false,
            continued: false,
            open_run: false,
        });
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.close_slot()
    }
    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        let Some(OutFrame::Struct {
            fields,
            subsections,
            depth,
            ..
        }) = self.frames.last_mut()
        else {
            return Err(Error::msg("a subsection outside a struct"));
        };
        let (n, depth, had_fields) = (*subsections, *depth, *fields > 0);
        *subsections += 1;
        if n == 0 {
            if had_fields {
                self.newline(depth)?;
            }
            self.out.write_str("}, \"subsections\": {")?;
        } else {
            self.out.write_char(',')?;
        }
        self.newline(depth + 1)?;
        write_str(&mut self.out, description.name)?;
        self.out.write_str(": ")?;
        self.subsection_pending = true;
        Ok(())
    }
}

impl<W: Write> JsonOutputVisitor<'_, W> {
    fn struct_frame(&mut self) -> Option<&mut usize> {
        self.frames.iter_mut().rev().find_map(|f| match f {
            OutFrame::Struct { run, .. } => Some(run),
            _ => None,
        })
    }
    fn run_count(&mut self) -> usize {
        self.struct_frame().map_or(0, |r| *r)
    }
    fn set_run_count(&mut self, n: usize) {
        if let Some(r) = self.struct_frame() {
            *r = n;
        }
    }
}

/// The JSON of a typed value (see the [module](self) for the format).
pub fn to_json<T: VmState>(value: &mut T) -> Result<String> {
    let mut v = JsonOutputVisitor::new(String::new());
    visit_struct(value, &mut v, T::DESCRIPTION.name)
        .map_err(|e| e.within(PathSegment::Root(T::DESCRIPTION.name.into())))?;
    Ok(v.into_inner())
}

/// The JSON of a dynamic state.
pub fn dynamic_to_json(state: &mut DynamicState<'_>) -> Result<String> {
    let d = state.description();
    let mut v = JsonOutputVisitor::new(String::new());
    visit_struct_at(state, &mut v, d.name, d.version_id)
        .map_err(|e| e.within(PathSegment::Root(owned(d.name))))?;
    Ok(v.into_inner())
}

// ---------------------------------------------------------------------------
// Input

#[derive(Debug)]
enum InFrame<'j, 'd> {
    Struct {
        description: &'d Description<'d>,
        version: u32,
        fields: &'j Map<String, Value>,
        /// The keys of `fields` the walk took.
        visited: Vec<&'j str>,
        subsections: Option<serde_json::map::Iter<'j>>,
        /// The JSON array of a run of entries, and the elements taken.
        run: Option<(&'j [Value], usize)>,
    },
    Slot {
        node: Option<&'j Value>,
        layout: Option<&'d Layout<'d>>,
        typed: bool,
        shape: Shape,
        taken: usize,
        field: bool,
        continued: bool,
        open_run: bool,
    },
    Array {
        items: &'j [Value],
        next: usize,
        element: Option<&'d Layout<'d>>,
        typed: bool,
        shape: Shape,
    },
}

/// A loading visitor that takes the values of a walk from a parsed JSON
/// document in the [format](self) [`JsonOutputVisitor`] writes.
///
/// Memory the document makes a load create (a `Vec` grown by element) is
/// held to [`Limits`], as with the QEMUFile input visitor.
#[derive(Debug)]
pub struct JsonInputVisitor<'j, 'd> {
    root: &'j Value,
    frames: Vec<InFrame<'j, 'd>>,
    pending_subsection: Option<&'j Value>,
    limits: Limits,
    allocated: u64,
    /// Values taken so far (the "input position").
    taken: u64,
}

#[cold]
fn bad_json(message: impl Into<String>) -> Error {
    Error::msg(message.into())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(what: &str, found: &Value) -> Error {
    let shown = match found {
        Value::String(s) => format!("{} {:?}", kind_of(found), shorten(s)),
        Value::Number(n) => format!("{} {n}", kind_of(found)),
        other => kind_of(other).to_owned(),
    };
    bad_json(format!("expected {what}, the JSON has {shown}"))
}

fn json_unsigned(v: &Value, bits: u32, wire: &str) -> Result<u64> {
    let text = match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) => return parse_unsigned(&x.to_string(), bits, wire).map_err(bad_json),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => return Err(expected(&format!("an integer for {wire}"), other)),
    };
    parse_unsigned(&text, bits, wire).map_err(bad_json)
}

fn json_signed(v: &Value, bits: u32, wire: &str) -> Result<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(expected(&format!("an integer for {wire}"), other)),
    };
    parse_signed(&text, bits, wire).map_err(bad_json)
}

impl<'j, 'd> JsonInputVisitor<'j, 'd> {
    /// Takes the values from `root`, the JSON of the struct the walk starts
    /// with, within the default [`Limits`].
    pub fn new(root: &'j Value) -> Self {
        Self::with_limits(root, Limits::DEFAULT)
    }

    /// Takes the values from `root`, within `limits`.
    pub fn with_limits(root: &'j Value, limits: Limits) -> Self {
        JsonInputVisitor {
            root,
            frames: Vec::new(),
            pending_subsection: None,
            limits,
            allocated: 0,
            taken: 0,
        }
    }

    /// Takes the next value of the innermost slot or array.
    fn take(&mut self) -> Result<&'j Value> {
        self.taken += 1;
        match self.frames.last_mut() {
            Some(InFrame::Slot {
                node, shape, taken, ..
            }) => {
                let n = *taken;
                *taken += 1;
                let Some(node) = *node else {
                    return Err(bad_json("the field has no \"value\""));
                };
                match shape {
                    Shape::Multi => {
                        let items = node
                            .as_array()
                            .ok_or_else(|| expected("the list of the field's values", node))?;
                        items.get(n).ok_or_else(|| {
                            bad_json(format!(
                                "the JSON list has {} value(s), the walk needs more",
                                items.len()
                            ))
                        })
                    }
                    _ if n > 0 => Err(bad_json(
                        "the walk visits a second value where the JSON has one",
                    )),
                    _ => Ok(node),
                }
            }
            Some(InFrame::Array { items, next, .. }) => {
                let i = *next;
                *next += 1;
                items.get(i).ok_or_else(|| {
                    bad_json(format!(
                        "the JSON array has only {} element(s)",
                        items.len()
                    ))
                })
            }
            Some(InFrame::Struct { .. }) | None => Err(bad_json(
                "a value outside a field: the JSON visitors need the walk's enter_field calls",
            )),
        }
    }

    fn unsigned(&mut self, bits: u32, wire: WireType) -> Result<u64> {
        let v = self.take()?;
        json_unsigned(v, bits, wire.name())
    }

    fn signed(&mut self, bits: u32, wire: WireType) -> Result<i64> {
        let v = self.take()?;
        json_signed(v, bits, wire.name())
    }

    fn hex(&mut self, len: usize, wire: &str) -> Result<Vec<u8>> {
        let v = self.take()?;
        let Value::String(s) = v else {
            return Err(expected(&format!("a string of hex bytes for {wire}"), v));
        };
        parse_bytes(s, len, wire).map_err(bad_json)
    }

    fn slice<T>(&mut self, items: &mut [T], read: impl Fn(&Value) -> Result<T>) -> Result<()> {
        if let Some(InFrame::Array { .. }) = self.frames.last() {
            for (i, x) in items.iter_mut().enumerate() {
                let v = self.take().map_err(|e| e.within(PathSegment::Index(i)))?;
                *x = read(v).map_err(|e| e.within(PathSegment::Index(i)))?;
            }
            return Ok(());
        }
        let v = self.take()?;
        let list = v.as_array().ok_or_else(|| expected("an array", v))?;
        if list.len() != items.len() {
            return Err(bad_json(format!(
                "the JSON array has {} element(s), the field {}",
                list.len(),
                items.len()
            )));
        }
        for (i, (x, v)) in items.iter_mut().zip(list).enumerate() {
            *x = read(v).map_err(|e| e.within(PathSegment::Index(i)))?;
        }
        Ok(())
    }

    fn struct_frame(&mut self) -> Option<&mut InFrame<'j, 'd>> {
        self.frames
            .iter_mut()
            .rev()
            .find(|f| matches!(f, InFrame::Struct { .. }))
    }

    fn close_slot(&mut self) -> Result<()> {
        if let Some(InFrame::Slot {
            node: Some(node),
            shape: Shape::Multi,
            taken,
            ..
        }) = self.frames.pop()
        {
            let len = node.as_array().map_or(0, Vec::len);
            if taken < len {
                return Err(bad_json(format!(
                    "the JSON list has {len} value(s), the walk took {taken}"
                )));
            }
        }
        Ok(())
    }
}

macro_rules! in_unsigned {
    ($name:ident, $t:ty, $bits:expr, $wire:ident) => {
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            *v = self.unsigned($bits, WireType::$wire)? as $t;
            Ok(())
        }
    };
}

macro_rules! in_signed {
    ($name:ident, $t:ty, $bits:expr, $wire:ident) => {
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            *v = self.signed($bits, WireType::$wire)? as $t;
            Ok(())
        }
    };
}

macro_rules! in_equal {
    ($name:ident, $t:ty, $bits:expr, $wire:ident, $signed:expr) => {
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            let loaded = if $signed {
                self.signed($bits, WireType::$wire)? as $t
            } else {
                self.unsigned($bits, WireType::$wire)? as $t
            };
            if loaded != *v {
                return Err(Error::new(ErrorKind::NotEqual {
                    wire: WireType::$wire,
                    loaded: loaded as u64 & (u64::MAX >> (64 - $bits)),
                    current: *v as u64 & (u64::MAX >> (64 - $bits)),
                }));
            }
            Ok(())
        }
    };
}

macro_rules! in_slice {
    ($name:ident, $t:ty, $bits:expr, $wire:ident, $signed:expr) => {
        fn $name(&mut self, _: &'d str, items: &mut [$t]) -> Result<()> {
            self.slice(items, |v| {
                Ok(if $signed {
                    json_signed(v, $bits, WireType::$wire.name())? as $t
                } else {
                    json_unsigned(v, $bits, WireType::$wire.name())? as $t
                })
            })
        }
    };
}

impl<'j, 'd> Visitor<'d> for JsonInputVisitor<'j, 'd> {
    const LOADING: bool = true;

    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        *v = match self.take()? {
            Value::Bool(b) => *b,
            Value::String(s) => parse_bool(s).map_err(bad_json)?,
            Value::Number(n) => parse_bool(&n.to_string()).map_err(bad_json)?,
            other => return Err(expected("true or false", other)),
        };
        Ok(())
    }
    in_signed!(visit_i8, i8, 8, Int8);
    in_signed!(visit_i16, i16, 16, Int16);
    in_signed!(visit_i32, i32, 32, Int32);
    in_signed!(visit_i64, i64, 64, Int64);
    in_unsigned!(visit_u8, u8, 8, Uint8);
    in_unsigned!(visit_u16, u16, 16, Uint16);
    in_unsigned!(visit_u32, u32, 32, Uint32);
    in_unsigned!(visit_u64, u64, 64, Uint64);
    in_unsigned!(visit_bitmap_word, u64, 64, Bitmap);
    in_equal!(visit_u8_equal, u8, 8, Uint8Equal, false);
    in_equal!(visit_u16_equal, u16, 16, Uint16Equal, false);
    in_equal!(visit_u32_equal, u32, 32, Uint32Equal, false);
    in_equal!(visit_u64_equal, u64, 64, Uint64Equal, false);
    in_equal!(visit_i32_equal, i32, 32, Int32Equal, true);
    in_slice!(visit_u8_slice, u8, 8, Uint8, false);
    in_slice!(visit_u16_slice, u16, 16, Uint16, false);
    in_slice!(visit_u32_slice, u32, 32, Uint32, false);
    in_slice!(visit_u64_slice, u64, 64, Uint64, false);
    in_slice!(visit_i32_slice, i32, 32, Int32, true);

    fn visit_i32_le(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        let loaded = self.signed(32, WireType::Int32Le)? as i32;
        if !(0..=*v).contains(&loaded) {
            return Err(Error::new(ErrorKind::NotLessOrEqual { loaded, max: *v }));
        }
        *v = loaded;
        Ok(())
    }
    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        *v = match self.take()? {
            Value::String(s) => parse_double(s).map_err(bad_json)?,
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| bad_json(format!("{n} is not a double")))?,
            other => return Err(expected("a double (its IEEE bits in hex)", other)),
        };
        Ok(())
    }
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        *v = Timer::from_raw(self.signed(64, WireType::Timer)?);
        Ok(())
    }
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        let got = self.hex(bytes.len(), WireType::Buffer.name())?;
        bytes.copy_from_slice(&got);
        Ok(())
    }
    fn visit_buffer_vec(&mut self, _: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        let added = (len as u64).saturating_sub(bytes.len() as u64);
        self.allocate(added, len as u64)?;
        *bytes = self.hex(len, WireType::Buffer.name())?;
        Ok(())
    }
    fn visit_opaque(
        &mut self,
        _: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let added = (len as u64).saturating_sub(bytes.len() as u64);
        self.allocate(added, len as u64)?;
        *bytes = self.hex(len, type_name)?;
        Ok(())
    }
    fn visit_unused(&mut self, _: &'d str, len: usize) -> Result<()> {
        let v = self.take()?;
        match v.as_u64() {
            Some(n) if n == len as u64 => Ok(()),
            _ => Err(expected(&format!("{len}, the size of the unused bytes"), v)),
        }
    }
    fn visit_ptr_marker(
        &mut self,
        _: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        let auto = match self.frames.last() {
            Some(InFrame::Slot {
                shape: Shape::AutoPointer,
                node,
                taken: 0,
                ..
            }) => Some(node.is_some_and(|n| !n.is_null())),
            _ => None,
        };
        let is_present = match auto {
            // The element stands for its marker: leave it to be taken.
            Some(true) => true,
            _ => match self.take()? {
                Value::Null => false,
                Value::Bool(true) => true,
                other => return Err(expected("null (a NULL pointer) or true", other)),
            },
        };
        if is_present && !valid_allowed {
            return Err(bad_json(
                "the JSON has a value where the destination's pointer is NULL",
            ));
        }
        *present = is_present;
        Ok(())
    }
    fn visit_list_marker(&mut self, _: &'d str, more: &mut bool) -> Result<()> {
        *more = match self.frames.last() {
            Some(InFrame::Array { items, next, .. }) => *next < items.len(),
            _ => false,
        };
        Ok(())
    }

    fn enter_field(&mut self, index: usize) -> Result<()> {
        let Some(InFrame::Struct {
            description,
            fields,
            visited,
            run,
            ..
        }) = self.frames.last_mut()
        else {
            return Err(bad_json("a field outside a struct"));
        };
        let d = *description;
        let fd = d
            .fields
            .get(index)
            .ok_or_else(|| bad_json(format!("{} has no field number {index}", d.name)))?;
        let typed = fd.vmdesc.is_none();
        let hidden = matches!(fd.layout, Layout::Validate);
        let open_run = hidden || continues(d, index + 1);
        let continued = hidden || (continues(d, index) && run.is_some());
        let node = if continued {
            None
        } else {
            let key = d.unique_name(index);
            let (key_text, node) = fields.get_key_value(key.as_ref()).ok_or_else(|| {
                bad_json(format!(
                    "the JSON has no field {key:?} ({} of {} v{})",
                    field_type(d, index),
                    d.name,
                    d.version_id
                ))
            })?;
            visited.push(key_text.as_str());
            let object = node
                .as_object()
                .ok_or_else(|| expected("a field object {\"type\": ..., \"value\": ...}", node))?;
            let want = field_type(d, index);
            match object.get("type") {
                Some(Value::String(t)) if same_type(t, want) => {}
                Some(Value::String(t)) => {
                    return Err(bad_json(format!(
                        "the JSON's field is of type {t:?}, the description's of type {want:?}"
                    )));
                }
                Some(other) => return Err(expected("a type name", other)),
                None => return Err(bad_json(format!("the field has no \"type\" ({want:?})"))),
            }
            object.get("value")
        };
        self.frames.push(InFrame::Slot {
            node,
            layout: Some(&fd.layout),
            typed,
            shape: shape_of(Some(&fd.layout), typed),
            taken: 0,
            field: true,
            continued,
            open_run,
        });
        Ok(())
    }
    fn leave_field(&mut self) -> Result<()> {
        self.close_slot()
    }
    fn enter_struct(&mut self, _: &'d str, d: &'d Description<'d>, version: u32) -> Result<()> {
        let node = if self.frames.is_empty() {
            self.root
        } else if let Some(sub) = self.pending_subsection.take() {
            sub
        } else {
            self.take()?
        };
        let object = node
            .as_object()
            .ok_or_else(|| expected(&format!("a struct object ({})", d.name), node))?;
        if let Some(name) = object.get("vmsd_name") {
            if name.as_str() != Some(d.name) {
                return Err(bad_json(format!(
                    "the JSON has struct {name}, the description {:?}",
                    d.name
                )));
            }
        }
        if let Some(v) = object.get("version") {
            if v.as_u64() != Some(u64::from(version)) {
                return Err(bad_json(format!(
                    "the JSON has {} version {v}, the walk is at version {version}",
                    d.name
                )));
            }
        }
        let fields = match object.get("fields") {
            Some(Value::Object(m)) => m,
            Some(other) => return Err(expected("an object of fields", other)),
            None => {
                return Err(bad_json(format!(
                    "the JSON of {} has no \"fields\"",
                    d.name
                )));
            }
        };
        let subsections = match object.get("subsections") {
            Some(Value::Object(m)) => Some(m.iter()),
            Some(other) => return Err(expected("an object of subsections", other)),
            None => None,
        };
        self.frames.push(InFrame::Struct {
            description: d,
            version,
            fields,
            visited: Vec::new(),
            subsections,
            run: None,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        if let Some(InFrame::Struct {
            description,
            version,
            fields,
            visited,
            ..
        }) = self.frames.pop()
        {
            if visited.len() < fields.len() {
                let extra = fields
                    .keys()
                    .find(|k| !visited.contains(&k.as_str()))
                    .map_or_else(|| "a field".to_owned(), |k| format!("{k:?}"));
                let d = description;
                let known = (0..d.fields.len()).any(|k| format!("{:?}", d.unique_name(k)) == extra);
                let why = if known {
                    format!("which is not walked at version {version}")
                } else {
                    format!("which {} v{} does not have", d.name, d.version_id)
                };
                return Err(bad_json(format!(
                    "the JSON of {} has the field {extra}, {why}",
                    d.name
                )));
            }
        }
        Ok(())
    }
    fn enter_array(&mut self, _: &'d str, len: usize, _: usize) -> Result<()> {
        let (layout, typed, continued) = match self.frames.last() {
            Some(InFrame::Slot {
                layout,
                typed,
                continued,
                ..
            }) => (*layout, *typed, *continued),
            _ => (None, false, false),
        };
        let (items, next) = if continued {
            let run = match self.struct_frame() {
                Some(InFrame::Struct { run, .. }) => run.take(),
                _ => None,
            };
            run.ok_or_else(|| bad_json("an array entry that continues no array"))?
        } else {
            let v = self.take()?;
            let items = v
                .as_array()
                .ok_or_else(|| expected(&format!("an array of {len} element(s)"), v))?;
            (items.as_slice(), 0)
        };
        let (element, shape) = elements_of(layout, typed);
        self.frames.push(InFrame::Array {
            items,
            next,
            element,
            typed,
            shape,
        });
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        let Some(InFrame::Array { items, next, .. }) = self.frames.pop() else {
            return Ok(());
        };
        let open_run = matches!(
            self.frames.last(),
            Some(InFrame::Slot {
                field: true,
                open_run: true,
                ..
            })
        );
        if open_run {
            if let Some(InFrame::Struct { run, .. }) = self.struct_frame() {
                *run = Some((items, next));
            }
            return Ok(());
        }
        if next != items.len() {
            return Err(bad_json(format!(
                "the JSON array has {} element(s), the walk took {next}",
                items.len()
            )));
        }
        Ok(())
    }
    fn enter_element(&mut self, _: usize) -> Result<()> {
        let Some(InFrame::Array {
            items,
            next,
            element,
            typed,
            shape,
        }) = self.frames.last_mut()
        else {
            return Err(bad_json("an array element outside an array"));
        };
        let node = items.get(*next).ok_or_else(|| {
            bad_json(format!(
                "the JSON array has only {} element(s)",
                items.len()
            ))
        })?;
        *next += 1;
        let (element, typed, shape) = (*element, *typed, *shape);
        self.frames.push(InFrame::Slot {
            node: Some(node),
            layout: element,
            typed,
            shape,
            taken: 0,
            field: false,
            continued: false,
            open_run: false,
        });
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.close_slot()
    }
    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let Some(InFrame::Struct {
            subsections: Some(iter),
            ..
        }) = self.frames.last_mut()
        else {
            return Ok(None);
        };
        let Some((name, node)) = iter.next() else {
            return Ok(None);
        };
        let Some(index) = parent.subsection_index(name.as_bytes()) else {
            return Err(Error::new(ErrorKind::UnknownSubsection {
                name: name.clone(),
                parent: parent.name.to_owned().into(),
            }));
        };
        let version_id = match node.get("version") {
            Some(v) => v
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| expected("a version number", v))?,
            None => parent.subsections[index].version_id,
        };
        self.pending_subsection = Some(node);
        Ok(Some(IncomingSubsection { index, version_id }))
    }
    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        let total = self.allocated.saturating_add(added);
        let limits = &self.limits;
        limits.check(Limit::SectionMemory, total, || {
            "the state loaded from JSON so far".to_owned()
        })?;
        limits.check(Limit::MaxAllocation, container, || {
            "this field of the state loaded from JSON".to_owned()
        })?;
        self.allocated = total;
        Ok(())
    }
    fn input_position(&self) -> Option<u64> {
        Some(self.taken)
    }
}

/// The version a JSON struct object says it was saved at, if it says.
pub fn json_version(json: &Value) -> Option<u32> {
    json.get("version")?
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
}

/// Loads the JSON of a typed value into `value`, at the version the JSON
/// gives (its current one if it gives none). Transactional, like
/// [`crate::load`]: `value` is unchanged unless everything succeeded.
pub fn from_json<T: VmState + Clone>(value: &mut T, json: &Value) -> Result<()> {
    let version = json_version(json).unwrap_or(T::DESCRIPTION.version_id);
    let mut scratch = value.clone();
    let mut v = JsonInputVisitor::new(json);
    visit_struct_at(&mut scratch, &mut v, T::DESCRIPTION.name, version)
        .map_err(|e| e.within(PathSegment::Root(T::DESCRIPTION.name.into())))?;
    *value = scratch;
    Ok(())
}

/// [`from_json`] from JSON text, parsed within the default [`Limits`]
/// ([`parse_bounded`]).
pub fn from_json_str<T: VmState + Clone>(value: &mut T, text: &str) -> Result<()> {
    let json = parse_bounded(text.as_bytes(), Limits::DEFAULT.section_memory)?;
    from_json(value, &json)
}

/// Loads the JSON of a dynamic state of `description`, which the JSON must
/// be at the version of.
pub fn load_dynamic<'d>(
    description: &'d Description<'d>,
    json: &Value,
) -> Result<DynamicState<'d>> {
    load_dynamic_as(description, json, description.name, Limits::DEFAULT)
}

/// [`load_dynamic`] with error paths starting at `root` (a stream
/// section's name), within `limits`.
pub fn load_dynamic_as<'d>(
    description: &'d Description<'d>,
    json: &Value,
    root: &str,
    limits: Limits,
) -> Result<DynamicState<'d>> {
    let root_of = |e: Error| e.within(PathSegment::Root(owned(root)));
    let mut state = DynamicState::new(description).map_err(root_of)?;
    let mut v = JsonInputVisitor::with_limits(json, limits);
    visit_struct_at(&mut state, &mut v, description.name, description.version_id)
        .map_err(root_of)?;
    Ok(state)
}

// ---------------------------------------------------------------------------
// Parsing with a bound

/// Parses JSON text into a [`Value`], refusing a document whose parsed form
/// would take more than `budget` bytes of memory (counted per value:
/// `[0,0,0,...]` takes far more memory than text).
pub fn parse_bounded(text: &[u8], budget: u64) -> Result<Value> {
    let left = Cell::new(budget);
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = BoundedValue { left: &left }
        .deserialize(&mut de)
        .map_err(|e| json_error(&e, budget))?;
    de.end().map_err(|e| json_error(&e, budget))?;
    Ok(value)
}

pub(crate) fn json_error(e: &serde_json::Error, budget: u64) -> Error {
    let text = e.to_string();
    if text.starts_with(BUDGET_MESSAGE) {
        return Error::msg(format!(
            "JSON, line {} column {}: a value takes more than the {} its document may take \
             (raise --max-section-memory)",
            e.line(),
            e.column(),
            Limit::SectionMemory.amount(budget)
        ));
    }
    Error::msg(format!("JSON: {text}"))
}

const BUDGET_MESSAGE: &str = "over the memory budget";

/// A [`DeserializeSeed`] that builds a [`Value`] and counts its memory
/// against `left`.
#[derive(Clone, Copy)]
pub(crate) struct BoundedValue<'a> {
    pub(crate) left: &'a Cell<u64>,
}

impl BoundedValue<'_> {
    fn pay<E: serde::de::Error>(&self, bytes: usize) -> std::result::Result<(), E> {
        let cost = (bytes + std::mem::size_of::<Value>()) as u64;
        match self.left.get().checked_sub(cost) {
            Some(rest) => {
                self.left.set(rest);
                Ok(())
            }
            None => Err(E::custom(BUDGET_MESSAGE)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BoundedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Value, E> {
        self.pay(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Value, E> {
        self.pay(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        self.pay(0)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        self.pay(0)?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        self.pay(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Value, E> {
        self.pay(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Value, E> {
        self.pay(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Value, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        self.pay(0)?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        self.pay(0)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // A map entry holds its key and an index slot.
            self.pay(key.len() + 2 * std::mem::size_of::<usize>())?;
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests;
