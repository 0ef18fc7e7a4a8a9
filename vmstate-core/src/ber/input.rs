//! The BER input visitor: the destination's walk, served from the input by
//! field name.

use std::collections::HashMap;

use super::plan::{PlanRef, Plans};
use super::stack::Stack;
use super::tlv::{
    Code, Tlv, int_value, malformed, read_tlv, read_uint, read_unsigned_minimal, tags,
};
use super::unknown::{
    KeptItem, KeptStruct, Step, Unknown, check_well_formed, element_step, field_step,
    subsection_step,
};
use super::{BerOptions, UnknownField};
use crate::{
    Description, Error, ErrorKind, IncomingSubsection, Limit, PathSegment, Result, Timer, Visitor,
    WireType,
};

/// One field or subsection of an incoming struct.
#[derive(Debug, Clone, Copy)]
struct Entry<'i> {
    name: &'i [u8],
    /// A field: its values. A subsection: its whole TLV.
    start: usize,
    end: usize,
    /// A subsection's version.
    subsection: Option<u32>,
    used: bool,
    /// For an entry the destination loaded: `k + 1` for its field (or
    /// subsection) `k`; 0 otherwise. Where kept entries go back.
    after: u32,
    /// A subsection the destination does not know, kept.
    kept: bool,
    /// Where its TLV starts.
    tlv: usize,
}

/// A struct of the input being loaded.
///
/// Its fields are matched in order, each against the next field of the
/// input, while they come in the destination's order (one comparison with
/// the field's precomputed head); the first field that does not indexes
/// the struct ([`Index`]) and the rest are found by name.
#[derive(Debug, Clone, Copy)]
struct StructFrame<'d> {
    description: &'d Description<'d>,
    plan: PlanRef,
    incoming: u32,
    /// The first entry, the next one not read in order, the end.
    from: usize,
    cursor: usize,
    end: usize,
    /// `k + 1` for the destination field `k` matched in order last (0: none).
    last_after: u32,
    /// Its [`Index`] in `indexes`, once built.
    index: Option<usize>,
    /// Where its TLV starts, for errors.
    at: usize,
}

/// The entries of a struct, once it is read out of order.
#[derive(Debug)]
struct Index<'i> {
    /// `entries[first..end]`.
    first: usize,
    end: usize,
    /// By (name, occurrence), when fields are looked up by name.
    map: Option<HashMap<(&'i [u8], u32), usize>>,
    /// The occurrence of each destination field's name.
    occurrences: Option<Vec<u32>>,
}

/// A packed run being read: its code, next byte, end.
type Run = (Code, usize, usize);

#[derive(Debug, Clone, Copy)]
struct ArrayFrame {
    /// Elements in the input, and taken so far.
    count: u64,
    taken: u64,
    /// Elements the destination announced (0: a list or a tree, or empty).
    local: usize,
    list: bool,
    /// The packed run being read.
    run: Option<Run>,
    /// The children of a constructed array not read yet.
    pos: usize,
    end: usize,
    /// An element opened for this array alone (an array directly in an array).
    implicit: bool,
}

#[derive(Debug, Clone, Copy)]
enum Frame<'d> {
    Struct(StructFrame<'d>),
    /// The values of a field or an element, read in order.
    Values {
        pos: usize,
        end: usize,
        implicit: bool,
    },
    Array(ArrayFrame),
    /// An element of a packed run.
    Packed {
        code: Code,
        at: usize,
        used: bool,
    },
}

/// What the next struct TLV is, when it is not a value of a field.
#[derive(Debug, Clone, Copy)]
struct Pending<'i> {
    tlv: Tlv,
    /// Its name, version and first entry, when read already.
    head: Option<(&'i [u8], u32, usize)>,
}

/// Loads values from BER (the format of [`crate::ber`]), driven by the
/// destination's walk: fields are found by name, in any order; a field the
/// input lacks keeps its value unless the destination has it at the
/// incoming version (then the load fails naming it); fields the
/// destination does not know are skipped (and listed in
/// [`unknown_fields`](Self::unknown_fields)); integers load into other
/// widths and signs when the value fits.
///
/// Each struct of the input is indexed when the walk reaches it (one pass
/// over its fields, bounded by [`Limits`](crate::Limits)), so a load takes
/// time linear in the input, whatever the order of the fields.
#[derive(Debug)]
pub struct BerInputVisitor<'i, 'd> {
    input: &'i [u8],
    base: u64,
    options: BerOptions,
    frames: Stack<Frame<'d>, 8>,
    plans: Plans,
    indexes: Vec<Index<'i>>,
    entries: Vec<Entry<'i>>,
    pending: Option<Pending<'i>>,
    absent: bool,
    /// Offset of the TLV read last, for errors.
    at: usize,
    consumed: u64,
    allocated: u64,
    unknown: Vec<UnknownField>,
    unknown_subsections: Vec<UnknownField>,
    /// Keeping what the destination does not know: what is kept, and the
    /// path to the current struct.
    keep: Option<Box<(Unknown, Vec<Step>)>>,
}

const NO_FRAME: Frame<'static> = Frame::Values {
    pos: 0,
    end: 0,
    implicit: false,
};

impl<'i, 'd> BerInputVisitor<'i, 'd> {
    /// Reads the struct TLV `input` (no header), whose first byte is at
    /// offset `base` of the whole input, with `options`.
    pub fn new(input: &'i [u8], base: u64, options: BerOptions) -> Self {
        Self::with_plans(input, base, options, Plans::local())
    }

    /// As [`new`](Self::new), for a walk whose descriptions are all
    /// `'static` (a `VmState` type's): their precomputed bytes are shared.
    pub(crate) fn for_static(input: &'i [u8], base: u64, options: BerOptions) -> Self {
        Self::with_plans(input, base, options, Plans::shared())
    }

    /// Keeps the fields and subsections the destination does not know
    /// instead of skipping them (and instead of refusing an unknown
    /// subsection): [`take_kept`](Self::take_kept) has them after the walk.
    pub fn keeping_unknown(mut self) -> Self {
        self.keep = Some(Box::default());
        self
    }

    /// What the walk kept (empty unless [`keeping_unknown`](Self::keeping_unknown)).
    pub fn take_kept(&mut self) -> Unknown {
        self.keep.take().map(|k| k.0).unwrap_or_default()
    }

    /// The subsections of the input that the destination does not have,
    /// kept ([`keeping_unknown`](Self::keeping_unknown); refused otherwise).
    pub fn take_unknown_subsections(&mut self) -> Vec<UnknownField> {
        std::mem::take(&mut self.unknown_subsections)
    }

    fn with_plans(input: &'i [u8], base: u64, options: BerOptions, plans: Plans) -> Self {
        BerInputVisitor {
            input,
            base,
            options,
            frames: Stack::new(NO_FRAME),
            plans,
            indexes: Vec::new(),
            entries: Vec::new(),
            pending: None,
            absent: false,
            at: 0,
            consumed: 0,
            allocated: 0,
            unknown: Vec::new(),
            unknown_subsections: Vec::new(),
            keep: None,
        }
    }

