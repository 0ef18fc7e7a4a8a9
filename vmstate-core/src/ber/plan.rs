//! What the encoding of a description's structs and fields always is,
//! computed once: the bytes that open each field (identifier, length when
//! the layout fixes it, the name's UTF8String), the name of the struct,
//! the sizes the description fixes.
//!
//! Both visitors use the same bytes: the output visitor writes a field's
//! head as one copy, the input visitor recognizes the next field of the
//! input, when it is the one expected in that place, by one comparison
//! with them.
//!
//! Plans of the descriptions of `VmState` types (which are `'static` and
//! never freed) are built once per process and shared
//! ([`Plans::shared`]). Plans of run-time descriptions (a
//! [`DescriptionArena`](crate::dynamic::DescriptionArena), freed and
//! reused) live as long as the visitor that built them ([`Plans::local`]):
//! an address is an identity only for as long as the description lives.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, Mutex};

use super::output::{struct_size, value_size};
use super::tlv::{Code, put_header, put_integer, put_len, put_str, tags, tlv_size};

/// Heads up to this many bytes are copied as one block.
const HEAD_BLOCK: usize = 32;
use crate::field::walked_as_slice;
use crate::{Description, Layout};

/// One field of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPlan {
    /// The head's bytes in [`Plan::bytes`].
    head_at: usize,
    head_len: usize,
    /// BER bytes of the field's values, when the layout fixes them: the
    /// head then holds the field's exact length.
    pub value: Option<usize>,
    /// Bytes of the head's length field.
    pub len_bytes: usize,
    /// Bytes of the whole field TLV, when [`value`](Self::value) is known.
    pub total: Option<usize>,
    /// For a scalar field: the wire type of its value, whose identifier
    /// and length end the head (the value's bytes follow).
    pub scalar: Option<Code>,
    /// Value bytes of each element, for an array of a fixed element layout.
    pub element: Option<usize>,
}

impl FieldPlan {
    /// Bytes of the head.
    #[inline]
    pub fn head_len(&self) -> usize {
        self.head_len
    }
}

/// The precomputed encoding of one description.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The fields' heads, then the struct's name as a UTF8String TLV.
    bytes: Box<[u8]>,
    name_at: usize,
    name_end: usize,
    /// The end of the INTEGER of the description's own version, after the
    /// name.
    version_end: usize,
    /// Fields in the description's order.
    pub fields: Box<[FieldPlan]>,
    /// The description's own version, and the bytes of the whole struct
    /// TLV at that version when the description fixes them.
    pub own_version: u32,
    pub own_size: Option<usize>,
    /// Content bytes of a struct TLV at that version that the description
    /// fixes (name, version, the fields of fixed size always present): the
    /// least it holds, for reserving its length when it has no fixed size.
    pub own_least: usize,
    /// The encoding of the fields that are fixed blocks, for runs handed
    /// over at once.
    pub packed: Packed,
}

/// The place of one field in [`Packed`] (and, as the entry after the last
/// field, the ends).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    /// Where its encoding starts in the template.
    pub tpl: u32,
    /// Where its wire bytes start in a run from the first field.
    pub wire: u32,
    /// Fields before it that are not in the template.
    pub breaks: u32,
    /// Fields before it in the template whose value is not one word (more
    /// than 8 bytes, or none), and those that are a `bool`.
    pub long: u32,
    pub bools: u32,
    /// Fields before it in the template whose value is not one byte.
    pub wide: u32,
    /// Input bytes the per-field load counts for the fields before it
    /// ([`Visitor::input_position`](crate::Visitor::input_position)).
    pub consumed: u32,
    /// Where its value's bytes (its hole) start in the template, and how
    /// many there are (its wire bytes).
    pub hole: u32,
    pub len: u32,
    /// For a value of at most 8 bytes, the mask of its bytes in a
    /// little-endian word (moved as one word); 0 otherwise.
    pub word: u64,
    /// The value is a `bool` (a load takes `00` or `01` only).
    pub bool: bool,
    /// Where the per-field load leaves its last TLV read, from the field's
    /// start: the field for a scalar, its value's TLV otherwise.
    pub last_read: u32,
}

