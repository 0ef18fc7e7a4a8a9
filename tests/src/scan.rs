//! A minimal, panic-free scanner of QEMU migration streams (`migration/savevm.c`
//! format version 3): it finds every section and the byte range of its body,
//! so that device bodies can be handed to [`vmstate_core::load_from_slice`].
//!
//! What it understands:
//!
//! * the header (`QEVM`, version 3) and the configuration section (`0x07`:
//!   machine name, then the `configuration/target-page-bits`,
//!   `configuration/capabilities` and `configuration/uuid` subsections);
//! * `START`/`FULL` sections (header with idstr, instance and version),
//!   `PART`/`END` sections (section id only), each followed by the footer
//!   `0x7e` + be32 section id; `COMMAND` records; `EOF`; and the vmdesc JSON
//!   trailer (`0x06` + be32 length).
//!
//! Device bodies carry no length on the wire. The body of the `ram` section is
//! walked record by record (precopy format without capabilities such as
//! postcopy, ignore-shared, mapped-ram, XBZRLE or compression). For every other
//! section the end of the body is found by **searching for the footer**
//! (`0x7e` + be32 section id) that is followed by something that plausibly
//! starts the next record (a valid section type byte with a well-formed header).
//! This heuristic can be fooled by a body that happens to contain such bytes;
//! it is good enough for the reference streams (every body length agrees with
//! the sizes in their vmdesc), and a real loader would use the device's
//! description instead.

use std::ops::Range;

use qemufile::{QemuRead, SliceReader};

/// `QEMU_VM_FILE_MAGIC`: "QEVM".
pub const MAGIC: u32 = 0x5145_564d;
/// `QEMU_VM_FILE_VERSION`.
pub const VERSION: u32 = 3;

const EOF: u8 = 0x00;
const SECTION_START: u8 = 0x01;
const SECTION_PART: u8 = 0x02;
const SECTION_END: u8 = 0x03;
const SECTION_FULL: u8 = 0x04;
const SUBSECTION: u8 = 0x05;
const VMDESCRIPTION: u8 = 0x06;
const CONFIGURATION: u8 = 0x07;
const COMMAND: u8 = 0x08;
const SECTION_FOOTER: u8 = 0x7e;

const RAM_FLAG_ZERO: u64 = 0x02;
const RAM_FLAG_MEM_SIZE: u64 = 0x04;
const RAM_FLAG_PAGE: u64 = 0x08;
const RAM_FLAG_EOS: u64 = 0x10;
const RAM_FLAG_CONTINUE: u64 = 0x20;
const RAM_FLAG_MULTIFD_FLUSH: u64 = 0x200;

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

