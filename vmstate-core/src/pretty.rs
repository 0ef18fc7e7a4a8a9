//! The pretty-print visitor: one line per scalar, `path = (type) value`.
//!
//! Two path styles, both from the same walk:
//!
//! * [`PathStyle::Fields`] (the default, and the format of error paths, `diff`
//!   and `vmstate dump`): every path names exactly one field, by field
//!   names and indices.
//!
//!   ```text
//!   i8259.irr = (uint8) 0x10
//!   PIIX3.dev.config[255] = (uint8) 0x0
//!   cpu.env.tr.base = (uint64) 0x0
//!   ```
//!
//! * [`PathStyle::Trace`]: the trace format of QEMU's QEMUFile-visitor design,
//!   for display only: a nested struct is named by its description, an array
//!   shows `(length)(element size)` and each element `.[i]`. Two fields can
//!   print the same path here (the x86 CPU's `env.tr.base` and `env.ldt.base`
//!   both print as `cpu.segment.base`).
//!
//!   ```text
//!   PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0
//!   ```
//!
//! `(type)` is QEMU's wire type name; values are lowercase hex (two's
//! complement bits for signed types, IEEE bits for doubles, raw bytes for
//! buffers).

use std::fmt::{self, Write};

use crate::{Description, Result, Timer, Visitor, WireType, path_name};

/// How the [`PrettyPrinter`] writes paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathStyle {
    /// Field names and `[i]` indices: one path, one field (`PIIX3.dev.config[255]`).
    #[default]
    Fields,
    /// The QEMUFile-visitor trace format (`PIIX3.PCIDevice.config(256)(1).[255]`),
    /// for display only: paths are not unique.
    Trace,
}

/// The structural events of a [`Visitor`] whose only work is to keep its
/// `path: PathTracker` in step (the pretty-printer, the field editor).
macro_rules! track_path_events {
    ($d:lifetime) => {
        fn enter_field(&mut self, index: usize) -> $crate::Result<()> {
            self.path.enter_field(index);
            Ok(())
        }
        fn leave_field(&mut self) -> $crate::Result<()> {
            self.path.leave_field();
            Ok(())
        }
        fn enter_struct(
            &mut self,
            name: &$d str,
            d: &$d $crate::Description<$d>,
            _: u32,
        ) -> $crate::Result<()> {
            self.path.enter_struct(name, d);
            Ok(())
        }
        fn leave_struct(&mut self) -> $crate::Result<()> {
            self.path.leave_struct();
            Ok(())
        }
        fn enter_array(&mut self, name: &$d str, len: usize, size: usize) -> $crate::Result<()> {
            self.path.enter_array(name, len, size);
            Ok(())
        }
        fn leave_array(&mut self) -> $crate::Result<()> {
            self.path.leave_array();
            Ok(())
        }
        fn enter_element(&mut self, index: usize) -> $crate::Result<()> {
            self.path.enter_element(index);
            Ok(())
        }
        fn leave_element(&mut self) -> $crate::Result<()> {
            self.path.leave_element();
            Ok(())
        }
        fn enter_subsection(&mut self, _: &$d $crate::Description<$d>) -> $crate::Result<()> {
            self.path.enter_subsection();
            Ok(())
        }
    };
}
pub(crate) use track_path_events;

/// The path of the value a walk is at, named as the [`PrettyPrinter`] names
/// it (`cpu.env.tr.base`, `PIIX3.dev.config[255]`, `i8259/ltim.ltim`).
///
/// Feed it a walk's structural calls (the `enter_*`/`leave_*` methods of
/// [`Visitor`], under the same names) and ask for the path of each scalar
/// with [`write_path`](Self::write_path). The pretty printer, the
/// [tracing wrapper](crate::trace::Traced) and [`vmstate set`](crate::edit)
/// share it, so that one value has one path everywhere.
#[derive(Debug, Clone)]
pub struct PathTracker<'d> {
    /// The descriptions of the structs being walked, innermost last.
    descriptions: Vec<&'d Description<'d>>,
    /// Per field being walked: whether it pushed a path segment of its own
    /// (a repeated name, shown as QEMU's vmdesc shows it: `unused[1]`).
    field_frames: Vec<bool>,
    style: PathStyle,
    prefix: String,
    /// Prefix lengths and element flags to restore on leave (and the whole
    /// prefix, where a subsection replaced it).
    frames: Vec<(usize, bool, Option<String>)>,
    /// The innermost frame is an array element: scalars and structs inside it
    /// are named by the element, not by their own name.
    in_element: bool,
    /// The next struct is a subsection (named by its full name).
    subsection_pending: bool,
    /// The root's name, if not the walk's.
    root: Option<String>,
}

impl Default for PathTracker<'_> {
    fn default() -> Self {
        Self::new(PathStyle::Fields)
    }
}

impl<'d> PathTracker<'d> {
    /// A tracker at the start of a walk, with paths in `style`.
    pub fn new(style: PathStyle) -> Self {
        PathTracker {
            descriptions: Vec::new(),
            field_frames: Vec::new(),
            style,
            prefix: String::new(),
            frames: Vec::new(),
            in_element: false,
            subsection_pending: false,
            root: None,
        }
    }

