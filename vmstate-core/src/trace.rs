//! Tracing: one [`tracing`] event per visited value, around any visitor,
//! and one span per section of a stream (the successor of the trace points
//! of the QEMUFile-visitor design).
//!
//! [`Traced`] wraps a [`Visitor`] and hands every call on to it. When a
//! subscriber wants [`FIELD_TARGET`] events at `TRACE` level, each value
//! visited also gives an event with four fields:
//!
//! | field | what |
//! |---|---|
//! | `path` | the value's path, as `vmstate dump` prints it (`cpu.env.tr.base`, `PIIX3.dev.config[255]`) |
//! | `wire_type` | QEMU's wire type name (`uint32`, `int32 equal`, `buffer`, `pci config`) |
//! | `value` | the value as the pretty printer prints it (`0x10`, `0x0102`, `28 byte(s)`) |
//! | `offset` | the byte offset in the stream where the value's bytes begin, if the wrapped visitor reads or writes one ([`Visitor::wire_offset`]) |
//!
//! so that `{path} = ({wire_type}) {value}` is the value's line in a
//! pretty dump. A loading visitor's events carry the value loaded.
//!
//! It costs nothing when unused: whether events are wanted is asked once,
//! when the wrapper is made; without a subscriber that wants them, every
//! call is handed on with no further work (no paths are built). The stream
//! engine wraps its own readers and writers: the
//! [`StreamDecoder`](crate::stream::StreamDecoder) and
//! [`StreamEncoder`](crate::stream::StreamEncoder) trace every value of the
//! device sections they decode and encode, inside a `section` span (target
//! [`STREAM_TARGET`]) per section with its `idstr`, `instance`, `version`,
//! `section_id`, `kind` and `offset`; RAM and the other iterative sections
//! get the span, not per-page events.
//!
//! ```
//! use vmstate_core::{VmState, OutputVisitor, trace::Traced};
//!
//! #[derive(VmState, Default)]
//! #[vmstate(name = "dev", version = 1)]
//! struct Dev { ctrl: u32 }
//!
//! let mut out = Vec::new();
//! let mut v = Traced::new(OutputVisitor::new(&mut out));
//! vmstate_core::visit_struct(&mut Dev { ctrl: 7 }, &mut v, "dev")?;
//! // With a subscriber, one event: path = "dev.ctrl", wire_type = "uint32",
//! // value = "0x7", offset = 0.
//! assert_eq!(out, [0, 0, 0, 7]);
//! # Ok::<(), vmstate_core::Error>(())
//! ```

use std::fmt;

use tracing::Level;

use crate::pretty::Hex;
use crate::{
    Description, Error, IncomingSubsection, PathTracker, Result, Timer, Visitor, WireType,
};

/// The target of the per-value events.
pub const FIELD_TARGET: &str = "vmstate::field";

/// The target of the per-section spans of the stream engine.
pub const STREAM_TARGET: &str = "vmstate::stream";

/// True if a subscriber wants the per-value events now.
pub fn fields_enabled() -> bool {
    tracing::enabled!(target: FIELD_TARGET, Level::TRACE)
}

/// A visitor that hands every call on to `V` and emits a [`tracing`] event
/// per value (see the [module](self)).
#[derive(Debug)]
pub struct Traced<'d, V> {
    inner: V,
    /// `None` when no subscriber wanted the events when the wrapper was
    /// made (boxed: the wrapper stays as small as what it wraps, plus a word).
    path: Option<Box<PathTracker<'d>>>,
}

impl<'d, V: Visitor<'d>> Traced<'d, V> {
    /// Wraps `inner`; events are emitted if a subscriber wants them now.
    pub fn new(inner: V) -> Self {
        Traced {
            inner,
            path: fields_enabled().then(Box::default),
        }
    }

    /// Wraps `inner`, with paths rooted at `root` instead of the walk's
    /// name (a stream section's idstr, [`crate::stream::section_root`]).
    pub fn with_root(inner: V, root: &str) -> Self {
        Traced {
            inner,
            path: fields_enabled().then(|| Box::new(PathTracker::default().with_root(root))),
        }
    }

    /// True if this wrapper emits events.
    pub fn is_enabled(&self) -> bool {
        self.path.is_some()
    }

    /// The wrapped visitor.
    pub fn get_ref(&self) -> &V {
        &self.inner
    }

    /// The wrapped visitor.
    pub fn get_mut(&mut self) -> &mut V {
        &mut self.inner
    }

    /// The wrapped visitor.
    pub fn into_inner(self) -> V {
        self.inner
    }

    #[inline]
    fn at(&self) -> Option<u64> {
        if self.path.is_some() {
            self.inner.wire_offset()
        } else {
            None
        }
    }

    #[cold]
    fn emit(&self, name: &str, wire: &str, offset: Option<u64>, value: fmt::Arguments<'_>) {
        if let Some(p) = &self.path {
            let path = p.path(name);
            tracing::event!(
                target: FIELD_TARGET,
                Level::TRACE,
                path = %path,
                wire_type = wire,
                value = %value,
                offset = offset,
            );
        }
    }

    /// Events for a run of elements visited at once.
    #[cold]
    fn emit_run<T: Copy>(
        &mut self,
        name: &str,
        wire: WireType,
        start: Option<u64>,
        items: &[T],
        show: impl Fn(T) -> u64,
    ) {
        let size = wire.fixed_size().unwrap_or(0) as u64;
        for (i, x) in items.iter().enumerate() {
            if let Some(p) = &mut self.path {
                p.enter_element(i);
            }
            let offset = start.map(|s| s + i as u64 * size);
            self.emit(name, wire.name(), offset, format_args!("{:#x}", show(*x)));
            if let Some(p) = &mut self.path {
                p.leave_element();
            }
        }
    }
}

