//! The body of the `"ram"` section (version 4, `migration/ram.c`).
//!
//! The body is a sequence of records, each starting with a be64 word
//! `offset | flags` (flags in the bits below the target page size):
//!
//! | flag | value | what follows the word |
//! |---|---|---|
//! | [`FLAG_MEM_SIZE`] | 0x04 | the word's offset part is the total RAM size; then the block list: per block a counted idstr, be64 length, and the [extra fields](RamBlock) of some configurations, until the lengths add up to the total |
//! | [`FLAG_ZERO`] | 0x02 | block idstr unless [`FLAG_CONTINUE`], 1 fill byte (0) |
//! | [`FLAG_PAGE`] | 0x08 | block idstr unless [`FLAG_CONTINUE`], one target page of data |
//! | [`FLAG_XBZRLE`] | 0x40 | block idstr unless [`FLAG_CONTINUE`], `u8 encoding (1)`, `be16 len`, `len` bytes of XBZRLE data |
//! | [`FLAG_HOOK`] | 0x80 | nothing (RDMA hook) |
//! | [`FLAG_MULTIFD_FLUSH`] | 0x200 | nothing |
//! | [`FLAG_EOS`] | 0x10 | nothing: the end of this section's RAM body |
//!
//! With the `mapped-ram` capability, each block entry carries a
//! [`MappedRamHeader`] and is followed by a file region holding the block's
//! dirty bitmap and, at a 1 MiB aligned offset, all its pages at fixed
//! offsets; the stream continues after the region.
//!
//! [`RamReader`] yields the records one at a time ([`RamItem`]) and leaves the
//! data (page bytes, XBZRLE data, mapped-ram regions) as a *payload* that the
//! caller reads with [`RamReader::read_payload`] or leaves to be skipped
//! without copying (through [`QemuRead::skip`]) by the next
//! [`RamReader::next_item`]. [`RamWriter`] writes the same items back; a RAM
//! body read and re-written (payloads copied) is byte-identical.
//!
//! ```
//! use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamRecord, RamWriter, RamBlock};
//! use qemufile::{QemuWrite, SliceReader};
//!
//! let cfg = RamConfig::new(4096);
//! let w = RamWriter::new(cfg.clone());
//! let mut out = Vec::new();
//! w.write_item(&mut out, &RamItem::Record(RamRecord::mem_size(0x2000)))?;
//! w.write_item(&mut out, &RamItem::Block(RamBlock::new("pc.ram", 0x2000)?))?;
//! w.write_item(&mut out, &RamItem::Record(RamRecord::zero(0, Some("pc.ram".try_into()?))))?;
//! w.write_item(&mut out, &RamItem::Record(RamRecord::page(0x1000, None)))?;
//! out.put_bytes(&[0xaa; 4096])?;
//! w.write_item(&mut out, &RamItem::Record(RamRecord::eos()))?;
//!
//! let mut input = SliceReader::new(&out);
//! let mut r = RamReader::new(cfg);
//! let mut pages = 0;
//! loop {
//!     match r.next_item(&mut input)? {
//!         RamItem::Record(RamRecord { kind: RamKind::Page, .. }) => pages += 1, // data skipped
//!         RamItem::Record(RamRecord { kind: RamKind::Eos, .. }) => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(pages, 1);
//! assert!(input.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::payload::{Payload, payload_methods};
use crate::stream::{Configuration, IdStr};
use crate::{Error, ErrorKind, QemuRead, QemuWrite, Result};

