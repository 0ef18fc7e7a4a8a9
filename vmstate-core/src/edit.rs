//! Changing fields of a real stream in place: `vmstate set FILE
//! PATH=VALUE... -o OUT`.
//!
//! [`set_fields`] reads a stream and writes it again byte for byte, except
//! for the device sections that an assignment names: each of those is
//! decoded into a [`DynamicState`] with the stream's vmdesc, the fields are
//! found by the paths [`PathTracker`] gives them (the paths of
//! `vmstate dump` and of error messages: `mc146818rtc.cmos_index`,
//! `cpu[1].env.regs[3]`, `i8259/ltim.ltim`), set by a visitor, and the
//! section is encoded again by the QEMUFile output visitor. Every other
//! byte (headers, footers, other sections, RAM, the vmdesc) is copied.
//!
//! It refuses, with a message naming the field:
//!
//! * a value that does not fit the field's wire type (`0x100` for a
//!   `uint8`, `-1` for a `uint32`, 3 bytes for a 4-byte buffer);
//! * a path that names no value, with the nearest paths of the stream as
//!   suggestions;
//! * a change to the layout: NULL-pointer markers and unused bytes are not
//!   values, and no edit changes a section's size unless
//!   [`EditOptions::allow_resize`] allows it (below);
//! * a section whose bytes the description does not reproduce exactly (so
//!   that nothing but the edited values can change).
//!
//! # Resizing: counted arrays and buffers
//!
//! QEMU's `VMSTATE_VARRAY_*` and `VMSTATE_VBUFFER*` take their length from
//! an earlier field of the same struct (`num_timers_save`, `size`), which a
//! destination reads first. The vmdesc shows such an array as an array of
//! its current length and does not say which field counts it, so a
//! [`CountLink`] says it (`--count hpet.num_timers_save=timer`). With the
//! links and [`EditOptions::allow_resize`] ([`set_fields_with`]):
//!
//! * the section's description is rebuilt with the targets as counted
//!   ([`Layout::VarArray`](crate::Layout::VarArray),
//!   [`Layout::VarBuffer`](crate::Layout::VarBuffer)), the section decoded
//!   again with it (it must be its own bytes again, and the count's value
//!   the length of every target);
//! * setting the count resizes the targets in the walk: growing appends
//!   zero values (integers and bytes 0, timers not armed (-1), structs all
//!   zero, without subsections), which later assignments of the same call
//!   may set (`hpet.num_timers_save=4 hpet.timer[3].cmp=0x77`: counts are
//!   applied first); shrinking drops trailing elements;
//! * a whole counted buffer set to a value of another length sets its
//!   length field too;
//! * the section is encoded by the output visitor, and its vmdesc entry
//!   written by the vmdesc visitor, as QEMU writes both for the new state
//!   (`"array_len"`, sizes; one element is described like a plain field,
//!   none not at all). The old entry must be exactly what that visitor
//!   writes for the state in the stream, so that the rewritten entry is
//!   what QEMU would have written; the rest of the vmdesc and of the
//!   stream is copied.
//!
//! Refused: a new count that does not fit the count's type or is
//! negative; a change of an `equal` count (a destination refuses any value
//! but its own) and growth of an `le` count (`VMSTATE_INT32_POSITIVE_LE`:
//! at most the destination's own value); targets past the allocation
//! limits; counts inside array elements (elements share one description);
//! targets that the stream holds no element of (QEMU writes no vmdesc entry
//! for an empty array, so nothing says what its elements are); adding or
//! removing a subsection. An integer changed without a link whose old value
//! is the length of an array or buffer after it gets a warning
//! ([`Change::note`]): it may be a count.
//!
//! A byte of a `buffer` (or of a device-specific type known only by its
//! size, such as `pci config`) is `PATH[i]`: `mc146818rtc.cmos_data[14]=0x20`.
//!
//! ```
//! use vmstate_core::edit::{Assignment, set_fields};
//! use vmstate_core::dynamic::DescriptionArena;
//! use vmstate_core::stream::StreamSchema;
//!
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/x86-pc-min.mig");
//! let bytes = std::fs::read(path)?;
//! let arena = DescriptionArena::new();
//! let schema = StreamSchema::from_stream(&arena, &bytes)?.expect("a vmdesc");
//! let edits = [Assignment::parse("mc146818rtc.cmos_data[14]=0x20")?];
//! let mut out = Vec::new();
//! let changes = set_fields(
//!     qemufile::SliceReader::new(&bytes), &schema, &edits, &mut out, Default::default(),
//! )?;
//! assert_eq!(changes[0].old, "0x0");
//! assert_eq!(changes[0].new, "0x20");
//! assert_eq!(out.len(), bytes.len());
//! let offset = changes[0].offset.expect("a byte changed") as usize;
//! assert_eq!((bytes[offset], out[offset]), (0x00, 0x20));
//! let differing = bytes.iter().zip(&out).filter(|(a, b)| a != b).count();
//! assert_eq!(differing, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use bumpalo::Bump;
use qemufile::QemuRead;
use qemufile::stream::Vmdesc;

use crate::dynamic::{self, DynamicState, VmdescObject};
use crate::json::JsonWriter;
use crate::json_state::{parse_bool, parse_bytes, parse_double, parse_signed, parse_unsigned};
use crate::pretty::Hex;
use crate::stream::{Event, StreamDecoder, StreamSchema, section_root};
use crate::vmdesc::save_with_vmdesc;
use crate::{Limits, PathTracker, Result, Timer, Visitor, WireType, visit_struct_at};