    /// Expects the struct TLV at the start of the input; returns its name
    /// and version (to choose the version to walk the root at).
    pub fn root(&mut self) -> Result<(String, u32)> {
        let (name, version) = self.root_head()?;
        Ok((String::from_utf8_lossy(name).into_owned(), version))
    }

    /// [`root`](Self::root) without copying the name.
    pub(crate) fn root_head(&mut self) -> Result<(&'i [u8], u32)> {
        self.root_head_expecting(None)
    }

    /// [`root_head`](Self::root_head) of an input expected to hold a
    /// struct of `d`: read at once when it opens as the output visitor
    /// opens `d` at its own version (the same result, with no TLV parsed).
    pub(crate) fn root_head_of(&mut self, d: &'d Description<'d>) -> Result<(&'i [u8], u32)> {
        self.root_head_expecting(Some(d))
    }

    fn root_head_expecting(&mut self, d: Option<&'d Description<'d>>) -> Result<(&'i [u8], u32)> {
        let tlv = self.read(0, self.input.len())?;
        if tlv.tag != tags::STRUCT {
            return Err(self.mismatch(tlv.tag, "a struct"));
        }
        if tlv.end != self.input.len() {
            return Err(malformed(
                self.offset(tlv.end),
                "bytes after the struct the input holds",
            ));
        }
        let head = match d.and_then(|d| self.struct_head_fast(&tlv, d)) {
            Some(head) => head,
            None => self.struct_head(&tlv)?,
        };
        self.pending = Some(Pending {
            tlv,
            head: Some(head),
        });
        Ok((head.0, head.1))
    }

    /// The fields of the input that the destination does not have, skipped.
    pub fn unknown_fields(&self) -> &[UnknownField] {
        &self.unknown
    }

    /// Takes the list of skipped fields.
    pub fn take_unknown_fields(&mut self) -> Vec<UnknownField> {
        std::mem::take(&mut self.unknown)
    }

    /// Bytes of memory the load created, as counted by [`Visitor::allocate`].
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    #[inline]
    fn offset(&self, at: usize) -> u64 {
        self.base + at as u64
    }

    #[inline]
    fn read(&mut self, at: usize, end: usize) -> Result<Tlv> {
        let t = read_tlv(self.input, at, end, self.base)?;
        self.at = at;
        Ok(t)
    }

    #[cold]
    fn mismatch(&self, tag: u8, expected: &str) -> Error {
        Error::new(ErrorKind::TypeMismatch {
            found: describe(tag),
            expected: expected.to_owned(),
        })
        .at_offset(self.offset(self.at))
    }

    /// [`struct_head`](Self::struct_head) of a struct or subsection TLV
    /// that opens exactly as the output visitor opens one of `d` at its
    /// own version (name and version TLVs, byte for byte): the same
    /// result and the same last TLV read, found by one comparison with the
    /// plan. `None`, having read nothing, otherwise.
    #[inline]
    fn struct_head_fast(
        &mut self,
        tlv: &Tlv,
        d: &'d Description<'d>,
    ) -> Option<(&'i [u8], u32, usize)> {
        let input = self.input;
        let plan = self.plans.get(d);
        let p = self.plans.plan(plan);
        let (opening, name_tlv) = (p.opening().len(), p.name_tlv().len());
        if tlv.content + opening > tlv.end || !p.opening_at(input, tlv.content) {
            return None;
        }
        let name_end = tlv.content + name_tlv;
        let name = input.get(name_end - d.name.len()..name_end)?;
        // As after reading the version's TLV.
        self.at = name_end;
        Some((name, p.own_version, tlv.content + opening))
    }

    /// Name and version of a struct or subsection TLV, and where its
    /// entries start.
    fn struct_head(&mut self, tlv: &Tlv) -> Result<(&'i [u8], u32, usize)> {
        let input = self.input;
        let name = self.read(tlv.content, tlv.end)?;
        if name.tag != tags::UTF8_STRING {
            return Err(malformed(
                self.offset(name.start),
                "a struct's first element is its name (UTF8String)",
            ));
        }
        let version = self.read(name.end, tlv.end)?;
        if version.tag != tags::INTEGER {
            return Err(malformed(
                self.offset(version.start),
                "a struct's second element is its version (INTEGER)",
            ));
        }
        let v = read_uint(
            &input[version.content..version.end],
            self.offset(version.content),
        )?;
        let v = u32::try_from(v).map_err(|_| {
            malformed(
                self.offset(version.content),
                format!("version {v} does not fit 32 bits"),
            )
        })?;
        Ok((&input[name.content..name.end], v, version.end))
    }

    /// Indexes the entries of the innermost struct from `from` (its first
    /// entry, or the next one not read in order): the entries before its
    /// cursor were loaded in order.
    fn build_index(&mut self, from_first: bool) -> Result<()> {
        let input = self.input;
        let Some(Frame::Struct(s)) = self.frames.last() else {
            return Err(Error::msg("BER input: a field outside a struct"));
        };
        let s = *s;
        let first = self.entries.len();
        let mut at = if from_first { s.from } else { s.cursor };
        while at < s.end {
            let child = self.read(at, s.end)?;
            at = child.end;
            let head = self.read(child.content, child.end)?;
            if head.tag != tags::UTF8_STRING {
                return Err(malformed(
                    self.offset(head.start),
                    "a field or subsection starts with its name (UTF8String)",
                ));
            }
            let name = &input[head.content..head.end];
            let before = child.start < s.cursor;
            let mut entry = Entry {
                name,
                start: head.end,
                end: child.end,
                subsection: None,
                used: before,
                // The last entry read in order is where kept ones go after.
                after: if before && child.end == s.cursor {
                    s.last_after
                } else {
                    0
                },
                kept: false,
                tlv: child.start,
            };
            match child.tag {
                tags::FIELD => {}
                tags::SUBSECTION => {
                    let (_, version, _) = self.struct_head(&child)?;
                    entry.start = child.start;
                    entry.subsection = Some(version);
                }
                other => {
                    return Err(malformed(
                        self.offset(child.start),
                        format!(
                            "{} inside a struct, where only fields and subsections are",
                            describe(other)
                        ),
                    ));
                }
            }
            self.index_room(child.start)?;
            self.entries.push(entry);
        }
        let i = self.indexes.len();
        self.indexes.push(Index {
            first,
            end: self.entries.len(),
            map: None,
            occurrences: None,
        });
        if let Some(Frame::Struct(s)) = self.frames.last_mut() {
            s.index = Some(i);
            s.cursor = s.end;
        }
        Ok(())
    }

