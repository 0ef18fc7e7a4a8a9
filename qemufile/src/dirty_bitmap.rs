//! The body of the `"dirty-bitmap"` section (version 1,
//! `migration/block-dirty-bitmap.c`): block dirty bitmaps, sent with the
//! `dirty-bitmaps` capability (in the START and END sections, and in PARTs
//! during postcopy).
//!
//! A body is a sequence of records, the last one with [`FLAG_EOS`]. Each
//! record is:
//!
//! * the flags, 1, 2 or 4 bytes: a first byte without
//!   [`FLAG_EXTRA_FLAGS`] (0x80) is the whole field; with it, a second byte
//!   follows, and if that one has 0x80 too, two more. QEMU only writes one
//!   byte. Its loader keeps only the *last* byte it read (it assembles the
//!   field in an 8-bit variable), so that byte holds the flags that count
//!   ([`effective_flags`]);
//! * with [`FLAG_DEVICE_NAME`], the node name (or alias) as a counted string;
//! * with [`FLAG_BITMAP_NAME`], the bitmap name (or alias) as a counted
//!   string. A record without a name means the same node (bitmap) as the
//!   record before, possibly in an earlier section;
//! * what the first of these flags says ([`BitmapData`]):
//!   * with [`FLAG_START`], be32 granularity in bytes, one byte of bitmap
//!     flags ([`START_FLAG_ENABLED`], [`START_FLAG_PERSISTENT`]);
//!   * with [`FLAG_COMPLETE`], nothing;
//!   * with [`FLAG_BITS`], be64 first sector, be32 number of sectors (512-byte
//!     sectors); then, unless [`FLAG_ZEROES`], be64 buffer size and that many
//!     bytes of serialized bitmap (at most [`MAX_BUF_SIZE`], which the loader
//!     enforces).
//!
//! QEMU sends a START record per bitmap and EOS in the START section; in
//! postcopy, BITS records of the bulk phase and EOS in PARTs; the rest of the
//! BITS, a COMPLETE per bitmap and EOS in the END section.
//!
//! [`DirtyBitmapReader`] yields the records and leaves each BITS buffer as a
//! payload; [`DirtyBitmapReader::body_complete`] says where the body ends.
//! [`DirtyBitmapWriter`] writes records back byte for byte.
//!
//! ```
//! use qemufile::dirty_bitmap::{BitmapData, DirtyBitmapReader, DirtyBitmapRecord, DirtyBitmapWriter};
//! use qemufile::stream::IdStr;
//! use qemufile::SliceReader;
//!
//! let node = Some(IdStr::try_from("drive0")?);
//! let bitmap = Some(IdStr::try_from("bitmap0")?);
//! let w = DirtyBitmapWriter::new();
//! let mut out = Vec::new();
//! w.write_item(&mut out, &DirtyBitmapRecord::start(node, bitmap, 65536, 1))?;
//! w.write_item(&mut out, &DirtyBitmapRecord::eos())?;
//! assert_eq!(out[0], 0x1c); // START | DEVICE_NAME | BITMAP_NAME
//!
//! let mut input = SliceReader::new(&out);
//! let mut r = DirtyBitmapReader::new();
//! let rec = r.next_item(&mut input)?;
//! assert_eq!(rec.data, BitmapData::Start { granularity: 65536, flags: 1 });
//! assert_eq!(r.bitmap().map(|b| b.to_string()), Some("bitmap0".into()));
//! assert!(!r.body_complete());
//! r.next_item(&mut input)?;
//! assert!(r.body_complete() && input.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::payload::{Payload, malformed, payload_methods};
use crate::stream::IdStr;
use crate::{Error, ErrorKind, QemuRead, QemuWrite, Result};