mod resize;

pub use resize::CountLink;
use resize::Linked;

/// One `PATH=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The field's path, as `vmstate dump` prints it.
    pub path: String,
    /// The new value: decimal or hex integers (`32`, `0x20`, `-1`), `true`
    /// and `false`, hex bytes for buffers (`0x0102...`), a double as a
    /// number or its IEEE bits in hex.
    pub value: String,
}

impl Assignment {
    /// Parses `PATH=VALUE`: the path ends at the first `=` outside double
    /// quotes (names with spaces or `=` in them are quoted in paths).
    pub fn parse(text: &str) -> std::result::Result<Self, EditError> {
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '=' if !quoted => {
                    let (path, value) = (text[..i].trim(), text[i + 1..].trim());
                    if path.is_empty() || value.is_empty() {
                        break;
                    }
                    return Ok(Assignment {
                        path: path.to_owned(),
                        value: value.to_owned(),
                    });
                }
                _ => {}
            }
        }
        Err(EditError::Assignment(format!(
            "{text:?} is not PATH=VALUE (e.g. mc146818rtc.cmos_index=0x0e)"
        )))
    }
}

impl std::str::FromStr for Assignment {
    type Err = EditError;
    fn from_str(s: &str) -> std::result::Result<Self, EditError> {
        Assignment::parse(s)
    }
}

/// One value changed by [`set_fields`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The field's path.
    pub path: String,
    /// Its wire type (`uint8`, `buffer`, ...).
    pub wire_type: String,
    /// The old value, as `vmstate dump` prints it (a byte of a buffer as `0x..`).
    pub old: String,
    /// The new value, printed the same way.
    pub new: String,
    /// The offset in the stream of the first byte that changed; `None` when
    /// the new value is the old one.
    pub offset: Option<u64>,
    /// What else the change did: the arrays and buffers a count resized
    /// (`resizes hpet.timer from 3 to 4 element(s) (new elements are zero)`),
    /// the length field a buffer of another length set.
    pub note: Option<String>,
}

/// Why [`set_fields`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum EditError {
    /// An argument is not `PATH=VALUE`.
    Assignment(String),
    /// No value of the stream has this path.
    UnknownPath {
        /// The path given.
        path: String,
        /// The section whose values were looked at (its root begins the
        /// path); `None` when no section's does.
        section: Option<String>,
        /// The nearest paths of that section, or the nearest section
        /// names, nearest first.
        suggestions: Vec<String>,
    },
    /// The value does not fit the field, or the field is not a value.
    Value {
        /// The field's path.
        path: String,
        /// Why.
        message: String,
    },
    /// The edit would change what the section's bytes are made of.
    Layout {
        /// The field's path (or the section's root).
        path: String,
        /// Why.
        message: String,
    },
    /// The stream could not be read or written.
    Stream(crate::Error),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Assignment(m) => f.write_str(m),
            EditError::UnknownPath {
                path,
                section: Some(section),
                suggestions,
            } => {
                write!(f, "no value of section {section} has the path {path}")?;
                match suggestions.as_slice() {
                    [] => f.write_str(" (`vmstate dump FILE` lists every path)"),
                    [one] => write!(f, "; did you mean {one}?"),
                    many => write!(f, "; did you mean one of: {}?", many.join(", ")),
                }
            }
            EditError::UnknownPath {
                path,
                section: None,
                suggestions,
            } => {
                write!(f, "no section of the stream begins the path {path}")?;
                match suggestions.as_slice() {
                    [] => f.write_str(" (the stream has no device section)"),
                    names => write!(
                        f,
                        " (the nearest section names: {}; `vmstate dump FILE` lists every path)",
                        names.join(", ")
                    ),
                }
            }
            EditError::Value { path, message } => write!(f, "{path}: {message}"),
            EditError::Layout { path, message } => write!(f, "{path}: {message}"),
            EditError::Stream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EditError::Stream(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::Error> for EditError {
    fn from(e: crate::Error) -> Self {
        EditError::Stream(e)
    }
}

impl From<qemufile::Error> for EditError {
    fn from(e: qemufile::Error) -> Self {
        EditError::Stream(e.into())
    }
}

/// How many suggestions an unknown path gets.
const SUGGESTIONS: usize = 3;

/// An assignment being looked for in one section.
#[derive(Debug)]
struct Target<'a> {
    assignment: &'a Assignment,
    /// `PATH` and `i` of `PATH[i]`: a byte of a buffer.
    byte: Option<(&'a str, usize)>,
    found: bool,
    change: Option<Change>,
    /// The nearest paths seen, by distance.
    near: Vec<(usize, String)>,
}

impl<'a> Target<'a> {
    fn new(assignment: &'a Assignment) -> Self {
        let byte = assignment
            .path
            .strip_suffix(']')
            .and_then(|p| p.rsplit_once('['))
            .and_then(|(base, i)| {
                let i = parse_unsigned(i, 32, "an index").ok()?;
                Some((base, usize::try_from(i).ok()?))
            });
        Target {
            assignment,
            byte,
            found: false,
            change: None,
            near: Vec::new(),
        }
    }

    fn consider(&mut self, path: &str) {
        if self.found {
            return;
        }
        let want = self.assignment.path.as_str();
        let worst = match self.near.len() {
            n if n < SUGGESTIONS => usize::MAX,
            _ => self.near.last().map_or(usize::MAX, |n| n.0),
        };
        if path.len().abs_diff(want.len()) >= worst {
            return;
        }
        let d = distance(path.as_bytes(), want.as_bytes());
        if d < worst && !self.near.iter().any(|(_, p)| p == path) {
            let at = self.near.partition_point(|(x, _)| *x <= d);
            self.near.insert(at, (d, path.to_owned()));
            self.near.truncate(SUGGESTIONS);
        }
    }
}

/// Levenshtein distance.
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(x != y));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The visitor that finds the targets' fields and sets them.
struct Setter<'t, 'a, 'd> {
    path: PathTracker<'d>,
    targets: &'t mut [Target<'a>],
    /// The first refusal.
    error: Option<EditError>,
    /// Edits that change the section's size are allowed.
    allow_resize: bool,
    /// The paths of the buffers a linked count holds the length of.
    counted_buffers: &'t [String],
}