    /// Room in the limits for one more entry of an index, for the entry at
    /// `at`.
    fn index_room(&self, at: usize) -> Result<()> {
        let live =
            (self.entries.len() as u64 + 1).saturating_mul(std::mem::size_of::<Entry<'_>>() as u64);
        self.options
            .limits
            .check(Limit::MaxAllocation, live, || {
                "the index of the fields of the BER input".to_owned()
            })
            .map_err(|e| Error::from(e).at_offset(self.offset(at)))
    }

    /// [`next_subsection`](Visitor::next_subsection) of a struct read in
    /// order when all that is left of it is one subsection that `parent`
    /// has: taken in place, with the checks and the errors of the index
    /// (which would hold that one entry). `None`, having changed nothing
    /// the index does not redo, for anything else.
    fn last_subsection(
        &mut self,
        parent: &'d Description<'d>,
        s: &StructFrame<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let child = self.read(s.cursor, s.end)?;
        if child.tag != tags::SUBSECTION || child.end != s.end {
            return Ok(None);
        }
        let name = self.read(child.content, child.end)?;
        if name.tag != tags::UTF8_STRING {
            return Ok(None);
        }
        let known = self
            .input
            .get(name.content..name.end)
            .and_then(|n| parent.subsection_index(n));
        let fast = known.and_then(|index| {
            let head = self.struct_head_fast(&child, parent.subsections[index])?;
            Some((index, head))
        });
        let (index, head) = match fast {
            Some(found) => {
                self.index_room(child.start)?;
                found
            }
            None => {
                let head = self.struct_head(&child)?;
                self.index_room(child.start)?;
                let Some(index) = parent.subsection_index(head.0) else {
                    return Ok(None);
                };
                (index, head)
            }
        };
        let sub = parent.subsections[index];
        self.check_version(sub, head.1, child.start)
            .map_err(|err| err.within(PathSegment::Subsection(crate::state::owned(sub.name))))?;
        if let Some(Frame::Struct(f)) = self.frames.last_mut() {
            f.cursor = f.end;
        }
        self.at = child.start;
        self.pending = Some(Pending {
            tlv: child,
            head: Some(head),
        });
        if let Some(keep) = &mut self.keep {
            keep.1.push(subsection_step(index));
        }
        Ok(Some(IncomingSubsection {
            index,
            version_id: head.1.min(sub.version_id),
        }))
    }

    /// The next value TLV of the innermost field or element.
    fn take_value(&mut self, expected: &str) -> Result<Tlv> {
        match self.frames.last_mut() {
            Some(Frame::Values { pos, end, .. }) => {
                let (p, e) = (*pos, *end);
                if p >= e {
                    return Err(Error::new(ErrorKind::TypeMismatch {
                        found: "no further value".to_owned(),
                        expected: expected.to_owned(),
                    })
                    .at_offset(self.offset(p)));
                }
                let t = self.read(p, e)?;
                if let Some(Frame::Values { pos, .. }) = self.frames.last_mut() {
                    *pos = t.end;
                }
                self.consumed += (t.end - t.start) as u64;
                Ok(t)
            }
            Some(Frame::Array(_)) => {
                // A value directly in an array: an element of its own.
                match self.next_element()? {
                    Some(Next::Element { pos, end }) => {
                        let t = self.read(pos, end)?;
                        if t.end != end {
                            return Err(self.mismatch(tags::ELEMENT, expected));
                        }
                        self.consumed += (t.end - t.start) as u64;
                        Ok(t)
                    }
                    Some(Next::Run { code, .. }) => {
                        Err(self.mismatch(tags::packed(code as u8), expected))
                    }
                    None => Err(self.shorter()),
                }
            }
            Some(Frame::Packed { code, .. }) => {
                let tag = tags::packed(*code as u8);
                Err(self.mismatch(tag, expected))
            }
            Some(Frame::Struct(_)) | None => Err(Error::msg(
                "BER input: a value outside a field (the walk made a value call outside enter_field)",
            )),
        }
    }

    /// The next scalar: its code and content.
    #[inline]
    fn take_scalar(&mut self, expected: Code) -> Result<(Code, &'i [u8])> {
        let input = self.input;
        if let Some(Frame::Packed { code, at, used }) = self.frames.last_mut() {
            if !*used {
                *used = true;
                let (c, a) = (*code, *at);
                self.consumed += c.width() as u64;
                return Ok((c, &input[a..a + c.width()]));
            }
        }
        if let Some(Frame::Array(_)) = self.frames.last() {
            if let Some(Next::Run { code, at }) = self.peek_run()? {
                self.consumed += code.width() as u64;
                return Ok((code, &input[at..at + code.width()]));
            }
        }
        let t = self.take_value(expected.name())?;
        let code = match t.tag {
            0xc0..=0xdf => Code::from_number(t.tag & 0x1f),
            _ => None,
        };
        let Some(code) = code else {
            return Err(self.mismatch(t.tag, expected.name()));
        };
        if code != Code::Unused && t.len() != code.width() {
            return Err(malformed(
                self.offset(t.start),
                format!(
                    "a {} scalar of {} bytes (it has {})",
                    code.name(),
                    t.len(),
                    code.width()
                ),
            ));
        }
        Ok((code, &input[t.content..t.end]))
    }

    /// The next scalar when it is a field's value of exactly type `code`
    /// (matched with its head): its `W` bytes.
    #[inline(always)]
    fn exact<const W: usize>(&mut self, code: Code) -> Option<[u8; W]> {
        let input = self.input;
        if let Some(Frame::Packed { code: c, at, used }) = self.frames.last_mut() {
            if !*used && *c == code {
                let bytes = input.get(*at..).and_then(|s| s.first_chunk::<W>())?;
                *used = true;
                self.consumed += W as u64;
                return Some(*bytes);
            }
        }
        None
    }

    /// An integer of the destination's type `expected`, from any integer
    /// (or bool) of the input whose value fits.
    #[inline]
    fn integer(&mut self, expected: Code) -> Result<(Code, i128)> {
        let (code, content) = self.take_scalar(expected)?;
        if code == expected || code.is_integer() || code == Code::Bool || code == Code::BitmapWord {
            return Ok((code, int_value(code, content)));
        }
        Err(self.mismatch(tags::scalar(code as u8), expected.name()))
    }

    #[cold]
    fn lossy(&self, (found, value): (Code, i128), expected: Code) -> Error {
        Error::new(ErrorKind::LossyConversion {
            found: found.name(),
            expected: expected.name(),
            value: value.to_string(),
        })
        .at_offset(self.offset(self.at))
    }

    #[cold]
    fn shorter(&self) -> Error {
        let (count, taken) = match self.frames.last() {
            Some(Frame::Array(a)) => (a.count, a.taken),
            _ => (0, 0),
        };
        Error::new(ErrorKind::ArrayLength {
            incoming: count,
            local: taken + 1,
        })
        .at_offset(self.offset(self.at))
    }

    /// When the innermost frame is an array whose next element is in a
    /// packed run, takes it.
    fn peek_run(&mut self) -> Result<Option<Next>> {
        let Some(Frame::Array(a)) = self.frames.last() else {
            return Ok(None);
        };
        if a.run.is_some_and(|(_, p, e)| p < e) || a.pos < a.end {
            let save = *a;
            match self.next_element()? {
                Some(run @ Next::Run { .. }) => return Ok(Some(run)),
                Some(Next::Element { .. }) => {
                    // Not a run: put it back.
                    if let Some(Frame::Array(a)) = self.frames.last_mut() {
                        *a = save;
                    }
                }
                None => {}
            }
        }
        Ok(None)
    }

    /// The next element of the innermost array.
    fn next_element(&mut self) -> Result<Option<Next>> {
        let input = self.input;
        let base = self.base;
        let Some(Frame::Array(a)) = self.frames.last_mut() else {
            return Ok(None);
        };
        loop {
            if let Some((code, p, e)) = a.run {
                if p < e {
                    a.run = Some((code, p + code.width(), e));
                    a.taken += 1;
                    return Ok(Some(Next::Run { code, at: p }));
                }
                a.run = None;
            }
            if a.pos >= a.end {
                return Ok(None);
            }
            let t = read_tlv(input, a.pos, a.end, base)?;
            a.pos = t.end;
            self.at = t.start;
            match t.tag {
                tags::ELEMENT => {
                    a.taken += 1;
                    return Ok(Some(Next::Element {
                        pos: t.content,
                        end: t.end,
                    }));
                }
                tag if tag & 0xe0 == 0x80 => {
                    // Checked when the array was entered.
                    if let Some(code) = Code::from_number(tag & 0x1f) {
                        a.run = Some((code, t.content, t.end));
                    }
                }
                _ => {}
            }
        }
    }

    /// The number of elements of an array TLV (a packed run, or a
    /// constructed array of runs and elements), checking its children.
    fn count(&mut self, t: &Tlv) -> Result<(u64, Option<Run>, usize, usize)> {
        if t.tag == tags::ARRAY {
            let mut n = 0u64;
            let mut at = t.content;
            while at < t.end {
                let child = self.read(at, t.end)?;
                at = child.end;
                n += match child.tag {
                    tags::ELEMENT => 1,
                    tag if tag & 0xe0 == 0x80 => self.run_len(&child)?,
                    other => {
                        return Err(malformed(
                            self.offset(child.start),
                            format!(
                                "{} inside an array, where only elements and packed runs are",
                                describe(other)
                            ),
                        ));
                    }
                };
            }
            self.at = t.start;
            return Ok((n, None, t.content, t.end));
        }
        let n = self.run_len(t)?;
        let code = Code::from_number(t.tag & 0x1f).unwrap_or(Code::U8);
        Ok((n, Some((code, t.content, t.end)), t.end, t.end))
    }

    fn run_len(&self, t: &Tlv) -> Result<u64> {
        let code = Code::from_number(t.tag & 0x1f).filter(|c| *c != Code::Unused);
        let Some(code) = code else {
            return Err(malformed(
                self.offset(t.start),
                format!("packed run of unknown type {}", t.tag & 0x1f),
            ));
        };
        if t.len() % code.width() != 0 {
            return Err(malformed(
                self.offset(t.start),
                format!(
                    "packed run of {} holds {} bytes, not a multiple of {}",
                    code.name(),
                    t.len(),
                    code.width()
                ),
            ));
        }
        Ok((t.len() / code.width()) as u64)
    }

    /// The whole innermost array as one packed run of `code` with `n`
    /// elements, if it is one and nothing of it was read yet.
    fn whole_run(&mut self, code: Code, n: usize) -> Option<&'i [u8]> {
        let input = self.input;
        let Some(Frame::Array(a)) = self.frames.last_mut() else {
            return None;
        };
        match a.run {
            Some((c, p, e))
                if a.taken == 0 && c == code && a.pos >= a.end && e - p == n * c.width() =>
            {
                a.run = None;
                a.taken = n as u64;
                self.consumed += (e - p) as u64;
                Some(&input[p..e])
            }
            _ => None,
        }
    }

