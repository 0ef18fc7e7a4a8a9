//! The JSON QEMU's `scripts/analyze-migration.py -d state` prints, from the
//! one walk.
//!
//! [`AnalyzerJson`] is a [`Visitor`]: walked over a section body (a
//! [`DynamicState`] described by a stream's vmdesc, or a
//! `#[derive(VmState)]` value) it writes the JSON object the analyzer prints
//! for that section, byte for byte: Python's `json.dumps(indent=4)` layout
//! with `ensure_ascii` escaping, and the analyzer's rules for what a field
//! looks like:
//!
//! * integers are strings of `2 × size` hex digits (`"0x0010"`), negative
//!   values of the types it reads as signed followed by their decimal value
//!   (`"0xfffe (-2)"`); it reads `uint8 equal`, `uint16 equal` and `int64
//!   equal` as signed, `uint32 equal` as unsigned;
//! * `bool` is `true`/`false`; a NULL pointer (`nullptr`) is `"nullptr"`;
//! * every other type (`buffer`, `unused_buffer`, `timer`, `CPU_Double_U`,
//!   `bitmap`, `vstruct`, `tmp`, `qtailq`, `qlist`, `gtree`, `pci config`,
//!   `virtio`, ...) is its bytes as lowercase hex separated by spaces, nested
//!   descriptions included (the analyzer only looks inside `struct`);
//! * a `struct` is a nested object, a subsection a member named by the
//!   subsection;
//! * members are named by the field names of the vmdesc (a derived struct's
//!   fields as its vmdesc names them: repeated names become `name[k]`); the
//!   values of all entries of one name (array elements: `"array_len"`
//!   entries unfolded, one `"index"` entry per element, runs of NULL
//!   pointers) form one list at the place of the first, when there are two
//!   or more of them; a subsection that has the name of an earlier member
//!   replaces its value in place (the analyzer keeps its values in a Python
//!   dict).
//!
//! Structs whose members come out in wire order are written as they are
//! walked; the others (members of one name apart, repeated subsection names)
//! are gathered and put in order when the struct ends.
//!
//! [`write_state_json`] prints a whole stream as the analyzer does: one
//! member per section id, `"idstr (section_id)"`, in the order the ids first
//! appear; RAM sections as their `"section sizes"` (and, with
//! [`StateJsonOptions::memory`], the pages, as `-m` prints them);
//! `spapr/htab` and `s390-storage_attributes` as `""`; every device section
//! decoded with [`StreamDecoder::decode_section`] and walked by an
//! [`AnalyzerJson`]. The configuration section is read (and checked
//! against the vmdesc's `"configuration"` entry) but, as by the analyzer,
//! not printed. There is one formatter: the pieces of Python's
//! `json.dumps` layout at the top of this module, used by the visitor and
//! the stream printer alike.
//!
//! ```
//! use vmstate_core::VmState;
//!
//! #[derive(VmState, Default)]
//! #[vmstate(name = "pit", version = 1)]
//! struct Pit {
//!     mode: u8,
//!     count: [u16; 2],
//!     delta: i32,
//! }
//!
//! let mut pit = Pit { mode: 3, count: [1, 2], delta: -2 };
//! assert_eq!(
//!     vmstate_core::analyzer::to_json_string(&mut pit)?,
//!     r#"{
//!     "mode": "0x03",
//!     "count": [
//!         "0x0001",
//!         "0x0002"
//!     ],
//!     "delta": "0xfffffffe (-2)"
//! }"#
//! );
//! # Ok::<(), vmstate_core::Error>(())
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::ops::Range;

use qemufile::QemuRead;
use qemufile::ram::{RamItem, RamKind};
use qemufile::stream::{MIG_CMD_SWITCHOVER_START, SectionHeader};

use crate::dynamic::DynamicState;
use crate::stream::{Event, IterativeKind, SectionItem, StreamDecoder};
use crate::{Description, Error, ErrorKind, Layout, Result, Timer, Visitor, Walk, visit_struct};

// ---------------------------------------------------------------------------
// The formatter: Python's `json.dumps(indent=4, ensure_ascii=True)` pieces.
// ---------------------------------------------------------------------------

/// A newline and 64 spaces.
const NL_SPACES: &[u8; 65] = b"\n                                                                ";

/// A newline and the indentation of `level` (4 spaces per level).
#[inline]
fn newline_indent(out: &mut Vec<u8>, level: usize) {
    let mut n = level * 4;
    if n < NL_SPACES.len() {
        out.extend_from_slice(&NL_SPACES[..n + 1]);
        return;
    }
    out.push(b'\n');
    while n > 0 {
        let k = n.min(NL_SPACES.len() - 1);
        out.extend_from_slice(&NL_SPACES[1..k + 1]);
        n -= k;
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `"xx "` for every byte value.
const SPACED: [[u8; 3]; 256] = {
    let mut t = [[0u8; 3]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15], b' '];
        i += 1;
    }
    t
};

/// A Python string with `ensure_ascii`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`,
/// `\f`, and `\uXXXX` (lowercase, surrogate pairs above the BMP) for every
/// other character outside `' '..='~'`.
fn push_py_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(s.as_bytes());
    } else {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                ' '..='~' => out.push(c as u8),
                c => {
                    let mut units = [0u16; 2];
                    for &u in c.encode_utf16(&mut units).iter() {
                        out.extend_from_slice(b"\\u");
                        for k in (0..4).rev() {
                            out.push(HEX[usize::from((u >> (4 * k)) & 15)]);
                        }
                    }
                }
            }
        }
    }
    out.push(b'"');
}

/// `"xx xx xx"`: the analyzer's form of raw bytes.
fn push_spaced_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_empty() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    let start = out.len();
    // `"` + 3 per byte (the last separator becomes the closing quote).
    out.resize(start + 1 + bytes.len() * 3, 0);
    let dst = &mut out[start + 1..];
    let whole = bytes.len() / 8 * 8;
    // Eight bytes at a time, in fixed-size pieces the compiler unrolls.
    for (d, s) in dst[..whole * 3]
        .chunks_exact_mut(24)
        .zip(bytes[..whole].chunks_exact(8))
    {
        for k in 0..8 {
            d[3 * k..3 * k + 3].copy_from_slice(&SPACED[usize::from(s[k])]);
        }
    }
    for (d, &b) in dst[whole * 3..].chunks_exact_mut(3).zip(&bytes[whole..]) {
        d.copy_from_slice(&SPACED[usize::from(b)]);
    }
    out[start] = b'"';
    if let Some(last) = out.last_mut() {
        *last = b'"';
    }
}

/// `n` zero bytes in the analyzer's form.
fn push_spaced_zeros(out: &mut Vec<u8>, n: usize) {
    if n == 0 {
        out.extend_from_slice(b"\"\"");
        return;
    }
    out.push(b'"');
    out.reserve(n * 3);
    for _ in 0..n {
        out.extend_from_slice(b"00 ");
    }
    if let Some(last) = out.last_mut() {
        *last = b'"';
    }
}

/// `"0x` and the `2 × size` hex digits of `v`, `"`: the analyzer's form of
/// a non-negative integer of `size` (1..=8) bytes.
#[inline]
fn push_uint(out: &mut Vec<u8>, v: u64, size: usize) {
    let mut b = [0u8; 20];
    let n = fill_uint(&mut b, v, size);
    out.extend_from_slice(&b[..n]);
}

/// Writes `"0x…"` for `v` of `size` (1..=8) bytes into `b`; returns its length.
#[inline]
fn fill_uint(b: &mut [u8; 20], v: u64, size: usize) -> usize {
    b[..3].copy_from_slice(b"\"0x");
    let bytes = v.to_be_bytes();
    let mut at = 3;
    for &x in &bytes[8 - size.min(8)..] {
        b[at..at + 2].copy_from_slice(&SPACED[usize::from(x)][..2]);
        at += 2;
    }
    b[at] = b'"';
    at + 1
}

/// The analyzer's form of a signed integer of `size` bytes: as unsigned,
/// plus ` (-N)` when negative.
#[inline]
fn push_int(out: &mut Vec<u8>, v: i64, size: usize) {
    let bits = v as u64 & (u64::MAX >> (64 - 8 * size));
    if v >= 0 {
        push_uint(out, bits, size);
        return;
    }
    push_uint(out, bits, size);
    out.pop();
    out.extend_from_slice(b" (-");
    push_decimal(out, v.unsigned_abs());
    out.extend_from_slice(b")\"");
}

fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The analyzer's form of a big-endian integer of any size (a type it reads
/// as an integer, with a size of its own).
fn push_int_bytes(out: &mut Vec<u8>, raw: &[u8], signed: bool) {
    let negative = signed && raw.first().is_some_and(|&b| b & 0x80 != 0);
    if raw.is_empty() {
        // `'0x%00x' % 0`
        out.extend_from_slice(b"\"0x0\"");
        return;
    }
    if raw.len() <= 8 {
        let u = raw.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        if negative {
            let shift = 64 - 8 * raw.len() as u32;
            let s = if shift == 0 {
                u as i64
            } else {
                ((u << shift) as i64) >> shift
            };
            push_int(out, s, raw.len());
        } else {
            push_uint(out, u, raw.len());
        }
        return;
    }
    out.extend_from_slice(b"\"0x");
    for &b in raw {
        out.extend_from_slice(&SPACED[usize::from(b)][..2]);
    }
    if negative {
        // The magnitude of the two's complement value, in decimal.
        let mut mag: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in mag.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        let mut digits = Vec::new();
        while mag.iter().any(|&b| b != 0) {
            let mut rem = 0u32;
            for b in mag.iter_mut() {
                let cur = rem * 256 + u32::from(*b);
                *b = (cur / 10) as u8;
                rem = cur % 10;
            }
            digits.push(b'0' + rem as u8);
        }
        out.extend_from_slice(b" (-");
        out.extend(digits.iter().rev());
        out.push(b')');
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// How the analyzer shows a field.
// ---------------------------------------------------------------------------

/// How the analyzer reads a value of a type known by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Bool,
    Int { signed: bool },
    Null,
    Hex,
}

/// The analyzer's reader for a vmdesc `"type"` (`vmsd_field_readers`).
fn class_of(type_name: &str) -> Class {
    match type_name {
        "bool" => Class::Bool,
        "int8" | "int16" | "int32" | "int64" | "int32 equal" | "int32 le" | "int64 equal"
        | "uint8 equal" | "uint16 equal" => Class::Int { signed: true },
        "uint8" | "uint16" | "uint32" | "uint64" | "uint32 equal" => Class::Int { signed: false },
        "nullptr" => Class::Null,
        _ => Class::Hex,
    }
}

fn push_class(out: &mut Vec<u8>, class: Class, bytes: &[u8]) {
    match class {
        Class::Hex => push_spaced_hex(out, bytes),
        Class::Int { signed } => push_int_bytes(out, bytes, signed),
        Class::Bool => out.extend_from_slice(if bytes.first().is_some_and(|&b| b != 0) {
            b"true"
        } else {
            b"false"
        }),
        Class::Null => out.extend_from_slice(b"\"nullptr\""),
    }
}

/// What one value of a field (one element of an array) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    /// Each scalar call is one value, shown by its wire type.
    Direct,
    /// A nested object.
    Struct,
    /// The bytes of everything walked inside, shown as this class.
    Capture(Class),
}

fn show_of(layout: &Layout<'_>) -> Show {
    match layout {
        Layout::Scalar(_)
        | Layout::Buffer(_)
        | Layout::VarBuffer { .. }
        | Layout::Unused(_)
        | Layout::Validate => Show::Direct,
        Layout::Info { name, .. } => Show::Capture(class_of(name)),
        Layout::Struct {
            pinned_version: None,
            ..
        } => Show::Struct,
        Layout::Struct { .. }
        | Layout::Tmp(_)
        | Layout::List { .. }
        | Layout::Tree { .. }
        | Layout::Bitmap { .. } => Show::Capture(Class::Hex),
        Layout::Pointer { element, .. }
        | Layout::Array { element, .. }
        | Layout::VarArray { element, .. } => show_of(element),
    }
}

/// Nested array levels (a 2-D array is one field of rows × columns values).
fn array_depth(layout: &Layout<'_>) -> u32 {
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => {
            1 + array_depth(element)
        }
        _ => 0,
    }
}

/// Values per element of the outer array: the product of the nested fixed
/// array lengths.
fn inner_elements(layout: &Layout<'_>) -> u64 {
    fn fixed(layout: &Layout<'_>) -> u64 {
        match layout {
            Layout::Array { len, element } => (*len as u64).saturating_mul(fixed(element)),
            _ => 1,
        }
    }
    match layout {
        Layout::Array { element, .. } | Layout::VarArray { element, .. } => fixed(element),
        _ => 1,
    }
}

// ---------------------------------------------------------------------------
// Plans: a description's members, computed once per description.
// ---------------------------------------------------------------------------

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct FieldPlan {
    /// Index into `AnalyzerJson::groups`.
    group: u32,
    /// Element mode: values are the leaves of an array.
    elements: bool,
    /// The array depth at which elements are visited.
    leaf_depth: u32,
    show: Show,
    /// Values per outer element (2-D arrays).
    inner: u64,
}

/// A member name: from the description, or made unique (`name[k]`) and
/// kept in `AnalyzerJson::owned_names`.
#[derive(Debug, Clone, Copy)]
enum Name<'d> {
    Borrowed(&'d str),
    Owned(u32, u32),
}

#[derive(Debug, Clone, Copy)]
struct GroupPlan<'d> {
    name: Name<'d>,
    /// The name as a JSON string, in `AnalyzerJson::keys`.
    key: (u32, u32),
    /// How many values the member gets, when the description says so;
    /// `None`: known when the field's array begins.
    total: Option<u64>,
    /// While planning: a field with values was in this group.
    seen: bool,
}

#[derive(Debug, Clone)]
struct Plan {
    fields: Range<u32>,
    subsections: Range<u32>,
    groups: Range<u32>,
    /// Members can be written as they are walked.
    in_order: bool,
}

/// Hashes description addresses (and key hashes) for the plan caches.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;