/// The section's idstr.
pub const SECTION_NAME: &str = "dirty-bitmap";
/// The section's version id (the only one the loader accepts).
pub const SECTION_VERSION: u32 = 1;
/// `DIRTY_BITMAP_MIG_FLAG_EOS`: the last record of the body.
pub const FLAG_EOS: u8 = 0x01;
/// `DIRTY_BITMAP_MIG_FLAG_ZEROES`: a BITS record without buffer (all zero).
pub const FLAG_ZEROES: u8 = 0x02;
/// `DIRTY_BITMAP_MIG_FLAG_BITMAP_NAME`: the bitmap name follows.
pub const FLAG_BITMAP_NAME: u8 = 0x04;
/// `DIRTY_BITMAP_MIG_FLAG_DEVICE_NAME`: the node name follows.
pub const FLAG_DEVICE_NAME: u8 = 0x08;
/// `DIRTY_BITMAP_MIG_FLAG_START`: a bitmap's first record.
pub const FLAG_START: u8 = 0x10;
/// `DIRTY_BITMAP_MIG_FLAG_COMPLETE`: a bitmap's last record.
pub const FLAG_COMPLETE: u8 = 0x20;
/// `DIRTY_BITMAP_MIG_FLAG_BITS`: bitmap contents.
pub const FLAG_BITS: u8 = 0x40;
/// `DIRTY_BITMAP_MIG_EXTRA_FLAGS`: in the first (second) byte of the flags,
/// says that one more byte (two more bytes) of flags follow.
pub const FLAG_EXTRA_FLAGS: u8 = 0x80;
/// `DIRTY_BITMAP_MIG_START_FLAG_ENABLED`.
pub const START_FLAG_ENABLED: u8 = 0x01;
/// `DIRTY_BITMAP_MIG_START_FLAG_PERSISTENT`.
pub const START_FLAG_PERSISTENT: u8 = 0x02;
/// The former "autoload" bit, ignored by today's loader.
pub const START_FLAG_AUTOLOAD: u8 = 0x04;
/// `DIRTY_BITMAP_MIG_START_FLAG_RESERVED_MASK`: bits the loader refuses
/// ("Unknown flags in migrated dirty bitmap header") unless it has already
/// cancelled the bitmap migration. The reader keeps them.
pub const START_FLAG_RESERVED_MASK: u8 = 0xf8;
/// `CHUNK_SIZE`: the size of the bitmap buffers QEMU aims for.
pub const CHUNK_SIZE: u64 = 1024;
/// The largest BITS buffer the loader accepts (`10 * CHUNK_SIZE`).
pub const MAX_BUF_SIZE: u64 = 10 * CHUNK_SIZE;
/// `BDRV_SECTOR_SIZE`: sectors in BITS records are this many bytes.
pub const SECTOR_SIZE: u64 = 512;

/// The flags QEMU's loader acts on for a flags field whose wire value (its
/// 1, 2 or 4 bytes read big-endian) is `wire`: the last byte.
pub fn effective_flags(wire: u32) -> u8 {
    wire as u8
}

/// Bytes the flags field with wire value `wire` takes (1, 2 or 4), or
/// `None` if no byte sequence reads as that value: one byte must be below
/// 0x80; two bytes must have 0x80 in the first and not in the second; four
/// bytes must have 0x80 in the first two.
pub fn flags_len(wire: u32) -> Option<usize> {
    let extra = u32::from(FLAG_EXTRA_FLAGS);
    if wire < extra {
        Some(1)
    } else if (0x8000..=0xffff).contains(&wire) && wire & extra == 0 {
        Some(2)
    } else if wire & (extra << 24 | extra << 16) == (extra << 24 | extra << 16) {
        Some(4)
    } else {
        None
    }
}