/// The fields whose encoding is a fixed block with the value's wire bytes
/// in it, concatenated in order: the same head bytes the per-field path
/// writes, then for an array of scalars walked as one slice its packed-run
/// identifier and length, for a buffer its OCTET STRING identifier and
/// length, then the value's wire bytes (a hole, zero here). A run of such
/// fields is saved as one copy of its part of the template with the values
/// copied into the holes, and recognized on load by one masked comparison.
///
/// In the template: scalars of the plain wire types (integers, `bool`,
/// `f64`, `timer`), arrays of them walked as one slice
/// ([`walked_as_slice`]), buffers; always present (no `since`, no
/// `exists`). Other fields are breaks.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    pub template: Box<[u8]>,
    /// `ff` where the template holds encoding bytes, `00` in the holes.
    pub mask: Box<[u8]>,
    /// One per field, then the ends.
    pub slots: Box<[Slot]>,
}

/// Runs of up to this many wire bytes, less 8, move their values as whole
/// words through a buffer with room after the last (the derive hands over
/// at most 512).
const PAD: usize = 528;

/// The room for runs of up to 56 wire bytes (most small devices).
const SMALL: usize = 64;

/// A run of fields of a [`Packed`] template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'p> {
    pub template: &'p [u8],
    pub mask: &'p [u8],
    /// The slots of the fields, then the one after the last.
    pub slots: &'p [Slot],
}

