//! The stream engine: a whole QEMU migration stream as events, with every
//! device section decoded by the one walk.
//!
//! [`StreamDecoder`] reads the framing with [`qemufile::stream`] and hands out
//! [`Event`]s: sections, RAM records (their page data left in the input for
//! the caller to read, copy or skip), commands and EOF with the vmdesc. After
//! [`Event::Section`] the caller chooses what becomes of the body:
//!
//! * [`StreamDecoder::decode_section`]: a [`DynamicState`] described by the
//!   stream's own vmdesc (a [`StreamSchema`]);
//! * [`StreamDecoder::load_section`]: loaded into a typed
//!   `#[derive(VmState)]` model ("the `hpet` instance 0 of this stream, in my
//!   `Hpet`"), transactionally;
//! * [`StreamDecoder::skip_section`]: walked and dropped.
//!
//! [`StreamEncoder`] writes the same events back. `vmstate reencode` is a
//! decoder feeding an encoder: device sections are decoded into values and
//! encoded again by the output visitor, RAM payloads are copied.
//!
//! ```no_run
//! use vmstate_core::dynamic::DescriptionArena;
//! use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};
//!
//! let bytes = std::fs::read("x86-pc-min.mig")?;
//! let arena = DescriptionArena::new();
//! let schema = StreamSchema::from_stream(&arena, &bytes)?;
//! let mut dec = StreamDecoder::open(qemufile::SliceReader::new(&bytes), schema.as_ref())?;
//! while let Some(event) = dec.next_event()? {
//!     if let Event::Section(header) = event {
//!         let mut state = dec.decode_section()?;
//!         print!("{}", vmstate_core::dynamic::pretty_print(&mut state)?);
//!         let _ = header;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use qemufile::dirty_bitmap::{DirtyBitmapReader, DirtyBitmapRecord, DirtyBitmapWriter};
use qemufile::htab::{HtabItem, HtabReader, HtabWriter};
use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamRecord, RamWriter};
use qemufile::stattrib::{S390Body, StattribReader, StattribRecord, StattribWriter};
use qemufile::stream::{
    Command, Configuration, Item, SectionHeader, SectionKind, StreamOptions, StreamReader,
    StreamWriter, Vmdesc,
};
use qemufile::{QemuRead, QemuWrite};
use serde_json::Value as Json;

use crate::dynamic::{DescriptionArena, DynamicState, VmdescDocument};
use crate::state::owned;
use crate::trace::{STREAM_TARGET, Traced};
use crate::{
    Description, Error, InputVisitor, Limit, Limits, PathSegment, Result, VmState, visit_struct_at,
};
use serde::Deserialize;

/// One device of a stream's vmdesc.
#[derive(Debug, Clone)]
pub struct DeviceDescription<'d> {
    /// The section's idstr (`"0000:00:01.0/PIIX3"`).
    pub idstr: String,
    /// The instance id.
    pub instance_id: u32,
    /// The body's description.
    pub description: &'d Description<'d>,
    /// The vmdesc gives the version the body was saved at (sections saved
    /// without a VMStateDescription, by a legacy `save_state` handler, have
    /// none: their body is read whatever the header's version).
    pub versioned: bool,
}

/// A stream's vmdesc, parsed once: the run-time description of every device
/// section, by idstr and instance id.
#[derive(Debug)]
pub struct StreamSchema<'d> {
    devices: Vec<DeviceDescription<'d>>,
    index: HashMap<(String, u32), usize>,
    configuration: Option<&'d Description<'d>>,
    page_size: Option<u64>,
}

impl<'d> StreamSchema<'d> {
    /// Parses a vmdesc JSON text (the bytes after `06 | be32 len`, or a saved
    /// `vmstate desc` file).
    pub fn parse(arena: &'d DescriptionArena, text: &[u8]) -> Result<Self> {
        Self::from_document(arena, &VmdescDocument::parse(text)?)
    }

    /// The schema of a parsed vmdesc document (as JSON).
    pub fn from_json(arena: &'d DescriptionArena, json: &Json) -> Result<Self> {
        let document = VmdescDocument::deserialize(json).map_err(|e| {
            Error::new(crate::ErrorKind::InvalidDescription(format!("vmdesc: {e}")))
        })?;
        Self::from_document(arena, &document)
    }

