//! Edits that change a section's size: counted arrays and buffers.
//!
//! A vmdesc says how long each array and buffer of a stream is, but not
//! which field holds that length: QEMU's `VMSTATE_VARRAY_*` and
//! `VMSTATE_VBUFFER*` read their count from an earlier field of the same
//! struct, and the vmdesc shows the array as an array of that many
//! elements (or a buffer of that many bytes), like any fixed one. A
//! [`CountLink`] (`--count COUNT=TARGET` of `vmstate set`) says it: the
//! integer at `COUNT` is the number of elements of `TARGET`.
//!
//! With the links, the section's description is rebuilt with
//! [`Layout::VarArray`] / [`Layout::VarBuffer`] for the targets (sharing
//! every other part of the description), and the section's bytes are
//! decoded again with it: the same walk that decodes every section now
//! reads the count and then that many elements, so the rebuilt state is the
//! same bytes. Setting the count then resizes the targets in the walk that
//! encodes the section (new elements are zero values, elements past the
//! count are dropped), and the vmdesc visitor describes the new sizes as
//! QEMU does for the state it now holds.

use bumpalo::Bump;

use super::{Assignment, EditError, Target};
use crate::dynamic::{DynamicState, WalkCost};
use crate::json_state::{parse_signed, parse_unsigned};
use crate::{
    Description, FieldDescription, Layout, Limit, Limits, PathTracker, Result, Timer, Visitor,
    WireType, visit_struct_at,
};

/// `COUNT=TARGET[,TARGET...]`: the integer at path `COUNT` is the number of
/// elements (for a buffer, bytes) of the fields `TARGET` of the same struct,
/// which follow it (QEMU's `VMSTATE_VARRAY_*(TARGET, ..., COUNT, ...)`,
/// `VMSTATE_VBUFFER*(TARGET, ..., COUNT)`). Targets are field names, or
/// paths that end in one next to `COUNT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountLink {
    /// The count field's path, as `vmstate dump` prints it.
    pub count: String,
    /// The names of the fields it counts.
    pub targets: Vec<String>,
}

impl CountLink {
    /// Parses `COUNT=TARGET[,TARGET...]`
    /// (`hpet.num_timers_save=timer`, `cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpreg_vmstate_values`).
    pub fn parse(text: &str) -> std::result::Result<Self, EditError> {
        let bad = || {
            EditError::Assignment(format!(
                "{text:?} is not COUNT=TARGET[,TARGET...] (e.g. \
                 nvram@71000001/spapr_nvram.size=buf: the field `size` holds the length of `buf`)"
            ))
        };
        let a = Assignment::parse(text).map_err(|_| bad())?;
        let prefix = a
            .path
            .rsplit_once('.')
            .map(|(p, _)| format!("{p}."))
            .unwrap_or_default();
        let mut targets = Vec::new();
        for t in a.value.split(',') {
            let t = t.trim();
            let t = if prefix.is_empty() {
                t
            } else {
                t.strip_prefix(prefix.as_str()).unwrap_or(t)
            };
            if t.is_empty() || t.contains(['.', '[', ']', '/', '"']) {
                return Err(EditError::Assignment(format!(
                    "{text:?}: {t:?} is not the name of a field next to {} (give the name, \
                     e.g. buf, or its path next to the count)",
                    a.path
                )));
            }
            targets.push(t.to_owned());
        }
        Ok(CountLink {
            count: a.path,
            targets,
        })
    }
}

impl std::str::FromStr for CountLink {
    type Err = EditError;
    fn from_str(s: &str) -> std::result::Result<Self, EditError> {
        CountLink::parse(s)
    }
}

/// One step from a struct's description to a nested one.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Field `k` (a struct or tmp).
    Field(usize),
    /// Subsection `i`.
    Subsection(usize),
}

/// A count field as the locating walk found it.
#[derive(Debug)]
struct Found {
    /// From the section's description to the struct that has the field.
    steps: Vec<Step>,
    /// Some struct on the way is an element of an array.
    in_element: bool,
    /// The field's index in its struct.
    field: usize,
    wire: WireType,
    /// Its value, if it is an integer.
    value: Option<i128>,
    /// The paths the targets would have.
    target_paths: Vec<String>,
}

/// A count field linked to the fields it counts, in the rebuilt description.
#[derive(Debug, Clone)]
pub(super) struct Linked {
    /// The count's path.
    pub(super) path: String,
    pub(super) wire: WireType,
    /// The count in the stream.
    pub(super) old: u64,
    pub(super) targets: Vec<LinkedTarget>,
}