impl Run<'_> {
    /// The first field's slot.
    #[inline]
    pub fn first(&self) -> &Slot {
        &self.slots[0]
    }

    /// The slot after the last field.
    #[inline]
    pub fn end(&self) -> &Slot {
        &self.slots[self.slots.len() - 1]
    }

    /// The fields' slots.
    #[inline]
    pub fn fields(&self) -> &[Slot] {
        &self.slots[..self.slots.len() - 1]
    }

    /// [`write`](Self::write) when every value is one word, for `N` bytes
    /// of room: each value merged into its hole as a little-endian word.
    #[inline(always)]
    fn merge_words<const N: usize>(&self, dst: &mut [u8], bytes: &[u8]) {
        let (tpl, wire) = (self.first().tpl, self.first().wire);
        let mut src = [0u8; N];
        if let Some(s) = src.get_mut(..bytes.len()) {
            s.copy_from_slice(bytes);
        }
        for slot in self.fields() {
            let h = (slot.hole - tpl) as usize;
            let w = (slot.wire - wire) as usize;
            let word = dst.get_mut(h..h + 8).and_then(|d| d.first_chunk_mut::<8>());
            let value = src.get(w..w + 8).and_then(|s| s.first_chunk::<8>());
            if let (Some(d), Some(s)) = (word, value) {
                // The value's bytes, then the template's after them.
                let m = slot.word;
                let merged = (u64::from_le_bytes(*d) & !m) | (u64::from_le_bytes(*s) & m);
                *d = merged.to_le_bytes();
            }
        }
    }

    /// [`read`](Self::read) when every value is one word and `input` has a
    /// word at each hole, for `N` bytes of room: each value taken as a
    /// word, in order (the bytes after a value are the next one's place).
    #[inline(always)]
    fn take_words<const N: usize>(&self, input: &[u8], bytes: &mut [u8]) {
        let (tpl, wire) = (self.first().tpl, self.first().wire);
        let mut dst = [0u8; N];
        for slot in self.fields() {
            let h = (slot.hole - tpl) as usize;
            let w = (slot.wire - wire) as usize;
            if let (Some(s), Some(d)) = (input.get(h..h + 8), dst.get_mut(w..w + 8)) {
                d.copy_from_slice(s);
            }
        }
        if let Some(d) = dst.get(..bytes.len()) {
            bytes.copy_from_slice(d);
        }
    }

    /// True when every value is one word (at most 8 bytes).
    #[inline]
    fn words(&self) -> bool {
        self.first().long == self.end().long
    }

    /// True when every value is one byte (`u8`, `i8`, `bool`; most small
    /// devices' registers): the `i`-th value is byte `i` of the wire bytes.
    #[inline]
    fn single_bytes(&self) -> bool {
        self.first().wide == self.end().wide
    }

    /// Writes the run's encoding with the values `bytes` (their wire bytes,
    /// one after the other) in the holes.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, bytes: &[u8]) {
        let (tpl, wire) = (self.first().tpl, self.first().wire);
        let n = self.template.len();
        let start = out.len();
        out.extend_from_slice(self.template);
        if self.single_bytes() {
            let dst = &mut out[start..];
            for (slot, &b) in self.fields().iter().zip(bytes) {
                if let Some(d) = dst.get_mut((slot.hole - tpl) as usize) {
                    *d = b;
                }
            }
            return;
        }
        // Room to merge the last scalar into its hole as one 8-byte word.
        out.extend_from_slice(&[0; 8]);
        let dst = &mut out[start..];
        if self.words() {
            // Every value one word: read from a copy with room after the
            // last.
            if bytes.len() + 8 <= SMALL {
                self.merge_words::<SMALL>(dst, bytes);
                out.truncate(start + n);
                return;
            }
            if bytes.len() + 8 <= PAD {
                self.merge_words::<PAD>(dst, bytes);
                out.truncate(start + n);
                return;
            }
        }
        for slot in self.fields() {
            let h = (slot.hole - tpl) as usize;
            let w = (slot.wire - wire) as usize;
            if slot.word != 0 {
                let word = dst.get_mut(h..h + 8).and_then(|d| d.first_chunk_mut::<8>());
                let value = bytes.get(w..w + 8).and_then(|s| s.first_chunk::<8>());
                if let (Some(d), Some(s)) = (word, value) {
                    // The value's bytes, then the template's after them.
                    let m = slot.word;
                    let merged = (u64::from_le_bytes(*d) & !m) | (u64::from_le_bytes(*s) & m);
                    *d = merged.to_le_bytes();
                    continue;
                }
            }
            let len = slot.len as usize;
            if let (Some(d), Some(s)) = (dst.get_mut(h..h + len), bytes.get(w..w + len)) {
                d.copy_from_slice(s);
            }
        }
        out.truncate(start + n);
    }

    /// When `input` starts with the run's encoding (whatever it holds in
    /// the holes, each `bool` `00` or `01`): its values into `bytes`, and
    /// true. False otherwise (`bytes` then holds nothing of use).
    #[inline]
    pub fn read(&self, input: &[u8], bytes: &mut [u8]) -> bool {
        let Some(src) = input.get(..self.template.len()) else {
            return false;
        };
        if !self.matches(src) {
            return false;
        }
        let (tpl, wire) = (self.first().tpl, self.first().wire);
        if self.single_bytes() {
            for (slot, b) in self.fields().iter().zip(bytes.iter_mut()) {
                match src.get((slot.hole - tpl) as usize) {
                    Some(&v) if !slot.bool || v <= 1 => *b = v,
                    _ => return false,
                }
            }
            return true;
        }
        if self.words() && bytes.len() + 8 <= PAD && input.len() >= src.len() + 8 {
            // Every value one word, and the input has a word at each hole.
            if self.end().bools != self.first().bools
                && self.fields().iter().any(|slot| {
                    slot.bool && src.get((slot.hole - tpl) as usize).is_some_and(|&b| b > 1)
                })
            {
                return false;
            }
            if bytes.len() + 8 <= SMALL {
                self.take_words::<SMALL>(input, bytes);
            } else {
                self.take_words::<PAD>(input, bytes);
            }
            return true;
        }
        for slot in self.fields() {
            let h = (slot.hole - tpl) as usize;
            let w = (slot.wire - wire) as usize;
            if slot.bool && src.get(h).is_some_and(|&b| b > 1) {
                return false;
            }
            if slot.word != 0 {
                // In order: the bytes written after the value are the next
                // values' place, written next.
                let word = input.get(h..h + 8).and_then(|s| s.first_chunk::<8>());
                let place = bytes
                    .get_mut(w..w + 8)
                    .and_then(|d| d.first_chunk_mut::<8>());
                if let (Some(s), Some(d)) = (word, place) {
                    *d = *s;
                    continue;
                }
            }
            let len = slot.len as usize;
            if let (Some(d), Some(s)) = (bytes.get_mut(w..w + len), src.get(h..h + len)) {
                d.copy_from_slice(s);
            }
        }
        true
    }

    /// True when `input` (as long as the template) holds the template's
    /// encoding bytes, whatever it holds in the holes.
    #[inline]
    pub fn matches(&self, input: &[u8]) -> bool {
        if input.len() != self.template.len() {
            return false;
        }
        let word = |c: &[u8]| c.first_chunk::<16>().map_or(0, |w| u128::from_le_bytes(*w));
        let (a, t, m) = (
            input.chunks_exact(16),
            self.template.chunks_exact(16),
            self.mask.chunks_exact(16),
        );
        let (ar, tr, mr) = (a.remainder(), t.remainder(), m.remainder());
        let mut diff = 0u128;
        for ((a, t), m) in a.zip(t).zip(m) {
            diff |= (word(a) ^ word(t)) & word(m);
        }
        let mut rest = 0u8;
        for ((a, t), m) in ar.iter().zip(tr).zip(mr) {
            rest |= (a ^ t) & m;
        }
        diff == 0 && rest == 0
    }
}