impl<'d> Setter<'_, '_, 'd> {
    /// Offers the value at `path` to every target; `apply` parses and sets
    /// the new value for the target whose path this is, returning the old
    /// and new value as shown.
    fn offer(
        &mut self,
        name: &str,
        wire: &str,
        mut apply: impl FnMut(&str) -> std::result::Result<(String, String), String>,
    ) {
        let path = self.path.path(name);
        for t in self.targets.iter_mut() {
            if t.found || t.assignment.path != path {
                t.consider(&path);
                continue;
            }
            t.found = true;
            match apply(&t.assignment.value) {
                Ok((old, new)) => {
                    t.change = Some(Change {
                        path: path.clone(),
                        wire_type: wire.to_owned(),
                        old,
                        new,
                        offset: None,
                        note: None,
                    });
                }
                Err(message) => {
                    if self.error.is_none() {
                        self.error = Some(EditError::Value {
                            path: path.clone(),
                            message,
                        });
                    }
                }
            }
        }
    }

    fn refuse(&mut self, name: &str, message: &str) {
        let path = self.path.path(name);
        for t in self.targets.iter_mut() {
            if !t.found && t.assignment.path == path {
                t.found = true;
                if self.error.is_none() {
                    self.error = Some(EditError::Layout {
                        path: path.clone(),
                        message: message.to_owned(),
                    });
                }
            } else {
                t.consider(&path);
            }
        }
    }

    /// A buffer: the whole of it (`PATH=0x...`) or one byte (`PATH[i]=..`).
    fn bytes(&mut self, name: &str, wire: &str, bytes: &mut [u8]) {
        let path = self.path.path(name);
        let len = bytes.len();
        for t in self.targets.iter_mut() {
            if t.found {
                continue;
            }
            let byte = match t.byte {
                Some((base, i)) if base == path => Some(i),
                _ if t.assignment.path == path => None,
                _ => {
                    t.consider(&path);
                    if len > 0 {
                        t.consider(&format!("{path}[{}]", len - 1));
                    }
                    continue;
                }
            };
            t.found = true;
            let counted = self.counted_buffers.contains(&path);
            let result = match byte {
                None if hex_len(&t.assignment.value).is_some_and(|n| n != len) => {
                    let n = hex_len(&t.assignment.value).unwrap_or(0);
                    let why = if counted {
                        "its length field says so (set the length field to the value's length, \
                         or leave it to the value)"
                            .to_owned()
                    } else if self.allow_resize {
                        format!(
                            "nothing says which field holds its length: name it, --count \
                             LEN_FIELD={}",
                            last_name(&path)
                        )
                    } else {
                        format!(
                            "that changes the section's size; where a migrated field holds the \
                             {wire}'s length (VMSTATE_VBUFFER), --allow-resize --count LEN_FIELD={} \
                             allows it",
                            last_name(&path)
                        )
                    };
                    Err(format!(
                        "the {wire} holds {len} byte(s), the value has {n}: {why}"
                    ))
                }
                None => parse_bytes(&t.assignment.value, len, wire).map(|new| {
                    let old = format!("0x{}", Hex(bytes));
                    bytes.copy_from_slice(&new);
                    (old, format!("0x{}", Hex(bytes)))
                }),
                Some(i) if i < len => {
                    parse_unsigned(&t.assignment.value, 8, "a byte (uint8)").map(|new| {
                        let old = format!("{:#x}", bytes[i]);
                        bytes[i] = new as u8;
                        (old, format!("{new:#x}"))
                    })
                }
                Some(i) => Err(format!(
                    "the {wire} has {len} byte(s): there is no byte {i} (0..={}){}",
                    len.saturating_sub(1),
                    if counted {
                        "; set its length field first to grow it"
                    } else {
                        ""
                    }
                )),
            };
            match result {
                Ok((old, new)) => {
                    t.change = Some(Change {
                        path: t.assignment.path.clone(),
                        wire_type: if byte.is_some() {
                            format!("byte of {wire}")
                        } else {
                            wire.to_owned()
                        },
                        old,
                        new,
                        offset: None,
                        note: None,
                    })
                }
                Err(message) => {
                    if self.error.is_none() {
                        self.error = Some(EditError::Value {
                            path: t.assignment.path.clone(),
                            message,
                        });
                    }
                }
            }
        }
    }
}

/// The number of bytes of a hex value (`0x0102` is 2), if it is one.
fn hex_len(text: &str) -> Option<usize> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    (hex.len() % 2 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex.len() / 2)
}

/// The last name of a path (`buf` of `nvram.buf`).
fn last_name(path: &str) -> &str {
    path.rsplit_once('.').map_or(path, |(_, n)| n)
}