    /// The schema of a parsed vmdesc document.
    pub fn from_document(
        arena: &'d DescriptionArena,
        document: &VmdescDocument<'_>,
    ) -> Result<Self> {
        let bad = |m: String| Error::new(crate::ErrorKind::InvalidDescription(m));
        let list = document.devices.as_deref().unwrap_or(&[]);
        let mut devices = Vec::with_capacity(list.len());
        let mut index = HashMap::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let idstr = entry
                .name
                .as_deref()
                .ok_or_else(|| bad(format!("vmdesc: devices[{i}] has no \"name\" string")))?;
            let instance_id = entry
                .instance_id
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("vmdesc: device {idstr} has no u32 \"instance_id\"")))?;
            let description = arena.section_from(entry).map_err(|e| match e.kind() {
                crate::ErrorKind::Limit(_) => e.in_section(idstr, instance_id),
                _ => bad(format!(
                    "vmdesc: device {idstr} instance {instance_id}: {e}"
                )),
            })?;
            // A repeated device: the last entry describes it, as in the
            // analyzer (a dict by idstr and instance).
            index.insert((idstr.to_owned(), instance_id), devices.len());
            devices.push(DeviceDescription {
                idstr: idstr.to_owned(),
                instance_id,
                description,
                versioned: entry.version.is_some(),
            });
        }
        let configuration = match &document.configuration {
            Some(c) => Some(arena.section_from(c)?),
            None => None,
        };
        Ok(StreamSchema {
            devices,
            index,
            configuration,
            page_size: document.page_size,
        })
    }

    /// The schema of a stream's own vmdesc, found at its end; `None` when the
    /// stream has none (suppressed, truncated, a failed migration).
    pub fn from_stream(arena: &'d DescriptionArena, stream: &[u8]) -> Result<Option<Self>> {
        match qemufile::stream::find_vmdesc(stream) {
            Some((_, json)) => Ok(Some(Self::parse(arena, json)?)),
            None => Ok(None),
        }
    }

    /// The devices, in vmdesc order.
    pub fn devices(&self) -> &[DeviceDescription<'d>] {
        &self.devices
    }

    /// The description of section `idstr` instance `instance_id`.
    pub fn device(&self, idstr: &str, instance_id: u32) -> Option<&DeviceDescription<'d>> {
        let i = *self.index.get(&(idstr.to_owned(), instance_id))?;
        Some(&self.devices[i])
    }

    /// The configuration section's description, when the vmdesc has one.
    pub fn configuration(&self) -> Option<&'d Description<'d>> {
        self.configuration
    }

    /// The vmdesc's `"page_size"`.
    pub fn page_size(&self) -> Option<u64> {
        self.page_size
    }
}

/// One record of an iterative section's body: what follows an
/// [`Event::IterativeHeader`]. Its payload (page data, hash table entries,
/// attribute values, bitmap words, raw bytes) is left in the input: read it
/// with [`StreamDecoder::read_payload`], copy it with
/// [`StreamDecoder::copy_payload`], or leave it to be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SectionItem {
    /// A `ram` record (`migration/ram.c`), mapped-ram regions included.
    Ram(RamItem),
    /// A `spapr/htab` item (ppc64 pseries hash page table).
    Htab(HtabItem),
    /// An `s390-storage_attributes` record.
    StorageAttributes(StattribRecord),
    /// A `dirty-bitmap` record (`migration/block-dirty-bitmap.c`).
    DirtyBitmap(DirtyBitmapRecord),
    /// Bytes of an iterative section this build does not know, carried at
    /// the framing level: the body runs up to its section footer.
    Raw {
        /// Payload bytes in this piece.
        len: u64,
    },
}

/// One step of a [`StreamDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A device section (FULL) begins: decode, load or skip its body before
    /// the next event (the next event skips it otherwise).
    Section(SectionHeader),
    /// The header of an iterative section's part (START, PART or END of
    /// `ram`, `spapr/htab`, `s390-storage_attributes`, `dirty-bitmap`, or
    /// one this build does not know): [`Event::Item`]s follow.
    IterativeHeader(SectionHeader),
    /// One record of the iterative body.
    Item(SectionItem),
    /// The end of the iterative body: its footer is checked.
    IterativeEnd,
    /// A command.
    Command(Command),
    /// EOF and the trailer after it.
    Eof(Vmdesc),
}

/// The iterative section kinds, by idstr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterativeKind {
    /// `ram`.
    Ram,
    /// `spapr/htab`.
    Htab,
    /// `s390-storage_attributes`.
    StorageAttributes,
    /// `dirty-bitmap`.
    DirtyBitmap,
    /// Any other: carried as raw bytes up to the section footer.
    Unknown,
}

impl IterativeKind {
    /// The kind of the iterative section `idstr`.
    pub fn of(idstr: &[u8]) -> IterativeKind {
        match idstr {
            b"ram" => IterativeKind::Ram,
            b"spapr/htab" => IterativeKind::Htab,
            b"s390-storage_attributes" => IterativeKind::StorageAttributes,
            b"dirty-bitmap" => IterativeKind::DirtyBitmap,
            _ => IterativeKind::Unknown,
        }
    }
}

/// Finds where the body of an unknown iterative section ends: at its footer
/// (`7e | be32 section_id`) followed by the start of the next item.
#[derive(Debug, Clone, Default)]
struct RawScan {
    section_id: u32,
    /// The section's idstr and the offset of its header, for errors.
    name: String,
    start: u64,
    pending: u64,
    done: bool,
}