impl Packed {
    fn new(d: &Description<'_>, plan_bytes: &[u8], fields: &[FieldPlan]) -> Packed {
        let mut template = Vec::new();
        let mut mask = Vec::new();
        let mut slots = Vec::with_capacity(fields.len() + 1);
        let (mut wire, mut breaks, mut consumed) = (0u32, 0u32, 0u32);
        let (mut long, mut bools, mut wide) = (0u32, 0u32, 0u32);
        for (f, fp) in d.fields.iter().zip(fields) {
            let tpl = template.len() as u32;
            let mut slot = Slot {
                tpl,
                wire,
                breaks,
                long,
                bools,
                wide,
                consumed,
                ..Slot::default()
            };
            // The value's TLV header after the head, the value's bytes, the
            // input the per-field load counts.
            let value = match f.layout {
                _ if f.since != 0 || f.has_exists_predicate => None,
                Layout::Scalar(w) => match Code::of_wire(w) {
                    Some(
                        code @ (Code::Bool
                        | Code::I8
                        | Code::I16
                        | Code::I32
                        | Code::I64
                        | Code::U8
                        | Code::U16
                        | Code::U32
                        | Code::U64
                        | Code::F64
                        | Code::Timer),
                    ) if fp.scalar == Some(code) => {
                        slot.bool = code == Code::Bool;
                        Some((None, code.width(), code.width()))
                    }
                    _ => None,
                },
                Layout::Array { len, element } => match *element {
                    Layout::Scalar(w) if walked_as_slice(w) => Code::of_wire(w).and_then(|code| {
                        let n = len.checked_mul(code.width())?;
                        Some((Some(tags::packed(code as u8)), n, tlv_size(n) + n))
                    }),
                    _ => None,
                },
                Layout::Buffer(n) => Some((Some(tags::OCTET_STRING), n, tlv_size(n))),
                _ => None,
            };
            let head = &plan_bytes[fp.head_at..fp.head_at + fp.head_len];
            match value {
                Some((tag, n, counted)) if fp.value.is_some() && u32::try_from(n).is_ok() => {
                    template.extend_from_slice(head);
                    if let Some(tag) = tag {
                        put_header(&mut template, tag, n);
                    }
                    slot.last_read = if tag.is_some() { head.len() as u32 } else { 0 };
                    mask.resize(template.len(), 0xff);
                    slot.hole = template.len() as u32;
                    slot.len = n as u32;
                    if (1..=8).contains(&n) {
                        slot.word = u64::MAX >> (64 - 8 * n);
                    } else {
                        long += 1;
                    }
                    bools += u32::from(slot.bool);
                    wide += u32::from(n != 1);
                    template.resize(template.len() + n, 0);
                    mask.resize(template.len(), 0);
                    // The per-field path writes exactly this (its plan's size).
                    debug_assert_eq!(Some(template.len() - tpl as usize), fp.total);
                    wire = wire.saturating_add(n as u32);
                    consumed = consumed.saturating_add(counted as u32);
                }
                _ => breaks += 1,
            }
            slots.push(slot);
        }
        slots.push(Slot {
            tpl: template.len() as u32,
            wire,
            breaks,
            long,
            bools,
            wide,
            consumed,
            ..Slot::default()
        });
        if template.len() > (u32::MAX / 4) as usize {
            // Offsets and the input counted (at most twice the template)
            // would not fit 32 bits: no runs.
            return Packed::default();
        }
        Packed {
            template: template.into_boxed_slice(),
            mask: mask.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
        }
    }