/// What follows a record's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapData {
    /// None of START, COMPLETE, BITS (an EOS-only record, normally).
    None,
    /// START: the bitmap's granularity and flags.
    Start {
        /// Granularity in bytes (a power of two for bitmaps QEMU makes).
        granularity: u32,
        /// [`START_FLAG_ENABLED`], [`START_FLAG_PERSISTENT`], as on the wire.
        flags: u8,
    },
    /// COMPLETE.
    Complete,
    /// BITS with a buffer of `buf_size` bytes following as the payload.
    Bits {
        /// First sector covered.
        start_sector: u64,
        /// Sectors covered.
        nr_sectors: u32,
        /// Bytes of serialized bitmap that follow.
        buf_size: u64,
    },
    /// BITS with ZEROES: the range is clear, no buffer.
    Zeroes {
        /// First sector covered.
        start_sector: u64,
        /// Sectors covered.
        nr_sectors: u32,
    },
}

impl BitmapData {
    /// The flag bits this data needs (START, COMPLETE, BITS, BITS | ZEROES).
    pub fn flags(&self) -> u8 {
        match self {
            BitmapData::None => 0,
            BitmapData::Start { .. } => FLAG_START,
            BitmapData::Complete => FLAG_COMPLETE,
            BitmapData::Bits { .. } => FLAG_BITS,
            BitmapData::Zeroes { .. } => FLAG_BITS | FLAG_ZEROES,
        }
    }
}

/// One record of a dirty-bitmap body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyBitmapRecord {
    /// The flags field's wire value: its 1, 2 or 4 bytes read big-endian
    /// (see [`flags_len`]; QEMU acts on [`effective_flags`]).
    pub flags: u32,
    /// The node name, present on the wire iff the flags have [`FLAG_DEVICE_NAME`].
    pub node: Option<IdStr>,
    /// The bitmap name, present iff the flags have [`FLAG_BITMAP_NAME`].
    pub bitmap: Option<IdStr>,
    /// What follows the names.
    pub data: BitmapData,
}

impl DirtyBitmapRecord {
    /// A record with one byte of flags: `data`'s flags, the name flags of
    /// the names given, and `extra` (e.g. [`FLAG_EOS`]).
    pub fn new(node: Option<IdStr>, bitmap: Option<IdStr>, data: BitmapData, extra: u8) -> Self {
        let mut flags = data.flags() | extra;
        if node.is_some() {
            flags |= FLAG_DEVICE_NAME;
        }
        if bitmap.is_some() {
            flags |= FLAG_BITMAP_NAME;
        }
        DirtyBitmapRecord {
            flags: flags.into(),
            node,
            bitmap,
            data,
        }
    }

    /// The EOS record QEMU ends every body with (one byte, `0x01`).
    pub fn eos() -> Self {
        Self::new(None, None, BitmapData::None, FLAG_EOS)
    }

    /// A START record.
    pub fn start(node: Option<IdStr>, bitmap: Option<IdStr>, granularity: u32, flags: u8) -> Self {
        Self::new(node, bitmap, BitmapData::Start { granularity, flags }, 0)
    }

    /// A COMPLETE record.
    pub fn complete(node: Option<IdStr>, bitmap: Option<IdStr>) -> Self {
        Self::new(node, bitmap, BitmapData::Complete, 0)
    }

    /// A BITS record with a buffer of `buf_size` bytes (written after it).
    pub fn bits(
        node: Option<IdStr>,
        bitmap: Option<IdStr>,
        start_sector: u64,
        nr_sectors: u32,
        buf_size: u64,
    ) -> Self {
        let data = BitmapData::Bits {
            start_sector,
            nr_sectors,
            buf_size,
        };
        Self::new(node, bitmap, data, 0)
    }

    /// A BITS | ZEROES record.
    pub fn zeroes(
        node: Option<IdStr>,
        bitmap: Option<IdStr>,
        start_sector: u64,
        nr_sectors: u32,
    ) -> Self {
        let data = BitmapData::Zeroes {
            start_sector,
            nr_sectors,
        };
        Self::new(node, bitmap, data, 0)
    }

    /// The flags QEMU's loader acts on ([`effective_flags`]).
    pub fn effective_flags(&self) -> u8 {
        effective_flags(self.flags)
    }

