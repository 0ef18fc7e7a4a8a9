//! The bodies of the s390x storage sections: `"s390-storage_attributes"`
//! (iterative, version 0, `hw/s390x/s390-stattrib.c`: the CMMA page usage
//! states) and `"s390-skeys"` (one FULL section, version 1,
//! `hw/s390x/s390-skeys.c`: the storage keys; not a VMState, so not in the
//! vmdesc either).
//!
//! Both are sequences of records that start with a be64 word
//! `address | flag`, the flag in the bits below the 4 KiB target page
//! (`TARGET_PAGE_BITS` is 12 on s390x). The flag bits must be exactly one of:
//!
//! | storage attributes | storage keys | value | what follows the word |
//! |---|---|---|---|
//! | [`FLAG_MORE`] | [`SKEYS_FLAG_SKEYS`] | 0x02 | be64 `count`, then `count` bytes: one attribute (or key) per page from page `address / 4096` on ([`StattribKind::Data`]) |
//! | [`FLAG_DONE`] | — | 0x08 | nothing: precopy of attributes finished, the loader synchronises ([`StattribKind::Done`]) |
//! | [`FLAG_EOS`] | [`SKEYS_FLAG_EOS`] | 0x01 | nothing: the end of this body ([`StattribKind::Eos`]) |
//! | [`FLAG_ERROR`] | [`SKEYS_FLAG_ERROR`] | 0x04 | nothing: the source could not read the data; QEMU's loader fails the migration here, so this too ends the body ([`StattribKind::Error`]) |
//!
//! QEMU sends, for the storage attributes: `EOS` in the START section; data
//! records and `EOS` in each PART; data, `DONE`, `EOS` in the END section.
//! For the storage keys: one data record per contiguous guest memory range,
//! then `EOS` (or `ERROR` if the keys could not be read).
//!
//! [`StattribReader`] yields the records and leaves the attribute bytes as a
//! payload, like [`crate::ram::RamReader`]; [`StattribReader::body_complete`]
//! says where the body ends. [`StattribWriter`] writes records back byte for
//! byte.
//!
//! ```
//! use qemufile::stattrib::{S390Body, StattribKind, StattribReader, StattribRecord, StattribWriter};
//! use qemufile::{QemuWrite, SliceReader};
//!
//! let w = StattribWriter::new(S390Body::StorageAttributes);
//! let mut out = Vec::new();
//! w.write_item(&mut out, &StattribRecord::data(0x5000, 3))?;
//! out.put_bytes(&[0, 1, 0])?;
//! w.write_item(&mut out, &StattribRecord::done())?;
//! w.write_item(&mut out, &StattribRecord::eos())?;
//! assert_eq!(&out[..8], &0x5002u64.to_be_bytes());
//!
//! let mut input = SliceReader::new(&out);
//! let mut r = StattribReader::new(S390Body::StorageAttributes);
//! let first = r.next_item(&mut input)?;
//! assert_eq!((first.gfn(), first.kind), (5, StattribKind::Data { count: 3 }));
//! let mut values = Vec::new();
//! r.read_payload_to_vec(&mut input, &mut values)?;
//! assert_eq!(values, [0, 1, 0]);
//! assert_eq!(r.next_item(&mut input)?.kind, StattribKind::Done);
//! assert_eq!(r.next_item(&mut input)?.kind, StattribKind::Eos);
//! assert!(r.body_complete() && input.is_empty());
//! # Ok::<(), qemufile::Error>(())
//! ```

use crate::payload::{Payload, malformed, payload_methods};
use crate::{Error, ErrorKind, QemuRead, QemuWrite, Result};

