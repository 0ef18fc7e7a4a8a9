//! The BER output visitor.

use super::plan::{PlanRef, Plans};
use super::stack::Stack;
use super::tlv::{
    Code, len_size, put_header, put_integer, put_len, put_str, tags, tlv_size, uint_content_size,
    unsigned_minimal, write_len_at,
};
use super::unknown::{KeptStruct, Step, Unknown, element_step, field_step, subsection_step};
use crate::{Description, Error, Layout, Result, Timer, Visitor};

/// An open constructed TLV whose length is written when it closes.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Offset of the length bytes.
    len_at: usize,
    /// Length bytes reserved (from the size expected, or 1).
    reserved: usize,
    /// An element opened for this TLV alone (a struct or array directly in
    /// an array): closes with it.
    wrapped: bool,
}

/// The field being written.
#[derive(Debug, Clone, Copy)]
struct OpenField {
    open: Open,
    /// Where it ends when its plan fixed its length (`usize::MAX` when not).
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Nothing written yet.
    Empty,
    /// One packed run holding the whole array is written.
    Whole(usize),
}

/// The parts kept of the input's struct being written back, and how far
/// its fields and its subsections are written.
#[derive(Debug, Clone, Copy)]
struct KeptCursor<'o> {
    kept: &'o KeptStruct,
    fields: usize,
    subsections: usize,
}

/// Writing back what a load kept ([`Unknown`]).
#[derive(Debug)]
struct Keeper<'o> {
    unknown: &'o Unknown,
    /// The path to the current struct.
    path: Vec<Step>,
    /// The current struct's description and what is kept of it.
    description: Option<&'o Description<'o>>,
    cur: Option<KeptCursor<'o>>,
}

#[derive(Debug, Clone, Copy)]
enum Frame<'o> {
    /// An element or an opaque value.
    Container(Open),
    /// A struct or subsection; what it interrupted: the plan of the struct
    /// it is in and the field of that struct it is the value of (and when
    /// writing back kept parts, that struct's).
    Struct {
        open: Open,
        outer_plan: Option<PlanRef>,
        outer_field: Option<OpenField>,
        outer_kept: Option<(Option<&'o Description<'o>>, Option<KeptCursor<'o>>)>,
    },
    /// An array not (yet) written as a constructed TLV.
    Array {
        state: ArrayState,
        len: usize,
        /// Expected content bytes of the constructed form.
        hint: Option<usize>,
        /// Expected value bytes of each element.
        element: Option<usize>,
        wrapped: bool,
    },
    /// An array written as a constructed TLV.
    Constructed { open: Open, element: Option<usize> },
}

/// Saves values as BER (the format of [`crate::ber`]): every struct with
/// its description's name and version, every field with its name, every
/// value tagged with its wire type.
///
/// Writes into a `Vec<u8>`: the length of a constructed TLV is written when
/// it closes. Where the description tells the size of what follows (fixed
/// layouts), the length is written once, in place; elsewhere the content
/// moves when its length needs more bytes than the one reserved. The bytes
/// that open each field (identifier, length, name) are computed once per
/// description and copied. The output is canonical: one encoding for one
/// walk.
#[derive(Debug)]
pub struct BerOutputVisitor<'o> {
    out: &'o mut Vec<u8>,
    frames: Stack<Frame<'o>, 8>,
    keep: Option<Box<Keeper<'o>>>,
    plans: Plans,
    /// The plan of the innermost struct, and its field being written.
    plan: Option<PlanRef>,
    field: Option<OpenField>,
    /// The identifier of a scalar value whose identifier and length the
    /// field's head wrote (0: none).
    pending_scalar: u8,
    /// Expected TLV bytes of the value of the field being written, for the
    /// first struct or array opened in it.
    value_hint: Option<usize>,
    /// Expected value bytes of each element of that array.
    element_hint: Option<usize>,
    /// The next struct is a subsection.
    subsection: bool,
}

/// Content bytes of a TLV of `total` bytes.
#[inline]
fn content_of(total: usize) -> Option<usize> {
    (1..=9).find_map(|k| {
        let c = total.checked_sub(1 + k)?;
        (len_size(c) == k).then_some(c)
    })
}

const NO_FRAME: Frame<'static> = Frame::Container(Open {
    len_at: 0,
    reserved: 0,
    wrapped: false,
});

