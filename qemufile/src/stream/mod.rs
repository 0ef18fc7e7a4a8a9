//! The migration stream container (`migration/savevm.c`): header,
//! configuration, sections with footers, commands, EOF and the vmdesc trailer.
//!
//! * [`StreamReader`] reads a stream from any [`QemuRead`](crate::QemuRead),
//!   one [`Item`] at a time, with bounded memory. Device section bodies have no
//!   length on the wire: after [`Item::Section`] the caller consumes the body
//!   through [`StreamReader::body`] (or skips a body of known size with
//!   [`StreamReader::skip_body`]) and then calls [`StreamReader::finish_section`],
//!   which checks the footer.
//! * [`StreamWriter`] writes the same pieces to any
//!   [`QemuWrite`](crate::QemuWrite), so that reading and re-writing a stream
//!   reproduces it byte for byte.
//! * The `"ram"` section body is handled by [`crate::ram`].
//!
//! ```
//! use qemufile::stream::{Item, StreamOptions, StreamReader, StreamWriter, Configuration};
//! use qemufile::{QemuRead, SliceReader};
//!
//! // Write a small stream: one FULL section with a 2-byte body.
//! let mut w = StreamWriter::new(Vec::new(), StreamOptions::default());
//! w.write_header()?;
//! w.write_configuration(&Configuration::new("pc-i440fx-10.0"))?;
//! let h = qemufile::stream::SectionHeader::full(3, "dev", 0, 1)?;
//! w.write_section_header(&h)?;
//! qemufile::QemuWrite::put_be16(w.body(), 0xabcd)?;
//! w.write_section_footer()?;
//! w.write_eof()?;
//! w.write_vmdesc(b"{}")?;
//! let bytes = w.into_inner();
//!
//! // Read it back.
//! let mut r = StreamReader::open(SliceReader::new(&bytes), StreamOptions::default())?;
//! assert_eq!(r.configuration().map(|c| c.machine()), Some(&b"pc-i440fx-10.0"[..]));
//! match r.next_item()? {
//!     Item::Section(s) => assert_eq!(s.idstr.as_bytes(), b"dev"),
//!     other => assert!(false, "a section, not {other:?}"),
//! }
//! assert_eq!(r.body().get_be16()?, 0xabcd);
//! r.finish_section()?;
//! assert!(matches!(r.next_item()?, Item::Eof));
//! assert_eq!(r.read_vmdesc()?.json(), Some(&b"{}"[..]));
//! # Ok::<(), qemufile::Error>(())
//! ```

mod command;
mod config;
mod idstr;
mod read;
mod write;

pub use command::{Command, CommandSpec, command_spec};
pub use config::{ConfigSubsection, Configuration};
pub use idstr::IdStr;
pub use read::{
    Item, SectionHeader, SectionKind, StreamOptions, StreamReader, Vmdesc, find_vmdesc,
};
pub use write::StreamWriter;

/// `QEMU_VM_FILE_MAGIC`: "QEVM".
pub const FILE_MAGIC: u32 = 0x5145_564d;
/// `QEMU_VM_FILE_VERSION_COMPAT`: the obsolete version 2 format, refused.
pub const FILE_VERSION_COMPAT: u32 = 2;
/// `QEMU_VM_FILE_VERSION`: the only stream version QEMU reads.
pub const FILE_VERSION: u32 = 3;
/// `QEMU_VM_EOF`.
pub const EOF: u8 = 0x00;
/// `QEMU_VM_SECTION_START`.
pub const SECTION_START: u8 = 0x01;
/// `QEMU_VM_SECTION_PART`.
pub const SECTION_PART: u8 = 0x02;
/// `QEMU_VM_SECTION_END`.
pub const SECTION_END: u8 = 0x03;
/// `QEMU_VM_SECTION_FULL`.
pub const SECTION_FULL: u8 = 0x04;
/// `QEMU_VM_SUBSECTION`: starts a subsection inside a VMState body.
pub const SUBSECTION: u8 = 0x05;
/// `QEMU_VM_VMDESCRIPTION`: the JSON description after EOF.
pub const VMDESCRIPTION: u8 = 0x06;
/// `QEMU_VM_CONFIGURATION`.
pub const CONFIGURATION: u8 = 0x07;
/// `QEMU_VM_COMMAND`.
pub const COMMAND: u8 = 0x08;
/// `QEMU_VM_SECTION_FOOTER`.
pub const SECTION_FOOTER: u8 = 0x7e;
/// `VMS_MARKER_PTR_NULL` (formerly `VMS_NULLPTR_MARKER`): a NULL element of
/// an array of pointers.
pub const PTR_MARKER_NULL: u8 = 0x30;
/// `VMS_MARKER_PTR_VALID`: a present element of an auto-allocated array of pointers.
pub const PTR_MARKER_VALID: u8 = 0x31;

/// `MIG_CMD_OPEN_RETURN_PATH` (length 0).
pub const MIG_CMD_OPEN_RETURN_PATH: u16 = 1;
/// `MIG_CMD_PING` (length 4: a be32 value).
pub const MIG_CMD_PING: u16 = 2;
/// `MIG_CMD_POSTCOPY_ADVISE` (length 0 or 16).
pub const MIG_CMD_POSTCOPY_ADVISE: u16 = 3;
/// `MIG_CMD_POSTCOPY_LISTEN` (length 0).
pub const MIG_CMD_POSTCOPY_LISTEN: u16 = 4;
/// `MIG_CMD_POSTCOPY_RUN` (length 0).
pub const MIG_CMD_POSTCOPY_RUN: u16 = 5;
/// `MIG_CMD_POSTCOPY_RAM_DISCARD` (variable length).
pub const MIG_CMD_POSTCOPY_RAM_DISCARD: u16 = 6;
/// `MIG_CMD_PACKAGED` (length 4: be32 size of the embedded stream that follows).
pub const MIG_CMD_PACKAGED: u16 = 7;
/// `MIG_CMD_ENABLE_COLO` (length 0).
pub const MIG_CMD_ENABLE_COLO: u16 = 8;
/// `MIG_CMD_POSTCOPY_RESUME` (length 0).
pub const MIG_CMD_POSTCOPY_RESUME: u16 = 9;
/// `MIG_CMD_RECV_BITMAP` (variable length).
pub const MIG_CMD_RECV_BITMAP: u16 = 10;
/// `MIG_CMD_SWITCHOVER_START` (length 0), sent by 10.0 machine types.
pub const MIG_CMD_SWITCHOVER_START: u16 = 11;
/// `MIG_CMD_MAX`: command numbers from here on are unknown.
pub const MIG_CMD_MAX: u16 = 12;