fn fail<T>(offset: impl TryInto<u64>, message: impl Into<String>) -> Result<T, ScanError> {
    Err(ScanError {
        offset: offset.try_into().unwrap_or(u64::MAX),
        message: message.into(),
    })
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

fn pos(r: &SliceReader<'_>) -> usize {
    usize::try_from(r.position()).unwrap_or(usize::MAX)
}

/// Scans the whole stream: header, configuration, sections, commands, EOF
/// and vmdesc. Every byte of the input must be accounted for.
pub fn scan(bytes: &[u8]) -> Result<Stream, ScanError> {
    let mut r = SliceReader::new(bytes);
    let magic = r.get_be32()?;
    if magic != MAGIC {
        return fail(
            0,
            format!("bad magic {magic:#010x}, expected {MAGIC:#010x}"),
        );
    }
    let version = r.get_be32()?;
    if version != VERSION {
        return fail(4, format!("unsupported stream version {version}"));
    }
    let (configuration, machine, page_size) = scan_configuration(&mut r)?;

    let mut sections: Vec<Section> = Vec::new();
    let mut commands = Vec::new();
    let eof;
    loop {
        let start = pos(&r);
        let ty = r.get_u8()?;
        match ty {
            SECTION_START | SECTION_FULL => {
                let section_id = r.get_be32()?;
                let idstr = r.get_counted_string()?.to_string_lossy();
                let instance_id = r.get_be32()?;
                let version_id = r.get_be32()?;
                let body_start = pos(&r);
                if idstr == "ram" {
                    skip_ram_body(&mut r, page_size)?;
                } else {
                    let end = find_footer(bytes, body_start, section_id, &sections)?;
                    r.skip((end - body_start) as u64)?;
                }
                let body = body_start..pos(&r);
                let footer = read_footer(&mut r, section_id)?;
                sections.push(Section {
                    kind: if ty == SECTION_START {
                        SectionKind::Start
                    } else {
                        SectionKind::Full
                    },
                    section_id,
                    idstr,
                    instance_id,
                    version_id,
                    header: start..body_start,
                    body,
                    footer,
                });
            }
            SECTION_PART | SECTION_END => {
                let section_id = r.get_be32()?;
                let Some(first) = sections
                    .iter()
                    .find(|s| s.kind == SectionKind::Start && s.section_id == section_id)
                else {
                    return fail(start, format!("part of unknown section id {section_id}"));
                };
                let (idstr, instance_id, version_id) =
                    (first.idstr.clone(), first.instance_id, first.version_id);
                let body_start = pos(&r);
                if idstr == "ram" {
                    skip_ram_body(&mut r, page_size)?;
                } else {
                    let end = find_footer(bytes, body_start, section_id, &sections)?;
                    r.skip((end - body_start) as u64)?;
                }
                let body = body_start..pos(&r);
                let footer = read_footer(&mut r, section_id)?;
                sections.push(Section {
                    kind: if ty == SECTION_PART {
                        SectionKind::Part
                    } else {
                        SectionKind::End
                    },
                    section_id,
                    idstr,
                    instance_id,
                    version_id,
                    header: start..body_start,
                    body,
                    footer,
                });
            }
            COMMAND => {
                let cmd = r.get_be16()?;
                let len = r.get_be16()?;
                let data_start = pos(&r);
                r.skip(u64::from(len))?;
                commands.push(Command {
                    cmd,
                    range: start..pos(&r),
                    data: data_start..pos(&r),
                });
            }
            EOF => {
                eof = start;
                break;
            }
            other => return fail(start, format!("unknown section type byte {other:#04x}")),
        }
    }

    let (vmdesc, vmdesc_json) = if r.is_empty() {
        (None, None)
    } else {
        let start = pos(&r);
        let ty = r.get_u8()?;
        if ty != VMDESCRIPTION {
            return fail(
                start,
                format!("expected the vmdesc trailer 0x06, found {ty:#04x}"),
            );
        }
        let len = r.get_be32()?;
        let json_start = pos(&r);
        r.skip(u64::from(len))?;
        (Some(start..pos(&r)), Some(json_start..pos(&r)))
    };
    if !r.is_empty() {
        return fail(
            r.position(),
            format!("{} trailing bytes after the stream", r.remaining().len()),
        );
    }
    Ok(Stream {
        header: 0..8,
        configuration,
        machine,
        page_size,
        sections,
        commands,
        eof,
        vmdesc,
        vmdesc_json,
    })
}

/// Reads the configuration section: its range, the machine name and the page size.
fn scan_configuration(r: &mut SliceReader<'_>) -> Result<(Range<usize>, String, u64), ScanError> {
    let start = pos(r);
    let ty = r.get_u8()?;
    if ty != CONFIGURATION {
        return fail(
            start,
            format!("expected the configuration section 0x07, found {ty:#04x}"),
        );
    }
    let len = r.get_be32()?;
    let name_at = pos(r);
    let name = r.peek(0, usize::try_from(len).unwrap_or(usize::MAX))?;
    if name.len() != len as usize {
        return fail(
            name_at,
            format!("machine name of {len} bytes runs past the end"),
        );
    }
    let machine = String::from_utf8_lossy(name).into_owned();
    r.skip(u64::from(len))?;
    let mut page_size = 4096;
    while r.peek_u8(0)? == Some(SUBSECTION) {
        let sub_at = pos(r);
        r.skip(1)?;
        let name = r.get_counted_string()?;
        let _version = r.get_be32()?;
        match name.as_bytes() {
            b"configuration/target-page-bits" => {
                let bits = r.get_be32()?;
                if !(10..=63).contains(&bits) {
                    return fail(sub_at, format!("implausible target page bits {bits}"));
                }
                page_size = 1u64 << bits;
            }
            b"configuration/capabilities" => {
                let count = r.get_be32()?;
                for _ in 0..count {
                    r.get_counted_string()?;
                }
            }
            b"configuration/uuid" => r.skip(16)?,
            _ => {
                return fail(
                    sub_at,
                    format!(
                        "unknown configuration subsection '{}'",
                        name.to_string_lossy()
                    ),
                );
            }
        }
    }
    Ok((start..pos(r), machine, page_size))
}

/// Reads the footer `0x7e` + be32 `section_id`.
fn read_footer(r: &mut SliceReader<'_>, section_id: u32) -> Result<Range<usize>, ScanError> {
    let start = pos(r);
    let ty = r.get_u8()?;
    let id = r.get_be32()?;
    if ty != SECTION_FOOTER || id != section_id {
        return fail(
            start,
            format!("expected footer 7e {section_id:08x}, found {ty:02x} {id:08x}"),
        );
    }
    Ok(start..pos(r))
}

/// Walks the body of a `ram` section up to and including its EOS record.
fn skip_ram_body(r: &mut SliceReader<'_>, page_size: u64) -> Result<(), ScanError> {
    let flag_mask = page_size - 1;
    loop {
        let at = r.position();
        let word = r.get_be64()?;
        let flags = word & flag_mask;
        let addr = word & !flag_mask;
        match flags & !RAM_FLAG_CONTINUE {
            RAM_FLAG_MEM_SIZE => {
                let mut left = addr;
                while left > 0 {
                    let block_at = r.position();
                    r.get_counted_string()?;
                    let size = r.get_be64()?;
                    left = match left.checked_sub(size) {
                        Some(l) => l,
                        None => {
                            return fail(
                                block_at,
                                format!("RAM block of {size:#x} bytes exceeds the {left:#x} left"),
                            );
                        }
                    };
                }
            }
            RAM_FLAG_ZERO => {
                if flags & RAM_FLAG_CONTINUE == 0 {
                    r.get_counted_string()?;
                }
                r.skip(1)?;
            }
            RAM_FLAG_PAGE => {
                if flags & RAM_FLAG_CONTINUE == 0 {
                    r.get_counted_string()?;
                }
                r.skip(page_size)?;
            }
            RAM_FLAG_MULTIFD_FLUSH => {}
            RAM_FLAG_EOS => return Ok(()),
            _ => return fail(at, format!("unsupported RAM record flags {flags:#x}")),
        }
    }
}

/// Whether a plausible record (or the vmdesc after EOF) starts at `at`.
fn plausible_next(bytes: &[u8], at: usize, sections: &[Section]) -> bool {
    let mut r = SliceReader::new(bytes.get(at..).unwrap_or(&[]));
    let Ok(ty) = r.get_u8() else {
        return false;
    };
    match ty {
        SECTION_START | SECTION_FULL => {
            let (Ok(_), Ok(idstr), Ok(_), Ok(_)) = (
                r.get_be32(),
                r.get_counted_string(),
                r.get_be32(),
                r.get_be32(),
            ) else {
                return false;
            };
            idstr.as_bytes().iter().all(|b| b.is_ascii_graphic())
        }
        SECTION_PART | SECTION_END => r.get_be32().is_ok_and(|id| {
            sections
                .iter()
                .any(|s| s.kind == SectionKind::Start && s.section_id == id)
        }),
        COMMAND => r.get_be16().is_ok() && r.get_be16().is_ok(),
        EOF => r.is_empty() || matches!(r.get_u8(), Ok(VMDESCRIPTION)),
        _ => false,
    }
}

/// Finds the end of a device body that starts at `from`: the first footer
/// `0x7e` + be32 `section_id` followed by a plausible next record.
fn find_footer(
    bytes: &[u8],
    from: usize,
    section_id: u32,
    sections: &[Section],
) -> Result<usize, ScanError> {
    let mut pattern = [SECTION_FOOTER, 0, 0, 0, 0];
    pattern[1..].copy_from_slice(&section_id.to_be_bytes());
    let hay = bytes.get(from..).unwrap_or(&[]);
    for (i, window) in hay.windows(pattern.len()).enumerate() {
        if window == pattern && plausible_next(bytes, from + i + pattern.len(), sections) {
            return Ok(from + i);
        }
    }
    fail(
        from,
        format!("no footer 7e {section_id:08x} followed by a valid record after the body"),
    )
}
