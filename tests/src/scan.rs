//! The layout of a QEMU migration stream: where every section, its body and
//! its footer are, so that device bodies can be handed to
//! [`vmstate_core::load_from_slice`] and edited bodies spliced back.
//!
//! It is a thin view over the library's stream engine
//! ([`vmstate_core::stream::StreamDecoder`], on top of [`qemufile::stream`]),
//! which decodes device bodies with the stream's own vmdesc: no guessing
//! where a body ends.

use std::ops::Range;

use qemufile::SliceReader;
use qemufile::stream::{SectionKind as WireKind, Vmdesc};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};

/// Why a stream could not be scanned, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset in the stream where the problem was found.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ScanError {}

impl From<qemufile::Error> for ScanError {
    fn from(e: qemufile::Error) -> Self {
        ScanError {
            offset: e.offset(),
            message: e.kind().to_string(),
        }
    }
}

/// The type byte of a section record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START` (0x01): first part of an iterative section.
    Start,
    /// `QEMU_VM_SECTION_PART` (0x02): a middle part.
    Part,
    /// `QEMU_VM_SECTION_END` (0x03): the last part.
    End,
    /// `QEMU_VM_SECTION_FULL` (0x04): a whole device state.
    Full,
}

/// One section record of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Start, part, end or full.
    pub kind: SectionKind,
    /// The section id (a registration counter, with gaps).
    pub section_id: u32,
    /// The section's idstr (for `PART`/`END`, taken from its `START`).
    pub idstr: String,
    /// The instance id (for `PART`/`END`, taken from its `START`).
    pub instance_id: u32,
    /// The version the body was saved at (for `PART`/`END`, from its `START`).
    pub version_id: u32,
    /// The header bytes, type byte included.
    pub header: Range<usize>,
    /// The body bytes: what the device's `VMStateDescription` reads.
    pub body: Range<usize>,
    /// The footer bytes (`0x7e` + be32 section id).
    pub footer: Range<usize>,
}

/// A `QEMU_VM_COMMAND` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command number (e.g. 0x0b `SWITCHOVER_START`).
    pub cmd: u16,
    /// The whole record, type byte included.
    pub range: Range<usize>,
    /// The command's data bytes.
    pub data: Range<usize>,
}

/// The layout of a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The file header (magic and version): bytes 0..8.
    pub header: Range<usize>,
    /// The configuration section, type byte and subsections included.
    pub configuration: Range<usize>,
    /// The machine type name from the configuration section.
    pub machine: String,
    /// The target page size (from `configuration/target-page-bits`, else 4096).
    pub page_size: u64,
    /// Every section, in stream order.
    pub sections: Vec<Section>,
    /// Every command, in stream order.
    pub commands: Vec<Command>,
    /// Offset of the `QEMU_VM_EOF` byte.
    pub eof: usize,
    /// The vmdesc trailer (`0x06`, be32 length, JSON), if present.
    pub vmdesc: Option<Range<usize>>,
    /// The JSON text of the vmdesc trailer, if present.
    pub vmdesc_json: Option<Range<usize>>,
}

impl Stream {
    /// The first `FULL`/`START` section with this idstr and instance id.
    pub fn find(&self, idstr: &str, instance_id: u32) -> Option<&Section> {
        self.sections.iter().find(|s| {
            matches!(s.kind, SectionKind::Full | SectionKind::Start)
                && s.idstr == idstr
                && s.instance_id == instance_id
        })
    }
}

/// Scans `bytes` and returns every section (with its body range) in order.
pub fn scan_sections(bytes: &[u8]) -> Result<Vec<Section>, ScanError> {
    Ok(scan(bytes)?.sections)
}

fn at(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn header_len(kind: SectionKind, idstr: &str) -> usize {
    match kind {
        SectionKind::Start | SectionKind::Full => 1 + 4 + 1 + idstr.len() + 4 + 4,
        SectionKind::Part | SectionKind::End => 1 + 4,
    }
}

fn kind_of(kind: WireKind) -> SectionKind {
    match kind {
        WireKind::Start => SectionKind::Start,
        WireKind::Part => SectionKind::Part,
        WireKind::End => SectionKind::End,
        WireKind::Full => SectionKind::Full,
    }
}

/// Scans the whole stream: header, configuration, sections, commands, EOF
/// and vmdesc. Every byte of the input is accounted for.
pub fn scan(bytes: &[u8]) -> Result<Stream, ScanError> {
    let err = |e: vmstate_core::Error| ScanError {
        offset: e.offset().unwrap_or(0),
        message: e.to_string(),
    };
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes).map_err(err)?;
    let mut d = StreamDecoder::open(SliceReader::new(bytes), schema.as_ref()).map_err(err)?;
    let configuration = 8..at(d.position());
    let (machine, page_size) = match d.configuration() {
        Some(c) => (
            String::from_utf8_lossy(c.machine()).into_owned(),
            c.page_size(4096),
        ),
        None => (String::new(), 4096),
    };
    let mut sections = Vec::new();
    let mut commands = Vec::new();
    // The open iterative section: its kind, header, idstr, instance and version.
    let mut open: Option<(SectionKind, u32, Range<usize>, String, u32, u32)> = None;
    loop {
        let start = at(d.position());
        let Some(event) = d.next_event().map_err(err)? else {
            return Err(ScanError {
                offset: start as u64,
                message: "the stream ended without EOF".into(),
            });
        };
        let footer_len = if d.options().send_section_footer {
            5
        } else {
            0
        };
        match event {
            Event::Section(h) => {
                let kind = kind_of(h.kind);
                let idstr = h.idstr.to_string_lossy();
                let head = start..start + header_len(kind, &idstr);
                d.decode_section().map_err(err)?;
                let end = at(d.position());
                let body = head.end..end - footer_len;
                sections.push(Section {
                    kind,
                    section_id: h.section_id,
                    idstr,
                    instance_id: h.instance_id,
                    version_id: h.version_id,
                    header: head,
                    footer: body.end..end,
                    body,
                });
            }
            Event::IterativeHeader(h) => {
                let kind = kind_of(h.kind);
                let idstr = h.idstr.to_string_lossy();
                let head = start..start + header_len(kind, &idstr);
                open = Some((kind, h.section_id, head, idstr, h.instance_id, h.version_id));
            }
            Event::Item(_) => {}
            Event::IterativeEnd => {
                let end = at(d.position());
                if let Some((kind, section_id, header, idstr, instance_id, version_id)) =
                    open.take()
                {
                    let footer = end - footer_len..end;
                    sections.push(Section {
                        kind,
                        section_id,
                        idstr,
                        instance_id,
                        version_id,
                        body: header.end..footer.start,
                        header,
                        footer,
                    });
                }
            }
            Event::Command(c) => {
                let end = at(d.position());
                commands.push(Command {
                    cmd: c.cmd,
                    data: end - c.data.len()..end,
                    range: start..end,
                });
            }
            Event::Eof(vmdesc) => {
                let end = at(d.position());
                let (vmdesc, vmdesc_json) = match vmdesc {
                    Vmdesc::Present(json) => (Some(start + 1..end), Some(end - json.len()..end)),
                    Vmdesc::Absent { .. } => (None, None),
                };
                return Ok(Stream {
                    header: 0..8,
                    configuration,
                    machine,
                    page_size,
                    sections,
                    commands,
                    eof: start,
                    vmdesc,
                    vmdesc_json,
                });
            }
        }
    }
}