macro_rules! set_unsigned {
    ($name:ident, $t:ty, $bits:expr, $wire:ident) => {
        fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            let wire = WireType::$wire.name();
            self.offer(name, wire, |text| {
                let new = parse_unsigned(text, $bits, wire)? as $t;
                let old = format!("{:#x}", *v);
                *v = new;
                Ok((old, format!("{new:#x}")))
            });
            Ok(())
        }
    };
}

macro_rules! set_signed {
    ($name:ident, $t:ty, $u:ty, $bits:expr, $wire:ident) => {
        fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            let wire = WireType::$wire.name();
            self.offer(name, wire, |text| {
                let new = parse_signed(text, $bits, wire)? as $t;
                let old = format!("{:#x}", *v as $u);
                *v = new;
                Ok((old, format!("{:#x}", new as $u)))
            });
            Ok(())
        }
    };
}

impl<'d> Visitor<'d> for Setter<'_, '_, 'd> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()> {
        self.offer(name, WireType::Bool.name(), |text| {
            let new = parse_bool(text)?;
            let old = format!("{:#x}", u8::from(*v));
            *v = new;
            Ok((old, format!("{:#x}", u8::from(new))))
        });
        Ok(())
    }
    set_signed!(visit_i8, i8, u8, 8, Int8);
    set_signed!(visit_i16, i16, u16, 16, Int16);
    set_signed!(visit_i32, i32, u32, 32, Int32);
    set_signed!(visit_i64, i64, u64, 64, Int64);
    set_signed!(visit_i32_equal, i32, u32, 32, Int32Equal);
    set_signed!(visit_i32_le, i32, u32, 32, Int32Le);
    set_unsigned!(visit_u8, u8, 8, Uint8);
    set_unsigned!(visit_u16, u16, 16, Uint16);
    set_unsigned!(visit_u32, u32, 32, Uint32);
    set_unsigned!(visit_u64, u64, 64, Uint64);
    set_unsigned!(visit_u8_equal, u8, 8, Uint8Equal);
    set_unsigned!(visit_u16_equal, u16, 16, Uint16Equal);
    set_unsigned!(visit_u32_equal, u32, 32, Uint32Equal);
    set_unsigned!(visit_u64_equal, u64, 64, Uint64Equal);
    set_unsigned!(visit_bitmap_word, u64, 64, Bitmap);

    fn visit_f64(&mut self, name: &'d str, v: &mut f64) -> Result<()> {
        self.offer(name, WireType::CpuDouble.name(), |text| {
            let new = parse_double(text)?;
            let old = format!("{:#x}", v.to_bits());
            *v = new;
            Ok((old, format!("{:#x}", new.to_bits())))
        });
        Ok(())
    }
    fn visit_timer(&mut self, name: &'d str, v: &mut Timer) -> Result<()> {
        let wire = WireType::Timer.name();
        self.offer(name, wire, |text| {
            let new = parse_signed(text, 64, wire)?;
            let old = format!("{:#x}", v.raw() as u64);
            *v = Timer::from_raw(new);
            Ok((old, format!("{:#x}", new as u64)))
        });
        Ok(())
    }
    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.bytes(name, WireType::Buffer.name(), bytes);
        Ok(())
    }
    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let n = len.min(bytes.len());
        self.bytes(name, type_name, &mut bytes[..n]);
        Ok(())
    }
    fn visit_unused(&mut self, name: &'d str, _: usize) -> Result<()> {
        self.refuse(
            name,
            "unused bytes are not a value: QEMU writes zeros there and skips them on load",
        );
        Ok(())
    }
    fn visit_ptr_marker(&mut self, name: &'d str, _: &mut bool, _: bool) -> Result<()> {
        self.refuse(
            name,
            "a pointer marker is not a value: changing it would change which fields the \
             section has, and its size",
        );
        Ok(())
    }
    fn visit_list_marker(&mut self, _: &'d str, _: &mut bool) -> Result<()> {
        Ok(())
    }

    crate::pretty::track_path_events!('d);
}

/// Sets the fields that `assignments` name in `state`, the state of the
/// section whose paths start at `root` ([`section_root`]); returns what
/// changed, in the order of the assignments. Assignments whose paths name no
/// value of it are left out; [`set_fields`] reports those.
pub fn set_in_state(
    state: &mut DynamicState<'_>,
    root: &str,
    assignments: &[Assignment],
) -> std::result::Result<Vec<Change>, EditError> {
    let mut targets: Vec<Target<'_>> = assignments.iter().map(Target::new).collect();
    apply(state, root, &mut targets, false, &[])?;
    Ok(targets.into_iter().filter_map(|t| t.change).collect())
}