    fn struct_frame(&self) -> Result<&StructFrame<'d>> {
        match self.frames.last() {
            Some(Frame::Struct(s)) => Ok(s),
            _ => Err(Error::msg("BER input: a field outside a struct")),
        }
    }

    /// Finds the values of destination field `k` of the innermost struct
    /// in the input: the next field of the input when it is that one, else
    /// by name (indexing the struct the first time).
    #[inline(always)]
    fn find_field(&mut self, k: usize) -> Result<Option<Found>> {
        let input = self.input;
        if let Some(Frame::Struct(s)) = self.frames.last_mut() {
            if s.index.is_none() {
                let plan = self.plans.plan(s.plan);
                if let Some(fp) = plan.fields.get(k) {
                    if let Some(total) = fp.total {
                        // The field of the layout expected, under its name:
                        // its whole header (and a scalar's) is the head.
                        let at = s.cursor;
                        if at + total <= s.end && plan.head_at(fp, input, at) {
                            s.cursor = at + total;
                            s.last_after = k as u32 + 1;
                            self.at = at;
                            let values = at + fp.head_len();
                            return Ok(Some(match fp.scalar {
                                // The value's identifier and length matched
                                // too: its bytes are next.
                                Some(code) => Found::Scalar(code, values),
                                None => Found::Values(values, at + total),
                            }));
                        }
                    }
                }
            }
        }
        self.find_field_slow(k)
    }

    /// [`find_field`](Self::find_field) when the next field of the input is
    /// not the expected one with the expected head.
    #[inline(never)]
    fn find_field_slow(&mut self, k: usize) -> Result<Option<Found>> {
        let input = self.input;
        let base = self.base;
        let Some(Frame::Struct(s)) = self.frames.last_mut() else {
            return Err(Error::msg("BER input: a field outside a struct"));
        };
        let Some(f) = s.description.fields.get(k) else {
            return Err(Error::msg(
                "BER input: a field that its struct does not have",
            ));
        };
        if s.index.is_none() {
            if s.cursor < s.end {
                let at = s.cursor;
                let child = read_tlv(input, at, s.end, base)?;
                if child.tag == tags::FIELD {
                    let name = read_tlv(input, child.content, child.end, base)?;
                    let n = &input[name.content..name.end];
                    if name.tag == tags::UTF8_STRING
                        && (n == f.name.as_bytes() || f.aliases.iter().any(|a| a.as_bytes() == n))
                    {
                        s.cursor = child.end;
                        s.last_after = k as u32 + 1;
                        self.at = at;
                        return Ok(Some(Found::Values(name.end, child.end)));
                    }
                }
            }
            self.build_index(true)?;
        }
        Ok(self
            .find_indexed(k)?
            .map(|(pos, end)| Found::Values(pos, end)))
    }

    /// [`find_field`](Self::find_field) in an indexed struct: by name and
    /// occurrence.
    fn find_indexed(&mut self, k: usize) -> Result<Option<(usize, usize)>> {
        let entries = &mut self.entries;
        let Some(Frame::Struct(s)) = self.frames.last() else {
            return Err(Error::msg("BER input: a field outside a struct"));
        };
        let Some(index) = s.index.and_then(|i| self.indexes.get_mut(i)) else {
            return Err(Error::msg(
                "BER input: a struct read out of order has no index",
            ));
        };
        let Some(f) = s.description.fields.get(k) else {
            return Err(Error::msg(
                "BER input: a field that its struct does not have",
            ));
        };
        let (first, end) = (index.first, index.end);
        let map = index.map.get_or_insert_with(|| {
            let mut seen: HashMap<&[u8], u32> = HashMap::new();
            let mut map = HashMap::new();
            for (i, e) in entries[first..end].iter().enumerate() {
                if e.subsection.is_none() {
                    let n = seen.entry(e.name).or_insert(0);
                    map.insert((e.name, *n), first + i);
                    *n += 1;
                }
            }
            map
        });
        let fields = s.description.fields;
        let occurrences = index.occurrences.get_or_insert_with(|| {
            let mut seen: HashMap<&str, u32> = HashMap::new();
            fields
                .iter()
                .map(|f| {
                    let n = seen.entry(f.name).or_insert(0);
                    *n += 1;
                    *n - 1
                })
                .collect()
        });
        let occurrence = occurrences.get(k).copied().unwrap_or(0);
        let found = std::iter::once(f.name)
            .chain(f.aliases.iter().copied())
            .filter_map(|name| map.get(&(name.as_bytes(), occurrence)).copied())
            .find(|&i| !entries[i].used);
        Ok(found.map(|i| {
            entries[i].used = true;
            entries[i].after = k as u32 + 1;
            (entries[i].start, entries[i].end)
        }))
    }
}

