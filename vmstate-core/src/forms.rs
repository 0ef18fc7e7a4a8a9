//! The wire forms that field attributes select: `equal`, `le`, variable
//! arrays and buffers, bitmaps, unused bytes, lists, trees, `tmp` structs,
//! pinned struct versions, auto-allocated pointer arrays, views, inline
//! subsections and validation.
//!
//! `#[derive(VmState)]` calls these; hand-written [`VmState`] impls can too.
//!
//! # Every `VMSTATE_*` macro
//!
//! Every macro of QEMU's `include/migration/vmstate.h` (as of the master
//! branch read for this table, commit `028d4ec4`; macros newer than QEMU
//! 10.0 are noted where known, and one of 10.0 that has gone since is
//! listed too), and how a `#[derive(VmState)]` struct says it. `_V` variants add `since = v`, `_TEST` variants `exists = f` (the
//! test alone decides, as in QEMU); both are left out below. A `T` is any
//! field type with a wire form (an integer, `bool`, `f64`, [`Timer`], a
//! derived struct or enum, an array or box of them).
//!
//! | QEMU macro | derive spelling |
//! |---|---|
//! | `VMSTATE_BOOL`, `_INT8`, `_INT16`, `_INT32`, `_INT64`, `_UINT8`, `_UINT16`, `_UINT32`, `_UINT64` (and `_V`, `_TEST`: `VMSTATE_BOOL_TEST`, `_INT64_TEST`, `_UINT8_TEST`, `_UINT16_TEST`, `_UINT32_TEST`, `_UINT64_TEST`) | a field of type `bool`, `i8` … `u64` |
//! | `VMSTATE_U8_V`, `VMSTATE_U16`, `_U16_V`, `VMSTATE_U32`, `_U32_V`, `VMSTATE_U64`, `_U64_V` (Linux `__u8` … `__u64`) | `u8` … `u64` |
//! | `VMSTATE_SINGLE`, `VMSTATE_SINGLE_TEST`, `VMSTATE_SINGLE_FULL` | a field of a type with that `VMStateInfo`: the built-in ones, or a type of your own with [`Layout::Info`] (see [custom field types](crate::VmStateField#custom-field-types-layoutinfo)) |
//! | `VMSTATE_UINT8_EQUAL`, `_UINT16_EQUAL`, `_UINT16_EQUAL_V`, `_UINT32_EQUAL`, `_UINT32_EQUAL_V`, `_UINT64_EQUAL`, `_UINT64_EQUAL_V`, `VMSTATE_INT32_EQUAL` | `#[vmstate(equal)]` |
//! | `VMSTATE_INT32_POSITIVE_LE` | `#[vmstate(le)]` on `i32` |
//! | `VMSTATE_TIMER`, `_TIMER_V`, `VMSTATE_TIMER_PTR`, `_TIMER_PTR_V` | a [`Timer`] field (a pointer and a value have the same wire form) |
//! | `VMSTATE_TIMER_ARRAY`, `VMSTATE_TIMER_PTR_ARRAY` | `[Timer; N]` (an array of pointers that may be NULL: `[Option<Timer>; N]`) |
//! | `VMSTATE_POINTER`, `VMSTATE_POINTER_TEST` | `Box<T>` |
//! | `VMSTATE_ARRAY` and the typed ones: `VMSTATE_BOOL_ARRAY`, `_UINT8_ARRAY`, `_UINT16_ARRAY`, `_UINT32_ARRAY`, `_UINT64_ARRAY`, `_INT16_ARRAY`, `_INT32_ARRAY`, `_INT64_ARRAY`, `_CPUDOUBLE_ARRAY` (and their `_V`: `VMSTATE_BOOL_ARRAY_V`, `_UINT8_ARRAY_V`, `_UINT16_ARRAY_V`, `_UINT32_ARRAY_V`, `_UINT64_ARRAY_V`, `_INT16_ARRAY_V`, `_INT32_ARRAY_V`, `_INT64_ARRAY_V`, `_CPUDOUBLE_ARRAY_V`) | `[T; N]` (`[f64; N]` for `CPU_DoubleU`) |
//! | `VMSTATE_2DARRAY`, `VMSTATE_UINT8_2DARRAY`, `_UINT16_2DARRAY`, `_UINT32_2DARRAY`, `_UINT64_2DARRAY` (and `_V`: `VMSTATE_UINT8_2DARRAY_V`, `_UINT16_2DARRAY_V`, `_UINT32_2DARRAY_V`, `_UINT64_2DARRAY_V`) | `[[T; N2]; N1]` (row-major, one `num` of N1 × N2, as QEMU) |
//! | `VMSTATE_SUB_ARRAY`, `VMSTATE_BOOL_SUB_ARRAY`, `_UINT8_SUB_ARRAY`, `_UINT16_SUB_ARRAY`, `_UINT32_SUB_ARRAY`, `_UINT64_SUB_ARRAY`, `VMSTATE_STRUCT_SUB_ARRAY` | `#[vmstate(view = f, start = s, len = n)] _x: ()` (a [view](crate#views-one-field-several-wire-fields)) |
//! | `VMSTATE_UINT32(mac_reg[RDT], ..)` and the like: one element as a field | `#[vmstate(view = f, index = RDT)]` (or `index = [A, B, ..]`) |
//! | `VMSTATE_VARRAY`, `_VARRAY_INT32`, `_VARRAY_UINT32`, `VMSTATE_VARRAY_UNSAFE`, `_VARRAY_UINT16_UNSAFE` | `#[vmstate(len = n)]` on `Vec<T>` or `[T; N]`; `n` a field (migrated, or `skip` for a count QEMU does not migrate), a constant or an expression of `self` ([counts](crate#counts-len--n-bits--n)) |
//! | `VMSTATE_VARRAY_ALLOC`, `_VARRAY_INT32_ALLOC`, `_VARRAY_UINT32_ALLOC`, `_VARRAY_UINT16_ALLOC` | `#[vmstate(len = n)]` on `Vec<T>` (a load makes room) |
//! | `VMSTATE_STRUCT`, `VMSTATE_STRUCT_TEST` | a field whose type has `#[derive(VmState)]` (walked at its own version) |
//! | `VMSTATE_VSTRUCT`, `VMSTATE_VSTRUCT_V`, `VMSTATE_VSTRUCT_TEST` | `#[vmstate(struct_version = v)]` |
//! | `VMSTATE_STRUCT_POINTER`, `_STRUCT_POINTER_V`, `_STRUCT_POINTER_TEST`, `_STRUCT_POINTER_TEST_V` | `Box<S>` |
//! | `VMSTATE_STRUCT_ARRAY`, `VMSTATE_STRUCT_ARRAY_TEST` | `[S; N]` |
//! | `VMSTATE_STRUCT_2DARRAY`, `VMSTATE_STRUCT_2DARRAY_TEST` | `[[S; N2]; N1]` |
//! | `VMSTATE_STRUCT_VARRAY`, `_STRUCT_VARRAY_UINT8`, `_STRUCT_VARRAY_INT32`, `_STRUCT_VARRAY_UINT32`, `VMSTATE_STRUCT_VARRAY_POINTER`, `_STRUCT_VARRAY_POINTER_INT32`, `_STRUCT_VARRAY_POINTER_UINT32`, `_STRUCT_VARRAY_POINTER_UINT16`, `VMSTATE_STRUCT_VARRAY_ALLOC` | `#[vmstate(len = n)]` on `Vec<S>` (or `[S; N]`, or either boxed) |
//! | `VMSTATE_STRUCT_VARRAY_POINTER_KNOWN` | `#[vmstate(len = N)]` with a constant `N` on `Vec<S>` |
//! | `VMSTATE_ARRAY_OF_POINTER`, `VMSTATE_ARRAY_OF_POINTER_TO_STRUCT` | `[Option<T>; N]` (`None` is NULL, the `0x30` marker; `[Option<Box<S>>; N]` for large structs) |
//! | `VMSTATE_VARRAY_OF_POINTER`, `VMSTATE_VARRAY_OF_POINTER_UINT32` | `#[vmstate(len = n)]` on `Vec<Option<T>>` |
//! | `VMSTATE_VARRAY_OF_POINTER_TO_STRUCT_ALLOC`, `_UINT8_ALLOC`, `_UINT32_ALLOC` (`VMS_ARRAY_OF_POINTER_AUTO_ALLOC`, newer than QEMU 10.0) | `#[vmstate(auto_alloc)]` on a fixed `[Option<T>; N]`. **Not with a variable count**: `auto_alloc` takes no `len`; no QEMU 10.0 device has such a field |
//! | `VMSTATE_BUFFER`, `_BUFFER_V`, `_BUFFER_TEST` | `#[vmstate(buffer)]` on `[u8; N]` |
//! | `VMSTATE_BUFFER_POINTER_UNSAFE` | `#[vmstate(buffer)]` on `Box<[u8; N]>` |
//! | `VMSTATE_BUFFER_UNSAFE` | `#[vmstate(buffer)]` on `[u8; N]`, or `buffer, len = SIZE` for the first `SIZE` bytes |
//! | `VMSTATE_PARTIAL_BUFFER` | `#[vmstate(buffer, len = SIZE)]` on `[u8; N]` |
//! | `VMSTATE_BUFFER_START_MIDDLE`, `_BUFFER_START_MIDDLE_V` | `#[vmstate(view = f, buffer, start = s)] _x: ()` |
//! | `VMSTATE_STATIC_BUFFER` | `#[vmstate(view = f, buffer, start = s, len = n)]` (`buffer, len = n` when `s` is 0) |
//! | `VMSTATE_BUFFER_UNSAFE_INFO`, `VMSTATE_BUFFER_UNSAFE_INFO_TEST` | a type of your own with [`Layout::Info`] (the bytes under another `VMStateInfo` name, such as `pci config`) |
//! | `VMSTATE_VBUFFER`, `_VBUFFER_UINT32`, `VMSTATE_VBUFFER_ALLOC`, `_VBUFFER_ALLOC_UINT32` | `#[vmstate(buffer, len = n)]` on `Vec<u8>` (or `[u8; N]`, or either boxed) |
//! | `VMSTATE_VBUFFER_UINT64` (newer than QEMU 10.0, whose loader reads the size as an `int32`) | `#[vmstate(buffer, len = n)]` with a `u64` count that is not migrated or an expression; a migrated `u64` count field is refused, since QEMU 10.0 cannot read it |
//! | `VMSTATE_VBUFFER_MULTIPLY` | `#[vmstate(buffer, len = self.n as usize * MULTIPLY)]` (an expression) |
//! | `VMSTATE_BITMAP`, `VMSTATE_BITMAP_TEST` | `#[vmstate(bitmap, bits = n)]` on `Vec<u64>` |
//! | `VMSTATE_UNUSED`, `_UNUSED_V`, `_UNUSED_TEST`, `VMSTATE_UNUSED_BUFFER` | `#[vmstate(unused = N)] _x: ()` |
//! | `VMSTATE_UNUSED_VARRAY`, `VMSTATE_UNUSED_VARRAY_UINT32` | **Not as such**: `unused` takes a constant. `#[vmstate(buffer, len = self.n as usize * SIZE)] _x: Vec<u8>` has the same bytes (kept instead of skipped on load), but its description says `buffer`, not `unused_buffer` |
//! | `VMSTATE_VARRAY_MULTIPLY` (QEMU 10.0; since removed, with `VMS_MULTIPLY_ELEMENTS`) | `#[vmstate(len = self.n as usize * NUM)]` (an expression) |
//! | `VMSTATE_WITH_TMP`, `VMSTATE_WITH_TMP_TEST` | `#[vmstate(tmp = T)] _x: ()` with `T: TmpState<Self>` |
//! | `VMSTATE_VALIDATE` | `#[vmstate(validate = f)] _x: ()` |
//! | `VMSTATE_QTAILQ_V`, `VMSTATE_QLIST_V` | `#[vmstate(qtailq)]`, `#[vmstate(qlist)]` on `Vec<S>`/`VecDeque<S>` (`since = v` is the elements' load version) |
//! | `VMSTATE_GTREE_V`, `VMSTATE_GTREE_DIRECT_KEY_V` | `#[vmstate(gtree)]` on `BTreeMap<K, S>` (`u64` keys are direct keys) |
//! | `VMSTATE_GBYTEARRAY` | a [`GByteArray`] field |
//! | `VMSTATE_FD`, `VMSTATE_FD_V` (`vmstate_info_fd`) | **Not expressible**: the value is a file descriptor passed beside the stream (`SCM_RIGHTS` on a UNIX socket; the stream holds a placeholder byte, or the number in CPR-exec mode). A [`Layout::Info`] type can write the placeholder, but the library has no channel to pass a descriptor |
//! | `VMSTATE_END_OF_LIST` | implicit: a description ends with the struct |
//! | `VMSTATE_INSTANCE_ID_ANY` | not a field: an instance id for `vmstate_register`; a [`registry`](crate::registry) entry gives its instance id |
//!
//! Macros of other headers that the device models of this project use are
//! nested structs: `VMSTATE_PCI_DEVICE` (a `PCIDevice` struct field),
//! `VMSTATE_FIFO8` (a `Fifo8` struct whose `capacity` is a `skip` count),
//! `VMSTATE_USB_DEVICE`, `VMSTATE_HID_POINTER_DEVICE`,
//! `VMSTATE_MEMORY_HOTPLUG`, `VMSTATE_CPU_HOTPLUG` (structs whose device
//! arrays count an unmigrated `dev_count`), `VMSTATE_PCI_HOTPLUG` (three
//! fields), `VMSTATE_TCO_IO_STATE`; see `tests/src/devices`.