/// The storage attributes section's idstr.
pub const SECTION_NAME: &str = "s390-storage_attributes";
/// The storage attributes section's version id.
pub const SECTION_VERSION: u32 = 0;
/// The storage keys section's idstr.
pub const SKEYS_SECTION_NAME: &str = "s390-skeys";
/// The storage keys section's version id.
pub const SKEYS_SECTION_VERSION: u32 = 1;
/// The s390x target page size: flags live in the bits below it.
pub const PAGE_SIZE: u64 = 4096;
/// `STATTR_FLAG_EOS`.
pub const FLAG_EOS: u64 = 0x01;
/// `STATTR_FLAG_MORE`: attribute values follow.
pub const FLAG_MORE: u64 = 0x02;
/// `STATTR_FLAG_ERROR`: the loader fails ("Storage attributes data is incomplete").
pub const FLAG_ERROR: u64 = 0x04;
/// `STATTR_FLAG_DONE`: all precopy values sent.
pub const FLAG_DONE: u64 = 0x08;
/// `S390_SKEYS_SAVE_FLAG_EOS`.
pub const SKEYS_FLAG_EOS: u64 = 0x01;
/// `S390_SKEYS_SAVE_FLAG_SKEYS`: storage keys follow.
pub const SKEYS_FLAG_SKEYS: u64 = 0x02;
/// `S390_SKEYS_SAVE_FLAG_ERROR`: the loader fails ("Storage key data is incomplete").
pub const SKEYS_FLAG_ERROR: u64 = 0x04;
/// `CMMA_BLOCK_SIZE`: the most attribute values QEMU puts in one record.
pub const CMMA_BLOCK_SIZE: u64 = 512 * 1024;

/// Pages in a 64-bit address space: no record may reach beyond them.
const MAX_PAGES: u64 = 1 << 52;

/// Which of the two bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S390Body {
    /// `s390-storage_attributes` (flags EOS, MORE, ERROR, DONE).
    StorageAttributes,
    /// `s390-skeys` (flags EOS, SKEYS, ERROR).
    StorageKeys,
}

impl S390Body {
    /// The body of the section with this idstr, if it is one of the two.
    pub fn from_idstr(idstr: &[u8]) -> Option<Self> {
        match idstr {
            b"s390-storage_attributes" => Some(S390Body::StorageAttributes),
            b"s390-skeys" => Some(S390Body::StorageKeys),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            S390Body::StorageAttributes => SECTION_NAME,
            S390Body::StorageKeys => SKEYS_SECTION_NAME,
        }
    }

    fn flag(self, kind: StattribKind) -> Option<u64> {
        Some(match kind {
            StattribKind::Data { .. } => FLAG_MORE,
            StattribKind::Eos => FLAG_EOS,
            StattribKind::Error => FLAG_ERROR,
            StattribKind::Done if self == S390Body::StorageAttributes => FLAG_DONE,
            StattribKind::Done => return None,
        })
    }
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StattribKind {
    /// `MORE` / `SKEYS`: `count` bytes (one per page) follow as the payload.
    Data {
        /// Pages covered, and bytes that follow.
        count: u64,
    },
    /// `DONE` (storage attributes only).
    Done,
    /// `EOS`: the end of the body.
    Eos,
    /// `ERROR`: the end of the body, and a failed migration for QEMU's loader.
    Error,
}

/// A record: the be64 word split into address and flag, plus the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StattribRecord {
    /// The address part of the word (a multiple of [`PAGE_SIZE`]): the first
    /// page's address for data, normally 0 otherwise (kept to write it back).
    pub addr: u64,
    /// What the record is.
    pub kind: StattribKind,
}

impl StattribRecord {
    /// Data for `count` pages from address `addr` (write the `count` bytes after it).
    pub fn data(addr: u64, count: u64) -> Self {
        StattribRecord {
            addr,
            kind: StattribKind::Data { count },
        }
    }

    /// `DONE` (storage attributes only).
    pub fn done() -> Self {
        StattribRecord {
            addr: 0,
            kind: StattribKind::Done,
        }
    }

    /// `EOS`.
    pub fn eos() -> Self {
        StattribRecord {
            addr: 0,
            kind: StattribKind::Eos,
        }
    }

    /// `ERROR`.
    pub fn error() -> Self {
        StattribRecord {
            addr: 0,
            kind: StattribKind::Error,
        }
    }

    /// The first page's frame number (`addr / 4096`).
    pub fn gfn(&self) -> u64 {
        self.addr / PAGE_SIZE
    }