    /// Fields `fields` of the template, when they all are in it and their
    /// wire bytes are `wire` bytes.
    #[inline]
    pub fn run(&self, fields: std::ops::Range<usize>, wire: usize) -> Option<Run<'_>> {
        let slots = self.slots.get(fields.start..=fields.end)?;
        let (first, end) = (slots.first()?, slots.last()?);
        if first.breaks != end.breaks || (end.wire - first.wire) as usize != wire {
            return None;
        }
        let (a, b) = (first.tpl as usize, end.tpl as usize);
        Some(Run {
            template: self.template.get(a..b)?,
            mask: self.mask.get(a..b)?,
            slots,
        })
    }
}

impl Plan {
    /// Builds the plan of `d`.
    pub fn new(d: &Description<'_>) -> Plan {
        let mut bytes = Vec::new();
        let mut fields = Vec::with_capacity(d.fields.len());
        for f in d.fields {
            let value = value_size(&f.layout);
            let element = match f.layout {
                Layout::Array { element, .. } => value_size(element),
                _ => None,
            };
            let start = bytes.len();
            bytes.push(tags::FIELD);
            match value {
                // The exact length: the head is the field's whole header.
                Some(v) => put_len(&mut bytes, tlv_size(f.name.len()) + v),
                // One byte reserved, written when the field closes.
                None => bytes.push(0),
            }
            let len_bytes = bytes.len() - start - 1;
            put_str(&mut bytes, f.name);
            let scalar = match f.layout {
                Layout::Scalar(w) => Code::of_wire(w).inspect(|&code| {
                    bytes.extend_from_slice(&[tags::scalar(code as u8), code.width() as u8]);
                }),
                _ => None,
            };
            fields.push(FieldPlan {
                head_at: start,
                head_len: bytes.len() - start,
                value,
                len_bytes,
                total: value.map(|v| 1 + len_bytes + tlv_size(f.name.len()) + v),
                scalar,
                element,
            });
        }
        let packed = Packed::new(d, &bytes, &fields);
        let fields = fields.into_boxed_slice();
        let name_at = bytes.len();
        put_str(&mut bytes, d.name);
        let name_end = bytes.len();
        put_integer(&mut bytes, u64::from(d.version_id));
        let version_end = bytes.len();
        let own_least = version_end - name_at
            + d.fields
                .iter()
                .zip(&fields)
                .filter(|(f, _)| f.since <= d.version_id && !f.has_exists_predicate)
                .filter_map(|(_, p)| p.total)
                .sum::<usize>();
        // Room to copy any head as a fixed-size block.
        bytes.resize(bytes.len() + HEAD_BLOCK, 0);
        Plan {
            bytes: bytes.into_boxed_slice(),
            name_at,
            name_end,
            version_end,
            fields,
            own_version: d.version_id,
            own_size: struct_size(d, d.version_id),
            own_least,
            packed,
        }
    }