use std::collections::{BTreeMap, VecDeque};

use crate::{
    Description, Error, ErrorKind, Layout, PathSegment, Result, Visitor, VmState, VmStateField,
    WireType, visit_struct_at,
};

#[cfg(doc)]
use crate::Timer;

/// Integer types that have an `equal` wire form (`#[vmstate(equal)]`).
#[diagnostic::on_unimplemented(
    message = "`equal` needs u8, u16, u32, u64 or i32, not `{Self}`",
    label = "no `equal` form"
)]
pub trait EqualField {
    /// The wire type (`uint32 equal`, ...).
    const WIRE: WireType;
    /// Walks the value in its `equal` form.
    fn visit_equal<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()>;
}

macro_rules! equal {
    ($t:ty, $wire:ident, $visit:ident) => {
        impl EqualField for $t {
            const WIRE: WireType = WireType::$wire;
            #[inline]
            fn visit_equal<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
                v.$visit(name, self)
            }
        }
    };
}
equal!(u8, Uint8Equal, visit_u8_equal);
equal!(u16, Uint16Equal, visit_u16_equal);
equal!(u32, Uint32Equal, visit_u32_equal);
equal!(u64, Uint64Equal, visit_u64_equal);
equal!(i32, Int32Equal, visit_i32_equal);