impl RawScan {
    fn next_piece<R: QemuRead>(&mut self, r: &mut R, footers: bool) -> Result<u64> {
        if !footers {
            return Err(Error::msg(
                "cannot tell where this iterative section ends: the stream has no section \
                 footers and this build does not know the section's format",
            )
            .at_offset(r.position()));
        }
        r.skip(self.pending)?;
        self.pending = 0;
        let mut footer = [qemufile::stream::SECTION_FOOTER, 0, 0, 0, 0];
        footer[1..].copy_from_slice(&self.section_id.to_be_bytes());
        let window = r.peek(0, qemufile::MAX_PEEK)?;
        if window.is_empty() {
            return Err(Error::from(qemufile::Error::new(
                r.position(),
                qemufile::ErrorKind::UnexpectedEof {
                    needed: 5,
                    available: 0,
                },
            )));
        }
        let mut at = 0;
        while let Some(p) = window[at..].windows(5).position(|w| w == footer) {
            let end = at + p;
            // The footer must be followed by an item type byte (or the end).
            match window.get(end + 5) {
                None if window.len() < qemufile::MAX_PEEK => {}
                Some(0x00..=0x04 | 0x08) => {}
                _ => {
                    at = end + 1;
                    continue;
                }
            }
            if end + 5 < window.len() || window.len() < qemufile::MAX_PEEK {
                self.done = true;
                self.pending = end as u64;
                return Ok(end as u64);
            }
            break;
        }
        if window.len() < qemufile::MAX_PEEK {
            return Err(Error::msg(format!(
                "the stream ends inside section {} (id {}): there is no footer for it before \
                 the end of the stream",
                self.name, self.section_id
            ))
            .at_offset(self.start));
        }
        // Keep the last bytes: a footer may straddle the window's end.
        let piece = (window.len() - 5) as u64;
        self.pending = piece;
        Ok(piece)
    }
}

/// The RAM blocks of the stream's block list, to check every page record as
/// QEMU's `ram_load_precopy` does.
#[derive(Debug, Default)]
struct RamBlocks {
    lengths: HashMap<qemufile::stream::IdStr, u64>,
    /// Most distinct block names kept ([`Limits::max_ram_blocks`]).
    max: usize,
}