    /// The bytes that open field `f`: its identifier, its length (or one
    /// byte reserved for it, when [`FieldPlan::value`] is `None`), its
    /// name, and for a scalar the identifier and length of its value.
    #[inline]
    pub fn head(&self, f: &FieldPlan) -> &[u8] {
        &self.bytes[f.head_at..f.head_at + f.head_len]
    }

    /// Appends the head of `f` to `out`.
    #[inline]
    pub fn put_head(&self, f: &FieldPlan, out: &mut Vec<u8>) {
        let start = out.len();
        match self.bytes[f.head_at..].first_chunk::<HEAD_BLOCK>() {
            // One fixed-size copy, then the length is set.
            Some(block) if f.head_len <= HEAD_BLOCK => {
                out.extend_from_slice(block);
                out.truncate(start + f.head_len);
            }
            _ => out.extend_from_slice(self.head(f)),
        }
    }

    /// True when the input at `at` starts with the head of `f`.
    #[inline]
    pub fn head_at(&self, f: &FieldPlan, input: &[u8], at: usize) -> bool {
        self.bytes_at(f.head_at, f.head_len, input, at)
    }

    /// True when the input at `at` starts with [`opening`](Self::opening):
    /// a struct of this description at its own version, opened exactly as
    /// the output visitor opens it.
    #[inline]
    pub fn opening_at(&self, input: &[u8], at: usize) -> bool {
        self.bytes_at(self.name_at, self.version_end - self.name_at, input, at)
    }

    /// True when the input at `at` starts with the `n` plan bytes at
    /// `from`: one masked comparison of 16 or 32 bytes when the input has
    /// them (the plan has room after its last bytes).
    #[inline]
    fn bytes_at(&self, from: usize, n: usize, input: &[u8], at: usize) -> bool {
        let ours = &self.bytes[from..];
        if n <= 16 {
            // One masked comparison of 16 bytes (the plan has room).
            if let (Some(a), Some(b)) = (
                input.get(at..).and_then(|s| s.first_chunk::<16>()),
                ours.first_chunk::<16>(),
            ) {
                let mask = if n == 16 {
                    u128::MAX
                } else {
                    (1u128 << (8 * n)) - 1
                };
                return (u128::from_le_bytes(*a) ^ u128::from_le_bytes(*b)) & mask == 0;
            }
        } else if n <= 32 {
            if let (Some(a), Some(b)) = (
                input.get(at..).and_then(|s| s.first_chunk::<32>()),
                ours.first_chunk::<32>(),
            ) {
                let (a0, a1) = a.split_at(16);
                let (b0, b1) = b.split_at(16);
                let word = |s: &[u8]| s.first_chunk::<16>().map_or(0, |c| u128::from_le_bytes(*c));
                let mask = if n == 32 {
                    u128::MAX
                } else {
                    (1u128 << (8 * (n - 16))) - 1
                };
                return word(a0) == word(b0) && (word(a1) ^ word(b1)) & mask == 0;
            }
        }
        input.get(at..at + n) == ours.get(..n)
    }

    /// The struct's name as a UTF8String TLV.
    #[inline]
    pub fn name_tlv(&self) -> &[u8] {
        &self.bytes[self.name_at..self.name_end]
    }

    /// What a struct of this description at its own version starts with:
    /// its name as a UTF8String TLV and its version as an INTEGER.
    #[inline]
    pub fn opening(&self) -> &[u8] {
        &self.bytes[self.name_at..self.version_end]
    }

    /// Appends [`opening`](Self::opening) to `out`.
    #[inline]
    pub fn put_opening(&self, out: &mut Vec<u8>) {
        let n = self.version_end - self.name_at;
        let start = out.len();
        match self.bytes[self.name_at..].first_chunk::<HEAD_BLOCK>() {
            Some(block) if n <= HEAD_BLOCK => {
                out.extend_from_slice(block);
                out.truncate(start + n);
            }
            _ => out.extend_from_slice(self.opening()),
        }
    }
}

/// A hasher for addresses (already unique, so a multiply spreads them).
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_right(29);
    }
}

type AddressMap<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