fn apply(
    state: &mut DynamicState<'_>,
    root: &str,
    targets: &mut [Target<'_>],
    allow_resize: bool,
    counted_buffers: &[String],
) -> std::result::Result<(), EditError> {
    let d = state.description();
    let mut setter = Setter {
        path: PathTracker::default().with_root(root),
        targets,
        error: None,
        allow_resize,
        counted_buffers,
    };
    visit_struct_at(state, &mut setter, d.name, d.version_id)?;
    match setter.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// True if `path` may name a value of the section whose paths start at `root`.
fn under(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.starts_with(['.', '/', '[']))
}

/// How [`set_fields_with`] edits.
#[derive(Debug, Clone, Default)]
pub struct EditOptions {
    /// The limits of decoding (and of what a resized field may take).
    pub limits: Limits,
    /// Edits that change a section's size are allowed (`--allow-resize`):
    /// a count of [`counts`](Self::counts) set to another value, a counted
    /// buffer set to a value of another length. The vmdesc entry of each
    /// resized section is then written again, as QEMU writes it for the new
    /// state.
    pub allow_resize: bool,
    /// Which fields count which arrays and buffers (`--count`): the vmdesc
    /// does not say.
    pub counts: Vec<CountLink>,
}

/// Reads the stream from `input` and writes it to `out` with the values
/// that `assignments` name set, every other byte copied (see the
/// [module](self)). The sections are decoded with `schema` (the stream's
/// vmdesc). Returns the changes, in the order of the assignments.
///
/// On an error, `out` has a part of the stream: write to a temporary file
/// and keep it only on success.
pub fn set_fields<R: QemuRead, W: std::io::Write>(
    input: R,
    schema: &StreamSchema<'_>,
    assignments: &[Assignment],
    out: W,
    limits: Limits,
) -> std::result::Result<Vec<Change>, EditError> {
    let options = EditOptions {
        limits,
        ..EditOptions::default()
    };
    set_fields_with(input, schema, assignments, out, &options)
}

/// One job of a section: an assignment given, or a length field set for a
/// buffer value of another length (before assignment `before`).
#[derive(Debug, Clone, Copy)]
enum Job {
    Given(usize),
    Implied { index: usize, before: usize },
}

/// A section whose vmdesc entry is written again.
#[derive(Debug)]
struct Rewrite {
    root: String,
    idstr: String,
    instance_id: u32,
    /// Its vmdesc keys for the state in the stream, and for the edited one.
    old_keys: String,
    new_keys: String,
}

/// [`set_fields`] with [`EditOptions`]: with
/// [`allow_resize`](EditOptions::allow_resize) and the
/// [`counts`](EditOptions::counts) of the arrays and buffers to resize,
/// edits may change a section's size (module docs of [`edit`](self)).
///
/// ```
/// use vmstate_core::edit::{Assignment, CountLink, EditOptions, set_fields_with};
/// use vmstate_core::dynamic::DescriptionArena;
/// use vmstate_core::stream::StreamSchema;
///
/// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/x86-pc-min.mig");
/// let bytes = std::fs::read(path)?;
/// let arena = DescriptionArena::new();
/// let schema = StreamSchema::from_stream(&arena, &bytes)?.expect("a vmdesc");
/// let edits = [
///     Assignment::parse("hpet.num_timers_save=4")?,
///     Assignment::parse("hpet.timer[3].cmp=0x77")?,
/// ];
/// let options = EditOptions {
///     allow_resize: true,
///     counts: vec![CountLink::parse("hpet.num_timers_save=timer")?],
///     ..EditOptions::default()
/// };
/// let mut out = Vec::new();
/// let changes = set_fields_with(
///     qemufile::SliceReader::new(&bytes), &schema, &edits, &mut out, &options,
/// )?;
/// assert_eq!(
///     changes[0].note.as_deref(),
///     Some("resizes hpet.timer from 3 to 4 element(s) (new elements are zero)")
/// );
/// // One more 42-byte hpet_timer; the vmdesc says "array_len": 4 (one digit, as 3).
/// assert_eq!(out.len(), bytes.len() + 42);
/// let (_, vmdesc) = qemufile::stream::find_vmdesc(&out).expect("a vmdesc");
/// let vmdesc = std::str::from_utf8(vmdesc)?;
/// assert!(vmdesc.contains(r#"{"name": "timer", "array_len": 4, "type": "struct""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_fields_with<R: QemuRead, W: std::io::Write>(
    input: R,
    schema: &StreamSchema<'_>,
    assignments: &[Assignment],
    out: W,
    options: &EditOptions,
) -> std::result::Result<Vec<Change>, EditError> {
    let mut targets: Vec<Target<'_>> = assignments.iter().map(Target::new).collect();
    let mut roots: Vec<String> = Vec::new();
    // Per assignment: the last section whose root begins its path.
    let mut searched: Vec<Option<String>> = vec![None; assignments.len()];
    // Changes of implied assignments, by the assignment they come before.
    let mut implied_changes: Vec<(usize, Change)> = Vec::new();
    let mut rewrites: Vec<Rewrite> = Vec::new();
    let mut links_used = vec![false; options.counts.len()];
    let reader = CopyReader::new(input, out);
    let mut dec = StreamDecoder::open_with_limits(reader, Some(schema), options.limits)?;
    while let Some(event) = dec.next_event()? {
        if !rewrites.is_empty() {
            // After a resized section, the bytes are held until it is known
            // whether they end with the vmdesc.
            let end = dec.position();
            let r = dec.get_mut();
            let tail = r.capture.replace(Vec::new()).unwrap_or_default();
            if let Event::Eof(vmdesc) = &event {
                r.capture = None;
                write_tail(&mut r.out, &tail, vmdesc, &rewrites, end)?;
                rewrites.clear();
                continue;
            }
            r.out.write_all(&tail).map_err(|e| io_error(end, e))?;
        }
        let Event::Section(h) = event else { continue };
        let root = section_root(&h);
        let mine: Vec<usize> = (0..targets.len())
            .filter(|&i| under(&targets[i].assignment.path, &root))
            .collect();
        roots.push(root.clone());
        for &i in &mine {
            searched[i] = Some(root.clone());
        }
        let links: Vec<&CountLink> = options
            .counts
            .iter()
            .enumerate()
            .filter(|(_, l)| under(&l.count, &root))
            .map(|(k, l)| {
                links_used[k] = true;
                l
            })
            .collect();
        if mine.is_empty() {
            if let Some(l) = links.first() {
                return Err(EditError::Layout {
                    path: l.count.clone(),
                    message: format!("--count names section {root}, which no assignment changes"),
                });
            }
            // Copied as it is read (the next event skips the body).
            continue;
        }
        let body_start = dec.position();
        dec.get_mut().capture = Some(Vec::new());
        let decoded = dec.decode_section();
        let captured = dec.get_mut().capture.take().unwrap_or_default();
        let mut state = decoded?;
        let original = dynamic::save_to_vec(&mut state)?;
        if !captured.starts_with(&original) {
            return Err(EditError::Layout {
                path: root,
                message: "this section does not encode back to its own bytes with its \
                          vmdesc, so an edit could change more than the value"
                    .into(),
            });
        }
        let footer = captured[original.len()..].to_vec();
        let bump = Bump::new();
        let (mut state, linked): (DynamicState<'_>, Vec<Linked>) = if links.is_empty() {
            (state, Vec::new())
        } else {
            resize::link(&bump, state.description(), &original, &root, &links)?
        };
        let old_keys = if linked.is_empty() {
            None
        } else {
            let mut again = Vec::with_capacity(original.len());
            let keys = save_with_vmdesc(&mut state, &mut again)?;
            if again != original {
                return Err(EditError::Layout {
                    path: root,
                    message: "with the --count links, this section does not encode back to \
                              its own bytes"
                        .into(),
                });
            }
            Some(keys)
        };
        let counted_buffers: Vec<String> = linked
            .iter()
            .flat_map(|l| {
                l.targets
                    .iter()
                    .filter(|t| t.buffer)
                    .map(|t| t.path.clone())
            })
            .collect();
        let (jobs, implied) = order_jobs(&mine, &targets, &linked)?;
        // One assignment at a time, so that each change knows its bytes.
        let mut edited = original.clone();
        for job in jobs {
            let assignment = match job {
                Job::Given(i) => targets[i].assignment,
                Job::Implied { index, .. } => &implied[index],
            };
            let link = linked.iter().find(|l| l.path == assignment.path);
            let count = match link {
                Some(l) => {
                    Some(l.check(&assignment.value, options.allow_resize, &options.limits)?)
                }
                None => None,
            };
            // An integer that may count what follows it, changed alone.
            let like = match link {
                Some(_) => Vec::new(),
                None => resize::lengths_like(&mut state, &root, &assignment.path),
            };
            let mut one = [Target::new(assignment)];
            apply(
                &mut state,
                &root,
                &mut one,
                options.allow_resize,
                &counted_buffers,
            )?;
            let [mut t] = one;
            let before = std::mem::replace(&mut edited, dynamic::save_to_vec(&mut state)?);
            if edited.len() != before.len() && !options.allow_resize {
                return Err(EditError::Layout {
                    path: t.assignment.path.clone(),
                    message: format!(
                        "the edit changes the size of section {root} from {} to {} bytes; \
                         give --allow-resize to allow it",
                        before.len(),
                        edited.len()
                    ),
                });
            }
            if let Some(change) = &mut t.change {
                change.offset = first_difference(&before, &edited).map(|k| body_start + k as u64);
                if let (Some(l), Some(n)) = (link, count) {
                    change.note = l.note(n);
                }
                if !like.is_empty() && change.old != change.new {
                    let names = like.join(", ");
                    change.note = Some(format!(
                        "warning: its old value {} is the length of {names} after it; if it \
                         counts {names} (VMSTATE_VARRAY/VBUFFER), a destination now reads the \
                         section differently: to resize, give --allow-resize --count {}={}",
                        change.old,
                        change.path,
                        like.join(",")
                    ));
                }
                if let Job::Implied { before, .. } = job {
                    let buffer = targets[before].assignment.path.as_str();
                    change.note = Some(match change.note.take() {
                        Some(n) => format!("set by the length of the value of {buffer}; {n}"),
                        None => format!("set by the length of the value of {buffer}"),
                    });
                }
            }
            match job {
                Job::Given(i) => {
                    let keep = &mut targets[i];
                    if t.found {
                        keep.found = true;
                        keep.change = t.change;
                    } else {
                        for (_, p) in t.near {
                            keep.consider(&p);
                        }
                    }
                }
                Job::Implied { before, .. } => {
                    if let Some(c) = t.change {
                        implied_changes.push((before, c));
                    }
                }
            }
        }
        if let Some(old_keys) = old_keys {
            let new_keys = save_with_vmdesc(&mut state, Vec::new())?;
            if new_keys != old_keys {
                rewrites.push(Rewrite {
                    root: root.clone(),
                    idstr: h.idstr.to_string_lossy(),
                    instance_id: h.instance_id,
                    old_keys,
                    new_keys,
                });
            }
        }
        let w = &mut dec.get_mut().out;
        w.write_all(&edited)
            .and_then(|()| w.write_all(&footer))
            .map_err(|e| io_error(body_start, e))?;
        if !rewrites.is_empty() {
            dec.get_mut().capture = Some(Vec::new());
        }
    }
    if let Some(r) = rewrites.first() {
        // The stream ended without EOF: nothing to rewrite.
        return Err(EditError::Layout {
            path: r.root.clone(),
            message: "the section's size changed, but the stream ends before its vmdesc".into(),
        });
    }
    let rest = copy_rest(dec.get_mut());
    rest?;
    dec.get_mut().out.flush().map_err(|e| io_error(0, e))?;
    if let Some(k) = links_used.iter().position(|used| !used) {
        let count = &options.counts[k].count;
        return Err(EditError::UnknownPath {
            path: count.clone(),
            section: None,
            suggestions: nearest_roots(count, &roots),
        });
    }
    let mut changes = Vec::with_capacity(targets.len() + implied_changes.len());
    for (i, (t, section)) in targets.into_iter().zip(searched).enumerate() {
        for (_, c) in implied_changes.iter().filter(|(b, _)| *b == i) {
            changes.push(c.clone());
        }
        if let Some(c) = t.change {
            changes.push(c);
            continue;
        }
        let path = t.assignment.path.clone();
        let suggestions = match &section {
            Some(_) => t.near.into_iter().map(|(_, p)| p).collect(),
            None => nearest_roots(&path, &roots),
        };
        return Err(EditError::UnknownPath {
            path,
            section,
            suggestions,
        });
    }
    Ok(changes)
}

