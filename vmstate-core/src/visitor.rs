//! The [`Visitor`]: one walk over a value, many uses.
//!
//! A `#[derive(VmState)]` type walks its fields in wire order and hands each
//! one to a visitor, with its static name, as a `&mut` place. A saving visitor
//! reads the place and writes bytes; a loading visitor reads bytes and writes
//! the place; a pretty-printer or a token recorder only looks. The walk carries
//! structure too (structs, arrays, elements, subsections), so visitors that
//! care about names and nesting get them for free, and the binary visitors
//! ignore them at no cost.

use crate::{Description, Result, Timer};

/// A subsection announced in the stream, found by [`Visitor::next_subsection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingSubsection {
    /// Index into the parent's [`Description::subsections`].
    pub index: usize,
    /// The version to load it at (QEMU keeps only the low byte of the be32).
    pub version_id: u32,
}

macro_rules! slice_default {
    ($(#[$doc:meta])* $name:ident, $scalar:ident, $t:ty) => {
        $(#[$doc])*
        fn $name(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            for (i, item) in items.iter_mut().enumerate() {
                self.enter_element(i)?;
                self.$scalar(name, item)
                    .map_err(|e| e.within(crate::PathSegment::Index(i)))?;
                self.leave_element()?;
            }
            Ok(())
        }
    };
}

/// Something that walks VMState values: a wire writer or reader, a
/// pretty-printer, a recorder of calls.
///
/// Every scalar method gets the field's static name and a mutable place:
/// saving visitors read it, loading visitors ([`Visitor::LOADING`]) fill it.
/// Elements of arrays are visited with the array's name, between
/// [`enter_element`](Visitor::enter_element) and
/// [`leave_element`](Visitor::leave_element).
pub trait Visitor<'d> {
    /// True for visitors that fill values from input (the load direction).
    /// Walks use it to run the load-side hooks and checks.
    const LOADING: bool;

    /// True for visitors that write a stream, or the description of one
    /// while writing it ([`OutputVisitor`](crate::OutputVisitor),
    /// [`VmdescVisitor`](crate::vmdesc::VmdescVisitor)): for them the walk
    /// runs `pre_save` and `post_save`, as QEMU's save does.
    ///
    /// Visitors that only look at a value (printers, recorders, analyzers)
    /// keep the default, `false`: the walk runs no save hook for them, so
    /// looking at a device never changes it, and it shows the fields as the
    /// struct holds them (a field that `pre_save` computes shows the value
    /// its last save computed). A visitor of your own that writes a stream
    /// sets it to `true`. Loading visitors ignore it.
    const RUNS_SAVE_HOOKS: bool = false;

    /// True for visitors that take a run of consecutive fixed-layout fields
    /// (integers, `bool`, `f64`, [`Timer`] and arrays of them; see
    /// [`VmStateField::PACKED_SIZE`](crate::VmStateField::PACKED_SIZE)) as
    /// one block of their QEMU wire bytes, [`put_packed`](Visitor::put_packed)
    /// or [`take_packed`](Visitor::take_packed), instead of one call per
    /// field: a derived walk hands such runs over, and a small device saves
    /// and loads as fast as hand-written code. The bytes are exactly those
    /// the per-field calls would move.
    ///
    /// The QEMUFile visitors ([`OutputVisitor`](crate::OutputVisitor),
    /// [`InputVisitor`](crate::InputVisitor)) move the block as it is. The
    /// BER visitors ([`ber`](crate::ber)) take it too: a run of such fields
    /// is a fixed block of BER (the fields' identifiers, lengths and names
    /// with the values' wire bytes in fixed places), written from a
    /// template and, when the input has the fields in the destination's
    /// order with its types, read by one comparison; they decline whatever
    /// else (another order, a missing or unknown field), and the walk then
    /// visits the run field by field with all the rules of the format.
    ///
    /// Visitors that look at fields (printers, JSON, vmdesc, tracing) keep
    /// the default, `false`, and see every field.
    const PACKED_RUNS: bool = false;

    /// Saving, when [`PACKED_RUNS`](Visitor::PACKED_RUNS): writes the wire
    /// bytes of a run of fields, in order, and returns `true`; or declines
    /// with `false`, writing nothing, and the walk visits the run field by
    /// field (a [tracing wrapper](crate::trace::Traced) declines while
    /// events are wanted). `fields` are the run's indices in the current
    /// struct's [`Description::fields`] (fields `fields.start` to
    /// `fields.end - 1`, between the [`leave_field`](Visitor::leave_field)
    /// of the field before and the [`enter_field`](Visitor::enter_field) of
    /// the one after), `bytes` their wire bytes one after the other. The
    /// default declines.
    fn put_packed(&mut self, fields: std::ops::Range<usize>, bytes: &[u8]) -> Result<bool> {
        let _ = (fields, bytes);
        Ok(false)
    }

    /// Loading, when [`PACKED_RUNS`](Visitor::PACKED_RUNS): fills `bytes`
    /// with the wire bytes of the run of fields `fields` (as in
    /// [`put_packed`](Visitor::put_packed)) and returns `true`, or returns
    /// `false` and consumes nothing when the input has fewer bytes (the
    /// walk then reads field by field, so that the error names the field
    /// where the input ends), when it does not hold the run as the visitor
    /// expects it, or when the visitor declines; `bytes` then holds nothing
    /// of use. The default declines.
    fn take_packed(&mut self, fields: std::ops::Range<usize>, bytes: &mut [u8]) -> Result<bool> {
        let _ = (fields, bytes);
        Ok(false)
    }

    /// `bool`.
    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()>;
    /// `int8`.
    fn visit_i8(&mut self, name: &'d str, v: &mut i8) -> Result<()>;
    /// `int16`.
    fn visit_i16(&mut self, name: &'d str, v: &mut i16) -> Result<()>;
    /// `int32`.
    fn visit_i32(&mut self, name: &'d str, v: &mut i32) -> Result<()>;
    /// `int64`.
    fn visit_i64(&mut self, name: &'d str, v: &mut i64) -> Result<()>;
    /// `uint8`.
    fn visit_u8(&mut self, name: &'d str, v: &mut u8) -> Result<()>;
    /// `uint16`.
    fn visit_u16(&mut self, name: &'d str, v: &mut u16) -> Result<()>;
    /// `uint32`.
    fn visit_u32(&mut self, name: &'d str, v: &mut u32) -> Result<()>;
    /// `uint64`.
    fn visit_u64(&mut self, name: &'d str, v: &mut u64) -> Result<()>;
    /// `CPU_Double_U`: the double's bits as be64.
    fn visit_f64(&mut self, name: &'d str, v: &mut f64) -> Result<()>;
    /// `timer`: be64 expiry, -1 when not armed.
    fn visit_timer(&mut self, name: &'d str, v: &mut Timer) -> Result<()>;

    /// `uint8 equal`: a loading visitor fails unless the stream holds `*v`.
    fn visit_u8_equal(&mut self, name: &'d str, v: &mut u8) -> Result<()>;
    /// `uint16 equal`.
    fn visit_u16_equal(&mut self, name: &'d str, v: &mut u16) -> Result<()>;
    /// `uint32 equal`.
    fn visit_u32_equal(&mut self, name: &'d str, v: &mut u32) -> Result<()>;
    /// `int64 equal` (QEMU's name for the unsigned 64-bit equal type).
    fn visit_u64_equal(&mut self, name: &'d str, v: &mut u64) -> Result<()>;
    /// `int32 equal`.
    fn visit_i32_equal(&mut self, name: &'d str, v: &mut i32) -> Result<()>;
    /// `int32 le`: a loading visitor accepts `0..=*v` and stores it.
    fn visit_i32_le(&mut self, name: &'d str, v: &mut i32) -> Result<()>;

    /// `buffer`: raw bytes, as many as the slice holds.
    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()>;
    /// `buffer` of a length known only at run time, into a `Vec` (`VMSTATE_VBUFFER`).
    /// Saving visitors get `bytes.len() == len` and by default see the bytes
    /// as a [`visit_buffer`](Visitor::visit_buffer); loading visitors must
    /// replace the contents with `len` bytes, allocating only as the input
    /// delivers them.
    fn visit_buffer_vec(&mut self, name: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        let n = len.min(bytes.len());
        self.visit_buffer(name, &mut bytes[..n])
    }
    /// A value known only by its type name and size: a device-specific
    /// `VMStateInfo` of QEMU's (`pci config`, `virtio`, `msix state`) or any
    /// type a run-time description cannot look inside. `len` raw bytes, like
    /// [`visit_buffer_vec`](Visitor::visit_buffer_vec) (which it calls by
    /// default); printers show `type_name`.
    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let _ = type_name;
        self.visit_buffer_vec(name, bytes, len)
    }
    /// `unused_buffer`: `len` zero bytes written, `len` bytes skipped on load.
    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()>;
    /// One be64 word of a `bitmap`.
    fn visit_bitmap_word(&mut self, name: &'d str, word: &mut u64) -> Result<()>;
    /// A pointer marker: `0x30` for an absent element, `0x31` for a present one.
    /// Loading visitors refuse `0x31` unless `valid_allowed`, and any other byte.
    fn visit_ptr_marker(
        &mut self,
        name: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()>;
    /// A `qtailq`/`qlist`/`gtree` element marker: `01` before each element,
    /// `00` after the last. Loading visitors read any nonzero byte as `true`.
    fn visit_list_marker(&mut self, name: &'d str, more: &mut bool) -> Result<()>;

    slice_default!(
        /// A run of `uint8` array elements; binary visitors copy them at once.
        visit_u8_slice, visit_u8, u8
    );
    slice_default!(
        /// A run of `uint16` array elements.
        visit_u16_slice, visit_u16, u16
    );
    slice_default!(
        /// A run of `uint32` array elements.
        visit_u32_slice, visit_u32, u32
    );
    slice_default!(
        /// A run of `uint64` array elements.
        visit_u64_slice, visit_u64, u64
    );
    slice_default!(
        /// A run of `int32` array elements.
        visit_i32_slice, visit_i32, i32
    );

    /// Field `index` of the current struct's [`Description::fields`] begins
    /// (only fields present at the walked version are visited).
    fn enter_field(&mut self, index: usize) -> Result<()> {
        let _ = index;
        Ok(())
    }
    /// Right after [`enter_field`](Visitor::enter_field): true when the
    /// input does not have this field, so that the walk leaves the field's
    /// value as it is and goes straight to
    /// [`leave_field`](Visitor::leave_field). Only loading visitors of
    /// formats that find fields by name (BER) say so.
    #[inline]
    fn field_absent(&self) -> bool {
        false
    }
    /// The field that began last ends.
    fn leave_field(&mut self) -> Result<()> {
        Ok(())
    }
    /// A struct begins: `name` is the field name (the description's own name
    /// at the root), `version_id` the version it is walked at.
    fn enter_struct(
        &mut self,
        name: &'d str,
        description: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        let _ = (name, description, version_id);
        Ok(())
    }
    /// The struct that began last ends (after its subsections).
    fn leave_struct(&mut self) -> Result<()> {
        Ok(())
    }
    /// An array of `len` elements of `element_size` wire bytes each (0 when
    /// not fixed) begins.
    fn enter_array(&mut self, name: &'d str, len: usize, element_size: usize) -> Result<()> {
        let _ = (name, len, element_size);
        Ok(())
    }
    /// The array that began last ends.
    fn leave_array(&mut self) -> Result<()> {
        Ok(())
    }
    /// The elements about to be walked are pointers that may be NULL
    /// (`[Option<T>; N]`, QEMU's `VMS_ARRAY_OF_POINTER`): `nulls` yields, for
    /// each of them in order, whether it is NULL. The walk of `Option<T>`
    /// calls it after [`enter_array`](Visitor::enter_array), before the
    /// first element, and for a lone `Option<T>` field before its value.
    ///
    /// Only describing visitors need it: QEMU's vmdesc describes each run of
    /// NULL and of non-NULL elements as an entry of its own, which takes
    /// looking ahead. Binary visitors ignore it.
    fn pointer_nulls(
        &mut self,
        name: &'d str,
        nulls: &mut dyn Iterator<Item = bool>,
    ) -> Result<()> {
        let _ = (name, nulls);
        Ok(())
    }
    /// Element `index` of the current array begins.
    fn enter_element(&mut self, index: usize) -> Result<()> {
        let _ = index;
        Ok(())
    }
    /// The current element ends.
    fn leave_element(&mut self) -> Result<()> {
        Ok(())
    }
    /// Saving: a needed subsection begins; binary visitors write its header
    /// (`05`, name, be32 version). Its struct walk follows.
    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        let _ = description;
        Ok(())
    }
    /// The subsection that began last ends.
    fn leave_subsection(&mut self) -> Result<()> {
        Ok(())
    }
    /// Loading: the next subsection of `parent` in the input, if the input
    /// announces one, with its header consumed; `None` when the next bytes
    /// are not a subsection of `parent` (nothing is consumed then).
    /// Non-loading visitors return `None`.
    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let _ = parent;
        Ok(None)
    }
    /// Loading: the walk is about to create `added` bytes of memory because
    /// the input says so (a container grows by an element, a buffer takes a
    /// claimed length), in a container that will then take `container`
    /// bytes. Loading visitors hold this to their [`Limits`](crate::Limits)
    /// ([`section_memory`](crate::Limits::section_memory) for all a load
    /// creates, [`max_allocation`](crate::Limits::max_allocation) for one
    /// container); other visitors accept.
    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        let _ = (added, container);
        Ok(())
    }
    /// Loading visitors: the input position, so that walks can tell whether
    /// an element consumed any input. `None` for other visitors.
    fn input_position(&self) -> Option<u64> {
        None
    }
    /// The byte offset in the wire stream that this visitor reads or writes
    /// next, if it has one (the QEMUFile reader and writer do; by default
    /// the [`input_position`](Visitor::input_position)): what the
    /// [tracing wrapper](crate::trace::Traced) reports for each value.
    fn wire_offset(&self) -> Option<u64> {
        self.input_position()
    }
    /// Wraps an error from a hook or a check with the visitor's position.
    fn locate(&self, error: crate::Error) -> crate::Error {
        error
    }
}