/// The `int32 le` form (`#[vmstate(le)]`): only `i32` has it, as in QEMU.
#[diagnostic::on_unimplemented(
    message = "`le` is QEMU's `int32 le`: the field must be i32, not `{Self}`",
    label = "not i32"
)]
pub trait LessOrEqualField {
    /// Walks the value in its `int32 le` form.
    fn visit_le<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()>;
}

impl LessOrEqualField for i32 {
    #[inline]
    fn visit_le<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        v.visit_i32_le(name, self)
    }
}

/// Integer types that can hold the element count of a variable array or the
/// length of a variable buffer: `u8`, `u16`, `u32` and `i32`, the widths QEMU's
/// `VMSTATE_VARRAY_*` macros read (a migrated count field is one of them),
/// and for counts that are not migrated (a `skip` field, an expression) also
/// `u64` and `usize`.
#[diagnostic::on_unimplemented(
    message = "a count must be an integer (u8, u16, u32, i32; u64 or usize if it is not migrated), not `{Self}`",
    label = "not a count type"
)]
pub trait CountField: Copy {
    /// The count as a length; negative counts are refused.
    fn to_len(self, count_field: &'static str) -> Result<usize>;
    /// The count as a number, for messages.
    fn to_u64(self) -> u64;
}

macro_rules! count_unsigned {
    ($($t:ty),*) => {$(
        impl CountField for $t {
            #[inline]
            fn to_len(self, _: &'static str) -> Result<usize> {
                // Lossless on every platform Rust VMMs run on (usize >= 32 bits).
                Ok(self as usize)
            }
            fn to_u64(self) -> u64 {
                u64::from(self)
            }
        }
    )*};
}
count_unsigned!(u8, u16, u32);

/// The count of a `skip` field, a constant or an expression (not read from
/// the wire, so any width): `usize` as is.
impl CountField for usize {
    #[inline]
    fn to_len(self, _: &'static str) -> Result<usize> {
        Ok(self)
    }
    fn to_u64(self) -> u64 {
        self as u64
    }
}

/// A 64-bit count (of a `skip` field or an expression); refused if it does
/// not fit the host's `usize`.
impl CountField for u64 {
    #[inline]
    fn to_len(self, count_field: &'static str) -> Result<usize> {
        usize::try_from(self).map_err(|_| {
            Error::new(ErrorKind::CountTooLarge {
                count_field: count_field.into(),
                count: i128::from(self),
                capacity: usize::MAX,
            })
        })
    }
    fn to_u64(self) -> u64 {
        self
    }
}

impl CountField for i32 {
    /// QEMU's element loop (`for (i = 0; i < n_elems; i++)` with an `int`
    /// count) runs zero times for a negative count: nothing is written or read.
    #[inline]
    fn to_len(self, _: &'static str) -> Result<usize> {
        Ok(usize::try_from(self).unwrap_or(0))
    }
    fn to_u64(self) -> u64 {
        self as u64
    }
}

/// The count of a variable array, buffer or bitmap as a length (what the
/// derive calls where the count is written, `len = ..`, `bits = ..`, so
/// that a count of the wrong type is reported there).
#[inline]
pub fn count_len<C: CountField>(count: C, count_field: &'static str) -> Result<usize> {
    count.to_len(count_field)
}

/// Containers for a variable array (`#[vmstate(len = count_field)]`): a fixed
/// array of which the first `count` elements are migrated (count larger than
/// the array is refused), or a `Vec` that holds exactly `count` elements;
/// either may be boxed.
#[diagnostic::on_unimplemented(
    message = "`len = ..` needs an array `[T; N]` or `Vec<T>` (or either boxed), not `{Self}`",
    label = "not a variable array"
)]
pub trait VarArray {
    /// The element type.
    type Element: VmStateField;
    /// The most elements the container holds, if fixed.
    const CAPACITY: Option<usize>;
    /// Walks the first `count` elements (loading: makes room for them).
    fn visit_counted<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        count: usize,
        count_field: &'static str,
    ) -> Result<()>;
}