/// The order of a section's assignments: the counts first (so that the
/// elements they add can be set), with the length fields implied by buffer
/// values of another length, then the rest as given. Returns the implied
/// assignments too.
fn order_jobs(
    mine: &[usize],
    targets: &[Target<'_>],
    linked: &[Linked],
) -> std::result::Result<(Vec<Job>, Vec<Assignment>), EditError> {
    let is_count = |i: usize| linked.iter().any(|l| l.path == targets[i].assignment.path);
    let mut jobs: Vec<Job> = mine
        .iter()
        .copied()
        .filter(|&i| is_count(i))
        .map(Job::Given)
        .collect();
    let mut implied: Vec<Assignment> = Vec::new();
    for &i in mine {
        let a = targets[i].assignment;
        let Some(l) = linked
            .iter()
            .find(|l| l.targets.iter().any(|t| t.buffer && t.path == a.path))
        else {
            continue;
        };
        let Some(n) = hex_len(&a.value) else { continue };
        let given = mine.iter().any(|&j| targets[j].assignment.path == l.path);
        if given || n as u64 == l.old {
            continue;
        }
        match implied.iter().find(|x| x.path == l.path) {
            Some(x) if x.value != n.to_string() => {
                return Err(EditError::Value {
                    path: a.path.clone(),
                    message: format!(
                        "{} holds the length of more than one buffer: the values given have \
                         {} and {n} bytes",
                        l.path, x.value
                    ),
                });
            }
            Some(_) => {}
            None => {
                jobs.push(Job::Implied {
                    index: implied.len(),
                    before: i,
                });
                implied.push(Assignment {
                    path: l.path.clone(),
                    value: n.to_string(),
                });
            }
        }
    }
    jobs.extend(
        mine.iter()
            .copied()
            .filter(|&i| !is_count(i))
            .map(Job::Given),
    );
    Ok((jobs, implied))
}

/// Where `a` and `b` first differ (the end of the shorter one when one is
/// the start of the other); `None` when they are equal.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(k) => Some(k),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

/// Writes the bytes read since the last resized section, `tail`, which end
/// with the vmdesc: with the vmdesc entries of the resized sections written
/// again. `end` is the stream offset where `tail` ends.
fn write_tail<W: std::io::Write>(
    out: &mut W,
    tail: &[u8],
    vmdesc: &Vmdesc,
    rewrites: &[Rewrite],
    end: u64,
) -> std::result::Result<(), EditError> {
    let no_vmdesc = |r: &Rewrite| EditError::Layout {
        path: r.root.clone(),
        message: "the section's size changed, but the stream has no vmdesc of its own to \
                  describe the new size (resizing rewrites the stream's vmdesc)"
            .into(),
    };
    let (Vmdesc::Present(json), Some(first)) = (vmdesc, rewrites.first()) else {
        return Err(rewrites.first().map_or_else(
            || EditError::Assignment("no section was resized".into()),
            no_vmdesc,
        ));
    };
    let start = tail
        .len()
        .checked_sub(json.len() + 5)
        .filter(|&k| tail[k] == qemufile::stream::VMDESCRIPTION && tail.ends_with(json))
        .ok_or_else(|| no_vmdesc(first))?;
    let new = rewrite_vmdesc(json, rewrites)?;
    let len = u32::try_from(new.len()).map_err(|_| EditError::Layout {
        path: first.root.clone(),
        message: format!(
            "the rewritten vmdesc has {} bytes, more than a be32 length",
            new.len()
        ),
    })?;
    let at = end - (tail.len() - start) as u64;
    out.write_all(&tail[..=start])
        .and_then(|()| out.write_all(&len.to_be_bytes()))
        .and_then(|()| out.write_all(&new))
        .map_err(|e| io_error(at, e))
}

/// One device entry of a vmdesc, as QEMU writes it.
fn device_entry(idstr: &str, instance_id: u32, keys: &str) -> String {
    let mut w = JsonWriter::new();
    w.start_object(None);
    w.str(Some("name"), idstr);
    w.int(Some("instance_id"), i64::from(instance_id));
    w.raw_members(keys);
    w.end_object();
    w.into_string()
}

/// The vmdesc `json` with the entries of `rewrites` replaced; every other
/// byte is kept. Each entry must be, byte for byte, the one QEMU writes for
/// the state in the stream.
fn rewrite_vmdesc(json: &[u8], rewrites: &[Rewrite]) -> std::result::Result<Vec<u8>, EditError> {
    let spans = device_spans(json);
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::with_capacity(rewrites.len());
    for r in rewrites {
        let refuse = |message: &str| EditError::Layout {
            path: r.root.clone(),
            message: message.to_owned(),
        };
        // The last entry of a device describes it (as the decoder reads it).
        let span = spans
            .iter()
            .rev()
            .find(|s| {
                serde_json::from_slice::<VmdescObject<'_>>(&json[(*s).clone()]).is_ok_and(|o| {
                    o.name.as_deref() == Some(r.idstr.as_str())
                        && o.instance_id == Some(u64::from(r.instance_id))
                })
            })
            .ok_or_else(|| {
                refuse(
                    "the section's size changed, but the stream's vmdesc has no entry for it \
                     to rewrite",
                )
            })?;
        let old = device_entry(&r.idstr, r.instance_id, &r.old_keys);
        if json[span.clone()] != *old.as_bytes() {
            return Err(refuse(
                "the stream's vmdesc entry for this section is not the one QEMU writes for \
                 its state, so it cannot be rewritten as QEMU would write it for the new size",
            ));
        }
        edits.push((
            span.clone(),
            device_entry(&r.idstr, r.instance_id, &r.new_keys),
        ));
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = json.to_vec();
    for (span, text) in edits {
        out.splice(span, text.into_bytes());
    }
    Ok(out)
}