    /// Names the root of the walk `root` instead of the name the walk gives
    /// it (a stream section's idstr, [`crate::stream::section_root`]).
    pub fn with_root(mut self, root: &str) -> Self {
        self.root = Some(root.to_owned());
        self
    }

    /// The path style.
    pub fn style(&self) -> PathStyle {
        self.style
    }

    /// The description of the innermost struct being walked.
    pub fn description(&self) -> Option<&'d Description<'d>> {
        self.descriptions.last().copied()
    }

    /// Writes the path of the scalar the walk visits now under `name` (the
    /// name the visitor method got).
    pub fn write_path<W: Write + ?Sized>(&self, out: &mut W, name: &str) -> fmt::Result {
        out.write_str(&self.prefix)?;
        if !self.in_element {
            if !self.prefix.is_empty() {
                out.write_char('.')?;
            }
            match self.style {
                PathStyle::Fields => out.write_str(&path_name(name))?,
                PathStyle::Trace => out.write_str(name)?,
            }
        }
        Ok(())
    }

    /// The path of the scalar the walk visits now under `name`.
    pub fn path(&self, name: &str) -> String {
        let mut s = String::new();
        let _ = self.write_path(&mut s, name);
        s
    }

    fn push(&mut self, segment: fmt::Arguments<'_>) {
        self.frames.push((self.prefix.len(), self.in_element, None));
        // Writing into a String cannot fail.
        let _ = self.prefix.write_fmt(segment);
        self.in_element = false;
    }

    fn pop(&mut self) {
        if let Some((len, in_element, saved)) = self.frames.pop() {
            match saved {
                Some(prefix) => self.prefix = prefix,
                None => self.prefix.truncate(len),
            }
            self.in_element = in_element;
        }
    }

    /// [`Visitor::enter_field`].
    pub fn enter_field(&mut self, index: usize) {
        let alias = match (self.style, self.descriptions.last()) {
            (PathStyle::Fields, Some(d)) if index < d.fields.len() => match d.unique_name(index) {
                std::borrow::Cow::Owned(alias) => Some(alias),
                std::borrow::Cow::Borrowed(_) => None,
            },
            _ => None,
        };
        match alias {
            Some(alias) => {
                let alias = path_name(&alias).into_owned();
                if self.prefix.is_empty() {
                    self.push(format_args!("{alias}"));
                } else {
                    self.push(format_args!(".{alias}"));
                }
                // What the field holds is named by the alias.
                self.in_element = true;
                self.field_frames.push(true);
            }
            None => self.field_frames.push(false),
        }
    }

    /// [`Visitor::leave_field`].
    pub fn leave_field(&mut self) {
        if self.field_frames.pop() == Some(true) {
            self.pop();
        }
    }

    /// [`Visitor::enter_struct`].
    pub fn enter_struct(&mut self, name: &str, d: &'d Description<'d>) {
        self.descriptions.push(d);
        let subsection = std::mem::take(&mut self.subsection_pending);
        if subsection {
            // Named by its full name; a subsection of the root already names
            // the root ("i8259/ltim"), as error paths do.
            if self.style == PathStyle::Fields
                && d.name.starts_with(self.prefix.as_str())
                && !self.prefix.contains('.')
            {
                let saved = std::mem::replace(&mut self.prefix, d.name.to_owned());
                self.frames.push((0, self.in_element, Some(saved)));
                self.in_element = false;
                return;
            }
            return self.push(format_args!(".{}", d.name));
        }
        if self.in_element {
            // The element path already names it.
            self.frames.push((self.prefix.len(), true, None));
            self.in_element = false;
        } else if self.prefix.is_empty() && self.frames.is_empty() {
            match self.root.take() {
                Some(root) => {
                    self.push(format_args!("{root}"));
                    self.root = Some(root);
                }
                None => self.push(format_args!("{name}")),
            }
        } else if self.prefix.is_empty() {
            self.push(format_args!("{name}"))
        } else if self.style == PathStyle::Trace {
            // The QEMUFile-visitor design names a nested struct by its
            // description: `PIIX3.PCIDevice.config(256)(1).[255]`.
            self.push(format_args!(".{}", d.name))
        } else {
            self.push(format_args!(".{}", path_name(name)))
        }
    }

    /// [`Visitor::leave_struct`].
    pub fn leave_struct(&mut self) {
        self.descriptions.pop();
        self.pop();
    }

    /// [`Visitor::enter_array`].
    pub fn enter_array(&mut self, name: &str, len: usize, element_size: usize) {
        match self.style {
            PathStyle::Trace if self.in_element => {
                self.push(format_args!("({len})({element_size})"))
            }
            PathStyle::Trace if self.prefix.is_empty() => {
                self.push(format_args!("{name}({len})({element_size})"))
            }
            PathStyle::Trace => self.push(format_args!(".{name}({len})({element_size})")),
            PathStyle::Fields if self.in_element => self.push(format_args!("")),
            PathStyle::Fields if self.prefix.is_empty() => self.push(format_args!("{name}")),
            PathStyle::Fields => self.push(format_args!(".{}", path_name(name))),
        }
    }

