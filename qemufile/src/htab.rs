//! The body of the `"spapr/htab"` section (version 1, `hw/ppc/spapr.c`): the
//! hashed page table (HPT) of a ppc64 pSeries guest, sent iteratively.
//!
//! Every body starts with a be32 header; what follows depends on it:
//!
//! | header | item | what follows |
//! |---|---|---|
//! | `0xffff_ffff` ([`HEADER_NO_HPT`]) | [`HtabItem::NoHpt`] | nothing: the guest has no HPT (radix, or none allocated); the loader frees its own |
//! | any other non-zero value | [`HtabItem::Size`] | nothing: the value is the HPT's size as `log2(bytes)` (`htab_shift`); the loader allocates a table that size. QEMU sends it in the START section |
//! | `0` | [`HtabItem::Entries`] | chunks, then the end marker. QEMU sends it in PART and END sections |
//!
//! A chunk is `be32 index | be16 n_valid | be16 n_invalid`, then `n_valid`
//! entries of [`HASH_PTE_SIZE_64`] (16) bytes: entries `index ..
//! index + n_valid` get those bytes, the `n_invalid` entries after them are
//! cleared. The end marker is a chunk of all zeros (`0 | 0 | 0`), which is
//! therefore never a chunk. QEMU writes the same chunk format whether the
//! table lives in QEMU (TCG, the first pass sending the valid entries, later
//! passes the dirty ones, valid and invalid) or in KVM (chunks as the
//! kernel's HPT fd hands them out).
//!
//! [`HtabReader`] yields the items one at a time and leaves each chunk's
//! entries as a *payload* (read with [`HtabReader::read_payload`], copied with
//! [`HtabReader::copy_payload`], or skipped by the next
//! [`HtabReader::next_item`]); [`HtabReader::body_complete`] says when the
//! body ends, which the stream itself does not say. [`HtabWriter`] writes the
//! items back byte for byte.
//!
//! ```
//! use qemufile::htab::{HtabChunk, HtabItem, HtabReader, HtabWriter};
//! use qemufile::{QemuWrite, SliceReader};
//!
//! let w = HtabWriter::new();
//! let mut out = Vec::new();
//! w.write_item(&mut out, &HtabItem::Entries)?;
//! w.write_item(&mut out, &HtabItem::Chunk(HtabChunk { index: 8, n_valid: 1, n_invalid: 2 }))?;
//! out.put_bytes(&[0x80; 16])?; // one hash table entry
//! w.write_item(&mut out, &HtabItem::End)?;
//! assert_eq!(&out[..12], &[0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 2]);
//!
//! let mut input = SliceReader::new(&out);
//! let mut r = HtabReader::new();
//! let mut chunks = 0;
//! loop {
//!     if let HtabItem::Chunk(c) = r.next_item(&mut input)? {
//!         assert_eq!(r.payload_remaining(), c.payload_len()); // left to skip
//!         chunks += 1;
//!     }
//!     if r.body_complete() {
//!         break;
//!     }
//! }
//! assert_eq!(chunks, 1);
//! assert!(input.is_empty());
//! # Ok::<(), qemufile::Error>(())
//! ```

use crate::payload::{Payload, malformed, payload_methods};
use crate::{Error, ErrorKind, QemuRead, QemuWrite, Result};

/// The section's idstr.
pub const SECTION_NAME: &str = "spapr/htab";
/// The section's version id (the only one `htab_load` accepts).
pub const SECTION_VERSION: u32 = 1;
/// `HASH_PTE_SIZE_64`: bytes of one hash page table entry.
pub const HASH_PTE_SIZE_64: u64 = 16;
/// The header that says "no hash page table" (`-1` as be32).
pub const HEADER_NO_HPT: u32 = 0xffff_ffff;
/// The header that says "chunks follow".
pub const HEADER_ENTRIES: u32 = 0;
/// The smallest `htab_shift` of the architecture (256 KiB), as QEMU's sPAPR machine clamps it.
pub const MIN_HTAB_SHIFT: u32 = 18;
/// The largest `htab_shift` of the architecture (64 TiB).
pub const MAX_HTAB_SHIFT: u32 = 46;