    /// True if this record ends the body ([`FLAG_EOS`]).
    pub fn ends_body(&self) -> bool {
        self.effective_flags() & FLAG_EOS != 0
    }

    /// Bytes of payload after the record (the BITS buffer).
    pub fn payload_len(&self) -> u64 {
        match self.data {
            BitmapData::Bits { buf_size, .. } => buf_size,
            _ => 0,
        }
    }
}

/// [`data_kind`] of a BITS record with ZEROES.
const BITS_ZEROES: u8 = FLAG_BITS | FLAG_ZEROES;

/// The data kind the loader picks for effective flags `f`: START before
/// COMPLETE before BITS.
fn data_kind(f: u8) -> u8 {
    if f & FLAG_START != 0 {
        FLAG_START
    } else if f & FLAG_COMPLETE != 0 {
        FLAG_COMPLETE
    } else if f & FLAG_BITS != 0 {
        FLAG_BITS | (f & FLAG_ZEROES)
    } else {
        0
    }
}

/// Reads dirty-bitmap bodies one record at a time.
///
/// One reader is meant for all the `dirty-bitmap` sections of a stream: it
/// remembers the last node and bitmap named, which records without names
/// refer to (as QEMU's loader does).
#[derive(Debug, Clone)]
pub struct DirtyBitmapReader {
    node: Option<IdStr>,
    bitmap: Option<IdStr>,
    complete: bool,
    payload: Payload,
}

impl Default for DirtyBitmapReader {
    fn default() -> Self {
        Self::new()
    }
}

impl DirtyBitmapReader {
    /// A reader with no node or bitmap named yet.
    pub fn new() -> Self {
        DirtyBitmapReader {
            node: None,
            bitmap: None,
            complete: true,
            payload: Payload::default(),
        }
    }

    /// The node last named (what the last record is about).
    pub fn node(&self) -> Option<&IdStr> {
        self.node.as_ref()
    }

    /// The bitmap last named.
    pub fn bitmap(&self) -> Option<&IdStr> {
        self.bitmap.as_ref()
    }

    /// True between bodies: before the first record and after one with
    /// [`FLAG_EOS`]; the next record starts a new body.
    pub fn body_complete(&self) -> bool {
        self.complete
    }

    payload_methods!();

    /// Reads the next record, first skipping any unread payload of the previous one.
    pub fn next_item<R: QemuRead>(&mut self, r: &mut R) -> Result<DirtyBitmapRecord> {
        self.payload.skip(r)?;
        let b0 = r.get_u8()?;
        let mut wire = u32::from(b0);
        if b0 & FLAG_EXTRA_FLAGS != 0 {
            let b1 = r.get_u8()?;
            wire = wire << 8 | u32::from(b1);
            if b1 & FLAG_EXTRA_FLAGS != 0 {
                wire = wire << 16 | u32::from(r.get_be16()?);
            }
        }
        let f = effective_flags(wire);
        let node = if f & FLAG_DEVICE_NAME != 0 {
            Some(IdStr::read(r)?)
        } else {
            None
        };
        let bitmap = if f & FLAG_BITMAP_NAME != 0 {
            Some(IdStr::read(r)?)
        } else {
            None
        };
        let data = match data_kind(f) {
            FLAG_START => BitmapData::Start {
                granularity: r.get_be32()?,
                flags: r.get_u8()?,
            },
            FLAG_COMPLETE => BitmapData::Complete,
            FLAG_BITS => {
                let start_sector = r.get_be64()?;
                let nr_sectors = r.get_be32()?;
                let at = r.position();
                let buf_size = r.get_be64()?;
                if buf_size > MAX_BUF_SIZE {
                    return Err(malformed(
                        at,
                        format!(
                            "dirty-bitmap BITS buffer size {buf_size} exceeds the {MAX_BUF_SIZE} \
                             bytes QEMU's loader accepts (\"Bitmap migration stream buffer \
                             allocation request is too large\")"
                        ),
                    ));
                }
                self.payload.set(buf_size);
                BitmapData::Bits {
                    start_sector,
                    nr_sectors,
                    buf_size,
                }
            }
            BITS_ZEROES => BitmapData::Zeroes {
                start_sector: r.get_be64()?,
                nr_sectors: r.get_be32()?,
            },
            _ => BitmapData::None,
        };
        if node.is_some() {
            self.node.clone_from(&node);
        }
        if bitmap.is_some() {
            self.bitmap.clone_from(&bitmap);
        }
        let rec = DirtyBitmapRecord {
            flags: wire,
            node,
            bitmap,
            data,
        };
        self.complete = rec.ends_body();
        Ok(rec)
    }
}