impl RamBlocks {
    /// Checks a RAM item read at offset `at`; `last` is the block a CONTINUE
    /// record refers to.
    fn check(
        &mut self,
        item: &RamItem,
        last: Option<&qemufile::stream::IdStr>,
        at: u64,
    ) -> Result<()> {
        let record = match item {
            RamItem::Block(block) => {
                if !self.lengths.contains_key(&block.name) {
                    let distinct = self.lengths.len() as u64 + 1;
                    Limit::MaxRamBlocks
                        .check(distinct, self.max as u64, || {
                            "the RAM blocks of the stream (distinct names)".to_owned()
                        })
                        .map_err(|e| Error::from(e).at_offset(at))?;
                }
                self.lengths.insert(block.name.clone(), block.length);
                return Ok(());
            }
            RamItem::Record(record) => record,
        };
        if !matches!(
            record.kind,
            RamKind::Zero { .. } | RamKind::Page | RamKind::Xbzrle { .. }
        ) {
            return Ok(());
        }
        let Some(block) = record.block.as_ref().or(last) else {
            return Err(Error::msg("RAM page record without a block").at_offset(at));
        };
        let Some(&length) = self.lengths.get(block) else {
            return Err(Error::msg(format!(
                "Unknown ramblock \"{block}\", cannot accept migration: the page names a \
                 block that is not in the stream's block list"
            ))
            .at_offset(at));
        };
        if record.addr >= length {
            return Err(Error::msg(format!(
                "Illegal RAM offset {:x}: block \"{block}\" is {length:#x} bytes",
                record.addr
            ))
            .at_offset(at));
        }
        if let RamKind::Zero { fill } = record.kind {
            if fill != 0 {
                return Err(Error::msg(format!(
                    "Found a zero page with value {fill}: QEMU's loader accepts only 0"
                ))
                .at_offset(at));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Items,
    /// A device section's body is next in the input.
    Body,
    /// Inside an iterative body of this kind.
    Iterative(IterativeKind),
    IterativeEndPending,
    Done,
}

/// Reads a whole stream as [`Event`]s; device bodies become dynamic or typed
/// state through the one walk.
#[derive(Debug)]
pub struct StreamDecoder<'s, 'd, R: QemuRead> {
    reader: StreamReader<R>,
    schema: Option<&'s StreamSchema<'d>>,
    ram: RamReader,
    ram_blocks: RamBlocks,
    htab: HtabReader,
    stattrib: StattribReader,
    dirty_bitmap: DirtyBitmapReader,
    raw: RawScan,
    phase: Phase,
    section: Option<(SectionHeader, u64)>,
    limits: Limits,
    /// Where each device (idstr, instance) had its FULL section: a second
    /// one is refused.
    devices_seen: HashMap<(Vec<u8>, u32), u64>,
    /// The current section's span (`vmstate::trace`).
    span: tracing::Span,
}

/// The span of one section of a stream being read or written.
fn section_span(direction: &'static str, h: &SectionHeader, offset: u64) -> tracing::Span {
    tracing::trace_span!(
        target: STREAM_TARGET,
        "section",
        direction,
        idstr = %h.idstr,
        instance = h.instance_id,
        version = h.version_id,
        section_id = h.section_id,
        kind = ?h.kind,
        offset,
    )
}

impl<'s, 'd, R: QemuRead> StreamDecoder<'s, 'd, R> {
    /// Reads the header and the configuration. `schema` describes the device
    /// sections (the stream's own vmdesc, or one from elsewhere); without it,
    /// device bodies can only be loaded into typed models.
    /// Within the default [`Limits`].
    pub fn open(input: R, schema: Option<&'s StreamSchema<'d>>) -> Result<Self> {
        Self::open_with_limits(input, schema, Limits::DEFAULT)
    }

    /// As [`open`](Self::open), within `limits`: the vmdesc length, section
    /// and RAM block counts, and the memory typed loads may create
    /// ([`load_section`](Self::load_section)). Dynamic states are bounded by
    /// the limits of the [`DescriptionArena`]
    /// that described them.
    pub fn open_with_limits(
        mut input: R,
        schema: Option<&'s StreamSchema<'d>>,
        limits: Limits,
    ) -> Result<Self> {
        // The configuration section is optional (hw_compat_2_3, Xen): look.
        let has_config = input.peek(8, 1)?.first() == Some(&qemufile::stream::CONFIGURATION);
        let opts = StreamOptions {
            send_configuration: has_config,
            // Footers can be off: the first section tells.
            detect_section_footer: true,
            limits,
            ..StreamOptions::default()
        };
        let reader = StreamReader::open(input, opts)?;
        let page = schema.and_then(StreamSchema::page_size).unwrap_or(4096);
        let mut ram_config = RamConfig::from_configuration(reader.configuration(), page);
        ram_config.max_block_entries = limits.max_ram_blocks;
        let ram = RamReader::new(ram_config);
        Ok(StreamDecoder {
            reader,
            schema,
            ram,
            ram_blocks: RamBlocks {
                lengths: HashMap::new(),
                max: limits.max_ram_blocks,
            },
            htab: HtabReader::new(),
            stattrib: StattribReader::new(S390Body::StorageAttributes),
            dirty_bitmap: DirtyBitmapReader::new(),
            raw: RawScan::default(),
            phase: Phase::Items,
            section: None,
            limits,
            devices_seen: HashMap::new(),
            span: tracing::Span::none(),
        })
    }

    /// The configuration section, if the stream has one.
    pub fn configuration(&self) -> Option<&Configuration> {
        self.reader.configuration()
    }

    /// The stream options in effect (configuration present, footers).
    pub fn options(&self) -> &StreamOptions {
        self.reader.options()
    }

    /// The RAM format in effect.
    pub fn ram_config(&self) -> &RamConfig {
        self.ram.config()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }

    /// Offset of the item read last (its type byte).
    pub fn item_offset(&self) -> u64 {
        self.reader.item_offset()
    }

    /// The section being read, with the offset of its type byte.
    pub fn current_section(&self) -> Option<&(SectionHeader, u64)> {
        self.section.as_ref()
    }

    fn in_section(&self, e: Error) -> Error {
        match &self.section {
            Some((h, _)) => e.in_section(&h.idstr.to_string_lossy(), h.instance_id),
            None => e,
        }
    }

    /// The next event; `None` after [`Event::Eof`].
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        self.step().map_err(|e| self.in_section(e))
    }

    fn step(&mut self) -> Result<Option<Event>> {
        match self.phase {
            Phase::Done => return Ok(None),
            Phase::Body => self.skip_section()?,
            Phase::IterativeEndPending => {
                // The last item's payload, if the caller left it.
                self.skip_payload()?;
                self.phase = Phase::Items;
                self.reader.finish_section()?;
                self.section = None;
                self.span = tracing::Span::none();
                return Ok(Some(Event::IterativeEnd));
            }
            Phase::Iterative(kind) => {
                let span = self.span.clone();
                let _entered = span.enter();
                let footers = self.reader.options().send_section_footer;
                let body = self.reader.body();
                let (item, ends) = match kind {
                    IterativeKind::Ram => {
                        self.ram.skip_payload(body)?;
                        let at = body.position();
                        let item = self.ram.next_item(body)?;
                        self.ram_blocks.check(&item, self.ram.last_block(), at)?;
                        let ends = matches!(
                            item,
                            RamItem::Record(RamRecord {
                                kind: RamKind::Eos,
                                ..
                            })
                        );
                        (SectionItem::Ram(item), ends)
                    }
                    IterativeKind::Htab => {
                        let item = self.htab.next_item(body)?;
                        (SectionItem::Htab(item), self.htab.body_complete())
                    }
                    IterativeKind::StorageAttributes => {
                        let item = self.stattrib.next_item(body)?;
                        (SectionItem::StorageAttributes(item), item.ends_body())
                    }
                    IterativeKind::DirtyBitmap => {
                        let item = self.dirty_bitmap.next_item(body)?;
                        let ends = item.ends_body();
                        (SectionItem::DirtyBitmap(item), ends)
                    }
                    IterativeKind::Unknown => {
                        let len = self.raw.next_piece(body, footers)?;
                        (SectionItem::Raw { len }, self.raw.done)
                    }
                };
                if ends {
                    self.phase = Phase::IterativeEndPending;
                }
                return Ok(Some(Event::Item(item)));
            }
            Phase::Items => {}
        }
        let item = self.reader.next_item()?;
        let at = self.reader.item_offset();
        match item {
            Item::Eof => {
                self.phase = Phase::Done;
                Ok(Some(Event::Eof(self.reader.read_vmdesc()?)))
            }
            Item::Command(c) => Ok(Some(Event::Command(c))),
            Item::Section(h) => {
                self.span = section_span("read", &h, at);
                self.section = Some((h.clone(), at));
                if h.kind != SectionKind::Full {
                    let kind = IterativeKind::of(h.idstr.as_bytes());
                    if kind == IterativeKind::Ram
                        && h.kind.has_full_header()
                        && h.version_id != qemufile::ram::SECTION_VERSION
                    {
                        return Err(Error::msg(format!(
                            "unknown RAM section version {}",
                            h.version_id
                        ))
                        .at_offset(at));
                    }
                    if kind == IterativeKind::Unknown {
                        self.raw = RawScan {
                            section_id: h.section_id,
                            name: h.idstr.to_string_lossy(),
                            start: at,
                            ..RawScan::default()
                        };
                    }
                    self.phase = Phase::Iterative(kind);
                    return Ok(Some(Event::IterativeHeader(h)));
                }
                self.first_section_of_device(&h, at)?;
                self.phase = Phase::Body;
                Ok(Some(Event::Section(h)))
            }
        }
    }

    /// Where the FULL section of device `idstr` instance `instance_id` began,
    /// if the stream has had one so far.
    pub fn device_section_offset(&self, idstr: &str, instance_id: u32) -> Option<u64> {
        let key = (idstr.as_bytes().to_vec(), instance_id);
        self.devices_seen.get(&key).copied()
    }

    /// Refuses a second FULL section for one device instance: QEMU would
    /// load the state twice, so no stream QEMU writes has one.
    fn first_section_of_device(&mut self, h: &SectionHeader, at: u64) -> Result<()> {
        let key = (h.idstr.as_bytes().to_vec(), h.instance_id);
        if let Some(first) = self.devices_seen.get(&key) {
            return Err(Error::msg(format!(
                "second section for {} (the first is at byte offset {first}): a destination \
                 loads the state twice",
                section_root(h)
            ))
            .at_offset(at));
        }
        let distinct = self.devices_seen.len() as u64 + 1;
        self.limits
            .check(Limit::MaxSections, distinct, || {
                format!("device section {}", section_root(h))
            })
            .map_err(|e| Error::from(e).at_offset(at))?;
        self.devices_seen.insert(key, at);
        Ok(())
    }

    fn body_header(&self) -> Result<(SectionHeader, u64)> {
        match (&self.phase, &self.section) {
            (Phase::Body, Some(s)) => Ok(s.clone()),
            _ => Err(Error::msg(
                "no device section body is next: call this right after Event::Section",
            )),
        }
    }

    /// The description of the current section from the schema.
    pub fn section_description(&self) -> Result<&'s DeviceDescription<'d>> {
        let (h, at) = self.body_header()?;
        let idstr = h.idstr.to_string_lossy();
        let Some(schema) = self.schema else {
            return Err(self.in_section(
                Error::msg(format!(
                    "cannot decode section {idstr}: no vmdesc was found at the end of the \
                     stream (it is truncated, written with suppress-vmdesc, or its vmdesc is \
                     longer than the {} limit (raise it with --max-vmdesc)); give one with \
                     --vmdesc",
                    qemufile::Limit::MaxVmdescLen.amount(self.limits.max_vmdesc_len.into())
                ))
                .at_offset(at),
            ));
        };
        schema.device(&idstr, h.instance_id).ok_or_else(|| {
            self.in_section(
                Error::msg(format!(
                    "unknown section {idstr} instance {0}: not in the stream's vmdesc; a \
                     destination without such a device refuses it too: \"Unknown savevm \
                     section or instance '{idstr}' {0}\"",
                    h.instance_id
                ))
                .at_offset(at),
            )
        })
    }

    fn finish(&mut self) -> Result<()> {
        self.reader.finish_section()?;
        self.phase = Phase::Items;
        self.section = None;
        self.span = tracing::Span::none();
        Ok(())
    }

    fn root(&self, e: Error) -> Error {
        let e = match &self.section {
            Some((h, _)) => e.within(PathSegment::Root(owned(&section_root(h)))),
            None => e,
        };
        self.in_section(e)
    }

    /// Decodes the current device section's body into a [`DynamicState`]
    /// with the schema, and checks its footer.
    pub fn decode_section(&mut self) -> Result<DynamicState<'d>> {
        let (h, _) = self.body_header()?;
        let device = self.section_description()?;
        let description = device.description;
        let version = match device.versioned {
            true => h.version_id,
            false => description.version_id,
        };
        if version != description.version_id {
            let (idstr, v, at) = (section_root(&h), description.version_id, self.item_offset());
            let consequence = if version > v {
                format!(
                    "a destination with {idstr} v{v} refuses it: \"savevm: unsupported version \
                     {version} for '{idstr}' v{v}\""
                )
            } else {
                format!(
                    "a destination reads the v{v} body with the v{version} layout, which does \
                     not fit"
                )
            };
            return Err(self.in_section(
                Error::msg(format!(
                    "section {idstr} has version {version}, the vmdesc says {v}: the header \
                     and the source's description disagree; {consequence}"
                ))
                .at_offset(at),
            ));
        }
        let root = section_root(&h);
        let span = self.span.clone();
        let _entered = span.enter();
        let mut state = DynamicState::new(description)
            .map_err(|e| self.in_section(e.within(PathSegment::Root(owned(&root)))))?;
        let mut v = Traced::with_root(InputVisitor::new(self.reader.body()), &root);
        visit_struct_at(&mut state, &mut v, description.name, version)
            .map_err(|e| self.in_section(e.within(PathSegment::Root(owned(&root)))))?;
        self.finish().map_err(|e| self.in_section(e))?;
        Ok(state)
    }

    /// Loads the current device section's body into `value`, a typed model,
    /// at the section's version, and checks its footer. Transactional:
    /// `value` is unchanged unless everything succeeded.
    ///
    /// Returns the bytes of memory the load created beyond `T` itself
    /// (containers grown by the input), which the limits'
    /// [`section_memory`](Limits::section_memory) bounds.
    pub fn load_section<T: VmState + Clone>(&mut self, value: &mut T) -> Result<u64> {
        let (h, _) = self.body_header()?;
        let span = self.span.clone();
        let _entered = span.enter();
        let mut scratch = value.clone();
        let input = InputVisitor::with_limits(self.reader.body(), self.limits);
        let mut v = Traced::with_root(input, &section_root(&h));
        let loaded = visit_struct_at(&mut scratch, &mut v, T::DESCRIPTION.name, h.version_id);
        let allocated = v.get_ref().allocated();
        loaded.map_err(|e| self.root(e))?;
        self.finish().map_err(|e| self.in_section(e))?;
        *value = scratch;
        Ok(allocated)
    }

    /// Reads the current device section's body with the schema and drops it;
    /// checks its footer.
    pub fn skip_section(&mut self) -> Result<()> {
        self.decode_section().map(drop)
    }

    /// Skips the current device section's body without a description, up to
    /// its footer (`7e | be32 section_id` followed by the next item), as for
    /// an unknown iterative section; returns the body's length. For streams
    /// without a vmdesc: the framing is checked, the body is not. Needs
    /// section footers.
    pub fn skip_section_raw(&mut self) -> Result<u64> {
        let (h, at) = self.body_header()?;
        let footers = self.reader.options().send_section_footer;
        let mut scan = RawScan {
            section_id: h.section_id,
            name: h.idstr.to_string_lossy(),
            start: at,
            ..RawScan::default()
        };
        let mut total = 0;
        let r = (|| {
            while !scan.done {
                total += scan.next_piece(self.reader.body(), footers)?;
            }
            self.reader.body().skip(scan.pending)?;
            self.finish()
        })();
        r.map_err(|e| self.in_section(e))?;
        Ok(total)
    }

    /// The configuration section decoded with the schema's `"configuration"`
    /// description (QEMU writes one in vmdescs since 8.2), if both exist.
    pub fn configuration_state(&self) -> Result<Option<DynamicState<'d>>> {
        let (Some(config), Some(description)) = (
            self.reader.configuration(),
            self.schema.and_then(StreamSchema::configuration),
        ) else {
            return Ok(None);
        };
        // The body as it is on the wire, after its 0x07 type byte at offset 8.
        let mut w = StreamWriter::new(Vec::new(), self.reader.options().clone());
        w.write_configuration(config)?;
        let bytes = w.into_inner();
        let body = bytes.get(1..).unwrap_or(&[]);
        let mut r = qemufile::SliceReader::with_base_offset(body, 9);
        let state =
            DynamicState::load_as(description, &mut r, description.version_id, "configuration")
                .map_err(|e| e.in_section("configuration", 0))?;
        if !r.is_empty() {
            return Err(Error::msg(
                "the vmdesc's configuration description does not cover the configuration section",
            )
            .at_offset(r.position())
            .in_section("configuration", 0));
        }
        Ok(Some(state))
    }