macro_rules! traced_int {
    ($name:ident, $t:ty, $u:ty, $wire:ident) => {
        #[inline]
        fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            let at = self.at();
            self.inner.$name(name, v)?;
            if self.path.is_some() {
                self.emit(
                    name,
                    WireType::$wire.name(),
                    at,
                    format_args!("{:#x}", *v as $u),
                );
            }
            Ok(())
        }
    };
}

macro_rules! traced_slice {
    ($name:ident, $t:ty, $u:ty, $wire:ident) => {
        #[inline]
        fn $name(&mut self, name: &'d str, items: &mut [$t]) -> Result<()> {
            let at = self.at();
            self.inner.$name(name, items)?;
            if self.path.is_some() {
                self.emit_run(name, WireType::$wire, at, items, |x| u64::from(x as $u));
            }
            Ok(())
        }
    };
}

impl<'d, V: Visitor<'d>> Visitor<'d> for Traced<'d, V> {
    const LOADING: bool = V::LOADING;
    const RUNS_SAVE_HOOKS: bool = V::RUNS_SAVE_HOOKS;
    const PACKED_RUNS: bool = V::PACKED_RUNS;

    // While events are wanted every field must be seen: decline packed runs.
    #[inline]
    fn put_packed(&mut self, fields: std::ops::Range<usize>, bytes: &[u8]) -> Result<bool> {
        if self.path.is_some() {
            return Ok(false);
        }
        self.inner.put_packed(fields, bytes)
    }
    #[inline]
    fn take_packed(&mut self, fields: std::ops::Range<usize>, bytes: &mut [u8]) -> Result<bool> {
        if self.path.is_some() {
            return Ok(false);
        }
        self.inner.take_packed(fields, bytes)
    }

    #[inline]
    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()> {
        let at = self.at();
        self.inner.visit_bool(name, v)?;
        if self.path.is_some() {
            self.emit(
                name,
                WireType::Bool.name(),
                at,
                format_args!("{:#x}", u8::from(*v)),
            );
        }
        Ok(())
    }
    traced_int!(visit_i8, i8, u8, Int8);
    traced_int!(visit_i16, i16, u16, Int16);
    traced_int!(visit_i32, i32, u32, Int32);
    traced_int!(visit_i64, i64, u64, Int64);
    traced_int!(visit_u8, u8, u8, Uint8);
    traced_int!(visit_u16, u16, u16, Uint16);
    traced_int!(visit_u32, u32, u32, Uint32);
    traced_int!(visit_u64, u64, u64, Uint64);
    traced_int!(visit_u8_equal, u8, u8, Uint8Equal);
    traced_int!(visit_u16_equal, u16, u16, Uint16Equal);
    traced_int!(visit_u32_equal, u32, u32, Uint32Equal);
    traced_int!(visit_u64_equal, u64, u64, Uint64Equal);
    traced_int!(visit_i32_equal, i32, u32, Int32Equal);
    traced_int!(visit_i32_le, i32, u32, Int32Le);
    traced_int!(visit_bitmap_word, u64, u64, Bitmap);
    traced_slice!(visit_u8_slice, u8, u8, Uint8);
    traced_slice!(visit_u16_slice, u16, u16, Uint16);
    traced_slice!(visit_u32_slice, u32, u32, Uint32);
    traced_slice!(visit_u64_slice, u64, u64, Uint64);
    traced_slice!(visit_i32_slice, i32, u32, Int32);