    /// [`Visitor::leave_array`].
    pub fn leave_array(&mut self) {
        self.pop();
    }

    /// [`Visitor::enter_element`].
    pub fn enter_element(&mut self, index: usize) {
        match self.style {
            PathStyle::Trace => self.push(format_args!(".[{index}]")),
            PathStyle::Fields => self.push(format_args!("[{index}]")),
        }
        self.in_element = true;
    }

    /// [`Visitor::leave_element`].
    pub fn leave_element(&mut self) {
        self.pop();
    }

    /// [`Visitor::enter_subsection`] (saving), or a subsection that
    /// [`Visitor::next_subsection`] found (loading): the next struct is it.
    pub fn enter_subsection(&mut self) {
        self.subsection_pending = true;
    }
}

/// Writes the pretty dump of the values it visits into a [`fmt::Write`].
#[derive(Debug)]
pub struct PrettyPrinter<'d, W: Write> {
    out: W,
    path: PathTracker<'d>,
}

impl<W: Write> PrettyPrinter<'_, W> {
    /// Writes into `out`, with [`PathStyle::Fields`] paths.
    pub fn new(out: W) -> Self {
        Self::with_style(out, PathStyle::Fields)
    }

    /// Writes into `out` with the given path style.
    pub fn with_style(out: W, style: PathStyle) -> Self {
        PrettyPrinter {
            out,
            path: PathTracker::new(style),
        }
    }

    /// Names the root of the walk `root` instead of the name the walk gives
    /// it (a stream section's idstr, [`crate::stream::section_root`]).
    pub fn with_root(mut self, root: &str) -> Self {
        self.path = self.path.with_root(root);
        self
    }

    /// The output.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The output.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn line(&mut self, name: &str, wire: &str, value: fmt::Arguments<'_>) -> Result<()> {
        self.path.write_path(&mut self.out, name)?;
        writeln!(self.out, " = ({wire}) {value}")?;
        Ok(())
    }
}

macro_rules! int {
    ($name:ident, $t:ty, $u:ty, $wire:ident) => {
        fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            self.line(
                name,
                WireType::$wire.name(),
                format_args!("{:#x}", *v as $u),
            )
        }
    };
}

impl<'d, W: Write> Visitor<'d> for PrettyPrinter<'d, W> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()> {
        self.line(
            name,
            WireType::Bool.name(),
            format_args!("{:#x}", u8::from(*v)),
        )
    }
    int!(visit_i8, i8, u8, Int8);
    int!(visit_i16, i16, u16, Int16);
    int!(visit_i32, i32, u32, Int32);
    int!(visit_i64, i64, u64, Int64);
    int!(visit_u8, u8, u8, Uint8);
    int!(visit_u16, u16, u16, Uint16);
    int!(visit_u32, u32, u32, Uint32);
    int!(visit_u64, u64, u64, Uint64);
    int!(visit_u8_equal, u8, u8, Uint8Equal);
    int!(visit_u16_equal, u16, u16, Uint16Equal);
    int!(visit_u32_equal, u32, u32, Uint32Equal);
    int!(visit_u64_equal, u64, u64, Uint64Equal);
    int!(visit_i32_equal, i32, u32, Int32Equal);
    int!(visit_i32_le, i32, u32, Int32Le);

    fn visit_f64(&mut self, name: &'d str, v: &mut f64) -> Result<()> {
        self.line(
            name,
            WireType::CpuDouble.name(),
            format_args!("{:#x}", v.to_bits()),
        )
    }
    fn visit_timer(&mut self, name: &'d str, v: &mut Timer) -> Result<()> {
        self.line(
            name,
            WireType::Timer.name(),
            format_args!("{:#x}", v.raw() as u64),
        )
    }
    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.line(
            name,
            WireType::Buffer.name(),
            format_args!("0x{}", Hex(bytes)),
        )
    }
    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        let n = len.min(bytes.len());
        self.line(name, type_name, format_args!("0x{}", Hex(&bytes[..n])))
    }
    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        self.line(
            name,
            WireType::UnusedBuffer.name(),
            format_args!("{len} byte(s)"),
        )
    }
    fn visit_bitmap_word(&mut self, name: &'d str, word: &mut u64) -> Result<()> {
        self.line(name, WireType::Bitmap.name(), format_args!("{:#x}", *word))
    }
    fn visit_ptr_marker(&mut self, name: &'d str, present: &mut bool, _: bool) -> Result<()> {
        let marker = if *present { 0x31 } else { 0x30 };
        self.line(
            name,
            WireType::PtrMarker.name(),
            format_args!("{marker:#x}"),
        )
    }
    fn visit_list_marker(&mut self, _: &'d str, _: &mut bool) -> Result<()> {
        // Framing, not state: the elements show up as `.[i]`.
        Ok(())
    }

    track_path_events!('d);
}

/// Lowercase hex of a byte string.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
