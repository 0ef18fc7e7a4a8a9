//! [`VmStateField`]: types that can be fields of a VMState struct.

#[cfg(doc)]
use crate::Description;
use crate::{Layout, PathSegment, Result, Timer, Visitor, WireType};

/// A type that can be a field of a `#[derive(VmState)]` struct: it knows its
/// wire [`Layout`] and how to walk a value of itself.
///
/// Implemented for the integers, `bool`, `f64` (`CPU_Double_U`), [`Timer`],
/// arrays `[T; N]` (also nested, for 2-D arrays), `Box<T>`, `Option<T>`
/// (an element of an array of pointers, NULL when `None`), and every type with
/// `#[derive(VmState)]` (a nested struct) or a `#[derive(VmState)]` enum with
/// an integer `repr`.
///
/// # Custom field types (`Layout::Info`)
///
/// A device-specific QEMU `VMStateInfo` (`"pci config"`, `"pci irq state"`,
/// ...) is a type with its own impl whose [`LAYOUT`](Self::LAYOUT) is
/// [`Layout::Info`]: `name` is QEMU's type name, `size` the wire bytes if
/// they are always the same (it feeds [`Description::fixed_size`], the
/// `-dump-vmstate` size and the load fast path: never `Some` for a walk of
/// varying length). Every visitor — binary, vmdesc, pretty-printer,
/// analyzer, token recorder — works with such a type if its
/// [`visit`](Self::visit) keeps to this contract:
///
/// * It walks exactly the field's wire bytes, in order, with the value
///   calls: the scalars ([`Visitor::visit_u8`] ... [`Visitor::visit_u64`],
///   `visit_bool`, the `*_equal` and `visit_i32_le` checks, `visit_f64`,
///   `visit_timer`), their slices (`visit_u8_slice` ...), and
///   [`Visitor::visit_buffer`], [`Visitor::visit_buffer_vec`] or
///   [`Visitor::visit_opaque`] for raw bytes. Runs of elements may be put in
///   [`Visitor::enter_array`] / [`Visitor::leave_array`] with
///   [`Visitor::enter_element`] / [`Visitor::leave_element`] around each
///   element that is not part of a slice call, always balanced.
/// * It makes no structural calls of its own: no `enter_field`,
///   `enter_struct`, `enter_subsection`, `next_subsection` or
///   `pointer_nulls`. The derive announces the field; QEMU describes a
///   `VMStateInfo` as one vmdesc entry (`"type"` = `name`, `"size"` = the
///   bytes written), and a nested description would be written into that
///   entry. A value with inner structure is a `#[derive(VmState)]` struct.
/// * Loading ([`Visitor::LOADING`]): the same calls fill the value; make
///   room first (resize a `Vec` to its wire length). A check that fails
///   returns an error, wrapped with [`Visitor::locate`] so that it carries
///   the input offset; the field's path is added by the caller. Leave
///   [`LOAD_INFALLIBLE`](Self::LOAD_INFALLIBLE) `false` unless every byte
///   pattern is a valid value.
///
/// The stream-described side ([`dynamic::DynamicState`](crate::dynamic::DynamicState))
/// knows such a field only by its name and size and walks it as
/// `visit_opaque(name, type_name, bytes, len)`.
///
/// ```
/// use vmstate_core::{Error, Layout, Result, Visitor, VmState, VmStateField};
///
/// /// Four interrupt pin levels, be32 each, 0 or 1 (like QEMU's `pci irq state`).
/// #[derive(Clone, Default)]
/// struct Levels([u32; 4]);
///
/// impl VmStateField for Levels {
///     const LAYOUT: Layout<'static> = Layout::Info { name: "irq levels", size: Some(16) };
///
///     fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
///         v.enter_array(name, 4, 4)?;
///         v.visit_u32_slice(name, &mut self.0)?;
///         v.leave_array()?;
///         if V::LOADING && self.0.iter().any(|&level| level > 1) {
///             return Err(v.locate(Error::msg("a pin level is 0 or 1")));
///         }
///         Ok(())
///     }
/// }
///
/// #[derive(VmState, Clone, Default)]
/// #[vmstate(name = "dev", version = 1)]
/// struct Dev {
///     irq: Levels,
/// }
///
/// let mut dev = Dev { irq: Levels([0, 1, 0, 0]) };
/// let mut bytes = Vec::new();
/// let vmdesc = vmstate_core::vmdesc::save_with_vmdesc(&mut dev, &mut bytes)?;
/// assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(
///     vmdesc,
///     r#""vmsd_name": "dev", "version": 1, "fields": [{"name": "irq", "type": "irq levels", "size": 16}]"#
/// );
/// bytes[3] = 2;
/// assert!(vmstate_core::load_from_slice(&mut dev, &bytes, 1).is_err());
/// # Ok::<(), vmstate_core::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a VmState field",
    label = "no wire form",
    note = "add #[derive(VmState)] to the type, or choose a form: #[vmstate(len = n)], qtailq, gtree, buffer, skip ...; a struct that takes a context (#[vmstate(context = C)]) needs it passed: #[vmstate(context = expr)]"
)]
pub trait VmStateField {
    /// What a value of this type looks like on the wire.
    const LAYOUT: Layout<'static>;