    /// Bytes of payload after the record.
    pub fn payload_len(&self) -> u64 {
        match self.kind {
            StattribKind::Data { count } => count,
            _ => 0,
        }
    }

    /// True if the body ends with this record (`EOS` or `ERROR`).
    pub fn ends_body(&self) -> bool {
        matches!(self.kind, StattribKind::Eos | StattribKind::Error)
    }
}

/// Reads storage attribute or storage key bodies one record at a time.
#[derive(Debug, Clone)]
pub struct StattribReader {
    body: S390Body,
    complete: bool,
    payload: Payload,
}

impl StattribReader {
    /// A reader for bodies of kind `body`.
    pub fn new(body: S390Body) -> Self {
        StattribReader {
            body,
            complete: true,
            payload: Payload::default(),
        }
    }

    /// Which body this reader reads.
    pub fn body(&self) -> S390Body {
        self.body
    }

    /// True between bodies: before the first record and after `EOS` or
    /// `ERROR`; the next record starts a new body.
    pub fn body_complete(&self) -> bool {
        self.complete
    }

    payload_methods!();

    /// Reads the next record, first skipping any unread payload of the previous one.
    pub fn next_item<R: QemuRead>(&mut self, r: &mut R) -> Result<StattribRecord> {
        self.payload.skip(r)?;
        let at = r.position();
        let word = r.get_be64()?;
        let flags = word & (PAGE_SIZE - 1);
        let addr = word & !(PAGE_SIZE - 1);
        let name = self.body.name();
        let kind = match (self.body, flags) {
            (_, FLAG_MORE) => {
                let count = r.get_be64()?;
                if count > MAX_PAGES - addr / PAGE_SIZE {
                    return Err(malformed(
                        at,
                        format!(
                            "{name} record for {count} pages from address {addr:#x} reaches \
                             beyond the 64-bit address space"
                        ),
                    ));
                }
                self.payload.set(count);
                StattribKind::Data { count }
            }
            (S390Body::StorageAttributes, FLAG_DONE) => StattribKind::Done,
            (_, FLAG_EOS) => StattribKind::Eos,
            (_, FLAG_ERROR) => StattribKind::Error,
            _ => {
                let expected = match self.body {
                    S390Body::StorageAttributes => "0x1 EOS, 0x2 MORE, 0x4 ERROR or 0x8 DONE",
                    S390Body::StorageKeys => "0x1 EOS, 0x2 SKEYS or 0x4 ERROR",
                };
                return Err(malformed(
                    at,
                    format!(
                        "{name} word {word:#018x} has flag bits {flags:#x}, which is not exactly \
                         one of {expected}; QEMU's loader fails with \"Unexpected ... flag data\""
                    ),
                ));
            }
        };
        let rec = StattribRecord { addr, kind };
        self.complete = rec.ends_body();
        Ok(rec)
    }
}

/// Writes storage attribute or storage key records.
#[derive(Debug, Clone)]
pub struct StattribWriter {
    body: S390Body,
}

impl StattribWriter {
    /// A writer for bodies of kind `body`.
    pub fn new(body: S390Body) -> Self {
        StattribWriter { body }
    }

    /// Writes a record without its payload: after a data record write its
    /// `count` bytes. The address must be page aligned; `DONE` is refused
    /// for storage keys, which have no such flag.
    pub fn write_item<W: QemuWrite>(&self, w: &mut W, rec: &StattribRecord) -> Result<()> {
        let at = w.position();
        let bad = |m: String| Error::new(at, ErrorKind::InvalidArgument(m));
        if rec.addr % PAGE_SIZE != 0 {
            return Err(bad(format!(
                "{} record address {:#x} is not a multiple of the 4 KiB page",
                self.body.name(),
                rec.addr
            )));
        }
        let Some(flag) = self.body.flag(rec.kind) else {
            return Err(bad(format!("{} has no DONE record", self.body.name())));
        };
        w.put_be64(rec.addr | flag)?;
        if let StattribKind::Data { count } = rec.kind {
            w.put_be64(count)?;
        }
        Ok(())
    }
}