/// FNV-1a of a key, for grouping the members of large descriptions.
fn key_hash(key: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------
// The visitor.
// ---------------------------------------------------------------------------

/// One struct being printed.
#[derive(Debug, Clone)]
struct Frame {
    plan: u32,
    /// Indentation level of the object's braces.
    level: usize,
    /// A member was written (fast mode).
    any: bool,
    /// Members are gathered and ordered at the end.
    buffered: bool,
    /// Where the object's text begins in the output.
    region_start: usize,
    /// This frame's first entry in `AnalyzerJson::segments`.
    segments_start: usize,
    /// The member being written (fast mode), its list state.
    open_group: u32,
    open_list: bool,
    list_first: bool,
    /// The field being walked (index into the description's fields).
    field: u32,
    /// The field was found by name (no `enter_field`).
    implicit: bool,
    next_field: u32,
    /// Arrays entered inside the current field.
    array_depth: u32,
    /// Values of the current field (element mode), once its array began.
    n_elems: u64,
    /// As a value of the parent: where it begins, its member, whether it
    /// replaces (a subsection).
    value_start: usize,
    value_group: u32,
    value_replace: bool,
}

/// A value of a buffered struct: its member and text.
#[derive(Debug, Clone, Copy)]
struct Segment {
    group: u32,
    start: usize,
    end: usize,
    replace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureMode {
    /// Until the field ends.
    Field,
    /// Until the element ends.
    Element,
}

/// Bytes being collected for a value shown as its bytes.
#[derive(Debug, Clone, Copy)]
struct Capture {
    mode: CaptureMode,
    class: Class,
    /// Fields and elements entered inside.
    fields: u32,
    elements: u32,
}

/// Writes the JSON `analyze-migration.py -d state` prints for the section
/// bodies it walks, into a byte buffer (see the [module](self) docs for the
/// rules).
///
/// Each struct walked at the top (a section body, a typed value) becomes one
/// JSON object appended to [`output`](Self::output), indented as a value at
/// the visitor's level: 0 for a document of its own, 1 for a member of the
/// analyzer's top-level object. The visitor keeps what it learned about the
/// descriptions it saw (their members), so walking many values of the same
/// descriptions costs no more allocations.
#[derive(Debug)]
pub struct AnalyzerJson<'d> {
    out: Vec<u8>,
    base_level: usize,
    frames: Vec<Frame>,
    segments: Vec<Segment>,
    capture: Option<Capture>,
    captured: Vec<u8>,
    /// Buffered structs being walked: while there are any, the output is
    /// not final.
    buffered_open: u32,
    /// A subsection's struct is next: its index in the parent's subsections.
    pending_subsection: Option<usize>,
    /// Assembly space for buffered structs.
    scratch: Vec<u8>,
    plans: Vec<Plan>,
    plan_of: AddrMap<u32>,
    descriptions: Vec<&'d Description<'d>>,
    field_plans: Vec<FieldPlan>,
    sub_groups: Vec<u32>,
    groups: Vec<GroupPlan<'d>>,
    owned_names: String,
    keys: Vec<u8>,
    /// The description walked last and its plan (arrays of structs).
    last_plan: Option<(&'d Description<'d>, u32)>,
    group_index: HashMap<u64, u32, BuildHasherDefault<AddrHasher>>,
}

impl Default for AnalyzerJson<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The error for a walk that does not fit its description.
#[cold]
fn walk_mismatch(message: String) -> Error {
    Error::msg(format!("analyzer JSON: {message}"))
}

impl<'d> AnalyzerJson<'d> {
    /// A visitor whose objects are documents of their own (level 0).
    pub fn new() -> Self {
        Self::at_level(0)
    }

    /// A visitor whose objects are indented as values at `level` (1: the
    /// sections of the analyzer's top-level object).
    pub fn at_level(level: usize) -> Self {
        AnalyzerJson {
            out: Vec::new(),
            base_level: level,
            frames: Vec::new(),
            segments: Vec::new(),
            capture: None,
            captured: Vec::new(),
            buffered_open: 0,
            pending_subsection: None,
            scratch: Vec::new(),
            plans: Vec::new(),
            plan_of: AddrMap::default(),
            descriptions: Vec::new(),
            field_plans: Vec::new(),
            sub_groups: Vec::new(),
            groups: Vec::new(),
            owned_names: String::new(),
            keys: Vec::new(),
            last_plan: None,
            group_index: HashMap::default(),
        }
    }

    /// The JSON written so far (ASCII only).
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Takes the JSON written so far, leaving the output empty.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The JSON written.
    pub fn into_output(self) -> Vec<u8> {
        self.out
    }

    /// Empties the output and forgets a walk that did not finish (after an
    /// error); what it learned about descriptions is kept.
    pub fn clear(&mut self) {
        self.out.clear();
        self.frames.clear();
        self.segments.clear();
        self.capture = None;
        self.captured.clear();
        self.buffered_open = 0;
        self.pending_subsection = None;
    }

    /// The plan of `d`, computed on first use.
    fn plan_for(&mut self, d: &'d Description<'d>) -> u32 {
        if let Some((last, p)) = self.last_plan {
            if std::ptr::eq(last, d) {
                return p;
            }
        }
        let p = self.plan_lookup(d);
        self.last_plan = Some((d, p));
        p
    }

    fn plan_lookup(&mut self, d: &'d Description<'d>) -> u32 {
        let addr = d as *const Description<'d> as usize;
        if let Some(&p) = self.plan_of.get(&addr) {
            // Addresses are unique while `'d` lives; check anyway.
            if std::ptr::eq(self.descriptions[p as usize], d) {
                return p;
            }
        }
        let p = self.build_plan(d);
        self.plan_of.insert(addr, p);
        p
    }

    fn build_plan(&mut self, d: &'d Description<'d>) -> u32 {
        let groups_start = self.groups.len() as u32;
        let fields_start = self.field_plans.len() as u32;
        let subs_start = self.sub_groups.len() as u32;
        let large = d.fields.len() + d.subsections.len() > 24;
        self.group_index.clear();
        let mut multi_runtime = false;
        // Members in wire order: the fields of one name adjacent (fields
        // without values do not count), no subsection named like a member.
        let mut in_order = true;
        let mut last = NONE;
        for (i, f) in d.fields.iter().enumerate() {
            let name = match f.vmdesc {
                Some(_) => Name::Borrowed(f.name),
                None => match d.unique_name(i) {
                    std::borrow::Cow::Borrowed(n) => Name::Borrowed(n),
                    std::borrow::Cow::Owned(n) => {
                        let a = self.owned_names.len() as u32;
                        self.owned_names.push_str(&n);
                        Name::Owned(a, self.owned_names.len() as u32)
                    }
                },
            };
            let (elements, leaf_depth, show, inner, count) = match (&f.layout, f.vmdesc) {
                (Layout::Array { len, element }, Some(_)) => {
                    (true, 1, show_of(element), 1, Some(*len as u64))
                }
                (layout, Some(_)) => (false, 0, show_of(layout), 1, Some(1)),
                (layout @ (Layout::Array { .. } | Layout::VarArray { .. }), None) => (
                    true,
                    array_depth(layout),
                    show_of(layout),
                    inner_elements(layout),
                    None,
                ),
                (Layout::Validate, None) => (false, 0, Show::Direct, 1, Some(0)),
                (layout, None) => (false, 0, show_of(layout), 1, Some(1)),
            };
            // The field before usually has another name, or the same (an
            // array's elements): look further only when it has neither.
            let text = self.name_str(name);
            let group = match last {
                g if g != NONE && self.name_str(self.groups[g as usize].name) == text => Some(g),
                _ => self.find_group(groups_start, text, large),
            };
            let g = match group {
                Some(g) => {
                    let gp = &mut self.groups[g as usize];
                    gp.total = match (gp.total, count) {
                        (Some(a), Some(b)) => Some(a.saturating_add(b)),
                        _ => {
                            multi_runtime = true;
                            None
                        }
                    };
                    g
                }
                None => {
                    let g = self.groups.len() as u32;
                    if large {
                        self.group_index
                            .entry(key_hash(text.as_bytes()))
                            .or_insert(g);
                    }
                    let key = self.push_escaped(name);
                    self.groups.push(GroupPlan {
                        name,
                        key,
                        total: count,
                        seen: false,
                    });
                    g
                }
            };
            self.field_plans.push(FieldPlan {
                group: g,
                elements,
                leaf_depth,
                show,
                inner,
            });
            if count != Some(0) && g != last {
                let gp = &mut self.groups[g as usize];
                in_order &= !gp.seen;
                gp.seen = true;
                last = g;
            }
        }
        for sub in d.subsections {
            match self.find_group(groups_start, sub.name, large) {
                Some(g) => {
                    in_order = false;
                    self.sub_groups.push(g);
                }
                None => {
                    let g = self.groups.len() as u32;
                    if large {
                        self.group_index
                            .entry(key_hash(sub.name.as_bytes()))
                            .or_insert(g);
                    }
                    let key = self.push_escaped(Name::Borrowed(sub.name));
                    self.groups.push(GroupPlan {
                        name: Name::Borrowed(sub.name),
                        key,
                        total: Some(1),
                        seen: true,
                    });
                    self.sub_groups.push(g);
                }
            }
        }
        let p = self.plans.len() as u32;
        self.plans.push(Plan {
            fields: fields_start..self.field_plans.len() as u32,
            subsections: subs_start..self.sub_groups.len() as u32,
            groups: groups_start..self.groups.len() as u32,
            in_order: in_order && !multi_runtime,
        });
        self.descriptions.push(d);
        p
    }

    fn name_str(&self, name: Name<'d>) -> &str {
        match name {
            Name::Borrowed(s) => s,
            Name::Owned(a, b) => self.owned_names.get(a as usize..b as usize).unwrap_or(""),
        }
    }

    /// Keeps `name` as a JSON string in `keys`; returns where.
    fn push_escaped(&mut self, name: Name<'d>) -> (u32, u32) {
        let start = self.keys.len() as u32;
        match name {
            Name::Borrowed(s) => push_py_str(&mut self.keys, s),
            Name::Owned(a, b) => {
                let s = self.owned_names.get(a as usize..b as usize).unwrap_or("");
                push_py_str(&mut self.keys, s);
            }
        }
        (start, self.keys.len() as u32)
    }

    /// The group (of the plan whose groups start at `groups_start`) named `name`.
    fn find_group(&self, groups_start: u32, name: &str, large: bool) -> Option<u32> {
        if large {
            match self.group_index.get(&key_hash(name.as_bytes())) {
                Some(&g) if self.name_str(self.groups[g as usize].name) == name => return Some(g),
                // A hash collision: look at every group.
                Some(_) => {}
                None => return None,
            }
        }
        (groups_start..self.groups.len() as u32)
            .find(|&g| self.name_str(self.groups[g as usize].name) == name)
    }

    /// The current field of the innermost struct, opening the field named
    /// `name` when the walk did not announce one.
    fn current_field(&mut self, name: &str) -> Result<Option<FieldPlan>> {
        let Some(frame) = self.frames.last_mut() else {
            return Ok(None);
        };
        let plan = &self.plans[frame.plan as usize];
        if frame.field == NONE {
            let d = self.descriptions[frame.plan as usize];
            let found = (frame.next_field as usize..d.fields.len())
                .find(|&i| d.fields[i].name == name || d.unique_name(i) == name);
            let Some(i) = found else {
                return Err(walk_mismatch(format!(
                    "`{name}` is not a field of `{}` (after field {})",
                    d.name, frame.next_field
                )));
            };
            frame.field = i as u32;
            frame.implicit = true;
            frame.next_field = i as u32 + 1;
            frame.array_depth = 0;
            frame.n_elems = 0;
        }
        let index = frame.field;
        match self
            .field_plans
            .get((plan.fields.start + index) as usize)
            .filter(|_| index < plan.fields.end - plan.fields.start)
        {
            Some(fp) => Ok(Some(*fp)),
            None => Err(walk_mismatch(format!(
                "`{}` has no field number {index}",
                self.descriptions[frame.plan as usize].name
            ))),
        }
    }

    /// Writes what comes before a value of member `group` of the innermost
    /// struct (fast mode: the member's key, list brackets and separators);
    /// returns the value's indentation level.
    fn open_value(&mut self, group: u32) -> usize {
        let Some(frame) = self.frames.last_mut() else {
            return self.base_level;
        };
        if frame.buffered || group == NONE {
            return frame.level + 1;
        }
        let out = &mut self.out;
        if frame.open_group != group {
            close_member(frame, out);
            out.push(if frame.any { b',' } else { b'{' });
            frame.any = true;
            newline_indent(out, frame.level + 1);
            let gp = self.groups[group as usize];
            out.extend_from_slice(&self.keys[gp.key.0 as usize..gp.key.1 as usize]);
            out.extend_from_slice(b": ");
            let list = match gp.total {
                Some(t) => t >= 2,
                None => frame.n_elems >= 2,
            };
            frame.open_group = group;
            frame.open_list = list;
            frame.list_first = true;
            if list {
                out.push(b'[');
            }
        }
        if frame.open_list {
            if !frame.list_first {
                out.push(b',');
            }
            frame.list_first = false;
            newline_indent(out, frame.level + 2);
            frame.level + 2
        } else {
            frame.level + 1
        }
    }

    /// After a value that began at `start`: records it in a buffered struct
    /// and ends a field found by name once its value is complete.
    fn close_value(&mut self, group: u32, start: usize, replace: bool) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        if frame.buffered {
            self.segments.push(Segment {
                group,
                start,
                end: self.out.len(),
                replace,
            });
        }
        if frame.implicit && frame.array_depth == 0 {
            frame.field = NONE;
            frame.implicit = false;
        }
    }

    /// One scalar value of the current field, written by `write`.
    #[inline]
    fn value(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let group = match self.current_field(name)? {
            Some(fp) => fp.group,
            None => {
                // A bare value outside any struct.
                write(&mut self.out);
                return Ok(());
            }
        };
        let start = self.out.len();
        self.open_value(group);
        write(&mut self.out);
        self.close_value(group, start, false);
        Ok(())
    }

    /// A run of scalar values of the current field.
    #[inline]
    fn values<T: Copy>(
        &mut self,
        name: &str,
        items: &[T],
        write: impl Fn(&mut Vec<u8>, T),
    ) -> Result<()> {
        let group = match self.current_field(name)? {
            Some(fp) => fp.group,
            None => {
                for &x in items {
                    write(&mut self.out, x);
                }
                return Ok(());
            }
        };
        let fast = self
            .frames
            .last()
            .is_some_and(|f| !f.buffered && !f.implicit);
        if fast {
            let Some((&first, rest)) = items.split_first() else {
                return Ok(());
            };
            let level = self.open_value(group);
            write(&mut self.out, first);
            let list = self.frames.last().is_some_and(|f| f.open_list);
            if list {
                self.out.reserve(rest.len() * (level * 4 + 24));
                for &x in rest {
                    self.out.push(b',');
                    newline_indent(&mut self.out, level);
                    write(&mut self.out, x);
                }
            } else {
                for &x in rest {
                    self.open_value(group);
                    write(&mut self.out, x);
                }
            }
            return Ok(());
        }
        for &x in items {
            let start = self.out.len();
            self.open_value(group);
            write(&mut self.out, x);
            self.close_value(group, start, false);
        }
        Ok(())
    }

    /// A run of unsigned values of `size` bytes each: in a list written
    /// as they are walked, every item has the same length, so the run is
    /// laid out at once.
    #[inline]
    fn uint_values<T: Copy + Into<u64>>(
        &mut self,
        name: &str,
        items: &[T],
        size: usize,
    ) -> Result<()> {
        let fast = self
            .frames
            .last()
            .is_some_and(|f| !f.buffered && !f.implicit)
            && self.frames.last().is_some_and(|f| f.field != NONE);
        if !fast || items.len() < 2 {
            return self.values(name, items, |out, x| push_uint(out, x.into(), size));
        }
        let Some(fp) = self.current_field(name)? else {
            return Ok(());
        };
        let level = self.open_value(fp.group);
        push_uint(&mut self.out, items[0].into(), size);
        let list = self.frames.last().is_some_and(|f| f.open_list);
        if !list || level * 4 + 2 > NL_SPACES.len() {
            for &x in &items[1..] {
                if list {
                    self.out.push(b',');
                    newline_indent(&mut self.out, level);
                } else {
                    self.open_value(fp.group);
                }
                push_uint(&mut self.out, x.into(), size);
            }
            return Ok(());
        }
        // `,` `\n` indentation `"0x` digits `"`: the same template for every
        // item, copied in doubling runs, then the digits.
        let prefix = 2 + level * 4;
        let item = prefix + 4 + 2 * size;
        let mut template = [b' '; 96];
        template[0] = b',';
        template[1] = b'\n';
        template[prefix..prefix + 3].copy_from_slice(b"\"0x");
        template[item - 1] = b'"';
        let rest = &items[1..];
        let total = rest.len() * item;
        let start = self.out.len();
        self.out.reserve(total);
        self.out.extend_from_slice(&template[..item]);
        while self.out.len() - start < total {
            let have = self.out.len() - start;
            self.out
                .extend_from_within(start..start + have.min(total - have));
        }
        for (d, &x) in self.out[start..].chunks_exact_mut(item).zip(rest) {
            let bytes = x.into().to_be_bytes();
            let digits = &mut d[prefix + 3..prefix + 3 + 2 * size];
            for (pair, &b) in digits.chunks_exact_mut(2).zip(&bytes[8 - size..]) {
                pair.copy_from_slice(&SPACED[usize::from(b)][..2]);
            }
        }
        Ok(())
    }

    fn start_capture(&mut self, mode: CaptureMode, class: Class) {
        self.captured.clear();
        self.capture = Some(Capture {
            mode,
            class,
            fields: 0,
            elements: 0,
        });
    }

    /// Ends the capture: the bytes become one value of the current field.
    fn end_capture(&mut self, class: Class) {
        self.capture = None;
        let group = match self.frames.last() {
            Some(f) if f.field != NONE => {
                let plan = &self.plans[f.plan as usize];
                self.field_plans[(plan.fields.start + f.field) as usize].group
            }
            _ => {
                push_class(&mut self.out, class, &self.captured);
                return;
            }
        };
        let start = self.out.len();
        self.open_value(group);
        push_class(&mut self.out, class, &self.captured);
        self.close_value(group, start, false);
    }

    /// Ends the object of `frame` (popped): closes it, or puts a buffered
    /// one's members in order.
    fn finish_frame(&mut self, frame: &mut Frame) {
        if !frame.buffered {
            let f = frame;
            close_member(f, &mut self.out);
            if f.any {
                newline_indent(&mut self.out, f.level);
                self.out.push(b'}');
            } else {
                self.out.extend_from_slice(b"{}");
            }
            return;
        }
        // (Offsets from a walk that stopped half way are clamped, never trusted.)
        let region = frame.region_start.min(self.out.len());
        let segs_start = frame.segments_start.min(self.segments.len());
        let plan = self.plans[frame.plan as usize].clone();
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out[region..]);
        self.out.truncate(region);
        let segs = &self.segments[segs_start..];
        let n_groups = (plan.groups.end - plan.groups.start) as usize;
        // Per member: its values, or the subsection that replaced them.
        let mut values: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
        let mut replaced: Vec<Option<usize>> = vec![None; n_groups];
        let mut order: Vec<usize> = Vec::with_capacity(n_groups);
        for (k, s) in segs.iter().enumerate() {
            let g = (s.group - plan.groups.start) as usize;
            if g >= n_groups {
                continue;
            }
            if values[g].is_empty() && replaced[g].is_none() {
                order.push(g);
            }
            if s.replace {
                replaced[g] = Some(k);
            } else if replaced[g].is_none() {
                values[g].push(k);
            }
        }
        let level = frame.level;
        let out = &mut self.out;
        if order.is_empty() {
            out.extend_from_slice(b"{}");
        } else {
            for (n, &g) in order.iter().enumerate() {
                out.push(if n == 0 { b'{' } else { b',' });
                newline_indent(out, level + 1);
                let gp = self.groups[plan.groups.start as usize + g];
                out.extend_from_slice(&self.keys[gp.key.0 as usize..gp.key.1 as usize]);
                out.extend_from_slice(b": ");
                let text = |k: usize| {
                    let s = segs[k];
                    let a = s.start.saturating_sub(region);
                    let b = s.end.saturating_sub(region);
                    self.scratch.get(a..b).unwrap_or_default()
                };
                match (replaced[g], values[g].as_slice()) {
                    (Some(k), _) | (None, &[k]) => out.extend_from_slice(text(k)),
                    (None, list) => {
                        out.push(b'[');
                        for (i, &k) in list.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            newline_indent(out, level + 2);
                            // Written as a member's value: one level deeper in a list.
                            for &b in text(k) {
                                if b == b'\n' {
                                    out.extend_from_slice(b"\n    ");
                                } else {
                                    out.push(b);
                                }
                            }
                        }
                        newline_indent(out, level + 1);
                        out.push(b']');
                    }
                }
            }
            newline_indent(out, level);
            out.push(b'}');
        }
        self.segments.truncate(segs_start);
    }

    fn capture_bytes(&mut self, bytes: &[u8]) {
        self.captured.extend_from_slice(bytes);
    }
}