fn element_size<T: VmStateField>() -> usize {
    const { crate::field::element_size(&T::LAYOUT) }
}

/// A count larger than a fixed container is refused (QEMU would overrun).
fn check_capacity<'d, V: Visitor<'d>>(
    v: &V,
    count: usize,
    capacity: usize,
    count_field: &'static str,
) -> Result<()> {
    if count > capacity {
        return Err(v.locate(Error::new(ErrorKind::CountTooLarge {
            count_field: count_field.into(),
            count: count as i128,
            capacity,
        })));
    }
    Ok(())
}

/// On save, a `Vec` must hold exactly what its count field says.
fn check_saved_len(len: usize, count: usize, count_field: &'static str) -> Result<()> {
    if len != count {
        return Err(Error::new(ErrorKind::CountMismatch {
            count_field: count_field.into(),
            count: count as u64,
            len,
        }));
    }
    Ok(())
}

impl<T: VmStateField, const N: usize> VarArray for [T; N] {
    type Element = T;
    const CAPACITY: Option<usize> = Some(N);

    fn visit_counted<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        count: usize,
        count_field: &'static str,
    ) -> Result<()> {
        check_capacity(v, count, N, count_field)?;
        v.enter_array(name, count, element_size::<T>())?;
        T::visit_elements(&mut self[..count], v, name)?;
        v.leave_array()
    }
}

impl<A: VarArray + ?Sized> VarArray for Box<A> {
    type Element = A::Element;
    const CAPACITY: Option<usize> = A::CAPACITY;
    #[inline]
    fn visit_counted<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        count: usize,
        count_field: &'static str,
    ) -> Result<()> {
        (**self).visit_counted(v, name, count, count_field)
    }
}

impl<T: VmStateField + Default> VarArray for Vec<T> {
    type Element = T;
    const CAPACITY: Option<usize> = None;

    fn visit_counted<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        count: usize,
        count_field: &'static str,
    ) -> Result<()> {
        if !V::LOADING {
            check_saved_len(self.len(), count, count_field)?;
            v.enter_array(name, count, element_size::<T>())?;
            T::visit_elements(self, v, name)?;
            return v.leave_array();
        }
        v.enter_array(name, count, element_size::<T>())?;
        // Keep the elements that exist (their `equal` fields compare against
        // them), and grow only as elements actually arrive, so that a hostile
        // count cannot make us allocate more than the input holds.
        self.truncate(count);
        // Elements that take no bytes (all their fields absent) are not paid
        // for by the input: bound how many of those a count may create.
        const ZERO_WIRE_ELEMENTS: usize = 1 << 16;
        const ZERO_WIRE_BYTES: usize = 256 << 10;
        let mut unpaid = 0usize;
        let existing = self.len();
        let size = std::mem::size_of::<T>() as u64;
        for i in 0..count {
            if i == self.len() {
                v.allocate(size, size.saturating_mul(i as u64 + 1))
                    .map_err(|e| e.within(PathSegment::Index(i)))?;
                self.push(T::default());
            }
            let before = v.input_position();
            v.enter_element(i)?;
            self[i]
                .visit(v, name)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            v.leave_element()?;
            if i >= existing && before.is_some() && before == v.input_position() {
                unpaid += 1;
                if unpaid > ZERO_WIRE_ELEMENTS
                    || unpaid.saturating_mul(std::mem::size_of::<T>()) > ZERO_WIRE_BYTES
                {
                    return Err(v.locate(Error::new(ErrorKind::UnpaidElements {
                        count_field: count_field.into(),
                        count: count as u64,
                    })));
                }
            }
        }
        v.leave_array()
    }
}

/// A variable array (`#[vmstate(len = count_field)]`).
#[inline]
pub fn var_array<'d, A: VarArray, C: CountField, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    array: &mut A,
    count: C,
    count_field: &'static str,
) -> Result<()> {
    let count = count.to_len(count_field).map_err(|e| v.locate(e))?;
    array.visit_counted(v, name, count, count_field)
}

/// Byte containers for a variable buffer (`#[vmstate(buffer, len = len_field)]`):
/// `Vec<u8>`, `[u8; N]`, and either boxed.
#[diagnostic::on_unimplemented(
    message = "`buffer, len = ..` needs `Vec<u8>` or `[u8; N]` (or either boxed), not `{Self}`",
    label = "not a byte buffer"
)]
pub trait VarBuffer {
    /// The most bytes the container holds, if fixed.
    const CAPACITY: Option<usize>;
    /// Walks the first `len` bytes (loading: makes room for them).
    fn visit_len<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        len: usize,
        len_field: &'static str,
    ) -> Result<()>;
}

impl<const N: usize> VarBuffer for [u8; N] {
    const CAPACITY: Option<usize> = Some(N);
    fn visit_len<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        len: usize,
        len_field: &'static str,
    ) -> Result<()> {
        check_capacity(v, len, N, len_field)?;
        v.visit_buffer(name, &mut self[..len])
    }
}

impl<B: VarBuffer + ?Sized> VarBuffer for Box<B> {
    const CAPACITY: Option<usize> = B::CAPACITY;
    #[inline]
    fn visit_len<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        len: usize,
        len_field: &'static str,
    ) -> Result<()> {
        (**self).visit_len(v, name, len, len_field)
    }
}