/// A chunk header: `be32 index | be16 n_valid | be16 n_invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtabChunk {
    /// The first entry (PTE index, not a byte offset).
    pub index: u32,
    /// Entries whose 16 bytes follow the header.
    pub n_valid: u16,
    /// Entries after those that the loader clears (no bytes on the wire).
    pub n_invalid: u16,
}

impl HtabChunk {
    /// Bytes of entries that follow the header: `n_valid * 16`.
    pub fn payload_len(&self) -> u64 {
        u64::from(self.n_valid) * HASH_PTE_SIZE_64
    }

    /// One past the last entry the chunk touches: `index + n_valid + n_invalid`.
    pub fn end(&self) -> u64 {
        u64::from(self.index) + u64::from(self.n_valid) + u64::from(self.n_invalid)
    }

    /// True for `0 | 0 | 0`, which on the wire is the end marker, not a chunk.
    pub fn is_end_marker(&self) -> bool {
        self.index == 0 && self.n_valid == 0 && self.n_invalid == 0
    }
}

/// One item of a `spapr/htab` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtabItem {
    /// Header `-1`: the guest has no hash page table. The body ends here.
    NoHpt,
    /// A non-zero header other than `-1`: the table's size is
    /// `1 << shift` bytes. The body ends here.
    Size {
        /// `htab_shift` (18 to 46 for tables QEMU makes).
        shift: u32,
    },
    /// Header `0`: chunks follow, up to [`HtabItem::End`].
    Entries,
    /// A chunk; its [`payload_len`](HtabChunk::payload_len) bytes of entries
    /// follow as the payload.
    Chunk(HtabChunk),
    /// The end marker `0 | 0 | 0`. The body ends here.
    End,
}

/// What the reader knows of the table's size, to check chunk bounds as
/// `htab_load` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// No header with a size seen (reading a lone PART or END body): no check.
    Unknown,
    /// [`HtabItem::NoHpt`] seen: the loader has no table, every chunk is out of bounds.
    NoTable,
    /// [`HtabItem::Size`] seen.
    Shift(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Chunks,
}

/// Reads `spapr/htab` bodies one item at a time.
///
/// One reader is meant for all the sections of a stream (START, PARTs, END):
/// it remembers the table size from the START body and checks every chunk
/// against it, as QEMU's loader does ("bad index ... in htab stream").
#[derive(Debug, Clone)]
pub struct HtabReader {
    state: State,
    known: Known,
    payload: Payload,
}

impl Default for HtabReader {
    fn default() -> Self {
        Self::new()
    }
}

impl HtabReader {
    /// A reader expecting a body header, with no table size known yet.
    pub fn new() -> Self {
        HtabReader {
            state: State::Header,
            known: Known::Unknown,
            payload: Payload::default(),
        }
    }

    /// A reader for bodies of a table of `1 << shift` bytes (when the START
    /// body was read elsewhere).
    pub fn with_shift(shift: u32) -> Self {
        HtabReader {
            known: Known::Shift(shift),
            ..Self::new()
        }
    }

    /// The `htab_shift` of the last [`HtabItem::Size`], if one was read (or given).
    pub fn shift(&self) -> Option<u32> {
        match self.known {
            Known::Shift(s) => Some(s),
            _ => None,
        }
    }

    /// True between bodies: before the first item, and after an item that
    /// ends a body ([`NoHpt`](HtabItem::NoHpt), [`Size`](HtabItem::Size),
    /// [`End`](HtabItem::End)). The next [`next_item`](Self::next_item) then
    /// reads the header of a new body.
    pub fn body_complete(&self) -> bool {
        self.state == State::Header
    }

    payload_methods!();