/// Closes the member being written (its list).
fn close_member(frame: &mut Frame, out: &mut Vec<u8>) {
    if frame.open_group != NONE && frame.open_list {
        newline_indent(out, frame.level + 1);
        out.push(b']');
    }
    frame.open_group = NONE;
}

macro_rules! scalar {
    ($method:ident, $t:ty, |$out:ident, $v:ident| $write:expr) => {
        fn $method(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            if self.capture.is_some() {
                self.capture_bytes(&v.to_be_bytes());
                return Ok(());
            }
            let $v = *v;
            self.value(name, |$out| $write)
        }
    };
}

macro_rules! slice {
    ($method:ident, $t:ty, |$out:ident, $v:ident| $write:expr) => {
        fn $method(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            if self.capture.is_some() {
                self.captured
                    .reserve(items.len() * std::mem::size_of::<$t>());
                for x in items.iter() {
                    self.captured.extend_from_slice(&x.to_be_bytes());
                }
                return Ok(());
            }
            self.values(name, items, |$out, $v| $write)
        }
    };
}

macro_rules! uint_slice {
    ($method:ident, $t:ty, $size:expr) => {
        fn $method(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            if self.capture.is_some() {
                self.captured.reserve(items.len() * $size);
                for x in items.iter() {
                    self.captured.extend_from_slice(&x.to_be_bytes());
                }
                return Ok(());
            }
            self.uint_values(name, items, $size)
        }
    };
}