impl VarBuffer for Vec<u8> {
    const CAPACITY: Option<usize> = None;
    fn visit_len<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        len: usize,
        len_field: &'static str,
    ) -> Result<()> {
        if !V::LOADING {
            check_saved_len(self.len(), len, len_field)?;
        }
        v.visit_buffer_vec(name, self, len)
    }
}

/// A variable buffer (`#[vmstate(buffer, len = len_field)]`), `VMSTATE_VBUFFER`.
#[inline]
pub fn var_buffer<'d, B: VarBuffer, C: CountField, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    buffer: &mut B,
    len: C,
    len_field: &'static str,
) -> Result<()> {
    let len = len.to_len(len_field).map_err(|e| v.locate(e))?;
    buffer.visit_len(v, name, len, len_field)
}

/// A fixed buffer (`#[vmstate(buffer)]` on `[u8; N]` or `Box<[u8; N]>`):
/// `buffer` on the wire where a plain `[u8; N]` is an array of `uint8` (the
/// bytes are the same).
#[inline]
pub fn buffer<'d, B: FixedBuffer + ?Sized, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    bytes: &mut B,
) -> Result<()> {
    v.visit_buffer(name, bytes.bytes_mut())
}

/// `n` unused bytes (`#[vmstate(unused = n)]`): zeros out, skipped in.
#[inline]
pub fn unused<'d, V: Visitor<'d>>(v: &mut V, name: &'d str, n: usize) -> Result<()> {
    v.visit_unused(name, n)
}

/// A bitmap of `bits` bits (`#[vmstate(bitmap, bits = bits_field)]`): the words
/// of a `Vec<u64>`, be64 each, `ceil(bits / 64)` of them.
pub fn bitmap<'d, C: CountField, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    words: &mut Vec<u64>,
    bits: C,
    bits_field: &'static str,
) -> Result<()> {
    let bits = bits.to_len(bits_field).map_err(|e| v.locate(e))?;
    let n = bits.div_ceil(64);
    if V::LOADING {
        words.truncate(n);
    } else if words.len() != n {
        return Err(Error::msg(format!(
            "the bitmap has {} word(s) but `{bits_field}` = {bits} bits needs {n}",
            words.len()
        )));
    }
    v.enter_array(name, n, 8)?;
    for i in 0..n {
        if i == words.len() {
            v.allocate(8, 8 * (i as u64 + 1))
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            words.push(0);
        }
        v.enter_element(i)?;
        v.visit_bitmap_word(name, &mut words[i])
            .map_err(|e| e.within(PathSegment::Index(i)))?;
        v.leave_element()?;
    }
    v.leave_array()
}

/// A nested struct walked at a pinned version (`#[vmstate(struct_version = N)]`
/// on a struct field, QEMU's `VMSTATE_VSTRUCT`): saved and loaded at `N`
/// instead of its own version, which must be in its
/// `minimum_version..=version` (checked at compile time); vmdesc shows it
/// as a `vstruct`.
#[inline]
pub fn pinned<'d, T: VmState, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    value: &mut T,
    version_id: u32,
) -> Result<()> {
    visit_struct_at(value, v, name, version_id)
}

/// An array of pointers with a marker before every element
/// (`#[vmstate(auto_alloc)]`, `VMS_ARRAY_OF_POINTER_AUTO_ALLOC`): `0x30` for
/// `None`, `0x31` then the element for `Some`.
pub fn auto_alloc<'d, T: VmStateField + Default, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    slots: &mut [Option<T>],
) -> Result<()> {
    v.enter_array(name, slots.len(), 0)?;
    for (i, slot) in slots.iter_mut().enumerate() {
        v.enter_element(i)?;
        let mut present = slot.is_some();
        let step = v.visit_ptr_marker(name, &mut present, true).and_then(|()| {
            if V::LOADING && present != slot.is_some() {
                *slot = if present { Some(T::default()) } else { None };
            }
            match slot {
                Some(inner) => inner.visit(v, name),
                None => Ok(()),
            }
        });
        step.map_err(|e| e.within(PathSegment::Index(i)))?;
        v.leave_element()?;
    }
    v.leave_array()
}

/// Containers for `qtailq`/`qlist` fields (`#[vmstate(qtailq)]`, `#[vmstate(qlist)]`).
#[diagnostic::on_unimplemented(
    message = "`qtailq`/`qlist` needs `Vec<T>` or `VecDeque<T>`, not `{Self}`",
    label = "not a list"
)]
pub trait ListContainer {
    /// The element type.
    type Element: VmStateField + Default;
    /// Number of elements.
    fn len(&self) -> usize;
    /// True if empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Removes every element.
    fn clear(&mut self);
    /// Appends an element and returns it.
    fn push_back(&mut self, element: Self::Element) -> &mut Self::Element;
    /// Walks every element, in order.
    fn for_each_mut(
        &mut self,
        f: impl FnMut(usize, &mut Self::Element) -> Result<()>,
    ) -> Result<()>;
}

impl<T: VmStateField + Default> ListContainer for Vec<T> {
    type Element = T;
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn clear(&mut self) {
        Vec::clear(self)
    }
    fn push_back(&mut self, element: T) -> &mut T {
        self.push(element);
        let last = self.len() - 1;
        &mut self[last]
    }
    fn for_each_mut(&mut self, mut f: impl FnMut(usize, &mut T) -> Result<()>) -> Result<()> {
        self.iter_mut().enumerate().try_for_each(|(i, e)| f(i, e))
    }
}

impl<T: VmStateField + Default> ListContainer for VecDeque<T> {
    type Element = T;
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn clear(&mut self) {
        VecDeque::clear(self)
    }
    fn push_back(&mut self, element: T) -> &mut T {
        VecDeque::push_back(self, element);
        let last = self.len() - 1;
        &mut self[last]
    }
    fn for_each_mut(&mut self, mut f: impl FnMut(usize, &mut T) -> Result<()>) -> Result<()> {
        self.iter_mut().enumerate().try_for_each(|(i, e)| f(i, e))
    }
}