/// `RAM_SAVE_FLAG_ZERO`: a page filled with one byte (always 0 today).
pub const FLAG_ZERO: u64 = 0x02;
/// `RAM_SAVE_FLAG_MEM_SIZE`: total RAM size and the block list.
pub const FLAG_MEM_SIZE: u64 = 0x04;
/// `RAM_SAVE_FLAG_PAGE`: a whole page of data.
pub const FLAG_PAGE: u64 = 0x08;
/// `RAM_SAVE_FLAG_EOS`: end of the RAM body of this section.
pub const FLAG_EOS: u64 = 0x10;
/// `RAM_SAVE_FLAG_CONTINUE`: same block as the previous page record (no idstr follows).
pub const FLAG_CONTINUE: u64 = 0x20;
/// `RAM_SAVE_FLAG_XBZRLE`: an XBZRLE-encoded page.
pub const FLAG_XBZRLE: u64 = 0x40;
/// `RAM_SAVE_FLAG_HOOK`: RDMA registration hook, no data in the stream.
pub const FLAG_HOOK: u64 = 0x80;
/// `RAM_SAVE_FLAG_COMPRESS_PAGE`: zlib-compressed page; removed from QEMU (9.1) and refused.
pub const FLAG_COMPRESS_PAGE: u64 = 0x100;
/// `RAM_SAVE_FLAG_MULTIFD_FLUSH`: multifd channels synchronise here.
pub const FLAG_MULTIFD_FLUSH: u64 = 0x200;
/// `ENCODING_FLAG_XBZRLE`: the only XBZRLE encoding byte.
pub const ENCODING_FLAG_XBZRLE: u8 = 0x01;
/// The `"ram"` section's version id.
pub const SECTION_VERSION: u32 = 4;
/// `MAPPED_RAM_HDR_VERSION`: the newest mapped-ram header version.
pub const MAPPED_RAM_HDR_VERSION: u32 = 1;
/// `MAPPED_RAM_FILE_OFFSET_ALIGNMENT`: page regions start at 1 MiB multiples.
pub const MAPPED_RAM_FILE_OFFSET_ALIGNMENT: u64 = 0x10_0000;
/// Size of the packed `MappedRamHeader` on the wire.
pub const MAPPED_RAM_HEADER_SIZE: u64 = 4 + 8 + 8 + 8;

/// Which blocks carry the postcopy host page size field (be64 after the length).
///
/// QEMU writes it when postcopy-ram is on and the block's page size differs
/// from the host page size (e.g. hugetlbfs-backed RAM); that is not visible in
/// the stream, so the reader must be told.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlockPageSizes {
    /// No block has it (precopy, or every block uses host pages).
    #[default]
    None,
    /// Every block has it.
    All,
    /// The named blocks have it.
    Blocks(Vec<IdStr>),
}

impl BlockPageSizes {
    fn applies(&self, name: &IdStr) -> bool {
        match self {
            BlockPageSizes::None => false,
            BlockPageSizes::All => true,
            BlockPageSizes::Blocks(v) => v.contains(name),
        }
    }
}

/// What the RAM body format depends on, beyond the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamConfig {
    /// The target page size (4096 on x86 and ARM; `1 << target-page-bits`).
    pub page_size: u64,
    /// Capability `x-ignore-shared`: each block entry carries be64 `mr->addr`.
    pub ignore_shared: bool,
    /// Capability `mapped-ram`: each block entry carries a [`MappedRamHeader`]
    /// and its file region.
    pub mapped_ram: bool,
    /// Blocks with the postcopy page size field.
    pub postcopy_page_sizes: BlockPageSizes,
    /// Largest mapped-ram region accepted (bounds untrusted lengths; default 1 TiB + 1 GiB).
    pub max_mapped_region: u64,
    /// Most entries one block list may have
    /// ([`Limits::max_ram_blocks`](crate::Limits::max_ram_blocks)): entries of
    /// length 0 do not count down the list's total, so only this ends a list
    /// made of them.
    pub max_block_entries: usize,
}

impl RamConfig {
    /// Plain precopy with `page_size` (a power of two, at least 1024).
    pub fn new(page_size: u64) -> Self {
        RamConfig {
            page_size,
            ignore_shared: false,
            mapped_ram: false,
            postcopy_page_sizes: BlockPageSizes::None,
            max_mapped_region: (1 << 40) + (1 << 30),
            max_block_entries: crate::Limits::DEFAULT.max_ram_blocks,
        }
    }