/// The shared plans of `'static` descriptions: built once, never freed
/// (one per description of the program's types).
static SHARED: LazyLock<Mutex<AddressMap<&'static Plan>>> =
    LazyLock::new(|| Mutex::new(AddressMap::default()));

/// Places in [`RECENT`].
const RECENT_PLACES: usize = 16;

thread_local! {
    /// This thread's view of [`SHARED`], read without a lock.
    static FRONT: RefCell<AddressMap<&'static Plan>> =
        const { RefCell::new(HashMap::with_hasher(BuildHasherDefault::new())) };
    /// The plans this thread looked up last, one place per address hash:
    /// a walk's few descriptions are found without hashing.
    static RECENT: [Cell<(usize, Option<&'static Plan>)>; RECENT_PLACES] =
        const { [const { Cell::new((0, None)) }; RECENT_PLACES] };
}

/// Which plan: a shared one, or one a visitor built for itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlanRef {
    Shared(&'static Plan),
    Local(u32),
}

/// Where a visitor gets its plans.
#[derive(Debug)]
pub(crate) struct Plans {
    shared: bool,
    local: Vec<Plan>,
    by_address: AddressMap<u32>,
    /// The last plan looked up (arrays of structs ask for the same one).
    last: Option<(usize, PlanRef)>,
}

impl Plans {
    /// Plans for a walk whose descriptions are all `'static` (the walk of a
    /// `VmState` type): shared by every walk of the process.
    pub fn shared() -> Plans {
        Plans {
            shared: true,
            local: Vec::new(),
            by_address: AddressMap::default(),
            last: None,
        }
    }

    /// Plans for a walk of descriptions that may be freed after it (run-time
    /// descriptions): kept by this visitor only.
    pub fn local() -> Plans {
        Plans {
            shared: false,
            ..Plans::shared()
        }
    }

    /// The plan of `d`.
    #[inline]
    pub fn get(&mut self, d: &Description<'_>) -> PlanRef {
        let address = std::ptr::from_ref(d) as usize;
        if let Some((a, r)) = self.last {
            if a == address {
                return r;
            }
        }
        let r = if self.shared {
            PlanRef::Shared(shared_plan(address, d))
        } else if let Some(&i) = self.by_address.get(&address) {
            PlanRef::Local(i)
        } else {
            let i = self.local.len() as u32;
            self.local.push(Plan::new(d));
            self.by_address.insert(address, i);
            PlanRef::Local(i)
        };
        self.last = Some((address, r));
        r
    }

    /// The plan `r` refers to.
    #[inline]
    pub fn plan(&self, r: PlanRef) -> &Plan {
        match r {
            PlanRef::Shared(p) => p,
            PlanRef::Local(i) => &self.local[i as usize],
        }
    }
}

#[inline]
fn shared_plan(address: usize, d: &Description<'_>) -> &'static Plan {
    let place = (address >> 3 ^ address >> 9) % RECENT_PLACES;
    let recent = RECENT.with(|r| match r[place].get() {
        (a, Some(p)) if a == address => Some(p),
        _ => None,
    });
    if let Some(p) = recent {
        return p;
    }
    let p = shared_plan_front(address, d);
    RECENT.with(|r| r[place].set((address, Some(p))));
    p
}

#[inline(never)]
fn shared_plan_front(address: usize, d: &Description<'_>) -> &'static Plan {
    let front = FRONT.with(|f| f.borrow().get(&address).copied());
    if let Some(p) = front {
        return p;
    }
    shared_plan_slow(address, d)
}

#[cold]
fn shared_plan_slow(address: usize, d: &Description<'_>) -> &'static Plan {
    let p = {
        let mut shared = match SHARED.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock left the map as it
            // was (inserts are whole): go on with it.
            Err(poisoned) => poisoned.into_inner(),
        };
        *shared
            .entry(address)
            .or_insert_with(|| Box::leak(Box::new(Plan::new(d))))
    };
    FRONT.with(|f| f.borrow_mut().insert(address, p));
    p
}