    fn payload_kind(&self) -> Option<IterativeKind> {
        match self.phase {
            Phase::Iterative(kind) => Some(kind),
            Phase::IterativeEndPending => self
                .section
                .as_ref()
                .map(|(h, _)| IterativeKind::of(h.idstr.as_bytes())),
            _ => None,
        }
    }

    /// Skips what is left of the last item's payload.
    fn skip_payload(&mut self) -> Result<()> {
        let kind = self.payload_kind();
        let body = self.reader.body();
        match kind {
            Some(IterativeKind::Ram) => self.ram.skip_payload(body).map(drop)?,
            Some(IterativeKind::Htab) => self.htab.skip_payload(body).map(drop)?,
            Some(IterativeKind::StorageAttributes) => self.stattrib.skip_payload(body).map(drop)?,
            Some(IterativeKind::DirtyBitmap) => self.dirty_bitmap.skip_payload(body).map(drop)?,
            Some(IterativeKind::Unknown) => body.skip(std::mem::take(&mut self.raw.pending))?,
            None => {}
        }
        Ok(())
    }

    /// Bytes of payload of the last item not read yet.
    pub fn payload_remaining(&self) -> u64 {
        match self.payload_kind() {
            Some(IterativeKind::Ram) => self.ram.payload_remaining(),
            Some(IterativeKind::Htab) => self.htab.payload_remaining(),
            Some(IterativeKind::StorageAttributes) => self.stattrib.payload_remaining(),
            Some(IterativeKind::DirtyBitmap) => self.dirty_bitmap.payload_remaining(),
            Some(IterativeKind::Unknown) => self.raw.pending,
            None => 0,
        }
    }