    /// The configuration a stream's configuration section implies: page size
    /// from `target-page-bits` (else `default_page_size`), `mapped-ram` and
    /// `x-ignore-shared` from the capabilities.
    pub fn from_configuration(config: Option<&Configuration>, default_page_size: u64) -> Self {
        let mut c = RamConfig::new(default_page_size);
        if let Some(cfg) = config {
            c.page_size = cfg.page_size(default_page_size);
            c.mapped_ram = cfg.has_capability("mapped-ram");
            c.ignore_shared = cfg.has_capability("x-ignore-shared");
        }
        c
    }

    fn flag_mask(&self) -> u64 {
        self.page_size.wrapping_sub(1)
    }

    fn check(&self, at: u64) -> Result<()> {
        if !self.page_size.is_power_of_two() || self.page_size < 1024 {
            return Err(Error::new(
                at,
                ErrorKind::InvalidArgument(format!(
                    "RAM page size {} is not a power of two >= 1024",
                    self.page_size
                )),
            ));
        }
        Ok(())
    }
}

/// The per-block mapped-ram header (`MappedRamHeader`, packed, big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedRamHeader {
    /// Header version (1).
    pub version: u32,
    /// The target page size, which sizes the bitmap.
    pub page_size: u64,
    /// File offset of the block's dirty bitmap.
    pub bitmap_offset: u64,
    /// File offset of the block's pages (page `i` at `pages_offset + i * page_size`).
    pub pages_offset: u64,
}

impl MappedRamHeader {
    /// The header QEMU writes for a block of `length` bytes whose header
    /// starts at file offset `header_offset`: the bitmap right after the
    /// header, the pages at the next 1 MiB boundary after the bitmap.
    pub fn for_block(header_offset: u64, length: u64, page_size: u64) -> Self {
        let bitmap_offset = header_offset + MAPPED_RAM_HEADER_SIZE;
        let bitmap_len = bitmap_len(length, page_size);
        let pages_offset =
            (bitmap_offset + bitmap_len).next_multiple_of(MAPPED_RAM_FILE_OFFSET_ALIGNMENT);
        MappedRamHeader {
            version: MAPPED_RAM_HDR_VERSION,
            page_size,
            bitmap_offset,
            pages_offset,
        }
    }

    /// Bytes of the bitmap of a block of `length` bytes: one bit per page,
    /// rounded up to 64-bit words (`BITS_TO_LONGS(pages) * sizeof(long)` on a
    /// 64-bit host). Bit `i` is bit `i % 8` of byte `i / 8` (little-endian hosts).
    pub fn bitmap_len(&self, length: u64) -> u64 {
        bitmap_len(length, self.page_size)
    }

    /// File offset just after the block's region: `pages_offset + length`,
    /// where the stream continues.
    pub fn region_end(&self, length: u64) -> Option<u64> {
        self.pages_offset.checked_add(length)
    }
}

fn bitmap_len(length: u64, page_size: u64) -> u64 {
    let pages = length.checked_div(page_size).unwrap_or(0);
    pages.div_ceil(64) * 8
}

/// One entry of the block list after `MEM_SIZE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamBlock {
    /// The block's idstr (e.g. `"pc.ram"`, `"/rom@etc/acpi/tables"`).
    pub name: IdStr,
    /// The block's used length in bytes.
    pub length: u64,
    /// The postcopy host page size field, if this block has it ([`BlockPageSizes`]).
    pub page_size: Option<u64>,
    /// The memory region address, with `x-ignore-shared`.
    pub mr_addr: Option<u64>,
    /// The mapped-ram header, with `mapped-ram`. The block's file region
    /// (bitmap, padding, pages) follows as the payload.
    pub mapped_ram: Option<MappedRamHeader>,
}

impl RamBlock {
    /// A plain block entry.
    pub fn new(name: &str, length: u64) -> Result<Self, ErrorKind> {
        Ok(RamBlock {
            name: IdStr::try_from(name)?,
            length,
            page_size: None,
            mr_addr: None,
            mapped_ram: None,
        })
    }
}