/// One field a [`Linked`] count counts.
#[derive(Debug, Clone)]
pub(super) struct LinkedTarget {
    /// Its path (a buffer's; an array's elements are `path[i]`).
    pub(super) path: String,
    /// A buffer (bytes) rather than an array (elements).
    pub(super) buffer: bool,
    /// Memory one element (byte) takes in a state.
    pub(super) element_memory: u64,
}

impl Linked {
    /// What one unit of the count is, for messages.
    fn unit(t: &LinkedTarget) -> &'static str {
        if t.buffer { "byte(s)" } else { "element(s)" }
    }

    /// Checks the new count `text` for this link: a value of the count's
    /// type, not negative, one a destination accepts for its type, one that
    /// the limits allow the targets to take, and a change of size only when
    /// `allow_resize`. Returns the new count.
    pub(super) fn check(
        &self,
        text: &str,
        allow_resize: bool,
        limits: &Limits,
    ) -> std::result::Result<u64, EditError> {
        let value = |message: String| EditError::Value {
            path: self.path.clone(),
            message,
        };
        let layout = |message: String| EditError::Layout {
            path: self.path.clone(),
            message,
        };
        let wire = self.wire.name();
        let new = match self.wire {
            WireType::Uint8 | WireType::Uint8Equal => parse_unsigned(text, 8, wire),
            WireType::Uint16 | WireType::Uint16Equal => parse_unsigned(text, 16, wire),
            WireType::Uint32 | WireType::Uint32Equal => parse_unsigned(text, 32, wire),
            WireType::Uint64 | WireType::Uint64Equal => parse_unsigned(text, 64, wire),
            WireType::Int8 => parse_signed(text, 8, wire).map(|v| v as u64),
            WireType::Int16 => parse_signed(text, 16, wire).map(|v| v as u64),
            WireType::Int32 | WireType::Int32Equal | WireType::Int32Le => {
                parse_signed(text, 32, wire).map(|v| v as u64)
            }
            WireType::Int64 => parse_signed(text, 64, wire).map(|v| v as u64),
            _ => Err(format!("a {wire} is not a count")),
        }
        .map_err(value)?;
        let signed = matches!(
            self.wire,
            WireType::Int8
                | WireType::Int16
                | WireType::Int32
                | WireType::Int32Equal
                | WireType::Int32Le
                | WireType::Int64
        );
        if signed && (new as i64) < 0 {
            return Err(value(format!(
                "{text} is negative: it counts the elements of {}, and a count is not negative",
                self.names()
            )));
        }
        if new == self.old {
            return Ok(new);
        }
        match self.wire {
            WireType::Uint8Equal
            | WireType::Uint16Equal
            | WireType::Uint32Equal
            | WireType::Uint64Equal
            | WireType::Int32Equal => {
                return Err(layout(format!(
                    "the count is a `{wire}`: a destination refuses any value but its own \
                     ({}), so {} cannot be resized",
                    self.old,
                    self.names()
                )));
            }
            WireType::Int32Le if new > self.old => {
                return Err(layout(format!(
                    "the count is an `{wire}`: a destination loads it only up to its own value, \
                     which the source's {} stands for; {} can shrink (trailing elements dropped) \
                     but not grow past it",
                    self.old,
                    self.names()
                )));
            }
            _ => {}
        }
        if !allow_resize {
            return Err(layout(format!(
                "changing the count from {} to {new} changes the size of {} and of the section; \
                 give --allow-resize to allow it (the vmdesc is then rewritten)",
                self.old,
                self.names()
            )));
        }
        let mut total = 0u64;
        for t in &self.targets {
            let bytes = new.saturating_mul(t.element_memory);
            total = total.saturating_add(bytes);
            limits
                .check(Limit::MaxAllocation, bytes, || {
                    format!("{} with {new} {}", t.path, Linked::unit(t))
                })
                .map_err(|e| value(e.to_string()))?;
        }
        limits
            .check(Limit::SectionMemory, total, || {
                format!("the fields counted by {}", self.path)
            })
            .map_err(|e| value(e.to_string()))?;
        Ok(new)
    }

    /// What a change of the count from the old value to `new` does.
    pub(super) fn note(&self, new: u64) -> Option<String> {
        if new == self.old {
            return None;
        }
        let parts: Vec<String> = self
            .targets
            .iter()
            .map(|t| {
                let what = if new > self.old {
                    if t.buffer {
                        "zero bytes appended"
                    } else {
                        "new elements are zero"
                    }
                } else if t.buffer {
                    "trailing bytes dropped"
                } else {
                    "trailing elements dropped"
                };
                format!(
                    "{} from {} to {new} {} ({what})",
                    t.path,
                    self.old,
                    Linked::unit(t)
                )
            })
            .collect();
        Some(format!("resizes {}", parts.join(", ")))
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.targets.iter().map(|t| t.path.as_str()).collect();
        names.join(" and ")
    }
}