    /// Reads payload bytes of the last item.
    pub fn read_payload(&mut self, buf: &mut [u8]) -> Result<()> {
        let kind = self.payload_kind();
        let body = self.reader.body();
        let r = match kind {
            Some(IterativeKind::Ram) => self.ram.read_payload(body, buf),
            Some(IterativeKind::Htab) => self.htab.read_payload(body, buf),
            Some(IterativeKind::StorageAttributes) => self.stattrib.read_payload(body, buf),
            Some(IterativeKind::DirtyBitmap) => self.dirty_bitmap.read_payload(body, buf),
            Some(IterativeKind::Unknown) => {
                if buf.len() as u64 > self.raw.pending {
                    return Err(Error::msg("read beyond the item's payload"));
                }
                body.read_into(buf)
                    .inspect(|()| self.raw.pending -= buf.len() as u64)
            }
            None => return Err(Error::msg("no item with a payload was read last")),
        };
        r.map_err(|e| self.in_section(e.into()))
    }

    /// Copies the rest of the last item's payload to `w`; returns the bytes copied.
    pub fn copy_payload<W: QemuWrite>(&mut self, w: &mut W) -> Result<u64> {
        let kind = self.payload_kind();
        let body = self.reader.body();
        let r = match kind {
            Some(IterativeKind::Ram) => self.ram.copy_payload(body, w),
            Some(IterativeKind::Htab) => self.htab.copy_payload(body, w),
            Some(IterativeKind::StorageAttributes) => self.stattrib.copy_payload(body, w),
            Some(IterativeKind::DirtyBitmap) => self.dirty_bitmap.copy_payload(body, w),
            Some(IterativeKind::Unknown) => {
                let n = std::mem::take(&mut self.raw.pending);
                copy_bytes(body, w, n).map(|()| n)
            }
            None => Ok(0),
        };
        r.map_err(|e| self.in_section(e.into()))
    }