/// The version elements of type `T` are loaded at: the explicit one, else
/// their own current version.
fn element_version<T: VmStateField>(explicit: Option<u32>) -> u32 {
    match (explicit, T::LAYOUT.description()) {
        (Some(v), _) => v,
        (None, Some(d)) => d.version_id,
        (None, None) => 0,
    }
}

fn check_element_version<'d, V: Visitor<'d>>(
    v: &V,
    element: Option<&'static Description>,
    version: u32,
) -> Result<()> {
    let Some(d) = element else { return Ok(()) };
    let direction = if version > d.version_id {
        "new"
    } else if version < d.minimum_version_id {
        "old"
    } else {
        return Ok(());
    };
    Err(v.locate(Error::new(ErrorKind::ElementVersion {
        name: d.name.to_owned().into(),
        direction,
        version,
        minimum: d.minimum_version_id,
        local: d.version_id,
    })))
}

/// A `qtailq` or `qlist` (`#[vmstate(qtailq)]`/`#[vmstate(qlist)]` on a `Vec`
/// or `VecDeque`): `01` + element per element, then `00`.
///
/// Elements are saved at their own version and loaded at `load_version`
/// (QEMU loads them at the field's version; the derive passes `since` when
/// given, else the element's own version). A load replaces the contents.
pub fn list<'d, L: ListContainer, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    list: &mut L,
    load_version: Option<u32>,
) -> Result<()> {
    let element = <L::Element as VmStateField>::LAYOUT.description();
    let load_version = element_version::<L::Element>(load_version);
    // Both directions make the same calls: per element its `01` marker, then
    // the element between enter/leave_element; the final `00` inside the array.
    if V::LOADING {
        check_element_version(v, element, load_version)?;
        list.clear();
        v.enter_array(name, 0, 0)?;
        let mut i = 0;
        loop {
            let mut more = false;
            v.visit_list_marker(name, &mut more)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            if !more {
                break;
            }
            v.enter_element(i)?;
            let size = std::mem::size_of::<L::Element>() as u64;
            v.allocate(size, size.saturating_mul(i as u64 + 1))
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            list.push_back(L::Element::default())
                .visit_at_version(v, name, load_version)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            v.leave_element()?;
            i += 1;
        }
        v.leave_array()
    } else {
        v.enter_array(name, list.len(), 0)?;
        list.for_each_mut(|i, e| {
            let mut more = true;
            v.visit_list_marker(name, &mut more)
                .and_then(|()| v.enter_element(i))
                .and_then(|()| e.visit(v, name))
                .and_then(|()| v.leave_element())
                .map_err(|err| err.within(PathSegment::Index(i)))
        })?;
        let mut more = false;
        v.visit_list_marker(name, &mut more)?;
        v.leave_array()
    }
}

/// A `gtree` (`#[vmstate(gtree)]` on a `BTreeMap`): be32 node count, then
/// `01` key value per node in key order, then `00`.
///
/// A direct key (QEMU's `VMSTATE_GTREE_DIRECT_KEY_V`) is a `u64` key; a
/// struct key is walked as its description. Loading replaces the contents and
/// refuses a node count that disagrees with the nodes that follow.
pub fn tree<'d, K, T, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    map: &mut BTreeMap<K, T>,
    load_version: Option<u32>,
) -> Result<()>
where
    K: VmStateField + Ord + Clone + Default,
    T: VmStateField + Default,
{
    // Both directions make the same calls: the count, then per node its `01`
    // marker and the node between enter/leave_element, the final `00` inside
    // the array.
    if V::LOADING {
        let key_version = element_version::<K>(load_version);
        let value_version = element_version::<T>(load_version);
        check_element_version(v, K::LAYOUT.description(), key_version)?;
        check_element_version(v, T::LAYOUT.description(), value_version)?;
        let mut nnodes = 0u32;
        v.visit_u32(name, &mut nnodes)?;
        map.clear();
        v.enter_array(name, 0, 0)?;
        let mut found: u64 = 0;
        loop {
            let mut more = false;
            v.visit_list_marker(name, &mut more)?;
            if !more {
                break;
            }
            found += 1;
            if found > u64::from(nnodes) {
                return Err(v.locate(Error::new(ErrorKind::TreeCount {
                    expected: nnodes,
                    found,
                })));
            }
            let i = (found - 1) as usize;
            // A B-tree node holds a key and a value; each is allocated on
            // its own, so the container bound is per entry.
            let entry = (std::mem::size_of::<K>() + std::mem::size_of::<T>()) as u64;
            v.allocate(entry, entry)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            let mut key = K::default();
            let mut value = T::default();
            v.enter_element(i)
                .and_then(|()| key.visit_at_version(v, name, key_version))
                .and_then(|()| value.visit_at_version(v, name, value_version))
                .and_then(|()| v.leave_element())
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            map.insert(key, value);
        }
        v.leave_array()?;
        if found != u64::from(nnodes) {
            return Err(v.locate(Error::new(ErrorKind::TreeCount {
                expected: nnodes,
                found,
            })));
        }
        Ok(())
    } else {
        let mut nnodes = u32::try_from(map.len()).map_err(|_| {
            Error::msg(format!(
                "gtree of {} nodes: more than a be32 can count",
                map.len()
            ))
        })?;
        v.visit_u32(name, &mut nnodes)?;
        v.enter_array(name, map.len(), 0)?;
        for (i, (key, value)) in map.iter_mut().enumerate() {
            let mut more = true;
            let mut key = key.clone();
            v.visit_list_marker(name, &mut more)
                .and_then(|()| v.enter_element(i))
                .and_then(|()| key.visit(v, name))
                .and_then(|()| value.visit(v, name))
                .and_then(|()| v.leave_element())
                .map_err(|e| e.within(PathSegment::Index(i)))?;
        }
        let mut more = false;
        v.visit_list_marker(name, &mut more)?;
        v.leave_array()
    }
}