/// Writes dirty-bitmap records.
#[derive(Debug, Clone, Default)]
pub struct DirtyBitmapWriter {}

impl DirtyBitmapWriter {
    /// A writer.
    pub fn new() -> Self {
        DirtyBitmapWriter {}
    }

    /// Writes a record without its payload: after BITS write its `buf_size`
    /// bytes. Refused: a flags value no byte sequence reads as
    /// ([`flags_len`]), names present or absent against the effective name
    /// flags, empty names, data that is not what the effective flags say,
    /// and a buffer larger than [`MAX_BUF_SIZE`].
    pub fn write_item<W: QemuWrite>(&self, w: &mut W, rec: &DirtyBitmapRecord) -> Result<()> {
        let at = w.position();
        let bad = |m: String| Error::new(at, ErrorKind::InvalidArgument(m));
        let Some(len) = flags_len(rec.flags) else {
            return Err(bad(format!(
                "dirty-bitmap flags {:#x} cannot be encoded in 1, 2 or 4 bytes",
                rec.flags
            )));
        };
        let f = rec.effective_flags();
        if rec.node.is_some() != (f & FLAG_DEVICE_NAME != 0)
            || rec.bitmap.is_some() != (f & FLAG_BITMAP_NAME != 0)
        {
            return Err(bad(format!(
                "dirty-bitmap record names must be present exactly when flags {f:#x} have \
                 DEVICE_NAME / BITMAP_NAME"
            )));
        }
        if data_kind(f) != rec.data.flags() {
            return Err(bad(format!(
                "dirty-bitmap record data {:?} does not match flags {f:#x}",
                rec.data
            )));
        }
        if let BitmapData::Bits { buf_size, .. } = rec.data {
            if buf_size > MAX_BUF_SIZE {
                return Err(bad(format!(
                    "dirty-bitmap BITS buffer of {buf_size} bytes is larger than the \
                     {MAX_BUF_SIZE} QEMU's loader accepts"
                )));
            }
        }
        for name in [&rec.node, &rec.bitmap].into_iter().flatten() {
            if name.as_bytes().is_empty() {
                return Err(Error::new(at, ErrorKind::EmptyString));
            }
        }
        match len {
            1 => w.put_u8(rec.flags as u8)?,
            2 => w.put_be16(rec.flags as u16)?,
            _ => w.put_be32(rec.flags)?,
        }
        for name in [&rec.node, &rec.bitmap].into_iter().flatten() {
            w.put_counted_string(name.as_bytes())?;
        }
        match rec.data {
            BitmapData::None | BitmapData::Complete => {}
            BitmapData::Start { granularity, flags } => {
                w.put_be32(granularity)?;
                w.put_u8(flags)?;
            }
            BitmapData::Bits {
                start_sector,
                nr_sectors,
                buf_size,
            } => {
                w.put_be64(start_sector)?;
                w.put_be32(nr_sectors)?;
                w.put_be64(buf_size)?;
            }
            BitmapData::Zeroes {
                start_sector,
                nr_sectors,
            } => {
                w.put_be64(start_sector)?;
                w.put_be32(nr_sectors)?;
            }
        }
        Ok(())
    }
}