    /// The input, for reading past the stream.
    pub fn get_mut(&mut self) -> &mut R {
        self.reader.get_mut()
    }

    /// The input.
    pub fn into_inner(self) -> R {
        self.reader.into_inner()
    }
}

/// The root of the paths of a stream section: its idstr, with the instance id
/// when it is not 0 (`cpu`, `cpu[1]`, `0000:00:01.0/PIIX3`), so that a path
/// names one field of one section.
pub fn section_root(h: &SectionHeader) -> String {
    match h.instance_id {
        0 => h.idstr.to_string_lossy(),
        n => format!("{}[{n}]", h.idstr.to_string_lossy()),
    }
}

/// Copies `n` bytes from `r` to `w` through a small buffer.
fn copy_bytes<R: QemuRead, W: QemuWrite>(r: &mut R, w: &mut W, mut n: u64) -> qemufile::Result<()> {
    let mut buf = [0u8; 8192];
    while n > 0 {
        let k = n.min(buf.len() as u64) as usize;
        r.read_into(&mut buf[..k])?;
        w.put_bytes(&buf[..k])?;
        n -= k as u64;
    }
    Ok(())
}

/// Writes a stream event by event: what a [`StreamDecoder`] reads, written
/// back with the same framing.
#[derive(Debug)]
pub struct StreamEncoder<W: QemuWrite> {
    writer: StreamWriter<W>,
    ram: RamWriter,
    stattrib: StattribWriter,
    /// The open section's span (`vmstate::trace`).
    span: tracing::Span,
}

impl<W: QemuWrite> StreamEncoder<W> {
    /// Writes the header and `configuration` to `out` with the framing
    /// options of `options` (configuration present, footers).
    pub fn open(
        out: W,
        options: &StreamOptions,
        configuration: Option<&Configuration>,
        ram: RamConfig,
    ) -> Result<Self> {
        let mut writer = StreamWriter::new(out, options.clone());
        writer.write_header()?;
        if let Some(c) = configuration {
            writer.write_configuration(c)?;
        }
        writer.set_section_footer(options.send_section_footer);
        Ok(StreamEncoder {
            writer,
            ram: RamWriter::new(ram),
            stattrib: StattribWriter::new(S390Body::StorageAttributes),
            span: tracing::Span::none(),
        })
    }