/// Finds the count field at `want` in a walk of the section.
struct Locator<'d, 'a> {
    path: PathTracker<'d>,
    /// Per struct being walked: its description, the field being walked,
    /// how many array elements are open in it, how it was reached.
    frames: Vec<Frame<'d>>,
    subsection_pending: bool,
    want: &'a str,
    targets: &'a [String],
    found: Option<Found>,
    near: Target<'a>,
}

#[derive(Debug)]
struct Frame<'d> {
    description: &'d Description<'d>,
    field: Option<usize>,
    elements: usize,
    step: Option<Step>,
    in_element: bool,
}

impl<'d> Locator<'d, '_> {
    fn seen(&mut self, name: &str, wire: WireType, value: Option<i128>) {
        let path = self.path.path(name);
        if self.found.is_some() || path != self.want {
            self.near.consider(&path);
            return;
        }
        let Some(top) = self.frames.last() else {
            return;
        };
        let steps = self.frames.iter().skip(1).filter_map(|f| f.step).collect();
        self.found = Some(Found {
            steps,
            in_element: top.in_element || top.elements > 0,
            field: top.field.unwrap_or(usize::MAX),
            wire,
            value,
            target_paths: self.targets.iter().map(|t| self.path.path(t)).collect(),
        });
    }
}

macro_rules! locate_int {
    ($name:ident, $t:ty, $wire:ident) => {
        fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            self.seen(name, WireType::$wire, Some(i128::from(*v)));
            Ok(())
        }
    };
}