/// What a RAM record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamKind {
    /// `MEM_SIZE`: the record's `addr` is the total RAM size; block entries follow.
    MemSize,
    /// `ZERO`: a page filled with `fill`.
    Zero {
        /// The fill byte (QEMU only sends 0).
        fill: u8,
    },
    /// `PAGE`: one page of data follows as payload.
    Page,
    /// `XBZRLE`: `len` bytes of XBZRLE data follow as payload.
    Xbzrle {
        /// The encoding byte ([`ENCODING_FLAG_XBZRLE`]).
        encoding: u8,
        /// Length of the encoded data.
        len: u16,
    },
    /// `MULTIFD_FLUSH`.
    MultifdFlush,
    /// `HOOK`.
    Hook,
    /// `EOS`: the end of this section's RAM body.
    Eos,
}

/// A RAM record: the be64 word split into `addr` and `flags`, the block name
/// when on the wire, and the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamRecord {
    /// The offset part of the word (page aligned): the page's offset in its
    /// block, or the total size for `MEM_SIZE`.
    pub addr: u64,
    /// The flag bits of the word exactly as on the wire (including [`FLAG_CONTINUE`]).
    pub flags: u64,
    /// The block idstr, present on the wire for ZERO/PAGE/XBZRLE without CONTINUE.
    pub block: Option<IdStr>,
    /// What the record is.
    pub kind: RamKind,
}

impl RamRecord {
    fn simple(flags: u64, kind: RamKind) -> Self {
        RamRecord {
            addr: 0,
            flags,
            block: None,
            kind,
        }
    }

    fn paged(addr: u64, flag: u64, block: Option<IdStr>, kind: RamKind) -> Self {
        let flags = if block.is_some() {
            flag
        } else {
            flag | FLAG_CONTINUE
        };
        RamRecord {
            addr,
            flags,
            block,
            kind,
        }
    }

    /// `MEM_SIZE` with the total RAM size (the block entries follow).
    pub fn mem_size(total: u64) -> Self {
        RamRecord {
            addr: total,
            ..Self::simple(FLAG_MEM_SIZE, RamKind::MemSize)
        }
    }

    /// A zero page at `addr`; `block` names the block, `None` means CONTINUE.
    pub fn zero(addr: u64, block: Option<IdStr>) -> Self {
        Self::paged(addr, FLAG_ZERO, block, RamKind::Zero { fill: 0 })
    }

    /// A data page at `addr` (write the page bytes after it); `None` means CONTINUE.
    pub fn page(addr: u64, block: Option<IdStr>) -> Self {
        Self::paged(addr, FLAG_PAGE, block, RamKind::Page)
    }

    /// An XBZRLE page at `addr` with `len` bytes of data (written after it).
    pub fn xbzrle(addr: u64, block: Option<IdStr>, len: u16) -> Self {
        Self::paged(
            addr,
            FLAG_XBZRLE,
            block,
            RamKind::Xbzrle {
                encoding: ENCODING_FLAG_XBZRLE,
                len,
            },
        )
    }

    /// `EOS`.
    pub fn eos() -> Self {
        Self::simple(FLAG_EOS, RamKind::Eos)
    }

    /// `MULTIFD_FLUSH`.
    pub fn multifd_flush() -> Self {
        Self::simple(FLAG_MULTIFD_FLUSH, RamKind::MultifdFlush)
    }

    /// `HOOK`.
    pub fn hook() -> Self {
        Self::simple(FLAG_HOOK, RamKind::Hook)
    }

    /// Bytes of payload that follow this record on the wire (page or XBZRLE data).
    pub fn payload_len(&self, page_size: u64) -> u64 {
        match self.kind {
            RamKind::Page => page_size,
            RamKind::Xbzrle { len, .. } => len.into(),
            _ => 0,
        }
    }
}

/// One item of a RAM body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamItem {
    /// A record (`be64 addr | flags` and what belongs to it).
    Record(RamRecord),
    /// A block-list entry (after `MEM_SIZE`).
    Block(RamBlock),
}

