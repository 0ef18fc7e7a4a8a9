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

use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamRecord, RamWriter};
use qemufile::stream::{
    Command, Configuration, Item, SectionHeader, SectionKind, StreamOptions, StreamReader,
    StreamWriter, Vmdesc,
};
use qemufile::{QemuRead, QemuWrite};
use serde_json::Value as Json;

use crate::dynamic::{DescriptionArena, DynamicState};
use crate::state::owned;
use crate::{Description, Error, InputVisitor, PathSegment, Result, VmState, visit_struct_at};

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
    json: Json,
}

impl<'d> StreamSchema<'d> {
    /// Parses a vmdesc JSON text (the bytes after `06 | be32 len`, or a saved
    /// `vmstate desc` file).
    pub fn parse(arena: &'d DescriptionArena, text: &[u8]) -> Result<Self> {
        let json: Json = serde_json::from_slice(text).map_err(|e| {
            Error::new(crate::ErrorKind::InvalidDescription(format!(
                "vmdesc JSON, line {} column {}: {e}",
                e.line(),
                e.column()
            )))
        })?;
        Self::from_json(arena, json)
    }

    /// The schema of a parsed vmdesc document.
    pub fn from_json(arena: &'d DescriptionArena, json: Json) -> Result<Self> {
        let bad = |m: String| Error::new(crate::ErrorKind::InvalidDescription(m));
        let list = match json.get("devices") {
            Some(Json::Array(list)) => list.as_slice(),
            Some(_) => return Err(bad("vmdesc: \"devices\" is not a list".into())),
            None => &[][..],
        };
        let mut devices = Vec::with_capacity(list.len());
        let mut index = HashMap::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let idstr = entry
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| bad(format!("vmdesc: devices[{i}] has no \"name\" string")))?;
            let instance_id = entry
                .get("instance_id")
                .and_then(Json::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("vmdesc: device {idstr} has no u32 \"instance_id\"")))?;
            let description = arena.section(entry).map_err(|e| {
                bad(format!(
                    "vmdesc: device {idstr} instance {instance_id}: {e}"
                ))
            })?;
            // A repeated device: the first one describes it, as the
            // analyzer's lookup finds the first.
            index
                .entry((idstr.to_owned(), instance_id))
                .or_insert(devices.len());
            devices.push(DeviceDescription {
                idstr: idstr.to_owned(),
                instance_id,
                description,
                versioned: entry.get("version").is_some(),
            });
        }
        let configuration = match json.get("configuration") {
            Some(c) => Some(arena.section(c)?),
            None => None,
        };
        let page_size = json.get("page_size").and_then(Json::as_u64);
        Ok(StreamSchema {
            devices,
            index,
            configuration,
            page_size,
            json,
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

    /// The vmdesc as JSON.
    pub fn json(&self) -> &Json {
        &self.json
    }
}

/// One step of a [`StreamDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A device section (FULL) begins: decode, load or skip its body before
    /// the next event (the next event skips it otherwise).
    Section(SectionHeader),
    /// The header of a `ram` section (START, PART or END): RAM items follow.
    RamHeader(SectionHeader),
    /// One RAM item. Its payload (page data) is still in the input: read it
    /// with [`StreamDecoder::read_payload`], copy it with
    /// [`StreamDecoder::copy_payload`], or leave it to be skipped.
    Ram(RamItem),
    /// The end of a `ram` section body: its footer is checked.
    RamEnd,
    /// A command.
    Command(Command),
    /// EOF and the trailer after it.
    Eof(Vmdesc),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Items,
    /// A device section's body is next in the input.
    Body,
    Ram,
    RamEndPending,
    Done,
}

/// Reads a whole stream as [`Event`]s; device bodies become dynamic or typed
/// state through the one walk.
#[derive(Debug)]
pub struct StreamDecoder<'s, 'd, R: QemuRead> {
    reader: StreamReader<R>,
    schema: Option<&'s StreamSchema<'d>>,
    ram: RamReader,
    phase: Phase,
    section: Option<(SectionHeader, u64)>,
}