impl<'d> Visitor<'d> for Locator<'d, '_> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, name: &'d str, _: &mut bool) -> Result<()> {
        self.seen(name, WireType::Bool, None);
        Ok(())
    }
    locate_int!(visit_i8, i8, Int8);
    locate_int!(visit_i16, i16, Int16);
    locate_int!(visit_i32, i32, Int32);
    locate_int!(visit_i64, i64, Int64);
    locate_int!(visit_u8, u8, Uint8);
    locate_int!(visit_u16, u16, Uint16);
    locate_int!(visit_u32, u32, Uint32);
    locate_int!(visit_u64, u64, Uint64);
    locate_int!(visit_u8_equal, u8, Uint8Equal);
    locate_int!(visit_u16_equal, u16, Uint16Equal);
    locate_int!(visit_u32_equal, u32, Uint32Equal);
    locate_int!(visit_u64_equal, u64, Uint64Equal);
    locate_int!(visit_i32_equal, i32, Int32Equal);
    locate_int!(visit_i32_le, i32, Int32Le);
    fn visit_f64(&mut self, name: &'d str, _: &mut f64) -> Result<()> {
        self.seen(name, WireType::CpuDouble, None);
        Ok(())
    }
    fn visit_timer(&mut self, name: &'d str, _: &mut Timer) -> Result<()> {
        self.seen(name, WireType::Timer, None);
        Ok(())
    }
    fn visit_buffer(&mut self, name: &'d str, _: &mut [u8]) -> Result<()> {
        self.seen(name, WireType::Buffer, None);
        Ok(())
    }
    fn visit_unused(&mut self, name: &'d str, _: usize) -> Result<()> {
        self.seen(name, WireType::UnusedBuffer, None);
        Ok(())
    }
    fn visit_bitmap_word(&mut self, name: &'d str, _: &mut u64) -> Result<()> {
        self.seen(name, WireType::Bitmap, None);
        Ok(())
    }
    fn visit_ptr_marker(&mut self, name: &'d str, _: &mut bool, _: bool) -> Result<()> {
        self.seen(name, WireType::PtrMarker, None);
        Ok(())
    }
    fn visit_list_marker(&mut self, _: &'d str, _: &mut bool) -> Result<()> {
        Ok(())
    }

    fn enter_field(&mut self, index: usize) -> Result<()> {
        self.path.enter_field(index);
        if let Some(f) = self.frames.last_mut() {
            f.field = Some(index);
        }
        Ok(())
    }
    fn leave_field(&mut self) -> Result<()> {
        self.path.leave_field();
        if let Some(f) = self.frames.last_mut() {
            f.field = None;
        }
        Ok(())
    }
    fn enter_struct(&mut self, name: &'d str, d: &'d Description<'d>, _: u32) -> Result<()> {
        self.path.enter_struct(name, d);
        let subsection = std::mem::take(&mut self.subsection_pending);
        let (step, in_element) = match self.frames.last() {
            None => (None, false),
            Some(parent) => {
                let step = if subsection {
                    parent
                        .description
                        .subsection_index(d.name.as_bytes())
                        .map(Step::Subsection)
                } else {
                    parent.field.map(Step::Field)
                };
                (step, parent.in_element || parent.elements > 0)
            }
        };
        self.frames.push(Frame {
            description: d,
            field: None,
            elements: 0,
            step,
            in_element,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        self.path.leave_struct();
        self.frames.pop();
        Ok(())
    }
    fn enter_array(&mut self, name: &'d str, len: usize, size: usize) -> Result<()> {
        self.path.enter_array(name, len, size);
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        self.path.leave_array();
        Ok(())
    }
    fn enter_element(&mut self, index: usize) -> Result<()> {
        self.path.enter_element(index);
        if let Some(f) = self.frames.last_mut() {
            f.elements += 1;
        }
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.path.leave_element();
        if let Some(f) = self.frames.last_mut() {
            f.elements = f.elements.saturating_sub(1);
        }
        Ok(())
    }
    fn enter_subsection(&mut self, _: &'d Description<'d>) -> Result<()> {
        self.path.enter_subsection();
        self.subsection_pending = true;
        Ok(())
    }
}

/// The state of the section whose body is `body`, decoded with its
/// description rebuilt so that every count of `links` counts its targets,
/// and the links as found. Refuses links that do not name an integer field
/// of the section, targets that do not follow it or whose length is not its
/// value, and counts inside array elements.
pub(super) fn link<'b>(
    bump: &'b Bump,
    description: &'b Description<'b>,
    body: &[u8],
    root: &str,
    links: &[&CountLink],
) -> std::result::Result<(DynamicState<'b>, Vec<Linked>), EditError> {
    let version = description.version_id;
    let mut current = description;
    let mut linked = Vec::with_capacity(links.len());
    for link in links {
        let mut state = DynamicState::load_from_slice(current, body, version)?;
        let assignment = Assignment {
            path: link.count.clone(),
            value: String::new(),
        };
        let mut locator = Locator {
            path: PathTracker::default().with_root(root),
            frames: Vec::new(),
            subsection_pending: false,
            want: &link.count,
            targets: &link.targets,
            found: None,
            near: Target::new(&assignment),
        };
        visit_struct_at(&mut state, &mut locator, current.name, version)?;
        let Some(found) = locator.found else {
            let near: Vec<String> = locator.near.near.into_iter().map(|(_, p)| p).collect();
            let hint = match near.as_slice() {
                [] => String::new(),
                many => format!("; did you mean {}?", many.join(", ")),
            };
            return Err(EditError::Layout {
                path: link.count.clone(),
                message: format!("--count: no value of section {root} has this path{hint}"),
            });
        };
        let refuse = |message: String| EditError::Layout {
            path: link.count.clone(),
            message,
        };
        let Some(value) = found.value else {
            return Err(refuse(format!(
                "--count: a {} is not a count (counts are integers)",
                found.wire.name()
            )));
        };
        if found.in_element {
            return Err(refuse(
                "--count: the count is inside an element of an array; the elements of an \
                 array share one description, so one element's arrays cannot be resized \
                 apart from the others' (not supported)"
                    .into(),
            ));
        }
        let old = u64::try_from(value).map_err(|_| {
            refuse(format!(
                "--count: its value in the stream is {value}, which counts nothing"
            ))
        })?;
        let mut targets = Vec::new();
        current = rebuild(bump, current, &found.steps, &mut |d| {
            counted(bump, d, found.field, &link.targets, old, &mut targets)
                .map_err(|m| refuse(format!("--count: {m}")))
        })?;
        linked.push(Linked {
            path: link.count.clone(),
            wire: found.wire,
            old,
            targets: targets
                .into_iter()
                .zip(&found.target_paths)
                .map(|((buffer, element_memory), path)| LinkedTarget {
                    path: path.clone(),
                    buffer,
                    element_memory,
                })
                .collect(),
        });
    }
    let state = DynamicState::load_from_slice(current, body, version)?;
    Ok((state, linked))
}