/// Where the values of a field are.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// Its values TLVs, from, to.
    Values(usize, usize),
    /// One scalar of this type, its content at.
    Scalar(Code, usize),
}

#[derive(Debug, Clone, Copy)]
enum Next {
    Run { code: Code, at: usize },
    Element { pos: usize, end: usize },
}

/// What a tag is, for messages.
fn describe(tag: u8) -> String {
    match tag {
        tags::STRUCT => "a struct".into(),
        tags::SUBSECTION => "a subsection".into(),
        tags::FIELD => "a field".into(),
        tags::ARRAY => "an array".into(),
        tags::ELEMENT => "an array element".into(),
        tags::OPAQUE => "an opaque value".into(),
        tags::OCTET_STRING => "a buffer".into(),
        tags::UTF8_STRING => "a string".into(),
        tags::INTEGER => "an INTEGER".into(),
        t if t & 0xe0 == 0xc0 => match Code::from_number(t & 0x1f) {
            Some(c) => format!("a {} value", c.name()),
            None => format!("a scalar of unknown type {}", t & 0x1f),
        },
        t if t & 0xe0 == 0x80 => match Code::from_number(t & 0x1f) {
            Some(c) => format!("an array of {}", c.name()),
            None => format!("a packed run of unknown type {}", t & 0x1f),
        },
        t => format!("a TLV with identifier {t:#04x}"),
    }
}

macro_rules! int_in {
    ($name:ident, $t:ty, $code:ident) => {
        #[inline(always)]
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            const W: usize = std::mem::size_of::<$t>();
            if let Some(bytes) = self.exact::<W>(Code::$code) {
                *v = <$t>::from_be_bytes(bytes);
                return Ok(());
            }
            let value = self.integer(Code::$code)?;
            *v = <$t>::try_from(value.1).map_err(|_| self.lossy(value, Code::$code))?;
            Ok(())
        }
    };
}

macro_rules! equal_in {
    ($name:ident, $t:ty, $code:ident, $wire:ident) => {
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            let value = self.integer(Code::$code)?;
            let loaded = <$t>::try_from(value.1).map_err(|_| self.lossy(value, Code::$code))?;
            if loaded != *v {
                return Err(Error::new(ErrorKind::NotEqual {
                    wire: WireType::$wire,
                    loaded: loaded as u64,
                    current: *v as u64,
                })
                .at_offset(self.offset(self.at)));
            }
            Ok(())
        }
    };
}

macro_rules! slice_in {
    ($name:ident, $t:ty, $code:ident, $scalar:ident) => {
        fn $name(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            const W: usize = std::mem::size_of::<$t>();
            if let Some(bytes) = self.whole_run(Code::$code, items.len()) {
                for (x, c) in items.iter_mut().zip(bytes.chunks_exact(W)) {
                    let mut a = [0u8; W];
                    a.copy_from_slice(c);
                    *x = <$t>::from_be_bytes(a);
                }
                return Ok(());
            }
            for (i, item) in items.iter_mut().enumerate() {
                self.enter_element(i)
                    .and_then(|()| self.$scalar(name, item))
                    .and_then(|()| self.leave_element())
                    .map_err(|e| e.within(PathSegment::Index(i)))?;
            }
            Ok(())
        }
    };
}