    #[inline]
    fn visit_f64(&mut self, name: &'d str, v: &mut f64) -> Result<()> {
        let at = self.at();
        self.inner.visit_f64(name, v)?;
        if self.path.is_some() {
            let bits = v.to_bits();
            self.emit(
                name,
                WireType::CpuDouble.name(),
                at,
                format_args!("{bits:#x}"),
            );
        }
        Ok(())
    }
    #[inline]
    fn visit_timer(&mut self, name: &'d str, v: &mut Timer) -> Result<()> {
        let at = self.at();
        self.inner.visit_timer(name, v)?;
        if self.path.is_some() {
            let raw = v.raw() as u64;
            self.emit(name, WireType::Timer.name(), at, format_args!("{raw:#x}"));
        }
        Ok(())
    }
    #[inline]
    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        let at = self.at();
        self.inner.visit_buffer(name, bytes)?;
        if self.path.is_some() {
            self.emit(
                name,
                WireType::Buffer.name(),
                at,
                format_args!("0x{}", Hex(bytes)),
            );
        }
        Ok(())
    }
    #[inline]
    fn visit_buffer_vec(&mut self, name: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        let at = self.at();
        self.inner.visit_buffer_vec(name, bytes, len)?;
        if self.path.is_some() {
            let n = len.min(bytes.len());
            self.emit(
                name,
                WireType::Buffer.name(),
                at,
                format_args!("0x{}", Hex(&bytes[..n])),
            );
        }
        Ok(())
    }
    #[inline]
    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let at = self.at();
        self.inner.visit_opaque(name, type_name, bytes, len)?;
        if self.path.is_some() {
            let n = len.min(bytes.len());
            self.emit(name, type_name, at, format_args!("0x{}", Hex(&bytes[..n])));
        }
        Ok(())
    }
    #[inline]
    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        let at = self.at();
        self.inner.visit_unused(name, len)?;
        if self.path.is_some() {
            self.emit(
                name,
                WireType::UnusedBuffer.name(),
                at,
                format_args!("{len} byte(s)"),
            );
        }
        Ok(())
    }
    #[inline]
    fn visit_ptr_marker(
        &mut self,
        name: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        let at = self.at();
        self.inner.visit_ptr_marker(name, present, valid_allowed)?;
        if self.path.is_some() {
            let marker = if *present { 0x31 } else { 0x30 };
            self.emit(
                name,
                WireType::PtrMarker.name(),
                at,
                format_args!("{marker:#x}"),
            );
        }
        Ok(())
    }
    #[inline]
    fn visit_list_marker(&mut self, name: &'d str, more: &mut bool) -> Result<()> {
        // Framing, not state (the pretty printer shows none either).
        self.inner.visit_list_marker(name, more)
    }

    #[inline]
    fn enter_field(&mut self, index: usize) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.enter_field(index);
        }
        self.inner.enter_field(index)
    }
    #[inline]
    fn leave_field(&mut self) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.leave_field();
        }
        self.inner.leave_field()
    }
    #[inline]
    fn enter_struct(
        &mut self,
        name: &'d str,
        description: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.enter_struct(name, description);
        }
        self.inner.enter_struct(name, description, version_id)
    }
    #[inline]
    fn leave_struct(&mut self) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.leave_struct();
        }
        self.inner.leave_struct()
    }
    #[inline]
    fn enter_array(&mut self, name: &'d str, len: usize, element_size: usize) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.enter_array(name, len, element_size);
        }
        self.inner.enter_array(name, len, element_size)
    }
    #[inline]
    fn leave_array(&mut self) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.leave_array();
        }
        self.inner.leave_array()
    }
    #[inline]
    fn pointer_nulls(
        &mut self,
        name: &'d str,
        nulls: &mut dyn Iterator<Item = bool>,
    ) -> Result<()> {
        self.inner.pointer_nulls(name, nulls)
    }
    #[inline]
    fn enter_element(&mut self, index: usize) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.enter_element(index);
        }
        self.inner.enter_element(index)
    }
    #[inline]
    fn leave_element(&mut self) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.leave_element();
        }
        self.inner.leave_element()
    }
    #[inline]
    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        if let Some(p) = &mut self.path {
            p.enter_subsection();
        }
        self.inner.enter_subsection(description)
    }
    #[inline]
    fn leave_subsection(&mut self) -> Result<()> {
        self.inner.leave_subsection()
    }
    #[inline]
    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let found = self.inner.next_subsection(parent)?;
        if let (Some(_), Some(p)) = (&found, &mut self.path) {
            p.enter_subsection();
        }
        Ok(found)
    }
    #[inline]
    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        self.inner.allocate(added, container)
    }
    #[inline]
    fn input_position(&self) -> Option<u64> {
        self.inner.input_position()
    }
    #[inline]
    fn wire_offset(&self) -> Option<u64> {
        self.inner.wire_offset()
    }
    #[inline]
    fn locate(&self, error: Error) -> Error {
        self.inner.locate(error)
    }
}