/// A copy of `d` with the struct at the end of `steps` replaced by what
/// `f` makes of it; the parts off the way are shared.
fn rebuild<'b>(
    bump: &'b Bump,
    d: &'b Description<'b>,
    steps: &[Step],
    f: &mut dyn FnMut(&'b Description<'b>) -> std::result::Result<&'b Description<'b>, EditError>,
) -> std::result::Result<&'b Description<'b>, EditError> {
    let Some((step, rest)) = steps.split_first() else {
        return f(d);
    };
    let lost = || EditError::Layout {
        path: d.name.to_owned(),
        message: "the description changed while it was rebuilt".into(),
    };
    match *step {
        Step::Field(k) => {
            let field = d.fields.get(k).ok_or_else(lost)?;
            let layout = match field.layout {
                Layout::Struct {
                    description,
                    pinned_version,
                } => Layout::Struct {
                    description: rebuild(bump, description, rest, f)?,
                    pinned_version,
                },
                Layout::Tmp(description) => Layout::Tmp(rebuild(bump, description, rest, f)?),
                _ => return Err(lost()),
            };
            let fields = bump.alloc_slice_copy(d.fields);
            fields[k].layout = layout;
            Ok(bump.alloc(Description { fields, ..*d }))
        }
        Step::Subsection(i) => {
            let sub = d.subsections.get(i).ok_or_else(lost)?;
            let new = rebuild(bump, sub, rest, f)?;
            let subsections = bump.alloc_slice_copy(d.subsections);
            subsections[i] = new;
            Ok(bump.alloc(Description { subsections, ..*d }))
        }
    }
}

/// `d` with the fields `targets` after field `count` counted by it; pushes
/// per target whether it is a buffer and the memory of one element.
fn counted<'b>(
    bump: &'b Bump,
    d: &'b Description<'b>,
    count: usize,
    targets: &[String],
    old: u64,
    out: &mut Vec<(bool, u64)>,
) -> std::result::Result<&'b Description<'b>, String> {
    let count_name = d
        .fields
        .get(count)
        .map(|f| f.name)
        .ok_or("the count is not a field of its struct")?;
    let mut fields: Vec<FieldDescription<'b>> = d.fields.to_vec();
    for t in targets {
        let Some(j) = (count + 1..fields.len()).find(|&j| fields[j].name == t.as_str()) else {
            let after: Vec<&str> = fields[count + 1..].iter().map(|f| f.name).collect();
            return Err(format!(
                "no field `{t}` follows `{count_name}` in `{}` (the fields after it: {}); an \
                 array with no elements in the stream has no vmdesc entry, so nothing says what \
                 its elements are",
                d.name,
                if after.is_empty() {
                    "none".to_owned()
                } else {
                    after.join(", ")
                }
            ));
        };
        // The entries that continue it (an array described element by element).
        let run = fields[j + 1..]
            .iter()
            .take_while(|f| f.name == t.as_str() && f.vmdesc.is_some_and(|e| e.continues))
            .count();
        let (len, element, buffer) = match fields[j].layout {
            Layout::Buffer(n) if run == 0 => (n as u64, None, true),
            Layout::Array { len, element } => {
                let mut total = len as u64;
                for f in &fields[j + 1..=j + run] {
                    match f.layout {
                        Layout::Array { len, element: e } if *e == *element => {
                            total += len as u64;
                        }
                        _ => {
                            return Err(format!(
                                "the elements of `{t}` are described differently from each \
                                 other, so they cannot be counted by one description"
                            ));
                        }
                    }
                }
                (total, Some(element), false)
            }
            // One element: QEMU describes it like a plain field.
            ref one if run == 0 => (1, Some(&*bump.alloc(*one)), false),
            _ => {
                return Err(format!("`{t}` is not an array or a buffer"));
            }
        };
        if let Some(e) = element {
            if matches!(e, Layout::Scalar(WireType::PtrMarker) | Layout::Unused(_)) {
                return Err(format!(
                    "`{t}` is made of {} entries, which are layout, not elements",
                    e.type_name()
                ));
            }
        }
        if len != old {
            return Err(format!(
                "`{count_name}` is {old} in the stream but `{t}` has {len} {}: it does not \
                 count `{t}`",
                if buffer { "byte(s)" } else { "element(s)" }
            ));
        }
        let layout = match element {
            None => Layout::VarBuffer {
                len_field: count_name,
            },
            Some(element) => Layout::VarArray {
                count_field: count_name,
                capacity: None,
                element,
            },
        };
        let memory = match element {
            None => 1,
            Some(e) => WalkCost::of_layout(e).memory.max(1),
        };
        out.push((buffer, memory));
        let name = fields[j].name;
        fields.splice(
            j..=j + run,
            [FieldDescription {
                name,
                layout,
                since: 0,
                has_exists_predicate: false,
                aliases: &[],
                vmdesc: None,
            }],
        );
    }
    Ok(bump.alloc(Description {
        fields: bump.alloc_slice_copy(&fields),
        ..*d
    }))
}

