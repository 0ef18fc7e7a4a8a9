use std::collections::HashMap;

use super::idstr::at;
use super::*;
use crate::{Error, ErrorKind, QemuRead, Result};

/// Reader and writer options, mirroring QEMU's migration properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    /// `send-configuration`: the stream has a configuration section right
    /// after the header (default on; off for `hw_compat_2_3` machines and Xen).
    pub send_configuration: bool,
    /// `send-section-footer`: every section ends with `7e | be32 section_id`
    /// (default on; off for `hw_compat_2_3` machines, Xen, and
    /// `-global migration.send-section-footer=off`).
    pub send_section_footer: bool,
    /// Tell from the stream whether it has footers (for tools reading files
    /// of unknown origin): the first section decides (`0x7e` after its body,
    /// or not), and every later section must agree. Overrides
    /// `send_section_footer`. Default off, as in QEMU's loader.
    pub detect_section_footer: bool,
    /// What the reader may allocate: the vmdesc length
    /// ([`Limits::max_vmdesc_len`](crate::Limits::max_vmdesc_len)) and the
    /// distinct section ids remembered for PART/END lookups
    /// ([`Limits::max_sections`](crate::Limits::max_sections)).
    pub limits: crate::Limits,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            send_configuration: true,
            send_section_footer: true,
            detect_section_footer: false,
            limits: crate::Limits::DEFAULT,
        }
    }
}

/// The four section types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START` (0x01): first part of an iterative section (e.g. `ram`).
    Start,
    /// `QEMU_VM_SECTION_PART` (0x02): a middle part.
    Part,
    /// `QEMU_VM_SECTION_END` (0x03): the last part.
    End,
    /// `QEMU_VM_SECTION_FULL` (0x04): a whole device section.
    Full,
}

impl SectionKind {
    /// The section type byte.
    pub fn type_byte(self) -> u8 {
        match self {
            SectionKind::Start => SECTION_START,
            SectionKind::Part => SECTION_PART,
            SectionKind::End => SECTION_END,
            SectionKind::Full => SECTION_FULL,
        }
    }

    /// The kind of a section type byte, `None` for other bytes.
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Some(match b {
            SECTION_START => SectionKind::Start,
            SECTION_PART => SectionKind::Part,
            SECTION_END => SectionKind::End,
            SECTION_FULL => SectionKind::Full,
            _ => return None,
        })
    }

    /// True for START and FULL, whose header carries idstr, instance and version.
    pub fn has_full_header(self) -> bool {
        matches!(self, SectionKind::Start | SectionKind::Full)
    }
}

/// A section header. For PART and END only `kind` and `section_id` are on the
/// wire; the reader fills in the other fields from the START/FULL header with
/// the same section id, and the writer ignores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    /// The section type.
    pub kind: SectionKind,
    /// The section id (`se->section_id`; not a counter: ids have gaps).
    pub section_id: u32,
    /// The idstr (`"<qdev path>/<vmsd name>"` or the vmsd name).
    pub idstr: IdStr,
    /// The instance id.
    pub instance_id: u32,
    /// The version id of the section's format.
    pub version_id: u32,
}

impl SectionHeader {
    /// A FULL section header.
    pub fn full(section_id: u32, idstr: &str, instance_id: u32, version_id: u32) -> Result<Self> {
        Self::with_kind(
            SectionKind::Full,
            section_id,
            idstr,
            instance_id,
            version_id,
        )
    }

    /// A START section header.
    pub fn start(section_id: u32, idstr: &str, instance_id: u32, version_id: u32) -> Result<Self> {
        Self::with_kind(
            SectionKind::Start,
            section_id,
            idstr,
            instance_id,
            version_id,
        )
    }

    /// A PART or END header continuing the section `start`.
    pub fn continuation(&self, kind: SectionKind) -> Self {
        SectionHeader {
            kind,
            ..self.clone()
        }
    }