impl<'d> Visitor<'d> for AnalyzerJson<'d> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()> {
        if self.capture.is_some() {
            self.captured.push(u8::from(*v));
            return Ok(());
        }
        let v = *v;
        self.value(name, |out| {
            out.extend_from_slice(if v { b"true" } else { b"false" })
        })
    }
    scalar!(visit_i8, i8, |out, v| push_int(out, i64::from(v), 1));
    scalar!(visit_i16, i16, |out, v| push_int(out, i64::from(v), 2));
    scalar!(visit_i32, i32, |out, v| push_int(out, i64::from(v), 4));
    scalar!(visit_i64, i64, |out, v| push_int(out, v, 8));
    scalar!(visit_u8, u8, |out, v| push_uint(out, u64::from(v), 1));
    scalar!(visit_u16, u16, |out, v| push_uint(out, u64::from(v), 2));
    scalar!(visit_u32, u32, |out, v| push_uint(out, u64::from(v), 4));
    scalar!(visit_u64, u64, |out, v| push_uint(out, v, 8));
    // The analyzer reads `uint8 equal`, `uint16 equal` and `int64 equal`
    // as signed, `uint32 equal` as unsigned.
    scalar!(visit_u8_equal, u8, |out, v| push_int(
        out,
        i64::from(v as i8),
        1
    ));
    scalar!(visit_u16_equal, u16, |out, v| push_int(
        out,
        i64::from(v as i16),
        2
    ));
    scalar!(visit_u32_equal, u32, |out, v| push_uint(
        out,
        u64::from(v),
        4
    ));
    scalar!(visit_u64_equal, u64, |out, v| push_int(out, v as i64, 8));
    scalar!(visit_i32_equal, i32, |out, v| push_int(
        out,
        i64::from(v),
        4
    ));
    scalar!(visit_i32_le, i32, |out, v| push_int(out, i64::from(v), 4));
    scalar!(visit_bitmap_word, u64, |out, v| push_spaced_hex(
        out,
        &v.to_be_bytes()
    ));

    fn visit_f64(&mut self, name: &'d str, v: &mut f64) -> Result<()> {
        let bits = v.to_bits().to_be_bytes();
        if self.capture.is_some() {
            self.capture_bytes(&bits);
            return Ok(());
        }
        self.value(name, |out| push_spaced_hex(out, &bits))
    }

    fn visit_timer(&mut self, name: &'d str, v: &mut Timer) -> Result<()> {
        let raw = v.raw().to_be_bytes();
        if self.capture.is_some() {
            self.capture_bytes(&raw);
            return Ok(());
        }
        self.value(name, |out| push_spaced_hex(out, &raw))
    }

    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        if self.capture.is_some() {
            self.capture_bytes(bytes);
            return Ok(());
        }
        self.value(name, |out| push_spaced_hex(out, bytes))
    }

    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let n = len.min(bytes.len());
        if self.capture.is_some() {
            self.capture_bytes(&bytes[..n]);
            return Ok(());
        }
        let class = class_of(type_name);
        self.value(name, |out| push_class(out, class, &bytes[..n]))
    }

    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        if self.capture.is_some() {
            self.captured.resize(self.captured.len() + len, 0);
            return Ok(());
        }
        self.value(name, |out| push_spaced_zeros(out, len))
    }

    fn visit_ptr_marker(
        &mut self,
        name: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        let _ = valid_allowed;
        if self.capture.is_some() {
            self.captured.push(if *present {
                qemufile::stream::PTR_MARKER_VALID
            } else {
                qemufile::stream::PTR_MARKER_NULL
            });
            return Ok(());
        }
        if *present {
            // The element follows and is the value.
            return Ok(());
        }
        self.value(name, |out| out.extend_from_slice(b"\"nullptr\""))
    }

    fn visit_list_marker(&mut self, name: &'d str, more: &mut bool) -> Result<()> {
        let _ = name;
        if self.capture.is_some() {
            self.captured.push(u8::from(*more));
        }
        Ok(())
    }

    uint_slice!(visit_u8_slice, u8, 1);
    uint_slice!(visit_u16_slice, u16, 2);
    uint_slice!(visit_u32_slice, u32, 4);
    uint_slice!(visit_u64_slice, u64, 8);
    slice!(visit_i32_slice, i32, |out, v| push_int(
        out,
        i64::from(v),
        4
    ));

    fn enter_field(&mut self, index: usize) -> Result<()> {
        if let Some(c) = self.capture.as_mut() {
            c.fields += 1;
            return Ok(());
        }
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        let plan = &self.plans[frame.plan as usize];
        let Some(fp) = self
            .field_plans
            .get(plan.fields.start as usize + index)
            .filter(|_| (index as u32) < plan.fields.end - plan.fields.start)
            .copied()
        else {
            let d = self.descriptions[frame.plan as usize];
            return Err(walk_mismatch(format!(
                "`{}` has no field number {index}",
                d.name
            )));
        };
        frame.field = index as u32;
        frame.implicit = false;
        frame.next_field = index as u32 + 1;
        frame.array_depth = 0;
        frame.n_elems = 0;
        if let (false, Show::Capture(class)) = (fp.elements, fp.show) {
            self.start_capture(CaptureMode::Field, class);
        }
        Ok(())
    }

    fn leave_field(&mut self) -> Result<()> {
        if let Some(c) = self.capture.as_mut() {
            if c.fields > 0 || c.mode != CaptureMode::Field {
                c.fields = c.fields.saturating_sub(1);
                return Ok(());
            }
            let class = c.class;
            self.end_capture(class);
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.field = NONE;
            frame.implicit = false;
        }
        Ok(())
    }

    fn enter_struct(
        &mut self,
        name: &'d str,
        description: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        let _ = version_id;
        if self.capture.is_some() {
            return Ok(());
        }
        let plan = self.plan_for(description);
        let (level, value_start, group, replace) = if self.frames.is_empty() {
            (self.base_level, self.out.len(), NONE, false)
        } else if let Some(index) = self.pending_subsection.take() {
            let Some(parent) = self.frames.last_mut() else {
                return Ok(());
            };
            // A subsection ends the member being written.
            let p = &self.plans[parent.plan as usize];
            let group = self
                .sub_groups
                .get(p.subsections.start as usize + index)
                .copied()
                .filter(|_| (index as u32) < p.subsections.end - p.subsections.start)
                .ok_or_else(|| walk_mismatch(format!("no subsection number {index}")))?;
            parent.field = NONE;
            parent.implicit = false;
            let start = self.out.len();
            (self.open_value(group), start, group, true)
        } else {
            let group = match self.current_field(name)? {
                Some(fp) => fp.group,
                None => NONE,
            };
            let start = self.out.len();
            (self.open_value(group), start, group, false)
        };
        let in_order = self.plans[plan as usize].in_order;
        if !in_order {
            self.buffered_open += 1;
        }
        self.frames.push(Frame {
            plan,
            level,
            any: false,
            buffered: !in_order,
            region_start: self.out.len(),
            segments_start: self.segments.len(),
            open_group: NONE,
            open_list: false,
            list_first: true,
            field: NONE,
            implicit: false,
            next_field: 0,
            array_depth: 0,
            n_elems: 0,
            value_start,
            value_group: group,
            value_replace: replace,
        });
        Ok(())
    }

    fn leave_struct(&mut self) -> Result<()> {
        if self.capture.is_some() {
            return Ok(());
        }
        let Some(mut frame) = self.frames.pop() else {
            return Ok(());
        };
        self.finish_frame(&mut frame);
        if frame.buffered {
            self.buffered_open = self.buffered_open.saturating_sub(1);
        }
        if !self.frames.is_empty() && frame.value_group != NONE {
            self.close_value(frame.value_group, frame.value_start, frame.value_replace);
        }
        Ok(())
    }

    fn enter_array(&mut self, name: &'d str, len: usize, element_size: usize) -> Result<()> {
        let _ = element_size;
        if self.capture.is_some() {
            return Ok(());
        }
        let Some(fp) = self.current_field(name)? else {
            return Ok(());
        };
        if let Some(frame) = self.frames.last_mut() {
            if frame.array_depth == 0 && fp.elements {
                frame.n_elems = (len as u64).saturating_mul(fp.inner);
            }
            frame.array_depth += 1;
        }
        Ok(())
    }

    fn leave_array(&mut self) -> Result<()> {
        if self.capture.is_some() {
            return Ok(());
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.array_depth = frame.array_depth.saturating_sub(1);
            if frame.implicit && frame.array_depth == 0 {
                frame.field = NONE;
                frame.implicit = false;
            }
        }
        Ok(())
    }

    fn enter_element(&mut self, index: usize) -> Result<()> {
        let _ = index;
        if let Some(c) = self.capture.as_mut() {
            c.elements += 1;
            return Ok(());
        }
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        if frame.field == NONE {
            return Ok(());
        }
        let plan = &self.plans[frame.plan as usize];
        let fp = self.field_plans[(plan.fields.start + frame.field) as usize];
        if let (true, Show::Capture(class)) = (fp.elements, fp.show) {
            if frame.array_depth == fp.leaf_depth {
                self.start_capture(CaptureMode::Element, class);
            }
        }
        Ok(())
    }

    fn leave_element(&mut self) -> Result<()> {
        if let Some(c) = self.capture.as_mut() {
            if c.elements > 0 || c.mode != CaptureMode::Element {
                c.elements = c.elements.saturating_sub(1);
                return Ok(());
            }
            let class = c.class;
            self.end_capture(class);
        }
        Ok(())
    }

    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        if self.capture.is_some() {
            // Inside a value shown as bytes: the subsection's header bytes.
            let name = description.name.as_bytes();
            self.captured.push(qemufile::stream::SUBSECTION);
            self.captured.push(name.len().min(255) as u8);
            self.captured
                .extend_from_slice(&name[..name.len().min(255)]);
            self.captured
                .extend_from_slice(&description.version_id.to_be_bytes());
            return Ok(());
        }
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        let parent = self.descriptions[frame.plan as usize];
        let index = parent
            .subsections
            .iter()
            .position(|s| std::ptr::eq(*s, description))
            .or_else(|| parent.subsection_index(description.name.as_bytes()))
            .ok_or_else(|| {
                walk_mismatch(format!(
                    "`{}` is not a subsection of `{}`",
                    description.name, parent.name
                ))
            })?;
        self.pending_subsection = Some(index);
        Ok(())
    }
}