/// Where a mapped-ram block's region lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedRegion {
    /// File offset of the bitmap.
    pub bitmap_offset: u64,
    /// Bitmap length in bytes.
    pub bitmap_len: u64,
    /// File offset of the pages.
    pub pages_offset: u64,
    /// Region end (`pages_offset + block length`).
    pub end: u64,
}

/// Reads a RAM body one item at a time.
///
/// One reader is meant for all the `ram` sections of a stream (START, PARTs,
/// END): a [`FLAG_CONTINUE`] record refers to the block last named, possibly
/// in an earlier section, as in QEMU.
#[derive(Debug, Clone)]
pub struct RamReader {
    config: RamConfig,
    last_block: Option<IdStr>,
    payload: Payload,
    blocks_left: u64,
    /// Entries read of the current block list.
    block_entries: usize,
    region: Option<MappedRegion>,
}

impl RamReader {
    /// A reader for bodies in `config`'s format.
    pub fn new(config: RamConfig) -> Self {
        RamReader {
            config,
            last_block: None,
            payload: Payload::default(),
            blocks_left: 0,
            block_entries: 0,
            region: None,
        }
    }

    /// The format configuration.
    pub fn config(&self) -> &RamConfig {
        &self.config
    }

    /// The block last named by a record (what CONTINUE refers to).
    pub fn last_block(&self) -> Option<&IdStr> {
        self.last_block.as_ref()
    }

    /// For a mapped-ram block entry just read: where its region lies.
    pub fn mapped_region(&self) -> Option<MappedRegion> {
        self.region
    }

    // The payload of the last item: page data, XBZRLE data, or a mapped-ram
    // region.
    payload_methods!();

    /// Reads the next item, first skipping any unread payload of the previous one.
    pub fn next_item<R: QemuRead>(&mut self, r: &mut R) -> Result<RamItem> {
        self.skip_payload(r)?;
        self.region = None;
        let at = r.position();
        self.config.check(at)?;
        if self.blocks_left > 0 {
            return self.read_block(r, at).map(RamItem::Block);
        }
        let word = r.get_be64()?;
        let mask = self.config.flag_mask();
        let flags = word & mask;
        let addr = word & !mask;
        if flags & FLAG_COMPRESS_PAGE != 0 {
            return Err(Error::new(at, ErrorKind::RamCompressedPage));
        }
        let mut block = None;
        if flags & (FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE) != 0 {
            if flags & FLAG_CONTINUE != 0 {
                if self.last_block.is_none() {
                    return Err(Error::new(at, ErrorKind::RamContinueWithoutBlock));
                }
            } else {
                let name = IdStr::read_allow_empty(r)?;
                self.last_block = Some(name.clone());
                block = Some(name);
            }
        }
        let kind = match flags & !FLAG_CONTINUE {
            FLAG_MEM_SIZE => {
                self.blocks_left = addr;
                self.block_entries = 0;
                RamKind::MemSize
            }
            FLAG_ZERO => RamKind::Zero { fill: r.get_u8()? },
            FLAG_PAGE => {
                self.payload.set(self.config.page_size);
                RamKind::Page
            }
            FLAG_XBZRLE => {
                let encoding = r.get_u8()?;
                let len = r.get_be16()?;
                if encoding != ENCODING_FLAG_XBZRLE {
                    return Err(Error::new(at, ErrorKind::XbzrleEncoding(encoding)));
                }
                if u64::from(len) > self.config.page_size {
                    return Err(Error::new(at, ErrorKind::XbzrleLength(len)));
                }
                self.payload.set(len.into());
                RamKind::Xbzrle { encoding, len }
            }
            FLAG_MULTIFD_FLUSH => RamKind::MultifdFlush,
            FLAG_HOOK => RamKind::Hook,
            FLAG_EOS => RamKind::Eos,
            _ => return Err(Error::new(at, ErrorKind::RamFlags(flags))),
        };
        Ok(RamItem::Record(RamRecord {
            addr,
            flags,
            block,
            kind,
        }))
    }