impl<'s, 'd, R: QemuRead> StreamDecoder<'s, 'd, R> {
    /// Reads the header and the configuration. `schema` describes the device
    /// sections (the stream's own vmdesc, or one from elsewhere); without it,
    /// device bodies can only be loaded into typed models.
    pub fn open(mut input: R, schema: Option<&'s StreamSchema<'d>>) -> Result<Self> {
        // The configuration section is optional (hw_compat_2_3, Xen): look.
        let has_config = input.peek(8, 1)?.first() == Some(&qemufile::stream::CONFIGURATION);
        let opts = StreamOptions {
            send_configuration: has_config,
            // Footers can be off: the first section tells.
            detect_section_footer: true,
            ..StreamOptions::default()
        };
        let reader = StreamReader::open(input, opts)?;
        let page = schema.and_then(StreamSchema::page_size).unwrap_or(4096);
        let ram = RamReader::new(RamConfig::from_configuration(reader.configuration(), page));
        Ok(StreamDecoder {
            reader,
            schema,
            ram,
            phase: Phase::Items,
            section: None,
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
            Phase::RamEndPending => {
                self.phase = Phase::Items;
                self.reader.finish_section()?;
                self.section = None;
                return Ok(Some(Event::RamEnd));
            }
            Phase::Ram => {
                let item = self.ram.next_item(self.reader.body())?;
                if matches!(
                    item,
                    RamItem::Record(RamRecord {
                        kind: RamKind::Eos,
                        ..
                    })
                ) {
                    self.phase = Phase::RamEndPending;
                }
                return Ok(Some(Event::Ram(item)));
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
                self.section = Some((h.clone(), at));
                if h.idstr.as_bytes() == b"ram" && h.instance_id == 0 {
                    if h.kind.has_full_header() && h.version_id != qemufile::ram::SECTION_VERSION {
                        return Err(Error::msg(format!(
                            "unknown RAM section version {}",
                            h.version_id
                        ))
                        .at_offset(at));
                    }
                    self.phase = Phase::Ram;
                    return Ok(Some(Event::RamHeader(h)));
                }
                if h.kind != SectionKind::Full {
                    return Err(Error::msg(format!(
                        "iterative section {} ({:?}) is not supported: only \"ram\" is",
                        h.idstr.to_string_lossy(),
                        h.kind
                    ))
                    .at_offset(at));
                }
                self.phase = Phase::Body;
                Ok(Some(Event::Section(h)))
            }
        }
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
                    "cannot decode section {idstr}: the stream has no vmdesc at its end \
                     (truncated, or written with suppress-vmdesc); give one with --vmdesc"
                ))
                .at_offset(at),
            ));
        };
        schema.device(&idstr, h.instance_id).ok_or_else(|| {
            self.in_section(
                Error::msg(format!(
                    "Unknown savevm section or instance '{idstr}' {}: the vmdesc does not \
                     describe it",
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
        let root = section_root(&h);
        let state = DynamicState::load_as(description, self.reader.body(), version, &root);
        let state = state.map_err(|e| self.in_section(e))?;
        self.finish().map_err(|e| self.in_section(e))?;
        Ok(state)
    }

    /// Loads the current device section's body into `value`, a typed model,
    /// at the section's version, and checks its footer. Transactional:
    /// `value` is unchanged unless everything succeeded.
    pub fn load_section<T: VmState + Clone>(&mut self, value: &mut T) -> Result<()> {
        let (h, _) = self.body_header()?;
        let mut scratch = value.clone();
        let mut v = InputVisitor::new(self.reader.body());
        visit_struct_at(&mut scratch, &mut v, T::DESCRIPTION.name, h.version_id)
            .map_err(|e| self.root(e))?;
        self.finish().map_err(|e| self.in_section(e))?;
        *value = scratch;
        Ok(())
    }

    /// Reads the current device section's body with the schema and drops it;
    /// checks its footer.
    pub fn skip_section(&mut self) -> Result<()> {
        self.decode_section().map(drop)
    }

    /// Bytes of payload of the last RAM item not read yet.
    pub fn payload_remaining(&self) -> u64 {
        self.ram.payload_remaining()
    }

    /// Reads payload bytes of the last RAM item.
    pub fn read_payload(&mut self, buf: &mut [u8]) -> Result<()> {
        self.ram
            .read_payload(self.reader.body(), buf)
            .map_err(|e| self.in_section(e.into()))
    }

    /// Copies the rest of the last RAM item's payload to `w`.
    pub fn copy_payload<W: QemuWrite>(&mut self, w: &mut W) -> Result<u64> {
        self.ram
            .copy_payload(self.reader.body(), w)
            .map_err(|e| self.in_section(e.into()))
    }

    /// The input, for reading past the stream.
    pub fn get_mut(&mut self) -> &mut R {
        self.reader.get_mut()
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

/// Writes a stream event by event: what a [`StreamDecoder`] reads, written
/// back with the same framing.
#[derive(Debug)]
pub struct StreamEncoder<W: QemuWrite> {
    writer: StreamWriter<W>,
    ram: RamWriter,
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
        self.writer.write_section_header(header)?;
        let d = state.description();
        let mut v = crate::OutputVisitor::new(self.writer.body());
        visit_struct_at(state, &mut v, d.name, header.version_id)
            .map_err(|e| e.within(PathSegment::Root(owned(&section_root(header)))))?;
        self.writer.write_section_footer()?;
        Ok(())
    }

    /// Writes a device section from a typed model.
    pub fn write_section<T: VmState>(
        &mut self,
        header: &SectionHeader,
        value: &mut T,
    ) -> Result<()> {
        self.writer.write_section_header(header)?;
        let mut v = crate::OutputVisitor::new(self.writer.body());
        visit_struct_at(value, &mut v, T::DESCRIPTION.name, header.version_id)?;
        self.writer.write_section_footer()?;
        Ok(())
    }

    /// Writes a section header (RAM sections: items follow).
    pub fn write_section_header(&mut self, header: &SectionHeader) -> Result<()> {
        Ok(self.writer.write_section_header(header)?)
    }

    /// Writes a RAM item's record; its payload follows through [`Self::body`].
    pub fn write_ram_item(&mut self, item: &RamItem) -> Result<()> {
        Ok(self.ram.write_item(self.writer.body(), item)?)
    }

    /// Writes a section footer.
    pub fn write_section_footer(&mut self) -> Result<()> {
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
                enc.write_dynamic_section(&h, &mut state)?;
                progress(decoder.position());
            }
            Event::RamHeader(h) => enc.write_section_header(&h)?,
            Event::Ram(item) => {
                enc.write_ram_item(&item)?;
                decoder.copy_payload(enc.body())?;
                progress(decoder.position());
            }
            Event::RamEnd => enc.write_section_footer()?,
            Event::Command(c) => enc.write_command(&c)?,
            Event::Eof(v) => enc.write_eof(&v)?,
        }
    }
    Ok(enc.into_inner())
}