/// Computed wire fields (`#[vmstate(tmp = T)]`, QEMU's `VMSTATE_WITH_TMP`):
/// a temporary `T` is built from the parent, walked, and on load applied back.
#[diagnostic::on_unimplemented(
    message = "`tmp = {Self}` needs `impl TmpState<{Parent}> for {Self}`",
    label = "missing TmpState impl"
)]
pub trait TmpState<Parent>: VmState + Sized {
    /// Builds the temporary from the parent (saving, and as the starting
    /// point of a load).
    fn from_parent(parent: &Parent) -> Result<Self>;
    /// Applies a loaded temporary to the parent.
    fn into_parent(self, parent: &mut Parent) -> Result<()>;
}

/// Walks a `tmp` struct for `parent`; loads happen at `load_version`, or at
/// the temporary's own version when `None`.
pub fn tmp<'d, P, T: TmpState<P>, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    parent: &mut P,
    load_version: Option<u32>,
) -> Result<()> {
    let load_version = load_version.unwrap_or(T::DESCRIPTION.version_id);
    let mut temp = T::from_parent(parent).map_err(|e| v.locate(e.in_hook("tmp from_parent")))?;
    if V::LOADING {
        visit_struct_at(&mut temp, v, name, load_version)?;
        temp.into_parent(parent)
            .map_err(|e| v.locate(e.in_hook("tmp into_parent")))
    } else {
        visit_struct_at(&mut temp, v, name, T::DESCRIPTION.version_id)
    }
}

/// A load-time check that writes nothing (`#[vmstate(validate = f)]`,
/// `VMSTATE_VALIDATE`): loading fails when `ok` is false.
#[inline]
pub fn validate<'d, V: Visitor<'d>>(
    v: &mut V,
    description: &'static str,
    name: &'d str,
    ok: bool,
) -> Result<()> {
    if V::LOADING && !ok {
        return Err(v.locate(Error::new(ErrorKind::Validation(format!(
            "{description}/{name}"
        )))));
    }
    Ok(())
}

/// Names the types inside a `gtree` container, for the schema.
#[diagnostic::on_unimplemented(
    message = "`gtree` needs `BTreeMap<K, V>`, not `{Self}`",
    label = "not a tree"
)]
pub trait TreeContainer {
    /// The key type.
    type Key: VmStateField;
    /// The value type.
    type Value: VmStateField;
}

impl<K: VmStateField, T: VmStateField> TreeContainer for BTreeMap<K, T> {
    type Key = K;
    type Value = T;
}

/// Names the pointee and length of an `auto_alloc` array, for the schema.
#[diagnostic::on_unimplemented(
    message = "`auto_alloc` needs `[Option<T>; N]`, not `{Self}`",
    label = "not an array of options"
)]
pub trait PointerArray {
    /// The pointee type.
    type Pointee: VmStateField;
    /// Number of slots.
    const LEN: usize;
    /// The slots.
    fn slots(&mut self) -> &mut [Option<Self::Pointee>];
}

impl<T: VmStateField, const N: usize> PointerArray for [Option<T>; N] {
    type Pointee = T;
    const LEN: usize = N;
    fn slots(&mut self) -> &mut [Option<T>] {
        self
    }
}

/// True if `name` starts with `prefix`: QEMU's rule for subsection names.
pub const fn name_has_prefix(name: &str, prefix: &str) -> bool {
    let (n, p) = (name.as_bytes(), prefix.as_bytes());
    if n.len() < p.len() + 1 {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if n[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// True if the two names are equal (a `const` string comparison).
pub const fn names_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Fixed byte buffers (`#[vmstate(buffer)]`): `[u8; N]`, and boxed ones
/// (`Box<[u8; N]>`, the form of a large buffer QEMU reaches through a
/// pointer, `VMS_BUFFER | VMS_POINTER`; the wire is the same).
#[diagnostic::on_unimplemented(
    message = "`buffer` needs a byte array `[u8; N]` or `Box<[u8; N]>`, not `{Self}`",
    label = "not a byte array"
)]
pub trait FixedBuffer {
    /// Number of bytes.
    const LEN: usize;
    /// The bytes.
    fn bytes_mut(&mut self) -> &mut [u8];
}

impl<const N: usize> FixedBuffer for [u8; N] {
    const LEN: usize = N;
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl<B: FixedBuffer + ?Sized> FixedBuffer for Box<B> {
    const LEN: usize = B::LEN;
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        (**self).bytes_mut()
    }
}

/// Fields a view can show part of (`#[vmstate(view = field, ...)]`): arrays
/// `[T; N]`, `Vec<T>`, and either boxed.
#[diagnostic::on_unimplemented(
    message = "`view` shows part of an array: `{Self}` is not `[T; N]` or `Vec<T>` (or either boxed)",
    label = "not an array"
)]
pub trait ArrayView {
    /// The element type.
    type Element: VmStateField;
    /// The number of elements, if fixed.
    const LEN: Option<usize>;
    /// The elements.
    fn elements(&mut self) -> &mut [Self::Element];
}

impl<T: VmStateField, const N: usize> ArrayView for [T; N] {
    type Element = T;
    const LEN: Option<usize> = Some(N);
    #[inline]
    fn elements(&mut self) -> &mut [T] {
        self
    }
}

impl<T: VmStateField> ArrayView for Vec<T> {
    type Element = T;
    const LEN: Option<usize> = None;
    #[inline]
    fn elements(&mut self) -> &mut [T] {
        self
    }
}

impl<A: ArrayView + ?Sized> ArrayView for Box<A> {
    type Element = A::Element;
    const LEN: Option<usize> = A::LEN;
    #[inline]
    fn elements(&mut self) -> &mut [A::Element] {
        (**self).elements()
    }
}

/// The length of a view `start..start + len` (or `start..` to the end of a
/// fixed array when `len` is `None`), for its description; 0 where it cannot
/// be known (the derive refuses those at compile time).
pub const fn view_len(array_len: Option<usize>, start: usize, len: Option<usize>) -> usize {
    match (len, array_len) {
        (Some(n), _) => n,
        (None, Some(total)) if total >= start => total - start,
        _ => 0,
    }
}