/// The analyzer's JSON object for `value` (a section body: a derived value
/// or a [`DynamicState`]), walked at its current version, as a document of
/// its own (indentation level 0, no trailing newline). Runs no hook and
/// leaves `value` as it is (see [looking at state](crate#looking-at-state)).
///
/// [`DynamicState`]: crate::dynamic::DynamicState
pub fn to_json_string<'d, T: Walk<'d>>(value: &mut T) -> Result<String> {
    let mut v = AnalyzerJson::new();
    let d = value.description();
    visit_struct(value, &mut v, d.name)?;
    Ok(String::from_utf8_lossy(&v.into_output()).into_owned())
}

// ---------------------------------------------------------------------------
// Whole streams.
// ---------------------------------------------------------------------------

/// What [`write_state_json`] prints besides the analyzer's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateJsonOptions {
    /// Also print RAM contents, as `analyze-migration.py -m` does: a
    /// `"memory"` member in each RAM section, one member per page
    /// (`"pc.ram (0x0000000000001000)"`), `"Filled with 0x00"` for zero
    /// pages and the bytes of the others.
    pub memory: bool,
    /// Carry on where the analyzer stops: commands other than
    /// `SWITCHOVER_START` are skipped (the analyzer fails with `Unknown
    /// QEMU_VM_COMMAND`), and iterative sections it has no reader for
    /// (`dirty-bitmap`, unknown ones) are printed as `""`, like the ones it
    /// reads and shows empty (it fails with a `KeyError`).
    pub lenient: bool,
}

/// The analyzer's value of one top-level member.
#[derive(Debug)]
enum Member<'d> {
    /// A device section, printed once the whole stream has been read.
    State(DynamicState<'d>),
    /// A RAM section.
    Ram(usize),
    /// `""`.
    Empty,
}

#[derive(Debug)]
struct Entry<'d> {
    /// The key as a JSON string.
    key: Vec<u8>,
    value: Member<'d>,
}

/// Output held before it is written by [`write_state_json`].
const FLUSH_AT: usize = 64 << 10;

/// An [`AnalyzerJson`] whose finished text goes to `sink` in pieces of
/// about [`FLUSH_AT`] bytes (text of buffered structs once they end).
struct Streaming<'d, 'w, W: Write> {
    json: AnalyzerJson<'d>,
    sink: &'w mut W,
}

impl<W: Write> Streaming<'_, '_, W> {
    fn flush_if_large(&mut self) -> Result<()> {
        if self.json.out.len() >= FLUSH_AT && self.json.buffered_open == 0 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.write_all(&self.json.out).map_err(output_error)?;
        self.json.out.clear();
        Ok(())
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $t:ty),*);)*) => {$(
        fn $method(&mut self, $($arg: $t),*) -> Result<()> {
            self.json.$method($($arg),*)?;
            self.flush_if_large()
        }
    )*};
}

macro_rules! forward_slice {
    ($($method:ident($t:ty);)*) => {$(
        fn $method(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            // Long arrays in pieces, written out between them.
            for piece in items.chunks_mut(4096) {
                self.json.$method(name, piece)?;
                self.flush_if_large()?;
            }
            Ok(())
        }
    )*};
}