    fn read_block<R: QemuRead>(&mut self, r: &mut R, at: u64) -> Result<RamBlock> {
        self.block_entries += 1;
        let (entries, allowed) = (self.block_entries as u64, self.config.max_block_entries);
        crate::Limit::MaxRamBlocks
            .check(entries, allowed as u64, || "the RAM block list".to_owned())
            .map_err(|e| Error::new(at, e.into()))?;
        let name = IdStr::read_allow_empty(r)?;
        let length = r.get_be64()?;
        if length > self.blocks_left {
            return Err(Error::new(
                at,
                ErrorKind::RamBlockList {
                    block: name.to_string_lossy(),
                    length,
                    remaining: self.blocks_left,
                },
            ));
        }
        let page_size = if self.config.postcopy_page_sizes.applies(&name) {
            Some(r.get_be64()?)
        } else {
            None
        };
        let mr_addr = if self.config.ignore_shared {
            Some(r.get_be64()?)
        } else {
            None
        };
        let mapped_ram = if self.config.mapped_ram {
            let hat = r.position();
            let h = MappedRamHeader {
                version: r.get_be32()?,
                page_size: r.get_be64()?,
                bitmap_offset: r.get_be64()?,
                pages_offset: r.get_be64()?,
            };
            self.check_mapped(&name, length, &h, hat, r.position())?;
            Some(h)
        } else {
            None
        };
        self.blocks_left -= length;
        Ok(RamBlock {
            name,
            length,
            page_size,
            mr_addr,
            mapped_ram,
        })
    }

    fn check_mapped(
        &mut self,
        name: &IdStr,
        length: u64,
        h: &MappedRamHeader,
        at: u64,
        pos: u64,
    ) -> Result<()> {
        let layout = |reason| {
            Error::new(
                at,
                ErrorKind::MappedRamLayout {
                    block: name.to_string_lossy(),
                    reason,
                },
            )
        };
        if h.version > MAPPED_RAM_HDR_VERSION {
            return Err(Error::new(at, ErrorKind::MappedRamVersion(h.version)));
        }
        if h.pages_offset % self.config.page_size != 0 {
            return Err(Error::new(
                at,
                ErrorKind::MappedRamAlignment(name.to_string_lossy()),
            ));
        }
        if h.page_size == 0 {
            return Err(layout("page size 0"));
        }
        let bitmap_len = h.bitmap_len(length);
        let Some(end) = h.region_end(length) else {
            return Err(layout("region end overflows"));
        };
        if h.bitmap_offset < pos {
            return Err(layout("bitmap offset behind the read position"));
        }
        match h.bitmap_offset.checked_add(bitmap_len) {
            Some(e) if e <= h.pages_offset => {}
            _ => return Err(layout("bitmap overlaps the pages")),
        }
        if end - pos > self.config.max_mapped_region {
            return Err(Error::new(
                at,
                ErrorKind::TooLarge {
                    what: "mapped-ram region",
                    len: end - pos,
                    max: self.config.max_mapped_region,
                },
            ));
        }
        self.payload.set(end - pos);
        self.region = Some(MappedRegion {
            bitmap_offset: h.bitmap_offset,
            bitmap_len,
            pages_offset: h.pages_offset,
            end,
        });
        Ok(())
    }
}

/// Writes RAM body items.
#[derive(Debug, Clone)]
pub struct RamWriter {
    config: RamConfig,
}

impl RamWriter {
    /// A writer for bodies in `config`'s format.
    pub fn new(config: RamConfig) -> Self {
        RamWriter { config }
    }