    /// Turns section footers on or off (a stream read with detection tells
    /// after its first section).
    pub fn set_section_footer(&mut self, on: bool) {
        self.writer.set_section_footer(on);
    }

    /// Writes a device section: header, `state` through the output visitor,
    /// footer.
    pub fn write_dynamic_section(
        &mut self,
        header: &SectionHeader,
        state: &mut DynamicState<'_>,
    ) -> Result<()> {
        self.write_section_header(header)?;
        self.write_dynamic_body(header, state)?;
        self.write_section_footer()
    }

    /// Writes the body of the device section whose header was written last
    /// ([`write_section_header`](Self::write_section_header)): `state`
    /// through the output visitor. The footer follows with
    /// [`write_section_footer`](Self::write_section_footer).
    pub fn write_dynamic_body(
        &mut self,
        header: &SectionHeader,
        state: &mut DynamicState<'_>,
    ) -> Result<()> {
        let span = self.span.clone();
        let _entered = span.enter();
        let d = state.description();
        let root = section_root(header);
        let mut v = Traced::with_root(crate::OutputVisitor::new(self.writer.body()), &root);
        visit_struct_at(state, &mut v, d.name, header.version_id)
            .map_err(|e| e.within(PathSegment::Root(owned(&root))))
    }

    /// Writes a device section from a typed model.
    pub fn write_section<T: VmState>(
        &mut self,
        header: &SectionHeader,
        value: &mut T,
    ) -> Result<()> {
        self.write_section_header(header)?;
        {
            let span = self.span.clone();
            let _entered = span.enter();
            let root = section_root(header);
            let mut v = Traced::with_root(crate::OutputVisitor::new(self.writer.body()), &root);
            visit_struct_at(value, &mut v, T::DESCRIPTION.name, header.version_id)?;
        }
        self.write_section_footer()
    }

    /// Writes a section header (RAM sections: items follow).
    pub fn write_section_header(&mut self, header: &SectionHeader) -> Result<()> {
        let at = self.writer.get_ref().position();
        self.span = section_span("write", header, at);
        Ok(self.writer.write_section_header(header)?)
    }

    /// Writes an iterative section's record; its payload follows through
    /// [`Self::body`].
    pub fn write_item(&mut self, item: &SectionItem) -> Result<()> {
        let _entered = self.span.enter();
        let body = self.writer.body();
        match item {
            SectionItem::Ram(item) => self.ram.write_item(body, item)?,
            SectionItem::Htab(item) => HtabWriter::new().write_item(body, item)?,
            SectionItem::StorageAttributes(rec) => self.stattrib.write_item(body, rec)?,
            SectionItem::DirtyBitmap(rec) => DirtyBitmapWriter::new().write_item(body, rec)?,
            SectionItem::Raw { .. } => {}
        }
        Ok(())
    }

    /// Writes a section footer.
    pub fn write_section_footer(&mut self) -> Result<()> {
        self.span = tracing::Span::none();
        Ok(self.writer.write_section_footer()?)
    }

    /// Writes a command.
    pub fn write_command(&mut self, command: &Command) -> Result<()> {
        Ok(self.writer.write_command(command)?)
    }

    /// Writes EOF and the vmdesc trailer, if any.
    pub fn write_eof(&mut self, vmdesc: &Vmdesc) -> Result<()> {
        self.writer.write_eof()?;
        if let Some(j) = vmdesc.json() {
            self.writer.write_vmdesc(j)?;
        }
        Ok(())
    }

    /// The body writer, for RAM payloads.
    pub fn body(&mut self) -> &mut W {
        self.writer.body()
    }

    /// The output.
    pub fn into_inner(self) -> W {
        self.writer.into_inner()
    }
}

/// Re-encodes a whole stream: every device section decoded into a
/// [`DynamicState`] and encoded again by the output visitor, RAM payloads
/// copied, framing rewritten. Calls `progress` with the input position now
/// and then. For every stream QEMU writes the output equals the input.
pub fn reencode<R: QemuRead, W: QemuWrite>(
    decoder: &mut StreamDecoder<'_, '_, R>,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<W> {
    let mut enc = StreamEncoder::open(
        out,
        decoder.options(),
        decoder.configuration(),
        decoder.ram_config().clone(),
    )?;
    while let Some(event) = decoder.next_event()? {
        enc.set_section_footer(decoder.options().send_section_footer);
        match event {
            Event::Section(h) => {
                let mut state = decoder.decode_section()?;
                // Footers are detected at the end of the first section's
                // body: follow the decoder before the section is written.
                enc.set_section_footer(decoder.options().send_section_footer);
                enc.write_dynamic_section(&h, &mut state)?;
                progress(decoder.position());
            }
            Event::IterativeHeader(h) => enc.write_section_header(&h)?,
            Event::Item(item) => {
                enc.write_item(&item)?;
                decoder.copy_payload(enc.body())?;
                progress(decoder.position());
            }
            Event::IterativeEnd => enc.write_section_footer()?,
            Event::Command(c) => enc.write_command(&c)?,
            Event::Eof(v) => enc.write_eof(&v)?,
        }
    }
    Ok(enc.into_inner())
}