impl<'o> BerOutputVisitor<'o> {
    /// Appends to `out`. The precomputed bytes of the descriptions met are
    /// kept by this visitor (the walk's descriptions may be built at run
    /// time and freed after it).
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Self::with_plans(out, Plans::local())
    }

    /// Appends to `out`, for a walk whose descriptions are all `'static`
    /// (a `VmState` type's): their precomputed bytes are shared by every
    /// walk of the process.
    pub(crate) fn for_static(out: &'o mut Vec<u8>) -> Self {
        Self::with_plans(out, Plans::shared())
    }

    /// Writes back, in each struct, the fields and subsections a load kept
    /// of it ([`Unknown`]), where they were in the input, and writes such a
    /// struct at the version it had there when that is newer.
    pub fn writing_back(mut self, unknown: &'o Unknown) -> Self {
        self.keep = Some(Box::new(Keeper {
            unknown,
            path: Vec::new(),
            description: None,
            cur: None,
        }));
        self
    }

    /// Writes the kept fields (`subsection` false) or subsections of the
    /// current struct that go before the destination's `upto` (all with
    /// `u32::MAX`).
    fn emit_kept(&mut self, subsection: bool, upto: u32) {
        let Some(keep) = self.keep.as_deref_mut() else {
            return;
        };
        let Some(cur) = keep.cur.as_mut() else {
            return;
        };
        let items = &cur.kept.items;
        let next = if subsection {
            &mut cur.subsections
        } else {
            &mut cur.fields
        };
        while let Some(item) = items.get(*next) {
            if item.subsection != subsection {
                *next += 1;
                continue;
            }
            if item.after > upto {
                break;
            }
            self.out
                .extend_from_slice(&keep.unknown.bytes[item.start..item.end]);
            *next += 1;
        }
    }

    fn with_plans(out: &'o mut Vec<u8>, plans: Plans) -> Self {
        BerOutputVisitor {
            out,
            frames: Stack::new(NO_FRAME),
            keep: None,
            plans,
            plan: None,
            field: None,
            pending_scalar: 0,
            value_hint: None,
            element_hint: None,
            subsection: false,
        }
    }

    /// Writes `tag` and reserves the length for a TLV of `hint` content
    /// bytes (one byte when unknown).
    #[inline]
    fn open_raw(&mut self, tag: u8, hint: Option<usize>, wrapped: bool) -> Open {
        let reserved = hint.map_or(1, len_size);
        self.out.push(tag);
        let len_at = self.out.len();
        match reserved {
            1 => self.out.push(0),
            2 => self.out.extend_from_slice(&[0, 0]),
            _ => self.out.resize(len_at + reserved, 0),
        }
        Open {
            len_at,
            reserved,
            wrapped,
        }
    }

    #[inline]
    fn open(&mut self, tag: u8, hint: Option<usize>, wrapped: bool) {
        let open = self.open_raw(tag, hint, wrapped);
        self.frames.push(Frame::Container(open));
    }

    #[inline]
    fn close_open(&mut self, open: Open) {
        let content_at = open.len_at + open.reserved;
        let n = self.out.len() - content_at;
        let need = len_size(n);
        if need != open.reserved {
            self.move_content(open, need);
        }
        write_len_at(&mut self.out[open.len_at..open.len_at + need], n);
    }

    /// The length takes another number of bytes than reserved: moves the
    /// content.
    #[cold]
    fn move_content(&mut self, open: Open, need: usize) {
        let content_at = open.len_at + open.reserved;
        let end = self.out.len();
        if need > open.reserved {
            let more = need - open.reserved;
            self.out.resize(end + more, 0);
            self.out.copy_within(content_at..end, content_at + more);
        } else {
            let less = open.reserved - need;
            self.out.copy_within(content_at..end, content_at - less);
            self.out.truncate(end - less);
        }
    }

    /// Closes the innermost container (and the element it was wrapped in).
    fn close(&mut self) -> Result<()> {
        match self.frames.pop() {
            Some(Frame::Container(open) | Frame::Constructed { open, .. }) => {
                self.close_open(open);
                if open.wrapped {
                    return self.close();
                }
                Ok(())
            }
            _ => Err(unbalanced()),
        }
    }

    /// True when the innermost frame is an array: a value written now is an
    /// element of it.
    #[inline]
    fn in_array(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame::Array { .. } | Frame::Constructed { .. })
        )
    }

    /// Inside an array: the constructed form is open (opens it, or turns a
    /// whole packed run into one), for an element or a partial run.
    fn constructed(&mut self) {
        let Some(&Frame::Array {
            state,
            hint,
            element,
            wrapped,
            ..
        }) = self.frames.last()
        else {
            return;
        };
        self.frames.pop();
        let open = match state {
            ArrayState::Empty => self.open_raw(tags::ARRAY, hint, wrapped),
            ArrayState::Whole(at) => {
                // A walk that goes on after a slice covered the whole
                // array: put an array header before the run.
                let run = self.out.split_off(at);
                let open = self.open_raw(tags::ARRAY, None, wrapped);
                self.out.extend_from_slice(&run);
                open
            }
        };
        self.frames.push(Frame::Constructed { open, element });
    }

    /// Opens an element of the innermost array.
    #[inline]
    fn element(&mut self, hint: Option<usize>, wrapped: bool) {
        self.constructed();
        self.open(tags::ELEMENT, hint, wrapped);
    }

    #[inline(always)]
    fn scalar<const W: usize>(&mut self, code: Code, bytes: [u8; W]) -> Result<()> {
        self.value_hint = None;
        let tag = tags::scalar(code as u8);
        let pending = std::mem::take(&mut self.pending_scalar);
        if pending == tag {
            // The head wrote the identifier and the length.
            self.out.extend_from_slice(&bytes);
            return Ok(());
        }
        if pending != 0 {
            // The head announced another scalar than the walk hands over:
            // take its identifier and length back.
            self.out.truncate(self.out.len() - 2);
        }
        let mut tlv = [0u8; 10];
        tlv[0] = tag;
        tlv[1] = W as u8;
        tlv[2..2 + W].copy_from_slice(&bytes);
        if self.in_array() {
            self.element(Some(2 + W), false);
            self.out.extend_from_slice(&tlv[..2 + W]);
            return self.close();
        }
        self.out.extend_from_slice(&tlv[..2 + W]);
        Ok(())
    }

    /// Any value other than the scalar a head announced: takes the
    /// announcement back.
    #[inline]
    fn not_scalar(&mut self) {
        if std::mem::take(&mut self.pending_scalar) != 0 {
            self.out.truncate(self.out.len() - 2);
        }
    }

    /// A run of scalars handed over at once.
    #[inline]
    fn run(&mut self, code: Code, count: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.value_hint = None;
        self.not_scalar();
        let bytes = count * code.width();
        match self.frames.last_mut() {
            Some(Frame::Array { state, len, .. })
                if *state == ArrayState::Empty && *len == count =>
            {
                *state = ArrayState::Whole(self.out.len());
            }
            Some(Frame::Array { .. }) => self.constructed(),
            _ => {}
        }
        self.out.reserve(tlv_size(bytes));
        put_header(self.out, tags::packed(code as u8), bytes);
        write(self.out);
    }

    /// Writes a primitive value TLV (a buffer), as an element when directly
    /// in an array.
    fn primitive(&mut self, tag: u8, bytes: &[u8]) -> Result<()> {
        self.value_hint = None;
        self.not_scalar();
        let element = self.in_array();
        if element {
            self.element(Some(tlv_size(bytes.len())), false);
        }
        self.out.reserve(tlv_size(bytes.len()));
        put_header(self.out, tag, bytes.len());
        self.out.extend_from_slice(bytes);
        if element {
            return self.close();
        }
        Ok(())
    }
}