/// The byte ranges of the objects in the top-level `"devices"` array of a
/// vmdesc (an empty list when it has none).
fn device_spans(json: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    // Open containers: `{` or `[`, and for arrays whether it is "devices".
    let mut stack: Vec<(u8, bool)> = Vec::new();
    let mut last_key: Option<std::ops::Range<usize>> = None;
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                let s = i;
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                if stack.len() == 1 {
                    last_key = Some(s + 1..i.min(json.len()));
                }
            }
            c @ (b'{' | b'[') => {
                let devices = c == b'['
                    && stack.len() == 1
                    && last_key
                        .as_ref()
                        .is_some_and(|k| &json[k.clone()] == b"devices");
                stack.push((c, devices));
                if c == b'{' && stack.len() == 3 && stack[1].1 {
                    start = i;
                }
            }
            b'}' | b']' => {
                if json[i] == b'}' && stack.len() == 3 && stack[1].1 {
                    spans.push(start..i + 1);
                }
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    spans
}

/// The section names nearest to the start of `path`.
fn nearest_roots(path: &str, roots: &[String]) -> Vec<String> {
    let head = path.split(['.', '[']).next().unwrap_or(path);
    let mut near: Vec<(usize, &String)> = roots
        .iter()
        .map(|r| {
            let whole = distance(head.as_bytes(), r.as_bytes());
            // A root with dots of its own (`0000:00:01.0/PIIX3`): its length of the path.
            let prefix: String = path.chars().take(r.chars().count()).collect();
            (whole.min(distance(prefix.as_bytes(), r.as_bytes())), r)
        })
        .collect();
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter()
        .take(SUGGESTIONS)
        .map(|(_, r)| r.clone())
        .collect()
}