    /// True when loading [`Layout::fixed_size`] bytes into a value of this
    /// type cannot fail (any bytes are a valid value; no checks, no hooks).
    /// Loads of such types skip their transactional copy.
    const LOAD_INFALLIBLE: bool = false;

    /// The wire bytes of a value whose QEMU encoding is a fixed block that
    /// any bytes decode into (integers, `bool`, `f64`, [`Timer`], arrays of
    /// them), or 0 for every other type. The derive moves runs of such
    /// fields as one block ([`Visitor::PACKED_RUNS`]) with
    /// [`pack`](Self::pack) and [`unpack`](Self::unpack). Leave it 0 for
    /// custom types.
    const PACKED_SIZE: usize = 0;

    /// Writes the value's wire bytes into `out` (`PACKED_SIZE` bytes), as
    /// [`visit`](Self::visit) with an output visitor would. Called only
    /// when `PACKED_SIZE` is not 0.
    #[inline]
    fn pack(&self, out: &mut [u8]) {
        let _ = out;
    }

    /// Sets the value from its wire bytes (`PACKED_SIZE` bytes), as
    /// [`visit`](Self::visit) with an input visitor would. Called only
    /// when `PACKED_SIZE` is not 0.
    #[inline]
    fn unpack(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }

    /// Walks one value.
    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()>;

    /// Walks a value that QEMU loads at an explicit version (elements of
    /// `qtailq`, `qlist` and `gtree` fields, `tmp` structs). Only structs care.
    fn visit_at_version<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        version_id: u32,
    ) -> Result<()> {
        let _ = version_id;
        self.visit(v, name)
    }

    /// Walks the elements of an array of this type. Integer types override
    /// this to hand the whole run to the visitor at once.
    fn visit_elements<'d, V: Visitor<'d>>(
        items: &mut [Self],
        v: &mut V,
        name: &'d str,
    ) -> Result<()>
    where
        Self: Sized,
    {
        for (i, item) in items.iter_mut().enumerate() {
            v.enter_element(i)?;
            item.visit(v, name)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            v.leave_element()?;
        }
        Ok(())
    }
}

macro_rules! scalar {
    ($t:ty, $wire:ident, $visit:ident, $size:expr, |$pv:ident| $to:expr, |$ub:ident| $from:expr) => {
        scalar!(@impl $t, $wire, $visit, $size, |$pv| $to, |$ub| $from, {});
    };
    ($t:ty, $wire:ident, $visit:ident, $slice:ident, $size:expr, |$pv:ident| $to:expr, |$ub:ident| $from:expr) => {
        scalar!(@impl $t, $wire, $visit, $size, |$pv| $to, |$ub| $from, {
            #[inline]
            fn visit_elements<'d, V: Visitor<'d>>(
                items: &mut [Self],
                v: &mut V,
                name: &'d str,
            ) -> Result<()> {
                v.$slice(name, items)
            }
        });
    };
    (@impl $t:ty, $wire:ident, $visit:ident, $size:expr, |$pv:ident| $to:expr, |$ub:ident| $from:expr, { $($extra:tt)* }) => {
        impl VmStateField for $t {
            const LAYOUT: Layout<'static> = Layout::Scalar(WireType::$wire);
            const LOAD_INFALLIBLE: bool = true;
            const PACKED_SIZE: usize = $size;
            #[inline]
            fn pack(&self, out: &mut [u8]) {
                let $pv = *self;
                out[..$size].copy_from_slice(&$to);
            }
            #[inline]
            fn unpack(&mut self, bytes: &[u8]) {
                let mut $ub = [0u8; $size];
                $ub.copy_from_slice(&bytes[..$size]);
                *self = $from;
            }
            #[inline]
            fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
                v.$visit(name, self)
            }
            $($extra)*
        }
    };
}

/// True for the scalar wire types whose arrays the walk hands to the
/// visitor as one slice (`visit_u8_slice`, `visit_u16_slice`,
/// `visit_u32_slice`, `visit_u64_slice`, `visit_i32_slice`: the types
/// below whose `scalar!` names a slice method); arrays of the others are
/// walked element by element. Formats whose encoding of an array depends
/// on it (BER writes a slice as one packed run) ask here.
pub(crate) const fn walked_as_slice(w: WireType) -> bool {
    matches!(
        w,
        WireType::Uint8 | WireType::Uint16 | WireType::Uint32 | WireType::Uint64 | WireType::Int32
    )
}