impl<'i, 'd> Visitor<'d> for BerInputVisitor<'i, 'd> {
    const LOADING: bool = true;
    const PACKED_RUNS: bool = true;

    /// A run of fields that are fixed blocks in the plan's template, when
    /// the input's next bytes are exactly the template's encoding (the
    /// fields in the destination's order, of its types and sizes, each
    /// `bool` 00 or 01): their values, as the per-field calls load them.
    /// Anything else (another order, an unknown, missing or retyped field,
    /// the struct's end) declines, consuming nothing, and the per-field
    /// path reads the run with all its rules.
    #[inline]
    fn take_packed(&mut self, fields: std::ops::Range<usize>, bytes: &mut [u8]) -> Result<bool> {
        let input = self.input;
        let Some(Frame::Struct(s)) = self.frames.last_mut() else {
            return Ok(false);
        };
        if s.index.is_some() || self.absent {
            return Ok(false);
        }
        let last = fields.end;
        let Some(run) = self.plans.plan(s.plan).packed.run(fields, bytes.len()) else {
            return Ok(false);
        };
        let at = s.cursor;
        let n = run.template.len();
        if at + n > s.end {
            return Ok(false);
        }
        // The words after the struct's end may be read, not used.
        let Some(src) = input.get(at..) else {
            return Ok(false);
        };
        if !run.read(src, bytes) {
            return Ok(false);
        }
        let first = *run.first();
        let end = *run.end();
        // As after the fields' leave_field.
        s.cursor = at + n;
        s.last_after = last as u32;
        if let Some(l) = run.fields().last() {
            self.at = at + (l.tpl - first.tpl + l.last_read) as usize;
        }
        self.consumed += u64::from(end.consumed - first.consumed);
        Ok(true)
    }

    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        let value = self.integer(Code::Bool)?;
        *v = match value.1 {
            0 => false,
            1 => true,
            _ => return Err(self.lossy(value, Code::Bool)),
        };
        Ok(())
    }
    int_in!(visit_i8, i8, I8);
    int_in!(visit_i16, i16, I16);
    int_in!(visit_i32, i32, I32);
    int_in!(visit_i64, i64, I64);
    int_in!(visit_u8, u8, U8);
    int_in!(visit_u16, u16, U16);
    int_in!(visit_u32, u32, U32);
    int_in!(visit_u64, u64, U64);
    equal_in!(visit_u8_equal, u8, U8Equal, Uint8Equal);
    equal_in!(visit_u16_equal, u16, U16Equal, Uint16Equal);
    equal_in!(visit_u32_equal, u32, U32Equal, Uint32Equal);
    equal_in!(visit_u64_equal, u64, U64Equal, Uint64Equal);

    fn visit_i32_equal(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        let value = self.integer(Code::I32Equal)?;
        let loaded = i32::try_from(value.1).map_err(|_| self.lossy(value, Code::I32Equal))?;
        if loaded != *v {
            return Err(Error::new(ErrorKind::NotEqual {
                wire: WireType::Int32Equal,
                loaded: u64::from(loaded as u32),
                current: u64::from(*v as u32),
            })
            .at_offset(self.offset(self.at)));
        }
        Ok(())
    }
    fn visit_i32_le(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        let value = self.integer(Code::I32Le)?;
        let loaded = i32::try_from(value.1).map_err(|_| self.lossy(value, Code::I32Le))?;
        if !(0..=*v).contains(&loaded) {
            return Err(Error::new(ErrorKind::NotLessOrEqual { loaded, max: *v })
                .at_offset(self.offset(self.at)));
        }
        *v = loaded;
        Ok(())
    }
    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        let (code, content) = self.take_scalar(Code::F64)?;
        if code != Code::F64 {
            return Err(self.mismatch(tags::scalar(code as u8), Code::F64.name()));
        }
        *v = f64::from_bits(int_value(Code::U64, content) as u64);
        Ok(())
    }
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        let (code, content) = self.take_scalar(Code::Timer)?;
        if code != Code::Timer {
            return Err(self.mismatch(tags::scalar(code as u8), Code::Timer.name()));
        }
        *v = Timer::from_raw(int_value(Code::I64, content) as i64);
        Ok(())
    }
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        let content = self.buffer(bytes.len(), None)?;
        bytes.copy_from_slice(content);
        Ok(())
    }
    fn visit_buffer_vec(&mut self, _: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        let added = (len as u64).saturating_sub(bytes.len() as u64);
        self.allocate(added, len as u64)?;
        let content = self.buffer(len, None)?;
        bytes.clear();
        bytes.extend_from_slice(content);
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
        let content = self.buffer(len, Some(type_name))?;
        bytes.clear();
        bytes.extend_from_slice(content);
        Ok(())
    }
    fn visit_unused(&mut self, _: &'d str, _: usize) -> Result<()> {
        // Whatever the input has in its place is not loaded.
        let t = self.take_value(Code::Unused.name())?;
        if t.tag == tags::scalar(Code::Unused as u8) {
            read_unsigned_minimal(&self.input[t.content..t.end], self.offset(t.content))?;
        }
        Ok(())
    }
    fn visit_bitmap_word(&mut self, _: &'d str, word: &mut u64) -> Result<()> {
        let value = self.integer(Code::BitmapWord)?;
        *word = u64::try_from(value.1).map_err(|_| self.lossy(value, Code::BitmapWord))?;
        Ok(())
    }
    fn visit_ptr_marker(
        &mut self,
        _: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        let (code, content) = self.take_scalar(Code::PtrMarker)?;
        if code != Code::PtrMarker {
            return Err(self.mismatch(tags::scalar(code as u8), "a pointer marker"));
        }
        match content {
            [0] => *present = false,
            [1] if valid_allowed => *present = true,
            [1] => {
                return Err(Error::new(ErrorKind::PtrMarker {
                    found: qemufile::stream::PTR_MARKER_VALID,
                    expected: "NULL, because this slot is NULL on the destination",
                })
                .at_offset(self.offset(self.at)));
            }
            _ => {
                return Err(malformed(
                    self.offset(self.at),
                    "a pointer marker is 00 (NULL) or 01 (present)",
                ));
            }
        }
        Ok(())
    }
    fn visit_list_marker(&mut self, _: &'d str, more: &mut bool) -> Result<()> {
        match self.frames.last_mut() {
            Some(Frame::Array(a)) => {
                a.list = true;
                *more = a.taken < a.count;
                Ok(())
            }
            _ => Err(Error::msg("BER input: a list marker outside an array")),
        }
    }
    fn visit_u8_slice(&mut self, name: &'d str, items: &mut [u8]) -> Result<()> {
        if let Some(bytes) = self.whole_run(Code::U8, items.len()) {
            items.copy_from_slice(bytes);
            return Ok(());
        }
        for (i, item) in items.iter_mut().enumerate() {
            self.enter_element(i)
                .and_then(|()| self.visit_u8(name, item))
                .and_then(|()| self.leave_element())
                .map_err(|e| e.within(PathSegment::Index(i)))?;
        }
        Ok(())
    }
    slice_in!(visit_u16_slice, u16, U16, visit_u16);
    slice_in!(visit_u32_slice, u32, U32, visit_u32);
    slice_in!(visit_u64_slice, u64, U64, visit_u64);
    slice_in!(visit_i32_slice, i32, I32, visit_i32);

    #[inline(always)]
    fn enter_field(&mut self, index: usize) -> Result<()> {
        if let Some(keep) = &mut self.keep {
            keep.1.push(field_step(index));
        }
        match self.find_field(index)? {
            Some(Found::Values(pos, end)) => {
                self.frames.push(Frame::Values {
                    pos,
                    end,
                    implicit: false,
                });
                Ok(())
            }
            Some(Found::Scalar(code, at)) => {
                self.frames.push(Frame::Packed {
                    code,
                    at,
                    used: false,
                });
                Ok(())
            }
            None => {
                let s = self.struct_frame()?;
                let d = s.description;
                let since = d.fields.get(index).map_or(0, |f| f.since);
                if self.options.require_fields && since <= s.incoming {
                    let at = self.offset(s.at);
                    return Err(Error::new(ErrorKind::MissingField {
                        name: crate::state::owned(d.fields.get(index).map_or("", |f| f.name)),
                        description: crate::state::owned(d.name),
                        incoming: s.incoming,
                        since,
                    })
                    .at_offset(at));
                }
                self.absent = true;
                Ok(())
            }
        }
    }
    #[inline]
    fn field_absent(&self) -> bool {
        self.absent
    }
    #[inline(always)]
    fn leave_field(&mut self) -> Result<()> {
        if let Some(keep) = &mut self.keep {
            keep.1.pop();
        }
        if std::mem::take(&mut self.absent) {
            return Ok(());
        }
        match self.frames.pop() {
            Some(Frame::Values { pos, end, .. }) if pos >= end => Ok(()),
            Some(Frame::Packed { used: true, .. }) => Ok(()),
            Some(Frame::Packed { code, .. }) => Err(self.mismatch(
                tags::scalar(code as u8),
                "what the destination's field holds",
            )),
            Some(Frame::Values { pos, end, .. }) => {
                let t = self.read(pos, end)?;
                Err(Error::new(ErrorKind::TypeMismatch {
                    found: format!("{} more", describe(t.tag)),
                    expected: "no more values in this field".to_owned(),
                })
                .at_offset(self.offset(t.start)))
            }
            _ => Err(Error::msg("BER input: unbalanced walk (leave_field)")),
        }
    }
    fn enter_struct(
        &mut self,
        _: &'d str,
        description: &'d Description<'d>,
        _version_id: u32,
    ) -> Result<()> {
        let (tlv, tag, head) = match self.pending.take() {
            Some(p) => (p.tlv, p.tlv.tag, p.head),
            None => {
                let implicit = matches!(self.frames.last(), Some(Frame::Array(_)));
                if implicit {
                    match self.next_element()? {
                        Some(Next::Element { pos, end }) => self.frames.push(Frame::Values {
                            pos,
                            end,
                            implicit: true,
                        }),
                        Some(Next::Run { code, .. }) => {
                            return Err(self.mismatch(tags::packed(code as u8), "a struct"));
                        }
                        None => return Err(self.shorter()),
                    }
                }
                let t = self.take_value("a struct")?;
                (t, tags::STRUCT, None)
            }
        };
        if tlv.tag != tag {
            return Err(self.mismatch(tlv.tag, "a struct"));
        }
        let (name, incoming, from) = match head {
            Some(head) => head,
            None => match self.struct_head_fast(&tlv, description) {
                Some(head) => head,
                None => self.struct_head(&tlv)?,
            },
        };
        if name != description.name.as_bytes() {
            return Err(Error::new(ErrorKind::StructName {
                incoming: String::from_utf8_lossy(name).into_owned(),
                local: crate::state::owned(description.name),
            })
            .at_offset(self.offset(tlv.start)));
        }
        self.check_version(description, incoming, tlv.start)?;
        self.at = tlv.start;
        let plan = self.plans.get(description);
        self.frames.push(Frame::Struct(StructFrame {
            description,
            plan,
            incoming,
            from,
            cursor: from,
            end: tlv.end,
            last_after: 0,
            index: None,
            at: tlv.start,
        }));
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        let s = match self.frames.last() {
            Some(Frame::Struct(s)) if s.index.is_none() && s.cursor >= s.end => {
                // Every entry was read in order: nothing unknown.
                let s = *s;
                self.frames.pop();
                if s.incoming > s.description.version_id {
                    self.keep_struct(&s, Vec::new())?;
                }
                return self.close_implicit();
            }
            Some(Frame::Struct(s)) => *s,
            _ => return Err(Error::msg("BER input: unbalanced walk (leave_struct)")),
        };
        if s.index.is_none() {
            self.build_index(false)?;
        }
        let Some(Frame::Struct(s)) = self.frames.pop() else {
            return Err(Error::msg("BER input: unbalanced walk (leave_struct)"));
        };
        let Some(index) = s.index.and_then(|i| self.indexes.get(i)) else {
            return Err(Error::msg("BER input: unbalanced walk (leave_struct)"));
        };
        let (first, end) = (index.first, index.end);
        let keeping = self.keep.is_some();
        let mut items = Vec::new();
        let (mut after_field, mut after_sub) = (s.last_after, 0);
        for i in first..end {
            let e = self.entries[i];
            match e.subsection {
                None if e.used => {
                    if e.after != 0 {
                        after_field = e.after;
                    }
                }
                None => {
                    self.unknown.push(UnknownField {
                        description: s.description.name.to_owned(),
                        name: String::from_utf8_lossy(e.name).into_owned(),
                        offset: self.base + e.start as u64,
                    });
                    if keeping {
                        // The whole field TLV: back from its values over
                        // its name to its identifier.
                        items.push((after_field, false, e.tlv, e.end));
                    }
                }
                Some(_) if e.kept => items.push((after_sub, true, e.start, e.end)),
                Some(_) => {
                    if e.after != 0 {
                        after_sub = e.after;
                    }
                }
            }
        }
        if keeping && (!items.is_empty() || s.incoming > s.description.version_id) {
            self.keep_struct(&s, items)?;
        }
        self.entries.truncate(first);
        self.indexes.truncate(s.index.unwrap_or(0));
        self.close_implicit()
    }
    fn enter_array(&mut self, _: &'d str, len: usize, _: usize) -> Result<()> {
        let implicit = matches!(self.frames.last(), Some(Frame::Array(_)));
        if implicit {
            match self.next_element()? {
                Some(Next::Element { pos, end }) => self.frames.push(Frame::Values {
                    pos,
                    end,
                    implicit: true,
                }),
                Some(Next::Run { code, .. }) => {
                    return Err(self.mismatch(tags::packed(code as u8), "an array"));
                }
                None => return Err(self.shorter()),
            }
        }
        let t = self.take_value("an array")?;
        if t.tag != tags::ARRAY && t.tag & 0xe0 != 0x80 {
            return Err(self.mismatch(t.tag, "an array"));
        }
        let (count, run, pos, end) = self.count(&t)?;
        if len != 0 && count != len as u64 {
            return Err(Error::new(ErrorKind::ArrayLength {
                incoming: count,
                local: len as u64,
            })
            .at_offset(self.offset(t.start)));
        }
        self.frames.push(Frame::Array(ArrayFrame {
            count,
            taken: 0,
            local: len,
            list: false,
            run,
            pos,
            end,
            implicit: false,
        }));
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        let Some(Frame::Array(a)) = self.frames.pop() else {
            return Err(Error::msg("BER input: unbalanced walk (leave_array)"));
        };
        if a.taken != a.count {
            return Err(Error::new(ErrorKind::ArrayLength {
                incoming: a.count,
                local: if a.list { a.taken } else { a.local as u64 },
            })
            .at_offset(self.offset(self.at)));
        }
        let _ = a.implicit;
        self.close_implicit()
    }
    fn enter_element(&mut self, index: usize) -> Result<()> {
        if let Some(keep) = &mut self.keep {
            keep.1.push(element_step(index));
        }
        match self.next_element()? {
            Some(Next::Run { code, at }) => self.frames.push(Frame::Packed {
                code,
                at,
                used: false,
            }),
            Some(Next::Element { pos, end }) => self.frames.push(Frame::Values {
                pos,
                end,
                implicit: false,
            }),
            None => return Err(self.shorter()),
        }
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        if let Some(keep) = &mut self.keep {
            keep.1.pop();
        }
        match self.frames.pop() {
            Some(Frame::Packed { used: true, .. }) => Ok(()),
            Some(Frame::Packed { code, .. }) => Err(self.mismatch(
                tags::scalar(code as u8),
                "what the destination's element holds",
            )),
            Some(Frame::Values { pos, end, .. }) if pos >= end => Ok(()),
            Some(Frame::Values { pos, end, .. }) => {
                let t = self.read(pos, end)?;
                Err(Error::new(ErrorKind::TypeMismatch {
                    found: format!("{} more", describe(t.tag)),
                    expected: "no more values in this element".to_owned(),
                })
                .at_offset(self.offset(t.start)))
            }
            _ => Err(Error::msg("BER input: unbalanced walk (leave_element)")),
        }
    }
    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let s = match self.frames.last() {
            Some(Frame::Struct(s)) => *s,
            _ => return Ok(None),
        };
        if s.index.is_none() {
            if s.cursor >= s.end {
                return Ok(None);
            }
            if let Some(found) = self.last_subsection(parent, &s)? {
                return Ok(Some(found));
            }
            // Fields are read: what is left is indexed once.
            self.build_index(false)?;
        }
        let Some(index) = self.struct_frame()?.index.and_then(|i| self.indexes.get(i)) else {
            return Ok(None);
        };
        let (first, end) = (index.first, index.end);
        loop {
            let Some(i) = (first..end)
                .find(|&i| self.entries[i].subsection.is_some() && !self.entries[i].used)
            else {
                return Ok(None);
            };
            let e = self.entries[i];
            self.entries[i].used = true;
            let incoming = e.subsection.unwrap_or(0);
            if self.entries[first..i]
                .iter()
                .any(|x| x.subsection.is_some() && x.name == e.name)
            {
                return Err(malformed(
                    self.offset(e.start),
                    format!(
                        "subsection {} twice in one struct",
                        String::from_utf8_lossy(e.name)
                    ),
                ));
            }
            let Some(index) = parent.subsection_index(e.name) else {
                if self.keep.is_some() {
                    // Kept, written back where it was.
                    self.entries[i].kept = true;
                    self.unknown_subsections.push(UnknownField {
                        description: parent.name.to_owned(),
                        name: String::from_utf8_lossy(e.name).into_owned(),
                        offset: self.base + e.start as u64,
                    });
                    continue;
                }
                return Err(Error::new(ErrorKind::UnknownSubsection {
                    name: String::from_utf8_lossy(e.name).into_owned(),
                    parent: crate::state::owned(parent.name),
                })
                .at_offset(self.offset(e.start)));
            };
            self.entries[i].after = index as u32 + 1;
            let sub = parent.subsections[index];
            self.check_version(sub, incoming, e.start).map_err(|err| {
                err.within(PathSegment::Subsection(crate::state::owned(sub.name)))
            })?;
            let tlv = self.read(e.start, e.end)?;
            self.pending = Some(Pending { tlv, head: None });
            if let Some(keep) = &mut self.keep {
                keep.1.push(subsection_step(index));
            }
            return Ok(Some(IncomingSubsection {
                index,
                version_id: incoming.min(sub.version_id),
            }));
        }
    }
    fn leave_subsection(&mut self) -> Result<()> {
        if let Some(keep) = &mut self.keep {
            keep.1.pop();
        }
        Ok(())
    }
    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        let at = self.offset(self.at);
        let total = self.allocated.saturating_add(added);
        let limits = &self.options.limits;
        limits
            .check(Limit::SectionMemory, total, || {
                "the state loaded so far".to_owned()
            })
            .and_then(|()| {
                limits.check(Limit::MaxAllocation, container, || {
                    "this field of the loaded state".to_owned()
                })
            })
            .map_err(|e| Error::from(e).at_offset(at))?;
        self.allocated = total;
        Ok(())
    }
    fn input_position(&self) -> Option<u64> {
        Some(self.consumed)
    }
    fn locate(&self, error: Error) -> Error {
        error.at_offset(self.offset(self.at))
    }
}

