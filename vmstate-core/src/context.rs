//! State whose hooks and predicates read outside their own struct: a
//! context passed down by the parent on every walk.
//!
//! QEMU's hooks and `needed`/`field_exists` predicates get an `opaque`
//! pointer and often follow a back pointer out of it: the floppy drive's
//! `fdrive/media_rate` subsection is sent when *the controller's*
//! `check_media_rate` property is set (`drive->fdctrl->check_media_rate`).
//! Rust structs have no back pointers; instead the struct declares what it
//! needs, and its parent hands it over:
//!
//! * `#[vmstate(context = C)]` on the struct: every hook and predicate of
//!   the struct gets `&C` as its last argument (`needed`: `fn(&Self, &C) ->
//!   bool`, `exists`: `fn(&Self, u32, &C) -> bool`, `pre_save`: `fn(&mut
//!   Self, &C) -> Result<(), E>`, `post_load`: `fn(&mut Self, u32, &C) ->
//!   Result<(), E>`, ...). The struct implements [`VmStateIn`] (with
//!   `Context = C`) and [`ContextField`] instead of [`VmState`] and
//!   [`VmStateField`]: it cannot be walked without its context.
//! * `#[vmstate(context = expr)]` on the parent's field of that type (also
//!   an array `[T; N]` of it, or a box): `expr` is evaluated on the parent
//!   (`self`) before the field is walked, and `&expr` is the context.
//!   Make it a value (`Ctx { check_media_rate: self.check_media_rate }`),
//!   or a reference to *another* field (`self.config`): the field itself
//!   is borrowed mutably for the walk.
//! * `#[vmstate(context)]` (no value) on a field of a struct that has a
//!   context itself passes that context on (also to a `subsection` field
//!   whose type takes the same context).
//!
//! Nothing of the context is on the wire: descriptions, vmdesc and dumps
//! are those of the struct alone. The context is computed afresh on every
//! walk (save, load, print), so nothing needs to be kept in step.
//!
//! ```
//! use vmstate_core::VmState;
//!
//! /// What a drive's predicates need to know about its controller.
//! #[derive(Clone, Copy)]
//! pub struct Controller {
//!     check_media_rate: bool,
//! }
//!
//! #[derive(VmState, Clone, Default)]
//! #[vmstate(name = "fdrive", version = 1, context = Controller)]
//! struct Drive {
//!     head: u8,
//!     #[vmstate(subsection, needed = Drive::media_rate_needed)]
//!     media_rate: MediaRate,
//! }
//!
//! impl Drive {
//!     fn media_rate_needed(&self, controller: &Controller) -> bool {
//!         controller.check_media_rate
//!     }
//! }
//!
//! #[derive(VmState, Clone, Default)]
//! #[vmstate(name = "fdrive/media_rate", version = 1)]
//! struct MediaRate {
//!     media_rate: u8,
//! }
//!
//! #[derive(VmState, Clone, Default)]
//! #[vmstate(name = "fdc", version = 2)]
//! struct Fdc {
//!     #[vmstate(skip)]
//!     check_media_rate: bool,
//!     #[vmstate(context = Controller { check_media_rate: self.check_media_rate })]
//!     drives: [Drive; 2],
//! }
//!
//! let mut fdc = Fdc { check_media_rate: true, ..Fdc::default() };
//! fdc.drives[1].head = 1;
//! let bytes = vmstate_core::save_to_vec(&mut fdc)?;
//! assert_eq!(bytes, [
//!     0, 0x05, 17, b'f', b'd', b'r', b'i', b'v', b'e', b'/', b'm', b'e', b'd', b'i', b'a',
//!     b'_', b'r', b'a', b't', b'e', 0, 0, 0, 1, 0,
//!     1, 0x05, 17, b'f', b'd', b'r', b'i', b'v', b'e', b'/', b'm', b'e', b'd', b'i', b'a',
//!     b'_', b'r', b'a', b't', b'e', 0, 0, 0, 1, 0,
//! ]);
//! fdc.check_media_rate = false;
//! assert_eq!(vmstate_core::save_to_vec(&mut fdc)?, [0, 1]);
//! # Ok::<(), vmstate_core::Error>(())
//! ```

use crate::{Description, Layout, PathSegment, Result, Visitor, Walk};

#[cfg(doc)]
use crate::{VmState, VmStateField};

/// A struct with `#[vmstate(context = C)]`: [`VmState`] with a context
/// argument to every hook and predicate. What the derive implements.
#[diagnostic::on_unimplemented(
    message = "`{Self}` takes no context",
    label = "needs #[vmstate(context = C)] on its struct",
    note = "`context` on a field passes a context to a struct that declares one with #[vmstate(context = C)]"
)]
pub trait VmStateIn {
    /// What the parent passes down.
    type Context: ?Sized;

    /// The static wire schema.
    const DESCRIPTION: &'static Description<'static>;

    /// As [`VmState::__DERIVE_FAILED`]. Not for hand-written impls.
    #[doc(hidden)]
    const __DERIVE_FAILED: bool = false;

    /// Walks the fields present at `version_id`, in wire order.
    fn visit_fields_in<'d, V: Visitor<'d>>(
        &mut self,
        cx: &Self::Context,
        v: &mut V,
        version_id: u32,
    ) -> Result<()>;