/// True if the view `start..start + len` fits an array of `array_len`
/// elements (always for a `Vec`, checked when walked).
pub const fn view_fits(array_len: Option<usize>, start: usize, len: Option<usize>) -> bool {
    match (array_len, len) {
        (Some(total), Some(n)) => match start.checked_add(n) {
            Some(end) => end <= total,
            None => false,
        },
        (Some(total), None) => start <= total,
        (None, Some(_)) => true,
        (None, None) => false,
    }
}

fn view_out_of_range<'d, V: Visitor<'d>>(
    v: &V,
    start: usize,
    len: usize,
    available: usize,
) -> Error {
    v.locate(Error::msg(format!(
        "the view of elements {start}..{} is outside the {available} element(s) of the array",
        start.saturating_add(len)
    )))
}

/// One element of an array as a wire field of its own
/// (`#[vmstate(view = mac_reg, index = RDT)]`, QEMU's
/// `VMSTATE_UINT32(mac_reg[RDT], E1000State)`).
#[inline]
pub fn view_element<'d, A: ArrayView + ?Sized, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    array: &mut A,
    index: usize,
) -> Result<()> {
    let elements = array.elements();
    let available = elements.len();
    match elements.get_mut(index) {
        Some(element) => element.visit(v, name),
        None => Err(view_out_of_range(v, index, 1, available)),
    }
}

/// A run of elements of an array, `start..start + len`, as an array field
/// (`#[vmstate(view = mac_reg, start = RA, len = 32)]`, QEMU's
/// `VMSTATE_UINT32_SUB_ARRAY`).
#[inline]
pub fn view_range<'d, A: ArrayView + ?Sized, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    array: &mut A,
    start: usize,
    len: Option<usize>,
) -> Result<()> {
    let elements = array.elements();
    let available = elements.len();
    let len = len.unwrap_or(available.saturating_sub(start));
    let Some(run) = start
        .checked_add(len)
        .and_then(|end| elements.get_mut(start..end))
    else {
        return Err(view_out_of_range(v, start, len, available));
    };
    v.enter_array(name, len, element_size::<A::Element>())?;
    A::Element::visit_elements(run, v, name)?;
    v.leave_array()
}

/// A run of the bytes of a byte array as a `buffer`,
/// `start..start + len` (`#[vmstate(view = buf, buffer, start = 4)]`,
/// QEMU's `VMSTATE_BUFFER_START_MIDDLE`, `VMSTATE_PARTIAL_BUFFER`,
/// `VMSTATE_STATIC_BUFFER`).
#[inline]
pub fn view_bytes<'d, A: ArrayView<Element = u8> + ?Sized, V: Visitor<'d>>(
    v: &mut V,
    name: &'d str,
    array: &mut A,
    start: usize,
    len: Option<usize>,
) -> Result<()> {
    let bytes = array.elements();
    let available = bytes.len();
    let len = len.unwrap_or(available.saturating_sub(start));
    let Some(run) = start
        .checked_add(len)
        .and_then(|end| bytes.get_mut(start..end))
    else {
        return Err(view_out_of_range(v, start, len, available));
    };
    v.visit_buffer(name, run)
}

/// A hook of an inline subsection (`#[vmstate(subsection = "dev/sub", ...)]`
/// on a `()` field), run on the struct it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `pre_save`.
    PreSave,
    /// `post_save`.
    PostSave,
    /// `pre_load`.
    PreLoad,
    /// `post_load`, with the version loaded.
    PostLoad(u32),
}

/// Subsection `index` of `parent` when it is an inline subsection: a
/// description of its own over the parent's fields (QEMU's subsections
/// share the parent's `opaque`). The derive walks it with
/// [`visit_struct_at`].
pub struct Inline<'a, P> {
    parent: &'a mut P,
    index: usize,
}

impl<'a, P: VmState> Inline<'a, P> {
    /// Subsection `index` of `parent`.
    #[inline]
    pub fn new(parent: &'a mut P, index: usize) -> Self {
        Inline { parent, index }
    }
}

impl<'d, P: VmState> crate::Walk<'d> for Inline<'_, P> {
    #[inline]
    fn description(&self) -> &'d Description<'d> {
        P::DESCRIPTION.subsections[self.index]
    }
    #[inline]
    fn walk_fields<V: Visitor<'d>>(&mut self, v: &mut V, version_id: u32) -> Result<()> {
        self.parent.__inline_fields(self.index, v, version_id)
    }
    fn walk_subsection_needed(&self, _: usize) -> bool {
        false
    }
    fn walk_subsection<V: Visitor<'d>>(&mut self, _: &mut V, index: usize, _: u32) -> Result<()> {
        Err(Error::msg(format!(
            "{} has no subsection number {index}",
            P::DESCRIPTION.subsections[self.index].name
        )))
    }
    fn walk_pre_save(&mut self) -> Result<()> {
        self.parent.__inline_hook(self.index, Hook::PreSave)
    }
    fn walk_post_save(&mut self) {
        let _ = self.parent.__inline_hook(self.index, Hook::PostSave);
    }
    fn walk_pre_load(&mut self) -> Result<()> {
        self.parent.__inline_hook(self.index, Hook::PreLoad)
    }
    fn walk_post_load(&mut self, version_id: u32) -> Result<()> {
        self.parent
            .__inline_hook(self.index, Hook::PostLoad(version_id))
    }
}

/// A GLib byte array (`VMSTATE_GBYTEARRAY`, QEMU's `GByteArray`
/// `VMStateInfo`): a be32 length, then that many bytes. A load replaces the
/// contents, allocating as the input delivers the bytes (within the
/// [`Limits`](crate::Limits)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GByteArray(pub Vec<u8>);

impl VmStateField for GByteArray {
    const LAYOUT: Layout<'static> = Layout::Info {
        name: "GByteArray",
        size: None,
    };

    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        let mut len = if V::LOADING {
            0
        } else {
            u32::try_from(self.0.len()).map_err(|_| {
                Error::msg(format!(
                    "a GByteArray of {} bytes: more than a be32 length can say",
                    self.0.len()
                ))
            })?
        };
        v.visit_u32(name, &mut len)?;
        v.visit_buffer_vec(name, &mut self.0, len as usize)
    }
}
