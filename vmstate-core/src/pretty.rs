//! The pretty-print visitor: one line per scalar, in the format of QEMU's
//! QEMUFile-visitor design:
//!
//! ```text
//! PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0
//! i8259.irr = (uint8) 0x10
//! ```
//!
//! The path starts at the description name; a nested struct is named by its
//! description (`PCIDevice`), a subsection by its name; an array field shows
//! `(length)(element size)` and each element `.[i]`; `(type)` is QEMU's wire
//! type name; values are lowercase hex (two's complement bits for signed
//! types, IEEE bits for doubles, raw bytes for buffers).

use std::fmt::{self, Write};

use crate::{Description, Result, Timer, Visitor, WireType};

/// Writes the pretty dump of the values it visits into a [`fmt::Write`].
#[derive(Debug)]
pub struct PrettyPrinter<W: Write> {
    out: W,
    prefix: String,
    /// Prefix lengths and element flags to restore on leave.
    frames: Vec<(usize, bool)>,
    /// The innermost frame is an array element: scalars and structs inside it
    /// are named by the element, not by their own name.
    in_element: bool,
}

impl<W: Write> PrettyPrinter<W> {
    /// Writes into `out`.
    pub fn new(out: W) -> Self {
        PrettyPrinter {
            out,
            prefix: String::new(),
            frames: Vec::new(),
            in_element: false,
        }
    }

    /// The output.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn push(&mut self, segment: fmt::Arguments<'_>) -> Result<()> {
        self.frames.push((self.prefix.len(), self.in_element));
        self.prefix.write_fmt(segment)?;
        self.in_element = false;
        Ok(())
    }

    fn pop(&mut self) {
        if let Some((len, in_element)) = self.frames.pop() {
            self.prefix.truncate(len);
            self.in_element = in_element;
        }
    }

    fn line(&mut self, name: &str, wire: WireType, value: fmt::Arguments<'_>) -> Result<()> {
        self.out.write_str(&self.prefix)?;
        if !self.in_element {
            if !self.prefix.is_empty() {
                self.out.write_char('.')?;
            }
            self.out.write_str(name)?;
        }
        writeln!(self.out, " = ({wire}) {value}")?;
        Ok(())
    }
}

macro_rules! int {
    ($name:ident, $t:ty, $u:ty, $wire:ident) => {
        fn $name(&mut self, name: &'static str, v: &mut $t) -> Result<()> {
            self.line(name, WireType::$wire, format_args!("{:#x}", *v as $u))
        }
    };
}

impl<W: Write> Visitor for PrettyPrinter<W> {
    const LOADING: bool = false;

    fn visit_bool(&mut self, name: &'static str, v: &mut bool) -> Result<()> {
        self.line(name, WireType::Bool, format_args!("{:#x}", u8::from(*v)))
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

    fn visit_f64(&mut self, name: &'static str, v: &mut f64) -> Result<()> {
        self.line(
            name,
            WireType::CpuDouble,
            format_args!("{:#x}", v.to_bits()),
        )
    }
    fn visit_timer(&mut self, name: &'static str, v: &mut Timer) -> Result<()> {
        self.line(name, WireType::Timer, format_args!("{:#x}", v.raw() as u64))
    }
    fn visit_buffer(&mut self, name: &'static str, bytes: &mut [u8]) -> Result<()> {
        self.line(name, WireType::Buffer, format_args!("0x{}", Hex(bytes)))
    }
    fn visit_unused(&mut self, name: &'static str, len: usize) -> Result<()> {
        self.line(name, WireType::UnusedBuffer, format_args!("{len} byte(s)"))
    }
    fn visit_bitmap_word(&mut self, name: &'static str, word: &mut u64) -> Result<()> {
        self.line(name, WireType::Bitmap, format_args!("{:#x}", *word))
    }
    fn visit_ptr_marker(&mut self, name: &'static str, present: &mut bool, _: bool) -> Result<()> {
        let marker = if *present { 0x31 } else { 0x30 };
        self.line(name, WireType::PtrMarker, format_args!("{marker:#x}"))
    }
    fn visit_list_marker(&mut self, _: &'static str, _: &mut bool) -> Result<()> {
        // Framing, not state: the elements show up as `.[i]`.
        Ok(())
    }

    fn enter_struct(&mut self, name: &'static str, d: &'static Description, _: u32) -> Result<()> {
        if self.in_element {
            // The element path already names it.
            self.frames.push((self.prefix.len(), true));
            self.in_element = false;
            Ok(())
        } else if self.prefix.is_empty() {
            self.push(format_args!("{name}"))
        } else {
            // A nested struct is named by its description, as in QEMU's
            // visitor design: `PIIX3.PCIDevice.config(256)(1).[255]`.
            self.push(format_args!(".{}", d.name))
        }
    }
    fn leave_struct(&mut self) -> Result<()> {
        self.pop();
        Ok(())
    }
    fn enter_array(&mut self, name: &'static str, len: usize, element_size: usize) -> Result<()> {
        if self.in_element {
            self.push(format_args!("({len})({element_size})"))
        } else if self.prefix.is_empty() {
            self.push(format_args!("{name}({len})({element_size})"))
        } else {
            self.push(format_args!(".{name}({len})({element_size})"))
        }
    }
    fn leave_array(&mut self) -> Result<()> {
        self.pop();
        Ok(())
    }
    fn enter_element(&mut self, index: usize) -> Result<()> {
        self.push(format_args!(".[{index}]"))?;
        self.in_element = true;
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.pop();
        Ok(())
    }
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