    fn with_kind(
        kind: SectionKind,
        section_id: u32,
        idstr: &str,
        instance_id: u32,
        version_id: u32,
    ) -> Result<Self> {
        if idstr.is_empty() {
            return Err(Error::new(0, ErrorKind::EmptyString));
        }
        Ok(SectionHeader {
            kind,
            section_id,
            idstr: IdStr::try_from(idstr).map_err(at(0))?,
            instance_id,
            version_id,
        })
    }
}

/// One top-level item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A section header; its body follows. Consume the body through
    /// [`StreamReader::body`], then call [`StreamReader::finish_section`].
    Section(SectionHeader),
    /// A `QEMU_VM_COMMAND`.
    Command(Command),
    /// `QEMU_VM_EOF`. The vmdesc may follow: [`StreamReader::read_vmdesc`].
    Eof,
}

/// The trailer after EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vmdesc {
    /// `06 | be32 len | JSON`: the JSON bytes.
    Present(Vec<u8>),
    /// No vmdesc: QEMU only warns ("Expected vmdescription section, but got
    /// %d"). `found` is the byte found instead of `0x06` (not consumed), or
    /// `None` at the end of the input.
    Absent {
        /// The byte in place of `0x06`, if any.
        found: Option<u8>,
    },
}

impl Vmdesc {
    /// The JSON bytes, if present.
    pub fn json(&self) -> Option<&[u8]> {
        match self {
            Vmdesc::Present(j) => Some(j),
            Vmdesc::Absent { .. } => None,
        }
    }
}

#[derive(Debug)]
enum State {
    Items,
    InSection(SectionHeader),
    AfterEof,
    Done,
}

/// A streaming reader of a whole migration stream, over any [`QemuRead`].
///
/// Memory is bounded: the configuration (bounded names and counts), one
/// command's data (at most 64 KiB), the START/FULL headers seen so far (at
/// most [`Limits::max_sections`](crate::Limits::max_sections)) and the vmdesc (at most
/// [`Limits::max_vmdesc_len`](crate::Limits::max_vmdesc_len)), read in chunks so that a lying length on
/// a short input fails without a large allocation.
#[derive(Debug)]
pub struct StreamReader<R> {
    inner: R,
    opts: StreamOptions,
    config: Option<Configuration>,
    state: State,
    sections: HashMap<u32, SectionHeader>,
    item_offset: u64,
}

impl<R: QemuRead> StreamReader<R> {
    /// Reads the header (magic, version) and, if
    /// [`StreamOptions::send_configuration`], the configuration section.
    pub fn open(mut inner: R, opts: StreamOptions) -> Result<Self> {
        let start = inner.position();
        let magic = inner.get_be32()?;
        if magic != FILE_MAGIC {
            return Err(Error::new(
                start,
                ErrorKind::NotAMigrationStream { found: magic },
            ));
        }
        let at_version = inner.position();
        let version = inner.get_be32()?;
        if version == FILE_VERSION_COMPAT {
            return Err(Error::new(at_version, ErrorKind::ObsoleteVersion));
        }
        if version != FILE_VERSION {
            return Err(Error::new(
                at_version,
                ErrorKind::UnsupportedVersion(version),
            ));
        }
        let mut config = None;
        if opts.send_configuration {
            let at_cfg = inner.position();
            let b = inner.get_u8()?;
            if b != CONFIGURATION {
                return Err(Error::new(
                    at_cfg,
                    ErrorKind::ConfigurationMissing { found: b },
                ));
            }
            config = Some(Configuration::read(&mut inner)?);
        }
        Ok(StreamReader {
            inner,
            opts,
            config,
            state: State::Items,
            sections: HashMap::new(),
            item_offset: start,
        })
    }

    /// The configuration section, `None` when the options say there is none.
    pub fn configuration(&self) -> Option<&Configuration> {
        self.config.as_ref()
    }

    /// The options this reader was opened with.
    pub fn options(&self) -> &StreamOptions {
        &self.opts
    }

    /// Stream offset of the type byte of the item last returned by
    /// [`next_item`](Self::next_item).
    pub fn item_offset(&self) -> u64 {
        self.item_offset
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }

    /// Reads the next item. Fails if a section body is still open
    /// ([`finish_section`](Self::finish_section) not called) or after EOF.
    pub fn next_item(&mut self) -> Result<Item> {
        match self.state {
            State::Items => {}
            State::InSection(_) => {
                return Err(Error::new(
                    self.position(),
                    ErrorKind::InvalidState("section body still open: call finish_section"),
                ));
            }
            State::AfterEof | State::Done => {
                return Err(Error::new(
                    self.position(),
                    ErrorKind::InvalidState("the stream already ended (EOF read)"),
                ));
            }
        }
        let at = self.inner.position();
        self.item_offset = at;
        let ty = self.inner.get_u8()?;
        match ty {
            EOF => {
                self.state = State::AfterEof;
                Ok(Item::Eof)
            }
            COMMAND => {
                let cmd = self.inner.get_be16()?;
                let len = self.inner.get_be16()?;
                Command::validate(cmd, len).map_err(at_fn(at))?;
                let mut data = vec![0u8; usize::from(len)];
                self.inner.read_into(&mut data)?;
                Ok(Item::Command(Command { cmd, data }))
            }
            _ => {
                let Some(kind) = SectionKind::from_type_byte(ty) else {
                    return Err(Error::new(at, ErrorKind::UnknownSectionType(ty)));
                };
                let section_id = self.inner.get_be32()?;
                let header = if kind.has_full_header() {
                    let idstr = IdStr::read(&mut self.inner)?;
                    let instance_id = self.inner.get_be32()?;
                    let version_id = self.inner.get_be32()?;
                    let h = SectionHeader {
                        kind,
                        section_id,
                        idstr,
                        instance_id,
                        version_id,
                    };
                    if !self.sections.contains_key(&section_id) {
                        let distinct = self.sections.len() as u64 + 1;
                        self.opts
                            .limits
                            .check(crate::Limit::MaxSections, distinct, || {
                                format!("section {} (id {section_id})", h.idstr)
                            })
                            .map_err(|e| Error::new(at, e.into()))?;
                    }
                    self.sections.insert(section_id, h.clone());
                    h
                } else {
                    let Some(first) = self.sections.get(&section_id) else {
                        return Err(Error::new(at, ErrorKind::UnknownSection(section_id)));
                    };
                    first.continuation(kind)
                };
                self.state = State::InSection(header.clone());
                Ok(Item::Section(header))
            }
        }
    }

