//! Validating a stream's framing without its vmdesc: header,
//! configuration, every RAM record, commands, section headers and footers,
//! EOF and the trailer.
//!
//! Device section bodies carry no length, so without the vmdesc a reader
//! cannot know where one ends. [`Walker`] can either stop at the first
//! device section ([`Walker::run`] with `scan_devices: false`, what `vmstate
//! listen` does while the stream arrives: the vmdesc comes last) or find each
//! body's end by *scanning* for the footer `7e | be32 section_id` followed by
//! a plausible next item (`scan_devices: true`, what `vmstate check` does for
//! a stream whose vmdesc is missing or garbage, which QEMU loads anyway).
//! Scanning is a heuristic: it checks footers and headers, never bodies.

use std::collections::HashSet;

use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamRecord};
use qemufile::stream::{
    self, Command, Item, SectionHeader, SectionKind, StreamOptions, StreamReader, Vmdesc,
};
use qemufile::{MAX_PEEK, QemuRead};

use crate::decode::{DecodeError, section_key};

/// Bytes needed after a candidate footer to judge the next item: footer,
/// type, id, counted idstr, instance, version.
const LOOKAHEAD: usize = 5 + 1 + 4 + 1 + 255 + 8;

/// Counts of what a [`Walker`] has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The machine name of the configuration section.
    pub machine: Option<String>,
    /// RAM blocks of the block list (name, length).
    pub blocks: Vec<(String, u64)>,
    /// RAM data pages.
    pub pages: u64,
    /// RAM zero pages.
    pub zero: u64,
    /// Other RAM payload records (XBZRLE).
    pub other: u64,
    /// RAM sections (START, PART, END).
    pub ram_sections: u64,
    /// Device sections whose footer was found by scanning.
    pub devices: u64,
    /// Commands.
    pub commands: u64,
}

/// Where [`Walker::run`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// At a device section (not scanning): its header has been read.
    Device {
        /// The header.
        header: SectionHeader,
        /// Offset of its type byte.
        offset: u64,
    },
    /// After EOF and the trailer.
    Eof {
        /// Offset of the EOF byte.
        offset: u64,
        /// The trailer.
        vmdesc: Vmdesc,
        /// True if bytes follow the trailer.
        trailing: bool,
    },
}

/// Walks a stream's framing (see the module documentation).
#[derive(Debug)]
pub struct Walker<R: QemuRead> {
    reader: StreamReader<R>,
    ram: RamReader,
    stats: Stats,
    starts: HashSet<u32>,
    block: String,
}