/// The struct at the end of `steps` from `d` (through arrays of structs).
fn navigate<'b>(d: &'b Description<'b>, steps: &[Step]) -> Option<&'b Description<'b>> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(d);
    };
    let next = match *step {
        Step::Field(k) => d.fields.get(k)?.layout.description()?,
        Step::Subsection(i) => d.subsections.get(i)?,
    };
    navigate(next, rest)
}

/// The fields after the integer at `path` whose length (elements of an
/// array, bytes of a buffer) is its value, when that is 2 or more: what it
/// may count. Empty when `path` is not an integer of the section.
pub(super) fn lengths_like(state: &mut DynamicState<'_>, root: &str, path: &str) -> Vec<String> {
    let d = state.description();
    let assignment = Assignment {
        path: path.to_owned(),
        value: String::new(),
    };
    let mut locator = Locator {
        path: PathTracker::default().with_root(root),
        frames: Vec::new(),
        subsection_pending: false,
        want: path,
        targets: &[],
        found: None,
        near: Target::new(&assignment),
    };
    if visit_struct_at(state, &mut locator, d.name, d.version_id).is_err() {
        return Vec::new();
    }
    let Some(found) = locator.found else {
        return Vec::new();
    };
    let (Some(value), Some(s)) = (found.value, navigate(d, &found.steps)) else {
        return Vec::new();
    };
    if value < 2 {
        return Vec::new();
    }
    let mut like = Vec::new();
    let mut k = found.field.saturating_add(1);
    while k < s.fields.len() {
        let f = &s.fields[k];
        let run = s.fields[k + 1..]
            .iter()
            .take_while(|g| g.name == f.name && g.vmdesc.is_some_and(|e| e.continues))
            .count();
        let len: u64 = s.fields[k..=k + run]
            .iter()
            .map(|g| match g.layout {
                Layout::Array { len, .. } => len as u64,
                Layout::Buffer(n) => n as u64,
                _ => 1,
            })
            .sum();
        if i128::from(len) == value && !like.iter().any(|n: &String| n == f.name) {
            like.push(f.name.to_owned());
        }
        k += run + 1;
    }
    like
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{self, DescriptionArena};
    use crate::vmdesc::save_with_vmdesc;

    fn links(texts: &[&str]) -> Vec<CountLink> {
        texts.iter().map(|t| CountLink::parse(t).unwrap()).collect()
    }

    fn set(state: &mut DynamicState<'_>, root: &str, text: &str) {
        let a = [Assignment::parse(text).unwrap()];
        let mut t = [Target::new(&a[0])];
        super::super::apply(state, root, &mut t, true, &[]).unwrap();
        assert!(t[0].change.is_some(), "{text}");
    }

    /// A count in a nested struct and one in a subsection.
    #[test]
    fn counts_in_nested_structs_and_subsections_resize_their_targets() {
        let entry = serde_json::json!({
            "name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
            "fields": [{"name": "inner", "type": "struct", "struct": {
                "vmsd_name": "inner", "version": 1, "fields": [
                    {"name": "n", "type": "uint8", "size": 1},
                    {"name": "a", "array_len": 2, "type": "uint16", "size": 2}]},
                "size": 5}],
            "subsections": [{"vmsd_name": "dev/sub", "version": 1, "fields": [
                {"name": "len", "type": "uint32", "size": 4},
                {"name": "buf", "type": "buffer", "size": 3}]}],
        });
        let arena = DescriptionArena::new();
        let d = arena.section(&entry).unwrap();
        let mut body = vec![2, 0, 1, 0, 2, 5, 7];
        body.extend_from_slice(b"dev/sub");
        body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc]);
        let bump = Bump::new();
        let l = links(&["dev.inner.n=a", "dev/sub.len=buf"]);
        let refs: Vec<&CountLink> = l.iter().collect();
        let (mut state, linked) = link(&bump, d, &body, "dev", &refs).unwrap();
        assert_eq!(dynamic::save_to_vec(&mut state).unwrap(), body);
        assert_eq!(linked[0].targets[0].path, "dev.inner.a");
        assert_eq!(linked[1].targets[0].path, "dev/sub.buf");
        assert!(linked[1].targets[0].buffer);
        // The same vmdesc as QEMU's for the state in the stream.
        let keys = save_with_vmdesc(&mut state, Vec::new()).unwrap();
        let mut original = dynamic::DynamicState::load_from_slice(d, &body, 1).unwrap();
        assert_eq!(keys, save_with_vmdesc(&mut original, Vec::new()).unwrap());
        set(&mut state, "dev", "dev.inner.n=3");
        set(&mut state, "dev", "dev.inner.a[2]=0x1234");
        set(&mut state, "dev", "dev/sub.len=1");
        let mut want = vec![3, 0, 1, 0, 2, 0x12, 0x34, 5, 7];
        want.extend_from_slice(b"dev/sub");
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0xaa]);
        let mut out = Vec::new();
        let keys = save_with_vmdesc(&mut state, &mut out).unwrap();
        assert_eq!(out, want);
        assert_eq!(
            keys,
            "\"vmsd_name\": \"dev\", \"version\": 1, \"fields\": [{\"name\": \"inner\", \"type\": \
             \"struct\", \"struct\": {\"vmsd_name\": \"inner\", \"version\": 1, \"fields\": \
             [{\"name\": \"n\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"a\", \
             \"array_len\": 3, \"type\": \"uint16\", \"size\": 2}]}, \"size\": 7}], \
             \"subsections\": [{\"vmsd_name\": \"dev/sub\", \"version\": 1, \"fields\": \
             [{\"name\": \"len\", \"type\": \"uint32\", \"size\": 4}, {\"name\": \"buf\", \
             \"type\": \"buffer\", \"size\": 1}]}]"
        );
    }

    /// An array described element by element is one counted array.
    #[test]
    fn an_array_described_element_by_element_is_counted_as_one() {
        let entry = serde_json::json!({
            "name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
            "fields": [
                {"name": "n", "type": "int32", "size": 4},
                {"name": "x", "index": 0, "type": "uint8", "size": 1},
                {"name": "x", "index": 1, "type": "uint8", "size": 1},
                {"name": "x", "type": "uint8", "size": 1},
                {"name": "tail", "type": "uint8", "size": 1}],
        });
        let arena = DescriptionArena::new();
        let d = arena.section(&entry).unwrap();
        let body = [0, 0, 0, 3, 7, 8, 9, 0xee];
        let bump = Bump::new();
        let l = links(&["dev.n=x"]);
        let (mut state, _) = link(&bump, d, &body, "dev", &[&l[0]]).unwrap();
        assert_eq!(state.description().fields.len(), 3);
        set(&mut state, "dev", "dev.n=1");
        assert_eq!(
            dynamic::save_to_vec(&mut state).unwrap(),
            [0, 0, 0, 1, 7, 0xee]
        );
        // A count of another length is not its count.
        let body = [0, 0, 0, 2, 7, 8, 9, 0xee];
        let err = link(&bump, d, &body, "dev", &[&l[0]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`n` is 2 in the stream but `x` has 3 element(s)"),
            "{err}"
        );
    }

    #[test]
    fn device_spans_are_the_objects_of_the_devices_array() {
        let json = br#"{"page_size": 4096, "configuration": {"vmsd_name": "configuration", "fields": [{"name": "x"}]}, "devices": [{"name": "a\"}", "instance_id": 0}, {"name": "b", "fields": [{"name": "c"}]}]}"#;
        let spans = super::super::device_spans(json);
        let texts: Vec<&str> = spans
            .iter()
            .map(|s| std::str::from_utf8(&json[s.clone()]).unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                r#"{"name": "a\"}", "instance_id": 0}"#,
                r#"{"name": "b", "fields": [{"name": "c"}]}"#
            ]
        );
    }
}