    /// The input, to read the open section's body (or anything else).
    pub fn body(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The header of the section whose body is open, if any.
    pub fn current_section(&self) -> Option<&SectionHeader> {
        match &self.state {
            State::InSection(h) => Some(h),
            _ => None,
        }
    }

    /// Skips `len` body bytes (a size known e.g. from the vmdesc), then
    /// checks the footer like [`finish_section`](Self::finish_section).
    pub fn skip_body(&mut self, len: u64) -> Result<()> {
        if !matches!(self.state, State::InSection(_)) {
            return Err(Error::new(
                self.position(),
                ErrorKind::InvalidState("no section body open"),
            ));
        }
        self.inner.skip(len)?;
        self.finish_section()
    }

    /// Ends the open section: reads and checks the footer
    /// (`7e | be32 section_id`) unless footers are off.
    pub fn finish_section(&mut self) -> Result<()> {
        let State::InSection(h) = &self.state else {
            return Err(Error::new(
                self.position(),
                ErrorKind::InvalidState("no section body open"),
            ));
        };
        if self.opts.detect_section_footer {
            // 0x7e is no section type, so after the first body it tells.
            self.opts.send_section_footer = self.inner.peek_u8(0)? == Some(SECTION_FOOTER);
            self.opts.detect_section_footer = false;
        }
        if self.opts.send_section_footer {
            let at = self.inner.position();
            let mark = self.inner.get_u8()?;
            if mark != SECTION_FOOTER {
                return Err(Error::new(
                    at,
                    ErrorKind::MissingFooter {
                        idstr: h.idstr.to_string_lossy(),
                        found: mark,
                    },
                ));
            }
            let read = self.inner.get_be32()?;
            if read != h.section_id {
                return Err(Error::new(
                    at,
                    ErrorKind::MismatchedFooter {
                        idstr: h.idstr.to_string_lossy(),
                        read,
                        expected: h.section_id,
                    },
                ));
            }
        }
        self.state = State::Items;
        Ok(())
    }

    /// After [`Item::Eof`]: reads the vmdesc trailer (`06 | be32 len | JSON`).
    /// A missing trailer is not an error ([`Vmdesc::Absent`]), as in QEMU; a
    /// truncated one is.
    pub fn read_vmdesc(&mut self) -> Result<Vmdesc> {
        if !matches!(self.state, State::AfterEof) {
            return Err(Error::new(
                self.position(),
                ErrorKind::InvalidState("the vmdesc follows EOF"),
            ));
        }
        let found = self.inner.peek_u8(0)?;
        if found != Some(VMDESCRIPTION) {
            self.state = State::Done;
            return Ok(Vmdesc::Absent { found });
        }
        self.inner.get_u8()?;
        let at_len = self.inner.position();
        let len = self.inner.get_be32()?;
        self.opts
            .limits
            .check(crate::Limit::MaxVmdescLen, len.into(), || {
                "the vmdesc (the JSON description after the end of the stream)".to_owned()
            })
            .map_err(|e| Error::new(at_len, e.into()))?;
        let json = read_chunked(&mut self.inner, len as usize)?;
        self.state = State::Done;
        Ok(Vmdesc::Present(json))
    }

    /// True when no byte is left after what has been read.
    pub fn at_end(&mut self) -> Result<bool> {
        Ok(self.inner.peek_u8(0)?.is_none())
    }

    /// The input.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The input, mutably (reading from it outside a section body desynchronises the reader).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Returns the input.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn at_fn(offset: u64) -> impl FnOnce(ErrorKind) -> Error {
    at(offset)
}

/// Reads `len` bytes, growing the buffer as data arrives, so that a large
/// length on a short input fails at EOF before allocating all of it.
pub(crate) fn read_chunked<R: QemuRead>(r: &mut R, len: usize) -> Result<Vec<u8>> {
    const CHUNK: usize = 1 << 16;
    let mut out = Vec::with_capacity(len.min(CHUNK));
    let start = r.position();
    while out.len() < len {
        let n = (len - out.len()).min(CHUNK);
        let old = out.len();
        out.resize(old + n, 0);
        r.read_into(&mut out[old..]).map_err(|e| {
            if e.is_eof() {
                Error::new(
                    start,
                    ErrorKind::UnexpectedEof {
                        needed: len as u64,
                        available: (old as u64)
                            + match e.kind() {
                                ErrorKind::UnexpectedEof { available, .. } => *available,
                                _ => 0,
                            },
                    },
                )
            } else {
                e
            }
        })?;
    }
    Ok(out)
}

/// Finds the vmdesc trailer in a whole stream held in memory: the last
/// `00 06 | be32 len | len bytes` that ends exactly at the end of `data`.
/// Returns the offset of the `06` byte and the JSON bytes.
///
/// This is for random-access inputs (a file read into memory), which need the
/// vmdesc before parsing device sections; a sequential reader gets it at the
/// end from [`StreamReader::read_vmdesc`]. Like `analyze-migration.py`, it is
/// a heuristic: a stream without vmdesc whose last bytes happen to look like
/// one would be misread.
pub fn find_vmdesc(data: &[u8]) -> Option<(usize, &[u8])> {
    let n = data.len();
    if n < 6 {
        return None;
    }
    // The JSON is at most u32::MAX bytes; scan positions from the end.
    let lowest = n
        .saturating_sub((u32::MAX as usize).saturating_add(5))
        .max(1);
    let mut p = n - 5;
    loop {
        if data[p] == VMDESCRIPTION && data[p - 1] == EOF {
            let len = u32::from_be_bytes([data[p + 1], data[p + 2], data[p + 3], data[p + 4]]);
            if p + 5 + len as usize == n {
                return Some((p, &data[p + 5..]));
            }
        }
        if p == lowest {
            return None;
        }
        p -= 1;
    }
}