fn io_error(at: u64, e: std::io::Error) -> EditError {
    EditError::Stream(qemufile::Error::new(at, qemufile::ErrorKind::Io(e)).into())
}

fn copy_rest<R: QemuRead, W: std::io::Write>(
    r: &mut CopyReader<R, W>,
) -> std::result::Result<(), EditError> {
    loop {
        let n = r.peek(0, 1 << 14)?.len();
        if n == 0 {
            return Ok(());
        }
        r.skip(n as u64)?;
    }
}

/// A reader that copies every byte it consumes to `out`, or into `capture`
/// while that is set.
struct CopyReader<R, W> {
    inner: R,
    out: W,
    capture: Option<Vec<u8>>,
}

impl<R: QemuRead, W: std::io::Write> CopyReader<R, W> {
    fn new(inner: R, out: W) -> Self {
        CopyReader {
            inner,
            out,
            capture: None,
        }
    }

    fn sink(&mut self, bytes: &[u8], at: u64) -> qemufile::Result<()> {
        match &mut self.capture {
            Some(c) => {
                c.extend_from_slice(bytes);
                Ok(())
            }
            None => self
                .out
                .write_all(bytes)
                .map_err(|e| qemufile::Error::new(at, qemufile::ErrorKind::Io(e))),
        }
    }
}

impl<R: QemuRead, W: std::io::Write> QemuRead for CopyReader<R, W> {
    fn position(&self) -> u64 {
        self.inner.position()
    }
    fn read_into(&mut self, buf: &mut [u8]) -> qemufile::Result<()> {
        let at = self.inner.position();
        self.inner.read_into(buf)?;
        self.sink(buf, at)
    }
    fn skip(&mut self, mut n: u64) -> qemufile::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.read_into(&mut buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }
    fn peek(&mut self, offset: usize, len: usize) -> qemufile::Result<&[u8]> {
        self.inner.peek(offset, len)
    }
    fn ready(&self) -> &[u8] {
        self.inner.ready()
    }
    fn read_if_available(&mut self, buf: &mut [u8]) -> qemufile::Result<bool> {
        let at = self.inner.position();
        if !self.inner.read_if_available(buf)? {
            return Ok(false);
        }
        self.sink(buf, at)?;
        Ok(true)
    }
}