#[cold]
fn unbalanced() -> Error {
    Error::msg("BER output: unbalanced walk (a leave without its enter)")
}

macro_rules! slice {
    ($name:ident, $t:ty, $code:ident) => {
        #[inline]
        fn $name(&mut self, _: &'d str, items: &mut [$t]) -> Result<()> {
            self.run(Code::$code, items.len(), |out| {
                const W: usize = std::mem::size_of::<$t>();
                let start = out.len();
                out.resize(start + items.len() * W, 0);
                for (dst, x) in out[start..].chunks_exact_mut(W).zip(items.iter()) {
                    dst.copy_from_slice(&x.to_be_bytes());
                }
            });
            Ok(())
        }
    };
}

macro_rules! int {
    ($name:ident, $t:ty, $code:ident) => {
        #[inline(always)]
        fn $name(&mut self, _: &'d str, v: &mut $t) -> Result<()> {
            self.scalar(Code::$code, v.to_be_bytes())
        }
    };
}

impl<'d: 'o, 'o> Visitor<'d> for BerOutputVisitor<'o> {
    const LOADING: bool = false;
    const PACKED_RUNS: bool = true;

    /// A run of fields that are fixed blocks in the plan's template: their
    /// part of the template, with the values copied into its holes (the
    /// bytes the per-field calls write). Declines, writing nothing, for
    /// any other run, and where kept fields of the input are written back
    /// in this struct.
    #[inline]
    fn put_packed(&mut self, fields: std::ops::Range<usize>, bytes: &[u8]) -> Result<bool> {
        let Some(plan) = self.plan else {
            return Ok(false);
        };
        if self.field.is_some()
            || !matches!(self.frames.last(), Some(Frame::Struct { .. }))
            || self.keep.as_deref().is_some_and(|k| k.cur.is_some())
        {
            return Ok(false);
        }
        let Some(run) = self.plans.plan(plan).packed.run(fields, bytes.len()) else {
            return Ok(false);
        };
        run.write(self.out, bytes);
        // As after the fields' leave_field.
        self.value_hint = None;
        self.element_hint = None;
        Ok(true)
    }

    #[inline]
    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        self.scalar(Code::Bool, [u8::from(*v)])
    }
    int!(visit_i8, i8, I8);
    int!(visit_i16, i16, I16);
    int!(visit_i32, i32, I32);
    int!(visit_i64, i64, I64);
    int!(visit_u8, u8, U8);
    int!(visit_u16, u16, U16);
    int!(visit_u32, u32, U32);
    int!(visit_u64, u64, U64);
    int!(visit_u8_equal, u8, U8Equal);
    int!(visit_u16_equal, u16, U16Equal);
    int!(visit_u32_equal, u32, U32Equal);
    int!(visit_u64_equal, u64, U64Equal);
    int!(visit_i32_equal, i32, I32Equal);
    int!(visit_i32_le, i32, I32Le);

    #[inline]
    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        self.scalar(Code::F64, v.to_bits().to_be_bytes())
    }
    #[inline]
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        self.scalar(Code::Timer, v.raw().to_be_bytes())
    }
    #[inline]
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.primitive(tags::OCTET_STRING, bytes)
    }
    fn visit_opaque(
        &mut self,
        _: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        self.value_hint = None;
        self.not_scalar();
        let n = len.min(bytes.len());
        let element = self.in_array();
        let content = tlv_size(type_name.len()) + tlv_size(n);
        if element {
            self.element(Some(tlv_size(content)), false);
        }
        self.open(tags::OPAQUE, Some(content), element);
        put_str(self.out, type_name);
        self.out.push(tags::OCTET_STRING);
        put_len(self.out, n);
        self.out.extend_from_slice(&bytes[..n]);
        self.close()
    }
    fn visit_unused(&mut self, _: &'d str, len: usize) -> Result<()> {
        let (bytes, n) = unsigned_minimal(len as u64);
        self.value_hint = None;
        self.not_scalar();
        let element = self.in_array();
        if element {
            self.element(Some(2 + n), false);
        }
        self.out.push(tags::scalar(Code::Unused as u8));
        self.out.push(n as u8);
        self.out.extend_from_slice(&bytes[8 - n..]);
        if element {
            return self.close();
        }
        Ok(())
    }
    #[inline]
    fn visit_bitmap_word(&mut self, _: &'d str, word: &mut u64) -> Result<()> {
        self.scalar(Code::BitmapWord, word.to_be_bytes())
    }
    #[inline]
    fn visit_ptr_marker(&mut self, _: &'d str, present: &mut bool, _: bool) -> Result<()> {
        self.scalar(Code::PtrMarker, [u8::from(*present)])
    }
    #[inline]
    fn visit_list_marker(&mut self, _: &'d str, _: &mut bool) -> Result<()> {
        // Framing: the elements of the array tell how many there are.
        Ok(())
    }
    #[inline]
    fn visit_u8_slice(&mut self, _: &'d str, items: &mut [u8]) -> Result<()> {
        self.run(Code::U8, items.len(), |out| out.extend_from_slice(items));
        Ok(())
    }
    slice!(visit_u16_slice, u16, U16);
    slice!(visit_u32_slice, u32, U32);
    slice!(visit_u64_slice, u64, U64);
    slice!(visit_i32_slice, i32, I32);

    #[inline(always)]
    fn enter_field(&mut self, index: usize) -> Result<()> {
        let Some(plan) = self.plan else {
            return Err(Error::msg("BER output: a field outside a struct"));
        };
        if self.keep.is_some() {
            self.emit_kept(false, index as u32);
            if let Some(keep) = self.keep.as_deref_mut() {
                keep.path.push(field_step(index));
            }
        }
        let plan = self.plans.plan(plan);
        let f = plan
            .fields
            .get(index)
            .ok_or_else(|| Error::msg("BER output: a field that its struct does not have"))?;
        let start = self.out.len();
        plan.put_head(f, self.out);
        self.field = Some(OpenField {
            open: Open {
                len_at: start + 1,
                reserved: f.len_bytes,
                wrapped: false,
            },
            end: f.total.map_or(usize::MAX, |t| start + t),
        });
        self.pending_scalar = f.scalar.map_or(0, |c| tags::scalar(c as u8));
        self.value_hint = f.value;
        self.element_hint = f.element;
        Ok(())
    }
    #[inline(always)]
    fn leave_field(&mut self) -> Result<()> {
        self.value_hint = None;
        self.not_scalar();
        if let Some(keep) = self.keep.as_deref_mut() {
            keep.path.pop();
        }
        match self.field.take() {
            Some(f) if f.end == self.out.len() => Ok(()),
            Some(f) => {
                self.close_open(f.open);
                Ok(())
            }
            None => Err(unbalanced()),
        }
    }
    fn enter_struct(
        &mut self,
        _: &'d str,
        description: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        self.not_scalar();
        let subsection = std::mem::take(&mut self.subsection);
        let plan_ref = self.plans.get(description);
        let plan = self.plans.plan(plan_ref);
        let mut total = match self.value_hint.take() {
            Some(v) if !subsection => Some(v),
            _ if version_id == plan.own_version => plan.own_size,
            _ => struct_size(description, version_id),
        };
        let mut version_id = version_id;
        let mut outer_kept = None;
        if let Some(keep) = self.keep.as_deref_mut() {
            let kept = keep
                .unknown
                .structs
                .get(&keep.path)
                .filter(|k| k.name == description.name);
            outer_kept = Some((keep.description.replace(description), keep.cur.take()));
            if let Some(kept) = kept {
                // Kept parts change the size; a newer input's version stays.
                total = None;
                version_id = version_id.max(kept.version);
                keep.cur = Some(KeptCursor {
                    kept,
                    fields: 0,
                    subsections: 0,
                });
            }
        }
        let wrapped = self.in_array();
        if wrapped {
            self.element(total, false);
        }
        let tag = if subsection {
            tags::SUBSECTION
        } else {
            tags::STRUCT
        };
        let plan = self.plans.plan(plan_ref);
        let hint = match total {
            Some(t) => content_of(t),
            // Reserved for the least it holds (moved only when it needs
            // another number of length bytes).
            None if version_id == plan.own_version => Some(plan.own_least),
            None => None,
        };
        let open = self.open_raw(tag, hint, wrapped);
        let plan = self.plans.plan(plan_ref);
        if version_id == plan.own_version {
            plan.put_opening(self.out);
        } else {
            self.out.extend_from_slice(plan.name_tlv());
            put_integer(self.out, u64::from(version_id));
        }
        let outer_plan = self.plan.replace(plan_ref);
        let outer_field = self.field.take();
        self.frames.push(Frame::Struct {
            open,
            outer_plan,
            outer_field,
            outer_kept,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        if self.keep.is_some() {
            self.emit_kept(false, u32::MAX);
            self.emit_kept(true, u32::MAX);
        }
        match self.frames.pop() {
            Some(Frame::Struct {
                open,
                outer_plan,
                outer_field,
                outer_kept,
            }) => {
                if let (Some(keep), Some((description, cur))) =
                    (self.keep.as_deref_mut(), outer_kept)
                {
                    keep.description = description;
                    keep.cur = cur;
                }
                self.plan = outer_plan;
                self.field = outer_field;
                self.close_open(open);
                if open.wrapped {
                    return self.close();
                }
                Ok(())
            }
            _ => Err(unbalanced()),
        }
    }
    fn enter_array(&mut self, _: &'d str, len: usize, _: usize) -> Result<()> {
        self.not_scalar();
        let total = self.value_hint.take();
        let element = self.element_hint.take();
        let wrapped = self.in_array();
        if wrapped {
            self.element(None, false);
        }
        self.frames.push(Frame::Array {
            state: ArrayState::Empty,
            len,
            hint: total.and_then(content_of),
            element,
            wrapped,
        });
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        match self.frames.pop() {
            Some(Frame::Array { state, wrapped, .. }) => {
                if state == ArrayState::Empty {
                    self.out.extend_from_slice(&[tags::ARRAY, 0]);
                }
                if wrapped {
                    return self.close();
                }
                Ok(())
            }
            Some(Frame::Constructed { open, .. }) => {
                self.close_open(open);
                if open.wrapped {
                    return self.close();
                }
                Ok(())
            }
            _ => Err(unbalanced()),
        }
    }
    #[inline]
    fn enter_element(&mut self, index: usize) -> Result<()> {
        self.not_scalar();
        if let Some(keep) = self.keep.as_deref_mut() {
            keep.path.push(element_step(index));
        }
        let hint = match self.frames.last() {
            Some(Frame::Array { element, .. } | Frame::Constructed { element, .. }) => *element,
            _ => None,
        };
        self.element(hint, false);
        self.value_hint = hint;
        Ok(())
    }
    #[inline]
    fn leave_element(&mut self) -> Result<()> {
        if let Some(keep) = self.keep.as_deref_mut() {
            keep.path.pop();
        }
        self.close()
    }
    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        self.subsection = true;
        if self.keep.is_some() {
            let index = self
                .keep
                .as_deref()
                .and_then(|k| k.description)
                .and_then(|parent| {
                    parent
                        .subsections
                        .iter()
                        .position(|s| s.name == description.name)
                })
                .unwrap_or(0);
            self.emit_kept(false, u32::MAX);
            self.emit_kept(true, index as u32);
            if let Some(keep) = self.keep.as_deref_mut() {
                keep.path.push(subsection_step(index));
            }
        }
        Ok(())
    }
    fn leave_subsection(&mut self) -> Result<()> {
        if let Some(keep) = self.keep.as_deref_mut() {
            keep.path.pop();
        }
        Ok(())
    }
    fn locate(&self, error: Error) -> Error {
        error.at_offset(self.out.len() as u64)
    }
}

