//! The QEMUFile byte stream that QEMU's migration code reads and writes.
//!
//! Everything QEMU puts into a migration stream goes through a handful of
//! primitives (`migration/qemu-file.c`): single bytes, big-endian 16/32/64-bit
//! integers, raw buffers and counted strings (one length byte, then the bytes,
//! no terminator). The loader also *peeks* ahead without consuming, which is how
//! it tells a subsection (`0x05`) from the parent's next field.
//!
//! This crate provides exactly those primitives:
//!
//! * [`QemuWrite`], implemented by [`Vec<u8>`] (the fast path for saving to
//!   memory) and by [`Writer`], a buffered writer over any [`std::io::Write`].
//! * [`QemuRead`], implemented by [`SliceReader`] (the fast path over a byte
//!   slice) and by [`Reader`], a buffered reader over any [`std::io::Read`].
//!
//! Unlike QEMU, reading past the end is an error at the read itself: there are
//! no silent zeros and no sticky error flag to forget to check.
//!
//! ```
//! use qemufile::{QemuRead, QemuWrite, SliceReader};
//!
//! let mut out = Vec::new();
//! out.put_be32(0x5145_564d)?;
//! out.put_counted_string("i8259")?;
//! assert_eq!(out, b"QEVM\x05i8259");
//!
//! let mut input = SliceReader::new(&out);
//! assert_eq!(input.get_be32()?, 0x5145_564d);
//! assert_eq!(input.peek(0, 1)?, &[5]);
//! assert_eq!(input.get_counted_string()?.as_bytes(), b"i8259");
//! assert!(input.get_u8().is_err());
//! # Ok::<(), qemufile::Error>(())
//! ```

pub mod command_payload;
pub mod dirty_bitmap;
mod error;
pub mod htab;
mod limits;
mod payload;
pub mod ram;
mod read;
pub mod stattrib;
pub mod stream;
mod write;

pub use error::{Error, ErrorKind, Result};
pub use limits::{Limit, LimitExceeded, Limits};
pub use read::{CountedString, QemuRead, Reader, SliceReader};
pub use write::{QemuWrite, Writer};

/// The largest look-ahead QEMU supports (`IO_BUF_SIZE` in `migration/qemu-file.c`).
///
/// Peeks reaching beyond this many bytes from the read position are refused,
/// as QEMU refuses them; the subsection lookahead needs at most 2 + 255 bytes.
pub const MAX_PEEK: usize = 32_768;

/// The longest counted string: its length must fit in one byte.
pub const MAX_COUNTED_STRING: usize = 255;