    /// Writes an item without its payload: after a PAGE or XBZRLE record
    /// write the data, after a mapped-ram block its region (for example with
    /// [`write_mapped_region`]). The fields present in a [`RamBlock`] must
    /// match the configuration.
    pub fn write_item<W: QemuWrite>(&self, w: &mut W, item: &RamItem) -> Result<()> {
        let at = w.position();
        let bad = |m: String| Error::new(at, ErrorKind::InvalidArgument(m));
        self.config.check(at)?;
        match item {
            RamItem::Block(b) => {
                if b.page_size.is_some() != self.config.postcopy_page_sizes.applies(&b.name)
                    || b.mr_addr.is_some() != self.config.ignore_shared
                    || b.mapped_ram.is_some() != self.config.mapped_ram
                {
                    return Err(bad(format!(
                        "RAM block {} does not match the RAM configuration",
                        b.name
                    )));
                }
                w.put_counted_string(b.name.as_bytes())?;
                w.put_be64(b.length)?;
                if let Some(p) = b.page_size {
                    w.put_be64(p)?;
                }
                if let Some(a) = b.mr_addr {
                    w.put_be64(a)?;
                }
                if let Some(h) = &b.mapped_ram {
                    w.put_be32(h.version)?;
                    w.put_be64(h.page_size)?;
                    w.put_be64(h.bitmap_offset)?;
                    w.put_be64(h.pages_offset)?;
                }
            }
            RamItem::Record(rec) => {
                let mask = self.config.flag_mask();
                if rec.addr & mask != 0 || rec.flags & !mask != 0 {
                    return Err(bad(format!(
                        "RAM record addr {:#x} / flags {:#x} do not fit page size {}",
                        rec.addr, rec.flags, self.config.page_size
                    )));
                }
                let named = rec.flags & (FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE) != 0
                    && rec.flags & FLAG_CONTINUE == 0;
                if named != rec.block.is_some() {
                    return Err(bad(
                        "RAM record block name present iff ZERO/PAGE/XBZRLE without CONTINUE"
                            .into(),
                    ));
                }
                w.put_be64(rec.addr | rec.flags)?;
                if let Some(b) = &rec.block {
                    w.put_counted_string(b.as_bytes())?;
                }
                match rec.kind {
                    RamKind::Zero { fill } => w.put_u8(fill)?,
                    RamKind::Xbzrle { encoding, len } => {
                        w.put_u8(encoding)?;
                        w.put_be16(len)?;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Writes a mapped-ram block region as QEMU's file holds it: zeros up to the
/// bitmap, the bitmap, zeros up to the pages, then for each page its data if
/// its bit is set, else zeros (a hole in QEMU's sparse file). `page(i, buf)`
/// fills page `i`. `w.position()` must be the file offset right after the
/// block's header.
pub fn write_mapped_region<W: QemuWrite>(
    w: &mut W,
    header: &MappedRamHeader,
    length: u64,
    bitmap: &[u8],
    mut page: impl FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<()> {
    let at = w.position();
    let bad = |m: &str| Error::new(at, ErrorKind::InvalidArgument(m.into()));
    let ps = header.page_size;
    if ps == 0 || ps > 1 << 24 || bitmap.len() as u64 != header.bitmap_len(length) {
        return Err(bad("mapped-ram page size or bitmap length"));
    }
    let gap = header
        .bitmap_offset
        .checked_sub(at)
        .ok_or_else(|| bad("bitmap offset behind the write position"))?;
    put_zeros64(w, gap)?;
    w.put_bytes(bitmap)?;
    let pad = header
        .pages_offset
        .checked_sub(w.position())
        .ok_or_else(|| bad("pages offset behind the bitmap"))?;
    put_zeros64(w, pad)?;
    let mut buf = vec![0u8; ps as usize];
    let pages = length / ps;
    for i in 0..pages {
        let set = bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0;
        if set {
            page(i, &mut buf)?;
            w.put_bytes(&buf)?;
        } else {
            put_zeros64(w, ps)?;
        }
    }
    put_zeros64(w, length - pages * ps)
}

fn put_zeros64<W: QemuWrite>(w: &mut W, mut n: u64) -> Result<()> {
    while n > 0 {
        let c = n.min(1 << 20);
        w.put_zeros(c as usize)?;
        n -= c;
    }
    Ok(())
}