impl BerInputVisitor<'_, '_> {
    /// Keeps `items` ((after, is a subsection, start, end) of the input)
    /// of struct `s`, at the current path, within the load's limits.
    fn keep_struct(
        &mut self,
        s: &StructFrame<'_>,
        items: Vec<(u32, bool, usize, usize)>,
    ) -> Result<()> {
        let input = self.input;
        let base = self.base;
        let Some(keep) = self.keep.as_deref_mut() else {
            return Ok(());
        };
        let (unknown, path) = keep;
        let mut added = (path.len() * std::mem::size_of::<Step>()
            + s.description.name.len()
            + std::mem::size_of::<KeptStruct>()) as u64;
        let mut kept = Vec::with_capacity(items.len());
        for (after, subsection, start, end) in items {
            check_well_formed(input, start, end, base)?;
            let at = unknown.bytes.len();
            added += (end - start + std::mem::size_of::<KeptItem>()) as u64;
            let total = at as u64 + (end - start) as u64;
            self.options
                .limits
                .check(Limit::MaxAllocation, total, || {
                    "the fields of the BER input kept for writing back".to_owned()
                })
                .map_err(|e| Error::from(e).at_offset(base + start as u64))?;
            unknown.bytes.extend_from_slice(&input[start..end]);
            kept.push(KeptItem {
                after,
                subsection,
                start: at,
                end: at + (end - start),
            });
        }
        let total = self.allocated.saturating_add(added);
        self.options
            .limits
            .check(Limit::SectionMemory, total, || {
                "the state loaded so far, with the fields kept".to_owned()
            })
            .map_err(|e| Error::from(e).at_offset(base + s.at as u64))?;
        self.allocated = total;
        unknown.structs.insert(
            path.clone(),
            KeptStruct {
                name: s.description.name.to_owned(),
                version: s.incoming,
                items: kept,
            },
        );
        Ok(())
    }