/// BER bytes of the value(s) one field of `layout` is written as, when the
/// layout alone tells (fixed sizes, no subsections, no presence tests).
pub(crate) fn value_size(layout: &Layout<'_>) -> Option<usize> {
    Some(match *layout {
        Layout::Scalar(w) => 2 + Code::of_wire(w)?.width(),
        Layout::Buffer(n) => tlv_size(n),
        Layout::Unused(n) => tlv_size(unsigned_minimal(n as u64).1),
        Layout::Validate => 0,
        Layout::Struct {
            description,
            pinned_version,
        } => struct_size(
            description,
            pinned_version.unwrap_or(description.version_id),
        )?,
        Layout::Tmp(description) => struct_size(description, description.version_id)?,
        Layout::Array { len, element } => match *element {
            Layout::Scalar(w) => tlv_size(len.checked_mul(Code::of_wire(w)?.width())?),
            Layout::Array { .. } | Layout::Struct { .. } | Layout::Buffer(_) | Layout::Tmp(_) => {
                let one = tlv_size(value_size(element)?);
                tlv_size(len.checked_mul(one)?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// BER bytes of a struct TLV of `d` walked at `version`, when the
/// description alone tells.
pub(crate) fn struct_size(d: &Description<'_>, version: u32) -> Option<usize> {
    if !d.subsections.is_empty() {
        return None;
    }
    let mut content = tlv_size(d.name.len()) + 2 + uint_content_size(u64::from(version));
    for f in d.fields {
        if f.has_exists_predicate {
            return None;
        }
        if f.since > version {
            continue;
        }
        content += tlv_size(tlv_size(f.name.len()) + value_size(&f.layout)?);
    }
    Some(tlv_size(content))
}