    /// Reads the next item, first skipping any unread payload of the previous chunk.
    pub fn next_item<R: QemuRead>(&mut self, r: &mut R) -> Result<HtabItem> {
        self.payload.skip(r)?;
        match self.state {
            State::Header => {
                let header = r.get_be32()?;
                Ok(match header {
                    HEADER_NO_HPT => {
                        self.known = Known::NoTable;
                        HtabItem::NoHpt
                    }
                    HEADER_ENTRIES => {
                        self.state = State::Chunks;
                        HtabItem::Entries
                    }
                    shift => {
                        self.known = Known::Shift(shift);
                        HtabItem::Size { shift }
                    }
                })
            }
            State::Chunks => {
                let at = r.position();
                let chunk = HtabChunk {
                    index: r.get_be32()?,
                    n_valid: r.get_be16()?,
                    n_invalid: r.get_be16()?,
                };
                if chunk.is_end_marker() {
                    self.state = State::Header;
                    return Ok(HtabItem::End);
                }
                self.check_bounds(at, &chunk)?;
                self.payload.set(chunk.payload_len());
                Ok(HtabItem::Chunk(chunk))
            }
        }
    }

    fn check_bounds(&self, at: u64, c: &HtabChunk) -> Result<()> {
        let (slots, shift) = match self.known {
            Known::Unknown => return Ok(()),
            Known::NoTable => (0, 0),
            // 2^shift bytes / 16; for shifts of 68 and more no chunk can reach the end.
            Known::Shift(s) => (
                1u64.checked_shl(s)
                    .map_or(u64::MAX, |b| b / HASH_PTE_SIZE_64),
                s,
            ),
        };
        if c.end() > slots {
            let table = if self.known == Known::NoTable {
                "no hash page table (the body before said -1)".to_string()
            } else {
                format!("a hash page table of {slots} entries (htab_shift {shift})")
            };
            return Err(malformed(
                at,
                format!(
                    "spapr/htab chunk for entries {}..{} ({} valid + {} invalid) does not fit \
                     {table}; QEMU's htab_load() fails with \"bad index\"",
                    c.index,
                    c.end(),
                    c.n_valid,
                    c.n_invalid
                ),
            ));
        }
        Ok(())
    }
}

/// Writes `spapr/htab` body items.
#[derive(Debug, Clone, Default)]
pub struct HtabWriter {}

impl HtabWriter {
    /// A writer.
    pub fn new() -> Self {
        HtabWriter {}
    }

    /// Writes an item without its payload: after a [`HtabItem::Chunk`] write
    /// its [`payload_len`](HtabChunk::payload_len) bytes of entries. A
    /// `Size` of 0 or `-1` and an all-zero chunk are refused: on the wire
    /// they would read back as `Entries`, `NoHpt` and `End`.
    pub fn write_item<W: QemuWrite>(&self, w: &mut W, item: &HtabItem) -> Result<()> {
        let at = w.position();
        let bad = |m: &str| Error::new(at, ErrorKind::InvalidArgument(m.into()));
        match *item {
            HtabItem::NoHpt => w.put_be32(HEADER_NO_HPT),
            HtabItem::Entries => w.put_be32(HEADER_ENTRIES),
            HtabItem::Size { shift } => {
                if shift == HEADER_ENTRIES || shift == HEADER_NO_HPT {
                    return Err(bad(
                        "spapr/htab size header must not be 0 or 0xffffffff (they mean Entries and NoHpt)",
                    ));
                }
                w.put_be32(shift)
            }
            HtabItem::Chunk(c) => {
                if c.is_end_marker() {
                    return Err(bad(
                        "spapr/htab chunk 0 with no entries is the end marker; write HtabItem::End",
                    ));
                }
                w.put_be32(c.index)?;
                w.put_be16(c.n_valid)?;
                w.put_be16(c.n_invalid)
            }
            HtabItem::End => {
                w.put_be32(0)?;
                w.put_be16(0)?;
                w.put_be16(0)
            }
        }
    }
}