fn derr(offset: u64, section: Option<String>, message: impl Into<String>) -> DecodeError {
    DecodeError {
        offset,
        section,
        path: String::new(),
        message: message.into(),
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Could `w` (the bytes right after a candidate footer) start the next
/// top-level item? `at_end`: `w` reaches the end of the input.
fn plausible_next(w: &[u8], at_end: bool, starts: &HashSet<u32>) -> bool {
    let Some(&ty) = w.first() else {
        return at_end;
    };
    match ty {
        stream::EOF => match w.get(1) {
            None => at_end,
            Some(&b) => b == stream::VMDESCRIPTION,
        },
        stream::COMMAND => {
            w.len() >= 5
                && Command::validate(
                    u16::from_be_bytes([w[1], w[2]]),
                    u16::from_be_bytes([w[3], w[4]]),
                )
                .is_ok()
        }
        stream::SECTION_PART | stream::SECTION_END => {
            w.len() >= 5 && starts.contains(&be32(&w[1..]))
        }
        stream::SECTION_START | stream::SECTION_FULL => {
            if w.len() < 6 {
                return false;
            }
            let n = usize::from(w[5]);
            if n == 0 || w.len() < 6 + n + 8 {
                return false;
            }
            let name_ok = w[6..6 + n]
                .iter()
                .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\\');
            let instance = be32(&w[6 + n..]);
            let version = be32(&w[10 + n..]);
            name_ok && be32(&w[1..]) < 1 << 20 && instance < 1 << 20 && version < 1 << 16
        }
        _ => false,
    }
}

impl<R: QemuRead> Walker<R> {
    /// Reads the header and the configuration (present or not, as the
    /// byte at offset 8 says).
    pub fn open(mut input: R, page_size: u64) -> Result<Self, DecodeError> {
        let has_config = input.peek(8, 1)?.first() == Some(&stream::CONFIGURATION);
        let sopts = StreamOptions {
            send_configuration: has_config,
            detect_section_footer: true,
            ..StreamOptions::default()
        };
        let reader = StreamReader::open(input, sopts).map_err(|e| {
            let mut d = DecodeError::from(e);
            if d.offset >= 8 {
                d.section = Some("configuration".into());
            }
            d
        })?;
        let cfg = RamConfig::from_configuration(reader.configuration(), page_size);
        let stats = Stats {
            machine: reader
                .configuration()
                .map(|c| String::from_utf8_lossy(c.machine()).into_owned()),
            ..Stats::default()
        };
        Ok(Walker {
            reader,
            ram: RamReader::new(cfg),
            stats,
            starts: HashSet::new(),
            block: String::new(),
        })
    }

    /// What has been seen so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }

    /// The input.
    pub fn into_inner(self) -> R {
        self.reader.into_inner()
    }

    /// Walks until EOF (and its trailer), or until the first device section
    /// when `scan_devices` is false. Calls `progress` with the position now
    /// and then.
    pub fn run(
        &mut self,
        scan_devices: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<Stop, DecodeError> {
        loop {
            let item = self.reader.next_item()?;
            let at = self.reader.item_offset();
            progress(at);
            match item {
                Item::Eof => {
                    let vmdesc = self.reader.read_vmdesc()?;
                    let trailing = !self.reader.at_end()?;
                    return Ok(Stop::Eof {
                        offset: at,
                        vmdesc,
                        trailing,
                    });
                }
                Item::Command(_) => self.stats.commands += 1,
                Item::Section(h) => {
                    let key = section_key(&h);
                    if h.kind == SectionKind::Start {
                        self.starts.insert(h.section_id);
                    }
                    if h.idstr.as_bytes() == b"ram" && h.instance_id == 0 {
                        if h.kind.has_full_header()
                            && h.version_id != qemufile::ram::SECTION_VERSION
                        {
                            return Err(derr(
                                at,
                                Some(key),
                                format!("unknown RAM section version {}", h.version_id),
                            ));
                        }
                        self.stats.ram_sections += 1;
                        self.ram_body().map_err(|mut e| {
                            e.section = Some(key.clone());
                            e
                        })?;
                        self.reader.finish_section().map_err(|e| {
                            let mut d = DecodeError::from(e);
                            d.section = Some(key);
                            d
                        })?;
                        continue;
                    }
                    if !scan_devices {
                        return Ok(Stop::Device {
                            header: h,
                            offset: at,
                        });
                    }
                    self.scan_body(&h, at)?;
                    self.stats.devices += 1;
                }
            }
        }
    }

    fn ram_body(&mut self) -> Result<(), DecodeError> {
        loop {
            let item = self.ram.next_item(self.reader.body())?;
            match item {
                RamItem::Block(b) => {
                    self.block = b.name.to_string_lossy();
                    self.stats.blocks.push((self.block.clone(), b.length));
                }
                RamItem::Record(RamRecord { kind, .. }) => match kind {
                    RamKind::Eos => return Ok(()),
                    RamKind::Page => self.stats.pages += 1,
                    RamKind::Zero { .. } => self.stats.zero += 1,
                    RamKind::Xbzrle { .. } => self.stats.other += 1,
                    _ => {}
                },
            }
        }
    }

    /// Finds the footer of the device section `h` (type byte at `at`) by
    /// scanning, and checks it.
    fn scan_body(&mut self, h: &SectionHeader, at: u64) -> Result<(), DecodeError> {
        let key = section_key(h);
        let idstr = h.idstr.to_string_lossy();
        loop {
            let r = self.reader.body();
            let pos = r.position();
            let w = r.peek(0, MAX_PEEK)?;
            let wlen = w.len();
            let at_end = wlen < MAX_PEEK;
            let limit = if at_end { wlen } else { wlen - LOOKAHEAD };
            let mut found = None;
            for i in 0..limit {
                if w[i] != stream::SECTION_FOOTER || i + 5 > w.len() {
                    continue;
                }
                if plausible_next(&w[i + 5..], at_end, &self.starts) {
                    found = Some((i, be32(&w[i + 1..])));
                    break;
                }
            }
            match found {
                Some((i, id)) => {
                    r.skip(i as u64)?;
                    if id != h.section_id {
                        return Err(derr(
                            pos + i as u64,
                            Some(key),
                            format!(
                                "Mismatched section id in footer for {idstr} - read 0x{id:x} \
                                 expected 0x{:x} (footer found by scanning: the stream has no \
                                 usable vmdesc)",
                                h.section_id
                            ),
                        ));
                    }
                    return self.reader.finish_section().map_err(|e| {
                        let mut d = DecodeError::from(e);
                        d.section = Some(key);
                        d
                    });
                }
                None if at_end => {
                    let end = pos + wlen as u64;
                    return Err(derr(
                        at,
                        Some(key),
                        format!(
                            "the stream ends inside section {idstr} (no section footer before \
                             the end at byte offset {end}): truncated; QEMU: \"error while \
                             loading state for instance 0x{:x} of device '{idstr}'\"",
                            h.instance_id
                        ),
                    ));
                }
                None => r.skip(limit as u64)?,
            }
        }
    }
}