    fn check_version(&self, d: &Description<'_>, incoming: u32, at: usize) -> Result<()> {
        if incoming < d.minimum_version_id {
            return Err(Error::new(ErrorKind::VersionTooOld {
                name: crate::state::owned(d.name),
                incoming,
                minimum: d.minimum_version_id,
            })
            .at_offset(self.offset(at)));
        }
        if incoming > d.version_id && !self.options.accept_newer {
            return Err(Error::new(ErrorKind::VersionTooNew {
                name: crate::state::owned(d.name),
                incoming,
                local: d.version_id,
            })
            .at_offset(self.offset(at)));
        }
        Ok(())
    }

    /// Closes the element opened for a struct or array directly in an array.
    fn close_implicit(&mut self) -> Result<()> {
        if let Some(Frame::Values { implicit: true, .. }) = self.frames.last() {
            return self.leave_element();
        }
        Ok(())
    }

    /// The content of a buffer of `len` bytes (a buffer, or an opaque value
    /// of type `type_name`).
    fn buffer(&mut self, len: usize, type_name: Option<&str>) -> Result<&[u8]> {
        let input = self.input;
        let t = self.take_value("a buffer")?;
        let content = match t.tag {
            tags::OCTET_STRING => t,
            tags::OPAQUE => {
                let name = self.read(t.content, t.end)?;
                let bytes = self.read(name.end, t.end)?;
                if name.tag != tags::UTF8_STRING
                    || bytes.tag != tags::OCTET_STRING
                    || bytes.end != t.end
                {
                    return Err(malformed(
                        self.offset(t.start),
                        "an opaque value is its type name (UTF8String) and its bytes (OCTET STRING)",
                    ));
                }
                let found = &input[name.content..name.end];
                if let Some(want) = type_name {
                    if found != want.as_bytes() {
                        return Err(Error::new(ErrorKind::TypeMismatch {
                            found: format!("a {} value", String::from_utf8_lossy(found)),
                            expected: format!("a {want} value"),
                        })
                        .at_offset(self.offset(t.start)));
                    }
                }
                bytes
            }
            other => return Err(self.mismatch(other, "a buffer")),
        };
        if content.len() != len {
            return Err(Error::new(ErrorKind::TypeMismatch {
                found: format!("a buffer of {} bytes", content.len()),
                expected: format!("a buffer of {len} bytes"),
            })
            .at_offset(self.offset(t.start)));
        }
        Ok(&input[content.content..content.end])
    }
}