    /// True if subsection `index` must be sent.
    fn subsection_needed_in(&self, cx: &Self::Context, index: usize) -> bool {
        let _ = (cx, index);
        false
    }

    /// Walks subsection `index` at `version_id`.
    fn visit_subsection_in<'d, V: Visitor<'d>>(
        &mut self,
        cx: &Self::Context,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()> {
        let _ = (cx, v, version_id);
        Err(crate::Error::msg(format!(
            "{} has no subsection number {index}",
            Self::DESCRIPTION.name
        )))
    }

    /// [`VmState::needed`].
    fn needed_in(&self, cx: &Self::Context) -> bool {
        let _ = cx;
        true
    }

    /// [`VmState::pre_save`].
    fn pre_save_in(&mut self, cx: &Self::Context) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// [`VmState::post_save`].
    fn post_save_in(&mut self, cx: &Self::Context) {
        let _ = cx;
    }

    /// [`VmState::pre_load`].
    fn pre_load_in(&mut self, cx: &Self::Context) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// [`VmState::post_load`].
    fn post_load_in(&mut self, cx: &Self::Context, version_id: u32) -> Result<()> {
        let _ = (cx, version_id);
        Ok(())
    }
}

/// A [`VmStateIn`] value together with its context: something the one walk
/// ([`visit_struct_at`](crate::visit_struct_at)) runs over, like a
/// [`VmState`].
pub struct InContext<'a, T: VmStateIn + ?Sized> {
    value: &'a mut T,
    cx: &'a T::Context,
}

impl<'a, T: VmStateIn + ?Sized> InContext<'a, T> {
    /// `value` walked with the context `cx`.
    #[inline]
    pub fn new(value: &'a mut T, cx: &'a T::Context) -> Self {
        InContext { value, cx }
    }
}

impl<'d, T: VmStateIn + ?Sized> Walk<'d> for InContext<'_, T> {
    #[inline]
    fn description(&self) -> &'d Description<'d> {
        T::DESCRIPTION
    }
    #[inline]
    fn walk_fields<V: Visitor<'d>>(&mut self, v: &mut V, version_id: u32) -> Result<()> {
        self.value.visit_fields_in(self.cx, v, version_id)
    }
    #[inline]
    fn walk_subsection_needed(&self, index: usize) -> bool {
        self.value.subsection_needed_in(self.cx, index)
    }
    #[inline]
    fn walk_subsection<V: Visitor<'d>>(
        &mut self,
        v: &mut V,
        index: usize,
        version_id: u32,
    ) -> Result<()> {
        self.value
            .visit_subsection_in(self.cx, v, index, version_id)
    }
    #[inline]
    fn walk_pre_save(&mut self) -> Result<()> {
        self.value.pre_save_in(self.cx)
    }
    #[inline]
    fn walk_post_save(&mut self) {
        self.value.post_save_in(self.cx)
    }
    #[inline]
    fn walk_pre_load(&mut self) -> Result<()> {
        self.value.pre_load_in(self.cx)
    }
    #[inline]
    fn walk_post_load(&mut self, version_id: u32) -> Result<()> {
        self.value.post_load_in(self.cx, version_id)
    }
}

/// A field type that needs a context to be walked: a [`VmStateIn`] struct,
/// an array of them, or a box of one (`#[vmstate(context = ..)]` on the
/// field). [`VmStateField`] with a context argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` takes no context",
    label = "needs #[vmstate(context = C)] on its struct",
    note = "`context` on a field passes a context to a struct (or an array of structs) that declares one with #[vmstate(context = C)]"
)]
pub trait ContextField {
    /// What the walk needs.
    type Context: ?Sized;
    /// What a value looks like on the wire.
    const LAYOUT: Layout<'static>;
    /// Walks one value with its context.
    fn visit_in<'d, V: Visitor<'d>>(
        &mut self,
        cx: &Self::Context,
        v: &mut V,
        name: &'d str,
    ) -> Result<()>;
}

impl<T: ContextField, const N: usize> ContextField for [T; N] {
    type Context = T::Context;
    const LAYOUT: Layout<'static> = Layout::Array {
        len: N,
        element: &T::LAYOUT,
    };

    fn visit_in<'d, V: Visitor<'d>>(
        &mut self,
        cx: &Self::Context,
        v: &mut V,
        name: &'d str,
    ) -> Result<()> {
        v.enter_array(name, N, const { crate::field::element_size(&T::LAYOUT) })?;
        for (i, item) in self.iter_mut().enumerate() {
            v.enter_element(i)?;
            item.visit_in(cx, v, name)
                .map_err(|e| e.within(PathSegment::Index(i)))?;
            v.leave_element()?;
        }
        v.leave_array()
    }
}

impl<T: ContextField + ?Sized> ContextField for Box<T> {
    type Context = T::Context;
    const LAYOUT: Layout<'static> = T::LAYOUT;
    #[inline]
    fn visit_in<'d, V: Visitor<'d>>(
        &mut self,
        cx: &Self::Context,
        v: &mut V,
        name: &'d str,
    ) -> Result<()> {
        (**self).visit_in(cx, v, name)
    }
}