impl<'d, W: Write> Visitor<'d> for Streaming<'d, '_, W> {
    const LOADING: bool = false;

    forward! {
        visit_bool(name: &'d str, v: &mut bool);
        visit_i8(name: &'d str, v: &mut i8);
        visit_i16(name: &'d str, v: &mut i16);
        visit_i32(name: &'d str, v: &mut i32);
        visit_i64(name: &'d str, v: &mut i64);
        visit_u8(name: &'d str, v: &mut u8);
        visit_u16(name: &'d str, v: &mut u16);
        visit_u32(name: &'d str, v: &mut u32);
        visit_u64(name: &'d str, v: &mut u64);
        visit_f64(name: &'d str, v: &mut f64);
        visit_timer(name: &'d str, v: &mut Timer);
        visit_u8_equal(name: &'d str, v: &mut u8);
        visit_u16_equal(name: &'d str, v: &mut u16);
        visit_u32_equal(name: &'d str, v: &mut u32);
        visit_u64_equal(name: &'d str, v: &mut u64);
        visit_i32_equal(name: &'d str, v: &mut i32);
        visit_i32_le(name: &'d str, v: &mut i32);
        visit_buffer(name: &'d str, bytes: &mut [u8]);
        visit_buffer_vec(name: &'d str, bytes: &mut Vec<u8>, len: usize);
        visit_opaque(name: &'d str, type_name: &'d str, bytes: &mut Vec<u8>, len: usize);
        visit_unused(name: &'d str, len: usize);
        visit_bitmap_word(name: &'d str, word: &mut u64);
        visit_ptr_marker(name: &'d str, present: &mut bool, valid_allowed: bool);
        visit_list_marker(name: &'d str, more: &mut bool);
        enter_field(index: usize);
        leave_field();
        enter_struct(name: &'d str, description: &'d Description<'d>, version_id: u32);
        leave_struct();
        enter_array(name: &'d str, len: usize, element_size: usize);
        leave_array();
        enter_element(index: usize);
        leave_element();
        enter_subsection(description: &'d Description<'d>);
        leave_subsection();
    }
    forward_slice! {
        visit_u8_slice(u8);
        visit_u16_slice(u16);
        visit_u32_slice(u32);
        visit_u64_slice(u64);
        visit_i32_slice(i32);
    }
}

/// A RAM section's `"section sizes"` and `"memory"` (Python dicts: a key
/// set again keeps its place and takes the new value).
#[derive(Debug, Default)]
struct RamJson {
    sizes: Vec<(String, u64)>,
    size_index: HashMap<String, usize>,
    /// Page key as JSON, value as JSON.
    memory: Vec<(Vec<u8>, Vec<u8>)>,
    memory_index: HashMap<Vec<u8>, usize>,
    /// The block of the last record (the analyzer's `self.name`).
    block: String,
    /// The page being read.
    page: Vec<u8>,
}

impl RamJson {
    fn item<R: QemuRead>(
        &mut self,
        item: &RamItem,
        memory: bool,
        decoder: &mut StreamDecoder<'_, '_, R>,
    ) -> Result<()> {
        match item {
            RamItem::Block(b) => {
                let name = b.name.to_string_lossy();
                match self.size_index.get(&name) {
                    Some(&i) => self.sizes[i].1 = b.length,
                    None => {
                        self.size_index.insert(name.clone(), self.sizes.len());
                        self.sizes.push((name.clone(), b.length));
                    }
                }
                self.block = name;
            }
            // Only pages need the block's name.
            RamItem::Record(_) if !memory => {}
            RamItem::Record(r) => {
                if let Some(b) = &r.block {
                    self.block = b.to_string_lossy();
                }
                let mut value = Vec::new();
                match r.kind {
                    RamKind::Zero { fill } => {
                        value.extend_from_slice(b"\"Filled with 0x");
                        value.extend_from_slice(&SPACED[usize::from(fill)][..2]);
                        value.push(b'"');
                    }
                    RamKind::Page | RamKind::Xbzrle { .. } => {
                        let n = decoder.payload_remaining();
                        if n > 1 << 24 {
                            return Err(Error::msg(format!(
                                "a RAM page of {n} bytes is too large to print"
                            ))
                            .at_offset(decoder.position()));
                        }
                        self.page.clear();
                        self.page.resize(n as usize, 0);
                        decoder.read_payload(&mut self.page)?;
                        if matches!(r.kind, RamKind::Xbzrle { .. }) {
                            value.extend_from_slice(b"\"xbzrle ");
                            push_spaced_hex(&mut value, &self.page);
                            // The quote that opened the bytes.
                            value.remove(8);
                        } else {
                            push_spaced_hex(&mut value, &self.page);
                        }
                    }
                    _ => return Ok(()),
                }
                let mut key = Vec::new();
                push_py_str(&mut key, &format!("{} (0x{:016x})", self.block, r.addr));
                match self.memory_index.get(&key) {
                    Some(&i) => self.memory[i].1 = value,
                    None => {
                        self.memory_index.insert(key.clone(), self.memory.len());
                        self.memory.push((key, value));
                    }
                }
            }
        }
        Ok(())
    }

    /// The section's value at level 1.
    fn write(&self, out: &mut Vec<u8>, memory: bool) {
        out.push(b'{');
        newline_indent(out, 2);
        out.extend_from_slice(b"\"section sizes\": ");
        if self.sizes.is_empty() {
            out.extend_from_slice(b"{}");
        } else {
            for (i, (name, len)) in self.sizes.iter().enumerate() {
                out.push(if i == 0 { b'{' } else { b',' });
                newline_indent(out, 3);
                push_py_str(out, name);
                out.extend_from_slice(b": ");
                push_uint(out, *len, 8);
            }
            newline_indent(out, 2);
            out.push(b'}');
        }
        if memory {
            out.push(b',');
            newline_indent(out, 2);
            out.extend_from_slice(b"\"memory\": ");
            if self.memory.is_empty() {
                out.extend_from_slice(b"{}");
            } else {
                for (i, (key, value)) in self.memory.iter().enumerate() {
                    out.push(if i == 0 { b'{' } else { b',' });
                    newline_indent(out, 3);
                    out.extend_from_slice(key);
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(value);
                }
                newline_indent(out, 2);
                out.push(b'}');
            }
        }
        newline_indent(out, 1);
        out.push(b'}');
    }
}

/// Sets the member of section `h`: a section id seen before keeps its place
/// and takes the new key and value (the analyzer's dict by section id).
fn set_member<'d>(
    entries: &mut Vec<Entry<'d>>,
    by_id: &mut HashMap<u32, usize>,
    h: &SectionHeader,
    value: Member<'d>,
) -> usize {
    let mut key = Vec::new();
    push_py_str(
        &mut key,
        &format!("{} ({})", h.idstr.to_string_lossy(), h.section_id),
    );
    match by_id.get(&h.section_id) {
        Some(&i) => {
            entries[i] = Entry { key, value };
            i
        }
        None => {
            by_id.insert(h.section_id, entries.len());
            entries.push(Entry { key, value });
            entries.len() - 1
        }
    }
}

#[cold]
fn analyzer_refuses(message: String, at: u64) -> Error {
    Error::msg(format!(
        "analyze-migration.py refuses this stream: {message}"
    ))
    .at_offset(at)
}

#[cold]
fn output_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Stream(qemufile::ErrorKind::Io(e)))
}

/// Reads the whole stream from `decoder` (just opened) and writes to `out`
/// exactly what `analyze-migration.py -d state` prints for it (QEMU 10.0's
/// analyzer; see the [module](self) docs), final newline included.
///
/// Nothing is written unless the whole stream reads: like the analyzer,
/// a stream that fails prints nothing. The decoded device sections are
/// kept until the end (a later section with the same section id replaces
/// an earlier one in place, as in the analyzer's dict), then printed by
/// one [`AnalyzerJson`] and written to `out` in pieces of about 64 KiB:
/// what is held is the decoded values, not their much larger text. Where
/// the analyzer refuses a stream (a command other than `SWITCHOVER_START`,
/// an iterative section it has no reader for, a `spapr/htab` version other
/// than 1, an `s390-storage_attributes` version other than 0, a part of a
/// section that did not start), this fails too, unless
/// [`StateJsonOptions::lenient`]. Output errors keep their
/// [`std::io::Error`] (as [`qemufile::ErrorKind::Io`]).
///
/// The device sections are described by the decoder's schema: the
/// stream's own vmdesc (which the analyzer needs), or one given for a
/// stream without it.
///
/// ```no_run
/// use vmstate_core::analyzer::{StateJsonOptions, write_state_json};
/// use vmstate_core::dynamic::DescriptionArena;
/// use vmstate_core::stream::{StreamDecoder, StreamSchema};
///
/// let bytes = std::fs::read("x86-pc-min.mig")?;
/// let arena = DescriptionArena::new();
/// let schema = StreamSchema::from_stream(&arena, &bytes)?;
/// let mut decoder = StreamDecoder::open(qemufile::SliceReader::new(&bytes), schema.as_ref())?;
/// let stdout = std::io::stdout().lock();
/// write_state_json(&mut decoder, stdout, &StateJsonOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_state_json<'d, R: QemuRead, W: Write>(
    decoder: &mut StreamDecoder<'_, 'd, R>,
    mut out: W,
    options: &StateJsonOptions,
) -> Result<()> {
    // The analyzer reads the configuration with the vmdesc's description
    // (and does not print it).
    decoder.configuration_state()?;
    // The analyzer prints its dict by section id once the stream has been
    // read: the decoded sections are kept (a later section of the same id
    // replaces one in place) and printed at the end.
    let mut entries: Vec<Entry<'d>> = Vec::new();
    let mut by_id: HashMap<u32, usize> = HashMap::new();
    let mut rams: Vec<RamJson> = Vec::new();
    // The RAM section the items belong to.
    let mut current_ram: Option<usize> = None;
    while let Some(event) = decoder.next_event()? {
        match event {
            Event::Section(h) => {
                let state = decoder.decode_section()?;
                set_member(&mut entries, &mut by_id, &h, Member::State(state));
            }
            Event::IterativeHeader(h) => {
                current_ram = None;
                let at = decoder.item_offset();
                if h.kind.has_full_header() {
                    let idstr = h.idstr.to_string_lossy();
                    let kind = IterativeKind::of(h.idstr.as_bytes());
                    let value = match (kind, h.instance_id) {
                        (IterativeKind::Ram, 0) => {
                            rams.push(RamJson::default());
                            current_ram = Some(rams.len() - 1);
                            Member::Ram(rams.len() - 1)
                        }
                        (IterativeKind::Htab, 0) if h.version_id != 1 && !options.lenient => {
                            return Err(analyzer_refuses(
                                format!("Unknown HTAB version {}", h.version_id),
                                at,
                            ));
                        }
                        (IterativeKind::StorageAttributes, 0)
                            if h.version_id != 0 && !options.lenient =>
                        {
                            return Err(analyzer_refuses(
                                format!("Unknown storage_attributes version {}", h.version_id),
                                at,
                            ));
                        }
                        (IterativeKind::Htab | IterativeKind::StorageAttributes, 0) => {
                            Member::Empty
                        }
                        _ if options.lenient => Member::Empty,
                        _ => {
                            return Err(analyzer_refuses(
                                format!(
                                    "it has no reader for the iterative section {idstr} \
                                     instance {} (KeyError: ('{idstr}', {}))",
                                    h.instance_id, h.instance_id
                                ),
                                at,
                            ));
                        }
                    };
                    set_member(&mut entries, &mut by_id, &h, value);
                } else {
                    match by_id.get(&h.section_id) {
                        Some(&i) => {
                            if let Member::Ram(k) = entries[i].value {
                                current_ram = Some(k);
                            }
                        }
                        None if options.lenient => {}
                        None => {
                            return Err(analyzer_refuses(
                                format!(
                                    "a {:?} part of section id {} that did not start \
                                     (KeyError: {})",
                                    h.kind, h.section_id, h.section_id
                                ),
                                at,
                            ));
                        }
                    }
                }
            }
            Event::Item(SectionItem::Ram(item)) => {
                if let Some(k) = current_ram {
                    if let Some(ram) = rams.get_mut(k) {
                        ram.item(&item, options.memory, decoder)?;
                    }
                }
            }
            Event::Item(_) | Event::IterativeEnd | Event::Eof(_) => {}
            Event::Command(c) => {
                let accepted = c.cmd == MIG_CMD_SWITCHOVER_START && c.data.is_empty();
                if !accepted && !options.lenient {
                    let message = if c.cmd == MIG_CMD_SWITCHOVER_START {
                        format!("Invalid SWITCHOVER_START length: {:x}", c.data.len())
                    } else {
                        format!("Unknown QEMU_VM_COMMAND: {:x}", c.cmd)
                    };
                    return Err(analyzer_refuses(message, decoder.item_offset()));
                }
            }
        }
    }
    if entries.is_empty() {
        out.write_all(b"{}\n").map_err(output_error)?;
        return out.flush().map_err(output_error);
    }
    let mut v = Streaming {
        json: AnalyzerJson::at_level(1),
        sink: &mut out,
    };
    v.json.out.reserve(FLUSH_AT * 2);
    for (i, e) in entries.iter_mut().enumerate() {
        let text = &mut v.json.out;
        text.extend_from_slice(if i == 0 { b"{\n    " } else { b",\n    " });
        text.extend_from_slice(&e.key);
        text.extend_from_slice(b": ");
        match &mut e.value {
            Member::State(state) => {
                let d = state.description();
                visit_struct(state, &mut v, d.name)?;
            }
            Member::Ram(k) => {
                if let Some(ram) = rams.get(*k) {
                    ram.write(text, options.memory);
                }
            }
            Member::Empty => text.extend_from_slice(b"\"\""),
        }
        v.flush_if_large()?;
    }
    v.json.out.extend_from_slice(b"\n}\n");
    v.flush()?;
    out.flush().map_err(output_error)
}

/// Writes `value` as Python's `json.dumps(value, indent=4)` (with
/// `ensure_ascii`) writes it: what `analyze-migration.py -d desc` prints for
/// a vmdesc. `level` is the indentation level of `value` itself (0 at the
/// top). Objects keep their order (serde_json's `preserve_order`).
pub fn write_python_json(value: &serde_json::Value, out: &mut Vec<u8>, level: usize) {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => push_py_str(out, s),
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, level + 1);
                write_python_json(item, out, level + 1);
            }
            newline_indent(out, level);
            out.push(b']');
        }
        Value::Object(members) if members.is_empty() => out.extend_from_slice(b"{}"),
        Value::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, level + 1);
                push_py_str(out, key);
                out.extend_from_slice(b": ");
                write_python_json(item, out, level + 1);
            }
            newline_indent(out, level);
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers_as_the_analyzer_prints_them() {
        assert_eq!(s(|o| push_uint(o, 0x10, 2)), "\"0x0010\"");
        assert_eq!(s(|o| push_int(o, -2, 2)), "\"0xfffe (-2)\"");
        assert_eq!(
            s(|o| push_int(o, i64::MIN, 8)),
            "\"0x8000000000000000 (-9223372036854775808)\""
        );
        assert_eq!(
            s(|o| push_int_bytes(o, &[0xff, 0xfe], true)),
            "\"0xfffe (-2)\""
        );
        assert_eq!(s(|o| push_int_bytes(o, &[0xff, 0xfe], false)), "\"0xfffe\"");
        assert_eq!(s(|o| push_int_bytes(o, &[], true)), "\"0x0\"");
        assert_eq!(
            s(|o| push_int_bytes(o, &[0xff; 9], true)),
            "\"0xffffffffffffffffff (-1)\""
        );
        assert_eq!(
            s(|o| push_int_bytes(o, &[0x80, 0, 0, 0, 0, 0, 0, 0, 0], true)),
            "\"0x800000000000000000 (-2361183241434822606848)\""
        );
        assert_eq!(s(|o| push_int_bytes(o, &[0, 1, 2], true)), "\"0x000102\"");
    }

    #[test]
    fn strings_and_bytes_as_python_prints_them() {
        assert_eq!(s(|o| push_spaced_hex(o, &[1, 0xab])), "\"01 ab\"");
        assert_eq!(s(|o| push_spaced_hex(o, &[])), "\"\"");
        assert_eq!(s(|o| push_spaced_zeros(o, 2)), "\"00 00\"");
        assert_eq!(
            s(|o| push_py_str(o, "a\"b\\c\n\u{1}\u{7f}é😀")),
            r#""a\"b\\c\n\u0001\u007f\u00e9\ud83d\ude00""#
        );
        let mut v = Vec::new();
        newline_indent(&mut v, 20);
        assert_eq!(v.len(), 81);
    }
}