// The bytes are those of the visitors in `output.rs` and `input.rs`: a
// `bool` is any byte, nonzero for true (QEMU's `get_bool`).
scalar!(bool, Bool, visit_bool, 1, |v| [u8::from(v)], |b| b[0] != 0);
scalar!(i8, Int8, visit_i8, 1, |v| v.to_be_bytes(), |b| {
    i8::from_be_bytes(b)
});
scalar!(i16, Int16, visit_i16, 2, |v| v.to_be_bytes(), |b| {
    i16::from_be_bytes(b)
});
scalar!(
    i32,
    Int32,
    visit_i32,
    visit_i32_slice,
    4,
    |v| v.to_be_bytes(),
    |b| i32::from_be_bytes(b)
);
scalar!(i64, Int64, visit_i64, 8, |v| v.to_be_bytes(), |b| {
    i64::from_be_bytes(b)
});
scalar!(u8, Uint8, visit_u8, visit_u8_slice, 1, |v| [v], |b| b[0]);
scalar!(
    u16,
    Uint16,
    visit_u16,
    visit_u16_slice,
    2,
    |v| v.to_be_bytes(),
    |b| u16::from_be_bytes(b)
);
scalar!(
    u32,
    Uint32,
    visit_u32,
    visit_u32_slice,
    4,
    |v| v.to_be_bytes(),
    |b| u32::from_be_bytes(b)
);
scalar!(
    u64,
    Uint64,
    visit_u64,
    visit_u64_slice,
    8,
    |v| v.to_be_bytes(),
    |b| u64::from_be_bytes(b)
);
scalar!(
    f64,
    CpuDouble,
    visit_f64,
    8,
    |v| v.to_bits().to_be_bytes(),
    |b| f64::from_bits(u64::from_be_bytes(b))
);
scalar!(
    Timer,
    Timer,
    visit_timer,
    8,
    |v| v.raw().to_be_bytes(),
    |b| Timer::from_raw(i64::from_be_bytes(b))
);

impl<T: VmStateField, const N: usize> VmStateField for [T; N] {
    const LAYOUT: Layout<'static> = Layout::Array {
        len: N,
        element: &T::LAYOUT,
    };
    const LOAD_INFALLIBLE: bool = T::LOAD_INFALLIBLE;
    const PACKED_SIZE: usize = T::PACKED_SIZE * N;

    #[inline]
    fn pack(&self, out: &mut [u8]) {
        if T::PACKED_SIZE == 0 {
            return;
        }
        for (x, chunk) in self.iter().zip(out.chunks_exact_mut(T::PACKED_SIZE)) {
            x.pack(chunk);
        }
    }

    #[inline]
    fn unpack(&mut self, bytes: &[u8]) {
        if T::PACKED_SIZE == 0 {
            return;
        }
        for (x, chunk) in self.iter_mut().zip(bytes.chunks_exact(T::PACKED_SIZE)) {
            x.unpack(chunk);
        }
    }

    #[inline]
    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        v.enter_array(name, N, const { element_size(&T::LAYOUT) })?;
        T::visit_elements(self, v, name)?;
        v.leave_array()
    }
}

/// A boxed field has the wire form of its content (QEMU's `VMS_POINTER`).
impl<T: VmStateField> VmStateField for Box<T> {
    const LAYOUT: Layout<'static> = T::LAYOUT;
    const LOAD_INFALLIBLE: bool = T::LOAD_INFALLIBLE;

    #[inline]
    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        (**self).visit(v, name)
    }

    fn visit_at_version<'d, V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        name: &'d str,
        version_id: u32,
    ) -> Result<()> {
        (**self).visit_at_version(v, name, version_id)
    }
}

/// An element of an array of pointers (`VMSTATE_ARRAY_OF_POINTER`): `None` is
/// a NULL pointer, written as the marker byte `0x30`; `Some` is written as the
/// element itself. On load, a `None` slot expects the marker and a `Some` slot
/// expects the element: source and destination must agree on which slots are
/// NULL, as in QEMU. (For `0x30`/`0x31` markers before every element, use the
/// `auto_alloc` field attribute.)
impl<T: VmStateField> VmStateField for Option<T> {
    const LAYOUT: Layout<'static> = Layout::Pointer {
        auto_alloc: false,
        element: &T::LAYOUT,
    };

    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        v.pointer_nulls(name, &mut std::iter::once(self.is_none()))?;
        visit_slot(self, v, name)
    }

    fn visit_elements<'d, V: Visitor<'d>>(
        items: &mut [Self],
        v: &mut V,
        name: &'d str,
    ) -> Result<()> {
        v.pointer_nulls(name, &mut items.iter().map(Option::is_none))?;
        for (i, item) in items.iter_mut().enumerate() {
            v.enter_element(i)?;
            visit_slot(item, v, name).map_err(|e| e.within(PathSegment::Index(i)))?;
            v.leave_element()?;
        }
        Ok(())
    }
}

/// One slot of an array of pointers: the element, or the NULL marker.
#[inline]
fn visit_slot<'d, T: VmStateField, V: Visitor<'d>>(
    slot: &mut Option<T>,
    v: &mut V,
    name: &'d str,
) -> Result<()> {
    match slot {
        Some(inner) => inner.visit(v, name),
        None => {
            let mut present = false;
            v.visit_ptr_marker(name, &mut present, false)
        }
    }
}

/// The wire size of one element, 0 when not fixed.
pub(crate) const fn element_size(layout: &Layout) -> usize {
    match layout.fixed_size() {
        Some(n) => n,
        None => 0,
    }
}
